/*
 * methods_list.c: the methods of lists (docs/LANGUAGE.md 11.2) and the helpers
 * the method files share (argument conversion, callbacks, stable sort).
 *
 * Every method returns a new object and leaves the receiver untouched
 * (value semantics, value.h). Results are built with the object.h builders
 * and published when complete.
 *
 * Callbacks: a method whose callback argument is missing or not callable
 * returns nil, except any (false), all/every (true), none (is empty) and
 * find_index (-1). While a callback runs (vm_call), the collector may run;
 * the object being built is pinned on the temp-root stack (meth_push_root)
 * for the duration and unpinned on every exit path. Exactly one root is
 * pushed per method invocation, so nested callbacks (a map inside a map's
 * callback) consume one temp-root slot per level; when the fixed-size stack
 * (GC_MAX_TEMP_ROOTS) is nearly full the method fails with the stack
 * overflow error rather than aborting the process.
 *
 * Sizes: counts, steps and indices the program passes are clamped or
 * computed in 64 bits before any cast (a step of 2^63 - 1 ends a window
 * walk instead of wrapping it), and results that can be far larger than
 * the receiver (window, chunk, enumerate, zip, tally) are checked with
 * meth_fits before they are built.
 *
 * Sorting is a stable top-down merge sort on an index array (the values do
 * not move until the end, so a failing comparator leaves nothing half
 * sorted); `sort_by` computes every key first (in list order) and then
 * sorts without calling back.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "methods.h"
#include "object.h"
#include "state.h"

/* ---- shared helpers ----------------------------------------------------- */

bool meth_to_int(Value v, int64_t *out)
{
  if (IS_INT(v)) {
    *out = AS_INT(v);
    return true;
  }
  if (IS_FLOAT(v)) {
    double f = AS_FLOAT(v);
    if (isnan(f)) return false;
    if (f >= 9.2e18) *out = INT64_MAX;
    else if (f <= -9.2e18) *out = INT64_MIN;
    else *out = (int64_t)f;
    return true;
  }
  return false;
}

/* Slots left free for the code that runs after us (the interpreter's own
 * pushes, builtins): beyond this, a nested callback method refuses to run. */
#define ROOT_RESERVE 16

bool meth_push_root(Vm *vm, Value v)
{
  if (vm->heap.ntemp >= GC_MAX_TEMP_ROOTS - ROOT_RESERVE) return err_stack_overflow(vm);
  gc_push_root(vm, v);
  return true;
}

bool meth_fits(Vm *vm, uint64_t items, uint64_t per_item)
{
  uint64_t bytes;
  if (__builtin_mul_overflow(items, per_item, &bytes) || !mem_fits(vm, bytes)) return err_memory(vm);
  return true;
}

bool meth_tick(Vm *vm, uint64_t work)
{
  Interp *in = vm->interp;
  if (vm->cfg.max_instructions) {
    in->instructions += work;
    if (in->instructions > vm->cfg.max_instructions) return err_limit(vm, NULL);
  }
  return interp_safe_point(vm);
}

bool meth_call1(Vm *vm, Value f, Value a, Value *out)
{
  Value args[1] = {a};
  return vm_call(vm, f, 1, args, out);
}

bool meth_call2(Vm *vm, Value f, Value a, Value b, Value *out)
{
  Value args[2] = {a, b};
  return vm_call(vm, f, 2, args, out);
}

/* Merge sort of the index array [idx] ([n] entries, scratch [tmp]) by
 * less(ctx, a, b): 1 when item a must come strictly before item b, 0 when
 * not, -1 on error. Stable: on ties the left run wins. */
typedef int (*LessFn)(void *ctx, size_t a, size_t b);

static bool msort(size_t *idx, size_t *tmp, size_t n, LessFn less, void *ctx)
{
  if (n < 2) return true;
  if (n <= 8) { /* insertion sort: stable, fewer comparisons on tiny runs */
    for (size_t i = 1; i < n; i++) {
      size_t x = idx[i], j = i;
      while (j > 0) {
        int r = less(ctx, x, idx[j - 1]);
        if (r < 0) return false;
        if (!r) break;
        idx[j] = idx[j - 1];
        j--;
      }
      idx[j] = x;
    }
    return true;
  }
  size_t mid = n / 2;
  if (!msort(idx, tmp, mid, less, ctx) || !msort(idx + mid, tmp, n - mid, less, ctx))
    return false;
  size_t i = 0, j = mid, k = 0;
  while (i < mid && j < n) {
    int r = less(ctx, idx[j], idx[i]);
    if (r < 0) return false;
    tmp[k++] = r ? idx[j++] : idx[i++];
  }
  while (i < mid) tmp[k++] = idx[i++];
  while (j < n) tmp[k++] = idx[j++];
  memcpy(idx, tmp, n * sizeof *idx);
  return true;
}

typedef struct SortCtx {
  Vm *vm;
  const Value *items; /* compared values (the keys for sort_by) */
  Value cmp;          /* comparator callback, or nil for val_compare */
} SortCtx;

static int sort_less(void *p, size_t a, size_t b)
{
  SortCtx *c = p;
  if (IS_NIL(c->cmp)) return val_compare(c->items[a], c->items[b]) < 0;
  Value r;
  if (!meth_call2(c->vm, c->cmp, c->items[a], c->items[b], &r)) return -1;
  if (IS_BOOL(r)) return AS_BOOL(r);
  if (IS_INT(r)) return AS_INT(r) < 0;
  if (IS_FLOAT(r)) return AS_FLOAT(r) < 0;
  return 0;
}

/* Sort the indices 0..n-1 of [items] by [cmp]; *out_idx is malloc'd. */
static bool sort_indices(Vm *vm, const Value *items, size_t n, Value cmp, size_t **out_idx)
{
  size_t *idx = malloc((n ? n : 1) * 2 * sizeof *idx);
  if (!idx) abort();
  for (size_t i = 0; i < n; i++) idx[i] = i;
  SortCtx ctx = {vm, items, cmp};
  if (!msort(idx, idx + n, n, sort_less, &ctx)) {
    free(idx);
    return false;
  }
  *out_idx = idx;
  return true;
}

bool meth_sort_values(Vm *vm, Value *items, size_t n, Value cmp)
{
  size_t *idx;
  if (!sort_indices(vm, items, n, cmp, &idx)) return false;
  Value *sorted = malloc((n ? n : 1) * sizeof *sorted);
  if (!sorted) abort();
  for (size_t i = 0; i < n; i++) sorted[i] = items[idx[i]];
  if (n) memcpy(items, sorted, n * sizeof *items);
  free(sorted);
  free(idx);
  return true;
}

/* ---- list helpers ------------------------------------------------------- */

#define SELF AS_LIST(self)

/* A new list holding items [from, to) of [l]. */
static ObjList *sublist(Vm *vm, ObjList *l, uint32_t from, uint32_t to)
{
  ObjList *r = list_new(vm, to > from ? to - from : 0);
  for (uint32_t i = from; i < to; i++) list_push(vm, r, l->items[i]);
  return r;
}

/* Count argument clamped to [0, count] (negative or non-number -> 0). */
static uint32_t count_arg(Value v, uint32_t count)
{
  int64_t n;
  if (!meth_to_int(v, &n) || n < 0) return 0;
  return n > (int64_t)count ? count : (uint32_t)n;
}

/* The callback argument [i] when callable, else false. */
static bool callback_arg(int argc, Value *argv, int i, Value *f)
{
  *f = meth_arg(argc, argv, i);
  return vm_is_callable(*f);
}

static Value index_value_dict(Vm *vm, const char *k1, Value v1, const char *k2, Value v2)
{
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, k1, v1);
  dict_set_cstr(vm, d, k2, v2);
  return OBJ_VAL(d);
}

/* ---- simple accessors --------------------------------------------------- */

static bool l_count(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = INT_VAL(SELF->count);
  return true;
}

static bool l_empty(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = BOOL_VAL(SELF->count == 0);
  return true;
}

static bool l_first(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *l = SELF;
  if (argc < 1 || IS_NIL(argv[0])) {
    *out = l->count ? l->items[0] : NIL_VAL;
    return true;
  }
  *out = OBJ_VAL(sublist(vm, l, 0, count_arg(argv[0], l->count)));
  return true;
}

static bool l_last(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *l = SELF;
  if (argc < 1 || IS_NIL(argv[0])) {
    *out = l->count ? l->items[l->count - 1] : NIL_VAL;
    return true;
  }
  *out = OBJ_VAL(sublist(vm, l, l->count - count_arg(argv[0], l->count), l->count));
  return true;
}

static bool l_take(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(sublist(vm, SELF, 0, count_arg(meth_arg(argc, argv, 0), SELF->count)));
  return true;
}

static bool l_skip(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(sublist(vm, SELF, count_arg(meth_arg(argc, argv, 0), SELF->count),
                         SELF->count));
  return true;
}

static bool l_slice(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return op_slice(vm, self, meth_arg(argc, argv, 0), meth_arg(argc, argv, 1), out);
}

static bool l_push(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *r = sublist(vm, SELF, 0, SELF->count);
  list_push(vm, r, meth_arg(argc, argv, 0));
  *out = OBJ_VAL(r);
  return true;
}

static bool l_pop(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(sublist(vm, SELF, 0, SELF->count ? SELF->count - 1 : 0));
  return true;
}

static bool l_contains(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value x = meth_arg(argc, argv, 0);
  bool found = false;
  for (uint32_t i = 0; i < SELF->count && !found; i++) found = val_equal(SELF->items[i], x);
  *out = BOOL_VAL(found);
  return true;
}

static bool l_index_of(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value x = meth_arg(argc, argv, 0);
  *out = INT_VAL(-1);
  for (uint32_t i = 0; i < SELF->count; i++) {
    if (val_equal(SELF->items[i], x)) {
      *out = INT_VAL(i);
      break;
    }
  }
  return true;
}

static bool l_join(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value sepv = meth_arg(argc, argv, 0);
  ObjString *sep = IS_NIL(sepv) ? NULL : val_to_string(vm, sepv);
  Buf b = {0};
  for (uint32_t i = 0; i < SELF->count; i++) {
    if (i && sep) buf_append(&b, sep->chars, sep->len);
    val_display(vm, SELF->items[i], &b);
    if (vm->heap.doomed) { /* longer than a string can be (display.c) */
      buf_free(&b);
      return err_memory(vm);
    }
  }
  *out = OBJ_VAL(str_from_buf(vm, &b));
  buf_free(&b);
  return true;
}

static bool l_reverse(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *r = list_new(vm, SELF->count);
  for (uint32_t i = SELF->count; i-- > 0;) list_push(vm, r, SELF->items[i]);
  *out = OBJ_VAL(r);
  return true;
}

static bool l_unique(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjSet *seen = set_new(vm, SELF->count);
  ObjList *r = list_new(vm, SELF->count);
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value x = SELF->items[i];
    if (set_has(seen, x)) continue;
    set_add(vm, seen, x);
    list_push(vm, r, x);
  }
  *out = OBJ_VAL(r);
  return true;
}

static bool l_compact(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *r = list_new(vm, SELF->count);
  for (uint32_t i = 0; i < SELF->count; i++)
    if (!IS_NIL(SELF->items[i])) list_push(vm, r, SELF->items[i]);
  *out = OBJ_VAL(r);
  return true;
}

static bool l_flatten(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *r = list_new(vm, SELF->count);
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value x = SELF->items[i];
    if (IS_LIST(x)) {
      for (uint32_t k = 0; k < AS_LIST(x)->count; k++) list_push(vm, r, AS_LIST(x)->items[k]);
    } else {
      list_push(vm, r, x);
    }
  }
  *out = OBJ_VAL(r);
  return true;
}

static bool l_sum(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value acc = INT_VAL(0);
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value x = SELF->items[i];
    if (!IS_NUMBER(x)) continue;
    if (IS_INT(acc) && IS_INT(x))
      acc = INT_VAL((int64_t)((uint64_t)AS_INT(acc) + (uint64_t)AS_INT(x)));
    else
      acc = FLOAT_VAL(AS_NUMBER(acc) + AS_NUMBER(x));
  }
  *out = acc;
  return true;
}

/* Does a comparison result [c] (candidate vs best) make the candidate the
 * new min (sign -1) / max (sign 1)? Ties keep the earlier item. */
static bool beats(int c, int sign) { return sign < 0 ? c < 0 : c > 0; }

/* min (sign -1) / max (sign 1): the first extreme element, nil if empty. */
static Value extreme(ObjList *l, int sign)
{
  if (!l->count) return NIL_VAL;
  Value best = l->items[0];
  for (uint32_t i = 1; i < l->count; i++)
    if (beats(val_compare(l->items[i], best), sign)) best = l->items[i];
  return best;
}

static bool l_min(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = extreme(SELF, -1);
  return true;
}

static bool l_max(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = extreme(SELF, 1);
  return true;
}

static bool l_enumerate(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  if (!meth_fits(vm, SELF->count, METH_DICT_BYTES(2))) return false;
  ObjList *r = list_new(vm, SELF->count);
  for (uint32_t i = 0; i < SELF->count; i++)
    list_push(vm, r, index_value_dict(vm, "index", INT_VAL(i), "value", SELF->items[i]));
  *out = OBJ_VAL(r);
  return true;
}

static bool l_zip(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value o = meth_arg(argc, argv, 0);
  const Value *items;
  uint32_t n;
  if (IS_LIST(o)) {
    items = AS_LIST(o)->items;
    n = AS_LIST(o)->count;
  } else if (IS_SET(o)) {
    items = AS_SET(o)->items;
    n = AS_SET(o)->count;
  } else {
    *out = NIL_VAL;
    return true;
  }
  if (n > SELF->count) n = SELF->count;
  if (!meth_fits(vm, n, METH_LIST_BYTES(2))) return false;
  ObjList *r = list_new(vm, n);
  for (uint32_t i = 0; i < n; i++) {
    ObjList *p = list_new(vm, 2);
    list_push(vm, p, SELF->items[i]);
    list_push(vm, p, items[i]);
    list_push(vm, r, OBJ_VAL(p));
  }
  *out = OBJ_VAL(r);
  return true;
}

static bool l_chunk(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  int64_t n;
  if (!meth_to_int(meth_arg(argc, argv, 0), &n) || n < 1) n = 1;
  ObjList *l = SELF;
  uint64_t nchunks = ((uint64_t)l->count + (uint64_t)n - 1) / (uint64_t)n;
  if (!meth_fits(vm, nchunks, METH_LIST_BYTES(0))) return false;
  ObjList *r = list_new(vm, (uint32_t)nchunks);
  for (uint32_t i = 0; i < l->count;) {
    uint32_t end = (uint64_t)(l->count - i) > (uint64_t)n ? i + (uint32_t)n : l->count;
    list_push(vm, r, OBJ_VAL(sublist(vm, l, i, end)));
    i = end;
  }
  *out = OBJ_VAL(r);
  return true;
}

/* window(n, step): the full windows of n items starting every step items.
 * Sizes and steps come from the program, so the arithmetic is unsigned
 * and in 64 bits (a step of 2^63 must end the walk, not wrap it), and the
 * result -- count * n items, which a small list can make enormous -- is
 * checked against the memory limit before anything is built. */
static bool l_window(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  int64_t n, step;
  if (argc < 1 || IS_NIL(argv[0]) || !meth_to_int(argv[0], &n)) n = 2;
  if (argc < 2 || IS_NIL(argv[1]) || !meth_to_int(argv[1], &step)) step = 1;
  if (n < 1) n = 1;
  if (step < 1) step = 1;
  ObjList *l = SELF;
  uint64_t count = l->count, un = (uint64_t)n, ustep = (uint64_t)step;
  uint64_t nwin = un > count ? 0 : (count - un) / ustep + 1;
  if (nwin && (!meth_fits(vm, nwin, METH_LIST_BYTES(0)) || !meth_fits(vm, nwin, un * sizeof(Value))))
    return false;
  ObjList *r = list_new(vm, (uint32_t)nwin);
  for (uint64_t w = 0; w < nwin; w++) {
    uint64_t i = w * ustep; /* <= count - n: no overflow */
    list_push(vm, r, OBJ_VAL(sublist(vm, l, (uint32_t)i, (uint32_t)(i + un))));
  }
  *out = OBJ_VAL(r);
  return true;
}

static bool l_tally(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  if (!meth_fits(vm, SELF->count, sizeof(DictEntry) + sizeof(ObjString) + 24)) return false;
  ObjDict *d = dict_new(vm, 0);
  for (uint32_t i = 0; i < SELF->count; i++) {
    ObjString *k = val_to_string(vm, SELF->items[i]);
    Value c;
    int64_t n = dict_get(d, k, &c) && IS_INT(c) ? AS_INT(c) : 0;
    dict_set(vm, d, k, INT_VAL(n + 1));
  }
  *out = OBJ_VAL(d);
  return true;
}

static bool l_iter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return iter_from(vm, self, out);
}

/* ---- callback methods --------------------------------------------------- */

/* map (flat false) / flat_map (flat true). */
static bool map_impl(Vm *vm, Value self, int argc, Value *argv, Value *out, bool flat)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f)) return true;
  ObjList *r = list_new(vm, SELF->count);
  if (!meth_push_root(vm, OBJ_VAL(r))) return false;
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value y;
    if (!meth_call1(vm, f, SELF->items[i], &y)) {
      gc_pop_root(vm);
      return false;
    }
    if (flat && IS_LIST(y)) {
      for (uint32_t k = 0; k < AS_LIST(y)->count; k++) list_push(vm, r, AS_LIST(y)->items[k]);
    } else {
      list_push(vm, r, y);
    }
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(r);
  return true;
}

static bool l_map(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return map_impl(vm, self, argc, argv, out, false);
}

static bool l_flat_map(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return map_impl(vm, self, argc, argv, out, true);
}

/* filter (keep true) / partition (into two lists). */
static bool l_filter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f)) return true;
  ObjList *r = list_new(vm, 0);
  if (!meth_push_root(vm, OBJ_VAL(r))) return false;
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value y;
    if (!meth_call1(vm, f, SELF->items[i], &y)) {
      gc_pop_root(vm);
      return false;
    }
    if (val_truthy(y)) list_push(vm, r, SELF->items[i]);
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(r);
  return true;
}

static bool l_partition(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f)) return true;
  ObjList *yes = list_new(vm, 0), *no = list_new(vm, 0);
  ObjList *r = list_new(vm, 2); /* holds both builders: one root for all */
  list_push(vm, r, OBJ_VAL(yes));
  list_push(vm, r, OBJ_VAL(no));
  if (!meth_push_root(vm, OBJ_VAL(r))) return false;
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value y;
    if (!meth_call1(vm, f, SELF->items[i], &y)) {
      gc_pop_root(vm);
      return false;
    }
    list_push(vm, val_truthy(y) ? yes : no, SELF->items[i]);
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(r);
  return true;
}

static bool l_reduce(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 1, &f)) return true;
  Value acc = argv[0];
  /* acc is passed to each call as an argument (rooted there) and is the
   * only thing we hold in between, so no temp root is needed. */
  for (uint32_t i = 0; i < SELF->count; i++)
    if (!meth_call2(vm, f, acc, SELF->items[i], &acc)) return false;
  *out = acc;
  return true;
}

/* The index of the first item for which f is truthy, -1 if none, -2 on
 * error. */
static int64_t find_first(Vm *vm, ObjList *l, Value f)
{
  for (uint32_t i = 0; i < l->count; i++) {
    Value y;
    if (!meth_call1(vm, f, l->items[i], &y)) return -2;
    if (val_truthy(y)) return i;
  }
  return -1;
}

static bool l_find(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f)) return true;
  int64_t i = find_first(vm, SELF, f);
  if (i == -2) return false;
  if (i >= 0) *out = SELF->items[i];
  return true;
}

static bool l_find_index(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = INT_VAL(-1);
  if (!callback_arg(argc, argv, 0, &f)) return true;
  int64_t i = find_first(vm, SELF, f);
  if (i == -2) return false;
  *out = INT_VAL(i);
  return true;
}

static bool l_any(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = BOOL_VAL(false);
  if (!callback_arg(argc, argv, 0, &f)) return true;
  int64_t i = find_first(vm, SELF, f);
  if (i == -2) return false;
  *out = BOOL_VAL(i >= 0);
  return true;
}

static bool l_none(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = BOOL_VAL(SELF->count == 0);
  if (!callback_arg(argc, argv, 0, &f)) return true;
  int64_t i = find_first(vm, SELF, f);
  if (i == -2) return false;
  *out = BOOL_VAL(i < 0);
  return true;
}

static bool l_all(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = BOOL_VAL(true);
  if (!callback_arg(argc, argv, 0, &f)) return true;
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value y;
    if (!meth_call1(vm, f, SELF->items[i], &y)) return false;
    if (!val_truthy(y)) {
      *out = BOOL_VAL(false);
      break;
    }
  }
  return true;
}

/* The keys f(x) of every item, as a list (rooted by the caller). */
static bool compute_keys(Vm *vm, ObjList *l, Value f, ObjList *keys)
{
  for (uint32_t i = 0; i < l->count; i++) {
    Value k;
    if (!meth_call1(vm, f, l->items[i], &k)) return false;
    list_push(vm, keys, k);
  }
  return true;
}

static bool l_sort(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value cmp = meth_arg(argc, argv, 0);
  if (!vm_is_callable(cmp)) cmp = NIL_VAL;
  ObjList *r = sublist(vm, SELF, 0, SELF->count);
  if (!meth_push_root(vm, OBJ_VAL(r))) return false;
  bool ok = meth_sort_values(vm, r->items, r->count, cmp);
  gc_pop_root(vm);
  if (!ok) return false;
  *out = OBJ_VAL(r);
  return true;
}

static bool l_sort_by(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f)) return true;
  ObjList *keys = list_new(vm, SELF->count);
  if (!meth_push_root(vm, OBJ_VAL(keys))) return false;
  bool ok = compute_keys(vm, SELF, f, keys);
  gc_pop_root(vm);
  if (!ok) return false;
  size_t *idx;
  if (!sort_indices(vm, keys->items, keys->count, NIL_VAL, &idx)) return false;
  ObjList *r = list_new(vm, SELF->count);
  for (uint32_t i = 0; i < SELF->count; i++) list_push(vm, r, SELF->items[idx[i]]);
  free(idx);
  *out = OBJ_VAL(r);
  return true;
}

/* min_by (sign -1) / max_by (sign 1): the first item with the extreme key. */
static bool extreme_by(Vm *vm, Value self, int argc, Value *argv, Value *out, int sign)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f) || SELF->count == 0) return true;
  ObjList *keys = list_new(vm, SELF->count);
  if (!meth_push_root(vm, OBJ_VAL(keys))) return false;
  bool ok = compute_keys(vm, SELF, f, keys);
  gc_pop_root(vm);
  if (!ok) return false;
  uint32_t best = 0;
  for (uint32_t i = 1; i < keys->count; i++)
    if (beats(val_compare(keys->items[i], keys->items[best]), sign)) best = i;
  *out = SELF->items[best];
  return true;
}

static bool l_min_by(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return extreme_by(vm, self, argc, argv, out, -1);
}

static bool l_max_by(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return extreme_by(vm, self, argc, argv, out, 1);
}

static bool l_group_by(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f;
  *out = NIL_VAL;
  if (!callback_arg(argc, argv, 0, &f)) return true;
  ObjDict *d = dict_new(vm, 0); /* values are list builders owned by d */
  if (!meth_push_root(vm, OBJ_VAL(d))) return false;
  for (uint32_t i = 0; i < SELF->count; i++) {
    Value k, group;
    if (!meth_call1(vm, f, SELF->items[i], &k)) {
      gc_pop_root(vm);
      return false;
    }
    ObjString *key = val_to_string(vm, k);
    if (!dict_get(d, key, &group)) {
      group = OBJ_VAL(list_new(vm, 1));
      dict_set(vm, d, key, group);
    }
    list_push(vm, AS_LIST(group), SELF->items[i]);
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}

/* Sorted by name (byte order): meth_find() searches it. `len` is
 * deliberately absent (docs/LANGUAGE.md 11.2: not a list method). */
const MethodDef meth_list_table[] = {
  {"all", l_all},
  {"any", l_any},
  {"chunk", l_chunk},
  {"compact", l_compact},
  {"contains", l_contains},
  {"count", l_count},
  {"each_cons", l_window},
  {"each_slice", l_chunk},
  {"empty", l_empty},
  {"enumerate", l_enumerate},
  {"every", l_all},
  {"filter", l_filter},
  {"find", l_find},
  {"find_index", l_find_index},
  {"first", l_first},
  {"flat_map", l_flat_map},
  {"flatten", l_flatten},
  {"group_by", l_group_by},
  {"index_of", l_index_of},
  {"iter", l_iter},
  {"join", l_join},
  {"last", l_last},
  {"map", l_map},
  {"max", l_max},
  {"max_by", l_max_by},
  {"min", l_min},
  {"min_by", l_min_by},
  {"none", l_none},
  {"partition", l_partition},
  {"pop", l_pop},
  {"push", l_push},
  {"reduce", l_reduce},
  {"reverse", l_reverse},
  {"skip", l_skip},
  {"slice", l_slice},
  {"sliding_window", l_window},
  {"sort", l_sort},
  {"sort_by", l_sort_by},
  {"sum", l_sum},
  {"take", l_take},
  {"tally", l_tally},
  {"unique", l_unique},
  {"window", l_window},
  {"zip", l_zip},
};
const size_t meth_list_count = sizeof meth_list_table / sizeof meth_list_table[0];
