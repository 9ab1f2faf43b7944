#!/usr/bin/env bash
# Run a job on the Docker stack, or with --local on this machine (see --help).
set -euo pipefail

TOOLS="analytics quality plan retention restore lake generate_data test"
SAMPLE_CARTS=10000

# The load jobs come from the entity definitions: one per YAML file of spark_etl/definitions/entities,
# named by its 'job:' key or <entity>_data_transform; and all of them.
entity_jobs() {
  local file entity job
  for file in "$ROOT"/spark_etl/definitions/entities/*.yaml; do
    entity="$(sed -n 's/^entity:[[:space:]]*\([a-z0-9_]*\).*/\1/p' "$file" | head -n 1)"
    job="$(sed -n 's/^job:[[:space:]]*\([a-z0-9_]*\).*/\1/p' "$file" | head -n 1)"
    [ -n "$entity" ] && printf '%s ' "${job:-${entity}_data_transform}"
  done
  printf 'all'
}

usage() {
  local JOBS
  JOBS="$(entity_jobs) $TOOLS"
  cat <<USAGE
Usage: ./submit.sh JOB [ARGS...]           run JOB on the Docker stack (./start.sh first)
       ./submit.sh --local JOB [ARGS...]   run JOB on this machine

Jobs: $JOBS
  <entity>_data_transform  load one entity (one job per definition in
                           spark_etl/definitions/entities, and per file of --entities DIR)
  all                      every entity, each after those it references: customers, products,
                           then cart lines (then the analytics refresh)
  analytics                refresh the analytics views, print their answers, write the report
                           (--output-dir DIR; default .local/report, on Docker ./data/report)
  quality [--job J]        the recent runs with their figures and quality gates; exits 4 when
                           the latest run of a job failed a gate
  plan [JOB]               print the DDL a run of JOB (default all) would apply to the database
                           now (tables created or migrated from the entity definitions); changes
                           nothing
  retention [--dry-run]    archive to Parquet the cart months (and audit rows) older than the
                           retention settings keep, check each archive, then drop what it holds
                           (archives in .local/archive, on Docker ./data/archive)
  restore --month YYYY-MM  bring an archived month of cart lines back into PostgreSQL
  lake sync                compare the Iceberg lake (lake.warehouse; on Docker ./data/lake) with
                           PostgreSQL and write again what differs
  lake expire              expire the lake's snapshots older than lake.keep_snapshots_days and
                           remove the files no snapshot left uses
  generate_data            write a synthetic input set (--output-dir DIR --carts N --seed S)
  test [PYTEST ARGS]       the test suite (on Docker: inside the stack, against its PostgreSQL);
                           paths under tests/ run only those

On Docker, jobs run with spark-submit on spark://spark-master:7077 and read the extracts from
/data/input, the host folder ETL_INPUT_DIR of .env (default ./data/input); the exit code is the
job's: 0 done, 1 unexpected failure, 2 a mistake to fix, 3 loaded but the analytics refresh
failed, 4 a quality gate stopped a load, 75 temporary (the lock is held, PostgreSQL is down or
restarting): retry later. Without --input-dir a sample set is generated there first.

--local runs Spark in local mode. It installs what is missing (a .venv, and Java 17, the
PostgreSQL JDBC driver and PostgreSQL server binaries with apt-get), starts an embedded
PostgreSQL on 127.0.0.1:${ETL_LOCAL_PGPORT:-54329} unless PGHOST names another server, and
loads the generated sample set in .local/sample-data unless --input-dir DIR is given.

Load job arguments: --input-dir DIR, --config FILE, --entities DIR (entity definitions added to
the built-in ones), --mapping FILE (a template for extracts laid out another way),
--as-of TIMESTAMP, --extract snapshot|delta (what the row-count gate compares with);
JOB --help lists them.
USAGE
}

# spark-submit's PythonRunner sends the job's stderr to its own stdout, so with --summary-json -
# the JSON document would arrive mixed with the log lines. The job writes it to a file instead
# (SUMMARY_FILE, a path the job sees), printed alone on stdout once spark-submit has ended, whose
# own output goes to stderr. summary_args PATH ARGS...: ARGS with "--summary-json -" -> PATH.
SUMMARY_FILE=""
summary_args() {
  local path="$1" previous="" arg
  shift
  SUMMARY_ARGS=()
  for arg in "$@"; do
    if [ "$previous" = --summary-json ] && [ "$arg" = - ]; then
      SUMMARY_FILE="$path"
      arg="$path"
    fi
    SUMMARY_ARGS+=("$arg")
    previous="$arg"
  done
}

has_input_dir() {
  [[ " $* " == *" --input-dir"* || " $* " == *" -h "* || " $* " == *" --help "* ]]
}

run_local() {
  # shellcheck source=scripts/bootstrap.sh
  source "$ROOT/scripts/bootstrap.sh"
  [ "$JOB" = test ] && exec "$ROOT/test.sh" "$@"
  # shellcheck source=scripts/local_env.sh
  source "$ROOT/scripts/local_env.sh"
  export SPARK_ETL_LOG_DIR="${SPARK_ETL_LOG_DIR:-$LOCAL_DIR/logs}"
  mkdir -p "$SPARK_ETL_LOG_DIR"
  if [[ " $* " == *" -h "* || " $* " == *" --help "* ]]; then  # a job's options: nothing starts
    case "$JOB" in
      analytics | quality | plan | retention | restore | lake) exec python "$ROOT/jobs/main.py" "$JOB" --help ;;
      generate_data) exec python "$ROOT/jobs/main.py" generate-data --help ;;
      *) exec python "$ROOT/jobs/main.py" load "$JOB" --help ;;
    esac
  fi
  [ "$JOB" = generate_data ] && exec python "$ROOT/jobs/main.py" generate-data "$@"
  if [ "$JOB" = plan ] || [ "$JOB" = quality ]; then  # the catalog and the audit: no Spark
    use_embedded_postgres
    exec python "$ROOT/jobs/main.py" "$JOB" "$@"
  fi
  if [ "$JOB" = analytics ]; then  # SQL in PostgreSQL: no Spark needed
    use_embedded_postgres
    local report_args=("$@")
    [[ " $* " == *" --output-dir"* ]] || report_args+=(--output-dir "$LOCAL_DIR/report")
    local status=0
    python "$ROOT/jobs/main.py" analytics "${report_args[@]}" || status=$?
    psql_hint
    exit "$status"
  fi

  export SPARK_ETL_ARCHIVE_DIR="${SPARK_ETL_ARCHIVE_DIR:-$LOCAL_DIR/archive}"
  if [ "$JOB" = retention ] || [ "$JOB" = restore ] || [ "$JOB" = lake ]; then
    use_embedded_postgres
    local status=0
    local_spark_submit "$ROOT/jobs/main.py" "$JOB" "$@" || status=$?
    psql_hint
    exit "$status"
  fi

  local args=("$@") status=0
  if ! has_input_dir "$@"; then
    local sample_dir="$LOCAL_DIR/sample-data"
    if [ ! -f "$sample_dir/carts.csv" ]; then
      python "$ROOT/jobs/main.py" generate-data --output-dir "$sample_dir" --carts "$SAMPLE_CARTS" >&2
    fi
    echo "No --input-dir given: loading the sample set in $sample_dir." >&2
    args+=(--input-dir "$sample_dir")
  fi
  use_embedded_postgres
  summary_args "$SPARK_ETL_LOG_DIR/.summary-$$.json" "${args[@]}"
  if [ -n "$SUMMARY_FILE" ]; then
    local_spark_submit "$ROOT/jobs/main.py" load "$JOB" "${SUMMARY_ARGS[@]}" >&2 || status=$?
    cat "$SUMMARY_FILE" 2>/dev/null  # none when the job stopped before it could write one
    rm -f "$SUMMARY_FILE"
  else
    local_spark_submit "$ROOT/jobs/main.py" load "$JOB" "${args[@]}" || status=$?
  fi
  psql_hint
  exit "$status"
}

# local_spark_submit SCRIPT ARGS...: a job on Spark in local mode, logging into the log folder.
local_spark_submit() {
  spark-submit \
    --master "${SPARK_MASTER:-local[*]}" \
    --driver-memory "${SPARK_DRIVER_MEMORY:-4g}" \
    --jars "$SPARK_ETL_JDBC_JAR" \
    --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:$ROOT/scripts/log4j2.properties -Dspark_etl.log_dir=$SPARK_ETL_LOG_DIR" \
    --conf spark.executor.extraJavaOptions=-Duser.timezone=UTC \
    "$@"
}

run_docker() {
  # shellcheck source=scripts/docker_env.sh
  source "$ROOT/scripts/docker_env.sh"
  require_docker
  require_env_file
  require_stack_up
  case "$JOB" in
    # Without the stack's spark-defaults: the tests run Spark in local mode, without event logs.
    test)
      # every test unless the arguments name some (tests/unit, tests/integration/test_jobs.py ...)
      local paths=(tests) arg
      for arg in "$@"; do [[ "$arg" == tests || "$arg" == tests/* ]] && paths=(); done
      in_master env -u SPARK_CONF_DIR python -m pytest -p no:cacheprovider "${paths[@]}" "$@"
      return
      ;;
    generate_data) in_master python jobs/main.py generate-data "$@"; return ;;
    plan | quality) in_master python jobs/main.py "$JOB" "$@"; return ;;
    analytics)
      local report_args=("$@")
      [[ " $* " == *" --output-dir"* ]] || report_args+=(--output-dir /data/report)
      in_master python jobs/main.py analytics "${report_args[@]}"
      return
      ;;
  esac
  if [ "$JOB" = retention ] || [ "$JOB" = restore ] || [ "$JOB" = lake ]; then
    docker_spark_submit jobs/main.py "$JOB" "$@"
    return
  fi
  local args=("$@")
  if ! has_input_dir "$@"; then
    if ! in_master test -f /data/input/carts.csv; then
      in_master python jobs/main.py generate-data --output-dir /data/input --carts "$SAMPLE_CARTS" >&2
    fi
    echo "No --input-dir given: loading /data/input (ETL_INPUT_DIR of .env)." >&2
    args+=(--input-dir /data/input)
  fi
  summary_args "/data/logs/.summary-$$.json" "${args[@]}"
  if [ -n "$SUMMARY_FILE" ]; then
    local status=0
    docker_spark_submit jobs/main.py load "$JOB" "${SUMMARY_ARGS[@]}" >&2 || status=$?
    # shellcheck disable=SC2016 # $1 is the container shell's
    in_master sh -c 'cat "$1" 2>/dev/null; rm -f "$1"' summary "$SUMMARY_FILE"
    return "$status"
  fi
  docker_spark_submit jobs/main.py load "$JOB" "${args[@]}"
}

# docker_spark_submit SCRIPT ARGS...: a job on the stack's cluster, its driver in spark-master.
# The master, event logs and UTC executors come from docker/spark/conf/spark-defaults.conf.
docker_spark_submit() {
  in_master spark-submit \
    --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:/opt/spark-etl/scripts/log4j2.properties -Dspark_etl.log_dir=/data/logs" \
    "$@"
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCAL=0
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --local) LOCAL=1; shift ;;
esac
[ $# -gt 0 ] || { usage >&2; exit 2; }
JOB="$1"
shift
# With --entities or --config (which may name an entities folder, also one only the Docker
# stack sees) the job itself checks the job name.
if [[ " $* " != *" --config "* && " $* " != *" --entities "* ]]; then
  JOBS="$(entity_jobs) $TOOLS"
  if [[ " $JOBS " != *" $JOB "* ]]; then
    echo "error: unknown job '$JOB'; choose one of: $JOBS." >&2
    exit 2
  fi
fi
if [ "$LOCAL" = 1 ]; then
  run_local "$@"
else
  run_docker "$@"
fi
