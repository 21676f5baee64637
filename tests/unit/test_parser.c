/*
 * test_parser.c: the parser of docs/LANGUAGE.md 2.6 and 5-9, checked through
 * parse_dump()'s S-expressions: precedence and associativity (5.1),
 * newline rules (2.6), lambda-vs-dict, struct literals, postfix `?` vs
 * ternary, pipe placeholders, interpolation (including the literal fallback),
 * declarations, patterns, bindings, the concurrency forms, the exact parse
 * error texts of 10.1, and robustness (nesting limit, garbage input).
 *
 * Dump notation (parser.c): `(op a b)` for operators, `(call f args)`,
 * `(.m recv args)` for methods, `(. recv p)` for properties, `([] r i)`,
 * `(try? e)` for postfix `?`, `(|>_ a f)` for a pipe with placeholder,
 * `(= v)` for value patterns; expression statements print bare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/parser.h"

/* Assert that [src] parses and dumps as "(program " + [want] + ")". */
static void parses_as(const char *src, const char *want)
{
  Arena a = {0};
  ParseError err;
  Node *n = parse_program(&a, src, strlen(src), &err);
  if (!n) fail_msg("parse failed for <%s>: %s", src, err.message);
  Buf b = {0}, w = {0};
  parse_dump(n, &b);
  buf_printf(&w, "(program%s%s)", want[0] ? " " : "", want);
  arena_free(&a);
  if (strcmp(b.data, w.data) != 0) {
    print_error("source: %s\n", src);
  }
  assert_string_equal(b.data, w.data);
  buf_free(&b);
  buf_free(&w);
}

/* Assert that [src] fails with exactly [want]. */
static void fails_with(const char *src, const char *want)
{
  Arena a = {0};
  ParseError err;
  Node *n = parse_program(&a, src, strlen(src), &err);
  arena_free(&a);
  if (n) fail_msg("expected an error for <%s>", src);
  assert_string_equal(err.message, want);
}

/* Assert that [src] fails with exactly the [n] errors "L:C message" in
 * [want] (recovery, docs/LANGUAGE.md 10.3). */
static void errors_are(const char *src, int n, const char *const *want)
{
  Arena a = {0};
  ParseError *err = calloc(1, sizeof *err);
  assert_non_null(err);
  Node *p = parse_program(&a, src, strlen(src), err);
  arena_free(&a);
  if (p) fail_msg("expected errors for <%s>", src);
  for (int i = 0; i < err->ndiags && i < n; i++) {
    char got[400];
    snprintf(got, sizeof got, "%d:%d %s", err->diags[i].line, err->diags[i].col,
             err->diags[i].message);
    assert_string_equal(got, want[i]);
  }
  assert_int_equal(err->ndiags, n);
  free(err);
}

static void test_precedence(void **state)
{
  (void)state;
  parses_as("1 + 2 * 3", "(+ 1 (* 2 3))");
  parses_as("1 - 2 - 3", "(- (- 1 2) 3)");
  parses_as("-2 ** 2", "(** (- 2) 2)");
  parses_as("2 ** 3 ** 2", "(** 2 (** 3 2))");
  parses_as("2 ** -1", "(** 2 (- 1))");
  parses_as("a ?? 0 + 1", "(+ (?? a 0) 1)");
  parses_as("a ?? b * c", "(?? a (* b c))");
  parses_as("a || b && c == d < e + f * g", "(|| a (&& b (== c (< d (+ e (* f g))))))");
  parses_as("!a == b", "(== (! a) b)");
  parses_as("x in xs && y not in ys", "(&& (in x xs) (not-in y ys))");
  parses_as("a |> f |> g", "(|> (|> a f) g)");
  parses_as("1 to n + 1", "(to 1 (+ n 1))");
  parses_as("0 to 3 exclusive", "(to-excl 0 3)");
  parses_as("xs |> a to b", "(|> xs (to a b))");
  parses_as("c ? a + 1 : b", "(? c (+ a 1) b)");
  parses_as("c || d ? 1 : 2", "(? (|| c d) 1 2)");
  parses_as("a.b.c(1)[2]", "([] (.c (. a b) 1) 2)");
  parses_as("-x.y", "(- (. x y))");
}

static void test_postfix_question_vs_ternary(void **state)
{
  (void)state;
  parses_as("x?", "(try? x)");
  parses_as("f(x)? + 1", "(+ (try? (call f x)) 1)");
  parses_as("x?[0]", "(?[] x 0)");
  parses_as("x?.y?.z()", "(?.z (?. x y))");
  parses_as("c ? x : y", "(? c x y)");
  parses_as("c ? \"a\" : nil", "(? c \"a\" nil)");
  parses_as("c ? -1 : !d", "(? c (- 1) (! d))");
  parses_as("c ? (1) : {a: 1}", "(? c 1 (dict (\"a\" 1)))");
  parses_as("c ? fn(x) { x } : nil", "(? c (lambda (x) (block x)) nil)");
  parses_as("let v = r?\nv", "(let v (try? r)) v");
  /* ternary is non-associative: nesting needs parentheses */
  fails_with("a ? b : c ? d : e",
             "expected top-level item separator (`;` or newline), found ?");
  parses_as("a ? b : (c ? d : e)", "(? a b (? c d e))");
}

static void test_calls_and_members(void **state)
{
  (void)state;
  parses_as("f(1, ...xs, g(2))", "(call f 1 (... xs) (call g 2))");
  parses_as("x.type + x?.match", "(+ (. x type) (?. x match))");
  parses_as("42.foo", "(. 42 foo)");
  parses_as("x[1:2]; x[:2]; x[1:]; x[:]",
            "(slice x 1 2) (slice x _ 2) (slice x 1 _) (slice x _ _)");
  /* the result of a call is not callable */
  fails_with("f(1)(2)", "expected top-level item separator (`;` or newline), found (");
  fails_with("(f)(2)", "expected top-level item separator (`;` or newline), found (");
}

static void test_newlines(void **state)
{
  (void)state;
  parses_as("let x = a\n  .map(f)\n  |> g", "(let x (|> (.map a f) g))");
  parses_as("x = a\n  + b\n  * c\n  ?? d", "(= x (+ a (?? (* b c) d)))");
  parses_as("a &&\n b", "(&& a b)");
  parses_as("a ||\n\n b", "(|| a b)");
  /* a leading `-`, `(`, `[`, `in`, `to`, `?` starts a new statement */
  parses_as("let x = a\n-1", "(let x a) (- 1)");
  parses_as("f\n(1)", "f 1");
  parses_as("xs\n[0]", "xs (list 0)");
  /* newlines are free inside brackets; commas optional between lines */
  parses_as("[1\n2\n3]", "(list 1 2 3)");
  parses_as("[1, 2,]", "(list 1 2)");
  parses_as("[\n  a\n  ...b\n]", "(list a (... b))");
  parses_as("f(\n  1,\n  2\n)", "(call f 1 2)");
  parses_as("{\n  a: 1\n  b: 2,\n}", "(dict (\"a\" 1) (\"b\" 2))");
  /* else / catch / finally on the line after `}` */
  parses_as("if a { 1 }\nelse if b { 2 }\nelse { 3 }", "(if a (block 1) (if b (block 2) (block 3)))");
  parses_as("try { f() }\ncatch (e) { 1 }\nfinally { 2 }",
            "(try (block (call f)) (catch e (block 1)) (finally (block 2)))");
  /* `;` only between items */
  parses_as("a; b\nc;\nd", "a b c d");
  fails_with("x = 1;;", "expected expression, found ;");
  fails_with(";x", "expected expression, found ;");
  fails_with("if a { 1 } ; else { 2 }", "expected expression, found else");
  fails_with("try { 1 }; catch { 2 }", "expected expression, found catch");
  fails_with("a b", "expected top-level item separator (`;` or newline), found id(b)");
  fails_with("fn f() { a b }", "expected statement separator (`;` or newline), found id(b)");
  parses_as("x = 1 \\\n + 2", "(= x (+ 1 2))");
}

static void test_lambdas_dicts_structs(void **state)
{
  (void)state;
  parses_as("{ x, y -> x + y }", "(lambda (x y) (block (+ x y)))");
  parses_as("{ -> 42 }", "(lambda () (block 42))");
  parses_as("{ x: int -> x }", "(lambda (x:int) (block x))");
  parses_as("{}", "(dict)");
  parses_as("{a: { -> 1 }}", "(dict (\"a\" (lambda () (block 1))))");
  parses_as("{match: 1, \"a b\": 2, [k]: 3, ...d}",
            "(dict (\"match\" 1) (\"a b\" 2) (k 3) (... d))");
  parses_as("xs.map({ x -> x * 2 })", "(.map xs (lambda (x) (block (* x 2))))");
  parses_as("fn(a, b = 2) { a }", "(lambda (a b=2) (block a))");
  parses_as("Point { x: 1, y: 2 }", "(struct Point (\"x\" 1) (\"y\" 2))");
  parses_as("Point {}", "(struct Point)");
  parses_as("[Box {\n  label: \"c\"\n}]", "(list (struct Box (\"label\" \"c\")))");
  /* lowercase names and non-field braces are not struct literals */
  parses_as("if x == Foo { log(1) }", "(if (== x Foo) (block (call log 1)))");
  parses_as("for b in Items { b }", "(for b Items (block b))");
}

static void test_pipes(void **state)
{
  (void)state;
  parses_as("xs |> f", "(|> xs f)");
  parses_as("s |> split(_, \",\")", "(|>_ s (call split _ \",\"))");
  parses_as("xs |> _.reverse()", "(|>_ xs (.reverse _))");
  parses_as("xs |> map(_, { x -> x + _ })", "(|>_ xs (call map _ (lambda (x) (block (+ x _)))))");
  parses_as("_ |> f", "(|> _ f)");
}

static void test_strings_and_interpolation(void **state)
{
  (void)state;
  parses_as("\"a\\n\\d\"", "\"a\\n\\\\d\"");
  parses_as("\"x ${a + b} y\"", "(interp \"x \" (+ a b) \" y\")");
  parses_as("\"${ d[\"k\"] }\"", "(interp ([] d \"k\"))");
  parses_as("\"${\"${a}\"}\"", "(interp (interp a))");
  /* not one expression: the raw text between `${` and `}` stays literal */
  parses_as("\"<${a b}>\"", "(interp \"<\" \"a b\" \">\")");
  parses_as("\"${1 +}\"", "(interp \"1 +\")");
  parses_as("\"${a # b}\"", "(interp \"a # b\")");
  parses_as("\"\"\"\n  v=${x}\n  \"\"\"", "(interp \"v=\" x)");
  fails_with("\"${}\"", "Unexpected character '}'");
  fails_with("let s = \"abc", "Unterminated string");
  /* positions of interpolated expressions point into the source */
  Arena a = {0};
  ParseError err;
  const char *src = "let s = \"ab ${x + y}\"";
  Node *p = parse_program(&a, src, strlen(src), &err);
  assert_non_null(p);
  Node *interp = p->as.list.items[0]->as.let.value;
  assert_int_equal(interp->kind, N_INTERP);
  Node *sum = interp->as.list.items[1];
  assert_int_equal(sum->kind, N_BINARY);
  assert_int_equal(sum->line, 1);
  assert_int_equal(sum->col, 17);
  arena_free(&a);
}

/* `f<T, U>(...)` is a call with explicit type arguments only when the
 * types are closed by `>` right before `(`; otherwise `<` compares. */
static void test_explicit_type_args(void **state)
{
  (void)state;
  parses_as("f<int>(1)", "(call f <int> 1)");
  parses_as("f<int, string>(1, \"a\")", "(call f <int string> 1 \"a\")");
  parses_as("f<list<int>, dict<string, int>>()", "(call f <list<int> dict<string, int>>)");
  parses_as("a < b", "(< a b)");
  parses_as("a < b && c > d", "(&& (< a b) (> c d))");
  parses_as("a < b > c", "(> (< a b) c)");
  parses_as("a < (b)", "(< a b)");
  parses_as("a < b\n(c)", "(< a b) c");
  parses_as("a < f(b)", "(< a (call f b))");
  fails_with("f<int>", "unexpected end of file, expected expression");
}

static void test_recovery(void **state)
{
  (void)state;
  /* every statement is a recovery point, in blocks and at top level */
  const char *const w2[] = {"2:16 expected expression, found )", "3:7 expected expression, found =",
                            "5:13 expected expression, found *"};
  errors_are("fn f(a) {\n  let y = (a + )\n  y = = 3\n}\nlet ok = 1 +* 2\nok", 3, w2);
  /* a missing `)` does not swallow the next declaration */
  const char *const w3[] = {"2:1 expected expression, found let",
                            "3:9 expected expression, found ;"};
  errors_are("let a = f(1, 2,\nlet b = 3\nlet c = ;", 2, w3);
  /* an error at end of file ends the parse: no cascade of missing closers */
  const char *const w4[] = {"1:9 expected expression, found ;",
                            "2:23 unexpected end of file, expected )"};
  errors_are("let a = ;\nfn f() { if x { g(1, 2", 2, w4);
  /* the cap: PARSE_MAX_ERRORS kept, then truncated */
  Buf b = {0};
  for (int i = 0; i < 30; i++) buf_puts(&b, "let v = )\n");
  Arena a = {0};
  ParseError *err = calloc(1, sizeof *err);
  assert_non_null(err);
  assert_null(parse_program(&a, b.data, b.len, err));
  assert_int_equal(err->ndiags, PARSE_MAX_ERRORS);
  assert_true(err->truncated);
  assert_int_equal(err->diags[19].line, 20);
  free(err);
  arena_free(&a);
  buf_free(&b);
  /* labels and help */
  a = (Arena){0};
  err = calloc(1, sizeof *err);
  assert_non_null(err);
  assert_null(parse_program(&a, "let x = a.\nfoo(1\n", 16, err));
  assert_int_equal(err->ndiags, 2);
  assert_string_equal(err->diags[0].label, "line break not allowed here");
  assert_null(err->diags[0].help);
  assert_string_equal(err->diags[1].label, "file ends here");
  assert_string_equal(err->diags[1].help,
                      "add a closing `)` to finish this expression or parameter list");
  assert_int_equal(err->diags[1].line, 2);
  assert_int_equal(err->diags[1].col, 6);
  free(err);
  arena_free(&a);
  /* an interpolation that does not parse stays literal text, no error */
  parses_as("\"${ { x -> let = 1 } }\"", "(interp \" { x -> let = 1 } \")");
}

static void test_declarations(void **state)
{
  (void)state;
  parses_as("fn f(a: int, b: string = \"x\", ...rest) -> int { return a }",
            "(fn f (a:int b:string=\"x\" ...rest) (block (return a)))");
  parses_as("pub fn id<T>(x: T) -> T where T: Foo, U: Bar + Baz { x }",
            "(fn pub id (x:T) (block x))");
  /* bare identifier attribute arguments, alone or with named ones */
  parses_as("@deprecated(allow)\npub fn f() {}", "(fn pub @deprecated[allow] f () (block))");
  parses_as("@lint(allow, deny, level: 2) fn f() {}",
            "(fn @lint[allow deny]( (\"level\" 2)) f () (block))");
  fails_with("@lint(allow level) fn f() {}", "expected ), found id(level)");
  parses_as("@step(name: \"s\", budget: {max_ms: 10})\npub fn f() {}",
            "(fn pub @step( (\"name\" \"s\") (\"budget\" (dict (\"max_ms\" 10)))) f () (block))");
  parses_as("gen fn nums() -> Stream<int> { emit 1 }", "(fn gen nums () (block (emit 1)))");
  parses_as("fn g() { yield\n yield 1 }", "(fn g () (block (yield _) (yield 1)))");
  parses_as("fn f(u: {name: string, age?: int}, k: \"a\" | \"b\", l: [int], c: fn(int) -> bool) {}",
            "(fn f (u:{name: string, age?: int} k:(\"a\" | \"b\") l:[int] c:fn(int)) (block))");
  parses_as("struct P { x: int, name?: string\n y }", "(struct-decl P (x:int name:string y))");
  parses_as("enum E { A, B(x: int, y)\n C(string) }", "(enum E A B(x:int y) C(string))");
  parses_as("impl P {\n  fn f(self) { 1 }\n  pub fn g(self) {}\n}",
            "(impl P (fn f (self) (block 1)) (fn pub g (self) (block)))");
  parses_as("interface Named { fn name(self) -> string\n type Item }", "(interface)");
  parses_as("pub type T<A> = list<A> | nil | -1", "(type pub T (list<A> | nil | -1))");
  parses_as("import \"std/math\"\nimport { a, b } from \"./util\"\npub import \"./x\"",
            "(import \"std/math\") (import \"./util\" a b) (import pub \"./x\")");
  parses_as("pipeline child(task) -> int extends parent {\n  override setup() { 1 }\n  log(2)\n}",
            "(pipeline child (task) extends parent (block (call log 2)))");
  fails_with("fn f(a, b = 1, c) {}",
             "Required parameter cannot follow a parameter with a default value");
  fails_with("fn f(...a, b) {}", "Rest parameter must be the last parameter");
}

static void test_statements_and_bindings(void **state)
{
  (void)state;
  parses_as("let {a, b: renamed, c = 5, ...rest} = d",
            "(let {a:a b:renamed c:c=5 ...rest} d)");
  parses_as("let [x, _, ...r] = xs", "(let [x _ ...r] xs)");
  parses_as("var z: int = 3", "(var z 3)");
  parses_as("for (k, v) in pairs { }", "(for (k v) pairs (block))");
  parses_as("x.f = 1; x[0] += 2; x -= 1", "(= (. x f) 1) (+= ([] x 0) 2) (-= x 1)");
  parses_as("while (i < 3) { i += 1; continue }", "(while (< i 3) (block (+= i 1) (continue)))");
  parses_as("guard x else { return }\nrequire x, \"m\"\ndefer { log(1) }\nthrow \"e\"",
            "(guard x (block (return _))) (require x \"m\") (defer (block (call log 1))) "
            "(throw \"e\")");
  parses_as("try { f() } catch e { 1 }", "(try (block (call f)) (catch e (block 1)))");
  parses_as("try { f() } catch { 1 }", "(try (block (call f)) (catch _ (block 1)))");
  parses_as("try { f() } catch (e: AppError) { 1 }",
            "(try (block (call f)) (catch e:AppError (block 1)))");
  parses_as("let r = try { f() }", "(let r (try (block (call f))))");
  parses_as("let r = try* f() ?? 1", "(let r (?? (try* (call f)) 1))");
  fails_with("f() = 1", "Invalid assignment target");
}

static void test_match_patterns(void **state)
{
  (void)state;
  parses_as("match v {\n"
            "  0 -> { \"zero\" }\n"
            "  1 | 2 -> { \"small\" }\n"
            "  n if n < 0 -> { n }\n"
            "  Shape.Circle(r) -> { r }\n"
            "  Color.Red -> { 1 }\n"
            "  {kind: \"user\", name} -> { name }\n"
            "  [first, _, 3] -> { first }\n"
            "  -1 -> { 1 }\n"
            "  _ -> { \"other\" }\n"
            "}",
            "(match v (arm (= 0) (block \"zero\")) (arm (| (= 1) (= 2)) (block \"small\")) "
            "(arm n if (< n 0) (block n)) (arm (Shape.Circle r) (block r)) "
            "(arm Color.Red (block 1)) (arm {kind:(= \"user\") name:name} (block name)) "
            "(arm [first _ (= 3)] (block first)) (arm (= (- 1)) (block 1)) "
            "(arm _ (block \"other\")))");
  fails_with("match x { 1 { 2 } }", "expected ->, found {");
}

static void test_concurrency_forms(void **state)
{
  (void)state;
  parses_as("parallel(3) { i -> i }", "(parallel count i 3 (block i))");
  parses_as("parallel each xs { x -> x } as stream", "(parallel each x xs (block x) stream)");
  parses_as("parallel settle xs with { max_concurrent: 2 } { x -> x }",
            "(parallel settle x xs (block x) with (dict (\"max_concurrent\" 2)))");
  parses_as("select {\n  v from ch { 1 }\n  timeout 1s { 2 }\n}",
            "(select (from v ch (block 1)) (timeout (dur 1000) (block 2)))");
  parses_as("select {\n  from ch { 1 }\n  default { 2 }\n}",
            "(select (from _ ch (block 1)) (default (block 2)))");
  fails_with("select {\n  default { 1 }\n  timeout 1s { 2 }\n}",
             "select cannot have both timeout and default");
  parses_as("deadline 5s { 1 }; deadline (d) { 2 }; mutex { 3 }; mutex k { 4 }",
            "(deadline (dur 5000) (block 1)) (deadline d (block 2)) (mutex _ (block 3)) "
            "(mutex k (block 4))");
  parses_as("retry 3 { 4 }; let h = spawn { 5 }", "(retry 3 (block 4)) (let h (spawn (block 5)))");
}

static void test_error_texts(void **state)
{
  (void)state;
  fails_with("fn f() {", "unexpected end of file, expected }");
  fails_with("let x = ", "unexpected end of file, expected expression");
  fails_with("f(1", "unexpected end of file, expected )");
  fails_with("[1 2]", "expected ], found int(2)");
  fails_with("let x = )", "expected expression, found )");
  fails_with("x = 1.5 2s", "expected top-level item separator (`;` or newline), found duration(2000ms)");
  fails_with("x = 1 1.5", "expected top-level item separator (`;` or newline), found float(1.5)");
  fails_with("x = 1 \"s\"", "expected top-level item separator (`;` or newline), found str(s)");
  fails_with("x = 1 match", "expected top-level item separator (`;` or newline), found match");
  fails_with("if x {\n}\n}", "expected expression, found }");
  fails_with("let x = (1\n", "unexpected end of file, expected )");
  fails_with("let = 1", "expected identifier, found =");
  fails_with("x /* open", "Unterminated block comment");
  fails_with("a\n#", "Unexpected character '#'");
  /* the lexer runs first: its error wins over an earlier parse error */
  fails_with("let = 1\n`", "Unexpected character '`'");
  /* ParseError carries the position */
  Arena a = {0};
  ParseError err;
  assert_null(parse_program(&a, "x\n  )", 5, &err));
  assert_int_equal(err.line, 2);
  assert_int_equal(err.col, 3);
  arena_free(&a);
}

static void test_nesting_limit(void **state)
{
  (void)state;
  static const char *const openers[] = {"(", "[", "-", "{a: ", "f(", "\"${"};
  for (size_t k = 0; k < sizeof openers / sizeof openers[0]; k++) {
    Buf b = {0};
    for (int i = 0; i < 5000; i++) buf_puts(&b, openers[k]);
    Arena a = {0};
    ParseError err;
    assert_null(parse_program(&a, b.data, b.len, &err));
    assert_true(strstr(err.message, "nested too deeply") || strstr(err.message, "Unterminated"));
    arena_free(&a);
    buf_free(&b);
  }
  /* long chains are bounded too (the tree depth is what the compiler sees) */
  Buf b = {0};
  buf_puts(&b, "x");
  for (int i = 0; i < 5000; i++) buf_puts(&b, ".a");
  Arena a = {0};
  ParseError err;
  assert_null(parse_program(&a, b.data, b.len, &err));
  assert_non_null(strstr(err.message, "Expression nested too deeply"));
  arena_free(&a);
  buf_free(&b);
  /* moderate nesting is fine */
  parses_as("((((((((((1))))))))))", "1");
}

static void test_garbage_never_crashes(void **state)
{
  (void)state;
  /* Pseudo-random byte soup biased towards Harn punctuation; every input
   * must end in a tree or a clean error message. */
  static const char alphabet[] = "{}()[]<>,:;.=!+-*/%?|@\"$\\\n abx_1r\xC3\xA9#`'";
  uint32_t seed = 12345;
  for (int iter = 0; iter < 3000; iter++) {
    char src[64];
    size_t n = (size_t)(iter % 64);
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      src[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
    }
    Arena a = {0};
    ParseError err;
    Node *p = parse_program(&a, src, n, &err);
    if (!p) assert_true(err.message[0] != 0);
    arena_free(&a);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_postfix_question_vs_ternary),
      cmocka_unit_test(test_calls_and_members),
      cmocka_unit_test(test_newlines),
      cmocka_unit_test(test_lambdas_dicts_structs),
      cmocka_unit_test(test_pipes),
      cmocka_unit_test(test_strings_and_interpolation),
      cmocka_unit_test(test_declarations),
      cmocka_unit_test(test_explicit_type_args),
      cmocka_unit_test(test_recovery),
      cmocka_unit_test(test_statements_and_bindings),
      cmocka_unit_test(test_match_patterns),
      cmocka_unit_test(test_concurrency_forms),
      cmocka_unit_test(test_error_texts),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_garbage_never_crashes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
