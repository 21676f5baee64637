/*
 * linein.c: the lines of a manifest, a pipe or stdin, read without ever
 * blocking the supervisor's loop (sup_internal.h, SupLineIn).
 *
 * `harn batch` reads its sources while it supervises jobs, so a read that
 * waits for a slow producer (`gen | harn batch -`, `harn batch <(gen)`, a
 * named FIFO) must not stop the loop: deadlines, signals and reaping would
 * wait with it. A regular file is read with plain read()s, which do not
 * wait for a producer. Anything else gets an open file description of its
 * own in non-blocking mode: open(path, O_NONBLOCK), or, for stdin,
 * open("/proc/self/fd/0"), which for a pipe, a FIFO or a terminal makes a
 * new description of the same object; a socket on stdin is read with
 * recv(MSG_DONTWAIT). O_NONBLOCK is never set on a description we share
 * with another process (the shell's stdin). Only without /proc is a
 * non-regular stdin read as it is, blocking, and sup_linein_open says so.
 * When no complete line is there yet, sup_linein_next returns 0 and the
 * caller polls [fd].
 *
 * A FIFO opened before its writer reads as EOF at once; poll() tells the
 * two apart (no POLLHUP until a writer has come and gone), so its end is
 * its writer's close, not our open.
 *
 * Invariant: buf[start, len) are the bytes read and not yet returned; a
 * returned line stays valid until the next call.
 */
#define _GNU_SOURCE
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int sup_linein_open(SupLineIn *li, const char *path, bool *blocking)
{
  memset(li, 0, sizeof *li);
  li->fd = -1;
  *blocking = false;
  struct stat st;
  bool is_stdin = strcmp(path, "-") == 0;
  if (is_stdin) {
    if (fstat(0, &st) != 0) return -errno;
    if (S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)) {
      li->fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
      li->sock = S_ISSOCK(st.st_mode); /* read with MSG_DONTWAIT */
    } else {
      li->fd = open("/proc/self/fd/0", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (li->fd < 0) {
        li->fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
        *blocking = true;
      }
    }
  } else {
    li->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  }
  if (li->fd < 0) return -errno;
  li->fifo = fstat(li->fd, &st) == 0 && S_ISFIFO(st.st_mode);
  return 0;
}

/* Read once more into buf: 1 read something, 0 would block, -1 end. */
static int fill(SupLineIn *li)
{
  if (li->start > 0 && li->start == li->buf.len) {
    buf_clear(&li->buf);
    li->start = 0;
  } else if (li->start > (1u << 16) && li->start * 2 > li->buf.len) {
    memmove(li->buf.data, li->buf.data + li->start, li->buf.len - li->start);
    li->buf.len -= li->start;
    li->start = 0;
  }
  buf_reserve(&li->buf, 1 << 16);
  for (;;) {
    size_t room = li->buf.cap - li->buf.len;
    ssize_t n = li->sock ? recv(li->fd, li->buf.data + li->buf.len, room, MSG_DONTWAIT)
                         : read(li->fd, li->buf.data + li->buf.len, room);
    if (n > 0) {
      li->buf.len += (size_t)n;
      return 1;
    }
    if (n == 0) {
      /* A FIFO opened before any writer reads as EOF, but polls as
       * nothing (no POLLHUP until a writer has come and gone): it is not
       * the end yet. */
      struct pollfd p = {li->fd, POLLIN, 0};
      if (li->fifo && poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP)) return 0;
      li->eof = true;
      return -1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    li->err = errno;
    li->eof = true;
    return -1;
  }
}

int sup_linein_next(SupLineIn *li, char **line, size_t *len)
{
  size_t seen = 0; /* bytes after start known to hold no '\n' */
  for (;;) {
    size_t have = li->buf.len - li->start;
    char *from = li->buf.data + li->start;
    char *nl = have > seen ? memchr(from + seen, '\n', have - seen) : NULL;
    if (nl) {
      *nl = '\0';
      *line = from;
      *len = (size_t)(nl - from);
      li->start += *len + 1;
      li->lineno++;
      return 1;
    }
    if (li->eof) {
      if (!have) return -1;
      buf_reserve(&li->buf, 1); /* a last line without '\n' */
      from = li->buf.data + li->start;
      from[have] = '\0';
      *line = from;
      *len = have;
      li->start = li->buf.len;
      li->lineno++;
      return 1;
    }
    seen = have; /* fill keeps the bytes after start in order */
    if (fill(li) == 0) return 0;
  }
}

void sup_linein_close(SupLineIn *li)
{
  if (li->fd >= 0) close(li->fd);
  li->fd = -1;
  buf_free(&li->buf);
  li->start = 0;
}
