/*
 * codec.c: the incremental frame decoder and the validation of every
 * message (ipc.h, docs/protocol.md), plus the name tables generated from
 * IPC_MSG_MAP and IPC_ERR_MAP.
 *
 * Design. Bytes from the pipe are appended to one growable buffer; a frame
 * is taken out only when its 4-byte length and its whole body are in. The
 * length is checked as soon as the prefix is complete, so an oversize frame
 * is rejected without buffering it. The body is copied into a fresh msgpack
 * zone and unpacked there (msgpack_unpack references the input buffer for
 * str/bin, so the zone must own the bytes); the resulting IpcMsg points only
 * into that zone.
 *
 * Validation is table-driven: each message type has a list of FieldSpec
 * (name, kind, required); the envelope fields come first. A map is walked
 * once: every key must be a str naming a known field, seen once, whose value
 * has the field's kind. Then required fields are checked, then the
 * semantic rules (enumerations, version, program xor source, seq order).
 * The final frame and its counters are the exception: they are decoded by
 * name from X-macro lists (FINAL_FIELDS, HARN_COUNTERS), skip unknown keys
 * and default missing ones, so the record a worker's verdict becomes does
 * not depend on the order or the completeness of the fields it sent.
 *
 * Invariants: after the first error the decoder is dead (sticky code and
 * text), because the byte stream can no longer be trusted to be aligned on
 * frame boundaries. The error text always names the frame (1-based count)
 * and, when known, its type and seq.
 */
#include "ipc/ipc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- name tables -------------------------------------------------------- */

static const char *const msg_names[] = {
#define X(name, wire, dir) wire,
    IPC_MSG_MAP(X)
#undef X
};

static const char msg_dirs[] = {
#define X(name, wire, dir) dir,
    IPC_MSG_MAP(X)
#undef X
};

const char *ipc_msg_name(IpcMsgType t)
{
  if ((int)t < 0 || t >= IPC_MSG_COUNT) return "?";
  return msg_names[t];
}

int ipc_msg_lookup(const char *name, size_t len)
{
  for (int i = 0; i < IPC_MSG_COUNT; i++)
    if (strlen(msg_names[i]) == len && memcmp(msg_names[i], name, len) == 0) return i;
  return -1;
}

static const char *const err_names[] = {
#define X(name, text) "IPC_E_" #name,
    IPC_ERR_MAP(X)
#undef X
};

static const char *const err_texts[] = {
#define X(name, text) text,
    IPC_ERR_MAP(X)
#undef X
};

const char *ipc_err_name(int code)
{
  if (code == 0) return "IPC_OK";
  int i = -1 - code;
  if (i < 0 || i >= IPC_ERR_COUNT) return "unknown";
  return err_names[i];
}

const char *ipc_strerror(int code)
{
  if (code == 0) return "no error";
  int i = -1 - code;
  if (i < 0 || i >= IPC_ERR_COUNT) return "unknown";
  return err_texts[i];
}

const char *ipc_status_name(IpcStatus s)
{
  switch (s) {
  case IPC_STATUS_OK: return "ok";
  case IPC_STATUS_ERROR: return "error";
  case IPC_STATUS_CANCELLED: return "cancelled";
  }
  return "?";
}

void ipc_msg_free(IpcMsg *m)
{
  if (m->zone) msgpack_zone_free(m->zone);
  memset(m, 0, sizeof *m);
}

/* ---- decoder state -------------------------------------------------------- */

struct IpcDecoder {
  IpcReadSide side;
  size_t max_frame;
  char *buf;          /* pending bytes are buf[off, len) */
  size_t off, len, cap;
  int err;            /* sticky, 0 when healthy */
  char errmsg[512];
  uint64_t frames;    /* frames returned */
  uint64_t next_seq;  /* events: the seq the next frame must carry */
  bool saw_final;
  bool saw_sandbox;      /* a `sandbox` event was decoded (at most one) */
  bool saw_job;          /* job side: the `job` frame was decoded */
  uint64_t last_call;    /* events: the id of the last host_call, 0 = none */
  bool has_expect;
  char *expect_job;
  int64_t expect_attempt;
};

IpcDecoder *ipc_decoder_new(IpcReadSide side, size_t max_frame)
{
  IpcDecoder *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->side = side;
  d->max_frame = (max_frame == 0 || max_frame > IPC_MAX_FRAME) ? IPC_MAX_FRAME : max_frame;
  return d;
}

void ipc_decoder_free(IpcDecoder *d)
{
  if (!d) return;
  free(d->buf);
  free(d->expect_job);
  free(d);
}

int ipc_decoder_expect(IpcDecoder *d, const char *job, int64_t attempt)
{
  char *copy = strdup(job);
  if (!copy) return IPC_E_NOMEM;
  free(d->expect_job);
  d->expect_job = copy;
  d->expect_attempt = attempt;
  d->has_expect = true;
  return 0;
}

const char *ipc_decoder_error(const IpcDecoder *d) { return d->errmsg; }
int ipc_decoder_status(const IpcDecoder *d) { return d->err; }
bool ipc_decoder_saw_final(const IpcDecoder *d) { return d->saw_final; }
uint64_t ipc_decoder_frames(const IpcDecoder *d) { return d->frames; }
size_t ipc_decoder_buffered(const IpcDecoder *d) { return d->len - d->off; }

/* Context of the frame being decoded, for error texts. */
typedef struct Ctx {
  IpcDecoder *d;
  uint64_t frame;    /* 1-based */
  const char *type;  /* wire name once known */
  bool has_seq;
  uint64_t seq;
} Ctx;

static int failv(IpcDecoder *d, const Ctx *c, int code, const char *fmt, va_list ap)
{
  size_t n = 0;
  if (c) {
    n = (size_t)snprintf(d->errmsg, sizeof d->errmsg, "frame %" PRIu64, c->frame);
    if (c->type && c->has_seq)
      n += (size_t)snprintf(d->errmsg + n, sizeof d->errmsg - n, " (type %s, seq %" PRIu64 ")",
                            c->type, c->seq);
    else if (c->type)
      n += (size_t)snprintf(d->errmsg + n, sizeof d->errmsg - n, " (type %s)", c->type);
    if (n < sizeof d->errmsg) n += (size_t)snprintf(d->errmsg + n, sizeof d->errmsg - n, ": ");
  }
  if (n < sizeof d->errmsg) vsnprintf(d->errmsg + n, sizeof d->errmsg - n, fmt, ap);
  d->err = code;
  return code;
}

__attribute__((format(printf, 3, 4))) static int fail(const Ctx *c, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  failv(c->d, c, code, fmt, ap);
  va_end(ap);
  return code;
}

__attribute__((format(printf, 4, 5))) static int fail_d(IpcDecoder *d, uint64_t frame, int code,
                                                       const char *fmt, ...)
{
  Ctx c = {d, frame, NULL, false, 0};
  va_list ap;
  va_start(ap, fmt);
  failv(d, &c, code, fmt, ap);
  va_end(ap);
  return code;
}

static uint32_t be32(const char *p)
{
  const unsigned char *u = (const unsigned char *)p;
  return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}

/* Check the length prefix of the frame at the head of the buffer. */
static int check_header(IpcDecoder *d)
{
  if (d->len - d->off < IPC_HEADER_SIZE) return 0;
  uint32_t n = be32(d->buf + d->off);
  if (n == 0) return fail_d(d, d->frames + 1, IPC_E_EMPTY, "zero-length frame (a frame holds one msgpack map)");
  if (n > d->max_frame)
    return fail_d(d, d->frames + 1, IPC_E_TOOBIG,
                  "frame length %" PRIu32 " exceeds the maximum frame size %zu", n, d->max_frame);
  return 0;
}

int ipc_decoder_feed(IpcDecoder *d, const void *data, size_t len)
{
  if (d->err) return d->err;
  if (len == 0) return 0;
  if (d->off > 0 && d->off == d->len) d->off = d->len = 0;
  if (d->len + len > d->cap) {
    if (d->off > 0) { /* compact first */
      memmove(d->buf, d->buf + d->off, d->len - d->off);
      d->len -= d->off;
      d->off = 0;
    }
    if (d->len + len > d->cap) {
      size_t cap = d->cap ? d->cap : 4096;
      while (cap < d->len + len) cap *= 2;
      char *nb = realloc(d->buf, cap);
      if (!nb) return fail_d(d, d->frames + 1, IPC_E_NOMEM, "out of memory buffering %zu bytes", len);
      d->buf = nb;
      d->cap = cap;
    }
  }
  memcpy(d->buf + d->len, data, len);
  d->len += len;
  return check_header(d);
}

int ipc_decoder_finish(IpcDecoder *d)
{
  if (d->err) return d->err;
  size_t pending = d->len - d->off;
  if (pending == 0) return 0;
  if (pending < IPC_HEADER_SIZE)
    return fail_d(d, d->frames + 1, IPC_E_TRUNCATED,
                  "stream ended inside the length prefix (%zu of 4 bytes)", pending);
  return fail_d(d, d->frames + 1, IPC_E_TRUNCATED,
                "stream ended inside the frame body (%zu of %" PRIu32 " bytes)",
                pending - IPC_HEADER_SIZE, be32(d->buf + d->off));
}

/* ---- field schemas ------------------------------------------------------------- */

typedef enum {
  K_STR,     /* str */
  K_STR_NIL, /* str or nil */
  K_INT,     /* int64 */
  K_INT_NIL, /* int64 or nil */
  K_UINT,    /* non-negative int */
  K_UINT_NIL,
  K_NUM,     /* finite int or float */
  K_BOOL,
  K_BIN,
  K_VALUE,   /* any docs/RUNTIME.md 9.3 value */
  K_MAP,     /* a map (validated as a value) */
  K_ARRAY    /* an array (elements validated by the caller) */
} Kind;

typedef struct FieldSpec {
  const char *name;
  Kind kind;
  bool required;
} FieldSpec;

#define MAX_FIELDS 24

static const FieldSpec env_event[] = {
    {"type", K_STR, true}, {"job", K_STR, true}, {"attempt", K_INT, true},
    {"seq", K_UINT, true}, {"t_ms", K_NUM, true}};
static const FieldSpec env_job[] = {
    {"type", K_STR, true}, {"version", K_INT, true}, {"job", K_STR, true}, {"attempt", K_INT, true}};

static const FieldSpec f_job[] = {
    {"program", K_STR_NIL, false}, {"source", K_STR_NIL, false}, {"name", K_STR_NIL, false},
    {"input", K_STR_NIL, true},    {"deadline_at_ms", K_INT_NIL, true},
    {"grace_ms", K_UINT, true},    {"count_instructions", K_BOOL, true},
    {"sandbox", K_BOOL, false},    {"memory", K_UINT, false},
    {"cpu_ms", K_UINT, false},     {"address_space", K_UINT, false},
    {"cwd", K_STR, false},         {"grants", K_ARRAY, false},
    {"scratch", K_STR, false},     {"max_write_bytes", K_UINT, false},
    {"env", K_MAP, false},         {"deny", K_ARRAY, false},
    {"host", K_ARRAY, false}};
static const FieldSpec f_grant[] = {{"path", K_STR, true}, {"write", K_BOOL, true}};
static const FieldSpec f_started[] = {
    {"version", K_INT, true}, {"pid", K_INT, true}, {"pgid", K_INT, true},
    {"started_at_ms", K_NUM, true}};
static const FieldSpec f_output[] = {{"stream", K_STR, true}, {"data", K_BIN, true}};
static const FieldSpec f_step[] = {{"record", K_MAP, true}};
static const FieldSpec f_emit[] = {{"name", K_STR, true}, {"data", K_VALUE, true}};
static const FieldSpec f_lifecycle[] = {
    {"event", K_STR, true}, {"payload", K_VALUE, true}, {"control", K_STR, true},
    {"hooks", K_ARRAY, true}};
/* The final frame is decoded by name: FINAL_FIELDS gives each field its
 * kind, whether it is required and (through the FIN_* enum) the slot its
 * value lands in; decode_final reads slots by name, never by position.
 * Unknown keys of a final frame (and of its `counters` map) are skipped, a
 * missing optional field takes its default (nil, false, 0, an empty trace),
 * a duplicate is refused. Only `status` is required: without it there is
 * no verdict to default to. */
#define FINAL_FIELDS(X)              \
  X(status, K_STR, true)             \
  X(value, K_VALUE, false)           \
  X(error, K_STR_NIL, false)         \
  X(error_value, K_VALUE, false)     \
  X(diagnostic, K_STR_NIL, false)    \
  X(trace, K_ARRAY, false)           \
  X(signal, K_STR_NIL, false)        \
  X(hard_stop, K_BOOL, false)        \
  X(exit_code, K_INT, false)         \
  X(counters, K_MAP, false)          \
  X(limit, K_STR_NIL, false)        \
  X(capabilities, K_MAP, false)

enum {
#define X(name, kind, required) FIN_##name,
  FINAL_FIELDS(X)
#undef X
  FIN_COUNT
};
static const FieldSpec f_final[] = {
#define X(name, kind, required) {#name, kind, required},
    FINAL_FIELDS(X)
#undef X
};
static const FieldSpec f_sandbox[] = {{"applied", K_MAP, true}};
/* v3 host-call channel (docs/protocol.md "Host calls") */
static const FieldSpec f_host_call[] = {
    {"id", K_UINT, true}, {"cap", K_STR, true}, {"op", K_STR, true}, {"args", K_VALUE, true}};
static const FieldSpec f_host_cancel[] = {{"id", K_UINT, true}};
/* host_result has no envelope but its type (env_result) */
static const FieldSpec env_result[] = {{"type", K_STR, true}};
static const FieldSpec f_host_result[] = {
    {"id", K_UINT, true}, {"ok", K_BOOL, true}, {"value", K_VALUE, false}, {"error", K_VALUE, false}};

/* The counters map, from HARN_COUNTERS (base/counters.h): every counter is
 * optional on decode (0 when absent; nil for an absent UINT_OPT). */
#define COUNTER_KIND_NUM K_NUM
#define COUNTER_KIND_UINT K_UINT
#define COUNTER_KIND_UINT_OPT K_UINT_NIL
#define COUNTER_KIND_INT K_INT
enum {
#define X(name, type, source) CTR_##name,
  HARN_COUNTERS(X)
#undef X
};
static const FieldSpec f_counters[] = {
#define X(name, type, source) {#name, COUNTER_KIND_##type, false},
    HARN_COUNTERS(X)
#undef X
};
static const FieldSpec f_trace[] = {
    {"fn", K_STR, true}, {"line", K_INT, true}, {"col", K_INT, true}, {"file", K_STR, true}};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(NFIELDS(env_event) + NFIELDS(f_final) <= MAX_FIELDS, "MAX_FIELDS too small for `final`");
_Static_assert(NFIELDS(env_job) + NFIELDS(f_job) <= MAX_FIELDS, "MAX_FIELDS too small for `job`");

/* [open]: unknown keys are skipped instead of refused (the final frame). */
typedef struct TypeSchema {
  const FieldSpec *fields;
  size_t n;
  bool open;
} TypeSchema;

static const TypeSchema schemas[IPC_MSG_COUNT] = {
    [IPC_MSG_JOB] = {f_job, NFIELDS(f_job), false},
    [IPC_MSG_STARTED] = {f_started, NFIELDS(f_started), false},
    [IPC_MSG_OUTPUT] = {f_output, NFIELDS(f_output), false},
    [IPC_MSG_STEP] = {f_step, NFIELDS(f_step), false},
    [IPC_MSG_EMIT] = {f_emit, NFIELDS(f_emit), false},
    [IPC_MSG_LIFECYCLE] = {f_lifecycle, NFIELDS(f_lifecycle), false},
    [IPC_MSG_FINAL] = {f_final, NFIELDS(f_final), true},
    [IPC_MSG_SANDBOX] = {f_sandbox, NFIELDS(f_sandbox), false},
    [IPC_MSG_HOST_CALL] = {f_host_call, NFIELDS(f_host_call), false},
    [IPC_MSG_HOST_CANCEL] = {f_host_cancel, NFIELDS(f_host_cancel), false},
    [IPC_MSG_HOST_RESULT] = {f_host_result, NFIELDS(f_host_result), false},
};

static const char *kind_text(Kind k)
{
  switch (k) {
  case K_STR: return "str";
  case K_STR_NIL: return "str or nil";
  case K_INT: return "int";
  case K_INT_NIL: return "int or nil";
  case K_UINT: return "non-negative int";
  case K_UINT_NIL: return "non-negative int or nil";
  case K_NUM: return "number";
  case K_BOOL: return "bool";
  case K_BIN: return "bin";
  case K_VALUE: return "value";
  case K_MAP: return "map";
  case K_ARRAY: return "array";
  }
  return "?";
}

static const char *obj_type_text(const msgpack_object *o)
{
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: return "nil";
  case MSGPACK_OBJECT_BOOLEAN: return "bool";
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int";
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: return "float";
  case MSGPACK_OBJECT_STR: return "str";
  case MSGPACK_OBJECT_ARRAY: return "array";
  case MSGPACK_OBJECT_MAP: return "map";
  case MSGPACK_OBJECT_BIN: return "bin";
  case MSGPACK_OBJECT_EXT: return "ext";
  }
  return "?";
}

static bool key_is(const msgpack_object *k, const char *s)
{
  size_t n = strlen(s);
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

const msgpack_object *ipc_map_get(const msgpack_object *m, const char *key)
{
  if (!m || m->type != MSGPACK_OBJECT_MAP) return NULL;
  for (uint32_t i = 0; i < m->via.map.size; i++)
    if (key_is(&m->via.map.ptr[i].key, key)) return &m->via.map.ptr[i].val;
  return NULL;
}

char *ipc_str_dup(const msgpack_object *o)
{
  if (!o || o->type != MSGPACK_OBJECT_STR) return NULL;
  char *s = strndup(o->via.str.ptr, o->via.str.size);
  if (!s) abort();
  return s;
}

/* Where a value sits, for error texts: a chain of segments on the C stack,
 * rendered only when a check fails (validation of a valid frame formats
 * nothing). The rendered text is fixed (tests match it):
 * the root is `where` + field name cut to 95 bytes, then "[i]" for array
 * elements and ".key" (key cut to 40 bytes) for map values, the whole cut
 * to 159 bytes. */
typedef struct PathSeg {
  const struct PathSeg *up;  /* NULL for the root */
  const char *where, *name;  /* root: prefix and field name */
  const msgpack_object *key; /* map value: its key (a str) */
  uint32_t index;            /* array element */
} PathSeg;

#define PATH_CAP 160

static size_t render_path(const PathSeg *s, char *buf, size_t cap)
{
  if (!s->up) {
    char full[96];
    snprintf(full, sizeof full, "%s%s", s->where, s->name);
    snprintf(buf, cap, "%s", full);
    return strlen(buf);
  }
  size_t n = render_path(s->up, buf, cap);
  if (n < cap) {
    if (s->key)
      snprintf(buf + n, cap - n, ".%.*s", (int)(s->key->via.str.size > 40 ? 40 : s->key->via.str.size),
               s->key->via.str.ptr);
    else
      snprintf(buf + n, cap - n, "[%" PRIu32 "]", s->index);
  }
  return strlen(buf);
}

/* Validate a 9.3 value: no ext, str map keys. [at] names it in errors. */
static int check_value(const Ctx *c, const msgpack_object *o, const PathSeg *at)
{
  char path[PATH_CAP];
  switch (o->type) {
  case MSGPACK_OBJECT_EXT:
    render_path(at, path, sizeof path);
    return fail(c, IPC_E_FIELD_TYPE, "field `%s`: ext values are not allowed", path);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
  case MSGPACK_OBJECT_NIL:
  case MSGPACK_OBJECT_BOOLEAN:
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
  case MSGPACK_OBJECT_STR:
  case MSGPACK_OBJECT_BIN:
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > INT64_MAX) {
      render_path(at, path, sizeof path);
      return fail(c, IPC_E_FIELD_VALUE, "field `%s`: int %" PRIu64 " does not fit in int64", path,
                  o->via.u64);
    }
    return 0;
  case MSGPACK_OBJECT_ARRAY:
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      PathSeg el = {at, NULL, NULL, NULL, i};
      int r = check_value(c, &o->via.array.ptr[i], &el);
      if (r) return r;
    }
    return 0;
  case MSGPACK_OBJECT_MAP:
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      const msgpack_object_kv *kv = &o->via.map.ptr[i];
      if (kv->key.type != MSGPACK_OBJECT_STR) {
        render_path(at, path, sizeof path);
        return fail(c, IPC_E_KEY, "field `%s`: map key %" PRIu32 " is %s, not str", path, i,
                    obj_type_text(&kv->key));
      }
      PathSeg val = {at, NULL, NULL, &kv->key, 0};
      int r = check_value(c, &kv->val, &val);
      if (r) return r;
    }
    return 0;
  }
  render_path(at, path, sizeof path);
  return fail(c, IPC_E_FIELD_TYPE, "field `%s`: unknown msgpack type", path);
}

/* [at] is the field's root segment (where + name). */
static int check_kind(const Ctx *c, const PathSeg *at, Kind k, const msgpack_object *o)
{
  bool ok = false;
  bool is_nil = o->type == MSGPACK_OBJECT_NIL;
  bool is_int = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
  switch (k) {
  case K_STR: ok = o->type == MSGPACK_OBJECT_STR; break;
  case K_STR_NIL: ok = is_nil || o->type == MSGPACK_OBJECT_STR; break;
  case K_INT:
  case K_UINT: ok = is_int; break;
  case K_INT_NIL:
  case K_UINT_NIL: ok = is_nil || is_int; break;
  case K_NUM:
    ok = is_int || o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64;
    break;
  case K_BOOL: ok = o->type == MSGPACK_OBJECT_BOOLEAN; break;
  case K_BIN: ok = o->type == MSGPACK_OBJECT_BIN; break;
  case K_VALUE: ok = true; break;
  case K_MAP: ok = o->type == MSGPACK_OBJECT_MAP; break;
  case K_ARRAY: ok = o->type == MSGPACK_OBJECT_ARRAY; break;
  }
  char name[96];
  if (!ok) {
    render_path(at, name, sizeof name);
    return fail(c, IPC_E_FIELD_TYPE, "field `%s`: expected %s, got %s", name, kind_text(k),
                obj_type_text(o));
  }
  if (is_int && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > INT64_MAX) {
    render_path(at, name, sizeof name);
    return fail(c, IPC_E_FIELD_VALUE, "field `%s`: %" PRIu64 " does not fit in int64", name, o->via.u64);
  }
  if ((k == K_UINT || k == K_UINT_NIL) && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    render_path(at, name, sizeof name);
    return fail(c, IPC_E_FIELD_VALUE, "field `%s`: must not be negative, got %" PRId64, name,
                o->via.i64);
  }
  if (k == K_NUM && !is_int && !isfinite(o->via.f64)) {
    render_path(at, name, sizeof name);
    return fail(c, IPC_E_FIELD_VALUE, "field `%s`: must be finite", name);
  }
  if (k == K_VALUE || k == K_MAP || k == K_ARRAY) return check_value(c, o, at);
  return 0;
}

/* Walk map [m] against [nspec] specs (the concatenation of [a] and [b]):
 * each key a str, known (or skipped when [skip_unknown]), seen once, of the
 * right kind; every required field present. found[i] gets the value of
 * spec i or NULL. [where] prefixes field names for nested maps
 * ("counters.", "trace[2]."). */
static int match_fields(const Ctx *c, const msgpack_object *m, const FieldSpec *a, size_t na,
                        const FieldSpec *b, size_t nb, const msgpack_object **found,
                        const char *where, bool skip_unknown)
{
  size_t n = na + nb;
  for (size_t i = 0; i < n; i++) found[i] = NULL;
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    const msgpack_object_kv *kv = &m->via.map.ptr[i];
    if (kv->key.type != MSGPACK_OBJECT_STR)
      return fail(c, IPC_E_KEY, "%skey %" PRIu32 " is %s, not str", where[0] ? where : "map ", i,
                  obj_type_text(&kv->key));
    size_t j;
    for (j = 0; j < n; j++) {
      const FieldSpec *s = j < na ? &a[j] : &b[j - na];
      if (key_is(&kv->key, s->name)) break;
    }
    if (j == n && skip_unknown) continue;
    if (j == n)
      return fail(c, IPC_E_UNKNOWN_FIELD, "unknown field `%s%.*s`", where,
                  (int)(kv->key.via.str.size > 64 ? 64 : kv->key.via.str.size), kv->key.via.str.ptr);
    const FieldSpec *s = j < na ? &a[j] : &b[j - na];
    if (found[j]) return fail(c, IPC_E_DUPKEY, "duplicate field `%s%s`", where, s->name);
    PathSeg root = {NULL, where, s->name, NULL, 0};
    int r = check_kind(c, &root, s->kind, &kv->val);
    if (r) return r;
    found[j] = &kv->val;
  }
  for (size_t j = 0; j < n; j++) {
    const FieldSpec *s = j < na ? &a[j] : &b[j - na];
    if (s->required && !found[j]) return fail(c, IPC_E_MISSING, "missing field `%s%s`", where, s->name);
  }
  return 0;
}

/* ---- extraction helpers ----------------------------------------------------------- */

/* A NUL-terminated copy of a str/bin object in the zone; NULL for nil. */
static const char *zstr(msgpack_zone *z, const msgpack_object *o, size_t *len)
{
  if (!o || o->type == MSGPACK_OBJECT_NIL) {
    if (len) *len = 0;
    return NULL;
  }
  const char *p = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.ptr : o->via.str.ptr;
  size_t n = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.str.size;
  char *s = msgpack_zone_malloc(z, n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  if (len) *len = n;
  return s;
}

static int64_t oint(const msgpack_object *o)
{
  return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)o->via.u64 : o->via.i64;
}

static double onum(const msgpack_object *o)
{
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)o->via.u64;
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return (double)o->via.i64;
  return o->via.f64;
}

static bool ostr_eq(const msgpack_object *o, const char *s) { return key_is(o, s); }

static int max_depth(const msgpack_object *o, int depth, int limit)
{
  if (depth > limit) return depth;
  int best = depth;
  if (o->type == MSGPACK_OBJECT_ARRAY) {
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      int d = max_depth(&o->via.array.ptr[i], depth + 1, limit);
      if (d > best) best = d;
      if (best > limit) break;
    }
  } else if (o->type == MSGPACK_OBJECT_MAP) {
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      int d = max_depth(&o->via.map.ptr[i].val, depth + 1, limit);
      if (d > best) best = d;
      if (best > limit) break;
    }
  }
  return best;
}

/* ---- structural pre-scan ------------------------------------------------------------ */

/* msgpack-c allocates a container's element array from the count in its
 * header before reading the elements, so a 6-byte map32 header claiming
 * 2^32 entries would make it ask for ~100 GiB. Before unpacking, walk the
 * first value of the body once without allocating: every byte must be a
 * valid msgpack type, and the elements still owed (each needs at least one
 * byte) must never exceed the bytes left. *end gets the offset where the
 * value ends. Returns 0, IPC_E_MSGPACK or IPC_E_BODY_SHORT. */
static int prescan(const Ctx *c, const unsigned char *p, size_t n, size_t *end)
{
  size_t pos = 0;
  uint64_t owed = 1;
  while (owed > 0) {
    if (pos >= n) return fail(c, IPC_E_BODY_SHORT, "body of %zu bytes ends inside a msgpack value", n);
    unsigned b = p[pos++];
    uint64_t skip = 0, items = 0, lenbytes = 0, extra = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
    } else if (b >= 0x80 && b <= 0x8f) {
      items = 2 * (uint64_t)(b & 0x0f);
    } else if (b >= 0x90 && b <= 0x9f) {
      items = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
      case 0xc4: case 0xd9: lenbytes = 1; break;
      case 0xc5: case 0xda: lenbytes = 2; break;
      case 0xc6: case 0xdb: lenbytes = 4; break;
      case 0xc7: lenbytes = 1, extra = 1; break;
      case 0xc8: lenbytes = 2, extra = 1; break;
      case 0xc9: lenbytes = 4, extra = 1; break;
      case 0xca: skip = 4; break;
      case 0xcb: skip = 8; break;
      case 0xcc: case 0xd0: skip = 1; break;
      case 0xcd: case 0xd1: skip = 2; break;
      case 0xce: case 0xd2: skip = 4; break;
      case 0xcf: case 0xd3: skip = 8; break;
      case 0xd4: skip = 2; break;
      case 0xd5: skip = 3; break;
      case 0xd6: skip = 5; break;
      case 0xd7: skip = 9; break;
      case 0xd8: skip = 17; break;
      case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        size_t w = (b == 0xdc || b == 0xde) ? 2 : 4;
        if (n - pos < w) return fail(c, IPC_E_BODY_SHORT, "body of %zu bytes ends inside a msgpack value", n);
        uint64_t cnt = 0;
        for (size_t i = 0; i < w; i++) cnt = cnt << 8 | p[pos + i];
        pos += w;
        items = (b == 0xde || b == 0xdf) ? 2 * cnt : cnt;
        break;
      }
      default:
        return fail(c, IPC_E_MSGPACK, "body of %zu bytes is not valid msgpack (byte 0x%02x at offset %zu)", n, b,
                    pos - 1);
      }
    }
    if (lenbytes) {
      if (n - pos < lenbytes) return fail(c, IPC_E_BODY_SHORT, "body of %zu bytes ends inside a msgpack value", n);
      uint64_t len = 0;
      for (size_t i = 0; i < lenbytes; i++) len = len << 8 | p[pos + i];
      pos += lenbytes;
      skip = len + extra;
    }
    if (skip > n - pos) return fail(c, IPC_E_BODY_SHORT, "body of %zu bytes ends inside a msgpack value", n);
    pos += skip;
    owed = owed - 1 + items;
    if (owed > n - pos)
      return fail(c, IPC_E_BODY_SHORT,
                  "body of %zu bytes ends inside a msgpack value (%" PRIu64 " more elements declared, %zu bytes left)",
                  n, owed, n - pos);
  }
  *end = pos;
  return 0;
}

/* ---- per-type decoding --------------------------------------------------------------- */

static int decode_job(const Ctx *c, msgpack_zone *z, const msgpack_object **f, IpcMsg *m)
{
  /* f[0..3] = type, version, job, attempt; then f_job in order. */
  const msgpack_object **b = f + NFIELDS(env_job);
  IpcJob *j = &m->u.job;
  j->version = oint(f[1]);
  if (j->version != IPC_PROTOCOL_VERSION)
    return fail(c, IPC_E_VERSION, "protocol version %" PRId64 " is not supported (this build speaks %d)",
                j->version, IPC_PROTOCOL_VERSION);
  bool has_prog = b[0] && b[0]->type != MSGPACK_OBJECT_NIL;
  bool has_src = b[1] && b[1]->type != MSGPACK_OBJECT_NIL;
  if (has_prog == has_src)
    return fail(c, has_prog ? IPC_E_FIELD_VALUE : IPC_E_MISSING,
                has_prog ? "fields `program` and `source` are exclusive"
                         : "one of the fields `program` and `source` is required");
  j->program = zstr(z, b[0], NULL);
  j->source = zstr(z, b[1], &j->source_len);
  j->name = zstr(z, b[2], NULL);
  j->input_json = zstr(z, b[3], NULL);
  j->has_deadline = b[4]->type != MSGPACK_OBJECT_NIL;
  j->deadline_at_ms = j->has_deadline ? oint(b[4]) : 0;
  j->grace_ms = oint(b[5]);
  j->count_instructions = b[6]->via.boolean;
  j->sandbox = b[7] && b[7]->via.boolean;
  j->memory = b[8] ? (uint64_t)oint(b[8]) : 0;
  j->cpu_ms = b[9] ? (uint64_t)oint(b[9]) : 0;
  j->address_space = b[10] ? (uint64_t)oint(b[10]) : 0;
  /* v3: the capabilities */
  j->cwd = b[11] ? zstr(z, b[11], NULL) : NULL;
  if (b[12]) {
    uint32_t n = b[12]->via.array.size;
    if (n > IPC_MAX_GRANTS)
      return fail(c, IPC_E_FIELD_VALUE, "field `grants`: %" PRIu32 " entries, at most %d", n,
                  IPC_MAX_GRANTS);
    IpcGrant *g = n ? msgpack_zone_malloc(z, n * sizeof *g) : NULL;
    if (n && !g) return fail(c, IPC_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
      const msgpack_object *e = &b[12]->via.array.ptr[i];
      char where[32];
      snprintf(where, sizeof where, "grants[%" PRIu32 "].", i);
      if (e->type != MSGPACK_OBJECT_MAP)
        return fail(c, IPC_E_FIELD_TYPE, "field `grants[%" PRIu32 "]`: expected map, got %s", i,
                    obj_type_text(e));
      const msgpack_object *gf[NFIELDS(f_grant)];
      int r = match_fields(c, e, f_grant, NFIELDS(f_grant), NULL, 0, gf, where, false);
      if (r) return r;
      g[i].path = zstr(z, gf[0], NULL);
      if (g[i].path[0] != '/')
        return fail(c, IPC_E_FIELD_VALUE, "field `grants[%" PRIu32 "].path`: not an absolute path", i);
      g[i].write = gf[1]->via.boolean;
    }
    j->grants = g;
    j->ngrants = n;
  }
  j->scratch = b[13] ? zstr(z, b[13], NULL) : NULL;
  j->max_write_bytes = b[14] ? (uint64_t)oint(b[14]) : 0;
  if (b[15]) {
    uint32_t n = b[15]->via.map.size;
    if (n > IPC_MAX_ENV)
      return fail(c, IPC_E_FIELD_VALUE, "field `env`: %" PRIu32 " entries, at most %d", n, IPC_MAX_ENV);
    IpcEnvVar *ev = n ? msgpack_zone_malloc(z, n * sizeof *ev) : NULL;
    if (n && !ev) return fail(c, IPC_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
      const msgpack_object_kv *kv = &b[15]->via.map.ptr[i];
      if (kv->val.type != MSGPACK_OBJECT_STR)
        return fail(c, IPC_E_FIELD_TYPE, "field `env.%.*s`: expected str, got %s",
                    (int)(kv->key.via.str.size > 40 ? 40 : kv->key.via.str.size), kv->key.via.str.ptr,
                    obj_type_text(&kv->val));
      ev[i].name = zstr(z, &kv->key, NULL);
      ev[i].value = zstr(z, &kv->val, NULL);
    }
    j->env = ev;
    j->nenv = n;
  }
  if (b[16]) {
    uint32_t n = b[16]->via.array.size;
    if (n > IPC_MAX_DENY)
      return fail(c, IPC_E_FIELD_VALUE, "field `deny`: %" PRIu32 " entries, at most %d", n, IPC_MAX_DENY);
    const char **d = n ? msgpack_zone_malloc(z, n * sizeof *d) : NULL;
    if (n && !d) return fail(c, IPC_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
      const msgpack_object *e = &b[16]->via.array.ptr[i];
      if (e->type != MSGPACK_OBJECT_STR)
        return fail(c, IPC_E_FIELD_TYPE, "field `deny[%" PRIu32 "]`: expected str, got %s", i,
                    obj_type_text(e));
      d[i] = zstr(z, e, NULL);
    }
    j->deny = d;
    j->ndeny = n;
  }
  if (b[17]) {
    uint32_t n = b[17]->via.array.size;
    if (n > IPC_MAX_HOST_CAPS)
      return fail(c, IPC_E_FIELD_VALUE, "field `host`: %" PRIu32 " entries, at most %d", n,
                  IPC_MAX_HOST_CAPS);
    const char **h = n ? msgpack_zone_malloc(z, n * sizeof *h) : NULL;
    if (n && !h) return fail(c, IPC_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
      const msgpack_object *e = &b[17]->via.array.ptr[i];
      if (e->type != MSGPACK_OBJECT_STR || e->via.str.size == 0 || e->via.str.size > IPC_MAX_HOST_NAME)
        return fail(c, IPC_E_FIELD_VALUE, "field `host[%" PRIu32 "]`: expected a capability name", i);
      h[i] = zstr(z, e, NULL);
    }
    j->host = h;
    j->nhost = n;
  }
  return 0;
}

static int decode_trace(const Ctx *c, msgpack_zone *z, const msgpack_object *arr, IpcFinal *fin)
{
  uint32_t n = arr->via.array.size;
  IpcTraceEntry *t = n ? msgpack_zone_malloc(z, n * sizeof *t) : NULL;
  if (n && !t) return fail(c, IPC_E_NOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *e = &arr->via.array.ptr[i];
    char where[32];
    snprintf(where, sizeof where, "trace[%" PRIu32 "].", i);
    if (e->type != MSGPACK_OBJECT_MAP)
      return fail(c, IPC_E_FIELD_TYPE, "field `trace[%" PRIu32 "]`: expected map, got %s", i,
                  obj_type_text(e));
    const msgpack_object *f[NFIELDS(f_trace)];
    int r = match_fields(c, e, f_trace, NFIELDS(f_trace), NULL, 0, f, where, false);
    if (r) return r;
    t[i].fn = zstr(z, f[0], NULL);
    t[i].line = oint(f[1]);
    t[i].col = oint(f[2]);
    t[i].file = zstr(z, f[3], NULL);
  }
  fin->trace = t;
  fin->trace_len = n;
  return 0;
}

/* Counter [name] of type [type] from its value [o] (NULL when absent). */
#define GET_COUNTER_NUM(ct, o, name) ((ct)->name = (o) ? onum(o) : 0)
#define GET_COUNTER_UINT(ct, o, name) ((ct)->name = (o) ? (uint64_t)oint(o) : 0)
#define GET_COUNTER_UINT_OPT(ct, o, name)                             \
  ((ct)->has_##name = (o) && (o)->type != MSGPACK_OBJECT_NIL,        \
   (ct)->name = (ct)->has_##name ? (uint64_t)oint(o) : 0)
#define GET_COUNTER_INT(ct, o, name) ((ct)->name = (o) ? oint(o) : 0)

static int decode_counters(const Ctx *c, const msgpack_object *map, IpcCounters *ct)
{
  memset(ct, 0, sizeof *ct);
  if (!map) return 0;
  const msgpack_object *k[NFIELDS(f_counters)];
  int r = match_fields(c, map, f_counters, NFIELDS(f_counters), NULL, 0, k, "counters.", true);
  if (r) return r;
#define X(name, type, source) GET_COUNTER_##type(ct, k[CTR_##name], name);
  HARN_COUNTERS(X)
#undef X
  return 0;
}

/* [b] holds the final's fields in FIN_* slots (NULL when absent). */
static int decode_final(const Ctx *c, msgpack_zone *z, const msgpack_object **b, IpcMsg *m)
{
  IpcFinal *fin = &m->u.final;
  const msgpack_object *status = b[FIN_status], *signal = b[FIN_signal], *limit = b[FIN_limit];
  if (ostr_eq(status, "ok")) fin->status = IPC_STATUS_OK;
  else if (ostr_eq(status, "error")) fin->status = IPC_STATUS_ERROR;
  else if (ostr_eq(status, "cancelled")) fin->status = IPC_STATUS_CANCELLED;
  else
    return fail(c, IPC_E_FIELD_VALUE, "field `status`: expected \"ok\", \"error\" or \"cancelled\", got \"%.*s\"",
                (int)(status->via.str.size > 40 ? 40 : status->via.str.size), status->via.str.ptr);
  static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  static const msgpack_object no_trace = {.type = MSGPACK_OBJECT_ARRAY};
  fin->value = b[FIN_value] ? *b[FIN_value] : nil;
  fin->error = zstr(z, b[FIN_error], NULL);
  fin->error_value = b[FIN_error_value] ? *b[FIN_error_value] : nil;
  fin->diagnostic = zstr(z, b[FIN_diagnostic], NULL);
  int r = decode_trace(c, z, b[FIN_trace] ? b[FIN_trace] : &no_trace, fin);
  if (r) return r;
  if (signal && signal->type == MSGPACK_OBJECT_STR && !ostr_eq(signal, "SIGTERM") &&
      !ostr_eq(signal, "SIGINT") && !ostr_eq(signal, "SIGHUP"))
    return fail(c, IPC_E_FIELD_VALUE, "field `signal`: expected \"SIGTERM\", \"SIGINT\", \"SIGHUP\" or nil, got \"%.*s\"",
                (int)(signal->via.str.size > 40 ? 40 : signal->via.str.size), signal->via.str.ptr);
  fin->signal = zstr(z, signal, NULL);
  fin->hard_stop = b[FIN_hard_stop] && b[FIN_hard_stop]->via.boolean;
  fin->exit_code = b[FIN_exit_code] ? oint(b[FIN_exit_code]) : 0;
  r = decode_counters(c, b[FIN_counters], &fin->counters);
  if (r) return r;
  if (limit && limit->type == MSGPACK_OBJECT_STR) {
    if (!ostr_eq(limit, "memory"))
      return fail(c, IPC_E_FIELD_VALUE, "field `limit`: expected \"memory\" or nil, got \"%.*s\"",
                  (int)(limit->via.str.size > 40 ? 40 : limit->via.str.size), limit->via.str.ptr);
    fin->limit = zstr(z, limit, NULL);
  }
  fin->capabilities = b[FIN_capabilities] ? *b[FIN_capabilities] : nil;
  return 0;
}

static int decode_event(const Ctx *c, msgpack_zone *z, IpcMsgType t, const msgpack_object **b, IpcMsg *m)
{
  switch (t) {
  case IPC_MSG_STARTED:
    m->u.started.version = oint(b[0]);
    if (m->u.started.version != IPC_PROTOCOL_VERSION)
      return fail(c, IPC_E_VERSION, "worker speaks protocol version %" PRId64 ", this build speaks %d",
                  m->u.started.version, IPC_PROTOCOL_VERSION);
    m->u.started.pid = oint(b[1]);
    m->u.started.pgid = oint(b[2]);
    m->u.started.started_at_ms = onum(b[3]);
    return 0;
  case IPC_MSG_OUTPUT:
    if (ostr_eq(b[0], "out")) m->u.output.stream = 1;
    else if (ostr_eq(b[0], "err")) m->u.output.stream = 2;
    else
      return fail(c, IPC_E_FIELD_VALUE, "field `stream`: expected \"out\" or \"err\", got \"%.*s\"",
                  (int)(b[0]->via.str.size > 40 ? 40 : b[0]->via.str.size), b[0]->via.str.ptr);
    m->u.output.data = zstr(z, b[1], &m->u.output.len);
    if (!m->u.output.data) return fail(c, IPC_E_NOMEM, "out of memory");
    return 0;
  case IPC_MSG_STEP: {
    const msgpack_object *rec = b[0];
    const msgpack_object *name = NULL, *status = NULL;
    for (uint32_t i = 0; i < rec->via.map.size; i++) {
      if (key_is(&rec->via.map.ptr[i].key, "name")) name = &rec->via.map.ptr[i].val;
      if (key_is(&rec->via.map.ptr[i].key, "status")) status = &rec->via.map.ptr[i].val;
    }
    if (!name) return fail(c, IPC_E_MISSING, "missing field `record.name`");
    if (name->type != MSGPACK_OBJECT_STR)
      return fail(c, IPC_E_FIELD_TYPE, "field `record.name`: expected str, got %s", obj_type_text(name));
    if (!status) return fail(c, IPC_E_MISSING, "missing field `record.status`");
    if (status->type != MSGPACK_OBJECT_STR)
      return fail(c, IPC_E_FIELD_TYPE, "field `record.status`: expected str, got %s", obj_type_text(status));
    if (!ostr_eq(status, "completed") && !ostr_eq(status, "skipped") && !ostr_eq(status, "escalated") &&
        !ostr_eq(status, "failed"))
      return fail(c, IPC_E_FIELD_VALUE,
                  "field `record.status`: expected completed, skipped, escalated or failed, got \"%.*s\"",
                  (int)(status->via.str.size > 40 ? 40 : status->via.str.size), status->via.str.ptr);
    m->u.step.name = zstr(z, name, NULL);
    m->u.step.status = zstr(z, status, NULL);
    m->u.step.record = *rec;
    return 0;
  }
  case IPC_MSG_EMIT:
    m->u.emit.name = zstr(z, b[0], NULL);
    m->u.emit.data = *b[1];
    return 0;
  case IPC_MSG_LIFECYCLE:
    m->u.lifecycle.event = zstr(z, b[0], NULL);
    m->u.lifecycle.payload = *b[1];
    m->u.lifecycle.control = zstr(z, b[2], NULL);
    m->u.lifecycle.hooks = *b[3];
    return 0;
  case IPC_MSG_FINAL: return decode_final(c, z, b, m);
  case IPC_MSG_SANDBOX:
    if (c->d->saw_sandbox) return fail(c, IPC_E_ORDER, "a second `sandbox` event");
    c->d->saw_sandbox = true;
    m->u.sandbox.applied = *b[0];
    return 0;
  case IPC_MSG_HOST_CALL: {
    uint64_t id = b[0]->via.u64;
    if (id <= c->d->last_call)
      return fail(c, IPC_E_ORDER, "host_call id %" PRIu64 " after id %" PRIu64 " (ids must increase)",
                  id, c->d->last_call);
    for (int k = 1; k <= 2; k++)
      if (b[k]->via.str.size == 0 || b[k]->via.str.size > IPC_MAX_HOST_NAME)
        return fail(c, IPC_E_FIELD_VALUE, "field `%s`: %" PRIu32 " bytes, expected 1 to %d",
                    k == 1 ? "cap" : "op", b[k]->via.str.size, IPC_MAX_HOST_NAME);
    if (b[3]->type != MSGPACK_OBJECT_MAP)
      return fail(c, IPC_E_FIELD_TYPE, "field `args`: expected map, got %s", obj_type_text(b[3]));
    c->d->last_call = id;
    m->u.host_call.id = id;
    m->u.host_call.cap = zstr(z, b[1], NULL);
    m->u.host_call.op = zstr(z, b[2], NULL);
    m->u.host_call.args = *b[3];
    if (!m->u.host_call.cap || !m->u.host_call.op) return fail(c, IPC_E_NOMEM, "out of memory");
    return 0;
  }
  case IPC_MSG_HOST_CANCEL:
    if (b[0]->via.u64 == 0 || b[0]->via.u64 > c->d->last_call)
      return fail(c, IPC_E_ORDER, "host_cancel of id %" PRIu64 ", which was never called",
                  b[0]->via.u64);
    m->u.host_cancel.id = b[0]->via.u64;
    return 0;
  default: break;
  }
  return fail(c, IPC_E_DIRECTION, "message type not allowed on the event pipe");
}

/* host_result (job side, after the job): [b] = id, ok, value, error.
 * ok needs `value` and no `error`; !ok needs an `error` map with str
 * `category` and `message`, and no `value`. */
static int decode_host_result(const Ctx *c, const msgpack_object **b, IpcMsg *m)
{
  static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  IpcHostResult *r = &m->u.host_result;
  r->id = b[0]->via.u64;
  if (r->id == 0) return fail(c, IPC_E_FIELD_VALUE, "field `id`: 0 is never a call id");
  r->ok = b[1]->via.boolean;
  if (r->ok) {
    if (!b[2]) return fail(c, IPC_E_MISSING, "missing field `value` (ok is true)");
    if (b[3]) return fail(c, IPC_E_UNKNOWN_FIELD, "unknown field `error` (ok is true)");
    r->value = *b[2];
    r->error = nil;
    return 0;
  }
  if (!b[3]) return fail(c, IPC_E_MISSING, "missing field `error` (ok is false)");
  if (b[2]) return fail(c, IPC_E_UNKNOWN_FIELD, "unknown field `value` (ok is false)");
  const msgpack_object *e = b[3];
  if (e->type != MSGPACK_OBJECT_MAP)
    return fail(c, IPC_E_FIELD_TYPE, "field `error`: expected map, got %s", obj_type_text(e));
  bool cat = false, msg = false;
  for (uint32_t i = 0; i < e->via.map.size; i++) {
    const msgpack_object_kv *kv = &e->via.map.ptr[i];
    bool is_cat = key_is(&kv->key, "category"), is_msg = key_is(&kv->key, "message");
    if ((is_cat || is_msg) && kv->val.type != MSGPACK_OBJECT_STR)
      return fail(c, IPC_E_FIELD_TYPE, "field `error.%s`: expected str, got %s",
                  is_cat ? "category" : "message", obj_type_text(&kv->val));
    cat |= is_cat;
    msg |= is_msg;
  }
  if (!cat || !msg)
    return fail(c, IPC_E_MISSING, "missing field `error.%s`", cat ? "message" : "category");
  r->value = nil;
  r->error = *e;
  return 0;
}

/* Decode and validate the map [root] of frame [c->frame] into [m]. */
static int decode_map(Ctx *c, msgpack_zone *z, const msgpack_object *root, IpcMsg *m)
{
  IpcDecoder *d = c->d;
  /* 1. the type, before anything else, to pick the schema */
  const msgpack_object *type = NULL;
  for (uint32_t i = 0; i < root->via.map.size; i++) {
    const msgpack_object_kv *kv = &root->via.map.ptr[i];
    if (kv->key.type != MSGPACK_OBJECT_STR)
      return fail(c, IPC_E_KEY, "map key %" PRIu32 " is %s, not str", i, obj_type_text(&kv->key));
    if (key_is(&kv->key, "type")) {
      if (type) return fail(c, IPC_E_DUPKEY, "duplicate field `type`");
      type = &kv->val;
    }
  }
  if (!type) return fail(c, IPC_E_MISSING, "missing field `type`");
  if (type->type != MSGPACK_OBJECT_STR)
    return fail(c, IPC_E_FIELD_TYPE, "field `type`: expected str, got %s", obj_type_text(type));
  int t = ipc_msg_lookup(type->via.str.ptr, type->via.str.size);
  if (t < 0)
    return fail(c, IPC_E_UNKNOWN_TYPE, "unknown message type \"%.*s\"",
                (int)(type->via.str.size > 40 ? 40 : type->via.str.size), type->via.str.ptr);
  c->type = msg_names[t];
  char want = d->side == IPC_READ_JOB ? 'J' : 'E';
  if (msg_dirs[t] != want)
    return fail(c, IPC_E_DIRECTION, "a `%s` frame is not allowed on the %s pipe", msg_names[t],
                d->side == IPC_READ_JOB ? "job" : "event");

  /* 2. the seq, early, so later errors can name it */
  if (d->side == IPC_READ_EVENTS) {
    for (uint32_t i = 0; i < root->via.map.size; i++)
      if (key_is(&root->via.map.ptr[i].key, "seq") &&
          root->via.map.ptr[i].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        c->has_seq = true;
        c->seq = root->via.map.ptr[i].val.via.u64;
      }
  }

  /* the job socket: the job first and once, then only host results */
  if (d->side == IPC_READ_JOB && (t == IPC_MSG_JOB) == d->saw_job)
    return fail(c, IPC_E_ORDER, d->saw_job ? "a second `job` frame"
                                           : "a `%s` frame before the job", msg_names[t]);

  /* 3. fields */
  const FieldSpec *env = d->side == IPC_READ_JOB ? env_job : env_event;
  size_t nenv = d->side == IPC_READ_JOB ? NFIELDS(env_job) : NFIELDS(env_event);
  if (t == IPC_MSG_HOST_RESULT) {
    env = env_result;
    nenv = NFIELDS(env_result);
  }
  const msgpack_object *f[MAX_FIELDS];
  int r = match_fields(c, root, env, nenv, schemas[t].fields, schemas[t].n, f, "", schemas[t].open);
  if (r) return r;
  if (t == IPC_MSG_HOST_RESULT) {
    m->type = IPC_MSG_HOST_RESULT;
    return decode_host_result(c, f + nenv, m);
  }

  m->type = (IpcMsgType)t;
  m->job = zstr(z, f[1 + (d->side == IPC_READ_JOB)], NULL);
  m->attempt = oint(f[2 + (d->side == IPC_READ_JOB)]);
  if (d->side == IPC_READ_JOB) {
    r = decode_job(c, z, f, m);
    if (!r) d->saw_job = true;
    return r;
  }

  m->seq = f[3]->via.u64;
  m->t_ms = onum(f[4]);
  /* 4. order: seq contiguous from 0, started first and only first */
  if (m->seq != d->next_seq)
    return fail(c, IPC_E_SEQ, "seq %" PRIu64 " where %" PRIu64 " was expected", m->seq, d->next_seq);
  if ((m->seq == 0) != (t == IPC_MSG_STARTED))
    return fail(c, IPC_E_ORDER, m->seq == 0 ? "the first event must be `started`"
                                            : "`started` is allowed only as the first event");
  if (d->has_expect && (strcmp(m->job, d->expect_job) != 0 || m->attempt != d->expect_attempt))
    return fail(c, IPC_E_JOB_ID, "event for job \"%.64s\" attempt %" PRId64 ", expected job \"%.64s\" attempt %" PRId64,
                m->job, m->attempt, d->expect_job, d->expect_attempt);
  return decode_event(c, z, (IpcMsgType)t, f + nenv, m);
}

int ipc_decoder_next(IpcDecoder *d, IpcMsg *out)
{
  memset(out, 0, sizeof *out);
  if (d->err) return d->err;
  size_t pending = d->len - d->off;
  if (pending < IPC_HEADER_SIZE) return 0;
  int r = check_header(d);
  if (r) return r;
  uint32_t n = be32(d->buf + d->off);
  if (pending - IPC_HEADER_SIZE < n) return 0;

  Ctx c = {d, d->frames + 1, NULL, false, 0};
  if (d->saw_final) return fail(&c, IPC_E_ORDER, "frame after the final frame");

  const char *body = d->buf + d->off + IPC_HEADER_SIZE;
  size_t end = 0;
  r = prescan(&c, (const unsigned char *)body, n, &end);
  if (r) return r;
  msgpack_zone *z = msgpack_zone_new(n < 4096 ? 8192 : (size_t)n * 2 + 1024);
  if (!z) return fail(&c, IPC_E_NOMEM, "out of memory");
  char *copy = msgpack_zone_malloc(z, n);
  if (!copy) {
    msgpack_zone_free(z);
    return fail(&c, IPC_E_NOMEM, "out of memory");
  }
  memcpy(copy, body, n);
  msgpack_object root;
  size_t used = 0;
  msgpack_unpack_return ur = msgpack_unpack(copy, n, &used, z, &root);
  switch (ur) {
  case MSGPACK_UNPACK_SUCCESS:
  case MSGPACK_UNPACK_EXTRA_BYTES: break;
  case MSGPACK_UNPACK_CONTINUE:
    r = fail(&c, IPC_E_BODY_SHORT, "body of %" PRIu32 " bytes ends inside a msgpack value", n);
    break;
  case MSGPACK_UNPACK_NOMEM_ERROR:
    r = fail(&c, IPC_E_DEPTH, "msgpack body nests deeper than the unpacker allows (32 levels) or memory ran out");
    break;
  default:
    r = fail(&c, IPC_E_MSGPACK, "body of %" PRIu32 " bytes is not valid msgpack", n);
    break;
  }
  if (!r && root.type != MSGPACK_OBJECT_MAP)
    r = fail(&c, IPC_E_NOTMAP, "body is a msgpack %s, not a map", obj_type_text(&root));
  if (!r && used < n)
    r = fail(&c, IPC_E_TRAILING, "%zu trailing bytes after the msgpack map (body %" PRIu32 " bytes, map %zu)",
             (size_t)n - used, n, used);
  if (!r && max_depth(&root, 1, IPC_MAX_DEPTH) > IPC_MAX_DEPTH)
    r = fail(&c, IPC_E_DEPTH, "containers nest deeper than %d levels", IPC_MAX_DEPTH);
  if (!r) {
    out->zone = z;
    r = decode_map(&c, z, &root, out);
  }
  if (r) {
    msgpack_zone_free(z);
    memset(out, 0, sizeof *out);
    return r;
  }
  d->off += IPC_HEADER_SIZE + n;
  d->frames++;
  if (d->side == IPC_READ_EVENTS) d->next_seq++;
  if (out->type == IPC_MSG_FINAL) d->saw_final = true;
  return 1;
}

/* ---- blocking fd helpers ------------------------------------------------------------------ */

int ipc_write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IPC_E_IO;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Take the descriptors of SCM_RIGHTS messages in [mh] into fds[*nfds..]
 * (at most [max]; the others are closed and still counted). */
static void take_fds(struct msghdr *mh, int *fds, int max, int *nfds)
{
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (*nfds < max) fds[*nfds] = fd;
      else close(fd);
      ++*nfds;
    }
  }
}

int ipc_recv_msg(int fd, IpcDecoder *d, IpcMsg *out, int *fds, int max_fds, int *nfds)
{
  char buf[65536];
  union {
    char b[CMSG_SPACE(IPC_MAX_GRANTS * sizeof(int))];
    struct cmsghdr align;
  } u;
  bool sock = true;
  *nfds = 0;
  for (;;) {
    int r = ipc_decoder_next(d, out);
    if (r != 0) return r;
    ssize_t n;
    if (sock) {
      struct iovec iov = {buf, sizeof buf};
      struct msghdr mh;
      memset(&mh, 0, sizeof mh);
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = u.b;
      mh.msg_controllen = sizeof u.b;
      n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == ENOTSOCK) {
        sock = false; /* a pipe (tests, --job-fd): no descriptors */
        continue;
      }
      if (n >= 0) {
        take_fds(&mh, fds, max_fds, nfds);
        if (mh.msg_flags & MSG_CTRUNC) *nfds = max_fds + 1; /* some were lost */
      }
    } else {
      n = read(fd, buf, sizeof buf);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return IPC_E_IO;
    }
    if (n == 0) {
      r = ipc_decoder_finish(d);
      return r ? r : IPC_E_EOF;
    }
    r = ipc_decoder_feed(d, buf, (size_t)n);
    if (r) return r;
  }
}

int ipc_read_msg(int fd, IpcDecoder *d, IpcMsg *out)
{
  char buf[65536];
  for (;;) {
    int r = ipc_decoder_next(d, out);
    if (r != 0) return r;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IPC_E_IO;
    }
    if (n == 0) {
      r = ipc_decoder_finish(d);
      return r ? r : IPC_E_EOF;
    }
    r = ipc_decoder_feed(d, buf, (size_t)n);
    if (r) return r;
  }
}
