#!/usr/bin/env bash
# test_shard.sh: job ids that survive a `cd`, static sharding of a batch
# (--shard I/N, slurm, k8s/N, --shard-by id) and `harn verify` over the
# shards' results (design/RUNNER.md section 8, docs/sharding.md).
#
# Real supervisor and sandboxed workers (the fake worker would do for the
# ids, but the point is that the shards' records are the real ones). The
# invariant every check ends on: across the shards' results, each job has
# exactly one record per attempt, and harn verify agrees (exit 0), and
# says what is wrong when a file is missing, doubled or cut.
. "$(dirname "$0")/lib.sh"
lib_init python

mkdir -p w/jobs/sub
for i in 1 2 3 4 5 6 7 8 9; do printf 'pipeline default(t) { println("j%d") }\n' "$i" > w/jobs/j$i.harn; done
printf 'pipeline default(t) { println("s") }\n' > w/jobs/sub/s.harn
# a manifest with a repeated id, a bad line and a line without an id
{
  printf '{"id": "m", "source": "pipeline default(t) { println(1) }"}\n'
  printf '{"id": "m", "source": "pipeline default(t) { println(2) }"}\n'
  printf 'not json\n'
  printf '{"source": "pipeline default(t) { println(3) }"}\n'
} > w/jobs.jsonl
cd w || exit 1

# --- ids: the same from any spelling and any directory ------------------------------------
"$HARN_BIN" batch jobs --results ../ids1.jsonl --no-bar 2>/dev/null
(cd jobs && "$HARN_BIN" batch . --results ../../ids2.jsonl --no-bar 2>/dev/null)
(cd / && "$HARN_BIN" batch "$T/w/./jobs//" --results "$T/ids3.jsonl" --no-bar 2>/dev/null)
python3 - "$T"/ids1.jsonl "$T"/ids2.jsonl "$T"/ids3.jsonl <<'EOF' && pass "a directory's ids: the same from jobs, . inside it and an absolute path" || fail "directory ids differ"
import json, sys
sets = [sorted(json.loads(l)["id"] for l in open(f)) for f in sys.argv[1:]]
want = sorted(["jobs/j%d.harn" % i for i in range(1, 10)] + ["jobs/sub/s.harn"])
ok = all(s == want for s in sets)
if not ok: print("   ", sets)
sys.exit(0 if ok else 1)
EOF
"$HARN_BIN" batch jobs/j1.harn ./jobs//j2.harn --results ../f.jsonl --no-bar 2>/dev/null
check "a file's id is its name (jobs/j1.harn, ./jobs//j2.harn)" ../f.jsonl \
  "sorted(x['id'] for x in rs)==['j1.harn','j2.harn'] and sorted(x['file'] for x in rs)==['./jobs//j2.harn','jobs/j1.harn']"

# resume after a cd: nothing runs twice
"$HARN_BIN" batch jobs --results ../res.jsonl --no-bar 2>/dev/null
(cd .. && "$HARN_BIN" batch w/jobs/ --results res.jsonl --resume --no-bar 2>/dev/null)
check "--resume from another directory, spelled otherwise: nothing runs twice" ../res.jsonl "len(rs)==10"

# --- shards ------------------------------------------------------------------------------
for i in 0 1 2; do
  "$HARN_BIN" batch jobs jobs.jsonl --shard $i/3 --results ../s$i.jsonl --no-bar 2> ../s$i.err
  echo $? > ../s$i.rc
done
bads=$(cat ../s0.err ../s1.err ../s2.err | grep -c 'jobs.jsonl:3: ')
# positions: jobs/j1..j9 (0-8), jobs/sub/s (9), m (10), m#2 (11), the bad line (12), jobs.jsonl:4 (13)
[ "$bads" = 1 ] && grep -q 'jobs.jsonl:3' ../s0.err && [ "$(cat ../s0.rc)" = 1 ] && [ "$(cat ../s1.rc)" = 0 ] \
  && pass "a bad manifest line is said, and fails the batch, only in its shard (position 12: shard 0)" \
  || fail "bad line: $bads: $(cat ../s*.err) rc $(cat ../s*.rc)"
cat ../s0.jsonl ../s1.jsonl ../s2.jsonl > ../all.jsonl
check "three shards: every job once, ID#2 the same job everywhere" ../all.jsonl \
  "len(rs)==13 and len(set(x['id'] for x in rs))==13 and {x['id'] for x in rs} >= {'m','m#2','jobs.jsonl:4'} and [x['output'] for x in rs if x['id']=='m#2']==['2\n']"
check "shard 1 of 3 ran positions 1, 4, 7, 10, 13" ../s1.jsonl \
  "sorted(x['id'] for x in rs)==sorted(['jobs/j2.harn','jobs/j5.harn','jobs/j8.harn','m','jobs.jsonl:4'])"

"$HARN_BIN" verify jobs jobs.jsonl --results ../s0.jsonl --results ../s1.jsonl --results ../s2.jsonl > ../v.out 2> ../v.err; rc=$?
[ "$rc" = 0 ] && [ ! -s ../v.out ] && grep -q '^harn verify: 13 jobs, 13 records in 3 files: ok$' ../v.err \
  && pass "verify: the three shards make the whole batch (exit 0)" || fail "verify: rc=$rc $(cat ../v.out ../v.err)"
"$HARN_BIN" verify jobs jobs.jsonl --results ../s0.jsonl --results ../s2.jsonl > ../v.out 2>/dev/null; rc=$?
[ "$rc" = 1 ] && [ "$(grep -c '^missing: ' ../v.out)" = 5 ] && grep -qx 'missing: m' ../v.out \
  && pass "verify: a shard's file left out: its 5 jobs missing (exit 1)" || fail "verify missing: rc=$rc $(cat ../v.out)"
"$HARN_BIN" verify jobs jobs.jsonl --results ../s0.jsonl --results ../s1.jsonl --results ../s2.jsonl \
  --results ../s1.jsonl > ../v.out 2>/dev/null; rc=$?
[ "$rc" = 1 ] && [ "$(grep -c '^duplicate: ' ../v.out)" = 5 ] \
  && grep -qE '^duplicate: m attempt 1 \(\.\./s1\.jsonl:([0-9]+), \.\./s1\.jsonl:\1\)$' ../v.out \
  && pass "verify: a shard's file given twice: 5 duplicates, with both places" || fail "verify dup: rc=$rc $(cat ../v.out)"
# a cut last record, a stray one and a gap
cp ../s2.jsonl ../cut.jsonl
head -c 50 ../s1.jsonl >> ../cut.jsonl
python3 - ../s0.jsonl ../gap.jsonl <<'EOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs[0]["attempt"] = 2          # attempt 1 gone: a gap
rs.append(dict(rs[1], id="nobody"))  # a job the sources do not have
open(sys.argv[2], "w").write("".join(json.dumps(r) + "\n" for r in rs))
EOF
"$HARN_BIN" verify jobs jobs.jsonl --results ../gap.jsonl --results ../s1.jsonl --results ../cut.jsonl --json > ../v.out 2>/dev/null; rc=$?
check "verify --json: partial, stray and gap found, nothing else (exit $rc)" ../v.out \
  "$rc==1 and sorted(x['finding'] for x in rs)==['gap','partial','stray'] and [x['attempts'] for x in rs if x['finding']=='gap']==[[2]] and [x['at'] for x in rs if x['finding']=='partial']==['../cut.jsonl:5']"
"$HARN_BIN" verify jobs jobs.jsonl --results ../s0.jsonl --results ../s1.jsonl --results ../s2.jsonl --require-ok > /dev/null 2>&1; rc=$?
[ "$rc" = 0 ] && pass "verify --require-ok: every last attempt ok" || fail "require-ok rc=$rc"

# --- --shard-by id, slurm, k8s --------------------------------------------------------------
for i in 0 1 2 3; do "$HARN_BIN" batch jobs --shard $i/4 --shard-by id --results ../id$i.jsonl --no-bar 2>/dev/null; done
"$HARN_BIN" verify jobs --results ../id0.jsonl --results ../id1.jsonl --results ../id2.jsonl --results ../id3.jsonl 2>/dev/null; rc=$?
# the split is XXH64(id) mod 4: adding a job elsewhere moves no other job
printf 'pipeline default(t) { println("new") }\n' > jobs/a0.harn
"$HARN_BIN" batch jobs --shard 2/4 --shard-by id --results ../id2b.jsonl --no-bar 2>/dev/null
python3 - ../id2.jsonl ../id2b.jsonl <<'EOF'
import json, sys
a = {json.loads(l)["id"] for l in open(sys.argv[1])}
b = {json.loads(l)["id"] for l in open(sys.argv[2])}
sys.exit(0 if a <= b and b - a <= {"jobs/a0.harn"} else 1)
EOF
[ $? = 0 ] && [ "$rc" = 0 ] && pass "--shard-by id: the shards cover the batch; a new job moves no other" || fail "--shard-by id rc=$rc"
rm jobs/a0.harn

for task in 3 5 7 9; do
  SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_STEP=2 SLURM_ARRAY_TASK_COUNT=4 \
    "$HARN_BIN" batch jobs --shard slurm --results ../sl$task.jsonl --no-bar 2>/dev/null
done
"$HARN_BIN" verify jobs --results ../sl3.jsonl --results ../sl5.jsonl --results ../sl7.jsonl --results ../sl9.jsonl 2>/dev/null; rc=$?
check "--shard slurm (--array=3-9:2): task 5 is shard 1 of 4, and the four make the batch" ../sl5.jsonl \
  "$rc==0 and sorted(x['id'] for x in rs)==['jobs/j2.harn','jobs/j6.harn','jobs/sub/s.harn']"
SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_STEP=2 SLURM_ARRAY_TASK_COUNT=4 \
  "$HARN_BIN" batch jobs --shard slurm --results ../never.jsonl 2> ../sl.err; rc=$?
[ "$rc" = 2 ] && [ ! -e ../never.jsonl ] && grep -q 'give --shard I/N' ../sl.err \
  && pass "--shard slurm off the array's step: a usage error, nothing run" || fail "slurm bad: rc=$rc $(cat ../sl.err)"
JOB_COMPLETION_INDEX=2 "$HARN_BIN" batch jobs --shard k8s/3 --results ../k.jsonl --no-bar 2>/dev/null; rc=$?
check "--shard k8s/3 with JOB_COMPLETION_INDEX=2: shard 2 of 3" ../k.jsonl \
  "$rc==0 and sorted(x['id'] for x in rs)==['jobs/j3.harn','jobs/j6.harn','jobs/j9.harn']"
"$HARN_BIN" batch jobs --shard k8s/3 --results ../never.jsonl 2> ../k.err; rc=$?
[ "$rc" = 2 ] && grep -q 'JOB_COMPLETION_INDEX is not set' ../k.err && pass "--shard k8s/N without the index: usage error" \
  || fail "k8s no index: rc=$rc $(cat ../k.err)"
"$HARN_BIN" batch jobs --shard-by id 2> ../u.err; rc=$?
[ "$rc" = 2 ] && grep -q -- '--shard-by needs --shard' ../u.err && pass "--shard-by alone: usage error" || fail "shard-by alone rc=$rc"
"$HARN_BIN" verify jobs 2> ../u.err; rc=$?
[ "$rc" = 2 ] && grep -q -- '--results FILE is needed' ../u.err && pass "verify without --results: usage error" || fail "verify no results rc=$rc"

lib_finish
