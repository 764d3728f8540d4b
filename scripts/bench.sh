#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md against a local agentd and prints the
# figures: builds Release into build-bench/, starts `agentd serve` on a fresh temp data dir
# (a fresh server and data dir again for each streams size, so its RSS baseline is clean),
# drives it over loopback with build-bench/http_bench, prints a table, stops the server and
# removes the temp dir. Whole run: about 2 minutes.
#
# Environment (all optional):
#   BUILD_DIR=build-bench       build directory
#   BENCH_STREAMS="1000 10000"  concurrent SSE client counts for the streams scenario
#   BENCH_DURATION=5            seconds per saturate phase (/health, then /agent/start)
#   BENCH_STEADY_S=10           seconds of the open-loop steady scenario
#   BENCH_STEADY_RATE=200       starts/s of the steady scenario
#   BENCH_STOP_RUNS=200         runs of the stop scenario
#   BENCH_CLIENT_THREADS=1      client io threads (saturate, streams)
#   BENCH_IO_THREADS=0          server [server] io_threads (0 = one per hardware thread)
#   BENCH_SKIP_BUILD=1          use the binaries already in BUILD_DIR
#   BENCH_UPLOAD_MB="20 200"    file sizes of the upload scenario (a fresh server each)
#   BENCH_ONLY="saturate steady stop streams agent upload"   subset of scenarios to run
#   BENCH_AGENT_STEPS=2000      model steps of the agent scenario (agent_step_bench)
#   BENCH_OUT=FILE              also append the raw output here
#   BENCH_WRK=0                 skip the wrk cross-check of the saturate scenario
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build-bench}
STREAMS=${BENCH_STREAMS:-"1000 10000"}
DURATION=${BENCH_DURATION:-5}
STEADY_S=${BENCH_STEADY_S:-10}
STEADY_RATE=${BENCH_STEADY_RATE:-200}
STOP_RUNS=${BENCH_STOP_RUNS:-200}
CLIENT_THREADS=${BENCH_CLIENT_THREADS:-1}
IO_THREADS=${BENCH_IO_THREADS:-0}
UPLOAD_MB=${BENCH_UPLOAD_MB:-"20 200"}
ONLY=${BENCH_ONLY:-"saturate steady stop streams agent upload"}
AGENT_STEPS=${BENCH_AGENT_STEPS:-2000}

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target agentd http_bench agent_step_bench
fi
AGENT_BENCH=$BUILD_DIR/agent_step_bench
AGENTD=$BUILD_DIR/agentd
BENCH=$BUILD_DIR/http_bench
[[ -x $AGENTD && -x $BENCH ]] || { echo "bench.sh: missing $AGENTD or $BENCH" >&2; exit 1; }

# 10,000 streams need 10,000+ sockets in each process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < 10100 )); then
  echo "bench.sh: warning: ulimit -n is $(ulimit -n); 10,000 streams need more" >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentd-bench.XXXXXX")
FIGURES=$WORK/figures
: >"$FIGURES"
SERVER_PID=""
PORT=""
AGENTD_JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export AGENTD_JWT_SECRET

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "bench.sh: server $SERVER_PID ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: fresh data dir $WORK/NAME; sets SERVER_PID and PORT.
start_server() {
  local name=$1 dir=$WORK/$1
  mkdir -p "$dir"
  # The billing gate runs on every start (account read, model access, credits, thread, project
  # and concurrency counts in the start transaction) but with limits that never refuse: the
  # figures measure the gate's cost, not its refusals.
  cat >"$dir.toml" <<EOF
[server]
io_threads = $IO_THREADS
[accounts]
default_tier = "bench"
starting_credits = "1000000"
[tiers.bench]
concurrent_runs = 1000000
threads = 1000000
projects = 1000000
models = "all"
max_file_mb = 1024
EOF
  "$AGENTD" serve --port 0 --data-dir "$dir/data" --config "$dir.toml" \
    >"$dir.stdout" 2>"$dir.stderr" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    PORT=$(sed -n 's#^agentd listening on http://[^:]*:\([0-9]*\).*#\1#p' "$dir.stdout")
    [[ -n "$PORT" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$PORT" ]]; then
    echo "bench.sh: server did not start:" >&2
    cat "$dir.stdout" "$dir.stderr" >&2
    exit 1
  fi
  echo "-- server $name: pid $SERVER_PID, port $PORT, data dir $dir/data"
}

# run PREFIX SCENARIO ARGS...: runs one scenario, shows its output, keeps its figures.
run() {
  local prefix=$1
  shift
  local out=$WORK/out.$prefix
  local rc=0
  "$BENCH" "$@" --port "$PORT" --server-pid "$SERVER_PID" | tee "$out" || rc=$?
  sed -n "s/^FIGURE /$prefix /p" "$out" >>"$FIGURES"
  if [[ -n "${BENCH_OUT:-}" ]]; then cat "$out" >>"$BENCH_OUT"; fi
  (( rc == 0 )) || echo "   ($1: some requests failed, exit $rc)"
  "$BENCH" quiet --server-pid "$SERVER_PID" --max-seconds 20 || true
}

wants() { [[ " $ONLY " == *" $1 "* ]]; }

echo "== machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
T0=$SECONDS
if wants saturate || wants steady || wants stop; then
  start_server main
  if wants saturate; then
    run sat saturate --conns 64 --users 1000 --duration "$DURATION" --requests 200000 \
      --threads "$CLIENT_THREADS"
    if [[ "${BENCH_WRK:-1}" != 0 ]] && command -v wrk >/dev/null; then
      # Cross-check with an independent client (wrk: C, one thread, 64 connections).
      "$BENCH" tokens --users 1000 >"$WORK/tokens.txt"
      for what in health start; do
        echo "== wrk: $what, 64 connections, 3 s"
        if [[ $what == health ]]; then
          wrk -t1 -c64 -d3s "http://127.0.0.1:$PORT/health" | tee "$WORK/wrk.$what"
        else
          wrk -t1 -c64 -d3s -s bench/wrk_start.lua "http://127.0.0.1:$PORT" -- "$WORK/tokens.txt" \
            | tee "$WORK/wrk.$what"
        fi
        awk -v k="${what}_per_s" '/^Requests\/sec:/ { print "wrk", k, $2 }' "$WORK/wrk.$what" >>"$FIGURES"
        "$BENCH" quiet --server-pid "$SERVER_PID" --max-seconds 20 || true
      done
    fi
  fi
  if wants steady; then
    run steady steady --rate "$STEADY_RATE" --duration "$STEADY_S" --users 1000
  fi
  if wants stop; then
    run stop stop --runs "$STOP_RUNS"
  fi
  stop_server
fi
if wants streams; then
  for s in $STREAMS; do
    start_server "streams$s"
    run "s$s" streams --streams "$s" --threads "$CLIENT_THREADS" --lines 51 --interval 200
    stop_server
  done
fi
if wants agent; then
  # In-process (client + fake provider); no server. Baseline first, then the agent loop.
  echo "== agent loop per model step vs raw curl, $AGENT_STEPS steps"
  "$AGENT_BENCH" --steps "$AGENT_STEPS" | tee "$WORK/out.agent"
  sed -n "s/^FIGURE /agent /p" "$WORK/out.agent" >>"$FIGURES"
  if [[ -n "${BENCH_OUT:-}" ]]; then cat "$WORK/out.agent" >>"$BENCH_OUT"; fi
fi

if wants upload; then
  # One file through POST /agent/start (curl streams it from disk) against cp of the same file
  # on the same filesystem; the server's peak RSS (VmHWM) on a fresh server per size.
  token=$("$BENCH" tokens --users 1 | head -1)
  for mb in $UPLOAD_MB; do
    file=$WORK/upload$mb.bin
    head -c "$((mb * 1048576))" /dev/urandom >"$file"
    t0=$(date +%s.%N)
    cp "$file" "$file.copy"
    t1=$(date +%s.%N)
    rm -f "$file.copy"
    start_server "upload$mb"
    hwm_before=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
    out=$(curl -s -o "$WORK/upload$mb.json" -w '%{http_code} %{time_total}' \
      -H "Authorization: Bearer $token" -F prompt=upload -F "files=@$file;filename=big.bin" \
      "http://127.0.0.1:$PORT/agent/start")
    hwm_after=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
    read -r code secs <<<"$out"
    echo "== upload ${mb} MiB: HTTP $code in $secs s; cp $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s;" \
      "server VmHWM ${hwm_before} -> ${hwm_after} KiB"
    [[ $code == 200 ]] || cat "$WORK/upload$mb.json"
    awk -v mb="$mb" -v s="$secs" -v a="$t0" -v b="$t1" -v h="$hwm_after" -v h0="$hwm_before" 'BEGIN {
      printf "up%s upload_mib_per_s %.1f\n", mb, mb / s
      printf "up%s cp_mib_per_s %.1f\n", mb, mb / (b - a)
      printf "up%s upload_vs_cp_pct %.1f\n", mb, 100 * (b - a) / s
      printf "up%s peak_rss_mib %.1f\n", mb, h / 1024
      printf "up%s peak_rss_growth_mib %.1f\n", mb, (h - h0) / 1024 }' >>"$FIGURES"
    stop_server
    rm -f "$file"
  done
fi

# ---- table
fig() { awk -v p="$1" -v k="$2" '$1 == p && $2 == k { print $3 }' "$FIGURES" | tail -1; }
row() {  # label value unit target verdict
  printf '| %-44s | %14s | %-12s | %-7s |\n' "$1" "$2" "$3" "$4"
}
fmt() { [[ -n "$1" ]] && printf "%.${2:-1}f" "$1" || printf 'n/a'; }
verdict() {  # value op limit
  [[ -n "$1" ]] || { echo "n/a"; return; }
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? v >= l : v < l; print ok ? "met" : "MISSED" }'
}

echo
echo "== figures ($(( SECONDS - T0 )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '| %-44s | %14s | %-12s | %-7s |\n' "figure" "value" "target" "result"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..16})" \
  "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..9})"
if wants saturate; then
  v=$(fig sat start_per_s); row "1. starts/s, saturated, 64 conns" "$(fmt "$v" 0)" ">= 2000" "$(verdict "$v" ">=" 2000)"
  v=$(fig sat health_per_s); row "1. GET /health/s, same client" "$(fmt "$v" 0)" "" ""
  v=$(fig sat start_health_ratio_pct); row "1. starts/s as % of /health/s" "$(fmt "$v" 1)" ">= 10" "$(verdict "$v" ">=" 10)"
  v=$(fig wrk start_per_s); row "1. starts/s, wrk -t1 -c64" "$(fmt "$v" 0)" "" ""
  v=$(fig wrk health_per_s); row "1. GET /health/s, wrk -t1 -c64" "$(fmt "$v" 0)" "" ""
  v=$(fig sat start_p99_ms); row "1. start p99 at saturation, ms" "$(fmt "$v" 1)" "" ""
fi
if wants steady; then
  v=$(fig steady steady_p50_ms); row "2. start p50 at ${STEADY_RATE}/s open loop, ms" "$(fmt "$v" 2)" "" ""
  v=$(fig steady steady_p99_ms); row "2. start p99 at ${STEADY_RATE}/s open loop, ms" "$(fmt "$v" 2)" "< 5" "$(verdict "$v" "<" 5)"
fi
if wants streams; then
  for s in $STREAMS; do
    v=$(fig "s$s" streams_open); row "3. streams open ($s wanted)" "$(fmt "$v" 0)" "$s" "$(verdict "$v" ">=" "$s")"
    v=$(fig "s$s" streams_events_per_s); row "3. events/s delivered, $s streams" "$(fmt "$v" 0)" "" ""
    v=$(fig "s$s" streams_content_delay_p50_ms); row "3. event delay p50, $s streams, ms" "$(fmt "$v" 1)" "" ""
    v=$(fig "s$s" streams_content_delay_p99_ms); row "3. event delay p99, $s streams, ms" "$(fmt "$v" 1)" "" ""
    v=$(fig "s$s" streams_rss_per_stream_kib); row "3. server RSS per open stream, $s, KiB" "$(fmt "$v" 1)" "< 30" "$(verdict "$v" "<" 30)"
    v=$(fig "s$s" streams_rss_stream_only_kib); row "3. of which the stream itself, $s, KiB" "$(fmt "$v" 1)" "" ""
    v=$(fig "s$s" streams_rss_peak_per_stream_kib); row "3. RSS per stream at peak RSS, $s, KiB" "$(fmt "$v" 1)" "" ""
  done
fi
if wants upload; then
  for mb in $UPLOAD_MB; do
    v=$(fig "up$mb" upload_mib_per_s); row "6. upload ${mb} MiB via /agent/start, MiB/s" "$(fmt "$v" 1)" "" ""
    v=$(fig "up$mb" cp_mib_per_s); row "6. cp of the same file, MiB/s" "$(fmt "$v" 1)" "" ""
    v=$(fig "up$mb" upload_vs_cp_pct); row "6. upload speed as % of cp, ${mb} MiB" "$(fmt "$v" 1)" "" ""
    v=$(fig "up$mb" peak_rss_mib); row "6. server peak RSS (VmHWM), ${mb} MiB, MiB" "$(fmt "$v" 1)" "" ""
    v=$(fig "up$mb" peak_rss_growth_mib); row "6. peak RSS growth during upload, MiB" "$(fmt "$v" 1)" "" ""
  done
fi
if wants stop; then
  v=$(fig stop stop_event_p50_ms); row "4. stop -> terminal event p50, ms" "$(fmt "$v" 2)" "" ""
  v=$(fig stop stop_event_p99_ms); row "4. stop -> terminal event p99, ms" "$(fmt "$v" 2)" "< 50" "$(verdict "$v" "<" 50)"
fi
if wants agent; then
  v=$(fig agent agent_steps_per_s); row "5. agent loop model steps/s, 0-latency fake" "$(fmt "$v" 0)" "" ""
  v=$(fig agent baseline_steps_per_s); row "5. raw curl requests/s, same fake" "$(fmt "$v" 0)" "" ""
  v=$(fig agent agent_p50_us); row "5. agent step p50, us" "$(fmt "$v" 1)" "" ""
  v=$(fig agent baseline_p50_us); row "5. raw curl request p50, us" "$(fmt "$v" 1)" "" ""
  a=$(fig agent agent_p50_us); b=$(fig agent baseline_p50_us)
  if [[ -n "$a" && -n "$b" ]]; then
    row "5. added latency per step (p50), us" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", a - b }')" "" ""
  fi
  v=$(fig agent agent_p99_us); row "5. agent step p99, us" "$(fmt "$v" 1)" "" ""
fi
