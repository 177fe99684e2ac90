# netns-lib.sh: shared by the sample scripts (sourced, not run). Argument and tool checks, a
# private network namespace and work directory that are always removed on exit, and helpers to
# run commands inside the namespace, poll with a deadline and stop background processes.
# After `netns_setup PREFIX "TOOLS..." "PACKAGES" "$@"`: OUT_DIR, NS, WORK and PIDS are set and
# the caller creates the namespace with `netns_create`, then `lo_up ADDRESS...`.

die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }
log() { echo "$(basename "$0"): $*" >&2; }

netns_setup() {
    local prefix=$1 tools=$2 packages=$3 tool
    shift 3
    SCRIPT_DIR=$(cd -- "$(dirname -- "$0")" && pwd)
    OUT_DIR=${1:-$SCRIPT_DIR}
    [ $# -le 1 ] || die "usage: $0 [OUTPUT_DIR]"
    [ "$(id -u)" -eq 0 ] || die "must run as root (needs a network namespace and packet capture)"
    for tool in $tools; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH (install packages $packages)"
    done
    mkdir -p -- "$OUT_DIR" || die "cannot create output directory $OUT_DIR"
    OUT_DIR=$(cd -- "$OUT_DIR" && pwd)
    NS=$prefix-$$
    WORK=$(mktemp -d "/tmp/$prefix.XXXXXX")
    PIDS=()          # daemons and tcpdump started by the script
    NS_CREATED=0
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$NS_CREATED" -eq 1 ]; then
        ip netns del "$NS" 2>/dev/null || log "warning: could not delete namespace $NS"
    fi
    rm -rf -- "$WORK"
    exit "$rc"
}

# netns_create: creates the namespace $NS (cleanup removes it on exit).
netns_create() {
    ip netns add "$NS" || die "cannot create network namespace $NS"
    NS_CREATED=1
}

# lo_up ADDRESS...: brings the namespace's loopback up and adds each ADDRESS to it, as a /8
# unless it carries its own prefix (10.10.10.1/32).
lo_up() {
    local addr
    nsx ip link set lo up
    for addr in "$@"; do
        [[ $addr == */* ]] || addr=$addr/8
        nsx ip addr add "$addr" dev lo
    done
}

# Run a command inside the namespace (foreground use only). Background daemons are started
# with a literal `ip netns exec "$NS" CMD &` instead: ip execs CMD, so $! is CMD's own PID
# and signals reach it (a backgrounded shell function would give the PID of a subshell).
nsx() { ip netns exec "$NS" "$@"; }

# Poll (every 0.05 s) until "$@" succeeds, for at most $1 seconds of wall-clock time
# (a deadline, not a try count, so slow commands such as dig cannot stretch it).
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    while :; do
        if "$@"; then return 0; fi
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# True once PID has exited (a zombie child counts as exited).
not_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ $stat == Z* ]]
}

# Stops PID with SIG (default TERM), SIGKILL after 10 s, and forgets it.
stop_pid() {
    local pid=$1 sig=${2:-TERM} p keep=()
    kill -"$sig" "$pid" 2>/dev/null || true
    if ! wait_for 10 not_running "$pid"; then
        log "warning: pid $pid ignored SIG$sig for 10 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
