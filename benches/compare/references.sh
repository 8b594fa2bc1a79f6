# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Row 1 of benches/compare.sh: the physical references the Rill rows are judged
# against, measured in the same run: loopback TCP (iperf3, one stream), a buffered
# and an fdatasync'd `dd bs=1M` of 1 GiB to a new file in $BENCH_DIR, and Redis
# Streams XADD of 100 B records (../shared/peers/redis-streams.sh). Each is
# measured RUNS times, once per run of the script, when a row first needs it.

# What each reference is, for the table.
ref_what() {
    case $1 in
    loopback) echo "loopback TCP, iperf3 one stream, $(iperf_secs) s" ;;
    dd) echo "dd if=/dev/zero bs=1M count=$(n 1024), buffered, new file" ;;
    ddsync) echo "dd bs=1M count=$(n 1024) conv=fdatasync, new file" ;;
    redis) echo "Redis XADD 100 B, redis-benchmark -P 100 -c 50, no persistence" ;;
    esac
}

ref_unit() { case $1 in redis) echo "rec/s" ;; *) echo "MB/s" ;; esac; }

iperf_secs() { if [[ $QUICK == 1 ]]; then echo 1; else echo 5; fi; }

# Sets `got` to the reference's median, measuring it first if this run has not
# yet; fails (the reason in $WORK/ref/NAME.why) when it cannot be measured. Runs
# in the calling shell, so the processes it starts are that shell's to clean up.
ref() {
    [[ -f $WORK/ref/$1 ]] || measure_ref "$1" || true
    got=$(cat "$WORK/ref/$1")
    [[ -n $got ]]
}

# Sets `cell` to "what: value unit" for the table, or "what: skipped (why)".
# shellcheck disable=SC2034 # the callers read `cell`
ref_cell() {
    if ref "$1"; then
        cell="$(ref_what "$1"): $(num "$got") $(ref_unit "$1")"
    else
        cell="$(ref_what "$1"): skipped ($(cat "$WORK/ref/$1.why"))"
    fi
}

measure_ref() {
    local name=$1 values=() _ why=
    local key
    key=$(case $name in loopback) echo 01a ;; dd) echo 01b ;; ddsync) echo 01c ;; redis) echo 01d ;; esac)
    log "reference: $(ref_what "$name")"
    case $name in
    loopback) why=$(need_tool iperf3 iperf3) ;;
    redis)
        if [[ ! -x $PEERS/redis-streams.sh ]]; then
            why="$PEERS/redis-streams.sh not found"
        else
            why=$(need_tool redis-benchmark redis-server)
        fi
        ;;
    esac
    if [[ -z $why ]]; then
        for _ in $(seq "$RUNS"); do
            got=
            if ! "measure_$name" || [[ -z $got ]]; then
                why="the measurement failed (see above)"
                break
            fi
            values+=("$got")
        done
    fi
    if [[ -n $why ]]; then
        : >"$WORK/ref/$name"
        echo "$why" >"$WORK/ref/$name.why"
        table_row "$key" "${key#0} reference" "" "$(ref_what "$name"): skipped, $why" "" "" ""
        return 1
    fi
    median "${values[@]}" >"$WORK/ref/$name"
    table_row "$key" "${key#0} reference" "" \
        "$(ref_what "$name"): $(spread 0 "${values[@]}") $(ref_unit "$name")" "" "" ""
}

# Empty if command $1 exists (installing Debian package $2 with apt-get when
# running as root); otherwise says why not and how to install it.
need_tool() {
    command -v "$1" >/dev/null && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing $2 with apt-get"
        if (apt-get update -qq && apt-get install -y -qq "$2") >/dev/null 2>&1 &&
            command -v "$1" >/dev/null; then
            return 0
        fi
        echo "$1 missing and apt-get install $2 failed"
        return 0
    fi
    echo "$1 missing; install it with: sudo apt-get install $2"
}

# Waits until something listens on 127.0.0.1:$1 (from /proc/net/tcp).
wait_listen() {
    local hex _
    hex=$(printf '%04X' "$1")
    for _ in $(seq 100); do
        awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }' \
            /proc/net/tcp && return 0
        sleep 0.05
    done
    return 1
}

# Sets `got` to loopback TCP MB/s: an iperf3 server on a free port, one client
# stream; the server is stopped by its pid.
measure_loopback() {
    local port out=$WORK/iperf.json ok=1
    port=$(free_port)
    iperf3 -s -B 127.0.0.1 -p "$port" >"$WORK/iperf-server.log" 2>&1 &
    iperf_pid=$!
    if ! wait_listen "$port"; then
        log "iperf3 -s did not listen on $port"
        ok=0
    elif ! iperf3 -c 127.0.0.1 -p "$port" -t "$(iperf_secs)" -J >"$out" 2>&1; then
        log "iperf3 -c failed: $(head -c 300 "$out")"
        ok=0
    fi
    kill "$iperf_pid" 2>/dev/null || true
    wait "$iperf_pid" 2>/dev/null || true
    iperf_pid=
    local bits
    ((ok)) && bits=$(jget "$out" end.sum_received.bits_per_second) && [[ -n $bits ]] &&
        got=$(calc "$bits / 8 / 1e6")
}

# Sets `got` to the MB/s of dd writing $(n 1024) MiB of zeros to a new file in
# $BENCH_DIR, with the extra dd operands given; the file is removed.
dd_rate() {
    local file out
    file=$(mktemp "$BENCH_DIR/rill-compare-dd.XXXXXX")
    if ! out=$(LC_ALL=C dd if=/dev/zero of="$file" bs=1M count="$(n 1024)" "$@" 2>&1); then
        rm -f "$file"
        log "dd failed: $out"
        return 1
    fi
    rm -f "$file"
    got=$(awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1)
        printf "%.6g", $1 / s / 1e6 }' <<<"$out")
}

measure_dd() { dd_rate; }
measure_ddsync() { dd_rate conv=fdatasync; }

# Sets `got` to Redis Streams' XADD records/s of 100 B, no persistence.
measure_redis() {
    local out
    out=$("$PEERS/redis-streams.sh" 100 none "$(n 2000000)") || return 1
    got=$(sed -n 's/.*records_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
}
