#!/usr/bin/env bash
# S3 test server: moto (https://github.com/getmoto/moto) in the shared Python venv.
#
#   scripts/services/s3.sh install              install moto[server] into the venv (idempotent)
#   scripts/services/s3.sh run PORT [WATCH_PID] run it in the foreground on 127.0.0.1:PORT until
#                                               this script gets SIGTERM/SIGINT, the server exits,
#                                               or process WATCH_PID (the test) is gone
#   scripts/services/s3.sh start PORT PIDFILE   run it in the background, wait until it answers,
#                                               write its PID to PIDFILE, print "PID PORT"
#   scripts/services/s3.sh stop PIDFILE         stop the server of PIDFILE
#
# With KOLLECT_S3_TLS_CERT and KOLLECT_S3_TLS_KEY (PEM files) in the environment, `run` serves
# HTTPS with that certificate instead of HTTP.
#
# moto keeps everything in memory: a restarted server is empty. Any access key signs requests
# (no IAM checks unless INITIAL_NO_AUTH_ACTION_COUNT is set in the environment); path- and
# virtual-host-style addressing, multipart uploads and conditional writes are enforced.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=python-venv.sh
. "$here/python-venv.sh"
# shellcheck source=server-lib.sh
. "$here/server-lib.sh"

requirement='moto[server]'

ready() { curl -sf -o /dev/null "http://127.0.0.1:$1/moto-api/"; }

case "${1:-}" in
  install)
    kollect_venv_ensure "$requirement" >/dev/null
    ;;
  run)
    port="${2:?usage: s3.sh run PORT [WATCH_PID]}"
    venv="$(kollect_venv_ensure "$requirement")"
    tls=()
    if [ -n "${KOLLECT_S3_TLS_CERT:-}" ] && [ -n "${KOLLECT_S3_TLS_KEY:-}" ]; then
      tls=(-c "$KOLLECT_S3_TLS_CERT" -k "$KOLLECT_S3_TLS_KEY")
    fi
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" "${tls[@]}" &
    kollect_supervise $! "${3:-}"
    ;;
  start)
    port="${2:?usage: s3.sh start PORT PIDFILE}"
    pidfile="${3:?usage: s3.sh start PORT PIDFILE}"
    venv="$(kollect_venv_ensure "$requirement")"
    log="${pidfile%.pid}.log"
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    kollect_await s3.sh moto "$pid" "$port" "$log"
    ;;
  stop)
    pidfile="${2:?usage: s3.sh stop PIDFILE}"
    kollect_stop "$pidfile"
    ;;
  *)
    echo "usage: s3.sh install | run PORT [WATCH_PID] | start PORT PIDFILE | stop PIDFILE" >&2
    exit 2
    ;;
esac
