/*
 * steps.c: `@step` functions (docs/RUNTIME.md 7).
 *
 * Definitions: `@step(...)` on a fn compiles to a call of the hidden
 * builtin __step_register(fn, opts) right after the declaration, which
 * adds (or replaces) a definition keyed by the function's ObjFunction.
 * While any definition exists interp->steps is non-NULL and push_frame
 * asks steps_on_push whether the new frame is a step.
 *
 * Invocations: one per step frame, pushed on a per-VM stack and tagged
 * with (fiber frame array, frame count). interp->steps_open counts them;
 * the interpreter's pop paths call in only while it is non-zero. Every
 * invocation ends in exactly one record (7.5), built as a dict and handed
 * at once to VmConfig.job.event as a `step` event, so it survives a later
 * SIGKILL of the worker.
 *
 * Metering (7.2): while an invocation is open the interpreter counts
 * instructions (counting mode, interp_update_modes); interp->step_check_at
 * is the instruction count at which steps_check must run next (the
 * nearest max_instructions limit, or 256 instructions ahead when a max_ms
 * limit needs the clock read). step_charge adds to every open invocation
 * of the running fiber and checks max_tokens then max_usd, innermost
 * first. An exhausted invocation stays exhausted: its error is raised
 * again at each later check.
 *
 * Boundaries (7.4): steps_boundary runs inside the interpreter's error
 * path before a catch, when the pending error is an exhaustion dict and
 * the step frame lies above the catching record.
 *
 * Hooks (7.6): register_step_hook adds {glob, event, fn}. PreStep hooks
 * run from push_frame (steps_pre) before the frame exists, on the
 * arguments still on the operand stack, which an `args` control rewrites
 * in place; a deny makes a `failed` record with no frame (duration 0) and
 * throws the hook_denied dict. PostStep hooks run from RETURN
 * (steps_on_return) with the return value still on the stack; the
 * invocation's duration and instruction count are frozen first (7.5:
 * "before PostStep"), then the hooks may replace the value; a hook error
 * records `failed` and the interpreter raises it at the call site.
 *
 * Hook-type callbacks (1.4): steps_call_hook hides every open invocation
 * of the running fiber (StepInv.hidden) while the closure runs: hidden
 * invocations are skipped by step_charge and the budget checks, and the
 * instructions run meanwhile are added to their insn_start when the
 * outermost hiding hook returns, so nothing is charged. Lifecycle hooks,
 * on_finish and interrupt handlers call through it too.
 *
 * max_ms inside blocking operations: sched_block wakes at steps_wake_at()
 * and runs steps_check. A task that ends with an error or is abandoned
 * closes its fiber's open invocations in task_finish (sched.c).
 */
#include "steps.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "object.h"
#include "sched.h"
#include "state.h"

enum { BOUND_FAIL = 0, BOUND_CONTINUE = 1, BOUND_ESCALATE = 2 };

typedef struct StepDef {
  ObjFunction *fn;
  ObjString *name;
  Value opts;            /* the attribute dict (other keys are kept) */
  int boundary;
  int64_t max_ms;        /* 0 = no limit */
  int64_t max_insn;
  int64_t max_tokens;
  double max_usd;        /* < 0 = no limit */
} StepDef;

typedef struct StepInv {
  int def;
  Frame *fiber;          /* frame array of the fiber that opened it */
  int depth;             /* frame count of the step frame */
  int64_t start_mono;    /* sched_now at the push */
  int64_t start_epoch;   /* Unix epoch ms */
  uint64_t insn_start;
  int64_t in_tokens, out_tokens, llm_calls;
  double cost;
  Value exhausted;       /* the exhaustion dict once raised, else nil: a
                            later check raises it again */
  Value args;            /* list of the call's arguments (PostStep payload),
                            nil when no PostStep hook matches */
  uint64_t serial;       /* identity across hooks that may block */
  int hidden;            /* > 0 while a hook-type callback runs above it */
  bool ended;            /* PostStep: end_ms / end_insn are frozen */
  int64_t end_ms;
  uint64_t end_insn;
} StepInv;

enum { EV_PRE = 0, EV_POST = 1 };

typedef struct StepHook {
  char *glob;
  int event;
  Value fn;
} StepHook;

typedef struct Steps {
  StepDef *defs;
  int ndefs, defcap;
  StepInv *inv;
  int ninv, invcap;
  uint64_t recorded;
  uint64_t serial;
  StepHook *hooks;
  int nhooks, hookcap;
} Steps;

static int64_t epoch_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static Steps *steps_get(Vm *vm)
{
  Interp *in = vm->interp;
  if (!in->steps) {
    in->steps = calloc(1, sizeof(Steps));
    if (!in->steps) abort();
  }
  return in->steps;
}

/* A new, zeroed invocation at the end of s->inv. */
static StepInv *inv_push(Steps *s)
{
  if (s->ninv >= s->invcap) {
    s->invcap = s->invcap ? s->invcap * 2 : 16;
    s->inv = realloc(s->inv, sizeof(StepInv) * (size_t)s->invcap);
    if (!s->inv) abort();
  }
  StepInv *iv = &s->inv[s->ninv++];
  memset(iv, 0, sizeof *iv);
  return iv;
}

void steps_reset(Vm *vm)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  in->steps_open = 0;
  in->step_check_at = UINT64_MAX;
  if (!s) return;
  s->ndefs = 0;
  s->ninv = 0;
  s->recorded = 0;
  for (int i = 0; i < s->nhooks; i++) free(s->hooks[i].glob);
  s->nhooks = 0;
}

void steps_free(Vm *vm)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  if (!s) return;
  for (int i = 0; i < s->nhooks; i++) free(s->hooks[i].glob);
  free(s->hooks);
  free(s->defs);
  free(s->inv);
  free(s);
  in->steps = NULL;
}

void steps_mark(Vm *vm)
{
  Steps *s = vm->interp->steps;
  if (!s) return;
  for (int i = 0; i < s->ndefs; i++) {
    gc_mark_obj(vm, (Obj *)s->defs[i].fn);
    gc_mark_obj(vm, (Obj *)s->defs[i].name);
    gc_mark_value(vm, s->defs[i].opts);
  }
  for (int i = 0; i < s->ninv; i++) {
    gc_mark_value(vm, s->inv[i].exhausted);
    gc_mark_value(vm, s->inv[i].args);
  }
  for (int i = 0; i < s->nhooks; i++) gc_mark_value(vm, s->hooks[i].fn);
}

uint64_t steps_recorded(Vm *vm)
{
  Steps *s = vm->interp->steps;
  return s ? s->recorded : 0;
}

/* ---- registration ---------------------------------------------------------- */

static int64_t budget_int(ObjDict *b, const char *key, bool duration_ok)
{
  Value v;
  if (!dict_get_cstr(b, key, &v)) return 0;
  if (IS_INT(v)) return AS_INT(v) > 0 ? AS_INT(v) : 0;
  if (duration_ok && IS_DURATION(v)) return v.as.i > 0 ? v.as.i : 0;
  if (IS_FLOAT(v) && isfinite(AS_FLOAT(v)) && AS_FLOAT(v) >= 1.0 && AS_FLOAT(v) < 9.2e18)
    return (int64_t)AS_FLOAT(v);
  return 0;
}

bool steps_bi_register(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = NIL_VAL;
  if (argc < 1 || !IS_CLOSURE(argv[0])) return true;
  ObjFunction *fn = AS_CLOSURE(argv[0])->fn;
  ObjDict *opts = argc >= 2 && IS_DICT(argv[1]) ? AS_DICT(argv[1]) : NULL;
  Steps *s = steps_get(vm);
  int i = 0;
  while (i < s->ndefs && s->defs[i].fn != fn) i++;
  if (i == s->ndefs) {
    if (s->ndefs >= s->defcap) {
      s->defcap = s->defcap ? s->defcap * 2 : 8;
      s->defs = realloc(s->defs, sizeof(StepDef) * (size_t)s->defcap);
      if (!s->defs) abort();
    }
    s->ndefs++;
  }
  StepDef *d = &s->defs[i];
  memset(d, 0, sizeof *d);
  d->fn = fn;
  d->opts = opts ? OBJ_VAL(opts) : NIL_VAL;
  d->max_usd = -1;
  Value v;
  d->name = opts && dict_get_cstr(opts, "name", &v) && IS_STRING(v) ? AS_STRING(v) : fn->name;
  if (opts && dict_get_cstr(opts, "error_boundary", &v) && IS_STRING(v)) {
    if (strcmp(AS_CSTR(v), "continue") == 0) d->boundary = BOUND_CONTINUE;
    else if (strcmp(AS_CSTR(v), "escalate") == 0) d->boundary = BOUND_ESCALATE;
  }
  if (opts && dict_get_cstr(opts, "budget", &v) && IS_DICT(v)) {
    ObjDict *b = AS_DICT(v);
    d->max_ms = budget_int(b, "max_ms", true);
    if (dict_get_cstr(b, "max_instructions", &v) && IS_INT(v) && AS_INT(v) > 0) d->max_insn = AS_INT(v);
    d->max_tokens = budget_int(b, "max_tokens", false);
    if (dict_get_cstr(b, "max_usd", &v) && IS_NUMBER(v) && isfinite(AS_NUMBER(v)) && AS_NUMBER(v) >= 0)
      d->max_usd = AS_NUMBER(v);
  }
  return true;
}

/* ---- invocations ------------------------------------------------------------ */

static const char *boundary_name(int b)
{
  return b == BOUND_CONTINUE ? "continue" : b == BOUND_ESCALATE ? "escalate" : "fail";
}

/* Recompute the next instruction count at which steps_check runs. */
static void update_check(Vm *vm)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  uint64_t at = UINT64_MAX;
  for (int i = 0; s && i < s->ninv; i++) {
    StepInv *iv = &s->inv[i];
    StepDef *d = &s->defs[iv->def];
    if (iv->hidden) continue;
    if (d->max_ms) {
      uint64_t a = in->instructions + 256;
      if (a < at) at = a;
    }
    if (d->max_insn) {
      uint64_t a = iv->insn_start + (uint64_t)d->max_insn + 1;
      if (a < at) at = a;
    }
  }
  in->step_check_at = at;
}

/* Does any hook of [event] match step name [name]? */
static bool hook_matches(Steps *s, int event, ObjString *name)
{
  for (int i = 0; i < s->nhooks; i++)
    if (s->hooks[i].event == event && fnmatch(s->hooks[i].glob, name->chars, 0) == 0) return true;
  return false;
}

void steps_on_push(Vm *vm)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  ObjFunction *fn = in->frames[in->nframes - 1].fn;
  int i = 0;
  while (i < s->ndefs && s->defs[i].fn != fn) i++;
  if (i == s->ndefs) return;
  StepInv *iv = inv_push(s);
  iv->def = i;
  iv->fiber = in->frames;
  iv->depth = in->nframes;
  iv->start_mono = sched_now(vm);
  iv->start_epoch = epoch_ms();
  iv->insn_start = in->instructions;
  iv->exhausted = NIL_VAL;
  iv->args = NIL_VAL;
  iv->serial = ++s->serial;
  if (hook_matches(s, EV_POST, s->defs[i].name)) {
    Frame *f = &in->frames[in->nframes - 1];
    ObjList *l = list_new(vm, (uint32_t)f->argc);
    s->inv[s->ninv - 1].args = OBJ_VAL(l); /* rooted from here on */
    for (int k = 0; k < f->argc; k++) list_push(vm, l, f->slots[k]);
  }
  if (in->steps_open++ == 0) interp_update_modes(vm);
  update_check(vm);
}

/* The innermost open invocation of the running fiber at frame count
 * [depth], or -1. */
static int find_inv(Vm *vm, int depth)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  for (int i = s ? s->ninv - 1 : -1; i >= 0; i--)
    if (s->inv[i].fiber == in->frames && s->inv[i].depth == depth) return i;
  return -1;
}

bool steps_is_step_fn(Vm *vm, ObjFunction *fn)
{
  Steps *s = vm->interp->steps;
  for (int i = 0; s && i < s->ndefs; i++)
    if (s->defs[i].fn == fn) return true;
  return false;
}

bool steps_top_is_step(Vm *vm)
{
  Interp *in = vm->interp;
  return in->steps_open && find_inv(vm, in->nframes) >= 0;
}

static void set_int(Vm *vm, ObjDict *d, const char *k, int64_t v) { dict_set_cstr(vm, d, k, INT_VAL(v)); }

static void set_str(Vm *vm, ObjDict *d, const char *k, const char *v)
{
  dict_set_cstr(vm, d, k, v ? OBJ_VAL(str_cstr(vm, v)) : NIL_VAL);
}

/* Make the record of invocation [i] with [status] / [error] (NULL = nil),
 * stream it, and remove the invocation. */
static void record(Vm *vm, int i, const char *status, const char *error)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  StepInv *iv = &s->inv[i];
  StepDef *d = &s->defs[iv->def];
  ObjDict *r = dict_new(vm, 12);
  gc_push_root(vm, OBJ_VAL(r));
  dict_set_cstr(vm, r, "name", OBJ_VAL(d->name));
  dict_set_cstr(vm, r, "function", OBJ_VAL(d->fn->name));
  set_str(vm, r, "status", status);
  set_str(vm, r, "error", error);
  set_int(vm, r, "started_at_ms", iv->start_epoch);
  set_int(vm, r, "duration_ms", (iv->ended ? iv->end_ms : sched_now(vm)) - iv->start_mono);
  set_int(vm, r, "instructions", (int64_t)((iv->ended ? iv->end_insn : in->instructions) - iv->insn_start));
  set_int(vm, r, "input_tokens", iv->in_tokens);
  set_int(vm, r, "output_tokens", iv->out_tokens);
  dict_set_cstr(vm, r, "cost_usd", FLOAT_VAL(iv->cost));
  set_int(vm, r, "llm_calls", iv->llm_calls);
  memmove(&s->inv[i], &s->inv[i + 1], sizeof(StepInv) * (size_t)(s->ninv - i - 1));
  s->ninv--;
  s->recorded++;
  if (--in->steps_open == 0) interp_update_modes(vm);
  update_check(vm);
  if (vm->cfg.job.event) {
    Value rv = OBJ_VAL(r);
    vm->cfg.job.event(vm->cfg.job.event_ud, vm, "step", &rv);
  }
  gc_pop_root(vm);
}


/* The record's error text for the pending error: a thrown dict's
 * `message`, else the display text without suffix. malloc'd. */
static char *pending_error_text(Vm *vm)
{
  Value m;
  if (vm->err_kind == ERR_THROWN && IS_DICT(vm->err_value) &&
      dict_get_cstr(AS_DICT(vm->err_value), "message", &m) && IS_STRING(m))
    return strdup(AS_CSTR(m));
  if (vm->err_kind == ERR_NONE) return strdup("");
  Buf b = {0};
  err_display(vm, &b);
  char *t = buf_take(&b);
  return t ? t : strdup("");
}

void steps_close_above(Vm *vm, int d)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  if (!s) return;
  char *text = NULL;
  for (int i = s->ninv - 1; i >= 0; i--) {
    if (s->inv[i].fiber != in->frames || s->inv[i].depth <= d) continue;
    if (!text) text = pending_error_text(vm);
    record(vm, i, "failed", text);
  }
  free(text);
}

void steps_close_fiber(Vm *vm, const struct Frame *fiber, const char *error)
{
  Steps *s = vm->interp->steps;
  if (!s) return;
  for (int i = s->ninv - 1; i >= 0; i--)
    if (s->inv[i].fiber == fiber) record(vm, i, "failed", error);
}

/* ---- budgets ---------------------------------------------------------------- */

/* Build the exhaustion dict of 7.3 for invocation [iv] and [limit]. */
static Value exhaustion(Vm *vm, StepInv *iv, const char *limit)
{
  Interp *in = vm->interp;
  StepDef *d = &in->steps->defs[iv->def];
  int64_t ms = sched_now(vm) - iv->start_mono;
  int64_t insn = (int64_t)(in->instructions - iv->insn_start);
  int64_t tokens = iv->in_tokens + iv->out_tokens;
  ObjDict *r = dict_new(vm, 14);
  gc_push_root(vm, OBJ_VAL(r));
  set_str(vm, r, "category", "budget_exceeded");
  set_str(vm, r, "kind", "budget_exhausted");
  set_str(vm, r, "reason", "step_budget_exhausted");
  dict_set_cstr(vm, r, "step", OBJ_VAL(d->name));
  dict_set_cstr(vm, r, "function", OBJ_VAL(d->fn->name));
  set_str(vm, r, "limit", limit);
  Buf b = {0};
  buf_printf(&b, "step `%s` exceeded %s budget (", d->name->chars, limit);
  if (strcmp(limit, "max_usd") == 0) {
    dict_set_cstr(vm, r, "limit_value", FLOAT_VAL(d->max_usd));
    val_display(vm, FLOAT_VAL(iv->cost), &b);
    buf_puts(&b, " > ");
    val_display(vm, FLOAT_VAL(d->max_usd), &b);
  } else {
    int64_t lim = 0, used = 0;
    if (strcmp(limit, "max_ms") == 0) lim = d->max_ms, used = ms;
    else if (strcmp(limit, "max_instructions") == 0) lim = d->max_insn, used = insn;
    else lim = d->max_tokens, used = tokens;
    set_int(vm, r, "limit_value", lim);
    buf_printf(&b, "%lld > %lld", (long long)used, (long long)lim);
  }
  buf_putc(&b, ')');
  set_int(vm, r, "consumed_ms", ms);
  set_int(vm, r, "consumed_instructions", insn);
  set_int(vm, r, "consumed_tokens", tokens);
  dict_set_cstr(vm, r, "consumed_cost_usd", FLOAT_VAL(iv->cost));
  set_str(vm, r, "error_boundary", boundary_name(d->boundary));
  set_str(vm, r, "message", b.data ? b.data : "");
  buf_free(&b);
  gc_pop_root(vm);
  return OBJ_VAL(r);
}

/* Raise the exhaustion error of invocation [i] for [limit]; false. */
static bool exhaust(Vm *vm, int i, const char *limit)
{
  StepInv *iv = &vm->interp->steps->inv[i];
  if (IS_NIL(iv->exhausted)) {
    iv->exhausted = exhaustion(vm, iv, limit);
    update_check(vm);
  }
  return err_throw(vm, iv->exhausted);
}

bool steps_check(Vm *vm)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  if (!s) {
    in->step_check_at = UINT64_MAX;
    return true;
  }
  int64_t now = -1;
  for (int i = s->ninv - 1; i >= 0; i--) {
    StepInv *iv = &s->inv[i];
    if (iv->fiber != in->frames || iv->hidden) continue;
    StepDef *d = &s->defs[iv->def];
    if (d->max_insn && in->instructions - iv->insn_start > (uint64_t)d->max_insn)
      return exhaust(vm, i, "max_instructions");
    if (d->max_ms) {
      if (now < 0) now = sched_now(vm);
      if (now - iv->start_mono > d->max_ms) return exhaust(vm, i, "max_ms");
    }
  }
  update_check(vm);
  return true;
}

int64_t steps_wake_at(Vm *vm)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  int64_t at = 0;
  if (!s) return 0;
  for (int i = 0; i < s->ninv; i++) {
    StepInv *iv = &s->inv[i];
    if (iv->fiber != in->frames || iv->hidden) continue;
    int64_t ms = s->defs[iv->def].max_ms;
    if (!ms) continue;
    int64_t t; /* exceeded means consumed > limit; a huge limit never wakes early */
    if (__builtin_add_overflow(iv->start_mono, ms, &t) || t == INT64_MAX) t = INT64_MAX;
    else t++;
    if (!at || t < at) at = t;
  }
  return at;
}

static bool charge_num(Vm *vm, ObjDict *d, const char *key, double *out)
{
  Value v;
  *out = 0;
  if (!dict_get_cstr(d, key, &v) || IS_NIL(v)) return true;
  if (!IS_NUMBER(v)) return err_type(vm, "step_charge: %s must be a number", key);
  double x = AS_NUMBER(v);
  *out = isfinite(x) && x > 0 ? x : 0;
  return true;
}

bool steps_bi_charge(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = NIL_VAL;
  Value a = argc >= 1 ? argv[0] : NIL_VAL;
  if (!IS_DICT(a)) return err_type(vm, "step_charge: expected a dict, got %s", val_type_name(a));
  double it, ot, cost;
  if (!charge_num(vm, AS_DICT(a), "input_tokens", &it) || !charge_num(vm, AS_DICT(a), "output_tokens", &ot) ||
      !charge_num(vm, AS_DICT(a), "cost_usd", &cost))
    return false;
  Interp *in = vm->interp;
  Steps *s = in->steps;
  if (!s || !in->steps_open) return true;
  for (int i = 0; i < s->ninv; i++) {
    StepInv *iv = &s->inv[i];
    if (iv->fiber != in->frames || iv->hidden) continue;
    iv->in_tokens += (int64_t)it;
    iv->out_tokens += (int64_t)ot;
    iv->cost += cost;
    iv->llm_calls++;
  }
  for (int i = s->ninv - 1; i >= 0; i--) {
    StepInv *iv = &s->inv[i];
    if (iv->fiber != in->frames || iv->hidden) continue;
    if (!IS_NIL(iv->exhausted)) return err_throw(vm, iv->exhausted);
    StepDef *d = &s->defs[iv->def];
    if (d->max_tokens && iv->in_tokens + iv->out_tokens > d->max_tokens) return exhaust(vm, i, "max_tokens");
    if (d->max_usd >= 0 && iv->cost > d->max_usd) return exhaust(vm, i, "max_usd");
  }
  return true;
}

/* ---- boundaries --------------------------------------------------------------- */

static bool is_exhaustion(Vm *vm)
{
  if (vm->err_kind != ERR_THROWN || !IS_DICT(vm->err_value)) return false;
  ObjDict *d = AS_DICT(vm->err_value);
  Value v;
  if (!dict_get_cstr(d, "category", &v) || !IS_STRING(v) || strcmp(AS_CSTR(v), "budget_exceeded") != 0)
    return false;
  return !(dict_get_cstr(d, "escalated", &v) && IS_BOOL(v) && AS_BOOL(v));
}

int steps_boundary(Vm *vm, int hdepth, int target, int *step_depth)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  int limit = hdepth > target ? hdepth : target;
  while (s && is_exhaustion(vm)) {
    int i = s->ninv - 1;
    while (i >= 0 && (s->inv[i].fiber != in->frames || s->inv[i].depth <= limit)) i--;
    if (i < 0) return 0;
    StepInv *iv = &s->inv[i];
    StepDef *d = &s->defs[iv->def];
    char *text = pending_error_text(vm);
    int depth = iv->depth;
    /* deeper invocations (nested steps, or plain frames) close first */
    for (int j = s->ninv - 1; j > i; j--)
      if (s->inv[j].fiber == in->frames && s->inv[j].depth > depth) record(vm, j, "failed", text);
    if (d->boundary == BOUND_CONTINUE) {
      record(vm, i, "skipped", text);
      free(text);
      *step_depth = depth;
      return 1;
    }
    if (d->boundary == BOUND_ESCALATE) {
      ObjDict *e = dict_copy(vm, AS_DICT(vm->err_value));
      gc_push_root(vm, OBJ_VAL(e));
      dict_set_cstr(vm, e, "escalated", BOOL_VAL(true));
      set_str(vm, e, "category", "handoff_escalation");
      Value v;
      if (!dict_get_cstr(e, "step", &v)) dict_set_cstr(vm, e, "step", OBJ_VAL(d->name));
      if (!dict_get_cstr(e, "function", &v)) dict_set_cstr(vm, e, "function", OBJ_VAL(d->fn->name));
      record(vm, i, "escalated", text);
      vm->err_value = OBJ_VAL(e);
      gc_pop_root(vm);
      free(text);
      return 0;
    }
    record(vm, i, "failed", text);
    free(text);
  }
  return 0;
}

/* ---- hooks (docs/RUNTIME.md 7.6) --------------------------------------------------- */

bool steps_call_hook(Vm *vm, Value fn, int argc, Value *argv, Value *out)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  if (!s || !in->steps_open) return vm_call(vm, fn, argc, argv, out);
  Frame *fiber = in->frames;
  uint64_t start = in->instructions;
  for (int i = 0; i < s->ninv; i++)
    if (s->inv[i].fiber == fiber) s->inv[i].hidden++;
  bool ok = vm_call(vm, fn, argc, argv, out);
  /* the hook may have blocked: re-read the (possibly moved) array */
  s = in->steps;
  for (int i = 0; i < s->ninv; i++) {
    StepInv *iv = &s->inv[i];
    if (iv->fiber != fiber || iv->hidden <= 0) continue;
    if (--iv->hidden == 0 && !iv->ended) iv->insn_start += in->instructions - start;
  }
  update_check(vm);
  return ok;
}

bool steps_bi_register_hook(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = NIL_VAL;
  Value g = argc >= 1 ? argv[0] : NIL_VAL, e = argc >= 2 ? argv[1] : NIL_VAL, fn = argc >= 3 ? argv[2] : NIL_VAL;
  if (!IS_STRING(g)) return err_type(vm, "register_step_hook: step_glob must be a string, got %s", val_type_name(g));
  if (!IS_STRING(e)) return err_type(vm, "register_step_hook: event must be a string, got %s", val_type_name(e));
  int ev;
  if (strcmp(AS_CSTR(e), "PreStep") == 0) ev = EV_PRE;
  else if (strcmp(AS_CSTR(e), "PostStep") == 0) ev = EV_POST;
  else return err_runtime(vm, "register_step_hook: unsupported event '%s'", AS_CSTR(e));
  if (!vm_is_callable(fn))
    return err_type(vm, "register_step_hook: handler must be callable, got %s", val_type_name(fn));
  Steps *s = steps_get(vm);
  if (s->nhooks >= s->hookcap) {
    s->hookcap = s->hookcap ? s->hookcap * 2 : 8;
    s->hooks = realloc(s->hooks, sizeof(StepHook) * (size_t)s->hookcap);
    if (!s->hooks) abort();
  }
  StepHook *h = &s->hooks[s->nhooks++];
  h->glob = strdup(AS_CSTR(g));
  if (!h->glob) abort();
  h->event = ev;
  h->fn = fn;
  return true;
}

/* The payload {event, target, step: {name, function, args}} (rooted by
 * the caller). */
static ObjDict *hook_payload(Vm *vm, const char *event, StepDef *d, Value args)
{
  ObjDict *p = dict_new(vm, 4);
  gc_push_root(vm, OBJ_VAL(p));
  set_str(vm, p, "event", event);
  dict_set_cstr(vm, p, "target", OBJ_VAL(d->name));
  ObjDict *st = dict_new(vm, 3);
  dict_set_cstr(vm, p, "step", OBJ_VAL(st));
  dict_set_cstr(vm, st, "name", OBJ_VAL(d->name));
  dict_set_cstr(vm, st, "function", OBJ_VAL(d->fn->name));
  dict_set_cstr(vm, st, "args", args);
  gc_pop_root(vm);
  return p;
}

static bool is_str(Value v, const char *s) { return IS_STRING(v) && strcmp(AS_CSTR(v), s) == 0; }

/* A record for a step call denied by PreStep: no frame, duration 0. */
static void record_denied(Vm *vm, int def, const char *reason)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  StepInv *iv = inv_push(s);
  iv->def = def;
  iv->fiber = NULL; /* never found by the fiber filters */
  iv->start_mono = sched_now(vm);
  iv->start_epoch = epoch_ms();
  iv->insn_start = in->instructions;
  iv->exhausted = NIL_VAL;
  iv->args = NIL_VAL;
  iv->ended = true;
  iv->end_ms = iv->start_mono;
  iv->end_insn = iv->insn_start;
  in->steps_open++;
  Buf b = {0};
  buf_printf(&b, "hook_denied: %s", reason);
  record(vm, s->ninv - 1, "failed", b.data ? b.data : "");
  buf_free(&b);
}

bool steps_pre(Vm *vm, ObjClosure *cl, int *argc)
{
  Interp *in = vm->interp;
  Steps *s = in->steps;
  int di = 0;
  while (di < s->ndefs && s->defs[di].fn != cl->fn) di++;
  if (di == s->ndefs || !hook_matches(s, EV_PRE, s->defs[di].name)) return true;
  int n = *argc;
  Value *args = in->sp - n;
  ObjList *al = list_new(vm, (uint32_t)n);
  gc_push_root(vm, OBJ_VAL(al));
  for (int k = 0; k < n; k++) list_push(vm, al, args[k]);
  ObjDict *p = hook_payload(vm, "PreStep", &s->defs[di], OBJ_VAL(al));
  gc_push_root(vm, OBJ_VAL(p));
  Value newargs = NIL_VAL;
  for (int i = 0; i < s->nhooks; i++) {
    s = in->steps;
    StepHook *h = &s->hooks[i];
    if (h->event != EV_PRE || fnmatch(h->glob, s->defs[di].name->chars, 0) != 0) continue;
    Value pv = OBJ_VAL(p), r;
    if (!steps_call_hook(vm, h->fn, 1, &pv, &r)) goto fail;
    if (IS_NIL(r) || is_str(r, "Allow")) continue;
    if (!IS_DICT(r)) {
      err_runtime(vm, "PreStep hook must return nil, Allow, or {deny|args}, got %s", val_type_name(r));
      goto fail;
    }
    ObjDict *rd = AS_DICT(r);
    Value dv, rv, av;
    bool has_deny = dict_get_cstr(rd, "deny", &dv) && !IS_NIL(dv);
    bool has_reason = dict_get_cstr(rd, "reason", &rv) && !IS_NIL(rv);
    if (has_deny || has_reason || (dict_get_cstr(rd, "action", &av) && is_str(av, "deny"))) {
      const char *reason = has_reason && IS_STRING(rv) ? AS_CSTR(rv)
                           : has_deny && IS_STRING(dv) ? AS_CSTR(dv)
                                                       : "denied by PreStep hook";
      ObjDict *e = dict_new(vm, 4);
      gc_push_root(vm, OBJ_VAL(e));
      set_str(vm, e, "category", "hook_denied");
      set_str(vm, e, "event", "PreStep");
      set_str(vm, e, "reason", reason);
      dict_set_cstr(vm, e, "step", OBJ_VAL(in->steps->defs[di].name));
      record_denied(vm, di, reason);
      err_throw(vm, OBJ_VAL(e));
      gc_pop_root(vm);
      goto fail;
    }
    if ((dict_get_cstr(rd, "args", &av) && IS_LIST(av)) || (dict_get_cstr(rd, "modify", &av) && IS_LIST(av))) {
      newargs = av;
      gc_push_root(vm, newargs);
      Value stv;
      if (dict_get_cstr(p, "step", &stv) && IS_DICT(stv)) dict_set_cstr(vm, AS_DICT(stv), "args", av);
      gc_pop_root(vm);
    }
  }
  if (IS_LIST(newargs)) {
    ObjList *l = AS_LIST(newargs);
    if (l->count > 4096 || args + l->count + cl->fn->nlocals + INTERP_MAX_OPERANDS >= in->stack_end) {
      gc_pop_root(vm);
      gc_pop_root(vm);
      return err_stack_overflow(vm);
    }
    for (uint32_t k = 0; k < l->count; k++) args[k] = l->items[k];
    in->sp = args + l->count;
    *argc = (int)l->count;
  }
  gc_pop_root(vm);
  gc_pop_root(vm);
  return true;
fail:
  gc_pop_root(vm);
  gc_pop_root(vm);
  return false;
}

bool steps_on_return(Vm *vm, int depth, Value *result)
{
  Interp *in = vm->interp;
  int i = find_inv(vm, depth);
  if (i < 0) return true;
  Steps *s = in->steps;
  StepInv *iv = &s->inv[i];
  if (IS_NIL(iv->args) || !hook_matches(s, EV_POST, s->defs[iv->def].name)) {
    record(vm, i, "completed", NULL);
    return true;
  }
  /* 7.5: duration and instructions up to the return value */
  iv->ended = true;
  iv->end_ms = sched_now(vm);
  iv->end_insn = in->instructions;
  uint64_t serial = iv->serial;
  int di = iv->def;
  ObjDict *p = hook_payload(vm, "PostStep", &s->defs[di], iv->args);
  gc_push_root(vm, OBJ_VAL(p));
  dict_set_cstr(vm, p, "output", *result);
  bool ok = true;
  for (int h = 0; ok && h < in->steps->nhooks; h++) {
    StepHook *hk = &in->steps->hooks[h];
    if (hk->event != EV_POST || fnmatch(hk->glob, in->steps->defs[di].name->chars, 0) != 0) continue;
    Value pv = OBJ_VAL(p), r;
    if (!steps_call_hook(vm, hk->fn, 1, &pv, &r)) {
      ok = false;
      break;
    }
    if (IS_NIL(r) || is_str(r, "Pass")) continue;
    if (!IS_DICT(r)) {
      ok = err_runtime(vm, "PostStep hook must return nil, Pass, or {output}, got %s", val_type_name(r));
      break;
    }
    Value v;
    ObjDict *rd = AS_DICT(r);
    if (dict_get_cstr(rd, "output", &v) || dict_get_cstr(rd, "result", &v) || dict_get_cstr(rd, "modify", &v)) {
      *result = v;
      dict_set_cstr(vm, p, "output", v);
    }
  }
  gc_pop_root(vm);
  s = in->steps;
  for (i = s->ninv - 1; i >= 0 && s->inv[i].serial != serial; i--) {}
  if (i < 0) return ok;
  if (ok) {
    record(vm, i, "completed", NULL);
  } else {
    char *text = pending_error_text(vm);
    record(vm, i, "failed", text);
    free(text);
  }
  return ok;
}
