/*
 * lifecycle.h: interrupt handlers (docs/RUNTIME.md 5.2-5.5, vm/interrupts.c)
 * and the finish lifecycle (docs/RUNTIME.md 8, vm/lifecycle.c). Internal to vm/.
 *
 * Both keep their per-run registrations in one struct Lifecycle hanging
 * off the Vm (vm->lifecycle, allocated on first use, emptied at the start
 * of every run by lc_reset so registrations never leak between runs).
 *
 * Invariants
 *  - Every Value held here (handler closures, hook closures, on_finish,
 *    the handlers selected by a running dispatch) is marked by lc_mark,
 *    which vm_mark_roots calls.
 *  - Handlers run only on the root task; `dispatching` is true while one
 *    dispatch calls its handlers (a signal then cancels inside it).
 *  - handler_deadline (sched_now ms, 0 = none) is non-zero only while a
 *    handler with graceful_timeout_ms runs; lc_wants_poll() then keeps
 *    the safe points on the slow path so the timeout is seen.
 */
#ifndef HARN_LIFECYCLE_H
#define HARN_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "value.h"

/* Signal bits of a handler's set (sorted by name: SIGHUP < SIGINT < SIGTERM). */
enum { LC_SIGHUP = 1, LC_SIGINT = 2, LC_SIGTERM = 4 };

typedef struct LcHandler {
  int64_t handle;     /* counts up from 1 per run */
  Value fn;
  unsigned sigs;      /* LC_SIG* bits */
  bool once;
  int64_t timeout_ms; /* graceful_timeout_ms, -1 = none */
} LcHandler;

enum { LC_PRE_FINISH, LC_ON_UNSETTLED, LC_POST_FINISH };

typedef struct LcHook {
  int event;          /* LC_PRE_FINISH ... */
  char *pattern;      /* glob on the pipeline name, NULL = all (malloc'd) */
  Value fn;
} LcHook;

typedef struct Lifecycle {
  LcHandler *handlers;
  int nhandlers, handlercap;
  int64_t next_handle;
  bool dispatching;
  int64_t handler_deadline;
  int host_pending;   /* host signal number seen but not yet dispatched */
  Value *selected;    /* closures of the running dispatch (rooted) */
  int nselected, selectedcap;
  LcHook *hooks;
  int nhooks, hookcap;
  Value on_finish;
  bool has_on_finish;
  bool code_ahead;    /* in lc_finish: program code may run after the
                         event being sent (vm_finish_code_ahead) */
} Lifecycle;

/* ---- registry (lifecycle.c) ------------------------------------------- */

/* The lifecycle state of [vm] (allocated on first use). */
Lifecycle *lc_get(Vm *vm);
/* Forget every registration (start of a run). */
void lc_reset(Vm *vm);
/* Free the state (vm_free). */
void lc_free(Vm *vm);
/* Mark the registered closures (called from vm_mark_roots). */
void lc_mark(Vm *vm);

/* ---- interrupts (interrupts.c) ----------------------------------------- */

/* Must the slow poll run at every safe point for us (a handler deadline
 * is armed, or a host signal waits for the root)? Cheap, no side effect. */
bool lc_wants_poll(Vm *vm);
/* The armed handler deadline (sched_now ms) or 0: blocking operations
 * wake for it. */
int64_t lc_handler_deadline(Vm *vm);
/* The slow poll's part of docs/RUNTIME.md 5.3 (steps 4 and 5): [new_sig] is a
 * host signal number recorded by this poll (0 = none; the caller already
 * set cancelled / cancel_requested / the countdown). On the root task:
 * dispatches to the handlers for it (which clears cancel_requested and the
 * countdown), raises the cancelled error inside a running dispatch, and
 * raises `kind:interrupted:handler_timeout` once a handler deadline has
 * passed. False with the VM error set when the script must fail here. */
bool lc_interrupt_poll(Vm *vm, int new_sig);

/* Builtins (builtins.c table). */
bool lc_bi_on_interrupt(Vm *vm, int argc, Value *argv, Value *out);
bool lc_bi_off_interrupt(Vm *vm, int argc, Value *argv, Value *out);
bool lc_bi_raise_signal(Vm *vm, int argc, Value *argv, Value *out);

/* ---- finish lifecycle (lifecycle.c) ------------------------------------- */

/* docs/RUNTIME.md 8.1 after a successful, non-cancelled root run: *v is the
 * run's value (rooted by the caller), replaced by on_finish's result.
 * [pipeline] is the pipeline name hooks' patterns match. False with the VM
 * error set when a hook or on_finish failed the run. */
bool lc_finish(Vm *vm, const char *pipeline, Value *v);

bool lc_bi_pipeline_on_finish(Vm *vm, int argc, Value *argv, Value *out);
bool lc_bi_register_lifecycle_hook(Vm *vm, int argc, Value *argv, Value *out);
/* harness.emit (the builtin the harness's `emit` property reads as). */
bool lc_bi_harness_emit(Vm *vm, int argc, Value *argv, Value *out);

/* ---- services of sched.c ------------------------------------------------ */

/* Is the running task the root? */
bool sched_is_root(Vm *vm);
/* The unsettled snapshot of docs/RUNTIME.md 8.1: a fresh dict
 * {pending_channel_messages, pending_host_calls, pending_tasks}; *empty
 * tells whether all three lists are empty. */
Value sched_unsettled_snapshot(Vm *vm, bool *empty);
/* docs/RUNTIME.md 8.1 step 7 and 5.6: abort every task not finished (as
 * cancel(h): a task not started never runs, a suspended one runs no more
 * bytecode and its open steps are recorded `failed` with `task cancelled`).
 * Called once the root run is over, before the final result is built, so a
 * pending task's output never lands after the result. */
void sched_abort_pending(Vm *vm);
/* settle_pending(timeout = 5000 ms) (docs/RUNTIME.md 8.1). */
bool sched_bi_settle_pending(Vm *vm, int argc, Value *argv, Value *out);

#endif
