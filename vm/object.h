/*
 * object.h: constructors and primitive operations on Harn values.
 *
 * Implemented in object.c (constructors, strings, lists, dicts, sets),
 * display.c (display format, type names, equality, ordering, JSON-ish
 * float printing) and ops.c (the language's operators with their exact
 * error texts). All functions that can fail return bool and, on failure,
 * have set the VM error with err_*() (error.h).
 *
 * Everything returned is a fresh or shared immutable object: callers must
 * not mutate what these functions return unless the contract says it is a
 * fresh builder (the *_new and *_copy functions), and must stop mutating a
 * builder once it has been stored anywhere the program can see.
 */
#ifndef HARN_OBJECT_H
#define HARN_OBJECT_H

#include "base/buf.h"
#include "value.h"

/* ---- strings (object.c) ---------------------------------------------- */

/* Copy [len] bytes of UTF-8 from [s] into a new string. Invalid UTF-8 is
 * accepted; each maximal subpart of an ill-formed sequence counts as one
 * character (base/utf8.h). A text longer than
 * a string can hold (MEM_BLOCK_MAX), or one there is no memory for, gives
 * an empty string and dooms the run (gc.h): callers building text from
 * program data check sizes first (mem_fits). */
ObjString *str_new(Vm *vm, const char *s, size_t len);
ObjString *str_cstr(Vm *vm, const char *s);
/* Take a Buf's contents as a new string (the Buf is emptied). */
ObjString *str_from_buf(Vm *vm, Buf *b);
ObjString *str_printf(Vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ObjString *str_concat(Vm *vm, ObjString *a, ObjString *b);
uint32_t str_hash(ObjString *s);
/* The VM's canonical (interned) string with the [len] bytes at [s],
 * created on first use. Interned strings compare equal by pointer; the
 * table is weak (gc.c drops entries whose string is collected), so an
 * interned string lives only as long as something references it. */
ObjString *str_intern(Vm *vm, const char *s, size_t len);
ObjString *str_intern_cstr(Vm *vm, const char *s);
/* The canonical string equal to [s]: an existing interned one, or [s]
 * itself, which becomes canonical ([s] must be finished and immutable). */
ObjString *str_intern_obj(Vm *vm, ObjString *s);
/* A new string of [len] bytes (at most MEM_BLOCK_MAX, gc.h) to be filled
 * by the caller (chars[len] is already 0), then finished with str_seal()
 * before anyone else sees it; NULL, the run doomed (gc.h), when there is
 * no memory for a long one. */
ObjString *str_alloc(Vm *vm, size_t len);
/* Compute nchars/ascii of a str_alloc'd string; [ascii]: the caller knows
 * every byte is < 0x80 (skips the scan). */
void str_seal(ObjString *s, bool ascii);
bool str_eq(const ObjString *a, const ObjString *b);
/* Byte-order comparison: <0, 0, >0. */
int str_cmp(const ObjString *a, const ObjString *b);
/* Byte offset of character index [ci] (0 <= ci <= nchars). */
size_t str_byte_offset(const ObjString *s, int64_t ci);
/* Substring by character indices [from, to), already clamped by caller. */
ObjString *str_sub(Vm *vm, ObjString *s, int64_t from, int64_t to);

/* ---- lists ------------------------------------------------------------ */

/* A new empty list with room for [cap] items (a builder). */
ObjList *list_new(Vm *vm, uint32_t cap);
/* Append to a builder. */
void list_push(Vm *vm, ObjList *l, Value v);
ObjList *list_copy(Vm *vm, ObjList *l);

/* ---- dicts ------------------------------------------------------------ */

ObjDict *dict_new(Vm *vm, uint32_t cap);
ObjDict *dict_copy(Vm *vm, ObjDict *d);
/* [d] as a list of {key, value} dicts, in key order (entries(d), d.entries()). */
ObjList *dict_entries(Vm *vm, const ObjDict *d);
/* Lookup; returns false when absent. */
bool dict_get(ObjDict *d, ObjString *key, Value *out);
bool dict_get_cstr(ObjDict *d, const char *key, Value *out);
/* Position of [key] in d->entries: true with *pos = its index, or false
 * with *pos = where it would be inserted (inline caches remember it). */
bool dict_lookup(const ObjDict *d, const ObjString *key, uint32_t *pos);
/* Insert or replace on a builder (keeps keys sorted). */
void dict_set(Vm *vm, ObjDict *d, ObjString *key, Value v);
void dict_set_cstr(Vm *vm, ObjDict *d, const char *key, Value v);
/* Remove on a builder; returns whether the key was present. */
bool dict_remove(ObjDict *d, ObjString *key);

/* ---- sets ------------------------------------------------------------- */

ObjSet *set_new(Vm *vm, uint32_t cap);
ObjSet *set_copy(Vm *vm, ObjSet *s);
bool set_has(ObjSet *s, Value v);
/* Structural hash consistent with val_equal (equal values hash equally),
 * bounded in depth and, for values that share parts, in work. */
uint32_t val_hash(Value v);
/* Add to a builder unless an equal value is present. */
void set_add(Vm *vm, ObjSet *s, Value v);

/* ---- other objects ------------------------------------------------------ */

ObjRange *range_new(Vm *vm, int64_t start, int64_t end, bool exclusive);
/* Number of ints in the range (0 when empty). */
int64_t range_len(const ObjRange *r);
ObjPair *pair_new(Vm *vm, Value a, Value b);
ObjEnum *enum_new(Vm *vm, ObjString *enum_name, ObjString *variant, uint32_t nfields);
/* Result.Ok(v) / Result.Err(v). */
Value enum_ok(Vm *vm, Value v);
Value enum_err(Vm *vm, Value v);
/* Is [v] Result.Ok / Result.Err? */
bool is_result_ok(Value v);
bool is_result_err(Value v);
ObjEnumType *enum_type_new(Vm *vm, ObjString *name, uint32_t nvariants);
ObjStruct *struct_new(Vm *vm, ObjStructType *type, ObjString *name, ObjDict *fields);
ObjStructType *struct_type_new(Vm *vm, ObjString *name, uint32_t nfields);
ObjFunction *function_new(Vm *vm);
ObjClosure *closure_new(Vm *vm, ObjFunction *fn, Value module);
ObjBound *bound_new(Vm *vm, Value receiver, Value method);
ObjIter *iter_new(Vm *vm, const IterVtbl *vt, Value src);
ObjNative *native_new(Vm *vm, const NativeVtbl *vt, void *data, size_t size);

/* Chunk building (compiler). */
void chunk_write(Vm *vm, Chunk *c, uint8_t byte, int line, int col);
/* Add a constant, reusing an equal string/number constant; returns its index. */
uint32_t chunk_add_const(Vm *vm, Chunk *c, Value v);
void chunk_free(Vm *vm, Chunk *c);

/* ---- display, types, equality, ordering (display.c) ------------------- */

/* Append the display form of [v] (docs/LANGUAGE.md section 4) to [out]. */
void val_display(Vm *vm, Value v, Buf *out);
/* The display form as a new string (strings are returned as is). */
ObjString *val_to_string(Vm *vm, Value v);
/* The displays of the [n] values at [parts] concatenated, as one new
 * string (string interpolation). Strings and ints are formatted straight
 * into the result, other kinds through a Buf. */
ObjString *val_concat_display(Vm *vm, const Value *parts, int n);
/* Shortest round-trip positional float text, as in display: "3.0", "0.1",
 * "100000000000000000000", "NaN", "inf". [json] drops the forced ".0". */
void fmt_float(double x, bool json, Buf *out);
/* Duration display: 500ms, 5s, 2m, 24h. */
void fmt_duration(int64_t ms, Buf *out);
/* type_of name: "int", "list", "closure", ... */
const char *val_type_name(Value v);
bool val_truthy(Value v);
/* Structural equality (docs/LANGUAGE.md 5.3), exact at any depth (an explicit
 * stack, not the C stack) and linear in the distinct parts of values that
 * share them. The one approximation: sets whose items collide in val_hash
 * are matched by nested comparisons, and past SET_NEST_MAX such nested
 * set levels the sets compare unequal. */
bool val_equal(Value a, Value b);
/* Ordering (docs/LANGUAGE.md 5.3): <0, 0, >0; incomparable pairs give 0. Pairs
 * nest to any depth (explicit stack). */
int val_compare(Value a, Value b);

/* ---- operators (ops.c), each with the exact error text ----------------- */

bool op_add(Vm *vm, Value a, Value b, Value *out);
bool op_sub(Vm *vm, Value a, Value b, Value *out);
bool op_mul(Vm *vm, Value a, Value b, Value *out);
bool op_div(Vm *vm, Value a, Value b, Value *out);
bool op_mod(Vm *vm, Value a, Value b, Value *out);
bool op_pow(Vm *vm, Value a, Value b, Value *out);
bool op_neg(Vm *vm, Value a, Value *out);
/* `a in b` (docs/LANGUAGE.md 5.4). */
bool op_in(Vm *vm, Value a, Value b);
/* x[i], x?[i] (5.6). */
bool op_index(Vm *vm, Value x, Value i, Value *out);
/* x[a:b]; [a]/[b] are nil when omitted. */
bool op_slice(Vm *vm, Value x, Value a, Value b, Value *out);
/* x.name (5.6); [optional] for ?. (missing property gives nil). */
bool op_get_prop(Vm *vm, Value x, ObjString *name, bool optional, Value *out);
/* Property reads of a host object kind (the harness object,
 * docs/RUNTIME.md 8.1): sets *out (nil for an unknown name) and returns true, or
 * returns false with the VM error set. op_get_prop uses the reader
 * registered for the native's vtable; a method call x.name(args) on such a
 * native calls the property when it is callable. Natives without one have
 * no properties (reading one is a type error). */
typedef bool (*NativePropFn)(Vm *vm, ObjNative *n, ObjString *name, Value *out);
/* Register [fn] for natives of [vt] (idempotent; a handful at most). */
void op_native_props_register(const NativeVtbl *vt, NativePropFn fn);
/* The reader registered for [vt], or NULL. */
NativePropFn op_native_props(const NativeVtbl *vt);
/* x[i] = v: returns the updated copy of x in *out. */
bool op_set_index(Vm *vm, Value x, Value i, Value v, Value *out);
/* x.name = v: returns the updated copy of x in *out. */
bool op_set_prop(Vm *vm, Value x, ObjString *name, Value v, Value *out);

/* Copy-on-write forms used by the VM for a mutable local (value.h,
 * Obj.owned): same results and errors as op_set_index / op_set_prop, but an
 * owned [x] is updated in place and returned, and otherwise the updated
 * copy is returned owned. The caller must store *out back into the one
 * local slot [x] came from. */
bool op_set_index_own(Vm *vm, Value x, Value i, Value v, Value *out);
bool op_set_prop_own(Vm *vm, Value x, ObjString *name, Value v, Value *out);
/* `x = x.push(v)` for a list [x] from a mutable local: as op_set_index_own
 * (in place when owned, else an owned copy with room to grow). Returns
 * false, without error, when [x] is not a list (the caller then runs the
 * ordinary method call). */
bool op_push_own(Vm *vm, Value x, Value v, Value *out);

#endif
