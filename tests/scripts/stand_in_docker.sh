#!/usr/bin/env bash
# A stand-in for the docker command, for tests of the scripts' checks and messages: it records
# each call in $FAKE_DOCKER_LOG and answers as the FAKE_* variables say.
echo "docker $*" >>"$FAKE_DOCKER_LOG"
case "$1" in
  info)
    case "${FAKE_DOCKER_INFO:-ok}" in
      ok) echo 20.10.24 ;;
      denied) echo "permission denied while trying to connect to the Docker daemon socket" >&2; exit 1 ;;
      *) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;
    esac
    ;;
  compose)
    shift
    while [ "$1" = --project-directory ] || [ "$1" = -f ]; do shift 2; done
    case "$1" in
      version)
        if [ "${FAKE_COMPOSE_VERSION:-v2.26.1}" = none ]; then
          echo "docker: 'compose' is not a docker command." >&2
          exit 1
        fi
        echo "${FAKE_COMPOSE_VERSION:-v2.26.1}"
        ;;
      ps) [ -z "${FAKE_RUNNING:-}" ] || tr " " "\n" <<<"$FAKE_RUNNING" ;;
      exec)
        case "$*" in
          *check_login.py*) echo "${FAKE_LOGIN:-ok}"; [ "${FAKE_LOGIN:-ok}" = ok ]; exit ;;
          *aliveworkers*) echo "${FAKE_WORKERS:-1}"; exit 0 ;;
          *" sh -c cat "*) [ -z "${FAKE_SUMMARY:-}" ] || echo "$FAKE_SUMMARY"; exit 0 ;;
        esac
        [ -z "${FAKE_EXEC_OUTPUT:-}" ] || echo "$FAKE_EXEC_OUTPUT" >&2
        exit "${FAKE_EXEC_STATUS:-0}"
        ;;
    esac
    ;;
esac
exit 0
