/*
 * util.c: the store's pure helpers (unit-tested without a server,
 * tests/unit/test_store.c): COPY text escaping, SHA-256 (libcrypto), hex,
 * UUIDs.
 */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>

#include <openssl/evp.h>

void hs_copy_field(Buf *b, const char *s, size_t n)
{
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    const char *e = NULL;
    switch (s[i]) {
    case '\\': e = "\\\\"; break;
    case '\t': e = "\\t"; break;
    case '\n': e = "\\n"; break;
    case '\r': e = "\\r"; break;
    default: continue;
    }
    buf_append(b, s + run, i - run);
    buf_append(b, e, 2);
    run = i + 1;
  }
  buf_append(b, s + run, n - run);
}

void hs_copy_null(Buf *b) { buf_append(b, "\\N", 2); }

/* ---------------------------------------------------------------- SHA-256 */

void hs_sha256(const void *data, size_t n, uint8_t out[32])
{
  /* libcrypto's, as the stdlib's sha256 (vm/std_crypto.c): one SHA-256 in
   * the tree */
  unsigned int len = 0;
  if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) || len != 32) abort();
}

void hs_hex(const uint8_t *h, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[h[i] >> 4];
    out[2 * i + 1] = d[h[i] & 15];
  }
  out[2 * n] = 0;
}

int hs_uuid(char out[37])
{
  uint8_t r[16];
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t k = getrandom(r + got, sizeof r - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
  r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
  char hex[33];
  hs_hex(r, 16, hex);
  snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
  return 0;
}
