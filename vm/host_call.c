/*
 * host_call.c: the VM's end of the host-call channel (protocol v3,
 * docs/protocol.md "Host calls"; CAPABILITIES.md 10) and the generic
 * builtins host_call, host_capabilities, host_has.
 *
 * A call: hostcall_call() numbers it (ids 1, 2, ... per run, never
 * reused), hands it to VmHostConfig.call (the worker sends a `host_call`
 * frame) and blocks the calling task in sched_block (a safe point: other
 * tasks run meanwhile). When no task is ready the scheduler waits in
 * ppoll() on VmHostConfig.fd (hostcall_wait_fd) and then pumps
 * (hostcall_pump): the worker reads the socket and calls vm_host_deliver
 * for each answer, which stores the answer's JSON text in the call and
 * wakes its task. The woken task parses the text into a value.
 *
 * Invariants
 *  - Every call sent stays in the table until its answer arrives (exactly
 *    one per call, docs/protocol.md), also when its caller gave up: a
 *    deadline, a cancellation or SIGTERM ends the wait with the usual
 *    error, sends `host_cancel` once and marks the call abandoned; its
 *    late answer is dropped. So `pending_host_calls` of the unsettled
 *    snapshot lists exactly what the supervisor still owes.
 *  - At most HOST_MAX_INFLIGHT calls are in flight (the supervisor caps
 *    them too); one more fails at once, nothing sent.
 *  - The table holds no GC value: an answer is C text until its task
 *    parses it, so nothing here needs marking.
 *  - The channel broken (EOF, a bad frame: pump < 0): every call in
 *    flight fails, and later calls fail at once.
 */
#define _GNU_SOURCE
#include "host_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gc.h"
#include "object.h"
#include "sched.h"
#include "state.h"

#define HOST_MAX_INFLIGHT 16  /* IPC_MAX_HOST_INFLIGHT of ipc/ipc.h */
#define HOST_MAX_NAME 64      /* IPC_MAX_HOST_NAME */

typedef struct Call {
  uint64_t id;
  char name[2 * HOST_MAX_NAME + 2]; /* "cap.op" */
  bool done, ok, abandoned;
  char *answer;                     /* JSON text once done */
  size_t len;
  WaitList waiters;
} Call;

struct HostCalls {
  uint64_t next_id;
  Call *calls[HOST_MAX_INFLIGHT];
  int n;
  bool broken;
  struct HostNetMocks *mocks;       /* host_net.c */
};

HostCalls *hostcall_state(Vm *vm)
{
  if (!vm->hostcalls) {
    vm->hostcalls = calloc(1, sizeof *vm->hostcalls);
    if (!vm->hostcalls) abort();
  }
  return vm->hostcalls;
}

struct HostNetMocks **hostcall_mocks(Vm *vm) { return &hostcall_state(vm)->mocks; }

static void call_free(Call *c)
{
  free(c->answer);
  sched_waitlist_free(&c->waiters);
  free(c);
}

static void call_remove(HostCalls *h, int i)
{
  call_free(h->calls[i]);
  h->calls[i] = h->calls[--h->n];
}

void hostcall_free(Vm *vm)
{
  HostCalls *h = vm->hostcalls;
  if (!h) return;
  for (int i = 0; i < h->n; i++) call_free(h->calls[i]);
  hostnet_mocks_free(h->mocks);
  free(h);
  vm->hostcalls = NULL;
}

bool hostcall_available(Vm *vm) { return vm->cfg.host.call != NULL; }

int hostcall_wait_fd(Vm *vm)
{
  HostCalls *h = vm->hostcalls;
  if (!h || h->n == 0 || h->broken || !vm->cfg.host.call) return -1;
  return vm->cfg.host.fd;
}

void vm_host_deliver(Vm *vm, uint64_t id, bool ok, const char *json, size_t len)
{
  HostCalls *h = vm->hostcalls;
  if (!h) return;
  for (int i = 0; i < h->n; i++) {
    Call *c = h->calls[i];
    if (c->id != id || c->done) continue;
    if (c->abandoned) {
      call_remove(h, i);
      return;
    }
    c->done = true;
    c->ok = ok;
    c->answer = malloc(len + 1);
    if (!c->answer) abort();
    memcpy(c->answer, json, len);
    c->answer[len] = '\0';
    c->len = len;
    sched_wake_all(vm, &c->waiters);
    return;
  }
}

/* The channel is gone: fail every call in flight. */
static void channel_broken(Vm *vm, HostCalls *h)
{
  h->broken = true;
  for (int i = 0; i < h->n; i++) {
    Call *c = h->calls[i];
    if (c->done) continue;
    static const char err[] =
        "{\"category\":\"generic\",\"message\":\"the host-call channel is closed\"}";
    if (c->abandoned) {
      call_remove(h, i--);
      continue;
    }
    c->done = true;
    c->ok = false;
    c->answer = strdup(err);
    if (!c->answer) abort();
    c->len = sizeof err - 1;
    sched_wake_all(vm, &c->waiters);
  }
}

void hostcall_pump(Vm *vm)
{
  HostCalls *h = vm->hostcalls;
  if (!h || h->broken || !vm->cfg.host.pump) return;
  if (vm->cfg.host.pump(vm->cfg.host.ud, vm) < 0) channel_broken(vm, h);
}

void hostcall_pending(Vm *vm, ObjList *out)
{
  HostCalls *h = vm->hostcalls;
  if (!h) return;
  for (int i = 0; i < h->n; i++) {
    Call *c = h->calls[i];
    if (c->done) continue;
    ObjDict *e = dict_new(vm, 2);
    list_push(vm, out, OBJ_VAL(e));
    dict_set_cstr(vm, e, "id", OBJ_VAL(str_printf(vm, "host_call_%llu", (unsigned long long)c->id)));
    dict_set_cstr(vm, e, "name", OBJ_VAL(str_cstr(vm, c->name)));
  }
}

/* An answer's error map as the thrown value: a map with `type` (the
 * reference's EgressBlocked...) is thrown as that dict without our
 * `message`; any other as its message string, "category: message". */
static bool throw_answer(Vm *vm, Value err)
{
  if (!IS_DICT(err)) return err_throw(vm, err);
  ObjDict *d = AS_DICT(err);
  Value t, m, cat;
  if (dict_get_cstr(d, "type", &t)) {
    ObjString *k = str_cstr(vm, "message");
    gc_push_root(vm, err);
    dict_remove(d, k);
    gc_pop_root(vm);
    return err_throw(vm, err);
  }
  bool hm = dict_get_cstr(d, "message", &m) && IS_STRING(m);
  bool hc = dict_get_cstr(d, "category", &cat) && IS_STRING(cat);
  return err_throw_str(vm, "%s: %s", hc ? AS_CSTR(cat) : "generic", hm ? AS_CSTR(m) : "host call failed");
}

bool hostcall_call(Vm *vm, const char *cap, const char *op, Value args, Value *out, Value *error)
{
  HostCalls *h = hostcall_state(vm);
  if (error) *error = NIL_VAL;
  if (!vm->cfg.host.call)
    return err_throw_str(vm, "host_call: %s.%s is not available here (no supervisor brokers it: "
                             "run the job under `harn run`/`harn batch` with the grant)", cap, op);
  size_t lc = strlen(cap), lo = strlen(op);
  if (lc == 0 || lc > HOST_MAX_NAME || lo == 0 || lo > HOST_MAX_NAME)
    return err_throw_str(vm, "host_call: bad capability or operation name");
  if (h->broken) return err_throw_str(vm, "generic: the host-call channel is closed");
  int live = 0;
  for (int i = 0; i < h->n; i++) live += !h->calls[i]->abandoned;
  if (h->n >= HOST_MAX_INFLIGHT)
    return err_throw_str(vm, "limit: too many host calls in flight (%d, at most %d)", live,
                         HOST_MAX_INFLIGHT);
  Call *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->id = ++h->next_id;
  snprintf(c->name, sizeof c->name, "%s.%s", cap, op);
  if (!vm->cfg.host.call(vm->cfg.host.ud, vm, c->id, cap, op, &args)) {
    call_free(c);
    return err_throw_str(vm, "generic: the host call could not be sent");
  }
  h->calls[h->n++] = c;
  bool failed = false;
  while (!c->done) {
    sched_wait_add(vm, &c->waiters);
    int r = sched_block(vm, 0);
    sched_wait_remove(vm, &c->waiters);
    if (r < 0 && !c->done) {
      /* deadline, cancellation, SIGTERM: give up; the answer is dropped */
      c->abandoned = true;
      if (vm->cfg.host.cancel && !h->broken) vm->cfg.host.cancel(vm->cfg.host.ud, c->id);
      return false;
    }
    if (r < 0) failed = true; /* answered, but the wait ended with an error */
  }
  /* take it out of the table, then parse */
  for (int i = 0; i < h->n; i++)
    if (h->calls[i] == c) {
      h->calls[i] = h->calls[--h->n];
      break;
    }
  if (failed) {
    call_free(c);
    return false;
  }
  bool ok = c->ok;
  Value v = NIL_VAL;
  bool parsed = json_parse_value(vm, c->answer, c->len, &v);
  call_free(c);
  if (!parsed) return false;
  if (ok) {
    *out = v;
    return true;
  }
  if (error) {
    *error = v;
    *out = NIL_VAL;
    return true;
  }
  return throw_answer(vm, v);
}

bool hostcall_throw_error(Vm *vm, Value err) { return throw_answer(vm, err); }

/* ---- the builtins ---------------------------------------------------------- */

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : NIL_VAL; }

/* host_call(name, args): name "cap.op" ("net.request"); args a dict. */
bool hostcall_bi_host_call(Vm *vm, int argc, Value *argv, Value *out)
{
  Value name = arg(argc, argv, 0), args = arg(argc, argv, 1);
  if (!IS_STRING(name)) return err_throw_str(vm, "host_call: name must be a string \"capability.operation\"");
  if (!IS_NIL(args) && !IS_DICT(args)) return err_throw_str(vm, "host_call: args must be a dict");
  const char *n = AS_CSTR(name);
  const char *dot = strchr(n, '.');
  if (!dot || dot == n || !dot[1] || (size_t)(dot - n) > HOST_MAX_NAME)
    return err_throw_str(vm, "host_call: name must be \"capability.operation\", got \"%s\"", n);
  char cap[HOST_MAX_NAME + 1];
  memcpy(cap, n, (size_t)(dot - n));
  cap[dot - n] = '\0';
  if (IS_NIL(args)) {
    args = OBJ_VAL(dict_new(vm, 0));
  }
  gc_push_root(vm, args);
  bool ok = hostcall_call(vm, cap, dot + 1, args, out, NULL);
  gc_pop_root(vm);
  return ok;
}

/* The operations each capability offers (host_capabilities, host_has). */
static const struct {
  const char *cap;
  const char *ops[4];
} cap_ops[] = {
    {"net", {"request", NULL}},
};

static const char *const *ops_of(const char *cap)
{
  for (size_t i = 0; i < sizeof cap_ops / sizeof cap_ops[0]; i++)
    if (strcmp(cap_ops[i].cap, cap) == 0) return cap_ops[i].ops;
  return NULL;
}

bool hostcall_granted(Vm *vm, const char *cap)
{
  if (!vm->cfg.host.call) return false;
  for (int i = 0; i < vm->cfg.host.ncaps; i++)
    if (strcmp(vm->cfg.host.caps[i], cap) == 0) return true;
  return false;
}

/* host_capabilities() -> {cap: [ops]} of what this job may call. */
bool hostcall_bi_host_capabilities(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc;
  (void)argv;
  ObjDict *d = dict_new(vm, 2);
  gc_push_root(vm, OBJ_VAL(d));
  for (int i = 0; vm->cfg.host.call && i < vm->cfg.host.ncaps; i++) {
    const char *const *ops = ops_of(vm->cfg.host.caps[i]);
    ObjList *l = list_new(vm, 2);
    dict_set_cstr(vm, d, vm->cfg.host.caps[i], OBJ_VAL(l));
    for (int k = 0; ops && ops[k]; k++) list_push(vm, l, OBJ_VAL(str_cstr(vm, ops[k])));
  }
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}

/* host_has(cap, op?) -> bool */
bool hostcall_bi_host_has(Vm *vm, int argc, Value *argv, Value *out)
{
  Value cap = arg(argc, argv, 0), op = arg(argc, argv, 1);
  bool has = IS_STRING(cap) && hostcall_granted(vm, AS_CSTR(cap));
  if (has && IS_STRING(op)) {
    const char *const *ops = ops_of(AS_CSTR(cap));
    bool found = false;
    for (int k = 0; ops && ops[k]; k++) found |= strcmp(ops[k], AS_CSTR(op)) == 0;
    has = found;
  }
  *out = BOOL_VAL(has);
  return true;
}
