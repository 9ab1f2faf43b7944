#!/usr/bin/env bash
# Run a job: ./submit.sh --local JOB [ARGS]   (see --help)
set -euo pipefail

JOBS="all product_data_transform customer_data_transform cart_data_transform generate_data"
SAMPLE_CARTS=10000

usage() {
  cat <<USAGE
Usage: ./submit.sh --local JOB [ARGS...]
       ./submit.sh JOB [ARGS...]        (on the Docker stack; not available yet: use --local)

Jobs: $JOBS
  all                      customers, then products, then cart lines
  generate_data            write a synthetic input set (--output-dir DIR --carts N --seed S)

--local runs Spark in local mode on this machine. It installs what is missing (a .venv, and
Java 17, the PostgreSQL JDBC driver and PostgreSQL server binaries with apt-get), starts an
embedded PostgreSQL on 127.0.0.1:\${ETL_LOCAL_PGPORT:-54329} unless PGHOST names another server,
and loads the generated sample set unless --input-dir DIR is given.

Job arguments: --input-dir DIR, --config FILE, --as-of TIMESTAMP; JOB --help lists them.
USAGE
}

[ $# -gt 0 ] || { usage >&2; exit 2; }
case "$1" in
  -h | --help) usage; exit 0 ;;
  --local) shift ;;
  *)
    echo "error: the Docker stack is not part of this version yet; run ./submit.sh --local $*" >&2
    exit 2
    ;;
esac
[ $# -gt 0 ] || { usage >&2; exit 2; }
JOB="$1"
shift
if [[ " $JOBS " != *" $JOB "* ]]; then
  echo "error: unknown job '$JOB'; choose one of: $JOBS." >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
# shellcheck source=scripts/local_env.sh
source "$ROOT/scripts/local_env.sh"
export SPARK_ETL_LOG_DIR="${SPARK_ETL_LOG_DIR:-$LOCAL_DIR/logs}"
mkdir -p "$SPARK_ETL_LOG_DIR"

if [ "$JOB" = generate_data ]; then
  exec python "$ROOT/jobs/generate_data.py" "$@"
fi

args=("$@")
if [[ " $* " != *" --input-dir"* && " $* " != *" -h "* && " $* " != *" --help "* ]]; then
  SAMPLE_DIR="$LOCAL_DIR/sample-data"
  if [ ! -f "$SAMPLE_DIR/carts.csv" ]; then
    python "$ROOT/jobs/generate_data.py" --output-dir "$SAMPLE_DIR" --carts "$SAMPLE_CARTS" >&2
  fi
  echo "No --input-dir given: loading the sample set in $SAMPLE_DIR." >&2
  args+=(--input-dir "$SAMPLE_DIR")
fi

use_embedded_postgres
status=0
spark-submit \
  --master "${SPARK_MASTER:-local[*]}" \
  --driver-memory "${SPARK_DRIVER_MEMORY:-4g}" \
  --jars "$SPARK_ETL_JDBC_JAR" \
  --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:$ROOT/scripts/log4j2.properties -Dspark_etl.log_dir=$SPARK_ETL_LOG_DIR" \
  --conf spark.executor.extraJavaOptions=-Duser.timezone=UTC \
  "$ROOT/jobs/$JOB.py" "${args[@]}" || status=$?
psql_hint
exit "$status"
