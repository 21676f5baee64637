/*
 * value.h: the representation of every Harn value inside the VM.
 *
 * A Value is a 16-byte tagged struct (Lua's TValue, not NaN boxing: easy to
 * debug, and every access goes through the macros below so the layout can
 * change later without touching callers). Immediate kinds (nil, bool, int,
 * float, duration, builtin) live in the Value itself; everything else is a
 * pointer to a heap object that starts with an `Obj` header and is owned by
 * the garbage collector (gc.h).
 *
 * Ownership rules (jq style):
 *  - Values are copied freely; copying never allocates and never changes
 *    reference counts (there are none: the GC traces).
 *  - Harn lists, dicts and structs have value semantics. The VM implements
 *    them by never mutating an object that another place may still see:
 *    operations that "modify" (push, x[i] = v, x.f = v) build a new object.
 *    The only in-place mutations allowed are on objects that were created by
 *    the current operation and not yet published (builders), and on
 *    "owned" objects (next point).
 *  - Copy-on-write for locals (Obj.owned). Invariant: an object whose
 *    `owned` flag is set is referenced from exactly one place, one local
 *    slot of one frame (plus, transiently, the operand stack of the
 *    instruction sequence that updates or reads it, see below), and
 *    nothing else references its internals (items, entries, a struct's
 *    fields dict). Every object is created with the flag clear (gc_alloc_obj
 *    zeroes it), so C code that builds, stores or copies values never has to
 *    think about it. Only the VM sets it: SET_INDEX_OWN / SET_PROP_OWN /
 *    PUSH_OWN (interp.c), which the compiler emits only as
 *    `GET_LOCAL_BORROW s; ...; <op>_OWN; SET_LOCAL s` for a mutable local s,
 *    mutate an owned receiver in place, else update a copy and mark the copy
 *    owned. Every read through which a reference can leave the slot clears
 *    the flag first (val_share): GET_LOCAL, CLOSURE's captures of slots,
 *    and any future instruction that reads a slot. GET_LOCAL_BORROW does not:
 *    the compiler emits it only for a consumer that cannot keep the
 *    container (GET_INDEX, GET_PROP, the *_OWN updates), with operands in
 *    between that cannot assign to the slot (compiler.c `no_assign`).
 *    Elements of containers are never owned (values reach a container only
 *    through the operand stack, where no owned object is left standing).
 *  - The collector runs only at interpreter safe points (calls and backward
 *    jumps, see gc.h), never inside an allocation. A C function that calls
 *    back into the VM (vm_call) while holding heap objects in C locals must
 *    protect them with gc_push_root()/gc_pop_root().
 *
 * Strings are immutable UTF-8 with a cached character count; lengths and
 * indices at the language level count characters (code points).
 */
#ifndef HARN_VALUE_H
#define HARN_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct Vm Vm;

typedef enum {
  VAL_NIL,
  VAL_BOOL,
  VAL_INT,
  VAL_FLOAT,
  VAL_DURATION, /* milliseconds in as.i */
  VAL_BUILTIN,  /* index into the builtin table (builtins.h) in as.i */
  VAL_OBJ
} ValueType;

typedef struct Obj Obj;

typedef struct Value {
  ValueType type;
  union {
    bool b;
    int64_t i;
    double f;
    Obj *o;
  } as;
} Value;

/* Heap object kinds. NOTE: when adding a kind, update gc.c (mark, free),
 * display.c (display, type name, equality) and this list. */
typedef enum {
  OBJ_STRING,
  OBJ_LIST,
  OBJ_DICT,
  OBJ_SET,
  OBJ_RANGE,
  OBJ_ENUM,      /* enum variant value, including Result.Ok/Err */
  OBJ_ENUM_TYPE, /* the enum itself, as bound to its name (E in E.V) */
  OBJ_STRUCT,    /* struct instance */
  OBJ_STRUCT_TYPE,
  OBJ_PAIR,
  OBJ_FUNCTION,  /* compiled function prototype (not a user-visible value) */
  OBJ_CLOSURE,
  OBJ_BOUND,     /* a method bound to a receiver (impl method as value) */
  OBJ_ITER,
  OBJ_NATIVE     /* host object with a vtable: generators, tasks, channels... */
} ObjType;

struct Obj {
  ObjType type;
  bool marked;
  bool owned; /* copy-on-write: only one local slot refers to it (see top) */
  struct Obj *next; /* all-objects list, owned by the heap */
};

/* ---- strings ---------------------------------------------------------- */

typedef struct ObjString {
  Obj obj;
  uint32_t len;    /* bytes, excluding the trailing NUL */
  uint32_t nchars; /* code points */
  uint32_t hash;   /* 0 = not computed yet */
  bool ascii;      /* nchars == len: character index == byte index */
  bool interned;   /* the VM's canonical copy of these bytes (object.h
                      str_intern): two interned strings are equal exactly
                      when they are the same object; hash is computed */
  char chars[];    /* NUL-terminated */
} ObjString;

/* ---- lists, dicts, sets --------------------------------------------- */

typedef struct ObjList {
  Obj obj;
  uint32_t count, cap;
  Value *items;
} ObjList;

typedef struct DictEntry {
  ObjString *key;
  Value value;
} DictEntry;

/* A dict keeps its entries sorted by key (byte order), which is the order
 * in which Harn iterates and displays them. Lookup is a binary search, or
 * goes through the hash index that large dicts carry. */
typedef struct ObjDict {
  Obj obj;
  uint32_t count, cap;
  DictEntry *entries;
  /* Hash index over entries (object.c dict_* functions only): icap slots
   * holding entry position + 1 (0 = empty), or NULL for small dicts. It is
   * trusted only while icount == count, so code that edits `entries`
   * directly must either keep keys and positions or change `count` (or
   * start from a fresh dict); the index is then merely lost. */
  uint32_t *index;
  uint32_t icap, icount;
} ObjDict;

/* A set keeps insertion order; membership is structural equality. */
typedef struct ObjSet {
  Obj obj;
  uint32_t count, cap;
  Value *items;
  /* Hash index over items (object.c, set_add/set_has/set_copy only): icap
   * slots holding item position + 1 (0 = empty), or NULL for small sets.
   * It is trusted only while icount == count, so code that edits `items`
   * directly merely loses the index, never correctness. */
  uint32_t *index;
  uint32_t icap, icount;
} ObjSet;

typedef struct ObjRange {
  Obj obj;
  int64_t start, end;
  bool exclusive; /* `a to b exclusive`: end not included */
} ObjRange;

typedef struct ObjPair {
  Obj obj;
  Value first, second;
} ObjPair;

/* ---- enums and structs ---------------------------------------------- */

typedef struct ObjEnumType {
  Obj obj;
  ObjString *name;
  uint32_t nvariants;
  ObjString **variants;   /* variant names, declaration order */
  uint32_t *arity;        /* number of fields per variant */
  ObjString ***fieldnames;/* per variant: field names (may be NULL) */
} ObjEnumType;

typedef struct ObjEnum {
  Obj obj;
  ObjString *enum_name;
  ObjString *variant;
  uint32_t nfields;
  Value fields[];
} ObjEnum;

typedef struct ObjStructType {
  Obj obj;
  ObjString *name;
  uint32_t nfields;
  ObjString **fields; /* declared field names, declaration order */
  ObjDict *methods;   /* impl methods: name -> closure; may be NULL */
} ObjStructType;

/* Fields are stored as a dict (sorted by name, as displayed). */
typedef struct ObjStruct {
  Obj obj;
  ObjStructType *type; /* may be NULL for a struct whose type is unknown */
  ObjString *name;
  ObjDict *fields;
} ObjStruct;

/* ---- code ------------------------------------------------------------ */

/* Bytecode of one function. `lines`/`cols` give the source position of the
 * instruction that starts at each byte offset (0 = unknown). */
typedef struct Chunk {
  uint8_t *code;
  uint32_t count, cap;
  Value *consts;
  uint32_t nconsts, constcap;
  int32_t *lines;
  int32_t *cols;
} Chunk;

typedef struct ObjFunction {
  Obj obj;
  ObjString *name;      /* "" for the top level and lambdas */
  ObjString *file;      /* source file the chunk came from */
  uint16_t nparams;     /* declared parameters, rest parameter included */
  uint16_t nrequired;   /* parameters before the first default */
  bool has_rest;
  bool is_generator;    /* body contains `yield` */
  bool is_stream;       /* `gen fn` */
  bool plain;           /* set by the compiler: no rest parameter, not a
                           generator/stream, no typed parameter, so a call
                           with argc == nparams takes CALL's inline path */
  uint16_t nlocals;     /* slots the frame needs, parameters included */
  uint16_t ncaptures;   /* captured variables (copied at creation) */
  ObjString **param_names; /* nparams names, for <fn(a, b)> and type checks */
  Value *param_types;   /* nparams entries (nil = untyped), compiler-defined */
  Chunk chunk;
  void *debug;          /* compiler-owned extra data (not GC-managed) */
} ObjFunction;

/* A closure owns its captured values: they are copied from the enclosing
 * scope when the closure is created (Harn closures capture a snapshot) and
 * may then be changed only by the closure itself. */
typedef struct ObjClosure {
  Obj obj;
  ObjFunction *fn;
  Value module;        /* the defining module's globals (a dict-like host
                          object, or nil for the main program) */
  uint16_t ncaptures;
  Value captures[];
} ObjClosure;

typedef struct ObjBound {
  Obj obj;
  Value receiver;
  Value method;
} ObjBound;

/* ---- iterators and host objects -------------------------------------- */

typedef struct ObjIter ObjIter;

/* A lazy single-pass iterator. `next` stores the next item in *out and
 * returns 1, returns 0 when exhausted, or -1 with the VM error set. */
typedef struct IterVtbl {
  const char *name;
  int (*next)(Vm *vm, ObjIter *it, Value *out);
  void (*mark)(Vm *vm, ObjIter *it); /* marks source/state values */
} IterVtbl;

struct ObjIter {
  Obj obj;
  const IterVtbl *vt;
  bool exhausted;
  Value src;      /* source collection / upstream iter */
  Value fn;       /* callback for map/filter/... stages */
  Value aux;      /* second source (zip, chain) or state */
  int64_t pos;    /* cursor */
  int64_t n;      /* count parameter (take, skip, chunks...) */
};

typedef struct ObjNative ObjNative;

/* Host objects (generators, streams, tasks, channels, atomics, bytes, the
 * harness...). `type_name` is what type_of returns. */
typedef struct NativeVtbl {
  const char *type_name;
  void (*display)(Vm *vm, ObjNative *n, Buf *out);
  void (*mark)(Vm *vm, ObjNative *n);
  void (*finalize)(Vm *vm, ObjNative *n);
  bool truthy_if_empty; /* bytes: falsy when empty; everything else truthy */
  /* Optional structural equality of two natives of this vtable (task
   * handles by id, bytes by content); NULL = never equal, not even to
   * itself (generators, streams, channels: docs/LANGUAGE.md 5.3). */
  bool (*equal)(ObjNative *a, ObjNative *b);
} NativeVtbl;

struct ObjNative {
  Obj obj;
  const NativeVtbl *vt;
  void *data;
  size_t size;
};

/* ---- accessors -------------------------------------------------------- */

#define IS_NIL(v) ((v).type == VAL_NIL)
#define IS_BOOL(v) ((v).type == VAL_BOOL)
#define IS_INT(v) ((v).type == VAL_INT)
#define IS_FLOAT(v) ((v).type == VAL_FLOAT)
#define IS_NUMBER(v) ((v).type == VAL_INT || (v).type == VAL_FLOAT)
#define IS_DURATION(v) ((v).type == VAL_DURATION)
#define IS_BUILTIN(v) ((v).type == VAL_BUILTIN)
#define IS_OBJ(v) ((v).type == VAL_OBJ)
#define OBJ_TYPE(v) ((v).as.o->type)
#define IS_OBJ_TYPE(v, t) (IS_OBJ(v) && OBJ_TYPE(v) == (t))
#define IS_STRING(v) IS_OBJ_TYPE(v, OBJ_STRING)
#define IS_LIST(v) IS_OBJ_TYPE(v, OBJ_LIST)
#define IS_DICT(v) IS_OBJ_TYPE(v, OBJ_DICT)
#define IS_SET(v) IS_OBJ_TYPE(v, OBJ_SET)
#define IS_RANGE(v) IS_OBJ_TYPE(v, OBJ_RANGE)
#define IS_ENUM(v) IS_OBJ_TYPE(v, OBJ_ENUM)
#define IS_STRUCT(v) IS_OBJ_TYPE(v, OBJ_STRUCT)
#define IS_PAIR(v) IS_OBJ_TYPE(v, OBJ_PAIR)
#define IS_CLOSURE(v) IS_OBJ_TYPE(v, OBJ_CLOSURE)
#define IS_ITER(v) IS_OBJ_TYPE(v, OBJ_ITER)
#define IS_NATIVE(v) IS_OBJ_TYPE(v, OBJ_NATIVE)

#define AS_BOOL(v) ((v).as.b)
#define AS_INT(v) ((v).as.i)
#define AS_FLOAT(v) ((v).as.f)
#define AS_NUMBER(v) ((v).type == VAL_INT ? (double)(v).as.i : (v).as.f)
#define AS_OBJ(v) ((v).as.o)
#define AS_STRING(v) ((ObjString *)(v).as.o)
#define AS_CSTR(v) (((ObjString *)(v).as.o)->chars)
#define AS_LIST(v) ((ObjList *)(v).as.o)
#define AS_DICT(v) ((ObjDict *)(v).as.o)
#define AS_SET(v) ((ObjSet *)(v).as.o)
#define AS_RANGE(v) ((ObjRange *)(v).as.o)
#define AS_ENUM(v) ((ObjEnum *)(v).as.o)
#define AS_ENUM_TYPE(v) ((ObjEnumType *)(v).as.o)
#define AS_STRUCT(v) ((ObjStruct *)(v).as.o)
#define AS_STRUCT_TYPE(v) ((ObjStructType *)(v).as.o)
#define AS_PAIR(v) ((ObjPair *)(v).as.o)
#define AS_FUNCTION(v) ((ObjFunction *)(v).as.o)
#define AS_CLOSURE(v) ((ObjClosure *)(v).as.o)
#define AS_BOUND(v) ((ObjBound *)(v).as.o)
#define AS_ITER(v) ((ObjIter *)(v).as.o)
#define AS_NATIVE(v) ((ObjNative *)(v).as.o)

static inline Value val_nil(void) { Value v; v.type = VAL_NIL; v.as.i = 0; return v; }
static inline Value val_bool(bool b) { Value v; v.type = VAL_BOOL; v.as.i = 0; v.as.b = b; return v; }
static inline Value val_int(int64_t i) { Value v; v.type = VAL_INT; v.as.i = i; return v; }
static inline Value val_float(double f) { Value v; v.type = VAL_FLOAT; v.as.f = f; return v; }
static inline Value val_duration(int64_t ms) { Value v; v.type = VAL_DURATION; v.as.i = ms; return v; }
static inline Value val_builtin(int idx) { Value v; v.type = VAL_BUILTIN; v.as.i = idx; return v; }
static inline Value val_obj(void *o) { Value v; v.type = VAL_OBJ; v.as.o = (Obj *)o; return v; }

/* A reference to [v] is about to leave its local slot: it is no longer
 * owned (copy-on-write invariant at the top of this file). */
static inline void val_share(Value v)
{
  if (v.type == VAL_OBJ && v.as.o->owned) v.as.o->owned = false;
}

#define NIL_VAL val_nil()
#define BOOL_VAL(b) val_bool(b)
#define INT_VAL(i) val_int(i)
#define FLOAT_VAL(f) val_float(f)
#define OBJ_VAL(o) val_obj(o)

#endif
