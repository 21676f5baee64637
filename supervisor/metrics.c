/*
 * metrics.c: `harn batch --metrics FILE`: the batch's counters in the
 * Prometheus text format, for the node exporter's textfile collector
 * (FILE named *.prom in its directory) or any scraper that reads a file;
 * `harn runner --metrics ADDR`: the same counters of a runner, named
 * harn_runner_* and labelled runner="ID", served over HTTP
 * (metrics_http.c) and rendered at each scrape. A runner does not know
 * when a job is over (its retries are the database's), so it has no
 * jobs_total: its attempts are counted.
 *
 * What is written (every series carries batch="NAME", FILE's base name
 * without ".prom", so that the files of concurrent batches in one
 * collector directory never give the same series twice):
 *   harn_batch_jobs_total{status}         jobs ended (their last attempt),
 *                                         by status: ok error timeout
 *                                         cancelled killed crashed
 *   harn_batch_attempts_total{status}     every attempt, by status
 *   harn_batch_retries_total              attempts that were retries
 *   harn_batch_signals_total{signal}      signals the supervisor sent to
 *                                         workers' groups (the records'
 *                                         "signals"), by name
 *   harn_batch_output_bytes_total         output received from workers
 *   harn_batch_job_duration_seconds       histogram of attempts' wall time
 *                                         (spawn to reap), fixed buckets
 *   harn_batch_running_jobs               gauge: attempts running now
 *   harn_batch_start_time_seconds         gauge: the batch's start (epoch)
 *   harn_batch_finished                   gauge: 1 once the batch ended
 * Every status and bucket is written from the start, at 0, as Prometheus
 * wants (a series that appears late breaks rate()).
 *
 * Invariants:
 * - The file is replaced whole: the text goes to FILE.tmp, which is then
 *   renamed over FILE (atomic on one file system; the collector reads only
 *   *.prom, so never the .tmp). A reader sees the previous or the next
 *   version, never a mix.
 * - Written at sup_metrics_open (all zeros: a path that cannot be written
 *   is found before any job runs), every SUP_METRICS_INTERVAL_MS while
 *   the batch runs (an unref'd timer: it never keeps the loop alive), and
 *   at sup_metrics_stop (finished 1, running 0).
 * - A later write that fails is said once on stderr and otherwise
 *   ignored: metrics never fail a job or the batch.
 * - Counts are of this process's attempts only (jobs skipped by --resume
 *   are not counted: they did not run here). Signal names come from a
 *   fixed table (sup_signame); other signals count as "other".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "supervisor/sup_internal.h"

/* How often the file is rewritten while the batch runs. */
#define SUP_METRICS_INTERVAL_MS 5000

/* The signals counted by name (what the pool sends: the deadline's and a
 * cancel's SIGTERM or SIGINT, SIGHUP forwarded, SIGCONT, SIGKILL after the
 * grace); any other is "other". */
static const int counted_sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCONT, SIGKILL};
#define NSIGS (sizeof counted_sigs / sizeof counted_sigs[0])

/* Upper bounds of the duration buckets, seconds (+Inf is implicit). */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5,   5,    10,    30,   60,  300,  900, 3600};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct SupMetrics {
  char *path, *tmp; /* FILE and FILE.tmp; NULL when served (metrics_http.c) */
  const char *prefix; /* "harn_batch", "harn_runner" */
  bool attempts_only; /* a runner: whether a job is over is the database's call */
  char *label;      /* batch="NAME", escaped */
  uv_timer_t timer;
  bool timer_open, finished, warned;
  const SupPool *pool;
  double start_epoch_s;
  uint64_t jobs[SUP_STATUS__COUNT], attempts[SUP_STATUS__COUNT];
  uint64_t retries, output_bytes;
  uint64_t sigs[NSIGS + 1]; /* + other */
  uint64_t bucket[NBUCKETS];  /* not cumulative: attempts in (bound[i-1], bound[i]] */
  uint64_t count;             /* every attempt (+Inf) */
  double sum;
};

/* [s] as a label value: \, " and newline escaped. */
static void label_value(Buf *b, const char *s)
{
  for (; *s; s++) {
    if (*s == '\\') buf_puts(b, "\\\\");
    else if (*s == '"') buf_puts(b, "\\\"");
    else if (*s == '\n') buf_puts(b, "\\n");
    else buf_putc(b, *s);
  }
}

/* One metric's header. */
static void header(Buf *b, const char *prefix, const char *name, const char *type, const char *help)
{
  buf_printf(b, "# HELP %s_%s %s\n# TYPE %s_%s %s\n", prefix, name, help, prefix, name, type);
}

/* The whole text (the file's, or a scrape's answer), into [b]. */
void sup_metrics_render(const SupMetrics *m, Buf *b)
{
  const char *L = m->label, *P = m->prefix;
  if (!m->attempts_only) {
    header(b, P, "jobs_total", "counter", "Jobs ended (their last attempt), by status.");
    for (int s = 0; s < SUP_STATUS__COUNT; s++)
      buf_printf(b, "%s_jobs_total{%s,status=\"%s\"} %llu\n", P, L,
                 sup_status_name((SupStatus)s), (unsigned long long)m->jobs[s]);
  }
  header(b, P, "attempts_total", "counter", "Job attempts ended, by status.");
  for (int s = 0; s < SUP_STATUS__COUNT; s++)
    buf_printf(b, "%s_attempts_total{%s,status=\"%s\"} %llu\n", P, L,
               sup_status_name((SupStatus)s), (unsigned long long)m->attempts[s]);
  header(b, P, "retries_total", "counter", "Attempts that were retries of a job.");
  buf_printf(b, "%s_retries_total{%s} %llu\n", P, L, (unsigned long long)m->retries);
  header(b, P, "signals_total", "counter",
         "Signals sent to workers' process groups, by signal.");
  for (size_t i = 0; i <= NSIGS; i++)
    buf_printf(b, "%s_signals_total{%s,signal=\"%s\"} %llu\n", P, L,
               i < NSIGS ? sup_signame(counted_sigs[i]) : "other", (unsigned long long)m->sigs[i]);
  header(b, P, "output_bytes_total", "counter", "Output bytes received from workers.");
  buf_printf(b, "%s_output_bytes_total{%s} %llu\n", P, L, (unsigned long long)m->output_bytes);
  header(b, P, "job_duration_seconds", "histogram",
         "Wall time of job attempts, from the spawn of the worker to its reap.");
  uint64_t cum = 0;
  for (size_t i = 0; i < NBUCKETS; i++) {
    cum += m->bucket[i];
    buf_printf(b, "%s_job_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", P, L, buckets[i],
               (unsigned long long)cum);
  }
  buf_printf(b, "%s_job_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", P, L,
             (unsigned long long)m->count);
  buf_printf(b, "%s_job_duration_seconds_sum{%s} %.6f\n", P, L, m->sum);
  buf_printf(b, "%s_job_duration_seconds_count{%s} %llu\n", P, L, (unsigned long long)m->count);
  int running = 0;
  if (m->pool && !m->finished) running = m->pool->nrunning - m->pool->nreaped;
  header(b, P, "running_jobs", "gauge", "Job attempts running now.");
  buf_printf(b, "%s_running_jobs{%s} %d\n", P, L, running < 0 ? 0 : running);
  header(b, P, "start_time_seconds", "gauge", "When the batch or runner started, seconds since the epoch.");
  buf_printf(b, "%s_start_time_seconds{%s} %.3f\n", P, L, m->start_epoch_s);
  header(b, P, "finished", "gauge", "1 once the batch or runner has ended, else 0.");
  buf_printf(b, "%s_finished{%s} %d\n", P, L, m->finished ? 1 : 0);
}

/* Write the file (FILE.tmp, then rename). 0, or an errno. */
static int write_file(SupMetrics *m)
{
  Buf b = {0};
  sup_metrics_render(m, &b);
  int err = 0;
  int fd = open(m->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) err = errno;
  for (size_t off = 0; !err && off < b.len;) {
    ssize_t w = write(fd, b.data + off, b.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) err = w < 0 ? errno : EIO;
    else off += (size_t)w;
  }
  if (fd >= 0 && close(fd) != 0 && !err) err = errno;
  if (!err && rename(m->tmp, m->path) != 0) err = errno;
  if (err && fd >= 0) unlink(m->tmp);
  buf_free(&b);
  return err;
}

/* A write during or at the end of the batch: a failure is said once. */
static void rewrite(SupMetrics *m)
{
  int err = write_file(m);
  if (err && !m->warned) {
    m->warned = true;
    fprintf(stderr, "harn batch: cannot write the metrics to %s: %s (the batch goes on)\n",
            m->path, strerror(err));
  }
}

/* A new set of counters labelled [key]="[value]" (escaped). */
static SupMetrics *metrics_new(const char *prefix, const char *key, const char *value)
{
  SupMetrics *m = calloc(1, sizeof *m);
  if (!m) abort();
  m->prefix = prefix;
  Buf l = {0};
  buf_printf(&l, "%s=\"", key);
  label_value(&l, value);
  buf_putc(&l, '"');
  m->label = l.data;
  m->start_epoch_s = sup_epoch_ms() / 1000.0;
  return m;
}

SupMetrics *sup_metrics_open(const char *path)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  if (n > 5 && !strcmp(base + n - 5, ".prom")) n -= 5;
  char *name = strndup(base, n);
  if (!name) abort();
  SupMetrics *m = metrics_new("harn_batch", "batch", name);
  free(name);
  m->path = strdup(path);
  if (!m->path || asprintf(&m->tmp, "%s.tmp", path) < 0) abort();
  int err = write_file(m);
  if (err) {
    fprintf(stderr, "harn batch: cannot write the metrics to %s: %s\n", path, strerror(err));
    sup_metrics_free(m);
    return NULL;
  }
  return m;
}

SupMetrics *sup_metrics_runner(const char *runner)
{
  SupMetrics *m = metrics_new("harn_runner", "runner", runner);
  m->attempts_only = true;
  return m;
}

static void tick(uv_timer_t *t) { rewrite(container_of(t, SupMetrics, timer)); }

void sup_metrics_start(SupMetrics *m, uv_loop_t *loop, const SupPool *pool)
{
  if (!m) return;
  m->pool = pool;
  m->start_epoch_s = sup_epoch_ms() / 1000.0;
  if (!m->path) return; /* served: rendered when asked */
  sup_uv_must(uv_timer_init(loop, &m->timer), "uv_timer_init");
  sup_uv_must(uv_timer_start(&m->timer, tick, SUP_METRICS_INTERVAL_MS, SUP_METRICS_INTERVAL_MS),
              "uv_timer_start");
  uv_unref((uv_handle_t *)&m->timer);
  m->timer_open = true;
  rewrite(m);
}

void sup_metrics_attempt(SupMetrics *m, SupJob *job, const SupOutcome *o, bool retried)
{
  if (!m) return;
  SupStatus s = o->status < SUP_STATUS__COUNT ? o->status : SUP_STATUS_CRASHED;
  m->attempts[s]++;
  if (!retried) m->jobs[s]++;
  const SupSpec *spec = sup_job_spec(job);
  if (spec->attempt > spec->first_attempt) m->retries++;
  m->output_bytes += o->output_bytes;
  int sigs[16];
  int n = sup_job_signals(job, sigs, 16);
  for (int i = 0; i < n; i++) {
    size_t k = 0;
    while (k < NSIGS && counted_sigs[k] != sigs[i]) k++;
    m->sigs[k]++;
  }
  double secs = o->duration_ms > 0 ? o->duration_ms / 1000.0 : 0;
  size_t k = 0;
  while (k < NBUCKETS && secs > buckets[k]) k++;
  if (k < NBUCKETS) m->bucket[k]++;
  m->count++;
  m->sum += secs;
}

void sup_metrics_stop(SupMetrics *m)
{
  if (!m || m->finished) return;
  m->finished = true;
  if (m->timer_open) {
    uv_close((uv_handle_t *)&m->timer, NULL);
    m->timer_open = false;
  }
  if (m->path) rewrite(m);
}

void sup_metrics_free(SupMetrics *m)
{
  if (!m) return;
  free(m->path);
  free(m->tmp);
  free(m->label);
  free(m);
}
