#!/usr/bin/env bash
# make-samples.sh — regenerate the small real DNS captures used by pcdns' examples and tests.
#
# What it makes:
#   healthy.pcap  The contoso Persistent Chat deployment with exactly the expected records
#                 (samples/contoso.toml): PersistentChatServer01/02.contoso.com A 10.10.10.1/.2 and
#                 PersistentChatPool.contoso.com A 10.10.10.1 + A 10.10.10.2 (DNS load balancing),
#                 served by the only authorized DNS server, 127.0.0.53.
#   broken.pcap   The same queries against a broken zone: the pool has a stale extra member
#                 (A 10.10.10.3, a decommissioned server), PersistentChatServer02.contoso.com is
#                 missing (NXDOMAIN), and client 127.0.0.13 also asks an unauthorized, stale
#                 secondary on 127.0.0.54 that answers the pool with 10.10.10.1 only.
#                 In the middle of the capture (right after round 2 of the query sequence),
#                 client 127.0.0.12 asks a second authorized DNS server, 127.0.0.55, for the
#                 pool A twice; that server is down (its address is up, nothing listens), so
#                 both queries stay unanswered. The capture then goes on for more than 6 s, so
#                 these queries are older than pcdns' 5 s query timeout when it ends (unanswered,
#                 not pending).
#
# Why: pcdns' samples and integration tests should be fed by what real DNS software puts on the
# wire (BIND 9 answers, dig queries, EDNS, cookies, negative answers with SOA), not by
# hand-crafted packets.
#
# How: everything runs inside a private network namespace that this script creates
# (pcdns-samples-<pid>) and deletes on exit. Only that namespace's loopback `lo` is used, with
# extra 127.0.0.0/8 addresses; no packet leaves it. BIND (named) listens on 127.0.0.53 (and for
# the broken sample a second named on 127.0.0.54; 127.0.0.55, the down server, gets its address
# but no named), dig queries from the client addresses 127.0.0.11, .12 and .13, and tcpdump
# records `udp port 53` on lo (link type Ethernet). That filter matches UDP only, so the ICMP
# port-unreachable errors the kernel sends back for queries to 127.0.0.55 are not recorded:
# each of those queries is one packet in the file, with no reply.
# The query sequence is fixed, so reruns give the same query/response pattern; only DNS IDs,
# cookies, timestamps and the cyclic order of addresses inside pool answers vary.
#
# Needs: root (network namespaces, packet capture), and the packages bind9 (named),
# dnsutils (dig), tcpdump and iproute2 (ip).
#
# Usage: bash samples/make-samples.sh [OUTPUT_DIR]
#   OUTPUT_DIR defaults to the directory holding this script; it gets healthy.pcap and broken.pcap.

set -euo pipefail

# shellcheck source=samples/netns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/netns-lib.sh"
# shellcheck source=samples/dns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/dns-lib.sh"
netns_setup pcdns-samples "named dig tcpdump ip" "bind9, dnsutils, tcpdump, iproute2" "$@"

# ---------------------------------------------------------------- namespace ----

SERVER=127.0.0.53           # the authorized DNS server that is up
ROGUE=127.0.0.54            # unauthorized, stale secondary (broken sample only)
DOWN=127.0.0.55             # a second authorized DNS server that is down (broken sample only)
CLIENTS=(127.0.0.11 127.0.0.12 127.0.0.13)

netns_create
lo_up "$SERVER" "$ROGUE" "${CLIENTS[@]}"

# ---------------------------------------------------------------- zones --------

zone_header() {
    contoso_zone_header
    echo 'www                 IN A    10.10.20.80'
}

# Healthy: exactly the expected records.
{
    zone_header
    cat <<'EOF'
PersistentChatServer01 IN A 10.10.10.1
PersistentChatServer02 IN A 10.10.10.2
PersistentChatPool     IN A 10.10.10.1
PersistentChatPool     IN A 10.10.10.2
EOF
} >"$WORK/healthy.zone"

# Broken: stale pool member 10.10.10.3, PersistentChatServer02 missing.
{
    zone_header
    cat <<'EOF'
PersistentChatServer01 IN A 10.10.10.1
PersistentChatPool     IN A 10.10.10.1
PersistentChatPool     IN A 10.10.10.2
PersistentChatPool     IN A 10.10.10.3
EOF
} >"$WORK/broken.zone"

# Stale secondary on 127.0.0.54: knows only the first pool member.
{
    zone_header
    cat <<'EOF'
PersistentChatServer01 IN A 10.10.10.1
PersistentChatServer02 IN A 10.10.10.2
PersistentChatPool     IN A 10.10.10.1
EOF
} >"$WORK/stale.zone"

if command -v named-checkzone >/dev/null 2>&1; then
    for z in healthy broken stale; do
        named-checkzone -q contoso.com "$WORK/$z.zone" || die "zone $z does not load"
    done
fi

POOL=PersistentChatPool.contoso.com
SRV1=PersistentChatServer01.contoso.com
SRV2=PersistentChatServer02.contoso.com

# The fixed query sequence shared by both samples: per client, the pool A 4 times, each server
# FQDN A once and the pool AAAA once (NODATA), interleaved in rounds so the cyclic rotation of
# the pool answer shows across clients; then one unwatched name.
# standard_queries [AFTER_ROUND_2]: AFTER_ROUND_2, if given, is a command run between rounds 2
# and 3 (the broken sample's queries to the down server).
standard_queries() {
    local after_round_2=${1:-} c round
    for round in 1 2 3 4; do
        for c in "${CLIENTS[@]}"; do
            q "$c" "$SERVER" "$POOL" A
            case $round in
                1) q "$c" "$SERVER" "$SRV1" A ;;
                2) q "$c" "$SERVER" "$SRV2" A ;;
                3) q "$c" "$SERVER" "$POOL" AAAA ;;
            esac
        done
        if [ "$round" -eq 2 ] && [ -n "$after_round_2" ]; then
            "$after_round_2"
        fi
    done
    q "${CLIENTS[0]}" "$SERVER" www.contoso.com A
}

# ---------------------------------------------------------------- healthy ------

log "healthy sample (namespace $NS)"
start_named healthy "$SERVER" "$WORK/healthy.zone"
HEALTHY_NAMED=${PIDS[-1]}
start_capture healthy
standard_queries
stop_capture healthy
stop_pid "$HEALTHY_NAMED"

# ---------------------------------------------------------------- broken -------

# Client 127.0.0.12 asks the down server for the pool twice; then 6 s pass before the rest of
# the sequence, so when the capture ends these queries are older than pcdns' 5 s query timeout
# and count as unanswered, not pending.
down_server_queries() {
    q_down "${CLIENTS[1]}" "$DOWN" "$POOL" A
    q_down "${CLIENTS[1]}" "$DOWN" "$POOL" A
    log "waiting 6 s so the queries to the down server $DOWN age past the 5 s query timeout"
    sleep 6
}

log "broken sample (namespace $NS)"
nsx ip addr add "$DOWN/8" dev lo    # the down server: its address is up, nothing listens on it
start_named broken "$SERVER" "$WORK/broken.zone"
BROKEN_NAMED=${PIDS[-1]}
start_named stale "$ROGUE" "$WORK/stale.zone"
STALE_NAMED=${PIDS[-1]}
start_capture broken
standard_queries down_server_queries
q "${CLIENTS[2]}" "$ROGUE" "$POOL" A
q "${CLIENTS[2]}" "$ROGUE" "$POOL" A
stop_capture broken
stop_pid "$STALE_NAMED"
stop_pid "$BROKEN_NAMED"

log "done: $OUT_DIR/healthy.pcap $OUT_DIR/broken.pcap"
