#!/usr/bin/env bash
# Seeds the fuzz corpora from the shared test data, then runs every target for
# SECONDS seconds each (default 20); fails on the first crash.
#   fuzz/run.sh [SECONDS] [TARGET...]
# Needs cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks the nightly flags.
# FUZZ_SEED fixes libFuzzer's random seed (CI uses one, so its brief run is the same
# sequence of inputs every time); unset, each run explores afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(scanner record gzip notification settings s3_xml json_pointer digest)
shared="${SHARED:-../shared}"
export RUSTC_BOOTSTRAP=1

python3 fuzz/seed.py "$shared/testdata/cloudtrail" fuzz/corpus
cargo fuzz build -O
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
  echo "fuzz: $t for ${secs}s"
  log="fuzz/logs/$t.log"
  if ! cargo fuzz run -O "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=3072 -max_len=1048576 \
      ${FUZZ_SEED:+-seed="$FUZZ_SEED"} >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t failed; the crashing input is under fuzz/artifacts/$t" >&2
    exit 1
  fi
  grep -E "^(INFO: seed corpus|Done )" "$log" || true
done
