/*
 * fake_worker.c: a test stand-in for `harn worker` that speaks the real
 * protocol (ipc/ipc.h) and misbehaves on request, for the supervisor's
 * integration tests (tests/integration/test_supervisor*.sh), selected with
 * HARN_WORKER_CMD=<path to fake_worker>.
 *
 * It reads the job frame from fd 3, then picks its behaviour from the base
 * name of the job's program path without extension ("ignore.harn" ->
 * "ignore"); an inline source picks it from its first word. Modes:
 *   ok            started, output "hello <job>\n", a step, final ok 42
 *   exitcode      final ok with value 7 and exit_code 7
 *   error         final error with a diagnostic
 *   coop          output, then waits for SIGTERM/SIGINT; on the signal sends
 *                 final cancelled (signal name) and exits 0 (a well-behaved
 *                 worker under a deadline)
 *   ignore        ignores every catchable signal (they stay blocked and are
 *                 also set to SIG_IGN) and forks a grandchild that sleeps in
 *                 the same process group; both must die by SIGKILL
 *   sleep         started, two steps, then sleeps forever (SIGKILL it)
 *   garbage       started, then a frame with a valid length and a body that
 *                 is not msgpack, then sleeps forever
 *   biglen        started, then a length prefix of 0xFFFFFFFF
 *   exit0         started, then exit 0 without final
 *   partial       started, then the first half of a final frame, exit 0
 *   segv          started, then SIGSEGV
 *   flood         writes 8 MiB of output in 64 KiB chunks, then final ok
 *   evflood       20,000 step, emit and lifecycle frames each (past the
 *                 record's caps: test_record_caps.sh), then final ok
 *   finalhang     final ok, then sleeps forever ignoring SIGTERM
 *   slow          sleeps 300 ms, then behaves like ok
 *   flaky         crashes (exit 3) on attempt 1, ok from attempt 2 on
 *   escape        forks a child that calls setsid() and forks a grandchild;
 *                 both sleep forever outside the worker's process group;
 *                 outputs "escape <child> <grandchild>\n", final ok, exits
 *                 (the supervisor must still kill both: test_sandbox.sh)
 *   chaos         picks one behaviour from a hash of job id and attempt:
 *                 ok (about half), ok after 1-50 ms, error, segv, garbage,
 *                 exit0, or a final frame with one random byte flipped
 *                 (test_chaos.sh)
 *
 * Exits: every mode that ends with a plain exit status (ok, exit0, partial,
 * a missing job...) first frees all it allocated (release()), so that under
 * LeakSanitizer (HARN_SANITIZE builds) the status is the intended one and
 * not LSan's abort; modes that mean "die abruptly" use _exit() or a signal,
 * which skip the leak check by design.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/signame.h"
#include "ipc/ipc.h"

static const char *job_id;
static int64_t attempt;
static uint64_t seq;
static struct timespec t_start;
static volatile sig_atomic_t got_signal;

static double t_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)(ts.tv_sec - t_start.tv_sec) * 1e3 + (double)(ts.tv_nsec - t_start.tv_nsec) / 1e6;
}

static IpcEnvelope env(void)
{
  IpcEnvelope e = {job_id, attempt, seq++, t_ms()};
  return e;
}

static void emit_frame(Buf *b)
{
  if (ipc_write_all(IPC_EVENT_FD, b->data, b->len) < 0) _exit(111);
  buf_clear(b);
}

static void send_started(void)
{
  Buf b = {0};
  IpcEnvelope e = env();
  IpcStarted s = {IPC_PROTOCOL_VERSION, getpid(), getpgrp(), 0};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s.started_at_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
  ipc_encode_started(&b, &e, &s);
  emit_frame(&b);
  buf_free(&b);
}

static void send_output(const char *text, size_t len)
{
  Buf b = {0};
  IpcEnvelope e = env();
  ipc_encode_output(&b, &e, 1, text, len);
  emit_frame(&b);
  buf_free(&b);
}

static void send_step(const char *name)
{
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 11);
  ipc_pack_str(&pk, "name"); ipc_pack_str(&pk, name);
  ipc_pack_str(&pk, "function"); ipc_pack_str(&pk, name);
  ipc_pack_str(&pk, "status"); ipc_pack_str(&pk, "completed");
  ipc_pack_str(&pk, "error"); msgpack_pack_nil(&pk);
  ipc_pack_str(&pk, "started_at_ms"); msgpack_pack_int64(&pk, 0);
  ipc_pack_str(&pk, "duration_ms"); msgpack_pack_double(&pk, 1.5);
  ipc_pack_str(&pk, "instructions"); msgpack_pack_int64(&pk, 10);
  ipc_pack_str(&pk, "input_tokens"); msgpack_pack_int64(&pk, 0);
  ipc_pack_str(&pk, "output_tokens"); msgpack_pack_int64(&pk, 0);
  ipc_pack_str(&pk, "cost_usd"); msgpack_pack_double(&pk, 0);
  ipc_pack_str(&pk, "llm_calls"); msgpack_pack_int64(&pk, 0);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  msgpack_unpack_next(&up, sb.data, sb.size, &off);
  Buf b = {0};
  IpcEnvelope e = env();
  ipc_encode_step(&b, &e, &up.data);
  emit_frame(&b);
  buf_free(&b);
  msgpack_unpacked_destroy(&up);
  msgpack_sbuffer_destroy(&sb);
}

static void encode_final(Buf *b, IpcStatus st, int64_t value, const char *error,
                         const char *signal_name)
{
  IpcFinal f;
  memset(&f, 0, sizeof f);
  f.status = st;
  if (st == IPC_STATUS_OK) {
    f.value.type = value >= 0 ? MSGPACK_OBJECT_POSITIVE_INTEGER : MSGPACK_OBJECT_NEGATIVE_INTEGER;
    f.value.via.i64 = value;
    f.exit_code = value & 0xFF;
  } else {
    f.value.type = MSGPACK_OBJECT_NIL;
  }
  f.error = error;
  f.error_value.type = MSGPACK_OBJECT_NIL;
  if (error) f.diagnostic = "error: Runtime error: boom (line 1)\n";
  f.signal = signal_name;
  f.counters.wall_ms = t_ms();
  IpcEnvelope e = env();
  ipc_encode_final(b, &e, &f);
}

static void send_final(IpcStatus st, int64_t value, const char *error, const char *signal_name)
{
  Buf b = {0};
  encode_final(&b, st, value, error, signal_name);
  emit_frame(&b);
  buf_free(&b);
}

static void on_signal(int sig) { got_signal = sig; }

static void sleep_forever(void)
{
  for (;;) pause();
}

/* What main() allocates, freed by release() before a normal exit. */
static IpcDecoder *dec;
static IpcMsg msg;

static void release(void)
{
  ipc_msg_free(&msg);
  ipc_decoder_free(dec);
  dec = NULL;
  free((char *)job_id);
  job_id = NULL;
}

int main(int argc, char **argv)
{
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  dec = ipc_decoder_new(IPC_READ_JOB, 0);
  int rc = ipc_read_msg(IPC_JOB_FD, dec, &msg);
  if (rc != 1) {
    fprintf(stderr, "fake_worker: no job frame: %s\n", ipc_decoder_error(dec));
    release();
    return 76;
  }
  job_id = strdup(msg.job);
  attempt = msg.attempt;
  char mode[64] = "ok";
  const char *src = msg.u.job.program ? msg.u.job.program : msg.u.job.source;
  if (src) {
    const char *base = msg.u.job.program ? strrchr(src, '/') : NULL;
    base = base ? base + 1 : src;
    size_t n = strcspn(base, ". \n\t");
    if (n >= sizeof mode) n = sizeof mode - 1;
    memcpy(mode, base, n);
    mode[n] = 0;
  }

  if (!strcmp(mode, "ignore") || !strcmp(mode, "finalhang")) {
    /* Stay deaf: keep the three blocked and ignore everything else. */
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) signal(s, SIG_IGN);
  } else {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
  }

  send_started();
  if (!strcmp(mode, "chaos")) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = job_id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ (uint64_t)attempt) * 1099511628211ull;
    h ^= h >> 29;
    int pick = (int)(h % 16);
    if (pick < 7) {
      strcpy(mode, "ok");
    } else if (pick < 9) {
      usleep((useconds_t)(1000 + (h >> 8) % 50000));
      strcpy(mode, "ok");
    } else if (pick == 9) {
      strcpy(mode, "error");
    } else if (pick == 10) {
      strcpy(mode, "segv");
    } else if (pick == 11) {
      strcpy(mode, "garbage");
    } else if (pick == 12) {
      strcpy(mode, "exit0");
    } else {
      /* a final frame with one byte flipped somewhere */
      Buf b = {0};
      encode_final(&b, IPC_STATUS_OK, 42, NULL, NULL);
      size_t at = (size_t)((h >> 12) % b.len);
      b.data[at] = (char)(b.data[at] ^ (char)(1 + (h >> 40) % 255));
      ipc_write_all(IPC_EVENT_FD, b.data, b.len);
      buf_free(&b);
      release();
      return 0;
    }
  }
  if (!strcmp(mode, "escape")) {
    int pp[2];
    if (pipe(pp) != 0) _exit(5);
    pid_t c = fork();
    if (c == 0) {
      setsid();
      pid_t g = fork();
      if (g == 0) sleep_forever();
      ssize_t w = write(pp[1], &g, sizeof g);
      (void)w;
      sleep_forever();
    }
    pid_t g = 0;
    ssize_t r = read(pp[0], &g, sizeof g);
    (void)r;
    char line[64];
    int n = snprintf(line, sizeof line, "escape %d %d\n", (int)c, (int)g);
    send_output(line, (size_t)n);
    send_final(IPC_STATUS_OK, 1, NULL, NULL);
    release();
    return 0;
  }
  if (!strcmp(mode, "slow")) {
    usleep(300000);
    strcpy(mode, "ok");
  }
  if (!strcmp(mode, "flaky")) {
    if (attempt == 1) _exit(3);
    strcpy(mode, "ok");
  }
  if (!strcmp(mode, "ok")) {
    char line[256];
    int n = snprintf(line, sizeof line, "hello %s\n", job_id);
    send_output(line, (size_t)n);
    send_step("one");
    send_final(IPC_STATUS_OK, 42, NULL, NULL);
  } else if (!strcmp(mode, "exitcode")) {
    send_final(IPC_STATUS_OK, 7, NULL, NULL);
  } else if (!strcmp(mode, "error")) {
    send_output("before\n", 7);
    send_final(IPC_STATUS_ERROR, 0, "Runtime error: boom (line 1)", NULL);
  } else if (!strcmp(mode, "coop")) {
    send_output("waiting\n", 8);
    while (!got_signal) pause();
    send_final(IPC_STATUS_CANCELLED, 0, "kind:cancelled:VM cancelled by host",
               signame_name(got_signal));
  } else if (!strcmp(mode, "ignore")) {
    pid_t c = fork();
    if (c == 0) sleep_forever();
    send_output("deaf\n", 5);
    sleep_forever();
  } else if (!strcmp(mode, "sleep")) {
    send_step("a");
    send_step("b");
    sleep_forever();
  } else if (!strcmp(mode, "garbage")) {
    static const unsigned char bad[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
    ipc_write_all(IPC_EVENT_FD, bad, sizeof bad);
    sleep_forever();
  } else if (!strcmp(mode, "biglen")) {
    static const unsigned char bad[] = {0xff, 0xff, 0xff, 0xff};
    ipc_write_all(IPC_EVENT_FD, bad, sizeof bad);
    sleep_forever();
  } else if (!strcmp(mode, "exit0")) {
    release();
    return 0;
  } else if (!strcmp(mode, "partial")) {
    Buf b = {0};
    encode_final(&b, IPC_STATUS_OK, 1, NULL, NULL);
    ipc_write_all(IPC_EVENT_FD, b.data, b.len / 2);
    buf_free(&b);
    release();
    return 0;
  } else if (!strcmp(mode, "segv")) {
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  } else if (!strcmp(mode, "flood")) {
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 128; i++) send_output(chunk, sizeof chunk);
    send_final(IPC_STATUS_OK, 0, NULL, NULL);
  } else if (!strcmp(mode, "evflood")) {
    Buf b = {0};
    msgpack_object n, hooks;
    memset(&n, 0, sizeof n);
    memset(&hooks, 0, sizeof hooks);
    n.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    hooks.type = MSGPACK_OBJECT_ARRAY; /* empty */
    for (int i = 0; i < 20000; i++) {
      send_step("s");
      n.via.u64 = (uint64_t)i;
      IpcEnvelope e = env();
      ipc_encode_emit(&b, &e, "tick", &n);
      IpcLifecycle l = {"PostFinish", n, "allow", hooks};
      e = env();
      ipc_encode_lifecycle(&b, &e, &l);
      emit_frame(&b);
    }
    buf_free(&b);
    send_final(IPC_STATUS_OK, 0, NULL, NULL);
  } else if (!strcmp(mode, "finalhang")) {
    send_final(IPC_STATUS_OK, 5, NULL, NULL);
    sleep_forever();
  } else {
    fprintf(stderr, "fake_worker: unknown mode '%s'\n", mode);
    release();
    return 100;
  }
  release();
  return 0;
}
