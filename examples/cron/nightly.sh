#!/bin/sh
# spark-etl's nightly increment for cron, with the Airflow example's policy: the customer and
# product snapshots, then the night's cart delta, the quality check and the analytics refresh.
#
#   nightly.sh [NIGHT]   NIGHT (YYYY-MM-DD) names the night's extract folder (default: yesterday)
#
# Exit codes: 75 (the load lock held, PostgreSQL down or restarting) is retried NIGHTLY_RETRIES
# times, NIGHTLY_RETRY_PAUSE seconds apart; a load's 3 (committed, its analytics refresh failed)
# goes on, since the analytics step at the end refreshes again; 1, 2 and 4 stop the night. The
# script exits with the code that stopped it, else 0. Settings (environment):
#   NIGHTLY_HOME         the folder the commands run in (default: the current one)
#   NIGHTLY_COMMAND      how spark-etl is started (default ./submit.sh, the Docker stack; or
#                        "./submit.sh --local", "spark-etl", "spark-submit ... jobs/main.py")
#   NIGHTLY_INPUT_ROOT   one folder of extracts per night under it, as the command sees it
#                        (default /data/input, the Docker stack's)
#   NIGHTLY_SUMMARY_DIR  the JSON summaries, one folder per night (default ./data/logs/nightly)
#   NIGHTLY_CONFIG       a settings file passed as --config (default: none)
#   NIGHTLY_RETRIES      retries of an exit 75 (default 3)
#   NIGHTLY_RETRY_PAUSE  seconds between them (default 600)
# The PostgreSQL connection comes from the environment (PGHOST, PGPASSFILE, ...).
set -eu

NIGHT="${1:-$(date -u -d yesterday +%F 2>/dev/null || date -u -v-1d +%F)}"
COMMAND="${NIGHTLY_COMMAND:-./submit.sh}"
INPUT_DIR="${NIGHTLY_INPUT_ROOT:-/data/input}/$NIGHT"
CONFIG="${NIGHTLY_CONFIG:-}"
RETRIES="${NIGHTLY_RETRIES:-3}"
PAUSE="${NIGHTLY_RETRY_PAUSE:-600}"
EXIT_REFRESH_FAILED=3
EXIT_TEMPORARY=75

cd "${NIGHTLY_HOME:-.}"
SUMMARY_ROOT="${NIGHTLY_SUMMARY_DIR:-./data/logs/nightly}"
SUMMARIES="$SUMMARY_ROOT/$NIGHT"
mkdir -p "$SUMMARIES"

say() {
  printf '%s nightly %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$NIGHT" "$*" >&2
}

# One night at a time: a night still running when the next starts would only wait for the load
# lock; this one leaves, to be run again (exit 75).
exec 9>"$SUMMARY_ROOT/.lock"
if ! flock -n 9; then
  say "another night is still running; exiting 75 (run again later)."
  exit "$EXIT_TEMPORARY"
fi

# etl SUBCOMMAND ARGS...: spark-etl's SUBCOMMAND through $COMMAND (./submit.sh names a load by
# its job alone, spark-etl and jobs/main.py say "load" first).
etl() {
  sub="$1"
  shift
  if [ -n "$CONFIG" ]; then
    set -- "$@" --config "$CONFIG"
  fi
  case " $COMMAND " in
    *submit.sh\ *) [ "$sub" != load ] || sub="" ;;
  esac
  # shellcheck disable=SC2086 # COMMAND is a command line: split into its words on purpose
  $COMMAND $sub "$@"
}

# load TASK JOB EXTRACT: one load; its JSON summary (on stdout: the Docker stack's file system
# is the container's) is kept as $SUMMARIES/TASK.json, written whole or not at all.
load() {
  summary="$SUMMARIES/$1.json"
  status=0
  etl load "$2" --input-dir "$INPUT_DIR" --extract "$3" --no-refresh --summary-json - >"$summary.partial" ||
    status=$?
  if [ -s "$summary.partial" ]; then
    mv "$summary.partial" "$summary"
  else
    rm -f "$summary.partial"
  fi
  return "$status"
}

# step NAME COMMAND...: run COMMAND, again after a pause while it exits 75; returns its code.
step() {
  name="$1"
  shift
  tries=0
  while :; do
    say "$name: started"
    code=0
    "$@" || code=$?
    if [ "$code" -ne "$EXIT_TEMPORARY" ] || [ "$tries" -ge "$RETRIES" ]; then
      say "$name: exit $code"
      return "$code"
    fi
    tries=$((tries + 1))
    say "$name: temporary failure (exit 75); retry $tries of $RETRIES in ${PAUSE}s"
    sleep "$PAUSE"
  done
}

# stop CODE NAME: end the night with a failed step's code and what to do about it.
stop() {
  case "$1" in
    2) what="a mistake to fix (see the line above); not retried" ;;
    4) what="a quality gate stopped the load; look at its rejects and spark-etl quality" ;;
    75) what="still temporary after $RETRIES retries; run the night again later" ;;
    *) what="an unexpected failure; the trace is in spark-etl.log" ;;
  esac
  say "stopped at $2: $what."
  exit "$1"
}

for task in "load_customers customer_data_transform snapshot" \
  "load_products product_data_transform snapshot" \
  "load_carts cart_data_transform delta"; do
  # shellcheck disable=SC2086 # three words: the task, the job, the kind of extract
  set -- $task
  code=0
  step "$1" load "$@" || code=$?
  if [ "$code" -eq "$EXIT_REFRESH_FAILED" ]; then
    say "$1: loaded, but the analytics refresh failed; the analytics step refreshes again."
  elif [ "$code" -ne 0 ]; then
    stop "$code" "$1"
  fi
done
code=0
step quality etl quality || code=$?
[ "$code" -eq 0 ] || stop "$code" quality
step analytics etl analytics || code=$?
[ "$code" -eq 0 ] || stop "$code" analytics
say "done; summaries in $SUMMARIES"
