#!/usr/bin/env bash
# test_runtime_signals.sh: RUNTIME.md 5 "tests must show" bullets that need
# the real supervisor and worker and were not covered elsewhere:
#  - cancel with no handler: a CPU loop that polls is_cancelled() leaves
#    normally (within the 1024-instruction countdown) and the run ends
#    `timeout` with the code after the loop having run;
#  - 5.4: a sleep(150ms) in flight when SIGTERM arrives (job deadline
#    100 ms) completes inside the 250 ms in-flight grace and the script goes
#    on; the cancelled error then comes from the countdown;
#  - 5.6: a worker stopped with SIGSTOP before its deadline still gets its
#    grace: the supervisor's SIGCONT after the SIGTERM resumes it, its
#    handler runs, and it ends `timeout` (not `killed`).
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
CHECK_PICK=last # `run --events --json`: the terminal record is the last line

cat > poll.harn <<'EOF'
pipeline poll(task) {
  var i = 0
  while !is_cancelled() { i = i + 1 }
  println("left the loop")
  return "clean"
}
EOF
"$HARN_BIN" run --json --timeout 200ms poll.harn > poll.out 2>poll.err
check "no handler: a loop polling is_cancelled() leaves normally" poll.out \
  'r["status"] == "timeout" and r["output"] == "left the loop\n" and not r["hard_stop"] and r["error"] is None'

cat > inflight.harn <<'EOF'
pipeline inflight(task) {
  sleep(150ms)
  println("sleep completed")
  var i = 0
  while true { i = i + 1 }
}
EOF
"$HARN_BIN" run --json --timeout 100ms inflight.harn > inflight.out 2>inflight.err
check "sleep(150ms) in flight at SIGTERM completes, then the countdown cancels" inflight.out \
  'r["status"] == "timeout" and r["output"] == "sleep completed\n" and "kind:cancelled:VM cancelled by host" in json.dumps(r["error"])'

cat > stopped.harn <<'EOF'
pipeline stopped(task) {
  on_interrupt(fn() { println("cleanup after SIGCONT") }, {signals: "SIGTERM"})
  println("working")
  var n = 0
  while !is_cancelled() && n < 500 { sleep(10ms); n = n + 1 }
  return "done"
}
EOF
"$HARN_BIN" run --json --events --timeout 1s --grace 2s stopped.harn > stopped.out 2>stopped.err &
runpid=$!
wpid=""
for _ in $(seq 1 200); do
  wpid=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    try: e = json.loads(l)
    except ValueError: continue
    if e.get("type") == "started": print(e["pid"]); break
' stopped.out 2>/dev/null)
  [ -n "$wpid" ] && break
  sleep 0.01
done
if [ -n "$wpid" ]; then
  sleep 0.2
  kill -STOP "$wpid" 2>/dev/null
  stopped_state=$(ps -o stat= -p "$wpid" 2>/dev/null | cut -c1)
fi
wait "$runpid"
[ -n "$wpid" ] && [ "${stopped_state:-}" = T ] && pass "worker stopped with SIGSTOP before its deadline" \
  || fail "could not stop the worker (pid '${wpid}', state '${stopped_state:-}')"
check "stopped worker: resumed by the supervisor, handler ran, timeout (not killed)" stopped.out \
  'r["status"] == "timeout" and r["reason"] == "deadline" and r["output"] == "working\ncleanup after SIGCONT\n" and r["value"] == "done"'

lib_finish
