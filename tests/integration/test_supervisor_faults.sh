#!/usr/bin/env bash
# test_supervisor_faults.sh: the supervisor against misbehaving workers.
#
# Uses the fake worker (tests/helpers/fake_worker.c, built next to harn) via
# HARN_WORKER_CMD: it speaks the real protocol and picks its misbehaviour
# from the program's base name (ignore.harn, garbage.harn, ...). Real
# processes, real signals; timing bounds are generous (shared 2-core CI).
# Checks: deadline + grace + SIGKILL of the whole group (killed, signal
# times), SIGKILL from outside (crashed/signal:SIGKILL, steps kept),
# malformed frames (crashed/protocol) while other jobs run, exit without
# final, cut-off final, final then hang, output flood (capped), retries,
# resume, joblog, Ctrl-C on batch (a record per started job, no worker
# left, exit 130), a job over the frame limit, records and joblog lines that
# cannot be written, a repeated job id, usage errors, help texts.
set -u
. "$(dirname "$0")/lib.sh"
lib_init fake python
export HARN_WORKER_CMD=$FAKE
for m in ok exitcode error coop ignore sleep garbage biglen exit0 partial segv flood finalhang slow flaky; do
  echo "// fake worker mode $m" > "$m.harn"
done

sig_at() { echo "[s['at_ms'] for s in r['signals'] if s['sig']=='$1']"; }

# --- a plain job -------------------------------------------------------------
out=$("$HARN_BIN" run ok.harn); rc=$?
[ "$rc" = 42 ] && [ "$out" = "hello ok.harn" ] && pass "run ok: output streamed, int value is the exit code" \
  || fail "run ok: rc=$rc out=$out"
"$HARN_BIN" run ok.harn --json > ok.json
check "run --json record fields" ok.json \
  "r['status']=='ok' and r['attempt']==1 and r['value']==42 and r['exit_code']==42 and r['output']=='hello ok.harn\n' and len(r['steps'])==1 and r['signals']==[] and r['max_rss_kb']>0 and 'started_at' in r and r['duration_ms']>0"
"$HARN_BIN" run ok.harn --events > ev.jsonl
check "run --events: started, output, step, final in seq order" ev.jsonl \
  "[e['type'] for e in rs]==['started','output','step','final'] and [e['seq'] for e in rs]==[0,1,2,3]"
"$HARN_BIN" run error.harn > /dev/null 2> err.txt; rc=$?
[ "$rc" = 1 ] && grep -q '^error: Runtime error: boom' err.txt && pass "run error: exit 1, diagnostic on stderr" \
  || fail "run error: rc=$rc stderr=$(cat err.txt)"

# --- deadline, grace, SIGKILL of the group -------------------------------------
# (a generous grace: under ASan on a loaded machine the fake worker's exit,
# LeakSanitizer's scan included, once took over the default 250 ms, and
# once over 3 s)
"$HARN_BIN" run coop.harn --timeout 300ms --grace 10s --json > coop.json; rc=$?
[ "$rc" = 124 ] && pass "cooperative worker at its deadline: exit 124" || fail "coop rc=$rc"
check "cooperative worker: timeout/deadline, SIGTERM near 300 ms, no SIGKILL" coop.json \
  "r['status']=='timeout' and r['reason']=='deadline' and [s['sig'] for s in r['signals']]==['SIGTERM'] and 299 <= r['signals'][0]['at_ms'] <= 1000"

"$HARN_BIN" run ignore.harn --timeout 200ms --grace 300ms --json > ignore.json; rc=$?
[ "$rc" = 137 ] && pass "deaf worker: exit 137" || fail "deaf worker rc=$rc"
check "deaf worker: killed/deadline, SIGTERM then SIGKILL after the grace" ignore.json \
  "r['status']=='killed' and r['reason']=='deadline' and [s['sig'] for s in r['signals']]==['SIGTERM','SIGKILL'] and 199 <= r['signals'][0]['at_ms'] <= 900 and 295 <= r['signals'][1]['at_ms']-r['signals'][0]['at_ms'] <= 1000 and r['worker']['signal']=='SIGKILL'"
wpid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["worker"]["pid"])' ignore.json)
sleep 0.2
if ps -eo pgid=,stat= | awk -v g="$wpid" '$1 == g && $2 !~ /^Z/' | grep -q .; then fail "deaf worker: its group (grandchild) is gone"; else pass "deaf worker: its group (grandchild) is gone"; fi

"$HARN_BIN" run finalhang.harn --grace 200ms --json > fh.json
check "final then hang: SIGKILLed after the grace, keeps the frame's status" fh.json \
  "r['status']=='ok' and r['value']==5 and [s['sig'] for s in r['signals']]==['SIGKILL'] and 195 <= r['signals'][0]['at_ms'] <= 1000"

# --- SIGKILL from outside mid-job ---------------------------------------------
"$HARN_BIN" run sleep.harn --json > ext.json &
hp=$!
wp=""
for _ in $(seq 100); do
  wp=$(pgrep -P "$hp" | head -1)
  [ -n "$wp" ] && break
  sleep 0.05
done
sleep 0.3
[ -n "$wp" ] && kill -KILL "$wp"
wait "$hp"; rc=$?
check "worker SIGKILLed from outside: crashed/signal:SIGKILL, its 2 steps kept" ext.json \
  "r['status']=='crashed' and r['reason']=='signal:SIGKILL' and len(r['steps'])==2 and r['signals']==[]"

# --- protocol breakage -----------------------------------------------------------
"$HARN_BIN" run exit0.harn --json > e0.json
check "exit 0 without final: crashed/exit:0" e0.json "r['status']=='crashed' and r['reason']=='exit:0'"
"$HARN_BIN" run partial.harn --json > pa.json
check "final cut off mid-frame counts as absent" pa.json "r['status']=='crashed' and r['reason']=='exit:0'"
"$HARN_BIN" run segv.harn --json > sv.json
check "worker crash: crashed/signal:SIGSEGV" sv.json "r['status']=='crashed' and r['reason']=='signal:SIGSEGV'"
"$HARN_BIN" run biglen.harn --json > bl.json
check "oversize frame length: crashed/protocol, group SIGKILLed" bl.json \
  "r['status']=='crashed' and r['reason']=='protocol' and [s['sig'] for s in r['signals']]==['SIGKILL']"
"$HARN_BIN" run flood.harn --json > fl.json
check "output flood: capped at 1 MiB, output_truncated" fl.json \
  "r['status']=='ok' and len(r['output'])==1048576 and r['output_truncated'] is True"
"$HARN_BIN" run flood.harn --json --max-output 1000 > fl2.json
check "--max-output lowers the cap" fl2.json "len(r['output'])==1000 and r['output_truncated'] is True"

printf '%s\n' '{"id":"s1","file":"slow.harn"}' '{"id":"g","file":"garbage.harn"}' \
  '{"id":"s2","file":"slow.harn"}' '{"id":"s3","file":"ok.harn","input":{"a":[1,2]}}' > mix.jsonl
"$HARN_BIN" batch mix.jsonl -j 3 --results mix.out --no-bar; rc=$?
[ "$rc" = 1 ] && pass "batch with a failure exits 1" || fail "batch mix rc=$rc"
check "malformed frame: crashed/protocol while the other jobs end ok" mix.out \
  "sorted((x['id'],x['status'],x.get('reason')) for x in rs)==[('g','crashed','protocol'),('s1','ok',None),('s2','ok',None),('s3','ok',None)]"

# --- retries, joblog, resume ---------------------------------------------------------
printf '%s\n' '{"id":"f","file":"flaky.harn"}' '{"id":"k","file":"ok.harn"}' > retry.jsonl
"$HARN_BIN" batch retry.jsonl -j 2 --retries 2 --results retry.out --joblog retry.log --no-bar; rc=$?
[ "$rc" = 0 ] && pass "retried job that succeeds: batch exits 0" || fail "retry rc=$rc"
check "retries: attempt 1 crashed, attempt 2 ok, one record each" retry.out \
  "sorted((x['id'],x['attempt'],x['status']) for x in rs)==[('f',1,'crashed'),('f',2,'ok'),('k',1,'ok')]"
head -1 retry.log | grep -q $'^Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand$' \
  && [ "$(wc -l < retry.log)" = 4 ] && pass "joblog: GNU parallel header and one line per attempt" \
  || fail "joblog: $(cat retry.log)"
"$HARN_BIN" batch retry.jsonl mix.jsonl -j 2 --results retry.out --resume --no-bar; rc=$?
check "--resume runs only the jobs without a record" retry.out \
  "len(rs)==7 and sorted(x['id'] for x in rs[3:])==['g','s1','s2','s3']"
"$HARN_BIN" batch mix.jsonl -j 2 --results retry.out --resume-failed --no-bar
check "--resume-failed reruns failed jobs with the next attempt number" retry.out \
  "len(rs)==8 and rs[7]['id']=='g' and rs[7]['attempt']==2"

# --- halt --------------------------------------------------------------------------
printf '%s\n' '{"id":"h1","file":"segv.harn"}' '{"id":"h2","file":"slow.harn"}' '{"id":"h3","file":"ok.harn"}' \
  '{"id":"h4","file":"ok.harn"}' '{"id":"h5","file":"ok.harn"}' > halt.jsonl
"$HARN_BIN" batch halt.jsonl -j 1 --halt soon,fail=1 --results halt.out --no-bar 2>/dev/null; rc=$?
check "--halt soon,fail=1 starts nothing after the first failure" halt.out "[x['id'] for x in rs]==['h1']"
[ "$rc" = 1 ] && pass "halted batch exits 1" || fail "halt rc=$rc"

# --- Ctrl-C on batch --------------------------------------------------------------------
printf '%s\n' '{"id":"c1","file":"coop.harn"}' '{"id":"c2","file":"ignore.harn"}' \
  '{"id":"c3","file":"sleep.harn"}' '{"id":"c4","file":"ok.harn"}' > cancel.jsonl
"$HARN_BIN" batch cancel.jsonl -j 3 --grace 300ms --results cancel.out --no-bar &
bp=$!
sleep 0.5
kids=$(pgrep -P "$bp" | tr '\n' ' ')
kill -INT "$bp"
wait "$bp"; rc=$?
[ "$rc" = 130 ] && pass "Ctrl-C on batch: exit 130" || fail "Ctrl-C rc=$rc"
check "Ctrl-C: one terminal record per started job, none for the unstarted one" cancel.out \
  "sorted((x['id'],x['status'],x['reason']) for x in rs)==[('c1','cancelled','cancel'),('c2','killed','cancel'),('c3','killed','cancel')] and all(x['signals'][0]['sig']=='SIGINT' for x in rs)"
sleep 0.2
left=""
for k in $kids; do kill -0 "$k" 2>/dev/null && left="$left $k"; done
[ -z "$left" ] && pass "Ctrl-C: no worker process left behind" || fail "Ctrl-C: workers left:$left"

# --- Ctrl-C on run ------------------------------------------------------------------------
"$HARN_BIN" run coop.harn --json > rc.json &
rp=$!
sleep 0.3
kill -INT "$rp"
wait "$rp"; rc=$?
[ "$rc" = 130 ] && pass "Ctrl-C on run: exit 130" || fail "Ctrl-C on run rc=$rc"
check "Ctrl-C on run: cancelled/cancel with SIGINT" rc.json \
  "r['status']=='cancelled' and r['reason']=='cancel' and r['signals'][0]['sig']=='SIGINT'"

# --- a job over the frame limit (16 MiB): no worker could get it --------------------
python3 -c 'import json; print(json.dumps({"id": "big", "file": "ok.harn", "input": "x" * (17 << 20)})); print(json.dumps({"id": "small", "file": "ok.harn"}))' > big.jsonl
"$HARN_BIN" batch big.jsonl -j 2 --results big.out --no-bar; rc=$?
check "job over the frame limit: crashed, spawn:E2BIG; the next one runs (rc $rc)" big.out \
  "sorted((x['id'], x['status'], x.get('reason')) for x in rs)==[('big','crashed','spawn:E2BIG'),('small','ok',None)]"

# --- records that cannot be written ------------------------------------------------------
# A full disk or a closed stdout loses the outcomes: said once, no more jobs
# start, the running one (coop: it waits for a signal) is cancelled, exit 1.
# Without the cancel the batch would wait forever on coop.
echo '{"id": "waits", "file": "coop.harn"}' > outfail.jsonl
for i in 1 2 3 4 5 6; do echo '{"id": "ok'$i'", "file": "ok.harn"}'; done >> outfail.jsonl
t0=$(date +%s%N)
timeout 20 "$HARN_BIN" batch outfail.jsonl -j 2 --grace 3s --results /dev/full > /dev/null 2> full.err; rc=$?
el=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 1 ] && [ "$el" -lt 10000 ] && grep -q '^harn batch: cannot write a record to /dev/full: No space left on device; starting no more jobs$' full.err \
  && [ "$(grep -c 'cannot write' full.err)" = 1 ] && pass "results on a full disk: one message, the rest cancelled, exit 1 (${el} ms)" \
  || fail "full disk: rc=$rc ${el} ms: $(cat full.err)"
timeout 20 "$HARN_BIN" batch outfail.jsonl -j 2 --grace 3s 2> pipe.err | true; rc=${PIPESTATUS[0]}
[ "$rc" = 1 ] && grep -q 'cannot write a record to stdout: Broken pipe' pipe.err \
  && pass "records to a closed stdout: exit 1 with the reason, no hang" || fail "closed stdout: rc=$rc: $(cat pipe.err)"
sed -i '/coop/d' outfail.jsonl
"$HARN_BIN" batch outfail.jsonl -j 2 --joblog /dev/full --results jl.jsonl 2> jl.err; rc=$?
[ "$rc" = 1 ] && [ "$(wc -l < jl.jsonl)" = 6 ] && grep -q 'cannot write to the joblog /dev/full' jl.err \
  && pass "a joblog that cannot be written: every record still written, exit 1" || fail "joblog: rc=$rc $(cat jl.err)"

# --- a job id given twice ------------------------------------------------------------------
# Records are keyed on (id, attempt), and so is --resume: a repeated id
# runs as ID#2, ID#3... (said once per id that a manifest gave; the same
# file given twice is a way to run it twice), the same from one run to the
# next; an explicit id of that form is not taken twice either. (Exit 1:
# error.harn fails.)
printf '{"id": "same", "file": "ok.harn"}\n{"id": "other", "file": "ok.harn"}\n{"id": "same", "file": "error.harn"}\n{"id": "same#2", "file": "ok.harn"}\n' > dup.jsonl
"$HARN_BIN" batch dup.jsonl ok.harn ok.harn ok.harn --results dup.out 2> dup.err; rc=$?
[ "$rc" = 1 ] && [ "$(grep -c 'given more than once' dup.err)" = 2 ] \
  && grep -q 'job id "same" given more than once; the repeats run as "same#2", "same#3", ...' dup.err \
  && pass "a repeated manifest id: said once per id (a repeated file: silently)" || fail "repeated ids: rc=$rc $(cat dup.err)"
check "a repeated job id: every job runs, under an id of its own" dup.out \
  "sorted((x['id'], x['status']) for x in rs)==[('ok.harn','ok'),('ok.harn#2','ok'),('ok.harn#3','ok'),('other','ok'),('same','ok'),('same#2','error'),('same#2#2','ok')]"
"$HARN_BIN" batch dup.jsonl ok.harn ok.harn ok.harn --results dup.out --resume 2> /dev/null; rc=$?
check "--resume after it: nothing runs again (the ids are stable)" dup.out "len(rs)==7"

# --- usage --------------------------------------------------------------------------------
"$HARN_BIN" run ok.harn --timeout 5parsecs 2>/dev/null; rc=$?
[ "$rc" = 2 ] && pass "bad duration: exit 2" || fail "bad duration rc=$rc"
"$HARN_BIN" run 2>/dev/null; rc=$?
[ "$rc" = 2 ] && pass "no FILE: exit 2" || fail "no FILE rc=$rc"
"$HARN_BIN" batch ok.harn --halt sometimes 2>/dev/null; rc=$?
[ "$rc" = 2 ] && pass "bad --halt: exit 2" || fail "bad --halt rc=$rc"
"$HARN_BIN" run ok.harn --input '{bad' 2>/dev/null; rc=$?
[ "$rc" = 2 ] && pass "bad --input JSON: exit 2" || fail "bad --input rc=$rc"
# --results truncates: a source named there would be lost before it is read
printf '{"id": "a", "file": "ok.harn"}\n' > self.jsonl
"$HARN_BIN" batch self.jsonl --results self.jsonl 2> self.err; rc=$?
[ "$rc" = 2 ] && grep -q 'is also the source self.jsonl' self.err && [ "$(wc -l < self.jsonl)" = 1 ] \
  && pass "--results naming a source: usage error, the source intact" || fail "results = source: rc=$rc $(cat self.err)"
"$HARN_BIN" batch self.jsonl --results same.out --joblog same.out 2> /dev/null; rc=$?
[ "$rc" = 2 ] && pass "--results and --joblog one file: usage error" || fail "results = joblog: rc=$rc"

# --- help and version: on stdout, exit 0; nothing is run ---------------------------------
ok=1
for c in run batch test check disasm; do
  out=$("$HARN_BIN" "$c" --help 2>/dev/null) && [ "$(printf '%s\n' "$out" | head -1 | cut -d' ' -f1-3)" = "usage: harn $c" ] || { ok=0; echo "# $c --help: $out"; }
  [ "$("$HARN_BIN" help "$c" 2>/dev/null)" = "$out" ] || { ok=0; echo "# help $c differs"; }
done
"$HARN_BIN" batch ok.harn -h --results help.jsonl > /dev/null 2>&1 && [ ! -e help.jsonl ] || { ok=0; echo "# batch -h ran the batch"; }
[ $ok = 1 ] && pass "COMMAND --help and help COMMAND: the options on stdout, exit 0, nothing run" || fail "help texts"
"$HARN_BIN" --version | grep -Eq '^harn [0-9]+\.[0-9]+\.[0-9]+ \(worker protocol [0-9]+\)$' \
  && pass "--version" || fail "--version: $("$HARN_BIN" --version 2>&1)"
"$HARN_BIN" help nosuch > /dev/null 2>&1; rc=$?
"$HARN_BIN" > /dev/null 2>&1; rc2=$?
[ "$rc" = 2 ] && [ "$rc2" = 2 ] && pass "help for an unknown command, and no command: exit 2" || fail "rc=$rc rc2=$rc2"

lib_finish
