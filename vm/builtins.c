/*
 * builtins.c: the builtin table and the free builtin functions
 * (docs/LANGUAGE.md 12: output, types, conversion, Result and errors, math,
 * strings, word-case conversions, paths, collections, sets, JSON and
 * schemas, time).
 *
 * Table. builtin_table[] is sorted by name in byte order (strcmp), so
 * builtin_lookup() is a binary search; a builtin used as a value is the
 * immediate VAL_BUILTIN holding its index, so the order of the table is part
 * of no persistent format, but it must stay sorted (checked by
 * tests/unit/test_builtins.c). `pi` and `e` are not functions: see
 * builtin_constant(). The shared-state builtins of docs/LANGUAGE.md 13
 * (shared cells/maps, sync_*, mailbox_*, circuit breakers) are here, in
 * their own section; the scheduler's builtins (await, channels, atomics,
 * cancel...) are implemented by the concurrency files (sched.h) and only
 * listed here, because the table is the one place builtin names are known.
 *
 * Contract of every builtin (builtins.h): `bool fn(vm, argc, argv, out)`.
 * [argv] is rooted (it lives on the VM stack); a missing argument is simply
 * absent (argc is smaller) and reads as nil through arg(). Failures set the
 * VM error with err_*() and return false. Most wrong-kind arguments give
 * nil/false/0 rather than an error, row by row as docs/LANGUAGE.md 12 says.
 *
 * GC. Allocation never collects (gc.h), so a builtin may hold fresh objects
 * in C locals freely, EXCEPT across vm_call()/method_call() with a callback
 * (which run safe points): there, every object being built is protected with
 * gc_push_root()/gc_pop_root().
 *
 * Reuse. Free builtins that are documented as "like the method" (split,
 * replace, trim, uppercase, lowercase, chunk, window, group_by, flat_map,
 * partition) call method_call() (methods_*.c) so the two forms cannot drift
 * apart; `iter(x)` is iter_from() (iter.c).
 *
 * State kept between calls is per VM (state.h): the clock (12.7:
 * mock_time, timers; vm->clock, freed by builtins_free) and the random
 * generator (vm->rng_state). A new VM, and so a new job or test file,
 * starts unmocked, with no timers and an unseeded generator, whatever
 * another VM of the process did. The only process-wide value is the
 * origin of elapsed(), written once before main.
 */
#define _GNU_SOURCE /* memmem */
#include "builtins.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/utf8.h"
#include "error.h"
#include "gc.h"
#include "host_call.h"
#include "host_fs.h"
#include "interp.h"
#include "llm.h" /* llm.c, llm_mock.c, agent.c */
#include "lifecycle.h" /* interrupts.c, lifecycle.c */
#include "methods.h"
#include "object.h"
#include "sched.h" /* concurrency builtins (sched.c, channel.c) */
#include "state.h"
#include "std_bytes.h"
#include "std_crypto.h"
#include "std_json.h"
#include "std_regex.h"
#include "std_time.h"
#include "std_url.h"
#include "std_uuid.h"
#include "steps.h"
#include "ucase.h"

/* ======================================================================
 * Small helpers
 * ====================================================================== */

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

static Value cstr_val(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

static Value buf_val(Vm *vm, Buf *b)
{
  Value v = OBJ_VAL(str_new(vm, b->data ? b->data : "", b->len));
  buf_free(b);
  return v;
}

static bool ret_nil(Value *out)
{
  *out = val_nil();
  return true;
}

static bool ret_bool(Value *out, bool b)
{
  *out = val_bool(b);
  return true;
}

/* Display string of [v] as a string object (strings returned as is). */
static ObjString *disp(Vm *vm, Value v) { return val_to_string(vm, v); }

/* Call method [name] on [recv] with [argc] arguments (rooted by the
 * caller). The name string is rooted because the method may run callbacks. */
static bool call_method(Vm *vm, const char *name, Value recv, int argc, Value *argv, Value *out)
{
  ObjString *n = str_cstr(vm, name);
  gc_push_root(vm, OBJ_VAL(n));
  bool ok = method_call(vm, recv, n, argc, argv, out);
  gc_pop_root(vm);
  return ok;
}

/* Decode one UTF-8 code point from [s] ([n] > 0 bytes left) into *cp;
 * returns its byte length (base/utf8.h). An invalid character (a maximal
 * subpart) decodes as U+FFFD, which the case and word conversions write
 * back in its place. */
static size_t u8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
  size_t len = utf8_decode((const char *)s, n, cp);
  if (*cp == UTF8_INVALID) *cp = UTF8_REPLACEMENT;
  return len;
}

/* Integer value of an int or a (truncated, finite) float. */
static bool num_to_i64(Value v, int64_t *out)
{
  if (IS_INT(v)) {
    *out = AS_INT(v);
    return true;
  }
  if (IS_FLOAT(v) && isfinite(AS_FLOAT(v)) && fabs(AS_FLOAT(v)) < 9.2e18) {
    *out = (int64_t)AS_FLOAT(v);
    return true;
  }
  return false;
}

/* Milliseconds of a duration or an int / float number; false otherwise. */
static bool to_ms(Value v, int64_t *out)
{
  if (IS_DURATION(v)) {
    *out = AS_INT(v);
    return true;
  }
  return num_to_i64(v, out);
}

/* ======================================================================
 * 12.1 Output, types, conversion
 * ====================================================================== */

/* Write the display of argv[0]; false with the memory error when it is
 * longer than a string can be (display.c dooms the run): nothing cut short
 * is written. */
static bool emit(Vm *vm, int stream, const char *prefix, int argc, Value *argv, bool newline)
{
  Buf b = {0};
  if (prefix) buf_puts(&b, prefix);
  if (argc > 0) {
    if (IS_STRING(argv[0]) && !prefix && !newline) {
      /* Common case: print a string as is, no copy. */
      vm_write(vm, stream, AS_CSTR(argv[0]), AS_STRING(argv[0])->len);
      return true;
    }
    val_display(vm, argv[0], &b);
    if (vm->heap.doomed) {
      buf_free(&b);
      return err_memory(vm);
    }
  }
  if (newline) buf_putc(&b, '\n');
  if (b.len) vm_write(vm, stream, b.data, b.len);
  buf_free(&b);
  return true;
}

static bool bi_print(Vm *vm, int argc, Value *argv, Value *out)
{
  return emit(vm, 1, NULL, argc, argv, false) && ret_nil(out);
}

static bool bi_println(Vm *vm, int argc, Value *argv, Value *out)
{
  return emit(vm, 1, NULL, argc, argv, true) && ret_nil(out);
}

static bool bi_log(Vm *vm, int argc, Value *argv, Value *out)
{
  return emit(vm, 1, "[harn] ", argc, argv, true) && ret_nil(out);
}

static bool bi_eprint(Vm *vm, int argc, Value *argv, Value *out)
{
  return emit(vm, 2, NULL, argc, argv, false) && ret_nil(out);
}

static bool bi_eprintln(Vm *vm, int argc, Value *argv, Value *out)
{
  return emit(vm, 2, NULL, argc, argv, true) && ret_nil(out);
}

static bool bi_type_of(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = cstr_val(vm, val_type_name(arg(argc, argv, 0)));
  return true;
}

static bool bi_to_string(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = OBJ_VAL(disp(vm, arg(argc, argv, 0)));
  return !vm->heap.doomed || err_memory(vm); /* too long for a string */
}

/* A whole decimal integer: optional sign, then digits only. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
  size_t i = 0;
  bool neg = false;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    neg = s[i] == '-';
    i++;
  }
  if (i == n) return false;
  int64_t acc = 0; /* accumulated negatively so INT64_MIN fits */
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    int d = s[i] - '0';
    if (acc < (INT64_MIN + d) / 10) return false;
    acc = acc * 10 - d;
  }
  if (!neg && acc == INT64_MIN) return false;
  *out = neg ? acc : -acc;
  return true;
}

/* A float as Rust's f64::from_str reads it: [+-] then digits with an
 * optional fraction (either side may be empty, not both) and exponent, or
 * inf / infinity / nan (any case). No whitespace, no hex. */
static bool parse_f64(const char *s, size_t n, double *out)
{
  size_t i = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) i++;
  const char *word = s + i;
  size_t wn = n - i;
  if ((wn == 3 && strncasecmp(word, "inf", 3) == 0) ||
      (wn == 8 && strncasecmp(word, "infinity", 8) == 0) ||
      (wn == 3 && strncasecmp(word, "nan", 3) == 0)) {
    /* fall through to strtod */
  } else {
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (i < n && s[i] == '.') {
      i++;
      while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    }
    if (digits == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
      i++;
      if (i < n && (s[i] == '+' || s[i] == '-')) i++;
      size_t ed = 0;
      while (i < n && s[i] >= '0' && s[i] <= '9') i++, ed++;
      if (ed == 0) return false;
    }
    if (i != n) return false;
  }
  char tmp[128];
  char *t = n < sizeof tmp ? tmp : malloc(n + 1);
  if (!t) return false;
  memcpy(t, s, n);
  t[n] = 0;
  *out = strtod(t, NULL);
  if (t != tmp) free(t);
  return true;
}

/* Rust's `f as i64`: truncation, saturating, NaN -> 0. */
static int64_t f64_to_i64_sat(double d)
{
  if (isnan(d)) return 0;
  if (d >= 9223372036854775807.0) return INT64_MAX;
  if (d <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)d;
}

static bool bi_to_int(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  int64_t i;
  if (IS_INT(v)) *out = v;
  else if (IS_FLOAT(v)) *out = val_int(f64_to_i64_sat(AS_FLOAT(v)));
  else if (IS_STRING(v) && parse_i64(AS_CSTR(v), AS_STRING(v)->len, &i)) *out = val_int(i);
  else *out = val_nil();
  return true;
}

static bool bi_to_float(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  double d;
  if (IS_FLOAT(v)) *out = v;
  else if (IS_INT(v)) *out = val_float((double)AS_INT(v));
  else if (IS_STRING(v) && parse_f64(AS_CSTR(v), AS_STRING(v)->len, &d)) *out = val_float(d);
  else *out = val_nil();
  return true;
}

static bool bi_len(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  int64_t n = 0;
  if (IS_OBJ(v)) {
    switch (OBJ_TYPE(v)) {
    case OBJ_STRING: n = AS_STRING(v)->nchars; break;
    case OBJ_LIST: n = AS_LIST(v)->count; break;
    case OBJ_DICT: n = AS_DICT(v)->count; break;
    case OBJ_SET: n = AS_SET(v)->count; break;
    case OBJ_RANGE: n = range_len(AS_RANGE(v)); break;
    default: break;
    }
  }
  *out = val_int(n);
  return true;
}

static bool bi_to_list(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  if (IS_LIST(v)) {
    *out = v;
  } else if (IS_SET(v)) {
    ObjSet *s = AS_SET(v);
    ObjList *l = list_new(vm, s->count);
    for (uint32_t i = 0; i < s->count; i++) list_push(vm, l, s->items[i]);
    *out = OBJ_VAL(l);
  } else {
    ObjList *l = list_new(vm, 1);
    list_push(vm, l, v);
    *out = OBJ_VAL(l);
  }
  return true;
}

static bool bi_assert(Vm *vm, int argc, Value *argv, Value *out)
{
  if (val_truthy(arg(argc, argv, 0))) return ret_nil(out);
  if (argc >= 2 && !IS_NIL(argv[1])) return err_throw(vm, argv[1]);
  return err_throw_str(vm, "Assertion failed");
}

static bool bi_assert_eq(Vm *vm, int argc, Value *argv, Value *out)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  if (val_equal(a, b)) return ret_nil(out);
  if (argc >= 3 && !IS_NIL(argv[2])) return err_throw(vm, argv[2]);
  Buf m = {0};
  buf_puts(&m, "Assertion failed: expected ");
  val_display(vm, b, &m);
  buf_puts(&m, ", got ");
  val_display(vm, a, &m);
  return err_throw(vm, buf_val(vm, &m));
}

static bool bi_assert_ne(Vm *vm, int argc, Value *argv, Value *out)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  if (!val_equal(a, b)) return ret_nil(out);
  if (argc >= 3 && !IS_NIL(argv[2])) return err_throw(vm, argv[2]);
  Buf m = {0};
  buf_puts(&m, "Assertion failed: values should not be equal: ");
  val_display(vm, a, &m);
  return err_throw(vm, buf_val(vm, &m));
}

static bool bi_unreachable(Vm *vm, int argc, Value *argv, Value *out)
{
  if (argc >= 1 && !IS_NIL(argv[0]))
    return err_runtime(vm, "unreachable code was reached: %s", disp(vm, argv[0])->chars);
  return err_runtime(vm, "unreachable code was reached");
}

/* ======================================================================
 * 12.2 Result and errors
 * ====================================================================== */

static bool bi_Ok(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = enum_ok(vm, arg(argc, argv, 0));
  return true;
}

static bool bi_Err(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = enum_err(vm, arg(argc, argv, 0));
  return true;
}

static bool bi_is_ok(Vm *vm, int argc, Value *argv, Value *out)
{
  return ret_bool(out, is_result_ok(arg(argc, argv, 0)));
}

static bool bi_is_err(Vm *vm, int argc, Value *argv, Value *out)
{
  return ret_bool(out, is_result_err(arg(argc, argv, 0)));
}

static Value result_payload(Value r)
{
  ObjEnum *e = AS_ENUM(r);
  return e->nfields > 0 ? e->fields[0] : val_nil();
}

static bool bi_unwrap(Vm *vm, int argc, Value *argv, Value *out)
{
  Value r = arg(argc, argv, 0);
  if (is_result_ok(r)) {
    *out = result_payload(r);
    return true;
  }
  if (is_result_err(r))
    return err_runtime(vm, "unwrap called on Err: %s", disp(vm, result_payload(r))->chars);
  *out = r;
  return true;
}

static bool bi_unwrap_or(Vm *vm, int argc, Value *argv, Value *out)
{
  Value r = arg(argc, argv, 0);
  if (is_result_ok(r)) *out = result_payload(r);
  else if (is_result_err(r)) *out = arg(argc, argv, 1);
  else *out = r;
  return true;
}

static bool bi_unwrap_err(Vm *vm, int argc, Value *argv, Value *out)
{
  Value r = arg(argc, argv, 0);
  if (!is_result_err(r)) return err_runtime(vm, "unwrap_err called on non-Err");
  *out = result_payload(r);
  return true;
}

static const char *const error_categories[] = {
  "timeout", "auth", "rate_limit", "overloaded", "server_error", "transient_network",
  "schema_validation", "tool_error", "tool_rejected", "egress_blocked", "cancelled",
  "not_found", "circuit_open", "budget_exceeded", "generic",
};

static bool known_category(const char *c)
{
  for (size_t i = 0; i < sizeof error_categories / sizeof *error_categories; i++)
    if (strcmp(c, error_categories[i]) == 0) return true;
  return false;
}

static bool bi_throw_error(Vm *vm, int argc, Value *argv, Value *out)
{
  Value cat = arg(argc, argv, 1);
  const char *c = IS_STRING(cat) && known_category(AS_CSTR(cat)) ? AS_CSTR(cat) : "generic";
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "category", cstr_val(vm, c));
  dict_set_cstr(vm, d, "message", arg(argc, argv, 0));
  return err_throw(vm, OBJ_VAL(d));
}

static bool ci_contains(const char *hay, size_t n, const char *needle)
{
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; i++)
    if (strncasecmp(hay + i, needle, m) == 0) return true;
  return false;
}

/* docs/LANGUAGE.md 12.2: the category of an error message string. */
static const char *classify_message(const char *s, size_t n)
{
  for (size_t i = 0; i < n;) {
    if (!isdigit((unsigned char)s[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && isdigit((unsigned char)s[j])) j++;
    if (j - i == 3) {
      int code = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
      if (code >= 400 && code <= 599) {
        switch (code) {
        case 401: case 403: return "auth";
        case 404: case 410: return "not_found";
        case 408: case 504: case 522: case 524: return "timeout";
        case 429: return "rate_limit";
        case 503: case 529: return "overloaded";
        case 500: case 502: return "server_error";
        default: break;
        }
        goto text; /* only the first such number counts */
      }
    }
    i = j;
  }
text:
  /* then words, in this order (the first family found wins) */
  if (ci_contains(s, n, "deadline exceeded") || ci_contains(s, n, "timed out") ||
      ci_contains(s, n, "timeout"))
    return "timeout";
  if (ci_contains(s, n, "circuit_open") || ci_contains(s, n, "circuit open")) return "circuit_open";
  if (ci_contains(s, n, "overloaded")) return "overloaded";
  if (ci_contains(s, n, "rate limit") || ci_contains(s, n, "rate_limit") ||
      ci_contains(s, n, "ratelimit") || ci_contains(s, n, "too many requests"))
    return "rate_limit";
  if (ci_contains(s, n, "unauthorized") || ci_contains(s, n, "forbidden") ||
      ci_contains(s, n, "authentication") || ci_contains(s, n, "invalid api key"))
    return "auth";
  if (ci_contains(s, n, "not found")) return "not_found";
  if (ci_contains(s, n, "connection reset") || ci_contains(s, n, "connection refused") ||
      ci_contains(s, n, "connection closed") || ci_contains(s, n, "broken pipe"))
    return "transient_network";
  return "generic";
}

static const char *category_of(Value e)
{
  if (IS_DICT(e)) {
    Value c;
    if (dict_get_cstr(AS_DICT(e), "category", &c) && IS_STRING(c)) return AS_CSTR(c);
    return "generic";
  }
  if (IS_STRING(e)) return classify_message(AS_CSTR(e), AS_STRING(e)->len);
  return "generic";
}

static bool bi_error_category(Vm *vm, int argc, Value *argv, Value *out)
{
  Value e = arg(argc, argv, 0);
  if (IS_DICT(e)) {
    Value c;
    if (dict_get_cstr(AS_DICT(e), "category", &c) && IS_STRING(c)) {
      *out = c;
      return true;
    }
  }
  *out = cstr_val(vm, category_of(e));
  return true;
}

static bool bi_is_timeout(Vm *vm, int argc, Value *argv, Value *out)
{
  return ret_bool(out, strcmp(category_of(arg(argc, argv, 0)), "timeout") == 0);
}

static bool bi_is_rate_limited(Vm *vm, int argc, Value *argv, Value *out)
{
  return ret_bool(out, strcmp(category_of(arg(argc, argv, 0)), "rate_limit") == 0);
}

/* ======================================================================
 * 12.3 Math
 * ====================================================================== */

static bool bi_abs(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  if (IS_INT(v)) *out = val_int(AS_INT(v) < 0 ? (int64_t)(0 - (uint64_t)AS_INT(v)) : AS_INT(v));
  else if (IS_FLOAT(v)) *out = val_float(fabs(AS_FLOAT(v)));
  else *out = val_nil();
  return true;
}

static bool minmax(int argc, Value *argv, Value *out, bool want_max)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  if (IS_INT(a) && IS_INT(b)) {
    bool a_wins = want_max ? AS_INT(a) >= AS_INT(b) : AS_INT(a) <= AS_INT(b);
    *out = a_wins ? a : b;
  } else if (IS_NUMBER(a) && IS_NUMBER(b)) {
    double x = AS_NUMBER(a), y = AS_NUMBER(b);
    *out = val_float(want_max ? fmax(x, y) : fmin(x, y));
  } else {
    *out = val_nil();
  }
  return true;
}

static bool bi_min(Vm *vm, int argc, Value *argv, Value *out) { return minmax(argc, argv, out, false); }
static bool bi_max(Vm *vm, int argc, Value *argv, Value *out) { return minmax(argc, argv, out, true); }

/* floor / ceil / round: int unchanged; float -> int; non-finite is a
 * runtime error; finite values beyond the i64 range saturate. */
static bool float_to_int_op(Vm *vm, const char *name, double (*op)(double), int argc, Value *argv,
                            Value *out)
{
  Value v = arg(argc, argv, 0);
  if (IS_INT(v)) {
    *out = v;
    return true;
  }
  if (!IS_FLOAT(v)) return ret_nil(out);
  double d = AS_FLOAT(v);
  if (!isfinite(d))
    return err_runtime(vm, "%s: cannot convert %s to int", name,
                       isnan(d) ? "NaN" : (d > 0 ? "inf" : "-inf"));
  *out = val_int(f64_to_i64_sat(op(d)));
  return true;
}

static bool bi_floor(Vm *vm, int argc, Value *argv, Value *out)
{
  return float_to_int_op(vm, "floor", floor, argc, argv, out);
}
static bool bi_ceil(Vm *vm, int argc, Value *argv, Value *out)
{
  return float_to_int_op(vm, "ceil", ceil, argc, argv, out);
}
static bool bi_round(Vm *vm, int argc, Value *argv, Value *out)
{
  return float_to_int_op(vm, "round", round, argc, argv, out); /* half away from zero */
}

static bool math1(double (*f)(double), int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  *out = IS_NUMBER(v) ? val_float(f(AS_NUMBER(v))) : val_nil();
  return true;
}

#define MATH1(name, f)                                                   \
  static bool bi_##name(Vm *vm, int argc, Value *argv, Value *out)       \
  {                                                                      \
    return math1(f, argc, argv, out);                                    \
  }
MATH1(sqrt, sqrt)
MATH1(sin, sin)
MATH1(cos, cos)
MATH1(tan, tan)
MATH1(asin, asin)
MATH1(acos, acos)
MATH1(atan, atan)
MATH1(exp, exp)
MATH1(ln, log)
MATH1(log2, log2)
MATH1(log10, log10)
#undef MATH1

static bool bi_atan2(Vm *vm, int argc, Value *argv, Value *out)
{
  Value y = arg(argc, argv, 0), x = arg(argc, argv, 1);
  *out = IS_NUMBER(y) && IS_NUMBER(x) ? val_float(atan2(AS_NUMBER(y), AS_NUMBER(x))) : val_nil();
  return true;
}

static bool bi_pow(Vm *vm, int argc, Value *argv, Value *out)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  if (!IS_NUMBER(a) || !IS_NUMBER(b)) return ret_nil(out);
  if (IS_INT(a) && IS_INT(b) && AS_INT(b) >= 0) {
    int64_t base = AS_INT(a), e = AS_INT(b), r = 1;
    bool overflow = false;
    while (e > 0 && !overflow) {
      if (e & 1) overflow = __builtin_mul_overflow(r, base, &r);
      e >>= 1;
      if (e > 0 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
    }
    if (!overflow) {
      *out = val_int(r);
      return true;
    }
  }
  *out = val_float(pow(AS_NUMBER(a), AS_NUMBER(b)));
  return true;
}

static bool bi_sign(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  if (IS_INT(v)) *out = val_int(AS_INT(v) > 0 ? 1 : AS_INT(v) < 0 ? -1 : 0);
  else if (IS_FLOAT(v)) *out = val_int(AS_FLOAT(v) > 0 ? 1 : AS_FLOAT(v) < 0 ? -1 : 0);
  else *out = val_nil();
  return true;
}

static bool bi_is_nan(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  return ret_bool(out, IS_FLOAT(v) && isnan(AS_FLOAT(v)));
}

static bool bi_is_infinite(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  return ret_bool(out, IS_FLOAT(v) && isinf(AS_FLOAT(v)));
}

static bool bi_range(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t a = 0, b;
  Value x = arg(argc, argv, 0), y = arg(argc, argv, 1);
  if (argc >= 2) {
    if (!IS_INT(x) || !IS_INT(y))
      return err_type(vm, "range: expected int arguments, got %s and %s", val_type_name(x),
                      val_type_name(y));
    a = AS_INT(x);
    b = AS_INT(y);
  } else {
    if (!IS_INT(x)) return err_type(vm, "range: expected an int argument, got %s", val_type_name(x));
    b = AS_INT(x);
  }
  *out = OBJ_VAL(range_new(vm, a, b, true));
  return true;
}

/* xorshift64* (per VM: vm->rng_state; not reproducible across
 * implementations). */

static uint64_t splitmix64(uint64_t x)
{
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static uint64_t rng_next(Vm *vm)
{
  if (vm->rng_state == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    vm->rng_state = splitmix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20)) | 1;
  }
  uint64_t x = vm->rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  vm->rng_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static bool bi_random(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_float((double)(rng_next(vm) >> 11) * 0x1.0p-53);
  return true;
}

static bool bi_random_int(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t a, b;
  if (!num_to_i64(arg(argc, argv, 0), &a) || !num_to_i64(arg(argc, argv, 1), &b)) return ret_nil(out);
  if (a > b) {
    int64_t t = a;
    a = b;
    b = t;
  }
  uint64_t span = (uint64_t)b - (uint64_t)a + 1; /* 0 means the full 2^64 range */
  uint64_t r = rng_next(vm);
  *out = val_int((int64_t)((uint64_t)a + (span ? r % span : r)));
  return true;
}

static bool bi_rng_seed(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t s = 0;
  num_to_i64(arg(argc, argv, 0), &s);
  vm->rng_state = splitmix64((uint64_t)s) | 1;
  return ret_nil(out);
}

bool builtin_constant(const char *name, Value *out)
{
  if (strcmp(name, "pi") == 0) {
    *out = val_float(M_PI);
    return true;
  }
  if (strcmp(name, "e") == 0) {
    *out = val_float(M_E);
    return true;
  }
  return false;
}

/* ======================================================================
 * 12.4 Strings
 * ====================================================================== */

static bool bi_split(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  Value sep = arg(argc, argv, 1);
  if (IS_NIL(sep)) {
    Value sp = cstr_val(vm, " ");
    gc_push_root(vm, sp);
    bool ok = call_method(vm, "split", s, 1, &sp, out);
    gc_pop_root(vm);
    return ok;
  }
  return call_method(vm, "split", s, 1, &argv[1], out);
}

static bool bi_join(Vm *vm, int argc, Value *argv, Value *out)
{
  Value l = arg(argc, argv, 0), sep = arg(argc, argv, 1);
  Buf b = {0};
  if (IS_LIST(l)) {
    ObjString *s = argc >= 2 && !IS_NIL(sep) ? disp(vm, sep) : NULL;
    ObjList *xs = AS_LIST(l);
    for (uint32_t i = 0; i < xs->count && !vm->heap.doomed; i++) {
      if (i && s) buf_append(&b, s->chars, s->len);
      val_display(vm, xs->items[i], &b);
    }
  }
  if (vm->heap.doomed) { /* longer than a string can be (display.c) */
    buf_free(&b);
    return err_memory(vm);
  }
  *out = buf_val(vm, &b);
  return true;
}

#define DELEGATE(cname, method)                                          \
  static bool bi_##cname(Vm *vm, int argc, Value *argv, Value *out)      \
  {                                                                      \
    if (argc < 1) return ret_nil(out);                                   \
    return call_method(vm, method, argv[0], argc - 1, argv + 1, out);    \
  }
DELEGATE(replace, "replace")
DELEGATE(trim, "trim")
DELEGATE(uppercase, "uppercase")
DELEGATE(lowercase, "lowercase")
DELEGATE(chunk, "chunk")
DELEGATE(window, "window")
DELEGATE(group_by, "group_by")
DELEGATE(flat_map, "flat_map")
#undef DELEGATE

static bool bi_contains(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0), x = arg(argc, argv, 1);
  if (IS_STRING(s)) {
    ObjString *needle = disp(vm, x);
    ObjString *hay = AS_STRING(s);
    return ret_bool(out, needle->len == 0 ||
                             memmem(hay->chars, hay->len, needle->chars, needle->len) != NULL);
  }
  if (IS_LIST(s)) {
    ObjList *l = AS_LIST(s);
    for (uint32_t i = 0; i < l->count; i++)
      if (val_equal(l->items[i], x)) return ret_bool(out, true);
  }
  return ret_bool(out, false);
}

static bool affix(Vm *vm, int argc, Value *argv, Value *out, bool suffix)
{
  Value s = arg(argc, argv, 0);
  if (!IS_STRING(s)) return ret_bool(out, false);
  ObjString *p = disp(vm, arg(argc, argv, 1));
  ObjString *str = AS_STRING(s);
  if (p->len > str->len) return ret_bool(out, false);
  const char *at = suffix ? str->chars + (str->len - p->len) : str->chars;
  return ret_bool(out, memcmp(at, p->chars, p->len) == 0);
}

static bool bi_starts_with(Vm *vm, int argc, Value *argv, Value *out)
{
  return affix(vm, argc, argv, out, false);
}
static bool bi_ends_with(Vm *vm, int argc, Value *argv, Value *out)
{
  return affix(vm, argc, argv, out, true);
}

/* substring(s, start, length?): LENGTH, not end (unlike the method). The
 * start is clamped to [0, len]; a missing length means "to the end"; a
 * negative length is 0. */
static bool bi_substring(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  if (!IS_STRING(s)) return ret_nil(out);
  ObjString *str = AS_STRING(s);
  int64_t n = str->nchars, start = 0, len = INT64_MAX;
  num_to_i64(arg(argc, argv, 1), &start);
  if (start < 0) start = 0;
  if (start > n) start = n;
  if (argc >= 3 && !IS_NIL(argv[2]) && !num_to_i64(argv[2], &len)) len = 0;
  if (len < 0) len = 0;
  int64_t end = len > n - start ? n : start + len;
  *out = OBJ_VAL(str_sub(vm, str, start, end));
  return true;
}

/* format(tpl, a, b, ...): `{}` takes the next argument; extra `{}` stay.
 * format(tpl, dict): `{name}` takes dict[name]; unknown names stay. */
static bool bi_format(Vm *vm, int argc, Value *argv, Value *out)
{
  if (argc < 1) return ret_nil(out);
  ObjString *tpl = disp(vm, argv[0]);
  const char *s = tpl->chars;
  size_t n = tpl->len;
  bool named = argc == 2 && IS_DICT(argv[1]);
  int next = 1;
  Buf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '{') {
      buf_putc(&b, s[i]);
      continue;
    }
    if (!named) {
      if (i + 1 < n && s[i + 1] == '}' && next < argc) {
        val_display(vm, argv[next++], &b);
        i++;
      } else {
        buf_putc(&b, '{');
      }
      continue;
    }
    size_t j = i + 1;
    while (j < n && s[j] != '}' && s[j] != '{') j++;
    Value v;
    if (j < n && s[j] == '}') {
      ObjString *key = str_new(vm, s + i + 1, j - i - 1);
      if (dict_get(AS_DICT(argv[1]), key, &v)) {
        val_display(vm, v, &b);
        i = j;
        continue;
      }
    }
    buf_putc(&b, '{');
  }
  *out = buf_val(vm, &b);
  return true;
}

/* ---- word case conversions --------------------------------------------- */

/* Case of a code point: vm/ucase.c (the mapping `s.upper()` uses too). */
static bool cp_is_upper(uint32_t c) { return ucase_lower(c) != c; }
static bool cp_is_lower(uint32_t c) { return ucase_upper(c) != c; }
static bool cp_is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

static bool cp_is_space(uint32_t c)
{
  return c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

/* A decoded string: code points, for the word algorithms. */
typedef struct Cps {
  uint32_t *c;
  size_t n;
} Cps;

static Cps cps_of(ObjString *s)
{
  Cps r = {malloc((s->len + 1) * sizeof(uint32_t)), 0};
  if (!r.c) abort();
  const unsigned char *p = (const unsigned char *)s->chars;
  size_t i = 0;
  while (i < s->len) i += u8_decode(p + i, s->len - i, &r.c[r.n++]);
  return r;
}

typedef enum { SRC_SNAKE, SRC_KEBAB, SRC_CAMEL } WordSrc;
typedef enum { DST_SNAKE, DST_KEBAB, DST_CAMEL, DST_PASCAL } WordDst;

/* Split [s] into words per [src] and join them per [dst]:
 *  - snake/kebab sources split on `_` / `-` (empty words dropped);
 *  - camel/pascal sources break before an uppercase letter that follows a
 *    lowercase letter or digit, or that ends an acronym (the last capital
 *    before a lowercase letter: HTTPServer -> HTTP, Server);
 *  - snake/kebab targets lowercase every word; camel lowercases the first
 *    character of the first word and uppercases the first character of
 *    the others; pascal uppercases the first character of every word
 *    (other characters are kept). */
static Value convert_words(Vm *vm, ObjString *s, WordSrc src, WordDst dst)
{
  Cps cp = cps_of(s);
  Buf b = {0};
  size_t word = 0; /* index of the current output word */
  size_t i = 0;
  while (i < cp.n) {
    /* Find the end of the word starting at i. */
    size_t j = i;
    if (src == SRC_CAMEL) {
      j = i + 1;
      while (j < cp.n) {
        uint32_t c = cp.c[j], prev = cp.c[j - 1];
        if (cp_is_upper(c) &&
            (cp_is_lower(prev) || cp_is_digit(prev) ||
             (cp_is_upper(prev) && j + 1 < cp.n && cp_is_lower(cp.c[j + 1]))))
          break;
        j++;
      }
    } else {
      uint32_t sep = src == SRC_SNAKE ? '_' : '-';
      while (j < cp.n && cp.c[j] != sep) j++;
      if (j == i) { /* empty word: skip the separator */
        i++;
        continue;
      }
    }
    if (word > 0 && dst == DST_SNAKE) buf_putc(&b, '_');
    if (word > 0 && dst == DST_KEBAB) buf_putc(&b, '-');
    for (size_t k = i; k < j; k++) {
      uint32_t c = cp.c[k];
      if (dst == DST_SNAKE || dst == DST_KEBAB) c = ucase_lower(c);
      else if (k == i) c = (dst == DST_CAMEL && word == 0) ? ucase_lower(c) : ucase_upper(c);
      buf_put_utf8(&b, c);
    }
    word++;
    i = j;
    if (src != SRC_CAMEL && i < cp.n) i++; /* the separator */
  }
  free(cp.c);
  return buf_val(vm, &b);
}

#define WORDCONV(name, src, dst)                                          \
  static bool bi_##name(Vm *vm, int argc, Value *argv, Value *out)        \
  {                                                                       \
    Value s = arg(argc, argv, 0);                                         \
    if (!IS_STRING(s)) return ret_nil(out);                               \
    *out = convert_words(vm, AS_STRING(s), src, dst);                     \
    return true;                                                          \
  }
WORDCONV(snake_to_camel, SRC_SNAKE, DST_CAMEL)
WORDCONV(snake_to_pascal, SRC_SNAKE, DST_PASCAL)
WORDCONV(snake_to_kebab, SRC_SNAKE, DST_KEBAB)
WORDCONV(kebab_to_snake, SRC_KEBAB, DST_SNAKE)
WORDCONV(kebab_to_camel, SRC_KEBAB, DST_CAMEL)
WORDCONV(camel_to_snake, SRC_CAMEL, DST_SNAKE)
WORDCONV(camel_to_kebab, SRC_CAMEL, DST_KEBAB)
WORDCONV(pascal_to_snake, SRC_CAMEL, DST_SNAKE)
#undef WORDCONV

/* Map the first character of [s] with [f], keep the rest. */
static bool first_char(Vm *vm, int argc, Value *argv, Value *out, uint32_t (*f)(uint32_t))
{
  Value s = arg(argc, argv, 0);
  if (!IS_STRING(s)) return ret_nil(out);
  ObjString *str = AS_STRING(s);
  if (str->len == 0) {
    *out = s;
    return true;
  }
  uint32_t c;
  size_t n = u8_decode((const unsigned char *)str->chars, str->len, &c);
  Buf b = {0};
  buf_put_utf8(&b, f(c));
  buf_append(&b, str->chars + n, str->len - n);
  *out = buf_val(vm, &b);
  return true;
}

static bool bi_lowercase_first(Vm *vm, int argc, Value *argv, Value *out)
{
  return first_char(vm, argc, argv, out, ucase_lower);
}
static bool bi_uppercase_first(Vm *vm, int argc, Value *argv, Value *out)
{
  return first_char(vm, argc, argv, out, ucase_upper);
}

static bool bi_title_case(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  if (!IS_STRING(s)) return ret_nil(out);
  ObjString *str = AS_STRING(s);
  const unsigned char *p = (const unsigned char *)str->chars;
  Buf b = {0};
  bool at_word_start = true;
  for (size_t i = 0; i < str->len;) {
    uint32_t c;
    i += u8_decode(p + i, str->len - i, &c);
    if (cp_is_space(c)) {
      at_word_start = true;
      buf_put_utf8(&b, c);
      continue;
    }
    buf_put_utf8(&b, at_word_start ? ucase_upper(c) : ucase_lower(c));
    at_word_start = false;
  }
  *out = buf_val(vm, &b);
  return true;
}

/* ---- path parts (Rust std::path semantics, '/' separator) ---------------- */

/* Length of [s] without trailing slashes (a lone "/" stays). */
static size_t trim_slashes(const char *s, size_t n)
{
  while (n > 1 && s[n - 1] == '/') n--;
  return n;
}

/* The last component of a path: [*start, *start + *len). False when there
 * is none ("", "/", or a trailing ".."). */
static bool file_name(const char *s, size_t n, size_t *start, size_t *len)
{
  n = trim_slashes(s, n);
  /* A trailing "/." component is skipped, as Rust's components() does. */
  while (n >= 2 && s[n - 1] == '.' && s[n - 2] == '/') n = trim_slashes(s, n - 2);
  if (n == 0 || (n == 1 && s[0] == '/')) return false;
  size_t i = n;
  while (i > 0 && s[i - 1] != '/') i--;
  if (n - i == 2 && s[i] == '.' && s[i + 1] == '.') return false;
  if (n - i == 1 && s[i] == '.' && i == 0) return false;
  *start = i;
  *len = n - i;
  return true;
}

static bool bi_basename(Vm *vm, int argc, Value *argv, Value *out)
{
  Value p = arg(argc, argv, 0);
  if (!IS_STRING(p)) return ret_nil(out);
  size_t st, ln;
  if (!file_name(AS_CSTR(p), AS_STRING(p)->len, &st, &ln)) *out = cstr_val(vm, "");
  else *out = OBJ_VAL(str_new(vm, AS_CSTR(p) + st, ln));
  return true;
}

static bool bi_dirname(Vm *vm, int argc, Value *argv, Value *out)
{
  Value p = arg(argc, argv, 0);
  if (!IS_STRING(p)) return ret_nil(out);
  const char *s = AS_CSTR(p);
  size_t n = trim_slashes(s, AS_STRING(p)->len);
  if (n == 0 || (n == 1 && s[0] == '/')) {
    *out = cstr_val(vm, "");
    return true;
  }
  size_t i = n;
  while (i > 0 && s[i - 1] != '/') i--;
  if (i == 0) {
    *out = cstr_val(vm, "");
    return true;
  }
  size_t d = i;
  while (d > 1 && s[d - 1] == '/') d--; /* drop the separator(s) */
  *out = OBJ_VAL(str_new(vm, s, d));
  return true;
}

static bool bi_extname(Vm *vm, int argc, Value *argv, Value *out)
{
  Value p = arg(argc, argv, 0);
  if (!IS_STRING(p)) return ret_nil(out);
  size_t st, ln;
  const char *s = AS_CSTR(p);
  if (file_name(s, AS_STRING(p)->len, &st, &ln)) {
    const char *name = s + st;
    for (size_t i = ln; i > 1; i--) { /* a leading dot is not an extension */
      if (name[i - 1] == '.') {
        *out = OBJ_VAL(str_new(vm, name + i - 1, ln - (i - 1)));
        return true;
      }
    }
  }
  *out = cstr_val(vm, "");
  return true;
}

/* ======================================================================
 * 12.5 Collections and sets
 * ====================================================================== */

static ObjDict *dict_of(Value v)
{
  if (IS_DICT(v)) return AS_DICT(v);
  if (IS_STRUCT(v)) return AS_STRUCT(v)->fields;
  return NULL;
}

static bool bi_keys(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjDict *d = dict_of(arg(argc, argv, 0));
  if (!d) return ret_nil(out);
  ObjList *l = list_new(vm, d->count);
  for (uint32_t i = 0; i < d->count; i++) list_push(vm, l, OBJ_VAL(d->entries[i].key));
  *out = OBJ_VAL(l);
  return true;
}

static bool bi_values(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjDict *d = dict_of(arg(argc, argv, 0));
  if (!d) return ret_nil(out);
  ObjList *l = list_new(vm, d->count);
  for (uint32_t i = 0; i < d->count; i++) list_push(vm, l, d->entries[i].value);
  *out = OBJ_VAL(l);
  return true;
}

static bool bi_entries(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjDict *d = dict_of(arg(argc, argv, 0));
  if (!d) return ret_nil(out);
  if (!meth_fits(vm, d->count, METH_DICT_BYTES(2))) return false; /* d.entries() */
  *out = OBJ_VAL(dict_entries(vm, d));
  return true;
}

/* partition(list, f) -> {match: [...], no_match: [...]} (the method gives
 * a 2-list [matching, non_matching]). */
static bool bi_partition(Vm *vm, int argc, Value *argv, Value *out)
{
  if (argc < 1) return ret_nil(out);
  Value r;
  if (!call_method(vm, "partition", argv[0], argc - 1, argv + 1, &r)) return false;
  if (!IS_LIST(r) || AS_LIST(r)->count != 2) {
    *out = r;
    return true;
  }
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "match", AS_LIST(r)->items[0]);
  dict_set_cstr(vm, d, "no_match", AS_LIST(r)->items[1]);
  *out = OBJ_VAL(d);
  return true;
}

/* dedup_by(list, f): the first item for each distinct key f(item). */
static bool bi_dedup_by(Vm *vm, int argc, Value *argv, Value *out)
{
  Value l = arg(argc, argv, 0), f = arg(argc, argv, 1);
  if (!IS_LIST(l) || !vm_is_callable(f)) return ret_nil(out);
  ObjList *res = list_new(vm, 0);
  ObjList *seen = list_new(vm, 0);
  gc_push_root(vm, OBJ_VAL(res));
  gc_push_root(vm, OBJ_VAL(seen));
  bool ok = true;
  for (uint32_t i = 0; i < AS_LIST(l)->count; i++) {
    Value item = AS_LIST(l)->items[i], key;
    if (!vm_call(vm, f, 1, &item, &key)) {
      ok = false;
      break;
    }
    bool dup = false;
    for (uint32_t k = 0; k < seen->count && !dup; k++) dup = val_equal(seen->items[k], key);
    if (!dup) {
      list_push(vm, seen, key);
      list_push(vm, res, item);
    }
  }
  gc_pop_root(vm);
  gc_pop_root(vm);
  if (ok) *out = OBJ_VAL(res);
  return ok;
}

static bool bi_iter(Vm *vm, int argc, Value *argv, Value *out)
{
  return iter_from(vm, arg(argc, argv, 0), out);
}

static bool bi_pair(Vm *vm, int argc, Value *argv, Value *out)
{
  if (argc != 2) return err_runtime(vm, "pair: expected exactly 2 arguments, got %d", argc);
  *out = OBJ_VAL(pair_new(vm, argv[0], argv[1]));
  return true;
}

/* Is [x] an element of the set or list [c]? */
static bool coll_has(Value c, Value x)
{
  if (IS_SET(c)) return set_has(AS_SET(c), x);
  if (IS_LIST(c)) {
    for (uint32_t i = 0; i < AS_LIST(c)->count; i++)
      if (val_equal(AS_LIST(c)->items[i], x)) return true;
  }
  return false;
}

/* Items of a set or list ([*n] = 0 for anything else). */
static Value *coll_items(Value c, uint32_t *n)
{
  if (IS_SET(c)) {
    *n = AS_SET(c)->count;
    return AS_SET(c)->items;
  }
  if (IS_LIST(c)) {
    *n = AS_LIST(c)->count;
    return AS_LIST(c)->items;
  }
  *n = 0;
  return NULL;
}

static bool bi_set(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjSet *s = set_new(vm, (uint32_t)argc);
  for (int i = 0; i < argc; i++) {
    if (IS_LIST(argv[i]) || IS_SET(argv[i])) {
      uint32_t n;
      Value *items = coll_items(argv[i], &n);
      for (uint32_t k = 0; k < n; k++) set_add(vm, s, items[k]);
    } else {
      set_add(vm, s, argv[i]);
    }
  }
  *out = OBJ_VAL(s);
  return true;
}

static bool bi_set_add(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  if (!IS_SET(s)) return ret_nil(out);
  ObjSet *r = set_copy(vm, AS_SET(s));
  set_add(vm, r, arg(argc, argv, 1));
  *out = OBJ_VAL(r);
  return true;
}

static bool bi_set_remove(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0), x = arg(argc, argv, 1);
  if (!IS_SET(s)) return ret_nil(out);
  ObjSet *src = AS_SET(s);
  ObjSet *r = set_new(vm, src->count);
  for (uint32_t i = 0; i < src->count; i++)
    if (!val_equal(src->items[i], x)) set_add(vm, r, src->items[i]);
  *out = OBJ_VAL(r);
  return true;
}

static bool bi_set_contains(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  return ret_bool(out, IS_SET(s) && set_has(AS_SET(s), arg(argc, argv, 1)));
}

typedef enum { SOP_UNION, SOP_INTERSECT, SOP_DIFFERENCE, SOP_SYMDIFF } SetOp;

static bool set_op(Vm *vm, int argc, Value *argv, Value *out, SetOp op)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  if (!IS_SET(a)) return ret_nil(out);
  uint32_t na, nb;
  Value *ia = coll_items(a, &na), *ib = coll_items(b, &nb);
  ObjSet *r = set_new(vm, na);
  for (uint32_t i = 0; i < na; i++) {
    bool in_b = coll_has(b, ia[i]);
    if (op == SOP_UNION || (op == SOP_INTERSECT && in_b) || ((op == SOP_DIFFERENCE || op == SOP_SYMDIFF) && !in_b))
      set_add(vm, r, ia[i]);
  }
  if (op == SOP_UNION || op == SOP_SYMDIFF) {
    for (uint32_t i = 0; i < nb; i++)
      if (op == SOP_UNION || !set_has(AS_SET(a), ib[i])) set_add(vm, r, ib[i]);
  }
  *out = OBJ_VAL(r);
  return true;
}

static bool bi_set_union(Vm *vm, int argc, Value *argv, Value *out)
{
  return set_op(vm, argc, argv, out, SOP_UNION);
}
static bool bi_set_intersect(Vm *vm, int argc, Value *argv, Value *out)
{
  return set_op(vm, argc, argv, out, SOP_INTERSECT);
}
static bool bi_set_difference(Vm *vm, int argc, Value *argv, Value *out)
{
  return set_op(vm, argc, argv, out, SOP_DIFFERENCE);
}
static bool bi_set_symmetric_difference(Vm *vm, int argc, Value *argv, Value *out)
{
  return set_op(vm, argc, argv, out, SOP_SYMDIFF);
}

/* Every item of [a] is in [b]. */
static bool all_in(Value a, Value b)
{
  uint32_t n;
  Value *items = coll_items(a, &n);
  for (uint32_t i = 0; i < n; i++)
    if (!coll_has(b, items[i])) return false;
  return true;
}

static bool bi_set_is_subset(Vm *vm, int argc, Value *argv, Value *out)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  return ret_bool(out, IS_SET(a) && (IS_SET(b) || IS_LIST(b)) && all_in(a, b));
}

static bool bi_set_is_superset(Vm *vm, int argc, Value *argv, Value *out)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  return ret_bool(out, IS_SET(a) && (IS_SET(b) || IS_LIST(b)) && all_in(b, a));
}

static bool bi_set_is_disjoint(Vm *vm, int argc, Value *argv, Value *out)
{
  Value a = arg(argc, argv, 0), b = arg(argc, argv, 1);
  if (!IS_SET(a) || !(IS_SET(b) || IS_LIST(b))) return ret_bool(out, false);
  uint32_t n;
  Value *items = coll_items(a, &n);
  for (uint32_t i = 0; i < n; i++)
    if (coll_has(b, items[i])) return ret_bool(out, false);
  return ret_bool(out, true);
}

/* ======================================================================
 * 12.6 JSON and schemas
 * ====================================================================== */

static bool bi_json_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value t = arg(argc, argv, 0);
  if (!IS_STRING(t))
    return err_throw_str(vm, "JSON parse error: expected a string, got %s", val_type_name(t));
  return json_parse_value(vm, AS_CSTR(t), AS_STRING(t)->len, out);
}

static bool bi_json_stringify(Vm *vm, int argc, Value *argv, Value *out)
{
  Buf b = {0};
  bool ok = json_stringify_value(vm, arg(argc, argv, 0), &b);
  if (!ok || vm->heap.doomed) {
    buf_free(&b);
    if (vm->heap.doomed) return err_memory(vm);
    return err_runtime(vm, "json_stringify: value nested too deeply");
  }
  *out = buf_val(vm, &b);
  return true;
}

/*
 * Schema validation. A schema is a dict; keys understood:
 *   type        a type name or a list of them (any one matches). Names are
 *               the type_of names plus JSON-Schema spellings: object (dict
 *               or struct), array, integer, number (int or float), boolean,
 *               null, and any. `float` also accepts an int, `dict` a struct
 *               (as in docs/LANGUAGE.md 8.5).
 *   nullable    true: nil is accepted whatever `type` says.
 *   required    list of keys a dict/struct must have.
 *   properties  dict key -> schema for the keys present.
 *   additional_properties / additionalProperties
 *               false: keys not in `properties` are problems; a schema:
 *               they must match it.
 *   items       schema every list/set element must match.
 *   enum        list of allowed values (==).
 *   minimum maximum (min max)          numbers.
 *   min_length max_length (minLength maxLength min_items max_items
 *   minItems maxItems)                 characters of a string, size of a
 *                                      list/set/dict.
 * A type mismatch stops the checks below that value. Problems are
 * collected in order (type, enum, bounds, required keys in list order,
 * properties in key order, extra keys, items in order) as
 * `at PATH: TEXT` joined by "; ", PATH being root, root.key, root[3].
 */
#define SCHEMA_MAX_DEPTH 200

typedef struct Schema {
  Vm *vm;
  Buf problems;
  Buf path;
  size_t visits;      /* values validated so far (SCHEMA_MAX_VISITS) */
} Schema;

/* A value that shares its parts (a = [a, a] sixty times) unfolds into more
 * parts than any walk can visit: validation stops after this many, with a
 * problem saying so (and so does the problem text's growth). */
#define SCHEMA_MAX_VISITS (1u << 20)

static void problem(Schema *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Schema *sc, const char *fmt, ...)
{
  if (sc->problems.len) buf_puts(&sc->problems, "; ");
  buf_printf(&sc->problems, "at %s: ", sc->path.data);
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&sc->problems, fmt, ap);
  va_end(ap);
}

static bool type_name_matches(const char *t, Value v)
{
  const char *have = val_type_name(v);
  if (strcmp(t, "any") == 0) return true;
  if (strcmp(t, "object") == 0 || strcmp(t, "dict") == 0) return IS_DICT(v) || IS_STRUCT(v);
  if (strcmp(t, "array") == 0) return IS_LIST(v);
  if (strcmp(t, "integer") == 0) return IS_INT(v);
  if (strcmp(t, "number") == 0 || strcmp(t, "float") == 0) return IS_NUMBER(v);
  if (strcmp(t, "boolean") == 0) return IS_BOOL(v);
  if (strcmp(t, "null") == 0) return IS_NIL(v);
  return strcmp(t, have) == 0;
}

static bool schema_num(ObjDict *s, const char *k1, const char *k2, double *out)
{
  Value v;
  if ((dict_get_cstr(s, k1, &v) || (k2 && dict_get_cstr(s, k2, &v))) && IS_NUMBER(v)) {
    *out = AS_NUMBER(v);
    return true;
  }
  return false;
}

static void fmt_num(Buf *b, double d)
{
  if (d == (double)(int64_t)d && fabs(d) < 1e15) buf_printf(b, "%lld", (long long)d);
  else fmt_float(d, true, b);
}

static void validate(Schema *sc, Value v, Value schema, int depth)
{
  if (!IS_DICT(schema) || depth > SCHEMA_MAX_DEPTH || sc->visits > SCHEMA_MAX_VISITS) return;
  if (++sc->visits > SCHEMA_MAX_VISITS) {
    problem(sc, "validation stopped after %u values", SCHEMA_MAX_VISITS);
    return;
  }
  ObjDict *s = AS_DICT(schema);
  Value t;

  Value nullable;
  if (IS_NIL(v) && dict_get_cstr(s, "nullable", &nullable) && val_truthy(nullable)) return;

  if (dict_get_cstr(s, "type", &t)) {
    if (IS_STRING(t)) {
      if (!type_name_matches(AS_CSTR(t), v)) {
        problem(sc, "expected type '%s', got '%s'", AS_CSTR(t), val_type_name(v));
        return;
      }
    } else if (IS_LIST(t) && AS_LIST(t)->count > 0) {
      ObjList *ts = AS_LIST(t);
      bool any = false;
      for (uint32_t i = 0; i < ts->count && !any; i++)
        any = IS_STRING(ts->items[i]) && type_name_matches(AS_CSTR(ts->items[i]), v);
      if (!any) {
        Buf names = {0};
        for (uint32_t i = 0; i < ts->count; i++) {
          if (i) buf_puts(&names, " | ");
          val_display(sc->vm, ts->items[i], &names);
        }
        problem(sc, "expected type '%s', got '%s'", names.data ? names.data : "", val_type_name(v));
        buf_free(&names);
        return;
      }
    }
  }

  Value en;
  if (dict_get_cstr(s, "enum", &en) && IS_LIST(en) && !coll_has(en, v)) {
    Buf a = {0}, b = {0};
    val_display(sc->vm, en, &a);
    val_display(sc->vm, v, &b);
    problem(sc, "expected one of %s, got %s", a.data, b.data);
    buf_free(&a);
    buf_free(&b);
  }

  double lim;
  if (IS_NUMBER(v)) {
    double x = AS_NUMBER(v);
    if (schema_num(s, "minimum", "min", &lim) && x < lim) {
      Buf a = {0}, b = {0};
      fmt_num(&a, lim);
      val_display(sc->vm, v, &b);
      problem(sc, "expected a value >= %s, got %s", a.data, b.data);
      buf_free(&a);
      buf_free(&b);
    }
    if (schema_num(s, "maximum", "max", &lim) && x > lim) {
      Buf a = {0}, b = {0};
      fmt_num(&a, lim);
      val_display(sc->vm, v, &b);
      problem(sc, "expected a value <= %s, got %s", a.data, b.data);
      buf_free(&a);
      buf_free(&b);
    }
  }

  int64_t size = -1;
  if (IS_STRING(v)) size = AS_STRING(v)->nchars;
  else if (IS_LIST(v)) size = AS_LIST(v)->count;
  else if (IS_SET(v)) size = AS_SET(v)->count;
  else if (IS_DICT(v)) size = AS_DICT(v)->count;
  if (size >= 0) {
    if ((schema_num(s, "min_length", "minLength", &lim) ||
         schema_num(s, "min_items", "minItems", &lim)) && (double)size < lim) {
      Buf a = {0};
      fmt_num(&a, lim);
      problem(sc, "expected length >= %s, got %lld", a.data, (long long)size);
      buf_free(&a);
    }
    if ((schema_num(s, "max_length", "maxLength", &lim) ||
         schema_num(s, "max_items", "maxItems", &lim)) && (double)size > lim) {
      Buf a = {0};
      fmt_num(&a, lim);
      problem(sc, "expected length <= %s, got %lld", a.data, (long long)size);
      buf_free(&a);
    }
  }

  size_t plen = sc->path.len;
  ObjDict *d = dict_of(v);
  if (d) {
    Value req, props, extra;
    if (dict_get_cstr(s, "required", &req) && IS_LIST(req)) {
      for (uint32_t i = 0; i < AS_LIST(req)->count; i++) {
        Value k = AS_LIST(req)->items[i];
        if (IS_STRING(k) && !dict_get(d, AS_STRING(k), &t))
          problem(sc, "missing required key '%s'", AS_CSTR(k));
      }
    }
    bool has_props = dict_get_cstr(s, "properties", &props) && IS_DICT(props);
    if (has_props) {
      ObjDict *pd = AS_DICT(props);
      for (uint32_t i = 0; i < pd->count; i++) {
        Value fv;
        if (!dict_get(d, pd->entries[i].key, &fv)) continue;
        buf_printf(&sc->path, ".%s", pd->entries[i].key->chars);
        validate(sc, fv, pd->entries[i].value, depth + 1);
        sc->path.len = plen;
        sc->path.data[plen] = 0;
      }
    }
    if (dict_get_cstr(s, "additional_properties", &extra) ||
        dict_get_cstr(s, "additionalProperties", &extra)) {
      for (uint32_t i = 0; i < d->count; i++) {
        Value unused;
        if (has_props && dict_get(AS_DICT(props), d->entries[i].key, &unused)) continue;
        if (IS_BOOL(extra) && !AS_BOOL(extra)) {
          problem(sc, "unexpected key '%s'", d->entries[i].key->chars);
        } else if (IS_DICT(extra)) {
          buf_printf(&sc->path, ".%s", d->entries[i].key->chars);
          validate(sc, d->entries[i].value, extra, depth + 1);
          sc->path.len = plen;
          sc->path.data[plen] = 0;
        }
      }
    }
  }

  Value items;
  if ((IS_LIST(v) || IS_SET(v)) && dict_get_cstr(s, "items", &items) && IS_DICT(items)) {
    uint32_t n;
    Value *xs = coll_items(v, &n);
    for (uint32_t i = 0; i < n; i++) {
      buf_printf(&sc->path, "[%u]", i);
      validate(sc, xs[i], items, depth + 1);
      sc->path.len = plen;
      sc->path.data[plen] = 0;
    }
  }
}

/* Validate [v] against [schema]: true when valid, else false with the
 * problems (joined by "; ") in *msg (a fresh string). */
static bool schema_validate(Vm *vm, Value v, Value schema, ObjString **msg)
{
  Schema sc = {vm, {0}, {0}, 0};
  buf_puts(&sc.path, "root");
  validate(&sc, v, schema, 0);
  buf_free(&sc.path);
  if (sc.problems.len == 0) {
    buf_free(&sc.problems);
    return true;
  }
  *msg = str_new(vm, sc.problems.data, sc.problems.len);
  buf_free(&sc.problems);
  return false;
}

static bool bi_json_validate(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *msg;
  if (!schema_validate(vm, arg(argc, argv, 0), arg(argc, argv, 1), &msg))
    return err_throw(vm, OBJ_VAL(msg));
  return ret_bool(out, true);
}

static bool bi_schema_is(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *msg;
  return ret_bool(out, schema_validate(vm, arg(argc, argv, 0), arg(argc, argv, 1), &msg));
}

/* [v] with the `default` of every property of [schema] that it lacks,
 * recursively into the present properties that are dicts or structs; a
 * struct stays a struct of the same type (its field access keeps working,
 * issue 17). [v] itself is never changed: a copy is made when a default
 * applies. */
static Value apply_defaults(Vm *vm, Value v, Value schema, int depth)
{
  Value props;
  if (depth > SCHEMA_MAX_DEPTH || !IS_DICT(schema) || !dict_get_cstr(AS_DICT(schema), "properties", &props) ||
      !IS_DICT(props))
    return v;
  bool is_struct = IS_OBJ_TYPE(v, OBJ_STRUCT);
  ObjDict *src = IS_DICT(v) ? AS_DICT(v) : is_struct ? AS_STRUCT(v)->fields : NULL;
  if (!src) return v;
  ObjDict *pd = AS_DICT(props), *copy = NULL;
  for (uint32_t i = 0; i < pd->count; i++) {
    ObjString *key = pd->entries[i].key;
    Value ps = pd->entries[i].value, cur, dv;
    Value next = NIL_VAL;
    bool have = false;
    if (dict_get(src, key, &cur)) {
      Value nv = apply_defaults(vm, cur, ps, depth + 1);
      if (nv.type != cur.type || (IS_OBJ(nv) && AS_OBJ(nv) != AS_OBJ(cur))) {
        next = nv;
        have = true;
      }
    } else if (IS_DICT(ps) && dict_get_cstr(AS_DICT(ps), "default", &dv)) {
      next = dv;
      have = true;
    }
    if (!have) continue;
    if (!copy) {
      copy = dict_copy(vm, src);
      gc_push_root(vm, OBJ_VAL(copy));
    }
    dict_set(vm, copy, key, next);
  }
  if (!copy) return v;
  Value r = is_struct ? OBJ_VAL(struct_new(vm, AS_STRUCT(v)->type, AS_STRUCT(v)->name, copy)) : OBJ_VAL(copy);
  gc_pop_root(vm);
  return r;
}

/* schema_parse(v, schema) / schema_check: Ok(v with the schema's defaults
 * applied) when that is valid, else Err(problems). */
static bool bi_schema_check(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjString *msg;
  Value v = apply_defaults(vm, arg(argc, argv, 0), arg(argc, argv, 1), 0);
  gc_push_root(vm, v);
  bool ok = schema_validate(vm, v, arg(argc, argv, 1), &msg);
  gc_pop_root(vm);
  if (ok) *out = enum_ok(vm, v);
  else *out = enum_err(vm, OBJ_VAL(msg));
  return true;
}

/* ======================================================================
 * 12.7 Time
 * ====================================================================== */

#define MAX_TIMERS 64

/* The clock state of one VM (vm->clock, allocated by the first time
 * builtin, freed by builtins_free). */
struct BiClock {
  bool mocked;
  int64_t mock_ms;
  int64_t mock_base; /* mock clock value when mocking started (elapsed) */
  int ntimers;
  struct {
    char *name; /* malloc'd, freed with the timer or by builtins_free */
    int64_t start;
  } timers[MAX_TIMERS];
};

/* The one process-wide value of this file: elapsed() counts from the
 * start of the process (docs/LANGUAGE.md), so every VM of the process
 * reads the same origin. Written once, by the constructor below, before
 * main. */
static int64_t process_start_ms;

static int64_t real_ms(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((constructor)) static void record_process_start(void)
{
  process_start_ms = real_ms(CLOCK_MONOTONIC);
}

/* The clock state of [vm], allocated (unmocked, no timers) when new. */
static struct BiClock *clock_for(Vm *vm)
{
  if (vm->clock) return vm->clock;
  vm->clock = calloc(1, sizeof(struct BiClock));
  if (!vm->clock) abort();
  return vm->clock;
}

void builtins_free(Vm *vm)
{
  std_regex_free(vm);
  struct BiClock *clk = vm->clock;
  if (!clk) return;
  for (int i = 0; i < clk->ntimers; i++) free(clk->timers[i].name);
  free(clk);
  vm->clock = NULL;
}

static int64_t now_wall(Vm *vm)
{
  struct BiClock *clk = clock_for(vm);
  return clk->mocked ? clk->mock_ms : real_ms(CLOCK_REALTIME);
}

int64_t builtins_now_ms(Vm *vm) { return now_wall(vm); }

static int64_t now_mono(Vm *vm)
{
  struct BiClock *clk = clock_for(vm);
  return clk->mocked ? clk->mock_ms : real_ms(CLOCK_MONOTONIC);
}

static bool bi_now_ms(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_int(now_wall(vm));
  return true;
}

static bool bi_monotonic_ms(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_int(now_mono(vm));
  return true;
}

/* a - b and a + b, saturated: mocked clocks take any value a program
 * gives (advance_time(9223372036854775807), mock_time(-...)). */
static int64_t sat_sub(int64_t a, int64_t b)
{
  int64_t r;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b < 0 ? INT64_MAX : INT64_MIN;
}

static int64_t sat_add(int64_t a, int64_t b)
{
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

static bool bi_elapsed(Vm *vm, int argc, Value *argv, Value *out)
{
  struct BiClock *clk = clock_for(vm);
  *out = val_int(clk->mocked ? sat_sub(clk->mock_ms, clk->mock_base) : real_ms(CLOCK_MONOTONIC) - process_start_ms);
  return true;
}

static bool bi_mock_time(Vm *vm, int argc, Value *argv, Value *out)
{
  struct BiClock *clk = clock_for(vm);
  int64_t ms = 0;
  to_ms(arg(argc, argv, 0), &ms);
  clk->mocked = true;
  clk->mock_ms = clk->mock_base = ms;
  return ret_nil(out);
}

static void advance(Vm *vm, int64_t ms)
{
  struct BiClock *clk = clock_for(vm);
  if (!clk->mocked) {
    clk->mocked = true;
    clk->mock_ms = clk->mock_base = real_ms(CLOCK_REALTIME);
  }
  clk->mock_ms = sat_add(clk->mock_ms, ms);
}

static bool bi_advance_time(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t ms = 0;
  to_ms(arg(argc, argv, 0), &ms);
  advance(vm, ms);
  return ret_nil(out);
}

static bool bi_unmock_time(Vm *vm, int argc, Value *argv, Value *out)
{
  struct BiClock *clk = clock_for(vm);
  clk->mocked = false;
  return ret_nil(out);
}

/* Sleep (sched_sleep: suspends the calling task, wakes promptly for
 * deadlines and host signals). With a mocked clock, or a VM configured with
 * fake_sleep (fuzzing), it advances the clock instead of waiting. */
static bool do_sleep(Vm *vm, int64_t ms, Value *out)
{
  struct BiClock *clk = clock_for(vm);
  if (ms < 0) ms = 0;
  if (clk->mocked || vm->cfg.fake_sleep) {
    clk->mock_ms = sat_add(clk->mock_ms, ms);
    /* the other tasks still get to run (sched.c; fake_sleep: virtual clock) */
    return (clk->mocked ? sched_yield_now(vm) : sched_sleep(vm, ms)) && ret_nil(out);
  }
  /* suspends this task only; wakes for deadlines and host signals */
  return sched_sleep(vm, ms) && ret_nil(out);
}

static bool bi_sleep(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t ms = 0;
  to_ms(arg(argc, argv, 0), &ms);
  return do_sleep(vm, ms, out);
}

static bool bi_sleep_ms(Vm *vm, int argc, Value *argv, Value *out)
{
  return bi_sleep(vm, argc, argv, out);
}

/* The timer named by argv[0]: nil is "default"; the dict timer_start
 * returned gives its `name` (and its `start_ms` through *start when there);
 * anything else its display. */
static const char *timer_name(Vm *vm, int argc, Value *argv, int64_t *start, bool *has_start)
{
  Value n = arg(argc, argv, 0);
  if (has_start) *has_start = false;
  if (IS_DICT(n)) {
    Value v;
    if (start && dict_get_cstr(AS_DICT(n), "start_ms", &v) && IS_INT(v)) {
      *start = AS_INT(v);
      *has_start = true;
    }
    n = dict_get_cstr(AS_DICT(n), "name", &v) ? v : NIL_VAL;
  }
  return IS_NIL(n) ? "default" : disp(vm, n)->chars;
}

/* timer_start(name): {name, start_ms} (start_ms on the monotonic clock,
 * which mock_time drives). */
static bool timer_value(Vm *vm, const char *name, int64_t now, Value *out)
{
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "name", cstr_val(vm, name));
  dict_set_cstr(vm, d, "start_ms", val_int(now));
  *out = OBJ_VAL(d);
  return true;
}

static bool bi_timer_start(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *name = timer_name(vm, argc, argv, NULL, NULL);
  int64_t now = now_mono(vm);
  struct BiClock *clk = clock_for(vm);
  for (int i = 0; i < clk->ntimers; i++) {
    if (strcmp(clk->timers[i].name, name) == 0) {
      clk->timers[i].start = now;
      return timer_value(vm, name, now, out);
    }
  }
  if (clk->ntimers == MAX_TIMERS) { /* drop the oldest */
    free(clk->timers[0].name);
    memmove(&clk->timers[0], &clk->timers[1], sizeof clk->timers[0] * (MAX_TIMERS - 1));
    clk->ntimers--;
  }
  char *copy = strdup(name);
  if (!copy) abort();
  clk->timers[clk->ntimers].name = copy;
  clk->timers[clk->ntimers].start = now;
  clk->ntimers++;
  return timer_value(vm, name, now, out);
}

/* timer_end(timer): [timer] is the dict timer_start returned, or a name;
 * writes `[timer] name: Nms` and returns N (0 for a name that was never
 * started; a dict counts from its start_ms). */
static bool bi_timer_end(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t start = 0;
  bool has_start;
  const char *name = timer_name(vm, argc, argv, &start, &has_start);
  int64_t now = now_mono(vm), ms = has_start ? sat_sub(now, start) : 0;
  struct BiClock *clk = clock_for(vm);
  for (int i = 0; i < clk->ntimers; i++) {
    if (strcmp(clk->timers[i].name, name) == 0) {
      if (!has_start) ms = sat_sub(now, clk->timers[i].start);
      free(clk->timers[i].name);
      memmove(&clk->timers[i], &clk->timers[i + 1], sizeof clk->timers[0] * (size_t)(clk->ntimers - i - 1));
      clk->ntimers--;
      break;
    }
  }
  Buf b = {0};
  buf_printf(&b, "[timer] %s: %lldms\n", name, (long long)ms);
  vm_write(vm, 1, b.data, b.len);
  buf_free(&b);
  *out = val_int(ms);
  return true;
}

/* ======================================================================
 * 12.5 to_set, 12.6 schema_of
 * ====================================================================== */

/* to_set(x): a set is returned as is; a list (or anything iter() accepts:
 * range, dict -> pairs, string -> characters, iter, generator...) is
 * collected into a set (first occurrences, insertion order); nil gives the
 * empty set; any other value gives a one-element set. */
static bool bi_to_set(Vm *vm, int argc, Value *argv, Value *out)
{
  Value v = arg(argc, argv, 0);
  if (IS_SET(v)) {
    *out = v;
    return true;
  }
  ObjSet *s = set_new(vm, IS_LIST(v) ? AS_LIST(v)->count : 0);
  if (IS_NIL(v)) {
    *out = OBJ_VAL(s);
    return true;
  }
  if (IS_LIST(v)) {
    for (uint32_t i = 0; i < AS_LIST(v)->count; i++) set_add(vm, s, AS_LIST(v)->items[i]);
    *out = OBJ_VAL(s);
    return true;
  }
  if (!iter_accepts(v)) {
    set_add(vm, s, v);
    *out = OBJ_VAL(s);
    return true;
  }
  Value it;
  if (!iter_from(vm, v, &it)) return false;
  gc_push_root(vm, it);
  gc_push_root(vm, OBJ_VAL(s));
  int r;
  Value x;
  uint32_t ticks = 0;
  while ((r = iter_next(vm, it, &x)) == 1) {
    set_add(vm, s, x);
    if (!meth_poll(vm, &ticks)) { /* a huge or endless source (methods.h) */
      r = -1;
      break;
    }
  }
  gc_pop_root(vm);
  gc_pop_root(vm);
  if (r < 0) return false;
  *out = OBJ_VAL(s);
  return true;
}

/* A copy of the dicts and lists of [v] (schemas are small trees). Past
 * SCHEMA_MAX_VISITS containers (a dict that shares its parts) the rest is
 * shared, not copied: values are immutable, the copy is a formality. */
static Value schema_copy(Vm *vm, Value v, int depth, size_t *budget)
{
  if (depth > SCHEMA_MAX_DEPTH || *budget == 0) return v;
  if (IS_DICT(v)) {
    --*budget;
    ObjDict *d = dict_copy(vm, AS_DICT(v));
    gc_push_root(vm, OBJ_VAL(d));
    for (uint32_t i = 0; i < d->count; i++)
      d->entries[i].value = schema_copy(vm, d->entries[i].value, depth + 1, budget);
    gc_pop_root(vm);
    return OBJ_VAL(d);
  }
  if (IS_LIST(v)) {
    --*budget;
    ObjList *l = list_copy(vm, AS_LIST(v));
    gc_push_root(vm, OBJ_VAL(l));
    for (uint32_t i = 0; i < l->count; i++) l->items[i] = schema_copy(vm, l->items[i], depth + 1, budget);
    gc_pop_root(vm);
    return OBJ_VAL(l);
  }
  return v;
}

/* schema_of(T) (docs/LANGUAGE.md 12.6). Contract with the compiler: a `type`
 * alias used as a value compiles to its schema, a constant dict in the
 * form validate() above understands (compiler.c emit_alias_schema,
 * typecheck.c tc_schema_of: a shape `{name: string, age?: int}` becomes
 * {type: "object", required: [name], properties: {...}}), so schema_of
 * returns a copy of a dict argument (the constant itself is never handed
 * out). A type name string ("int", "list"...) gives {type: name}.
 * Anything else gives nil. */
static bool bi_schema_of(Vm *vm, int argc, Value *argv, Value *out)
{
  Value t = arg(argc, argv, 0);
  if (IS_DICT(t)) {
    size_t budget = SCHEMA_MAX_VISITS;
    *out = schema_copy(vm, t, 0, &budget);
    return true;
  }
  if (IS_STRING(t)) {
    ObjDict *d = dict_new(vm, 1);
    dict_set_cstr(vm, d, "type", t);
    *out = OBJ_VAL(d);
    return true;
  }
  return ret_nil(out);
}

/* ======================================================================
 * 13 Shared state: shared cells and maps, sync primitives, mailboxes,
 * circuit breakers
 *
 * The scheduler is cooperative and single-threaded (docs/LANGUAGE.md 13), so
 * none of these needs a real lock: an operation runs from start to end
 * without another task interleaving. They are reference objects (host
 * natives): every task holding one sees the same state, unlike lists and
 * dicts (value semantics).
 *
 *  - Atomics (atomic, atomic_get/set/add/cas) are the scheduler's
 *    (channel.c, chan_bi_atomic*); they are only listed in the table.
 *  - shared_cell(v=nil): `<shared_cell:V>`; shared_map(dict={}):
 *    `<shared_map:{...}>`. The accessors are shared by both kinds (the name
 *    rule of docs/LANGUAGE.md 13: shared_cell/get/... = shared_cell, shared_get,
 *    ...): shared_get(c) / shared_get(m, key, default=nil);
 *    shared_set(c, v) / shared_set(m, key, v) -> old value (nil if none);
 *    shared_cas(c, expected, new) / shared_cas(m, key, expected, new) ->
 *    bool (an absent key compares as nil); shared_snapshot -> the value /
 *    a dict copy; shared_entries(m) -> [{key, value}] sorted by key;
 *    shared_metrics -> {cas_failures, cas_successes, reads, version,
 *    writes} (+ size for maps). version counts successful writes.
 *  - Named primitives live in a per-run registry (below). Permits are
 *    dicts {id, kind, name}:
 *    sync_mutex_acquire(name="default", timeout=nil);
 *    sync_semaphore_acquire(name, limit=1, n=1, timeout=nil) (the first
 *    acquire of a name fixes its limit); sync_rwlock_acquire(name,
 *    mode="read"|"write", timeout=nil); sync_gate_acquire(name, limit=1,
 *    timeout=nil) (a concurrency gate: a semaphore taking one permit). A
 *    timeout (duration or int ms) bounds the wait: nil when it ends (0:
 *    try once, no wait); sync_release(permit) -> true, false when that
 *    permit was already released; sync_metrics(name) -> {acquired,
 *    contended, held, kind, limit, name, released} (nil for an unknown
 *    name), sync_metrics() -> dict name -> metrics.
 *    An acquire that cannot be granted at once suspends the task through
 *    the scheduler (sync_wait: sched.h WaitList, sched_block) until a
 *    sync_release makes room, FIFO per name: a request queues behind the
 *    earlier waiters even when it could be granted (no barging, so a
 *    writer or a large semaphore request is not starved), and only the
 *    first waiter may take it. The wait is a safe point like every
 *    blocking op: cancel, deadline and host interrupts end it with their
 *    error; when nothing can ever release (a lone task), it fails with the
 *    scheduler's `Runtime error: deadlock: every task is blocked`, as a
 *    receive on an empty channel does. A semaphore request for more
 *    permits than the limit fails at once (it could never be granted).
 *  - mailbox_open(name, capacity=1024) or mailbox_open({name, capacity,
 *    scope}) -> name (`scope/name` with a scope; re-opening keeps the
 *    queue); mailbox_send(name, v) -> true, false when full or not open;
 *    mailbox_receive(name, timeout=nil) -> the oldest message; while empty
 *    it waits (FIFO among receivers) for a send, at most [timeout] (0: no
 *    wait) and then gives nil (also when its timer fired as a message
 *    came: that message is for the receivers still waiting); an unknown
 *    mailbox gives nil at once;
 *    mailbox_metrics(name) -> {capacity, name, pending, received,
 *    rejected, sent} (nil for an unknown mailbox).
 *  - circuit_breaker(name, threshold=5, reset=30s (duration or ms)) ->
 *    name (re-declaring updates the settings, keeps the state);
 *    circuit_check(name) -> "closed" | "open" | "half_open" (open turns
 *    half_open once `reset` has passed on the monotonic clock, which
 *    mock_time drives); circuit_record_failure(name) -> state (opens
 *    when consecutive failures reach the threshold, or at once when
 *    half_open); circuit_record_success(name) -> "closed" (clears the
 *    failures); circuit_reset(name) -> nil. An unknown name is a closed
 *    breaker with the default settings. Aliases circuit_breaker_check /
 *    _record_success / _record_failure / _reset exist.
 *
 * Registry. Named primitives must outlive every handle the program holds,
 * and mailboxes hold Values the collector must see. The registry is one
 * host object stored in a hidden interpreter global (REGISTRY_GLOBAL: a
 * name no identifier can spell), so vm_mark_roots marks it with the other
 * globals and interp_reset drops it with them: a new run starts empty.
 * Its C arrays are allocated through mem_realloc (accounted heap).
 * ====================================================================== */

static void native_free_data(Vm *vm, ObjNative *n)
{
  if (n->data) mem_free(vm, n->data, n->size);
  n->data = NULL;
}

static bool native_same(ObjNative *a, ObjNative *b) { return a == b; }

/* ---- shared cells and maps -------------------------------------------------- */

typedef struct SharedData {
  bool is_map;
  Value value;  /* the cell's value, or the map's private ObjDict (never
                   published: snapshots and entries copy it) */
  int64_t reads, writes, cas_ok, cas_fail, version;
} SharedData;

static void shared_display(Vm *vm, ObjNative *n, Buf *out)
{
  SharedData *s = n->data;
  buf_puts(out, s->is_map ? "<shared_map:" : "<shared_cell:");
  val_display(vm, s->value, out);
  buf_putc(out, '>');
}

static void shared_mark(Vm *vm, ObjNative *n) { gc_mark_value(vm, ((SharedData *)n->data)->value); }

static const NativeVtbl shared_cell_vt = {
  "shared_cell", shared_display, shared_mark, native_free_data, false, native_same,
};
static const NativeVtbl shared_map_vt = {
  "shared_map", shared_display, shared_mark, native_free_data, false, native_same,
};

static Value shared_new(Vm *vm, bool is_map, Value v)
{
  SharedData *s = mem_alloc(vm, sizeof *s);
  memset(s, 0, sizeof *s);
  s->is_map = is_map;
  s->value = v;
  return OBJ_VAL(native_new(vm, is_map ? &shared_map_vt : &shared_cell_vt, s, sizeof *s));
}

static bool bi_shared_cell(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = shared_new(vm, false, arg(argc, argv, 0));
  return true;
}

static bool bi_shared_map(Vm *vm, int argc, Value *argv, Value *out)
{
  Value init = arg(argc, argv, 0);
  ObjDict *d = IS_DICT(init) ? dict_copy(vm, AS_DICT(init)) : dict_new(vm, 4);
  *out = shared_new(vm, true, OBJ_VAL(d));
  return true;
}

/* The SharedData of argument 0 (a cell or a map), or a thrown error. */
static bool shared_arg(Vm *vm, const char *fn, int argc, Value *argv, SharedData **out)
{
  Value v = arg(argc, argv, 0);
  if (!IS_NATIVE(v) || (AS_NATIVE(v)->vt != &shared_cell_vt && AS_NATIVE(v)->vt != &shared_map_vt))
    return err_throw_str(vm, "%s: first argument must be a shared_cell or shared_map", fn);
  *out = AS_NATIVE(v)->data;
  return true;
}

static ObjString *key_of(Vm *vm, Value k) { return disp(vm, k); }

static bool bi_shared_get(Vm *vm, int argc, Value *argv, Value *out)
{
  SharedData *s = NULL;
  if (!shared_arg(vm, "shared_get", argc, argv, &s)) return false;
  s->reads++;
  if (!s->is_map) {
    *out = s->value;
    return true;
  }
  if (!dict_get(AS_DICT(s->value), key_of(vm, arg(argc, argv, 1)), out)) *out = arg(argc, argv, 2);
  return true;
}

static bool bi_shared_set(Vm *vm, int argc, Value *argv, Value *out)
{
  SharedData *s = NULL;
  if (!shared_arg(vm, "shared_set", argc, argv, &s)) return false;
  s->writes++;
  s->version++;
  if (!s->is_map) {
    *out = s->value;
    s->value = arg(argc, argv, 1);
    return true;
  }
  ObjString *k = key_of(vm, arg(argc, argv, 1));
  if (!dict_get(AS_DICT(s->value), k, out)) *out = val_nil();
  dict_set(vm, AS_DICT(s->value), k, arg(argc, argv, 2));
  return true;
}

static bool bi_shared_cas(Vm *vm, int argc, Value *argv, Value *out)
{
  SharedData *s = NULL;
  if (!shared_arg(vm, "shared_cas", argc, argv, &s)) return false;
  int base = s->is_map ? 2 : 1;
  Value cur = s->value;
  ObjString *k = NULL;
  if (s->is_map) {
    k = key_of(vm, arg(argc, argv, 1));
    if (!dict_get(AS_DICT(s->value), k, &cur)) cur = val_nil();
  }
  if (!val_equal(cur, arg(argc, argv, base))) {
    s->cas_fail++;
    return ret_bool(out, false);
  }
  s->cas_ok++;
  s->writes++;
  s->version++;
  if (s->is_map) dict_set(vm, AS_DICT(s->value), k, arg(argc, argv, base + 1));
  else s->value = arg(argc, argv, base + 1);
  return ret_bool(out, true);
}

static bool bi_shared_snapshot(Vm *vm, int argc, Value *argv, Value *out)
{
  SharedData *s = NULL;
  if (!shared_arg(vm, "shared_snapshot", argc, argv, &s)) return false;
  s->reads++;
  *out = s->is_map ? OBJ_VAL(dict_copy(vm, AS_DICT(s->value))) : s->value;
  return true;
}

static bool bi_shared_entries(Vm *vm, int argc, Value *argv, Value *out)
{
  SharedData *s = NULL;
  if (!shared_arg(vm, "shared_entries", argc, argv, &s)) return false;
  if (!s->is_map) return err_throw_str(vm, "shared_entries: first argument must be a shared_map");
  s->reads++;
  Value d = s->value;
  return bi_entries(vm, 1, &d, out);
}

static bool bi_shared_metrics(Vm *vm, int argc, Value *argv, Value *out)
{
  SharedData *s = NULL;
  if (!shared_arg(vm, "shared_metrics", argc, argv, &s)) return false;
  ObjDict *d = dict_new(vm, 6);
  dict_set_cstr(vm, d, "cas_failures", val_int(s->cas_fail));
  dict_set_cstr(vm, d, "cas_successes", val_int(s->cas_ok));
  dict_set_cstr(vm, d, "reads", val_int(s->reads));
  dict_set_cstr(vm, d, "version", val_int(s->version));
  dict_set_cstr(vm, d, "writes", val_int(s->writes));
  if (s->is_map) dict_set_cstr(vm, d, "size", val_int(AS_DICT(s->value)->count));
  *out = OBJ_VAL(d);
  return true;
}

/* ---- the registry of named primitives ---------------------------------------- */

#define REGISTRY_GLOBAL "\001harn.builtins.registry"

typedef enum { SYNC_MUTEX, SYNC_SEMAPHORE, SYNC_RWLOCK, SYNC_GATE } BiSyncKind;
static const char *const sync_kind_names[] = {"mutex", "semaphore", "rwlock", "gate"};

typedef struct BiSyncPrim {
  char *name;
  BiSyncKind kind;
  int64_t limit;              /* permits (mutex: 1) */
  int64_t held;               /* permits in use (rwlock: readers) */
  bool writer;                /* rwlock held for writing */
  int64_t acquired, released, contended;
  WaitList waiters;           /* tasks blocked in an acquire, FIFO */
} BiSyncPrim;

typedef struct BiPermit {
  int64_t id;
  int prim;                   /* index into prims */
  int64_t n;                  /* permits taken */
  bool write;
  uint64_t owner;             /* the task that took it (released if cancelled) */
} BiPermit;

typedef struct BiMailbox {
  char *name;
  Value *items;               /* ring buffer of cap slots */
  uint32_t head, count, cap;
  int64_t capacity, sent, received, rejected;
  WaitList waiters;           /* tasks blocked in a receive, FIFO */
} BiMailbox;

typedef enum { CB_CLOSED, CB_OPEN, CB_HALF_OPEN } BiCbState;
static const char *const cb_state_names[] = {"closed", "open", "half_open"};

typedef struct BiBreaker {
  char *name;
  int64_t threshold, reset_ms;
  int64_t failures;           /* consecutive */
  int64_t opened_at;          /* monotonic ms */
  BiCbState state;
} BiBreaker;

typedef struct BiRegistry {
  BiSyncPrim *prims;
  int nprims, primcap;
  BiPermit *permits;            /* outstanding permits */
  int npermits, permitcap;
  int64_t next_permit;
  BiMailbox *boxes;
  int nboxes, boxcap;
  BiBreaker *breakers;
  int nbreakers, breakercap;
} BiRegistry;

/* Grow [*arr] (elements of [elem] bytes, capacity *cap) to hold [need]. */
static void reg_grow(Vm *vm, void **arr, int *cap, int need, size_t elem)
{
  if (need <= *cap) return;
  int nc = *cap ? *cap * 2 : 8;
  while (nc < need) nc *= 2;
  *arr = mem_realloc(vm, *arr, (size_t)*cap * elem, (size_t)nc * elem);
  *cap = nc;
}

static char *reg_strdup(Vm *vm, const char *s)
{
  size_t n = strlen(s) + 1;
  char *p = mem_alloc(vm, n);
  memcpy(p, s, n);
  return p;
}

static void reg_strfree(Vm *vm, char *s)
{
  if (s) mem_free(vm, s, strlen(s) + 1);
}

static void registry_mark(Vm *vm, ObjNative *n)
{
  BiRegistry *r = n->data;
  for (int i = 0; i < r->nboxes; i++) {
    BiMailbox *m = &r->boxes[i];
    for (uint32_t k = 0; k < m->count; k++) gc_mark_value(vm, m->items[(m->head + k) % m->cap]);
  }
}

static void registry_finalize(Vm *vm, ObjNative *n)
{
  BiRegistry *r = n->data;
  if (!r) return;
  for (int i = 0; i < r->nprims; i++) {
    reg_strfree(vm, r->prims[i].name);
    sched_waitlist_free(&r->prims[i].waiters);
  }
  for (int i = 0; i < r->nboxes; i++) {
    reg_strfree(vm, r->boxes[i].name);
    sched_waitlist_free(&r->boxes[i].waiters);
    mem_free(vm, r->boxes[i].items, r->boxes[i].cap * sizeof(Value));
  }
  for (int i = 0; i < r->nbreakers; i++) reg_strfree(vm, r->breakers[i].name);
  mem_free(vm, r->prims, (size_t)r->primcap * sizeof(BiSyncPrim));
  mem_free(vm, r->permits, (size_t)r->permitcap * sizeof(BiPermit));
  mem_free(vm, r->boxes, (size_t)r->boxcap * sizeof(BiMailbox));
  mem_free(vm, r->breakers, (size_t)r->breakercap * sizeof(BiBreaker));
  native_free_data(vm, n);
}

static const NativeVtbl registry_vt = {
  "registry", NULL, registry_mark, registry_finalize, true, NULL,
};

/* The run's registry, created on first use in the hidden global. */
/* The registry, or NULL when the program never made it. */
static BiRegistry *registry_if_any(Vm *vm)
{
  int g = interp_global_index(vm, REGISTRY_GLOBAL, sizeof REGISTRY_GLOBAL - 1);
  Global *gl = &vm->interp->globals[g];
  if (IS_NATIVE(gl->value) && AS_NATIVE(gl->value)->vt == &registry_vt)
    return AS_NATIVE(gl->value)->data;
  return NULL;
}

static BiRegistry *registry(Vm *vm)
{
  BiRegistry *r = registry_if_any(vm);
  if (r) return r;
  int g = interp_global_index(vm, REGISTRY_GLOBAL, sizeof REGISTRY_GLOBAL - 1);
  Global *gl = &vm->interp->globals[g];
  r = mem_alloc(vm, sizeof *r);
  memset(r, 0, sizeof *r);
  r->next_permit = 1;
  gl->value = OBJ_VAL(native_new(vm, &registry_vt, r, sizeof *r));
  return r;
}

/* Name argument [i]: its display string, or [dflt] when nil / missing. */
static const char *name_arg(Vm *vm, int argc, Value *argv, int i, const char *dflt)
{
  Value v = arg(argc, argv, i);
  return IS_NIL(v) ? dflt : disp(vm, v)->chars;
}

/* ---- sync primitives ---------------------------------------------------------- */

static int sync_find(BiRegistry *r, const char *name)
{
  for (int i = 0; i < r->nprims; i++)
    if (strcmp(r->prims[i].name, name) == 0) return i;
  return -1;
}

/* Can [p] grant [n] permits (rwlock: a read or a [write] lock) now? */
static bool sync_grantable(const BiSyncPrim *p, int64_t n, bool write)
{
  if (p->kind == SYNC_RWLOCK) return !p->writer && (!write || p->held == 0);
  return p->held + n <= p->limit;
}

/* Suspend the current task until prims[i] of [r] can grant the request
 * and the task is the first waiter (FIFO: sched_wait_is_first). The prims
 * array may move while we sleep (a new name registered by another task),
 * so the record is looked up by index after every wake. On success the
 * next waiter is woken to check in turn (a run of readers, or semaphore
 * permits left over); on failure (cancel, deadline, interrupt, deadlock:
 * sched_block's error) the task leaves the queue and wakes the new first
 * waiter, which may now be grantable. */
static int sync_wait(Vm *vm, BiRegistry *r, int i, int64_t n, bool write, int64_t until)
{
  r->prims[i].contended++;
  sched_wait_add(vm, &r->prims[i].waiters);
  for (;;) {
    int rc = sched_block(vm, until);
    BiSyncPrim *p = &r->prims[i];
    /* a waiter whose timer woke it has given up (like mailbox_receive): a
     * release in the same instant goes to the next waiter */
    bool gave_up = rc == 1 && sched_timer_woke(vm);
    if (rc >= 0 && !gave_up && sched_wait_is_first(vm, &p->waiters) && sync_grantable(p, n, write)) {
      sched_wait_remove(vm, &p->waiters);
      sched_wake_first(vm, &p->waiters);
      return 1;
    }
    if (rc != 0) {
      sched_wait_remove(vm, &p->waiters);
      sched_wake_first(vm, &p->waiters);
      return rc < 0 ? -1 : 0;
    }
  }
}

/* The acquire timeout at argv[k]: nil/absent waits for ever (*until = 0);
 * a duration or int ms waits up to it (0 or less: try once, *once). */
static bool sync_timeout(Vm *vm, const char *fn, int argc, Value *argv, int k, int64_t *until, bool *once)
{
  Value t = arg(argc, argv, k);
  *until = 0;
  *once = false;
  if (IS_NIL(t)) return true;
  int64_t ms;
  if (IS_INT(t) || IS_DURATION(t)) ms = AS_INT(t);
  else if (IS_FLOAT(t)) ms = (int64_t)AS_FLOAT(t);
  else return err_type(vm, "%s: timeout must be a duration or int, got %s", fn, val_type_name(t));
  if (ms <= 0) *once = true;
  else *until = sched_after(vm, ms);
  return true;
}

static bool sync_acquire(Vm *vm, const char *fn, BiSyncKind kind, const char *name, int64_t limit,
                         int64_t n, bool write, int argc, Value *argv, int tk, Value *out)
{
  int64_t until;
  bool once;
  if (!sync_timeout(vm, fn, argc, argv, tk, &until, &once)) return false;
  BiRegistry *r = registry(vm);
  int i = sync_find(r, name);
  if (i < 0) {
    reg_grow(vm, (void **)&r->prims, &r->primcap, r->nprims + 1, sizeof(BiSyncPrim));
    i = r->nprims++;
    BiSyncPrim *p = &r->prims[i];
    memset(p, 0, sizeof *p);
    p->name = reg_strdup(vm, name);
    p->kind = kind;
    p->limit = limit < 1 ? 1 : limit;
  }
  BiSyncPrim *p = &r->prims[i];
  if (p->kind != kind)
    return err_runtime(vm, "%s: '%s' is a %s, not a %s", fn, name, sync_kind_names[p->kind],
                       sync_kind_names[kind]);
  if (n < 1) n = 1;
  if (kind != SYNC_RWLOCK && n > p->limit)
    return err_runtime(vm, "%s: '%s' asks for %lld permits, its limit is %lld", fn, name, (long long)n,
                       (long long)p->limit);
  /* FIFO: an acquire queues behind the waiters even when it could be
   * granted, so a writer (or a large semaphore request) is not starved */
  if (p->waiters.n > 0 || !sync_grantable(p, n, write)) {
    if (once) {
      p->contended++;
      *out = NIL_VAL;
      return true;
    }
    int got = sync_wait(vm, r, i, n, write, until);
    if (got < 0) return false;
    if (got == 0) {
      *out = NIL_VAL;
      return true;
    }
    p = &r->prims[i];
  }
  if (kind == SYNC_RWLOCK && write) p->writer = true;
  else p->held += n;
  p->acquired++;
  reg_grow(vm, (void **)&r->permits, &r->permitcap, r->npermits + 1, sizeof(BiPermit));
  BiPermit *pm = &r->permits[r->npermits++];
  pm->id = r->next_permit++;
  pm->prim = i;
  pm->n = n;
  pm->write = kind == SYNC_RWLOCK && write;
  pm->owner = sched_current_id(vm);
  ObjDict *d = dict_new(vm, 3);
  dict_set_cstr(vm, d, "id", val_int(pm->id));
  dict_set_cstr(vm, d, "kind", cstr_val(vm, sync_kind_names[kind]));
  dict_set_cstr(vm, d, "name", cstr_val(vm, r->prims[i].name)); /* [name] may be gone after a wait */
  if (kind == SYNC_RWLOCK) dict_set_cstr(vm, d, "mode", cstr_val(vm, write ? "write" : "read"));
  *out = OBJ_VAL(d);
  return true;
}

static bool bi_sync_mutex_acquire(Vm *vm, int argc, Value *argv, Value *out)
{
  return sync_acquire(vm, "sync_mutex_acquire", SYNC_MUTEX, name_arg(vm, argc, argv, 0, "default"),
                      1, 1, false, argc, argv, 1, out);
}

static bool bi_sync_semaphore_acquire(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t limit = 1, n = 1;
  num_to_i64(arg(argc, argv, 1), &limit);
  num_to_i64(arg(argc, argv, 2), &n);
  return sync_acquire(vm, "sync_semaphore_acquire", SYNC_SEMAPHORE,
                      name_arg(vm, argc, argv, 0, "default"), limit, n, false, argc, argv, 3, out);
}

static bool bi_sync_rwlock_acquire(Vm *vm, int argc, Value *argv, Value *out)
{
  Value mode = arg(argc, argv, 1);
  bool write = IS_STRING(mode) && strcmp(AS_CSTR(mode), "write") == 0;
  return sync_acquire(vm, "sync_rwlock_acquire", SYNC_RWLOCK, name_arg(vm, argc, argv, 0, "default"),
                      1, 1, write, argc, argv, 2, out);
}

static bool bi_sync_gate_acquire(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t limit = 1;
  num_to_i64(arg(argc, argv, 1), &limit);
  return sync_acquire(vm, "sync_gate_acquire", SYNC_GATE, name_arg(vm, argc, argv, 0, "default"),
                      limit, 1, false, argc, argv, 2, out);
}

/* Give back outstanding permit [i] and wake the first waiter. */
static void permit_release(Vm *vm, BiRegistry *r, int i)
{
  BiPermit *pm = &r->permits[i];
  BiSyncPrim *sp = &r->prims[pm->prim];
  if (pm->write) sp->writer = false;
  else sp->held -= pm->n;
  sp->released++;
  sched_wake_first(vm, &sp->waiters);
  r->permits[i] = r->permits[--r->npermits];
}

static bool bi_sync_release(Vm *vm, int argc, Value *argv, Value *out)
{
  Value p = arg(argc, argv, 0), idv;
  if (!IS_DICT(p) || !dict_get_cstr(AS_DICT(p), "id", &idv) || !IS_INT(idv))
    return err_throw_str(vm, "sync_release: argument must be a permit from sync_*_acquire");
  BiRegistry *r = registry(vm);
  for (int i = 0; i < r->npermits; i++) {
    if (r->permits[i].id != AS_INT(idv)) continue;
    permit_release(vm, r, i);
    return ret_bool(out, true);
  }
  return ret_bool(out, false);
}

void sync_release_task_permits(Vm *vm, uint64_t id)
{
  BiRegistry *r = id ? registry_if_any(vm) : NULL;
  if (!r) return;
  for (int i = r->npermits - 1; i >= 0; i--)
    if (r->permits[i].owner == id) permit_release(vm, r, i);
}

static Value sync_metrics_of(Vm *vm, BiSyncPrim *p)
{
  ObjDict *d = dict_new(vm, 7);
  dict_set_cstr(vm, d, "acquired", val_int(p->acquired));
  dict_set_cstr(vm, d, "contended", val_int(p->contended));
  dict_set_cstr(vm, d, "held", val_int(p->held + (p->writer ? 1 : 0)));
  dict_set_cstr(vm, d, "kind", cstr_val(vm, sync_kind_names[p->kind]));
  dict_set_cstr(vm, d, "limit", val_int(p->limit));
  dict_set_cstr(vm, d, "name", cstr_val(vm, p->name));
  dict_set_cstr(vm, d, "released", val_int(p->released));
  return OBJ_VAL(d);
}

static bool bi_sync_metrics(Vm *vm, int argc, Value *argv, Value *out)
{
  BiRegistry *r = registry(vm);
  if (argc >= 1 && !IS_NIL(argv[0])) {
    int i = sync_find(r, disp(vm, argv[0])->chars);
    *out = i < 0 ? val_nil() : sync_metrics_of(vm, &r->prims[i]);
    return true;
  }
  ObjDict *all = dict_new(vm, (uint32_t)r->nprims);
  for (int i = 0; i < r->nprims; i++)
    dict_set_cstr(vm, all, r->prims[i].name, sync_metrics_of(vm, &r->prims[i]));
  *out = OBJ_VAL(all);
  return true;
}

/* ---- mailboxes ------------------------------------------------------------------ */

#define MAILBOX_DEFAULT_CAPACITY 1024

static BiMailbox *mailbox_find(BiRegistry *r, const char *name)
{
  for (int i = 0; i < r->nboxes; i++)
    if (strcmp(r->boxes[i].name, name) == 0) return &r->boxes[i];
  return NULL;
}

/* mailbox_open(name, capacity) or mailbox_open({name, capacity, scope}):
 * a scope qualifies the name (the mailbox is `SCOPE/NAME`, the value
 * returned and the one to send to), so mailboxes of different scopes
 * never share a queue. */
static bool bi_mailbox_open(Vm *vm, int argc, Value *argv, Value *out)
{
  Value capv = arg(argc, argv, 1);
  const char *name;
  if (IS_DICT(arg(argc, argv, 0))) {
    ObjDict *o = AS_DICT(argv[0]);
    Value nv = NIL_VAL, sv = NIL_VAL, cv;
    dict_get_cstr(o, "name", &nv);
    dict_get_cstr(o, "scope", &sv);
    if (dict_get_cstr(o, "capacity", &cv)) capv = cv;
    Buf b = {0};
    if (!IS_NIL(sv)) buf_printf(&b, "%s/", disp(vm, sv)->chars);
    buf_puts(&b, IS_NIL(nv) ? "default" : disp(vm, nv)->chars);
    name = str_new(vm, b.data, b.len)->chars;
    buf_free(&b);
  } else {
    name = name_arg(vm, argc, argv, 0, "default");
  }
  BiRegistry *r = registry(vm);
  BiMailbox *m = mailbox_find(r, name);
  int64_t cap = MAILBOX_DEFAULT_CAPACITY;
  bool has_cap = !IS_NIL(capv);
  if (num_to_i64(capv, &cap) && cap < 1) cap = 1;
  if (!m) {
    reg_grow(vm, (void **)&r->boxes, &r->boxcap, r->nboxes + 1, sizeof(BiMailbox));
    m = &r->boxes[r->nboxes++];
    memset(m, 0, sizeof *m);
    m->name = reg_strdup(vm, name);
    m->capacity = cap;
  } else if (has_cap) {
    m->capacity = cap;
  }
  *out = cstr_val(vm, name);
  return true;
}

static bool bi_mailbox_send(Vm *vm, int argc, Value *argv, Value *out)
{
  BiMailbox *m = mailbox_find(registry(vm), name_arg(vm, argc, argv, 0, "default"));
  if (!m) return ret_bool(out, false);
  if ((int64_t)m->count >= m->capacity) {
    m->rejected++;
    return ret_bool(out, false);
  }
  if (m->count == m->cap) { /* grow the ring, unrolling it */
    if (m->cap >= (1u << 30) || !mem_fits(vm, (uint64_t)m->cap * 2 * sizeof(Value)))
      return err_memory(vm); /* a capacity the memory cannot hold */
    uint32_t nc = m->cap ? m->cap * 2 : 8;
    Value *items = mem_alloc(vm, nc * sizeof(Value));
    for (uint32_t k = 0; k < m->count; k++) items[k] = m->items[(m->head + k) % m->cap];
    mem_free(vm, m->items, m->cap * sizeof(Value));
    m->items = items;
    m->cap = nc;
    m->head = 0;
  }
  m->items[(m->head + m->count) % m->cap] = arg(argc, argv, 1);
  m->count++;
  m->sent++;
  sched_wake_first(vm, &m->waiters);
  return ret_bool(out, true);
}

/* mailbox_receive(name, timeout=nil): the oldest message. While the
 * mailbox is empty (or other receivers queued first: FIFO) the task waits
 * through the scheduler for a send, at most [timeout] (duration or int
 * ms; 0: do not wait) and then gives nil; nil/absent waits for ever (a
 * standalone run where nothing can send fails with the deadlock error). An
 * unknown mailbox gives nil at once. The boxes array may move while we
 * wait, so the mailbox is found again by index after every wake. */
static bool bi_mailbox_receive(Vm *vm, int argc, Value *argv, Value *out)
{
  BiRegistry *r = registry(vm);
  BiMailbox *m = mailbox_find(r, name_arg(vm, argc, argv, 0, "default"));
  if (!m) return ret_nil(out);
  Value tv = arg(argc, argv, 1);
  int64_t until = 0;
  if (IS_INT(tv) || IS_DURATION(tv)) until = sched_after(vm, AS_INT(tv));
  else if (!IS_NIL(tv))
    return err_type(vm, "mailbox_receive: timeout must be a duration or int, got %s", val_type_name(tv));
  if (m->count == 0 || m->waiters.n > 0) {
    if (until && sched_now(vm) >= until) return ret_nil(out);
    int idx = (int)(m - r->boxes);
    sched_wait_add(vm, &m->waiters);
    for (;;) {
      int rc = sched_block(vm, until);
      m = &r->boxes[idx];
      /* a receiver whose timer woke it has given up: a message that came in
       * the same instant goes to a receiver still waiting (it passes the
       * wake on below), never to this one (issue 17) */
      bool gave_up = rc == 1 && sched_timer_woke(vm);
      bool ready = rc >= 0 && !gave_up && m->count > 0 && sched_wait_is_first(vm, &m->waiters);
      if (ready || rc != 0) {
        sched_wait_remove(vm, &m->waiters);
        sched_wake_first(vm, &m->waiters);
        if (rc < 0) return false;
        if (!ready) return ret_nil(out); /* timed out */
        break;
      }
    }
  }
  *out = m->items[m->head];
  m->head = (m->head + 1) % m->cap;
  m->count--;
  m->received++;
  return true;
}

static bool bi_mailbox_metrics(Vm *vm, int argc, Value *argv, Value *out)
{
  BiMailbox *m = mailbox_find(registry(vm), name_arg(vm, argc, argv, 0, "default"));
  if (!m) return ret_nil(out);
  ObjDict *d = dict_new(vm, 6);
  dict_set_cstr(vm, d, "capacity", val_int(m->capacity));
  dict_set_cstr(vm, d, "name", cstr_val(vm, m->name));
  dict_set_cstr(vm, d, "pending", val_int(m->count));
  dict_set_cstr(vm, d, "received", val_int(m->received));
  dict_set_cstr(vm, d, "rejected", val_int(m->rejected));
  dict_set_cstr(vm, d, "sent", val_int(m->sent));
  *out = OBJ_VAL(d);
  return true;
}

/* ---- circuit breakers ---------------------------------------------------------- */

#define CB_DEFAULT_THRESHOLD 5
#define CB_DEFAULT_RESET_MS 30000

static BiBreaker *breaker(Vm *vm, const char *name)
{
  BiRegistry *r = registry(vm);
  for (int i = 0; i < r->nbreakers; i++)
    if (strcmp(r->breakers[i].name, name) == 0) return &r->breakers[i];
  reg_grow(vm, (void **)&r->breakers, &r->breakercap, r->nbreakers + 1, sizeof(BiBreaker));
  BiBreaker *b = &r->breakers[r->nbreakers++];
  memset(b, 0, sizeof *b);
  b->name = reg_strdup(vm, name);
  b->threshold = CB_DEFAULT_THRESHOLD;
  b->reset_ms = CB_DEFAULT_RESET_MS;
  return b;
}

/* The state now: an open breaker whose reset time has passed is half open. */
static BiCbState cb_state(Vm *vm, BiBreaker *b)
{
  if (b->state == CB_OPEN && sat_sub(now_mono(vm), b->opened_at) >= b->reset_ms) b->state = CB_HALF_OPEN;
  return b->state;
}

static bool bi_circuit_breaker(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *name = name_arg(vm, argc, argv, 0, "default");
  BiBreaker *b = breaker(vm, name);
  int64_t v;
  if (num_to_i64(arg(argc, argv, 1), &v)) b->threshold = v < 1 ? 1 : v;
  if (to_ms(arg(argc, argv, 2), &v)) b->reset_ms = v < 0 ? 0 : v;
  *out = cstr_val(vm, name);
  return true;
}

static bool bi_circuit_check(Vm *vm, int argc, Value *argv, Value *out)
{
  BiBreaker *b = breaker(vm, name_arg(vm, argc, argv, 0, "default"));
  *out = cstr_val(vm, cb_state_names[cb_state(vm, b)]);
  return true;
}

static bool bi_circuit_record_success(Vm *vm, int argc, Value *argv, Value *out)
{
  BiBreaker *b = breaker(vm, name_arg(vm, argc, argv, 0, "default"));
  b->failures = 0;
  b->state = CB_CLOSED;
  *out = cstr_val(vm, cb_state_names[CB_CLOSED]);
  return true;
}

static bool bi_circuit_record_failure(Vm *vm, int argc, Value *argv, Value *out)
{
  BiBreaker *b = breaker(vm, name_arg(vm, argc, argv, 0, "default"));
  BiCbState s = cb_state(vm, b);
  b->failures++;
  if (s == CB_HALF_OPEN || (s == CB_CLOSED && b->failures >= b->threshold)) {
    b->state = CB_OPEN;
    b->opened_at = now_mono(vm);
  }
  *out = cstr_val(vm, cb_state_names[b->state]);
  return true;
}

static bool bi_circuit_reset(Vm *vm, int argc, Value *argv, Value *out)
{
  BiBreaker *b = breaker(vm, name_arg(vm, argc, argv, 0, "default"));
  b->failures = 0;
  b->state = CB_CLOSED;
  return ret_nil(out);
}

/* ======================================================================
 * Cancellation (docs/RUNTIME.md 5.2): the state belongs to the interpreter.
 * ====================================================================== */

static bool bi_is_cancelled(Vm *vm, int argc, Value *argv, Value *out)
{
  return ret_bool(out, interp_is_cancelled(vm));
}

/* ======================================================================
 * The table (sorted by name, byte order: keep it so; see the unit test)
 * ====================================================================== */

const BuiltinDef builtin_table[] = {
  {"Err", bi_Err},
  {"Ok", bi_Ok},
  {"__harness_emit", lc_bi_harness_emit},
  {"__step_register", steps_bi_register},
  {"abs", bi_abs},
  {"acos", bi_acos},
  {"advance_time", bi_advance_time},
  {"agent_loop", agent_bi_loop},
  {"append_file", fs_bi_append_file},
  {"asin", bi_asin},
  {"assert", bi_assert},
  {"assert_eq", bi_assert_eq},
  {"assert_ne", bi_assert_ne},
  {"atan", bi_atan},
  {"atan2", bi_atan2},
  {"atomic", chan_bi_atomic},
  {"atomic_add", chan_bi_atomic_add},
  {"atomic_cas", chan_bi_atomic_cas},
  {"atomic_get", chan_bi_atomic_get},
  {"atomic_set", chan_bi_atomic_set},
  {"await", sched_bi_await},
  {"base32_decode", std_base32_decode},
  {"base32_encode", std_base32_encode},
  {"base64_decode", std_base64_decode},
  {"base64_encode", std_base64_encode},
  {"base64url_decode", std_base64url_decode},
  {"base64url_encode", std_base64url_encode},
  {"basename", bi_basename},
  {"camel_to_kebab", bi_camel_to_kebab},
  {"camel_to_pascal", bi_uppercase_first},
  {"camel_to_snake", bi_camel_to_snake},
  {"cancel", sched_bi_cancel},
  {"cancel_graceful", sched_bi_cancel_graceful},
  {"ceil", bi_ceil},
  {"channel", chan_bi_channel},
  {"channel_select", chan_bi_channel_select},
  {"chunk", bi_chunk},
  {"circuit_breaker", bi_circuit_breaker},
  {"circuit_breaker_check", bi_circuit_check},
  {"circuit_breaker_record_failure", bi_circuit_record_failure},
  {"circuit_breaker_record_success", bi_circuit_record_success},
  {"circuit_breaker_reset", bi_circuit_reset},
  {"circuit_check", bi_circuit_check},
  {"circuit_record_failure", bi_circuit_record_failure},
  {"circuit_record_success", bi_circuit_record_success},
  {"circuit_reset", bi_circuit_reset},
  {"close_channel", chan_bi_close_channel},
  {"constant_time_eq", std_constant_time_eq},
  {"contains", bi_contains},
  {"copy_file", fs_bi_copy_file},
  {"cos", bi_cos},
  {"csv_parse", std_csv_parse},
  {"csv_stringify", std_csv_stringify},
  {"cwd", fs_bi_cwd},
  {"date_add", std_date_add},
  {"date_diff", std_date_diff},
  {"date_format", std_date_format},
  {"date_from_components", std_date_from_components},
  {"date_in_zone", std_date_in_zone},
  {"date_now", std_date_now},
  {"date_now_iso", std_date_now_iso},
  {"date_parse", std_date_parse},
  {"date_to_zone", std_date_to_zone},
  {"dedup_by", bi_dedup_by},
  {"delete_file", fs_bi_delete_file},
  {"dirname", bi_dirname},
  {"duration_days", std_duration_days},
  {"duration_hours", std_duration_hours},
  {"duration_minutes", std_duration_minutes},
  {"duration_ms", std_duration_ms},
  {"duration_seconds", std_duration_seconds},
  {"duration_to_human", std_duration_to_human},
  {"duration_to_seconds", std_duration_to_seconds},
  {"ed25519_keypair", std_ed25519_keypair},
  {"ed25519_sign", std_ed25519_sign},
  {"ed25519_verify", std_ed25519_verify},
  {"elapsed", bi_elapsed},
  {"ends_with", bi_ends_with},
  {"entries", bi_entries},
  {"env", fs_bi_env},
  {"env_or", fs_bi_env_or},
  {"eprint", bi_eprint},
  {"eprintln", bi_eprintln},
  {"error_category", bi_error_category},
  {"exp", bi_exp},
  {"extname", bi_extname},
  {"file_exists", fs_bi_file_exists},
  {"flat_map", bi_flat_map},
  {"floor", bi_floor},
  {"format", bi_format},
  {"glob", fs_bi_glob},
  {"group_by", bi_group_by},
  {"hex_decode", std_hex_decode},
  {"hex_encode", std_hex_encode},
  {"hmac_sha256", std_hmac_sha256},
  {"hmac_sha256_base64", std_hmac_sha256_base64},
  {"host_call", hostcall_bi_host_call},
  {"host_capabilities", hostcall_bi_host_capabilities},
  {"host_has", hostcall_bi_host_has},
  {"http_delete", net_bi_http_delete},
  {"http_download", net_bi_http_download},
  {"http_get", net_bi_http_get},
  {"http_mock", net_bi_http_mock},
  {"http_mock_calls", net_bi_http_mock_calls},
  {"http_mock_clear", net_bi_http_mock_clear},
  {"http_patch", net_bi_http_patch},
  {"http_post", net_bi_http_post},
  {"http_put", net_bi_http_put},
  {"http_request", net_bi_http_request},
  {"is_cancelled", bi_is_cancelled},
  {"is_err", bi_is_err},
  {"is_infinite", bi_is_infinite},
  {"is_nan", bi_is_nan},
  {"is_ok", bi_is_ok},
  {"is_rate_limited", bi_is_rate_limited},
  {"is_timeout", bi_is_timeout},
  {"iter", bi_iter},
  {"join", bi_join},
  {"jq", std_jq},
  {"jq_first", std_jq_first},
  {"json_extract", std_json_extract},
  {"json_parse", bi_json_parse},
  {"json_pointer", std_json_pointer},
  {"json_pointer_delete", std_json_pointer_delete},
  {"json_pointer_set", std_json_pointer_set},
  {"json_stringify", bi_json_stringify},
  {"json_validate", bi_json_validate},
  {"kebab_to_camel", bi_kebab_to_camel},
  {"kebab_to_snake", bi_kebab_to_snake},
  {"keys", bi_keys},
  {"len", bi_len},
  {"list_dir", fs_bi_list_dir},
  {"llm_budget", llm_bi_budget},
  {"llm_budget_remaining", llm_bi_budget_remaining},
  {"llm_call", llm_bi_call},
  {"llm_call_safe", llm_bi_call_safe},
  {"llm_call_structured", llm_bi_call_structured},
  {"llm_cost", llm_bi_cost},
  {"llm_info", llm_bi_info},
  {"llm_mock", llmmock_bi_mock},
  {"llm_mock_calls", llmmock_bi_calls},
  {"llm_mock_clear", llmmock_bi_clear},
  {"llm_providers", llm_bi_providers},
  {"llm_usage", llm_bi_usage},
  {"ln", bi_ln},
  {"log", bi_log},
  {"log10", bi_log10},
  {"log2", bi_log2},
  {"lowercase", bi_lowercase},
  {"lowercase_first", bi_lowercase_first},
  {"mailbox_metrics", bi_mailbox_metrics},
  {"mailbox_open", bi_mailbox_open},
  {"mailbox_receive", bi_mailbox_receive},
  {"mailbox_send", bi_mailbox_send},
  {"max", bi_max},
  {"md5", std_md5},
  {"min", bi_min},
  {"mkdir", fs_bi_mkdir},
  {"mock_time", bi_mock_time},
  {"monotonic_ms", bi_monotonic_ms},
  {"month_name", std_month_name},
  {"move_file", fs_bi_move_file},
  {"now_ms", bi_now_ms},
  {"off_interrupt", lc_bi_off_interrupt},
  {"on_interrupt", lc_bi_on_interrupt},
  {"pair", bi_pair},
  {"parallel_race", sched_bi_parallel_race},
  {"partition", bi_partition},
  {"pascal_to_camel", bi_lowercase_first},
  {"pascal_to_snake", bi_pascal_to_snake},
  {"pipeline_on_finish", lc_bi_pipeline_on_finish},
  {"pow", bi_pow},
  {"print", bi_print},
  {"println", bi_println},
  {"project_root", fs_bi_project_root},
  {"query_parse", std_query_parse},
  {"query_stringify", std_query_stringify},
  {"raise_signal", lc_bi_raise_signal},
  {"random", bi_random},
  {"random_int", bi_random_int},
  {"range", bi_range},
  {"read_file", fs_bi_read_file},
  {"read_file_result", fs_bi_read_file_result},
  {"read_lines", fs_bi_read_lines},
  {"receive", chan_bi_receive},
  {"regex_captures", std_regex_captures},
  {"regex_match", std_regex_match},
  {"regex_replace", std_regex_replace},
  {"regex_replace_all", std_regex_replace},
  {"regex_split", std_regex_split},
  {"register_lifecycle_hook", lc_bi_register_lifecycle_hook},
  {"register_step_hook", steps_bi_register_hook},
  {"replace", bi_replace},
  {"rng_seed", bi_rng_seed},
  {"round", bi_round},
  {"schema_check", bi_schema_check},
  {"schema_is", bi_schema_is},
  {"schema_of", bi_schema_of},
  {"schema_parse", bi_schema_check},
  {"send", chan_bi_send},
  {"set", bi_set},
  {"set_add", bi_set_add},
  {"set_contains", bi_set_contains},
  {"set_difference", bi_set_difference},
  {"set_intersect", bi_set_intersect},
  {"set_is_disjoint", bi_set_is_disjoint},
  {"set_is_subset", bi_set_is_subset},
  {"set_is_superset", bi_set_is_superset},
  {"set_remove", bi_set_remove},
  {"set_symmetric_difference", bi_set_symmetric_difference},
  {"set_union", bi_set_union},
  {"settle_pending", sched_bi_settle_pending},
  {"sha1", std_sha1_builtin},
  {"sha224", std_sha224},
  {"sha256", std_sha256},
  {"sha384", std_sha384},
  {"sha3_256", std_sha3_256},
  {"sha3_512", std_sha3_512},
  {"sha512", std_sha512},
  {"sha512_256", std_sha512_256},
  {"shared_cas", bi_shared_cas},
  {"shared_cell", bi_shared_cell},
  {"shared_entries", bi_shared_entries},
  {"shared_get", bi_shared_get},
  {"shared_map", bi_shared_map},
  {"shared_metrics", bi_shared_metrics},
  {"shared_set", bi_shared_set},
  {"shared_snapshot", bi_shared_snapshot},
  {"sign", bi_sign},
  {"sin", bi_sin},
  {"sleep", bi_sleep},
  {"sleep_ms", bi_sleep_ms},
  {"snake_to_camel", bi_snake_to_camel},
  {"snake_to_kebab", bi_snake_to_kebab},
  {"snake_to_pascal", bi_snake_to_pascal},
  {"source_dir", fs_bi_source_dir},
  {"split", bi_split},
  {"sqrt", bi_sqrt},
  {"starts_with", bi_starts_with},
  {"stat", fs_bi_stat},
  {"step_charge", steps_bi_charge},
  {"substring", bi_substring},
  {"sync_gate_acquire", bi_sync_gate_acquire},
  {"sync_metrics", bi_sync_metrics},
  {"sync_mutex_acquire", bi_sync_mutex_acquire},
  {"sync_release", bi_sync_release},
  {"sync_rwlock_acquire", bi_sync_rwlock_acquire},
  {"sync_semaphore_acquire", bi_sync_semaphore_acquire},
  {"tan", bi_tan},
  {"temp_dir", fs_bi_temp_dir},
  {"throw_error", bi_throw_error},
  {"timer_end", bi_timer_end},
  {"timer_start", bi_timer_start},
  {"title_case", bi_title_case},
  {"to_float", bi_to_float},
  {"to_int", bi_to_int},
  {"to_list", bi_to_list},
  {"to_set", bi_to_set},
  {"to_string", bi_to_string},
  {"toml_parse", std_toml_parse},
  {"toml_stringify", std_toml_stringify},
  {"tool_define", agent_bi_tool_define},
  {"tool_registry", agent_bi_tool_registry},
  {"trim", bi_trim},
  {"try_receive", chan_bi_try_receive},
  {"type_of", bi_type_of},
  {"unmock_time", bi_unmock_time},
  {"unreachable", bi_unreachable},
  {"unwrap", bi_unwrap},
  {"unwrap_err", bi_unwrap_err},
  {"unwrap_or", bi_unwrap_or},
  {"uppercase", bi_uppercase},
  {"uppercase_first", bi_uppercase_first},
  {"url_build", std_url_build},
  {"url_decode", std_url_decode},
  {"url_encode", std_url_encode},
  {"url_parse", std_url_parse},
  {"uuid", std_uuid_v4},
  {"uuid_nil", std_uuid_nil},
  {"uuid_parse", std_uuid_parse},
  {"uuid_v5", std_uuid_v5},
  {"uuid_v7", std_uuid_v7},
  {"values", bi_values},
  {"walk_dir", fs_bi_walk_dir},
  {"weekday_name", std_weekday_name},
  {"window", bi_window},
  {"with_rate_limit", llm_bi_with_rate_limit},
  {"write_file", fs_bi_write_file},
  {"x25519_agree", std_x25519_agree},
  {"x25519_keypair", std_x25519_keypair},
  {"yaml_parse", std_yaml_parse},
  {"yaml_stringify", std_yaml_stringify},
};

const int builtin_count = (int)(sizeof builtin_table / sizeof builtin_table[0]);

const char *vm_builtin_name(int i)
{
  return i >= 0 && i < builtin_count ? builtin_table[i].name : NULL;
}

int builtin_lookup(const char *name)
{
  int lo = 0, hi = builtin_count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, builtin_table[mid].name);
    if (c == 0) return mid;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
}
