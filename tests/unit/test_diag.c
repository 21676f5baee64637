/*
 * test_diag.c: the uncaught-error rendering of docs/RUNTIME.md 3.4, byte for
 * byte: gutter width for one- and two-digit lines, caret runs over
 * identifiers, column 0, missing source, and the `= note` lines; the
 * labelled spans of syntax errors (docs/LANGUAGE.md 10.3), the collapse of
 * repeated frames and the terminal colouring.
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

static void test_span_label_help(void **state)
{
  (void)state;
  Buf out = {0};
  diag_render_span(&out, "unexpected end of file, expected }", "m.harn", 2, 15, 1,
                   "file ends here", "add a closing `}` to finish this block", source_of,
                   (void *)"fn f() {\n  println(\"x\")\n");
  assert_string_equal(out.data, "error: unexpected end of file, expected }\n"
                                "  --> m.harn:2:15\n"
                                "   |\n"
                                " 2 |   println(\"x\")\n"
                                "   |               ^ file ends here\n"
                                "  = help: add a closing `}` to finish this block\n");
  buf_free(&out);
  /* a width counts characters and is clamped to the rest of the line (5 here) */
  diag_render_span(&out, "expected ), found str(\u00e9t\u00e9)", "m.harn", 1, 7, 40,
                   "unexpected token", NULL, source_of, (void *)"f(1 2 \"\u00e9t\u00e9\"");
  assert_string_equal(out.data, "error: expected ), found str(\u00e9t\u00e9)\n"
                                "  --> m.harn:1:7\n"
                                "   |\n"
                                " 1 | f(1 2 \"\u00e9t\u00e9\"\n"
                                "   |       ^^^^^ unexpected token\n");
  buf_free(&out);
  /* no position: the message line only */
  diag_render_span(&out, "Parse error", "m.harn", 0, 0, 0, "here", NULL, source_of, (void *)"");
  assert_string_equal(out.data, "error: Parse error\n");
  buf_free(&out);
}

static void test_repeated_frames_collapse(void **state)
{
  (void)state;
  TraceEntry t[12];
  t[0] = (TraceEntry){"", 4, 1, "d.harn"};
  for (int i = 1; i < 12; i++) t[i] = (TraceEntry){"deep", 2, 14, "d.harn"};
  render_eq("Runtime error: Stack overflow: too many nested calls (line 2)", t, 12,
            "fn deep(n) {\n  return 1 + deep(n + 1)\n}\ndeep(0)\n",
            "error: Runtime error: Stack overflow: too many nested calls (line 2)\n"
            "  --> d.harn:2:14\n"
            "   |\n"
            " 2 |   return 1 + deep(n + 1)\n"
            "   |              ^^^^\n"
            "  = note: called from deep at d.harn:2\n"
            "  = note: called from deep at d.harn:2\n"
            "  = note: called from deep at d.harn:2\n"
            "  = note: [previous frame repeated 7 more times]\n"
            "  = note: called from pipeline at d.harn:4\n");
  /* three identical notes or fewer are all shown */
  TraceEntry u[] = {{"", 4, 1, "d.harn"}, {"deep", 2, 14, "d.harn"}, {"deep", 2, 14, "d.harn"},
                    {"deep", 2, 14, "d.harn"}, {"deep", 2, 14, "d.harn"}};
  render_eq("m", u, 5, "", "error: m\n"
                          "  --> d.harn:2:14\n"
                          "  = note: called from deep at d.harn:2\n"
                          "  = note: called from deep at d.harn:2\n"
                          "  = note: called from deep at d.harn:2\n"
                          "  = note: called from pipeline at d.harn:4\n");
}

static void test_colorize(void **state)
{
  (void)state;
  Buf out = {0};
  diag_colorize("error: boom\n  --> m.harn:2:3\n   |\n 2 | a | ^b\n   |   ^^ here\n"
                "  = help: fix it\n",
                &out);
  assert_string_equal(out.data,
                      "\033[1;31merror\033[0m\033[1m: boom\033[0m\n"
                      "  \033[1;34m-->\033[0m m.harn:2:3\n"
                      "\033[1;34m   |\033[0m\n"
                      "\033[1;34m 2 |\033[0m a | ^b\n"
                      "\033[1;34m   |\033[0m   \033[1;31m^^ here\033[0m\n"
                      "  \033[1;36m= help: fix it\033[0m\n");
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
      cmocka_unit_test(test_span_label_help),
      cmocka_unit_test(test_repeated_frames_collapse),
      cmocka_unit_test(test_colorize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
