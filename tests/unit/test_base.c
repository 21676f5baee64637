/*
 * test_base.c: the base/ layer. The UTF-8 decoder's maximal-subpart rule
 * (Unicode 3.9, the examples of Table 3-8 among them), counting and
 * validation; the JSON escaper's output for every class of byte (an
 * invalid byte was written raw by json_stringify and as raw U+FFFD bytes in
 * records before the one escaper: both are checked against here), and its
 * \udcXX option; the signal name table in both directions.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/json_escape.h"
#include "base/path.h"
#include "base/suggest.h"
#include "base/signame.h"
#include "base/utf8.h"

/* The characters of [s] ([n] bytes) as "LEN:CP" items, an invalid one as
 * "LEN:!", joined by spaces. */
static void chars_are(const char *s, size_t n, const char *want)
{
  Buf b = {0};
  buf_append(&b, "", 0);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t len = utf8_decode(s + i, n - i, &cp);
    assert_true(len >= 1 && len <= 4 && len <= n - i);
    if (b.len) buf_putc(&b, ' ');
    if (cp == UTF8_INVALID) buf_printf(&b, "%zu:!", len);
    else buf_printf(&b, "%zu:%x", len, (unsigned)cp);
    i += len;
  }
  assert_string_equal(b.data, want);
  buf_free(&b);
}

static void test_utf8_decode(void **state)
{
  (void)state;
  chars_are("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10, "1:61 2:e9 3:20ac 4:1f600");
  chars_are("\xef\xbf\xbd", 3, "3:fffd");                 /* a real U+FFFD is valid */
  chars_are("\xf4\x8f\xbf\xbf", 4, "4:10ffff");           /* the last code point */
  chars_are("\xff\xfe", 2, "1:! 1:!");                    /* never in UTF-8 */
  chars_are("\x80\xbf", 2, "1:! 1:!");                    /* lone continuations */
  chars_are("\xc0\xaf\xc1\xbf", 4, "1:! 1:! 1:! 1:!");    /* overlong leads */
  chars_are("\xe0\x80\xaf", 3, "1:! 1:! 1:!");            /* overlong 3-byte */
  chars_are("\xed\xa0\x80", 3, "1:! 1:! 1:!");            /* surrogate */
  chars_are("\xf4\x90\x80\x80", 4, "1:! 1:! 1:! 1:!");    /* above U+10FFFF */
  chars_are("\xe2\x82" "A", 3, "2:! 1:41");               /* cut: one subpart */
  chars_are("\xf0\x9f\x98" "A", 4, "3:! 1:41");
  chars_are("\xe2\x82", 2, "2:!");                        /* cut by the end */
  chars_are("\xc3", 1, "1:!");
  /* Unicode 15 Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
  chars_are("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", 13,
            "1:61 3:! 2:! 1:! 1:62 1:! 1:63 1:! 1:! 1:64");
  assert_int_equal(utf8_char_len("\xe2\x82\xac", 3), 3);
  assert_int_equal(utf8_char_len("\xe2\x82\xac", 2), 2); /* the subpart, not past [n] */
}

static void test_utf8_count_valid(void **state)
{
  (void)state;
  assert_int_equal(utf8_count("", 0), 0);
  assert_int_equal(utf8_count("h\xc3\xa9llo \xe2\x82\xac", 10), 7);
  assert_int_equal(utf8_count("a\xff" "b\xe2\x82" "c", 6), 5);
  assert_int_equal(utf8_count("\xed\xa0\x80", 3), 3);
  assert_true(utf8_valid("", 0));
  assert_true(utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
  assert_true(utf8_valid("nul\0inside", 10));
  assert_false(utf8_valid("a\xff", 2));
  assert_false(utf8_valid("\xe2\x82", 2));
  assert_false(utf8_valid("\xed\xa0\x80", 3));
}

static void escaped_is(const char *s, size_t n, unsigned how, const char *want)
{
  Buf b = {0};
  json_escape(&b, s, n, how);
  assert_string_equal(b.data, want);
  buf_free(&b);
}

static void test_json_escape(void **state)
{
  (void)state;
  escaped_is("", 0, 0, "\"\"");
  escaped_is("plain text", 10, 0, "\"plain text\"");
  escaped_is("q\"b\\s/", 6, 0, "\"q\\\"b\\\\s/\"");
  escaped_is("\b\f\n\r\t", 5, 0, "\"\\b\\f\\n\\r\\t\"");
  escaped_is("\x01\x1f\x7f", 3, 0, "\"\\u0001\\u001f\\u007f\"");
  escaped_is("n\0l", 3, 0, "\"n\\u0000l\"");
  escaped_is("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, 0, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
  /* the old escapers wrote 0xFF raw (json_stringify) or as raw U+FFFD
   * bytes (records): both now give the escape, one per maximal subpart */
  escaped_is("a\xff" "b", 3, 0, "\"a\\ufffdb\"");
  escaped_is("\xe2\x82" "A\xed\xa0\x80", 6, 0, "\"\\ufffdA\\ufffd\\ufffd\\ufffd\"");
  escaped_is("\xef\xbf\xbd", 3, 0, "\"\xef\xbf\xbd\""); /* a real U+FFFD is copied */
  /* names: each invalid byte as \udcXX, so it reads back as the byte */
  escaped_is("id\xff", 3, JSON_ESCAPE_BYTES, "\"id\\udcff\"");
  escaped_is("\xe2\x82" "A", 3, JSON_ESCAPE_BYTES, "\"\\udce2\\udc82A\"");
  escaped_is("ok \xc3\xa9\x7f", 6, JSON_ESCAPE_BYTES, "\"ok \xc3\xa9\\u007f\"");
  /* appends to what is there */
  Buf b = {0};
  buf_puts(&b, "x=");
  json_escape(&b, "1", 1, 0);
  assert_string_equal(b.data, "x=\"1\"");
  buf_free(&b);
}

static void test_signame(void **state)
{
  (void)state;
  assert_string_equal(signame_name(SIGTERM), "SIGTERM");
  assert_string_equal(signame_name(SIGKILL), "SIGKILL");
  assert_string_equal(signame_name(SIGHUP), "SIGHUP");
  assert_null(signame_name(0));
  assert_null(signame_name(SIGRTMIN + 1));
  assert_int_equal(signame_number("SIGINT"), SIGINT);
  assert_int_equal(signame_number("SIGSEGV"), SIGSEGV);
  assert_int_equal(signame_number("sigint"), 0);
  assert_int_equal(signame_number("SIG"), 0);
  assert_int_equal(signame_number(NULL), 0);
  for (int s = 1; s < 32; s++) {
    const char *n = signame_name(s);
    if (n) assert_int_equal(signame_number(n), s);
  }
  char buf[SIGNAME_MAX];
  assert_string_equal(signame_fmt(SIGPIPE, buf), "SIGPIPE");
  assert_string_equal(signame_fmt(SIGRTMIN + 1, buf), "SIG35");
  assert_string_equal(signame_fmt(-2147483647 - 1, buf), "SIG-2147483648");
}

static void path_is(char *got, const char *want)
{
  assert_string_equal(got, want);
  free(got);
}

/* base/path.c: one normalisation for job ids, grants and the file builtins */
static void test_path(void **state)
{
  (void)state;
  path_is(path_normal("./a//b/"), "a/b");
  path_is(path_normal("a/../../b"), "../b");
  path_is(path_normal("../../x"), "../../x");
  path_is(path_normal("a/.."), ".");
  path_is(path_normal(""), ".");
  path_is(path_normal("/../a/./b/.."), "/a");
  path_is(path_normal("/x/y/../../.."), "/");
  path_is(path_absolute("/w", "jobs/../a.harn"), "/w/a.harn");
  path_is(path_absolute("/w", "/etc//x"), "/etc/x");
  path_is(path_absolute(NULL, "a"), "/a");
  path_is(path_absolute("relative", "a"), "/a");
}

/* base/suggest.c: the nearest option or key, or none */
static void test_suggest(void **state)
{
  (void)state;
  static const char *const c[] = {"timeout", "retries", "retry_on", NULL, "id"};
  assert_string_equal(suggest("timout", 6, c, 5), "timeout");
  assert_string_equal(suggest("retires", 7, c, 5), "retries"); /* a swap is one edit */
  assert_string_equal(suggest("di", 2, c, 5), "id");
  assert_null(suggest("memory", 6, c, 5));
  assert_null(suggest("timeout", 7, c, 5)); /* itself is no suggestion */
  assert_null(suggest("", 0, c, 5));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utf8_decode),
      cmocka_unit_test(test_utf8_count_valid),
      cmocka_unit_test(test_json_escape),
      cmocka_unit_test(test_signame),
      cmocka_unit_test(test_path),
      cmocka_unit_test(test_suggest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
