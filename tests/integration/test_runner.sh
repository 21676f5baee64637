#!/usr/bin/env bash
# test_runner.sh: `harn submit` + `harn runner` + `harn jobs` against a real
# PostgreSQL (pg.sh starts a throwaway one): a batch end to end, whose
# records are the lines `harn batch --results` writes for the same jobs;
# resubmission is a no-op; unique keys hold under concurrent submitters;
# a running job cancelled from `harn jobs cancel`; retries through the
# database; then RUNNER.md's invariant queries. Skips (77) on a build
# without the database feature or a machine without PostgreSQL.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
pg_init
# a lease long enough that a loaded machine (ASan, ctest -j) never makes a
# runner look dead here: rescue is test_runner_faults.sh's business
FAST="--heartbeat 500ms --lease-ttl 10s --rescue-interval 300ms --poll 200ms"

"$H" db migrate > migrate.out 2>&1 && grep -q 'version 0 -> 2' migrate.out \
  && pass "db migrate creates the schema" || fail "db migrate: $(cat migrate.out)"
"$H" db migrate 2>&1 | grep -q 'up to date' && pass "db migrate again: up to date" || fail "second migrate"

# jobs: files in a directory, a manifest with inputs, sources and a repeated id
mkdir jobs
for i in 1 2 3 4; do printf 'pipeline main() {\n  log("job %d")\n  return %d\n}\n' "$i" "$i" > jobs/j$i.harn; done
printf 'pipeline main(x) {\n  return x.a * 10 + x.b\n}\n' > add.harn
printf 'pipeline main() {\n  throw "boom"\n}\n' > err.harn
cat > m.jsonl <<'EOF'
{"id":"add","file":"add.harn","input":{"b":2,"a":1}}
{"id":"src","source":"pipeline main() {\n  return 42\n}"}
{"id":"src","source":"pipeline main() {\n  return 43\n}"}
{"id":"err","file":"err.harn"}
{"id":"again","file":"jobs/j1.harn"}
EOF

"$H" submit --batch b1 jobs m.jsonl > sub1.out 2> sub1.err
rc=$?
[ "$rc" = 0 ] && [ "$(cat sub1.out)" = b1 ] && grep -q '9 jobs queued' sub1.err \
  && pass "submit queues 9 jobs" || fail "submit: rc=$rc $(cat sub1.out sub1.err)"
"$H" submit --batch b1 jobs m.jsonl > /dev/null 2> sub2.err
grep -q '0 jobs queued, 9 already there' sub2.err && pass "submitting the batch again is a no-op" \
  || fail "resubmit: $(cat sub2.err)"
n=$(pg_sql "SELECT count(*) FROM harn.program")
[ "$n" = 8 ] && pass "programs stored once by content ($n for 9 jobs)" || fail "programs: $n"
keys=$(pg_sql "SELECT string_agg(key, ' ' ORDER BY id) FROM harn.job")
[ "$keys" = "jobs/j1.harn jobs/j2.harn jobs/j3.harn jobs/j4.harn add src src#2 err again" ] \
  && pass "job keys are harn batch's ids" || fail "keys: $keys"

"$H" runner -j 2 --state-dir st1 --metrics 127.0.0.1:0 $FAST 2> runner1.err &
rp=$!
timeout 60 "$H" jobs wait --batch b1 --timeout 50s; rc=$?
[ "$rc" = 1 ] && pass "jobs wait: 1 (a job failed)" || fail "jobs wait: rc=$rc"
# --metrics ADDR: the runner's counters at a scrape (port 0: it says which)
mport=$(sed -n 's/.*metrics served on port \([0-9]*\).*/\1/p' runner1.err)
python3 - "$mport" <<'EOF' && pass "runner --metrics: GET /metrics counts the 9 attempts by status" || fail "metrics: $(cat runner1.err)"
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
got = {}
for l in text.splitlines():
    if l.startswith("harn_runner_attempts_total{"):
        got[l.split('status="')[1].split('"')[0]] = int(l.split()[-1])
assert sum(got.values()) == 9 and got["ok"] >= 7, got
assert "harn_runner_jobs_total" not in text and 'runner="' in text
assert "# TYPE harn_runner_job_duration_seconds histogram" in text
EOF
kill -TERM "$rp"; wait "$rp"; rc=$?
[ "$rc" = 0 ] && pass "SIGTERM: the idle runner drains and exits 0" || fail "runner exit $rc: $(cat runner1.err)"
n=$(pg_sql "SELECT count(*) FROM harn.runner")
[ "$n" = 0 ] && pass "the drained runner deregistered" || fail "runner rows: $n"

"$H" jobs results --batch b1 --results r.jsonl --joblog r.log
"$H" jobs results --batch b1 --results r.tsv --fields value
[ "$(head -1 r.tsv)" = "$(printf 'id\tattempt\tstatus\tvalue')" ] && [ "$(wc -l < r.tsv)" = 10 ] \
  && pass "jobs results --fields to a .tsv: the table" || fail "jobs results tsv: $(head -3 r.tsv)"
"$H" batch jobs m.jsonl --results b.jsonl --no-bar 2>/dev/null
python3 - r.jsonl b.jsonl > cmp.out <<'EOF'
import json, sys
run = [l.rstrip("\n") for l in open(sys.argv[1])]
bat = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
# what differs from one run to another, and import_root: a program sent as
# source imports std/ only (docs/runner.md)
vol = {"started_at", "duration_ms", "cpu_ms", "max_rss_kb", "counters", "worker"}
bad = []
for line in run:
    r = json.loads(line)
    b = bat.get(r["id"])
    if b is None or list(r) != list(b):
        bad.append(r["id"]); continue
    for k in r:
        if k in vol: continue
        x, y = r[k], b[k]
        if k == "sandbox" and x and y:
            x = {k2: v for k2, v in x.items() if k2 not in ("import_root", "seccomp_shared", "namespaces_shared")}
            y = {k2: v for k2, v in y.items() if k2 not in ("import_root", "seccomp_shared", "namespaces_shared")}
        if x != y: bad.append("%s.%s" % (r["id"], k))
print(len(run), len(bat), " ".join(bad))
EOF
[ "$(cat cmp.out)" = "9 9 " ] && pass "records equal harn batch's lines for the same jobs" || fail "records: $(cat cmp.out)"
[ "$(wc -l < r.jsonl)" = 9 ] && [ "$(head -1 r.log | cut -f1-3)" = "$(printf 'Seq\tHost\tStarttime')" ] \
  && [ "$(wc -l < r.log)" = 10 ] && pass "jobs results writes the records and a joblog" || fail "results files"
check "the manifest's input reaches the job in its order" r.jsonl \
  '[x["value"] for x in rs if x["id"] == "add"] == [12] and [x["value"] for x in rs if x["id"] == "src#2"] == [43]'
"$H" jobs list --batch b1 --state failed | grep -q "err" && pass "jobs list --state failed" || fail "jobs list"
"$H" jobs show 1 | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not (j["state"]=="succeeded" and j["attempts"][0]["status"]=="ok"))' \
  && pass "jobs show" || fail "jobs show: $("$H" jobs show 1)"

# --unique under 16 concurrent submitters: one job
echo 'pipeline main() { return 1 }' > u.harn
for i in $(seq 1 16); do "$H" submit --unique the-key --batch "u$i" u.harn > /dev/null 2>&1 & done
wait
n=$(pg_sql "SELECT count(*) FROM harn.job WHERE unique_key = 'the-key'")
[ "$n" = 1 ] && pass "--unique: 16 concurrent submitters, one job" || fail "unique: $n jobs"
# one batch submitted 8 times at once: each job once
for i in $(seq 1 8); do "$H" submit --batch same jobs > /dev/null 2>&1 & done
wait
n=$(pg_sql "SELECT count(*) FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'same'")
[ "$n" = 4 ] && pass "one batch submitted 8 times at once: 4 jobs" || fail "same batch: $n jobs"

# a running job cancelled from outside; a crashing job retried through the database
printf 'pipeline main() {\n  sleep(30s)\n  return 1\n}\n' > slow.harn
"$H" submit --batch slow --queue q2 slow.harn > /dev/null 2>&1
# a grace long enough that a loaded sanitizer build ends the cancelled job
# itself (cancelled), rather than being killed after it (killed)
"$H" runner -j 2 --queue q2 --state-dir st2 --grace 5s $FAST 2> runner2.err &
rp=$!
for i in $(seq 1 100); do [ "$(pg_sql "SELECT state FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'slow'")" = running ] && break; sleep 0.1; done
t0=$(date +%s%N)
"$H" jobs cancel --batch slow > cancel.out
timeout 20 "$H" jobs wait --batch slow --timeout 15s; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
st=$(pg_sql "SELECT j.state || ' ' || a.status || ' ' || a.reason FROM harn.job j JOIN harn.attempt a ON a.job_id = j.id JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'slow'")
[ "$rc" = 1 ] && [ "$st" = "cancelled cancelled cancel" ] && pass "jobs cancel stops a running job (${ms} ms to its record)" \
  || fail "cancel: rc=$rc state '$st' $(cat cancel.out)"
"$H" submit --batch retry --queue q2 --retries 2 --retry-on error err.harn > /dev/null 2>&1
timeout 30 "$H" jobs wait --batch retry --timeout 25s
n=$(pg_sql "SELECT string_agg(a.attempt || ':' || a.status, ' ' ORDER BY a.attempt) FROM harn.attempt a JOIN harn.job j ON j.id = a.job_id JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'retry'")
[ "$n" = "1:error 2:error 3:error" ] && pass "--retries 2 --retry-on error: three attempts through the database" || fail "retries: $n"
kill -TERM "$rp"; wait "$rp"

# --drain-timeout: SIGTERM drains, and cancels what still runs after it
"$H" submit --batch dt --queue q3 slow.harn > /dev/null 2>&1
"$H" runner -j 1 --queue q3 --state-dir st3 --drain-timeout 1s --grace 5s $FAST 2> runner3.err &
rp=$!
for i in $(seq 1 100); do [ "$(pg_sql "SELECT state FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'dt'")" = running ] && break; sleep 0.1; done
t0=$(date +%s%N)
kill -TERM "$rp"; wait "$rp"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
st=$(pg_sql "SELECT j.state || ' ' || a.status || ' ' || a.reason FROM harn.job j JOIN harn.attempt a ON a.job_id = j.id JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'dt'")
[ "$rc" = 130 ] && [ "$ms" -ge 900 ] && [ "$ms" -lt 15000 ] && [ "$st" = "available cancelled cancel" ] \
  && grep -q -- '--drain-timeout: cancelling 1 running job' runner3.err \
  && pass "--drain-timeout 1s: the 30 s job cancelled after the drain time (${ms} ms), a lost attempt, back in the queue" \
  || fail "drain timeout: rc=$rc ${ms} ms '$st' $(cat runner3.err)"
"$H" jobs cancel --batch dt > /dev/null

# submit --wait: submit, wait for a runner to finish the batch, write its records
"$H" runner -j 2 --queue q4 --state-dir st4 $FAST 2> runner4.err &
rp=$!
"$H" submit --batch w --queue q4 --wait --results w.csv --fields value jobs/j2.harn err.harn > w.out 2> w.err; rc=$?
python3 - w.csv <<'EOF' && [ "$rc" = 1 ] && [ "$(cat w.out)" = w ] \
  && pass "submit --wait --results: exit 1 (a job failed), the records of the batch as a table" || fail "submit --wait: rc=$rc $(cat w.out w.err w.csv)"
import csv, sys
rows = sorted((r["id"], r["status"], r["value"]) for r in csv.DictReader(open(sys.argv[1], newline="")))
assert rows == [("err.harn", "error", ""), ("j2.harn", "ok", "2")], rows
EOF
kill -TERM "$rp"; wait "$rp"

# harn queues pause|resume: a paused queue keeps its jobs, runners claim none
"$H" queues pause q5 2> qp.err
"$H" submit --batch pq --queue q5 jobs/j3.harn > /dev/null 2>&1
"$H" runner -j 1 --queue q5 --state-dir st5 $FAST 2> runner5.err &
rp=$!
sleep 1.5
st1=$(pg_sql "SELECT j.state FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'pq'")
"$H" queues list > ql.out
"$H" queues resume q5 2> qr.err
timeout 30 "$H" jobs wait --batch pq --timeout 25s; rc=$?
[ "$st1" = available ] && [ "$rc" = 0 ] && grep -q "^q5	paused	1 available	0 running$" ql.out \
  && grep -q "q5 paused" qp.err && grep -q "q5 resumed" qr.err \
  && pass "queues pause: the job waits (listed paused); resume: it runs" \
  || fail "queues: '$st1' rc=$rc $(cat ql.out qp.err qr.err)"
kill -TERM "$rp"; wait "$rp"
"$H" queues stop q5 > /dev/null 2> qs.err; rc=$?
[ "$rc" = 2 ] && grep -q '"stop" is not list, pause or resume' qs.err && pass "queues: an unknown subcommand is a usage error" \
  || fail "queues stop: rc=$rc $(cat qs.err)"

# harn.lost_record (SQL) writes the line batch.c writes for a lost attempt, byte for byte
python3 - <<'PY'
import json
ids = ['we"ird\\ \x7f \x01\t\u00e9\U0001d11e /x', "plain"]
with open("lost.jsonl.journal", "w") as f:
    for i in ids:
        f.write(json.dumps({"ev": "start", "id": i, "attempt": 1, "file": i + ".harn"}) + "\n")
PY
: > lost.jsonl
echo 'pipeline main() { return 1 }' > ok1.harn
"$H" batch ok1.harn --results lost.jsonl --resume --no-bar 2>/dev/null
counters=$(python3 -c 'import json; print(json.dumps(json.loads(open("lost.jsonl").readline())["counters"], separators=(",", ":")))')
python3 - "$counters" > lost.cmp <<'PY'
import json, subprocess, sys
ok = 0
for line in open("lost.jsonl"):
    r = json.loads(line)
    if r.get("reason") != "supervisor_lost": continue
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "id=" + r["id"], "-v", "file=" + r["file"],
                          "-v", "c=" + sys.argv[1]],  # variables are interpolated in input, not in -c
                         input="SELECT harn.lost_record(:'id', 1, :'file', 'supervisor_lost', :'c');\n",
                         capture_output=True, text=True).stdout.rstrip("\n")
    ok += out == line.rstrip("\n")
print(ok)
PY
[ "$(cat lost.cmp)" = 2 ] && pass "harn.lost_record writes batch.c's supervisor_lost line byte for byte" \
  || fail "lost_record: $(cat lost.cmp) of 2 equal"

"$H" jobs doctor > doctor.out && pass "jobs doctor: the invariants hold" || fail "doctor: $(cat doctor.out)"
pg_invariants
lib_finish
