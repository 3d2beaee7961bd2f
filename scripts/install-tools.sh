#!/usr/bin/env bash
# Installs the cargo tools the test suite needs when they are missing: cargo-nextest and
# cargo-deny. Versions are pinned so that every machine runs the same checks.
set -euo pipefail

NEXTEST_VERSION="0.9.143"
DENY_VERSION="0.20.2"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest ${NEXTEST_VERSION} (about 3 minutes)"
  cargo install cargo-nextest --version "${NEXTEST_VERSION}" --locked
fi
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny ${DENY_VERSION} (about 3 minutes)"
  cargo install cargo-deny --version "${DENY_VERSION}" --locked
fi
