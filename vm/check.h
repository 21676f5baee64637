/*
 * check.h: the static checker (docs/LANGUAGE.md 15), run on the syntax tree
 * after parsing and before compiling, so its errors stop a program before
 * any of it runs (harn run, the worker of harn batch, harn test, harn check).
 *
 * It is gradual and conservative: when it cannot be sure of a type it says
 * nothing, so a program that runs correctly is never rejected. What it
 * reports (the reference's texts):
 *  - a call whose target is neither defined anywhere in the file nor a
 *    builtin nor imported: call target `f` is not defined or imported
 *  - `let x: T = v` where v certainly is not a T:
 *    declared as T, but assigned U
 *  - `return v` in a `fn ... -> T` where v certainly is not a T:
 *    return type doesn't match: expected T, got U
 *  - a `match` whose arms are all variants of one enum of the file and miss
 *    some: Non-exhaustive match on enum E: missing variants A, B (and over
 *    the string tags of a union of shapes: match m.kind on a `Msg` param)
 *  - `yield` inside a `gen fn` (with a help line: use `emit`)
 *  - Generator<T> (a fn that yields) and Stream<T> (a gen fn) mixed up
 *  - a parameter declared `unknown`, never narrowed, used as a basic type
 *  - a generic parameter bound to two types by one call's arguments:
 *    type parameter T of f inferred as both int and string
 *  - a struct lacking a method of a required interface:
 *    Rock does not satisfy interface 'Named' (missing method 'name')
 */
#ifndef HARN_CHECK_H
#define HARN_CHECK_H

#include <stddef.h>

#include "ast.h"
#include "base/buf.h"

/* At most this many problems are rendered for one file. */
#define CHK_MAX_REPORTS 20

/* Check [prog] (the N_PROGRAM parsed from the NUL-terminated [src], named
 * [path] in diagnostics). Each problem found is appended to [out] rendered
 * like a runtime error (diag.h: `error: msg`, `--> path:line:col`, the
 * source line, carets, maybe a `= help:` line); the first problem's message
 * is copied into [first] ([firstcap] bytes, truncated). Returns the number
 * of problems (0: the program may be compiled). Does not modify [prog]. */
int chk_program(const Node *prog, const char *path, const char *src, Buf *out, char *first,
                size_t firstcap);

#endif
