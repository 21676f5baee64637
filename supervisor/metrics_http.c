/*
 * metrics_http.c: `harn runner --metrics ADDR`: a scrape endpoint for
 * Prometheus on the runner's own libuv loop.
 *
 * The smallest HTTP/1.1 server that a scraper needs: each connection
 * sends a request, gets one response with the current text of the
 * counters (sup_metrics_render; Content-Type text/plain; version=0.0.4)
 * and is closed. Any GET is answered with the metrics (Prometheus asks
 * for /metrics; a person's curl may not); any other method gets 405.
 *
 * Invariants:
 * - A request is read up to the end of its headers into a buffer of at
 *   most MH_MAX_REQUEST bytes; more is a 431 and a close. A connection
 *   that has not finished its request within MH_TIMEOUT_MS is closed, and
 *   at most MH_MAX_CONNS are open at once (more are accepted and closed at
 *   once): a slow or hostile client costs bounded memory and never blocks
 *   the loop, which also runs the jobs.
 * - sup_metrics_server_close closes the listener and every connection;
 *   the server is freed when the last handle's close callback has run.
 * - Only what ADDR names is bound (default advice: 127.0.0.1:PORT); the
 *   text holds no secret, but an operator chooses who may read it.
 */
#include "supervisor/sup_internal.h"

#include <stdlib.h>
#include <string.h>

#define MH_MAX_REQUEST 8192
#define MH_TIMEOUT_MS 5000
#define MH_MAX_CONNS 32

typedef struct Conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  struct SupMetricsServer *srv;
  struct Conn *next;
  char buf[MH_MAX_REQUEST];
  size_t len;
  bool answered;
  int open_handles;
  uv_write_t wr;
  Buf out;
} Conn;

struct SupMetricsServer {
  uv_tcp_t listener;
  SupMetrics *m;
  Conn *conns;
  int nconns;
  int port;
  bool closing;
  int open_handles; /* the listener, and each connection's two */
};

static void server_maybe_free(SupMetricsServer *s)
{
  if (s->closing && s->open_handles == 0 && !s->conns) free(s);
}

static void conn_handle_closed(uv_handle_t *h)
{
  Conn *c = h->data;
  SupMetricsServer *s = c->srv;
  if (--c->open_handles > 0) return;
  for (Conn **pp = &s->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  s->nconns--;
  buf_free(&c->out);
  free(c);
  server_maybe_free(s);
}

static void conn_close(Conn *c)
{
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void written(uv_write_t *w, int status)
{
  (void)status;
  conn_close(w->data);
}

static void respond(Conn *c, const char *status, const char *ctype, const char *body, size_t n)
{
  c->answered = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  buf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             status, ctype, n);
  buf_append(&c->out, body, n);
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, written) != 0) conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  (void)hint;
  Conn *c = h->data;
  b->base = c->buf + c->len;
  b->len = sizeof c->buf - c->len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
  (void)b;
  Conn *c = st->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  if (c->answered) return;
  /* the request line and headers end with an empty line */
  bool whole = false;
  for (size_t i = 3; i < c->len && !whole; i++)
    whole = !memcmp(c->buf + i - 3, "\r\n\r\n", 4);
  if (!whole && c->len >= 2) whole = c->len >= 2 && !memcmp(c->buf + c->len - 2, "\n\n", 2);
  if (!whole) {
    if (c->len == sizeof c->buf) {
      static const char msg[] = "request too large\n";
      respond(c, "431 Request Header Fields Too Large", "text/plain", msg, sizeof msg - 1);
    }
    return;
  }
  if (c->len < 4 || memcmp(c->buf, "GET ", 4)) {
    static const char msg[] = "only GET\n";
    respond(c, "405 Method Not Allowed", "text/plain", msg, sizeof msg - 1);
    return;
  }
  Buf body = {0};
  sup_metrics_render(c->srv->m, &body);
  respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.data ? body.data : "", body.len);
  buf_free(&body);
}

static void conn_timeout(uv_timer_t *t) { conn_close(t->data); }

static void on_connection(uv_stream_t *server, int status)
{
  SupMetricsServer *s = server->data;
  if (status < 0 || s->closing) return;
  Conn *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->srv = s;
  sup_uv_must(uv_tcp_init(server->loop, &c->tcp), "uv_tcp_init");
  sup_uv_must(uv_timer_init(server->loop, &c->timer), "uv_timer_init");
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->next = s->conns;
  s->conns = c;
  s->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || s->nconns > MH_MAX_CONNS ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  sup_uv_must(uv_timer_start(&c->timer, conn_timeout, MH_TIMEOUT_MS, 0), "uv_timer_start");
  uv_unref((uv_handle_t *)&c->timer);
}

static void listener_closed(uv_handle_t *h)
{
  SupMetricsServer *s = h->data;
  s->open_handles--;
  server_maybe_free(s);
}

SupMetricsServer *sup_metrics_serve(uv_loop_t *loop, const char *addr, SupMetrics *m, char *why,
                                    size_t whylen)
{
  /* HOST:PORT, [V6]:PORT; localhost is 127.0.0.1 */
  char host[128];
  const char *colon = strrchr(addr, ':');
  size_t hl = colon ? (size_t)(colon - addr) : 0;
  char *end;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || hl == 0 || hl >= sizeof host || !colon[1] || *end || port < 0 || port > 65535) {
    snprintf(why, whylen, "--metrics %.60s: not HOST:PORT", addr);
    return NULL;
  }
  const char *h = addr;
  if (addr[0] == '[' && colon[-1] == ']') h++, hl -= 2;
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  struct sockaddr_storage sa;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&sa) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&sa) != 0) {
    snprintf(why, whylen, "--metrics %.60s: %s is not an IP address (or localhost)", addr, host);
    return NULL;
  }
  SupMetricsServer *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->m = m;
  sup_uv_must(uv_tcp_init(loop, &s->listener), "uv_tcp_init");
  s->listener.data = s;
  s->open_handles = 1;
  int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
  if (rc != 0) {
    snprintf(why, whylen, "--metrics %.60s: cannot listen: %s", addr, uv_strerror(rc));
    s->closing = true;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
    return NULL;
  }
  struct sockaddr_storage got;
  int len = sizeof got;
  if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) == 0)
    s->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                              : ((struct sockaddr_in *)&got)->sin_port);
  return s;
}

int sup_metrics_server_port(const SupMetricsServer *s) { return s->port; }

void sup_metrics_server_close(SupMetricsServer *s)
{
  if (!s || s->closing) return;
  s->closing = true;
  for (Conn *c = s->conns; c; c = c->next) conn_close(c);
  uv_close((uv_handle_t *)&s->listener, listener_closed);
}
