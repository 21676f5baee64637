/*
 * gc.c: memory accounting (mem_realloc) and the mark-and-sweep collector.
 *
 * Accounting. Every block of Harn heap memory goes through mem_realloc(),
 * which adjusts vm->heap.bytes by (newsize - oldsize) and keeps the peak
 * (gc_alloc_obj and the sweep's string case do the same accounting inline).
 * Callers must pass the size they allocated as [oldsize] when growing,
 * shrinking or freeing; the sweep below frees every object with the exact
 * size it was allocated with (see obj_size()), so after gc_free_all() the
 * byte count is back to what non-object allocations still hold.
 *
 * The allocator never collects. Passing `next_gc` sets `gc_pending`; passing
 * `limit` (when non-zero) sets `over_limit` (and `gc_pending`, so that the
 * interpreter's next safe point gets a chance to collect first). A collection
 * recomputes `over_limit` from the surviving bytes, which is the "emergency
 * collection" of gc.h: an interpreter that collects at the safe point before
 * checking `over_limit` only fails when live data really exceeds the limit.
 * `stress` makes every growing allocation set `gc_pending`. mem_account
 * counts memory held elsewhere (fibers, task output) the same way.
 *
 * Failure (gc.h "Allocation failure"): a doomed heap keeps `over_limit` and
 * `gc_pending` set through collections, so the next safe point raises the
 * memory error whatever the limit. The reserve is allocated (plain malloc,
 * uncounted) at the end of a collection when missing, and given back by
 * alloc_failed before it retries; mem_try_realloc and gc_try_alloc_obj
 * return NULL instead of retrying (the caller copes, the run is doomed).
 *
 * Collection. Roots are vm_mark_roots() (interpreter state), the temp-root
 * stack, the pending error value (vm->err_value) and the channels holding
 * undelivered messages (chan_mark_backlog, channel.c). Marking sets the
 * header's `marked` bit and pushes the object on the gray stack (plain
 * malloc, never accounted, so that marking cannot change the accounting);
 * leaf objects (strings, ranges) are not pushed. Blackening traces every
 * child of each object kind of value.h. The sweep walks the all-objects list,
 * frees unmarked objects (calling the native finalizer first) and clears the
 * mark on survivors. Afterwards next_gc = max(2 * bytes, GC_MIN_HEAP).
 * The intern table (object.c str_intern) is weak: between marking and the
 * sweep, its entries for unmarked strings become tombstones.
 *
 * Ownership of the arrays hanging off objects (all freed here, with sizes
 * derived from the object's own counts, so the code that fills them must
 * allocate them with mem_alloc and exactly these sizes):
 *  - ObjList/ObjSet items: cap Values; ObjSet index: icap uint32s;
 *    ObjDict entries: cap DictEntries, ObjDict index: icap uint32s.
 *  - ObjEnumType: variants (nvariants pointers), arity (nvariants uint32),
 *    fieldnames (nvariants pointers), and each fieldnames[i] (arity[i]
 *    pointers, may be NULL).
 *  - ObjStructType fields: nfields pointers.
 *  - ObjFunction param_names/param_types: nparams entries (may be NULL);
 *    the chunk through chunk_free(). `debug` is the compiler's business.
 *  - ObjNative: the finalizer releases `data`; the GC frees only the object.
 *    Finalizers run during the sweep, when other unreachable objects may
 *    already be gone: they must not touch any other heap object.
 */
#include "gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "sched.h"
#include "state.h"

/* ---- allocation ------------------------------------------------------- */

static __attribute__((noreturn)) void out_of_memory(size_t n)
{
  fprintf(stderr, "harn: out of memory (allocating %zu bytes)\n", n);
  abort();
}

/* The emergency reserve: enough for the run to reach its next safe point
 * and report the memory error (trace, texts) after malloc failed once. */
#define MEM_RESERVE (1u << 20)

void mem_doom(Vm *vm)
{
  Heap *h = &vm->heap;
  h->doomed = true;
  h->over_limit = true;
  h->gc_pending = true;
}

bool mem_fits(Vm *vm, uint64_t bytes)
{
  if (bytes > MEM_BLOCK_MAX) return false;
  return vm->heap.limit == 0 || bytes <= vm->heap.limit;
}

/* malloc (p NULL) or realloc failed for [newsize] bytes: give the reserve
 * back, doom the run (gc.h) and try once more. */
static __attribute__((noinline)) void *alloc_failed(Vm *vm, void *p, size_t newsize)
{
  if (!vm) out_of_memory(newsize);
  mem_doom(vm);
  free(vm->heap.reserve);
  vm->heap.reserve = NULL;
  void *q = p ? realloc(p, newsize) : malloc(newsize);
  if (!q) out_of_memory(newsize);
  return q;
}

/* Take the growth from [oldsize] to [newsize] into the counters. */
static inline void account(Heap *h, size_t oldsize, size_t newsize)
{
  if (h->next_gc == 0) h->next_gc = GC_MIN_HEAP;
  /* Guard against a caller passing a wrong old size: never wrap. */
  if (oldsize > h->bytes) h->bytes = 0;
  else h->bytes -= oldsize;
  h->bytes += newsize;
  if (newsize > oldsize) {
    if (h->bytes > h->peak) h->peak = h->bytes;
    if (h->bytes > h->next_gc || h->stress) h->gc_pending = true;
    if (h->limit != 0 && h->bytes > h->limit) {
      h->over_limit = true;
      h->gc_pending = true;
    }
  }
}

void mem_account(Vm *vm, size_t oldsize, size_t newsize) { account(&vm->heap, oldsize, newsize); }

void *mem_realloc(Vm *vm, void *p, size_t oldsize, size_t newsize)
{
  if (vm) account(&vm->heap, oldsize, newsize);
  if (newsize == 0) {
    free(p);
    return NULL;
  }
  /* a fresh block through malloc: jemalloc's realloc(NULL, n) takes a
   * longer path than its malloc fast path (most calls are new objects) */
  void *q = p ? realloc(p, newsize) : malloc(newsize);
  if (!q) q = alloc_failed(vm, p, newsize);
  return q;
}

void *mem_try_realloc(Vm *vm, void *p, size_t oldsize, size_t newsize)
{
  void *q = p ? realloc(p, newsize) : malloc(newsize);
  if (!q) {
    mem_doom(vm);
    return NULL;
  }
  account(&vm->heap, oldsize, newsize);
  return q;
}

/* malloc, out of line: inlined next to the memset below, GCC turns the
 * pair into calloc, which is slower than jemalloc's malloc fast path. */
static __attribute__((noinline)) void *obj_malloc(Vm *vm, size_t size)
{
  void *p = malloc(size);
  if (!p) p = alloc_failed(vm, NULL, size);
  return p;
}

/* Link a fresh block [o] of [size] bytes into the heap as an object
 * (always inlined: gc_alloc_obj is the allocation fast path). */
static inline __attribute__((always_inline)) Obj *link_obj(Vm *vm, Obj *o, size_t size, ObjType type)
{
  /* a string's constructor (object.c) writes every byte of its chars and
   * the NUL: only the header needs zeroing (a constant-size memset) */
  if (type == OBJ_STRING) memset(o, 0, sizeof(ObjString));
  else memset(o, 0, size);
  o->type = type;
  o->marked = false;
  o->next = vm->heap.objects;
  vm->heap.objects = o;
  return o;
}

Obj *gc_try_alloc_obj(Vm *vm, size_t size, ObjType type)
{
  Obj *o = malloc(size);
  if (!o) {
    mem_doom(vm);
    return NULL;
  }
  account(&vm->heap, 0, size);
  return link_obj(vm, o, size, type);
}

Obj *gc_alloc_obj(Vm *vm, size_t size, ObjType type)
{
  /* mem_realloc(vm, NULL, 0, size) inline (one call per object) */
  Heap *h = &vm->heap;
  if (h->next_gc == 0) h->next_gc = GC_MIN_HEAP;
  h->bytes += size;
  if (h->bytes > h->peak) h->peak = h->bytes;
  if (h->bytes > h->next_gc || h->stress) h->gc_pending = true;
  if (h->limit != 0 && h->bytes > h->limit) {
    h->over_limit = true;
    h->gc_pending = true;
  }
  return link_obj(vm, obj_malloc(vm, size), size, type);
}

/* ---- freeing ------------------------------------------------------------ */

/* The size an object was allocated with (see the constructors in object.c). */
static size_t obj_size(Obj *o)
{
  switch (o->type) {
  case OBJ_STRING: return sizeof(ObjString) + ((ObjString *)o)->len + 1;
  case OBJ_LIST: return sizeof(ObjList);
  case OBJ_DICT: return sizeof(ObjDict);
  case OBJ_SET: return sizeof(ObjSet);
  case OBJ_RANGE: return sizeof(ObjRange);
  case OBJ_ENUM: return sizeof(ObjEnum) + ((ObjEnum *)o)->nfields * sizeof(Value);
  case OBJ_ENUM_TYPE: return sizeof(ObjEnumType);
  case OBJ_STRUCT: return sizeof(ObjStruct);
  case OBJ_STRUCT_TYPE: return sizeof(ObjStructType);
  case OBJ_PAIR: return sizeof(ObjPair);
  case OBJ_FUNCTION: return sizeof(ObjFunction);
  case OBJ_CLOSURE: return sizeof(ObjClosure) + ((ObjClosure *)o)->ncaptures * sizeof(Value);
  case OBJ_BOUND: return sizeof(ObjBound);
  case OBJ_ITER: return sizeof(ObjIter);
  case OBJ_NATIVE: return sizeof(ObjNative);
  }
  return 0;
}

/* Free [o] and every array it owns; returns the bytes released. */
static size_t free_obj(Vm *vm, Obj *o)
{
  size_t before = vm->heap.bytes;
  switch (o->type) {
  case OBJ_LIST: {
    ObjList *l = (ObjList *)o;
    mem_free(vm, l->items, l->cap * sizeof(Value));
    break;
  }
  case OBJ_DICT: {
    ObjDict *d = (ObjDict *)o;
    mem_free(vm, d->entries, d->cap * sizeof(DictEntry));
    mem_free(vm, d->index, d->icap * sizeof(uint32_t));
    break;
  }
  case OBJ_SET: {
    ObjSet *s = (ObjSet *)o;
    mem_free(vm, s->items, s->cap * sizeof(Value));
    mem_free(vm, s->index, s->icap * sizeof(uint32_t));
    break;
  }
  case OBJ_ENUM_TYPE: {
    ObjEnumType *t = (ObjEnumType *)o;
    if (t->fieldnames) {
      for (uint32_t i = 0; i < t->nvariants; i++)
        if (t->fieldnames[i])
          mem_free(vm, t->fieldnames[i], (t->arity ? t->arity[i] : 0) * sizeof(ObjString *));
    }
    mem_free(vm, t->fieldnames, t->nvariants * sizeof(ObjString **));
    mem_free(vm, t->variants, t->nvariants * sizeof(ObjString *));
    mem_free(vm, t->arity, t->nvariants * sizeof(uint32_t));
    break;
  }
  case OBJ_STRUCT_TYPE: {
    ObjStructType *t = (ObjStructType *)o;
    mem_free(vm, t->fields, t->nfields * sizeof(ObjString *));
    break;
  }
  case OBJ_FUNCTION: {
    ObjFunction *f = (ObjFunction *)o;
    mem_free(vm, f->param_names, f->nparams * sizeof(ObjString *));
    if (f->param_types) mem_free(vm, f->param_types, f->nparams * sizeof(Value));
    chunk_free(vm, &f->chunk);
    break;
  }
  case OBJ_NATIVE: {
    ObjNative *n = (ObjNative *)o;
    if (n->vt && n->vt->finalize) n->vt->finalize(vm, n);
    break;
  }
  default:
    break;
  }
  mem_free(vm, o, obj_size(o));
  return before > vm->heap.bytes ? before - vm->heap.bytes : 0;
}

/* ---- marking ------------------------------------------------------------ */

void gc_mark_obj(Vm *vm, Obj *o)
{
  if (!o || o->marked) return;
  o->marked = true;
  /* Leaves have nothing to trace: skip the gray stack. */
  if (o->type == OBJ_STRING || o->type == OBJ_RANGE) return;
  Heap *h = &vm->heap;
  if (h->ngray == h->graycap) {
    size_t cap = h->graycap ? h->graycap * 2 : 256;
    Obj **g = realloc(h->gray, cap * sizeof(Obj *));
    if (!g) g = alloc_failed(vm, h->gray, cap * sizeof(Obj *));
    h->gray = g;
    h->graycap = cap;
  }
  h->gray[h->ngray++] = o;
}

void gc_mark_value(Vm *vm, Value v)
{
  if (IS_OBJ(v)) gc_mark_obj(vm, AS_OBJ(v));
}

static void mark_values(Vm *vm, const Value *vs, size_t n)
{
  if (!vs) return;
  for (size_t i = 0; i < n; i++) gc_mark_value(vm, vs[i]);
}

static void blacken(Vm *vm, Obj *o)
{
  switch (o->type) {
  case OBJ_STRING:
  case OBJ_RANGE:
    break;
  case OBJ_LIST: {
    ObjList *l = (ObjList *)o;
    mark_values(vm, l->items, l->count);
    break;
  }
  case OBJ_DICT: {
    ObjDict *d = (ObjDict *)o;
    for (uint32_t i = 0; i < d->count; i++) {
      gc_mark_obj(vm, (Obj *)d->entries[i].key);
      gc_mark_value(vm, d->entries[i].value);
    }
    break;
  }
  case OBJ_SET: {
    ObjSet *s = (ObjSet *)o;
    mark_values(vm, s->items, s->count);
    break;
  }
  case OBJ_PAIR: {
    ObjPair *p = (ObjPair *)o;
    gc_mark_value(vm, p->first);
    gc_mark_value(vm, p->second);
    break;
  }
  case OBJ_ENUM: {
    ObjEnum *e = (ObjEnum *)o;
    gc_mark_obj(vm, (Obj *)e->enum_name);
    gc_mark_obj(vm, (Obj *)e->variant);
    mark_values(vm, e->fields, e->nfields);
    break;
  }
  case OBJ_ENUM_TYPE: {
    ObjEnumType *t = (ObjEnumType *)o;
    gc_mark_obj(vm, (Obj *)t->name);
    for (uint32_t i = 0; i < t->nvariants; i++) {
      if (t->variants) gc_mark_obj(vm, (Obj *)t->variants[i]);
      if (t->fieldnames && t->fieldnames[i] && t->arity)
        for (uint32_t j = 0; j < t->arity[i]; j++)
          gc_mark_obj(vm, (Obj *)t->fieldnames[i][j]);
    }
    break;
  }
  case OBJ_STRUCT: {
    ObjStruct *s = (ObjStruct *)o;
    gc_mark_obj(vm, (Obj *)s->type);
    gc_mark_obj(vm, (Obj *)s->name);
    gc_mark_obj(vm, (Obj *)s->fields);
    break;
  }
  case OBJ_STRUCT_TYPE: {
    ObjStructType *t = (ObjStructType *)o;
    gc_mark_obj(vm, (Obj *)t->name);
    if (t->fields)
      for (uint32_t i = 0; i < t->nfields; i++) gc_mark_obj(vm, (Obj *)t->fields[i]);
    gc_mark_obj(vm, (Obj *)t->methods);
    break;
  }
  case OBJ_FUNCTION: {
    ObjFunction *f = (ObjFunction *)o;
    gc_mark_obj(vm, (Obj *)f->name);
    gc_mark_obj(vm, (Obj *)f->file);
    if (f->param_names)
      for (uint16_t i = 0; i < f->nparams; i++) gc_mark_obj(vm, (Obj *)f->param_names[i]);
    mark_values(vm, f->param_types, f->nparams);
    mark_values(vm, f->chunk.consts, f->chunk.nconsts);
    break;
  }
  case OBJ_CLOSURE: {
    ObjClosure *c = (ObjClosure *)o;
    gc_mark_obj(vm, (Obj *)c->fn);
    gc_mark_value(vm, c->module);
    mark_values(vm, c->captures, c->ncaptures);
    break;
  }
  case OBJ_BOUND: {
    ObjBound *b = (ObjBound *)o;
    gc_mark_value(vm, b->receiver);
    gc_mark_value(vm, b->method);
    break;
  }
  case OBJ_ITER: {
    ObjIter *it = (ObjIter *)o;
    gc_mark_value(vm, it->src);
    gc_mark_value(vm, it->fn);
    gc_mark_value(vm, it->aux);
    if (it->vt && it->vt->mark) it->vt->mark(vm, it);
    break;
  }
  case OBJ_NATIVE: {
    ObjNative *n = (ObjNative *)o;
    if (n->vt && n->vt->mark) n->vt->mark(vm, n);
    break;
  }
  }
}

/* ---- collection --------------------------------------------------------- */

void gc_collect(Vm *vm)
{
  Heap *h = &vm->heap;

  vm_mark_roots(vm);
  for (int i = 0; i < h->ntemp; i++) gc_mark_value(vm, h->temp_roots[i]);
  gc_mark_value(vm, vm->err_value);
  chan_mark_backlog(vm);

  while (h->ngray > 0) {
    Obj *o = h->gray[--h->ngray];
    blacken(vm, o);
  }

  /* The intern table is weak: forget the strings about to be freed. */
  for (uint32_t i = 0; i < h->icap; i++) {
    ObjString *s = h->itab[i];
    if (s && s != GC_INTERN_TOMB && !s->obj.marked) {
      h->itab[i] = GC_INTERN_TOMB;
      h->icount--;
      h->itomb++;
    }
  }

  size_t freed = 0;
  Obj **link = &h->objects;
  while (*link) {
    Obj *o = *link;
    if (o->marked) {
      o->marked = false;
      link = &o->next;
    } else {
      *link = o->next;
      if (o->type == OBJ_STRING) {
        /* the common garbage, inline: what free_obj + mem_free do for a
         * string (it owns no array) */
        size_t n = sizeof(ObjString) + ((ObjString *)o)->len + 1;
        if (n > h->bytes) n = h->bytes;
        h->bytes -= n;
        freed += n;
        free(o);
      } else {
        freed += free_obj(vm, o);
      }
    }
  }

  h->collections++;
  h->freed_total += freed;
  h->next_gc = h->bytes * 2 > GC_MIN_HEAP ? h->bytes * 2 : GC_MIN_HEAP;
  /* a doomed run stays over (and keeps asking for the safe point that
   * raises its error) */
  h->gc_pending = h->doomed;
  h->over_limit = h->doomed || (h->limit != 0 && h->bytes > h->limit);
  if (!h->reserve && !h->doomed) h->reserve = malloc(MEM_RESERVE);
}

void gc_push_root(Vm *vm, Value v)
{
  Heap *h = &vm->heap;
  if (h->ntemp >= GC_MAX_TEMP_ROOTS) {
    fputs("harn: internal error: too many GC temp roots\n", stderr);
    abort();
  }
  h->temp_roots[h->ntemp++] = v;
}

void gc_pop_root(Vm *vm)
{
  if (vm->heap.ntemp > 0) vm->heap.ntemp--;
}

void gc_free_all(Vm *vm)
{
  Heap *h = &vm->heap;
  Obj *o = h->objects;
  while (o) {
    Obj *next = o->next;
    free_obj(vm, o);
    o = next;
  }
  h->objects = NULL;
  free(h->itab);
  h->itab = NULL;
  h->icap = h->icount = h->itomb = 0;
  free(h->gray);
  h->gray = NULL;
  h->ngray = h->graycap = 0;
  h->ntemp = 0;
  free(h->reserve);
  h->reserve = NULL;
}
