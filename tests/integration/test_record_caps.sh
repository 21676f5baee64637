#!/usr/bin/env bash
# test_record_caps.sh: what a job sends cannot grow the supervisor without
# bound (issue 19), and every record carries `counters`.
#  - `harn batch -j 8` over 9 scripts that flood harness.emit, step records
#    (small ones past the 10,000-entry cap, 64 KiB ones past the 16 MiB
#    cap), lifecycle payloads (a 9 MB return value rides in every lifecycle
#    event), two of them in endless loops until their deadline (3 s): the
#    supervisor's peak RSS (VmHWM of /proc/PID/status, sampled while it
#    runs) stays under 200 MB (about 100 MB with the caps; about 500 MB
#    and 130 MB record lines without them), every job has exactly one
#    record, each array within its caps, flagged `*_truncated` with the
#    count in `dropped`;
#  - a hostile (fake) worker sending 20,000 step, emit and lifecycle frames
#    each: 10,000 of each kept, 10,000 of each counted as dropped;
#  - `--max-events N` lowers the entry cap (`harn run`), 0 is a usage error;
#  - records without a final frame (killed after the grace, crashed by a
#    signal, killed by --cpu, a spawn that never succeeded, the
#    supervisor_lost record of --resume) carry `counters`: wall and CPU time
#    measured by the supervisor, steps and output bytes received, null for
#    what only the VM knows.
set -u
. "$(dirname "$0")/lib.sh"
lib_init fake python

MB=$((1024 * 1024))
RSS_BOUND_KB=$((200 * 1024))

# Run "$@" in the background and print the peak VmHWM (kB) of that process,
# sampled every 50 ms until it exits; its exit status goes to $T/rc.
peak_rss() {
  "$@" &
  local pid=$! peak=0 hwm
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    sleep 0.05
  done
  wait "$pid"
  echo $? > "$T/rc"
  echo "$peak"
}

# ---- the flood: -j 8, nine jobs ----------------------------------------------
mkdir flood
cat > flood/emits_small.harn <<'EOF'
pipeline main(task) {
  pipeline_on_finish(fn(h, v) {
    var i = 0
    while i < 30000 { h.emit("tick", i); i = i + 1 }
    return i
  })
  return 0
}
EOF
cat > flood/emits_forever.harn <<'EOF'
pipeline main(task) {
  pipeline_on_finish(fn(h, v) {
    var i = 0
    while true { h.emit("tick", {i: i, note: "a small event"}); i = i + 1 }
  })
  return 0
}
EOF
cat > flood/emits_big.harn <<'EOF'
let big = "e" * 65536
pipeline main(task) {
  pipeline_on_finish(fn(h, v) {
    var i = 0
    while i < 2000 { h.emit("blob", big); i = i + 1 }
    return i
  })
  return 0
}
EOF
cp flood/emits_big.harn flood/emits_big2.harn
cat > flood/steps_small.harn <<'EOF'
@step(name: "tick")
fn tick(i) { return i }
pipeline main(task) {
  var i = 0
  while i < 30000 { tick(i); i = i + 1 }
  return i
}
EOF
cat > flood/steps_forever.harn <<'EOF'
@step(name: "tick")
fn tick(i) { return i }
pipeline main(task) {
  var i = 0
  while true { tick(i); i = i + 1 }
}
EOF
# A failed step's record holds its error: 64 KiB each.
cat > flood/steps_big.harn <<'EOF'
let big = "s" * 65536
@step(name: "bad")
fn bad() { throw big }
pipeline main(task) {
  var i = 0
  while i < 2000 { try { bad() }; i = i + 1 }
  return i
}
EOF
# PreFinish, OnFinish and PostFinish each carry the 9 MB return value.
cat > flood/lifecycle_big.harn <<'EOF'
pipeline main(task) {
  pipeline_on_finish(fn(h, v) { return len(v) })
  return "l" * 9000000
}
EOF
cat > flood/mixed.harn <<'EOF'
@step(name: "tick")
fn tick(i) { return i }
pipeline main(task) {
  pipeline_on_finish(fn(h, v) {
    var i = 0
    while i < 12000 { h.emit("tick", i); i = i + 1 }
    return v
  })
  var i = 0
  while i < 12000 { tick(i); i = i + 1 }
  return i
}
EOF
{
  for f in emits_small emits_big emits_big2 steps_small steps_big lifecycle_big mixed; do
    printf '{"id":"%s","file":"flood/%s.harn","timeout":"60s"}\n' "$f" "$f"
  done
  printf '{"id":"emits_forever","file":"flood/emits_forever.harn","timeout":"3s"}\n'
  printf '{"id":"steps_forever","file":"flood/steps_forever.harn","timeout":"3s"}\n'
} > flood.jsonl

# Sanitizer builds: a small quarantine, so that freed memory counts as such.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
peak=$(peak_rss "$HARN_BIN" batch flood.jsonl -j 8 --results flood.out --no-bar 2> flood.err)
rc=$(cat "$T/rc")
[ "$rc" = 1 ] && pass "flood batch ends (exit 1: two jobs time out)" || fail "flood batch: rc=$rc ($(tail -3 flood.err))"
[ "$peak" -gt 0 ] && [ "$peak" -lt "$RSS_BOUND_KB" ] \
  && pass "supervisor peak RSS under the flood: $((peak / 1024)) MB (bound $((RSS_BOUND_KB / 1024)) MB)" \
  || fail "supervisor peak RSS under the flood: $((peak / 1024)) MB (bound $((RSS_BOUND_KB / 1024)) MB)"

# Every line at most 40 MiB; each array within its caps; the flags.
if python3 - flood.out "$MB" > flood.check 2>&1 <<'EOF'
import json, sys
MB = int(sys.argv[2])
lines = [l for l in open(sys.argv[1], "rb") if l.strip()]
problems = []
recs = {}
for l in lines:
    if len(l) > 40 * MB:
        problems.append("a record line of %d bytes" % len(l))
    r = json.loads(l)
    r.setdefault("dropped", {})  # so that an old record fails the checks below, not the script
    if r["id"] in recs:
        problems.append("two records for " + r["id"])
    recs[r["id"]] = r
want = {"emits_small", "emits_forever", "emits_big", "emits_big2", "steps_small",
        "steps_forever", "steps_big", "lifecycle_big", "mixed"}
if set(recs) != want:
    problems.append("ids: %s" % sorted(recs))
for i, r in recs.items():
    for k in ("steps", "lifecycle", "emits"):
        body = len(json.dumps(r[k], separators=(",", ":"), ensure_ascii=False)) - 2
        if len(r[k]) > 10000 or body > 16 * MB + 65536:
            problems.append("%s: %s has %d entries, %d bytes" % (i, k, len(r[k]), body))
        if r.get(k + "_truncated") != (r["dropped"].get(k, 0) > 0):
            problems.append("%s: %s_truncated disagrees with dropped" % (i, k))
    if not isinstance(r.get("counters"), dict):
        problems.append("%s: no counters" % i)
def expect(i, cond, what):
    try:
        good = cond(recs[i])
    except (KeyError, IndexError, TypeError):
        good = False
    if i in recs and not good:
        problems.append("%s: %s (%s)" % (i, what, json.dumps({k: recs[i].get(k) for k in
                        ("status", "reason", "dropped", "steps_truncated", "lifecycle_truncated",
                         "emits_truncated")})))
ok = lambda r: r["status"] == "ok"
expect("emits_small", lambda r: ok(r) and len(r["emits"]) == 10000 and r["emits_truncated"]
       and r["dropped"]["emits"] == 20000 and r["emits"][9999] == {"name": "tick", "data": 9999},
       "the first 10,000 emits kept, 20,000 dropped")
for i in ("emits_big", "emits_big2"):
    expect(i, lambda r: ok(r) and 200 < len(r["emits"]) < 260 and r["emits_truncated"]
           and len(r["emits"]) + r["dropped"]["emits"] == 2000, "16 MiB of 64 KiB emits kept")
expect("steps_small", lambda r: ok(r) and len(r["steps"]) == 10000 and r["steps_truncated"]
       and r["dropped"]["steps"] == 20000 and r["counters"]["steps_recorded"] == 30000,
       "10,000 steps kept, 20,000 dropped, the worker's count intact")
expect("steps_big", lambda r: ok(r) and 200 < len(r["steps"]) < 260 and r["steps_truncated"]
       and len(r["steps"]) + r["dropped"]["steps"] == 2000, "16 MiB of 64 KiB step records kept")
expect("lifecycle_big", lambda r: ok(r) and r["value"] == 9000000 and r["lifecycle_truncated"]
       and len(r["lifecycle"]) == 1 and r["lifecycle"][0]["event"] == "PreFinish"
       and r["dropped"]["lifecycle"] == 2, "one 9 MB lifecycle event kept, two dropped")
expect("mixed", lambda r: ok(r) and len(r["steps"]) == 10000 and len(r["emits"]) == 10000
       and r["dropped"]["steps"] == 2000 and r["dropped"]["emits"] == 2000
       and not r["lifecycle_truncated"], "both caps, per kind")
# How far these get before their deadline depends on the machine (a
# sanitizer build may not reach the cap): the checks above hold anyway.
for i, k in (("emits_forever", "emits"), ("steps_forever", "steps")):
    expect(i, lambda r: r["status"] == "timeout" and len(r[k]) > 0, "flooded until the deadline")
for i in want - {"emits_forever", "steps_forever", "mixed", "lifecycle_big"}:
    expect(i, lambda r: r["dropped"]["output_bytes"] == 0 and not r["output_truncated"], "no output")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
then pass "flood: one record per job, every array within 10,000 entries and 16 MiB, flagged"
else fail "flood records: $(head -c 3000 flood.check)"; fi

# ---- a hostile worker: 20,000 frames of each kind ----------------------------
mkdir hostile
for i in 1 2 3 4; do mkdir hostile/$i; echo "// evflood" > hostile/$i/evflood.harn; done
HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch hostile -j 4 --timeout 60s --results hostile.out --no-bar 2> hostile.err
check "hostile worker: 10,000 of each kind kept and 10,000 dropped, per job" hostile.out \
  'len(rs) == 4 and all(x["status"] == "ok" and all(len(x[k]) == 10000 and x[k + "_truncated"] and x["dropped"][k] == 10000 for k in ("steps", "lifecycle", "emits")) for x in rs)'
check "hostile worker: kept entries are the first ones" hostile.out \
  'all(x["emits"][-1] == {"name": "tick", "data": 9999} and x["lifecycle"][0]["payload"] == 0 for x in rs)'

# ---- --max-events ------------------------------------------------------------
cat > few.harn <<'EOF'
@step(name: "s")
fn s() { return 1 }
pipeline main(task) {
  pipeline_on_finish(fn(h, v) {
    for i in [1, 2, 3, 4, 5, 6, 7, 8] { h.emit("e", i) }
    return v
  })
  s()
  s()
  return 0
}
EOF
"$HARN_BIN" run few.harn --json --max-events 5 > few.out 2> few.err
check "--max-events 5: 5 emits kept, 3 dropped; 2 steps and 3 lifecycle events fit" few.out \
  '[e["data"] for e in r["emits"]] == [1, 2, 3, 4, 5] and r["dropped"] == {"output_bytes": 0, "steps": 0, "lifecycle": 0, "emits": 3} and r["emits_truncated"] and len(r["steps"]) == 2 and not r["steps_truncated"] and len(r["lifecycle"]) == 3'
"$HARN_BIN" run few.harn --json > few_default.out 2>&1
check "by default nothing is dropped" few_default.out \
  'len(r["emits"]) == 8 and r["dropped"] == {"output_bytes": 0, "steps": 0, "lifecycle": 0, "emits": 0} and not any(r[k + "_truncated"] for k in ("steps", "lifecycle", "emits"))'
"$HARN_BIN" run few.harn --max-events 0 > /dev/null 2> zero.err
rc=$?
[ "$rc" = 2 ] && grep -q -- "--max-events" zero.err && pass "--max-events 0 is a usage error" \
  || fail "--max-events 0: rc=$rc $(cat zero.err)"
"$HARN_BIN" batch few.harn --max-events 2 --results fewb.out --no-bar 2> fewb.err
check "harn batch --max-events 2" fewb.out \
  'len(r["emits"]) == 2 and r["dropped"]["emits"] == 6 and len(r["steps"]) == 2 and len(r["lifecycle"]) == 2 and r["dropped"]["lifecycle"] == 1'

# ---- counters in records without a final frame -------------------------------
mkdir kill
echo "// sleep" > kill/sleep.harn   # two steps, then deaf to SIGTERM
echo "// ignore" > kill/ignore.harn # "deaf\n", ignores every signal
echo "// segv" > kill/segv.harn     # SIGSEGV after `started`
HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch kill -j 3 --timeout 300ms --grace 100ms --results kill.out --no-bar 2> kill.err
# by: the records by file name; c: their counters.
K='(lambda by: (lambda c: EXPR)({k: v["counters"] for k, v in by.items()}))({x["id"].split("/")[-1]: x for x in rs})'
kcheck() { check "$1" kill.out "${K/EXPR/$2}"; }
kcheck "killed after the grace: counters with the supervisor's wall time, steps and output" \
  'by["sleep.harn"]["status"] == "killed" and c["sleep.harn"]["steps_recorded"] == 2 and c["sleep.harn"]["output_bytes"] == 0 and c["sleep.harn"]["wall_ms"] == by["sleep.harn"]["duration_ms"] >= 390 and by["ignore.harn"]["status"] == "killed" and c["ignore.harn"]["output_bytes"] == 5'
kcheck "crashed (SIGSEGV): counters" \
  'by["segv.harn"]["reason"] == "signal:SIGSEGV" and c["segv.harn"]["steps_recorded"] == 0 and c["segv.harn"]["wall_ms"] == by["segv.harn"]["duration_ms"]'
kcheck "records without a final frame: the same keys, null for what only the VM knows" \
  'len(rs) == 3 and all(sorted(v) == sorted(["wall_ms", "cpu_ms", "instructions", "tasks_spawned", "steps_recorded", "output_bytes", "peak_frames", "slow_polls"]) and v["instructions"] is None and v["tasks_spawned"] is None and v["peak_frames"] is None and v["slow_polls"] is None and v["cpu_ms"] >= 0 for v in c.values())'

cat > spin.harn <<'EOF'
pipeline main(task) {
  println("spinning")
  var i = 0
  while true { i = i + 1 }
}
EOF
"$HARN_BIN" run spin.harn --json --cpu 1s --timeout 30s > spin.out 2> spin.err
check "killed by --cpu (real worker): counters with its CPU time and output" spin.out \
  'r["status"] == "killed" and r["reason"] == "cpu" and r["counters"]["cpu_ms"] == r["cpu_ms"] and r["cpu_ms"] >= 500 and r["counters"]["output_bytes"] == 9 and r["counters"]["instructions"] is None'

if test_hooks; then
  HARN_TEST_SPAWN_EAGAIN=1000 "$HARN_BIN" run few.harn --json > spawn.out 2> spawn.err
  check "a spawn that never succeeded: counters with zeros and nulls" spawn.out \
    'r["reason"] == "spawn:EAGAIN" and r["counters"]["steps_recorded"] == 0 and r["counters"]["output_bytes"] == 0 and r["counters"]["cpu_ms"] == 0 and r["counters"]["peak_frames"] is None'
else
  echo "skip - a spawn that never succeeded: needs HARN_TEST_HOOKS"
fi

# A supervisor that died while "lost.harn" ran: its journal says started,
# the results say nothing.
echo 'pipeline main(task) { return 1 }' > lost.harn
: > lost.out
printf '{"ev":"start","id":"lost.harn","attempt":1,"file":"lost.harn"}\n' > lost.out.journal
"$HARN_BIN" batch lost.harn --resume --results lost.out --no-bar 2> lost.err
check "supervisor_lost record: counters, every one null" lost.out \
  'rs[0]["reason"] == "supervisor_lost" and rs[0]["counters"] is not None and all(v is None for v in rs[0]["counters"].values()) and len(rs[0]["counters"]) == 8 and rs[0]["dropped"] is None and rs[1]["status"] == "ok" and rs[1]["attempt"] == 2'

lib_finish
