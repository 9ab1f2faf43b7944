#!/usr/bin/env bash
# Lint and test: ./test.sh [PYTEST ARGS]. Installs what is missing first (see scripts/bootstrap.sh).
# The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"

echo "== ruff" >&2
ruff check .
ruff format --check .
echo "== pytest" >&2
pytest --cov=spark_etl --cov-report=term-missing "$@"
