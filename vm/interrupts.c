/*
 * interrupts.c: on_interrupt / off_interrupt / raise_signal and handler
 * dispatch (docs/RUNTIME.md 5.2, 5.3 steps 3-5, 5.5).
 *
 * Design
 * ------
 * Handlers live in Lifecycle.handlers (registration order; dispatch walks
 * it backwards, so the newest runs first). A dispatch for signal S:
 * select the handlers whose set holds S (their closures are copied into
 * Lifecycle.selected, which lc_mark roots, so off_interrupt inside a
 * handler cannot free one that is about to run), clear cancel_requested
 * and the countdown, call each with no arguments through steps_call_hook (a
 * hook-type callback on the same frame stack, docs/RUNTIME.md 1.4) with the
 * handler deadline armed when it has graceful_timeout_ms, stop at the first
 * error, then remove the selected `once` handlers by handle.
 *
 * Host signals reach us from interp.c's slow_poll (lc_interrupt_poll),
 * which runs at every safe point, blocking operations included, so a
 * handler runs on top of a suspended sleep. Script signals (raise_signal)
 * are dispatched synchronously inside the builtin: "before the next
 * instruction" exactly. Handlers run only on the root task; a host signal
 * seen in another task waits in host_pending until the root's next poll.
 *
 * Invariants: `dispatching` is set only around the handler calls; a signal
 * (host or script) arriving while it is set raises the cancelled error in
 * the running handler instead of dispatching again.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/signame.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "lifecycle.h"
#include "object.h"
#include "sched.h"
#include "state.h"
#include "steps.h"

/* LC_SIG* bit of signal number [signo], 0 if unsupported. */
static unsigned sig_bit(int signo)
{
  switch (signo) {
  case SIGHUP: return LC_SIGHUP;
  case SIGINT: return LC_SIGINT;
  case SIGTERM: return LC_SIGTERM;
  default: return 0;
  }
}

/* LC_SIG* bit of signal name [s] (base/signame.h), 0 if unsupported. */
static unsigned sig_bit_of_name(const char *s) { return sig_bit(signame_number(s)); }

/* The host only forwards SIGHUP, SIGINT and SIGTERM; anything else counts
 * as SIGTERM. */
static unsigned sig_bit_of_signo(int signo)
{
  unsigned bit = sig_bit(signo);
  return bit ? bit : LC_SIGTERM;
}

static const char *sig_name_of_bit(unsigned bit)
{
  return signame_name(bit == LC_SIGHUP ? SIGHUP : bit == LC_SIGINT ? SIGINT : SIGTERM);
}

bool lc_wants_poll(Vm *vm)
{
  Lifecycle *lc = vm->lifecycle;
  return lc && (lc->handler_deadline != 0 || (lc->host_pending != 0 && lc->nhandlers > 0));
}

int64_t lc_handler_deadline(Vm *vm) { return vm->lifecycle ? vm->lifecycle->handler_deadline : 0; }

/* docs/RUNTIME.md 5.5 for signal bit [bit]; *found = some handler was selected.
 * False with the VM error set when a handler failed. */
static bool dispatch(Vm *vm, unsigned bit, bool *found)
{
  Lifecycle *lc = lc_get(vm);
  Interp *in = vm->interp;
  *found = false;
  int n = 0;
  for (int i = 0; i < lc->nhandlers; i++)
    if (lc->handlers[i].sigs & bit) n++;
  if (!n) return true;
  *found = true;
  /* step 2: newest first; keep handle, timeout and once next to the fn */
  int64_t *handles = malloc(sizeof(int64_t) * (size_t)n);
  int64_t *timeouts = malloc(sizeof(int64_t) * (size_t)n);
  bool *once = malloc(sizeof(bool) * (size_t)n);
  if (!handles || !timeouts || !once) abort();
  int base = lc->nselected;
  if (base + n > lc->selectedcap) {
    lc->selectedcap = (base + n) * 2;
    lc->selected = realloc(lc->selected, sizeof(Value) * (size_t)lc->selectedcap);
    if (!lc->selected) abort();
  }
  int k = 0;
  for (int i = lc->nhandlers - 1; i >= 0; i--) {
    LcHandler *h = &lc->handlers[i];
    if (!(h->sigs & bit)) continue;
    handles[k] = h->handle;
    timeouts[k] = h->timeout_ms;
    once[k] = h->once;
    lc->selected[base + k] = h->fn;
    k++;
  }
  lc->nselected = base + n;
  /* step 3 */
  in->cancel_requested = false;
  in->countdown = 0;
  interp_update_modes(vm);
  /* step 4 */
  lc->dispatching = true;
  bool ok = true;
  for (int j = 0; j < n && ok; j++) {
    int64_t prev = lc->handler_deadline;
    if (timeouts[j] >= 0) {
      int64_t d = sched_after(vm, timeouts[j]);
      if (in->hard_stop_at && in->hard_stop_at < d) d = in->hard_stop_at;
      lc->handler_deadline = d;
    }
    interp_update_modes(vm);
    Value r = NIL_VAL;
    ok = steps_call_hook(vm, lc->selected[base + j], 0, NULL, &r); /* hook-type (1.4) */
    lc->handler_deadline = prev;
    interp_update_modes(vm);
  }
  lc->dispatching = false;
  lc->nselected = base;
  /* step 5: every selected `once` handler goes, even ones skipped */
  for (int j = 0; j < n; j++) {
    if (!once[j]) continue;
    for (int i = 0; i < lc->nhandlers; i++) {
      if (lc->handlers[i].handle != handles[j]) continue;
      memmove(&lc->handlers[i], &lc->handlers[i + 1], sizeof(LcHandler) * (size_t)(lc->nhandlers - i - 1));
      lc->nhandlers--;
      break;
    }
  }
  free(handles);
  free(timeouts);
  free(once);
  interp_update_modes(vm);
  return ok;
}

static bool cancelled_error(Vm *vm) { return err_throw_str(vm, "kind:cancelled:VM cancelled by host"); }

bool lc_interrupt_poll(Vm *vm, int new_sig)
{
  Lifecycle *lc = vm->lifecycle;
  if (!lc) return true;
  if (new_sig) lc->host_pending = new_sig;
  if (!sched_is_root(vm)) return true;
  if (lc->host_pending) {
    int sig = lc->host_pending;
    lc->host_pending = 0;
    if (lc->dispatching) return cancelled_error(vm); /* 5.5 step 1 */
    bool found;
    if (!dispatch(vm, sig_bit_of_signo(sig), &found)) return false;
  }
  if (lc->handler_deadline && sched_now(vm) >= lc->handler_deadline)
    return err_throw_str(vm, "kind:interrupted:handler_timeout");
  return true;
}

/* ---- builtins ----------------------------------------------------------------- */

static bool add_signal(Vm *vm, Value s, unsigned *set)
{
  if (!IS_STRING(s)) {
    ObjString *d = val_to_string(vm, s);
    return err_runtime(vm, "on_interrupt: unsupported signal '%s'", d->chars);
  }
  unsigned b = sig_bit_of_name(AS_CSTR(s));
  if (!b) return err_runtime(vm, "on_interrupt: unsupported signal '%s'", AS_CSTR(s));
  *set |= b;
  return true;
}

bool lc_bi_on_interrupt(Vm *vm, int argc, Value *argv, Value *out)
{
  Value fn = argc > 0 ? argv[0] : NIL_VAL;
  Value opts = argc > 1 ? argv[1] : NIL_VAL;
  if (!vm_is_callable(fn))
    return err_type(vm, "on_interrupt: handler must be callable, got %s", val_type_name(fn));
  unsigned sigs = LC_SIGINT;
  bool once = true;
  int64_t timeout = -1;
  if (IS_DICT(opts)) {
    Value v;
    if (dict_get_cstr(AS_DICT(opts), "signals", &v) && !IS_NIL(v)) {
      sigs = 0;
      if (IS_LIST(v)) {
        ObjList *l = AS_LIST(v);
        if (l->count == 0) return err_runtime(vm, "on_interrupt: signals must not be empty");
        for (uint32_t i = 0; i < l->count; i++)
          if (!add_signal(vm, l->items[i], &sigs)) return false;
      } else if (!add_signal(vm, v, &sigs)) {
        return false;
      }
    }
    if (dict_get_cstr(AS_DICT(opts), "once", &v) && !IS_NIL(v)) once = val_truthy(v);
    if (dict_get_cstr(AS_DICT(opts), "graceful_timeout_ms", &v) && !IS_NIL(v)) {
      if (!(IS_INT(v) || IS_DURATION(v)) || AS_INT(v) < 0)
        return err_runtime(vm, "on_interrupt: graceful_timeout_ms must be a non-negative int or duration");
      timeout = AS_INT(v);
    }
  }
  Lifecycle *lc = lc_get(vm);
  if (lc->nhandlers == lc->handlercap) {
    lc->handlercap = lc->handlercap ? lc->handlercap * 2 : 8;
    lc->handlers = realloc(lc->handlers, sizeof(LcHandler) * (size_t)lc->handlercap);
    if (!lc->handlers) abort();
  }
  LcHandler *h = &lc->handlers[lc->nhandlers++];
  h->handle = ++lc->next_handle;
  h->fn = fn;
  h->sigs = sigs;
  h->once = once;
  h->timeout_ms = timeout;
  ObjDict *d = dict_new(vm, 3);
  gc_push_root(vm, OBJ_VAL(d));
  ObjList *names = list_new(vm, 3);
  dict_set_cstr(vm, d, "signals", OBJ_VAL(names));
  for (unsigned b = 1; b <= LC_SIGTERM; b <<= 1)
    if (sigs & b) list_push(vm, names, OBJ_VAL(str_cstr(vm, sig_name_of_bit(b))));
  dict_set_cstr(vm, d, "handle", INT_VAL(h->handle));
  dict_set_cstr(vm, d, "once", BOOL_VAL(once));
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}

bool lc_bi_off_interrupt(Vm *vm, int argc, Value *argv, Value *out)
{
  Value h = argc > 0 ? argv[0] : NIL_VAL;
  Value id = h;
  if (IS_DICT(h) && !dict_get_cstr(AS_DICT(h), "handle", &id)) id = NIL_VAL;
  if (!IS_INT(id)) return err_type(vm, "off_interrupt: expected a handle, got %s", val_type_name(h));
  Lifecycle *lc = lc_get(vm);
  *out = BOOL_VAL(false);
  for (int i = 0; i < lc->nhandlers; i++) {
    if (lc->handlers[i].handle != AS_INT(id)) continue;
    memmove(&lc->handlers[i], &lc->handlers[i + 1], sizeof(LcHandler) * (size_t)(lc->nhandlers - i - 1));
    lc->nhandlers--;
    *out = BOOL_VAL(true);
    break;
  }
  return true;
}

bool lc_bi_raise_signal(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = argc > 0 ? argv[0] : NIL_VAL;
  *out = NIL_VAL;
  unsigned bit = LC_SIGINT;
  if (!IS_NIL(s)) {
    bit = IS_STRING(s) ? sig_bit_of_name(AS_CSTR(s)) : 0;
    if (!bit) {
      ObjString *d = val_to_string(vm, s);
      return err_runtime(vm, "raise_signal: unsupported signal '%s'", d->chars);
    }
  }
  Lifecycle *lc = lc_get(vm);
  if (lc->dispatching) return cancelled_error(vm); /* 5.5 step 1 */
  bool found;
  if (!dispatch(vm, bit, &found)) return false;
  if (!found) return err_throw_str(vm, "kind:interrupted:%s", sig_name_of_bit(bit));
  return true;
}
