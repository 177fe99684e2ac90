#!/usr/bin/env bash
# Times `pcdns analyze` on the synthetic mixes of issue #5 with 1 and 2 threads, interleaved,
# file in the page cache, and prints medians and rates:
#   (a) no DNS, (b) 40% non-DNS / 59% other names / 1% watched, (c) 100% watched responses.
#   bash benches/mixes.sh                  # 5 M packets of (a) and (b), 2 M responses of (c)
#   RUNS=7 MIXES="a c" bash benches/mixes.sh
#   OTHER=/path/to/other/pcdns bash benches/mixes.sh   # also times another build, interleaved
# Before and after each mix it prints the handoff (a cache line between two threads and back,
# `cargo bench --bench machine`): this VM has phases in which it is several times slower, and
# every watched response crosses between the threads, so 2-thread times follow it.
# Captures go to $DIR (default /tmp/pcdns-bench), never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
MIXES=${MIXES:-a b c}
DIR=${DIR:-/tmp/pcdns-bench}
SEED=${SEED:-12}
mkdir -p "$DIR"
source benches/page_cache.sh
cargo build --release --quiet
PCDNS=$PWD/target/release/pcdns
handoff() {
    JOBS=handoff RUNS=3 cargo bench --quiet --bench machine 2>/dev/null | grep '^handoff' || true
}
BUILDS=("$PCDNS")
[ -n "${OTHER:-}" ] && BUILDS+=("$OTHER")

capture() { # capture MIX: makes the mix's capture once, prints its path
    local mix=$1 file
    case $mix in
        a) file=$DIR/a-5000000.pcap ;;
        b) file=$DIR/b-5000000.pcap ;;
        c) file=$DIR/c-2000000.pcap ;;
    esac
    if [ ! -s "$file" ]; then
        local shares
        case $mix in
            a) shares=(--packets 5000000 --non-dns 1.0) ;;
            b) shares=(--packets 5000000) ;;
            c) shares=(--packets 2000000 --non-dns 0 --other-dns 0 --responses-only) ;;
        esac
        "$PCDNS" synth -o "$file" --seed "$SEED" "${shares[@]}" --expect-out "$DIR/synth.toml" > /dev/null
    fi
    echo "$file"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); medians of $RUNS runs"
printf '%-4s %-8s %-50s %10s %14s\n' mix threads build "median s" "per second"
for mix in $MIXES; do
    file=$(capture "$mix")
    case $mix in a | b) packets=5000000 ;; c) packets=2000000 ;; esac
    load_into_page_cache "$file"
    echo "before $mix: $(handoff)"
    declare -A times=()
    combos=()
    for build in "${BUILDS[@]}"; do
        for threads in 1 2; do
            combos+=("$threads $build")
        done
    done
    for round in $(seq 0 $((RUNS - 1))); do
        # Each round starts one combination later, so that no build or thread count always
        # runs first (the first run after another often runs slower on a shared VM).
        for i in "${!combos[@]}"; do
            combo=${combos[$(( (round + i) % ${#combos[@]} ))]}
            threads=${combo%% *}
            build=${combo#* }
            start=$(date +%s%N)
            "$build" analyze "$file" --expect "$DIR/synth.toml" --format json --threads "$threads" > /dev/null 2>&1 || true
            end=$(date +%s%N)
            times["$build $threads"]+="$(( end - start )) "
        done
    done
    for build in "${BUILDS[@]}"; do
        for threads in 1 2; do
            median=$(printf '%s\n' ${times["$build $threads"]} | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] / 1e9 }')
            printf '%-4s %-8s %-50s %10s %14.0f\n' "$mix" "$threads" "$build" "$median" "$(echo "$packets / $median" | bc -l)"
        done
        # The two thread counts of one round ran back to back, in the same phase of the VM:
        # their ratio, round by round, moves less than the ratio of the two medians.
        paste <(printf '%s\n' ${times["$build 1"]}) <(printf '%s\n' ${times["$build 2"]}) |
            awk '{ printf "%.4f\n", $1 / $2 }' | sort -n |
            awk '{ r[NR] = $1 } END { printf "%-4s 2 vs 1 threads, per round: median %.2fx, range %.2f-%.2fx\n", mix, r[int((NR + 1) / 2)], r[1], r[NR] }' mix="$mix"
    done
    unset times
    echo "after $mix: $(handoff)"
done
