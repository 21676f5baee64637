/*
 * error.h: the VM's single error slot and every way to fill it.
 *
 * A failing operation records its error in the VM (kind + value) and
 * returns false (Wren's RETURN_ERROR). The interpreter then raises it:
 * handler search, unwinding, trace capture (docs/RUNTIME.md 2.2, 3.3).
 *
 * Kinds follow docs/RUNTIME.md 3.1. For every kind but ERR_THROWN the value is
 * the message string *without* its display prefix; for ERR_THROWN it is the
 * thrown payload. The display text (what a catch receives for non-thrown
 * kinds) is built by err_display(). ERR_MEMORY and ERR_LIMIT are ours: they
 * are never routed to script handlers (uncatchable).
 */
#ifndef HARN_ERROR_H
#define HARN_ERROR_H

#include <stdbool.h>

#include "base/buf.h"
#include "value.h"

#define ERR_KIND_MAP(X)                                                      \
  X(NONE, "")                                                                \
  X(RUNTIME, "Runtime error: ")                                              \
  X(TYPE, "Type error: ")                                                    \
  X(DIVZERO, "")                                                             \
  X(UNDEF_VAR, "Undefined variable: ")                                       \
  X(UNDEF_BUILTIN, "Undefined builtin: ")                                    \
  X(IMMUTABLE, "Cannot assign to immutable binding: ")                       \
  X(STACK_OVERFLOW, "")                                                      \
  X(THROWN, "Thrown: ")                                                      \
  X(CATEGORIZED, "")                                                         \
  X(UNDERFLOW, "")                                                           \
  X(BAD_OPCODE, "")                                                          \
  X(MEMORY, "")                                                              \
  X(LIMIT, "")

typedef enum {
#define X(name, prefix) ERR_##name,
  ERR_KIND_MAP(X)
#undef X
} ErrKind;

/* Record an error; each returns false so callers can `return err_...`. */
bool err_runtime(Vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool err_type(Vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool err_div_zero(Vm *vm);
bool err_stack_overflow(Vm *vm);
/* Undefined variable / builtin [name]; with a [suggestion] (may be NULL)
 * the error becomes a runtime error "... (did you mean `s`?)". */
bool err_undefined_var(Vm *vm, const char *name, const char *suggestion);
bool err_undefined_builtin(Vm *vm, const char *name, const char *suggestion);
bool err_immutable(Vm *vm, const char *name);
/* `throw v`: a thrown value, caught unchanged. */
bool err_throw(Vm *vm, Value v);
/* Throw a plain string, as `throw "..."` would. */
bool err_throw_str(Vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Categorized error: "Error [category]: message". */
bool err_categorized(Vm *vm, const char *category, const char *message);
/* Uncatchable: memory limit / instruction limit. */
bool err_memory(Vm *vm);
bool err_limit(Vm *vm, const char *what);
bool err_bad_opcode(Vm *vm, int op);
/* Set kind and value directly (re-raising a caught or task error). */
bool err_set(Vm *vm, ErrKind kind, Value v);

/* Display text of the pending error, without the line suffix. */
void err_display(Vm *vm, Buf *out);
/* What a catch block receives: the thrown value, or the display string. */
Value err_caught_value(Vm *vm);
/* The uncaught form of the pending error (docs/RUNTIME.md 3.1-3.2): the five
 * kinds that become runtime errors get the "Runtime error: " prefix, and the
 * seven suffix kinds get " (line N)" when [line] > 0. Other kinds are
 * appended exactly as err_display() does. */
void err_display_uncaught(Vm *vm, int line, Buf *out);
/* Does the uncaught form get " (line N)" (docs/RUNTIME.md 3.2)? */
bool err_gets_line_suffix(ErrKind kind);
/* May a script handler catch this kind? (false for MEMORY, LIMIT, BAD_OPCODE) */
bool err_catchable(ErrKind kind);
void err_clear(Vm *vm);

/* The closest of [n] [candidates] to [name] within the edit distance rule
 * of docs/LANGUAGE.md 10.1 (1 for names <= 2 chars, 2 for 3-5, 3 otherwise), or
 * NULL. Ties go to the first candidate. */
const char *err_suggest(const char *name, const char *const *candidates, int n);

#endif
