#!/usr/bin/env bash
# Times pcdns against its peers on the synthetic mixes users give, paired (each round runs every
# command once, in turn), and prints medians, peak memory and ratios:
#   cat (the I/O floor), tcpdump BPF-only (-w /dev/null: filtering, no text), DPP (when DPP_BIN
#   names its binary; skipped with a message otherwise), pcdns analyze --expect on 1 and 2
#   threads, on mixes with 1%, 10% and 80% watched answers; and on the 10% mix pcdns discovery
#   (no --expect) on 1 and 2 threads, and pcdns log (every name) as NDJSON to /dev/null on 1 and
#   2 threads and as Parquet files (zstd, under $DIR/parquet-log) on 2 threads.
#   bash benches/peers.sh                          # 2 M packets, 5 rounds
#   PACKETS=4000000 RUNS=7 DPP_BIN=/path/to/dpp bash benches/peers.sh
#   RESULTS=benches/RESULTS.md bash benches/peers.sh   # also writes the table there
# DPP: build it outside the repository (see the project's shared tools) and pass its path.
# Captures go to $DIR (default /tmp/pcdns-bench), never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-2000000}
RUNS=${RUNS:-5}
DIR=${DIR:-/tmp/pcdns-bench}
SEED=${SEED:-7}
MIXES=${MIXES:-1 10 80}
mkdir -p "$DIR"
cargo build --release --quiet --features parquet
PCDNS=${CARGO_TARGET_DIR:-$PWD/target}/release/pcdns
source benches/page_cache.sh

mix_args() { # the synth shares of a mix (percent watched)
    case $1 in
        1) echo "--non-dns 0.4 --other-dns 0.59" ;;
        10) echo "--non-dns 0.4 --other-dns 0.5" ;;
        80) echo "--non-dns 0 --other-dns 0.2" ;;
        *) echo "unknown mix $1" >&2; exit 2 ;;
    esac
}

# commands MIX FILE: one line per command, "label<TAB>command"
commands() {
    local mix=$1 file=$2
    printf 'cat\tcat %q\n' "$file"
    if command -v tcpdump > /dev/null; then
        printf 'tcpdump BPF\ttcpdump -r %q -w /dev/null udp port 53\n' "$file"
    fi
    if [ -n "${DPP_BIN:-}" ]; then
        printf 'DPP\t%q -s --dns-wire-fast-path %q %q\n' "$DPP_BIN" "$file" "$DIR/dpp-out.csv"
    fi
    printf 'pcdns 1 thread\t%q analyze %q --expect %q --format json --threads 1\n' "$PCDNS" "$file" "$DIR/synth.toml"
    printf 'pcdns 2 threads\t%q analyze %q --expect %q --format json --threads 2\n' "$PCDNS" "$file" "$DIR/synth.toml"
    if [ "$mix" = 10 ]; then
        printf 'pcdns discovery 1 thread\t%q analyze %q --format json --threads 1\n' "$PCDNS" "$file"
        printf 'pcdns discovery 2 threads\t%q analyze %q --format json --threads 2\n' "$PCDNS" "$file"
        printf 'pcdns log 1 thread\t%q log %q --threads 1\n' "$PCDNS" "$file"
        printf 'pcdns log 2 threads\t%q log %q --threads 2\n' "$PCDNS" "$file"
        # Every run writes new files (names never collide); the folder goes after the mix.
        printf 'pcdns log Parquet 2 threads\t%q log %q --threads 2 --format parquet --output %q\n' \
            "$PCDNS" "$file" "$DIR/parquet-log"
    fi
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

[ -n "${DPP_BIN:-}" ] || echo "DPP skipped: set DPP_BIN to its binary to time it" >&2
command -v tcpdump > /dev/null || echo "tcpdump skipped: not installed" >&2
table=$(mktemp)
{
    echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $PACKETS packets of \`pcdns synth --seed $SEED\`, medians of $RUNS paired rounds, captures in $DIR"
    echo
    echo "| mix | command | median s | peak MB | packets/s | vs pcdns 2 threads |"
    echo "|---|---|---|---|---|---|"
} > "$table"
for mix in $MIXES; do
    file=$DIR/mix$mix-$PACKETS.pcap
    # shellcheck disable=SC2046
    [ -s "$file" ] || "$PCDNS" synth -o "$file" --packets "$PACKETS" --seed "$SEED" $(mix_args "$mix") \
        --expect-out "$DIR/synth.toml" > /dev/null
    load_into_page_cache "$file"
    mapfile -t lines < <(commands "$mix" "$file")
    declare -A seconds=() peaks=()
    for ((round = 0; round < RUNS; round++)); do
        for line in "${lines[@]}"; do
            label=${line%%$'\t'*}
            cmd=${line#*$'\t'}
            # pcdns exits 1 when the capture has findings: only the time matters here.
            out=$( { /usr/bin/time -f '%e %M' bash -c "$cmd > /dev/null 2>&1" || true; } 2>&1 | tail -1)
            seconds[$label]+="${out% *} "
            peaks[$label]+="${out#* } "
        done
    done
    reference=$(echo "${seconds[pcdns 2 threads]}" | tr ' ' '\n' | grep . | median)
    for line in "${lines[@]}"; do
        label=${line%%$'\t'*}
        s=$(echo "${seconds[$label]}" | tr ' ' '\n' | grep . | median)
        mb=$(echo "${peaks[$label]}" | tr ' ' '\n' | grep . | median | awk '{printf "%.0f", $1 / 1024}')
        rate=$(awk -v p="$PACKETS" -v s="$s" 'BEGIN {printf "%.1f M", p / s / 1e6}')
        ratio=$(awk -v s="$s" -v r="$reference" 'BEGIN {printf "%.2fx", s / r}')
        echo "| $mix% watched | $label | $s | $mb | $rate | $ratio |" >> "$table"
    done
    unset seconds peaks
    rm -rf "$DIR/parquet-log"
done
cat "$table"
if [ -n "${RESULTS:-}" ]; then
    {
        echo "# Benchmark results"
        echo
        echo "Latest run of \`bash benches/peers.sh\` (replaced each time). \"vs pcdns 2 threads\": the"
        echo "command's median time over pcdns's on 2 threads (above 1: slower than pcdns)."
        echo
        cat "$table"
    } > "$RESULTS"
fi
rm -f "$table"
