/*
 * test_cli_gen.c: the generated man page and shell completions
 * (supervisor/cli_gen.c) name every option of every command of the option
 * table, each in that command's part, and nothing is left of the
 * template's placeholders.
 *
 * - man page: docs/man/harn.1.in (HARN_SOURCE_DIR) through cli_man; each
 *   command's option list is found by its generated comment line and must
 *   hold "\fB\-\-NAME\fR" (the name roff-escaped) for each of its options,
 *   and "\fB\-X\fR" for a short alias.
 * - bash: each command's `opts='...'` word list holds --NAME and -X.
 * - zsh: each command's _arguments arm holds --NAME as an option spec.
 * - errors: an unknown placeholder command and a missing template fail.
 */
#define _GNU_SOURCE
#include <setjmp.h>
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

/* What cli_man writes for [path], as a malloc'd string; *rc its result. */
static char *capture_man(const char *path, int *rc)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  *rc = cli_man(path, f);
  fclose(f);
  return text;
}

static char *capture_completion(const char *shell)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(cli_completion(shell, f), 0);
  fclose(f);
  return text;
}

/* The part of [text] from [start] to the first [end] after it (or the
 * end), malloc'd; NULL if [start] is not there. */
static char *part(const char *text, const char *start, const char *end)
{
  const char *s = strstr(text, start);
  if (!s) return NULL;
  s += strlen(start);
  const char *e = strstr(s, end);
  return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static void test_man_page(void **state)
{
  (void)state;
  const char *src = getenv("HARN_SOURCE_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/man/harn.1.in", src ? src : ".");
  int rc;
  char *man = capture_man(path, &rc);
  assert_int_equal(rc, 0);
  assert_null(strstr(man, "@OPTIONS"));
  assert_null(strstr(man, "@VERSION@"));
  for (size_t i = 0; cli_command_at(i); i++) {
    const CliCommand *c = cli_command_at(i);
    char start[128];
    snprintf(start, sizeof start, ".\\\" options of harn %s (", c->name);
    char *list = part(man, start, ".\\\" options of harn ");
    if (!list) fail_msg("the man page has no option list for harn %s", c->name);
    char *sect = part(list, "", "\n.S"); /* up to the next .SS / .SH */
    for (int k = 0; k < CLI_OPT__COUNT; k++) {
      const CliOption *o = &cli_options[k];
      if (!(o->cmds & c->bit)) continue;
      char want[128] = "\\fB\\-\\-";
      size_t n = strlen(want);
      for (const char *p = o->name; *p && n < sizeof want - 8; p++) {
        if (*p == '-') want[n++] = '\\';
        want[n++] = *p;
      }
      memcpy(want + n, "\\fR", 4);
      if (!strstr(sect, want)) fail_msg("man page, harn %s: no %s", c->name, want);
      if (o->short_name) {
        char sh[16];
        snprintf(sh, sizeof sh, "\\fB\\-%c\\fR", o->short_name);
        if (!strstr(sect, sh)) fail_msg("man page, harn %s: no %s", c->name, sh);
      }
    }
    free(sect);
    free(list);
  }
  free(man);
}

static void test_bash(void **state)
{
  (void)state;
  char *text = capture_completion("bash");
  assert_non_null(strstr(text, "complete -o filenames -o bashdefault -F _harn harn\n"));
  for (size_t i = 0; cli_command_at(i); i++) {
    const CliCommand *c = cli_command_at(i);
    char start[128];
    snprintf(start, sizeof start, "        %s)\n            opts='", c->name);
    char *opts = part(text, start, "'");
    if (!opts) fail_msg("bash: no option words for harn %s", c->name);
    char *padded;
    if (asprintf(&padded, " %s ", opts) < 0) abort();
    for (int k = 0; k < CLI_OPT__COUNT; k++) {
      const CliOption *o = &cli_options[k];
      if (!(o->cmds & c->bit)) continue;
      char want[80];
      snprintf(want, sizeof want, " --%s ", o->name);
      if (!strstr(padded, want)) fail_msg("bash, harn %s: no%s", c->name, want);
      if (o->short_name) {
        snprintf(want, sizeof want, " -%c ", o->short_name);
        if (!strstr(padded, want)) fail_msg("bash, harn %s: no%s", c->name, want);
      }
    }
    free(padded);
    free(opts);
  }
  free(text);
}

static void test_zsh(void **state)
{
  (void)state;
  char *text = capture_completion("zsh");
  assert_memory_equal(text, "#compdef harn\n", 14);
  for (size_t i = 0; cli_command_at(i); i++) {
    const CliCommand *c = cli_command_at(i);
    char start[128];
    snprintf(start, sizeof start, "    %s)\n      _arguments", c->name);
    char *arm = part(text, start, ";;");
    if (!arm) fail_msg("zsh: no arm for harn %s", c->name);
    for (int k = 0; k < CLI_OPT__COUNT; k++) {
      const CliOption *o = &cli_options[k];
      if (!(o->cmds & c->bit)) continue;
      /* '--NAME[', '--NAME=[', '--NAME=-[' or {-X,--NAME} */
      char want[80];
      int hits = 0;
      static const char *const ends[] = {"[", "=[", "=-[", "}", "=}", "=-}"};
      for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++) {
        snprintf(want, sizeof want, "--%s%s", o->name, ends[e]);
        hits += strstr(arm, want) != NULL;
      }
      if (!hits) fail_msg("zsh, harn %s: no --%s", c->name, o->name);
    }
    free(arm);
  }
  free(text);
}

static void test_errors(void **state)
{
  (void)state;
  char tmpl[] = "/tmp/test_cli_gen_XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(".TH X 1\n@OPTIONS nosuch@\n", f);
  fclose(f);
  int rc;
  free(capture_man(tmpl, &rc));
  assert_int_equal(rc, 1);
  unlink(tmpl);
  free(capture_man(tmpl, &rc)); /* gone */
  assert_int_equal(rc, 1);
  FILE *dev = fopen("/dev/null", "w");
  assert_int_equal(cli_completion("fish", dev), 2);
  fclose(dev);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_man_page),
      cmocka_unit_test(test_bash),
      cmocka_unit_test(test_zsh),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
