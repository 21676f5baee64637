#!/usr/bin/env bash
# test_results_formats.sh: what a results file holds (issue #18, docs/cli.md
# "Choosing fields and formats"): the record's stdout and stderr fields,
# --fields (id, attempt, status always; dotted names; a typo is a usage
# error with a suggestion), CSV and TSV tables read back by Python's csv
# module, --resume-failed of a table through its journal, --keep-order
# (source order whatever the ends, retries included, and after Ctrl-C), and
# `harn run FILE -- ARGS`.
#
# Real supervisor, real sandboxed workers, real signals.
. "$(dirname "$0")/lib.sh"
lib_init fake python

mkdir -p jobs
# Six jobs that end in the reverse of their order: a sleeps longest.
i=0
for n in a b c d e f; do
  i=$((i + 1))
  printf 'pipeline default(t) {\n  sleep(%dms)\n  println("out %s, with a comma")\n  eprintln("err %s\\tline")\n  return %d\n}\n' \
    $(( (7 - i) * 150 )) "$n" "$n" "$i" > "jobs/$n.harn"
done
printf 'pipeline default(t) {\n  println("two\\nlines \\"quoted\\"")\n  throw "boom"\n}\n' > bad.harn

# (a file given alone is its basename as an id; a directory's jobs are dir/name)
# --- stdout and stderr -------------------------------------------------------------------
"$HARN_BIN" batch jobs/f.harn --results s.jsonl --no-bar 2>/dev/null
check "record: stdout and stderr apart, output both in order" s.jsonl \
  "r['stdout']=='out f, with a comma\n' and r['stderr']=='err f\tline\n' and r['output']=='out f, with a comma\nerr f\tline\n'"

# --- --fields ------------------------------------------------------------------------------
"$HARN_BIN" batch jobs/f.harn bad.harn --results f.jsonl --fields value,error.message,counters.output_bytes --no-bar 2>/dev/null
check "--fields: id, attempt, status first, then the chosen ones; dotted names; null when absent" f.jsonl \
  "sorted(list(x.keys()) for x in rs)==[['id','attempt','status','value','error.message','counters.output_bytes']]*2 and sorted((x['id'],x['value'],x['error.message']) for x in rs)==[('bad.harn',None,'Thrown: boom'),('f.harn',6,None)]"
"$HARN_BIN" batch jobs/f.harn --results never.jsonl --fields value,stdot > u.out 2> u.err; rc=$?
[ "$rc" = 2 ] && grep -q 'harn batch: --fields: the record has no member "stdot" (did you mean "stdout"?)' u.err \
  && [ ! -e never.jsonl ] && pass "--fields: a typo is a usage error with a suggestion, nothing run" \
  || fail "--fields typo: rc=$rc $(cat u.err)"

# --- CSV and TSV ---------------------------------------------------------------------------
"$HARN_BIN" batch jobs bad.harn -j 3 --results t.csv --no-bar 2>/dev/null; rc=$?
python3 - t.csv "$rc" <<'EOF' && pass "CSV: header, one row per attempt, RFC 4180 quoting read back by Python's csv" || fail "csv: $(head -5 t.csv)"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert sys.argv[2] == "1"
assert list(rows[0].keys())[:3] == ["id", "attempt", "status"], rows[0].keys()
by = {r["id"]: r for r in rows}
assert len(rows) == 7 and len(by) == 7
assert by["jobs/c.harn"]["stdout"] == "out c, with a comma\n" and by["jobs/c.harn"]["value"] == "3"
assert by["jobs/c.harn"]["stderr"] == "err c\tline\n" and by["jobs/c.harn"]["reason"] == ""
assert by["bad.harn"]["status"] == "error" and by["bad.harn"]["error.message"] == "Thrown: boom"
assert by["bad.harn"]["stdout"] == 'two\nlines "quoted"\n'
EOF
"$HARN_BIN" batch bad.harn jobs/a.harn --results t.tsv --fields stdout,value --no-bar 2>/dev/null
python3 - t.tsv <<'EOF' && pass "TSV: one line per row, tab, newline and backslash escaped" || fail "tsv: $(cat -A t.tsv)"
import sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == "id\tattempt\tstatus\tstdout\tvalue", lines[0]
assert lines[-1] == "" and len(lines) == 4, lines
rows = {l.split("\t")[0]: l.split("\t") for l in lines[1:3]}
assert rows["bad.harn"] == ["bad.harn", "1", "error", 'two\\nlines "quoted"\\n', ""], rows["bad.harn"]
assert rows["a.harn"][3:] == ["out a, with a comma\\n", "1"], rows
EOF
"$HARN_BIN" batch jobs/a.harn --results - --results-format tsv --fields value 2>/dev/null > o.tsv
[ "$(cat o.tsv)" = "$(printf 'id\tattempt\tstatus\tvalue\na.harn\t1\tok\t1')" ] \
  && pass "--results - --results-format tsv: the table on stdout" || fail "tsv stdout: $(cat -A o.tsv)"

# --resume-failed of a CSV: the journal's ends say what to rerun; the header once
"$HARN_BIN" batch jobs bad.harn -j 3 --results t.csv --resume-failed --no-bar 2>/dev/null
python3 - t.csv <<'EOF' && pass "CSV --resume-failed: reruns only the failed job (attempt 2), no second header" || fail "csv resume: $(cut -c1-40 t.csv)"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 8, len(rows)
assert [(r["id"], r["attempt"]) for r in rows[7:]] == [("bad.harn", "2")], rows[7:]
assert all(r["id"] != "id" for r in rows)
EOF
rm -f t.csv.journal
"$HARN_BIN" batch jobs --results t.csv --resume > u.out 2> u.err; rc=$?
[ "$rc" = 2 ] && grep -q 'reads its journal, t.csv.journal, which is missing' u.err \
  && pass "CSV --resume without its journal: a usage error, nothing run" || fail "csv no journal: rc=$rc $(cat u.err)"

# --- --keep-order --------------------------------------------------------------------------
"$HARN_BIN" batch jobs -j 6 --results ends.jsonl --fields value --no-bar 2>/dev/null
"$HARN_BIN" batch jobs -j 6 --keep-order --results kept.jsonl --fields value --no-bar 2>/dev/null
check "without --keep-order the records come as the jobs end (f first)" ends.jsonl "rs[0]['id']!='jobs/a.harn'"
check "--keep-order: the records in source order" kept.jsonl \
  "[x['id'] for x in rs]==['jobs/%s.harn' % c for c in 'abcdef']"
# a retried job's attempts stay together, in place
printf 'pipeline default(t) {\n  throw "again"\n}\n' > again.harn
"$HARN_BIN" batch jobs/a.harn again.harn jobs/f.harn -j 3 -k --retries 2 --retry-on error --retry-delay 10ms \
  --results kr.jsonl --fields value --no-bar 2>/dev/null
check "--keep-order with retries: a job's attempts together, in source order" kr.jsonl \
  "[(x['id'],x['attempt']) for x in rs]==[('a.harn',1),('again.harn',1),('again.harn',2),('again.harn',3),('f.harn',1)]"
# Ctrl-C while the first job still runs: every record is written, in order
printf 'pipeline default(t) {\n  sleep(30s)\n}\n' > long.harn
"$HARN_BIN" batch long.harn jobs/e.harn jobs/f.harn -j 3 -k --grace 5s --results kc.jsonl --no-bar 2>/dev/null &
bp=$!
for _ in $(seq 100); do [ -s kc.jsonl.journal ] && [ "$(wc -l < kc.jsonl.journal)" -ge 3 ] && break; sleep 0.05; done
sleep 1 # e and f end and wait behind long
[ ! -s kc.jsonl ] && pass "--keep-order: ended jobs wait behind the running first one" || fail "kc early: $(cut -c1-80 kc.jsonl)"
kill -INT "$bp"; wait "$bp"; rc=$?
check "--keep-order and Ctrl-C: long cancelled, then e and f, exit 130 ($rc)" kc.jsonl \
  "$rc==130 and [(x['id'],x['status']) for x in rs]==[('long.harn','cancelled'),('e.harn','ok'),('f.harn','ok')]"

# --- harn run FILE -- ARGS -----------------------------------------------------------------
printf 'pipeline default(args) {\n  println("${len(args)}: ${join(args, "|")}")\n}\n' > args.harn
out=$("$HARN_BIN" run args.harn -- one "two words" --timeout 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = "3: one|two words|--timeout" ] && pass "run FILE -- ARGS: the arguments are the input (options after -- are arguments)" \
  || fail "run args: rc=$rc $out"
out=$("$HARN_BIN" run --inline args.harn -- x 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$out" = "1: x" ] && pass "run --inline FILE -- ARGS" || fail "inline args: rc=$rc $out"
"$HARN_BIN" run args.harn --input '["a"]' -- b > u.out 2> u.err; rc=$?
[ "$rc" = 2 ] && grep -q -- '--input and arguments after -- both give the input' u.err \
  && pass "run: --input and -- ARGS together are a usage error" || fail "both inputs: rc=$rc $(cat u.err)"

lib_finish
