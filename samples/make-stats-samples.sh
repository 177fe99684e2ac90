#!/usr/bin/env bash
# make-stats-samples.sh — regenerate the captures that keep pcdns's statistical findings honest:
# healthy deployments made with real BIND 9 and Unbound must raise no warning, and the two
# classic faults must raise theirs. All go with samples/stats.toml.
#
#   stats-healthy.pcap      Pool2.contoso.com (2 members, 10.30.2.1-2): 53 clients, 6 answers
#                           each; Pool4.contoso.com (4 members, 10.30.4.1-4): 16 clients, 4
#                           answers each. Three servers: BIND rotating cyclically (127.0.0.53),
#                           BIND in random order (127.0.0.56) and Unbound caching with
#                           rrset-roundrobin (127.0.0.54, asking 127.0.0.53 through a stub zone).
#                           Every client keeps one server; the clients take turns in a shuffled
#                           order (fixed seed), as independent clients do.
#   stats-large-pool.pcap   PoolLarge.contoso.com (101 members, 10.31.0.1-101): 24 answers from
#                           the two BIND servers to 12 clients, one UDP datagram each (EDNS 4096).
#   stats-fixed-order.pcap  A BIND that never rotates (rrset-order `none`: database order; this
#                           BIND 9.18 has no `fixed` without --enable-fixed-rrset), 127.0.0.57:
#                           30 answers for Pool4 to 10 clients.
#   stats-stuck-resolver.pcap  Unbound with rrset-roundrobin off (127.0.0.58) in front of the
#                           cyclic BIND: it caches Pool2 once and hands all 20 of its clients
#                           the same order, 3 answers each.
#
# How: as make-rotation-sample.sh, in a private network namespace on its loopback only; tcpdump
# records `udp port 53`, and every capture is checked to hold exactly the packets the script
# caused. Needs: root, and the packages bind9 (named), unbound, dnsutils (dig), tcpdump,
# iproute2 (ip).
#
# Usage: bash samples/make-stats-samples.sh [OUTPUT_DIR]   (default: beside this script)

set -euo pipefail

# shellcheck source=samples/netns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/netns-lib.sh"
# shellcheck source=samples/dns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/dns-lib.sh"
netns_setup pcdns-stats "named unbound dig tcpdump ip" \
    "bind9, unbound, dnsutils, tcpdump, iproute2" "$@"

CYCLIC=127.0.0.53
ROUNDROBIN=127.0.0.54
RANDOM_ORDER=127.0.0.56
FIXED=127.0.0.57
NO_ROUNDROBIN=127.0.0.58

netns_create
lo_up "$CYCLIC" "$ROUNDROBIN" "$RANDOM_ORDER" "$FIXED" "$NO_ROUNDROBIN"

{
    contoso_zone_header
    cat <<'ZONE'
Pool2      IN A    10.30.2.1
Pool2      IN A    10.30.2.2
ZONE
    for n in 1 2 3 4; do echo "Pool4      IN A    10.30.4.$n"; done
    for n in $(seq 1 101); do echo "PoolLarge  IN A    10.31.0.$n"; done
} >"$WORK/pools.zone"
# BIND 9.18 refuses more than 100 records of a type at a name unless told otherwise.
LARGE_UDP="    max-udp-size 4096;
    edns-udp-size 4096;
    max-records-per-type 200;"
start_named cyclic "$CYCLIC" "$WORK/pools.zone" "$LARGE_UDP"
start_named random "$RANDOM_ORDER" "$WORK/pools.zone" "$LARGE_UDP
    rrset-order { order random; };"
start_named fixed "$FIXED" "$WORK/pools.zone" "$LARGE_UDP
    rrset-order { order none; };"

# start_resolver ADDRESS ROUNDROBIN: Unbound on ADDRESS asking the cyclic BIND iteratively
# (stub zone: one upstream query per name it is asked), rrset-roundrobin yes or no.
start_resolver() {
    local dir="$WORK/unbound-$1"
    mkdir -p "$dir"
    {
        unbound_server_options "$dir" "$1"
        cat <<CONF
    outgoing-interface: $1
    do-not-query-localhost: no
    qname-minimisation: no
    target-fetch-policy: "0 0 0 0 0"
    prefetch: no
    rrset-roundrobin: $2
    minimal-responses: yes
stub-zone:
    name: "contoso.com."
    stub-addr: $CYCLIC
remote-control:
    control-enable: no
CONF
    } >"$dir/unbound.conf"
    start_unbound "$dir"
    local pid=$UNBOUND_PID
    ready() {
        kill -0 "$pid" 2>/dev/null || { cat "$dir/unbound.log" >&2; die "unbound on $1 exited"; }
        nsx dig -b 127.0.0.1 "@$1" localhost A +short +tries=1 +time=1 >/dev/null 2>&1
    }
    wait_for 20 ready "$1" || { cat "$dir/unbound.log" >&2; die "unbound on $1 did not start"; }
    log "unbound (rrset-roundrobin $2) running on $1 (pid $pid)"
}
start_resolver "$ROUNDROBIN" yes
start_resolver "$NO_ROUNDROBIN" no

# shuffled SEED LINE...: the LINEs in an order drawn from bash's RANDOM seeded with SEED.
shuffled() {
    RANDOM=$1
    shift
    local line
    for line in "$@"; do echo "$RANDOM $line"; done | sort -n -k1,1 | cut -d' ' -f2-
}

# ask ROUNDS NAME [DIG OPTIONS]: every client (lines "client server" on stdin) asks NAME ROUNDS
# times; in each round the clients take turns in a shuffled order (seeded by round and name).
# Queries go without an EDNS cookie (smaller captures).
ask() {
    local rounds=$1 name=$2 round client server
    shift 2
    local pairs
    mapfile -t pairs
    for round in $(seq 1 "$rounds"); do
        while read -r client server; do
            q "$client" "$server" "$name" A +nocookie "$@"
        done < <(shuffled "$((round * 7919 + ${#name}))" "${pairs[@]}")
    done
}

# clients PREFIX COUNT SERVER...: COUNT client addresses PREFIX.1 ... (in 127.0.0.0/8: local
# on lo, and allowed by the resolvers), each paired with one of the SERVERs in turn, as
# "client server" lines.
clients() {
    local prefix=$1 count=$2 i
    shift 2
    local servers=("$@")
    for i in $(seq 1 "$count"); do
        echo "$prefix.$i ${servers[$(((i - 1) % ${#servers[@]}))]}"
    done
}

# upstream_of RESOLVER: counts the resolver's iterative queries to BIND in the capture so far
# (a cache lookup per name, once its answer is in tcpdump's file) and their answers.
upstream_of() {
    sleep 0.5
    local n
    n=$(nsx tcpdump -r "$CAPTURE" -nn "src host $1 and dst host $CYCLIC" 2>/dev/null | wc -l)
    log "$1 asked $CYCLIC $n times"
    EXTRA_PACKETS=$((EXTRA_PACKETS + 2 * n))
}

start_capture stats-healthy
ask 6 Pool2.contoso.com < <(clients 127.40.2 53 "$CYCLIC" "$RANDOM_ORDER" "$ROUNDROBIN")
ask 4 Pool4.contoso.com < <(clients 127.40.4 16 "$CYCLIC" "$RANDOM_ORDER" "$ROUNDROBIN")
upstream_of "$ROUNDROBIN"
stop_capture stats-healthy

start_capture stats-large-pool
ask 2 PoolLarge.contoso.com +bufsize=4096 < <(clients 127.41.0 12 "$CYCLIC" "$RANDOM_ORDER")
stop_capture stats-large-pool

start_capture stats-fixed-order
ask 3 Pool4.contoso.com < <(clients 127.42.0 10 "$FIXED")
stop_capture stats-fixed-order

start_capture stats-stuck-resolver
ask 3 Pool2.contoso.com < <(clients 127.43.0 20 "$NO_ROUNDROBIN")
upstream_of "$NO_ROUNDROBIN"
stop_capture stats-stuck-resolver
log "done: stats-healthy.pcap stats-large-pool.pcap stats-fixed-order.pcap stats-stuck-resolver.pcap in $OUT_DIR"
