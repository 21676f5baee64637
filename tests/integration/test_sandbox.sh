#!/usr/bin/env bash
# test_sandbox.sh: the worker lock-down and the resource limits, checked
# from outside (the record, /proc/PID/{status,fd,ns} of a running worker)
# and from inside (forbidden system calls made by the worker after its
# lock-down through the test-only HARN_TEST_FORBIDDEN_SYSCALL), plus the
# whole-tree kill (fake worker "escape": a setsid()ed child and grandchild)
# and the supervisor's survival of EMFILE and fork failures.
# docs/sandbox.md describes what is checked here.
set -u
. "$(dirname "$0")/lib.sh"
lib_init fake python
unset HARN_TEST_FORBIDDEN_SYSCALL HARN_TEST_SPAWN_EAGAIN
# field FILE EXPR: evaluate a Python expression on record r (the last line)
field() { python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print($2)" "$1"; }
sanitizer=0
"$HARN_BIN" run /dev/null 2>/dev/null # warm-up
cat > ok.harn <<'EOF'
println("hi")
EOF
cat > nap.harn <<'EOF'
sleep(8s)
println("woke")
EOF
cat > mem.harn <<'EOF'
var s = "x"
while true {
  s = s + s
}
EOF
cat > spin.harn <<'EOF'
var n = 0
while true {
  n += 1
}
EOF

# 1. the record says what was applied
"$HARN_BIN" run ok.harn --json > r1.json
[ "$(field r1.json 'r["status"]')" = ok ] && pass "sandboxed job runs ok" || fail "status: $(cat r1.json)"
sb=$(field r1.json 'r["sandbox"]')
if [ "$(field r1.json '"sanitizer build" in json.dumps(r["sandbox"]["skipped"])')" = True ]; then sanitizer=1; fi
for k in no_new_privs rlimits fds_closed pdeathsig; do
  [ "$(field r1.json "r['sandbox']['$k']")" = True ] && pass "record: $k" || fail "record: $k in $sb"
done
if [ $sanitizer = 0 ]; then
  [ "$(field r1.json "r['sandbox']['seccomp']")" = True ] && pass "record: seccomp" || fail "record: seccomp in $sb"
fi
ns=$(field r1.json '",".join(r["sandbox"]["namespaces"]) + "|" + ",".join(sorted(r["sandbox"]["skipped"]))')
echo "     namespaces|skipped: $ns"
[ "$(field r1.json 'len(r["sandbox"]["namespaces"]) + len([k for k in r["sandbox"]["skipped"] if k in ("pid","net","mnt","ipc","uts")])')" = 5 ] \
  && pass "every namespace is applied or skipped with a reason" || fail "namespaces: $ns"
"$HARN_BIN" run ok.harn --json --no-sandbox > r2.json
[ "$(field r2.json 'r["sandbox"]')" = None ] && pass "--no-sandbox: no sandbox in the record" || fail "--no-sandbox: $(cat r2.json)"

# 2. from outside: /proc of a running sandboxed worker
"$HARN_BIN" run nap.harn --events > ev.jsonl &
rp=$!
for _ in $(seq 1 500); do grep -q '"type":"sandbox"' ev.jsonl 2>/dev/null && break; sleep 0.02; done
# the pid without starting a python first (which can take seconds under load)
wp=$(sed -n 's/^{"type":"started".*"pid":\([0-9]*\).*/\1/p' ev.jsonl | head -1)
if [ -n "$wp" ] && [ -r "/proc/$wp/status" ]; then
  # One snapshot of what the checks read, taken at once: the worker naps
  # 4 s, and on a loaded machine the checks themselves can take longer
  # (they used to find /proc/PID gone half-way).
  mkdir -p snap/task snap/ns
  cp /proc/$wp/status /proc/$wp/limits snap/ 2>/dev/null
  for t in /proc/$wp/task/*; do cp $t/status snap/task/${t##*/} 2>/dev/null; done
  ls /proc/$wp/fd > snap/fds 2>/dev/null
  for n in /proc/$wp/ns/*; do readlink $n > snap/ns/${n##*/} 2>/dev/null; done
  grep -q '^NoNewPrivs:[[:space:]]*1' snap/status && pass "/proc: NoNewPrivs: 1" || fail "/proc: $(grep NoNewPrivs snap/status)"
  grep -q '^CapEff:[[:space:]]*0000000000000000' snap/status && pass "/proc: no capabilities" \
    || fail "/proc: $(grep CapEff snap/status)"
  if [ $sanitizer = 0 ]; then
    grep -q '^Seccomp:[[:space:]]*2' snap/status && pass "/proc: Seccomp: 2" || fail "/proc: $(grep Seccomp: snap/status)"
    # every thread, the output flusher included (SECCOMP_FILTER_FLAG_TSYNC)
    unfiltered=$(for t in snap/task/*; do grep -L '^Seccomp:[[:space:]]*2' $t; done)
    nthreads=$(ls snap/task | wc -l)
    [ -z "$unfiltered" ] && pass "/proc: all $nthreads threads filtered (Seccomp: 2)" || fail "/proc: unfiltered threads: $unfiltered"
  fi
  fds=$(sort -n snap/fds | tr '\n' ' ')
  # 5: the program's directory, the import root (docs/sandbox.md "Imports")
  [ "$fds" = "0 1 2 4 5 " ] && pass "/proc: only fds 0 1 2 4 5 open" || fail "/proc: fds $fds"
  for n in $(python3 -c "import json; print(' '.join([json.loads(l) for l in open('ev.jsonl') if '\"sandbox\"' in l][0]['applied']['namespaces']))"); do
    [ "$n" = pid ] && continue # applies to children only
    [ "$(cat snap/ns/$n)" != "$(readlink /proc/self/ns/$n)" ] && pass "/proc: own $n namespace" \
      || fail "/proc: $n namespace shared"
  done
  grep -q "^Max address space.*4294967296" snap/limits && pass "/proc: RLIMIT_AS set" \
    || { [ $sanitizer = 1 ] && pass "RLIMIT_AS skipped (sanitizer build)" || fail "/proc: $(grep 'address space' snap/limits)"; }
  grep -q "^Max open files *16 " snap/limits && pass "/proc: RLIMIT_NOFILE 16" || fail "/proc: $(grep 'open files' snap/limits)"
else
  fail "could not find the running worker ($wp)"
fi
wait $rp
grep -q '"woke' ev.jsonl && pass "the sandboxed job sleeps and writes (output thread allowed)" || fail "events: $(tail -2 ev.jsonl)"

# Output streams while a sandboxed job runs (docs/RUNTIME.md: output events as
# they happen): the line printed before a 1 s sleep arrives well before the
# end. `harn run`'s worker cannot start its flusher thread inside its own
# PID namespace, so it writes output at once instead.
cat > talk.harn <<'EOF'
println("first")
sleep(1s)
println("second")
EOF
python3 - "$HARN_BIN" <<'EOF' && pass "harn run: output streams while the sandboxed job sleeps" || fail "harn run: output held back"
import subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen([sys.argv[1], "run", "talk.harn"], stdout=subprocess.PIPE)
first = p.stdout.readline()
t1 = time.monotonic()
p.wait()
t2 = time.monotonic()
sys.exit(0 if first == b"first\n" and t2 - t1 > 0.5 else 1)
EOF

# 3. from inside: forbidden system calls kill only that job
hooks=1
test_hooks || { hooks=0; echo "skip - forbidden system calls, RLIMIT_AS, injected spawn failures: need HARN_TEST_HOOKS"; }
if [ $sanitizer = 0 ] && [ $hooks = 1 ]; then
  for what in open socket fork exec; do
    HARN_TEST_FORBIDDEN_SYSCALL=$what "$HARN_BIN" run ok.harn --json > f.json
    got="$(field f.json 'r["status"] + "/" + str(r.get("reason")) + "/" + str(r["worker"]["signal"])')"
    [ "$got" = "crashed/seccomp/SIGSYS" ] && pass "forbidden $what: crashed/seccomp (SIGSYS)" || fail "forbidden $what: $got"
  done
  printf '{"id":"a","file":"ok.harn"}\n{"id":"bad","file":"ok.harn"}\n{"id":"c","file":"ok.harn"}\n' > three.jsonl
  HARN_TEST_FORBIDDEN_SYSCALL=open:bad "$HARN_BIN" batch three.jsonl -j 3 --no-bar > three.out
  st=$(python3 -c "import json; print(' '.join(sorted(r['id']+'='+r['status'] for r in map(json.loads, open('three.out')))))")
  [ "$st" = "a=ok bad=crashed c=ok" ] && pass "only the offending job dies" || fail "batch: $st"
  # The pool filter (docs/sandbox.md): a batch's later workers are cloned by
  # a zygote whose seccomp filter they inherit. The same calls kill them; the
  # few the pool filter lets through in some form are refused by Landlock
  # or for want of capabilities (the worker exits with the errno).
  # It needs CAP_SYS_ADMIN and Landlock (ABI 6); elsewhere the zygote's
  # workers attach their own filter as the first one does.
  printf '{"id":"a","file":"ok.harn"}\n{"id":"b","file":"ok.harn"}\n{"id":"c","file":"ok.harn"}\n{"id":"x","file":"ok.harn"}\n' > four.jsonl
  pool=1
  if [ "$(id -u)" != 0 ] || ! grep -qs landlock /sys/kernel/security/lsm; then
    pool=0
    echo "skip - pool filter: needs root and Landlock"
  fi
  for what in open socket fork exec read_stderr setpgid pdeathsig rlimit_stack; do
    [ $pool = 1 ] || break
    HARN_TEST_FORBIDDEN_SYSCALL=$what:x "$HARN_BIN" batch four.jsonl -j 2 --no-bar > four.out
    got=$(python3 -c "import json; r=[r for r in map(json.loads, open('four.out')) if r['id']=='x'][0]; print(r['status'], r.get('reason'), r['worker']['signal'], r['sandbox']['seccomp_shared'])")
    [ "$got" = "crashed seccomp SIGSYS True" ] && pass "pool filter: forbidden $what: crashed/seccomp (SIGSYS)" \
      || fail "pool filter: forbidden $what: $got"
  done
  # reopen_stderr: /proc/self/fd/2 would be a pipe (stderr is one here),
  # which no Landlock rule covers; the pool's mount namespace has no /proc
  for pair in open_noctty:13 reopen_stderr:2 kill_other:1 clone_newuts:1 unshare_pid:1; do
    [ $pool = 1 ] || break
    what=${pair%:*}
    HARN_TEST_FORBIDDEN_SYSCALL=$what:x "$HARN_BIN" batch four.jsonl -j 2 --no-bar > four.out 2> >(cat > /dev/null)
    got=$(python3 -c "import json; r=[r for r in map(json.loads, open('four.out')) if r['id']=='x'][0]; print(r['worker']['exit'], r['sandbox']['seccomp_shared'])")
    [ "$got" = "${pair#*:} True" ] && pass "pool filter: $what refused (errno ${pair#*:})" \
      || fail "pool filter: $what: exit/shared $got"
  done
  if [ $pool = 1 ]; then
    "$HARN_BIN" batch four.jsonl -j 2 --no-bar > four.out
    got=$(python3 -c "import json; print(' '.join(sorted('%s=%s/%s/%s/%s' % (r['id'], r['status'], r['sandbox']['seccomp_shared'], r['sandbox']['landlock'], r['sandbox']['capabilities_dropped']) for r in map(json.loads, open('four.out')))))")
    [ "$got" = "a=ok/False/True/True b=ok/True/True/True c=ok/True/True/True x=ok/True/True/True" ] \
      && pass "record: the first worker attaches its own filter, the zygote's inherit the pool filter" \
      || fail "pool filter records: $got"
  fi
  HARN_TEST_FORBIDDEN_SYSCALL=open "$HARN_BIN" run ok.harn --json --no-sandbox > f.json
  [ "$(field f.json 'r["status"]')" = ok ] && pass "--no-sandbox: open is allowed" || fail "--no-sandbox: $(cat f.json)"
fi

# 4. limits: VM memory limit -> error/memory; RLIMIT_CPU -> killed/cpu
"$HARN_BIN" run mem.harn --memory 16M --json > m.json
got="$(field m.json 'r["status"] + "/" + str(r.get("reason"))')"
[ "$got" = "error/memory" ] && pass "--memory 16M: error/memory" || fail "--memory: $got"
printf '{"id":"m","file":"mem.harn","memory":"8M"}\n{"id":"c","file":"spin.harn","cpu":"1s","timeout":"20s"}\n' > lim.jsonl
"$HARN_BIN" batch lim.jsonl -j 2 --no-bar > lim.out
st=$(python3 -c "import json; print(' '.join(sorted(r['id']+'='+r['status']+'/'+str(r.get('reason')) for r in map(json.loads, open('lim.out')))))")
[ "$st" = "c=killed/cpu m=error/memory" ] && pass "manifest memory/cpu keys: $st" || fail "manifest limits: $st"
# the kernel's limit anyway (an allocation outside the VM's accounting,
# test-only hook): RLIMIT_AS refuses, the worker reports it -> crashed/oom
if [ $sanitizer = 0 ] && [ $hooks = 1 ]; then
  HARN_TEST_FORBIDDEN_SYSCALL=oom "$HARN_BIN" run ok.harn --memory 16M --json > oom.json
  got=$(field oom.json 'r["status"] + "/" + str(r["reason"])')
  [ "$got" = "crashed/oom" ] && pass "RLIMIT_AS exhausted: crashed/oom" || fail "oom: $got"
fi

# 5. whole-tree kill: a setsid()ed child and grandchild still die
printf '// escape\n' > escape.harn
for i in 1 2 3 4; do printf '{"id":"e%d","file":"escape.harn"}\n' $i; done > esc.jsonl
HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch esc.jsonl -j 2 --no-bar > esc.out
pids=$(grep -o 'escape [0-9]* [0-9]*' esc.out | awk '{print $2, $3}')
alive=""
for p in $pids; do [ -e /proc/$p ] && alive="$alive $p"; done
[ -n "$pids" ] && [ -z "$alive" ] && pass "escaped descendants are dead after the batch ($(echo $pids | wc -w) checked)" \
  || fail "alive:$alive (pids: $pids)"
HARN_WORKER_CMD=$FAKE "$HARN_BIN" run escape.harn > esc1.out
alive=""
for p in $(awk '{print $2, $3}' esc1.out); do [ -e /proc/$p ] && alive="$alive $p"; done
[ -z "$alive" ] && pass "harn run: escaped descendants are dead" || fail "harn run: alive:$alive"

# 6. robustness: EMFILE (low ulimit -n) and fork failures queue, not die
for i in $(seq 1 30); do printf '{"id":"q%d","file":"ok.harn"}\n' $i; done > q.jsonl
(ulimit -n 24; HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch q.jsonl -j 8 --results q.out --no-bar 2> q.err); rc=$?
n=$(grep -c '"status":"ok"' q.out)
[ "$rc" = 0 ] && [ "$n" = 30 ] && pass "ulimit -n 24, -j 8: 30 ok records" || fail "EMFILE: rc=$rc ok=$n $(tail -2 q.err)"
if [ $hooks = 1 ]; then
  HARN_TEST_SPAWN_EAGAIN=5 HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch q.jsonl -j 4 --no-bar > q2.out; rc=$?
  n=$(grep -c '"status":"ok"' q2.out)
  [ "$rc" = 0 ] && [ "$n" = 30 ] && pass "5 injected fork failures (EAGAIN): 30 ok records" || fail "EAGAIN: rc=$rc ok=$n"
  # Every spawn failing (EAGAIN, for ever): the jobs wait to retry, and
  # Ctrl-C ends them `cancelled` instead of leaving the batch waiting.
  rm -f q3.out q3.out.journal
  HARN_TEST_SPAWN_EAGAIN=1000000 HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch q.jsonl -j 4 --no-bar --results q3.out 2>/dev/null &
  bp=$!
  # the 4 jobs have started (their journal lines) before the Ctrl-C
  for _ in $(seq 1 200); do n=$(grep -c '"start"' q3.out.journal 2>/dev/null); [ "${n:-0}" -ge 4 ] && break; sleep 0.05; done
  sleep 0.1
  kill -INT $bp
  ( sleep 10; kill -KILL $bp 2>/dev/null ) & wd=$!
  wait $bp; rc=$?
  kill $wd 2>/dev/null
  st=$(python3 -c "import json; print(sorted(set(r['status'] + '/' + r['reason'] for r in map(json.loads, open('q3.out')))), len(open('q3.out').readlines()))")
  [ "$rc" = 130 ] && [ "$st" = "['cancelled/cancel'] 4" ] && pass "Ctrl-C while every spawn fails: 4 cancelled records, exit 130" \
    || fail "Ctrl-C during spawn retries: rc=$rc $st; q3.out: $(head -c 600 q3.out 2>&1)"
fi

lib_finish
