#!/usr/bin/env bash
# Git-over-SSH test server: Debian's OpenSSH sshd on a loopback port, with its own host key,
# one authorized client key and all state in one directory. The login user is the user running
# the script; repositories are reached as ssh://USER@127.0.0.1:PORT/ABSOLUTE/PATH.git. The Git
# sink's integration tests (crates/sinks/tests/git.rs) drive it.
#
#   git-ssh.sh install            install openssh-server when sshd is missing
#   git-ssh.sh init DIR PORT      host key, client key (DIR/client_ed25519), authorized_keys,
#                                 DIR/known_hosts for [127.0.0.1]:PORT, DIR/sshd_config
#   git-ssh.sh repo DIR NAME      create the bare repository DIR/repos/NAME.git
#   git-ssh.sh run DIR            run sshd in the foreground (exec)
#   git-ssh.sh start DIR          run it in the background, wait until it answers
#   git-ssh.sh stop DIR           stop a server started with `start` (by PID)
set -euo pipefail

# shellcheck source=apt-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

die() {
  echo "git-ssh.sh: $*" >&2
  exit 1
}

install() {
  if [ ! -x /usr/sbin/sshd ]; then
    kollect_apt_install openssh-server
  fi
  command -v git-receive-pack >/dev/null 2>&1 || die "git-receive-pack is not on PATH (install Debian's git package)"
}

init() {
  local dir=$1 port=$2
  mkdir -p "$dir/repos"
  dir=$(cd "$dir" && pwd)
  chmod 700 "$dir"
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C kollect-test-host -f "$dir/host_ed25519"
  [ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C kollect-test-client -f "$dir/client_ed25519"
  cp "$dir/client_ed25519.pub" "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
  cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PrintMotd no
AllowTcpForwarding no
X11Forwarding no
LogLevel ERROR
EOF
}

repo() {
  local dir=$1 name=$2
  git init --quiet --bare --initial-branch=main "$dir/repos/$name.git"
}

sshd_ready() {
  # sshd refuses to start without its privilege-separation directory.
  mkdir -p /run/sshd
  chmod 755 /run/sshd
}

run() {
  local dir=$1
  [ -f "$dir/sshd_config" ] || die "$dir/sshd_config is missing: run init first"
  sshd_ready
  exec /usr/sbin/sshd -D -e -f "$dir/sshd_config"
}

start() {
  local dir=$1
  [ -f "$dir/sshd_config" ] || die "$dir/sshd_config is missing: run init first"
  sshd_ready
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/sshd.child.pid"
  local port
  port=$(sed -n 's/^ListenAddress 127.0.0.1://p' "$dir/sshd_config")
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      cat "$dir/sshd.child.pid"
      return 0
    fi
    sleep 0.05
  done
  die "sshd did not listen on 127.0.0.1:$port (see $dir/server.log)"
}

stop() {
  local dir=$1
  [ -f "$dir/sshd.child.pid" ] || return 0
  kill "$(cat "$dir/sshd.child.pid")" 2>/dev/null || true
  rm -f "$dir/sshd.child.pid"
}

command=${1:-}
[ -n "$command" ] || die "usage: git-ssh.sh install|init|repo|run|start|stop ..."
shift
case $command in
install) install ;;
init)
  [ $# -eq 2 ] || die "usage: git-ssh.sh init DIR PORT"
  init "$@"
  ;;
repo)
  [ $# -eq 2 ] || die "usage: git-ssh.sh repo DIR NAME"
  repo "$@"
  ;;
run)
  [ $# -eq 1 ] || die "usage: git-ssh.sh run DIR"
  run "$1"
  ;;
start)
  [ $# -eq 1 ] || die "usage: git-ssh.sh start DIR"
  start "$1"
  ;;
stop)
  [ $# -eq 1 ] || die "usage: git-ssh.sh stop DIR"
  stop "$1"
  ;;
*) die "unknown command $command" ;;
esac
