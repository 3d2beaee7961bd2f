#!/usr/bin/env bash
# Starts the services every machine of ours runs before a session (PostgreSQL on 127.0.0.1:5432,
# NATS with JetStream on 127.0.0.1:4222) when they are down. Machines without them (a laptop)
# get a warning: tests that need them say so themselves.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || echo "warning: PostgreSQL did not start" >&2
  else
    echo "warning: PostgreSQL is not installed; database tests will report that they skipped" >&2
  fi
fi

if ! port_open 4222; then
  if [ -x /usr/sbin/nats-server ]; then
    echo "starting NATS"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log \
      || echo "warning: NATS did not start" >&2
  else
    echo "warning: nats-server is not installed; NATS tests will report that they skipped" >&2
  fi
fi
exit 0
