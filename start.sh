#!/usr/bin/env bash
# Start the services the jobs use: ./start.sh --local   (see --help)
set -euo pipefail

usage() {
  cat <<USAGE
Usage: ./start.sh --local    install what is missing and start the embedded PostgreSQL
       ./start.sh            build and start the Docker stack (not available yet)
USAGE
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --local) ;;
  *)
    echo "error: the Docker stack is not part of this version yet; run ./start.sh --local" >&2
    exit 2
    ;;
esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
# shellcheck source=scripts/local_env.sh
source "$ROOT/scripts/local_env.sh"
unset PGHOST
use_embedded_postgres
psql_hint
