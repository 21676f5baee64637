/*
 * export.c: VM values to msgpack, exactly as docs/RUNTIME.md 9.3 says (the
 * worker's `final.value`, `final.error_value` and the bodies of step, emit
 * and lifecycle events; vm.h vm_result_pack / vm_error_value_pack /
 * vm_value_pack).
 *
 *   nil, bool, int (int64), float (float64), string (str), bytes (bin),
 *   list (array), dict (map, str keys, the dict's own order)   -> directly
 *   enum variant       -> {"$harn": "enum", enum, variant, fields: [...]}
 *   Result.Ok / Err    -> {"$harn": "result", ok: bool, value}
 *   duration           -> {"$harn": "duration", ms}
 *   anything else      -> {"$harn": "opaque", type: type_of, display}
 *                         (closures, builtins, tasks, channels, sets,
 *                          ranges, pairs, structs, iterators, ...)
 *
 * "bytes" is the host object whose vtable type_name is "bytes"; its
 * ObjNative data/size hold the raw bytes.
 *
 * Invariant: the output always decodes on the supervisor side. msgpack-c
 * cannot unpack containers nested deeper than 32 levels, and a value sits
 * inside a frame map (and, for events, inside a record or payload), so a
 * value is packed at most EXPORT_MAX_DEPTH containers deep (IPC_MAX_DEPTH
 * of ipc/ipc.h minus the frame's own levels); a deeper sub-value is
 * replaced by an opaque tagged map whose display says so. Packing never
 * allocates GC objects and never runs the collector, so the Value graph
 * stays valid throughout.
 */
#include <msgpack.h>
#include <string.h>

#include "base/buf.h"
#include "error.h"
#include "object.h"
#include "state.h"
#include "value.h"
#include "vm.h"

/* IPC_MAX_DEPTH (30) minus the frame map, the event field holding a record
 * or payload, and one tag map of margin: a value's containers, the value
 * itself counting as 1. */
#define EXPORT_MAX_DEPTH 26

static void pack_cstr(msgpack_packer *pk, const char *s)
{
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

static void pack_objstr(msgpack_packer *pk, const ObjString *s)
{
  msgpack_pack_str(pk, s->len);
  msgpack_pack_str_body(pk, s->chars, s->len);
}

static void pack_tag(msgpack_packer *pk, const char *tag, size_t nfields)
{
  msgpack_pack_map(pk, 1 + nfields);
  pack_cstr(pk, "$harn");
  pack_cstr(pk, tag);
}

static void pack_opaque(Vm *vm, msgpack_packer *pk, Value v, const char *display_override)
{
  pack_tag(pk, "opaque", 2);
  pack_cstr(pk, "type");
  pack_cstr(pk, val_type_name(v));
  pack_cstr(pk, "display");
  if (display_override) {
    pack_cstr(pk, display_override);
    return;
  }
  Buf b = {0};
  val_display(vm, v, &b);
  msgpack_pack_str(pk, b.len);
  msgpack_pack_str_body(pk, b.data ? b.data : "", b.len);
  buf_free(&b);
}

static bool is_bytes(Value v)
{
  return IS_NATIVE(v) && AS_NATIVE(v)->vt && AS_NATIVE(v)->vt->type_name &&
         strcmp(AS_NATIVE(v)->vt->type_name, "bytes") == 0;
}

static int pack_value(Vm *vm, msgpack_packer *pk, Value v, int depth)
{
  switch (v.type) {
  case VAL_NIL: return msgpack_pack_nil(pk);
  case VAL_BOOL: return AS_BOOL(v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  case VAL_INT: return msgpack_pack_int64(pk, AS_INT(v));
  case VAL_FLOAT: return msgpack_pack_double(pk, AS_FLOAT(v));
  case VAL_DURATION:
    pack_tag(pk, "duration", 1);
    pack_cstr(pk, "ms");
    return msgpack_pack_int64(pk, v.as.i);
  case VAL_BUILTIN: pack_opaque(vm, pk, v, NULL); return 0;
  case VAL_OBJ: break;
  }

  Obj *o = AS_OBJ(v);
  if (o->type == OBJ_STRING) {
    pack_objstr(pk, AS_STRING(v));
    return 0;
  }
  if (is_bytes(v)) {
    ObjNative *n = AS_NATIVE(v);
    int r = msgpack_pack_bin(pk, n->size);
    if (n->size) r |= msgpack_pack_bin_body(pk, n->data, n->size);
    return r;
  }
  bool container = o->type == OBJ_LIST || o->type == OBJ_DICT || o->type == OBJ_ENUM;
  /* An enum is a tag map plus a fields array: two levels. */
  int need = o->type == OBJ_ENUM ? 2 : 1;
  if (container && depth + need - 1 > EXPORT_MAX_DEPTH) {
    pack_opaque(vm, pk, v, "<nested too deep for the protocol>");
    return 0;
  }
  int rc = 0;
  switch (o->type) {
  case OBJ_LIST: {
    ObjList *l = AS_LIST(v);
    msgpack_pack_array(pk, l->count);
    for (uint32_t i = 0; i < l->count; i++) rc |= pack_value(vm, pk, l->items[i], depth + 1);
    return rc;
  }
  case OBJ_DICT: {
    ObjDict *d = AS_DICT(v);
    msgpack_pack_map(pk, d->count);
    for (uint32_t i = 0; i < d->count; i++) {
      pack_objstr(pk, d->entries[i].key);
      rc |= pack_value(vm, pk, d->entries[i].value, depth + 1);
    }
    return rc;
  }
  case OBJ_ENUM: {
    ObjEnum *e = AS_ENUM(v);
    if (is_result_ok(v) || is_result_err(v)) {
      pack_tag(pk, "result", 2);
      pack_cstr(pk, "ok");
      if (is_result_ok(v)) msgpack_pack_true(pk);
      else msgpack_pack_false(pk);
      pack_cstr(pk, "value");
      return pack_value(vm, pk, e->nfields > 0 ? e->fields[0] : NIL_VAL, depth + 1);
    }
    pack_tag(pk, "enum", 3);
    pack_cstr(pk, "enum");
    pack_objstr(pk, e->enum_name);
    pack_cstr(pk, "variant");
    pack_objstr(pk, e->variant);
    pack_cstr(pk, "fields");
    msgpack_pack_array(pk, e->nfields);
    for (uint32_t i = 0; i < e->nfields; i++) rc |= pack_value(vm, pk, e->fields[i], depth + 2);
    return rc;
  }
  default: pack_opaque(vm, pk, v, NULL); return 0;
  }
}

bool vm_value_pack(Vm *vm, const void *value, void *packer)
{
  if (!value) return msgpack_pack_nil(packer) == 0;
  return pack_value(vm, packer, *(const Value *)value, 1) == 0;
}

bool vm_result_pack(Vm *vm, void *packer)
{
  Value v = vm_result_value(vm);
  return pack_value(vm, packer, v, 1) == 0;
}

bool vm_error_value_pack(Vm *vm, void *packer)
{
  msgpack_packer *pk = packer;
  switch (vm->err_kind) {
  case ERR_NONE: return msgpack_pack_nil(pk) == 0;
  case ERR_THROWN: return pack_value(vm, pk, vm->err_value, 1) == 0;
  default: {
    Buf b = {0};
    err_display(vm, &b);
    int rc = msgpack_pack_str(pk, b.len);
    rc |= msgpack_pack_str_body(pk, b.data ? b.data : "", b.len);
    buf_free(&b);
    return rc == 0;
  }
  }
}

bool vm_error_is_memory(Vm *vm) { return vm->err_kind == ERR_MEMORY; }
