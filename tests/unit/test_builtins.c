/*
 * test_builtins.c: unit tests of the free builtins and JSON (vm/builtins.c,
 * vm/json.c) called directly through builtin_table, without compiling any
 * Harn source. Output is captured with VmConfig.write. Errors are checked
 * through the VM error slot (err_display), i.e. the text a catch would see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vm/builtins.h"
#include "vm/error.h"
#include "vm/gc.h"
#include "vm/object.h"
#include "vm/state.h"
#include "vm/vm.h"

static Vm *vm;
static Buf out1, out2;

static void capture(void *ud, int stream, const char *d, size_t n)
{
  buf_append(stream == 2 ? &out2 : &out1, d, n);
}

static int setup(void **state)
{
  VmConfig cfg = {0};
  cfg.write = capture;
  vm = vm_new(&cfg);
  buf_clear(&out1);
  buf_clear(&out2);
  return 0;
}

static int teardown(void **state)
{
  vm_free(vm);
  vm = NULL;
  buf_free(&out1);
  buf_free(&out2);
  return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static Value S(const char *s) { return OBJ_VAL(str_cstr(vm, s)); }
static Value I(int64_t i) { return val_int(i); }
static Value F(double d) { return val_float(d); }

static Value list_of(int n, ...)
{
  ObjList *l = list_new(vm, (uint32_t)n);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) list_push(vm, l, va_arg(ap, Value));
  va_end(ap);
  return OBJ_VAL(l);
}

/* Call builtin [name]; the arguments are rooted for the call's duration. */
static bool try_call(const char *name, Value *out, int argc, Value *argv)
{
  int idx = builtin_lookup(name);
  if (idx < 0) fail_msg("no builtin %s", name);
  for (int i = 0; i < argc; i++) gc_push_root(vm, argv[i]);
  err_clear(vm);
  bool ok = builtin_table[idx].fn(vm, argc, argv, out);
  for (int i = 0; i < argc; i++) gc_pop_root(vm);
  return ok;
}

#define CALL(name, ...) call_ok(name, (Value[]){__VA_ARGS__}, \
                                (int)(sizeof((Value[]){__VA_ARGS__}) / sizeof(Value)))
#define CALL0(name) call_ok(name, NULL, 0)
#define FAILS(name, ...) call_fail(name, (Value[]){__VA_ARGS__}, \
                                   (int)(sizeof((Value[]){__VA_ARGS__}) / sizeof(Value)))

static Value call_ok(const char *name, Value *argv, int argc)
{
  Value out;
  if (!try_call(name, &out, argc, argv)) {
    Buf b = {0};
    err_display(vm, &b);
    fail_msg("%s failed: %s", name, b.data);
  }
  return out;
}

/* Call a builtin that must fail; returns the error's display text
 * (static buffer, valid until the next call). */
static const char *call_fail(const char *name, Value *argv, int argc)
{
  static Buf b;
  Value out;
  if (try_call(name, &out, argc, argv)) fail_msg("%s should have failed", name);
  buf_clear(&b);
  err_display(vm, &b);
  return b.data ? b.data : "";
}

/* Display text of [v] (static buffer, valid until the next call). */
static const char *D(Value v)
{
  static Buf b;
  buf_clear(&b);
  val_display(vm, v, &b);
  return b.data ? b.data : "";
}

static const char *J(Value v)
{
  static Buf b;
  buf_clear(&b);
  json_stringify_value(vm, v, &b);
  return b.data ? b.data : "";
}

/* ---- the table ------------------------------------------------------------ */

static void test_table(void **state)
{
  assert_true(builtin_count > 100);
  for (int i = 1; i < builtin_count; i++)
    assert_true(strcmp(builtin_table[i - 1].name, builtin_table[i].name) < 0);
  for (int i = 0; i < builtin_count; i++) {
    assert_int_equal(builtin_lookup(builtin_table[i].name), i);
    assert_non_null(builtin_table[i].fn);
  }
  assert_int_equal(builtin_lookup("no_such_builtin"), -1);
  assert_int_equal(builtin_lookup(""), -1);
  assert_int_equal(builtin_lookup("spawn"), -1); /* tier-2 concurrency: not here */
  Value v;
  assert_true(builtin_constant("pi", &v));
  assert_true(IS_FLOAT(v) && fabs(AS_FLOAT(v) - 3.141592653589793) < 1e-15);
  assert_true(builtin_constant("e", &v));
  assert_true(IS_FLOAT(v) && fabs(AS_FLOAT(v) - 2.718281828459045) < 1e-15);
  assert_false(builtin_constant("tau", &v));
  assert_false(builtin_constant("print", &v));
  assert_false(AS_BOOL(call_ok("is_cancelled", NULL, 0))); /* no host interrupt */
}

/* ---- 12.1 output, types, conversion ------------------------------------- */

static void test_output(void **state)
{
  CALL("print", S("a"), S("ignored"));
  CALL("print", I(1));
  CALL("println", list_of(3, I(1), S("x"), list_of(2, F(2.0), val_nil())));
  CALL("log", S("hi"));
  CALL0("println");
  CALL("eprintln", S("err"));
  CALL("eprint", I(5));
  assert_string_equal(out1.data, "a1[1, x, [2.0, nil]]\n[harn] hi\n\n");
  assert_string_equal(out2.data, "err\n5");
}

static void test_types_conversion(void **state)
{
  assert_string_equal(D(CALL("type_of", I(1))), "int");
  assert_string_equal(D(CALL("type_of", F(1))), "float");
  assert_string_equal(D(CALL("type_of", val_nil())), "nil");
  assert_string_equal(D(CALL0("type_of")), "nil");
  assert_string_equal(D(CALL("type_of", list_of(0))), "list");
  assert_string_equal(D(CALL("type_of", val_builtin(0))), "builtin");
  assert_string_equal(D(CALL("to_string", F(3))), "3.0");
  assert_string_equal(D(CALL("to_string", list_of(2, S("a"), I(2)))), "[a, 2]");

  assert_string_equal(D(CALL("to_int", S("42"))), "42");
  assert_string_equal(D(CALL("to_int", S("-7"))), "-7");
  assert_string_equal(D(CALL("to_int", S("3.5"))), "nil");
  assert_string_equal(D(CALL("to_int", S("12abc"))), "nil");
  assert_string_equal(D(CALL("to_int", S(""))), "nil");
  assert_string_equal(D(CALL("to_int", S("99999999999999999999"))), "nil");
  assert_string_equal(D(CALL("to_int", S("-9223372036854775808"))), "-9223372036854775808");
  assert_string_equal(D(CALL("to_int", F(3.9))), "3");
  assert_string_equal(D(CALL("to_int", F(-3.9))), "-3");
  assert_string_equal(D(CALL("to_int", I(8))), "8");
  assert_string_equal(D(CALL("to_int", val_bool(true))), "nil");

  assert_string_equal(D(CALL("to_float", I(2))), "2.0");
  assert_string_equal(D(CALL("to_float", S("2.5"))), "2.5");
  assert_string_equal(D(CALL("to_float", S("1e3"))), "1000.0");
  assert_string_equal(D(CALL("to_float", S("abc"))), "nil");
  assert_string_equal(D(CALL("to_float", S(" 1"))), "nil");
  assert_string_equal(D(CALL("to_float", S("0x10"))), "nil");
  assert_string_equal(D(CALL("to_float", S("."))), "nil");
  assert_string_equal(D(CALL("to_float", list_of(0))), "nil");

  assert_int_equal(AS_INT(CALL("len", S("héllo"))), 5);
  assert_int_equal(AS_INT(CALL("len", list_of(2, I(1), I(2)))), 2);
  assert_int_equal(AS_INT(CALL("len", OBJ_VAL(range_new(vm, 1, 5, false)))), 5);
  assert_int_equal(AS_INT(CALL("len", I(7))), 0);
  assert_int_equal(AS_INT(CALL("len", val_nil())), 0);

  assert_string_equal(D(CALL("to_list", I(1))), "[1]");
  assert_string_equal(D(CALL("to_list", list_of(1, I(1)))), "[1]");
  assert_string_equal(D(CALL("to_list", CALL("set", I(2), I(1), I(2)))), "[2, 1]");
}

static void test_asserts(void **state)
{
  assert_true(IS_NIL(CALL("assert", val_bool(true))));
  assert_string_equal(FAILS("assert", val_bool(false)), "Thrown: Assertion failed");
  assert_string_equal(FAILS("assert", I(0), S("custom")), "Thrown: custom");
  assert_int_equal(vm->err_kind, ERR_THROWN);
  assert_true(IS_NIL(CALL("assert_eq", I(1), F(1.0))));
  assert_string_equal(FAILS("assert_eq", I(1), I(2)), "Thrown: Assertion failed: expected 2, got 1");
  assert_string_equal(FAILS("assert_eq", S("a"), list_of(1, S("b"))),
                      "Thrown: Assertion failed: expected [b], got a");
  assert_string_equal(FAILS("assert_ne", I(3), I(3)),
                      "Thrown: Assertion failed: values should not be equal: 3");
  assert_true(IS_NIL(CALL("assert_ne", I(3), I(4))));
  assert_string_equal(FAILS("unreachable", S("x")), "Runtime error: unreachable code was reached: x");
  assert_string_equal(call_fail("unreachable", NULL, 0), "Runtime error: unreachable code was reached");
}

/* ---- 12.2 Result and errors ------------------------------------------------ */

static void test_results(void **state)
{
  Value ok = CALL("Ok", I(3)), er = CALL("Err", S("boom"));
  assert_string_equal(D(ok), "Result.Ok(3)");
  assert_string_equal(D(er), "Result.Err(boom)");
  assert_true(AS_BOOL(CALL("is_ok", ok)));
  assert_false(AS_BOOL(CALL("is_ok", er)));
  assert_true(AS_BOOL(CALL("is_err", er)));
  assert_false(AS_BOOL(CALL("is_err", I(1))));
  assert_string_equal(D(CALL("unwrap", ok)), "3");
  assert_string_equal(D(CALL("unwrap", I(9))), "9");
  assert_string_equal(FAILS("unwrap", er), "Runtime error: unwrap called on Err: boom");
  assert_string_equal(D(CALL("unwrap_or", er, I(0))), "0");
  assert_string_equal(D(CALL("unwrap_or", ok, I(0))), "3");
  assert_string_equal(D(CALL("unwrap_or", S("x"), I(0))), "x");
  assert_string_equal(D(CALL("unwrap_err", er)), "boom");
  assert_string_equal(FAILS("unwrap_err", ok), "Runtime error: unwrap_err called on non-Err");
}

static void test_errors(void **state)
{
  FAILS("throw_error", S("nope"), S("auth"));
  assert_int_equal(vm->err_kind, ERR_THROWN);
  assert_string_equal(D(vm->err_value), "{category: auth, message: nope}");
  FAILS("throw_error", S("m"), S("weird"));
  assert_string_equal(D(vm->err_value), "{category: generic, message: m}");
  FAILS("throw_error", S("m"));
  assert_string_equal(D(vm->err_value), "{category: generic, message: m}");

  struct { const char *msg, *cat; } cases[] = {
    {"HTTP 429 Too Many Requests", "rate_limit"},
    {"status 401", "auth"},
    {"403", "auth"},
    {"got 404 here", "not_found"},
    {"410 gone", "not_found"},
    {"504 gateway", "timeout"},
    {"error 524", "timeout"},
    {"503", "overloaded"},
    {"529 overloaded", "overloaded"},
    {"500 internal", "server_error"},
    {"code 4290 is long", "generic"},
    {"id 12345 then 502", "server_error"},
    {"418 teapot, Deadline exceeded", "timeout"},
    {"Deadline exceeded", "timeout"},
    {"circuit_open now", "circuit_open"},
    {"Connection reset by peer", "transient_network"},
    {"connection refused", "transient_network"},
    {"broken pipe", "transient_network"},
    {"something else", "generic"},
    {"300 then 429", "rate_limit"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    Value c = CALL("error_category", S(cases[i].msg));
    if (strcmp(D(c), cases[i].cat) != 0)
      fail_msg("error_category(%s) = %s, want %s", cases[i].msg, D(c), cases[i].cat);
  }
  ObjDict *d = dict_new(vm, 1);
  dict_set_cstr(vm, d, "category", S("rate_limit"));
  assert_string_equal(D(CALL("error_category", OBJ_VAL(d))), "rate_limit");
  assert_true(AS_BOOL(CALL("is_rate_limited", OBJ_VAL(d))));
  assert_false(AS_BOOL(CALL("is_timeout", OBJ_VAL(d))));
  assert_string_equal(D(CALL("error_category", OBJ_VAL(dict_new(vm, 0)))), "generic");
  assert_string_equal(D(CALL("error_category", I(408))), "generic");
  assert_true(AS_BOOL(CALL("is_timeout", S("Deadline exceeded"))));
  assert_true(AS_BOOL(CALL("is_timeout", S("HTTP 408"))));
}

/* ---- 12.3 math ----------------------------------------------------------- */

static void test_math(void **state)
{
  assert_string_equal(D(CALL("abs", I(-3))), "3");
  assert_string_equal(D(CALL("abs", F(-2.5))), "2.5");
  assert_string_equal(D(CALL("abs", S("x"))), "nil");
  assert_string_equal(D(CALL("min", I(3), I(2))), "2");
  assert_string_equal(D(CALL("max", I(3), F(2.0))), "3.0");
  assert_string_equal(D(CALL("min", I(3), S("a"))), "nil");
  assert_string_equal(D(CALL("floor", F(2.7))), "2");
  assert_string_equal(D(CALL("floor", F(-2.5))), "-3");
  assert_string_equal(D(CALL("ceil", F(2.1))), "3");
  assert_string_equal(D(CALL("round", F(2.5))), "3");
  assert_string_equal(D(CALL("round", F(-2.5))), "-3");
  assert_string_equal(D(CALL("round", F(2.4))), "2");
  assert_string_equal(D(CALL("round", I(7))), "7");
  assert_int_equal(CALL("round", F(1.0)).type, VAL_INT);
  assert_string_equal(FAILS("floor", F(NAN)), "Runtime error: floor: cannot convert NaN to int");
  assert_string_equal(FAILS("round", F(INFINITY)), "Runtime error: round: cannot convert inf to int");
  assert_string_equal(D(CALL("sqrt", I(16))), "4.0");
  assert_string_equal(D(CALL("sqrt", S("x"))), "nil");
  assert_string_equal(D(CALL("pow", I(2), I(10))), "1024");
  assert_string_equal(D(CALL("pow", I(2), I(-1))), "0.5");
  assert_string_equal(D(CALL("pow", I(2), I(64))), "18446744073709552000");
  assert_string_equal(D(CALL("pow", F(2), I(3))), "8.0");
  assert_string_equal(D(CALL("pow", I(-3), I(3))), "-27");
  assert_string_equal(D(CALL("pow", I(7), I(0))), "1");
  assert_string_equal(D(CALL("sign", I(-9))), "-1");
  assert_string_equal(D(CALL("sign", F(0.0))), "0");
  assert_string_equal(D(CALL("sign", F(0.5))), "1");
  assert_string_equal(D(CALL("sin", I(0))), "0.0");
  assert_string_equal(D(CALL("exp", I(0))), "1.0");
  assert_string_equal(D(CALL("ln", I(1))), "0.0");
  assert_string_equal(D(CALL("log2", I(8))), "3.0");
  assert_string_equal(D(CALL("log10", I(1000))), "3.0");
  assert_string_equal(D(CALL("cos", S("a"))), "nil");
  assert_string_equal(D(CALL("atan2", I(0), I(1))), "0.0");
  assert_true(AS_BOOL(CALL("is_nan", F(NAN))));
  assert_false(AS_BOOL(CALL("is_nan", I(1))));
  assert_true(AS_BOOL(CALL("is_infinite", F(-INFINITY))));
  assert_false(AS_BOOL(CALL("is_infinite", S("inf"))));
  assert_string_equal(D(CALL("range", I(3))), "0 to 3 exclusive");
  assert_string_equal(D(CALL("range", I(2), I(5))), "2 to 5 exclusive");
  assert_string_equal(FAILS("range", S("x")), "Type error: range: expected an int argument, got string");

  CALL("rng_seed", I(42));
  for (int i = 0; i < 200; i++) {
    Value r = CALL0("random");
    assert_true(IS_FLOAT(r) && AS_FLOAT(r) >= 0 && AS_FLOAT(r) < 1);
    Value k = CALL("random_int", I(-2), I(2));
    assert_true(IS_INT(k) && AS_INT(k) >= -2 && AS_INT(k) <= 2);
  }
}

/* ---- 12.4 strings ----------------------------------------------------------- */

static void test_strings(void **state)
{
  assert_string_equal(D(CALL("join", list_of(3, I(1), S("a"), F(2.0)), S(", "))), "1, a, 2.0");
  assert_string_equal(D(CALL("join", list_of(2, I(1), I(2)))), "12");
  assert_string_equal(D(CALL("join", S("abc"), S(","))), "");
  assert_true(AS_BOOL(CALL("contains", S("hello"), S("ell"))));
  assert_false(AS_BOOL(CALL("contains", S("hello"), S("xyz"))));
  assert_true(AS_BOOL(CALL("contains", S("a1b"), I(1))));
  assert_true(AS_BOOL(CALL("contains", list_of(2, I(1), I(2)), F(2.0))));
  assert_false(AS_BOOL(CALL("contains", I(12), I(1))));
  assert_true(AS_BOOL(CALL("starts_with", S("hello"), S("he"))));
  assert_false(AS_BOOL(CALL("starts_with", S("h"), S("he"))));
  assert_true(AS_BOOL(CALL("ends_with", S("hello"), S("llo"))));
  assert_false(AS_BOOL(CALL("ends_with", I(5), S("5"))));
  assert_string_equal(D(CALL("substring", S("hello world"), I(6), I(3))), "wor");
  assert_string_equal(D(CALL("substring", S("hello"), I(1))), "ello");
  assert_string_equal(D(CALL("substring", S("héllo"), I(1), I(2))), "él");
  assert_string_equal(D(CALL("substring", S("hello"), I(3), I(100))), "lo");
  assert_string_equal(D(CALL("substring", S("hello"), I(9), I(2))), "");
  assert_string_equal(D(CALL("format", S("{} + {} = {}"), I(1), I(2))), "1 + 2 = {}");
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "name", S("Ann"));
  dict_set_cstr(vm, d, "n", I(3));
  assert_string_equal(D(CALL("format", S("{name} has {n} {pets} {}"), OBJ_VAL(d))),
                      "Ann has 3 {pets} {}");
  assert_string_equal(D(CALL("format", S("x{}"), list_of(1, I(1)))), "x[1]");

  assert_string_equal(D(CALL("snake_to_camel", S("hello_big_world"))), "helloBigWorld");
  assert_string_equal(D(CALL("snake_to_pascal", S("hello_world"))), "HelloWorld");
  assert_string_equal(D(CALL("snake_to_kebab", S("hello_world"))), "hello-world");
  assert_string_equal(D(CALL("kebab_to_snake", S("a-b-c"))), "a_b_c");
  assert_string_equal(D(CALL("kebab_to_camel", S("user-id"))), "userId");
  assert_string_equal(D(CALL("camel_to_snake", S("helloWorld"))), "hello_world");
  assert_string_equal(D(CALL("camel_to_snake", S("HTTPServer"))), "http_server");
  assert_string_equal(D(CALL("camel_to_snake", S("getHTTPResponseCode"))), "get_http_response_code");
  assert_string_equal(D(CALL("camel_to_snake", S("version2Beta"))), "version2_beta");
  assert_string_equal(D(CALL("camel_to_kebab", S("myVarName"))), "my-var-name");
  assert_string_equal(D(CALL("pascal_to_snake", S("PascalCase"))), "pascal_case");
  assert_string_equal(D(CALL("pascal_to_camel", S("PascalCase"))), "pascalCase");
  assert_string_equal(D(CALL("camel_to_pascal", S("camelCase"))), "CamelCase");
  assert_string_equal(D(CALL("uppercase_first", S("émile"))), "Émile");
  assert_string_equal(D(CALL("lowercase_first", S("ABC"))), "aBC");
  assert_string_equal(D(CALL("uppercase_first", S(""))), "");
  assert_string_equal(D(CALL("title_case", S("hello WORLD  foo"))), "Hello World  Foo");
  assert_string_equal(D(CALL("snake_to_camel", I(3))), "nil");

  assert_string_equal(D(CALL("basename", S("/a/b/file.txt"))), "file.txt");
  assert_string_equal(D(CALL("basename", S("a/b/"))), "b");
  assert_string_equal(D(CALL("basename", S("file"))), "file");
  assert_string_equal(D(CALL("basename", S("/"))), "");
  assert_string_equal(D(CALL("dirname", S("/a/b/file.txt"))), "/a/b");
  assert_string_equal(D(CALL("dirname", S("/file"))), "/");
  assert_string_equal(D(CALL("dirname", S("file"))), "");
  assert_string_equal(D(CALL("dirname", S("a/b/"))), "a");
  assert_string_equal(D(CALL("extname", S("x/archive.tar.gz"))), ".gz");
  assert_string_equal(D(CALL("extname", S("README"))), "");
  assert_string_equal(D(CALL("extname", S(".bashrc"))), "");
  assert_string_equal(D(CALL("extname", S("a/b.txt"))), ".txt");
}

/* Builtins that reuse the string/list methods (method_call). */
static void test_delegated(void **state)
{
  assert_string_equal(D(CALL("split", S("a b  c"))), "[a, b, , c]");
  assert_string_equal(D(CALL("split", S("a,b"), S(","))), "[a, b]");
  assert_string_equal(D(CALL("replace", S("aXbX"), S("X"), S("-"))), "a-b-");
  assert_string_equal(D(CALL("trim", S("  hi \n"))), "hi");
  assert_string_equal(D(CALL("uppercase", S("abc"))), "ABC");
  assert_string_equal(D(CALL("lowercase", S("ABC"))), "abc");
  Value xs = list_of(5, I(1), I(2), I(3), I(4), I(5));
  assert_string_equal(D(CALL("chunk", xs, I(2))), "[[1, 2], [3, 4], [5]]");
  assert_string_equal(D(CALL("window", xs, I(3))), "[[1, 2, 3], [2, 3, 4], [3, 4, 5]]");
  int to_string = builtin_lookup("to_string");
  Value lists = list_of(3, list_of(1, I(1)), I(2), list_of(2, I(3), I(4)));
  assert_string_equal(D(CALL("flat_map", lists, val_builtin(to_string))), "[[1], 2, [3, 4]]");
  int to_list = builtin_lookup("to_list");
  assert_string_equal(D(CALL("flat_map", list_of(2, I(1), I(2)), val_builtin(to_list))), "[1, 2]");
}

/* ---- 12.5 collections and sets -------------------------------------------- */

static void test_collections(void **state)
{
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "b", I(2));
  dict_set_cstr(vm, d, "a", I(1));
  assert_string_equal(D(CALL("keys", OBJ_VAL(d))), "[a, b]");
  assert_string_equal(D(CALL("values", OBJ_VAL(d))), "[1, 2]");
  assert_string_equal(D(CALL("entries", OBJ_VAL(d))), "[{key: a, value: 1}, {key: b, value: 2}]");
  assert_string_equal(D(CALL("keys", I(1))), "nil");

  int type_of = builtin_lookup("type_of");
  Value mixed = list_of(5, I(1), S("a"), I(2), F(1.5), S("b"));
  assert_string_equal(D(CALL("dedup_by", mixed, val_builtin(type_of))), "[1, a, 1.5]");
  assert_string_equal(D(CALL("dedup_by", mixed, I(3))), "nil");
  assert_string_equal(D(CALL("group_by", mixed, val_builtin(type_of))),
                      "{float: [1.5], int: [1, 2], string: [a, b]}");
  int is_nan = builtin_lookup("is_nan");
  assert_string_equal(D(CALL("partition", list_of(3, F(NAN), I(1), F(2.0)), val_builtin(is_nan))),
                      "{match: [NaN], no_match: [1, 2.0]}");

  assert_string_equal(D(CALL("pair", I(1), S("x"))), "(1, x)");
  assert_string_equal(FAILS("pair", I(1)), "Runtime error: pair: expected exactly 2 arguments, got 1");
  Value it = CALL("iter", list_of(1, I(1)));
  assert_string_equal(D(CALL("type_of", it)), "iter");
  assert_string_equal(FAILS("iter", I(3)), "Type error: iter: value of type int is not iterable");

  Value s = CALL("set", I(1), list_of(3, I(2), I(1), F(3.0)), S("x"));
  assert_string_equal(D(s), "set(1, 2, 3.0, x)");
  assert_string_equal(D(call_ok("set", NULL, 0)), "set()");
  assert_string_equal(D(CALL("set_add", s, I(9))), "set(1, 2, 3.0, x, 9)");
  assert_string_equal(D(CALL("set_add", s, I(2))), "set(1, 2, 3.0, x)");
  assert_string_equal(D(s), "set(1, 2, 3.0, x)"); /* unchanged */
  assert_string_equal(D(CALL("set_remove", s, S("x"))), "set(1, 2, 3.0)");
  assert_true(AS_BOOL(CALL("set_contains", s, I(3))));
  assert_false(AS_BOOL(CALL("set_contains", s, I(4))));
  Value t = CALL("set", I(2), I(5), I(1));
  assert_string_equal(D(CALL("set_union", s, t)), "set(1, 2, 3.0, x, 5)");
  assert_string_equal(D(CALL("set_intersect", s, t)), "set(1, 2)");
  assert_string_equal(D(CALL("set_difference", s, t)), "set(3.0, x)");
  assert_string_equal(D(CALL("set_symmetric_difference", s, t)), "set(3.0, x, 5)");
  assert_true(AS_BOOL(CALL("set_is_subset", CALL("set", I(1), I(2)), s)));
  assert_false(AS_BOOL(CALL("set_is_subset", t, s)));
  assert_true(AS_BOOL(CALL("set_is_superset", s, CALL("set", I(1)))));
  assert_true(AS_BOOL(CALL("set_is_disjoint", s, CALL("set", I(7)))));
  assert_false(AS_BOOL(CALL("set_is_disjoint", s, t)));
  assert_string_equal(D(CALL("set_add", I(1), I(2))), "nil");
}

/* ---- 12.6 JSON and schemas ---------------------------------------------------- */

static Value parse(const char *text)
{
  Value v;
  err_clear(vm);
  if (!json_parse_value(vm, text, strlen(text), &v)) {
    Buf b = {0};
    err_display(vm, &b);
    fail_msg("json parse of %s failed: %s", text, b.data);
  }
  return v;
}

static const char *parse_error(const char *text, size_t len)
{
  static Buf b;
  Value v;
  err_clear(vm);
  if (json_parse_value(vm, text, len, &v)) fail_msg("json parse of %.*s should fail", (int)len, text);
  assert_int_equal(vm->err_kind, ERR_THROWN);
  assert_true(IS_STRING(vm->err_value));
  buf_clear(&b);
  buf_puts(&b, AS_CSTR(vm->err_value));
  return b.data;
}

static void test_json_parse(void **state)
{
  Value v = parse(" {\"b\": [1, 2.5, -3, 1e2, null, true, false], \"a\": \"x\\ny\"} ");
  assert_string_equal(D(v), "{a: x\ny, b: [1, 2.5, -3, 100.0, nil, true, false]}");
  Value b;
  assert_true(dict_get_cstr(AS_DICT(v), "b", &b));
  assert_int_equal(AS_LIST(b)->items[0].type, VAL_INT);
  assert_int_equal(AS_LIST(b)->items[3].type, VAL_FLOAT);
  assert_int_equal(parse("-0").type, VAL_INT);
  assert_string_equal(D(parse("9223372036854775807")), "9223372036854775807");
  assert_string_equal(D(parse("-9223372036854775808")), "-9223372036854775808");
  assert_int_equal(parse("9223372036854775808").type, VAL_FLOAT);
  assert_string_equal(D(parse("\"\\u00e9\\ud83d\\ude00\\/\\\\\\\"\"")), "é😀/\\\"");
  assert_string_equal(D(parse("{\"k\":1,\"k\":2}")), "{k: 2}");
  assert_string_equal(D(parse("[]")), "[]");
  assert_string_equal(D(parse("{}")), "{}");
  assert_string_equal(D(parse("\"\"")), "");
  Value nul = parse("\"a\\u0000b\"");
  assert_int_equal(AS_STRING(nul)->len, 3);

  assert_string_equal(parse_error("", 0), "JSON parse error: EOF while parsing a value at line 1 column 0");
  assert_string_equal(parse_error("{", 1), "JSON parse error: EOF while parsing an object at line 1 column 1");
  assert_string_equal(parse_error("[1,]", 4), "JSON parse error: trailing comma at line 1 column 4");
  assert_string_equal(parse_error("[1 2]", 5), "JSON parse error: expected `,` or `]` at line 1 column 4");
  assert_string_equal(parse_error("{1:2}", 5), "JSON parse error: key must be a string at line 1 column 2");
  assert_string_equal(parse_error("1 x", 3), "JSON parse error: trailing characters at line 1 column 3");
  assert_string_equal(parse_error("\n  nope", 7), "JSON parse error: expected ident at line 2 column 4");
  assert_string_equal(parse_error("01", 2), "JSON parse error: invalid number at line 1 column 2");
  assert_string_equal(parse_error("\"a\\qb\"", 6), "JSON parse error: invalid escape at line 1 column 4");
  assert_string_equal(parse_error("\"\\ud800\"", 8),
                      "JSON parse error: lone leading surrogate in hex escape at line 1 column 8");
  assert_string_equal(parse_error("\"a\nb\"", 5),
                      "JSON parse error: control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3");
  assert_string_equal(parse_error("\"abc", 4), "JSON parse error: EOF while parsing a string at line 1 column 4");
  assert_string_equal(parse_error("1.", 2), "JSON parse error: EOF while parsing a value at line 1 column 2");
  assert_string_equal(parse_error("-", 1), "JSON parse error: EOF while parsing a value at line 1 column 1");
  assert_string_equal(parse_error("tru", 3), "JSON parse error: EOF while parsing a value at line 1 column 3");
  /* Not NUL-terminated: the parser must stay inside [text, text+len). */
  assert_string_equal(parse_error("123456", 0), "JSON parse error: EOF while parsing a value at line 1 column 0");
  Value v2;
  assert_true(json_parse_value(vm, "[1,2]xyz", 5, &v2));
  assert_string_equal(D(v2), "[1, 2]");

  /* Depth limit: deep nesting fails cleanly instead of overflowing. */
  size_t n = 100000;
  char *deep = malloc(n);
  memset(deep, '[', n);
  const char *e = parse_error(deep, n);
  assert_non_null(strstr(e, "recursion limit exceeded"));
  free(deep);
  char ok500[1001];
  memset(ok500, '[', 500);
  memset(ok500 + 500, ']', 500);
  ok500[1000] = 0;
  parse(ok500);

  /* The builtin: errors are thrown strings. */
  assert_string_equal(FAILS("json_parse", S("{bad")),
                      "Thrown: JSON parse error: key must be a string at line 1 column 2");
  assert_string_equal(FAILS("json_parse", I(1)), "Thrown: JSON parse error: expected a string, got int");
  assert_string_equal(D(CALL("json_parse", S("{\"x\": [true]}"))), "{x: [true]}");
}

/* Every prefix and single-byte corruption of a document parses or fails
 * cleanly (a cheap stand-in for fuzzing). */
static void test_json_robust(void **state)
{
  const char *doc = "{\"a\":[1,-2.5e3,{\"b\":null}],\"c\":\"\\u00e9\\n\",\"d\":true}";
  size_t n = strlen(doc);
  char *buf = malloc(n);
  for (size_t len = 0; len <= n; len++) {
    Value v;
    memcpy(buf, doc, len);
    (void)json_parse_value(vm, buf, len, &v);
  }
  const char bytes[] = "{}[]\",:\\u0-9eE.+ tfn\x01\xff";
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < sizeof bytes - 1; k++) {
      Value v;
      memcpy(buf, doc, n);
      buf[i] = bytes[k];
      (void)json_parse_value(vm, buf, n, &v);
    }
  }
  free(buf);
  err_clear(vm);
}

static void test_json_stringify(void **state)
{
  ObjDict *d = dict_new(vm, 3);
  dict_set_cstr(vm, d, "b", S("x"));
  dict_set_cstr(vm, d, "a", list_of(3, I(1), F(2.5), val_nil()));
  dict_set_cstr(vm, d, "c", F(3.0));
  assert_string_equal(J(OBJ_VAL(d)), "{\"a\":[1,2.5,null],\"b\":\"x\",\"c\":3}");
  assert_string_equal(J(S("q\"b\\n\n\t\x01é")), "\"q\\\"b\\\\n\\n\\t\\u0001é\"");
  assert_string_equal(J(F(0.1)), "0.1");
  assert_string_equal(J(F(1e20)), "100000000000000000000");
  assert_string_equal(J(F(NAN)), "null");
  assert_string_equal(J(F(INFINITY)), "null");
  assert_string_equal(J(val_bool(false)), "false");
  assert_string_equal(J(val_duration(5000)), "null");
  assert_string_equal(J(val_builtin(0)), "null");
  assert_string_equal(J(CALL("set", I(1), I(2))), "[1,2]");
  assert_string_equal(J(OBJ_VAL(range_new(vm, 1, 3, false))), "\"1 to 3\"");
  assert_string_equal(J(CALL("Ok", I(1))), "null");
  assert_string_equal(J(CALL("pair", I(1), I(2))), "null");
  ObjDict *f = dict_new(vm, 2);
  dict_set_cstr(vm, f, "y", I(2));
  dict_set_cstr(vm, f, "x", I(1));
  ObjStruct *st = struct_new(vm, NULL, str_cstr(vm, "P"), f);
  assert_string_equal(J(OBJ_VAL(st)), "{\"x\":1,\"y\":2}");
  assert_string_equal(D(CALL("json_stringify", OBJ_VAL(d))), "{\"a\":[1,2.5,null],\"b\":\"x\",\"c\":3}");
  /* Round trip. */
  const char *text = "{\"a\":[1,2.5,null,{\"z\":\"\\u0001\"}],\"b\":\"\\\"\",\"c\":-7}";
  assert_string_equal(J(parse(text)), text);
}

static Value schema_person(void)
{
  ObjDict *name = dict_new(vm, 1);
  dict_set_cstr(vm, name, "type", S("string"));
  ObjDict *age = dict_new(vm, 2);
  dict_set_cstr(vm, age, "type", S("int"));
  dict_set_cstr(vm, age, "minimum", I(0));
  ObjDict *props = dict_new(vm, 2);
  dict_set_cstr(vm, props, "name", OBJ_VAL(name));
  dict_set_cstr(vm, props, "age", OBJ_VAL(age));
  ObjDict *s = dict_new(vm, 3);
  dict_set_cstr(vm, s, "type", S("object"));
  dict_set_cstr(vm, s, "required", list_of(2, S("name"), S("age")));
  dict_set_cstr(vm, s, "properties", OBJ_VAL(props));
  return OBJ_VAL(s);
}

static void test_schemas(void **state)
{
  Value schema = schema_person();
  Value good = parse("{\"name\": \"Ann\", \"age\": 3}");
  Value bad = parse("{\"name\": 5}");
  assert_true(AS_BOOL(CALL("json_validate", good, schema)));
  assert_string_equal(FAILS("json_validate", bad, schema),
                      "Thrown: at root: missing required key 'age'; "
                      "at root.name: expected type 'string', got 'int'");
  assert_int_equal(vm->err_kind, ERR_THROWN);
  assert_true(IS_STRING(vm->err_value));
  assert_string_equal(FAILS("json_validate", I(1), schema),
                      "Thrown: at root: expected type 'object', got 'int'");
  assert_string_equal(FAILS("json_validate", parse("{\"name\":\"a\",\"age\":-1}"), schema),
                      "Thrown: at root.age: expected a value >= 0, got -1");
  assert_true(AS_BOOL(CALL("schema_is", good, schema)));
  assert_false(AS_BOOL(CALL("schema_is", bad, schema)));
  assert_string_equal(D(CALL("schema_check", good, schema)), "Result.Ok({age: 3, name: Ann})");
  assert_string_equal(D(CALL("schema_parse", I(1), schema)),
                      "Result.Err(at root: expected type 'object', got 'int')");

  ObjDict *items = dict_new(vm, 1);
  dict_set_cstr(vm, items, "type", list_of(2, S("int"), S("nil")));
  ObjDict *ls = dict_new(vm, 2);
  dict_set_cstr(vm, ls, "type", S("list"));
  dict_set_cstr(vm, ls, "items", OBJ_VAL(items));
  dict_set_cstr(vm, ls, "max_length", I(3));
  assert_true(AS_BOOL(CALL("schema_is", parse("[1, null, 2]"), OBJ_VAL(ls))));
  assert_string_equal(FAILS("json_validate", parse("[1, \"x\", 2, 3]"), OBJ_VAL(ls)),
                      "Thrown: at root: expected length <= 3, got 4; "
                      "at root[1]: expected type 'int | nil', got 'string'");
  ObjDict *en = dict_new(vm, 1);
  dict_set_cstr(vm, en, "enum", list_of(2, S("a"), S("b")));
  assert_string_equal(FAILS("json_validate", S("c"), OBJ_VAL(en)),
                      "Thrown: at root: expected one of [a, b], got c");
  ObjDict *closed = dict_new(vm, 2);
  dict_set_cstr(vm, closed, "properties", OBJ_VAL(dict_new(vm, 0)));
  dict_set_cstr(vm, closed, "additional_properties", val_bool(false));
  assert_string_equal(FAILS("json_validate", parse("{\"z\":1}"), OBJ_VAL(closed)),
                      "Thrown: at root: unexpected key 'z'");
  ObjDict *num = dict_new(vm, 1);
  dict_set_cstr(vm, num, "type", S("float"));
  assert_true(AS_BOOL(CALL("schema_is", I(1), OBJ_VAL(num))));
  assert_true(AS_BOOL(CALL("schema_is", I(1), I(5)))); /* not a schema: accepts */
}

/* ---- 12.7 time ---------------------------------------------------------------- */

static void test_time(void **state)
{
  Value t0 = CALL0("now_ms");
  assert_true(IS_INT(t0) && AS_INT(t0) > 1600000000000LL);
  Value m0 = CALL0("monotonic_ms");
  CALL("sleep_ms", I(20));
  Value m1 = CALL0("monotonic_ms");
  assert_true(AS_INT(m1) - AS_INT(m0) >= 19);
  assert_true(AS_INT(CALL0("elapsed")) >= 0);

  CALL("mock_time", I(1000));
  assert_int_equal(AS_INT(CALL0("now_ms")), 1000);
  CALL("advance_time", val_duration(500));
  assert_int_equal(AS_INT(CALL0("now_ms")), 1500);
  CALL("timer_start", S("t"));
  CALL("sleep", val_duration(60000)); /* mocked: returns at once */
  assert_int_equal(AS_INT(CALL0("now_ms")), 61500);
  assert_int_equal(AS_INT(CALL0("monotonic_ms")), 61500);
  assert_int_equal(AS_INT(CALL0("elapsed")), 60500);
  Value ms = CALL("timer_end", S("t"));
  assert_int_equal(AS_INT(ms), 60000);
  assert_string_equal(out1.data, "[timer] t: 60000ms\n");
  CALL("timer_end", S("never"));
  assert_string_equal(out1.data, "[timer] t: 60000ms\n[timer] never: 0ms\n");
  CALL0("unmock_time");
  assert_true(AS_INT(CALL0("now_ms")) > 1600000000000LL);
}

/* ---- state kept between calls is per VM (state.h) ------------------------ */

/* Two VMs of one process: a mocked clock, a timer or a seeded random
 * sequence of one is invisible to the other. */
static void test_per_vm_state(void **state)
{
  Vm *a = vm, *b = vm_new(NULL);
  CALL("mock_time", I(1000));
  CALL("timer_start", S("t"));
  CALL("rng_seed", I(7));
  double x1 = AS_FLOAT(CALL0("random"));

  vm = b;
  assert_true(AS_INT(CALL0("now_ms")) > 1600000000000LL);
  CALL("rng_seed", I(7));
  double y1 = AS_FLOAT(CALL0("random"));
  double y2 = AS_FLOAT(CALL0("random"));
  CALL("mock_time", I(5));

  vm = a;
  assert_int_equal(AS_INT(CALL0("now_ms")), 1000);
  double x2 = AS_FLOAT(CALL0("random"));
  assert_true(x1 == y1 && x2 == y2);
  buf_clear(&out1);
  CALL("timer_end", S("t"));
  assert_string_equal(out1.data, "[timer] t: 0ms\n");

  vm = b;
  assert_int_equal(AS_INT(CALL0("now_ms")), 5);
  vm_free(b);
  vm = a;
}

/* ---- 12.5 to_set, 13 shared state (builtins.c) ----------------------------- */

static void test_shared_state(void **state)
{
  assert_string_equal(D(CALL("to_set", list_of(4, I(2), I(1), I(2), I(3)))), "set(2, 1, 3)");
  assert_string_equal(D(CALL("to_set", val_nil())), "set()");

  Value c = CALL("shared_cell", I(1));
  gc_push_root(vm, c);
  assert_string_equal(val_type_name(c), "shared_cell");
  assert_int_equal(AS_INT(CALL("shared_set", c, I(2))), 1);
  assert_true(AS_BOOL(CALL("shared_cas", c, I(2), S("x"))));
  assert_false(AS_BOOL(CALL("shared_cas", c, I(2), I(3))));
  assert_string_equal(D(c), "<shared_cell:x>");
  assert_string_equal(FAILS("shared_get", I(1)),
                      "Thrown: shared_get: first argument must be a shared_cell or shared_map");

  /* mailbox messages and map contents survive collections */
  Value m = CALL("shared_map", val_nil());
  gc_push_root(vm, m);
  CALL("shared_set", m, S("k"), list_of(2, S("a"), S("b")));
  CALL("mailbox_open", S("box"));
  assert_true(AS_BOOL(CALL("mailbox_send", S("box"), list_of(1, S("payload")))));
  gc_collect(vm);
  gc_collect(vm);
  assert_string_equal(D(CALL("shared_get", m, S("k"))), "[a, b]");
  assert_string_equal(D(CALL("mailbox_receive", S("box"))), "[payload]");
  assert_true(IS_NIL(CALL("mailbox_receive", S("box"), I(0)))); /* timeout 0: no wait */
  assert_string_equal(FAILS("mailbox_receive", S("box")), "Runtime error: deadlock: every task is blocked");
  gc_pop_root(vm);
  gc_pop_root(vm);

  Value p = CALL("sync_mutex_acquire", S("m"));
  gc_push_root(vm, p);
  /* waiting goes through the scheduler: a lone task that waits for itself
   * is the scheduler's deadlock (as a receive on an empty channel) */
  assert_string_equal(FAILS("sync_mutex_acquire", S("m")), "Runtime error: deadlock: every task is blocked");
  assert_true(AS_BOOL(CALL("sync_release", p)));
  assert_false(AS_BOOL(CALL("sync_release", p)));
  gc_pop_root(vm);

  CALL("mock_time", I(0));
  CALL("circuit_breaker", S("cb"), I(1), val_duration(100));
  assert_string_equal(D(CALL("circuit_record_failure", S("cb"))), "open");
  CALL("advance_time", I(100));
  assert_string_equal(D(CALL("circuit_check", S("cb"))), "half_open");
  CALL0("unmock_time");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_table, setup, teardown),
    cmocka_unit_test_setup_teardown(test_output, setup, teardown),
    cmocka_unit_test_setup_teardown(test_types_conversion, setup, teardown),
    cmocka_unit_test_setup_teardown(test_asserts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_results, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_math, setup, teardown),
    cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
    cmocka_unit_test_setup_teardown(test_delegated, setup, teardown),
    cmocka_unit_test_setup_teardown(test_collections, setup, teardown),
    cmocka_unit_test_setup_teardown(test_json_parse, setup, teardown),
    cmocka_unit_test_setup_teardown(test_json_robust, setup, teardown),
    cmocka_unit_test_setup_teardown(test_json_stringify, setup, teardown),
    cmocka_unit_test_setup_teardown(test_schemas, setup, teardown),
    cmocka_unit_test_setup_teardown(test_time, setup, teardown),
    cmocka_unit_test_setup_teardown(test_per_vm_state, setup, teardown),
    cmocka_unit_test_setup_teardown(test_shared_state, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
