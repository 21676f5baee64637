/*
 * test_gc.c: memory accounting and the mark-and-sweep collector (vm/gc.h).
 *
 * The tests never depend on what the interpreter roots in a fresh VM: each
 * one collects first to get a baseline and then reasons about differences
 * (bytes, objects in the heap list, freed_total). Objects are kept alive
 * only through the temp-root stack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "vm/error.h"
#include "vm/gc.h"
#include "vm/object.h"
#include "vm/state.h"

static int setup(void **state)
{
  *state = vm_new(NULL);
  return *state ? 0 : -1;
}

static int teardown(void **state)
{
  vm_free(*state);
  return 0;
}

static bool in_heap(Vm *vm, const void *o)
{
  for (Obj *p = vm->heap.objects; p; p = p->next)
    if (p == o) return true;
  return false;
}

static size_t heap_objects(Vm *vm)
{
  size_t n = 0;
  for (Obj *p = vm->heap.objects; p; p = p->next) n++;
  return n;
}

static void test_accounting(void **state)
{
  Vm *vm = *state;
  size_t b0 = vm->heap.bytes;
  void *p = mem_alloc(vm, 1000);
  assert_int_equal(vm->heap.bytes, b0 + 1000);
  assert_true(vm->heap.peak >= b0 + 1000);
  p = mem_realloc(vm, p, 1000, 4000);
  assert_int_equal(vm->heap.bytes, b0 + 4000);
  p = mem_realloc(vm, p, 4000, 10);
  assert_int_equal(vm->heap.bytes, b0 + 10);
  assert_null(mem_free(vm, p, 10));
  assert_int_equal(vm->heap.bytes, b0);
  assert_true(vm->heap.peak >= b0 + 4000);

  /* Objects are accounted with their arrays. */
  gc_collect(vm);
  size_t base = vm->heap.bytes;
  ObjList *l = list_new(vm, 10);
  assert_int_equal(vm->heap.bytes, base + sizeof(ObjList) + 10 * sizeof(Value));
  (void)l;
  gc_collect(vm);
  assert_int_equal(vm->heap.bytes, base);
}

static void test_pending_and_threshold(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  assert_false(vm->heap.gc_pending);
  assert_true(vm->heap.next_gc >= GC_MIN_HEAP);
  size_t collections = vm->heap.collections;
  /* Allocating past next_gc only sets the flag; nothing is collected. */
  size_t need = vm->heap.next_gc - vm->heap.bytes + 1;
  ObjList *big = list_new(vm, (uint32_t)(need / sizeof(Value) + 1));
  assert_true(vm->heap.gc_pending);
  assert_int_equal(vm->heap.collections, collections);
  assert_true(in_heap(vm, big));
  gc_push_root(vm, OBJ_VAL(big));
  gc_collect(vm);
  assert_int_equal(vm->heap.collections, collections + 1);
  assert_false(vm->heap.gc_pending);
  assert_true(in_heap(vm, big));
  size_t want = vm->heap.bytes * 2 > GC_MIN_HEAP ? vm->heap.bytes * 2 : GC_MIN_HEAP;
  assert_int_equal(vm->heap.next_gc, want);
  gc_pop_root(vm);
  gc_collect(vm);
  assert_false(in_heap(vm, big));
  assert_int_equal(vm->heap.next_gc, vm->heap.bytes * 2 > GC_MIN_HEAP ? vm->heap.bytes * 2
                                                                        : GC_MIN_HEAP);
}

static void test_cycle_reclaimed(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  size_t base = vm->heap.bytes, freed0 = vm->heap.freed_total;
  /* A list that contains itself (only possible through a builder), plus a
   * dict <-> list cycle. */
  ObjList *l = list_new(vm, 0);
  list_push(vm, l, OBJ_VAL(l));
  list_push(vm, l, OBJ_VAL(str_cstr(vm, "payload")));
  ObjDict *d = dict_new(vm, 0);
  ObjList *l2 = list_new(vm, 0);
  dict_set_cstr(vm, d, "back", OBJ_VAL(l2));
  list_push(vm, l2, OBJ_VAL(d));
  size_t grown = vm->heap.bytes - base;
  assert_true(grown > 0);
  gc_collect(vm);
  assert_true(vm->heap.bytes <= base);
  assert_true(vm->heap.freed_total - freed0 >= grown);
  assert_false(in_heap(vm, l));
  assert_false(in_heap(vm, d));
  assert_false(in_heap(vm, l2));
}

static void test_temp_roots_protect(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  ObjList *l = list_new(vm, 0);
  for (int i = 0; i < 50; i++) list_push(vm, l, OBJ_VAL(str_printf(vm, "item %d", i)));
  list_push(vm, l, OBJ_VAL(l));
  ObjString *loose = str_cstr(vm, "garbage");
  gc_push_root(vm, OBJ_VAL(l));
  gc_collect(vm);
  assert_true(in_heap(vm, l));
  assert_false(in_heap(vm, loose));
  for (int i = 0; i < 50; i++) {
    assert_true(in_heap(vm, l->items[i].as.o));
    char want[32];
    snprintf(want, sizeof want, "item %d", i);
    assert_string_equal(AS_CSTR(l->items[i]), want);
  }
  /* Marks are cleared after each collection: a second one keeps it too. */
  gc_collect(vm);
  assert_true(in_heap(vm, l));
  gc_pop_root(vm);
  gc_collect(vm);
  assert_false(in_heap(vm, l));
}

static int mark_calls, finalize_calls;

static void nat_mark(Vm *vm, ObjNative *n)
{
  mark_calls++;
  gc_mark_value(vm, *(Value *)n->data);
}

static void nat_finalize(Vm *vm, ObjNative *n)
{
  finalize_calls++;
  mem_free(vm, n->data, n->size);
}

static const NativeVtbl nat_vt = {"thing", NULL, nat_mark, nat_finalize, true, NULL};

static int iter_marks;

static void it_mark(Vm *vm, ObjIter *it)
{
  iter_marks++;
  (void)vm;
  (void)it;
}

static int it_next(Vm *vm, ObjIter *it, Value *out)
{
  (void)vm;
  (void)it;
  (void)out;
  return 0;
}

static const IterVtbl it_vt = {"test", it_next, it_mark};

/* Every object kind, reachable only from one root; all must survive, and
 * all must go once the root is dropped. */
static void test_traces_every_kind(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  size_t base_objs = heap_objects(vm), base_bytes = vm->heap.bytes;
  mark_calls = finalize_calls = iter_marks = 0;

  ObjList *root = list_new(vm, 0);
  ObjDict *d = dict_new(vm, 0);
  dict_set_cstr(vm, d, "k", OBJ_VAL(str_cstr(vm, "dv")));
  list_push(vm, root, OBJ_VAL(d));
  ObjSet *s = set_new(vm, 0);
  set_add(vm, s, OBJ_VAL(str_cstr(vm, "sv")));
  list_push(vm, root, OBJ_VAL(s));
  list_push(vm, root, OBJ_VAL(range_new(vm, 1, 2, false)));
  list_push(vm, root, OBJ_VAL(pair_new(vm, OBJ_VAL(str_cstr(vm, "p1")), OBJ_VAL(str_cstr(vm, "p2")))));
  list_push(vm, root, enum_ok(vm, OBJ_VAL(str_cstr(vm, "ev"))));

  ObjEnumType *et = enum_type_new(vm, str_cstr(vm, "Shape"), 2);
  et->variants[0] = str_cstr(vm, "Circle");
  et->variants[1] = str_cstr(vm, "Empty");
  et->arity[0] = 1;
  et->fieldnames[0] = mem_alloc(vm, sizeof(ObjString *));
  et->fieldnames[0][0] = str_cstr(vm, "radius");
  list_push(vm, root, OBJ_VAL(et));

  ObjStructType *st = struct_type_new(vm, str_cstr(vm, "Point"), 2);
  st->fields[0] = str_cstr(vm, "x");
  st->fields[1] = str_cstr(vm, "y");
  st->methods = dict_new(vm, 0);

  ObjFunction *fn = function_new(vm);
  fn->name = str_cstr(vm, "f");
  fn->file = str_cstr(vm, "main.harn");
  fn->nparams = 1;
  fn->param_names = mem_alloc(vm, sizeof(ObjString *));
  fn->param_names[0] = str_cstr(vm, "a");
  fn->param_types = mem_alloc(vm, sizeof(Value));
  fn->param_types[0] = OBJ_VAL(str_cstr(vm, "int"));
  chunk_write(vm, &fn->chunk, 1, 1, 1);
  chunk_add_const(vm, &fn->chunk, OBJ_VAL(str_cstr(vm, "const")));
  fn->ncaptures = 1;
  ObjClosure *cl = closure_new(vm, fn, OBJ_VAL(dict_new(vm, 0)));
  cl->captures[0] = OBJ_VAL(str_cstr(vm, "captured"));
  dict_set_cstr(vm, st->methods, "m", OBJ_VAL(cl));

  ObjDict *fields = dict_new(vm, 0);
  dict_set_cstr(vm, fields, "x", OBJ_VAL(str_cstr(vm, "xv")));
  list_push(vm, root, OBJ_VAL(struct_new(vm, st, NULL, fields)));
  list_push(vm, root, OBJ_VAL(bound_new(vm, OBJ_VAL(str_cstr(vm, "recv")), OBJ_VAL(cl))));

  ObjIter *it = iter_new(vm, &it_vt, OBJ_VAL(list_new(vm, 0)));
  it->fn = OBJ_VAL(cl);
  it->aux = OBJ_VAL(str_cstr(vm, "aux"));
  list_push(vm, root, OBJ_VAL(it));

  Value *slot = mem_alloc(vm, sizeof(Value));
  *slot = OBJ_VAL(str_cstr(vm, "held by native"));
  list_push(vm, root, OBJ_VAL(native_new(vm, &nat_vt, slot, sizeof(Value))));

  size_t objs = heap_objects(vm) - base_objs;
  gc_push_root(vm, OBJ_VAL(root));
  gc_collect(vm);
  assert_int_equal(heap_objects(vm) - base_objs, objs);
  assert_true(mark_calls >= 1);
  assert_true(iter_marks >= 1);
  assert_int_equal(finalize_calls, 0);
  assert_string_equal(AS_CSTR(*slot), "held by native");
  assert_string_equal(fn->param_names[0]->chars, "a");
  assert_string_equal(et->fieldnames[0][0]->chars, "radius");

  gc_pop_root(vm);
  gc_collect(vm);
  assert_int_equal(heap_objects(vm), base_objs);
  assert_int_equal(finalize_calls, 1);
  assert_int_equal(vm->heap.bytes, base_bytes);
}

static void test_error_value_is_root(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  ObjList *payload = list_new(vm, 0);
  list_push(vm, payload, OBJ_VAL(str_cstr(vm, "inside")));
  err_throw(vm, OBJ_VAL(payload));
  gc_collect(vm);
  assert_true(in_heap(vm, payload));
  assert_string_equal(AS_CSTR(payload->items[0]), "inside");
  err_clear(vm);
  gc_collect(vm);
  assert_false(in_heap(vm, payload));
}

static void test_memory_limit_flag(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  vm->heap.limit = vm->heap.bytes + 4096;
  assert_false(vm->heap.over_limit);
  ObjList *l = list_new(vm, 1024); /* 16 KiB of items */
  assert_true(vm->heap.over_limit);
  assert_true(vm->heap.gc_pending);
  assert_true(in_heap(vm, l)); /* the allocation itself succeeded */
  /* Garbage: a collection brings the heap back under the limit. */
  gc_collect(vm);
  assert_false(vm->heap.over_limit);
  /* Live data over the limit stays over the limit. */
  l = list_new(vm, 1024);
  gc_push_root(vm, OBJ_VAL(l));
  gc_collect(vm);
  assert_true(vm->heap.over_limit);
  gc_pop_root(vm);
  gc_collect(vm);
  assert_false(vm->heap.over_limit);
  vm->heap.limit = 0;
}

static void test_many_objects(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  size_t base = vm->heap.bytes;
  /* Simulate a loop that keeps one growing value and drops the rest,
   * collecting whenever the allocator asks, as the interpreter does. */
  Value keep = OBJ_VAL(list_new(vm, 0));
  gc_push_root(vm, keep);
  size_t peak_after_gc = 0;
  for (int i = 0; i < 200000; i++) {
    ObjString *s = str_printf(vm, "s%d", i);
    if (i % 1000 == 0) {
      ObjList *next = list_copy(vm, AS_LIST(keep));
      list_push(vm, next, OBJ_VAL(s));
      keep = OBJ_VAL(next);
      vm->heap.temp_roots[vm->heap.ntemp - 1] = keep;
    }
    if (vm->heap.gc_pending) {
      gc_collect(vm);
      if (vm->heap.bytes > peak_after_gc) peak_after_gc = vm->heap.bytes;
    }
  }
  assert_true(vm->heap.collections > 0);
  assert_true(peak_after_gc < base + GC_MIN_HEAP);
  assert_int_equal(AS_LIST(keep)->count, 200);
  assert_string_equal(AS_CSTR(AS_LIST(keep)->items[199]), "s199000");
  gc_pop_root(vm);
  gc_collect(vm);
  assert_int_equal(vm->heap.bytes, base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_accounting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pending_and_threshold, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cycle_reclaimed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_temp_roots_protect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_traces_every_kind, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_value_is_root, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memory_limit_flag, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_objects, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
