/*
 * test_sched.c: the scheduler (vm/sched.c, vm/channel.c) through the
 * public VM interface: task output ordering, channels, parallel, generators
 * and deadlines under GC stress (every safe point collects, so every
 * suspended task's and generator's state must be marked), a blocked sleep
 * that wakes promptly for vm_interrupt, fake_sleep's virtual clock, the
 * deadlock report of a standalone run, and the blocks of tasks dropped
 * when a run fails. Timing checks use generous
 * bounds only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm/buf.h"
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

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tasks_under_gc_stress),
      cmocka_unit_test(test_fake_sleep_virtual_clock),
      cmocka_unit_test(test_deadlock_reported),
      cmocka_unit_test(test_dropped_tasks_free_their_blocks),
      cmocka_unit_test(test_interrupt_wakes_sleep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
