/*
 * typecheck.h: run-time checks of typed function parameters
 * (docs/LANGUAGE.md 8.5; tc_).
 *
 * The compiler turns each parameter's TypeExpr into a constant Value
 * (tc_compile_type) stored in fn->param_types; the interpreter calls
 * tc_check_params when it enters a function whose param_types is not NULL.
 * Only checkable types produce a constant: `type_of` names, `any` (which
 * accepts everything, so it compiles to nil), unions of checkable types,
 * shapes, list types and aliases of those. Generic parameters, interface
 * and other user names, literal and function types compile to nil (not
 * checked), so a check never rejects a program the reference accepts
 * because we failed to understand its type.
 */
#ifndef HARN_TYPECHECK_H
#define HARN_TYPECHECK_H

#include <stdbool.h>

#include "ast.h"
#include "value.h"

/* Resolve a type name to the TypeExpr of a `type Name = ...` alias, or
 * NULL when there is none. */
typedef const TypeExpr *(*TcAliasFn)(void *ud, const char *name);

/* The compiled check of [t] (a GC value, to be stored in
 * fn->param_types), or NIL_VAL when [t] needs no check. [alias] (may be
 * NULL) resolves alias names. Allocates; call only where the collector
 * cannot run (the compiler). */
Value tc_compile_type(Vm *vm, const TypeExpr *t, TcAliasFn alias, void *ud);

/* The schema (a dict for json_validate / schema_is, docs/LANGUAGE.md 12.6) of
 * the type [t], for `schema_of(Alias)`: shapes become object schemas
 * ({type: "object", required, properties}), `type_of` names {type: name},
 * list types add `items`, unions of plain types a list of type names,
 * literals `enum`; what it cannot express gives {} (accepts anything).
 * Allocates like tc_compile_type (compiler only). */
Value tc_schema_of(Vm *vm, const TypeExpr *t, TcAliasFn alias, void *ud);

/* Check the parameters args[0 .. fn->nparams) of a call of [fn] that
 * passed [argc] arguments (a parameter left to its default is not
 * checked). Returns false with the error of docs/LANGUAGE.md 8.5 set:
 * `Runtime error: TypeError: parameter 'a' expected int, got string
 * (hello)`, or a `Type error: parameter 'u': ...` for shapes. */
bool tc_check_params(Vm *vm, const ObjFunction *fn, const Value *args, int argc);

#endif
