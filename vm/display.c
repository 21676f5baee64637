/*
 * display.c: the display format (docs/LANGUAGE.md 4), type_of names and
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
 * very deep ones, and ones that share their parts (a = [a, a] sixty times
 * is 60 lists and 2^60 leaves). Display stops descending at MAX_DEPTH
 * levels, or sooner when the C stack runs low (sched_stack_ok), and prints
 * `...` there; its text is bounded by what a string can hold and by the
 * memory limit (past that the run is doomed, gc.h). Equality and ordering
 * use an explicit stack, so they are exact at any depth, and skip pairs of
 * parts they have met before (see "equality").
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
#include "gc.h"
#include "object.h"
#include "sched.h"
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

/* The most text one display may produce: what a string can hold, and
 * under a memory limit the limit (a value sharing its parts unfolds into
 * far more text than it takes memory). */
static size_t display_cap(Vm *vm)
{
  return vm->heap.limit && vm->heap.limit < MEM_BLOCK_MAX ? vm->heap.limit : (size_t)MEM_BLOCK_MAX;
}

static void display(Vm *vm, Value v, Buf *out, int depth)
{
  if (out->len > display_cap(vm)) {
    mem_doom(vm); /* the text is cut short, and the run ends (gc.h) */
    return;
  }
  if (depth > MAX_DEPTH || !sched_stack_ok(vm)) {
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
    if (i == n && total > MEM_BLOCK_MAX) {
      mem_doom(vm); /* longer than any string: the run ends (gc.h) */
      return str_new(vm, "", 0);
    }
    if (i == n) {
      ObjString *s = str_alloc(vm, total);
      if (!s) return str_new(vm, "", 0); /* no memory: the run is doomed */
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

/* Equality walks both values depth first with an explicit stack of frames
 * (one per container being compared, holding the position of its next
 * child), so its depth is bounded by memory, not by the C stack. After
 * EQ_MEMO_AFTER containers it remembers the pairs of containers it has
 * opened and skips a pair met again (the first meeting compares it, and
 * any difference ends the walk), which keeps values that share their parts
 * linear. Sets match items by val_hash first; only items whose hashes
 * collide need a nested comparison (at most SET_NEST_MAX sets deep). */
#define EQ_MEMO_AFTER 4096
#define SET_NEST_MAX 32

enum { EQ_ITEMS, EQ_ENTRIES, EQ_PAIR };

typedef struct EqFrame {
  int kind;
  const void *x, *y;   /* Value arrays, DictEntry arrays or ObjPairs */
  uint32_t *match;     /* sets: the item of y matching item i of x, or
                          UINT32_MAX when already compared (malloc'd) */
  uint32_t i, n;
} EqFrame;

/* A set of pairs of objects (open addressing, plain malloc). */
typedef struct PairSet {
  const Obj **slots; /* 2 per entry; NULL = empty */
  size_t cap, n;
} PairSet;

static size_t pair_slot(const PairSet *p, const Obj *a, const Obj *b)
{
  uint64_t k = ((uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)b;
  k *= 0xff51afd7ed558ccdull;
  return (size_t)(k >> 20) & (p->cap - 1);
}

/* Add (a, b): true when it was not there yet (or when there is no memory
 * to remember it, which only costs time). */
static bool pairset_add(PairSet *p, const Obj *a, const Obj *b)
{
  if ((p->n + 1) * 2 > p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 1024;
    const Obj **slots = calloc(cap * 2, sizeof *slots);
    if (!slots) return true;
    const Obj **old = p->slots;
    size_t oldcap = p->cap;
    p->slots = slots;
    p->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
      if (!old[2 * i]) continue;
      size_t j = pair_slot(p, old[2 * i], old[2 * i + 1]);
      while (p->slots[2 * j]) j = (j + 1) & (cap - 1);
      p->slots[2 * j] = old[2 * i];
      p->slots[2 * j + 1] = old[2 * i + 1];
    }
    free(old);
  }
  size_t j = pair_slot(p, a, b);
  while (p->slots[2 * j]) {
    if (p->slots[2 * j] == a && p->slots[2 * j + 1] == b) return false;
    j = (j + 1) & (p->cap - 1);
  }
  p->slots[2 * j] = a;
  p->slots[2 * j + 1] = b;
  p->n++;
  return true;
}

typedef struct Eq {
  EqFrame local[8];
  EqFrame *frames;     /* local, or malloc'd once deeper */
  size_t n, cap;
  size_t opened;       /* containers opened so far */
  PairSet seen;        /* pairs opened, once past EQ_MEMO_AFTER */
  int sets;            /* nesting of set matching that led here */
} Eq;

static bool eq_run(Value a, Value b, int sets);

static bool eq_push(Eq *e, const EqFrame *f)
{
  if (e->n == e->cap) {
    size_t cap = e->cap * 2;
    EqFrame *fr = e->frames == e->local ? malloc(cap * sizeof *fr) : realloc(e->frames, cap * sizeof *fr);
    if (!fr) return false;
    if (e->frames == e->local) memcpy(fr, e->local, sizeof e->local);
    e->frames = fr;
    e->cap = cap;
  }
  e->frames[e->n++] = *f;
  return true;
}

static bool keys_equal(const ObjDict *a, const ObjDict *b)
{
  if (a->count != b->count) return false;
  for (uint32_t i = 0; i < a->count; i++)
    if (!str_eq(a->entries[i].key, b->entries[i].key)) return false;
  return true;
}

static bool equal_names(const ObjString *a, const ObjString *b)
{
  if (a == b) return true;
  if (!a || !b) return false;
  return str_eq(a, b);
}

typedef struct HashIdx {
  uint32_t h, i;
} HashIdx;

static int cmp_hashidx(const void *p, const void *q)
{
  const HashIdx *a = p, *b = q;
  return a->h < b->h ? -1 : a->h > b->h;
}

/* Match the items of sets [a] and [b] (same count n > 1) into f->match by
 * hash; 0 unequal, 1 matched (f->match set), -1 no memory. */
static int match_sets(const ObjSet *a, const ObjSet *b, int sets, EqFrame *f)
{
  uint32_t n = a->count;
  HashIdx *hb = malloc(n * sizeof *hb);
  uint32_t *match = malloc(n * sizeof *match);
  if (!hb || !match) {
    free(hb);
    free(match);
    return -1;
  }
  for (uint32_t j = 0; j < n; j++) hb[j] = (HashIdx){val_hash(b->items[j]), j};
  qsort(hb, n, sizeof *hb, cmp_hashidx);
  int r = 1;
  for (uint32_t i = 0; i < n && r == 1; i++) {
    uint32_t h = val_hash(a->items[i]);
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (hb[mid].h < h) lo = mid + 1;
      else hi = mid;
    }
    uint32_t end = lo;
    while (end < n && hb[end].h == h) end++;
    if (end == lo) {
      r = 0; /* nothing in b can equal it */
    } else if (end == lo + 1) {
      match[i] = hb[lo].i; /* the only candidate: compared as a child */
    } else {
      /* colliding candidates: compare each until one is equal */
      r = 0;
      if (sets < SET_NEST_MAX)
        for (uint32_t k = lo; k < end && !r; k++)
          if (eq_run(a->items[i], b->items[hb[k].i], sets + 1)) r = 1;
      match[i] = UINT32_MAX;
    }
  }
  free(hb);
  if (r != 1) {
    free(match);
    return r;
  }
  f->match = match;
  return 1;
}

/* Compare [a] and [b] as far as one level: 0 unequal, 1 equal, 2 equal so
 * far with a frame pushed for their children, -1 out of memory. */
static int eq_visit(Eq *e, Value a, Value b)
{
  if (a.type != b.type) return IS_NUMBER(a) && IS_NUMBER(b) && AS_NUMBER(a) == AS_NUMBER(b);
  switch (a.type) {
  case VAL_NIL: return 1;
  case VAL_BOOL: return a.as.b == b.as.b;
  case VAL_INT: return a.as.i == b.as.i;
  case VAL_FLOAT: return a.as.f == b.as.f;
  case VAL_DURATION: return 0; /* reference quirk (docs/LANGUAGE.md 5.3) */
  case VAL_BUILTIN: return a.as.i == b.as.i;
  case VAL_OBJ: break;
  }
  Obj *x = a.as.o, *y = b.as.o;
  if (x->type != y->type) return 0;
  EqFrame f = {0};
  switch (x->type) {
  case OBJ_STRING:
    return str_eq((ObjString *)x, (ObjString *)y);
  case OBJ_LIST: {
    ObjList *p = (ObjList *)x, *q = (ObjList *)y;
    if (p->count != q->count) return 0;
    f = (EqFrame){EQ_ITEMS, p->items, q->items, NULL, 0, p->count};
    break;
  }
  case OBJ_DICT:
  case OBJ_STRUCT: {
    const ObjDict *p, *q;
    if (x->type == OBJ_STRUCT) {
      ObjStruct *sx = (ObjStruct *)x, *sy = (ObjStruct *)y;
      if (!equal_names(sx->name, sy->name)) return 0;
      p = sx->fields;
      q = sy->fields;
      if (p == q) return 1;
      if (!p || !q) return 0;
    } else {
      p = (ObjDict *)x;
      q = (ObjDict *)y;
    }
    if (!keys_equal(p, q)) return 0;
    f = (EqFrame){EQ_ENTRIES, p->entries, q->entries, NULL, 0, p->count};
    break;
  }
  case OBJ_SET: {
    ObjSet *p = (ObjSet *)x, *q = (ObjSet *)y;
    if (p->count != q->count) return 0;
    f = (EqFrame){EQ_ITEMS, p->items, q->items, NULL, 0, p->count};
    if (p->count > 1) {
      int r = match_sets(p, q, e->sets, &f);
      if (r != 1) return r;
    }
    break;
  }
  case OBJ_RANGE: {
    ObjRange *p = (ObjRange *)x, *q = (ObjRange *)y;
    return p->start == q->start && p->end == q->end && p->exclusive == q->exclusive;
  }
  case OBJ_PAIR:
    f = (EqFrame){EQ_PAIR, x, y, NULL, 0, 2};
    break;
  case OBJ_ENUM: {
    ObjEnum *p = (ObjEnum *)x, *q = (ObjEnum *)y;
    if (!equal_names(p->enum_name, q->enum_name) || !equal_names(p->variant, q->variant) ||
        p->nfields != q->nfields)
      return 0;
    f = (EqFrame){EQ_ITEMS, p->fields, q->fields, NULL, 0, p->nfields};
    break;
  }
  case OBJ_CLOSURE:
  case OBJ_BOUND:
    return 0;
  case OBJ_NATIVE: {
    ObjNative *p = (ObjNative *)x, *q = (ObjNative *)y;
    return p->vt == q->vt && p->vt && p->vt->equal && p->vt->equal(p, q);
  }
  case OBJ_ENUM_TYPE:
  case OBJ_STRUCT_TYPE:
  case OBJ_FUNCTION:
  case OBJ_ITER:
    return x == y;
  }
  if (f.n == 0) {
    free(f.match);
    return 1;
  }
  /* shared parts: a pair opened before has been (or is being) compared */
  if (++e->opened > EQ_MEMO_AFTER && !pairset_add(&e->seen, x, y)) {
    free(f.match);
    return 1;
  }
  if (!eq_push(e, &f)) {
    free(f.match);
    return -1;
  }
  return 2;
}

static bool eq_run(Value a, Value b, int sets)
{
  Eq e;
  e.frames = e.local;
  e.n = 0;
  e.cap = sizeof e.local / sizeof e.local[0];
  e.opened = 0;
  e.seen = (PairSet){0};
  e.sets = sets;
  int r = eq_visit(&e, a, b);
  while (r > 0 && e.n > 0) {
    EqFrame *f = &e.frames[e.n - 1];
    if (f->i == f->n) {
      free(f->match);
      e.n--;
      continue;
    }
    uint32_t i = f->i++;
    Value x, y;
    if (f->kind == EQ_ITEMS) {
      if (f->match && f->match[i] == UINT32_MAX) continue; /* compared already */
      x = ((const Value *)f->x)[i];
      y = ((const Value *)f->y)[f->match ? f->match[i] : i];
    } else if (f->kind == EQ_ENTRIES) {
      x = ((const DictEntry *)f->x)[i].value;
      y = ((const DictEntry *)f->y)[i].value;
    } else {
      const ObjPair *p = f->x, *q = f->y;
      x = i == 0 ? p->first : p->second;
      y = i == 0 ? q->first : q->second;
    }
    r = eq_visit(&e, x, y);
  }
  /* out of memory (r < 0) counts as unequal: the only answer we can give */
  for (size_t k = 0; k < e.n; k++) free(e.frames[k].match);
  if (e.frames != e.local) free(e.frames);
  free(e.seen.slots);
  return r > 0;
}

bool val_equal(Value a, Value b) { return eq_run(a, b, 0); }

/* ---- ordering ------------------------------------------------------------ */

/* Non-pair ordering: numbers, strings; everything else is "equal". */
static int compare_leaf(Value a, Value b)
{
  if (IS_INT(a) && IS_INT(b)) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i;
  if (IS_NUMBER(a) && IS_NUMBER(b)) {
    double x = AS_NUMBER(a), y = AS_NUMBER(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (IS_STRING(a) && IS_STRING(b)) {
    int c = str_cmp(AS_STRING(a), AS_STRING(b));
    return c < 0 ? -1 : c > 0;
  }
  return 0;
}

/* Pairs compare first then second, to any depth: the seconds still to
 * compare wait on an explicit stack; pairs of pairs met again after
 * EQ_MEMO_AFTER are skipped (they compared equal, or the walk would have
 * ended), as in equality. */
int val_compare(Value a, Value b)
{
  ObjPair *local[16][2];
  ObjPair *(*pend)[2] = local;
  size_t n = 0, cap = 16, opened = 0;
  PairSet seen = {0};
  int c = 0;
  for (;;) {
    if (IS_PAIR(a) && IS_PAIR(b)) {
      ObjPair *p = AS_PAIR(a), *q = AS_PAIR(b);
      if (++opened > EQ_MEMO_AFTER && !pairset_add(&seen, (Obj *)p, (Obj *)q)) {
        c = 0;
      } else {
        if (n == cap) {
          size_t nc = cap * 2;
          ObjPair *(*np)[2] = pend == local ? malloc(nc * sizeof *np) : realloc(pend, nc * sizeof *np);
          if (!np) break; /* out of memory: "equal", the incomparable answer */
          if (pend == local) memcpy(np, local, sizeof local);
          pend = np;
          cap = nc;
        }
        pend[n][0] = p;
        pend[n][1] = q;
        n++;
        a = p->first;
        b = q->first;
        continue;
      }
    } else {
      c = compare_leaf(a, b);
    }
    if (c != 0 || n == 0) break;
    n--;
    a = pend[n][0]->second;
    b = pend[n][1]->second;
  }
  if (pend != local) free(pend);
  free(seen.slots);
  return c;
}
