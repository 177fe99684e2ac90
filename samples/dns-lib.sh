# dns-lib.sh: shared by the sample scripts (sourced after netns-lib.sh, not run): the start of
# a contoso.com zone file, an authoritative named in the namespace, write the common part of an Unbound configuration,
# capture lo with tcpdump and check that the capture holds exactly the packets the script
# caused, and send dig queries that must (q) or must not (q_down) be answered.

# ---------------------------------------------------------------- named --------

# contoso_zone_header [NS1_ADDRESS]: the start of every sample's contoso.com zone file: the TTL,
# the SOA (negative TTL 300), the NS record and ns1's address (default 127.0.0.53).
contoso_zone_header() {
    cat <<ZONE
\$TTL 300
@                   IN SOA  ns1.contoso.com. hostmaster.contoso.com. 2013010101 3600 600 86400 300
                    IN NS   ns1.contoso.com.
ns1                 IN A    ${1:-127.0.0.53}
ZONE
}

# start_named NAME ADDRESS ZONEFILE [OPTIONS]: authoritative-only BIND for contoso.com on
# ADDRESS:53, rotating cyclically; OPTIONS (named.conf statements) go into its options block
# (one with its own rrset-order replaces the cyclic one).
start_named() {
    local name=$1 addr=$2 zone=$3 extra_options=${4:-} dir="$WORK/named-$1"
    local order='    rrset-order { order cyclic; };'
    [[ $extra_options != *rrset-order* ]] || order=
    mkdir -p "$dir"
    cat >"$dir/named.conf" <<EOF
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    dump-file "$dir/cache_dump.db";
    statistics-file "$dir/named.stats";
    listen-on port 53 { $addr; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
    minimal-responses yes;
$order
$extra_options
};
controls { };
zone "contoso.com" {
    type primary;
    file "$zone";
};
EOF
    # -g: foreground, log to stderr; -4: IPv4 only; -n 1: one worker thread.
    # Runs as root on purpose: the config and zone live in a private temp directory.
    ip netns exec "$NS" named -g -4 -n 1 -c "$dir/named.conf" >"$dir/named.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    if ! wait_for 20 grep -qs 'running$' "$dir/named.log"; then
        cat "$dir/named.log" >&2
        die "named '$name' on $addr did not start"
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$dir/named.log" >&2; die "named '$name' exited"; }
    log "named '$name' running on $addr (pid $pid)"
}


# ---------------------------------------------------------------- capture ------

TCPDUMP_PID=
CAPTURE=
CAPTURE_FILTER='udp port 53'   # what tcpdump records; a script may widen it before start_capture
QUERIES=0        # answered queries in the current capture: 2 packets each
UNANSWERED=0     # queries to the down server in the current capture: 1 packet each
EXTRA_PACKETS=0  # other packets the script knows it caused (e.g. TCP SYN and RST)

expected_packets() { echo $((QUERIES * 2 + UNANSWERED + EXTRA_PACKETS)); }
pcap_packets() { nsx tcpdump -r "$CAPTURE" -nn 2>/dev/null | wc -l; }
all_captured() { [ "$(pcap_packets)" -ge "$(expected_packets)" ]; }

start_capture() {
    CAPTURE="$WORK/$1.pcap"
    QUERIES=0
    UNANSWERED=0
    EXTRA_PACKETS=0
    # -Z root: keep root so tcpdump can write into the private temp dir.
    # --immediate-mode -U: hand each packet to the file at once, nothing sits in a buffer.
    ip netns exec "$NS" tcpdump -i lo -nn -s 0 --immediate-mode -U -Z root -w "$CAPTURE" "$CAPTURE_FILTER" \
        2>"$WORK/$1.tcpdump.log" &
    TCPDUMP_PID=$!
    PIDS+=("$TCPDUMP_PID")
    if ! wait_for 20 grep -qs 'listening on' "$WORK/$1.tcpdump.log"; then
        cat "$WORK/$1.tcpdump.log" >&2
        die "tcpdump did not start capturing"
    fi
    [ -s "$CAPTURE" ] || wait_for 5 test -s "$CAPTURE" || die "tcpdump did not create $CAPTURE"
}

stop_capture() {
    local name=$1 expected
    expected=$(expected_packets)
    # Every query to a running server got its response (dig checked that): 2 packets each.
    # Every query to the down server is 1 packet (the ICMP error is outside the filter).
    wait_for 10 all_captured ||
        log "warning: $name: expected $expected packets, file has $(pcap_packets)"
    stop_pid "$TCPDUMP_PID" INT
    TCPDUMP_PID=
    if grep -Eq '[1-9][0-9]* packets? dropped by kernel' "$WORK/$name.tcpdump.log"; then
        cat "$WORK/$name.tcpdump.log" >&2
        die "$name: tcpdump dropped packets"
    fi
    local n
    n=$(pcap_packets)
    [ "$n" -eq "$expected" ] ||
        die "$name: capture has $n packets, expected $expected" \
            "($QUERIES answered queries, $UNANSWERED unanswered, $EXTRA_PACKETS other packets)"
    cp -- "$CAPTURE" "$OUT_DIR/$name.pcap.tmp"
    mv -f -- "$OUT_DIR/$name.pcap.tmp" "$OUT_DIR/$name.pcap"
    log "wrote $OUT_DIR/$name.pcap ($n packets)"
}

# q CLIENT SERVER NAME TYPE [DIG OPTIONS...]: one dig query; fails the script if no response
# arrives. Leaves the answer's addresses, in order and comma-separated, in LAST_ANSWERS.
q() {
    local client=$1 server=$2 qname=$3 qtype=$4 out
    shift 4
    if ! out=$(nsx dig -b "$client" "@$server" "$qname" "$qtype" +tries=1 +time=5 "$@" 2>&1); then
        echo "$out" >&2
        die "dig -b $client @$server $qname $qtype got no response"
    fi
    QUERIES=$((QUERIES + 1))
    local status answers
    status=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out")
    answers=$(awk '/^;; ANSWER SECTION:/{a=1;next} /^$/{a=0} a{print $5}' <<<"$out" | paste -sd, -)
    printf '  %-11s -> %-10s %-36s %-4s %-8s %s\n' \
        "$client" "$server" "$qname" "$qtype" "$status" "$answers" >&2
    LAST_ANSWERS=$answers
}

# q_down CLIENT SERVER NAME TYPE: one dig query to a server that is down. dig must fail
# (connection refused, or a 1 s time-out); that is expected and does not stop the script.
# A response would mean the scenario is wrong, so that does.
q_down() {
    local client=$1 server=$2 qname=$3 qtype=$4 out rc=0
    out=$(nsx dig -b "$client" "@$server" "$qname" "$qtype" +tries=1 +time=1 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "$out" >&2
        die "dig -b $client @$server $qname $qtype got a response, but $server should be down"
    fi
    UNANSWERED=$((UNANSWERED + 1))
    local why
    why=$(grep -Eo 'connection refused|timed out' <<<"$out" | head -n 1) || true
    printf '  %-11s -> %-10s %-36s %-4s %-8s %s\n' \
        "$client" "$server" "$qname" "$qtype" "(down)" "dig exit $rc${why:+, $why}" >&2
}


# ---------------------------------------------------------------- unbound ------

# start_unbound DIR: checks DIR/unbound.conf (when unbound-checkconf is there) and starts
# Unbound in the foreground inside the namespace, logging to DIR/unbound.log; sets UNBOUND_PID.
start_unbound() {
    if command -v unbound-checkconf >/dev/null 2>&1; then
        unbound-checkconf "$1/unbound.conf" >/dev/null ||
            die "unbound-checkconf rejects $1/unbound.conf"
    fi
    # -d: foreground; logs go to stderr (logfile "").
    ip netns exec "$NS" unbound -d -c "$1/unbound.conf" >"$1/unbound.log" 2>&1 &
    UNBOUND_PID=$!
    PIDS+=("$UNBOUND_PID")
}

# unbound_server_options DIR ADDRESS: the `server:` clause every sample's Unbound starts with:
# foreground, no chroot or user switch, files in DIR, listening on ADDRESS:53 (IPv4 only), the
# iterator module alone, queries from 127.0.0.0/8 allowed. The caller appends its own options.
unbound_server_options() {
    cat <<CONF
server:
    interface: $2
    port: 53
    do-ip4: yes
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$1"
    pidfile: "$1/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
CONF
}
