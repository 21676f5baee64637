#!/usr/bin/env bash
# test_runtime_finish.sh: the finish lifecycle's host-facing details and the
# fast-path debug counter, through the real supervisor and worker:
#  - docs/RUNTIME.md 8.1 harness: a host object whose deadline_ms_remaining is
#    computed on read (two reads around a sleep in on_finish decrease), with
#    the job's id and attempt, nil without a job deadline;
#  - 8.1 payloads are copies through the JSON mapping: a hook that
#    "modifies" its payload changes neither v, the next hook's payload nor
#    the lifecycle event sent to the host; a closure in v maps to null;
#  - 8.1 step 7: a task still pending after PostFinish is aborted before the
#    final frame: its open step is recorded `failed` / `task cancelled`
#    ahead of `final`, its later output never appears, the job does not wait;
#  - 1.5: with nothing armed the slow-poll counter (final.counters.slow_polls)
#    stays 0 through the arithmetic benchmark loop, also with interrupt
#    handlers installed (the worker's signal handlers always are) and under a
#    far-away script deadline; a deadline that fires does take it.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
CHECK_PICK=last # `run --events --json`: the terminal record is the last line

# ---- harness.deadline_ms_remaining is computed on read ---------------------
cat > harness.harn <<'EOF'
pipeline harness(task) {
  pipeline_on_finish(fn(h, v) {
    let a = h.deadline_ms_remaining
    sleep(100ms)
    let b = h.deadline_ms_remaining
    return {a: a, b: b, job: h.job_id, attempt: h.attempt, type: type_of(h), shown: "${h}"}
  })
  return 0
}
EOF
"$HARN_BIN" run --json --timeout 20s harness.harn > harness.out 2>harness.err
check "harness: deadline_ms_remaining decreases across a sleep" harness.out \
  'r["status"] == "ok" and 0 < r["value"]["b"] < r["value"]["a"] <= 20000 and r["value"]["a"] - r["value"]["b"] >= 50'
check "harness: job id, attempt, type and display" harness.out \
  'r["value"]["job"] == r["id"] and r["value"]["attempt"] == 1 and r["value"]["type"] == "harness" and r["value"]["shown"] == "<harness>"'
"$HARN_BIN" run --json harness.harn > nodeadline.out 2>nodeadline.err
check "harness: nil deadline_ms_remaining without a job deadline" nodeadline.out \
  'r["status"] == "ok" and r["value"]["a"] is None and r["value"]["b"] is None'

# ---- payloads are JSON-mapping copies --------------------------------------
cat > payload.harn <<'EOF'
pipeline payload(task) {
  register_lifecycle_hook("PreFinish", fn(p) {
    var q = p
    q.return_value = "clobbered"
    var rv = p.return_value
    rv.items = rv.items.push(99)
    println("hook1 ${rv.items} ${type_of(p.return_value.f)}")
  })
  register_lifecycle_hook("PreFinish", fn(p) { println("hook2 ${p.return_value.items}") })
  pipeline_on_finish(fn(h, v) {
    println("on_finish ${v.items} ${type_of(v.f)}")
    return v.items
  })
  return {items: [1, 2], f: fn() { return 1 }}
}
EOF
"$HARN_BIN" run --json --events payload.harn > payload.out 2>payload.err
check "payload copies: hooks cannot change v or the next hook's payload" payload.out \
  'r["status"] == "ok" and r["value"] == [1, 2] and r["output"] == "hook1 [1, 2, 99] nil\nhook2 [1, 2]\non_finish [1, 2] closure\n"'
check "payload copies: the host gets the original, closures as null" payload.out \
  'lc[0]["event"] == "PreFinish" and lc[0]["payload"]["return_value"] == {"items": [1, 2], "f": None}'

# ---- pending tasks are aborted before the final frame ----------------------
cat > pending.harn <<'EOF'
@step(name: "slow_step")
fn slow() {
  sleep(5s)
  eprintln("late stderr (never)")
  println("late stdout (never)")
  return 1
}
pipeline pending(task) {
  spawn { slow() }
  sleep(20ms)
  println("body")
  return "done"
}
EOF
"$HARN_BIN" run --json --events pending.harn > pending.out 2>pending.err
check "pending task: its open step is recorded failed (task cancelled)" pending.out \
  'r["status"] == "ok" and r["value"] == "done" and [(s["name"], s["status"], s["error"]) for s in r["steps"]] == [("slow_step", "failed", "task cancelled")]'
check "pending task: step record after PostFinish, before final" pending.out \
  '[t for t in types if t in ("lifecycle", "step", "final")] == ["lifecycle", "lifecycle", "lifecycle", "step", "final"]'
check "pending task: its later output never appears, the job does not wait" pending.out \
  'r["output"] == "body\n" and "never" not in json.dumps(rs) and r["duration_ms"] < 3000'

# ---- docs/RUNTIME.md 1.5: the slow-poll counter ---------------------------------
loop='  var i = 0
  var acc = 0
  var f = 0.0
  while i < 200000 {
    acc = (acc + i * 7 - i / 3 + i % 11) % 1000003
    f = f + 0.5
    i = i + 1
  }
  println(acc)
  println(f)'
printf 'fn main() {\n%s\n}\nmain()\n' "$loop" > plain.harn
printf 'fn main() {\n%s\n}\npipeline armed(task) {\n  on_interrupt(fn() { println("never") }, {signals: ["SIGINT", "SIGTERM", "SIGHUP"]})\n  deadline 1h { main() }\n  return 0\n}\n' "$loop" > armed.harn
cat > fired.harn <<'EOF'
pipeline fired(task) {
  var i = 0
  let r = try { deadline 5ms { while true { i = i + 1 } } }
  println(r)
  return 0
}
EOF
"$HARN_BIN" run --json --timeout 60s plain.harn > plain.out 2>plain.err
check "slow_polls: 0 through the arithmetic loop" plain.out \
  'r["status"] == "ok" and r["counters"]["slow_polls"] == 0 and r["output"].endswith("100000.0\n")'
"$HARN_BIN" run --json --timeout 60s armed.harn > armed.out 2>armed.err
check "slow_polls: 0 with handlers installed and a far script deadline" armed.out \
  'r["status"] == "ok" and r["counters"]["slow_polls"] == 0 and r["output"].endswith("100000.0\n")'
"$HARN_BIN" run --json --timeout 60s fired.harn > fired.out 2>fired.err
check "slow_polls: a deadline that fires takes the slow path (the counter is live)" fired.out \
  'r["status"] == "ok" and r["counters"]["slow_polls"] >= 1 and r["output"] == "Result.Err(Deadline exceeded)\n"'

lib_finish
