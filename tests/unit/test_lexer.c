/*
 * test_lexer.c: the tokenizer of docs/LANGUAGE.md section 2: token kinds and
 * 1-based character positions (UTF-8 aware), newline tokens and line
 * joins, comments, numbers and durations (2.3), the three string forms with
 * escapes, `${...}` pieces and the triple-quote dedent algorithm (2.4), the
 * exact lexer error texts (2.7) and the parse-error display of tokens (10.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vm/lexer.h"

/* Tokenize [src]; the caller frees with done(). */
typedef struct Lexed {
  Arena arena;
  TokenList toks;
  LexError err;
  bool ok;
} Lexed;

static void lex(Lexed *l, const char *src)
{
  memset(l, 0, sizeof *l);
  l->ok = lex_tokenize(&l->arena, src, strlen(src), 1, 1, true, &l->toks, &l->err);
}

static void done(Lexed *l)
{
  lex_free(&l->toks);
  arena_free(&l->arena);
}

/* Assert the kinds of all tokens (EOF included). */
static void kinds_are(const char *src, const TokKind *want, int n)
{
  Lexed l;
  lex(&l, src);
  assert_true(l.ok);
  assert_int_equal(l.toks.count, n);
  for (int i = 0; i < n; i++) assert_int_equal(l.toks.items[i].kind, want[i]);
  done(&l);
}

static void lex_error_is(const char *src, const char *want)
{
  Lexed l;
  lex(&l, src);
  assert_false(l.ok);
  assert_string_equal(l.err.message, want);
  done(&l);
}

/* The single string token of [src] rendered as pieces: literal text as is,
 * expression pieces as `${text}`. */
static void string_is(const char *src, const char *want)
{
  Lexed l;
  lex(&l, src);
  assert_true(l.ok);
  assert_int_equal(l.toks.count, 2);
  const Token *t = &l.toks.items[0];
  assert_int_equal(t->kind, TK_STRING);
  Buf b = {0};
  buf_puts(&b, "");
  for (int i = 0; i < t->nparts; i++) {
    if (t->parts[i].is_expr) buf_puts(&b, "${");
    buf_append(&b, t->parts[i].text, t->parts[i].len);
    if (t->parts[i].is_expr) buf_puts(&b, "}");
  }
  assert_string_equal(b.data, want);
  buf_free(&b);
  done(&l);
}

static void test_basic_tokens_and_positions(void **state)
{
  (void)state;
  Lexed l;
  lex(&l, "let x = 1\n  foo(a, b)");
  assert_true(l.ok);
  static const TokKind want[] = {TK_KW_LET, TK_IDENT, TK_ASSIGN, TK_INT, TK_NEWLINE,
                                 TK_IDENT, TK_LPAREN, TK_IDENT, TK_COMMA, TK_IDENT,
                                 TK_RPAREN, TK_EOF};
  assert_int_equal(l.toks.count, 12);
  for (int i = 0; i < 12; i++) assert_int_equal(l.toks.items[i].kind, want[i]);
  assert_int_equal(l.toks.items[1].line, 1);
  assert_int_equal(l.toks.items[1].col, 5);
  assert_string_equal(l.toks.items[1].name, "x");
  assert_int_equal(l.toks.items[4].col, 10); /* the newline itself */
  assert_int_equal(l.toks.items[5].line, 2);
  assert_int_equal(l.toks.items[5].col, 3);
  assert_int_equal(l.toks.items[9].col, 10);
  done(&l);
}

static void test_columns_count_characters(void **state)
{
  (void)state;
  Lexed l;
  lex(&l, "\"héllo→\" x ñ");
  assert_true(l.ok);
  assert_int_equal(l.toks.items[1].col, 10);
  assert_int_equal(l.toks.items[2].kind, TK_IDENT); /* Unicode letters are identifiers */
  assert_string_equal(l.toks.items[2].name, "ñ");
  assert_int_equal(l.toks.items[2].col, 12);
  done(&l);
  lex_error_is("a → b", "Unexpected character '→'");
}

static void test_keywords_and_contextual_words(void **state)
{
  (void)state;
  static const TokKind want[] = {TK_KW_PIPELINE, TK_KW_EXCLUSIVE, TK_KW_SKILL, TK_KW_EVAL_PACK,
                                 TK_IDENT, TK_IDENT, TK_IDENT, TK_IDENT, TK_IDENT, TK_IDENT,
                                 TK_EOF};
  kinds_are("pipeline exclusive skill eval_pack gen each settle not where type_of", want, 11);
}

static void test_operators(void **state)
{
  (void)state;
  static const TokKind want[] = {
      TK_EQEQ, TK_NEQ, TK_ANDAND, TK_OROR, TK_PIPE, TK_QQ, TK_STARSTAR, TK_QDOT, TK_ARROW,
      TK_PLUSEQ, TK_MINUSEQ, TK_STAREQ, TK_SLASHEQ, TK_PERCENTEQ, TK_LE, TK_GE, TK_DOT,
      TK_DOT, TK_DOT, TK_BAR, TK_AT, TK_QUESTION, TK_BANG, TK_EOF};
  kinds_are("== != && || |> ?? ** ?. -> += -= *= /= %= <= >= ... | @ ? !", want, 24);
  /* Two-character tokens win: `a---b` is `a`, `-`, `-`, `-`... but `->` first. */
  static const TokKind want2[] = {TK_IDENT, TK_ARROW, TK_MINUS, TK_IDENT, TK_EOF};
  kinds_are("a->-b", want2, 5);
  lex_error_is("a & b", "Unexpected character '&'");
  lex_error_is("x = `y`", "Unexpected character '`'");
  lex_error_is("a $ b", "Unexpected character '$'");
}

static void test_newlines_comments_joins(void **state)
{
  (void)state;
  /* The block comment hides one newline; the line join hides another. */
  static const TokKind want[] = {TK_IDENT, TK_NEWLINE, TK_NEWLINE, TK_IDENT, TK_IDENT,
                                 TK_NEWLINE, TK_NEWLINE, TK_INT, TK_EOF};
  kinds_are("a // c\n/* x\n /* nested */ y */\nb \\\n c\n/// doc\n1", want, 9);
  lex_error_is("1 /* a /* b */", "Unterminated block comment");
  lex_error_is("x\n  # no", "Unexpected character '#'");
  static const TokKind shebang[] = {TK_NEWLINE, TK_INT, TK_EOF};
  kinds_are("#!/usr/bin/env harn\n1", shebang, 3);
}

static void test_numbers_and_durations(void **state)
{
  (void)state;
  Lexed l;
  lex(&l, "123 1.5 500ms 5s 2m 1h 3d 2w 5sec 1. 42.foo 9223372036854775808 3ms2");
  assert_true(l.ok);
  Token *t = l.toks.items;
  assert_int_equal(t[0].kind, TK_INT);
  assert_int_equal(t[0].ival, 123);
  assert_int_equal(t[1].kind, TK_FLOAT);
  assert_true(t[1].fval == 1.5);
  static const int64_t ms[] = {500, 5000, 120000, 3600000, 259200000, 1209600000};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(t[2 + i].kind, TK_DURATION);
    assert_int_equal(t[2 + i].ival, ms[i]);
  }
  assert_int_equal(t[8].kind, TK_INT); /* 5sec: int then identifier */
  assert_int_equal(t[9].kind, TK_IDENT);
  assert_string_equal(t[9].name, "sec");
  assert_int_equal(t[10].kind, TK_INT); /* 1. : int then dot */
  assert_int_equal(t[11].kind, TK_DOT);
  assert_int_equal(t[12].kind, TK_INT); /* 42.foo */
  assert_int_equal(t[13].kind, TK_DOT);
  assert_int_equal(t[14].kind, TK_IDENT);
  assert_int_equal(t[15].kind, TK_FLOAT); /* too big for i64 */
  assert_true(t[15].fval == 9223372036854775808.0);
  assert_int_equal(t[16].kind, TK_INT); /* 3ms2: suffix followed by a digit */
  assert_int_equal(t[17].kind, TK_IDENT);
  assert_string_equal(t[17].name, "ms2");
  done(&l);
  static const TokKind neg[] = {TK_MINUS, TK_INT, TK_EOF};
  kinds_are("-5", neg, 3);
}

static void test_plain_strings_and_escapes(void **state)
{
  (void)state;
  string_is("\"a\\nb\\tc\\\\d\\\"e\\$f\"", "a\nb\tc\\d\"e$f");
  string_is("\"\\d\\r\"", "\\d\\r"); /* unknown escapes keep both characters */
  string_is("\"\\${x}\"", "${x}");
  string_is("\"cost: $5\"", "cost: $5");
  string_is("\"\"", "");
  string_is("r\"a\\nb${x}\"", "a\\nb${x}");
  lex_error_is("x = \"abc", "Unterminated string");
  lex_error_is("\"ab\ncd\"", "Unterminated string");
  lex_error_is("r\"ab", "Unterminated string");
}

static void test_interpolation_pieces(void **state)
{
  (void)state;
  string_is("\"x ${a + b} y ${ c }\"", "x ${a + b} y ${ c }");
  string_is("\"${d[\"k\"]}\"", "${d[\"k\"]}");
  string_is("\"${ {a: {b: 1}} }\"", "${ {a: {b: 1}} }");
  lex_error_is("\"${}\"", "Unexpected character '}'");
  lex_error_is("\"${a\"", "Unterminated string");
  /* Positions of expression pieces point into the source. */
  Lexed l;
  lex(&l, "  \"é${abc}\"");
  assert_true(l.ok);
  const Token *t = &l.toks.items[0];
  assert_int_equal(t->nparts, 2);
  assert_true(t->parts[1].is_expr);
  assert_int_equal(t->parts[1].line, 1);
  assert_int_equal(t->parts[1].col, 7);
  done(&l);
}

static void test_triple_quoted_dedent(void **state)
{
  (void)state;
  /* The example of 2.4. */
  string_is("\"\"\"\n    a\n      b\n    \"\"\"", "a\n  b");
  /* Common indent 0: only one trailing newline goes. */
  string_is("\"\"\"\na\n  b\n\"\"\"", "a\n  b");
  string_is("\"\"\"x\n\n\"\"\"", "x\n");
  /* Blank and whitespace-only lines do not count for the indent. */
  string_is("\"\"\"\n    a\n\n  \n    b\n    \"\"\"", "a\n\n\nb");
  /* No escapes in triple-quoted strings. */
  string_is("\"\"\"a\\nb\"\"\"", "a\\nb");
  /* Interpolation: lines dedented across pieces, one final newline dropped. */
  string_is("\"\"\"\n    Hello ${name}\n    bye\n    \"\"\"", "Hello ${name}\nbye");
  /* Issue 17: a line that starts with an interpolation is dedented like
   * any other line (and keeps its newline). */
  string_is("\"\"\"\n    x ${a}\n    ${b}\n    \"\"\"", "x ${a}\n${b}");
  string_is("\"\"\"\n    ${a}\n    ${b}\n    \"\"\"", "${a}\n${b}");
  string_is("\"\"\"\n    ${a} x\n      y ${b} z\n    \"\"\"", "${a} x\n  y ${b} z");
  /* Indent 0 with interpolation: only a final whitespace-only piece goes. */
  string_is("\"\"\"\n${a}\n\"\"\"", "${a}");
  string_is("\"\"\"x ${a} y\n\"\"\"", "x ${a} y\n");
  lex_error_is("s = \"\"\"abc\n", "Unterminated string");
}

static void test_token_display(void **state)
{
  (void)state;
  Lexed l;
  lex(&l, "foo \"s\" 5 1.5 500ms 2s match } \n");
  assert_true(l.ok);
  static const char *const want[] = {"id(foo)", "str(s)", "int(5)", "float(1.5)",
                                     "duration(500ms)", "duration(2000ms)", "match", "}",
                                     "\\n", "EOF"};
  assert_int_equal(l.toks.count, 10);
  for (int i = 0; i < 10; i++) {
    Buf b = {0};
    lex_token_display(&l.toks.items[i], &b);
    assert_string_equal(b.data, want[i]);
    buf_free(&b);
  }
  done(&l);
}

static void test_no_read_past_len(void **state)
{
  (void)state;
  /* Only the first 3 bytes belong to the source: "ab\"" must be an
   * unterminated string even though the buffer continues. */
  const char buf[] = "x \"abc\"";
  Arena a = {0};
  TokenList tl = {0};
  LexError err;
  assert_false(lex_tokenize(&a, buf, 4, 1, 1, true, &tl, &err));
  assert_string_equal(err.message, "Unterminated string");
  lex_free(&tl);
  assert_true(lex_tokenize(&a, buf, 1, 1, 1, true, &tl, &err));
  assert_int_equal(tl.count, 2);
  lex_free(&tl);
  /* Truncated UTF-8 at the end of the buffer. */
  assert_false(lex_tokenize(&a, "\xC3", 1, 1, 1, true, &tl, &err));
  lex_free(&tl);
  arena_free(&a);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic_tokens_and_positions),
      cmocka_unit_test(test_columns_count_characters),
      cmocka_unit_test(test_keywords_and_contextual_words),
      cmocka_unit_test(test_operators),
      cmocka_unit_test(test_newlines_comments_joins),
      cmocka_unit_test(test_numbers_and_durations),
      cmocka_unit_test(test_plain_strings_and_escapes),
      cmocka_unit_test(test_interpolation_pieces),
      cmocka_unit_test(test_triple_quoted_dedent),
      cmocka_unit_test(test_token_display),
      cmocka_unit_test(test_no_read_past_len),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
