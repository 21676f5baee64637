#!/usr/bin/env bash
# test_capabilities.sh: granted files through the real supervisor
# (docs/sandbox.md "Capabilities", CAPABILITIES.md §13): --allow-read,
# --allow-write, --scratch and --max-write-bytes; the reference's texts for
# paths outside the grants; escapes (.., symlinks out, absolute paths,
# /proc, O_PATH, hard links, opens that bypass the VM's check) refused by
# the VM, seccomp or Landlock and leaving nothing behind; the scratch
# directory gone after the record; the write quota; the grants'
# descriptors only in the worker of the job they belong to; the same as an
# unprivileged user; and the trusted modes (--no-sandbox, --inline) on the
# host directly.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
unset HARN_TEST_FORBIDDEN_SYSCALL
export TMPDIR=$T/tmp
mkdir -p tmp in out outside in/sub
echo "the input" > in/data.txt
echo "line 2" > in/sub/two.txt
echo "top secret" > outside/secret.txt
ln -s "$T/outside/secret.txt" in/link_out
ln -s data.txt in/link_in
# which of the record's keys, for the messages below
out() { python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(r['output'])" "$1"; }

# 1. granted reads; every escape refused with the reference's text
cat > reads.harn <<'EOF'
pipeline default(task) {
  println(read_file("in/data.txt").trim())
  println(read_lines("in/sub/two.txt"))
  println(list_dir("in"))
  println(read_file("in/link_in").trim())
  println(file_exists("in/data.txt"))
  println(file_exists("in/nope"))
  for p in ["in/../outside/secret.txt", "in/link_out", "/etc/passwd", "/proc/self/environ",
            "outside/secret.txt", "in/nope"] {
    println(read_file_result(p))
  }
  try { write_file("in/new.txt", "x") } catch (e) { println(e) }
  try { write_file("elsewhere.txt", "x") } catch (e) { println(e) }
  try { delete_file("in/data.txt") } catch (e) { println(e) }
  try { mkdir("in/newdir") } catch (e) { println(e) }
}
EOF
"$HARN_BIN" run reads.harn --allow-read=in --json > r1.json 2> r1.err
check "granted read: ok" r1.json 'r["status"] == "ok"'
check "granted read: file, lines, listing, an inside symlink" r1.json \
  'r["output"].startswith("the input\n[line 2]\n[data.txt, link_in, link_out, sub]\nthe input\ntrue\nfalse\n")'
check ".. out of the grant: sandbox violation" r1.json \
  "\"Result.Err(sandbox violation: builtin 'read_file_result' attempted to read 'in/../outside/secret.txt' outside workspace_roots [$T/in])\" in r[\"output\"]"
check "a symlink out: refused by the kernel (RESOLVE_BENEATH)" r1.json \
  '"Result.Err(Failed to read file in/link_out: the path leads outside the granted directory" in r["output"]'
check "an absolute path outside: sandbox violation" r1.json \
  "\"attempted to read '/etc/passwd' outside workspace_roots\" in r[\"output\"]"
check "/proc: sandbox violation" r1.json \
  "\"attempted to read '/proc/self/environ' outside workspace_roots\" in r[\"output\"]"
check "a missing granted file: the reference's error" r1.json \
  '"Result.Err(Failed to read file in/nope: No such file or directory (os error 2))" in r["output"]'
check "writes into a read grant or outside: sandbox violation" r1.json \
  "\"sandbox violation: builtin 'write_file' attempted to write 'in/new.txt' outside workspace_roots []\" in r[\"output\"] and \"builtin 'write_file' attempted to write 'elsewhere.txt'\" in r[\"output\"] and \"builtin 'delete_file'\" in r[\"output\"] and \"builtin 'mkdir'\" in r[\"output\"]"
check "no secret in the output" r1.json '"top secret" not in r["output"]'
[ ! -e in/new.txt ] && [ ! -e elsewhere.txt ] && [ ! -e in/newdir ] && [ -e in/data.txt ] \
  && pass "refused writes left nothing behind" || fail "refused writes left something: $(ls in .)"
check "record: granted" r1.json \
  "r['capabilities']['granted'] == {'read': ['$T/in'], 'write': [], 'scratch': None, 'max_write_bytes': 0}"
check "record: used" r1.json \
  'r["capabilities"]["used"]["fs"]["files_read"] >= 3 and r["capabilities"]["used"]["fs"]["bytes_written"] == 0'
check "record: denied, each with op, target and reason" r1.json \
  "{(d['op'], d['target'], d['reason']) for d in r['capabilities']['denied']} >= {('read_file_result', '$T/outside/secret.txt', 'outside the grants'), ('read_file_result', '$T/in/link_out', 'leads outside the grant (symlink)'), ('read_file_result', '/etc/passwd', 'outside the grants'), ('write_file', '$T/in/new.txt', 'not writable'), ('write_file', '$T/elsewhere.txt', 'outside the grants')}"
# sanitizer builds compile Landlock and seccomp out (docs/sandbox.md): the
# checks of the kernel's walls are skipped there, the VM's still run
sanitizer=$(python3 -c "import json; print(int('sanitizer build' in json.dumps(json.load(open('r1.json'))['sandbox']['skipped'])))")
if [ "$sanitizer" = 0 ]; then
  check "record: one Landlock rule per grant" r1.json 'r["sandbox"]["landlock_grants"] == 1'
else
  echo "skip - Landlock and seccomp checks: sanitizer build"
fi

# without any grant: the same texts, nothing read
"$HARN_BIN" run reads.harn --json > r2.json
check "no grant: every read is a sandbox violation" r2.json \
  "r['status'] == 'error' and \"builtin 'read_file' attempted to read 'in/data.txt' outside workspace_roots []\" in r['error']['message']"

# 2. writes: a write grant, the scratch directory, the quota
cat > writes.harn <<'EOF'
pipeline default(task) {
  write_file("out/a.txt", "alpha")
  append_file("out/a.txt", "+beta")
  mkdir("out/d/e")
  copy_file("out/a.txt", "out/d/e/b.txt")
  move_file("out/d/e/b.txt", "out/d/c.txt")
  println(read_file("out/a.txt"))
  println(walk_dir("out"))
  let t = temp_dir()
  write_file(t + "/s.txt", "scratch data")
  println(read_file(t + "/s.txt"))
  println(list_dir(t))
  delete_file("out/d")
  println(list_dir("out"))
  println(t)
}
EOF
"$HARN_BIN" run writes.harn --allow-write=out --scratch --json > r3.json 2> r3.err
check "granted writes: ok" r3.json 'r["status"] == "ok"'
check "granted writes: write, append, mkdir -p, copy, move, walk, delete" r3.json \
  'r["output"].startswith("alpha+beta\n[out/a.txt, out/d, out/d/c.txt, out/d/e, out/d/e/b.txt]\n") or r["output"].startswith("alpha+beta\n[out/a.txt, out/d, out/d/c.txt, out/d/e]\nscratch data\n[s.txt]\n[a.txt]\n")'
[ "$(cat out/a.txt)" = "alpha+beta" ] && [ ! -e out/d ] && pass "the files are on the host" || fail "out: $(ls -R out)"
scratch=$(python3 -c "import json; print(json.load(open('r3.json'))['capabilities']['granted']['scratch'])")
case $scratch in "$T/tmp/harn-scratch-"*) pass "the scratch directory is under TMPDIR" ;; *) fail "scratch: $scratch" ;; esac
[ ! -e "$scratch" ] && pass "the scratch directory is gone after the record" || fail "scratch left: $scratch"
check "record: bytes written, the default quota" r3.json \
  'r["capabilities"]["used"]["fs"]["bytes_written"] == 5 + 5 + 10 + 12 and r["capabilities"]["granted"]["max_write_bytes"] == 64 << 20'
check "record: the scratch is a write grant" r3.json \
  'r["capabilities"]["granted"]["write"] == ["'"$T"'/out"] and r["sandbox"]["landlock_grants"] == (0 if '"$sanitizer"' else 2)'

cat > quota.harn <<'EOF'
pipeline default(task) {
  write_file("out/q1.txt", "0123456789")
  try { write_file("out/q2.txt", "0123456789") } catch (e) { println(e) }
  try { append_file("out/q1.txt", "x") } catch (e) { println(e) }
  println(read_file("out/q1.txt"))
}
EOF
"$HARN_BIN" run quota.harn --allow-write=out --max-write-bytes 15 --json > r4.json
check "the quota: the write past it is refused whole" r4.json \
  'r["output"] == "Failed to write file out/q2.txt: write quota of 15 bytes exceeded\n0123456789x\n"'
[ ! -e out/q2.txt ] && pass "the quota: nothing of the refused write is on disk" || fail "out/q2.txt exists"
check "the quota: recorded" r4.json \
  '{"op": "write_file", "target": "'"$T"'/out/q2.txt", "reason": "write quota exceeded"} in r["capabilities"]["denied"]'
check "the quota: RLIMIT_FSIZE per file" r4.json 'r["sandbox"]["rlimits"] == True'
"$HARN_BIN" run quota.harn --allow-write=out --scratch=12 --json > r5.json
check "--scratch=SIZE is the quota" r5.json 'r["capabilities"]["granted"]["max_write_bytes"] == 12 and "write quota of 12 bytes exceeded" in r["output"]'

# 3. batch: each attempt its own scratch, gone after its record; a job
# cannot reach another job's scratch
cat > leak.harn <<'EOF'
pipeline default(task) {
  write_file(temp_dir() + "/mine.txt", task)
  println(temp_dir())
  if task == "second" {
    println(read_file_result(read_file("out/first_scratch.txt") + "/mine.txt"))
  } else {
    write_file("out/first_scratch.txt", temp_dir())
    sleep(300ms)
  }
}
EOF
printf '{"id":"a","file":"leak.harn","input":"first"}\n' > leak.jsonl
"$HARN_BIN" batch leak.jsonl --allow-write=out --scratch --no-bar > b1.out 2> b1.err
printf '{"id":"b","file":"leak.harn","input":"second"}\n' > leak2.jsonl
"$HARN_BIN" batch leak2.jsonl --allow-write=out --scratch --no-bar > b2.out 2> b2.err
check "batch: the job with a scratch runs" b1.out 'r["status"] == "ok"'
check "batch: another job's scratch is outside the grants" b2.out \
  'r["status"] == "ok" and "sandbox violation" in r["output"] and "mine.txt" in r["output"]'
ls "$T/tmp" | grep -q harn-scratch && fail "batch: scratch directories left: $(ls "$T/tmp")" || pass "batch: every scratch is gone"

# the descriptors: only in the worker of the job; not in the spares
cat > nap.harn <<'EOF'
pipeline default(task) {
  println(read_file("in/data.txt").trim())
  sleep(3s)
}
EOF
printf '{"id":"n1","file":"nap.harn"}\n{"id":"n2","file":"nap.harn"}\n' > nap.jsonl
"$HARN_BIN" batch nap.jsonl -j 1 --spares 2 --allow-read=in --scratch --no-bar > b3.out 2> b3.err &
bp=$!
sleep 1
# one snapshot of every worker's descriptors (python: fast, so that the
# jobs cannot change while it is taken)
snap=$(python3 - "$bp" "$T" <<'PY'
import glob, os, sys
bp, t = sys.argv[1], sys.argv[2]
kids = set()
for f in glob.glob(f"/proc/{bp}/task/*/children"):
    kids.update(open(f).read().split())
held = spares = 0
seen = []
for pid in sorted(kids):
    try:
        if open(f"/proc/{pid}/comm").read().strip() != "harn-worker": continue
        links = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try: links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError: pass
    except OSError:
        continue
    has = any(l == t + "/in" or l.startswith(t + "/tmp/harn-scratch-") for l in links)
    held += has
    spares += not has
    seen.append(f"{pid}: {' '.join(links)}")
print(held, spares, " | ".join(seen))
PY
)
read -r held spares seen <<< "$snap"
wait $bp
[ $held -le 1 ] && pass "descriptors: at most one worker (the running job) holds the grants ($held, $spares without)" \
  || fail "descriptors: $held workers hold grants: $seen"
[ $spares -ge 1 ] && pass "descriptors: spare workers hold none" || echo "skip - no spare seen (held $held)"
check "descriptors: both jobs ran" b3.out 'len(rs) == 2 and all(x["status"] == "ok" for x in rs)'

# 4. what gets past the VM's check meets seccomp or Landlock
if test_hooks && [ "$sanitizer" = 0 ]; then
  for what in opath link unlink_cwd; do
    HARN_TEST_FORBIDDEN_SYSCALL=$what "$HARN_BIN" run reads.harn --allow-read=in --json > f.json
    check "$what through a grant: crashed/seccomp" f.json 'r["status"] + "/" + str(r["reason"]) == "crashed/seccomp"'
    printf '{"id":"x","file":"reads.harn"}\n{"id":"y","file":"reads.harn"}\n' > two.jsonl
    HARN_TEST_FORBIDDEN_SYSCALL=$what:x "$HARN_BIN" batch two.jsonl --allow-read=in -j 2 --no-bar > f2.out 2>/dev/null
    check "$what in a pool worker: crashed/seccomp, the other job ok" f2.out \
      '{x["id"]: x["status"] + "/" + str(x.get("reason")) for x in rs} == {"x": "crashed/seccomp", "y": "ok/None"}'
  done
  for what in grant_escape grant_create; do
    HARN_TEST_FORBIDDEN_SYSCALL=$what "$HARN_BIN" run reads.harn --allow-read=in --json > f.json
    check "$what: refused by Landlock (EACCES)" f.json 'r["worker"]["exit"] == 13'
  done
  [ ! -e in/planted ] && pass "grant_create left nothing" || fail "in/planted exists"
else
  echo "skip - seccomp and Landlock probes: need HARN_TEST_HOOKS, and no sanitizer build"
fi

# 5. usage errors
"$HARN_BIN" run reads.harn --allow-read=in/data.txt > u.out 2> u.err
[ $? = 2 ] && grep -q "harn run: --allow-read: in/data.txt: not a directory" u.err \
  && pass "a file grant is a usage error" || fail "file grant: $(cat u.err)"
"$HARN_BIN" run reads.harn --allow-read=nope > u.out 2> u.err
[ $? = 2 ] && grep -q "harn run: --allow-read: nope: No such file or directory" u.err \
  && pass "a missing grant is a usage error" || fail "missing grant: $(cat u.err)"
mkdir -p a1 a2 a3
"$HARN_BIN" run reads.harn --allow-read=in,in/sub,out,tmp,outside,. --allow-write=a1,a2,a3 > u.out 2> u.err
[ $? = 2 ] && grep -q "at most 8 directories" u.err && pass "more than 8 grants is a usage error" \
  || fail "9 grants: $(cat u.err)"

# 6. trusted modes: the host directly, relative paths from the cwd
"$HARN_BIN" run writes.harn --no-sandbox --json > r6.json
check "--no-sandbox: file builtins on the host" r6.json 'r["status"] == "ok" and r["output"].startswith("alpha+beta\n")'
"$HARN_BIN" run reads.harn --inline > r7.out 2>&1
grep -q "^the input$" r7.out && grep -q "top secret" r7.out && pass "--inline: the host, no grants" \
  || fail "--inline: $(head -5 r7.out)"
rm -f in/new.txt elsewhere.txt; rm -rf in/newdir

# 7. the environment: only what is granted, as data; --deny
cat > env.harn <<'EOF'
pipeline default(task) {
  println(env("HARN_CAP_A"))
  println(env("HARN_CAP_B"))
  println(env("HARN_CAP_SECRET"))
  println(env("PATH"))
  println(env("MODE"))
  println(env_or("NOPE", "dflt"))
  try { read_file("in/data.txt") } catch (e) { println(e) }
  try { println(len([1, 2])) } catch (e) { println(e) }
}
EOF
export HARN_CAP_A=a HARN_CAP_B=b HARN_CAP_SECRET=s3cret
"$HARN_BIN" run env.harn --allow-read=in --allow-env=HARN_CAP_A --allow-env='HARN_CAP_B*' \
  --env MODE=batch,x --deny read_file --json > e1.json
check "env: only the granted variables; --env; PATH absent" e1.json \
  'r["output"].startswith("a\nb\nnil\nnil\nbatch,x\ndflt\n")'
check "--deny: the reference's text, catchable" e1.json \
  '"Tool '"'"'read_file'"'"' is not permitted.\n2\n" in r["output"]'
printf '{"id":"x","file":"env.harn"}\n{"id":"y","file":"env.harn"}\n' > env.jsonl
"$HARN_BIN" batch env.jsonl -j 2 --allow-env=HARN_CAP_A --deny len --no-bar > e2.out 2>/dev/null
check "env in a pool: the granted one, not the others" e2.out \
  'all(x["output"].startswith("a\nnil\nnil\nnil\nnil\ndflt\n") and "Tool '"'"'len'"'"' is not permitted." in x["output"] for x in rs)'
if test_hooks; then
  HARN_TEST_FORBIDDEN_SYSCALL=environ "$HARN_BIN" run env.harn --allow-env=HARN_CAP_A --json > e3.json
  check "the sandboxed worker's real environment is empty" e3.json 'r["worker"]["exit"] == 0'
  HARN_TEST_FORBIDDEN_SYSCALL=environ "$HARN_BIN" batch env.jsonl -j 2 --no-bar > e4.out 2>/dev/null
  check "... in a pool too" e4.out 'all(x["worker"]["exit"] == 0 for x in rs)'
fi
"$HARN_BIN" run env.harn --no-sandbox --json > e5.json
check "--no-sandbox: its own environment" e5.json 'r["output"].startswith("a\nb\ns3cret\n")'
unset HARN_CAP_A HARN_CAP_B HARN_CAP_SECRET
"$HARN_BIN" run env.harn --env NOEQUALS > u.out 2> u.err
[ $? = 2 ] && grep -q 'harn run: --env: "NOEQUALS" is not NAME=VALUE' u.err && pass "--env without = is a usage error" \
  || fail "--env NOEQUALS: $(cat u.err)"

# 8. an unprivileged user (Landlock and the filter, in a user namespace)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && \
   setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2>/dev/null && \
   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$HARN_BIN"; then
  mkdir -p pub/in/sub pub/out && echo "pub data" > pub/in/data.txt && cp reads.harn pub/
  echo "line 2" > pub/in/sub/two.txt && ln -s data.txt pub/in/link_in && ln -s "$T/outside/secret.txt" pub/in/link_out
  chmod -R a+rX "$T" && chmod a+rwx pub/out "$T/tmp"
  (cd pub && setpriv --reuid=65534 --regid=65534 --clear-groups "$HARN_BIN" run reads.harn \
     --allow-read=in --allow-write=out --scratch --json > ../r8.json 2> ../r8.err)
  check "as nobody: granted read, escapes refused" r8.json \
    'r["status"] == "ok" and r["output"].startswith("pub data\n") and "sandbox violation" in r["output"] and "user" in r["sandbox"]["namespaces"]'
  [ "$sanitizer" = 0 ] && check "as nobody: Landlock rules" r8.json 'r["sandbox"]["landlock"] and r["sandbox"]["landlock_grants"] == 3'
else
  echo "skip - unprivileged user (not root, no setpriv, or refused by the kernel)"
fi

lib_finish
