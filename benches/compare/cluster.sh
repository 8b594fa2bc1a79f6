# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Rows 12 and 13 of benches/compare.sh (issue 12): what replication costs. One
# producer, one partition, acks=all, fsync never, 1 KiB and 100 B records, each
# against the same workload on one plain broker measured in the same row, its
# runs interleaved with the cluster's:
#   12  a one-node cluster (replication factor 1) must stay within 10 %;
#   13  three local brokers, replication factor 3, aims for a quarter or more.
# The cluster's brokers share this machine's 2 cores with each other and the
# bench, so row 13 is a floor, not what three machines give.

# Brokers of the running cluster: pids, client addresses and data directories.
cluster_pids=()
cluster_addrs=()
cluster_dirs=()

# Stops every broker of the cluster by its pid and removes their data.
stop_cluster() {
    local pid
    for pid in "${cluster_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${cluster_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local dir
    for dir in "${cluster_dirs[@]}"; do
        rm -rf "$dir" "$dir.log"
    done
    cluster_pids=() cluster_addrs=() cluster_dirs=()
}

# Starts a cluster of $1 brokers (node ids 1..$1) on 127.0.0.1 with fsync never,
# each on a fresh data directory under $BENCH_DIR, and waits until it takes a
# write: sets broker_addr to the bootstrap list.
start_cluster() {
    local size=$1 i peers='' cluster_ports=()
    for i in $(seq "$size"); do
        cluster_ports+=("$(free_port)")
        peers+="${peers:+,}$i@127.0.0.1:${cluster_ports[i - 1]}"
    done
    for i in $(seq "$size"); do
        local dir addr
        dir=$(mktemp -d "$BENCH_DIR/rill-compare-cluster.XXXXXX")
        addr=127.0.0.1:$(free_port)
        "$broker_bin" --data-dir "$dir" --listen "$addr" --fsync never --node-id "$i" \
            --cluster-listen "127.0.0.1:${cluster_ports[i - 1]}" --peers "$peers" \
            >>"$dir.log" 2>&1 &
        cluster_pids+=($!)
        cluster_addrs+=("$addr")
        cluster_dirs+=("$dir")
    done
    broker_addr=$(IFS=,; echo "${cluster_addrs[*]}")
    # Ready once a topic can be created and written (a metadata leader, then
    # the partition's leader): a one-record run on a warm-up topic.
    local _
    for _ in $(seq 60); do
        if "$new_bench_bin" --broker "$broker_addr" --topic warm-up --partitions 1 \
            --count 1 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    log "the $size-broker cluster did not take a write in 30 s:"
    tail -3 "${cluster_dirs[0]}.log" >&2
    return 1
}

# One bench run against the running broker or cluster; its JSON goes to
# $WORK/runs/$1.$2.json. The flags: one partition, acks=all, $3-byte records.
cluster_bench() {
    local key=$1 run=$2 size=$3 count
    if ((size >= 1024)); then count=$(n 1000000); else count=$(n 5000000); fi
    bench_json "$WORK/runs/$key.$run.json" --partitions 1 --acks all \
        --record-size "$size" --count "$count"
}

# Rows 12 and 13 for $2-broker clusters: KEY BROKERS MIN_RATIO TARGET. Each
# cluster run follows a plain-broker run of the same workload, and every run
# starts after `sync`: neither side pays for the other's dirty pages being
# written back, and drift over the row (the page cache filling) hits both.
cluster_rows() {
    local key=$1 brokers=$2 min=$3 target=$4 size sub plain i values
    for size in 1024 100; do
        if ((size == 1024)); then sub=a; else sub=b; fi
        for i in $(seq "$RUNS"); do
            log "row $key$sub: one broker, $size B, run $i/$RUNS"
            sync
            start_broker never
            cluster_bench "plain$key$sub" "$i" "$size"
            stop_broker
            log "row $key$sub: $brokers-broker cluster, $size B, run $i/$RUNS"
            sync
            start_cluster "$brokers"
            cluster_bench "$key$sub" "$i" "$size"
            stop_cluster
        done
        plain=$(median $(field "plain$key$sub" produce.records_per_sec))
        mapfile -t values < <(field "$key$sub" produce.records_per_sec)
        judge "$key$sub" "$key$sub $(label "$key$sub")" records/s 0 "$plain" \
            "one broker, same run: $(num "$plain") records/s" "$min" "$target" "${values[@]}"
    done
}

row_12() { cluster_rows 12 1 0.9 "≥ 0.90 of one broker"; }
row_13() { cluster_rows 13 3 0.25 "≥ 0.25 of one broker"; }
