/*
 * runner.c: `harn runner`, the long-lived job runner on PostgreSQL
 * (docs/runner.md; the design: ../shared/design/RUNNER.md sections 2-6).
 *
 * One libuv loop holds the pool (the same engine as `harn batch`: one
 * fresh sandboxed worker per attempt, deadlines, records) and two database
 * connections of store/ (HsConn: libpq's asynchronous API, never a
 * blocking call):
 *
 *   control  LISTEN harn_jobs, harn_control; registration; heartbeats
 *            (so that claims and completions never delay the lease)
 *   work     claims, completions, late records, rescue, pruning, staging
 *
 * Protocol (RUNNER.md section 5):
 * - Registration: the schema version is checked, the runner row inserted
 *   (a fresh UUID per process start). Its heartbeat_at, renewed every
 *   --heartbeat, is the lease of all its jobs.
 * - Claim: per queue, as many jobs as free slots, FOR UPDATE SKIP LOCKED,
 *   attempt + 1 (the fencing token); on a NOTIFY harn_jobs, every --poll,
 *   and whenever a slot frees.
 * - Complete: guarded by (id, attempt, runner, running); the record is the
 *   pool's line byte for byte, inserted ON CONFLICT DO NOTHING on (job,
 *   attempt). A refusal (the job was rescued meanwhile) sends the record
 *   to harn.late_record instead.
 * - Outbox: every record is appended to DIR/outbox.jsonl before it is sent
 *   (written, then fdatasync'd every 20 ms), and acknowledged there once
 *   stored; while the database is away the records wait and are sent on
 *   reconnection. A runner started again on the same --state-dir replays
 *   the records of its previous incarnation (under that one's UUID, so
 *   they win), then rescues that incarnation's jobs at once.
 * - Rescue: every --rescue-interval, the running jobs of runners whose
 *   lease expired (on the database's clock; never within a lease after the
 *   database itself started) get a crashed/runner_lost record and return
 *   to the queue by the retry policy; dead runners' rows are pruned; due
 *   retries are made available.
 * - Self-fencing (--on-db-loss fence): when no heartbeat sent within
 *   lease_ttl - margin has been acknowledged, the runner SIGTERMs its jobs
 *   (SIGKILL after the grace) before any rescuer may act; their records are
 *   `lost` (a free retry) and wait in the outbox. No claim until a
 *   heartbeat is acknowledged again.
 * - Cancel from outside (`harn jobs cancel`): a NOTIFY harn_control, or
 *   the heartbeat's list of flagged jobs: SIGINT to the job's group.
 * - SIGTERM drains: no more claims, running jobs finish, their records are
 *   stored, the runner row is deleted, exit 0. A second SIGTERM, or
 *   SIGINT, cancels the running jobs (their records are `lost`: free
 *   retries); exit 130. A third signal exits at once, records kept in the
 *   outbox.
 */
#define _GNU_SOURCE
#include "supervisor/supervisor.h"

#include <stdio.h>

#ifndef HARN_WITH_DB

int sup_cmd_runner(const CliArgs *a)
{
  fprintf(stderr, "harn %s: this build of harn has no database support (built with "
                  "HARN_WITH_DB=OFF, as static builds are); see docs/runner.md\n", a->cmd->name);
  return 2;
}

#else

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/db_internal.h"
#include "supervisor/sup_internal.h"

#ifndef HARN_VERSION
#define HARN_VERSION "unknown"
#endif

/* ------------------------------------------------------------------ SQL */

static const char SQL_SCHEMA_EXISTS[] = "SELECT to_regclass('harn.meta') IS NOT NULL";

static const char SQL_REGISTER[] =
    "INSERT INTO harn.runner (id, hostname, pid, version, queues, slots, lease_ttl) "
    "VALUES ($1, $2, $3::int, $4, string_to_array($5, ','), $6::int, "
    "make_interval(secs => $7::float8 / 1000)) "
    "ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()";

static const char SQL_HEARTBEAT[] =
    "UPDATE harn.runner SET heartbeat_at = now(), draining = $2::boolean WHERE id = $1 "
    "RETURNING (SELECT coalesce(array_to_string(array_agg(id), ','), '') FROM harn.job "
    "WHERE runner_id = $1 AND state = 'running' AND cancel_requested_at IS NOT NULL)";

static const char SQL_CLAIM[] =
    "WITH picked AS MATERIALIZED ("
    "  SELECT id FROM harn.job"
    "  WHERE state = 'available' AND queue = $1 AND run_at <= now()"
    "    AND NOT EXISTS (SELECT 1 FROM harn.queue q WHERE q.name = $1 AND q.paused_at IS NOT NULL)"
    "  ORDER BY priority, run_at, id LIMIT $2::int"
    "  FOR UPDATE SKIP LOCKED) "
    "UPDATE harn.job j SET state = 'running', attempt = j.attempt + 1, runner_id = $3,"
    "  attempted_at = now(),"
    "  deadline_at = now() + make_interval(secs => (coalesce((j.options->>'timeout_ms')::float8, $4::float8)"
    "    + coalesce((j.options->>'grace_ms')::float8, $5::float8)) / 1000.0 + 60) "
    "FROM picked WHERE j.id = picked.id "
    "RETURNING j.id, j.attempt, j.key, (SELECT p.source FROM harn.program p WHERE p.sha256 = j.program),"
    "  j.input::text, j.options::text";

static const char SQL_COMPLETE[] =
    "WITH j AS ("
    "  UPDATE harn.job SET (state, run_at, finalized_at, lost_attempts) ="
    "    (SELECT * FROM harn.settle($4, $7::boolean, job)), runner_id = NULL"
    "  WHERE id = $1::bigint AND attempt = $2::int AND runner_id = $3::uuid AND state = 'running'"
    "  RETURNING id, attempt, attempted_at) "
    "INSERT INTO harn.attempt (job_id, attempt, runner_id, status, reason, started_at, record) "
    "SELECT id, attempt, $3::uuid, $4, $5, attempted_at, $6::json FROM j "
    "ON CONFLICT DO NOTHING RETURNING job_id";

static const char SQL_LATE[] =
    "INSERT INTO harn.late_record (job_id, attempt, runner_id, record) "
    "VALUES ($1::bigint, $2::int, $3::uuid, $4::json)";

/* $1: this runner's lease TTL in ms (for runners that vanished), $2: the
 * counters of a lost record, $3: a runner whose jobs are lost whatever
 * its lease says (the previous incarnation), or NULL. */
static const char SQL_RESCUE[] =
    "WITH lost AS MATERIALIZED ("
    "  SELECT j.id, j.attempt, j.runner_id, j.attempted_at,"
    "         (r.id IS NULL OR r.heartbeat_at < now() - r.lease_ttl OR j.runner_id = $3::uuid) AS dead"
    "  FROM harn.job j LEFT JOIN harn.runner r ON r.id = j.runner_id"
    "  WHERE j.state = 'running'"
    "    AND (j.runner_id = $3::uuid OR ("
    "      (r.id IS NULL OR r.heartbeat_at < now() - r.lease_ttl OR j.deadline_at < now())"
    "      AND pg_postmaster_start_time() < now() - coalesce(r.lease_ttl,"
    "            make_interval(secs => $1::float8 / 1000))))"
    "  ORDER BY j.id LIMIT 1000"
    "  FOR UPDATE OF j SKIP LOCKED),"
    "upd AS ("
    "  UPDATE harn.job j SET (state, run_at, finalized_at, lost_attempts) ="
    "    (SELECT * FROM harn.settle('crashed', lost.dead, j)), runner_id = NULL"
    "  FROM lost WHERE j.id = lost.id AND j.attempt = lost.attempt AND j.state = 'running'"
    "  RETURNING j.id, j.key, j.program, j.options, j.attempt, lost.runner_id, lost.attempted_at,"
    "            CASE WHEN lost.dead THEN 'runner_lost' ELSE 'runner_stuck' END AS reason),"
    "ins AS ("
    "  INSERT INTO harn.attempt (job_id, attempt, runner_id, status, reason, started_at, record)"
    "  SELECT u.id, u.attempt, u.runner_id, 'crashed', u.reason, u.attempted_at,"
    "         harn.lost_record(u.key, u.attempt, coalesce(u.options->>'file', p.name), u.reason, $2)"
    "  FROM upd u JOIN harn.program p ON p.sha256 = u.program"
    "  ON CONFLICT DO NOTHING RETURNING job_id, attempt, runner_id, reason) "
    "SELECT job_id, attempt, reason,"
    "  CASE WHEN reason = 'runner_stuck' THEN pg_notify('harn_control',"
    "       json_build_object('rescued', job_id, 'attempt', attempt, 'runner', runner_id)::text) END "
    "FROM ins";

static const char SQL_PRUNE[] =
    "DELETE FROM harn.runner r WHERE (r.id = $1::uuid OR (r.heartbeat_at < now() - r.lease_ttl"
    "  AND pg_postmaster_start_time() < now() - r.lease_ttl))"
    "  AND NOT EXISTS (SELECT 1 FROM harn.job j WHERE j.runner_id = r.id AND j.state = 'running')";

static const char SQL_STAGE[] =
    "WITH due AS MATERIALIZED (SELECT id FROM harn.job WHERE state = 'scheduled' AND run_at <= now()"
    "  ORDER BY run_at LIMIT 1000 FOR UPDATE SKIP LOCKED) "
    "UPDATE harn.job j SET state = 'available' FROM due WHERE j.id = due.id RETURNING j.id";

static const char SQL_DEREGISTER[] = "DELETE FROM harn.runner WHERE id = $1";

/* ------------------------------------------------------------------ state */

typedef struct Queue {
  char *name;
  int slots;        /* at most this many of its jobs at once */
  int running;      /* claimed and not yet ended */
  bool claiming;    /* a claim is in flight */
  bool again;       /* claim again when it returns (a NOTIFY came meanwhile) */
} Queue;

/* A claimed attempt, from the claim to its worker's end. */
typedef struct RJob {
  struct RJob *next;
  long long id;
  int attempt;
  Queue *queue;
  SupJob *sj;
  bool lost;        /* ended by a fence or a shutdown: a free retry */
  bool cancelled;   /* SIGINT sent (outside cancel) */
} RJob;

/* A terminal record to store (the outbox). */
typedef struct Done {
  struct Done *next;
  long long id;
  int attempt;
  char runner[37];  /* the runner that ran it (a previous incarnation's too) */
  char status[16];
  char *reason;     /* NULL when none */
  bool lost;
  char *record;
  bool inflight, late;
} Done;

typedef struct Runner {
  uv_loop_t loop;
  SupPool pool;
  bool pool_open;
  HsConn *ctl, *work;
  char id[37], old_id[37]; /* old_id: the previous incarnation's, or "" */
  char host[256];
  /* settings */
  int slots;
  Queue *queues;
  int nqueues;
  double heartbeat_ms, ttl_ms, poll_ms, rescue_ms, timeout_ms, grace_ms, margin_ms;
  double drain_timeout_ms;     /* 0: a drain waits for the jobs' own deadlines */
  bool fence;
  int spares;
  /* lifecycle */
  bool checked, registered, registering, recovered, fenced;
  bool draining, cancelling, deregistering, finished;
  int signals;
  double last_ack_send;  /* loop ms: send time of the last acknowledged heartbeat */
  bool hb_inflight;
  double hb_sent;
  int fatal;             /* exit code of a fatal error, or 0 */
  /* jobs */
  RJob *jobs;
  int nrunning;          /* claimed and not ended */
  Done *outbox, *otail;
  int noutbox;
  int outbox_fd, lock_fd;
  char *outbox_path;
  bool sync_due;
  int sync_inflight;
  uv_fs_t sync_req;
  char *counters;        /* the null counters of a lost record */
  /* handles */
  uv_timer_t hb_timer, poll_timer, rescue_timer, fence_timer, sync_timer;
  uv_timer_t drain_timer;      /* --drain-timeout, started by the first SIGTERM */
  uv_signal_t sigs[2];
  bool handles_open;
  SupMetrics *metrics;        /* --metrics ADDR (metrics.c, metrics_http.c) */
  SupMetricsServer *metrics_srv;
  int rescue_inflight;
} Runner;

static void claim_all(Runner *r);
static void maybe_finish(Runner *r);
static void send_outbox(Runner *r);

static double now_ms(Runner *r) { return (double)uv_now(&r->loop); }

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "harn runner: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ------------------------------------------------------------------ outbox */

/* Append one line to the outbox: the write() is what survives a crash of
 * this process; the 20 ms tick makes it durable. */
static void outbox_put(Runner *r, Buf *line)
{
  if (r->outbox_fd < 0) return;
  buf_putc(line, '\n');
  size_t off = 0;
  while (off < line->len) {
    ssize_t w = write(r->outbox_fd, line->data + off, line->len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      static bool warned;
      if (!warned) say("cannot write the outbox %s: %s", r->outbox_path, strerror(errno));
      warned = true;
      break;
    }
    off += (size_t)w;
  }
  r->sync_due = true;
}

static void outbox_record(Runner *r, const Done *d)
{
  Buf l = {0};
  buf_printf(&l, "{\"ev\":\"record\",\"runner\":\"%s\",\"job\":%lld,\"attempt\":%d,\"status\":\"%s\","
                 "\"reason\":", d->runner, d->id, d->attempt, d->status);
  sup_json_cstr(&l, d->reason);
  buf_printf(&l, ",\"lost\":%s,\"record\":", d->lost ? "true" : "false");
  sup_json_str(&l, d->record, strlen(d->record));
  buf_putc(&l, '}');
  outbox_put(r, &l);
  buf_free(&l);
}

static void outbox_acked(Runner *r, const Done *d)
{
  Buf l = {0};
  buf_printf(&l, "{\"ev\":\"acked\",\"job\":%lld,\"attempt\":%d}", d->id, d->attempt);
  outbox_put(r, &l);
  buf_free(&l);
}

static void sync_done(uv_fs_t *req)
{
  Runner *r = req->data;
  uv_fs_req_cleanup(req);
  r->sync_inflight = 0;
}

static void sync_tick(uv_timer_t *t)
{
  Runner *r = t->data;
  if (!r->sync_due || r->sync_inflight || r->outbox_fd < 0) return;
  r->sync_due = false;
  r->sync_req.data = r;
  if (uv_fs_fdatasync(&r->loop, &r->sync_req, r->outbox_fd, sync_done) == 0) r->sync_inflight = 1;
  else fdatasync(r->outbox_fd);
}

/* Read DIR/outbox.jsonl: the records not acknowledged go back into the
 * outbox list (to be sent first); the file is rewritten with them only. */
static void outbox_load(Runner *r)
{
  SupLineIn li;
  bool blocking;
  if (sup_linein_open(&li, r->outbox_path, &blocking) < 0) return;
  li.max = (size_t)1 << 30;
  char *line;
  size_t len;
  int got;
  while ((got = sup_linein_next(&li, &line, &len)) > 0) {
    if (got == 2) continue;
    SupJson *j = sup_json_parse(line, len, NULL);
    const SupJson *ev = sup_json_get(j, "ev"), *job = sup_json_get(j, "job"),
                  *att = sup_json_get(j, "attempt");
    if (!ev || ev->type != SUP_JSON_STRING || !job || job->type != SUP_JSON_INT || !att ||
        att->type != SUP_JSON_INT) {
      sup_json_free(j);
      continue;
    }
    if (!strcmp(ev->str, "acked")) {
      for (Done **pp = &r->outbox; *pp; pp = &(*pp)->next)
        if ((*pp)->id == job->i && (*pp)->attempt == att->i) {
          Done *d = *pp;
          *pp = d->next;
          free(d->reason);
          free(d->record);
          free(d);
          r->noutbox--;
          break;
        }
    } else if (!strcmp(ev->str, "record")) {
      const SupJson *run = sup_json_get(j, "runner"), *st = sup_json_get(j, "status"),
                    *rs = sup_json_get(j, "reason"), *lost = sup_json_get(j, "lost"),
                    *rec = sup_json_get(j, "record");
      if (run && run->type == SUP_JSON_STRING && run->slen == 36 && st && st->type == SUP_JSON_STRING &&
          st->slen < 16 && rec && rec->type == SUP_JSON_STRING) {
        Done *d = calloc(1, sizeof *d);
        if (!d) abort();
        d->id = job->i;
        d->attempt = (int)att->i;
        memcpy(d->runner, run->str, 37);
        snprintf(d->status, sizeof d->status, "%s", st->str);
        d->reason = rs && rs->type == SUP_JSON_STRING ? strdup(rs->str) : NULL;
        d->lost = lost && lost->type == SUP_JSON_BOOL && lost->b;
        d->record = strdup(rec->str);
        d->next = r->outbox;
        r->outbox = d;
        r->noutbox++;
      }
    }
    sup_json_free(j);
  }
  sup_linein_close(&li);
  /* oldest first, and the file rewritten with what is left */
  Done *rev = NULL;
  while (r->outbox) {
    Done *d = r->outbox;
    r->outbox = d->next;
    d->next = rev;
    rev = d;
  }
  r->outbox = rev;
  r->otail = NULL;
  for (Done *d = r->outbox; d; d = d->next) r->otail = d;
  if (r->noutbox) say("%d record%s of the previous run to store (the outbox)", r->noutbox, r->noutbox == 1 ? "" : "s");
}

/* ------------------------------------------------------------------ complete */

static void done_free(Done *d)
{
  free(d->reason);
  free(d->record);
  free(d);
}

static void done_remove(Runner *r, Done *d)
{
  Done *prev = NULL;
  for (Done **pp = &r->outbox; *pp; prev = *pp, pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      if (r->otail == d) r->otail = prev;
      break;
    }
  r->noutbox--;
  outbox_acked(r, d);
  done_free(d);
}

static void late_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud);
/* The owner of the request callbacks (one runner per process). */
static Runner *the_runner;

/* A complete's answer: stored (one row), or refused (the lease was lost:
 * the job was rescued meanwhile), then the record goes to late_record. */
static void complete_result(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Done *d = ud;
  Runner *r = the_runner;
  d->inflight = false;
  if (!res) {
    if (!lost) say("storing the record of job %lld attempt %d: %s", d->id, d->attempt, err);
    maybe_finish(r); /* sent again on the next connection or tick */
    return;
  }
  if (PQntuples(res) == 1) {
    done_remove(r, d);
    maybe_finish(r);
    return;
  }
  d->late = true;
  char id[32], att[16];
  snprintf(id, sizeof id, "%lld", d->id);
  snprintf(att, sizeof att, "%d", d->attempt);
  const char *p[4] = {id, att, d->runner, d->record};
  d->inflight = true;
  hs_query(r->work, SQL_LATE, 4, p, late_cb, d);
}

static void late_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Done *d = ud;
  Runner *r = the_runner;
  d->inflight = false;
  if (!res) {
    if (!lost) say("storing the late record of job %lld attempt %d: %s", d->id, d->attempt, err);
    maybe_finish(r);
    return;
  }
  done_remove(r, d);
  maybe_finish(r);
}

/* Send every record that is not in flight (in order). */
static void send_outbox(Runner *r)
{
  if (!hs_conn_up(r->work)) return;
  for (Done *d = r->outbox; d; d = d->next) {
    if (d->inflight) continue;
    char id[32], att[16];
    snprintf(id, sizeof id, "%lld", d->id);
    snprintf(att, sizeof att, "%d", d->attempt);
    d->inflight = true;
    if (d->late) {
      const char *p[4] = {id, att, d->runner, d->record};
      hs_query(r->work, SQL_LATE, 4, p, late_cb, d);
      continue;
    }
    const char *p[7] = {id, att, d->runner, d->status, d->reason, d->record, d->lost ? "true" : "false"};
    hs_query(r->work, SQL_COMPLETE, 7, p, complete_result, d);
  }
}

/* ------------------------------------------------------------------ jobs */

static RJob *find_job(Runner *r, long long id)
{
  for (RJob *j = r->jobs; j; j = j->next)
    if (j->id == id) return j;
  return NULL;
}

/* Cancel the running jobs: [sig] to each group, SIGKILL after the grace;
 * [lost]: their records are free retries (fence, shutdown). */
static void cancel_jobs(Runner *r, int sig, bool lost)
{
  for (RJob *j = r->jobs; j; j = j->next) {
    if (lost) j->lost = true;
    if (j->sj) sup_job_cancel(j->sj, sig);
  }
}

static void runner_done(SupJob *sj, const SupOutcome *o, void *ud)
{
  Runner *r = ud;
  RJob *j = NULL, **pp;
  for (pp = &r->jobs; *pp; pp = &(*pp)->next)
    if ((*pp)->sj == sj) {
      j = *pp;
      *pp = j->next;
      break;
    }
  if (!j) abort(); /* every pool job is one of ours */
  r->nrunning--;
  j->queue->running--;
  sup_metrics_attempt(r->metrics, sj, o, false);
  Done *d = calloc(1, sizeof *d);
  if (!d) abort();
  d->id = j->id;
  d->attempt = j->attempt;
  memcpy(d->runner, r->id, 37);
  snprintf(d->status, sizeof d->status, "%s", sup_status_name(o->status));
  d->reason = o->reason ? strdup(o->reason) : NULL;
  d->lost = j->lost && !j->cancelled;
  d->record = strdup(o->record);
  outbox_record(r, d);
  if (r->otail) r->otail->next = d;
  else r->outbox = d;
  r->otail = d;
  r->noutbox++;
  free(j);
  send_outbox(r);
  claim_all(r);
  maybe_finish(r);
}

/* Start the claimed job of row [i] of [res]. */
static void start_row(Runner *r, Queue *q, PGresult *res, int i)
{
  RJob *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->id = atoll(PQgetvalue(res, i, 0));
  j->attempt = atoi(PQgetvalue(res, i, 1));
  j->queue = q;
  SupSpec s;
  memset(&s, 0, sizeof s);
  s.id = strdup(PQgetvalue(res, i, 2));
  s.program = strdup(PQgetisnull(res, i, 3) ? "" : PQgetvalue(res, i, 3));
  s.is_source = true;
  s.input_json = PQgetisnull(res, i, 4) ? NULL : strdup(PQgetvalue(res, i, 4));
  s.attempt = j->attempt;
  s.first_attempt = j->attempt;
  s.seq = j->id;
  s.timeout_ms = r->timeout_ms;
  SupJson *o = sup_json_parse(PQgetvalue(res, i, 5), (size_t)PQgetlength(res, i, 5), NULL);
  const SupJson *file = sup_json_get(o, "file"), *tmo = sup_json_get(o, "timeout_ms"),
                *mem = sup_json_get(o, "memory"), *cpu = sup_json_get(o, "cpu_ms");
  s.file = strdup(file && file->type == SUP_JSON_STRING ? file->str : s.id);
  if (tmo && (tmo->type == SUP_JSON_INT || tmo->type == SUP_JSON_FLOAT))
    s.timeout_ms = tmo->type == SUP_JSON_INT ? (double)tmo->i : tmo->d;
  if (mem && mem->type == SUP_JSON_INT && mem->i > 0) s.memory = (uint64_t)mem->i;
  if (cpu && (cpu->type == SUP_JSON_INT || cpu->type == SUP_JSON_FLOAT))
    s.cpu_ms = cpu->type == SUP_JSON_INT ? (double)cpu->i : cpu->d;
  sup_json_free(o);
  j->next = r->jobs;
  r->jobs = j;
  r->nrunning++;
  q->running++;
  j->sj = sup_pool_start(&r->pool, &s);
}

static bool may_claim(Runner *r)
{
  return r->registered && !r->draining && !r->fenced && !r->fatal && hs_conn_up(r->work);
}

static void claim(Runner *r, Queue *q);

static void claim_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Queue *q = ud;
  Runner *r = the_runner;
  q->claiming = false;
  if (!res) {
    if (!lost) say("claiming jobs of queue %s: %s", q->name, err);
    return;
  }
  int n = PQntuples(res);
  if (n > 0 && (r->draining || r->fatal)) {
    /* cannot happen: no claim is sent then; the rescue would free them */
  }
  for (int i = 0; i < n; i++) start_row(r, q, res, i);
  int free_total = r->slots - r->nrunning, free_q = q->slots - q->running;
  bool full = free_total <= 0 || free_q <= 0;
  /* a full batch may mean more are waiting; a NOTIFY during the claim too */
  if (!full && (q->again || n > 0)) {
    q->again = false;
    claim(r, q);
  }
  sup_pool_spares(&r->pool, r->spares);
}

static void claim(Runner *r, Queue *q)
{
  if (!may_claim(r)) return;
  if (q->claiming) {
    q->again = true;
    return;
  }
  int n = r->slots - r->nrunning;
  if (q->slots - q->running < n) n = q->slots - q->running;
  if (n <= 0) return;
  char ns[16], tmo[32], grace[32];
  snprintf(ns, sizeof ns, "%d", n);
  snprintf(tmo, sizeof tmo, "%.0f", r->timeout_ms);
  snprintf(grace, sizeof grace, "%.0f", r->grace_ms);
  const char *p[5] = {q->name, ns, r->id, tmo, grace};
  q->claiming = true;
  q->again = false;
  hs_query(r->work, SQL_CLAIM, 5, p, claim_cb, q);
}

static void claim_all(Runner *r)
{
  for (int i = 0; i < r->nqueues; i++) claim(r, &r->queues[i]);
}

static void poll_tick(uv_timer_t *t)
{
  Runner *r = t->data;
  claim_all(r);
  send_outbox(r);
}

/* ------------------------------------------------------------------ rescue */

static void rescue_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Runner *r = the_runner;
  r->rescue_inflight--;
  if (!res) {
    if (!lost) say("rescue: %s", err);
    return;
  }
  if (PQntuples(res) > 0) {
    say("rescued %d job%s of lost runners", PQntuples(res), PQntuples(res) == 1 ? "" : "s");
    claim_all(r);
  }
}

static void quiet_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Runner *r = the_runner;
  if (ud) r->rescue_inflight--;
  if (!res && !lost) say("%s: %s", ud ? (const char *)ud : "maintenance", err);
  if (res && ud && !strcmp(ud, "staging") && PQntuples(res) > 0) claim_all(r);
}

static void rescue_tick(uv_timer_t *t)
{
  Runner *r = t->data;
  if (!r->registered || r->rescue_inflight || !hs_conn_up(r->work)) return;
  char ttl[32];
  snprintf(ttl, sizeof ttl, "%.0f", r->ttl_ms);
  const char *p[3] = {ttl, r->counters, NULL};
  r->rescue_inflight += 3;
  hs_query(r->work, SQL_RESCUE, 3, p, rescue_cb, NULL);
  const char *q[1] = {"00000000-0000-0000-0000-000000000000"}; /* no runner: by lease only */
  hs_query(r->work, SQL_PRUNE, 1, q, quiet_cb, (void *)"pruning runners");
  hs_query(r->work, SQL_STAGE, 0, NULL, quiet_cb, (void *)"staging");
}

/* The previous incarnation (DIR/runner.id): its records were queued first
 * (outbox_load), so they win; then its running jobs are rescued at once
 * and its row deleted. */
static void recover_previous(Runner *r)
{
  if (r->recovered) return;
  r->recovered = true;
  if (!r->old_id[0]) return;
  char ttl[32];
  snprintf(ttl, sizeof ttl, "%.0f", r->ttl_ms);
  const char *p[3] = {ttl, r->counters, r->old_id};
  r->rescue_inflight++;
  hs_query(r->work, SQL_RESCUE, 3, p, rescue_cb, NULL);
  const char *q[1] = {r->old_id};
  hs_query(r->work, SQL_PRUNE, 1, q, quiet_cb, NULL);
}

/* ------------------------------------------------------------------ lease */

static void fence(Runner *r, const char *why)
{
  if (r->fenced) return;
  r->fenced = true;
  if (r->nrunning) {
    say("%s: stopping my %d job%s before the lease ends", why, r->nrunning, r->nrunning == 1 ? "" : "s");
    cancel_jobs(r, SIGTERM, true);
  }
}

static void register_runner(Runner *r);

static void heartbeat_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Runner *r = the_runner;
  r->hb_inflight = false;
  if (!res) {
    if (!lost) say("heartbeat: %s", err);
    return;
  }
  if (PQntuples(res) == 0) {
    /* declared dead and pruned: our jobs were rescued */
    r->registered = false;
    if (r->fence) fence(r, "the database declared this runner dead");
    register_runner(r);
    return;
  }
  r->last_ack_send = r->hb_sent;
  if (r->fenced && r->nrunning == 0) {
    r->fenced = false;
    say("the database is back; claiming again");
    claim_all(r);
  }
  /* jobs whose cancel was requested (a NOTIFY may have been lost) */
  const char *ids = PQgetvalue(res, 0, 0);
  while (*ids) {
    char *end;
    long long id = strtoll(ids, &end, 10);
    RJob *j = find_job(r, id);
    if (j && !j->cancelled && j->sj) {
      j->cancelled = true;
      sup_job_cancel(j->sj, SIGINT);
    }
    ids = *end == ',' ? end + 1 : end;
    if (end == ids && *ids != ',') break;
  }
}

static void heartbeat_tick(uv_timer_t *t)
{
  Runner *r = t->data;
  if (r->registered && !r->hb_inflight && hs_conn_up(r->ctl)) {
    r->hb_inflight = true;
    r->hb_sent = now_ms(r);
    const char *p[2] = {r->id, r->draining ? "true" : "false"};
    hs_query(r->ctl, SQL_HEARTBEAT, 2, p, heartbeat_cb, NULL);
  }
}

static void fence_tick(uv_timer_t *t)
{
  Runner *r = t->data;
  if (!r->fence || !r->registered || r->fenced) return;
  if (now_ms(r) - r->last_ack_send >= r->ttl_ms - r->margin_ms) fence(r, "no heartbeat acknowledged");
}

static void register_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Runner *r = the_runner;
  r->registering = false;
  if (!res) {
    if (!lost) say("registering: %s", err);
    return; /* again on the next connection */
  }
  r->registered = true;
  r->fenced = false;
  r->last_ack_send = *(double *)ud;
  free(ud);
  Buf qs = {0};
  for (int i = 0; i < r->nqueues; i++)
    buf_printf(&qs, "%s%s=%d", i ? "," : "", r->queues[i].name, r->queues[i].slots);
  say("runner %s on %s: %d slot%s, queues %s", r->id, r->host, r->slots, r->slots == 1 ? "" : "s",
      qs.data);
  buf_free(&qs);
  recover_previous(r);
  claim_all(r);
}

static void register_runner(Runner *r)
{
  if (r->registered || r->registering || !r->checked || r->draining || !hs_conn_up(r->ctl)) return;
  char pid[16], slots[16], ttl[32];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  snprintf(slots, sizeof slots, "%d", r->slots);
  snprintf(ttl, sizeof ttl, "%.0f", r->ttl_ms);
  Buf qs = {0};
  for (int i = 0; i < r->nqueues; i++) buf_printf(&qs, "%s%s", i ? "," : "", r->queues[i].name);
  const char *p[7] = {r->id, r->host, pid, HARN_VERSION, qs.data, slots, ttl};
  double *sent = malloc(sizeof *sent);
  if (!sent) abort();
  *sent = now_ms(r);
  r->registering = true;
  hs_query(r->ctl, SQL_REGISTER, 7, p, register_cb, sent);
  buf_free(&qs);
}

static void schema_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Runner *r = the_runner;
  if (!res) {
    if (!lost) say("%s", err);
    return;
  }
  if (ud) { /* the first step: harn.meta exists; then its version */
    if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
      hs_query(c, HS_SQL_SCHEMA_VERSION, 0, NULL, schema_cb, NULL);
      return;
    }
  }
  int v = ud ? 0 : atoi(PQgetvalue(res, 0, 0));
  if (v != hs_schema_latest()) {
    if (v < hs_schema_latest())
      say("the database's harn schema is version %d, this harn needs %d: run `harn db migrate`", v,
          hs_schema_latest());
    else
      say("the database's harn schema is version %d, newer than this harn's (%d)", v, hs_schema_latest());
    r->fatal = 2;
    r->draining = true;
    maybe_finish(r);
    return;
  }
  r->checked = true;
  register_runner(r);
}

/* ------------------------------------------------------------------ connections */

static void ctl_up(HsConn *c, void *ud)
{
  Runner *r = ud;
  hs_query(c, "LISTEN harn_jobs", 0, NULL, quiet_cb, NULL);
  hs_query(c, "LISTEN harn_control", 0, NULL, quiet_cb, NULL);
  if (!r->checked) hs_query(c, SQL_SCHEMA_EXISTS, 0, NULL, schema_cb, (void *)"exists");
  else if (!r->registered) register_runner(r);
  else heartbeat_tick(&r->hb_timer);
  claim_all(r); /* a NOTIFY may have been missed while away */
}

static void work_up(HsConn *c, void *ud)
{
  Runner *r = ud;
  if (r->registered) recover_previous(r);
  send_outbox(r);
  claim_all(r);
}

static void conn_down(HsConn *c, const char *why, void *ud)
{
  Runner *r = ud;
  static double last;
  double now = now_ms(r);
  if (now - last > 1000) say("database connection lost: %s; reconnecting", why);
  last = now;
  if (c == r->work)
    for (int i = 0; i < r->nqueues; i++) r->queues[i].claiming = false;
}

static void on_notify(HsConn *c, const char *channel, const char *payload, void *ud)
{
  Runner *r = ud;
  if (!strcmp(channel, "harn_jobs")) {
    for (int i = 0; i < r->nqueues; i++)
      if (!*payload || !strcmp(payload, r->queues[i].name)) claim(r, &r->queues[i]);
    return;
  }
  if (strcmp(channel, "harn_control")) return;
  SupJson *j = sup_json_parse(payload, strlen(payload), NULL);
  const SupJson *run = sup_json_get(j, "runner"), *cancel = sup_json_get(j, "cancel"),
                *rescued = sup_json_get(j, "rescued");
  if (run && run->type == SUP_JSON_STRING && !strcmp(run->str, r->id)) {
    const SupJson *id = cancel ? cancel : rescued;
    RJob *job = id && id->type == SUP_JSON_INT ? find_job(r, id->i) : NULL;
    if (job && job->sj && !job->cancelled) {
      job->cancelled = !!cancel;
      sup_job_cancel(job->sj, cancel ? SIGINT : SIGKILL);
    }
  }
  sup_json_free(j);
}

/* ------------------------------------------------------------------ shutdown */

static void close_all(Runner *r)
{
  if (!r->handles_open) return;
  r->handles_open = false;
  uv_close((uv_handle_t *)&r->hb_timer, NULL);
  uv_close((uv_handle_t *)&r->poll_timer, NULL);
  uv_close((uv_handle_t *)&r->rescue_timer, NULL);
  uv_close((uv_handle_t *)&r->fence_timer, NULL);
  uv_close((uv_handle_t *)&r->sync_timer, NULL);
  uv_close((uv_handle_t *)&r->drain_timer, NULL);
  uv_close((uv_handle_t *)&r->sigs[0], NULL);
  uv_close((uv_handle_t *)&r->sigs[1], NULL);
  hs_conn_close(r->ctl);
  hs_conn_close(r->work);
  sup_metrics_server_close(r->metrics_srv);
  r->metrics_srv = NULL;
  if (r->pool_open) sup_pool_close(&r->pool);
  r->pool_open = false;
}

static void deregister_cb(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Runner *r = the_runner;
  if (!res && !lost) say("deregistering: %s", err);
  if (!res && lost) {
    r->deregistering = false; /* again when the connection is back */
    return;
  }
  r->finished = true;
  close_all(r);
}

/* A drain or a cancel ends once no job runs and every record is stored
 * (or, after a third signal or a fatal error, at once). */
static void maybe_finish(Runner *r)
{
  if (!r->draining || r->finished || r->deregistering) return;
  if (r->nrunning > 0 || r->pool.nrunning > 0) return;
  if (r->noutbox > 0 && r->signals < 3 && !r->fatal) return;
  if (r->registered && !r->fatal && r->signals < 3 && hs_conn_up(r->ctl)) {
    r->deregistering = true;
    const char *p[1] = {r->id};
    hs_query(r->ctl, SQL_DEREGISTER, 1, p, deregister_cb, NULL);
    return;
  }
  if (r->registered && !r->fatal && r->signals < 3) return; /* wait for the connection */
  r->finished = true;
  close_all(r);
}

/* The end of a drain: the running jobs are cancelled (SIGINT, then
 * SIGKILL after the grace), as --halt now; their records are lost
 * attempts (free retries). [why] is said. */
static void cancel_running(Runner *r, const char *why)
{
  say("%s: cancelling %d running job%s", why, r->nrunning, r->nrunning == 1 ? "" : "s");
  r->draining = r->cancelling = true;
  cancel_jobs(r, SIGINT, true);
  sup_pool_spares(&r->pool, 0);
}

static void drain_timeout(uv_timer_t *t)
{
  Runner *r = t->data;
  if (r->cancelling || r->finished) return;
  r->signals = 2; /* the next signal is the third: exit now */
  cancel_running(r, "--drain-timeout");
  maybe_finish(r);
}

static void on_signal(uv_signal_t *h, int signum)
{
  Runner *r = h->data;
  r->signals++;
  if (signum == SIGTERM && r->signals == 1) {
    say("SIGTERM: draining (%d job%s running); a second signal cancels them", r->nrunning,
        r->nrunning == 1 ? "" : "s");
    r->draining = true;
    heartbeat_tick(&r->hb_timer); /* tell the others */
    if (r->drain_timeout_ms > 0)
      sup_uv_must(uv_timer_start(&r->drain_timer, drain_timeout, (uint64_t)r->drain_timeout_ms, 0),
                  "uv_timer_start");
  } else if (!r->cancelling) {
    if (signum == SIGINT && r->signals == 1) r->signals = 2;
    cancel_running(r, signum == SIGINT ? "SIGINT" : "SIGTERM");
  } else {
    if (r->noutbox) say("exiting now; %d record%s stay in the outbox %s", r->noutbox,
                        r->noutbox == 1 ? "" : "s", r->outbox_path);
    r->signals = 3;
    cancel_jobs(r, SIGKILL, true);
  }
  sup_pool_spares(&r->pool, 0);
  maybe_finish(r);
}

/* ------------------------------------------------------------------ setup */

/* --queue NAME[=SLOTS],...: -1 after a usage error. */
static int parse_queues(Runner *r, const CliArgs *a)
{
  const char *v = a->opt[CLI_OPT_QUEUE].text ? a->opt[CLI_OPT_QUEUE].text : "default";
  char *copy = strdup(v), *save = NULL;
  int cap = 4;
  r->queues = calloc((size_t)cap, sizeof *r->queues);
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    int slots = r->slots;
    if (eq) {
      *eq = 0;
      char *end;
      long n = strtol(eq + 1, &end, 10);
      if (!eq[1] || *end || n < 1 || n > 4096) {
        free(copy);
        return cli_bad_value(a, CLI_OPT_QUEUE, "is not NAME[=SLOTS],... (SLOTS from 1 to 4096)"), -1;
      }
      slots = (int)n;
    }
    if (!*t || strlen(t) > 128) {
      free(copy);
      return cli_bad_value(a, CLI_OPT_QUEUE, "has an empty or too long queue name"), -1;
    }
    for (int i = 0; i < r->nqueues; i++)
      if (!strcmp(r->queues[i].name, t)) {
        free(copy);
        return cli_bad_value(a, CLI_OPT_QUEUE, "names a queue twice"), -1;
      }
    if (r->nqueues == cap) {
      cap *= 2;
      r->queues = realloc(r->queues, (size_t)cap * sizeof *r->queues);
    }
    r->queues[r->nqueues++] = (Queue){.name = strdup(t), .slots = slots < r->slots ? slots : r->slots};
  }
  free(copy);
  if (!r->nqueues) return cli_bad_value(a, CLI_OPT_QUEUE, "names no queue"), -1;
  return 0;
}

static int mkdirs(const char *path)
{
  char *p = strdup(path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      if (mkdir(p, 0700) < 0 && errno != EEXIST) {
        free(p);
        return -1;
      }
      *s = '/';
    }
  int rc = mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
  free(p);
  return rc;
}

/* The state directory: lock, previous id, outbox. 0 or an exit code. */
static int state_dir(Runner *r, const char *given)
{
  char *dir = NULL;
  if (given) {
    dir = strdup(given);
  } else {
    const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (x && *x) {
      if (asprintf(&dir, "%s/harn/runner", x) < 0) abort();
    } else if (asprintf(&dir, "%s/.local/state/harn/runner", home && *home ? home : "/tmp") < 0) {
      abort();
    }
  }
  int rc = 2;
  char *path = NULL;
  if (mkdirs(dir) < 0) {
    say("cannot make the state directory %s: %s", dir, strerror(errno));
    goto out;
  }
  if (asprintf(&path, "%s/lock", dir) < 0) abort();
  r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
    say("the state directory %s is in use by another runner (%s)", dir,
        r->lock_fd < 0 ? strerror(errno) : "locked");
    goto out;
  }
  free(path);
  if (asprintf(&path, "%s/runner.id", dir) < 0) abort();
  FILE *f = fopen(path, "re");
  if (f) {
    char buf[64] = "";
    if (fgets(buf, sizeof buf, f) && strlen(buf) >= 36) memcpy(r->old_id, buf, 36);
    r->old_id[36] = 0;
    fclose(f);
  }
  f = fopen(path, "we");
  if (!f || fprintf(f, "%s\n", r->id) < 0 || fclose(f) != 0) {
    say("cannot write %s: %s", path, strerror(errno));
    goto out;
  }
  if (asprintf(&r->outbox_path, "%s/outbox.jsonl", dir) < 0) abort();
  outbox_load(r);
  /* compact: what is left, then append */
  char *tmp;
  if (asprintf(&tmp, "%s.tmp", r->outbox_path) < 0) abort();
  r->outbox_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (r->outbox_fd < 0) {
    say("cannot write %s: %s", tmp, strerror(errno));
    free(tmp);
    goto out;
  }
  for (Done *d = r->outbox; d; d = d->next) outbox_record(r, d);
  fdatasync(r->outbox_fd);
  if (rename(tmp, r->outbox_path) < 0) {
    say("cannot write %s: %s", r->outbox_path, strerror(errno));
    free(tmp);
    goto out;
  }
  free(tmp);
  close(r->outbox_fd);
  r->outbox_fd = open(r->outbox_path, O_WRONLY | O_APPEND | O_CLOEXEC);
  rc = r->outbox_fd < 0 ? 2 : 0;
out:
  free(path);
  free(dir);
  return rc;
}

int sup_cmd_runner(const CliArgs *a)
{
  Runner *r = calloc(1, sizeof *r);
  if (!r) abort();
  the_runner = r;
  r->outbox_fd = r->lock_fd = -1;
  int rc = 2;
  r->slots = a->opt[CLI_OPT_JOBS].given ? (int)a->opt[CLI_OPT_JOBS].n : 0;
  if (!r->slots) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->slots = n > 0 ? (int)n : 1;
  }
  r->heartbeat_ms = a->opt[CLI_OPT_HEARTBEAT].ms;
  r->ttl_ms = a->opt[CLI_OPT_LEASE_TTL].ms;
  r->poll_ms = a->opt[CLI_OPT_POLL].ms;
  r->rescue_ms = a->opt[CLI_OPT_RESCUE_INTERVAL].ms;
  r->grace_ms = a->opt[CLI_OPT_GRACE].ms;
  r->drain_timeout_ms = a->opt[CLI_OPT_DRAIN_TIMEOUT].given ? a->opt[CLI_OPT_DRAIN_TIMEOUT].ms : 0;
  r->timeout_ms = a->opt[CLI_OPT_TIMEOUT].given ? a->opt[CLI_OPT_TIMEOUT].ms : 3600000.0;
  r->spares = a->opt[CLI_OPT_SPARES].given ? (int)a->opt[CLI_OPT_SPARES].n
                                           : (r->slots < 2 ? 2 * r->slots : 4);
  const char *odl = a->opt[CLI_OPT_ON_DB_LOSS].text;
  if (strcmp(odl, "fence") && strcmp(odl, "continue")) {
    cli_bad_value(a, CLI_OPT_ON_DB_LOSS, "is not fence or continue");
    goto out;
  }
  r->fence = !strcmp(odl, "fence");
  r->margin_ms = r->grace_ms + fmin(2000, r->ttl_ms / 4);
  if (r->heartbeat_ms < 10 || r->poll_ms < 10 || r->rescue_ms < 10) {
    cli_usage_error(a, "--heartbeat, --poll and --rescue-interval must be at least 10ms");
    goto out;
  }
  if (r->ttl_ms < r->margin_ms + 2 * r->heartbeat_ms) {
    cli_usage_error(a, "--lease-ttl (%.0f ms) must be at least the fence margin (grace + min(2s, "
                       "ttl/4): %.0f ms) plus two heartbeats (%.0f ms)",
                    r->ttl_ms, r->margin_ms, 2 * r->heartbeat_ms);
    goto out;
  }
  if (parse_queues(r, a) < 0) goto out;
  if (hs_uuid(r->id) < 0) {
    say("no randomness for the runner's id");
    goto out;
  }
  gethostname(r->host, sizeof r->host - 1);
  if ((rc = state_dir(r, a->opt[CLI_OPT_STATE_DIR].text)) != 0) goto out;
  rc = 1;
  r->counters = sup_null_counters();
  if (uv_loop_init(&r->loop) != 0) {
    say("cannot start the event loop");
    goto out;
  }
  if (a->opt[CLI_OPT_METRICS].text) { /* before anything runs: a bad ADDR runs nothing */
    char why[200];
    r->metrics = sup_metrics_runner(r->id);
    r->metrics_srv = sup_metrics_serve(&r->loop, a->opt[CLI_OPT_METRICS].text, r->metrics, why, sizeof why);
    if (!r->metrics_srv) {
      say("%s", why);
      uv_run(&r->loop, UV_RUN_DEFAULT); /* the listener's close */
      uv_loop_close(&r->loop);
      rc = 2;
      goto out;
    }
    say("metrics served on port %d (GET /metrics)", sup_metrics_server_port(r->metrics_srv));
  }
  SupPoolConfig cfg = {.grace_ms = r->grace_ms,
                       .max_output = a->opt[CLI_OPT_MAX_OUTPUT].bytes,
                       .no_sandbox = a->opt[CLI_OPT_NO_SANDBOX].given,
                       .memory = a->opt[CLI_OPT_MEMORY].bytes,
                       .cpu_ms = a->opt[CLI_OPT_CPU].ms,
                       .max_events = (size_t)a->opt[CLI_OPT_MAX_EVENTS].n};
  SupHooks hooks = {.on_done = runner_done, .ud = r};
  static const int sigs[2] = {SIGINT, SIGTERM};
  int urc = sup_pool_init(&r->pool, &r->loop, &cfg, &hooks);
  if (urc == 0) {
    urc = sup_signals_start(&r->loop, r->sigs, sigs, 2, on_signal, r);
    if (urc != 0) sup_pool_close(&r->pool);
  }
  if (urc != 0) {
    say("cannot watch signals: %s", uv_strerror(urc));
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    goto out;
  }
  r->pool_open = true;
  r->handles_open = true;
  uv_timer_t *timers[6] = {&r->hb_timer, &r->poll_timer, &r->rescue_timer, &r->fence_timer,
                           &r->sync_timer, &r->drain_timer};
  for (int i = 0; i < 6; i++) {
    sup_uv_must(uv_timer_init(&r->loop, timers[i]), "uv_timer_init");
    timers[i]->data = r;
  }
  sup_uv_must(uv_timer_start(&r->hb_timer, heartbeat_tick, (uint64_t)r->heartbeat_ms, (uint64_t)r->heartbeat_ms), "uv_timer_start");
  sup_uv_must(uv_timer_start(&r->poll_timer, poll_tick, (uint64_t)r->poll_ms, (uint64_t)r->poll_ms), "uv_timer_start");
  sup_uv_must(uv_timer_start(&r->rescue_timer, rescue_tick, (uint64_t)r->rescue_ms, (uint64_t)r->rescue_ms), "uv_timer_start");
  double fstep = fmin(100, r->heartbeat_ms / 2);
  sup_uv_must(uv_timer_start(&r->fence_timer, fence_tick, (uint64_t)fstep, (uint64_t)fstep), "uv_timer_start");
  sup_uv_must(uv_timer_start(&r->sync_timer, sync_tick, 20, 20), "uv_timer_start");
  char app[64];
  snprintf(app, sizeof app, "harn-runner/%.36s", r->id);
  /* a request unanswered for a heartbeat or two means the server is away */
  double req_timeout = fmax(1000, fmin(10000, (r->ttl_ms - r->margin_ms) / 2));
  /* Reconnect at least once a heartbeat: a backoff grown to 5 s after a
   * long outage could outlast the fence window, and the runner would kill
   * its jobs although the database came back in time (RUNNER.md's 5 s cap
   * holds for the default 5 s heartbeat). */
  HsConnOptions co = {.conninfo = hs_conninfo(a->opt[CLI_OPT_DB].text), .app = app,
                      .request_timeout_ms = req_timeout, .connect_timeout_ms = req_timeout,
                      .max_backoff_ms = fmin(5000, r->heartbeat_ms)};
  HsConnHooks ch = {.on_up = ctl_up, .on_down = conn_down, .on_notify = on_notify, .ud = r};
  r->ctl = hs_conn_new(&r->loop, &co, &ch);
  HsConnHooks wh = {.on_up = work_up, .on_down = conn_down, .ud = r};
  /* the work connection waits longer: a claim of many rows, a rescue */
  co.request_timeout_ms = fmax(req_timeout, 10000);
  r->work = hs_conn_new(&r->loop, &co, &wh);
  sup_pool_spares(&r->pool, r->spares);
  sup_metrics_start(r->metrics, &r->loop, &r->pool);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&r->loop) != 0) say("event loop not empty at exit");
  rc = r->fatal ? r->fatal : r->cancelling ? 130 : 0;
out:
  if (r->outbox_fd >= 0) {
    fdatasync(r->outbox_fd);
    close(r->outbox_fd);
  }
  if (r->lock_fd >= 0) close(r->lock_fd);
  while (r->outbox) {
    Done *d = r->outbox;
    r->outbox = d->next;
    done_free(d);
  }
  for (int i = 0; i < r->nqueues; i++) free(r->queues[i].name);
  free(r->queues);
  free(r->outbox_path);
  free(r->counters);
  sup_metrics_free(r->metrics);
  free(r);
  the_runner = NULL;
  return rc;
}

#endif
