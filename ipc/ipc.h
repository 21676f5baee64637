/*
 * ipc.h: the framed msgpack protocol between the supervisor and a worker
 * (docs/RUNTIME.md section 9; the full wire description is docs/protocol.md).
 *
 * Wire format. A frame is a 4-byte big-endian length N (1 <= N <=
 * IPC_MAX_FRAME, 16 MiB) followed by exactly one msgpack map of N bytes.
 * The supervisor writes one `job` frame to the worker's fd 3; the worker
 * writes events to its fd 4: `started` first, then any number of `output`,
 * `step`, `emit`, `lifecycle`, and exactly one `final`, last. Every event
 * carries `type`, `job`, `attempt`, `seq` (0, then +1 per frame) and `t_ms`
 * (float ms since the worker started the job, monotonic).
 *
 * The protocol version (IPC_PROTOCOL_VERSION) is exchanged at start: the
 * job frame carries the supervisor's `version`, the started frame the
 * worker's; each decoder rejects a version other than its own.
 *
 * Message types come from one X-macro table, IPC_MSG_MAP; error codes from
 * IPC_ERR_MAP (libuv's UV_ERRNO_MAP style). Functions of this module return
 * 0 (or a count) on success and a negative IPC_E_* code on failure; there is
 * no global error state. The decoder keeps a precise, human-readable text
 * for its last error (ipc_decoder_error).
 *
 * Validation is strict: every field of every message is checked for
 * presence and type, unknown and duplicate keys are rejected (except in the
 * final frame and its counters, whose unknown keys are skipped and whose
 * fields other than `status` default when missing), and values
 * (docs/RUNTIME.md 9.3) must be nil/bool/int/float/str/bin/array/map with str
 * keys (no ext types), nested at most IPC_MAX_DEPTH deep within a frame.
 * Adding a field is therefore a protocol version bump.
 *
 * Memory: encoders append a complete frame (header + body) to a Buf
 * (vm/buf.h, plain malloc). A decoded IpcMsg owns one msgpack zone that
 * holds every string, array and msgpack_object it points to; all strings
 * are NUL-terminated copies. Free it with ipc_msg_free().
 *
 * Thread-safety: none; each decoder/writer belongs to one thread.
 */
#ifndef HARN_IPC_H
#define HARN_IPC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/counters.h"

/* ---- constants ---------------------------------------------------------- */

#define IPC_PROTOCOL_VERSION 3
/* Largest frame body accepted or produced (docs/RUNTIME.md tunables). */
#define IPC_MAX_FRAME (16u * 1024u * 1024u)
/* Bytes of the length prefix. */
#define IPC_HEADER_SIZE 4
/* Maximum nesting of containers inside one frame, the frame map counting
 * as 1. msgpack-c's C unpacker cannot go deeper than 32; we keep a margin.
 * Values deeper than that are replaced by the worker (docs/protocol.md). */
#define IPC_MAX_DEPTH 30
/* File descriptors of a worker (docs/protocol.md "File descriptors"). */
#define IPC_JOB_FD 3   /* worker reads the job frame */
#define IPC_EVENT_FD 4 /* worker writes event frames */
/* Most directory descriptors a job frame may carry (v3 `grants`). */
#define IPC_MAX_GRANTS 8
/* Most host calls of one job in flight at once (v3 host-call channel):
 * a host_call beyond it is answered at once with category `limit`. */
#define IPC_MAX_HOST_INFLIGHT 16
/* Most bytes of a host_call's `cap` and `op`. */
#define IPC_MAX_HOST_NAME 64
/* Most entries of a job frame's `host`. */
#define IPC_MAX_HOST_CAPS 16
/* Most entries of a job frame's `env` and `deny`. */
#define IPC_MAX_ENV 256
#define IPC_MAX_DENY 256

/* ---- message types ------------------------------------------------------ */

/* X(NAME, "wire name", direction) -- direction 'J' = supervisor to worker
 * (job pipe), 'E' = worker to supervisor (event pipe). ORDER: append only. */
#define IPC_MSG_MAP(X)                                                        \
  X(JOB, "job", 'J')             /* the job request */                       \
  X(STARTED, "started", 'E')     /* first event, before any bytecode */      \
  X(OUTPUT, "output", 'E')       /* a chunk of program output */             \
  X(STEP, "step", 'E')           /* a step record (docs/RUNTIME.md 7.5) */        \
  X(EMIT, "emit", 'E')           /* harness.emit(name, data) */              \
  X(LIFECYCLE, "lifecycle", 'E') /* a finish-lifecycle event (8.2) */        \
  X(FINAL, "final", 'E')         /* the result, exactly once, last */       \
  X(SANDBOX, "sandbox", 'E')     /* protections applied (v2), at most once */ \
  X(HOST_CALL, "host_call", 'E') /* a brokered call (v3, CAPABILITIES 10) */ \
  X(HOST_CANCEL, "host_cancel", 'E') /* the caller gave up on a call */      \
  X(HOST_RESULT, "host_result", 'J') /* the one answer to a host_call */

typedef enum {
#define X(name, wire, dir) IPC_MSG_##name,
  IPC_MSG_MAP(X)
#undef X
  IPC_MSG_COUNT
} IpcMsgType;

/* Wire name of [t] ("job", "final"...), or "?" when out of range. */
const char *ipc_msg_name(IpcMsgType t);
/* Type with wire name [name] of [len] bytes; -1 when unknown. */
int ipc_msg_lookup(const char *name, size_t len);

/* ---- error codes ---------------------------------------------------------- */

/* X(NAME, "generic description"); codes are IPC_E_NAME = -(1 + index). */
#define IPC_ERR_MAP(X)                                                        \
  X(NOMEM, "out of memory")                                                   \
  X(TOOBIG, "frame length exceeds the maximum frame size")                    \
  X(EMPTY, "zero-length frame")                                               \
  X(TRUNCATED, "stream ended inside a frame")                                 \
  X(MSGPACK, "frame body is not valid msgpack")                               \
  X(BODY_SHORT, "frame body ends inside a msgpack value")                     \
  X(TRAILING, "trailing bytes after the msgpack map in a frame")              \
  X(NOTMAP, "frame body is not a msgpack map")                                \
  X(DEPTH, "msgpack nesting too deep")                                        \
  X(KEY, "map key is not a string")                                           \
  X(DUPKEY, "duplicate field")                                                \
  X(MISSING, "missing required field")                                        \
  X(UNKNOWN_FIELD, "unknown field")                                           \
  X(FIELD_TYPE, "field has the wrong type")                                   \
  X(FIELD_VALUE, "field value out of range")                                  \
  X(UNKNOWN_TYPE, "unknown message type")                                     \
  X(DIRECTION, "message type not allowed in this direction")                  \
  X(VERSION, "unsupported protocol version")                                  \
  X(SEQ, "seq gap or reordering")                                             \
  X(ORDER, "message out of order")                                            \
  X(JOB_ID, "job or attempt does not match")                                  \
  X(IO, "read or write failed")                                               \
  X(EOF, "end of stream")

/* Indices 0..IPC_ERR_COUNT-1 (internal), then the codes themselves. */
enum {
#define X(name, text) IPC_EIDX_##name,
  IPC_ERR_MAP(X)
#undef X
  IPC_ERR_COUNT
};
enum {
  IPC_OK = 0,
#define X(name, text) IPC_E_##name = -1 - IPC_EIDX_##name,
  IPC_ERR_MAP(X)
#undef X
};

/* "IPC_E_TOOBIG" style name / generic description of [code] (0 or an
 * IPC_E_* value); "unknown" for anything else. */
const char *ipc_err_name(int code);
const char *ipc_strerror(int code);

/* ---- decoded messages ----------------------------------------------------- */

typedef enum { IPC_STATUS_OK, IPC_STATUS_ERROR, IPC_STATUS_CANCELLED } IpcStatus;
/* "ok", "error", "cancelled". */
const char *ipc_status_name(IpcStatus s);

/* A granted directory (v3): the descriptor passed with the job frame at
 * the same index (SCM_RIGHTS, docs/protocol.md "Descriptors"). */
typedef struct IpcGrant {
  const char *path;        /* absolute, lexically normalised host path */
  bool write;              /* read and write, else read only */
} IpcGrant;

/* A variable of the job's environment (v3 `env`): data, never environ. */
typedef struct IpcEnvVar {
  const char *name, *value;
} IpcEnvVar;

/* The job request (supervisor -> worker). Exactly one of [program] (a file
 * path) and [source] (inline program text) is non-NULL. */
typedef struct IpcJob {
  int64_t version;         /* IPC_PROTOCOL_VERSION */
  const char *program;     /* path, or NULL */
  const char *source;      /* inline source, or NULL */
  size_t source_len;
  const char *name;        /* file name for diagnostics of inline source;
                              NULL = "<inline>" (ignored with [program]) */
  const char *input_json;  /* job input as JSON text, or NULL (nil) */
  bool has_deadline;
  int64_t deadline_at_ms;  /* CLOCK_MONOTONIC ms, when has_deadline */
  int64_t grace_ms;        /* kill grace, >= 0 */
  bool count_instructions;
  /* Optional on the wire: absent means 0/false (the encoder writes them
   * only when set). */
  bool sandbox;            /* lock the worker down before the first
                              instruction (docs/sandbox.md) */
  uint64_t memory;         /* VM heap limit in bytes (VmConfig.memory_limit),
                              0 = none */
  uint64_t cpu_ms;         /* RLIMIT_CPU in ms (rounded up to seconds),
                              0 = none */
  uint64_t address_space;  /* RLIMIT_AS in bytes, 0 = none */
  /* v3, optional (absent: NULL / 0 / none). */
  const char *cwd;         /* the supervisor's working directory: relative
                              paths of the file builtins resolve against it */
  const IpcGrant *grants;  /* one per descriptor passed with the frame */
  size_t ngrants;          /* at most IPC_MAX_GRANTS */
  const char *scratch;     /* the path of the job's scratch directory (one
                              of the write grants): temp_dir() */
  uint64_t max_write_bytes;/* total bytes the file builtins may write */
  const IpcEnvVar *env;    /* what env() sees; at most IPC_MAX_ENV */
  size_t nenv;
  const char *const *deny; /* builtins refused: `Tool 'X' is not permitted.` */
  size_t ndeny;
  const char *const *host; /* capabilities the supervisor brokers for this
                              job over the host-call channel ("net"); at
                              most IPC_MAX_HOST_CAPS */
  size_t nhost;
} IpcJob;

typedef struct IpcStarted {
  int64_t version;         /* worker's IPC_PROTOCOL_VERSION */
  int64_t pid, pgid;
  double started_at_ms;    /* Unix epoch ms */
} IpcStarted;

typedef struct IpcOutput {
  int stream;              /* 1 = "out", 2 = "err" */
  const char *data;        /* [len] raw bytes (NUL-terminated copy) */
  size_t len;
} IpcOutput;

typedef struct IpcStep {
  const char *name;        /* record.name */
  const char *status;      /* record.status: completed|skipped|escalated|failed */
  msgpack_object record;   /* the whole record map (docs/RUNTIME.md 7.5) */
} IpcStep;

typedef struct IpcEmit {
  const char *name;
  msgpack_object data;     /* a 9.3 value */
} IpcEmit;

typedef struct IpcLifecycle {
  const char *event;       /* PreFinish, OnUnsettledDetected, OnFinish, PostFinish */
  msgpack_object payload;  /* a 9.3 value */
  const char *control;     /* allow|modify|block|ignored|error */
  msgpack_object hooks;    /* array of 9.3 values */
} IpcLifecycle;

typedef struct IpcTraceEntry {
  const char *fn;          /* "" at top level */
  int64_t line, col;
  const char *file;        /* may be "" */
} IpcTraceEntry;

/* The `counters` map of the final frame, one field per HARN_COUNTERS entry
 * (base/counters.h), in its order; a UINT_OPT counter also has a `has_<name>`
 * flag (false: nil on the wire, not counted). */
#define IPC_COUNTER_FIELD_NUM(name) double name;
#define IPC_COUNTER_FIELD_UINT(name) uint64_t name;
#define IPC_COUNTER_FIELD_UINT_OPT(name) bool has_##name; uint64_t name;
#define IPC_COUNTER_FIELD_INT(name) int64_t name;
typedef struct IpcCounters {
#define X(name, type, source) IPC_COUNTER_FIELD_##type(name)
  HARN_COUNTERS(X)
#undef X
} IpcCounters;

typedef struct IpcFinal {
  IpcStatus status;
  msgpack_object value;        /* 9.3 value; NIL unless the run produced one */
  const char *error;           /* display text with suffix, or NULL */
  msgpack_object error_value;  /* thrown payload, or NIL */
  const char *diagnostic;      /* docs/RUNTIME.md 3.4 text, or NULL */
  const IpcTraceEntry *trace;  /* outermost first */
  size_t trace_len;
  const char *signal;          /* "SIGTERM", "SIGINT", "SIGHUP", or NULL */
  bool hard_stop;
  int64_t exit_code;           /* vm_exit_code(): what `harn run` exits with
                                  for an ok run (int pipeline result) */
  IpcCounters counters;
  const char *limit;           /* optional: "memory" when the run ended
                                  on the VM's memory limit, else NULL */
  msgpack_object capabilities; /* optional (v3): {used, denied} of the
                                  file builtins (docs/protocol.md), or NIL */
} IpcFinal;

/* `host_call` (v3, worker -> supervisor): call [id] (strictly increasing
 * per job, from 1) of operation [op] of capability [cap] ("net" ...),
 * with [args] (a 9.3 value, a map). */
typedef struct IpcHostCall {
  uint64_t id;
  const char *cap, *op;    /* 1..IPC_MAX_HOST_NAME bytes each */
  msgpack_object args;     /* a map */
} IpcHostCall;

/* `host_cancel` (v3, worker -> supervisor): the caller of [id] gave up;
 * its host_result still comes (category `cancelled` unless it was done). */
typedef struct IpcHostCancel {
  uint64_t id;             /* a call already sent */
} IpcHostCancel;

/* `host_result` (v3, supervisor -> worker, on fd 3 after the job): the one
 * answer to call [id]. [ok]: [value] holds the result; else [error] is a
 * map with at least str `category` and str `message` (and maybe more:
 * the EgressBlocked fields). */
typedef struct IpcHostResult {
  uint64_t id;
  bool ok;
  msgpack_object value;    /* ok: the value; else NIL */
  msgpack_object error;    /* !ok: the error map; else NIL */
} IpcHostResult;

/* `sandbox` (v2): what the worker's lock-down applied, sent once, after
 * `started` and before the first instruction (docs/sandbox.md). */
typedef struct IpcSandbox {
  msgpack_object applied;  /* a map, rendered as is into the record */
} IpcSandbox;

/* One decoded frame. The envelope fields are set for events; for a job
 * frame [job]/[attempt] are set and [seq]/[t_ms] are 0. */
typedef struct IpcMsg {
  IpcMsgType type;
  const char *job;
  int64_t attempt;
  uint64_t seq;
  double t_ms;
  union {
    IpcJob job;
    IpcStarted started;
    IpcOutput output;
    IpcStep step;
    IpcEmit emit;
    IpcLifecycle lifecycle;
    IpcFinal final;
    IpcSandbox sandbox;
    IpcHostCall host_call;
    IpcHostCancel host_cancel;
    IpcHostResult host_result;
  } u;
  msgpack_zone *zone;      /* owns everything above; internal */
} IpcMsg;

/* Release what [m] owns (safe on a zeroed IpcMsg, and twice). */
void ipc_msg_free(IpcMsg *m);

/* ---- the incremental decoder ---------------------------------------------- */

/* Which stream a decoder reads: the worker reads the job pipe (only `job`
 * frames accepted), the supervisor reads the event pipe (only events, in
 * protocol order: seq contiguous from 0, `started` first and only first,
 * nothing after `final`; host_call ids strictly increasing, host_cancel
 * only for an id already called). On the job side the first frame must be
 * the `job`, and every later one a `host_result` (v3). */
typedef enum { IPC_READ_JOB, IPC_READ_EVENTS } IpcReadSide;

typedef struct IpcDecoder IpcDecoder;

/* A new decoder for [side]; [max_frame] is the largest body accepted (0
 * means IPC_MAX_FRAME; larger values are clamped to it). NULL only on OOM. */
IpcDecoder *ipc_decoder_new(IpcReadSide side, size_t max_frame);
void ipc_decoder_free(IpcDecoder *d);

/* Events only: also require every event to carry this [job] id and
 * [attempt] (IPC_E_JOB_ID otherwise). [job] is copied. 0 or IPC_E_NOMEM. */
int ipc_decoder_expect(IpcDecoder *d, const char *job, int64_t attempt);

/* Append [len] bytes read from the pipe. A length prefix over the limit
 * (or 0) is reported here as soon as its 4 bytes are in, before the body is
 * buffered. Returns 0, or the decoder's (sticky) error code. */
int ipc_decoder_feed(IpcDecoder *d, const void *data, size_t len);

/* Take the next complete frame out: returns 1 with *out filled (the caller
 * owns it: ipc_msg_free), 0 when more bytes are needed, or a negative code
 * (out is zeroed). Errors are sticky: once a frame is malformed, every
 * later call returns the same code and ipc_decoder_error() says why, e.g.
 * "frame 3 (seq 3, type step): field `record`: expected map, got str". */
int ipc_decoder_next(IpcDecoder *d, IpcMsg *out);

/* The pipe reached EOF: 0 if no partial frame is buffered, else
 * IPC_E_TRUNCATED (sticky) with the number of bytes dropped in the text.
 * docs/RUNTIME.md 9.4: a partial trailing frame is dropped, complete ones kept. */
int ipc_decoder_finish(IpcDecoder *d);

/* The last error's precise text ("" when none); owned by the decoder. */
const char *ipc_decoder_error(const IpcDecoder *d);
/* The sticky error code, 0 when none. */
int ipc_decoder_status(const IpcDecoder *d);
/* Has a valid `final` frame been returned by ipc_decoder_next? */
bool ipc_decoder_saw_final(const IpcDecoder *d);
/* Frames returned so far. */
uint64_t ipc_decoder_frames(const IpcDecoder *d);
/* Bytes buffered but not yet returned as frames. */
size_t ipc_decoder_buffered(const IpcDecoder *d);

/* ---- encoding -------------------------------------------------------------- */

/* The common fields of an event. [job] must not be NULL. */
typedef struct IpcEnvelope {
  const char *job;
  int64_t attempt;
  uint64_t seq;
  double t_ms;
} IpcEnvelope;

/* Low-level frame builder: ipc_frame_begin packs the map header for
 * [nfields] fields in total plus the envelope (type, and for events job,
 * attempt, seq, t_ms; for a job frame type, version, job, attempt: [env]'s
 * seq/t_ms are ignored), which are not counted in [nfields]. The caller then
 * packs exactly [nfields] key/value pairs with ipc_frame_packer() and calls
 * ipc_frame_end(), which writes the length prefix and appends the frame to
 * [out]. ipc_frame_end returns 0; or, with nothing appended, IPC_E_TOOBIG
 * when the body exceeds IPC_MAX_FRAME and IPC_E_NOMEM when a write into the
 * builder failed since ipc_frame_begin (the body would be incomplete). A
 * caller never sends anything for a frame whose end failed. The builder is
 * reusable after end; it must not be moved after ipc_frame_init (the
 * packer points to it). */
typedef struct IpcFrame {
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  bool failed;             /* a write into sbuf failed (out of memory) */
} IpcFrame;

void ipc_frame_init(IpcFrame *f);
void ipc_frame_destroy(IpcFrame *f);
void ipc_frame_begin(IpcFrame *f, IpcMsgType type, const IpcEnvelope *env,
                     uint32_t nfields);
msgpack_packer *ipc_frame_packer(IpcFrame *f);
int ipc_frame_end(IpcFrame *f, Buf *out);

/* Pack helpers for the builder: a str key / a C string or nil for NULL. */
void ipc_pack_str(msgpack_packer *pk, const char *s);
void ipc_pack_strn(msgpack_packer *pk, const char *s, size_t len);
void ipc_pack_str_or_nil(msgpack_packer *pk, const char *s);
/* Pack the `counters` map of a final frame (docs/RUNTIME.md 9.2) from [c]; the
 * worker and ipc_encode_final share it. */
void ipc_pack_counters(msgpack_packer *pk, const IpcCounters *c);
/* Pack one stack-trace entry of a final frame: {fn, line, col, file}
 * (NULL names pack as ""); the worker and ipc_encode_final share it. */
void ipc_pack_trace_entry(msgpack_packer *pk, const char *fn, int64_t line, int64_t col,
                          const char *file);
/* Pack a copy of [o] (NULL packs nil). */
void ipc_pack_object(msgpack_packer *pk, const msgpack_object *o);

/* Reading decoded objects (the job's maps, host calls' args): the member
 * [key] of the map [m], or NULL (also when [m] is NULL or not a map); a
 * malloc'd NUL-terminated copy of a str object, or NULL when [o] is not a
 * str. */
const msgpack_object *ipc_map_get(const msgpack_object *m, const char *key);
char *ipc_str_dup(const msgpack_object *o);

/* High-level encoders: each appends one complete frame to [out] and returns
 * 0 or IPC_E_TOOBIG. Fields that are msgpack_object may be NIL objects.
 * For the job frame, [job] and [attempt] are the job id and attempt, and
 * j->version is ignored (IPC_PROTOCOL_VERSION is written). */
int ipc_encode_job(Buf *out, const char *job, int64_t attempt, const IpcJob *j);
int ipc_encode_started(Buf *out, const IpcEnvelope *env, const IpcStarted *s);
int ipc_encode_output(Buf *out, const IpcEnvelope *env, int stream,
                      const void *data, size_t len);
int ipc_encode_step(Buf *out, const IpcEnvelope *env, const msgpack_object *record);
int ipc_encode_emit(Buf *out, const IpcEnvelope *env, const char *name,
                    const msgpack_object *data);
int ipc_encode_lifecycle(Buf *out, const IpcEnvelope *env, const IpcLifecycle *l);
int ipc_encode_final(Buf *out, const IpcEnvelope *env, const IpcFinal *f);
/* [applied] must be a map (a 9.3 value). */
int ipc_encode_sandbox(Buf *out, const IpcEnvelope *env, const msgpack_object *applied);

/* v3 host-call channel. host_call / host_cancel are events (envelope as
 * any event, seq included); host_result has no envelope but its type: it
 * goes on the job socket after the job frame. [args] must be a map;
 * [error] (for !ok) a map with str `category` and `message`. */
int ipc_encode_host_call(Buf *out, const IpcEnvelope *env, uint64_t id, const char *cap,
                         const char *op, const msgpack_object *args);
int ipc_encode_host_cancel(Buf *out, const IpcEnvelope *env, uint64_t id);
int ipc_encode_host_result(Buf *out, uint64_t id, bool ok, const msgpack_object *value,
                           const msgpack_object *error);

/* ---- values ----------------------------------------------------------------- */

/* Append [o] (a docs/RUNTIME.md 9.3 value) to [out] as compact JSON: maps keep
 * their order, tagged maps ({"$harn": ...}) stay as they are (they are JSON
 * objects already), bin becomes {"$harn":"bytes","base64":"..."}, floats use
 * the shortest round-trip text without a forced ".0" (NaN and infinities
 * become null), strings are escaped with invalid UTF-8 replaced by U+FFFD.
 * Non-string map keys (not produced by our worker) are rendered as their
 * JSON text inside a string. Returns 0 (IPC_E_DEPTH past IPC_MAX_DEPTH*2
 * levels, with the output truncated at that point). */
int ipc_to_json(Buf *out, const msgpack_object *o);

/* ---- blocking fd helpers (worker side, tests) ------------------------------ */

/* Write all [len] bytes of [data] to [fd], retrying on EINTR and short
 * writes. 0, or IPC_E_IO (errno is kept). */
int ipc_write_all(int fd, const void *data, size_t len);
/* Read from [fd] into [d] until a frame is complete: 1 with *out filled,
 * a negative decoder code, IPC_E_EOF on a clean EOF with nothing buffered
 * (IPC_E_TRUNCATED inside a frame), or IPC_E_IO on a read error. */
int ipc_read_msg(int fd, IpcDecoder *d, IpcMsg *out);
/* ipc_read_msg on the job socket (v3, docs/protocol.md "Descriptors"):
 * the same, with recvmsg, taking the descriptors that come with the bytes
 * (SCM_RIGHTS, received CLOEXEC) into fds[0..max_fds): *nfds is how many
 * came (more than [max_fds]: the extra ones were closed, or some were
 * lost). A [fd] that is not a socket is read as ipc_read_msg does. */
int ipc_recv_msg(int fd, IpcDecoder *d, IpcMsg *out, int *fds, int max_fds, int *nfds);

#endif
