#!/usr/bin/env bash
# test_supervisor_real.sh: `harn run` / `harn batch` with the real
# `harn worker` (no HARN_WORKER_CMD): output streaming, exit codes,
# diagnostics, input binding, and the job deadline stopping a pipeline in a
# tight loop and one blocked in `sleep` (status timeout, exit 124), Ctrl-C
# (exit 130), and a directory batch with a results file.
set -u
HARN_BIN=${HARN_BIN:-$(dirname "$0")/../../build/harn}
[ -x "$HARN_BIN" ] || { echo "FAIL: no harn binary at $HARN_BIN"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 is needed"; exit 1; }
unset HARN_WORKER_CMD

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

fails=0
pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }
check() {
  local name=$1 file=$2 expr=$3
  if python3 - "$file" "$expr" <<'EOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = rs[0] if rs else None
ok = eval(sys.argv[2])
if not ok:
    print("   records:", json.dumps(rs)[:2000])
sys.exit(0 if ok else 1)
EOF
  then pass "$name"; else fail "$name"; fi
}

cat > hello.harn <<'EOF'
pipeline main(task) {
  println("hello")
  return 3
}
EOF
cat > loop.harn <<'EOF'
pipeline main(task) {
  var i = 0
  while true { i = i + 1 }
  return i
}
EOF
cat > sleepy.harn <<'EOF'
pipeline main(task) {
  println("going to sleep")
  sleep(10s)
  return 1
}
EOF
cat > div.harn <<'EOF'
pipeline main(task) {
  let a = 1
  let b = 0
  return a / b
}
EOF
cat > input.harn <<'EOF'
pipeline main(task) {
  println(task.name)
  return 0
}
EOF

out=$("$HARN_BIN" run hello.harn); rc=$?
[ "$rc" = 3 ] && [ "$out" = hello ] && pass "run: output on stdout, returned int is the exit code" \
  || fail "run hello: rc=$rc out=$out"
out=$("$HARN_BIN" run input.harn --input '{"name": "ada"}'); rc=$?
[ "$rc" = 0 ] && [ "$out" = ada ] && pass "run --input binds the pipeline's parameter" \
  || fail "run --input: rc=$rc out=$out"
"$HARN_BIN" run div.harn 2> div.err; rc=$?
[ "$rc" = 1 ] && grep -q '^error: Runtime error: Division by zero (line 4)$' div.err \
  && grep -q -- '--> div.harn:4:' div.err && pass "run: uncaught error diagnostic on stderr, exit 1" \
  || fail "run div: rc=$rc stderr=$(cat div.err)"

start=$(date +%s%N)
"$HARN_BIN" run loop.harn --timeout 300ms --json > loop.json; rc=$?
el=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 124 ] && [ "$el" -lt 3000 ] && pass "tight loop stopped at its deadline: exit 124 in ${el} ms" \
  || fail "tight loop: rc=$rc after ${el} ms"
check "tight loop: timeout/deadline, SIGTERM at ~300 ms, ended within the grace" loop.json \
  "r['status']=='timeout' and r['reason']=='deadline' and r['signals'][0]['sig']=='SIGTERM' and 299 <= r['signals'][0]['at_ms'] <= 450 and r['duration_ms'] < 300 + 250 + 200"

"$HARN_BIN" run sleepy.harn --timeout 300ms --json > sleepy.json; rc=$?
[ "$rc" = 124 ] && pass "sleep(10s) stopped at its deadline: exit 124" || fail "sleepy rc=$rc"
check "sleep: timeout/deadline, output before the deadline kept" sleepy.json \
  "r['status']=='timeout' and r['reason']=='deadline' and r['output']=='going to sleep\n' and r['duration_ms'] < 300 + 250 + 200"

"$HARN_BIN" run sleepy.harn > /dev/null 2>&1 &
p=$!
sleep 0.4
kill -INT "$p"
wait "$p"; rc=$?
[ "$rc" = 130 ] && pass "Ctrl-C on run with a real worker: exit 130" || fail "Ctrl-C rc=$rc"

mkdir jobs
cp hello.harn jobs/b.harn
cp hello.harn jobs/a.harn
cp div.harn jobs/c.harn
"$HARN_BIN" batch jobs -j 2 --results res.jsonl --no-bar; rc=$?
[ "$rc" = 1 ] && pass "batch with an error job exits 1" || fail "batch rc=$rc"
check "batch of a directory: sorted, one record each, statuses" res.jsonl \
  "sorted((x['file'],x['status']) for x in rs)==[('jobs/a.harn','ok'),('jobs/b.harn','ok'),('jobs/c.harn','error')] and [x for x in rs if x['status']=='error'][0]['error']['message'].startswith('Runtime error: Division by zero')"

echo "$fails failed"
[ "$fails" = 0 ]
