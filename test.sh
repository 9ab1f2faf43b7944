#!/usr/bin/env bash
# Lint and test: ./test.sh [PYTEST ARGS]. Installs what is missing first (see scripts/bootstrap.sh).
# The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
set -euo pipefail

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  cat <<USAGE
Usage: ./test.sh [PYTEST ARGS]   ruff, import contracts, mypy, the docs site, then pytest with
                                 coverage; installs what is missing first
  ./test.sh                        the full run (the coverage gate applies)
  ./test.sh -m "not integration"   the fast tier: no end-to-end job, no database (about 4 min)
The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
USAGE
  exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# The .bat twins are tested under wine's cmd.exe, and the report in headless Chromium: install
# wine64 and chromium too; the metrics tests push to a real Pushgateway.
SPARK_ETL_WITH_WINE=1
SPARK_ETL_WITH_BROWSER=1
SPARK_ETL_WITH_PUSHGATEWAY=1
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
install_extra bench # DuckDB: the tests of the benchmark's peer (bench/peer.py) run too

echo "== ruff" >&2
ruff check .
ruff format --check .
echo "== import contracts" >&2
lint-imports
echo "== mypy" >&2
mypy
echo "== docs site" >&2
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
echo "== pytest" >&2
# the coverage gate is the full run's: a chosen subset only reports its coverage
gate=()
[ $# -gt 0 ] && gate=(--cov-fail-under=0)
pytest --cov=spark_etl --cov-report=term-missing "${gate[@]}" "$@"
