/*
 * sandbox.h: the worker's lock-down (docs/sandbox.md; PRODUCT.md "Process
 * model and isolation").
 *
 * wrk_sandbox_apply() runs once, in the worker process, after the job
 * frame is read and the program's files are opened, and before a byte of
 * the program, its imports or its input is read (docs/sandbox.md "When"),
 * while the worker is still single-threaded. It applies, in this order:
 * close every fd except 0, 1, 2, the event fd and the import root and
 * entry file above it, and point fd 2 at /dev/null; the parent-death
 * signal (SIGKILL); for an unprivileged user a user namespace; new PID,
 * network, mount, IPC and UTS namespaces (each one separately, skipped
 * with its errno where the kernel refuses); resource limits (clamped to
 * the inherited hard limits); PR_SET_NO_NEW_PRIVS; Landlock (reading
 * beneath the import root only, no signals outside the worker); the
 * capability bounding set emptied; all capabilities dropped; the seccomp
 * allow-list (default action: kill the process, so a forbidden system
 * call ends the job with SIGSYS), unless the zygote's pool filter is
 * already in force. What was applied and what was skipped (with why) is
 * packed as one msgpack map, the body of the worker's `sandbox` event and
 * the record's "sandbox" field.
 *
 * Invariant: after a successful return the process cannot open files
 * (but for reading beneath the import root, with openat2 relative to it),
 * create processes, use the network, exec or ptrace; only the memory,
 * clock, signal, thread (CLONE_THREAD) and protocol-fd system calls the VM
 * and the worker need remain (the list is in sandbox.c).
 */
#ifndef HARN_WORKER_SANDBOX_H
#define HARN_WORKER_SANDBOX_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

/* Granted directories a worker can hold (IPC_MAX_GRANTS). */
#define WRK_SANDBOX_MAX_GRANTS 8
/* Where the first granted directory sits in a worker (event fd 4 + 3). */
#define WRK_SANDBOX_GRANT_FD 7

typedef struct WrkSandboxConfig {
  int event_fd;            /* the protocol fd kept open (4) */
  uint64_t cpu_ms;         /* RLIMIT_CPU (rounded up to whole s), 0 = none */
  uint64_t address_space;  /* RLIMIT_AS in bytes, 0 = none */
  int root_fd;             /* the program's directory, at event_fd + 1, whose
                              entry file is at event_fd + 2; both are kept
                              open, Landlock lets the worker read files
                              beneath the root and seccomp lets it openat2
                              relative to it (imports); -1 = none */
  int ngrants;             /* granted directories at event_fd + 3 .. (at most
                              IPC_MAX_GRANTS, 8): kept open, one Landlock
                              rule each (docs/sandbox.md "Capabilities") */
  bool grant_write[WRK_SANDBOX_MAX_GRANTS];     /* ... read and write, else read only */
  uint64_t max_write_bytes;/* RLIMIT_FSIZE when a write is granted */
  int job_fd;              /* the job socket, kept open (protocol v3: the
                              host-call channel's answers), -1 = none */
} WrkSandboxConfig;

/* Lock the calling process down as described above and pack the report
 * (a map: no_new_privs, seccomp, seccomp_shared (the pool filter),
 * landlock, capabilities_dropped, rlimits, fds_closed, pdeathsig (bools),
 * namespaces (array of names), namespaces_shared (bool: true when some of
 * them were joined from the zygote, i.e. shared with the other jobs of the
 * same pool), skipped (map name -> reason), limits (map))
 * with [pk]. Returns true when every mandatory protection (no_new_privs,
 * seccomp unless compiled out, rlimits, fds, pdeathsig; in pool mode also
 * Landlock and the dropped capabilities) is in place. */
bool wrk_sandbox_apply(const WrkSandboxConfig *cfg, msgpack_packer *pk);

/* ---- done once per zygote (worker/zygote.c) ------------------------------ */

/* First fd of the zygote's shared namespaces: net, mnt, ipc, uts at
 * WRK_SANDBOX_NS_FD .. WRK_SANDBOX_NS_FD + 3 (CLOEXEC). */
#define WRK_SANDBOX_NS_FD 5

/* In the zygote, before any worker is cloned: create one new network,
 * mount, IPC and UTS namespace each (per kind, where the kernel allows),
 * keep an fd to each at WRK_SANDBOX_NS_FD + k and return the zygote itself
 * to the namespaces it had, so that workers of jobs without the sandbox
 * still run in the host's. Returns how many were created (0 when none,
 * e.g. without CAP_SYS_ADMIN or with HARN_SANDBOX_NO_NAMESPACES set), -1
 * when the zygote could not return to a namespace of its own (it must
 * then not clone workers). The PID namespace is never shared: it is
 * cheap and stays per job. */
int wrk_sandbox_share(void);

/* In the zygote: compile the seccomp allow-list once for event fd
 * [event_fd] into BPF (the worker's pid patched in by wrk_sandbox_apply),
 * so a worker only installs it. Returns 0, or -1 when unavailable (no
 * libseccomp, sanitizer build, export failed): workers then build the
 * filter themselves. */
int wrk_sandbox_precompile(int event_fd);

/* In the zygote of a pool whose jobs are all sandboxed, after its warm-up
 * and instead of wrk_sandbox_share + wrk_sandbox_precompile (docs/sandbox.md
 * "The pool filter"): move the zygote for good into new network, mount and
 * IPC namespaces, set PR_SET_NO_NEW_PRIVS and install the pool filter (for
 * event fd [event_fd] and the zygote's socket [sock]), which every worker
 * it clones inherits, so that a worker attaches no filter of its own; its
 * lock-down adds Landlock and drops the capabilities instead. The pool
 * also gets one PID namespace (its init a child of the zygote) instead of
 * one per worker (wrk_sandbox_pool_pidns). Needs
 * libseccomp, Landlock ABI 6 (signal scoping) and CAP_SYS_ADMIN (checked
 * by a test clone). Returns 0 (pool mode: clone with
 * wrk_sandbox_clone_flags()), -1 when unavailable and nothing changed
 * (use the per-job way), -2 when the filter could not be installed after
 * the namespaces were entered (the zygote must exit). */
int wrk_sandbox_pool_enter(int event_fd, int sock);

/* Extra clone flags for the zygote's workers: CLONE_NEWUTS in pool mode
 * (the pool filter allows no other process clone), else 0. */
unsigned long wrk_sandbox_clone_flags(void);

/* True when the zygote's workers are created in the pool's own PID
 * namespace (pool mode): their parent, the supervisor, is outside it, so
 * getppid() returns 0 while it lives (1, the namespace's init, once it is
 * gone), and getpid() is their pid inside it. */
bool wrk_sandbox_pool_pidns(void);

/* In a worker, once its job is known and while it is single-threaded
 * (before wrk_sandbox_apply): with [sandbox], join the namespaces the
 * zygote shared (wrk_sandbox_apply then reports them with
 * "namespaces_shared": true instead of creating its own); either way close
 * their fds. No-op in a worker that was not cloned by a zygote. */
void wrk_sandbox_enter_shared(bool sandbox);

#ifdef HARN_TEST_HOOKS
/* Test-only, compiled in only with HARN_TEST_HOOKS (the worker calls it
 * when HARN_TEST_FORBIDDEN_SYSCALL is set, after sending its `sandbox`
 * event): make the forbidden system call
 * [what] ("socket", "fork", "exec", "read_stderr", "setpgid" (into
 * another group), "pdeathsig" (clear it), "rlimit_stack" (set a limit the
 * lock-down does not set), anything else = openat of
 * /etc/passwd). Under the filter the process dies of SIGSYS; it returns
 * only when the call was allowed (no sandbox), and the test then fails.
 * "open_noctty", "reopen_stderr" (/proc/self/fd/2), "kill_other"
 * (SIGCONT to pid 1), "clone_newuts" and "unshare_pid" are calls
 * the pool filter lets through in some form: when refused the worker
 * exits with the errno (99 when the call was allowed). "oom" instead
 * allocates until RLIMIT_AS refuses, then aborts as the VM does on a failed
 * malloc (the kernel-limit path: reason `oom`). The capability probes
 * (docs/sandbox.md "Capabilities"): "opath" (openat O_PATH on the first
 * grant), "link" (linkat within it), "unlink_cwd" (unlinkat AT_FDCWD) are
 * killed by the filter; "grant_escape" (openat2 of /etc/passwd through the
 * first grant's fd, without RESOLVE_BENEATH) and "grant_create" (creating
 * a file in it) are refused by Landlock: the worker exits with the errno
 * (99 when allowed). "environ": exit with the number of variables in
 * the worker's real environment (0 under the sandbox). */
void wrk_sandbox_forbidden_syscall(const char *what);
#endif

/* Exit code of a worker that died of a failed allocation under its
 * RLIMIT_AS (the supervisor reports reason `oom`). */
#define WRK_EXIT_OOM 102

#endif
