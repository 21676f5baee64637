/*
 * buf.c: growable byte buffer. Invariant: when data != NULL, data[len] == 0
 * and len < cap. Also the stdio-free integer formatter (buf_fmt_i64...),
 * byte-identical to printf with PRId64 / PRIu64 (tests/unit/test_lookup.c).
 */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_reserve(Buf *b, size_t n)
{
  if (b->len + n + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + n + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) {
    fputs("harn: out of memory\n", stderr);
    abort();
  }
  if (!b->data) p[0] = 0; /* a fresh Buf is terminated too (buf_take of an empty one) */
  b->data = p;
  b->cap = cap;
}

void buf_append(Buf *b, const char *s, size_t n)
{
  buf_reserve(b, n);
  if (n) memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_append(b, s, strlen(s)); }

/* Integer formatting two digits per division (the printf path costs ~300
 * instructions per int; this one ~30). */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t buf_fmt_u64(char *out, uint64_t u)
{
  /* count the digits, then write them backwards straight into [out] */
  size_t n = 1;
  for (uint64_t t = u; t >= 10; t /= 10) n++;
  char *p = out + n;
  while (u >= 100) {
    unsigned r = (unsigned)(u % 100);
    u /= 100;
    p -= 2;
    p[0] = digit_pairs[2 * r];
    p[1] = digit_pairs[2 * r + 1];
  }
  if (u >= 10) {
    p[-2] = digit_pairs[2 * u];
    p[-1] = digit_pairs[2 * u + 1];
  } else {
    p[-1] = (char)('0' + u);
  }
  return n;
}

size_t buf_fmt_i64(char *out, int64_t v)
{
  if (v >= 0) return buf_fmt_u64(out, (uint64_t)v);
  out[0] = '-';
  /* unsigned negation: -INT64_MIN does not fit in int64 */
  return 1 + buf_fmt_u64(out + 1, (uint64_t)0 - (uint64_t)v);
}

void buf_put_i64(Buf *b, int64_t v)
{
  buf_reserve(b, BUF_INT_MAX);
  b->len += buf_fmt_i64(b->data + b->len, v);
  b->data[b->len] = 0;
}

void buf_put_u64(Buf *b, uint64_t u)
{
  buf_reserve(b, BUF_INT_MAX);
  b->len += buf_fmt_u64(b->data + b->len, u);
  b->data[b->len] = 0;
}

void buf_putc(Buf *b, char c) { buf_append(b, &c, 1); }

void buf_vprintf(Buf *b, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return;
  buf_reserve(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void buf_printf(Buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void buf_clear(Buf *b)
{
  b->len = 0;
  if (b->data) b->data[0] = 0;
}

void buf_free(Buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *buf_take(Buf *b)
{
  if (!b->data) buf_reserve(b, 0);
  char *p = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void buf_put_utf8(Buf *b, uint32_t cp)
{
  char t[4];
  size_t n;
  if (cp < 0x80) {
    t[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    t[0] = (char)(0xC0 | (cp >> 6));
    t[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    t[0] = (char)(0xE0 | (cp >> 12));
    t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    t[0] = (char)(0xF0 | (cp >> 18));
    t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  buf_append(b, t, n);
}
