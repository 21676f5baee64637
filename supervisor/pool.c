/*
 * pool.c: the supervisor engine. One libuv loop runs any number of jobs;
 * each job is one worker process in its own process group, driven by an
 * explicit state machine (STYLE.md 13, docs/RUNTIME.md 5.6, 9).
 *
 * Per job the pool embeds three handles in the SupJob (STYLE.md 14):
 *   timer     a libuv timer: it retries a failed spawn, reports from the
 *             loop a job that ends without a worker (spawn failure, a
 *             job frame too big, cancelled while waiting), and carries
 *             the job's deadline when the pool has no timerfd (below).
 *   ev_pipe   read end of the worker's fd 4, fed to the ipc decoder.
 *   job_pipe  write end of the worker's fd 3, only when the job frame did
 *             not fit into the pipe at once (sup_feed_job writes it there
 *             first, SupSpawned); closed once the rest is written (the
 *             worker sees the frame, then EOF).
 * and one deadline ([due], on the pool's precise timer): in RUNNING it is
 * the job deadline (measured from spawn); in STOPPING it is the grace after
 * the SIGTERM/SIGINT; in DRAINING it is the grace after the final frame or
 * an early EOF. Whatever it means, when it fires in STOPPING or DRAINING
 * the group gets SIGKILL.
 *
 * The precise timer. libuv timers count whole milliseconds of a truncated
 * loop clock, so one armed for T ms fires up to ~2 ms late (it must be
 * rounded up never to fire early). The pool therefore keeps its deadlines
 * itself: one timerfd (CLOCK_MONOTONIC, absolute, ns resolution) watched
 * by a uv_poll handle, programmed for the earliest [due] of the jobs in
 * its list; at expiry every job whose [due] has passed gets EV_TIMER. If
 * the timerfd cannot be made, each job's libuv timer carries its deadline
 * instead (arm_timer, rounded up to whole ms).
 * bench/batch measures the result (SIGTERM and SIGKILL within ~0.1 ms of
 * their instants when the machine is not overloaded).
 * The job is freed only after the close callbacks of all three have run.
 *
 * State machine (events x states, dispatched through sup_actions):
 *
 *              TIMER        CANCEL      FINAL       EOF         PROTOCOL  EXIT
 *   RUNNING    TERM->STOP   sig->STOP   ->DRAIN     ->DRAIN     KILL      reap
 *   STOPPING   KILL->KILL   -           -           -           KILL      reap
 *   DRAINING   KILL->KILL   -           -           -           KILL(*)   reap
 *   KILLING    -            -           -           -           -         reap
 *   DEAD       -            -           -           -           -         -
 *   (*) only when no final frame was accepted; after it, it is only logged.
 *
 * Exit detection: one SIGCHLD watcher for the pool. On SIGCHLD every job not
 * yet reaped is polled with waitid(WEXITED|WNOHANG|WNOWAIT): the worker is
 * seen dead but stays a zombie, so its pid (and therefore its pgid) cannot
 * be reused while we SIGKILL the group to sweep strays; only then wait4
 * reaps it (collecting rusage). The pipe is then drained once more without
 * blocking (what a stray still holding fd 4 may write later is ignored: we
 * never wait for an EOF), and the status is decided from the table of
 * docs/RUNTIME.md 5.6. Exactly one on_done per started job follows, whatever the
 * worker did; a spawn failure produces it too, from the loop.
 *
 * The supervisor is a child subreaper (PR_SET_CHILD_SUBREAPER), so strays
 * of a swept group come back to it and are reaped there too: no zombie is
 * left behind even under an init that does not reap.
 *
 * Invariants: a job is in the pool's running list from spawn to reap; the
 * first trigger (deadline or cancel) is the only one that signals; a
 * protocol error SIGKILLs the group at once and stops decoding; a complete
 * final frame received at any time before the drain counts.
 *
 * Bounded memory. Whatever a worker sends, what the pool keeps of it per
 * job has a fixed bound (a flood costs the supervisor CPU, not memory):
 *   decoder    at most one frame (IPC_MAX_FRAME, 16 MiB, refused from its
 *              length prefix) plus one read (64 KiB) is buffered;
 *   output     the first cfg.max_output bytes (--max-output, 1 MiB); the
 *              rest is only counted (output_total); the same bytes again
 *              split by stream (the record's stdout and stderr), so at
 *              most twice that;
 *   steps, lifecycle, emits
 *              each a SupEventLog: the first events as JSON, at most
 *              cfg.max_events entries (10,000) and cfg.max_event_bytes
 *              bytes (16 MiB) of each kind; from the first event that does
 *              not fit on, that kind is only counted, not even rendered;
 *   final, sandbox
 *              one frame each at most (the decoder refuses a second): the
 *              value, error value and trace, the sandbox map, as JSON;
 *   record     built from the above at the reap, handed to on_done, and
 *              freed right after it with all of the above (job_finish):
 *              only the jobs still running hold event data.
 * An event is rendered into the pool's scratch buffer (one at a time for
 * all the jobs; released when it grew past 1 MiB) and copied into its log
 * only if it fits. The record says what was not kept: *_truncated and
 * `dropped` (docs/cli.md "The terminal record").
 */
#define _GNU_SOURCE
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/defaults.h"
#include "base/signame.h"
#include "ipc/ipc.h"
#include "supervisor/broker.h"
#include "supervisor/net_broker.h"
#include "worker/sandbox.h"
#include "worker/worker.h"

#define MAX_SIGNALS 8

typedef enum {
  EV_TIMER, EV_CANCEL, EV_FINAL, EV_EOF, EV_PROTOCOL, EV_EXIT, EV__COUNT
} Event;

struct SupJob {
  SupSpec spec;
  SupPool *pool;
  SupJob *prev, *next;   /* running list */
  SupState state;
  pid_t pid;

  uv_timer_t timer;
  uv_pipe_t ev_pipe, job_pipe;
  double due;            /* monotonic ms of the armed deadline/grace */
  bool timed;            /* in the pool's timed list */
  SupJob *tprev, *tnext; /* the pool's timed list */
  bool ev_open, job_open, ev_reading;
  int pending_closes;
  uv_write_t wreq;
  Buf frame;             /* the encoded job frame, owned until write_cb */

  double t0;             /* monotonic ms at spawn */
  double epoch0;         /* wall ms at spawn */
  double end;            /* monotonic ms at reap */
  struct { int sig; double at; } sigs[MAX_SIGNALS];
  int nsigs;
  SupStop stop;
  bool kill_after_signal; /* SIGKILL sent because the grace ran out */
  bool eof, protocol, reaped;
  char *protocol_text;
  int spawn_err;
  int watch_err;          /* a libuv call wiring the worker failed (watch_failed) */
  int spawn_tries;
  SupJob *znext;         /* the pool's queue of jobs waiting for the zygote */
  SupJob *wnext;         /* the pool's list of jobs waiting to retry a spawn */
  bool waiting;          /* ... and in it */

  IpcDecoder *dec;
  uint64_t ignored_after_final;

  /* What the events told us. */
  Buf output;            /* both streams, interleaved as the worker wrote them */
  Buf stream_out[2];     /* ... and each alone: [0] stdout, [1] stderr */
  size_t output_total;
  bool output_truncated;
  SupEventLog steps, lifecycle, emits;  /* capped ("Bounded memory") */
  bool has_started;
  int64_t worker_pid;
  Buf sandbox;           /* the `sandbox` event's map as JSON, or empty */
  bool seccomp;          /* ... and it says seccomp: true */
  bool f_limit_memory;
  bool got_final;
  IpcStatus f_status;
  Buf f_value, f_error_value, f_trace, f_counters;
  char *f_error, *f_diag, *f_signal, *f_err_result;
  bool f_hard_stop;
  int64_t f_exit_code;

  Buf f_caps_obj;        /* the final's `capabilities` map as msgpack, or empty */

  /* Capabilities: the descriptors sent with the job frame (the pool's
   * grants, then the scratch directory) */
  int fds[IPC_MAX_GRANTS];
  int nfds;
  char *scratch_path;    /* this attempt's scratch directory, or NULL */
  int scratch_fd;        /* ... open, -1 when none */

  int wstatus;
  struct rusage ru;
  Buf record;

  /* The host-call channel (v3): the job socket stays open (job_pipe) for
   * the answers when the pool brokers a capability. */
  bool host;             /* keep the job socket */
  int inflight;          /* host calls not answered yet (broker.c) */
  void *broker;          /* the net broker's state of this job */
};

int *sup_job_inflight(SupJob *j) { return &j->inflight; }
void **sup_job_broker_slot(SupJob *j) { return &j->broker; }
SupPool *sup_job_pool(SupJob *j) { return j->pool; }
const char *sup_job_id(const SupJob *j) { return j->spec.id; }

double sup_job_ms_left(const SupJob *j)
{
  if (j->spec.timeout_ms <= 0) return -1;
  double left = j->spec.timeout_ms - (sup_now_ms() - j->t0);
  return left < 0 ? 0 : left;
}

typedef struct HostWrite {
  uv_write_t req;
  char *data;
} HostWrite;

static void host_write_cb(uv_write_t *req, int status)
{
  (void)status;
  HostWrite *w = container_of(req, HostWrite, req);
  free(w->data);
  free(w);
}

void sup_job_send_host(SupJob *j, const Buf *frame)
{
  if (!j->job_open || j->state == SUP_ST_DEAD || !frame->len) return;
  HostWrite *w = malloc(sizeof *w);
  if (!w) abort();
  w->data = malloc(frame->len);
  if (!w->data) abort();
  memcpy(w->data, frame->data, frame->len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)frame->len);
  if (uv_write(&w->req, (uv_stream_t *)&j->job_pipe, &b, 1, host_write_cb) != 0) {
    free(w->data);
    free(w);
  }
}

static void dispatch(SupJob *j, Event ev, int arg);
static void job_finish(SupJob *j);
static void reap_children(SupPool *p);
static void zygote_lost(SupPool *p, int err);
static void zpoll_cb(uv_poll_t *h, int status, int events);
static bool is_spare(SupPool *p, pid_t pid);
static bool spare_forget(SupPool *p, pid_t pid);

/* ------------------------------------------------------------------ utils */

double sup_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double sup_epoch_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *sup_signame(int sig)
{
  static char buf[SIGNAME_MAX];
  return signame_fmt(sig, buf);
}

static const struct {
  const char *name;
  int exit;
  bool retryable;
} statuses[SUP_STATUS__COUNT] = {
#define X(NAME, name, exit, retryable) [SUP_STATUS_##NAME] = {name, exit, retryable},
    SUP_STATUS_MAP(X)
#undef X
};

const char *sup_status_name(SupStatus s)
{
  return (unsigned)s < SUP_STATUS__COUNT ? statuses[s].name : "?";
}

bool sup_status_retryable(SupStatus s)
{
  return (unsigned)s < SUP_STATUS__COUNT && statuses[s].retryable;
}

const SupSpec *sup_job_spec(const SupJob *j) { return &j->spec; }

static char *xstrdup(const char *s)
{
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

void sup_uv_must(int rc, const char *call)
{
  if (rc == 0) return;
  fprintf(stderr, "harn: internal error: %s failed: %s\n", call, uv_strerror(rc));
  abort();
}

int sup_signals_start(uv_loop_t *loop, uv_signal_t *h, const int *sigs, int n, uv_signal_cb cb,
                      void *data)
{
  for (int i = 0; i < n; i++) {
    int rc = uv_signal_init(loop, &h[i]);
    if (rc == 0) {
      h[i].data = data;
      rc = uv_signal_start(&h[i], cb, sigs[i]);
      if (rc != 0) uv_close((uv_handle_t *)&h[i], NULL);
    }
    if (rc != 0) {
      while (i-- > 0) uv_close((uv_handle_t *)&h[i], NULL);
      return rc;
    }
    uv_unref((uv_handle_t *)&h[i]);
  }
  return 0;
}

/* ------------------------------------------------------------------ signals */

/* Send [sig] to the job's process group and remember it for the record. */
static void signal_group(SupJob *j, int sig, bool record)
{
  /* Never kill(-0): that is our own group. After the reap the pgid may
   * belong to someone else. */
  if (j->pid <= 0 || j->reaped) return;
  kill(-j->pid, sig);
  if (record && j->nsigs < MAX_SIGNALS) {
    j->sigs[j->nsigs].sig = sig;
    j->sigs[j->nsigs].at = sup_now_ms() - j->t0;
    j->nsigs++;
  }
}

static void arm_timer(SupJob *j, double ms);
static void job_spawn(SupJob *j);

/* Take [j] out of the pool's list of jobs waiting to retry a spawn. */
static void waiting_remove(SupJob *j)
{
  if (!j->waiting) return;
  SupPool *p = j->pool;
  for (SupJob **pp = &p->waiting; *pp; pp = &(*pp)->wnext)
    if (*pp == j) {
      *pp = j->wnext;
      break;
    }
  j->wnext = NULL;
  j->waiting = false;
  p->nwaiting--;
}

static void timer_cb(uv_timer_t *t)
{
  SupJob *j = container_of(t, SupJob, timer);
  if (j->spawn_err) {
    job_finish(j);
    return;
  }
  if (j->pid == 0) {
    waiting_remove(j);
    job_spawn(j); /* retrying a transient spawn failure */
    return;
  }
  dispatch(j, EV_TIMER, 0);
}

/* Program the timerfd for absolute monotonic [ms] (0: disarm). */
static void program_tfd(SupPool *p, double ms)
{
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (ms > 0) {
    int64_t ns = (int64_t)(ms * 1e6);
    if (ns <= 0) ns = 1;
    its.it_value.tv_sec = (time_t)(ns / 1000000000);
    its.it_value.tv_nsec = (long)(ns % 1000000000);
  }
  timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL);
  p->tfd_due = ms;
}

/* Re-program the timerfd for the earliest deadline left. */
static void reprogram(SupPool *p)
{
  double min = 0;
  for (SupJob *j = p->timed; j; j = j->tnext)
    if (min == 0 || j->due < min) min = j->due;
  program_tfd(p, min);
}

static void timed_unlink(SupJob *j)
{
  SupPool *p = j->pool;
  if (!j->timed) return;
  if (j->tprev) j->tprev->tnext = j->tnext;
  else p->timed = j->tnext;
  if (j->tnext) j->tnext->tprev = j->tprev;
  j->tprev = j->tnext = NULL;
  j->timed = false;
}

/* Stop the job's deadline/grace (a timerfd expiry meant for it is then
 * ignored: spurious wake-ups are harmless). */
static void stop_timer(SupJob *j)
{
  timed_unlink(j);
  uv_timer_stop(&j->timer);
}

/* Arm the job's deadline/grace [ms] from now (replacing any). Falls back
 * to a libuv timer (ms granularity, rounded up) without a timerfd. */
static void arm_timer(SupJob *j, double ms)
{
  SupPool *p = j->pool;
  if (ms < 0) ms = 0;
  stop_timer(j);
  if (p->tfd < 0) {
    uv_update_time(p->loop);
    uint64_t t = (uint64_t)ms;
    if ((double)t < ms) t++;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, t + 1, 0), "uv_timer_start");
    return;
  }
  j->due = sup_now_ms() + ms;
  j->timed = true;
  j->tprev = NULL;
  j->tnext = p->timed;
  if (p->timed) p->timed->tprev = j;
  p->timed = j;
  if (p->tfd_due == 0 || j->due < p->tfd_due) program_tfd(p, j->due);
}

/* The timerfd expired: EV_TIMER to every job whose instant has come. No
 * action of EV_TIMER frees a job (only EV_EXIT does), so the due jobs are
 * first taken out of the list, then dispatched. */
static void tfd_cb(uv_poll_t *h, int status, int events)
{
  SupPool *p = container_of(h, SupPool, tpoll);
  uint64_t expirations;
  ssize_t r = read(p->tfd, &expirations, sizeof expirations);
  (void)r;
  p->tfd_due = 0;
  double now = sup_now_ms();
  SupJob *due = NULL;
  for (SupJob *j = p->timed, *next; j; j = next) {
    next = j->tnext;
    if (j->due <= now) {
      timed_unlink(j);
      j->tnext = due; /* reuse the link for the local list */
      due = j;
    }
  }
  while (due) {
    SupJob *j = due;
    due = j->tnext;
    j->tnext = NULL;
    dispatch(j, EV_TIMER, 0);
  }
  reprogram(p);
}

/* ------------------------------------------------------------------ actions */

typedef void (*Action)(SupJob *j, int arg);

static void act_none(SupJob *j, int arg) { (void)j; (void)arg; }

/* First trigger: [arg] = signal; deadline when SIGTERM from the timer. */
static void stop_with(SupJob *j, int sig, SupStop why)
{
  j->stop = why;
  signal_group(j, sig, true);
  signal_group(j, SIGCONT, false);
  j->state = SUP_ST_STOPPING;
  arm_timer(j, j->pool->cfg.grace_ms);
}

static void act_deadline(SupJob *j, int arg) { stop_with(j, SIGTERM, SUP_STOP_DEADLINE); }

static void act_cancel(SupJob *j, int arg) { stop_with(j, arg ? arg : SIGINT, SUP_STOP_CANCEL); }

/* The grace (after a signal, a final frame or an early EOF) ran out. */
static void act_grace_kill(SupJob *j, int arg)
{
  if (j->state == SUP_ST_STOPPING) j->kill_after_signal = true;
  signal_group(j, SIGKILL, true);
  signal_group(j, SIGCONT, false);
  j->state = SUP_ST_KILLING;
}

/* Final frame or EOF while running: stop the deadline, SIGKILL if the
 * worker has not exited within the grace. */
static void act_drain(SupJob *j, int arg)
{
  j->state = SUP_ST_DRAINING;
  arm_timer(j, j->pool->cfg.grace_ms);
}

static void act_protocol_kill(SupJob *j, int arg)
{
  stop_timer(j);
  signal_group(j, SIGKILL, true);
  j->state = SUP_ST_KILLING;
}

static void act_exit(SupJob *j, int arg) { job_finish(j); }

static const Action sup_actions[SUP_ST__COUNT][EV__COUNT] = {
  /*                 TIMER           CANCEL      FINAL      EOF        PROTOCOL           EXIT */
  [SUP_ST_RUNNING] = {act_deadline, act_cancel, act_drain, act_drain, act_protocol_kill, act_exit},
  [SUP_ST_STOPPING] = {act_grace_kill, act_none, act_none, act_none, act_protocol_kill, act_exit},
  [SUP_ST_DRAINING] = {act_grace_kill, act_none, act_none, act_none, act_protocol_kill, act_exit},
  [SUP_ST_KILLING] = {act_none, act_none, act_none, act_none, act_none, act_exit},
  [SUP_ST_DEAD] = {act_none, act_none, act_none, act_none, act_none, act_none},
};

static void dispatch(SupJob *j, Event ev, int arg) { sup_actions[j->state][ev](j, arg); }

/* ------------------------------------------------------------------ events */

bool sup_log_full(const SupEventLog *log, size_t max_items, size_t max_bytes)
{
  return log->received > log->count || log->count >= max_items || log->json.len >= max_bytes;
}

bool sup_log_add(SupEventLog *log, const char *item, size_t len, size_t max_items,
                 size_t max_bytes)
{
  size_t sep = log->count ? 1 : 0;
  if (sup_log_full(log, max_items, max_bytes) || len > max_bytes - log->json.len - sep) {
    sup_log_drop(log);
    return false;
  }
  if (sep) buf_putc(&log->json, ',');
  buf_append(&log->json, item, len);
  log->count++;
  log->received++;
  return true;
}

void sup_log_drop(SupEventLog *log) { log->received++; }

uint64_t sup_log_dropped(const SupEventLog *log) { return log->received - log->count; }

void sup_log_free(SupEventLog *log)
{
  buf_free(&log->json);
  log->count = 0;
  log->received = 0;
}

/* Where to render the next event for [log]: the pool's scratch buffer,
 * empty; or NULL when the log keeps no more (the event is counted as
 * dropped, and need not be rendered). */
static Buf *log_begin(SupJob *j, SupEventLog *log)
{
  SupPool *p = j->pool;
  if (sup_log_full(log, p->cfg.max_events, p->cfg.max_event_bytes)) {
    sup_log_drop(log);
    return NULL;
  }
  buf_clear(&p->scratch);
  return &p->scratch;
}

/* Keep the event rendered since log_begin, if it fits. */
static void log_end(SupJob *j, SupEventLog *log)
{
  SupPool *p = j->pool;
  sup_log_add(log, p->scratch.data, p->scratch.len, p->cfg.max_events, p->cfg.max_event_bytes);
  if (p->scratch.cap > (1u << 20)) buf_free(&p->scratch);
}

static void take_final(SupJob *j, const IpcFinal *f)
{
  j->got_final = true;
  j->f_status = f->status;
  ipc_to_json(&j->f_value, &f->value);
  ipc_to_json(&j->f_error_value, &f->error_value);
  j->f_error = xstrdup(f->error);
  j->f_diag = xstrdup(f->diagnostic);
  j->f_signal = xstrdup(f->signal);
  j->f_hard_stop = f->hard_stop;
  j->f_exit_code = f->exit_code;
  j->f_limit_memory = f->limit && !strcmp(f->limit, "memory");
  /* A returned Err(msg): {"$harn": "result", ok: false, value: msg}. */
  const msgpack_object *v = &f->value;
  if (v->type == MSGPACK_OBJECT_MAP) {
    bool is_result = false, ok = true;
    const msgpack_object *val = NULL;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
      const msgpack_object_kv *kv = &v->via.map.ptr[i];
      if (kv->key.type != MSGPACK_OBJECT_STR) continue;
      const char *k = kv->key.via.str.ptr;
      size_t kl = kv->key.via.str.size;
      if (kl == 5 && !memcmp(k, "$harn", 5) && kv->val.type == MSGPACK_OBJECT_STR &&
          kv->val.via.str.size == 6 && !memcmp(kv->val.via.str.ptr, "result", 6))
        is_result = true;
      else if (kl == 2 && !memcmp(k, "ok", 2) && kv->val.type == MSGPACK_OBJECT_BOOLEAN)
        ok = kv->val.via.boolean;
      else if (kl == 5 && !memcmp(k, "value", 5))
        val = &kv->val;
    }
    if (is_result && !ok) {
      if (val && val->type == MSGPACK_OBJECT_STR) {
        j->f_err_result = strndup(val->via.str.ptr, val->via.str.size);
      } else {
        Buf b = {0};
        if (val) ipc_to_json(&b, val);
        j->f_err_result = buf_take(&b);
      }
    }
  }
  buf_putc(&j->f_trace, '[');
  for (size_t i = 0; i < f->trace_len; i++) {
    const IpcTraceEntry *t = &f->trace[i];
    if (i) buf_putc(&j->f_trace, ',');
    buf_puts(&j->f_trace, "{\"fn\":");
    sup_json_cstr(&j->f_trace, t->fn);
    buf_puts(&j->f_trace, ",\"line\":");
    sup_json_int(&j->f_trace, (long long)t->line);
    buf_puts(&j->f_trace, ",\"col\":");
    sup_json_int(&j->f_trace, (long long)t->col);
    buf_puts(&j->f_trace, ",\"file\":");
    sup_json_cstr(&j->f_trace, t->file);
    buf_putc(&j->f_trace, '}');
  }
  buf_putc(&j->f_trace, ']');
  sup_json_counters(&j->f_counters, &f->counters, SUP_COUNTERS_ALL, false);
  if (f->capabilities.type == MSGPACK_OBJECT_MAP) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, f->capabilities) == 0) buf_append(&j->f_caps_obj, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
  }
}

/* How a counter of each type is written into a record (HARN_COUNTERS). */
#define JSON_COUNTER_NUM(b, c, name, ms) ((ms) ? sup_json_ms(b, (c)->name) : sup_json_num(b, (c)->name))
#define JSON_COUNTER_UINT(b, c, name, ms) sup_json_uint(b, (unsigned long long)(c)->name)
#define JSON_COUNTER_UINT_OPT(b, c, name, ms)                        \
  ((c)->has_##name ? sup_json_uint(b, (unsigned long long)(c)->name) \
                   : buf_puts(b, "null"))
#define JSON_COUNTER_INT(b, c, name, ms) sup_json_int(b, (long long)(c)->name)

void sup_json_counters(Buf *b, const IpcCounters *c, uint32_t known, bool ms)
{
  const char *sep = "{\"";
#define X(name, type, source)                                        \
  buf_puts(b, sep);                                                  \
  buf_puts(b, #name "\":");                                          \
  if (known & SUP_COUNTER_BIT(name)) JSON_COUNTER_##type(b, c, name, ms); \
  else buf_puts(b, "null");                                          \
  sep = ",\"";
  HARN_COUNTERS(X)
#undef X
  buf_putc(b, '}');
}

static void handle_msg(SupJob *j, IpcMsg *m)
{
  switch (m->type) {
  case IPC_MSG_STARTED:
    j->has_started = true;
    j->worker_pid = m->u.started.pid;
    break;
  case IPC_MSG_OUTPUT: {
    size_t cap = j->pool->cfg.max_output;
    size_t n = m->u.output.len;
    j->output_total += n;
    if (j->output.len < cap) {
      size_t take = cap - j->output.len < n ? cap - j->output.len : n;
      buf_append(&j->output, m->u.output.data, take);
      /* the same bytes by stream: each is a part of output, so within
       * the same cap, and truncated where output is */
      buf_append(&j->stream_out[m->u.output.stream == 2], m->u.output.data, take);
      if (take < n) j->output_truncated = true;
    } else if (n) {
      j->output_truncated = true;
    }
    break;
  }
  case IPC_MSG_STEP: {
    Buf *b = log_begin(j, &j->steps);
    if (!b) break;
    ipc_to_json(b, &m->u.step.record);
    log_end(j, &j->steps);
    break;
  }
  case IPC_MSG_EMIT: {
    Buf *b = log_begin(j, &j->emits);
    if (!b) break;
    buf_puts(b, "{\"name\":");
    sup_json_cstr(b, m->u.emit.name);
    buf_puts(b, ",\"data\":");
    ipc_to_json(b, &m->u.emit.data);
    buf_putc(b, '}');
    log_end(j, &j->emits);
    break;
  }
  case IPC_MSG_LIFECYCLE: {
    const IpcLifecycle *l = &m->u.lifecycle;
    Buf *b = log_begin(j, &j->lifecycle);
    if (!b) break;
    buf_puts(b, "{\"event\":");
    sup_json_cstr(b, l->event);
    buf_puts(b, ",\"payload\":");
    ipc_to_json(b, &l->payload);
    buf_puts(b, ",\"control\":");
    sup_json_cstr(b, l->control);
    buf_puts(b, ",\"hooks\":");
    ipc_to_json(b, &l->hooks);
    buf_putc(b, '}');
    log_end(j, &j->lifecycle);
    break;
  }
  case IPC_MSG_FINAL:
    take_final(j, &m->u.final);
    break;
  case IPC_MSG_HOST_CALL:
    sup_broker_call(j, &m->u.host_call);
    break;
  case IPC_MSG_HOST_CANCEL:
    sup_broker_cancel(j, m->u.host_cancel.id);
    break;
  case IPC_MSG_SANDBOX: {
    const msgpack_object *a = &m->u.sandbox.applied;
    buf_clear(&j->sandbox);
    ipc_to_json(&j->sandbox, a);
    for (uint32_t i = 0; i < a->via.map.size; i++) {
      const msgpack_object_kv *kv = &a->via.map.ptr[i];
      if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 7 &&
          !memcmp(kv->key.via.str.ptr, "seccomp", 7) && kv->val.type == MSGPACK_OBJECT_BOOLEAN)
        j->seccomp = kv->val.via.boolean;
    }
    break;
  }
  default:
    break;
  }
}

void sup_event_json(Buf *out, const IpcMsg *m)
{
  Buf b = {0};
  int rc = -1;
  IpcEnvelope env = {m->job, m->attempt, m->seq, m->t_ms};
  switch (m->type) {
  case IPC_MSG_STARTED: rc = ipc_encode_started(&b, &env, &m->u.started); break;
  case IPC_MSG_OUTPUT:
    /* Output data is bin on the wire; show it as text in JSON lines. */
    rc = ipc_encode_output(&b, &env, m->u.output.stream, NULL, 0);
    break;
  case IPC_MSG_STEP: rc = ipc_encode_step(&b, &env, &m->u.step.record); break;
  case IPC_MSG_EMIT: rc = ipc_encode_emit(&b, &env, m->u.emit.name, &m->u.emit.data); break;
  case IPC_MSG_LIFECYCLE: rc = ipc_encode_lifecycle(&b, &env, &m->u.lifecycle); break;
  case IPC_MSG_FINAL: rc = ipc_encode_final(&b, &env, &m->u.final); break;
  case IPC_MSG_SANDBOX: rc = ipc_encode_sandbox(&b, &env, &m->u.sandbox.applied); break;
  case IPC_MSG_HOST_CALL:
    rc = ipc_encode_host_call(&b, &env, m->u.host_call.id, m->u.host_call.cap, m->u.host_call.op,
                              &m->u.host_call.args);
    break;
  case IPC_MSG_HOST_CANCEL: rc = ipc_encode_host_cancel(&b, &env, m->u.host_cancel.id); break;
  default: break;
  }
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  if (rc == 0 && b.len > IPC_HEADER_SIZE &&
      msgpack_unpack_next(&up, b.data + IPC_HEADER_SIZE, b.len - IPC_HEADER_SIZE, &off) ==
          MSGPACK_UNPACK_SUCCESS && up.data.type == MSGPACK_OBJECT_MAP) {
    const msgpack_object_map *map = &up.data.via.map;
    buf_putc(out, '{');
    for (uint32_t i = 0; i < map->size; i++) {
      if (i) buf_putc(out, ',');
      ipc_to_json(out, &map->ptr[i].key);
      buf_putc(out, ':');
      const msgpack_object *k = &map->ptr[i].key;
      if (m->type == IPC_MSG_OUTPUT && k->type == MSGPACK_OBJECT_STR && k->via.str.size == 4 &&
          !memcmp(k->via.str.ptr, "data", 4))
        sup_json_str(out, m->u.output.data, m->u.output.len);
      else
        ipc_to_json(out, &map->ptr[i].val);
    }
    buf_putc(out, '}');
  } else {
    buf_printf(out, "{\"type\":\"%s\",\"seq\":%llu}", ipc_msg_name(m->type),
               (unsigned long long)m->seq);
  }
  msgpack_unpacked_destroy(&up);
  buf_free(&b);
}

static void protocol_error(SupJob *j, int code)
{
  if (j->protocol) return;
  if (j->got_final) {
    /* docs/RUNTIME.md 9.4: after an accepted final frame, only logged. */
    j->ignored_after_final++;
    return;
  }
  j->protocol = true;
  const char *why = ipc_decoder_error(j->dec);
  j->protocol_text = xstrdup(why && *why ? why : ipc_strerror(code));
  dispatch(j, EV_PROTOCOL, 0);
}

/* Feed bytes from the event pipe and act on every complete frame. */
static void feed(SupJob *j, const char *data, size_t len)
{
  if (j->protocol || j->ignored_after_final) return;
  int rc = ipc_decoder_feed(j->dec, data, len);
  for (;;) {
    IpcMsg m;
    memset(&m, 0, sizeof m);
    if (rc == 0) rc = ipc_decoder_next(j->dec, &m);
    if (rc == 0) break;
    if (rc < 0) {
      protocol_error(j, rc);
      break;
    }
    handle_msg(j, &m);
    if (j->pool->hooks.on_event) j->pool->hooks.on_event(j, &m, j->pool->hooks.ud);
    bool fin = m.type == IPC_MSG_FINAL;
    ipc_msg_free(&m);
    if (fin) dispatch(j, EV_FINAL, 0);
    rc = 0;
  }
}

static char read_buf[64 * 1024];

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  buf->base = read_buf;
  buf->len = sizeof read_buf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  SupJob *j = container_of((uv_pipe_t *)s, SupJob, ev_pipe);
  if (nread > 0) {
    feed(j, buf->base, (size_t)nread);
    return;
  }
  if (nread == 0) return;
  /* EOF or a read error: the worker closed its end (or died). */
  uv_read_stop(s);
  j->ev_reading = false;
  j->eof = true;
  if (!j->protocol && !j->got_final && ipc_decoder_finish(j->dec) == IPC_E_TRUNCATED) {
    /* A partial trailing frame is dropped (9.4): not a protocol error. */
  }
  dispatch(j, EV_EOF, 0);
}

/* ------------------------------------------------------------------ decide */

void sup_decide(const SupFacts *f, SupVerdict *v)
{
  memset(v, 0, sizeof *v);
  char *reason = v->reason;
  size_t rs = sizeof v->reason;
  bool signaled = !f->spawn_err && WIFSIGNALED(f->wstatus);
  if (signaled) v->term_signal = WTERMSIG(f->wstatus);
  if (f->got_final) {
    if (f->stop == SUP_STOP_DEADLINE) {
      v->status = SUP_STATUS_TIMEOUT;
      snprintf(reason, rs, "deadline");
    } else if (f->stop == SUP_STOP_CANCEL) {
      v->status = SUP_STATUS_CANCELLED;
      snprintf(reason, rs, "cancel");
    } else if (f->f_status == IPC_STATUS_OK && f->f_err_result) {
      v->status = SUP_STATUS_ERROR; /* one verdict: a failed job in a batch too */
      snprintf(reason, rs, "returned_err");
    } else if (f->f_status == IPC_STATUS_OK) {
      v->status = SUP_STATUS_OK;
    } else if (f->f_status == IPC_STATUS_ERROR) {
      v->status = SUP_STATUS_ERROR;
      snprintf(reason, rs, "%s", f->f_limit_memory ? "memory" : "error");
    } else {
      v->status = SUP_STATUS_CANCELLED;
      snprintf(reason, rs, "signal:%s", f->f_signal ? f->f_signal : "unknown");
    }
  } else if (f->kill_after_signal) {
    v->status = SUP_STATUS_KILLED;
    snprintf(reason, rs, "%s", f->stop == SUP_STOP_DEADLINE ? "deadline" : "cancel");
  } else if (f->protocol) {
    v->status = SUP_STATUS_CRASHED;
    snprintf(reason, rs, "protocol");
  } else if (f->watch_err) {
    v->status = SUP_STATUS_CRASHED;
    snprintf(reason, rs, "watch:%s", uv_err_name(f->watch_err));
  } else if (f->spawn_err == -ECANCELED) {
    v->status = SUP_STATUS_CANCELLED; /* cancelled while waiting to retry its spawn */
    snprintf(reason, rs, "cancel");
  } else if (f->spawn_err) {
    v->status = SUP_STATUS_CRASHED;
    snprintf(reason, rs, "spawn:%s", uv_err_name(f->spawn_err));
  } else if (signaled && WTERMSIG(f->wstatus) == SIGSYS && f->seccomp) {
    v->status = SUP_STATUS_CRASHED;
    snprintf(reason, rs, "seccomp");
  } else if (signaled && WTERMSIG(f->wstatus) == SIGXCPU && f->cpu_limited) {
    v->status = SUP_STATUS_KILLED;
    snprintf(reason, rs, "cpu");
  } else if (!signaled && f->real_worker && WEXITSTATUS(f->wstatus) == WRK_EXIT_OOM) {
    v->status = SUP_STATUS_CRASHED;
    snprintf(reason, rs, "oom");
  } else {
    v->status = SUP_STATUS_CRASHED;
    if (signaled)
      snprintf(reason, rs, "signal:%s", sup_signame(WTERMSIG(f->wstatus)));
    else
      snprintf(reason, rs, "exit:%d", WEXITSTATUS(f->wstatus));
  }
  /* The exit code: the status table's, or for the two that depend on the
   * run, the pipeline's int (ok) or 128 + the signal (cancelled). */
  v->exit_code = statuses[v->status].exit;
  if (v->status == SUP_STATUS_OK) {
    v->exit_code = f->f_exit_code < 0 ? 0 : f->f_exit_code > 255 ? 255 : (int)f->f_exit_code;
  } else if (v->status == SUP_STATUS_CANCELLED) {
    int sig = SIGINT;
    if (f->stop != SUP_STOP_CANCEL && f->f_signal) {
      int named = signame_number(f->f_signal); /* SIGTERM, SIGINT or SIGHUP (codec.c) */
      if (named) sig = named;
    }
    v->exit_code = HARN_EXIT_SIGNAL_BASE + sig;
  }
}

static double job_cpu_ms(const SupJob *j)
{
  return j->spec.cpu_ms > 0 ? j->spec.cpu_ms : j->pool->cfg.cpu_ms;
}

static uint64_t job_memory(const SupJob *j)
{
  return j->spec.memory ? j->spec.memory : j->pool->cfg.memory;
}

uint64_t sup_address_space(uint64_t memory)
{
  /* The VM's own limit hits first (reason `memory`); the kernel's is a
   * backstop with room for the allocator's slack, the bytecode and the
   * stacks: 2x the heap + 512 MiB, or 4 GiB without a heap limit. */
  if (!memory) return 4ull << 30;
  uint64_t as;
  if (__builtin_mul_overflow(memory, 2u, &as) || __builtin_add_overflow(as, 512ull << 20, &as))
    return UINT64_MAX; /* no wrap-around to a tiny limit: the kernel clamps it */
  return as;
}

static void decide(SupJob *j, SupOutcome *o)
{
  SupFacts f = {
    .got_final = j->got_final,
    .f_status = j->f_status,
    .f_signal = j->f_signal,
    .f_exit_code = j->f_exit_code,
    .stop = j->stop,
    .kill_after_signal = j->kill_after_signal,
    .protocol = j->protocol,
    .spawn_err = j->spawn_err,
    .watch_err = j->watch_err,
    .wstatus = j->wstatus,
    .seccomp = j->seccomp,
    .f_limit_memory = j->f_limit_memory,
    .f_err_result = j->f_err_result != NULL,
    .real_worker = j->pool->entry != NULL,
    .cpu_limited = job_cpu_ms(j) > 0,
  };
  static SupVerdict v; /* o->reason points into it during on_done */
  sup_decide(&f, &v);
  memset(o, 0, sizeof *o);
  o->status = v.status;
  o->reason = v.reason[0] ? v.reason : NULL;
  o->exit_code = v.exit_code;
  o->term_signal = v.term_signal;
  o->error_text = j->f_error;
  o->diagnostic = j->f_diag;
  o->err_result = j->f_err_result;
  o->start_epoch_ms = j->epoch0;
  o->duration_ms = j->end - j->t0;
  o->output_bytes = j->output_total;
}

static void iso_time(Buf *b, double epoch_ms)
{
  time_t secs = (time_t)(epoch_ms / 1000.0);
  int ms = (int)(epoch_ms - (double)secs * 1000.0);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char tmp[40];
  strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
  size_t n = strlen(tmp);
  if (ms >= 0 && ms < 1000) {
    tmp[n++] = '.';
    tmp[n++] = (char)('0' + ms / 100);
    tmp[n++] = (char)('0' + ms / 10 % 10);
    tmp[n++] = (char)('0' + ms % 10);
    tmp[n++] = 'Z';
    buf_putc(b, '"');
    buf_append(b, tmp, n);
    buf_putc(b, '"');
  } else {
    buf_printf(b, "\"%s.%03dZ\"", tmp, ms);
  }
}

/* The record's `capabilities` (docs/sandbox.md "Capabilities"): what the
 * supervisor granted, and what the worker reports it used and was denied
 * (the final frame's `capabilities`: {used, denied}). Only for a pool
 * that grants something, or a worker that reports something (a
 * sandboxed job without grants whose program tried a file builtin). */
static void record_capabilities(SupJob *j, Buf *b)
{
  const SupPoolConfig *c = &j->pool->cfg;
  Buf net_used = {0}, net_denied = {0};
  bool net = sup_net_record(j, &net_used, &net_denied);
  if (!c->ngrants && !c->scratch && !j->f_caps_obj.len && !net && !j->host) return;
  buf_puts(b, ",\"capabilities\":{\"granted\":{\"read\":[");
  bool first = true;
  for (int i = 0; i < c->ngrants; i++) {
    if (!first) buf_putc(b, ',');
    first = false;
    sup_json_name(b, c->grants[i].path);
  }
  buf_puts(b, "],\"write\":[");
  first = true;
  for (int i = 0; i < c->ngrants; i++) {
    if (!c->grants[i].write) continue;
    if (!first) buf_putc(b, ',');
    first = false;
    sup_json_name(b, c->grants[i].path);
  }
  buf_puts(b, "],\"scratch\":");
  if (j->scratch_path) sup_json_name(b, j->scratch_path);
  else buf_puts(b, "null");
  buf_puts(b, ",\"max_write_bytes\":");
  sup_json_uint(b, (unsigned long long)c->max_write_bytes);
  if (j->host) buf_puts(b, ",\"net\":true"); /* --allow-net: the broker serves it */
  buf_puts(b, "},\"used\":");
  /* the worker's report, as it sent it (a 9.3 value, validated) */
  const msgpack_object *used = NULL, *denied = NULL;
  msgpack_zone z;
  msgpack_object o;
  bool have = false;
  if (j->f_caps_obj.len) {
    msgpack_zone_init(&z, 1024);
    size_t off = 0;
    have = msgpack_unpack(j->f_caps_obj.data, j->f_caps_obj.len, &off, &z, &o) ==
           MSGPACK_UNPACK_SUCCESS;
    if (have) {
      used = ipc_map_get(&o, "used");
      denied = ipc_map_get(&o, "denied");
    }
  }
  /* the worker's `used` map, and the broker's `net` list after its entries */
  size_t mark = b->len;
  if (used && used->type == MSGPACK_OBJECT_MAP) ipc_to_json(b, used);
  else buf_puts(b, "{}");
  if (j->host) {
    b->len--; /* the closing brace */
    if (b->len > mark + 1) buf_putc(b, ',');
    buf_puts(b, "\"net\":[");
    if (net_used.len) buf_append(b, net_used.data, net_used.len);
    buf_puts(b, "]}");
  }
  buf_puts(b, ",\"denied\":");
  mark = b->len;
  if (denied && denied->type == MSGPACK_OBJECT_ARRAY) ipc_to_json(b, denied);
  else buf_puts(b, "[]");
  if (net_denied.len) {
    b->len--; /* the closing bracket */
    if (b->len > mark + 1) buf_putc(b, ',');
    buf_append(b, net_denied.data, net_denied.len);
    buf_putc(b, ']');
  }
  buf_free(&net_used);
  buf_free(&net_denied);
  if (j->f_caps_obj.len) msgpack_zone_destroy(&z);
  buf_putc(b, '}');
}

static void build_record(SupJob *j, const SupOutcome *o)
{
  Buf *b = &j->record;
  buf_puts(b, "{\"id\":");
  sup_json_name(b, j->spec.id); /* reversible for ids that are not UTF-8 (json.c) */
  buf_puts(b, ",\"attempt\":");
  sup_json_int(b, j->spec.attempt);
  buf_puts(b, ",\"file\":");
  sup_json_name(b, j->spec.file);
  buf_puts(b, ",\"status\":\"");
  buf_puts(b, sup_status_name(o->status));
  buf_putc(b, '"');
  if (o->reason) {
    buf_puts(b, ",\"reason\":");
    sup_json_cstr(b, o->reason);
  }
  buf_puts(b, ",\"value\":");
  buf_puts(b, j->got_final && j->f_value.len ? j->f_value.data : "null");
  buf_puts(b, ",\"exit_code\":");
  sup_json_int(b, o->exit_code);
  buf_puts(b, ",\"error\":");
  if (j->got_final && (j->f_error || j->f_diag)) {
    buf_puts(b, "{\"message\":");
    sup_json_cstr(b, j->f_error);
    buf_puts(b, ",\"diagnostic\":");
    sup_json_cstr(b, j->f_diag);
    buf_puts(b, ",\"trace\":");
    buf_puts(b, j->f_trace.len ? j->f_trace.data : "[]");
    buf_puts(b, ",\"value\":");
    buf_puts(b, j->f_error_value.len ? j->f_error_value.data : "null");
    buf_putc(b, '}');
  } else if (j->protocol) {
    buf_puts(b, "{\"message\":");
    sup_json_cstr(b, j->protocol_text);
    buf_puts(b, ",\"diagnostic\":null,\"trace\":[]}");
  } else if (o->reason && !strcmp(o->reason, "oom")) {
    /* The worker could not say it (its stderr is /dev/null under the
     * lock-down, and a failed allocation can send no frame): we can. */
    buf_puts(b, "{\"message\":\"Out of memory: the worker used up its address space (");
    sup_json_uint(b, (unsigned long long)sup_address_space(job_memory(j)));
    buf_puts(b, " bytes, RLIMIT_AS) while reading, compiling or running the program\","
                "\"diagnostic\":null,\"trace\":[]}");
  } else {
    buf_puts(b, "null");
  }
  buf_puts(b, ",\"output\":");
  sup_json_str(b, j->output.data ? j->output.data : "", j->output.len);
  for (int i = 0; i < 2; i++) {
    buf_puts(b, i ? ",\"stderr\":" : ",\"stdout\":");
    sup_json_str(b, j->stream_out[i].data ? j->stream_out[i].data : "", j->stream_out[i].len);
  }
  buf_puts(b, j->output_truncated ? ",\"output_truncated\":true" : ",\"output_truncated\":false");
  static const char *const kinds[3] = {"steps", "lifecycle", "emits"};
  const SupEventLog *logs[3] = {&j->steps, &j->lifecycle, &j->emits};
  for (int i = 0; i < 3; i++) {
    buf_puts(b, ",\"");
    buf_puts(b, kinds[i]);
    buf_puts(b, "\":[");
    buf_append(b, logs[i]->json.data, logs[i]->json.len);
    buf_puts(b, "],\"");
    buf_puts(b, kinds[i]);
    buf_puts(b, sup_log_dropped(logs[i]) ? "_truncated\":true" : "_truncated\":false");
  }
  buf_puts(b, ",\"dropped\":{\"output_bytes\":");
  sup_json_uint(b, (unsigned long long)(j->output_total - j->output.len));
  for (int i = 0; i < 3; i++) {
    buf_puts(b, ",\"");
    buf_puts(b, kinds[i]);
    buf_puts(b, "\":");
    sup_json_uint(b, (unsigned long long)sup_log_dropped(logs[i]));
  }
  buf_putc(b, '}');
  buf_puts(b, ",\"started_at\":");
  iso_time(b, j->epoch0);
  buf_puts(b, ",\"duration_ms\":");
  sup_json_ms(b, o->duration_ms);
  double cpu = (double)j->ru.ru_utime.tv_sec * 1e3 + (double)j->ru.ru_utime.tv_usec / 1e3 +
               (double)j->ru.ru_stime.tv_sec * 1e3 + (double)j->ru.ru_stime.tv_usec / 1e3;
  buf_puts(b, ",\"cpu_ms\":");
  sup_json_ms(b, cpu);
  buf_puts(b, ",\"max_rss_kb\":");
  sup_json_int(b, j->ru.ru_maxrss);
  buf_puts(b, ",\"signals\":[");
  for (int i = 0; i < j->nsigs; i++) {
    buf_printf(b, "%s{\"sig\":\"%s\",\"at_ms\":", i ? "," : "", sup_signame(j->sigs[i].sig));
    sup_json_ms(b, j->sigs[i].at);
    buf_putc(b, '}');
  }
  buf_puts(b, "]");
  buf_puts(b, j->f_hard_stop ? ",\"hard_stop\":true" : ",\"hard_stop\":false");
  buf_puts(b, ",\"counters\":");
  if (j->got_final && j->f_counters.len) {
    buf_append(b, j->f_counters.data, j->f_counters.len);
  } else {
    /* No final frame (killed, crashed, never spawned): the same keys,
     * with what the supervisor measured and received; the VM's own
     * counts are unknown (null). */
    IpcCounters m = {.wall_ms = o->duration_ms, .cpu_ms = cpu,
                     .steps_recorded = j->steps.received, .output_bytes = j->output_total};
    sup_json_counters(b, &m,
                      SUP_COUNTER_BIT(wall_ms) | SUP_COUNTER_BIT(cpu_ms) |
                          SUP_COUNTER_BIT(steps_recorded) | SUP_COUNTER_BIT(output_bytes),
                      true);
  }
  buf_puts(b, ",\"worker\":{\"pid\":");
  if (j->pid > 0) sup_json_int(b, (int)j->pid);
  else buf_puts(b, "null");
  if (j->reaped && WIFEXITED(j->wstatus)) {
    buf_puts(b, ",\"exit\":");
    sup_json_int(b, WEXITSTATUS(j->wstatus));
    buf_puts(b, ",\"signal\":null}");
  }
  else if (j->reaped && WIFSIGNALED(j->wstatus))
    buf_printf(b, ",\"exit\":null,\"signal\":\"%s\"}", sup_signame(WTERMSIG(j->wstatus)));
  else
    buf_puts(b, ",\"exit\":null,\"signal\":null}");
  buf_puts(b, ",\"sandbox\":");
  buf_puts(b, j->sandbox.len ? j->sandbox.data : "null");
  record_capabilities(j, b);
  buf_putc(b, '}');
}

/* ------------------------------------------------------------------ end */

void sup_spec_free(SupSpec *s)
{
  free(s->id);
  free(s->file);
  free(s->program);
  free(s->input_json);
}

/* Release what the job's events filled, and its record: once on_done
 * has run nothing reads them ("Bounded memory"). */
/* Remove the attempt's scratch directory (after its record). */
static void scratch_remove(SupJob *j)
{
  if (j->scratch_fd >= 0) close(j->scratch_fd);
  j->scratch_fd = -1;
  if (j->scratch_path) {
    int rc = sup_remove_tree(j->scratch_path);
    if (rc < 0)
      fprintf(stderr, "harn: job %s: cannot remove its scratch directory %s: %s\n", j->spec.id,
              j->scratch_path, strerror(-rc));
    free(j->scratch_path);
    j->scratch_path = NULL;
  }
}

static void job_drop_data(SupJob *j)
{
  buf_free(&j->output);
  buf_free(&j->stream_out[0]);
  buf_free(&j->stream_out[1]);
  sup_log_free(&j->steps);
  sup_log_free(&j->lifecycle);
  sup_log_free(&j->emits);
  buf_free(&j->f_value);
  buf_free(&j->f_error_value);
  buf_free(&j->f_trace);
  buf_free(&j->f_counters);
  buf_free(&j->record);
  buf_free(&j->sandbox);
  buf_free(&j->f_caps_obj);
}

static void job_free(SupJob *j)
{
  SupPool *p = j->pool;
  scratch_remove(j);
  sup_spec_free(&j->spec);
  buf_free(&j->frame);
  job_drop_data(j);
  free(j->f_error);
  free(j->f_diag);
  free(j->f_signal);
  free(j->f_err_result);
  free(j->protocol_text);
  if (j->dec) ipc_decoder_free(j->dec);
  sup_net_job_free(j);
  free(j);
  p->nalive--;
}

static void close_cb(uv_handle_t *h)
{
  SupJob *j = h->data;
  /* The job pipe may close long before the end; only the closes issued by
   * job_finish (state DEAD) can be the last ones. */
  if (--j->pending_closes == 0 && j->state == SUP_ST_DEAD) job_free(j);
}

static void close_handle(SupJob *j, uv_handle_t *h)
{
  h->data = j;
  j->pending_closes++;
  uv_close(h, close_cb);
}

static void list_remove(SupJob *j)
{
  SupPool *p = j->pool;
  if (j->prev) j->prev->next = j->next;
  else if (p->running == j) p->running = j->next;
  if (j->next) j->next->prev = j->prev;
  j->prev = j->next = NULL;
  if (!p->running) uv_unref((uv_handle_t *)&p->sigchld);
}

/* The worker has exited (or never started): sweep, reap, drain, decide,
 * report, close. Runs once per job. */
static void job_finish(SupJob *j)
{
  SupPool *p = j->pool;
  if (j->state == SUP_ST_DEAD) return;
  if (!j->spawn_err) {
    /* Sweep strays while the zombie leader still pins the pgid. */
    kill(-j->pid, SIGKILL);
    pid_t r;
    do r = wait4(j->pid, &j->wstatus, 0, &j->ru);
    while (r < 0 && errno == EINTR);
    j->reaped = true;
    list_remove(j);
  }
  j->end = sup_now_ms();
  j->state = SUP_ST_DEAD;
  stop_timer(j);

  /* Final drain of whatever the worker wrote before it died: everything is
   * in the pipe already; read without blocking and never wait for EOF. */
  if (j->ev_open) {
    if (j->ev_reading) uv_read_stop((uv_stream_t *)&j->ev_pipe);
    j->ev_reading = false;
    uv_os_fd_t fd;
    if (!j->eof && uv_fileno((uv_handle_t *)&j->ev_pipe, &fd) == 0) {
      size_t budget = IPC_MAX_FRAME + sizeof read_buf;
      while (budget > 0 && !j->protocol) {
        ssize_t n = read(fd, read_buf, sizeof read_buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        feed(j, read_buf, (size_t)n);
        budget = (size_t)n > budget ? 0 : budget - (size_t)n;
      }
    }
  }

  /* every transfer of the job leaves the brokers now, however it ended */
  sup_broker_job_end(j);

  SupOutcome o;
  decide(j, &o);
  if (p->hooks.on_reaped) {
    /* Its slot is free: the owner may start the next job before this
     * one's record is built (the critical path of a batch). */
    p->nreaped++;
    p->hooks.on_reaped(o.status, p->hooks.ud);
    p->nreaped--;
  }
  build_record(j, &o);
  o.record = j->record.data;
  p->nrunning--;
  if (p->hooks.on_done) p->hooks.on_done(j, &o, p->hooks.ud);
  job_drop_data(j);
  scratch_remove(j); /* the worker is gone: nothing writes there any more */

  close_handle(j, (uv_handle_t *)&j->timer);
  if (j->ev_open) close_handle(j, (uv_handle_t *)&j->ev_pipe);
  if (j->job_open) close_handle(j, (uv_handle_t *)&j->job_pipe);
  j->ev_open = j->job_open = false;
}

static SupJob *find_job(SupPool *p, pid_t pid)
{
  for (SupJob *j = p->running; j; j = j->next)
    if (j->pid == pid) return j;
  return NULL;
}

/* Whole-tree kill, part 2 (docs/sandbox.md "Guarantees"). We are a child
 * subreaper, so every process a job started whose parent has died comes
 * back to us, whatever its process group or session (setsid does not
 * help it). Any child of ours that is neither a running worker, a ready
 * spare nor the zygote is therefore a stray of a finished or dying job:
 * SIGKILL it.
 * When it dies its own children come back to us and the next SIGCHLD
 * sweeps them too, so a whole tree goes down level by level. Children are
 * listed from /proc/self/task/<tid>/children (CONFIG_PROC_CHILDREN) of
 * the main thread: it is the only thread that creates children (libuv's
 * pool threads only fdatasync), and the kernel hands reparented strays to
 * the first live thread, the main one, so its list is complete. */
static void sweep_strays(SupPool *p)
{
  /* Opened once; each pread from offset 0 lists the children anew. */
  if (p->kids_fd < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    p->kids_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->kids_fd < 0) return;
  }
  char buf[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = pread(p->kids_fd, buf + len, sizeof buf - 1 - len, (off_t)len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof buf - 1) break; /* the rest is swept next time */
  }
  if (p->closing) {
    /* A closed pool keeps nothing open (it may still reap: the owner can
     * close it from a job's on_done, in the middle of reap_children). */
    close(p->kids_fd);
    p->kids_fd = -1;
  }
  buf[len] = 0;
  char *s = buf, *end;
  for (;;) {
    long pid = strtol(s, &end, 10);
    if (end == s) break;
    s = end;
    if (pid <= 0 || pid == p->zpid || find_job(p, (pid_t)pid) || is_spare(p, (pid_t)pid)) continue;
    kill((pid_t)pid, SIGKILL);
  }
}

/* Look at every exit: jobs' workers first, then (we are a child
 * subreaper) strays of swept groups, which are reaped, and then the sweep.
 * While the zygote is making workers (requests in its queue) a child we do
 * not know may be one of them: the strays' part waits until the queue is
 * empty (reap_deferred; zpoll_cb comes back here), so that no worker is
 * taken for a stray. */
static void reap_children(SupPool *p)
{
  bool ended = false, strays = p->reap_deferred;
  for (SupJob *j = p->running, *next; j; j = next) {
    next = j->next;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)j->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == j->pid) {
      dispatch(j, EV_EXIT, 0);
      ended = true;
    }
  }
  /* Reap every exited child that is not a worker; a worker found here
   * exited meanwhile and goes through its job. Its end may start another
   * job, whose worker the zygote then makes: every step checks again. */
  for (;;) {
    if (p->zhead) {
      p->reap_deferred = true;
      return;
    }
    p->reap_deferred = false;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) break;
    SupJob *w = find_job(p, si.si_pid);
    if (w) {
      dispatch(w, EV_EXIT, 0);
      ended = true;
    } else {
      spare_forget(p, si.si_pid); /* a ready spare died: not a stray's end */
      int st;
      waitpid(si.si_pid, &st, WNOHANG);
      strays = true;
    }
  }
  /* A job ended or a stray died: what they left behind is now ours. */
  if (strays || ended) sweep_strays(p);
}

static void sigchld_cb(uv_signal_t *h, int signum)
{
  (void)signum;
  reap_children(container_of(h, SupPool, sigchld));
}

/* ------------------------------------------------------------------ start */

static void write_cb(uv_write_t *req, int status)
{
  SupJob *j = container_of(req, SupJob, wreq);
  buf_free(&j->frame);
  /* The worker has its frame (or is gone: EPIPE); it then sees EOF --
   * unless the socket carries host-call answers (closed at the reap). */
  if (j->job_open && !j->host) {
    close_handle(j, (uv_handle_t *)&j->job_pipe);
    j->job_open = false;
  }
}

static void job_spawn(SupJob *j);

/* Is the zygote there to ask? It is started at the second spawn of a pool
 * that runs the in-process worker (one job, as for `harn run`, is cheaper
 * to fork directly than to start a zygote for), or when the owner says
 * more jobs will come ([more]: it wants spares); HARN_NO_ZYGOTE=1 disables
 * it. */
static bool zygote_ready(SupPool *p, bool more)
{
  if (p->entry && !p->zygote_tried && (more || p->nspawned++ > 0)) {
    p->zygote_tried = true;
    const char *no = getenv("HARN_NO_ZYGOTE");
    if (!(no && *no && strcmp(no, "0")) && sup_zygote_start(&p->zsock, &p->zpid, !p->cfg.no_sandbox) == 0 &&
        uv_poll_init(p->loop, &p->zpoll, p->zsock) == 0) {
      int rc = uv_poll_start(&p->zpoll, UV_READABLE | UV_DISCONNECT, zpoll_cb);
      if (rc == 0) {
        p->zpoll_open = true;
        uv_unref((uv_handle_t *)&p->zpoll);
      } else {
        /* Without a watch on its replies the zygote is of no use: it sees
         * its socket close and exits; workers are forked directly. */
        fprintf(stderr, "harn: cannot watch the worker zygote (%s); forking workers directly\n",
                uv_strerror(rc));
        uv_close((uv_handle_t *)&p->zpoll, NULL);
        close(p->zsock);
        p->zsock = -1;
      }
    } else if (p->zsock >= 0) {
      close(p->zsock);
      p->zsock = -1;
    }
  }
  return p->entry && p->zsock >= 0;
}

SupJob *sup_pool_start(SupPool *p, SupSpec *spec)
{
  SupJob *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->spec = *spec;
  memset(spec, 0, sizeof *spec);
  j->pool = p;
  j->scratch_fd = -1;
  j->state = SUP_ST_RUNNING;
  p->nrunning++;
  p->nalive++;
  sup_uv_must(uv_timer_init(p->loop, &j->timer), "uv_timer_init");

  j->dec = ipc_decoder_new(IPC_READ_EVENTS, 0);
  if (!j->dec) abort();
  ipc_decoder_expect(j->dec, j->spec.id, j->spec.attempt);
  job_spawn(j);
  return j;
}

/* Test-only fault injection (docs/sandbox.md "Test hooks"), compiled in
 * only with HARN_TEST_HOOKS: HARN_TEST_SPAWN_EAGAIN=N makes the first N
 * spawn attempts of this process fail with EAGAIN, as a fork under a low
 * RLIMIT_NPROC would. Returns 0 or -EAGAIN (always 0 without the hooks). */
static int test_spawn_failure(void)
{
#ifndef HARN_TEST_HOOKS
  return 0;
#else
  static long left = -1;
  if (left < 0) {
    const char *e = getenv("HARN_TEST_SPAWN_EAGAIN");
    left = e && *e ? strtol(e, NULL, 10) : 0;
    if (left < 0) left = 0;
  }
  if (left == 0) return 0;
  left--;
  return -EAGAIN;
#endif
}

/* Make this attempt's scratch directory (--scratch): a fresh directory
 * under $TMPDIR (or /tmp), mode 0700, open. 0 or a negative errno. */
static int scratch_make(SupJob *j)
{
  const char *tmp = getenv("TMPDIR");
  if (!tmp || tmp[0] != '/') tmp = "/tmp";
  size_t n = strlen(tmp) + 32;
  char *path = malloc(n);
  if (!path) abort();
  snprintf(path, n, "%s/harn-scratch-XXXXXX", tmp);
  if (!mkdtemp(path)) {
    int e = -errno;
    free(path);
    return e;
  }
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int e = -errno;
    rmdir(path);
    free(path);
    return e;
  }
  j->scratch_path = path;
  j->scratch_fd = fd;
  return 0;
}

/* The job frame for [j]'s worker into j->frame. Returns 0, or a negative
 * errno with j->frame empty: -E2BIG when the source or input is over the
 * frame limit, -ENOMEM when the encoder ran out of memory. */
static int encode_job(SupJob *j)
{
  SupPool *p = j->pool;
  IpcJob jf;
  memset(&jf, 0, sizeof jf);
  if (j->spec.is_source) {
    jf.source = j->spec.program;
    jf.source_len = strlen(j->spec.program);
    jf.name = j->spec.file;
  } else {
    jf.program = j->spec.program;
  }
  jf.input_json = j->spec.input_json;
  if (j->spec.timeout_ms > 0) {
    jf.has_deadline = true;
    jf.deadline_at_ms = (int64_t)(j->t0 + j->spec.timeout_ms);
  }
  jf.grace_ms = (int64_t)p->cfg.grace_ms;
  jf.count_instructions = p->cfg.count_instructions;
  jf.sandbox = !p->cfg.no_sandbox;
  jf.memory = job_memory(j);
  double cpu = job_cpu_ms(j);
  jf.cpu_ms = cpu > 0 ? (uint64_t)cpu : 0;
  jf.address_space = jf.sandbox ? sup_address_space(jf.memory) : 0;
  /* v3: the grants, whose descriptors go with the frame (docs/sandbox.md
   * "Capabilities"): the pool's, then this attempt's scratch directory */
  IpcGrant g[IPC_MAX_GRANTS];
  j->nfds = 0;
  for (int i = 0; i < p->cfg.ngrants && j->nfds < IPC_MAX_GRANTS; i++) {
    g[j->nfds].path = p->cfg.grants[i].path;
    g[j->nfds].write = p->cfg.grants[i].write;
    j->fds[j->nfds++] = p->cfg.grants[i].fd;
  }
  if (p->cfg.scratch && !j->scratch_path && j->nfds < IPC_MAX_GRANTS) {
    int rc = scratch_make(j);
    if (rc < 0) return rc;
  }
  if (j->scratch_path) {
    g[j->nfds].path = j->scratch_path;
    g[j->nfds].write = true;
    j->fds[j->nfds++] = j->scratch_fd;
    jf.scratch = j->scratch_path;
  }
  jf.grants = g;
  jf.ngrants = (size_t)j->nfds;
  jf.max_write_bytes = p->cfg.max_write_bytes;
  jf.cwd = p->cfg.cwd;
  jf.env = p->cfg.env;
  jf.nenv = p->cfg.nenv;
  jf.deny = p->cfg.deny;
  jf.ndeny = p->cfg.ndeny;
  static const char *const net_cap[] = {"net"};
  j->host = sup_broker_granted(p, "net");
  if (j->host) {
    jf.host = net_cap;
    jf.nhost = 1;
  }
  buf_clear(&j->frame);
  int rc = ipc_encode_job(&j->frame, j->spec.id, j->spec.attempt, &jf);
  if (rc == 0) return 0;
  buf_clear(&j->frame);
  return rc == IPC_E_TOOBIG ? -E2BIG : -ENOMEM;
}

/* Is spawn error [rc] (a negative errno) one that passes: process or
 * memory limits under load (EAGAIN, ENOMEM), fds (EMFILE, ENFILE)? */
static bool spawn_transient(int rc)
{
  return rc == -EAGAIN || rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE;
}

/* The spawn of [j] failed with [rc] (a negative errno). A transient
 * failure (EAGAIN, ENOMEM: process or memory limits under load; EMFILE,
 * ENFILE) is retried a few times with a growing delay before the job is
 * reported crashed/spawn:<error>: the worker never ran, so this is not an
 * attempt. */
static void spawn_failed(SupJob *j, int rc)
{
  SupPool *p = j->pool;
  buf_free(&j->frame);
  bool transient = spawn_transient(rc);
  /* While other jobs run they hold the processes and fds we lack: wait
   * for them (queue) without using up the tries; alone, or when all the
   * others are waiting too, give up after six tries (20 ms .. 640 ms). */
  bool others = p->nrunning - p->nwaiting > 1;
  if (transient && (j->spawn_tries < 6 || others)) {
    int k = j->spawn_tries < 6 ? j->spawn_tries : 5;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, 20u << k, 0), "uv_timer_start");
    if (!others) j->spawn_tries++;
    j->waiting = true;
    j->wnext = p->waiting;
    p->waiting = j;
    p->nwaiting++;
    return;
  }
  j->spawn_err = rc; /* negative errno == libuv error code on Unix */
  sup_uv_must(uv_timer_start(&j->timer, timer_cb, 0, 0), "uv_timer_start");
}

/* Wrap pipe end [fd] of [j]'s worker in [h] (*open: [h] is initialized and
 * must be closed). 0, or a libuv error with [fd] closed. */
static int open_pipe(SupJob *j, uv_pipe_t *h, bool *open, int fd)
{
  int rc = uv_pipe_init(j->pool->loop, h, 0);
  if (rc == 0) {
    *open = true;
    rc = uv_pipe_open(h, fd);
  }
  if (rc != 0) close(fd); /* the handle did not take it */
  return rc;
}

/* A libuv call that wires the running worker of [j] failed ([rc]): the
 * supervisor cannot follow the job, so the group is SIGKILLed at once (as
 * for a protocol error) and the record says crashed, reason
 * `watch:<error>` (sup_decide). */
static void watch_failed(SupJob *j, int rc, const char *what)
{
  fprintf(stderr, "harn: job %s: %s failed (%s); killing its worker\n", j->spec.id, what,
          uv_strerror(rc));
  if (!j->watch_err) j->watch_err = rc;
  dispatch(j, EV_PROTOCOL, 0);
}

/* The worker of [j] exists (sp->pid): wire its pipes, arm its deadline,
 * and deliver a cancel that came while it was being made. */
static void spawn_done(SupJob *j, const SupSpawned *sp)
{
  SupPool *p = j->pool;
  j->pid = sp->pid;
  j->next = p->running;
  if (p->running) p->running->prev = j;
  p->running = j;
  uv_ref((uv_handle_t *)&p->sigchld);

  int rc = open_pipe(j, &j->ev_pipe, &j->ev_open, sp->ev_r);
  if (rc != 0) {
    watch_failed(j, rc, "opening the event pipe");
    if (sp->job_w >= 0) close(sp->job_w);
    buf_free(&j->frame);
    return;
  }
  if (sp->job_w >= 0 && sp->sent == j->frame.len) {
    /* all of the frame is in: keep the socket for host-call answers */
    rc = open_pipe(j, &j->job_pipe, &j->job_open, sp->job_w);
    buf_free(&j->frame);
    if (rc != 0) {
      watch_failed(j, rc, "opening the job socket");
      return;
    }
  } else if (sp->job_w >= 0) {
    /* The frame did not fit in the pipe: the rest goes from the loop. */
    rc = open_pipe(j, &j->job_pipe, &j->job_open, sp->job_w);
    uv_buf_t b = uv_buf_init(j->frame.data + sp->sent, (unsigned)(j->frame.len - sp->sent));
    if (rc == 0) rc = uv_write(&j->wreq, (uv_stream_t *)&j->job_pipe, &b, 1, write_cb);
    if (rc != 0) {
      /* The worker gets a cut job frame: it exits 76 (crashed, exit:76). */
      buf_free(&j->frame);
      if (j->job_open) close_handle(j, (uv_handle_t *)&j->job_pipe);
      j->job_open = false;
    }
  } else {
    buf_free(&j->frame);
  }

  rc = uv_read_start((uv_stream_t *)&j->ev_pipe, alloc_cb, read_cb);
  if (rc != 0) {
    watch_failed(j, rc, "reading the event pipe");
    return;
  }
  j->ev_reading = true;
  if (j->spec.timeout_ms > 0) arm_timer(j, j->spec.timeout_ms - (sup_now_ms() - j->t0));
}

/* Close our ends of the pipes of a worker that gets no job. */
static void close_spawned(SupSpawned *sp)
{
  if (sp->job_w >= 0) close(sp->job_w);
  if (sp->ev_r >= 0) close(sp->ev_r);
  sp->job_w = sp->ev_r = -1;
}

/* ---------------------------------------------------------------- spares
 *
 * Workers made ahead of their jobs (docs/architecture.md "Spare workers").
 * Every worker the zygote makes starts as a spare: a process blocked in
 * read on its empty job pipe, with nothing of any job. A job takes a ready
 * spare (p->ready) when it starts: its frame goes into that pipe
 * (bind_spare) and from there on the worker is the job's. When none is
 * ready the job waits in p->whead..wtail for the next reply of the zygote,
 * and the pool asks for one more if every worker being made is already
 * promised. Besides those, the pool keeps up to p->spares workers ready or
 * being made for the jobs its owner will start next (sup_pool_spares):
 * the clone and the worker's start-up then happen while other jobs run,
 * instead of between one job's end and the next one's start.
 *
 * Invariants: jobs wait only while no spare is ready (nready == 0 ||
 * nwant == 0); nrequested >= nwant (each waiting job has a reply coming);
 * a ready spare has not been reaped (its pid is at least a zombie, so
 * killing it is safe); a spare that gets no job is killed before its
 * pipes are closed (spare_retire), so it never sees EOF and dies silently;
 * the sweep of strays spares the ready ones, and a ready one that dies is
 * dropped where its exit is reaped. */

static void job_start_worker(SupJob *j);

static void spare_free(SupSpare *s)
{
  close_spawned(&s->sp);
  free(s);
}

static void spare_retire(SupSpare *s)
{
  kill(s->sp.pid, SIGKILL);
  spare_free(s);
}

static SupSpare *ready_pop(SupPool *p)
{
  SupSpare *s = p->ready;
  if (s) {
    p->ready = s->next;
    p->nready--;
  }
  return s;
}

/* The link to the ready spare [pid] in p->ready, or NULL. */
static SupSpare **spare_link(SupPool *p, pid_t pid)
{
  for (SupSpare **pp = &p->ready; *pp; pp = &(*pp)->next)
    if ((*pp)->sp.pid == pid) return pp;
  return NULL;
}

static bool is_spare(SupPool *p, pid_t pid) { return spare_link(p, pid) != NULL; }

/* Drop the ready spare [pid] (it died; its exit is being reaped). Returns
 * whether there was one. */
static bool spare_forget(SupPool *p, pid_t pid)
{
  SupSpare **pp = spare_link(p, pid);
  if (!pp) return false;
  SupSpare *s = *pp;
  *pp = s->next;
  p->nready--;
  spare_free(s);
  return true;
}

/* Keep spare [s] ready if the pool wants one more, else retire it. */
static void spare_keep(SupPool *p, SupSpare *s)
{
  if (p->nready >= p->spares) {
    spare_retire(s);
    return;
  }
  s->next = p->ready;
  p->ready = s;
  p->nready++;
}

/* Give the worker of [s] to [j]: its job frame goes into the pipe the
 * worker is reading. False when the worker is gone (EPIPE): [s] is then
 * dropped and [j] untouched. */
static bool bind_spare(SupJob *j, SupSpare *s)
{
  if (sup_feed_job(&s->sp, j->frame.data, j->frame.len, j->fds, j->nfds, j->host) < 0) {
    spare_retire(s);
    return false;
  }
  spawn_done(j, &s->sp);
  free(s);
  return true;
}

/* Ask the zygote for one more worker. 0 or a negative errno. */
static int zrequest(SupPool *p)
{
  SupSpare *s = calloc(1, sizeof *s);
  if (!s) abort();
  int rc = sup_zygote_request(p->zsock, &s->sp);
  if (rc < 0) {
    free(s);
    return rc;
  }
  if (p->ztail) p->ztail->next = s;
  else p->zhead = s;
  p->ztail = s;
  p->nrequested++;
  uv_ref((uv_handle_t *)&p->zpoll);
  return 0;
}

/* The oldest request, whose reply comes next, or NULL. */
static SupSpare *zqueue_pop(SupPool *p)
{
  SupSpare *s = p->zhead;
  if (!s) return NULL;
  p->zhead = s->next;
  if (!p->zhead) {
    p->ztail = NULL;
    uv_unref((uv_handle_t *)&p->zpoll);
  }
  p->nrequested--;
  s->next = NULL;
  return s;
}

/* Let go of every spare: the ready ones are killed; a worker still being
 * made finds its pipes closed (whoever reaps it kills it as a stray). */
static void spares_drop(SupPool *p)
{
  SupSpare *s;
  while ((s = ready_pop(p))) spare_retire(s);
  while ((s = zqueue_pop(p))) spare_free(s);
}

static SupJob *want_pop(SupPool *p)
{
  SupJob *j = p->whead;
  if (!j) return NULL;
  p->whead = j->znext;
  if (!p->whead) p->wtail = NULL;
  p->nwant--;
  j->znext = NULL;
  return j;
}

/* Ask for workers until those ready and those being made cover the
 * waiting jobs plus p->spares. A failed request stops it until the next
 * job starts (spare_failed): spares are worth no retry loop. */
static void top_up(SupPool *p)
{
  while (p->zsock >= 0 && !p->spare_failed && p->nready + p->nrequested < p->nwant + p->spares) {
    int rc = zrequest(p);
    if (rc < 0) {
      p->spare_failed = true;
      if (!spawn_transient(rc)) zygote_lost(p, rc);
      return;
    }
  }
}

void sup_pool_spares(SupPool *p, int n)
{
  p->spares = n > 0 ? n : 0;
  while (p->nready > p->spares) spare_retire(ready_pop(p));
  if (p->spares > 0 && zygote_ready(p, true)) top_up(p);
}

/* Start [j]'s worker. Through the zygote: a ready spare, else the next
 * worker the zygote makes (the job waits in the pool's queue until
 * zpoll_cb reads its pid, while the loop goes on serving the other jobs).
 * Otherwise fork (+exec), synchronously. */
static void job_start_worker(SupJob *j)
{
  SupPool *p = j->pool;
  SupSpawned sp;
  int rc = test_spawn_failure();
  if (rc == 0 && zygote_ready(p, false)) {
    p->spare_failed = false;
    SupSpare *s;
    while ((s = ready_pop(p)))
      if (bind_spare(j, s)) {
        top_up(p);
        return;
      }
    /* a worker being made that no job waits for yet is this one's */
    rc = p->nrequested > p->nwant ? 0 : zrequest(p);
    if (rc == 0) {
      j->znext = NULL;
      if (p->wtail) p->wtail->znext = j;
      else p->whead = j;
      p->wtail = j;
      p->nwant++;
      top_up(p);
      return;
    }
    if (!spawn_transient(rc)) {
      zygote_lost(p, rc);
      rc = 0; /* fork this one */
    }
  }
  if (rc == 0)
    rc = sup_spawn_worker(p->argv, p->entry, j->frame.data, j->frame.len, j->fds, j->nfds, j->host, &sp);
  if (rc < 0) spawn_failed(j, rc);
  else spawn_done(j, &sp);
}

static void job_spawn(SupJob *j)
{
  j->t0 = sup_now_ms();
  j->epoch0 = sup_epoch_ms();
  int rc = encode_job(j);
  if (rc != 0) {
    /* No job frame, so no worker: its source or input does not fit in a
     * frame (crashed, spawn:E2BIG), or memory ran out (spawn:ENOMEM). */
    j->spawn_err = rc;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, 0, 0), "uv_timer_start");
    return;
  }
  job_start_worker(j);
}

/* The zygote is gone or broken ([err]): never ask it again, drop the
 * spares, and fork the workers of the jobs that were waiting for it. (A
 * worker it cloned before it died without telling us is a stray: it has
 * no pipes to us left, and sigchld_cb kills and reaps it.) */
static void zygote_lost(SupPool *p, int err)
{
  if (p->zsock < 0) return;
  fprintf(stderr, "harn: the worker zygote failed (%s); forking workers directly\n",
          strerror(-err));
  uv_close((uv_handle_t *)&p->zpoll, NULL);
  p->zpoll_open = false;
  close(p->zsock);
  p->zsock = -1;
  spares_drop(p);
  SupJob *j;
  while ((j = want_pop(p))) job_start_worker(j);
  if (p->reap_deferred) reap_children(p);
}

/* Replies of the zygote (or its end). */
static void zpoll_cb(uv_poll_t *h, int status, int events)
{
  SupPool *p = container_of(h, SupPool, zpoll);
  (void)events;
  for (;;) {
    pid_t pid = 0;
    int err = 0;
    int r = status < 0 ? status : sup_zygote_reply(p->zsock, &pid, &err);
    if (r == 0) break;
    SupSpare *s = r > 0 ? zqueue_pop(p) : NULL;
    if (!s) {
      zygote_lost(p, r < 0 ? r : -EPROTO); /* gone, or a reply nobody asked for */
      return;
    }
    SupJob *j = want_pop(p);
    if (pid > 0) {
      s->sp.pid = pid;
      if (!j) spare_keep(p, s);
      else if (!bind_spare(j, s)) job_start_worker(j); /* it died at once */
    } else {
      spare_free(s);
      if (j) spawn_failed(j, err);
      else p->spare_failed = true;
    }
  }
  top_up(p);
  /* Exits seen while workers were being made can be looked at now. */
  if (!p->zhead && p->reap_deferred) reap_children(p);
}

void sup_pool_cancel_all(SupPool *p, int sig)
{
  for (SupJob *j = p->running; j; j = j->next) dispatch(j, EV_CANCEL, sig);
  /* A job waiting for its worker, or to retry its spawn, never ran: it
   * ends cancelled now; and no worker is made ahead any more. */
  SupJob *j;
  while ((j = want_pop(p))) {
    j->spawn_err = -ECANCELED;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, 0, 0), "uv_timer_start");
  }
  while (p->waiting) {
    j = p->waiting;
    waiting_remove(j);
    j->spawn_err = -ECANCELED;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, 0, 0), "uv_timer_start");
  }
  sup_pool_spares(p, 0);
}

void sup_job_cancel(SupJob *j, int sig)
{
  SupPool *p = j->pool;
  /* waiting for the zygote's next worker, or to retry its spawn: it never
   * ran, and ends cancelled now (as in sup_pool_cancel_all) */
  for (SupJob **pp = &p->whead, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->znext) {
    if (*pp != j) continue;
    *pp = j->znext;
    if (p->wtail == j) p->wtail = prev;
    p->nwant--;
    j->znext = NULL;
    j->spawn_err = -ECANCELED;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, 0, 0), "uv_timer_start");
    return;
  }
  if (j->waiting) {
    waiting_remove(j);
    j->spawn_err = -ECANCELED;
    sup_uv_must(uv_timer_start(&j->timer, timer_cb, 0, 0), "uv_timer_start");
    return;
  }
  dispatch(j, EV_CANCEL, sig);
}

/* ------------------------------------------------------------------ pool */

/* HARN_WORKER_CMD split on spaces, or NULL (in-process worker). */
static char **worker_command(void)
{
  const char *env = getenv("HARN_WORKER_CMD");
  char **argv;
  if (env && *env) {
    size_t n = 0, cap = 4;
    argv = malloc(cap * sizeof *argv);
    char *copy = xstrdup(env), *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
      if (n + 2 > cap) argv = realloc(argv, (cap *= 2) * sizeof *argv);
      argv[n++] = xstrdup(tok);
    }
    free(copy);
    argv[n] = NULL;
    if (n > 0) return argv;
    free(argv);
  }
  return NULL; /* the in-process worker */
}

int sup_pool_init(SupPool *p, uv_loop_t *loop, const SupPoolConfig *cfg, const SupHooks *hooks)
{
  memset(p, 0, sizeof *p);
  p->zsock = -1;
  p->tfd = -1;
  p->kids_fd = -1;
  p->loop = loop;
  p->cfg = *cfg;
  if (p->cfg.grace_ms < 0) p->cfg.grace_ms = HARN_DEFAULT_GRACE_MS;
  if (p->cfg.max_output == 0) p->cfg.max_output = HARN_DEFAULT_MAX_OUTPUT;
  if (p->cfg.max_events == 0) p->cfg.max_events = SUP_MAX_EVENTS;
  if (p->cfg.max_event_bytes == 0) p->cfg.max_event_bytes = SUP_MAX_EVENT_BYTES;
  if (hooks) p->hooks = *hooks;
  p->argv = cfg->worker_argv ? NULL : worker_command();
  if (cfg->worker_argv) {
    size_t n = 0;
    while (cfg->worker_argv[n]) n++;
    p->argv = malloc((n + 1) * sizeof *p->argv);
    for (size_t i = 0; i <= n; i++) p->argv[i] = xstrdup(cfg->worker_argv[i]);
  }
  p->entry = p->argv ? NULL : wrk_main;
  /* Orphans of a worker's group (grandchildren) are reparented to us rather
   * than to an init that may not reap them; sigchld_cb reaps them. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* A worker that dies before reading its job must not kill us with EPIPE. */
  signal(SIGPIPE, SIG_IGN);
  int rc = sup_signals_start(loop, &p->sigchld, (const int[]){SIGCHLD}, 1, sigchld_cb, NULL);
  if (rc != 0) return rc;
  /* The precise timer (unreferenced: a running job keeps the loop alive
   * through its pipe and the SIGCHLD watcher). Without it (no timerfd, or
   * it cannot be watched) each job's libuv timer carries its deadline. */
  p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (p->tfd >= 0 && uv_poll_init(loop, &p->tpoll, p->tfd) == 0) {
    if (uv_poll_start(&p->tpoll, UV_READABLE, tfd_cb) == 0) {
      uv_unref((uv_handle_t *)&p->tpoll);
      p->tpoll_open = true;
    } else {
      uv_close((uv_handle_t *)&p->tpoll, NULL);
      close(p->tfd);
      p->tfd = -1;
    }
  } else if (p->tfd >= 0) {
    close(p->tfd);
    p->tfd = -1;
  }
  return 0;
}

static void tpoll_closed(uv_handle_t *h)
{
  SupPool *p = container_of((uv_poll_t *)h, SupPool, tpoll);
  close(p->tfd);
  p->tfd = -1;
}

void sup_pool_close(SupPool *p)
{
  sup_net_pool_close(p);
  if (p->closing) return;
  p->closing = true;
  uv_close((uv_handle_t *)&p->sigchld, NULL);
  if (p->tpoll_open) {
    uv_close((uv_handle_t *)&p->tpoll, tpoll_closed);
    p->tpoll_open = false;
  }
  if (p->zpoll_open) {
    uv_close((uv_handle_t *)&p->zpoll, NULL);
    p->zpoll_open = false;
  }
  spares_drop(p); /* the sweep below reaps them all */
  if (p->zsock >= 0) {
    close(p->zsock); /* EOF: the zygote exits at once */
    p->zsock = -1;
  }
  if (p->zpid > 0) {
    /* Reap it (unless sigchld_cb already did: ECHILD). */
    while (waitpid(p->zpid, NULL, 0) < 0 && errno == EINTR) {}
    p->zpid = 0;
  }
  /* Nothing a job started may outlive the pool: kill and reap every child
   * left (strays reparented to us, level by level), for at most 2 s. */
  double until = sup_now_ms() + 2000;
  while (sup_now_ms() < until) {
    sweep_strays(p);
    int st;
    pid_t r = waitpid(-1, &st, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;          /* ECHILD: no child left */
    if (r == 0) usleep(200);   /* killed, not dead yet */
  }
  if (p->kids_fd >= 0) close(p->kids_fd);
  p->kids_fd = -1;
  buf_free(&p->scratch);
  for (size_t i = 0; p->argv && p->argv[i]; i++) free(p->argv[i]);
  free(p->argv);
  p->argv = NULL;
}

int sup_job_signals(const SupJob *j, int *sigs, int cap)
{
  int n = j->nsigs < cap ? j->nsigs : cap;
  for (int i = 0; i < n; i++) sigs[i] = j->sigs[i].sig;
  return n;
}
