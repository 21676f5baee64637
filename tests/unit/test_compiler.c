/*
 * test_compiler.c: unit tests of the compiler and the interpreter
 * (vm/compiler.c, vm/interp.c, vm/module.c, vm/debug.c).
 *
 * Each test compiles and runs small Harn programs through the public API
 * (vm_run_source) with the output captured by VmConfig.write, then checks
 * the printed text, the status, the error text (with the docs/RUNTIME.md 3.2
 * line suffix) and the counters of vm_stats. Covered: expressions and
 * control flow, closures (snapshot capture), error kinds caught and
 * uncaught, the 512-frame limit, catch restoring the operand stack,
 * finally running once per exit, GC keeping a long allocation loop
 * bounded, the instruction and memory limits (uncatchable), the host
 * interrupt countdown (exactly 1024 instructions), fused instructions
 * counting as the instructions they replace, compile errors and the
 * disassembler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "vm/interp.h"
#include "vm/state.h"
#include "vm/vm.h"

static Buf out1, out2;
static Vm *g_vm;           /* the VM being run (for the interrupt test) */
static const char *g_trigger; /* output text that makes the writer interrupt */

static void capture(void *ud, int stream, const char *d, size_t n)
{
  buf_append(stream == 2 ? &out2 : &out1, d, n);
  if (g_trigger && g_vm && n >= strlen(g_trigger) && memcmp(d, g_trigger, strlen(g_trigger)) == 0)
    vm_interrupt(g_vm, SIGTERM);
}

static Vm *new_vm(uint64_t max_instr, size_t mem_limit)
{
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.write = capture;
  cfg.max_instructions = max_instr;
  cfg.memory_limit = mem_limit;
  buf_clear(&out1);
  buf_clear(&out2);
  g_trigger = NULL;
  return vm_new(&cfg);
}

static VmStatus run_in(Vm *vm, const char *src)
{
  g_vm = vm;
  VmStatus st = vm_run_source(vm, "t.harn", src, strlen(src), NULL);
  g_vm = NULL;
  return st;
}

/* Run [src] and check it succeeds printing exactly [expected]. */
static void expect_output(const char *src, const char *expected)
{
  Vm *vm = new_vm(0, 0);
  VmStatus st = run_in(vm, src);
  if (st != VM_OK) fprintf(stderr, "program failed: %s\n%s", src, vm_diagnostic(vm));
  assert_int_equal(st, VM_OK);
  assert_string_equal(out1.data ? out1.data : "", expected);
  vm_free(vm);
}

/* Run [src] and check it fails with error text [text] (exact). */
static void expect_error(const char *src, VmStatus status, const char *text)
{
  Vm *vm = new_vm(0, 0);
  VmStatus st = run_in(vm, src);
  assert_int_equal(st, status);
  assert_string_equal(vm_error_text(vm), text);
  vm_free(vm);
}

static int teardown_bufs(void **state)
{
  (void)state;
  buf_free(&out1);
  buf_free(&out2);
  return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_minimal(void **state)
{
  (void)state;
  expect_output("println(1 + 2)", "3\n");
  expect_output("let x = 4\nprintln(x * 2 - 1)\nprintln(\"a${x}b\")", "7\na4b\n");
}

static void test_control_flow(void **state)
{
  (void)state;
  expect_output("var s = 0\nfor i in 1 to 4 { if i == 2 { continue }\n s += i }\nprintln(s)", "8\n");
  expect_output("var n = 0\nwhile true { n += 1\n if n > 3 { break } }\nprintln(n)", "4\n");
  expect_output("let v = if false { 1 } else if true { 2 } else { 3 }\nprintln(v)", "2\n");
  expect_output("for e in {b: 2, a: 1} { println(e) }", "{key: a, value: 1}\n{key: b, value: 2}\n");
  expect_output("for c in \"abc\" { println(c) }\nfor x in 5 { println(x) }\nprintln(\"done\")",
                "done\n");
  expect_output("println(match 3 { 1 | 2 -> { \"low\" }\n n if n > 2 -> { \"big ${n}\" } })",
                "big 3\n");
  expect_output("let {a, b = 2, ...r} = {a: 1, c: 3}\nlet [x, ...t] = [7, 8, 9]\nprintln([a, b, r, x, t])",
                "[1, 2, {c: 3}, 7, [8, 9]]\n");
}

static void test_functions_closures(void **state)
{
  (void)state;
  expect_output("fn f(a, b = a + 1, ...r) { return [a, b, r] }\nprintln(f(1))\nprintln(f(1, nil, 3, 4))",
                "[1, 2, []]\n[1, nil, [3, 4]]\n");
  /* snapshot capture: later assignments are not seen by the closure */
  expect_output("var x = 1\nlet f = { -> x }\nx = 2\nprintln(f())", "1\n");
  /* a closure's own copy persists across its calls */
  expect_output("fn mk() { var c = 0\n return { -> c = c + 1\n c } }\nlet k = mk()\nk()\nprintln(k())",
                "2\n");
  /* named local fn calls itself */
  expect_output("fn o() { fn fact(n) { if n < 2 { return 1 }\n return n * fact(n - 1) }\n return fact(6) }\n"
                "println(o())",
                "720\n");
  /* tail calls do not grow the stack */
  expect_output("fn loop(n) { if n == 0 { return \"done\" }\n return loop(n - 1) }\nprintln(loop(100000))",
                "done\n");
  expect_output("println([1, 2].map(to_string))\nprintln(\"a,b\" |> split(_, \",\"))", "[1, 2]\n[a, b]\n");
}

static void test_enums_structs(void **state)
{
  (void)state;
  expect_output("enum E { A(x), B }\nprintln([E.A(1), E.B])\n"
                "println(match E.A(5) { E.B -> { 0 }\n E.A(v) -> { v } })",
                "[E.A(1), E.B]\n5\n");
  expect_output("struct P { x, y }\nimpl P { fn s(self) { return self.x + self.y } }\n"
                "let p = P { x: 1, y: 2 }\nprintln(p.s())\nprintln(p)\nprintln(p.nope())",
                "3\nP {x: 1, y: 2}\nnil\n");
}

static void test_errors(void **state)
{
  (void)state;
  expect_error("let a = 1\nlet b = 0\nprintln(a / b)", VM_RUNTIME_ERROR,
               "Runtime error: Division by zero (line 3)");
  expect_error("throw \"fatal\"", VM_RUNTIME_ERROR, "Thrown: fatal");
  expect_error("let x = 1\nx = 2", VM_RUNTIME_ERROR,
               "Runtime error: Cannot assign to immutable binding: x (line 2)");
  expect_error("println(nope)", VM_RUNTIME_ERROR, "Runtime error: Undefined variable: nope (line 1)");
  /* an unknown call target is a static check error (vm/check.h); the
   * runtime error remains for a name the file binds only elsewhere */
  expect_error("nope()", VM_COMPILE_ERROR, "call target `nope` is not defined or imported");
  expect_error("fn g() {\n  let nope = 1\n  return nope\n}\nnope()", VM_RUNTIME_ERROR,
               "Runtime error: Undefined builtin: nope (line 5)");
  expect_error("1 + \"a\"", VM_RUNTIME_ERROR, "Type error: can't add int and string (line 1)");
  expect_error("match 1 { 2 -> { 0 } }", VM_RUNTIME_ERROR, "Thrown: No match arm matched the value");
  expect_error("fn f() {\n  return 1 / 0\n}\nf()", VM_RUNTIME_ERROR,
               "Runtime error: Division by zero (line 2)");
  /* caught texts carry no suffix */
  expect_output("try { 1 / 0 } catch (e) { println(e) }\ntry { x = 1 } catch (e) { println(e) }\n"
                "try { throw {code: 7} } catch (e) { println(e.code) }",
                "Division by zero\nUndefined variable: x\n7\n");
  /* typed catch passes other values to the outer handler */
  expect_output("enum Ae { Nf(w) }\ntry { try { throw \"s\" } catch (e: Ae) { println(\"no\") } }"
                " catch (e) { println(\"outer ${e}\") }",
                "outer s\n");
  /* an error in a callback is caught around the builtin */
  expect_output("try { [1, 2].map({ x -> x / 0 }) } catch (e) { println(e) }", "Division by zero\n");
  expect_error("while true {}\nbreak", VM_COMPILE_ERROR, "Compile error at line 2: break outside of loop");
}

static void test_stack_overflow_512(void **state)
{
  (void)state;
  Vm *vm = new_vm(0, 0);
  /* frame 1 is the main chunk, so depth(510) is frame 512 and its call fails */
  assert_int_equal(run_in(vm, "fn depth(n) { return try { depth(n + 1) } catch (e) { n } }\n"
                              "println(depth(0))"),
                   VM_OK);
  assert_string_equal(out1.data, "510\n");
  VmStats st;
  vm_stats(vm, &st);
  assert_int_equal(st.peak_frames, 512);
  vm_free(vm);
  expect_error("fn r(n) { return 1 + r(n) }\nr(0)", VM_RUNTIME_ERROR,
               "Runtime error: Stack overflow: too many nested calls (line 1)");
}

static void test_catch_restores_state(void **state)
{
  (void)state;
  /* operands pushed before the try (1, 2 and the list builder) survive */
  expect_output("fn boom() { throw \"b\" }\nlet r = [1, 2, try { [3, boom()] } catch (e) { 9 }]\nprintln(r)",
                "[1, 2, 9]\n");
  /* a throw out of nested frames and loops lands in the right frame */
  expect_output("fn inner(x) { for i in [1, 2] { if x == 2 { throw \"x\" } }\n return x }\n"
                "var got = []\nfor x in [1, 2, 3] { got = got + [try { inner(x) } catch (e) { e }] }\n"
                "println(got)",
                "[1, x, 3]\n");
}

static void test_finally_counts(void **state)
{
  (void)state;
  expect_output("fn a() { try { return 1 } finally { println(\"f\") } }\na()\n"
                "for i in [1] { try { continue } finally { println(\"f\") } }\n"
                "while true { try { break } finally { println(\"f\") } }\n"
                "try { try { throw 1 } finally { println(\"f\") } } catch (e) {}\n"
                "try { try { 1 / 0 } finally { println(\"f\") } } catch (e) {}\n"
                "fn bad() { return 1 / 0 }\n"
                "try { try { bad() } finally { println(\"f\") } } catch (e) {}\n"
                "try { 1 } finally { println(\"f\") }",
                "f\nf\nf\nf\nf\nf\nf\n");
  expect_output("fn d() { defer { println(1) }\n defer { println(2) }\n println(0) }\nd()", "0\n2\n1\n");
  expect_output("fn q(r) { let v = r?\n return v + 1 }\nprintln([q(Ok(1)), q(Err(\"e\"))])",
                "[2, Result.Err(e)]\n");
}

static void test_gc_bounded(void **state)
{
  (void)state;
  Vm *vm = new_vm(0, 0);
  assert_int_equal(run_in(vm, "var n = 0\nfor i in 0 to 200000 { let xs = [i, \"s${i}\", {k: [i]}]\n"
                              "n = n + len(xs) }\nprintln(n)"),
                   VM_OK);
  assert_string_equal(out1.data, "600003\n");
  VmStats st;
  vm_stats(vm, &st);
  assert_true(st.collections > 0);
  assert_true(st.heap_peak < 16u * 1024 * 1024);
  vm_free(vm);
}

static void test_limits(void **state)
{
  (void)state;
  Vm *vm = new_vm(5000, 0);
  assert_int_equal(run_in(vm, "try { while true {} } catch (e) { println(\"caught\") }"), VM_RUNTIME_ERROR);
  assert_string_equal(vm_error_text(vm), "instruction limit exceeded");
  assert_null(out1.data);
  vm_free(vm);

  vm = new_vm(0, 4u * 1024 * 1024);
  /* garbage alone never trips the limit (emergency collection) ... */
  assert_int_equal(run_in(vm, "var n = 0\nfor i in 0 to 200 { let s = \"x\" * 100000\n n = n + len(s) }\n"
                              "println(n)"),
                   VM_OK);
  assert_string_equal(out1.data, "20100000\n");
  /* ... live data does, and no catch sees it */
  assert_int_equal(run_in(vm, "var keep = []\ntry { while true { keep = keep + [\"x\" * 100000] } }"
                              " catch (e) { println(\"caught\") }"),
                   VM_RUNTIME_ERROR);
  assert_string_equal(vm_error_text(vm), "memory limit exceeded");
  vm_free(vm);
}

static void test_interrupt_countdown(void **state)
{
  (void)state;
  Vm *vm = new_vm(0, 0);
  g_trigger = "go";
  assert_int_equal(run_in(vm, "println(\"go\")\nvar n = 0\nwhile true { n = n + 1 }"), VM_RUNTIME_ERROR);
  assert_string_equal(vm_error_text(vm), "Thrown: kind:cancelled:VM cancelled by host");
  int sig = 0;
  assert_true(vm_was_interrupted(vm, &sig));
  assert_int_equal(sig, SIGTERM);
  VmStats st;
  vm_stats(vm, &st);
  /* 1024 instructions ran after the safe point, the next one raised */
  assert_int_equal(st.instructions, 1025);
  vm_free(vm);

  /* the cancellation is a thrown string: a plain catch gets it */
  vm = new_vm(0, 0);
  g_trigger = "go";
  assert_int_equal(run_in(vm, "println(\"go\")\ntry { while true {} } catch (e) { println(e) }"), VM_OK);
  assert_string_equal(out1.data, "go\nkind:cancelled:VM cancelled by host\n");
  vm_free(vm);
}

static void test_fast_path(void **state)
{
  (void)state;
  /* with nothing armed, safe points never take the slow path */
  Vm *vm = new_vm(0, 0);
  assert_int_equal(run_in(vm, "var s = 0\nvar i = 0\nwhile i < 100000 { s = s + i % 7\n i = i + 1 }\n"
                              "fn f(n) { if n < 2 { return n }\n return f(n - 1) + f(n - 2) }\n"
                              "println([s, f(15)])"),
                   VM_OK);
  assert_string_equal(out1.data, "[299995, 610]\n");
#ifndef VM_GC_STRESS
  assert_int_equal(vm->interp->slow_polls, 0);
#endif
  VmStats st;
  vm_stats(vm, &st);
  assert_int_equal(st.instructions, 0); /* not counted unless asked */
  vm_free(vm);
}

static void test_pipeline_mode(void **state)
{
  (void)state;
  expect_output("log(\"ignored\")\nlet a = 1\npipeline base() { println(\"base\") }\n"
                "pipeline default() extends base { println(a) }\nfn unused() {}",
                "base\n1\n");
  Vm *vm = new_vm(0, 0);
  const char *src = "pipeline main(task) { println(task.n)\n return {r: task.n + 1} }";
  assert_int_equal(vm_run_source(vm, "p.harn", src, strlen(src), "{\"n\": 41}"), VM_OK);
  char *json = vm_result_json(vm);
  assert_string_equal(json, "{\"r\":42}");
  free(json);
  assert_int_equal(vm_exit_code(vm), 0);
  src = "pipeline main() { return Err(\"no\") }";
  assert_int_equal(vm_run_source(vm, "p.harn", src, strlen(src), NULL), VM_OK);
  assert_int_equal(vm_exit_code(vm), 1);
  assert_string_equal(vm_error_text(vm), "no");
  src = "pipeline main() { return 3 }";
  assert_int_equal(vm_run_source(vm, "p.harn", src, strlen(src), NULL), VM_OK);
  assert_int_equal(vm_exit_code(vm), 3);
  vm_free(vm);
}

/* Instructions counted for [src] in counting mode (a generous limit). */
static uint64_t counted(const char *src, const char *expected)
{
  Vm *vm = new_vm(10000000, 0);
  assert_int_equal(run_in(vm, src), VM_OK);
  assert_string_equal(out1.data ? out1.data : "", expected);
  VmStats st;
  vm_stats(vm, &st);
  vm_free(vm);
  buf_clear(&out1);
  return st.instructions;
}

/* The fused operand forms (ADD_LK, LT_LK_JF, INC_LOCAL...) count as the
 * instructions they replace: the totals are those the unfused bytecode
 * had (measured on the tree before the fusion), so max_instructions
 * budgets and the 1024-instruction grace see the same numbers. */
static void test_fused_counts(void **state)
{
  (void)state;
  /* INT8 0, SET_LOCAL; 11 x (GET_LOCAL, INT8, LT, JUMP_IF_FALSE); 10 x
   * (GET_LOCAL, INT8, ADD, SET_LOCAL, LOOP); the top level's tail */
  assert_int_equal(counted("var i = 0\nwhile i < 10 { i = i + 1 }\nprintln(i)", "10\n"), 103);
  assert_int_equal(counted("fn f(n) {\nvar s = 0\nvar j = 0\n"
                           "while j < n { s = s + j * 3 % 7 - j / 2\n j += 1 }\n"
                           "if s >= 3 { s = s - 1 } else { s = s + 1 }\n"
                           "for k in 1 to 5 { if k != 2 && s <= 100 { s = s + k } }\n"
                           "return s }\nprintln(f(20))",
                           "-17\n"),
                   547);
  assert_int_equal(counted("fn g(a, b) { return a - 1 + b }\nprintln(g(2, 3) + g(1, 1))", "5\n"), 29);
  assert_int_equal(counted("fn fib(n) { if n < 2 { return n }\n return fib(n - 1) + fib(n - 2) }\n"
                           "println(fib(15))",
                           "610\n"),
                   23681);
}

/* The property/method/callback fast paths (GET_PROP_L, the inline INVOKE
 * of a struct method, vm_call's closure path) keep the counts the unfused
 * bytecode had: totals measured on the tree before them. */
static void test_prop_call_counts(void **state)
{
  (void)state;
  assert_int_equal(counted("struct P {\n x: int\n y: int\n}\n"
                           "impl P {\n fn sum(self) { return self.x + self.y }\n"
                           " fn scale(self, k) { return self.x * k }\n}\n"
                           "fn main() {\n let ps = [P {x: 1, y: 2}, P {x: 3, y: 4}]\n"
                           " let d = {a: 5, b: 6}\n var acc = 0\n"
                           " for i in 0 to 10 exclusive {\n let p = ps[i % 2]\n"
                           " acc = acc + p.x + p.sum() + p.scale(i) + d.a - d.b\n }\n"
                           " let ys = [1, 2, 3].map({v -> v * acc}).filter({v -> v % 2 == 0})\n"
                           " println(acc)\n println(ys.reduce(0, {a, b -> a + b}))\n}\nmain()",
                           "155\n310\n"),
                   485);
}

static void test_disasm(void **state)
{
  (void)state;
  Vm *vm = new_vm(0, 0);
  const char *src = "fn f(x) { return x + 1 }\nprintln(f(2))";
  char *text = NULL;
  assert_int_equal(vm_disasm_source(vm, "d.harn", src, strlen(src), &text), VM_OK);
  assert_non_null(strstr(text, "== <main>"));
  assert_non_null(strstr(text, "== f (d.harn)"));
  assert_non_null(strstr(text, "CALL_BUILTIN"));
  assert_non_null(strstr(text, "ADD"));
  free(text);
  vm_free(vm);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_minimal, teardown_bufs),
      cmocka_unit_test_teardown(test_control_flow, teardown_bufs),
      cmocka_unit_test_teardown(test_functions_closures, teardown_bufs),
      cmocka_unit_test_teardown(test_enums_structs, teardown_bufs),
      cmocka_unit_test_teardown(test_errors, teardown_bufs),
      cmocka_unit_test_teardown(test_stack_overflow_512, teardown_bufs),
      cmocka_unit_test_teardown(test_catch_restores_state, teardown_bufs),
      cmocka_unit_test_teardown(test_finally_counts, teardown_bufs),
      cmocka_unit_test_teardown(test_gc_bounded, teardown_bufs),
      cmocka_unit_test_teardown(test_limits, teardown_bufs),
      cmocka_unit_test_teardown(test_interrupt_countdown, teardown_bufs),
      cmocka_unit_test_teardown(test_fast_path, teardown_bufs),
      cmocka_unit_test_teardown(test_pipeline_mode, teardown_bufs),
      cmocka_unit_test_teardown(test_fused_counts, teardown_bufs),
      cmocka_unit_test_teardown(test_prop_call_counts, teardown_bufs),
      cmocka_unit_test_teardown(test_disasm, teardown_bufs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
