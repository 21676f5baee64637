/*
 * std_uuid.h: uuid (v4), uuid_v5, uuid_v7, uuid_nil and uuid_parse
 * (docs/stdlib.md "UUIDs"; design: shared/design/STDLIB.md 4.5).
 */
#ifndef HARN_STD_UUID_H
#define HARN_STD_UUID_H

#include <stdbool.h>
#include <stddef.h>

#include "value.h"

bool std_uuid_v4(Vm *vm, int argc, Value *argv, Value *out);
bool std_uuid_v5(Vm *vm, int argc, Value *argv, Value *out);
bool std_uuid_v7(Vm *vm, int argc, Value *argv, Value *out);
bool std_uuid_nil(Vm *vm, int argc, Value *argv, Value *out);
bool std_uuid_parse(Vm *vm, int argc, Value *argv, Value *out);

/* Parse [s] ([n] bytes) as the Rust uuid crate's Uuid::parse_str does
 * (hyphenated, 32 hex digits, {hyphenated}, urn:uuid:hyphenated; hex of
 * either case) into [u]; false when it is not a UUID. */
bool std_uuid_parse_raw(const char *s, size_t n, unsigned char u[16]);

#endif
