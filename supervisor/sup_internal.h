/*
 * sup_internal.h: what the supervisor's files share (not for other
 * components; supervisor.h is the public header).
 *
 * Layers, bottom up:
 *   spawn.c   fork (+exec) of one worker with the protocol fds (no libuv).
 *   json.c    JSON writer (records, event lines) and a small DOM parser.
 *   pool.c    the engine: one libuv loop, jobs as explicit state machines
 *             (RUNNING, STOPPING, DRAINING, KILLING, DEAD) driven by events
 *             (deadline/grace timer, cancel, final frame, EOF, protocol
 *             error, exit), SIGCHLD-driven sweep-then-reap, the status table
 *             of docs/RUNTIME.md 5.6 and the terminal record of PRODUCT.md.
 *   run.c     `harn run` on top of the pool (one job).
 *   batch.c   `harn batch`: sources, queue, retries, results, joblog,
 *             resume, halt, progress bar; linein.c reads its sources.
 *
 * Ownership: the pool owns every SupJob it starts (handles, buffers, the
 * spec's strings) from sup_pool_start until the job's last close callback;
 * the owner learns about the end through SupHooks.on_done, which runs
 * exactly once per started job, and must not keep the pointer afterwards.
 */
#ifndef HARN_SUP_INTERNAL_H
#define HARN_SUP_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <uv.h>

#include "base/buf.h"
#include "base/defaults.h"
#include "ipc/ipc.h"
#include "vm/vm.h"

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* ------------------------------------------------------------------ spawn */

/* The worker's entry point for in-process spawns (wrk_main). */
typedef int (*SupWorkerMain)(int argc, char **argv);

/* Our ends of a worker's two pipes. [job_w] is non-blocking and stays
 * open until the whole job frame is in it (sup_feed_job): [sent] bytes of
 * it went in; when that is all of it the write end is already closed
 * (job_w == -1; the worker reads the frame, then EOF) unless [keep] asked
 * to keep it for host-call answers (protocol v3). Otherwise the caller
 * writes the rest. */
typedef struct SupSpawned {
  int job_w, ev_r;
  pid_t pid;
  size_t sent;
} SupSpawned;

/* Start a worker: fork, then in the child either exec [argv] (argv[0]
 * searched in PATH) when [entry] is NULL, or run entry(1, {"worker"}) and
 * _exit with its result (spawn.c explains the in-process way). Either way
 * its fd 3 reads the job pipe, which holds [job] (len bytes, or as much of
 * it as fits; see SupSpawned), its fd 4 writes the event pipe (our ends are
 * O_CLOEXEC), nothing else above fd 2 is open in it, it has its own
 * process group (pgid == pid), SIGTERM/SIGINT/SIGHUP blocked, parent-death
 * signal SIGKILL. Returns 0 and fills *out, or a negative errno (fork,
 * pipe or exec failure; nothing is left open or unreaped then). */
int sup_spawn_worker(char *const *argv, SupWorkerMain entry, const char *job, size_t len,
                     const int *fds, int nfds, bool keep, SupSpawned *out);
/* Put job frame [job] ([len] bytes) into sp->job_w (the job socket,
 * protocol v3) without blocking, with the [nfds] (at most IPC_MAX_GRANTS)
 * descriptors [fds] attached to its first bytes (SCM_RIGHTS: the worker
 * gets its own copies; ours stay open): as
 * much as the pipe takes (sp->sent), closing job_w (-1) once it is all in.
 * 0, or a negative errno (-EPIPE: the worker is gone); job_w stays open
 * on an error. */
int sup_feed_job(SupSpawned *sp, const char *job, size_t len, const int *fds, int nfds, bool keep);

/* Start the zygote (`/proc/self/exe worker --zygote` with LD_BIND_NOW=1,
 * plus `--sandboxed` for a pool whose jobs are all sandboxed: it then
 * installs the pool filter; worker/zygote.c): *sock is our end of its
 * request socket (CLOEXEC), *pid its pid (our child, in its own group). 0
 * or a negative errno. */
int sup_zygote_start(int *sock, pid_t *pid, bool sandboxed);
/* Ask the zygote on [sock] for a worker, without waiting for it: the pipes
 * are made and the worker's ends sent. *out holds our ends, with job_w
 * open and empty (the job comes later, sup_feed_job: the worker waits for
 * it in read), and no pid yet: that comes with the reply
 * (sup_zygote_reply); replies come in the order of the requests. 0, or a
 * negative errno (nothing left open); -EPIPE (or another socket error)
 * means the zygote is gone. */
int sup_zygote_request(int sock, SupSpawned *out);
/* Collect the next reply without blocking. 1: a reply, with *pid the new
 * worker (our child: CLONE_PARENT; its process group is made), or *pid 0
 * and *err the clone's negative errno (the request failed; closing the
 * pipes is the caller's business). 0: no reply yet. A negative errno: the
 * zygote is gone (EOF: -EPIPE) or broke the protocol (-EPROTO). */
int sup_zygote_reply(int sock, pid_t *pid, int *err);

/* ------------------------------------------------------------------ JSON */

typedef enum {
  SUP_JSON_NULL, SUP_JSON_BOOL, SUP_JSON_INT, SUP_JSON_FLOAT, SUP_JSON_STRING,
  SUP_JSON_OBJECT, SUP_JSON_RAW
} SupJsonType;

/* The parser's limits (json.c): nesting depth, and members of the root
 * object (the nodes a line can make). */
#define SUP_JSON_MAX_DEPTH 200
#define SUP_JSON_MAX_MEMBERS 4096

typedef struct SupJson {
  SupJsonType type;
  bool b;
  int64_t i;
  double d;
  char *str;        /* STRING: the text; INT, FLOAT: the number as written;
                       RAW: an array or nested object as compact JSON.
                       NUL-terminated, [slen] bytes (a STRING may hold NULs) */
  size_t slen;
  struct SupJson **items; /* OBJECT: the members' values */
  char **keys;            /* OBJECT: keys[i] names items[i], NUL-terminated, */
  size_t *klens;          /* ... klens[i] bytes (may hold NULs) */
  size_t len, cap;
} SupJson;

/* Parse the whole of [text] ([len] bytes): a scalar, an object whose
 * members are nodes (values that are arrays or objects: RAW), or an array
 * (RAW). NULL on error with *err (may be NULL) set to a static message.
 * Free with sup_json_free. */
SupJson *sup_json_parse(const char *text, size_t len, const char **err);
/* Check that [text] is one JSON value, without building anything: 0, or -1
 * with *err (may be NULL) set. */
int sup_json_check(const char *text, size_t len, const char **err);
void sup_json_free(SupJson *n);
/* Member [key] of object [obj], or NULL (also when obj is not an object).
 * A key holding a NUL never matches. */
const SupJson *sup_json_get(const SupJson *obj, const char *key);
/* Append [n] (a parsed tree) as compact JSON: numbers and RAW text as
 * parsed, strings and keys encoded again (json_escape: \ufffd for an
 * invalid character). */
void sup_json_write(Buf *b, const SupJson *n);
/* Append [n] bytes of [s] as a JSON string (base/json_escape.h: an
 * invalid UTF-8 character -> \ufffd). */
void sup_json_str(Buf *b, const char *s, size_t n);
/* Append a C string as a JSON string, or null when [s] is NULL. */
void sup_json_cstr(Buf *b, const char *s);
/* The same for a name (job id, path): an invalid UTF-8 byte XX is written
 * \udcXX (JSON_ESCAPE_BYTES), which sup_json_parse reads back as the byte
 * (reversible). */
void sup_json_name(Buf *b, const char *s);
/* Append a number (shortest round-trip form; non-finite -> null). */
void sup_json_num(Buf *b, double d);
/* Append milliseconds with one decimal ("12.3"), exactly as printf "%.1f". */
void sup_json_ms(Buf *b, double ms);
/* Append a decimal integer (as printf "%lld", without printf's cost). */
void sup_json_int(Buf *b, long long v);
void sup_json_uint(Buf *b, unsigned long long v);
/* Write a record's `counters` object (docs/cli.md) from [c], one key per
 * HARN_COUNTERS entry (base/counters.h) in its order. A counter whose bit
 * (SUP_COUNTER_BIT(name)) is not in [known], or a UINT_OPT counter without
 * its has_ flag, is null. [ms]: NUM counters are the supervisor's own
 * measurements, written at 0.1 ms like duration_ms (sup_json_ms); else the
 * worker's, written exactly (sup_json_num). Defined in pool.c. */
enum {
#define X(name, type, source) SUP_COUNTER_INDEX_##name,
  HARN_COUNTERS(X)
#undef X
};
#define SUP_COUNTER_BIT(name) (1u << SUP_COUNTER_INDEX_##name)
#define SUP_COUNTERS_ALL ((1u << HARN_COUNTER_COUNT) - 1u)
void sup_json_counters(Buf *b, const IpcCounters *c, uint32_t known, bool ms);

/* ------------------------------------------------------------------ pool */

/* The statuses of a terminal record, written once (docs/RUNTIME.md 5.6,
 * docs/cli.md): X(NAME, name, exit, retryable)
 *   name       the record's `status`
 *   exit       what `harn run` exits with; -1: it depends on the run (ok:
 *              the pipeline's int; cancelled: 128 + the signal)
 *   retryable  `harn batch --retries` runs the job again (the default of
 *              --retry-on, SUP_RETRY_ON_DEFAULT): the worker died
 *              under it (crashed) or had to be killed (killed); a verdict
 *              the program reached itself (ok, error), its deadline
 *              (timeout) or the user's cancel is final.
 * sup_decide picks the row (which facts lead to which status is its
 * table); everything else reads these columns. */
#define SUP_STATUS_MAP(X)                  \
  X(OK, "ok", -1, false)                                \
  X(ERROR, "error", HARN_EXIT_ERROR, false)             \
  X(TIMEOUT, "timeout", HARN_EXIT_TIMEOUT, false)       \
  X(CANCELLED, "cancelled", -1, false)                  \
  X(KILLED, "killed", HARN_EXIT_KILLED, true)           \
  X(CRASHED, "crashed", HARN_EXIT_ERROR, true)

typedef enum {
#define X(NAME, name, exit, retryable) SUP_STATUS_##NAME,
  SUP_STATUS_MAP(X)
#undef X
  SUP_STATUS__COUNT
} SupStatus;

/* Name of a status as in the record ("ok", "timeout", ...); "?" for a
 * value outside SupStatus. */
const char *sup_status_name(SupStatus s);
/* Whether a job that ended with [s] is run again under --retries by
 * default (without --retry-on). */
bool sup_status_retryable(SupStatus s);

/* Why the supervisor signalled a job (the first trigger only). */
typedef enum { SUP_STOP_NONE, SUP_STOP_DEADLINE, SUP_STOP_CANCEL } SupStop;

/* What to run: filled by the caller of sup_pool_start; the pool takes
 * ownership of the strings (freed with the job). */
typedef struct SupSpec {
  char *id;          /* job id in records and in the job frame */
  bool path_id;      /* [id] is the path of [file] (sup_path_id) */
  char *file;        /* path shown in the record ("file"), may be NULL */
  char *program;     /* path of the program, or its source text */
  bool is_source;    /* [program] is source text rather than a path */
  char *input_json;  /* the job input as JSON text, NULL = none (nil) */
  double timeout_ms; /* job deadline from spawn; <= 0: none */
  int attempt;       /* 1, 2, ... */
  long seq;          /* order of the job in its batch (1-based) */
  int retries;       /* owner's business (batch retries); the pool ignores it */
  int first_attempt; /* owner's business: attempt number of the first try */
  uint64_t memory;   /* VM heap limit in bytes; 0: the pool's default */
  double cpu_ms;     /* CPU-time limit; <= 0: the pool's default */
  unsigned retry_on; /* owner's business: statuses retried (1 << SupStatus) */
  double retry_lo, retry_hi; /* owner's business: backoff bounds in ms */
} SupSpec;

/* Free the strings [s] owns (id, file, program, input_json). */
void sup_spec_free(SupSpec *s);

typedef struct SupPool SupPool;
typedef struct SupJob SupJob;

typedef enum {
  SUP_ST_RUNNING,  /* spawned; deadline timer (if any) armed */
  SUP_ST_STOPPING, /* SIGTERM/SIGINT sent to the group; grace timer armed */
  SUP_ST_DRAINING, /* final frame or EOF seen; SIGKILL timer armed */
  SUP_ST_KILLING,  /* SIGKILL sent; waiting for the exit */
  SUP_ST_DEAD,     /* swept, reaped, record emitted; handles closing */
  SUP_ST__COUNT
} SupState;

/* The outcome of one attempt, valid during SupHooks.on_done. */
typedef struct SupOutcome {
  SupStatus status;
  const char *reason;   /* "deadline", "signal:SIGSEGV", ... or NULL when ok */
  int exit_code;        /* what `harn run` exits with for this job */
  int term_signal;      /* signal that ended the worker, 0 if it exited */
  const char *record;   /* the terminal record, one JSON line without '\n' */
  const char *error_text;  /* final.error, or NULL */
  const char *diagnostic;  /* final.diagnostic, or NULL */
  const char *err_result;  /* the message of a returned Err(msg), or NULL */
  double start_epoch_ms;   /* wall clock at spawn */
  double duration_ms;      /* spawn to reap */
  size_t output_bytes;     /* output received (before the cap) */
} SupOutcome;

typedef struct SupHooks {
  /* Every decoded event of a job, in order, as soon as it is decoded (may
   * be NULL). [m] is valid during the call only. */
  void (*on_event)(SupJob *job, const IpcMsg *m, void *ud);
  /* Exactly once per started job, after the reap. */
  void (*on_done)(SupJob *job, const SupOutcome *out, void *ud);
  /* A job's worker is gone and its status known ([status]; may be NULL):
   * called right after the reap, before the record is built and on_done
   * runs, so that the owner can start the next job at once. The job still
   * counts in nrunning until its on_done, and in nreaped meanwhile. */
  void (*on_reaped)(SupStatus status, void *ud);
  void *ud;
} SupHooks;

/* Default caps on each of a record's event arrays (steps, lifecycle,
 * emits), per attempt (pool.c "Bounded memory"): entries, and bytes of
 * the array's JSON. 16 MiB is the frame limit: one event that fits in a
 * frame fits in the record (unless its JSON is much larger than its
 * msgpack: escaped control characters, base64 of bytes). */
#define SUP_MAX_EVENTS 10000u
#define SUP_MAX_EVENT_BYTES (16u << 20)

/* A directory granted to every job of a pool (docs/sandbox.md
 * "Capabilities"), opened by the command (sup_grants_open). */
typedef struct SupGrant {
  char *path;           /* absolute, lexically normalised */
  int fd;               /* O_DIRECTORY | O_CLOEXEC, read-only */
  bool write;
} SupGrant;

typedef struct SupPoolConfig {
  char **worker_argv;   /* command to exec; NULL: HARN_WORKER_CMD split on
                           spaces when set, else the in-process worker
                           (wrk_main in a forked child, see spawn.c) */
  double grace_ms;      /* kill grace (< 0: HARN_DEFAULT_GRACE_MS) */
  size_t max_output;    /* output cap per job in bytes (0: HARN_DEFAULT_MAX_OUTPUT) */
  size_t max_events;    /* entries kept of each of steps, lifecycle and
                           emits per attempt (0: SUP_MAX_EVENTS) */
  size_t max_event_bytes; /* bytes of JSON kept of each (0: SUP_MAX_EVENT_BYTES) */
  bool count_instructions;
  bool no_sandbox;      /* --no-sandbox: workers are not locked down */
  uint64_t memory;      /* default VM heap limit per job (--memory), 0 none */
  double cpu_ms;        /* default CPU-time limit per job (--cpu), 0 none */
  /* Capabilities (docs/sandbox.md "Capabilities"); the pool borrows them. */
  const SupGrant *grants; /* --allow-read / --allow-write */
  int ngrants;
  bool scratch;         /* a fresh directory per attempt (--scratch) */
  uint64_t max_write_bytes; /* what a job may write in all (0: nothing) */
  const char *cwd;      /* relative paths of the file builtins resolve here */
  const IpcEnvVar *env; /* what env() sees (--allow-env, --env) */
  size_t nenv;
  const char *const *deny; /* builtins refused (--deny) */
  size_t ndeny;
  /* The HTTP broker (net_broker.c): --allow-net / --deny-net (NULL or no
   * allow entry: no network), --max-response-bytes, requests per job. */
  const struct NetRules *net_rules;
  uint64_t max_response_bytes;
  int max_requests;
} SupPoolConfig;

/* The grants of a command line ([read] and [write]: the items of
 * --allow-read and --allow-write; [scratch]: one more descriptor per job)
 * into *out / *n: each path made absolute against the working directory
 * and normalised lexically, then opened O_DIRECTORY. A path given twice
 * (or read and write) is one grant (write wins). 0, or -1 after printing
 * "harn CMD: --allow-read: PATH: REASON" on stderr (a usage error: not a
 * directory, more than IPC_MAX_GRANTS in all). */
int sup_grants_open(const char *cmd, char **read, size_t nread, char **write, size_t nwrite,
                    bool scratch, SupGrant **out, int *n);
void sup_grants_close(SupGrant *g, int n);
/* The capability options of [a] (--allow-read, --allow-write, --scratch,
 * --max-write-bytes) into [cfg]: the grants opened (*grants, *ngrants:
 * close with sup_grants_close), the quota, the working directory (*cwd,
 * malloc'd). 0, or -1 after a usage error was printed. */
struct CliArgs;
#define SUP_DEFAULT_MAX_WRITE_BYTES ((uint64_t)64 << 20)
int sup_caps_config(const struct CliArgs *a, SupPoolConfig *cfg, SupGrant **grants, int *ngrants,
                    char **cwd);
/* The job's environment (docs/sandbox.md "Capabilities"): the variables
 * of ours that --allow-env names (NAME, or PREFIX*), and --env
 * NAME=VALUE (which wins), as data for the job frame; and --deny. Into
 * [cfg], owned by *env (sup_env_free). 0, or -1 after a usage error was
 * printed. */
typedef struct SupEnv {
  IpcEnvVar *vars;
  size_t n;
} SupEnv;
int sup_env_config(const struct CliArgs *a, SupPoolConfig *cfg, SupEnv *env);
/* The network options of [a] (--allow-net, --deny-net,
 * --max-response-bytes) into [cfg]; *rules is owned by the caller
 * (net_rules_free). 0, or -1 after a usage error was printed. */
struct NetRules;
int sup_net_config(const char *cmd, const struct CliArgs *a, SupPoolConfig *cfg, struct NetRules **rules);
/* pool.c: the count of host calls of [j] in flight (broker.c). */
int *sup_job_inflight(SupJob *j);
/* net_broker.c: free [j]'s broker state (job_free). */
void sup_net_job_free(SupJob *j);
void sup_env_free(SupEnv *e);
/* The lexically normalised absolute form of [path] against [cwd]
 * (malloc'd): "." and empty components dropped, ".." removes the previous
 * one (never above "/"). */
char *sup_path_absolute(const char *cwd, const char *path);
/* Remove [path] and everything beneath it, following no symlink (the
 * scratch directory of a job, after its record). 0 or -errno. */
int sup_remove_tree(const char *path);

/* A worker made ahead of its job (pool.c "spares"): our ends of its
 * pipes, and its pid once the zygote replied. */
typedef struct SupSpare {
  struct SupSpare *next;
  SupSpawned sp;
} SupSpare;

struct SupPool {
  uv_loop_t *loop;
  SupPoolConfig cfg;
  SupHooks hooks;
  Buf scratch;          /* one event rendered as JSON before it is kept
                           (pool.c "Bounded memory"); shared by the jobs */
  char **argv;          /* resolved worker command (exec), or NULL */
  SupWorkerMain entry;  /* in-process worker (when argv is NULL) */
  int tfd;              /* the precise timer (pool.c), -1 when none */
  int kids_fd;          /* /proc/self/task/<tid>/children (sweep_strays), or -1 */
  uv_poll_t tpoll;      /* watches tfd */
  bool tpoll_open;
  double tfd_due;       /* absolute monotonic ms tfd is set for, 0 = none */
  SupJob *timed;        /* jobs with an armed deadline/grace */
  int zsock;            /* request socket of the zygote, -1 when none */
  pid_t zpid;           /* the zygote, 0 when none */
  uv_poll_t zpoll;      /* watches zsock for the zygote's replies */
  bool zpoll_open;
  SupSpare *zhead, *ztail; /* workers asked of the zygote, in request order */
  int nrequested;       /* ... how many */
  SupSpare *ready;      /* spares made and not yet given a job */
  int nready;
  SupJob *whead, *wtail; /* jobs waiting for the next worker the zygote makes */
  int nwant;
  int spares;           /* workers to keep ready for jobs to come */
  bool spare_failed;    /* a request failed: no spares until a job starts */
  bool reap_deferred;   /* an exit came while workers were being made */
  SupJob *waiting;      /* jobs waiting to retry a failed spawn (timer armed) */
  int nwaiting;
  bool zygote_tried;    /* started once (it is not restarted) */
  long nspawned;        /* spawns before the zygote was tried */
  uv_signal_t sigchld;
  SupJob *running;      /* doubly linked list of jobs not yet reaped */
  int nrunning;         /* jobs started and not yet done (on_done not run) */
  int nreaped;          /* ... of which the worker is reaped (SupHooks.on_reaped) */
  int nalive;           /* jobs whose handles are not all closed yet */
  bool closing;
  struct SupNet *net;   /* the HTTP broker's multi handle (net_broker.c), lazily */
};

/* Set up [p] on [loop]: SIGCHLD watcher (unreferenced), SIGPIPE ignored.
 * Returns 0 or a negative libuv error (the SIGCHLD watcher cannot be
 * started); after a failure [p] is unusable and must not be closed with
 * sup_pool_close (run the loop once to finish the closes it began). */
int sup_pool_init(SupPool *p, uv_loop_t *loop, const SupPoolConfig *cfg, const SupHooks *hooks);
/* Start one attempt of [spec] (ownership of its strings passes to the
 * pool, even on failure). A spawn failure still produces exactly one
 * on_done (status crashed, reason "spawn:<error>"), from the loop. Returns
 * the job (valid until its on_done returns). */
SupJob *sup_pool_start(SupPool *p, SupSpec *spec);
/* Cancel every running job: [sig] (SIGINT for a user cancel, SIGTERM for a
 * deadline-like stop) + SIGCONT to its group, then SIGKILL after the grace.
 * Reason "cancel". Jobs already signalled are left alone. */
void sup_pool_cancel_all(SupPool *p, int sig);
/* Cancel one job as sup_pool_cancel_all does ([sig], then SIGKILL after
 * the grace; reason "cancel"); one that has no worker yet ends cancelled
 * at once. Nothing if it was signalled already. */
void sup_job_cancel(SupJob *j, int sig);
/* Keep up to [n] workers made ahead (spares) for the jobs the owner will
 * start next; 0 retires those there are. Only a pool that uses the zygote
 * makes them (docs/architecture.md "Spare workers"). */
void sup_pool_spares(SupPool *p, int n);
/* Close the pool's own handles; call when no job is running. */
void sup_pool_close(SupPool *p);
/* The spec of job [j] (for hook code), valid until its on_done returns. */
const SupSpec *sup_job_spec(const SupJob *j);
/* The signals the pool sent to job [j]'s process group (the record's
 * "signals"), in order: up to [cap] of them into [sigs]; returns how many. */
int sup_job_signals(const SupJob *j, int *sigs, int cap);

/* A libuv call whose only failure is a misuse of its handle by us (a
 * closing handle or a NULL callback: uv_timer_init, uv_timer_start on a
 * live timer): on failure ([rc] != 0) print the call and the error and
 * abort. For calls that can fail at run time use their result instead. */
void sup_uv_must(int rc, const char *call);
/* Start [n] signal watchers [h][i] on [loop] for [sigs][i], each calling
 * [cb] with h->data = [data]; unreferenced (they do not keep the loop
 * alive). Returns 0, or a negative libuv error with every one of them
 * closing (run the loop to finish the closes): a caller that cannot watch
 * its signals does not start. */
int sup_signals_start(uv_loop_t *loop, uv_signal_t *h, const int *sigs, int n, uv_signal_cb cb,
                      void *data);

/* The facts the job status table of docs/RUNTIME.md 5.6 looks at, gathered
 * by the pool when a job ends. */
typedef struct SupFacts {
  bool got_final;         /* a valid final frame was received */
  IpcStatus f_status;     /* its status (when got_final) */
  const char *f_signal;   /* its `signal`, or NULL */
  int64_t f_exit_code;    /* its `exit_code` */
  SupStop stop;           /* the supervisor's first trigger, if any */
  bool kill_after_signal; /* SIGKILL because the grace after it ran out */
  bool protocol;          /* malformed or oversize frame (before a final) */
  int spawn_err;          /* the spawn failed (negative errno), else 0 */
  int watch_err;          /* a libuv call wiring the running worker failed
                             (negative libuv error; its group was SIGKILLed) */
  int wstatus;            /* wait status of the reaped worker */
  /* The sandbox and resource limits (docs/sandbox.md): */
  bool seccomp;           /* the worker reported its seccomp filter on */
  bool f_limit_memory;    /* the final frame says limit "memory" */
  bool f_err_result;      /* the pipeline returned Err(...) */
  bool real_worker;       /* the in-process worker (its exit codes mean
                             what worker.h says), not HARN_WORKER_CMD */
  bool cpu_limited;       /* an RLIMIT_CPU was asked for */
} SupFacts;

typedef struct SupVerdict {
  SupStatus status;
  char reason[64];        /* "deadline", "signal:SIGSEGV"...; "" for none */
  int exit_code;          /* what `harn run` exits with (PRODUCT.md) */
  int term_signal;        /* signal that ended the worker, 0 if it exited */
} SupVerdict;

/* The job status table of docs/RUNTIME.md 5.6 (the first matching row wins),
 * with the record's reason and the exit code. Pure; no side effects. */
void sup_decide(const SupFacts *f, SupVerdict *v);

/* One of a record's event arrays (steps, lifecycle, emits) as a job's
 * events arrive: a prefix of them, capped in entries and bytes. Once an
 * event is not kept (a cap is reached), no later one of the same kind is
 * either: the array stays a prefix; the rest is only counted. A zeroed
 * SupEventLog is empty; sup_log_free releases it. */
typedef struct SupEventLog {
  Buf json;           /* the array's body: the items, comma-separated */
  size_t count;       /* items kept */
  uint64_t received;  /* items received, kept or not (dropped: the rest) */
} SupEventLog;

/* Would the next item be dropped whatever its size ([log] dropped one
 * already, or is at [max_items] or [max_bytes])? Then the caller need not
 * render it: sup_log_drop counts it. */
bool sup_log_full(const SupEventLog *log, size_t max_items, size_t max_bytes);
/* One more item received: [item] ([len] bytes, one JSON value) is kept
 * when sup_log_full is false and the body with it (and its comma) stays
 * within [max_bytes]; else it is dropped. Returns whether it was kept. */
bool sup_log_add(SupEventLog *log, const char *item, size_t len, size_t max_items,
                 size_t max_bytes);
/* One more item received and dropped without being looked at. */
void sup_log_drop(SupEventLog *log);
/* Items received and not kept. */
uint64_t sup_log_dropped(const SupEventLog *log);
void sup_log_free(SupEventLog *log);

/* Append event [m] as one JSON object (the frame's map, as ipc_to_json
 * renders it; output data as a string rather than base64) to [b]. */
void sup_event_json(Buf *b, const IpcMsg *m);

/* ---------------------------------------------------------------- linein */

/* The longest line of a batch source (manifest line, path): twice the
 * largest job frame. A line's "source" and "input" go to the worker in one
 * frame, so a line much longer could not run anyway; twice, because JSON
 * escapes ("\n", "\"") make a line longer than the frame it becomes, and
 * a line a little over the frame limit then still gets its record
 * (crashed/spawn:E2BIG) rather than only a message. A line costs at most
 * about twice this in memory while it is read. */
#define SUP_LINE_MAX ((size_t)2 * IPC_MAX_FRAME)

/* The longest line of a results file or journal that --resume and harn
 * verify read. A record is bounded by the caps on output and events
 * (docs/cli.md), far below this; a longer line is not one we wrote, and
 * reading it whole could take any amount of memory. */
#define SUP_MAX_RECORD_LINE ((size_t)1 << 30)
/* --keep-order holds at most this much before it starts no new job. */
#define SUP_KEEP_ORDER_MAX_BYTES ((size_t)64 << 20)

/* The lines of a batch source, read without blocking the loop (linein.c). */
typedef struct SupLineIn {
  int fd;            /* poll it for readable when sup_linein_next says 0 */
  bool sock;         /* a socket: recv(MSG_DONTWAIT) */
  bool fifo;         /* a pipe or FIFO: EOF only with POLLHUP */
  bool regular;      /* a regular file: reads never wait */
  Buf buf;
  size_t start;      /* buf[start, len): read, not yet returned */
  size_t max;        /* longest line in bytes; 0 (as opened): SUP_LINE_MAX */
  bool skipping;     /* dropping the rest of a too-long line */
  bool eof;
  int err;           /* errno of a failed read (the end came early), or 0 */
  long lineno;       /* lines returned so far (too-long ones included) */
} SupLineIn;

/* Open [path] ("-": stdin) for sup_linein_next. 0, or -errno. *blocking
 * is set when the reads may wait for a producer (stdin a pipe or a
 * terminal, and no /proc to reopen it). */
int sup_linein_open(SupLineIn *li, const char *path, bool *blocking);
/* The next line, '\n' removed and NUL-terminated in place, valid until the
 * next call: 1 with *line and *len; 0 when no whole line is there yet
 * (wait for li->fd to be readable); -1 at the end (li->err 0: EOF). A last
 * line without '\n' is returned at EOF. 2: line li->lineno is longer than
 * li->max (*len: the bytes of it seen, more than max; *line NULL); it is
 * dropped, and the next line is the one after its '\n'. */
int sup_linein_next(SupLineIn *li, char **line, size_t *len);
void sup_linein_close(SupLineIn *li);

/* ---------------------------------------------------------------- sources */



/* ------------------------------------------------------------------ misc */

/* The largest program read whole (cli_read_file: `harn run` of a pipe or
 * device, `harn check`, `harn disasm`): the VM's own cap on a program or
 * module file, so that /dev/zero is an error rather than an out-of-memory. */
#define SUP_MAX_PROGRAM VM_MAX_PROGRAM

/* The largest duration and size sup_parse_duration / sup_parse_size
 * accept: 10^15 ms (about 31,700 years; its ms, seconds and int64_t
 * deadlines fit every integer the pool converts them to) and 256 TiB (the
 * worker's address-space limit is twice a --memory, plus 512 MiB). */
#define SUP_MAX_DURATION_MS 1e15
#define SUP_MAX_SIZE ((uint64_t)1 << 48)

/* Parse a duration: Harn syntax ("250ms", "5s", "2m", "1h", "1.5s") or a
 * plain number of seconds ("5", "0.25"; opts.c has the syntax). Returns 0 and *ms;
 * -1 when [s] is not a duration; -2 when it is one of more than
 * SUP_MAX_DURATION_MS (*ms untouched on failure). */
int sup_parse_duration(const char *s, double *ms);
/* RLIMIT_AS given to a worker with VM heap limit [memory] (0: none). */
uint64_t sup_address_space(uint64_t memory);
/* Parse a byte count: a number with an optional B, K, M, G (KiB, MiB, GiB)
 * suffix, binary. Returns 0 and *out; -1 when [s] is not a size; -2 when
 * it is one of more than SUP_MAX_SIZE bytes (*out untouched on failure). */
int sup_parse_size(const char *s, size_t *out);
/* Parse --retry-on: comma-separated statuses among error, timeout,
 * killed and crashed (ok and cancelled are no failures to retry) into a
 * mask of 1 << SupStatus. 0, or -1 for anything else. */
int sup_parse_retry_on(const char *s, unsigned *mask);
/* The default: the statuses whose `retryable` column says so in
 * SUP_STATUS_MAP (the worker died under the job or had to be killed). */
#define SUP_RETRY_BIT(NAME, name, exit, retryable) | ((retryable) ? 1u << SUP_STATUS_##NAME : 0u)
#define SUP_RETRY_ON_DEFAULT (0u SUP_STATUS_MAP(SUP_RETRY_BIT))
/* Parse --retry-delay: DUR (MIN = MAX) or MIN..MAX (MIN <= MAX). 0 with
 * *lo, *hi in ms, or -1. */
int sup_parse_retry_delay(const char *s, double *lo, double *hi);
/* The delay before retry number [k] + 1 (k = 0 for the first retry):
 * lo * 2^k capped at hi, with equal jitter (half of it fixed, half drawn
 * from [rnd]). */
double sup_retry_delay(double lo, double hi, int k, uint64_t rnd);
#define SUP_RETRY_DELAY_DEFAULT "100ms..5s"
/* Monotonic clock in ms / wall clock in ms since the epoch. */
double sup_now_ms(void);
double sup_epoch_ms(void);
/* "SIGTERM" for SIGTERM, "SIG<n>" for unknown ones (static storage). */
const char *sup_signame(int sig);

/* ------------------------------------------------------------------ job ids, shards (jobid.c) */

/* The id of the job that [path] names, found beneath directory [dir] (a
 * directory source's listing): the path from [dir]'s parent, after
 * making both absolute and normalising them lexically ("jobs/a.harn" for
 * dir "./jobs/"); [path] as given when the current directory is unknown.
 * malloc'd. docs/cli.md "Job ids". */
char *sup_path_id(const char *dir, const char *path);
/* The id of the job that file source [path] names: its last component
 * ("a.harn" for "./jobs//a.harn"). malloc'd. */
char *sup_file_id(const char *path);
/* The id of a job whose path a stream gave: [path] normalised lexically,
 * relative paths staying relative ("jobs/a.harn" for "./jobs//a.harn").
 * malloc'd. */
char *sup_stream_path_id(const char *path);
/* The last component of [src] made absolute and normalised ("jobs.jsonl"
 * for "./d/../jobs.jsonl"): the NAME of a manifest line's NAME:LINE id.
 * malloc'd. */
char *sup_source_name(const char *src);

/* The most shards: a count above it is a usage error. */
#define SUP_SHARD_MAX 1000000

/* One shard of a batch (design/RUNNER.md section 8): jobs whose 0-based
 * position (or, by_id, XXH64 of the id, seed 0) is index mod count. */
typedef struct SupShard {
  int index, count; /* count 0: no sharding */
  bool by_id;
  char why[48];     /* "I/N", for messages */
} SupShard;

/* Parse --shard [spec] ("I/N", "slurm" from SLURM_ARRAY_TASK_ID, _MIN,
 * _STEP, _COUNT, "k8s/N" from JOB_COMPLETION_INDEX) and --shard-by [by]
 * (NULL, "position" or "id"). 0, or -1 with a one-line reason in [err]. */
int sup_shard_parse(const char *spec, const char *by, SupShard *out, char *err, size_t errlen);
/* Whether the job at 0-based position [pos] with id [id] is in shard
 * [sh] (NULL or count <= 1: every job is). A job without an id (a bad
 * manifest line) goes by its position under either rule. */
bool sup_shard_mine(const SupShard *sh, long pos, const char *id);

/* ------------------------------------------------------------------ sources, ids of a run (feeder.c, idset.c) */

/* SUP_SRC_STREAM: `-` (stdin), or a source that is not a regular file (a
 * pipe: `<(gen)`, a FIFO): never sniffed or counted ahead, read as it
 * comes (linein.c); each line a manifest line or a path. */
typedef enum { SUP_SRC_FILE, SUP_SRC_DIR, SUP_SRC_MANIFEST, SUP_SRC_STREAM } SupSrcKind;

/* Open-addressing set of job ids: those of a previous results file
 * (resume), those given more than once (sup_ids_assign), every job of
 * the sources (harn verify). */
typedef struct SupSeen {
  char *id;
  int max_attempt;
  bool ok;
  bool lost;        /* the record of max_attempt did not finish the job: it
                       says supervisor_lost, or cancelled (Ctrl-C, SIGTERM,
                       SIGHUP, --halt now): a plain --resume reruns it */
  int started;      /* journal: highest attempt started (resume) */
  char *file;       /* journal: the start entry's file (resume) */
  long index;       /* harn verify: the job's place in source order */
} SupSeen;

typedef struct SupSeenSet {
  SupSeen *slots;
  size_t cap, len;
} SupSeenSet;

/* The ids the sources gave in this run, to tell a repeated id
 * (sup_ids_assign). A set of 128-bit fingerprints (two independent 64-bit
 * hashes, FNV-1a and a multiply-xorshift one) rather than of strings: 32
 * bytes a job at most, for batches of millions; two different ids collide
 * with a probability of ~n^2/2^129. */
typedef struct IdPrint {
  uint64_t a, b; /* {0, 0}: an empty slot (a is never 0) */
} IdPrint;

typedef struct SupIdSet {
  IdPrint *slots;
  size_t cap, len;
} SupIdSet;

/* The rows of `--input-from ROWS` (inputrow.c): JSON Lines, or CSV / TSV
 * with a header (by the name's suffix). Zero it, then reset per source. */
typedef struct SupInputRows {
  char sep;          /* ',' or '\t' for CSV / TSV; 0: JSON Lines */
  char **header;     /* the CSV header once read */
  size_t nheader;
} SupInputRows;
/* Start reading the rows of the source named [name] ("-": JSON Lines). */
void sup_input_rows_reset(SupInputRows *r, const char *name);
/* One line of it: 1 with the job's input as JSON appended to [json]; 0 for
 * the CSV header (no job); -1 with *err (a bad row: said by the caller). */
int sup_input_row(SupInputRows *r, const char *line, size_t len, Buf *json, const char **err);

/* ------------------------------------------------------------------ results formats, --keep-order (recfmt.c, order.c) */

typedef enum { SUP_RECFMT_JSONL, SUP_RECFMT_CSV, SUP_RECFMT_TSV } SupRecFmtKind;

/* What a results line holds: the record as is (JSONL, no fields), or the
 * members [fields] (id, attempt, status always first) as a JSON object or
 * a CSV / TSV row. */
typedef struct SupRecFmt {
  SupRecFmtKind kind;
  char **fields;
  size_t nfields;
} SupRecFmt;

/* Set up *f from --results-format [format] (NULL: from the suffix of
 * [path], .csv or .tsv, else JSON Lines) and --fields [fields] (NULL: all
 * of the record for JSON Lines, a default set of columns for a table).
 * -1 with the reason in [why] for an unknown format or member name. */
int sup_recfmt_init(SupRecFmt *f, const char *format, const char *fields, const char *path,
                    char *why, size_t whylen);
void sup_recfmt_free(SupRecFmt *f);
/* The header line of a table (nothing for JSON Lines). */
void sup_recfmt_header(const SupRecFmt *f, Buf *out);
/* [record] (a record line without its newline) as a results line with its
 * newline; -1 when [record] is not a JSON object (nothing appended). */
int sup_recfmt_line(const SupRecFmt *f, const char *record, Buf *out);

/* An attempt's end as the batch writes it: the record line, then the
 * journal's "end" entry (order.c holds copies of these). */
typedef struct SupEnded {
  const char *record;
  const char *id, *file;
  int attempt;
  const char *status, *reason; /* reason may be NULL */
} SupEnded;
typedef void (*SupOrderEmit)(void *ud, const SupEnded *e);
typedef struct SupOrderItem SupOrderItem;
typedef struct SupOrder {
  SupOrderItem *ring;
  size_t head, len, cap;
  size_t bytes, cap_bytes;
  SupOrderEmit emit;
  void *ud;
} SupOrder;

/* Hold records until the jobs before theirs have ended; [cap_bytes] for
 * sup_order_full (0: never full). */
void sup_order_init(SupOrder *o, size_t cap_bytes, SupOrderEmit emit, void *ud);
/* Job [seq] starts its first attempt (seq greater than every one added). */
void sup_order_add(SupOrder *o, long seq);
/* An attempt of job [seq] ended as [e] (copied); [last]: no retry follows.
 * Emits every record that is now in order (maybe none, maybe many). */
void sup_order_put(SupOrder *o, long seq, const SupEnded *e, bool last);
/* Too much is held: start no new job until the head ends. */
bool sup_order_full(const SupOrder *o);
/* Emit everything held, in order (the batch is over). */
void sup_order_drain(SupOrder *o);
void sup_order_free(SupOrder *o);

typedef struct SupFeeder {
  const char *who;    /* "harn batch": the prefix of its messages */
  char **srcs;
  int nsrc, idx;
  bool opened;        /* srcs[idx] is being walked ... */
  SupSrcKind kind;       /* ... and is of this kind (found once) */
  char **files;       /* directory listing */
  size_t nfiles, fidx;
  SupLineIn li;       /* a manifest or stream (li_open) */
  bool li_open;
  char *mf_dir;       /* its directory: relative "file"s are in it */
  /* A stream that has no whole line yet: its fd is watched, and
   * [readable] called when it may have one (sup_feeder_next said 2). */
  uv_loop_t *loop;
  uv_poll_t *poll;    /* malloc'd: freed by its close callback */
  void (*readable)(void *ud);
  void *ud;
  long seq;           /* positions taken so far (bad lines take one too) */
  /* --input-from: every line of the sources is a row, the input of a job
   * of this program (NULL: the sources are jobs themselves) */
  const char *program;
  SupInputRows rows;
  /* What a job gets when its manifest line does not say: timeout_ms,
   * retries, retry_on, retry_lo, retry_hi (the command line's values). */
  SupSpec defaults;
  const SupShard *shard; /* NULL: every job; else a bad line is said, and
                            counted, only in the shard its position is in */
  int bad_input;      /* bad lines, and sources or directories that could
                         not be read: each said on stderr; the batch exits 1 */
  int unreadable;     /* of which sources or directories: their jobs are
                         not known */
} SupFeeder;

/* Find [id] in [set]; with [create], add it (all else zero) when absent.
 * NULL when absent and not [create]. */
SupSeen *sup_seen_find(SupSeenSet *set, const char *id, bool create);
/* Free the entries and their strings; [set] may be reused once zeroed. */
void sup_seen_free(SupSeenSet *set);
/* Add [id]; false when it was there already. */
bool sup_idset_add(SupIdSet *set, const char *id);

/* The next job of the feeder's sources (set srcs, nsrc, who, loop,
 * readable, ud, defaults and shard; zero the rest): 1 with *s filled (owned by the
 * caller, its id not yet given by sup_ids_assign); 0 when every source is
 * exhausted; 2 when a stream has no whole line yet (f->readable is called
 * from [f->loop] when it may). */
int sup_feeder_next(SupFeeder *f, SupSpec *s);
/* Let go of the current source (the caller may stop half-way: Ctrl-C,
 * --halt). The feeder's poll handle closes on its loop. */
void sup_feeder_release(SupFeeder *f);
/* The number of jobs in the sources, for a progress bar; -1 if unknown (a
 * stream is read only once, as the jobs run). */
long sup_count_jobs(char **srcs, int n);

/* The ids of one run: every id given, and the last #N of each repeated
 * one. Zero it to start. */
typedef struct SupIds {
  SupIdSet ids;
  SupSeenSet repeats;
} SupIds;
/* Give [spec] its id in this run: its own, or ID#2, ID#3, ... when it was
 * given before (said once on stderr, as [who] (NULL: not said), unless
 * the id is a path:
 * the same file twice is a way to run it twice); [newline] first ends a
 * progress bar's line. Jobs must come in source order. */
void sup_ids_assign(SupIds *ids, SupSpec *spec, const char *who, bool newline);
void sup_ids_free(SupIds *ids);

/* The jobs of a SOURCE list exactly as `harn batch` sees them, for the
 * commands that are not a loop (feeder.c): `harn submit` and `harn verify`
 * read their sources through this, so the grammar and the ids cannot
 * drift apart. [who] prefixes the messages about bad sources and lines
 * ("harn submit"); [say_repeats]: also say a repeated manifest id (once).
 * sup_sources_next: 1 with *spec filled (the caller frees it,
 * sup_spec_free; [def_timeout] and [def_retries] for the jobs that do not
 * set them), 0 at the end; it blocks while a stream has no whole line.
 * sup_sources_bad: the bad lines and unreadable sources met so far (each
 * said on stderr); sup_sources_unreadable: of which sources or
 * directories that could not be read (their jobs are unknown). */
typedef struct SupSources SupSources;
SupSources *sup_sources_open(char *const *srcs, int n, const char *who, bool say_repeats);
int sup_sources_next(SupSources *s, SupSpec *spec, double def_timeout, int def_retries);
int sup_sources_bad(const SupSources *s);
int sup_sources_unreadable(const SupSources *s);
void sup_sources_close(SupSources *s);

/* ---------------------------------------------------------------- metrics */

/* harn batch --metrics FILE (metrics.c): Prometheus text-format metrics of
 * the batch, FILE rewritten atomically (FILE.tmp, rename) at open, every
 * few seconds while the batch runs, and at stop. Every function accepts a
 * NULL [m] (no --metrics) and does nothing then. */
typedef struct SupMetrics SupMetrics;
/* Write FILE once (all zeros). NULL with a message on stderr when it
 * cannot be written. */
SupMetrics *sup_metrics_open(const char *path);
/* A runner's counters (harn_runner_*, runner="[runner]"), no file: served
 * by sup_metrics_serve. */
SupMetrics *sup_metrics_runner(const char *runner);
/* The Prometheus text of [m] into [b]. */
void sup_metrics_render(const SupMetrics *m, Buf *b);
/* Serve GET /metrics (any path) with [m]'s text on [addr] (HOST:PORT, an
 * IPv4 or IPv6 literal or localhost; PORT 0 picks a free one). NULL with
 * the reason in [why] when it cannot listen. */
typedef struct SupMetricsServer SupMetricsServer;
SupMetricsServer *sup_metrics_serve(uv_loop_t *loop, const char *addr, SupMetrics *m, char *why,
                                    size_t whylen);
/* The port it listens on. */
int sup_metrics_server_port(const SupMetricsServer *s);
/* Stop listening and close every connection; freed once closed. */
void sup_metrics_server_close(SupMetricsServer *s);
/* The batch starts on [loop]: the start time, and a periodic rewrite (an
 * unref'd timer) that reads [pool]'s running count. */
void sup_metrics_start(SupMetrics *m, uv_loop_t *loop, const SupPool *pool);
/* Attempt [job] ended with [o] (from SupHooks.on_done); [retried]: the
 * job runs again, so this was not its last attempt. */
void sup_metrics_attempt(SupMetrics *m, SupJob *job, const SupOutcome *o, bool retried);
/* The batch has ended: the timer closed (its handle is closed on the
 * loop, which must run once more), the final rewrite. */
void sup_metrics_stop(SupMetrics *m);
/* Release [m] (after the loop has closed the timer). */
void sup_metrics_free(SupMetrics *m);

#endif
