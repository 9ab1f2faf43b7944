#!/usr/bin/env bash
# Sourced by submit.sh, start.sh and test.sh: installs what the project needs, once.
#  - Debian/Ubuntu packages when missing: Java 17, the PostgreSQL JDBC driver
#    (libpostgresql-jdbc-java) and the PostgreSQL server binaries; for ./test.sh also wine64,
#    which runs the .bat twins' checks under wine's cmd.exe, and chromium, which opens the
#    analytics report headless as a user's browser would, and prometheus-pushgateway, which the
#    metrics tests push to and scrape;
#  - a virtualenv in .venv with the pinned Python packages of pyproject.toml, reinstalled only
#    when pyproject.toml changes; an optional extra of it on request (`install_extra bench`, by
#    bench/run.sh), likewise once.
# Exports JAVA_HOME, SPARK_ETL_JDBC_JAR and PATH (with .venv/bin first).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JDBC_JAR_DEFAULT=/usr/share/java/postgresql.jar

bootstrap_fail() {
  echo "error: $*" >&2
  exit 2
}

java17_home() {
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-*; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] &&
      "$candidate/bin/java" -version 2>&1 | grep -q 'version "17'; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

has_pg_server() {
  [ -n "${PG_BIN_DIR:-}" ] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null
}

has_wine() {
  command -v wine64 >/dev/null || command -v wine >/dev/null || [ -x /usr/lib/wine/wine64 ]
}

install_system_packages() {
  local packages=()
  java17_home >/dev/null || packages+=(openjdk-17-jre-headless)
  [ -f "${SPARK_ETL_JDBC_JAR:-$JDBC_JAR_DEFAULT}" ] || packages+=(libpostgresql-jdbc-java)
  has_pg_server || packages+=(postgresql)
  python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
  if [ "${SPARK_ETL_WITH_WINE:-0}" = 1 ] && ! has_wine; then
    packages+=(wine64)
  fi
  if [ "${SPARK_ETL_WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null; then
    packages+=(chromium)
  fi
  if [ "${SPARK_ETL_WITH_PUSHGATEWAY:-0}" = 1 ] && ! command -v prometheus-pushgateway >/dev/null; then
    packages+=(prometheus-pushgateway)
  fi
  [ ${#packages[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null ||
    bootstrap_fail "missing ${packages[*]}; install them with your package manager (this script knows apt-get)."
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || bootstrap_fail "missing ${packages[*]}; run as root: apt-get install ${packages[*]}"
    sudo=(sudo)
  fi
  echo "Installing ${packages[*]} (once) ..." >&2
  # The project runs its own PostgreSQL; don't let the package create and start another one.
  if [[ " ${packages[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    "${sudo[@]}" mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  if ! "${sudo[@]}" apt-get update -qq >&2 ||
    ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${packages[@]}" >&2; then
    bootstrap_fail "could not install ${packages[*]} with apt-get."
  fi
}

install_venv() {
  local stamp="$ROOT/.venv/.installed" digest
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    bootstrap_fail "Python 3.10 or newer is needed as python3 (found $(python3 --version 2>&1))."
  digest="$(sha256sum <"$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    return 0
  fi
  echo "Installing Python packages into .venv (once) ..." >&2
  [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv" || bootstrap_fail "could not create .venv."
  if ! "$ROOT/.venv/bin/python" -m pip install -q --upgrade pip >&2 ||
    ! "$ROOT/.venv/bin/python" -m pip install -q -e "${ROOT}[spark,test,lint,docs]" >&2; then
    bootstrap_fail "pip could not install the packages of pyproject.toml."
  fi
  echo "$digest" >"$stamp"
}

# install_extra NAME: the optional extra NAME of pyproject.toml (not in .venv by default), once
# per pyproject.toml as install_venv.
install_extra() {
  local stamp="$ROOT/.venv/.installed-$1" digest
  digest="$(sha256sum <"$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    return 0
  fi
  echo "Installing the Python packages of the $1 extra into .venv (once) ..." >&2
  "$ROOT/.venv/bin/python" -m pip install -q -e "${ROOT}[$1]" >&2 ||
    bootstrap_fail "pip could not install the $1 extra of pyproject.toml."
  echo "$digest" >"$stamp"
}

install_system_packages
install_venv
JAVA_HOME="$(java17_home)" || bootstrap_fail "Java 17 not found; install openjdk-17-jre-headless or set JAVA_HOME."
export JAVA_HOME
export SPARK_ETL_JDBC_JAR="${SPARK_ETL_JDBC_JAR:-$JDBC_JAR_DEFAULT}"
export PATH="$ROOT/.venv/bin:$JAVA_HOME/bin:$PATH"
# Spark otherwise warns that the host name resolves to a loopback address.
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
