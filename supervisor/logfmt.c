/*
 * logfmt.c: `--log-format json`: every line the supervisor writes on
 * stderr becomes one JSON object, for a log shipper (journald's JSON
 * mode, Loki, Elasticsearch, `jq`):
 *
 *   {"time":"2026-12-07T23:31:00.123Z","level":"error","source":"harn batch",
 *    "message":"cannot open out.jsonl: Permission denied"}
 *
 * How: stderr is replaced by a stream of our own (fopencookie) that cuts
 * what is written into lines and writes each as an object on fd 2. No
 * message site changes, so no message can be missed: a new fprintf(stderr)
 * is JSON too.
 *
 * Invariants:
 * - One object per line, written with one write(2) (a line of a few KB is
 *   atomic on a pipe up to PIPE_BUF, and never interleaved by us).
 * - A line longer than LOG_MAX_LINE is cut there (the rest follows as the
 *   next object): the buffer filled from our own messages, which may quote
 *   outside text, has a cap.
 * - "source" is the message's "harn CMD:" prefix when it has one (taken
 *   off the message), else the command's own name. "level" is "error"
 *   for a usage line or one that says cannot / failed / error, "warning"
 *   for one that says warning, else "info".
 * - A last line without its newline is written at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json_escape.h"
#include "supervisor/cli.h"
#include "supervisor/sup_internal.h"

#define LOG_MAX_LINE 65536

static struct {
  Buf line;
  const char *who;
} lg;

static const char *level_of(const char *s, size_t n)
{
  static const char *const errs[] = {"cannot ", "failed", "error", "usage:", " is not ", "unknown ", "invalid ", "missing"};
  char tmp[512];
  size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
  memcpy(tmp, s, k);
  tmp[k] = '\0';
  for (size_t i = 0; i < sizeof errs / sizeof *errs; i++)
    if (strcasestr(tmp, errs[i])) return "error";
  if (strcasestr(tmp, "warning")) return "warning";
  return "info";
}

static void emit(const char *s, size_t n)
{
  Buf o = {0};
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[40];
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  /* "harn batch: msg" -> source "harn batch", message "msg" */
  const char *src = lg.who;
  size_t srclen = strlen(src);
  if (n > 5 && !memcmp(s, "harn ", 5)) {
    const char *colon = memchr(s, ':', n);
    if (colon && colon - s < 40 && colon + 1 < s + n && colon[1] == ' ' &&
        !memchr(s + 5, ' ', (size_t)(colon - s - 5))) {
      src = s;
      srclen = (size_t)(colon - s);
      n -= (size_t)(colon + 2 - s);
      s = colon + 2;
    }
  }
  buf_printf(&o, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"source\":", ts, (int)(tv.tv_usec / 1000),
             level_of(s, n));
  json_escape(&o, src, srclen, 0);
  buf_puts(&o, ",\"message\":");
  json_escape(&o, s, n, 0);
  buf_puts(&o, "}\n");
  for (size_t off = 0; off < o.len;) {
    ssize_t w = write(2, o.data + off, o.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  buf_free(&o);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
  (void)c;
  for (size_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      emit(lg.line.data ? lg.line.data : "", lg.line.len);
      lg.line.len = 0;
    } else if (buf[i] != '\r') { /* a bar's redraw has no place in a log */
      buf_putc(&lg.line, buf[i]);
      if (lg.line.len >= LOG_MAX_LINE) {
        emit(lg.line.data, lg.line.len);
        lg.line.len = 0;
      }
    }
  }
  return (ssize_t)n;
}

static void flush_last(void)
{
  fflush(stderr);
  if (lg.line.len) emit(lg.line.data, lg.line.len);
  lg.line.len = 0;
}

bool sup_log_json;

int sup_log_json_start(const char *who)
{
  lg.who = who;
  sup_log_json = true;
  cookie_io_functions_t io = {.write = cookie_write};
  FILE *f = fopencookie(NULL, "w", io);
  if (!f) return -1;
  setvbuf(f, NULL, _IONBF, 0);
  stderr = f;
  atexit(flush_last);
  return 0;
}
