#!/usr/bin/env bash
# Git smart-HTTP test server: Debian lighttpd in front of `git http-backend` (CGI), basic auth via
# mod_auth, optionally TLS via mod_openssl. Binds 127.0.0.1 only; all state lives in one
# directory. The Git sink's integration tests (crates/sinks/tests/git.rs) drive it; developers
# can use it by hand the same way.
#
#   git-http.sh install                          install lighttpd (+ mod_openssl) when missing
#   git-http.sh init DIR PORT USER PASSWORD [--tls CERT KEY] [--backend CGI]
#                                                 write DIR/lighttpd.conf, DIR/users, DIR/repos
#   git-http.sh repo DIR NAME                     create the bare repository DIR/repos/NAME.git
#   git-http.sh run DIR                           run the server in the foreground (exec)
#   git-http.sh start DIR                         run it in the background, wait until it answers
#   git-http.sh stop DIR                          stop a server started with `start` (by PID)
#
# Repositories are served at http(s)://127.0.0.1:PORT/git/NAME.git. `--backend` replaces
# git-http-backend with another CGI program (tests use a wrapper that moves a branch between a
# client's fetch and its push).
set -euo pipefail

# shellcheck source=apt-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

BACKEND_DEFAULT=/usr/lib/git-core/git-http-backend

die() {
  echo "git-http.sh: $*" >&2
  exit 1
}

install() {
  local packages=()
  command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || packages+=(lighttpd)
  [ -e /usr/lib/lighttpd/mod_openssl.so ] || packages+=(lighttpd-mod-openssl)
  if [ "${#packages[@]}" -gt 0 ]; then
    # Package lists may be missing on a fresh machine; update once, quietly, then install.
    kollect_apt_install "${packages[@]}"
  fi
  [ -x "$BACKEND_DEFAULT" ] || die "$BACKEND_DEFAULT is missing (install Debian's git package)"
}

init() {
  local dir=$1 port=$2 user=$3 password=$4
  shift 4
  local cert="" key="" backend=$BACKEND_DEFAULT
  while [ $# -gt 0 ]; do
    case $1 in
    --tls)
      cert=$2 key=$3
      shift 3
      ;;
    --backend)
      backend=$2
      shift 2
      ;;
    *) die "unknown option $1" ;;
    esac
  done
  mkdir -p "$dir/www" "$dir/repos"
  dir=$(cd "$dir" && pwd)
  printf '%s:%s\n' "$user" "$password" >"$dir/users"
  chmod 600 "$dir/users"
  local modules='"mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi"'
  local tls=""
  if [ -n "$cert" ]; then
    modules="$modules, \"mod_openssl\""
    tls="ssl.engine = \"enable\"
ssl.pemfile = \"$cert\"
ssl.privkey = \"$key\""
  fi
  # mod_auth must come before mod_cgi, so the CGI sees REMOTE_USER (which enables pushes).
  cat >"$dir/lighttpd.conf" <<EOF
server.modules = ($modules)
server.document-root = "$dir/www"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$dir/error.log"
$tls
alias.url = ("/git" => "$backend")
\$HTTP["url"] =~ "^/git" {
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "$dir/repos", "GIT_HTTP_EXPORT_ALL" => "1")
  auth.backend = "plain"
  auth.backend.plain.userfile = "$dir/users"
  auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
}
EOF
}

repo() {
  local dir=$1 name=$2
  git init --quiet --bare --initial-branch=main "$dir/repos/$name.git"
  git -C "$dir/repos/$name.git" config http.receivepack true
}

run() {
  local dir=$1
  [ -f "$dir/lighttpd.conf" ] || die "$dir/lighttpd.conf is missing: run init first"
  exec /usr/sbin/lighttpd -D -f "$dir/lighttpd.conf"
}

start() {
  local dir=$1
  [ -f "$dir/lighttpd.conf" ] || die "$dir/lighttpd.conf is missing: run init first"
  /usr/sbin/lighttpd -D -f "$dir/lighttpd.conf" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/lighttpd.pid"
  local port
  port=$(sed -n 's/^server.port = //p' "$dir/lighttpd.conf")
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$(cat "$dir/lighttpd.pid")"
      return 0
    fi
    sleep 0.05
  done
  die "lighttpd did not listen on 127.0.0.1:$port (see $dir/error.log)"
}

stop() {
  local dir=$1
  [ -f "$dir/lighttpd.pid" ] || return 0
  kill "$(cat "$dir/lighttpd.pid")" 2>/dev/null || true
  rm -f "$dir/lighttpd.pid"
}

command=${1:-}
[ -n "$command" ] || die "usage: git-http.sh install|init|repo|run|start|stop ..."
shift
case $command in
install) install ;;
init)
  [ $# -ge 4 ] || die "usage: git-http.sh init DIR PORT USER PASSWORD [--tls CERT KEY] [--backend CGI]"
  init "$@"
  ;;
repo)
  [ $# -eq 2 ] || die "usage: git-http.sh repo DIR NAME"
  repo "$@"
  ;;
run)
  [ $# -eq 1 ] || die "usage: git-http.sh run DIR"
  run "$1"
  ;;
start)
  [ $# -eq 1 ] || die "usage: git-http.sh start DIR"
  start "$1"
  ;;
stop)
  [ $# -eq 1 ] || die "usage: git-http.sh stop DIR"
  stop "$1"
  ;;
*) die "unknown command $command" ;;
esac
