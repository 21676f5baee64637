/*
 * fuzz_frame.c: libFuzzer harness for the frame decoder of ipc/ (built
 * only with -DHARN_FUZZ=ON).
 *
 * The input is split in two by its first byte: the chunk size used to feed
 * the decoder (1..256, so frames straddle reads the way pipe reads do) and
 * the byte stream itself. The stream goes through an event decoder and a
 * job decoder; every frame that comes out is rendered to JSON (all of its
 * msgpack values), then freed. Invariants checked: the decoder never
 * crashes or leaks, errors are sticky, an error always has a text, and a
 * returned frame is fully valid (its values render; v3 host_call,
 * host_cancel and host_result frames keep their invariants).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render(const IpcMsg *m)
{
  Buf b = {0};
  switch (m->type) {
  case IPC_MSG_STEP: ipc_to_json(&b, &m->u.step.record); break;
  case IPC_MSG_EMIT: ipc_to_json(&b, &m->u.emit.data); break;
  case IPC_MSG_LIFECYCLE:
    ipc_to_json(&b, &m->u.lifecycle.payload);
    ipc_to_json(&b, &m->u.lifecycle.hooks);
    break;
  case IPC_MSG_FINAL:
    ipc_to_json(&b, &m->u.final.value);
    ipc_to_json(&b, &m->u.final.error_value);
    for (size_t i = 0; i < m->u.final.trace_len; i++)
      if (!m->u.final.trace[i].fn || !m->u.final.trace[i].file) abort();
    ipc_to_json(&b, &m->u.final.capabilities);
    break;
  case IPC_MSG_JOB:
    /* v3: every grant is an absolute path with its flag, every variable
     * and denied builtin a string */
    if (m->u.job.ngrants > IPC_MAX_GRANTS) abort();
    for (size_t i = 0; i < m->u.job.ngrants; i++)
      if (!m->u.job.grants[i].path || m->u.job.grants[i].path[0] != '/') abort();
    for (size_t i = 0; i < m->u.job.nenv; i++)
      if (!m->u.job.env[i].name || !m->u.job.env[i].value) abort();
    for (size_t i = 0; i < m->u.job.ndeny; i++)
      if (!m->u.job.deny[i]) abort();
    break;
  case IPC_MSG_HOST_CALL:
    /* v3: a nonzero id, names of 1..IPC_MAX_HOST_NAME bytes, map args */
    if (!m->u.host_call.id || !m->u.host_call.cap || !m->u.host_call.op) abort();
    if (!m->u.host_call.cap[0] || strlen(m->u.host_call.cap) > IPC_MAX_HOST_NAME) abort();
    if (m->u.host_call.args.type != MSGPACK_OBJECT_MAP) abort();
    ipc_to_json(&b, &m->u.host_call.args);
    break;
  case IPC_MSG_HOST_CANCEL:
    if (!m->u.host_cancel.id) abort();
    break;
  case IPC_MSG_HOST_RESULT:
    /* ok: a value and no error; else an error map and no value */
    if (!m->u.host_result.id) abort();
    if (m->u.host_result.ok ? m->u.host_result.error.type != MSGPACK_OBJECT_NIL
                            : m->u.host_result.error.type != MSGPACK_OBJECT_MAP)
      abort();
    ipc_to_json(&b, m->u.host_result.ok ? &m->u.host_result.value : &m->u.host_result.error);
    break;
  default: break;
  }
  buf_free(&b);
}

static void run(IpcReadSide side, const uint8_t *data, size_t size, size_t chunk)
{
  IpcDecoder *d = ipc_decoder_new(side, side == IPC_READ_JOB ? 0 : 4096);
  if (!d) return;
  int err = 0;
  for (size_t off = 0; off < size && !err; off += chunk) {
    size_t n = size - off < chunk ? size - off : chunk;
    err = ipc_decoder_feed(d, data + off, n);
    while (!err) {
      IpcMsg m;
      int r = ipc_decoder_next(d, &m);
      if (r == 1) {
        render(&m);
        ipc_msg_free(&m);
        continue;
      }
      err = r;
      break;
    }
  }
  if (!err) err = ipc_decoder_finish(d);
  if (err) {
    if (ipc_decoder_status(d) != err || ipc_decoder_error(d)[0] == '\0') abort();
    IpcMsg m;
    if (ipc_decoder_next(d, &m) != err) abort(); /* sticky */
  }
  ipc_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  size_t chunk = (size_t)data[0] + 1;
  run(IPC_READ_EVENTS, data + 1, size - 1, chunk);
  run(IPC_READ_JOB, data + 1, size - 1, chunk);
  return 0;
}
