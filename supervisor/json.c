/*
 * json.c: the supervisor's JSON: a writer for records and event lines, and
 * a small DOM parser for manifest lines, --input and results files.
 *
 * Writer invariants: everything appended is valid JSON. Strings that are not
 * valid UTF-8 (worker output is raw bytes) have each invalid byte replaced by
 * U+FFFD; non-finite floats become null.
 *
 * Parser: RFC 8259, whole text, nesting depth limited to SUP_JSON_MAX_DEPTH
 * (a manifest line must not be able to overflow the C stack). Nodes are
 * malloc'd; sup_json_free releases a tree. Object members keep their order.
 * Integers that fit int64 stay integers ("3" is an int, "3.0" a float, as
 * json_parse does).
 */
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUP_JSON_MAX_DEPTH 200

/* ------------------------------------------------------------------ writer */

/* Length of the valid UTF-8 sequence at [s] (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
  else return 0;
  if (n < len) return 0;
  unsigned cp = c & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void sup_json_str(Buf *b, const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  buf_reserve(b, n + 2);
  buf_putc(b, '"');
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t run = i;
    /* Copy the longest run of plain bytes at once. */
    while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\') run++;
    if (run > i) {
      buf_append(b, s + i, run - i);
      i = run;
      continue;
    }
    switch (c) {
    case '"': buf_puts(b, "\\\""); i++; continue;
    case '\\': buf_puts(b, "\\\\"); i++; continue;
    case '\n': buf_puts(b, "\\n"); i++; continue;
    case '\r': buf_puts(b, "\\r"); i++; continue;
    case '\t': buf_puts(b, "\\t"); i++; continue;
    case '\b': buf_puts(b, "\\b"); i++; continue;
    case '\f': buf_puts(b, "\\f"); i++; continue;
    default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      buf_printf(b, "\\u%04x", c);
      i++;
      continue;
    }
    size_t l = utf8_len(p + i, n - i);
    if (l == 0) {
      buf_puts(b, "\\ufffd");
      i++;
    } else {
      buf_append(b, s + i, l);
      i += l;
    }
  }
  buf_putc(b, '"');
}

void sup_json_cstr(Buf *b, const char *s)
{
  if (!s) buf_puts(b, "null");
  else sup_json_str(b, s, strlen(s));
}

void sup_json_uint(Buf *b, unsigned long long v)
{
  char tmp[24];
  size_t i = sizeof tmp;
  do tmp[--i] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  buf_append(b, tmp + i, sizeof tmp - i);
}

void sup_json_int(Buf *b, long long v)
{
  if (v < 0) {
    buf_putc(b, '-');
    sup_json_uint(b, 0ull - (unsigned long long)v);
  } else {
    sup_json_uint(b, (unsigned long long)v);
  }
}

void sup_json_num(Buf *b, double d)
{
  if (!isfinite(d)) {
    buf_puts(b, "null");
    return;
  }
  if (d == floor(d) && fabs(d) < 1e15) {
    if (d == 0 && signbit(d)) buf_puts(b, "-0"); /* as "%.0f" prints it */
    else sup_json_int(b, (long long)d);          /* exact: |d| < 1e15 */
    return;
  }
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  buf_puts(b, tmp);
}

void sup_json_ms(Buf *b, double ms)
{
  /* Milliseconds with 0.1 ms resolution, as in PRODUCT.md's example.
   * Fast path, byte-identical to "%.1f": for 0 <= ms*10 < 1e9 the product
   * is within 2^-23 of the exact decimal value, so unless its fraction is
   * within 1e-6 of a tie, rounding it to the nearest integer rounds the
   * exact value the same way printf does. Ties, negatives, -0, NaN and
   * huge values take printf. */
  double x = ms * 10.0;
  if (!signbit(x) && x < 1e9) {
    double fl = floor(x);
    if (fabs(x - fl - 0.5) > 1e-6) {
      long long t = (long long)(x - fl > 0.5 ? fl + 1 : fl);
      sup_json_int(b, t / 10);
      buf_putc(b, '.');
      buf_putc(b, (char)('0' + t % 10));
      return;
    }
  }
  buf_printf(b, "%.1f", ms);
}

/* ------------------------------------------------------------------ parser */

typedef struct Parser {
  const char *p, *end;
  const char *err;
} Parser;

static void skip_ws(Parser *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static SupJson *node_new(SupJsonType t)
{
  SupJson *n = calloc(1, sizeof *n);
  if (!n) abort();
  n->type = t;
  return n;
}

static int hex4(const char *s, unsigned *out)
{
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Parses a string at ps->p (which is at '"') into [b]. */
static int parse_string(Parser *ps, Buf *b)
{
  ps->p++;
  for (;;) {
    if (ps->p >= ps->end) { ps->err = "unterminated string"; return -1; }
    unsigned char c = (unsigned char)*ps->p++;
    if (c == '"') break;
    if (c < 0x20) { ps->err = "control character in string"; return -1; }
    if (c != '\\') { buf_putc(b, (char)c); continue; }
    if (ps->p >= ps->end) { ps->err = "bad escape"; return -1; }
    char e = *ps->p++;
    switch (e) {
    case '"': buf_putc(b, '"'); break;
    case '\\': buf_putc(b, '\\'); break;
    case '/': buf_putc(b, '/'); break;
    case 'b': buf_putc(b, '\b'); break;
    case 'f': buf_putc(b, '\f'); break;
    case 'n': buf_putc(b, '\n'); break;
    case 'r': buf_putc(b, '\r'); break;
    case 't': buf_putc(b, '\t'); break;
    case 'u': {
      unsigned cp;
      if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0) { ps->err = "bad \\u escape"; return -1; }
      ps->p += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
          ps->p[1] == 'u') {
        unsigned lo;
        if (hex4(ps->p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          ps->p += 6;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
      buf_put_utf8(b, cp);
      break;
    }
    default: ps->err = "bad escape"; return -1;
    }
  }
  return 0;
}

static SupJson *parse_value(Parser *ps, int depth);

static void append_child(SupJson *parent, SupJson *child, char *key)
{
  if (parent->len == parent->cap) {
    parent->cap = parent->cap ? parent->cap * 2 : 4;
    parent->items = realloc(parent->items, parent->cap * sizeof *parent->items);
    parent->keys = realloc(parent->keys, parent->cap * sizeof *parent->keys);
    if (!parent->items || !parent->keys) abort();
  }
  parent->items[parent->len] = child;
  parent->keys[parent->len] = key;
  parent->len++;
}

static SupJson *parse_value(Parser *ps, int depth)
{
  if (depth > SUP_JSON_MAX_DEPTH) { ps->err = "nesting too deep"; return NULL; }
  skip_ws(ps);
  if (ps->p >= ps->end) { ps->err = "unexpected end of input"; return NULL; }
  char c = *ps->p;
  if (c == '{' || c == '[') {
    bool obj = c == '{';
    SupJson *n = node_new(obj ? SUP_JSON_OBJECT : SUP_JSON_ARRAY);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
      ps->p++;
      return n;
    }
    for (;;) {
      char *key = NULL;
      if (obj) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') { ps->err = "expected a key"; sup_json_free(n); return NULL; }
        Buf kb = {0};
        if (parse_string(ps, &kb) < 0) { buf_free(&kb); sup_json_free(n); return NULL; }
        key = buf_take(&kb);
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') { ps->err = "expected ':'"; free(key); sup_json_free(n); return NULL; }
        ps->p++;
      }
      SupJson *v = parse_value(ps, depth + 1);
      if (!v) { free(key); sup_json_free(n); return NULL; }
      append_child(n, v, key);
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
      if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) { ps->p++; return n; }
      ps->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
      sup_json_free(n);
      return NULL;
    }
  }
  if (c == '"') {
    Buf sb = {0};
    if (parse_string(ps, &sb) < 0) { buf_free(&sb); return NULL; }
    SupJson *n = node_new(SUP_JSON_STRING);
    n->slen = sb.len;
    n->str = buf_take(&sb);
    return n;
  }
  static const struct { const char *word; SupJsonType t; bool b; } words[] = {
    {"true", SUP_JSON_BOOL, true}, {"false", SUP_JSON_BOOL, false}, {"null", SUP_JSON_NULL, false}};
  for (size_t i = 0; i < 3; i++) {
    size_t l = strlen(words[i].word);
    if ((size_t)(ps->end - ps->p) >= l && memcmp(ps->p, words[i].word, l) == 0) {
      ps->p += l;
      SupJson *n = node_new(words[i].t);
      n->b = words[i].b;
      return n;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    const char *s = ps->p;
    if (*s == '-') s++;
    if (s >= ps->end || !(*s >= '0' && *s <= '9')) { ps->err = "bad number"; return NULL; }
    bool is_float = false;
    while (s < ps->end && ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' ||
                           *s == '+' || *s == '-')) {
      if (*s == '.' || *s == 'e' || *s == 'E') is_float = true;
      s++;
    }
    char tmp[64];
    size_t l = (size_t)(s - ps->p);
    if (l >= sizeof tmp) { ps->err = "number too long"; return NULL; }
    memcpy(tmp, ps->p, l);
    tmp[l] = 0;
    char *endp;
    SupJson *n;
    errno = 0;
    if (!is_float) {
      long long v = strtoll(tmp, &endp, 10);
      if (*endp == 0 && errno == 0) {
        n = node_new(SUP_JSON_INT);
        n->i = v;
        ps->p = s;
        return n;
      }
    }
    double d = strtod(tmp, &endp);
    if (*endp != 0) { ps->err = "bad number"; return NULL; }
    n = node_new(SUP_JSON_FLOAT);
    n->d = d;
    ps->p = s;
    return n;
  }
  ps->err = "unexpected character";
  return NULL;
}

SupJson *sup_json_parse(const char *text, size_t len, const char **err)
{
  Parser ps = {text, text + len, NULL};
  SupJson *n = parse_value(&ps, 0);
  if (n) {
    skip_ws(&ps);
    if (ps.p != ps.end) {
      ps.err = "trailing characters";
      sup_json_free(n);
      n = NULL;
    }
  }
  if (err) *err = n ? NULL : ps.err;
  return n;
}

void sup_json_free(SupJson *n)
{
  if (!n) return;
  for (size_t i = 0; i < n->len; i++) {
    sup_json_free(n->items[i]);
    if (n->keys) free(n->keys[i]);
  }
  free(n->items);
  free(n->keys);
  free(n->str);
  free(n);
}

const SupJson *sup_json_get(const SupJson *obj, const char *key)
{
  if (!obj || obj->type != SUP_JSON_OBJECT) return NULL;
  for (size_t i = 0; i < obj->len; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}

void sup_json_write(Buf *b, const SupJson *n)
{
  switch (n->type) {
  case SUP_JSON_NULL: buf_puts(b, "null"); break;
  case SUP_JSON_BOOL: buf_puts(b, n->b ? "true" : "false"); break;
  case SUP_JSON_INT: buf_printf(b, "%lld", (long long)n->i); break;
  case SUP_JSON_FLOAT: sup_json_num(b, n->d); break;
  case SUP_JSON_STRING: sup_json_str(b, n->str, n->slen); break;
  case SUP_JSON_ARRAY:
  case SUP_JSON_OBJECT:
    buf_putc(b, n->type == SUP_JSON_ARRAY ? '[' : '{');
    for (size_t i = 0; i < n->len; i++) {
      if (i) buf_putc(b, ',');
      if (n->type == SUP_JSON_OBJECT) {
        sup_json_cstr(b, n->keys[i]);
        buf_putc(b, ':');
      }
      sup_json_write(b, n->items[i]);
    }
    buf_putc(b, n->type == SUP_JSON_ARRAY ? ']' : '}');
    break;
  }
}
