#!/usr/bin/env bash
# Installs the cargo tools the test suite needs when they are missing: cargo-nextest and
# cargo-deny. Versions are pinned so that every machine runs the same checks.
#
# `--fuzz` also installs cargo-fuzz (built with the nightly toolchain, which fuzzing needs) for
# `scripts/fuzz.sh`; CI does not fuzz, so it never passes it.
set -euo pipefail

NEXTEST_VERSION="0.9.143"
DENY_VERSION="0.20.2"
FUZZ_VERSION="0.13.2"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest ${NEXTEST_VERSION} (about 3 minutes)"
  cargo install cargo-nextest --version "${NEXTEST_VERSION}" --locked
fi
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny ${DENY_VERSION} (about 3 minutes)"
  cargo install cargo-deny --version "${DENY_VERSION}" --locked
fi

install_fuzz_tools() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzzing needs a nightly toolchain: rustup toolchain install nightly --profile minimal" >&2
    exit 1
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz ${FUZZ_VERSION} (about 1 minute)"
    cargo +nightly install cargo-fuzz --version "${FUZZ_VERSION}" --locked
  fi
}

case "${1:-}" in
  "") ;;
  --fuzz) install_fuzz_tools ;;
  *)
    echo "usage: $0 [--fuzz]" >&2
    exit 2
    ;;
esac
