#!/usr/bin/env bash
# test_joblog.sh: harn batch as a GNU parallel user expects it (issue #18):
# one verdict per job (a returned Err fails the job, a returned int is its
# value), exit codes clamped to 0..255, a joblog byte for byte in GNU
# parallel's format (parallel itself is run on the same commands for
# reference), Commands that rerun the job, and interrupted jobs (Ctrl-C,
# SIGTERM, SIGHUP) rerun by a plain --resume.
#
# Real supervisor, real sandboxed workers, real signals. GNU parallel is a
# test dependency (scripts/setup); without it the comparison is skipped.
. "$(dirname "$0")/lib.sh"
lib_init fake python

printf 'pipeline default(t) {\n  return Err("bad thing")\n}\n' > err.harn
printf 'pipeline default(t) {\n  return 300\n}\n' > big.harn
printf 'pipeline default(t) {\n  return -5\n}\n' > neg.harn
printf 'pipeline default(t) {\n  println(t)\n  return 7\n}\n' > seven.harn
printf 'pipeline default(t) {\n  sleep(30000)\n}\n' > slow.harn
printf 'pipeline default(t) {\n  throw "boom"\n}\n' > throw.harn

# --- one verdict ---------------------------------------------------------------------------
"$HARN_BIN" run err.harn > /dev/null 2> err.out; rc=$?
[ "$rc" = 1 ] && [ "$(cat err.out)" = "bad thing" ] && pass "run: a returned Err prints its message, exit 1" \
  || fail "run Err: rc=$rc $(cat err.out)"
"$HARN_BIN" run big.harn; rc1=$?
"$HARN_BIN" run neg.harn; rc2=$?
"$HARN_BIN" run --inline big.harn; rc3=$?
[ "$rc1" = 255 ] && [ "$rc2" = 0 ] && [ "$rc3" = 255 ] && pass "run: a returned int is clamped to 0..255 (300: 255, -5: 0)" \
  || fail "clamp: $rc1 $rc2 $rc3"
"$HARN_BIN" batch err.harn seven.harn big.harn --results v.jsonl --joblog v.log --no-bar 2>/dev/null; rc=$?
check "batch: Err is a failed job (error/returned_err), an int an ok one (exit $rc)" v.jsonl \
  "$rc==1 and sorted((x['id'],x['status'],x.get('reason'),x['value'] if x['status']=='ok' else None) for x in rs)==[('big.harn','ok',None,300),('err.harn','error','returned_err',None),('seven.harn','ok',None,7)]"
awk -F'\t' 'NR>1 { print $9, $7, $8 }' v.log | sort > v.cols
printf '%s\n' 'harn run big.harn 0 0' 'harn run err.harn 1 0' 'harn run seven.harn 0 0' > v.want
cmp -s v.cols v.want && pass "joblog: Exitval 0 for an int returned (its value), 1 for Err" || fail "joblog verdicts: $(cat v.cols)"
"$HARN_BIN" batch err.harn --results rf.jsonl --no-bar 2>/dev/null
"$HARN_BIN" batch err.harn --results rf.jsonl --resume-failed --no-bar 2>/dev/null
check "--resume-failed reruns a job that returned Err" rf.jsonl "[x['attempt'] for x in rs]==[1,2]"

# --- the joblog against GNU parallel's ---------------------------------------------------------
printf '{"id":"a","file":"seven.harn","input":{"k":"tab\\there","q":"it'"'"'s"}}\n' > m.jsonl
printf '{"id":"b","source":"pipeline default(t) {\\n  println(\\"two\\\\nlines\\")\\n}"}\n' >> m.jsonl
printf '{"id":"c","file":"throw.harn"}\n{"id":"d","file":"slow.harn","timeout":"300ms"}\n' >> m.jsonl
"$HARN_BIN" batch m.jsonl -j 1 --joblog h.log --results h.jsonl --no-bar 2>/dev/null
python3 - h.log <<'EOF' && pass "joblog: one line per attempt, 9 columns, the header and widths of GNU parallel" || fail "joblog shape: $(cat -A h.log)"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "" and len(lines) == 6, lines
assert lines[0] == "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
for l in lines[1:-1]:
    f = l.split("\t")
    assert len(f) == 9, f
    assert f[1] == ":" and f[4] == "0" and re.fullmatch(r"\d+\.\d{3}", f[2]), f
    assert len(f[3]) == 10 and re.fullmatch(r" *\d+\.\d{3}", f[3]), f
EOF
# every Command reruns its job: the same output as the batch's record
ok=1
while IFS=$'\t' read -r seq host st rt snd rcv ev sig cmd; do
  [ "$seq" = Seq ] && continue
  id=$(python3 -c "import json,sys; print([json.loads(l)['id'] for l in open('h.jsonl')][int(sys.argv[1])-1])" "$seq")
  want=$(python3 -c "import json,sys; print([json.loads(l)['output'] for l in open('h.jsonl')][int(sys.argv[1])-1], end='')" "$seq")
  got=$(PATH=$(dirname "$HARN_BIN"):$PATH bash -c "$cmd" 2>/dev/null)
  [ "$got" = "$(printf '%s' "$want" | sed '$ { /^$/d }')" ] || { ok=0; echo "# $id: $cmd -> [$got] want [$want]"; }
done < h.log
[ $ok = 1 ] && pass "joblog: each Command (quoted, tabs and newlines escaped) reruns its job" || fail "joblog commands"
if command -v parallel > /dev/null; then
  # The same four ends under GNU parallel, with the programs parallel users
  # run: ok (true), an error (exit 1), a deadline (parallel --timeout on
  # sleep), a kill (SIGKILL). harn's ok job returns nil, its error throws,
  # its deadline job sleeps past --timeout, and its killed job (the fake
  # worker, deaf to SIGTERM) outlives the grace.
  printf '%s\n' true 'sh -c "exit 1"' 'sleep 30' 'sh -c "kill -9 \$\$"' > cmds
  parallel -j 1 --timeout 1 --joblog p.log < cmds > /dev/null 2>&1
  printf 'pipeline default(t) {\n  println("x")\n}\n' > nil.harn
  "$HARN_BIN" batch nil.harn throw.harn slow.harn -j 1 --timeout 1s --joblog h2.log --no-bar > /dev/null 2>&1
  printf 'pipeline default(t) {}\n' > ignore.harn
  HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch ignore.harn --timeout 200ms --grace 200ms --joblog h3.log --no-bar > /dev/null 2>&1
  tail -n +2 h3.log >> h2.log
  python3 - h2.log p.log <<'EOF2' && pass "joblog: Exitval and Signal as GNU parallel writes them (ok 0 0, error 1 0, deadline -1 15, kill 0 9)" || fail "vs parallel: $(cat -A h2.log p.log)"
import sys
h = [l.split("\t") for l in open(sys.argv[1]).read().split("\n")[:-1]]
p = [l.split("\t") for l in open(sys.argv[2]).read().split("\n")[:-1]]
assert h[0] == p[0], (h[0], p[0])            # the header, byte for byte
assert len(h) == len(p) == 5, (h, p)
hs = sorted((x[6], x[7]) for x in h[1:])
ps = sorted((x[6], x[7]) for x in p[1:])
assert hs == ps == sorted([("0", "0"), ("1", "0"), ("-1", "15"), ("0", "9")]), (hs, ps)
for x in h[1:] + p[1:]:
    assert len(x) == 9 and len(x[3]) == 10 and x[1] == ":" and x[4] == "0", x
EOF2
else
  echo "skip - GNU parallel not installed: the comparison with its joblog"
fi

# --- interrupted jobs are rerun by --resume; SIGHUP is SIGTERM ----------------------------------
for sig in INT TERM HUP; do
  rm -f int.jsonl int.jsonl.journal
  "$HARN_BIN" batch seven.harn slow.harn -j 2 --results int.jsonl --no-bar --grace 5s 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do [ -s int.jsonl ] && break; sleep 0.1; done
  sleep 0.3
  kill -$sig $pid
  wait $pid; rc=$?
  want=$((128 + $(kill -l $sig)))
  check "SIG$sig: exit $want (got $rc), the slow job's record says cancelled" int.jsonl \
    "$rc==$want and sorted((x['id'],x['status']) for x in rs)==[('seven.harn','ok'),('slow.harn','cancelled')]"
done
printf 'pipeline default(t) {\n  println("now quick")\n}\n' > slow.harn
"$HARN_BIN" batch seven.harn slow.harn -j 2 --results int.jsonl --resume --no-bar 2>/dev/null; rc=$?
check "a plain --resume reruns the cancelled job (attempt 2), not the finished one" int.jsonl \
  "$rc==0 and [(x['id'],x['attempt'],x['status']) for x in rs][2:]==[('slow.harn',2,'ok')] and len(rs)==3"

# --- GNU parallel's --halt forms, -j forms, bare seconds ---------------------------------------
printf 'pipeline default(t) {\n  sleep(200)\n  println("won")\n}\n' > quick.harn
printf 'pipeline default(t) {\n  sleep(30000)\n}\n' > slow.harn
t0=$(date +%s)
"$HARN_BIN" batch quick.harn slow.harn slow.harn -j 3 --halt now,success=1 --results h.jsonl --no-bar 2> h.err; rc=$?
el=$(( $(date +%s) - t0 ))
check "--halt now,success=1: the first success ends the batch, exit 0, the others cancelled (${el} s)" h.jsonl \
  "$rc==0 and $el < 20 and sorted(x['status'] for x in rs)==['cancelled','cancelled','ok']"
grep -q 'halting after 1 successful job' h.err && pass "--halt success: said on stderr" || fail "halt message: $(cat h.err)"
"$HARN_BIN" batch quick.harn quick.harn quick.harn -j 1 --halt soon,done=2 --results d.jsonl --no-bar 2>/dev/null; rc=$?
check "--halt soon,done=2: two jobs end, the third never starts" d.jsonl "$rc==0 and len(rs)==2"
"$HARN_BIN" batch throw.harn quick.harn -j 1 --halt 1 --results l.jsonl --no-bar 2>/dev/null; rc=$?
check "--halt 1 (parallel's old number: soon,fail=1)" l.jsonl "$rc==1 and [x['id'] for x in rs]==['throw.harn']"
"$HARN_BIN" run slow.harn --timeout 1 --grace 2 > /dev/null 2>&1; rc=$?
[ "$rc" = 124 ] && pass "--timeout 1: a bare number is seconds (as timeout(1))" || fail "bare seconds: rc=$rc"
"$HARN_BIN" batch quick.harn quick.harn quick.harn quick.harn -j 200% --results j.jsonl --no-bar 2>/dev/null; rc=$?
check "-j 200% runs (twice the CPUs)" j.jsonl "$rc==0 and len(rs)==4"

# --- results that are not a file ----------------------------------------------------------------
mkdir -p dev && cd dev && "$HARN_BIN" batch ../quick.harn --results - --no-bar > out.jsonl 2>/dev/null; rc=$?
check "--results -: the records on stdout" out.jsonl "$rc==0 and len(rs)==1 and rs[0]['status']=='ok'"
[ ! -e ./-.journal ] && [ ! -e ./- ] && pass "--results -: no file named -, no journal" || fail "--results - made files: $(ls)"
cd .. && "$HARN_BIN" batch quick.harn --results /dev/null --no-bar 2>/dev/null; rc=$?
[ "$rc" = 0 ] && [ ! -e /dev/null.journal ] && pass "--results /dev/null: no /dev/null.journal" || fail "dev null journal: rc=$rc"
"$HARN_BIN" batch quick.harn --results /dev/null --resume 2> dn.err; rc=$?
[ "$rc" = 2 ] && grep -q 'a regular file' dn.err && pass "--resume with /dev/null: a usage error" || fail "resume devnull: rc=$rc $(cat dn.err)"

lib_finish
