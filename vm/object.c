/*
 * object.c: constructors and primitive operations of Harn heap objects
 * (strings, lists, dicts, sets, ranges, pairs, enums, structs, functions,
 * closures, bound methods, iterators, host objects) and chunk building.
 *
 * Invariants kept here:
 *  - Every object is allocated with gc_alloc_obj(), so it is zeroed (a
 *    zeroed Value is nil) and linked into the heap; variable-size objects
 *    (strings, enum values, closures) record the count their size derives
 *    from, which gc.c uses to free them with the exact size.
 *  - Strings are NUL-terminated, immutable once returned, with `nchars`
 *    and `ascii` computed at creation. Character counting treats each byte
 *    that does not start a well-formed UTF-8 sequence (RFC 3629: no
 *    overlongs, no surrogates, nothing above U+10FFFF) as one character;
 *    utf8_count, str_byte_offset and str_sub all walk with the same rule.
 *    `hash` is FNV-1a over the bytes, computed on first use (0 = unknown;
 *    a real hash of 0 is stored as 1).
 *  - Dict entries are kept sorted by key in byte order (str_cmp), so lookup
 *    is a binary search and iteration/display order is the sorted order.
 *  - Sets keep insertion order and never hold two val_equal() items.
 *  - Growable arrays (list/set items, dict entries, chunk arrays) are
 *    allocated with mem_realloc and their `cap`, as gc.c expects.
 *  - Nothing here collects: allocation only sets gc_pending (gc.h), so a
 *    constructor may hold fresh objects in C locals.
 */
#include "object.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gc.h"
#include "state.h"

#define ALLOC_OBJ(vm, type, kind) ((type *)gc_alloc_obj((vm), sizeof(type), (kind)))

/* Capacity growth for the growable arrays below. */
static uint32_t grow_cap(uint32_t cap, uint32_t need)
{
  uint64_t c = cap < 8 ? 8 : cap;
  while (c < need) c *= 2;
  if (c > UINT32_MAX) c = UINT32_MAX;
  return (uint32_t)c;
}

/* ---- UTF-8 --------------------------------------------------------------- */

int utf8_seqlen(unsigned char c)
{
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 1;
}

/* Length in bytes of the character starting at [s] (at most [n] bytes
 * available): the full sequence when well formed, else 1. */
static size_t char_len(const unsigned char *s, size_t n)
{
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  int len = utf8_seqlen(c);
  if (len == 1 || (size_t)len > n) return 1;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c == 0xE0) lo = 0xA0;
  else if (c == 0xED) hi = 0x9F;
  else if (c == 0xF0) lo = 0x90;
  else if (c == 0xF4) hi = 0x8F;
  if (s[1] < lo || s[1] > hi) return 1;
  for (int i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 1;
  return (size_t)len;
}

uint32_t utf8_count(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  uint32_t n = 0;
  size_t i = 0;
  while (i < len) {
    if (p[i] < 0x80) i++;
    else i += char_len(p + i, len - i);
    n++;
  }
  return n;
}

/* ---- strings ------------------------------------------------------------- */

ObjString *str_new(Vm *vm, const char *s, size_t len)
{
  if (len > UINT32_MAX - 1) {
    fputs("harn: string too large\n", stderr);
    abort();
  }
  ObjString *str = (ObjString *)gc_alloc_obj(vm, sizeof(ObjString) + len + 1, OBJ_STRING);
  str->len = (uint32_t)len;
  if (len) memcpy(str->chars, s, len);
  str->chars[len] = 0;
  str->nchars = utf8_count(str->chars, len);
  str->ascii = str->nchars == str->len;
  str->hash = 0;
  return str;
}

ObjString *str_cstr(Vm *vm, const char *s) { return str_new(vm, s, strlen(s)); }

ObjString *str_from_buf(Vm *vm, Buf *b)
{
  ObjString *s = str_new(vm, b->data ? b->data : "", b->len);
  buf_free(b);
  return s;
}

ObjString *str_printf(Vm *vm, const char *fmt, ...)
{
  Buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  return str_from_buf(vm, &b);
}

ObjString *str_concat(Vm *vm, ObjString *a, ObjString *b)
{
  size_t len = (size_t)a->len + b->len;
  ObjString *s = (ObjString *)gc_alloc_obj(vm, sizeof(ObjString) + len + 1, OBJ_STRING);
  s->len = (uint32_t)len;
  memcpy(s->chars, a->chars, a->len);
  memcpy(s->chars + a->len, b->chars, b->len);
  s->chars[len] = 0;
  /* A sequence cannot straddle the seam only if both sides end/start
   * cleanly; recounting is cheap and always right. */
  if (a->ascii && b->ascii) s->nchars = (uint32_t)len;
  else s->nchars = utf8_count(s->chars, len);
  s->ascii = s->nchars == s->len;
  return s;
}

uint32_t str_hash(ObjString *s)
{
  if (s->hash) return s->hash;
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < s->len; i++) {
    h ^= (unsigned char)s->chars[i];
    h *= 16777619u;
  }
  if (h == 0) h = 1;
  s->hash = h;
  return h;
}

bool str_eq(const ObjString *a, const ObjString *b)
{
  if (a == b) return true;
  if (a->len != b->len) return false;
  if (a->hash && b->hash && a->hash != b->hash) return false;
  return memcmp(a->chars, b->chars, a->len) == 0;
}

/* Byte-order comparison of [a] with [n] bytes at [b]. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  size_t n = an < bn ? an : bn;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

int str_cmp(const ObjString *a, const ObjString *b)
{
  if (a == b) return 0;
  return bytes_cmp(a->chars, a->len, b->chars, b->len);
}

size_t str_byte_offset(const ObjString *s, int64_t ci)
{
  if (ci <= 0) return 0;
  if (ci >= s->nchars) return s->len;
  if (s->ascii) return (size_t)ci;
  const unsigned char *p = (const unsigned char *)s->chars;
  size_t i = 0;
  int64_t c = 0;
  while (i < s->len && c < ci) {
    i += p[i] < 0x80 ? 1 : char_len(p + i, s->len - i);
    c++;
  }
  return i;
}

ObjString *str_sub(Vm *vm, ObjString *s, int64_t from, int64_t to)
{
  if (from < 0) from = 0;
  if (to > s->nchars) to = s->nchars;
  if (from >= to) return str_new(vm, "", 0);
  size_t a = str_byte_offset(s, from);
  size_t b = s->ascii ? (size_t)to : a + str_byte_offset_from(s, a, to - from);
  return str_new(vm, s->chars + a, b - a);
}
