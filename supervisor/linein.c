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
 * Every line is bounded (SupLineIn.max, SUP_LINE_MAX by default): once
 * more than that many bytes came without a '\n', the line is reported too
 * long (2) at once, its bytes are dropped, and the rest of it up to the next
 * '\n' is read and dropped as it comes (skipping), so the buffer never
 * holds much more than one maximal line, whatever the source sends. A
 * source that is not a regular file drops at most [max] bytes per call
 * and then says "no line yet" (0), so an endless line from a fast producer
 * cannot hold up the loop (and /dev/zero, which cannot be polled, ends
 * there: its caller cannot wait for it).
 *
 * Invariant: buf[start, len) are the bytes read and not yet returned (or,
 * while skipping, not yet dropped); a returned line stays valid until the
 * next call.
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
  bool known = fstat(li->fd, &st) == 0;
  li->fifo = known && S_ISFIFO(st.st_mode);
  li->regular = known && S_ISREG(st.st_mode);
  return 0;
}

/* Read once more into buf: 1 read something, 0 would block, -1 end. The
 * bytes not yet returned move to the front first (at most a partial line,
 * moved once: the next fills find start at 0), so the buffer is never
 * larger than twice (that line + a read of 64 KiB), whatever came before. */
static int fill(SupLineIn *li)
{
  if (li->start > 0) {
    size_t have = li->buf.len - li->start;
    if (have) memmove(li->buf.data, li->buf.data + li->start, have);
    li->buf.len = have;
    li->start = 0;
  }
  buf_reserve(&li->buf, 1 << 16);
  for (;;) {
    size_t room = li->buf.cap - li->buf.len - 1; /* keep the terminator's byte */
    ssize_t n = li->sock ? recv(li->fd, li->buf.data + li->buf.len, room, MSG_DONTWAIT)
                         : read(li->fd, li->buf.data + li->buf.len, room);
    if (n > 0) {
      li->buf.len += (size_t)n;
      li->buf.data[li->buf.len] = '\0';
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
  size_t max = li->max ? li->max : SUP_LINE_MAX;
  size_t seen = 0;    /* bytes after start known to hold no '\n' */
  size_t dropped = 0; /* bytes of a too-long line dropped in this call */
  for (;;) {
    size_t have = li->buf.len - li->start;
    char *from = have ? li->buf.data + li->start : NULL;
    char *nl = have > seen ? memchr(from + seen, '\n', have - seen) : NULL;
    if (li->skipping) {
      if (nl) { /* the end of the too-long line: go on after it */
        li->start += (size_t)(nl - from) + 1;
        li->skipping = false;
        seen = 0;
        continue;
      }
      dropped += have;
      li->start = li->buf.len; /* fill starts the buffer over */
      seen = 0;
      if (li->eof) return -1;
      if (!li->regular && dropped >= max) return 0;
      if (fill(li) == 0) return 0;
      continue;
    }
    if (nl || have > max || (li->eof && have)) {
      size_t n = nl ? (size_t)(nl - from) : have;
      li->lineno++;
      if (n > max) {
        /* too long: drop what there is of it; without its '\n' yet, skip
         * the rest as it comes */
        *line = NULL;
        *len = n;
        if (nl) {
          li->start += n + 1;
        } else {
          buf_free(&li->buf);
          li->start = 0;
          li->skipping = !li->eof;
        }
        return 2;
      }
      /* a last line without '\n' is terminated in the byte fill keeps */
      from[n] = '\0';
      *line = from;
      *len = n;
      li->start += nl ? n + 1 : n;
      return 1;
    }
    if (li->eof) return -1;
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
