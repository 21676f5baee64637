/*
 * test_value.c: values, display, equality/ordering, operators and their
 * exact error texts, errors (vm/object.h, vm/error.h; docs/LANGUAGE.md 3-5, 6.3,
 * 10.1; docs/RUNTIME.md 3.1-3.2).
 *
 * Each test gets a fresh Vm from vm_new(NULL) (group setup) and checks texts
 * byte for byte through val_display()/err_display(). Only the memory tests
 * collect (to measure), rooting what they hold; elsewhere fresh objects
 * need no rooting.
 *
 * Issue 19: equality and ordering exact at any depth (100,000 levels),
 * sets whose items collide in val_hash, values that share their parts
 * (2^60 leaves), results sized before they are built (repeat, pad,
 * replace, window, *) under a memory limit, and display text bounded by
 * the limit (the run is doomed instead of the process running out).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/builtins.h"
#include "vm/error.h"
#include "vm/gc.h"
#include "vm/object.h"
#include "vm/state.h"

/* ---- helpers ---------------------------------------------------------------- */

static int setup(void **state)
{
  *state = vm_new(NULL);
  return *state ? 0 : -1;
}

static int teardown(void **state)
{
  vm_free(*state);
  return 0;
}

/* Display [v] into a static buffer (valid until the next call). */
static const char *D(Vm *vm, Value v)
{
  static Buf b;
  buf_clear(&b);
  val_display(vm, v, &b);
  return b.data ? b.data : "";
}

static const char *F(double x, bool json)
{
  static Buf b;
  buf_clear(&b);
  fmt_float(x, json, &b);
  return b.data;
}

static const char *DUR(int64_t ms)
{
  static Buf b;
  buf_clear(&b);
  fmt_duration(ms, &b);
  return b.data;
}

/* The display text of the pending error (then cleared). */
static const char *ERR(Vm *vm)
{
  static Buf b;
  buf_clear(&b);
  err_display(vm, &b);
  err_clear(vm);
  return b.data ? b.data : "";
}

static Value S(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

static Value L(Vm *vm, int n, ...)
{
  ObjList *l = list_new(vm, 0);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) list_push(vm, l, va_arg(ap, Value));
  va_end(ap);
  return OBJ_VAL(l);
}

/* A dict from alternating C-string keys and values. */
static Value DICT(Vm *vm, int n, ...)
{
  ObjDict *d = dict_new(vm, 0);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    const char *k = va_arg(ap, const char *);
    Value v = va_arg(ap, Value);
    dict_set_cstr(vm, d, k, v);
  }
  va_end(ap);
  return OBJ_VAL(d);
}

static Value closure2(Vm *vm, const char *a, const char *b)
{
  ObjFunction *f = function_new(vm);
  f->nparams = 2;
  f->param_names = mem_alloc(vm, 2 * sizeof(ObjString *));
  f->param_names[0] = str_cstr(vm, a);
  f->param_names[1] = str_cstr(vm, b);
  f->param_types = mem_alloc(vm, 2 * sizeof(Value));
  f->param_types[0] = f->param_types[1] = NIL_VAL;
  return OBJ_VAL(closure_new(vm, f, NIL_VAL));
}

static Value enumv(Vm *vm, const char *e, const char *v, int n, Value f0, Value f1)
{
  ObjEnum *x = enum_new(vm, str_cstr(vm, e), str_cstr(vm, v), (uint32_t)n);
  if (n > 0) x->fields[0] = f0;
  if (n > 1) x->fields[1] = f1;
  return OBJ_VAL(x);
}

static Value point(Vm *vm, int64_t x, int64_t y)
{
  Value f = DICT(vm, 2, "y", INT_VAL(y), "x", INT_VAL(x));
  return OBJ_VAL(struct_new(vm, NULL, str_cstr(vm, "Point"), AS_DICT(f)));
}

/* ---- display ------------------------------------------------------------------ */

static void test_float_format(void **state)
{
  (void)state;
  assert_string_equal(F(0.1, false), "0.1");
  assert_string_equal(F(1e20, false), "100000000000000000000");
  assert_string_equal(F(1e-7, false), "0.0000001");
  assert_string_equal(F(1e15, false), "1000000000000000");
  assert_string_equal(F(1e16, false), "10000000000000000");
  assert_string_equal(F(999999999999999.0, false), "999999999999999.0");
  assert_string_equal(F(-0.0, false), "-0.0");
  assert_string_equal(F(0.0, false), "0.0");
  assert_string_equal(F(NAN, false), "NaN");
  assert_string_equal(F(INFINITY, false), "inf");
  assert_string_equal(F(-INFINITY, false), "-inf");
  assert_string_equal(F(2.5, false), "2.5");
  assert_string_equal(F(-2.5, false), "-2.5");
  assert_string_equal(F(100.0, false), "100.0");
  assert_string_equal(F(3.0, false), "3.0");
  assert_string_equal(F(-42.0, false), "-42.0");
  assert_string_equal(F(123456789.125, false), "123456789.125");
  assert_string_equal(F(1.0 / 3.0, false), "0.3333333333333333");
  assert_string_equal(F(0.1 + 0.2, false), "0.30000000000000004");
  assert_string_equal(F(1.5e-5, false), "0.000015");
  assert_string_equal(F(-1e-7, false), "-0.0000001");
  {
    /* DBL_MAX: 17 significant digits then 292 zeros, no exponent. */
    char want[400] = "17976931348623157";
    memset(want + 17, '0', 292);
    want[309] = 0;
    assert_string_equal(F(1.7976931348623157e308, false), want);
  }
  const char *tiny = F(5e-324, false);
  assert_int_equal(strlen(tiny), 2 + 323 + 1);
  assert_true(strncmp(tiny, "0.000", 5) == 0 && tiny[strlen(tiny) - 1] == '5');
  /* JSON: no forced ".0". */
  assert_string_equal(F(3.0, true), "3");
  assert_string_equal(F(-7.0, true), "-7");
  assert_string_equal(F(2.5, true), "2.5");
  assert_string_equal(F(1e20, true), "100000000000000000000");
  /* Display of float values goes through the same rule. */
  Vm *vm = *state;
  assert_string_equal(D(vm, FLOAT_VAL(2.0)), "2.0");
  assert_string_equal(D(vm, FLOAT_VAL(0.1)), "0.1");
}

static void test_duration_format(void **state)
{
  (void)state;
  assert_string_equal(DUR(500), "500ms");
  assert_string_equal(DUR(5000), "5s");
  assert_string_equal(DUR(90000), "90s");
  assert_string_equal(DUR(120000), "2m");
  assert_string_equal(DUR(86400000), "24h");
  assert_string_equal(DUR(604800000), "168h");
  assert_string_equal(DUR(1500), "1500ms");
  assert_string_equal(DUR(0), "0ms");
  assert_string_equal(DUR(-5000), "-5s");
  assert_string_equal(DUR(-250), "-250ms");
  assert_string_equal(DUR(5400000), "90m");
  Vm *vm = *state;
  assert_string_equal(D(vm, val_duration(3600000)), "1h");
}

static void test_display_kinds(void **state)
{
  Vm *vm = *state;
  assert_string_equal(D(vm, NIL_VAL), "nil");
  assert_string_equal(D(vm, BOOL_VAL(true)), "true");
  assert_string_equal(D(vm, BOOL_VAL(false)), "false");
  assert_string_equal(D(vm, INT_VAL(-42)), "-42");
  assert_string_equal(D(vm, INT_VAL(INT64_MIN)), "-9223372036854775808");
  assert_string_equal(D(vm, S(vm, "hi")), "hi");
  /* Nested strings are raw. */
  Value inner = L(vm, 2, FLOAT_VAL(2.0), NIL_VAL);
  assert_string_equal(D(vm, L(vm, 3, INT_VAL(1), S(vm, "a"), inner)), "[1, a, [2.0, nil]]");
  assert_string_equal(D(vm, L(vm, 0)), "[]");
  /* Dicts sorted by key whatever the insertion order. */
  assert_string_equal(D(vm, DICT(vm, 2, "b", S(vm, "x"), "a", INT_VAL(1))), "{a: 1, b: x}");
  assert_string_equal(D(vm, DICT(vm, 0)), "{}");
  ObjSet *s = set_new(vm, 0);
  assert_string_equal(D(vm, OBJ_VAL(s)), "set()");
  set_add(vm, s, INT_VAL(1));
  set_add(vm, s, INT_VAL(2));
  assert_string_equal(D(vm, OBJ_VAL(s)), "set(1, 2)");
  assert_string_equal(D(vm, OBJ_VAL(range_new(vm, 1, 5, false))), "1 to 5");
  assert_string_equal(D(vm, OBJ_VAL(range_new(vm, 0, 3, true))), "0 to 3 exclusive");
  assert_string_equal(D(vm, enumv(vm, "Color", "Red", 0, NIL_VAL, NIL_VAL)), "Color.Red");
  assert_string_equal(D(vm, enumv(vm, "Shape", "Rect", 2, INT_VAL(1), FLOAT_VAL(2.5))),
                      "Shape.Rect(1, 2.5)");
  assert_string_equal(D(vm, enum_ok(vm, INT_VAL(3))), "Result.Ok(3)");
  assert_string_equal(D(vm, enum_err(vm, S(vm, "boom"))), "Result.Err(boom)");
  assert_string_equal(D(vm, point(vm, 1, 2)), "Point {x: 1, y: 2}");
  assert_string_equal(D(vm, closure2(vm, "a", "b")), "<fn(a, b)>");
  ObjFunction *f0 = function_new(vm);
  assert_string_equal(D(vm, OBJ_VAL(closure_new(vm, f0, NIL_VAL))), "<fn()>");
  assert_string_equal(D(vm, OBJ_VAL(pair_new(vm, INT_VAL(0), S(vm, "x")))), "(0, x)");
  ObjIter *it = iter_new(vm, NULL, NIL_VAL);
  assert_string_equal(D(vm, OBJ_VAL(it)), "<iter>");
  it->exhausted = true;
  assert_string_equal(D(vm, OBJ_VAL(it)), "<iter (exhausted)>");
  Value bm = OBJ_VAL(bound_new(vm, point(vm, 0, 0), closure2(vm, "self", "dx")));
  assert_string_equal(D(vm, bm), "<fn(self, dx)>");
  ObjEnumType *et = enum_type_new(vm, str_cstr(vm, "Color"), 1);
  assert_string_equal(D(vm, OBJ_VAL(et)), "Color");
  ObjStructType *st = struct_type_new(vm, str_cstr(vm, "Point"), 0);
  assert_string_equal(D(vm, OBJ_VAL(st)), "Point");
  if (builtin_count > 0) {
    char want[128];
    snprintf(want, sizeof want, "<builtin %s>", builtin_table[0].name);
    assert_string_equal(D(vm, val_builtin(0)), want);
  }
  ObjString *ts = val_to_string(vm, L(vm, 1, INT_VAL(7)));
  assert_string_equal(ts->chars, "[7]");
  Value hs = S(vm, "same");
  assert_ptr_equal(val_to_string(vm, hs), AS_STRING(hs));
}

static void chan_display(Vm *vm, ObjNative *n, Buf *out)
{
  (void)vm;
  buf_printf(out, "<channel:%s>", (const char *)n->data);
}

static bool bytes_equal(ObjNative *a, ObjNative *b)
{
  return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

static const NativeVtbl chan_vt = {"channel", chan_display, NULL, NULL, true, NULL};
static const NativeVtbl bytes_vt = {"bytes", NULL, NULL, NULL, false, bytes_equal};

static void test_natives(void **state)
{
  Vm *vm = *state;
  static char name[] = "default";
  Value c = OBJ_VAL(native_new(vm, &chan_vt, name, 0));
  assert_string_equal(D(vm, c), "<channel:default>");
  assert_string_equal(val_type_name(c), "channel");
  assert_true(val_truthy(c));
  assert_false(val_equal(c, c));
  static char data[] = "ab";
  Value b0 = OBJ_VAL(native_new(vm, &bytes_vt, data, 0));
  Value b2 = OBJ_VAL(native_new(vm, &bytes_vt, data, 2));
  Value b2b = OBJ_VAL(native_new(vm, &bytes_vt, data, 2));
  assert_string_equal(D(vm, b2), "<bytes>");
  assert_false(val_truthy(b0));
  assert_true(val_truthy(b2));
  assert_true(val_equal(b2, b2b));
  assert_false(val_equal(b2, b0));
  assert_false(val_equal(b2, c));
}

static void test_type_names_truthiness(void **state)
{
  Vm *vm = *state;
  assert_string_equal(val_type_name(NIL_VAL), "nil");
  assert_string_equal(val_type_name(BOOL_VAL(true)), "bool");
  assert_string_equal(val_type_name(INT_VAL(1)), "int");
  assert_string_equal(val_type_name(FLOAT_VAL(1)), "float");
  assert_string_equal(val_type_name(val_duration(1)), "duration");
  assert_string_equal(val_type_name(val_builtin(0)), "builtin");
  assert_string_equal(val_type_name(S(vm, "")), "string");
  assert_string_equal(val_type_name(L(vm, 0)), "list");
  assert_string_equal(val_type_name(DICT(vm, 0)), "dict");
  assert_string_equal(val_type_name(OBJ_VAL(set_new(vm, 0))), "set");
  assert_string_equal(val_type_name(OBJ_VAL(range_new(vm, 0, 1, false))), "range");
  assert_string_equal(val_type_name(enum_ok(vm, NIL_VAL)), "enum");
  assert_string_equal(val_type_name(point(vm, 0, 0)), "struct");
  assert_string_equal(val_type_name(OBJ_VAL(pair_new(vm, NIL_VAL, NIL_VAL))), "pair");
  assert_string_equal(val_type_name(closure2(vm, "a", "b")), "closure");
  assert_string_equal(val_type_name(OBJ_VAL(iter_new(vm, NULL, NIL_VAL))), "iter");

  assert_false(val_truthy(NIL_VAL));
  assert_false(val_truthy(BOOL_VAL(false)));
  assert_true(val_truthy(BOOL_VAL(true)));
  assert_false(val_truthy(INT_VAL(0)));
  assert_true(val_truthy(INT_VAL(-1)));
  assert_false(val_truthy(FLOAT_VAL(0.0)));
  assert_false(val_truthy(FLOAT_VAL(-0.0)));
  assert_true(val_truthy(FLOAT_VAL(0.5)));
  assert_false(val_truthy(val_duration(0)));
  assert_true(val_truthy(val_duration(1)));
  assert_false(val_truthy(S(vm, "")));
  assert_true(val_truthy(S(vm, "x")));
  assert_false(val_truthy(L(vm, 0)));
  assert_true(val_truthy(L(vm, 1, NIL_VAL)));
  assert_false(val_truthy(DICT(vm, 0)));
  assert_false(val_truthy(OBJ_VAL(set_new(vm, 4))));
  assert_true(val_truthy(OBJ_VAL(range_new(vm, 5, 1, false)))); /* empty range */
  assert_true(val_truthy(enumv(vm, "E", "V", 0, NIL_VAL, NIL_VAL)));
  assert_true(val_truthy(closure2(vm, "a", "b")));
  assert_true(val_truthy(val_builtin(0)));
}

/* ---- strings, dicts, sets ------------------------------------------------------ */

static void test_strings(void **state)
{
  Vm *vm = *state;
  ObjString *s = str_cstr(vm, "h\xc3\xa9llo \xe2\x82\xac"); /* "héllo €" */
  assert_int_equal(s->len, 10);
  assert_int_equal(s->nchars, 7);
  assert_false(s->ascii);
  assert_int_equal(str_byte_offset(s, 2), 3);
  assert_string_equal(str_sub(vm, s, 1, 2)->chars, "\xc3\xa9");
  assert_string_equal(str_sub(vm, s, 6, 7)->chars, "\xe2\x82\xac");
  /* An invalid character is a maximal subpart (base/utf8.h): \xff, \xc3
   * and the truncated \xe2\x82 count one each. */
  ObjString *bad = str_new(vm, "a\xff\xc3(b\xe2\x82", 7);
  assert_int_equal(bad->nchars, 6);
  assert_string_equal(str_sub(vm, bad, 5, 6)->chars, "\xe2\x82");
  ObjString *sur = str_new(vm, "\xed\xa0\x80", 3); /* surrogate: invalid */
  assert_int_equal(sur->nchars, 3);
  ObjString *a = str_cstr(vm, "abc");
  assert_true(a->ascii);
  assert_true(str_eq(a, str_cstr(vm, "abc")));
  assert_false(str_eq(a, str_cstr(vm, "abd")));
  assert_true(str_cmp(a, str_cstr(vm, "abd")) < 0);
  assert_true(str_cmp(a, str_cstr(vm, "ab")) > 0);
  assert_true(str_cmp(str_cstr(vm, "Z"), str_cstr(vm, "a")) < 0);
  assert_int_equal(str_hash(a), str_hash(str_cstr(vm, "abc")));
  assert_int_not_equal(str_hash(a), 0);
  ObjString *c = str_concat(vm, a, s);
  assert_int_equal(c->nchars, 10);
  assert_string_equal(str_printf(vm, "%d-%s", 7, "x")->chars, "7-x");
  assert_string_equal(str_sub(vm, a, 2, 1)->chars, "");
}

static void test_dict_order_and_set_dedup(void **state)
{
  Vm *vm = *state;
  ObjDict *d = dict_new(vm, 0);
  const char *keys[] = {"m", "c", "z", "a", "B", "aa", "b"};
  for (int i = 0; i < 7; i++) dict_set_cstr(vm, d, keys[i], INT_VAL(i));
  assert_int_equal(d->count, 7);
  const char *want[] = {"B", "a", "aa", "b", "c", "m", "z"};
  for (int i = 0; i < 7; i++) assert_string_equal(d->entries[i].key->chars, want[i]);
  dict_set(vm, d, str_cstr(vm, "c"), S(vm, "new"));
  assert_int_equal(d->count, 7);
  Value v;
  assert_true(dict_get_cstr(d, "c", &v));
  assert_string_equal(AS_CSTR(v), "new");
  assert_false(dict_get_cstr(d, "q", &v));
  assert_true(dict_remove(d, str_cstr(vm, "aa")));
  assert_false(dict_remove(d, str_cstr(vm, "aa")));
  assert_string_equal(D(vm, OBJ_VAL(d)), "{B: 4, a: 3, b: 6, c: new, m: 0, z: 2}");
  ObjDict *cp = dict_copy(vm, d);
  dict_set_cstr(vm, cp, "a", INT_VAL(100));
  assert_true(dict_get_cstr(d, "a", &v) && AS_INT(v) == 3);

  ObjSet *s = set_new(vm, 0);
  set_add(vm, s, INT_VAL(3));
  set_add(vm, s, INT_VAL(1));
  set_add(vm, s, FLOAT_VAL(3.0)); /* equal to 3 */
  set_add(vm, s, L(vm, 1, INT_VAL(1)));
  set_add(vm, s, L(vm, 1, INT_VAL(1)));
  set_add(vm, s, S(vm, "x"));
  set_add(vm, s, S(vm, "x"));
  assert_int_equal(s->count, 4);
  assert_string_equal(D(vm, OBJ_VAL(s)), "set(3, 1, [1], x)");
  assert_true(set_has(s, L(vm, 1, INT_VAL(1))));
  assert_false(set_has(s, INT_VAL(2)));
  assert_int_equal(set_copy(vm, s)->count, 4);

  ObjList *l = list_new(vm, 0);
  for (int i = 0; i < 100; i++) list_push(vm, l, INT_VAL(i));
  assert_int_equal(l->count, 100);
  assert_int_equal(AS_INT(l->items[99]), 99);
  ObjList *lc = list_copy(vm, l);
  assert_int_equal(lc->count, 100);
  assert_ptr_not_equal(lc->items, l->items);

  assert_int_equal(range_len(range_new(vm, 1, 5, false)), 5);
  assert_int_equal(range_len(range_new(vm, 1, 5, true)), 4);
  assert_int_equal(range_len(range_new(vm, 5, 1, false)), 0);
  assert_int_equal(range_len(range_new(vm, 3, 3, true)), 0);
  assert_int_equal(range_len(range_new(vm, INT64_MIN, INT64_MAX, false)), INT64_MAX);
  assert_true(is_result_ok(enum_ok(vm, NIL_VAL)));
  assert_false(is_result_err(enum_ok(vm, NIL_VAL)));
  assert_true(is_result_err(enum_err(vm, NIL_VAL)));
  assert_false(is_result_ok(enumv(vm, "Other", "Ok", 1, NIL_VAL, NIL_VAL)));
}

/* Large sets use a hash index: it must agree with val_equal everywhere. */
static void test_set_index(void **state)
{
  Vm *vm = *state;
  ObjSet *s = set_new(vm, 0);
  for (int i = 0; i < 1000; i++) set_add(vm, s, INT_VAL(i));
  assert_non_null(s->index);
  for (int i = 0; i < 1000; i++) set_add(vm, s, FLOAT_VAL((double)i)); /* all present */
  assert_int_equal(s->count, 1000);
  assert_true(set_has(s, FLOAT_VAL(999.0)));
  assert_true(set_has(s, FLOAT_VAL(-0.0))); /* equals 0 */
  assert_false(set_has(s, FLOAT_VAL(0.5)));
  assert_false(set_has(s, S(vm, "1")));
  set_add(vm, s, S(vm, "1"));
  set_add(vm, s, L(vm, 2, INT_VAL(1), S(vm, "a")));
  set_add(vm, s, L(vm, 2, FLOAT_VAL(1.0), S(vm, "a")));
  set_add(vm, s, DICT(vm, 2, "a", INT_VAL(1), "b", L(vm, 0)));
  set_add(vm, s, DICT(vm, 2, "b", L(vm, 0), "a", FLOAT_VAL(1)));
  set_add(vm, s, point(vm, 1, 2));
  set_add(vm, s, point(vm, 1, 2));
  set_add(vm, s, enum_ok(vm, INT_VAL(1)));
  set_add(vm, s, enum_ok(vm, FLOAT_VAL(1)));
  set_add(vm, s, OBJ_VAL(pair_new(vm, INT_VAL(1), NIL_VAL)));
  set_add(vm, s, OBJ_VAL(pair_new(vm, INT_VAL(1), NIL_VAL)));
  set_add(vm, s, OBJ_VAL(range_new(vm, 1, 2, true)));
  set_add(vm, s, OBJ_VAL(range_new(vm, 1, 2, true)));
  ObjSet *in1 = set_new(vm, 0), *in2 = set_new(vm, 0);
  set_add(vm, in1, INT_VAL(1));
  set_add(vm, in1, INT_VAL(2));
  set_add(vm, in2, INT_VAL(2));
  set_add(vm, in2, INT_VAL(1));
  set_add(vm, s, OBJ_VAL(in1));
  set_add(vm, s, OBJ_VAL(in2)); /* same members, other order: equal */
  assert_int_equal(s->count, 1008);
  /* Never-equal values are added every time, as with the linear scan. */
  set_add(vm, s, val_duration(5));
  set_add(vm, s, val_duration(5));
  Value c = closure2(vm, "a", "b");
  set_add(vm, s, c);
  set_add(vm, s, c);
  set_add(vm, s, FLOAT_VAL(NAN));
  set_add(vm, s, FLOAT_VAL(NAN));
  assert_int_equal(s->count, 1014);
  /* Copies keep working, independently. */
  ObjSet *cp = set_copy(vm, s);
  set_add(vm, cp, S(vm, "only in copy"));
  assert_true(set_has(cp, S(vm, "only in copy")));
  assert_false(set_has(s, S(vm, "only in copy")));
  assert_true(set_has(cp, INT_VAL(500)));
  /* Editing items by hand makes the index stale: lookups stay correct. */
  s->items[0] = S(vm, "replaced");
  s->count--;
  s->items[s->count - 1] = S(vm, "replaced2");
  assert_true(set_has(s, S(vm, "replaced")));
  assert_false(set_has(s, INT_VAL(0)));
  set_add(vm, s, S(vm, "after"));
  assert_true(set_has(s, S(vm, "after")));
  assert_true(set_has(s, S(vm, "replaced2")));
  assert_true(set_has(s, INT_VAL(999)));
}

static void test_chunk(void **state)
{
  Vm *vm = *state;
  ObjFunction *f = function_new(vm);
  for (int i = 0; i < 100; i++) chunk_write(vm, &f->chunk, (uint8_t)i, i + 1, 2);
  assert_int_equal(f->chunk.count, 100);
  assert_int_equal(f->chunk.lines[99], 100);
  uint32_t a = chunk_add_const(vm, &f->chunk, S(vm, "k"));
  uint32_t b = chunk_add_const(vm, &f->chunk, S(vm, "k"));
  uint32_t c = chunk_add_const(vm, &f->chunk, INT_VAL(1));
  uint32_t d = chunk_add_const(vm, &f->chunk, FLOAT_VAL(1.0));
  uint32_t e = chunk_add_const(vm, &f->chunk, INT_VAL(1));
  uint32_t z = chunk_add_const(vm, &f->chunk, FLOAT_VAL(0.0));
  uint32_t nz = chunk_add_const(vm, &f->chunk, FLOAT_VAL(-0.0));
  assert_int_equal(a, b);
  assert_int_equal(c, e);
  assert_int_not_equal(c, d);
  assert_int_not_equal(z, nz);
}

/* ---- equality and ordering -------------------------------------------------------- */

static void test_equality(void **state)
{
  Vm *vm = *state;
  assert_true(val_equal(INT_VAL(1), FLOAT_VAL(1.0)));
  assert_true(val_equal(FLOAT_VAL(2.0), INT_VAL(2)));
  assert_false(val_equal(INT_VAL(1), S(vm, "1")));
  assert_true(val_equal(NIL_VAL, NIL_VAL));
  assert_false(val_equal(NIL_VAL, BOOL_VAL(false)));
  assert_false(val_equal(FLOAT_VAL(NAN), FLOAT_VAL(NAN)));
  /* Durations never equal, even the same one (reference quirk). */
  assert_false(val_equal(val_duration(5), val_duration(5)));
  /* Closures never equal, even to themselves; iters only to themselves. */
  Value c = closure2(vm, "a", "b");
  assert_false(val_equal(c, c));
  Value it = OBJ_VAL(iter_new(vm, NULL, NIL_VAL));
  assert_true(val_equal(it, it));
  assert_false(val_equal(it, OBJ_VAL(iter_new(vm, NULL, NIL_VAL))));
  assert_true(val_equal(val_builtin(3), val_builtin(3)));
  assert_false(val_equal(val_builtin(3), val_builtin(4)));
  assert_true(val_equal(S(vm, "ab"), S(vm, "ab")));
  assert_true(val_equal(L(vm, 2, INT_VAL(1), S(vm, "x")), L(vm, 2, FLOAT_VAL(1), S(vm, "x"))));
  assert_false(val_equal(L(vm, 1, INT_VAL(1)), L(vm, 2, INT_VAL(1), INT_VAL(1))));
  assert_true(val_equal(DICT(vm, 2, "a", INT_VAL(1), "b", INT_VAL(2)),
                        DICT(vm, 2, "b", INT_VAL(2), "a", INT_VAL(1))));
  assert_false(val_equal(DICT(vm, 1, "a", INT_VAL(1)), DICT(vm, 1, "a", INT_VAL(2))));
  assert_false(val_equal(DICT(vm, 1, "a", INT_VAL(1)), DICT(vm, 1, "b", INT_VAL(1))));
  ObjSet *s1 = set_new(vm, 0), *s2 = set_new(vm, 0);
  set_add(vm, s1, INT_VAL(1));
  set_add(vm, s1, INT_VAL(2));
  set_add(vm, s2, INT_VAL(2));
  set_add(vm, s2, INT_VAL(1));
  assert_true(val_equal(OBJ_VAL(s1), OBJ_VAL(s2)));
  set_add(vm, s2, INT_VAL(3));
  assert_false(val_equal(OBJ_VAL(s1), OBJ_VAL(s2)));
  assert_true(val_equal(OBJ_VAL(range_new(vm, 1, 3, false)), OBJ_VAL(range_new(vm, 1, 3, false))));
  assert_false(val_equal(OBJ_VAL(range_new(vm, 1, 3, false)), OBJ_VAL(range_new(vm, 1, 3, true))));
  assert_true(val_equal(OBJ_VAL(pair_new(vm, INT_VAL(1), S(vm, "a"))),
                        OBJ_VAL(pair_new(vm, INT_VAL(1), S(vm, "a")))));
  assert_true(val_equal(enum_ok(vm, INT_VAL(1)), enum_ok(vm, FLOAT_VAL(1.0))));
  assert_false(val_equal(enum_ok(vm, INT_VAL(1)), enum_err(vm, INT_VAL(1))));
  assert_false(val_equal(enumv(vm, "A", "X", 0, NIL_VAL, NIL_VAL),
                         enumv(vm, "B", "X", 0, NIL_VAL, NIL_VAL)));
  assert_true(val_equal(point(vm, 1, 2), point(vm, 1, 2)));
  assert_false(val_equal(point(vm, 1, 2), point(vm, 2, 1)));
  /* A struct and a dict with the same fields are different kinds. */
  assert_false(val_equal(point(vm, 1, 2), DICT(vm, 2, "x", INT_VAL(1), "y", INT_VAL(2))));
  assert_false(val_equal(L(vm, 0), OBJ_VAL(set_new(vm, 0))));
}

static void test_ordering(void **state)
{
  Vm *vm = *state;
  assert_true(val_compare(INT_VAL(1), INT_VAL(2)) < 0);
  assert_true(val_compare(INT_VAL(2), FLOAT_VAL(1.5)) > 0);
  assert_true(val_compare(FLOAT_VAL(1.0), INT_VAL(1)) == 0);
  assert_true(val_compare(INT_VAL(INT64_MIN), INT_VAL(INT64_MAX)) < 0);
  assert_true(val_compare(S(vm, "B"), S(vm, "a")) < 0);
  assert_true(val_compare(S(vm, "ab"), S(vm, "a")) > 0);
  assert_true(val_compare(OBJ_VAL(pair_new(vm, INT_VAL(1), S(vm, "b"))),
                          OBJ_VAL(pair_new(vm, INT_VAL(1), S(vm, "a")))) > 0);
  assert_true(val_compare(OBJ_VAL(pair_new(vm, INT_VAL(0), S(vm, "z"))),
                          OBJ_VAL(pair_new(vm, INT_VAL(1), S(vm, "a")))) < 0);
  /* Incomparable pairs compare "equal". */
  assert_int_equal(val_compare(INT_VAL(1), S(vm, "a")), 0);
  assert_int_equal(val_compare(L(vm, 1, INT_VAL(1)), L(vm, 1, INT_VAL(2))), 0);
  assert_int_equal(val_compare(NIL_VAL, INT_VAL(5)), 0);
  assert_int_equal(val_compare(val_duration(1), val_duration(2)), 0);
  assert_int_equal(val_compare(FLOAT_VAL(NAN), FLOAT_VAL(1)), 0);
}

/* [depth] lists nested around [leaf]. */
static Value nest(Vm *vm, int depth, Value leaf)
{
  Value v = leaf;
  for (int i = 0; i < depth; i++) v = L(vm, 1, v);
  return v;
}

static void test_deep_equality(void **state)
{
  Vm *vm = *state;
  /* past any recursion limit: it used to answer false at depth 2000 */
  Value a = nest(vm, 100000, INT_VAL(1)), b = nest(vm, 100000, FLOAT_VAL(1.0));
  assert_true(val_equal(a, b));
  assert_false(val_equal(a, nest(vm, 100000, INT_VAL(2))));
  assert_false(val_equal(a, nest(vm, 99999, INT_VAL(1))));
  Value d1 = INT_VAL(0), d2 = INT_VAL(0);
  for (int i = 0; i < 50000; i++) {
    d1 = DICT(vm, 2, "k", d1, "i", INT_VAL(i));
    d2 = DICT(vm, 2, "i", INT_VAL(i), "k", d2);
  }
  assert_true(val_equal(d1, d2));
  /* ordering of pairs nested as deep (it gave 0 past depth 2000) */
  Value p = INT_VAL(1), q = INT_VAL(2);
  for (int i = 0; i < 100000; i++) {
    p = OBJ_VAL(pair_new(vm, p, INT_VAL(i)));
    q = OBJ_VAL(pair_new(vm, q, INT_VAL(i)));
  }
  assert_true(val_compare(p, q) < 0);
  assert_true(val_compare(q, p) > 0);
  assert_int_equal(val_compare(p, p), 0);
  /* sets whose items hash alike (equal down to HASH_DEPTH, different
   * below): matched by nested comparisons */
  Value x1 = nest(vm, 40, INT_VAL(1)), x2 = nest(vm, 40, INT_VAL(2));
  Value y1 = nest(vm, 40, INT_VAL(1)), y2 = nest(vm, 40, INT_VAL(2)), y3 = nest(vm, 40, INT_VAL(3));
  assert_int_equal(val_hash(x1), val_hash(x2));
  ObjSet *s1 = set_new(vm, 0), *s2 = set_new(vm, 0), *s3 = set_new(vm, 0);
  set_add(vm, s1, x1);
  set_add(vm, s1, x2);
  set_add(vm, s2, y2);
  set_add(vm, s2, y1);
  set_add(vm, s3, y1);
  set_add(vm, s3, y3);
  assert_int_equal(s1->count, 2);
  assert_true(val_equal(OBJ_VAL(s1), OBJ_VAL(s2)));
  assert_false(val_equal(OBJ_VAL(s1), OBJ_VAL(s3)));
}

static void test_shared_parts(void **state)
{
  Vm *vm = *state;
  /* 60 levels of [v, v, i]: 2^60 leaves in 60 lists. Equality, ordering
   * and hashing used to walk the whole tree (never finishing). */
  Value a = INT_VAL(1), b = INT_VAL(1), p = INT_VAL(1), q = INT_VAL(1);
  for (int i = 0; i < 60; i++) {
    a = L(vm, 3, a, a, INT_VAL(i));
    b = L(vm, 3, b, b, INT_VAL(i));
    p = OBJ_VAL(pair_new(vm, p, p));
    q = OBJ_VAL(pair_new(vm, q, q));
  }
  assert_true(val_equal(a, b));
  assert_true(val_equal(p, q));
  assert_int_equal(val_compare(p, q), 0);
  assert_int_equal(val_hash(a), val_hash(b));
  Value c = L(vm, 3, b, b, INT_VAL(99));
  assert_false(val_equal(L(vm, 3, a, a, INT_VAL(59)), c));
  ObjSet *s = set_new(vm, 0);
  for (int i = 0; i < 20; i++) set_add(vm, s, INT_VAL(i)); /* indexed by hash */
  set_add(vm, s, a);
  assert_true(set_has(s, b));
  assert_int_equal(s->count, 21);
}

/* Call method [name] of [recv] with [argc] arguments. */
static bool M(Vm *vm, Value recv, const char *name, int argc, Value *argv, Value *out)
{
  return method_call(vm, recv, str_cstr(vm, name), argc, argv, out);
}

static void test_results_sized_first(void **state)
{
  Vm *vm = *state;
  gc_collect(vm);
  size_t base = vm->heap.bytes;
  vm->heap.limit = base + (16u << 20);
  vm->heap.peak = vm->heap.bytes;
  Value r, args[2];
  /* each would need 100 MB or more: refused before allocating it */
  assert_false(op_mul(vm, S(vm, "x"), INT_VAL(100000000), &r));
  assert_string_equal(ERR(vm), "memory limit exceeded");
  args[0] = INT_VAL(100000000);
  assert_false(M(vm, S(vm, "x"), "repeat", 1, args, &r));
  assert_string_equal(ERR(vm), "memory limit exceeded");
  assert_false(M(vm, S(vm, "x"), "pad_left", 1, args, &r));
  assert_string_equal(ERR(vm), "memory limit exceeded");
  args[0] = S(vm, "");
  args[1] = OBJ_VAL(str_new(vm, "yyyyyyyyyyyyyyyyyyyy", 20));
  Value big = OBJ_VAL(str_new(vm, "", 0));
  assert_true(op_mul(vm, S(vm, "ab"), INT_VAL(5000000), &big)); /* 10 MB */
  assert_false(M(vm, big, "replace", 2, args, &r));
  assert_string_equal(ERR(vm), "memory limit exceeded");
  ObjList *l = list_new(vm, 0);
  for (int i = 0; i < 20000; i++) list_push(vm, l, INT_VAL(i));
  args[0] = INT_VAL(10000);
  assert_false(M(vm, OBJ_VAL(l), "window", 1, args, &r)); /* 10001 x 10000 items */
  assert_string_equal(ERR(vm), "memory limit exceeded");
  assert_true(vm->heap.peak < base + (16u << 20));
  /* within the limit they work, and a step of 2^63 - 1 takes one window */
  args[0] = INT_VAL(3);
  args[1] = INT_VAL(INT64_MAX);
  assert_true(M(vm, OBJ_VAL(l), "window", 2, args, &r));
  assert_string_equal(D(vm, r), "[[0, 1, 2]]");
  args[0] = INT_VAL(3);
  assert_true(M(vm, S(vm, "ab"), "repeat", 1, args, &r));
  assert_string_equal(D(vm, r), "ababab");
  vm->heap.limit = 0;
  assert_false(vm->heap.doomed);
}

static void test_display_bounded(void **state)
{
  Vm *vm = *state;
  /* 2^40 leaves: its display would be terabytes. Under a limit it stops
   * at the limit and dooms the run (the memory error at the next safe
   * point); it used to grow until the process died. */
  Value a = INT_VAL(1);
  for (int i = 0; i < 40; i++) a = L(vm, 2, a, a);
  gc_push_root(vm, a);
  gc_collect(vm);
  vm->heap.limit = vm->heap.bytes + (1u << 20);
  Buf b = {0};
  val_display(vm, a, &b);
  assert_true(vm->heap.doomed);
  assert_true(b.len <= vm->heap.limit + 4096); /* + the closing brackets */
  buf_free(&b);
  Buf j = {0};
  assert_false(json_stringify_value(vm, a, &j));
  assert_true(j.len <= vm->heap.limit + 4096);
  buf_free(&j);
  gc_pop_root(vm);
  /* deeper than the writer goes: false, not a silent `null` */
  vm->heap.doomed = false;
  vm->heap.over_limit = false;
  vm->heap.limit = 0;
  Buf k = {0};
  assert_false(json_stringify_value(vm, nest(vm, 10000, INT_VAL(1)), &k));
  assert_false(vm->heap.doomed);
  buf_free(&k);
}

/* ---- operators ---------------------------------------------------------------- */

static void test_arithmetic(void **state)
{
  Vm *vm = *state;
  Value r;
  assert_true(op_add(vm, INT_VAL(2), INT_VAL(3), &r) && IS_INT(r) && AS_INT(r) == 5);
  assert_true(op_add(vm, INT_VAL(INT64_MAX), INT_VAL(1), &r) && AS_INT(r) == INT64_MIN);
  assert_true(op_add(vm, INT_VAL(1), FLOAT_VAL(0.5), &r) && IS_FLOAT(r) && AS_FLOAT(r) == 1.5);
  assert_true(op_add(vm, S(vm, "ab"), S(vm, "cd"), &r));
  assert_string_equal(D(vm, r), "abcd");
  assert_true(op_add(vm, L(vm, 1, INT_VAL(1)), L(vm, 2, INT_VAL(2), INT_VAL(3)), &r));
  assert_string_equal(D(vm, r), "[1, 2, 3]");
  assert_true(op_add(vm, DICT(vm, 2, "a", INT_VAL(1), "c", INT_VAL(3)),
                     DICT(vm, 2, "b", INT_VAL(2), "a", INT_VAL(9)), &r));
  assert_string_equal(D(vm, r), "{a: 9, b: 2, c: 3}");
  assert_false(op_add(vm, val_duration(1000), val_duration(1000), &r));
  assert_string_equal(ERR(vm), "Type error: can't add duration and duration");
  assert_false(op_add(vm, S(vm, "a"), INT_VAL(1), &r));
  assert_string_equal(ERR(vm), "Type error: can't add string and int");
  assert_false(op_add(vm, NIL_VAL, L(vm, 0), &r));
  assert_string_equal(ERR(vm), "Type error: can't add nil and list");

  assert_true(op_sub(vm, INT_VAL(2), INT_VAL(5), &r) && AS_INT(r) == -3);
  assert_true(op_sub(vm, INT_VAL(INT64_MIN), INT_VAL(1), &r) && AS_INT(r) == INT64_MAX);
  assert_true(op_sub(vm, FLOAT_VAL(2.5), INT_VAL(1), &r) && AS_FLOAT(r) == 1.5);
  assert_false(op_sub(vm, INT_VAL(1), S(vm, "a"), &r));
  assert_string_equal(ERR(vm), "Type error: can't use '-' on int and string (needs numeric operands)");

  assert_true(op_mul(vm, INT_VAL(6), INT_VAL(7), &r) && AS_INT(r) == 42);
  assert_true(op_mul(vm, INT_VAL(INT64_MAX), INT_VAL(2), &r) && AS_INT(r) == -2);
  assert_true(op_mul(vm, FLOAT_VAL(1.5), INT_VAL(2), &r) && IS_FLOAT(r) && AS_FLOAT(r) == 3.0);
  assert_true(op_mul(vm, S(vm, "ab"), INT_VAL(3), &r));
  assert_string_equal(D(vm, r), "ababab");
  assert_true(op_mul(vm, INT_VAL(2), S(vm, "\xc3\xa9"), &r));
  assert_string_equal(D(vm, r), "\xc3\xa9\xc3\xa9");
  assert_int_equal(AS_STRING(r)->nchars, 2);
  assert_true(op_mul(vm, S(vm, "ab"), INT_VAL(0), &r));
  assert_string_equal(D(vm, r), "");
  assert_true(op_mul(vm, S(vm, "ab"), INT_VAL(-2), &r));
  assert_string_equal(D(vm, r), "");
  assert_false(op_mul(vm, S(vm, "a"), S(vm, "b"), &r));
  assert_string_equal(ERR(vm), "Type error: can't multiply string and string");
  assert_false(op_mul(vm, S(vm, "a"), FLOAT_VAL(2.0), &r));
  assert_string_equal(ERR(vm), "Type error: can't multiply string and float");
  /* A repeat too large for any string is a memory error, not a crash. */
  assert_false(op_mul(vm, S(vm, "abcd"), INT_VAL(INT64_MAX), &r));
  assert_int_equal(vm->err_kind, ERR_MEMORY);
  assert_string_equal(ERR(vm), "memory limit exceeded");

  assert_true(op_div(vm, INT_VAL(7), INT_VAL(2), &r) && AS_INT(r) == 3);
  assert_true(op_div(vm, INT_VAL(-7), INT_VAL(2), &r) && AS_INT(r) == -3);
  assert_true(op_div(vm, INT_VAL(INT64_MIN), INT_VAL(-1), &r) && AS_INT(r) == INT64_MIN);
  assert_true(op_div(vm, INT_VAL(7), FLOAT_VAL(2), &r) && AS_FLOAT(r) == 3.5);
  assert_true(op_div(vm, FLOAT_VAL(1), INT_VAL(0), &r) && isinf(AS_FLOAT(r)));
  assert_true(op_div(vm, FLOAT_VAL(0), FLOAT_VAL(0), &r) && isnan(AS_FLOAT(r)));
  assert_false(op_div(vm, INT_VAL(7), INT_VAL(0), &r));
  assert_int_equal(vm->err_kind, ERR_DIVZERO);
  assert_string_equal(ERR(vm), "Division by zero");
  assert_false(op_div(vm, S(vm, "a"), INT_VAL(2), &r));
  assert_string_equal(ERR(vm), "Runtime error: can't use '/' on string and int (needs numeric operands)");

  assert_true(op_mod(vm, INT_VAL(7), INT_VAL(3), &r) && AS_INT(r) == 1);
  assert_true(op_mod(vm, INT_VAL(-7), INT_VAL(3), &r) && AS_INT(r) == -1);
  assert_true(op_mod(vm, INT_VAL(7), INT_VAL(-3), &r) && AS_INT(r) == 1);
  assert_true(op_mod(vm, INT_VAL(INT64_MIN), INT_VAL(-1), &r) && AS_INT(r) == 0);
  assert_true(op_mod(vm, FLOAT_VAL(5.5), INT_VAL(2), &r) && AS_FLOAT(r) == 1.5);
  assert_false(op_mod(vm, INT_VAL(5), INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Division by zero");
  assert_false(op_mod(vm, FLOAT_VAL(5.5), FLOAT_VAL(0.0), &r));
  assert_string_equal(ERR(vm), "Division by zero");
  assert_false(op_mod(vm, INT_VAL(5), S(vm, "x"), &r));
  assert_string_equal(ERR(vm), "Runtime error: can't use '%' on int and string (needs numeric operands)");

  assert_true(op_pow(vm, INT_VAL(2), INT_VAL(10), &r) && IS_INT(r) && AS_INT(r) == 1024);
  assert_true(op_pow(vm, INT_VAL(-2), INT_VAL(2), &r) && AS_INT(r) == 4);
  assert_true(op_pow(vm, INT_VAL(2), INT_VAL(64), &r) && AS_INT(r) == 0); /* wraps */
  assert_true(op_pow(vm, INT_VAL(2), INT_VAL(-1), &r) && IS_FLOAT(r) && AS_FLOAT(r) == 0.5);
  assert_true(op_pow(vm, FLOAT_VAL(4.0), FLOAT_VAL(0.5), &r) && AS_FLOAT(r) == 2.0);
  assert_true(op_pow(vm, INT_VAL(9), FLOAT_VAL(0.5), &r) && AS_FLOAT(r) == 3.0);
  assert_false(op_pow(vm, S(vm, "a"), INT_VAL(2), &r));
  assert_string_equal(ERR(vm), "Type error: can't use '**' on string and int (needs numeric operands)");

  assert_true(op_neg(vm, INT_VAL(5), &r) && AS_INT(r) == -5);
  assert_true(op_neg(vm, INT_VAL(INT64_MIN), &r) && AS_INT(r) == INT64_MIN);
  assert_true(op_neg(vm, FLOAT_VAL(0.0), &r));
  assert_string_equal(D(vm, r), "-0.0");
  assert_false(op_neg(vm, S(vm, "a"), &r));
  assert_string_equal(ERR(vm), "Runtime error: Cannot negate value of type string");
  assert_false(op_neg(vm, val_duration(5), &r));
  assert_string_equal(ERR(vm), "Runtime error: Cannot negate value of type duration");
}

static void test_in(void **state)
{
  Vm *vm = *state;
  assert_true(op_in(vm, FLOAT_VAL(2.0), L(vm, 2, INT_VAL(1), INT_VAL(2))));
  assert_false(op_in(vm, INT_VAL(3), L(vm, 2, INT_VAL(1), INT_VAL(2))));
  ObjSet *s = set_new(vm, 0);
  set_add(vm, s, S(vm, "a"));
  assert_true(op_in(vm, S(vm, "a"), OBJ_VAL(s)));
  assert_false(op_in(vm, S(vm, "b"), OBJ_VAL(s)));
  Value d = DICT(vm, 2, "1", NIL_VAL, "k", INT_VAL(0));
  assert_true(op_in(vm, S(vm, "k"), d));
  assert_true(op_in(vm, INT_VAL(1), d)); /* display(1) == "1" */
  assert_false(op_in(vm, S(vm, "z"), d));
  assert_true(op_in(vm, S(vm, "ell"), S(vm, "hello")));
  assert_true(op_in(vm, S(vm, ""), S(vm, "hello")));
  assert_false(op_in(vm, S(vm, "xyz"), S(vm, "hello")));
  assert_true(op_in(vm, INT_VAL(42), S(vm, "a42b")));
  assert_true(op_in(vm, INT_VAL(5), OBJ_VAL(range_new(vm, 1, 5, false))));
  assert_false(op_in(vm, INT_VAL(5), OBJ_VAL(range_new(vm, 1, 5, true))));
  assert_false(op_in(vm, INT_VAL(0), OBJ_VAL(range_new(vm, 1, 5, false))));
  assert_false(op_in(vm, FLOAT_VAL(2.0), OBJ_VAL(range_new(vm, 1, 5, false))));
  assert_false(op_in(vm, INT_VAL(1), INT_VAL(1)));
  assert_false(op_in(vm, INT_VAL(1), NIL_VAL));
}

static void test_index_slice(void **state)
{
  Vm *vm = *state;
  Value r;
  Value l = L(vm, 3, INT_VAL(10), INT_VAL(20), INT_VAL(30));
  assert_true(op_index(vm, l, INT_VAL(0), &r) && AS_INT(r) == 10);
  assert_true(op_index(vm, l, INT_VAL(-1), &r) && AS_INT(r) == 30);
  assert_true(op_index(vm, l, INT_VAL(3), &r) && IS_NIL(r));
  assert_true(op_index(vm, l, INT_VAL(-4), &r) && IS_NIL(r));
  Value s = S(vm, "h\xc3\xa9y");
  assert_true(op_index(vm, s, INT_VAL(1), &r));
  assert_string_equal(D(vm, r), "\xc3\xa9");
  assert_true(op_index(vm, s, INT_VAL(-1), &r));
  assert_string_equal(D(vm, r), "y");
  assert_true(op_index(vm, s, INT_VAL(3), &r) && IS_NIL(r));
  Value d = DICT(vm, 2, "a", INT_VAL(1), "2", S(vm, "two"));
  assert_true(op_index(vm, d, S(vm, "a"), &r) && AS_INT(r) == 1);
  assert_true(op_index(vm, d, INT_VAL(2), &r));
  assert_string_equal(D(vm, r), "two");
  assert_true(op_index(vm, d, S(vm, "zz"), &r) && IS_NIL(r));
  Value rg = OBJ_VAL(range_new(vm, 5, 8, false));
  assert_true(op_index(vm, rg, INT_VAL(1), &r) && AS_INT(r) == 6);
  assert_true(op_index(vm, rg, INT_VAL(-1), &r) && AS_INT(r) == 8);
  assert_false(op_index(vm, rg, INT_VAL(4), &r));
  assert_string_equal(ERR(vm),
                      "Runtime error: range index out of range: index 4 for range of length 4");
  assert_false(op_index(vm, INT_VAL(5), INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Type error: cannot index into int with int");
  assert_false(op_index(vm, l, S(vm, "x"), &r));
  assert_string_equal(ERR(vm), "Type error: cannot index into list with string");
  assert_false(op_index(vm, NIL_VAL, INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Type error: cannot index into nil with int");

  Value l5 = L(vm, 5, INT_VAL(0), INT_VAL(1), INT_VAL(2), INT_VAL(3), INT_VAL(4));
  assert_true(op_slice(vm, l5, INT_VAL(1), INT_VAL(3), &r));
  assert_string_equal(D(vm, r), "[1, 2]");
  assert_true(op_slice(vm, l5, NIL_VAL, INT_VAL(2), &r));
  assert_string_equal(D(vm, r), "[0, 1]");
  assert_true(op_slice(vm, l5, INT_VAL(-2), NIL_VAL, &r));
  assert_string_equal(D(vm, r), "[3, 4]");
  assert_true(op_slice(vm, l5, INT_VAL(-100), INT_VAL(100), &r));
  assert_string_equal(D(vm, r), "[0, 1, 2, 3, 4]");
  assert_true(op_slice(vm, l5, INT_VAL(3), INT_VAL(1), &r));
  assert_string_equal(D(vm, r), "[]");
  assert_true(op_slice(vm, S(vm, "h\xc3\xa9llo"), INT_VAL(1), INT_VAL(-1), &r));
  assert_string_equal(D(vm, r), "\xc3\xa9ll");
  assert_true(op_slice(vm, S(vm, "hello"), INT_VAL(2), NIL_VAL, &r));
  assert_string_equal(D(vm, r), "llo");
  assert_false(op_slice(vm, l5, S(vm, "a"), NIL_VAL, &r));
  assert_string_equal(ERR(vm), "Type error: slice start must be an integer, got string");
  assert_false(op_slice(vm, l5, NIL_VAL, FLOAT_VAL(1.0), &r));
  assert_string_equal(ERR(vm), "Type error: slice end must be an integer, got float");
  assert_false(op_slice(vm, DICT(vm, 0), INT_VAL(0), INT_VAL(1), &r));
  assert_string_equal(ERR(vm), "Type error: cannot slice dict");
}

static void test_properties(void **state)
{
  Vm *vm = *state;
  Value r;
  ObjString *count = str_cstr(vm, "count"), *empty = str_cstr(vm, "empty");
  ObjString *first = str_cstr(vm, "first"), *last = str_cstr(vm, "last");
  ObjString *x = str_cstr(vm, "x"), *p = str_cstr(vm, "p");
  Value d = DICT(vm, 1, "x", INT_VAL(7));
  assert_true(op_get_prop(vm, d, x, false, &r) && AS_INT(r) == 7);
  assert_true(op_get_prop(vm, d, p, false, &r) && IS_NIL(r));
  assert_true(op_get_prop(vm, point(vm, 3, 4), x, false, &r) && AS_INT(r) == 3);
  assert_true(op_get_prop(vm, point(vm, 3, 4), p, false, &r) && IS_NIL(r));
  Value l = L(vm, 2, INT_VAL(1), INT_VAL(2));
  assert_true(op_get_prop(vm, l, count, false, &r) && AS_INT(r) == 2);
  assert_true(op_get_prop(vm, l, empty, false, &r) && AS_BOOL(r) == false);
  assert_true(op_get_prop(vm, l, first, false, &r) && AS_INT(r) == 1);
  assert_true(op_get_prop(vm, l, last, false, &r) && AS_INT(r) == 2);
  assert_true(op_get_prop(vm, L(vm, 0), first, false, &r) && IS_NIL(r));
  assert_true(op_get_prop(vm, l, p, false, &r) && IS_NIL(r));
  assert_true(op_get_prop(vm, S(vm, "h\xc3\xa9"), count, false, &r) && AS_INT(r) == 2);
  assert_true(op_get_prop(vm, S(vm, ""), empty, false, &r) && AS_BOOL(r));
  assert_true(op_get_prop(vm, S(vm, "a"), p, false, &r) && IS_NIL(r));
  Value e = enumv(vm, "Shape", "Rect", 2, INT_VAL(1), INT_VAL(2));
  assert_true(op_get_prop(vm, e, str_cstr(vm, "variant"), false, &r));
  assert_string_equal(D(vm, r), "Rect");
  assert_true(op_get_prop(vm, e, str_cstr(vm, "fields"), false, &r));
  assert_string_equal(D(vm, r), "[1, 2]");
  assert_true(op_get_prop(vm, e, p, false, &r) && IS_NIL(r));
  Value pr = OBJ_VAL(pair_new(vm, INT_VAL(1), INT_VAL(2)));
  assert_true(op_get_prop(vm, pr, str_cstr(vm, "second"), false, &r) && AS_INT(r) == 2);
  assert_false(op_get_prop(vm, pr, p, false, &r));
  assert_string_equal(ERR(vm),
                      "Type error: cannot access property `p` on pair (expected `first` or `second`)");
  assert_true(op_get_prop(vm, pr, p, true, &r) && IS_NIL(r));
  assert_false(op_get_prop(vm, NIL_VAL, p, false, &r));
  assert_string_equal(ERR(vm), "Type error: cannot access property `p` on nil");
  assert_true(op_get_prop(vm, NIL_VAL, p, true, &r) && IS_NIL(r));
  assert_false(op_get_prop(vm, INT_VAL(1), p, false, &r));
  assert_string_equal(ERR(vm), "Type error: cannot access property `p` on int");
  assert_true(op_get_prop(vm, INT_VAL(1), p, true, &r) && IS_NIL(r));
  assert_false(op_get_prop(vm, OBJ_VAL(range_new(vm, 1, 2, false)), p, false, &r));
  assert_string_equal(ERR(vm), "Type error: cannot access property `p` on range");
}

static void test_assignment_copies(void **state)
{
  Vm *vm = *state;
  Value r;
  Value l = L(vm, 3, INT_VAL(1), INT_VAL(2), INT_VAL(3));
  assert_true(op_set_index(vm, l, INT_VAL(0), S(vm, "x"), &r));
  assert_string_equal(D(vm, r), "[x, 2, 3]");
  assert_string_equal(D(vm, l), "[1, 2, 3]"); /* the original is unchanged */
  assert_true(op_set_index(vm, l, INT_VAL(-1), INT_VAL(9), &r));
  assert_string_equal(D(vm, r), "[1, 2, 9]");
  assert_false(op_set_index(vm, l, INT_VAL(3), INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Runtime error: Index 3 out of bounds for list of length 3");
  assert_false(op_set_index(vm, l, INT_VAL(-4), INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Runtime error: Index -4 out of bounds for list of length 3");
  Value d = DICT(vm, 1, "a", INT_VAL(1));
  assert_true(op_set_index(vm, d, INT_VAL(5), S(vm, "v"), &r));
  assert_string_equal(D(vm, r), "{5: v, a: 1}");
  assert_string_equal(D(vm, d), "{a: 1}");
  assert_false(op_set_index(vm, S(vm, "abc"), INT_VAL(0), S(vm, "x"), &r));
  assert_string_equal(ERR(vm), "Type error: cannot index into string with int");

  ObjString *b = str_cstr(vm, "b");
  assert_true(op_set_prop(vm, d, b, INT_VAL(2), &r));
  assert_string_equal(D(vm, r), "{a: 1, b: 2}");
  assert_string_equal(D(vm, d), "{a: 1}");
  Value pt = point(vm, 1, 2);
  assert_true(op_set_prop(vm, pt, str_cstr(vm, "x"), INT_VAL(5), &r));
  assert_string_equal(D(vm, r), "Point {x: 5, y: 2}");
  assert_string_equal(D(vm, pt), "Point {x: 1, y: 2}");
  assert_true(op_set_prop(vm, pt, str_cstr(vm, "a"), INT_VAL(0), &r));
  assert_string_equal(D(vm, r), "Point {a: 0, x: 1, y: 2}");
  assert_false(op_set_prop(vm, L(vm, 0), str_cstr(vm, "f"), INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Type error: cannot set property `f` on list");
  assert_false(op_set_prop(vm, NIL_VAL, str_cstr(vm, "f"), INT_VAL(0), &r));
  assert_string_equal(ERR(vm), "Type error: cannot set property `f` on nil");
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_error_texts(void **state)
{
  Vm *vm = *state;
  Buf b = {0};

  err_runtime(vm, "boom %d", 1);
  assert_int_equal(vm->err_kind, ERR_RUNTIME);
  assert_string_equal(AS_CSTR(vm->err_value), "boom 1");
  assert_string_equal(ERR(vm), "Runtime error: boom 1");
  assert_int_equal(vm->err_kind, ERR_NONE);
  assert_true(IS_NIL(vm->err_value));

  err_type(vm, "bad");
  assert_string_equal(ERR(vm), "Type error: bad");
  assert_false(err_div_zero(vm));
  assert_string_equal(ERR(vm), "Division by zero");
  err_stack_overflow(vm);
  assert_string_equal(ERR(vm), "Stack overflow: too many nested calls");
  err_undefined_var(vm, "x", NULL);
  assert_int_equal(vm->err_kind, ERR_UNDEF_VAR);
  assert_string_equal(ERR(vm), "Undefined variable: x");
  err_undefined_var(vm, "cout", "count");
  assert_int_equal(vm->err_kind, ERR_RUNTIME);
  assert_string_equal(ERR(vm), "Runtime error: Undefined variable: cout (did you mean `count`?)");
  err_undefined_builtin(vm, "f", NULL);
  assert_string_equal(ERR(vm), "Undefined builtin: f");
  err_undefined_builtin(vm, "prnt", "print");
  assert_string_equal(ERR(vm), "Runtime error: Undefined builtin: prnt (did you mean `print`?)");
  err_immutable(vm, "x");
  assert_string_equal(ERR(vm), "Cannot assign to immutable binding: x");
  err_throw(vm, S(vm, "fatal"));
  assert_string_equal(ERR(vm), "Thrown: fatal");
  err_throw(vm, enumv(vm, "AppError", "NotFound", 1, S(vm, "user"), NIL_VAL));
  assert_string_equal(ERR(vm), "Thrown: AppError.NotFound(user)");
  err_throw_str(vm, "Assertion failed: expected %d, got %d", 1, 2);
  assert_int_equal(vm->err_kind, ERR_THROWN);
  assert_true(IS_STRING(vm->err_value));
  assert_string_equal(ERR(vm), "Thrown: Assertion failed: expected 1, got 2");
  err_categorized(vm, "timeout", "took too long");
  assert_string_equal(ERR(vm), "Error [timeout]: took too long");
  err_memory(vm);
  assert_string_equal(ERR(vm), "memory limit exceeded");
  err_limit(vm, NULL);
  assert_string_equal(ERR(vm), "instruction limit exceeded");
  err_limit(vm, "deadline exceeded");
  assert_string_equal(ERR(vm), "deadline exceeded");
  err_bad_opcode(vm, 0xab);
  assert_string_equal(ERR(vm), "Invalid instruction: 0xab");
  err_bad_opcode(vm, 7);
  assert_string_equal(ERR(vm), "Invalid instruction: 0x07");
  err_set(vm, ERR_UNDERFLOW, NIL_VAL);
  assert_string_equal(ERR(vm), "Stack underflow");
  err_set(vm, ERR_TYPE, S(vm, "re-raised"));
  assert_string_equal(ERR(vm), "Type error: re-raised");

  /* Caught values: the payload for throws, the display string otherwise. */
  Value payload = DICT(vm, 1, "code", INT_VAL(3));
  err_throw(vm, payload);
  Value cv = err_caught_value(vm);
  assert_true(IS_DICT(cv) && AS_OBJ(cv) == AS_OBJ(payload));
  err_clear(vm);
  err_div_zero(vm);
  cv = err_caught_value(vm);
  assert_true(IS_STRING(cv));
  assert_string_equal(AS_CSTR(cv), "Division by zero");
  err_type(vm, "x");
  assert_string_equal(AS_CSTR(err_caught_value(vm)), "Type error: x");
  err_clear(vm);

  /* Uncaught forms (docs/RUNTIME.md 3.1-3.2). */
  err_div_zero(vm);
  err_display_uncaught(vm, 3, &b);
  assert_string_equal(b.data, "Runtime error: Division by zero (line 3)");
  buf_clear(&b);
  err_type(vm, "bad");
  err_display_uncaught(vm, 12, &b);
  assert_string_equal(b.data, "Type error: bad (line 12)");
  buf_clear(&b);
  err_undefined_var(vm, "x", NULL);
  err_display_uncaught(vm, 1, &b);
  assert_string_equal(b.data, "Runtime error: Undefined variable: x (line 1)");
  buf_clear(&b);
  err_immutable(vm, "x");
  err_display_uncaught(vm, 0, &b);
  assert_string_equal(b.data, "Runtime error: Cannot assign to immutable binding: x");
  buf_clear(&b);
  err_throw(vm, S(vm, "fatal"));
  err_display_uncaught(vm, 4, &b);
  assert_string_equal(b.data, "Thrown: fatal");
  buf_clear(&b);
  err_categorized(vm, "c", "m");
  err_display_uncaught(vm, 4, &b);
  assert_string_equal(b.data, "Error [c]: m");
  buf_clear(&b);
  err_clear(vm);
  buf_free(&b);

  assert_true(err_gets_line_suffix(ERR_RUNTIME));
  assert_true(err_gets_line_suffix(ERR_TYPE));
  assert_true(err_gets_line_suffix(ERR_DIVZERO));
  assert_true(err_gets_line_suffix(ERR_UNDEF_VAR));
  assert_true(err_gets_line_suffix(ERR_UNDEF_BUILTIN));
  assert_true(err_gets_line_suffix(ERR_IMMUTABLE));
  assert_true(err_gets_line_suffix(ERR_STACK_OVERFLOW));
  assert_false(err_gets_line_suffix(ERR_THROWN));
  assert_false(err_gets_line_suffix(ERR_CATEGORIZED));
  assert_false(err_gets_line_suffix(ERR_UNDERFLOW));
  assert_false(err_gets_line_suffix(ERR_BAD_OPCODE));
  assert_false(err_gets_line_suffix(ERR_MEMORY));
  assert_false(err_catchable(ERR_MEMORY));
  assert_false(err_catchable(ERR_LIMIT));
  assert_false(err_catchable(ERR_BAD_OPCODE));
  assert_true(err_catchable(ERR_THROWN));
  assert_true(err_catchable(ERR_RUNTIME));
}

static void test_suggest(void **state)
{
  (void)state;
  const char *const names[] = {"print", "println", "count", "len", "x", "ab", "values"};
  int n = 7;
  assert_string_equal(err_suggest("prnt", names, n), "print");   /* 4 chars, distance 1 */
  assert_string_equal(err_suggest("printn", names, n), "print"); /* tie 1/1: first wins */
  assert_string_equal(err_suggest("cnt", names, n), "count");    /* 3 chars, distance 2 */
  assert_null(err_suggest("qqq", names, n));
  assert_string_equal(err_suggest("y", names, n), "x");          /* <= 2 chars: distance 1 */
  assert_null(err_suggest("yz", names, n));
  assert_string_equal(err_suggest("lne", names, n), "len");
  assert_null(err_suggest("vluse", names, n));  /* 5 chars: distance 3 is too far */
  assert_string_equal(err_suggest("valuse", names, n), "values"); /* 6 chars: 2 is fine */
  assert_string_equal(err_suggest("valxxes", names, n), "values"); /* 7 chars, distance 2 */
  assert_null(err_suggest("zzzzzzzz", names, n));
  assert_null(err_suggest("print", names, 0));
  /* A candidate identical to the name is not a suggestion. */
  const char *const same[] = {"foo"};
  assert_null(err_suggest("foo", same, 1));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_float_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duration_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_display_kinds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_natives, setup, teardown),
      cmocka_unit_test_setup_teardown(test_type_names_truthiness, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_order_and_set_dedup, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chunk, setup, teardown),
      cmocka_unit_test_setup_teardown(test_equality, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_arithmetic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_slice, setup, teardown),
      cmocka_unit_test_setup_teardown(test_properties, setup, teardown),
      cmocka_unit_test_setup_teardown(test_assignment_copies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_texts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_suggest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deep_equality, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared_parts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_results_sized_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_display_bounded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
