#!/usr/bin/env bash
# Start what the jobs run on: the Docker stack, or with --local the embedded PostgreSQL.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: ./start.sh [--workers N]   build and start the Docker stack (Spark master, N workers,
                                   PostgreSQL) and wait until every service is healthy
       ./start.sh --local         install what is missing and start the embedded PostgreSQL

The Docker stack reads .env (created from .env.example with a random password if missing).
UIs: Spark master http://127.0.0.1:8080, running job http://127.0.0.1:4040.
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
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "error: --workers needs a number of workers." >&2; exit 2; }
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
mkdir -p "$ROOT/data/input" "$ROOT/data/report"
compose up --detach --build --wait --scale "spark-worker=$WORKERS"
PG_PORT="$(sed -n 's/^POSTGRES_PORT=//p' "$ROOT/.env")"
cat >&2 <<DONE
The stack is up: Spark master UI http://127.0.0.1:8080 with $WORKERS worker(s), PostgreSQL on
127.0.0.1:${PG_PORT:-55432} (credentials in .env). Run a job: ./submit.sh all
DONE
