#!/usr/bin/env bash
# make-evidence-samples.sh — regenerate three small captures about what the evidence says:
#
#   silent-server.pcap  BIND 9 on 127.0.0.53 answers the contoso pool (samples/contoso.toml);
#                       clients 127.0.0.31 and 127.0.0.32 also send three queries to a second
#                       DNS server, 127.0.0.56, that is down (its address is up, nothing
#                       listens). Half a second later one more answered query ends the capture:
#                       the three queries are still pending (younger than the 5 s query timeout)
#                       but have waited far longer than BIND takes to answer.
#   other-port.pcap     The same pool served by BIND on UDP port 5300 instead of 53 (dig -p
#                       5300): nothing on port 53, so pcdns sees no DNS unless told
#                       `--dns-port 5300`.
#   cname.pcap          A known-good deployment where clients reach the pool through an alias:
#                       chat.contoso.com CNAME PersistentChatPool.contoso.com; clients ask for
#                       the alias, the pool and the two servers.
#
# How: as make-samples.sh, in a private network namespace on its loopback only; tcpdump records
# `udp port 53` (`udp port 5300` for other-port.pcap), so the ICMP errors the kernel sends back
# for queries to the down server are not in the file.
#
# Needs: root, and the packages bind9 (named), dnsutils (dig), tcpdump and iproute2 (ip).
#
# Usage: bash samples/make-evidence-samples.sh [OUTPUT_DIR]   (default: beside this script)

set -euo pipefail

# shellcheck source=samples/netns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/netns-lib.sh"
# shellcheck source=samples/dns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/dns-lib.sh"
netns_setup pcdns-evidence "named dig tcpdump ip" "bind9, dnsutils, tcpdump, iproute2" "$@"

SERVER=127.0.0.53
DOWN=127.0.0.56
CLIENTS=(127.0.0.31 127.0.0.32)
POOL=PersistentChatPool.contoso.com
OTHER_PORT=5300

netns_create
lo_up "$SERVER" "$DOWN" "${CLIENTS[@]}"

{
    contoso_zone_header
    cat <<'ZONE'
PersistentChatServer01  IN A    10.10.10.1
PersistentChatServer02  IN A    10.10.10.2
PersistentChatPool      IN A    10.10.10.1
PersistentChatPool      IN A    10.10.10.2
chat                    IN CNAME PersistentChatPool
ZONE
} >"$WORK/contoso.zone"
# BIND also listens on port 5300 (for other-port.pcap).
start_named contoso "$SERVER" "$WORK/contoso.zone" "    listen-on port $OTHER_PORT { $SERVER; };"

# ---------------------------------------------------------------- silent server

start_capture silent-server
for round in 0 1; do
    for client in "${CLIENTS[@]}"; do
        q "$client" "$SERVER" "$POOL" A
    done
done
q_down "${CLIENTS[0]}" "$DOWN" "$POOL" A
q_down "${CLIENTS[1]}" "$DOWN" "$POOL" A
q_down "${CLIENTS[0]}" "$DOWN" "$POOL" A
sleep 0.5
q "${CLIENTS[1]}" "$SERVER" "$POOL" A
stop_capture silent-server

# ---------------------------------------------------------------- other port ---

# q_port CLIENT NAME: one dig query to BIND on the other port; it must be answered.
q_port() {
    local out
    out=$(nsx dig -b "$1" "@$SERVER" -p "$OTHER_PORT" "$2" A +tries=1 +time=5 2>&1) ||
        { echo "$out" >&2; die "dig -p $OTHER_PORT $2 got no response"; }
    QUERIES=$((QUERIES + 1))
    printf '  %-11s -> %s:%s %s\n' "$1" "$SERVER" "$OTHER_PORT" "$2" >&2
}

CAPTURE_FILTER="udp port $OTHER_PORT"
start_capture other-port
for client in "${CLIENTS[@]}"; do
    q_port "$client" "$POOL"
    q_port "$client" PersistentChatServer01.contoso.com
done
stop_capture other-port

# ---------------------------------------------------------------- cname --------

CAPTURE_FILTER="udp port 53"
start_capture cname
for round in 0 1; do
    for client in "${CLIENTS[@]}"; do
        q "$client" "$SERVER" chat.contoso.com A
        q "$client" "$SERVER" "$POOL" A
    done
done
for client in "${CLIENTS[@]}"; do
    q "$client" "$SERVER" PersistentChatServer01.contoso.com A
    q "$client" "$SERVER" PersistentChatServer02.contoso.com A
done
stop_capture cname
log "done: $OUT_DIR/silent-server.pcap $OUT_DIR/other-port.pcap $OUT_DIR/cname.pcap"
