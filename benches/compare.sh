#!/usr/bin/env bash
# Runs the README's benchmark table: Rill (a rill-broker process and rill-bench on
# this machine) and, when redis-server and redis-benchmark are installed, Redis
# Streams XADD for the same record sizes.
#
#   benches/compare.sh            # everything, about 3 minutes
#   RUNS=1 benches/compare.sh     # one run per Rill row instead of three
#
# Every broker starts on an empty data directory under $BENCH_DIR (default /tmp)
# and is stopped by its process id afterwards; so is the Redis server. Data is
# written to the disk that holds $BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/tmp}
PORT=${PORT:-9479}
REDIS_PORT=${REDIS_PORT:-6399}

cargo build --release -q --bin rill-broker --bin rill-bench
bin=target/release
broker_pid=
redis_pid=
data=
cleanup() {
    [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    [[ -n $data ]] && rm -rf "$data"
    return 0
}
trap cleanup EXIT

start_broker() { # fsync policy
    data=$(mktemp -d "$BENCH_DIR/rill-compare.XXXXXX")
    "$bin/rill-broker" --data-dir "$data" --listen "127.0.0.1:$PORT" --fsync "$1" \
        >"$data.log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "compare: the broker did not start; see $data.log" >&2
    exit 1
}

stop_broker() {
    kill "$broker_pid" && wait "$broker_pid" || true
    broker_pid=
    rm -rf "$data" "$data.log"
    data=
}

rill() { # title, fsync policy, rill-bench flags...
    local title=$1 fsync=$2
    shift 2
    echo "== Rill: $title"
    for _ in $(seq "$RUNS"); do
        start_broker "$fsync"
        "$bin/rill-bench" --broker "127.0.0.1:$PORT" "$@" 2>&1 |
            grep -E '^(produce|consume|end-to-end)|latency' || true
        stop_broker
    done
}

rill "1 producer, 100 B, acks=1, fsync never" never \
    --count 4000000 --record-size 100 --acks leader
rill "1 producer, 1 KiB, acks=1, fsync never" never \
    --count 1000000 --record-size 1024 --acks leader
rill "4 producers, 100 B, acks=all, fsync always (group commit)" always \
    --producers 4 --count 2000000 --record-size 100 --acks all
rill "4 producers, 1 KiB, acks=all, fsync always (group commit)" always \
    --producers 4 --count 500000 --record-size 1024 --acks all

echo "== Rill: 1 consumer reading 1 GiB already written (1,048,576 records of 1 KiB)"
for _ in $(seq "$RUNS"); do
    start_broker never
    "$bin/rill-bench" --broker "127.0.0.1:$PORT" --topic written --count 1048576 \
        --record-size 1024 >/dev/null 2>&1
    sync
    "$bin/rill-bench" --broker "127.0.0.1:$PORT" --topic written --consume-only \
        --count 1048576 --record-size 1024 2>&1 | grep -E '^consume' || true
    stop_broker
done

rill "end-to-end latency at a steady 10,000 records/s (1 producer, 1 consumer, 100 B)" never \
    --rate 10000 --duration 20 --consumers 1 --record-size 100 --acks leader
rill "the same with linger 0" never \
    --rate 10000 --duration 20 --consumers 1 --record-size 100 --acks leader --linger-ms 0

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "== Redis: not installed (apt-get install redis-server redis-tools); skipped"
    exit 0
fi
redis() { # title, redis-server persistence flags...
    local title=$1
    shift
    redis-server --port "$REDIS_PORT" --save '' --dir "$BENCH_DIR" "$@" \
        >"$BENCH_DIR/redis-compare.log" 2>&1 &
    redis_pid=$!
    sleep 0.5
    for size in 100 1024; do
        value=$(head -c "$size" /dev/zero | tr '\0' x)
        echo "== Redis $(redis-server --version | cut -d' ' -f3): $title, XADD $size B," \
            "redis-benchmark -P 100 -c 50"
        redis-benchmark -p "$REDIS_PORT" -P 100 -c 50 -n 2000000 -q \
            XADD "s$size" '*' v "$value" 2>&1 | tr '\r' '\n' | grep 'requests per second' |
            sed 's/^XADD s[0-9]* \* v x*:/XADD:/'
    done
    kill "$redis_pid" && wait "$redis_pid" || true
    redis_pid=
    rm -f "$BENCH_DIR/redis-compare.log" "$BENCH_DIR/appendonly.aof"
    rm -rf "$BENCH_DIR/appendonlydir"
}
redis "no persistence" --appendonly no
redis "appendfsync always" --appendonly yes --appendfsync always
