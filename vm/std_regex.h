/*
 * std_regex.h: the regular-expression builtins (docs/stdlib.md "Regular
 * expressions"; design: shared/design/STDLIB.md 4.1), on PCRE2's
 * interpreter with the reference's (Rust `regex` crate) semantics.
 */
#ifndef HARN_STD_REGEX_H
#define HARN_STD_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "value.h"

/* The builtins (builtins.h NativeFn). */
bool std_regex_match(Vm *vm, int argc, Value *argv, Value *out);
bool std_regex_replace(Vm *vm, int argc, Value *argv, Value *out);
bool std_regex_captures(Vm *vm, int argc, Value *argv, Value *out);
bool std_regex_split(Vm *vm, int argc, Value *argv, Value *out);

/* Free the VM's compiled-pattern cache (builtins_free calls it). */
void std_regex_free(Vm *vm);

#endif
