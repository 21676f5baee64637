/*
 * interp.h: the interpreter's internal state and services, shared by
 * interp.c (the dispatch loop), compiler.c (which allocates globals and
 * emits bytecode for this machine), module.c (the vm.h entry points) and
 * debug.c (the disassembler). Code outside vm/ never sees it.
 *
 * Machine model (see the design comment of interp.c for the details):
 *  - One fixed operand stack of Values per fiber (the root task's, and one
 *    per spawned task and per generator: ExecState). A frame's callee sits at slots[-1],
 *    its local slots (parameters first) are slots[0 .. fn->nlocals), its
 *    operands follow. Locals are resolved to slot numbers at compile time.
 *  - At most INTERP_MAX_FRAMES live frames (docs/RUNTIME.md 1.2), callback
 *    frames included.
 *  - Globals are a per-module array indexed by numbers the compiler
 *    assigns per name (interp_global_index); a slot is "defined" once its
 *    declaration ran, so undefined names are run-time errors.
 *  - Handler records (docs/RUNTIME.md 2.1) live in their own stack; vm_call
 *    hides the caller's records by moving `handler_base`.
 *  - The attention word is non-zero while the slow poll has something to
 *    do (a host signal, a countdown, a memory limit, GC stress); together
 *    with heap.gc_pending it is all a safe point tests on the fast path.
 */
#ifndef HARN_INTERP_H
#define HARN_INTERP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "state.h"
#include "value.h"

/* ---- opcodes (generated from opcodes.def) ---------------------------- */

#define STACK_VAR 99 /* stack effect depends on an operand */

typedef enum {
#define OP(name, bytes, effect, meaning) OP_##name,
#include "opcodes.def"
#undef OP
  NUM_OPS
} Opcode;

extern const char *const interp_op_names[NUM_OPS];
extern const uint8_t interp_op_operands[NUM_OPS];
extern const int8_t interp_op_effects[NUM_OPS];

#define NO_CONST 0xffff /* "no constant" in u16 constant operands */

/* ---- limits ----------------------------------------------------------- */

#define INTERP_MAX_FRAMES 512       /* docs/RUNTIME.md 1.2 */
#define INTERP_STACK_VALUES (1 << 18)/* operand stack (4 MiB, plain malloc) */
#define INTERP_MAX_OPERANDS 1024    /* per-frame operand depth the compiler
                                       guarantees (checked when compiling) */
#define INTERP_COUNTDOWN 1024       /* instruction grace after a host cancel */
#define INTERP_FINAL_RESERVE_MS 25  /* hard stop this long before the kill */

/* ---- state ------------------------------------------------------------- */

typedef struct Frame {
  ObjClosure *closure;
  ObjFunction *fn;
  uint8_t *ip;      /* next instruction (saved when the frame is not running) */
  Value *slots;     /* slot 0; the callee is at slots[-1] */
  int argc;         /* arguments actually passed (drives defaults) */
} Frame;

typedef struct Handler {
  uint8_t *catch_ip;
  ObjString *type;  /* typed catch: enum name; NULL = catch everything */
  int sp;           /* operand height (index into the stack) */
  int depth;        /* frame count when set up */
  int ndeadlines;   /* deadline / permit stack heights when set up: a catch */
  int npermits;     /* cuts both back (docs/RUNTIME.md 4, 6 "catch rule") */
} Handler;

/* One `deadline DUR { }` entry (docs/RUNTIME.md 4). */
typedef struct Deadline {
  int64_t at;       /* monotonic ms (sched_now) */
  int depth;        /* frame count at setup; 0 = inherited by a task */
  bool fired;
  uint64_t mark;    /* task spawn counter at setup */
} Deadline;

/* A held `mutex` permit (docs/RUNTIME.md 6), released when the block ends, its
 * frame pops, a catch cuts below it, or its task ends. */
typedef struct Permit {
  void *mutex;      /* sched.c's lock record */
  int depth;        /* frame count at acquisition */
} Permit;

/* The per-fiber part of the interpreter state (docs/RUNTIME.md 1.1 "per task"):
 * while a fiber runs, these live in struct Interp; when it is switched out
 * they are saved here (interp_state_save / interp_state_load). The heap's
 * temp-root stack is per fiber too. */
typedef struct ExecState {
  Value *stack, *sp, *stack_end;
  Frame *frames;
  int nframes;
  Handler *handlers;
  int nhandlers, handlercap, handler_base;
  Deadline *deadlines;
  int ndeadlines, deadlinecap;
  Permit *permits;
  int npermits, permitcap;
  Value *troots;    /* saved temp roots (heap.temp_roots) */
  int ntroots, trootcap;
} ExecState;

typedef struct Global {
  ObjString *name;
  Value value;
  bool defined;
  bool mutable_;
  bool is_let;      /* defined by `let` (redeclaring with `let` is an error) */
  int builtin;      /* builtin_lookup(name), -1 if none (fallback) */
} Global;

/* Attention bits (interp->attention). */
enum {
  ATTN_SIGNAL = 1,  /* vm_interrupt was called */
  ATTN_MODES = 2,   /* memory limit / GC stress / counting: always poll */
  ATTN_TIMER = 4    /* a deadline is active: read the clock at safe points */
};

typedef struct Interp {
  /* operand stack */
  Value *stack;
  Value *sp;
  Value *stack_end;

  /* frames (INTERP_MAX_FRAMES entries, per fiber) */
  Frame *frames;
  int nframes;
  int peak_frames;

  /* handler records */
  Handler *handlers;
  int nhandlers, handlercap;
  int handler_base;   /* records below this belong to an outer run (vm_call) */

  /* deadline entries and held mutex permits of the running fiber */
  Deadline *deadlines;
  int ndeadlines, deadlinecap;
  Permit *permits;
  int npermits, permitcap;

  /* scheduler (sched.c): tasks, generators, channels, mutexes */
  struct Sched *sched;
  int64_t cancel_seen_ms; /* when the host cancellation was first seen */

  /* globals of the main module */
  Global *globals;
  int nglobals, globalcap;
  int *gindex;        /* open-addressing name -> global index (+1), 0 = empty */
  int gindexcap;

  /* the run */
  Value main_closure; /* rooted while the program runs */
  Value input;        /* the job input */
  Value result;       /* the run's value */
  bool has_result;
  bool running;       /* inside vm_run_source */

  /* the last run's texts (module.c; malloc'd, NULL when none) */
  char *error_text;   /* display text with the line suffix */
  size_t source_len;  /* bytes of `source` (it may contain NUL bytes) */
  char *diagnostic;   /* docs/RUNTIME.md 3.4 rendering */
  char *source;       /* NUL-terminated copy of the entry source */
  char *path;         /* entry file name */
  int exit_code;

  /* trace of the pending error (docs/RUNTIME.md 3.3), outermost first */
  TraceEntry *trace;
  int ntrace, tracecap;

  /* limits, counting, interrupts */
  volatile sig_atomic_t attention;
  volatile sig_atomic_t sig_pending; /* signal number from vm_interrupt */
  int64_t hard_stop_at; /* docs/RUNTIME.md 5.6: under a supervisor, the instant
                           (sched_now ms) the run is abandoned: kill_at
                           minus the final-frame reserve; 0 = not armed */
  bool hard_stopped;    /* the run was abandoned by the hard stop */
  int first_signal;                  /* first signal recorded (0 = none) */
  bool cancel_requested;
  bool cancelled;                    /* sticky: is_cancelled() */
  bool counting;                     /* count instructions (slow mode) */
  int countdown;                     /* > 0: instructions left before cancel */
  int task_countdown;                /* > 0: instructions left before the running
                                        task's cancel_graceful (docs/RUNTIME.md 6);
                                        per task, swapped by sched.c */
  uint64_t instructions;
  uint64_t slow_polls;               /* debug counter: slow-poll calls */

  /* steps (steps.c, docs/RUNTIME.md 7) */
  struct Steps *steps;               /* NULL until a step registers */
  int steps_open;                    /* open step invocations (all fibers) */
  uint64_t step_check_at;            /* run steps_check when instructions
                                        reaches this (UINT64_MAX: never) */
} Interp;

/* ---- services (interp.c) ------------------------------------------------ */

/* Allocate / free the interpreter state of [vm]. */
void interp_init(Vm *vm);
void interp_free(Vm *vm);
/* Forget the previous run: stack, frames, handlers, globals, trace. */
void interp_reset(Vm *vm);

/* The global index of [name] (created undefined when new). */
int interp_global_index(Vm *vm, const char *name, size_t len);

/* Run [fn] (the compiled main chunk) as the root run. Returns true with
 * interp->result set, or false with the error pending and the trace set. */
bool interp_run_main(Vm *vm, ObjFunction *fn);

/* Save the running fiber's state into [st] / make [st] the running state
 * (sched.c switches fibers with these). */
void interp_state_save(Vm *vm, ExecState *st);
void interp_state_load(Vm *vm, const ExecState *st);
/* Mark the values a saved state holds. */
void interp_state_mark(Vm *vm, const ExecState *st);
/* Drop deadline entries and release permits deeper than frame count [d]. */
void interp_scope_cut(Vm *vm, int d);
/* vm_call of closure [cl] that runs its body even when it is a generator
 * function (used by the generator's fiber). */
bool interp_call_direct(Vm *vm, ObjClosure *cl, int argc, Value *argv, Value *out);
/* Forget the trace of the pending error (a task's error moves to its
 * handle; the awaiter captures its own). */
void interp_clear_trace(Vm *vm);
/* The hard stop (docs/RUNTIME.md 5.6): mark the run abandoned and set the
 * uncatchable error that unwinds it; returns false. */
bool interp_hard_stop(Vm *vm);
/* A safe point for blocking operations: run the slow poll if anything is
 * pending. False with the error set when the operation must fail. */
bool interp_safe_point(Vm *vm);

/* Recompute interp->attention / counting from the configuration. */
void interp_update_modes(Vm *vm);

/* Has the run been cancelled by the host (is_cancelled())? */
bool interp_is_cancelled(Vm *vm);

/* Source line / column of byte offset [off] of [fn]'s chunk (0 if unknown). */
int interp_line_at(const ObjFunction *fn, long off);

/* ---- disassembler (debug.c) --------------------------------------------- */

/* Append the disassembly of [fn] and of every function in its constants,
 * recursively, to [out]. */
void dbg_disasm_function(Vm *vm, ObjFunction *fn, Buf *out);
/* Disassemble the one instruction at [off]; returns the next offset. */
long dbg_disasm_instruction(Vm *vm, ObjFunction *fn, long off, Buf *out);

#endif
