/*
 * verify.c: `harn verify SOURCE... --results FILE [--results FILE]...`:
 * is every job of the sources recorded exactly once per attempt, across
 * all the results files (the shards of a batch, the runs of a resumed
 * one, `harn jobs results`)? design/RUNNER.md section 8, docs/cli.md.
 *
 * The sources are enumerated by the feeder exactly as harn batch does
 * (same ids, ID#2 for repeats; nothing runs), then each results file is
 * read line by line (at most SUP_MAX_RECORD_LINE a line). A job is
 * complete when its records' attempts are exactly 1..n, n >= 1, each once.
 * Findings, on stdout, one a line (--json: one object a line):
 *   partial: FILE:LINE      a last line cut short (no newline, not JSON)
 *   bad record: FILE:LINE   a line that is not a record (id and attempt)
 *   stray: ID (FILE:LINE)   a record of a job the sources do not have
 *   missing: ID             a job without any record
 *   duplicate: ID attempt K (FILE:LINE, FILE:LINE)
 *   gap: ID attempts 1,3    attempts not 1..n
 *   failed: ID attempt K (STATUS)   with --require-ok: a last attempt not ok
 * File findings come in file order, job findings in source order. A bad
 * source line is said on stderr (it is no job, and harn batch failed on
 * it); a source that cannot be read fails the check. An id
 * that is not printable UTF-8 is written as a JSON string, quotes and all.
 * Memory: one entry per job and per record (not the records' text).
 */
#define _GNU_SOURCE
#include "base/utf8.h"
#include "supervisor/cli.h"
#include "supervisor/supervisor.h"
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct VRec {
  int attempt;
  int file;   /* index in the --results list */
  long line;
  bool ok;    /* status "ok" */
  char status[12];
} VRec;

typedef struct VJob {
  const char *id; /* owned by Verify.index */
  VRec *recs;
  int nrecs, cap;
} VJob;

typedef struct Verify {
  VJob *jobs;
  size_t njobs, cap;
  SupSeenSet index;   /* id -> jobs[index] */
  char **files;
  bool json, require_ok;
  long findings, records;
  int unreadable_sources;
} Verify;

/* ------------------------------------------------------------------ output */

/* An id or path as text: as is when it is printable UTF-8, else quoted. */
static void put_name(Buf *b, const char *s, bool json)
{
  bool plain = !json && utf8_valid(s, strlen(s));
  for (const char *p = s; plain && *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) plain = false;
  if (plain) buf_puts(b, s);
  else sup_json_name(b, s);
}

static void put_at(Buf *b, Verify *v, int file, long line, bool json)
{
  Buf at = {0};
  buf_puts(&at, v->files[file]);
  buf_printf(&at, ":%ld", line);
  put_name(b, at.data, json);
  buf_free(&at);
}

/* One finding: [kind], then the fields after it. */
static void finding(Verify *v, Buf *b)
{
  v->findings++;
  buf_putc(b, '\n');
  fwrite(b->data, 1, b->len, stdout);
  buf_free(b);
}

static void file_finding(Verify *v, const char *kind, int file, long line)
{
  Buf b = {0};
  if (v->json) {
    buf_printf(&b, "{\"finding\":\"%s\",\"at\":", kind);
    put_at(&b, v, file, line, true);
    buf_putc(&b, '}');
  } else {
    buf_printf(&b, "%s: ", kind);
    put_at(&b, v, file, line, false);
  }
  finding(v, &b);
}

/* ------------------------------------------------------------------ jobs */

/* Read every job of the sources, in order, with batch's ids. */
static void read_jobs(Verify *v, const CliArgs *a)
{
  SupSources *src = sup_sources_open(a->operands, a->noperands, "harn verify", false);
  SupSpec s;
  while (sup_sources_next(src, &s, 0, 0) == 1) {
    SupSeen *e = sup_seen_find(&v->index, s.id, true);
    e->index = (long)v->njobs;
    if (v->njobs == v->cap) {
      v->cap = v->cap ? v->cap * 2 : 256;
      v->jobs = realloc(v->jobs, v->cap * sizeof *v->jobs);
      if (!v->jobs) abort();
    }
    v->jobs[v->njobs++] = (VJob){.id = e->id};
    sup_spec_free(&s);
  }
  v->unreadable_sources = sup_sources_unreadable(src);
  sup_sources_close(src);
}

/* ------------------------------------------------------------------ records */

static void add_record(Verify *v, const SupJson *j, int file, long line)
{
  const SupJson *id = sup_json_get(j, "id"), *att = sup_json_get(j, "attempt"),
                *st = sup_json_get(j, "status");
  if (!id || id->type != SUP_JSON_STRING || !att || att->type != SUP_JSON_INT || att->i < 1 ||
      att->i > 1000000 || memchr(id->str, '\0', id->slen)) {
    file_finding(v, "bad record", file, line);
    return;
  }
  v->records++;
  SupSeen *e = sup_seen_find(&v->index, id->str, false);
  if (!e) {
    Buf b = {0};
    if (v->json) {
      buf_puts(&b, "{\"finding\":\"stray\",\"id\":");
      put_name(&b, id->str, true);
      buf_puts(&b, ",\"at\":");
      put_at(&b, v, file, line, true);
      buf_putc(&b, '}');
    } else {
      buf_puts(&b, "stray: ");
      put_name(&b, id->str, false);
      buf_puts(&b, " (");
      put_at(&b, v, file, line, false);
      buf_putc(&b, ')');
    }
    finding(v, &b);
    return;
  }
  VJob *job = &v->jobs[e->index];
  if (job->nrecs == job->cap) {
    job->cap = job->cap ? job->cap * 2 : 2;
    job->recs = realloc(job->recs, (size_t)job->cap * sizeof *job->recs);
    if (!job->recs) abort();
  }
  VRec *r = &job->recs[job->nrecs++];
  *r = (VRec){.attempt = (int)att->i, .file = file, .line = line};
  if (st && st->type == SUP_JSON_STRING) {
    r->ok = !strcmp(st->str, "ok");
    snprintf(r->status, sizeof r->status, "%s", st->str);
  } else {
    snprintf(r->status, sizeof r->status, "?");
  }
}

/* Whether the file ends without a newline (its last line was cut). */
static bool cut_short(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  char c = '\n';
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      pread(fd, &c, 1, st.st_size - 1) != 1)
    c = '\n';
  close(fd);
  return c != '\n';
}

/* Read results file [k]; -1 when it cannot be read (said on stderr). */
static int read_results(Verify *v, int k)
{
  const char *path = v->files[k];
  SupLineIn li;
  bool blocking;
  int err = sup_linein_open(&li, strcmp(path, "-") ? path : "./-", &blocking);
  if (err < 0) {
    fprintf(stderr, "harn verify: cannot open %s: %s\n", path, strerror(-err));
    return -1;
  }
  li.max = SUP_MAX_RECORD_LINE;
  char *line;
  size_t len;
  int got;
  long pending = 0; /* a bad line not yet said: it may be the cut last one */
  while ((got = sup_linein_next(&li, &line, &len)) > 0) {
    if (pending) file_finding(v, "bad record", k, pending);
    pending = 0;
    if (got == 2) {
      file_finding(v, "bad record", k, li.lineno);
      continue;
    }
    size_t s = 0;
    while (s < len && (line[s] == ' ' || line[s] == '\t' || line[s] == '\r')) s++;
    if (s == len) continue; /* a blank line */
    SupJson *j = sup_json_parse(line, len, NULL);
    if (!j || j->type != SUP_JSON_OBJECT) pending = li.lineno;
    else add_record(v, j, k, li.lineno);
    sup_json_free(j);
  }
  if (pending) file_finding(v, cut_short(path) ? "partial" : "bad record", k, pending);
  int rc = 0;
  if (got == 0 || li.err) { /* a regular file never waits; a pipe is not read twice */
    fprintf(stderr, "harn verify: cannot read %s: %s\n", path,
            li.err ? strerror(li.err) : "not a regular file");
    rc = -1;
  }
  sup_linein_close(&li);
  return rc;
}

/* ------------------------------------------------------------------ checks */

static int by_attempt(const void *a, const void *b)
{
  const VRec *x = a, *y = b;
  if (x->attempt != y->attempt) return x->attempt < y->attempt ? -1 : 1;
  if (x->file != y->file) return x->file < y->file ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

static void job_findings(Verify *v, VJob *job)
{
  Buf b = {0};
  const bool js = v->json;
  if (!job->nrecs) {
    buf_puts(&b, js ? "{\"finding\":\"missing\",\"id\":" : "missing: ");
    put_name(&b, job->id, js);
    if (js) buf_putc(&b, '}');
    finding(v, &b);
    return;
  }
  qsort(job->recs, (size_t)job->nrecs, sizeof *job->recs, by_attempt);
  bool gap = false;
  int distinct = 0;
  for (int i = 0; i < job->nrecs; i++) {
    VRec *r = &job->recs[i];
    if (i > 0 && r->attempt == r[-1].attempt) {
      buf_puts(&b, js ? "{\"finding\":\"duplicate\",\"id\":" : "duplicate: ");
      put_name(&b, job->id, js);
      buf_printf(&b, js ? ",\"attempt\":%d,\"at\":[" : " attempt %d (", r->attempt);
      put_at(&b, v, r[-1].file, r[-1].line, js);
      buf_puts(&b, js ? "," : ", ");
      put_at(&b, v, r->file, r->line, js);
      buf_puts(&b, js ? "]}" : ")");
      finding(v, &b);
      continue;
    }
    if (r->attempt != ++distinct) gap = true;
  }
  if (gap) {
    buf_puts(&b, js ? "{\"finding\":\"gap\",\"id\":" : "gap: ");
    put_name(&b, job->id, js);
    buf_puts(&b, js ? ",\"attempts\":[" : " attempts ");
    for (int i = 0, n = 0; i < job->nrecs; i++)
      if (i == 0 || job->recs[i].attempt != job->recs[i - 1].attempt)
        buf_printf(&b, "%s%d", n++ ? "," : "", job->recs[i].attempt);
    if (js) buf_puts(&b, "]}");
    finding(v, &b);
  }
  VRec *lastr = &job->recs[job->nrecs - 1];
  if (v->require_ok && !lastr->ok) {
    buf_puts(&b, js ? "{\"finding\":\"failed\",\"id\":" : "failed: ");
    put_name(&b, job->id, js);
    if (js) {
      buf_printf(&b, ",\"attempt\":%d,\"status\":", lastr->attempt);
      sup_json_cstr(&b, lastr->status);
      buf_putc(&b, '}');
    } else {
      buf_printf(&b, " attempt %d (%s)", lastr->attempt, lastr->status);
    }
    finding(v, &b);
  }
}

/* ------------------------------------------------------------------ command */

int sup_cmd_verify(const CliArgs *a)
{
  const CliValue *res = &a->opt[CLI_OPT_RESULTS];
  if (!res->nitems) return cli_usage_error(a, "--results FILE is needed (once per results file)");
  for (int i = 0, stdins = 0; i < a->noperands; i++)
    if (!strcmp(a->operands[i], "-") && stdins++) return cli_usage_error(a, "`-` (stdin) given twice");
  Verify *v = calloc(1, sizeof *v);
  if (!v) abort();
  v->json = a->opt[CLI_OPT_JSON].given;
  v->require_ok = a->opt[CLI_OPT_REQUIRE_OK].given;
  v->files = res->items;
  read_jobs(v, a);

  int unreadable = 0;
  for (size_t k = 0; k < res->nitems; k++) unreadable += read_results(v, (int)k) < 0;
  for (size_t i = 0; i < v->njobs; i++) job_findings(v, &v->jobs[i]);

  /* A bad source line is no job (harn batch said it, and failed); a
   * source that cannot be read hides its jobs: no verdict without them. */
  long problems = v->findings + unreadable + v->unreadable_sources;
  fprintf(stderr, "harn verify: %zu jobs, %ld records in %zu file%s: ", v->njobs, v->records,
          res->nitems, res->nitems == 1 ? "" : "s");
  if (!problems) fprintf(stderr, "ok\n");
  else
    fprintf(stderr, "%ld findings%s%s\n", v->findings,
            unreadable ? ", a results file could not be read" : "",
            v->unreadable_sources ? ", a source could not be read" : "");
  int rc = cli_close_stdout("harn verify", problems ? 1 : 0, 0);

  for (size_t i = 0; i < v->njobs; i++) free(v->jobs[i].recs);
  free(v->jobs);
  sup_seen_free(&v->index);
  free(v);
  return rc;
}
