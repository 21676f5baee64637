/*
 * test_worker.c: `harn worker` end to end ($HARN_BIN, real pipes on fds 3
 * and 4, signals blocked before exec exactly as the supervisor does).
 *
 * Each test writes one job frame, reads every event until EOF with the
 * real event decoder (so seq contiguity, `started` first and nothing after
 * `final` are checked on every run), reaps the worker and looks at the
 * sequence: started, output..., final; exit status 0.
 *
 * Every test has a timeout: a worker still running after it is SIGKILLed
 * and the test fails.
 *
 * Memory: a failing assertion longjmps out of the test, past its
 * run_free() calls, so every Run is static and registered by run_job();
 * the group's per-test teardown frees whatever a failed test left behind
 * (a sanitizer build then reports the assertion, not a leak).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc/ipc.h"
#include "worker/worker.h"

#define MAX_EVENTS 256

typedef struct Run {
  IpcMsg ev[MAX_EVENTS];
  int n;
  int decode_err;         /* decoder code at EOF (0 = clean) */
  char err[512];
  int status;             /* waitpid status */
  pid_t pid;
  Buf out;                /* concatenated output of stream 1 */
  int final_at;           /* index of the final frame, -1 if none */
} Run;

/* Runs filled since the last teardown (static storage, see the top). */
static Run *live_runs[8];
static int nlive;

static void run_register(Run *r)
{
  for (int i = 0; i < nlive; i++)
    if (live_runs[i] == r) return;
  assert_true(nlive < (int)(sizeof live_runs / sizeof live_runs[0]));
  live_runs[nlive++] = r;
}

static const char *harn_bin(void)
{
  const char *b = getenv("HARN_BIN");
  return b && *b ? b : NULL;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the worker with [frame] (may be NULL: no job, EOF at once). */
static pid_t spawn_worker(const Buf *frame, int *ev_r, bool sigterm_at_spawn)
{
  int jp[2], ep[2];
  assert_int_equal(pipe2(jp, O_CLOEXEC), 0);
  assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, &old);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    int jr = fcntl(jp[0], F_DUPFD_CLOEXEC, 10), ew = fcntl(ep[1], F_DUPFD_CLOEXEC, 10);
    dup2(jr, 3);
    dup2(ew, 4);
    int dn = open("/dev/null", O_RDWR);
    dup2(dn, 1);
    execl(harn_bin(), harn_bin(), "worker", (char *)NULL);
    _exit(127);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  /* A signal at the instant of spawn: it must wait for the handler. */
  if (sigterm_at_spawn) kill(pid, SIGTERM);
  close(jp[0]);
  close(ep[1]);
  if (frame) assert_int_equal(ipc_write_all(jp[1], frame->data, frame->len), 0);
  close(jp[1]);
  *ev_r = ep[0];
  return pid;
}

/* Hook called for each event as it arrives (may signal the worker). */
typedef void (*OnEvent)(Run *r, const IpcMsg *m, void *ud);

static void collect(Run *r, int fd, int timeout_ms, OnEvent hook, void *ud)
{
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  r->final_at = -1;
  int64_t deadline = now_ms() + timeout_ms;
  char buf[65536];
  bool killed = false;
  for (;;) {
    int left = (int)(deadline - now_ms());
    if (left <= 0) {
      if (!killed) kill(r->pid, SIGKILL);
      killed = true;
      left = 1000;
      deadline = now_ms() + 1000;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    int pr = poll(&pfd, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r->decode_err = ipc_decoder_finish(d);
      break;
    }
    int e = ipc_decoder_feed(d, buf, (size_t)n);
    while (!e && r->n < MAX_EVENTS) {
      IpcMsg *m = &r->ev[r->n];
      int k = ipc_decoder_next(d, m);
      if (k != 1) {
        e = k;
        break;
      }
      if (m->type == IPC_MSG_OUTPUT && m->u.output.stream == 1)
        buf_append(&r->out, m->u.output.data, m->u.output.len);
      if (m->type == IPC_MSG_FINAL) r->final_at = r->n;
      r->n++;
      if (hook) hook(r, m, ud);
    }
    if (e) {
      r->decode_err = e;
      break;
    }
  }
  snprintf(r->err, sizeof r->err, "%s", ipc_decoder_error(d));
  ipc_decoder_free(d);
  close(fd);
  while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR) {}
  if (killed) fail_msg("worker timed out (killed)");
}

static void run_job(Run *r, const IpcJob *job, const char *id, int timeout_ms, OnEvent hook, void *ud,
                    bool sigterm_at_spawn)
{
  memset(r, 0, sizeof *r);
  run_register(r);
  Buf frame = {0};
  assert_int_equal(ipc_encode_job(&frame, id, 1, job), 0);
  int fd;
  r->pid = spawn_worker(&frame, &fd, sigterm_at_spawn);
  buf_free(&frame);
  collect(r, fd, timeout_ms, hook, ud);
}

/* Free what [r] holds; idempotent. */
static void run_free(Run *r)
{
  for (int i = 0; i < r->n; i++) ipc_msg_free(&r->ev[i]);
  r->n = 0;
  buf_free(&r->out);
}

/* Per-test teardown: free the runs a failed assertion left behind. */
static int free_runs(void **state)
{
  (void)state;
  for (int i = 0; i < nlive; i++) run_free(live_runs[i]);
  nlive = 0;
  return 0;
}

/* The invariant shape of every complete run. */
static const IpcFinal *check_shape(Run *r, const char *id)
{
  if (r->decode_err) fail_msg("protocol error from worker: %s", r->err);
  assert_true(WIFEXITED(r->status));
  assert_int_equal(WEXITSTATUS(r->status), WRK_EXIT_OK);
  assert_true(r->n >= 2);
  assert_int_equal(r->ev[0].type, IPC_MSG_STARTED);
  assert_int_equal(r->ev[0].u.started.pid, r->pid);
  assert_int_equal(r->ev[0].u.started.pgid, r->pid);
  assert_true(r->ev[0].u.started.started_at_ms > 1.6e12);
  assert_int_equal(r->final_at, r->n - 1);
  double t = -1;
  for (int i = 0; i < r->n; i++) {
    assert_int_equal(r->ev[i].seq, (uint64_t)i);
    assert_string_equal(r->ev[i].job, id);
    assert_int_equal(r->ev[i].attempt, 1);
    assert_true(r->ev[i].t_ms >= t);
    t = r->ev[i].t_ms;
  }
  return &r->ev[r->n - 1].u.final;
}

static char *json_of(const msgpack_object *o)
{
  Buf b = {0};
  ipc_to_json(&b, o);
  return buf_take(&b);
}

static IpcJob src_job(const char *src)
{
  IpcJob j;
  memset(&j, 0, sizeof j);
  j.source = src;
  j.source_len = strlen(src);
  j.name = "job.harn";
  j.grace_ms = 250;
  return j;
}

static int skip_without_bin(void **state)
{
  (void)state;
  if (!harn_bin()) {
    fprintf(stderr, "HARN_BIN not set: skipping worker tests\n");
    skip();
  }
  return 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_normal_job(void **state)
{
  (void)state;
  IpcJob j = src_job("pipeline default(task) {\n"
                     "  println(\"hello ${task.who}\")\n"
                     "  eprintln(\"to stderr\")\n"
                     "  println(\"again\")\n"
                     "  return 7\n"
                     "}\n");
  j.input_json = "{\"who\": \"worker\"}";
  j.count_instructions = true;
  static Run r;
  run_job(&r, &j, "normal", 10000, NULL, NULL, false);
  const IpcFinal *f = check_shape(&r, "normal");
  assert_int_equal(f->status, IPC_STATUS_OK);
  assert_string_equal(r.out.data, "hello worker\nagain\n");
  /* stdout, stderr, stdout: three output frames in program order, then
   * the PreFinish and PostFinish lifecycle events (sent even without
   * hooks, docs/RUNTIME.md 8.2) */
  int outs = 0;
  for (int i = 1; i < r.n - 3; i++) {
    assert_int_equal(r.ev[i].type, IPC_MSG_OUTPUT);
    outs++;
  }
  assert_int_equal(outs, 3);
  assert_int_equal(r.ev[r.n - 3].type, IPC_MSG_LIFECYCLE);
  assert_int_equal(r.ev[r.n - 2].type, IPC_MSG_LIFECYCLE);
  assert_int_equal(r.ev[2].u.output.stream, 2);
  assert_string_equal(r.ev[2].u.output.data, "to stderr\n");
  char *v = json_of(&f->value);
  assert_string_equal(v, "7");
  free(v);
  assert_int_equal(f->exit_code, 7);
  assert_null(f->error);
  assert_null(f->signal);
  assert_false(f->hard_stop);
  assert_true(f->counters.has_instructions);
  assert_true(f->counters.instructions > 0);
  assert_int_equal(f->counters.output_bytes, strlen("hello worker\nagain\nto stderr\n"));
  assert_true(f->counters.wall_ms > 0);
  run_free(&r);
}

static void test_values(void **state)
{
  (void)state;
  IpcJob j = src_job("enum Color { Red, Rgb(r, g, b) }\n"
                     "pipeline default(task) {\n"
                     "  return [nil, true, -3, 2.5, \"s\\n\", [1, [2]], {b: 1, a: {c: []}},\n"
                     "          Color.Red, Color.Rgb(1, 2, 3), 1500ms, Ok(1), Err(\"e\"), fn(x) { x }]\n"
                     "}\n");
  static Run r;
  run_job(&r, &j, "values", 10000, NULL, NULL, false);
  const IpcFinal *f = check_shape(&r, "values");
  assert_int_equal(f->status, IPC_STATUS_OK);
  char *v = json_of(&f->value);
  const char *want =
      "[null,true,-3,2.5,\"s\\n\",[1,[2]],{\"a\":{\"c\":[]},\"b\":1},"
      "{\"$harn\":\"enum\",\"enum\":\"Color\",\"variant\":\"Red\",\"fields\":[]},"
      "{\"$harn\":\"enum\",\"enum\":\"Color\",\"variant\":\"Rgb\",\"fields\":[1,2,3]},"
      "{\"$harn\":\"duration\",\"ms\":1500},"
      "{\"$harn\":\"result\",\"ok\":true,\"value\":1},"
      "{\"$harn\":\"result\",\"ok\":false,\"value\":\"e\"},"
      "{\"$harn\":\"opaque\",\"type\":\"closure\",\"display\":";
  if (strncmp(v, want, strlen(want)) != 0) fail_msg("value JSON:\n%s\nexpected prefix:\n%s", v, want);
  free(v);
  run_free(&r);
}

static void test_error_job(void **state)
{
  (void)state;
  IpcJob j = src_job("fn div(a, b) {\n"
                     "  return a / b\n"
                     "}\n"
                     "pipeline default(task) {\n"
                     "  println(\"before\")\n"
                     "  return div(1, 0)\n"
                     "}\n");
  static Run r;
  run_job(&r, &j, "err", 10000, NULL, NULL, false);
  const IpcFinal *f = check_shape(&r, "err");
  assert_int_equal(f->status, IPC_STATUS_ERROR);
  assert_string_equal(r.out.data, "before\n");
  assert_string_equal(f->error, "Runtime error: Division by zero (line 2)");
  assert_non_null(f->diagnostic);
  assert_true(strncmp(f->diagnostic, "error: Runtime error: Division by zero (line 2)\n", 48) == 0);
  char *ev = json_of(&f->error_value);
  assert_string_equal(ev, "\"Division by zero\"");
  free(ev);
  assert_int_equal(f->value.type, MSGPACK_OBJECT_NIL);
  assert_int_equal(f->exit_code, 1);
  assert_true(f->trace_len >= 2);
  assert_string_equal(f->trace[f->trace_len - 1].fn, "div");
  assert_int_equal(f->trace[f->trace_len - 1].line, 2);
  assert_string_equal(f->trace[f->trace_len - 1].file, "job.harn");
  run_free(&r);

  /* a thrown payload travels as a value; a compile error has no payload */
  j = src_job("pipeline default(task) {\n  throw {code: 42}\n}\n");
  run_job(&r, &j, "throw", 10000, NULL, NULL, false);
  f = check_shape(&r, "throw");
  assert_int_equal(f->status, IPC_STATUS_ERROR);
  ev = json_of(&f->error_value);
  assert_string_equal(ev, "{\"code\":42}");
  free(ev);
  run_free(&r);

  j = src_job("pipeline default(task) {\n  let = 3\n}\n");
  run_job(&r, &j, "compile", 10000, NULL, NULL, false);
  f = check_shape(&r, "compile");
  assert_int_equal(f->status, IPC_STATUS_ERROR);
  assert_non_null(f->error);
  assert_int_equal(f->error_value.type, MSGPACK_OBJECT_NIL);
  run_free(&r);
}

static void test_program_file(void **state)
{
  (void)state;
  char path[] = "/tmp/harn_test_worker_XXXXXX.harn";
  int fd = mkstemps(path, 5);
  assert_true(fd >= 0);
  const char *src = "pipeline default(task) {\n  return task.n * 2\n}\n";
  assert_int_equal(write(fd, src, strlen(src)), (ssize_t)strlen(src));
  close(fd);
  IpcJob j;
  memset(&j, 0, sizeof j);
  j.program = path;
  j.input_json = "{\"n\": 21}";
  static Run r;
  run_job(&r, &j, "file", 10000, NULL, NULL, false);
  const IpcFinal *f = check_shape(&r, "file");
  assert_int_equal(f->status, IPC_STATUS_OK);
  char *v = json_of(&f->value);
  assert_string_equal(v, "42");
  free(v);
  run_free(&r);
  unlink(path);

  /* a missing file is an error final, not a crash */
  j.program = "/nonexistent/x.harn";
  run_job(&r, &j, "nofile", 10000, NULL, NULL, false);
  f = check_shape(&r, "nofile");
  assert_int_equal(f->status, IPC_STATUS_ERROR);
  run_free(&r);
}

/* SIGTERM once the first output has arrived. */
static void term_on_output(Run *r, const IpcMsg *m, void *ud)
{
  int *sent = ud;
  if (m->type == IPC_MSG_OUTPUT && !*sent) {
    kill(r->pid, SIGTERM);
    *sent = 1;
  }
}

static void test_sigterm_cancel(void **state)
{
  (void)state;
  IpcJob j = src_job("pipeline default(task) {\n"
                     "  println(\"spinning\")\n"
                     "  var i = 0\n"
                     "  while true {\n"
                     "    i = i + 1\n"
                     "  }\n"
                     "}\n");
  static Run r;
  int sent = 0;
  run_job(&r, &j, "term", 10000, term_on_output, &sent, false);
  const IpcFinal *f = check_shape(&r, "term");
  assert_true(sent);
  assert_int_equal(f->status, IPC_STATUS_CANCELLED);
  assert_string_equal(f->signal, "SIGTERM");
  assert_non_null(f->error);
  assert_non_null(strstr(f->error, "kind:cancelled:VM cancelled by host"));
  run_free(&r);
}

/* SIGTERM sent right after fork, while the signals are still blocked: it
 * must be neither fatal (the worker installs its handler before
 * unblocking) nor lost. The program never ends by itself, so the test
 * passes only if the signal reaches the VM and cancels the run; a signal
 * that was merely recorded (final status `cancelled` on a run that went to
 * its end) would hang here until the timeout. */
static void test_signal_at_spawn(void **state)
{
  (void)state;
  IpcJob j = src_job("pipeline default(task) {\n"
                     "  var i = 0\n"
                     "  while true {\n"
                     "    i = i + 1\n"
                     "  }\n"
                     "  return i\n"
                     "}\n");
  static Run r;
  for (int round = 0; round < 5; round++) { /* the race has several windows */
    run_job(&r, &j, "spawn-sig", 10000, NULL, NULL, true);
    const IpcFinal *f = check_shape(&r, "spawn-sig");
    assert_int_equal(f->status, IPC_STATUS_CANCELLED);
    assert_string_equal(f->signal, "SIGTERM");
    assert_non_null(f->error);
    if (!strstr(f->error, "kind:cancelled:VM cancelled by host"))
      fail_msg("the run was not cancelled by the VM: error %s", f->error);
    assert_int_equal(f->value.type, MSGPACK_OBJECT_NIL);
    run_free(&r);
  }
}

static void test_output_flush_timing(void **state)
{
  (void)state;
  IpcJob j = src_job("pipeline default(task) {\n"
                     "  println(\"early\")\n"
                     "  sleep(400ms)\n"
                     "  println(\"late\")\n"
                     "}\n");
  static Run r;
  run_job(&r, &j, "flush", 10000, NULL, NULL, false);
  const IpcFinal *f = check_shape(&r, "flush");
  assert_int_equal(f->status, IPC_STATUS_OK);
  assert_int_equal(r.n, 6); /* started, 2 outputs, PreFinish, PostFinish, final */
  assert_string_equal(r.ev[1].u.output.data, "early\n");
  assert_string_equal(r.ev[2].u.output.data, "late\n");
  /* "early" left within the 20 ms window, long before the sleep ended */
  double gap = r.ev[2].t_ms - r.ev[1].t_ms;
  if (gap < 300) fail_msg("early output was not flushed during the sleep (gap %.1f ms)", gap);
  run_free(&r);

  /* 10 KiB in one go: flushed in 4 KiB units, or as one chunk, never lost */
  j = src_job("pipeline default(task) {\n"
              "  var s = \"\"\n"
              "  for i in 0 to 1023 {\n"
              "    s = s + \"0123456789\"\n"
              "  }\n"
              "  print(s)\n"
              "}\n");
  run_job(&r, &j, "big", 10000, NULL, NULL, false);
  f = check_shape(&r, "big");
  assert_int_equal(f->status, IPC_STATUS_OK);
  assert_int_equal(r.out.len, 10240);
  run_free(&r);
}

static void test_bad_job(void **state)
{
  (void)state;
  /* no job at all: EOF */
  int fd;
  static Run r;
  memset(&r, 0, sizeof r);
  run_register(&r);
  r.pid = spawn_worker(NULL, &fd, false);
  collect(&r, fd, 10000, NULL, NULL);
  assert_int_equal(r.n, 0);
  assert_int_equal(r.decode_err, 0);
  assert_true(WIFEXITED(r.status));
  assert_int_equal(WEXITSTATUS(r.status), WRK_EXIT_PROTOCOL);
  run_free(&r);

  /* a job frame from a future protocol version */
  Buf b = {0};
  IpcFrame f;
  ipc_frame_init(&f);
  msgpack_sbuffer_write(&f.sbuf, "\0\0\0\0", 4);
  msgpack_packer *pk = ipc_frame_packer(&f);
  msgpack_pack_map(pk, 9);
  ipc_pack_str(pk, "type");
  ipc_pack_str(pk, "job");
  ipc_pack_str(pk, "version");
  msgpack_pack_int(pk, IPC_PROTOCOL_VERSION + 1);
  ipc_pack_str(pk, "job");
  ipc_pack_str(pk, "v");
  ipc_pack_str(pk, "attempt");
  msgpack_pack_int(pk, 1);
  ipc_pack_str(pk, "source");
  ipc_pack_str(pk, "pipeline default(task) { }");
  ipc_pack_str(pk, "input");
  msgpack_pack_nil(pk);
  ipc_pack_str(pk, "deadline_at_ms");
  msgpack_pack_nil(pk);
  ipc_pack_str(pk, "grace_ms");
  msgpack_pack_int(pk, 1);
  ipc_pack_str(pk, "count_instructions");
  msgpack_pack_false(pk);
  ipc_frame_end(&f, &b);
  ipc_frame_destroy(&f);
  memset(&r, 0, sizeof r);
  run_register(&r);
  r.pid = spawn_worker(&b, &fd, false);
  collect(&r, fd, 10000, NULL, NULL);
  assert_int_equal(r.n, 0);
  assert_int_equal(WEXITSTATUS(r.status), WRK_EXIT_PROTOCOL);
  run_free(&r);
  buf_free(&b);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_normal_job, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_values, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_error_job, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_program_file, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_sigterm_cancel, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_signal_at_spawn, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_output_flush_timing, skip_without_bin, free_runs),
      cmocka_unit_test_setup_teardown(test_bad_job, skip_without_bin, free_runs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
