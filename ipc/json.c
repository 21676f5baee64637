/*
 * json.c: msgpack values (docs/RUNTIME.md 9.3) to JSON text, for the results
 * file and `harn run --json` (ipc.h ipc_to_json, docs/protocol.md).
 *
 * Rules: maps keep their wire order (the worker sends dicts in the VM's
 * order); tagged maps such as {"$harn":"duration","ms":500} are ordinary
 * maps and are rendered as the JSON objects they already are; bin becomes
 * {"$harn":"bytes","base64":"..."}; floats print in the shortest text that
 * reads back to the same double, without a forced ".0" (json_stringify's
 * rule), and NaN / infinities become null (JSON has no spelling for them);
 * strings are escaped by base/json_escape.h (an invalid UTF-8 character
 * becomes \ufffd).
 *
 * Invariant: the output is always valid JSON, even when the input is not a
 * value our worker would produce (ext types become null, non-str keys are
 * rendered as their own JSON text inside a string). Recursion is bounded:
 * past 2 * IPC_MAX_DEPTH levels a container is written as null and the
 * function reports IPC_E_DEPTH (decoded frames never go that deep).
 */
#include "ipc/ipc.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/json_escape.h"

/* A decimal integer, "-" first when [neg] (printf's cost avoided). */
static void put_u64(Buf *out, bool neg, uint64_t v)
{
  char tmp[24];
  size_t i = sizeof tmp;
  do tmp[--i] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  if (neg) tmp[--i] = '-';
  buf_append(out, tmp + i, sizeof tmp - i);
}

static void put_float(Buf *out, double x)
{
  if (!isfinite(x)) {
    buf_puts(out, "null");
    return;
  }
  char tmp[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, x);
    if (strtod(tmp, NULL) == x) break;
  }
  /* %g may give "1e+20": valid JSON. Plain integers stay without ".0". */
  buf_puts(out, tmp);
}

static void put_base64(Buf *out, const unsigned char *s, size_t n)
{
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  buf_putc(out, '"');
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
    buf_append(out, q, 4);
  }
  if (i < n) {
    uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
    char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=', '='};
    buf_append(out, q, 4);
  }
  buf_putc(out, '"');
}

static int put_value(Buf *out, const msgpack_object *o, int depth)
{
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: buf_puts(out, "null"); return 0;
  case MSGPACK_OBJECT_BOOLEAN: buf_puts(out, o->via.boolean ? "true" : "false"); return 0;
  case MSGPACK_OBJECT_POSITIVE_INTEGER: put_u64(out, false, o->via.u64); return 0;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    if (o->via.i64 < 0) put_u64(out, true, 0ull - (uint64_t)o->via.i64);
    else put_u64(out, false, (uint64_t)o->via.i64);
    return 0;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: put_float(out, o->via.f64); return 0;
  case MSGPACK_OBJECT_STR: json_escape(out, o->via.str.ptr, o->via.str.size, 0); return 0;
  case MSGPACK_OBJECT_BIN:
    buf_puts(out, "{\"$harn\":\"bytes\",\"base64\":");
    put_base64(out, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
    buf_putc(out, '}');
    return 0;
  case MSGPACK_OBJECT_EXT: buf_puts(out, "null"); return 0;
  case MSGPACK_OBJECT_ARRAY:
  case MSGPACK_OBJECT_MAP: break;
  }
  if (depth >= 2 * IPC_MAX_DEPTH) {
    buf_puts(out, "null");
    return IPC_E_DEPTH;
  }
  int rc = 0;
  if (o->type == MSGPACK_OBJECT_ARRAY) {
    buf_putc(out, '[');
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (i) buf_putc(out, ',');
      int r = put_value(out, &o->via.array.ptr[i], depth + 1);
      if (r) rc = r;
    }
    buf_putc(out, ']');
    return rc;
  }
  buf_putc(out, '{');
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (i) buf_putc(out, ',');
    if (kv->key.type == MSGPACK_OBJECT_STR) {
      json_escape(out, kv->key.via.str.ptr, kv->key.via.str.size, 0);
    } else {
      Buf k = {0};
      int r = put_value(&k, &kv->key, depth + 1);
      if (r) rc = r;
      json_escape(out, k.data ? k.data : "", k.len, 0);
      buf_free(&k);
    }
    buf_putc(out, ':');
    int r = put_value(out, &kv->val, depth + 1);
    if (r) rc = r;
  }
  buf_putc(out, '}');
  return rc;
}

int ipc_to_json(Buf *out, const msgpack_object *o)
{
  return put_value(out, o, 0);
}
