/*
 * steps.h: `@step` functions (docs/RUNTIME.md 7): registration, open
 * invocations, budgets, error boundaries and records (steps_ prefix).
 *
 * The interpreter calls in only when something is registered
 * (interp->steps != NULL) or an invocation is open (interp->steps_open),
 * so a program without steps pays one test per call and per return.
 * Invocations are tagged with the frame array of the fiber that opened
 * them (each task has its own) and the frame count of their frame, so
 * "the open step invocations of this task" is a filter on that tag.
 */
#ifndef HARN_STEPS_H
#define HARN_STEPS_H

#include <stdbool.h>
#include <stdint.h>

#include "value.h"

/* Builtins (table entries in builtins.c).
 * __step_register(fn, opts): emitted by the compiler after an `@step(...)`
 *   fn declaration; opts is the attribute's argument dict.
 * step_charge({input_tokens, output_tokens, cost_usd}): docs/RUNTIME.md 7.2. */
bool steps_bi_register(Vm *vm, int argc, Value *argv, Value *out);
bool steps_bi_charge(Vm *vm, int argc, Value *argv, Value *out);
/* register_step_hook(step_glob, event, fn): docs/RUNTIME.md 7.6. */
bool steps_bi_register_hook(Vm *vm, int argc, Value *argv, Value *out);

/* vm_call of a hook-type closure (docs/RUNTIME.md 1.4: lifecycle and step
 * hooks, interrupt handlers, on_finish): the running fiber's open step
 * invocations are hidden while it runs, so it charges none of them. Same
 * contract as vm_call. */
bool steps_call_hook(Vm *vm, Value fn, int argc, Value *argv, Value *out);

/* PreStep (7.6), from push_frame before a frame for [cl] is pushed, with
 * the *[argc] arguments on top of the operand stack (interp->sp synced).
 * Runs the matching PreStep hooks; an `args` control rewrites the
 * arguments in place and updates *[argc]. False with the error set (a
 * deny throws the hook_denied dict after a `failed` record). */
bool steps_pre(Vm *vm, ObjClosure *cl, int *argc);

/* Free / forget every definition and invocation (new run, vm_free). */
void steps_reset(Vm *vm);
void steps_free(Vm *vm);
/* Mark the values held by definitions (GC root). */
void steps_mark(Vm *vm);

/* A frame was just pushed for the top frame's function: open an
 * invocation if it is a registered step. */
void steps_on_push(Vm *vm);
/* Is the top frame of the running fiber a step frame? (tail calls never
 * replace one) */
bool steps_top_is_step(Vm *vm);
/* Is [fn] a registered step function? */
bool steps_is_step_fn(Vm *vm, ObjFunction *fn);
/* The top frame (frame count [depth]) returns normally with *[result]
 * (a rooted slot: it stays on the operand stack): if it is a step frame,
 * run the matching PostStep hooks (which may replace *[result]) and
 * record `completed`. False (record `failed`, error set) when a hook
 * failed: the caller raises it at the call site, after popping the
 * frame. */
bool steps_on_return(Vm *vm, int depth, Value *result);
/* Close every invocation of the running fiber deeper than frame count
 * [d] as `failed` (unwinding); the error text comes from the pending error. */
void steps_close_above(Vm *vm, int d);
/* Record every invocation opened by the fiber whose frame array is
 * [fiber] as `failed` with [error] (an abandoned task: "task cancelled"). */
struct Frame;
void steps_close_fiber(Vm *vm, const struct Frame *fiber, const char *error);

/* docs/RUNTIME.md 7.4, called with the error pending before the catch at a
 * handler record of frame count [hdepth] (-1: no record in this run;
 * [target]: the running loop's target depth). Returns 0 to go on with
 * normal handling (the pending error may have been rewritten), or 1 for a
 * `continue` boundary: *[step_depth] is the step frame's frame count; the
 * caller unwinds up to and including it and pushes nil. */
int steps_boundary(Vm *vm, int hdepth, int target, int *step_depth);

/* Budget checks at counting points (max_instructions, max_ms): false with
 * the exhaustion error set. Called when interp->instructions reaches
 * interp->step_check_at. */
bool steps_check(Vm *vm);

/* The earliest instant (sched_now ms) at which an open step of the running
 * task exceeds its max_ms, or 0 when none has one: blocking operations wake
 * then and call steps_check (docs/RUNTIME.md 7.2: max_ms also by timer). */
int64_t steps_wake_at(Vm *vm);

/* Number of records made in this run. */
uint64_t steps_recorded(Vm *vm);

#endif
