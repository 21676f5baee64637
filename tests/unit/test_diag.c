/*
 * test_diag.c: the uncaught-error rendering of docs/RUNTIME.md 3.4, byte for
 * byte: gutter width for one- and two-digit lines, caret runs over
 * identifiers, column 0, missing source, and the `= note` lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vm/diag.h"

static const char *src_main =
    "pipeline default(task) {\n"
    "  return a / b\n"
    "}\n";

static const char *source_of(void *ud, const char *file)
{
  (void)file;
  return (const char *)ud;
}

static void render_eq(const char *msg, const TraceEntry *t, int n, const char *src,
                      const char *want)
{
  Buf out = {0};
  diag_render(&out, msg, t, n, "main.harn", source_of, (void *)src);
  assert_string_equal(out.data, want);
  buf_free(&out);
}

static void test_reference_example(void **state)
{
  (void)state;
  TraceEntry t[] = {{"", 5, 3, "main.harn"}, {"divide", 2, 12, "main.harn"}};
  render_eq("Runtime error: Division by zero (line 2)", t, 2, src_main,
            "error: Runtime error: Division by zero (line 2)\n"
            "  --> main.harn:2:12\n"
            "   |\n"
            " 2 |   return a / b\n"
            "   |            ^\n"
            "  = note: called from pipeline at main.harn:5\n");
}

static void test_identifier_carets_two_digit_line(void **state)
{
  (void)state;
  char src[512] = "";
  for (int i = 1; i < 12; i++) strcat(src, "\n");
  strcat(src, "  let q = undefined_thing + 1\n");
  TraceEntry t[] = {{"", 12, 11, "x.harn"}};
  render_eq("Runtime error: Undefined variable: undefined_thing (line 12)", t, 1, src,
            "error: Runtime error: Undefined variable: undefined_thing (line 12)\n"
            "   --> x.harn:12:11\n"
            "    |\n"
            " 12 |   let q = undefined_thing + 1\n"
            "    |           ^^^^^^^^^^^^^^^\n");
}

static void test_col_zero_covers_trimmed_line(void **state)
{
  (void)state;
  TraceEntry t[] = {{"f", 2, 0, "main.harn"}};
  render_eq("Thrown: x", t, 1, src_main,
            "error: Thrown: x\n"
            "  --> main.harn:2:1\n"
            "   |\n"
            " 2 |   return a / b\n"
            "   |   ^^^^^^^^^^^^\n");
}

static void test_no_source_and_line_zero_frames(void **state)
{
  (void)state;
  TraceEntry t[] = {{"", 0, 0, NULL}, {"outer", 9, 1, NULL}, {"inner", 3, 4, NULL}};
  Buf out = {0};
  diag_render(&out, "Thrown: boom", t, 3, "prog.harn", NULL, NULL);
  assert_string_equal(out.data,
                      "error: Thrown: boom\n"
                      "  --> prog.harn:3:4\n"
                      "  = note: called from outer at prog.harn:9\n");
  buf_free(&out);
}

static void test_no_trace(void **state)
{
  (void)state;
  Buf out = {0};
  diag_render(&out, "Unexpected end of file, expected }", NULL, 0, "a.harn", NULL, NULL);
  assert_string_equal(out.data, "error: Unexpected end of file, expected }\n");
  buf_free(&out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_example),
      cmocka_unit_test(test_identifier_carets_two_digit_line),
      cmocka_unit_test(test_col_zero_covers_trimmed_line),
      cmocka_unit_test(test_no_source_and_line_zero_frames),
      cmocka_unit_test(test_no_trace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
