/*
 * interp.c: the bytecode interpreter (interp_), its calls, errors and
 * safe points, and the services builtins use (vm_call, vm_write...).
 *
 * Design
 * ------
 * Stack machine over the Values of value.h. One operand stack per fiber
 * (the root's: INTERP_STACK_VALUES, plain malloc; tasks and generators get
 * their own from sched.c), never moved, so pointers into it such as a
 * builtin's argv stay valid while the builtin calls back into the VM or
 * blocks.
 * A frame's callee sits at slots[-1], its slots[0 .. nlocals) hold the
 * parameters then the other locals, and its operands follow. The compiler
 * guarantees at most INTERP_MAX_OPERANDS operands per frame, so a call only
 * checks `sp + nlocals + INTERP_MAX_OPERANDS <= stack_end`.
 *
 * Dispatch is written with DISPATCH()/CASE()/NEXT() and builds either as a
 * computed-goto table (VM_COMPUTED_GOTO) or as a switch. The hot registers
 * (ip, sp, slots, consts) are locals of run(), written back (SYNC) before
 * anything that may call back into the VM or raise.
 *
 * Calls (docs/RUNTIME.md 1.2): CALL n finds the callee below its n arguments.
 * Every frame entry stores its frame with frame_push (or frame_set, for
 * TAIL_CALL's reuse of the frame), inlined, so the frame layout is
 * written in one place.
 * A closure gets a new frame (missing arguments are nil, extras are dropped,
 * a rest parameter collects the surplus; defaults are computed by the
 * callee's prologue from frame->argc). Builtins run at once on argv inside
 * the stack. `return f(x)` compiles to TAIL_CALL, which reuses the frame.
 * At most INTERP_MAX_FRAMES frames are live (callback frames included).
 * The common case runs inline in the dispatch loop: CALL / TAIL_CALL of a
 * closure whose function is `plain` (compiler-set: no rest parameter, not
 * a generator or stream, no typed parameter) with argc == nparams, while
 * no step is registered, stores the frame, nil-fills the other locals and
 * keeps ip/sp/slots in registers; RETURN pops inline when no step,
 * deadline, permit or handler record belongs to the frame. Everything else
 * (and the frame/stack limits, whose errors push_frame raises) takes the
 * out-of-line path. INVOKE of a struct method found at the site's cached
 * position takes the same inline path (the receiver becomes argument 0),
 * and vm_call pushes a plain closure's frame itself (no call_value, no
 * call_impl when no slow poll is due). A FOR
 * over a range keeps two ints in its hidden slots (next value, items left)
 * instead of the range.
 *
 * Operand forms: the compiler fuses hot sequences (a local or number
 * literal operand of + - * / %, compare-and-branch conditions, `i += k`,
 * `local.name` (GET_PROP_L), the `NIL; POP` ending an if statement whose
 * branch exits (NIL_POP)) into single instructions; see "operand forms"
 * below. In counting mode each counts as the instructions it replaces.
 *
 * Callbacks (docs/RUNTIME.md 1.4): vm_call pushes the callee and arguments,
 * hides the caller's handler records (handler_base), and runs a nested
 * dispatch loop until the frame count is back to where it started. An
 * error that escapes has already unwound to that depth; vm_call returns
 * false with it pending, and the builtin that called it fails with it.
 *
 * Errors (docs/RUNTIME.md 2.2, 3.3): every failure goes to the `throw_error`
 * label: capture the trace if it is empty (every live frame, outermost
 * first, line/col of the instruction at ip-1), then search the handler
 * records above handler_base from the top. A typed record catches only a
 * thrown enum variant of its enum (handler_catches, also used by the step
 * boundary's search); records skipped are discarded. A catch
 * restores the frame count and operand height recorded by SETUP_TRY
 * (locals live in slots, iterator state in hidden slots, so that is all the
 * state there is), pushes err_caught_value() and jumps to the catch ip.
 * Uncatchable kinds (err_catchable) skip every record. Without a record the
 * loop unwinds to its target depth and returns false.
 *
 * Safe points (docs/RUNTIME.md 1.5): backward jumps, calls and returns test
 * `attention | heap.gc_pending`; only when set does the slow poll run: it
 * collects garbage, turns heap.over_limit into the uncatchable memory
 * error, records a host interrupt (vm_interrupt) and starts the 1024
 * instruction countdown of docs/RUNTIME.md 5.3 step 6. Counting mode (an
 * instruction limit or a countdown) switches the computed-goto loop to a
 * second label table whose entries all run the counting stub first; the
 * table is chosen at safe points (the switch build tests a flag instead).
 *
 * Copy-on-write (value.h, Obj.owned): GET_LOCAL and CLOSURE clear the
 * `owned` flag of what they read from a slot (val_share); GET_LOCAL_BORROW
 * does not, and SET_INDEX_OWN / SET_PROP_OWN / PUSH_OWN update an owned
 * receiver in place. Any new instruction that copies a slot's value
 * somewhere that outlives the instruction must call val_share.
 *
 * Tasks, generators, deadlines, mutexes (sched.c): struct Interp holds the
 * state of the fiber that runs (ExecState of interp.h: stack, frames,
 * handler records, deadline entries, permits); sched.c saves and loads it
 * when it switches fibers, so this loop never knows which task it runs.
 * The blocking instructions (PARALLEL, MUTEX_ENTER, SELECT, YIELD) and
 * blocking builtins (await, sleep, receive...) may switch; the locals of
 * run() stay valid because each fiber has its own stack and frames. A
 * deadline entry or permit is dropped when its frame pops (RETURN, error
 * unwinding, vm_call's unwind) and when a catch cuts below the heights its
 * handler record saved (docs/RUNTIME.md 4, 6). While a deadline is active,
 * interp_update_modes arms one process-wide one-shot POSIX timer
 * (CLOCK_MONOTONIC, absolute, signal INTERP_TIMER_SIGNAL) for the earliest
 * unfired deadline of the running fiber; its handler only sets ATTN_TIMER
 * in the owning VM's attention word, so a far-away deadline costs nothing
 * at safe points (docs/RUNTIME.md 1.5). The word keeps ATTN_TIMER (safe points
 * read the clock, the "simpler alternative") when the instant has passed,
 * under fake_sleep (virtual time), when the timer cannot be created, or
 * when another live VM of the process owns the timer. Calling a generator function
 * builds a generator (call_value) instead of pushing a frame.
 *
 * Interrupt handlers (on_interrupt, interrupts.c) are dispatched from
 * slow_poll() on the root task right after a host signal is recorded
 * (lc_interrupt_poll), which may clear cancel_requested and the countdown.
 *
 * Steps (docs/RUNTIME.md 7, steps.c): push_frame opens an invocation when the
 * callee is a registered step (tested only while interp->steps exists);
 * RETURN records it `completed`; handle_error applies the error boundary
 * before the catch (a `continue` boundary resumes in the step's caller
 * with nil) and closes the unwound invocations `failed`. While one is
 * open, counting mode is on and count_instruction runs steps_check when
 * the instruction count reaches step_check_at (max_instructions, max_ms).
 * TAIL_CALL never replaces a step frame nor calls a step function (its
 * PreStep hooks run before the frame exists). push_frame runs the PreStep
 * hooks (steps_pre); RETURN runs the PostStep hooks with the value still
 * on the stack, and a PostStep failure is raised after the pop, at the
 * call site.
 */
#include "interp.h"
#include "host_fs.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "lifecycle.h"
#include "methods.h"
#include "object.h"
#include "sched.h"
#include "state.h"
#include "steps.h"
#include "typecheck.h"

#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- opcode tables (ORDER OP: generated from opcodes.def) ------------- */

const char *const interp_op_names[NUM_OPS] = {
#define OP(name, bytes, effect, meaning) #name,
#include "opcodes.def"
#undef OP
};

const uint8_t interp_op_operands[NUM_OPS] = {
#define OP(name, bytes, effect, meaning) bytes,
#include "opcodes.def"
#undef OP
};

const int8_t interp_op_effects[NUM_OPS] = {
#define OP(name, bytes, effect, meaning) effect,
#include "opcodes.def"
#undef OP
};

/* ---- state ---------------------------------------------------------------- */

void interp_init(Vm *vm)
{
  Interp *in = calloc(1, sizeof(Interp));
  if (!in) abort();
  in->stack = malloc(sizeof(Value) * INTERP_STACK_VALUES);
  if (!in->stack) abort();
  in->sp = in->stack;
  in->stack_end = in->stack + INTERP_STACK_VALUES;
  in->frames = malloc(sizeof(Frame) * INTERP_MAX_FRAMES);
  if (!in->frames) abort();
  in->main_closure = NIL_VAL;
  in->input = NIL_VAL;
  in->result = NIL_VAL;
  in->step_check_at = UINT64_MAX;
  vm->interp = in;
  sched_init(vm);
}

static void trace_clear(Interp *in)
{
  for (int i = 0; i < in->ntrace; i++) {
    free((char *)in->trace[i].fn);
    free((char *)in->trace[i].file);
  }
  in->ntrace = 0;
}

static void deadline_timer_release(Interp *in);

void interp_free(Vm *vm)
{
  Interp *in = vm->interp;
  if (!in) return;
  deadline_timer_release(in);
  sched_free(vm);
  steps_free(vm);
  trace_clear(in);
  free(in->trace);
  free(in->frames);
  free(in->deadlines);
  free(in->permits);
  free(in->stack);
  free(in->handlers);
  free(in->globals);
  free(in->gindex);
  free(in);
  vm->interp = NULL;
}

void interp_reset(Vm *vm)
{
  Interp *in = vm->interp;
  sched_reset(vm);
  steps_reset(vm);
  in->ndeadlines = 0;
  in->npermits = 0;
  in->cancel_seen_ms = 0;
  in->sp = in->stack;
  in->nframes = 0;
  in->peak_frames = 0;
  in->nhandlers = 0;
  in->handler_base = 0;
  in->nglobals = 0;
  if (in->gindex) memset(in->gindex, 0, sizeof(int) * (size_t)in->gindexcap);
  in->main_closure = NIL_VAL;
  in->input = NIL_VAL;
  in->result = NIL_VAL;
  in->has_result = false;
  trace_clear(in);
  /* A host signal that arrived before the run started (vm_interrupt between
   * vm_new and vm_run_*) stays pending: it is consumed only by the slow poll,
   * which moves it to first_signal. */
  in->first_signal = 0;
  in->cancel_requested = false;
  in->cancelled = false;
  in->countdown = 0;
  in->task_countdown = 0;
  in->hard_stop_at = 0;
  in->hard_stopped = false;
  in->instructions = 0;
  in->slow_polls = 0;
  interp_update_modes(vm);
}

/* ---- the deadline timer (docs/RUNTIME.md 1.5) ------------------------------------- */

#define INTERP_TIMER_SIGNAL (SIGRTMIN + 2)

/* The one process-wide timer. It is process-wide on purpose, not per VM:
 * its signal and handler belong to the process, and a timer signal may
 * still be queued after the VM that armed it is freed (a process-directed
 * signal can reach another thread late), so the handler must find its VM
 * through a pointer that release clears first, never through a pointer
 * carried by the signal. One VM at a time owns it; another VM with a
 * deadline meanwhile reads the clock at its safe points (correct, only
 * not free). */
static struct {
  timer_t id;
  int state;                /* 0 untried, 1 ready, -1 unavailable */
  Interp *volatile owner;   /* the VM whose word the handler sets */
  int64_t armed_at;         /* monotonic ms armed, -1 = none */
} dtimer = {.armed_at = -1};

/* Set [bit] in the attention word in one read-modify-write instruction, so
 * that a signal handler interrupting this thread (which sets its own bit
 * the same way) loses nothing and is lost by nobody. */
static inline void attn_set(Interp *in, int bit)
{
  __atomic_fetch_or(&in->attention, bit, __ATOMIC_RELAXED);
}

static void deadline_timer_fired(int signo, siginfo_t *si, void *uc)
{
  (void)signo, (void)si, (void)uc;
  Interp *in = dtimer.owner;
  if (in) attn_set(in, ATTN_TIMER);
}

static void deadline_timer_release(Interp *in)
{
  if (dtimer.owner != in) return;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  timer_settime(dtimer.id, 0, &its, NULL);
  dtimer.owner = NULL;
  dtimer.armed_at = -1;
}

/* Arm the timer for the earliest unfired deadline of the running fiber.
 * False when safe points must read the clock instead (see the top). */
static bool deadline_timer_arm(Vm *vm)
{
  Interp *in = vm->interp;
  if (vm->cfg.fake_sleep) return false;
  int64_t at = -1;
  for (int i = 0; i < in->ndeadlines; i++)
    if (!in->deadlines[i].fired && (at < 0 || in->deadlines[i].at < at)) at = in->deadlines[i].at;
  if (at < 0) return true;
  if (sched_now(vm) >= at) return false;
  if (dtimer.owner && dtimer.owner != in) return false;
  if (dtimer.state == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = deadline_timer_fired;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = INTERP_TIMER_SIGNAL;
    dtimer.state =
        sigaction(INTERP_TIMER_SIGNAL, &sa, NULL) == 0 && timer_create(CLOCK_MONOTONIC, &sev, &dtimer.id) == 0
            ? 1
            : -1;
  }
  if (dtimer.state < 0) return false;
  dtimer.owner = in;
  if (dtimer.armed_at == at) return true;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = at / 1000;
  its.it_value.tv_nsec = (at % 1000) * 1000000;
  if (timer_settime(dtimer.id, TIMER_ABSTIME, &its, NULL) != 0) {
    dtimer.armed_at = -1;
    return false;
  }
  dtimer.armed_at = at;
  /* the instant may have passed while arming */
  return sched_now(vm) < at;
}

void interp_update_modes(Vm *vm)
{
  Interp *in = vm->interp;
#ifdef VM_GC_STRESS
  vm->heap.stress = true;
#endif
  if (vm->cfg.gc_stress) vm->heap.stress = true;
  vm->heap.limit = vm->cfg.memory_limit;
  in->counting = vm->cfg.max_instructions != 0 || in->countdown > 0 || in->task_countdown > 0 ||
                in->steps_open > 0;
  /* an armed hard stop keeps every safe point on the slow path, which reads
   * the clock: this costs only during the grace before the kill */
  bool modes = vm->heap.stress || vm->heap.limit != 0 || in->counting ||
               (in->hard_stop_at != 0 && !in->hard_stopped) || lc_wants_poll(vm);
  in->attention = modes ? ATTN_MODES : 0;
  /* store first, then read sig_pending (vm_interrupt sets it before its
   * bit): a signal that came before the store, whose bit the store dropped,
   * is seen here; one after it sets its bit in the stored word. A signal
   * kept pending across interp_reset is seen the same way. */
  if (in->sig_pending) attn_set(in, ATTN_SIGNAL);
  /* store first, then arm: a timer firing from here on sets its bit in
   * the stored word; one that fired before is seen by the clock check */
  if (in->ndeadlines && !deadline_timer_arm(vm)) attn_set(in, ATTN_TIMER);
}

/* ---- per-fiber state (sched.c switches fibers with these) ------------------ */

void interp_state_save(Vm *vm, ExecState *st)
{
  Interp *in = vm->interp;
  st->stack = in->stack;
  st->sp = in->sp;
  st->stack_end = in->stack_end;
  st->frames = in->frames;
  st->nframes = in->nframes;
  st->handlers = in->handlers;
  st->nhandlers = in->nhandlers;
  st->handlercap = in->handlercap;
  st->handler_base = in->handler_base;
  st->deadlines = in->deadlines;
  st->ndeadlines = in->ndeadlines;
  st->deadlinecap = in->deadlinecap;
  st->permits = in->permits;
  st->npermits = in->npermits;
  st->permitcap = in->permitcap;
  int n = vm->heap.ntemp;
  if (n > st->trootcap) {
    st->trootcap = n;
    st->troots = realloc(st->troots, sizeof(Value) * (size_t)n);
    if (!st->troots) abort();
  }
  if (n) memcpy(st->troots, vm->heap.temp_roots, sizeof(Value) * (size_t)n);
  st->ntroots = n;
}

void interp_state_load(Vm *vm, const ExecState *st)
{
  Interp *in = vm->interp;
  in->stack = st->stack;
  in->sp = st->sp;
  in->stack_end = st->stack_end;
  in->frames = st->frames;
  in->nframes = st->nframes;
  in->handlers = st->handlers;
  in->nhandlers = st->nhandlers;
  in->handlercap = st->handlercap;
  in->handler_base = st->handler_base;
  in->deadlines = st->deadlines;
  in->ndeadlines = st->ndeadlines;
  in->deadlinecap = st->deadlinecap;
  in->permits = st->permits;
  in->npermits = st->npermits;
  in->permitcap = st->permitcap;
  if (st->ntroots) memcpy(vm->heap.temp_roots, st->troots, sizeof(Value) * (size_t)st->ntroots);
  vm->heap.ntemp = st->ntroots;
}

/* Mark what a fiber's operand stack, frames and handler records hold: the
 * one marking of a fiber, for the running one (vm_mark_roots) and for the
 * saved ones (interp_state_mark). */
static void mark_fiber(Vm *vm, const Value *stack, const Value *sp, const Frame *frames, int nframes,
                       const Handler *handlers, int nhandlers)
{
  for (const Value *v = stack; v && v < sp; v++) gc_mark_value(vm, *v);
  for (int i = 0; i < nframes; i++) gc_mark_obj(vm, (Obj *)frames[i].closure);
  for (int i = 0; i < nhandlers; i++) gc_mark_obj(vm, (Obj *)handlers[i].type);
}

void interp_state_mark(Vm *vm, const ExecState *st)
{
  mark_fiber(vm, st->stack, st->sp, st->frames, st->nframes, st->handlers, st->nhandlers);
  for (int i = 0; i < st->ntroots; i++) gc_mark_value(vm, st->troots[i]);
}

void interp_scope_cut(Vm *vm, int d)
{
  Interp *in = vm->interp;
  bool had = in->ndeadlines != 0;
  while (in->ndeadlines > 0 && in->deadlines[in->ndeadlines - 1].depth > d) in->ndeadlines--;
  while (in->npermits > 0 && in->permits[in->npermits - 1].depth > d)
    sched_mutex_release(vm, in->permits[--in->npermits].mutex);
  if (had && !in->ndeadlines) interp_update_modes(vm);
}

/* Cut the deadline and permit stacks back to the heights [nd] / [np]. */
static void scope_cut_to(Vm *vm, int nd, int np)
{
  Interp *in = vm->interp;
  bool had = in->ndeadlines != 0;
  if (in->ndeadlines > nd) in->ndeadlines = nd;
  while (in->npermits > np) sched_mutex_release(vm, in->permits[--in->npermits].mutex);
  if (had && !in->ndeadlines) interp_update_modes(vm);
}

bool interp_is_cancelled(Vm *vm)
{
  /* the host's (sticky) cancellation, or cancel_graceful of this task */
  return vm->interp && (vm->interp->cancelled || sched_task_cancel_flag(vm));
}

/* ---- globals --------------------------------------------------------------- */

static uint32_t hash_name(const char *s, size_t len)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)s[i];
    h *= 16777619u;
  }
  return h;
}

static void gindex_insert(Interp *in, int g)
{
  ObjString *name = in->globals[g].name;
  uint32_t mask = (uint32_t)in->gindexcap - 1;
  uint32_t i = hash_name(name->chars, name->len) & mask;
  while (in->gindex[i]) i = (i + 1) & mask;
  in->gindex[i] = g + 1;
}

int interp_global_index(Vm *vm, const char *name, size_t len)
{
  Interp *in = vm->interp;
  if (in->gindexcap) {
    uint32_t mask = (uint32_t)in->gindexcap - 1;
    uint32_t i = hash_name(name, len) & mask;
    while (in->gindex[i]) {
      Global *gl = &in->globals[in->gindex[i] - 1];
      if (gl->name->len == len && memcmp(gl->name->chars, name, len) == 0) return in->gindex[i] - 1;
      i = (i + 1) & mask;
    }
  }
  if (in->nglobals >= in->globalcap) {
    in->globalcap = in->globalcap ? in->globalcap * 2 : 64;
    in->globals = realloc(in->globals, sizeof(Global) * (size_t)in->globalcap);
    if (!in->globals) abort();
  }
  int g = in->nglobals++;
  Global *gl = &in->globals[g];
  gl->name = str_new(vm, name, len);
  gl->value = NIL_VAL;
  gl->defined = false;
  gl->mutable_ = false;
  gl->is_let = false;
  gl->builtin = builtin_lookup(gl->name->chars);
  if ((in->nglobals) * 2 > in->gindexcap) {
    free(in->gindex);
    in->gindexcap = in->gindexcap ? in->gindexcap * 2 : 128;
    in->gindex = calloc((size_t)in->gindexcap, sizeof(int));
    if (!in->gindex) abort();
    for (int i = 0; i < in->nglobals; i++) gindex_insert(in, i);
  } else {
    gindex_insert(in, g);
  }
  return g;
}

/* ---- GC roots ---------------------------------------------------------------- */

void vm_mark_roots(Vm *vm)
{
  Interp *in = vm->interp;
  if (!in) return;
  mark_fiber(vm, in->stack, in->sp, in->frames, in->nframes, in->handlers, in->nhandlers);
  for (int i = 0; i < in->nglobals; i++) {
    gc_mark_obj(vm, (Obj *)in->globals[i].name);
    gc_mark_value(vm, in->globals[i].value);
  }
  sched_mark(vm);
  lc_mark(vm);
  steps_mark(vm);
  gc_mark_value(vm, in->main_closure);
  gc_mark_value(vm, in->input);
  gc_mark_value(vm, in->result);
  gc_mark_value(vm, vm->err_value);
}

/* ---- source positions and traces ------------------------------------------- */

int interp_line_at(const ObjFunction *fn, long off)
{
  if (!fn->chunk.lines || off < 0 || off >= (long)fn->chunk.count) return 0;
  return fn->chunk.lines[off];
}

static int col_at(const ObjFunction *fn, long off)
{
  if (!fn->chunk.cols || off < 0 || off >= (long)fn->chunk.count) return 0;
  return fn->chunk.cols[off];
}

static char *dupstr(const char *s)
{
  char *p = strdup(s ? s : "");
  if (!p) abort();
  return p;
}

/* Record every live frame (outermost first) as the trace of the error. */
static void capture_trace(Vm *vm)
{
  Interp *in = vm->interp;
  trace_clear(in);
  if (in->nframes > in->tracecap) {
    in->tracecap = in->nframes;
    in->trace = realloc(in->trace, sizeof(TraceEntry) * (size_t)in->tracecap);
    if (!in->trace) abort();
  }
  for (int i = 0; i < in->nframes; i++) {
    Frame *f = &in->frames[i];
    long off = (long)(f->ip - f->fn->chunk.code) - 1;
    TraceEntry *t = &in->trace[in->ntrace++];
    t->fn = dupstr(f->fn->name ? f->fn->name->chars : "");
    t->file = dupstr(f->fn->file ? f->fn->file->chars : "");
    t->line = interp_line_at(f->fn, off);
    t->col = col_at(f->fn, off);
  }
}

int vm_trace(Vm *vm, const struct TraceEntry **out)
{
  Interp *in = vm->interp;
  *out = in->trace;
  return in->ntrace;
}

/* A `continue` step boundary (docs/RUNTIME.md 7.4): unwind every frame up to
 * and including the step frame at frame count [sd], put nil in place of
 * the step call and clear the error. */
static void step_continue(Vm *vm, int sd)
{
  Interp *in = vm->interp;
  Value *base = in->frames[sd - 1].slots - 1;
  int d = sd - 1;
  steps_close_above(vm, d);
  while (in->nhandlers > in->handler_base && in->handlers[in->nhandlers - 1].depth > d) in->nhandlers--;
  in->nframes = d;
  if (in->ndeadlines | in->npermits) interp_scope_cut(vm, d);
  in->sp = base;
  *in->sp++ = NIL_VAL;
  trace_clear(in);
  err_clear(vm);
}

/* Does handler record [h] catch the pending error of [kind]? An untyped
 * record catches every catchable error; a typed one only a thrown enum
 * variant of its enum (docs/RUNTIME.md 2.2). The caller has checked
 * err_catchable(kind). */
static ALWAYS_INLINE bool handler_catches(const Vm *vm, const Handler *h, ErrKind kind)
{
  if (!h->type) return true;
  Value v = vm->err_value;
  return kind == ERR_THROWN && IS_ENUM(v) && AS_ENUM(v)->enum_name && str_eq(AS_ENUM(v)->enum_name, h->type);
}

enum { HANDLED_UNCAUGHT = 0, HANDLED_CATCH = 1, HANDLED_RETURN = 2 };

/* Raise the pending error: catch it at the innermost matching handler
 * record above handler_base (HANDLED_CATCH: execution continues at its
 * catch ip), or unwind to [target] frames (HANDLED_UNCAUGHT). A `continue`
 * step boundary resumes in the step's caller (HANDLED_CATCH), or, when
 * that is the target depth, returns nil from the loop (HANDLED_RETURN). */
static int handle_error(Vm *vm, int target)
{
  Interp *in = vm->interp;
  if (in->ntrace == 0) capture_trace(vm);
  ErrKind kind = vm->err_kind;
  if (UNLIKELY(in->steps_open) && err_catchable(kind)) {
    /* docs/RUNTIME.md 2.2 step 3: the boundary applies before the catch */
    int hd = -1;
    for (int i = in->nhandlers - 1; i >= in->handler_base && hd < 0; i--)
      if (handler_catches(vm, &in->handlers[i], kind)) hd = in->handlers[i].depth;
    int sd;
    if (steps_boundary(vm, hd, target, &sd)) {
      step_continue(vm, sd);
      return in->nframes <= target ? HANDLED_RETURN : HANDLED_CATCH;
    }
  }
  if (err_catchable(kind)) {
    for (int i = in->nhandlers - 1; i >= in->handler_base; i--) {
      Handler *h = &in->handlers[i];
      if (!handler_catches(vm, h, kind)) continue;
      if (UNLIKELY(in->steps_open)) steps_close_above(vm, h->depth);
      Value caught = err_caught_value(vm);
      if (UNLIKELY(in->ndeadlines > h->ndeadlines || in->npermits > h->npermits))
        scope_cut_to(vm, h->ndeadlines, h->npermits);
      in->nframes = h->depth;
      in->sp = in->stack + h->sp;
      *in->sp++ = caught;
      in->frames[in->nframes - 1].ip = h->catch_ip;
      in->nhandlers = i;
      trace_clear(in);
      err_clear(vm);
      return HANDLED_CATCH;
    }
  }
  in->nhandlers = in->handler_base;
  if (UNLIKELY(in->steps_open)) steps_close_above(vm, target);
  if (in->nframes > target) in->nframes = target;
  if (UNLIKELY(in->ndeadlines | in->npermits)) interp_scope_cut(vm, in->nframes);
  return HANDLED_UNCAUGHT;
}

/* ---- safe points -------------------------------------------------------------- */

/* The slow poll: something is pending (attention set or GC due). Returns
 * false with an error set when the script must stop here. */
static bool slow_poll(Vm *vm)
{
  Interp *in = vm->interp;
  in->slow_polls++;
  /* clear first, then read the flags, so a signal arriving meanwhile
   * re-arms the word for the next safe point */
  in->attention = 0;
  /* docs/RUNTIME.md 5.3 step 1 / 5.6: the hard stop abandons the run here: an
   * uncatchable error, so no catch, finally or handler runs again */
  if (in->hard_stop_at && (in->hard_stopped || sched_now(vm) >= in->hard_stop_at))
    return interp_hard_stop(vm);
  if (vm->heap.gc_pending || vm->heap.stress) gc_collect(vm);
  if (vm->heap.over_limit) {
    /* one emergency collection: fail only if live data is over the limit
     * (or an allocation could not be honoured at all: gc.h, doomed) */
    gc_collect(vm);
    if (!vm->heap.doomed && (vm->heap.limit == 0 || vm->heap.bytes <= vm->heap.limit)) {
      vm->heap.over_limit = false;
    } else {
      interp_update_modes(vm);
      return err_memory(vm);
    }
  }
  int sig = in->sig_pending;
  if (sig) {
    in->sig_pending = 0;
    if (!in->first_signal) in->first_signal = sig;
    /* docs/RUNTIME.md 5.1: a host cancellation request; the on_interrupt
     * handlers (lc_interrupt_poll below) may clear cancel_requested. */
    in->cancelled = true;
    if (!in->cancel_requested) {
      in->cancel_requested = true;
      in->cancel_seen_ms = sched_now(vm);
      /* the host kills us grace_ms after its signal (the supervisor's
       * SIGKILL of the group, or `harn run --inline`'s own exit 137):
       * stop on our own 25 ms before that (docs/RUNTIME.md 5.6) */
      if (vm->cfg.job.grace_ms > 0 && !in->hard_stop_at) {
        int64_t g = (int64_t)vm->cfg.job.grace_ms - INTERP_FINAL_RESERVE_MS;
        in->hard_stop_at = in->cancel_seen_ms + (g > 0 ? g : 0);
      }
      /* docs/RUNTIME.md 5.3 step 6: exactly 1024 more instructions run; the
       * hook decrements before each, so the 1025th finds it at zero */
      in->countdown = INTERP_COUNTDOWN + 1;
    }
  }
  interp_update_modes(vm);
  /* docs/RUNTIME.md 5.3 steps 4-5: handler dispatch, handler deadline
   * (interrupts.c; handlers run on the root task only) */
  if (!lc_interrupt_poll(vm, sig)) return false;
  /* docs/RUNTIME.md 5.3 step 7: the earliest unfired deadline */
  if (in->ndeadlines && !sched_check_deadlines(vm)) return false;
  return true;
}

bool interp_hard_stop(Vm *vm)
{
  Interp *in = vm->interp;
  in->hard_stopped = true;
  return err_limit(vm, "kind:cancelled:VM cancelled by host");
}

bool interp_safe_point(Vm *vm)
{
  Interp *in = vm->interp;
  if (in->attention | vm->heap.gc_pending) return slow_poll(vm);
  return true;
}

void interp_clear_trace(Vm *vm) { trace_clear(vm->interp); }

/* Per-instruction hook of counting mode; false with an error set when the
 * instruction must not run. */
static bool count_instruction(Vm *vm)
{
  Interp *in = vm->interp;
  in->instructions++;
  if (vm->cfg.max_instructions && in->instructions > vm->cfg.max_instructions)
    return err_limit(vm, NULL);
  /* step budgets (docs/RUNTIME.md 7.2): max_instructions / max_ms */
  if (UNLIKELY(in->instructions >= in->step_check_at) && !steps_check(vm)) return false;
  if (in->countdown > 0 && --in->countdown == 0) {
    /* the grace is over: in place of this instruction, cancel (fires once) */
    in->cancel_requested = false;
    interp_update_modes(vm);
    return err_throw_str(vm, "kind:cancelled:VM cancelled by host");
  }
  /* the same countdown for a task asked to stop by cancel_graceful */
  if (in->task_countdown > 0 && --in->task_countdown == 0) {
    interp_update_modes(vm);
    return sched_task_countdown_expired(vm);
  }
  return true;
}

void vm_interrupt(Vm *vm, int signo)
{
  /* async-signal-safe: a store and a lock-free atomic or */
  Interp *in = vm->interp;
  if (!in) return;
  if (!in->sig_pending) in->sig_pending = signo ? signo : 15;
  attn_set(in, ATTN_SIGNAL);
  /* a scheduler blocked waiting (sched.c) wakes because the signal
   * interrupts its poll(), or at its next bounded wait slice */
}

bool vm_was_interrupted(Vm *vm, int *signo)
{
  Interp *in = vm->interp;
  if (signo) *signo = in->first_signal;
  return in->first_signal != 0;
}

/* ---- calls ----------------------------------------------------------------------- */

enum { CALL_ERROR = 0, CALL_VALUE = 1, CALL_FRAME = 2 };

/* Make [f] the activation of [cl] whose slot 0 is [slots], with [argc]
 * arguments passed, starting at the first instruction. */
static ALWAYS_INLINE void frame_set(Frame *f, ObjClosure *cl, Value *slots, int argc)
{
  ObjFunction *fn = cl->fn;
  f->closure = cl;
  f->fn = fn;
  f->ip = fn->chunk.code;
  f->slots = slots;
  f->argc = argc;
}

/* Push the frame of [cl] (see frame_set) and keep peak_frames. The caller
 * has checked nframes < INTERP_MAX_FRAMES and the operand room, and has
 * stored the caller frame's ip. Every frame entry goes through here (or
 * frame_set for TAIL_CALL's reuse), so it compiles to the same stores the
 * hand-written copies did. */
static ALWAYS_INLINE Frame *frame_push(Interp *in, ObjClosure *cl, Value *slots, int argc)
{
  Frame *f = &in->frames[in->nframes++];
  if (in->nframes > in->peak_frames) in->peak_frames = in->nframes;
  frame_set(f, cl, slots, argc);
  return f;
}

/* Push a frame for [cl] whose [argc] arguments are the top of the stack
 * (the callee right below them). */
static bool push_frame(Vm *vm, ObjClosure *cl, int argc)
{
  Interp *in = vm->interp;
  ObjFunction *fn = cl->fn;
  if (in->nframes >= INTERP_MAX_FRAMES) return err_stack_overflow(vm);
  /* docs/RUNTIME.md 7.6: PreStep hooks see (and may rewrite) the arguments */
  if (UNLIKELY(in->steps != NULL) && !steps_pre(vm, cl, &argc)) return false;
  Value *args = in->sp - argc;
  if (args + fn->nlocals + argc + INTERP_MAX_OPERANDS >= in->stack_end) return err_stack_overflow(vm);
  int np = fn->nparams;
  if (fn->has_rest && np > 0) {
    int fixed = np - 1;
    ObjList *rest = list_new(vm, argc > fixed ? (uint32_t)(argc - fixed) : 0);
    for (int i = fixed; i < argc; i++) list_push(vm, rest, args[i]);
    for (int i = argc; i < fixed; i++) args[i] = NIL_VAL;
    args[fixed] = OBJ_VAL(rest);
  } else {
    for (int i = argc; i < np; i++) args[i] = NIL_VAL;
  }
  /* typed parameters (docs/LANGUAGE.md 8.5, typecheck.c): NULL unless typed */
  if (UNLIKELY(fn->param_types != NULL) && !tc_check_params(vm, fn, args, argc)) return false;
  Value *sp = args + np;
  for (int i = np; i < fn->nlocals; i++) *sp++ = NIL_VAL;
  in->sp = sp;
  frame_push(in, cl, args, argc);
  /* docs/RUNTIME.md 1.2 step 5: a step frame opens an invocation */
  if (UNLIKELY(in->steps != NULL)) steps_on_push(vm);
  return true;
}

/* Put [v] in place of the callee and its [argc] arguments. */
static int call_result(Interp *in, int argc, Value v)
{
  Value *base = in->sp - argc - 1;
  *base = v;
  in->sp = base + 1;
  return CALL_VALUE;
}

static int invoke_method(Vm *vm, ObjString *name, int argc);

/* Insert [first] as the first argument of the call at the top of the
 * stack and make [callee] the callee. */
static void insert_arg(Interp *in, int argc, Value callee, Value first)
{
  Value *base = in->sp - argc - 1;
  memmove(base + 2, base + 1, sizeof(Value) * (size_t)argc);
  base[0] = callee;
  base[1] = first;
  in->sp++;
}

/* Call the value below the top [argc] values. Returns CALL_VALUE (result
 * in place of the callee), CALL_FRAME (a frame was pushed) or CALL_ERROR. */
static int call_value(Vm *vm, int argc)
{
  Interp *in = vm->interp;
  Value *base = in->sp - argc - 1;
  Value callee = *base;
  if (IS_CLOSURE(callee)) {
    ObjFunction *fn = AS_CLOSURE(callee)->fn;
    if (UNLIKELY(fn->is_generator || fn->is_stream)) {
      /* docs/LANGUAGE.md 14: calling a generator function pushes no frame */
      Value g;
      if (!sched_make_generator(vm, AS_CLOSURE(callee), argc, base + 1, &g)) return CALL_ERROR;
      return call_result(in, argc, g);
    }
    return push_frame(vm, AS_CLOSURE(callee), argc) ? CALL_FRAME : CALL_ERROR;
  }
  if (IS_BUILTIN(callee)) {
    int idx = (int)AS_INT(callee);
    if (idx < 0 || idx >= builtin_count) return err_type(vm, "Cannot call <builtin>");
    if (vm->denied && vm->denied[idx]) {
      hostfs_denied(vm, idx);
      return CALL_ERROR;
    }
    Value out = NIL_VAL;
    if (!builtin_table[idx].fn(vm, argc, base + 1, &out)) return CALL_ERROR;
    return call_result(in, argc, out);
  }
  if (IS_OBJ(callee)) {
    switch (OBJ_TYPE(callee)) {
    case OBJ_BOUND: {
      ObjBound *b = AS_BOUND(callee);
      if (IS_STRING(b->method)) {
        /* a method name bound to its receiver (E.V constructors...) */
        base[0] = b->receiver;
        return invoke_method(vm, AS_STRING(b->method), argc);
      }
      insert_arg(in, argc, b->method, b->receiver);
      return call_value(vm, argc + 1);
    }
    case OBJ_STRUCT_TYPE: {
      ObjStructType *t = (ObjStructType *)AS_OBJ(callee);
      ObjDict *fields = argc >= 1 && IS_DICT(base[1]) ? dict_copy(vm, AS_DICT(base[1])) : dict_new(vm, 0);
      return call_result(in, argc, OBJ_VAL(struct_new(vm, t, NULL, fields)));
    }
    default: break;
    }
  }
  Buf b = {0};
  val_display(vm, callee, &b);
  err_type(vm, "Cannot call %s", b.data ? b.data : "");
  buf_free(&b);
  return CALL_ERROR;
}

/* Enum variant constructor E.V(args): [argc] arguments at the top. */
static int construct_variant(Vm *vm, ObjEnumType *t, ObjString *name, int argc)
{
  Interp *in = vm->interp;
  for (uint32_t i = 0; i < t->nvariants; i++) {
    if (!str_eq(t->variants[i], name)) continue;
    uint32_t n = t->arity[i];
    if ((uint32_t)argc > n) n = (uint32_t)argc;
    ObjEnum *e = enum_new(vm, t->name, t->variants[i], n);
    Value *args = in->sp - argc;
    for (uint32_t j = 0; j < n; j++) e->fields[j] = j < (uint32_t)argc ? args[j] : NIL_VAL;
    return call_result(in, argc, OBJ_VAL(e));
  }
  return err_runtime(vm, "Unknown variant %s.%s", t->name->chars, name->chars);
}

/* ---- inline caches ----
 * GET_PROP and INVOKE carry a one-byte cache operand (opcodes.def `i`): the
 * position in the dict (dict value, struct fields, struct type methods) at
 * which the site last found its key. A hit needs the entry at that position
 * to hold the very same key object, which is common because names and
 * literal keys are interned constants (object.c chunk_add_const); anything
 * else falls back to the binary search, so a stale cache costs a lookup,
 * never a wrong result. The bytecode is private to one VM (single thread). */
static inline DictEntry *ic_lookup(ObjDict *d, ObjString *name, uint8_t *ic)
{
  uint32_t pos = *ic;
  if (LIKELY(pos < d->count && d->entries[pos].key == name)) return &d->entries[pos];
  if (!dict_lookup(d, name, &pos)) return NULL;
  if (pos < 256) *ic = (uint8_t)pos;
  return &d->entries[pos];
}

static int invoke_method_ic(Vm *vm, ObjString *name, int argc, uint8_t *ic);

/* Method call recv.name(args): receiver below [argc] arguments. */
static int invoke_method(Vm *vm, ObjString *name, int argc)
{
  uint8_t ic = 0;
  return invoke_method_ic(vm, name, argc, &ic);
}

/* invoke_method with the call site's inline cache [ic]. */
static int invoke_method_ic(Vm *vm, ObjString *name, int argc, uint8_t *ic)
{
  Interp *in = vm->interp;
  Value *base = in->sp - argc - 1;
  Value recv = *base;
  Value m;
  if (IS_NIL(recv)) return call_result(in, argc, NIL_VAL);
  if (IS_OBJ(recv)) {
    switch (OBJ_TYPE(recv)) {
    case OBJ_STRUCT: {
      ObjStructType *t = AS_STRUCT(recv)->type;
      DictEntry *e;
      if (t && t->methods && (e = ic_lookup(t->methods, name, ic))) {
        insert_arg(in, argc, e->value, recv);
        return call_value(vm, argc + 1);
      }
      ObjDict *f = AS_STRUCT(recv)->fields;
      if (f && dict_get(f, name, &m) && vm_is_callable(m)) {
        *base = m;
        return call_value(vm, argc);
      }
      return call_result(in, argc, NIL_VAL);
    }
    case OBJ_DICT:
      if (dict_get(AS_DICT(recv), name, &m) && vm_is_callable(m)) {
        *base = m;
        return call_value(vm, argc);
      }
      break;
    case OBJ_ENUM_TYPE: return construct_variant(vm, (ObjEnumType *)AS_OBJ(recv), name, argc);
    case OBJ_NATIVE: {
      /* generators, streams, channels, task handles (sched.c) */
      Value out = NIL_VAL;
      int r = sched_method(vm, recv, name, argc, base + 1, &out);
      if (r < 0) return CALL_ERROR;
      if (r > 0) return call_result(in, argc, out);
      /* a callable property of a host object (harness.emit) */
      NativePropFn prop = op_native_props(AS_NATIVE(recv)->vt);
      if (prop) {
        if (!prop(vm, AS_NATIVE(recv), name, &m)) return CALL_ERROR;
        if (vm_is_callable(m)) {
          *base = m;
          return call_value(vm, argc);
        }
      }
      break;
    }
    case OBJ_STRUCT_TYPE: {
      ObjStructType *t = (ObjStructType *)AS_OBJ(recv);
      if (t->methods && dict_get(t->methods, name, &m)) {
        *base = m;
        return call_value(vm, argc);
      }
      return call_result(in, argc, NIL_VAL);
    }
    default: break;
    }
  }
  Value out = NIL_VAL;
  if (!method_call(vm, recv, name, argc, base + 1, &out)) return CALL_ERROR;
  return call_result(in, argc, out);
}

bool vm_is_callable(Value v)
{
  if (IS_BUILTIN(v)) return true;
  if (!IS_OBJ(v)) return false;
  switch (OBJ_TYPE(v)) {
  case OBJ_CLOSURE:
  case OBJ_BOUND:
  case OBJ_STRUCT_TYPE: return true;
  default: return false;
  }
}

/* ---- the dispatch loop ---------------------------------------------------------- */

static bool run(Vm *vm, int target);

static bool call_impl(Vm *vm, Value callee, int argc, Value *argv, Value *out, bool direct);

bool vm_call(Vm *vm, Value callee, int argc, Value *argv, Value *out)
{
  /* The callback fast path (map/filter/reduce...): a plain closure called
   * with all its arguments while nothing needs the slow poll. The same
   * steps as call_impl's plain branch below (same checks, same frame), in
   * one function with fewer live values; everything else goes there. */
  Interp *in = vm->interp;
  Value *base = in->sp;
  int depth = in->nframes;
  if (LIKELY(IS_CLOSURE(callee))) {
    ObjFunction *fn = AS_CLOSURE(callee)->fn;
    if (LIKELY(fn->plain && argc == fn->nparams && in->steps == NULL && depth < INTERP_MAX_FRAMES &&
               !(in->attention | vm->heap.gc_pending) &&
               base + 1 + fn->nlocals + argc + INTERP_MAX_OPERANDS < in->stack_end)) {
      Value *slots = base + 1;
      base[0] = callee;
      for (int i = 0; i < argc; i++) slots[i] = argv[i];
      for (int i = argc; i < fn->nlocals; i++) slots[i] = NIL_VAL;
      in->sp = slots + fn->nlocals;
      frame_push(in, AS_CLOSURE(callee), slots, argc);
      int saved_base = in->handler_base;
      in->handler_base = in->nhandlers;
      bool ok = run(vm, depth);
      in->nhandlers = in->handler_base;
      in->handler_base = saved_base;
      if (LIKELY(ok)) {
        *out = in->sp[-1];
      } else {
        *out = NIL_VAL;
        if (in->ndeadlines | in->npermits) interp_scope_cut(vm, depth);
      }
      in->nframes = depth;
      in->sp = base;
      return ok;
    }
  }
  return call_impl(vm, callee, argc, argv, out, false);
}

bool interp_call_direct(Vm *vm, ObjClosure *cl, int argc, Value *argv, Value *out)
{
  return call_impl(vm, OBJ_VAL(cl), argc, argv, out, true);
}

/* vm_call; [direct]: [callee] is a closure whose body runs even if it is a
 * generator function (the generator's own fiber starting its body). */
static bool call_impl(Vm *vm, Value callee, int argc, Value *argv, Value *out, bool direct)
{
  Interp *in = vm->interp;
  *out = NIL_VAL;
  Value *base = in->sp;
  if (base + argc + 1 + INTERP_MAX_OPERANDS >= in->stack_end || in->nframes >= INTERP_MAX_FRAMES)
    return err_stack_overflow(vm);
  /* safe point (docs/RUNTIME.md 1.5 b): callee and arguments are rooted by
   * the caller (argv lives on the stack or in temp roots) */
  base[0] = callee;
  for (int i = 0; i < argc; i++) base[1 + i] = argv[i];
  Value *sp = base + 1 + argc;
  in->sp = sp;
  if (UNLIKELY(in->attention | vm->heap.gc_pending)) {
    if (!slow_poll(vm)) {
      in->sp = base;
      return false;
    }
  }
  int saved_base = in->handler_base;
  int depth = in->nframes;
  in->handler_base = in->nhandlers;
  int r;
  ObjFunction *fn = IS_CLOSURE(callee) ? AS_CLOSURE(callee)->fn : NULL;
  if (LIKELY(fn && fn->plain && argc == fn->nparams && in->steps == NULL &&
             base + 1 + fn->nlocals + argc + INTERP_MAX_OPERANDS < in->stack_end)) {
    /* a plain closure with all its arguments (a map/filter/reduce
     * callback): what push_frame does, without call_value's dispatch */
    for (int i = argc; i < fn->nlocals; i++) *sp++ = NIL_VAL;
    in->sp = sp;
    frame_push(in, AS_CLOSURE(callee), base + 1, argc);
    r = CALL_FRAME;
  } else {
    r = direct ? (push_frame(vm, AS_CLOSURE(callee), argc) ? CALL_FRAME : CALL_ERROR) : call_value(vm, argc);
  }
  bool ok = r != CALL_ERROR;
  if (r == CALL_FRAME) ok = run(vm, depth);
  in->nhandlers = in->handler_base;
  in->handler_base = saved_base;
  if (!ok && UNLIKELY(in->ndeadlines | in->npermits)) interp_scope_cut(vm, depth);
  if (ok) *out = in->sp[-1];
  in->nframes = depth;
  in->sp = base;
  return ok;
}

/* Ordering of a < b etc.: <0, 0, >0 with the fast paths inline. */
static inline int compare(Value a, Value b)
{
  if (IS_INT(a) && IS_INT(b)) return AS_INT(a) < AS_INT(b) ? -1 : AS_INT(a) > AS_INT(b);
  return val_compare(a, b);
}

/* ---- operand forms (superinstructions) ----
 * The compiler fuses the hot sequences of the arithmetic and of conditions
 * into one instruction (opcodes.def: ADD_K, ADD_LK, LT_LK_JF, INC_LOCAL...),
 * operands read straight from a local slot (L) or the constant pool (K).
 * Each does exactly what the sequence it replaces does: the same int/int
 * and float/float fast paths as ADD..MOD, the same ops.c function (same
 * error text, same wrapping) otherwise, the same comparison. Arithmetic
 * results never alias an operand (ops.c builds new objects), so reading a
 * slot here publishes no reference to it (value.h copy-on-write).
 * In counting mode a fused instruction counts as the instructions it
 * replaces (op_weight): budgets, the 1024-instruction grace and the
 * instruction counters see the same numbers as for the unfused code. */
enum { AR_ADD, AR_SUB, AR_MUL, AR_DIV, AR_MOD };
enum { CM_EQ, CM_NE, CM_LT, CM_LE, CM_GT, CM_GE };

/* The inline fast path of arithmetic [op] (a constant at every use): true
 * with the result stored in *dst, false (nothing stored) when the ops.c
 * function must decide. The result is stored field by field straight into
 * its destination: a Value built in a temporary and copied as 16 bytes
 * would cost a store-forwarding stall per instruction. */
static inline bool arith_fast(int op, Value a, Value b, Value *dst)
{
  if (LIKELY(IS_INT(a) && IS_INT(b))) {
    uint64_t x = (uint64_t)AS_INT(a), y = (uint64_t)AS_INT(b);
    int64_t r;
    switch (op) {
    case AR_ADD: r = (int64_t)(x + y); break;
    case AR_SUB: r = (int64_t)(x - y); break;
    case AR_MUL: r = (int64_t)(x * y); break;
    case AR_DIV:
      if (AS_INT(b) == 0) return false;
      r = AS_INT(b) == -1 ? (int64_t)(0 - x) : AS_INT(a) / AS_INT(b);
      break;
    default:
      if (AS_INT(b) == 0) return false;
      r = AS_INT(b) == -1 ? 0 : AS_INT(a) % AS_INT(b);
      break;
    }
    dst->type = VAL_INT;
    dst->as.i = r;
    return true;
  }
  if (op <= AR_MUL && IS_FLOAT(a) && IS_FLOAT(b)) {
    double x = AS_FLOAT(a), y = AS_FLOAT(b);
    dst->type = VAL_FLOAT;
    dst->as.f = op == AR_ADD ? x + y : op == AR_SUB ? x - y : x * y;
    return true;
  }
  return false;
}

static bool (*const arith_slow[])(Vm *, Value, Value, Value *) = {op_add, op_sub, op_mul, op_div, op_mod};

/* The comparison [op] (a constant at every use), as EQ..GE compute it. */
static inline bool compare_op(int op, Value a, Value b)
{
  switch (op) {
  case CM_EQ: return IS_INT(a) && IS_INT(b) ? AS_INT(a) == AS_INT(b) : val_equal(a, b);
  case CM_NE: return IS_INT(a) && IS_INT(b) ? AS_INT(a) != AS_INT(b) : !val_equal(a, b);
  case CM_LT: return compare(a, b) < 0;
  case CM_LE: return compare(a, b) <= 0;
  case CM_GT: return compare(a, b) > 0;
  default: return compare(a, b) >= 0;
  }
}

#define FUSED_ARITH_EXTRA(X) [OP_##X##_K] = 1, [OP_##X##_L] = 1, [OP_##X##_LK] = 2, [OP_##X##_LL] = 2
#define FUSED_CMP_EXTRA(X) [OP_##X##_JF] = 1, [OP_##X##_K_JF] = 2, [OP_##X##_LK_JF] = 3, [OP_##X##_LL_JF] = 3

/* Instructions each opcode stands for in counting mode, minus one (0
 * unless fused). */
static const uint8_t op_extra[NUM_OPS] = {
    FUSED_ARITH_EXTRA(ADD), FUSED_ARITH_EXTRA(SUB), FUSED_ARITH_EXTRA(MUL),
    FUSED_ARITH_EXTRA(DIV), FUSED_ARITH_EXTRA(MOD), [OP_INC_LOCAL] = 3,
    FUSED_CMP_EXTRA(EQ),    FUSED_CMP_EXTRA(NE),    FUSED_CMP_EXTRA(LT),
    FUSED_CMP_EXTRA(LE),    FUSED_CMP_EXTRA(GT),    FUSED_CMP_EXTRA(GE),
    [OP_GET_PROP_L] = 1, [OP_NIL_POP] = 1,
};

/* Counting mode: count the instruction [op] about to run as 1 + op_extra[op]
 * instructions. Returns -1 when it may run; else the error is set and the
 * result is how far to move ip (just past the opcode) so that ip-1 is the
 * byte holding the position of the sub-instruction at which counting ran
 * out: byte j+1 after the opcode for sub-instruction j < op_extra[op], the
 * opcode itself for the last (compiler.c fused_positions). */
static int count_weighted(Vm *vm, uint8_t op)
{
  int w = op < NUM_OPS ? op_extra[op] : 0;
  for (int j = 0; j <= w; j++)
    if (!count_instruction(vm)) return j < w && j < interp_op_operands[op] ? j + 1 : 0;
  return -1;
}

static bool destruct_error(Vm *vm, Value v, bool dict)
{
  if (dict)
    return err_type(vm, "cannot destructure %s with {...} pattern \xe2\x80\x94 expected dict",
                    val_type_name(v));
  return err_type(vm, "cannot destructure %s with [...] pattern \xe2\x80\x94 expected list",
                  val_type_name(v));
}

/* CALL_SPREAD / INVOKE_SPREAD: replace the argument list on top of the
 * operand stack ([sp] is the current top) with its items. Returns the new
 * top with *argc set, or NULL with the error set (the stack unchanged). */
static Value *spread_args(Vm *vm, Value *sp, int *argc)
{
  Value args = sp[-1];
  if (!IS_LIST(args)) {
    destruct_error(vm, args, false);
    return NULL;
  }
  ObjList *l = AS_LIST(args);
  if (l->count > 4096 || sp + l->count + INTERP_MAX_OPERANDS >= vm->interp->stack_end) {
    err_stack_overflow(vm);
    return NULL;
  }
  sp--; /* the list's slot takes its first item */
  for (uint32_t i = 0; i < l->count; i++) sp[i] = l->items[i];
  *argc = (int)l->count;
  return sp + l->count;
}

static ObjString *key_string(Vm *vm, Value k)
{
  return IS_STRING(k) ? AS_STRING(k) : val_to_string(vm, k);
}

/* Little-endian operands. On a little-endian host one unaligned load (GCC
 * does not always merge the byte loads inside run(): 4 instructions per
 * u16 operand instead of 1). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint16_t rd16(const uint8_t *p)
{
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
#else
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline uint32_t rd32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
#endif

/* Run frames until the frame count drops back to [target]; the value the
 * last frame returned is then on top of the stack. False: an error left
 * this run uncaught (frames above [target] are gone, error pending). */
static bool run(Vm *vm, int target)
{
  Interp *in = vm->interp;
  Frame *frame;
  uint8_t *ip;
  Value *slots, *sp, *consts;

#define READ_BYTE() (*ip++)
#define READ_U16() (ip += 2, rd16(ip - 2))
#define READ_U32() (ip += 4, rd32(ip - 4))
#define PUSH(v) (*sp++ = (v))
#define POP() (*--sp)
#define PEEK(n) (sp[-1 - (n)])
#define SYNC() (frame->ip = ip, in->sp = sp)
#define RELOAD()                                                                             \
  do {                                                                                       \
    frame = &in->frames[in->nframes - 1];                                                    \
    ip = frame->ip;                                                                          \
    slots = frame->slots;                                                                    \
    consts = frame->fn->chunk.consts;                                                        \
    sp = in->sp;                                                                             \
  } while (0)
#define THROW() goto throw_error
#if VM_NO_SAFEPOINT_TEST
/* Benchmark-only build (bench/fastpath): the dispatch loop without its
 * safe-point test, the baseline docs/RUNTIME.md 1.5 measures the test against.
 * Nothing is ever polled: no GC, deadline, cancel or signal in the loop. */
#define SAFE_POINT() ((void)0)
#else
#define SAFE_POINT()                                                                         \
  do {                                                                                       \
    if (UNLIKELY(in->attention | vm->heap.gc_pending)) {                                     \
      SYNC();                                                                                \
      if (!slow_poll(vm)) THROW();                                                           \
      SET_MODE();                                                                            \
    }                                                                                        \
  } while (0)
#endif

#if VM_COMPUTED_GOTO
  /* Two tables: the plain one, and the counting one whose every entry is
   * the COUNTED stub (count, then jump to the real handler). The loop
   * switches tables only at safe points, so nothing runs per instruction
   * unless counting mode is on (docs/RUNTIME.md 1.5). */
  static void *const labels[NUM_OPS] = {
#define OP(name, bytes, effect, meaning) &&L_##name,
#include "opcodes.def"
#undef OP
  };
  static void *const count_labels[NUM_OPS] = {[0 ... NUM_OPS - 1] = &&L_COUNTED};
  void *const *table;
#define SET_MODE() (table = in->counting ? count_labels : labels)
#define DISPATCH() goto *table[*ip++]
#define CASE(name) L_##name:
#define NEXT() DISPATCH()
#define LOOP_BEGIN DISPATCH();
#define LOOP_END
#else
  bool counting;
#define SET_MODE() (counting = in->counting)
#define COUNT_HOOK()                                                                         \
  do {                                                                                       \
    int adv_;                                                                                \
    if (UNLIKELY(counting) && (adv_ = count_weighted(vm, *ip)) >= 0) {                       \
      ip += 1 + adv_;                                                                        \
      SET_MODE();                                                                            \
      THROW();                                                                               \
    }                                                                                        \
  } while (0)
#define CASE(name) case OP_##name:
#define NEXT() continue
#define LOOP_BEGIN                                                                           \
  for (;;) {                                                                                 \
    COUNT_HOOK();                                                                            \
    switch (*ip++) {
#define LOOP_END                                                                             \
  default:                                                                                   \
    SYNC();                                                                                  \
    err_bad_opcode(vm, ip[-1]);                                                              \
    THROW();                                                                                 \
    }                                                                                        \
    }
#endif

  SET_MODE();
  RELOAD();

resume:
  LOOP_BEGIN

  CASE(NOP) NEXT();
  CASE(CONST) {
    uint16_t k = READ_U16();
    PUSH(consts[k]);
    NEXT();
  }
  CASE(NIL) PUSH(NIL_VAL); NEXT();
  CASE(TRUE) PUSH(BOOL_VAL(true)); NEXT();
  CASE(FALSE) PUSH(BOOL_VAL(false)); NEXT();
  CASE(INT8) {
    int8_t v = (int8_t)READ_BYTE();
    PUSH(INT_VAL(v));
    NEXT();
  }
  CASE(POP) sp--; NEXT();
  CASE(NIL_POP) NEXT();
  CASE(POPN) {
    uint16_t n = READ_U16();
    sp -= n;
    NEXT();
  }
  CASE(DUP) {
    Value v = PEEK(0);
    PUSH(v);
    NEXT();
  }
  CASE(SWAP) {
    Value t = sp[-1];
    sp[-1] = sp[-2];
    sp[-2] = t;
    NEXT();
  }
  CASE(PUSH_INPUT) PUSH(in->input); NEXT();

  CASE(GET_LOCAL) {
    uint16_t s = READ_U16();
    val_share(slots[s]); /* the reference may leave the slot (value.h) */
    sp->as.i = slots[s].as.i;
    sp->type = slots[s].type;
    sp++;
    NEXT();
  }
  CASE(GET_LOCAL_BORROW) {
    uint16_t s = READ_U16();
    PUSH(slots[s]); /* stays owned: the consumer does not keep it */
    NEXT();
  }
  CASE(SET_LOCAL) {
    uint16_t s = READ_U16();
    sp--;
    slots[s].as.i = sp->as.i;
    slots[s].type = sp->type;
    NEXT();
  }
  CASE(GET_CAPTURE) {
    uint16_t c = READ_U16();
    PUSH(frame->closure->captures[c]);
    NEXT();
  }
  CASE(SET_CAPTURE) {
    uint16_t c = READ_U16();
    frame->closure->captures[c] = POP();
    NEXT();
  }
  CASE(GET_GLOBAL)
  CASE(GET_CALLEE) {
    bool callee = ip[-1] == OP_GET_CALLEE;
    uint16_t g = READ_U16();
    uint16_t k = READ_U16();
    Global *gl = &in->globals[g];
    if (LIKELY(gl->defined)) {
      PUSH(gl->value);
      NEXT();
    }
    if (gl->builtin >= 0) {
      PUSH(val_builtin(gl->builtin));
      NEXT();
    }
    Value cv;
    if (builtin_constant(gl->name->chars, &cv)) {
      PUSH(cv);
      NEXT();
    }
    const char *sugg = k != NO_CONST ? AS_CSTR(consts[k]) : NULL;
    SYNC();
    if (callee) err_undefined_builtin(vm, gl->name->chars, sugg);
    else err_undefined_var(vm, gl->name->chars, sugg);
    THROW();
  }
  CASE(SET_GLOBAL) {
    uint16_t g = READ_U16();
    Global *gl = &in->globals[g];
    if (UNLIKELY(!gl->defined)) {
      SYNC();
      err_undefined_var(vm, gl->name->chars, NULL);
      THROW();
    }
    if (UNLIKELY(!gl->mutable_)) {
      SYNC();
      err_immutable(vm, gl->name->chars);
      THROW();
    }
    gl->value = POP();
    NEXT();
  }
  CASE(DEFINE_GLOBAL) {
    uint16_t g = READ_U16();
    uint8_t flags = READ_BYTE();
    Global *gl = &in->globals[g];
    if (UNLIKELY(gl->defined && gl->is_let && (flags & 2))) {
      SYNC();
      err_runtime(vm,
                  "Cannot redeclare immutable variable '%s' in the same scope (use 'var' for "
                  "mutable bindings)",
                  gl->name->chars);
      THROW();
    }
    Value v = POP();
    /* a struct redeclared after an impl keeps the impl's methods */
    if (gl->defined && IS_OBJ_TYPE(gl->value, OBJ_STRUCT_TYPE) && IS_OBJ_TYPE(v, OBJ_STRUCT_TYPE)) {
      ObjStructType *old = AS_STRUCT_TYPE(gl->value), *nt = AS_STRUCT_TYPE(v);
      if (!nt->methods) nt->methods = old->methods;
    }
    gl->value = v;
    gl->defined = true;
    gl->mutable_ = flags & 1;
    gl->is_let = (flags & 2) != 0;
    NEXT();
  }

  /* ---- arithmetic ---- */
#define BINARY_SLOW(fn)                                                                      \
  do {                                                                                       \
    Value r_;                                                                                \
    SYNC();                                                                                  \
    if (!fn(vm, sp[-2], sp[-1], &r_)) THROW();                                               \
    sp[-2] = r_;                                                                             \
    sp--;                                                                                    \
  } while (0)
  CASE(ADD) {
    Value a = sp[-2], b = sp[-1];
    if (LIKELY(IS_INT(a) && IS_INT(b))) {
      sp[-2] = INT_VAL((int64_t)((uint64_t)AS_INT(a) + (uint64_t)AS_INT(b)));
      sp--;
    } else if (IS_FLOAT(a) && IS_FLOAT(b)) {
      sp[-2] = FLOAT_VAL(AS_FLOAT(a) + AS_FLOAT(b));
      sp--;
    } else {
      BINARY_SLOW(op_add);
    }
    NEXT();
  }
  CASE(SUB) {
    Value a = sp[-2], b = sp[-1];
    if (LIKELY(IS_INT(a) && IS_INT(b))) {
      sp[-2] = INT_VAL((int64_t)((uint64_t)AS_INT(a) - (uint64_t)AS_INT(b)));
      sp--;
    } else if (IS_FLOAT(a) && IS_FLOAT(b)) {
      sp[-2] = FLOAT_VAL(AS_FLOAT(a) - AS_FLOAT(b));
      sp--;
    } else {
      BINARY_SLOW(op_sub);
    }
    NEXT();
  }
  CASE(MUL) {
    Value a = sp[-2], b = sp[-1];
    if (LIKELY(IS_INT(a) && IS_INT(b))) {
      sp[-2] = INT_VAL((int64_t)((uint64_t)AS_INT(a) * (uint64_t)AS_INT(b)));
      sp--;
    } else if (IS_FLOAT(a) && IS_FLOAT(b)) {
      sp[-2] = FLOAT_VAL(AS_FLOAT(a) * AS_FLOAT(b));
      sp--;
    } else {
      BINARY_SLOW(op_mul);
    }
    NEXT();
  }
  CASE(DIV) {
    Value a = sp[-2], b = sp[-1];
    if (IS_INT(a) && IS_INT(b) && AS_INT(b) != 0) {
      int64_t y = AS_INT(b);
      sp[-2] = y == -1 ? INT_VAL((int64_t)(0 - (uint64_t)AS_INT(a))) : INT_VAL(AS_INT(a) / y);
      sp--;
    } else {
      BINARY_SLOW(op_div);
    }
    NEXT();
  }
  CASE(MOD) {
    Value a = sp[-2], b = sp[-1];
    if (IS_INT(a) && IS_INT(b) && AS_INT(b) != 0) {
      int64_t y = AS_INT(b);
      sp[-2] = y == -1 ? INT_VAL(0) : INT_VAL(AS_INT(a) % y);
      sp--;
    } else {
      BINARY_SLOW(op_mod);
    }
    NEXT();
  }
  CASE(POW) BINARY_SLOW(op_pow); NEXT();
  CASE(NEG) {
    Value a = sp[-1];
    if (IS_INT(a)) {
      sp[-1] = INT_VAL((int64_t)(0 - (uint64_t)AS_INT(a)));
    } else if (IS_FLOAT(a)) {
      sp[-1] = FLOAT_VAL(-AS_FLOAT(a));
    } else {
      Value r;
      SYNC();
      if (!op_neg(vm, a, &r)) THROW();
      sp[-1] = r;
    }
    NEXT();
  }
  CASE(NOT) sp[-1] = BOOL_VAL(!val_truthy(sp[-1])); NEXT();
  CASE(TO_BOOL) sp[-1] = BOOL_VAL(val_truthy(sp[-1])); NEXT();
  CASE(EQ) {
    Value a = sp[-2], b = sp[-1];
    bool r = IS_INT(a) && IS_INT(b) ? AS_INT(a) == AS_INT(b) : val_equal(a, b);
    sp[-2] = BOOL_VAL(r);
    sp--;
    NEXT();
  }
  CASE(NE) {
    Value a = sp[-2], b = sp[-1];
    bool r = IS_INT(a) && IS_INT(b) ? AS_INT(a) != AS_INT(b) : !val_equal(a, b);
    sp[-2] = BOOL_VAL(r);
    sp--;
    NEXT();
  }
  CASE(LT) sp[-2] = BOOL_VAL(compare(sp[-2], sp[-1]) < 0); sp--; NEXT();
  CASE(GT) sp[-2] = BOOL_VAL(compare(sp[-2], sp[-1]) > 0); sp--; NEXT();
  CASE(LE) sp[-2] = BOOL_VAL(compare(sp[-2], sp[-1]) <= 0); sp--; NEXT();
  CASE(GE) sp[-2] = BOOL_VAL(compare(sp[-2], sp[-1]) >= 0); sp--; NEXT();
  CASE(IN) {
    SYNC();
    bool r = op_in(vm, sp[-2], sp[-1]);
    sp[-2] = BOOL_VAL(r);
    sp--;
    NEXT();
  }
  CASE(NOT_IN) {
    SYNC();
    bool r = !op_in(vm, sp[-2], sp[-1]);
    sp[-2] = BOOL_VAL(r);
    sp--;
    NEXT();
  }

  /* ---- operand forms of the arithmetic ("operand forms" above) ---- */
#define ARITH_STORE(OPN, A, B, DST)                                                          \
  do {                                                                                       \
    Value a_ = (A), b_ = (B);                                                                \
    if (UNLIKELY(!arith_fast(OPN, a_, b_, &(DST)))) {                                        \
      Value r_;                                                                              \
      SYNC();                                                                                \
      if (!arith_slow[OPN](vm, a_, b_, &r_)) THROW();                                        \
      DST = r_;                                                                              \
    }                                                                                        \
  } while (0)
#define FUSED_ARITH(X, OPN)                                                                  \
  CASE(X##_K) {                                                                              \
    uint16_t k = READ_U16();                                                                 \
    ARITH_STORE(OPN, sp[-1], consts[k], sp[-1]);                                             \
    NEXT();                                                                                  \
  }                                                                                          \
  CASE(X##_L) {                                                                              \
    uint16_t s = READ_U16();                                                                 \
    ARITH_STORE(OPN, sp[-1], slots[s], sp[-1]);                                              \
    NEXT();                                                                                  \
  }                                                                                          \
  CASE(X##_LK) {                                                                             \
    uint16_t s = READ_U16();                                                                 \
    uint16_t k = READ_U16();                                                                 \
    ARITH_STORE(OPN, slots[s], consts[k], *sp);                                              \
    sp++;                                                                                    \
    NEXT();                                                                                  \
  }                                                                                          \
  CASE(X##_LL) {                                                                             \
    uint16_t s = READ_U16();                                                                 \
    uint16_t t = READ_U16();                                                                 \
    ARITH_STORE(OPN, slots[s], slots[t], *sp);                                               \
    sp++;                                                                                    \
    NEXT();                                                                                  \
  }
  FUSED_ARITH(ADD, AR_ADD)
  FUSED_ARITH(SUB, AR_SUB)
  FUSED_ARITH(MUL, AR_MUL)
  FUSED_ARITH(DIV, AR_DIV)
  FUSED_ARITH(MOD, AR_MOD)
  CASE(INC_LOCAL) {
    uint16_t s = READ_U16();
    uint16_t k = READ_U16();
    ARITH_STORE(AR_ADD, slots[s], consts[k], slots[s]);
    NEXT();
  }
#undef FUSED_ARITH

  /* ---- jumps ---- */
  CASE(JUMP) {
    uint32_t t = READ_U32();
    ip = frame->fn->chunk.code + t;
    NEXT();
  }
  CASE(LOOP) {
    uint32_t t = READ_U32();
    ip = frame->fn->chunk.code + t;
    SAFE_POINT();
    NEXT();
  }
  CASE(JUMP_IF_FALSE) {
    uint32_t t = READ_U32();
    Value v = POP();
    bool truthy = IS_BOOL(v) ? AS_BOOL(v) : val_truthy(v);
    if (!truthy) ip = frame->fn->chunk.code + t;
    NEXT();
  }
  CASE(JUMP_IF_TRUE) {
    uint32_t t = READ_U32();
    Value v = POP();
    bool truthy = IS_BOOL(v) ? AS_BOOL(v) : val_truthy(v);
    if (truthy) ip = frame->fn->chunk.code + t;
    NEXT();
  }
  CASE(JUMP_IF_NOT_NIL) {
    uint32_t t = READ_U32();
    if (!IS_NIL(sp[-1])) ip = frame->fn->chunk.code + t;
    else sp--;
    NEXT();
  }
  CASE(ARG_GIVEN) {
    uint8_t n = READ_BYTE();
    uint32_t t = READ_U32();
    if (frame->argc > n) ip = frame->fn->chunk.code + t;
    NEXT();
  }

  /* ---- compare-and-branch forms ("operand forms" above) ---- */
#define FUSED_CMP(X, OPN)                                                                    \
  CASE(X##_JF) {                                                                             \
    uint32_t t = READ_U32();                                                                 \
    sp -= 2;                                                                                 \
    if (!compare_op(OPN, sp[0], sp[1])) ip = frame->fn->chunk.code + t;                      \
    NEXT();                                                                                  \
  }                                                                                          \
  CASE(X##_K_JF) {                                                                           \
    uint16_t k = READ_U16();                                                                 \
    uint32_t t = READ_U32();                                                                 \
    sp--;                                                                                    \
    if (!compare_op(OPN, sp[0], consts[k])) ip = frame->fn->chunk.code + t;                  \
    NEXT();                                                                                  \
  }                                                                                          \
  CASE(X##_LK_JF) {                                                                          \
    uint16_t s = READ_U16();                                                                 \
    uint16_t k = READ_U16();                                                                 \
    uint32_t t = READ_U32();                                                                 \
    if (!compare_op(OPN, slots[s], consts[k])) ip = frame->fn->chunk.code + t;               \
    NEXT();                                                                                  \
  }                                                                                          \
  CASE(X##_LL_JF) {                                                                          \
    uint16_t s = READ_U16();                                                                 \
    uint16_t u = READ_U16();                                                                 \
    uint32_t t = READ_U32();                                                                 \
    if (!compare_op(OPN, slots[s], slots[u])) ip = frame->fn->chunk.code + t;                \
    NEXT();                                                                                  \
  }
  FUSED_CMP(EQ, CM_EQ)
  FUSED_CMP(NE, CM_NE)
  FUSED_CMP(LT, CM_LT)
  FUSED_CMP(LE, CM_LE)
  FUSED_CMP(GT, CM_GT)
  FUSED_CMP(GE, CM_GE)
#undef FUSED_CMP

  /* ---- calls ---- */
  CASE(CALL) {
    int argc = READ_BYTE();
    SAFE_POINT();
    Value callee = sp[-argc - 1];
    if (LIKELY(IS_CLOSURE(callee))) {
      /* the inline path (see "Calls" at the top): what push_frame does
       * for a plain function called with all its arguments */
      ObjClosure *cl = AS_CLOSURE(callee);
      ObjFunction *fn = cl->fn;
      Value *args = sp - argc;
      if (LIKELY(fn->plain && argc == fn->nparams && in->steps == NULL &&
                 in->nframes < INTERP_MAX_FRAMES &&
                 args + fn->nlocals + argc + INTERP_MAX_OPERANDS < in->stack_end)) {
        for (int i = argc; i < fn->nlocals; i++) *sp++ = NIL_VAL;
        frame->ip = ip;
        frame = frame_push(in, cl, args, argc);
        ip = fn->chunk.code;
        slots = args;
        consts = fn->chunk.consts;
        NEXT();
      }
    }
    SYNC();
    if (!call_value(vm, argc)) THROW();
    RELOAD();
    NEXT();
  }
  CASE(TAIL_CALL) {
    int argc = READ_BYTE();
    SAFE_POINT();
    Value tcallee = sp[-argc - 1];
    if (LIKELY(IS_CLOSURE(tcallee))) {
      /* inline path: reuse the frame for a plain function (no step is
       * involved while in->steps is NULL) */
      ObjClosure *cl = AS_CLOSURE(tcallee);
      ObjFunction *fn = cl->fn;
      if (LIKELY(fn->plain && argc == fn->nparams && in->steps == NULL &&
                 slots + fn->nlocals + argc + INTERP_MAX_OPERANDS < in->stack_end)) {
        memmove(slots - 1, sp - argc - 1, sizeof(Value) * (size_t)(argc + 1));
        sp = slots + argc;
        for (int i = argc; i < fn->nlocals; i++) *sp++ = NIL_VAL;
        frame_set(frame, cl, slots, argc);
        ip = fn->chunk.code;
        consts = fn->chunk.consts;
        NEXT();
      }
    }
    SYNC();
    Value callee = sp[-argc - 1];
    if (IS_CLOSURE(callee) && !AS_CLOSURE(callee)->fn->is_generator && !AS_CLOSURE(callee)->fn->is_stream &&
        (LIKELY(!in->steps_open) || !steps_top_is_step(vm)) &&
        (LIKELY(!in->steps) || !steps_is_step_fn(vm, AS_CLOSURE(callee)->fn))) {
      /* the compiler emits TAIL_CALL only outside try/finally regions, so
       * this frame owns no handler record */
      /* reuse the frame: move callee and arguments down to our callee slot */
      memmove(slots - 1, sp - argc - 1, sizeof(Value) * (size_t)(argc + 1));
      in->sp = slots + argc;
      in->nframes--;
      if (!push_frame(vm, AS_CLOSURE(callee), argc)) {
        in->nframes++; /* keep the caller's frame for the trace */
        sp = in->sp;
        THROW();
      }
    } else if (!call_value(vm, argc)) {
      THROW();
    }
    RELOAD();
    NEXT();
  }
  CASE(CALL_BUILTIN) {
    uint16_t idx = READ_U16();
    int argc = READ_BYTE();
    SAFE_POINT();
    SYNC();
    Value out = NIL_VAL;
    if (vm->denied && vm->denied[idx]) {
      hostfs_denied(vm, idx);
      THROW();
    }
    if (!builtin_table[idx].fn(vm, argc, sp - argc, &out)) THROW();
    sp -= argc;
    PUSH(out);
    NEXT();
  }
  CASE(CALL_SPREAD) {
    int n;
    Value *top = spread_args(vm, sp, &n);
    if (!top) {
      SYNC();
      THROW();
    }
    sp = top;
    SAFE_POINT();
    SYNC();
    if (!call_value(vm, n)) THROW();
    RELOAD();
    NEXT();
  }
  CASE(INVOKE) {
    uint16_t k = READ_U16();
    int argc = READ_BYTE();
    ip++; /* o: ?. changes nothing for a call on nil */
    uint8_t *ic = ip++;
    SAFE_POINT();
    Value recv = sp[-argc - 1];
    if (LIKELY(IS_OBJ_TYPE(recv, OBJ_STRUCT))) {
      /* inline path: a struct method found at the site's cached position
       * (what invoke_method_ic + insert_arg + push_frame do for a plain
       * method called with all its arguments; anything else, a cache
       * miss included, takes the out-of-line path) */
      ObjStructType *t = AS_STRUCT(recv)->type;
      ObjDict *md = t ? t->methods : NULL;
      uint32_t pos = *ic;
      if (LIKELY(md && pos < md->count && (Obj *)md->entries[pos].key == consts[k].as.o &&
                 IS_CLOSURE(md->entries[pos].value))) {
        ObjClosure *cl = AS_CLOSURE(md->entries[pos].value);
        ObjFunction *fn = cl->fn;
        Value *base = sp - argc - 1;
        int n = argc + 1; /* the receiver is argument 0 */
        if (LIKELY(fn->plain && n == fn->nparams && in->steps == NULL &&
                   in->nframes < INTERP_MAX_FRAMES &&
                   base + 1 + fn->nlocals + n + INTERP_MAX_OPERANDS < in->stack_end)) {
          for (int i = argc; i > 0; i--) base[i + 1] = base[i];
          base[1] = recv;
          base[0] = md->entries[pos].value;
          sp++;
          for (int i = n; i < fn->nlocals; i++) *sp++ = NIL_VAL;
          frame->ip = ip;
          frame = frame_push(in, cl, base + 1, n);
          ip = fn->chunk.code;
          slots = base + 1;
          consts = fn->chunk.consts;
          NEXT();
        }
      }
    }
    SYNC();
    if (!invoke_method_ic(vm, AS_STRING(consts[k]), argc, ic)) THROW();
    RELOAD();
    NEXT();
  }
  CASE(INVOKE_BORROW) {
    uint16_t k = READ_U16();
    int argc = READ_BYTE();
    ip++;
    uint8_t *ic = ip++;
    Value recv = sp[-argc - 1];
    /* a builtin list/dict method of this name keeps no reference to its
     * receiver; anything else (a struct's own method) may */
    if (!IS_LIST(recv) && !IS_DICT(recv)) val_share(recv);
    SAFE_POINT();
    SYNC();
    if (!invoke_method_ic(vm, AS_STRING(consts[k]), argc, ic)) THROW();
    RELOAD();
    NEXT();
  }
  CASE(INVOKE_SPREAD) {
    uint16_t k = READ_U16();
    ip++; /* o: ?. changes nothing for a call on nil */
    int n;
    Value *top = spread_args(vm, sp, &n);
    if (!top) {
      SYNC();
      THROW();
    }
    sp = top;
    SAFE_POINT();
    SYNC();
    if (!invoke_method(vm, AS_STRING(consts[k]), n)) THROW();
    RELOAD();
    NEXT();
  }
  CASE(RETURN) {
    if (LIKELY(!(in->steps_open | in->ndeadlines | in->npermits)) &&
        (in->nhandlers == in->handler_base || in->handlers[in->nhandlers - 1].depth < in->nframes)) {
      /* inline path: no step, deadline, permit or handler record to drop.
       * The value moves field by field: it was usually just stored that
       * way, and a 16-byte reload of it would stall store forwarding. */
      Value *res = slots - 1;
      res->as.i = sp[-1].as.i;
      res->type = sp[-1].type;
      sp = slots;
      if (--in->nframes <= target) {
        in->sp = sp;
        return true;
      }
      frame = &in->frames[in->nframes - 1];
      ip = frame->ip;
      slots = frame->slots;
      consts = frame->fn->chunk.consts;
      SAFE_POINT();
      NEXT();
    }
    bool post_ok = true;
    if (UNLIKELY(in->steps_open)) {
      /* PostStep hooks (docs/RUNTIME.md 7.6) run with the value still on the
       * stack (rooted); they may replace it */
      SYNC();
      post_ok = steps_on_return(vm, in->nframes, &sp[-1]);
    }
    Value result = POP();
    in->nframes--;
    sp = slots - 1;
    *sp++ = result;
    while (in->nhandlers > in->handler_base && in->handlers[in->nhandlers - 1].depth > in->nframes)
      in->nhandlers--;
    in->sp = sp;
    if (UNLIKELY(in->ndeadlines | in->npermits)) interp_scope_cut(vm, in->nframes);
    if (UNLIKELY(!post_ok)) {
      /* a PostStep failure is the error of the call instruction */
      if (in->nframes > target) RELOAD();
      THROW();
    }
    if (in->nframes <= target) return true;
    RELOAD();
    SAFE_POINT();
    NEXT();
  }
  CASE(CLOSURE) {
    uint16_t k = READ_U16();
    ObjFunction *fn = AS_FUNCTION(consts[k]);
    ObjClosure *cl = closure_new(vm, fn, NIL_VAL);
    for (uint16_t i = 0; i < fn->ncaptures; i++) {
      uint8_t from_local = READ_BYTE();
      uint16_t idx = READ_U16();
      if (from_local) val_share(slots[idx]);
      cl->captures[i] = from_local ? slots[idx] : frame->closure->captures[idx];
    }
    PUSH(OBJ_VAL(cl));
    NEXT();
  }
  CASE(PATCH_SELF) {
    uint16_t c = READ_U16();
    ObjClosure *cl = AS_CLOSURE(sp[-1]);
    cl->captures[c] = sp[-1];
    NEXT();
  }

  /* ---- literals ---- */
  CASE(NEW_LIST) PUSH(OBJ_VAL(list_new(vm, 0))); NEXT();
  CASE(LIST_APPEND) {
    Value v = POP();
    list_push(vm, AS_LIST(sp[-1]), v);
    NEXT();
  }
  CASE(LIST_SPREAD) {
    Value v = POP();
    if (!IS_LIST(v)) {
      SYNC();
      destruct_error(vm, v, false);
      THROW();
    }
    ObjList *src = AS_LIST(v), *dst = AS_LIST(sp[-1]);
    for (uint32_t i = 0; i < src->count; i++) list_push(vm, dst, src->items[i]);
    NEXT();
  }
  CASE(NEW_DICT) PUSH(OBJ_VAL(dict_new(vm, 0))); NEXT();
  CASE(DICT_SET) {
    Value v = POP();
    Value key = POP();
    dict_set(vm, AS_DICT(sp[-1]), key_string(vm, key), v);
    NEXT();
  }
  CASE(DICT_SPREAD) {
    Value v = POP();
    ObjDict *src;
    if (IS_DICT(v)) src = AS_DICT(v);
    else if (IS_STRUCT(v) && AS_STRUCT(v)->fields) src = AS_STRUCT(v)->fields;
    else {
      SYNC();
      destruct_error(vm, v, true);
      THROW();
    }
    ObjDict *dst = AS_DICT(sp[-1]);
    for (uint32_t i = 0; i < src->count; i++) dict_set(vm, dst, src->entries[i].key, src->entries[i].value);
    NEXT();
  }
  CASE(RANGE) {
    bool excl = READ_BYTE();
    Value a = sp[-2], b = sp[-1];
    if (!IS_INT(a) || !IS_INT(b)) {
      SYNC();
      err_type(vm, "range bounds must be integers, got %s and %s", val_type_name(a), val_type_name(b));
      THROW();
    }
    sp[-2] = OBJ_VAL(range_new(vm, AS_INT(a), AS_INT(b), excl));
    sp--;
    NEXT();
  }
  CASE(INTERP) {
    int n = READ_BYTE();
    ObjString *s = val_concat_display(vm, sp - n, n);
    sp -= n;
    PUSH(OBJ_VAL(s));
    NEXT();
  }
  CASE(MAKE_STRUCT) {
    uint16_t g = READ_U16();
    Global *gl = &in->globals[g];
    ObjDict *fields = AS_DICT(sp[-1]);
    ObjStruct *s;
    if (gl->defined && IS_OBJ_TYPE(gl->value, OBJ_STRUCT_TYPE))
      s = struct_new(vm, AS_STRUCT_TYPE(gl->value), NULL, fields);
    else
      s = struct_new(vm, NULL, gl->name, fields);
    sp[-1] = OBJ_VAL(s);
    NEXT();
  }
  CASE(IMPL_METHOD) {
    uint16_t g = READ_U16();
    uint16_t k = READ_U16();
    Global *gl = &in->globals[g];
    if (!gl->defined || !IS_OBJ_TYPE(gl->value, OBJ_STRUCT_TYPE)) {
      /* impl before (or without) its struct: a type to hold the methods */
      gl->value = OBJ_VAL(struct_type_new(vm, gl->name, 0));
      gl->defined = true;
    }
    ObjStructType *t = AS_STRUCT_TYPE(gl->value);
    if (!t->methods) t->methods = dict_new(vm, 4);
    dict_set(vm, t->methods, AS_STRING(consts[k]), POP());
    NEXT();
  }

  /* ---- properties, indexing ---- */
  CASE(GET_PROP_L) {
    /* GET_LOCAL_BORROW s; GET_PROP k o i: the cache hit reads the local in
     * place, anything else pushes it (borrowed) and runs GET_PROP */
    Value x = slots[rd16(ip)];
    if (LIKELY(IS_OBJ(x))) {
      ObjType ot = OBJ_TYPE(x);
      ObjDict *d = ot == OBJ_DICT ? AS_DICT(x) : ot == OBJ_STRUCT ? AS_STRUCT(x)->fields : NULL;
      uint32_t pos = ip[5];
      if (LIKELY(d && pos < d->count && (Obj *)d->entries[pos].key == consts[rd16(ip + 2)].as.o)) {
        PUSH(d->entries[pos].value);
        ip += 6;
        NEXT();
      }
    }
    PUSH(x);
    ip += 2;
    goto get_prop;
  }
  CASE(GET_PROP)
  get_prop: {
    Value x = sp[-1];
    if (LIKELY(IS_OBJ(x))) {
      /* dicts and struct fields: the inline cache hit, without decoding
       * the other operands */
      ObjType ot = OBJ_TYPE(x);
      ObjDict *d = ot == OBJ_DICT ? AS_DICT(x) : ot == OBJ_STRUCT ? AS_STRUCT(x)->fields : NULL;
      uint32_t pos = ip[3];
      if (LIKELY(d && pos < d->count && (Obj *)d->entries[pos].key == consts[rd16(ip)].as.o)) {
        sp[-1] = d->entries[pos].value;
        ip += 4;
        NEXT();
      }
    }
    uint16_t k = READ_U16();
    bool opt = READ_BYTE();
    uint8_t *ic = ip++;
    ObjString *name = AS_STRING(consts[k]);
    Value out = NIL_VAL;
    if (LIKELY(IS_OBJ(x)) && (OBJ_TYPE(x) == OBJ_DICT || OBJ_TYPE(x) == OBJ_STRUCT)) {
      /* dicts and struct fields: through the inline cache (a missing key
       * gives nil, as op_get_prop does) */
      ObjDict *d = OBJ_TYPE(x) == OBJ_DICT ? AS_DICT(x) : AS_STRUCT(x)->fields;
      DictEntry *e = d ? ic_lookup(d, name, ic) : NULL;
      if (e) out = e->value;
    } else if (IS_OBJ_TYPE(x, OBJ_ENUM_TYPE)) {
      ObjEnumType *t = AS_ENUM_TYPE(x);
      uint32_t i = 0;
      while (i < t->nvariants && !str_eq(t->variants[i], name)) i++;
      if (i == t->nvariants) {
        if (!opt) {
          SYNC();
          err_runtime(vm, "Unknown variant %s.%s", t->name->chars, name->chars);
          THROW();
        }
      } else if (t->arity[i] == 0) {
        out = OBJ_VAL(enum_new(vm, t->name, t->variants[i], 0));
      } else {
        out = OBJ_VAL(bound_new(vm, x, OBJ_VAL(name)));
      }
    } else if (IS_OBJ_TYPE(x, OBJ_STRUCT_TYPE)) {
      ObjStructType *t = AS_STRUCT_TYPE(x);
      if (t->methods) dict_get(t->methods, name, &out);
    } else {
      SYNC();
      if (!op_get_prop(vm, x, name, opt, &out)) THROW();
    }
    sp[-1] = out;
    NEXT();
  }
  /* SET_PROP_OWN / SET_INDEX_OWN: copy-on-write updates of a mutable local
   * (value.h): the receiver was pushed by GET_LOCAL_BORROW and the result
   * goes to SET_LOCAL of the same slot */
  CASE(SET_PROP)
  CASE(SET_PROP_OWN) {
    bool own = ip[-1] == OP_SET_PROP_OWN;
    uint16_t k = READ_U16();
    Value out;
    SYNC();
    if (!(own ? op_set_prop_own : op_set_prop)(vm, sp[-1], AS_STRING(consts[k]), sp[-2], &out))
      THROW();
    sp[-2] = out;
    sp--;
    NEXT();
  }
  CASE(GET_INDEX) {
    bool opt = READ_BYTE();
    Value x = sp[-2], i = sp[-1];
    Value out = NIL_VAL;
    if (IS_LIST(x) && IS_INT(i)) {
      ObjList *l = AS_LIST(x);
      int64_t n = AS_INT(i);
      if (n < 0) n += l->count;
      if (n >= 0 && n < (int64_t)l->count) out = l->items[n];
    } else if (IS_DICT(x) && IS_STRING(i)) {
      /* op_index's dict case without its key conversion (a string key is
       * its own display) */
      Value v;
      if (dict_get(AS_DICT(x), AS_STRING(i), &v)) out = v;
    } else if (!(opt && IS_NIL(x))) {
      SYNC();
      if (!op_index(vm, x, i, &out)) THROW();
    }
    sp[-2] = out;
    sp--;
    NEXT();
  }
  CASE(SET_INDEX)
  CASE(SET_INDEX_OWN) {
    bool own = ip[-1] == OP_SET_INDEX_OWN;
    Value out;
    SYNC();
    if (!(own ? op_set_index_own : op_set_index)(vm, sp[-2], sp[-1], sp[-3], &out)) THROW();
    sp[-3] = out;
    sp -= 2;
    NEXT();
  }
  CASE(PUSH_OWN) {
    uint16_t k = READ_U16();
    SAFE_POINT();
    Value out;
    if (LIKELY(op_push_own(vm, sp[-2], sp[-1], &out))) {
      sp[-2] = out;
      sp--;
      NEXT();
    }
    /* not a list: the ordinary method call, which may keep the receiver */
    val_share(sp[-2]);
    SYNC();
    if (!invoke_method(vm, AS_STRING(consts[k]), 1)) THROW();
    RELOAD();
    NEXT();
  }
  CASE(SLICE) {
    Value out;
    SYNC();
    if (!op_slice(vm, sp[-3], sp[-2], sp[-1], &out)) THROW();
    sp[-3] = out;
    sp -= 2;
    NEXT();
  }

  /* ---- exceptions ---- */
  CASE(THROW) {
    Value v = POP();
    SYNC();
    err_throw(vm, v);
    THROW();
  }
  CASE(SETUP_TRY) {
    uint32_t t = READ_U32();
    uint16_t k = READ_U16();
    if (in->nhandlers >= in->handlercap) {
      in->handlercap = in->handlercap ? in->handlercap * 2 : 16;
      in->handlers = realloc(in->handlers, sizeof(Handler) * (size_t)in->handlercap);
      if (!in->handlers) abort();
    }
    Handler *h = &in->handlers[in->nhandlers++];
    h->catch_ip = frame->fn->chunk.code + t;
    h->type = k != NO_CONST ? AS_STRING(consts[k]) : NULL;
    h->sp = (int)(sp - in->stack);
    h->depth = in->nframes;
    h->ndeadlines = in->ndeadlines;
    h->npermits = in->npermits;
    NEXT();
  }
  CASE(POP_HANDLER) {
    if (in->nhandlers > in->handler_base) in->nhandlers--;
    NEXT();
  }
  CASE(WRAP_OK) {
    Value v = sp[-1];
    if (!is_result_ok(v) && !is_result_err(v)) sp[-1] = enum_ok(vm, v);
    NEXT();
  }
  CASE(WRAP_ERR) sp[-1] = enum_err(vm, sp[-1]); NEXT();
  CASE(TRY_UNWRAP) {
    uint32_t t = READ_U32();
    Value v = sp[-1];
    if (is_result_ok(v)) {
      ObjEnum *e = AS_ENUM(v);
      sp[-1] = e->nfields ? e->fields[0] : NIL_VAL;
      ip = frame->fn->chunk.code + t;
    } else if (!is_result_err(v)) {
      SYNC();
      err_type(vm, "? operator requires a Result value, got %s", val_type_name(v));
      THROW();
    }
    NEXT();
  }
  CASE(RAISE) {
    uint8_t kind = READ_BYTE();
    uint16_t k = READ_U16();
    SYNC();
    err_set(vm, (ErrKind)kind, consts[k]);
    THROW();
  }
  CASE(NO_MATCH) {
    SYNC();
    err_throw_str(vm, "No match arm matched the value");
    THROW();
  }

  /* ---- loops, patterns, destructuring ---- */
  CASE(FOR_PREP) {
    uint16_t s = READ_U16();
    Value x = POP();
    if (IS_OBJ(x)) {
      switch (OBJ_TYPE(x)) {
      case OBJ_RANGE: {
        /* ranges run as two ints: the next value and the items left
         * (FOR_NEXT's first test), so no range_len per iteration */
        ObjRange *r = AS_RANGE(x);
        slots[s] = INT_VAL(r->start);
        slots[s + 1] = INT_VAL(range_len(r));
        NEXT();
      }
      case OBJ_LIST:
      case OBJ_SET:
      case OBJ_DICT:
      case OBJ_ITER: break;
      case OBJ_NATIVE:
        /* generators, streams and channels registered an iterator
         * kind with iter_register_native; other natives are not iterable */
        if (iter_accepts(x)) {
          SYNC();
          if (!iter_from(vm, x, &x)) THROW();
        } else {
          x = NIL_VAL;
        }
        break;
      default: x = NIL_VAL; break;
      }
    } else {
      x = NIL_VAL;
    }
    slots[s] = x;
    slots[s + 1] = INT_VAL(0);
    NEXT();
  }
  CASE(FOR_NEXT) {
    uint16_t s = READ_U16();
    uint32_t t = READ_U32();
    Value src = slots[s];
    int64_t i = AS_INT(slots[s + 1]);
    if (LIKELY(IS_INT(src))) {
      /* a range (FOR_PREP): src the next value, i the items left */
      if (i <= 0) {
        ip = frame->fn->chunk.code + t;
        NEXT();
      }
      PUSH(src);
      slots[s] = INT_VAL((int64_t)((uint64_t)AS_INT(src) + 1));
      slots[s + 1] = INT_VAL(i - 1);
      NEXT();
    }
    if (IS_NIL(src)) {
      ip = frame->fn->chunk.code + t;
      NEXT();
    }
    switch (OBJ_TYPE(src)) {
    case OBJ_LIST: {
      ObjList *l = AS_LIST(src);
      if (i >= (int64_t)l->count) goto for_done;
      PUSH(l->items[i]);
      break;
    }
    case OBJ_SET: {
      ObjSet *st = AS_SET(src);
      if (i >= (int64_t)st->count) goto for_done;
      PUSH(st->items[i]);
      break;
    }
    case OBJ_DICT: {
      ObjDict *d = AS_DICT(src);
      if (i >= (int64_t)d->count) goto for_done;
      ObjDict *e = dict_new(vm, 2);
      dict_set_cstr(vm, e, "key", OBJ_VAL(d->entries[i].key));
      dict_set_cstr(vm, e, "value", d->entries[i].value);
      PUSH(OBJ_VAL(e));
      break;
    }
    case OBJ_ITER: {
      Value out;
      SYNC();
      int got = iter_next(vm, src, &out);
      if (got < 0) THROW();
      if (got == 0) goto for_done;
      PUSH(out);
      break;
    }
    default: goto for_done;
    }
    slots[s + 1] = INT_VAL(i + 1);
    NEXT();
  for_done:
    ip = frame->fn->chunk.code + t;
    NEXT();
  }
  CASE(DESTRUCT_DICT)
  CASE(DESTRUCT_LIST) {
    bool dict = ip[-1] == OP_DESTRUCT_DICT;
    if (dict ? !IS_DICT(sp[-1]) : !IS_LIST(sp[-1])) {
      SYNC();
      destruct_error(vm, sp[-1], dict);
      THROW();
    }
    NEXT();
  }
  CASE(DICT_REST) {
    uint16_t k = READ_U16();
    ObjList *keys = AS_LIST(consts[k]);
    ObjDict *d = dict_copy(vm, AS_DICT(sp[-1]));
    for (uint32_t i = 0; i < keys->count; i++) dict_remove(d, AS_STRING(keys->items[i]));
    sp[-1] = OBJ_VAL(d);
    NEXT();
  }
  CASE(LIST_REST) {
    uint16_t n = READ_U16();
    ObjList *l = AS_LIST(sp[-1]);
    ObjList *r = list_new(vm, l->count > n ? l->count - n : 0);
    for (uint32_t i = n; i < l->count; i++) list_push(vm, r, l->items[i]);
    sp[-1] = OBJ_VAL(r);
    NEXT();
  }
  CASE(UNPACK_PAIR) {
    Value x = sp[-1], a = NIL_VAL, b = NIL_VAL;
    if (IS_PAIR(x)) {
      a = AS_PAIR(x)->first;
      b = AS_PAIR(x)->second;
    } else if (IS_LIST(x)) {
      ObjList *l = AS_LIST(x);
      if (l->count > 0) a = l->items[0];
      if (l->count > 1) b = l->items[1];
    } else if (IS_DICT(x)) {
      dict_get_cstr(AS_DICT(x), "key", &a);
      dict_get_cstr(AS_DICT(x), "value", &b);
    } else {
      SYNC();
      err_type(vm, "cannot destructure %s with (a, b) pattern \xe2\x80\x94 expected pair",
               val_type_name(x));
      THROW();
    }
    sp[-1] = a;
    PUSH(b);
    NEXT();
  }
  CASE(MATCH_ENUM) {
    uint16_t k1 = READ_U16();
    uint16_t k2 = READ_U16();
    Value x = sp[-1];
    bool r = IS_ENUM(x) && AS_ENUM(x)->enum_name && str_eq(AS_ENUM(x)->enum_name, AS_STRING(consts[k1])) &&
             str_eq(AS_ENUM(x)->variant, AS_STRING(consts[k2]));
    sp[-1] = BOOL_VAL(r);
    NEXT();
  }
  CASE(ENUM_FIELD) {
    uint16_t i = READ_U16();
    Value x = sp[-1];
    sp[-1] = IS_ENUM(x) && i < AS_ENUM(x)->nfields ? AS_ENUM(x)->fields[i] : NIL_VAL;
    NEXT();
  }
  CASE(IS_DICT) sp[-1] = BOOL_VAL(IS_DICT(sp[-1])); NEXT();
  CASE(LIST_LEN_GE) {
    uint16_t n = READ_U16();
    Value x = sp[-1];
    sp[-1] = BOOL_VAL(IS_LIST(x) && AS_LIST(x)->count >= n);
    NEXT();
  }
  /* ---- concurrency, deadlines, generators (sched.c) ---- */
  /* The blocking ones may switch fibers: `in` then holds another fiber's
   * state until this one is resumed, with its own state loaded again; the
   * locals (ip, sp, frame) stay valid because every fiber has its own
   * operand stack and frames. SET_MODE() picks up a changed counting mode. */
  CASE(SPAWN) {
    SYNC();
    Value h;
    if (!sched_spawn(vm, sp[-1], &h)) THROW();
    sp[-1] = h;
    NEXT();
  }
  CASE(PARALLEL) {
    uint8_t mode = READ_BYTE();
    uint8_t flags = READ_BYTE();
    SAFE_POINT();
    SYNC();
    Value out;
    bool ok = sched_parallel(vm, mode, flags & 1, sp[-3], sp[-2], sp[-1], &out);
    SET_MODE();
    if (!ok) THROW();
    sp -= 2;
    sp[-1] = out;
    NEXT();
  }
  CASE(DEADLINE_SETUP) {
    SYNC();
    if (!sched_deadline_push(vm, sp[-1])) THROW();
    sp--;
    SET_MODE();
    NEXT();
  }
  CASE(DEADLINE_END) {
    if (in->ndeadlines > 0 && --in->ndeadlines == 0) {
      interp_update_modes(vm);
      SET_MODE();
    }
    NEXT();
  }
  CASE(MUTEX_ENTER) {
    SYNC();
    bool ok = sched_mutex_enter(vm, sp[-1]);
    SET_MODE();
    if (!ok) THROW();
    sp--;
    NEXT();
  }
  CASE(MUTEX_EXIT) {
    if (in->npermits > 0) sched_mutex_release(vm, in->permits[--in->npermits].mutex);
    NEXT();
  }
  CASE(SELECT) {
    int n = READ_BYTE();
    int mode = READ_BYTE();
    int total = n + (mode == 1);
    SAFE_POINT();
    SYNC();
    Value val = NIL_VAL;
    int idx = -1;
    bool ok = sched_select(vm, sp - total, n, mode, mode == 1 ? sp[-1] : NIL_VAL, &val, &idx);
    SET_MODE();
    if (!ok) THROW();
    sp -= total;
    PUSH(val);
    PUSH(INT_VAL(idx));
    NEXT();
  }
  CASE(YIELD) {
    SYNC();
    bool ok = sched_gen_yield(vm, sp[-1]);
    SET_MODE();
    if (!ok) THROW();
    sp[-1] = NIL_VAL;
    NEXT();
  }

  LOOP_END

#if VM_COMPUTED_GOTO
L_COUNTED:
  /* counting mode: the instruction at ip-1 runs only if the hook allows
   * (a fused one counts as the instructions it replaces) */
  {
    int adv = count_weighted(vm, ip[-1]);
    if (adv >= 0) {
      ip += adv;
      SET_MODE();
      THROW();
    }
  }
  goto *labels[ip[-1]];
#endif

throw_error:
  /* `frame` is still the top frame here (failed calls push nothing and
   * callbacks unwind what they pushed) */
  frame->ip = ip;
  in->sp = sp;
  switch (handle_error(vm, target)) {
  case HANDLED_CATCH:
    SET_MODE();
    RELOAD();
    goto resume;
  case HANDLED_RETURN: return true;
  default: return false;
  }

#undef READ_BYTE
#undef READ_U16
#undef READ_U32
#undef PUSH
#undef POP
#undef PEEK
#undef SYNC
#undef RELOAD
#undef THROW
#undef SAFE_POINT
#undef SET_MODE
#undef DISPATCH
#undef CASE
#undef NEXT
#undef LOOP_BEGIN
#undef LOOP_END
#undef BINARY_SLOW
#undef ARITH_STORE
}

bool interp_run_main(Vm *vm, ObjFunction *fn)
{
  Interp *in = vm->interp;
  in->sp = in->stack;
  in->nframes = 0;
  in->nhandlers = 0;
  in->handler_base = 0;
  ObjClosure *cl = closure_new(vm, fn, NIL_VAL);
  in->main_closure = OBJ_VAL(cl);
  *in->sp++ = OBJ_VAL(cl);
  if (!push_frame(vm, cl, 0)) {
    capture_trace(vm);
    return false;
  }
  bool ok = run(vm, 0);
  if (ok) {
    in->result = in->sp[-1];
    in->has_result = true;
  } else {
    in->result = NIL_VAL;
    in->has_result = false;
  }
  in->sp = in->stack;
  in->nframes = 0;
  return ok;
}

Value vm_result_value(Vm *vm) { return vm->interp && vm->interp->has_result ? vm->interp->result : NIL_VAL; }

/* ---- output ------------------------------------------------------------------------ */

void vm_write(Vm *vm, int stream, const char *data, size_t len)
{
  /* docs/LANGUAGE.md 13: a task's stdout is buffered until it is joined */
  if (stream == 1 && sched_buffer_output(vm, data, len)) return;
  vm_write_raw(vm, stream, data, len);
}

void vm_write_raw(Vm *vm, int stream, const char *data, size_t len)
{
  if (vm->cfg.write) {
    vm->cfg.write(vm->cfg.write_ud, stream, data, len);
    return;
  }
  if (stream == 2) {
    fflush(stdout);
    fwrite(data, 1, len, stderr);
  } else {
    fwrite(data, 1, len, stdout);
  }
}
