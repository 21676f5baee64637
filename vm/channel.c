/*
 * channel.c: channels, select and atomics (chan_; docs/LANGUAGE.md 13).
 *
 * A channel is a host object (ObjNative, type "channel", display
 * `<channel:NAME>`) holding a ring buffer of at most `capacity` values and
 * two wait lists (sched.h): tasks waiting to receive and tasks waiting to
 * send. Every state change (a value in, a value out, close) wakes the
 * relevant list; waiters re-check in a loop, so wakes may be spurious and
 * fairness is the FIFO order of the ready queue. Receiving from a closed
 * channel drains what is left, then gives nil; sending to a closed one
 * gives false. `for v in ch` / iter(ch) receive until closed and drained
 * (registered with iter_register_native).
 *
 * Invariants: 0 <= count <= capacity; items[head .. head+count) (mod cap)
 * are the queued values, marked by the vtable's mark function. The ring
 * (capacity clamped to [1, 2^24]) is allocated whole and counted against
 * the memory limit while the channel lives (gc.h mem_account).
 *
 * select (sched_select): the first case (source order) whose channel holds
 * a value or is closed wins; otherwise `default` runs at once, or the task
 * waits on every channel's receive list until one is ready or the timeout
 * passes.
 *
 * Live channels are also linked into their VM's list (vm->live_chans,
 * unlinked by the finalizer), which chan_backlog walks for the
 * finish lifecycle's unsettled snapshot (docs/RUNTIME.md 8.1: channels holding
 * undelivered messages). The snapshot must not depend on GC timing: a
 * channel holding undelivered messages is pending whether or not the
 * program still references it, so the list is a root for exactly those
 * channels (chan_mark_backlog, called by gc_collect) and weak for the empty
 * ones. The cost: messages sent to a channel nobody can receive from any
 * more stay allocated until the VM is freed (they are reported as pending).
 *
 * Atomics are a plain boxed value: the scheduler is single-threaded and
 * never preempts inside a builtin, so every operation is atomic.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gc.h"
#include "methods.h"
#include "object.h"
#include "sched.h"
#include "state.h"

typedef struct Chan {
  ObjString *name;
  int64_t capacity;
  Value *items;
  int64_t head, count;
  bool closed;
  WaitList receivers, senders;
  ObjNative *self;        /* the channel object, for chan_mark_backlog */
  struct Chan *prev, *next; /* the live-channel list */
} Chan;

static void chan_display(Vm *vm, ObjNative *n, Buf *out)
{
  Chan *c = n->data;
  buf_puts(out, "<channel:");
  buf_append(out, c->name->chars, c->name->len);
  buf_putc(out, '>');
}

static void chan_mark(Vm *vm, ObjNative *n)
{
  Chan *c = n->data;
  gc_mark_obj(vm, (Obj *)c->name);
  for (int64_t i = 0; i < c->count; i++) gc_mark_value(vm, c->items[(c->head + i) % c->capacity]);
}

static void chan_finalize(Vm *vm, ObjNative *n)
{
  Chan *c = n->data;
  if (!c) return;
  if (c->prev) c->prev->next = c->next;
  else if (vm->live_chans == c) vm->live_chans = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c->items);
  mem_account(vm, sizeof(Value) * (size_t)c->capacity, 0);
  sched_waitlist_free(&c->receivers);
  sched_waitlist_free(&c->senders);
  free(c);
  n->data = NULL;
}

static const NativeVtbl chan_vt = {"channel", chan_display, chan_mark, chan_finalize, false, NULL};

static Chan *as_chan(Value v)
{
  return IS_NATIVE(v) && AS_NATIVE(v)->vt == &chan_vt ? AS_NATIVE(v)->data : NULL;
}

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : NIL_VAL; }

bool chan_bi_channel(Vm *vm, int argc, Value *argv, Value *out)
{
  Value name = arg(argc, argv, 0), cap = arg(argc, argv, 1);
  int64_t capacity = IS_INT(cap) ? AS_INT(cap) : 256;
  if (capacity < 1) capacity = 1;
  if (capacity > (1 << 24)) capacity = 1 << 24;
  /* the ring is allocated whole: it counts against the memory limit
   * (gc.h mem_account) from the start */
  size_t bytes = sizeof(Value) * (size_t)capacity;
  if (!mem_fits(vm, bytes)) return err_memory(vm);
  Chan *c = calloc(1, sizeof(Chan));
  Value *items = malloc(bytes);
  if (!c || !items) {
    free(c);
    free(items);
    mem_doom(vm);
    return err_memory(vm);
  }
  mem_account(vm, 0, bytes);
  c->items = items;
  c->capacity = capacity;
  c->name = IS_NIL(name) ? str_cstr(vm, "default") : IS_STRING(name) ? AS_STRING(name) : val_to_string(vm, name);
  c->next = vm->live_chans;
  if (vm->live_chans) vm->live_chans->prev = c;
  vm->live_chans = c;
  c->self = native_new(vm, &chan_vt, c, sizeof(Chan));
  *out = OBJ_VAL(c->self);
  return true;
}

void chan_mark_backlog(Vm *vm)
{
  for (Chan *c = vm->live_chans; c; c = c->next)
    if (c->count > 0) gc_mark_obj(vm, (Obj *)c->self);
}

void chan_backlog(Vm *vm, ObjList *out)
{
  for (Chan *c = vm->live_chans; c; c = c->next) {
    if (c->count == 0) continue;
    ObjDict *e = dict_new(vm, 2);
    list_push(vm, out, OBJ_VAL(e));
    dict_set_cstr(vm, e, "channel", OBJ_VAL(c->name));
    dict_set_cstr(vm, e, "count", INT_VAL(c->count));
  }
}

/* Take the oldest value (the channel is not empty). */
static Value chan_take(Vm *vm, Chan *c)
{
  Value v = c->items[c->head];
  c->head = (c->head + 1) % c->capacity;
  c->count--;
  sched_wake_all(vm, &c->senders);
  return v;
}

bool chan_bi_send(Vm *vm, int argc, Value *argv, Value *out)
{
  Chan *c = as_chan(arg(argc, argv, 0));
  if (!c) return err_throw_str(vm, "send: first argument must be a channel");
  while (!c->closed && c->count >= c->capacity) {
    sched_wait_add(vm, &c->senders);
    int r = sched_block(vm, 0);
    sched_wait_remove(vm, &c->senders);
    if (r < 0) return false;
  }
  if (c->closed) {
    *out = BOOL_VAL(false);
    return true;
  }
  c->items[(c->head + c->count) % c->capacity] = arg(argc, argv, 1);
  c->count++;
  sched_wake_all(vm, &c->receivers);
  *out = BOOL_VAL(true);
  return true;
}

/* Receive: 1 value, 0 closed and drained, -1 error. */
static int chan_receive(Vm *vm, Chan *c, Value *out)
{
  while (c->count == 0 && !c->closed) {
    sched_wait_add(vm, &c->receivers);
    int r = sched_block(vm, 0);
    sched_wait_remove(vm, &c->receivers);
    if (r < 0) return -1;
  }
  if (c->count == 0) return 0;
  *out = chan_take(vm, c);
  return 1;
}

bool chan_bi_receive(Vm *vm, int argc, Value *argv, Value *out)
{
  Chan *c = as_chan(arg(argc, argv, 0));
  if (!c) return err_throw_str(vm, "receive: first argument must be a channel");
  *out = NIL_VAL;
  return chan_receive(vm, c, out) >= 0;
}

bool chan_bi_try_receive(Vm *vm, int argc, Value *argv, Value *out)
{
  Chan *c = as_chan(arg(argc, argv, 0));
  if (!c) return err_throw_str(vm, "try_receive: first argument must be a channel");
  *out = c->count ? chan_take(vm, c) : NIL_VAL;
  return true;
}

bool chan_bi_close_channel(Vm *vm, int argc, Value *argv, Value *out)
{
  Chan *c = as_chan(arg(argc, argv, 0));
  if (!c) return err_throw_str(vm, "close_channel: first argument must be a channel");
  c->closed = true;
  sched_wake_all(vm, &c->receivers);
  sched_wake_all(vm, &c->senders);
  *out = NIL_VAL;
  return true;
}

static int chan_iter_next(Vm *vm, ObjNative *n, Value *out) { return chan_receive(vm, n->data, out); }

void chan_register(void) { iter_register_native(&chan_vt, chan_iter_next); }

bool sched_select(Vm *vm, Value *chans, int n, int mode, Value timeout, Value *val, int *idx)
{
  for (int i = 0; i < n; i++)
    if (!as_chan(chans[i])) return err_throw_str(vm, "select: case must be a channel, got %s", val_type_name(chans[i]));
  int64_t until = 0;
  if (mode == 1) {
    int64_t ms = IS_INT(timeout) || IS_DURATION(timeout) ? AS_INT(timeout) : 0;
    until = sched_after(vm, ms);
  }
  for (;;) {
    for (int i = 0; i < n; i++) {
      Chan *c = as_chan(chans[i]);
      if (c->count || c->closed) {
        *val = c->count ? chan_take(vm, c) : NIL_VAL;
        *idx = i;
        return true;
      }
    }
    if (mode == 2 || (mode == 1 && sched_now(vm) >= until)) {
      *val = NIL_VAL;
      *idx = -1;
      return true;
    }
    for (int i = 0; i < n; i++) sched_wait_add(vm, &as_chan(chans[i])->receivers);
    int r = sched_block(vm, until);
    for (int i = 0; i < n; i++) sched_wait_remove(vm, &as_chan(chans[i])->receivers);
    if (r < 0) return false;
  }
}

/* channel_select(channels, timeout=nil) (docs/LANGUAGE.md 13; our semantics,
 * the spec only names it): the builtin form of `select`. The first
 * channel of the list (list order) holding a value or closed wins and
 * gives {channel, value} (value nil for a closed, drained channel);
 * otherwise the task waits for one. [timeout] (duration or int ms) bounds
 * the wait: nil when it passes with none ready (0: do not wait at all);
 * a nil timeout waits for ever. */
bool chan_bi_channel_select(Vm *vm, int argc, Value *argv, Value *out)
{
  Value lv = arg(argc, argv, 0), tv = arg(argc, argv, 1);
  *out = NIL_VAL;
  if (!IS_LIST(lv)) return err_type(vm, "channel_select: expected a list of channels, got %s", val_type_name(lv));
  if (!IS_NIL(tv) && !IS_INT(tv) && !IS_DURATION(tv))
    return err_type(vm, "channel_select: timeout must be a duration or int, got %s", val_type_name(tv));
  ObjList *l = AS_LIST(lv);
  int n = (int)l->count;
  if (n == 0 && IS_NIL(tv)) return err_throw_str(vm, "channel_select: no channels to wait on");
  /* a private copy: the list's storage may move while the task waits */
  Value *chans = malloc(sizeof(Value) * (size_t)(n > 0 ? n : 1));
  if (!chans) abort();
  memcpy(chans, l->items, sizeof(Value) * (size_t)n);
  Value v = NIL_VAL;
  int idx = -1;
  bool ok = sched_select(vm, chans, n, IS_NIL(tv) ? 0 : 1, tv, &v, &idx);
  Value ch = idx >= 0 ? chans[idx] : NIL_VAL;
  free(chans);
  if (!ok) return false;
  if (idx < 0) return true;
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "channel", ch);
  dict_set_cstr(vm, d, "value", v);
  *out = OBJ_VAL(d);
  return true;
}

/* ---- atomics ---------------------------------------------------------------- */

typedef struct Atomic {
  Value v;
} Atomic;

static void atomic_display(Vm *vm, ObjNative *n, Buf *out)
{
  buf_puts(out, "<atomic:");
  val_display(vm, ((Atomic *)n->data)->v, out);
  buf_putc(out, '>');
}

static void atomic_mark(Vm *vm, ObjNative *n) { gc_mark_value(vm, ((Atomic *)n->data)->v); }

static void atomic_finalize(Vm *vm, ObjNative *n)
{
  free(n->data);
  n->data = NULL;
}

static const NativeVtbl atomic_vt = {"atomic", atomic_display, atomic_mark, atomic_finalize, false, NULL};

static Atomic *as_atomic(Value v)
{
  return IS_NATIVE(v) && AS_NATIVE(v)->vt == &atomic_vt ? AS_NATIVE(v)->data : NULL;
}

bool chan_bi_atomic(Vm *vm, int argc, Value *argv, Value *out)
{
  Atomic *a = malloc(sizeof(Atomic));
  if (!a) abort();
  a->v = argc > 0 ? argv[0] : INT_VAL(0);
  *out = OBJ_VAL(native_new(vm, &atomic_vt, a, sizeof(Atomic)));
  return true;
}

bool chan_bi_atomic_get(Vm *vm, int argc, Value *argv, Value *out)
{
  Atomic *a = as_atomic(arg(argc, argv, 0));
  *out = a ? a->v : NIL_VAL;
  return true;
}

bool chan_bi_atomic_set(Vm *vm, int argc, Value *argv, Value *out)
{
  Atomic *a = as_atomic(arg(argc, argv, 0));
  *out = NIL_VAL;
  if (!a) return true;
  *out = a->v;
  a->v = arg(argc, argv, 1);
  return true;
}

bool chan_bi_atomic_add(Vm *vm, int argc, Value *argv, Value *out)
{
  Atomic *a = as_atomic(arg(argc, argv, 0));
  *out = NIL_VAL;
  if (!a) return true;
  Value sum;
  if (!op_add(vm, a->v, arg(argc, argv, 1), &sum)) return false;
  *out = a->v;
  a->v = sum;
  return true;
}

bool chan_bi_atomic_cas(Vm *vm, int argc, Value *argv, Value *out)
{
  Atomic *a = as_atomic(arg(argc, argv, 0));
  *out = BOOL_VAL(false);
  if (!a || !val_equal(a->v, arg(argc, argv, 1))) return true;
  a->v = arg(argc, argv, 2);
  *out = BOOL_VAL(true);
  return true;
}
