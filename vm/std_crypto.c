/*
 * std_crypto.c: md5, sha1, sha224/256/384/512, sha512_256, sha3_256/512,
 * hmac_sha256(_base64), constant_time_eq, ed25519_* and x25519_* on
 * OpenSSL 3's libcrypto (design: shared/design/STDLIB.md 4.4).
 *
 * Inputs. The SHA-2 family, md5 and sha1 hash the display text of their
 * argument (a string is its bytes); sha3_* take strings raw too (Harn has
 * no bytes type). Results are lowercase hex.
 *
 * The sandbox (STDLIB.md section 2). On first use OpenSSL would read its
 * openssl.cnf, and its providers fetch algorithms lazily; in a locked-down
 * worker a file open kills the job. std_crypto_init, called once per
 * process before any lock-down (vm_std_init: the zygote's warm-up and
 * every worker before its lock-down), initialises libcrypto with
 * OPENSSL_INIT_NO_LOAD_CONFIG, fetches every digest and the HMAC MAC
 * (kept for the process: the builtins use these, never an implicit fetch)
 * and signs, verifies and derives once with Ed25519 and X25519 so their
 * key management and signature code is loaded. The legacy provider is
 * never touched. Keys are made from getrandom bytes, not OpenSSL's DRBG.
 * tests/integration/test_stdlib_sandbox.sh runs every algorithm in a
 * sandboxed worker.
 *
 * Memory. OpenSSL's allocations here are a few hundred bytes per call,
 * freed before the call returns; they are not counted against the VM (a
 * CRYPTO_set_mem_functions hook is process-wide, with no VM to charge, and
 * must precede every OpenSSL allocation of the process). The inputs are
 * strings the VM already counted; RLIMIT_AS bounds the rest.
 */
#include "std_crypto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "base/buf.h"
#include "error.h"
#include "methods.h"
#include "object.h"
#include "std_bytes.h"
#include "vm.h"

enum { MD_MD5, MD_SHA1, MD_SHA224, MD_SHA256, MD_SHA384, MD_SHA512, MD_SHA512_256, MD_SHA3_256,
       MD_SHA3_512, MD_COUNT };
static const char *const md_names[MD_COUNT] = {"MD5",        "SHA1",     "SHA224",
                                               "SHA256",     "SHA384",   "SHA512",
                                               "SHA512-256", "SHA3-256", "SHA3-512"};
static EVP_MD *mds[MD_COUNT];
static EVP_MAC *hmac_mac;
static bool crypto_ok;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

bool std_random_bytes(void *buf, size_t n)
{
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t k = getrandom(p, n, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= (size_t)k;
  }
  return true;
}

/* Sign and verify with Ed25519, derive with X25519, once, from fixed keys. */
static bool warm_keys(void)
{
  unsigned char seed[32], sig[64], pub[32], shared[32];
  memset(seed, 7, sizeof seed);
  bool ok = false;
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  size_t siglen = sizeof sig, publen = sizeof pub, slen = sizeof shared;
  if (k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
      EVP_DigestSign(c, sig, &siglen, (const unsigned char *)"x", 1) == 1 &&
      EVP_PKEY_get_raw_public_key(k, pub, &publen) == 1) {
    EVP_MD_CTX_reset(c);
    ok = EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
         EVP_DigestVerify(c, sig, siglen, (const unsigned char *)"x", 1) == 1;
  }
  EVP_MD_CTX_free(c);
  EVP_PKEY_free(k);
  EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, seed, 32);
  EVP_PKEY *b = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, pub, 32);
  EVP_PKEY_CTX *dc = a ? EVP_PKEY_CTX_new(a, NULL) : NULL;
  ok = ok && b && dc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, b) == 1 &&
       EVP_PKEY_derive(dc, shared, &slen) == 1;
  EVP_PKEY_CTX_free(dc);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
  return ok;
}

static void crypto_init_once(void)
{
  if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, NULL) != 1) return;
  for (int i = 0; i < MD_COUNT; i++) {
    mds[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
    if (!mds[i]) return;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl;
    if (EVP_Digest("", 0, d, &dl, mds[i], NULL) != 1) return;
  }
  hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!hmac_mac) return;
  crypto_ok = warm_keys();
}

bool std_crypto_init(void)
{
  pthread_once(&crypto_once, crypto_init_once);
  return crypto_ok;
}

void vm_std_init(void) { (void)std_crypto_init(); }

static bool need_crypto(Vm *vm)
{
  if (std_crypto_init()) return true;
  return err_runtime(vm, "libcrypto could not be initialised");
}

bool std_sha1(const void *p, size_t n, unsigned char out[20])
{
  unsigned int dl;
  return std_crypto_init() && EVP_Digest(p, n, out, &dl, mds[MD_SHA1], NULL) == 1;
}

/* ---- digests ----------------------------------------------------------------------- */

static ObjString *text_arg(Vm *vm, int argc, Value *argv, int i)
{
  Value v = meth_arg(argc, argv, i);
  return IS_STRING(v) ? AS_STRING(v) : val_to_string(vm, v);
}

static Value hex_value(Vm *vm, const unsigned char *d, size_t n)
{
  Buf b = {0};
  std_hex_append(d, n, &b);
  ObjString *s = str_new(vm, b.data, b.len);
  buf_free(&b);
  return OBJ_VAL(s);
}

static bool digest(Vm *vm, int md, int argc, Value *argv, Value *out)
{
  if (!need_crypto(vm)) return false;
  ObjString *s = text_arg(vm, argc, argv, 0);
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  if (EVP_Digest(s->chars, s->len, d, &dl, mds[md], NULL) != 1)
    return err_runtime(vm, "%s failed", md_names[md]);
  *out = hex_value(vm, d, dl);
  return true;
}

#define DIGEST_BUILTIN(fn, md)                                  \
  bool fn(Vm *vm, int argc, Value *argv, Value *out)            \
  {                                                             \
    return digest(vm, md, argc, argv, out);                     \
  }
DIGEST_BUILTIN(std_md5, MD_MD5)
DIGEST_BUILTIN(std_sha1_builtin, MD_SHA1)
DIGEST_BUILTIN(std_sha224, MD_SHA224)
DIGEST_BUILTIN(std_sha256, MD_SHA256)
DIGEST_BUILTIN(std_sha384, MD_SHA384)
DIGEST_BUILTIN(std_sha512, MD_SHA512)
DIGEST_BUILTIN(std_sha512_256, MD_SHA512_256)
DIGEST_BUILTIN(std_sha3_256, MD_SHA3_256)
DIGEST_BUILTIN(std_sha3_512, MD_SHA3_512)

/* ---- HMAC -------------------------------------------------------------------------- */

/* HMAC-SHA256 of argument 1 under key argument 0 into [mac]. */
static bool hmac256(Vm *vm, int argc, Value *argv, unsigned char mac[32])
{
  if (!need_crypto(vm)) return false;
  ObjString *key = text_arg(vm, argc, argv, 0);
  ObjString *msg = text_arg(vm, argc, argv, 1);
  EVP_MAC_CTX *c = EVP_MAC_CTX_new(hmac_mac);
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                          OSSL_PARAM_construct_end()};
  size_t len = 0;
  /* an empty key: OpenSSL refuses a NULL pointer, not a zero length */
  static const unsigned char nokey[1] = {0};
  bool ok = c && EVP_MAC_init(c, key->len ? (const unsigned char *)key->chars : nokey, key->len, params) == 1 &&
            EVP_MAC_update(c, (const unsigned char *)msg->chars, msg->len) == 1 &&
            EVP_MAC_final(c, mac, &len, 32) == 1 && len == 32;
  EVP_MAC_CTX_free(c);
  if (!ok) return err_runtime(vm, "hmac_sha256 failed");
  return true;
}

bool std_hmac_sha256(Vm *vm, int argc, Value *argv, Value *out)
{
  unsigned char mac[32];
  if (!hmac256(vm, argc, argv, mac)) return false;
  *out = hex_value(vm, mac, 32);
  return true;
}

bool std_hmac_sha256_base64(Vm *vm, int argc, Value *argv, Value *out)
{
  unsigned char mac[32];
  if (!hmac256(vm, argc, argv, mac)) return false;
  Buf b = {0};
  std_b64_encode(mac, 32, false, true, &b);
  *out = OBJ_VAL(str_new(vm, b.data, b.len));
  buf_free(&b);
  return true;
}

bool std_constant_time_eq(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *a = text_arg(vm, argc, argv, 0);
  ObjString *b = text_arg(vm, argc, argv, 1);
  *out = val_bool(a->len == b->len && CRYPTO_memcmp(a->chars, b->chars, a->len) == 0);
  return true;
}

/* ---- Ed25519, X25519 ---------------------------------------------------------------- */

/* Decode [s] as exactly [n] bytes of hex into [out]. */
static bool hex_exact(const ObjString *s, unsigned char *out, size_t n)
{
  if (s->len != 2 * n) return false;
  Buf b = {0};
  char err[96];
  bool ok = std_hex_decode_raw(s->chars, s->len, &b, err, sizeof err) && b.len == n;
  if (ok) memcpy(out, b.data, n);
  buf_free(&b);
  return ok;
}

/* {private, public} hex of a fresh key of [type]. */
static bool keypair(Vm *vm, int type, const char *name, Value *out)
{
  if (!need_crypto(vm)) return false;
  unsigned char seed[32], pub[32];
  size_t publen = sizeof pub;
  if (!std_random_bytes(seed, sizeof seed)) return err_runtime(vm, "%s: no random bytes", name);
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(type, NULL, seed, 32);
  bool ok = k && EVP_PKEY_get_raw_public_key(k, pub, &publen) == 1 && publen == 32;
  EVP_PKEY_free(k);
  if (!ok) {
    OPENSSL_cleanse(seed, sizeof seed);
    return err_runtime(vm, "%s failed", name);
  }
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "private", hex_value(vm, seed, 32));
  dict_set_cstr(vm, d, "public", hex_value(vm, pub, 32));
  OPENSSL_cleanse(seed, sizeof seed);
  *out = OBJ_VAL(d);
  return true;
}

bool std_ed25519_keypair(Vm *vm, int argc, Value *argv, Value *out)
{
  return keypair(vm, EVP_PKEY_ED25519, "ed25519_keypair", out);
}

bool std_x25519_keypair(Vm *vm, int argc, Value *argv, Value *out)
{
  return keypair(vm, EVP_PKEY_X25519, "x25519_keypair", out);
}

bool std_ed25519_sign(Vm *vm, int argc, Value *argv, Value *out)
{
  if (!need_crypto(vm)) return false;
  ObjString *ks = text_arg(vm, argc, argv, 0);
  unsigned char seed[32], sig[64];
  if (!hex_exact(ks, seed, 32))
    return err_throw_str(vm, "ed25519_sign: private key must be 32 bytes of hex");
  ObjString *msg = text_arg(vm, argc, argv, 1);
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
  OPENSSL_cleanse(seed, sizeof seed);
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  size_t siglen = sizeof sig;
  bool ok = k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
            EVP_DigestSign(c, sig, &siglen, (const unsigned char *)msg->chars, msg->len) == 1;
  EVP_MD_CTX_free(c);
  EVP_PKEY_free(k);
  if (!ok) return err_runtime(vm, "ed25519_sign failed");
  *out = hex_value(vm, sig, siglen);
  return true;
}

bool std_ed25519_verify(Vm *vm, int argc, Value *argv, Value *out)
{
  if (!need_crypto(vm)) return false;
  unsigned char pub[32], sig[64];
  ObjString *ps = text_arg(vm, argc, argv, 0);
  ObjString *msg = text_arg(vm, argc, argv, 1);
  ObjString *ss = text_arg(vm, argc, argv, 2);
  *out = val_bool(false);
  if (!hex_exact(ps, pub, 32) || !hex_exact(ss, sig, 64)) return true;
  EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  bool ok = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
            EVP_DigestVerify(c, sig, 64, (const unsigned char *)msg->chars, msg->len) == 1;
  EVP_MD_CTX_free(c);
  EVP_PKEY_free(k);
  *out = val_bool(ok);
  return true;
}

bool std_x25519_agree(Vm *vm, int argc, Value *argv, Value *out)
{
  if (!need_crypto(vm)) return false;
  unsigned char priv[32], peer[32], shared[32];
  if (!hex_exact(text_arg(vm, argc, argv, 0), priv, 32))
    return err_throw_str(vm, "x25519_agree: private key must be 32 bytes of hex");
  if (!hex_exact(text_arg(vm, argc, argv, 1), peer, 32))
    return err_throw_str(vm, "x25519_agree: public key must be 32 bytes of hex");
  EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
  OPENSSL_cleanse(priv, sizeof priv);
  EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
  EVP_PKEY_CTX *dc = a ? EVP_PKEY_CTX_new(a, NULL) : NULL;
  size_t slen = sizeof shared;
  bool ok = b && dc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, b) == 1 &&
            EVP_PKEY_derive(dc, shared, &slen) == 1 && slen == 32;
  EVP_PKEY_CTX_free(dc);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
  /* an all-zero secret (a low-order peer key) fails the derive */
  if (!ok) return err_throw_str(vm, "x25519_agree: key agreement failed");
  *out = hex_value(vm, shared, 32);
  OPENSSL_cleanse(shared, sizeof shared);
  return true;
}
