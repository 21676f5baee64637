/*
 * host_net.c: the HTTP builtins (CAPABILITIES.md 7, 11): http_get,
 * http_post, http_put, http_patch, http_delete, http_request,
 * http_download, and the in-worker mocks http_mock, http_mock_calls,
 * http_mock_clear.
 *
 * A real request is one host call `net.request` (host_call.c): the
 * supervisor's broker (supervisor/net_*.c) checks it against the job's
 * grants, performs it and answers {status, headers, body, ok}; a refusal
 * is thrown as the reference's EgressBlocked dict. The worker itself has
 * no network at all.
 *
 * Mocks: http_mock(method, url_glob, response | {responses: [...]})
 * registers a rule; a request whose method and URL match the most recent
 * matching rule never leaves the worker (no grant needed): the rule's
 * response (or the next of its `responses`, the last one repeating) is
 * the result. Every mocked request is recorded for http_mock_calls()
 * ({method, url, headers, body}, sensitive headers redacted).
 *
 * Invariants: the mock table and the call log hold JSON text, never GC
 * values (nothing to mark); each has a cap (MAX_MOCKS rules, MAX_CALLS
 * calls kept, the rest dropped).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "error.h"
#include "gc.h"
#include "host_call.h"
#include "host_fs.h"
#include "state.h"

#define MAX_MOCKS 256
#define MAX_CALLS 1000

typedef struct Mock {
  char *method;      /* "*" or a method, upper case */
  char *glob;        /* URL pattern, `*` matches any run of characters */
  char **responses;  /* JSON texts */
  int nresp, next;
} Mock;

struct HostNetMocks {
  Mock mocks[MAX_MOCKS];
  int n;
  char *calls[MAX_CALLS]; /* JSON texts of {method, url, headers, body} */
  int ncalls;
};

void hostnet_mocks_free(struct HostNetMocks *m)
{
  if (!m) return;
  for (int i = 0; i < m->n; i++) {
    free(m->mocks[i].method);
    free(m->mocks[i].glob);
    for (int k = 0; k < m->mocks[i].nresp; k++) free(m->mocks[i].responses[k]);
    free(m->mocks[i].responses);
  }
  for (int i = 0; i < m->ncalls; i++) free(m->calls[i]);
  free(m);
}

static struct HostNetMocks *mocks(Vm *vm)
{
  struct HostNetMocks **p = hostcall_mocks(vm);
  if (!*p) {
    *p = calloc(1, sizeof **p);
    if (!*p) abort();
  }
  return *p;
}

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : NIL_VAL; }

static char *xstrdup(const char *s)
{
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

/* Does [s] match [g] (`*` = any run of characters, including none)? */
static bool glob_match(const char *g, const char *s)
{
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*g == '*') {
      star = g++;
      resume = s;
    } else if (*g == *s) {
      g++;
      s++;
    } else if (star) {
      g = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (*g == '*') g++;
  return *g == '\0';
}

static char *to_json(Vm *vm, Value v)
{
  Buf b = {0};
  if (!json_stringify_value(vm, v, &b)) {
    buf_free(&b);
    return NULL;
  }
  buf_append(&b, "", 1);
  return b.data;
}

static bool sensitive_header(const char *name)
{
  return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "cookie") == 0 ||
         strcasecmp(name, "proxy-authorization") == 0 || strcasecmp(name, "x-api-key") == 0;
}

/* ---- mocks ------------------------------------------------------------------- */

/* http_mock(method, url_glob, response | {responses: [...]}) */
bool net_bi_http_mock(Vm *vm, int argc, Value *argv, Value *out)
{
  Value method = arg(argc, argv, 0), glob = arg(argc, argv, 1), resp = arg(argc, argv, 2);
  if (!IS_STRING(method) || !IS_STRING(glob))
    return err_throw_str(vm, "http_mock: expected (method, url_glob, response)");
  struct HostNetMocks *m = mocks(vm);
  if (m->n >= MAX_MOCKS) return err_throw_str(vm, "http_mock: at most %d mocks", MAX_MOCKS);
  Mock *k = &m->mocks[m->n];
  memset(k, 0, sizeof *k);
  Value list;
  if (IS_DICT(resp) && dict_get_cstr(AS_DICT(resp), "responses", &list) && IS_LIST(list)) {
    ObjList *l = AS_LIST(list);
    if (l->count == 0) return err_throw_str(vm, "http_mock: `responses` is empty");
    k->responses = calloc(l->count, sizeof *k->responses);
    if (!k->responses) abort();
    for (uint32_t i = 0; i < l->count; i++) {
      k->responses[i] = to_json(vm, l->items[i]);
      if (!k->responses[i]) return false;
      k->nresp++;
    }
  } else {
    k->responses = calloc(1, sizeof *k->responses);
    if (!k->responses) abort();
    k->responses[0] = to_json(vm, IS_NIL(resp) ? OBJ_VAL(dict_new(vm, 0)) : resp);
    if (!k->responses[0]) return false;
    k->nresp = 1;
  }
  k->method = xstrdup(AS_CSTR(method));
  for (char *p = k->method; *p; p++)
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
  k->glob = xstrdup(AS_CSTR(glob));
  m->n++;
  *out = NIL_VAL;
  return true;
}

/* http_mock_calls() -> [{method, url, headers, body}] */
bool net_bi_http_mock_calls(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc;
  (void)argv;
  struct HostNetMocks *m = mocks(vm);
  ObjList *l = list_new(vm, (uint32_t)m->ncalls);
  gc_push_root(vm, OBJ_VAL(l));
  for (int i = 0; i < m->ncalls; i++) {
    Value v;
    if (!json_parse_value(vm, m->calls[i], strlen(m->calls[i]), &v)) {
      gc_pop_root(vm);
      return false;
    }
    list_push(vm, l, v);
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(l);
  return true;
}

/* http_mock_clear(): forget every mock and every recorded call */
bool net_bi_http_mock_clear(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc;
  (void)argv;
  struct HostNetMocks **p = hostcall_mocks(vm);
  hostnet_mocks_free(*p);
  *p = NULL;
  *out = NIL_VAL;
  return true;
}

/* The mock response for [method] [url], as a result dict, when a rule
 * matches: 1 with *out, 0 no rule, -1 error. Records the call. */
static int mock_lookup(Vm *vm, const char *method, const char *url, Value headers, Value body,
                       Value *out)
{
  struct HostNetMocks *m = vm->hostcalls ? *hostcall_mocks(vm) : NULL;
  if (!m || m->n == 0) return 0;
  Mock *hit = NULL;
  for (int i = m->n - 1; i >= 0 && !hit; i--) {
    Mock *k = &m->mocks[i];
    if ((strcmp(k->method, "*") == 0 || strcasecmp(k->method, method) == 0) && glob_match(k->glob, url))
      hit = k;
  }
  if (!hit) return 0;
  /* the call, recorded with sensitive headers redacted */
  ObjDict *rec = dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(rec));
  dict_set_cstr(vm, rec, "method", OBJ_VAL(str_cstr(vm, method)));
  dict_set_cstr(vm, rec, "url", OBJ_VAL(str_cstr(vm, url)));
  ObjDict *hd = dict_new(vm, 4);
  dict_set_cstr(vm, rec, "headers", OBJ_VAL(hd));
  if (IS_DICT(headers)) {
    ObjDict *src = AS_DICT(headers);
    for (uint32_t i = 0; i < src->count; i++) {
      ObjString *k = src->entries[i].key;
      dict_set(vm, hd, k, sensitive_header(k->chars) ? OBJ_VAL(str_cstr(vm, "[redacted]")) : src->entries[i].value);
    }
  }
  dict_set_cstr(vm, rec, "body", body);
  if (m->ncalls < MAX_CALLS) {
    char *j = to_json(vm, OBJ_VAL(rec));
    if (!j) {
      gc_pop_root(vm);
      return -1;
    }
    m->calls[m->ncalls++] = j;
  }
  gc_pop_root(vm);
  const char *text = hit->responses[hit->next < hit->nresp ? hit->next : hit->nresp - 1];
  if (hit->next < hit->nresp) hit->next++;
  Value r;
  if (!json_parse_value(vm, text, strlen(text), &r)) return -1;
  gc_push_root(vm, r);
  ObjDict *res = dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(res));
  int64_t status = 200;
  Value v;
  if (IS_DICT(r) && dict_get_cstr(AS_DICT(r), "status", &v) && IS_INT(v)) status = AS_INT(v);
  dict_set_cstr(vm, res, "status", INT_VAL(status));
  dict_set_cstr(vm, res, "ok", BOOL_VAL(status >= 200 && status < 300));
  if (IS_DICT(r) && dict_get_cstr(AS_DICT(r), "headers", &v) && IS_DICT(v))
    dict_set_cstr(vm, res, "headers", v);
  else
    dict_set_cstr(vm, res, "headers", OBJ_VAL(dict_new(vm, 0)));
  if (IS_DICT(r) && dict_get_cstr(AS_DICT(r), "body", &v)) {
    if (!IS_STRING(v) && !IS_NIL(v)) {
      char *j = to_json(vm, v);
      if (!j) {
        gc_pop_root(vm);
        gc_pop_root(vm);
        return -1;
      }
      v = OBJ_VAL(str_cstr(vm, j));
      free(j);
    }
    dict_set_cstr(vm, res, "body", IS_NIL(v) ? OBJ_VAL(str_cstr(vm, "")) : v);
  } else {
    dict_set_cstr(vm, res, "body", OBJ_VAL(str_cstr(vm, "")));
  }
  gc_pop_root(vm);
  gc_pop_root(vm);
  *out = OBJ_VAL(res);
  return 1;
}

/* ---- requests ------------------------------------------------------------------ */

/* One request: [opts] a dict or nil; [body] nil or a value (non-strings
 * are sent as JSON text). */
static bool request(Vm *vm, const char *name, const char *method, Value url, Value body, Value opts,
                    Value *out)
{
  if (!IS_STRING(url)) return err_throw_str(vm, "%s: url must be a string", name);
  if (!IS_NIL(opts) && !IS_DICT(opts)) return err_throw_str(vm, "%s: options must be a dict", name);
  Value headers = NIL_VAL, v;
  if (IS_DICT(opts) && dict_get_cstr(AS_DICT(opts), "headers", &v)) headers = v;
  if (IS_NIL(body) && IS_DICT(opts) && dict_get_cstr(AS_DICT(opts), "body", &v)) body = v;
  if (!IS_NIL(body) && !IS_STRING(body)) {
    char *j = to_json(vm, body);
    if (!j) return false;
    body = OBJ_VAL(str_cstr(vm, j));
    free(j);
  }
  gc_push_root(vm, body);
  int m = mock_lookup(vm, method, AS_CSTR(url), headers, body, out);
  if (m != 0) {
    gc_pop_root(vm);
    return m > 0;
  }
  /* the broker: {method, url, body?, ...options} */
  ObjDict *a = IS_DICT(opts) ? dict_copy(vm, AS_DICT(opts)) : dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(a));
  dict_set_cstr(vm, a, "method", OBJ_VAL(str_cstr(vm, method)));
  dict_set_cstr(vm, a, "url", url);
  if (!IS_NIL(body)) dict_set_cstr(vm, a, "body", body);
  else dict_remove(a, str_cstr(vm, "body"));
  bool ok = hostcall_call(vm, "net", "request", OBJ_VAL(a), out, NULL);
  gc_pop_root(vm);
  gc_pop_root(vm);
  return ok;
}

bool net_bi_http_get(Vm *vm, int argc, Value *argv, Value *out)
{
  return request(vm, "http_get", "GET", arg(argc, argv, 0), NIL_VAL, arg(argc, argv, 1), out);
}

bool net_bi_http_post(Vm *vm, int argc, Value *argv, Value *out)
{
  return request(vm, "http_post", "POST", arg(argc, argv, 0), arg(argc, argv, 1), arg(argc, argv, 2), out);
}

bool net_bi_http_put(Vm *vm, int argc, Value *argv, Value *out)
{
  return request(vm, "http_put", "PUT", arg(argc, argv, 0), arg(argc, argv, 1), arg(argc, argv, 2), out);
}

bool net_bi_http_patch(Vm *vm, int argc, Value *argv, Value *out)
{
  return request(vm, "http_patch", "PATCH", arg(argc, argv, 0), arg(argc, argv, 1), arg(argc, argv, 2), out);
}

bool net_bi_http_delete(Vm *vm, int argc, Value *argv, Value *out)
{
  return request(vm, "http_delete", "DELETE", arg(argc, argv, 0), NIL_VAL, arg(argc, argv, 1), out);
}

/* http_request(method, url, opts?) */
bool net_bi_http_request(Vm *vm, int argc, Value *argv, Value *out)
{
  Value method = arg(argc, argv, 0);
  if (!IS_STRING(method) || AS_STRING(method)->len == 0 || AS_STRING(method)->len > 16)
    return err_throw_str(vm, "http_request: method must be a string such as \"GET\"");
  char m[17];
  snprintf(m, sizeof m, "%s", AS_CSTR(method));
  for (char *p = m; *p; p++) {
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    if (*p < 'A' || *p > 'Z') return err_throw_str(vm, "http_request: bad method \"%s\"", AS_CSTR(method));
  }
  return request(vm, "http_request", m, arg(argc, argv, 1), NIL_VAL, arg(argc, argv, 2), out);
}

/* http_download(url, dst, opts?) -> {bytes_written, status, headers, ok}:
 * the body is written with write_file's rules (the job's write grants
 * and quota); nothing is written for a status that is not 2xx. */
bool net_bi_http_download(Vm *vm, int argc, Value *argv, Value *out)
{
  Value dst = arg(argc, argv, 1);
  if (!IS_STRING(dst)) return err_throw_str(vm, "http_download: dst must be a string path");
  Value res;
  if (!request(vm, "http_download", "GET", arg(argc, argv, 0), NIL_VAL, arg(argc, argv, 2), &res))
    return false;
  gc_push_root(vm, res);
  Value status = INT_VAL(0), headers = NIL_VAL, body = NIL_VAL, okv = BOOL_VAL(false);
  if (IS_DICT(res)) {
    dict_get_cstr(AS_DICT(res), "status", &status);
    dict_get_cstr(AS_DICT(res), "headers", &headers);
    dict_get_cstr(AS_DICT(res), "body", &body);
    dict_get_cstr(AS_DICT(res), "ok", &okv);
  }
  int64_t written = 0;
  if (IS_BOOL(okv) && AS_BOOL(okv) && IS_STRING(body)) {
    Value wargs[2] = {dst, body}, ignored;
    if (!fs_bi_write_file(vm, 2, wargs, &ignored)) {
      gc_pop_root(vm);
      return false;
    }
    written = (int64_t)AS_STRING(body)->len;
  }
  ObjDict *d = dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(d));
  dict_set_cstr(vm, d, "bytes_written", INT_VAL(written));
  dict_set_cstr(vm, d, "status", status);
  dict_set_cstr(vm, d, "headers", headers);
  dict_set_cstr(vm, d, "ok", okv);
  gc_pop_root(vm);
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}
