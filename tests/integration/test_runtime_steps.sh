#!/usr/bin/env bash
# test_runtime_steps.sh: step records (docs/RUNTIME.md 7.5) through the real
# supervisor and worker: one record per invocation in completion order
# (completed / failed / skipped / escalated), each streamed as a `step`
# event the moment it is made (output written before it precedes it), and
# a worker SIGKILLed from outside after three completed steps still has
# the three records in its terminal record (crashed/signal:SIGKILL).
set -u
. "$(dirname "$0")/lib.sh"
lib_init python

cat > records.harn <<'EOF'
@step(name: "fetch", model: "m")
fn fetch(x) {
  step_charge({input_tokens: 3, output_tokens: 4, cost_usd: 0.25})
  return x + 1
}
@step(budget: {max_tokens: 5}, error_boundary: "continue")
fn skip() {
  step_charge({input_tokens: 6})
  return 1
}
@step(budget: {max_tokens: 5}, error_boundary: "escalate")
fn esc() {
  step_charge({input_tokens: 6})
  return 1
}
@step()
fn boom() { throw "boom" }
@step()
fn fact(n) {
  if n <= 1 { return 1 }
  return n * fact(n - 1)
}
@step(name: "outer")
fn outer() { return fetch(10) }
pipeline main(task) {
  println("before")
  let v = fetch(1)
  println(skip())
  try { esc() } catch (e) { println(e.category) }
  try { boom() } catch (e) { println(e) }
  println(fact(3))
  println(outer())
  return v
}
EOF
"$HARN_BIN" run records.harn --json > rec.json; rc=$?
[ "$rc" = 2 ] && pass "records job: exit code 2 (value)" || fail "records job rc=$rc"
check "one record per invocation, in completion order" rec.json \
  "[(s['name'], s['status']) for s in r['steps']] == [('fetch','completed'),('skip','skipped'),('esc','escalated'),('boom','failed'),('fact','completed'),('fact','completed'),('fact','completed'),('fetch','completed'),('outer','completed')]"
check "record fields of a completed step" rec.json \
  "(lambda s: s['function']=='fetch' and s['error'] is None and s['input_tokens']==3 and s['output_tokens']==4 and s['cost_usd']==0.25 and s['llm_calls']==1 and s['instructions']>0 and s['duration_ms']>=0 and s['started_at_ms']>1600000000000)(r['steps'][0])"
check "skipped / escalated / failed records carry the error text" rec.json \
  "r['steps'][1]['error']=='step \`skip\` exceeded max_tokens budget (6 > 5)' and r['steps'][2]['error']=='step \`esc\` exceeded max_tokens budget (6 > 5)' and r['steps'][3]['error']=='Thrown: boom'"
check "job output and status" rec.json \
  "r['status']=='ok' and r['output']=='before\nnil\nhandoff_escalation\nboom\n6\n11\n' and r['counters']['steps_recorded']==9"

"$HARN_BIN" run records.harn --events > ev.jsonl
check "--events: output before a step record precedes it; seq contiguous" ev.jsonl \
  "[e['type'] for e in rs if e['type']!='sandbox'][:3]==['started','output','step'] and [e['type'] for e in rs].count('step')==9 and [e['seq'] for e in rs]==list(range(len(rs))) and rs[-1]['type']=='final'"

# --- SIGKILL from outside after three completed steps ---------------------------
cat > killme.harn <<'EOF'
@step()
fn one(i) { return i * 2 }
pipeline main(task) {
  one(1)
  one(2)
  one(3)
  sleep(30s)
  return 0
}
EOF
"$HARN_BIN" run killme.harn --json > kill.json &
hp=$!
wp=""
for _ in $(seq 100); do
  wp=$(pgrep -P "$hp" | head -1)
  [ -n "$wp" ] && break
  sleep 0.05
done
sleep 1
[ -n "$wp" ] && kill -KILL "$wp"
wait "$hp"
check "worker SIGKILLed after three steps: crashed/signal:SIGKILL, three records kept" kill.json \
  "r['status']=='crashed' and r['reason']=='signal:SIGKILL' and [(s['name'], s['status']) for s in r['steps']]==[('one','completed')]*3"

# --- a cancelled task's open step is recorded failed, `task cancelled` ----------
cat > abandon.harn <<'EOF'
@step(name: "waiter")
fn waiter() {
  sleep(5s)
  return 1
}
pipeline main(task) {
  let h = spawn { waiter() }
  sleep(20ms)
  cancel(h)
  return await(h)
}
EOF
"$HARN_BIN" run abandon.harn --json > abandon.json
check "cancel(h) mid-step: one failed record with error 'task cancelled'" abandon.json \
  "r['status']=='ok' and [(s['name'], s['status'], s['error']) for s in r['steps']]==[('waiter','failed','task cancelled')]"

lib_finish
