# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Rows 8 and 10 of benches/compare.sh: many partitions (1,000 against 6) and many
# idle connections beside a producer. Each run starts fresh brokers.

# One row of 8: $2 producers of 1 KiB records, acks=1, fsync never, to 6 and to
# 1,000 partitions, alternating, RUNS times; MB/s, produce p99 and peak RSS.
partitions_row() {
    local key=$1 producers=$2 i parts
    local mb6 mb1k p99_6 p99_1k hwm6 hwm1k verdict=()
    for i in $(seq "$RUNS"); do
        for parts in 6 1000; do
            log "row $key, run $i/$RUNS: $producers producer(s), $parts partitions"
            start_broker never
            bench_json "$WORK/runs/$key-$parts.$i.json" --partitions "$parts" \
                --producers "$producers" --count "$(n 500000)" --record-size 1024 \
                --acks leader
            proc_kib "$broker_pid" VmHWM >"$WORK/runs/$key-$parts.$i.hwm"
            stop_broker
        done
    done
    mapfile -t mb6 < <(field "$key-6" produce.mb_per_sec)
    mapfile -t mb1k < <(field "$key-1000" produce.mb_per_sec)
    mapfile -t p99_6 < <(field "$key-6" produce.latency.p99_ms)
    mapfile -t p99_1k < <(field "$key-1000" produce.latency.p99_ms)
    mapfile -t hwm6 < <(cat "$WORK/runs/$key-6".*.hwm)
    mapfile -t hwm1k < <(cat "$WORK/runs/$key-1000".*.hwm)
    local r_mb r_p99 rss
    r_mb=$(calc "$(median "${mb1k[@]}") / $(median "${mb6[@]}")")
    r_p99=$(calc "$(median "${p99_1k[@]}") / $(median "${p99_6[@]}")")
    rss=$(calc "$(median "${hwm1k[@]}") / 1024")
    holds "$r_mb >= 0.8" || verdict+=("MB/s")
    holds "$r_p99 <= 2" || verdict+=("p99")
    holds "$rss < 256" || verdict+=("RSS")
    local mib6=() mib1k=() v
    for v in "${hwm6[@]}"; do mib6+=("$(calc "$v / 1024")"); done
    for v in "${hwm1k[@]}"; do mib1k+=("$(calc "$v / 1024")"); done
    table_row "$key" "8 $(label 8), $producers producer(s)" \
        "1,000 partitions: $(spread 0 "${mb1k[@]}") MB/s, p99 $(spread 1 "${p99_1k[@]}") ms, broker peak RSS $(spread 0 "${mib1k[@]}") MiB" \
        "6 partitions, same run: $(spread 0 "${mb6[@]}") MB/s, p99 $(spread 1 "${p99_6[@]}") ms, peak RSS $(spread 0 "${mib6[@]}") MiB" \
        "MB/s $(num "$r_mb" 2), p99 $(num "$r_p99" 2)" \
        "MB/s ≥ 0.80, p99 ≤ 2 ×, peak RSS < 256 MiB" \
        "$(if ((${#verdict[@]})); then echo "no (${verdict[*]})"; else echo yes; fi)"
}

row_8() {
    partitions_row 08a 1
    partitions_row 08b 4
}

# Row 10, run $1 without idle connections: the producer alone.
producer_alone() {
    log "row 10, run $1/$RUNS: the producer alone (broker --max-connections $max)"
    start_broker never --max-connections "$max"
    bench_json "$WORK/runs/10-alone.$1.json" "${flags[@]}"
    stop_broker
}

# Row 10, run $1 with $idle idle connections: the broker's RSS before and after
# they open (KiB per connection to $WORK/runs/10-idle.$1.per), the producer beside
# them, then one request on each (rill-probe's tally to $WORK/runs/10-idle.$1.out).
producer_beside_idle() {
    local out=$WORK/runs/10-idle.$1.out rss0 rss1
    log "row 10, run $1/$RUNS: $idle idle connections, then the producer beside them"
    start_broker never --max-connections "$max"
    sleep 1
    rss0=$(proc_kib "$broker_pid" VmRSS)
    "$probe_bin" --broker "$broker_addr" idle --connections "$idle" >"$out" 2>"$out.err" &
    probe_pid=$!
    until grep -q '"open"' "$out"; do
        kill -0 "$probe_pid" 2>/dev/null || {
            log "rill-probe idle failed: $(cat "$out.err")"
            return 1
        }
        sleep 0.1
    done
    # Each was answered once (ApiVersions), so the broker holds every one.
    sleep 1
    rss1=$(proc_kib "$broker_pid" VmRSS)
    calc "($rss1 - $rss0) / $idle" >"$WORK/runs/10-idle.$1.per"
    bench_json "$WORK/runs/10-beside.$1.json" "${flags[@]}"
    kill -USR1 "$probe_pid"
    wait "$probe_pid" || true
    probe_pid=''
    log "row 10, run $1: RSS $((rss0 / 1024)) → $((rss1 / 1024)) MiB; $(tail -1 "$out")"
    stop_broker
}

row_10() {
    local idle max fds i served=() per_conn=() with=() without=()
    idle=$(n "$IDLE")
    max=$((idle + 100))
    fds=$((idle + 4096))
    if ! ulimit -n "$fds" 2>/dev/null; then
        table_row 10 "10 $(label 10)" "skipped: cannot raise ulimit -n to $fds (hard limit \
$(ulimit -Hn)); run as root or raise the hard limit" "" "" "" ""
        return 0
    fi
    local flags=(--count "$(n 1000000)" --record-size 1024 --acks leader)
    # Alternating which goes first, so neither always runs on a warmer machine.
    for i in $(seq "$RUNS"); do
        if ((i % 2)); then
            producer_alone "$i"
            producer_beside_idle "$i"
        else
            producer_beside_idle "$i"
            producer_alone "$i"
        fi
        served+=("$(num "$(jget "$WORK/runs/10-idle.$i.out" answered)")")
        per_conn+=("$(cat "$WORK/runs/10-idle.$i.per")")
    done
    mapfile -t without < <(field 10-alone produce.mb_per_sec)
    mapfile -t with < <(field 10-beside produce.mb_per_sec)
    local ratio verdict=() least
    ratio=$(calc "$(median "${with[@]}") / $(median "${without[@]}")")
    least=$(printf '%s\n' "${served[@]//,/}" | sort -n | head -1)
    ((${least:-0} == idle)) || verdict+=("served")
    holds "$ratio >= 0.9" || verdict+=("MB/s")
    holds "$(median "${per_conn[@]}") < 64" || verdict+=("memory")
    table_row 10 "10 $(label 10) (broker --max-connections $max, ulimit -n $fds)" \
        "beside $(num "$idle") idle: $(spread 0 "${with[@]}") MB/s; $(if ((${least:-0} == idle)); then echo "all answered in each run"; else echo "answered $(printf '%s; ' "${served[@]}")of $(num "$idle") (per run)"; fi); broker RSS per idle connection $(spread 1 "${per_conn[@]}") KiB" \
        "the same producer alone, same run: $(spread 0 "${without[@]}") MB/s" \
        "$(num "$ratio" 2)" \
        "all served; ≥ 0.90; < 64 KiB per connection (aim)" \
        "$(if ((${#verdict[@]})); then echo "no (${verdict[*]})"; else echo yes; fi)"
}
