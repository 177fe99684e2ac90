#!/usr/bin/env bash
# live-replay.sh: how fast can `pcdns monitor` capture without losing packets?
#
# Writes a large synthetic capture (`pcdns synth`: DNS for the watched pool and other names,
# non-DNS TCP/443, VLAN tags, IPv6), then, inside a private network namespace with a veth pair
# v0 <-> v1, replays it with tcpreplay onto v0 while `pcdns monitor -i v1` captures, at rising
# packet rates. After each rate pcdns is stopped with SIGINT and its final report gives what it
# received and libpcap's kernel and interface drop counters. Prints a table and the highest rate
# with zero drops, next to the highest rate tcpreplay itself reaches on this machine
# (--topspeed, nobody capturing).
#
# Needs: root, iproute2, tcpreplay, and pcdns built with --features live (the script builds
# target/release/pcdns unless PCDNS_BIN names a binary).
#
# Usage: bash benches/live-replay.sh [OUTPUT_DIR]
#   Environment: PACKETS (default 1000000) frames in the capture; RATES (default
#   "50000 100000 200000 400000 700000 1000000 1500000 top") packets per second to try, `top`
#   meaning as fast as tcpreplay can while pcdns captures (--topspeed);
#   SECONDS_PER_RATE (default 3) replay length per rate. OUTPUT_DIR gets live-replay.txt.

set -euo pipefail

# shellcheck source=samples/netns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../samples/netns-lib.sh"
netns_setup pcdns-bench "ip tcpreplay" "iproute2, tcpreplay" "$@"
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
PACKETS=${PACKETS:-1000000}
RATES=${RATES:-"50000 100000 200000 400000 700000 1000000 1500000 top"}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-3}

if [ -z "${PCDNS_BIN:-}" ]; then
    log "building pcdns (release, --features live)"
    (cd "$ROOT" && cargo build --release --features live --quiet)
    PCDNS_BIN=$ROOT/target/release/pcdns
fi

log "writing $PACKETS synthetic frames"
"$PCDNS_BIN" synth --packets "$PACKETS" --out "$WORK/synth.pcap" --expect-out "$WORK/expect.toml"

netns_create
lo_up
nsx ip link add v0 type veth peer name v1
nsx ip link set v0 mtu 9000 up
nsx ip link set v1 mtu 9000 up

# "Rated: 123456.7 Bps, 1.23 Mbps, 45678.90 pps" -> 45678
rated_pps() { sed -n 's/.*Rated:.* \([0-9.]*\) pps.*/\1/p' "$1" | head -1 | cut -d. -f1; }

nsx tcpreplay -K --topspeed -i v0 "$WORK/synth.pcap" >"$WORK/topspeed.log" 2>&1 ||
    { cat "$WORK/topspeed.log" >&2; die "tcpreplay failed"; }
TOP=$(rated_pps "$WORK/topspeed.log")
log "tcpreplay alone, --topspeed: $TOP packets/s"

# json_field FILE KEY: the first integer value of "KEY" in the last line of FILE.
json_field() { tail -n 1 "$1" | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2; }

RESULTS="$OUT_DIR/live-replay.txt"
{
    echo "# pcdns live capture: tcpreplay onto a veth pair, $PACKETS-frame synthetic capture"
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, $(uname -r)"
    printf "%-12s %-12s %-10s %-10s %-10s %-10s\n" target_pps sent_pps sent received kernel_drop if_drop
} >"$RESULTS"
BEST=0
for rate in $RATES; do
    if [ "$rate" = top ]; then
        speed=--topspeed
        limit=$PACKETS
    else
        speed=--pps=$rate
        limit=$((rate * SECONDS_PER_RATE))
        [ "$limit" -le "$PACKETS" ] || limit=$PACKETS
    fi
    ip netns exec "$NS" "$PCDNS_BIN" monitor -i v1 -e "$WORK/expect.toml" --format json \
        --interval 3600 --events /dev/null >"$WORK/pcdns.out" 2>"$WORK/pcdns.err" &
    pid=$!
    PIDS+=("$pid")
    wait_for 20 grep -qs 'capturing on' "$WORK/pcdns.err" || { cat "$WORK/pcdns.err" >&2; die "pcdns did not start"; }
    nsx tcpreplay -K "$speed" --limit="$limit" -i v0 "$WORK/synth.pcap" >"$WORK/replay.log" 2>&1 ||
        { cat "$WORK/replay.log" >&2; die "tcpreplay failed"; }
    stop_pid "$pid" INT
    sent_pps=$(rated_pps "$WORK/replay.log")
    received=$(json_field "$WORK/pcdns.out" received)
    kernel=$(json_field "$WORK/pcdns.out" kernel_dropped)
    ifdrop=$(json_field "$WORK/pcdns.out" interface_dropped)
    printf "%-12s %-12s %-10s %-10s %-10s %-10s\n" "$rate" "$sent_pps" "$limit" "$received" "$kernel" "$ifdrop" | tee -a "$RESULTS" >&2
    if [ "${kernel:-1}" -eq 0 ] && [ "${ifdrop:-1}" -eq 0 ] && [ "$sent_pps" -gt "$BEST" ]; then
        BEST=$sent_pps
    fi
done
{
    echo "highest rate with zero drops: $BEST packets/s"
    echo "tcpreplay alone (--topspeed): $TOP packets/s"
} | tee -a "$RESULTS"
log "results in $RESULTS"
