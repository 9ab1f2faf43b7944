#!/usr/bin/env bash
# Lint and test: ./test.sh [PYTEST ARGS]. Installs what is missing first (see scripts/bootstrap.sh).
# The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
set -euo pipefail

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  cat <<USAGE
Usage: ./test.sh [PYTEST ARGS]   ruff, then pytest with coverage; installs what is missing first
The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
USAGE
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# The .bat twins are tested under wine's cmd.exe, and the report in headless Chromium: install
# wine64 and chromium too.
SPARK_ETL_WITH_WINE=1
SPARK_ETL_WITH_BROWSER=1
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"

echo "== ruff" >&2
ruff check .
ruff format --check .
echo "== pytest" >&2
pytest --cov=spark_etl --cov-report=term-missing "$@"
