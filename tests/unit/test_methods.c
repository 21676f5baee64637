/*
 * test_methods.c: unit tests of the methods of the built-in kinds and of
 * the lazy iterators (vm/methods_*.c, vm/iter.c; docs/LANGUAGE.md 11).
 *
 * Each test calls method_call() directly on values built in C (collections
 * come from json_parse_value for brevity) and compares the display form of
 * the result with the text the spec gives. Callbacks are builtins (to_string,
 * abs, sign, max, len...), which vm_call runs like closures; the VM is
 * created with gc_stress so every callback is a collection point, which
 * checks that methods root what they build. Errors are checked through their
 * display text (err_display).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vm/builtins.h"
#include "vm/error.h"
#include "vm/gc.h"
#include "vm/methods.h"
#include "vm/object.h"
#include "vm/state.h"
#include "vm/vm.h"

static Vm *vm;

static int setup(void **state)
{
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.gc_stress = true;
  vm = vm_new(&cfg);
  return 0;
}

static int teardown(void **state)
{
  vm_free(vm);
  vm = NULL;
  return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Values created by a test are kept alive on the temp-root stack until the
 * test ends (the stressed collector runs inside callbacks). */
static int pinned;

static Value pin(Value v)
{
  gc_push_root(vm, v);
  pinned++;
  return v;
}

static void unpin_all(void)
{
  while (pinned > 0) {
    gc_pop_root(vm);
    pinned--;
  }
}

static Value S(const char *s) { return pin(OBJ_VAL(str_cstr(vm, s))); }

static Value J(const char *json)
{
  Value v;
  assert_true(json_parse_value(vm, json, strlen(json), &v));
  return pin(v);
}

static Value B(const char *name)
{
  int i = builtin_lookup(name);
  assert_true(i >= 0);
  return val_builtin(i);
}

static char dbuf[4096];

static const char *show(Value v)
{
  Buf b = {0};
  val_display(vm, v, &b);
  snprintf(dbuf, sizeof dbuf, "%s", b.data ? b.data : "");
  buf_free(&b);
  return dbuf;
}

/* Call [name] on [recv] with [argc] arguments and return the display of the
 * result (the call must succeed). */
static const char *callv(Value recv, const char *name, int argc, ...)
{
  Value argv[8], out;
  va_list ap;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, Value);
  va_end(ap);
  ObjString *n = str_cstr(vm, name);
  gc_push_root(vm, OBJ_VAL(n));
  bool ok = method_call(vm, recv, n, argc, argv, &out);
  gc_pop_root(vm);
  if (!ok) {
    Buf b = {0};
    err_display(vm, &b);
    fprintf(stderr, "unexpected error in .%s(): %s\n", name, b.data ? b.data : "");
    buf_free(&b);
  }
  assert_true(ok);
  return show(out);
}

/* Same, returning the raw result value (pinned). */
static Value callr(Value recv, const char *name, int argc, ...)
{
  Value argv[8], out;
  va_list ap;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, Value);
  va_end(ap);
  assert_true(method_call(vm, recv, str_cstr(vm, name), argc, argv, &out));
  return pin(out);
}

/* Call expecting failure; returns the error's display text. */
static const char *call_err(Value recv, const char *name, int argc, ...)
{
  Value argv[8], out;
  va_list ap;
  va_start(ap, argc);
  for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, Value);
  va_end(ap);
  assert_false(method_call(vm, recv, str_cstr(vm, name), argc, argv, &out));
  Buf b = {0};
  err_display(vm, &b);
  snprintf(dbuf, sizeof dbuf, "%s", b.data ? b.data : "");
  buf_free(&b);
  err_clear(vm);
  return dbuf;
}

#define I(n) INT_VAL(n)
#define F(x) FLOAT_VAL(x)
#define N NIL_VAL

/* ---- tables --------------------------------------------------------------- */

static void test_tables_sorted(void **state)
{
  assert_true(meth_table_sorted(meth_string_table, meth_string_count));
  assert_true(meth_table_sorted(meth_list_table, meth_list_count));
  assert_true(meth_table_sorted(meth_dict_table, meth_dict_count));
  assert_true(meth_table_sorted(meth_set_table, meth_set_count));
  assert_true(meth_table_sorted(meth_range_table, meth_range_count));
  assert_true(meth_table_sorted(meth_pair_table, meth_pair_count));
  assert_true(meth_table_sorted(iter_method_table, iter_method_count));
}

/* ---- strings --------------------------------------------------------------- */

static void test_string_basic(void **state)
{
  Value s = S("héllo");
  assert_string_equal(callv(s, "len", 0), "5");
  assert_string_equal(callv(s, "count", 0), "5");
  assert_string_equal(callv(S(""), "empty", 0), "true");
  assert_string_equal(callv(s, "empty", 0), "false");
  assert_string_equal(callv(s, "contains", 1, S("ll")), "true");
  assert_string_equal(callv(S("a1b"), "contains", 1, I(1)), "true");
  assert_string_equal(callv(s, "starts_with", 1, S("hé")), "true");
  assert_string_equal(callv(s, "ends_with", 1, S("lo")), "true");
  assert_string_equal(callv(s, "ends_with", 1, S("xlo")), "false");
  assert_string_equal(callv(s, "index_of", 1, S("l")), "2");
  assert_string_equal(callv(s, "last_index_of", 1, S("l")), "3");
  assert_string_equal(callv(s, "index_of", 1, S("z")), "-1");
  assert_string_equal(callv(s, "last_index_of", 1, S("z")), "-1");
  assert_string_equal(callv(s, "nope", 0), "nil");
}

static void test_string_split_replace(void **state)
{
  assert_string_equal(callv(S("a,,b"), "split", 1, S(",")), "[a, , b]");
  assert_string_equal(callv(S("a,b"), "split", 0), "[a, b]");
  assert_string_equal(callv(S("a b"), "split", 1, S(" ")), "[a, b]");
  assert_string_equal(callv(S("abc"), "split", 1, S("")), "[, a, b, c, ]");
  assert_string_equal(callv(S("a--b--"), "split", 1, S("--")), "[a, b, ]");
  assert_string_equal(callv(S(""), "split", 1, S(",")), "[]");
  Value r = callr(S(""), "split", 1, S(","));
  assert_int_equal(AS_LIST(r)->count, 1); /* one empty item */
  assert_string_equal(callv(S("a.b.c"), "replace", 2, S("."), S("::")), "a::b::c");
  assert_string_equal(callv(S("abc"), "replace", 2, S(""), S("-")), "-a-b-c-");
  assert_string_equal(callv(S("aaa"), "replace", 2, S("aa"), S("b")), "ba");
}

static void test_string_trim_case(void **state)
{
  assert_string_equal(callv(S(" \t hi \n"), "trim", 0), "hi");
  assert_string_equal(callv(S("\xC2\xA0hi\xE3\x80\x80"), "trim", 0), "hi"); /* NBSP, ideographic */
  assert_string_equal(callv(S("  hi  "), "trim_start", 0), "hi  ");
  assert_string_equal(callv(S("  hi  "), "trim_end", 0), "  hi");
  assert_string_equal(callv(S("   "), "trim", 0), "");
  assert_string_equal(callv(S("Hello ÿé"), "upper", 0), "HELLO ŸÉ");
  assert_string_equal(callv(S("straße"), "uppercase", 0), "STRASSE");
  assert_string_equal(callv(S("ΑΒΓ Привет"), "to_lower", 0), "αβγ привет");
  assert_string_equal(callv(S("MiXed"), "lowercase", 0), "mixed");
  assert_string_equal(callv(S("abc"), "to_upper", 0), "ABC");
  assert_string_equal(callv(S("ABC"), "lower", 0), "abc");
}

static void test_string_substring_etc(void **state)
{
  Value s = S("hello");
  assert_string_equal(callv(s, "substring", 2, I(1), I(3)), "el");
  assert_string_equal(callv(s, "substring", 1, I(2)), "llo");
  assert_string_equal(callv(s, "substring", 2, I(-3), I(2)), "he");
  assert_string_equal(callv(s, "substring", 2, I(4), I(2)), "");
  assert_string_equal(callv(s, "substring", 2, I(3), I(99)), "lo");
  assert_string_equal(callv(S("añb"), "substring", 2, I(1), I(2)), "ñ");
  assert_string_equal(callv(s, "char_at", 1, I(1)), "e");
  assert_string_equal(callv(s, "char_at", 1, I(-1)), "nil");
  assert_string_equal(callv(s, "char_at", 1, I(5)), "nil");
  assert_string_equal(callv(S("añ"), "chars", 0), "[a, ñ]");
  assert_string_equal(callv(S("a\r\nb\n\nc\n"), "lines", 0), "[a, b, , c]");
  assert_int_equal(AS_LIST(callr(S(""), "lines", 0))->count, 0);
  assert_string_equal(callv(S("ab"), "repeat", 1, I(3)), "ababab");
  assert_string_equal(callv(S("ab"), "repeat", 1, I(-1)), "");
  assert_string_equal(callv(S("añb"), "reverse", 0), "bña");
  assert_string_equal(callv(S("7"), "pad_left", 1, I(3)), "  7");
  assert_string_equal(callv(S("7"), "pad_left", 2, I(3), S("0x")), "007");
  assert_string_equal(callv(S("7"), "pad_right", 2, I(3), S("*")), "7**");
  assert_string_equal(callv(S("long"), "pad_left", 1, I(2)), "long");
  assert_string_equal(callv(S("ab"), "iter", 0), "<iter>");
}

/* ---- lists ---------------------------------------------------------------- */

static void test_list_basic(void **state)
{
  Value l = J("[3, 1, 2]");
  assert_string_equal(callv(l, "len", 0), "nil");
  assert_string_equal(callv(l, "count", 0), "3");
  assert_string_equal(callv(l, "empty", 0), "false");
  assert_string_equal(callv(l, "first", 0), "3");
  assert_string_equal(callv(l, "last", 0), "2");
  assert_string_equal(callv(J("[]"), "first", 0), "nil");
  assert_string_equal(callv(l, "first", 1, I(2)), "[3, 1]");
  assert_string_equal(callv(l, "last", 1, I(5)), "[3, 1, 2]");
  assert_string_equal(callv(l, "take", 1, I(-1)), "[]");
  assert_string_equal(callv(l, "skip", 1, I(1)), "[1, 2]");
  assert_string_equal(callv(l, "slice", 2, I(-2), N), "[1, 2]");
  assert_string_equal(callv(l, "push", 1, I(9)), "[3, 1, 2, 9]");
  assert_string_equal(callv(l, "pop", 0), "[3, 1]");
  assert_string_equal(show(l), "[3, 1, 2]"); /* receiver untouched */
  assert_string_equal(callv(l, "contains", 1, F(1.0)), "true");
  assert_string_equal(callv(l, "index_of", 1, I(2)), "2");
  assert_string_equal(callv(l, "index_of", 1, I(7)), "-1");
  assert_string_equal(callv(J("[1, \"a\", null]"), "join", 1, S("-")), "1-a-nil");
  assert_string_equal(callv(J("[1, 2]"), "join", 0), "12");
  assert_string_equal(callv(l, "reverse", 0), "[2, 1, 3]");
  assert_string_equal(callv(J("[1, 2, 1, 1.0, 3]"), "unique", 0), "[1, 2, 3]");
  assert_string_equal(callv(J("[1, null, 2]"), "compact", 0), "[1, 2]");
  assert_string_equal(callv(J("[[1, [2]], 3]"), "flatten", 0), "[1, [2], 3]");
  assert_string_equal(callv(l, "whatever", 0), "nil");
}

static void test_list_numeric(void **state)
{
  assert_string_equal(callv(J("[1, 2, \"x\", 3]"), "sum", 0), "6");
  assert_string_equal(callv(J("[1, 2.5]"), "sum", 0), "3.5");
  assert_string_equal(callv(J("[]"), "sum", 0), "0");
  assert_string_equal(callv(J("[3, 1, 2]"), "min", 0), "1");
  assert_string_equal(callv(J("[3, 1, 4.5]"), "max", 0), "4.5");
  assert_string_equal(callv(J("[]"), "max", 0), "nil");
  assert_string_equal(callv(J("[\"b\", \"a\", \"c\"]"), "sort", 0), "[a, b, c]");
  assert_string_equal(callv(J("[3, 1.5, 2, -1]"), "sort", 0), "[-1, 1.5, 2, 3]");
  /* stable with incomparable kinds: they compare equal, order kept */
  assert_string_equal(callv(J("[2, \"x\", 1]"), "sort", 0), "[2, x, 1]");
}

static void test_list_shapes(void **state)
{
  Value l = J("[1, 2, 3, 4, 5]");
  assert_string_equal(callv(J("[\"a\", \"b\"]"), "enumerate", 0),
                      "[{index: 0, value: a}, {index: 1, value: b}]");
  assert_string_equal(callv(J("[1, 2, 3]"), "zip", 1, J("[\"a\", \"b\"]")), "[[1, a], [2, b]]");
  assert_string_equal(callv(l, "chunk", 1, I(2)), "[[1, 2], [3, 4], [5]]");
  assert_string_equal(callv(l, "each_slice", 1, I(0)), "[[1], [2], [3], [4], [5]]");
  assert_string_equal(callv(l, "window", 0), "[[1, 2], [2, 3], [3, 4], [4, 5]]");
  assert_string_equal(callv(l, "sliding_window", 2, I(3), I(2)), "[[1, 2, 3], [3, 4, 5]]");
  assert_string_equal(callv(l, "each_cons", 1, I(9)), "[]");
  assert_string_equal(callv(J("[\"a\", \"b\", \"a\", 1, \"1\"]"), "tally", 0), "{1: 2, a: 2, b: 1}");
}

static void test_list_callbacks(void **state)
{
  Value l = J("[-2, 0, 3]");
  assert_string_equal(callv(l, "map", 1, B("abs")), "[2, 0, 3]");
  assert_string_equal(callv(l, "map", 0), "nil");
  assert_string_equal(callv(l, "map", 1, I(3)), "nil");
  assert_string_equal(callv(l, "filter", 1, B("sign")), "[-2, 3]");
  assert_string_equal(callv(J("[\"a b\", \"c\"]"), "flat_map", 1, B("split")), "[a, b, c]");
  assert_string_equal(callv(l, "flat_map", 1, B("abs")), "[2, 0, 3]");
  assert_string_equal(callv(l, "reduce", 2, I(10), B("max")), "10");
  assert_string_equal(callv(l, "reduce", 2, I(-5), B("min")), "-5");
  assert_string_equal(callv(l, "reduce", 1, I(0)), "nil");
  assert_string_equal(callv(l, "find", 1, B("sign")), "-2");
  assert_string_equal(callv(J("[0, 0]"), "find", 1, B("sign")), "nil");
  assert_string_equal(callv(l, "find_index", 1, B("sign")), "0");
  assert_string_equal(callv(l, "find_index", 0), "-1");
  assert_string_equal(callv(l, "any", 1, B("sign")), "true");
  assert_string_equal(callv(l, "any", 0), "false");
  assert_string_equal(callv(l, "all", 1, B("sign")), "false");
  assert_string_equal(callv(l, "every", 0), "true");
  assert_string_equal(callv(J("[1, 2]"), "all", 1, B("sign")), "true");
  assert_string_equal(callv(J("[0]"), "none", 1, B("sign")), "true");
  assert_string_equal(callv(J("[]"), "none", 0), "true");
  assert_string_equal(callv(J("[1]"), "none", 0), "false");
  assert_string_equal(callv(J("[\"ccc\", \"a\", \"bb\", \"d\"]"), "sort_by", 1, B("len")),
                      "[a, d, bb, ccc]");
  assert_string_equal(callv(J("[\"ccc\", \"a\", \"bb\"]"), "min_by", 1, B("len")), "a");
  assert_string_equal(callv(J("[\"ccc\", \"a\", \"bbb\"]"), "max_by", 1, B("len")), "ccc");
  assert_string_equal(callv(l, "partition", 1, B("sign")), "[[-2, 3], [0]]");
  assert_string_equal(callv(J("[1, \"a\", 2.5, \"b\"]"), "group_by", 1, B("type_of")),
                      "{float: [2.5], int: [1], string: [a, b]}");
  assert_string_equal(show(l), "[-2, 0, 3]");
}

static void test_list_callback_error(void **state)
{
  /* A failing callback makes the method fail with the callback's error. */
  const char *e = call_err(J("[1, 2]"), "map", 1, B("unwrap_err"));
  assert_non_null(strstr(e, "unwrap_err"));
  assert_int_equal(vm->heap.ntemp, pinned); /* every root popped */
}

/* ---- dicts, sets, ranges, pairs --------------------------------------------- */

static void test_dict(void **state)
{
  Value d = J("{\"b\": 2, \"a\": 1, \"c\": -3}");
  assert_string_equal(callv(d, "keys", 0), "[a, b, c]");
  assert_string_equal(callv(d, "values", 0), "[1, 2, -3]");
  assert_string_equal(callv(J("{\"a\": 1}"), "entries", 0), "[{key: a, value: 1}]");
  assert_string_equal(callv(d, "count", 0), "3");
  assert_string_equal(callv(d, "len", 0), "nil");
  assert_string_equal(callv(d, "has", 1, S("a")), "true");
  assert_string_equal(callv(J("{\"1\": true}"), "has", 1, I(1)), "true");
  assert_string_equal(callv(d, "get", 1, S("z")), "nil");
  assert_string_equal(callv(d, "get", 2, S("z"), I(0)), "0");
  assert_string_equal(callv(d, "get", 2, S("b"), I(0)), "2");
  assert_string_equal(callv(d, "remove", 1, S("b")), "{a: 1, c: -3}");
  assert_string_equal(callv(d, "merge", 1, J("{\"a\": 9, \"z\": 0}")), "{a: 9, b: 2, c: -3, z: 0}");
  assert_string_equal(callv(d, "map_values", 1, B("abs")), "{a: 1, b: 2, c: 3}");
  assert_string_equal(callv(d, "filter", 1, B("sign")), "{a: 1, b: 2, c: -3}");
  assert_string_equal(callv(J("{\"a\": 0, \"b\": 1}"), "filter", 1, B("sign")), "{b: 1}");
  assert_string_equal(callv(d, "map_keys", 1, B("uppercase")), "{A: 1, B: 2, C: -3}");
  assert_string_equal(callv(d, "rekey", 1, B("len")), "{1: -3}");
  assert_string_equal(show(d), "{a: 1, b: 2, c: -3}");
  assert_string_equal(callv(d, "unknown", 0), "nil");
}

static void test_set(void **state)
{
  Value a = pin(OBJ_VAL(set_new(vm, 0)));
  set_add(vm, AS_SET(a), INT_VAL(1));
  set_add(vm, AS_SET(a), INT_VAL(2));
  set_add(vm, AS_SET(a), INT_VAL(3));
  Value b = J("[3, 4]");
  assert_string_equal(callv(a, "count", 0), "3");
  assert_string_equal(callv(a, "len", 0), "3");
  assert_string_equal(callv(a, "contains", 1, I(2)), "true");
  assert_string_equal(callv(a, "add", 1, I(1)), "set(1, 2, 3)");
  assert_string_equal(callv(a, "add", 1, I(7)), "set(1, 2, 3, 7)");
  assert_string_equal(callv(a, "remove", 1, I(2)), "set(1, 3)");
  assert_string_equal(callv(a, "union", 1, b), "set(1, 2, 3, 4)");
  assert_string_equal(callv(a, "intersect", 1, b), "set(3)");
  assert_string_equal(callv(a, "difference", 1, b), "set(1, 2)");
  assert_string_equal(callv(a, "symmetric_difference", 1, b), "set(1, 2, 4)");
  assert_string_equal(callv(a, "is_subset", 1, J("[1, 2, 3, 4]")), "true");
  assert_string_equal(callv(a, "is_superset", 1, J("[1, 3]")), "true");
  assert_string_equal(callv(a, "is_disjoint", 1, J("[5]")), "true");
  assert_string_equal(callv(a, "is_disjoint", 1, b), "false");
  assert_string_equal(callv(a, "to_list", 0), "[1, 2, 3]");
  assert_string_equal(callv(a, "map", 1, B("sign")), "set(1)");
  assert_string_equal(callv(a, "filter", 1, B("sign")), "set(1, 2, 3)");
  assert_string_equal(callv(a, "any", 1, B("sign")), "true");
  assert_string_equal(callv(a, "all", 1, B("sign")), "true");
  assert_string_equal(show(a), "set(1, 2, 3)");
}

static void test_range(void **state)
{
  Value r = pin(OBJ_VAL(range_new(vm, 1, 5, false)));
  Value e = pin(OBJ_VAL(range_new(vm, 0, 3, true)));
  Value empty = pin(OBJ_VAL(range_new(vm, 5, 1, false)));
  assert_string_equal(callv(r, "len", 0), "5");
  assert_string_equal(callv(e, "count", 0), "3");
  assert_string_equal(callv(empty, "count", 0), "0");
  assert_string_equal(callv(empty, "empty", 0), "true");
  assert_string_equal(callv(r, "contains", 1, I(5)), "true");
  assert_string_equal(callv(e, "contains", 1, I(3)), "false");
  assert_string_equal(callv(r, "contains", 1, F(2.0)), "false");
  assert_string_equal(callv(r, "first", 0), "1");
  assert_string_equal(callv(e, "last", 0), "2");
  assert_string_equal(callv(empty, "last", 0), "nil");
  assert_string_equal(callv(e, "to_string", 0), "0 to 3 exclusive");
  /* everything else is applied to iter(range) */
  assert_string_equal(callv(r, "map", 1, B("to_string")), "<iter>");
  Value m = callr(r, "map", 1, B("to_string"));
  assert_string_equal(callv(m, "to_list", 0), "[1, 2, 3, 4, 5]");
  assert_string_equal(callv(r, "to_list", 0), "[1, 2, 3, 4, 5]");
  assert_string_equal(callv(r, "sum", 0), "15");
  assert_string_equal(callv(r, "nonsense", 0), "nil");
}

static void test_pair_and_others(void **state)
{
  Value p = pin(OBJ_VAL(pair_new(vm, INT_VAL(1), OBJ_VAL(str_cstr(vm, "x")))));
  assert_string_equal(callv(p, "first", 0), "1");
  assert_string_equal(callv(p, "second", 0), "x");
  assert_string_equal(callv(N, "anything", 0), "nil");
  assert_string_equal(callv(I(3), "abs", 0), "nil");
  assert_string_equal(callv(F(3.5), "floor", 0), "nil");
  assert_string_equal(callv(BOOL_VAL(true), "x", 0), "nil");
}

/* ---- iters ----------------------------------------------------------------- */

static void test_iter_sources(void **state)
{
  Value it;
  assert_true(iter_from(vm, J("{\"b\": 2, \"a\": 1}"), &it));
  pin(it);
  assert_string_equal(callv(it, "to_list", 0), "[(a, 1), (b, 2)]");
  assert_string_equal(show(it), "<iter (exhausted)>");
  assert_string_equal(callv(it, "to_list", 0), "[]"); /* single pass */

  assert_true(iter_from(vm, S("añ"), &it));
  pin(it);
  assert_string_equal(callv(it, "to_list", 0), "[a, ñ]");

  Value same;
  assert_true(iter_from(vm, it, &same));
  assert_true(same.as.o == it.as.o);

  assert_false(iter_from(vm, I(3), &it));
  Buf b = {0};
  err_display(vm, &b);
  assert_string_equal(b.data, "Type error: iter: value of type int is not iterable");
  buf_free(&b);
  err_clear(vm);
  assert_false(iter_from(vm, N, &it));
  err_clear(vm);

  /* iter_next protocol */
  assert_true(iter_from(vm, J("[7]"), &it));
  pin(it);
  Value x;
  assert_int_equal(iter_next(vm, it, &x), 1);
  assert_int_equal(AS_INT(x), 7);
  assert_string_equal(show(it), "<iter>");
  assert_int_equal(iter_next(vm, it, &x), 0);
  assert_true(AS_ITER(it)->exhausted);
  assert_int_equal(iter_next(vm, it, &x), 0);

  /* .iter() on collections */
  assert_string_equal(callv(J("[1]"), "iter", 0), "<iter>");
  assert_string_equal(callv(J("{}"), "iter", 0), "<iter>");
}

static Value iter_of(const char *json)
{
  Value it;
  assert_true(iter_from(vm, J(json), &it));
  return pin(it);
}

static void test_iter_lazy(void **state)
{
  Value r = pin(OBJ_VAL(range_new(vm, 1, 10, false)));
  Value it;
  assert_true(iter_from(vm, r, &it));
  pin(it);
  Value m = callr(it, "map", 1, B("to_string"));
  Value t = callr(m, "take", 1, I(3));
  assert_string_equal(callv(t, "to_list", 0), "[1, 2, 3]");
  assert_string_equal(show(t), "<iter (exhausted)>");
  /* take stopped pulling: the rest is still there, shared position */
  assert_string_equal(callv(it, "first", 0), "4");
  assert_string_equal(callv(callr(it, "skip", 1, I(2)), "to_list", 0), "[7, 8, 9, 10]");

  assert_string_equal(callv(callr(iter_of("[-1, 0, 2]"), "filter", 1, B("sign")), "to_list", 0),
                      "[-1, 2]");
  assert_string_equal(callv(callr(iter_of("[\"a b\", \"c\"]"), "flat_map", 1, B("split")),
                            "to_list", 0), "[a, b, c]");
  assert_string_equal(callv(callr(iter_of("[-1, [2]]"), "flat_map", 1, B("to_list")),
                            "to_list", 0), "[-1, 2]");
  assert_string_equal(callv(callr(iter_of("[1, 2, 0, 3]"), "take_while", 1, B("sign")),
                            "to_list", 0), "[1, 2]");
  assert_string_equal(callv(callr(iter_of("[1, 2, 0, 3]"), "skip_while", 1, B("sign")),
                            "to_list", 0), "[0, 3]");
  assert_string_equal(callv(callr(iter_of("[1, 2, 3]"), "zip", 1, J("[\"a\", \"b\"]")),
                            "to_list", 0), "[(1, a), (2, b)]");
  assert_string_equal(callv(callr(iter_of("[\"x\", \"y\"]"), "enumerate", 0), "to_list", 0),
                      "[(0, x), (1, y)]");
  assert_string_equal(callv(callr(iter_of("[1]"), "chain", 1, J("[2, 3]")), "to_list", 0),
                      "[1, 2, 3]");
  assert_string_equal(callv(callr(iter_of("[1, 2, 3, 4, 5]"), "chunks", 1, I(2)), "to_list", 0),
                      "[[1, 2], [3, 4], [5]]");
  assert_string_equal(callv(callr(iter_of("[1, 2, 3, 4]"), "windows", 1, I(3)), "to_list", 0),
                      "[[1, 2, 3], [2, 3, 4]]");
  assert_string_equal(callv(callr(iter_of("[1]"), "windows", 1, I(2)), "to_list", 0), "[]");
  assert_string_equal(callv(iter_of("[1]"), "map", 0), "nil");
}

static void test_iter_errors(void **state)
{
  assert_string_equal(call_err(iter_of("[1]"), "take", 1, I(-1)),
                      "Type error: iter.take: expected non-negative int");
  assert_non_null(strstr(call_err(iter_of("[1]"), "take", 1, F(1.5)),
                         "iter.take: expected non-negative int"));
  assert_non_null(strstr(call_err(iter_of("[1]"), "skip", 0), "iter.skip"));
  assert_non_null(strstr(call_err(iter_of("[1]"), "chunks", 1, I(0)), "iter.chunks"));
  assert_non_null(strstr(call_err(iter_of("[1, \"a\"]"), "sum", 0), "Type error: iter.sum"));
  assert_non_null(strstr(call_err(iter_of("[1]"), "zip", 1, I(3)), "not iterable"));
  assert_non_null(strstr(call_err(iter_of("[1]"), "to_dict", 0), "iter.to_dict"));
  /* an error inside a lazy stage surfaces at the pull */
  Value m = callr(iter_of("[1]"), "map", 1, B("unwrap_err"));
  assert_non_null(strstr(call_err(m, "to_list", 0), "unwrap_err"));
  assert_int_equal(vm->heap.ntemp, pinned);
}

static void test_iter_eager(void **state)
{
  assert_string_equal(callv(iter_of("[1, 1, 2]"), "to_set", 0), "set(1, 2)");
  assert_string_equal(callv(iter_of("{\"a\": 1}"), "to_dict", 0), "{a: 1}");
  assert_string_equal(callv(callr(iter_of("[\"a\", \"b\"]"), "enumerate", 0), "count", 0), "2");
  assert_string_equal(callv(iter_of("[1, 2.5]"), "sum", 0), "3.5");
  assert_string_equal(callv(iter_of("[]"), "sum", 0), "0");
  assert_string_equal(callv(iter_of("[3, 1, 2]"), "min", 0), "1");
  assert_string_equal(callv(iter_of("[3, 1, 2]"), "max", 0), "3");
  assert_string_equal(callv(iter_of("[]"), "max", 0), "nil");
  assert_string_equal(callv(iter_of("[1, 5, 2]"), "reduce", 2, I(0), B("max")), "5");
  assert_string_equal(callv(iter_of("[]"), "first", 0), "nil");
  assert_string_equal(callv(iter_of("[1, 2]"), "last", 0), "2");
  assert_string_equal(callv(iter_of("[0, 1]"), "any", 1, B("sign")), "true");
  assert_string_equal(callv(iter_of("[0, 1]"), "all", 1, B("sign")), "false");
  assert_string_equal(callv(iter_of("[0, 3]"), "find", 1, B("sign")), "3");
  assert_string_equal(callv(iter_of("[0, 3]"), "for_each", 1, B("sign")), "nil");
  Value it = iter_of("[0, 1, 2]");
  assert_string_equal(callv(it, "any", 1, B("sign")), "true");
  assert_string_equal(callv(it, "to_list", 0), "[2]"); /* any stopped at the first hit */
  assert_string_equal(callv(it, "iter", 0), "<iter (exhausted)>");
}

/* ---- whole programs (closures as callbacks, GC stress) -------------------- */

static Buf outbuf;

static void capture(void *ud, int stream, const char *data, size_t len)
{
  if (stream == 1) buf_append(&outbuf, data, len);
}

/* Run [src] in a fresh VM ([stress]: collecting at every safe point);
 * returns its stdout, or "ERROR: <text>". */
static const char *run_vm(const char *src, bool stress)
{
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.write = capture;
  cfg.gc_stress = stress;
  Vm *v = vm_new(&cfg);
  buf_clear(&outbuf);
  VmStatus st = vm_run_source(v, "methods.harn", src, strlen(src), NULL);
  if (st != VM_OK)
    snprintf(dbuf, sizeof dbuf, "ERROR: %s", vm_error_text(v));
  else
    snprintf(dbuf, sizeof dbuf, "%s", outbuf.data ? outbuf.data : "");
  vm_free(v);
  buf_free(&outbuf);
  return dbuf;
}

static const char *run(const char *src) { return run_vm(src, true); }

/* A pull recurses through every stage of a chain of iterators, and
 * through the iterators flat_map callbacks return: a chain deeper than the
 * C stack allows is an error, in a task (a 1 MiB stack) or at the root,
 * where it used to be SIGSEGV (issue 19). Without GC stress: building such
 * chains takes a safe point per stage, and the stressed collector would
 * walk the chain at each one. */
static void test_iter_chain_depth(void **state)
{
  const char *flat = "fn deep(n) {\n"
                     "  return iter([n]).flat_map({ x -> if x == 0 { return [0] }\n return deep(x - 1) })\n"
                     "}\n"
                     "let h = spawn { deep(1000000).to_list() }\n"
                     "println(await(h))\n";
  assert_non_null(strstr(run_vm(flat, false), "ERROR: Runtime error: iterator chain nested too deeply"));
  const char *skips = "var it = iter([1, 2, 3])\n"
                      "for i in 0 to 1000000 exclusive { it = it.skip(0) }\n"
                      "println(it.to_list())\n";
  assert_non_null(strstr(run_vm(skips, false), "ERROR: Runtime error: iterator chain nested too deeply"));
  const char *task = "let h = spawn {\n var it = iter([1, 2, 3])\n"
                     " for i in 0 to 300000 exclusive { it = it.skip(0) }\n it.to_list() }\n"
                     "println(await(h))\n";
  assert_non_null(strstr(run_vm(task, false), "ERROR: Runtime error: iterator chain nested too deeply"));
  /* what fits still works */
  const char *ok = "var it = iter([1, 2, 3])\n"
                   "for i in 0 to 2000 exclusive { it = it.skip(0) }\n"
                   "let h = spawn { it.to_list() }\n"
                   "println(await(h))\n";
  assert_string_equal(run_vm(ok, false), "[1, 2, 3]\n");
}

static void test_programs(void **state)
{
  assert_string_equal(run("println([1, 2, 3].map({ x -> x * 2 }))"), "[2, 4, 6]\n");
  assert_string_equal(run("println([3, 1, 2].sort({ a, b -> b - a }))"), "[3, 2, 1]\n");
  assert_string_equal(run("println([3, 1, 2].sort({ a, b -> a > b }))"), "[3, 2, 1]\n");
  assert_string_equal(
    run("let xs = [{n: \"b\", k: 1}, {n: \"a\", k: 0}, {n: \"c\", k: 1}]\n"
        "println(xs.sort_by({ x -> x.k }).map({ x -> x.n }))"),
    "[a, b, c]\n");
  assert_string_equal(run("println([1, 2, 3].reduce(0, { a, x -> a + x }))"), "6\n");
  assert_string_equal(run("println([1, 2, 3, 4].group_by({ x -> x % 2 == 0 }))"),
                      "{false: [1, 3], true: [2, 4]}\n");
  assert_string_equal(run("println((1 to 3).map({ x -> x * x }).to_list())"), "[1, 4, 9]\n");
  assert_string_equal(run("println((1 to 3).map({ x -> x }))"), "<iter>\n");
  /* lazy stages run in pull order, and only as far as pulled */
  assert_string_equal(
    run("let it = iter([1, 2, 3]).map({ x -> print(\"m\" + to_string(x) + \" \")\n x })"
        ".filter({ x -> print(\"f\" + to_string(x) + \" \")\n x > 1 })\n"
        "println(it.first())\nprintln(it)"),
    "m1 f1 m2 f2 2\n<iter>\n");
  assert_string_equal(
    run("let r = try { [1, 2].map({ x -> throw \"boom\" }) } catch (e) { \"caught \" + e }\n"
        "println(r)"),
    "caught boom\n");
  assert_string_equal(
    run("let xs = (1 to 300).to_list()\n"
        "let ys = xs.map({ x -> [x, to_string(x)] }).filter({ p -> p[0] % 3 == 0 })\n"
        "println(ys.count())\nprintln(ys.last())"),
    "100\n[300, 300]\n");
  assert_string_equal(
    run("println(iter({b: 2, a: 1}).map({ p -> p.first + \"=\" + to_string(p.second) }).to_list())"),
    "[a=1, b=2]\n");
  assert_string_equal(
    run("let d = {a: 1, b: 2}\nprintln(d.map_values({ v -> v * 10 }))\nprintln(d)"),
    "{a: 10, b: 20}\n{a: 1, b: 2}\n");
  assert_string_equal(run("println(\"a-b-c\".split(\"-\").map({ s -> s.upper() }).join(\"+\"))"),
                      "A+B+C\n");
  assert_non_null(strstr(run("println(iter([1]).take(-1))"),
                         "ERROR: Type error: iter.take: expected non-negative int"));
}

/* Nested callbacks deep enough to exhaust the temp-root stack fail with the
 * stack-overflow error instead of aborting. */
static void test_root_exhaustion(void **state)
{
  int before = vm->heap.ntemp;
  while (vm->heap.ntemp < GC_MAX_TEMP_ROOTS - 4) gc_push_root(vm, NIL_VAL);
  const char *e = call_err(J("[1]"), "map", 1, B("abs"));
  assert_non_null(strstr(e, "Stack overflow"));
  while (vm->heap.ntemp > before) gc_pop_root(vm);
}

/* Per-test teardown: release what the test pinned. */
static int unpin_test(void **state)
{
  unpin_all();
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_tables_sorted, unpin_test),
    cmocka_unit_test_teardown(test_string_basic, unpin_test),
    cmocka_unit_test_teardown(test_string_split_replace, unpin_test),
    cmocka_unit_test_teardown(test_string_trim_case, unpin_test),
    cmocka_unit_test_teardown(test_string_substring_etc, unpin_test),
    cmocka_unit_test_teardown(test_list_basic, unpin_test),
    cmocka_unit_test_teardown(test_list_numeric, unpin_test),
    cmocka_unit_test_teardown(test_list_shapes, unpin_test),
    cmocka_unit_test_teardown(test_list_callbacks, unpin_test),
    cmocka_unit_test_teardown(test_list_callback_error, unpin_test),
    cmocka_unit_test_teardown(test_dict, unpin_test),
    cmocka_unit_test_teardown(test_set, unpin_test),
    cmocka_unit_test_teardown(test_range, unpin_test),
    cmocka_unit_test_teardown(test_pair_and_others, unpin_test),
    cmocka_unit_test_teardown(test_iter_sources, unpin_test),
    cmocka_unit_test_teardown(test_iter_lazy, unpin_test),
    cmocka_unit_test_teardown(test_iter_errors, unpin_test),
    cmocka_unit_test_teardown(test_iter_eager, unpin_test),
    cmocka_unit_test_teardown(test_root_exhaustion, unpin_test),
    cmocka_unit_test_teardown(test_programs, unpin_test),
    cmocka_unit_test_teardown(test_iter_chain_depth, unpin_test),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
