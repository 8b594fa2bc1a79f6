# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Row 11 of benches/compare.sh: restarting a broker with 10 GiB in its log (4 GiB
# when $BENCH_DIR's disk has less than 25 GB free). The log is written once, with
# fsync never; then (b) SIGKILL and start, which recovers the log, and (a) a clean
# stop (SIGTERM, waited for) and start. Times run from the broker's exec to
# rill-probe's first answered ListOffsets and to the answer that served the last
# partition. The log is still in the page cache when it is recovered.

RESTART_PARTITIONS=6

# Restarts the broker on its data directory and waits until every partition is
# served; the probe's JSON goes to $1.
restart_and_probe() {
    local out=$1 since
    since=$EPOCHREALTIME
    launch_broker never
    if ! "$probe_bin" --broker "$broker_addr" ready --topic restart \
        --partitions "$RESTART_PARTITIONS" --since "$since" >"$out" 2>"$out.err"; then
        log "rill-probe ready failed: $(cat "$out.err")"
        tail -5 "$data.log" >&2
        return 1
    fi
}

# Whether partitions were served while others still scanned: the broker answered
# before every partition was served, and the first was served before the last.
scanning_served() {
    local served first_served all
    served=$(jget "$1" served_at_first_answer)
    first_served=$(jget "$1" first_served_ms)
    all=$(jget "$1" all_served_ms)
    ((served < RESTART_PARTITIONS)) && holds "$first_served < $all"
}

# "partitions served while others still scan", in words, from the probe's report.
while_scanning() {
    local first all served first_served
    first=$(jget "$1" first_answer_ms)
    all=$(jget "$1" all_served_ms)
    served=$(jget "$1" served_at_first_answer)
    first_served=$(jget "$1" first_served_ms)
    if scanning_served "$1"; then
        echo "yes: $served of $RESTART_PARTITIONS served at the first answer ($(num "$first") ms), the first at $(num "$first_served") ms, the last at $(num "$all") ms"
    else
        echo "no: $served of $RESTART_PARTITIONS served at the first answer ($(num "$first") ms), the first at $(num "$first_served") ms, the last at $(num "$all") ms"
    fi
}

row_11() {
    local gib=10 note="" free count bytes killed clean first all gbps records
    free=$(df --output=avail -B1 "$BENCH_DIR" | tail -1)
    if ((free < 25000000000)); then
        gib=4
        note=" (4 GiB: $BENCH_DIR has $(num "$(calc "$free / 1e9")") GB free, under 25)"
    fi
    count=$(n $((gib * 1048576)))
    killed=$WORK/runs/11-killed.json
    clean=$WORK/runs/11-clean.json
    log "row 11: write $count records of 1 KiB (fsync never)$note"
    start_broker never
    bench_json "$WORK/runs/11-fill.json" --topic restart --partitions "$RESTART_PARTITIONS" \
        --count "$count" --record-size 1024 --acks leader
    bytes=$(log_bytes "$data")
    log "row 11: $(num "$bytes") bytes in the log; SIGKILL, then start"
    kill -KILL "$broker_pid"
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=
    restart_and_probe "$killed"
    log "row 11: after SIGKILL: $(cat "$killed")"
    log "row 11: clean stop (SIGTERM, waited for), then start"
    stop_broker_process
    restart_and_probe "$clean"
    log "row 11: after a clean stop: $(cat "$clean")"
    stop_broker
    records=$(jget "$killed" records)
    first=$(jget "$killed" first_answer_ms)
    all=$(jget "$killed" all_served_ms)
    gbps=$(calc "$bytes / 1e9 / ($all / 1000)")
    local label_text
    label_text="11 restart with $(num "$(calc "$bytes / 1e9")" 2) GB in the log ($(num "$count") records of 1 KiB, $RESTART_PARTITIONS partitions)$note"
    table_row 11a "$label_text: (a) clean stop, then start" \
        "first answer $(num "$(jget "$clean" first_answer_ms)") ms, all partitions $(num "$(jget "$clean" all_served_ms)") ms" \
        "" "" "< 1 s" "$(yes_no "$(jget "$clean" all_served_ms) < 1000")"
    table_row 11b "$label_text: (b) SIGKILL, then start" \
        "first answer $(num "$first") ms, all partitions $(num "$all") ms: recovery $(num "$gbps" 2) GB/s; $(num "$records") of $(num "$count") records kept; served while others scan: $(while_scanning "$killed")" \
        "" "" "≥ 1 GB/s, ready partitions served while others scan" \
        "$(if holds "$gbps >= 1" && scanning_served "$killed"; then echo yes; else echo no; fi)"
}
