/*
 * compiler.h: syntax tree (ast.h) to bytecode (opcodes.def).
 *
 * One pass over the tree of a whole program produces the main function;
 * nested functions, lambdas, impl methods and pipelines become ObjFunction
 * constants of the function that creates them. Names are resolved while
 * compiling: locals become frame slots, variables of enclosing functions
 * become captures (copied into the closure when it is created), and every
 * other name becomes a global of the module, looked up at run time (see
 * the design comment of compiler.c).
 */
#ifndef HARN_COMPILER_H
#define HARN_COMPILER_H

#include <stdbool.h>

#include "ast.h"
#include "value.h"

/* Compile [program] (an N_PROGRAM node) read from [path] into the main
 * function. Globals are allocated in vm's interpreter state. On a compile
 * error returns NULL and copies `Compile error at line N: <message>` into
 * [err] ([errlen] bytes, NUL-terminated) and the line into *errline. */
ObjFunction *comp_compile(Vm *vm, Node *program, const char *path, char *err,
                          size_t errlen, int *errline);

struct ImpModule;

/* Compile [program] as the imported module [mod] (import.h): its top-level
 * names (let/var included) become globals of the module's own namespace,
 * its exports are recorded in mod->exports / mod->defined, and the returned
 * function runs its imports, declarations and top-level let/var once (its
 * pipelines never run). Errors as for comp_compile. */
ObjFunction *comp_compile_module(Vm *vm, Node *program, struct ImpModule *mod, char *err,
                                 size_t errlen, int *errline);

#endif
