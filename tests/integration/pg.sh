# pg.sh: a throwaway PostgreSQL cluster for the runner's integration tests
# (docs/runner.md; the recipe of RUNNER.md section 10). Sourced after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/pg.sh"
#   lib_init; pg_require       # skip_all unless this harn has the database
#                              # feature and a PostgreSQL server is installed
#   pg_start                   # initdb + start in a fresh temporary directory;
#                              # exports HARN_DATABASE_URL; stopped on exit
#   pg_sql 'SELECT ...'        # one value per line (psql -At), on that cluster
#   pg_crash / pg_immediate_stop / pg_restart / pg_freeze / pg_thaw
#
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` user (made by Debian's postgresql package) and its commands run
# through runuser; as anyone else they run as that user. The server listens
# on a unix socket in the temporary directory only (PORT and LISTEN=127.0.0.1
# add TCP, for a proxy), with fsync off: these tests crash processes, not
# the machine, and the page cache outlives a killed server. Commits stay
# synchronous (written to the WAL before they are acknowledged): with
# synchronous_commit off, an immediate stop lost the last ~200 ms of
# acknowledged commits (a runner's registration, a claim), and the tests
# then saw a runner "declared dead" and a job claimed twice: what a real
# server with the default setting never does.
#
# pg_stop runs from an EXIT trap (after lib.sh's, which it chains): a test
# that fails or is killed by ctest's timeout (SIGTERM) still stops its
# server and removes its directory.

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
  PGBIN=$(pg_config --bindir 2>/dev/null)
  [ -x "$PGBIN/initdb" ] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
PGT=

# (from /: the postgres user may not enter the test's directory)
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# The checks that decide whether a runner test can run here at all.
pg_require() {
  "$HARN_BIN" --version | grep -q '^features:.* +db' || skip_all "this harn is built without the database feature (HARN_WITH_DB=OFF)"
  [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] || skip_all "no PostgreSQL server (scripts/setup installs it)"
  command -v psql >/dev/null || skip_all "no psql"
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || skip_all "no postgres user"; fi
}

# What a runner test does first: lib.sh's set-up, skip (77) when a runner
# test cannot run here, and a throwaway cluster. H is the harn under test.
pg_init() {
  lib_init python
  pg_require
  pg_start || { echo "FAIL: no database"; exit 1; }
  H=$HARN_BIN
}

pg_start() {
  PGT=$(mktemp -d -t harn-pg.XXXXXX) || return 1
  [ "$(id -u)" = 0 ] && chown postgres: "$PGT"
  chmod 755 "$PGT"
  # chain lib.sh's trap: stop the server first, then whatever was there
  local prev
  prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
  trap "pg_stop; $prev" EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  as_pg "$PGBIN/initdb" -D "$PGT/data" -A trust -U harn -E UTF8 --locale=C -N >"$PGT/initdb.log" 2>&1 \
    || { cat "$PGT/initdb.log"; return 1; }
  pg_start_server || return 1
  export HARN_DATABASE_URL="host=$PGT port=${PORT:-5432} user=harn dbname=postgres"
  export PGHOST=$PGT PGPORT=${PORT:-5432} PGUSER=harn PGDATABASE=postgres
}

pg_start_server() {
  as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -l "$PGT/log" -w -s -t 60 -o "-k $PGT -p ${PORT:-5432} \
    -c listen_addresses=${LISTEN:-''} -c fsync=off -c full_page_writes=off \
    -c max_connections=200 -c shared_buffers=32MB" start \
    || { echo "pg_start: the server did not start:"; tail -20 "$PGT/log"; return 1; }
}

pg_pid() { head -1 "$PGT/data/postmaster.pid"; }
pg_sql() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
pg_crash() { kill -9 "$(pg_pid)"; }
pg_immediate_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -m immediate -w -s stop; }
# after pg_crash or pg_immediate_stop: start it again on the same data
pg_restart() {
  local i
  for i in $(seq 1 50); do [ -e "$PGT/data/postmaster.pid" ] && kill -0 "$(pg_pid)" 2>/dev/null || break; sleep 0.1; done
  rm -f "$PGT/data/postmaster.pid"
  pg_start_server
}
# the postmaster and each backend lead their own process group: signal them by parent
pg_freeze() { local p; p=$(pg_pid); kill -STOP "$p" $(pgrep -P "$p"); }
pg_thaw() { local p; p=$(pg_pid); kill -CONT "$p" $(pgrep -P "$p"); }

pg_stop() {
  [ -n "$PGT" ] || return 0
  if [ -e "$PGT/data/postmaster.pid" ]; then
    pg_thaw 2>/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -m immediate -w -s stop >/dev/null 2>&1
  fi
  [ -n "${KEEP_TMP:-}" ] && { echo "kept $PGT"; return 0; }
  rm -rf "$PGT"
  PGT=
}

# RUNNER.md's invariant queries, each a pass/fail line:
# attempts 1..n, one record each; no two attempts of a job overlap in
# time; nothing left running.
pg_invariants() {
  local bad
  bad=$(pg_sql "SELECT id FROM harn.job j WHERE (SELECT count(*) FROM harn.attempt a WHERE a.job_id = j.id)
                <> j.attempt - (j.state = 'running')::int")
  [ -z "$bad" ] && pass "invariant: one record per (job, attempt)" || fail "invariant: records of jobs $bad"
  bad=$(pg_sql "SELECT a.job_id FROM harn.attempt a JOIN harn.attempt b ON a.job_id = b.job_id
                AND b.attempt = a.attempt + 1 WHERE b.started_at < a.ended_at")
  [ -z "$bad" ] && pass "invariant: attempts never overlap" || fail "invariant: overlapping attempts of jobs $bad"
  bad=$(pg_sql "SELECT count(*) FROM harn.job WHERE state = 'running'")
  [ "$bad" = 0 ] && pass "invariant: nothing left running" || fail "invariant: $bad jobs left running"
}
