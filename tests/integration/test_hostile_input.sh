#!/usr/bin/env bash
# test_hostile_input.sh: the supervisor's input against hostile sources
# (issue 19), with the real worker. Checks:
#  - manifest lines with an empty "id", "source" or "file", or a NUL in
#    one, are bad lines (a message naming the line, exit 1) and run
#    nothing; the good lines around them run; an empty key and an empty
#    string inside "input" reach the job as they were given, and so do
#    numbers ("3.0" stays a float); a line nested too deep, a huge
#    "timeout" and a path line with a NUL byte are bad lines too;
#  - unbounded reads are bounded: `harn run /dev/zero` (and `-` fed
#    /dev/zero, and `harn check`) fail at once with "more than 64 MiB";
#    `harn batch /dev/zero`, a stream that sends 200 MB without a newline,
#    and a manifest with a line over the 32 MiB line cap report the line
#    (SOURCE:LINE) and go on with the next lines, in bounded memory;
#  - job ids that are not UTF-8 round-trip through the records: a file
#    named bad\xff.harn next to one named with U+FFFD in its place gives
#    two records with distinct ids, and --resume runs nothing again and
#    adds no record (also a supervisor_lost record from the journal);
#  - a source that cannot be read is that source's failure, not the
#    batch's: the other sources' jobs all run, a missing .harn path gets its
#    error record, a missing manifest a message, and the exit is 1.
# Memory is measured with /usr/bin/time (max RSS) and capped while the
# tests run (ulimit -v; hard_rss_limit_mb under ASan), so that a regression
# fails the test instead of the machine.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python

if grep -qa __asan_init "$HARN_BIN"; then # a sanitizer build: no ulimit -v (its shadow memory)
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=1500
  guard() { "$@"; }
else
  guard() { (ulimit -v 3000000; "$@"); }
fi
# rss_of FILE: the max RSS in KB /usr/bin/time wrote on the last line of FILE
rss_of() { tail -n 1 "$1" | tr -dc '0-9'; }

cat > ok.harn <<'EOF'
pipeline main(task) {
  println("ok")
  return 0
}
EOF
cat > show.harn <<'EOF'
pipeline main(task) {
  println(type_of(task.f) + " " + type_of(task.i) + " [" + task[""] + "] [" + task.e + "]")
  return 0
}
EOF

# --- empty and NUL-holding strings in a manifest ---------------------------------
{
  echo '{"id": "", "source": "pipeline main(task) { println(\"empty id ran\") }"}'
  echo '{"id": "empty-source", "source": ""}'
  echo '{"id": "empty-file", "file": ""}'
  echo '{"id": "good1", "file": "ok.harn"}'
  echo '{"id": "nul-id\u0000", "file": "ok.harn"}'
  echo '{"id": "nul-file", "file": "ok.harn\u0000.txt"}'
  echo '{"id": "nul-source", "source": "pipeline main(task) { return 0 }\u0000junk"}'
  echo '{"id": "input", "file": "show.harn", "input": {"": "", "e": "", "f": 3.0, "i": 3}}'
  echo '{"id": "deep", "file": "ok.harn", "input": '"$(printf '[%.0s' $(seq 300))$(printf ']%.0s' $(seq 300))"'}'
  echo '{"id": "forever", "file": "ok.harn", "timeout": 1e400}'
  echo '{"id": "good2", "source": "pipeline main(task) { println(\"two\") }"}'
} > m.jsonl
"$HARN_BIN" batch m.jsonl -j 2 --results m.out --no-bar 2> m.err; rc=$?
check "bad strings: only the good lines ran, the input as given (rc $rc)" m.out \
  "sorted(x['id'] for x in rs)==['good1','good2','input'] and all(x['status']=='ok' for x in rs) and [x['output'] for x in rs if x['id']=='input']==['float int [] []\n']"
[ "$rc" = 1 ] && grep -q '^harn batch: m.jsonl:1: "id" is empty$' m.err \
  && grep -q '^harn batch: m.jsonl:2: "source" is empty$' m.err \
  && grep -q '^harn batch: m.jsonl:3: "file" is empty$' m.err \
  && grep -q '^harn batch: m.jsonl:5: "id" holds a NUL character$' m.err \
  && grep -q '^harn batch: m.jsonl:6: "file" holds a NUL character$' m.err \
  && grep -q '^harn batch: m.jsonl:7: "source" holds a NUL character$' m.err \
  && grep -q '^harn batch: m.jsonl:9: nesting too deep$' m.err \
  && grep -q '^harn batch: m.jsonl:10: "timeout" is too large$' m.err \
  && pass "bad strings: each line said, exit 1" || fail "bad strings: rc=$rc: $(cat m.err)"

printf 'ok.harn\nok.harn\000x\n' | "$HARN_BIN" batch - --no-bar > nul.out 2> nul.err; rc=$?
[ "$rc" = 1 ] && [ "$(grep -c '"status":"ok"' nul.out)" = 1 ] && grep -q '^harn batch: stdin:2: a NUL byte in the line$' nul.err \
  && pass "a path line with a NUL byte is a bad line" || fail "NUL path line: rc=$rc: $(cat nul.err)"

# --- unbounded reads ---------------------------------------------------------------
t0=$(date +%s%N)
guard /usr/bin/time -f '%M' timeout 60 "$HARN_BIN" run /dev/zero > /dev/null 2> z.err; rc=$?
el=$(( ($(date +%s%N) - t0) / 1000000 )); rss=$(rss_of z.err)
[ "$rc" = 1 ] && grep -q '^error: Cannot read file /dev/zero: more than 64 MiB$' z.err && [ "$rss" -lt 400000 ] \
  && pass "run /dev/zero: an error at 64 MiB, exit 1 (${el} ms, ${rss} KB)" || fail "run /dev/zero: rc=$rc ${el} ms ${rss} KB: $(cat z.err)"
guard timeout 60 "$HARN_BIN" run - < /dev/zero > /dev/null 2> zs.err; rc=$?
[ "$rc" = 1 ] && grep -q '^error: Cannot read file -: more than 64 MiB$' zs.err \
  && pass "run - from /dev/zero: the same error" || fail "run -: rc=$rc: $(cat zs.err)"
guard timeout 60 "$HARN_BIN" check /dev/zero > /dev/null 2> zc.err; rc=$?
[ "$rc" = 1 ] && grep -q '^error: cannot read /dev/zero: more than 64 MiB$' zc.err \
  && pass "check /dev/zero: the same limit" || fail "check /dev/zero: rc=$rc: $(cat zc.err)"

guard /usr/bin/time -f '%M' timeout 60 "$HARN_BIN" batch /dev/zero --no-bar > bz.out 2> bz.err; rc=$?
rss=$(rss_of bz.err)
[ "$rc" = 1 ] && grep -q '^harn batch: /dev/zero:1: line longer than 32 MiB; skipped$' bz.err && [ ! -s bz.out ] \
  && [ "$rss" -lt 400000 ] && pass "batch /dev/zero: the line said, exit 1 (${rss} KB)" \
  || fail "batch /dev/zero: rc=$rc ${rss} KB: $(cat bz.err)"

# a stream: 200 MB without a newline, then jobs; the jobs after it run
{ head -c 200000000 /dev/zero; printf '\nok.harn\n{"id": "after", "file": "ok.harn"}\n'; } \
  | guard /usr/bin/time -f '%M' timeout 120 "$HARN_BIN" batch - --no-bar > st.out 2> st.err; rc=$?
rss=$(rss_of st.err)
[ "$rc" = 1 ] && grep -q '^harn batch: stdin:1: line longer than 32 MiB; skipped$' st.err && [ "$rss" -lt 400000 ] \
  && pass "a 200 MB line on stdin: said, in bounded memory (${rss} KB)" || fail "200 MB stdin line: rc=$rc ${rss} KB: $(cat st.err)"
check "a 200 MB line on stdin: the lines after it run" st.out \
  "sorted(x['id'] for x in rs)==['after','ok.harn'] and all(x['status']=='ok' for x in rs)"

# a manifest file: the line over the cap is lost, the lines around it run
python3 - <<'EOF'
import json
with open("long.jsonl", "w") as f:
    f.write(json.dumps({"id": "before", "file": "ok.harn"}) + "\n")
    f.write(json.dumps({"id": "long", "file": "ok.harn", "input": "x" * (33 << 20)}) + "\n")
    f.write(json.dumps({"id": "after", "file": "ok.harn"}) + "\n")
EOF
guard timeout 120 "$HARN_BIN" batch long.jsonl --results long.out --no-bar 2> long.err; rc=$?
[ "$rc" = 1 ] && grep -q '^harn batch: long.jsonl:2: line longer than 32 MiB; skipped$' long.err \
  && pass "a manifest line over the cap: said with its number, exit 1" || fail "long manifest line: rc=$rc: $(cat long.err)"
check "a manifest line over the cap: the others run" long.out \
  "[x['id'] for x in rs]==['before','after'] and all(x['status']=='ok' for x in rs)"

# --- ids that are not UTF-8 ----------------------------------------------------------
mkdir names
cp ok.harn names/$'bad\xff.harn'
cp ok.harn names/$'bad\xef\xbf\xbd.harn'
cp ok.harn names/$'c\xed\xa0\x80\xc0.harn'
"$HARN_BIN" batch names -j 2 --results names.jsonl --no-bar 2> names.err; rc=$?
check "ids not UTF-8: one record each, distinct ids, the bytes recoverable (rc $rc)" names.jsonl \
  "len(rs)==3 and sorted(x['id'].encode('utf-8','surrogateescape') for x in rs)==sorted([b'names/bad\xff.harn', b'names/bad\xef\xbf\xbd.harn', b'names/c\xed\xa0\x80\xc0.harn']) and all(x['file']==x['id'] and x['status']=='ok' for x in rs)"
"$HARN_BIN" batch names -j 2 --results names.jsonl --resume --no-bar 2> resume.err; rc=$?
check "ids not UTF-8: --resume runs nothing again, adds no record (rc $rc)" names.jsonl \
  "len(rs)==3 and len(set((x['id'], x['attempt']) for x in rs))==3"
[ "$rc" = 0 ] && [ "$(grep -c '"ev":"start"' names.jsonl.journal)" = 3 ] \
  && pass "ids not UTF-8: the journal has no new start" || fail "resume: rc=$rc, $(grep -c start names.jsonl.journal) starts: $(cat resume.err)"
# the journal's ids too: the supervisor died while the \xff job ran (its
# start is in the journal, its record is not): recorded lost, rerun, once
rm names.jsonl names.jsonl.journal
"$HARN_BIN" batch names -j 2 --results names.jsonl --no-bar 2> /dev/null
python3 - <<'EOF2'
import json
rs = [l for l in open("names.jsonl") if not json.loads(l)["id"].endswith("\udcff.harn")]
open("names.jsonl", "w").write("".join(rs))
EOF2
"$HARN_BIN" batch names -j 2 --results names.jsonl --resume --no-bar 2> lost.err; rc=$?
check "ids not UTF-8: the journal's start is found: lost once, rerun once (rc $rc)" names.jsonl \
  "len(rs)==4 and len(set((x['id'], x['attempt']) for x in rs))==4 and [(x['attempt'], x['status'], x.get('reason')) for x in rs if x['id'].endswith('\udcff.harn')]==[(1,'crashed','supervisor_lost'),(2,'ok',None)]"

# --- sources that cannot be read ------------------------------------------------------
mkdir okdir
cp ok.harn okdir/a.harn
cp ok.harn okdir/b.harn
"$HARN_BIN" batch okdir /nonexistent missing.jsonl okdir/a.harn --results src.out --no-bar 2> src.err; rc=$?
[ "$rc" = 1 ] && grep -q '^harn batch: cannot open missing.jsonl: No such file or directory$' src.err \
  && pass "unreadable sources: said, exit 1, the batch not aborted" || fail "unreadable sources: rc=$rc: $(cat src.err)"
check "unreadable sources: the other jobs ran, the missing file has its error record" src.out \
  "sorted((x['id'], x['status']) for x in rs)==[('a.harn','ok'),('nonexistent','error'),('okdir/a.harn','ok'),('okdir/b.harn','ok')] and all('No such file' in x['error']['message'] for x in rs if x['id']=='nonexistent')"
if [ "$(id -u)" != 0 ]; then
  mkdir -p okdir/locked && cp ok.harn okdir/locked/c.harn && chmod 000 okdir/locked
  "$HARN_BIN" batch okdir --results lk.out --no-bar 2> lk.err; rc=$?
  chmod 755 okdir/locked
  [ "$rc" = 1 ] && grep -q 'cannot read directory okdir/locked' lk.err && [ "$(wc -l < lk.out)" = 2 ] \
    && pass "an unreadable directory: said, the others run, exit 1" || fail "unreadable directory: rc=$rc: $(cat lk.err)"
else
  echo "skip - an unreadable directory (root reads it anyway)"
fi

lib_finish
