/*
 * test_supervisor.c: the supervisor's pure pieces, without processes.
 *
 * The job status table of docs/RUNTIME.md 5.6 (sup_decide): every row, the
 * reason text and `harn run` exit code of each, and the "first matching
 * row wins" order where several facts hold at once (a final frame beats a
 * later protocol error or SIGKILL; a kill after the supervisor's signal
 * beats a protocol error). Also the duration and size parsers, the
 * status/signal names used in records, and the line reader of batch
 * sources (linein.c) on a regular file, a pipe fed piecewise and a FIFO
 * opened before its writer. And the capped event arrays of a record
 * (SupEventLog, pool.c "Bounded memory"): the entry cap, the byte cap
 * with the commas counted, and that an array stays a prefix once one
 * event is dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "supervisor/sup_internal.h"
#include "worker/sandbox.h"

/* wait statuses as wait4 reports them */
static int exited(int code) { return (code & 0xff) << 8; }
static int signaled(int sig) { return sig & 0x7f; }

static SupFacts final_facts(IpcStatus st, const char *sig, int64_t exit_code)
{
  SupFacts f;
  memset(&f, 0, sizeof f);
  f.got_final = true;
  f.f_status = st;
  f.f_signal = sig;
  f.f_exit_code = exit_code;
  f.wstatus = exited(0);
  return f;
}

static void expect(const SupFacts *f, SupStatus status, const char *reason, int exit_code)
{
  SupVerdict v;
  sup_decide(f, &v);
  assert_string_equal(sup_status_name(v.status), sup_status_name(status));
  assert_string_equal(v.reason, reason ? reason : "");
  assert_int_equal(v.exit_code, exit_code);
}

static void test_final_frame_rows(void **state)
{
  (void)state;
  /* final frame, no supervisor signal: the frame's status */
  SupFacts f = final_facts(IPC_STATUS_OK, NULL, 42);
  expect(&f, SUP_STATUS_OK, NULL, 42);
  f.f_exit_code = 300; /* an int result is an exit code: clamped to 0..255 */
  expect(&f, SUP_STATUS_OK, NULL, 255);
  f.f_exit_code = -5;
  expect(&f, SUP_STATUS_OK, NULL, 0);
  f = final_facts(IPC_STATUS_OK, NULL, 1); /* a returned Err: a failed job */
  f.f_err_result = true;
  expect(&f, SUP_STATUS_ERROR, "returned_err", 1);
  f = final_facts(IPC_STATUS_ERROR, NULL, 1);
  expect(&f, SUP_STATUS_ERROR, "error", 1);
  f = final_facts(IPC_STATUS_CANCELLED, "SIGTERM", 0);
  expect(&f, SUP_STATUS_CANCELLED, "signal:SIGTERM", 128 + SIGTERM);
  f = final_facts(IPC_STATUS_CANCELLED, "SIGHUP", 0);
  expect(&f, SUP_STATUS_CANCELLED, "signal:SIGHUP", 128 + SIGHUP);
  f = final_facts(IPC_STATUS_CANCELLED, "SIGINT", 0);
  expect(&f, SUP_STATUS_CANCELLED, "signal:SIGINT", 128 + SIGINT);
  f = final_facts(IPC_STATUS_CANCELLED, NULL, 0);
  expect(&f, SUP_STATUS_CANCELLED, "signal:unknown", 128 + SIGINT);
}

static void test_supervisor_signal_rows(void **state)
{
  (void)state;
  /* final frame after the deadline signal: timeout, whatever the frame says */
  IpcStatus sts[] = {IPC_STATUS_OK, IPC_STATUS_ERROR, IPC_STATUS_CANCELLED};
  for (size_t i = 0; i < 3; i++) {
    SupFacts f = final_facts(sts[i], "SIGTERM", 0);
    f.stop = SUP_STOP_DEADLINE;
    expect(&f, SUP_STATUS_TIMEOUT, "deadline", 124);
    /* ... and after a user cancel: cancelled/cancel, exit 130 even when the
     * frame names another signal */
    f.stop = SUP_STOP_CANCEL;
    expect(&f, SUP_STATUS_CANCELLED, "cancel", 130);
  }
  /* no final frame, SIGKILL after the grace */
  SupFacts f;
  memset(&f, 0, sizeof f);
  f.stop = SUP_STOP_DEADLINE;
  f.kill_after_signal = true;
  f.wstatus = signaled(SIGKILL);
  expect(&f, SUP_STATUS_KILLED, "deadline", 137);
  f.stop = SUP_STOP_CANCEL;
  expect(&f, SUP_STATUS_KILLED, "cancel", 137);
}

static void test_crash_rows(void **state)
{
  (void)state;
  SupFacts f;
  memset(&f, 0, sizeof f);
  /* malformed frame: group SIGKILLed at once */
  f.protocol = true;
  f.wstatus = signaled(SIGKILL);
  expect(&f, SUP_STATUS_CRASHED, "protocol", 1);
  /* the supervisor could not wire the worker's pipes: group SIGKILLed */
  memset(&f, 0, sizeof f);
  f.watch_err = UV_EBADF;
  f.wstatus = signaled(SIGKILL);
  expect(&f, SUP_STATUS_CRASHED, "watch:EBADF", 1);
  /* no final frame otherwise */
  memset(&f, 0, sizeof f);
  f.wstatus = exited(0);
  expect(&f, SUP_STATUS_CRASHED, "exit:0", 1);
  f.wstatus = exited(76);
  expect(&f, SUP_STATUS_CRASHED, "exit:76", 1);
  f.wstatus = signaled(SIGSEGV);
  SupVerdict v;
  sup_decide(&f, &v);
  assert_int_equal(v.status, SUP_STATUS_CRASHED);
  assert_string_equal(v.reason, "signal:SIGSEGV");
  assert_int_equal(v.term_signal, SIGSEGV);
  /* killed from outside while running: no supervisor signal, so crashed */
  f.wstatus = signaled(SIGKILL);
  expect(&f, SUP_STATUS_CRASHED, "signal:SIGKILL", 1);
  /* the worker never started */
  memset(&f, 0, sizeof f);
  f.spawn_err = -ENOENT;
  sup_decide(&f, &v);
  assert_int_equal(v.status, SUP_STATUS_CRASHED);
  assert_string_equal(v.reason, "spawn:ENOENT");
  assert_int_equal(v.term_signal, 0);
  /* cancelled while waiting to retry a failed spawn */
  f.spawn_err = -ECANCELED;
  sup_decide(&f, &v);
  assert_int_equal(v.status, SUP_STATUS_CANCELLED);
  assert_string_equal(v.reason, "cancel");
  assert_int_equal(v.exit_code, 130);
}

static void test_first_row_wins(void **state)
{
  (void)state;
  /* a final frame, then garbage (only logged) and a SIGKILL: the frame */
  SupFacts f = final_facts(IPC_STATUS_OK, NULL, 5);
  f.protocol = true;
  f.wstatus = signaled(SIGKILL);
  expect(&f, SUP_STATUS_OK, NULL, 5);
  /* a deaf worker killed after the grace that also wrote garbage */
  memset(&f, 0, sizeof f);
  f.stop = SUP_STOP_DEADLINE;
  f.kill_after_signal = true;
  f.protocol = true;
  f.wstatus = signaled(SIGKILL);
  expect(&f, SUP_STATUS_KILLED, "deadline", 137);
  /* signalled for the deadline but it exited without a final frame before
   * the grace ran out: not killed by us, so crashed */
  memset(&f, 0, sizeof f);
  f.stop = SUP_STOP_DEADLINE;
  f.wstatus = exited(3);
  expect(&f, SUP_STATUS_CRASHED, "exit:3", 1);
}

static void test_parsers_and_names(void **state)
{
  (void)state;
  double ms = -1;
  assert_int_equal(sup_parse_duration("250ms", &ms), 0);
  assert_true(ms == 250);
  assert_int_equal(sup_parse_duration("5s", &ms), 0);
  assert_true(ms == 5000);
  assert_int_equal(sup_parse_duration("2m", &ms), 0);
  assert_true(ms == 120000);
  assert_int_equal(sup_parse_duration("1.5s", &ms), 0);
  assert_true(ms == 1500);
  assert_int_equal(sup_parse_duration("300", &ms), 0); /* a bare number: seconds */
  assert_true(ms == 300000);
  assert_int_equal(sup_parse_duration("5parsecs", &ms), -1);
  assert_int_equal(sup_parse_duration("", &ms), -1);
  size_t n = 0;
  assert_int_equal(sup_parse_size("1M", &n), 0);
  assert_int_equal(n, 1u << 20);
  assert_int_equal(sup_parse_size("1000", &n), 0);
  assert_int_equal(n, 1000);
  assert_int_equal(sup_parse_size("x", &n), -1);
  assert_string_equal(sup_status_name(SUP_STATUS_TIMEOUT), "timeout");
  assert_string_equal(sup_status_name(SUP_STATUS_KILLED), "killed");
  assert_string_equal(sup_status_name(SUP_STATUS_CRASHED), "crashed");
  assert_string_equal(sup_status_name(SUP_STATUS__COUNT), "?");
  /* --retries runs a job again only when its worker died or was killed */
  assert_true(sup_status_retryable(SUP_STATUS_CRASHED));
  assert_true(sup_status_retryable(SUP_STATUS_KILLED));
  assert_false(sup_status_retryable(SUP_STATUS_OK));
  assert_false(sup_status_retryable(SUP_STATUS_ERROR));
  assert_false(sup_status_retryable(SUP_STATUS_TIMEOUT));
  assert_false(sup_status_retryable(SUP_STATUS_CANCELLED));
  assert_string_equal(sup_signame(SIGTERM), "SIGTERM");
  assert_string_equal(sup_signame(SIGKILL), "SIGKILL");
  assert_string_equal(sup_signame(SIGRTMIN + 1), "SIG35");
}

/* The sandbox rows (docs/sandbox.md): memory, seccomp, cpu, oom. */
static void test_sandbox_rows(void **state)
{
  (void)state;
  SupFacts f = final_facts(IPC_STATUS_ERROR, NULL, 1);
  f.f_limit_memory = true;
  expect(&f, SUP_STATUS_ERROR, "memory", 1);
  memset(&f, 0, sizeof f);
  f.wstatus = signaled(SIGSYS);
  expect(&f, SUP_STATUS_CRASHED, "signal:SIGSYS", 1); /* no filter reported */
  f.seccomp = true;
  expect(&f, SUP_STATUS_CRASHED, "seccomp", 1);
  memset(&f, 0, sizeof f);
  f.wstatus = signaled(SIGXCPU);
  expect(&f, SUP_STATUS_CRASHED, "signal:SIGXCPU", 1);
  f.cpu_limited = true;
  expect(&f, SUP_STATUS_KILLED, "cpu", 137);
  memset(&f, 0, sizeof f);
  f.wstatus = exited(WRK_EXIT_OOM);
  expect(&f, SUP_STATUS_CRASHED, "exit:102", 1); /* a fake worker's 102 */
  f.real_worker = true;
  expect(&f, SUP_STATUS_CRASHED, "oom", 1);
  assert_int_equal(sup_address_space(0), 4ull << 30);
  assert_int_equal(sup_address_space(256u << 20), (512ull << 20) + (512ull << 20));
}

/* ---- linein.c ---------------------------------------------------------- */

static void expect_line(SupLineIn *li, const char *want)
{
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(li, &line, &len), 1);
  assert_int_equal(len, strlen(want));
  assert_string_equal(line, want);
}

/* A regular file: every line, an empty one, a last one without '\n'. */
static void test_linein_file(void **state)
{
  (void)state;
  char path[] = "/tmp/test_linein_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  /* a line longer than one read (64 KiB) too */
  char *big = malloc(200001);
  memset(big, 'x', 200000);
  big[200000] = 0;
  dprintf(fd, "one\n\n%s\ntwo\r\nlast", big);
  close(fd);
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, path, &blocking), 0);
  assert_false(blocking);
  expect_line(&li, "one");
  expect_line(&li, "");
  expect_line(&li, big);
  expect_line(&li, "two\r"); /* the caller drops the '\r' */
  expect_line(&li, "last");
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(&li, &line, &len), -1);
  assert_int_equal(li.err, 0);
  assert_int_equal(li.lineno, 5);
  sup_linein_close(&li);
  unlink(path);
  free(big);
  SupLineIn none;
  assert_int_equal(sup_linein_open(&none, "/nonexistent/x.jsonl", &blocking), -ENOENT);
}

/* stdin a pipe, fed a piece at a time: no whole line yet is 0 (never a
 * wait), the writer's close is the end. The shell's description of the
 * pipe is left blocking. */
static void test_linein_pipe(void **state)
{
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  int saved = dup(0);
  dup2(p[0], 0);
  close(p[0]);
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, "-", &blocking), 0);
  assert_false(blocking);
  assert_false(fcntl(0, F_GETFL) & O_NONBLOCK);
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  assert_int_equal(write(p[1], "ab", 2), 2);
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  assert_int_equal(write(p[1], "c\nde", 4), 4);
  expect_line(&li, "abc");
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  close(p[1]);
  expect_line(&li, "de");
  assert_int_equal(sup_linein_next(&li, &line, &len), -1);
  sup_linein_close(&li);
  dup2(saved, 0);
  close(saved);
}

/* A FIFO opened before any writer: read() says EOF, but it is not the
 * end until a writer has come and gone. */
static void test_linein_fifo(void **state)
{
  (void)state;
  char dir[] = "/tmp/test_linein_fifo_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/q", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, path, &blocking), 0);
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  int w = open(path, O_WRONLY | O_NONBLOCK);
  assert_true(w >= 0);
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  assert_int_equal(write(w, "job.harn\n", 9), 9);
  expect_line(&li, "job.harn");
  close(w);
  assert_int_equal(sup_linein_next(&li, &line, &len), -1);
  sup_linein_close(&li);
  unlink(path);
  rmdir(dir);
}

static void log_items(SupEventLog *log, const char *const *items, size_t max_items,
                      size_t max_bytes)
{
  for (size_t i = 0; items[i]; i++) {
    if (sup_log_full(log, max_items, max_bytes)) sup_log_drop(log);
    else sup_log_add(log, items[i], strlen(items[i]), max_items, max_bytes);
  }
}

/* The entry cap: the first N kept, the rest counted. */
static void test_event_log_count(void **state)
{
  (void)state;
  SupEventLog log;
  memset(&log, 0, sizeof log);
  assert_false(sup_log_full(&log, 3, 100));
  static const char *const items[] = {"1", "2", "3", "4", "5", NULL};
  log_items(&log, items, 3, 100);
  assert_string_equal(log.json.data, "1,2,3");
  assert_int_equal(log.count, 3);
  assert_int_equal(log.received, 5);
  assert_int_equal(sup_log_dropped(&log), 2);
  assert_true(sup_log_full(&log, 3, 100));
  sup_log_free(&log);
  assert_int_equal(log.received, 0);
  assert_null(log.json.data);
}

/* The byte cap counts the array body with its commas: "ab,cd" is 5 bytes;
 * an item that does not fit is dropped, and so is every later one, even
 * one that would fit (the array stays a prefix of the events). */
static void test_event_log_bytes(void **state)
{
  (void)state;
  SupEventLog log;
  memset(&log, 0, sizeof log);
  assert_true(sup_log_add(&log, "ab", 2, 10, 5));
  assert_true(sup_log_add(&log, "cd", 2, 10, 5)); /* exactly 5 */
  assert_string_equal(log.json.data, "ab,cd");
  assert_true(sup_log_full(&log, 10, 5));
  sup_log_free(&log);

  assert_true(sup_log_add(&log, "ab", 2, 10, 5));
  assert_false(sup_log_add(&log, "cde", 3, 10, 5)); /* "ab,cde" is 6 */
  assert_true(sup_log_full(&log, 10, 5));           /* one was dropped */
  assert_false(sup_log_add(&log, "c", 1, 10, 5));   /* would fit: still no */
  assert_string_equal(log.json.data, "ab");
  assert_int_equal(log.count, 1);
  assert_int_equal(sup_log_dropped(&log), 2);
  sup_log_free(&log);

  /* an item larger than the whole cap, first */
  assert_false(sup_log_add(&log, "abcdef", 6, 10, 5));
  assert_int_equal(log.count, 0);
  assert_int_equal(log.json.len, 0);
  assert_int_equal(sup_log_dropped(&log), 1);
  sup_log_free(&log);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_final_frame_rows),
      cmocka_unit_test(test_supervisor_signal_rows),
      cmocka_unit_test(test_crash_rows),
      cmocka_unit_test(test_first_row_wins),
      cmocka_unit_test(test_parsers_and_names),
      cmocka_unit_test(test_sandbox_rows),
      cmocka_unit_test(test_linein_file),
      cmocka_unit_test(test_linein_pipe),
      cmocka_unit_test(test_linein_fifo),
      cmocka_unit_test(test_event_log_count),
      cmocka_unit_test(test_event_log_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
