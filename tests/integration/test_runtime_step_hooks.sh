#!/usr/bin/env bash
# test_runtime_step_hooks.sh: step records made by PreStep / PostStep hooks
# (RUNTIME.md 7.5, 7.6) through the real supervisor and worker: a PreStep
# deny gives a `failed` record `hook_denied: <reason>` with duration 0; a
# PostStep failure gives a `failed` record with the hook's error text and
# the error is raised at the call site; a normal call is `completed`.
set -u
HARN_BIN=${HARN_BIN:-$(dirname "$0")/../../build/harn}
[ -x "$HARN_BIN" ] || { echo "FAIL: no harn binary at $HARN_BIN"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 is needed"; exit 1; }
unset HARN_WORKER_CMD

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

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
if python3 - out.json <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
got = [(s['name'], s['status'], s['error']) for s in r['steps']]
want = [('a', 'completed', None), ('a', 'failed', 'hook_denied: zero'),
        ('bee', 'completed', None), ('bee', 'failed', 'Thrown: boom')]
ok = got == want and r['steps'][1]['duration_ms'] == 0 and r['status'] == 'ok' \
    and r['output'] == 'zero\nboom\n' and r['value'] == 7
if not ok:
    print(json.dumps(r)[:3000])
sys.exit(0 if ok else 1)
EOF
then echo "ok   - hook records"; echo "all passed"; exit 0
else echo "FAIL - hook records"; exit 1
fi
