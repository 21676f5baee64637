#!/bin/bash
# test_check_corpus.sh: `harn check` reports no false positive (issue 17).
#
# Every .harn file under tests/ and examples/ (the fuzz corpus aside) is
# checked with `harn check`. A file may fail only when its NAME.error expects
# that very error: the first `error:` line of the check's report must be
# matched by one of the .error patterns (a substring, or re:REGEX), i.e. the
# test is about a lex, parse or check error. Any other failure is a false
# positive of the static checker (or a compile error in a file that is
# supposed to run) and fails the test; a helper module may be broken on
# purpose, but not fail the checker. One `harn check DIR...` run over the
# whole corpus must also agree with the per-file verdicts (it exits 1: some
# tests expect check errors, and reports at least one error per failing file).
SRC=${HARN_SOURCE_DIR:-$(realpath "$(dirname "$0")/../..")}
. "$(dirname "$0")/lib.sh"
lib_init

# Is the line [2] matched by a pattern of the .error file [1]?
expects() {
  local pat
  while IFS= read -r pat || [ -n "$pat" ]; do
    [ -z "$pat" ] && continue
    if [ "${pat#re:}" != "$pat" ]; then
      printf '%s\n' "$2" | grep -Eq -- "${pat#re:}" && return 0
    else
      printf '%s\n' "$2" | grep -Fq -- "$pat" && return 0
    fi
  done < "$1"
  return 1
}

# the static checker's messages (vm/check.h)
CHECKER_MSGS='^error: (call target `|declared as |return type doesn.t match|Non-exhaustive match|`yield` is not allowed|type parameter |.* does not satisfy interface )'
n=0 bad=0 expected_fail=0
: > failing.txt
while IFS= read -r f; do
  n=$((n + 1))
  if "$HARN_BIN" check "$f" > /dev/null 2> out.err; then continue; fi
  # LeakSanitizer's own failure (its stop-the-world tracer, under heavy
  # load) is the tool's, not the checker's: that file is checked again
  if grep -q 'Sanitizer has encountered a fatal error' out.err &&
     "$HARN_BIN" check "$f" > /dev/null 2> out.err; then continue; fi
  first=$(grep -m1 '^error: ' out.err)
  [ -n "$first" ] || first="(no error: line; stderr: $(head -c 300 out.err | tr '\n' ' '))"
  e=${f%.harn}.error
  echo "$f" >> failing.txt
  if [ -f "$e" ] && expects "$e" "$first"; then
    expected_fail=$((expected_fail + 1))
    continue
  fi
  # a helper module (imported by tests, never run: _NAME.harn or under
  # helpers/) may be broken on purpose, but not fail the static checker
  case $f in
    */helpers/* | */_*)
      if ! printf '%s\n' "$first" | grep -Eq "$CHECKER_MSGS"; then
        expected_fail=$((expected_fail + 1))
        continue
      fi ;;
  esac
  bad=$((bad + 1))
  fail "false positive: $f: $first"
done < <(find "$SRC/tests" "$SRC/examples" -name '*.harn' -not -path "$SRC/tests/fuzz/*" | sort)

[ "$n" -gt 500 ] && pass "checked $n files ($expected_fail expected failures)" \
  || fail "only $n .harn files found under $SRC/tests and $SRC/examples"
[ "$bad" -eq 0 ] && pass "no false positive"
[ "$expected_fail" -gt 20 ] && pass "the tests that expect a check error fail it ($expected_fail)" \
  || fail "only $expected_fail files failed with their expected error"

# the same corpus in one run over directories: every failing file reported
"$HARN_BIN" check "$SRC/examples" "$SRC/tests" > /dev/null 2> all.err; rc=$?
nfail=$(wc -l < failing.txt)
nerr=$(grep -c '^error: ' all.err)
[ "$rc" -eq 1 ] && [ "$nerr" -ge "$nfail" ] && pass "harn check DIR... reports every failing file (rc $rc, $nerr errors, $nfail files)" \
  || fail "harn check DIR...: rc $rc, $nerr errors for $nfail failing files"
lib_finish
