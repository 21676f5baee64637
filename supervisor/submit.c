/*
 * submit.c: `harn submit SOURCE...`: queue the jobs of the sources in
 * PostgreSQL for `harn runner`s (docs/runner.md).
 *
 * The sources are read by the feeder (feeder.c, sup_sources_*), so the SOURCE
 * grammar and the job ids are exactly `harn batch`'s; a job's key is its
 * id. Jobs go in by chunks of CHUNK, each one transaction: the chunk's new
 * programs (INSERT ... ON CONFLICT DO NOTHING, keyed by the SHA-256 of the
 * source), the jobs into a temporary table by COPY, then one INSERT ...
 * SELECT ... ON CONFLICT DO NOTHING into harn.job (the unique index on
 * (batch_id, key) makes a second submit of a batch a no-op, the one on
 * active unique keys refuses a duplicate), and one NOTIFY. Memory is one
 * chunk, whatever the manifest's length; a program already sent in this
 * run is not sent again (a set of hashes).
 *
 * A job that cannot be queued (its file cannot be read, its source or id
 * is not UTF-8 or holds a NUL: PostgreSQL's text cannot hold them) is said
 * on stderr and skipped, like a bad manifest line; the command then exits
 * 1 after queuing the others.
 */
#define _GNU_SOURCE
#include "supervisor/cli.h"

#ifdef HARN_WITH_DB

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "supervisor/db_internal.h"
#include "supervisor/sup_internal.h"

#define CHUNK 5000

/* The hashes of the programs sent in this run (open addressing). */
typedef struct Hashes {
  uint8_t (*slots)[32];
  bool *used;
  size_t cap, len;
} Hashes;

static bool hashes_add(Hashes *h, const uint8_t sha[32])
{
  if ((h->len + 1) * 2 > h->cap) {
    size_t ncap = h->cap ? h->cap * 2 : 256;
    uint8_t(*ns)[32] = calloc(ncap, 32);
    bool *nu = calloc(ncap, 1);
    if (!ns || !nu) abort();
    for (size_t i = 0; i < h->cap; i++) {
      if (!h->used[i]) continue;
      size_t k;
      memcpy(&k, h->slots[i], sizeof k);
      k &= ncap - 1;
      while (nu[k]) k = (k + 1) & (ncap - 1);
      memcpy(ns[k], h->slots[i], 32);
      nu[k] = true;
    }
    free(h->slots);
    free(h->used);
    h->slots = ns;
    h->used = nu;
    h->cap = ncap;
  }
  size_t k;
  memcpy(&k, sha, sizeof k);
  k &= h->cap - 1;
  for (; h->used[k]; k = (k + 1) & (h->cap - 1))
    if (!memcmp(h->slots[k], sha, 32)) return false;
  memcpy(h->slots[k], sha, 32);
  h->used[k] = true;
  h->len++;
  return true;
}

typedef struct Submit {
  const CliArgs *a;
  PGconn *c;
  char batch_id[32];
  Buf copy;          /* the chunk's rows, COPY text format */
  long rows;         /* ... how many */
  Buf prog_sql;      /* unused */
  char **prog_params; /* the chunk's new programs: sha hex, name, source (3 each) */
  size_t nprog, capprog;
  Hashes sent;
  long queued, skipped, bad;
  const char *retry_on; /* JSON array text, or NULL */
} Submit;

static int fail_pg(Submit *s, PGresult *r, const char *what)
{
  const char *m = r ? PQresultErrorMessage(r) : "";
  fprintf(stderr, "harn submit: %s: %s", what, *m ? m : PQerrorMessage(s->c));
  PQclear(r);
  return -1;
}

/* Send the chunk: programs, COPY, INSERT ... SELECT, NOTIFY, in one
 * transaction. 0 or -1 (said). */
static int flush_chunk(Submit *s)
{
  if (!s->rows) return 0;
  const CliArgs *a = s->a;
  PGresult *r = PQexec(s->c, "BEGIN");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) return fail_pg(s, r, "BEGIN");
  PQclear(r);
  for (size_t i = 0; i < s->nprog; i++) {
    const char *const *p = (const char *const *)&s->prog_params[3 * i];
    r = PQexecParams(s->c,
                     "INSERT INTO harn.program (sha256, name, source) VALUES (decode($1, 'hex'), $2, $3) "
                     "ON CONFLICT DO NOTHING",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return fail_pg(s, r, "storing a program");
    PQclear(r);
  }
  r = PQexec(s->c, "COPY pg_temp.stage (key, program, input, options, max_attempts) FROM STDIN");
  if (PQresultStatus(r) != PGRES_COPY_IN) return fail_pg(s, r, "COPY");
  PQclear(r);
  if (PQputCopyData(s->c, s->copy.data, (int)s->copy.len) != 1 || PQputCopyEnd(s->c, NULL) != 1)
    return fail_pg(s, NULL, "COPY");
  r = PQgetResult(s->c);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) return fail_pg(s, r, "COPY");
  PQclear(r);
  while ((r = PQgetResult(s->c))) PQclear(r);
  char in_ms[64];
  snprintf(in_ms, sizeof in_ms, "%.0f", a->opt[CLI_OPT_IN].given ? a->opt[CLI_OPT_IN].ms : 0.0);
  char prio[16];
  snprintf(prio, sizeof prio, "%ld", a->opt[CLI_OPT_PRIORITY].n);
  const char *queue = a->opt[CLI_OPT_QUEUE].text ? a->opt[CLI_OPT_QUEUE].text : "default";
  const char *p[6] = {s->batch_id, queue, prio, a->opt[CLI_OPT_AT].text, in_ms,
                      a->opt[CLI_OPT_UNIQUE].text};
  r = PQexecParams(s->c,
                   "WITH t AS (SELECT coalesce($4::timestamptz, now() + make_interval(secs => "
                   "$5::float8 / 1000)) AS run_at) "
                   "INSERT INTO harn.job (batch_id, key, queue, priority, state, run_at, program, "
                   "input, options, max_attempts, unique_key) "
                   "SELECT $1::bigint, st.key, $2, $3::smallint, CASE WHEN t.run_at > now() THEN "
                   "'scheduled'::harn.job_state ELSE 'available' END, t.run_at, st.program, st.input, "
                   "st.options, st.max_attempts, $6 FROM pg_temp.stage st, t ORDER BY st.seq "
                   "ON CONFLICT DO NOTHING",
                   6, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) return fail_pg(s, r, "queuing the jobs");
  long n = atol(PQcmdTuples(r));
  PQclear(r);
  s->queued += n;
  s->skipped += s->rows - n;
  if (n > 0) {
    const char *q[1] = {queue};
    r = PQexecParams(s->c, "SELECT pg_notify('harn_jobs', $1)", 1, NULL, q, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return fail_pg(s, r, "NOTIFY");
    PQclear(r);
  }
  r = PQexec(s->c, "COMMIT");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) return fail_pg(s, r, "COMMIT");
  PQclear(r);
  for (size_t i = 0; i < 3 * s->nprog; i++) free(s->prog_params[i]);
  s->nprog = 0;
  buf_clear(&s->copy);
  s->rows = 0;
  return 0;
}

static bool text_ok(const char *s, size_t n) { return !memchr(s, 0, n) && utf8_valid(s, n); }

/* One job into the chunk; -1 when the chunk could not be sent. */
static int add_job(Submit *s, SupSpec *spec)
{
  char *src = NULL;
  size_t len = 0;
  if (spec->is_source) {
    src = spec->program;
    len = strlen(src);
  } else if (!(src = cli_read_file(spec->program, &len))) {
    fprintf(stderr, "harn submit: %s: cannot read %s: %s\n", spec->id, spec->program, strerror(errno));
    s->bad++;
    return 0;
  }
  const char *why = NULL;
  if (!text_ok(src, len)) why = "the program is not UTF-8 text";
  else if (!utf8_valid(spec->id, strlen(spec->id))) why = "the job id is not UTF-8";
  else if (spec->file && !utf8_valid(spec->file, strlen(spec->file))) why = "the file name is not UTF-8";
  if (why) {
    fprintf(stderr, "harn submit: %s: %s; not queued\n", spec->id, why);
    if (!spec->is_source) free(src);
    s->bad++;
    return 0;
  }
  uint8_t sha[32];
  char hex[65];
  hs_sha256(src, len, sha);
  hs_hex(sha, 32, hex);
  if (hashes_add(&s->sent, sha)) {
    if (s->nprog == s->capprog) {
      s->capprog = s->capprog ? s->capprog * 2 : 16;
      s->prog_params = realloc(s->prog_params, 3 * s->capprog * sizeof *s->prog_params);
      if (!s->prog_params) abort();
    }
    s->prog_params[3 * s->nprog] = strdup(hex);
    s->prog_params[3 * s->nprog + 1] = strdup(spec->file ? spec->file : spec->id);
    s->prog_params[3 * s->nprog + 2] = spec->is_source ? strdup(src) : src;
    src = NULL;
    s->nprog++;
  }
  if (!spec->is_source) free(src);
  /* key, program, input, options, max_attempts */
  Buf *b = &s->copy;
  hs_copy_field(b, spec->id, strlen(spec->id));
  buf_puts(b, "\t\\\\x");
  buf_puts(b, hex);
  buf_putc(b, '\t');
  if (spec->input_json) hs_copy_field(b, spec->input_json, strlen(spec->input_json));
  else hs_copy_null(b);
  buf_putc(b, '\t');
  Buf o = {0};
  buf_puts(&o, "{\"file\":");
  sup_json_cstr(&o, spec->file ? spec->file : spec->id);
  if (spec->timeout_ms > 0) {
    buf_puts(&o, ",\"timeout_ms\":");
    sup_json_num(&o, spec->timeout_ms);
  }
  if (spec->memory) {
    buf_puts(&o, ",\"memory\":");
    sup_json_uint(&o, spec->memory);
  }
  if (spec->cpu_ms > 0) {
    buf_puts(&o, ",\"cpu_ms\":");
    sup_json_num(&o, spec->cpu_ms);
  }
  if (s->retry_on) {
    buf_puts(&o, ",\"retry_on\":");
    buf_puts(&o, s->retry_on);
  }
  buf_putc(&o, '}');
  hs_copy_field(b, o.data, o.len);
  buf_free(&o);
  buf_printf(b, "\t%d\n", spec->retries + 1);
  s->rows++;
  return s->rows >= CHUNK ? flush_chunk(s) : 0;
}

/* --retry-on crashed,killed -> ["crashed","killed"] (the statuses harn
 * batch retries: sup_parse_retry_on); NULL (said) when it is no such list. */
static char *retry_on_json(const CliArgs *a)
{
  unsigned mask;
  if (sup_parse_retry_on(a->opt[CLI_OPT_RETRY_ON].text, &mask) < 0) {
    cli_bad_value(a, CLI_OPT_RETRY_ON, "is not a list of error, timeout, killed, crashed");
    return NULL;
  }
  Buf b = {0};
  buf_putc(&b, '[');
  for (int k = 0, n = 0; k < SUP_STATUS__COUNT; k++)
    if (mask & (1u << k)) buf_printf(&b, "%s\"%s\"", n++ ? "," : "", sup_status_name((SupStatus)k));
  buf_putc(&b, ']');
  return buf_take(&b);
}

/* A fresh batch name: HOST-YYYYMMDDTHHMMSSZ-RANDOM. */
static void fresh_name(char *out, size_t n)
{
  char host[64] = "host";
  gethostname(host, sizeof host);
  host[sizeof host - 1] = 0;
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
  char uuid[37];
  if (hs_uuid(uuid) < 0) snprintf(uuid, sizeof uuid, "%08lx", (unsigned long)getpid());
  snprintf(out, n, "%s-%s-%.6s", host, when, uuid);
}

int cli_submit(const CliArgs *a)
{
  if (a->opt[CLI_OPT_AT].given && a->opt[CLI_OPT_IN].given)
    return cli_usage_error(a, "--at and --in exclude each other");
  const char *queue = a->opt[CLI_OPT_QUEUE].text;
  if (queue && (!*queue || strlen(queue) > 128 || !utf8_valid(queue, strlen(queue))))
    return cli_bad_value(a, CLI_OPT_QUEUE, "is not a queue name (1 to 128 bytes of UTF-8)");
  char *retry_on = NULL;
  if (a->opt[CLI_OPT_RETRY_ON].given && !(retry_on = retry_on_json(a))) return 2;
  for (int i = 0, stdins = 0; i < a->noperands; i++)
    if (!strcmp(a->operands[i], "-") && stdins++) {
      free(retry_on);
      return cli_usage_error(a, "`-` (stdin) given twice");
    }
  PGconn *c = sup_db_open(a, true);
  if (!c) {
    free(retry_on);
    return 1;
  }
  Submit s = {.a = a, .c = c, .retry_on = retry_on};
  int rc = 1;
  char name[256];
  const char *bname = a->opt[CLI_OPT_BATCH_NAME].text;
  if (!bname) {
    fresh_name(name, sizeof name);
    bname = name;
  }
  const char *p[1] = {bname};
  PGresult *r = PQexecParams(c,
                             "WITH i AS (INSERT INTO harn.batch (name) VALUES ($1) ON CONFLICT (name) "
                             "DO NOTHING RETURNING id) SELECT id FROM i UNION ALL "
                             "SELECT id FROM harn.batch WHERE name = $1",
                             1, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
    fail_pg(&s, r, "the batch");
    goto out;
  }
  snprintf(s.batch_id, sizeof s.batch_id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  r = PQexec(c, "CREATE TEMP TABLE IF NOT EXISTS stage (seq bigint GENERATED ALWAYS AS IDENTITY, "
                "key text, program bytea, input json, options jsonb, max_attempts integer) "
                "ON COMMIT DELETE ROWS");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    fail_pg(&s, r, "the staging table");
    goto out;
  }
  PQclear(r);
  SupSources *src = sup_sources_open(a->operands, a->noperands, "harn submit", true);
  double def_timeout = a->opt[CLI_OPT_TIMEOUT].given ? a->opt[CLI_OPT_TIMEOUT].ms : 0;
  int def_retries = (int)a->opt[CLI_OPT_RETRIES].n;
  SupSpec spec;
  int got, failed = 0;
  while (!failed && (got = sup_sources_next(src, &spec, def_timeout, def_retries)) == 1) {
    failed = add_job(&s, &spec) < 0;
    sup_spec_free(&spec);
  }
  if (!failed) failed = flush_chunk(&s) < 0;
  s.bad += sup_sources_bad(src);
  sup_sources_close(src);
  if (failed) goto out;
  printf("%s\n", bname);
  fprintf(stderr, "harn submit: batch %s: %ld job%s queued", bname, s.queued, s.queued == 1 ? "" : "s");
  if (s.skipped) fprintf(stderr, ", %ld already there (or refused by --unique)", s.skipped);
  if (s.bad) fprintf(stderr, ", %ld bad source%s or line%s", s.bad, s.bad == 1 ? "" : "s", s.bad == 1 ? "" : "s");
  fprintf(stderr, "\n");
  rc = s.bad ? 1 : 0;
  if (a->opt[CLI_OPT_WAIT].given) { /* RUNNER.md §7: submit, wait, results */
    int w = sup_jobs_wait(a, c, bname, -1, "harn submit");
    if (a->opt[CLI_OPT_RESULTS].given || a->opt[CLI_OPT_JOBLOG].given) {
      int wr = sup_jobs_results(a, c, bname);
      if (wr > w) w = wr;
    }
    if (w > rc) rc = w;
  }
out:
  for (size_t i = 0; i < 3 * s.nprog; i++) free(s.prog_params[i]);
  free(s.prog_params);
  free(s.sent.slots);
  free(s.sent.used);
  buf_free(&s.copy);
  free(retry_on);
  PQfinish(c);
  return rc;
}

#endif
