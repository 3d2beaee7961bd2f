#!/usr/bin/env bash
# The one Python virtual environment our test servers and independent readers live in.
#
#   scripts/services/python-venv.sh [REQUIREMENT...]
#
# Creates the venv at ${KOLLECT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kollect/venv} when it is
# missing, installs each REQUIREMENT (a pip requirement such as 'moto[server]' or 'duckdb') that
# was not installed before, and prints the venv directory on stdout. Idempotent and quiet: a
# requirement installed once is recorded in the venv and skipped afterwards, so calling this
# before every test costs a few milliseconds. Concurrent callers (tests run in parallel) are
# serialised on a lock file, so two processes never run pip on the venv at the same time.
#
# Other scripts source it for the path only: `. python-venv.sh` defines `kollect_venv_dir` and
# `kollect_venv_ensure REQUIREMENT...` without running anything.
set -euo pipefail

kollect_venv_dir() {
  printf '%s\n' "${KOLLECT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kollect/venv}"
}

# Installs the requirements that are not installed yet; prints the venv directory.
kollect_venv_ensure() {
  local venv stamps lock requirement stamp missing=()
  venv="$(kollect_venv_dir)"
  mkdir -p "$(dirname "$venv")"
  lock="$venv.lock"
  (
    # Wait up to 15 minutes for another process's install (pyarrow and duckdb are large wheels).
    flock -w 900 9 || { echo "python-venv: timed out waiting for $lock" >&2; exit 1; }
    if [ ! -x "$venv/bin/python" ]; then
      python3 -m venv "$venv" >&2
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    fi
    stamps="$venv/.kollect-installed"
    mkdir -p "$stamps"
    for requirement in "$@"; do
      # One stamp file per requirement text; characters outside [A-Za-z0-9._-] become '_'.
      stamp="$stamps/$(printf '%s' "$requirement" | tr -c 'A-Za-z0-9._-' '_')"
      [ -e "$stamp" ] || missing+=("$requirement")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
      echo "python-venv: installing ${missing[*]} into $venv" >&2
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
      for requirement in "${missing[@]}"; do
        touch "$stamps/$(printf '%s' "$requirement" | tr -c 'A-Za-z0-9._-' '_')"
      done
    fi
  ) 9>"$lock"
  printf '%s\n' "$venv"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  kollect_venv_ensure "$@"
fi
