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
 * Memory limit: when `limit` is non-zero and an allocation takes `bytes`
 * above it, the allocator sets `over_limit` (and `gc_pending`); the
 * interpreter collects at its next safe point and turns a heap still over
 * the limit into the uncatchable `memory limit exceeded` error. The
 * allocation itself still succeeds (we never return NULL to callers), so C
 * code never has to handle allocation failure. What keeps one operation
 * from going far past the limit before that safe point: results whose size
 * the program chooses are checked first (mem_fits), and C loops whose
 * length the program chooses poll (meth_tick, methods.h).
 *
 * Memory the VM holds outside mem_realloc but on the program's behalf (the
 * C and operand stacks of task and generator fibers, a task's buffered
 * output) is counted in `bytes` too, through mem_account.
 *
 * Allocation failure: when malloc itself fails (an address-space limit, a
 * machine out of memory), the allocator gives back `reserve` (a block kept
 * for this moment), retries, and marks the heap `doomed`: the run then ends
 * with the same memory error at its next safe point whatever the limit, and
 * the reserve pays for getting there. Only when the retry fails too does
 * the process abort (the worker reports that as `oom`).
 */
#ifndef HARN_GC_H
#define HARN_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
  bool doomed;         /* an allocation could not be honoured (mem_doom): the
                          run fails with the memory error at its next safe
                          point; cleared when a run begins */
  void *reserve;       /* emergency block (plain malloc, not counted) */
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
 * difference in vm->heap. Never returns NULL for newsize > 0: when malloc
 * fails it dooms the run (see the top) and retries with the reserve given
 * back; it aborts the process only when that fails too. */
void *mem_realloc(Vm *vm, void *p, size_t oldsize, size_t newsize);
#define mem_alloc(vm, n) mem_realloc((vm), NULL, 0, (n))
#define mem_free(vm, p, n) mem_realloc((vm), (p), (n), 0)

/* mem_realloc for a block whose size the program chose, which may fail
 * where a small one would not: NULL, with [p] untouched and the run doomed
 * (mem_doom), when malloc fails. The growth of lists, dicts and sets and
 * long strings go this way (object.c), so that running out of address
 * space while building one fails the run instead of the process. */
void *mem_try_realloc(Vm *vm, void *p, size_t oldsize, size_t newsize);

/* Count a block of memory the VM holds outside mem_realloc (fiber stacks,
 * buffered task output) growing from [oldsize] to [newsize] bytes: the
 * accounting of mem_realloc without the allocation. */
void mem_account(Vm *vm, size_t oldsize, size_t newsize);

/* Largest single block a result built from program data may need: strings
 * and lists hold at most UINT32_MAX - 1 bytes / items (value.h). */
#define MEM_BLOCK_MAX ((uint64_t)UINT32_MAX - 1)

/* Can a result that needs one new block of [bytes] bytes be built? False
 * when it exceeds MEM_BLOCK_MAX or, under a limit, the limit on its own:
 * the caller then fails with err_memory() before allocating. */
bool mem_fits(Vm *vm, uint64_t bytes);

/* The run cannot go on (a size past every bound, an allocation that
 * failed): fail it with the uncatchable memory error at the next safe
 * point, whatever the limit. Idempotent; the caller carries on with
 * whatever it can do without the memory. */
void mem_doom(Vm *vm);

/* Allocate an object of [size] bytes with header type [type] and link it
 * into the heap. Contents past the header are zeroed. */
Obj *gc_alloc_obj(Vm *vm, size_t size, ObjType type);

/* gc_alloc_obj that returns NULL (the run doomed) when malloc fails. */
Obj *gc_try_alloc_obj(Vm *vm, size_t size, ObjType type);

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
