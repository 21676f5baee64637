/*
 * compiler.c: one pass over the syntax tree to stack bytecode (comp_).
 *
 * Design
 * ------
 * Every function (the main chunk, fn declarations, lambdas, impl methods,
 * pipelines) is compiled by one FnState. Names are resolved here, at
 * compile time:
 *  - a local of the current function -> a frame slot (GET_LOCAL s). Slots
 *    are allocated per block scope and reused once the scope ends; hidden
 *    (unnamed) slots hold for-loop cursors, match subjects and
 *    destructuring sources.
 *  - a local of an enclosing function -> a capture. Captures are COPIED
 *    into the closure when it is created (CLOSURE k + (from_local, index)
 *    pairs): Harn closures see a snapshot (docs/LANGUAGE.md 7) and an assignment
 *    inside a closure changes only its own copy (SET_CAPTURE). A named local
 *    `fn` that calls itself captures its own slot, which PATCH_SELF points
 *    at the new closure right after creation.
 *  - anything else -> a global of the module, by index (interp.h Global):
 *    the fn, struct, enum and impl declarations of the main chunk's scope
 *    depth 0 (top-level let/var are locals of the main chunk, so closures
 *    snapshot them like any other binding).
 *    Whether the global exists is decided at run time, so `Undefined
 *    variable: x` / `Undefined builtin: f` are raised only when reached.
 *    A global that was never defined falls back to the builtin of that
 *    name (builtins are values too), then to builtin constants (pi, e). A
 *    call to a name that no top-level declaration defines and that is a
 *    builtin compiles straight to CALL_BUILTIN.
 *
 * Copy-on-write (value.h, Obj.owned): `x[i] = v`, `x.f = v` and
 * `x = x.push(v)` on a mutable local compile to GET_LOCAL_BORROW s; ...;
 * SET_INDEX_OWN / SET_PROP_OWN / PUSH_OWN; SET_LOCAL s (same instruction
 * count as the copying form), and the container of GET_INDEX / GET_PROP,
 * `len(x)` and a few read-only methods (INVOKE_BORROW) is borrowed, all
 * only when the operands compiled after the borrow pass `no_assign`.
 *
 * Operand depth: the compiler tracks the operand-stack depth of every
 * instruction it emits (the stack effects of opcodes.def), so `break`,
 * `continue` and `return` know how many temporaries to drop and every
 * function's maximum depth is checked against INTERP_MAX_OPERANDS (the
 * interpreter reserves that much per frame).
 *
 * Structured exits: a stack of unwind entries per function records the
 * enclosing loops, live handler records and pending `finally` bodies. A
 * `break`/`continue`/`return`/`?` walking out pops the handler records
 * (POP_HANDLER) and emits a copy of every finally body it crosses
 * (docs/RUNTIME.md 2.4); a throw reaches the catch-all record of the finally,
 * which runs the body and throws the caught value again. `defer { D }`
 * followed by statements S in a block is compiled as `try { S } finally
 * { D }`, which gives LIFO order and runs on errors too.
 *
 * Program shape (docs/LANGUAGE.md 1): enums are hoisted (known everywhere,
 * defined first); in pipeline mode the main chunk runs the top-level
 * let/var, defines structs, impls and fns, then calls the entry
 * pipeline's ancestors (outermost first) and the entry pipeline with the
 * job input; other top-level statements are ignored. In script mode the
 * statements run in order.
 *
 * Modules (docs/LANGUAGE.md 9.2, import.h): imports are resolved while
 * compiling. `import` loads and compiles the module file (once per run),
 * the first import site of the run calls the module's top level, and every
 * site copies the imported values into the importer's namespace
 * (GET_GLOBAL of the module's slot, DEFINE_GLOBAL of the importer's). The
 * entry program's namespace is the plain global names; an imported
 * module's names are globals named `name` NUL `module id` (global_index),
 * its top-level let/var included, so its functions share its state and
 * two modules never see each other's private names. Names a module uses
 * but does not define fall back to builtins as usual. Import errors
 * (unknown module, a name not defined, `Import collision`) are raised at
 * run time by the import statement.
 *
 * Operand forms (interp.c): a binary + - * / % whose operand is a local
 * of the function or a number literal compiles to one fused instruction
 * (ADD_LK s k, MUL_LL s t, MOD_K k, SUB_L s), a comparison used as an
 * if/while/ternary condition to a compare-and-branch (LT_LK_JF s k T...),
 * and `x = x + k` / `x += k` on a mutable local to INC_LOCAL, `l.name` on
 * a local to GET_PROP_L (the borrow + GET_PROP), and the `NIL; POP` after
 * an if statement without else whose branch exits to NIL_POP (counted as
 * two, so instruction counts do not change). Reading the
 * operands in place is the same as the unfused order because nothing runs
 * between the reads. Code after a return/throw/break/continue that ends a
 * block (its value, the jump over the else) is not emitted. Each function
 * records whether it is `plain` (interp.c's inline call path).
 *
 * Typed parameters (docs/LANGUAGE.md 8.5): each checkable parameter type is
 * compiled by typecheck.h into a constant in fn->param_types, which stays
 * NULL for a function without one; the interpreter checks at call time.
 *
 * Errors: compile errors longjmp out of the whole compilation with the
 * text `Compile error at line N: <message>`. Recursion is bounded
 * (COMP_MAX_NEST) so a deep tree cannot overflow the C stack.
 *
 * Memory: compile-time tables live in an Arena freed at the end; the
 * produced ObjFunctions are GC objects, safe because the collector only
 * runs at interpreter safe points, never during compilation.
 *
 * Concurrency: spawn and parallel bodies compile to closures (the
 * snapshot of docs/LANGUAGE.md 13) handed to SPAWN / PARALLEL; deadline and
 * mutex blocks bracket their body with SETUP/END instructions and an unwind
 * entry (U_DEADLINE, U_MUTEX) so break/continue/return emit the END; select
 * compiles to SELECT plus a chain of case-index tests; `yield`/`emit` mark
 * the function as a generator / stream (interp.c's call_value then builds
 * a generator instead of pushing a frame), and `gen fn` sets is_stream.
 */
#include "compiler.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "object.h"
#include "state.h"
#include "import.h"
#include "typecheck.h"

#define COMP_MAX_NEST 400   /* recursion depth of the tree walk */
#define COMP_MAX_LOCALS 8000 /* slots per function */
#define COMP_MAX_ARGS 255

/* ---- compile-time structures ---------------------------------------- */

typedef struct Local {
  const char *name; /* NULL: hidden slot */
  int slot;
  int depth;        /* scope depth */
  bool mutable_;
  bool is_let;
} Local;

typedef struct Capture {
  const char *name;
  bool from_local;
  uint16_t index;
  bool mutable_;
} Capture;

typedef struct LoopInfo {
  long continue_target;
  int depth;        /* operand depth inside the loop body */
  long *breaks;     /* operand offsets of the break jumps */
  int nbreaks, capbreaks;
} LoopInfo;

enum { U_LOOP, U_HANDLER, U_FINALLY, U_DEADLINE, U_MUTEX };

typedef struct Unwind {
  int kind;
  Node *finally_body; /* U_FINALLY */
  LoopInfo *loop;     /* U_LOOP */
} Unwind;

typedef struct FnState {
  struct FnState *enclosing;
  ObjFunction *fn;
  Local *locals;
  int nlocals, localcap;
  Capture *caps;
  int ncaps, capcap;
  int scope_depth;
  int next_slot, max_slot;
  int depth, max_depth; /* operand depth */
  Unwind *unwind;
  int nunwind, unwindcap;
  bool is_main;
} FnState;

typedef struct Comp {
  Vm *vm;
  FnState *fs;
  Arena arena;
  ObjString *file;
  jmp_buf jb;
  char *err;
  size_t errlen;
  int *errline;
  int line, col;
  int nest;
  /* names declared at the top level (globals that may exist) */
  const char **known;
  int nknown, knowncap;
  bool pipeline_mode;
  bool has_user_result;
  /* imports and module namespaces (see "Modules" in the design comment) */
  ImpModule *mod;          /* the module being compiled; NULL for the entry */
  Node *program;           /* the N_PROGRAM (type aliases for param checks) */
  Node **imports_done;     /* import statements already compiled */
  int nimports_done, capimports_done;
  struct CompImported *imported; /* names bound by imports (collisions) */
  int nimported, capimported;
  bool next_is_stream; /* the next compile_function compiles a `gen fn` */
} Comp;

typedef struct CompImported {
  const char *name;
  int origin;              /* global of the original definition */
} CompImported;

/* ---- errors ------------------------------------------------------------ */

static void comp_fail(Comp *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

static void comp_fail(Comp *c, int line, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->err, c->errlen, "Compile error at line %d: %s", line, msg);
  if (c->errline) *c->errline = line;
  longjmp(c->jb, 1);
}

/* Grow an arena-backed array (old storage is simply abandoned). */
static void *grow(Comp *c, void *old, int count, int *cap, size_t elem)
{
  if (count < *cap) return old;
  int ncap = *cap ? *cap * 2 : 8;
  void *p = arena_alloc(&c->arena, (size_t)ncap * elem);
  if (old && count) memcpy(p, old, (size_t)count * elem);
  *cap = ncap;
  return p;
}

/* ---- emitting ----------------------------------------------------------- */

#define AT(n) (c->line = (n)->line, c->col = (n)->col)

static Chunk *chunk(Comp *c) { return &c->fs->fn->chunk; }

static void emit_byte(Comp *c, uint8_t b) { chunk_write(c->vm, chunk(c), b, c->line, c->col); }

static void emit_u16(Comp *c, unsigned v)
{
  emit_byte(c, (uint8_t)(v & 0xff));
  emit_byte(c, (uint8_t)((v >> 8) & 0xff));
}

static void emit_u32(Comp *c, uint32_t v)
{
  for (int i = 0; i < 4; i++) emit_byte(c, (uint8_t)((v >> (8 * i)) & 0xff));
}

static void adjust(Comp *c, int delta)
{
  FnState *fs = c->fs;
  fs->depth += delta;
  if (fs->depth > fs->max_depth) {
    fs->max_depth = fs->depth;
    if (fs->max_depth > INTERP_MAX_OPERANDS) comp_fail(c, c->line, "expression too complex");
  }
}

static void emit_op(Comp *c, Opcode op)
{
  emit_byte(c, (uint8_t)op);
  if (interp_op_effects[op] != STACK_VAR) adjust(c, interp_op_effects[op]);
}

/* Emit an instruction whose stack effect depends on its operands. */
static void emit_op_eff(Comp *c, Opcode op, int effect)
{
  emit_byte(c, (uint8_t)op);
  adjust(c, effect);
}

static void emit_op_u16(Comp *c, Opcode op, unsigned v)
{
  emit_op(c, op);
  emit_u16(c, v);
}

static long here(Comp *c) { return (long)chunk(c)->count; }

/* Emit a jump-like op with a placeholder target; returns the operand offset. */
static long emit_jump(Comp *c, Opcode op)
{
  emit_op(c, op);
  long at = here(c);
  emit_u32(c, 0);
  return at;
}

static void patch_to(Comp *c, long at, long target)
{
  uint8_t *p = chunk(c)->code + at;
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(((uint32_t)target >> (8 * i)) & 0xff);
}

static void patch_here(Comp *c, long at) { patch_to(c, at, here(c)); }

static void emit_loop(Comp *c, long target)
{
  emit_op(c, OP_LOOP);
  emit_u32(c, (uint32_t)target);
}

static uint16_t add_const(Comp *c, Value v)
{
  uint32_t k = chunk_add_const(c->vm, chunk(c), v);
  if (k >= NO_CONST) comp_fail(c, c->line, "too many constants in one function");
  return (uint16_t)k;
}

static uint16_t const_str(Comp *c, const char *s)
{
  return add_const(c, OBJ_VAL(str_intern_cstr(c->vm, s)));
}

static void emit_const(Comp *c, Value v) { emit_op_u16(c, OP_CONST, add_const(c, v)); }

static void emit_int(Comp *c, int64_t i)
{
  if (i >= -128 && i <= 127) {
    emit_op(c, OP_INT8);
    emit_byte(c, (uint8_t)(int8_t)i);
  } else {
    emit_const(c, INT_VAL(i));
  }
}

static void emit_popn(Comp *c, int n)
{
  if (n <= 0) return;
  if (n == 1) {
    emit_op(c, OP_POP);
    return;
  }
  emit_op_eff(c, OP_POPN, -n);
  emit_u16(c, (unsigned)n);
}

static void emit_raise(Comp *c, ErrKind kind, const char *msg)
{
  emit_op(c, OP_RAISE);
  emit_byte(c, (uint8_t)kind);
  emit_u16(c, const_str(c, msg));
}

/* ---- scopes, locals, captures ------------------------------------------- */

static void begin_scope(Comp *c) { c->fs->scope_depth++; }

static void end_scope(Comp *c)
{
  FnState *fs = c->fs;
  fs->scope_depth--;
  while (fs->nlocals > 0 && fs->locals[fs->nlocals - 1].depth > fs->scope_depth) {
    fs->next_slot = fs->locals[fs->nlocals - 1].slot;
    fs->nlocals--;
  }
}

static int add_local(Comp *c, const char *name, bool mutable_, bool is_let)
{
  FnState *fs = c->fs;
  fs->locals = grow(c, fs->locals, fs->nlocals, &fs->localcap, sizeof(Local));
  int slot = fs->next_slot++;
  if (fs->next_slot > fs->max_slot) fs->max_slot = fs->next_slot;
  if (fs->max_slot > COMP_MAX_LOCALS) comp_fail(c, c->line, "too many local variables in one function");
  Local *l = &fs->locals[fs->nlocals++];
  l->name = name;
  l->slot = slot;
  l->depth = fs->scope_depth;
  l->mutable_ = mutable_;
  l->is_let = is_let;
  return slot;
}

static int hidden_slot(Comp *c) { return add_local(c, NULL, true, false); }

static Local *find_local(FnState *fs, const char *name)
{
  for (int i = fs->nlocals - 1; i >= 0; i--)
    if (fs->locals[i].name && strcmp(fs->locals[i].name, name) == 0) return &fs->locals[i];
  return NULL;
}

static int add_capture(Comp *c, FnState *fs, const char *name, bool from_local, int index,
                       bool mutable_)
{
  for (int i = 0; i < fs->ncaps; i++)
    if (fs->caps[i].from_local == from_local && fs->caps[i].index == index) return i;
  if (fs->ncaps >= 0xfff0) comp_fail(c, c->line, "too many captured variables");
  fs->caps = grow(c, fs->caps, fs->ncaps, &fs->capcap, sizeof(Capture));
  Capture *cp = &fs->caps[fs->ncaps];
  cp->name = name;
  cp->from_local = from_local;
  cp->index = (uint16_t)index;
  cp->mutable_ = mutable_;
  return fs->ncaps++;
}

/* Capture index of [name] in [fs] (resolving through enclosing functions),
 * or -1 when no enclosing function has such a variable. */
static int resolve_capture(Comp *c, FnState *fs, const char *name, bool *mutable_)
{
  for (int i = 0; i < fs->ncaps; i++)
    if (strcmp(fs->caps[i].name, name) == 0) {
      *mutable_ = fs->caps[i].mutable_;
      return i;
    }
  if (!fs->enclosing) return -1;
  Local *l = find_local(fs->enclosing, name);
  if (l) {
    *mutable_ = l->mutable_;
    return add_capture(c, fs, name, true, l->slot, l->mutable_);
  }
  int up = resolve_capture(c, fs->enclosing, name, mutable_);
  if (up < 0) return -1;
  return add_capture(c, fs, name, false, up, *mutable_);
}

typedef enum { R_LOCAL, R_CAPTURE, R_GLOBAL } ResKind;

typedef struct Res {
  ResKind kind;
  int index;
  bool mutable_;
} Res;

static bool is_known(Comp *c, const char *name)
{
  for (int i = 0; i < c->nknown; i++)
    if (strcmp(c->known[i], name) == 0) return true;
  return false;
}

static void add_known(Comp *c, const char *name)
{
  if (!name || is_known(c, name)) return;
  c->known = grow(c, c->known, c->nknown, &c->knowncap, sizeof(char *));
  c->known[c->nknown++] = name;
}

static int global_index(Comp *c, const char *name)
{
  int g;
  if (c->mod) {
    /* a module's namespace: `name` NUL `id`. The interpreter names a
     * global by gl->name->chars, which stops at the NUL, so errors and
     * the builtin fallback see the source name. */
    Buf b = {0};
    buf_puts(&b, name);
    buf_putc(&b, 0);
    buf_printf(&b, "%d", c->mod->id);
    g = interp_global_index(c->vm, b.data, b.len);
    buf_free(&b);
  } else {
    g = interp_global_index(c->vm, name, strlen(name));
  }
  if (g >= 0xffff) comp_fail(c, c->line, "too many global names");
  return g;
}

static Res resolve(Comp *c, const char *name)
{
  Res r;
  Local *l = find_local(c->fs, name);
  if (l) {
    r.kind = R_LOCAL;
    r.index = l->slot;
    r.mutable_ = l->mutable_;
    return r;
  }
  bool mut = true;
  int ci = resolve_capture(c, c->fs, name, &mut);
  if (ci >= 0) {
    r.kind = R_CAPTURE;
    r.index = ci;
    r.mutable_ = mut;
    return r;
  }
  r.kind = R_GLOBAL;
  r.index = global_index(c, name);
  r.mutable_ = true;
  return r;
}

/* The "did you mean" suggestion for an unknown [name], as a constant, or
 * NO_CONST. Candidates: visible variables, top-level names and (for calls)
 * builtin names. */
static uint16_t suggestion(Comp *c, const char *name, bool call)
{
  if (is_known(c, name) || builtin_lookup(name) >= 0) return NO_CONST;
  Value tmp;
  if (builtin_constant(name, &tmp)) return NO_CONST;
  if (strcmp(name, "Result") == 0) return NO_CONST;
  int cap = 0, n = 0;
  const char **cands = NULL;
  for (FnState *fs = c->fs; fs; fs = fs->enclosing) {
    for (int i = 0; i < fs->nlocals; i++)
      if (fs->locals[i].name) {
        cands = grow(c, cands, n, &cap, sizeof(char *));
        cands[n++] = fs->locals[i].name;
      }
    for (int i = 0; i < fs->ncaps; i++) {
      cands = grow(c, cands, n, &cap, sizeof(char *));
      cands[n++] = fs->caps[i].name;
    }
  }
  for (int i = 0; i < c->nknown; i++) {
    cands = grow(c, cands, n, &cap, sizeof(char *));
    cands[n++] = c->known[i];
  }
  if (call)
    for (int i = 0; i < builtin_count; i++) {
      cands = grow(c, cands, n, &cap, sizeof(char *));
      cands[n++] = builtin_table[i].name;
    }
  const char *s = err_suggest(name, cands, n);
  return s ? const_str(c, s) : NO_CONST;
}

static void emit_get_name(Comp *c, const char *name, bool call)
{
  Res r = resolve(c, name);
  switch (r.kind) {
  case R_LOCAL: emit_op_u16(c, OP_GET_LOCAL, (unsigned)r.index); break;
  case R_CAPTURE: emit_op_u16(c, OP_GET_CAPTURE, (unsigned)r.index); break;
  case R_GLOBAL:
    emit_op(c, call ? OP_GET_CALLEE : OP_GET_GLOBAL);
    emit_u16(c, (unsigned)r.index);
    emit_u16(c, suggestion(c, name, call));
    break;
  }
}

/* Store the top value into the existing variable [name] (assignment). */
static void emit_set_name(Comp *c, const char *name)
{
  Res r = resolve(c, name);
  if (r.kind != R_GLOBAL && !r.mutable_) {
    emit_raise(c, ERR_IMMUTABLE, name);
    emit_op(c, OP_POP);
    return;
  }
  switch (r.kind) {
  case R_LOCAL: emit_op_u16(c, OP_SET_LOCAL, (unsigned)r.index); break;
  case R_CAPTURE: emit_op_u16(c, OP_SET_CAPTURE, (unsigned)r.index); break;
  case R_GLOBAL: emit_op_u16(c, OP_SET_GLOBAL, (unsigned)r.index); break;
  }
}

static bool at_global_scope(Comp *c) { return c->fs->is_main && c->fs->scope_depth == 0; }

/* Declare [name] and store the top value into it (let/var/for/catch...).
 * Top-level let/var are locals of the main chunk too: closures created
 * later capture them by copy like any other binding (docs/LANGUAGE.md 7). */
static void declare_store(Comp *c, const char *name, bool mutable_, bool is_let)
{
  if (strcmp(name, "_") == 0) {
    emit_op(c, OP_POP);
    return;
  }
  if (c->mod && at_global_scope(c)) {
    /* a module's top-level let/var: a global of its namespace, so its
     * functions share it (module state) */
    add_known(c, name);
    emit_op(c, OP_DEFINE_GLOBAL);
    emit_u16(c, (unsigned)global_index(c, name));
    emit_byte(c, (uint8_t)((mutable_ ? 1 : 0) | (is_let ? 2 : 0)));
    return;
  }
  FnState *fs = c->fs;
  for (int i = fs->nlocals - 1; i >= 0 && fs->locals[i].depth == fs->scope_depth; i--) {
    Local *l = &fs->locals[i];
    if (l->name && strcmp(l->name, name) == 0 && l->is_let && is_let) {
      char msg[300];
      snprintf(msg, sizeof msg,
               "Cannot redeclare immutable variable '%s' in the same scope (use 'var' for "
               "mutable bindings)",
               name);
      emit_raise(c, ERR_RUNTIME, msg);
      break;
    }
  }
  int slot = add_local(c, name, mutable_, is_let);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)slot);
}

/* ---- unwind stack ------------------------------------------------------- */

static void push_unwind(Comp *c, int kind, Node *fin, LoopInfo *loop)
{
  FnState *fs = c->fs;
  fs->unwind = grow(c, fs->unwind, fs->nunwind, &fs->unwindcap, sizeof(Unwind));
  Unwind *u = &fs->unwind[fs->nunwind++];
  u->kind = kind;
  u->finally_body = fin;
  u->loop = loop;
}

static void pop_unwind(Comp *c) { c->fs->nunwind--; }

static void compile_block_stmt(Comp *c, Node *block);

/* return / throw / break / continue: nothing after it in its block runs. */
static bool is_exit_stmt(const Node *s)
{
  return s && (s->kind == N_RETURN || s->kind == N_THROW || s->kind == N_BREAK || s->kind == N_CONTINUE);
}

/* Does the block (or statement) [b] end with an exit statement? */
static bool ends_in_exit(const Node *b)
{
  if (!b) return false;
  if (b->kind == N_BLOCK) return b->as.list.count > 0 && is_exit_stmt(b->as.list.items[b->as.list.count - 1]);
  return is_exit_stmt(b);
}

/* Emit the exits of the unwind entries above index [stop] (innermost
 * first): POP_HANDLER for handler records, a copy of each finally body. */
static void emit_unwind_to(Comp *c, int stop)
{
  FnState *fs = c->fs;
  int n = fs->nunwind;
  Unwind *saved = arena_alloc(&c->arena, (size_t)(n > 0 ? n : 1) * sizeof(Unwind));
  if (n > 0) memcpy(saved, fs->unwind, (size_t)n * sizeof(Unwind));
  for (int i = n - 1; i >= stop; i--) {
    if (saved[i].kind == U_HANDLER) {
      emit_op(c, OP_POP_HANDLER);
    } else if (saved[i].kind == U_DEADLINE) {
      emit_op(c, OP_DEADLINE_END);
    } else if (saved[i].kind == U_MUTEX) {
      emit_op(c, OP_MUTEX_EXIT);
    } else if (saved[i].kind == U_FINALLY) {
      int line = c->line, col = c->col;
      fs->nunwind = i; /* the finally body runs outside its own try */
      compile_block_stmt(c, saved[i].finally_body);
      c->line = line;
      c->col = col;
    }
  }
  /* restore the entries (compiling the bodies may have overwritten them) */
  fs->unwind = grow(c, fs->unwind, n, &fs->unwindcap, sizeof(Unwind));
  if (n > 0) memcpy(fs->unwind, saved, (size_t)n * sizeof(Unwind));
  fs->nunwind = n;
}

static bool has_unwind_work(Comp *c)
{
  for (int i = 0; i < c->fs->nunwind; i++)
    if (c->fs->unwind[i].kind != U_LOOP) return true;
  return false;
}

/* Return the value on top of the stack from the current function. */
static void emit_return(Comp *c)
{
  emit_unwind_to(c, 0);
  emit_op(c, OP_RETURN);
}

/* ---- forward declarations ----------------------------------------------- */

static void compile_expr(Comp *c, Node *n);
static void compile_stmt(Comp *c, Node *n);
static void compile_block_expr(Comp *c, Node *block);
static void compile_stmts(Comp *c, NodeList *l, int from, bool want_value);
static void bind_pattern(Comp *c, Binding *b, bool mutable_, bool is_let);

static void enter(Comp *c, Node *n)
{
  if (++c->nest > COMP_MAX_NEST) comp_fail(c, n->line, "program nested too deeply");
}

static void leave(Comp *c) { c->nest--; }

/* ---- functions ---------------------------------------------------------- */

static ObjString *intern(Comp *c, const char *s) { return str_intern_cstr(c->vm, s ? s : ""); }

/* The `type X = ...` alias named [name] in the program, or NULL. */
static const TypeExpr *find_alias(void *ud, const char *name)
{
  Comp *c = ud;
  if (!c->program) return NULL;
  NodeList *items = &c->program->as.list;
  for (int i = 0; i < items->count; i++) {
    Node *it = items->items[i];
    if (it->kind == N_TYPE_ALIAS && it->as.type_alias.name && strcmp(it->as.type_alias.name, name) == 0)
      return it->as.type_alias.type;
  }
  return NULL;
}

/* A `type` alias used as a value (`schema_of(User)`, docs/LANGUAGE.md 12.6)
 * is its schema (typecheck.c tc_schema_of), a constant. Only when the
 * name is no local or capture (a variable shadows the alias); true when
 * emitted. bi_schema_of copies a dict argument, so the constant is never
 * handed out to be updated. */
static bool emit_alias_schema(Comp *c, const char *name)
{
  const TypeExpr *t = find_alias(c, name);
  if (!t || resolve(c, name).kind != R_GLOBAL) return false;
  emit_const(c, tc_schema_of(c->vm, t, find_alias, c));
  return true;
}

/* Record the run-time check of parameter [i] (docs/LANGUAGE.md 8.5).
 * fn->param_types stays NULL while no parameter has a checkable type, so
 * untyped functions pay nothing at call time. */
static void set_param_type(Comp *c, ObjFunction *fn, int i, Param *p)
{
  if (!p->type || p->rest) return;
  Value t = tc_compile_type(c->vm, p->type, find_alias, c);
  if (IS_NIL(t)) return;
  if (!fn->param_types) {
    fn->param_types = mem_alloc(c->vm, (size_t)fn->nparams * sizeof(Value));
    for (int j = 0; j < fn->nparams; j++) fn->param_types[j] = NIL_VAL;
  }
  fn->param_types[i] = t;
}

/* Compile a function and emit, in the enclosing function, the CLOSURE that
 * creates it. [self_slot] >= 0: the enclosing local the function is bound
 * to (a named local fn); its capture of that slot is patched to the new
 * closure (PATCH_SELF), so it can call itself. */
static void compile_function(Comp *c, const char *name, ParamList *params, Node *body,
                             int self_slot, int line)
{
  FnState fs;
  memset(&fs, 0, sizeof fs);
  fs.enclosing = c->fs;
  ObjFunction *fn = function_new(c->vm);
  fs.fn = fn;
  fn->name = intern(c, name);
  fn->file = c->file;
  fn->is_stream = c->next_is_stream; /* `gen fn` */
  c->next_is_stream = false;
  c->fs = &fs;

  int np = params ? params->count : 0;
  if (np > 250) comp_fail(c, line, "too many parameters");
  fn->nparams = (uint16_t)np;
  fn->nrequired = (uint16_t)np;
  if (np) fn->param_names = mem_alloc(c->vm, (size_t)np * sizeof(ObjString *));
  bool seen_default = false;
  for (int i = 0; i < np; i++) {
    Param *p = &params->items[i];
    fn->param_names[i] = intern(c, p->name);
    set_param_type(c, fn, i, p);
    if (p->rest) fn->has_rest = true;
    if (p->default_ && !seen_default) {
      seen_default = true;
      fn->nrequired = (uint16_t)i;
    }
    add_local(c, p->name, true, false);
  }
  /* defaults, evaluated per call when the argument was not passed */
  for (int i = 0; i < np; i++) {
    Param *p = &params->items[i];
    if (!p->default_ || p->rest) continue;
    c->line = p->line;
    c->col = p->col;
    emit_op(c, OP_ARG_GIVEN);
    emit_byte(c, (uint8_t)i);
    long at = here(c);
    emit_u32(c, 0);
    compile_expr(c, p->default_);
    emit_op_u16(c, OP_SET_LOCAL, (unsigned)i);
    patch_here(c, at);
  }
  if (body) {
    compile_block_expr(c, body);
  } else {
    emit_op(c, OP_NIL);
  }
  emit_op(c, OP_RETURN);

  fn->nlocals = (uint16_t)fs.max_slot;
  fn->ncaptures = (uint16_t)fs.ncaps;
  /* interp.c's inline call path needs nothing but a frame for it */
  fn->plain = !fn->has_rest && !fn->is_generator && !fn->is_stream && !fn->param_types;
  c->fs = fs.enclosing;

  c->line = line;
  uint16_t k = add_const(c, OBJ_VAL(fn));
  emit_op_u16(c, OP_CLOSURE, k);
  int patch = -1;
  for (int i = 0; i < fs.ncaps; i++) {
    emit_byte(c, fs.caps[i].from_local ? 1 : 0);
    emit_u16(c, fs.caps[i].index);
    if (self_slot >= 0 && fs.caps[i].from_local && fs.caps[i].index == self_slot) patch = i;
  }
  if (patch >= 0) emit_op_u16(c, OP_PATCH_SELF, (unsigned)patch);
}

/* ---- expressions -------------------------------------------------------- */

/* ---- copy-on-write borrows (value.h, Obj.owned) ------------------------------ */

/* True when the code compiled for expression [n] cannot assign to a named
 * local of the current function (so a value borrowed from a slot before it
 * runs cannot be updated in place under the borrower). Conservative: only
 * expression kinds made of other expressions qualify; blocks, if, match,
 * try, pipes, yields... do not. Lambdas do: their body is another function
 * and captures are copies. */
static bool no_assign(Node *n, int depth)
{
  if (!n) return true;
  if (depth > 32) return false;
  depth++;
  switch (n->kind) {
  case N_NIL: case N_BOOL: case N_INT: case N_FLOAT: case N_DURATION: case N_STRING:
  case N_IDENT: case N_LAMBDA:
    return true;
  case N_INTERP:
  case N_LIST:
    for (int i = 0; i < n->as.list.count; i++)
      if (!no_assign(n->as.list.items[i], depth)) return false;
    return true;
  case N_DICT:
    for (int i = 0; i < n->as.dict.count; i++)
      if (!no_assign(n->as.dict.entries[i].key, depth) ||
          !no_assign(n->as.dict.entries[i].value, depth))
        return false;
    return true;
  case N_STRUCT_LIT:
    for (int i = 0; i < n->as.struct_lit.count; i++)
      if (!no_assign(n->as.struct_lit.fields[i].key, depth) ||
          !no_assign(n->as.struct_lit.fields[i].value, depth))
        return false;
    return true;
  case N_UNARY: return no_assign(n->as.unary.operand, depth);
  case N_BINARY: return no_assign(n->as.binary.left, depth) && no_assign(n->as.binary.right, depth);
  case N_TERNARY:
    return no_assign(n->as.ternary.cond, depth) && no_assign(n->as.ternary.then, depth) &&
           no_assign(n->as.ternary.else_, depth);
  case N_RANGE: return no_assign(n->as.range.start, depth) && no_assign(n->as.range.end, depth);
  case N_CALL:
    for (int i = 0; i < n->as.call.args.count; i++)
      if (!no_assign(n->as.call.args.items[i], depth)) return false;
    return true;
  case N_METHOD:
    for (int i = 0; i < n->as.method.args.count; i++)
      if (!no_assign(n->as.method.args.items[i], depth)) return false;
    return no_assign(n->as.method.recv, depth);
  case N_PROPERTY: return no_assign(n->as.prop.recv, depth);
  case N_INDEX: return no_assign(n->as.index.recv, depth) && no_assign(n->as.index.index, depth);
  case N_SLICE:
    return no_assign(n->as.slice.recv, depth) && no_assign(n->as.slice.start, depth) &&
           no_assign(n->as.slice.end, depth);
  case N_TRY_OP:
  case N_SPREAD: return no_assign(n->as.unop.expr, depth);
  default: return false;
  }
}

/* Push [recv], the container operand of GET_INDEX / GET_PROP, whose other
 * operand [later] (or NULL) is compiled after it: a local is borrowed (it
 * stays owned; the consumer keeps only an element) when [later] cannot
 * assign to it. */
static void compile_recv(Comp *c, Node *recv, Node *later)
{
  if (recv->kind == N_IDENT && no_assign(later, 0)) {
    Local *l = find_local(c->fs, recv->as.str.s);
    if (l) {
      AT(recv);
      emit_op_u16(c, OP_GET_LOCAL_BORROW, (unsigned)l->slot);
      return;
    }
  }
  compile_expr(c, recv);
}

/* The slot of [n] when it names a mutable local of the current function
 * (a target whose updates may be done in place), else -1. */
static int owned_slot(Comp *c, Node *n)
{
  if (n->kind != N_IDENT) return -1;
  Local *l = find_local(c->fs, n->as.str.s);
  return l && l->mutable_ ? l->slot : -1;
}

/* Builtin list/dict methods that return a scalar or an element, never the
 * receiver nor anything holding it: their receiver may be borrowed
 * (INVOKE_BORROW shares any other kind of receiver before the call). */
static bool borrow_method(const char *name)
{
  static const char *const names[] = {"contains", "count", "empty", "first", "get",
                                      "has", "index_of", "last", "len"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0) return true;
  return false;
}

/* Can the arguments [args] be compiled after a borrowed receiver? */
static bool args_no_assign(NodeList *args)
{
  for (int i = 0; i < args->count; i++)
    if (args->items[i]->kind == N_SPREAD || !no_assign(args->items[i], 0)) return false;
  return true;
}

static bool node_is_ident(Node *n, const char *name)
{
  return n && n->kind == N_IDENT && strcmp(n->as.str.s, name) == 0;
}

static bool has_spread(NodeList *args)
{
  for (int i = 0; i < args->count; i++)
    if (args->items[i]->kind == N_SPREAD) return true;
  return false;
}

/* Push the arguments as a list (call spread). */
static void compile_args_list(Comp *c, NodeList *args)
{
  emit_op(c, OP_NEW_LIST);
  for (int i = 0; i < args->count; i++) {
    Node *a = args->items[i];
    if (a->kind == N_SPREAD) {
      compile_expr(c, a->as.unop.expr);
      emit_op(c, OP_LIST_SPREAD);
    } else {
      compile_expr(c, a);
      emit_op(c, OP_LIST_APPEND);
    }
  }
}

static int compile_args(Comp *c, NodeList *args, Node *n)
{
  if (args->count > COMP_MAX_ARGS) comp_fail(c, n->line, "too many arguments");
  for (int i = 0; i < args->count; i++) compile_expr(c, args->items[i]);
  return args->count;
}

/* Call of a plain name `f(args)`; [tail]: in `return f(args)` position. */
static void compile_call(Comp *c, Node *n, bool tail)
{
  const char *name = n->as.call.name;
  NodeList *args = &n->as.call.args;
  bool spread = has_spread(args);
  bool direct_builtin = false;
  int bi = -1;
  if (!find_local(c->fs, name)) {
    /* a capture would be found by resolve(); check without creating one */
    bool captured = false;
    for (FnState *fs = c->fs->enclosing; fs && !captured; fs = fs->enclosing)
      if (find_local(fs, name)) captured = true;
    for (int i = 0; i < c->fs->ncaps && !captured; i++)
      if (strcmp(c->fs->caps[i].name, name) == 0) captured = true;
    if (!captured && !is_known(c, name)) {
      bi = builtin_lookup(name);
      direct_builtin = bi >= 0 && !spread;
    }
  }
  if (direct_builtin) {
    int argc;
    if (args->count == 1 && strcmp(name, "len") == 0) {
      compile_recv(c, args->items[0], NULL); /* len(xs) keeps xs owned */
      argc = 1;
    } else {
      argc = compile_args(c, args, n);
    }
    AT(n);
    emit_op_eff(c, OP_CALL_BUILTIN, 1 - argc);
    emit_u16(c, (unsigned)bi);
    emit_byte(c, (uint8_t)argc);
    return;
  }
  AT(n);
  emit_get_name(c, name, true);
  if (spread) {
    compile_args_list(c, args);
    AT(n);
    emit_op(c, OP_CALL_SPREAD);
    return;
  }
  int argc = compile_args(c, args, n);
  AT(n);
  emit_op_eff(c, tail ? OP_TAIL_CALL : OP_CALL, -argc);
  emit_byte(c, (uint8_t)argc);
}

static void compile_method(Comp *c, Node *n)
{
  NodeList *args = &n->as.method.args;
  /* copy-on-write: `xs.contains(x)` does not make xs shared */
  bool borrow = n->as.method.recv->kind == N_IDENT && find_local(c->fs, n->as.method.recv->as.str.s) &&
                borrow_method(n->as.method.name) && args_no_assign(args);
  if (borrow) compile_recv(c, n->as.method.recv, NULL);
  else compile_expr(c, n->as.method.recv);
  uint16_t k = const_str(c, n->as.method.name);
  if (has_spread(args)) {
    compile_args_list(c, args);
    AT(n);
    emit_op(c, OP_INVOKE_SPREAD);
    emit_u16(c, k);
    emit_byte(c, n->as.method.optional ? 1 : 0);
    return;
  }
  int argc = compile_args(c, args, n);
  AT(n);
  emit_op_eff(c, borrow ? OP_INVOKE_BORROW : OP_INVOKE, -argc);
  emit_u16(c, k);
  emit_byte(c, (uint8_t)argc);
  emit_byte(c, n->as.method.optional ? 1 : 0);
  emit_byte(c, 0); /* inline cache */
}

/* ---- operand forms (superinstructions, interp.c "operand forms") ----
 * A binary operator whose operand is a local of this function or a number
 * literal compiles to one instruction that reads it in place (ADD_LK s k,
 * MUL_LL s t, MOD_K k, ...), and a comparison used as a condition to a
 * compare-and-branch (LT_LK_JF s k T, ...). The fused instruction gets the
 * operator's line, which is where the unfused operator raised its errors. */

/* The slot of [n] when it reads a local of the current function, else -1. */
static int local_operand(Comp *c, Node *n)
{
  if (n->kind != N_IDENT) return -1;
  Local *l = find_local(c->fs, n->as.str.s);
  return l ? l->slot : -1;
}

static bool is_num_literal(const Node *n)
{
  return n->kind == N_INT || n->kind == N_FLOAT ||
         (n->kind == N_UNARY && n->as.unary.op == '-' && n->as.unary.operand->kind == N_INT);
}

/* The constant index of the number literal [n] (is_num_literal). */
static uint16_t num_const(Comp *c, const Node *n)
{
  if (n->kind == N_FLOAT) return add_const(c, FLOAT_VAL(n->as.f));
  if (n->kind == N_INT) return add_const(c, INT_VAL(n->as.i));
  return add_const(c, INT_VAL((int64_t)(0 - (uint64_t)n->as.unary.operand->as.i)));
}

/* Emit [op] with two u16 operands. */
static void emit_op_u16x2(Comp *c, Opcode op, unsigned a, unsigned b)
{
  emit_op(c, op);
  emit_u16(c, a);
  emit_u16(c, b);
}

/* Source positions of a fused instruction emitted at [at], whose n
 * sub-instructions (the unfused sequence it counts as, interp.c op_extra)
 * came from the nodes subs[0..n-1]. A budget, instruction limit or cancel
 * countdown that runs out at sub-instruction j must point where the
 * unfused instruction j pointed: interp.c (count_weighted) reports j < n-1
 * at byte at+1+j and the last one at the opcode byte, so those bytes get
 * the nodes' positions. The last operand byte keeps the instruction's own
 * position, which its runtime errors use (they are raised with ip past the
 * operands); every fused form has at least n operand bytes. */
static void fused_positions(Comp *c, long at, Node *const *subs, int n)
{
  Chunk *ch = chunk(c);
  ch->lines[at] = subs[n - 1]->line;
  ch->cols[at] = subs[n - 1]->col;
  for (int j = 0; j < n - 1; j++) {
    ch->lines[at + 1 + j] = subs[j]->line;
    ch->cols[at + 1 + j] = subs[j]->col;
  }
}

/* Arithmetic [op] (+ - * / %) in its operand forms; false if [op] has none. */
static bool compile_arith_form(Comp *c, Node *n, BinOp op)
{
  static const Opcode fk[] = {OP_ADD_K, OP_SUB_K, OP_MUL_K, OP_DIV_K, OP_MOD_K};
  static const Opcode fl[] = {OP_ADD_L, OP_SUB_L, OP_MUL_L, OP_DIV_L, OP_MOD_L};
  static const Opcode flk[] = {OP_ADD_LK, OP_SUB_LK, OP_MUL_LK, OP_DIV_LK, OP_MOD_LK};
  static const Opcode fll[] = {OP_ADD_LL, OP_SUB_LL, OP_MUL_LL, OP_DIV_LL, OP_MOD_LL};
  if (op > OP_MOD_) return false;
  int i = (int)op - (int)OP_ADD_;
  Node *l = n->as.binary.left, *r = n->as.binary.right;
  int ls = local_operand(c, l), rs = local_operand(c, r);
  if (ls >= 0 && (rs >= 0 || is_num_literal(r))) {
    unsigned b = rs >= 0 ? (unsigned)rs : num_const(c, r);
    AT(n);
    long at = here(c);
    emit_op_u16x2(c, rs >= 0 ? fll[i] : flk[i], (unsigned)ls, b);
    fused_positions(c, at, (Node *[]){l, r, n}, 3);
    return true;
  }
  if (rs < 0 && !is_num_literal(r)) return false;
  compile_expr(c, l);
  AT(n);
  long at = here(c);
  if (rs >= 0) emit_op_u16(c, fl[i], (unsigned)rs);
  else emit_op_u16(c, fk[i], num_const(c, r));
  fused_positions(c, at, (Node *[]){r, n}, 2);
  return true;
}

/* Compile the condition [cond] followed by a jump taken when it is falsy
 * ([n]: the statement, for the line); returns the jump's operand offset. */
static long compile_jump_if_false(Comp *c, Node *cond, Node *n)
{
  if (cond->kind == N_BINARY && cond->as.binary.op >= OP_EQ_ && cond->as.binary.op <= OP_GE_) {
    /* BinOp order: EQ NE LT GT LE GE */
    static const Opcode fjf[] = {OP_EQ_JF, OP_NE_JF, OP_LT_JF, OP_GT_JF, OP_LE_JF, OP_GE_JF};
    static const Opcode fk[] = {OP_EQ_K_JF, OP_NE_K_JF, OP_LT_K_JF, OP_GT_K_JF, OP_LE_K_JF, OP_GE_K_JF};
    static const Opcode flk[] = {OP_EQ_LK_JF, OP_NE_LK_JF, OP_LT_LK_JF,
                                 OP_GT_LK_JF, OP_LE_LK_JF, OP_GE_LK_JF};
    static const Opcode fll[] = {OP_EQ_LL_JF, OP_NE_LL_JF, OP_LT_LL_JF,
                                 OP_GT_LL_JF, OP_LE_LL_JF, OP_GE_LL_JF};
    int i = (int)cond->as.binary.op - (int)OP_EQ_;
    Node *l = cond->as.binary.left, *r = cond->as.binary.right;
    int ls = local_operand(c, l), rs = local_operand(c, r);
    /* sub-instructions: [GET_LOCAL l] [CONST r] compare (cond) JUMP_IF_FALSE (n) */
    Node *subs[4] = {l, r, cond, n};
    int first;
    long op_at;
    if (ls >= 0 && (rs >= 0 || is_num_literal(r))) {
      unsigned b = rs >= 0 ? (unsigned)rs : num_const(c, r);
      AT(cond);
      op_at = here(c);
      first = 0;
      emit_op_u16x2(c, rs >= 0 ? fll[i] : flk[i], (unsigned)ls, b);
    } else if (is_num_literal(r)) {
      compile_expr(c, l);
      AT(cond);
      op_at = here(c);
      first = 1;
      emit_op_u16(c, fk[i], num_const(c, r));
    } else {
      compile_expr(c, l);
      compile_expr(c, r);
      AT(cond);
      op_at = here(c);
      first = 2;
      emit_op(c, fjf[i]);
    }
    long at = here(c);
    emit_u32(c, 0);
    fused_positions(c, op_at, subs + first, 4 - first);
    return at;
  }
  compile_expr(c, cond);
  AT(n);
  return emit_jump(c, OP_JUMP_IF_FALSE);
}

static void compile_binary(Comp *c, Node *n)
{
  BinOp op = n->as.binary.op;
  if (compile_arith_form(c, n, op)) return;
  if (op == OP_AND_ || op == OP_OR_) {
    int d0 = c->fs->depth;
    compile_expr(c, n->as.binary.left);
    AT(n);
    long short_jump = emit_jump(c, op == OP_AND_ ? OP_JUMP_IF_FALSE : OP_JUMP_IF_TRUE);
    compile_expr(c, n->as.binary.right);
    AT(n);
    emit_op(c, OP_TO_BOOL);
    long end = emit_jump(c, OP_JUMP);
    patch_here(c, short_jump);
    c->fs->depth = d0;
    emit_op(c, op == OP_AND_ ? OP_FALSE : OP_TRUE);
    patch_here(c, end);
    return;
  }
  if (op == OP_NULLISH_) {
    int d0 = c->fs->depth;
    compile_expr(c, n->as.binary.left);
    AT(n);
    long j = emit_jump(c, OP_JUMP_IF_NOT_NIL);
    compile_expr(c, n->as.binary.right);
    patch_here(c, j);
    c->fs->depth = d0 + 1;
    return;
  }
  compile_expr(c, n->as.binary.left);
  compile_expr(c, n->as.binary.right);
  AT(n);
  static const Opcode ops[] = {
      [OP_ADD_] = OP_ADD, [OP_SUB_] = OP_SUB, [OP_MUL_] = OP_MUL, [OP_DIV_] = OP_DIV,
      [OP_MOD_] = OP_MOD, [OP_POW_] = OP_POW, [OP_EQ_] = OP_EQ,   [OP_NE_] = OP_NE,
      [OP_LT_] = OP_LT,   [OP_GT_] = OP_GT,   [OP_LE_] = OP_LE,   [OP_GE_] = OP_GE,
      [OP_IN_] = OP_IN,   [OP_NOT_IN_] = OP_NOT_IN,
  };
  if ((unsigned)op >= sizeof ops / sizeof ops[0]) comp_fail(c, n->line, "unknown operator");
  emit_op(c, ops[op]);
}

/* if/else and ternary: [then]/[else_] are expressions (else_ may be NULL). */
static void compile_cond(Comp *c, Node *n, Node *cond, Node *then, Node *else_)
{
  int d0 = c->fs->depth;
  long jf = compile_jump_if_false(c, cond, n);
  compile_expr(c, then);
  long jend = ends_in_exit(then) ? -1 : emit_jump(c, OP_JUMP);
  patch_here(c, jf);
  c->fs->depth = d0;
  if (else_) {
    compile_expr(c, else_);
  } else {
    emit_op(c, OP_NIL);
  }
  if (jend >= 0) patch_here(c, jend);
  c->fs->depth = d0 + 1;
}


static void compile_pipe(Comp *c, Node *n)
{
  if (n->as.pipe.placeholder) {
    /* the right side is a lambda of `_` applied to the left side: bind `_`
     * in a scope of its own and evaluate the right side there */
    compile_expr(c, n->as.pipe.left);
    begin_scope(c);
    int slot = add_local(c, "_", true, false);
    emit_op_u16(c, OP_SET_LOCAL, (unsigned)slot);
    compile_expr(c, n->as.pipe.right);
    end_scope(c);
    return;
  }
  compile_expr(c, n->as.pipe.left);
  Node *r = n->as.pipe.right;
  if (r->kind == N_IDENT) {
    AT(r);
    emit_get_name(c, r->as.str.s, true);
  } else {
    compile_expr(c, r);
  }
  AT(n);
  emit_op(c, OP_SWAP);
  emit_op_eff(c, OP_CALL, -1);
  emit_byte(c, 1);
}

static void compile_interp(Comp *c, Node *n)
{
  NodeList *parts = &n->as.list;
  int pending = 0;
  bool have_acc = false;
  for (int i = 0; i < parts->count; i++) {
    compile_expr(c, parts->items[i]);
    pending++;
    if (pending == 200) {
      AT(n);
      emit_op_eff(c, OP_INTERP, 1 - pending);
      emit_byte(c, (uint8_t)pending);
      pending = 1;
      have_acc = true;
    }
  }
  (void)have_acc;
  AT(n);
  emit_op_eff(c, OP_INTERP, 1 - pending);
  emit_byte(c, (uint8_t)pending);
}

static void compile_list(Comp *c, Node *n)
{
  AT(n);
  emit_op(c, OP_NEW_LIST);
  for (int i = 0; i < n->as.list.count; i++) {
    Node *item = n->as.list.items[i];
    if (item->kind == N_SPREAD) {
      compile_expr(c, item->as.unop.expr);
      AT(item);
      emit_op(c, OP_LIST_SPREAD);
    } else {
      compile_expr(c, item);
      AT(item);
      emit_op(c, OP_LIST_APPEND);
    }
  }
}

static void compile_dict_entries(Comp *c, DictEntryNode *entries, int count)
{
  for (int i = 0; i < count; i++) {
    DictEntryNode *e = &entries[i];
    if (!e->key) {
      Node *v = e->value;
      compile_expr(c, v->kind == N_SPREAD ? v->as.unop.expr : v);
      AT(v);
      emit_op(c, OP_DICT_SPREAD);
      continue;
    }
    compile_expr(c, e->key);
    compile_expr(c, e->value);
    AT(e->value);
    emit_op(c, OP_DICT_SET);
  }
}

/* `try { }` with neither catch nor finally: Result.Ok(v) / Result.Err(e). */
static void compile_bare_try(Comp *c, Node *n)
{
  int d0 = c->fs->depth;
  AT(n);
  emit_op(c, OP_SETUP_TRY);
  long at = here(c);
  emit_u32(c, 0);
  emit_u16(c, NO_CONST);
  push_unwind(c, U_HANDLER, NULL, NULL);
  compile_block_expr(c, n->as.try_.body);
  pop_unwind(c);
  emit_op(c, OP_POP_HANDLER);
  emit_op(c, OP_WRAP_OK);
  long jend = emit_jump(c, OP_JUMP);
  patch_here(c, at);
  c->fs->depth = d0 + 1; /* the caught value */
  emit_op(c, OP_WRAP_ERR);
  patch_here(c, jend);
}

static void compile_try(Comp *c, Node *n)
{
  Node *body = n->as.try_.body, *cbody = n->as.try_.catch_body, *fbody = n->as.try_.finally_body;
  if (!cbody && !fbody) {
    compile_bare_try(c, n);
    return;
  }
  int d0 = c->fs->depth;
  long fin_at = -1, catch_at = -1;
  AT(n);
  if (fbody) {
    emit_op(c, OP_SETUP_TRY);
    fin_at = here(c);
    emit_u32(c, 0);
    emit_u16(c, NO_CONST);
    push_unwind(c, U_FINALLY, fbody, NULL);
    push_unwind(c, U_HANDLER, NULL, NULL);
  }
  if (cbody) {
    emit_op(c, OP_SETUP_TRY);
    catch_at = here(c);
    emit_u32(c, 0);
    emit_u16(c, n->as.try_.catch_type ? const_str(c, n->as.try_.catch_type) : NO_CONST);
    push_unwind(c, U_HANDLER, NULL, NULL);
  }
  compile_block_expr(c, body);
  if (cbody) {
    pop_unwind(c);
    emit_op(c, OP_POP_HANDLER);
    long jafter = emit_jump(c, OP_JUMP);
    patch_here(c, catch_at);
    c->fs->depth = d0 + 1; /* the caught value */
    begin_scope(c);
    if (n->as.try_.catch_var) {
      declare_store(c, n->as.try_.catch_var, true, false);
    } else {
      emit_op(c, OP_POP);
    }
    compile_block_expr(c, cbody);
    end_scope(c);
    patch_here(c, jafter);
  }
  if (fbody) {
    pop_unwind(c); /* handler */
    pop_unwind(c); /* finally */
    emit_op(c, OP_POP_HANDLER);
    compile_block_stmt(c, fbody);
    long jend = emit_jump(c, OP_JUMP);
    patch_here(c, fin_at);
    c->fs->depth = d0 + 1; /* the caught value */
    compile_block_stmt(c, fbody);
    AT(n);
    emit_op(c, OP_THROW);
    patch_here(c, jend);
    c->fs->depth = d0 + 1;
  }
}

/* `retry N { body }`: run the body up to N times while it throws. */
static void compile_retry(Comp *c, Node *n)
{
  int d0 = c->fs->depth;
  begin_scope(c);
  int counter = hidden_slot(c);
  if (n->as.deadline.arg) {
    compile_expr(c, n->as.deadline.arg);
  } else {
    emit_int(c, 1);
  }
  AT(n);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)counter);
  long start = here(c);
  emit_op(c, OP_SETUP_TRY);
  long at = here(c);
  emit_u32(c, 0);
  emit_u16(c, NO_CONST);
  push_unwind(c, U_HANDLER, NULL, NULL);
  compile_block_expr(c, n->as.deadline.body);
  pop_unwind(c);
  emit_op(c, OP_POP_HANDLER);
  long jend = emit_jump(c, OP_JUMP);
  patch_here(c, at);
  c->fs->depth = d0 + 1; /* caught value */
  AT(n);
  emit_op_u16(c, OP_GET_LOCAL, (unsigned)counter);
  emit_int(c, 1);
  emit_op(c, OP_SUB);
  emit_op(c, OP_DUP);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)counter);
  emit_int(c, 0);
  emit_op(c, OP_GT);
  long jrethrow = emit_jump(c, OP_JUMP_IF_FALSE);
  emit_op(c, OP_POP);
  emit_loop(c, start);
  patch_here(c, jrethrow);
  c->fs->depth = d0 + 1;
  emit_op(c, OP_THROW);
  patch_here(c, jend);
  c->fs->depth = d0 + 1;
  end_scope(c);
}

/* ---- concurrency, deadlines, generators (docs/RUNTIME.md 4, 6) --------------------- */

/* spawn { body }: the body becomes a closure (a snapshot of the variables
 * it uses) that SPAWN turns into a task handle. */
static void compile_spawn(Comp *c, Node *n)
{
  compile_function(c, "", NULL, n->as.unop.expr, -1, n->line);
  AT(n);
  emit_op(c, OP_SPAWN);
}

/* parallel(n) { i -> } / parallel each xs { x -> } / parallel settle:
 * arg, the body as a one-parameter closure, the options dict (or nil). */
static void compile_parallel(Comp *c, Node *n)
{
  compile_expr(c, n->as.parallel.arg);
  Param p;
  memset(&p, 0, sizeof p);
  p.name = n->as.parallel.var ? n->as.parallel.var : "_";
  p.line = n->line;
  ParamList pl = {&p, 1};
  compile_function(c, "", &pl, n->as.parallel.body, -1, n->line);
  if (n->as.parallel.options) compile_expr(c, n->as.parallel.options);
  else emit_op(c, OP_NIL);
  AT(n);
  emit_op(c, OP_PARALLEL);
  emit_byte(c, (uint8_t)n->as.parallel.mode);
  emit_byte(c, n->as.parallel.as_stream ? 1 : 0);
}

/* deadline DUR { body } (DEADLINE_SETUP, body, DEADLINE_END) and
 * mutex [key] { body } (MUTEX_ENTER, body, MUTEX_EXIT; a missing key is
 * nil): exits by break/continue/return emit the end instruction through
 * the unwind entry [kind]; the interpreter also drops the deadline entry
 * or the permit on frame pops and catches. */
static void compile_scoped_block(Comp *c, Node *n, Opcode enter_op, Opcode exit_op, int kind)
{
  if (n->as.deadline.arg) compile_expr(c, n->as.deadline.arg);
  else emit_op(c, OP_NIL);
  AT(n);
  emit_op(c, enter_op);
  push_unwind(c, kind, NULL, NULL);
  compile_block_expr(c, n->as.deadline.body);
  pop_unwind(c);
  AT(n);
  emit_op(c, exit_op);
}

/* select { v from ch { } ... timeout DUR { } | default { } }: SELECT
 * pushes the received value and the case index (-1: timeout / default),
 * then a chain of index tests runs the chosen body. */
static void compile_select(Comp *c, Node *n)
{
  int d0 = c->fs->depth;
  int cnt = n->as.select.count;
  if (cnt > 200) comp_fail(c, n->line, "too many select cases");
  int mode = n->as.select.timeout ? 1 : n->as.select.default_body ? 2 : 0;
  for (int i = 0; i < cnt; i++) compile_expr(c, n->as.select.cases[i].channel);
  if (mode == 1) compile_expr(c, n->as.select.timeout);
  AT(n);
  emit_op_eff(c, OP_SELECT, 2 - cnt - (mode == 1 ? 1 : 0));
  emit_byte(c, (uint8_t)cnt);
  emit_byte(c, (uint8_t)mode);
  begin_scope(c);
  int idx = hidden_slot(c);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)idx);
  int val = hidden_slot(c);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)val);
  long *ends = arena_alloc(&c->arena, (size_t)(cnt + 1) * sizeof(long));
  for (int i = 0; i < cnt; i++) {
    SelectCase *sc = &n->as.select.cases[i];
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)idx);
    emit_int(c, i);
    emit_op(c, OP_EQ);
    long jf = emit_jump(c, OP_JUMP_IF_FALSE);
    begin_scope(c);
    if (sc->var) {
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)val);
      declare_store(c, sc->var, true, false);
    }
    compile_block_expr(c, sc->body);
    end_scope(c);
    ends[i] = emit_jump(c, OP_JUMP);
    patch_here(c, jf);
    c->fs->depth = d0;
  }
  if (mode == 1) compile_block_expr(c, n->as.select.timeout_body);
  else if (mode == 2) compile_block_expr(c, n->as.select.default_body);
  else emit_op(c, OP_NIL);
  for (int i = 0; i < cnt; i++) patch_here(c, ends[i]);
  c->fs->depth = d0 + 1;
  end_scope(c);
}

/* yield [v] / emit v: the enclosing function becomes a generator (a
 * stream for `gen fn`, or when it uses emit). */
static void compile_yield(Comp *c, Node *n)
{
  if (n->as.unop.expr) compile_expr(c, n->as.unop.expr);
  else emit_op(c, OP_NIL);
  AT(n);
  if (n->kind == N_EMIT) c->fs->fn->is_stream = true;
  else if (!c->fs->fn->is_stream) c->fs->fn->is_generator = true;
  emit_op(c, OP_YIELD);
}

/* ---- match ---------------------------------------------------------------- */

typedef struct Fails {
  long *at;
  int n, cap;
} Fails;

static void add_fail(Comp *c, Fails *f, long at)
{
  f->at = grow(c, f->at, f->n, &f->cap, sizeof(long));
  f->at[f->n++] = at;
}

static void compile_pattern(Comp *c, Pattern *p, int slot, Fails *fails);

/* Match [sub] against the value the instructions just pushed. */
static void match_sub(Comp *c, Pattern *sub, Fails *fails)
{
  if (sub->kind == PAT_WILDCARD) {
    emit_op(c, OP_POP);
    return;
  }
  if (sub->kind == PAT_BIND) {
    declare_store(c, sub->name, true, false);
    return;
  }
  int t = hidden_slot(c);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)t);
  compile_pattern(c, sub, t, fails);
}

static void match_enum(Comp *c, const char *ename, const char *variant, Pattern **items,
                       int nitems, int slot, Fails *fails)
{
  emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
  emit_op(c, OP_MATCH_ENUM);
  emit_u16(c, const_str(c, ename ? ename : ""));
  emit_u16(c, const_str(c, variant ? variant : ""));
  add_fail(c, fails, emit_jump(c, OP_JUMP_IF_FALSE));
  for (int i = 0; i < nitems; i++) {
    if (items[i]->kind == PAT_WILDCARD) continue;
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
    emit_op_u16(c, OP_ENUM_FIELD, (unsigned)i);
    match_sub(c, items[i], fails);
  }
}

/* A value pattern that is a call `Ok(p)` / `Err(p)` is a Result pattern. */
static bool result_call_pattern(Node *v)
{
  return v && v->kind == N_CALL && v->as.call.args.count == 1 &&
         (strcmp(v->as.call.name, "Ok") == 0 || strcmp(v->as.call.name, "Err") == 0);
}

static void compile_pattern(Comp *c, Pattern *p, int slot, Fails *fails)
{
  if (++c->nest > COMP_MAX_NEST) comp_fail(c, p->line, "pattern nested too deeply");
  c->line = p->line ? p->line : c->line;
  switch (p->kind) {
  case PAT_WILDCARD: break;
  case PAT_BIND:
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
    declare_store(c, p->name, true, false);
    break;
  case PAT_VALUE:
    if (result_call_pattern(p->value)) {
      Node *arg = p->value->as.call.args.items[0];
      Pattern sub;
      memset(&sub, 0, sizeof sub);
      sub.line = arg->line;
      sub.col = arg->col;
      if (node_is_ident(arg, "_")) {
        sub.kind = PAT_WILDCARD;
      } else if (arg->kind == N_IDENT) {
        sub.kind = PAT_BIND;
        sub.name = arg->as.str.s;
      } else {
        sub.kind = PAT_VALUE;
        sub.value = arg;
      }
      Pattern *items[1] = {&sub};
      match_enum(c, "Result", p->value->as.call.name, items, 1, slot, fails);
      break;
    }
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
    compile_expr(c, p->value);
    emit_op(c, OP_EQ);
    add_fail(c, fails, emit_jump(c, OP_JUMP_IF_FALSE));
    break;
  case PAT_ENUM:
    match_enum(c, p->name, p->variant, p->items, p->has_args ? p->nitems : 0, slot, fails);
    break;
  case PAT_DICT:
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
    emit_op(c, OP_IS_DICT);
    add_fail(c, fails, emit_jump(c, OP_JUMP_IF_FALSE));
    for (int i = 0; i < p->nitems; i++) {
      if (p->items[i]->kind == PAT_WILDCARD) continue;
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
      emit_op(c, OP_GET_PROP);
      emit_u16(c, const_str(c, p->keys[i]));
      emit_byte(c, 1);
      emit_byte(c, 0); /* inline cache */
      match_sub(c, p->items[i], fails);
    }
    break;
  case PAT_LIST:
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
    emit_op_u16(c, OP_LIST_LEN_GE, (unsigned)p->nitems);
    add_fail(c, fails, emit_jump(c, OP_JUMP_IF_FALSE));
    for (int i = 0; i < p->nitems; i++) {
      if (p->items[i]->kind == PAT_WILDCARD) continue;
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)slot);
      emit_int(c, i);
      emit_op(c, OP_GET_INDEX);
      emit_byte(c, 0);
      match_sub(c, p->items[i], fails);
    }
    break;
  case PAT_OR: {
    long *oks = arena_alloc(&c->arena, (size_t)(p->nitems + 1) * sizeof(long));
    int nok = 0;
    for (int i = 0; i < p->nitems; i++) {
      if (i == p->nitems - 1) {
        compile_pattern(c, p->items[i], slot, fails);
      } else {
        Fails alt = {0};
        compile_pattern(c, p->items[i], slot, &alt);
        oks[nok++] = emit_jump(c, OP_JUMP);
        for (int j = 0; j < alt.n; j++) patch_here(c, alt.at[j]);
      }
    }
    for (int j = 0; j < nok; j++) patch_here(c, oks[j]);
    break;
  }
  }
  c->nest--;
}

static void compile_match(Comp *c, Node *n)
{
  int d0 = c->fs->depth;
  begin_scope(c);
  compile_expr(c, n->as.match.subject);
  int subject = hidden_slot(c);
  AT(n);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)subject);
  long *ends = arena_alloc(&c->arena, (size_t)(n->as.match.count + 1) * sizeof(long));
  for (int i = 0; i < n->as.match.count; i++) {
    MatchArm *arm = &n->as.match.arms[i];
    Fails fails = {0};
    begin_scope(c);
    compile_pattern(c, arm->pattern, subject, &fails);
    if (arm->guard) {
      compile_expr(c, arm->guard);
      add_fail(c, &fails, emit_jump(c, OP_JUMP_IF_FALSE));
    }
    compile_block_expr(c, arm->body);
    end_scope(c);
    ends[i] = emit_jump(c, OP_JUMP);
    for (int j = 0; j < fails.n; j++) patch_here(c, fails.at[j]);
    c->fs->depth = d0;
  }
  AT(n);
  emit_op(c, OP_NO_MATCH);
  for (int i = 0; i < n->as.match.count; i++) patch_here(c, ends[i]);
  c->fs->depth = d0 + 1;
  end_scope(c);
}

/* ---- expression dispatcher ------------------------------------------------ */

static void compile_expr(Comp *c, Node *n)
{
  enter(c, n);
  AT(n);
  switch (n->kind) {
  case N_NIL: emit_op(c, OP_NIL); break;
  case N_BOOL: emit_op(c, n->as.b ? OP_TRUE : OP_FALSE); break;
  case N_INT: emit_int(c, n->as.i); break;
  case N_FLOAT: emit_const(c, FLOAT_VAL(n->as.f)); break;
  case N_DURATION: emit_const(c, val_duration(n->as.i)); break;
  case N_STRING:
    emit_const(c, OBJ_VAL(str_new(c->vm, n->as.str.s ? n->as.str.s : "", n->as.str.len)));
    break;
  case N_INTERP: compile_interp(c, n); break;
  case N_IDENT:
    if (!emit_alias_schema(c, n->as.str.s)) emit_get_name(c, n->as.str.s, false);
    break;
  case N_LIST: compile_list(c, n); break;
  case N_DICT:
    emit_op(c, OP_NEW_DICT);
    compile_dict_entries(c, n->as.dict.entries, n->as.dict.count);
    break;
  case N_LAMBDA:
    compile_function(c, "", &n->as.lambda.params, n->as.lambda.body, -1, n->line);
    break;
  case N_UNARY:
    if (n->as.unary.op == '-' && n->as.unary.operand->kind == N_INT) {
      emit_int(c, (int64_t)(0 - (uint64_t)n->as.unary.operand->as.i));
      break;
    }
    compile_expr(c, n->as.unary.operand);
    AT(n);
    emit_op(c, n->as.unary.op == '-' ? OP_NEG : OP_NOT);
    break;
  case N_BINARY: compile_binary(c, n); break;
  case N_TERNARY: compile_cond(c, n, n->as.ternary.cond, n->as.ternary.then, n->as.ternary.else_); break;
  case N_IF: compile_cond(c, n, n->as.ternary.cond, n->as.ternary.then, n->as.ternary.else_); break;
  case N_RANGE:
    compile_expr(c, n->as.range.start);
    compile_expr(c, n->as.range.end);
    AT(n);
    emit_op(c, OP_RANGE);
    emit_byte(c, n->as.range.exclusive ? 1 : 0);
    break;
  case N_PIPE: compile_pipe(c, n); break;
  case N_CALL: compile_call(c, n, false); break;
  case N_METHOD: compile_method(c, n); break;
  case N_PROPERTY: {
    Node *r = n->as.prop.recv;
    Local *l = r->kind == N_IDENT ? find_local(c->fs, r->as.str.s) : NULL;
    if (l) {
      /* operand form of compile_recv's borrow + GET_PROP: its operands
       * after s carry the property's position (GET_PROP's errors), and
       * fused_positions gives the two counted halves theirs */
      AT(r);
      long at = here(c);
      emit_op_u16(c, OP_GET_PROP_L, (unsigned)l->slot);
      AT(n);
      emit_u16(c, const_str(c, n->as.prop.name));
      emit_byte(c, n->as.prop.optional ? 1 : 0);
      emit_byte(c, 0); /* inline cache */
      fused_positions(c, at, (Node *[]){r, n}, 2);
      break;
    }
    compile_recv(c, r, NULL);
    AT(n);
    emit_op(c, OP_GET_PROP);
    emit_u16(c, const_str(c, n->as.prop.name));
    emit_byte(c, n->as.prop.optional ? 1 : 0);
    emit_byte(c, 0); /* inline cache */
    break;
  }
  case N_INDEX:
    compile_recv(c, n->as.index.recv, n->as.index.index);
    compile_expr(c, n->as.index.index);
    AT(n);
    emit_op(c, OP_GET_INDEX);
    emit_byte(c, n->as.index.optional ? 1 : 0);
    break;
  case N_SLICE:
    compile_expr(c, n->as.slice.recv);
    if (n->as.slice.start) compile_expr(c, n->as.slice.start);
    else emit_op(c, OP_NIL);
    if (n->as.slice.end) compile_expr(c, n->as.slice.end);
    else emit_op(c, OP_NIL);
    AT(n);
    emit_op(c, OP_SLICE);
    break;
  case N_TRY_OP: {
    int d0 = c->fs->depth;
    compile_expr(c, n->as.unop.expr);
    AT(n);
    long ok = emit_jump(c, OP_TRY_UNWRAP);
    /* Err: return it from the function (finally bodies run, no handler) */
    emit_return(c);
    patch_here(c, ok);
    c->fs->depth = d0 + 1;
    break;
  }
  case N_SPREAD: compile_expr(c, n->as.unop.expr); break;
  case N_STRUCT_LIT: {
    emit_op(c, OP_NEW_DICT);
    compile_dict_entries(c, n->as.struct_lit.fields, n->as.struct_lit.count);
    AT(n);
    emit_op_u16(c, OP_MAKE_STRUCT, (unsigned)global_index(c, n->as.struct_lit.name));
    break;
  }
  case N_BLOCK: compile_block_expr(c, n); break;
  case N_MATCH: compile_match(c, n); break;
  case N_TRY: compile_try(c, n); break;
  case N_TRY_STAR:
    /* try* e: an error of e travels on through the pending finally bodies
     * to the enclosing handler, which is what evaluating e does. */
    if (c->fs->is_main)
      comp_fail(c, n->line,
                "try* requires an enclosing function (fn, tool, or pipeline) so the rethrow "
                "has a target");
    compile_expr(c, n->as.unop.expr);
    break;
  case N_RETRY: compile_retry(c, n); break;
  /* ---- concurrency, deadlines, generators ---- */
  case N_SPAWN: compile_spawn(c, n); break;
  case N_PARALLEL: compile_parallel(c, n); break;
  case N_DEADLINE: compile_scoped_block(c, n, OP_DEADLINE_SETUP, OP_DEADLINE_END, U_DEADLINE); break;
  case N_MUTEX: compile_scoped_block(c, n, OP_MUTEX_ENTER, OP_MUTEX_EXIT, U_MUTEX); break;
  case N_SELECT: compile_select(c, n); break;
  case N_YIELD:
  case N_EMIT: compile_yield(c, n); break;
  default:
    if (n->kind >= N_LET && n->kind < N_PROGRAM) {
      /* statements used as expressions: their value is nil */
      compile_stmt(c, n);
      emit_op(c, OP_NIL);
      break;
    }
    comp_fail(c, n->line, "unsupported syntax");
  }
  leave(c);
}

/* ---- blocks --------------------------------------------------------------- */

/* Compile statements [from..] of [l]; with [want_value], push the value of
 * the last expression statement (nil otherwise). */
static void compile_stmts(Comp *c, NodeList *l, int from, bool want_value)
{
  for (int i = from; i < l->count; i++) {
    Node *s = l->items[i];
    bool last = i == l->count - 1;
    if (s->kind == N_DEFER) {
      /* defer D; rest  ==  try { rest } finally { D } */
      int d0 = c->fs->depth;
      AT(s);
      emit_op(c, OP_SETUP_TRY);
      long fin_at = here(c);
      emit_u32(c, 0);
      emit_u16(c, NO_CONST);
      Node *body = s->as.unop.expr;
      push_unwind(c, U_FINALLY, body, NULL);
      push_unwind(c, U_HANDLER, NULL, NULL);
      compile_stmts(c, l, i + 1, want_value); /* same scope as the defer */
      pop_unwind(c);
      pop_unwind(c);
      emit_op(c, OP_POP_HANDLER);
      compile_block_stmt(c, body);
      long jend = emit_jump(c, OP_JUMP);
      patch_here(c, fin_at);
      c->fs->depth = d0 + 1;
      compile_block_stmt(c, body);
      AT(s);
      emit_op(c, OP_THROW);
      patch_here(c, jend);
      c->fs->depth = d0 + (want_value ? 1 : 0);
      return;
    }
    if (last && want_value) {
      if (s->kind == N_EXPR_STMT) {
        compile_expr(c, s->as.unop.expr);
      } else if (s->kind == N_IF || s->kind == N_MATCH || s->kind == N_TRY ||
                 s->kind == N_BLOCK) {
        compile_expr(c, s);
      } else {
        compile_stmt(c, s);
        if (is_exit_stmt(s)) adjust(c, 1); /* the block's value is never reached: no dead NIL */
        else emit_op(c, OP_NIL);
      }
      return;
    }
    compile_stmt(c, s);
  }
  if (want_value) emit_op(c, OP_NIL);
}

static void compile_block_expr(Comp *c, Node *block)
{
  if (!block) {
    emit_op(c, OP_NIL);
    return;
  }
  if (block->kind != N_BLOCK) {
    compile_expr(c, block);
    return;
  }
  begin_scope(c);
  compile_stmts(c, &block->as.list, 0, true);
  end_scope(c);
}

static void compile_block_stmt(Comp *c, Node *block)
{
  if (!block) return;
  if (block->kind != N_BLOCK) {
    compile_stmt(c, block);
    return;
  }
  begin_scope(c);
  compile_stmts(c, &block->as.list, 0, false);
  end_scope(c);
}

/* ---- bindings and assignment ---------------------------------------------- */

/* Replace the nil on top by [def] (`= default` of destructuring). */
static void apply_default(Comp *c, Node *def)
{
  if (!def) return;
  int d0 = c->fs->depth;
  long j = emit_jump(c, OP_JUMP_IF_NOT_NIL);
  compile_expr(c, def);
  patch_here(c, j);
  c->fs->depth = d0;
}

/* Bind [b] to the value on top of the stack (consumed). */
static void bind_pattern(Comp *c, Binding *b, bool mutable_, bool is_let)
{
  if (++c->nest > COMP_MAX_NEST) comp_fail(c, b->line, "pattern nested too deeply");
  if (b->line) {
    c->line = b->line;
    c->col = b->col;
  }
  switch (b->kind) {
  case BIND_NAME: declare_store(c, b->name, mutable_, is_let); break;
  case BIND_DICT: {
    emit_op(c, OP_DESTRUCT_DICT);
    int t = hidden_slot(c);
    emit_op_u16(c, OP_SET_LOCAL, (unsigned)t);
    for (int i = 0; i < b->nfields; i++) {
      BindField *f = &b->fields[i];
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)t);
      emit_op(c, OP_GET_PROP);
      emit_u16(c, const_str(c, f->key));
      emit_byte(c, 1);
      emit_byte(c, 0); /* inline cache */
      apply_default(c, f->default_);
      if (f->target) {
        bind_pattern(c, f->target, mutable_, is_let);
      } else {
        declare_store(c, f->key, mutable_, is_let);
      }
    }
    if (b->rest) {
      ObjList *keys = list_new(c->vm, (uint32_t)b->nfields);
      for (int i = 0; i < b->nfields; i++) list_push(c->vm, keys, OBJ_VAL(intern(c, b->fields[i].key)));
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)t);
      emit_op_u16(c, OP_DICT_REST, add_const(c, OBJ_VAL(keys)));
      declare_store(c, b->rest, mutable_, is_let);
    }
    break;
  }
  case BIND_LIST: {
    emit_op(c, OP_DESTRUCT_LIST);
    int t = hidden_slot(c);
    emit_op_u16(c, OP_SET_LOCAL, (unsigned)t);
    for (int i = 0; i < b->nfields; i++) {
      BindField *f = &b->fields[i];
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)t);
      emit_int(c, i);
      emit_op(c, OP_GET_INDEX);
      emit_byte(c, 0);
      apply_default(c, f->default_);
      if (f->target) bind_pattern(c, f->target, mutable_, is_let);
      else emit_op(c, OP_POP);
    }
    if (b->rest) {
      emit_op_u16(c, OP_GET_LOCAL, (unsigned)t);
      emit_op_u16(c, OP_LIST_REST, (unsigned)b->nfields);
      declare_store(c, b->rest, mutable_, is_let);
    }
    break;
  }
  case BIND_PAIR: {
    emit_op(c, OP_UNPACK_PAIR);
    int second = hidden_slot(c);
    emit_op_u16(c, OP_SET_LOCAL, (unsigned)second);
    if (b->nfields > 0 && b->fields[0].target) bind_pattern(c, b->fields[0].target, mutable_, is_let);
    else emit_op(c, OP_POP);
    emit_op_u16(c, OP_GET_LOCAL, (unsigned)second);
    if (b->nfields > 1 && b->fields[1].target) bind_pattern(c, b->fields[1].target, mutable_, is_let);
    else emit_op(c, OP_POP);
    break;
  }
  }
  c->nest--;
}

/* Can [n] be the root of an assignment target chain? */
static bool is_lvalue(Node *n)
{
  for (;;) {
    if (n->kind == N_IDENT) return true;
    if (n->kind == N_PROPERTY) n = n->as.prop.recv;
    else if (n->kind == N_INDEX) n = n->as.index.recv;
    else return false;
  }
}

/* Store the value on top of the stack into [target] (consumed). Nested
 * targets update the nested copy and store it back (docs/LANGUAGE.md 16). */
static void compile_store(Comp *c, Node *target)
{
  int slot;
  if (++c->nest > COMP_MAX_NEST) comp_fail(c, target->line, "assignment nested too deeply");
  switch (target->kind) {
  case N_IDENT:
    AT(target);
    emit_set_name(c, target->as.str.s);
    break;
  case N_PROPERTY:
    if ((slot = owned_slot(c, target->as.prop.recv)) >= 0) {
      /* copy-on-write: in place when the local owns its value */
      AT(target->as.prop.recv);
      emit_op_u16(c, OP_GET_LOCAL_BORROW, (unsigned)slot);
      AT(target);
      emit_op_u16(c, OP_SET_PROP_OWN, const_str(c, target->as.prop.name));
      AT(target->as.prop.recv);
      emit_op_u16(c, OP_SET_LOCAL, (unsigned)slot);
      break;
    }
    compile_expr(c, target->as.prop.recv);
    AT(target);
    emit_op_u16(c, OP_SET_PROP, const_str(c, target->as.prop.name));
    if (is_lvalue(target->as.prop.recv)) compile_store(c, target->as.prop.recv);
    else emit_op(c, OP_POP);
    break;
  case N_INDEX:
    if ((slot = owned_slot(c, target->as.index.recv)) >= 0 && no_assign(target->as.index.index, 0)) {
      AT(target->as.index.recv);
      emit_op_u16(c, OP_GET_LOCAL_BORROW, (unsigned)slot);
      compile_expr(c, target->as.index.index);
      AT(target);
      emit_op(c, OP_SET_INDEX_OWN);
      AT(target->as.index.recv);
      emit_op_u16(c, OP_SET_LOCAL, (unsigned)slot);
      break;
    }
    compile_expr(c, target->as.index.recv);
    compile_expr(c, target->as.index.index);
    AT(target);
    emit_op(c, OP_SET_INDEX);
    if (is_lvalue(target->as.index.recv)) compile_store(c, target->as.index.recv);
    else emit_op(c, OP_POP);
    break;
  default: comp_fail(c, target->line, "invalid assignment target");
  }
  c->nest--;
}

static void compile_assign(Comp *c, Node *n)
{
  Node *target = n->as.assign.target;
  int op = n->as.assign.op;
  {
    /* `i = i + K` / `i += K` on a mutable local: INC_LOCAL (operand forms) */
    Node *v = n->as.assign.value, *sum = NULL;
    if (op == '+') sum = n;
    else if (!op && v->kind == N_BINARY && v->as.binary.op == OP_ADD_ && target->kind == N_IDENT &&
             node_is_ident(v->as.binary.left, target->as.str.s))
      sum = v, v = v->as.binary.right;
    Local *l = target->kind == N_IDENT ? find_local(c->fs, target->as.str.s) : NULL;
    if (sum && l && l->mutable_ && is_num_literal(v)) {
      AT(sum);
      long at = here(c);
      emit_op_u16x2(c, OP_INC_LOCAL, (unsigned)l->slot, num_const(c, v));
      /* GET_LOCAL (the target, or the sum's left operand), CONST, ADD, SET_LOCAL */
      Node *get = sum == n ? target : sum->as.binary.left;
      fused_positions(c, at, (Node *[]){get, v, sum, target}, 4);
      return;
    }
  }
  if (op) {
    compile_expr(c, target);
    compile_expr(c, n->as.assign.value);
    AT(n);
    switch (op) {
    case '+': emit_op(c, OP_ADD); break;
    case '-': emit_op(c, OP_SUB); break;
    case '*': emit_op(c, OP_MUL); break;
    case '/': emit_op(c, OP_DIV); break;
    case '%': emit_op(c, OP_MOD); break;
    default: comp_fail(c, n->line, "unknown compound assignment");
    }
  } else {
    Node *v = n->as.assign.value;
    int slot = owned_slot(c, target);
    if (slot >= 0 && v->kind == N_METHOD && !v->as.method.optional &&
        strcmp(v->as.method.name, "push") == 0 && node_is_ident(v->as.method.recv, target->as.str.s) &&
        v->as.method.args.count == 1 && v->as.method.args.items[0]->kind != N_SPREAD &&
        no_assign(v->as.method.args.items[0], 0)) {
      /* `xs = xs.push(e)`: copy-on-write append (value.h) */
      AT(v->as.method.recv);
      emit_op_u16(c, OP_GET_LOCAL_BORROW, (unsigned)slot);
      compile_expr(c, v->as.method.args.items[0]);
      AT(v);
      emit_op_u16(c, OP_PUSH_OWN, const_str(c, "push"));
      AT(target);
      emit_op_u16(c, OP_SET_LOCAL, (unsigned)slot);
      return;
    }
    compile_expr(c, v);
  }
  compile_store(c, target);
}

/* ---- loops ------------------------------------------------------------------ */

static LoopInfo *new_loop(Comp *c)
{
  LoopInfo *l = arena_alloc(&c->arena, sizeof(LoopInfo));
  l->depth = c->fs->depth;
  return l;
}

static void patch_breaks(Comp *c, LoopInfo *l)
{
  for (int i = 0; i < l->nbreaks; i++) patch_here(c, l->breaks[i]);
}

static void compile_while(Comp *c, Node *n)
{
  LoopInfo *loop = new_loop(c);
  long start = here(c);
  loop->continue_target = start;
  long jexit = compile_jump_if_false(c, n->as.deadline.arg, n);
  push_unwind(c, U_LOOP, NULL, loop);
  compile_block_stmt(c, n->as.deadline.body);
  pop_unwind(c);
  AT(n);
  emit_loop(c, start);
  patch_here(c, jexit);
  patch_breaks(c, loop);
}

static void compile_for(Comp *c, Node *n)
{
  begin_scope(c);
  compile_expr(c, n->as.for_.iter);
  int src = hidden_slot(c);
  hidden_slot(c); /* cursor: src + 1 */
  AT(n);
  emit_op_u16(c, OP_FOR_PREP, (unsigned)src);
  LoopInfo *loop = new_loop(c);
  long next = here(c);
  loop->continue_target = next;
  emit_op(c, OP_FOR_NEXT);
  emit_u16(c, (unsigned)src);
  long jexit = here(c);
  emit_u32(c, 0);
  begin_scope(c);
  bind_pattern(c, n->as.for_.var, true, false);
  push_unwind(c, U_LOOP, NULL, loop);
  compile_block_stmt(c, n->as.for_.body);
  pop_unwind(c);
  end_scope(c);
  AT(n);
  emit_loop(c, next);
  patch_here(c, jexit);
  patch_breaks(c, loop);
  end_scope(c);
}

static void compile_break(Comp *c, Node *n, bool is_break)
{
  FnState *fs = c->fs;
  int li = -1;
  for (int i = fs->nunwind - 1; i >= 0; i--)
    if (fs->unwind[i].kind == U_LOOP) {
      li = i;
      break;
    }
  if (li < 0) comp_fail(c, n->line, is_break ? "break outside of loop" : "continue outside of loop");
  LoopInfo *loop = fs->unwind[li].loop;
  int d0 = fs->depth;
  emit_unwind_to(c, li + 1);
  AT(n);
  emit_popn(c, fs->depth - loop->depth);
  if (is_break) {
    long at = emit_jump(c, OP_JUMP);
    loop->breaks = grow(c, loop->breaks, loop->nbreaks, &loop->capbreaks, sizeof(long));
    loop->breaks[loop->nbreaks++] = at;
  } else {
    emit_loop(c, loop->continue_target);
  }
  fs->depth = d0;
}

/* ---- declarations --------------------------------------------------------- */

/* `@step(...)` on a fn declaration (docs/RUNTIME.md 7.1): after the
 * declaration, call the hidden builtin __step_register(fn, {args}) so the
 * step registers when the declaration executes. Other attributes are
 * ignored. */
static void compile_fn_attrs(Comp *c, Node *n)
{
  for (int i = 0; i < n->as.fn.nattrs; i++) {
    Attribute *a = &n->as.fn.attrs[i];
    if (strcmp(a->name, "step") != 0) continue;
    int bi = builtin_lookup("__step_register");
    if (bi < 0) return;
    Node d;
    memset(&d, 0, sizeof d);
    d.kind = N_DICT;
    d.line = a->line;
    d.col = a->col;
    d.as.dict.entries = a->args;
    d.as.dict.count = a->nargs;
    AT(n);
    emit_get_name(c, n->as.fn.name, false);
    compile_expr(c, &d);
    AT(n);
    emit_op_eff(c, OP_CALL_BUILTIN, 1 - 2);
    emit_u16(c, (unsigned)bi);
    emit_byte(c, 2);
    emit_op(c, OP_POP);
  }
}

static void compile_fn_decl(Comp *c, Node *n)
{
  const char *name = n->as.fn.name;
  c->next_is_stream = n->as.fn.is_gen; /* gen fn returns a stream */
  if (at_global_scope(c)) {
    compile_function(c, name, &n->as.fn.params, n->as.fn.body, -1, n->line);
    AT(n);
    emit_op(c, OP_DEFINE_GLOBAL);
    emit_u16(c, (unsigned)global_index(c, name));
    emit_byte(c, 0);
    if (n->as.fn.nattrs) compile_fn_attrs(c, n);
    return;
  }
  int slot = add_local(c, name, false, false);
  c->next_is_stream = n->as.fn.is_gen;
  compile_function(c, name, &n->as.fn.params, n->as.fn.body, slot, n->line);
  AT(n);
  emit_op_u16(c, OP_SET_LOCAL, (unsigned)slot);
  if (n->as.fn.nattrs) compile_fn_attrs(c, n);
}

static void compile_struct_decl(Comp *c, Node *n)
{
  ParamList *fields = &n->as.struct_decl.fields;
  ObjStructType *t = struct_type_new(c->vm, intern(c, n->as.struct_decl.name), (uint32_t)fields->count);
  for (int i = 0; i < fields->count; i++) t->fields[i] = intern(c, fields->items[i].name);
  emit_const(c, OBJ_VAL(t));
  emit_op(c, OP_DEFINE_GLOBAL);
  emit_u16(c, (unsigned)global_index(c, n->as.struct_decl.name));
  emit_byte(c, 0);
}

static ObjEnumType *make_enum_type(Comp *c, Node *n)
{
  int nv = n->as.enum_decl.count;
  ObjEnumType *t = enum_type_new(c->vm, intern(c, n->as.enum_decl.name), (uint32_t)nv);
  for (int i = 0; i < nv; i++) {
    EnumVariantDecl *v = &n->as.enum_decl.variants[i];
    t->variants[i] = intern(c, v->name);
    t->arity[i] = (uint32_t)v->fields.count;
    if (v->fields.count) {
      t->fieldnames[i] = mem_alloc(c->vm, (size_t)v->fields.count * sizeof(ObjString *));
      for (int j = 0; j < v->fields.count; j++) t->fieldnames[i][j] = intern(c, v->fields.items[j].name);
    }
  }
  return t;
}

static void define_enum(Comp *c, Node *n)
{
  AT(n);
  emit_const(c, OBJ_VAL(make_enum_type(c, n)));
  emit_op(c, OP_DEFINE_GLOBAL);
  emit_u16(c, (unsigned)global_index(c, n->as.enum_decl.name));
  emit_byte(c, 0);
}

static void compile_impl(Comp *c, Node *n)
{
  int g = global_index(c, n->as.impl.type_name);
  NodeList *ms = &n->as.impl.methods;
  for (int i = 0; i < ms->count; i++) {
    Node *m = ms->items[i];
    if (m->kind != N_FN_DECL) continue;
    compile_function(c, m->as.fn.name, &m->as.fn.params, m->as.fn.body, -1, m->line);
    AT(m);
    emit_op(c, OP_IMPL_METHOD);
    emit_u16(c, (unsigned)g);
    emit_u16(c, const_str(c, m->as.fn.name));
  }
}

/* ---- imports and module namespaces (docs/LANGUAGE.md 9.2; import.h) ---------------- */

/* Bind [name] (the value of global [src], first defined in [origin]) in
 * the namespace being compiled; `pub import` also re-exports it. */
static void bind_import(Comp *c, const char *name, int src, int origin, bool reexport)
{
  for (int i = 0; i < c->nimported; i++) {
    if (strcmp(c->imported[i].name, name) != 0) continue;
    if (c->imported[i].origin != origin) {
      char msg[300];
      snprintf(msg, sizeof msg, "Import collision: '%s'", name);
      emit_raise(c, ERR_RUNTIME, msg);
      return;
    }
    break;
  }
  const char *own = arena_strndup(&c->arena, name, strlen(name));
  c->imported = grow(c, c->imported, c->nimported, &c->capimported, sizeof(CompImported));
  c->imported[c->nimported].name = own;
  c->imported[c->nimported].origin = origin;
  c->nimported++;
  add_known(c, own);
  int dst = global_index(c, own);
  emit_op(c, OP_GET_GLOBAL);
  emit_u16(c, (unsigned)src);
  emit_u16(c, NO_CONST);
  emit_op(c, OP_DEFINE_GLOBAL);
  emit_u16(c, (unsigned)dst);
  emit_byte(c, 0);
  if (reexport && c->mod) {
    imp_names_add(&c->mod->exports, own, dst, origin);
    imp_names_add(&c->mod->defined, own, dst, origin);
  }
}

/* `import "p"`, `import { a, b } from "p"`, `pub import ...`: load the
 * module (compiling it on first use), call its top level at the first
 * import site of the run, then copy the imported names in. Errors of the
 * import itself (unknown module, a name it does not define, a collision)
 * are raised here at run time. */
static void compile_import(Comp *c, Node *n)
{
  for (int i = 0; i < c->nimports_done; i++)
    if (c->imports_done[i] == n) return; /* hoisted: already compiled */
  c->imports_done = grow(c, c->imports_done, c->nimports_done, &c->capimports_done, sizeof(Node *));
  c->imports_done[c->nimports_done++] = n;
  const char *path = n->as.import.path ? n->as.import.path : "";
  char err[700];
  ImpModule *m = imp_load(c->vm, c->file->chars, path, err, sizeof err);
  AT(n);
  if (!m) {
    emit_raise(c, ERR_RUNTIME, err);
    return;
  }
  if (!m->called) {
    m->called = true;
    emit_op_u16(c, OP_CLOSURE, add_const(c, OBJ_VAL(m->main_fn)));
    emit_op_eff(c, OP_CALL, 0);
    emit_byte(c, 0);
    emit_op(c, OP_POP);
  }
  if (n->as.import.names) {
    for (int i = 0; i < n->as.import.nnames; i++) {
      const char *name = n->as.import.names[i];
      const ImpName *e = imp_names_find(&m->defined, name);
      if (!e) {
        char msg[600];
        snprintf(msg, sizeof msg, "Import error: '%s' is not defined in %s", name, path);
        emit_raise(c, ERR_RUNTIME, msg);
        continue;
      }
      bind_import(c, name, e->global, e->origin, n->as.import.pub);
    }
    return;
  }
  /* m->exports may grow while this loop runs only if m imports us, which
   * is a cycle and was refused by imp_load */
  for (int i = 0; i < m->exports.count; i++) {
    ImpName *e = &m->exports.items[i];
    bind_import(c, e->name, e->global, e->origin, n->as.import.pub);
  }
}

/* Record the names bound by a top-level let/var pattern. */
static void module_binding_names(Comp *c, Binding *b, bool has_pub)
{
  if (!b) return;
  if (b->kind == BIND_NAME) {
    if (b->name && strcmp(b->name, "_") != 0) {
      int g = global_index(c, b->name);
      imp_names_add(&c->mod->defined, b->name, g, g);
      if (!has_pub) imp_names_add(&c->mod->exports, b->name, g, g);
    }
    return;
  }
  for (int i = 0; i < b->nfields; i++) module_binding_names(c, b->fields[i].target, has_pub);
  if (b->rest) {
    int g = global_index(c, b->rest);
    imp_names_add(&c->mod->defined, b->rest, g, g);
    if (!has_pub) imp_names_add(&c->mod->exports, b->rest, g, g);
  }
}

/* The names a module offers: its `pub` declarations, or every top-level
 * name when nothing is `pub` (re-exports are added by bind_import). */
static void module_exports(Comp *c, NodeList *items)
{
  bool has_pub = false;
  for (int i = 0; i < items->count; i++) {
    Node *it = items->items[i];
    switch (it->kind) {
    case N_FN_DECL: has_pub = has_pub || it->as.fn.pub; break;
    case N_STRUCT_DECL: has_pub = has_pub || it->as.struct_decl.pub; break;
    case N_ENUM_DECL: has_pub = has_pub || it->as.enum_decl.pub; break;
    case N_TYPE_ALIAS: has_pub = has_pub || it->as.type_alias.pub; break;
    case N_IMPORT: has_pub = has_pub || it->as.import.pub; break;
    case N_PIPELINE: has_pub = has_pub || it->as.pipeline.pub; break;
    default: break;
    }
  }
  c->mod->has_pub = has_pub;
  for (int i = 0; i < items->count; i++) {
    Node *it = items->items[i];
    const char *name = NULL;
    bool pub = false;
    switch (it->kind) {
    case N_FN_DECL: name = it->as.fn.name; pub = it->as.fn.pub; break;
    case N_STRUCT_DECL: name = it->as.struct_decl.name; pub = it->as.struct_decl.pub; break;
    case N_ENUM_DECL: name = it->as.enum_decl.name; pub = it->as.enum_decl.pub; break;
    case N_LET: module_binding_names(c, it->as.let.target, has_pub); break;
    default: break;
    }
    if (!name) continue;
    int g = global_index(c, name);
    imp_names_add(&c->mod->defined, name, g, g);
    if (pub || !has_pub) imp_names_add(&c->mod->exports, name, g, g);
  }
}

/* The rest of a module's top level, after its enums and imports: structs,
 * impls and fns first (so top-level let initializers may call them), then
 * the let/var and, unless the module declares pipelines, the other
 * statements in source order. A module's pipelines never run. */
static void compile_module_rest(Comp *c, NodeList *items)
{
  module_exports(c, items);
  static const NodeKind decls[] = {N_STRUCT_DECL, N_IMPL, N_FN_DECL};
  for (size_t k = 0; k < sizeof decls / sizeof decls[0]; k++)
    for (int i = 0; i < items->count; i++)
      if (items->items[i]->kind == decls[k]) compile_stmt(c, items->items[i]);
  for (int i = 0; i < items->count; i++) {
    Node *it = items->items[i];
    switch (it->kind) {
    case N_STRUCT_DECL: case N_IMPL: case N_FN_DECL: case N_IMPORT: case N_ENUM_DECL:
    case N_PIPELINE: case N_INTERFACE: case N_TYPE_ALIAS: break;
    case N_LET: compile_stmt(c, it); break;
    default:
      if (!c->pipeline_mode) compile_stmt(c, it);
      break;
    }
  }
  emit_op(c, OP_NIL);
  emit_op(c, OP_RETURN);
}

/* ---- statements ----------------------------------------------------------- */

/* `if c { ...; return }` (no else, the branch ends in an exit) as a
 * statement: compile_cond's code with its NIL and the statement's POP fused
 * into NIL_POP, which counts as both (nothing else jumps to the POP: the
 * branch emits no jump to the end). False (nothing emitted) otherwise. */
static bool compile_exit_if_stmt(Comp *c, Node *n)
{
  if (n->kind != N_IF || n->as.ternary.else_ || !ends_in_exit(n->as.ternary.then)) return false;
  enter(c, n); /* what compile_expr does before compile_cond */
  AT(n);
  int d0 = c->fs->depth;
  long jf = compile_jump_if_false(c, n->as.ternary.cond, n);
  compile_expr(c, n->as.ternary.then);
  patch_here(c, jf);
  c->fs->depth = d0;
  emit_op(c, OP_NIL_POP);
  leave(c);
  return true;
}

static void compile_stmt(Comp *c, Node *n)
{
  enter(c, n);
  AT(n);
  switch (n->kind) {
  case N_EXPR_STMT:
    if (compile_exit_if_stmt(c, n->as.unop.expr)) break;
    compile_expr(c, n->as.unop.expr);
    emit_op(c, OP_POP);
    break;
  case N_LET:
    if (n->as.let.value) compile_expr(c, n->as.let.value);
    else emit_op(c, OP_NIL);
    AT(n);
    bind_pattern(c, n->as.let.target, n->as.let.mutable_, !n->as.let.mutable_);
    break;
  case N_ASSIGN: compile_assign(c, n); break;
  case N_WHILE: compile_while(c, n); break;
  case N_FOR: compile_for(c, n); break;
  case N_BREAK: compile_break(c, n, true); break;
  case N_CONTINUE: compile_break(c, n, false); break;
  case N_RETURN: {
    Node *e = n->as.unop.expr;
    int d0 = c->fs->depth;
    if (e && e->kind == N_CALL && !has_unwind_work(c) && !has_spread(&e->as.call.args)) {
      compile_call(c, e, true);
      AT(n);
      emit_op(c, OP_RETURN);
    } else if (e && e->kind == N_PIPE && !e->as.pipe.placeholder && e->as.pipe.right->kind == N_IDENT &&
               !has_unwind_work(c)) {
      /* return x |> f: a tail call too (f is a name, so evaluating it
       * before x changes nothing) */
      AT(e->as.pipe.right);
      emit_get_name(c, e->as.pipe.right->as.str.s, true);
      compile_expr(c, e->as.pipe.left);
      AT(e);
      emit_op_eff(c, OP_TAIL_CALL, -1);
      emit_byte(c, 1);
      AT(n);
      emit_op(c, OP_RETURN);
    } else {
      if (e) compile_expr(c, e);
      else emit_op(c, OP_NIL);
      AT(n);
      emit_return(c);
    }
    c->fs->depth = d0;
    break;
  }
  case N_THROW:
    compile_expr(c, n->as.unop.expr);
    AT(n);
    emit_op(c, OP_THROW);
    break;
  case N_GUARD: {
    compile_expr(c, n->as.guard.cond);
    AT(n);
    long j = emit_jump(c, OP_JUMP_IF_TRUE);
    compile_block_stmt(c, n->as.guard.body);
    patch_here(c, j);
    break;
  }
  case N_REQUIRE: {
    compile_expr(c, n->as.guard.cond);
    AT(n);
    long j = emit_jump(c, OP_JUMP_IF_TRUE);
    if (n->as.guard.msg) compile_expr(c, n->as.guard.msg);
    else emit_const(c, OBJ_VAL(str_cstr(c->vm, "require condition failed")));
    AT(n);
    emit_op(c, OP_THROW);
    patch_here(c, j);
    break;
  }
  case N_DEFER: {
    /* a defer that is not inside a statement list: run it at once when
     * its (empty) rest of block ends */
    compile_block_stmt(c, n->as.unop.expr);
    break;
  }
  case N_FN_DECL: compile_fn_decl(c, n); break;
  case N_STRUCT_DECL: compile_struct_decl(c, n); break;
  case N_ENUM_DECL: break; /* hoisted: defined at program start */
  case N_IMPL: compile_impl(c, n); break;
  case N_INTERFACE:
  case N_TYPE_ALIAS: break;
  case N_IMPORT: compile_import(c, n); break;
  case N_PIPELINE: break; /* only meaningful at the top level */
  default:
    if (compile_exit_if_stmt(c, n)) break;
    compile_expr(c, n);
    emit_op(c, OP_POP);
    break;
  }
  leave(c);
}

/* ---- program ---------------------------------------------------------------- */

static void collect_enums(Comp *c, Node *n, Node ***out, int *count, int *cap, int depth);

static void collect_enums_list(Comp *c, NodeList *l, Node ***out, int *count, int *cap, int depth)
{
  for (int i = 0; i < l->count; i++) collect_enums(c, l->items[i], out, count, cap, depth);
}

/* Enums declared anywhere (at statement level) are known everywhere. */
static void collect_enums(Comp *c, Node *n, Node ***out, int *count, int *cap, int depth)
{
  if (!n || depth > COMP_MAX_NEST) return;
  switch (n->kind) {
  case N_ENUM_DECL:
    *out = grow(c, *out, *count, cap, sizeof(Node *));
    (*out)[(*count)++] = n;
    break;
  case N_BLOCK:
  case N_PROGRAM: collect_enums_list(c, &n->as.list, out, count, cap, depth + 1); break;
  case N_FN_DECL: collect_enums(c, n->as.fn.body, out, count, cap, depth + 1); break;
  case N_PIPELINE: collect_enums(c, n->as.pipeline.body, out, count, cap, depth + 1); break;
  case N_IMPL: collect_enums_list(c, &n->as.impl.methods, out, count, cap, depth + 1); break;
  case N_IF:
    collect_enums(c, n->as.ternary.then, out, count, cap, depth + 1);
    collect_enums(c, n->as.ternary.else_, out, count, cap, depth + 1);
    break;
  case N_WHILE:
  case N_RETRY: collect_enums(c, n->as.deadline.body, out, count, cap, depth + 1); break;
  case N_FOR: collect_enums(c, n->as.for_.body, out, count, cap, depth + 1); break;
  case N_EXPR_STMT: collect_enums(c, n->as.unop.expr, out, count, cap, depth + 1); break;
  case N_TRY:
    collect_enums(c, n->as.try_.body, out, count, cap, depth + 1);
    collect_enums(c, n->as.try_.catch_body, out, count, cap, depth + 1);
    collect_enums(c, n->as.try_.finally_body, out, count, cap, depth + 1);
    break;
  default: break;
  }
}

static Node *find_pipeline(NodeList *items, const char *name)
{
  for (int i = 0; i < items->count; i++) {
    Node *it = items->items[i];
    if (it->kind == N_PIPELINE && it->as.pipeline.name && strcmp(it->as.pipeline.name, name) == 0)
      return it;
  }
  return NULL;
}

/* Emit the call of pipeline [p] with the job input (value left on stack).
 * The reference does not bind an entry pipeline's parameters at all
 * (docs/LANGUAGE.md 9.1), so their type annotations are not checked
 * against the input: `pipeline main(task: dict) -> T` runs without one. */
static void call_pipeline(Comp *c, Node *p)
{
  ParamList pl = p->as.pipeline.params; /* a copy without the types (the AST stays) */
  Param *items = pl.count ? arena_alloc(&c->arena, sizeof(Param) * (size_t)pl.count) : NULL;
  for (int i = 0; i < pl.count; i++) {
    items[i] = pl.items[i];
    items[i].type = NULL;
  }
  pl.items = items;
  compile_function(c, "", &pl, p->as.pipeline.body, -1, p->line);
  c->line = 0; /* the entry call has no source position (no trace note) */
  c->col = 0;
  emit_op(c, OP_PUSH_INPUT);
  emit_op_eff(c, OP_CALL, -1);
  emit_byte(c, 1);
}

static void compile_program(Comp *c, Node *prog)
{
  NodeList *items = &prog->as.list;
  /* names the top level may define */
  for (int i = 0; i < items->count; i++) {
    Node *it = items->items[i];
    switch (it->kind) {
    case N_FN_DECL: add_known(c, it->as.fn.name); break;
    case N_STRUCT_DECL: add_known(c, it->as.struct_decl.name); break;
    case N_PIPELINE: c->pipeline_mode = true; break;
    default: break;
    }
  }
  Node **enums = NULL;
  int nenums = 0, capenums = 0;
  collect_enums(c, prog, &enums, &nenums, &capenums, 0);
  for (int i = 0; i < nenums; i++) {
    add_known(c, enums[i]->as.enum_decl.name);
    if (strcmp(enums[i]->as.enum_decl.name, "Result") == 0) c->has_user_result = true;
  }

  /* the built-in Result enum, then every enum of the file */
  if (!c->has_user_result) {
    ObjEnumType *t = enum_type_new(c->vm, intern(c, "Result"), 2);
    t->variants[0] = intern(c, "Ok");
    t->variants[1] = intern(c, "Err");
    t->arity[0] = t->arity[1] = 1;
    emit_const(c, OBJ_VAL(t));
    emit_op(c, OP_DEFINE_GLOBAL);
    emit_u16(c, (unsigned)global_index(c, "Result"));
    emit_byte(c, 0);
  }
  for (int i = 0; i < nenums; i++) define_enum(c, enums[i]);

  /* imports first (each compiles once: the copy in the statement list
   * below compiles to nothing) */
  for (int i = 0; i < items->count; i++)
    if (items->items[i]->kind == N_IMPORT) compile_stmt(c, items->items[i]);

  if (c->mod) {
    compile_module_rest(c, items);
    return;
  }

  if (!c->pipeline_mode) {
    /* script mode: every statement in order */
    compile_stmts(c, items, 0, false);
    emit_op(c, OP_NIL);
    emit_op(c, OP_RETURN);
    return;
  }

  /* pipeline mode: let/var, then declarations, then the entry pipeline */
  for (int i = 0; i < items->count; i++)
    if (items->items[i]->kind == N_LET) compile_stmt(c, items->items[i]);
  for (int i = 0; i < items->count; i++)
    if (items->items[i]->kind == N_STRUCT_DECL) compile_stmt(c, items->items[i]);
  for (int i = 0; i < items->count; i++)
    if (items->items[i]->kind == N_IMPL) compile_stmt(c, items->items[i]);
  for (int i = 0; i < items->count; i++)
    if (items->items[i]->kind == N_FN_DECL) compile_stmt(c, items->items[i]);

  Node *entry = find_pipeline(items, "default");
  if (!entry)
    for (int i = 0; i < items->count && !entry; i++)
      if (items->items[i]->kind == N_PIPELINE) entry = items->items[i];
  /* ancestors, outermost first */
  Node *chain[64];
  int nchain = 0;
  for (Node *p = entry; p && p->as.pipeline.extends && nchain < 64;) {
    Node *parent = find_pipeline(items, p->as.pipeline.extends);
    if (!parent || parent == entry) break;
    bool seen = false;
    for (int i = 0; i < nchain; i++) seen = seen || chain[i] == parent;
    if (seen) break;
    chain[nchain++] = parent;
    p = parent;
  }
  for (int i = nchain - 1; i >= 0; i--) {
    call_pipeline(c, chain[i]);
    emit_op(c, OP_POP);
  }
  call_pipeline(c, entry);
  emit_op(c, OP_RETURN);
}

/* Compile the entry program ([mod] NULL) or the module [mod]. */
static ObjFunction *compile_root(Vm *vm, Node *program, const char *path, ImpModule *mod,
                                 char *err, size_t errlen, int *errline)
{
  Comp *c = calloc(1, sizeof(Comp));
  if (!c) abort();
  c->vm = vm;
  c->mod = mod;
  c->program = program;
  c->err = err;
  c->errlen = errlen;
  c->errline = errline;
  c->file = str_cstr(vm, path ? path : "<input>");
  if (err && errlen) err[0] = 0;
  if (errline) *errline = 0;

  FnState main;
  memset(&main, 0, sizeof main);
  main.is_main = true;
  main.fn = function_new(vm);
  main.fn->name = str_cstr(vm, "");
  main.fn->file = c->file;
  c->fs = &main;

  ObjFunction *result = NULL;
  if (setjmp(c->jb) == 0) {
    if (!program || program->kind != N_PROGRAM) comp_fail(c, 0, "not a program");
    compile_program(c, program);
    main.fn->nlocals = (uint16_t)main.max_slot;
    result = main.fn;
  }
  arena_free(&c->arena);
  free(c);
  return result;
}

ObjFunction *comp_compile(Vm *vm, Node *program, const char *path, char *err, size_t errlen,
                          int *errline)
{
  return compile_root(vm, program, path, NULL, err, errlen, errline);
}

ObjFunction *comp_compile_module(Vm *vm, Node *program, ImpModule *mod, char *err,
                                 size_t errlen, int *errline)
{
  return compile_root(vm, program, mod->file, mod, err, errlen, errline);
}
