#!/usr/bin/env bash
# Fuzzes one cargo-fuzz target of kollect-extract for a while and prints libFuzzer's final stats.
#
#   scripts/fuzz.sh TARGET [SECONDS] [LIBFUZZER_FLAG...]
#
# TARGET is jsonpath_parse, cel or extract (crates/extract/fuzz/fuzz_targets); SECONDS defaults
# to 600. Needs nightly and cargo-fuzz (`scripts/install-tools.sh --fuzz`). The seed corpus
# crates/extract/fuzz/corpus/TARGET is only read: new inputs go to a scratch corpus in the cache,
# so the committed corpus stays small. A crash is saved under crates/extract/fuzz/artifacts/TARGET;
# once fixed, add the input to the seed corpus so tests/fuzz_corpus.rs replays it.
set -euo pipefail
cd "$(dirname "$0")/../crates/extract"

if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: $0 TARGET [SECONDS] [LIBFUZZER_FLAG...]; targets: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')" >&2
  exit 2
fi
target="$1"
seconds="${2:-600}"
shift $(($# < 2 ? $# : 2))
if [[ ! -f "fuzz/fuzz_targets/${target}.rs" ]]; then
  echo "unknown fuzz target ${target}" >&2
  exit 2
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/kollect"
# Fuzz builds (nightly, sanitizers) are kept apart from the main target directory.
export CARGO_TARGET_DIR="${KOLLECT_FUZZ_TARGET_DIR:-$cache/fuzz-target}"
scratch="$cache/fuzz-corpus/${target}"
mkdir -p "$scratch"
log="$(mktemp -t "kollect-fuzz-${target}.XXXXXX.log")"

status=0
# Debug assertions (overflow checks) as in the test build, so that what the fuzzer finds fails
# tests/fuzz_corpus.rs too. libFuzzer writes new inputs to the first corpus directory.
cargo +nightly fuzz run --debug-assertions "$target" "$scratch" "fuzz/corpus/${target}" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 "$@" 2>&1 | tee "$log" || status=$?

echo
echo "final stats (${target}, ${seconds} s): $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
echo "log: $log"
exit "$status"
