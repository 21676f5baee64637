/*
 * sched.h: the cooperative scheduler of the VM (sched.c) -- tasks, the
 * blocking operations, deadlines, mutexes -- plus channels and atomics
 * (channel.c) and generators / streams (sched.c). Internal to vm/.
 *
 * Every function that can block (await, sleep, receive, a send on a full
 * channel, select, mutex acquisition, a parallel join, pulling a generator)
 * suspends the calling *task* (a fiber switch), never the process; it is a
 * safe point (docs/RUNTIME.md 1.5 d). Such a function may run the collector, so
 * its caller must keep what it holds reachable (on the VM stack or rooted).
 * All return false with the VM error set on failure (error.h).
 */
#ifndef HARN_SCHED_H
#define HARN_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "value.h"

/* ---- lifetime (called by interp.c) -------------------------------------- */

/* Create / destroy the scheduler of [vm] (interp_init / interp_free). */
void sched_init(Vm *vm);
void sched_free(Vm *vm);
/* Forget every task, mutex and generator fiber of the previous run. */
void sched_reset(Vm *vm);
/* Mark the values held by suspended tasks and the mutex table. */
void sched_mark(Vm *vm);

/* ---- time ------------------------------------------------------------------- */

/* The scheduler's clock in ms: CLOCK_MONOTONIC, or a virtual clock that
 * jumps to the next timer when VmConfig.fake_sleep is set. */
int64_t sched_now(Vm *vm);
/* sched_now() + [ms] (<= 0: now), saturating at INT64_MAX: the instant
 * of every timed wait, safe for any duration a program passes. */
int64_t sched_after(Vm *vm, int64_t ms);
/* Suspend the current task for [ms] (<= 0: just let the ready tasks run).
 * Wakes early for a deadline, a host cancellation (after the in-flight
 * grace of docs/RUNTIME.md 5.4) or a cancel of the task, failing with that
 * error. The sleep builtin (builtins.c) calls this when time is real. */
bool sched_sleep(Vm *vm, int64_t ms);
/* Let the other ready tasks run (a sleep of 0). */
bool sched_yield_now(Vm *vm);

/* ---- tasks (docs/RUNTIME.md 6) ------------------------------------------------ */

/* Queue a task running [closure] (no arguments); *out = its handle. */
bool sched_spawn(Vm *vm, Value closure, Value *out);
/* parallel(n) / parallel each / parallel settle ([mode]: PAR_* of ast.h)
 * over [arg] with the one-parameter [fn] and the `with {...}` [opts] (nil
 * when absent); [as_stream]: the results as a stream. */
bool sched_parallel(Vm *vm, int mode, bool as_stream, Value arg, Value fn, Value opts, Value *out);
/* Is the current task a spawned one (its stdout then goes to its buffer)?
 * True when [data] was buffered. */
bool sched_buffer_output(Vm *vm, const char *data, size_t len);

/* Tasks spawned by the current (or last) run (VmStats.tasks_spawned). */
uint64_t sched_tasks_spawned(Vm *vm);
/* Is there room on the running fiber's C stack for one more level of a
 * recursive algorithm (display, iterator stages...)? Each fiber keeps a
 * margin below the point where this turns false, enough to report an
 * error. The root task's stack is RLIMIT_STACK (at most 8 MiB) measured
 * from where the run started. */
bool sched_stack_ok(Vm *vm);

/* The running task's id (vm_task_<id>; 0 for the root task). */
uint64_t sched_current_id(Vm *vm);
/* builtins.c: release the sync_*_acquire permits task [id] took and still
 * holds (docs/RUNTIME.md 6: a cancelled task's permits are released). */
void sync_release_task_permits(Vm *vm, uint64_t id);

/* Has cancel_graceful asked the running task to stop (is_cancelled())? */
bool sched_task_cancel_flag(Vm *vm);
/* The running task's cancel_graceful countdown (Interp.task_countdown, 1024
 * instructions, docs/RUNTIME.md 5.3 step 6) ran out: cancel its own tasks and
 * throw `kind:cancelled:VM cancelled by host`. Always false. */
bool sched_task_countdown_expired(Vm *vm);

/* ---- deadlines (docs/RUNTIME.md 4) -------------------------------------------- */

/* DeadlineSetup: [dur] is a duration or int ms, else the type error. */
bool sched_deadline_push(Vm *vm, Value dur);
/* Safe-point check of the earliest unfired entry; false with `Deadline
 * exceeded` thrown (and the tasks spawned inside cancelled) when it fired. */
bool sched_check_deadlines(Vm *vm);

/* ---- mutex (docs/RUNTIME.md 6) -------------------------------------------------- */

/* Acquire the mutex of [key] (nil: `__default__`) and record the permit. */
bool sched_mutex_enter(Vm *vm, Value key);
/* Release a permit's mutex (the permit record is already popped). */
void sched_mutex_release(Vm *vm, void *mutex);

/* ---- select (channel.c) ------------------------------------------------ */

/* Wait for the first of [n] channels [chans] holding a value (or closed).
 * [mode]: 0 wait forever, 1 up to [timeout] (duration / int ms), 2 do not
 * wait. *idx = the case, or -1 for the timeout / default case. */
bool sched_select(Vm *vm, Value *chans, int n, int mode, Value timeout, Value *val, int *idx);

/* ---- generators and streams (docs/LANGUAGE.md 14) ----------------------------- */

/* The generator (or stream, fn->is_stream) for a call of [cl] with
 * [argc] arguments [argv]; nothing runs until the first pull. */
bool sched_make_generator(Vm *vm, ObjClosure *cl, int argc, Value *argv, Value *out);
/* `yield v` / `emit v` inside a generator body: hand [v] to the puller and
 * suspend until the next pull. */
bool sched_gen_yield(Vm *vm, Value v);

/* ---- methods on host objects (generator, stream, channel, task, atomic) -- */

/* recv.name(args): 1 handled (*out set), 0 not a method of ours, -1 error. */
int sched_method(Vm *vm, Value recv, ObjString *name, int argc, Value *argv, Value *out);

/* ---- builtins (listed in builtins.c's table) ------------------------------ */

bool sched_bi_await(Vm *vm, int argc, Value *argv, Value *out);
bool sched_bi_cancel(Vm *vm, int argc, Value *argv, Value *out);
bool sched_bi_cancel_graceful(Vm *vm, int argc, Value *argv, Value *out);
bool sched_bi_parallel_race(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_channel_select(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_channel(Vm *vm, int argc, Value *argv, Value *out);
/* Append {channel: NAME, count: N} to [out] for every live channel of [vm]
 * holding undelivered messages (the unsettled snapshot, docs/RUNTIME.md 8.1). */
void chan_backlog(Vm *vm, ObjList *out);
/* Mark every channel of [vm] holding undelivered messages (a GC root, called
 * by gc_collect): such a channel stays pending for the unsettled snapshot
 * even when the program dropped it, so the snapshot does not depend on GC
 * timing. */
void chan_mark_backlog(Vm *vm);
bool chan_bi_send(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_receive(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_try_receive(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_close_channel(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_atomic(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_atomic_get(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_atomic_set(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_atomic_add(Vm *vm, int argc, Value *argv, Value *out);
bool chan_bi_atomic_cas(Vm *vm, int argc, Value *argv, Value *out);

/* ---- services of sched.c used by channel.c --------------------------------- */

typedef struct Task Task;
/* A list of tasks waiting on one object (channel, task, mutex). */
typedef struct WaitList {
  Task **items;
  int n, cap;
} WaitList;
/* Add / remove the current task. */
void sched_wait_add(Vm *vm, WaitList *w);
void sched_wait_remove(Vm *vm, WaitList *w);
/* Make every task of [w] ready (they re-check their condition). */
void sched_wake_all(Vm *vm, WaitList *w);
/* FIFO hand-off (mutex, sync_* primitives, mailboxes): a waiter stays in
 * [w] from its first block to its grant, in arrival order, and only the
 * first may take the resource. sched_wait_is_first: is the current task
 * the first of [w]? sched_wake_first: make the first task of [w] ready
 * (call after a release, and after a waiter left the list). */
bool sched_wait_is_first(Vm *vm, const WaitList *w);
void sched_wake_first(Vm *vm, WaitList *w);
void sched_waitlist_free(WaitList *w);
/* Block the current task until woken or until [until] (sched_now ms, 0 =
 * none): 0 woken, 1 [until] reached, -1 error (deadline, cancellation,
 * deadlock; VM error set). Callers re-check their condition in a loop. */
int sched_block(Vm *vm, int64_t until);
/* Did the current task's last sched_block end because its timer came due
 * (rather than a waker making it ready first)? A waiter that gave up this
 * way must not take a resource that arrived in the same instant: it passes
 * the wake on (sched_wake_first) so a waiter still waiting gets it. */
bool sched_timer_woke(Vm *vm);
/* Register the iteration of channels with iter.c (called by sched_init). */
void chan_register(void);

/* The raw output path (interp.c): no task buffering. */
void vm_write_raw(Vm *vm, int stream, const char *data, size_t len);

#endif
