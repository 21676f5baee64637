/*
 * spawn.c: starting worker processes (docs/RUNTIME.md 5.6, "Spawn").
 *
 * Three ways to start a worker, with the same child environment (below):
 *   - exec: fork, then execvp(argv) -- HARN_WORKER_CMD, tests' fake workers;
 *   - zygote (the default for the harn binary itself): the pool starts one
 *     `harn worker --zygote` (sup_zygote_start, exec'd with LD_BIND_NOW=1)
 *     and asks it for workers (sup_zygote_request), ahead of the jobs that
 *     will take them (pool.c, "spares"): the zygote clones the worker with
 *     CLONE_PARENT, so the worker is still our child, and runs wrk_main in
 *     it (worker/zygote.c explains why and how). No exec per
 *     job: the dynamic loader was ~85% of a trivial job's cost; and no fork
 *     of the supervisor per job: each fork made the supervisor pay
 *     copy-on-write faults on every page it wrote afterwards;
 *   - in-process fork (the fallback when the zygote cannot be started or
 *     has died): fork, then call the worker's entry point (wrk_main) in the
 *     child and _exit with its result. The child is the same harn image the
 *     exec would load. Before the entry point runs, the child closes every
 *     fd above 4 (the supervisor's loop, signal pipes, results file: what
 *     O_CLOEXEC would have closed) and sets its name to "harn-worker". It
 *     never returns into the supervisor's code and never runs its atexit
 *     handlers or flushes its stdio buffers (_exit). Invariant this relies
 *     on: no lock the child uses can be held by a thread that does not
 *     exist in the child. The supervisor's only other threads are libuv's
 *     thread-pool workers, used for nothing but `harn batch`'s grouped
 *     fdatasync (batch.c sync_tick): they take only libuv's own locks,
 *     which the child never touches, and fork() makes malloc (jemalloc's
 *     atfork handlers) and stdio safe in the child.
 *
 * The child gets exactly this environment:
 *   - fd 0 = /dev/null, fd 1 = /dev/null, fd 2 = the supervisor's stderr
 *     (program output travels as events; a stray write to stdout must never
 *     corrupt `harn run`'s own output);
 *   - fd 3 = read end of the job pipe (supervisor -> worker),
 *     fd 4 = write end of the event pipe (worker -> supervisor);
 *   - every other descriptor of the supervisor is O_CLOEXEC (libuv creates
 *     its own that way, and we create ours with pipe2/O_CLOEXEC), so nothing
 *     else leaks into the worker;
 *   - SIGTERM, SIGINT and SIGHUP blocked (the mask survives exec, so a signal
 *     sent during start-up waits for the worker's handler instead of killing
 *     it), every other signal unblocked and at its default disposition;
 *   - its own process group (setpgid(0, 0) in the child AND setpgid(pid, pid)
 *     in the parent, so whichever runs first wins and neither side can see
 *     the child outside its group);
 *   - a parent-death signal (SIGKILL), checked against a parent that died
 *     before prctl ran.
 *
 * Between fork and exec the child only makes async-signal-safe calls: all
 * memory (argv, paths) is prepared by the caller before fork. Every signal
 * is blocked in the parent around fork so that no libuv signal handler can
 * run in the child (it would write to the parent's signal pipe). If exec
 * fails the child writes errno to a CLOEXEC status pipe and exits 127; the
 * parent reads it (EOF means exec succeeded), which makes spawn failures
 * synchronous and precise, as libuv's uv_spawn does.
 */
#define _GNU_SOURCE
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/worker.h"

extern char **environ;

/* Move [fd] to exactly [target] with CLOEXEC cleared. */
static int place_fd(int fd, int target)
{
  if (fd == target) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  return dup2(fd, target) < 0 ? -1 : 0;
}

static void child_fail(int status_fd, int err)
{
  ssize_t r;
  do r = write(status_fd, &err, sizeof err);
  while (r < 0 && errno == EINTR);
  _exit(127);
}

/* Close every fd >= [lowfd] (the child of an in-process spawn). */
static void close_from(int lowfd)
{
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0) return;
#endif
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (fd >= lowfd && fd != self) close(fd);
  }
  closedir(d);
}

/* The child side: never returns. [job_r] becomes fd 3 and [ev_w] fd 4
 * ([ev_w] may be -1: the zygote has only fd 3); [envp] NULL = ours. */
static void child_main(char *const *argv, char *const *envp, SupWorkerMain entry, pid_t parent,
                       int job_r, int ev_w, int status_fd)
{
  /* Default dispositions for every signal the supervisor handles (handlers
   * are reset by exec anyway, but not ignored signals such as SIGPIPE, and a
   * handler must not run before exec). */
  for (int s = 1; s < NSIG; s++) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    signal(s, SIG_DFL);
  }
  if (setpgid(0, 0) < 0) child_fail(status_fd, errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(status_fd, errno);
  if (getppid() != parent) _exit(127); /* supervisor already gone */

  /* Lift the protocol fds above 4 first, so placing one cannot clobber the
   * other (job_r may already be 4, ev_w 3). */
  int jr = fcntl(job_r, F_DUPFD_CLOEXEC, 5);
  int ew = ev_w >= 0 ? fcntl(ev_w, F_DUPFD_CLOEXEC, 5) : -1;
  if (jr < 0 || (ev_w >= 0 && ew < 0)) child_fail(status_fd, errno);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) child_fail(status_fd, errno);
  if (place_fd(devnull, 0) < 0 || place_fd(devnull, 1) < 0) child_fail(status_fd, errno);
  if (place_fd(jr, 3) < 0 || (ew >= 0 && place_fd(ew, 4) < 0)) child_fail(status_fd, errno);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_SETMASK, &set, NULL);

  if (entry) {
    /* The status pipe is closed here too: the parent reads EOF, "started". */
    close_from(5);
    prctl(PR_SET_NAME, "harn-worker");
    static char name[] = "worker";
    char *wargv[] = {name, NULL};
    _exit(entry(1, wargv));
  }
  if (envp) execvpe(argv[0], argv, envp);
  else execvp(argv[0], argv);
  child_fail(status_fd, errno);
}

/* fork + child_main, with the exec failure reported through a status pipe:
 * 0 and *pid_out, or a negative errno (the child is reaped then). */
static int fork_child(char *const *argv, char *const *envp, SupWorkerMain entry, int job_r,
                      int ev_w, pid_t *pid_out)
{
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) < 0) return -errno;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(sp[0]);
    child_main(argv, envp, entry, parent, job_r, ev_w, sp[1]);
  }
  int fork_err = errno;
  if (pid > 0) setpgid(pid, pid); /* EACCES after exec / ESRCH: child did it */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(sp[1]);
  if (pid < 0) {
    close(sp[0]);
    return -fork_err;
  }
  int child_errno = 0;
  ssize_t r;
  do r = read(sp[0], &child_errno, sizeof child_errno);
  while (r < 0 && errno == EINTR);
  close(sp[0]);
  if (r == (ssize_t)sizeof child_errno) {
    /* exec failed: the child exits 127 at once; reap it here. */
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return -child_errno;
  }
  *pid_out = pid;
  return 0;
}

/* A worker's job socket and event pipe (protocol v3: the job channel is a
 * socket so that it can carry descriptors, docs/protocol.md); jp[0] and
 * ep[1] are the worker's ends, jp[1] (ours) is non-blocking. 0 or -errno,
 * with nothing left open on failure. */
static int open_pipes(int jp[2], int ep[2])
{
  jp[0] = jp[1] = ep[0] = ep[1] = -1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, jp) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
      fcntl(jp[1], F_SETFL, O_NONBLOCK) < 0 || shutdown(jp[0], SHUT_WR) < 0) {
    int err = -errno;
    for (int i = 0; i < 2; i++) {
      if (jp[i] >= 0) close(jp[i]);
      if (ep[i] >= 0) close(ep[i]);
    }
    return err;
  }
  return 0;
}

/* Send the first bytes of [job] with the descriptors [fds] attached
 * (SCM_RIGHTS): how many bytes went, or -1 with errno. */
static ssize_t send_with_fds(int sock, const char *job, size_t len, const int *fds, int nfds)
{
  union {
    char buf[CMSG_SPACE(IPC_MAX_GRANTS * sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {(void *)job, len};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.buf;
  mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
  memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
  return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

int sup_feed_job(SupSpawned *sp, const char *job, size_t len, const int *fds, int nfds, bool keep)
{
  sp->sent = 0;
  if (nfds < 0 || nfds > IPC_MAX_GRANTS) return -EINVAL;
  while (sp->sent < len) {
    /* the descriptors ride on the frame's first bytes */
    ssize_t w = sp->sent == 0 && nfds > 0 ? send_with_fds(sp->job_w, job, len, fds, nfds)
                                          : send(sp->job_w, job + sp->sent, len - sp->sent,
                                                 MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return 0; /* the rest: the caller's */
    if (w < 0) return -errno;
    sp->sent += (size_t)w;
  }
  /* all sent: the worker sees EOF after it, unless the socket carries
   * host-call answers (v3, [keep]) */
  if (!keep) {
    close(sp->job_w);
    sp->job_w = -1;
  }
  return 0;
}

/* Keep our ends of the pipes in *out and close the worker's. */
static void hand_over(int jp[2], int ep[2], pid_t pid, SupSpawned *out)
{
  close(jp[0]);
  close(ep[1]);
  out->job_w = jp[1];
  out->ev_r = ep[0];
  out->pid = pid;
}

int sup_spawn_worker(char *const *argv, SupWorkerMain entry, const char *job, size_t len,
                     const int *fds, int nfds, bool keep, SupSpawned *out)
{
  int jp[2], ep[2];
  int rc = open_pipes(jp, ep);
  if (rc < 0) return rc;
  /* The frame goes in first: the worker never waits for it. */
  out->job_w = jp[1];
  rc = sup_feed_job(out, job, len, fds, nfds, keep);
  jp[1] = out->job_w;
  pid_t pid = 0;
  if (rc == 0) rc = fork_child(argv, NULL, entry, jp[0], ep[1], &pid);
  if (rc < 0) {
    for (int i = 0; i < 2; i++) {
      if (jp[i] >= 0) close(jp[i]);
      close(ep[i]);
    }
    return rc;
  }
  hand_over(jp, ep, pid, out);
  return 0;
}

int sup_zygote_start(int *sock_out, pid_t *pid_out, bool sandboxed)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  /* Our environment (for a sandboxed pool only the worker's own switches)
   * plus LD_BIND_NOW=1 (see worker/zygote.c). */
  size_t n = 0;
  while (environ && environ[n]) n++;
  char **envp = malloc((n + 2) * sizeof *envp);
  if (!envp) {
    close(sv[0]);
    close(sv[1]);
    return -ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(environ[i], "LD_BIND_NOW=", 12) == 0) continue;
    /* A pool of sandboxed jobs gets none of our variables (docs/sandbox.md
     * "Capabilities": a job's environment is data in its frame, and our
     * secrets are not even on its workers' initial stack), but for the
     * switches the worker itself reads and the sanitizers' options. */
    if (sandboxed && strncmp(environ[i], "HARN_TEST_", 10) != 0 &&
        strncmp(environ[i], "HARN_SANDBOX_", 13) != 0 && strncmp(environ[i], "ASAN_", 5) != 0 &&
        strncmp(environ[i], "UBSAN_", 6) != 0 && strncmp(environ[i], "LSAN_", 5) != 0)
      continue;
    envp[k++] = environ[i];
  }
  static char bind_now[] = "LD_BIND_NOW=1";
  envp[k++] = bind_now;
  envp[k] = NULL;
  static char exe[] = "/proc/self/exe", worker[] = "worker", zygote[] = "--zygote",
              sb[] = "--sandboxed";
  char *argv[] = {exe, worker, zygote, sandboxed ? sb : NULL, NULL};
  pid_t pid = 0;
  int rc = fork_child(argv, envp, NULL, sv[1], -1, &pid);
  free(envp);
  close(sv[1]);
  if (rc < 0) {
    close(sv[0]);
    return rc;
  }
  *sock_out = sv[0];
  *pid_out = pid;
  return 0;
}

int sup_zygote_request(int sock, SupSpawned *out)
{
  int jp[2], ep[2];
  int err = open_pipes(jp, ep);
  if (err < 0) return err;
  WrkZygoteReq req = {WRK_ZYGOTE_MAGIC};
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {&req, sizeof req};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.buf;
  mh.msg_controllen = sizeof u.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  int fds[2] = {jp[0], ep[1]};
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t w;
  do w = sendmsg(sock, &mh, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w != (ssize_t)sizeof req) {
    err = w < 0 ? -errno : -EPIPE;
    for (int i = 0; i < 2; i++) {
      close(jp[i]);
      close(ep[i]);
    }
    return err;
  }
  out->sent = 0;
  /* The message carries its own copies of the worker's ends. */
  hand_over(jp, ep, 0, out);
  return 0;
}

int sup_zygote_reply(int sock, pid_t *pid, int *err)
{
  int32_t reply = 0;
  ssize_t r;
  do r = recv(sock, &reply, sizeof reply, MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (r < 0) return -errno;
  if (r != (ssize_t)sizeof reply) return -EPIPE; /* EOF: the zygote is gone */
  if (reply == 0) return -EPROTO;
  *pid = reply > 0 ? (pid_t)reply : 0;
  *err = reply > 0 ? 0 : (int)reply;
  /* it is our child (CLONE_PARENT); it makes its own group too */
  if (reply > 0) setpgid(*pid, *pid);
  return 1;
}
