#!/usr/bin/env bash
# Sourced after bootstrap.sh: points the PG* variables at the embedded PostgreSQL (started if
# needed), unless PGHOST already names another server.

LOCAL_DIR="$ROOT/.local"
LOCAL_PG_DIR="$LOCAL_DIR/postgres"
LOCAL_PG_PORT="${ETL_LOCAL_PGPORT:-54329}"

use_embedded_postgres() {
  if [ -n "${PGHOST:-}" ]; then
    echo "Using PostgreSQL at $PGHOST:${PGPORT:-5432} (from PGHOST)." >&2
    return 0
  fi
  python -m spark_etl.local.postgres start --dir "$LOCAL_PG_DIR" --port "$LOCAL_PG_PORT" || exit 2
  eval "$(python -m spark_etl.local.postgres env --dir "$LOCAL_PG_DIR" --port "$LOCAL_PG_PORT")"
  EMBEDDED_POSTGRES=1
}

psql_hint() {
  [ "${EMBEDDED_POSTGRES:-0}" = 1 ] || return 0
  cat >&2 <<HINT
PostgreSQL keeps running on 127.0.0.1:$LOCAL_PG_PORT. Query it with:
  PGPASSFILE=$LOCAL_PG_DIR/pgpass psql -h 127.0.0.1 -p $LOCAL_PG_PORT -U etl etl
Stop it with: ./stop.sh --local
HINT
}
