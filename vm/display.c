/*
 * display.c: the display format (LANGUAGE.md 4), type_of names and
 * truthiness (3), structural equality and ordering (5.3).
 *
 * Display is the one text form of a value used by print, interpolation,
 * to_string, join and error messages; it appends to a malloc'd Buf and never
 * allocates GC objects (only val_to_string() makes the final string), so it
 * cannot trigger or be disturbed by a collection. Strings are raw, nested or
 * not. Floats follow the rule of section 4 (fmt_float below). Dicts and
 * struct fields come out sorted because they are stored sorted (object.c).
 * Ints (and integral floats below 1e15) are formatted by buf.c's digit
 * writer, never printf; interpolation (val_concat_display) sizes its
 * result from string and int parts and fills one string without a Buf.
 *
 * Equality follows the reference's quirks on purpose: two durations are
 * never equal, closures/bound methods/generators/streams/channels are never
 * equal even to themselves, an iter equals only itself, int and float
 * compare numerically. Ordering orders numbers, strings (byte order) and
 * pairs; every other combination is "equal" (0).
 *
 * Nesting: values are trees (value semantics), but a program can build
 * very deep ones; display, equality and ordering stop descending at
 * MAX_DEPTH levels (display prints `...` there) so that they cannot
 * overflow the C stack.
 *
 * Host objects: the display comes from vt->display (default `<type_name>`).
 * A native is falsy exactly when its `size` is 0 and its vtable's
 * `truthy_if_empty` is false (bytes); natives are equal only through the
 * optional vt->equal hook.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "object.h"
#include "state.h"

#define MAX_DEPTH 2000

/* ---- numbers ------------------------------------------------------------- */

void fmt_float(double x, bool json, Buf *out)
{
  if (isnan(x)) {
    buf_puts(out, "NaN");
    return;
  }
  if (isinf(x)) {
    buf_puts(out, x < 0 ? "-inf" : "inf");
    return;
  }
  if (fabs(x) < 1e15 && x == (double)(int64_t)x) {
    /* an integral float below 1e15 prints as its exact integer digits
     * ("%.1f" then adds ".0"; only -0.0 keeps a sign the int loses) */
    if (!json && x == 0 && signbit(x)) buf_putc(out, '-');
    buf_put_i64(out, (int64_t)x);
    if (!json) buf_append(out, ".0", 2);
    return;
  }
  /* Shortest %.*e precision that reads back as the same double. */
  char tmp[64];
  for (int prec = 0; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec, x);
    if (strtod(tmp, NULL) == x) break;
  }
  /* tmp is [-]d[.ddd]e[+-]XX: collect the digits and the exponent. */
  const char *p = tmp;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  char digits[32];
  int nd = 0;
  while (*p && *p != 'e') {
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    p++;
  }
  int exp10 = *p == 'e' ? atoi(p + 1) : 0;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  if (neg) buf_putc(out, '-');
  int point = exp10 + 1; /* digits before the decimal point */
  if (point <= 0) {
    buf_puts(out, "0.");
    for (int i = 0; i < -point; i++) buf_putc(out, '0');
    buf_append(out, digits, (size_t)nd);
  } else if (point >= nd) {
    buf_append(out, digits, (size_t)nd);
    for (int i = nd; i < point; i++) buf_putc(out, '0');
  } else {
    buf_append(out, digits, (size_t)point);
    buf_putc(out, '.');
    buf_append(out, digits + point, (size_t)(nd - point));
  }
}

void fmt_duration(int64_t ms, Buf *out)
{
  /* Magnitude in unsigned arithmetic: -INT64_MIN does not fit in int64. */
  uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  const char *sign = ms < 0 ? "-" : "";
  buf_puts(out, sign);
  if (a != 0 && a % 3600000u == 0) {
    buf_put_u64(out, a / 3600000u);
    buf_putc(out, 'h');
  } else if (a != 0 && a % 60000u == 0) {
    buf_put_u64(out, a / 60000u);
    buf_putc(out, 'm');
  } else if (a != 0 && a % 1000u == 0) {
    buf_put_u64(out, a / 1000u);
    buf_putc(out, 's');
  } else {
    buf_put_u64(out, a);
    buf_append(out, "ms", 2);
  }
}

/* ---- display -------------------------------------------------------------- */

static void display(Vm *vm, Value v, Buf *out, int depth);

static void display_str(Buf *out, const ObjString *s)
{
  if (s) buf_append(out, s->chars, s->len);
}

static void display_items(Vm *vm, const Value *items, uint32_t n, Buf *out, int depth)
{
  for (uint32_t i = 0; i < n; i++) {
    if (i) buf_puts(out, ", ");
    display(vm, items[i], out, depth + 1);
  }
}

static void display_dict_body(Vm *vm, const ObjDict *d, Buf *out, int depth)
{
  buf_putc(out, '{');
  for (uint32_t i = 0; i < d->count; i++) {
    if (i) buf_puts(out, ", ");
    display_str(out, d->entries[i].key);
    buf_puts(out, ": ");
    display(vm, d->entries[i].value, out, depth + 1);
  }
  buf_putc(out, '}');
}

static void display_obj(Vm *vm, Obj *o, Buf *out, int depth)
{
  switch (o->type) {
  case OBJ_STRING:
    display_str(out, (ObjString *)o);
    break;
  case OBJ_LIST: {
    ObjList *l = (ObjList *)o;
    buf_putc(out, '[');
    display_items(vm, l->items, l->count, out, depth);
    buf_putc(out, ']');
    break;
  }
  case OBJ_DICT:
    display_dict_body(vm, (ObjDict *)o, out, depth);
    break;
  case OBJ_SET: {
    ObjSet *s = (ObjSet *)o;
    buf_puts(out, "set(");
    display_items(vm, s->items, s->count, out, depth);
    buf_putc(out, ')');
    break;
  }
  case OBJ_RANGE: {
    ObjRange *r = (ObjRange *)o;
    buf_printf(out, "%" PRId64 " to %" PRId64 "%s", r->start, r->end,
               r->exclusive ? " exclusive" : "");
    break;
  }
  case OBJ_ENUM: {
    ObjEnum *e = (ObjEnum *)o;
    display_str(out, e->enum_name);
    buf_putc(out, '.');
    display_str(out, e->variant);
    if (e->nfields) {
      buf_putc(out, '(');
      display_items(vm, e->fields, e->nfields, out, depth);
      buf_putc(out, ')');
    }
    break;
  }
  case OBJ_ENUM_TYPE:
    display_str(out, ((ObjEnumType *)o)->name);
    break;
  case OBJ_STRUCT: {
    ObjStruct *s = (ObjStruct *)o;
    display_str(out, s->name);
    buf_putc(out, ' ');
    if (s->fields) display_dict_body(vm, s->fields, out, depth);
    else buf_puts(out, "{}");
    break;
  }
  case OBJ_STRUCT_TYPE:
    display_str(out, ((ObjStructType *)o)->name);
    break;
  case OBJ_PAIR: {
    ObjPair *p = (ObjPair *)o;
    buf_putc(out, '(');
    display(vm, p->first, out, depth + 1);
    buf_puts(out, ", ");
    display(vm, p->second, out, depth + 1);
    buf_putc(out, ')');
    break;
  }
  case OBJ_FUNCTION: {
    /* Not a user-visible value; shown by the disassembler and debugging. */
    ObjFunction *f = (ObjFunction *)o;
    buf_puts(out, "<function ");
    if (f->name && f->name->len) display_str(out, f->name);
    else buf_puts(out, "<anon>");
    buf_putc(out, '>');
    break;
  }
  case OBJ_CLOSURE: {
    ObjFunction *f = ((ObjClosure *)o)->fn;
    buf_puts(out, "<fn(");
    if (f && f->param_names) {
      for (uint16_t i = 0; i < f->nparams; i++) {
        if (i) buf_puts(out, ", ");
        display_str(out, f->param_names[i]);
      }
    }
    buf_puts(out, ")>");
    break;
  }
  case OBJ_BOUND:
    display(vm, ((ObjBound *)o)->method, out, depth + 1);
    break;
  case OBJ_ITER:
    buf_puts(out, ((ObjIter *)o)->exhausted ? "<iter (exhausted)>" : "<iter>");
    break;
  case OBJ_NATIVE: {
    ObjNative *n = (ObjNative *)o;
    if (n->vt && n->vt->display) n->vt->display(vm, n, out);
    else buf_printf(out, "<%s>", n->vt && n->vt->type_name ? n->vt->type_name : "native");
    break;
  }
  }
}

static void display(Vm *vm, Value v, Buf *out, int depth)
{
  if (depth > MAX_DEPTH) {
    buf_puts(out, "...");
    return;
  }
  switch (v.type) {
  case VAL_NIL: buf_puts(out, "nil"); break;
  case VAL_BOOL: buf_puts(out, v.as.b ? "true" : "false"); break;
  case VAL_INT: buf_put_i64(out, v.as.i); break;
  case VAL_FLOAT: fmt_float(v.as.f, false, out); break;
  case VAL_DURATION: fmt_duration(v.as.i, out); break;
  case VAL_BUILTIN:
    if (v.as.i >= 0 && v.as.i < builtin_count)
      buf_printf(out, "<builtin %s>", builtin_table[v.as.i].name);
    else buf_puts(out, "<builtin ?>");
    break;
  case VAL_OBJ: display_obj(vm, v.as.o, out, depth); break;
  }
}

void val_display(Vm *vm, Value v, Buf *out) { display(vm, v, out, 0); }

/* Parts up to this many go through the fast path of val_concat_display. */
#define CONCAT_FAST_PARTS 16

ObjString *val_concat_display(Vm *vm, const Value *parts, int n)
{
  if (n <= CONCAT_FAST_PARTS) {
    /* strings and ints only: size the result first, then fill it once */
    char nums[CONCAT_FAST_PARTS][BUF_INT_MAX];
    const char *ptr[CONCAT_FAST_PARTS];
    size_t len[CONCAT_FAST_PARTS];
    size_t total = 0;
    bool ascii = true;
    int i;
    for (i = 0; i < n; i++) {
      Value v = parts[i];
      if (IS_STRING(v)) {
        ObjString *s = AS_STRING(v);
        ptr[i] = s->chars;
        len[i] = s->len;
        /* `ascii` means one character per byte, which invalid bytes also
         * give: parts join without recounting only when no high byte
         * touches a boundary (two could form one sequence) */
        ascii = ascii && s->ascii &&
                (s->len == 0 || ((unsigned char)s->chars[0] < 0x80 &&
                                 (unsigned char)s->chars[s->len - 1] < 0x80));
      } else if (IS_INT(v)) {
        ptr[i] = nums[i];
        len[i] = buf_fmt_i64(nums[i], v.as.i);
      } else {
        break;
      }
      total += len[i];
    }
    if (i == n) {
      ObjString *s = str_alloc(vm, total);
      char *p = s->chars;
      for (i = 0; i < n; i++) {
        /* parts are mostly short: a byte loop beats calling memcpy */
        if (len[i] <= 16) {
          for (size_t j = 0; j < len[i]; j++) p[j] = ptr[i][j];
        } else {
          memcpy(p, ptr[i], len[i]);
        }
        p += len[i];
      }
      str_seal(s, ascii);
      return s;
    }
  }
  Buf b = {0};
  for (int i = 0; i < n; i++) {
    Value v = parts[i];
    if (IS_STRING(v)) buf_append(&b, AS_CSTR(v), AS_STRING(v)->len);
    else display(vm, v, &b, 0);
  }
  return str_from_buf(vm, &b);
}

ObjString *val_to_string(Vm *vm, Value v)
{
  if (IS_STRING(v)) return AS_STRING(v);
  Buf b = {0};
  display(vm, v, &b, 0);
  return str_from_buf(vm, &b);
}

/* ---- types, truthiness ------------------------------------------------------ */

const char *val_type_name(Value v)
{
  switch (v.type) {
  case VAL_NIL: return "nil";
  case VAL_BOOL: return "bool";
  case VAL_INT: return "int";
  case VAL_FLOAT: return "float";
  case VAL_DURATION: return "duration";
  case VAL_BUILTIN: return "builtin";
  case VAL_OBJ: break;
  }
  switch (OBJ_TYPE(v)) {
  case OBJ_STRING: return "string";
  case OBJ_LIST: return "list";
  case OBJ_DICT: return "dict";
  case OBJ_SET: return "set";
  case OBJ_RANGE: return "range";
  case OBJ_ENUM: return "enum";
  case OBJ_ENUM_TYPE: return "enum_type";
  case OBJ_STRUCT: return "struct";
  case OBJ_STRUCT_TYPE: return "struct_type";
  case OBJ_PAIR: return "pair";
  case OBJ_FUNCTION: return "function";
  case OBJ_CLOSURE: return "closure";
  case OBJ_BOUND: return "closure";
  case OBJ_ITER: return "iter";
  case OBJ_NATIVE: {
    ObjNative *n = AS_NATIVE(v);
    return n->vt && n->vt->type_name ? n->vt->type_name : "native";
  }
  }
  return "unknown";
}

bool val_truthy(Value v)
{
  switch (v.type) {
  case VAL_NIL: return false;
  case VAL_BOOL: return v.as.b;
  case VAL_INT: return v.as.i != 0;
  case VAL_FLOAT: return v.as.f != 0.0;
  case VAL_DURATION: return v.as.i != 0;
  case VAL_BUILTIN: return true;
  case VAL_OBJ: break;
  }
  switch (OBJ_TYPE(v)) {
  case OBJ_STRING: return AS_STRING(v)->len > 0;
  case OBJ_LIST: return AS_LIST(v)->count > 0;
  case OBJ_DICT: return AS_DICT(v)->count > 0;
  case OBJ_SET: return AS_SET(v)->count > 0;
  case OBJ_NATIVE: {
    ObjNative *n = AS_NATIVE(v);
    return !(n->size == 0 && n->vt && !n->vt->truthy_if_empty);
  }
  default: return true;
  }
}

/* ---- equality --------------------------------------------------------------- */

static bool equal(Value a, Value b, int depth);

static bool equal_items(const Value *a, const Value *b, uint32_t n, int depth)
{
  for (uint32_t i = 0; i < n; i++)
    if (!equal(a[i], b[i], depth + 1)) return false;
  return true;
}

static bool equal_dicts(const ObjDict *a, const ObjDict *b, int depth)
{
  if (a == b) return true;
  if (!a || !b) return false;
  if (a->count != b->count) return false;
  for (uint32_t i = 0; i < a->count; i++) {
    if (!str_eq(a->entries[i].key, b->entries[i].key)) return false;
    if (!equal(a->entries[i].value, b->entries[i].value, depth + 1)) return false;
  }
  return true;
}

static bool equal_names(const ObjString *a, const ObjString *b)
{
  if (a == b) return true;
  if (!a || !b) return false;
  return str_eq(a, b);
}

static bool equal_objs(Obj *x, Obj *y, int depth)
{
  if (x->type != y->type) return false;
  switch (x->type) {
  case OBJ_STRING:
    return str_eq((ObjString *)x, (ObjString *)y);
  case OBJ_LIST: {
    ObjList *a = (ObjList *)x, *b = (ObjList *)y;
    return a->count == b->count && equal_items(a->items, b->items, a->count, depth);
  }
  case OBJ_DICT:
    return equal_dicts((ObjDict *)x, (ObjDict *)y, depth);
  case OBJ_SET: {
    ObjSet *a = (ObjSet *)x, *b = (ObjSet *)y;
    if (a->count != b->count) return false;
    for (uint32_t i = 0; i < a->count; i++) {
      bool found = false;
      for (uint32_t j = 0; j < b->count && !found; j++)
        found = equal(a->items[i], b->items[j], depth + 1);
      if (!found) return false;
    }
    return true;
  }
  case OBJ_RANGE: {
    ObjRange *a = (ObjRange *)x, *b = (ObjRange *)y;
    return a->start == b->start && a->end == b->end && a->exclusive == b->exclusive;
  }
  case OBJ_PAIR: {
    ObjPair *a = (ObjPair *)x, *b = (ObjPair *)y;
    return equal(a->first, b->first, depth + 1) && equal(a->second, b->second, depth + 1);
  }
  case OBJ_ENUM: {
    ObjEnum *a = (ObjEnum *)x, *b = (ObjEnum *)y;
    return equal_names(a->enum_name, b->enum_name) && equal_names(a->variant, b->variant) &&
           a->nfields == b->nfields && equal_items(a->fields, b->fields, a->nfields, depth);
  }
  case OBJ_STRUCT: {
    ObjStruct *a = (ObjStruct *)x, *b = (ObjStruct *)y;
    return equal_names(a->name, b->name) && equal_dicts(a->fields, b->fields, depth);
  }
  case OBJ_CLOSURE:
  case OBJ_BOUND:
    return false;
  case OBJ_NATIVE: {
    ObjNative *a = (ObjNative *)x, *b = (ObjNative *)y;
    return a->vt == b->vt && a->vt && a->vt->equal && a->vt->equal(a, b);
  }
  case OBJ_ENUM_TYPE:
  case OBJ_STRUCT_TYPE:
  case OBJ_FUNCTION:
  case OBJ_ITER:
    return x == y;
  }
  return false;
}

static bool equal(Value a, Value b, int depth)
{
  if (depth > MAX_DEPTH) return false;
  if (a.type != b.type) {
    if (IS_NUMBER(a) && IS_NUMBER(b)) return AS_NUMBER(a) == AS_NUMBER(b);
    return false;
  }
  switch (a.type) {
  case VAL_NIL: return true;
  case VAL_BOOL: return a.as.b == b.as.b;
  case VAL_INT: return a.as.i == b.as.i;
  case VAL_FLOAT: return a.as.f == b.as.f;
  case VAL_DURATION: return false; /* reference quirk (LANGUAGE.md 5.3) */
  case VAL_BUILTIN: return a.as.i == b.as.i;
  case VAL_OBJ: return equal_objs(a.as.o, b.as.o, depth);
  }
  return false;
}

bool val_equal(Value a, Value b) { return equal(a, b, 0); }

/* ---- ordering ------------------------------------------------------------ */

static int compare(Value a, Value b, int depth)
{
  if (depth > MAX_DEPTH) return 0;
  if (IS_INT(a) && IS_INT(b)) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i;
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    double x = AS_NUMBER(a), y = AS_NUMBER(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (IS_STRING(a) && IS_STRING(b)) {
    int c = str_cmp(AS_STRING(a), AS_STRING(b));
    return c < 0 ? -1 : c > 0;
  }
  if (IS_PAIR(a) && IS_PAIR(b)) {
    int c = compare(AS_PAIR(a)->first, AS_PAIR(b)->first, depth + 1);
    if (c) return c;
    return compare(AS_PAIR(a)->second, AS_PAIR(b)->second, depth + 1);
  }
  return 0;
}

int val_compare(Value a, Value b) { return compare(a, b, 0); }
