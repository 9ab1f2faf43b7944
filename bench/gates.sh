#!/usr/bin/env bash
# The quality gates' cost (see bench/gates.py): ./bench/gates.sh [--size N] [--base REV] [--rounds R]
# Starts a throwaway PostgreSQL on 127.0.0.1:54398 unless PGHOST names a server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
exec python "$ROOT/bench/gates.py" "$@"
