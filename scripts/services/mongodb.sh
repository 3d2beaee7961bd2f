#!/usr/bin/env bash
# MongoDB test server: SecantusDB (https://pypi.org/project/secantusdb/), a reimplementation of
# the MongoDB wire protocol on WiredTiger (not mongod), installed into the shared Python venv.
#
#   scripts/services/mongodb.sh install              install secantusdb into the venv (idempotent)
#   scripts/services/mongodb.sh run PORT [WATCH_PID] run it in the foreground on 127.0.0.1:PORT
#                                                    until this script gets SIGTERM/SIGINT, the
#                                                    server exits, or process WATCH_PID (the
#                                                    test) is gone
#   scripts/services/mongodb.sh start PORT PIDFILE   run it in the background, wait until it
#                                                    answers, write its PID to PIDFILE, print
#                                                    "PID PORT"
#   scripts/services/mongodb.sh stop PIDFILE         stop the server of PIDFILE
#
# Environment of `run` and `start`:
#   KOLLECT_MONGODB_STORAGE=DIR     keep data in DIR (default `:memory:`: a restarted server is
#                                   empty)
#   KOLLECT_MONGODB_AUTH=1          require SCRAM authentication (create users first, without
#                                   it, on the same DIR)
#   KOLLECT_MONGODB_TLS_CERT=PEM    serve TLS with this certificate chain …
#   KOLLECT_MONGODB_TLS_KEY=PEM     … and this key
#
# Connect with `mongodb://127.0.0.1:PORT/?directConnection=true`. Ready means: the `hello`
# command answers (checked with the venv's Python, no client needed); with TLS, a TCP connect.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=python-venv.sh
. "$here/python-venv.sh"
# shellcheck source=server-lib.sh
. "$here/server-lib.sh"

requirement='secantusdb==0.7.0b3'

# Sends one OP_MSG `{hello: 1, $db: "admin"}` and checks the reply says `ok: 1`. Plain Python
# (struct only): the venv needs no MongoDB client.
hello_ok() {
  "$(kollect_venv_dir)/bin/python" - "$1" <<'PY' 2>/dev/null
import socket, struct, sys
def cstring(s): return s.encode() + b"\0"
def doc(fields):
    body = b"".join(fields)
    return struct.pack("<i", len(body) + 5) + body + b"\0"
body = doc([b"\x10" + cstring("hello") + struct.pack("<i", 1),
            b"\x02" + cstring("$db") + struct.pack("<i", 6) + cstring("admin")])
msg = struct.pack("<I", 0) + b"\0" + body
header = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013)
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.settimeout(2)
    s.sendall(header + msg)
    data = b""
    while len(data) < 4 or len(data) < struct.unpack("<i", data[:4])[0]:
        chunk = s.recv(65536)
        if not chunk: sys.exit(1)
        data += chunk
sys.exit(0 if b"\x01ok\x00" in data and struct.pack("<d", 1.0) in data else 1)
PY
}

# The server's command line (one argument per line) for PORT, from the environment above.
args() {
  local port="$1"
  printf '%s\n' --host 127.0.0.1 --port "$port" --storage-path "${KOLLECT_MONGODB_STORAGE:-:memory:}" \
    --log-level WARNING
  if [ "${KOLLECT_MONGODB_AUTH:-}" = 1 ]; then printf '%s\n' --auth; fi
  if [ -n "${KOLLECT_MONGODB_TLS_CERT:-}" ] && [ -n "${KOLLECT_MONGODB_TLS_KEY:-}" ]; then
    printf '%s\n' --tls-cert-file "$KOLLECT_MONGODB_TLS_CERT" --tls-key-file "$KOLLECT_MONGODB_TLS_KEY"
  fi
}

# Called by kollect_await with the port.
ready() {
  if [ -n "${KOLLECT_MONGODB_TLS_CERT:-}" ]; then
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  else
    hello_ok "$1"
  fi
}

case "${1:-}" in
  install)
    if ! kollect_venv_ensure "$requirement" >/dev/null; then
      echo "mongodb.sh: could not install $requirement into $(kollect_venv_dir);" \
        "install it by hand: $(kollect_venv_dir)/bin/pip install '$requirement'" >&2
      exit 1
    fi
    ;;
  run)
    port="${2:?usage: mongodb.sh run PORT [WATCH_PID]}"
    venv="$(kollect_venv_ensure "$requirement")"
    mapfile -t flags < <(args "$port")
    "$venv/bin/secantusd-py" "${flags[@]}" &
    kollect_supervise $! "${3:-}"
    ;;
  start)
    port="${2:?usage: mongodb.sh start PORT PIDFILE}"
    pidfile="${3:?usage: mongodb.sh start PORT PIDFILE}"
    venv="$(kollect_venv_ensure "$requirement")"
    log="${pidfile%.pid}.log"
    mapfile -t flags < <(args "$port")
    nohup "$venv/bin/secantusd-py" "${flags[@]}" >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    kollect_await mongodb.sh secantusdb "$pid" "$port" "$log"
    ;;
  ready)
    ready "${2:?usage: mongodb.sh ready PORT}"
    ;;
  stop)
    pidfile="${2:?usage: mongodb.sh stop PIDFILE}"
    kollect_stop "$pidfile"
    ;;
  *)
    echo "usage: mongodb.sh install | run PORT [WATCH_PID] | start PORT PIDFILE | ready PORT | stop PIDFILE" >&2
    exit 2
    ;;
esac
