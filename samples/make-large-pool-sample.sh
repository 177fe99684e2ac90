#!/usr/bin/env bash
# make-large-pool-sample.sh — regenerate large-pool.pcap, a real DNS capture of a Persistent Chat
# pool whose answer does not fit in one 1500-byte packet.
#
# What it makes:
#   large-pool.pcap  The pool LargePool.contoso.com with 120 members (A 10.20.0.1 ... 10.20.0.120,
#                    TTL 300; samples/large-pool.toml), served by the only authorized DNS server,
#                    127.0.0.53. The answer is about 1970 bytes of DNS, so on a 1500-byte MTU it
#                    shows every way a large answer reaches (or fails to reach) a client:
#                    - client 127.0.0.11 asks twice over UDP with EDNS +bufsize=4096: each answer
#                      is one UDP datagram split into two IPv4 fragments (MF set on the first; the
#                      second has no UDP header);
#                    - client 127.0.0.12 asks twice over TCP (+tcp): each answer is split across
#                      two TCP segments (MSS 1220, the one dig announces);
#                    - client 127.0.0.13 asks over UDP with +bufsize=1232: the answer has TC=1 and
#                      no records, and dig repeats the same question over TCP by itself;
#                    - client 127.0.0.14 asks the same with +ignore: the answer has TC=1 and the
#                      client never retries over TCP (a truncated answer nobody completed); this
#                      one comes first, followed by a 6 s pause (longer than pcdns's default query
#                      timeout) so that the missing retry is final when the capture ends.
#                    Every DNS message is therefore whole only after IP defragmentation or TCP
#                    stream reassembly, except the small queries and the two TC=1 answers.
#
# Why: pcdns must reassemble IPv4 fragments and DNS-over-TCP streams, and must tell a truncated
# UDP answer that was completed over TCP from one that never was. These cases should come from
# what real DNS software puts on the wire, not from hand-crafted packets.
#
# How: everything runs inside a private network namespace that this script creates
# (pcdns-large-pool-<pid>) and deletes on exit. Only that namespace's loopback `lo` is used, with
# extra 127.0.0.0/8 addresses; no packet leaves it. Its MTU is set to 1500 (the loopback default,
# 65536, would carry any answer whole) and its gso_max_segs to 1 (otherwise TCP hands loopback
# one 2 KB "super segment" that is never split, and the capture shows a single TCP segment larger
# than the MTU).
# The server is Unbound, serving the pool as local-data with max-udp-size 4096: it sends large
# UDP answers without DF, so the kernel fragments them. (BIND 9.18 sets DF on UDP and does not
# fragment; it truncates instead.) dig queries from 127.0.0.11 ... .14, and tcpdump records
# `port 53` plus every non-first IPv4 fragment (those carry no UDP header, so `port 53` alone
# misses them), ICMP excluded. Unbound is polled until it answers before the capture starts, so
# the file holds only the queries below.
# The query sequence is fixed, so reruns give the same packets; only DNS IDs, TCP ports and
# sequence numbers, IP IDs, timestamps, EDNS cookies and the rotation of the 120 addresses inside
# each answer (rrset-roundrobin) vary. At the end the capture is checked with tshark: fragmented
# UDP answers, TCP answers in more than one segment, TC=1 to .13 followed by a TCP query from .13,
# TC=1 to .14 and no TCP from .14, 7 queries and 7 responses, no ICMP.
#
# Needs: root (network namespaces, packet capture), and the packages unbound, dnsutils (dig),
# tcpdump, iproute2 (ip) and tshark (the final checks).
# Note: on hosts where AppArmor enforces Debian's/Ubuntu's profile for /usr/sbin/unbound, Unbound
# may be denied its config in /tmp; the script then stops with Unbound's log.
#
# Usage: bash samples/make-large-pool-sample.sh [OUTPUT_DIR]
#   OUTPUT_DIR defaults to the directory holding this script; it gets large-pool.pcap.

set -euo pipefail

# shellcheck source=samples/netns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/netns-lib.sh"
# shellcheck source=samples/dns-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/dns-lib.sh"
netns_setup pcdns-large-pool "unbound dig tcpdump ip tshark" "unbound, dnsutils, tcpdump, iproute2, tshark" "$@"

# ---------------------------------------------------------------- namespace ----

SERVER=127.0.0.53
FRAG_CLIENT=127.0.0.11      # UDP, +bufsize=4096: IP-fragmented answers
TCP_CLIENT=127.0.0.12       # +tcp: answers in several TCP segments
RETRY_CLIENT=127.0.0.13     # UDP, +bufsize=1232: TC=1, then dig retries over TCP
IGNORE_CLIENT=127.0.0.14    # UDP, +bufsize=1232 +ignore: TC=1, never completed
CLIENTS=("$FRAG_CLIENT" "$TCP_CLIENT" "$RETRY_CLIENT" "$IGNORE_CLIENT")
POOL=LargePool.contoso.com
MEMBERS=120                 # 10.20.0.1 ... 10.20.0.120
MTU=1500

netns_create
nsx ip link set lo mtu "$MTU"
# One MSS per TCP segment handed to lo, so TCP answers are really split at the MTU.
nsx ip link set lo gso_max_segs 1
lo_up "$SERVER" "${CLIENTS[@]}"
lo_mtu=$(nsx cat /sys/class/net/lo/mtu)
[ "$lo_mtu" -eq "$MTU" ] || die "loopback MTU is $lo_mtu, expected $MTU"

# ---------------------------------------------------------------- unbound ------

UNBOUND_DIR="$WORK/unbound"
mkdir -p "$UNBOUND_DIR"
{
    unbound_server_options "$UNBOUND_DIR" "$SERVER"
    cat <<EOF
    # Large UDP answers, sent without DF: the kernel fragments them at the 1500-byte MTU.
    max-udp-size: 4096
    edns-buffer-size: 4096
    rrset-roundrobin: yes
    local-zone: "contoso.com." static
EOF
    for ((i = 1; i <= MEMBERS; i++)); do
        echo "    local-data: \"$POOL. 300 IN A 10.20.0.$i\""
    done
    cat <<'EOF'
remote-control:
    control-enable: no
EOF
} >"$UNBOUND_DIR/unbound.conf"

start_unbound "$UNBOUND_DIR"

# The 120 expected addresses, sorted, one per line.
EXPECTED_MEMBERS=$(for ((i = 1; i <= MEMBERS; i++)); do echo "10.20.0.$i"; done | sort)

# True once Unbound answers the whole pool (before the capture starts: this query is not recorded).
unbound_answers() {
    kill -0 "$UNBOUND_PID" 2>/dev/null ||
        { cat "$UNBOUND_DIR/unbound.log" >&2; die "unbound exited"; }
    local got
    got=$(nsx dig -b 127.0.0.1 "@$SERVER" "$POOL" A +short +tcp +tries=1 +time=1 2>/dev/null) ||
        return 1
    [ "$(sort <<<"$got")" = "$EXPECTED_MEMBERS" ]
}
if ! wait_for 20 unbound_answers; then
    cat "$UNBOUND_DIR/unbound.log" >&2
    die "unbound on $SERVER did not answer $POOL with the $MEMBERS members"
fi
log "unbound running on $SERVER (pid $UNBOUND_PID), $POOL has $MEMBERS A records"

# ---------------------------------------------------------------- capture ------

# port 53: UDP and TCP DNS, and the first fragment of each UDP answer (it has the UDP header).
# ip[6:2] & 0x3fff != 0: MF set or fragment offset non-zero, i.e. every IPv4 fragment; the
# non-first ones carry no UDP header and would not match `port 53`.
CAPTURE_FILTER='(port 53 or (ip[6:2] & 0x3fff != 0)) and not icmp'
start_capture large-pool

# frames FILTER: frame numbers (one line each) of the capture matching the tshark display FILTER.
# While tcpdump still writes, the last record may be cut short; that only hides that record.
frames() {
    tshark -n -r "$CAPTURE" -Y "$1" -T fields -e frame.number 2>>"$WORK/tshark.log" || true
}
count() { frames "$1" | grep -c . || true; }

# ---------------------------------------------------------------- queries ------

QUERIES=0

# q CLIENT WANT_TRANSPORT WANT_ANSWERS WANT_TC [DIG OPTIONS...]: one dig query for the pool A;
# fails the script if dig gets no response or the final response is not as expected
# (transport UDP/TCP dig finally used, number of answer records, TC flag 0/1).
q() {
    local client=$1 want_transport=$2 want_answers=$3 want_tc=$4 out
    shift 4
    if ! out=$(nsx dig -b "$client" "@$SERVER" "$POOL" A +tries=1 +time=5 "$@" 2>&1); then
        echo "$out" >&2
        die "dig -b $client @$SERVER $POOL A $* got no response"
    fi
    QUERIES=$((QUERIES + 1))
    local status answers transport flags tc=0 retried=
    status=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | tail -n 1)
    answers=$(sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p' <<<"$out" | tail -n 1)
    transport=$(sed -n 's/^;; SERVER: .*(\([A-Z]*\))$/\1/p' <<<"$out" | tail -n 1)
    flags=$(sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' <<<"$out" | tail -n 1)
    [[ " $flags " == *" tc "* ]] && tc=1
    grep -q 'Truncated, retrying in TCP mode' <<<"$out" && retried=" (TC=1 over UDP, retried over TCP)"
    printf '  %-11s -> %-10s %-22s A %-8s %-4s %3s answers  TC=%s%s  [%s]\n' \
        "$client" "$SERVER" "$POOL" "$status" "$transport" "$answers" "$tc" "$retried" "$*" >&2
    if [ "$status" != NOERROR ] || [ "$transport" != "$want_transport" ] ||
        [ "$answers" != "$want_answers" ] || [ "$tc" != "$want_tc" ]; then
        echo "$out" >&2
        die "dig -b $client $*: expected NOERROR over $want_transport with $want_answers answers" \
            "and TC=$want_tc"
    fi
}

log "capturing the query sequence (namespace $NS, lo MTU $MTU)"
# 0. TC=1 over UDP, never completed. First, and followed by a pause longer than pcdns's default
#    5 s query timeout, so that the missing TCP retry is a finding and not still "pending" when
#    the capture ends.
q "$IGNORE_CLIENT" UDP 0 1 +bufsize=1232 +ignore
sleep 6
# 1. Large UDP answers, IP-fragmented.
q "$FRAG_CLIENT" UDP "$MEMBERS" 0 +bufsize=4096
q "$FRAG_CLIENT" UDP "$MEMBERS" 0 +bufsize=4096
# 2. DNS over TCP, the answer split across TCP segments.
q "$TCP_CLIENT" TCP "$MEMBERS" 0 +tcp
q "$TCP_CLIENT" TCP "$MEMBERS" 0 +tcp
# 3. TC=1 over UDP, then dig asks again over TCP by itself (two queries on the wire).
q "$RETRY_CLIENT" TCP "$MEMBERS" 0 +bufsize=1232
QUERIES=$((QUERIES + 1))

# Every query dig made got its response; wait until the file holds all of them.
all_captured() { [ "$(count 'dns')" -ge $((QUERIES * 2)) ]; }
wait_for 10 all_captured ||
    log "warning: expected $((QUERIES * 2)) DNS messages, file has $(count dns)"
stop_pid "$TCPDUMP_PID" INT
if grep -Eq '[1-9][0-9]* packets? dropped by kernel' "$WORK/large-pool.tcpdump.log"; then
    cat "$WORK/large-pool.tcpdump.log" >&2
    die "tcpdump dropped packets"
fi
stop_pid "$UNBOUND_PID"

# ---------------------------------------------------------------- checks -------

: >"$WORK/tshark.log"
fail() { grep -v "^Running as user" "$WORK/tshark.log" >&2 || true; die "large-pool.pcap: $*"; }
# expect_count N FILTER WHAT
expect_count() {
    local n
    n=$(count "$2")
    [ "$n" -eq "$1" ] || fail "$3: expected $1 frames matching '$2', found $n"
}

RESP="dns.flags.response==1"
QRY="dns.flags.response==0"
FULL="dns.count.answers==$MEMBERS"

expect_count 0 'icmp' "ICMP"
expect_count 0 'not ip' "non-IPv4 frames"
expect_count "$QUERIES" "$QRY" "DNS queries"
expect_count "$QUERIES" "$RESP" "DNS responses"

# 1. Two UDP answers to .11, each in two IPv4 fragments (MF set on the first).
expect_count 2 "ip.flags.mf==1 && ip.src==$SERVER && ip.dst==$FRAG_CLIENT" \
    "first fragments (MF=1) of the UDP answers to $FRAG_CLIENT"
# (tshark shows the reassembled UDP/DNS on the last fragment, so it is matched by offset only.)
expect_count 2 "ip.flags.mf==0 && ip.frag_offset>0 && ip.src==$SERVER && ip.dst==$FRAG_CLIENT" \
    "last fragments of the UDP answers to $FRAG_CLIENT"
expect_count 2 "udp && $RESP && $FULL && dns.flags.truncated==0 && ip.fragment.count==2 && ip.dst==$FRAG_CLIENT" \
    "reassembled full UDP answers to $FRAG_CLIENT"

# 2. Two TCP answers to .12, each in more than one TCP segment.
expect_count 2 "tcp && $QRY && ip.src==$TCP_CLIENT" "TCP queries from $TCP_CLIENT"
expect_count 2 "tcp && $RESP && $FULL && tcp.segment.count>=2 && ip.dst==$TCP_CLIENT" \
    "full TCP answers in several segments to $TCP_CLIENT"

# 3. TC=1 over UDP to .13, then a TCP query from .13 and its full answer.
tc13=$(frames "udp && $RESP && dns.flags.truncated==1 && ip.src==$SERVER && ip.dst==$RETRY_CLIENT")
tcpq13=$(frames "tcp && $QRY && ip.src==$RETRY_CLIENT")
[ "$(grep -c . <<<"$tc13")" -eq 1 ] || fail "expected one UDP TC=1 answer to $RETRY_CLIENT, got: $tc13"
[ "$(grep -c . <<<"$tcpq13")" -eq 1 ] || fail "expected one TCP query from $RETRY_CLIENT, got: $tcpq13"
[ "$tcpq13" -gt "$tc13" ] ||
    fail "the TCP query from $RETRY_CLIENT (frame $tcpq13) does not follow its TC=1 answer (frame $tc13)"
expect_count 1 "udp && $QRY && ip.src==$RETRY_CLIENT" "UDP queries from $RETRY_CLIENT"
expect_count 1 "tcp && $RESP && $FULL && tcp.segment.count>=2 && ip.dst==$RETRY_CLIENT" \
    "full TCP answer to $RETRY_CLIENT"

# 4. TC=1 over UDP to .14, and no TCP at all from or to .14.
expect_count 1 "udp && $RESP && dns.flags.truncated==1 && ip.src==$SERVER && ip.dst==$IGNORE_CLIENT" \
    "UDP TC=1 answers to $IGNORE_CLIENT"
expect_count 0 "tcp && ip.addr==$IGNORE_CLIENT" "TCP packets of $IGNORE_CLIENT"

# Exactly the UDP packets and fragments expected: .11 2 queries + 2x2 fragments, .13 and .14
# one query and one TC=1 answer each. (TCP packet counts depend on ACK timing and are not fixed.)
expect_count 10 "!tcp" "UDP packets and fragments"
expect_count 2 "dns.flags.truncated==1" "TC=1 answers"

total=$(count 'frame')
cp -- "$CAPTURE" "$OUT_DIR/large-pool.pcap.tmp"
mv -f -- "$OUT_DIR/large-pool.pcap.tmp" "$OUT_DIR/large-pool.pcap"
log "wrote $OUT_DIR/large-pool.pcap ($total packets: $QUERIES queries, $QUERIES responses;" \
    "UDP TC=1 to $RETRY_CLIENT in frame $tc13, TCP retry query in frame $tcpq13)"
