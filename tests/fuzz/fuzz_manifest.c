/*
 * fuzz_manifest.c: libFuzzer harness for what the supervisor reads from
 * outside: the JSON parser of supervisor/json.c (manifest lines, --input,
 * results and journal lines) and the line reader of supervisor/linein.c
 * (built only with -DHARN_FUZZ=ON).
 *
 * The input's first byte picks a longest line for linein (1..256) and the
 * chunk size the bytes are fed with (1..64); the whole input is then used
 * four ways:
 *   - JSON: sup_json_parse and sup_json_check agree (the parser may only
 *     refuse more: the member cap); every string, key and RAW text is
 *     NUL-terminated at its length; what sup_json_write makes of a tree
 *     parses again and writes the same bytes (a fixed point), and a RAW
 *     text checks as JSON.
 *   - names: the input's bytes up to the first NUL, written by
 *     sup_json_name and parsed back, are the same bytes (ids round-trip,
 *     whatever they hold).
 *   - linein, through a pipe fed in chunks and through a regular file
 *     (memfd): the lines that come out are exactly the input split on
 *     '\n' (a last line without one included), each too-long line reported
 *     as such (2) at its number and nothing of it returned, and the buffer
 *     stays within a bound of the longest line, whatever the input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "supervisor/sup_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_tree(const SupJson *n, int depth)
{
  CHECK(depth <= 1); /* only the root object's members are nodes */
  if (n->type == SUP_JSON_STRING || n->type == SUP_JSON_RAW || n->type == SUP_JSON_INT ||
      n->type == SUP_JSON_FLOAT) {
    CHECK(n->str && n->str[n->slen] == '\0');
  }
  if (n->type == SUP_JSON_RAW) CHECK(sup_json_check(n->str, n->slen, NULL) == 0);
  if (n->type == SUP_JSON_OBJECT) {
    CHECK(n->len <= SUP_JSON_MAX_MEMBERS);
    for (size_t i = 0; i < n->len; i++) {
      CHECK(n->keys[i] && n->keys[i][n->klens[i]] == '\0');
      check_tree(n->items[i], depth + 1);
    }
  }
}

static void fuzz_json(const char *text, size_t len)
{
  const char *err = NULL;
  SupJson *j = sup_json_parse(text, len, &err);
  int ok = sup_json_check(text, len, NULL) == 0;
  if (!j) {
    CHECK(err != NULL);
    CHECK(!ok || !strcmp(err, "too many members"));
    return;
  }
  CHECK(ok);
  check_tree(j, 0);
  /* What is written parses, and writing is a projection: the second write
   * is a fixed point. (The first need not be: an invalid byte in a string,
   * which `\udcXX` parses to, is written `\ufffd`, which parses to a real
   * U+FFFD, which is written as its UTF-8 bytes; base/json_escape.h.) */
  Buf a = {0}, b = {0}, c = {0};
  sup_json_write(&a, j);
  SupJson *k = sup_json_parse(a.data, a.len, &err);
  CHECK(k != NULL);
  sup_json_write(&b, k);
  SupJson *m = sup_json_parse(b.data, b.len, &err);
  CHECK(m != NULL);
  sup_json_write(&c, m);
  CHECK(b.len == c.len && !memcmp(b.data, c.data, b.len));
  sup_json_free(m);
  sup_json_free(k);
  sup_json_free(j);
  buf_free(&a);
  buf_free(&b);
  buf_free(&c);
}

static void fuzz_name(const char *bytes, size_t size)
{
  size_t n = strnlen(bytes, size);
  char *s = strndup(bytes, n);
  CHECK(s);
  Buf b = {0};
  sup_json_name(&b, s);
  SupJson *j = sup_json_parse(b.data, b.len, NULL);
  CHECK(j && j->type == SUP_JSON_STRING && j->slen == n && !memcmp(j->str, s, n));
  sup_json_free(j);
  buf_free(&b);
  free(s);
}

/* What linein must return for [data]: the lines split on '\n'. */
typedef struct Expect {
  const uint8_t *data;
  size_t size, pos; /* pos: the start of the next line */
  long lineno;
  size_t max;
} Expect;

/* One result of sup_linein_next (1 or 2) against the next expected line. */
static void expect_line(Expect *e, SupLineIn *li, int got, const char *line, size_t len)
{
  CHECK(e->pos < e->size); /* there is a line left */
  const uint8_t *from = e->data + e->pos, *nl = memchr(from, '\n', e->size - e->pos);
  size_t n = nl ? (size_t)(nl - from) : e->size - e->pos;
  e->lineno++;
  CHECK(li->lineno == e->lineno);
  if (n > e->max) {
    CHECK(got == 2 && line == NULL && len > e->max);
  } else {
    CHECK(got == 1 && len == n && !memcmp(line, from, n) && line[n] == '\0');
  }
  e->pos += n + (nl != NULL);
}

/* The buffer holds at most about one longest line and a read. */
static void check_bound(const SupLineIn *li, size_t max)
{
  CHECK(li->buf.cap <= 2 * (max + (1u << 16) + 1));
}

static void fuzz_linein_pipe(const uint8_t *data, size_t size, size_t max, size_t chunk)
{
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return;
  SupLineIn li;
  memset(&li, 0, sizeof li);
  li.fd = p[0];
  li.fifo = true;
  li.max = max;
  Expect e = {data, size, 0, 0, max};
  size_t off = 0;
  bool closed = false;
  for (;;) {
    char *line;
    size_t len;
    int got = sup_linein_next(&li, &line, &len);
    check_bound(&li, max);
    if (got >= 1) {
      expect_line(&e, &li, got, line, len);
      continue;
    }
    if (got < 0) break;
    /* no whole line yet: more bytes, or the end */
    if (off < size) {
      size_t n = size - off < chunk ? size - off : chunk;
      ssize_t w = write(p[1], data + off, n);
      if (w > 0) off += (size_t)w;
    } else if (!closed) {
      close(p[1]);
      closed = true;
    }
  }
  CHECK(e.pos == size && li.err == 0);
  if (!closed) close(p[1]);
  sup_linein_close(&li);
}

static void fuzz_linein_file(const uint8_t *data, size_t size, size_t max)
{
  static int mfd = -1; /* one memfd, refilled: a new one per input costs */
  if (mfd < 0) mfd = memfd_create("fuzz_linein", MFD_CLOEXEC);
  if (mfd < 0 || ftruncate(mfd, 0) != 0) return;
  if (size && pwrite(mfd, data, size, 0) != (ssize_t)size) return;
  int fd = fcntl(mfd, F_DUPFD_CLOEXEC, 3); /* sup_linein_close closes it */
  if (fd < 0) return;
  lseek(fd, 0, SEEK_SET);
  SupLineIn li;
  memset(&li, 0, sizeof li);
  li.fd = fd;
  li.regular = true;
  li.max = max;
  Expect e = {data, size, 0, 0, max};
  for (;;) {
    char *line;
    size_t len;
    int got = sup_linein_next(&li, &line, &len);
    check_bound(&li, max);
    CHECK(got != 0); /* a regular file never makes us wait */
    if (got < 0) break;
    expect_line(&e, &li, got, line, len);
  }
  CHECK(e.pos == size && li.err == 0);
  sup_linein_close(&li);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  size_t max = (size_t)data[0] + 1, chunk = (size_t)(data[0] % 64) + 1;
  data++;
  size--;
  fuzz_json((const char *)data, size);
  fuzz_name((const char *)data, size);
  fuzz_linein_pipe(data, size, max, chunk);
  fuzz_linein_file(data, size, max);
  return 0;
}
