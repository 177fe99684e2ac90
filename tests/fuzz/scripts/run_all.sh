#!/bin/sh
# Builds every fuzz target once, then runs them one after another, single process, under nice.
# usage: tests/fuzz/scripts/run_all.sh [seconds per target] [targets...]
# Logs: /tmp/fuzz-<target>.log (the libFuzzer job log: /tmp/fuzzwd-<target>/fuzz-0.log).
# Targets named in $FORK_TARGETS run with -fork=1 -ignore_crashes=1 instead of -jobs=1
# -workers=1 (still one fuzzing process at a time), so a known crash does not end the run.
set -u
cd "$(dirname "$0")/../../.." || exit 1
fuzz_dir="$PWD/tests/fuzz"
seconds="${1:-600}"
[ $# -gt 0 ] && shift
targets="${*:-capture_file decode_frame reassembly expectations}"
RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz build --fuzz-dir "$fuzz_dir" -a || exit 1
bin="$fuzz_dir/target/x86_64-unknown-linux-gnu/release"
for target in $targets; do
    case "$target" in
        capture_file) max_len=65536 ;;
        decode_frame) max_len=9100 ;;
        reassembly) max_len=16384 ;;
        *) max_len=4096 ;;
    esac
    mode="-jobs=1 -workers=1 -print_final_stats=1"
    case " ${FORK_TARGETS:-} " in
        *" $target "*) mode="-fork=1 -ignore_crashes=1" ;;
    esac
    mkdir -p "$fuzz_dir/corpus/$target" "$fuzz_dir/artifacts/$target" "/tmp/fuzzwd-$target"
    (cd "/tmp/fuzzwd-$target" && nice -n 19 "$bin/$target" \
        -artifact_prefix="$fuzz_dir/artifacts/$target/" \
        $mode -max_total_time="$seconds" -max_len="$max_len" \
        -timeout=25 -rss_limit_mb=2048 \
        "$fuzz_dir/corpus/$target") > "/tmp/fuzz-$target.log" 2>&1
    echo "$target exit $?" >> /tmp/fuzz-summary.log
done
