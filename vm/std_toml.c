/*
 * std_toml.c: toml_parse / toml_stringify (STDLIB.md 4.8; the reference's
 * json.rs on the `toml` crate). No C TOML library in Debian 12, so our own
 * TOML 1.0 reader and writer.
 *
 * toml_parse(text) -> dict. Every TOML 1.0 form: bare, quoted and dotted
 * keys; basic, literal and multi-line strings with every escape;
 * integers (decimal, 0x, 0o, 0b, underscores between digits); floats
 * (exponents, underscores, inf, nan); booleans; arrays; inline tables;
 * [tables] and [[arrays of tables]]. Date-times (offset, local date-time,
 * local date, local time) become strings in the toml crate's display
 * form (`1979-05-27T07:32:00Z`, a space read as 'T', the fraction
 * without trailing zeros). Redefining a key or a table is an error, as
 * are the other TOML 1.0 rules (no leading zeros, newlines only where the
 * grammar allows...). Errors throw `toml_parse: <what> at line L column C`.
 * Nesting is limited to 128 levels.
 *
 * toml_stringify(v): v must be a dict (`toml_stringify: top-level value
 * must be a table`). Keys in dict order (sorted); in each table the plain
 * values first, then sub-tables as [a.b] sections, then lists of dicts as
 * [[a]] sections; dicts inside other lists are inline tables; nil values
 * are left out (TOML has no null; the toml crate skips None). Keys are
 * bare when they can be, else quoted; strings are basic strings
 * ("..." with escapes), or literal ('...') when they hold a quote or a
 * backslash but no apostrophe or control character. Floats always have
 * a '.' or an exponent; inf, -inf, nan. Other values are written as
 * json_stringify would (sets as arrays, structs as tables, the rest as
 * their display string).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "error.h"
#include "gc.h"
#include "object.h"
#include "sched.h"
#include "state.h"
#include "std_json.h"

#define TOML_MAX_DEPTH 128

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

/* ======================================================================
 * Reading
 * ====================================================================== */

typedef struct {
  Vm *vm;
  const char *s;
  size_t n, i;
  bool failed;
  /* tables that were defined by a header or as a value (frozen for a
   * second header), and inline tables / static arrays (closed); kept as
   * object identities, since we build dicts in place */
  Obj **defined;
  size_t ndefined, capdefined;
  Obj **closed;
  size_t nclosed, capclosed;
  Obj **aot; /* arrays made by [[...]] */
  size_t naot, capaot;
} Toml;

static bool tfail(Toml *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool tfail(Toml *t, const char *fmt, ...)
{
  if (t->failed) return false;
  t->failed = true;
  size_t line = 1, col = 1;
  for (size_t k = 0; k < t->i && k < t->n; k++) {
    if (t->s[k] == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)t->s[k] & 0xC0) != 0x80) {
      col++;
    }
  }
  Buf b = {0};
  buf_puts(&b, "toml_parse: ");
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  buf_printf(&b, " at line %zu column %zu", line, col);
  err_throw(t->vm, OBJ_VAL(str_new(t->vm, b.data, b.len)));
  buf_free(&b);
  return false;
}

static void mark(Obj ***set, size_t *n, size_t *cap, Obj *o)
{
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *set = realloc(*set, sizeof(Obj *) * *cap);
    if (!*set) abort();
  }
  (*set)[(*n)++] = o;
}

static bool marked(Obj **set, size_t n, Obj *o)
{
  for (size_t k = 0; k < n; k++)
    if (set[k] == o) return true;
  return false;
}

static int peek(Toml *t) { return t->i < t->n ? (unsigned char)t->s[t->i] : -1; }
static int peek_at(Toml *t, size_t k) { return t->i + k < t->n ? (unsigned char)t->s[t->i + k] : -1; }

static void skip_ws(Toml *t)
{
  while (t->i < t->n && (t->s[t->i] == ' ' || t->s[t->i] == '\t')) t->i++;
}

static bool skip_comment(Toml *t)
{
  if (peek(t) != '#') return true;
  while (t->i < t->n && t->s[t->i] != '\n') {
    unsigned char c = (unsigned char)t->s[t->i];
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F) return tfail(t, "control character in a comment");
    t->i++;
  }
  return true;
}

/* end of line: optional whitespace and comment, then \n, \r\n or the end */
static bool eol(Toml *t)
{
  skip_ws(t);
  if (!skip_comment(t)) return false;
  if (t->i >= t->n) return true;
  if (t->s[t->i] == '\r' && peek_at(t, 1) == '\n') {
    t->i += 2;
    return true;
  }
  if (t->s[t->i] == '\n') {
    t->i++;
    return true;
  }
  return tfail(t, "expected a newline");
}

/* whitespace, comments and newlines (inside arrays) */
static bool skip_ws_nl(Toml *t)
{
  for (;;) {
    skip_ws(t);
    if (!skip_comment(t)) return false;
    if (peek(t) == '\n') t->i++;
    else if (peek(t) == '\r' && peek_at(t, 1) == '\n') t->i += 2;
    else return true;
  }
}

static bool bare_char(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

static int hexd(int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A string at t->i (the opening quote); multi-line forms included. */
static bool read_string(Toml *t, Buf *b, bool allow_multi)
{
  char q = t->s[t->i];
  bool literal = q == '\'';
  bool multi = allow_multi && peek_at(t, 1) == q && peek_at(t, 2) == q;
  t->i += multi ? 3 : 1;
  if (multi) { /* a newline right after the opening delimiter is dropped */
    if (peek(t) == '\n') t->i++;
    else if (peek(t) == '\r' && peek_at(t, 1) == '\n') t->i += 2;
  }
  for (;;) {
    if (t->i >= t->n) return tfail(t, "unterminated string");
    unsigned char c = (unsigned char)t->s[t->i];
    if (c == (unsigned char)q) {
      if (!multi) {
        t->i++;
        return true;
      }
      if (peek_at(t, 1) == q && peek_at(t, 2) == q) {
        /* up to two more quotes belong to the content: """"" */
        size_t run = 3;
        while (run < 5 && peek_at(t, run) == q) run++;
        for (size_t k = 3; k < run; k++) buf_putc(b, q);
        t->i += run;
        return true;
      }
      buf_putc(b, q);
      t->i++;
      continue;
    }
    if (c == '\n' || (c == '\r' && peek_at(t, 1) == '\n')) {
      if (!multi) return tfail(t, "newline in a string");
      if (c == '\r') t->i++;
      buf_putc(b, '\n');
      t->i++;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7F) return tfail(t, "control character in a string");
    if (c == '\\' && !literal) {
      int e = peek_at(t, 1);
      t->i += 2;
      switch (e) {
      case 'b': buf_putc(b, '\b'); break;
      case 't': buf_putc(b, '\t'); break;
      case 'n': buf_putc(b, '\n'); break;
      case 'f': buf_putc(b, '\f'); break;
      case 'r': buf_putc(b, '\r'); break;
      case '"': buf_putc(b, '"'); break;
      case '\\': buf_putc(b, '\\'); break;
      case 'u':
      case 'U': {
        int nd = e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int k = 0; k < nd; k++) {
          int d = hexd(peek(t));
          if (d < 0) return tfail(t, "invalid unicode escape");
          cp = cp * 16 + (uint32_t)d;
          t->i++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return tfail(t, "invalid unicode scalar value");
        buf_put_utf8(b, cp);
        break;
      }
      case ' ':
      case '\t':
      case '\n':
      case '\r': {
        if (!multi) return tfail(t, "invalid escape");
        /* line-ending backslash: whitespace up to a newline, then all
         * whitespace and newlines, are dropped */
        t->i--;
        size_t k = t->i;
        while (k < t->n && (t->s[k] == ' ' || t->s[k] == '\t')) k++;
        if (k < t->n && t->s[k] == '\r') k++;
        if (k >= t->n || t->s[k] != '\n') return tfail(t, "invalid escape");
        while (k < t->n && (t->s[k] == ' ' || t->s[k] == '\t' || t->s[k] == '\n' || t->s[k] == '\r')) k++;
        t->i = k;
        break;
      }
      default: t->i -= 1; return tfail(t, "invalid escape");
      }
      continue;
    }
    /* UTF-8 must be valid */
    uint32_t cp;
    size_t k = utf8_decode(t->s + t->i, t->n - t->i, &cp);
    if (cp == UTF8_INVALID) return tfail(t, "invalid UTF-8");
    buf_append(b, t->s + t->i, k);
    t->i += k;
  }
}

/* One key part into [b]. */
static bool read_key_part(Toml *t, Buf *b)
{
  buf_clear(b);
  int c = peek(t);
  if (c == '"' || c == '\'') return read_string(t, b, false);
  size_t st = t->i;
  while (t->i < t->n && bare_char((unsigned char)t->s[t->i])) t->i++;
  if (t->i == st) return tfail(t, "expected a key");
  buf_append(b, t->s + st, t->i - st);
  return true;
}

/* A dotted key: its parts as strings into [parts] (max 128). */
static int read_key(Toml *t, ObjString **parts)
{
  Buf b = {0};
  int np = 0;
  for (;;) {
    skip_ws(t);
    if (!read_key_part(t, &b)) {
      buf_free(&b);
      return -1;
    }
    if (np == TOML_MAX_DEPTH) {
      buf_free(&b);
      tfail(t, "key has too many parts");
      return -1;
    }
    parts[np++] = str_new(t->vm, b.data ? b.data : "", b.len);
    skip_ws(t);
    if (peek(t) != '.') break;
    t->i++;
  }
  buf_free(&b);
  return np;
}

static bool read_value(Toml *t, Value *out, int depth);

/* digits with single underscores between them, per [radix]; into [b] */
static bool digits(Toml *t, int radix, Buf *b)
{
  size_t st = t->i;
  bool last_us = true;
  while (t->i < t->n) {
    int c = (unsigned char)t->s[t->i];
    if (c == '_') {
      if (last_us) return tfail(t, "invalid underscore in a number");
      last_us = true;
      t->i++;
      continue;
    }
    int d = hexd(c);
    if (d < 0 || d >= radix) break;
    buf_putc(b, (char)c);
    last_us = false;
    t->i++;
  }
  if (t->i == st || last_us) return tfail(t, "invalid number");
  return true;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* Date-times: [YYYY-MM-DD][(T| )HH:MM:SS[.frac]][Z|±HH:MM], as the toml
 * crate displays them. */
static bool read_datetime(Toml *t, Value *out)
{
  const char *s = t->s;
  size_t i = t->i;
  Buf b = {0};
  bool date = false, time = false;
  int y, mo, d, h, mi, se;
  if (i + 10 <= t->n && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) && s[i + 4] == '-') {
    if (!(is_digit(s[i + 5]) && is_digit(s[i + 6]) && s[i + 7] == '-' && is_digit(s[i + 8]) && is_digit(s[i + 9])))
      return tfail(t, "invalid date");
    y = (s[i] - '0') * 1000 + (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');
    mo = (s[i + 5] - '0') * 10 + (s[i + 6] - '0');
    d = (s[i + 8] - '0') * 10 + (s[i + 9] - '0');
    static const int dm[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > dm[mo - 1] || (mo == 2 && d == 29 && !leap)) return tfail(t, "invalid date");
    buf_append(&b, s + i, 10);
    i += 10;
    date = true;
    if (i + 1 < t->n && (s[i] == 'T' || s[i] == 't' || (s[i] == ' ' && i + 1 < t->n && is_digit(s[i + 1])))) {
      i++;
      buf_putc(&b, 'T');
    } else {
      goto done;
    }
  }
  if (i + 8 <= t->n && is_digit(s[i]) && is_digit(s[i + 1]) && s[i + 2] == ':') {
    if (!(is_digit(s[i + 3]) && is_digit(s[i + 4]) && s[i + 5] == ':' && is_digit(s[i + 6]) && is_digit(s[i + 7]))) {
      buf_free(&b);
      return tfail(t, "invalid time");
    }
    h = (s[i] - '0') * 10 + (s[i + 1] - '0');
    mi = (s[i + 3] - '0') * 10 + (s[i + 4] - '0');
    se = (s[i + 6] - '0') * 10 + (s[i + 7] - '0');
    if (h > 23 || mi > 59 || se > 60) {
      buf_free(&b);
      return tfail(t, "invalid time");
    }
    buf_append(&b, s + i, 8);
    i += 8;
    time = true;
    if (i < t->n && s[i] == '.') {
      size_t f0 = ++i;
      while (i < t->n && is_digit(s[i])) i++;
      if (i == f0) {
        buf_free(&b);
        return tfail(t, "invalid time fraction");
      }
      size_t fe = i;
      while (fe > f0 && s[fe - 1] == '0') fe--;
      if (fe - f0 > 9) fe = f0 + 9;
      if (fe > f0) {
        buf_putc(&b, '.');
        buf_append(&b, s + f0, fe - f0);
      }
    }
    if (date) {
      if (i < t->n && (s[i] == 'Z' || s[i] == 'z')) {
        buf_putc(&b, 'Z');
        i++;
      } else if (i + 6 <= t->n && (s[i] == '+' || s[i] == '-') && is_digit(s[i + 1]) && is_digit(s[i + 2]) &&
                 s[i + 3] == ':' && is_digit(s[i + 4]) && is_digit(s[i + 5])) {
        if ((s[i + 1] - '0') * 10 + (s[i + 2] - '0') > 23 || (s[i + 4] - '0') * 10 + (s[i + 5] - '0') > 59) {
          buf_free(&b);
          return tfail(t, "invalid offset");
        }
        buf_append(&b, s + i, 6);
        i += 6;
      }
    }
  } else if (!date) {
    buf_free(&b);
    return tfail(t, "invalid value");
  } else {
    buf_free(&b);
    return tfail(t, "invalid time");
  }
done:
  (void)time;
  t->i = i;
  *out = OBJ_VAL(str_new(t->vm, b.data, b.len));
  buf_free(&b);
  return true;
}

static bool read_number(Toml *t, Value *out)
{
  const char *s = t->s;
  size_t st = t->i;
  int sign = 0;
  if (peek(t) == '+' || peek(t) == '-') sign = s[t->i++] == '-' ? -1 : 1;
  if (t->i + 3 <= t->n && (memcmp(s + t->i, "inf", 3) == 0 || memcmp(s + t->i, "nan", 3) == 0)) {
    bool inf = s[t->i] == 'i';
    t->i += 3;
    *out = val_float(inf ? (sign < 0 ? -INFINITY : INFINITY) : NAN);
    return true;
  }
  Buf b = {0};
  if (sign < 0) buf_putc(&b, '-');
  if (!sign && peek(t) == '0' && (peek_at(t, 1) == 'x' || peek_at(t, 1) == 'o' || peek_at(t, 1) == 'b')) {
    int radix = peek_at(t, 1) == 'x' ? 16 : peek_at(t, 1) == 'o' ? 8 : 2;
    t->i += 2;
    if (!digits(t, radix, &b)) {
      buf_free(&b);
      return false;
    }
    uint64_t v = 0;
    for (size_t k = 0; k < b.len; k++) {
      uint64_t d = (uint64_t)hexd(b.data[k]);
      if (v > (UINT64_MAX - d) / (uint64_t)radix) {
        buf_free(&b);
        return tfail(t, "integer out of range");
      }
      v = v * (uint64_t)radix + d;
    }
    buf_free(&b);
    if (v > (uint64_t)INT64_MAX) return tfail(t, "integer out of range");
    *out = val_int((int64_t)v);
    return true;
  }
  if (!is_digit(peek(t))) {
    buf_free(&b);
    return tfail(t, "invalid number");
  }
  bool leading_zero = peek(t) == '0';
  size_t int_start = b.len;
  if (!digits(t, 10, &b)) {
    buf_free(&b);
    return false;
  }
  if (leading_zero && b.len - int_start > 1) {
    buf_free(&b);
    t->i = st;
    return tfail(t, "leading zeros are not allowed");
  }
  bool is_float = false;
  if (peek(t) == '.') {
    t->i++;
    buf_putc(&b, '.');
    if (!is_digit(peek(t))) {
      buf_free(&b);
      return tfail(t, "invalid float");
    }
    if (!digits(t, 10, &b)) {
      buf_free(&b);
      return false;
    }
    is_float = true;
  }
  if (peek(t) == 'e' || peek(t) == 'E') {
    t->i++;
    buf_putc(&b, 'e');
    if (peek(t) == '+' || peek(t) == '-') buf_putc(&b, s[t->i++]);
    if (!digits(t, 10, &b)) {
      buf_free(&b);
      return false;
    }
    is_float = true;
  }
  if (is_float) {
    *out = val_float(strtod(b.data, NULL));
  } else {
    errno = 0;
    long long v = strtoll(b.data, NULL, 10);
    if (errno) {
      buf_free(&b);
      return tfail(t, "integer out of range");
    }
    *out = val_int(v);
  }
  buf_free(&b);
  return true;
}

static bool read_array(Toml *t, Value *out, int depth)
{
  t->i++; /* [ */
  ObjList *l = list_new(t->vm, 0);
  for (;;) {
    if (!skip_ws_nl(t)) return false;
    if (peek(t) == ']') {
      t->i++;
      break;
    }
    Value v;
    if (!read_value(t, &v, depth + 1)) return false;
    list_push(t->vm, l, v);
    if (!skip_ws_nl(t)) return false;
    if (peek(t) == ',') {
      t->i++;
      continue;
    }
    if (peek(t) == ']') {
      t->i++;
      break;
    }
    return tfail(t, "expected ',' or ']' in an array");
  }
  mark(&t->closed, &t->nclosed, &t->capclosed, (Obj *)l);
  *out = OBJ_VAL(l);
  return true;
}

static bool set_path(Toml *t, ObjDict *table, ObjString **parts, int np, Value v, int depth);

static bool read_inline(Toml *t, Value *out, int depth)
{
  t->i++; /* { */
  ObjDict *d = dict_new(t->vm, 0);
  skip_ws(t);
  if (peek(t) == '}') {
    t->i++;
  } else {
    for (;;) {
      ObjString *parts[TOML_MAX_DEPTH];
      int np = read_key(t, parts);
      if (np < 0) return false;
      if (peek(t) != '=') return tfail(t, "expected '=' after a key");
      t->i++;
      skip_ws(t);
      Value v;
      if (!read_value(t, &v, depth + 1) || !set_path(t, d, parts, np, v, depth)) return false;
      skip_ws(t);
      if (peek(t) == ',') {
        t->i++;
        skip_ws(t);
        if (peek(t) == '}') return tfail(t, "trailing comma in an inline table");
        continue;
      }
      if (peek(t) == '}') {
        t->i++;
        break;
      }
      return tfail(t, "expected ',' or '}' in an inline table");
    }
  }
  mark(&t->closed, &t->nclosed, &t->capclosed, (Obj *)d);
  *out = OBJ_VAL(d);
  return true;
}

static bool read_value(Toml *t, Value *out, int depth)
{
  if (depth > TOML_MAX_DEPTH || !sched_stack_ok(t->vm)) return tfail(t, "nested too deeply");
  int c = peek(t);
  if (c == '"' || c == '\'') {
    Buf b = {0};
    bool ok = read_string(t, &b, true);
    if (ok) *out = OBJ_VAL(str_new(t->vm, b.data ? b.data : "", b.len));
    buf_free(&b);
    return ok;
  }
  if (c == '[') return read_array(t, out, depth);
  if (c == '{') return read_inline(t, out, depth);
  if (t->i + 4 <= t->n && memcmp(t->s + t->i, "true", 4) == 0 && !bare_char(peek_at(t, 4))) {
    t->i += 4;
    *out = val_bool(true);
    return true;
  }
  if (t->i + 5 <= t->n && memcmp(t->s + t->i, "false", 5) == 0 && !bare_char(peek_at(t, 5))) {
    t->i += 5;
    *out = val_bool(false);
    return true;
  }
  /* a date or time starts with 4 digits and '-', or 2 digits and ':' */
  if (is_digit(c) && is_digit(peek_at(t, 1)) &&
      ((is_digit(peek_at(t, 2)) && is_digit(peek_at(t, 3)) && peek_at(t, 4) == '-') || peek_at(t, 2) == ':'))
    return read_datetime(t, out);
  if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n') return read_number(t, out);
  return tfail(t, "invalid value");
}

/* Walk/create the dicts of [parts] (all but the last) from [table] for a
 * key/value line, then set the last part. Dicts are built in place: they
 * are fresh builders nobody else sees until the parse ends. */
static bool set_path(Toml *t, ObjDict *table, ObjString **parts, int np, Value v, int depth)
{
  ObjDict *cur = table;
  for (int k = 0; k < np - 1; k++) {
    Value x;
    if (dict_get(cur, parts[k], &x)) {
      if (!IS_DICT(x) || marked(t->closed, t->nclosed, AS_OBJ(x)) || marked(t->defined, t->ndefined, AS_OBJ(x)))
        return tfail(t, "duplicate key `%s`", parts[k]->chars);
      cur = AS_DICT(x);
    } else {
      ObjDict *n = dict_new(t->vm, 0);
      dict_set(t->vm, cur, parts[k], OBJ_VAL(n));
      cur = n;
    }
  }
  Value x;
  if (dict_get(cur, parts[np - 1], &x)) return tfail(t, "duplicate key `%s`", parts[np - 1]->chars);
  dict_set(t->vm, cur, parts[np - 1], v);
  if (IS_DICT(v)) mark(&t->defined, &t->ndefined, &t->capdefined, AS_OBJ(v));
  (void)depth;
  return true;
}

/* dict_set may move a dict's entries but never the dict object: the
 * pointers held here stay valid. */
static bool header(Toml *t, ObjDict *root, ObjDict **cur)
{
  bool aot = peek_at(t, 1) == '[';
  t->i += aot ? 2 : 1;
  ObjString *parts[TOML_MAX_DEPTH];
  int np = read_key(t, parts);
  if (np < 0) return false;
  if (peek(t) != ']' || (aot && peek_at(t, 1) != ']')) return tfail(t, aot ? "expected ']]'" : "expected ']'");
  t->i += aot ? 2 : 1;
  if (!eol(t)) return false;
  ObjDict *d = root;
  for (int k = 0; k < np - 1; k++) {
    Value x;
    if (dict_get(d, parts[k], &x)) {
      if (IS_LIST(x) && marked(t->aot, t->naot, AS_OBJ(x)) && AS_LIST(x)->count) {
        x = AS_LIST(x)->items[AS_LIST(x)->count - 1];
      } else if (!IS_DICT(x) || marked(t->closed, t->nclosed, AS_OBJ(x))) {
        return tfail(t, "duplicate key `%s`", parts[k]->chars);
      }
      d = AS_DICT(x);
    } else {
      ObjDict *n = dict_new(t->vm, 0);
      dict_set(t->vm, d, parts[k], OBJ_VAL(n));
      d = n;
    }
  }
  ObjString *last = parts[np - 1];
  Value x;
  bool have = dict_get(d, last, &x);
  if (aot) {
    ObjList *l;
    if (have) {
      if (!IS_LIST(x) || !marked(t->aot, t->naot, AS_OBJ(x))) return tfail(t, "duplicate key `%s`", last->chars);
      l = AS_LIST(x);
    } else {
      l = list_new(t->vm, 1);
      mark(&t->aot, &t->naot, &t->capaot, (Obj *)l);
      dict_set(t->vm, d, last, OBJ_VAL(l));
    }
    ObjDict *n = dict_new(t->vm, 0);
    list_push(t->vm, l, OBJ_VAL(n));
    *cur = n;
    return true;
  }
  if (have) {
    if (!IS_DICT(x) || marked(t->defined, t->ndefined, AS_OBJ(x)) || marked(t->closed, t->nclosed, AS_OBJ(x)))
      return tfail(t, "duplicate key `%s`", last->chars);
    mark(&t->defined, &t->ndefined, &t->capdefined, AS_OBJ(x));
    *cur = AS_DICT(x);
    return true;
  }
  ObjDict *n = dict_new(t->vm, 0);
  dict_set(t->vm, d, last, OBJ_VAL(n));
  mark(&t->defined, &t->ndefined, &t->capdefined, (Obj *)n);
  *cur = n;
  return true;
}

bool std_toml_parse_text(Vm *vm, const char *s, size_t n, Value *out)
{
  Toml t = {.vm = vm, .s = s, .n = n};
  ObjDict *root = dict_new(vm, 0), *cur = root;
  bool ok = true;
  if (t.n >= 3 && memcmp(t.s, "\xEF\xBB\xBF", 3) == 0) t.i = 3;
  while (ok && t.i < t.n) {
    skip_ws(&t);
    int c = peek(&t);
    if (c == '#' || c == '\n' || c == '\r' || c == -1) {
      ok = eol(&t);
      continue;
    }
    if (c == '[') {
      ok = header(&t, root, &cur);
      continue;
    }
    ObjString *parts[TOML_MAX_DEPTH];
    int np = read_key(&t, parts);
    if (np < 0) {
      ok = false;
      break;
    }
    if (peek(&t) != '=') {
      ok = tfail(&t, "expected '=' after a key");
      break;
    }
    t.i++;
    skip_ws(&t);
    Value v;
    ok = read_value(&t, &v, 1) && set_path(&t, cur, parts, np, v, 0) && eol(&t);
    if (vm->heap.doomed) break;
  }
  free(t.defined);
  free(t.closed);
  free(t.aot);
  if (vm->heap.doomed) return err_memory(vm);
  if (ok) *out = OBJ_VAL(root);
  return ok;
}

bool std_toml_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  if (!IS_STRING(s)) return err_throw_str(vm, "toml_parse: expected a string, got %s", val_type_name(s));
  return std_toml_parse_text(vm, AS_CSTR(s), AS_STRING(s)->len, out);
}

/* ======================================================================
 * Writing
 * ====================================================================== */

static bool bare_key(const ObjString *k)
{
  if (k->len == 0) return false;
  for (uint32_t i = 0; i < k->len; i++)
    if (!bare_char((unsigned char)k->chars[i])) return false;
  return true;
}

static void put_string(Buf *b, const char *s, size_t n)
{
  bool has_q = false, has_apos = false, has_ctl = false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    has_q |= c == '"' || c == '\\';
    has_apos |= c == '\'';
    has_ctl |= c < 0x20 || c == 0x7F;
  }
  if (has_q && !has_apos && !has_ctl) {
    buf_putc(b, '\'');
    buf_append(b, s, n);
    buf_putc(b, '\'');
    return;
  }
  buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': buf_puts(b, "\\\""); break;
    case '\\': buf_puts(b, "\\\\"); break;
    case '\n': buf_puts(b, "\\n"); break;
    case '\t': buf_puts(b, "\\t"); break;
    case '\r': buf_puts(b, "\\r"); break;
    case '\b': buf_puts(b, "\\b"); break;
    case '\f': buf_puts(b, "\\f"); break;
    default:
      if (c < 0x20 || c == 0x7F) buf_printf(b, "\\u%04X", c);
      else buf_putc(b, (char)c);
    }
  }
  buf_putc(b, '"');
}

static void put_key(Buf *b, const ObjString *k)
{
  if (bare_key(k)) buf_append(b, k->chars, k->len);
  else put_string(b, k->chars, k->len);
}

static ObjDict *as_table(Value v) { return IS_DICT(v) ? AS_DICT(v) : IS_STRUCT(v) ? AS_STRUCT(v)->fields : NULL; }

static bool is_aot(Value v)
{
  if (!IS_LIST(v) || AS_LIST(v)->count == 0) return false;
  for (uint32_t i = 0; i < AS_LIST(v)->count; i++)
    if (!as_table(AS_LIST(v)->items[i])) return false;
  return true;
}

typedef struct {
  Vm *vm;
  Buf out;
  bool too_deep;
} TWrite;

static bool put_inline(TWrite *w, Value v, int depth)
{
  Buf *b = &w->out;
  if (depth > TOML_MAX_DEPTH || !sched_stack_ok(w->vm)) {
    w->too_deep = true;
    return false;
  }
  if (!mem_fits(w->vm, b->len)) return false;
  ObjDict *tb = as_table(v);
  if (IS_BOOL(v)) buf_puts(b, AS_BOOL(v) ? "true" : "false");
  else if (IS_INT(v)) buf_put_i64(b, AS_INT(v));
  else if (IS_FLOAT(v)) {
    double d = AS_FLOAT(v);
    if (isnan(d)) buf_puts(b, "nan");
    else if (isinf(d)) buf_puts(b, d > 0 ? "inf" : "-inf");
    else {
      size_t at = b->len;
      fmt_float(d, false, b);
      bool dot = false;
      for (size_t k = at; k < b->len; k++) dot |= b->data[k] == '.' || b->data[k] == 'e' || b->data[k] == 'E';
      if (!dot) buf_puts(b, ".0");
    }
  } else if (IS_STRING(v)) put_string(b, AS_CSTR(v), AS_STRING(v)->len);
  else if (IS_LIST(v) || IS_SET(v)) {
    Value *items = IS_LIST(v) ? AS_LIST(v)->items : AS_SET(v)->items;
    uint32_t n = IS_LIST(v) ? AS_LIST(v)->count : AS_SET(v)->count;
    buf_putc(b, '[');
    bool first = true;
    for (uint32_t i = 0; i < n; i++) {
      if (IS_NIL(items[i])) continue;
      if (!first) buf_puts(b, ", ");
      first = false;
      if (!put_inline(w, items[i], depth + 1)) return false;
    }
    buf_putc(b, ']');
  } else if (tb) {
    buf_putc(b, '{');
    bool first = true;
    for (uint32_t i = 0; i < tb->count; i++) {
      if (IS_NIL(tb->entries[i].value)) continue;
      buf_puts(b, first ? " " : ", ");
      first = false;
      put_key(b, tb->entries[i].key);
      buf_puts(b, " = ");
      if (!put_inline(w, tb->entries[i].value, depth + 1)) return false;
    }
    buf_puts(b, first ? "}" : " }");
  } else {
    ObjString *s = val_to_string(w->vm, v);
    put_string(b, s->chars, s->len);
  }
  return true;
}

/* [path] is the dotted header of [tb] ("" at the top). */
static bool put_table(TWrite *w, ObjDict *tb, Buf *path, int depth)
{
  Buf *b = &w->out;
  if (depth > TOML_MAX_DEPTH || !sched_stack_ok(w->vm)) {
    w->too_deep = true;
    return false;
  }
  for (uint32_t i = 0; i < tb->count; i++) {
    Value v = tb->entries[i].value;
    if (IS_NIL(v) || as_table(v) || is_aot(v)) continue;
    put_key(b, tb->entries[i].key);
    buf_puts(b, " = ");
    if (!put_inline(w, v, depth + 1)) return false;
    buf_putc(b, '\n');
  }
  for (uint32_t i = 0; i < tb->count; i++) {
    Value v = tb->entries[i].value;
    ObjDict *sub = as_table(v);
    bool aot = is_aot(v);
    if (!sub && !aot) continue;
    size_t mark_len = path->len;
    if (path->len) buf_putc(path, '.');
    put_key(path, tb->entries[i].key);
    if (sub) {
      /* a table with only sub-tables needs no header of its own */
      bool plain = false;
      for (uint32_t k = 0; k < sub->count && !plain; k++)
        plain = !IS_NIL(sub->entries[k].value) && !as_table(sub->entries[k].value) && !is_aot(sub->entries[k].value);
      if (plain || sub->count == 0) {
        if (b->len) buf_putc(b, '\n');
        buf_printf(b, "[%s]\n", path->data);
      }
      if (!put_table(w, sub, path, depth + 1)) return false;
    } else {
      ObjList *l = AS_LIST(v);
      for (uint32_t k = 0; k < l->count; k++) {
        if (b->len) buf_putc(b, '\n');
        buf_printf(b, "[[%s]]\n", path->data);
        if (!put_table(w, as_table(l->items[k]), path, depth + 1)) return false;
      }
    }
    path->len = mark_len;
    if (path->data) path->data[path->len] = '\0';
  }
  return true;
}

bool std_toml_stringify(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjDict *tb = as_table(arg(argc, argv, 0));
  if (!tb) return err_throw_str(vm, "toml_stringify: top-level value must be a table, got %s", val_type_name(arg(argc, argv, 0)));
  TWrite w = {.vm = vm};
  Buf path = {0};
  bool ok = put_table(&w, tb, &path, 0);
  buf_free(&path);
  if (!ok) {
    buf_free(&w.out);
    if (w.too_deep) return err_runtime(vm, "toml_stringify: value nested too deeply");
    return err_memory(vm);
  }
  *out = OBJ_VAL(str_new(vm, w.out.data ? w.out.data : "", w.out.len));
  buf_free(&w.out);
  return true;
}
