/*
 * error.c: filling and reading the VM's single error slot (error.h), and the
 * "did you mean" suggestion rule of docs/LANGUAGE.md 10.1.
 *
 * Invariant: vm->err_kind says what the pending error is; vm->err_value is
 * the message string *without* the kind's display prefix (ERR_KIND_MAP),
 * except for ERR_THROWN where it is the thrown payload. The display text is
 * always prefix + message (+ `Thrown: ` + display(payload) for throws), so
 * kinds with an empty prefix (division by zero, stack overflow, categorized,
 * underflow, bad opcode, memory, limit) store their complete text. When
 * err_set() leaves a non-string value for such a kind, err_display() falls
 * back to the kind's fixed text.
 *
 * Error messages are GC strings; the collector marks vm->err_value itself
 * (gc.c), so a pending error survives collections.
 */
#include "error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "state.h"

static const char *const kind_prefix[] = {
#define X(name, prefix) prefix,
    ERR_KIND_MAP(X)
#undef X
};

static bool set_msg(Vm *vm, ErrKind kind, ObjString *msg)
{
  vm->err_kind = kind;
  vm->err_value = OBJ_VAL(msg);
  return false;
}

static bool set_vfmt(Vm *vm, ErrKind kind, const char *fmt, va_list ap)
{
  Buf b = {0};
  buf_vprintf(&b, fmt, ap);
  return set_msg(vm, kind, str_from_buf(vm, &b));
}

bool err_runtime(Vm *vm, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  set_vfmt(vm, ERR_RUNTIME, fmt, ap);
  va_end(ap);
  return false;
}

bool err_type(Vm *vm, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  set_vfmt(vm, ERR_TYPE, fmt, ap);
  va_end(ap);
  return false;
}

bool err_div_zero(Vm *vm) { return set_msg(vm, ERR_DIVZERO, str_cstr(vm, "Division by zero")); }

bool err_stack_overflow(Vm *vm)
{
  return set_msg(vm, ERR_STACK_OVERFLOW, str_cstr(vm, "Stack overflow: too many nested calls"));
}

static bool undefined(Vm *vm, ErrKind kind, const char *what, const char *name,
                      const char *suggestion)
{
  if (suggestion)
    return set_msg(vm, ERR_RUNTIME,
                   str_printf(vm, "%s%s (did you mean `%s`?)", what, name, suggestion));
  return set_msg(vm, kind, str_cstr(vm, name));
}

bool err_undefined_var(Vm *vm, const char *name, const char *suggestion)
{
  return undefined(vm, ERR_UNDEF_VAR, "Undefined variable: ", name, suggestion);
}

bool err_undefined_builtin(Vm *vm, const char *name, const char *suggestion)
{
  return undefined(vm, ERR_UNDEF_BUILTIN, "Undefined builtin: ", name, suggestion);
}

bool err_immutable(Vm *vm, const char *name) { return set_msg(vm, ERR_IMMUTABLE, str_cstr(vm, name)); }

bool err_throw(Vm *vm, Value v)
{
  vm->err_kind = ERR_THROWN;
  vm->err_value = v;
  return false;
}

bool err_throw_str(Vm *vm, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  set_vfmt(vm, ERR_THROWN, fmt, ap);
  va_end(ap);
  return false;
}

bool err_categorized(Vm *vm, const char *category, const char *message)
{
  return set_msg(vm, ERR_CATEGORIZED, str_printf(vm, "Error [%s]: %s", category, message));
}

bool err_memory(Vm *vm) { return set_msg(vm, ERR_MEMORY, str_cstr(vm, "memory limit exceeded")); }

bool err_limit(Vm *vm, const char *what)
{
  return set_msg(vm, ERR_LIMIT, str_cstr(vm, what ? what : "instruction limit exceeded"));
}

bool err_bad_opcode(Vm *vm, int op)
{
  return set_msg(vm, ERR_BAD_OPCODE, str_printf(vm, "Invalid instruction: 0x%02x", op & 0xff));
}

bool err_set(Vm *vm, ErrKind kind, Value v)
{
  vm->err_kind = kind;
  vm->err_value = v;
  return false;
}

/* The text of kinds whose message is fixed, for err_set() with no string. */
static const char *fixed_text(ErrKind kind)
{
  switch (kind) {
  case ERR_DIVZERO: return "Division by zero";
  case ERR_STACK_OVERFLOW: return "Stack overflow: too many nested calls";
  case ERR_UNDERFLOW: return "Stack underflow";
  case ERR_MEMORY: return "memory limit exceeded";
  case ERR_LIMIT: return "instruction limit exceeded";
  default: return NULL;
  }
}

void err_display(Vm *vm, Buf *out)
{
  ErrKind kind = vm->err_kind;
  if (kind == ERR_NONE) return;
  Value v = vm->err_value;
  buf_puts(out, kind_prefix[kind]);
  if (kind != ERR_THROWN && !IS_STRING(v) && fixed_text(kind)) {
    buf_puts(out, fixed_text(kind));
    return;
  }
  val_display(vm, v, out);
}

Value err_caught_value(Vm *vm)
{
  if (vm->err_kind == ERR_THROWN) return vm->err_value;
  Buf b = {0};
  err_display(vm, &b);
  return OBJ_VAL(str_from_buf(vm, &b));
}

bool err_gets_line_suffix(ErrKind kind)
{
  switch (kind) {
  case ERR_RUNTIME:
  case ERR_TYPE:
  case ERR_DIVZERO:
  case ERR_UNDEF_VAR:
  case ERR_UNDEF_BUILTIN:
  case ERR_IMMUTABLE:
  case ERR_STACK_OVERFLOW:
    return true;
  default:
    return false;
  }
}

void err_display_uncaught(Vm *vm, int line, Buf *out)
{
  ErrKind kind = vm->err_kind;
  /* The five kinds below are converted to runtime errors when uncaught
   * (docs/RUNTIME.md 3.1). */
  if (err_gets_line_suffix(kind) && kind != ERR_RUNTIME && kind != ERR_TYPE)
    buf_puts(out, "Runtime error: ");
  err_display(vm, out);
  if (err_gets_line_suffix(kind) && line > 0) buf_printf(out, " (line %d)", line);
}

bool err_catchable(ErrKind kind)
{
  return kind != ERR_MEMORY && kind != ERR_LIMIT && kind != ERR_BAD_OPCODE;
}

void err_clear(Vm *vm)
{
  vm->err_kind = ERR_NONE;
  vm->err_value = NIL_VAL;
}

/* ---- suggestions ---------------------------------------------------------- */

/* Levenshtein distance between [a] and [b], or [cap] + 1 when it is
 * certainly larger than [cap] (the rows' minimum exceeded it). */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
  size_t n = strlen(a), m = strlen(b);
  if ((n > m ? n - m : m - n) > cap) return cap + 1;
  size_t *row = malloc((m + 1) * sizeof(size_t));
  if (!row) return cap + 1;
  for (size_t j = 0; j <= m; j++) row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0], best = i;
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t d = diag + cost;
      if (up + 1 < d) d = up + 1;
      if (row[j - 1] + 1 < d) d = row[j - 1] + 1;
      row[j] = d;
      diag = up;
      if (d < best) best = d;
    }
    if (best > cap) {
      free(row);
      return cap + 1;
    }
  }
  size_t d = row[m];
  free(row);
  return d;
}

const char *err_suggest(const char *name, const char *const *candidates, int n)
{
  size_t len = strlen(name);
  size_t max = len <= 2 ? 1 : len <= 5 ? 2 : 3;
  const char *best = NULL;
  size_t best_d = max + 1;
  for (int i = 0; i < n; i++) {
    const char *c = candidates[i];
    if (!c || strcmp(c, name) == 0) continue;
    size_t d = edit_distance(name, c, max);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}
