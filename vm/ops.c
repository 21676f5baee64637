/*
 * ops.c: the language's operators on values, with the exact error texts of
 * docs/LANGUAGE.md 5.2 (arithmetic), 5.4 (`in`), 5.6 (indexing, slicing,
 * properties) and 6.3 (index/property assignment).
 *
 * Every function returns false with the VM error set (error.h) on failure
 * and never collects (allocation only sets gc_pending). Results are fresh or
 * shared immutable values: `x[i] = v` and `x.f = v` build an updated copy
 * and never change the receiver (value semantics, value.h). The *_own
 * variants are the copy-on-write paths of the VM (value.h, Obj.owned): an
 * owned receiver is updated in place (only after every check has passed,
 * so a failed update leaves it intact), any other one is copied and the
 * copy is returned owned.
 *
 * Integer arithmetic wraps (computed in uint64_t, so no undefined
 * behaviour, including INT64_MIN / -1 and INT64_MIN % -1). Durations take no
 * part in arithmetic. Results whose size is known in advance (string repeat
 * and concatenation, list concatenation) are checked before allocating: a
 * result larger than the VM memory limit, or than a string/list can hold
 * (uint32 lengths), raises the uncatchable memory error instead of asking
 * malloc for gigabytes.
 */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "gc.h"
#include "object.h"
#include "state.h"

#define TN(v) val_type_name(v)

/* Can a result of [bytes] bytes and [count] elements be built? */
static bool size_ok(Vm *vm, uint64_t bytes, uint64_t count)
{
  return count <= MEM_BLOCK_MAX && mem_fits(vm, bytes);
}

/* ---- arithmetic ------------------------------------------------------------ */

static ObjList *list_concat(Vm *vm, ObjList *a, ObjList *b)
{
  ObjList *l = list_new(vm, a->count + b->count);
  if (a->count) memcpy(l->items, a->items, a->count * sizeof(Value));
  if (b->count) memcpy(l->items + a->count, b->items, b->count * sizeof(Value));
  l->count = a->count + b->count;
  return l;
}

/* Merge of two sorted dicts; on equal keys the right side wins. */
static ObjDict *dict_merge(Vm *vm, ObjDict *a, ObjDict *b)
{
  ObjDict *d = dict_new(vm, a->count + b->count);
  uint32_t i = 0, j = 0, n = 0;
  while (i < a->count || j < b->count) {
    int c;
    if (i == a->count) c = 1;
    else if (j == b->count) c = -1;
    else c = str_cmp(a->entries[i].key, b->entries[j].key);
    if (c < 0) d->entries[n++] = a->entries[i++];
    else if (c > 0) d->entries[n++] = b->entries[j++];
    else {
      d->entries[n++] = b->entries[j++];
      i++;
    }
  }
  d->count = n;
  return d;
}

/* The error of an arithmetic operator on operand types it does not take
 * (the reference's texts, issue 17; docs/LANGUAGE.md 5.1):
 *   +            can't add A and B
 *   *            can't multiply A and B, with ` (try string * int)` when
 *                one operand is an int (repetition is the string's)
 *   - / % **     can't use 'OP' on A and B (needs numeric operands)
 * A and B are type_of names; + - * ** are Type errors, / % Runtime errors
 * (their kinds are unchanged). */
static bool op_mismatch(Vm *vm, const char *op, Value a, Value b)
{
  bool runtime = strcmp(op, "/") == 0 || strcmp(op, "%") == 0;
  if (strcmp(op, "+") == 0) return err_type(vm, "can't add %s and %s", TN(a), TN(b));
  if (strcmp(op, "*") == 0)
    return err_type(vm, "can't multiply %s and %s%s", TN(a), TN(b),
                    IS_INT(a) || IS_INT(b) ? " (try string * int)" : "");
  if (runtime) return err_runtime(vm, "can't use '%s' on %s and %s (needs numeric operands)", op, TN(a), TN(b));
  return err_type(vm, "can't use '%s' on %s and %s (needs numeric operands)", op, TN(a), TN(b));
}

bool op_add(Vm *vm, Value a, Value b, Value *out)
{
  if (IS_INT(a) && IS_INT(b)) {
    *out = INT_VAL((int64_t)((uint64_t)a.as.i + (uint64_t)b.as.i));
    return true;
  }
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    *out = FLOAT_VAL(AS_NUMBER(a) + AS_NUMBER(b));
    return true;
  }
  if (IS_STRING(a) && IS_STRING(b)) {
    ObjString *x = AS_STRING(a), *y = AS_STRING(b);
    uint64_t n = (uint64_t)x->len + y->len;
    if (!size_ok(vm, n, n)) return err_memory(vm);
    *out = OBJ_VAL(str_concat(vm, x, y));
    return true;
  }
  if (IS_LIST(a) && IS_LIST(b)) {
    uint64_t n = (uint64_t)AS_LIST(a)->count + AS_LIST(b)->count;
    if (!size_ok(vm, n * sizeof(Value), n)) return err_memory(vm);
    *out = OBJ_VAL(list_concat(vm, AS_LIST(a), AS_LIST(b)));
    return true;
  }
  if (IS_DICT(a) && IS_DICT(b)) {
    *out = OBJ_VAL(dict_merge(vm, AS_DICT(a), AS_DICT(b)));
    return true;
  }
  return op_mismatch(vm, "+", a, b);
}

bool op_sub(Vm *vm, Value a, Value b, Value *out)
{
  if (IS_INT(a) && IS_INT(b)) {
    *out = INT_VAL((int64_t)((uint64_t)a.as.i - (uint64_t)b.as.i));
    return true;
  }
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    *out = FLOAT_VAL(AS_NUMBER(a) - AS_NUMBER(b));
    return true;
  }
  return op_mismatch(vm, "-", a, b);
}

static bool str_repeat(Vm *vm, ObjString *s, int64_t n, Value *out)
{
  if (n <= 0 || s->len == 0) {
    *out = OBJ_VAL(str_new(vm, "", 0));
    return true;
  }
  if ((uint64_t)n > UINT32_MAX || !size_ok(vm, (uint64_t)s->len * (uint64_t)n, 0))
    return err_memory(vm);
  size_t total = (size_t)s->len * (size_t)n;
  /* straight into the string, the copy so far doubling at each step */
  ObjString *r = str_alloc(vm, total);
  if (!r) return err_memory(vm);
  memcpy(r->chars, s->chars, s->len);
  for (size_t done = s->len; done < total;) {
    size_t chunk = done < total - done ? done : total - done;
    memcpy(r->chars + done, r->chars, chunk);
    done += chunk;
  }
  /* copies of a one-byte-per-character string stay so unless high bytes
   * meet where they join (object.c str_concat) */
  str_seal(r, s->ascii && (unsigned char)s->chars[0] < 0x80 &&
                  (unsigned char)s->chars[s->len - 1] < 0x80);
  *out = OBJ_VAL(r);
  return true;
}

bool op_mul(Vm *vm, Value a, Value b, Value *out)
{
  if (IS_INT(a) && IS_INT(b)) {
    *out = INT_VAL((int64_t)((uint64_t)a.as.i * (uint64_t)b.as.i));
    return true;
  }
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    *out = FLOAT_VAL(AS_NUMBER(a) * AS_NUMBER(b));
    return true;
  }
  if (IS_STRING(a) && IS_INT(b)) return str_repeat(vm, AS_STRING(a), b.as.i, out);
  if (IS_INT(a) && IS_STRING(b)) return str_repeat(vm, AS_STRING(b), a.as.i, out);
  return op_mismatch(vm, "*", a, b);
}

bool op_div(Vm *vm, Value a, Value b, Value *out)
{
  if (IS_INT(a) && IS_INT(b)) {
    if (b.as.i == 0) return err_div_zero(vm);
    if (b.as.i == -1) *out = INT_VAL((int64_t)((uint64_t)0 - (uint64_t)a.as.i));
    else *out = INT_VAL(a.as.i / b.as.i);
    return true;
  }
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    *out = FLOAT_VAL(AS_NUMBER(a) / AS_NUMBER(b));
    return true;
  }
  return op_mismatch(vm, "/", a, b);
}

bool op_mod(Vm *vm, Value a, Value b, Value *out)
{
  if (IS_INT(a) && IS_INT(b)) {
    if (b.as.i == 0) return err_div_zero(vm);
    *out = INT_VAL(b.as.i == -1 ? 0 : a.as.i % b.as.i);
    return true;
  }
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    double y = AS_NUMBER(b);
    if (y == 0.0) return err_div_zero(vm);
    *out = FLOAT_VAL(fmod(AS_NUMBER(a), y));
    return true;
  }
  return op_mismatch(vm, "%", a, b);
}

bool op_pow(Vm *vm, Value a, Value b, Value *out)
{
  if (IS_INT(a) && IS_INT(b)) {
    if (b.as.i < 0) {
      *out = FLOAT_VAL(pow((double)a.as.i, (double)b.as.i));
      return true;
    }
    uint64_t base = (uint64_t)a.as.i, r = 1;
    uint64_t e = (uint64_t)b.as.i;
    while (e) {
      if (e & 1) r *= base;
      base *= base;
      e >>= 1;
    }
    *out = INT_VAL((int64_t)r);
    return true;
  }
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    *out = FLOAT_VAL(pow(AS_NUMBER(a), AS_NUMBER(b)));
    return true;
  }
  return op_mismatch(vm, "**", a, b);
}

bool op_neg(Vm *vm, Value a, Value *out)
{
  if (IS_INT(a)) {
    *out = INT_VAL((int64_t)((uint64_t)0 - (uint64_t)a.as.i));
    return true;
  }
  if (IS_FLOAT(a)) {
    *out = FLOAT_VAL(-a.as.f);
    return true;
  }
  return err_runtime(vm, "Cannot negate value of type %s", TN(a));
}

/* ---- membership ------------------------------------------------------------ */

bool op_in(Vm *vm, Value a, Value b)
{
  if (!IS_OBJ(b)) return false;
  switch (OBJ_TYPE(b)) {
  case OBJ_LIST: {
    ObjList *l = AS_LIST(b);
    for (uint32_t i = 0; i < l->count; i++)
      if (val_equal(l->items[i], a)) return true;
    return false;
  }
  case OBJ_SET:
    return set_has(AS_SET(b), a);
  case OBJ_DICT:
    return dict_get(AS_DICT(b), val_to_string(vm, a), NULL);
  case OBJ_STRING: {
    ObjString *hay = AS_STRING(b);
    ObjString *needle = val_to_string(vm, a);
    if (needle->len == 0) return true;
    return memmem(hay->chars, hay->len, needle->chars, needle->len) != NULL;
  }
  case OBJ_RANGE: {
    if (!IS_INT(a)) return false;
    ObjRange *r = AS_RANGE(b);
    int64_t i = a.as.i;
    return i >= r->start && (r->exclusive ? i < r->end : i <= r->end);
  }
  default:
    return false;
  }
}

/* ---- indexing and slicing ---------------------------------------------------- */

bool op_index(Vm *vm, Value x, Value i, Value *out)
{
  if (IS_LIST(x) && IS_INT(i)) {
    ObjList *l = AS_LIST(x);
    int64_t k = i.as.i < 0 ? i.as.i + (int64_t)l->count : i.as.i;
    *out = k >= 0 && k < (int64_t)l->count ? l->items[k] : NIL_VAL;
    return true;
  }
  if (IS_STRING(x) && IS_INT(i)) {
    ObjString *s = AS_STRING(x);
    int64_t k = i.as.i < 0 ? i.as.i + (int64_t)s->nchars : i.as.i;
    if (k < 0 || k >= (int64_t)s->nchars) *out = NIL_VAL;
    else *out = OBJ_VAL(str_sub(vm, s, k, k + 1));
    return true;
  }
  if (IS_DICT(x)) {
    Value v;
    *out = dict_get(AS_DICT(x), val_to_string(vm, i), &v) ? v : NIL_VAL;
    return true;
  }
  if (IS_RANGE(x) && IS_INT(i)) {
    ObjRange *r = AS_RANGE(x);
    int64_t n = range_len(r);
    int64_t k = i.as.i < 0 ? i.as.i + n : i.as.i;
    if (k < 0 || k >= n)
      return err_runtime(vm, "range index out of range: index %" PRId64
                         " for range of length %" PRId64, i.as.i, n);
    *out = INT_VAL((int64_t)((uint64_t)r->start + (uint64_t)k));
    return true;
  }
  return err_type(vm, "cannot index into %s with %s", TN(x), TN(i));
}

/* Resolve a slice bound: nil -> [dflt], negative counts from the end,
 * clamped to [0, len]. */
static bool slice_bound(Vm *vm, Value v, int64_t len, int64_t dflt, const char *which,
                        int64_t *out)
{
  if (IS_NIL(v)) {
    *out = dflt;
    return true;
  }
  if (!IS_INT(v))
    return err_type(vm, "slice %s must be an integer, got %s", which, TN(v));
  int64_t k = v.as.i;
  if (k < 0) k = k < -len ? 0 : k + len;
  if (k > len) k = len;
  *out = k;
  return true;
}

bool op_slice(Vm *vm, Value x, Value a, Value b, Value *out)
{
  int64_t len;
  if (IS_LIST(x)) len = AS_LIST(x)->count;
  else if (IS_STRING(x)) len = AS_STRING(x)->nchars;
  else return err_type(vm, "cannot slice %s", TN(x));
  int64_t from = 0, to = 0;
  if (!slice_bound(vm, a, len, 0, "start", &from)) return false;
  if (!slice_bound(vm, b, len, len, "end", &to)) return false;
  if (from > to) to = from;
  if (IS_STRING(x)) {
    *out = OBJ_VAL(str_sub(vm, AS_STRING(x), from, to));
    return true;
  }
  ObjList *src = AS_LIST(x);
  ObjList *l = list_new(vm, (uint32_t)(to - from));
  if (to > from) memcpy(l->items, src->items + from, (size_t)(to - from) * sizeof(Value));
  l->count = (uint32_t)(to - from);
  *out = OBJ_VAL(l);
  return true;
}

/* ---- properties -------------------------------------------------------------- */

static bool name_is(const ObjString *s, const char *lit)
{
  size_t n = strlen(lit);
  return s->len == n && memcmp(s->chars, lit, n) == 0;
}

/* Property readers of host object kinds (object.h): process-wide, set
 * once per vtable by its module. */
#define OPS_MAX_PROP_NATIVES 8
static struct {
  const NativeVtbl *vt;
  NativePropFn fn;
} prop_natives[OPS_MAX_PROP_NATIVES];
static int nprop_natives;

void op_native_props_register(const NativeVtbl *vt, NativePropFn fn)
{
  for (int i = 0; i < nprop_natives; i++)
    if (prop_natives[i].vt == vt) {
      prop_natives[i].fn = fn;
      return;
    }
  if (nprop_natives == OPS_MAX_PROP_NATIVES) __builtin_trap(); /* raise the max */
  prop_natives[nprop_natives].vt = vt;
  prop_natives[nprop_natives++].fn = fn;
}

NativePropFn op_native_props(const NativeVtbl *vt)
{
  for (int i = 0; i < nprop_natives; i++)
    if (prop_natives[i].vt == vt) return prop_natives[i].fn;
  return NULL;
}

bool op_get_prop(Vm *vm, Value x, ObjString *name, bool optional, Value *out)
{
  *out = NIL_VAL;
  if (IS_NIL(x)) {
    if (optional) return true;
    return err_type(vm, "cannot access property `%s` on nil", name->chars);
  }
  if (IS_OBJ(x)) {
    switch (OBJ_TYPE(x)) {
    case OBJ_DICT: {
      Value v;
      if (dict_get(AS_DICT(x), name, &v)) *out = v;
      return true;
    }
    case OBJ_STRUCT: {
      Value v;
      ObjDict *f = AS_STRUCT(x)->fields;
      if (f && dict_get(f, name, &v)) *out = v;
      return true;
    }
    case OBJ_LIST: {
      ObjList *l = AS_LIST(x);
      if (name_is(name, "count")) *out = INT_VAL(l->count);
      else if (name_is(name, "empty")) *out = BOOL_VAL(l->count == 0);
      else if (name_is(name, "first")) *out = l->count ? l->items[0] : NIL_VAL;
      else if (name_is(name, "last")) *out = l->count ? l->items[l->count - 1] : NIL_VAL;
      return true;
    }
    case OBJ_STRING: {
      ObjString *s = AS_STRING(x);
      if (name_is(name, "count")) *out = INT_VAL(s->nchars);
      else if (name_is(name, "empty")) *out = BOOL_VAL(s->len == 0);
      return true;
    }
    case OBJ_ENUM: {
      ObjEnum *e = AS_ENUM(x);
      if (name_is(name, "variant")) {
        *out = e->variant ? OBJ_VAL(e->variant) : OBJ_VAL(str_new(vm, "", 0));
      } else if (name_is(name, "fields")) {
        ObjList *l = list_new(vm, e->nfields);
        if (e->nfields) memcpy(l->items, e->fields, e->nfields * sizeof(Value));
        l->count = e->nfields;
        *out = OBJ_VAL(l);
      }
      return true;
    }
    case OBJ_PAIR: {
      ObjPair *p = AS_PAIR(x);
      if (name_is(name, "first")) *out = p->first;
      else if (name_is(name, "second")) *out = p->second;
      else if (!optional)
        return err_type(vm,
                        "cannot access property `%s` on pair (expected `first` or `second`)",
                        name->chars);
      return true;
    }
    case OBJ_NATIVE: {
      /* host objects with readable properties (the harness, docs/RUNTIME.md 8.1) */
      NativePropFn fn = op_native_props(AS_NATIVE(x)->vt);
      if (fn) return fn(vm, AS_NATIVE(x), name, out);
      break;
    }
    default:
      break;
    }
  }
  if (optional) return true;
  return err_type(vm, "cannot access property `%s` on %s", name->chars, TN(x));
}

/* ---- assignment (updated copies) ------------------------------------------ */

/* The item position `l[i] = v` writes (a negative index counts from the
 * end), or false with the out-of-bounds error set. */
static bool list_store_pos(Vm *vm, const ObjList *l, int64_t i, int64_t *k)
{
  *k = i < 0 ? i + (int64_t)l->count : i;
  if (*k >= 0 && *k < (int64_t)l->count) return true;
  return err_runtime(vm, "Index %" PRId64 " out of bounds for list of length %" PRIu32, i, l->count);
}

bool op_set_index(Vm *vm, Value x, Value i, Value v, Value *out)
{
  if (IS_LIST(x) && IS_INT(i)) {
    ObjList *l = AS_LIST(x);
    int64_t k;
    if (!list_store_pos(vm, l, i.as.i, &k)) return false;
    ObjList *c = list_copy(vm, l);
    c->items[k] = v;
    *out = OBJ_VAL(c);
    return true;
  }
  if (IS_DICT(x)) {
    ObjString *key = val_to_string(vm, i);
    ObjDict *c = dict_copy(vm, AS_DICT(x));
    dict_set(vm, c, key, v);
    *out = OBJ_VAL(c);
    return true;
  }
  return err_type(vm, "cannot index into %s with %s", TN(x), TN(i));
}

bool op_set_prop(Vm *vm, Value x, ObjString *name, Value v, Value *out)
{
  if (IS_DICT(x)) {
    ObjDict *c = dict_copy(vm, AS_DICT(x));
    dict_set(vm, c, name, v);
    *out = OBJ_VAL(c);
    return true;
  }
  if (IS_STRUCT(x)) {
    ObjStruct *s = AS_STRUCT(x);
    ObjDict *f = s->fields ? dict_copy(vm, s->fields) : dict_new(vm, 1);
    dict_set(vm, f, name, v);
    *out = OBJ_VAL(struct_new(vm, s->type, s->name, f));
    return true;
  }
  return err_type(vm, "cannot set property `%s` on %s", name->chars, TN(x));
}

/* ---- copy-on-write updates of an owned local (value.h) -------------------- */

bool op_set_index_own(Vm *vm, Value x, Value i, Value v, Value *out)
{
  if (IS_OBJ(x) && x.as.o->owned) {
    if (IS_LIST(x) && IS_INT(i)) {
      ObjList *l = AS_LIST(x);
      int64_t k;
      if (!list_store_pos(vm, l, i.as.i, &k)) return false;
      l->items[k] = v;
      *out = x;
      return true;
    }
    if (IS_DICT(x)) {
      dict_set(vm, AS_DICT(x), val_to_string(vm, i), v);
      *out = x;
      return true;
    }
  }
  if (!op_set_index(vm, x, i, v, out)) return false;
  out->as.o->owned = true; /* a fresh copy, referenced only from here */
  return true;
}

bool op_set_prop_own(Vm *vm, Value x, ObjString *name, Value v, Value *out)
{
  if (IS_OBJ(x) && x.as.o->owned) {
    if (IS_DICT(x)) {
      dict_set(vm, AS_DICT(x), name, v);
      *out = x;
      return true;
    }
    if (IS_STRUCT(x) && AS_STRUCT(x)->fields) {
      /* an owned struct was made by op_set_prop below: its fields dict is
       * its own */
      dict_set(vm, AS_STRUCT(x)->fields, name, v);
      *out = x;
      return true;
    }
  }
  if (!op_set_prop(vm, x, name, v, out)) return false;
  out->as.o->owned = true;
  return true;
}

bool op_push_own(Vm *vm, Value x, Value v, Value *out)
{
  if (!IS_LIST(x)) return false;
  ObjList *l = AS_LIST(x);
  if (!x.as.o->owned) {
    /* the first push: copy with room to grow (list_push then doubles) */
    uint64_t cap = (uint64_t)l->count + 1 + l->count / 2;
    ObjList *c = list_new(vm, cap > MEM_BLOCK_MAX ? (uint32_t)MEM_BLOCK_MAX : (uint32_t)cap);
    if (l->count) memcpy(c->items, l->items, l->count * sizeof(Value));
    c->count = l->count;
    c->obj.owned = true;
    l = c;
  }
  list_push(vm, l, v);
  *out = OBJ_VAL(l);
  return true;
}
