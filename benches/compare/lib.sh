# shellcheck shell=bash disable=SC2154,SC2153 # globals: set in compare.sh and lib.sh
# Helpers of benches/compare.sh, sourced by it: processes (brokers started on fresh
# data directories and stopped by their pid), readings from /proc, numbers, JSON,
# and the result table. Globals set by compare.sh: BENCH_DIR, WORK, RUNS, QUICK,
# broker_bin, bench_bin, new_bench_bin, probe_bin.

# Processes this shell started; `cleanup` stops whichever is still set.
broker_pid=
broker_addr=
data=
iperf_pid=
probe_pid=

log() { echo "compare [+${SECONDS}s]: $*" >&2; }

# Stops every process this shell started, by pid, and removes its data.
cleanup() {
    local pid
    for pid in "$probe_pid" "$iperf_pid" "$broker_pid"; do
        [[ -n $pid ]] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    probe_pid='' iperf_pid='' broker_pid=''
    if [[ -n $data ]]; then
        rm -rf "$data" "$data.log"
        data=
    fi
    rm -f "$BENCH_DIR"/rill-compare-dd.* 2>/dev/null || true
    if declare -F stop_cluster >/dev/null; then stop_cluster; fi
    return 0
}

# Counts divided by 10 under QUICK=1 (at least 1).
n() { if [[ $QUICK == 1 ]]; then echo $(($1 / 10 > 0 ? $1 / 10 : 1)); else echo "$1"; fi; }

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
}

# Starts rill-broker on the existing data directory $data with the fsync policy $1
# and further flags, on a free port, without waiting: sets broker_pid, broker_addr.
launch_broker() {
    local fsync=$1
    shift
    broker_addr=127.0.0.1:$(free_port)
    "$broker_bin" --data-dir "$data" --listen "$broker_addr" --fsync "$fsync" "$@" \
        >>"$data.log" 2>&1 &
    broker_pid=$!
}

# Starts rill-broker on a new, empty data directory under $BENCH_DIR and waits
# until it accepts connections. Arguments as launch_broker.
start_broker() {
    data=$(mktemp -d "$BENCH_DIR/rill-compare.XXXXXX")
    launch_broker "$@"
    local _
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/${broker_addr%:*}/${broker_addr#*:}") 2>/dev/null; then
            return 0
        fi
        kill -0 "$broker_pid" 2>/dev/null || break
        sleep 0.05
    done
    log "the broker did not start:"
    tail -5 "$data.log" >&2
    return 1
}

# Stops the broker with SIGTERM (a clean shutdown) and waits for it.
stop_broker_process() {
    [[ -n $broker_pid ]] || return 0
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=
}

# Stops the broker and removes its data directory.
stop_broker() {
    stop_broker_process
    rm -rf "$data" "$data.log"
    data=
}

# A line of /proc/PID/status, in KiB: proc_kib PID VmHWM.
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
    sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($12 + $13) / hz }'
}

# Bytes of log segments under a directory.
log_bytes() { find "$1" -name '*.log' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

# A field of a JSON object in a file (the whole file, or else its last line), by
# dotted path ("produce.latency.p99_ms"); prints nothing when it is missing or null.
jget() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
text = open(sys.argv[1]).read().strip()
try:
    value = json.loads(text)
except ValueError:
    value = json.loads(text.splitlines()[-1])
for key in sys.argv[2].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value)
EOF
}

# Arithmetic on decimals: calc 'a / b' (awk), printed with %.6g.
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# Whether the comparison holds: holds '1.2 >= 0.8'.
holds() { awk "BEGIN { exit !($1) }"; }

# The median of the arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# A number with thousands separators and $2 decimals (default 0): 1,234,567.
num() {
    awk -v v="$1" -v d="${2:-0}" 'BEGIN {
        s = sprintf("%." d "f", v); sign = ""
        if (substr(s, 1, 1) == "-") { sign = "-"; s = substr(s, 2) }
        i = index(s, "."); int_part = i ? substr(s, 1, i - 1) : s; frac = i ? substr(s, i) : ""
        while (length(int_part) > 3) {
            frac = "," substr(int_part, length(int_part) - 2) frac
            int_part = substr(int_part, 1, length(int_part) - 3)
        }
        print sign int_part frac }'
}

# "median (min–max)" of the arguments, each formatted with num and $1 decimals;
# just the value when there is one.
spread() {
    local decimals=$1
    shift
    local med lo hi
    med=$(median "$@")
    if (($# == 1)); then
        num "$med" "$decimals"
        return
    fi
    lo=$(printf '%s\n' "$@" | sort -g | head -1)
    hi=$(printf '%s\n' "$@" | sort -g | tail -1)
    echo "$(num "$med" "$decimals") ($(num "$lo" "$decimals")–$(num "$hi" "$decimals"))"
}

# Adds a line to the result table: row KEY, then the cells row | Rill | reference |
# ratio | target | met?. KEY orders the table ("01a", "02", ...). The Rill cell of
# a Rill row names the rill-bench that ran, when it is not the one under test.
table_row() {
    local key=$1
    shift
    local line="|"
    local cell
    if [[ -f $WORK/bench-note && $key != 01* ]]; then
        set -- "$1" "$2 [$(cat "$WORK/bench-note")]" "${@:3}"
    fi
    for cell in "$@"; do line+=" $cell |"; done
    echo "$line" >"$WORK/rows/$key"
    log "$line"
}

# "yes" or "no".
yes_no() { if holds "$1"; then echo yes; else echo no; fi; }

# The rill-bench to run with these flags: the one under test, unless it lacks one
# of the flags (an older build); then this tree's, and a note in $WORK/bench-note
# for the rows of the current row's shell (compare.sh clears it between rows).
bench_for() {
    local flag
    for flag in "$@"; do
        [[ $flag == --* ]] || continue
        if ! grep -q -- "${flag%%=*}" "$WORK/bench-help"; then
            echo "rill-bench of this tree (the one under test has no $flag)" >"$WORK/bench-note"
            echo "$new_bench_bin"
            return
        fi
    done
    echo "$bench_bin"
}

# Runs rill-bench against the running broker with --json and the flags given;
# its JSON goes to the file $1. Fails, with rill-bench's complaint, if it fails.
bench_json() {
    local out=$1
    shift
    local bin
    bin=$(bench_for "$@" --json)
    if ! "$bin" --broker "$broker_addr" "$@" --json >"$out" 2>"$out.err"; then
        log "rill-bench $* failed:"
        tail -3 "$out.err" >&2
        return 1
    fi
}
