#!/usr/bin/env bash
# test_runner_faults.sh: the failure matrix of RUNNER.md section 6 against
# a real PostgreSQL (pg.sh), each case followed by the invariant queries:
#   1. SIGKILL of a runner mid-job: another runner rescues its jobs
#      (crashed/runner_lost) within the lease TTL + the rescue interval,
#      and attempt 2 succeeds;
#   2. a killed runner started again on its --state-dir rescues its
#      previous incarnation at once (long before the TTL);
#   3. SIGTERM drains: running jobs finish, nothing more is claimed, exit 0;
#   4. the database stopped (immediate) and started again with jobs
#      running: no job interrupted, no rescue, every record lands;
#   5. the database frozen (SIGSTOP) longer than the lease: the runner
#      fences itself (stops its jobs before the lease ends); after the
#      thaw each job runs again, and no attempt started before the
#      previous one had really ended (its record's started_at +
#      duration_ms, wherever that record landed).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
pg_init
FAST="--heartbeat 200ms --lease-ttl 2s --rescue-interval 200ms --poll 200ms"
"$H" db migrate > /dev/null || { echo "FAIL: migrate"; exit 1; }

sleeper() { printf 'pipeline main() {\n  sleep(%s)\n  return 0\n}\n' "$2" > "$1"; }
# wait_for SQL VALUE [TENTHS]: until the query gives VALUE (default 15 s)
wait_for() {
  local i
  for i in $(seq 1 "${3:-150}"); do [ "$(pg_sql "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
attempts() { # the attempts of batch $1: "KEY:N:STATUS:REASON ..."
  pg_sql "SELECT string_agg(j.key || ':' || a.attempt || ':' || a.status || ':' || coalesce(a.reason, '-'), ' '
          ORDER BY j.id, a.attempt) FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id
          JOIN harn.attempt a ON a.job_id = j.id WHERE b.name = '$1'"
}
running_in() { echo "SELECT count(*) FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = '$1' AND j.state = 'running'"; }

# 1. SIGKILL of a runner mid-job
sleeper s3.harn 3s
cp s3.harn s3b.harn
"$H" submit --batch kill --queue qa s3.harn s3b.harn > /dev/null 2>&1
"$H" runner -j 2 --queue qa --state-dir stA $FAST 2> A.err &
ra=$!
wait_for "$(running_in kill)" 2 || fail "runner A did not claim both jobs"
"$H" runner -j 2 --queue qa --state-dir stB $FAST 2> B.err &
rb=$!
sleep 0.3
kill -9 "$ra"; wait "$ra" 2>/dev/null
t0=$(date +%s%N)
wait_for "SELECT count(*) FROM harn.attempt a JOIN harn.job j ON j.id = a.job_id JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'kill' AND a.reason = 'runner_lost'" 2 \
  || fail "no rescue"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -le 6000 ] && pass "SIGKILL: runner B rescued A's jobs in ${ms} ms (TTL 2 s + 200 ms)" || fail "rescue took ${ms} ms"
timeout 30 "$H" jobs wait --batch kill --timeout 25s
a=$(attempts kill)
[ "$a" = "s3.harn:1:crashed:runner_lost s3.harn:2:ok:- s3b.harn:1:crashed:runner_lost s3b.harn:2:ok:-" ] \
  && pass "attempt 1 crashed/runner_lost, attempt 2 ok" || fail "attempts: $a"
n=$(pg_sql "SELECT count(*) FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'kill' AND lost_attempts = 1 AND max_attempts = 1")
[ "$n" = 2 ] && pass "a lost attempt is a free retry" || fail "lost_attempts: $n"
python3 - > lost.out <<EOF
import json, subprocess
rec = subprocess.run(["psql", "-X", "-At", "-c", "SELECT record FROM harn.attempt WHERE reason = 'runner_lost' LIMIT 1"],
                     capture_output=True, text=True).stdout.strip()
r = json.loads(rec)
keys = ["id","attempt","file","status","reason","value","exit_code","error","output","stdout","stderr","output_truncated","steps",
        "steps_truncated","lifecycle","lifecycle_truncated","emits","emits_truncated","dropped","started_at",
        "duration_ms","cpu_ms","max_rss_kb","signals","hard_stop","counters","worker","sandbox"]
print(list(r) == keys and r["file"] in ("s3.harn", "s3b.harn"), r["status"], r["reason"])
EOF
[ "$(cat lost.out)" = "True crashed runner_lost" ] && pass "the rescue's record has the fields of a --resume supervisor_lost line" \
  || fail "lost record: $(cat lost.out)"
kill -TERM "$rb"; wait "$rb"
pg_invariants

# 2. restarted on its state dir: the previous incarnation rescued at once
sleeper s2.harn 2s
"$H" submit --batch again --queue qb s2.harn > /dev/null 2>&1
SLOW="--heartbeat 1s --lease-ttl 30s --rescue-interval 1s --poll 200ms"
"$H" runner -j 1 --queue qb --state-dir stC $SLOW 2> C1.err &
rc1=$!
wait_for "$(running_in again)" 1 || fail "runner C did not claim"
kill -9 "$rc1"; wait "$rc1" 2>/dev/null
t0=$(date +%s%N)
"$H" runner -j 1 --queue qb --state-dir stC $SLOW 2> C2.err &
rc2=$!
wait_for "SELECT count(*) FROM harn.attempt WHERE reason = 'runner_lost' AND job_id = (SELECT j.id FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'again')" 1 \
  || fail "the previous incarnation was not rescued"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -le 5000 ] && pass "restarted on its state dir: previous incarnation rescued in ${ms} ms (TTL 30 s)" \
  || fail "restart rescue took ${ms} ms"
timeout 30 "$H" jobs wait --batch again --timeout 25s
a=$(attempts again)
[ "$a" = "s2.harn:1:crashed:runner_lost s2.harn:2:ok:-" ] && pass "and attempt 2 ran there" || fail "attempts: $a"
n=$(pg_sql "SELECT count(*) FROM harn.runner")
[ "$n" = 1 ] && pass "the previous incarnation's row is gone" || fail "runner rows: $n"
kill -TERM "$rc2"; wait "$rc2"
pg_invariants

# 3. SIGTERM drains
"$H" submit --batch drain --queue qc s2.harn > /dev/null 2>&1
"$H" runner -j 1 --queue qc --state-dir stD $SLOW 2> D.err &
rd=$!
wait_for "$(running_in drain)" 1 || fail "runner D did not claim"
kill -TERM "$rd"
sleep 0.3
"$H" submit --batch drain2 --queue qc s2.harn > /dev/null 2>&1
wait "$rd"; rc=$?
a=$(attempts drain)
st=$(pg_sql "SELECT j.state FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = 'drain2'")
[ "$rc" = 0 ] && [ "$a" = "s2.harn:1:ok:-" ] && [ "$st" = available ] \
  && pass "SIGTERM: the running job finished, nothing more claimed, exit 0" || fail "drain: rc=$rc '$a' '$st' $(cat D.err)"
pg_invariants

# 4. the database restarted under running jobs
for i in 1 2 3 4; do sleeper "d$i.harn" 3s; done
"$H" submit --batch dbr --queue qd d1.harn d2.harn d3.harn d4.harn > /dev/null 2>&1
"$H" runner -j 4 --queue qd --state-dir stE --heartbeat 200ms --lease-ttl 10s --rescue-interval 200ms --poll 200ms 2> E.err &
re=$!
"$H" runner -j 4 --queue qd --state-dir stF --heartbeat 200ms --lease-ttl 10s --rescue-interval 200ms --poll 200ms 2> F.err &
rf=$!
wait_for "$(running_in dbr)" 4 || fail "the runners did not claim the 4 jobs"
pg_immediate_stop
sleep 0.5
pg_restart || fail "the database did not start again"
timeout 40 "$H" jobs wait --batch dbr --timeout 35s; rc=$?
a=$(attempts dbr)
[ "$rc" = 0 ] && [ "$a" = "d1.harn:1:ok:- d2.harn:1:ok:- d3.harn:1:ok:- d4.harn:1:ok:-" ] \
  && pass "database restarted: every job ran once, its record landed" || fail "db restart: rc=$rc '$a'"
grep -q "connection lost" E.err && pass "(the runner saw the connection go)" || fail "no reconnection: $(cat E.err)"
kill -TERM "$re" "$rf"; wait "$re" "$rf"
pg_invariants

# 5. the database frozen longer than the lease: self-fencing
sleeper f1.harn 4s
cp f1.harn f2.harn
"$H" submit --batch freeze --queue qf f1.harn f2.harn > /dev/null 2>&1
"$H" runner -j 2 --queue qf --state-dir stG $FAST 2> G.err &
rg=$!
wait_for "$(running_in freeze)" 2 || fail "runner G did not claim"
sleep 0.3
pg_freeze
sleep 3.5
pg_thaw
grep -q "stopping my 2 jobs before the lease ends" G.err && pass "frozen database: the runner fenced itself" \
  || fail "no fence: $(cat G.err)"
timeout 40 "$H" jobs wait --batch freeze --timeout 35s; rc=$?
a=$(attempts freeze)
case "$a" in
  *":2:ok:- "*":2:ok:-") pass "after the thaw every job ran again and succeeded ($a)" ;;
  *) fail "after the thaw: rc=$rc '$a'" ;;
esac
# the fenced attempt's real end (from its own record, stored or late) before the next start
bad=$(pg_sql "WITH real AS (
    SELECT job_id, attempt, record FROM harn.attempt WHERE reason IS DISTINCT FROM 'runner_lost'
    UNION ALL SELECT job_id, attempt, record FROM harn.late_record)
  SELECT r.job_id FROM real r JOIN harn.attempt n ON n.job_id = r.job_id AND n.attempt = r.attempt + 1
  WHERE (r.record->>'started_at')::timestamptz + make_interval(secs => (r.record->>'duration_ms')::float8 / 1000)
        > n.started_at")
[ -z "$bad" ] && pass "no attempt overlapped the fenced one's real run" || fail "overlap: jobs $bad"
kill -TERM "$rg"; wait "$rg"
pg_invariants
lib_finish
