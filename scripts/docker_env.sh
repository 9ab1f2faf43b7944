#!/usr/bin/env bash
# Sourced by start.sh, stop.sh and submit.sh for the Docker stack: checks that Docker is usable
# and runs "docker compose" on the project's compose file, as the host user.

COMPOSE_FILE_PATH="$ROOT/docker-compose.yml"
ENV_FILE="$ROOT/.env"
COMPOSE_MIN_VERSION=2.20.0
MASTER_ENTRYPOINT=/opt/spark-etl/docker/spark/entrypoint.sh

docker_fail() {
  echo "error: $*" >&2
  exit 2
}

version_at_least() { # version_at_least HAVE NEED
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

require_docker() {
  command -v docker >/dev/null 2>&1 ||
    docker_fail "Docker is not installed; install Docker Engine (or Docker Desktop) with the Compose plugin, or run with --local."
  local info
  if ! info="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
    if [[ "$info" == *"permission denied"* ]]; then
      docker_fail "no permission to use the Docker engine; add your user to the docker group (then log in again), or run with --local."
    fi
    docker_fail "the Docker engine is not running (docker info failed); start it (e.g. sudo systemctl start docker), or run with --local."
  fi
  local version
  version="$(docker compose version --short 2>/dev/null)" ||
    docker_fail "Docker Compose v2 is missing (docker compose version failed); install the Compose plugin, $COMPOSE_MIN_VERSION or newer (docker-compose 1.x is not supported)."
  version="${version#v}"
  version_at_least "${version%%[-+]*}" "$COMPOSE_MIN_VERSION" ||
    docker_fail "Docker Compose $version is too old; install $COMPOSE_MIN_VERSION or newer."
}

# The containers run as the host user, so that what they write into ./data is the user's.
compose() {
  ETL_UID="$(id -u)" ETL_GID="$(id -g)" \
    docker compose --project-directory "$ROOT" -f "$COMPOSE_FILE_PATH" "$@"
}

# A command in spark-master, through the image's entry point (docker exec skips it).
in_master() {
  local exec_args=(exec)
  [ -t 0 ] && [ -t 1 ] || exec_args+=(-T)
  compose "${exec_args[@]}" spark-master "$MASTER_ENTRYPOINT" "$@"
}

# .env holds the settings and credentials; created once from .env.example with a random password.
ensure_env_file() {
  if [ ! -f "$ENV_FILE" ]; then
    local password
    password="$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')"
    sed "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$password/" "$ROOT/.env.example" >"$ENV_FILE"
    chmod 600 "$ENV_FILE"
    echo "Created .env with a random PostgreSQL password." >&2
  fi
}

require_env_file() {
  [ -f "$ENV_FILE" ] ||
    docker_fail "$ENV_FILE is missing; it holds the stack's settings (./start.sh creates it). Restore it, or remove the stack with: docker compose -p spark-etl down"
}

# env_value KEY DEFAULT: a setting of .env (the environment wins, as in docker compose).
env_value() {
  local value="${!1:-}"
  if [ -z "$value" ] && [ -f "$ENV_FILE" ]; then
    value="$(sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1)"
    value="${value%\"}" && value="${value#\"}"
  fi
  echo "${value:-$2}"
}

running_services() {
  compose ps --status running --services 2>/dev/null
}

# Each published port must be free, unless the service publishing it already runs.
require_free_ports() {
  local running entry variable default service port
  running="$(running_services)"
  for entry in POSTGRES_PORT:55432:postgres SPARK_MASTER_UI_PORT:8080:spark-master \
    SPARK_APP_UI_PORT:4040:spark-master SPARK_HISTORY_PORT:18080:spark-history; do
    IFS=: read -r variable default service <<<"$entry"
    grep -qx "$service" <<<"$running" && continue
    port="$(env_value "$variable" "$default")"
    [[ "$port" =~ ^[0-9]+$ ]] || docker_fail "$variable in .env must be a port number (found '$port')."
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      docker_fail "port $port on 127.0.0.1 is already in use ($variable in .env); stop what uses it, or set $variable to a free port in .env."
    fi
  done
}

# memory_mib NAME SIZE: SIZE (a number and its unit: 512m, 2g, 2gb) in MiB. A bare number is
# refused: the worker reads it as bytes and an executor as MiB.
memory_mib() {
  local size="${2,,}"
  [[ "$size" =~ ^([0-9]+)([kmgt])b?$ ]] ||
    docker_fail "$1 in .env must be a size with its unit, such as 2g or 1536m (found '$2')."
  local number=$((10#${BASH_REMATCH[1]}))
  case "${BASH_REMATCH[2]}" in
    k) echo $((number / 1024)) ;;
    m) echo "$number" ;;
    g) echo $((number * 1024)) ;;
    t) echo $((number * 1024 * 1024)) ;;
  esac
}

# An executor larger than its worker's memory is never started: every job would wait forever.
require_executor_fits() {
  local worker executor worker_mib executor_mib
  worker="$(env_value SPARK_WORKER_MEMORY 2g)"
  executor="$(env_value SPARK_EXECUTOR_MEMORY "$worker")"
  worker_mib="$(memory_mib SPARK_WORKER_MEMORY "$worker")" || exit 2
  executor_mib="$(memory_mib SPARK_EXECUTOR_MEMORY "$executor")" || exit 2
  [ "$executor_mib" -le "$worker_mib" ] ||
    docker_fail "SPARK_EXECUTOR_MEMORY ($executor) is more than SPARK_WORKER_MEMORY ($worker): no worker could start an executor and every job would wait. Lower SPARK_EXECUTOR_MEMORY in .env, or leave it empty for the worker's whole memory."
}

require_stack_up() {
  running_services | grep -qx spark-master ||
    docker_fail "the Docker stack is not up; run ./start.sh first (or use --local)."
}

# The jobs' credentials must open the database: a password changed in .env after the database
# volume was created does not change the database's.
require_database_login() {
  local verdict user
  verdict="$(in_master python docker/spark/check_login.py 2>/dev/null)" || true
  case "$verdict" in
    ok) return 0 ;;
    credentials)
      user="$(env_value POSTGRES_USER etl)"
      docker_fail "PostgreSQL refuses the user or password of .env: the database volume was created with other credentials. Put the old ones back in .env, or set the new password in the database with: docker compose -p spark-etl exec postgres psql -U $user -d postgres -c '\\password $user' (or delete the database with ./stop.sh --purge)."
      ;;
    *) docker_fail "the jobs cannot connect to PostgreSQL: ${verdict#unreachable }" ;;
  esac
}

# Wait until the master counts the workers that were started.
wait_for_workers() {
  local wanted="$1" alive=0 attempt
  for attempt in $(seq 60); do
    alive="$(in_master python -c 'import json, urllib.request
print(json.load(urllib.request.urlopen("http://localhost:8080/json/"))["aliveworkers"])' 2>/dev/null)" || alive=0
    [[ "$alive" =~ ^[0-9]+$ ]] && [ "$alive" -ge "$wanted" ] && return 0
    [ "$attempt" -lt 60 ] && sleep 1
  done
  docker_fail "only $alive of $wanted Spark workers registered with the master in 60 s; see: docker compose -p spark-etl logs spark-worker"
}
