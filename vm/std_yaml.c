/*
 * std_yaml.c: yaml_parse / yaml_stringify (STDLIB.md 4.8) on libyaml
 * 0.2.5, the parser lineage of the reference's serde_yaml 0.9 (built on
 * unsafe-libyaml, a translation of libyaml 0.2.5).
 *
 * yaml_parse(text): the single document of [text] (an empty stream is
 * nil; two documents throw, as serde_yaml does). Plain scalars resolve as
 * serde_yaml 0.9 resolves them (YAML 1.2 core schema): "", ~, null, Null,
 * NULL -> nil; true/True/TRUE, false/False/FALSE -> bool; decimal, 0x, 0o,
 * 0b integers (a leading + allowed, leading zeros make a string) -> int
 * (a float past the i64 range); Rust-syntax floats and .inf/-.inf/.nan ->
 * float; anything else -> string (yes/no/on/off stay strings). Quoted and
 * block scalars are strings; a !!str tag forces a string, other tags are
 * ignored. Mapping keys are the scalars' text; a sequence or mapping as a
 * key throws; a repeated key keeps the last value; `<<` is an ordinary
 * key (serde_yaml 0.9 does not merge). An alias shares its anchor's value
 * (values are immutable), so alias bombs cost nothing; an alias to an
 * unknown or unfinished anchor throws. Nesting is limited to 128 levels
 * (serde_yaml's recursion limit). Errors are thrown as
 * `yaml_parse: <libyaml problem> at line L column C[, <context> at line L
 * column C]`, serde_yaml's wording.
 *
 * yaml_stringify(v): block style through libyaml's emitter, as serde_yaml
 * writes it: no `---`, sequences inside mappings not indented, unicode
 * written as is, no line folding; a string that would read back as
 * another type ("true", "1", "null", "") is single-quoted, a string with
 * a newline is a literal block (|); other strings are plain when libyaml
 * allows it. Values map as for json_stringify (sets -> sequences,
 * structs -> mappings, ranges -> their display, other kinds -> null);
 * floats are written as harn displays them, .inf/-.inf/.nan.
 *
 * Memory: libyaml has no allocator hook, so its own buffers (the
 * parser's token queue and stacks, the emitter's buffer) are plain malloc,
 * outside the VM's --memory accounting; RLIMIT_AS still bounds them in a
 * worker (STDLIB.md 2, rule 3). What they build here is accounted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "gc.h"
#include "object.h"
#include "sched.h"
#include "state.h"
#include "std_json.h"

#define YAML_MAX_DEPTH 128

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

/* ======================================================================
 * Scalar resolution (serde_yaml 0.9 de.rs visit_untagged_scalar)
 * ====================================================================== */

static bool eq(const char *s, size_t n, const char *w) { return strlen(w) == n && memcmp(s, w, n) == 0; }

static bool is_null_word(const char *s, size_t n)
{
  return n == 0 || eq(s, n, "~") || eq(s, n, "null") || eq(s, n, "Null") || eq(s, n, "NULL");
}

static int bool_word(const char *s, size_t n)
{
  if (eq(s, n, "true") || eq(s, n, "True") || eq(s, n, "TRUE")) return 1;
  if (eq(s, n, "false") || eq(s, n, "False") || eq(s, n, "FALSE")) return 0;
  return -1;
}

/* leading zero(s) followed by digits is a string in YAML 1.2 */
static bool digits_but_not_number(const char *s, size_t n)
{
  if (n && (s[0] == '-' || s[0] == '+')) {
    s++;
    n--;
  }
  if (n <= 1 || s[0] != '0') return false;
  for (size_t i = 1; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

/* Digits of [radix] only (Rust's from_str_radix after the sign), as a
 * magnitude; false when empty, invalid or past [limit]. */
static bool radix_digits(const char *s, size_t n, int radix, uint64_t limit, uint64_t *out)
{
  if (n == 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    int d;
    char c = s[i];
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
    else return false;
    if (d >= radix) return false;
    if (v > (limit - (uint64_t)d) / (uint64_t)radix) return false;
    v = v * (uint64_t)radix + (uint64_t)d;
  }
  *out = v;
  return true;
}

/* Rust's f64 grammar: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)? */
static bool rust_float(const char *s, size_t n, double *out)
{
  size_t i = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) i++;
  size_t d0 = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  size_t intd = i - d0, fracd = 0;
  if (i < n && s[i] == '.') {
    i++;
    size_t f0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    fracd = i - f0;
  }
  if (intd + fracd == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t e0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == e0) return false;
  }
  if (i != n || n > 512) return false;
  char tmp[520];
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  *out = strtod(tmp, NULL);
  return true;
}

/* The value of a plain, untagged scalar. */
static Value resolve_plain(Vm *vm, const char *s, size_t n)
{
  if (is_null_word(s, n)) return val_nil();
  int b = bool_word(s, n);
  if (b >= 0) return val_bool(b);
  /* integers */
  bool neg = n > 0 && s[0] == '-';
  const char *u = s;
  size_t un = n;
  if (un && (u[0] == '+' || u[0] == '-')) {
    u++;
    un--;
  }
  uint64_t mag;
  static const struct {
    const char *prefix;
    int radix;
  } rx[] = {{"0x", 16}, {"0o", 8}, {"0b", 2}};
  for (int k = 0; k < 3; k++) {
    if (un > 2 && memcmp(u, rx[k].prefix, 2) == 0) {
      if (u[2] == '+' || u[2] == '-') break;
      if (radix_digits(u + 2, un - 2, rx[k].radix, neg ? (uint64_t)INT64_MAX + 1 : UINT64_MAX, &mag)) {
        if (neg) return val_int(mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag);
        return mag <= (uint64_t)INT64_MAX ? val_int((int64_t)mag) : val_float((double)mag);
      }
    }
  }
  if (!(un && (u[0] == '+' || u[0] == '-')) && !digits_but_not_number(s, n)) {
    if (radix_digits(u, un, 10, neg ? (uint64_t)INT64_MAX + 1 : UINT64_MAX, &mag) && u[0] >= '0' && u[0] <= '9') {
      if (neg) return val_int(mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag);
      return mag <= (uint64_t)INT64_MAX ? val_int((int64_t)mag) : val_float((double)mag);
    }
  }
  /* floats */
  if (!digits_but_not_number(s, n)) {
    const char *f = s;
    size_t fn = n;
    if (fn && f[0] == '+') {
      f++;
      fn--;
      if (fn && (f[0] == '+' || f[0] == '-')) return OBJ_VAL(str_new(vm, s, n));
    }
    if (eq(f, fn, ".inf") || eq(f, fn, ".Inf") || eq(f, fn, ".INF")) return val_float(INFINITY);
    if (eq(s, n, "-.inf") || eq(s, n, "-.Inf") || eq(s, n, "-.INF")) return val_float(-INFINITY);
    if (eq(s, n, ".nan") || eq(s, n, ".NaN") || eq(s, n, ".NAN")) return val_float(NAN);
    double d;
    if (rust_float(f, fn, &d) && isfinite(d)) return val_float(d);
  }
  return OBJ_VAL(str_new(vm, s, n));
}

/* ======================================================================
 * Parsing
 * ====================================================================== */

typedef struct {
  char *name;
  Value v;
} Anchor;

typedef struct {
  Vm *vm;
  yaml_parser_t p;
  yaml_event_t ev;
  bool have_ev;
  Anchor *anchors;
  size_t nanchors, capanchors;
} YParse;

static bool yfail_parser(YParse *y)
{
  Buf b = {0};
  buf_puts(&b, "yaml_parse: ");
  buf_puts(&b, y->p.problem ? y->p.problem : "invalid YAML");
  if (y->p.problem_mark.line || y->p.problem_mark.column)
    buf_printf(&b, " at line %zu column %zu", y->p.problem_mark.line + 1, y->p.problem_mark.column + 1);
  else if (y->p.problem_offset)
    buf_printf(&b, " at position %zu", y->p.problem_offset);
  if (y->p.context) {
    buf_printf(&b, ", %s", y->p.context);
    if ((y->p.context_mark.line || y->p.context_mark.column) &&
        (y->p.context_mark.line != y->p.problem_mark.line || y->p.context_mark.column != y->p.problem_mark.column))
      buf_printf(&b, " at line %zu column %zu", y->p.context_mark.line + 1, y->p.context_mark.column + 1);
  }
  err_throw(y->vm, OBJ_VAL(str_new(y->vm, b.data, b.len)));
  buf_free(&b);
  return false;
}

static bool yfail_at(YParse *y, const char *msg)
{
  return err_throw_str(y->vm, "yaml_parse: %s at line %zu column %zu", msg, y->ev.start_mark.line + 1,
                       y->ev.start_mark.column + 1);
}

static bool next(YParse *y)
{
  if (y->have_ev) yaml_event_delete(&y->ev);
  y->have_ev = false;
  if (!yaml_parser_parse(&y->p, &y->ev)) return yfail_parser(y);
  y->have_ev = true;
  return true;
}

static void set_anchor(YParse *y, const unsigned char *name, Value v)
{
  if (!name) return;
  for (size_t i = 0; i < y->nanchors; i++)
    if (strcmp(y->anchors[i].name, (const char *)name) == 0) {
      y->anchors[i].v = v;
      return;
    }
  if (y->nanchors == y->capanchors) {
    y->capanchors = y->capanchors ? y->capanchors * 2 : 8;
    y->anchors = realloc(y->anchors, sizeof(Anchor) * y->capanchors);
    if (!y->anchors) abort();
  }
  y->anchors[y->nanchors].name = strdup((const char *)name);
  if (!y->anchors[y->nanchors].name) abort();
  y->anchors[y->nanchors++].v = v;
}

/* The node whose first event is the current one; the current event is
 * then its last. */
static bool node(YParse *y, int depth, Value *out)
{
  Vm *vm = y->vm;
  if (depth > YAML_MAX_DEPTH || !sched_stack_ok(vm)) return yfail_at(y, "recursion limit exceeded");
  if (vm->heap.doomed) return err_memory(vm);
  yaml_event_t *e = &y->ev;
  switch (e->type) {
  case YAML_ALIAS_EVENT: {
    const char *name = (const char *)e->data.alias.anchor;
    for (size_t i = y->nanchors; i > 0; i--)
      if (strcmp(y->anchors[i - 1].name, name) == 0) {
        *out = y->anchors[i - 1].v;
        return true;
      }
    return yfail_at(y, "unknown anchor");
  }
  case YAML_SCALAR_EVENT: {
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    const char *tag = (const char *)e->data.scalar.tag;
    if (!mem_fits(vm, n)) return err_memory(vm);
    if (tag && strcmp(tag, YAML_STR_TAG) == 0) *out = OBJ_VAL(str_new(vm, s, n));
    else if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || (tag && strncmp(tag, "tag:yaml.org,2002:", 18) == 0))
      *out = resolve_plain(vm, s, n);
    else *out = OBJ_VAL(str_new(vm, s, n));
    set_anchor(y, e->data.scalar.anchor, *out);
    return true;
  }
  case YAML_SEQUENCE_START_EVENT: {
    unsigned char *anchor = e->data.sequence_start.anchor ? (unsigned char *)strdup((char *)e->data.sequence_start.anchor) : NULL;
    ObjList *l = list_new(vm, 0);
    bool ok = true;
    for (;;) {
      if (!(ok = next(y))) break;
      if (y->ev.type == YAML_SEQUENCE_END_EVENT) break;
      Value v;
      if (!(ok = node(y, depth + 1, &v))) break;
      list_push(vm, l, v);
    }
    if (ok) {
      *out = OBJ_VAL(l);
      set_anchor(y, anchor, *out);
    }
    free(anchor);
    return ok;
  }
  case YAML_MAPPING_START_EVENT: {
    unsigned char *anchor = e->data.mapping_start.anchor ? (unsigned char *)strdup((char *)e->data.mapping_start.anchor) : NULL;
    ObjDict *d = dict_new(vm, 0);
    bool ok = true;
    for (;;) {
      if (!(ok = next(y))) break;
      if (y->ev.type == YAML_MAPPING_END_EVENT) break;
      ObjString *key;
      if (y->ev.type == YAML_SCALAR_EVENT) {
        key = str_new(vm, (const char *)y->ev.data.scalar.value, y->ev.data.scalar.length);
        set_anchor(y, y->ev.data.scalar.anchor, OBJ_VAL(key));
      } else if (y->ev.type == YAML_ALIAS_EVENT) {
        Value k;
        if (!(ok = node(y, depth + 1, &k))) break;
        if (!IS_STRING(k) && (IS_LIST(k) || IS_DICT(k))) {
          ok = yfail_at(y, "mapping keys must be scalars");
          break;
        }
        key = val_to_string(vm, k);
      } else {
        ok = yfail_at(y, "mapping keys must be scalars");
        break;
      }
      Value v;
      if (!(ok = next(y)) || !(ok = node(y, depth + 1, &v))) break;
      dict_set(vm, d, key, v);
    }
    if (ok) {
      *out = OBJ_VAL(d);
      set_anchor(y, anchor, *out);
    }
    free(anchor);
    return ok;
  }
  default: return yfail_at(y, "unexpected event");
  }
}

bool std_yaml_parse_text(Vm *vm, const char *text, size_t len, Value *out)
{
  YParse *y = calloc(1, sizeof *y);
  if (!y) abort();
  y->vm = vm;
  if (!yaml_parser_initialize(&y->p)) abort();
  yaml_parser_set_input_string(&y->p, (const unsigned char *)text, len);
  bool ok = next(y); /* stream start */
  *out = val_nil();
  int docs = 0;
  while (ok) {
    if (!(ok = next(y))) break;
    if (y->ev.type == YAML_STREAM_END_EVENT) break;
    if (y->ev.type != YAML_DOCUMENT_START_EVENT) {
      ok = yfail_at(y, "unexpected event");
      break;
    }
    if (++docs > 1) {
      ok = err_throw_str(vm, "yaml_parse: deserializing from YAML containing more than one document is not supported");
      break;
    }
    if (!(ok = next(y)) || !(ok = node(y, 0, out)) || !(ok = next(y))) break; /* document end */
  }
  if (y->have_ev) yaml_event_delete(&y->ev);
  yaml_parser_delete(&y->p);
  for (size_t i = 0; i < y->nanchors; i++) free(y->anchors[i].name);
  free(y->anchors);
  free(y);
  if (ok && vm->heap.doomed) return err_memory(vm);
  return ok;
}

bool std_yaml_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value t = arg(argc, argv, 0);
  if (!IS_STRING(t)) return err_throw_str(vm, "yaml_parse: expected a string, got %s", val_type_name(t));
  return std_yaml_parse_text(vm, AS_CSTR(t), AS_STRING(t)->len, out);
}

/* ======================================================================
 * Stringifying
 * ====================================================================== */

typedef struct {
  Vm *vm;
  yaml_emitter_t em;
  Buf out;
  bool too_big, too_deep;
} YEmit;

static int write_cb(void *data, unsigned char *buffer, size_t size)
{
  YEmit *y = data;
  if (!mem_fits(y->vm, (uint64_t)y->out.len + size)) {
    y->too_big = true;
    return 0;
  }
  buf_append(&y->out, (const char *)buffer, size);
  return 1;
}

static bool emit_ev(YEmit *y, yaml_event_t *e) { return yaml_emitter_emit(&y->em, e) != 0; }

static bool emit_scalar(YEmit *y, const char *s, size_t n, yaml_scalar_style_t style)
{
  yaml_event_t e;
  if (!yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1, style)) return false;
  return emit_ev(y, &e);
}

/* A string: quoted when it would read back as something else. */
static bool emit_string(YEmit *y, const char *s, size_t n)
{
  if (n > INT32_MAX) {
    y->too_big = true;
    return false;
  }
  yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
  if (memchr(s, '\n', n)) {
    style = YAML_LITERAL_SCALAR_STYLE;
  } else {
    Value v = resolve_plain(y->vm, s, n);
    if (!IS_STRING(v)) style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
  }
  return emit_scalar(y, s, n, style);
}

static bool emit_value(YEmit *y, Value v, int depth)
{
  Vm *vm = y->vm;
  if (depth > 512 || !sched_stack_ok(vm)) {
    y->too_deep = true;
    return false;
  }
  char tmp[64];
  yaml_event_t e;
  if (IS_NIL(v)) return emit_scalar(y, "null", 4, YAML_PLAIN_SCALAR_STYLE);
  if (IS_BOOL(v)) return AS_BOOL(v) ? emit_scalar(y, "true", 4, YAML_PLAIN_SCALAR_STYLE) : emit_scalar(y, "false", 5, YAML_PLAIN_SCALAR_STYLE);
  if (IS_INT(v)) {
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)AS_INT(v));
    return emit_scalar(y, tmp, (size_t)n, YAML_PLAIN_SCALAR_STYLE);
  }
  if (IS_FLOAT(v)) {
    double d = AS_FLOAT(v);
    if (isnan(d)) return emit_scalar(y, ".nan", 4, YAML_PLAIN_SCALAR_STYLE);
    if (isinf(d)) return d > 0 ? emit_scalar(y, ".inf", 4, YAML_PLAIN_SCALAR_STYLE) : emit_scalar(y, "-.inf", 5, YAML_PLAIN_SCALAR_STYLE);
    Buf b = {0};
    fmt_float(d, false, &b);
    bool ok = emit_scalar(y, b.data, b.len, YAML_PLAIN_SCALAR_STYLE);
    buf_free(&b);
    return ok;
  }
  if (IS_STRING(v)) return emit_string(y, AS_CSTR(v), AS_STRING(v)->len);
  if (IS_LIST(v) || IS_SET(v)) {
    Value *items = IS_LIST(v) ? AS_LIST(v)->items : AS_SET(v)->items;
    uint32_t n = IS_LIST(v) ? AS_LIST(v)->count : AS_SET(v)->count;
    if (!yaml_sequence_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) || !emit_ev(y, &e)) return false;
    for (uint32_t i = 0; i < n; i++)
      if (!emit_value(y, items[i], depth + 1)) return false;
    return yaml_sequence_end_event_initialize(&e) && emit_ev(y, &e);
  }
  if (IS_DICT(v) || IS_STRUCT(v)) {
    ObjDict *d = IS_DICT(v) ? AS_DICT(v) : AS_STRUCT(v)->fields;
    if (!yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) || !emit_ev(y, &e)) return false;
    for (uint32_t i = 0; i < d->count; i++) {
      if (!emit_string(y, d->entries[i].key->chars, d->entries[i].key->len) ||
          !emit_value(y, d->entries[i].value, depth + 1))
        return false;
    }
    return yaml_mapping_end_event_initialize(&e) && emit_ev(y, &e);
  }
  if (IS_RANGE(v)) {
    ObjString *s = val_to_string(vm, v);
    return emit_string(y, s->chars, s->len);
  }
  return emit_scalar(y, "null", 4, YAML_PLAIN_SCALAR_STYLE);
}

bool std_yaml_stringify(Vm *vm, int argc, Value *argv, Value *out)
{
  YEmit *y = calloc(1, sizeof *y);
  if (!y) abort();
  y->vm = vm;
  if (!yaml_emitter_initialize(&y->em)) abort();
  yaml_emitter_set_output(&y->em, write_cb, y);
  yaml_emitter_set_unicode(&y->em, 1);
  yaml_emitter_set_width(&y->em, -1);
  yaml_emitter_set_indent(&y->em, 2);
  yaml_event_t e;
  bool ok = yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING) && emit_ev(y, &e) &&
            yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1) && emit_ev(y, &e) &&
            emit_value(y, arg(argc, argv, 0), 0) && yaml_document_end_event_initialize(&e, 1) && emit_ev(y, &e) &&
            yaml_stream_end_event_initialize(&e) && emit_ev(y, &e) && yaml_emitter_flush(&y->em);
  bool too_big = y->too_big, too_deep = y->too_deep;
  const char *problem = y->em.problem;
  yaml_emitter_delete(&y->em);
  if (!ok) {
    buf_free(&y->out);
    free(y);
    if (too_big) return err_memory(vm);
    if (too_deep) return err_runtime(vm, "yaml_stringify: value nested too deeply");
    return err_throw_str(vm, "yaml_stringify: %s", problem ? problem : "emitter error");
  }
  /* an open-ended document (a plain scalar at the top) gets libyaml's
   * "..." end marker, which serde_yaml's output does not have */
  if (y->out.len >= 4 && memcmp(y->out.data + y->out.len - 4, "...\n", 4) == 0) y->out.len -= 4;
  *out = OBJ_VAL(str_new(vm, y->out.data ? y->out.data : "", y->out.len));
  buf_free(&y->out);
  free(y);
  return true;
}
