/*
 * sched.c: the single-threaded cooperative scheduler of the VM (sched_):
 * fibers, tasks (spawn, await, cancel, parallel), blocking waits, sleep,
 * deadlines, mutexes, and generators / streams (docs/LANGUAGE.md 13, 14;
 * docs/RUNTIME.md 4, 5.4, 6). Channels, select and atomics are in channel.c.
 *
 * Fibers
 * ------
 * Every task and every generator runs on a fiber: a C stack of its own
 * (mmap'd, MAP_NORESERVE, with a PROT_NONE guard page below it) plus the
 * interpreter's per-fiber state (ExecState of interp.h: operand stack,
 * frames, handler records, deadline entries, mutex permits, temp roots).
 * The root task runs on the process stack with the state interp_init made.
 * A switch saves the running state into the outgoing Ctx, loads the
 * incoming one into struct Interp and swaps C contexts. We use
 * ucontext's swapcontext: portable and understood by ASan (annotated with
 * __sanitizer_{start,finish}_switch_fiber), at the cost of one
 * rt_sigprocmask system call per switch (~0.3 us). Switches happen only
 * when a task blocks or a generator is pulled / yields, never per
 * instruction, so that cost is acceptable; an assembly switch can replace
 * ctx_switch() without touching anything else.
 *
 * Memory. A task's fiber is made when it first runs and freed when it ends
 * (a generator's: at its first pull, and when it ends or is collected);
 * while it lives it counts FIBER_CHARGE (its operand stack and frames as
 * allocated, 1 MiB of C stack) against the memory limit (gc.h
 * mem_account), like the task records (mem_alloc) and a task's buffered
 * output. So live fibers cannot grow past --memory: the task or generator
 * that goes over fails at its first safe point with the memory error, which
 * ends the run (a task's memory error dooms it even unawaited). When the
 * stacks cannot be had at all (mmap or malloc fails), the task ends with
 * the memory error without running. The stacks of ended fibers are kept
 * for reuse (FIBER_SPARES; uncounted).
 *
 * C stack guard: sched_stack_ok() tells recursive C code (display, JSON,
 * iterator pulls) whether the running fiber's C stack still has room; each
 * Ctx knows the lowest address it may reach (a fiber's mapping plus a
 * margin; for the root, RLIMIT_STACK up to 8 MiB below where the run
 * started).
 *
 * Invariants
 *  - Exactly one Ctx is "loaded" (s->loaded): its state lives in Interp,
 *    its saved copy is stale. Marking uses Interp for it and the saved
 *    copies for every other live Ctx (sched_mark, gen_mark).
 *  - s->current is the running task; current->cur is the Ctx running for
 *    it: its own, or a generator's that it is pulling.
 *  - A fiber never frees its own C stack: a finished one leaves itself in
 *    s->zombie and the fiber switched to frees it on arrival.
 *  - No switch happens while a VM error is pending: a finished task or
 *    generator moves its error into its record first.
 *  - A task's record lives until the run ends (handles, parents, parallel
 *    constructs point to it); Sched.all holds those that scans still need,
 *    in spawn order, Sched.retired the others (sched_mark retires them).
 *
 * Scheduling: a FIFO ready queue. A task runs until it blocks
 * (sched_block); the blocked task then runs the next ready task, or, with
 * none ready, sleeps in ppoll() (no descriptors: a host signal interrupts
 * it, and each sleep is at most WAIT_SLICE_MS) until the earliest timer
 * (sleep end, select timeout, deadline, in-flight grace of a host
 * cancellation). With VmConfig.fake_sleep the clock is virtual and jumps
 * to the next timer.
 * Waits re-check their condition after every wake (wakes may be spurious),
 * so waking is a broadcast to a WaitList -- except for mutexes (and the
 * sync_* primitives and mailboxes of builtins.c), which are FIFO: a
 * waiter stays queued until granted, only the first may take the
 * resource, and a release wakes just that one (sched_wake_first). When
 * nothing can ever wake any task in a standalone run (no timer, not
 * supervised) the blocked task fails with `Runtime error: deadlock: every
 * task is blocked` instead of hanging; a supervised worker waits for its
 * job deadline (docs/RUNTIME.md 6).
 *
 * Nothing here walks every task of the run per operation: the tasks
 * waiting with a timer are in a min-heap (Sched.timers), so finding the
 * next timer and waking the due tasks cost O(log n); cancelling a task's
 * descendants walks its subtree of the task tree (first_child /
 * next_sibling), which holds the live tasks and the ended ones that still
 * have live descendants. Spawning is O(1).
 *
 * Tasks: spawn queues the task (it starts when the spawner next
 * suspends); its output (stdout) goes to its own buffer, appended to the
 * awaiter's buffer -- or to the real output for the root -- when joined.
 * cancel() of a task that has not started finishes it at once; a started
 * one is flagged and made ready: its pending wait fails with an
 * uncatchable error, so its fiber unwinds with no bytecode run (no catch,
 * no finally) and its permits are released on the way out. Its live
 * descendants are cancelled the same way, in one walk of its subtree
 * (no recursion: a chain of tasks may be deep).
 * cancel_graceful() instead sets the task's own flag (is_cancelled() is
 * true in that task only) and starts its own 1024-instruction countdown:
 * Interp.task_countdown belongs to the running task, switch_task saves and
 * loads it (Task.tcountdown), so only that task's instructions count.
 * parallel_race (first finished task wins, the rest are cancelled) is here,
 * and the lazy `parallel ... as stream` (ParStream, par_pull: results in
 * completion order, Task.done_seq).
 *
 * Generators: calling a function containing `yield` (or a `gen fn`) makes
 * a Gen (interp.c's call_value); each pull switches to the generator's
 * fiber, and `yield`/`emit` switches back to the puller with the value.
 */
#define _GNU_SOURCE
#include "sched.h"

#include "host_call.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "ast.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "lifecycle.h"
#include "methods.h"
#include "object.h"
#include "state.h"
#include "steps.h"

#if defined(__SANITIZE_ADDRESS__)
#define SCHED_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCHED_ASAN 1
#endif
#endif
#ifdef SCHED_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define FIBER_STACK (8u << 20)
#define STACK_MARGIN (1u << 20)     /* kept free below sched_stack_ok's floor */
#else
#define FIBER_STACK (1u << 20)
#define STACK_MARGIN (128u << 10)
#endif

#define TASK_STACK_VALUES (1 << 16) /* operand stack of a task / generator */
#define CANCEL_GRACE_MS 250         /* docs/RUNTIME.md 5.4 in-flight grace */
#define WAIT_SLICE_MS 50            /* longest single poll() when idle */
#define ROOT_STACK_MAX (8u << 20)   /* stack the root task may use (at most) */

/* The stacks of up to FIBER_SPARES ended fibers are kept for the next ones
 * (mapping and freeing them cost more than running a short task). A spare
 * is not counted against the memory limit: it holds only the pages its last
 * user touched, at most FIBER_SPARES * FIBER_CHARGE. */
#define FIBER_SPARES 16

/* What a live fiber counts against the memory limit (mem_account): its
 * operand stack and frame array as allocated, and 1 MiB of C stack (the
 * reservation of a normal build; the same figure in sanitizer builds,
 * whose 8 MiB stacks only make room for the instrumentation). */
#define FIBER_CHARGE                                                           \
  ((size_t)(1u << 20) + sizeof(Value) * TASK_STACK_VALUES + sizeof(Frame) * INTERP_MAX_FRAMES)

/* ---- records ------------------------------------------------------------------ */

typedef struct Gen Gen;

typedef struct Ctx {
  ExecState st;
  ucontext_t uc;
  void *map;          /* C stack mapping (guard page first); NULL: process stack */
  size_t maplen;
  bool live;          /* st holds allocated stacks (fibers), charged FIBER_CHARGE */
  Gen *gen;           /* the generator this context runs, if any */
  Task *task;         /* the task whose own (malloc'd) context this is: freed
                         with its stacks, clearing task->ctx; NULL otherwise */
  char *floor;        /* recursion stops above this address (sched_stack_ok) */
  const void *asan_bottom;
  size_t asan_size;
  void *asan_fake;
  char *low;          /* sanitizer builds: the deepest point of the stack
                         where the fiber was ever switched out */
} Ctx;

enum { T_NEW, T_READY, T_RUNNING, T_BLOCKED, T_DONE };

struct Task {
  uint64_t id;        /* vm_task_<id>; 0 for the root */
  int state;
  Ctx *ctx;           /* its own context: the root's is Sched.root_ctx; a
                         spawned task's is malloc'd when it starts and freed
                         when it ends (NULL before and after) */
  Ctx *cur;           /* the context running for this task */
  Value fn, arg;
  bool has_arg;
  Value result;
  bool failed;
  ErrKind err_kind;
  Value err_value;
  Buf out;            /* buffered stdout (docs/LANGUAGE.md 13), counted (mem_account) */
  size_t out_counted; /* bytes of `out` counted so far */
  Task *parent;       /* the spawner (kept for the record's whole life) */
  Task *first_child, *next_sibling, *prev_sibling; /* the task tree */
  int heap_pos;       /* index in Sched.timers; -1 when not there */
  bool started;
  bool abandon;       /* cancelled: fail the pending wait, uncatchably */
  bool cancelled;     /* await gives nil */
  bool awaited;
  bool deadlocked;
  ObjNative *handle;  /* its handle while that object lives (spawn only) */
  bool handle_dead;   /* it had one, and it was collected */
  bool graceful;      /* cancel_graceful asked it to stop: is_cancelled() */
  int tcountdown;     /* its saved Interp.task_countdown while not running */
  bool has_inherit;
  Deadline inherit;   /* the parent's earliest unfired deadline (docs/RUNTIME.md 4) */
  int64_t wake_at;    /* timer of the pending wait (0 = none) */
  bool timer_woke;    /* its last sched_block ended because its timer was due
                       * (wake_due), not because a waker made it ready */
  WaitList waiters;   /* tasks awaiting this one */
  uint64_t done_seq;  /* completion order (Sched.done_seq when it finished) */
  struct Scratch *scratch; /* C blocks its builtins hold across a wait */
};

/* A C block that a builtin holds across a wait (scratch_alloc). A task
 * abandoned when the run ends is never resumed: its fiber is freed with
 * its C frames, and a plain malloc'd block that only those frames knew
 * would leak. Such blocks are therefore linked to the task, and
 * sched_reset frees what a dropped task still holds. */
typedef struct Scratch {
  struct Scratch *next;
  max_align_t data[];
} Scratch;

typedef struct Mutex {
  ObjString *key;
  Task *holder;
  int count;
  WaitList waiters;
  struct Mutex *next;
} Mutex;

struct Gen {
  Ctx ctx;
  int state;          /* G_* */
  bool stream;
  Value closure, args;
  Value yielded;
  bool has_value;
  bool failed;
  ErrKind err_kind;
  Value err_value;
  Ctx *resumer;
  struct ParStream *par; /* parallel ... as stream (lazy, see par_pull) */
};

enum { G_NEW, G_SUSPENDED, G_RUNNING, G_DONE };

typedef struct Sched {
  Task root;
  Ctx root_ctx;
  Task *current;
  Ctx *loaded;
  Ctx *prev;          /* the context that switched to the running one */
  Task **all;         /* the tasks of the run that still matter (spawn
                         order; owned, mem_alloc; see sched_mark) */
  int nall, capall;
  Task **retired;     /* the others (owned, mem_alloc; freed at reset) */
  int nretired, capretired;
  int scanning;       /* something walks `all` across allocations or waits
                         (settle_pending, the unsettled snapshot, the abort
                         of pending tasks): no retiring meanwhile */
  Task **timers;      /* blocked tasks with a timer: a min-heap on wake_at */
  int ntimers, timercap;
  struct FiberMem *spare[FIBER_SPARES]; /* stacks of ended fibers, for reuse */
  int nspare;
  Task **queue;       /* ready queue (FIFO) */
  int qhead, qtail, qcap;
  uint64_t spawned;
  Ctx *zombie;
  Gen *boot_gen;
  int64_t virt_ms;
  Mutex *mutexes;
  uint64_t done_seq;  /* tasks finished so far (Task.done_seq) */
  size_t root_stack_budget; /* bytes of stack the root task may use below
                               the frame that starts a run: RLIMIT_STACK,
                               at most ROOT_STACK_MAX, less the margin */
} Sched;

#define S(vm) ((vm)->interp->sched)

/* A zeroed block of [n] bytes held by the running task (Scratch). */
static void *scratch_alloc(Vm *vm, size_t n)
{
  Task *t = S(vm)->current;
  Scratch *b = calloc(1, sizeof *b + n);
  if (!b) abort();
  b->next = t->scratch;
  t->scratch = b;
  return b->data;
}

/* Give back block [p] of the running task (the one that took it). */
static void scratch_free(Vm *vm, void *p)
{
  Task *t = S(vm)->current;
  for (Scratch **pp = &t->scratch; *pp; pp = &(*pp)->next)
    if ((void *)(*pp)->data == p) {
      Scratch *b = *pp;
      *pp = b->next;
      free(b);
      return;
    }
}

/* Free every block task [t] still holds (it is dropped). */
static void scratch_release(Task *t)
{
  while (t->scratch) {
    Scratch *b = t->scratch;
    t->scratch = b->next;
    free(b);
  }
}

/* The VM a fiber's entry function (task_main, gen_main) starts for:
 * makecontext passes no pointer (its arguments are ints), so sched_init
 * and sched_reset leave the VM here. Thread-local, so VMs on different
 * threads never see each other's; on one thread a VM's run goes to
 * completion before another VM's starts, so it names the running VM. */
static __thread Vm *boot_vm;

/* ---- clock ---------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sched_now(Vm *vm)
{
  Sched *s = S(vm);
  if (vm->cfg.fake_sleep) {
    if (!s->virt_ms) s->virt_ms = mono_ms();
    return s->virt_ms;
  }
  return mono_ms();
}

int64_t sched_after(Vm *vm, int64_t ms)
{
  int64_t now = sched_now(vm), at;
  if (ms <= 0) return now;
  return __builtin_add_overflow(now, ms, &at) ? INT64_MAX : at;
}

/* ---- wait lists ------------------------------------------------------------------- */

void sched_wait_add(Vm *vm, WaitList *w)
{
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 4;
    w->items = realloc(w->items, sizeof(Task *) * (size_t)w->cap);
    if (!w->items) abort();
  }
  w->items[w->n++] = S(vm)->current;
}

void sched_wait_remove(Vm *vm, WaitList *w)
{
  Task *me = S(vm)->current;
  for (int i = 0; i < w->n; i++)
    if (w->items[i] == me) {
      memmove(w->items + i, w->items + i + 1, sizeof(Task *) * (size_t)(w->n - i - 1));
      w->n--;
      return;
    }
}

void sched_waitlist_free(WaitList *w)
{
  free(w->items);
  w->items = NULL;
  w->n = w->cap = 0;
}

static void queue_push(Sched *s, Task *t)
{
  if (s->qtail == s->qcap) {
    if (s->qhead > 0) {
      memmove(s->queue, s->queue + s->qhead, sizeof(Task *) * (size_t)(s->qtail - s->qhead));
      s->qtail -= s->qhead;
      s->qhead = 0;
    } else {
      s->qcap = s->qcap ? s->qcap * 2 : 16;
      s->queue = realloc(s->queue, sizeof(Task *) * (size_t)s->qcap);
      if (!s->queue) abort();
    }
  }
  s->queue[s->qtail++] = t;
}

static Task *queue_pop(Sched *s)
{
  while (s->qhead < s->qtail) {
    Task *t = s->queue[s->qhead++];
    if (t->state == T_READY) return t;
  }
  s->qhead = s->qtail = 0;
  return NULL;
}

static void make_ready(Sched *s, Task *t)
{
  if (t->state != T_BLOCKED) return;
  t->state = T_READY;
  queue_push(s, t);
}

/* ---- timers ---------------------------------------------------------------------
 * Sched.timers is a binary min-heap on wake_at of the blocked tasks whose
 * wait has a timer (sched_block), each knowing its index (heap_pos), so
 * that finding the earliest timer is O(1) and adding or removing one is
 * O(log n) however many tasks wait. A task leaves it when its wait ends
 * (woken or not); wake_due pops the due ones. */

static bool timer_before(const Task *a, const Task *b) { return a->wake_at < b->wake_at; }

static void timer_set(Sched *s, int i, Task *t)
{
  s->timers[i] = t;
  t->heap_pos = i;
}

static void timer_up(Sched *s, int i)
{
  Task *t = s->timers[i];
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!timer_before(t, s->timers[p])) break;
    timer_set(s, i, s->timers[p]);
    i = p;
  }
  timer_set(s, i, t);
}

static void timer_down(Sched *s, int i)
{
  Task *t = s->timers[i];
  for (;;) {
    int c = 2 * i + 1;
    if (c >= s->ntimers) break;
    if (c + 1 < s->ntimers && timer_before(s->timers[c + 1], s->timers[c])) c++;
    if (!timer_before(s->timers[c], t)) break;
    timer_set(s, i, s->timers[c]);
    i = c;
  }
  timer_set(s, i, t);
}

static void timer_add(Sched *s, Task *t)
{
  if (s->ntimers == s->timercap) {
    s->timercap = s->timercap ? s->timercap * 2 : 16;
    s->timers = realloc(s->timers, sizeof(Task *) * (size_t)s->timercap);
    if (!s->timers) abort();
  }
  timer_set(s, s->ntimers++, t);
  timer_up(s, s->ntimers - 1);
}

static void timer_remove(Sched *s, Task *t)
{
  int i = t->heap_pos;
  if (i < 0) return;
  t->heap_pos = -1;
  Task *last = s->timers[--s->ntimers];
  if (last == t) return;
  timer_set(s, i, last);
  timer_down(s, i);
  timer_up(s, last->heap_pos);
}

void sched_wake_all(Vm *vm, WaitList *w)
{
  Sched *s = S(vm);
  for (int i = 0; i < w->n; i++) make_ready(s, w->items[i]);
}

bool sched_timer_woke(Vm *vm) { return S(vm)->current->timer_woke; }

bool sched_wait_is_first(Vm *vm, const WaitList *w) { return w->n > 0 && w->items[0] == S(vm)->current; }

void sched_wake_first(Vm *vm, WaitList *w)
{
  if (w->n > 0) make_ready(S(vm), w->items[0]);
}

/* ---- fibers ------------------------------------------------------------------------ */

/* The stacks of a fiber: what a spare keeps. */
typedef struct FiberMem {
  Value *stack;
  Frame *frames;
  void *map;
  size_t maplen;
  char *low;          /* Ctx.low of its last user */
} FiberMem;

static void fibermem_free(FiberMem *m)
{
  free(m->stack);
  free(m->frames);
  if (m->map) munmap(m->map, m->maplen);
  free(m);
}

/* Release [c]'s stacks (and uncount them), keeping them as a spare when
 * there is room; a task's own context is freed too, and the task forgets
 * it. */
static void ctx_free(Vm *vm, Ctx *c)
{
  if (c->live) {
    Sched *s = vm->interp ? vm->interp->sched : NULL;
    FiberMem *m = s && s->nspare < FIBER_SPARES ? malloc(sizeof *m) : NULL;
    if (m) {
      *m = (FiberMem){c->st.stack, c->st.frames, c->map, c->maplen, c->low};
      s->spare[s->nspare++] = m;
    } else {
      free(c->st.stack);
      free(c->st.frames);
      if (c->map) munmap(c->map, c->maplen);
    }
    free(c->st.handlers);
    free(c->st.deadlines);
    free(c->st.permits);
    free(c->st.troots);
    memset(&c->st, 0, sizeof c->st);
    c->map = NULL;
    c->live = false;
    mem_account(vm, FIBER_CHARGE, 0);
  }
  if (c->task) {
    c->task->ctx = NULL;
    free(c);
  }
}

/* getcontext, out of line: it returns only once here (makecontext then
 * gives the context its own entry), which the compiler cannot know. */
static __attribute__((noinline)) bool ctx_get(ucontext_t *uc) { return getcontext(uc) == 0; }

/* Give [c] a fresh interpreter state and a C stack starting at [entry],
 * counted against the memory limit (FIBER_CHARGE). False, with nothing
 * held, when the memory cannot be had (the run is then doomed, gc.h). */
static bool ctx_prepare(Vm *vm, Ctx *c, void (*entry)(void))
{
  Sched *s = S(vm);
  memset(&c->st, 0, sizeof c->st);
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  bool ok;
  char *dirty = NULL; /* ASan: poison may be left from here up (NULL: all) */
  if (s->nspare > 0) {
    FiberMem *m = s->spare[--s->nspare];
    c->st.stack = m->stack;
    c->st.frames = m->frames;
    c->map = m->map;
    c->maplen = m->maplen;
    dirty = m->low;
    free(m);
    ok = ctx_get(&c->uc);
  } else {
    c->st.stack = malloc(sizeof(Value) * TASK_STACK_VALUES);
    c->st.frames = malloc(sizeof(Frame) * INTERP_MAX_FRAMES);
    c->maplen = FIBER_STACK + page;
    c->map = mmap(NULL, c->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (c->map == MAP_FAILED) c->map = NULL;
    ok = c->st.stack && c->st.frames && c->map && mprotect(c->map, page, PROT_NONE) == 0;
    if (ok) ok = ctx_get(&c->uc);
  }
  if (!ok) {
    free(c->st.stack);
    free(c->st.frames);
    memset(&c->st, 0, sizeof c->st);
    if (c->map) munmap(c->map, c->maplen);
    c->map = NULL;
    mem_doom(vm);
    return false;
  }
  c->st.sp = c->st.stack;
  c->st.stack_end = c->st.stack + TASK_STACK_VALUES;
#ifdef SCHED_ASAN
  /* ASan keeps shadow memory across munmap/mmap: a fiber that was abandoned
   * mid-call (cancel, hard stop) leaves its frames' redzones poisoned, and
   * a later mapping at the same address would inherit them. Frames that
   * returned are clean, so a spare is dirty only above the deepest point
   * where its last user was switched out (less a margin for the switch's
   * own frames): unpoisoning 8 MiB per task would dominate a short one. */
  char *base = (char *)c->map + page;
  if (dirty && dirty - base > (ptrdiff_t)(64u << 10)) base = dirty - (64u << 10);
  __asan_unpoison_memory_region(base, (size_t)((char *)c->map + page + FIBER_STACK - base));
#else
  (void)dirty;
#endif
  c->low = NULL;
  c->uc.uc_stack.ss_sp = (char *)c->map + page;
  c->uc.uc_stack.ss_size = FIBER_STACK;
  c->uc.uc_link = NULL;
  makecontext(&c->uc, entry, 0);
  c->asan_bottom = (char *)c->map + page;
  c->asan_size = FIBER_STACK;
  c->floor = (char *)c->map + page + STACK_MARGIN;
  c->live = true;
  mem_account(vm, 0, FIBER_CHARGE);
  return true;
}

/* ---- the C stack guard ------------------------------------------------------ */

bool sched_stack_ok(Vm *vm)
{
  const Sched *s = S(vm);
  return !s || (char *)__builtin_frame_address(0) > s->loaded->floor;
}

/* Run on every arrival in a fiber: finish the ASan switch and free the
 * context of a fiber that ended. */
static void arrived(Vm *vm, Ctx *me)
{
  Sched *s = S(vm);
#ifdef SCHED_ASAN
  const void *bottom = NULL;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(me ? me->asan_fake : NULL, &bottom, &size);
  if (s->prev && !s->prev->map) {
    s->prev->asan_bottom = bottom;
    s->prev->asan_size = size;
  }
#else
  (void)me;
#endif
  if (s->zombie && s->zombie != s->loaded) {
    ctx_free(vm, s->zombie);
    s->zombie = NULL;
  }
}

static void ctx_switch(Vm *vm, Ctx *from, Ctx *to, bool dying)
{
  Sched *s = S(vm);
  interp_state_save(vm, &from->st);
  interp_state_load(vm, &to->st);
  s->loaded = to;
  s->prev = from;
  interp_update_modes(vm);
#ifdef SCHED_ASAN
  char *here = __builtin_frame_address(0);
  if (!from->low || here < from->low) from->low = here;
  __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake, to->asan_bottom, to->asan_size);
#else
  (void)dying;
#endif
  swapcontext(&from->uc, &to->uc);
  arrived(vm, from);
}

/* ---- tasks ------------------------------------------------------------------------- */

static void task_main(void);

static void task_done(Vm *vm, Task *t);

/* Count the growth of [t]'s output buffer (mem_account). */
static void out_counted(Vm *vm, Task *t)
{
  if (t->out.cap == t->out_counted) return;
  mem_account(vm, t->out_counted, t->out.cap);
  t->out_counted = t->out.cap;
}

static void out_free(Vm *vm, Task *t)
{
  buf_free(&t->out);
  out_counted(vm, t);
}

/* Give task [t], about to run for the first time, its fiber. False when
 * there is no memory for one: [t] has then ended with the memory error
 * without running (the run is doomed, gc.h). */
static bool task_start(Vm *vm, Task *t)
{
  t->started = true;
  Ctx *c = calloc(1, sizeof(Ctx));
  if (c && ctx_prepare(vm, c, task_main)) {
    c->task = t;
    t->ctx = t->cur = c;
    if (t->has_inherit) {
      c->st.deadlines = malloc(sizeof(Deadline));
      if (!c->st.deadlines) abort();
      c->st.deadlines[0] = t->inherit;
      c->st.ndeadlines = c->st.deadlinecap = 1;
    }
    return true;
  }
  free(c);
  mem_doom(vm);
  t->failed = true;
  t->err_kind = ERR_MEMORY;
  t->err_value = OBJ_VAL(str_cstr(vm, "memory limit exceeded"));
  task_done(vm, t);
  return false;
}

/* Switch from [from] to the ready task [to]; false (nothing happened) when
 * [to] could not start (task_start). */
static bool switch_task(Vm *vm, Task *from, Task *to)
{
  Sched *s = S(vm);
  if (!to->started && !task_start(vm, to)) return false;
  to->state = T_RUNNING;
  s->current = to;
  /* the cancel_graceful countdown belongs to the task, not the VM */
  Interp *in = vm->interp;
  if (in->task_countdown || to->tcountdown) {
    from->tcountdown = in->task_countdown;
    in->task_countdown = to->tcountdown;
    interp_update_modes(vm);
  }
  ctx_switch(vm, from->cur, to->cur, from->state == T_DONE);
  return true;
}

/* Sleep up to [ms] (< 0: one slice), unless a host signal is pending. A
 * signal interrupts the wait (EINTR). Every signal is blocked while
 * sig_pending is read, and ppoll() unblocks them for the wait in one step,
 * so one that lands between the two ends the wait at once instead of a
 * slice later; the slice still bounds the wait when vm_interrupt is called
 * from another thread. The worker's seccomp filter allows ppoll and
 * rt_sigprocmask, but no extra file descriptor (hence no self-pipe).
 * While host calls are in flight the wait also watches the host-call
 * channel (hostcall_wait_fd: the job socket, fd 3) and pumps it after. */
static void poll_wake(Vm *vm, int64_t ms)
{
  Interp *in = vm->interp;
  if (ms < 0 || ms > WAIT_SLICE_MS) ms = WAIT_SLICE_MS;
  int hfd = hostcall_wait_fd(vm);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  if (!in->sig_pending) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    struct pollfd pfd = {hfd, POLLIN, 0};
    ppoll(hfd >= 0 ? &pfd : NULL, hfd >= 0 ? 1 : 0, &ts, &old);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (hfd >= 0) hostcall_pump(vm);
}

/* Make the blocked tasks whose timer has come ready (they leave the heap;
 * tasks woken otherwise leave it when their wait returns). */
static void wake_due(Vm *vm)
{
  Sched *s = S(vm);
  if (s->ntimers == 0) return;
  int64_t now = sched_now(vm);
  while (s->ntimers > 0 && s->timers[0]->wake_at <= now) {
    Task *t = s->timers[0];
    timer_remove(s, t);
    if (t->state == T_BLOCKED) t->timer_woke = true;
    make_ready(s, t);
  }
}

/* Nothing is ready: wait for the earliest timer or a host signal and make
 * the tasks whose time came ready. False when nothing can ever wake a task. */
static bool wait_events(Vm *vm)
{
  Sched *s = S(vm);
  Interp *in = vm->interp;
  /* only blocked tasks are in the heap while nothing is ready */
  int64_t earliest = s->ntimers > 0 ? s->timers[0]->wake_at : 0;
  if (!in->sig_pending) {
    if (!earliest) {
      if (vm->cfg.fake_sleep || !vm->cfg.job.supervised) return false;
      poll_wake(vm, -1);
    } else {
      int64_t now = sched_now(vm);
      if (earliest > now) {
        if (vm->cfg.fake_sleep) s->virt_ms = earliest;
        else poll_wake(vm, earliest - now);
      }
    }
  }
  if (in->sig_pending) make_ready(s, &s->root);
  wake_due(vm);
  return true;
}

/* The current task has set its state (blocked or ready): run others until
 * it is resumed. */
static void sched_wait(Vm *vm)
{
  Sched *s = S(vm);
  Task *me = s->current;
  for (;;) {
    Task *next = queue_pop(s);
    if (next) {
      if (next == me) {
        me->state = T_RUNNING;
        return;
      }
      if (switch_task(vm, me, next)) return;
      continue;
    }
    if (!wait_events(vm)) {
      me->deadlocked = true;
      me->state = T_RUNNING;
      return;
    }
  }
}

static bool abandon_error(Vm *vm)
{
  return err_set(vm, ERR_LIMIT, OBJ_VAL(str_cstr(vm, "task cancelled")));
}

static bool is_descendant(Task *t, Task *anc)
{
  for (Task *p = t->parent; p; p = p->parent)
    if (p == anc) return true;
  return false;
}

/* ---- the task tree ------------------------------------------------------------
 * Every task is linked under its spawner (first_child / next_sibling /
 * prev_sibling), so that cancelling the tasks of a subtree visits that
 * subtree only, never every task of the run. A task leaves its parent's
 * list once it has ended and has no child left in its own list (task_done),
 * and its parent may then leave in turn: the tree holds the live tasks and
 * the ended ones that still have live descendants. */

static void tree_add(Task *parent, Task *t)
{
  t->parent = parent;
  t->prev_sibling = NULL;
  t->next_sibling = parent->first_child;
  if (parent->first_child) parent->first_child->prev_sibling = t;
  parent->first_child = t;
}

/* [t] ended: drop it, and its ended ancestors without children, from the
 * tree (the records themselves stay; parent pointers too). */
static void tree_prune(Sched *s, Task *t)
{
  while (t != &s->root && t->state == T_DONE && !t->first_child && t->parent) {
    Task *p = t->parent;
    if (t->prev_sibling) t->prev_sibling->next_sibling = t->next_sibling;
    else if (p->first_child == t) p->first_child = t->next_sibling;
    if (t->next_sibling) t->next_sibling->prev_sibling = t->prev_sibling;
    t->prev_sibling = t->next_sibling = NULL;
    t = p;
  }
}

/* [t] has ended (finished, or cancelled before it started): record it,
 * wake its awaiters and leave the tree. */
static void task_done(Vm *vm, Task *t)
{
  Sched *s = S(vm);
  t->state = T_DONE;
  t->done_seq = ++s->done_seq;
  t->fn = t->arg = NIL_VAL; /* no longer needed: let the collector have them */
  sched_wake_all(vm, &t->waiters);
  tree_prune(s, t);
}

/* Cancel [t] alone (its descendants are the caller's business). */
static void abandon_one(Vm *vm, Task *t)
{
  Sched *s = S(vm);
  if (t->state == T_DONE || t == &s->root || t->abandon) return;
  t->cancelled = true;
  if (!t->started) {
    task_done(vm, t);
  } else {
    t->abandon = true;
    /* its open steps end and its sync_* permits are released now: the task
     * may never run again (docs/RUNTIME.md 6) */
    if (t->ctx) steps_close_fiber(vm, t->ctx->st.frames, "task cancelled");
    sync_release_task_permits(vm, t->id);
    make_ready(s, t);
  }
}

/* Cancel the live descendants of [anc] spawned after [mark] (a task's
 * descendants were all spawned after it). The subtree is walked first,
 * without recursion (a chain of tasks may be deep), and the tasks found
 * are cancelled afterwards, since cancelling changes the tree. */
static void cancel_descendants(Vm *vm, Task *anc, uint64_t mark)
{
  Task **found = NULL;
  size_t n = 0, cap = 0;
  Task *t = anc->first_child;
  while (t) {
    if (t->id > mark && t->state != T_DONE && !t->abandon) {
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        found = realloc(found, cap * sizeof *found);
        if (!found) abort();
      }
      found[n++] = t;
    }
    /* next in pre-order: the first child, else the next sibling of the
     * nearest task (this one or an ancestor below [anc]) that has one */
    if (t->first_child) {
      t = t->first_child;
      continue;
    }
    while (t != anc && !t->next_sibling) t = t->parent;
    t = t == anc ? NULL : t->next_sibling;
  }
  for (size_t i = 0; i < n; i++) abandon_one(vm, found[i]);
  free(found);
}

static void task_abandon(Vm *vm, Task *t)
{
  if (t->state == T_DONE || t->abandon || t == &S(vm)->root) return;
  abandon_one(vm, t);
  cancel_descendants(vm, t, t->id);
}

/* The end of the in-flight grace of a host cancellation (docs/RUNTIME.md 5.4):
 * 250 ms from when it was seen, capped, when the host kills after a grace
 * (VmJobConfig.grace_ms), at the kill instant minus the 25 ms final-frame
 * reserve. */
static int64_t cancel_grace_end(Vm *vm)
{
  int64_t g = CANCEL_GRACE_MS;
  if (vm->cfg.job.grace_ms > 0 && vm->cfg.job.grace_ms - 25 < g)
    g = vm->cfg.job.grace_ms - 25 > 0 ? vm->cfg.job.grace_ms - 25 : 0;
  int64_t end;
  return __builtin_add_overflow(vm->interp->cancel_seen_ms, g, &end) ? INT64_MAX : end;
}

static const Deadline *earliest_deadline(Interp *in)
{
  const Deadline *best = NULL;
  for (int i = 0; i < in->ndeadlines; i++) {
    const Deadline *d = &in->deadlines[i];
    if (!d->fired && (!best || d->at < best->at)) best = d;
  }
  return best;
}

int sched_block(Vm *vm, int64_t until)
{
  Sched *s = S(vm);
  Interp *in = vm->interp;
  Task *me = s->current;
  if (me->abandon) return abandon_error(vm), -1;
  if (!interp_safe_point(vm)) return -1;
  bool root = me == &s->root;
  int64_t wake = until;
  const Deadline *d = earliest_deadline(in);
  if (d && (!wake || d->at < wake)) wake = d->at;
  if (root && in->cancel_requested) {
    int64_t g = cancel_grace_end(vm);
    if (!wake || g < wake) wake = g;
  }
  if (in->hard_stop_at && (!wake || in->hard_stop_at < wake)) wake = in->hard_stop_at;
  int64_t step_at = steps_wake_at(vm);
  if (step_at && (!wake || step_at < wake)) wake = step_at;
  int64_t hd = root ? lc_handler_deadline(vm) : 0; /* docs/RUNTIME.md 5.4 */
  if (hd && (!wake || hd < wake)) wake = hd;
  me->wake_at = wake;
  me->state = T_BLOCKED;
  me->timer_woke = false;
  if (wake) timer_add(s, me);
  sched_wait(vm);
  timer_remove(s, me);
  me->wake_at = 0;
  if (me->deadlocked) {
    me->deadlocked = false;
    err_runtime(vm, "deadlock: every task is blocked");
    return -1;
  }
  if (me->abandon) return abandon_error(vm), -1;
  if (!interp_safe_point(vm)) return -1;
  if (step_at && !steps_check(vm)) return -1; /* a step's max_ms ran out */
  int64_t now = sched_now(vm);
  if (root && in->cancel_requested && now >= cancel_grace_end(vm)) {
    cancel_descendants(vm, me, 0);
    err_throw_str(vm, "kind:cancelled:VM cancelled by host");
    return -1;
  }
  if (until && now >= until) return 1;
  return 0;
}

bool sched_yield_now(Vm *vm)
{
  Sched *s = S(vm);
  Task *me = s->current;
  if (me->abandon) return abandon_error(vm);
  /* tasks whose sleep ended go first: a loop of yields must not starve
   * a task waiting on a timer (with real time) */
  wake_due(vm);
  if (s->qhead == s->qtail) return interp_safe_point(vm);
  me->state = T_READY;
  queue_push(s, me);
  sched_wait(vm);
  if (me->abandon) return abandon_error(vm);
  return interp_safe_point(vm);
}

bool sched_sleep(Vm *vm, int64_t ms)
{
  if (ms <= 0) return sched_yield_now(vm);
  int64_t end = sched_after(vm, ms);
  for (;;) {
    int r = sched_block(vm, end);
    if (r < 0) return false;
    if (sched_now(vm) >= end) return true;
  }
}

/* Append a finished task's output to the current task's (or the real
 * output for the root). */
static void join_output(Vm *vm, Task *t)
{
  Sched *s = S(vm);
  if (t->out.len) {
    if (s->current == &s->root) {
      vm_write_raw(vm, 1, t->out.data, t->out.len);
    } else {
      buf_append(&s->current->out, t->out.data, t->out.len);
      out_counted(vm, s->current);
    }
  }
  out_free(vm, t);
}

bool sched_buffer_output(Vm *vm, const char *data, size_t len)
{
  Sched *s = S(vm);
  if (!s || s->current == &s->root) return false;
  buf_append(&s->current->out, data, len);
  out_counted(vm, s->current);
  return true;
}

static void task_finish(Vm *vm, Task *t, bool ok, Value out)
{
  Sched *s = S(vm);
  if (t->abandon) {
    t->result = NIL_VAL;
  } else if (ok) {
    t->result = out;
  } else {
    t->failed = true;
    t->err_kind = vm->err_kind;
    t->err_value = vm->err_value;
  }
  /* steps still open in this fiber end `failed` (docs/RUNTIME.md 6: an abandoned
   * task's steps read `task cancelled`, the pending error's text) */
  if (!ok) steps_close_above(vm, -1);
  /* the memory limit is the run's, not the task's: its error ends the run
   * even when nobody awaits the task (gc.h, doomed) */
  if (!ok && !t->abandon && vm->err_kind == ERR_MEMORY) mem_doom(vm);
  err_clear(vm);
  interp_clear_trace(vm);
  interp_scope_cut(vm, -1); /* drops deadlines, releases permits */
  if (t->abandon) {
    out_free(vm, t);
    cancel_descendants(vm, t, t->id);
  }
  task_done(vm, t);
  s->zombie = t->ctx;
  for (;;) {
    Task *next = queue_pop(s);
    if (next) switch_task(vm, t, next); /* returns only if [next] could not start */
    else if (!wait_events(vm)) {
      /* nothing can run: the root is blocked for ever */
      s->root.deadlocked = true;
      make_ready(s, &s->root);
    }
  }
}

static void task_main(void)
{
  Vm *vm = boot_vm;
  Sched *s = S(vm);
  arrived(vm, NULL);
  Task *t = s->current;
  Value out = NIL_VAL;
  bool ok = false;
  if (!t->abandon) ok = vm_call(vm, t->fn, t->has_arg ? 1 : 0, &t->arg, &out);
  task_finish(vm, t, ok, out);
}

static void task_display(Vm *vm, ObjNative *n, Buf *out)
{
  Task *t = n->data;
  buf_printf(out, "<task:vm_task_%llu>", (unsigned long long)(t ? t->id : 0));
}

static bool task_equal(ObjNative *a, ObjNative *b) { return a->data == b->data; }

/* The handle is collected: nobody can await the task any more. */
static void task_handle_finalize(Vm *vm, ObjNative *n)
{
  Task *t = n->data;
  if (!t) return;
  t->handle = NULL;
  t->handle_dead = true;
  n->data = NULL;
}

static const NativeVtbl task_vt = {"task_handle", task_display, NULL, task_handle_finalize, false, task_equal};

static Task *task_new(Vm *vm, Value fn, Value arg, bool has_arg)
{
  Sched *s = S(vm);
  Interp *in = vm->interp;
  /* the record lives until the run ends: counted like heap memory */
  Task *t = mem_alloc(vm, sizeof(Task));
  memset(t, 0, sizeof *t);
  t->id = ++s->spawned;
  t->fn = fn;
  t->arg = arg;
  t->has_arg = has_arg;
  t->result = NIL_VAL;
  t->err_value = NIL_VAL;
  t->heap_pos = -1;
  tree_add(s->current, t);
  const Deadline *d = earliest_deadline(in);
  if (d) {
    t->has_inherit = true;
    t->inherit.at = d->at;
    t->inherit.depth = 0;
    t->inherit.fired = false;
    t->inherit.mark = t->id;
  }
  if (s->nall == s->capall) {
    int cap = s->capall ? s->capall * 2 : 16;
    s->all = mem_realloc(vm, s->all, sizeof(Task *) * (size_t)s->capall, sizeof(Task *) * (size_t)cap);
    s->capall = cap;
  }
  s->all[s->nall++] = t;
  t->state = T_READY;
  queue_push(s, t);
  return t;
}

bool sched_spawn(Vm *vm, Value closure, Value *out)
{
  if (!vm_is_callable(closure)) return err_type(vm, "spawn: expected a closure");
  Task *t = task_new(vm, closure, NIL_VAL, false);
  t->handle = native_new(vm, &task_vt, t, 0);
  *out = OBJ_VAL(t->handle);
  return true;
}

static Task *as_task(Value v)
{
  if (!IS_NATIVE(v) || AS_NATIVE(v)->vt != &task_vt) return NULL;
  return AS_NATIVE(v)->data;
}

/* Wait until [t] is done (any task of the run). */
static bool wait_done(Vm *vm, Task *t)
{
  while (t->state != T_DONE) {
    sched_wait_add(vm, &t->waiters);
    int r = sched_block(vm, 0);
    sched_wait_remove(vm, &t->waiters);
    if (r < 0) return false;
  }
  return true;
}

bool sched_bi_await(Vm *vm, int argc, Value *argv, Value *out)
{
  Value h = argc > 0 ? argv[0] : NIL_VAL;
  Task *t = as_task(h);
  *out = NIL_VAL;
  if (!t) {
    *out = h;
    return true;
  }
  if (t->awaited || t->cancelled) return true;
  if (!wait_done(vm, t)) return false;
  if (t->awaited || t->cancelled) return true;
  t->awaited = true;
  join_output(vm, t);
  if (t->failed) return err_set(vm, t->err_kind, t->err_value);
  *out = t->result;
  t->result = NIL_VAL; /* awaited once: only nil from now on */
  return true;
}

bool sched_bi_cancel(Vm *vm, int argc, Value *argv, Value *out)
{
  Task *t = as_task(argc > 0 ? argv[0] : NIL_VAL);
  *out = NIL_VAL;
  if (t) task_abandon(vm, t);
  return true;
}

uint64_t sched_tasks_spawned(Vm *vm)
{
  Sched *s = S(vm);
  return s ? s->spawned : 0;
}

uint64_t sched_current_id(Vm *vm)
{
  Sched *s = S(vm);
  return s && s->current ? s->current->id : 0;
}

bool sched_task_cancel_flag(Vm *vm)
{
  Sched *s = S(vm);
  return s && s->current->graceful;
}

bool sched_task_countdown_expired(Vm *vm)
{
  Sched *s = S(vm);
  cancel_descendants(vm, s->current, 0);
  return err_throw_str(vm, "kind:cancelled:VM cancelled by host");
}

/* Display text of a finished task's error, as a Result.Err. */
static Value task_err_result(Vm *vm, Task *t)
{
  err_set(vm, t->err_kind, t->err_value);
  Buf b = {0};
  err_display(vm, &b);
  err_clear(vm);
  ObjString *msg = str_new(vm, b.data ? b.data : "", b.len);
  buf_free(&b);
  return enum_err(vm, OBJ_VAL(msg));
}

bool sched_bi_cancel_graceful(Vm *vm, int argc, Value *argv, Value *out)
{
  /* docs/RUNTIME.md 6: set the task's cancel flag (is_cancelled() turns true
   * in that task only) and start its own 1024-instruction countdown (5.3
   * step 6, counted only while it runs: Interp.task_countdown is swapped
   * per task by switch_task); then wait up to the timeout. A task that
   * has not started yet still starts, and sees the flag at once. */
  Sched *s = S(vm);
  Task *t = as_task(argc > 0 ? argv[0] : NIL_VAL);
  if (!t || t->awaited || t->cancelled) {
    *out = enum_ok(vm, NIL_VAL);
    return true;
  }
  int64_t ms = 5000;
  if (argc > 1 && (IS_INT(argv[1]) || IS_DURATION(argv[1]))) ms = AS_INT(argv[1]);
  if (t->state != T_DONE && !t->graceful) {
    t->graceful = true;
    if (t == s->current) {
      vm->interp->task_countdown = INTERP_COUNTDOWN + 1;
      interp_update_modes(vm);
    } else {
      t->tcountdown = INTERP_COUNTDOWN + 1;
    }
  }
  int64_t end = sched_after(vm, ms);
  while (t->state != T_DONE) {
    if (t == s->current) break; /* cancelling itself: nothing to wait for */
    sched_wait_add(vm, &t->waiters);
    int r = sched_block(vm, end);
    sched_wait_remove(vm, &t->waiters);
    if (r < 0) return false;
    if (r == 1 && t->state != T_DONE) {
      task_abandon(vm, t);
      *out = enum_err(vm, OBJ_VAL(str_cstr(vm, "cancel_graceful: timeout, task forcefully aborted")));
      return true;
    }
  }
  if (t->state != T_DONE) {
    *out = enum_ok(vm, NIL_VAL);
    return true;
  }
  t->awaited = true;
  join_output(vm, t);
  *out = t->failed ? task_err_result(vm, t) : enum_ok(vm, t->result);
  return true;
}

/* parallel_race(closures) / parallel_race(items, fn) (docs/LANGUAGE.md 13):
 * every closure runs as a task (spawned in list order, no arguments), or
 * with [fn], fn(item) runs as a task per item; the first task to finish decides: its value is returned
 * (its output joined) or its error re-raised unchanged, and every other
 * task is cancelled (cancel(): abandoned, output discarded). An empty
 * list gives nil; a non-callable item is a type error before any spawn. */
bool sched_bi_parallel_race(Vm *vm, int argc, Value *argv, Value *out)
{
  Value lv = argc > 0 ? argv[0] : NIL_VAL;
  *out = NIL_VAL;
  if (!IS_LIST(lv)) return err_type(vm, "parallel_race: expected a list of closures, got %s", val_type_name(lv));
  ObjList *l = AS_LIST(lv);
  uint32_t n = l->count;
  Value fn = argc > 1 ? argv[1] : NIL_VAL;
  if (!IS_NIL(fn) && !vm_is_callable(fn))
    return err_type(vm, "parallel_race: expected a function as second argument, got %s", val_type_name(fn));
  for (uint32_t i = 0; i < n && IS_NIL(fn); i++)
    if (!vm_is_callable(l->items[i]))
      return err_type(vm, "parallel_race: item %u is not callable (%s)", i, val_type_name(l->items[i]));
  if (n == 0) return true;
  Task **ch = scratch_alloc(vm, n * sizeof(Task *));
  for (uint32_t i = 0; i < n; i++)
    ch[i] = IS_NIL(fn) ? task_new(vm, l->items[i], NIL_VAL, false) : task_new(vm, fn, l->items[i], true);
  Task *win = NULL;
  bool ok = true;
  while (!win) {
    for (uint32_t i = 0; i < n && !win; i++)
      if (ch[i]->state == T_DONE && !ch[i]->cancelled) win = ch[i];
    if (win) break;
    for (uint32_t i = 0; i < n; i++) sched_wait_add(vm, &ch[i]->waiters);
    int r = sched_block(vm, 0);
    for (uint32_t i = 0; i < n; i++) sched_wait_remove(vm, &ch[i]->waiters);
    if (r < 0) {
      ok = false;
      break;
    }
  }
  for (uint32_t i = 0; i < n; i++)
    if (ch[i] != win) task_abandon(vm, ch[i]);
  scratch_free(vm, ch);
  if (!ok) return false;
  win->awaited = true;
  join_output(vm, win);
  if (win->failed) return err_set(vm, win->err_kind, win->err_value);
  *out = win->result;
  return true;
}

/* ---- parallel (docs/RUNTIME.md 6) ------------------------------------------------------ */

/* ---- parallel ... as stream -------------------------------------------------------- */

/* A lazy stream over the tasks of a parallel form (docs/LANGUAGE.md 13: "a
 * stream of results"). Items come in *completion* order (the order in
 * which the tasks finished; spawn order among those that finished before
 * the pull looked), not input order: that is what streaming the results
 * is for, and the tests compare sorted results. Up to max_concurrent tasks
 * (all when <= 0) are spawned when the stream is made -- like spawn, they
 * start when the creator next suspends -- and each pull, after taking a
 * result, spawns more to keep that many running, so a consumer that stops
 * pulling stops the spawning. A pull waits for the next task to finish
 * (a blocking op: deadlines, cancel, interrupts). Each result's task is
 * joined at its pull (its output appended to the puller's). parallel each
 * and parallel(n) raise a task's error at the pull that reaches it and
 * cancel the other tasks (the stream is then done); parallel settle yields
 * Result.Ok(v) / Result.Err("<error display>") per task and never throws. */
typedef struct ParStream {
  int mode;            /* PAR_* of ast.h */
  Value items;         /* the input list (nil for parallel(n)) */
  Value fn;
  int64_t n, k;        /* task count; max_concurrent (<= 0: unlimited) */
  Task **tasks;        /* the n tasks, spawned in order */
  bool *got;           /* result taken */
  int64_t spawned, delivered;
  bool done;           /* an error ended it */
} ParStream;

/* Spawn tasks until k run (or all n are spawned). */
static void par_top_up(Vm *vm, ParStream *ps)
{
  int64_t running = 0;
  for (int64_t i = 0; i < ps->spawned; i++)
    if (ps->tasks[i]->state != T_DONE) running++;
  while (ps->spawned < ps->n && (ps->k <= 0 || running < ps->k)) {
    Value x = IS_LIST(ps->items) ? AS_LIST(ps->items)->items[ps->spawned] : INT_VAL(ps->spawned);
    ps->tasks[ps->spawned++] = task_new(vm, ps->fn, x, true);
    running++;
  }
}

static void par_free(ParStream *ps)
{
  if (!ps) return;
  free(ps->tasks);
  free(ps->got);
  free(ps);
}

/* Pull the next result: 1 value, 0 finished, -1 error. */
static int par_pull(Vm *vm, ParStream *ps, Value *out)
{
  for (;;) {
    if (ps->done || ps->delivered >= ps->n) return 0;
    par_top_up(vm, ps);
    Task *best = NULL;
    int64_t bi = -1;
    for (int64_t i = 0; i < ps->spawned; i++) {
      Task *t = ps->tasks[i];
      if (ps->got[i] || t->state != T_DONE) continue;
      if (!best || t->done_seq < best->done_seq) best = t, bi = i;
    }
    if (best) {
      ps->got[bi] = true;
      ps->delivered++;
      best->awaited = true;
      join_output(vm, best);
      if (best->failed && ps->mode != PAR_SETTLE) {
        ps->done = true;
        for (int64_t i = 0; i < ps->spawned; i++)
          if (!ps->got[i]) task_abandon(vm, ps->tasks[i]);
        err_set(vm, best->err_kind, best->err_value);
        return -1;
      }
      if (ps->mode == PAR_SETTLE) *out = best->failed ? task_err_result(vm, best) : enum_ok(vm, best->result);
      else *out = best->result;
      par_top_up(vm, ps); /* keep k running while the consumer works */
      return 1;
    }
    for (int64_t i = 0; i < ps->spawned; i++)
      if (!ps->got[i]) sched_wait_add(vm, &ps->tasks[i]->waiters);
    int r = sched_block(vm, 0);
    for (int64_t i = 0; i < ps->spawned; i++)
      if (!ps->got[i]) sched_wait_remove(vm, &ps->tasks[i]->waiters);
    if (r < 0) return -1;
  }
}

static Value par_stream_new(Vm *vm, int mode, ObjList *items, int64_t n, Value fn, int64_t k);

bool sched_parallel(Vm *vm, int mode, bool as_stream, Value arg, Value fn, Value opts, Value *out)
{
  ObjList *items = NULL;
  int64_t n = 0;
  int rooted = 0;
  if (mode == PAR_COUNT) {
    if (IS_INT(arg)) n = AS_INT(arg);
    else if (IS_FLOAT(arg)) {
      if (!meth_to_int(arg, &n)) n = 0; /* NaN; others truncate, saturating */
    } else return err_type(vm, "parallel: expected an int count, got %s", val_type_name(arg));
    if (n < 0) n = 0;
  } else if (IS_LIST(arg)) {
    items = AS_LIST(arg);
    n = items->count;
  } else {
    Value it;
    if (!iter_from(vm, arg, &it)) return false;
    gc_push_root(vm, it);
    items = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(items));
    rooted = 2;
    uint32_t ticks = 0;
    for (;;) {
      Value x;
      int r = iter_next(vm, it, &x);
      if (r > 0) list_push(vm, items, x);
      if (r < 0 || (r > 0 && !meth_poll(vm, &ticks))) {
        while (rooted--) gc_pop_root(vm);
        return false;
      }
      if (r == 0) break;
    }
    n = items->count;
  }
  /* every task costs its record and a slot here: a count the program
   * chose must fit the memory (and int64 sizes) before anything is made */
  if (n > 0 && !meth_fits(vm, (uint64_t)n, sizeof(Task) + sizeof(Task *) + sizeof(bool) + sizeof(Value))) {
    while (rooted--) gc_pop_root(vm);
    return false;
  }
  int64_t k = 0;
  Value mc;
  if (IS_DICT(opts) && dict_get_cstr(AS_DICT(opts), "max_concurrent", &mc) && IS_INT(mc)) k = AS_INT(mc);
  if (as_stream) {
    *out = par_stream_new(vm, mode, items, n, fn, k);
    while (rooted--) gc_pop_root(vm);
    return true;
  }
  Task **ch = scratch_alloc(vm, (size_t)(n > 0 ? n : 1) * sizeof(Task *));
  int64_t spawned = 0, collected = 0, running = 0, failed_at = -1;
  bool *got = scratch_alloc(vm, (size_t)(n > 0 ? n : 1) * sizeof(bool));
  bool ok = true;
  while (collected < n) {
    while (spawned < n && (k <= 0 || running < k)) {
      Value x = items ? items->items[spawned] : INT_VAL(spawned);
      ch[spawned++] = task_new(vm, fn, x, true);
      running++;
    }
    bool progress = false;
    for (int64_t i = 0; i < spawned; i++) {
      if (got[i] || ch[i]->state != T_DONE) continue;
      got[i] = true;
      collected++;
      running--;
      progress = true;
      if (ch[i]->failed && mode != PAR_SETTLE && failed_at < 0) failed_at = i;
    }
    if (failed_at >= 0) break;
    if (progress || collected == n) continue;
    for (int64_t i = 0; i < spawned; i++)
      if (!got[i]) sched_wait_add(vm, &ch[i]->waiters);
    int r = sched_block(vm, 0);
    for (int64_t i = 0; i < spawned; i++)
      if (!got[i]) sched_wait_remove(vm, &ch[i]->waiters);
    if (r < 0) {
      ok = false;
      break;
    }
  }
  if (!ok || failed_at >= 0) {
    for (int64_t i = 0; i < spawned; i++)
      if (!got[i]) task_abandon(vm, ch[i]);
    if (ok) {
      for (int64_t i = 0; i < spawned; i++)
        if (got[i] && !ch[i]->cancelled) {
          ch[i]->awaited = true;
          join_output(vm, ch[i]);
        }
      err_set(vm, ch[failed_at]->err_kind, ch[failed_at]->err_value);
    }
    scratch_free(vm, ch);
    scratch_free(vm, got);
    while (rooted--) gc_pop_root(vm);
    return false;
  }
  ObjList *res = list_new(vm, (uint32_t)n);
  int64_t nok = 0, nfail = 0;
  for (int64_t i = 0; i < n; i++) {
    Task *t = ch[i];
    t->awaited = true;
    join_output(vm, t);
    if (mode == PAR_SETTLE) {
      if (t->failed) {
        nfail++;
        list_push(vm, res, task_err_result(vm, t));
      } else {
        nok++;
        list_push(vm, res, enum_ok(vm, t->result));
      }
    } else {
      list_push(vm, res, t->result);
    }
  }
  scratch_free(vm, ch);
  scratch_free(vm, got);
  while (rooted--) gc_pop_root(vm);
  if (mode == PAR_SETTLE) {
    ObjDict *d = dict_new(vm, 3);
    dict_set_cstr(vm, d, "failed", INT_VAL(nfail));
    dict_set_cstr(vm, d, "results", OBJ_VAL(res));
    dict_set_cstr(vm, d, "succeeded", INT_VAL(nok));
    *out = OBJ_VAL(d);
  } else {
    *out = OBJ_VAL(res);
  }
  return true;
}

/* ---- deadlines (docs/RUNTIME.md 4) ----------------------------------------------------- */

bool sched_deadline_push(Vm *vm, Value dur)
{
  Interp *in = vm->interp;
  int64_t ms;
  if (IS_DURATION(dur) || IS_INT(dur)) ms = AS_INT(dur);
  else return err_type(vm, "deadline: expected a duration or int, got %s", val_type_name(dur));
  if (ms < 0) ms = 0;
  if (in->ndeadlines == in->deadlinecap) {
    in->deadlinecap = in->deadlinecap ? in->deadlinecap * 2 : 4;
    in->deadlines = realloc(in->deadlines, sizeof(Deadline) * (size_t)in->deadlinecap);
    if (!in->deadlines) abort();
  }
  Deadline *d = &in->deadlines[in->ndeadlines++];
  d->at = sched_after(vm, ms);
  d->depth = in->nframes;
  d->fired = false;
  d->mark = S(vm)->spawned;
  interp_update_modes(vm);
  return true;
}

bool sched_check_deadlines(Vm *vm)
{
  Interp *in = vm->interp;
  Deadline *best = NULL;
  for (int i = 0; i < in->ndeadlines; i++) {
    Deadline *d = &in->deadlines[i];
    if (!d->fired && (!best || d->at < best->at)) best = d;
  }
  if (!best || sched_now(vm) < best->at) return true;
  best->fired = true;
  cancel_descendants(vm, S(vm)->current, best->mark);
  return err_throw_str(vm, "Deadline exceeded");
}

/* ---- mutex (docs/RUNTIME.md 6) ----------------------------------------------------------- */

bool sched_mutex_enter(Vm *vm, Value key)
{
  Sched *s = S(vm);
  Interp *in = vm->interp;
  ObjString *k = IS_NIL(key) ? str_cstr(vm, "__default__") : IS_STRING(key) ? AS_STRING(key) : val_to_string(vm, key);
  Mutex *m = s->mutexes;
  while (m && !str_eq(m->key, k)) m = m->next;
  if (!m) {
    m = calloc(1, sizeof(Mutex));
    if (!m) abort();
    m->key = k;
    m->next = s->mutexes;
    s->mutexes = m;
  }
  Task *me = s->current;
  /* FIFO per key (docs/RUNTIME.md 6): no barging past a queued waiter; the
   * first waiter takes the free mutex, then wakes nobody (the next waiter
   * is woken by the next release) */
  if (m->holder != me && (m->holder || m->waiters.n > 0)) {
    sched_wait_add(vm, &m->waiters);
    for (;;) {
      int r = sched_block(vm, 0);
      if (r < 0) {
        sched_wait_remove(vm, &m->waiters);
        if (!m->holder) sched_wake_first(vm, &m->waiters);
        return false;
      }
      if (!m->holder && sched_wait_is_first(vm, &m->waiters)) break;
    }
    sched_wait_remove(vm, &m->waiters);
  }
  m->holder = me;
  m->count++;
  if (in->npermits == in->permitcap) {
    in->permitcap = in->permitcap ? in->permitcap * 2 : 4;
    in->permits = realloc(in->permits, sizeof(Permit) * (size_t)in->permitcap);
    if (!in->permits) abort();
  }
  in->permits[in->npermits].mutex = m;
  in->permits[in->npermits].depth = in->nframes;
  in->npermits++;
  return true;
}

void sched_mutex_release(Vm *vm, void *mutex)
{
  Mutex *m = mutex;
  if (--m->count > 0) return;
  m->count = 0;
  m->holder = NULL;
  sched_wake_first(vm, &m->waiters);
}

/* ---- generators and streams (docs/LANGUAGE.md 14) --------------------------------------- */

static void gen_display(Vm *vm, ObjNative *n, Buf *out)
{
  Gen *g = n->data;
  bool done = g->par ? g->par->done || g->par->delivered >= g->par->n : g->state == G_DONE;
  buf_printf(out, "<%s%s>", g->stream ? "stream" : "generator", done ? " (done)" : "");
}

static void gen_mark(Vm *vm, ObjNative *n)
{
  Gen *g = n->data;
  gc_mark_value(vm, g->closure);
  gc_mark_value(vm, g->args);
  gc_mark_value(vm, g->yielded);
  gc_mark_value(vm, g->err_value);
  if (g->par) {
    gc_mark_value(vm, g->par->items);
    gc_mark_value(vm, g->par->fn);
  }
  if (g->ctx.live && vm->interp && vm->interp->sched && &g->ctx != S(vm)->loaded) interp_state_mark(vm, &g->ctx.st);
}

static void gen_finalize(Vm *vm, ObjNative *n)
{
  Gen *g = n->data;
  if (!g) return;
  ctx_free(vm, &g->ctx);
  par_free(g->par);
  free(g);
  n->data = NULL;
}

static const NativeVtbl gen_vt = {"generator", gen_display, gen_mark, gen_finalize, false, NULL};
static const NativeVtbl stream_vt = {"stream", gen_display, gen_mark, gen_finalize, false, NULL};

static Gen *gen_alloc(void)
{
  Gen *g = calloc(1, sizeof(Gen));
  if (!g) abort();
  g->closure = g->args = g->yielded = g->err_value = NIL_VAL;
  g->ctx.gen = g;
  return g;
}

bool sched_make_generator(Vm *vm, ObjClosure *cl, int argc, Value *argv, Value *out)
{
  ObjList *args = list_new(vm, (uint32_t)(argc > 0 ? argc : 0));
  for (int i = 0; i < argc; i++) list_push(vm, args, argv[i]);
  Gen *g = gen_alloc();
  g->stream = cl->fn->is_stream;
  g->closure = OBJ_VAL(cl);
  g->args = OBJ_VAL(args);
  *out = OBJ_VAL(native_new(vm, g->stream ? &stream_vt : &gen_vt, g, sizeof(Gen)));
  return true;
}

static Value par_stream_new(Vm *vm, int mode, ObjList *items, int64_t n, Value fn, int64_t k)
{
  /* a private copy of the input: the caller's list may be updated in
   * place later (copy-on-write), the stream spawns from it lazily */
  ObjList *copy = NULL;
  if (items) {
    copy = list_new(vm, (uint32_t)n);
    for (int64_t i = 0; i < n; i++) list_push(vm, copy, items->items[i]);
    gc_push_root(vm, OBJ_VAL(copy));
  }
  ParStream *ps = calloc(1, sizeof *ps);
  if (!ps) abort();
  ps->mode = mode;
  ps->items = copy ? OBJ_VAL(copy) : NIL_VAL;
  ps->fn = fn;
  ps->n = n;
  ps->k = k;
  ps->tasks = calloc((size_t)(n > 0 ? n : 1), sizeof(Task *));
  ps->got = calloc((size_t)(n > 0 ? n : 1), sizeof(bool));
  if (!ps->tasks || !ps->got) abort();
  Gen *g = gen_alloc();
  g->stream = true;
  g->par = ps;
  Value v = OBJ_VAL(native_new(vm, &stream_vt, g, sizeof(Gen)));
  if (copy) gc_pop_root(vm);
  par_top_up(vm, ps); /* the first k start when the creator next suspends */
  return v;
}

static void gen_main(void)
{
  Vm *vm = boot_vm;
  Sched *s = S(vm);
  Gen *g = s->boot_gen;
  arrived(vm, NULL);
  ObjList *args = AS_LIST(g->args);
  Value out;
  bool ok = interp_call_direct(vm, AS_CLOSURE(g->closure), (int)args->count, args->items, &out);
  if (!ok) {
    g->failed = true;
    g->err_kind = vm->err_kind;
    g->err_value = vm->err_value;
    err_clear(vm);
    interp_clear_trace(vm);
  }
  interp_scope_cut(vm, -1);
  g->state = G_DONE;
  Task *t = s->current;
  t->cur = g->resumer;
  s->zombie = &g->ctx;
  ctx_switch(vm, &g->ctx, g->resumer, true);
  abort(); /* a finished generator is never resumed */
}

/* Pull the next value: 1 value, 0 finished, -1 error. */
static int gen_pull(Vm *vm, Gen *g, Value *out)
{
  if (g->par) return par_pull(vm, g->par, out);
  if (g->state == G_DONE) return 0;
  if (g->state == G_RUNNING) {
    err_runtime(vm, "generator is already running");
    return -1;
  }
  Sched *s = S(vm);
  Task *t = s->current;
  Ctx *from = t->cur;
  if (g->state == G_NEW) {
    if (!ctx_prepare(vm, &g->ctx, gen_main)) {
      err_memory(vm);
      return -1;
    }
    s->boot_gen = g;
  }
  g->state = G_RUNNING;
  g->resumer = from;
  g->has_value = false;
  t->cur = &g->ctx;
  ctx_switch(vm, from, &g->ctx, false);
  if (g->has_value) {
    *out = g->yielded;
    g->yielded = NIL_VAL;
    g->has_value = false;
    return 1;
  }
  if (g->failed) {
    g->failed = false;
    err_set(vm, g->err_kind, g->err_value);
    g->err_value = NIL_VAL;
    return -1;
  }
  return 0;
}

bool sched_gen_yield(Vm *vm, Value v)
{
  Sched *s = S(vm);
  Task *t = s->current;
  Ctx *c = t->cur;
  Gen *g = c->gen;
  if (!g) return err_runtime(vm, "yield outside of a generator");
  g->yielded = v;
  g->has_value = true;
  g->state = G_SUSPENDED;
  t->cur = g->resumer;
  ctx_switch(vm, c, g->resumer, false);
  if (S(vm)->current->abandon) return abandon_error(vm);
  return true;
}

static Gen *as_gen(Value v)
{
  if (!IS_NATIVE(v)) return NULL;
  const NativeVtbl *vt = AS_NATIVE(v)->vt;
  return vt == &gen_vt || vt == &stream_vt ? AS_NATIVE(v)->data : NULL;
}

static int gen_iter_next(Vm *vm, ObjNative *n, Value *out) { return gen_pull(vm, n->data, out); }

int sched_method(Vm *vm, Value recv, ObjString *name, int argc, Value *argv, Value *out)
{
  Gen *g = as_gen(recv);
  if (g) {
    if (strcmp(name->chars, "next") == 0) {
      Value v = NIL_VAL;
      int r = gen_pull(vm, g, &v);
      if (r < 0) return -1;
      ObjDict *d = dict_new(vm, 2);
      dict_set_cstr(vm, d, "done", BOOL_VAL(r == 0));
      dict_set_cstr(vm, d, "value", v);
      *out = OBJ_VAL(d);
      return 1;
    }
  }
  if (IS_NATIVE(recv) && iter_accepts(recv) && strcmp(name->chars, "iter") == 0) {
    if (!iter_from(vm, recv, out)) return -1;
    return 1;
  }
  return 0;
}

/* ---- lifetime ------------------------------------------------------------------------ */

void sched_init(Vm *vm)
{
  /* the iterator registries (iter.c) are process-wide tables keyed by the
   * (static) vtables; they are filled once */
  static bool registered;
  if (!registered) {
    registered = true;
    iter_register_native(&gen_vt, gen_iter_next);
    iter_register_native(&stream_vt, gen_iter_next);
    chan_register();
  }
  Sched *s = calloc(1, sizeof(Sched));
  if (!s) abort();
  s->root_stack_budget = ROOT_STACK_MAX - STACK_MARGIN;
  struct rlimit rl;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < ROOT_STACK_MAX)
    s->root_stack_budget = rl.rlim_cur > 2 * STACK_MARGIN ? (size_t)rl.rlim_cur - STACK_MARGIN : STACK_MARGIN;
  s->root.state = T_RUNNING;
  s->root.started = true;
  s->root.ctx = s->root.cur = &s->root_ctx;
  s->root.heap_pos = -1;
  s->root.fn = s->root.arg = s->root.result = s->root.err_value = NIL_VAL;
  s->current = &s->root;
  s->loaded = &s->root_ctx;
  vm->interp->sched = s;
  boot_vm = vm;
}

void sched_reset(Vm *vm)
{
  Sched *s = S(vm);
  if (!s) return;
  boot_vm = vm;
  for (int i = 0; i < s->nall + s->nretired; i++) {
    Task *t = i < s->nall ? s->all[i] : s->retired[i - s->nall];
    if (t->handle) t->handle->data = NULL; /* it may outlive the run */
    if (t->ctx) ctx_free(vm, t->ctx);
    out_free(vm, t);
    sched_waitlist_free(&t->waiters);
    scratch_release(t);
    mem_free(vm, t, sizeof(Task));
  }
  s->nall = s->nretired = 0;
  s->scanning = 0;
  s->ntimers = 0;
  while (s->nspare > 0) fibermem_free(s->spare[--s->nspare]);
  s->qhead = s->qtail = 0;
  s->spawned = 0;
  s->done_seq = 0;
  s->zombie = NULL;
  s->virt_ms = 0;
  sched_waitlist_free(&s->root.waiters);
  scratch_release(&s->root);
  out_free(vm, &s->root);
  s->root.state = T_RUNNING;
  s->root.abandon = s->root.deadlocked = false;
  s->root.graceful = false;
  s->root.tcountdown = 0;
  s->root.first_child = NULL;
  s->root.heap_pos = -1;
  s->root.cur = &s->root_ctx;
  s->current = &s->root;
  s->loaded = &s->root_ctx;
  /* the root runs on the stack of the code that starts the run */
  s->root_ctx.floor = (char *)__builtin_frame_address(0) - s->root_stack_budget;
  while (s->mutexes) {
    Mutex *m = s->mutexes;
    s->mutexes = m->next;
    sched_waitlist_free(&m->waiters);
    free(m);
  }
}

void sched_free(Vm *vm)
{
  Sched *s = S(vm);
  if (!s) return;
  sched_reset(vm);
  free(s->root_ctx.st.troots);
  mem_free(vm, s->all, sizeof(Task *) * (size_t)s->capall);
  mem_free(vm, s->retired, sizeof(Task *) * (size_t)s->capretired);
  free(s->timers);
  free(s->queue);
  free(s);
  vm->interp->sched = NULL;
}

/* A task that no scan of Sched.all needs any more: ended, and either
 * awaited or cancelled (its result delivered or dropped, its output joined
 * or discarded), or with its handle collected and no output left for
 * settle_pending to join. Only its record stays: handles, parents and the
 * constructs that spawned it may still point to it. */
static bool task_retirable(const Task *t)
{
  return t->state == T_DONE && (t->awaited || t->cancelled || (t->handle_dead && t->out.len == 0));
}

static void task_retire(Vm *vm, Task *t)
{
  Sched *s = S(vm);
  if (s->nretired == s->capretired) {
    int cap = s->capretired ? s->capretired * 2 : 16;
    s->retired = mem_realloc(vm, s->retired, sizeof(Task *) * (size_t)s->capretired, sizeof(Task *) * (size_t)cap);
    s->capretired = cap;
  }
  t->result = t->err_value = NIL_VAL;
  s->retired[s->nretired++] = t;
}

/* Marking also retires the tasks no scan needs (task_retirable): moved
 * from `all` to `retired`, keeping spawn order, so that a run's work per
 * collection and per scan follows its tasks that matter, not every task
 * it ever spawned. Not while settle_pending walks `all` (`scanning`). */
void sched_mark(Vm *vm)
{
  Sched *s = S(vm);
  if (!s) return;
  if (s->loaded != &s->root_ctx) interp_state_mark(vm, &s->root_ctx.st);
  int k = 0;
  for (int i = 0; i < s->nall; i++) {
    Task *t = s->all[i];
    if (!s->scanning && task_retirable(t)) {
      task_retire(vm, t);
      continue;
    }
    s->all[k++] = t;
    gc_mark_value(vm, t->fn);
    gc_mark_value(vm, t->arg);
    gc_mark_value(vm, t->result);
    gc_mark_value(vm, t->err_value);
    if (t->ctx && t->ctx->live && t->ctx != s->loaded) interp_state_mark(vm, &t->ctx->st);
  }
  s->nall = k;
  for (Mutex *m = s->mutexes; m; m = m->next) gc_mark_obj(vm, (Obj *)m->key);
}

/* ---- finish lifecycle services (docs/RUNTIME.md 8.1; lifecycle.h) ----------------- */

bool sched_is_root(Vm *vm)
{
  Sched *s = S(vm);
  return !s || s->current == &s->root;
}

/* A task is unsettled while neither finished nor awaited (nor cancelled). */
static bool task_unsettled(const Task *t) { return t->state != T_DONE && !t->awaited && !t->cancelled; }

void sched_abort_pending(Vm *vm)
{
  Sched *s = S(vm);
  if (!s) return;
  /* docs/RUNTIME.md 8.1 step 7: like cancel(h) on every live task (with
   * `all` held still: abandoning a task may allocate, and so collect) */
  s->scanning++;
  for (int i = 0; i < s->nall; i++)
    if (s->all[i]->state != T_DONE) task_abandon(vm, s->all[i]);
  s->scanning--;
}

Value sched_unsettled_snapshot(Vm *vm, bool *empty)
{
  Sched *s = S(vm);
  ObjDict *d = dict_new(vm, 3);
  gc_push_root(vm, OBJ_VAL(d));
  ObjList *tasks = list_new(vm, 4);
  dict_set_cstr(vm, d, "pending_tasks", OBJ_VAL(tasks));
  ObjList *chans = list_new(vm, 0);
  dict_set_cstr(vm, d, "pending_channel_messages", OBJ_VAL(chans));
  chan_backlog(vm, chans);
  ObjList *calls = list_new(vm, 0);
  dict_set_cstr(vm, d, "pending_host_calls", OBJ_VAL(calls));
  hostcall_pending(vm, calls);
  /* the loop allocates: a collection must not compact `all` under it
   * (sched_mark retires tasks only while nothing walks it) */
  s->scanning++;
  for (int i = 0; i < s->nall; i++) {
    Task *t = s->all[i];
    if (!task_unsettled(t)) continue;
    ObjDict *e = dict_new(vm, 2);
    list_push(vm, tasks, OBJ_VAL(e));
    dict_set_cstr(vm, e, "id", OBJ_VAL(str_printf(vm, "vm_task_%llu", (unsigned long long)t->id)));
    dict_set_cstr(vm, e, "started", BOOL_VAL(t->started));
  }
  s->scanning--;
  gc_pop_root(vm);
  *empty = tasks->count == 0 && chans->count == 0 && calls->count == 0;
  return OBJ_VAL(d);
}

bool sched_bi_settle_pending(Vm *vm, int argc, Value *argv, Value *out)
{
  Sched *s = S(vm);
  Value tv = argc > 0 ? argv[0] : NIL_VAL;
  int64_t timeout = 5000;
  if (IS_INT(tv) || IS_DURATION(tv)) timeout = AS_INT(tv) > 0 ? AS_INT(tv) : 0;
  else if (!IS_NIL(tv))
    return err_type(vm, "settle_pending: timeout must be a duration or int, got %s", val_type_name(tv));
  int64_t end = sched_after(vm, timeout);
  bool settled = true;
  /* spawn order; s->nall may grow while we wait (tasks spawned meanwhile),
   * and must not shrink (sched_mark retires no task meanwhile) */
  s->scanning++;
  for (int i = 0; i < s->nall && settled; i++) {
    Task *t = s->all[i];
    if (t->awaited || t->cancelled || t == s->current || is_descendant(s->current, t)) continue;
    while (t->state != T_DONE) {
      if (sched_now(vm) >= end) {
        settled = false;
        break;
      }
      sched_wait_add(vm, &t->waiters);
      int r = sched_block(vm, end);
      sched_wait_remove(vm, &t->waiters);
      if (r < 0) {
        s->scanning--;
        return false;
      }
    }
    if (!settled) break;
    if (t->awaited || t->cancelled) continue;
    t->awaited = true;
    join_output(vm, t); /* its error is not re-raised */
  }
  s->scanning--;
  bool empty;
  Value snap = sched_unsettled_snapshot(vm, &empty);
  gc_push_root(vm, snap);
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "settled", BOOL_VAL(settled));
  dict_set_cstr(vm, d, "unsettled", snap);
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}
