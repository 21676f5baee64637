#!/bin/bash
# test_cli_options.sh: the command line as a user types it (supervisor/options.c):
# --opt=VALUE and --opt VALUE, `--` ending the options, and usage errors: one
# line naming the option, the usage line, exit 2, nothing run. The parser's
# cases one by one are in tests/unit/test_cli_options.c; this checks them
# through the real binary, for each command.
. "$(dirname "$0")/lib.sh"
lib_init python

printf 'pipeline main(task) { println(task) }\n' > ok.harn
cp ok.harn ./-x.harn

# --- accepted forms -------------------------------------------------------------------------
out=$("$HARN_BIN" run ok.harn --input=7 --timeout=5s --grace 100ms 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = 7 ] && pass "run: --opt=VALUE and --opt VALUE" || fail "run forms: rc=$rc $out"
out=$("$HARN_BIN" run --input=5 -- -x.harn 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = 5 ] && pass "run: -- ends the options (a file named -x.harn)" || fail "--: rc=$rc $out"
out=$("$HARN_BIN" run --inline ok.harn --input=[1] --timeout=5s 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = "[1]" ] && pass "run --inline: the same forms" || fail "inline forms: rc=$rc $out"
"$HARN_BIN" run ok.harn --input '"abcdefgh"' --max-output=3 --json > cap.out; rc=$?
check "run: --max-output=3 reaches the pool (rc $rc)" cap.out 'r["output"] == "abc" and r["output_truncated"]'
"$HARN_BIN" batch -j1 --no-bar ok.harn --results=b.out -- -x.harn; rc=$?
check "batch: -jN, --results=FILE, a source after -- (rc $rc)" b.out \
  'sorted(x["file"] for x in rs) == ["-x.harn", "ok.harn"] and all(x["status"] == "ok" for x in rs)'
"$HARN_BIN" test --gc-stress . > t.out 2>&1; rc=$?
# ok.harn has no .expected: a failure, but one that ran (--gc-stress after `test` parsed)
[ "$rc" = 1 ] && grep -q '^0 passed, 2 failed$' t.out && pass "test: --gc-stress then a PATH" \
  || fail "test --gc-stress: rc=$rc $(cat t.out)"

# --- usage errors: exit 2, the message, the usage line, nothing run ---------------------------
# expect LINE CMD ARGS...: exit 2, LINE first on stderr (LINE ending in *: a
# prefix of it), then the usage line; nothing on stdout, nothing run
expect() {
  local line=$1 first
  shift
  "$HARN_BIN" "$@" > u.out 2> u.err
  local rc=$?
  first=$(head -1 u.err)
  [[ $line == *'*' && $first == "${line%\*}"* ]] && line=$first
  if [ "$rc" = 2 ] && [ "$first" = "$line" ] && sed -n 2p u.err | grep -q "^usage: harn $1 " \
     && [ ! -s u.out ] && [ ! -e never.out ]; then
    pass "$*: $line"
  else
    fail "$*: rc=$rc stderr: $(cat u.err) stdout: $(head -c 200 u.out)"
  fi
}
expect 'harn batch: --timeout: "abc" is not a duration (examples: 250ms, 5s, 2m)' \
  batch ok.harn --timeout abc --results never.out
expect 'harn run: --timeout: "1e300" is too long (the most is 1e15 ms, about 31,700 years)' \
  run ok.harn --timeout 1e300
expect 'harn batch: --cpu: "1e308w" is too long (the most is 1e15 ms, about 31,700 years)' \
  batch ok.harn --cpu=1e308w --results never.out
expect 'harn run: --memory: "1e30G" is too large (the most is 256 TiB)' run ok.harn --memory 1e30G
expect 'harn run: --max-output: "-1" is not a size (examples: 1000, 64K, 256M, 1G)' \
  run ok.harn --max-output -1
expect 'harn batch: -j: "5x" is not a job count (N, N%, +N or -N)' batch ok.harn -j5x --results never.out
expect 'harn batch: --jobs needs a value (N)' batch ok.harn --jobs
expect 'harn run: --max-events: "0" is not a count from 1 to 1000000000' run ok.harn --max-events 0
expect 'harn run: --json takes no value ("1" given)' run ok.harn --json=1
expect 'harn run: unknown option --timout (did you mean --timeout?)' run ok.harn --timout 5s
expect 'harn check: --timeout is not an option of harn check (only of run, batch, submit, runner, jobs)' \
  check ok.harn --timeout 1s
expect 'harn run: --json does not apply with --inline' run --inline ok.harn --json
expect 'harn run: --input: "{bad" is not valid JSON (*' run ok.harn --input '{bad'
expect 'harn batch: --halt: "sometimes" is not never, or soon|now,fail|success|done=N[%]' \
  batch ok.harn --halt sometimes --results never.out
expect 'harn batch: --resume needs --results FILE (a regular file: the records are read back)' batch ok.harn --resume
expect 'harn run: only one FILE may be given ("b.harn" is another)' run ok.harn b.harn -- -x.harn
expect 'harn disasm: no FILE given' disasm
expect 'harn test: no PATH given' test --gc-stress

# --- help wins over a usage error; it runs nothing --------------------------------------------
"$HARN_BIN" batch ok.harn --bogus --help --results never.out > h.out 2> h.err; rc=$?
[ "$rc" = 0 ] && head -1 h.out | grep -q '^usage: harn batch SOURCE' && [ ! -s h.err ] && [ ! -e never.out ] \
  && pass "--help after an unknown option: the help, exit 0, nothing run" || fail "help: rc=$rc $(cat h.err)"
# every option of the table shows in its command's help (the generated lines)
ok=1
for o in input timeout grace json events max-output max-events memory cpu no-sandbox inline; do
  "$HARN_BIN" run --help | grep -q -- "--$o\b" || { ok=0; echo "# run --help lacks --$o"; }
done
for o in jobs timeout grace retries results resume resume-failed joblog halt bar no-bar spares; do
  "$HARN_BIN" batch --help | grep -q -- "--$o\b" || { ok=0; echo "# batch --help lacks --$o"; }
done
"$HARN_BIN" run --help | awk 'length > 80 { bad = 1 } END { exit bad }' || { ok=0; echo "# run --help: a line over 80 columns"; }
"$HARN_BIN" batch --help | awk 'length > 80 { bad = 1 } END { exit bad }' || { ok=0; echo "# batch --help: a line over 80 columns"; }
[ $ok = 1 ] && pass "help lists each command's options, within 80 columns" || fail "help texts"

# harn help builtins: every builtin, in columns within 80
"$HARN_BIN" help builtins > hb.out; rc=$?
n=$(head -1 hb.out | cut -d' ' -f1)
words=$(tail -n +3 hb.out | wc -w)
[ "$rc" = 0 ] && [ "$n" -gt 200 ] && [ "$words" = "$n" ] && grep -qw regex_match hb.out && grep -qw read_file hb.out \
  && awk 'length > 80 { bad = 1 } END { exit bad }' hb.out \
  && pass "help builtins: all $n names, within 80 columns" || fail "help builtins: rc=$rc n=$n words=$words"

lib_finish
