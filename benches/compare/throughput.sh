# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Rows 2 to 7 of benches/compare.sh: throughput and latency of one broker, each run
# on a fresh broker, RUNS times, reported as median (min–max) beside its reference.

# Runs rill-bench RUNS times, each on a fresh broker started with fsync $2 and
# stopped afterwards; run i's JSON goes to $WORK/runs/$1.i.json.
rill_runs() {
    local key=$1 fsync=$2 i
    shift 2
    for i in $(seq "$RUNS"); do
        log "row $key, run $i/$RUNS: rill-bench $*"
        start_broker "$fsync"
        bench_json "$WORK/runs/$key.$i.json" "$@"
        stop_broker
    done
}

# One field of every run of $1, a line each.
field() {
    local f
    for f in "$WORK/runs/$1".*.json; do jget "$f" "$2"; done
}

# Adds a row judged by a ratio: judge KEY LABEL UNIT DECIMALS REF_VALUE REF_CELL
# MIN_RATIO TARGET VALUES... (REF_VALUE empty: no reference, no verdict).
judge() {
    local key=$1 label=$2 unit=$3 decimals=$4 ref_value=$5 ref_text=$6 min=$7 target=$8
    shift 8
    local med ratio met
    med=$(median "$@")
    if [[ -n $ref_value ]]; then
        ratio=$(calc "$med / $ref_value")
        met=$(yes_no "$ratio >= $min")
        ratio=$(num "$ratio" 2)
    else
        ratio="n/a"
        met="n/a (no reference)"
    fi
    table_row "$key" "$label" "$(spread "$decimals" "$@") $unit" "$ref_text" "$ratio" "$target" "$met"
}

row_2() {
    local values lo='' dd='' lesser='' text
    rill_runs 02 never --count "$(n 1000000)" --record-size 1024 --acks leader
    mapfile -t values < <(field 02 produce.mb_per_sec)
    ref loopback && lo=$got
    ref dd && dd=$got
    if [[ -n $lo && -n $dd ]]; then
        lesser=$(calc "$lo < $dd ? $lo : $dd")
        text="lesser of loopback $(num "$lo") and buffered dd $(num "$dd") MB/s: $(num "$lesser") MB/s"
    else
        text="loopback ${lo:-skipped}, dd ${dd:-skipped} (see row 1)"
    fi
    judge 02 "2 $(label 2)" MB/s 0 "$lesser" "$text" 0.8 \
        "≥ 0.80 (≥ 1.6 GB/s where those allow it)" "${values[@]}"
}

row_3() {
    local i count values cell
    count=$(n 1048576)
    for i in $(seq "$RUNS"); do
        log "row 03, run $i/$RUNS: write $count records of 1 KiB, sync, then read them"
        start_broker never
        bench_json "$WORK/runs/03-fill.$i.json" --topic written --count "$count" \
            --record-size 1024 --acks leader
        sync
        bench_json "$WORK/runs/03.$i.json" --topic written --consume-only \
            --count "$count" --record-size 1024
        stop_broker
    done
    mapfile -t values < <(field 03 consume.mb_per_sec)
    ref_cell loopback
    ref loopback || got=
    judge 03 "3 $(label 3)" MB/s 0 "$got" "$cell" 0.8 \
        "≥ 0.80 of loopback (≥ 2.1 GB/s where it allows)" "${values[@]}"
}

row_4() {
    local values four=
    rill_runs 04 never --count "$(n 4000000)" --record-size 100 --acks leader
    mapfile -t values < <(field 04 produce.records_per_sec)
    ref_cell redis
    ref redis && four=$got
    judge 04 "4 $(label 4)" rec/s 0 "$four" "$cell" 4 "≥ 4 × Redis XADD" "${values[@]}"
}

# Rows 5 and 6: $1 producers, 1 KiB, acks=all, fsync always; at least $2 of dd
# with fdatasync.
fsync_row() {
    local key=$1 producers=$2 min=$3 values
    rill_runs "$key" always --producers "$producers" --count "$(n 500000)" \
        --record-size 1024 --acks all
    mapfile -t values < <(field "$key" produce.mb_per_sec)
    ref_cell ddsync
    ref ddsync || got=
    judge "$key" "${key#0} $(label "${key#0}")" MB/s 0 "$got" "$cell" "$min" \
        "≥ $min of dd conv=fdatasync" "${values[@]}"
}

row_5() { fsync_row 05 4 0.9; }
row_6() { fsync_row 06 1 0.8; }

row_7() {
    local p50 p99 p999 med99 med999
    rill_runs 07 never --rate 10000 --duration "$(secs 20)" --consumers 1 \
        --record-size 100 --acks leader --linger-ms 0
    mapfile -t p50 < <(field 07 consume.end_to_end_latency.p50_ms)
    mapfile -t p99 < <(field 07 consume.end_to_end_latency.p99_ms)
    mapfile -t p999 < <(field 07 consume.end_to_end_latency.p999_ms)
    med99=$(median "${p99[@]}")
    med999=$(median "${p999[@]}")
    table_row 07 "7 $(label 7)" \
        "p50 $(spread 3 "${p50[@]}"), p99 $(spread 3 "${p99[@]}"), p99.9 $(spread 3 "${p999[@]}") ms" \
        "" "" "p99 ≤ 0.5 ms, p99.9 ≤ 1 ms" \
        "$(yes_no "$med99 <= 0.5 && $med999 <= 1")"
}
