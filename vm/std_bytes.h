/*
 * std_bytes.h: the encoding builtins (docs/stdlib.md "Encodings"; design:
 * shared/design/STDLIB.md 4.3): base64 (standard, padded), base64url
 * (URL-safe, no padding), base32 (RFC 4648, padded), hex, and URL
 * percent-encoding.
 */
#ifndef HARN_STD_BYTES_H
#define HARN_STD_BYTES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "value.h"

bool std_base64_encode(Vm *vm, int argc, Value *argv, Value *out);
bool std_base64_decode(Vm *vm, int argc, Value *argv, Value *out);
bool std_base64url_encode(Vm *vm, int argc, Value *argv, Value *out);
bool std_base64url_decode(Vm *vm, int argc, Value *argv, Value *out);
bool std_base32_encode(Vm *vm, int argc, Value *argv, Value *out);
bool std_base32_decode(Vm *vm, int argc, Value *argv, Value *out);
bool std_hex_encode(Vm *vm, int argc, Value *argv, Value *out);
bool std_hex_decode(Vm *vm, int argc, Value *argv, Value *out);
bool std_url_encode(Vm *vm, int argc, Value *argv, Value *out);
bool std_url_decode(Vm *vm, int argc, Value *argv, Value *out);

/* Base64 of [n] bytes at [p] appended to [out]: [url] the URL-safe
 * alphabet, [pad] with '=' padding (for the crypto builtins). */
void std_b64_encode(const unsigned char *p, size_t n, bool url, bool pad, Buf *out);
/* Lowercase hex of [n] bytes at [p] appended to [out]. */
void std_hex_append(const unsigned char *p, size_t n, Buf *out);
/* Decode [n] hex digits (either case) at [s] into [out]: false with a
 * message (a static string, or [err] filled) when they are not hex. */
bool std_hex_decode_raw(const char *s, size_t n, Buf *out, char *err, size_t errlen);

#endif
