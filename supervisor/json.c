/*
 * json.c: the supervisor's JSON: a writer for records and event lines, and
 * a parser for the lines it reads (manifest lines, --input, the results
 * file and the journal on --resume).
 *
 * Writer invariants: everything appended is valid JSON. Strings are written by
 * base/json_escape.h: in one that is not valid UTF-8 (worker output is raw
 * bytes) each invalid character becomes \ufffd; non-finite floats become
 * null. Names (job ids, paths: sup_json_name) write an invalid byte XX as
 * the escape \udcXX instead (JSON_ESCAPE_BYTES)
 * (Python's "surrogateescape"), which the parser reads back as the byte:
 * an id that is not UTF-8 (a file name Linux allows) round-trips through a
 * record exactly, so --resume finds it (docs/cli.md "The terminal record").
 *
 * Parser: RFC 8259, the whole text. What the supervisor looks at is the
 * top-level members of a line, so that is what becomes nodes: the root
 * object's members (at most SUP_JSON_MAX_MEMBERS) and scalars. An array,
 * and an object below the top, is checked whole (nesting depth at most
 * SUP_JSON_MAX_DEPTH, so a line cannot overflow the C stack) and kept as
 * its compact text (SUP_JSON_RAW): memory is linear in the text (at most
 * 6 bytes per byte, an invalid UTF-8 byte or DEL becoming a \u escape; sup_json_write
 * of a parsed tree likewise), not a node of ~100 bytes per 2 bytes of
 * "[0,0,...]". Every string is bounded by the
 * text and NUL-terminated, with its length (it may hold NULs: \u0000);
 * keys too (klens). Numbers must match the RFC grammar; a node keeps the
 * number's text, written back as given ("3.0" stays a float), and its value
 * (int64 when it is an integer that fits, as json_parse does).
 */
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_escape.h"

/* ------------------------------------------------------------------ writer */

void sup_json_str(Buf *b, const char *s, size_t n) { json_escape(b, s, n, 0); }

void sup_json_name(Buf *b, const char *s)
{
  if (!s) buf_puts(b, "null");
  else json_escape(b, s, strlen(s), JSON_ESCAPE_BYTES);
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

/* Decode the string at ps->p (which is at '"') into [b], which is left
 * NUL-terminated even when nothing was appended (b NULL: only check it).
 * Escapes: the JSON ones; a surrogate pair is one code point; a lone
 * \udc80..\udcff is the raw byte 0x80..0xff (the reversible escape
 * sup_json_name writes); any other lone surrogate is U+FFFD. Raw bytes
 * >= 0x20 are copied as they are (valid UTF-8 or not). -1 on error. */
static int parse_string(Parser *ps, Buf *b)
{
  if (b) buf_append(b, "", 0); /* terminated from the start */
  ps->p++;
  for (;;) {
    /* the longest run of plain bytes at once */
    const char *run = ps->p;
    while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20)
      ps->p++;
    if (b && ps->p > run) buf_append(b, run, (size_t)(ps->p - run));
    if (ps->p >= ps->end) { ps->err = "unterminated string"; return -1; }
    unsigned char c = (unsigned char)*ps->p++;
    if (c == '"') return 0;
    if (c != '\\') { ps->err = "control character in string"; return -1; }
    if (ps->p >= ps->end) { ps->err = "bad escape"; return -1; }
    char e = *ps->p++, one;
    switch (e) {
    case '"': one = '"'; break;
    case '\\': one = '\\'; break;
    case '/': one = '/'; break;
    case 'b': one = '\b'; break;
    case 'f': one = '\f'; break;
    case 'n': one = '\n'; break;
    case 'r': one = '\r'; break;
    case 't': one = '\t'; break;
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
      if (cp >= 0xDC80 && cp <= 0xDCFF) {
        if (b) buf_putc(b, (char)(cp & 0xFF));
        continue;
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
      if (b) buf_put_utf8(b, cp);
      continue;
    }
    default: ps->err = "bad escape"; return -1;
    }
    if (b) buf_putc(b, one);
  }
}

/* Check the number at ps->p against RFC 8259's grammar
 * (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) and move past it. 1 for
 * an integer (no fraction, no exponent), 2 for another number, -1 on error. */
static int scan_number(Parser *ps)
{
  const char *s = ps->p, *end = ps->end;
  int kind = 1;
#define DIGIT(q) ((q) < end && *(q) >= '0' && *(q) <= '9')
  if (s < end && *s == '-') s++;
  if (!DIGIT(s)) { ps->err = "bad number"; return -1; }
  if (*s == '0') s++;
  else while (DIGIT(s)) s++;
  if (s < end && *s == '.') {
    s++;
    if (!DIGIT(s)) { ps->err = "bad number"; return -1; }
    while (DIGIT(s)) s++;
    kind = 2;
  }
  if (s < end && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < end && (*s == '+' || *s == '-')) s++;
    if (!DIGIT(s)) { ps->err = "bad number"; return -1; }
    while (DIGIT(s)) s++;
    kind = 2;
  }
#undef DIGIT
  ps->p = s;
  return kind;
}

/* true/false/null at ps->p: its length, or 0. */
static size_t literal_len(const Parser *ps)
{
  static const char *const words[] = {"true", "false", "null"};
  for (size_t i = 0; i < 3; i++) {
    size_t l = strlen(words[i]);
    if ((size_t)(ps->end - ps->p) >= l && memcmp(ps->p, words[i], l) == 0) return l;
  }
  return 0;
}

/* Check the value at ps->p (at [depth]) and append it to [out] as compact
 * JSON (out NULL: only check it): strings decoded and encoded again
 * (json_escape: \ufffd for invalid bytes), numbers and literals as
 * they are written, no whitespace: at most 6 bytes for each byte of the
 * text. -1 on error. */
static int scan_value(Parser *ps, int depth, Buf *out)
{
  if (depth > SUP_JSON_MAX_DEPTH) { ps->err = "nesting too deep"; return -1; }
  skip_ws(ps);
  if (ps->p >= ps->end) { ps->err = "unexpected end of input"; return -1; }
  char c = *ps->p;
  if (c == '{' || c == '[') {
    bool obj = c == '{';
    char close = obj ? '}' : ']';
    if (out) buf_putc(out, c);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      if (out) buf_putc(out, close);
      return 0;
    }
    Buf key = {0};
    for (;;) {
      if (obj) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') { ps->err = "expected a key"; goto fail; }
        if (out) buf_clear(&key);
        if (parse_string(ps, out ? &key : NULL) < 0) goto fail;
        if (out) {
          json_escape(out, key.data, key.len, 0);
          buf_putc(out, ':');
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') { ps->err = "expected ':'"; goto fail; }
        ps->p++;
      }
      if (scan_value(ps, depth + 1, out) < 0) goto fail;
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        if (out) buf_putc(out, ',');
        continue;
      }
      if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        if (out) buf_putc(out, close);
        buf_free(&key);
        return 0;
      }
      ps->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
      goto fail;
    }
  fail:
    buf_free(&key);
    return -1;
  }
  if (c == '"') {
    if (!out) return parse_string(ps, NULL);
    Buf s = {0};
    int rc = parse_string(ps, &s);
    if (rc == 0) json_escape(out, s.data, s.len, 0);
    buf_free(&s);
    return rc;
  }
  const char *from = ps->p;
  size_t l = literal_len(ps);
  if (l) ps->p += l;
  else if (c == '-' || (c >= '0' && c <= '9')) {
    if (scan_number(ps) < 0) return -1;
  } else {
    ps->err = "unexpected character";
    return -1;
  }
  if (out) buf_append(out, from, (size_t)(ps->p - from));
  return 0;
}

static void append_child(SupJson *parent, SupJson *child, char *key, size_t klen)
{
  if (parent->len == parent->cap) {
    parent->cap = parent->cap ? parent->cap * 2 : 4;
    parent->items = realloc(parent->items, parent->cap * sizeof *parent->items);
    parent->keys = realloc(parent->keys, parent->cap * sizeof *parent->keys);
    parent->klens = realloc(parent->klens, parent->cap * sizeof *parent->klens);
    if (!parent->items || !parent->keys || !parent->klens) abort();
  }
  parent->items[parent->len] = child;
  parent->keys[parent->len] = key;
  parent->klens[parent->len] = klen;
  parent->len++;
}

/* The value at ps->p as a node: a scalar, or (an array, or an object below
 * the top) a SUP_JSON_RAW node holding its compact text. NULL on error. */
static SupJson *parse_value(Parser *ps, int depth)
{
  skip_ws(ps);
  if (ps->p >= ps->end) { ps->err = "unexpected end of input"; return NULL; }
  char c = *ps->p;
  if (c == '[' || (c == '{' && depth > 0)) {
    Buf raw = {0};
    if (scan_value(ps, depth, &raw) < 0) {
      buf_free(&raw);
      return NULL;
    }
    SupJson *n = node_new(SUP_JSON_RAW);
    n->slen = raw.len;
    n->str = buf_take(&raw);
    return n;
  }
  if (c == '{') {
    SupJson *n = node_new(SUP_JSON_OBJECT);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      return n;
    }
    for (;;) {
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != '"') { ps->err = "expected a key"; break; }
      if (n->len >= SUP_JSON_MAX_MEMBERS) { ps->err = "too many members"; break; }
      Buf kb = {0};
      if (parse_string(ps, &kb) < 0) { buf_free(&kb); break; }
      size_t klen = kb.len;
      char *key = buf_take(&kb);
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') { ps->err = "expected ':'"; free(key); break; }
      ps->p++;
      SupJson *v = parse_value(ps, depth + 1);
      if (!v) { free(key); break; }
      append_child(n, v, key, klen);
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
      if (ps->p < ps->end && *ps->p == '}') { ps->p++; return n; }
      ps->err = "expected ',' or '}'";
      break;
    }
    sup_json_free(n);
    return NULL;
  }
  if (c == '"') {
    Buf sb = {0};
    if (parse_string(ps, &sb) < 0) { buf_free(&sb); return NULL; }
    SupJson *n = node_new(SUP_JSON_STRING);
    n->slen = sb.len;
    n->str = buf_take(&sb);
    return n;
  }
  size_t l = literal_len(ps);
  if (l) {
    SupJson *n = node_new(c == 'n' ? SUP_JSON_NULL : SUP_JSON_BOOL);
    n->b = c == 't';
    ps->p += l;
    return n;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    const char *from = ps->p;
    int kind = scan_number(ps);
    if (kind < 0) return NULL;
    SupJson *n = node_new(SUP_JSON_FLOAT);
    n->slen = (size_t)(ps->p - from);
    n->str = malloc(n->slen + 1);
    if (!n->str) abort();
    memcpy(n->str, from, n->slen);
    n->str[n->slen] = '\0';
    errno = 0;
    if (kind == 1) {
      long long v = strtoll(n->str, NULL, 10);
      if (errno == 0) {
        n->type = SUP_JSON_INT;
        n->i = v;
        return n;
      }
    }
    n->d = strtod(n->str, NULL); /* out of range: +-HUGE_VAL or 0 */
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

int sup_json_check(const char *text, size_t len, const char **err)
{
  Parser ps = {text, text + len, NULL};
  int rc = scan_value(&ps, 0, NULL);
  if (rc == 0) {
    skip_ws(&ps);
    if (ps.p != ps.end) {
      ps.err = "trailing characters";
      rc = -1;
    }
  }
  if (err) *err = rc == 0 ? NULL : ps.err;
  return rc;
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
  free(n->klens);
  free(n->str);
  free(n);
}

const SupJson *sup_json_get(const SupJson *obj, const char *key)
{
  if (!obj || obj->type != SUP_JSON_OBJECT) return NULL;
  size_t l = strlen(key);
  for (size_t i = 0; i < obj->len; i++)
    if (obj->klens[i] == l && memcmp(obj->keys[i], key, l) == 0) return obj->items[i];
  return NULL;
}

void sup_json_write(Buf *b, const SupJson *n)
{
  switch (n->type) {
  case SUP_JSON_NULL: buf_puts(b, "null"); break;
  case SUP_JSON_BOOL: buf_puts(b, n->b ? "true" : "false"); break;
  case SUP_JSON_INT:
  case SUP_JSON_FLOAT:
    /* as written in the text parsed ("3.0" stays a float); a node made
     * otherwise has no text */
    if (n->str) buf_append(b, n->str, n->slen);
    else if (n->type == SUP_JSON_INT) sup_json_int(b, (long long)n->i);
    else sup_json_num(b, n->d);
    break;
  case SUP_JSON_STRING: json_escape(b, n->str, n->slen, 0); break; /* as RAW's strings */
  case SUP_JSON_RAW: buf_append(b, n->str, n->slen); break;
  case SUP_JSON_OBJECT:
    buf_putc(b, '{');
    for (size_t i = 0; i < n->len; i++) {
      if (i) buf_putc(b, ',');
      json_escape(b, n->keys[i], n->klens[i], 0);
      buf_putc(b, ':');
      sup_json_write(b, n->items[i]);
    }
    buf_putc(b, '}');
    break;
  }
}
