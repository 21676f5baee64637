#!/usr/bin/env bash
# test_stdlib_sandbox.sh: the pure standard library works inside the
# locked-down worker (shared/design/STDLIB.md section 2, docs/stdlib.md).
#
# 1. Every tests/lang/stdlib_*/NAME.harn runs through the real sandboxed
#    worker (`harn run FILE`, not --inline): its stdout must equal
#    NAME.expected, or, for a NAME.error test, the run must fail with a
#    stderr matching every line of NAME.error (substring or re:ERE).
# 2. The same programs as one `harn batch -j 2`: from the second worker on
#    they are cloned by the zygote and run under its pool filter; every
#    record must be ok with the expected output.
# 3. PCRE2's match heap follows the job's --memory (accounted allocator,
#    heap limit a quarter of the limit).
# 4. Under strace -f (when installed; not in sanitizer builds, whose
#    runtime reads /proc): after a worker locks down, nothing opens a file
#    or maps executable memory (so no PCRE2 JIT, no openssl.cnf, no
#    provider module, no zone file even with TZ set, no libidn2 or libyaml
#    data), for `harn run` and for the zygote's pool workers. A
#    negative control (HARN_TEST_FORBIDDEN_SYSCALL=open) proves the check
#    can fail.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
unset HARN_TEST_FORBIDDEN_SYSCALL
SRC=${HARN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
field() { python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print($2)" "$1"; }

# 1. each program in its own sandboxed worker
lang_sandboxed "$SRC"/tests/lang/stdlib_*/*.harn
[ "$LANG_N" -gt 0 ] || fail "no tests/lang/stdlib_* programs found under $SRC"

# 2. the same programs through a batch: the zygote's workers and the pool filter
lang_batched stdlib

# 3. PCRE2's match frames come from the VM's accounted allocator, and the
# heap limit of a search follows the job's --memory (a quarter of it): a
# search that needs ~10 MB of backtracking frames succeeds unlimited and
# ends with the regex error under --memory 8M, in a sandboxed worker.
cat > heap.harn <<'EOF'
var s = "a"
for i in range(0, 15) {
  s = s + s
}
try { println(len(regex_match(r"(a|b)*c", s + "c")[0])) } catch e { println(e) }
EOF
"$HARN_BIN" run heap.harn --json > heap1.json 2>/dev/null
"$HARN_BIN" run heap.harn --json --memory 8M > heap2.json 2>/dev/null
check "regex heap: a 32769-character match without a memory limit" heap1.json \
  'r["status"] == "ok" and r["output"] == "32769\n"'
check "regex heap: under --memory 8M the search stops at its heap limit" heap2.json \
  'r["status"] == "ok" and r["output"] == "Runtime error: regex match limit exceeded\n"'

# 4. no file opens and no executable memory after the lock-down
"$HARN_BIN" run "$SRC/tests/lang/stdlib_crypto/hmac.harn" --json > r0.json 2>/dev/null
sanitizer=$(field r0.json '"sanitizer build" in json.dumps(r["sandbox"]["skipped"])')
if ! command -v strace >/dev/null; then
  echo "skip - strace checks: strace is not installed"
elif [ "$sanitizer" = True ]; then
  echo "skip - strace checks: the sanitizer runtime reads /proc after the lock-down"
else
  cat > check_strace.py <<'EOF'
import re, sys
# strace -f log: after a process locks itself down (loads its seccomp
# filter, or, a pool worker that inherited the zygote's filter, restricts
# itself with Landlock), it must not open a file or map executable memory;
# and libcrypto's files are never touched at all.
line_re = re.compile(r'^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$')
locked, bad, seen_lock = set(), [], False
for raw in open(sys.argv[1], errors="replace"):
    raw = raw.rstrip("\n")
    if "openssl.cnf" in raw or "ossl-modules" in raw or "engines-3" in raw:
        bad.append("libcrypto touched its files: " + raw)
    m = line_re.match(raw)
    if not m or m.group(4).endswith("<unfinished ...>"):
        continue
    pid, name, rest = int(m.group(1)), m.group(2) or m.group(3), m.group(4)
    ret = re.search(r'\)\s+=\s+(-?\d+)', rest)
    rv = ret.group(1) if ret else "?"
    if rv == "0" and (name == "landlock_restrict_self" or
                      (name == "seccomp" and "SECCOMP_SET_MODE_FILTER" in raw)):
        locked.add(pid)
        seen_lock = True
        continue
    if pid not in locked:
        continue
    if name in ("open", "openat", "openat2", "creat"):
        bad.append("open after lock-down: " + raw)
    if name in ("mmap", "mprotect", "pkey_mprotect") and "PROT_EXEC" in raw:
        bad.append("executable memory after lock-down: " + raw)
if not seen_lock:
    print("   no lock-down seen in the strace log")
    sys.exit(2)
for b in bad[:20]:
    print("   " + b)
sys.exit(1 if bad else 0)
EOF
  trace=open,openat,openat2,creat,mmap,mprotect,pkey_mprotect,seccomp,landlock_restrict_self
  # every algorithm and builtin family, each first used inside the worker
  for f in "$SRC"/tests/lang/stdlib_crypto/*.harn "$SRC"/tests/lang/stdlib_uuid/uuid.harn \
           "$SRC"/tests/lang/stdlib_regex/unicode.harn "$SRC"/tests/lang/stdlib_regex/match_limit.harn \
           "$SRC"/tests/lang/stdlib_bytes/base64.harn \
           "$SRC"/tests/lang/stdlib_time/zones.harn "$SRC"/tests/lang/stdlib_time/format.harn \
           "$SRC"/tests/lang/stdlib_time/now.harn "$SRC"/tests/lang/stdlib_json/yaml.harn \
           "$SRC"/tests/lang/stdlib_json/toml.harn "$SRC"/tests/lang/stdlib_json/jq.harn \
           "$SRC"/tests/lang/stdlib_url/parse.harn "$SRC"/tests/lang/stdlib_csv/parse.harn; do
    prog=$(basename "$(dirname "$f")")_$(basename "$f" .harn)
    # TZ names a zone: glibc's localtime would open its file; the date
    # builtins read the embedded database (vm/tzif.c) and never do
    TZ=America/New_York strace -f -e trace=$trace -o "$prog.strace" "$HARN_BIN" run "$f" > "$prog.out" 2>&1
    rc=$?
    if [ $rc = 0 ] && python3 check_strace.py "$prog.strace"; then
      pass "strace: $prog opens no file and maps no executable memory after the lock-down"
    else
      fail "strace: $prog (exit $rc)"
      tail -n 5 "$prog.out"
    fi
  done
  strace -f -e trace=$trace -o pool.strace "$HARN_BIN" batch all.jsonl -j 2 --no-bar > pool.out 2>&1
  if python3 check_strace.py pool.strace &&
     python3 -c "import json,sys; sys.exit(0 if all(r['status'] == 'ok' for r in map(json.loads, open('pool.out'))) else 1)"; then
    pass "strace: the zygote's pool workers too (harn batch -j 2)"
  else
    fail "strace: pool workers"
  fi
  if test_hooks; then
    HARN_TEST_FORBIDDEN_SYSCALL=open strace -f -e trace=$trace -o neg.strace "$HARN_BIN" run "$SRC/tests/lang/stdlib_regex/unicode.harn" > /dev/null 2>&1
    if python3 check_strace.py neg.strace > /dev/null; then
      fail "strace negative control: an open after the lock-down went unnoticed"
    else
      pass "strace negative control: an open after the lock-down is caught"
    fi
  fi
fi

lib_finish
