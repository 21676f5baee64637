/*
 * state.h: the definition of struct Vm, shared by the files of vm/.
 *
 * The first fields (heap, config, error slot) are used by every module;
 * the interpreter's own state follows and belongs to interp.c and the
 * compiler (see the design comment in interp.c). Everything a VM changes
 * lives here or below it (the builtins' clock, random generator and
 * channel list included), never in a static, so that several VMs of one
 * process are independent; the few process-wide values left say why in
 * their own comment (interp.c's deadline timer, sched.c's boot_vm,
 * builtins.c's elapsed() origin, the native registries of iter.c/ops.c). Code outside vm/ never
 * sees this header: it uses the opaque Vm of vm.h.
 */
#ifndef HARN_STATE_H
#define HARN_STATE_H

#include "error.h"
#include "gc.h"
#include "value.h"
#include "vm.h"

struct Vm {
  Heap heap;
  VmConfig cfg;

  /* The pending error (error.h). */
  ErrKind err_kind;
  Value err_value;

  /* ---- interpreter state (interp.c) ---- */
  struct Interp *interp;

  /* ---- modules loaded by the current run (import.c) ---- */
  struct ImpRegistry *imports;

  /* ---- interrupt handlers and finish lifecycle (lifecycle.h; NULL until
   * first used, emptied at the start of every run) ---- */
  struct Lifecycle *lifecycle;

  /* ---- state of builtins that outlives one call. It lives here, not in
   * statics, so that two VMs of one process (the unit tests run several)
   * never see each other's random sequence, mock clock or channels; it
   * persists across the runs of one VM and is freed by vm_free. ---- */
  uint64_t rng_state;         /* random(): xorshift64* state, 0 = not seeded
                                 yet (builtins.c) */
  struct BiClock *clock;      /* mock clock and named timers (builtins.c);
                                 NULL until a time builtin runs */
  struct StdRegexCache *regex_cache; /* compiled patterns (std_regex.c);
                                        NULL until a regex builtin runs */
  struct Chan *live_chans;    /* every channel whose object is alive, linked
                                 by the channel (channel.c) */
  struct HostFs *hostfs;      /* the file builtins' counters and refusals
                                 (host_fs.c); NULL until one runs */
  struct LlmState *llm;       /* LLM totals, budget, mocks and call log
                                 (llm.h); NULL until an LLM builtin runs */
  struct HostCalls *hostcalls; /* host calls in flight and the HTTP mocks
                                 (host_call.c, host_net.c); NULL until used */
  bool *denied;               /* builtin index -> refused (VmFsConfig.deny,
                                 `Tool 'X' is not permitted.`); NULL: none */
};

/* ---- services the interpreter offers to builtins (interp.c) ---- */

/* Call [callee] (closure, builtin, bound method, struct/enum constructor)
 * with [argc] arguments as a callback (docs/RUNTIME.md 1.4): runs to completion
 * on the same frame stack. Returns false with the VM error set if the
 * callee failed or [callee] is not callable. The caller must root any heap
 * object it holds across this call (gc.h). */
bool vm_call(Vm *vm, Value callee, int argc, Value *argv, Value *out);
/* Can [v] be called (closure, builtin, bound method)? */
bool vm_is_callable(Value v);
/* The value the last run produced (nil when none or after an error). */
Value vm_result_value(Vm *vm);
/* Program output: [stream] 1 = stdout, 2 = stderr. */
void vm_write(Vm *vm, int stream, const char *data, size_t len);

#endif
