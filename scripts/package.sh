#!/usr/bin/env bash
# Build what a cluster receives, into dist/ (or $DIST_DIR):
#   spark_etl-<version>-py3-none-any.whl   to pip install on cluster nodes (pulls the pinned deps)
#   spark_etl-<version>.zip                the same package for spark-submit --py-files
# Uses $PYTHON (default: python3) and pip; see docs/cluster.md. Builds in a
# temporary copy, so the checkout may be read-only (as in the Docker image).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
PYTHON="${PYTHON:-python3}"

SOURCE="$(mktemp -d)"
trap 'rm -rf "$SOURCE"' EXIT
cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/spark_etl" "$SOURCE/"
# With the build backend already installed (the test extra pins it) no download is needed.
isolation=()
if "$PYTHON" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null; then
  isolation=(--no-build-isolation)
fi
mkdir -p "$DIST_DIR"
rm -f "$DIST_DIR"/spark_etl-*.whl "$DIST_DIR"/spark_etl-*.zip
"$PYTHON" -m pip wheel --quiet --no-deps "${isolation[@]}" --wheel-dir "$DIST_DIR" "$SOURCE"
for wheel in "$DIST_DIR"/spark_etl-*.whl; do
  version="$(basename "$wheel" | cut -d- -f2)"
  # A pure-Python wheel is a zip with the package at its root: importable from --py-files.
  cp "$wheel" "$DIST_DIR/spark_etl-$version.zip"
  echo "$wheel"
  echo "$DIST_DIR/spark_etl-$version.zip"
done
