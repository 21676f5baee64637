#!/usr/bin/env bash
# test_sandbox_first.sh: the worker locks itself down before it reads a
# byte of its program (docs/sandbox.md "When"), imports come only from
# beneath the program's directory ("Imports"), and the limits hold however
# the supervisor was started ("Limits": an inherited `ulimit -v`, stderr a
# file, an unprivileged user).
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
unset HARN_TEST_FORBIDDEN_SYSCALL
field() { python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print($2)" "$1"; }
"$HARN_BIN" run /dev/null 2>/dev/null # warm-up
sanitizer=0
echo 'println("hi")' > ok.harn
"$HARN_BIN" run ok.harn --json > r0.json
if [ "$(field r0.json '"sanitizer build" in json.dumps(r["sandbox"]["skipped"])')" = True ]; then sanitizer=1; fi

# 1. a program that does not even parse was already locked down: its
# record carries the sandbox report (before, the lock-down came after
# compiling, and such a job ran its front end with every capability)
printf 'pipeline default( {\n' > bad.harn
"$HARN_BIN" run bad.harn --json > r1.json 2>/dev/null
check "a parse error is reported from inside the sandbox" r1.json \
  'r["status"] == "error" and r["sandbox"] is not None and r["sandbox"]["no_new_privs"]'

# 2. a huge program meets the memory limits while it is parsed: the worker's
# address space is bounded before the front end runs (was: 5.5 GB)
if [ $sanitizer = 0 ]; then
  python3 - <<'EOF'
with open("huge.harn", "w") as f:
    f.write("let xs = [")
    f.write("[1, 2, 3], " * 5_000_000)  # ~55 MB
    f.write("0]\nprintln(len(xs))\n")
EOF
  # stderr a file: the parser's "out of memory" once died of SIGXFSZ there
  "$HARN_BIN" run huge.harn --memory 64M --json > r2.json 2>r2.err
  check "a 55 MB program under --memory 64M stops at the limit (crashed/oom or error/memory)" r2.json \
    'r["status"] + "/" + str(r["reason"]) in ("crashed/oom", "error/memory")'
  check "... with a bounded peak RSS (< 700 MB)" r2.json 'r["max_rss_kb"] < 700 * 1024'
  check "... and the record says why (crashed/oom has a message)" r2.json \
    'r["reason"] != "oom" or "Out of memory" in r["error"]["message"]'
else
  pass "(sanitizer build: no RLIMIT_AS; huge program not checked)"
fi

# 3. imports: only beneath the program's directory, enforced by the kernel
mkdir -p tenant/jobs/lib outside
echo 'pub fn secret() { return "SECRET" }' > outside/secret.harn
echo 'pub fn twice(x) { return x * 2 }' > tenant/jobs/lib/util.harn
ln -s ../../../outside tenant/jobs/lib/out
cat > tenant/jobs/good.harn <<'EOF'
import "./lib/util"
println(twice(21))
EOF
cat > tenant/jobs/dotdot.harn <<'EOF'
import "../../outside/secret"
println(secret())
EOF
cat > tenant/jobs/dotdot_missing.harn <<'EOF'
import "../../outside/no_such_file"
println("no")
EOF
cat > tenant/jobs/absolute.harn <<EOF
import "$T/outside/secret"
println(secret())
EOF
cat > tenant/jobs/link.harn <<'EOF'
import "./lib/out/secret"
println(secret())
EOF
"$HARN_BIN" batch tenant/jobs/good.harn tenant/jobs/dotdot.harn tenant/jobs/dotdot_missing.harn \
  tenant/jobs/absolute.harn tenant/jobs/link.harn -j 2 --results r3.jsonl 2>/dev/null
rec() { python3 -c "
import json,sys
for l in open('r3.jsonl'):
    r = json.loads(l)
    if r['id'] == sys.argv[1]: print(r['status'], r['output'].strip(), (r['error'] or {}).get('message', ''))
" "$1"; }
[ "$(rec good.harn)" = "ok 42 " ] && pass "an import beneath the program's directory works" || fail "good: $(rec good.harn)"
for j in dotdot dotdot_missing absolute; do
  got=$(rec $j.harn)
  case $got in
    error*"outside the program's directory"*) pass "$j: refused as outside the program's directory" ;;
    *) fail "$j: $got" ;;
  esac
done
got=$(rec link.harn)
case $got in
  error*"leads outside the program's directory"*) pass "a symlink out of the tree: refused by the kernel (RESOLVE_BENEATH)" ;;
  *) fail "link: $got" ;;
esac
grep -q SECRET r3.jsonl && fail "a secret was read" || pass "no job read the file outside its tree"
# the same in the fork-per-job worker (its own seccomp filter, not the pool's)
HARN_NO_ZYGOTE=1 "$HARN_BIN" run tenant/jobs/good.harn > o4.txt 2>&1 && grep -q 42 o4.txt \
  && pass "imports in a worker with its own filter" || fail "no-zygote import: $(cat o4.txt)"
HARN_NO_ZYGOTE=1 "$HARN_BIN" run tenant/jobs/link.harn > o5.txt 2>&1
grep -q "leads outside" o5.txt && pass "... and the link refused there too" || fail "no-zygote link: $(cat o5.txt)"
# a program given as source has no directory: std/ only
printf '{"id":"src","source":"import \\"./lib/util\\"\\nprintln(twice(1))\\n"}\n{"id":"std","source":"import \\"std/math\\"\\nprintln(1)\\n"}\n' > m.jsonl
(cd tenant/jobs && "$HARN_BIN" batch "$T/m.jsonl" --results "$T/r6.jsonl" 2>/dev/null)
check "a program given as source imports std/ only" r6.jsonl \
  'any(x["id"] == "src" and x["status"] == "error" and "only std/" in x["error"]["message"] for x in rs) and any(x["id"] == "std" and x["status"] == "ok" for x in rs)'

# 4. limits clamped to an inherited hard limit (`ulimit -v`): jobs still run
if [ $sanitizer = 0 ]; then
  (ulimit -v 3000000 && "$HARN_BIN" run ok.harn --json > r7.json 2>r7.err)
  check "under ulimit -v 3000000 a sandboxed job runs" r7.json 'r["status"] == "ok"'
  check "... and the record says the address space was clamped" r7.json \
    '"rlimit_as" in r["sandbox"]["skipped"] and r["sandbox"]["limits"]["address_space"] == 3000000 * 1024'
else
  pass "(sanitizer build: ulimit -v not checked)"
fi

# 5. out of memory with stderr a file: never SIGXFSZ (RLIMIT_FSIZE is 0)
cat > grow.harn <<'EOF'
var s = "x"
while true {
  s = s + s
}
EOF
"$HARN_BIN" run grow.harn --memory 16M --json > r8.json 2> r8.err
check "out of memory with stderr a file: error/memory, not SIGXFSZ" r8.json \
  'r["status"] + "/" + str(r["reason"]) in ("error/memory", "crashed/oom") and "SIGXFSZ" not in json.dumps(r)'
if [ $sanitizer = 0 ] && ! test_hooks; then
  echo "skip - RLIMIT_AS exhausted with stderr a file: needs HARN_TEST_HOOKS"
elif [ $sanitizer = 0 ]; then
  HARN_TEST_FORBIDDEN_SYSCALL=oom "$HARN_BIN" run ok.harn --memory 16M --json > r9.json 2> r9.err
  check "RLIMIT_AS exhausted with stderr a file: crashed/oom" r9.json \
    'r["status"] + "/" + str(r["reason"]) == "crashed/oom"'
fi

# 6. an unprivileged user gets namespaces through a user namespace
# (only where nobody may run this build: a checkout under /root is not)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && \
   setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2>/dev/null && \
   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$HARN_BIN"; then
  mkdir -p pub && cp ok.harn pub/ && chmod -R a+rX "$T"
  setpriv --reuid=65534 --regid=65534 --clear-groups "$HARN_BIN" run "$T/pub/ok.harn" --json > r10.json 2>r10.err
  check "as nobody: the job runs sandboxed" r10.json 'r["status"] == "ok"'
  check "as nobody: user, pid, net, mnt, ipc and uts namespaces" r10.json \
    'set(r["sandbox"]["namespaces"]) >= {"user", "pid", "net", "mnt", "ipc", "uts"}'
else
  echo "skip - unprivileged user namespaces (not root, no setpriv, refused by the kernel, or $HARN_BIN not executable by nobody)"
fi

lib_finish
