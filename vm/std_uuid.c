/*
 * std_uuid.c: UUIDs (RFC 9562) with the Rust `uuid` crate's behaviour
 * (design: shared/design/STDLIB.md 4.5), in our own code:
 *
 *  - uuid(): version 4, 122 random bits from getrandom (allowed by the
 *    sandbox).
 *  - uuid_v5(namespace, name): SHA-1 (libcrypto) of the namespace's 16
 *    bytes and the name's display text; the namespace is a UUID string or
 *    one of dns/url/oid/x500, else the error "uuid_v5: namespace must be a
 *    UUID or one of dns/url/oid/x500".
 *  - uuid_v7(): 48-bit Unix milliseconds, then a 42-bit counter (12 bits in
 *    rand_a, 30 at the top of rand_b: RFC 9562 6.2 method 1, as the crate's
 *    ContextV7), then 32 random bits. The counter starts at a random value
 *    below 2^41 each new millisecond and is incremented within one, so the
 *    values of a process are strictly increasing; a counter overflow, or a
 *    clock that went back, borrows the next millisecond.
 *  - uuid_nil(), and uuid_parse(s): the canonical lowercase hyphenated form,
 *    or nil when [s] is not one of the crate's accepted forms.
 *
 * Output is always lowercase hyphenated (36 characters).
 */
#include "std_uuid.h"

#include <string.h>
#include <time.h>

#include "error.h"
#include "methods.h"
#include "object.h"
#include "std_crypto.h"

static Value uuid_string(Vm *vm, const unsigned char u[16])
{
  static const char hex[] = "0123456789abcdef";
  char s[36];
  int k = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s[k++] = '-';
    s[k++] = hex[u[i] >> 4];
    s[k++] = hex[u[i] & 15];
  }
  return OBJ_VAL(str_new(vm, s, 36));
}

static int hexv(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* 32 hex digits at [s], with hyphens expected at [hyph] (36 form) or none. */
static bool parse_digits(const char *s, size_t n, bool hyph, unsigned char u[16])
{
  size_t k = 0;
  int nib = 0;
  for (size_t i = 0; i < n; i++) {
    if (hyph && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (s[i] != '-') return false;
      continue;
    }
    int v = hexv(s[i]);
    if (v < 0 || k >= 16) return false;
    if (nib == 0) u[k] = (unsigned char)(v << 4), nib = 1;
    else u[k++] |= (unsigned char)v, nib = 0;
  }
  return k == 16 && nib == 0;
}

bool std_uuid_parse_raw(const char *s, size_t n, unsigned char u[16])
{
  if (n == 32) return parse_digits(s, n, false, u);
  if (n == 36) return parse_digits(s, n, true, u);
  if (n == 38 && s[0] == '{' && s[37] == '}') return parse_digits(s + 1, 36, true, u);
  if (n == 45 && !memcmp(s, "urn:uuid:", 9)) return parse_digits(s + 9, 36, true, u);
  return false;
}

static void set_version(unsigned char u[16], int version)
{
  u[6] = (unsigned char)((u[6] & 0x0F) | (version << 4));
  u[8] = (unsigned char)((u[8] & 0x3F) | 0x80);
}

bool std_uuid_v4(Vm *vm, int argc, Value *argv, Value *out)
{
  unsigned char u[16];
  if (!std_random_bytes(u, sizeof u)) return err_runtime(vm, "uuid: no random bytes");
  set_version(u, 4);
  *out = uuid_string(vm, u);
  return true;
}

bool std_uuid_nil(Vm *vm, int argc, Value *argv, Value *out)
{
  unsigned char u[16] = {0};
  *out = uuid_string(vm, u);
  return true;
}

bool std_uuid_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = meth_arg(argc, argv, 0);
  unsigned char u[16];
  if (!IS_STRING(v) || !std_uuid_parse_raw(AS_STRING(v)->chars, AS_STRING(v)->len, u)) {
    *out = val_nil();
    return true;
  }
  *out = uuid_string(vm, u);
  return true;
}

/* RFC 9562 appendix C namespaces. */
static const struct {
  const char *name;
  unsigned char id[16];
} namespaces[] = {
  {"dns", {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}},
  {"url", {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}},
  {"oid", {0x6b, 0xa7, 0xb8, 0x12, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}},
  {"x500", {0x6b, 0xa7, 0xb8, 0x14, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}},
};

bool std_uuid_v5(Vm *vm, int argc, Value *argv, Value *out)
{
  Value nsv = meth_arg(argc, argv, 0);
  unsigned char ns[16];
  bool found = false;
  if (IS_STRING(nsv)) {
    ObjString *s = AS_STRING(nsv);
    for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
      if (!strcmp(s->chars, namespaces[i].name) && strlen(namespaces[i].name) == s->len) {
        memcpy(ns, namespaces[i].id, 16);
        found = true;
      }
    if (!found) found = std_uuid_parse_raw(s->chars, s->len, ns);
  }
  if (!found) return err_throw_str(vm, "uuid_v5: namespace must be a UUID or one of dns/url/oid/x500");
  Value nv = meth_arg(argc, argv, 1);
  ObjString *name = IS_STRING(nv) ? AS_STRING(nv) : val_to_string(vm, nv);
  Buf b = {0};
  buf_append(&b, (const char *)ns, 16);
  buf_append(&b, name->chars, name->len);
  unsigned char d[20];
  bool ok = std_sha1(b.data, b.len, d);
  buf_free(&b);
  if (!ok) return err_runtime(vm, "uuid_v5: libcrypto could not be initialised");
  set_version(d, 5);
  *out = uuid_string(vm, d);
  return true;
}

/* uuid_v7's process-wide state: the last millisecond used and the counter. */
static uint64_t v7_ms;
static uint64_t v7_counter;
#define V7_COUNTER_BITS 42

bool std_uuid_v7(Vm *vm, int argc, Value *argv, Value *out)
{
  unsigned char r[10];
  if (!std_random_bytes(r, sizeof r)) return err_runtime(vm, "uuid_v7: no random bytes");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  if (ms > v7_ms) {
    v7_ms = ms;
    /* a fresh counter, its top bit clear: room to count within this ms */
    v7_counter = ((uint64_t)r[4] << 40 | (uint64_t)r[5] << 32 | (uint64_t)r[6] << 24 |
                  (uint64_t)r[7] << 16 | (uint64_t)r[8] << 8 | r[9]) &
                 (((uint64_t)1 << (V7_COUNTER_BITS - 1)) - 1);
  } else if (++v7_counter >> V7_COUNTER_BITS) {
    v7_ms++; /* overflow (or the clock went back): borrow the next ms */
    v7_counter = 0;
  }
  unsigned char u[16];
  uint64_t t = v7_ms & 0xFFFFFFFFFFFFull;
  for (int i = 0; i < 6; i++) u[i] = (unsigned char)(t >> (40 - 8 * i));
  uint64_t c = v7_counter;
  /* ver(4) | counter[41:30] (12 bits) | var(2) | counter[29:0] (30 bits) | random (32) */
  u[6] = (unsigned char)(0x70 | ((c >> 38) & 0x0F));
  u[7] = (unsigned char)(c >> 30);
  u[8] = (unsigned char)(0x80 | ((c >> 24) & 0x3F));
  u[9] = (unsigned char)(c >> 16);
  u[10] = (unsigned char)(c >> 8);
  u[11] = (unsigned char)c;
  memcpy(u + 12, r, 4);
  *out = uuid_string(vm, u);
  return true;
}
