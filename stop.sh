#!/usr/bin/env bash
# Stop the Docker stack, or with --local the embedded PostgreSQL.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: ./stop.sh [--purge]   stop the Docker stack; --purge also deletes its volumes (the database)
       ./stop.sh --local     stop the embedded PostgreSQL (its data stays in .local/postgres)
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCAL=0
PURGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --local) LOCAL=1 ;;
    --purge) PURGE=1 ;;
    *) echo "error: unknown option '$1'; see ./stop.sh --help." >&2; exit 2 ;;
  esac
  shift
done

if [ "$LOCAL" = 1 ]; then
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "Nothing to stop: ./submit.sh --local has not run here." >&2
    exit 0
  fi
  "$ROOT/.venv/bin/python" -m spark_etl.local.postgres stop --dir "$ROOT/.local/postgres" \
    --port "${ETL_LOCAL_PGPORT:-54329}"
  echo "Embedded PostgreSQL stopped." >&2
  exit 0
fi

# shellcheck source=scripts/docker_env.sh
source "$ROOT/scripts/docker_env.sh"
require_docker
require_env_file
if [ "$PURGE" = 1 ]; then
  compose down --volumes --remove-orphans
  echo "Docker stack stopped; its volumes (the database) are deleted." >&2
else
  compose down --remove-orphans
  echo "Docker stack stopped; the database volume is kept (--purge deletes it)." >&2
fi
