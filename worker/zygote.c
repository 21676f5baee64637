/*
 * zygote.c: `harn worker --zygote`, the supervisor's fork server
 * (worker.h; docs/protocol.md "The zygote").
 *
 * Why. A worker started by fork+exec spends most of a trivial job in the
 * dynamic loader; a worker forked straight from the supervisor skips that,
 * but every fork then write-protects the supervisor's memory, and each page
 * the supervisor writes afterwards (its allocator, its stack, its buffers)
 * costs a copy-on-write fault, job after job. The zygote is a small,
 * quiescent harn process, exec'd once per pool with LD_BIND_NOW=1 (so its
 * symbol bindings are all resolved and none is redone in a worker), that
 * forks the workers on request: the supervisor never forks per job and a
 * worker's copy-on-write faults are only its own.
 *
 * Each worker is created with the clone system call and CLONE_PARENT: its
 * parent is the supervisor, not the zygote, so the supervisor's process
 * model is unchanged -- SIGCHLD, waitid(WNOWAIT) + group sweep + wait4 with
 * rusage, setpgid from the parent, and the parent-death signal all refer to
 * the supervisor. The zygote never waits for a worker. The raw system call
 * is used like fork (no new stack: the child continues on its copy of the
 * zygote's stack, which also keeps AddressSanitizer's idea of the stack
 * right); the argument order of SYS_clone with zero pointers is the same on
 * x86-64 and arm64.
 *
 * Protocol, on the SOCK_SEQPACKET socket at fd 3 (WRK_ZYGOTE_FD; the
 * zygote moves it to SOCK_FD, so that fds 3 and 4 are free):
 *   request  one WrkZygoteReq, with exactly two fds attached (SCM_RIGHTS):
 *            the worker's job pipe read end and event pipe write end,
 *            which arrive at fds 3 and 4 (the lowest free ones; anything
 *            else is refused with -EPROTO);
 *   reply    one int32: the worker's pid (> 0), or -errno when the clone
 *            failed.
 * EOF on the socket (the supervisor closed it or died): the zygote exits 0.
 *
 * Before serving, the zygote runs one trivial job in-process (wrk_warm_up, with
 * nothing read or written) so that jemalloc's caches hold what a job
 * allocates: a worker's allocations then take the allocator's fast paths
 * instead of its first-use paths (about 170k of a trivial job's 300k
 * instructions were jemalloc filling empty thread-cache bins and slabs).
 * It installs the worker's signal handlers (wrk_install_signals), which
 * its clones inherit. Then it does the sandbox's expensive parts once.
 * For a pool of sandboxed jobs (`--sandboxed`) that is the pool filter
 * (docs/sandbox.md "The pool filter"; wrk_sandbox_pool_enter): the
 * zygote moves into the shared net,
 * mnt and ipc namespaces and installs a seccomp filter that its workers
 * inherit, and clones each worker with CLONE_NEWUTS. Otherwise, or where
 * the kernel lacks what that needs ("Shared namespaces"): wrk_sandbox_share
 * makes the net, mnt, ipc and uts namespaces its sandboxed workers join
 * (fds 5..8; the zygote itself stays in the host's), and
 * wrk_sandbox_precompile the per-job seccomp BPF program.
 * It also has a parent-death signal (SIGKILL), and keeps SIGTERM, SIGINT
 * and SIGHUP blocked as the supervisor gave them, which is exactly the mask
 * a worker must start with (worker.c unblocks them after installing its
 * handlers).
 *
 * The worker, in the clone child:
 * its own process group (setpgid(0, 0); the supervisor also calls
 * setpgid(pid, pid)), parent-death SIGKILL (and exit at once if the
 * supervisor is already gone), fds 0-1 /dev/null (inherited from the
 * zygote), 2 stderr, 3 job pipe, 4 event pipe (both received there by the
 * zygote), 5..8 the shared namespaces (when made; the worker closes them
 * in lock_down), nothing else open; name
 * "harn-worker"; then wrk_main(--spare: the worker is made before the job
 * that will take it, and waits for it on fd 3) and _exit with its code.
 * The raw clone runs no fork handlers: this is safe because the zygote is
 * single-threaded and never inside the allocator when it clones. glibc's cached thread id
 * in the child is the zygote's; glibc's pthread_kill and raise use the
 * kernel's thread id for the calling thread, so they act on the worker.
 *
 * worker.c <-> zygote.c. The two files call each other, and that is the
 * process structure, not a tangle: wrk_main (worker.c) starts the zygote
 * when `harn worker --zygote` is what it was asked to be, and every worker
 * the zygote clones becomes a worker by calling wrk_main (and first warms
 * up with wrk_warm_up, in worker.c because it runs a job as a worker
 * does). Both are one component, worker/, with one header (worker.h); no
 * header includes another in a loop, and nothing outside worker/ is
 * involved (scripts/include-graph). Splitting the `--zygote` dispatch out
 * of wrk_main would only move the same two calls elsewhere.
 */
#define _GNU_SOURCE
#include "worker/worker.h"
#include "worker/sandbox.h"
#include "ipc/ipc.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Above the shared namespaces' fds (WRK_SANDBOX_NS_FD .. + 3): the
 * zygote's own socket lives here, so that fds 3 and 4 are free and the two
 * fds of each request arrive exactly there (SCM_RIGHTS installs them at
 * the lowest free numbers). A worker then inherits its protocol fds in
 * place and never needs dup2 or fcntl (the pool filter has neither). */
#define FIRST_FREE_FD (WRK_SANDBOX_NS_FD + 4)
#define SOCK_FD FIRST_FREE_FD

/* The worker (clone child). Never returns. */
static void child_main(pid_t supervisor) __attribute__((noreturn));
static void child_main(pid_t supervisor)
{
  if (setpgid(0, 0) < 0) _exit(127);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) _exit(127);
  /* the supervisor is gone (in the pool's PID namespace our parent is
   * outside: 0; once reparented, the namespace's init: 1) */
  if (getppid() != (wrk_sandbox_pool_pidns() ? 0 : supervisor)) _exit(127);
  /* 3 and 4 are the job pipe and the event pipe already; 5..8 are the
   * shared namespaces (wrk_sandbox_share) or free; the rest (the zygote's
   * socket) goes */
#ifdef SYS_close_range
  syscall(SYS_close_range, (unsigned)FIRST_FREE_FD, ~0u, 0u);
#else
  for (int fd = FIRST_FREE_FD; fd < 1024; fd++) close(fd);
#endif
  prctl(PR_SET_NAME, "harn-worker");
  static char name[] = "worker", spare[] = "--spare";
  char *argv[] = {name, spare, NULL};
  _exit(wrk_main(2, argv));
}

/* Receive one request: 1 with its two fds at 3 and 4, 0 on EOF, -1 on a
 * bad message (any fds that came with it are closed). */
static int recv_req(int sock)
{
  WrkZygoteReq req;
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {&req, sizeof req};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.buf;
  mh.msg_controllen = sizeof u.buf;
  ssize_t n;
  do n = recvmsg(sock, &mh, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  int fds[2] = {-1, -1}, nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds < 2) fds[nfds++] = fd;
      else close(fd);
    }
  }
  if ((size_t)n != sizeof req || req.magic != WRK_ZYGOTE_MAGIC || nfds != 2 ||
      (mh.msg_flags & MSG_CTRUNC) || fds[0] != IPC_JOB_FD || fds[1] != IPC_EVENT_FD) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    return -1;
  }
  return 1;
}

int wrk_zygote_main(int sock, bool sandboxed)
{
  pid_t supervisor = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != supervisor) return WRK_EXIT_USAGE;
  prctl(PR_SET_NAME, "harn-zygote");
  unsetenv("LD_BIND_NOW"); /* its job is done (at exec); workers do not need it */
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET ||
      dup2(sock, SOCK_FD) != SOCK_FD) {
    fprintf(stderr, "harn worker --zygote: fd %d is not a seqpacket socket\n", sock);
    return WRK_EXIT_USAGE;
  }
  if (sock != SOCK_FD) close(sock);
  sock = SOCK_FD;
  /* Whatever else we inherited (a parent of the supervisor may leak fds
   * into it, and exec keeps them) would take the places where a request's
   * fds must arrive, and leak into every worker. */
#ifdef SYS_close_range
  syscall(SYS_close_range, 3u, (unsigned)SOCK_FD - 1, 0u);
  syscall(SYS_close_range, (unsigned)SOCK_FD + 1, ~0u, 0u);
#else
  for (int fd = 3; fd < 1024; fd++)
    if (fd != SOCK_FD) close(fd);
#endif
  wrk_warm_up();
  /* For its workers (spares: wrk_main --spare). Harmless here: the host
   * signals stay blocked. */
  wrk_install_signals();
  /* Done once here instead of in every worker: for a pool of sandboxed
   * jobs, the pool filter (docs/sandbox.md "The pool filter"); else, or
   * where the kernel lacks what it needs, the shared namespaces and the
   * seccomp filter compiled to BPF ("Shared namespaces"). Either may be
   * unavailable; the workers then do it themselves, as a fork+exec worker
   * does. */
  int pool = sandboxed ? wrk_sandbox_pool_enter(IPC_EVENT_FD, sock) : -1;
  if (pool == -2) {
    fprintf(stderr, "harn worker --zygote: cannot install the pool filter\n");
    return WRK_EXIT_USAGE;
  }
  if (pool < 0) {
    if (wrk_sandbox_share() < 0) {
      fprintf(stderr, "harn worker --zygote: cannot return to its own namespaces\n");
      return WRK_EXIT_USAGE;
    }
    wrk_sandbox_precompile(IPC_EVENT_FD);
  }
  unsigned long flags = CLONE_PARENT | SIGCHLD | wrk_sandbox_clone_flags();
  for (;;) {
    int r = recv_req(sock);
    if (r == 0) break;
    int32_t reply;
    if (r < 0) {
      reply = -EPROTO;
    } else {
      long pid = syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);
      if (pid == 0) child_main(supervisor);
      /* The pool's PID namespace is dead (its init was killed): no clone
       * can succeed again. Going away makes the supervisor fork the
       * workers itself. */
      if (pid < 0 && errno == ENOMEM && wrk_sandbox_pool_pidns()) break;
      reply = pid > 0 ? (int32_t)pid : -errno;
      close(IPC_JOB_FD);
      close(IPC_EVENT_FD);
    }
    ssize_t w;
    do w = send(sock, &reply, sizeof reply, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof reply) break;
  }
  return WRK_EXIT_OK;
}
