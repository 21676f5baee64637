/*
 * std_bytes.c: base64, base64url, base32, hex and URL percent-encoding
 * (design: shared/design/STDLIB.md 4.3), by hand, with the strictness and
 * error texts of the Rust engines the reference uses:
 *
 *  - base64 (crate `base64` 0.22): base64_decode wants the standard
 *    alphabet with canonical padding; base64url_decode the URL-safe one
 *    with no padding. Trailing bits must be zero. Errors are thrown as
 *    "base64 decode error: <the crate's text>": "Invalid symbol 33,
 *    offset 2.", "Invalid input length: 5", "Invalid last symbol 66,
 *    offset 3.", "Invalid padding".
 *  - base32 (crate `data_encoding`, BASE32): RFC 4648 alphabet, padded;
 *    errors "base32 decode error: invalid length at 0", "invalid symbol at
 *    3", "non-zero trailing bits at 1", "invalid padding length at 2".
 *  - hex (crate `hex`): lowercase out, either case in; errors
 *    "hex decode error: Odd number of digits", "hex decode error: Invalid
 *    character 'g' at position 0".
 *  - url_encode leaves A-Z a-z 0-9 - _ . ~ and writes every other byte as
 *    %XX (uppercase); url_decode turns + into a space and %XX into its
 *    byte, leaving a % not followed by two hex digits as it is.
 *
 * Harn has no bytes type: every input is a string taken as its bytes (a
 * non-string argument as its display text), and decoded bytes come back as
 * a string, lossy UTF-8 (each invalid sequence becomes U+FFFD), which is
 * what the reference's decoders return. The bytes_* family is not here.
 */
#include "std_bytes.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"
#include "error.h"
#include "gc.h"
#include "methods.h"
#include "object.h"

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char HEX[] = "0123456789abcdef";

/* ---- helpers ------------------------------------------------------------------ */

/* Argument 0's bytes: a string as is, another value as its display text
 * (a fresh string: nothing runs a safe point before the caller is done). */
static ObjString *input(Vm *vm, int argc, Value *argv)
{
  Value v = meth_arg(argc, argv, 0);
  return IS_STRING(v) ? AS_STRING(v) : val_to_string(vm, v);
}

/* [b] as a string, invalid UTF-8 replaced by U+FFFD; [b] is freed. */
static Value lossy_string(Vm *vm, Buf *b)
{
  const char *s = b->data ? b->data : "";
  if (utf8_valid(s, b->len)) {
    Value v = OBJ_VAL(str_new(vm, s, b->len));
    buf_free(b);
    return v;
  }
  Buf o = {0};
  for (size_t i = 0; i < b->len;) {
    uint32_t cp;
    size_t k = utf8_decode(s + i, b->len - i, &cp);
    if (cp == UTF8_INVALID) buf_put_utf8(&o, UTF8_REPLACEMENT);
    else buf_append(&o, s + i, k);
    i += k;
  }
  buf_free(b);
  Value v = OBJ_VAL(str_new(vm, o.data ? o.data : "", o.len));
  buf_free(&o);
  return v;
}

/* A result of about [n] bytes must fit (gc.h mem_fits). */
static bool fits(Vm *vm, uint64_t n)
{
  if (mem_fits(vm, n)) return true;
  return err_memory(vm);
}

static Value take_ascii(Vm *vm, Buf *b)
{
  ObjString *s = str_new(vm, b->data ? b->data : "", b->len);
  buf_free(b);
  return OBJ_VAL(s);
}

/* ---- base64 --------------------------------------------------------------------- */

void std_b64_encode(const unsigned char *p, size_t n, bool url, bool pad, Buf *out)
{
  const char *a = url ? B64_URL : B64_STD;
  buf_reserve(out, out->len + (n + 2) / 3 * 4 + 1);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    char q[4] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
    buf_append(out, q, 4);
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    buf_putc(out, a[v >> 18]);
    buf_putc(out, a[(v >> 12) & 63]);
    if (pad) buf_puts(out, "==");
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    buf_putc(out, a[v >> 18]);
    buf_putc(out, a[(v >> 12) & 63]);
    buf_putc(out, a[(v >> 6) & 63]);
    if (pad) buf_putc(out, '=');
  }
}

static int b64_val(unsigned char c, bool url)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

/* Decode [s] ([n] bytes) into [out]; [pad]: canonical padding required,
 * else no padding allowed. False with the crate's text in [err]. */
static bool b64_decode(const unsigned char *s, size_t n, bool url, bool pad, Buf *out, char *err,
                       size_t errlen)
{
  size_t data = n; /* index of the first '=' */
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '=') {
      data = i;
      break;
    }
    if (b64_val(s[i], url) < 0) {
      snprintf(err, errlen, "Invalid symbol %u, offset %zu.", s[i], i);
      return false;
    }
  }
  size_t rem = data % 4;
  if (data < n) {
    /* padding: only '=' may follow, and only after 2 or 3 symbols of a quad */
    if (rem < 2) {
      snprintf(err, errlen, "Invalid symbol %u, offset %zu.", (unsigned)'=', data);
      return false;
    }
    for (size_t i = data; i < n; i++)
      if (s[i] != '=') {
        snprintf(err, errlen, "Invalid symbol %u, offset %zu.", (unsigned)'=', data);
        return false;
      }
  }
  if (rem == 1) {
    snprintf(err, errlen, "Invalid input length: %zu", data);
    return false;
  }
  size_t npad = n - data;
  if (pad ? (rem == 0 ? npad != 0 : npad != 4 - rem) : npad != 0) {
    snprintf(err, errlen, "Invalid padding");
    return false;
  }
  buf_reserve(out, out->len + data / 4 * 3 + 3);
  size_t i = 0;
  for (; i + 4 <= data; i += 4) {
    uint32_t v = (uint32_t)b64_val(s[i], url) << 18 | (uint32_t)b64_val(s[i + 1], url) << 12 |
                 (uint32_t)b64_val(s[i + 2], url) << 6 | (uint32_t)b64_val(s[i + 3], url);
    char q[3] = {(char)(v >> 16), (char)(v >> 8), (char)v};
    buf_append(out, q, 3);
  }
  if (rem) {
    uint32_t v = 0;
    for (size_t k = 0; k < rem; k++) v |= (uint32_t)b64_val(s[i + k], url) << (18 - 6 * k);
    size_t nb = rem - 1; /* 2 symbols: 1 byte, 3: 2 */
    uint32_t unused = nb == 1 ? (v & 0xFFFF) : (v & 0xFF);
    if (unused) {
      snprintf(err, errlen, "Invalid last symbol %u, offset %zu.", s[i + rem - 1], i + rem - 1);
      return false;
    }
    buf_putc(out, (char)(v >> 16));
    if (nb == 2) buf_putc(out, (char)(v >> 8));
  }
  return true;
}

static bool b64_enc_builtin(Vm *vm, int argc, Value *argv, Value *out, bool url)
{
  ObjString *s = input(vm, argc, argv);
  if (!fits(vm, (uint64_t)s->len / 3 * 4 + 4)) return false;
  Buf b = {0};
  std_b64_encode((const unsigned char *)s->chars, s->len, url, !url, &b);
  *out = take_ascii(vm, &b);
  return true;
}

static bool b64_dec_builtin(Vm *vm, int argc, Value *argv, Value *out, bool url)
{
  ObjString *s = input(vm, argc, argv);
  Buf b = {0};
  char err[128];
  if (!b64_decode((const unsigned char *)s->chars, s->len, url, !url, &b, err, sizeof err)) {
    buf_free(&b);
    return err_throw_str(vm, "base64 decode error: %s", err);
  }
  *out = lossy_string(vm, &b);
  return true;
}

bool std_base64_encode(Vm *vm, int argc, Value *argv, Value *out)
{
  return b64_enc_builtin(vm, argc, argv, out, false);
}
bool std_base64_decode(Vm *vm, int argc, Value *argv, Value *out)
{
  return b64_dec_builtin(vm, argc, argv, out, false);
}
bool std_base64url_encode(Vm *vm, int argc, Value *argv, Value *out)
{
  return b64_enc_builtin(vm, argc, argv, out, true);
}
bool std_base64url_decode(Vm *vm, int argc, Value *argv, Value *out)
{
  return b64_dec_builtin(vm, argc, argv, out, true);
}

/* ---- base32 ---------------------------------------------------------------------- */

bool std_base32_encode(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *s = input(vm, argc, argv);
  if (!fits(vm, (uint64_t)s->len / 5 * 8 + 8)) return false;
  const unsigned char *p = (const unsigned char *)s->chars;
  Buf b = {0};
  for (size_t i = 0; i < s->len; i += 5) {
    size_t k = s->len - i < 5 ? s->len - i : 5;
    uint64_t v = 0;
    for (size_t j = 0; j < 5; j++) v = v << 8 | (j < k ? p[i + j] : 0);
    size_t nsym = (k * 8 + 4) / 5; /* 1:2 2:4 3:5 4:7 5:8 */
    for (size_t j = 0; j < 8; j++) buf_putc(&b, j < nsym ? B32[(v >> (35 - 5 * j)) & 31] : '=');
  }
  *out = take_ascii(vm, &b);
  return true;
}

static int b32_val(unsigned char c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

bool std_base32_decode(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *s = input(vm, argc, argv);
  const unsigned char *p = (const unsigned char *)s->chars;
  size_t n = s->len;
  if (n % 8 != 0)
    return err_throw_str(vm, "base32 decode error: invalid length at %zu", n / 8 * 8);
  Buf b = {0};
  for (size_t i = 0; i < n; i += 8) {
    size_t nsym = 8;
    while (nsym > 0 && p[i + nsym - 1] == '=') nsym--;
    /* valid symbol counts in a final block: 2, 4, 5, 7 (8 in any block) */
    if (nsym < 8 && (i + 8 < n || !(nsym == 2 || nsym == 4 || nsym == 5 || nsym == 7))) {
      buf_free(&b);
      return err_throw_str(vm, "base32 decode error: invalid padding length at %zu", i + nsym);
    }
    uint64_t v = 0;
    for (size_t j = 0; j < 8; j++) {
      int d = j < nsym ? b32_val(p[i + j]) : 0;
      if (d < 0) {
        buf_free(&b);
        return err_throw_str(vm, "base32 decode error: invalid symbol at %zu", i + j);
      }
      v = v << 5 | (uint64_t)d;
    }
    size_t nbytes = nsym * 5 / 8;
    uint64_t mask = nbytes < 5 ? (((uint64_t)1 << (40 - 8 * nbytes)) - 1) : 0;
    if (v & mask) {
      buf_free(&b);
      return err_throw_str(vm, "base32 decode error: non-zero trailing bits at %zu", i + nsym - 1);
    }
    for (size_t j = 0; j < nbytes; j++) buf_putc(&b, (char)(v >> (32 - 8 * j)));
  }
  *out = lossy_string(vm, &b);
  return true;
}

/* ---- hex ---------------------------------------------------------------------------- */

void std_hex_append(const unsigned char *p, size_t n, Buf *out)
{
  buf_reserve(out, out->len + 2 * n + 1);
  for (size_t i = 0; i < n; i++) {
    char q[2] = {HEX[p[i] >> 4], HEX[p[i] & 15]};
    buf_append(out, q, 2);
  }
}

static int hex_val(unsigned char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Rust's char Debug of the Latin-1 character [c]: 'g', '\n', '\u{80}'. */
static void char_debug(unsigned char c, char *o, size_t n)
{
  switch (c) {
  case '\n': snprintf(o, n, "'\\n'"); return;
  case '\r': snprintf(o, n, "'\\r'"); return;
  case '\t': snprintf(o, n, "'\\t'"); return;
  case '\0': snprintf(o, n, "'\\0'"); return;
  case '\'': snprintf(o, n, "'\\''"); return;
  case '\\': snprintf(o, n, "'\\\\'"); return;
  default: break;
  }
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || c == 0xAD) snprintf(o, n, "'\\u{%x}'", c);
  else if (c < 0x80) snprintf(o, n, "'%c'", c);
  else snprintf(o, n, "'%c%c'", (char)(0xC0 | c >> 6), (char)(0x80 | (c & 0x3F)));
}

bool std_hex_decode_raw(const char *s, size_t n, Buf *out, char *err, size_t errlen)
{
  if (n % 2) {
    snprintf(err, errlen, "Odd number of digits");
    return false;
  }
  buf_reserve(out, out->len + n / 2 + 1);
  for (size_t i = 0; i < n; i += 2) {
    int hi = hex_val((unsigned char)s[i]), lo = hex_val((unsigned char)s[i + 1]);
    if (hi < 0 || lo < 0) {
      size_t at = hi < 0 ? i : i + 1;
      char d[16];
      char_debug((unsigned char)s[at], d, sizeof d);
      snprintf(err, errlen, "Invalid character %s at position %zu", d, at);
      return false;
    }
    buf_putc(out, (char)(hi << 4 | lo));
  }
  return true;
}

bool std_hex_encode(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *s = input(vm, argc, argv);
  if (!fits(vm, (uint64_t)s->len * 2)) return false;
  Buf b = {0};
  std_hex_append((const unsigned char *)s->chars, s->len, &b);
  *out = take_ascii(vm, &b);
  return true;
}

bool std_hex_decode(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *s = input(vm, argc, argv);
  Buf b = {0};
  char err[96];
  if (!std_hex_decode_raw(s->chars, s->len, &b, err, sizeof err)) {
    buf_free(&b);
    return err_throw_str(vm, "hex decode error: %s", err);
  }
  *out = lossy_string(vm, &b);
  return true;
}

/* ---- URL percent-encoding ------------------------------------------------------------- */

bool std_url_encode(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *s = input(vm, argc, argv);
  if (!fits(vm, (uint64_t)s->len * 3)) return false;
  Buf b = {0};
  buf_reserve(&b, s->len + 1);
  for (uint32_t i = 0; i < s->len; i++) {
    unsigned char c = (unsigned char)s->chars[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      buf_putc(&b, (char)c);
    } else {
      char q[3] = {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
      buf_append(&b, q, 3);
    }
  }
  *out = take_ascii(vm, &b);
  return true;
}

bool std_url_decode(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *s = input(vm, argc, argv);
  Buf b = {0};
  buf_reserve(&b, s->len + 1);
  for (uint32_t i = 0; i < s->len; i++) {
    char c = s->chars[i];
    if (c == '+') {
      buf_putc(&b, ' ');
    } else if (c == '%' && (size_t)i + 2 < s->len && hex_val((unsigned char)s->chars[i + 1]) >= 0 &&
               hex_val((unsigned char)s->chars[i + 2]) >= 0) {
      buf_putc(&b, (char)(hex_val((unsigned char)s->chars[i + 1]) << 4 |
                          hex_val((unsigned char)s->chars[i + 2])));
      i += 2;
    } else {
      buf_putc(&b, c);
    }
  }
  *out = lossy_string(vm, &b);
  return true;
}
