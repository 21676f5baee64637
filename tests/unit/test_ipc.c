/*
 * test_ipc.c: the frame codec of ipc/ (ipc.h, docs/protocol.md).
 *
 * - every message type round-trips through its encoder and the decoder of
 *   the other side, fed whole and byte by byte;
 * - every value kind of docs/RUNTIME.md 9.3 round-trips through final.value and
 *   renders as the documented JSON;
 * - every class of malformed input gives its own code and precise text;
 * - the maximum frame size is inclusive (16 MiB passes, one more fails, and
 *   the encoder refuses to build a larger frame);
 * - seq gaps, `started` misplaced and frames after `final` are rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <cmocka.h>

#include "ipc/ipc.h"

/* ---- helpers ---------------------------------------------------------------- */

static IpcEnvelope env_at(uint64_t seq)
{
  IpcEnvelope e = {"job-1", 2, seq, 1.5 + (double)seq};
  return e;
}

/* Decode exactly one message out of [b] on [side]; returns the code. */
static int decode_one(IpcReadSide side, const Buf *b, IpcMsg *m, IpcDecoder **dout)
{
  IpcDecoder *d = ipc_decoder_new(side, 0);
  assert_non_null(d);
  int r = ipc_decoder_feed(d, b->data, b->len);
  if (r == 0) r = ipc_decoder_next(d, m);
  if (dout) *dout = d;
  else ipc_decoder_free(d);
  return r;
}

/* A frame around the msgpack body in [sb]. */
static void frame_of(Buf *out, const char *body, size_t n)
{
  unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                        (unsigned char)n};
  buf_append(out, (const char *)h, 4);
  buf_append(out, body, n);
}

/* A valid `started` frame with seq 0 (prefix of every event stream). */
static void add_started(Buf *out)
{
  IpcEnvelope e = env_at(0);
  IpcStarted s = {IPC_PROTOCOL_VERSION, 100, 100, 1.7e12};
  assert_int_equal(ipc_encode_started(out, &e, &s), 0);
}

/* Feed [b] to a fresh event decoder, take every frame; return the first
 * error (or 0) and leave the decoder text in [err]. */
static int decode_events(const Buf *b, char *err, size_t errcap, int *nframes)
{
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  int r = ipc_decoder_feed(d, b->data, b->len);
  int n = 0;
  while (r == 0) {
    IpcMsg m;
    r = ipc_decoder_next(d, &m);
    if (r == 1) {
      n++;
      ipc_msg_free(&m);
      r = 0;
      continue;
    }
    break;
  }
  snprintf(err, errcap, "%s", ipc_decoder_error(d));
  if (nframes) *nframes = n;
  ipc_decoder_free(d);
  return r;
}

/* Build an event frame from raw pairs packed by [fill] after a standard
 * envelope of type [type] and seq [seq]. */
typedef void (*FillFn)(msgpack_packer *pk);

static void raw_event(Buf *out, const char *type, uint64_t seq, uint32_t nextra, FillFn fill)
{
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 5 + nextra);
  ipc_pack_str(&pk, "type");
  ipc_pack_str(&pk, type);
  ipc_pack_str(&pk, "job");
  ipc_pack_str(&pk, "job-1");
  ipc_pack_str(&pk, "attempt");
  msgpack_pack_int(&pk, 2);
  ipc_pack_str(&pk, "seq");
  msgpack_pack_uint64(&pk, seq);
  ipc_pack_str(&pk, "t_ms");
  msgpack_pack_double(&pk, 3.0);
  if (fill) fill(&pk);
  frame_of(out, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

/* Expect decoding [b] (events) to fail with [code] and a text containing
 * [needle]. */
static void expect_error(const Buf *b, int code, const char *needle)
{
  char err[512];
  int r = decode_events(b, err, sizeof err, NULL);
  if (r != code || !strstr(err, needle))
    fail_msg("expected %s containing \"%s\", got %s: \"%s\"", ipc_err_name(code), needle,
             ipc_err_name(r), err);
}

/* ---- names -------------------------------------------------------------------- */

static void test_names(void **state)
{
  (void)state;
  assert_string_equal(ipc_msg_name(IPC_MSG_FINAL), "final");
  assert_int_equal(ipc_msg_lookup("lifecycle", 9), IPC_MSG_LIFECYCLE);
  assert_int_equal(ipc_msg_lookup("nope", 4), -1);
  assert_string_equal(ipc_err_name(IPC_E_TOOBIG), "IPC_E_TOOBIG");
  assert_string_equal(ipc_err_name(IPC_E_EOF), "IPC_E_EOF");
  assert_string_equal(ipc_strerror(IPC_E_SEQ), "seq gap or reordering");
  assert_string_equal(ipc_err_name(0), "IPC_OK");
  assert_string_equal(ipc_err_name(-1000), "unknown");
  assert_true(IPC_E_NOMEM == -1);
}

/* ---- round trips ----------------------------------------------------------------- */

static void test_job_roundtrip(void **state)
{
  (void)state;
  Buf b = {0};
  IpcJob j = {0};
  j.program = "examples/hello.harn";
  j.input_json = "{\"a\":1}";
  j.has_deadline = true;
  j.deadline_at_ms = 123456;
  j.grace_ms = 250;
  j.count_instructions = true;
  assert_int_equal(ipc_encode_job(&b, "job-7", 3, &j), 0);
  IpcMsg m;
  assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, NULL), 1);
  assert_int_equal(m.type, IPC_MSG_JOB);
  assert_string_equal(m.job, "job-7");
  assert_int_equal(m.attempt, 3);
  assert_int_equal(m.u.job.version, IPC_PROTOCOL_VERSION);
  assert_string_equal(m.u.job.program, "examples/hello.harn");
  assert_null(m.u.job.source);
  assert_string_equal(m.u.job.input_json, "{\"a\":1}");
  assert_true(m.u.job.has_deadline);
  assert_int_equal(m.u.job.deadline_at_ms, 123456);
  assert_int_equal(m.u.job.grace_ms, 250);
  assert_true(m.u.job.count_instructions);
  ipc_msg_free(&m);
  ipc_msg_free(&m); /* twice is safe */

  /* inline source with an embedded NUL, a name, no input, no deadline */
  buf_clear(&b);
  IpcJob k = {0};
  k.source = "println(1)\0x";
  k.source_len = 12;
  k.name = "inline.harn";
  assert_int_equal(ipc_encode_job(&b, "j", 1, &k), 0);
  assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, NULL), 1);
  assert_null(m.u.job.program);
  assert_int_equal(m.u.job.source_len, 12);
  assert_memory_equal(m.u.job.source, "println(1)\0x", 12);
  assert_string_equal(m.u.job.name, "inline.harn");
  assert_null(m.u.job.input_json);
  assert_false(m.u.job.has_deadline);
  assert_false(m.u.job.count_instructions);
  ipc_msg_free(&m);

  /* a job frame is not an event and an event is not a job */
  assert_int_equal(decode_one(IPC_READ_EVENTS, &b, &m, NULL), IPC_E_DIRECTION);
  buf_clear(&b);
  add_started(&b);
  IpcDecoder *d;
  assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, &d), IPC_E_DIRECTION);
  assert_non_null(strstr(ipc_decoder_error(d), "a `started` frame is not allowed on the job pipe"));
  ipc_decoder_free(d);
  buf_free(&b);
}

static void test_event_roundtrip(void **state)
{
  (void)state;
  Buf b = {0};
  add_started(&b);
  IpcEnvelope e = env_at(1);
  assert_int_equal(ipc_encode_output(&b, &e, 1, "hi\0there\n", 9), 0);
  e = env_at(2);
  assert_int_equal(ipc_encode_output(&b, &e, 2, "oops", 4), 0);

  /* a step record and an emit body, built as msgpack objects */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  ipc_pack_str(&pk, "name");
  ipc_pack_str(&pk, "fetch");
  ipc_pack_str(&pk, "status");
  ipc_pack_str(&pk, "completed");
  ipc_pack_str(&pk, "duration_ms");
  msgpack_pack_double(&pk, 1.25);
  msgpack_pack_array(&pk, 2); /* emit data */
  msgpack_pack_int(&pk, 1);
  ipc_pack_str(&pk, "x");
  msgpack_zone z;
  msgpack_zone_init(&z, 2048);
  msgpack_object rec, data;
  size_t off = 0;
  assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &z, &rec), MSGPACK_UNPACK_EXTRA_BYTES);
  assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &z, &data), MSGPACK_UNPACK_SUCCESS);
  e = env_at(3);
  assert_int_equal(ipc_encode_step(&b, &e, &rec), 0);
  e = env_at(4);
  assert_int_equal(ipc_encode_emit(&b, &e, "progress", &data), 0);
  IpcLifecycle l;
  memset(&l, 0, sizeof l);
  l.event = "PreFinish";
  l.payload = rec;
  l.control = "allow";
  l.hooks = data;
  e = env_at(5);
  assert_int_equal(ipc_encode_lifecycle(&b, &e, &l), 0);

  IpcFinal f;
  memset(&f, 0, sizeof f);
  f.status = IPC_STATUS_ERROR;
  f.value = data;
  f.error = "Runtime error: Division by zero (line 2)";
  f.error_value.type = MSGPACK_OBJECT_STR;
  f.error_value.via.str.ptr = "Division by zero";
  f.error_value.via.str.size = 16;
  f.diagnostic = "error: Runtime error: Division by zero (line 2)\n";
  IpcTraceEntry tr[2] = {{"", 5, 1, "main.harn"}, {"div", 2, 12, "main.harn"}};
  f.trace = tr;
  f.trace_len = 2;
  f.signal = "SIGTERM";
  f.hard_stop = true;
  f.exit_code = 1;
  f.counters.wall_ms = 12.5;
  f.counters.cpu_ms = 3.25;
  f.counters.has_instructions = true;
  f.counters.instructions = 99;
  f.counters.tasks_spawned = 1;
  f.counters.steps_recorded = 1;
  f.counters.output_bytes = 13;
  f.counters.peak_frames = 4;
  e = env_at(6);
  assert_int_equal(ipc_encode_final(&b, &e, &f), 0);

  /* decode, once whole and once byte by byte */
  for (int pass = 0; pass < 2; pass++) {
    IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
    assert_int_equal(ipc_decoder_expect(d, "job-1", 2), 0);
    IpcMsg m[7];
    int got = 0;
    for (size_t i = 0; i < b.len && got < 7;) {
      size_t n = pass == 0 ? b.len : 1;
      assert_int_equal(ipc_decoder_feed(d, b.data + i, n), 0);
      i += n;
      int r;
      while (got < 7 && (r = ipc_decoder_next(d, &m[got])) == 1) got++;
    }
    assert_int_equal(got, 7);
    assert_int_equal(ipc_decoder_finish(d), 0);
    assert_true(ipc_decoder_saw_final(d));
    assert_int_equal(ipc_decoder_frames(d), 7);
    assert_int_equal(ipc_decoder_buffered(d), 0);
    for (int i = 0; i < 7; i++) {
      assert_int_equal(m[i].seq, (uint64_t)i);
      assert_string_equal(m[i].job, "job-1");
      assert_int_equal(m[i].attempt, 2);
      assert_true(m[i].t_ms == 1.5 + i);
    }
    assert_int_equal(m[0].type, IPC_MSG_STARTED);
    assert_int_equal(m[0].u.started.pid, 100);
    assert_true(m[0].u.started.started_at_ms == 1.7e12);
    assert_int_equal(m[1].type, IPC_MSG_OUTPUT);
    assert_int_equal(m[1].u.output.stream, 1);
    assert_int_equal(m[1].u.output.len, 9);
    assert_memory_equal(m[1].u.output.data, "hi\0there\n", 9);
    assert_int_equal(m[2].u.output.stream, 2);
    assert_int_equal(m[3].type, IPC_MSG_STEP);
    assert_string_equal(m[3].u.step.name, "fetch");
    assert_string_equal(m[3].u.step.status, "completed");
    Buf j = {0};
    ipc_to_json(&j, &m[3].u.step.record);
    assert_string_equal(j.data, "{\"name\":\"fetch\",\"status\":\"completed\",\"duration_ms\":1.25}");
    buf_clear(&j);
    assert_int_equal(m[4].type, IPC_MSG_EMIT);
    assert_string_equal(m[4].u.emit.name, "progress");
    ipc_to_json(&j, &m[4].u.emit.data);
    assert_string_equal(j.data, "[1,\"x\"]");
    buf_clear(&j);
    assert_int_equal(m[5].type, IPC_MSG_LIFECYCLE);
    assert_string_equal(m[5].u.lifecycle.event, "PreFinish");
    assert_string_equal(m[5].u.lifecycle.control, "allow");
    assert_int_equal(m[5].u.lifecycle.hooks.type, MSGPACK_OBJECT_ARRAY);
    const IpcFinal *g = &m[6].u.final;
    assert_int_equal(m[6].type, IPC_MSG_FINAL);
    assert_int_equal(g->status, IPC_STATUS_ERROR);
    assert_string_equal(g->error, "Runtime error: Division by zero (line 2)");
    assert_string_equal(g->diagnostic, "error: Runtime error: Division by zero (line 2)\n");
    ipc_to_json(&j, &g->error_value);
    assert_string_equal(j.data, "\"Division by zero\"");
    buf_free(&j);
    assert_int_equal(g->trace_len, 2);
    assert_string_equal(g->trace[0].fn, "");
    assert_string_equal(g->trace[1].fn, "div");
    assert_int_equal(g->trace[1].line, 2);
    assert_int_equal(g->trace[1].col, 12);
    assert_string_equal(g->trace[1].file, "main.harn");
    assert_string_equal(g->signal, "SIGTERM");
    assert_true(g->hard_stop);
    assert_int_equal(g->exit_code, 1);
    assert_true(g->counters.wall_ms == 12.5);
    assert_true(g->counters.has_instructions);
    assert_int_equal(g->counters.instructions, 99);
    assert_int_equal(g->counters.output_bytes, 13);
    assert_int_equal(g->counters.peak_frames, 4);
    for (int i = 0; i < 7; i++) ipc_msg_free(&m[i]);
    ipc_decoder_free(d);
  }
  msgpack_zone_destroy(&z);
  msgpack_sbuffer_destroy(&sb);
  buf_free(&b);
}

/* ---- values of docs/RUNTIME.md 9.3 ------------------------------------------------------- */

static void pack_tag(msgpack_packer *pk, const char *tag, int n)
{
  msgpack_pack_map(pk, 1 + n);
  ipc_pack_str(pk, "$harn");
  ipc_pack_str(pk, tag);
}

static void test_values(void **state)
{
  (void)state;
  /* One list holding every value kind, as the worker's exporter packs it. */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 15);
  msgpack_pack_nil(&pk);
  msgpack_pack_true(&pk);
  msgpack_pack_false(&pk);
  msgpack_pack_int64(&pk, -9223372036854775807LL - 1);
  msgpack_pack_int64(&pk, 9223372036854775807LL);
  msgpack_pack_double(&pk, 0.1);
  msgpack_pack_double(&pk, 3.0);
  ipc_pack_str(&pk, "é\"\n\x01");
  msgpack_pack_bin(&pk, 4);
  msgpack_pack_bin_body(&pk, "\x00\xff\x10\x20", 4);
  msgpack_pack_map(&pk, 2); /* dict in its own order */
  ipc_pack_str(&pk, "b");
  msgpack_pack_int(&pk, 1);
  ipc_pack_str(&pk, "a");
  msgpack_pack_array(&pk, 0);
  pack_tag(&pk, "enum", 3);
  ipc_pack_str(&pk, "enum");
  ipc_pack_str(&pk, "Shape");
  ipc_pack_str(&pk, "variant");
  ipc_pack_str(&pk, "Circle");
  ipc_pack_str(&pk, "fields");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_double(&pk, 2.5);
  pack_tag(&pk, "duration", 1);
  ipc_pack_str(&pk, "ms");
  msgpack_pack_int(&pk, 1500);
  pack_tag(&pk, "result", 2);
  ipc_pack_str(&pk, "ok");
  msgpack_pack_false(&pk);
  ipc_pack_str(&pk, "value");
  ipc_pack_str(&pk, "bad");
  pack_tag(&pk, "opaque", 2);
  ipc_pack_str(&pk, "type");
  ipc_pack_str(&pk, "closure");
  ipc_pack_str(&pk, "display");
  ipc_pack_str(&pk, "<fn(a)>");
  msgpack_pack_double(&pk, 1.0 / 0.0);

  msgpack_zone z;
  msgpack_zone_init(&z, 2048);
  msgpack_object v;
  size_t off = 0;
  assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &z, &v), MSGPACK_UNPACK_SUCCESS);

  Buf b = {0};
  add_started(&b);
  IpcFinal f;
  memset(&f, 0, sizeof f);
  f.status = IPC_STATUS_OK;
  f.value = v;
  IpcEnvelope e = env_at(1);
  assert_int_equal(ipc_encode_final(&b, &e, &f), 0);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  IpcMsg m0, m1;
  assert_int_equal(ipc_decoder_next(d, &m0), 1);
  assert_int_equal(ipc_decoder_next(d, &m1), 1);
  IpcMsg m2;
  assert_int_equal(ipc_decoder_next(d, &m2), 0); /* nothing more buffered */
  assert_true(msgpack_object_equal(m1.u.final.value, v));
  assert_null(m1.u.final.error);
  assert_null(m1.u.final.signal);
  assert_false(m1.u.final.counters.has_instructions);
  Buf j = {0};
  assert_int_equal(ipc_to_json(&j, &m1.u.final.value), 0);
  assert_string_equal(j.data,
                      "[null,true,false,-9223372036854775808,9223372036854775807,0.1,3,"
                      "\"é\\\"\\n\\u0001\","
                      "{\"$harn\":\"bytes\",\"base64\":\"AP8QIA==\"},"
                      "{\"b\":1,\"a\":[]},"
                      "{\"$harn\":\"enum\",\"enum\":\"Shape\",\"variant\":\"Circle\",\"fields\":[2.5]},"
                      "{\"$harn\":\"duration\",\"ms\":1500},"
                      "{\"$harn\":\"result\",\"ok\":false,\"value\":\"bad\"},"
                      "{\"$harn\":\"opaque\",\"type\":\"closure\",\"display\":\"<fn(a)>\"},"
                      "null]");
  buf_free(&j);

  /* JSON details: invalid UTF-8, base64 padding, floats */
  msgpack_object s = {.type = MSGPACK_OBJECT_STR};
  s.via.str.ptr = "a\xff" "b\xe2\x82";
  s.via.str.size = 5;
  ipc_to_json(&j, &s);
  assert_string_equal(j.data, "\"a\\ufffdb\\ufffd\""); /* one \ufffd per maximal subpart */
  buf_clear(&j);
  msgpack_object bin = {.type = MSGPACK_OBJECT_BIN};
  bin.via.bin.ptr = "ab";
  bin.via.bin.size = 2;
  ipc_to_json(&j, &bin);
  assert_string_equal(j.data, "{\"$harn\":\"bytes\",\"base64\":\"YWI=\"}");
  buf_clear(&j);
  msgpack_object fl = {.type = MSGPACK_OBJECT_FLOAT64};
  fl.via.f64 = 1e21;
  ipc_to_json(&j, &fl);
  assert_string_equal(j.data, "1e+21");
  buf_free(&j);

  ipc_msg_free(&m0);
  ipc_msg_free(&m1);
  ipc_decoder_free(d);
  msgpack_zone_destroy(&z);
  msgpack_sbuffer_destroy(&sb);
  buf_free(&b);
}

/* ---- malformed input --------------------------------------------------------------------- */

static void fill_output_str_data(msgpack_packer *pk)
{
  ipc_pack_str(pk, "stream");
  ipc_pack_str(pk, "out");
  ipc_pack_str(pk, "data");
  ipc_pack_str(pk, "not bin");
}

static void fill_output_bad_stream(msgpack_packer *pk)
{
  ipc_pack_str(pk, "stream");
  ipc_pack_str(pk, "both");
  ipc_pack_str(pk, "data");
  msgpack_pack_bin(pk, 0);
}

static void fill_output_dup(msgpack_packer *pk)
{
  ipc_pack_str(pk, "stream");
  ipc_pack_str(pk, "out");
  ipc_pack_str(pk, "stream");
  ipc_pack_str(pk, "err");
}

static void fill_output_unknown(msgpack_packer *pk)
{
  ipc_pack_str(pk, "stream");
  ipc_pack_str(pk, "out");
  ipc_pack_str(pk, "data");
  msgpack_pack_bin(pk, 0);
  ipc_pack_str(pk, "colour");
  msgpack_pack_nil(pk);
}

static void fill_output_missing(msgpack_packer *pk)
{
  ipc_pack_str(pk, "stream");
  ipc_pack_str(pk, "out");
}

static void fill_intkey(msgpack_packer *pk)
{
  msgpack_pack_int(pk, 7);
  msgpack_pack_nil(pk);
}

static void fill_emit_ext(msgpack_packer *pk)
{
  ipc_pack_str(pk, "name");
  ipc_pack_str(pk, "n");
  ipc_pack_str(pk, "data");
  msgpack_pack_array(pk, 1);
  msgpack_pack_map(pk, 1);
  ipc_pack_str(pk, "k");
  msgpack_pack_ext(pk, 1, 1);
  msgpack_pack_ext_body(pk, "x", 1);
}

static void fill_emit_intkey_value(msgpack_packer *pk)
{
  ipc_pack_str(pk, "name");
  ipc_pack_str(pk, "n");
  ipc_pack_str(pk, "data");
  msgpack_pack_map(pk, 1);
  msgpack_pack_int(pk, 1);
  msgpack_pack_int(pk, 2);
}

static void fill_step_bad_status(msgpack_packer *pk)
{
  ipc_pack_str(pk, "record");
  msgpack_pack_map(pk, 2);
  ipc_pack_str(pk, "name");
  ipc_pack_str(pk, "s");
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "done");
}

static void fill_step_deep(msgpack_packer *pk)
{
  ipc_pack_str(pk, "record");
  msgpack_pack_map(pk, 3);
  ipc_pack_str(pk, "name");
  ipc_pack_str(pk, "s");
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "failed");
  ipc_pack_str(pk, "error");
  for (int i = 0; i < IPC_MAX_DEPTH; i++) msgpack_pack_array(pk, 1);
  msgpack_pack_nil(pk);
}

static void fill_negative_seqless(msgpack_packer *pk)
{
  ipc_pack_str(pk, "version");
  msgpack_pack_int(pk, IPC_PROTOCOL_VERSION + 1);
  ipc_pack_str(pk, "pid");
  msgpack_pack_int(pk, 1);
  ipc_pack_str(pk, "pgid");
  msgpack_pack_int(pk, 1);
  ipc_pack_str(pk, "started_at_ms");
  msgpack_pack_int(pk, 0);
}

static void test_malformed_framing(void **state)
{
  (void)state;
  char err[512];
  Buf b = {0};

  /* oversize length: reported by feed as soon as the 4 bytes are in */
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, "\x01\x00\x00", 3), 0);
  assert_int_equal(ipc_decoder_feed(d, "\x01", 1), IPC_E_TOOBIG);
  assert_string_equal(ipc_decoder_error(d),
                      "frame 1: frame length 16777217 exceeds the maximum frame size 16777216");
  IpcMsg m;
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_TOOBIG); /* sticky */
  assert_int_equal(ipc_decoder_feed(d, "x", 1), IPC_E_TOOBIG);
  assert_int_equal(ipc_decoder_status(d), IPC_E_TOOBIG);
  ipc_decoder_free(d);

  /* zero length */
  buf_append(&b, "\0\0\0\0", 4);
  assert_int_equal(decode_events(&b, err, sizeof err, NULL), IPC_E_EMPTY);
  assert_string_equal(err, "frame 1: zero-length frame (a frame holds one msgpack map)");
  buf_clear(&b);

  /* truncated: inside the prefix, inside the body */
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, "\0\0", 2), 0);
  assert_int_equal(ipc_decoder_next(d, &m), 0);
  assert_int_equal(ipc_decoder_finish(d), IPC_E_TRUNCATED);
  assert_string_equal(ipc_decoder_error(d), "frame 1: stream ended inside the length prefix (2 of 4 bytes)");
  ipc_decoder_free(d);
  add_started(&b);
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len - 3), 0);
  assert_int_equal(ipc_decoder_next(d, &m), 0);
  assert_int_equal(ipc_decoder_finish(d), IPC_E_TRUNCATED);
  char want[128];
  snprintf(want, sizeof want, "frame 1: stream ended inside the frame body (%zu of %zu bytes)", b.len - 7,
           b.len - 4);
  assert_string_equal(ipc_decoder_error(d), want);
  ipc_decoder_free(d);
  /* ... and a complete first frame is still delivered before the cut one */
  Buf two = {0};
  buf_append(&two, b.data, b.len);
  IpcEnvelope e = env_at(1);
  ipc_encode_output(&two, &e, 1, "abc", 3);
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, two.data, two.len - 1), 0);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), 0);
  assert_int_equal(ipc_decoder_finish(d), IPC_E_TRUNCATED);
  ipc_decoder_free(d);
  buf_free(&two);
  buf_clear(&b);

  /* invalid msgpack (0xc1 is never used) */
  frame_of(&b, "\xc1", 1);
  expect_error(&b, IPC_E_MSGPACK, "frame 1: body of 1 bytes is not valid msgpack");
  buf_clear(&b);

  /* body ends inside a value: a map of 2 pairs holding only one */
  frame_of(&b, "\x82\xa1" "a\x01", 4);
  expect_error(&b, IPC_E_BODY_SHORT, "frame 1: body of 4 bytes ends inside a msgpack value");
  buf_clear(&b);

  /* a container header that promises more elements than bytes remain
   * (msgpack-c would allocate for 2^31 entries before noticing) */
  frame_of(&b, "\xdf\x7f\xff\xff\xff\xa1" "a\x01", 8);
  expect_error(&b, IPC_E_BODY_SHORT, "(4294967294 more elements declared, 3 bytes left)");
  buf_clear(&b);

  /* non-map body */
  frame_of(&b, "\x93\x01\x02\x03", 4);
  expect_error(&b, IPC_E_NOTMAP, "frame 1: body is a msgpack array, not a map");
  buf_clear(&b);
  frame_of(&b, "\xa2hi", 3);
  expect_error(&b, IPC_E_NOTMAP, "body is a msgpack str, not a map");
  buf_clear(&b);

  /* trailing bytes after the map */
  add_started(&b);
  {
    /* rewrite the length to cover two extra bytes and append them */
    uint32_t n = (uint32_t)b.len - 4 + 2;
    unsigned char *h = (unsigned char *)b.data;
    h[0] = (unsigned char)(n >> 24), h[1] = (unsigned char)(n >> 16), h[2] = (unsigned char)(n >> 8),
    h[3] = (unsigned char)n;
    buf_append(&b, "\xc0\xc0", 2);
  }
  expect_error(&b, IPC_E_TRAILING, "2 trailing bytes after the msgpack map");
  buf_clear(&b);

  /* nesting beyond msgpack-c's 32 levels */
  {
    char deep[40];
    deep[0] = (char)0x81, deep[1] = (char)0xa1, deep[2] = 'x';
    for (int i = 3; i < 39; i++) deep[i] = (char)0x91;
    deep[39] = (char)0xc0;
    frame_of(&b, deep, sizeof deep);
    expect_error(&b, IPC_E_DEPTH, "nests deeper");
    buf_clear(&b);
  }
  buf_free(&b);
}

/* ---- the final frame, decoded by name ------------------------------------------ */

/* Decode started + a raw final frame (the envelope, then what [fill] packs,
 * [n] pairs); on success the final is left in [m]. */
static int decode_final_of(FillFn fill, uint32_t n, IpcMsg *m, char *err, size_t errcap)
{
  Buf b = {0};
  add_started(&b);
  raw_event(&b, "final", 1, n, fill);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  int r = ipc_decoder_feed(d, b.data, b.len);
  if (r == 0) r = ipc_decoder_next(d, m);
  if (r == 1) {
    ipc_msg_free(m);
    r = ipc_decoder_next(d, m);
  }
  snprintf(err, errcap, "%s", ipc_decoder_error(d));
  ipc_decoder_free(d);
  buf_free(&b);
  return r;
}

/* Every field, in the reverse of docs/protocol.md's order, the counters
 * reordered too, with unknown keys at both levels (11 + 1 pairs). */
static void fill_final_reordered(msgpack_packer *pk)
{
  ipc_pack_str(pk, "future_field");
  msgpack_pack_map(pk, 1);
  ipc_pack_str(pk, "x");
  msgpack_pack_int(pk, 1);
  ipc_pack_str(pk, "limit");
  ipc_pack_str(pk, "memory");
  ipc_pack_str(pk, "counters");
  msgpack_pack_map(pk, 9);
  ipc_pack_str(pk, "slow_polls");
  msgpack_pack_uint64(pk, 7);
  ipc_pack_str(pk, "heap_bytes"); /* unknown: skipped */
  msgpack_pack_uint64(pk, 1);
  ipc_pack_str(pk, "peak_frames");
  msgpack_pack_int64(pk, 4);
  ipc_pack_str(pk, "output_bytes");
  msgpack_pack_uint64(pk, 13);
  ipc_pack_str(pk, "steps_recorded");
  msgpack_pack_uint64(pk, 2);
  ipc_pack_str(pk, "tasks_spawned");
  msgpack_pack_uint64(pk, 3);
  ipc_pack_str(pk, "instructions");
  msgpack_pack_uint64(pk, 99);
  ipc_pack_str(pk, "cpu_ms");
  msgpack_pack_double(pk, 3.25);
  ipc_pack_str(pk, "wall_ms");
  msgpack_pack_double(pk, 12.5);
  ipc_pack_str(pk, "exit_code");
  msgpack_pack_int(pk, 5);
  ipc_pack_str(pk, "hard_stop");
  msgpack_pack_true(pk);
  ipc_pack_str(pk, "signal");
  ipc_pack_str(pk, "SIGINT");
  ipc_pack_str(pk, "trace");
  msgpack_pack_array(pk, 1);
  ipc_pack_trace_entry(pk, "f", 3, 4, "a.harn");
  ipc_pack_str(pk, "diagnostic");
  ipc_pack_str(pk, "diag");
  ipc_pack_str(pk, "error_value");
  ipc_pack_str(pk, "boom");
  ipc_pack_str(pk, "error");
  ipc_pack_str(pk, "Thrown: boom");
  ipc_pack_str(pk, "value");
  msgpack_pack_nil(pk);
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "cancelled");
}

static void fill_final_status_only(msgpack_packer *pk)
{
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "ok");
}

static void fill_final_no_status(msgpack_packer *pk)
{
  ipc_pack_str(pk, "exit_code");
  msgpack_pack_int(pk, 0);
}

static void fill_final_dup(msgpack_packer *pk)
{
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "ok");
  ipc_pack_str(pk, "exit_code");
  msgpack_pack_int(pk, 0);
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "error");
}

static void fill_final_dup_counter(msgpack_packer *pk)
{
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "ok");
  ipc_pack_str(pk, "counters");
  msgpack_pack_map(pk, 2);
  ipc_pack_str(pk, "wall_ms");
  msgpack_pack_double(pk, 1);
  ipc_pack_str(pk, "wall_ms");
  msgpack_pack_double(pk, 2);
}

static void fill_final_partial_counters(msgpack_packer *pk)
{
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "error");
  ipc_pack_str(pk, "counters");
  msgpack_pack_map(pk, 1);
  ipc_pack_str(pk, "tasks_spawned");
  msgpack_pack_uint64(pk, 6);
}

static void fill_final_bad_known(msgpack_packer *pk)
{
  ipc_pack_str(pk, "status");
  ipc_pack_str(pk, "ok");
  ipc_pack_str(pk, "unknown_but_skipped");
  msgpack_pack_int(pk, 1);
  ipc_pack_str(pk, "hard_stop");
  msgpack_pack_int(pk, 1);
}

static void test_final_by_name(void **state)
{
  (void)state;
  IpcMsg m;
  char err[512];

  /* reordered fields and counters, unknown keys skipped at both levels */
  assert_int_equal(decode_final_of(fill_final_reordered, 12, &m, err, sizeof err), 1);
  const IpcFinal *f = &m.u.final;
  assert_int_equal(m.type, IPC_MSG_FINAL);
  assert_int_equal(f->status, IPC_STATUS_CANCELLED);
  assert_int_equal(f->value.type, MSGPACK_OBJECT_NIL);
  assert_string_equal(f->error, "Thrown: boom");
  assert_int_equal(f->error_value.type, MSGPACK_OBJECT_STR);
  assert_string_equal(f->diagnostic, "diag");
  assert_int_equal(f->trace_len, 1);
  assert_string_equal(f->trace[0].fn, "f");
  assert_int_equal(f->trace[0].line, 3);
  assert_string_equal(f->signal, "SIGINT");
  assert_true(f->hard_stop);
  assert_int_equal(f->exit_code, 5);
  assert_string_equal(f->limit, "memory");
  assert_true(f->counters.wall_ms == 12.5);
  assert_true(f->counters.cpu_ms == 3.25);
  assert_true(f->counters.has_instructions);
  assert_int_equal(f->counters.instructions, 99);
  assert_int_equal(f->counters.tasks_spawned, 3);
  assert_int_equal(f->counters.steps_recorded, 2);
  assert_int_equal(f->counters.output_bytes, 13);
  assert_int_equal(f->counters.peak_frames, 4);
  assert_int_equal(f->counters.slow_polls, 7);
  ipc_msg_free(&m);

  /* missing fields take their defaults */
  assert_int_equal(decode_final_of(fill_final_status_only, 1, &m, err, sizeof err), 1);
  assert_int_equal(f->status, IPC_STATUS_OK);
  assert_int_equal(f->value.type, MSGPACK_OBJECT_NIL);
  assert_int_equal(f->error_value.type, MSGPACK_OBJECT_NIL);
  assert_null(f->error);
  assert_null(f->diagnostic);
  assert_int_equal(f->trace_len, 0);
  assert_null(f->signal);
  assert_false(f->hard_stop);
  assert_int_equal(f->exit_code, 0);
  assert_null(f->limit);
  assert_false(f->counters.has_instructions);
  assert_true(f->counters.wall_ms == 0);
  assert_int_equal(f->counters.tasks_spawned, 0);
  assert_int_equal(f->counters.peak_frames, 0);
  ipc_msg_free(&m);
  assert_int_equal(decode_final_of(fill_final_partial_counters, 2, &m, err, sizeof err), 1);
  assert_int_equal(f->counters.tasks_spawned, 6);
  assert_false(f->counters.has_instructions);
  assert_int_equal(f->counters.output_bytes, 0);
  ipc_msg_free(&m);

  /* status is required; duplicates are refused; known fields keep their kind */
  assert_int_equal(decode_final_of(fill_final_no_status, 1, &m, err, sizeof err), IPC_E_MISSING);
  assert_non_null(strstr(err, "missing field `status`"));
  assert_int_equal(decode_final_of(fill_final_dup, 3, &m, err, sizeof err), IPC_E_DUPKEY);
  assert_non_null(strstr(err, "duplicate field `status`"));
  assert_int_equal(decode_final_of(fill_final_dup_counter, 2, &m, err, sizeof err), IPC_E_DUPKEY);
  assert_non_null(strstr(err, "duplicate field `counters.wall_ms`"));
  assert_int_equal(decode_final_of(fill_final_bad_known, 3, &m, err, sizeof err), IPC_E_FIELD_TYPE);
  assert_non_null(strstr(err, "field `hard_stop`: expected bool, got int"));
}

/* A frame whose body could not be written whole is never appended. */
static void test_frame_write_failure(void **state)
{
  (void)state;
  Buf b = {0};
  IpcFrame f;
  ipc_frame_init(&f);
  IpcEnvelope e = env_at(0);
  ipc_frame_begin(&f, IPC_MSG_SANDBOX, &e, 1);
  ipc_pack_str(ipc_frame_packer(&f), "applied");
  msgpack_pack_map(ipc_frame_packer(&f), 0);
  f.failed = true; /* as msgpack_sbuffer_write does when realloc fails */
  assert_int_equal(ipc_frame_end(&f, &b), IPC_E_NOMEM);
  assert_int_equal(b.len, 0);
  /* the builder is reusable: begin clears the failure */
  ipc_frame_begin(&f, IPC_MSG_SANDBOX, &e, 1);
  ipc_pack_str(ipc_frame_packer(&f), "applied");
  msgpack_pack_map(ipc_frame_packer(&f), 0);
  assert_int_equal(ipc_frame_end(&f, &b), 0);
  assert_true(b.len > IPC_HEADER_SIZE);
  ipc_frame_destroy(&f);
  buf_free(&b);
}

static void test_malformed_fields(void **state)
{
  (void)state;
  Buf b = {0};

  /* the type */
  raw_event(&b, "started", 0, 0, NULL); /* fine so far, but missing fields */
  expect_error(&b, IPC_E_MISSING, "frame 1 (type started, seq 0): missing field `version`");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "progress", 1, 0, NULL);
  expect_error(&b, IPC_E_UNKNOWN_TYPE, "frame 2: unknown message type \"progress\"");
  buf_clear(&b);
  {
    /* type missing; type not a str */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    ipc_pack_str(&pk, "seq");
    msgpack_pack_int(&pk, 0);
    frame_of(&b, sb.data, sb.size);
    expect_error(&b, IPC_E_MISSING, "frame 1: missing field `type`");
    buf_clear(&b);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    ipc_pack_str(&pk, "type");
    msgpack_pack_int(&pk, 3);
    frame_of(&b, sb.data, sb.size);
    expect_error(&b, IPC_E_FIELD_TYPE, "frame 1: field `type`: expected str, got int");
    buf_clear(&b);
    msgpack_sbuffer_destroy(&sb);
  }

  /* wrong field types, values, duplicates, unknown and missing fields */
  add_started(&b);
  raw_event(&b, "output", 1, 2, fill_output_str_data);
  expect_error(&b, IPC_E_FIELD_TYPE, "frame 2 (type output, seq 1): field `data`: expected bin, got str");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "output", 1, 2, fill_output_bad_stream);
  expect_error(&b, IPC_E_FIELD_VALUE, "field `stream`: expected \"out\" or \"err\", got \"both\"");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "output", 1, 2, fill_output_dup);
  expect_error(&b, IPC_E_DUPKEY, "duplicate field `stream`");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "output", 1, 3, fill_output_unknown);
  expect_error(&b, IPC_E_UNKNOWN_FIELD, "unknown field `colour`");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "output", 1, 1, fill_output_missing);
  expect_error(&b, IPC_E_MISSING, "missing field `data`");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "output", 1, 1, fill_intkey);
  expect_error(&b, IPC_E_KEY, "map key 5 is int, not str");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "emit", 1, 2, fill_emit_ext);
  expect_error(&b, IPC_E_FIELD_TYPE, "field `data[0].k`: ext values are not allowed");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "emit", 1, 2, fill_emit_intkey_value);
  expect_error(&b, IPC_E_KEY, "field `data`: map key 0 is int, not str");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "step", 1, 1, fill_step_bad_status);
  expect_error(&b, IPC_E_FIELD_VALUE, "field `record.status`: expected completed, skipped, escalated or failed, got \"done\"");
  buf_clear(&b);
  add_started(&b);
  raw_event(&b, "step", 1, 1, fill_step_deep);
  expect_error(&b, IPC_E_DEPTH, "frame 2: containers nest deeper than 30 levels");
  buf_clear(&b);

  /* protocol version of the worker */
  raw_event(&b, "started", 0, 4, fill_negative_seqless);
  expect_error(&b, IPC_E_VERSION, "worker speaks protocol version 4, this build speaks 3");
  buf_clear(&b);

  /* final: bad status, bad signal, bad counters, bad trace */
  {
    add_started(&b);
    IpcFinal f;
    memset(&f, 0, sizeof f);
    f.status = (IpcStatus)7; /* encodes as "?" */
    IpcEnvelope e = env_at(1);
    ipc_encode_final(&b, &e, &f);
    expect_error(&b, IPC_E_FIELD_VALUE, "field `status`: expected \"ok\", \"error\" or \"cancelled\", got \"?\"");
    buf_clear(&b);
    add_started(&b);
    f.status = IPC_STATUS_CANCELLED;
    f.signal = "SIGUSR1";
    ipc_encode_final(&b, &e, &f);
    expect_error(&b, IPC_E_FIELD_VALUE, "field `signal`: expected \"SIGTERM\", \"SIGINT\", \"SIGHUP\" or nil, got \"SIGUSR1\"");
    buf_clear(&b);
  }
  buf_free(&b);
}

static void test_job_errors(void **state)
{
  (void)state;
  IpcDecoder *d;
  IpcMsg m;
  Buf b = {0};
  /* neither program nor source; both */
  IpcJob j = {0};
  ipc_encode_job(&b, "j", 1, &j);
  assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, &d), IPC_E_MISSING);
  assert_string_equal(ipc_decoder_error(d),
                      "frame 1 (type job): one of the fields `program` and `source` is required");
  ipc_decoder_free(d);
  buf_clear(&b);
  j.program = "a.harn";
  j.source = "x";
  j.source_len = 1;
  ipc_encode_job(&b, "j", 1, &j);
  assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, &d), IPC_E_FIELD_VALUE);
  ipc_decoder_free(d);
  buf_clear(&b);

  /* a different protocol version */
  {
    j.source = NULL;
    IpcFrame f;
    ipc_frame_init(&f);
    msgpack_packer *pk = ipc_frame_packer(&f);
    msgpack_sbuffer_clear(&f.sbuf);
    msgpack_sbuffer_write(&f.sbuf, "\0\0\0\0", 4);
    msgpack_pack_map(pk, 8);
    ipc_pack_str(pk, "type");
    ipc_pack_str(pk, "job");
    ipc_pack_str(pk, "version");
    msgpack_pack_int(pk, 99);
    ipc_pack_str(pk, "job");
    ipc_pack_str(pk, "j");
    ipc_pack_str(pk, "attempt");
    msgpack_pack_int(pk, 1);
    ipc_pack_str(pk, "program");
    ipc_pack_str(pk, "a.harn");
    ipc_pack_str(pk, "input");
    msgpack_pack_nil(pk);
    ipc_pack_str(pk, "deadline_at_ms");
    msgpack_pack_nil(pk);
    ipc_pack_str(pk, "grace_ms");
    msgpack_pack_int(pk, -5);
    assert_int_equal(ipc_frame_end(&f, &b), 0);
    ipc_frame_destroy(&f);
    /* grace_ms is checked (field order) before the version rule runs */
    assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, &d), IPC_E_FIELD_VALUE);
    assert_string_equal(ipc_decoder_error(d), "frame 1 (type job): field `grace_ms`: must not be negative, got -5");
    ipc_decoder_free(d);
    buf_clear(&b);
  }
  {
    IpcFrame f;
    ipc_frame_init(&f);
    msgpack_packer *pk = ipc_frame_packer(&f);
    msgpack_sbuffer_write(&f.sbuf, "\0\0\0\0", 4);
    msgpack_pack_map(pk, 9);
    ipc_pack_str(pk, "type");
    ipc_pack_str(pk, "job");
    ipc_pack_str(pk, "version");
    msgpack_pack_int(pk, 99);
    ipc_pack_str(pk, "job");
    ipc_pack_str(pk, "j");
    ipc_pack_str(pk, "attempt");
    msgpack_pack_int(pk, 1);
    ipc_pack_str(pk, "program");
    ipc_pack_str(pk, "a.harn");
    ipc_pack_str(pk, "input");
    msgpack_pack_nil(pk);
    ipc_pack_str(pk, "deadline_at_ms");
    msgpack_pack_nil(pk);
    ipc_pack_str(pk, "grace_ms");
    msgpack_pack_int(pk, 5);
    ipc_pack_str(pk, "count_instructions");
    msgpack_pack_false(pk);
    assert_int_equal(ipc_frame_end(&f, &b), 0);
    ipc_frame_destroy(&f);
    assert_int_equal(decode_one(IPC_READ_JOB, &b, &m, &d), IPC_E_VERSION);
    assert_string_equal(ipc_decoder_error(d),
                        "frame 1 (type job): protocol version 99 is not supported (this build speaks 3)");
    ipc_decoder_free(d);
  }
  buf_free(&b);
}

static void test_order(void **state)
{
  (void)state;
  Buf b = {0};
  IpcEnvelope e;
  int n;
  char err[512];

  /* seq gap */
  add_started(&b);
  e = env_at(2);
  ipc_encode_output(&b, &e, 1, "x", 1);
  assert_int_equal(decode_events(&b, err, sizeof err, &n), IPC_E_SEQ);
  assert_int_equal(n, 1);
  assert_string_equal(err, "frame 2 (type output, seq 2): seq 2 where 1 was expected");
  buf_clear(&b);

  /* repeated seq */
  add_started(&b);
  e = env_at(0);
  ipc_encode_output(&b, &e, 1, "x", 1);
  expect_error(&b, IPC_E_SEQ, "seq 0 where 1 was expected");
  buf_clear(&b);

  /* first frame not `started`; `started` twice */
  e = env_at(0);
  ipc_encode_output(&b, &e, 1, "x", 1);
  expect_error(&b, IPC_E_ORDER, "frame 1 (type output, seq 0): the first event must be `started`");
  buf_clear(&b);
  add_started(&b);
  e = env_at(1);
  IpcStarted s = {IPC_PROTOCOL_VERSION, 1, 1, 0};
  ipc_encode_started(&b, &e, &s);
  expect_error(&b, IPC_E_ORDER, "`started` is allowed only as the first event");
  buf_clear(&b);

  /* frame after final */
  add_started(&b);
  IpcFinal f;
  memset(&f, 0, sizeof f);
  e = env_at(1);
  ipc_encode_final(&b, &e, &f);
  e = env_at(2);
  ipc_encode_output(&b, &e, 1, "late", 4);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  ipc_decoder_feed(d, b.data, b.len);
  IpcMsg m;
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  assert_int_equal(m.type, IPC_MSG_FINAL);
  ipc_msg_free(&m);
  assert_true(ipc_decoder_saw_final(d));
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_ORDER);
  assert_string_equal(ipc_decoder_error(d), "frame 3: frame after the final frame");
  ipc_decoder_free(d);

  /* wrong job id / attempt */
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  ipc_decoder_expect(d, "job-1", 1);
  ipc_decoder_feed(d, b.data, b.len);
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_JOB_ID);
  assert_string_equal(ipc_decoder_error(d),
                      "frame 1 (type started, seq 0): event for job \"job-1\" attempt 2, expected job \"job-1\" attempt 1");
  ipc_decoder_free(d);
  buf_free(&b);
}

static void test_max_frame(void **state)
{
  (void)state;
  /* An output frame whose body is exactly IPC_MAX_FRAME bytes. */
  Buf b = {0};
  add_started(&b);
  IpcEnvelope e = env_at(1);
  Buf probe = {0};
  ipc_encode_output(&probe, &e, 1, "", 0);
  /* body = envelope+fields with an empty bin (c4 00) -> bin32 header (c6 + 4) */
  size_t base = probe.len - 4 - 2 + 5;
  size_t datalen = IPC_MAX_FRAME - base;
  char *data = calloc(1, datalen + 1);
  assert_non_null(data);
  assert_int_equal(ipc_encode_output(&b, &e, 1, data, datalen), 0);
  size_t first = b.len - (4 + IPC_MAX_FRAME);
  const unsigned char *h = (const unsigned char *)b.data + first;
  assert_int_equal(((uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]), IPC_MAX_FRAME);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  IpcMsg m;
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  assert_int_equal(m.u.output.len, datalen);
  ipc_msg_free(&m);
  ipc_decoder_free(d);

  /* one byte more: the encoder refuses, and nothing is appended */
  size_t before = b.len;
  e = env_at(2);
  assert_int_equal(ipc_encode_output(&b, &e, 1, data, datalen + 1), IPC_E_TOOBIG);
  assert_int_equal(b.len, before);
  free(data);

  /* a decoder with a smaller limit */
  d = ipc_decoder_new(IPC_READ_EVENTS, 200);
  buf_clear(&b);
  add_started(&b);
  e = env_at(1);
  char small[300] = {0};
  ipc_encode_output(&b, &e, 1, small, sizeof small);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_TOOBIG);
  assert_non_null(strstr(ipc_decoder_error(d), "frame 2: frame length"));
  assert_non_null(strstr(ipc_decoder_error(d), "exceeds the maximum frame size 200"));
  ipc_decoder_free(d);
  buf_free(&probe);
  buf_free(&b);
}

static void test_fd_helpers(void **state)
{
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  Buf b = {0};
  add_started(&b);
  assert_int_equal(ipc_write_all(p[1], b.data, b.len), 0);
  assert_int_equal(ipc_write_all(p[1], "\0\0", 2), 0);
  close(p[1]);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  IpcMsg m;
  assert_int_equal(ipc_read_msg(p[0], d, &m), 1);
  assert_int_equal(m.type, IPC_MSG_STARTED);
  ipc_msg_free(&m);
  assert_int_equal(ipc_read_msg(p[0], d, &m), IPC_E_TRUNCATED);
  ipc_decoder_free(d);
  close(p[0]);

  assert_int_equal(pipe(p), 0);
  close(p[1]);
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_read_msg(p[0], d, &m), IPC_E_EOF);
  ipc_decoder_free(d);
  close(p[0]);
  buf_free(&b);
}

/* v3: the job's capability fields round-trip, travel with descriptors over
 * a socket (ipc_recv_msg), and are validated strictly; the final frame's
 * `capabilities`. */
static void test_job_v3(void **state)
{
  (void)state;
  IpcGrant g[2] = {{"/data/in", false}, {"/tmp/harn-scratch-x", true}};
  IpcEnvVar env[2] = {{"LANG", "C"}, {"APP_MODE", "batch"}};
  const char *deny[1] = {"exec"};
  IpcJob j = {.program = "/data/p.harn", .grace_ms = 250, .sandbox = true, .cwd = "/data",
              .grants = g, .ngrants = 2, .scratch = "/tmp/harn-scratch-x",
              .max_write_bytes = 1 << 20, .env = env, .nenv = 2, .deny = deny, .ndeny = 1};
  Buf b = {0};
  assert_int_equal(ipc_encode_job(&b, "j", 1, &j), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int fds[2] = {open("/", O_RDONLY | O_DIRECTORY), open("/tmp", O_RDONLY | O_DIRECTORY)};
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {b.data, b.len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)b.len);
  close(sv[0]);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_JOB, 0);
  IpcMsg m;
  int got[IPC_MAX_GRANTS], ngot = -1;
  assert_int_equal(ipc_recv_msg(sv[1], d, &m, got, IPC_MAX_GRANTS, &ngot), 1);
  assert_int_equal(ngot, 2);
  struct stat a1, a2;
  assert_int_equal(fstat(got[1], &a1), 0);
  assert_int_equal(stat("/tmp", &a2), 0);
  assert_true(a1.st_ino == a2.st_ino && a1.st_dev == a2.st_dev);
  assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
  const IpcJob *r = &m.u.job;
  assert_string_equal(r->cwd, "/data");
  assert_int_equal(r->ngrants, 2);
  assert_string_equal(r->grants[0].path, "/data/in");
  assert_false(r->grants[0].write);
  assert_true(r->grants[1].write);
  assert_string_equal(r->scratch, "/tmp/harn-scratch-x");
  assert_int_equal(r->max_write_bytes, 1 << 20);
  assert_int_equal(r->nenv, 2);
  assert_string_equal(r->env[1].name, "APP_MODE");
  assert_string_equal(r->env[1].value, "batch");
  assert_int_equal(r->ndeny, 1);
  assert_string_equal(r->deny[0], "exec");
  ipc_msg_free(&m);
  ipc_decoder_free(d);
  for (int i = 0; i < 2; i++) {
    close(fds[i]);
    close(got[i]);
  }
  close(sv[1]);

  /* a relative grant, too many grants */
  IpcGrant bad[IPC_MAX_GRANTS + 2];
  for (int i = 0; i < IPC_MAX_GRANTS + 2; i++) bad[i] = (IpcGrant){"/x", false};
  bad[0].path = "rel";
  IpcJob jb = {.program = "p", .grants = bad, .ngrants = 1};
  buf_clear(&b);
  assert_int_equal(ipc_encode_job(&b, "j", 1, &jb), 0);
  d = ipc_decoder_new(IPC_READ_JOB, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_FIELD_VALUE);
  assert_non_null(strstr(ipc_decoder_error(d), "field `grants[0].path`: not an absolute path"));
  ipc_decoder_free(d);
  jb.grants = bad + 1;
  jb.ngrants = IPC_MAX_GRANTS + 1;
  buf_clear(&b);
  assert_int_equal(ipc_encode_job(&b, "j", 1, &jb), 0);
  d = ipc_decoder_new(IPC_READ_JOB, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_FIELD_VALUE);
  assert_non_null(strstr(ipc_decoder_error(d), "field `grants`: 9 entries, at most 8"));
  ipc_decoder_free(d);
  buf_free(&b);
}

/* v2: the job's sandbox fields, the `sandbox` event (at most once) and
 * the final frame's `limit`. */
static void test_sandbox_v2(void **state)
{
  (void)state;
  Buf b = {0};
  IpcJob j;
  memset(&j, 0, sizeof j);
  j.program = "p.harn";
  j.sandbox = true;
  j.memory = 1u << 24;
  j.cpu_ms = 1500;
  j.address_space = 1ull << 32;
  assert_int_equal(ipc_encode_job(&b, "job", 1, &j), 0);
  IpcDecoder *d = ipc_decoder_new(IPC_READ_JOB, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  IpcMsg m;
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  assert_true(m.u.job.sandbox);
  assert_int_equal(m.u.job.memory, 1u << 24);
  assert_int_equal(m.u.job.cpu_ms, 1500);
  assert_int_equal(m.u.job.address_space, 1ull << 32);
  ipc_msg_free(&m);
  ipc_decoder_free(d);
  buf_free(&b);

  IpcEnvelope e = {"job", 1, 0, 0};
  IpcStarted st = {IPC_PROTOCOL_VERSION, 1, 1, 0};
  ipc_encode_started(&b, &e, &st);
  msgpack_object applied;
  memset(&applied, 0, sizeof applied);
  applied.type = MSGPACK_OBJECT_MAP;
  e.seq = 1;
  assert_int_equal(ipc_encode_sandbox(&b, &e, &applied), 0);
  e.seq = 2;
  assert_int_equal(ipc_encode_sandbox(&b, &e, &applied), 0);
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  assert_int_equal(m.type, IPC_MSG_SANDBOX);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), IPC_E_ORDER); /* a second one */
  ipc_decoder_free(d);
  buf_free(&b);

  IpcFinal f;
  memset(&f, 0, sizeof f);
  f.status = IPC_STATUS_ERROR;
  f.limit = "memory";
  e.seq = 0;
  ipc_encode_started(&b, &e, &st);
  e.seq = 1;
  assert_int_equal(ipc_encode_final(&b, &e, &f), 0);
  d = ipc_decoder_new(IPC_READ_EVENTS, 0);
  assert_int_equal(ipc_decoder_feed(d, b.data, b.len), 0);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  ipc_msg_free(&m);
  assert_int_equal(ipc_decoder_next(d, &m), 1);
  assert_string_equal(m.u.final.limit, "memory");
  ipc_msg_free(&m);
  ipc_decoder_free(d);
  buf_free(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),          cmocka_unit_test(test_job_roundtrip),
      cmocka_unit_test(test_event_roundtrip), cmocka_unit_test(test_values),
      cmocka_unit_test(test_malformed_framing), cmocka_unit_test(test_malformed_fields),
      cmocka_unit_test(test_job_errors),     cmocka_unit_test(test_order),
      cmocka_unit_test(test_max_frame),      cmocka_unit_test(test_fd_helpers),      cmocka_unit_test(test_job_v3),
      cmocka_unit_test(test_sandbox_v2),      cmocka_unit_test(test_final_by_name),
      cmocka_unit_test(test_frame_write_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
