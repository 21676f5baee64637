#!/usr/bin/env bash
# test_runtime_lifecycle.sh: interrupt handlers and the finish lifecycle
# through the real supervisor (docs/RUNTIME.md 5.5, 8, 9.2): an on_interrupt
# SIGTERM handler that logs and returns ends `timeout` with its output in
# the record and no lifecycle event; OnUnsettledDetected fires for a spawned
# task still running when the pipeline returns, `settle_pending()` in
# on_finish brings in its output; `harn run --events` streams PreFinish,
# OnUnsettledDetected, OnFinish, PostFinish in order with their controls,
# and harness.emit as an `emit` event; a failing run sends no lifecycle.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
CHECK_PICK=last # `run --events --json`: the terminal record is the last line

cat > handler.harn <<'EOF'
pipeline main(task) {
  on_interrupt(fn() { println("cleanup on SIGTERM") }, {signals: "SIGTERM"})
  register_lifecycle_hook("PreFinish", fn(p) { println("never: cancelled run") })
  pipeline_on_finish(fn(h, v) { println("never: on_finish") })
  println("working")
  while !is_cancelled() { sleep(10ms) }
  println("left the loop")
  return "done"
}
EOF
"$HARN_BIN" run --json --events --timeout 300ms handler.harn > handler.out 2>handler.err
check "SIGTERM handler logs and returns: timeout, output kept" handler.out \
  'r["status"] == "timeout" and r["reason"] == "deadline" and r["output"] == "working\ncleanup on SIGTERM\nleft the loop\n" and not r["hard_stop"]'
check "cancelled run: no lifecycle event, on_finish never called" handler.out \
  'lc == [] and r["lifecycle"] == [] and "never" not in r["output"]'

cat > unsettled.harn <<'EOF'
pipeline unsettled(task) {
  register_lifecycle_hook("OnUnsettledDetected", fn(p) {
    println("unsettled: ${len(p.unsettled.pending_tasks)}")
  })
  register_lifecycle_hook("PostFinish", fn(p) { return {block: true, reason: "late"} })
  pipeline_on_finish(fn(h, v) {
    h.emit("progress", {job: h.job_id, attempt: h.attempt})
    let s = settle_pending(5s)
    println("settled: ${s.settled}")
    return v + 1
  })
  spawn {
    sleep(50ms)
    println("task output")
  }
  return 41
}
EOF
"$HARN_BIN" run --json --events unsettled.harn > unsettled.out 2>unsettled.err
check "OnUnsettledDetected with a spawned task, on_finish result is the value" unsettled.out \
  'r["status"] == "ok" and r["value"] == 42 and r["output"] == "unsettled: 1\ntask output\nsettled: true\n"'
check "--events: lifecycle events in order" unsettled.out \
  '[e["event"] for e in lc] == ["PreFinish", "OnUnsettledDetected", "OnFinish", "PostFinish"]'
check "lifecycle payloads and controls" unsettled.out \
  'lc[0]["payload"]["return_value"] == 41 and lc[0]["payload"]["has_on_finish"] is True and lc[0]["control"] == "allow" and lc[0]["hooks"] == []'
check "OnUnsettledDetected payload lists the task" unsettled.out \
  'lc[1]["payload"]["unsettled"]["pending_tasks"] == [{"id": "vm_task_1", "started": False}] and lc[1]["hooks"] == [{"control": "allow"}]'
check "OnFinish allow, PostFinish block ignored with its reason" unsettled.out \
  'lc[2]["control"] == "allow" and lc[3]["control"] == "ignored" and lc[3]["hooks"] == [{"control": "block", "reason": "late"}] and lc[3]["payload"]["return_value"] == 42'
check "harness.emit: an emit event with job id and attempt" unsettled.out \
  '[(e["name"], e["data"]["attempt"]) for e in ev if e.get("type") == "emit"] == [("progress", 1)] and [e for e in ev if e.get("type") == "emit"][0]["data"]["job"] == r["id"]'
check "the --json record keeps the lifecycle events and emits" unsettled.out \
  'len(r["lifecycle"]) == 4 and len(r["emits"]) == 1'
check "lifecycle events precede the final frame" unsettled.out \
  '[e["type"] for e in ev if e["type"] in ("lifecycle", "final")][-1] == "final"'

cat > failing.harn <<'EOF'
pipeline main(task) {
  register_lifecycle_hook("PreFinish", fn(p) { println("never") })
  pipeline_on_finish(fn(h, v) { println("never") })
  throw "broken"
}
EOF
"$HARN_BIN" run --json --events failing.harn > failing.out 2>failing.err
check "failing run: error, no lifecycle event, no on_finish" failing.out \
  'r["status"] == "error" and lc == [] and "never" not in r["output"]'

cat > hookfail.harn <<'EOF'
pipeline main(task) {
  register_lifecycle_hook("PreFinish", fn(p) { return false })
  return 1
}
EOF
"$HARN_BIN" run --json --events hookfail.harn > hookfail.out 2>hookfail.err
check "PreFinish block: run error with the text, event sent with control block" hookfail.out \
  'r["status"] == "error" and r["error"]["message"].startswith("Runtime error: PreFinish hook returned block, which is not a valid control: PreFinish hook returned false.") and [e["control"] for e in lc] == ["block"]'

lib_finish
