#!/usr/bin/env bash
# test_chaos.sh: 2,000 jobs (fake worker mode "chaos": ok, slow, error,
# segv, garbage frames, early exit, final frames with a random byte
# flipped) through `harn batch -j 2 --retries 1 --results`, while random
# workers are SIGKILLed from outside and the supervisor itself is SIGKILLed
# twice and resumed with --resume (docs/sandbox.md "Journal and resume").
# At the end: every job has exactly one record per attempt, attempts of a
# job are 1..n without gaps, every job's last record is a real outcome (not
# supervisor_lost), no worker survives, no child or fd is left in the last
# supervisor (HARN_SUP_STATS).
set -u
. "$(dirname "$0")/lib.sh"
lib_init fake
N=${HARN_CHAOS_JOBS:-2000}
# A private copy, so that pgrep finds our workers only.
cp "$FAKE" ./chaosw$$
W=chaosw$$
export HARN_WORKER_CMD=$T/$W
echo "// chaos" > chaos.harn
for i in $(seq 1 "$N"); do printf '{"id":"c%d","file":"chaos.harn"}\n' "$i"; done > jobs.jsonl
printf '{"id":"one","file":"chaos.harn"}\n' > one.jsonl
HARN_SUP_STATS=1 "$HARN_BIN" batch one.jsonl -j 2 --results one.out --no-bar 2> one.err
base=$(sed -n 's/^harn-stats: fds=\([0-9]*\).*/\1/p' one.err)

# Random SIGKILLs of workers (children of any supervisor of ours).
killer() {
  while :; do
    for p in $(pgrep -x "$W" | shuf -n 1 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    sleep 0.0$((RANDOM % 9 + 1))
  done
}
killer &
kp=$!

run_and_kill() { # $1: extra args; kill the supervisor after $2 records
  "$HARN_BIN" batch jobs.jsonl -j 2 --retries 1 --results res.jsonl --no-bar $1 2>> err.log &
  local sp=$!
  while kill -0 "$sp" 2>/dev/null; do
    [ -f res.jsonl ] && [ "$(wc -l < res.jsonl)" -ge "$2" ] && break
    sleep 0.05
  done
  kill -9 "$sp" 2>/dev/null
  wait "$sp" 2>/dev/null
}
run_and_kill "" $((N / 4))
n1=$(wc -l < res.jsonl)
run_and_kill "--resume" $((N / 2))
n2=$(wc -l < res.jsonl)
HARN_SUP_STATS=1 "$HARN_BIN" batch jobs.jsonl -j 2 --retries 1 --results res.jsonl --no-bar --resume 2> last.err
rc=$?
kill "$kp" 2>/dev/null
wait "$kp" 2>/dev/null
echo "     records after kill 1: $n1, after kill 2: $n2, at the end: $(wc -l < res.jsonl); final rc=$rc"
grep -h "lost with the previous supervisor" err.log last.err | sed 's/^/     /'

python3 - "$N" res.jsonl > check.out <<'EOF'
import json, sys, collections
n = int(sys.argv[1])
recs = [json.loads(l) for l in open(sys.argv[2])]
byid = collections.defaultdict(list)
for r in recs:
    byid[r["id"]].append(r)
problems = []
if len(byid) != n:
    problems.append("jobs with records: %d, expected %d" % (len(byid), n))
for i, rs in byid.items():
    atts = [r["attempt"] for r in rs]
    if sorted(atts) != list(range(1, len(atts) + 1)):
        problems.append("%s: attempts %s" % (i, atts))
    last = max(rs, key=lambda r: r["attempt"])
    if last.get("reason") == "supervisor_lost":
        problems.append("%s: last record is supervisor_lost" % i)
lost = sum(1 for r in recs if r.get("reason") == "supervisor_lost")
stat = collections.Counter((r["status"] + "/" + str(r.get("reason"))) for r in recs)
print("problems:", len(problems))
for p in problems[:10]:
    print("  ", p)
print("lost:", lost)
print("outcomes:", dict(stat))
EOF
cat check.out | sed 's/^/     /'
grep -q "^problems: 0" check.out && pass "exactly one record per (job, attempt), attempts 1..n, no job left lost" \
  || fail "records (see above)"
grep -q "^lost: [1-9]" check.out && pass "attempts running at a supervisor kill are recorded supervisor_lost" \
  || echo "     (no attempt was running at the kills)"
grep -q '"reason":"protocol"' res.jsonl && pass "corrupted frames end jobs as crashed/protocol" || fail "no protocol record"
grep -q '"signal:SIGKILL"' res.jsonl && pass "externally killed workers are recorded" || fail "no SIGKILL record"
sleep 0.2
left=$(pgrep -x "$W" | wc -l)
[ "$left" = 0 ] && pass "no worker survives" || fail "$left workers alive"
fds=$(sed -n 's/^harn-stats: fds=\([0-9]*\).*/\1/p' last.err)
kids=$(sed -n 's/^harn-stats: fds=[0-9]* children=\([a-z]*\).*/\1/p' last.err)
[ "$fds" = "$base" ] && [ "$kids" = none ] && pass "last supervisor: fds $fds (base $base), children $kids" \
  || fail "last supervisor: fds $fds (base $base), children $kids"
zombies=$(ps -eo stat=,comm= | awk -v w="$W" '$1 ~ /^Z/ && $2 == w' | wc -l)
[ "$zombies" = 0 ] && pass "no zombie worker" || fail "$zombies zombies"
lib_finish
