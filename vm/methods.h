/*
 * methods.h: internal interface of the methods of the built-in kinds
 * (methods_string.c, methods_list.c, methods_dict.c) and of the lazy
 * iterator protocol (iter.c). Not part of the public VM interface.
 *
 * Dispatch. method_call() (builtins.h, defined in methods_dict.c) switches
 * on the receiver's kind and then looks the method name up in that kind's
 * table: an array of MethodDef sorted by name (byte order) searched with a
 * binary search. Aliases (upper/uppercase/to_upper, every/all...) are simply
 * several entries pointing at the same function. A name that is not in the
 * table gives nil, never an error (docs/LANGUAGE.md 11). Ranges look in their own
 * small table first and otherwise apply the method to iter(range).
 *
 * Value semantics. No method ever mutates its receiver or an argument: lists,
 * dicts and sets are built fresh (object.h builders) and published only when
 * complete.
 *
 * Callbacks. Methods taking a function (map, filter, sort_by...) call it only
 * through vm_call() (state.h). vm_call runs safe points, so the collector may
 * run during it: every object a method is building and still needs after
 * the call is protected with gc_push_root()/gc_pop_root() (gc.h). The
 * receiver and argv are rooted by the caller (they live on the VM stack). A
 * callback argument that is missing or not callable makes the method return
 * nil (any -> false, all -> true, find_index -> -1) as docs/LANGUAGE.md 11.2 says.
 *
 * Lazy iterators. An ObjIter (value.h) is a single-pass cursor with one
 * IterVtbl per stage kind. Sources (list, set, dict -> pairs, string ->
 * one-char strings, range, registered host objects) and adapters (map,
 * filter, take, zip, chunks...) are all ObjIters; adapters keep their
 * upstream iter in `src`. Once a stage reports exhaustion it is marked
 * `exhausted` and yields nothing more (display `<iter (exhausted)>`).
 */
#ifndef HARN_METHODS_H
#define HARN_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/utf8.h"
#include "value.h"

/* ---- method tables ------------------------------------------------------ */

/* One method of a built-in kind: [self] is the receiver, [argv] holds
 * [argc] arguments (rooted by the caller). Stores the result in *out and
 * returns true, or sets the VM error and returns false. */
typedef bool (*MethodFn)(Vm *vm, Value self, int argc, Value *argv, Value *out);

typedef struct MethodDef {
  const char *name;
  MethodFn fn;
} MethodDef;

/* The per-kind tables, each sorted by name (byte order) for meth_find(). */
extern const MethodDef meth_string_table[];
extern const size_t meth_string_count;
extern const MethodDef meth_list_table[];
extern const size_t meth_list_count;
extern const MethodDef meth_dict_table[];
extern const size_t meth_dict_count;
extern const MethodDef meth_set_table[];
extern const size_t meth_set_count;
extern const MethodDef meth_range_table[];
extern const size_t meth_range_count;
extern const MethodDef meth_pair_table[];
extern const size_t meth_pair_count;
extern const MethodDef iter_method_table[];
extern const size_t iter_method_count;

/* Binary search of [name] in [tbl] ([n] entries sorted by name); NULL when
 * absent. Names containing NUL bytes never match. */
const MethodDef *meth_find(const MethodDef *tbl, size_t n, const ObjString *name);
/* Is [tbl] strictly sorted by name? (checked by the unit tests) */
bool meth_table_sorted(const MethodDef *tbl, size_t n);

/* ---- helpers shared by the method files --------------------------------- */

/* Argument [i], or nil when fewer were passed. */
static inline Value meth_arg(int argc, Value *argv, int i)
{
  return i < argc ? argv[i] : val_nil();
}

/* gc_push_root() that fails softly: when the temp-root stack (gc.h) is
 * nearly full -- callbacks nested hundreds deep, e.g. a recursive function
 * calling itself through xs.map() -- it sets the stack-overflow error and
 * returns false instead of aborting the process. */
bool meth_push_root(Vm *vm, Value v);

/* Length in bytes of the character starting at byte [i] of [s] ([len]
 * bytes): base/utf8.h's rule, the one str_new counts with (object.c), so
 * indices computed with it agree with ObjString.nchars. */
static inline size_t meth_char_len(const char *s, size_t len, size_t i)
{
  return utf8_char_len(s + i, len - i);
}

/* Integer value of an int or (truncated) float argument into *out; false
 * for every other kind. */
bool meth_to_int(Value v, int64_t *out);

/* Results the program sizes. Before building [items] objects of about
 * [per_item] bytes each (from a count or size the program chose, or many
 * objects from a compact receiver: chars, split, enumerate...), a method
 * checks meth_fits: false with the memory error (err_memory) when the
 * result could not fit (gc.h mem_fits). METH_LIST_BYTES(n) / METH_DICT_BYTES(n)
 * are the sizes of a list / dict of n items. */
bool meth_fits(Vm *vm, uint64_t items, uint64_t per_item);
#define METH_LIST_BYTES(n) (sizeof(ObjList) + (n) * sizeof(Value) + sizeof(Value))
#define METH_DICT_BYTES(n) (sizeof(ObjDict) + (n) * (sizeof(DictEntry) + sizeof(ObjString) + 8) + sizeof(Value))

/* Long loops. A C loop whose length the program chooses (draining an
 * iter, skipping, building a window, searching a huge range) calls
 * meth_poll once per item. Every METH_POLL_EVERY items, meth_tick counts
 * that many instructions against VmConfig.max_instructions and runs the
 * interpreter's safe point (interp_safe_point): the collector, the memory
 * limit, host cancellation, deadlines. So a loop in C can be stopped like
 * one in bytecode, and the memory it allocates is bounded by the limit.
 * False with the error set when the loop must stop. The safe point may
 * collect: what the loop holds must be rooted at each call. */
#define METH_POLL_EVERY 1024
bool meth_tick(Vm *vm, uint64_t work);
static inline bool meth_poll(Vm *vm, uint32_t *ticks)
{
  if (++*ticks < METH_POLL_EVERY) return true;
  *ticks = 0;
  return meth_tick(vm, METH_POLL_EVERY);
}

/* Call [f] with one / two arguments through vm_call. */
bool meth_call1(Vm *vm, Value f, Value a, Value *out);
bool meth_call2(Vm *vm, Value f, Value a, Value b, Value *out);

/* Stable sort of [n] values in place. With [cmp] nil the order is
 * val_compare (docs/LANGUAGE.md 5.3); otherwise [cmp] is a comparator callback
 * f(a, b) returning a number (< 0: a first) or a bool (true: a strictly
 * before b). Every value in [items] must be reachable from a GC root the
 * caller holds (the comparator may trigger a collection). False with the
 * VM error set if the comparator failed. */
bool meth_sort_values(Vm *vm, Value *items, size_t n, Value cmp);

/* ---- lazy iterators (iter.c) -------------------------------------------- */

/* The `iter(x)` builtin: a lazy iter over [x] (list, set, dict -> pairs
 * (key, value) in key order, string -> one-char strings, range, an iter
 * (returned as is), or a host object registered with iter_register_native).
 * Anything else: false with `Type error: iter: value of type T is not
 * iterable`. */
bool iter_from(Vm *vm, Value x, Value *out_iter);

/* Pull the next item of [iter] (an ObjIter value) into *out: 1 item, 0
 * exhausted (the iter is then marked exhausted and stays so), -1 error (VM
 * error set; the iter is left as it was). */
int iter_next(Vm *vm, Value iter, Value *out);

/* For generators, streams and channels (host object kinds): register the pull
 * function of a host object kind. iter_from() on an ObjNative whose vtable
 * is [vt] then gives an iter whose items come from [next] (same 1/0/-1
 * contract as iter_next), and `x.iter()` on it works too. Returns false
 * when the registry (a few slots) is full. Call once at start-up. */
typedef int (*IterNativeNext)(Vm *vm, ObjNative *n, Value *out);
bool iter_register_native(const NativeVtbl *vt, IterNativeNext next);

/* Is [x] something iter_from accepts? */
bool iter_accepts(Value x);

#endif
