/*
 * test_cli_options.c: the command line's option table and parser
 * (supervisor/options.c) and the values it reads (supervisor/opts.c).
 *
 * - Durations and sizes: the accepted syntax, and values that overflow
 *   (1e300 ms, 1e30 GiB, an exponent that makes the product infinite)
 *   rejected as out of range (-2) instead of being converted to an integer
 *   out of its range (undefined behaviour; what the old parser did).
 * - The parser: --opt VALUE, --opt=VALUE, -jN, -j N, `--`, `-` as an
 *   operand, options after operands, the last of a repeated option, -h
 *   winning over a usage error, and each usage error's one line naming the
 *   option as it was spelled (stderr is captured).
 * - The table: well-formed rows, defaults equal to the pool's, and every
 *   option documented in docs/cli.md under each command that takes it (and
 *   no option documented there that the table lacks).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "supervisor/cli.h"
#include "supervisor/options.h"
#include "supervisor/sup_internal.h"

/* ---------------------------------------------------------------- values */

static void test_duration_syntax(void **state)
{
  (void)state;
  double ms = -1;
  assert_int_equal(sup_parse_duration("250ms", &ms), 0);
  assert_true(ms == 250);
  assert_int_equal(sup_parse_duration("1.5s", &ms), 0);
  assert_true(ms == 1500);
  assert_int_equal(sup_parse_duration(".5s", &ms), 0);
  assert_true(ms == 500);
  assert_int_equal(sup_parse_duration("2e3ms", &ms), 0);
  assert_true(ms == 2000);
  /* a bare number is seconds, as for timeout(1) and GNU parallel */
  assert_int_equal(sup_parse_duration("5", &ms), 0);
  assert_true(ms == 5000);
  assert_int_equal(sup_parse_duration("0.25", &ms), 0);
  assert_true(ms == 250);
  assert_int_equal(sup_parse_duration("1w", &ms), 0);
  assert_true(ms == 604800000.0);
  assert_int_equal(sup_parse_duration("0", &ms), 0);
  assert_true(ms == 0);
  /* what strtod would take and a duration is not */
  static const char *const bad[] = {"", "s", ".", "-5", "+5", " 5", "5 ", "0x10", "0x1p4s",
                                    "inf", "nan", "infs", "5sec", "5S", "1e", "1e+s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ms = 42;
    if (sup_parse_duration(bad[i], &ms) != -1) fail_msg("duration \"%s\" accepted", bad[i]);
    assert_true(ms == 42);
  }
}

static void test_duration_range(void **state)
{
  (void)state;
  double ms = 42;
  /* the old parser accepted all of these: 1e300 ms became a garbage
   * uint64_t timer, 1e308w an infinity */
  static const char *const big[] = {"1e300", "1e300s", "1e308w", "1e400", "1000000000000001ms",
                                    "1e15s", "1e13", "1653440w"};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
    if (sup_parse_duration(big[i], &ms) != -2) fail_msg("duration \"%s\" not out of range", big[i]);
    assert_true(ms == 42);
  }
  assert_int_equal(sup_parse_duration("1e15ms", &ms), 0);
  assert_true(ms == SUP_MAX_DURATION_MS);
  assert_int_equal(sup_parse_duration("1e-400", &ms), 0); /* underflow: 0 */
  assert_true(ms == 0);
}

static void test_size(void **state)
{
  (void)state;
  size_t n = 42;
  assert_int_equal(sup_parse_size("1M", &n), 0);
  assert_int_equal(n, 1 << 20);
  assert_int_equal(sup_parse_size("1.5K", &n), 0);
  assert_int_equal(n, 1536);
  assert_int_equal(sup_parse_size("64KiB", &n), 0);
  assert_int_equal(n, 65536);
  assert_int_equal(sup_parse_size("10B", &n), 0);
  assert_int_equal(n, 10);
  assert_int_equal(sup_parse_size("262144G", &n), 0); /* 256 TiB */
  assert_true((uint64_t)n == SUP_MAX_SIZE);
  static const char *const bad[] = {"", "x", "-1", "+1", "0x10", "inf", "nan", "1T", "1m", " 1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = 42;
    if (sup_parse_size(bad[i], &n) != -1) fail_msg("size \"%s\" accepted", bad[i]);
    assert_int_equal(n, 42);
  }
  /* the old parser cast these doubles to size_t: undefined behaviour */
  static const char *const big[] = {"1e30G", "1e300", "1e400", "262145G", "18446744073709551616"};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
    if (sup_parse_size(big[i], &n) != -2) fail_msg("size \"%s\" not out of range", big[i]);
    assert_int_equal(n, 42);
  }
}

/* ---------------------------------------------------------------- parser */

/* What the code under test wrote on stderr between capture_begin and
 * capture_end. */
static char err_text[4096];
static int saved_fd = -1;
static FILE *cap;

static void capture_begin(void)
{
  fflush(stderr);
  saved_fd = dup(2);
  cap = tmpfile();
  assert_non_null(cap);
  dup2(fileno(cap), 2);
}

static void capture_end(void)
{
  fflush(stderr);
  dup2(saved_fd, 2);
  close(saved_fd);
  rewind(cap);
  size_t n = fread(err_text, 1, sizeof err_text - 1, cap);
  err_text[n] = 0;
  fclose(cap);
}

/* cli_parse of [cmd] and the NULL-terminated arguments in [ap]. */
static int vparse(CliArgs *a, const char *cmd, va_list ap)
{
  char *argv[32];
  int argc = 0;
  argv[argc++] = (char *)cmd;
  for (char *s; (s = va_arg(ap, char *));) argv[argc++] = s;
  argv[argc] = NULL;
  capture_begin();
  int rc = cli_parse(cmd, argc, argv, a);
  capture_end();
  return rc;
}

static int parse(CliArgs *a, const char *cmd, ...)
{
  va_list ap;
  va_start(ap, cmd);
  int rc = vparse(a, cmd, ap);
  va_end(ap);
  return rc;
}

/* A usage error whose first line is [line], then the usage line. */
static void expect_error(const char *line, const char *cmd, ...)
{
  CliArgs a;
  va_list ap;
  va_start(ap, cmd);
  int rc = vparse(&a, cmd, ap);
  va_end(ap);
  cli_args_free(&a);
  if (rc != CLI_USAGE) fail_msg("rc %d, not a usage error; expected: %s", rc, line);
  /* a [line] ending in '*' is a prefix (the rest is json.c's wording) */
  const char *nl = strchr(err_text, '\n');
  size_t n = strlen(line);
  bool prefix = n && line[n - 1] == '*';
  if (prefix) n--;
  if (!nl || (!prefix && (size_t)(nl - err_text) != n) || strncmp(err_text, line, n))
    fail_msg("expected:\n%s\ngot:\n%s", line, err_text);
  char usage[128];
  snprintf(usage, sizeof usage, "usage: harn %s ", cmd);
  assert_non_null(strstr(nl + 1, usage));
}

static void test_parse_forms(void **state)
{
  (void)state;
  CliArgs a;
  assert_int_equal(parse(&a, "batch", "x.harn", "--timeout", "5s", "--grace=1s", "-j3",
                         "--results", "-r.jsonl", "y", "--", "--no-bar", "-", NULL), 0);
  assert_string_equal(err_text, "");
  assert_true(a.opt[CLI_OPT_TIMEOUT].given && a.opt[CLI_OPT_TIMEOUT].ms == 5000);
  assert_true(a.opt[CLI_OPT_GRACE].ms == 1000);
  assert_int_equal(a.opt[CLI_OPT_JOBS].n, 3);
  assert_string_equal(a.opt[CLI_OPT_RESULTS].text, "-r.jsonl"); /* a value may start with - */
  assert_false(a.opt[CLI_OPT_NO_BAR].given);                      /* after --: an operand */
  assert_int_equal(a.noperands, 4);
  assert_string_equal(a.operands[0], "x.harn");
  assert_string_equal(a.operands[1], "y");
  assert_string_equal(a.operands[2], "--no-bar");
  assert_string_equal(a.operands[3], "-");
  assert_null(a.operands[4]);
  cli_args_free(&a);

  /* defaults: the pool's own */
  assert_int_equal(parse(&a, "run", "f.harn", NULL), 0);
  assert_false(a.opt[CLI_OPT_GRACE].given);
  assert_true(a.opt[CLI_OPT_GRACE].ms == 250);
  assert_int_equal(a.opt[CLI_OPT_MAX_OUTPUT].bytes, 1u << 20);
  assert_int_equal(a.opt[CLI_OPT_MAX_EVENTS].n, SUP_MAX_EVENTS);
  assert_null(a.opt[CLI_OPT_INPUT].text);
  assert_true(a.opt[CLI_OPT_TIMEOUT].ms == 0);
  cli_args_free(&a);

  /* the last of a repeated option counts; which of two flags came last */
  assert_int_equal(parse(&a, "batch", "x", "-j", "2", "--jobs=5", "--no-bar", "--bar", NULL), 0);
  assert_int_equal(a.opt[CLI_OPT_JOBS].n, 5);
  assert_true(a.opt[CLI_OPT_BAR].pos > a.opt[CLI_OPT_NO_BAR].pos);
  cli_args_free(&a);

  /* -j as GNU parallel takes it: N%, +N, -N of the CPUs; 0: the most */
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  assert_int_equal(parse(&a, "batch", "x", "-j", "200%", NULL), 0);
  assert_int_equal(a.opt[CLI_OPT_JOBS].n, 2 * cpus);
  cli_args_free(&a);
  assert_int_equal(parse(&a, "batch", "x", "-j+3", NULL), 0);
  assert_int_equal(a.opt[CLI_OPT_JOBS].n, cpus + 3);
  cli_args_free(&a);
  assert_int_equal(parse(&a, "batch", "x", "-j0", NULL), 0);
  assert_int_equal(a.opt[CLI_OPT_JOBS].n, 4096);
  cli_args_free(&a);
  assert_int_equal(parse(&a, "batch", "x", "-j", "1%", NULL), 0); /* rounded up: at least 1 */
  assert_int_equal(a.opt[CLI_OPT_JOBS].n, 1);
  cli_args_free(&a);

  /* --input takes any JSON, -1 included */
  assert_int_equal(parse(&a, "run", "--input", "-1", "f.harn", "--inline", NULL), 0);
  assert_string_equal(a.opt[CLI_OPT_INPUT].text, "-1");
  assert_true(a.opt[CLI_OPT_INLINE].given);
  assert_int_equal(cli_only(&a, CLI_CMD_INLINE, "--inline"), 0);
  cli_args_free(&a);

  /* help wins, even after a usage error, and says nothing */
  assert_int_equal(parse(&a, "batch", "--bogus", "x", "-h", "--results", "r", NULL), CLI_HELP);
  assert_string_equal(err_text, "");
  cli_args_free(&a);
  assert_int_equal(parse(&a, "check", "--help", NULL), CLI_HELP);
  cli_args_free(&a);
}

static void test_parse_errors(void **state)
{
  (void)state;
  expect_error("harn batch: --timeout: \"abc\" is not a duration (examples: 250ms, 5s, 2m)",
               "batch", "x", "--timeout", "abc", NULL);
  expect_error("harn run: --timeout: \"1e300\" is too long (the most is 1e15 ms, about 31,700 years)",
               "run", "f", "--timeout=1e300", NULL);
  expect_error("harn batch: --memory: \"1e30G\" is too large (the most is 256 TiB)", "batch", "x",
               "--memory", "1e30G", NULL);
  expect_error("harn run: --max-output: \"lots\" is not a size (examples: 1000, 64K, 256M, 1G)",
               "run", "f", "--max-output", "lots", NULL);
  expect_error("harn batch: -j: \"5x\" is not a job count (N, N%, +N or -N)", "batch", "x", "-j5x",
               NULL);
  expect_error("harn batch: --jobs: \"4097\" is 4097 jobs*", "batch", "x", "--jobs", "4097", NULL);
  expect_error("harn batch: -j: \"-9999\" is -*", "batch", "x", "-j", "-9999", NULL);
  expect_error("harn batch: -j: \"+2%\" is not a job count (N, N%, +N or -N)", "batch", "x", "-j",
               "+2%", NULL);
  expect_error("harn batch: --retries: \"-1\" is not a count from 0 to 1000", "batch", "x",
               "--retries", "-1", NULL);
  expect_error("harn run: --max-events: \"99999999999999999999\" is not a count from 1 to 1000000000",
               "run", "f", "--max-events", "99999999999999999999", NULL);
  expect_error("harn run: --timeout needs a value (DUR)", "run", "f", "--timeout", NULL);
  expect_error("harn batch: -j needs a value (N)", "batch", "x", "-j", NULL);
  expect_error("harn run: --json takes no value (\"yes\" given)", "run", "f", "--json=yes", NULL);
  expect_error("harn run: unknown option --jsno (did you mean --json?)", "run", "f", "--jsno", NULL);
  expect_error("harn run: unknown option -x", "run", "f", "-x", NULL);
  expect_error("harn check: --timeout is not an option of harn check (only of run, batch, submit, runner, jobs)", "check",
               "f", "--timeout", "1s", NULL);
  expect_error("harn run: -j is not an option of harn run (only of batch, runner)", "run", "f", "-j", "2",
               NULL);
  expect_error("harn run: --input: \"{bad\" is not valid JSON (*", "run", "f",
               "--input", "{bad", NULL);
  expect_error("harn run: no FILE given", "run", NULL);
  expect_error("harn batch: no SOURCE given", "batch", "--no-bar", NULL);
  expect_error("harn test: no PATH given", "test", "--gc-stress", NULL);
  expect_error("harn run: only one FILE may be given (\"b\" is another)", "run", "a", "b", NULL);
  /* the first error is the one said */
  expect_error("harn run: unknown option --a", "run", "f", "--a", "--b", NULL);
  /* a long value is cut */
  expect_error("harn run: --input: \"[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1...\" "
               "is not valid JSON (*",
               "run", "f", "--input",
               "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]]", NULL);

  CliArgs a;
  assert_int_equal(parse(&a, "run", "f", "--inline", "--json", NULL), 0);
  capture_begin();
  int rc = cli_only(&a, CLI_CMD_INLINE, "--inline");
  capture_end();
  assert_int_equal(rc, CLI_USAGE);
  assert_non_null(strstr(err_text, "harn run: --json does not apply with --inline\n"));
  cli_args_free(&a);
}

/* ----------------------------------------------------------------- table */

static void test_table(void **state)
{
  (void)state;
  for (int k = 0; k < CLI_OPT__COUNT; k++) {
    const CliOption *o = &cli_options[k];
    assert_non_null(o->name);
    assert_non_null(o->help);
    assert_true(o->cmds != 0);
    assert_true((o->kind == CLI_FLAG) == (o->meta == NULL));
    assert_true((o->kind == CLI_INT || o->kind == CLI_SLOTS) ? o->min <= o->max : o->min == 0 && o->max == 0);
    assert_false(o->kind == CLI_FLAG && o->def);
    /* help lines fit in 80 columns after the 22 of the option's name */
    for (const char *h = o->help; *h;) {
      size_t n = strcspn(h, "\n");
      if (n > 58) fail_msg("--%s: a help line of %zu bytes", o->name, n);
      h += n + (h[n] == '\n');
    }
    for (int m = 0; m < k; m++) {
      assert_string_not_equal(o->name, cli_options[m].name);
      assert_false(o->short_name && o->short_name == cli_options[m].short_name);
    }
  }
}

/* docs/cli.md: the text of section "## harn CMD" (up to the next "## "). */
static char *doc_section(const char *doc, const char *cmd)
{
  char head[64];
  snprintf(head, sizeof head, "\n## harn %s\n", cmd);
  const char *s = strstr(doc, head);
  if (!s) fail_msg("docs/cli.md has no section \"## harn %s\"", cmd);
  s += strlen(head);
  const char *e = strstr(s, "\n## ");
  return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static void test_documented(void **state)
{
  (void)state;
  const char *root = getenv("HARN_SOURCE_DIR");
  if (!root) skip();
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/cli.md", root);
  size_t len;
  char *doc = cli_read_file(path, &len);
  assert_non_null(doc);
  static const struct { const char *name; unsigned bit; } cmds[] = {
      {"run", CLI_CMD_RUN}, {"batch", CLI_CMD_BATCH}, {"test", CLI_CMD_TEST},
      {"verify", CLI_CMD_VERIFY}};
  for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
    char *sec = doc_section(doc, cmds[c].name);
    for (int k = 0; k < CLI_OPT__COUNT; k++) {
      const CliOption *o = &cli_options[k];
      if (k == CLI_OPT_HELP || !(o->cmds & cmds[c].bit)) continue;
      char want[64];
      snprintf(want, sizeof want, "`--%s", o->name);
      if (!strstr(sec, want)) fail_msg("docs/cli.md, harn %s: no %s`", cmds[c].name, want);
      if (o->short_name) {
        snprintf(want, sizeof want, "`-%c", o->short_name);
        if (!strstr(sec, want)) fail_msg("docs/cli.md, harn %s: no %s`", cmds[c].name, want);
      }
    }
    /* the other way: every option named in a row of an option table
     * ("| `--name ...") is one of the table's, for this command */
    for (char *l = sec; (l = strstr(l, "\n| `-"));) {
      l += 3;
      char *end = strchr(l, '\n');
      char *cell_end = strstr(l, " |");
      for (char *t = l; (t = strstr(t, "`--")) && t < cell_end && t < end;) {
        t += 3;
        size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyz-");
        int found = -1;
        for (int k = 0; k < CLI_OPT__COUNT; k++)
          if (strlen(cli_options[k].name) == n && !strncmp(cli_options[k].name, t, n)) found = k;
        if (found < 0 || !(cli_options[found].cmds & cmds[c].bit))
          fail_msg("docs/cli.md, harn %s documents --%.*s, which the option table does not give it",
                   cmds[c].name, (int)n, t);
      }
    }
    free(sec);
  }
  free(doc);
}

/* CLI_LIST accumulates over occurrences (the other kinds keep the last);
 * CLI_SIZE_OPT takes a value only with '='. */
static void test_list_and_optional(void **state)
{
  (void)state;
  CliArgs a;
  assert_int_equal(parse(&a, "run", "f", "--allow-read=A,B", "--allow-read", "C", "--allow-write",
                         "/w", "--scratch", NULL), 0);
  assert_string_equal(err_text, "");
  CliValue *r = &a.opt[CLI_OPT_ALLOW_READ];
  assert_true(r->given);
  assert_int_equal(r->nitems, 3);
  assert_string_equal(r->items[0], "A");
  assert_string_equal(r->items[1], "B");
  assert_string_equal(r->items[2], "C");
  assert_int_equal(a.opt[CLI_OPT_ALLOW_WRITE].nitems, 1);
  assert_string_equal(a.opt[CLI_OPT_ALLOW_WRITE].items[0], "/w");
  assert_true(a.opt[CLI_OPT_SCRATCH].given);
  assert_null(a.opt[CLI_OPT_SCRATCH].text);
  assert_int_equal(a.opt[CLI_OPT_SCRATCH].bytes, 0);
  assert_int_equal(a.noperands, 1); /* --scratch took no operand */
  cli_args_free(&a);
  assert_null(a.opt[CLI_OPT_ALLOW_READ].items);

  /* not given: no items; --scratch=SIZE */
  assert_int_equal(parse(&a, "batch", "x", "--scratch=1M", "y", NULL), 0);
  assert_false(a.opt[CLI_OPT_ALLOW_READ].given);
  assert_int_equal(a.opt[CLI_OPT_ALLOW_READ].nitems, 0);
  assert_int_equal(a.opt[CLI_OPT_SCRATCH].bytes, 1u << 20);
  assert_int_equal(a.noperands, 2);
  cli_args_free(&a);

  expect_error("harn run: --allow-read: \"a,,b\" has an empty item", "run", "f", "--allow-read",
               "a,,b", NULL);
  expect_error("harn run: --allow-write: \"a,\" has an empty item", "run", "f", "--allow-write=a,",
               NULL);
  expect_error("harn run: --allow-read needs a value (PATH,...)", "run", "f", "--allow-read", NULL);
  expect_error("harn batch: --scratch: \"big\" is not a size (examples: 1000, 64K, 256M, 1G)",
               "batch", "x", "--scratch=big", NULL);
  assert_int_equal(parse(&a, "run", "f", "--inline", "--allow-read=.", NULL), 0);
  capture_begin();
  int rc = cli_only(&a, CLI_CMD_INLINE, "--inline");
  capture_end();
  assert_int_equal(rc, CLI_USAGE);
  assert_non_null(strstr(err_text, "harn run: --allow-read does not apply with --inline\n"));
  cli_args_free(&a);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration_syntax), cmocka_unit_test(test_duration_range),
      cmocka_unit_test(test_size),            cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_table),
      cmocka_unit_test(test_documented),      cmocka_unit_test(test_list_and_optional),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
