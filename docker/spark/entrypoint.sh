#!/usr/bin/env bash
# Entry point of the Spark image. The stack runs containers as the host user's uid so that what
# they write into the mounted ./data folders belongs to that user; such a uid has no entry in
# /etc/passwd, and Java (Hadoop's login) fails without a user name, so give it one through
# nss_wrapper.
set -euo pipefail

if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
  NSS_WRAPPER_PASSWD="$(mktemp /tmp/passwd.XXXXXX)"
  NSS_WRAPPER_GROUP="$(mktemp /tmp/group.XXXXXX)"
  cat /etc/passwd >"$NSS_WRAPPER_PASSWD"
  echo "spark-etl:x:$(id -u):$(id -g):spark-etl:${HOME:-/tmp}:/usr/sbin/nologin" >>"$NSS_WRAPPER_PASSWD"
  cat /etc/group >"$NSS_WRAPPER_GROUP"
  getent group "$(id -g)" >/dev/null 2>&1 || echo "spark-etl:x:$(id -g):" >>"$NSS_WRAPPER_GROUP"
  export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  LD_PRELOAD="$(find /usr/lib -name libnss_wrapper.so -print -quit)"
  export LD_PRELOAD
fi
# The event log folder of spark-defaults.conf, in the mounted ./data/logs.
mkdir -p /data/logs/spark-events 2>/dev/null || true
exec "$@"
