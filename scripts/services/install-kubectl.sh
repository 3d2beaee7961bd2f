#!/usr/bin/env bash
# Makes sure a kubectl is on PATH for the testkit's kubectl tests (crates/testkit/tests/kubectl.rs).
# Keeps any kubectl already there; otherwise installs Debian's kubernetes-client (kubectl 1.20,
# enough for those tests: they pass --validate=false to kubectl older than 1.27 and skip
# `kubectl explain`). When nothing can be installed it says so loudly and still exits 0: the
# tests then report SKIPPED themselves.
set -euo pipefail

if command -v kubectl >/dev/null 2>&1; then
  echo "kubectl: $(command -v kubectl)"
  kubectl version --client 2>&1 || echo "warning: 'kubectl version --client' failed" >&2
  exit 0
fi

loud() {
  {
    echo "################################################################################"
    echo "# WARNING: $*"
    echo "# The kubectl tests of kollect-testkit will print SKIPPED and not run."
    echo "################################################################################"
  } >&2
}

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    loud "kubectl is not installed and this user is not root and has no sudo."
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  loud "kubectl is not installed and there is no apt-get to install kubernetes-client with."
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# The package lists may never have been fetched on a fresh machine.
if ! apt-cache policy kubernetes-client 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  echo "updating the package lists"
  "${sudo[@]}" apt-get update -q || echo "warning: apt-get update failed" >&2
fi

echo "installing kubectl from Debian's kubernetes-client package"
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends kubernetes-client; then
  loud "installing Debian's kubernetes-client failed."
  exit 0
fi
if ! command -v kubectl >/dev/null 2>&1; then
  loud "kubernetes-client was installed but kubectl is still not on PATH."
  exit 0
fi
echo "installed kubectl: $(command -v kubectl)"
kubectl version --client 2>&1 || echo "warning: 'kubectl version --client' failed" >&2
exit 0
