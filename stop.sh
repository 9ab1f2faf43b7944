#!/usr/bin/env bash
# Stop what start.sh or submit.sh started: ./stop.sh --local   (see --help)
set -euo pipefail

usage() {
  cat <<USAGE
Usage: ./stop.sh --local     stop the embedded PostgreSQL (its data stays in .local/postgres)
       ./stop.sh             stop the Docker stack (not available yet)
USAGE
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --local) ;;
  *)
    echo "error: the Docker stack is not part of this version yet; run ./stop.sh --local" >&2
    exit 2
    ;;
esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "Nothing to stop: ./submit.sh --local has not run here." >&2
  exit 0
fi
"$ROOT/.venv/bin/python" -m spark_etl.local_postgres stop --dir "$ROOT/.local/postgres" \
  --port "${ETL_LOCAL_PGPORT:-54329}"
echo "Embedded PostgreSQL stopped." >&2
