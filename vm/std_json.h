/*
 * std_json.h: the JSON tools of STDLIB.md 4.8 (the reference's json.rs and
 * json_query.rs): JSON pointers (RFC 6901), a jq subset, JSON extraction
 * from model output (std_json.c), YAML on libyaml (std_yaml.c). Registered
 * in builtins.c's table; semantics at the top of each .c file and in
 * docs/stdlib.md.
 */
#ifndef HARN_STD_JSON_H
#define HARN_STD_JSON_H

#include <stddef.h>

#include "builtins.h"

bool std_json_pointer(Vm *vm, int argc, Value *argv, Value *out);
bool std_json_pointer_set(Vm *vm, int argc, Value *argv, Value *out);
bool std_json_pointer_delete(Vm *vm, int argc, Value *argv, Value *out);
bool std_jq(Vm *vm, int argc, Value *argv, Value *out);
bool std_jq_first(Vm *vm, int argc, Value *argv, Value *out);
bool std_json_extract(Vm *vm, int argc, Value *argv, Value *out);

bool std_yaml_parse(Vm *vm, int argc, Value *argv, Value *out);
bool std_yaml_stringify(Vm *vm, int argc, Value *argv, Value *out);

bool std_toml_parse(Vm *vm, int argc, Value *argv, Value *out);
bool std_toml_stringify(Vm *vm, int argc, Value *argv, Value *out);
bool std_toml_parse_text(Vm *vm, const char *text, size_t len, Value *out);

/* For the fuzz harness: parse YAML text into *out (false with the VM
 * error set), as yaml_parse does. */
bool std_yaml_parse_text(Vm *vm, const char *text, size_t len, Value *out);

#endif
