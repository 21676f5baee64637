# lib.sh: the prelude every integration script sources (not a test itself:
# ctest registers only test_*.sh).
#
#   . "$(dirname "$0")/lib.sh"
#   lib_init [fake] [python]   # HARN_BIN checked (and build/fake_worker with
#                              # `fake`, python3 with `python`); a fresh
#                              # temporary directory $T, removed on exit
#                              # unless KEEP_TMP is set; the cwd is $T
#   pass NAME / fail NAME      # one "ok   - " / "FAIL - " line; fail counts
#   check NAME FILE EXPR       # EXPR (Python) over the JSON lines of FILE
#   lib_finish                 # the summary line; exit 1 if anything failed
#   skip_all REASON            # the script cannot run its checks here (a tool
#                              # is missing): "skip: REASON", exit 77, which
#                              # ctest reports as Skipped (SKIP_RETURN_CODE),
#                              # not Passed. One check of many that cannot run
#                              # prints a "skip - ..." line and the script goes on.
#
# In check's EXPR: rs is every JSON line of FILE, first / last the first
# and last ones, r the one the script picked with CHECK_PICK=first|last
# (default first: a --results file holds one record per line; `harn run
# --events --json` prints the terminal record last), ev the lines before
# the last one (the events), lc the lifecycle events among them and types
# the event types in order. On failure the records are printed.
# HARN_WORKER_CMD is unset: a script that wants a stand-in worker exports
# it after lib_init (FAKE is the path of the protocol-speaking test helper).

lib_init() {
  HARN_BIN=${HARN_BIN:-$(dirname "$0")/../../build/harn}
  [ -x "$HARN_BIN" ] && HARN_BIN=$(realpath "$HARN_BIN") # the tests cd to $T
  FAKE=$(dirname "$HARN_BIN")/fake_worker
  [ -x "$HARN_BIN" ] || { echo "FAIL: no harn binary at $HARN_BIN"; exit 1; }
  local need
  for need in "$@"; do
    case $need in
      fake) [ -x "$FAKE" ] || { echo "FAIL: no fake_worker at $FAKE"; exit 1; } ;;
      python) command -v python3 >/dev/null || { echo "FAIL: python3 is needed"; exit 1; } ;;
    esac
  done
  unset HARN_WORKER_CMD
  T=$(mktemp -d)
  [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$T"' EXIT
  cd "$T" || exit 1
  fails=0
}

pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }

check() {
  local name=$1 file=$2 expr=$3
  if CHECK_PICK=${CHECK_PICK:-first} python3 - "$file" "$expr" <<'EOF'
import json, os, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
first = rs[0] if rs else None
last = rs[-1] if rs else None
r = last if os.environ["CHECK_PICK"] == "last" else first
ev = rs[:-1]
lc = [e for e in ev if e.get("type") == "lifecycle"]
types = [e.get("type") for e in ev]
ok = eval(sys.argv[2])
if not ok:
    print("   records:", json.dumps(rs)[:3000])
sys.exit(0 if ok else 1)
EOF
  then pass "$name"; else fail "$name"; fi
}

# test_hooks: true when $HARN_BIN honours the HARN_TEST_* fault injections
# (built with -DHARN_TEST_HOOKS=ON, the default; `harn --version` says
# "test hooks: on"). A check that needs them prints a "skip - ..." line
# instead on a release build.
test_hooks() {
  "$HARN_BIN" --version | grep -qx 'test hooks: on'
}

skip_all() {
  echo "skip: $*"
  exit 77
}

# stderr of $1 matches every non-empty line of the .error file $2 (a
# substring, or re:ERE for a line of it), as `harn test` matches them.
matches_error() {
  python3 - "$1" "$2" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
for pat in open(sys.argv[2]).read().splitlines():
    if not pat.strip():
        continue
    if pat.startswith("re:"):
        if not any(re.search(pat[3:], l) for l in text.splitlines()):
            sys.exit(1)
    elif pat not in text:
        sys.exit(1)
EOF
}

# lang_sandboxed FILE...: each language test program (NAME.harn beside its
# NAME.expected or NAME.error) through the real sandboxed worker (`harn
# run FILE`, not --inline): stdout must equal NAME.expected, or the run
# must fail with a stderr matching NAME.error. Sets LANG_PROGS (those with
# an .expected, for lang_batched) and LANG_N (programs seen).
lang_sandboxed() {
  LANG_PROGS=()
  LANG_N=0
  local f base name rc
  for f in "$@"; do
    [ -e "$f" ] || continue
    base=${f%.harn}
    name=$(basename "$(dirname "$f")")/$(basename "$base")
    LANG_N=$((LANG_N + 1))
    "$HARN_BIN" run "$f" > out.txt 2> err.txt
    rc=$?
    if [ -f "$base.expected" ]; then
      LANG_PROGS+=("$f")
      if [ $rc = 0 ] && cmp -s out.txt "$base.expected"; then
        pass "harn run $name"
      else
        fail "harn run $name (exit $rc)"
        diff "$base.expected" out.txt | head -n 20
        head -n 5 err.txt
      fi
    elif [ -f "$base.error" ]; then
      if [ $rc != 0 ] && matches_error err.txt "$base.error"; then
        pass "harn run $name fails as expected"
      else
        fail "harn run $name (exit $rc)"
        head -n 5 err.txt
      fi
    fi
  done
}

# lang_batched WHAT: the LANG_PROGS as one `harn batch -j 2` (from the
# second worker on, clones of the zygote under its pool filter): every
# record ok with its program's expected output.
lang_batched() {
  : > all.jsonl
  local i=0 f
  for f in "${LANG_PROGS[@]}"; do
    i=$((i + 1))
    python3 -c 'import json,sys; print(json.dumps({"id": "p%s" % sys.argv[1], "file": sys.argv[2]}))' "$i" "$f" >> all.jsonl
  done
  "$HARN_BIN" batch all.jsonl -j 2 --no-bar > all.out 2> all.err
  if python3 - all.jsonl all.out <<'EOF'
import json, sys
jobs = {j["id"]: j["file"] for j in map(json.loads, open(sys.argv[1]))}
recs = {r["id"]: r for r in map(json.loads, open(sys.argv[2]))}
bad = 0
for jid, f in jobs.items():
    r = recs.get(jid)
    if r is None or r["status"] != "ok" or r["output"] != open(f[:-5] + ".expected").read():
        bad += 1
        print("   %s: %s %s" % (f, r and r["status"], r and (r.get("error") or "")))
sys.exit(1 if bad else 0)
EOF
  then pass "harn batch -j 2: every $1 program ok with its expected output"
  else fail "harn batch -j 2 of the $1 programs"; fi
}

lib_finish() {
  if [ "$fails" -eq 0 ]; then echo "all passed"; else echo "$fails failed"; fi
  exit $((fails > 0))
}
