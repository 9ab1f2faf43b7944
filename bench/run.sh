#!/usr/bin/env bash
# Benchmark harness (see bench/run.py): ./bench/run.sh [--sizes 100000,1000000] [--output DIR]
# Starts a throwaway PostgreSQL on 127.0.0.1:54399 (--port) unless PGHOST names a server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
install_extra bench # DuckDB, for the peer (bench/peer.py)
exec python "$ROOT/bench/run.py" "$@"
