#!/usr/bin/env bash
# Shared by the scripts that run a test server as one process (s3.sh, gcs.sh): supervising it,
# waiting until it answers, and stopping it by PID. Source it; it defines functions only.

# Waits while server PID $1 runs and process $2 (if given) lives; stops the server on SIGTERM,
# SIGINT or when $2 is gone, so a killed test never leaves a server behind.
kollect_supervise() {
  local server="$1" watch="${2:-}"
  trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; exit 0' TERM INT HUP
  while kill -0 "$server" 2>/dev/null; do
    if [ -n "$watch" ] && ! kill -0 "$watch" 2>/dev/null; then
      kill "$server" 2>/dev/null
      break
    fi
    sleep 0.5 &
    wait $! || true
  done
  wait "$server" 2>/dev/null
}

# kollect_await SCRIPT SERVER PID PORT LOG: waits up to 30 s until `ready PORT` (defined by the
# caller) succeeds, then prints "PID PORT" and exits 0; exits 1 with the log's name when the
# server exits or never answers.
kollect_await() {
  local script="$1" server="$2" pid="$3" port="$4" log="$5"
  for _ in $(seq 1 300); do
    if ready "$port"; then echo "$pid $port"; exit 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "$script: $server exited; see $log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$script: $server did not answer on port $port within 30 s; see $log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

# kollect_stop PIDFILE: stops the server of PIDFILE (TERM, then KILL after 5 s) and removes it.
kollect_stop() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
