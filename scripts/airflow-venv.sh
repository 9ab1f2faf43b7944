#!/usr/bin/env bash
# A virtualenv with Apache Airflow, pinned, apart from .venv (Airflow's dependencies would clash
# with the project's): the scheduling example's test parses and runs the DAG with it. Created
# once under .cache/airflow-venv (or AIRFLOW_VENV), again only when the pin changes; prints the
# virtualenv's folder. Needs Python 3.9 to 3.12 as python3 (or PYTHON) and PyPI.
set -euo pipefail

AIRFLOW_VERSION=2.10.5
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AIRFLOW_VENV:-$ROOT/.cache/airflow-venv}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/examples/airflow/constraints-$AIRFLOW_VERSION.txt"

fail() {
  echo "error: $*" >&2
  exit 2
}

mkdir -p "$(dirname "$VENV")"
# Two test runs at once must not build the same virtualenv together.
exec 9>"$VENV.lock"
flock 9

digest="$(sha256sum <"$CONSTRAINTS" | cut -d' ' -f1)"
if [ -f "$VENV/.installed" ] && [ "$(cat "$VENV/.installed")" = "$digest" ]; then
  echo "$VENV"
  exit 0
fi
"$PYTHON" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 12))' ||
  fail "Airflow $AIRFLOW_VERSION needs Python 3.9 to 3.12; set PYTHON to one (found $("$PYTHON" --version 2>&1))."
echo "Installing Apache Airflow $AIRFLOW_VERSION into $VENV (once, about a minute) ..." >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || fail "could not create $VENV."
if ! "$VENV/bin/python" -m pip install -q --upgrade pip >&2 ||
  ! "$VENV/bin/python" -m pip install -q "apache-airflow==$AIRFLOW_VERSION" -c "$CONSTRAINTS" >&2; then
  fail "pip could not install apache-airflow $AIRFLOW_VERSION."
fi
echo "$digest" >"$VENV/.installed"
echo "$VENV"
