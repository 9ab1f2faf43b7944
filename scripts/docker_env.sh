#!/usr/bin/env bash
# Sourced by start.sh, stop.sh and submit.sh for the Docker stack: checks that Docker is usable
# and runs "docker compose" on the project's compose file.

COMPOSE_FILE_PATH="$ROOT/docker-compose.yml"

docker_fail() {
  echo "error: $*" >&2
  exit 2
}

require_docker() {
  command -v docker >/dev/null 2>&1 ||
    docker_fail "Docker is not installed; install Docker Engine or Docker Desktop, or run with --local."
  docker info >/dev/null 2>&1 ||
    docker_fail "the Docker engine is not running (docker info failed); start it, or run with --local."
  docker compose version >/dev/null 2>&1 ||
    docker_fail "the Docker Compose plugin is missing (docker compose version failed); install it."
}

compose() {
  docker compose --project-directory "$ROOT" -f "$COMPOSE_FILE_PATH" "$@"
}

# .env holds the credentials; created once from .env.example with a random password.
ensure_env_file() {
  if [ ! -f "$ROOT/.env" ]; then
    local password
    password="$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')"
    sed "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$password/" "$ROOT/.env.example" >"$ROOT/.env"
    chmod 600 "$ROOT/.env"
    echo "Created .env with a random PostgreSQL password." >&2
  fi
}

require_stack_up() {
  compose ps --status running --services 2>/dev/null | grep -qx spark-master ||
    docker_fail "the Docker stack is not up; run ./start.sh first (or use --local)."
}
