/*
 * conn.c: HsConn, a PostgreSQL connection on a libuv loop that never
 * blocks it (store.h has the contract).
 *
 * States: DOWN (a backoff timer until the next try), RESOLVING (a host
 * name through uv_getaddrinfo), CONNECTING (PQconnectPoll driven by the
 * socket), UP (pipeline mode). One uv_poll_t watches PQsocket(); libpq may
 * change the socket while connecting (another host, another address), so
 * the poll handle is remade when the fd changes, and it is always stopped
 * before libpq closes the fd (a poll on a closed fd would watch whatever
 * reuses the number).
 *
 * In pipeline mode each request is one PQsendQueryParams and one
 * PQpipelineSync: its results are the statement's result, a NULL, then
 * PGRES_PIPELINE_SYNC; a failed statement aborts only its own request.
 * Requests are sent in order as soon as the connection is up and answered
 * in the same order (the FIFO [sent]).
 *
 * One timer serves both deadlines: the connect's, and the oldest sent
 * request's; when it fires the connection is dropped.
 */
#define _GNU_SOURCE
#include "store/store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { C_DOWN, C_RESOLVING, C_CONNECTING, C_UP, C_CLOSED } CState;

typedef struct Req {
  struct Req *next;
  char *sql;
  int n;
  char **params;
  HsResultCb cb;
  void *ud;
  double sent_at;   /* loop ms when sent */
  PGresult *res;    /* the statement's result, once read */
  bool got;         /* its NULL terminator was read: the sync is next */
} Req;

struct HsConn {
  uv_loop_t *loop;
  HsConnHooks hooks;
  char *conninfo, *app;
  double req_timeout, conn_timeout, max_backoff;
  CState state;
  PGconn *pg;
  int fd;
  uv_poll_t *poll;     /* malloc'd; freed by its close callback */
  int poll_events;
  uv_timer_t timer;    /* backoff, connect and request deadlines */
  uv_getaddrinfo_t *gai; /* the resolution in flight, or NULL */
  char *hostaddr;      /* resolved address of the host name, or NULL */
  double connect_started;
  double backoff;
  Req *queue, *qtail;  /* not sent yet */
  Req *sent, *stail;   /* sent, in order */
  int npending;
  uv_idle_t idle;      /* delivers failures outside hs_query's caller */
  Req *failed, *ftail; /* failed requests waiting for the idle callback */
  char *failed_why;
  bool failed_lost;
  int handles;         /* open handles (timer, idle, poll) before the free */
};

static double now_ms(HsConn *c) { return (double)uv_now(c->loop); }

static void req_free(Req *r)
{
  free(r->sql);
  for (int i = 0; i < r->n; i++) free(r->params[i]);
  free(r->params);
  if (r->res) PQclear(r->res);
  free(r);
}

static void append(Req **head, Req **tail, Req *r)
{
  r->next = NULL;
  if (*tail) (*tail)->next = r;
  else *head = r;
  *tail = r;
}

/* ------------------------------------------------------------------ polling */

static void poll_cb(uv_poll_t *h, int status, int events);
static void schedule_timer(HsConn *c);

static void conn_unref(HsConn *c)
{
  if (--c->handles > 0) return;
  free(c->conninfo);
  free(c->app);
  free(c->failed_why);
  free(c->hostaddr);
  free(c);
}

static void close_free(uv_handle_t *h)
{
  HsConn *c = h->data;
  free(h);
  conn_unref(c);
}

static void poll_drop(HsConn *c)
{
  if (!c->poll) return;
  uv_poll_stop(c->poll);
  uv_close((uv_handle_t *)c->poll, close_free);
  c->poll = NULL;
  c->fd = -1;
  c->poll_events = 0;
}

/* Let go of the connection, its poll handle and a name lookup in flight
 * (both a drop and a close do this first). */
static void teardown(HsConn *c)
{
  poll_drop(c);
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  if (c->gai) {
    c->gai->data = NULL; /* its callback frees it */
    uv_cancel((uv_req_t *)c->gai);
    c->gai = NULL;
  }
}

/* Watch the connection's socket for [events]; the handle is remade when
 * libpq's socket changed. 0, or -1 when it cannot be watched. */
static int watch(HsConn *c, int events)
{
  int fd = PQsocket(c->pg);
  if (fd < 0) return -1;
  if (c->poll && c->fd != fd) poll_drop(c);
  if (!c->poll) {
    c->poll = malloc(sizeof *c->poll);
    if (!c->poll) abort();
    if (uv_poll_init(c->loop, c->poll, fd) != 0) {
      free(c->poll);
      c->poll = NULL;
      return -1;
    }
    c->handles++;
    c->poll->data = c;
    c->fd = fd;
    c->poll_events = 0;
  }
  if (events == c->poll_events) return 0;
  c->poll_events = events;
  return uv_poll_start(c->poll, events, poll_cb) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ failure */

static void idle_cb(uv_idle_t *h)
{
  HsConn *c = h->data;
  uv_idle_stop(h);
  while (c->failed) {
    Req *r = c->failed;
    c->failed = r->next;
    if (!c->failed) c->ftail = NULL;
    const char *why = c->failed_why ? c->failed_why : "connection lost";
    r->cb(c, NULL, why, c->failed_lost, r->ud);
    req_free(r);
  }
}

/* Fail every request held: their callbacks run from the idle handle. */
static void fail_all(HsConn *c, const char *why)
{
  Req *lists[2] = {c->sent, c->queue};
  for (int k = 0; k < 2; k++)
    for (Req *r = lists[k], *next; r; r = next) {
      next = r->next;
      append(&c->failed, &c->ftail, r);
      c->npending--;
    }
  c->sent = c->stail = c->queue = c->qtail = NULL;
  free(c->failed_why);
  c->failed_why = strdup(why);
  c->failed_lost = true;
  if (c->failed && c->state != C_CLOSED) uv_idle_start(&c->idle, idle_cb);
}

static void start_connect(HsConn *c);

static void backoff_cb(uv_timer_t *t)
{
  HsConn *c = t->data;
  if (c->state == C_DOWN) start_connect(c);
  else schedule_timer(c);
}

/* The connection is gone (or never came): tell, fail, retry later. */
static void drop(HsConn *c, const char *why)
{
  if (c->state == C_CLOSED) return;
  char *w = strdup(why ? why : "connection lost");
  /* libpq's messages span lines ("...\n\tThis probably means ..."): one line */
  for (char *p = w; *p; p++)
    if (*p == '\n' || *p == '\t') *p = ' ';
  for (size_t n = strlen(w); n && w[n - 1] == ' '; n--) w[n - 1] = 0;
  for (char *p = w; (p = strstr(p, "  "));) memmove(p, p + 1, strlen(p));
  bool was_up = c->state == C_UP;
  teardown(c);
  c->state = C_DOWN;
  /* requests still queued wait for the next connection; those sent are lost */
  Req *keep = c->queue, *ktail = c->qtail;
  c->queue = c->qtail = NULL;
  int nkeep = 0;
  for (Req *r = keep; r; r = r->next) nkeep++;
  c->npending -= nkeep;
  fail_all(c, w);
  c->queue = keep;
  c->qtail = ktail;
  c->npending += nkeep;
  if (c->hooks.on_down) c->hooks.on_down(c, w, c->hooks.ud);
  free(w);
  if (c->state == C_CLOSED) return;
  if (was_up) c->backoff = 100;
  uv_timer_stop(&c->timer);
  uv_timer_start(&c->timer, backoff_cb, (uint64_t)c->backoff, 0);
  c->backoff = c->backoff * 2 > c->max_backoff ? c->max_backoff : c->backoff * 2;
}

/* ------------------------------------------------------------------ timers */

static void deadline_cb(uv_timer_t *t)
{
  HsConn *c = t->data;
  double now = now_ms(c);
  if (c->state == C_CONNECTING || c->state == C_RESOLVING) {
    if (now - c->connect_started >= c->conn_timeout) {
      drop(c, "timeout while connecting");
      return;
    }
  } else if (c->state == C_UP && c->sent && now - c->sent->sent_at >= c->req_timeout) {
    drop(c, "timeout: no answer from the server");
    return;
  }
  schedule_timer(c);
}

/* Arm the timer for the next deadline of the current state. */
static void schedule_timer(HsConn *c)
{
  double due = -1;
  if (c->state == C_CONNECTING || c->state == C_RESOLVING) due = c->connect_started + c->conn_timeout;
  else if (c->state == C_UP && c->sent) due = c->sent->sent_at + c->req_timeout;
  else if (c->state == C_DOWN) return; /* the backoff timer runs */
  uv_timer_stop(&c->timer);
  if (due < 0) return;
  double in = due - now_ms(c);
  uv_timer_start(&c->timer, deadline_cb, in > 0 ? (uint64_t)in + 1 : 0, 0);
}

/* ------------------------------------------------------------------ sending */

/* Send the queued requests and flush; keep watching for writable while
 * libpq has more to write. */
static void pump(HsConn *c)
{
  if (c->state != C_UP) return;
  bool first = c->sent == NULL;
  while (c->queue) {
    Req *r = c->queue;
    if (!PQsendQueryParams(c->pg, r->sql, r->n, NULL, (const char *const *)r->params, NULL, NULL,
                           0) ||
        !PQpipelineSync(c->pg)) {
      drop(c, PQerrorMessage(c->pg));
      return;
    }
    c->queue = r->next;
    if (!c->queue) c->qtail = NULL;
    r->sent_at = now_ms(c);
    append(&c->sent, &c->stail, r);
  }
  int f = PQflush(c->pg);
  if (f < 0) {
    drop(c, PQerrorMessage(c->pg));
    return;
  }
  if (watch(c, UV_READABLE | (f == 1 ? UV_WRITABLE : 0)) < 0) {
    drop(c, "cannot watch the socket");
    return;
  }
  if (first && c->sent) schedule_timer(c);
}

/* ------------------------------------------------------------------ reading */

static void deliver(HsConn *c)
{
  Req *r = c->sent;
  c->sent = r->next;
  if (!c->sent) c->stail = NULL;
  c->npending--;
  PGresult *res = r->res;
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
    r->cb(c, res, NULL, false, r->ud);
  } else {
    char *msg = res ? strdup(PQresultErrorMessage(res)) : strdup("no result");
    for (size_t n = strlen(msg); n && msg[n - 1] == '\n'; n--) msg[n - 1] = 0;
    if (!*msg) {
      free(msg);
      msg = strdup(st == PGRES_PIPELINE_ABORTED ? "pipeline aborted" : PQresStatus(st));
    }
    r->cb(c, NULL, msg, false, r->ud);
    free(msg);
  }
  req_free(r);
}

/* Read what the socket has: results in order, then notifications. */
static void readable(HsConn *c)
{
  if (!PQconsumeInput(c->pg)) {
    drop(c, PQerrorMessage(c->pg));
    return;
  }
  for (;;) {
    if (c->state != C_UP) return; /* a callback closed or reset it */
    if (PQisBusy(c->pg)) break;
    PGresult *res = PQgetResult(c->pg);
    Req *r = c->sent;
    if (!res) {
      if (!r || r->got) break; /* nothing in flight, or the sync is still coming */
      r->got = true;
      continue;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(res);
      if (r) deliver(c);
      continue;
    }
    if (!r) { /* not ours (cannot happen) */
      PQclear(res);
      continue;
    }
    if (r->res) PQclear(r->res);
    r->res = res;
  }
  if (c->state != C_UP) return;
  PGnotify *n;
  while ((n = PQnotifies(c->pg))) {
    if (c->hooks.on_notify) c->hooks.on_notify(c, n->relname, n->extra, c->hooks.ud);
    PQfreemem(n);
    if (c->state != C_UP) return;
  }
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    drop(c, PQerrorMessage(c->pg));
    return;
  }
  schedule_timer(c);
}

/* ------------------------------------------------------------------ connecting */

static void connected(HsConn *c)
{
  if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
    drop(c, PQerrorMessage(c->pg));
    return;
  }
  c->state = C_UP;
  c->backoff = 100;
  uv_timer_stop(&c->timer);
  if (watch(c, UV_READABLE) < 0) {
    drop(c, "cannot watch the socket");
    return;
  }
  if (c->hooks.on_up) c->hooks.on_up(c, c->hooks.ud);
  pump(c);
}

static void connect_step(HsConn *c)
{
  PostgresPollingStatusType st = PQconnectPoll(c->pg);
  switch (st) {
  case PGRES_POLLING_OK:
    connected(c);
    return;
  case PGRES_POLLING_FAILED:
    drop(c, PQerrorMessage(c->pg));
    return;
  case PGRES_POLLING_READING:
    if (watch(c, UV_READABLE) < 0) drop(c, "cannot watch the socket");
    return;
  case PGRES_POLLING_WRITING:
  default:
    if (watch(c, UV_WRITABLE) < 0) drop(c, "cannot watch the socket");
    return;
  }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
  HsConn *c = h->data;
  if (c->state == C_CONNECTING) {
    connect_step(c);
    return;
  }
  if (c->state != C_UP) return;
  if (status < 0) {
    drop(c, uv_strerror(status));
    return;
  }
  if (events & UV_WRITABLE) {
    int f = PQflush(c->pg);
    if (f < 0) {
      drop(c, PQerrorMessage(c->pg));
      return;
    }
    if (f == 0 && watch(c, UV_READABLE) < 0) {
      drop(c, "cannot watch the socket");
      return;
    }
  }
  if (c->state == C_UP && (events & UV_READABLE)) readable(c);
}

static void ignore_notice(void *arg, const char *message) { (void)arg, (void)message; }

/* Start PQconnectStartParams with the runner's settings; [c->hostaddr]
 * when a host name was resolved. */
static void begin_pg(HsConn *c)
{
  const char *keys[16], *vals[16];
  int k = 0;
#define KV(a, b) (keys[k] = (a), vals[k] = (b), k++)
  KV("keepalives", "1");
  KV("keepalives_idle", "5");
  KV("keepalives_interval", "2");
  KV("keepalives_count", "3");
  KV("tcp_user_timeout", "10000");
  KV("application_name", c->app ? c->app : "harn");
  KV("target_session_attrs", "read-write");
  KV("connect_timeout", "5");
  KV("dbname", c->conninfo); /* expanded; what it says overrides the above */
  if (c->hostaddr) KV("hostaddr", c->hostaddr);
  keys[k] = vals[k] = NULL;
#undef KV
  c->pg = PQconnectStartParams(keys, vals, 1);
  if (!c->pg) {
    drop(c, "out of memory");
    return;
  }
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    drop(c, PQerrorMessage(c->pg));
    return;
  }
  /* the server's notices (a WARNING as it shuts down) are not printed:
   * what they mean reaches the owner as on_down */
  PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
  c->state = C_CONNECTING;
  schedule_timer(c);
  /* the first PQconnectPoll is due when the socket is writable */
  if (watch(c, UV_WRITABLE) < 0) drop(c, "cannot watch the socket");
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  HsConn *c = req->data;
  if (c && c->gai == req) {
    c->gai = NULL;
    if (status != 0 || !res) {
      char msg[256];
      snprintf(msg, sizeof msg, "cannot resolve the database host: %s", uv_strerror(status));
      if (res) uv_freeaddrinfo(res);
      free(req);
      drop(c, msg);
      return;
    }
    char addr[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
    else if (res->ai_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr, sizeof addr);
    free(c->hostaddr);
    c->hostaddr = *addr ? strdup(addr) : NULL;
    uv_freeaddrinfo(res);
    free(req);
    begin_pg(c);
    return;
  }
  if (res) uv_freeaddrinfo(res);
  free(req);
}

/* The host name to resolve ourselves: the conninfo's (or PGHOST's) single
 * host when it is a name, not a path or an address, and no hostaddr is
 * given; NULL otherwise (malloc'd). */
static char *host_to_resolve(const char *conninfo)
{
  char *err = NULL, *host = NULL;
  bool has_addr = getenv("PGHOSTADDR") != NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo && *conninfo ? conninfo : "", &err);
  if (err) PQfreemem(err);
  const char *h = getenv("PGHOST");
  if (opts) {
    for (PQconninfoOption *o = opts; o->keyword; o++) {
      if (!o->val || !*o->val) continue;
      if (!strcmp(o->keyword, "host")) h = o->val;
      if (!strcmp(o->keyword, "hostaddr")) has_addr = true;
    }
  }
  if (!has_addr && h && *h && h[0] != '/' && h[0] != '@' && !strchr(h, ',') && strcmp(h, "localhost")) {
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, h, &a4) != 1 && inet_pton(AF_INET6, h, &a6) != 1) host = strdup(h);
  }
  if (opts) PQconninfoFree(opts);
  return host;
}

static void start_connect(HsConn *c)
{
  c->connect_started = now_ms(c);
  char *host = host_to_resolve(c->conninfo);
  if (host) {
    c->state = C_RESOLVING;
    c->gai = malloc(sizeof *c->gai);
    if (!c->gai) abort();
    c->gai->data = c;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(c->loop, c->gai, resolved, host, NULL, &hints);
    free(host);
    if (rc != 0) {
      free(c->gai);
      c->gai = NULL;
      drop(c, uv_strerror(rc));
      return;
    }
    schedule_timer(c);
    return;
  }
  begin_pg(c);
}

/* ------------------------------------------------------------------ public */

HsConn *hs_conn_new(uv_loop_t *loop, const HsConnOptions *o, const HsConnHooks *hooks)
{
  HsConn *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->loop = loop;
  if (hooks) c->hooks = *hooks;
  c->conninfo = strdup(o->conninfo ? o->conninfo : "");
  c->app = o->app ? strdup(o->app) : NULL;
  c->req_timeout = o->request_timeout_ms > 0 ? o->request_timeout_ms : 10000;
  c->conn_timeout = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
  c->max_backoff = o->max_backoff_ms > 0 ? (o->max_backoff_ms < 100 ? 100 : o->max_backoff_ms) : 5000;
  c->fd = -1;
  c->backoff = 100;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  uv_idle_init(loop, &c->idle);
  c->idle.data = c;
  c->handles = 2;
  start_connect(c);
  return c;
}

void hs_query(HsConn *c, const char *sql, int n, const char *const *params, HsResultCb cb, void *ud)
{
  Req *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->sql = strdup(sql);
  r->n = n;
  r->params = calloc((size_t)(n > 0 ? n : 1), sizeof *r->params);
  if (!r->sql || !r->params) abort();
  for (int i = 0; i < n; i++)
    if (params[i] && !(r->params[i] = strdup(params[i]))) abort();
  r->cb = cb;
  r->ud = ud;
  c->npending++;
  if (c->state == C_CLOSED) {
    append(&c->failed, &c->ftail, r);
    c->npending--;
    return;
  }
  append(&c->queue, &c->qtail, r);
  pump(c);
}

bool hs_conn_up(const HsConn *c) { return c->state == C_UP; }
int hs_conn_pending(const HsConn *c) { return c->npending; }

void hs_conn_reset(HsConn *c, const char *why)
{
  if (c->state == C_DOWN || c->state == C_CLOSED) return;
  drop(c, why);
}

static void handle_closed(uv_handle_t *h) { conn_unref(h->data); }

void hs_conn_close(HsConn *c)
{
  if (c->state == C_CLOSED) return;
  teardown(c);
  c->state = C_CLOSED;
  /* the callbacks of what was pending run now, so owners can free */
  fail_all(c, "connection closed");
  idle_cb(&c->idle);
  uv_close((uv_handle_t *)&c->timer, handle_closed);
  uv_close((uv_handle_t *)&c->idle, handle_closed);
}
