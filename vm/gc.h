/*
 * gc.h: memory accounting and the mark-and-sweep garbage collector.
 *
 * Every byte the VM allocates for Harn objects goes through mem_realloc()
 * (which calls jemalloc via the system malloc), so the heap always knows
 * how much is live-or-garbage (Wren's wrenReallocate, Lua's luaM_realloc_).
 *
 * The collector is stop-the-world mark-and-sweep with a gray stack, so it
 * reclaims cycles. It never runs inside an allocation: allocating only sets
 * `gc_pending` once `bytes` passes `next_gc`, and the interpreter calls
 * gc_collect() at its next safe point (a call or a backward jump). This is
 * what lets builtins hold fresh objects in C locals without rooting them.
 * A builtin that re-enters the VM (vm_call) must root what it holds with
 * gc_push_root()/gc_pop_root(), because the callee runs safe points.
 *
 * After a collection, next_gc = max(bytes * 2, GC_MIN_HEAP).
 *
 * Memory limit: when `limit` is non-zero and an allocation would take
 * `bytes` above it, mem_realloc first collects (if it is allowed to, see
 * `in_safe_point`), then fails by setting `over_limit`; the interpreter
 * turns that into the uncatchable `memory limit exceeded` error at its next
 * check. The allocation itself still succeeds (we never return NULL to
 * callers), so C code never has to handle allocation failure.
 */
#ifndef HARN_GC_H
#define HARN_GC_H

#include <stdbool.h>
#include <stddef.h>

#include "value.h"

#define GC_MIN_HEAP (1u << 20) /* first collection after 1 MiB */
#define GC_MAX_TEMP_ROOTS 1024
#define GC_INTERN_TOMB ((ObjString *)(uintptr_t)1)

typedef struct Heap {
  Obj *objects;        /* every live-or-garbage object */
  size_t bytes;        /* bytes currently allocated through mem_* */
  size_t peak;         /* high-water mark of `bytes` */
  size_t next_gc;      /* collect at the next safe point past this */
  size_t limit;        /* 0 = unlimited */
  bool gc_pending;     /* set by the allocator, cleared by gc_collect */
  bool over_limit;     /* set by the allocator when `limit` was passed */
  bool stress;         /* collect at every safe point (VM_GC_STRESS) */
  Obj **gray;          /* gray stack (plain malloc) */
  size_t ngray, graycap;
  Value temp_roots[GC_MAX_TEMP_ROOTS];
  int ntemp;
  /* Weak intern table of strings (object.c str_intern): open addressing,
   * icap slots (power of two or 0), NULL = empty, GC_INTERN_TOMB = deleted.
   * Plain malloc, not accounted. gc_collect drops the entries whose string
   * was not marked, before the sweep frees them. */
  ObjString **itab;
  uint32_t icap, icount, itomb;
  size_t collections;  /* statistics */
  size_t freed_total;
} Heap;

/* Allocate, grow, shrink or free ([newsize] 0) a block, accounting the
 * difference in vm->heap. Never returns NULL for newsize > 0 (aborts the
 * process when the system is truly out of memory). */
void *mem_realloc(Vm *vm, void *p, size_t oldsize, size_t newsize);
#define mem_alloc(vm, n) mem_realloc((vm), NULL, 0, (n))
#define mem_free(vm, p, n) mem_realloc((vm), (p), (n), 0)

/* Allocate an object of [size] bytes with header type [type] and link it
 * into the heap. Contents past the header are zeroed. */
Obj *gc_alloc_obj(Vm *vm, size_t size, ObjType type);

/* Run a full collection now. Roots: vm_mark_roots() (interpreter state,
 * implemented by the interpreter) plus the temp-root stack. */
void gc_collect(Vm *vm);

/* Mark [v] / [o] reachable (for vm_mark_roots and vtable mark functions). */
void gc_mark_value(Vm *vm, Value v);
void gc_mark_obj(Vm *vm, Obj *o);

/* Protect [v] from collection until the matching gc_pop_root(). */
void gc_push_root(Vm *vm, Value v);
void gc_pop_root(Vm *vm);

/* Free every object (VM teardown). */
void gc_free_all(Vm *vm);

/* Implemented by the interpreter: mark every root it holds (stacks,
 * frames, globals, handlers, modules, constants of live functions...). */
void vm_mark_roots(Vm *vm);

#endif
