#!/usr/bin/env bash
# Sourced by the service scripts: `kollect_apt_install PACKAGE...` installs Debian packages that
# are missing. Tests start servers in parallel, and dpkg takes one lock for the whole machine, so
# installs are serialised on our own lock file and wait for dpkg's lock too instead of failing;
# the package lists are fetched only when an install cannot find a package.

kollect_apt_install() {
  local lock="${TMPDIR:-/tmp}/kollect-apt.lock"
  (
    flock -w 900 9 || { echo "apt-lib: timed out waiting for $lock" >&2; exit 1; }
    local wait=(-o DPkg::Lock::Timeout=600)
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
      apt-get "${wait[@]}" update -qq >/dev/null
      apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
    fi
  ) 9>"$lock"
}
