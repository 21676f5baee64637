/*
 * lifecycle.c: the per-run registry (struct Lifecycle) and the finish
 * lifecycle of docs/RUNTIME.md 8: pipeline_on_finish, register_lifecycle_hook,
 * the harness host object, and lc_finish (PreFinish, OnUnsettledDetected,
 * on_finish, PostFinish, with hook controls and `lifecycle` events).
 *
 * Design
 * ------
 * module.c calls lc_finish only after a root run that succeeded and saw no
 * host signal. lc_finish takes the unsettled snapshot once (sched.c), then
 * fires each event: the matching hooks run in registration order with the
 * current payload (a `modify` control replaces the payload for the next
 * hook of the same event), each hook's return value is read as a control,
 * and once the hooks are done the event goes to the host through
 * VmConfig.job.event as {event, payload (the original), control, hooks}.
 * Every Value built here is rooted (gc_push_root) across the vm_calls.
 * Payloads are copies through the JSON mapping (json_copy): the event's
 * payload is copied once (that copy goes to the host), and every hook gets
 * its own copy of the current payload, so no hook can change v, the
 * payload another hook sees, or what the host receives.
 * `harness` is a native host object (harness_vt) whose properties are
 * computed on read; after PostFinish module.c aborts the tasks still
 * pending (sched_abort_pending) before the final result is built.
 *
 * Invariants: registrations belong to one run (lc_reset at every start);
 * hooks never change v (only on_finish's result replaces it).
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "lifecycle.h"
#include "object.h"
#include "sched.h"
#include "state.h"
#include "steps.h"

/* ---- registry ------------------------------------------------------------------ */

Lifecycle *lc_get(Vm *vm)
{
  if (!vm->lifecycle) {
    Lifecycle *lc = calloc(1, sizeof(Lifecycle));
    if (!lc) abort();
    lc->on_finish = NIL_VAL;
    vm->lifecycle = lc;
  }
  return vm->lifecycle;
}

void lc_reset(Vm *vm)
{
  Lifecycle *lc = vm->lifecycle;
  if (!lc) return;
  lc->nhandlers = 0;
  lc->next_handle = 0;
  lc->dispatching = false;
  lc->handler_deadline = 0;
  lc->host_pending = 0;
  lc->nselected = 0;
  for (int i = 0; i < lc->nhooks; i++) free(lc->hooks[i].pattern);
  lc->nhooks = 0;
  lc->on_finish = NIL_VAL;
  lc->has_on_finish = false;
  lc->code_ahead = false;
}

void lc_free(Vm *vm)
{
  Lifecycle *lc = vm->lifecycle;
  if (!lc) return;
  lc_reset(vm);
  free(lc->handlers);
  free(lc->selected);
  free(lc->hooks);
  free(lc);
  vm->lifecycle = NULL;
}

void lc_mark(Vm *vm)
{
  Lifecycle *lc = vm->lifecycle;
  if (!lc) return;
  for (int i = 0; i < lc->nhandlers; i++) gc_mark_value(vm, lc->handlers[i].fn);
  for (int i = 0; i < lc->nselected; i++) gc_mark_value(vm, lc->selected[i]);
  for (int i = 0; i < lc->nhooks; i++) gc_mark_value(vm, lc->hooks[i].fn);
  gc_mark_value(vm, lc->on_finish);
}

/* ---- builtins ------------------------------------------------------------------- */

static const char *const event_names[3] = {"PreFinish", "OnUnsettledDetected", "PostFinish"};

bool lc_bi_pipeline_on_finish(Vm *vm, int argc, Value *argv, Value *out)
{
  Value fn = argc > 0 ? argv[0] : NIL_VAL;
  *out = NIL_VAL;
  if (!IS_CLOSURE(fn))
    return err_type(vm, "pipeline_on_finish: handler must be a closure, got %s", val_type_name(fn));
  Lifecycle *lc = lc_get(vm);
  lc->on_finish = fn; /* last registration wins */
  lc->has_on_finish = true;
  return true;
}

bool lc_bi_register_lifecycle_hook(Vm *vm, int argc, Value *argv, Value *out)
{
  Value ev = argc > 0 ? argv[0] : NIL_VAL;
  Value pat = argc > 2 ? argv[1] : NIL_VAL;
  Value fn = argc > 2 ? argv[2] : (argc > 1 ? argv[1] : NIL_VAL);
  *out = NIL_VAL;
  int e = -1;
  if (IS_STRING(ev))
    for (int i = 0; i < 3; i++)
      if (strcmp(AS_CSTR(ev), event_names[i]) == 0) e = i;
  if (e < 0) {
    ObjString *d = val_to_string(vm, ev);
    return err_runtime(vm, "register_lifecycle_hook: unsupported event '%s'", d->chars);
  }
  if (!IS_NIL(pat) && !IS_STRING(pat))
    return err_type(vm, "register_lifecycle_hook: pattern must be a string, got %s", val_type_name(pat));
  if (!vm_is_callable(fn))
    return err_type(vm, "register_lifecycle_hook: handler must be callable, got %s", val_type_name(fn));
  Lifecycle *lc = lc_get(vm);
  if (lc->nhooks == lc->hookcap) {
    lc->hookcap = lc->hookcap ? lc->hookcap * 2 : 8;
    lc->hooks = realloc(lc->hooks, sizeof(LcHook) * (size_t)lc->hookcap);
    if (!lc->hooks) abort();
  }
  LcHook *h = &lc->hooks[lc->nhooks++];
  h->event = e;
  h->pattern = IS_STRING(pat) ? strdup(AS_CSTR(pat)) : NULL;
  if (IS_STRING(pat) && !h->pattern) abort();
  h->fn = fn;
  return true;
}

static void send_event(Vm *vm, const char *type, Value body)
{
  if (vm->cfg.job.event) vm->cfg.job.event(vm->cfg.job.event_ud, vm, type, &body);
}

bool lc_bi_harness_emit(Vm *vm, int argc, Value *argv, Value *out)
{
  Value name = argc > 0 ? argv[0] : NIL_VAL;
  Value data = argc > 1 ? argv[1] : NIL_VAL;
  *out = NIL_VAL;
  if (!IS_STRING(name))
    return err_type(vm, "harness.emit: name must be a string, got %s", val_type_name(name));
  ObjDict *d = dict_new(vm, 2);
  gc_push_root(vm, OBJ_VAL(d));
  dict_set_cstr(vm, d, "name", name);
  dict_set_cstr(vm, d, "data", data);
  send_event(vm, "emit", OBJ_VAL(d));
  gc_pop_root(vm);
  return true;
}

/* The harness (docs/RUNTIME.md 8.1): a read-only host object. It holds no data:
 * every property is computed on read from vm->cfg.job, so
 * deadline_ms_remaining is the time left at the moment of the read.
 * Assignments to it fail in op_set_prop (`Type error: cannot set property
 * `f` on harness`, docs/LANGUAGE.md 6.3), an unknown property reads nil. */
static void harness_display(Vm *vm, ObjNative *n, Buf *out) { buf_puts(out, "<harness>"); }

static bool harness_get(Vm *vm, ObjNative *n, ObjString *name, Value *out)
{
  const VmJobConfig *j = &vm->cfg.job;
  *out = NIL_VAL;
  if (strcmp(name->chars, "job_id") == 0) {
    if (j->job_id) *out = OBJ_VAL(str_cstr(vm, j->job_id));
  } else if (strcmp(name->chars, "attempt") == 0) {
    *out = INT_VAL(j->attempt);
  } else if (strcmp(name->chars, "deadline_ms_remaining") == 0) {
    if (j->has_deadline) {
      int64_t r = j->deadline_at_ms - sched_now(vm);
      *out = INT_VAL(r > 0 ? r : 0);
    }
  } else if (strcmp(name->chars, "emit") == 0) {
    int bi = builtin_lookup("__harness_emit");
    if (bi >= 0) *out = val_builtin(bi);
  }
  return true;
}

/* truthy_if_empty: the harness has no data (size 0) but is truthy */
static const NativeVtbl harness_vt = {"harness", harness_display, NULL, NULL, true, NULL};

static Value make_harness(Vm *vm)
{
  op_native_props_register(&harness_vt, harness_get);
  return OBJ_VAL(native_new(vm, &harness_vt, NULL, 0));
}

/* A copy of [v] through the JSON mapping of docs/LANGUAGE.md 12.6 (docs/RUNTIME.md
 * 8.1: hooks get copies, so they cannot mutate v): dicts, lists, strings,
 * numbers, bools and nil survive (a float with an integral value reads back
 * as an int, as JSON has one number type); sets become lists, structs dicts,
 * ranges their display string, everything else (closures, enums, tasks,
 * durations...) nil. The parse allocates only builders and never collects. */
static Value json_copy(Vm *vm, Value v)
{
  Buf b = {0};
  if (!json_stringify_value(vm, v, &b)) { /* nested too deeply, or too long: nil */
    buf_free(&b);
    return NIL_VAL;
  }
  Value out = NIL_VAL;
  ErrKind k = vm->err_kind;
  Value ev = vm->err_value;
  if (!json_parse_value(vm, b.data ? b.data : "null", b.len ? b.len : 4, &out)) {
    out = NIL_VAL; /* not reachable for our own output; keep the old error */
    vm->err_kind = k;
    vm->err_value = ev;
  }
  buf_free(&b);
  return out;
}

/* ---- events and controls ---------------------------------------------------------- */

static Value cstr_val(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

/* One hook's control record {control, ...} appended to [hooks]. */
static ObjDict *hook_record(Vm *vm, ObjList *hooks, const char *control)
{
  ObjDict *d = dict_new(vm, 2);
  list_push(vm, hooks, OBJ_VAL(d));
  dict_set_cstr(vm, d, "control", cstr_val(vm, control));
  return d;
}

/* Record the pending error as an `error` control (the error stays set). */
static void record_error(Vm *vm, ObjList *hooks)
{
  ErrKind k = vm->err_kind;
  Value ev = vm->err_value;
  gc_push_root(vm, ev);
  Buf b = {0};
  err_display(vm, &b);
  ObjString *txt = str_new(vm, b.data ? b.data : "", b.len);
  buf_free(&b);
  gc_push_root(vm, OBJ_VAL(txt));
  ObjDict *d = hook_record(vm, hooks, "error");
  dict_set_cstr(vm, d, "error", OBJ_VAL(txt));
  gc_pop_root(vm);
  gc_pop_root(vm);
  vm->err_kind = k;
  vm->err_value = ev;
}

enum { C_ALLOW, C_BLOCK, C_MODIFY, C_DECISION };

/* Read hook result [r] of event [ev] as a control (docs/RUNTIME.md 8.2). False
 * with the VM error set for an invalid one. *reason gets a block's reason,
 * *mod a modify's value. */
static bool read_control(Vm *vm, const char *ev, Value r, int *c, Value *reason, Value *mod, Value *dec)
{
  *c = C_ALLOW;
  if (IS_NIL(r) || (IS_BOOL(r) && AS_BOOL(r))) return true;
  if (IS_BOOL(r)) {
    *c = C_BLOCK;
    *reason = OBJ_VAL(str_printf(vm, "%s hook returned false", ev));
    return true;
  }
  if (!IS_DICT(r))
    return err_runtime(vm, "%s hook must return nil, bool, or a control dict; got %s", ev, val_type_name(r));
  ObjDict *d = AS_DICT(r);
  Value v;
  if (dict_get_cstr(d, "decision", &v)) {
    ObjString *s = val_to_string(vm, v);
    const char *p = s->chars, *e = s->chars + s->len;
    while (p < e && isspace((unsigned char)*p)) p++;
    while (e > p && isspace((unsigned char)e[-1])) e--;
    char low[16];
    size_t n = (size_t)(e - p);
    bool okd = n < sizeof low;
    if (okd) {
      for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)p[i]);
      low[n] = 0;
      okd = strcmp(low, "allow") == 0 || strcmp(low, "deny") == 0 || strcmp(low, "ask") == 0;
    }
    if (!okd)
      return err_runtime(vm, "%s hook `decision` must be \"allow\", \"deny\", or \"ask\"; got \"%s\"", ev,
                         s->chars);
    *c = C_DECISION;
    *dec = cstr_val(vm, low);
    return true;
  }
  if (dict_get_cstr(d, "block", &v) && val_truthy(v)) {
    *c = C_BLOCK;
    Value rs;
    if (dict_get_cstr(d, "reason", &rs) && !IS_NIL(rs)) *reason = OBJ_VAL(val_to_string(vm, rs));
    else *reason = OBJ_VAL(str_printf(vm, "%s hook blocked the operation", ev));
    return true;
  }
  if (dict_get_cstr(d, "modify", &v)) {
    *c = C_MODIFY;
    *mod = v;
  }
  return true;
}

/* Fire event [e] with [payload]. *blocked / *reason report a block (at
 * PostFinish it is ignored). False with the VM error set on a hook error
 * or an invalid control. */
static bool fire(Vm *vm, int e, const char *pipeline, Value payload, bool *blocked, Value *reason)
{
  Lifecycle *lc = lc_get(vm);
  const char *ev = event_names[e];
  *blocked = false;
  ObjList *hooks = list_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(hooks));
  payload = json_copy(vm, payload); /* the original, as hooks and the host see it */
  gc_push_root(vm, payload);
  Value cur = payload;
  gc_push_root(vm, cur);
  int curslot = vm->heap.ntemp - 1;
  const char *control = "allow";
  bool ok = true;
  for (int i = 0; i < lc->nhooks && ok; i++) {
    LcHook *h = &lc->hooks[i];
    if (h->event != e) continue;
    if (h->pattern && fnmatch(h->pattern, pipeline, 0) != 0) continue;
    Value fn = h->fn, r = NIL_VAL;
    gc_push_root(vm, fn);
    Value arg = json_copy(vm, cur); /* each hook its own copy (8.1) */
    gc_push_root(vm, arg);
    ok = steps_call_hook(vm, fn, 1, &arg, &r); /* hook-type (1.4) */
    gc_pop_root(vm);
    gc_pop_root(vm);
    int c;
    Value rs = NIL_VAL, mod = NIL_VAL, dec = NIL_VAL;
    if (ok) {
      gc_push_root(vm, r);
      ok = read_control(vm, ev, r, &c, &rs, &mod, &dec);
      gc_pop_root(vm);
    }
    if (!ok) {
      record_error(vm, hooks);
      control = "error";
      break;
    }
    if (c == C_ALLOW) {
      hook_record(vm, hooks, "allow");
    } else if (c == C_DECISION) {
      gc_push_root(vm, dec);
      dict_set_cstr(vm, hook_record(vm, hooks, "decision"), "decision", dec);
      gc_pop_root(vm);
    } else if (c == C_MODIFY) {
      gc_push_root(vm, mod);
      hook_record(vm, hooks, "modify");
      gc_pop_root(vm);
      cur = mod;
      vm->heap.temp_roots[curslot] = cur;
      if (strcmp(control, "allow") == 0) control = "modify";
    } else {
      gc_push_root(vm, rs);
      dict_set_cstr(vm, hook_record(vm, hooks, "block"), "reason", rs);
      gc_pop_root(vm);
      if (e == LC_POST_FINISH) {
        control = "ignored";
      } else {
        control = "block";
        *blocked = true;
        *reason = rs;
        break;
      }
    }
  }
  /* the event goes out once its hooks are done, even on error */
  bool had_err = !ok;
  ErrKind k = vm->err_kind;
  Value errv = vm->err_value;
  gc_push_root(vm, errv);
  ObjDict *body = dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(body));
  dict_set_cstr(vm, body, "event", cstr_val(vm, ev));
  dict_set_cstr(vm, body, "payload", payload);
  dict_set_cstr(vm, body, "control", cstr_val(vm, control));
  dict_set_cstr(vm, body, "hooks", OBJ_VAL(hooks));
  if (*blocked) gc_push_root(vm, *reason);
  send_event(vm, "lifecycle", OBJ_VAL(body));
  if (*blocked) gc_pop_root(vm);
  gc_pop_root(vm);
  gc_pop_root(vm);
  if (had_err) {
    vm->err_kind = k;
    vm->err_value = errv;
  }
  gc_pop_root(vm); /* cur */
  gc_pop_root(vm); /* payload */
  gc_pop_root(vm); /* hooks */
  return ok;
}

/* Is a hook registered for event [e] (whatever its pattern)? */
static bool has_hook(const Lifecycle *lc, int e)
{
  for (int i = 0; i < lc->nhooks; i++)
    if (lc->hooks[i].event == e) return true;
  return false;
}

bool vm_finish_code_ahead(Vm *vm)
{
  return lc_get(vm)->code_ahead;
}

bool lc_finish(Vm *vm, const char *pipeline, Value *v)
{
  Lifecycle *lc = lc_get(vm);
  int troots = vm->heap.ntemp;
  /* 1. the on_finish closure */
  Value of = lc->on_finish;
  bool has_of = lc->has_on_finish;
  gc_push_root(vm, of);
  /* 2. the snapshot, once */
  bool empty;
  Value snap = sched_unsettled_snapshot(vm, &empty);
  gc_push_root(vm, snap);
  bool blocked, ok = true;
  Value reason = NIL_VAL;
  /* 3. PreFinish; after it, program code runs only in these */
  lc->code_ahead = has_of || (!empty && has_hook(lc, LC_ON_UNSETTLED)) || has_hook(lc, LC_POST_FINISH);
  ObjDict *p = dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(p));
  dict_set_cstr(vm, p, "event", cstr_val(vm, "PreFinish"));
  dict_set_cstr(vm, p, "return_value", *v);
  dict_set_cstr(vm, p, "unsettled", snap);
  dict_set_cstr(vm, p, "has_on_finish", BOOL_VAL(has_of));
  if (!fire(vm, LC_PRE_FINISH, pipeline, OBJ_VAL(p), &blocked, &reason)) goto fail;
  if (blocked) {
    err_runtime(vm,
                "PreFinish hook returned block, which is not a valid control: %s. To wait for unsettled "
                "work, call settle_pending() from on_finish, or return Modify/Allow from PreFinish.",
                IS_STRING(reason) ? AS_CSTR(reason) : "");
    goto fail;
  }
  /* 4. OnUnsettledDetected */
  if (!empty) {
    p = dict_new(vm, 2);
    gc_push_root(vm, OBJ_VAL(p));
    dict_set_cstr(vm, p, "event", cstr_val(vm, "OnUnsettledDetected"));
    dict_set_cstr(vm, p, "unsettled", snap);
    if (!fire(vm, LC_ON_UNSETTLED, pipeline, OBJ_VAL(p), &blocked, &reason)) goto fail;
    if (blocked) {
      err_runtime(vm, "OnUnsettledDetected hook blocked pipeline finish: %s",
                  IS_STRING(reason) ? AS_CSTR(reason) : "");
      goto fail;
    }
  }
  /* 5. on_finish(harness, v): its result replaces v */
  if (has_of) {
    Value args[2];
    args[0] = make_harness(vm);
    gc_push_root(vm, args[0]);
    args[1] = *v;
    Value r = NIL_VAL;
    ok = steps_call_hook(vm, of, 2, args, &r); /* hook-type (1.4) */
    ErrKind k = vm->err_kind;
    Value errv = vm->err_value;
    gc_push_root(vm, errv);
    if (ok) {
      *v = r;
      gc_push_root(vm, r);
    }
    ObjDict *body = dict_new(vm, 4);
    gc_push_root(vm, OBJ_VAL(body));
    ObjDict *pl = dict_new(vm, 1);
    dict_set_cstr(vm, body, "payload", OBJ_VAL(pl));
    dict_set_cstr(vm, pl, "return_value", json_copy(vm, args[1]));
    dict_set_cstr(vm, body, "event", cstr_val(vm, "OnFinish"));
    dict_set_cstr(vm, body, "control", cstr_val(vm, ok ? "allow" : "error"));
    ObjList *hooks = list_new(vm, 1);
    dict_set_cstr(vm, body, "hooks", OBJ_VAL(hooks));
    send_event(vm, "lifecycle", OBJ_VAL(body));
    if (!ok) {
      vm->err_kind = k;
      vm->err_value = errv;
      goto fail;
    }
  }
  /* 6. PostFinish (a block is ignored) */
  lc->code_ahead = false;
  p = dict_new(vm, 3);
  gc_push_root(vm, OBJ_VAL(p));
  dict_set_cstr(vm, p, "event", cstr_val(vm, "PostFinish"));
  dict_set_cstr(vm, p, "return_value", *v);
  dict_set_cstr(vm, p, "unsettled", snap);
  if (!fire(vm, LC_POST_FINISH, pipeline, OBJ_VAL(p), &blocked, &reason)) goto fail;
  vm->heap.ntemp = troots;
  lc->on_finish = NIL_VAL;
  lc->has_on_finish = false;
  lc->code_ahead = false;
  return true;
fail:
  vm->heap.ntemp = troots;
  lc->on_finish = NIL_VAL;
  lc->has_on_finish = false;
  lc->code_ahead = false;
  return false;
}
