/*
 * worker.c: `harn worker`, one job in one VM, events to the supervisor
 * (worker.h; docs/RUNTIME.md 5.1, 5.6 "Worker", 9; docs/protocol.md).
 *
 * Sequence: block SIGTERM/SIGINT/SIGHUP (they normally arrive blocked from
 * the supervisor already), install their handlers, ignore SIGPIPE,
 * unblock; read the job frame from fd 3; hold `started`; open the program
 * file and its directory (the import root) without reading them; lock
 * down and send `sandbox` (docs/sandbox.md "When": nothing the job's
 * author wrote is read before this); read, compile and run the program;
 * send `final`; exit 0. A spare (`--spare`: made by the
 * zygote ahead of its job) has the zygote's handlers already, may wait in
 * that read, exits quietly if the pipe ends before a job (the supervisor
 * retired it), and frees nothing at the end: its process ends with it.
 * No thread is started unless the program writes output (the flusher,
 * below): a trivial job stays single-threaded, sandboxed or not (a
 * thread, and the TLB shootdowns a second CPU in the address space brings
 * to every copy-on-write fault,
 * cost ~15% of such a job). A sandboxed worker creates it after the
 * lock-down: the seccomp filter allows clone with CLONE_THREAD, and the
 * thread inherits the filter.
 *
 * Signals. The handler is async-signal-safe: it stores the first signal
 * number and its CLOCK_MONOTONIC arrival time, counts arrivals, and calls
 * vm_interrupt() once a VM exists. A run that saw a host signal ends with
 * status `cancelled` and `signal` set (5.6), whatever its value or error.
 * Host signals are only ever handled on the VM's thread: the flusher
 * blocks them. A signal that arrives before the VM exists (start-up, while
 * the job is read) is forwarded right after vm_new; the VM keeps a pending
 * signal across the reset that starts a run (interp_reset keeps
 * sig_pending, interp_update_modes re-raises its attention bit), so it is
 * consumed at the program's first safe point, or, in a program that has
 * none, only the final status says `cancelled`.
 *
 * Output and frame order. All frames go through one mutex-protected writer
 * that assigns seq numbers. Program output is buffered (one pending chunk,
 * one stream at a time) and flushed as an `output` frame when 4 KiB are
 * pending, when the other stream is written, 20 ms after the first pending
 * byte (the flusher thread's timer, which also covers a program blocked in
 * a builtin or spinning in a loop; the thread is started with the first
 * output), and before any other frame, so output written before a step record precedes it on the
 * wire.
 *
 * Coalesced frames. The supervisor wakes up once per write it sees, so a
 * frame that is always followed at once by another is held (hold_frame_locked)
 * and written together with the next one, in one write: `started` goes with
 * the `sandbox` frame (or, without the sandbox, alone right before the
 * program is read),
 * the PostFinish `lifecycle` event with `final`, and so does PreFinish when
 * no program code is left to run after it (vm_finish_code_ahead: no
 * on_finish, no hook of a later finish event). Any frame written in between
 * (output, a step record) takes the held ones along, so order and seq are
 * unchanged, and no frame is held while program code runs. A trivial
 * sandboxed job writes twice instead of 5 times.
 *
 * Failure modes. If fd 4 breaks (supervisor gone: EPIPE, SIGPIPE is
 * ignored) the writer goes quiet, the program still runs to its end (the
 * parent-death signal normally kills us first), and the exit code is
 * WRK_EXIT_IO. A final frame that would exceed IPC_MAX_FRAME (a huge
 * result) is replaced by an error final saying so.
 */
#define _GNU_SOURCE
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/defaults.h"
#include "base/signame.h"
#include "ipc/ipc.h"
#include "vm/vm.h"
#include "worker/sandbox.h"

#define FLUSH_BYTES 4096       /* docs/RUNTIME.md 9.2 */
#define FLUSH_NS (20 * 1000000LL)
#define MAX_OUTPUT_CHUNK (1u << 20) /* bytes per output frame */
#define FLUSHER_STACK (256u << 10)  /* the flusher thread's stack */

/* ---- clocks ---------------------------------------------------------------- */

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double epoch_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* ---- signals --------------------------------------------------------------- */

static volatile sig_atomic_t sig_first;  /* first signal number, 0 = none */
static volatile sig_atomic_t sig_count;
static struct timespec sig_first_at;     /* written once, before sig_first */
static Vm *volatile sig_vm;              /* set once the VM exists */

static void on_signal(int signo)
{
  int saved = errno;
  if (!sig_first) {
    clock_gettime(CLOCK_MONOTONIC, &sig_first_at);
    sig_first = signo;
  }
  sig_count++;
  Vm *vm = sig_vm;
  if (vm) vm_interrupt(vm, signo);
  errno = saved;
}

static void host_signal_set(sigset_t *set)
{
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGHUP);
}

void wrk_install_signals(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  host_signal_set(&sa.sa_mask); /* one handler at a time: first-arrival is exact */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, NULL);
}

/* ---- the frame writer ------------------------------------------------------------ */

typedef struct Writer {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int fd;
  bool broken;          /* a write failed: send nothing more */
  bool stop;            /* flusher thread: exit */
  bool flusher_tried;   /* start_flusher ran (first output) */
  bool have_flusher;    /* ... and the thread exists */
  pthread_t flusher;
  const char *job;
  int64_t attempt;
  uint64_t seq;
  int64_t t0;           /* mono_ns when the job was read: t_ms origin */
  Buf pending;          /* buffered output of stream pending_stream */
  int pending_stream;
  int64_t pending_since;/* mono_ns of the first pending byte */
  uint64_t output_bytes;
  Buf frame;            /* scratch for encoded frames */
  Buf held;             /* encoded frames not yet written (see "Coalesced
                           frames" at the top): written with the next frame */
  /* The VM thread's scratch for event bodies (on_vm_event), kept from one
   * event to the next: a zone and a buffer per event cost a worker fresh
   * pages (copy-on-write faults) for each of them. */
  msgpack_sbuffer ev_sb;
  msgpack_zone *ev_zone;
} Writer;

/* A writer of frames to [fd] (its condition variable waits on
 * CLOCK_MONOTONIC, the flusher's clock). */
static void writer_init(Writer *w, int fd)
{
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  w->fd = fd;
}

/* Free what writer_init and the frames made (the flusher is stopped). */
static void writer_free(Writer *w)
{
  msgpack_sbuffer_destroy(&w->ev_sb);
  if (w->ev_zone) msgpack_zone_free(w->ev_zone);
  buf_free(&w->pending);
  buf_free(&w->frame);
  buf_free(&w->held);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
}

static IpcEnvelope next_env(Writer *w)
{
  IpcEnvelope e = {w->job, w->attempt, w->seq, (double)(mono_ns() - w->t0) / 1e6};
  return e;
}

static void write_or_break(Writer *w, const Buf *b)
{
  if (!w->broken && b->len && ipc_write_all(w->fd, b->data, b->len) != 0) {
    w->broken = true;
    fprintf(stderr, "harn worker: writing to the event pipe failed: %s\n", strerror(errno));
  }
}

/* Write the frame in w->frame (encoded with the current seq), preceded in
 * the same write by the held frames, and advance seq. Caller holds the
 * mutex. */
static void send_frame_locked(Writer *w)
{
  if (w->held.len) {
    buf_append(&w->held, w->frame.data, w->frame.len);
    write_or_break(w, &w->held);
    buf_clear(&w->held);
  } else {
    write_or_break(w, &w->frame);
  }
  w->seq++;
  buf_clear(&w->frame);
}

/* Like send_frame_locked, but keep the frame to be written with the next
 * one (or by flush_held_locked). Only for frames that are always followed
 * by another frame without the program running in between. */
static void hold_frame_locked(Writer *w)
{
  if (!w->broken) buf_append(&w->held, w->frame.data, w->frame.len);
  w->seq++;
  buf_clear(&w->frame);
}

/* Send ([hold]: hold, as hold_frame_locked) the frame that the encoder of
 * a `what` frame just put in w->frame, or, when it failed ([rc], an
 * IPC_E_* code), nothing: no frame is ever sent empty or cut short, and seq
 * does not advance, so the stream stays valid. The failure is reported on
 * stderr. When [essential] (`started`, `final`: the supervisor cannot make
 * sense of a stream without them) the writer is also marked broken: nothing
 * more is sent, the worker exits WRK_EXIT_IO, and the supervisor records
 * the job crashed. Returns whether the frame went out (or is held). Caller
 * holds the mutex. */
static bool send_encoded_locked(Writer *w, int rc, const char *what, bool essential, bool hold)
{
  if (rc != 0) {
    buf_clear(&w->frame);
    fprintf(stderr, "harn worker: cannot encode the `%s` frame (%s); %s\n", what, ipc_strerror(rc),
            essential ? "sending nothing more" : "dropped");
    if (essential) w->broken = true;
    return false;
  }
  if (hold) hold_frame_locked(w);
  else send_frame_locked(w);
  return true;
}

/* Write the held frames now. Caller holds the mutex. */
static void flush_held_locked(Writer *w)
{
  write_or_break(w, &w->held);
  buf_clear(&w->held);
}

static void flush_output_locked(Writer *w)
{
  size_t off = 0;
  while (off < w->pending.len) {
    size_t n = w->pending.len - off;
    if (n > MAX_OUTPUT_CHUNK) n = MAX_OUTPUT_CHUNK;
    IpcEnvelope e = next_env(w);
    buf_clear(&w->frame);
    int rc = ipc_encode_output(&w->frame, &e, w->pending_stream, w->pending.data + off, n);
    send_encoded_locked(w, rc, "output", false, false);
    off += n;
  }
  buf_clear(&w->pending);
}

static void start_flusher(Writer *w);

static void on_output(void *ud, int stream, const char *data, size_t len)
{
  Writer *w = ud;
  if (len == 0) return;
  pthread_mutex_lock(&w->mu);
  if (w->pending.len > 0 && w->pending_stream != stream) flush_output_locked(w);
  if (w->pending.len == 0) {
    w->pending_since = mono_ns();
    w->pending_stream = stream;
    if (!w->flusher_tried) start_flusher(w);
    pthread_cond_signal(&w->cv); /* arm the flusher's 20 ms timer */
  }
  buf_append(&w->pending, data, len);
  w->output_bytes += len;
  /* Without the flusher (no thread could be made: e.g. a worker in a PID
   * namespace of its own, where the kernel refuses CLONE_THREAD) nothing
   * would send this before the next frame or 4 KiB: a job that prints and
   * then sleeps would show its output only at the end. Write it now. */
  if (w->pending.len >= FLUSH_BYTES || !w->have_flusher) flush_output_locked(w);
  pthread_mutex_unlock(&w->mu);
}

/* The 20 ms timer: flushes output that nobody else flushed in time. */
static void *flusher_main(void *arg)
{
  Writer *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    if (w->pending.len == 0) {
      pthread_cond_wait(&w->cv, &w->mu);
      continue;
    }
    int64_t due = w->pending_since + FLUSH_NS;
    int64_t now = mono_ns();
    if (now >= due) {
      flush_output_locked(w);
      continue;
    }
    struct timespec ts = {(time_t)(due / 1000000000LL), (long)(due % 1000000000LL)};
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Start the flusher (caller holds the mutex, on the VM's thread). It must
 * never handle a signal, so it starts with every signal blocked. Without
 * it (pthread_create failed) output is still flushed at 4 KiB and before
 * every other frame, only not on the 20 ms timer. */
static void start_flusher(Writer *w)
{
  sigset_t all, old;
  w->flusher_tried = true;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  bool attr_ok = pthread_attr_init(&attr) == 0;
  /* a small stack: it waits, encodes a frame and writes it (a sandboxed
   * worker maps it under RLIMIT_AS, after the lock-down) */
  if (attr_ok) pthread_attr_setstacksize(&attr, FLUSHER_STACK);
  w->have_flusher = pthread_create(&w->flusher, attr_ok ? &attr : NULL, flusher_main, w) == 0;
  if (attr_ok) pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Pack a VM event body into a msgpack object (in [z]); false if the packer
 * failed or the body is not what docs/RUNTIME.md 9.2 says. */
static bool body_object(Vm *vm, const void *body, msgpack_sbuffer *sb, msgpack_zone *z,
                        msgpack_object *out)
{
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  if (!vm_value_pack(vm, body, &pk)) return false;
  size_t off = 0;
  return msgpack_unpack(sb->data, sb->size, &off, z, out) == MSGPACK_UNPACK_SUCCESS;
}

/* VmEventFn: step records, harness.emit, lifecycle events. */
static void on_vm_event(void *ud, Vm *vm, const char *type, const void *body)
{
  Writer *w = ud;
  msgpack_sbuffer_clear(&w->ev_sb);
  if (w->ev_zone) msgpack_zone_clear(w->ev_zone);
  else w->ev_zone = msgpack_zone_new(2048);
  msgpack_zone *z = w->ev_zone;
  msgpack_object o;
  const char *bad = NULL;
  bool hold = false;
  if (!z || !body_object(vm, body, &w->ev_sb, z, &o)) bad = "cannot encode the event body";

  pthread_mutex_lock(&w->mu);
  flush_output_locked(w);
  IpcEnvelope e = next_env(w);
  int rc = 0;
  buf_clear(&w->frame);
  if (!bad && strcmp(type, "step") == 0) {
    if (o.type != MSGPACK_OBJECT_MAP) bad = "step record is not a dict";
    else rc = ipc_encode_step(&w->frame, &e, &o);
  } else if (!bad && strcmp(type, "emit") == 0) {
    char *name = ipc_str_dup(ipc_map_get(&o, "name"));
    const msgpack_object *data = ipc_map_get(&o, "data");
    if (!name) bad = "emit body has no string `name`";
    else rc = ipc_encode_emit(&w->frame, &e, name, data);
    free(name);
  } else if (!bad && strcmp(type, "lifecycle") == 0) {
    IpcLifecycle l;
    memset(&l, 0, sizeof l);
    char *event = ipc_str_dup(ipc_map_get(&o, "event"));
    char *control = ipc_str_dup(ipc_map_get(&o, "control"));
    const msgpack_object *payload = ipc_map_get(&o, "payload");
    const msgpack_object *hooks = ipc_map_get(&o, "hooks");
    if (payload) l.payload = *payload;
    if (hooks) l.hooks = *hooks;
    l.event = event;
    l.control = control;
    if (!event || !control) bad = "lifecycle body needs string `event` and `control`";
    else rc = ipc_encode_lifecycle(&w->frame, &e, &l);
    /* PostFinish is the run's last event: only bounded work (aborting the
     * tasks left, whose step frames flush it) separates it from `final`;
     * so does PreFinish when no on_finish or later hook is there to run */
    hold = event && (strcmp(event, "PostFinish") == 0 ||
                     (strcmp(event, "PreFinish") == 0 && !vm_finish_code_ahead(vm)));
    free(event);
    free(control);
  } else if (!bad) {
    bad = "unknown event type";
  }
  if (!bad && rc != 0)
    bad = rc == IPC_E_TOOBIG ? "event frame exceeds the maximum frame size" : ipc_strerror(rc);
  if (bad) {
    buf_clear(&w->frame);
    fprintf(stderr, "harn worker: dropped a `%s` event: %s\n", type, bad);
  } else if (hold) {
    hold_frame_locked(w);
  } else {
    send_frame_locked(w);
  }
  pthread_mutex_unlock(&w->mu);
}

/* ---- the final frame ------------------------------------------------------------- */

typedef struct Outcome {
  IpcStatus status;
  bool pack_value;      /* value from vm_result_pack */
  bool pack_error_value;
  const char *error;
  const char *diagnostic;
  const char *signal;
  bool hard_stop;
  int64_t exit_code;
  IpcCounters counters;
  const TraceEntry *trace;
  int ntrace;
  const char *limit;    /* "memory": the VM's memory limit ended the run */
} Outcome;

/* Encode the final frame into w->frame. [oversize]: replace the value and
 * error payload by nil (the first attempt did not fit). */
static int encode_final(Writer *w, Vm *vm, const Outcome *oc, bool oversize)
{
  IpcFrame f;
  ipc_frame_init(&f);
  IpcEnvelope e = next_env(w);
  /* the file builtins' report (docs/protocol.md: final `capabilities`) */
  msgpack_sbuffer caps;
  msgpack_sbuffer_init(&caps);
  msgpack_packer cpk;
  msgpack_packer_init(&cpk, &caps, msgpack_sbuffer_write);
  bool has_caps = vm_fs_report_pack(vm, &cpk);
  ipc_frame_begin(&f, IPC_MSG_FINAL, &e, (oc->limit ? 11 : 10) + (has_caps ? 1 : 0));
  msgpack_packer *pk = ipc_frame_packer(&f);
  const char *err = oc->error;
  IpcStatus st = oc->status;
  if (oversize) {
    err = "Runtime error: the job's result exceeds the maximum frame size (16 MiB)";
    if (st == IPC_STATUS_OK) st = IPC_STATUS_ERROR;
  }
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, ipc_status_name(st));
  ipc_pack_str(pk, "value");
  if (oc->pack_value && !oversize) vm_result_pack(vm, pk);
  else msgpack_pack_nil(pk);
  ipc_pack_str(pk, "error");
  ipc_pack_str_or_nil(pk, err);
  ipc_pack_str(pk, "error_value");
  if (oc->pack_error_value && !oversize) vm_error_value_pack(vm, pk);
  else msgpack_pack_nil(pk);
  ipc_pack_str(pk, "diagnostic");
  ipc_pack_str_or_nil(pk, oversize ? NULL : oc->diagnostic);
  ipc_pack_str(pk, "trace");
  msgpack_pack_array(pk, (size_t)oc->ntrace);
  for (int i = 0; i < oc->ntrace; i++) {
    const TraceEntry *t = &oc->trace[i];
    ipc_pack_trace_entry(pk, t->fn, t->line, t->col, t->file);
  }
  ipc_pack_str(pk, "signal");
  ipc_pack_str_or_nil(pk, oc->signal);
  ipc_pack_str(pk, "hard_stop");
  if (oc->hard_stop) msgpack_pack_true(pk);
  else msgpack_pack_false(pk);
  ipc_pack_str(pk, "exit_code");
  msgpack_pack_int64(pk, oversize && oc->status == IPC_STATUS_OK ? 1 : oc->exit_code);
  ipc_pack_str(pk, "counters");
  ipc_pack_counters(pk, &oc->counters);
  if (oc->limit) {
    ipc_pack_str(pk, "limit");
    ipc_pack_str(pk, oc->limit);
  }
  if (has_caps) {
    ipc_pack_str(pk, "capabilities");
    msgpack_sbuffer_write(&f.sbuf, caps.data, caps.size);
  }
  msgpack_sbuffer_destroy(&caps);
  buf_clear(&w->frame);
  int rc = ipc_frame_end(&f, &w->frame);
  ipc_frame_destroy(&f);
  return rc;
}

/* ---- the lock-down -------------------------------------------------------------- */

typedef struct Lockdown {
  Writer *w;
  const IpcJob *job;
  int ev_fd;
  int root_fd;          /* the program's directory (imports), or -1 */
  int ngrants;          /* granted directories at ev_fd + 3 .. (place_grants) */
  int job_fd;           /* the job socket, kept (the host-call channel) */
  bool done;            /* ran (it runs at most once) */
  bool ok;              /* every mandatory protection is in place */
} Lockdown;

/* Before the program's first byte is read: lock down (when the job asks
 * for the sandbox) and send the `sandbox` event (docs/sandbox.md "When").
 * Idempotent. */
static bool lock_down(Lockdown *l)
{
  if (l->done) return l->ok;
  l->done = true;
  l->ok = true;
  if (!l->job->sandbox) {
    /* `started` goes out before the program is read */
    pthread_mutex_lock(&l->w->mu);
    flush_held_locked(l->w);
    pthread_mutex_unlock(&l->w->mu);
    return true;
  }
  /* The 20 ms output flusher is not started here: like an unsandboxed
   * worker, a sandboxed one starts it with its first output (on_output).
   * The filter allows that (clone with CLONE_THREAD, a stack mapped without
   * PROT_EXEC) and the thread inherits the filter, so a job that writes
   * nothing never pays for a thread. (In a PID namespace of its own the
   * kernel refuses the thread; on_output then writes output at once.) */
#ifdef HARN_TEST_HOOKS
  const char *forbidden = getenv("HARN_TEST_FORBIDDEN_SYSCALL");
#endif
  WrkSandboxConfig sc = {l->ev_fd, l->job->cpu_ms, l->job->address_space, l->root_fd,
                         l->ngrants, {0}, l->job->max_write_bytes, l->job_fd};
  for (int i = 0; i < l->ngrants; i++) sc.grant_write[i] = l->job->grants[i].write;
  pthread_mutex_lock(&l->w->mu);
  /* The report is packed straight into the `sandbox` frame (no output can
   * be pending: no instruction has run yet). */
  IpcEnvelope e = next_env(l->w);
  IpcFrame fr;
  ipc_frame_init(&fr);
  ipc_frame_begin(&fr, IPC_MSG_SANDBOX, &e, 1);
  ipc_pack_str(ipc_frame_packer(&fr), "applied");
  l->ok = wrk_sandbox_apply(&sc, ipc_frame_packer(&fr));
  /* No environment in a sandboxed worker (a fork of the supervisor has
   * its copy): env() reads the job's variables, sent as data. */
  clearenv();
  buf_clear(&l->w->frame);
  send_encoded_locked(l->w, ipc_frame_end(&fr, &l->w->frame), "sandbox", false, false);
  ipc_frame_destroy(&fr);
  flush_held_locked(l->w); /* `started`, if the sandbox frame did not take it */
  pthread_mutex_unlock(&l->w->mu);
#ifdef HARN_TEST_HOOKS
  /* Test-only (HARN_TEST_HOOKS builds): "WHAT" for every job, or
   * "WHAT:JOBID" for one job. */
  if (forbidden && *forbidden) {
    const char *colon = strchr(forbidden, ':');
    if (!colon || (l->w->job && !strcmp(colon + 1, l->w->job))) {
      char what[32];
      size_t n = colon ? (size_t)(colon - forbidden) : strlen(forbidden);
      if (n >= sizeof what) n = sizeof what - 1;
      memcpy(what, forbidden, n);
      what[n] = 0;
      wrk_sandbox_forbidden_syscall(what);
    }
  }
#endif
  return l->ok;
}

/* ---- the program's files ------------------------------------------------------------ */

/* Move [fd] to exactly [target] (CLOEXEC), closing [fd]; -1 on failure. */
static int place_at(int fd, int target)
{
  if (fd < 0 || fd == target) return fd;
  int r = dup3(fd, target, O_CLOEXEC);
  close(fd);
  return r;
}

/* Open the entry file [program] and its directory, the import root, by
 * the path the supervisor gave, before any untrusted byte is read
 * (docs/sandbox.md "When"), and before joining the zygote's shared mount
 * namespace (which resets the cwd a relative path needs). Both are lifted
 * above every fd the protocol or the zygote uses (the shared namespaces'
 * fds end below WRK_HIGH_FD) for place_program. The opens are the
 * read-only, O_NOCTTY form a pool filter lets through. *entry gets the fd
 * or -errno; *root the fd or -1. */
#define WRK_HIGH_FD (IPC_EVENT_FD + 3 + IPC_MAX_GRANTS)
static void open_program(const char *program, int *entry, int *root)
{
  int e = open(program, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  int e_errno = e < 0 ? errno : 0;
  const char *slash = strrchr(program, '/');
  int r;
  if (!slash) {
    r = open(".", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  } else if (slash == program) {
    r = open("/", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  } else {
    size_t n = (size_t)(slash - program);
    char *dir = malloc(n + 1);
    if (dir) {
      memcpy(dir, program, n);
      dir[n] = 0;
    }
    r = dir ? open(dir, O_RDONLY | O_NOCTTY | O_CLOEXEC) : -1;
    free(dir);
  }
  if (e >= 0 && e < WRK_HIGH_FD) {
    e = place_at(e, fcntl(e, F_DUPFD_CLOEXEC, WRK_HIGH_FD));
    if (e < 0) e_errno = errno;
  }
  if (r >= 0 && r < WRK_HIGH_FD) r = place_at(r, fcntl(r, F_DUPFD_CLOEXEC, WRK_HIGH_FD));
  *root = r;
  *entry = e >= 0 ? e : e_errno ? -e_errno : -EBADF;
}

/* Place the files open_program opened at [ev_fd] + 1 (the root: fd 5
 * in the standard layout) and [ev_fd] + 2 (the
 * entry), the fds the lock-down keeps and its seccomp filter knows; after
 * wrk_sandbox_enter_shared has closed the namespace fds there. */
static void place_program(int ev_fd, int *entry, int *root)
{
  *root = place_at(*root, ev_fd + 1);
  if (*entry >= 0) {
    *entry = place_at(*entry, ev_fd + 2);
    if (*entry < 0) *entry = -EBADF;
  }
}

/* The granted directories (received with the job frame, lifted to
 * WRK_HIGH_FD and above) placed at [ev_fd] + 3, + 4, ... (fds 7..14 in the
 * standard layout), where the lock-down's Landlock rules and the seccomp
 * filter expect them. Returns how many are there (all, or -1). */
static int place_grants(int ev_fd, int *fds, int n)
{
  for (int i = 0; i < n; i++) {
    fds[i] = place_at(fds[i], ev_fd + 3 + i);
    if (fds[i] < 0) return -1;
  }
  return n;
}

/* ---- the zygote's warm-up ---------------------------------------------------------- */

static void warm_write(void *ud, int stream, const char *data, size_t len) {}

void wrk_warm_up(void)
{
  vm_std_init(); /* every worker the zygote makes inherits it */
  static const char src[] = "pipeline default(task) {\n  return 0\n}\n";
  /* the job frame, as the supervisor sends it */
  IpcJob j;
  memset(&j, 0, sizeof j);
  j.version = IPC_PROTOCOL_VERSION;
  j.source = src;
  j.source_len = sizeof src - 1;
  j.name = "warm-up.harn";
  j.grace_ms = HARN_DEFAULT_GRACE_MS;
  j.sandbox = true;
  Buf jf = {0};
  IpcDecoder *dec = ipc_decoder_new(IPC_READ_JOB, 0);
  IpcMsg msg;
  memset(&msg, 0, sizeof msg);
  if (!dec || ipc_encode_job(&jf, "warm-up", 1, &j) != 0 ||
      ipc_decoder_feed(dec, jf.data, jf.len) != 0 || ipc_decoder_next(dec, &msg) != 1) {
    ipc_decoder_free(dec);
    buf_free(&jf);
    return;
  }
  ipc_decoder_free(dec);
  buf_free(&jf);
  /* a writer that sends nothing */
  Writer w;
  writer_init(&w, -1);
  w.broken = true;
  w.job = msg.job;
  w.attempt = msg.attempt;
  w.t0 = mono_ns();
  IpcStarted st = {IPC_PROTOCOL_VERSION, 1, 1, epoch_ms()};
  IpcEnvelope e = next_env(&w);
  send_encoded_locked(&w, ipc_encode_started(&w.frame, &e, &st), "started", true, false);
  /* the run, its events and its final frame */
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.write = warm_write;
  cfg.import_root = VM_IMPORT_ROOT_NONE; /* a source: nothing to open */
  cfg.job.supervised = true;
  cfg.job.job_id = msg.job;
  cfg.job.attempt = msg.attempt;
  cfg.job.grace_ms = msg.u.job.grace_ms;
  cfg.job.event = on_vm_event;
  cfg.job.event_ud = &w;
  Vm *vm = vm_new(&cfg);
  if (vm) {
    VmStatus vs = vm_run_source(vm, msg.u.job.name, msg.u.job.source, msg.u.job.source_len,
                                msg.u.job.input_json);
    Outcome oc;
    memset(&oc, 0, sizeof oc);
    oc.status = vs == VM_OK ? IPC_STATUS_OK : IPC_STATUS_ERROR;
    oc.pack_value = vs == VM_OK;
    if (encode_final(&w, vm, &oc, false) == 0) send_frame_locked(&w);
    vm_free(vm);
  }
  ipc_msg_free(&msg);
  writer_free(&w);
}

/* ---- entry point ---------------------------------------------------------------- */

/* Stop and join the flusher, if it was started. */
static void stop_flusher(Writer *w)
{
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_signal(&w->cv);
  bool have = w->have_flusher;
  pthread_mutex_unlock(&w->mu);
  if (have) pthread_join(w->flusher, NULL);
}

static int parse_fd(const char *s)
{
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 20) return -1;
  return (int)v;
}

/* The job's variables as NAME=VALUE strings for VmFsConfig.env (into
 * [out], pointing into the returned block, freed by the caller). */
static char *job_env(const IpcJob *job, const char **out)
{
  size_t total = 0;
  for (size_t i = 0; i < job->nenv; i++)
    total += strlen(job->env[i].name) + strlen(job->env[i].value) + 2;
  char *mem = malloc(total + 1), *p = mem;
  if (!mem) return NULL;
  for (size_t i = 0; i < job->nenv; i++) {
    out[i] = p;
    p += sprintf(p, "%s=%s", job->env[i].name, job->env[i].value) + 1;
  }
  return mem;
}

/* source_dir(): the directory of the entry file, absolute against the
 * job's cwd (malloc'd), or NULL (a program given as source: cwd()). */
static char *job_source_dir(const IpcJob *job)
{
  if (!job->program) return NULL;
  const char *cwd = job->cwd ? job->cwd : "/";
  const char *slash = strrchr(job->program, '/');
  size_t n = slash ? (size_t)(slash - job->program) : 0;
  size_t len = strlen(cwd) + n + 2;
  char *d = malloc(len);
  if (!d) return NULL;
  if (job->program[0] == '/') snprintf(d, len, "%.*s", (int)(n ? n : 1), job->program);
  else if (n) snprintf(d, len, "%s/%.*s", cwd, (int)n, job->program);
  else snprintf(d, len, "%s", cwd);
  return d;
}

/* ---- the host-call channel (protocol v3, docs/protocol.md "Host calls") ----
 *
 * The job socket (fd 3) stays open after the job: the supervisor answers
 * each `host_call` (sent on fd 4 like any event, in seq order) with one
 * `host_result` there. The VM waits in ppoll() on it (VmHostConfig.fd)
 * and pumps it: what ppoll says is there is read into
 * the job decoder (kept from the job frame, so strictly validated: a job
 * side decoder accepts only host results after the job), and each answer
 * goes to the VM as JSON text (vm_host_deliver). */

typedef struct HostChan {
  Writer *w;
  int fd;
  IpcDecoder *dec;
  Buf json;
} HostChan;

static bool host_send_call(void *ud, Vm *vm, uint64_t id, const char *cap, const char *op,
                           const void *args)
{
  HostChan *h = ud;
  Writer *w = h->w;
  msgpack_sbuffer_clear(&w->ev_sb);
  if (w->ev_zone) msgpack_zone_clear(w->ev_zone);
  else w->ev_zone = msgpack_zone_new(2048);
  msgpack_object o;
  if (!w->ev_zone || !body_object(vm, args, &w->ev_sb, w->ev_zone, &o)) return false;
  if (o.type != MSGPACK_OBJECT_MAP) return false;
  pthread_mutex_lock(&w->mu);
  flush_output_locked(w);
  IpcEnvelope e = next_env(w);
  buf_clear(&w->frame);
  bool ok = send_encoded_locked(w, ipc_encode_host_call(&w->frame, &e, id, cap, op, &o), "host_call",
                                false, false) &&
            !w->broken;
  pthread_mutex_unlock(&w->mu);
  return ok;
}

static void host_send_cancel(void *ud, uint64_t id)
{
  HostChan *h = ud;
  Writer *w = h->w;
  pthread_mutex_lock(&w->mu);
  flush_output_locked(w);
  IpcEnvelope e = next_env(w);
  buf_clear(&w->frame);
  send_encoded_locked(w, ipc_encode_host_cancel(&w->frame, &e, id), "host_cancel", false, false);
  pthread_mutex_unlock(&w->mu);
}

static int host_pump(void *ud, Vm *vm)
{
  HostChan *h = ud;
  char buf[16384];
  for (;;) {
    /* read only what ppoll says is there: the socket stays blocking (the
     * sandbox filters allow no fcntl(F_SETFL), and recv flags vary) */
    struct pollfd pfd = {h->fd, POLLIN, 0};
    struct timespec zero = {0, 0};
    int pr = ppoll(&pfd, 1, &zero, NULL);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR))) break;
    ssize_t n = read(h->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) fprintf(stderr, "harn worker: reading the job socket: %s\n", strerror(errno));
      return -1; /* EOF: the supervisor is gone */
    }
    if (ipc_decoder_feed(h->dec, buf, (size_t)n) != 0) break;
  }
  for (;;) {
    IpcMsg m;
    int r = ipc_decoder_next(h->dec, &m);
    if (r == 0) return 0;
    if (r < 0) {
      fprintf(stderr, "harn worker: bad frame on the job socket: %s\n", ipc_decoder_error(h->dec));
      return -1;
    }
    const IpcHostResult *hr = &m.u.host_result;
    buf_clear(&h->json);
    ipc_to_json(&h->json, hr->ok ? &hr->value : &hr->error);
    vm_host_deliver(vm, hr->id, hr->ok, h->json.data ? h->json.data : "null", h->json.len);
    ipc_msg_free(&m);
  }
}

int wrk_main(int argc, char **argv)
{
  int64_t t0;
  int job_fd = IPC_JOB_FD, ev_fd = IPC_EVENT_FD;
  bool spare = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--spare") == 0) spare = true;
    else if (strcmp(argv[i], "--job-fd") == 0 && i + 1 < argc) job_fd = parse_fd(argv[++i]);
    else if (strcmp(argv[i], "--event-fd") == 0 && i + 1 < argc) ev_fd = parse_fd(argv[++i]);
    else if (strcmp(argv[i], "--zygote") == 0 && (argc == 2 || (argc == 3 && !strcmp(argv[2], "--sandboxed"))))
      return wrk_zygote_main(WRK_ZYGOTE_FD, argc == 3);
    else {
      fprintf(stderr, "usage: harn worker [--job-fd N] [--event-fd N] [--spare] | --zygote [--sandboxed]\n"
                      "  (internal: started by the supervisor; see docs/protocol.md)\n");
      return WRK_EXIT_USAGE;
    }
  }
  /* (a spare got both from the zygote, at 3 and 4) */
  if (!spare && (job_fd < 0 || ev_fd < 0 || fcntl(job_fd, F_GETFD) < 0 || fcntl(ev_fd, F_GETFD) < 0)) {
    fprintf(stderr, "harn worker: the job fd (%d) and event fd (%d) must be open\n", job_fd, ev_fd);
    return WRK_EXIT_USAGE;
  }

  /* Signals: block, install, unblock. A spare has the zygote's handlers
   * already (wrk_install_signals), and the host signals still blocked. */
  sigset_t hs;
  host_signal_set(&hs);
  if (!spare) {
    pthread_sigmask(SIG_BLOCK, &hs, NULL);
    wrk_install_signals();
  }

  Writer w;
  writer_init(&w, ev_fd);
  pthread_sigmask(SIG_UNBLOCK, &hs, NULL);

  /* The job. */
  IpcDecoder *dec = ipc_decoder_new(IPC_READ_JOB, 0);
  IpcMsg msg;
  memset(&msg, 0, sizeof msg);
  int gfds[IPC_MAX_GRANTS], ngfds = 0;
  int rc = dec ? ipc_recv_msg(job_fd, dec, &msg, gfds, IPC_MAX_GRANTS, &ngfds) : IPC_E_NOMEM;
  if (rc == 1 && ngfds != (int)msg.u.job.ngrants) {
    /* the descriptors and the grants they stand for must match one to one */
    fprintf(stderr, "harn worker: the job frame names %zu granted directories, %d came with it\n",
            msg.u.job.ngrants, ngfds);
    for (int i = 0; i < ngfds && i < IPC_MAX_GRANTS; i++) close(gfds[i]);
    ipc_msg_free(&msg);
    ipc_decoder_free(dec);
    return WRK_EXIT_PROTOCOL;
  }
  if (rc != 1)
    for (int i = 0; i < ngfds && i < IPC_MAX_GRANTS; i++) close(gfds[i]);
  if (rc == IPC_E_EOF && spare) {
    /* A worker made ahead that got no job: the supervisor had no use for
     * it (it normally kills a spare instead; this is when the zygote died
     * while making it). Nothing went wrong. */
    ipc_decoder_free(dec);
    return WRK_EXIT_PROTOCOL;
  }
  if (rc != 1) {
    fprintf(stderr, "harn worker: no valid job frame on fd %d: %s\n", job_fd,
            rc == IPC_E_EOF ? "end of stream before a job" : rc == IPC_E_IO ? strerror(errno)
                            : ipc_decoder_error(dec));
    ipc_decoder_free(dec);
    return WRK_EXIT_PROTOCOL;
  }
  /* the job socket stays open when the job may make host calls (the
   * channel of their answers); else it is done with */
  HostChan hc = {&w, job_fd, dec, {0}};
  if (msg.u.job.nhost == 0) {
    close(job_fd);
    job_fd = -1;
  }
  /* above every fd placed below (place_program, place_grants) */
  for (int i = 0; i < ngfds; i++)
    if (gfds[i] < WRK_HIGH_FD) gfds[i] = place_at(gfds[i], fcntl(gfds[i], F_DUPFD_CLOEXEC, WRK_HIGH_FD));
  /* A worker made ahead (a spare) may have waited for its job: the job's
   * clock starts now. */
  t0 = mono_ns();
  w.t0 = t0;
  const IpcJob *job = &msg.u.job;
  w.job = msg.job;
  w.attempt = msg.attempt;

  /* started */
  pthread_mutex_lock(&w.mu);
  IpcStarted st = {IPC_PROTOCOL_VERSION, (int64_t)getpid(), (int64_t)getpgrp(), epoch_ms()};
  IpcEnvelope e = next_env(&w);
  /* held: written with the next frame, at the latest before the program is
   * read (lock_down) */
  send_encoded_locked(&w, ipc_encode_started(&w.frame, &e, &st), "started", true, true);
  pthread_mutex_unlock(&w.mu);

  /* Lock down before the program is read (docs/sandbox.md "When"): open
   * the program and its directory; join the namespaces the zygote shared
   * (while still single-threaded: setns into a mount namespace requires
   * it), or, without the sandbox, just close their fds; then the
   * lock-down proper. The program, its imports and its input are only
   * read, parsed and compiled after it. */
  int entry_fd = -EBADF, root_fd = -1;
  if (job->program) open_program(job->program, &entry_fd, &root_fd);
  wrk_sandbox_enter_shared(job->sandbox);
  if (job->program) place_program(ev_fd, &entry_fd, &root_fd);
  /* libraries that would open files or fetch code lazily (libcrypto):
   * now, before the lock-down (a spare inherited this from the zygote) */
  vm_std_init();
  int ngrants = place_grants(ev_fd, gfds, ngfds);
  Lockdown ld = {&w, job, ev_fd, root_fd, ngrants < 0 ? 0 : ngrants, job_fd, false, true};
  lock_down(&ld);
  if (ngrants < 0) ld.ok = false;

  /* Run. */
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.write = on_output;
  cfg.write_ud = &w;
  if (job->count_instructions) cfg.max_instructions = UINT64_MAX; /* counting, no limit */
  cfg.memory_limit = (size_t)job->memory;
  /* imports only beneath the program's directory, through root_fd; a
   * program sent as source imports std/ only */
  cfg.import_root = job->program ? VM_IMPORT_ROOT_FD : VM_IMPORT_ROOT_NONE;
  cfg.import_root_fd = root_fd;
  cfg.job.supervised = true;
  cfg.job.job_id = msg.job;
  cfg.job.attempt = msg.attempt;
  cfg.job.has_deadline = job->has_deadline;
  cfg.job.deadline_at_ms = job->deadline_at_ms;
  cfg.job.grace_ms = job->grace_ms;
  cfg.job.event = on_vm_event;
  cfg.job.event_ud = &w;
  /* The file builtins (docs/sandbox.md "Capabilities"): beneath the
   * granted descriptors in a sandboxed worker, on the host otherwise. */
  VmFsGrant vg[IPC_MAX_GRANTS];
  for (int i = 0; i < ngfds && ngrants > 0; i++)
    vg[i] = (VmFsGrant){job->grants[i].path, gfds[i], job->grants[i].write};
  const char *envs[IPC_MAX_ENV];
  char *env_mem = job_env(job, envs);
  char *src_dir = job_source_dir(job);
  cfg.fs.mode = job->sandbox ? VM_FS_GRANTS : VM_FS_HOST;
  cfg.fs.grants = vg;
  cfg.fs.ngrants = ngrants > 0 ? ngrants : 0;
  cfg.fs.cwd = job->cwd;
  cfg.fs.scratch = job->scratch;
  cfg.fs.source_dir = src_dir;
  cfg.fs.max_write_bytes = job->max_write_bytes;
  cfg.fs.deny = job->deny;
  cfg.fs.ndeny = (int)job->ndeny;
  cfg.fs.env = envs;
  cfg.fs.nenv = (int)job->nenv;
  cfg.fs.env_host = !job->sandbox; /* trusted (--no-sandbox): its own environ */
  if (job->nhost > 0) {
    cfg.host.fd = job_fd;
    cfg.host.call = host_send_call;
    cfg.host.cancel = host_send_cancel;
    cfg.host.pump = host_pump;
    cfg.host.ud = &hc;
    cfg.host.caps = job->host;
    cfg.host.ncaps = (int)job->nhost;
  }
  Vm *vm = vm_new(&cfg);
  sig_vm = vm; /* from here the handler forwards to it */
  if (sig_first) vm_interrupt(vm, sig_first); /* one that came before (twice is harmless) */

  VmStatus vs;
  if (!ld.ok) {
    vs = VM_COMPILE_ERROR; /* not run: the outcome below says why */
    if (entry_fd >= 0) close(entry_fd);
  } else if (job->program) {
    vs = vm_run_fd(vm, job->program, entry_fd, job->input_json);
  } else {
    vs = vm_run_source(vm, job->name ? job->name : "<inline>", job->source, job->source_len,
                       job->input_json);
  }
  /* From here on signals wait (and die with the process): the run is over,
   * and the handler must not touch the VM once it is freed. */
  pthread_sigmask(SIG_BLOCK, &hs, NULL);
  int seen_sig = 0;
  bool interrupted = vm_was_interrupted(vm, &seen_sig);
  if (!interrupted && sig_first) {
    interrupted = true;
    seen_sig = sig_first;
  }

  /* The outcome. */
  Outcome oc;
  memset(&oc, 0, sizeof oc);
  VmStats stats;
  memset(&stats, 0, sizeof stats);
  vm_stats(vm, &stats);
  if (vs == VM_OK) {
    oc.status = IPC_STATUS_OK;
    oc.pack_value = true;
    oc.exit_code = vm_exit_code(vm);
    const char *t = vm_error_text(vm);
    if (oc.exit_code != 0 && t && *t) oc.error = t; /* a returned Err(msg) */
  } else {
    oc.status = IPC_STATUS_ERROR;
    oc.exit_code = 1;
    oc.error = vm_error_text(vm);
    oc.diagnostic = vm_diagnostic(vm);
    oc.pack_error_value = vs == VM_RUNTIME_ERROR;
    oc.pack_value = false;
    oc.ntrace = vm_trace(vm, &oc.trace);
    if (oc.ntrace < 0) oc.ntrace = 0;
    if (vs == VM_RUNTIME_ERROR && vm_error_is_memory(vm)) oc.limit = "memory";
    if (ld.done && !ld.ok) {
      oc.error = "Runtime error: the sandbox could not be applied (see the `sandbox` event)";
      oc.diagnostic = NULL;
      oc.pack_error_value = false;
      oc.ntrace = 0;
    }
  }
  if (interrupted) {
    oc.status = IPC_STATUS_CANCELLED;
    oc.signal = signame_name(seen_sig);
  }
  oc.hard_stop = stats.hard_stop;

  pthread_mutex_lock(&w.mu);
  flush_output_locked(&w);
  /* The VM's counters come from VmStats, the rest are measured here
   * (HARN_COUNTERS, base/counters.h). */
#define COPY_COUNTER_VM(name) oc.counters.name = stats.name;
#define COPY_COUNTER_HOST(name)
#define X(name, type, source) COPY_COUNTER_##source(name)
  HARN_COUNTERS(X)
#undef X
  oc.counters.wall_ms = (double)(mono_ns() - t0) / 1e6;
  oc.counters.cpu_ms = cpu_ms();
  oc.counters.has_instructions = job->count_instructions;
  oc.counters.output_bytes = w.output_bytes;
  int frc = encode_final(&w, vm, &oc, false);
  if (frc == IPC_E_TOOBIG) frc = encode_final(&w, vm, &oc, true);
  send_encoded_locked(&w, frc, "final", true, false);
  bool broken = w.broken;
  pthread_mutex_unlock(&w.mu);
  stop_flusher(&w);
  close(ev_fd);
  if (job_fd >= 0) close(job_fd);
  /* A spare's process ends as this returns (zygote.c: _exit), and what it
   * allocated with it: freeing would only delay its exit, which the
   * supervisor waits for. */
  if (spare) return broken ? WRK_EXIT_IO : WRK_EXIT_OK;

  sig_vm = NULL;
  vm_free(vm);
  free(env_mem);
  free(src_dir);
  for (int i = 0; i < ngfds; i++) close(gfds[i]);
  if (root_fd >= 0) close(root_fd);
  ipc_msg_free(&msg);
  ipc_decoder_free(dec);
  buf_free(&hc.json);
  writer_free(&w);
  return broken ? WRK_EXIT_IO : WRK_EXIT_OK;
}
