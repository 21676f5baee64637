/*
 * test_sched.c: the scheduler (vm/sched.c, vm/channel.c) through the
 * public VM interface: task output ordering, channels, parallel, generators
 * and deadlines under GC stress (every safe point collects, so every
 * suspended task's and generator's state must be marked), a blocked sleep
 * that wakes promptly for vm_interrupt, fake_sleep's virtual clock, the
 * deadlock report of a standalone run, and the blocks of tasks dropped
 * when a run fails. Issue 19: the tasks_spawned counter; the stacks of
 * task and generator fibers counted against the memory limit (many live
 * tasks fail with the memory error instead of growing), and channel rings
 * too; a task's memory error ends the run even unawaited; many tasks cancelled at once (one
 * walk of the task tree, no recursion through a chain of tasks); and an
 * allocation that fails (an address-space limit, in a child process)
 * ending the run with the memory error, not the process with SIGABRT.
 * Issue 17: the race of a receiver that times out as a message arrives,
 * run thousands of times (virtual and real clock).
 * Timing checks use generous bounds only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "vm/vm.h"

static void collect(void *ud, int stream, const char *data, size_t len)
{
  if (stream == 1) buf_append((Buf *)ud, data, len);
}

/* Run [src] with [cfg] (write is redirected); returns the status and the
 * stdout text in *out (malloc'd). */
static VmStatus run(VmConfig *cfg, const char *src, char **out)
{
  Buf b = {0};
  cfg->write = collect;
  cfg->write_ud = &b;
  Vm *vm = vm_new(cfg);
  VmStatus st = vm_run_source(vm, "t.harn", src, strlen(src), NULL);
  if (st != VM_OK) fprintf(stderr, "%s\n", vm_error_text(vm));
  vm_free(vm);
  buf_putc(&b, '\0');
  *out = buf_take(&b);
  return st;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_tasks_under_gc_stress(void **state)
{
  VmConfig cfg = {0};
  cfg.gc_stress = true;
  char *out;
  const char *src =
      "let ch = channel(\"c\", 1)\n"
      "let p = spawn { for i in 0 to 5 { send(ch, \"v${i}\") }; close_channel(ch) }\n"
      "var got = []\n"
      "for v in ch { got = got + [v] }\n"
      "println(got)\n"
      "let h = spawn { println(\"child\"); [1, 2].map({ x -> x * 3 }) }\n"
      "println(\"parent\")\n"
      "println(await(h))\n"
      "println(parallel(3) { i -> sleep(3 - i); \"r${i}\" })\n"
      "fn g() { var i = 0; while i < 3 { yield \"g${i}\"; i = i + 1 } }\n"
      "println(iter(g()).to_list())\n";
  assert_int_equal(run(&cfg, src, &out), VM_OK);
  assert_string_equal(out, "[v0, v1, v2, v3, v4, v5]\nparent\nchild\n[3, 6]\n[r0, r1, r2]\n[g0, g1, g2]\n");
  free(out);
}

static void test_fake_sleep_virtual_clock(void **state)
{
  VmConfig cfg = {0};
  cfg.fake_sleep = true;
  char *out;
  int64_t t0 = now_ms();
  const char *src = "let a = spawn { sleep(10s); println(\"a\") }\n"
                    "let b = spawn { sleep(5s); println(\"b\") }\n"
                    "await(b)\nawait(a)\n"
                    "println(try { deadline 1s { sleep(1h) } } catch (e) { e })\n";
  assert_int_equal(run(&cfg, src, &out), VM_OK);
  assert_string_equal(out, "b\na\nDeadline exceeded\n");
  assert_true(now_ms() - t0 < 2000);
  free(out);
}

static void test_deadlock_reported(void **state)
{
  VmConfig cfg = {0};
  char *out;
  assert_int_equal(run(&cfg, "let ch = channel()\nreceive(ch)\n", &out), VM_RUNTIME_ERROR);
  free(out);
}

/* A run that fails while spawned tasks wait in parallel and parallel_race:
 * the tasks are dropped without being resumed, and the blocks those
 * builtins hold across their wait must go with them (LeakSanitizer checks
 * this in the sanitizer build; found by the fuzzer). */
static void test_dropped_tasks_free_their_blocks(void **state)
{
  VmConfig cfg = {0};
  cfg.fake_sleep = true;
  char *out;
  const char *src = "let b = spawn { parallel(3) { i -> sleep(10s); i } }\n"
                    "let c = spawn { parallel_race([{ -> sleep(10s) }, { -> sleep(20s) }]) }\n"
                    "sleep(1)\n"
                    "println(1 / 0)\n";
  assert_int_equal(run(&cfg, src, &out), VM_RUNTIME_ERROR);
  free(out);
}

/* Run [src] under [cfg]; returns the status, the VM stats in *st and, for
 * a failed run, whether it was the memory error. */
static VmStatus run_stats(VmConfig *cfg, const char *src, VmStats *st, bool *memory)
{
  Buf b = {0};
  cfg->write = collect;
  cfg->write_ud = &b;
  Vm *vm = vm_new(cfg);
  VmStatus rc = vm_run_source(vm, "t.harn", src, strlen(src), NULL);
  if (rc != VM_OK) fprintf(stderr, "%s\n", vm_error_text(vm));
  *memory = rc == VM_RUNTIME_ERROR && vm_error_is_memory(vm);
  vm_stats(vm, st);
  vm_free(vm);
  buf_free(&b);
  return rc;
}

/* VmStats.tasks_spawned counts every task of the run: spawn, parallel's
 * branches, parallel_race's closures (it used to stay 0). */
static void test_tasks_spawned_counter(void **state)
{
  VmConfig cfg = {0};
  VmStats st;
  bool mem;
  const char *src = "let a = spawn { 1 }\n"
                    "let b = spawn { 2 }\n"
                    "await(a)\n"
                    "println(parallel(3) { i -> i })\n"
                    "println(parallel_race([{ -> 1 }, { -> 2 }]))\n";
  assert_int_equal(run_stats(&cfg, src, &st, &mem), VM_OK);
  assert_int_equal(st.tasks_spawned, 7);
  assert_int_equal(run_stats(&cfg, "println(1)\n", &st, &mem), VM_OK);
  assert_int_equal(st.tasks_spawned, 0);
}

/* Fibers count against VmConfig.memory_limit: their stacks (2 MiB each,
 * C and operand) used to be invisible to it, so 200 live tasks took
 * 400 MiB under a 16 MiB limit. Now the run fails with the memory error;
 * a few tasks still fit; generators kept alive the same. */
static void test_fiber_stacks_count(void **state)
{
  VmConfig cfg = {0};
  cfg.fake_sleep = true;
  cfg.memory_limit = 16u << 20;
  VmStats st;
  bool mem = false;
  const char *many = "var hs = []\n"
                     "for i in 0 to 200 exclusive { hs = hs.push(spawn { sleep(10); i }) }\n"
                     "var t = 0\n"
                     "for h in hs { t = t + await(h) }\n"
                     "println(t)\n";
  assert_int_equal(run_stats(&cfg, many, &st, &mem), VM_RUNTIME_ERROR);
  assert_true(mem);
  assert_true(st.heap_peak <= (size_t)(20u << 20));
  const char *few = "var hs = []\n"
                    "for i in 0 to 3 exclusive { hs = hs.push(spawn { sleep(10); i }) }\n"
                    "for h in hs { await(h) }\n"
                    "println(parallel(50) { i -> i }.count)\n";
  assert_int_equal(run_stats(&cfg, few, &st, &mem), VM_OK);
  assert_true(st.heap_peak > (size_t)(6u << 20)); /* three fibers were counted */
  const char *gens = "fn g() { var i = 0\n while true { yield i\n i = i + 1 } }\n"
                     "var gs = []\n"
                     "for i in 0 to 200 exclusive { let x = g()\n x.next()\n gs = gs.push(x) }\n"
                     "println(gs.count)\n";
  mem = false;
  assert_int_equal(run_stats(&cfg, gens, &st, &mem), VM_RUNTIME_ERROR);
  assert_true(mem);
  /* dropped generators are collected: their fibers do not add up */
  const char *dropped = "fn g() { var i = 0\n while true { yield i\n i = i + 1 } }\n"
                        "var s = 0\n"
                        "for i in 0 to 2000 exclusive { let x = g()\n s = s + x.next().value }\n"
                        "println(s)\n";
  assert_int_equal(run_stats(&cfg, dropped, &st, &mem), VM_OK);
}

/* A channel's ring is allocated whole when the channel is made: it counts
 * against the limit (it used to be plain, uncounted malloc: 256 MiB per
 * channel of capacity 2^24, whatever --memory said). */
static void test_channel_ring_counts(void **state)
{
  VmConfig cfg = {0};
  cfg.memory_limit = 64u << 20;
  VmStats st;
  bool mem = false;
  const char *big = "var cs = []\n"
                    "for i in 0 to 100 exclusive { cs = cs.push(channel(\"c${i}\", 16777216)) }\n"
                    "println(cs.count)\n";
  assert_int_equal(run_stats(&cfg, big, &st, &mem), VM_RUNTIME_ERROR);
  assert_true(mem);
  const char *small = "var cs = []\n"
                      "for i in 0 to 100 exclusive { cs = cs.push(channel(\"c${i}\", 1024)) }\n"
                      "println(cs.count)\n";
  assert_int_equal(run_stats(&cfg, small, &st, &mem), VM_OK);
}

/* The memory limit is the run's: a task that hits it ends the run with the
 * memory error even when nobody awaits it (its error used to be dropped
 * with the task). */
static void test_task_memory_error_ends_run(void **state)
{
  VmConfig cfg = {0};
  cfg.memory_limit = 16u << 20;
  VmStats st;
  bool mem = false;
  const char *src = "let h = spawn { let s = \"x\" * 100000000\n s.count }\n"
                    "sleep(1)\n"
                    "for i in 0 to 100 exclusive { println(i) }\n";
  assert_int_equal(run_stats(&cfg, src, &st, &mem), VM_RUNTIME_ERROR);
  assert_true(mem);
}

/* Cancelling a task cancels its descendants: one walk of the task tree,
 * without recursion, whatever the shape (a chain of 1000 nested tasks, a
 * fan of 1000 children). */
static void test_cancel_task_tree(void **state)
{
  VmConfig cfg = {0};
  cfg.fake_sleep = true;
  char *out;
  const char *src = "fn nest(n) { if n == 0 { sleep(1000)\n return 0 }\n"
                    "  let h = spawn { nest(n - 1) }\n return await(h) }\n"
                    "let top = spawn { nest(1000) }\n"
                    "let fan = spawn { for i in 0 to 1000 exclusive { spawn { sleep(1000) } }\n sleep(2000) }\n"
                    "sleep(10)\n"
                    "let killer = spawn { cancel(top)\n cancel(fan)\n \"done\" }\n"
                    "println(await(killer))\n"
                    "println(await(top))\n"
                    "println(await(fan))\n";
  assert_int_equal(run(&cfg, src, &out), VM_OK);
  assert_string_equal(out, "done\nnil\nnil\n");
  free(out);
}

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

/* An allocation that fails (here: an address-space limit, as the sandbox
 * sets) ends the run with the memory error; the process used to abort.
 * In a child process, whose limit cannot hurt the test runner. Not in a
 * sanitizer build (ASan reserves terabytes of address space). */
static void test_allocation_failure_is_memory_error(void **state)
{
#ifdef TEST_ASAN
  skip();
#else
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {512u << 20, 512u << 20};
    setrlimit(RLIMIT_AS, &rl);
    VmConfig cfg = {0};
    VmStats st;
    bool mem = false;
    const char *src = "var xs = []\n"
                      "while true { xs = xs.push(\"x\" * 1000000) }\n";
    VmStatus rc = run_stats(&cfg, src, &st, &mem);
    _exit(rc == VM_RUNTIME_ERROR && mem ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

typedef struct {
  Vm *vm;
  int delay_ms;
} Kicker;

static void *kick(void *p)
{
  Kicker *k = p;
  usleep((useconds_t)k->delay_ms * 1000);
  vm_interrupt(k->vm, 15);
  return NULL;
}

static void test_interrupt_wakes_sleep(void **state)
{
  VmConfig cfg = {0};
  Buf b = {0};
  cfg.write = collect;
  cfg.write_ud = &b;
  Vm *vm = vm_new(&cfg);
  Kicker k = {vm, 50};
  pthread_t th;
  pthread_create(&th, NULL, kick, &k);
  int64_t t0 = now_ms();
  const char *src = "sleep(10s)\nprintln(\"not reached\")\n";
  VmStatus st = vm_run_source(vm, "t.harn", src, strlen(src), NULL);
  int64_t el = now_ms() - t0;
  pthread_join(th, NULL);
  assert_int_equal(st, VM_RUNTIME_ERROR);
  assert_non_null(strstr(vm_error_text(vm), "kind:cancelled:VM cancelled by host"));
  /* 50 ms until the signal + 250 ms in-flight grace, generous bound */
  assert_true(el >= 250 && el < 3000);
  vm_free(vm);
  buf_free(&b);
}

/* Issue 17, the timed-out receiver race: a receiver (or sync_* waiter)
 * whose timer comes due in the same instant as the message (the release)
 * has given up: the message must go to the receiver still waiting, never
 * to the one that gave up, and never be lost. Under fake_sleep's virtual
 * clock the two wakes are exact ties, so every iteration is such a race;
 * even iterations make the sender's wake come first (the case that used to
 * hand the message to the timed-out receiver), odd ones the timer's. */
static const char race_src[] =
    "var wrong = 0\n"
    "var lost = 0\n"
    "for i in range(2000) {\n"
    "  let name = \"mb${i}\"\n"
    "  mailbox_open(name)\n"
    "  let a = spawn { return mailbox_receive(name, 5ms) }\n"
    "  let b = spawn { return mailbox_receive(name, 1h) }\n"
    "  if i % 2 == 0 { sleep(5ms) } else { sleep(4ms); sleep(1ms) }\n"
    "  mailbox_send(name, i)\n"
    "  let ra = await(a)\n"
    "  let rb = await(b)\n"
    "  if ra != nil { wrong = wrong + 1 }\n"
    "  if rb != i { lost = lost + 1 }\n"
    "}\n"
    "println(\"mailbox: ${wrong} ${lost}\")\n"
    "wrong = 0\n"
    "lost = 0\n"
    "for i in range(2000) {\n"
    "  let name = \"mx${i}\"\n"
    "  let p = sync_mutex_acquire(name)\n"
    "  let a = spawn { return sync_mutex_acquire(name, 5ms) }\n"
    "  let b = spawn { return sync_mutex_acquire(name, 1h) }\n"
    "  if i % 2 == 0 { sleep(5ms) } else { sleep(4ms); sleep(1ms) }\n"
    "  sync_release(p)\n"
    "  let ra = await(a)\n"
    "  let rb = await(b)\n"
    "  if ra != nil { wrong = wrong + 1 }\n"
    "  if rb == nil { lost = lost + 1 } else { sync_release(rb) }\n"
    "}\n"
    "println(\"mutex: ${wrong} ${lost}\")\n"
;

static void test_timed_out_receiver_race(void **state)
{
  VmConfig cfg = {0};
  cfg.fake_sleep = true;
  char *out;
  assert_int_equal(run(&cfg, race_src, &out), VM_OK);
  assert_string_equal(out, "mailbox: 0 0\nmutex: 0 0\n");
  free(out);
}

/* The same races on the real clock (1 ms ties, which the load of the
 * machine makes land either way): whatever the order, each message is
 * received exactly once and a timed-out receiver gets nil. */
static void test_timed_out_receiver_race_real_clock(void **state)
{
  VmConfig cfg = {0};
  char *out;
  const char *src = "var bad = 0\n"
                    "for i in range(1500) {\n"
                    "  let name = \"r${i}\"\n"
                    "  mailbox_open(name)\n"
                    "  let a = spawn { return mailbox_receive(name, 1ms) }\n"
                    "  let b = spawn { return mailbox_receive(name, 20s) }\n"
                    "  sleep(1ms)\n"
                    "  mailbox_send(name, i)\n"
                    "  let ra = await(a)\n"
                    "  if ra == i { mailbox_send(name, -1) }\n"
                    "  let rb = await(b)\n"
                    "  if !((ra == nil && rb == i) || (ra == i && rb == -1)) { bad = bad + 1 }\n"
                    "}\n"
                    "println(bad)\n";
  assert_int_equal(run(&cfg, src, &out), VM_OK);
  assert_string_equal(out, "0\n");
  free(out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tasks_under_gc_stress),
      cmocka_unit_test(test_fake_sleep_virtual_clock),
      cmocka_unit_test(test_deadlock_reported),
      cmocka_unit_test(test_dropped_tasks_free_their_blocks),
      cmocka_unit_test(test_interrupt_wakes_sleep),
      cmocka_unit_test(test_tasks_spawned_counter),
      cmocka_unit_test(test_fiber_stacks_count),
      cmocka_unit_test(test_task_memory_error_ends_run),
      cmocka_unit_test(test_channel_ring_counts),
      cmocka_unit_test(test_cancel_task_tree),
      cmocka_unit_test(test_allocation_failure_is_memory_error),
      cmocka_unit_test(test_timed_out_receiver_race),
      cmocka_unit_test(test_timed_out_receiver_race_real_clock),
  };
  /* TEST_SCHED_FILTER=pattern runs only the matching tests (e.g. the race
   * stress tests, repeated under load: `*race*`) */
  const char *filter = getenv("TEST_SCHED_FILTER");
  if (filter && *filter) cmocka_set_test_filter(filter);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
