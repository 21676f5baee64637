/*
 * std_crypto.h: hashes, HMAC, constant-time comparison and Ed25519 /
 * X25519 on OpenSSL's libcrypto (docs/stdlib.md "Hashes and signatures";
 * design: shared/design/STDLIB.md 4.4), and the process-wide libcrypto
 * initialisation that must happen before a worker locks down.
 */
#ifndef HARN_STD_CRYPTO_H
#define HARN_STD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "value.h"

/* Initialise libcrypto once per process (idempotent, thread-safe): no
 * configuration file, every digest, the HMAC MAC and the Ed25519/X25519
 * code fetched and exercised once, so that no later call opens a file or
 * loads a module. vm_std_init (vm.h) calls it. False when libcrypto
 * could not be initialised (the builtins then fail with an error). */
bool std_crypto_init(void);

/* SHA-1 of [n] bytes at [p] into [out] (20 bytes), for uuid v5; false
 * when libcrypto is unusable. */
bool std_sha1(const void *p, size_t n, unsigned char out[20]);

/* Fill [buf] with [n] random bytes from the kernel (getrandom); false when
 * it failed. */
bool std_random_bytes(void *buf, size_t n);

bool std_md5(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha1_builtin(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha224(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha256(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha384(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha512(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha512_256(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha3_256(Vm *vm, int argc, Value *argv, Value *out);
bool std_sha3_512(Vm *vm, int argc, Value *argv, Value *out);
bool std_hmac_sha256(Vm *vm, int argc, Value *argv, Value *out);
bool std_hmac_sha256_base64(Vm *vm, int argc, Value *argv, Value *out);
bool std_constant_time_eq(Vm *vm, int argc, Value *argv, Value *out);
bool std_ed25519_keypair(Vm *vm, int argc, Value *argv, Value *out);
bool std_ed25519_sign(Vm *vm, int argc, Value *argv, Value *out);
bool std_ed25519_verify(Vm *vm, int argc, Value *argv, Value *out);
bool std_x25519_keypair(Vm *vm, int argc, Value *argv, Value *out);
bool std_x25519_agree(Vm *vm, int argc, Value *argv, Value *out);

#endif
