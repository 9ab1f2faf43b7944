#!/usr/bin/env bash
# Start what the jobs run on: the Docker stack, or with --local the embedded PostgreSQL.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: ./start.sh [--workers N]   build and start the Docker stack (Spark master, N workers,
                                   history server, PostgreSQL) and wait until every service is
                                   healthy and the N workers have registered (default N: 1)
       ./start.sh --local         install what is missing and start the embedded PostgreSQL

The Docker stack reads .env (created from .env.example with a random password if missing).
PIP_CERT=FILE (environment or .env): an extra CA bundle for pip while the image builds.
UIs: Spark master http://127.0.0.1:8080, running job http://127.0.0.1:4040,
history of finished jobs http://127.0.0.1:18080 (ports as set in .env).
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORKERS=1
LOCAL=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --local) LOCAL=1 ;;
    --workers)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "error: --workers needs a number of workers (1 or more)." >&2; exit 2; }
      WORKERS="$2"
      shift
      ;;
    *) echo "error: unknown option '$1'; see ./start.sh --help." >&2; exit 2 ;;
  esac
  shift
done

if [ "$LOCAL" = 1 ]; then
  # shellcheck source=scripts/bootstrap.sh
  source "$ROOT/scripts/bootstrap.sh"
  # shellcheck source=scripts/local_env.sh
  source "$ROOT/scripts/local_env.sh"
  unset PGHOST
  use_embedded_postgres
  psql_hint
  exit 0
fi

# shellcheck source=scripts/docker_env.sh
source "$ROOT/scripts/docker_env.sh"
require_docker
ensure_env_file
require_free_ports
require_executor_fits
PIP_CERT="$(env_value PIP_CERT "")"
if [ -n "$PIP_CERT" ]; then
  [ -r "$PIP_CERT" ] || docker_fail "PIP_CERT names $PIP_CERT, which is not a readable file."
  export PIP_CERT
fi
# The mounted folders are created here, so that they belong to the user and not to Docker.
for variable in ETL_INPUT_DIR:data/input ETL_REPORT_DIR:data/report ETL_ARCHIVE_DIR:data/archive \
  ETL_LAKE_DIR:data/lake ETL_LOG_DIR:data/logs; do
  folder="$(env_value "${variable%%:*}" "./${variable#*:}")"
  [[ "$folder" = /* ]] || folder="$ROOT/$folder"
  mkdir -p "$folder" || docker_fail "cannot create $folder (${variable%%:*} of .env)."
  [ "${variable%%:*}" = ETL_LOG_DIR ] && mkdir -p "$folder/spark-events"
done
compose up --detach --build --wait --scale "spark-worker=$WORKERS" ||
  docker_fail "the stack did not start; see: docker compose -p spark-etl logs"
require_database_login
wait_for_workers "$WORKERS"
cat >&2 <<DONE
The stack is up: Spark master http://127.0.0.1:$(env_value SPARK_MASTER_UI_PORT 8080) with $WORKERS worker(s), \
history http://127.0.0.1:$(env_value SPARK_HISTORY_PORT 18080), PostgreSQL on \
127.0.0.1:$(env_value POSTGRES_PORT 55432) (credentials in .env). Run a job: ./submit.sh all
DONE
