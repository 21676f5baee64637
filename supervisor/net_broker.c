/*
 * net_broker.c: the HTTP broker (CAPABILITIES.md 7): `net.request` host
 * calls of sandboxed jobs, made by the supervisor with libcurl's
 * multi-socket API driven by the pool's libuv loop (curl's multi-uv.c
 * pattern: CURLMOPT_SOCKETFUNCTION -> one uv_poll per socket,
 * CURLMOPT_TIMERFUNCTION -> one uv_timer).
 *
 * A call's args: {method, url, headers?, body?, query?, auth?, timeout_ms?,
 * follow_redirects?, max_redirects?, retry?: {max, backoff_ms}}. Its
 * answer: {status, headers, body, ok}, or an error: EgressBlocked
 * (nothing sent), `limit` (requests per job), `response_too_large`
 * (--max-response-bytes), `timeout`, `transient_network`, `cancelled`.
 *
 * Checks: the URL against the job's rules (net_rules.c) before any
 * transfer, on every redirect hop (the broker follows redirects itself,
 * CURLOPT_FOLLOWLOCATION off) and every retry; every resolved address in
 * CURLOPT_OPENSOCKETFUNCTION (DNS answers, rebinding). CURLOPT_PROXY ""
 * (the supervisor's proxy variables never apply), protocols http and
 * https only.
 *
 * Limits: the response body is capped in the write callback; each
 * transfer (redirect hops and retries included) counts against the job's
 * request cap; timeouts are clamped to the job's remaining deadline; at
 * most NET_MAX_CONCURRENT transfers of a job run at once, the others wait
 * (queued) in call order.
 *
 * Invariants
 *  - A request is in exactly one of: waiting for a slot (queued), a curl
 *    transfer in the multi handle (counted in NetJob.active), a retry
 *    timer, or being freed (its timer closing).
 *  - Exactly one answer per call, unless the job ends first:
 *    sup_net_job_end removes every transfer of the job from the multi
 *    handle and frees it, answering nothing (the worker is gone).
 *  - What a job's log keeps is capped (NET_LOG_MAX entries each).
 */
#define _GNU_SOURCE
#include "supervisor/net_broker.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "supervisor/sup_internal.h"

#define NET_LOG_MAX 1000
#define NET_MAX_HEADERS 100
#define NET_DEFAULT_TIMEOUT_MS 30000.0
#define NET_DEFAULT_MAX_REDIRECTS 10
#define NET_MAX_CONCURRENT 4   /* transfers of one job at once; the rest wait */

typedef struct NetReq NetReq;

typedef struct SupNet {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  bool timer_open;
} SupNet;

typedef struct NetJob {
  NetReq *reqs;          /* live requests of the job, newest first */
  int active;            /* ... of which transfers in the multi handle */
  bool ending;           /* sup_net_job_end: start nothing more */
  int requests;          /* transfers started (hops, retries included) */
  Buf used, denied;      /* JSON items, comma-separated */
  int nused, ndenied;
  uint64_t used_dropped;
} NetJob;

struct NetReq {
  NetReq *next;
  SupJob *job;
  SupNet *net;
  uint64_t id;
  CURL *easy;
  struct curl_slist *hdrs;
  char method[16];
  char *url;             /* current URL (redirects change it) */
  char *body;
  size_t body_len;
  char *userpwd;
  Buf resp;
  bool too_big;
  Buf rh;                /* response headers: name\0value\0 ... */
  int nrh;
  char blocked[300];     /* opensocket refusal reason, "" when none */
  char host[256];
  int port;
  double timeout_ms;
  bool follow;
  int redirects_left, retries_left;
  double backoff_ms;
  int attempt;
  bool queued;           /* waiting for one of the job's transfer slots */
  double t0;             /* monotonic ms at the call */
  uv_timer_t retry;      /* closed before the request is freed */
};

static long live_transfers;
long sup_net_live(void) { return live_transfers; }

static void check_done(SupNet *n);
static bool start(NetReq *r);
static void req_free(NetReq *r);

/* Start the job's oldest waiting requests while it has free slots. */
static void pump_queue(SupJob *j)
{
  NetJob *nj = *sup_job_broker_slot(j);
  while (nj && !nj->ending && nj->active < NET_MAX_CONCURRENT) {
    NetReq *oldest = NULL;
    for (NetReq *r = nj->reqs; r; r = r->next)
      if (r->queued) oldest = r;
    if (!oldest) return;
    oldest->queued = false;
    if (!start(oldest)) req_free(oldest);
  }
}

/* A transfer of [r] left the multi handle. */
static void transfer_gone(NetReq *r)
{
  curl_multi_remove_handle(r->net->multi, r->easy);
  curl_easy_cleanup(r->easy);
  r->easy = NULL;
  live_transfers--;
  NetJob *nj = *sup_job_broker_slot(r->job);
  if (nj) nj->active--;
}

/* ---- the multi handle on the loop (curl's multi-uv.c) ------------------- */

typedef struct SockCtx {
  uv_poll_t poll;
  curl_socket_t fd;
  SupNet *net;
} SockCtx;

static void ctx_closed(uv_handle_t *h) { free(container_of((uv_poll_t *)h, SockCtx, poll)); }

static void poll_cb(uv_poll_t *h, int status, int events)
{
  SockCtx *c = container_of(h, SockCtx, poll);
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  SupNet *n = c->net;
  curl_multi_socket_action(n->multi, c->fd, flags, &running);
  check_done(n);
}

static int sock_cb(CURL *e, curl_socket_t s, int action, void *userp, void *socketp)
{
  (void)e;
  SupNet *n = userp;
  SockCtx *c = socketp;
  if (action == CURL_POLL_REMOVE) {
    if (c) {
      uv_poll_stop(&c->poll);
      uv_close((uv_handle_t *)&c->poll, ctx_closed);
      curl_multi_assign(n->multi, s, NULL);
    }
    return 0;
  }
  if (!c) {
    c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->fd = s;
    c->net = n;
    if (uv_poll_init_socket(n->loop, &c->poll, s) != 0) {
      free(c);
      return -1;
    }
    /* the jobs keep the loop alive, never a socket of ours */
    uv_unref((uv_handle_t *)&c->poll);
    curl_multi_assign(n->multi, s, c);
  }
  int ev = ((action & CURL_POLL_IN) ? UV_READABLE : 0) | ((action & CURL_POLL_OUT) ? UV_WRITABLE : 0);
  uv_poll_start(&c->poll, ev, poll_cb);
  return 0;
}

static void on_timeout(uv_timer_t *t)
{
  SupNet *n = container_of(t, SupNet, timer);
  int running;
  curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(n);
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
  (void)m;
  SupNet *n = userp;
  if (ms < 0) uv_timer_stop(&n->timer);
  else uv_timer_start(&n->timer, on_timeout, (uint64_t)ms, 0);
  return 0;
}

static SupNet *net_of(SupPool *p)
{
  if (p->net) return p->net;
  static bool global_init;
  if (!global_init) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    global_init = true;
  }
  SupNet *n = calloc(1, sizeof *n);
  if (!n) abort();
  n->loop = p->loop;
  n->multi = curl_multi_init();
  if (!n->multi) abort();
  uv_timer_init(p->loop, &n->timer);
  n->timer_open = true;
  uv_unref((uv_handle_t *)&n->timer);
  curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n);
  curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n);
  p->net = n;
  return n;
}

static void net_closed(uv_handle_t *h) { free(container_of((uv_timer_t *)h, SupNet, timer)); }

void sup_net_pool_close(SupPool *p)
{
  SupNet *n = p->net;
  if (!n) return;
  curl_multi_cleanup(n->multi);
  p->net = NULL;
  uv_close((uv_handle_t *)&n->timer, net_closed);
}

/* ---- per job ------------------------------------------------------------------- */

static NetJob *job_of(SupJob *j)
{
  void **slot = sup_job_broker_slot(j);
  if (!*slot) {
    *slot = calloc(1, sizeof(NetJob));
    if (!*slot) abort();
  }
  return *slot;
}

/* The URL for the record: no user info, sensitive query values redacted
 * (the reference's redact_sensitive_url). */
static void redact_url(const char *url, Buf *out)
{
  CURLU *u = curl_url();
  char *s = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    char *q = NULL;
    if (curl_url_get(u, CURLUPART_QUERY, &q, 0) == CURLUE_OK && q) {
      Buf nq = {0};
      char *save = NULL;
      for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        if (nq.len) buf_putc(&nq, '&');
        char *eq = strchr(kv, '=');
        size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
        static const char *const secret[] = {"token", "key", "api_key", "apikey", "secret", "password",
                                             "access_token", "sig", "signature", "auth", NULL};
        bool hide = false;
        for (int i = 0; secret[i]; i++)
          if (strlen(secret[i]) == kl && strncasecmp(kv, secret[i], kl) == 0) hide = true;
        if (hide && eq) {
          buf_append(&nq, kv, kl);
          buf_puts(&nq, "=[redacted]");
        } else {
          buf_puts(&nq, kv);
        }
      }
      buf_putc(&nq, '\0');
      curl_url_set(u, CURLUPART_QUERY, nq.data, 0);
      buf_free(&nq);
      curl_free(q);
    }
    curl_url_get(u, CURLUPART_URL, &s, 0);
  }
  buf_puts(out, s ? s : "(unparsable url)");
  curl_free(s);
  curl_url_cleanup(u);
}

static void log_used(NetReq *r, long status, size_t bytes)
{
  NetJob *nj = job_of(r->job);
  if (nj->nused >= NET_LOG_MAX) {
    nj->used_dropped++;
    return;
  }
  Buf url = {0};
  redact_url(r->url, &url);
  buf_putc(&url, '\0');
  Buf *b = &nj->used;
  if (nj->nused++) buf_putc(b, ',');
  buf_puts(b, "{\"method\":");
  sup_json_name(b, r->method);
  buf_puts(b, ",\"url\":");
  sup_json_name(b, url.data);
  buf_puts(b, ",\"status\":");
  sup_json_uint(b, (unsigned long long)status);
  buf_puts(b, ",\"bytes\":");
  sup_json_uint(b, (unsigned long long)bytes);
  buf_puts(b, ",\"ms\":");
  sup_json_uint(b, (unsigned long long)(sup_now_ms() - r->t0 + 0.5));
  buf_putc(b, '}');
  buf_free(&url);
}

static void log_denied(SupJob *j, const char *url, const char *reason)
{
  NetJob *nj = job_of(j);
  if (nj->ndenied >= NET_LOG_MAX) return;
  Buf u = {0};
  redact_url(url, &u);
  buf_putc(&u, '\0');
  Buf *b = &nj->denied;
  if (nj->ndenied++) buf_putc(b, ',');
  buf_puts(b, "{\"op\":\"net\",\"target\":");
  sup_json_name(b, u.data);
  buf_puts(b, ",\"reason\":");
  sup_json_name(b, reason);
  buf_putc(b, '}');
  buf_free(&u);
}

bool sup_net_record(SupJob *j, Buf *used, Buf *denied)
{
  NetJob *nj = *sup_job_broker_slot(j);
  if (!nj) return false;
  if (nj->used.len) buf_append(used, nj->used.data, nj->used.len);
  if (nj->denied.len) buf_append(denied, nj->denied.data, nj->denied.len);
  return true;
}

/* ---- requests ------------------------------------------------------------------------ */

static void req_closed(uv_handle_t *h)
{
  NetReq *r = container_of((uv_timer_t *)h, NetReq, retry);
  free(r);
}

/* Unlink [r] from its job, stop its transfer, free it (the timer closes). */
static void req_free(NetReq *r)
{
  NetJob *nj = *sup_job_broker_slot(r->job);
  if (nj)
    for (NetReq **p = &nj->reqs; *p; p = &(*p)->next)
      if (*p == r) {
        *p = r->next;
        break;
      }
  bool had = r->easy != NULL;
  if (had) transfer_gone(r);
  SupJob *job = r->job;
  curl_slist_free_all(r->hdrs);
  free(r->url);
  free(r->body);
  free(r->userpwd);
  buf_free(&r->resp);
  buf_free(&r->rh);
  uv_close((uv_handle_t *)&r->retry, req_closed);
  if (had) pump_queue(job);
}

static size_t write_cb(char *p, size_t sz, size_t nm, void *ud)
{
  NetReq *r = ud;
  size_t n = sz * nm;
  uint64_t cap = sup_job_pool(r->job)->cfg.max_response_bytes;
  if (r->resp.len + n > cap) {
    r->too_big = true;
    return 0; /* CURLE_WRITE_ERROR: the transfer stops */
  }
  buf_append(&r->resp, p, n);
  return n;
}

static size_t header_cb(char *p, size_t sz, size_t nm, void *ud)
{
  NetReq *r = ud;
  size_t n = sz * nm;
  if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
    buf_clear(&r->rh); /* a new response (after 100 Continue...) */
    r->nrh = 0;
    return n;
  }
  const char *colon = memchr(p, ':', n);
  if (!colon || r->nrh >= NET_MAX_HEADERS) return n;
  size_t kl = (size_t)(colon - p);
  const char *v = colon + 1, *end = p + n;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  for (size_t i = 0; i < kl; i++) {
    char c = p[i];
    buf_putc(&r->rh, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
  }
  buf_putc(&r->rh, '\0');
  buf_append(&r->rh, v, (size_t)(end - v));
  buf_putc(&r->rh, '\0');
  r->nrh++;
  return n;
}

static const char *resp_header(NetReq *r, const char *name)
{
  const char *p = r->rh.data;
  for (int i = 0; i < r->nrh; i++) {
    const char *v = p + strlen(p) + 1;
    if (strcmp(p, name) == 0) return v;
    p = v + strlen(v) + 1;
  }
  return NULL;
}

/* CURLOPT_OPENSOCKETFUNCTION: check 2, on the resolved address. */
static curl_socket_t open_cb(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
  NetReq *r = ud;
  (void)purpose;
  unsigned char a16[16];
  int port = 0;
  if (a->family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->addr;
    memset(a16, 0, 10);
    a16[10] = a16[11] = 0xff;
    memcpy(a16 + 12, &s->sin_addr, 4);
    port = ntohs(s->sin_port);
  } else if (a->family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->addr;
    memcpy(a16, &s->sin6_addr, 16);
    port = ntohs(s->sin6_port);
  } else {
    snprintf(r->blocked, sizeof r->blocked, "address family %d is not allowed", a->family);
    return CURL_SOCKET_BAD;
  }
  const NetRules *rules = sup_job_pool(r->job)->cfg.net_rules;
  if (net_rules_check_addr(rules, a16, r->host, port, r->blocked, sizeof r->blocked) != 0)
    return CURL_SOCKET_BAD;
  r->blocked[0] = '\0';
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Check 1 on [url]: 0, or -1 after the EgressBlocked answer. Sets host/port. */
static int check_url(NetReq *r, const char *url)
{
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  int rc = -1;
  char reason[300] = "the URL cannot be parsed";
  if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    snprintf(r->host, sizeof r->host, "%s", host);
    size_t hl = strlen(r->host);
    if (hl > 2 && r->host[0] == '[') {
      memmove(r->host, r->host + 1, hl - 2);
      r->host[hl - 2] = '\0';
    }
    r->port = atoi(port);
    rc = net_rules_check_url(sup_job_pool(r->job)->cfg.net_rules, scheme, host, r->port, reason,
                             sizeof reason);
  }
  if (rc != 0) {
    log_denied(r->job, url, reason);
    sup_host_egress_blocked(r->job, r->id, host ? r->host : "", r->port, reason, url);
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

/* Start one transfer of [r] (first, redirect hop, retry): false after
 * answering (refused, over the cap). */
static bool start(NetReq *r)
{
  NetJob *nj = job_of(r->job);
  SupPool *p = sup_job_pool(r->job);
  if (nj->active >= NET_MAX_CONCURRENT) {
    r->queued = true; /* pump_queue starts it when a slot frees */
    return true;
  }
  if (check_url(r, r->url) != 0) return false;
  if (nj->requests >= p->cfg.max_requests) {
    char m[120];
    snprintf(m, sizeof m, "the job made its %d requests (the cap per job)", p->cfg.max_requests);
    sup_host_error(r->job, r->id, "limit", m);
    return false;
  }
  double left = sup_job_ms_left(r->job);
  double t = r->timeout_ms;
  if (left >= 0 && left < t) t = left;
  if (t < 1) {
    sup_host_error(r->job, r->id, "timeout", "the job's deadline leaves no time for the request");
    return false;
  }
  nj->requests++;
  buf_clear(&r->resp);
  buf_clear(&r->rh);
  r->nrh = 0;
  r->too_big = false;
  r->blocked[0] = '\0';
  CURL *e = curl_easy_init();
  if (!e) {
    sup_host_error(r->job, r->id, "generic", "out of memory");
    return false;
  }
  r->easy = e;
  live_transfers++;
  nj->active++;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  /* no connection outlives its transfer: none is shared between jobs
   * (each connect sees the address check), and none is left idle in a
   * cache when the pool closes */
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)p->cfg.max_response_bytes);
  if (r->hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
  if (r->userpwd) curl_easy_setopt(e, CURLOPT_USERPWD, r->userpwd);
  if (strcmp(r->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(r->method, "GET") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  if (r->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
  }
  if (curl_multi_add_handle(r->net->multi, e) != CURLM_OK) {
    curl_easy_cleanup(e);
    r->easy = NULL;
    live_transfers--;
    nj->active--;
    sup_host_error(r->job, r->id, "generic", "the transfer could not be started");
    return false;
  }
  return true;
}

static void answer_ok(NetReq *r, long status)
{
  IpcFrame f;
  ipc_frame_init(&f);
  ipc_frame_begin(&f, IPC_MSG_HOST_RESULT, NULL, 3);
  msgpack_packer *pk = ipc_frame_packer(&f);
  ipc_pack_str(pk, "id");
  msgpack_pack_uint64(pk, r->id);
  ipc_pack_str(pk, "ok");
  msgpack_pack_true(pk);
  ipc_pack_str(pk, "value");
  msgpack_pack_map(pk, 4);
  ipc_pack_str(pk, "status");
  msgpack_pack_int64(pk, status);
  ipc_pack_str(pk, "headers");
  msgpack_pack_map(pk, (size_t)r->nrh);
  const char *h = r->rh.data;
  for (int i = 0; i < r->nrh; i++) {
    const char *v = h + strlen(h) + 1;
    ipc_pack_str(pk, h);
    ipc_pack_str(pk, v);
    h = v + strlen(v) + 1;
  }
  ipc_pack_str(pk, "body");
  ipc_pack_strn(pk, r->resp.data ? r->resp.data : "", r->resp.len);
  ipc_pack_str(pk, "ok");
  if (status >= 200 && status < 300) msgpack_pack_true(pk);
  else msgpack_pack_false(pk);
  Buf b = {0};
  if (ipc_frame_end(&f, &b) == 0) sup_host_answer_frame(r->job, r->id, &b);
  else sup_host_error(r->job, r->id, "response_too_large", "the response does not fit in a frame");
  buf_free(&b);
  ipc_frame_destroy(&f);
}

static void retry_fire(uv_timer_t *t)
{
  NetReq *r = container_of(t, NetReq, retry);
  if (!start(r)) req_free(r);
}

/* A transfer of [r] ended with [res]. */
static void finished(NetReq *r, CURLcode res)
{
  long status = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  char *redir = NULL;
  curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &redir);
  char *next = redir ? strdup(redir) : NULL;
  log_used(r, res == CURLE_OK ? status : 0, r->resp.len);
  transfer_gone(r);
  pump_queue(r->job);
  if (res != CURLE_OK) {
    free(next);
    if (r->blocked[0]) {
      log_denied(r->job, r->url, r->blocked);
      sup_host_egress_blocked(r->job, r->id, r->host, r->port, r->blocked, r->url);
    } else if (r->too_big || res == CURLE_FILESIZE_EXCEEDED) {
      char m[120];
      snprintf(m, sizeof m, "the response exceeds --max-response-bytes (%llu)",
               (unsigned long long)sup_job_pool(r->job)->cfg.max_response_bytes);
      sup_host_error(r->job, r->id, "response_too_large", m);
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
      sup_host_error(r->job, r->id, "timeout", curl_easy_strerror(res));
    } else {
      sup_host_error(r->job, r->id, "transient_network", curl_easy_strerror(res));
    }
    req_free(r);
    return;
  }
  if (status >= 300 && status < 400 && next && r->follow) {
    if (r->redirects_left-- <= 0) {
      free(next);
      sup_host_error(r->job, r->id, "generic", "too many redirects");
      req_free(r);
      return;
    }
    free(r->url);
    r->url = next;
    if (status == 303 || ((status == 301 || status == 302) && strcmp(r->method, "POST") == 0)) {
      snprintf(r->method, sizeof r->method, "GET");
      free(r->body);
      r->body = NULL;
    }
    if (!start(r)) req_free(r);
    return;
  }
  free(next);
  bool retryable = status == 408 || status == 429 || status >= 500;
  if (retryable && r->retries_left > 0) {
    r->retries_left--;
    double delay = r->backoff_ms * (double)(1 << (r->attempt < 10 ? r->attempt : 10));
    const char *ra = resp_header(r, "retry-after");
    if (ra && *ra >= '0' && *ra <= '9') delay = atof(ra) * 1000.0;
    r->attempt++;
    double left = sup_job_ms_left(r->job);
    if (left < 0 || delay < left) {
      uv_timer_start(&r->retry, retry_fire, (uint64_t)(delay < 0 ? 0 : delay), 0);
      return;
    }
  }
  answer_ok(r, status);
  req_free(r);
}

static void check_done(SupNet *n)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(n->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    NetReq *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (r) finished(r, m->data.result);
  }
}

/* ---- the host calls ------------------------------------------------------------------ */

static double onum(const msgpack_object *o, double dflt)
{
  if (!o) return dflt;
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)o->via.u64;
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return (double)o->via.i64;
  if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) return o->via.f64;
  return dflt;
}

/* A header line "Name: value" unless it holds CR/LF (header injection). */
static bool add_header(NetReq *r, const char *name, size_t nl, const char *val, size_t vl)
{
  if (memchr(name, '\r', nl) || memchr(name, '\n', nl) || memchr(val, '\r', vl) || memchr(val, '\n', vl) ||
      memchr(name, ':', nl) || nl == 0)
    return false;
  char *line = malloc(nl + vl + 3);
  if (!line) abort();
  memcpy(line, name, nl);
  memcpy(line + nl, ": ", 2);
  memcpy(line + nl + 2, val, vl);
  line[nl + vl + 2] = '\0';
  r->hdrs = curl_slist_append(r->hdrs, line);
  free(line);
  return true;
}

void sup_net_call(SupJob *j, const IpcHostCall *c)
{
  if (strcmp(c->op, "request") != 0) {
    sup_host_error(j, c->id, "not_found", "net has one operation, request");
    return;
  }
  const msgpack_object *a = &c->args;
  char *method = ipc_str_dup(ipc_map_get(a, "method")), *url = ipc_str_dup(ipc_map_get(a, "url"));
  if (!method || !url || strlen(method) >= 16) {
    free(method);
    free(url);
    sup_host_error(j, c->id, "generic", "net.request needs string `method` and `url`");
    return;
  }
  NetReq *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->job = j;
  r->net = net_of(sup_job_pool(j));
  r->id = c->id;
  r->t0 = sup_now_ms();
  uv_timer_init(r->net->loop, &r->retry);
  snprintf(r->method, sizeof r->method, "%s", method);
  free(method);
  /* the query option, appended to the URL */
  const msgpack_object *q = ipc_map_get(a, "query");
  if (q && q->type == MSGPACK_OBJECT_MAP && q->via.map.size) {
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
      for (uint32_t i = 0; i < q->via.map.size; i++) {
        const msgpack_object *k = &q->via.map.ptr[i].key, *v = &q->via.map.ptr[i].val;
        char *ks = ipc_str_dup(k);
        char val[64];
        char *vs = v->type == MSGPACK_OBJECT_STR ? ipc_str_dup(v) : NULL;
        if (!vs) snprintf(val, sizeof val, "%.17g", onum(v, 0));
        Buf kv = {0};
        buf_puts(&kv, ks ? ks : "");
        buf_putc(&kv, '=');
        buf_puts(&kv, vs ? vs : val);
        buf_putc(&kv, '\0');
        curl_url_set(u, CURLUPART_QUERY, kv.data, CURLU_APPENDQUERY | CURLU_URLENCODE);
        buf_free(&kv);
        free(ks);
        free(vs);
      }
      char *s = NULL;
      if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK && s) {
        free(url);
        url = strdup(s);
        if (!url) abort();
      }
      curl_free(s);
    }
    curl_url_cleanup(u);
  }
  r->url = url;
  const msgpack_object *h = ipc_map_get(a, "headers");
  bool bad = false;
  if (h && h->type == MSGPACK_OBJECT_MAP)
    for (uint32_t i = 0; i < h->via.map.size && !bad; i++) {
      const msgpack_object *k = &h->via.map.ptr[i].key, *v = &h->via.map.ptr[i].val;
      if (v->type != MSGPACK_OBJECT_STR) continue;
      bad = !add_header(r, k->via.str.ptr, k->via.str.size, v->via.str.ptr, v->via.str.size);
    }
  const msgpack_object *auth = ipc_map_get(a, "auth");
  if (auth && auth->type == MSGPACK_OBJECT_STR) {
    bad |= !add_header(r, "Authorization", 13, auth->via.str.ptr, auth->via.str.size);
  } else if (auth && auth->type == MSGPACK_OBJECT_MAP) {
    const msgpack_object *bearer = ipc_map_get(auth, "bearer"), *basic = ipc_map_get(auth, "basic");
    if (bearer && bearer->type == MSGPACK_OBJECT_STR) {
      Buf v = {0};
      buf_puts(&v, "Bearer ");
      buf_append(&v, bearer->via.str.ptr, bearer->via.str.size);
      bad |= !add_header(r, "Authorization", 13, v.data, v.len);
      buf_free(&v);
    } else if (basic && basic->type == MSGPACK_OBJECT_MAP) {
      char *user = ipc_str_dup(ipc_map_get(basic, "user")), *pw = ipc_str_dup(ipc_map_get(basic, "password"));
      Buf v = {0};
      buf_puts(&v, user ? user : "");
      buf_putc(&v, ':');
      buf_puts(&v, pw ? pw : "");
      buf_putc(&v, '\0');
      r->userpwd = v.data;
      free(user);
      free(pw);
    }
  }
  if (bad) {
    sup_host_error(j, c->id, "generic", "a header name or value holds CR, LF or ':'");
    req_free(r);
    return;
  }
  const msgpack_object *body = ipc_map_get(a, "body");
  if (body && (body->type == MSGPACK_OBJECT_STR || body->type == MSGPACK_OBJECT_BIN)) {
    r->body_len = body->via.str.size;
    r->body = malloc(r->body_len + 1);
    if (!r->body) abort();
    memcpy(r->body, body->via.str.ptr, r->body_len);
    r->body[r->body_len] = '\0';
  }
  r->timeout_ms = onum(ipc_map_get(a, "timeout_ms"), NET_DEFAULT_TIMEOUT_MS);
  if (r->timeout_ms <= 0) r->timeout_ms = NET_DEFAULT_TIMEOUT_MS;
  const msgpack_object *fr = ipc_map_get(a, "follow_redirects");
  r->follow = !(fr && fr->type == MSGPACK_OBJECT_BOOLEAN && !fr->via.boolean);
  r->redirects_left = (int)onum(ipc_map_get(a, "max_redirects"), NET_DEFAULT_MAX_REDIRECTS);
  const msgpack_object *retry = ipc_map_get(a, "retry");
  r->retries_left = (int)onum(ipc_map_get(retry, "max"), 0);
  if (r->retries_left > 10) r->retries_left = 10;
  r->backoff_ms = onum(ipc_map_get(retry, "backoff_ms"), 100);
  NetJob *nj = job_of(j);
  r->next = nj->reqs;
  nj->reqs = r;
  if (!start(r)) req_free(r);
}

void sup_net_cancel(SupJob *j, uint64_t id)
{
  NetJob *nj = *sup_job_broker_slot(j);
  if (!nj) return;
  for (NetReq *r = nj->reqs; r; r = r->next)
    if (r->id == id) {
      sup_host_error(j, id, "cancelled", "the caller gave up");
      req_free(r);
      return;
    }
}

void sup_net_job_end(SupJob *j)
{
  NetJob *nj = *sup_job_broker_slot(j);
  if (!nj) return;
  nj->ending = true;
  while (nj->reqs) req_free(nj->reqs);
}

void sup_net_job_free(SupJob *j)
{
  void **slot = sup_job_broker_slot(j);
  NetJob *nj = *slot;
  if (!nj) return;
  nj->ending = true;
  while (nj->reqs) req_free(nj->reqs);
  buf_free(&nj->used);
  buf_free(&nj->denied);
  free(nj);
  *slot = NULL;
}
