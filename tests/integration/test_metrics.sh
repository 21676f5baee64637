#!/usr/bin/env bash
# test_metrics.sh: harn batch --metrics FILE (supervisor/metrics.c) writes
# the Prometheus text format that the node exporter's textfile collector
# reads, and its numbers are the results file's; --log-format json turns
# every supervisor line on stderr into one JSON object. (The runner's
# --metrics HOST:PORT is tested in test_runner.sh, which has a database.)
#
# - A real batch (ok, error, timeout jobs): the file parses (a small parser
#   of the text format below: HELP/TYPE before the samples, label syntax,
#   one family per name, histogram buckets cumulative with +Inf = count),
#   and jobs/attempts by status, signals, output bytes and the duration
#   histogram match the records; a write while the batch runs (the 5 s
#   tick) shows the running job and finished 0; the end: finished 1,
#   running 0; no FILE.tmp is left.
# - Retries (the fake worker: flaky crashes once, segv always):
#   attempts and jobs differ, retries_total counts the retry attempts.
# - A FILE that cannot be written: exit 2 before any job runs.
. "$(dirname "$0")/lib.sh"
lib_init fake python

# parse FILE: the text format, checked; prints the samples as JSON
# {"name{sorted labels}": value}; exits 1 with the reason on a bad line
cat > parse.py <<'PY'
import json, re, sys
fams, types, samples = {}, {}, {}
name_re = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
lab_re = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
def bad(n, why):
    print("line %d: %s" % (n, why)); sys.exit(1)
text = open(sys.argv[1]).read()
if not text.endswith("\n"): bad(0, "no final newline")
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        m = re.fullmatch(r'# HELP (%s) (.*)' % name_re, line) or bad(n, "bad HELP")
        if m.group(1) in fams: bad(n, "second HELP for " + m.group(1))
        fams[m.group(1)] = m.group(2)
        continue
    if line.startswith("# TYPE "):
        m = re.fullmatch(r'# TYPE (%s) (counter|gauge|histogram|summary|untyped)' % name_re, line) or bad(n, "bad TYPE")
        if m.group(1) in types: bad(n, "second TYPE for " + m.group(1))
        types[m.group(1)] = m.group(2)
        continue
    if line.startswith("#") or not line: bad(n, "unexpected line")
    m = re.fullmatch(r'(%s)(?:\{((?:%s)(?:,%s)*)\})? (\S+)' % (name_re, lab_re, lab_re), line) or bad(n, "bad sample: " + line)
    name, labs, value = m.group(1), m.group(2) or "", m.group(m.lastindex)
    fam = re.sub(r'_(bucket|sum|count)$', '', name) if re.sub(r'_(bucket|sum|count)$', '', name) in types else name
    if fam not in types: bad(n, "sample before its TYPE: " + name)
    if types[fam] == "counter" and not name.endswith("_total"): bad(n, "counter without _total")
    pairs = sorted(re.findall(lab_re, labs))
    if len(set(k for k, _ in pairs)) != len(pairs): bad(n, "repeated label")
    key = name + "{" + ",".join('%s=%s' % p for p in pairs) + "}"
    if key in samples: bad(n, "duplicate series " + key)
    samples[key] = float(value)
# histograms: cumulative buckets ending in +Inf == _count
for fam, t in types.items():
    if t != "histogram": continue
    bs = [(k, v) for k, v in samples.items() if k.startswith(fam + "_bucket{")]
    les = sorted(((float(re.search(r'le=([^,}]+)', k).group(1).replace("+Inf", "inf")), v) for k, v in bs))
    if not les or les[-1][0] != float("inf"): bad(0, fam + ": no +Inf bucket")
    if any(a[1] > b[1] for a, b in zip(les, les[1:])): bad(0, fam + ": buckets not cumulative")
    cnt = [v for k, v in samples.items() if k.startswith(fam + "_count{")]
    if cnt != [les[-1][1]]: bad(0, fam + ": +Inf bucket != count")
print(json.dumps(samples))
PY

# compare METRICS RESULTS BATCH: the metrics against the records
cat > compare.py <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); rs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
def get(name, **labels):
    key = name + "{" + ",".join('%s=%s' % p for p in sorted([("batch", sys.argv[3])] + list(labels.items()))) + "}"
    return s[key]
errs = []
def eq(what, got, want):
    if got != want: errs.append("%s: metrics %s, records %s" % (what, got, want))
last = {}
for r in rs: last[r["id"]] = r if r["id"] not in last or r["attempt"] > last[r["id"]]["attempt"] else last[r["id"]]
for st in ["ok", "error", "timeout", "cancelled", "killed", "crashed"]:
    eq("attempts " + st, get("harn_batch_attempts_total", status=st), sum(r["status"] == st for r in rs))
    eq("jobs " + st, get("harn_batch_jobs_total", status=st), sum(r["status"] == st for r in last.values()))
eq("retries", get("harn_batch_retries_total"), sum(r["attempt"] > 1 for r in rs))
sigs = [x["sig"] for r in rs for x in r["signals"]]
for sg in ["SIGTERM", "SIGINT", "SIGHUP", "SIGCONT", "SIGKILL"]:
    eq("signals " + sg, get("harn_batch_signals_total", signal=sg), sigs.count(sg))
eq("output bytes", get("harn_batch_output_bytes_total"), sum(len((r["output"] or "").encode()) + r["dropped"]["output_bytes"] for r in rs))
eq("duration count", get("harn_batch_job_duration_seconds_count"), len(rs))
total = sum(r["duration_ms"] for r in rs) / 1000
if abs(get("harn_batch_job_duration_seconds_sum") - total) > 0.001 * len(rs): errs.append("duration sum %s vs %s" % (get("harn_batch_job_duration_seconds_sum"), total))
for le in ["0.005", "0.1", "1", "2.5", "10"]:
    near = sum(abs(r["duration_ms"] / 1000 - float(le)) < 0.0001 for r in rs)
    want = sum(r["duration_ms"] / 1000 <= float(le) for r in rs)
    if abs(get("harn_batch_job_duration_seconds_bucket", le=le) - want) > near: errs.append("bucket %s" % le)
eq("finished", get("harn_batch_finished"), 1)
eq("running", get("harn_batch_running_jobs"), 0)
print("\n".join("   " + e for e in errs)); sys.exit(1 if errs else 0)
PY

mkdir jobs
printf 'pipeline default(t) {\n  println("hi")\n}\n' > jobs/ok1.harn
printf 'pipeline default(t) {\n  println("hello")\n}\n' > jobs/ok2.harn
printf 'pipeline default(t) {\n  let x = 0\n  println(1 / x)\n}\n' > jobs/err.harn
printf 'pipeline default(t) {\n  println("zz")\n  sleep(60s)\n}\n' > jobs/slow.harn

# --- a real batch: ok, error, timeout ------------------------------------------------------
"$HARN_BIN" batch jobs -j 4 --timeout 12s --results r.jsonl --metrics m.prom 2> b.err &
pid=$!
# the file is there from the start; the 5 s rewrite shows the job still running
mid=""
for _ in $(seq 1 110); do
  sleep 0.1
  [ -f m.prom ] || continue
  grep -q 'harn_batch_jobs_total{batch="m",status="ok"} 2' m.prom \
    && grep -q 'harn_batch_running_jobs{batch="m"} 1' m.prom && { cp m.prom mid.prom; mid=1; break; }
done
wait $pid; rc=$?
[ $rc = 1 ] && pass "batch with error and timeout jobs exits 1" || fail "batch rc=$rc $(cat b.err)"
if [ -n "$mid" ] && python3 parse.py mid.prom > mid.json; then
  grep -q 'harn_batch_finished{batch="m"} 0' mid.prom \
    && grep -q 'harn_batch_jobs_total{batch="m",status="timeout"} 0' mid.prom \
    && pass "rewritten while the batch runs: 2 ok, 1 running, finished 0" || fail "mid-batch file: $(cat mid.prom)"
else
  fail "no mid-batch rewrite with the slow job running within 11 s: $(cat m.prom 2>/dev/null | grep -E 'running|jobs_total')"
fi
if python3 parse.py m.prom > m.json; then
  pass "the file parses as the Prometheus text format (HELP, TYPE, labels, histogram)"
  out=$(python3 compare.py m.json r.jsonl m) && pass "its counts are the results file's (jobs, attempts, signals, bytes, durations)" \
    || fail "metrics vs records:
$out"
else
  fail "parse: $(python3 parse.py m.prom)"
fi
[ ! -e m.prom.tmp ] && pass "no m.prom.tmp left" || fail "m.prom.tmp left"
grep -q '^# TYPE harn_batch_job_duration_seconds histogram$' m.prom \
  && grep -q '^harn_batch_start_time_seconds{batch="m"} [0-9]*\.[0-9]*$' m.prom \
  && pass "duration histogram and start time gauge" || fail "histogram or start time"

# --- retries (the fake worker) --------------------------------------------------------------
printf '{"id":"f","file":"flaky.harn"}\n{"id":"s","file":"segv.harn"}\n{"id":"o","file":"ok.harn"}\n' > m.jsonl
touch flaky.harn segv.harn ok.harn
HARN_WORKER_CMD=$FAKE "$HARN_BIN" batch m.jsonl -j 2 --retries 1 --results r2.jsonl --metrics "$T/retry job.prom" 2> b2.err; rc=$?
if [ $rc = 1 ] && python3 parse.py "retry job.prom" > m2.json; then
  out=$(python3 compare.py m2.json r2.jsonl 'retry job') \
    && grep -q 'harn_batch_retries_total{batch="retry job"} 2' "retry job.prom" \
    && grep -q 'harn_batch_attempts_total{batch="retry job",status="crashed"} 3' "retry job.prom" \
    && grep -q 'harn_batch_jobs_total{batch="retry job",status="crashed"} 1' "retry job.prom" \
    && pass "retries: 5 attempts, 3 jobs, 2 retries, as the records say" || fail "retries:
$out $(grep -E 'retries|crashed' "retry job.prom")"
else
  fail "retry batch rc=$rc $(cat b2.err) $(python3 parse.py "retry job.prom")"
fi

# --- a FILE that cannot be written ----------------------------------------------------------
"$HARN_BIN" batch jobs/ok1.harn --results r3.jsonl --metrics "$T/no/such/dir/m.prom" > o3 2> e3; rc=$?
[ $rc = 2 ] && grep -q 'cannot write the metrics to .*no/such/dir/m.prom' e3 && [ ! -s r3.jsonl ] \
  && pass "an unwritable FILE: exit 2, nothing run" || fail "unwritable: rc=$rc $(cat e3)"

# --- --log-format json: every supervisor line on stderr is one JSON object -------------------
printf 'pipeline default(t) {\n  return 1\n}\n' > one.harn
"$HARN_BIN" batch one.harn --results /nonexistent-dir/r.jsonl --log-format json 2> lj1.err; rc1=$?
"$HARN_BIN" batch one.harn --halt bogus --log-format=json --bar 2> lj2.err; rc2=$?
python3 - lj1.err lj2.err "$rc1" "$rc2" <<'EOF' && pass "--log-format json: one object per line, source and level; usage errors too" \
  || fail "log json: $(cat lj1.err lj2.err)"
import json, sys
one = [json.loads(l) for l in open(sys.argv[1])]
two = [json.loads(l) for l in open(sys.argv[2])]
assert sys.argv[3] == "2" and sys.argv[4] == "2"
assert len(one) == 1 and one[0]["source"] == "harn batch" and one[0]["level"] == "error", one
assert one[0]["message"].startswith("cannot open /nonexistent-dir/r.jsonl"), one
assert set(one[0]) == {"time", "level", "source", "message"} and one[0]["time"].endswith("Z")
assert [m["level"] for m in two] == ["error", "error"] and two[1]["message"].startswith("usage: harn batch"), two
EOF
"$HARN_BIN" batch one.harn --log-format yaml 2> lj3.err; rc=$?
[ "$rc" = 2 ] && grep -q -- '--log-format: "yaml" is not text or json' lj3.err && pass "--log-format yaml: a usage error" \
  || fail "log yaml: rc=$rc $(cat lj3.err)"

lib_finish
