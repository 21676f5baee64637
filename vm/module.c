/*
 * module.c: the public entry points of vm.h: create a VM, compile and run
 * a program (parse -> compile -> interpret), and report its outcome.
 *
 * A run: reset the interpreter state, parse (parser.h), check statically
 * (check.h: its errors are compile errors rendered like runtime ones),
 * compile (compiler.h), parse the job input (json_parse_value), run the main
 * function (interp_run_main), then build the outcome:
 *  - parse/compile error: VM_COMPILE_ERROR, vm_error_text() is the parser's
 *    message or `Compile error at line N: ...`, the diagnostic is
 *    `error: <text>\n`;
 *  - uncaught error: VM_RUNTIME_ERROR, the text is the uncaught display
 *    form with the ` (line N)` suffix applied here and only here (the root
 *    run; docs/RUNTIME.md 3.2, N = innermost trace line), the diagnostic is
 *    diag_render() over the trace and the source text;
 *  - success: the finish lifecycle (lifecycle.c, docs/RUNTIME.md 8) runs unless
 *    the root saw a host signal; a hook or on_finish error turns the run
 *    into an uncaught error; then VM_OK and the final value decides the exit code (an int is the
 *    code, Result.Err(msg) is 1 with display(msg) as the error text).
 *
 * Imports are compiled together with the program (import.h): the module
 * registry is reset at the start of every run, the entry file registered
 * as module 0, and the diagnostic shows each trace entry's line from that
 * entry's own file (the entry source or the module's kept text).
 *
 * The strings handed out (vm_error_text, vm_diagnostic, vm_trace) belong to
 * the VM and live until the next run or vm_free.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtins.h"
#include "check.h"
#include "compiler.h"
#include "diag.h"
#include "error.h"
#include "gc.h"
#include "import.h"
#include "interp.h"
#include "lifecycle.h"
#include "llm.h"
#include "object.h"
#include "parser.h"
#include "sched.h"
#include "host_call.h"
#include "host_fs.h"
#include "state.h"
#include "steps.h"
#include "vm.h"

/* ---- life cycle ------------------------------------------------------------ */

Vm *vm_new(const VmConfig *cfg)
{
  /* Zero everything but heap.temp_roots: only [0, ntemp) of it is ever
   * read, and its 16 KiB are four pages that a worker cloned from the
   * zygote would otherwise copy (and clear) for every job. */
  Vm *vm = malloc(sizeof(Vm));
  if (!vm) abort();
  char *roots = (char *)vm->heap.temp_roots, *after = (char *)&vm->heap.temp_roots[GC_MAX_TEMP_ROOTS];
  memset(vm, 0, (size_t)(roots - (char *)vm));
  memset(after, 0, (size_t)((char *)(vm + 1) - after));
  if (cfg) vm->cfg = *cfg;
  vm->heap.next_gc = GC_MIN_HEAP;
  vm->heap.limit = vm->cfg.memory_limit;
  vm->heap.stress = vm->cfg.gc_stress;
  vm->err_kind = ERR_NONE;
  vm->err_value = NIL_VAL;
  hostfs_setup(vm);
  interp_init(vm);
  interp_reset(vm);
  return vm;
}

static void clear_texts(Interp *in)
{
  free(in->error_text);
  free(in->diagnostic);
  free(in->source);
  free(in->path);
  in->error_text = in->diagnostic = in->source = in->path = NULL;
  in->exit_code = 0;
}

void vm_free(Vm *vm)
{
  if (!vm) return;
  gc_free_all(vm);
  imp_free(vm);
  lc_free(vm);
  builtins_free(vm);
  llm_free(vm);
  hostfs_free(vm);
  hostcall_free(vm);
  if (vm->interp) clear_texts(vm->interp);
  interp_free(vm);
  free(vm);
}

static char *dup_n(const char *s, size_t n)
{
  char *p = malloc(n + 1);
  if (!p) abort();
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static char *dup_s(const char *s) { return dup_n(s, strlen(s)); }

/* Start a run of [src] as the entry program [path], whose registry key
 * is [key] (NULL: found from [path]; imp_register_entry). */
static void begin_keyed(Vm *vm, const char *key, const char *path, const char *src, size_t len)
{
  Interp *in = vm->interp;
  clear_texts(in);
  interp_reset(vm);
  err_clear(vm);
  vm->heap.over_limit = false;
  vm->heap.doomed = false;
  in->path = dup_s(path ? path : "<input>");
  in->source = dup_n(src ? src : "", src ? len : 0);
  in->source_len = src ? len : 0;
  imp_reset(vm);
  imp_register_entry(vm, key, in->path, in->source, in->source_len);
  lc_reset(vm); /* registrations belong to one run (docs/RUNTIME.md 8) */
}

static void begin(Vm *vm, const char *path, const char *src, size_t len)
{
  begin_keyed(vm, NULL, path, src, len);
}

/* The pipeline name hook patterns match: the entry file's base name
 * without `.harn` (docs/RUNTIME.md 8.2), written into [out]. */
static void pipeline_name(const char *path, char *out, size_t cap)
{
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  size_t n = strlen(b);
  if (n > 5 && strcmp(b + n - 5, ".harn") == 0) n -= 5;
  if (n >= cap) n = cap - 1;
  memcpy(out, b, n);
  out[n] = 0;
}

static VmStatus compile_failed(Vm *vm, const char *text)
{
  Interp *in = vm->interp;
  in->error_text = dup_s(text);
  Buf b = {0};
  buf_printf(&b, "error: %s\n", text);
  in->diagnostic = buf_take(&b);
  in->exit_code = 1;
  return VM_COMPILE_ERROR;
}

static const char *source_of(void *ud, const char *file);

/* Texts of a failed parse: every syntax error rendered (docs/LANGUAGE.md
 * 10.3); the error text is the first one's message. */
static VmStatus parse_failed(Vm *vm, const ParseError *perr)
{
  Interp *in = vm->interp;
  if (perr->ndiags == 0) return compile_failed(vm, perr->message[0] ? perr->message : "Parse error");
  in->error_text = dup_s(perr->diags[0].message);
  Buf b = {0};
  for (int i = 0; i < perr->ndiags; i++) {
    const ParseDiag *d = &perr->diags[i];
    if (i > 0) buf_putc(&b, '\n');
    diag_render_span(&b, d->message, in->path, d->line, d->col, d->width, d->label, d->help,
                     source_of, vm);
  }
  if (perr->truncated)
    buf_printf(&b, "\nerror: too many syntax errors; stopped after %d\n", perr->ndiags);
  in->diagnostic = buf_take(&b);
  in->exit_code = 1;
  return VM_COMPILE_ERROR;
}

/* Parse and compile the current source; NULL on error (texts set). */
static ObjFunction *compile(Vm *vm, VmStatus *status)
{
  Interp *in = vm->interp;
  Arena arena = {0};
  ParseError *perr = calloc(1, sizeof *perr);
  if (!perr) abort();
  Node *prog = parse_program(&arena, in->source, in->source_len, perr);
  if (!prog) {
    arena_free(&arena);
    *status = parse_failed(vm, perr);
    free(perr);
    return NULL;
  }
  free(perr);
  /* the static checker (check.h): its errors stop the run before any of
   * it executes */
  Buf diag = {0};
  char first[512];
  if (chk_program(prog, in->path, in->source, &diag, first, sizeof first) > 0) {
    arena_free(&arena);
    in->error_text = dup_s(first);
    in->diagnostic = buf_take(&diag);
    in->exit_code = 1;
    *status = VM_COMPILE_ERROR;
    return NULL;
  }
  buf_free(&diag);
  char err[512];
  int line = 0;
  ObjFunction *fn = comp_compile(vm, prog, in->path, err, sizeof err, &line);
  arena_free(&arena);
  if (!fn) {
    *status = compile_failed(vm, err);
    if (line > 0) { /* rendered at its line like every other error (10.3) */
      Buf b = {0};
      diag_render_span(&b, err, in->path, line, 0, 0, NULL, NULL, source_of, vm);
      free(in->diagnostic);
      in->diagnostic = buf_take(&b);
    }
    return NULL;
  }
  *status = VM_OK;
  return fn;
}

/* The text of [file]: the entry source, or an imported module's (every
 * file loaded by this run is kept until the next run, import.h). */
static const char *source_of(void *ud, const char *file)
{
  Vm *vm = ud;
  Interp *in = vm->interp;
  if (!file || !*file || (in->path && strcmp(file, in->path) == 0)) return in->source;
  return imp_source_of(vm, file);
}

/* Texts of an uncaught error (the root run failed). */
static VmStatus runtime_failed(Vm *vm)
{
  Interp *in = vm->interp;
  int line = in->ntrace > 0 ? in->trace[in->ntrace - 1].line : 0;
  Buf b = {0};
  err_display_uncaught(vm, line, &b);
  in->error_text = buf_take(&b);
  Buf d = {0};
  diag_render(&d, in->error_text, in->trace, in->ntrace, in->path, source_of, vm);
  in->diagnostic = buf_take(&d);
  in->exit_code = 1;
  return VM_RUNTIME_ERROR;
}

static VmStatus run_source(Vm *vm, const char *key, const char *path, const char *src,
                           size_t len, const char *input_json)
{
  Interp *in = vm->interp;
  begin_keyed(vm, key, path, src, len);
  VmStatus st;
  ObjFunction *fn = compile(vm, &st);
  if (!fn) return st;
  if (input_json) {
    Value v = NIL_VAL;
    if (!json_parse_value(vm, input_json, strlen(input_json), &v)) return runtime_failed(vm);
    in->input = v;
  }
  in->running = true;
  bool ok = interp_run_main(vm, fn);
  /* docs/RUNTIME.md 8: the finish lifecycle runs only after a successful run
   * that saw no host signal (a cancelled run's cleanup path is its
   * on_interrupt handlers); otherwise the registrations are dropped */
  if (ok && !in->first_signal) {
    char name[256];
    pipeline_name(in->path, name, sizeof name);
    ok = lc_finish(vm, name, &in->result);
    if (!ok) {
      in->result = NIL_VAL;
      in->has_result = false;
    }
  }
  /* docs/RUNTIME.md 8.1 step 7 / 5.6: tasks still pending are aborted before
   * the result is built (their open steps are recorded `failed`) */
  sched_abort_pending(vm);
  lc_reset(vm);
  in->running = false;
  if (!vm->cfg.write) fflush(stdout);
  if (!ok) return runtime_failed(vm);
  Value r = in->result;
  if (IS_INT(r)) {
    /* clamped, as the reference does (LANGUAGE.md 9.1): `return 300`
     * exits 255, `return -1` exits 0; never a wrap-around to 0 */
    int64_t n = AS_INT(r);
    in->exit_code = n < 0 ? 0 : n > 255 ? 255 : (int)n;
  } else if (is_result_err(r)) {
    in->exit_code = 1;
    ObjEnum *e = AS_ENUM(r);
    Buf b = {0};
    if (e->nfields) val_display(vm, e->fields[0], &b);
    else buf_puts(&b, "");
    in->error_text = buf_take(&b);
  }
  return VM_OK;
}

VmStatus vm_run_source(Vm *vm, const char *path, const char *src, size_t len,
                       const char *input_json)
{
  return run_source(vm, NULL, path, src, len, input_json);
}

VmStatus vm_run_file(Vm *vm, const char *path, const char *input_json)
{
  int fd = open(path, IMP_OPEN_FLAGS);
  return vm_run_fd(vm, path, fd < 0 ? -errno : fd, input_json);
}

VmStatus vm_run_fd(Vm *vm, const char *path, int fd, const char *input_json)
{
  /* One fstat and (as a rule) one read: the file's identity comes with
   * it, for the import registry. */
  Buf b = {0};
  char *key = NULL;
  int e = fd < 0 ? -fd : 0;
  if (fd < 0 || !imp_read_file(fd, true, &b, &key)) {
    if (fd >= 0) e = errno;
    buf_free(&b);
    begin(vm, path, "", 0);
    char msg[600];
    snprintf(msg, sizeof msg, "Cannot read file %s: %s", path,
             e == EINVAL ? "more than 64 MiB" : strerror(e));
    return compile_failed(vm, msg);
  }
  VmStatus st = run_source(vm, key, path, b.data ? b.data : "", b.len, input_json);
  buf_free(&b);
  free(key);
  return st;
}

VmStatus vm_check_source(Vm *vm, const char *path, const char *src, size_t len)
{
  begin(vm, path, src, len);
  VmStatus st;
  compile(vm, &st);
  return st;
}

VmStatus vm_disasm_source(Vm *vm, const char *path, const char *src, size_t len, char **out)
{
  begin(vm, path, src, len);
  *out = NULL;
  VmStatus st;
  ObjFunction *fn = compile(vm, &st);
  if (!fn) return st;
  Buf b = {0};
  dbg_disasm_function(vm, fn, &b);
  *out = buf_take(&b);
  return VM_OK;
}

/* ---- outcome ------------------------------------------------------------------ */

const char *vm_error_text(Vm *vm)
{
  return vm->interp->error_text ? vm->interp->error_text : "";
}

const char *vm_diagnostic(Vm *vm)
{
  return vm->interp->diagnostic ? vm->interp->diagnostic : "";
}

int vm_exit_code(Vm *vm) { return vm->interp->exit_code; }

char *vm_result_json(Vm *vm)
{
  Interp *in = vm->interp;
  if (!in->has_result || IS_NIL(in->result)) return NULL;
  Buf b = {0};
  json_stringify_value(vm, in->result, &b);
  return buf_take(&b);
}

void vm_stats(Vm *vm, VmStats *out)
{
  memset(out, 0, sizeof *out);
  out->instructions = vm->interp->instructions;
  out->heap_peak = vm->heap.peak;
  out->collections = vm->heap.collections;
  out->peak_frames = vm->interp->peak_frames;
  out->hard_stop = vm->interp->hard_stopped;
  out->steps_recorded = steps_recorded(vm); /* steps.c (W1) */
  out->slow_polls = vm->interp->slow_polls;
  out->tasks_spawned = sched_tasks_spawned(vm);
}
