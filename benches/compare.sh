#!/usr/bin/env bash
# Times pcdns against tcpdump, tshark and cat (the I/O floor) on one synthetic capture, in one
# run, with the file in the page cache, and prints packets/s and ratios (medians of RUNS runs).
#   bash benches/compare.sh            # 5 M packets of mix (b): 40% non-DNS, 59% other DNS, 1% watched
#   PACKETS=10000000 RUNS=7 bash benches/compare.sh
# Needs tcpdump and tshark (Debian packages); the captures go to $DIR (default /tmp/pcdns-bench),
# never into the repository. tshark is timed on the first TSHARK_SLICE packets of the same
# capture (the same seed writes the same first packets) and scaled, because it is too slow for
# the whole file.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-5000000}
RUNS=${RUNS:-5}
TSHARK_SLICE=${TSHARK_SLICE:-200000}
DIR=${DIR:-/tmp/pcdns-bench}
SEED=${SEED:-12}
mkdir -p "$DIR"

cargo build --release --quiet
PCDNS=$PWD/target/release/pcdns
CAPTURE=$DIR/b-$PACKETS.pcap
SLICE=$DIR/b-$TSHARK_SLICE.pcap
EXPECT=$DIR/synth.toml
[ -s "$CAPTURE" ] || "$PCDNS" synth -o "$CAPTURE" --packets "$PACKETS" --seed "$SEED" --expect-out "$EXPECT"
[ -s "$SLICE" ] || "$PCDNS" synth -o "$SLICE" --packets "$TSHARK_SLICE" --seed "$SEED" --expect-out "$EXPECT"

# Put both files in the page cache as if read from disk (see page_cache.sh).
source benches/page_cache.sh
load_into_page_cache "$CAPTURE" "$SLICE"

# median_seconds COMMAND...: runs the command RUNS times, prints the median wall time.
median_seconds() {
    local times=() start end
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$@" > /dev/null 2>&1 || true # pcdns exits 1 when it has findings
        end=$(date +%s%N)
        times+=("$(( end - start ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.4f\n", a[int((NR + 1) / 2)] / 1e9 }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/ { print $2 }') GiB"
echo "capture: $CAPTURE ($PACKETS packets, $(du -h "$CAPTURE" | cut -f1)); medians of $RUNS runs"
echo

declare -A seconds packets
run() { # run LABEL PACKETS COMMAND...
    local label=$1 count=$2
    shift 2
    seconds[$label]=$(median_seconds "$@")
    packets[$label]=$count
}
run "pcdns analyze, 2 threads" "$PACKETS" "$PCDNS" analyze "$CAPTURE" --expect "$EXPECT" --format json --threads 2
run "pcdns analyze, 1 thread" "$PACKETS" "$PCDNS" analyze "$CAPTURE" --expect "$EXPECT" --format json --threads 1
run "tcpdump -nn -r F udp port 53" "$PACKETS" tcpdump -nn -r "$CAPTURE" udp port 53
run "tshark -Y dns -T fields -e dns.a (slice)" "$TSHARK_SLICE" tshark -r "$SLICE" -Y dns -T fields -e dns.a
run "cat F (I/O floor)" "$PACKETS" cat "$CAPTURE"

reference=${seconds["pcdns analyze, 2 threads"]}
printf '%-44s %10s %14s %12s\n' "command" "median s" "packets/s" "vs pcdns"
for label in "pcdns analyze, 2 threads" "pcdns analyze, 1 thread" "tcpdump -nn -r F udp port 53" \
    "tshark -Y dns -T fields -e dns.a (slice)" "cat F (I/O floor)"; do
    awk -v label="$label" -v s="${seconds[$label]}" -v n="${packets[$label]}" -v ref="$reference" -v total="$PACKETS" 'BEGIN {
        rate = n / s
        # Time for the whole capture at this rate, compared with pcdns on 2 threads.
        printf "%-44s %10.4f %14.0f %11.2fx\n", label, s, rate, (total / rate) / ref
    }'
done
