#!/usr/bin/env bash
# Results equality of two versions (see bench/equality.py): ./bench/equality.sh --base REV [--size N]
# Starts a throwaway PostgreSQL on 127.0.0.1:54398 unless PGHOST names a server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
exec python "$ROOT/bench/equality.py" "$@"
