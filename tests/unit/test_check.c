/*
 * test_check.c: the static checker's contract (vm/check.h) beyond what the
 * language tests in tests/lang/check show: the count of problems, the cap
 * on rendered reports, the truncated first message, the names a whole std
 * module import defines, and garbage-free behaviour on every program of a
 * small corpus of valid forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/check.h"
#include "vm/parser.h"

/* Check [src]; return the number of problems, the rendering in [out] (the
 * caller frees it) and the first message in [first]. */
static int run_check(const char *src, Buf *out, char *first, size_t firstcap)
{
  Arena a = {0};
  ParseError e;
  memset(&e, 0, sizeof e);
  Node *prog = parse_program(&a, src, strlen(src), &e);
  if (!prog) fail_msg("parse error: %s", e.message);
  int n = chk_program(prog, "t.harn", src, out, first, firstcap);
  arena_free(&a);
  return n;
}

static int count_of(const char *hay, const char *needle)
{
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static void test_clean_program(void **state)
{
  (void)state;
  Buf out = {0};
  char first[64] = "x";
  int n = run_check("fn f(a: int) -> int { return a }\nlet x: int = f(1)\nprintln(x)\n", &out, first,
                    sizeof first);
  assert_int_equal(n, 0);
  assert_int_equal(out.len, 0);
  assert_string_equal(first, "");
  buf_free(&out);
}

static void test_every_problem_counted_reports_capped(void **state)
{
  (void)state;
  Buf src = {0};
  for (int i = 0; i < CHK_MAX_REPORTS + 5; i++) buf_printf(&src, "let v%d: int = \"s\"\n", i);
  Buf out = {0};
  char first[16];
  int n = run_check(src.data, &out, first, sizeof first);
  assert_int_equal(n, CHK_MAX_REPORTS + 5);
  assert_int_equal(count_of(out.data, "error: declared as int, but assigned string"), CHK_MAX_REPORTS);
  /* the first message, truncated to the buffer */
  assert_int_equal(strlen(first), sizeof first - 1);
  assert_memory_equal(first, "declared as int", 15);
  buf_free(&src);
  buf_free(&out);
}

static void test_rendering(void **state)
{
  (void)state;
  Buf out = {0};
  char first[128];
  int n = run_check("println(1)\nqqzx_frob(2)\n", &out, first, sizeof first);
  assert_int_equal(n, 1);
  assert_string_equal(first, "call target `qqzx_frob` is not defined or imported");
  assert_string_equal(out.data, "error: call target `qqzx_frob` is not defined or imported\n"
                                "  --> t.harn:2:1\n"
                                "   |\n"
                                " 2 | qqzx_frob(2)\n"
                                "   | ^^^^^^^^^\n");
  buf_free(&out);
}

static void test_std_import_defines_names(void **state)
{
  (void)state;
  Buf out = {0};
  char first[128];
  assert_int_equal(run_check("import \"std/math\"\nprintln(gcd(4, 6))\n", &out, first, sizeof first), 0);
  /* an unknown std module or a file module: no call-target check */
  assert_int_equal(run_check("import \"std/nope\"\nfrob()\n", &out, first, sizeof first), 0);
  assert_int_equal(run_check("import \"./lib\"\nfrob()\n", &out, first, sizeof first), 0);
  /* a selective import defines only its names */
  assert_int_equal(run_check("import { gcd } from \"std/math\"\nlcm(1, 2)\n", &out, first, sizeof first), 1);
  buf_free(&out);
}

static void test_scopes_shadow(void **state)
{
  (void)state;
  Buf out = {0};
  char first[128];
  /* the inner x is a parameter of unknown type: nothing to report */
  const char *ok = "let x = \"s\"\nfn f(x) -> int { return x }\n"
                   "fn g() -> int { let x = 1\n  return x }\n"
                   "fn h(y) -> int { for x in [1] { return x }\n  return 0 }\n";
  assert_int_equal(run_check(ok, &out, first, sizeof first), 0);
  /* the outer x after an inner block is the string again */
  const char *bad = "let x = \"s\"\nfn f() -> int {\n  if true { let x = 1 }\n  return x\n}\n";
  assert_int_equal(run_check(bad, &out, first, sizeof first), 1);
  assert_string_equal(first, "return type doesn't match: expected int, got string");
  buf_free(&out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean_program),
      cmocka_unit_test(test_every_problem_counted_reports_capped),
      cmocka_unit_test(test_rendering),
      cmocka_unit_test(test_std_import_defines_names),
      cmocka_unit_test(test_scopes_shadow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
