/*
 * worker.h: `harn worker`, the process that runs one job for the
 * supervisor (docs/RUNTIME.md 5.1, 5.6 "Worker", 9; docs/protocol.md).
 *
 * The worker reads exactly one `job` frame from fd 3 (IPC_JOB_FD), runs the
 * program in one VM and writes event frames to fd 4 (IPC_EVENT_FD):
 * `started`, then `output` chunks / `step` / `emit` / `lifecycle` as they
 * happen, then exactly one `final`, and exits 0. Its stdin, stdout and
 * stderr are not part of the protocol (stderr carries only the worker's own
 * complaints about a broken protocol).
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are recorded (first signal and its
 * arrival time) and forwarded to the VM with vm_interrupt(); SIGPIPE is
 * ignored. The supervisor blocks the three before exec; the worker unblocks
 * them only after its handlers are installed, so an early signal is neither
 * lost nor fatal.
 */
#ifndef HARN_WORKER_H
#define HARN_WORKER_H

#include <stdbool.h>

/* Exit codes of `harn worker` (a final frame was sent only with 0). */
#define WRK_EXIT_OK 0         /* the final frame was written */
#define WRK_EXIT_USAGE 100    /* bad arguments, or fd 3 / fd 4 not open */
#define WRK_EXIT_PROTOCOL 76  /* malformed job frame, wrong protocol
                                 version, or EOF before a job (EX_PROTOCOL) */
#define WRK_EXIT_IO 111       /* writing to fd 4 failed (supervisor gone) */

/* Entry point of `harn worker [--job-fd N] [--event-fd N]` ([argv][0] is
 * "worker"; the fd options exist for tests and default to 3 and 4), and of
 * `harn worker --zygote` (wrk_zygote_main on WRK_ZYGOTE_FD).
 * Returns the process exit code (one of WRK_EXIT_*). */
int wrk_main(int argc, char **argv);

/* Run one trivial job in this process, with nothing read or written: the
 * zygote calls it once before it serves, so that the allocator's caches
 * (jemalloc's thread cache bins, slabs and extents for every size a job
 * uses) are already filled in the workers it clones, which then skip
 * jemalloc's slow first-use paths. No signal handler, timer, thread or fd
 * is left behind. */
void wrk_warm_up(void);

/* Install the worker's handlers for SIGTERM, SIGINT, SIGHUP (they only set
 * flags the VM polls), and ignore SIGPIPE. wrk_main does it, except in a
 * spare: the zygote did it once, and a clone inherits handlers. */
void wrk_install_signals(void);

/* ---- the zygote (worker/zygote.c) -------------------------------------- */

/* `harn worker --zygote`: a fork server for the supervisor. It reads spawn
 * requests from the SOCK_SEQPACKET socket [sock] (normally fd
 * WRK_ZYGOTE_FD): one WrkZygoteReq with exactly two fds attached
 * (SCM_RIGHTS): the new worker's job pipe read end, then its event pipe
 * write end. For each it clones a worker whose parent is the zygote's
 * parent (CLONE_PARENT: the supervisor), with those fds as 3 and 4, and
 * replies one int32: the pid, or -errno. Returns WRK_EXIT_OK at EOF on the
 * socket, WRK_EXIT_USAGE when [sock] is not such a socket. */
#define WRK_ZYGOTE_FD 3
#define WRK_ZYGOTE_MAGIC 0x4841524eu /* "HARN" */
typedef struct WrkZygoteReq {
  unsigned magic; /* WRK_ZYGOTE_MAGIC */
} WrkZygoteReq;
int wrk_zygote_main(int sock, bool sandboxed);

#endif
