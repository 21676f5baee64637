/*
 * cli_db.c: `harn db migrate|status|prune` and `harn jobs ...`, the job
 * runner's commands that are not a loop (docs/runner.md, docs/cli.md).
 * They use libpq's blocking calls, which only a loop must avoid.
 *
 * `harn jobs results --batch B` writes the records of a batch as `harn
 * batch --results` would have: the stored lines, byte for byte, in (job
 * id, attempt) order, streamed (single-row mode) rather than loaded.
 */
#define _GNU_SOURCE
#include "supervisor/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HARN_WITH_DB

static int no_db(const CliArgs *a)
{
  fprintf(stderr, "harn %s: this build of harn has no database support (built with "
                  "HARN_WITH_DB=OFF, as static builds are); see docs/runner.md\n", a->cmd->name);
  return 2;
}

int cli_db(const CliArgs *a) { return no_db(a); }
int cli_jobs(const CliArgs *a) { return no_db(a); }
int cli_submit(const CliArgs *a) { return no_db(a); }
int cli_queues(const CliArgs *a) { return no_db(a); }

#else

#include <math.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "supervisor/db_internal.h"
#include "supervisor/sup_internal.h"

PGconn *sup_db_open(const CliArgs *a, bool need_schema)
{
  char *err = NULL;
  char app[64];
  snprintf(app, sizeof app, "harn-%s", a->cmd->name);
  PGconn *c = hs_connect_sync(hs_conninfo(a->opt[CLI_OPT_DB].text), app, &err);
  if (!c) {
    fprintf(stderr, "harn %s: cannot connect to the database: %s\n", a->cmd->name, err);
    free(err);
    return NULL;
  }
  if (!need_schema) return c;
  int v = hs_schema_version(c, &err);
  if (v < 0) {
    fprintf(stderr, "harn %s: %s\n", a->cmd->name, err);
    free(err);
    PQfinish(c);
    return NULL;
  }
  if (v != hs_schema_latest()) {
    if (v == 0)
      fprintf(stderr, "harn %s: the database has no harn schema yet; run `harn db migrate`\n",
              a->cmd->name);
    else if (v < hs_schema_latest())
      fprintf(stderr, "harn %s: the database's harn schema is version %d, this harn needs %d; "
                      "run `harn db migrate`\n", a->cmd->name, v, hs_schema_latest());
    else
      fprintf(stderr, "harn %s: the database's harn schema is version %d, newer than this harn "
                      "(%d): upgrade harn\n", a->cmd->name, v, hs_schema_latest());
    PQfinish(c);
    return NULL;
  }
  return c;
}

char *sup_null_counters(void)
{
  Buf b = {0};
  sup_json_counters(&b, &(IpcCounters){0}, 0, false);
  return buf_take(&b);
}

/* A query with text parameters; NULL after a message when it failed. */
static PGresult *query(const CliArgs *a, PGconn *c, const char *sql, int n, const char *const *p)
{
  PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  const char *m = PQresultErrorMessage(r);
  fprintf(stderr, "harn %s: %s", a->cmd->name, *m ? m : PQerrorMessage(c));
  PQclear(r);
  return NULL;
}

/* ------------------------------------------------------------------ db */

static int db_status(const CliArgs *a, PGconn *c)
{
  char *err = NULL;
  int v = hs_schema_version(c, &err);
  if (v < 0) {
    fprintf(stderr, "harn db: %s\n", err);
    free(err);
    return 1;
  }
  printf("schema: version %d (this harn: %d)%s\n", v, hs_schema_latest(),
         v == 0 ? ", not migrated: run `harn db migrate`" : v < hs_schema_latest() ? ", run `harn db migrate`" : "");
  if (v == 0) return 0;
  PGresult *r = query(a, c,
                      "SELECT id, hostname, pid, slots, array_to_string(queues, ','), "
                      "round(extract(epoch FROM now() - heartbeat_at) * 1000), draining, "
                      "heartbeat_at < now() - lease_ttl FROM harn.runner ORDER BY started_at",
                      0, NULL);
  if (!r) return 1;
  printf("runners: %d\n", PQntuples(r));
  for (int i = 0; i < PQntuples(r); i++)
    printf("  %s %s pid %s, %s slots, queues %s, heartbeat %s ms ago%s%s\n", PQgetvalue(r, i, 0),
           PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
           PQgetvalue(r, i, 5), !strcmp(PQgetvalue(r, i, 6), "t") ? ", draining" : "",
           !strcmp(PQgetvalue(r, i, 7), "t") ? ", lease expired" : "");
  PQclear(r);
  r = query(a, c, "SELECT state, count(*) FROM harn.job GROUP BY state ORDER BY state", 0, NULL);
  if (!r) return 1;
  printf("jobs:");
  for (int i = 0; i < PQntuples(r); i++)
    printf(" %s %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
  printf("%s\n", PQntuples(r) ? "" : " none");
  PQclear(r);
  return 0;
}

static int db_prune(const CliArgs *a, PGconn *c)
{
  char ms[64];
  snprintf(ms, sizeof ms, "%.0f", a->opt[CLI_OPT_OLDER_THAN].ms);
  const char *p[1] = {ms};
  PGresult *r = query(a, c,
                      "WITH d AS (DELETE FROM harn.job WHERE finalized_at < now() - "
                      "make_interval(secs => $1::float8 / 1000) RETURNING 1) SELECT count(*) FROM d",
                      1, p);
  if (!r) return 1;
  printf("pruned %s finished job%s\n", PQgetvalue(r, 0, 0), strcmp(PQgetvalue(r, 0, 0), "1") ? "s" : "");
  PQclear(r);
  r = query(a, c,
            "DELETE FROM harn.late_record WHERE received_at < now() - make_interval(secs => $1::float8 / 1000)",
            1, p);
  if (!r) return 1;
  PQclear(r);
  return 0;
}

int cli_db(const CliArgs *a)
{
  const char *sub = a->operands[0];
  if (strcmp(sub, "migrate") && strcmp(sub, "status") && strcmp(sub, "prune"))
    return cli_usage_error(a, "\"%s\" is not migrate, status or prune", sub);
  PGconn *c = sup_db_open(a, !strcmp(sub, "prune"));
  if (!c) return 1;
  int rc = 0;
  if (!strcmp(sub, "migrate")) {
    int from = 0, to = 0;
    char *err = NULL;
    if (hs_migrate(c, &from, &to, &err) < 0) {
      fprintf(stderr, "harn db: %s\n", err);
      free(err);
      rc = 1;
    } else if (from == to) {
      printf("schema: version %d, up to date\n", to);
    } else {
      printf("schema: version %d -> %d\n", from, to);
    }
  } else if (!strcmp(sub, "status")) {
    rc = db_status(a, c);
  } else {
    rc = db_prune(a, c);
  }
  PQfinish(c);
  return rc;
}

/* ------------------------------------------------------------------ jobs */

/* Send [sql] and hand each row to [row] as it arrives (single-row mode:
 * a listing of a million jobs is never held whole). 0, or 1 after a
 * message. */
static int stream(const CliArgs *a, PGconn *c, const char *sql, int n, const char *const *p,
                  void (*row)(PGresult *r, void *ud), void *ud)
{
  if (!PQsendQueryParams(c, sql, n, NULL, p, NULL, NULL, 0) || !PQsetSingleRowMode(c)) {
    fprintf(stderr, "harn %s: %s", a->cmd->name, PQerrorMessage(c));
    return 1;
  }
  int rc = 0;
  PGresult *r;
  while ((r = PQgetResult(c))) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE) {
      row(r, ud);
    } else if (st != PGRES_TUPLES_OK && !rc) {
      fprintf(stderr, "harn %s: %s", a->cmd->name, PQresultErrorMessage(r));
      rc = 1;
    }
    PQclear(r);
  }
  return rc;
}

static void print_line(PGresult *r, void *ud)
{
  FILE *out = ud;
  fputs(PQgetvalue(r, 0, 0), out);
  fputc('\n', out);
}

static int jobs_list(const CliArgs *a, PGconn *c)
{
  const char *p[3] = {a->opt[CLI_OPT_BATCH_NAME].text, a->opt[CLI_OPT_STATE].text,
                      a->opt[CLI_OPT_QUEUE].text};
  bool json = a->opt[CLI_OPT_JSON].given;
  const char *where =
      "FROM harn.job j LEFT JOIN harn.batch b ON b.id = j.batch_id "
      "WHERE ($1::text IS NULL OR b.name = $1) AND ($2::text IS NULL OR j.state::text = $2) "
      "AND ($3::text IS NULL OR j.queue = $3) ORDER BY j.id";
  char *sql;
  if (json) {
    if (asprintf(&sql, "SELECT json_build_object('id', j.id, 'batch', b.name, 'key', j.key, 'queue', "
                       "j.queue, 'priority', j.priority, 'state', j.state, 'attempt', j.attempt, "
                       "'max_attempts', j.max_attempts, 'run_at', j.run_at, 'runner', j.runner_id, "
                       "'finalized_at', j.finalized_at)::text %s", where) < 0)
      abort();
  } else {
    printf("ID\tBATCH\tKEY\tQUEUE\tSTATE\tATTEMPT\n");
    if (asprintf(&sql, "SELECT concat_ws(E'\\t', j.id, coalesce(b.name, '-'), j.key, j.queue, j.state, "
                       "j.attempt) %s", where) < 0)
      abort();
  }
  int rc = stream(a, c, sql, 3, p, print_line, stdout);
  free(sql);
  return rc;
}

/* The job ids among the operands after the subcommand; -1 after a usage
 * error. *ids: "{1,2,3}" (malloc'd). */
static int id_array(const CliArgs *a, char **ids)
{
  Buf b = {0};
  buf_putc(&b, '{');
  for (int i = 1; i < a->noperands; i++) {
    const char *s = a->operands[i];
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18) {
      buf_free(&b);
      return cli_usage_error(a, "\"%s\" is not a job id", s), -1;
    }
    buf_printf(&b, "%s%s", i > 1 ? "," : "", s);
  }
  buf_putc(&b, '}');
  *ids = buf_take(&b);
  return a->noperands - 1;
}

static int jobs_show(const CliArgs *a, PGconn *c)
{
  if (a->noperands != 2) return cli_usage_error(a, "show takes one job id");
  char *ids;
  if (id_array(a, &ids) < 0) return 2;
  const char *p[1] = {a->operands[1]};
  free(ids);
  PGresult *r = query(a, c,
                      "SELECT json_build_object('id', j.id, 'batch', b.name, 'key', j.key, 'queue', "
                      "j.queue, 'priority', j.priority, 'state', j.state, 'attempt', j.attempt, "
                      "'lost_attempts', j.lost_attempts, 'max_attempts', j.max_attempts, 'run_at', "
                      "j.run_at, 'runner', j.runner_id, 'attempted_at', j.attempted_at, "
                      "'deadline_at', j.deadline_at, 'cancel_requested_at', j.cancel_requested_at, "
                      "'unique_key', j.unique_key, 'options', j.options, 'input', j.input, "
                      "'program', encode(j.program, 'hex'), 'created_at', j.created_at, "
                      "'finalized_at', j.finalized_at, 'attempts', (SELECT coalesce(json_agg("
                      "json_build_object('attempt', t.attempt, 'status', t.status, 'reason', "
                      "t.reason, 'runner', t.runner_id, 'started_at', t.started_at, 'ended_at', "
                      "t.ended_at) ORDER BY t.attempt), '[]') FROM harn.attempt t WHERE t.job_id = "
                      "j.id))::text FROM harn.job j LEFT JOIN harn.batch b ON b.id = j.batch_id "
                      "WHERE j.id = $1::bigint",
                      1, p);
  if (!r) return 1;
  int rc = 0;
  if (PQntuples(r) == 0) {
    fprintf(stderr, "harn jobs: no job %s\n", a->operands[1]);
    rc = 1;
  } else {
    printf("%s\n", PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  return rc;
}

static bool batch_exists(const CliArgs *a, PGconn *c, const char *name)
{
  const char *p[1] = {name};
  PGresult *r = query(a, c, "SELECT 1 FROM harn.batch WHERE name = $1", 1, p);
  bool ok = r && PQntuples(r) == 1;
  if (r && !ok) fprintf(stderr, "harn jobs: no batch \"%s\"\n", name);
  PQclear(r);
  return ok;
}

int sup_jobs_wait(const CliArgs *a, PGconn *c, const char *name, double limit, const char *who)
{
  double t0 = sup_now_ms();
  const char *p[1] = {name};
  for (;;) {
    PGresult *r = query(a, c,
                        "SELECT count(*) FILTER (WHERE j.finalized_at IS NULL), "
                        "count(*) FILTER (WHERE j.state <> 'succeeded') "
                        "FROM harn.job j JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = $1",
                        1, p);
    if (!r) return 1;
    long open = atol(PQgetvalue(r, 0, 0)), bad = atol(PQgetvalue(r, 0, 1));
    PQclear(r);
    if (open == 0) return bad ? 1 : 0;
    if (limit >= 0 && sup_now_ms() - t0 >= limit) {
      fprintf(stderr, "%s: %ld job%s of %s not finished after --timeout\n", who, open,
              open == 1 ? "" : "s", name);
      return 124;
    }
    usleep(100000);
  }
}

static int jobs_wait(const CliArgs *a, PGconn *c)
{
  const char *name = a->opt[CLI_OPT_BATCH_NAME].text;
  if (!name) return cli_usage_error(a, "wait needs --batch NAME");
  if (!batch_exists(a, c, name)) return 1;
  return sup_jobs_wait(a, c, name, a->opt[CLI_OPT_TIMEOUT].given ? a->opt[CLI_OPT_TIMEOUT].ms : -1,
                       "harn jobs");
}

typedef struct Results {
  FILE *out, *joblog;
  SupRecFmt fmt; /* --results-format, --fields: as harn batch writes them */
  bool failed;
} Results;

static void results_row(PGresult *r, void *ud)
{
  Results *res = ud;
  Buf line = {0};
  if (sup_recfmt_line(&res->fmt, PQgetvalue(r, 0, 0), &line) < 0 ||
      fwrite(line.data, 1, line.len, res->out) != line.len)
    res->failed = true;
  buf_free(&line);
  if (res->joblog) {
    /* Seq Host Starttime JobRuntime Send Receive Exitval Signal Command, as harn batch */
    fprintf(res->joblog, "%s\t%s\t%.3f\t%8.3f\t0\t%s\t%s\t%s\t%s\n", PQgetvalue(r, 0, 1),
            PQgetisnull(r, 0, 2) ? ":" : PQgetvalue(r, 0, 2), atof(PQgetvalue(r, 0, 3)),
            atof(PQgetvalue(r, 0, 4)) / 1000.0, PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 6),
            PQgetvalue(r, 0, 7), PQgetvalue(r, 0, 8));
  }
}

static int jobs_results(const CliArgs *a, PGconn *c)
{
  const char *name = a->opt[CLI_OPT_BATCH_NAME].text;
  if (!name) return cli_usage_error(a, "results needs --batch NAME");
  if (!batch_exists(a, c, name)) return 1;
  return sup_jobs_results(a, c, name);
}

int sup_jobs_results(const CliArgs *a, PGconn *c, const char *name)
{
  Results res = {.out = stdout};
  const char *path = a->opt[CLI_OPT_RESULTS].text, *jl = a->opt[CLI_OPT_JOBLOG].text;
  char why[200];
  if (sup_recfmt_init(&res.fmt, a->opt[CLI_OPT_RESULTS_FORMAT].text, a->opt[CLI_OPT_FIELDS].text,
                      path, why, sizeof why) < 0)
    return cli_usage_error(a, "%s", why);
  if (path && !(res.out = fopen(path, "we"))) {
    fprintf(stderr, "harn %s: cannot open %s: %m\n", a->cmd->name, path);
    sup_recfmt_free(&res.fmt);
    return 1;
  }
  Buf head = {0};
  sup_recfmt_header(&res.fmt, &head);
  fwrite(head.data ? head.data : "", 1, head.len, res.out);
  buf_free(&head);
  if (jl) {
    if (!(res.joblog = fopen(jl, "we"))) {
      fprintf(stderr, "harn %s: cannot open %s: %m\n", a->cmd->name, jl);
      if (path) fclose(res.out);
      sup_recfmt_free(&res.fmt);
      return 1;
    }
    fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", res.joblog);
  }
  const char *p[1] = {name};
  int rc = stream(a, c,
                  "SELECT t.record::text, dense_rank() OVER (ORDER BY j.id), NULL::text, "
                  "coalesce(extract(epoch FROM t.started_at), 0), "
                  "coalesce((t.record->>'duration_ms')::float8, 0), "
                  "coalesce(t.record->'counters'->>'output_bytes', '0'), "
                  "coalesce(t.record->>'exit_code', '1'), 0, "
                  "coalesce(t.record->>'file', t.record->>'id') "
                  "FROM harn.attempt t JOIN harn.job j ON j.id = t.job_id "
                  "JOIN harn.batch b ON b.id = j.batch_id WHERE b.name = $1 ORDER BY j.id, t.attempt",
                  1, p, results_row, &res);
  if ((path && fclose(res.out) != 0) || (!path && fflush(stdout) != 0) || res.failed) {
    fprintf(stderr, "harn %s: cannot write the records\n", a->cmd->name);
    rc = 1;
  }
  if (res.joblog && fclose(res.joblog) != 0) rc = 1;
  sup_recfmt_free(&res.fmt);
  return rc;
}

static int jobs_cancel(const CliArgs *a, PGconn *c)
{
  const char *name = a->opt[CLI_OPT_BATCH_NAME].text;
  char *ids = NULL;
  if (a->noperands < 2 && !name) return cli_usage_error(a, "cancel needs job ids or --batch NAME");
  if (id_array(a, &ids) < 0) return 2;
  const char *p[2] = {ids, name};
  PGresult *r = query(a, c,
                      "WITH c AS (UPDATE harn.job SET cancel_requested_at = now(), "
                      "state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END, "
                      "finalized_at = CASE WHEN state = 'running' THEN NULL ELSE now() END "
                      "WHERE (id = ANY($1::bigint[]) OR batch_id = (SELECT id FROM harn.batch "
                      "WHERE name = $2)) AND state IN ('scheduled','available','running') "
                      "RETURNING id, state, runner_id) "
                      "SELECT id, state, pg_notify('harn_control', json_build_object('cancel', id, "
                      "'runner', runner_id)::text) FROM c",
                      2, p);
  free(ids);
  if (!r) return 1;
  long running = 0;
  for (int i = 0; i < PQntuples(r); i++) running += !strcmp(PQgetvalue(r, i, 1), "running");
  printf("cancelled %d job%s (%ld running: their runners stop them)\n", PQntuples(r),
         PQntuples(r) == 1 ? "" : "s", running);
  PQclear(r);
  return 0;
}

static int jobs_retry(const CliArgs *a, PGconn *c)
{
  const char *name = a->opt[CLI_OPT_BATCH_NAME].text;
  char *ids = NULL;
  if (a->noperands < 2 && !name) return cli_usage_error(a, "retry needs job ids or --batch NAME");
  if (id_array(a, &ids) < 0) return 2;
  const char *p[2] = {ids, name};
  /* one more attempt: max_attempts counts those that were not lost */
  PGresult *r = query(a, c,
                      "WITH u AS (UPDATE harn.job SET state = 'available', run_at = now(), "
                      "finalized_at = NULL, cancel_requested_at = NULL, "
                      "max_attempts = attempt - lost_attempts + 1 "
                      "WHERE (id = ANY($1::bigint[]) OR ($2::text IS NOT NULL AND batch_id = (SELECT "
                      "id FROM harn.batch WHERE name = $2) AND state <> 'succeeded')) "
                      "AND state IN ('succeeded','failed','cancelled') RETURNING queue) "
                      "SELECT count(*), (SELECT count(pg_notify('harn_jobs', q)) FROM "
                      "(SELECT DISTINCT queue AS q FROM u) d) FROM u",
                      2, p);
  free(ids);
  if (!r) return 1;
  printf("requeued %s job%s\n", PQgetvalue(r, 0, 0), strcmp(PQgetvalue(r, 0, 0), "1") ? "s" : "");
  PQclear(r);
  return 0;
}

static int jobs_stats(const CliArgs *a, PGconn *c)
{
  PGresult *r = query(a, c,
                      "SELECT queue, state, count(*) FROM harn.job GROUP BY queue, state "
                      "ORDER BY queue, state",
                      0, NULL);
  if (!r) return 1;
  printf("QUEUE\tSTATE\tJOBS\n");
  for (int i = 0; i < PQntuples(r); i++)
    printf("%s\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
  PQclear(r);
  return 0;
}

/* RUNNER.md's invariants on a live database. */
static int jobs_doctor(const CliArgs *a, PGconn *c)
{
  static const struct {
    const char *name, *sql;
  } checks[] = {
      {"one record per (job, attempt), attempts 1..n",
       "SELECT id FROM harn.job j WHERE (SELECT count(*) FROM harn.attempt a WHERE a.job_id = j.id) "
       "<> j.attempt - (j.state = 'running')::int ORDER BY id LIMIT 20"},
      {"attempts of a job never overlap",
       "SELECT a.job_id FROM harn.attempt a JOIN harn.attempt b ON a.job_id = b.job_id "
       "AND b.attempt = a.attempt + 1 WHERE b.started_at < a.ended_at ORDER BY 1 LIMIT 20"},
      {"running jobs belong to a live runner",
       "SELECT j.id FROM harn.job j LEFT JOIN harn.runner r ON r.id = j.runner_id "
       "WHERE j.state = 'running' AND (r.id IS NULL OR r.heartbeat_at < now() - 2 * r.lease_ttl) "
       "ORDER BY 1 LIMIT 20"},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
    PGresult *r = query(a, c, checks[i].sql, 0, NULL);
    if (!r) return 1;
    if (PQntuples(r) == 0) {
      printf("ok   %s\n", checks[i].name);
    } else {
      bad++;
      printf("FAIL %s: jobs", checks[i].name);
      for (int k = 0; k < PQntuples(r); k++) printf(" %s", PQgetvalue(r, k, 0));
      printf("\n");
    }
    PQclear(r);
  }
  return bad ? 1 : 0;
}

int cli_jobs(const CliArgs *a)
{
  static const char *const subs[] = {"list", "show", "wait", "results", "cancel",
                                     "retry", "stats", "doctor"};
  static int (*const fns[])(const CliArgs *, PGconn *) = {
      jobs_list, jobs_show, jobs_wait, jobs_results, jobs_cancel, jobs_retry, jobs_stats, jobs_doctor};
  const char *sub = a->operands[0];
  size_t k = 0;
  while (k < sizeof subs / sizeof subs[0] && strcmp(subs[k], sub)) k++;
  if (k == sizeof subs / sizeof subs[0])
    return cli_usage_error(a, "\"%s\" is not list, show, wait, results, cancel, retry, stats or doctor",
                           sub);
  if (a->noperands > 1 && strcmp(sub, "show") && strcmp(sub, "cancel") && strcmp(sub, "retry"))
    return cli_usage_error(a, "%s takes no job id", sub);
  PGconn *c = sup_db_open(a, true);
  if (!c) return 1;
  int rc = fns[k](a, c);
  PQfinish(c);
  return rc;
}

/* ------------------------------------------------------------------ harn queues */

/* harn queues list | pause QUEUE | resume QUEUE. A paused queue keeps its
 * jobs and lets running ones finish; runners claim none of it until it is
 * resumed (the claim's NOT EXISTS on harn.queue.paused_at, runner.c). */
int cli_queues(const CliArgs *a)
{
  const char *sub = a->operands[0], *q = a->noperands > 1 ? a->operands[1] : NULL;
  bool list = !strcmp(sub, "list"), pause = !strcmp(sub, "pause"), resume = !strcmp(sub, "resume");
  if (!list && !pause && !resume)
    return cli_usage_error(a, "\"%s\" is not list, pause or resume", sub);
  if (list && q) return cli_usage_error(a, "list takes no queue");
  if (!list && !q) return cli_usage_error(a, "%s needs a QUEUE", sub);
  PGconn *c = sup_db_open(a, true);
  if (!c) return 1;
  int rc = 0;
  if (list) {
    rc = stream(a, c,
                "SELECT format('%s\t%s\t%s available\t%s running', n.name, "
                "CASE WHEN q.paused_at IS NULL THEN 'active' ELSE 'paused' END, "
                "(SELECT count(*) FROM harn.job j WHERE j.queue = n.name AND j.state = 'available'), "
                "(SELECT count(*) FROM harn.job j WHERE j.queue = n.name AND j.state = 'running')) "
                "FROM (SELECT name FROM harn.queue UNION SELECT DISTINCT queue FROM harn.job) n "
                "LEFT JOIN harn.queue q ON q.name = n.name ORDER BY n.name",
                0, NULL, print_line, stdout);
  } else {
    const char *p[1] = {q};
    PGresult *r = query(a, c,
                        pause ? "INSERT INTO harn.queue (name, paused_at) VALUES ($1, now()) "
                                "ON CONFLICT (name) DO UPDATE SET paused_at = coalesce(harn.queue.paused_at, now())"
                              : "UPDATE harn.queue SET paused_at = NULL WHERE name = $1",
                        1, p);
    if (!r) rc = 1;
    else fprintf(stderr, "harn queues: %s %s\n", q, pause ? "paused" : "resumed");
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

#endif
