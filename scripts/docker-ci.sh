#!/usr/bin/env bash
# The Docker stack, run for real, the way a user runs it (docs/getting-started.md, Docker). CI runs this
# after ./test.sh; a developer can run it too. Usage: scripts/docker-ci.sh
#
# As root, it first makes the machine ready: Docker Engine from Debian (docker.io), Compose v2
# (Debian trixie's docker-compose package when the installed one is missing or too old), the
# engine started, and the base image made locally with debootstrap when it cannot be pulled.
# Then, as an unprivileged user in the docker group (as most Linux users run Docker; root's
# files would hide ownership mistakes), it runs the user's commands on a copy of this checkout,
# each step printed with its time. On a failure it prints the last lines of every container's
# log, removes the stack and exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_USER="${DOCKER_CI_USER:-spark-etl-ci}"
BASE_IMAGE_DEFAULT=debian:12.11-slim
TRIXIE_SOURCES=/etc/apt/sources.list.d/spark-etl-trixie.sources
TRIXIE_PIN=/etc/apt/preferences.d/spark-etl-trixie

step() {
  STEP_STARTED=$SECONDS
  echo "" >&2
  echo "== $(date -u +%H:%M:%S) $*" >&2
}
step_done() {
  echo "-- done in $((SECONDS - STEP_STARTED)) s" >&2
}
fail() {
  echo "docker-ci: error: $*" >&2
  exit 1
}

# ---------------------------------------------------------------- the machine (root) ----------

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

compose_v2_ok() {
  local version
  version="$(docker compose version --short 2>/dev/null)" || return 1
  version="${version#v}"
  [ "$(printf '%s\n%s\n' 2.20.0 "${version%%[-+]*}" | sort -V | head -n1)" = 2.20.0 ]
}

install_docker() {
  step "Docker Engine and Compose v2 from Debian's packages"
  apt-get update -qq >&2
  local packages=()
  command -v dockerd >/dev/null || packages+=(docker.io)
  command -v debootstrap >/dev/null || packages+=(debootstrap)
  command -v psql >/dev/null || packages+=(postgresql-client)
  command -v git >/dev/null || packages+=(git)
  [ ${#packages[@]} -eq 0 ] || apt_install "${packages[@]}"
  if ! compose_v2_ok; then
    # Bookworm's own docker-compose is 1.29; trixie's 2.26 needs only libc6. A low pin keeps
    # every other package on bookworm.
    cat >"$TRIXIE_SOURCES" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >"$TRIXIE_PIN"
    apt-get update -qq >&2
    apt_install docker-compose/trixie
  fi
  docker --version >&2
  docker compose version >&2
  step_done
}

start_engine() {
  docker info >/dev/null 2>&1 && return 0
  step "Start the Docker engine"
  nohup dockerd >/var/log/spark-etl-dockerd.log 2>&1 &
  local attempt
  for attempt in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    [ "$attempt" = 60 ] && { tail -n 20 /var/log/spark-etl-dockerd.log >&2; fail "dockerd did not start"; }
    sleep 1
  done
  docker info --format 'engine {{.ServerVersion}}, storage {{.Driver}}' >&2
  step_done
}

# The images build FROM a Debian 12 slim base. Where no registry is reachable, make an
# equivalent from Debian's packages: a minbase debootstrap with the official image's sources.
ensure_base_image() {
  local image="${BASE_IMAGE:-$BASE_IMAGE_DEFAULT}"
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  step "Base image $image"
  if timeout 60 docker pull "$image" >&2 2>/dev/null; then
    step_done
    return 0
  fi
  echo "Cannot pull $image: making it with debootstrap from Debian's archive." >&2
  local rootfs
  rootfs="$(mktemp -d /var/tmp/spark-etl-rootfs.XXXXXX)"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >&2
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$image" >&2
  rm -rf "$rootfs"
  step_done
}

# An unprivileged user in the docker group, with a copy of this checkout's files.
prepare_user() {
  id "$CI_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$CI_USER"
  usermod -aG docker "$CI_USER"
  local home copy
  home="$(getent passwd "$CI_USER" | cut -d: -f6)"
  copy="$home/spark-etl"
  rm -rf "$copy"
  mkdir -p "$copy"
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
    tar -C "$ROOT" --null -T - -c | tar -C "$copy" -x
  chown -R "$CI_USER:" "$copy"
  echo "$copy"
}

# ---------------------------------------------------------------- the user's steps ----------

compose_logs() {
  echo "" >&2
  echo "== the last lines of every container's log" >&2
  local container
  for container in $(docker ps -a --filter label=com.docker.compose.project=spark-etl --format '{{.Names}}'); do
    echo "---- $container" >&2
    docker logs --tail 40 "$container" 2>&1 | sed 's/^/  /' >&2 || true
  done
}

on_user_failure() {
  local status=$?
  trap - EXIT
  if [ "$status" -ne 0 ]; then
    echo "docker-ci: a step failed (exit $status)" >&2
    compose_logs
    ./stop.sh --purge >/dev/null 2>&1 || true
  fi
  exit "$status"
}

# expect_failure "MESSAGE PART" COMMAND...: the command must fail and say MESSAGE PART.
expect_failure() {
  local wanted="$1" output status=0
  shift
  output="$("$@" 2>&1)" || status=$?
  echo "$output" | tail -n 3 | sed 's/^/  | /' >&2
  [ "$status" -ne 0 ] || fail "'$*' succeeded; expected a failure saying: $wanted"
  [[ "$output" == *"$wanted"* ]] || fail "'$*' did not say: $wanted"
}

psql_stack() {
  PGPASSWORD="$(sed -n 's/^POSTGRES_PASSWORD=//p' .env)" psql -X -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$(sed -n 's/^POSTGRES_PORT=//p' .env)" -U etl -d etl -c "$1"
}

user_steps() {
  trap on_user_failure EXIT
  cd "$ROOT"
  local started=$SECONDS
  echo "docker-ci: running the user's steps as $(id -un) (uid $(id -u)) in $ROOT" >&2

  step "Mistakes get one clear line: submit.sh before start.sh, a port already taken"
  rm -f .env
  expect_failure ".env is missing" ./stop.sh
  cp .env.example .env
  expect_failure "the Docker stack is not up; run ./start.sh first" ./submit.sh all
  rm -f .env
  python3 -m http.server --bind 127.0.0.1 58999 >/dev/null 2>&1 &
  local listener=$!
  sleep 1
  expect_failure "port 58999 on 127.0.0.1 is already in use (POSTGRES_PORT in .env)" \
    env POSTGRES_PORT=58999 ./start.sh
  kill "$listener"
  expect_failure "--workers needs a number" ./start.sh --workers two
  step_done

  step "./start.sh --workers 2 (builds the images the first time)"
  ./start.sh --workers 2
  step_done

  step "./submit.sh all (the sample set, generated in ./data/input)"
  ./submit.sh all | tee /tmp/spark-etl-ci-all.txt
  grep -Eq '^cart_data_transform +succeeded +10000 +9468 ' /tmp/spark-etl-ci-all.txt ||
    fail "the sample load did not report 10000 read and 9468 loaded cart lines"
  [ "$(psql_stack 'SELECT count(*) FROM cart')" = 9468 ] || fail "cart does not hold 9468 rows"
  step_done

  step "Where the job ran: executors on the two worker containers (event log + master status)"
  local event_log
  event_log="$(find data/logs/spark-events -name 'app-*' ! -name '*.inprogress' -printf '%T@ %p\n' |
    sort -n | tail -n1 | cut -d' ' -f2)"
  python3 scripts/check_cluster_run.py "$event_log" \
    --master-url "http://127.0.0.1:$(sed -n 's/^SPARK_MASTER_UI_PORT=//p' .env)"
  step_done

  step "One Spark and one JDBC driver: the image's are the pins of local runs"
  local pinned image_spark host_jdbc image_jdbc
  pinned="$(sed -n 's/.*"pyspark==\([0-9.]*\)".*/\1/p' pyproject.toml)"
  image_spark="$(docker compose -p spark-etl exec -T spark-master python -c 'import pyspark; print(pyspark.__version__)')"
  image_jdbc="$(docker compose -p spark-etl exec -T spark-master dpkg-query -W -f '${Version}' libpostgresql-jdbc-java)"
  host_jdbc="$(dpkg-query -W -f '${Version}' libpostgresql-jdbc-java 2>/dev/null || echo "not installed")"
  echo "pyspark: pyproject.toml $pinned, image $image_spark; JDBC driver: image $image_jdbc, this machine $host_jdbc" >&2
  [ "$image_spark" = "$pinned" ] || fail "the image runs pyspark $image_spark, not the pinned $pinned"
  step_done

  step "An incremental cart load from a second generated set"
  ./submit.sh generate_data --output-dir /data/input/increment --carts 2000 --seed 7
  ./submit.sh cart_data_transform --input-dir /data/input/increment
  local expected
  expected="$(psql_stack "SELECT sum(rows_inserted) FROM etl_run WHERE job = 'cart_data_transform' AND status = 'succeeded'")"
  [ "$(psql_stack 'SELECT count(*) FROM cart')" = "$expected" ] ||
    fail "cart rows differ from the inserts etl_run reports ($expected)"
  [ "$(psql_stack "SELECT count(*) FROM etl_run WHERE job = 'cart_data_transform' AND status = 'succeeded'")" = 2 ] ||
    fail "etl_run does not show two succeeded cart loads"
  echo "cart holds $expected rows, as etl_run reports" >&2
  step_done

  step "A quality gate on the cluster: a broken extract is rolled back and exits 4, as locally"
  ./submit.sh generate_data --output-dir /data/input/broken --carts 2000 --seed 9 --broken-fraction 0.3
  printf 'quality:\n  cart: {fail_set_aside_share: 0.05}\n' >data/input/gates.yaml
  local before status=0
  before="$(psql_stack 'SELECT count(*) FROM cart')"
  ./submit.sh cart_data_transform --input-dir /data/input/broken --config /data/input/gates.yaml |
    tee /tmp/spark-etl-ci-gate.txt || status=$?
  [ "$status" = 4 ] || fail "the gated load exited $status, not 4"
  grep -Eq '^quality gate failed: cart: .* of lines set aside, above quality.cart.fail_set_aside_share 5%$' \
    /tmp/spark-etl-ci-gate.txt || fail "the summary does not name the gate that failed"
  [ "$(psql_stack 'SELECT count(*) FROM cart')" = "$before" ] || fail "the gated load changed cart"
  status=0
  ./submit.sh quality --job cart --config /data/input/gates.yaml || status=$?
  [ "$status" = 4 ] || fail "quality exited $status after a failed gate, not 4"
  step_done

  step "./submit.sh analytics: the report lands in ./data/report, owned by $(id -un)"
  ./submit.sh analytics >/dev/null
  [ -s data/report/index.html ] || fail "data/report/index.html is missing"
  [ "$(stat -c %u data/report/index.html)" = "$(id -u)" ] ||
    fail "data/report/index.html belongs to uid $(stat -c %u data/report/index.html), not $(id -u)"
  stat -c '%U %n' data/report/index.html >&2
  step_done

  step "./submit.sh retention: old months archived to ./data/archive by the executors, checked, dropped; restore"
  printf 'retention:\n  cart_months: 12\n' >data/input/retention.yaml
  ./submit.sh retention --config /data/input/retention.yaml --dry-run
  local online archived january
  online="$(psql_stack 'SELECT count(*) FROM cart')"
  ./submit.sh retention --config /data/input/retention.yaml | tee /tmp/spark-etl-ci-retention.txt
  grep -Eq '^retention +succeeded ' /tmp/spark-etl-ci-retention.txt || fail "retention did not succeed"
  archived="$(psql_stack 'SELECT sum(row_count) FROM etl_archive WHERE restored_at IS NULL')"
  [ "$archived" -gt 0 ] || fail "retention archived nothing"
  [ "$(psql_stack 'SELECT count(*) FROM cart')" = "$((online - archived))" ] ||
    fail "cart does not hold the $((online - archived)) rows retention kept"
  [ -f data/archive/cart/month=2020-01/_SUCCESS ] || fail "no archive of 2020-01 in ./data/archive"
  [ "$(stat -c %u data/archive/cart/month=2020-01/_SUCCESS)" = "$(id -u)" ] ||
    fail "the archive does not belong to $(id -un)"
  january="$(psql_stack "SELECT row_count FROM etl_archive WHERE period = '2020-01-01'")"
  ./submit.sh restore --config /data/input/retention.yaml --month 2020-01
  expected="$((online - archived + january))"
  [ "$(psql_stack 'SELECT count(*) FROM cart')" = "$expected" ] ||
    fail "cart does not hold the $expected rows after restoring 2020-01"
  echo "archived $archived cart lines, restored the $january of 2020-01" >&2
  step_done

  step "The lake: every load also wrote ./data/lake (Iceberg), read back in spark-master; lake sync finds it in step; lake expire"
  local parquet online_lake all_lake
  parquet="$(find data/lake -name '*.parquet' -print -quit)"
  [ -n "$parquet" ] && [ -n "$(find data/lake -name '*.metadata.json' -print -quit)" ] ||
    fail "no Iceberg table in ./data/lake"
  [ "$(stat -c %u "$parquet")" = "$(id -u)" ] || fail "the lake's files do not belong to $(id -un)"
  # pyiceberg in the container, as docs/lake.md reads it: the lines of the months PostgreSQL
  # holds (count and amount), and every line (the archived months stay in the lake)
  online_lake="$(docker compose -p spark-etl exec -T spark-master python - <<'PY'
import os
from datetime import datetime
from urllib.parse import quote

import psycopg2
import pyarrow.compute as pc
from pyiceberg.catalog import load_catalog
from pyiceberg.expressions import GreaterThanOrEqual, LessThan

env = os.environ
uri = (f"postgresql+psycopg2://{env['PGUSER']}:{quote(env['PGPASSWORD'], safe='')}@"
       f"{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}")
catalog = load_catalog("spark_etl", type="sql", uri=uri, warehouse="file:///data/lake")
with psycopg2.connect("") as conn, conn.cursor() as cur:
    cur.execute("SELECT min(created_at) FROM cart WHERE created_at >= '2020-02-01'")
    (first,) = cur.fetchone()
start = datetime(first.year, first.month, 1).isoformat()
cart = catalog.load_table("spark_etl.cart")
recent = cart.scan(row_filter=GreaterThanOrEqual("created_at", start)).to_arrow()
january = cart.scan(row_filter=LessThan("created_at", "2020-02-01T00:00:00")).to_arrow()
every = cart.scan().to_arrow()
print(recent.num_rows + january.num_rows, pc.sum(recent["amount"]).as_py() + pc.sum(january["amount"]).as_py(), every.num_rows)
PY
)" || fail "pyiceberg could not read the lake in spark-master"
  all_lake="${online_lake##* }"
  online_lake="${online_lake% *}"
  [ "$online_lake" = "$(psql_stack "SELECT count(*) || ' ' || sum(amount) FROM cart")" ] ||
    fail "the lake's lines of the online months ($online_lake) differ from PostgreSQL's"
  [ "$all_lake" = "$(psql_stack "SELECT (SELECT count(*) FROM cart) + (SELECT coalesce(sum(row_count), 0) FROM etl_archive WHERE table_name = 'cart' AND restored_at IS NULL)")" ] ||
    fail "the lake does not hold every line, online and archived ($all_lake)"
  ./submit.sh lake sync | tee /tmp/spark-etl-ci-lake.txt
  [ "$(grep -c ': in step with PostgreSQL' /tmp/spark-etl-ci-lake.txt)" = 4 ] ||
    fail "lake sync did not find the four tables in step"
  # lake expire in the stack: the current snapshots stay, so the lake still reads the same
  ./submit.sh lake expire | tee /tmp/spark-etl-ci-expire.txt
  # (spark-submit merges the job's log into stdout: count the report's own lines)
  [ "$(grep -cE '^[a-z_]+: [0-9]+ snapshots? older than ' /tmp/spark-etl-ci-expire.txt)" = 4 ] ||
    fail "lake expire did not report the four tables"
  echo "the lake holds $all_lake cart lines; the online months equal PostgreSQL ($online_lake)" >&2
  step_done

  # ./test.sh ran every test on the same code; here, inside the image (its Python, Spark and
  # JDBC driver) against the stack's PostgreSQL, the tests of what those change: the transforms,
  # the loads, the writers, the migrations and the analytics. The faults' and retention's own
  # tests are left to ./test.sh (the steps above run retention and a failed gate on the
  # cluster), which keeps CI within its time.
  step "./submit.sh test (units, loads, writers, migrations and analytics inside spark-master, against the stack's PostgreSQL)"
  ./submit.sh test -q -rs -m "not lake and not bench" tests/unit \
    tests/integration/test_jobs.py tests/integration/test_writers.py \
    tests/integration/test_migrations.py tests/integration/test_lookups.py \
    tests/integration/test_flag_table.py tests/integration/test_summary_json.py \
    tests/integration/test_analytics.py tests/integration/test_analytics_incremental.py
  step_done

  step "./stop.sh, then ./start.sh: the data is still there"
  ./stop.sh
  ./start.sh --workers 2
  [ "$(psql_stack 'SELECT count(*) FROM cart')" = "$expected" ] || fail "cart rows did not survive a restart"
  find data/logs -maxdepth 2 -type f | sort | head -n 4 >&2
  step_done

  step "A password changed in .env after the database was created"
  cp .env .env.kept
  sed -i 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=changed-after-the-volume/' .env
  expect_failure "PostgreSQL refuses the user or password of .env" ./start.sh --workers 2
  mv .env.kept .env
  ./start.sh --workers 2
  step_done

  step "./stop.sh --purge leaves no container, network or volume"
  ./stop.sh --purge
  local left
  left="$(docker ps -aq --filter label=com.docker.compose.project=spark-etl)$(docker network ls -q --filter label=com.docker.compose.project=spark-etl)$(docker volume ls -q --filter label=com.docker.compose.project=spark-etl)"
  [ -z "$left" ] || fail "left behind: $left"
  step_done
  trap - EXIT
  echo "" >&2
  echo "docker-ci: every step passed in $((SECONDS - started)) s" >&2
}

# ---------------------------------------------------------------- main ----------

if [ "${1:-}" = --user-steps ]; then
  user_steps
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  install_docker
  start_engine
  ensure_base_image
  copy="$(prepare_user)"
  exec runuser -u "$CI_USER" -- env PIP_CERT="${PIP_CERT:-}" bash "$copy/scripts/docker-ci.sh" --user-steps
fi
docker info >/dev/null 2>&1 || fail "the Docker engine is not reachable; run this script as root once to install and start it."
ensure_base_image
user_steps
