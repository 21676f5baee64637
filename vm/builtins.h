/*
 * builtins.h: free builtin functions and the methods of built-in kinds.
 *
 * Builtins are native functions with one signature. They receive their
 * arguments in [argv] (which lives on the VM stack and is therefore rooted)
 * and store their result in *out. On failure they set the VM error with
 * err_*() (error.h) and return false. A builtin never keeps [argv] after it
 * returns.
 *
 * The builtin table is fixed at build time; a builtin used as a value is the
 * immediate VAL_BUILTIN holding its index (display `<builtin NAME>`).
 */
#ifndef HARN_BUILTINS_H
#define HARN_BUILTINS_H

#include <stdbool.h>
#include <stdint.h>

#include "value.h"

typedef bool (*NativeFn)(Vm *vm, int argc, Value *argv, Value *out);

typedef struct BuiltinDef {
  const char *name;
  NativeFn fn;
} BuiltinDef;

/* The table, sorted by name; builtin_count entries. */
extern const BuiltinDef builtin_table[];
extern const int builtin_count;

/* Index of builtin [name], or -1. */
int builtin_lookup(const char *name);
/* Global constants that are not functions (pi, e): true with *out set. */
bool builtin_constant(const char *name, Value *out);
/* Free what the builtins keep in [vm] between calls (the clock state;
 * vm_free calls it). */
void builtins_free(Vm *vm);
/* The wall clock of [vm] in ms since the epoch, as now_ms() reads it
 * (mock_time / advance_time apply): the date builtins (std_time.c). */
int64_t builtins_now_ms(Vm *vm);

/* Call method [name] on [recv] for the built-in kinds (string, list, dict,
 * set, range, pair, enum, int, float, nil, iter...). Unknown methods give nil
 * (docs/LANGUAGE.md 11). Dict entries holding closures and struct impl methods
 * are the interpreter's business, not this function's: it is called after
 * those lookups failed. */
bool method_call(Vm *vm, Value recv, ObjString *name, int argc, Value *argv, Value *out);

/* JSON (json.c): parse text into a value; stringify with docs/LANGUAGE.md 12.6
 * rules into [out], false (the text cut short) when [v] is nested too
 * deeply or the text too long for a string (the run is then doomed: gc.h). */
bool json_parse_value(Vm *vm, const char *text, size_t len, Value *out);
bool json_stringify_value(Vm *vm, Value v, Buf *out);

#endif
