#!/usr/bin/env bash
# make-rotation-sample.sh — regenerate samples/rotation.pcap and samples/netmask.pcap: does
# DNS load balancing spread the clients over the pool? (They go with samples/rotation.toml
# and samples/netmask.toml.)
#
# rotation.pcap: PersistentChatPool.contoso.com (three members, 10.10.10.1-3, TTL 300)
# answered two ways:
#   - BIND 9 on 127.0.0.53, authoritative, rotating the addresses (rrset-order cyclic). Its
#     clients 127.0.0.21-23 ask in an order that shifts by one each round, so each of them
#     gets more than one member first.
#   - Unbound on 127.0.0.54, a caching resolver for its clients 127.0.0.24-26, which asks BIND
#     iteratively (a stub zone: RD clear, from 127.0.0.54) once, caches the answer and, with
#     rrset-roundrobin off, hands the same order to everyone: it never rotates and its clients
#     are stuck on one member.
#   - After every answer the client opens a TCP connection to the first address (port 5061,
#     Persistent Chat's SIP port): the SYN shows which member it really used. Nothing listens,
#     so the kernel answers each SYN with a RST.
#   - Two near misses to BIND: the pool name with the search suffix appended
#     (PersistentChatPool.contoso.com.corp.contoso.com: NXDOMAIN) and the single label
#     PersistentChatPool (REFUSED: BIND is not authoritative for it and does not recurse).
#
# netmask.pcap: netmask ordering, as Windows DNS Server does it by default: a BIND 9 whose
# sortlist puts the member in the client's own /24 first. The pool has one member per site,
# 10.10.10.1 and 10.10.20.1; clients 10.10.10.101-102 and 10.10.20.101-102 each ask 4 times
# and always get their own site's member first.
#
# How: as make-samples.sh, in a private network namespace on its loopback only (the members'
# addresses are added to lo so the SYNs are sent and refused locally); tcpdump records
# `port 53 or tcp port 5061`.
#
# Needs: root, and the packages bind9 (named), unbound, dnsutils (dig), tcpdump, iproute2 (ip)
# and python3 (to open a TCP connection from a chosen source address).
#
# Usage: bash samples/make-rotation-sample.sh [OUTPUT_DIR]   (default: beside this script)

set -euo pipefail

# shellcheck source=samples/netns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/netns-lib.sh"
# shellcheck source=samples/dns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/dns-lib.sh"
netns_setup pcdns-rotation "named unbound dig tcpdump ip python3" \
    "bind9, unbound, dnsutils, tcpdump, iproute2, python3" "$@"

AUTHORITATIVE=127.0.0.53
RESOLVER=127.0.0.54
BIND_CLIENTS=(127.0.0.21 127.0.0.22 127.0.0.23)
RESOLVER_CLIENTS=(127.0.0.24 127.0.0.25 127.0.0.26)
MEMBERS=(10.10.10.1 10.10.10.2 10.10.10.3)
POOL=PersistentChatPool.contoso.com
PORT=5061

netns_create
lo_up "$AUTHORITATIVE" "$RESOLVER" "${BIND_CLIENTS[@]}" "${RESOLVER_CLIENTS[@]}" \
    "${MEMBERS[@]/%//32}"

{
    contoso_zone_header
    cat <<'ZONE'
PersistentChatPool  IN A    10.10.10.1
PersistentChatPool  IN A    10.10.10.2
PersistentChatPool  IN A    10.10.10.3
ZONE
} >"$WORK/pool.zone"
start_named authoritative "$AUTHORITATIVE" "$WORK/pool.zone"

# Unbound: iterative lookups of contoso.com at BIND through a stub zone, no rotation of cached
# answers, nothing fetched but what a client asks for (one upstream query in all).
UNBOUND_DIR="$WORK/unbound"
mkdir -p "$UNBOUND_DIR"
{
    unbound_server_options "$UNBOUND_DIR" "$RESOLVER"
    cat <<CONF
    outgoing-interface: $RESOLVER
    do-not-query-localhost: no
    qname-minimisation: no
    target-fetch-policy: "0 0 0 0 0"
    prefetch: no
    rrset-roundrobin: no
    minimal-responses: yes
stub-zone:
    name: "contoso.com."
    stub-addr: $AUTHORITATIVE
remote-control:
    control-enable: no
CONF
} >"$UNBOUND_DIR/unbound.conf"
start_unbound "$UNBOUND_DIR"
# Ready once it answers a name it serves itself (nothing goes to BIND: its cache stays empty).
unbound_ready() {
    kill -0 "$UNBOUND_PID" 2>/dev/null ||
        { cat "$UNBOUND_DIR/unbound.log" >&2; die "unbound exited"; }
    nsx dig -b 127.0.0.1 "@$RESOLVER" localhost A +short +tries=1 +time=1 >/dev/null 2>&1
}
wait_for 20 unbound_ready || { cat "$UNBOUND_DIR/unbound.log" >&2; die "unbound did not start"; }
log "unbound running on $RESOLVER (pid $UNBOUND_PID)"

# connect CLIENT ADDRESS: one TCP connection attempt from CLIENT to ADDRESS:PORT (the SYN and
# the kernel's RST: 2 packets).
connect() {
    nsx python3 - "$1" "$2" "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(2)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], int(sys.argv[3])))
except ConnectionRefusedError:
    pass
PY
    EXTRA_PACKETS=$((EXTRA_PACKETS + 2))
    printf '  %-11s -> %s:%s (TCP SYN)\n' "$1" "$2" "$PORT" >&2
}

# ask_and_connect CLIENT SERVER: the pool A, then a connection to the first address.
ask_and_connect() {
    q "$1" "$2" "$POOL" A
    connect "$1" "${LAST_ANSWERS%%,*}"
}

CAPTURE_FILTER="port 53 or tcp port $PORT"
start_capture rotation
for round in 0 1 2 3; do
    for i in 0 1 2; do
        ask_and_connect "${BIND_CLIENTS[$(((round + i) % 3))]}" "$AUTHORITATIVE"
    done
    for client in "${RESOLVER_CLIENTS[@]}"; do
        ask_and_connect "$client" "$RESOLVER"
    done
done
# Unbound's one iterative query to BIND and its answer.
EXTRA_PACKETS=$((EXTRA_PACKETS + 2))
q "${BIND_CLIENTS[0]}" "$AUTHORITATIVE" "$POOL.corp.contoso.com" A
q "${BIND_CLIENTS[1]}" "$AUTHORITATIVE" PersistentChatPool A
stop_capture rotation
stop_pid "$UNBOUND_PID"

# ---------------------------------------------------------------- netmask ------

SITE_SERVER=127.0.0.55
SITE_CLIENTS=(10.10.10.101 10.10.10.102 10.10.20.101 10.10.20.102)
nsx ip addr add "$SITE_SERVER/8" dev lo
for addr in "${SITE_CLIENTS[@]}" 10.10.20.1; do
    nsx ip addr add "$addr/32" dev lo
done
{
    contoso_zone_header "$SITE_SERVER"
    cat <<'ZONE'
PersistentChatPool  IN A    10.10.10.1
PersistentChatPool  IN A    10.10.20.1
ZONE
} >"$WORK/sites.zone"
start_named sites "$SITE_SERVER" "$WORK/sites.zone" "    sortlist {
        { 10.10.10.0/24; { 10.10.10.0/24; }; };
        { 10.10.20.0/24; { 10.10.20.0/24; }; };
    };"
start_capture netmask
for round in 0 1 2 3; do
    for client in "${SITE_CLIENTS[@]}"; do
        q "$client" "$SITE_SERVER" "$POOL" A
    done
done
stop_capture netmask
log "done: $OUT_DIR/rotation.pcap $OUT_DIR/netmask.pcap"
