/*
 * diag.c: renders an uncaught error as the reference does (docs/RUNTIME.md 3.4).
 *
 * Pure text work over a trace (outermost frame first) and the source of the
 * innermost frame's file; no VM state is touched, so the worker and the
 * standalone CLI produce identical text. Columns count characters (UTF-8
 * code points, an invalid maximal subpart counting as one: base/utf8.h),
 * like the lexer's.
 */
#include "diag.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "base/utf8.h"

/* Find line [line] (1-based) of [src]; return its start and byte length. */
static const char *find_line(const char *src, int line, size_t *len)
{
  const char *p = src;
  for (int l = 1; l < line; l++) {
    p = strchr(p, '\n');
    if (!p) return NULL;
    p++;
  }
  const char *end = strchr(p, '\n');
  size_t n = end ? (size_t)(end - p) : strlen(p);
  if (n > 0 && p[n - 1] == '\r') n--;
  *len = n;
  return p;
}

/* Byte offset of character [ci] (0-based) in [s] of [n] bytes, or n. */
static size_t char_offset(const char *s, size_t n, int ci)
{
  size_t i = 0;
  while (i < n && ci > 0) {
    i += utf8_char_len(s + i, n - i);
    ci--;
  }
  return i;
}

static int count_chars(const char *s, size_t n) { return (int)utf8_count(s, n); }

static bool ident_byte(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

static int digits(int n)
{
  int w = 1;
  while (n >= 10) {
    n /= 10;
    w++;
  }
  return w;
}

static void spaces(Buf *out, int n)
{
  for (int i = 0; i < n; i++) buf_putc(out, ' ');
}

/* The location line, the source line and the caret line of a diagnostic
 * at [file]:[line]:[col] (docs/RUNTIME.md 3.4 steps 2-3). [width] > 0 sets
 * the caret count (clamped to the line); 0 applies the identifier rule.
 * [label], if any, follows the carets after one space. */
static void snippet(Buf *out, const char *file, int line, int col, int width, const char *label,
                    DiagSourceFn source, void *ud)
{
  int w = digits(line);
  spaces(out, w + 1);
  buf_printf(out, "--> %s:%d:%d\n", file, line, col > 0 ? col : 1);
  const char *src = source ? source(ud, file) : NULL;
  size_t len = 0;
  const char *text = src ? find_line(src, line, &len) : NULL;
  if (!text) return;
  spaces(out, w + 1);
  buf_puts(out, " |\n");
  buf_printf(out, "%*d | ", w + 1, line);
  buf_append(out, text, len);
  buf_putc(out, '\n');
  spaces(out, w + 1);
  buf_puts(out, " | ");
  int pad, carets;
  if (col > 0) {
    pad = col - 1;
    size_t at = char_offset(text, len, col - 1), end = at;
    if (width > 0) {
      int left = count_chars(text + at, len - at);
      carets = width < left ? width : left;
      if (carets < 1) carets = 1;
    } else {
      while (end < len && ident_byte((unsigned char)text[end])) end++;
      carets = end > at ? count_chars(text + at, end - at) : 1;
    }
  } else {
    size_t a = 0, b = len;
    while (a < len && (text[a] == ' ' || text[a] == '\t')) a++;
    while (b > a && isspace((unsigned char)text[b - 1])) b--;
    pad = count_chars(text, a);
    carets = b > a ? count_chars(text + a, b - a) : 1;
  }
  spaces(out, pad);
  for (int i = 0; i < carets; i++) buf_putc(out, '^');
  if (label && *label) buf_printf(out, " %s", label);
  buf_putc(out, '\n');
}

static const char *file_of(const TraceEntry *t, const char *entry_file)
{
  return t->file && *t->file ? t->file : entry_file && *entry_file ? entry_file : "<unknown>";
}

static bool same_frame(const TraceEntry *a, const TraceEntry *b)
{
  return a->line == b->line && strcmp(a->fn ? a->fn : "", b->fn ? b->fn : "") == 0 &&
         strcmp(a->file ? a->file : "", b->file ? b->file : "") == 0;
}

void diag_render(Buf *out, const char *message, const TraceEntry *trace, int n,
                 const char *entry_file, DiagSourceFn source, void *ud)
{
  buf_printf(out, "error: %s\n", message);
  if (n <= 0) return;
  const TraceEntry *top = &trace[n - 1];
  if (top->line > 0)
    snippet(out, file_of(top, entry_file), top->line, top->col, 0, NULL, source, ud);
  /* Notes, innermost first; a run of identical frames (deep recursion)
   * shows DIAG_REPEAT_SHOWN notes and one line for the rest. */
  const TraceEntry *prev = NULL;
  int run = 0;
  for (int i = n - 2; i >= 0; i--) {
    const TraceEntry *t = &trace[i];
    if (t->line <= 0) continue;
    if (prev && same_frame(prev, t)) {
      run++;
    } else {
      if (run > DIAG_REPEAT_SHOWN - 1)
        buf_printf(out, "  = note: [previous frame repeated %d more times]\n",
                   run - (DIAG_REPEAT_SHOWN - 1));
      run = 0;
    }
    prev = t;
    if (run < DIAG_REPEAT_SHOWN)
      buf_printf(out, "  = note: called from %s at %s:%d\n", t->fn && *t->fn ? t->fn : "pipeline",
                 file_of(t, entry_file), t->line);
  }
  if (run > DIAG_REPEAT_SHOWN - 1)
    buf_printf(out, "  = note: [previous frame repeated %d more times]\n",
               run - (DIAG_REPEAT_SHOWN - 1));
}

void diag_render_span(Buf *out, const char *message, const char *file, int line, int col,
                      int width, const char *label, const char *help, DiagSourceFn source,
                      void *ud)
{
  buf_printf(out, "error: %s\n", message);
  if (line > 0)
    snippet(out, file && *file ? file : "<unknown>", line, col, width, label, source, ud);
  if (help && *help) buf_printf(out, "  = help: %s\n", help);
}
