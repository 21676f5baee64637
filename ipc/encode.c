/*
 * encode.c: building frames (ipc.h "encoding").
 *
 * A frame is packed into a msgpack_sbuffer whose first 4 bytes are a
 * placeholder for the length prefix; ipc_frame_end patches the prefix in,
 * checks the maximum frame size and appends the frame to the caller's Buf.
 * The high-level encoders write every field of their message (nil where
 * there is nothing), in the order of docs/protocol.md, so a frame they
 * produce always passes the decoder of the other side.
 *
 * Invariant: the map header written by ipc_frame_begin announces exactly
 * envelope + [nfields] entries; callers must pack that many pairs.
 */
#include "ipc/ipc.h"

#include <string.h>

/* The packer's writer: msgpack_sbuffer_write, remembering a failure (the
 * packer's own return values are easy to miss in a long run of packs). */
static int frame_write(void *data, const char *buf, size_t len)
{
  IpcFrame *f = data;
  if (msgpack_sbuffer_write(&f->sbuf, buf, len) == 0) return 0;
  f->failed = true;
  return -1;
}

void ipc_frame_init(IpcFrame *f)
{
  msgpack_sbuffer_init(&f->sbuf);
  f->failed = false;
  msgpack_packer_init(&f->pk, f, frame_write);
}

void ipc_frame_destroy(IpcFrame *f) { msgpack_sbuffer_destroy(&f->sbuf); }

msgpack_packer *ipc_frame_packer(IpcFrame *f) { return &f->pk; }

void ipc_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
  msgpack_pack_str(pk, len);
  msgpack_pack_str_body(pk, s, len);
}

void ipc_pack_str(msgpack_packer *pk, const char *s) { ipc_pack_strn(pk, s, strlen(s)); }

/* How each counter type is packed (HARN_COUNTERS, base/counters.h). */
#define PACK_COUNTER_NUM(pk, c, name) msgpack_pack_double(pk, (c)->name)
#define PACK_COUNTER_UINT(pk, c, name) msgpack_pack_uint64(pk, (c)->name)
#define PACK_COUNTER_UINT_OPT(pk, c, name) \
  ((c)->has_##name ? msgpack_pack_uint64(pk, (c)->name) : msgpack_pack_nil(pk))
#define PACK_COUNTER_INT(pk, c, name) msgpack_pack_int64(pk, (c)->name)

void ipc_pack_counters(msgpack_packer *pk, const IpcCounters *c)
{
  msgpack_pack_map(pk, HARN_COUNTER_COUNT);
#define X(name, type, source) \
  ipc_pack_str(pk, #name);    \
  PACK_COUNTER_##type(pk, c, name);
  HARN_COUNTERS(X)
#undef X
}

void ipc_pack_trace_entry(msgpack_packer *pk, const char *fn, int64_t line, int64_t col,
                          const char *file)
{
  msgpack_pack_map(pk, 4);
  ipc_pack_str(pk, "fn");
  ipc_pack_str(pk, fn ? fn : "");
  ipc_pack_str(pk, "line");
  msgpack_pack_int64(pk, line);
  ipc_pack_str(pk, "col");
  msgpack_pack_int64(pk, col);
  ipc_pack_str(pk, "file");
  ipc_pack_str(pk, file ? file : "");
}

void ipc_pack_str_or_nil(msgpack_packer *pk, const char *s)
{
  if (s) ipc_pack_str(pk, s);
  else msgpack_pack_nil(pk);
}

void ipc_pack_object(msgpack_packer *pk, const msgpack_object *o)
{
  if (!o) msgpack_pack_nil(pk);
  else msgpack_pack_object(pk, *o);
}

void ipc_frame_begin(IpcFrame *f, IpcMsgType type, const IpcEnvelope *env, uint32_t nfields)
{
  msgpack_sbuffer_clear(&f->sbuf);
  f->failed = false;
  static const char zero[IPC_HEADER_SIZE] = {0};
  frame_write(f, zero, sizeof zero);
  msgpack_packer *pk = &f->pk;
  if (type == IPC_MSG_HOST_RESULT) {
    /* no envelope but the type (the job socket's answers, v3) */
    msgpack_pack_map(pk, 1 + nfields);
    ipc_pack_str(pk, "type");
    ipc_pack_str(pk, ipc_msg_name(type));
    return;
  }
  if (type == IPC_MSG_JOB) {
    msgpack_pack_map(pk, 4 + nfields);
    ipc_pack_str(pk, "type");
    ipc_pack_str(pk, ipc_msg_name(type));
    ipc_pack_str(pk, "version");
    msgpack_pack_int64(pk, IPC_PROTOCOL_VERSION);
    ipc_pack_str(pk, "job");
    ipc_pack_str(pk, env->job);
    ipc_pack_str(pk, "attempt");
    msgpack_pack_int64(pk, env->attempt);
    return;
  }
  msgpack_pack_map(pk, 5 + nfields);
  ipc_pack_str(pk, "type");
  ipc_pack_str(pk, ipc_msg_name(type));
  ipc_pack_str(pk, "job");
  ipc_pack_str(pk, env->job);
  ipc_pack_str(pk, "attempt");
  msgpack_pack_int64(pk, env->attempt);
  ipc_pack_str(pk, "seq");
  msgpack_pack_uint64(pk, env->seq);
  ipc_pack_str(pk, "t_ms");
  msgpack_pack_double(pk, env->t_ms);
}

int ipc_frame_end(IpcFrame *f, Buf *out)
{
  if (f->failed || f->sbuf.size < IPC_HEADER_SIZE) return IPC_E_NOMEM;
  size_t n = f->sbuf.size - IPC_HEADER_SIZE;
  if (n > IPC_MAX_FRAME) return IPC_E_TOOBIG;
  unsigned char *h = (unsigned char *)f->sbuf.data;
  h[0] = (unsigned char)(n >> 24);
  h[1] = (unsigned char)(n >> 16);
  h[2] = (unsigned char)(n >> 8);
  h[3] = (unsigned char)n;
  buf_append(out, f->sbuf.data, f->sbuf.size);
  return 0;
}

/* Run [body] between begin and end on a temporary frame. */
#define WITH_FRAME(type, env, n, body)                                        \
  do {                                                                        \
    IpcFrame fr_;                                                             \
    ipc_frame_init(&fr_);                                                     \
    ipc_frame_begin(&fr_, (type), (env), (n));                                \
    msgpack_packer *pk = &fr_.pk;                                             \
    body;                                                                     \
    int r_ = ipc_frame_end(&fr_, out);                                        \
    ipc_frame_destroy(&fr_);                                                  \
    return r_;                                                                \
  } while (0)

int ipc_encode_job(Buf *out, const char *job, int64_t attempt, const IpcJob *j)
{
  IpcEnvelope env = {job, attempt, 0, 0};
  uint32_t n = 4 + (j->program ? 1 : 0) + (j->source ? 1 : 0) + (j->name ? 1 : 0) +
               (j->sandbox ? 1 : 0) + (j->memory ? 1 : 0) + (j->cpu_ms ? 1 : 0) +
               (j->address_space ? 1 : 0) + (j->cwd ? 1 : 0) + (j->ngrants ? 1 : 0) +
               (j->scratch ? 1 : 0) + (j->max_write_bytes ? 1 : 0) + (j->nenv ? 1 : 0) +
               (j->ndeny ? 1 : 0) + (j->nhost ? 1 : 0);
  WITH_FRAME(IPC_MSG_JOB, &env, n, {
    if (j->program) {
      ipc_pack_str(pk, "program");
      ipc_pack_str(pk, j->program);
    }
    if (j->source) {
      ipc_pack_str(pk, "source");
      ipc_pack_strn(pk, j->source, j->source_len);
    }
    if (j->name) {
      ipc_pack_str(pk, "name");
      ipc_pack_str(pk, j->name);
    }
    ipc_pack_str(pk, "input");
    ipc_pack_str_or_nil(pk, j->input_json);
    ipc_pack_str(pk, "deadline_at_ms");
    if (j->has_deadline) msgpack_pack_int64(pk, j->deadline_at_ms);
    else msgpack_pack_nil(pk);
    ipc_pack_str(pk, "grace_ms");
    msgpack_pack_int64(pk, j->grace_ms < 0 ? 0 : j->grace_ms);
    ipc_pack_str(pk, "count_instructions");
    if (j->count_instructions) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
    /* optional fields, written only when set (absent = 0/false) */
    if (j->sandbox) {
      ipc_pack_str(pk, "sandbox");
      msgpack_pack_true(pk);
    }
    if (j->memory) {
      ipc_pack_str(pk, "memory");
      msgpack_pack_uint64(pk, j->memory);
    }
    if (j->cpu_ms) {
      ipc_pack_str(pk, "cpu_ms");
      msgpack_pack_uint64(pk, j->cpu_ms);
    }
    if (j->address_space) {
      ipc_pack_str(pk, "address_space");
      msgpack_pack_uint64(pk, j->address_space);
    }
    /* v3 */
    if (j->cwd) {
      ipc_pack_str(pk, "cwd");
      ipc_pack_str(pk, j->cwd);
    }
    if (j->ngrants) {
      ipc_pack_str(pk, "grants");
      msgpack_pack_array(pk, j->ngrants);
      for (size_t i = 0; i < j->ngrants; i++) {
        msgpack_pack_map(pk, 2);
        ipc_pack_str(pk, "path");
        ipc_pack_str(pk, j->grants[i].path);
        ipc_pack_str(pk, "write");
        if (j->grants[i].write) msgpack_pack_true(pk);
        else msgpack_pack_false(pk);
      }
    }
    if (j->scratch) {
      ipc_pack_str(pk, "scratch");
      ipc_pack_str(pk, j->scratch);
    }
    if (j->max_write_bytes) {
      ipc_pack_str(pk, "max_write_bytes");
      msgpack_pack_uint64(pk, j->max_write_bytes);
    }
    if (j->nenv) {
      ipc_pack_str(pk, "env");
      msgpack_pack_map(pk, j->nenv);
      for (size_t i = 0; i < j->nenv; i++) {
        ipc_pack_str(pk, j->env[i].name);
        ipc_pack_str(pk, j->env[i].value);
      }
    }
    if (j->ndeny) {
      ipc_pack_str(pk, "deny");
      msgpack_pack_array(pk, j->ndeny);
      for (size_t i = 0; i < j->ndeny; i++) ipc_pack_str(pk, j->deny[i]);
    }
    if (j->nhost) {
      ipc_pack_str(pk, "host");
      msgpack_pack_array(pk, j->nhost);
      for (size_t i = 0; i < j->nhost; i++) ipc_pack_str(pk, j->host[i]);
    }
  });
}

int ipc_encode_started(Buf *out, const IpcEnvelope *env, const IpcStarted *s)
{
  WITH_FRAME(IPC_MSG_STARTED, env, 4, {
    ipc_pack_str(pk, "version");
    msgpack_pack_int64(pk, IPC_PROTOCOL_VERSION);
    ipc_pack_str(pk, "pid");
    msgpack_pack_int64(pk, s->pid);
    ipc_pack_str(pk, "pgid");
    msgpack_pack_int64(pk, s->pgid);
    ipc_pack_str(pk, "started_at_ms");
    msgpack_pack_double(pk, s->started_at_ms);
  });
}

int ipc_encode_output(Buf *out, const IpcEnvelope *env, int stream, const void *data, size_t len)
{
  WITH_FRAME(IPC_MSG_OUTPUT, env, 2, {
    ipc_pack_str(pk, "stream");
    ipc_pack_str(pk, stream == 2 ? "err" : "out");
    ipc_pack_str(pk, "data");
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, data, len);
  });
}

int ipc_encode_step(Buf *out, const IpcEnvelope *env, const msgpack_object *record)
{
  WITH_FRAME(IPC_MSG_STEP, env, 1, {
    ipc_pack_str(pk, "record");
    ipc_pack_object(pk, record);
  });
}

int ipc_encode_emit(Buf *out, const IpcEnvelope *env, const char *name, const msgpack_object *data)
{
  WITH_FRAME(IPC_MSG_EMIT, env, 2, {
    ipc_pack_str(pk, "name");
    ipc_pack_str(pk, name);
    ipc_pack_str(pk, "data");
    ipc_pack_object(pk, data);
  });
}

int ipc_encode_lifecycle(Buf *out, const IpcEnvelope *env, const IpcLifecycle *l)
{
  WITH_FRAME(IPC_MSG_LIFECYCLE, env, 4, {
    ipc_pack_str(pk, "event");
    ipc_pack_str(pk, l->event);
    ipc_pack_str(pk, "payload");
    ipc_pack_object(pk, &l->payload);
    ipc_pack_str(pk, "control");
    ipc_pack_str(pk, l->control);
    ipc_pack_str(pk, "hooks");
    if (l->hooks.type == MSGPACK_OBJECT_ARRAY) ipc_pack_object(pk, &l->hooks);
    else msgpack_pack_array(pk, 0);
  });
}

int ipc_encode_final(Buf *out, const IpcEnvelope *env, const IpcFinal *f)
{
  bool caps = f->capabilities.type == MSGPACK_OBJECT_MAP;
  WITH_FRAME(IPC_MSG_FINAL, env, 10 + (f->limit ? 1 : 0) + (caps ? 1 : 0), {
    ipc_pack_str(pk, "status");
    ipc_pack_str(pk, ipc_status_name(f->status));
    ipc_pack_str(pk, "value");
    ipc_pack_object(pk, &f->value);
    ipc_pack_str(pk, "error");
    ipc_pack_str_or_nil(pk, f->error);
    ipc_pack_str(pk, "error_value");
    ipc_pack_object(pk, &f->error_value);
    ipc_pack_str(pk, "diagnostic");
    ipc_pack_str_or_nil(pk, f->diagnostic);
    ipc_pack_str(pk, "trace");
    msgpack_pack_array(pk, f->trace_len);
    for (size_t i = 0; i < f->trace_len; i++) {
      const IpcTraceEntry *t = &f->trace[i];
      ipc_pack_trace_entry(pk, t->fn, t->line, t->col, t->file);
    }
    ipc_pack_str(pk, "signal");
    ipc_pack_str_or_nil(pk, f->signal);
    ipc_pack_str(pk, "hard_stop");
    if (f->hard_stop) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
    ipc_pack_str(pk, "exit_code");
    msgpack_pack_int64(pk, f->exit_code);
    ipc_pack_str(pk, "counters");
    ipc_pack_counters(pk, &f->counters);
    if (f->limit) {
      ipc_pack_str(pk, "limit");
      ipc_pack_str(pk, f->limit);
    }
    if (caps) {
      ipc_pack_str(pk, "capabilities");
      ipc_pack_object(pk, &f->capabilities);
    }
  });
}

int ipc_encode_sandbox(Buf *out, const IpcEnvelope *env, const msgpack_object *applied)
{
  WITH_FRAME(IPC_MSG_SANDBOX, env, 1, {
    ipc_pack_str(pk, "applied");
    ipc_pack_object(pk, applied);
  });
}

int ipc_encode_host_call(Buf *out, const IpcEnvelope *env, uint64_t id, const char *cap,
                         const char *op, const msgpack_object *args)
{
  WITH_FRAME(IPC_MSG_HOST_CALL, env, 4, {
    ipc_pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    ipc_pack_str(pk, "cap");
    ipc_pack_str(pk, cap);
    ipc_pack_str(pk, "op");
    ipc_pack_str(pk, op);
    ipc_pack_str(pk, "args");
    if (args) ipc_pack_object(pk, args);
    else msgpack_pack_map(pk, 0);
  });
}

int ipc_encode_host_cancel(Buf *out, const IpcEnvelope *env, uint64_t id)
{
  WITH_FRAME(IPC_MSG_HOST_CANCEL, env, 1, {
    ipc_pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
  });
}

int ipc_encode_host_result(Buf *out, uint64_t id, bool ok, const msgpack_object *value,
                           const msgpack_object *error)
{
  static const IpcEnvelope none = {"", 0, 0, 0};
  WITH_FRAME(IPC_MSG_HOST_RESULT, &none, 3, {
    ipc_pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    ipc_pack_str(pk, "ok");
    if (ok) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
    ipc_pack_str(pk, ok ? "value" : "error");
    ipc_pack_object(pk, ok ? value : error);
  });
}
