#!/usr/bin/env bash
# test_diagnostics.sh: how `harn run` reports syntax errors and exits
# (docs/LANGUAGE.md 10.3, issue #17): every syntax error of a file, each
# rendered like a runtime error, byte for byte, through the supervised run
# and --inline; at most 20 of them; colour only on a terminal and never with
# NO_COLOR; nothing of the program runs. Exit codes: a returned int clamped
# to 0..255 (256 is 255, not 0), a returned Err exits 1, a syntax error 1.
. "$(dirname "$0")/lib.sh"
lib_init

# --- several syntax errors, all reported --------------------------------------------------
printf 'println("must not run")\nlet y = ;\nfn f(a) {\n  let z = a.\n  return a\n}\nlet q = [1, 2\n' > multi.harn
cat > multi.want <<'EOF'
error: expected expression, found ;
  --> multi.harn:2:9
   |
 2 | let y = ;
   |         ^ unexpected token

error: expected identifier, found \n
  --> multi.harn:4:13
   |
 4 |   let z = a.
   |             ^ line break not allowed here

error: unexpected end of file, expected ]
  --> multi.harn:7:14
   |
 7 | let q = [1, 2
   |              ^ file ends here
  = help: add a closing `]` to finish this list or subscript
EOF
for mode in "" "--inline"; do
  "$HARN_BIN" run $mode multi.harn > multi.out 2> multi.err; rc=$?
  [ "$rc" = 1 ] && [ ! -s multi.out ] && cmp -s multi.err multi.want \
    && pass "run $mode: every syntax error rendered, nothing ran, exit 1" \
    || { fail "run $mode multi: rc=$rc"; diff multi.want multi.err; cat multi.out; }
done
"$HARN_BIN" check multi.harn 2> check.err; rc=$?
[ "$rc" = 1 ] && cmp -s check.err multi.want && pass "check: the same diagnostics" \
  || { fail "check multi: rc=$rc"; diff multi.want check.err; }

# --- the cap --------------------------------------------------------------------------------
for i in $(seq 1 30); do echo "let v$i = )"; done > many.harn
"$HARN_BIN" run many.harn 2> many.err; rc=$?
n=$(grep -c '^error: expected expression, found )$' many.err)
[ "$rc" = 1 ] && [ "$n" = 20 ] && [ "$(tail -n 1 many.err)" = "error: too many syntax errors; stopped after 20" ] \
  && pass "at most 20 syntax errors, then one line saying so" || { fail "cap: rc=$rc n=$n"; tail -n 3 many.err; }

# --- colour ---------------------------------------------------------------------------------
if command -v script > /dev/null; then
  script -qec "$HARN_BIN run multi.harn" /dev/null > tty.out 2>&1
  NO_COLOR=1 script -qec "$HARN_BIN run multi.harn" /dev/null > nocolor.out 2>&1
  esc=$(printf '\033')
  grep -q "${esc}\[1;31merror${esc}\[0m" tty.out && grep -q "${esc}\[1;36m= help" tty.out \
    && pass "a terminal gets colour" || { fail "no colour on a tty"; cat -A tty.out | head -5; }
  ! grep -q "$esc" nocolor.out && grep -q '^error: expected expression, found ;' nocolor.out \
    && pass "NO_COLOR: plain text on a terminal" || { fail "NO_COLOR"; cat -A nocolor.out | head -5; }
else
  echo "skip - colour (no script(1))"
fi
! grep -q "$(printf '\033')" multi.err && pass "stderr not a terminal: plain text" || fail "escape codes in a file"

# --- exit codes -----------------------------------------------------------------------------
printf 'return 256\n' > r256.harn
printf 'pipeline default(t) {\n  return 255\n}\n' > r255.harn
printf 'pipeline default(t) {\n  return -1\n}\n' > rneg.harn
printf 'return Err("nope")\n' > rerr.harn
for mode in "" "--inline"; do
  "$HARN_BIN" run $mode r256.harn; a=$?
  "$HARN_BIN" run $mode r255.harn; b=$?
  "$HARN_BIN" run $mode rneg.harn; c=$?
  "$HARN_BIN" run $mode rerr.harn 2> rerr.err; d=$?
  [ "$a $b $c $d" = "255 255 0 1" ] && [ "$(cat rerr.err)" = nope ] \
    && pass "run $mode: 256 exits 255 (clamped, not modulo), 255, -1 exits 0, Err exits 1" \
    || fail "exit codes $mode: $a $b $c $d $(cat rerr.err)"
done

lib_finish
