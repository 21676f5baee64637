/*
 * diag_color.c: colour for diagnostics written to a terminal
 * (docs/LANGUAGE.md 10.3).
 *
 * Diagnostics are rendered as plain text once (diag.c), so the worker's
 * `diagnostic` field, `harn test` and redirected stderr never carry escape
 * codes. diag_fputs() colours that text line by line when, and only when,
 * the stream is a terminal and NO_COLOR is unset or empty
 * (https://no-color.org). Only the fixed parts the renderer writes are
 * coloured (the `error` word, the `-->` arrow, the gutter up to its `|`, the
 * carets and their label, `= note` and `= help` lines); the quoted source
 * line itself is never touched, so the colouring cannot change the text.
 */
#include "diag.h"
#include "vm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RED "\033[1;31m"
#define BLUE "\033[1;34m"
#define CYAN "\033[1;36m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

/* Length of the gutter prefix "   " / " 12 " before the '|' of a snippet
 * line, or 0 if [s] (of [n] bytes) is not such a line. */
static size_t gutter(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && s[i] == ' ') i++;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  if (i < n && s[i] == ' ') i++;
  if (i == 0 || i >= n || s[i] != '|') return 0;
  return i;
}

static void line_colored(const char *s, size_t n, bool *in_snippet, Buf *out)
{
  size_t sp = 0;
  while (sp < n && s[sp] == ' ') sp++;
  if (n >= 6 && strncmp(s, "error:", 6) == 0) {
    buf_puts(out, RED "error" RESET BOLD);
    buf_append(out, s + 5, n - 5);
    buf_puts(out, RESET);
    *in_snippet = false;
    return;
  }
  if (n - sp >= 3 && strncmp(s + sp, "-->", 3) == 0) {
    buf_append(out, s, sp);
    buf_puts(out, BLUE "-->" RESET);
    buf_append(out, s + sp + 3, n - sp - 3);
    *in_snippet = true;
    return;
  }
  if (n - sp >= 6 && strncmp(s + sp, "= help", 6) == 0) {
    buf_append(out, s, sp);
    buf_puts(out, CYAN);
    buf_append(out, s + sp, n - sp);
    buf_puts(out, RESET);
    return;
  }
  if (n - sp >= 6 && strncmp(s + sp, "= note", 6) == 0) {
    buf_append(out, s, sp);
    buf_puts(out, BLUE "= note" RESET);
    buf_append(out, s + sp + 6, n - sp - 6);
    *in_snippet = false;
    return;
  }
  size_t g = *in_snippet ? gutter(s, n) : 0;
  if (!g) {
    buf_append(out, s, n);
    return;
  }
  buf_puts(out, BLUE);
  buf_append(out, s, g + 1);
  buf_puts(out, RESET);
  const char *rest = s + g + 1;
  size_t rn = n - g - 1;
  /* the caret line: only the gutter has digits on the source line */
  bool caret_line = true;
  for (size_t i = 0; i < g; i++)
    if (s[i] != ' ') caret_line = false;
  size_t k = 0;
  while (k < rn && rest[k] == ' ') k++;
  if (caret_line && k < rn && rest[k] == '^') {
    buf_append(out, rest, k);
    buf_puts(out, RED);
    buf_append(out, rest + k, rn - k);
    buf_puts(out, RESET);
  } else {
    buf_append(out, rest, rn);
  }
}

void diag_colorize(const char *text, Buf *out)
{
  bool in_snippet = false;
  const char *p = text;
  while (*p) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    line_colored(p, n, &in_snippet, out);
    if (!e) break;
    buf_putc(out, '\n');
    p = e + 1;
  }
}

void diag_fputs(const char *text, FILE *f)
{
  if (!text || !*text) return;
  const char *nc = getenv("NO_COLOR");
  if ((nc && *nc) || !isatty(fileno(f))) {
    fputs(text, f);
    return;
  }
  Buf b = {0};
  diag_colorize(text, &b);
  if (b.data) fputs(b.data, f);
  buf_free(&b);
}

void vm_print_diagnostic(const char *text, void *stream) { diag_fputs(text, stream); }
