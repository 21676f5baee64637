/*
 * methods_dict.c: method dispatch (method_call of builtins.h) and the
 * methods of dicts (docs/LANGUAGE.md 11.3), sets (11.4), ranges (11.5) and pairs
 * (11.7). Enums, structs, numbers, bools, nil and every other kind have no
 * built-in methods: any name gives nil.
 *
 * Dispatch is two steps: the receiver's kind selects a MethodDef table
 * (methods.h), then meth_find() binary-searches the name. Unknown names give
 * nil, never an error. A range first looks in its own table (len, count,
 * empty, contains, first, last, to_string); any other name that the lazy
 * iter understands is applied to a fresh iter(range), so `(1 to 3).map(f)`
 * is a lazy iter (11.5). Host objects (generators, streams, channels) only
 * answer `iter()` here, when their kind was registered with
 * iter_register_native(); their own methods (`next`...) are sched.c's
 * (sched_method).
 *
 * Dicts are sorted by key (value.h), so keys/values/entries come out in key
 * order without sorting. Dict keys given as arguments are display strings
 * ("str(k)"). Sets keep insertion order; set arguments of union/intersect/...
 * may also be lists.
 */
#include <string.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "methods.h"
#include "object.h"
#include "state.h"

/* ---- method tables ------------------------------------------------------ */

static int name_cmp(const char *a, const ObjString *b)
{
  size_t la = strlen(a);
  size_t n = la < b->len ? la : b->len;
  int c = memcmp(a, b->chars, n);
  if (c) return c;
  return la < b->len ? -1 : la > b->len ? 1 : 0;
}

const MethodDef *meth_find(const MethodDef *tbl, size_t n, const ObjString *name)
{
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = name_cmp(tbl[mid].name, name);
    if (c == 0) return &tbl[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

bool meth_table_sorted(const MethodDef *tbl, size_t n)
{
  for (size_t i = 1; i < n; i++)
    if (strcmp(tbl[i - 1].name, tbl[i].name) >= 0) return false;
  return true;
}

/* ---- dicts --------------------------------------------------------------- */

#define DSELF AS_DICT(self)

static bool d_keys(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *l = list_new(vm, DSELF->count);
  for (uint32_t i = 0; i < DSELF->count; i++) list_push(vm, l, OBJ_VAL(DSELF->entries[i].key));
  *out = OBJ_VAL(l);
  return true;
}

static bool d_values(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *l = list_new(vm, DSELF->count);
  for (uint32_t i = 0; i < DSELF->count; i++) list_push(vm, l, DSELF->entries[i].value);
  *out = OBJ_VAL(l);
  return true;
}

static bool d_entries(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  /* a dict of two per entry: several times the receiver's size */
  if (!meth_fits(vm, DSELF->count, METH_DICT_BYTES(2))) return false;
  *out = OBJ_VAL(dict_entries(vm, DSELF));
  return true;
}

static bool d_count(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = INT_VAL(DSELF->count);
  return true;
}

static bool d_has(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value v;
  *out = BOOL_VAL(dict_get(DSELF, val_to_string(vm, meth_arg(argc, argv, 0)), &v));
  return true;
}

static bool d_get(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  if (!dict_get(DSELF, val_to_string(vm, meth_arg(argc, argv, 0)), out))
    *out = meth_arg(argc, argv, 1);
  return true;
}

static bool d_remove(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *k = val_to_string(vm, meth_arg(argc, argv, 0));
  Value v;
  if (!dict_get(DSELF, k, &v)) {
    *out = self; /* nothing to remove: the same (immutable) dict */
    return true;
  }
  ObjDict *d = dict_copy(vm, DSELF);
  dict_remove(d, k);
  *out = OBJ_VAL(d);
  return true;
}

static bool d_merge(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value o = meth_arg(argc, argv, 0);
  if (!IS_DICT(o)) {
    *out = self;
    return true;
  }
  ObjDict *d = dict_copy(vm, DSELF);
  for (uint32_t i = 0; i < AS_DICT(o)->count; i++)
    dict_set(vm, d, AS_DICT(o)->entries[i].key, AS_DICT(o)->entries[i].value);
  *out = OBJ_VAL(d);
  return true;
}

/* map_values (mode 0), map_keys/rekey (mode 1), filter (mode 2). */
static bool d_transform(Vm *vm, Value self, int argc, Value *argv, Value *out, int mode)
{
  Value f = meth_arg(argc, argv, 0);
  *out = NIL_VAL;
  if (!vm_is_callable(f)) return true;
  ObjDict *src = DSELF, *d = dict_new(vm, src->count);
  if (!meth_push_root(vm, OBJ_VAL(d))) return false;
  for (uint32_t i = 0; i < src->count; i++) {
    DictEntry *e = &src->entries[i];
    Value y;
    if (!meth_call1(vm, f, mode == 1 ? OBJ_VAL(e->key) : e->value, &y)) {
      gc_pop_root(vm);
      return false;
    }
    if (mode == 0) dict_set(vm, d, e->key, y);
    else if (mode == 1) dict_set(vm, d, val_to_string(vm, y), e->value);
    else if (val_truthy(y)) dict_set(vm, d, e->key, e->value);
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}

static bool d_map_values(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return d_transform(vm, self, argc, argv, out, 0);
}

static bool d_map_keys(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return d_transform(vm, self, argc, argv, out, 1);
}

static bool d_filter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return d_transform(vm, self, argc, argv, out, 2);
}

static bool any_iter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return iter_from(vm, self, out);
}

/* Sorted by name. `len` is deliberately absent (docs/LANGUAGE.md 11.3). */
const MethodDef meth_dict_table[] = {
  {"count", d_count},
  {"entries", d_entries},
  {"filter", d_filter},
  {"get", d_get},
  {"has", d_has},
  {"iter", any_iter},
  {"keys", d_keys},
  {"map_keys", d_map_keys},
  {"map_values", d_map_values},
  {"merge", d_merge},
  {"rekey", d_map_keys},
  {"remove", d_remove},
  {"values", d_values},
};
const size_t meth_dict_count = sizeof meth_dict_table / sizeof meth_dict_table[0];

/* ---- sets ----------------------------------------------------------------- */

#define SSELF AS_SET(self)

/* The items of a set or list argument; false for other kinds. */
static bool coll_items(Value v, const Value **items, uint32_t *n)
{
  if (IS_SET(v)) {
    *items = AS_SET(v)->items;
    *n = AS_SET(v)->count;
    return true;
  }
  if (IS_LIST(v)) {
    *items = AS_LIST(v)->items;
    *n = AS_LIST(v)->count;
    return true;
  }
  return false;
}

/* Membership in a set or list argument. */
static bool coll_has(Value coll, Value x)
{
  if (IS_SET(coll)) return set_has(AS_SET(coll), x);
  const Value *items;
  uint32_t n;
  if (!coll_items(coll, &items, &n)) return false;
  for (uint32_t i = 0; i < n; i++)
    if (val_equal(items[i], x)) return true;
  return false;
}

static bool st_count(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = INT_VAL(SSELF->count);
  return true;
}

static bool st_empty(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = BOOL_VAL(SSELF->count == 0);
  return true;
}

static bool st_contains(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = BOOL_VAL(set_has(SSELF, meth_arg(argc, argv, 0)));
  return true;
}

static bool st_add(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value x = meth_arg(argc, argv, 0);
  if (set_has(SSELF, x)) {
    *out = self;
    return true;
  }
  ObjSet *s = set_copy(vm, SSELF);
  set_add(vm, s, x);
  *out = OBJ_VAL(s);
  return true;
}

static bool st_remove(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value x = meth_arg(argc, argv, 0);
  ObjSet *s = set_new(vm, SSELF->count);
  for (uint32_t i = 0; i < SSELF->count; i++)
    if (!val_equal(SSELF->items[i], x)) set_add(vm, s, SSELF->items[i]);
  *out = OBJ_VAL(s);
  return true;
}

static bool st_union(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  const Value *items;
  uint32_t n;
  *out = NIL_VAL;
  if (!coll_items(meth_arg(argc, argv, 0), &items, &n)) return true;
  ObjSet *s = set_copy(vm, SSELF);
  for (uint32_t i = 0; i < n; i++) set_add(vm, s, items[i]);
  *out = OBJ_VAL(s);
  return true;
}

/* intersect (keep true) / difference (keep false). */
static bool st_filter_by(Vm *vm, Value self, int argc, Value *argv, Value *out, bool keep)
{
  Value o = meth_arg(argc, argv, 0);
  const Value *items;
  uint32_t n;
  *out = NIL_VAL;
  if (!coll_items(o, &items, &n)) return true;
  ObjSet *s = set_new(vm, SSELF->count);
  for (uint32_t i = 0; i < SSELF->count; i++)
    if (coll_has(o, SSELF->items[i]) == keep) set_add(vm, s, SSELF->items[i]);
  *out = OBJ_VAL(s);
  return true;
}

static bool st_intersect(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return st_filter_by(vm, self, argc, argv, out, true);
}

static bool st_difference(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return st_filter_by(vm, self, argc, argv, out, false);
}

static bool st_symmetric_difference(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value o = meth_arg(argc, argv, 0);
  const Value *items;
  uint32_t n;
  *out = NIL_VAL;
  if (!coll_items(o, &items, &n)) return true;
  ObjSet *s = set_new(vm, SSELF->count + n);
  for (uint32_t i = 0; i < SSELF->count; i++)
    if (!coll_has(o, SSELF->items[i])) set_add(vm, s, SSELF->items[i]);
  for (uint32_t i = 0; i < n; i++)
    if (!set_has(SSELF, items[i])) set_add(vm, s, items[i]);
  *out = OBJ_VAL(s);
  return true;
}

/* Every item of [a] is in [b]. */
static bool subset_of(Value a, Value b)
{
  const Value *items = NULL;
  uint32_t n = 0;
  if (!coll_items(a, &items, &n)) return false;
  for (uint32_t i = 0; i < n; i++)
    if (!coll_has(b, items[i])) return false;
  return true;
}

static bool st_is_subset(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value o = meth_arg(argc, argv, 0);
  const Value *items;
  uint32_t n;
  *out = coll_items(o, &items, &n) ? BOOL_VAL(subset_of(self, o)) : BOOL_VAL(false);
  return true;
}

static bool st_is_superset(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value o = meth_arg(argc, argv, 0);
  const Value *items;
  uint32_t n;
  *out = coll_items(o, &items, &n) ? BOOL_VAL(subset_of(o, self)) : BOOL_VAL(false);
  return true;
}

static bool st_is_disjoint(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value o = meth_arg(argc, argv, 0);
  const Value *items;
  uint32_t n;
  *out = BOOL_VAL(false);
  if (!coll_items(o, &items, &n)) return true;
  for (uint32_t i = 0; i < n; i++)
    if (set_has(SSELF, items[i])) return true;
  *out = BOOL_VAL(true);
  return true;
}

static bool st_to_list(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjList *l = list_new(vm, SSELF->count);
  for (uint32_t i = 0; i < SSELF->count; i++) list_push(vm, l, SSELF->items[i]);
  *out = OBJ_VAL(l);
  return true;
}

/* map (mode 0, result deduplicated) / filter (mode 1). */
static bool st_map_filter(Vm *vm, Value self, int argc, Value *argv, Value *out, int mode)
{
  Value f = meth_arg(argc, argv, 0);
  *out = NIL_VAL;
  if (!vm_is_callable(f)) return true;
  ObjSet *s = set_new(vm, SSELF->count);
  if (!meth_push_root(vm, OBJ_VAL(s))) return false;
  for (uint32_t i = 0; i < SSELF->count; i++) {
    Value y;
    if (!meth_call1(vm, f, SSELF->items[i], &y)) {
      gc_pop_root(vm);
      return false;
    }
    if (mode == 0) set_add(vm, s, y);
    else if (val_truthy(y)) set_add(vm, s, SSELF->items[i]);
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(s);
  return true;
}

static bool st_map(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return st_map_filter(vm, self, argc, argv, out, 0);
}

static bool st_filter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return st_map_filter(vm, self, argc, argv, out, 1);
}

/* any (want true) / all (want false): stop at the first item whose truth is
 * [want]. */
static bool st_any_all(Vm *vm, Value self, int argc, Value *argv, Value *out, bool want)
{
  Value f = meth_arg(argc, argv, 0);
  *out = BOOL_VAL(!want);
  if (!vm_is_callable(f)) return true;
  for (uint32_t i = 0; i < SSELF->count; i++) {
    Value y;
    if (!meth_call1(vm, f, SSELF->items[i], &y)) return false;
    if (val_truthy(y) == want) {
      *out = BOOL_VAL(want);
      break;
    }
  }
  return true;
}

static bool st_any(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return st_any_all(vm, self, argc, argv, out, true);
}

static bool st_all(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return st_any_all(vm, self, argc, argv, out, false);
}

const MethodDef meth_set_table[] = {
  {"add", st_add},
  {"all", st_all},
  {"any", st_any},
  {"contains", st_contains},
  {"count", st_count},
  {"difference", st_difference},
  {"empty", st_empty},
  {"filter", st_filter},
  {"intersect", st_intersect},
  {"is_disjoint", st_is_disjoint},
  {"is_subset", st_is_subset},
  {"is_superset", st_is_superset},
  {"iter", any_iter},
  {"len", st_count},
  {"map", st_map},
  {"remove", st_remove},
  {"symmetric_difference", st_symmetric_difference},
  {"to_list", st_to_list},
  {"union", st_union},
};
const size_t meth_set_count = sizeof meth_set_table / sizeof meth_set_table[0];

/* ---- ranges ---------------------------------------------------------------- */

#define RSELF AS_RANGE(self)

static bool r_len(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = INT_VAL(range_len(RSELF));
  return true;
}

static bool r_empty(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = BOOL_VAL(range_len(RSELF) == 0);
  return true;
}

static bool r_contains(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  Value x = meth_arg(argc, argv, 0);
  ObjRange *r = RSELF;
  *out = BOOL_VAL(IS_INT(x) && range_len(r) > 0 && AS_INT(x) >= r->start &&
                  (r->exclusive ? AS_INT(x) < r->end : AS_INT(x) <= r->end));
  return true;
}

static bool r_first(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = range_len(RSELF) > 0 ? INT_VAL(RSELF->start) : NIL_VAL;
  return true;
}

static bool r_last(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjRange *r = RSELF;
  *out = range_len(r) > 0 ? INT_VAL(r->exclusive ? r->end - 1 : r->end) : NIL_VAL;
  return true;
}

static bool r_to_string(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(val_to_string(vm, self));
  return true;
}

const MethodDef meth_range_table[] = {
  {"contains", r_contains},
  {"count", r_len},
  {"empty", r_empty},
  {"first", r_first},
  {"last", r_last},
  {"len", r_len},
  {"to_string", r_to_string},
};
const size_t meth_range_count = sizeof meth_range_table / sizeof meth_range_table[0];

/* ---- pairs ------------------------------------------------------------------ */

static bool p_first(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = AS_PAIR(self)->first;
  return true;
}

static bool p_second(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = AS_PAIR(self)->second;
  return true;
}

const MethodDef meth_pair_table[] = {
  {"first", p_first},
  {"second", p_second},
};
const size_t meth_pair_count = sizeof meth_pair_table / sizeof meth_pair_table[0];

/* ---- dispatch ------------------------------------------------------------- */

bool method_call(Vm *vm, Value recv, ObjString *name, int argc, Value *argv, Value *out)
{
  const MethodDef *m = NULL;
  *out = NIL_VAL;
  if (!IS_OBJ(recv)) return true; /* nil, bool, numbers, durations, builtins */
  switch (OBJ_TYPE(recv)) {
  case OBJ_STRING: m = meth_find(meth_string_table, meth_string_count, name); break;
  case OBJ_LIST: m = meth_find(meth_list_table, meth_list_count, name); break;
  case OBJ_DICT: m = meth_find(meth_dict_table, meth_dict_count, name); break;
  case OBJ_SET: m = meth_find(meth_set_table, meth_set_count, name); break;
  case OBJ_PAIR: m = meth_find(meth_pair_table, meth_pair_count, name); break;
  case OBJ_ITER: m = meth_find(iter_method_table, iter_method_count, name); break;
  case OBJ_RANGE: {
    m = meth_find(meth_range_table, meth_range_count, name);
    if (m) break;
    /* Every other method runs on iter(range) (docs/LANGUAGE.md 11.5). */
    m = meth_find(iter_method_table, iter_method_count, name);
    if (!m) return true;
    Value it;
    if (!iter_from(vm, recv, &it)) return false;
    if (!meth_push_root(vm, it)) return false;
    bool ok = m->fn(vm, it, argc, argv, out);
    gc_pop_root(vm);
    return ok;
  }
  case OBJ_NATIVE:
    /* registered host kinds (generators...) answer iter() */
    if (name_cmp("iter", name) == 0 && iter_accepts(recv)) return iter_from(vm, recv, out);
    return true;
  default: /* enums, structs, types, closures, bound methods: no methods */
    return true;
  }
  if (!m) return true;
  return m->fn(vm, recv, argc, argv, out);
}
