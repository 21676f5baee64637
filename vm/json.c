/*
 * json.c: JSON text <-> Harn values (docs/LANGUAGE.md 12.6).
 *
 * Parsing (json_parse_value) is a strict RFC 8259 recursive-descent parser
 * over a byte buffer that is NOT required to be NUL-terminated:
 *   - objects -> dicts (a repeated key keeps the last value), arrays ->
 *     lists, `null` -> nil, true/false -> bool, strings -> strings (escapes
 *     decoded, \uXXXX surrogate pairs joined; a lone surrogate is an error),
 *   - a number without fraction or exponent that fits in i64 -> int; every
 *     other number (fraction, exponent, or an integer too large for i64)
 *     -> float.
 * Anything else (trailing garbage, bad escapes, raw control characters in
 * strings, leading zeros, ...) fails with the thrown string
 * `JSON parse error: <detail> at line L column C` (details worded like
 * serde_json's, which the reference uses). Nesting is limited to
 * JSON_MAX_DEPTH levels so hostile input cannot overflow the C stack; the
 * parser never reads outside [text, text+len) and never crashes.
 *
 * The parser allocates only builders (list_new/dict_new/str_new) and never
 * re-enters the VM, so no collection can run while it holds unrooted
 * objects (gc.h: collections happen only at interpreter safe points).
 *
 * Stringifying (json_stringify_value) is compact, keys in dict order (which
 * is sorted byte order, value.h), floats through fmt_float(x, true) (so
 * 3.0 -> `3`; NaN and infinities, which JSON cannot express, -> `null`),
 * strings escaped by base/json_escape.h (`"` `\`, control characters and
 * DEL; well-formed UTF-8 copied; an invalid character as \ufffd, so the
 * text is always valid JSON). Sets and lists are arrays,
 * structs are objects of their fields, ranges are their display string, and
 * every other kind (closures, enums, pairs, durations, iters, host objects)
 * is `null`. A value nested deeper than JSON_MAX_WRITE_DEPTH (or than
 * the C stack allows, sched_stack_ok) is not written: json_stringify_value
 * returns false and the caller raises an error. Nor is text longer than a
 * string can hold or the memory limit allows (a value sharing its parts
 * unfolds into far more text than it takes memory): the run is then doomed
 * (gc.h mem_doom) and the caller raises the memory error.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_escape.h"
#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "object.h"
#include "sched.h"
#include "state.h"

#define JSON_MAX_DEPTH 512
#define JSON_MAX_WRITE_DEPTH 4096

/* ======================================================================
 * Parsing
 * ====================================================================== */

typedef struct Parser {
  Vm *vm;
  const char *s;
  size_t len, pos;
  int depth;
  const char *err; /* first error detail (static text), NULL while ok */
  size_t err_pos;
} Parser;

static bool fail(Parser *p, const char *msg)
{
  if (!p->err) {
    p->err = msg;
    p->err_pos = p->pos;
  }
  return false;
}

static void skip_ws(Parser *p)
{
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
    else break;
  }
}

static bool at_end(const Parser *p) { return p->pos >= p->len; }

static bool parse_value(Parser *p, Value *out);

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits at p->pos (after `\u`). */
static bool read_hex4(Parser *p, uint32_t *out)
{
  if (p->len - p->pos < 4) {
    p->pos = p->len;
    return fail(p, "EOF while parsing a string");
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p->s[p->pos]);
    if (h < 0) return fail(p, "invalid escape");
    v = v * 16 + (uint32_t)h;
    p->pos++;
  }
  *out = v;
  return true;
}

/* A string; p->pos is just after the opening quote. */
static bool parse_string(Parser *p, ObjString **out)
{
  size_t start = p->pos;
  /* Fast path: no escapes. */
  while (p->pos < p->len) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') {
      *out = str_new(p->vm, p->s + start, p->pos - start);
      p->pos++;
      return true;
    }
    if (c == '\\') break;
    if (c < 0x20) return fail(p, "control character (\\u0000-\\u001F) found while parsing a string");
    p->pos++;
  }
  if (at_end(p)) return fail(p, "EOF while parsing a string");

  Buf b = {0};
  buf_append(&b, p->s + start, p->pos - start);
  while (p->pos < p->len) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') {
      p->pos++;
      *out = str_new(p->vm, b.data, b.len);
      buf_free(&b);
      return true;
    }
    if (c < 0x20) {
      buf_free(&b);
      return fail(p, "control character (\\u0000-\\u001F) found while parsing a string");
    }
    if (c != '\\') {
      buf_append(&b, (const char *)&p->s[p->pos], 1);
      p->pos++;
      continue;
    }
    p->pos++;
    if (at_end(p)) break;
    char e = p->s[p->pos++];
    switch (e) {
    case '"': buf_putc(&b, '"'); break;
    case '\\': buf_putc(&b, '\\'); break;
    case '/': buf_putc(&b, '/'); break;
    case 'b': buf_putc(&b, '\b'); break;
    case 'f': buf_putc(&b, '\f'); break;
    case 'n': buf_putc(&b, '\n'); break;
    case 'r': buf_putc(&b, '\r'); break;
    case 't': buf_putc(&b, '\t'); break;
    case 'u': {
      uint32_t cp;
      if (!read_hex4(p, &cp)) {
        buf_free(&b);
        return false;
      }
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
          buf_free(&b);
          return fail(p, "lone leading surrogate in hex escape");
        }
        p->pos += 2;
        if (!read_hex4(p, &lo)) {
          buf_free(&b);
          return false;
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
          buf_free(&b);
          return fail(p, "lone leading surrogate in hex escape");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        buf_free(&b);
        return fail(p, "lone trailing surrogate in hex escape");
      }
      buf_put_utf8(&b, cp);
      break;
    }
    default:
      p->pos--;
      buf_free(&b);
      return fail(p, "invalid escape");
    }
  }
  buf_free(&b);
  return fail(p, "EOF while parsing a string");
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool parse_number(Parser *p, Value *out)
{
  size_t start = p->pos;
  bool neg = false, is_float = false;
  if (p->s[p->pos] == '-') {
    neg = true;
    p->pos++;
  }
  if (at_end(p)) return fail(p, "EOF while parsing a value");
  if (p->s[p->pos] == '0') {
    p->pos++;
    if (!at_end(p) && is_digit(p->s[p->pos])) return fail(p, "invalid number");
  } else if (is_digit(p->s[p->pos])) {
    while (!at_end(p) && is_digit(p->s[p->pos])) p->pos++;
  } else {
    return fail(p, "invalid number");
  }
  if (!at_end(p) && p->s[p->pos] == '.') {
    is_float = true;
    p->pos++;
    if (at_end(p)) return fail(p, "EOF while parsing a value");
    if (!is_digit(p->s[p->pos])) return fail(p, "invalid number");
    while (!at_end(p) && is_digit(p->s[p->pos])) p->pos++;
  }
  if (!at_end(p) && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
    is_float = true;
    p->pos++;
    if (!at_end(p) && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
    if (at_end(p)) return fail(p, "EOF while parsing a value");
    if (!is_digit(p->s[p->pos])) return fail(p, "invalid number");
    while (!at_end(p) && is_digit(p->s[p->pos])) p->pos++;
  }
  size_t n = p->pos - start;
  if (!is_float) {
    /* Accumulate as a negative number so INT64_MIN fits. */
    int64_t acc = 0;
    bool overflow = false;
    for (size_t i = start + (neg ? 1 : 0); i < p->pos; i++) {
      int d = p->s[i] - '0';
      if (acc < (INT64_MIN + d) / 10) {
        overflow = true;
        break;
      }
      acc = acc * 10 - d;
    }
    if (!overflow && (neg || acc != INT64_MIN)) {
      *out = val_int(neg ? acc : -acc);
      return true;
    }
  }
  char tmp[64];
  char *txt = n < sizeof tmp ? tmp : malloc(n + 1);
  if (!txt) return fail(p, "out of memory");
  memcpy(txt, p->s + start, n);
  txt[n] = 0;
  double d = strtod(txt, NULL);
  if (txt != tmp) free(txt);
  *out = val_float(d);
  return true;
}

static bool match_word(Parser *p, const char *w)
{
  size_t n = strlen(w);
  for (size_t i = 0; i < n; i++) {
    if (p->pos + i >= p->len) {
      p->pos = p->len;
      return fail(p, "EOF while parsing a value");
    }
    if (p->s[p->pos + i] != w[i]) {
      p->pos += i;
      return fail(p, "expected ident");
    }
  }
  p->pos += n;
  return true;
}

static bool parse_array(Parser *p, Value *out)
{
  ObjList *l = list_new(p->vm, 0);
  skip_ws(p);
  if (!at_end(p) && p->s[p->pos] == ']') {
    p->pos++;
    *out = OBJ_VAL(l);
    return true;
  }
  for (;;) {
    Value v;
    if (!parse_value(p, &v)) return false;
    list_push(p->vm, l, v);
    skip_ws(p);
    if (at_end(p)) return fail(p, "EOF while parsing a list");
    char c = p->s[p->pos];
    if (c == ',') {
      p->pos++;
      skip_ws(p);
      if (!at_end(p) && p->s[p->pos] == ']') return fail(p, "trailing comma");
      continue;
    }
    if (c == ']') {
      p->pos++;
      *out = OBJ_VAL(l);
      return true;
    }
    return fail(p, "expected `,` or `]`");
  }
}

static bool parse_object(Parser *p, Value *out)
{
  ObjDict *d = dict_new(p->vm, 0);
  skip_ws(p);
  if (!at_end(p) && p->s[p->pos] == '}') {
    p->pos++;
    *out = OBJ_VAL(d);
    return true;
  }
  for (;;) {
    skip_ws(p);
    if (at_end(p)) return fail(p, "EOF while parsing an object");
    if (p->s[p->pos] != '"') {
      if (p->s[p->pos] == '}') return fail(p, "trailing comma");
      return fail(p, "key must be a string");
    }
    p->pos++;
    ObjString *key;
    if (!parse_string(p, &key)) return false;
    skip_ws(p);
    if (at_end(p)) return fail(p, "EOF while parsing an object");
    if (p->s[p->pos] != ':') return fail(p, "expected `:`");
    p->pos++;
    Value v;
    if (!parse_value(p, &v)) return false;
    dict_set(p->vm, d, key, v);
    skip_ws(p);
    if (at_end(p)) return fail(p, "EOF while parsing an object");
    char c = p->s[p->pos];
    if (c == ',') {
      p->pos++;
      continue;
    }
    if (c == '}') {
      p->pos++;
      *out = OBJ_VAL(d);
      return true;
    }
    return fail(p, "expected `,` or `}`");
  }
}

static bool parse_value(Parser *p, Value *out)
{
  skip_ws(p);
  if (at_end(p)) return fail(p, "EOF while parsing a value");
  char c = p->s[p->pos];
  switch (c) {
  case '{':
  case '[': {
    if (p->depth >= JSON_MAX_DEPTH) return fail(p, "recursion limit exceeded");
    p->depth++;
    p->pos++;
    bool ok = c == '{' ? parse_object(p, out) : parse_array(p, out);
    p->depth--;
    return ok;
  }
  case '"': {
    p->pos++;
    ObjString *s;
    if (!parse_string(p, &s)) return false;
    *out = OBJ_VAL(s);
    return true;
  }
  case 't':
    if (!match_word(p, "true")) return false;
    *out = val_bool(true);
    return true;
  case 'f':
    if (!match_word(p, "false")) return false;
    *out = val_bool(false);
    return true;
  case 'n':
    if (!match_word(p, "null")) return false;
    *out = val_nil();
    return true;
  default:
    if (c == '-' || is_digit(c)) return parse_number(p, out);
    return fail(p, "expected value");
  }
}

bool json_parse_value(Vm *vm, const char *text, size_t len, Value *out)
{
  Parser p = {vm, text ? text : "", text ? len : 0, 0, 0, NULL, 0};
  bool ok = parse_value(&p, out);
  if (ok) {
    skip_ws(&p);
    if (!at_end(&p)) ok = fail(&p, "trailing characters");
  }
  if (ok) return true;
  /* Line and column (1-based; the column counts bytes up to and including
   * the offending one, as serde_json reports it). */
  size_t line = 1, col = 0;
  for (size_t i = 0; i < p.err_pos && i < p.len; i++) {
    if (p.s[i] == '\n') {
      line++;
      col = 0;
    } else {
      col++;
    }
  }
  if (p.err_pos < p.len) col++;
  *out = val_nil();
  return err_throw_str(vm, "JSON parse error: %s at line %zu column %zu", p.err, line, col);
}

/* ======================================================================
 * Stringifying
 * ====================================================================== */

/* Append [v]; false (the text cut short) when it is nested too deeply or
 * the text grew past what a string can hold (the run is then doomed). */
static bool write_value(Vm *vm, Value v, Buf *out, int depth)
{
  if (depth > JSON_MAX_WRITE_DEPTH || !sched_stack_ok(vm)) return false;
  if (out->len > (vm->heap.limit && vm->heap.limit < MEM_BLOCK_MAX ? vm->heap.limit : MEM_BLOCK_MAX)) {
    mem_doom(vm);
    return false;
  }
  switch (v.type) {
  case VAL_NIL: buf_puts(out, "null"); return true;
  case VAL_BOOL: buf_puts(out, AS_BOOL(v) ? "true" : "false"); return true;
  case VAL_INT: buf_put_i64(out, AS_INT(v)); return true;
  case VAL_FLOAT:
    if (!isfinite(AS_FLOAT(v))) buf_puts(out, "null");
    else fmt_float(AS_FLOAT(v), true, out);
    return true;
  case VAL_DURATION:
  case VAL_BUILTIN: buf_puts(out, "null"); return true;
  case VAL_OBJ: break;
  }
  switch (OBJ_TYPE(v)) {
  case OBJ_STRING: json_escape(out, AS_CSTR(v), AS_STRING(v)->len, 0); return true;
  case OBJ_LIST:
  case OBJ_SET: {
    uint32_t n = IS_LIST(v) ? AS_LIST(v)->count : AS_SET(v)->count;
    Value *items = IS_LIST(v) ? AS_LIST(v)->items : AS_SET(v)->items;
    buf_putc(out, '[');
    for (uint32_t i = 0; i < n; i++) {
      if (i) buf_putc(out, ',');
      if (!write_value(vm, items[i], out, depth + 1)) return false;
    }
    buf_putc(out, ']');
    return true;
  }
  case OBJ_DICT:
  case OBJ_STRUCT: {
    ObjDict *d = IS_DICT(v) ? AS_DICT(v) : AS_STRUCT(v)->fields;
    buf_putc(out, '{');
    for (uint32_t i = 0; d && i < d->count; i++) {
      if (i) buf_putc(out, ',');
      json_escape(out, d->entries[i].key->chars, d->entries[i].key->len, 0);
      buf_putc(out, ':');
      if (!write_value(vm, d->entries[i].value, out, depth + 1)) return false;
    }
    buf_putc(out, '}');
    return true;
  }
  case OBJ_RANGE: {
    Buf tmp = {0};
    val_display(vm, v, &tmp);
    json_escape(out, tmp.data ? tmp.data : "", tmp.len, 0);
    buf_free(&tmp);
    return true;
  }
  default: buf_puts(out, "null"); return true;
  }
}

bool json_stringify_value(Vm *vm, Value v, Buf *out) { return write_value(vm, v, out, 0); }
