/*
 * vm.h: the public interface of the Harn VM (the only vm/ header that
 * code outside vm/ may include, with base/counters.h).
 *
 * One Vm runs one program: compile (lex, parse, compile to bytecode) and
 * run it to completion, streaming output through the configured writer.
 * The VM is single-threaded and not re-entrant across threads.
 */
#ifndef HARN_VM_H
#define HARN_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/counters.h"

typedef struct Vm Vm;

/* Where program output goes. [stream] is 1 for stdout (print, println,
 * log) and 2 for stderr (eprint, eprintln). Called as output is produced. */
typedef void (*VmWriteFn)(void *ud, int stream, const char *data, size_t len);

/* Events the VM streams to its host while running (docs/RUNTIME.md 9.2), used
 * by the worker (NULL = none). [type] is
 * "step" (body: the step record dict of 7.5), "emit" (body: a dict
 * {name, data}) or "lifecycle" (body: a dict {event, payload, control,
 * hooks}, 8.2). [body] points to a VM Value (vm/value.h) that is valid only
 * during the call; the host encodes it with vm_value_pack(). Called on the
 * VM's thread at the moment the record/event is made. */
typedef void (*VmEventFn)(void *ud, Vm *vm, const char *type, const void *body);

/* The job a VM runs for inside a worker (docs/RUNTIME.md 5.6, 8.1 harness, 9);
 * all zero when standalone. */
typedef struct VmJobConfig {
  bool supervised;        /* under a supervisor: the caps of 5.6 apply */
  const char *job_id;     /* harness.job_id (NULL: standalone) */
  int64_t attempt;        /* harness.attempt */
  bool has_deadline;
  int64_t deadline_at_ms; /* CLOCK_MONOTONIC ms (harness.deadline_ms_remaining) */
  int64_t grace_ms;       /* kill grace: kill_at = first host signal + grace_ms;
                             hard stop at kill_at - 25 ms (5.6 "Worker"); also
                             set standalone by `harn run --inline` (0: none) */
  VmEventFn event;        /* step / emit / lifecycle sink, may be NULL */
  void *event_ud;
} VmJobConfig;

/* The file builtins (vm/host_fs.c; docs/sandbox.md "Capabilities").
 *   VM_FS_NONE    no file capability: every path is outside every grant
 *                 (the zero default: fuzzing, unit tests);
 *   VM_FS_HOST    trusted (harn run --inline, --no-sandbox, harn test):
 *                 paths act on the host as given, relative ones from the
 *                 process's working directory, as in the reference;
 *   VM_FS_GRANTS  a sandboxed worker: a path is made absolute against
 *                 [cwd], normalised lexically and resolved against the
 *                 longest grant containing it; outside every grant it is
 *                 refused before the kernel is asked, inside it is opened
 *                 relative to the grant's descriptor with openat2
 *                 (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), under the
 *                 worker's Landlock rules. */
typedef enum { VM_FS_NONE = 0, VM_FS_HOST, VM_FS_GRANTS } VmFsMode;

typedef struct VmFsGrant {
  const char *path;         /* absolute, normalised */
  int fd;                   /* a directory descriptor; the VM does not close it */
  bool write;               /* read and write, else read only */
} VmFsGrant;

typedef struct VmFsConfig {
  VmFsMode mode;
  const VmFsGrant *grants;  /* VM_FS_GRANTS */
  int ngrants;
  const char *cwd;          /* VM_FS_GRANTS: what relative paths (and cwd())
                               start from; NULL: "/" */
  const char *scratch;      /* temp_dir(); NULL: $TMPDIR or /tmp */
  const char *source_dir;   /* source_dir(), project_root(); NULL: cwd() */
  uint64_t max_write_bytes; /* all the bytes the builtins may write; 0: no cap */
  const char *const *deny;  /* builtins refused with `Tool 'X' is not permitted.` */
  int ndeny;
  const char *const *env;   /* env(): NAME=VALUE entries (never environ in a
                               sandboxed worker); NULL with [env_host]: */
  int nenv;
  bool env_host;            /* env() reads the process environment (trusted) */
} VmFsConfig;

/* The host-call channel (protocol v3, docs/protocol.md "Host calls"):
 * brokered operations (HTTP...) a supervised worker asks the supervisor
 * for. The VM numbers the calls (1, 2, ...), a calling task blocks (a
 * safe point) until the answer comes; when every task is blocked the
 * scheduler waits in ppoll() on [fd] and then calls [pump]. Zero [call]:
 * no channel (standalone runs: the host_* builtins say so). */
typedef struct VmHostConfig {
  int fd;                   /* readable when answers may be waiting */
  /* Send call [id] of [cap].[op] with the dict at [args] (a const Value *:
   * pack it with vm_value_pack). False: not sent (the call fails). */
  bool (*call)(void *ud, Vm *vm, uint64_t id, const char *cap, const char *op, const void *args);
  /* The caller of [id] gave up (deadline, cancellation): send host_cancel. */
  void (*cancel)(void *ud, uint64_t id);
  /* Read what [fd] holds without blocking and hand each complete answer to
   * vm_host_deliver. < 0: the channel is gone (EOF, bad frame). */
  int (*pump)(void *ud, Vm *vm);
  void *ud;
  const char *const *caps;  /* capabilities brokered for this job ("net") */
  int ncaps;
} VmHostConfig;

/* For VmHostConfig.pump: the answer to call [id]: [ok] and the value as
 * JSON text, or !ok and the error map ({category, message, ...}) as JSON
 * text. An id that is not in flight is ignored. */
void vm_host_deliver(Vm *vm, uint64_t id, bool ok, const char *json, size_t len);

typedef struct VmConfig {
  VmWriteFn write;          /* NULL: write to the process's stdout/stderr */
  void *write_ud;
  uint64_t max_instructions;/* 0 = unlimited; else the run fails (uncatchable)
                               after this many instructions (fuzzing) */
  size_t memory_limit;      /* bytes of Harn heap; 0 = unlimited */
  bool gc_stress;           /* collect at every safe point */
  bool fake_sleep;          /* sleep() advances a virtual clock instead of
                               waiting (fuzzing: every input terminates) */
  /* Where file imports may come from (docs/sandbox.md "Imports"). They
   * resolve only beneath the entry program's directory, through a
   * directory descriptor and openat2(RESOLVE_BENEATH), so the kernel, not
   * a string check, keeps them inside it:
   *   VM_IMPORT_ROOT_AUTO  the VM opens the directory of the entry's path
   *                        itself, at the first file import (harn run
   *                        --inline, check, test);
   *   VM_IMPORT_ROOT_FD    [import_root_fd] is that directory, opened by
   *                        the host before the lock-down (the worker); the
   *                        VM never opens a path from the host's root;
   *   VM_IMPORT_ROOT_NONE  only std/ modules (a program given as source).
   * The VM does not close [import_root_fd]. */
  enum { VM_IMPORT_ROOT_AUTO = 0, VM_IMPORT_ROOT_FD, VM_IMPORT_ROOT_NONE } import_root;
  int import_root_fd;
  VmJobConfig job;          /* worker context; zero when standalone */
  VmFsConfig fs;            /* files, environment, --deny (zero: none) */
  VmHostConfig host;        /* the host-call channel (zero: none) */
} VmConfig;

typedef enum {
  VM_OK = 0,
  VM_COMPILE_ERROR, /* lexer, parser or compiler error */
  VM_RUNTIME_ERROR  /* uncaught error while running */
} VmStatus;

/* A new VM with [cfg] (NULL for defaults). Never returns NULL. */
Vm *vm_new(const VmConfig *cfg);
void vm_free(Vm *vm);

/* Initialise, once per process, the libraries of the standard library
 * that must not start lazily in a locked-down worker (libcrypto: no
 * configuration file, algorithms fetched ahead; std_crypto.c). Idempotent
 * and thread-safe; the zygote and every worker call it before lock-down.
 * Elsewhere the builtins call it on first use. */
void vm_std_init(void);

/* The names of the builtin functions, in byte order: [i] from 0 while it
 * is not NULL (`harn help builtins`). */
const char *vm_builtin_name(int i);

/* Compile and run the program in [len] bytes of [src]; [path] names it in
 * diagnostics and anchors relative imports. [input_json] (may be NULL) is
 * bound to the entry pipeline's first parameter. */
VmStatus vm_run_source(Vm *vm, const char *path, const char *src, size_t len,
                       const char *input_json);
/* The largest program or module file the VM reads (and the largest program
 * the supervisor reads for it): a larger one is an error, not an
 * out-of-memory. */
#define VM_MAX_PROGRAM ((size_t)64 << 20)

/* Read [path] and run it. A file that cannot be read is a compile error. */
VmStatus vm_run_file(Vm *vm, const char *path, const char *input_json);
/* The same for the file already open at [fd] (the VM reads and closes it),
 * named [path]; [fd] < 0 means it could not be opened, -[fd] being the
 * errno (the message names it). The worker opens its entry file before its
 * lock-down and reads it after. */
VmStatus vm_run_fd(Vm *vm, const char *path, int fd, const char *input_json);
/* Compile only (harn check). */
VmStatus vm_check_source(Vm *vm, const char *path, const char *src, size_t len);
/* Compile and append a human-readable disassembly to *out (malloc'd). */
VmStatus vm_disasm_source(Vm *vm, const char *path, const char *src, size_t len, char **out);

/* After a failed run: the error's display text with the docs/RUNTIME.md 3.2
 * line suffix ("Runtime error: Division by zero (line 3)"), and the full
 * diagnostic of docs/RUNTIME.md 3.4 ("error: ...\n  --> file:3:13\n..."). The
 * strings belong to the VM and live until the next run or vm_free. */
const char *vm_error_text(Vm *vm);
const char *vm_diagnostic(Vm *vm);

/* Write a diagnostic text (vm_diagnostic(), or one received from a worker)
 * to the stdio stream [stream] (a FILE *), coloured when it is a terminal
 * and NO_COLOR is unset (docs/LANGUAGE.md 10.3; vm/diag_color.c). */
void vm_print_diagnostic(const char *text, void *stream);

/* After a successful run: the process exit code the program asks for
 * (an int returned by the entry pipeline; 1 for a returned Err; else 0).
 * For an Err, the message to print on stderr is in vm_error_text(). */
int vm_exit_code(Vm *vm);

/* The run's result value rendered as compact JSON (json_stringify rules),
 * malloc'd, or NULL when there is no value. */
char *vm_result_json(Vm *vm);

/* Ask the running VM to cancel, as a host signal [signo] (SIGTERM, SIGINT,
 * SIGHUP) would: async-signal-safe (it only sets flags); the VM notices at
 * its next safe point (docs/RUNTIME.md 5.1, 5.3). */
void vm_interrupt(Vm *vm, int signo);
/* Did the last run see a host interrupt? *signo gets the first one. */
bool vm_was_interrupted(Vm *vm, int *signo);

/* For a job event handler, while the finish sequence (docs/RUNTIME.md 8) sends
 * its `lifecycle` events: may program code (an on_finish closure, a hook
 * of a later finish event) still run before the run ends? When not, only
 * bounded work separates the event from the run's end, and the host may
 * hold it to send with what follows (worker.c, "Coalesced frames"). */
bool vm_finish_code_ahead(Vm *vm);

/* One live frame at the moment an error was raised. `fn` is "" at top
 * level; `line`/`col` are those of the failing instruction (0 = unknown). */
typedef struct TraceEntry {
  const char *fn;
  int line, col;
  const char *file;
} TraceEntry;

/* The trace of the last uncaught error, outermost frame first (docs/RUNTIME.md
 * 3.3); returns the number of entries. The array belongs to the VM. */
int vm_trace(Vm *vm, const TraceEntry **out);

/* Append the last run's result value / uncaught error payload (the thrown
 * value, or the display string for other kinds) to a msgpack_packer
 * ([packer] is a msgpack_packer *) using docs/RUNTIME.md 9.3 (vm/export.c).
 * Pack nil when there is none. Return false only on a packer failure. */
bool vm_result_pack(Vm *vm, void *packer);
bool vm_error_value_pack(Vm *vm, void *packer);
/* Pack the VM Value at [value] (a const Value *, e.g. the body of a
 * VmEventFn call) the same way (vm/export.c). */
bool vm_value_pack(Vm *vm, const void *value, void *packer);

/* What the file builtins of the last run used and were refused, as the
 * final frame's `capabilities` map ([packer] is a msgpack_packer *):
 * {used: {fs: {bytes_read, bytes_written, files_read, files_written}},
 *  denied: [{op, target, reason}], denied_dropped: N}. Returns false (and
 * packs nothing) when nothing was used or refused. */
bool vm_fs_report_pack(Vm *vm, void *packer);

/* The LLM totals of this VM (docs/llm.md, llm_usage(): every call since
 * vm_new, mock calls included), for the record's capabilities.used.llm.
 * False (and *out zeroed) when no LLM builtin has run (vm/llm.c). */
typedef struct VmLlmTotals {
  int64_t calls, input_tokens, output_tokens;
  double cost_usd;
} VmLlmTotals;
bool vm_llm_totals(Vm *vm, VmLlmTotals *out);

/* After a failed run: true when the uncaught error is the VM's own
 * `memory limit exceeded` (VmConfig.memory_limit; vm/export.c); the worker
 * then reports reason `memory`. */
bool vm_error_is_memory(Vm *vm);

/* Counters of the last run. The counters the VM counts (source VM in
 * HARN_COUNTERS, base/counters.h: instructions, counted only when
 * max_instructions is set; tasks spawned; step records made (7.5); peak
 * call depth; slow-poll calls, a docs/RUNTIME.md 1.5 debug counter that
 * stays 0 while nothing is armed) are generated from that list; the rest
 * are VM-only. */
#define HARN_COUNTER_VMSTATS_VM(type, name) HARN_COUNTER_CTYPE_##type name;
#define HARN_COUNTER_VMSTATS_HOST(type, name)
typedef struct VmStats {
#define X(name, type, source) HARN_COUNTER_VMSTATS_##source(type, name)
  HARN_COUNTERS(X)
#undef X
  size_t heap_peak;        /* bytes */
  size_t collections;
  bool hard_stop;          /* the run was abandoned by the hard stop (5.6) */
} VmStats;
void vm_stats(Vm *vm, VmStats *out);

#endif
