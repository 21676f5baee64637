/*
 * batch.c: `harn batch SOURCE...`: many jobs through one pool.
 *
 * Flow: the feeder (feeder.c) walks the sources in order and hands out one
 * job spec at a time, only when a slot is free; while a stream has no
 * whole line, a uv_poll on its fd pumps again: the loop never blocks on a
 * source. A job id given twice runs as ID#2 (sup_ids_assign). With
 * --shard I/N, every job is read and named (so that ID#2 is the same job
 * in every shard) and only this shard's run (sup_shard_mine, jobid.c).
 * pump() starts jobs while fewer than -j run. Each
 * attempt's terminal record goes to --results (or stdout) and, with
 * --joblog, one GNU-parallel-format line; both are flushed per job so that
 * a supervisor crash loses nothing finished; a record that cannot be
 * written stops the batch (records_failed).
 * Failed attempts are retried (--retries N, --retry-on: crashed and
 * killed by default; or the manifest line's "retries", "retry_on") after
 * an exponential backoff with jitter (--retry-delay, "retry_delay": 100
 * ms, 200 ms, ... capped at 5 s by default, each drawn in its upper
 * half); each attempt is its own record.
 *
 * Bad input loses nothing else: a manifest line that is no job (not JSON,
 * an empty or NUL-holding id, file or source, a line over SUP_LINE_MAX) is
 * said on stderr as SOURCE:LINE and runs nothing; a source that cannot be
 * read is said when the feeder reaches it (a .harn path is a job anyway:
 * its record says why); the other lines and sources run, and the batch
 * exits 1 (SupFeeder.bad_input).
 *
 * --resume skips every job id that already has a record in the results
 * file; --resume-failed skips only ids with an `ok` record and continues
 * the others' attempt numbering, so (id, attempt) stays unique across runs.
 * Ids are compared as bytes: records and the journal write them with
 * sup_json_name, which a parse turns back into the same bytes, whatever
 * they are (docs/cli.md "The terminal record").
 *
 * --halt soon,fail=N stops starting jobs once N jobs have failed (finally,
 * after their retries); now,fail=N also cancels the running ones. A
 * percentage is of the jobs finished so far. Ctrl-C (SIGINT), SIGTERM or SIGHUP to
 * the supervisor cancels every running job (SIGINT to their groups, then
 * SIGKILL after the grace), waits for their records, and exits 128 + the
 * signal (130, 143, 129). A plain --resume reruns the jobs whose last
 * record is cancelled: an interrupted job is not a finished one.
 *
 * The batch exits 0 when every job's last attempt ended `ok`, else 1.
 */
#define _GNU_SOURCE
#include "base/defaults.h"
#include "supervisor/cli.h"
#include "supervisor/supervisor.h"
#include "supervisor/sup_internal.h"
#include "supervisor/net_rules.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ batch */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }


/* Workers made ahead by default: two per job slot, at most this many.
 * They hide the zygote's clone and the worker's start-up behind the
 * running jobs (docs/architecture.md "Spare workers"); at -j 2, four
 * measured 2% faster than two and 5% faster than one, and steadier
 * (docs/performance.md, session 4). */
#define DEFAULT_SPARES 4

typedef struct Retry {
  struct Retry *next;
  SupSpec spec;
  uv_timer_t timer;
  struct Batch *batch;
  bool ready;
} Retry;

enum { HALT_FAIL, HALT_SUCCESS, HALT_DONE }; /* Batch.halt_cond */

typedef struct Batch {
  uv_loop_t loop;
  SupPool pool;
  SupFeeder feeder;
  int jobs;
  int spares;        /* workers made ahead (--spares; sup_pool_spares) */
  double timeout_ms;
  int retries;
  FILE *results, *joblog;
  const char *results_path, *joblog_path; /* for messages */
  bool records_failed;      /* a record could not be written: records_failed() */
  bool joblog_failed;       /* ... a joblog line: said once, exit status 1 */
  int journal;       /* fd of FILE.journal (O_APPEND), -1 when none */
  SupMetrics *metrics; /* --metrics FILE (metrics.c); NULL when none */
  bool resume, resume_failed;
  SupShard shard;    /* --shard; count 0: every job */
  uint64_t rng;      /* the retries' jitter (sup_retry_delay) */
  SupSeenSet seen;
  SupIds ids;        /* every id the sources gave in this run (sup_ids_assign) */
  /* halt */
  int halt_mode;     /* 0 never, 1 soon, 2 now */
  int halt_cond;     /* HALT_FAIL, HALT_SUCCESS, HALT_DONE: what is counted */
  double halt_n;  /* the count, or percent when halt_pct */
  bool halt_pct;
  bool halting;
  /* state */
  bool exhausted, interrupted, finished;
  SupSpec ahead;     /* the sources' next job, read one ahead (take_spec) */
  bool has_ahead, sources_done;
  bool input_wait;   /* a stream source has no whole line yet */
  int interrupt_sig;
  Retry *retries_head;
  int npending_retries;
  long done, ok, failed, attempts;
  long cancelled;    /* of the jobs done (failed, or cut short by a success halt) */
  bool all_ok;
  /* progress */
  bool bar;
  bool human;        /* stdout a terminal and no --results: say_attempt */
  long total;
  double t_start, last_bar;
  uv_timer_t bar_timer;
  bool bar_timer_open;
  uv_signal_t sigs[3]; /* SIGINT, SIGTERM, SIGHUP */
  bool sigs_open;
  /* grouped fdatasync of the results and the journal (see journal_put) */
  uv_timer_t sync_timer;
  bool sync_timer_open, sync_due;
  uv_fs_t sync_req[2];   /* the grouped fdatasyncs in flight on libuv's pool */
  int sync_inflight;
  SupGrant *grants;     /* --allow-read, --allow-write (grants.c) */
  struct NetRules *net_rules; /* --allow-net, --deny-net (net_config.c) */
  int ngrants;
  char *cwd;
  SupEnv env;           /* --allow-env, --env */
  SupRecFmt fmt;        /* --results-format, --fields (recfmt.c) */
  bool keep_order;      /* --keep-order: records through [order] */
  SupOrder order;
} Batch;

static void pump(Batch *b);

static void draw_bar(Batch *b, bool force)
{
  if (!b->bar) return;
  double now = sup_now_ms();
  if (!force && now - b->last_bar < 100) return;
  b->last_bar = now;
  double el = (now - b->t_start) / 1000.0;
  char line[256];
  int n;
  if (b->total > 0) {
    double frac = (double)b->done / (double)b->total;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    char eta[32] = "--:--";
    if (b->done > 0 && b->done < b->total) {
      double rem = el / (double)b->done * (double)(b->total - b->done);
      snprintf(eta, sizeof eta, "%d:%02d", (int)(rem / 60), (int)fmod(rem, 60));
    } else if (b->done >= b->total) {
      snprintf(eta, sizeof eta, "0:00");
    }
    n = snprintf(line, sizeof line, "[%s] %ld/%ld %3d%% ok %ld fail %ld run %d ETA %s", bar,
                 b->done, b->total, (int)(frac * 100), b->ok, b->failed, b->pool.nrunning, eta);
  } else {
    n = snprintf(line, sizeof line, "%ld done, ok %ld fail %ld run %d, %.1f jobs/s", b->done,
                 b->ok, b->failed, b->pool.nrunning, el > 0 ? (double)b->done / el : 0.0);
  }
  if (n < 0) return;
  /* within the terminal's width (a wrapped bar would scroll at each
   * redraw), after clearing what the last one left */
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  struct winsize ws;
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && len > (size_t)ws.ws_col - 1)
    len = (size_t)ws.ws_col - 1;
  char out[300];
  int m = snprintf(out, sizeof out, "\r\033[K%.*s", (int)len, line);
  ssize_t w = write(2, out, (size_t)m);
  (void)w;
}

static void bar_tick(uv_timer_t *t) { draw_bar(container_of(t, Batch, bar_timer), false); }

/* The last word on a terminal: what ended how, how long it took, and how
 * to finish the rest. */
static void summary(Batch *b)
{
  double el = (sup_now_ms() - b->t_start) / 1000.0;
  long not_started = b->total > b->done ? b->total - b->done : 0;
  fprintf(stderr, "harn batch: %ld ok, %ld failed", b->ok, b->failed);
  if (b->cancelled) fprintf(stderr, " (%ld cancelled)", b->cancelled);
  if (not_started && (b->interrupted || b->halting)) fprintf(stderr, ", %ld not started", not_started);
  fprintf(stderr, " in %.1f s\n", el);
  if ((b->failed || b->interrupted || b->halting) && b->results_path)
    fprintf(stderr, "harn batch: to run the %s again, add %s to the same command\n",
            b->interrupted || b->halting ? "rest" : "failed jobs",
            b->interrupted || b->halting ? "--resume" : "--resume-failed");
}

static void maybe_finish(Batch *b)
{
  if (b->finished) return;
  if (!b->exhausted || b->pool.nrunning > 0 || b->npending_retries > 0) return;
  b->finished = true;
  draw_bar(b, true);
  if (b->bar) {
    ssize_t w = write(2, "\n", 1);
    (void)w;
    summary(b);
  }
  if (b->sigs_open) {
    for (int i = 0; i < 3; i++) uv_close((uv_handle_t *)&b->sigs[i], NULL);
    b->sigs_open = false;
  }
  if (b->bar_timer_open) {
    uv_close((uv_handle_t *)&b->bar_timer, NULL);
    b->bar_timer_open = false;
  }
  if (b->sync_timer_open) {
    uv_close((uv_handle_t *)&b->sync_timer, NULL);
    b->sync_timer_open = false;
  }
  sup_feeder_release(&b->feeder); /* a stream's watcher would keep the loop up */
  sup_metrics_stop(b->metrics);
  sup_pool_close(&b->pool);
}

static void retry_closed(uv_handle_t *h)
{
  Retry *r = h->data;
  sup_spec_free(&r->spec);
  free(r);
}

static void retry_unlink(Batch *b, Retry *r)
{
  for (Retry **pp = &b->retries_head; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  }
  b->npending_retries--;
  r->timer.data = r;
  uv_close((uv_handle_t *)&r->timer, retry_closed);
}

static void retry_due(uv_timer_t *t)
{
  Retry *r = container_of(t, Retry, timer);
  r->ready = true;
  pump(r->batch);
}

static void drop_retries(Batch *b)
{
  while (b->retries_head) retry_unlink(b, b->retries_head);
}

/* Start no more jobs (nor retries); with [cancel], also cancel the
 * running ones (SIGTERM, then SIGKILL after the grace). */
static void halt(Batch *b, bool cancel)
{
  b->halting = true;
  b->exhausted = true;
  drop_retries(b);
  if (cancel) sup_pool_cancel_all(&b->pool, SIGTERM);
}


static void check_halt(Batch *b)
{
  if (!b->halt_mode || b->halting) return;
  long n = b->halt_cond == HALT_FAIL ? b->failed : b->halt_cond == HALT_SUCCESS ? b->ok : b->done;
  bool hit;
  if (b->halt_pct)
    hit = b->done > 0 && (double)n * 100.0 >= b->halt_n * (double)b->done && n > 0;
  else
    hit = (double)n >= b->halt_n;
  if (!hit) return;
  static const char *const what[] = {"failed", "successful", "finished"};
  fprintf(stderr, "%sharn batch: halting after %ld %s job%s\n", b->bar ? "\n" : "", n,
          what[b->halt_cond], n == 1 ? "" : "s");
  halt(b, b->halt_mode == 2);
}

/* ------------------------------------------------------------------ journal */

/* Make the results and the journal durable (OS crash, power loss): the
 * entries are already in the kernel, this only waits for the disk. */
static void sync_files(Batch *b)
{
  if (!b->sync_due) return;
  b->sync_due = false;
  if (b->results) fdatasync(fileno(b->results));
  if (b->journal >= 0) fdatasync(b->journal);
}

static void sync_done(uv_fs_t *req)
{
  Batch *b = req->data;
  uv_fs_req_cleanup(req);
  b->sync_inflight--;
}

/* The 20 ms tick: the same fdatasyncs, but on libuv's thread pool, so the
 * loop never stalls while the disk flushes (a flush took up to a few ms
 * here, during which finished workers waited to be reaped and no job
 * started). The next round starts only when this one is complete; what is
 * written meanwhile stays due. The loop does not end before they are done
 * (pending requests keep uv_run going), and the exit path syncs once more
 * synchronously. */
static void sync_tick(uv_timer_t *t)
{
  Batch *b = container_of(t, Batch, sync_timer);
  if (!b->sync_due || b->sync_inflight) return;
  b->sync_due = false;
  int fds[2] = {b->results ? fileno(b->results) : -1, b->journal};
  for (int i = 0; i < 2; i++) {
    if (fds[i] < 0) continue;
    b->sync_req[i].data = b;
    if (uv_fs_fdatasync(&b->loop, &b->sync_req[i], fds[i], sync_done) == 0) b->sync_inflight++;
    else fdatasync(fds[i]);
  }
}

/* Append one journal entry before returning. [ev] is "start" or "end".
 * The write() is what protects against a supervisor crash (SIGKILL, a
 * bug): once it returns, the entry is in the kernel and outlives the
 * process, so a start entry always precedes its job. Durability against an
 * OS crash is grouped: a 20 ms timer fdatasyncs the results and the journal
 * when something was written since (and once more at exit), instead of
 * three fdatasyncs per job, which cost more than the job itself. Failures
 * are reported once and otherwise ignored: the journal must not become a
 * reason to fail jobs. */
static void journal_put(Batch *b, const char *ev, const char *id, int attempt, const char *file,
                        const char *status, const char *reason)
{
  if (b->journal < 0) return;
  Buf l = {0};
  buf_puts(&l, "{\"ev\":\"");
  buf_puts(&l, ev);
  buf_puts(&l, "\",\"id\":");
  sup_json_name(&l, id);
  buf_puts(&l, ",\"attempt\":");
  sup_json_int(&l, attempt);
  buf_puts(&l, ",\"file\":");
  sup_json_name(&l, file);
  if (status) { /* an end: what --resume of a table (CSV, TSV) reads */
    buf_puts(&l, ",\"status\":");
    sup_json_cstr(&l, status);
    if (reason) {
      buf_puts(&l, ",\"reason\":");
      sup_json_cstr(&l, reason);
    }
  }
  buf_puts(&l, "}\n");
  size_t off = 0;
  while (off < l.len) {
    ssize_t w = write(b->journal, l.data + off, l.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  b->sync_due = true;
  static bool warned;
  if (off < l.len && !warned) {
    warned = true;
    fprintf(stderr, "harn batch: writing the journal failed: %s\n", strerror(errno));
  }
  buf_free(&l);
}

/* Start one attempt: journal first (durable), then the pool. */
static void start_job(Batch *b, SupSpec *spec)
{
  if (b->keep_order && spec->attempt == spec->first_attempt) sup_order_add(&b->order, spec->seq);
  journal_put(b, "start", spec->id, spec->attempt, spec->file, NULL, NULL);
  sup_pool_start(&b->pool, spec);
}

/* A record could not be written (a full disk; a closed pipe: EPIPE,
 * SIGPIPE being ignored): the outcome of that attempt is lost, and so
 * would be every later one. Say so once, start no more jobs, cancel the
 * running ones (SIGTERM, as `--halt now`); the exit status is 1. */
static void records_failed(Batch *b, int err)
{
  b->all_ok = false;
  if (b->records_failed) return;
  b->records_failed = true;
  fprintf(stderr, "%sharn batch: cannot write a record to %s: %s; starting no more jobs\n",
          b->bar ? "\n" : "", b->results ? b->results_path : "stdout", strerror(err));
  halt(b, true);
}

/* Write one terminal record line to the results (made durable with the
 * journal's grouped fdatasync when it is a file). False when it could not
 * be written whole: records_failed. (A partial last line is what --resume
 * cuts off.) */
/* On a terminal without --results, a failed attempt is one line for a
 * person (the records would flood the screen): its id, status and reason,
 * and the first line of its error; an ok one prints nothing. */
static void say_attempt(Batch *b, const SupSpec *s, const SupOutcome *o)
{
  if (o->status == SUP_STATUS_OK) return;
  const char *why = o->err_result ? o->err_result : o->error_text;
  Buf line = {0};
  buf_printf(&line, "%s%s %s", b->bar ? "\r\033[K" : "", sup_status_name(o->status), s->id);
  if (s->attempt > 1) buf_printf(&line, " (attempt %d)", s->attempt);
  if (o->reason) buf_printf(&line, ": %s", o->reason);
  if (o->reason && !strcmp(o->reason, "memory")) buf_puts(&line, " (out of memory: --memory)");
  if (why && *why) buf_printf(&line, ": %.*s", (int)strcspn(why, "\n"), why);
  buf_putc(&line, '\n');
  fwrite(line.data, 1, line.len, stdout);
  fflush(stdout);
  buf_free(&line);
}

static bool put_record(Batch *b, const char *record)
{
  if (b->human) return true; /* say_attempt speaks instead */
  FILE *out = b->results ? b->results : stdout;
  Buf line = {0};
  if (sup_recfmt_line(&b->fmt, record, &line) < 0) abort(); /* the pool's records are objects */
  errno = 0;
  fwrite(line.data, 1, line.len, out);
  buf_free(&line);
  if (fflush(out) != 0 || ferror(out)) {
    int err = errno ? errno : EIO;
    clearerr(out);
    records_failed(b, err);
    return false;
  }
  if (b->results) b->sync_due = true;
  return true;
}

/* A worker is gone: its slot goes to the next job at once, before the
 * record of the one that ended is built and written (on_done), which
 * shortens the gap between one job and the next by that much. Not when
 * the end may be one that --halt must count first. */
static void batch_reaped(SupStatus status, void *ud)
{
  Batch *b = ud;
  if (!b->halt_mode || (b->halt_cond == HALT_FAIL && status == SUP_STATUS_OK)) pump(b);
}

/* The joblog's Exitval and Signal, as GNU parallel writes them for the
 * same ends: 0 0 for ok (the pipeline's int is its value, not a failure),
 * the exit code for error and crashed (with the signal that ended a
 * crashed worker), -1 15 for our deadline (parallel --timeout), 0 9 for a
 * kill after the grace, -1 and the signal for a cancel. */
static void joblog_verdict(const SupOutcome *o, int *exitval, int *sig)
{
  *exitval = o->exit_code;
  *sig = o->term_signal;
  switch (o->status) {
  case SUP_STATUS_OK:
    *exitval = 0;
    *sig = 0;
    break;
  case SUP_STATUS_TIMEOUT:
    *exitval = -1;
    *sig = SIGTERM;
    break;
  case SUP_STATUS_KILLED:
    *exitval = 0;
    if (!*sig) *sig = SIGKILL;
    break;
  case SUP_STATUS_CANCELLED:
    *exitval = -1;
    *sig = o->exit_code > 128 ? o->exit_code - 128 : SIGINT;
    break;
  default:
    break;
  }
}

/* One word for a POSIX shell: as is when it is plain, else in '...', or in
 * $'...' when it holds a control character (a tab or a newline would
 * break the joblog's columns and lines). */
static void shell_word(Buf *b, const char *s)
{
  bool plain = *s != '\0', ctl = false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f) ctl = true;
    if (!(isalnum(*p) || strchr("_./:=@%+,-", *p))) plain = false;
  }
  if (plain) {
    buf_puts(b, s);
  } else if (!ctl) {
    buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
      if (*p == '\'') buf_puts(b, "'\\''");
      else buf_putc(b, *p);
    }
    buf_putc(b, '\'');
  } else {
    buf_puts(b, "$'");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
      if (*p == '\n') buf_puts(b, "\\n");
      else if (*p == '\t') buf_puts(b, "\\t");
      else if (*p == '\r') buf_puts(b, "\\r");
      else if (*p == '\\' || *p == '\'') buf_printf(b, "\\%c", *p);
      else if (*p < 0x20 || *p == 0x7f) buf_printf(b, "\\x%02x", *p);
      else buf_putc(b, (char)*p);
    }
    buf_putc(b, '\'');
  }
}

/* The joblog's Command: a shell line that runs the job again, as GNU
 * parallel's is (its --retry-failed reruns it): `harn run FILE --input
 * JSON --timeout DUR`, or for a manifest's "source" `printf %s SOURCE |
 * harn run -`, with the job's own input and deadline. */
static void joblog_command(Buf *b, const SupSpec *s)
{
  if (s->is_source) {
    buf_puts(b, "printf %s ");
    shell_word(b, s->program);
    buf_puts(b, " | harn run -");
  } else {
    buf_puts(b, "harn run ");
    if (s->program[0] == '-') buf_puts(b, "./"); /* a file named -x.harn is no option */
    shell_word(b, s->program);
  }
  if (s->input_json) {
    buf_puts(b, " --input ");
    shell_word(b, s->input_json);
  }
  if (s->timeout_ms > 0) {
    long long ms = (long long)s->timeout_ms;
    if (s->timeout_ms == (double)ms) buf_printf(b, " --timeout %lldms", ms);
    else buf_printf(b, " --timeout %.3fs", s->timeout_ms / 1000.0);
  }
}

/* A record goes out: the results, then the journal's "end" (with the
 * status and reason that --resume of a table reads back). Without its
 * record the attempt has not ended for --resume either: no "end", so a
 * resumed run reruns it. */
static void emit_record(void *ud, const SupEnded *e)
{
  Batch *b = ud;
  if (put_record(b, e->record)) journal_put(b, "end", e->id, e->attempt, e->file, e->status, e->reason);
}

static void batch_done(SupJob *job, const SupOutcome *o, void *ud)
{
  Batch *b = ud;
  const SupSpec *s = sup_job_spec(job);
  b->attempts++;
  if (b->human) say_attempt(b, s, o);
  bool retry = (s->retry_on & (1u << o->status)) && !b->interrupted && !b->halting &&
               s->attempt - s->first_attempt < s->retries;
  SupEnded e = {.record = o->record, .id = s->id, .file = s->file, .attempt = s->attempt,
                .status = sup_status_name(o->status), .reason = o->reason};
  if (b->keep_order) sup_order_put(&b->order, s->seq, &e, !retry);
  else emit_record(b, &e);
  if (b->joblog) {
    errno = 0;
    int exitval, sig;
    joblog_verdict(o, &exitval, &sig);
    Buf cmd = {0};
    joblog_command(&cmd, s);
    fprintf(b->joblog, "%ld\t:\t%.3f\t%10.3f\t0\t%zu\t%d\t%d\t%s\n", s->seq,
            o->start_epoch_ms / 1000.0, o->duration_ms / 1000.0, o->output_bytes, exitval, sig,
            cmd.data);
    buf_free(&cmd);
    if (fflush(b->joblog) != 0 || ferror(b->joblog)) {
      /* The records are intact: the batch goes on, and ends with 1. */
      int err = errno ? errno : EIO;
      clearerr(b->joblog);
      b->all_ok = false;
      if (!b->joblog_failed)
        fprintf(stderr, "%sharn batch: cannot write to the joblog %s: %s\n", b->bar ? "\n" : "",
                b->joblog_path, strerror(err));
      b->joblog_failed = true;
    }
  }
  if (retry) {
    Retry *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->batch = b;
    r->spec.id = strdup(s->id);
    r->spec.file = dup_or_null(s->file);
    r->spec.program = strdup(s->program);
    r->spec.is_source = s->is_source;
    r->spec.input_json = dup_or_null(s->input_json);
    r->spec.timeout_ms = s->timeout_ms;
    r->spec.attempt = s->attempt + 1;
    r->spec.first_attempt = s->first_attempt;
    r->spec.seq = s->seq;
    r->spec.retries = s->retries;
    r->spec.memory = s->memory;
    r->spec.cpu_ms = s->cpu_ms;
    r->spec.retry_on = s->retry_on;
    r->spec.retry_lo = s->retry_lo;
    r->spec.retry_hi = s->retry_hi;
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    double delay = sup_retry_delay(s->retry_lo, s->retry_hi, s->attempt - s->first_attempt, b->rng >> 17);
    sup_uv_must(uv_timer_init(&b->loop, &r->timer), "uv_timer_init");
    sup_uv_must(uv_timer_start(&r->timer, retry_due, (uint64_t)delay, 0), "uv_timer_start");
    sup_metrics_attempt(b->metrics, job, o, true);
    r->next = b->retries_head;
    b->retries_head = r;
    b->npending_retries++;
  } else {
    sup_metrics_attempt(b->metrics, job, o, false);
    b->done++;
    if (o->status == SUP_STATUS_CANCELLED) b->cancelled++;
    if (o->status == SUP_STATUS_OK) {
      b->ok++;
    } else if (o->status == SUP_STATUS_CANCELLED && b->halting && b->halt_cond != HALT_FAIL &&
               !b->interrupted) {
      /* cut short because the goal was reached (--halt now,success=N or
       * done=N): recorded cancelled, rerun by --resume, not a failure */
    } else {
      b->failed++;
      b->all_ok = false;
    }
    check_halt(b);
  }
  draw_bar(b, false);
  pump(b);
  maybe_finish(b);
}

/* Is there a next job in the sources? It is read one ahead, so that the
 * pool knows whether to make workers for it. */
static bool peek_spec(Batch *b)
{
  if (!b->has_ahead && !b->sources_done) {
    int r = sup_feeder_next(&b->feeder, &b->ahead);
    b->input_wait = r == 2; /* batch_input_ready comes back here */
    if (r == 1) b->has_ahead = true;
    else if (r == 0) b->sources_done = true;
  }
  return b->has_ahead;
}

/* The next job from the sources into *spec; false when there is none. */
static bool take_spec(Batch *b, SupSpec *spec)
{
  if (!peek_spec(b)) return false;
  *spec = b->ahead;
  memset(&b->ahead, 0, sizeof b->ahead);
  b->has_ahead = false;
  return true;
}

/* A stream source may have a line now (feeder_wait). */
static void batch_input_ready(void *ud) { pump(ud); }

static void pump(Batch *b)
{
  while (!b->interrupted && !b->halting && b->pool.nrunning - b->pool.nreaped < b->jobs) {
    Retry *ready = NULL;
    for (Retry *r = b->retries_head; r; r = r->next)
      if (r->ready) ready = r; /* the oldest ready one is last */
    if (ready) {
      SupSpec spec = ready->spec;
      memset(&ready->spec, 0, sizeof ready->spec);
      retry_unlink(b, ready);
      start_job(b, &spec);
      continue;
    }
    if (b->exhausted || (b->keep_order && sup_order_full(&b->order))) break;
    SupSpec spec;
    if (!take_spec(b, &spec)) {
      if (b->sources_done) b->exhausted = true;
      break; /* else input_wait: batch_input_ready pumps again */
    }
    sup_ids_assign(&b->ids, &spec, "harn batch", b->bar);
    /* after the renaming: ID#2 is the same job in every shard */
    if (!sup_shard_mine(b->feeder.shard, spec.seq - 1, spec.id)) {
      sup_spec_free(&spec);
      continue;
    }
    spec.attempt = 1;
    if (b->resume || b->resume_failed) {
      SupSeen *seen = sup_seen_find(&b->seen, spec.id, false);
      if (seen && seen->max_attempt > 0 && (b->resume || seen->ok) && !(seen->lost && !seen->ok)) {
        if (!seen->ok) b->all_ok = false; /* its last run did not succeed */
        sup_spec_free(&spec);
        b->done++;
        if (seen->ok) b->ok++;
        else b->failed++;
        continue;
      }
      if (seen) spec.attempt = seen->max_attempt + 1;
    }
    spec.first_attempt = spec.attempt;
    start_job(b, &spec);
  }
  /* Workers are made ahead only while more jobs may start. */
  bool more = !b->interrupted && !b->halting &&
              (peek_spec(b) || b->input_wait || b->npending_retries > 0);
  sup_pool_spares(&b->pool, more ? b->spares : 0);
  maybe_finish(b);
}

static void on_interrupt(uv_signal_t *h, int signum)
{
  Batch *b = h->data;
  if (b->interrupted) return;
  b->interrupted = true;
  b->interrupt_sig = signum;
  b->exhausted = true;
  b->all_ok = false;
  drop_retries(b);
  sup_pool_cancel_all(&b->pool, SIGINT);
  maybe_finish(b);
}

/* A supervisor killed while writing a record leaves a partial last line:
 * cut the file back to its last newline (that attempt then counts as lost,
 * the journal has its start). */
static void repair_tail(const char *path)
{
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  off_t end = lseek(fd, 0, SEEK_END), pos = end;
  char buf[4096];
  while (pos > 0) {
    size_t n = pos < (off_t)sizeof buf ? (size_t)pos : sizeof buf;
    if (pread(fd, buf, n, pos - (off_t)n) != (ssize_t)n) break;
    size_t k = n;
    while (k > 0 && buf[k - 1] != '\n') k--;
    if (k > 0) {
      pos = pos - (off_t)n + (off_t)k;
      break;
    }
    pos -= (off_t)n;
  }
  if (pos < end && ftruncate(fd, pos) == 0)
    fprintf(stderr, "harn batch: %s: dropped a partial last record (%lld bytes)\n", path,
            (long long)(end - pos));
  close(fd);
}


/* Call [fn] with each line of the JSONL file [path] parsed (NULL for a
 * line that does not parse: a torn last line); nothing when it cannot be
 * opened. -1 (said on stderr) when a line is longer than SUP_MAX_RECORD_LINE
 * or the file cannot be read to its end: skipping what it holds would run
 * recorded jobs again, so the caller stops. */
static int each_json_line(const char *path, void (*fn)(Batch *, const SupJson *), Batch *b)
{
  SupLineIn li;
  bool blocking;
  if (sup_linein_open(&li, strcmp(path, "-") ? path : "./-", &blocking) < 0) return 0;
  li.max = SUP_MAX_RECORD_LINE;
  int rc = 0, got;
  char *line;
  size_t len;
  while ((got = sup_linein_next(&li, &line, &len)) > 0) {
    if (got == 2) {
      fprintf(stderr, "harn batch: %s:%ld: a line longer than %zu MiB; cannot resume from it\n",
              path, li.lineno, SUP_MAX_RECORD_LINE >> 20);
      rc = -1;
      break;
    }
    SupJson *j = sup_json_parse(line, len, NULL);
    fn(b, j);
    sup_json_free(j);
  }
  if (li.err) {
    fprintf(stderr, "harn batch: cannot read %s: %s\n", path, strerror(li.err));
    rc = -1;
  }
  sup_linein_close(&li);
  return rc;
}

/* A journal line: the latest start of each job. */
static void journal_line(Batch *b, const SupJson *j)
{
  const SupJson *ev = sup_json_get(j, "ev"), *id = sup_json_get(j, "id"),
                *att = sup_json_get(j, "attempt"), *file = sup_json_get(j, "file");
  if (ev && ev->type == SUP_JSON_STRING && !strcmp(ev->str, "start") && id &&
      id->type == SUP_JSON_STRING && att && att->type == SUP_JSON_INT) {
    SupSeen *s = sup_seen_find(&b->seen, id->str, true);
    if (att->i > s->started) {
      s->started = (int)att->i;
      free(s->file);
      s->file = file && file->type == SUP_JSON_STRING ? strdup(file->str) : NULL;
    }
  }
}

/* Read the journal of an interrupted run: every attempt started there and
 * without a record in the results (the supervisor died while it ran) gets
 * its terminal record now: crashed / supervisor_lost. The job then runs
 * again (attempt + 1) like any job without an ok record. -1 when the
 * journal cannot be read (each_json_line), with nothing written. */
static int recover_journal(Batch *b, const char *jpath)
{
  if (each_json_line(jpath, journal_line, b) < 0) return -1;
  long lost = 0;
  for (size_t i = 0; i < b->seen.cap; i++) {
    SupSeen *s = &b->seen.slots[i];
    if (!s->id || s->started <= s->max_attempt) continue;
    Buf r = {0};
    buf_puts(&r, "{\"id\":");
    sup_json_name(&r, s->id);
    buf_printf(&r, ",\"attempt\":%d,\"file\":", s->started);
    sup_json_name(&r, s->file);
    buf_puts(&r, ",\"status\":\"crashed\",\"reason\":\"supervisor_lost\",\"value\":null,"
                 "\"exit_code\":1,\"error\":null,\"output\":\"\",\"stdout\":\"\",\"stderr\":\"\","
                 "\"output_truncated\":false,"
                 "\"steps\":[],\"steps_truncated\":false,\"lifecycle\":[],\"lifecycle_truncated\":false,"
                 "\"emits\":[],\"emits_truncated\":false,\"dropped\":null,\"started_at\":null,"
                 "\"duration_ms\":null,\"cpu_ms\":null,\"max_rss_kb\":null,\"signals\":[],"
                 "\"hard_stop\":false,\"counters\":");
    sup_json_counters(&r, &(IpcCounters){0}, 0, false);
    buf_puts(&r, ",\"worker\":null,\"sandbox\":null}");
    put_record(b, r.data);
    buf_free(&r);
    s->max_attempt = s->started;
    s->lost = true;
    lost++;
  }
  if (b->results) fdatasync(fileno(b->results));
  if (lost)
    fprintf(stderr, "harn batch: %ld attempt%s lost with the previous supervisor (recorded as "
                    "crashed/supervisor_lost)\n", lost, lost == 1 ? "" : "s");
  return 0;
}

/* A line of a previous results file, into b->seen. */
static void results_line(Batch *b, const SupJson *j)
{
  const SupJson *id = sup_json_get(j, "id"), *att = sup_json_get(j, "attempt"),
                *st = sup_json_get(j, "status"), *rs = sup_json_get(j, "reason");
  if (!id || id->type != SUP_JSON_STRING) return;
  SupSeen *s = sup_seen_find(&b->seen, id->str, true);
  if (att && att->type == SUP_JSON_INT && att->i > s->max_attempt) {
    s->max_attempt = (int)att->i;
    s->lost = (rs && rs->type == SUP_JSON_STRING && !strcmp(rs->str, "supervisor_lost")) ||
              (st && st->type == SUP_JSON_STRING && !strcmp(st->str, "cancelled"));
  }
  if (st && st->type == SUP_JSON_STRING && !strcmp(st->str, "ok")) s->ok = true;
}

/* A journal line of a table's run: its ends are the records (--resume of
 * a CSV or TSV results file). */
static void journal_end_line(Batch *b, const SupJson *j)
{
  const SupJson *ev = sup_json_get(j, "ev");
  if (ev && ev->type == SUP_JSON_STRING && !strcmp(ev->str, "end")) results_line(b, j);
}

/* --halt as GNU parallel takes it: never; WHEN,COND=N or WHEN,COND=N%
 * (WHEN soon or now; COND fail, success or done); and its old numbers 0
 * (never), 1 / 2 (soon / now,fail=1), -1 / -2 (soon / now,success=1). */
static int parse_halt(Batch *b, const char *v)
{
  static const struct { const char *old, *now; } legacy[] = {
    {"0", "never"}, {"1", "soon,fail=1"}, {"2", "now,fail=1"},
    {"-1", "soon,success=1"}, {"-2", "now,success=1"}};
  for (size_t i = 0; i < sizeof legacy / sizeof *legacy; i++)
    if (!strcmp(v, legacy[i].old)) v = legacy[i].now;
  if (!strcmp(v, "never")) return 0;
  const char *comma = strchr(v, ',');
  if (!comma) return -1;
  size_t wl = (size_t)(comma - v);
  if (wl == 3 && !strncmp(v, "now", 3)) b->halt_mode = 2;
  else if (wl == 4 && !strncmp(v, "soon", 4)) b->halt_mode = 1;
  else return -1;
  const char *cond = comma + 1;
  size_t cl;
  if (!strncmp(cond, "fail=", cl = 5)) b->halt_cond = HALT_FAIL;
  else if (!strncmp(cond, "success=", cl = 8)) b->halt_cond = HALT_SUCCESS;
  else if (!strncmp(cond, "done=", cl = 5)) b->halt_cond = HALT_DONE;
  else return -1;
  char *end;
  double x = strtod(cond + cl, &end);
  if (end == cond + cl || x <= 0 || !isfinite(x)) return -1;
  if (*end == '%') {
    b->halt_pct = true;
    end++;
  }
  if (*end) return -1;
  b->halt_n = x;
  return 0;
}

/* Which of [other] and the sources is the file at [path] (the same inode),
 * or NULL (also when [path] does not exist yet). */
static const char *same_file(const char *path, const char *other, char **srcs, int nsrc)
{
  struct stat a, b;
  if (other && !strcmp(path, other)) return other; /* may not exist yet */
  if (stat(path, &a) != 0) return NULL;
  if (other && stat(other, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return other;
  for (int i = 0; i < nsrc; i++)
    if (strcmp(srcs[i], "-") && stat(srcs[i], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
      return srcs[i];
  return NULL;
}

static void print_stats(void)
{
  int fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.') fds++;
    closedir(d);
    fds--; /* the directory's own fd */
  }
  siginfo_t si;
  memset(&si, 0, sizeof si);
  const char *children;
  if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) children = "none";
  else children = si.si_pid ? "zombie" : "live";
  fprintf(stderr, "harn-stats: fds=%d children=%s\n", fds, children);
  /* The supervisor's own cost (its children's is not included). */
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    fprintf(stderr, "harn-stats: self user_ms=%.1f sys_ms=%.1f minflt=%ld\n",
            (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3,
            (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3, ru.ru_minflt);
}

int sup_cmd_batch(const CliArgs *a)
{
  Batch *b = calloc(1, sizeof *b);
  if (!b) abort();
  b->journal = -1;
  b->all_ok = true;
  b->jobs = a->opt[CLI_OPT_JOBS].given ? (int)a->opt[CLI_OPT_JOBS].n : 0;
  b->spares = a->opt[CLI_OPT_SPARES].given ? (int)a->opt[CLI_OPT_SPARES].n : -1;
  b->timeout_ms = a->opt[CLI_OPT_TIMEOUT].ms;
  b->retries = (int)a->opt[CLI_OPT_RETRIES].n;
  b->resume = a->opt[CLI_OPT_RESUME].given;
  b->resume_failed = a->opt[CLI_OPT_RESUME_FAILED].given;
  double grace = a->opt[CLI_OPT_GRACE].ms, cpu_ms = a->opt[CLI_OPT_CPU].ms;
  size_t max_output = a->opt[CLI_OPT_MAX_OUTPUT].bytes, memory = a->opt[CLI_OPT_MEMORY].bytes;
  size_t max_events = (size_t)a->opt[CLI_OPT_MAX_EVENTS].n;
  bool no_sandbox = a->opt[CLI_OPT_NO_SANDBOX].given;
  const char *results = a->opt[CLI_OPT_RESULTS].text, *joblog = a->opt[CLI_OPT_JOBLOG].text;
  /* --bar / --no-bar: the last one given counts; neither: a terminal's */
  const CliValue *on = &a->opt[CLI_OPT_BAR], *off = &a->opt[CLI_OPT_NO_BAR];
  int bar = on->pos > off->pos ? 1 : off->given ? 0 : -1;
  int rc = 2;
  char **srcs = calloc((size_t)a->noperands + 1, sizeof *srcs);
  if (!srcs) abort();
  memcpy(srcs, a->operands, (size_t)a->noperands * sizeof *srcs);
  int nsrc = a->noperands;
  if (parse_halt(b, a->opt[CLI_OPT_HALT].text) < 0) {
    rc = cli_bad_value(a, CLI_OPT_HALT, "is not never, or soon|now,fail|success|done=N[%]");
    goto out;
  }
  unsigned retry_on = SUP_RETRY_ON_DEFAULT;
  double retry_lo = 0, retry_hi = 0;
  if (sup_parse_retry_on(a->opt[CLI_OPT_RETRY_ON].text, &retry_on) < 0) {
    rc = cli_bad_value(a, CLI_OPT_RETRY_ON, "is not a list of error, timeout, killed, crashed");
    goto out;
  }
  if (sup_parse_retry_delay(a->opt[CLI_OPT_RETRY_DELAY].text, &retry_lo, &retry_hi) < 0) {
    rc = cli_bad_value(a, CLI_OPT_RETRY_DELAY, "is not DUR or MIN..MAX (MIN <= MAX)");
    goto out;
  }
  const char *input_from = a->opt[CLI_OPT_INPUT_FROM].text;
  if (input_from) {
    struct stat pst;
    if (nsrc != 1) {
      rc = cli_usage_error(a, "--input-from runs one program: give exactly one FILE.harn");
      goto out;
    }
    if (stat(srcs[0], &pst) == 0 && S_ISDIR(pst.st_mode)) {
      rc = cli_usage_error(a, "--input-from runs one program, not the directory %s", srcs[0]);
      goto out;
    }
    b->feeder.program = srcs[0];
    srcs[0] = (char *)input_from; /* the rows are the source now */
  }
  if (a->opt[CLI_OPT_SHARD].given) {
    char why[200];
    if (sup_shard_parse(a->opt[CLI_OPT_SHARD].text, a->opt[CLI_OPT_SHARD_BY].text, &b->shard, why,
                        sizeof why) < 0) {
      rc = cli_usage_error(a, "%s", why);
      goto out;
    }
    b->feeder.shard = &b->shard;
  } else if (a->opt[CLI_OPT_SHARD_BY].given) {
    rc = cli_usage_error(a, "--shard-by needs --shard");
    goto out;
  }
  if (b->resume && b->resume_failed) {
    rc = cli_usage_error(a, "--resume and --resume-failed exclude each other");
    goto out;
  }
  char why[200];
  if (sup_recfmt_init(&b->fmt, a->opt[CLI_OPT_RESULTS_FORMAT].text, a->opt[CLI_OPT_FIELDS].text,
                      results, why, sizeof why) < 0) {
    rc = cli_usage_error(a, "%s", why);
    goto out;
  }
  b->keep_order = a->opt[CLI_OPT_KEEP_ORDER].given;
  sup_order_init(&b->order, SUP_KEEP_ORDER_MAX_BYTES, emit_record, b);
  if (results && !strcmp(results, "-")) results = NULL; /* --results -: stdout */
  /* Records that cannot be read back (stdout, /dev/null, a pipe) resume
   * nothing, so they get no journal either: a .journal beside /dev/null
   * would be a file in /dev (docs/cli.md "Journal"). */
  struct stat rst;
  bool regular = results && (stat(results, &rst) != 0 ? errno == ENOENT : S_ISREG(rst.st_mode));
  if ((b->resume || b->resume_failed) && !regular) {
    rc = cli_usage_error(a, "--%s needs --results FILE (a regular file: the records are read back)",
                         b->resume ? "resume" : "resume-failed");
    goto out;
  }
  /* A source that cannot be read is that source's failure, found when the
   * feeder reaches it (sup_feeder_next), not the whole batch's: the others'
   * jobs all run. */
  for (int i = 0, stdins = 0; i < nsrc; i++)
    if (!strcmp(srcs[i], "-") && stdins++) { rc = cli_usage_error(a, "`-` (stdin) given twice"); goto out; }
  /* Opening the results truncates them: naming a source there (or the
   * joblog, or the two the same) would destroy it before it is read. */
  const char *outs[2] = {results, joblog};
  for (int k = 0; k < 2; k++) {
    const char *clash = outs[k] ? same_file(outs[k], k == 0 ? joblog : NULL, srcs, nsrc) : NULL;
    if (clash) {
      if (clash == joblog)
        fprintf(stderr, "harn batch: --results and --joblog are one file (%s)\n", outs[k]);
      else
        fprintf(stderr, "harn batch: %s %s is also the source %s: it would be truncated before "
                        "it is read\n", k == 0 ? "--results" : "--joblog", outs[k], clash);
      rc = 2;
      goto out;
    }
  }
  if (!b->jobs) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    b->jobs = n > 0 ? (int)n : 1;
  }
  if (b->spares < 0) b->spares = b->jobs < DEFAULT_SPARES / 2 ? 2 * b->jobs : DEFAULT_SPARES;

  if (a->opt[CLI_OPT_METRICS].text && !(b->metrics = sup_metrics_open(a->opt[CLI_OPT_METRICS].text))) {
    rc = 2;
    goto out;
  }
  if (results) {
    bool resuming = b->resume || b->resume_failed;
    /* A table cannot be read back whole (a CSV cell may span lines, and
     * --fields chose the columns): its --resume reads the ends in the
     * journal instead, which carry the status (journal_put). */
    bool table = b->fmt.kind != SUP_RECFMT_JSONL;
    if (resuming) {
      repair_tail(results);
      if (table) {
        char *jp;
        if (asprintf(&jp, "%s.journal", results) < 0) abort();
        int got = access(jp, R_OK) == 0 ? each_json_line(jp, journal_end_line, b) : -2;
        free(jp);
        if (got == -2 && access(results, F_OK) == 0) {
          rc = cli_usage_error(a, "--%s of a %s results file reads its journal, %s.journal, "
                               "which is missing", b->resume ? "resume" : "resume-failed",
                               b->fmt.kind == SUP_RECFMT_CSV ? "CSV" : "TSV", results);
          goto out;
        }
        if (got == -1) { rc = 2; goto out; }
      } else if (each_json_line(results, results_line, b) < 0) {
        rc = 2;
        goto out;
      }
    }
    b->results = fopen(results, resuming ? "ae" : "we");
    b->results_path = results;
    if (!b->results) {
      fprintf(stderr, "harn batch: cannot open %s: %s\n", results, strerror(errno));
      rc = 2;
      goto out;
    }
    if (ftell(b->results) == 0 || !resuming) { /* "a" starts at the end */
      Buf h = {0};
      sup_recfmt_header(&b->fmt, &h);
      fwrite(h.data ? h.data : "", 1, h.len, b->results);
      buf_free(&h);
    }
    const char *nj = getenv("HARN_NO_JOURNAL");
    if (regular && !(nj && *nj && strcmp(nj, "0"))) {
      char *jpath;
      if (asprintf(&jpath, "%s.journal", results) < 0) abort();
      if (resuming && recover_journal(b, jpath) < 0) {
        free(jpath);
        rc = 2;
        goto out;
      }
      b->journal = open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (resuming ? 0 : O_TRUNC),
                        0644);
      if (b->journal < 0)
        fprintf(stderr, "harn batch: cannot open the journal %s: %s\n", jpath, strerror(errno));
      free(jpath);
    }
  }
  if (joblog) {
    bool append = b->resume || b->resume_failed;
    b->joblog = fopen(joblog, append ? "ae" : "we");
    b->joblog_path = joblog;
    if (!b->joblog) {
      fprintf(stderr, "harn batch: cannot open %s: %s\n", joblog, strerror(errno));
      rc = 2;
      goto out;
    }
    if (ftell(b->joblog) == 0)
      fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", b->joblog);
    fflush(b->joblog);
  }
  b->bar = !sup_log_json && (bar == 1 || (bar == -1 && isatty(2)));
  b->human = !a->opt[CLI_OPT_RESULTS].given && isatty(1); /* --results -: records */
  if (!b->results && !b->human) {
    Buf h = {0};
    sup_recfmt_header(&b->fmt, &h);
    fwrite(h.data ? h.data : "", 1, h.len, stdout);
    buf_free(&h);
  }
  /* rows of --input-from are not counted ahead (a header, bad rows) */
  b->total = b->bar && !b->feeder.program ? sup_count_jobs(srcs, nsrc) : -1;
  if (b->total > 0 && b->shard.count > 1) /* the positions I, I+N, ... below total */
    b->total = b->shard.by_id ? -1
                              : (b->total - b->shard.index + b->shard.count - 1) / b->shard.count;
  b->feeder.who = "harn batch";
  b->feeder.defaults = (SupSpec){.timeout_ms = b->timeout_ms, .retries = b->retries,
                                 .retry_on = retry_on, .retry_lo = retry_lo, .retry_hi = retry_hi};
  b->rng = (uint64_t)sup_epoch_ms() ^ ((uint64_t)getpid() << 32);
  b->feeder.srcs = srcs;
  b->feeder.nsrc = nsrc;
  b->feeder.loop = &b->loop;
  b->feeder.readable = batch_input_ready;
  b->feeder.ud = b;

  if (uv_loop_init(&b->loop) != 0) {
    fprintf(stderr, "harn batch: cannot start the event loop\n");
    rc = 1;
    goto out;
  }
  SupPoolConfig cfg = {.grace_ms = grace, .max_output = max_output, .no_sandbox = no_sandbox,
                       .memory = memory, .cpu_ms = cpu_ms, .max_events = max_events};
  if (sup_caps_config(a, &cfg, &b->grants, &b->ngrants, &b->cwd) != 0 ||
      sup_env_config(a, &cfg, &b->env) != 0 || sup_net_config("batch", a, &cfg, &b->net_rules) != 0) {
    uv_loop_close(&b->loop);
    rc = CLI_USAGE;
    goto out;
  }
  SupHooks hooks = {.on_done = batch_done, .on_reaped = batch_reaped, .ud = b};
  /* SIGHUP (a closed terminal, a logout) as SIGTERM: records written,
   * nothing lost, and a plain --resume reruns the cancelled jobs */
  static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  int urc = sup_pool_init(&b->pool, &b->loop, &cfg, &hooks);
  if (urc == 0) {
    urc = sup_signals_start(&b->loop, b->sigs, sigs, 3, on_interrupt, b);
    if (urc != 0) sup_pool_close(&b->pool);
  }
  if (urc != 0) {
    /* No job has started: without its signal watchers a batch could
     * neither reap its workers nor stop them on Ctrl-C. */
    fprintf(stderr, "harn batch: cannot watch signals: %s\n", uv_strerror(urc));
    uv_run(&b->loop, UV_RUN_DEFAULT); /* finish the closes */
    uv_loop_close(&b->loop);
    rc = 1;
    goto out;
  }
  b->sigs_open = true;
  b->t_start = sup_now_ms();
  sup_metrics_start(b->metrics, &b->loop, &b->pool);
  if (b->bar) {
    sup_uv_must(uv_timer_init(&b->loop, &b->bar_timer), "uv_timer_init");
    sup_uv_must(uv_timer_start(&b->bar_timer, bar_tick, 200, 200), "uv_timer_start");
    uv_unref((uv_handle_t *)&b->bar_timer);
    b->bar_timer_open = true;
  }
  if (b->journal >= 0) {
    sup_uv_must(uv_timer_init(&b->loop, &b->sync_timer), "uv_timer_init");
    sup_uv_must(uv_timer_start(&b->sync_timer, sync_tick, 20, 20), "uv_timer_start");
    uv_unref((uv_handle_t *)&b->sync_timer);
    b->sync_timer_open = true;
  }
  pump(b);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  maybe_finish(b); /* e.g. no job at all */
  uv_run(&b->loop, UV_RUN_DEFAULT);
  sup_order_drain(&b->order); /* what an interrupt left waiting (dropped retries) */
  if (uv_loop_close(&b->loop) != 0) fprintf(stderr, "harn batch: event loop not empty at exit\n");

  if (b->feeder.bad_input) b->all_ok = false;
  if (b->interrupted) rc = 128 + b->interrupt_sig; /* 130, 143, 129 */
  else if (b->halting && b->halt_cond == HALT_SUCCESS) rc = 0; /* the goal was reached */
  else rc = b->all_ok ? 0 : 1;

out:
  b->sync_due = true;
  sync_files(b);
  if (b->results) fclose(b->results);
  if (b->joblog) fclose(b->joblog);
  if (b->journal >= 0) close(b->journal);
  sup_metrics_free(b->metrics);
  sup_order_free(&b->order);
  sup_recfmt_free(&b->fmt);
  sup_grants_close(b->grants, b->ngrants);
  free(b->cwd);
  sup_env_free(&b->env);
  net_rules_free(b->net_rules);
  if (getenv("HARN_SUP_STATS")) print_stats();
  if (b->has_ahead) sup_spec_free(&b->ahead);
  sup_feeder_release(&b->feeder);
  sup_seen_free(&b->seen);
  sup_ids_free(&b->ids);
  free(srcs);
  free(b);
  return rc;
}
