#!/usr/bin/env bash
# test_install.sh: `cmake --install` of the current build (HARN_BIN's
# directory) into a temporary prefix puts the Debian layout there: the
# binary (which runs), the man page harn(1) (which man renders without a
# warning), the bash and zsh completions (which complete `harn run --ti`
# to --timeout and name every option of `harn CMD --help`), the docs; and
# `cpack -G DEB` makes a .deb holding the binary and the man page.
. "$(dirname "$0")/lib.sh"
lib_init
BUILD=$(dirname "$HARN_BIN")
[ -f "$BUILD/cmake_install.cmake" ] || skip_all "no cmake_install.cmake next to $HARN_BIN"
command -v cmake >/dev/null || skip_all "no cmake"
P=$T/prefix

# --- install -------------------------------------------------------------------------------
if cmake --install "$BUILD" --prefix "$P" > install.out 2>&1; then
  pass "cmake --install into a temporary prefix"
else
  fail "cmake --install: $(tail -5 install.out)"
fi
MAN=$P/share/man/man1/harn.1.gz
[ -f "$MAN" ] || MAN=$P/share/man/man1/harn.1 # a build without gzip
ok=1
for f in bin/harn share/bash-completion/completions/harn share/zsh/vendor-completions/_harn \
         share/doc/harn/README.md share/doc/harn/cli.md share/doc/harn/sandbox.md; do
  [ -f "$P/$f" ] || { ok=0; echo "# missing: $f"; }
done
[ -f "$MAN" ] || { ok=0; echo "# missing: the man page"; }
[ -x "$P/bin/harn" ] || { ok=0; echo "# bin/harn is not executable"; }
[ -e "$P/bin/fake_worker" ] && { ok=0; echo "# a test helper was installed"; }
[ $ok = 1 ] && pass "every file in its Debian place" || fail "installed files"

v=$("$P/bin/harn" --version 2>&1) && [[ $v == "harn "* ]] \
  && pass "the installed binary runs: $(head -1 <<< "$v")" || fail "installed harn --version: $v"
"$P/bin/harn" help | grep -q 'man harn' && pass "harn help names the man page" \
  || fail "harn help does not name the man page"

# --- the man page ---------------------------------------------------------------------------
if command -v man >/dev/null && command -v groff >/dev/null; then
  # man-db's own check (what lintian runs): groff's warnings on stderr
  MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings=w -l -Tutf8 -Z "$MAN" > /dev/null 2> man.err
  rc=$?
  [ $rc = 0 ] && [ ! -s man.err ] && pass "man -l: the page renders without a warning" \
    || fail "man -l: rc=$rc $(head -5 man.err)"
  MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$MAN" > man.txt 2> man.err
  ok=1
  grep -q '^NAME' man.txt && grep -q 'EXIT STATUS' man.txt && grep -q '^ENVIRONMENT' man.txt \
    && grep -q '^EXAMPLES' man.txt && grep -q '^FILES' man.txt || { ok=0; echo "# a section is missing"; }
  awk 'length > 80 { bad = 1 } END { exit bad }' man.txt || { ok=0; echo "# a line over 80 columns"; }
  # every option of every command's help is in the page (the lists are
  # generated from the same table; test_cli_gen checks them per command)
  for c in run batch verify test check disasm; do
    for o in $("$P/bin/harn" $c --help | grep -oE '^  (-[a-zA-Z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z-]+'); do
      grep -q -- "$o" man.txt || { ok=0; echo "# man page lacks $o (harn $c)"; }
    done
  done
  [ $ok = 1 ] && pass "the page has its sections and every option, within 80 columns" || fail "man page text"
else
  echo "skip - man -l (no man-db or groff; scripts/setup installs them)"
fi

# --- bash completion --------------------------------------------------------------------------
BC=$P/share/bash-completion/completions/harn
out=$(bash -c '. "$1" || exit 1
  complete -p harn
  COMP_WORDS=(harn run --ti); COMP_CWORD=2; _harn; echo "A:${COMPREPLY[*]}"
  COMP_WORDS=(harn ba); COMP_CWORD=1; _harn; echo "B:${COMPREPLY[*]}"
  COMP_WORDS=(harn batch --joblog = sub/f); COMP_CWORD=4; _harn; echo "C:${COMPREPLY[*]}"
  COMP_WORDS=(harn batch --timeout ""); COMP_CWORD=3; _harn; echo "D:${COMPREPLY[*]}"
  COMP_WORDS=(harn help ve); COMP_CWORD=2; _harn; echo "E:${COMPREPLY[*]}"' _ "$BC" 2>&1)
mkdir -p sub && touch sub/file1
out=$(cd "$T" && bash -c '. "$1"; COMP_WORDS=(harn batch --joblog = sub/f); COMP_CWORD=4; _harn; echo "C:${COMPREPLY[*]}"' _ "$BC"; echo "$out")
ok=1
grep -qx 'complete -o bashdefault -o filenames -F _harn harn' <<< "$out" || { ok=0; echo "# complete -p: $out"; }
grep -qx 'A:--timeout' <<< "$out" || { ok=0; echo "# harn run --ti: $(grep ^A: <<< "$out")"; }
grep -qx 'B:batch' <<< "$out" || { ok=0; echo "# harn ba: $(grep ^B: <<< "$out")"; }
grep -qx 'C:sub/file1' <<< "$out" || { ok=0; echo "# --joblog=sub/f: $(grep ^C: <<< "$out" | head -1)"; }
grep -qx 'D:' <<< "$out" || { ok=0; echo "# --timeout value: $(grep ^D: <<< "$out")"; }
grep -qx 'E:verify' <<< "$out" || { ok=0; echo "# harn help ve: $(grep ^E: <<< "$out")"; }
[ $ok = 1 ] && pass "bash: harn run --ti completes to --timeout; commands, file values" || fail "bash completion"
# every option of each command's help is offered after `harn CMD -`
ok=1
for c in run batch verify test; do
  words=$(bash -c '. "$1"; COMP_WORDS=(harn "$2" -); COMP_CWORD=2; _harn; echo " ${COMPREPLY[*]} "' _ "$BC" "$c")
  for o in $("$P/bin/harn" $c --help | grep -oE '^  (-[a-zA-Z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z-]+'); do
    [[ $words == *" $o "* ]] || { ok=0; echo "# bash: harn $c - lacks $o"; }
  done
done
[ $ok = 1 ] && pass "bash: every option of each command's help is offered" || fail "bash option words"

# --- zsh completion ----------------------------------------------------------------------------
ZC=$P/share/zsh/vendor-completions/_harn
if command -v zsh >/dev/null; then
  zsh -n "$ZC" && r=$(zsh -f -c 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$2/zcd"
    print -r -- ${_comps[harn]}' _ "$(dirname "$ZC")" "$T" 2>&1)
  [ "$r" = _harn ] && pass "zsh: the completion parses and compinit binds it to harn" || fail "zsh: $r"
else
  echo "skip - zsh completion load (no zsh)"
fi
head -1 "$ZC" | grep -qx '#compdef harn' && pass "zsh: #compdef harn" || fail "zsh: no #compdef line"

# --- .deb --------------------------------------------------------------------------------------
if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null && [ -f "$BUILD/CPackConfig.cmake" ]; then
  start=$(date +%s)
  if timeout 120 cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$T/pkg" > cpack.out 2>&1; then
    deb=$(ls "$T"/pkg/*.deb 2>/dev/null | head -1)
    dpkg-deb -c "$deb" > deb.list 2>&1
    dpkg-deb -f "$deb" Package Depends > deb.fields 2>&1
    ok=1
    grep -q ' \./usr/bin/harn$' deb.list || { ok=0; echo "# no usr/bin/harn in the .deb"; }
    grep -q ' \./usr/share/man/man1/harn\.1' deb.list || { ok=0; echo "# no man page in the .deb"; }
    grep -q ' \./usr/share/bash-completion/completions/harn$' deb.list || { ok=0; echo "# no bash completion in the .deb"; }
    grep -qx 'Package: harn' deb.fields || { ok=0; echo "# $(cat deb.fields)"; }
    # a dynamic harn depends on libc6 at least (dpkg-shlibdeps); the static
    # build (-DHARN_STATIC=ON) links no shared library and has no Depends
    if ldd "$BUILD/harn" 2>/dev/null | grep -q "=>"; then
      if command -v dpkg-shlibdeps >/dev/null; then
        grep -q '^Depends:.*libc6' deb.fields || { ok=0; echo "# Depends from dpkg-shlibdeps: $(cat deb.fields)"; }
      fi
    else
      ! grep -q '^Depends:' deb.fields || { ok=0; echo "# a static harn with Depends: $(cat deb.fields)"; }
    fi
    [ $ok = 1 ] && pass "cpack -G DEB: $(basename "$deb") ($(( $(date +%s) - start ))s) with bin/harn and harn(1); $(grep ^Depends deb.fields | cut -c1-60)" \
      || fail "the .deb"
  else
    fail "cpack -G DEB: $(tail -5 cpack.out)"
  fi
else
  echo "skip - cpack -G DEB (no cpack or dpkg-deb)"
fi

lib_finish
