/*
 * iter.c: the lazy iterator protocol (docs/LANGUAGE.md 11.6): iter_from (the
 * `iter(x)` builtin), iter_next (used by `for` loops), the iter stages and
 * the methods of iters.
 *
 * An iter is an ObjIter (value.h) whose IterVtbl says what kind of stage it
 * is. All of a stage's state lives in the ObjIter's fields, so the collector
 * traces it without help (src, fn and aux are marked by gc.c; the vtables'
 * mark functions have nothing more to do):
 *
 *   stage        src            fn        aux               pos / n
 *   list, set    the list/set   -         -                 next index
 *   dict         the dict       -         -                 next index (yields pairs)
 *   string       the string     -         -                 next byte offset
 *   range        the range      -         -                 next index / length
 *   native       host object    -         -                 - (registry hook)
 *   map, filter  upstream iter  callback  -                 -
 *   flat_map     upstream iter  callback  current inner     index into inner list
 *   take, skip   upstream iter  -         -                 taken or skipped? / n
 *   take_while,  upstream iter  callback  -                 done / still skipping
 *   skip_while
 *   zip          upstream iter  -         other iter        -
 *   enumerate    upstream iter  -         -                 next index
 *   chain        upstream iter  -         second iter       phase (0, 1)
 *   chunks       upstream iter  -         -                 - / n
 *   windows      upstream iter  -         previous window   - / n
 *
 * Invariants: an iter is single pass and shared by reference (copying the
 * Value shares the position). iter_next never calls a stage again once it
 * reported exhaustion: the ObjIter is marked `exhausted` (display
 * `<iter (exhausted)>`) and yields nothing more. Stages pull from upstream
 * only when they are pulled themselves, so callbacks run in pull order and
 * `take(n)` never pulls item n+1. Collections are immutable once published
 * (value semantics), so a source keeping an index into one is safe.
 *
 * GC: a stage that holds an item in a C local across a callback or another
 * pull (filter, take_while, zip, chunks...) roots it with gc_push_root();
 * eager methods root what they are building. The iter being pulled is
 * rooted by whoever holds it (the VM stack, or method_call for ranges).
 *
 * Limits: counts come from the program (take(2^63 - 1), a range of 2^64
 * ints), so the loops that pull without a callback (skip, chunks, windows,
 * the eager methods) poll (meth_poll, methods.h): they count against the
 * instruction limit and stop for the memory limit, deadlines and host
 * cancellation like bytecode would. A pull recurses through every
 * upstream stage, so iter_next fails with `iterator chain nested too
 * deeply` when the C stack runs low (sched_stack_ok).
 */
#include <string.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "methods.h"
#include "object.h"
#include "sched.h"
#include "state.h"

static void mark_none(Vm *vm, ObjIter *it) { (void)vm; (void)it; }

/* Pull from the upstream stored in [v] (an ObjIter value). */
#define PULL(v, out) iter_next(vm, (v), (out))

/* ---- native registry (iterable host kinds) ------------------------------ */

/* Process-wide, like the static vtables it is keyed by: each kind's
 * module registers once (sched_init) and never changes the entry, so
 * every VM reads the same table. */
#define MAX_NATIVE_ITERS 8

static struct {
  const NativeVtbl *vt;
  IterNativeNext next;
} natives[MAX_NATIVE_ITERS];
static int nnatives;

bool iter_register_native(const NativeVtbl *vt, IterNativeNext next)
{
  for (int i = 0; i < nnatives; i++) {
    if (natives[i].vt == vt) {
      natives[i].next = next;
      return true;
    }
  }
  if (nnatives == MAX_NATIVE_ITERS) return false;
  natives[nnatives].vt = vt;
  natives[nnatives].next = next;
  nnatives++;
  return true;
}

static IterNativeNext native_next_fn(const NativeVtbl *vt)
{
  for (int i = 0; i < nnatives; i++)
    if (natives[i].vt == vt) return natives[i].next;
  return NULL;
}

/* ---- sources ------------------------------------------------------------ */

static int list_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjList *l = AS_LIST(it->src);
  if (it->pos >= l->count) return 0;
  *out = l->items[it->pos++];
  return 1;
}

static int set_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjSet *s = AS_SET(it->src);
  if (it->pos >= s->count) return 0;
  *out = s->items[it->pos++];
  return 1;
}

static int dict_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjDict *d = AS_DICT(it->src);
  if (it->pos >= d->count) return 0;
  DictEntry *e = &d->entries[it->pos++];
  *out = OBJ_VAL(pair_new(vm, OBJ_VAL(e->key), e->value));
  return 1;
}

static int string_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjString *s = AS_STRING(it->src);
  size_t i = (size_t)it->pos;
  if (i >= s->len) return 0;
  size_t n = meth_char_len(s->chars, s->len, i);
  *out = OBJ_VAL(str_new(vm, s->chars + i, n));
  it->pos = (int64_t)(i + n);
  return 1;
}

static int range_next(Vm *vm, ObjIter *it, Value *out)
{
  if (it->pos >= it->n) return 0;
  /* start + pos <= end: never overflows, but say so in unsigned terms */
  *out = INT_VAL((int64_t)((uint64_t)AS_RANGE(it->src)->start + (uint64_t)it->pos++));
  return 1;
}

static int native_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjNative *n = AS_NATIVE(it->src);
  IterNativeNext f = native_next_fn(n->vt);
  return f ? f(vm, n, out) : 0;
}

static const IterVtbl list_vt = {"list", list_next, mark_none};
static const IterVtbl set_vt = {"set", set_next, mark_none};
static const IterVtbl dict_vt = {"dict", dict_next, mark_none};
static const IterVtbl string_vt = {"string", string_next, mark_none};
static const IterVtbl range_vt = {"range", range_next, mark_none};
static const IterVtbl native_vt = {"native", native_next, mark_none};

bool iter_accepts(Value x)
{
  if (!IS_OBJ(x)) return false;
  switch (OBJ_TYPE(x)) {
  case OBJ_LIST: case OBJ_SET: case OBJ_DICT: case OBJ_STRING: case OBJ_RANGE:
  case OBJ_ITER:
    return true;
  case OBJ_NATIVE:
    return native_next_fn(AS_NATIVE(x)->vt) != NULL;
  default:
    return false;
  }
}

bool iter_from(Vm *vm, Value x, Value *out_iter)
{
  const IterVtbl *vt = NULL;
  if (IS_OBJ(x)) {
    switch (OBJ_TYPE(x)) {
    case OBJ_ITER: *out_iter = x; return true;
    case OBJ_LIST: vt = &list_vt; break;
    case OBJ_SET: vt = &set_vt; break;
    case OBJ_DICT: vt = &dict_vt; break;
    case OBJ_STRING: vt = &string_vt; break;
    case OBJ_RANGE: vt = &range_vt; break;
    case OBJ_NATIVE:
      if (native_next_fn(AS_NATIVE(x)->vt)) vt = &native_vt;
      break;
    default: break;
    }
  }
  if (!vt)
    return err_type(vm, "iter: value of type %s is not iterable", val_type_name(x));
  ObjIter *it = iter_new(vm, vt, x);
  it->fn = it->aux = NIL_VAL;
  it->pos = 0;
  it->n = vt == &range_vt ? range_len(AS_RANGE(x)) : 0;
  *out_iter = OBJ_VAL(it);
  return true;
}

int iter_next(Vm *vm, Value iter, Value *out)
{
  ObjIter *it = AS_ITER(iter);
  if (it->exhausted) {
    *out = NIL_VAL;
    return 0;
  }
  /* a pull recurses through every upstream stage (and through the iters a
   * flat_map callback returns): stop before the C stack runs out */
  if (!sched_stack_ok(vm)) {
    err_runtime(vm, "iterator chain nested too deeply");
    return -1;
  }
  int r = it->vt->next(vm, it, out);
  if (r == 0) {
    it->exhausted = true;
    *out = NIL_VAL;
  }
  return r;
}

/* ---- adapters ----------------------------------------------------------- */

static int map_next(Vm *vm, ObjIter *it, Value *out)
{
  Value x;
  int r = PULL(it->src, &x);
  if (r <= 0) return r;
  return meth_call1(vm, it->fn, x, out) ? 1 : -1;
}

/* Call the predicate on [x] (rooted across the call); 1 truthy, 0 not, -1
 * error. */
static int test(Vm *vm, Value f, Value x)
{
  Value y;
  if (!meth_push_root(vm, x)) return -1;
  bool ok = meth_call1(vm, f, x, &y);
  gc_pop_root(vm);
  if (!ok) return -1;
  return val_truthy(y) ? 1 : 0;
}

static int filter_next(Vm *vm, ObjIter *it, Value *out)
{
  for (;;) {
    Value x;
    int r = PULL(it->src, &x);
    if (r <= 0) return r;
    int t = test(vm, it->fn, x);
    if (t < 0) return -1;
    if (t) {
      *out = x;
      return 1;
    }
  }
}

static int flat_map_next(Vm *vm, ObjIter *it, Value *out)
{
  for (;;) {
    if (IS_LIST(it->aux)) {
      ObjList *l = AS_LIST(it->aux);
      if (it->pos < l->count) {
        *out = l->items[it->pos++];
        return 1;
      }
      it->aux = NIL_VAL;
    } else if (IS_ITER(it->aux)) {
      int r = PULL(it->aux, out);
      if (r != 0) return r;
      it->aux = NIL_VAL;
    }
    Value x, y;
    int r = PULL(it->src, &x);
    if (r <= 0) return r;
    if (!meth_call1(vm, it->fn, x, &y)) return -1;
    if (IS_LIST(y) || IS_ITER(y)) {
      it->aux = y; /* spliced: its items come next */
      it->pos = 0;
      continue;
    }
    *out = y;
    return 1;
  }
}

static int take_next(Vm *vm, ObjIter *it, Value *out)
{
  if (it->pos >= it->n) return 0;
  int r = PULL(it->src, out);
  if (r == 1) it->pos++;
  return r;
}

static int skip_next(Vm *vm, ObjIter *it, Value *out)
{
  if (!it->pos) {
    uint32_t ticks = 0;
    for (int64_t i = 0; i < it->n; i++) {
      int r = PULL(it->src, out);
      if (r <= 0) return r;
      if (!meth_poll(vm, &ticks)) return -1;
    }
    it->pos = 1;
  }
  return PULL(it->src, out);
}

static int take_while_next(Vm *vm, ObjIter *it, Value *out)
{
  if (it->pos) return 0;
  Value x;
  int r = PULL(it->src, &x);
  if (r <= 0) return r;
  int t = test(vm, it->fn, x);
  if (t < 0) return -1;
  if (!t) {
    it->pos = 1;
    return 0;
  }
  *out = x;
  return 1;
}

static int skip_while_next(Vm *vm, ObjIter *it, Value *out)
{
  if (it->pos) return PULL(it->src, out);
  for (;;) {
    Value x;
    int r = PULL(it->src, &x);
    if (r <= 0) return r;
    int t = test(vm, it->fn, x);
    if (t < 0) return -1;
    if (!t) {
      it->pos = 1;
      *out = x;
      return 1;
    }
  }
}

static int zip_next(Vm *vm, ObjIter *it, Value *out)
{
  Value a, b;
  int r = PULL(it->src, &a);
  if (r <= 0) return r;
  if (!meth_push_root(vm, a)) return -1;
  r = PULL(it->aux, &b);
  gc_pop_root(vm);
  if (r <= 0) return r;
  *out = OBJ_VAL(pair_new(vm, a, b));
  return 1;
}

static int enumerate_next(Vm *vm, ObjIter *it, Value *out)
{
  Value x;
  int r = PULL(it->src, &x);
  if (r <= 0) return r;
  *out = OBJ_VAL(pair_new(vm, INT_VAL(it->pos++), x));
  return 1;
}

static int chain_next(Vm *vm, ObjIter *it, Value *out)
{
  if (it->pos == 0) {
    int r = PULL(it->src, out);
    if (r != 0) return r;
    it->pos = 1;
  }
  return PULL(it->aux, out);
}

static int chunks_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjList *l = list_new(vm, (uint32_t)(it->n < 64 ? it->n : 64));
  if (!meth_push_root(vm, OBJ_VAL(l))) return -1;
  int r = 1;
  uint32_t ticks = 0;
  while (l->count < it->n) {
    Value x;
    r = PULL(it->src, &x);
    if (r <= 0) break;
    list_push(vm, l, x);
    if (!meth_poll(vm, &ticks)) {
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  if (r < 0) return -1;
  if (l->count == 0) return 0;
  *out = OBJ_VAL(l);
  return 1;
}

static int windows_next(Vm *vm, ObjIter *it, Value *out)
{
  ObjList *prev = IS_LIST(it->aux) ? AS_LIST(it->aux) : NULL;
  ObjList *l = list_new(vm, (uint32_t)(it->n < 64 ? it->n : 64));
  if (prev)
    for (uint32_t i = 1; i < prev->count; i++) list_push(vm, l, prev->items[i]);
  if (!meth_push_root(vm, OBJ_VAL(l))) return -1;
  int r = 1;
  uint32_t ticks = 0;
  while (l->count < it->n) {
    Value x;
    r = PULL(it->src, &x);
    if (r <= 0) break;
    list_push(vm, l, x);
    if (!meth_poll(vm, &ticks)) {
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  if (r <= 0) return r; /* only full windows */
  it->aux = OBJ_VAL(l);
  *out = it->aux;
  return 1;
}

static const IterVtbl map_vt = {"map", map_next, mark_none};
static const IterVtbl filter_vt = {"filter", filter_next, mark_none};
static const IterVtbl flat_map_vt = {"flat_map", flat_map_next, mark_none};
static const IterVtbl take_vt = {"take", take_next, mark_none};
static const IterVtbl skip_vt = {"skip", skip_next, mark_none};
static const IterVtbl take_while_vt = {"take_while", take_while_next, mark_none};
static const IterVtbl skip_while_vt = {"skip_while", skip_while_next, mark_none};
static const IterVtbl zip_vt = {"zip", zip_next, mark_none};
static const IterVtbl enumerate_vt = {"enumerate", enumerate_next, mark_none};
static const IterVtbl chain_vt = {"chain", chain_next, mark_none};
static const IterVtbl chunks_vt = {"chunks", chunks_next, mark_none};
static const IterVtbl windows_vt = {"windows", windows_next, mark_none};

/* A new stage [vt] over upstream [self]. */
static Value stage(Vm *vm, const IterVtbl *vt, Value self, Value fn, Value aux, int64_t n)
{
  ObjIter *it = iter_new(vm, vt, self);
  it->fn = fn;
  it->aux = aux;
  it->pos = 0;
  it->n = n;
  return OBJ_VAL(it);
}

/* ---- lazy methods ---------------------------------------------------------- */

/* Callback stages: a missing or non-callable callback gives nil. */
static bool callback_stage(Vm *vm, const IterVtbl *vt, Value self, int argc, Value *argv,
                           Value *out)
{
  Value f = meth_arg(argc, argv, 0);
  *out = vm_is_callable(f) ? stage(vm, vt, self, f, NIL_VAL, 0) : NIL_VAL;
  return true;
}

static bool i_map(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return callback_stage(vm, &map_vt, self, argc, argv, out);
}

static bool i_filter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return callback_stage(vm, &filter_vt, self, argc, argv, out);
}

static bool i_flat_map(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return callback_stage(vm, &flat_map_vt, self, argc, argv, out);
}

static bool i_take_while(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return callback_stage(vm, &take_while_vt, self, argc, argv, out);
}

static bool i_skip_while(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return callback_stage(vm, &skip_while_vt, self, argc, argv, out);
}

/* Count stages: [what] names the method in the error text; [min] is the
 * smallest accepted count (0 for take/skip, 1 for chunks/windows). */
static bool count_stage(Vm *vm, const IterVtbl *vt, const char *what, int64_t min,
                        Value self, int argc, Value *argv, Value *out)
{
  Value n = meth_arg(argc, argv, 0);
  if (!IS_INT(n) || AS_INT(n) < min)
    return err_type(vm, "iter.%s: expected %s int", what,
                    min > 0 ? "positive" : "non-negative");
  *out = stage(vm, vt, self, NIL_VAL, NIL_VAL, AS_INT(n));
  return true;
}

static bool i_take(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return count_stage(vm, &take_vt, "take", 0, self, argc, argv, out);
}

static bool i_skip(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return count_stage(vm, &skip_vt, "skip", 0, self, argc, argv, out);
}

static bool i_chunks(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return count_stage(vm, &chunks_vt, "chunks", 1, self, argc, argv, out);
}

static bool i_windows(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return count_stage(vm, &windows_vt, "windows", 1, self, argc, argv, out);
}

/* Two-source stages: the other side is converted with iter_from. */
static bool pair_stage(Vm *vm, const IterVtbl *vt, Value self, int argc, Value *argv,
                       Value *out)
{
  Value other;
  if (!iter_from(vm, meth_arg(argc, argv, 0), &other)) return false;
  *out = stage(vm, vt, self, NIL_VAL, other, 0);
  return true;
}

static bool i_zip(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return pair_stage(vm, &zip_vt, self, argc, argv, out);
}

static bool i_chain(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return pair_stage(vm, &chain_vt, self, argc, argv, out);
}

static bool i_enumerate(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = stage(vm, &enumerate_vt, self, NIL_VAL, NIL_VAL, 0);
  return true;
}

static bool i_iter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = self;
  return true;
}

/* ---- eager methods ------------------------------------------------------- */

/* Drain [self] into the builder [acc] (a list or set, rooted here). */
static bool drain_into(Vm *vm, Value self, Value acc)
{
  if (!meth_push_root(vm, acc)) return false;
  Value x;
  int r;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    if (IS_LIST(acc)) list_push(vm, AS_LIST(acc), x);
    else set_add(vm, AS_SET(acc), x);
    if (!meth_poll(vm, &ticks)) {
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  return r == 0;
}

static bool i_to_list(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(list_new(vm, 0));
  return drain_into(vm, self, *out);
}

static bool i_to_set(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(set_new(vm, 0));
  return drain_into(vm, self, *out);
}

static bool i_to_dict(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjDict *d = dict_new(vm, 0);
  if (!meth_push_root(vm, OBJ_VAL(d))) return false;
  Value x;
  int r;
  bool ok = true;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    Value k, v;
    if (IS_PAIR(x)) {
      k = AS_PAIR(x)->first;
      v = AS_PAIR(x)->second;
    } else if (IS_LIST(x) && AS_LIST(x)->count == 2) {
      k = AS_LIST(x)->items[0];
      v = AS_LIST(x)->items[1];
    } else {
      ok = err_type(vm, "iter.to_dict: expected (key, value) pairs, got %s",
                    val_type_name(x));
      break;
    }
    if (!IS_STRING(k)) {
      ok = err_type(vm, "iter.to_dict: keys must be strings, got %s", val_type_name(k));
      break;
    }
    dict_set(vm, d, AS_STRING(k), v);
    if (!meth_poll(vm, &ticks)) { /* after the item is stored: it is rooted */
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  if (!ok || r < 0) return false;
  *out = OBJ_VAL(d);
  return true;
}

static bool i_count(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  int64_t n = 0;
  Value x;
  int r;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    n++;
    if (!meth_poll(vm, &ticks)) return false;
  }
  if (r < 0) return false;
  *out = INT_VAL(n);
  return true;
}

static bool i_sum(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value acc = INT_VAL(0), x;
  int r;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    if (!meth_poll(vm, &ticks)) return false;
    if (!IS_NUMBER(x))
      return err_type(vm, "iter.sum: cannot add a value of type %s", val_type_name(x));
    if (IS_INT(acc) && IS_INT(x))
      acc = INT_VAL((int64_t)((uint64_t)AS_INT(acc) + (uint64_t)AS_INT(x)));
    else
      acc = FLOAT_VAL(AS_NUMBER(acc) + AS_NUMBER(x));
  }
  if (r < 0) return false;
  *out = acc;
  return true;
}

/* min (sign -1) / max (sign 1): the first extreme item, nil if none. */
static bool extreme(Vm *vm, Value self, Value *out, int sign)
{
  Value best, x;
  int r = PULL(self, &best);
  *out = NIL_VAL;
  if (r <= 0) return r == 0;
  if (!meth_push_root(vm, best)) return false;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    int c = val_compare(x, best);
    if (sign < 0 ? c < 0 : c > 0) {
      gc_pop_root(vm);
      best = x;
      gc_push_root(vm, best);
    }
    if (!meth_poll(vm, &ticks)) {
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  if (r < 0) return false;
  *out = best;
  return true;
}

static bool i_min(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return extreme(vm, self, out, -1);
}

static bool i_max(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return extreme(vm, self, out, 1);
}

static bool i_reduce(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f = meth_arg(argc, argv, 1);
  *out = NIL_VAL;
  if (!vm_is_callable(f)) return true;
  Value acc = argv[0], x;
  int r;
  if (!meth_push_root(vm, acc)) return false;
  while ((r = PULL(self, &x)) == 1) {
    bool ok = meth_call2(vm, f, acc, x, &acc);
    gc_pop_root(vm);
    if (!ok) return false;
    gc_push_root(vm, acc);
  }
  gc_pop_root(vm);
  if (r < 0) return false;
  *out = acc;
  return true;
}

static bool i_first(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return PULL(self, out) >= 0;
}

static bool i_last(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value last = NIL_VAL, x;
  int r;
  if (!meth_push_root(vm, last)) return false;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    gc_pop_root(vm);
    last = x;
    gc_push_root(vm, last);
    if (!meth_poll(vm, &ticks)) {
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  if (r < 0) return false;
  *out = last;
  return true;
}

/* any (mode 0), all (mode 1), find (mode 2): stop at the first decisive
 * item, leaving the rest unpulled. */
static bool search(Vm *vm, Value self, int argc, Value *argv, Value *out, int mode)
{
  Value f = meth_arg(argc, argv, 0);
  *out = mode == 0 ? BOOL_VAL(false) : mode == 1 ? BOOL_VAL(true) : NIL_VAL;
  if (!vm_is_callable(f)) return true;
  Value x;
  int r;
  uint32_t ticks = 0;
  while ((r = PULL(self, &x)) == 1) {
    int t = test(vm, f, x);
    if (t < 0) return false;
    if (mode == 0 && t) {
      *out = BOOL_VAL(true);
      return true;
    }
    if (mode == 1 && !t) {
      *out = BOOL_VAL(false);
      return true;
    }
    if (mode == 2 && t) {
      *out = x;
      return true;
    }
    if (!meth_poll(vm, &ticks)) return false;
  }
  return r == 0;
}

static bool i_any(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return search(vm, self, argc, argv, out, 0);
}

static bool i_all(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return search(vm, self, argc, argv, out, 1);
}

static bool i_find(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return search(vm, self, argc, argv, out, 2);
}

static bool i_for_each(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value f = meth_arg(argc, argv, 0), x, y;
  int r;
  *out = NIL_VAL;
  if (!vm_is_callable(f)) return true;
  while ((r = PULL(self, &x)) == 1)
    if (!meth_call1(vm, f, x, &y)) return false;
  return r == 0;
}

/* Sorted by name (byte order): meth_find() searches it. */
const MethodDef iter_method_table[] = {
  {"all", i_all},
  {"any", i_any},
  {"chain", i_chain},
  {"chunks", i_chunks},
  {"count", i_count},
  {"enumerate", i_enumerate},
  {"filter", i_filter},
  {"find", i_find},
  {"first", i_first},
  {"flat_map", i_flat_map},
  {"for_each", i_for_each},
  {"iter", i_iter},
  {"last", i_last},
  {"map", i_map},
  {"max", i_max},
  {"min", i_min},
  {"reduce", i_reduce},
  {"skip", i_skip},
  {"skip_while", i_skip_while},
  {"sum", i_sum},
  {"take", i_take},
  {"take_while", i_take_while},
  {"to_dict", i_to_dict},
  {"to_list", i_to_list},
  {"to_set", i_to_set},
  {"windows", i_windows},
  {"zip", i_zip},
};
const size_t iter_method_count = sizeof iter_method_table / sizeof iter_method_table[0];
