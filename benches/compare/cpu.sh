# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Row 9 of benches/compare.sh: CPU-seconds per GB (10^9 bytes of record values)
# produced and consumed, broker and client separately. The broker's from its
# /proc/PID/stat (utime + stime) before and after; the client's from
# /usr/bin/time. One broker, once: 1 KiB records, acks=1, fsync never.

# Iggy's figures from issue 11 (0.9 built from source, same kind of machine, not
# measured by this script): CPU-seconds per GB produced, server and client.
IGGY_PRODUCE="server 0.9–1.5, client 0.4–0.7 (Iggy 0.9, issue 11; not measured here)"

# Runs rill-bench under /usr/bin/time with the broker's CPU read around it; JSON
# to $1, and "broker_cpu client_cpu" to $1.cpu.
timed_bench() {
    local out=$1 before after bin
    shift
    bin=$(bench_for "$@" --json)
    before=$(cpu_seconds "$broker_pid")
    if ! /usr/bin/time -f '%U %S' -o "$out.time" \
        "$bin" --broker "$broker_addr" "$@" --json >"$out" 2>"$out.err"; then
        log "rill-bench $* failed:"
        tail -3 "$out.err" >&2
        return 1
    fi
    after=$(cpu_seconds "$broker_pid")
    echo "$(calc "$after - $before") $(awk 'END { print $1 + $2 }' "$out.time")" >"$out.cpu"
}

# "broker B, client C" CPU-seconds per GB for a run: per_gb FILE SIDE.
per_gb() {
    local gb broker client
    gb=$(calc "$(jget "$1" "$2.bytes") / 1e9")
    read -r broker client <"$1.cpu"
    echo "broker $(num "$(calc "$broker / $gb")" 2), client $(num "$(calc "$client / $gb")" 2)"
}

row_9() {
    local count why produce consume broker client gb
    if [[ ! -x /usr/bin/time ]]; then
        why=$(need_tool /usr/bin/time time)
        if [[ -n $why ]]; then
            table_row 09a "9 $(label 9)" "skipped: $why" "" "" "" ""
            return 0
        fi
    fi
    count=$(n 1048576)
    produce=$WORK/runs/09-produce.json
    consume=$WORK/runs/09-consume.json
    log "row 09: produce $count records of 1 KiB, then read them, on one broker"
    start_broker never
    timed_bench "$produce" --topic cpu --count "$count" --record-size 1024 --acks leader
    sync
    timed_bench "$consume" --topic cpu --consume-only --count "$count" --record-size 1024
    stop_broker
    gb=$(calc "$(jget "$produce" produce.bytes) / 1e9")
    read -r broker client <"$produce.cpu"
    table_row 09a "9 $(label 9), produced" "$(per_gb "$produce" produce) ($(num "$gb" 2) GB)" \
        "$IGGY_PRODUCE" "" "at most Iggy's" \
        "$(yes_no "$broker / $gb <= 1.5 && $client / $gb <= 0.7") (against the top of Iggy's range)"
    table_row 09b "9 $(label 9), consumed" "$(per_gb "$consume" consume)" \
        "none (issue 11 has no Iggy consume figure)" "" "at most Iggy's" "n/a"
}
