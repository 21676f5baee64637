/*
 * fakehttp.c: a fake HTTP/1.1 server on 127.0.0.1 for the broker's tests
 * (tests/integration/test_net.sh), on libuv. `fakehttp [PORT]` (0 or none:
 * any free port) prints its port on stdout, then serves until killed.
 * One request per connection (Connection: close). Routes:
 *   /ok                          200 "ok"
 *   /slow?ms=N                   200 after N ms
 *   /big?bytes=N                 200 with N bytes of 'x'
 *   /redirect?to=URL             302 Location: URL
 *   /status?code=N&retry-after=S N, with Retry-After: S when given; the
 *                                 same path answers 200 once it was asked
 *                                 3 times (retry tests)
 *   /echo                        200, the request headers as a JSON object
 * Invariant: a request head is read up to 64 KiB (the cap), else 431.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define HEAD_CAP 65536

typedef struct Conn {
  uv_tcp_t tcp;
  char buf[HEAD_CAP];
  size_t len;
  uv_timer_t timer;
  char *resp;
  size_t resp_len;
  int closing;
} Conn;

static uv_loop_t *loop;
static int status_hits;

static void conn_closed(uv_handle_t *h)
{
  Conn *c = h->data;
  if (--c->closing == 0) {
    free(c->resp);
    free(c);
  }
}

static void conn_close(Conn *c)
{
  if (c->closing) return;
  c->closing = 2;
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
  uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void written(uv_write_t *w, int status)
{
  (void)status;
  Conn *c = w->data;
  free(w);
  conn_close(c);
}

static void send_resp(Conn *c)
{
  uv_write_t *w = malloc(sizeof *w);
  w->data = c;
  uv_buf_t b = uv_buf_init(c->resp, (unsigned)c->resp_len);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, written) != 0) {
    free(w);
    conn_close(c);
  }
}

static void later(uv_timer_t *t) { send_resp(t->data); }

static void set_resp(Conn *c, int code, const char *extra, const char *body, size_t blen)
{
  size_t cap = blen + 512 + (extra ? strlen(extra) : 0);
  c->resp = malloc(cap);
  int n = snprintf(c->resp, cap, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", code,
                   blen, extra ? extra : "");
  memcpy(c->resp + n, body, blen);
  c->resp_len = (size_t)n + blen;
}

static const char *param(const char *q, const char *name, char *out, size_t n)
{
  size_t l = strlen(name);
  for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, name, l) == 0 && p[l] == '=') {
      size_t k = strcspn(p + l + 1, "& ");
      if (k >= n) k = n - 1;
      memcpy(out, p + l + 1, k);
      out[k] = '\0';
      return out;
    }
  }
  return NULL;
}

static void handle(Conn *c)
{
  char method[16], target[4096];
  if (sscanf(c->buf, "%15s %4095s", method, target) != 2) {
    set_resp(c, 400, NULL, "bad", 3);
    send_resp(c);
    return;
  }
  char *q = strchr(target, '?');
  if (q) *q++ = '\0';
  char v[4096];
  long delay = 0;
  if (strcmp(target, "/ok") == 0) {
    set_resp(c, 200, "Content-Type: text/plain\r\n", "ok", 2);
  } else if (strcmp(target, "/slow") == 0) {
    delay = param(q, "ms", v, sizeof v) ? atol(v) : 1000;
    set_resp(c, 200, NULL, "slow", 4);
  } else if (strcmp(target, "/big") == 0) {
    size_t n = param(q, "bytes", v, sizeof v) ? (size_t)atol(v) : 1000;
    char *b = malloc(n + 1);
    memset(b, 'x', n);
    set_resp(c, 200, NULL, b, n);
    free(b);
  } else if (strcmp(target, "/redirect") == 0 && param(q, "to", v, sizeof v)) {
    char h[4200];
    snprintf(h, sizeof h, "Location: %s\r\n", v);
    set_resp(c, 302, h, "", 0);
  } else if (strcmp(target, "/status") == 0) {
    int code = param(q, "code", v, sizeof v) ? atoi(v) : 500;
    char h[4200] = "";
    if (param(q, "retry-after", v, sizeof v)) snprintf(h, sizeof h, "Retry-After: %s\r\n", v);
    if (++status_hits % 3 == 0) set_resp(c, 200, NULL, "recovered", 9);
    else set_resp(c, code, h, "status", 6);
  } else if (strcmp(target, "/echo") == 0) {
    char out[HEAD_CAP + 1024];
    size_t o = 0;
    out[o++] = '{';
    char *line = strstr(c->buf, "\r\n");
    int first = 1;
    while (line && line[2] != '\r') {
      line += 2;
      char *end = strstr(line, "\r\n");
      char *colon = memchr(line, ':', (size_t)(end - line));
      if (!colon) break;
      char *val = colon + 1;
      while (*val == ' ') val++;
      o += (size_t)snprintf(out + o, sizeof out - o, "%s\"%.*s\":\"%.*s\"", first ? "" : ",",
                            (int)(colon - line), line, (int)(end - val), val);
      first = 0;
      line = end;
    }
    out[o++] = '}';
    set_resp(c, 200, "Content-Type: application/json\r\n", out, o);
  } else {
    set_resp(c, 404, NULL, "not found", 9);
  }
  if (delay > 0) uv_timer_start(&c->timer, later, (uint64_t)delay, 0);
  else send_resp(c);
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
  (void)s;
  Conn *c = h->data;
  b->base = c->buf + c->len;
  b->len = HEAD_CAP - 1 - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  (void)b;
  Conn *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (strstr(c->buf, "\r\n\r\n")) {
    uv_read_stop(s);
    handle(c);
  } else if (c->len >= HEAD_CAP - 1) {
    uv_read_stop(s);
    set_resp(c, 431, NULL, "", 0);
    send_resp(c);
  }
}

static void on_conn(uv_stream_t *srv, int status)
{
  if (status < 0) return;
  Conn *c = calloc(1, sizeof *c);
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0) uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  else conn_close(c);
}

int main(int argc, char **argv)
{
  loop = uv_default_loop();
  uv_tcp_t srv;
  uv_tcp_init(loop, &srv);
  struct sockaddr_in a;
  uv_ip4_addr(argc > 2 ? argv[2] : "127.0.0.1", argc > 1 ? atoi(argv[1]) : 0, &a);
  if (uv_tcp_bind(&srv, (const struct sockaddr *)&a, 0) != 0 ||
      uv_listen((uv_stream_t *)&srv, 128, on_conn) != 0) {
    fprintf(stderr, "fakehttp: cannot listen\n");
    return 1;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &len);
  printf("%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
