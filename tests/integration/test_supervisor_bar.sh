#!/usr/bin/env bash
# test_supervisor_bar.sh: the progress bar of `harn batch` on a terminal.
#
# script(1) gives harn a pseudo-terminal, so isatty(2) is true as for a user
# at a terminal. Jobs are the fake worker's `slow` mode (300 ms each, via
# HARN_WORKER_CMD) so the bar is redrawn while they run. Checks: the bar is
# drawn on a tty by default with counts, percentage and an ETA, redrawn in
# place (\r) as jobs finish, ends full with a newline, counts failures;
# --no-bar silences it on a tty; it is off by default when stderr is not a
# tty and --bar forces it there; the results file is the same either way.
set -u
. "$(dirname "$0")/lib.sh"
lib_init fake python
command -v script >/dev/null || skip_all "script(1) is not installed"
export HARN_WORKER_CMD=$FAKE
echo "// fake worker mode slow" > slow.harn
echo "// fake worker mode segv" > segv.harn
for i in $(seq 1 11); do printf '{"id":"b%d","file":"slow.harn"}\n' "$i"; done > bar.jsonl
printf '{"id":"bad","file":"segv.harn"}\n' >> bar.jsonl

# check NAME FILE PYTHON-EXPR: EXPR over t = the captured terminal text.
check() {
  local name=$1 file=$2 expr=$3
  if python3 - "$file" "$expr" <<'EOF'
import re, sys
t = open(sys.argv[1], encoding="utf-8", errors="replace", newline="").read()
bars = re.findall(r"\[([#.]{30})\] (\d+)/(\d+) +(\d+)% ok (\d+) fail (\d+) run (\d+) ETA (\d+:\d\d|--:--)", t)
ok = eval(sys.argv[2])
if not ok:
    print("   captured:", repr(t[-600:]))
sys.exit(0 if ok else 1)
EOF
  then pass "$name"; else fail "$name"; fi
}

script -qec "'$HARN_BIN' batch bar.jsonl -j 4 --results tty.out" /dev/null < /dev/null > tty.txt 2>&1
rc=$?
[ "$rc" = 1 ] && pass "batch on a tty with a failing job exits 1" || fail "tty batch rc=$rc"
check "bar drawn on a tty: counts, percent, ETA, total 12" tty.txt \
  "len(bars) >= 2 and all(b[2] == '12' for b in bars)"
check "bar redrawn in place (\\r, then clear the line) while jobs run (a partial count seen)" tty.txt \
  "t.count('\r\x1b[K[') >= 2 and any(0 < int(b[1]) < 12 for b in bars)"
check "last bar is full, counts the failure, ends with a newline" tty.txt \
  "bars[-1][0] == '#' * 30 and bars[-1][1:7] == ('12', '12', '100', '11', '1', '0') and bars[-1][7] == '0:00' and '0:00\r\n' in t and t.endswith('\n')"
check "bar counts never go backwards" tty.txt \
  "[int(b[1]) for b in bars] == sorted(int(b[1]) for b in bars)"
[ "$(wc -l < tty.out)" = 12 ] && pass "results file complete on a tty" || fail "tty results: $(wc -l < tty.out)"

script -qec "'$HARN_BIN' batch bar.jsonl -j 4 --results notty.out --no-bar" /dev/null < /dev/null > nobar.txt 2>&1
check "--no-bar: no bar on a tty" nobar.txt "'\r[' not in t and not bars"

"$HARN_BIN" batch bar.jsonl -j 4 --results plain.out 2> plain.err
check "stderr not a tty: no bar by default" plain.err "'\r[' not in t and not bars"
"$HARN_BIN" batch bar.jsonl -j 4 --results forced.out --bar 2> forced.err
check "--bar forces the bar when stderr is not a tty" forced.err \
  "bars and bars[-1][1:3] == ('12', '12')"
python3 - tty.out plain.out <<'EOF' && pass "the bar does not change the records" || fail "records differ with and without the bar"
import json, sys
a, b = ([(r["id"], r["status"]) for r in map(json.loads, open(p))] for p in sys.argv[1:3])
sys.exit(0 if sorted(a) == sorted(b) else 1)
EOF

lib_finish
