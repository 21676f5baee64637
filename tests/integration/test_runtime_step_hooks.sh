#!/usr/bin/env bash
# test_runtime_step_hooks.sh: step records made by PreStep / PostStep hooks
# (docs/RUNTIME.md 7.5, 7.6) through the real supervisor and worker: a PreStep
# deny gives a `failed` record `hook_denied: <reason>` with duration 0; a
# PostStep failure gives a `failed` record with the hook's error text and
# the error is raised at the call site; a normal call is `completed`.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python

cat > hooks.harn <<'EOF'
@step()
fn a(x) { return x }
@step(name: "bee")
fn b(x) { return x }
pipeline main(task) {
  register_step_hook("a", "PreStep", { p -> if p.step.args[0] == 0 { return {deny: "zero"} } })
  register_step_hook("b?e", "PostStep", { p -> if p.output == 0 { throw "boom" } })
  a(1)
  try { a(0) } catch (e) { println(e.reason) }
  b(1)
  try { b(0) } catch (e) { println(e) }
  return 7
}
EOF
"$HARN_BIN" run hooks.harn --json > out.json
check "hook records" out.json \
  '[(s["name"], s["status"], s["error"]) for s in r["steps"]] == [("a", "completed", None), ("a", "failed", "hook_denied: zero"), ("bee", "completed", None), ("bee", "failed", "Thrown: boom")] and r["steps"][1]["duration_ms"] == 0 and r["status"] == "ok" and r["output"] == "zero\nboom\n" and r["value"] == 7'
lib_finish
