#!/usr/bin/env bash
# Entry point of the stack's PostgreSQL: on the first start (empty data folder) create the
# cluster with POSTGRES_USER as its superuser (password POSTGRES_PASSWORD, scram-sha-256 over
# TCP) and the database POSTGRES_DB; then run the server in the foreground.
set -euo pipefail

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "Creating the database cluster in $PGDATA (first start) ..."
  password_file="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  initdb --username="$POSTGRES_USER" --pwfile="$password_file" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  {
    echo "listen_addresses = '*'"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
  } >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    pg_ctl --silent --wait -o "-c listen_addresses=''" start >/dev/null
    psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
      -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db"'
    pg_ctl --silent --wait stop >/dev/null
  fi
  echo "Database cluster ready: user $POSTGRES_USER, database $POSTGRES_DB."
fi
exec "$@"
