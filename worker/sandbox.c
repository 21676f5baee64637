/*
 * sandbox.c: the worker's lock-down (sandbox.h, docs/sandbox.md).
 *
 * Order (each step is independent; a failure is recorded under "skipped"
 * with its errno name and the next step still runs). It runs before the
 * program is read (docs/sandbox.md "When"):
 *   1. fds: close_range(3, ~0) except the job socket at fd 3 (protocol v3:
 *      the host-call channel; seccomp's read rule for fds >= 3 covers it),
 *      the event fd and, with a program
 *      file, the import root and the entry right above it (fds 0 and 1 are
 *      /dev/null, 2 the supervisor's stderr, then pointed at /dev/null too
 *      so that nothing can write to an inherited file under RLIMIT_FSIZE 0);
 *   2. PR_SET_PDEATHSIG = SIGKILL (again: a zygote child already has it,
 *      a fork+exec worker too; cheap, and it makes the record honest);
 *   3. namespaces, one unshare() each: pid, net, mnt, ipc, uts. As root
 *      they all work; without CAP_SYS_ADMIN each fails with EPERM and is
 *      skipped. A new PID namespace applies to children only (the worker
 *      keeps its pid): with seccomp forbidding fork it is a second wall.
 *      A worker cloned by the zygote instead joins (setns, before its
 *      output thread exists) the net, mnt, ipc and uts namespaces the
 *      zygote made once (wrk_sandbox_share; fds WRK_SANDBOX_NS_FD..+3,
 *      inherited with the shared_fd array) and only unshares pid; the
 *      record then says "namespaces_shared": true (docs/sandbox.md);
 *      An unprivileged worker first unshares a user namespace (uid and
 *      gid mapped to themselves), which gives it the capabilities the
 *      other five need (bubblewrap's way);
 *   4. rlimits (each clamped to the inherited hard limit, reported under
 *      "skipped" when it was): RLIMIT_CORE 0, RLIMIT_FSIZE 0 (SIGXFSZ
 *      ignored), RLIMIT_NOFILE 16, RLIMIT_CPU
 *      (soft = the job's cpu limit rounded up to seconds, hard = soft + 1:
 *      SIGXCPU, then SIGKILL), RLIMIT_AS (the job's address space).
 *      RLIMIT_NPROC is not set: it counts every process of the uid (the
 *      supervisor's own included) and would also refuse the output
 *      thread; seccomp's ban on fork/vfork/clone-without-CLONE_THREAD
 *      gives the guarantee instead (reported under "skipped");
 *   5. PR_SET_NO_NEW_PRIVS;
 *   6. Landlock: every filesystem right, TCP bind/connect and (ABI 6)
 *      signals and abstract sockets outside the worker handled; one rule:
 *      reading beneath the import root;
 *   7. the capability bounding set emptied (PR_CAPBSET_DROP), then every
 *      capability dropped (capset);
 *   8. seccomp (libseccomp, HARN_HAVE_SECCOMP), default SCMP_ACT_KILL_PROCESS,
 *      allow-list below. clone3 returns ENOSYS (its flags live in memory,
 *      which a filter cannot inspect) so glibc falls back to clone, which is
 *      allowed only with CLONE_THREAD. ioctl returns ENOTTY (isatty probes).
 *      The zygote exports the filter once as BPF (wrk_sandbox_precompile)
 *      with PID_SENTINEL for the worker's pid; a worker patches its pid in
 *      and installs it with seccomp(SECCOMP_FILTER_FLAG_TSYNC), so every
 *      thread (the output flusher too) is filtered. Without that (fork+exec, first
 *      worker) the filter is built and loaded with libseccomp per process.
 *
 * Pool mode (wrk_sandbox_pool_enter, docs/sandbox.md "The pool filter"):
 * the zygote of a pool of sandboxed jobs installs once a wider filter that
 * its clones inherit, so step 8 costs nothing; each addition is narrowed
 * to what steps 6 and 7 make harmless, which is why they are mandatory in
 * this mode. The zygote lives in the shared net, mnt and ipc namespaces,
 * makes one PID namespace for the pool (its init: pidns_init), and clones
 * each worker into it with CLONE_NEWUTS (the only process clone the pool
 * filter allows: it needs CAP_SYS_ADMIN, which step 7 removes).
 *
 * Sanitizer builds: AddressSanitizer reserves terabytes of shadow memory
 * (RLIMIT_AS would break it) and its reports open files and read /proc, so
 * seccomp, RLIMIT_AS and RLIMIT_FSIZE (ASan writes warnings to the
 * inherited fd 2) are compiled out there (HARN_SANDBOX_SANITIZER) and
 * reported as skipped with reason "sanitizer build".
 *
 * Out-of-memory under RLIMIT_AS: the VM aborts when malloc fails. With an
 * address-space limit a one-shot handler for SIGABRT/SIGSEGV/SIGBUS probes
 * whether an anonymous mapping of 1/8 of the limit still fits; when it does
 * not, the address space is exhausted and the worker exits WRK_EXIT_OOM
 * (the supervisor's reason `oom`); otherwise the signal takes its default
 * action (the handler is SA_RESETHAND).
 */
#define _GNU_SOURCE
#include "worker/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HARN_HAVE_SECCOMP
#include <seccomp.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HARN_SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARN_SANDBOX_SANITIZER 1
#endif
#endif

#define MAX_SKIPPED 16
#define NOFILE_LIMIT 16

typedef struct Report {
  bool no_new_privs, seccomp, rlimits, fds_closed, pdeathsig;
  bool landlock, caps_dropped, seccomp_shared, bounding_set;
  bool import_root;  /* Landlock lets the worker read beneath the root */
  int grants;        /* Landlock rules for granted directories */
  const char *ns[6];
  int nns;
  bool shared;  /* some namespaces are the zygote's, shared by its workers */
  struct { const char *what, *why; } skipped[MAX_SKIPPED];
  int nskipped;
  /* the limits in force (after clamping to inherited hard limits) */
  uint64_t cpu_s, address_space, nofile;
} Report;

static void skip(Report *r, const char *what, const char *why)
{
  if (r->nskipped < MAX_SKIPPED) {
    r->skipped[r->nskipped].what = what;
    r->skipped[r->nskipped].why = why;
    r->nskipped++;
  }
}

static const char *errno_name(int e)
{
  switch (e) {
  case EPERM: return "EPERM";
  case EINVAL: return "EINVAL";
  case ENOMEM: return "ENOMEM";
  case ENOSPC: return "ENOSPC";
  case EUSERS: return "EUSERS";
  case ENOSYS: return "ENOSYS";
  case EACCES: return "EACCES";
  case EFAULT: return "EFAULT";
  case EBUSY: return "EBUSY";
  default: return "error";
  }
}

/* ---- out of memory ------------------------------------------------------- */

static size_t oom_probe;

static void on_fatal(int signo)
{
  void *p = mmap(NULL, oom_probe, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) _exit(WRK_EXIT_OOM);
  munmap(p, oom_probe);
  /* SA_RESETHAND: returning re-raises with the default action (abort()
   * raises again, a fault faults again). */
}

static void install_oom_handler(uint64_t as) __attribute__((unused));
static void install_oom_handler(uint64_t as)
{
  oom_probe = (size_t)(as / 8);
  if (oom_probe < (1u << 20)) oom_probe = 1u << 20;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigaction(SIGABRT, &sa, NULL);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
}

/* ---- steps ------------------------------------------------------------------ */

/* Close every fd but 0, 1, 2, the event fd and, with an import root, the
 * root and the entry file right above it. Then point fd 2 at /dev/null
 * (fd 0): under RLIMIT_FSIZE 0 a write to an inherited stderr that is a
 * file would kill the worker with SIGXFSZ (glibc's and the allocator's
 * last words on a failed allocation, say), and what the worker has to say
 * goes in its frames. Sanitizer builds keep fd 2 for their reports. */
static void close_fds(const WrkSandboxConfig *cfg, Report *r)
{
  int ev = cfg->event_fd;
  /* kept: ev; ev+1, ev+2 with a program; ev+3 .. with grants */
  unsigned last = (unsigned)ev + (cfg->ngrants > 0 ? 2u + (unsigned)cfg->ngrants
                                                   : cfg->root_fd >= 0 ? 2u : 0u);
  bool ok = true;
  /* the job socket (v3: the host-call channel) is kept when it sits below
   * the event fd (fd 3, the protocol's layout) */
  unsigned lo = cfg->job_fd == 3 ? 4u : 3u;
#ifdef SYS_close_range
  if ((unsigned)ev > lo && syscall(SYS_close_range, lo, (unsigned)ev - 1, 0u) != 0) ok = false;
  if (ok && cfg->root_fd < 0 && cfg->ngrants > 0 &&
      syscall(SYS_close_range, (unsigned)ev + 1, (unsigned)ev + 2, 0u) != 0)
    ok = false;
  if (ok && syscall(SYS_close_range, last + 1, ~0u, 0u) != 0) ok = false;
#else
  for (int fd = 3; fd < 1024; fd++)
    if (fd != cfg->job_fd && (fd < ev || fd > (int)last || (cfg->root_fd < 0 && fd > ev && fd <= ev + 2)))
      close(fd);
#endif
  if (ev < 3) ok = false; /* not a protocol layout we know */
#ifndef HARN_SANDBOX_SANITIZER
  if (ok && dup2(0, 2) != 2) ok = false;
#endif
  r->fds_closed = ok;
  if (!ok) skip(r, "fds", errno_name(errno));
}

/* ---- namespaces ------------------------------------------------------------ */

static const struct { int flag; const char *name; } NS[] = {
  {CLONE_NEWPID, "pid"}, {CLONE_NEWNET, "net"}, {CLONE_NEWNS, "mnt"},
  {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"},
};
#define NNS ((int)(sizeof NS / sizeof NS[0]))

/* The zygote's shared namespaces (wrk_sandbox_share): fds at
 * WRK_SANDBOX_NS_FD + i for NS[i] (i >= 1; pid is never shared), -1 where
 * none. A clone child inherits this array and the fds; entered[i] is set
 * once wrk_sandbox_enter_shared() has joined NS[i]. */
static int shared_fd[sizeof NS / sizeof NS[0]] = {-1, -1, -1, -1, -1};
static bool entered[sizeof NS / sizeof NS[0]];

/* Pool mode (wrk_sandbox_pool_enter, in the zygote; every clone inherits
 * these): the zygote lives in the namespaces it made (pool_ns[i]), its
 * clones get their own UTS namespace (CLONE_NEWUTS) and the seccomp pool
 * filter is already in force. */
static bool pool_mode;
static bool pool_ns[sizeof NS / sizeof NS[0]];

static bool namespaces_off(void)
{
  const char *off = getenv("HARN_SANDBOX_NO_NAMESPACES"); /* tests, benchmarks */
  return off && *off && strcmp(off, "0");
}

int wrk_sandbox_share(void)
{
  if (namespaces_off()) return 0;
  int host[sizeof NS / sizeof NS[0]], made[sizeof NS / sizeof NS[0]], n = 0;
  for (int i = 0; i < NNS; i++) host[i] = made[i] = -1;
  char path[64];
  for (int i = 1; i < NNS; i++) {
    snprintf(path, sizeof path, "/proc/self/ns/%s", NS[i].name);
    host[i] = open(path, O_RDONLY | O_CLOEXEC);
  }
  /* Joining a mount namespace resets root and cwd: keep them to restore. */
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  /* One at a time: a kernel that refuses one still gives the others. */
  for (int i = 1; i < NNS; i++) {
    if (host[i] < 0 || unshare(NS[i].flag) != 0) continue;
    snprintf(path, sizeof path, "/proc/self/ns/%s", NS[i].name);
    made[i] = open(path, O_RDONLY | O_CLOEXEC);
    /* back to the host's: the zygote itself, and the workers of jobs
     * without the sandbox, stay in the host namespaces */
    if (setns(host[i], NS[i].flag) != 0) {
      /* cannot go back: the zygote must not stay in a namespace its
       * unsandboxed workers would inherit */
      if (made[i] >= 0) close(made[i]);
      if (root >= 0) close(root);
      if (cwd >= 0) close(cwd);
      for (int k = 0; k < NNS; k++) {
        if (host[k] >= 0) close(host[k]);
        if (k != i && made[k] >= 0) close(made[k]);
      }
      return -1;
    }
  }
  if (made[2] >= 0) {
    bool ok = root >= 0 && cwd >= 0 && fchdir(root) == 0 && chroot(".") == 0 && fchdir(cwd) == 0;
    if (!ok) {
      for (int k = 0; k < NNS; k++) {
        if (host[k] >= 0) close(host[k]);
        if (made[k] >= 0) close(made[k]);
      }
      if (root >= 0) close(root);
      if (cwd >= 0) close(cwd);
      return -1;
    }
  }
  if (root >= 0) close(root);
  if (cwd >= 0) close(cwd);
  /* Lift every new fd above the targets first, so that placing one can
   * never clobber another (or a host fd). */
  for (int i = 1; i < NNS; i++) {
    if (host[i] >= 0) close(host[i]);
    if (made[i] < 0) continue;
    int hi = fcntl(made[i], F_DUPFD_CLOEXEC, WRK_SANDBOX_NS_FD + NNS);
    close(made[i]);
    made[i] = hi;
  }
  for (int i = 1; i < NNS; i++) {
    if (made[i] < 0) continue;
    int fd = WRK_SANDBOX_NS_FD + i - 1;
    if (dup3(made[i], fd, O_CLOEXEC) == fd) {
      shared_fd[i] = fd;
      n++;
    }
    close(made[i]);
  }
  return n;
}

void wrk_sandbox_enter_shared(bool sandbox)
{
  for (int i = 0; i < NNS; i++) {
    if (shared_fd[i] < 0) continue;
    if (sandbox && setns(shared_fd[i], NS[i].flag) == 0) entered[i] = true;
    close(shared_fd[i]);
    shared_fd[i] = -1;
  }
}

/* Write [text] to the /proc file [path]; true on success. */
static bool write_proc(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = strlen(text);
  bool ok = write(fd, text, n) == (ssize_t)n;
  close(fd);
  return ok;
}

/* For a user without CAP_SYS_ADMIN, as bubblewrap does: a user namespace
 * of our own, with our uid and gid mapped to themselves, in which the
 * worker holds the capabilities that unsharing the other namespaces
 * takes (and that the lock-down then drops). Single-threaded only. */
static bool user_namespace(Report *r)
{
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER) != 0) {
    skip(r, "user", errno_name(errno));
    return false;
  }
  char map[64];
  bool ok = write_proc("/proc/self/setgroups", "deny");
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
  ok = write_proc("/proc/self/uid_map", map) && ok;
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
  ok = write_proc("/proc/self/gid_map", map) && ok;
  if (!ok) skip(r, "user", "uid_map");
  r->ns[r->nns++] = "user";
  return true;
}

static void namespaces(Report *r)
{
  bool off = namespaces_off();
  /* Without privilege, the others need a user namespace first (none of
   * them was joined from the zygote: it could not make them either). */
  if (!off && !pool_mode && geteuid() != 0) {
    bool joined = false;
    for (int i = 0; i < NNS; i++) joined = joined || entered[i];
    if (!joined) user_namespace(r);
  }
  for (int i = 0; i < NNS; i++) {
    if (pool_mode && NS[i].flag == CLONE_NEWUTS) {
      r->ns[r->nns++] = NS[i].name; /* its own: the zygote's clone made it */
      continue;
    }
    if (entered[i] || pool_ns[i]) {
      r->ns[r->nns++] = NS[i].name;
      r->shared = true;
      continue;
    }
    if (pool_mode && NS[i].flag != CLONE_NEWPID) {
      skip(r, NS[i].name, "the zygote could not make it"); /* the pool filter forbids unshare */
      continue;
    }
    if (off) {
      skip(r, NS[i].name, "disabled");
      continue;
    }
    if (unshare(NS[i].flag) == 0) r->ns[r->nns++] = NS[i].name;
    else skip(r, NS[i].name, errno_name(errno));
  }
}

/* Set [res] to [soft]/[hard], both lowered to the inherited hard limit
 * when that is lower (a hard limit can only go down without
 * CAP_SYS_RESOURCE: `ulimit -v` in the supervisor's shell would otherwise
 * fail every sandboxed job), which is then reported under "skipped" as
 * [name]. *applied gets the soft limit in force. */
static bool set_limit(Report *r, const char *name, int res, rlim_t soft, rlim_t hard,
                      uint64_t *applied)
{
  struct rlimit cur;
  if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && hard > cur.rlim_max) {
    hard = cur.rlim_max;
    if (soft > hard) soft = hard;
    skip(r, name, "clamped to the inherited hard limit");
  }
  if (applied) *applied = (uint64_t)soft;
  struct rlimit rl = {soft, hard};
  return setrlimit(res, &rl) == 0;
}

static void rlimits(const WrkSandboxConfig *cfg, Report *r)
{
  bool ok = set_limit(r, "rlimit_core", RLIMIT_CORE, 0, 0, NULL);
#ifdef HARN_SANDBOX_SANITIZER
  /* ASan writes its own warnings (e.g. about swapcontext) to the inherited
   * fd 2, which may be a file: RLIMIT_FSIZE 0 would kill it with SIGXFSZ */
  skip(r, "rlimit_fsize", "sanitizer build");
#else
  /* no file may grow, but under a write grant (--max-write-bytes per
   * file; the VM also counts the total) */
  rlim_t fsize = 0;
  for (int i = 0; i < cfg->ngrants; i++)
    if (cfg->grant_write[i]) fsize = cfg->max_write_bytes ? (rlim_t)cfg->max_write_bytes : RLIM_INFINITY;
  ok = set_limit(r, "rlimit_fsize", RLIMIT_FSIZE, fsize, fsize, NULL) && ok;
  /* a write past it fails with EFBIG instead of killing the worker */
  signal(SIGXFSZ, SIG_IGN);
#endif
  rlim_t nofile = NOFILE_LIMIT + (rlim_t)cfg->ngrants; /* the grants sit at 7.. */
  ok = set_limit(r, "rlimit_nofile", RLIMIT_NOFILE, nofile, nofile, &r->nofile) && ok;
  if (cfg->cpu_ms) {
    rlim_t s = (rlim_t)((cfg->cpu_ms + 999) / 1000);
    ok = set_limit(r, "rlimit_cpu", RLIMIT_CPU, s, s + 1, &r->cpu_s) && ok;
  }
  if (cfg->address_space) {
#ifdef HARN_SANDBOX_SANITIZER
    skip(r, "rlimit_as", "sanitizer build");
#else
    ok = set_limit(r, "rlimit_as", RLIMIT_AS, (rlim_t)cfg->address_space,
                   (rlim_t)cfg->address_space, &r->address_space) && ok;
    install_oom_handler(r->address_space);
#endif
  }
  skip(r, "rlimit_nproc", "per-uid count; fork is denied by seccomp instead");
  r->rlimits = ok;
  if (!ok) skip(r, "rlimits", errno_name(errno));
}

/* ---- Landlock and capabilities ----------------------------------------- */

/* Landlock's system calls have the same numbers on every architecture;
 * Debian 12's headers predate some of its constants. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_WRITE_FILE (1ull << 1)
#define LL_READ_FILE (1ull << 2)
#define LL_READ_DIR (1ull << 3)
#define LL_REMOVE_DIR (1ull << 4)
#define LL_REMOVE_FILE (1ull << 5)
#define LL_MAKE_DIR (1ull << 7)
#define LL_MAKE_REG (1ull << 8)
#define LL_REFER (1ull << 13)
#define LL_TRUNCATE (1ull << 14)

/* The running kernel's Landlock ABI version, or -1. */
static int landlock_abi(void) __attribute__((unused));
static int landlock_abi(void)
{
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  return v < 0 ? -1 : (int)v;
}

/* Forbid every filesystem access (open, create, exec, ...), TCP bind and
 * connect, and (ABI 6) signals and abstract Unix sockets outside this
 * process's own Landlock domain: no rule allows anything. Files already
 * open stay usable. Needs PR_SET_NO_NEW_PRIVS (or CAP_SYS_ADMIN). */
static void landlock(const WrkSandboxConfig *cfg, Report *r)
{
#ifdef HARN_SANDBOX_SANITIZER
  /* AddressSanitizer opens files for its reports */
  skip(r, "landlock", "sanitizer build");
#else
  int abi = landlock_abi();
  if (abi < 1) {
    skip(r, "landlock", errno_name(errno));
    return;
  }
  struct {
    uint64_t fs, net, scoped;
  } attr = {(1ull << 13) - 1, 0, 0}; /* ABI 1: execute .. make_sym */
  size_t size = sizeof attr.fs;
  if (abi >= 2) attr.fs |= 1ull << 13;       /* refer */
  if (abi >= 3) attr.fs |= 1ull << 14;       /* truncate */
  if (abi >= 5) attr.fs |= 1ull << 15;       /* ioctl_dev */
  if (abi >= 4) attr.net = 3, size += 8;     /* bind_tcp, connect_tcp */
  if (abi >= 6) attr.scoped = 3, size += 8;  /* abstract_unix_socket, signal */
  int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0u);
  /* The one thing allowed: reading files and listing directories beneath
   * the program's directory (imports; docs/sandbox.md "Imports"). */
  if (fd >= 0 && cfg->root_fd >= 0) {
    struct {
      uint64_t allowed_access;
      int32_t parent_fd;
    } __attribute__((packed)) beneath = {LL_READ_FILE | LL_READ_DIR, cfg->root_fd};
    r->import_root = syscall(SYS_landlock_add_rule, fd, LL_RULE_PATH_BENEATH, &beneath, 0u) == 0;
    if (!r->import_root) skip(r, "landlock_import_root", errno_name(errno));
  }
  /* One rule per granted directory (docs/sandbox.md "Capabilities"):
   * reading beneath it, and for a write grant creating regular files and
   * directories, writing, truncating, removing and renaming there; never
   * symlinks, devices, fifos, sockets or execution. */
  for (int i = 0; fd >= 0 && i < cfg->ngrants; i++) {
    uint64_t rights = LL_READ_FILE | LL_READ_DIR;
    if (cfg->grant_write[i]) {
      rights |= LL_WRITE_FILE | LL_REMOVE_DIR | LL_REMOVE_FILE | LL_MAKE_DIR | LL_MAKE_REG;
      if (abi >= 2) rights |= LL_REFER;
      if (abi >= 3) rights |= LL_TRUNCATE;
    }
    struct {
      uint64_t allowed_access;
      int32_t parent_fd;
    } __attribute__((packed)) beneath = {rights, cfg->event_fd + 3 + i};
    if (syscall(SYS_landlock_add_rule, fd, LL_RULE_PATH_BENEATH, &beneath, 0u) == 0) r->grants++;
    else skip(r, "landlock_grant", errno_name(errno));
  }
  r->landlock = fd >= 0 && syscall(SYS_landlock_restrict_self, fd, 0u) == 0;
  if (!r->landlock) skip(r, "landlock", errno_name(errno));
  if (fd >= 0) close(fd);
#endif
}

/* Empty the capability bounding set (needs CAP_SETPCAP, so before
 * drop_caps): nothing the worker could exec would regain a capability. */
static void drop_bounding_set(Report *r)
{
  int last = 0;
  while (last < 64 && prctl(PR_CAPBSET_READ, (unsigned long)last + 1, 0, 0, 0) >= 0) last++;
  bool ok = true;
  for (int c = 0; c <= last; c++)
    if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) != 0) ok = false;
  r->bounding_set = ok;
  if (!ok) skip(r, "capability_bounding_set", errno_name(errno));
}

/* Drop every capability (effective, permitted, inheritable). Root keeps
 * its uid but no privilege: no new namespaces, no raised limits, no
 * CAP_SYS_ADMIN clone. */
static void drop_caps(Report *r)
{
  struct {
    uint32_t version;
    int pid;
  } hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2];
  memset(data, 0, sizeof data);
  r->caps_dropped = syscall(SYS_capset, &hdr, data) == 0;
  if (!r->caps_dropped) skip(r, "capabilities", errno_name(errno));
}

#ifdef HARN_HAVE_SECCOMP
/* Add one rule; a system call this architecture does not have (negative
 * number from seccomp_syscall_resolve_name) is ignored. */
static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                const struct scmp_arg_cmp *args)
{
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) return 0;
  return seccomp_rule_add_array(ctx, action, nr, n, args);
}

#define ALLOW(name) rc |= rule(ctx, SCMP_ACT_ALLOW, name, 0, NULL)
#define ALLOW_IF(name, ...)                                                    \
  do {                                                                         \
    struct scmp_arg_cmp a_[] = {__VA_ARGS__};                                  \
    rc |= rule(ctx, SCMP_ACT_ALLOW, name, sizeof a_ / sizeof a_[0], a_);       \
  } while (0)

/* The allow-list for a worker whose event fd is [event_fd] and whose pid
 * (as it sees itself) is [self]; NULL when a rule is rejected.
 *
 * With [pool_sock] >= 0 it is instead the pool filter, installed once in
 * a sandboxed pool's zygote (socket [pool_sock]) and inherited by every
 * worker it clones: the same list, plus what the zygote and a worker
 * before its lock-down need, each narrowed to a form that is harmless
 * once the lock-down has dropped the capabilities and applied Landlock
 * (docs/sandbox.md "The pool filter" argues each one). [self] is unused:
 * signals are confined by Landlock's signal scope instead. */
static scmp_filter_ctx build_filter(int event_fd, pid_t self, int pool_sock) __attribute__((unused));
static scmp_filter_ctx build_filter(int event_fd, pid_t self, int pool_sock)
{
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) return NULL;
  /* A binary tree of system call numbers instead of a linear list: the
   * kernel runs the program for every system call number when it attaches
   * the filter (its action cache), so its length is most of the cost. */
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  /* memory: no executable mappings */
  ALLOW("brk");
  ALLOW_IF("mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  ALLOW_IF("mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  ALLOW("munmap");
  ALLOW("mremap");
  ALLOW("madvise");
  /* time */
  ALLOW("clock_gettime");
  ALLOW("clock_getres");
  ALLOW("gettimeofday");
  ALLOW("time");
  ALLOW("nanosleep");
  ALLOW("clock_nanosleep");
  ALLOW("timer_create");
  ALLOW("timer_settime");
  ALLOW("timer_gettime");
  ALLOW("timer_getoverrun");
  ALLOW("timer_delete");
  ALLOW("restart_syscall");
  /* the protocol fds: read 0 (/dev/null), write 1 and 2 (/dev/null, the
   * supervisor's stderr) and the event fd */
  ALLOW_IF("read", SCMP_A0(SCMP_CMP_EQ, 0));
  /* imports: openat2 beneath the program's directory (event_fd + 1; the
   * VM passes RESOLVE_BENEATH, and Landlock allows reading beneath that
   * directory only), and reading the module files it opens */
  ALLOW_IF("openat2", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)event_fd + 1));
  ALLOW_IF("read", SCMP_A0(SCMP_CMP_GE, 3));
  /* The file builtins (docs/sandbox.md "Capabilities"): the granted
   * directories sit at event_fd + 3 .. + 10, and every call that takes a
   * path takes it relative to one of them, compared by exact value (a
   * range would let AT_FDCWD, -100, through as a large unsigned number):
   * openat2 (RESOLVE_BENEATH), mkdirat, unlinkat, renameat2 within one
   * grant. Landlock decides what each grant allows; plain openat (and
   * with it O_PATH) stays forbidden. Writing is allowed on every fd from 3
   * up: after the lock-down those are the event pipe, read-only or
   * directory descriptors, and files opened through Landlock. */
  for (int g = 0; g < WRK_SANDBOX_MAX_GRANTS; g++) {
    scmp_datum_t gfd = (scmp_datum_t)event_fd + 3 + (scmp_datum_t)g;
    ALLOW_IF("openat2", SCMP_A0(SCMP_CMP_EQ, gfd));
    ALLOW_IF("mkdirat", SCMP_A0(SCMP_CMP_EQ, gfd));
    ALLOW_IF("unlinkat", SCMP_A0(SCMP_CMP_EQ, gfd));
    ALLOW_IF("renameat2", SCMP_A0(SCMP_CMP_EQ, gfd), SCMP_A2(SCMP_CMP_EQ, gfd));
  }
  ALLOW("getdents64");
  ALLOW("lseek");
  static const char *const writes[] = {"write", "writev"};
  for (int i = 0; i < 2; i++) {
    ALLOW_IF(writes[i], SCMP_A0(SCMP_CMP_EQ, 1));
    ALLOW_IF(writes[i], SCMP_A0(SCMP_CMP_EQ, 2));
    ALLOW_IF(writes[i], SCMP_A0(SCMP_CMP_GE, 3));
  }
  ALLOW("close");
  ALLOW("fstat");
  ALLOW_IF("newfstatat", SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
  ALLOW("poll");
  ALLOW("ppoll");
  ALLOW("epoll_wait");
  ALLOW("epoll_pwait");
  /* signals: only to ourselves */
  ALLOW("rt_sigaction");
  ALLOW("rt_sigprocmask");
  ALLOW("rt_sigreturn");
  ALLOW("sigaltstack");
  if (pool_sock < 0) {
    ALLOW_IF("kill", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
    ALLOW_IF("tgkill", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
  } else {
    ALLOW("kill");   /* Landlock: only within the worker's own domain */
    ALLOW("tgkill");
  }
  /* threads (the output flusher) and their synchronisation */
  ALLOW_IF("clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
  rc |= rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
  ALLOW("futex");
  ALLOW("set_robust_list");
  ALLOW("rseq");
  ALLOW("sched_yield");
  ALLOW("gettid");
  ALLOW("getpid");
  ALLOW("getppid");
  ALLOW("getrandom");
  ALLOW("getrusage");
  ALLOW_IF("prlimit64", SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0));
  ALLOW("getrlimit");
  ALLOW("exit");
  ALLOW("exit_group");
  rc |= rule(ctx, SCMP_ACT_ERRNO(ENOTTY), "ioctl", 0, NULL);
  if (pool_sock >= 0) {
    /* the zygote: requests, and clones that make a UTS namespace (which
     * takes CAP_SYS_ADMIN: a worker has none after its lock-down) */
    ALLOW_IF("recvmsg", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pool_sock));
    /* a spare's job and its granted directories (protocol v3: the job
     * channel is a socket); after the lock-down fd 3 is closed, and what
     * lands there later is a file (ENOTSOCK) */
    ALLOW_IF("recvmsg", SCMP_A0(SCMP_CMP_EQ, 3));
    ALLOW_IF("sendto", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pool_sock));
    ALLOW_IF("clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUTS | CLONE_NEWUSER | CLONE_THREAD,
                              CLONE_NEWUTS));
    /* a new worker: its group, parent-death signal, name, fds */
    ALLOW_IF("setpgid", SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A1(SCMP_CMP_EQ, 0));
    ALLOW("getpgrp");
    ALLOW_IF("prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG), SCMP_A1(SCMP_CMP_EQ, SIGKILL));
    ALLOW_IF("prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
    ALLOW_IF("prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS), SCMP_A1(SCMP_CMP_EQ, 1));
    ALLOW("close_range");
    /* placing the program's fds (worker.c open_program) and fd 2 on
     * /dev/null (close_fds): moving fds the process holds already */
    ALLOW("dup2");
    ALLOW("dup3");
    ALLOW_IF("fcntl", SCMP_A1(SCMP_CMP_EQ, F_DUPFD_CLOEXEC));
    /* the bounding set: read, and dropped (only ever less privilege) */
    ALLOW_IF("prctl", SCMP_A0(SCMP_CMP_EQ, PR_CAPBSET_READ));
    ALLOW_IF("prctl", SCMP_A0(SCMP_CMP_EQ, PR_CAPBSET_DROP));
    /* reading its job (fd 3) and its files: read-only opens marked
     * O_NOCTTY (vm/import.c, vm/module.c), which Landlock refuses after the
     * lock-down; any other open still kills */
    ALLOW_IF("read", SCMP_A0(SCMP_CMP_GE, 3));
    ALLOW_IF("openat", SCMP_A2(SCMP_CMP_MASKED_EQ,
                               O_ACCMODE | O_NOCTTY | O_PATH | O_CREAT | O_TRUNC | O_APPEND |
                                   O_TMPFILE,
                               O_RDONLY | O_NOCTTY));
    /* its lock-down: a PID namespace (CAP_SYS_ADMIN), the five limits it
     * sets (soft = hard, but for RLIMIT_CPU; a hard limit only goes down
     * without CAP_SYS_RESOURCE), Landlock, dropping the capabilities */
    ALLOW_IF("unshare", SCMP_A0(SCMP_CMP_EQ, CLONE_NEWPID));
    static const int set_limits[] = {RLIMIT_CORE, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CPU,
                                     RLIMIT_AS}; /* rlimits() */
    for (size_t k = 0; k < sizeof set_limits / sizeof set_limits[0]; k++)
      ALLOW_IF("prlimit64", SCMP_A0(SCMP_CMP_EQ, 0),
               SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)set_limits[k]));
    ALLOW("capset");
    ALLOW("landlock_create_ruleset");
    ALLOW("landlock_add_rule");
    ALLOW("landlock_restrict_self");
  }
  if (rc != 0) {
    seccomp_release(ctx);
    return NULL;
  }
  return ctx;
}

/* The filter compiled once by wrk_sandbox_precompile (a clone child
 * inherits it): BPF with PID_SENTINEL where the worker's own pid goes. */
#define PID_SENTINEL 0x3ead5eedu
static struct sock_filter *pre_prog;
static unsigned short pre_len;
static int pre_event_fd = -1;

int wrk_sandbox_precompile(int event_fd)
{
#ifdef HARN_SANDBOX_SANITIZER
  (void)event_fd;
  return -1;
#else
  scmp_filter_ctx ctx = build_filter(event_fd, (pid_t)PID_SENTINEL, -1);
  if (!ctx) return -1;
  int fd = (int)syscall(SYS_memfd_create, "harn-seccomp", (unsigned)MFD_CLOEXEC);
  int rc = fd >= 0 ? seccomp_export_bpf(ctx, fd) : -1;
  seccomp_release(ctx);
  off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
  struct sock_filter *prog = NULL;
  if (size > 0 && size % (off_t)sizeof *prog == 0 &&
      size / (off_t)sizeof *prog <= BPF_MAXINSNS && (prog = malloc((size_t)size)))
    if (pread(fd, prog, (size_t)size, 0) != (ssize_t)size) {
      free(prog);
      prog = NULL;
    }
  if (fd >= 0) close(fd);
  if (!prog) return -1;
  /* the sentinel must appear, and only as the operand of a comparison */
  size_t n = (size_t)size / sizeof *prog, hits = 0;
  for (size_t i = 0; i < n; i++) {
    if (prog[i].k != PID_SENTINEL) continue;
    if (prog[i].code != (BPF_JMP | BPF_JEQ | BPF_K)) {
      free(prog);
      return -1;
    }
    hits++;
  }
  if (hits == 0) {
    free(prog);
    return -1;
  }
  free(pre_prog);
  pre_prog = prog;
  pre_len = (unsigned short)n;
  pre_event_fd = event_fd;
  return 0;
#endif
}

/* Install the precompiled filter with our pid patched in (the program is
 * this process's own copy). */
static bool load_precompiled(Report *r) __attribute__((unused));
static bool load_precompiled(Report *r)
{
  uint32_t self = (uint32_t)getpid();
  for (unsigned i = 0; i < pre_len; i++)
    if (pre_prog[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && pre_prog[i].k == PID_SENTINEL)
      pre_prog[i].k = self;
  struct sock_fprog fp = {pre_len, pre_prog};
  /* TSYNC: the filter covers every thread of the worker, including the
   * output flusher, which exists already (worker.c starts it before the
   * lock-down because the filter forbids creating it later) */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fp) != 0) {
    skip(r, "seccomp", errno_name(errno));
    return false;
  }
  return true;
}

static bool load_seccomp(const WrkSandboxConfig *cfg, Report *r) __attribute__((unused));
static bool load_seccomp(const WrkSandboxConfig *cfg, Report *r)
{
  if (pre_prog && pre_event_fd == cfg->event_fd) return load_precompiled(r);
  scmp_filter_ctx ctx = build_filter(cfg->event_fd, getpid(), -1);
  if (!ctx) {
    skip(r, "seccomp", "seccomp_init failed or rule rejected");
    return false;
  }
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); /* every thread */
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    skip(r, "seccomp", errno_name(-rc));
    return false;
  }
  return true;
}

/* PID 1 of a pool's PID namespace (wrk_sandbox_pool_enter): it holds the
 * namespace open for the workers and dies with the zygote. Never returns. */
static void pidns_init(void) __attribute__((noreturn, unused));
static void pidns_init(void)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_NAME, "harn-pidns-init");
#ifdef SYS_close_range
  syscall(SYS_close_range, 0u, ~0u, 0u);
#endif
  for (;;) pause();
}

/* Can this process clone with CLONE_NEWUTS (it has CAP_SYS_ADMIN)? Tried
 * for real: a child that exits at once. */
static bool can_clone_newuts(void) __attribute__((unused));
static bool can_clone_newuts(void)
{
  long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUTS | SIGCHLD), 0L, 0L, 0L, 0L);
  if (pid == 0) _exit(0);
  if (pid < 0) return false;
  int st;
  while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {}
  return true;
}

int wrk_sandbox_pool_enter(int event_fd, int sock)
{
#ifdef HARN_SANDBOX_SANITIZER
  (void)event_fd;
  (void)sock;
  return -1;
#else
  /* what the workers' lock-down will rely on, checked before any change */
  if (namespaces_off() || landlock_abi() < 6 || !can_clone_newuts()) return -1;
  scmp_filter_ctx ctx = build_filter(event_fd, 0, sock);
  if (!ctx) return -1;
  for (int i = 1; i < NNS; i++)
    if (NS[i].flag != CLONE_NEWUTS && unshare(NS[i].flag) == 0) pool_ns[i] = true;
  /* No /proc in the pool's mount namespace. Landlock checks every path a
   * worker opens, but /proc/self/fd/N and /proc/self/ns/ lead to pipes and
   * namespace files that no Landlock rule covers: a worker could reopen its
   * fd 2 for reading (when it is a pipe: another job's records). The
   * mounts are made private first, so that the unmount stays here. Without
   * its own mount namespace the pool cannot do this, and must not serve. */
  if (!pool_ns[2] || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      umount2("/proc", MNT_DETACH) != 0) {
    seccomp_release(ctx);
    return -2;
  }
  /* One PID namespace for the pool too: a new one per worker costs about
   * 65 us of CPU (created, then torn down by a kworker), and it stops the
   * worker from starting threads (docs/sandbox.md). Its init is a child of
   * ours that only waits; when the zygote goes, it goes, and the kernel
   * kills whatever is left in the namespace. */
  if (unshare(CLONE_NEWPID) == 0) {
    long init = syscall(SYS_clone, (unsigned long)SIGCHLD, 0L, 0L, 0L, 0L);
    if (init == 0) pidns_init();
    if (init < 0) {
      seccomp_release(ctx); /* no process can be made in it any more */
      return -2;
    }
    pool_ns[0] = true;
  }
  int rc = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? seccomp_load(ctx) : -1;
  seccomp_release(ctx);
  if (rc != 0) {
    /* no filter: this zygote must not serve (it is in the new namespaces
     * already, and a sandboxed job has no way to build its own filter
     * from here that we want to rely on) */
    return -2;
  }
  pool_mode = true;
  return 0;
#endif
}
#else
int wrk_sandbox_precompile(int event_fd)
{
  (void)event_fd;
  return -1;
}

int wrk_sandbox_pool_enter(int event_fd, int sock)
{
  (void)event_fd;
  (void)sock;
  return -1;
}
#endif

unsigned long wrk_sandbox_clone_flags(void)
{
  return pool_mode ? CLONE_NEWUTS : 0;
}

bool wrk_sandbox_pool_pidns(void)
{
  return pool_mode && pool_ns[0];
}

#ifdef HARN_TEST_HOOKS
/* (sandbox.h; compiled in only with HARN_TEST_HOOKS) */
void wrk_sandbox_forbidden_syscall(const char *what)
{
  if (!strcmp(what, "socket")) {
    syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
  } else if (!strcmp(what, "fork")) {
#ifdef SYS_fork
    syscall(SYS_fork);
#else
    syscall(SYS_clone, (unsigned long)SIGCHLD, 0L, 0L, 0L, 0L);
#endif
  } else if (!strcmp(what, "oom")) {
    /* not a system call: exhaust the address space (RLIMIT_AS) the way a
     * runaway allocation outside the VM's accounting would, then fail as
     * mem_realloc does when malloc returns NULL */
    for (size_t n = 64u << 20;;) {
      if (!malloc(n)) abort();
    }
  } else if (!strcmp(what, "exec")) {
    static char *const argv[] = {(char *)"/bin/true", NULL};
    syscall(SYS_execve, "/bin/true", argv, NULL);
  } else if (!strcmp(what, "read_stderr")) {
    char c;
    syscall(SYS_read, 2, &c, 1);
  } else if (!strcmp(what, "setpgid")) {
    syscall(SYS_setpgid, 0, 1); /* into another group */
  } else if (!strcmp(what, "rlimit_stack")) {
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    syscall(SYS_prlimit64, 0, RLIMIT_STACK, &rl, NULL);
  } else if (!strcmp(what, "pdeathsig")) {
    syscall(SYS_prctl, PR_SET_PDEATHSIG, 0L, 0L, 0L, 0L);
  } else if (!strcmp(what, "environ")) {
    /* the worker's real environment (HARN_TEST_FORBIDDEN_SYSCALL itself
     * was read before it was cleared): exit with its size */
    extern char **environ;
    int n = 0;
    for (char **e = environ; e && *e; e++) n++;
    _exit(n);
  } else if (!strcmp(what, "opath")) {
    /* a metadata probe Landlock would not stop: forbidden by the filter */
    syscall(SYS_openat, WRK_SANDBOX_GRANT_FD, ".", O_PATH | O_DIRECTORY);
  } else if (!strcmp(what, "link")) {
    /* a hard link (to plant one inside a grant): forbidden */
    syscall(SYS_linkat, WRK_SANDBOX_GRANT_FD, "a", WRK_SANDBOX_GRANT_FD, "b", 0);
  } else if (!strcmp(what, "unlink_cwd")) {
    /* a path call not relative to a grant: forbidden */
    syscall(SYS_unlinkat, AT_FDCWD, "x", 0);
  } else if (!strcmp(what, "grant_escape") || !strcmp(what, "grant_create")) {
    /* Allowed by the filter, refused by Landlock (the VM's lexical check
     * bypassed): an absolute path outside through the first grant's fd,
     * or creating a file in it (a read grant). Exit with the errno (99:
     * it was allowed). */
    struct {
      uint64_t flags, mode, resolve;
    } how = {O_RDONLY | O_CLOEXEC, 0, 0};
    const char *path = "/etc/passwd";
    if (!strcmp(what, "grant_create")) {
      how.flags = O_WRONLY | O_CREAT | O_CLOEXEC;
      how.mode = 0600;
      path = "planted";
    }
    long rc = syscall(437 /* openat2 */, WRK_SANDBOX_GRANT_FD, path, &how, sizeof how);
    _exit(rc < 0 ? errno : 99);
  } else if (!strcmp(what, "open_noctty") || !strcmp(what, "reopen_stderr") ||
             !strcmp(what, "kill_other") ||
             !strcmp(what, "clone_newuts") || !strcmp(what, "unshare_pid")) {
    /* What the pool filter lets through in some form, for Landlock or the
     * dropped capabilities to refuse (docs/sandbox.md "The pool filter").
     * The worker then exits with the errno of the refusal (99: it was
     * allowed); stderr may be a file, which RLIMIT_FSIZE 0 forbids. */
    long rc;
    if (!strcmp(what, "open_noctty")) {
      rc = syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_NOCTTY);
    } else if (!strcmp(what, "reopen_stderr")) {
      /* a pipe (no Landlock rule covers it) reached through /proc */
      rc = syscall(SYS_openat, AT_FDCWD, "/proc/self/fd/2", O_RDONLY | O_NOCTTY | O_NONBLOCK);
    } else if (!strcmp(what, "kill_other")) {
      /* pid 1: the pool's PID namespace init (another process, outside the
       * worker's Landlock domain), or the host's init */
      rc = syscall(SYS_kill, 1, SIGCONT);
    } else if (!strcmp(what, "clone_newuts")) {
      rc = syscall(SYS_clone, (unsigned long)(CLONE_NEWUTS | SIGCHLD), 0L, 0L, 0L, 0L);
      if (rc == 0) _exit(0);
    } else {
      rc = syscall(SYS_unshare, CLONE_NEWPID);
    }
    _exit(rc < 0 ? errno : 99);
  } else {
    syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
  }
}
#endif

/* ---- entry ------------------------------------------------------------------ */

static void pack_str(msgpack_packer *pk, const char *s)
{
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

static void pack_bool(msgpack_packer *pk, const char *k, bool v)
{
  pack_str(pk, k);
  if (v) msgpack_pack_true(pk);
  else msgpack_pack_false(pk);
}

bool wrk_sandbox_apply(const WrkSandboxConfig *cfg, msgpack_packer *pk)
{
  Report r;
  memset(&r, 0, sizeof r);
  close_fds(cfg, &r);
  r.pdeathsig = prctl(PR_SET_PDEATHSIG, SIGKILL) == 0;
  if (!r.pdeathsig) skip(&r, "pdeathsig", errno_name(errno));
  namespaces(&r);
  rlimits(cfg, &r);
  r.no_new_privs = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
  if (!r.no_new_privs) skip(&r, "no_new_privs", errno_name(errno));
  landlock(cfg, &r);
  drop_bounding_set(&r);
  drop_caps(&r);
#if defined(HARN_SANDBOX_SANITIZER)
  skip(&r, "seccomp", "sanitizer build");
  bool seccomp_required = false;
#elif defined(HARN_HAVE_SECCOMP)
  /* in pool mode the filter is the zygote's, already in force */
  r.seccomp = r.seccomp_shared = pool_mode;
  if (!pool_mode) r.seccomp = load_seccomp(cfg, &r);
  bool seccomp_required = true;
#else
  skip(&r, "seccomp", "built without libseccomp");
  bool seccomp_required = false;
#endif
  /* The pool filter lets a crafted open or a CAP_SYS_ADMIN clone through:
   * Landlock and the dropped capabilities are what refuse them. */
  bool pool_ok = !pool_mode || (r.landlock && r.caps_dropped);

  msgpack_pack_map(pk, 14 + (cfg->ngrants > 0 ? 1 : 0));
  pack_bool(pk, "no_new_privs", r.no_new_privs);
  pack_bool(pk, "seccomp", r.seccomp);
  pack_bool(pk, "seccomp_shared", r.seccomp_shared);
  pack_bool(pk, "landlock", r.landlock);
  pack_bool(pk, "capabilities_dropped", r.caps_dropped);
  pack_bool(pk, "bounding_set_emptied", r.bounding_set);
  pack_bool(pk, "import_root", r.import_root);
  if (cfg->ngrants > 0) {
    pack_str(pk, "landlock_grants"); /* rules for granted directories */
    msgpack_pack_uint64(pk, (uint64_t)r.grants);
  }
  pack_bool(pk, "rlimits", r.rlimits);
  pack_bool(pk, "fds_closed", r.fds_closed);
  pack_bool(pk, "pdeathsig", r.pdeathsig);
  pack_str(pk, "namespaces");
  msgpack_pack_array(pk, (size_t)r.nns);
  for (int i = 0; i < r.nns; i++) pack_str(pk, r.ns[i]);
  pack_bool(pk, "namespaces_shared", r.shared);
  pack_str(pk, "skipped");
  msgpack_pack_map(pk, (size_t)r.nskipped);
  for (int i = 0; i < r.nskipped; i++) {
    pack_str(pk, r.skipped[i].what);
    pack_str(pk, r.skipped[i].why);
  }
  pack_str(pk, "limits");
  msgpack_pack_map(pk, 3);
  pack_str(pk, "cpu_s");
  if (cfg->cpu_ms) msgpack_pack_uint64(pk, r.cpu_s);
  else msgpack_pack_nil(pk);
  pack_str(pk, "address_space");
  if (cfg->address_space && r.address_space) msgpack_pack_uint64(pk, r.address_space);
  else msgpack_pack_nil(pk);
  pack_str(pk, "nofile");
  msgpack_pack_uint64(pk, r.nofile);
  return r.no_new_privs && (r.seccomp || !seccomp_required) && r.rlimits && r.fds_closed &&
         r.pdeathsig && pool_ok;
}
