#!/usr/bin/env bash
# Measures issue 11's table of targets (and issue 12's cost of replication) in one run, each Rill row beside the
# physical reference it is judged against, measured in the same run, and prints a
# markdown table: row | Rill | reference (what, value) | ratio | target | met?.
#
#   benches/compare.sh                  # every row, RUNS=3 (rows 8 and 11 take longest)
#   ROWS=2,3 RUNS=1 benches/compare.sh  # rows 2 and 3 (and the references they need)
#   QUICK=1 benches/compare.sh          # every count and duration divided by 10
#   BIN_DIR=/old/target/release benches/compare.sh   # measure another build
#
# Rows (issue 11): 1 references (loopback TCP by iperf3, dd bs=1M buffered and with
# conv=fdatasync, Redis XADD 100 B by ../shared/peers/redis-streams.sh); 2 1 producer,
# 1 KiB, acks=1, fsync never; 3 1 consumer reading 1 GiB already written; 4 1
# producer, 100 B; 5 and 6 4 and 1 producers, 1 KiB, acks=all, fsync always; 7
# end-to-end latency at 10,000 rec/s, linger 0; 8 1,000 partitions against 6; 9
# CPU-seconds per GB; 10 10,000 idle connections beside a producer; 11 restart with
# 10 GiB in the log. Rows (issue 12, benches/compare/cluster.sh): 12 and 13 one
# producer, one partition, acks=all, 1 KiB (a) and 100 B (b) records on a one-node
# cluster and on three local brokers with replication factor 3, each judged against
# one plain broker measured in the same row. A row measures the references it needs
# when row 1 has not.
#
# Settings (environment): RUNS runs of each of rows 1-8, 10, 12 and 13 (median and range
# reported; 9 and 11 run once); ROWS the rows to run; QUICK=1; BENCH_DIR where
# brokers keep their data and dd writes (default /tmp; its disk is measured);
# IDLE idle connections of row 10 (default 10000); BIN_DIR a directory with
# rill-broker and rill-bench to measure instead of building this tree's (this
# tree's rill-probe is built and used either way, and its rill-bench stands in
# where the other lacks a flag; each row says so).
#
# Every broker starts on an empty data directory under $BENCH_DIR; every process
# the script starts (brokers, iperf3, rill-probe) is stopped by its pid, also when
# the script is interrupted. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-3}
ROWS=${ROWS:-1,2,3,4,5,6,7,8,9,10,11,12,13}
QUICK=${QUICK:-0}
BENCH_DIR=${BENCH_DIR:-/tmp}
IDLE=${IDLE:-10000}
PEERS=$ROOT/../shared/peers

# shellcheck source=benches/compare/lib.sh
source benches/compare/lib.sh
# shellcheck source=benches/compare/references.sh
source benches/compare/references.sh
# shellcheck source=benches/compare/throughput.sh
source benches/compare/throughput.sh
# shellcheck source=benches/compare/scale.sh
source benches/compare/scale.sh
# shellcheck source=benches/compare/cpu.sh
source benches/compare/cpu.sh
# shellcheck source=benches/compare/restart.sh
source benches/compare/restart.sh
# shellcheck source=benches/compare/cluster.sh
source benches/compare/cluster.sh

# Seconds divided by 10 under QUICK=1 (at least 1).
secs() { n "$1"; }

# The row's name, with this run's sizes.
label() {
    case $1 in
    2) echo "1 producer, 1 KiB, acks=1, fsync never ($(num "$(n 1000000)") records)" ;;
    3) echo "1 consumer reading $(num "$(calc "$(n 1048576) / 1024")") MiB already written (1 KiB records)" ;;
    4) echo "1 producer, 100 B, acks=1, fsync never ($(num "$(n 4000000)") records)" ;;
    5) echo "4 producers, 1 KiB, acks=all, fsync always ($(num "$(n 500000)") records)" ;;
    6) echo "1 producer, 1 KiB, acks=all, fsync always ($(num "$(n 500000)") records)" ;;
    7) echo "end-to-end latency at 10,000 rec/s, linger 0 (100 B, 1 consumer, $(secs 20) s)" ;;
    8) echo "1,000 partitions instead of 6, 1 KiB, acks=1, fsync never ($(num "$(n 500000)") records)" ;;
    9) echo "CPU-seconds per GB, broker and client ($(num "$(n 1048576)") records of 1 KiB)" ;;
    10) echo "$(num "$(n "$IDLE")") idle client connections beside the 1 KiB producer" ;;
    11) echo "restart with 10 GiB in the log" ;;
    12a | 13a) echo "1 producer, 1 partition, 1 KiB, acks=all, fsync never ($(num "$(n 1000000)") records), $([[ $1 == 12* ]] && echo "one-node cluster, replication factor 1" || echo "3 brokers, replication factor 3")" ;;
    12b | 13b) echo "1 producer, 1 partition, 100 B, acks=all, fsync never ($(num "$(n 5000000)") records), $([[ $1 == 12* ]] && echo "one-node cluster, replication factor 1" || echo "3 brokers, replication factor 3")" ;;
    esac
}

# The environment: binaries, machine, settings.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-compare-work.XXXXXX")
mkdir -p "$WORK/rows" "$WORK/ref" "$WORK/runs"
row_pid=
main_cleanup() {
    if [[ -n $row_pid ]]; then
        # The row's process group: its shell, which then stops what it started,
        # and the bench or probe it waits for, so it does so at once.
        kill -TERM -- "-$row_pid" 2>/dev/null || true
        wait "$row_pid" 2>/dev/null || true
    fi
    cleanup
    rm -rf "$WORK"
}
trap main_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

target=${CARGO_TARGET_DIR:-$ROOT/target}/release
log "building rill-probe$([[ -n ${BIN_DIR:-} ]] || echo ", rill-broker and rill-bench") (release)"
if [[ -n ${BIN_DIR:-} ]]; then
    cargo build --release -q -p rill-bench --bin rill-bench --bin rill-probe
    broker_bin=$BIN_DIR/rill-broker
    bench_bin=$BIN_DIR/rill-bench
else
    cargo build --release -q -p rill-bench --bin rill-bench --bin rill-probe -p rill-cli --bin rill-broker
    broker_bin=$target/rill-broker
    bench_bin=$target/rill-bench
fi
new_bench_bin=$target/rill-bench
probe_bin=$target/rill-probe
for bin in "$broker_bin" "$bench_bin" "$probe_bin"; do
    [[ -x $bin ]] || { log "no executable $bin"; exit 1; }
done
"$bench_bin" --help >"$WORK/bench-help"

disk=$(df --output=source,fstype,size,avail -h "$BENCH_DIR" | tail -1 | tr -s " ")
device=$(df --output=source "$BENCH_DIR" | tail -1)
echo "# benches/compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
    "kernel $(uname -r)$(command -v systemd-detect-virt >/dev/null && echo ", virt: $(systemd-detect-virt || true)")"
echo "- disk of $BENCH_DIR: $disk (source, type, size, free)$(lsblk -dno ROTA "$device" 2>/dev/null |
    awk '{ print ($1 == 1 ? ", rotational" : ", not rotational") }')$(lsblk -dno MODEL "$device" 2>/dev/null |
    awk 'NF { print ", model " $0 }')"
echo "- tree: $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
echo "- broker: $broker_bin ($("$broker_bin" --version))"
echo "- client: $bench_bin ($("$bench_bin" --version)); probe: $probe_bin"
echo "- settings: RUNS=$RUNS (rows 1-8, 10, 12, 13; median (min–max)), ROWS=$ROWS, QUICK=$QUICK, IDLE=$IDLE"
echo "- Rill rows: a fresh rill-broker per run on 127.0.0.1, data in $BENCH_DIR;" \
    "rill-bench defaults: 6 partitions, batches of 64 KiB, linger 5 ms"
echo

# Runs each row in its own shell (errors end the row, not the script; its trap
# stops what it started), in the background and in its own process group (set -m),
# so that an interrupted script stops the row at once.
set -m
IFS=, read -ra wanted <<<"$ROWS"
for row in "${wanted[@]}"; do
    if ! declare -F "row_$row" >/dev/null && [[ $row != 1 ]]; then
        log "no row $row (rows are 1 to 13)"
        continue
    fi
    rm -f "$WORK/bench-note"
    (
        trap cleanup EXIT
        trap 'exit 143' TERM
        if [[ $row == 1 ]]; then
            for name in loopback dd ddsync redis; do ref "$name" || true; done
        else
            "row_$row"
        fi
    ) &
    row_pid=$!
    status=0
    wait "$row_pid" || status=$?
    row_pid=
    if ((status != 0)) && ! compgen -G "$WORK/rows/$(printf '%02d' "$row")*" >/dev/null; then
        table_row "$(printf '%02d' "$row")" "$row $(label "$row")" \
            "failed (exit $status; see the log above)" "" "" "" ""
    fi
done

echo "| row | Rill | reference (what, value) | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
for file in "$WORK/rows"/*; do
    [[ -e $file ]] && cat "$file"
done
