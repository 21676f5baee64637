/*
 * test_sup_input.c: what the supervisor reads from outside, against
 * hostile input (issue 19): the JSON parser of manifest lines, --input and
 * results lines (supervisor/json.c), the line reader of batch sources
 * (supervisor/linein.c) and the program reader (cli_read_file).
 *
 * Every string the parser returns is bounded and NUL-terminated, empty
 * ones included (malloc is made to return non-zero garbage, M_PERTURB, so
 * an unterminated empty string shows in every build, not only under
 * ASan); keys may hold NULs and are matched with their length; numbers
 * follow RFC 8259's grammar and are written back as given; nesting is
 * capped; \u escapes (pairs, lone surrogates, the \udcXX byte escape) and
 * ids of any bytes round-trip through sup_json_name. Lines longer than the
 * cap are reported (2) and skipped up to their '\n', with bounded memory,
 * from a regular file, a pipe fed piecewise and /dev/zero. Programs are
 * read up to SUP_MAX_PROGRAM bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "supervisor/cli.h"
#include "supervisor/sup_internal.h"

static SupJson *parse_ok(const char *text)
{
  const char *err = NULL;
  SupJson *j = sup_json_parse(text, strlen(text), &err);
  if (!j) fail_msg("%s: %s", text, err);
  assert_int_equal(sup_json_check(text, strlen(text), NULL), 0);
  return j;
}

static void parse_bad(const char *text, const char *want_err)
{
  const char *err = NULL;
  SupJson *j = sup_json_parse(text, strlen(text), &err);
  if (j) fail_msg("accepted: %s", text);
  assert_non_null(err);
  if (want_err) assert_string_equal(err, want_err);
  assert_int_equal(sup_json_check(text, strlen(text), NULL), -1);
}

/* [j] written compactly is [want]. */
static void written(const SupJson *j, const char *want)
{
  Buf b = {0};
  sup_json_write(&b, j);
  assert_string_equal(b.data, want);
  buf_free(&b);
}

/* ------------------------------------------------------------------ JSON */

/* "" anywhere: an id, a source, a key, a value inside "input". */
static void test_json_empty_strings(void **state)
{
  (void)state;
  SupJson *j = parse_ok("\"\"");
  assert_int_equal(j->type, SUP_JSON_STRING);
  assert_int_equal(j->slen, 0);
  assert_int_equal(j->str[0], '\0');
  sup_json_free(j);

  j = parse_ok("{\"id\": \"\", \"source\": \"\", \"\": \"\", \"input\": {\"\": \"\"}}");
  const SupJson *id = sup_json_get(j, "id"), *src = sup_json_get(j, "source"),
                *empty = sup_json_get(j, ""), *input = sup_json_get(j, "input");
  assert_non_null(id);
  assert_non_null(src);
  assert_non_null(empty);
  assert_int_equal(id->slen, 0);
  assert_int_equal(strlen(id->str), 0);
  assert_int_equal(strlen(src->str), 0);
  assert_int_equal(strlen(empty->str), 0);
  assert_int_equal(j->klens[2], 0);
  assert_int_equal(j->keys[2][0], '\0');
  written(input, "{\"\":\"\"}");
  sup_json_free(j);

  /* the root of it: an empty Buf handed over is an empty string */
  Buf b = {0};
  char *s = buf_take(&b);
  assert_int_equal(s[0], '\0');
  free(s);
}

/* \u0000 inside strings and keys: kept, with the length; a key with a NUL
 * is not the key before it. */
static void test_json_nul(void **state)
{
  (void)state;
  SupJson *j = parse_ok("{\"id\\u0000x\": \"a\\u0000b\", \"k\": \"\\u0000\"}");
  assert_null(sup_json_get(j, "id"));
  assert_int_equal(j->klens[0], 4);
  assert_memory_equal(j->keys[0], "id\0x", 5);
  assert_int_equal(j->items[0]->slen, 3);
  assert_memory_equal(j->items[0]->str, "a\0b", 4);
  written(j, "{\"id\\u0000x\":\"a\\u0000b\",\"k\":\"\\u0000\"}");
  sup_json_free(j);
  /* raw control characters (a NUL byte included) are not JSON */
  const char raw[] = "\"a\0b\"";
  assert_null(sup_json_parse(raw, sizeof raw - 1, NULL));
  parse_bad("\"a\tb\"", "control character in string");
}

static void test_json_numbers(void **state)
{
  (void)state;
  static const char *const good[] = {"0", "-0", "3", "-12", "3.0", "0.5", "1e5", "1E+5",
                                     "1.5e-3", "-0.0e0", "9223372036854775807",
                                     "-9223372036854775808", NULL};
  for (size_t i = 0; good[i]; i++) {
    SupJson *j = parse_ok(good[i]);
    written(j, good[i]); /* as given: "3.0" stays a float for the worker */
    sup_json_free(j);
  }
  SupJson *j = parse_ok("{\"i\": 42, \"f\": 3.0, \"big\": 9223372036854775808, \"inf\": 1e400}");
  assert_int_equal(sup_json_get(j, "i")->type, SUP_JSON_INT);
  assert_int_equal(sup_json_get(j, "i")->i, 42);
  assert_int_equal(sup_json_get(j, "f")->type, SUP_JSON_FLOAT);
  assert_true(sup_json_get(j, "f")->d == 3.0);
  assert_int_equal(sup_json_get(j, "big")->type, SUP_JSON_FLOAT); /* past int64 */
  assert_int_equal(sup_json_get(j, "inf")->type, SUP_JSON_FLOAT);
  written(j, "{\"i\":42,\"f\":3.0,\"big\":9223372036854775808,\"inf\":1e400}");
  sup_json_free(j);
  /* a long number is still a number */
  char longnum[300] = "0.";
  memset(longnum + 2, '1', 250);
  longnum[252] = '\0';
  j = parse_ok(longnum);
  assert_int_equal(j->type, SUP_JSON_FLOAT);
  sup_json_free(j);
  static const char *const bad[] = {"01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "1.5.2",
                                    "--1", "1-2", "Infinity", "NaN", "-nan", "[01]", "[1.]",
                                    NULL};
  for (size_t i = 0; bad[i]; i++) parse_bad(bad[i], NULL);
}

static char *nested(int n, const char *inner)
{
  Buf b = {0};
  for (int i = 0; i < n; i++) buf_putc(&b, '[');
  buf_puts(&b, inner);
  for (int i = 0; i < n; i++) buf_putc(&b, ']');
  return buf_take(&b);
}

/* Nesting is capped (the C stack), at the root and inside a member. */
static void test_json_depth(void **state)
{
  (void)state;
  char *s = nested(SUP_JSON_MAX_DEPTH + 1, ""); /* depths 0..MAX */
  SupJson *j = parse_ok(s);
  sup_json_free(j);
  free(s);
  s = nested(SUP_JSON_MAX_DEPTH + 2, "");
  parse_bad(s, "nesting too deep");
  free(s);
  s = nested(SUP_JSON_MAX_DEPTH, "");
  Buf b = {0};
  buf_printf(&b, "{\"input\": %s}", s);
  j = parse_ok(b.data); /* the member is at depth 1 */
  sup_json_free(j);
  buf_clear(&b);
  buf_printf(&b, "{\"input\": [%s]}", s);
  parse_bad(b.data, "nesting too deep");
  buf_free(&b);
  free(s);
  s = nested(1000000, "0"); /* would overflow the stack without the cap */
  parse_bad(s, "nesting too deep");
  free(s);
}

static void string_is(const char *text, const char *want, size_t want_len)
{
  SupJson *j = parse_ok(text);
  assert_int_equal(j->type, SUP_JSON_STRING);
  assert_int_equal(j->slen, want_len);
  assert_memory_equal(j->str, want, want_len + 1); /* the terminator too */
  sup_json_free(j);
}

static void test_json_escapes(void **state)
{
  (void)state;
  string_is("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4);     /* a pair */
  string_is("\"\\u00e9\\u20AC\"", "\xC3\xA9\xE2\x82\xAC", 5);
  string_is("\"\\ud800\"", "\xEF\xBF\xBD", 3);                 /* lone high */
  string_is("\"\\ud800\\u0041\"", "\xEF\xBF\xBD" "A", 4);      /* high, no low */
  string_is("\"\\ude00\"", "\xEF\xBF\xBD", 3);                 /* lone low */
  string_is("\"\\udc41\"", "\xEF\xBF\xBD", 3);                 /* not a byte escape */
  string_is("\"\\udcff\\udc80\"", "\xFF\x80", 2);              /* bytes */
  string_is("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
  parse_bad("\"\\x\"", "bad escape");
  parse_bad("\"\\u12\"", "bad \\u escape");
  parse_bad("\"\\u12g4\"", "bad \\u escape");
  parse_bad("\"abc", "unterminated string");
  parse_bad("\"abc\\", "bad escape");
}

/* Any bytes (a file name Linux allows) as a name come back the same. */
static void roundtrip(const char *name)
{
  Buf b = {0};
  sup_json_name(&b, name);
  assert_int_equal(sup_json_check(b.data, b.len, NULL), 0);
  SupJson *j = sup_json_parse(b.data, b.len, NULL);
  assert_non_null(j);
  assert_int_equal(j->type, SUP_JSON_STRING);
  assert_int_equal(j->slen, strlen(name));
  assert_string_equal(j->str, name);
  sup_json_free(j);
  buf_free(&b);
}

static void test_json_names(void **state)
{
  (void)state;
  char s[4] = "a?z";
  for (int c = 1; c < 256; c++) {
    s[1] = (char)c;
    roundtrip(s);
  }
  roundtrip("bad\xff.harn");
  roundtrip("bad\xEF\xBF\xBD.harn");
  roundtrip("\xED\xA0\x80\xF4\x90\x80\x80\xC0\xAF\xE2\x82"); /* surrogate, > U+10FFFF, overlong, cut */
  roundtrip("ok \xC3\xA9 \xF0\x9F\x98\x80 \"q\" \\ \x01\x7f");
  /* the invalid byte and U+FFFD are written differently */
  Buf a = {0}, b = {0};
  sup_json_name(&a, "bad\xff");
  sup_json_name(&b, "bad\xEF\xBF\xBD");
  assert_string_equal(a.data, "\"bad\\udcff\"");
  assert_string_equal(b.data, "\"bad\xEF\xBF\xBD\"");
  buf_clear(&a);
  sup_json_name(&a, NULL);
  assert_string_equal(a.data, "null");
  /* other strings (worker output) get \ufffd, one per maximal subpart */
  buf_clear(&a);
  sup_json_str(&a, "x\xff\xe2\x82y", 5);
  assert_string_equal(a.data, "\"x\\ufffd\\ufffdy\"");
  buf_free(&a);
  buf_free(&b);
}

/* Arrays and nested objects are kept as compact text, checked whole. */
static void test_json_raw(void **state)
{
  (void)state;
  SupJson *j = parse_ok(" { \"input\" : { \"b\" : [ 1 , 2.50 , \"x\\u00e9\\/\" , { \"c\" : null } ] ,"
                        " \"s\" : \"\\ud800\" , \"e\" : [ ] , \"o\" : { } } , \"n\" : [ true ] } ");
  const SupJson *in = sup_json_get(j, "input");
  assert_int_equal(in->type, SUP_JSON_RAW);
  assert_string_equal(in->str, "{\"b\":[1,2.50,\"x\xC3\xA9/\",{\"c\":null}],\"s\":\"\xEF\xBF\xBD\","
                               "\"e\":[],\"o\":{}}");
  assert_int_equal(in->slen, strlen(in->str));
  assert_null(sup_json_get(in, "b")); /* not an object node */
  written(sup_json_get(j, "n"), "[true]");
  sup_json_free(j);
  /* at most 6 bytes a byte: DEL and an invalid byte are \u escapes
   * (base/json_escape.h), as in every other string harn writes */
  j = parse_ok("{\"input\": {\"d\": \"\x7f\xff\"}, \"s\": \"\x7f\"}");
  written(sup_json_get(j, "input"), "{\"d\":\"\\u007f\\ufffd\"}");
  written(sup_json_get(j, "s"), "\"\\u007f\"");
  sup_json_free(j);
  j = parse_ok("[1, {\"a\": 2}]");
  assert_int_equal(j->type, SUP_JSON_RAW);
  written(j, "[1,{\"a\":2}]");
  sup_json_free(j);
  parse_bad("{\"input\": {\"a\": [1, ]}}", NULL);
  parse_bad("{\"input\": {\"a\" 1}}", "expected ':'");
  parse_bad("{\"input\": {1: 1}}", "expected a key");
}

/* The root object's members are nodes: at most SUP_JSON_MAX_MEMBERS. */
static void test_json_members(void **state)
{
  (void)state;
  Buf b = {0};
  buf_putc(&b, '{');
  for (int i = 0; i < SUP_JSON_MAX_MEMBERS; i++) buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
  buf_putc(&b, '}');
  SupJson *j = parse_ok(b.data);
  assert_int_equal(j->len, SUP_JSON_MAX_MEMBERS);
  sup_json_free(j);
  b.len--;
  buf_puts(&b, ",\"one\":1}");
  const char *err = NULL;
  assert_null(sup_json_parse(b.data, b.len, &err));
  assert_string_equal(err, "too many members");
  assert_int_equal(sup_json_check(b.data, b.len, NULL), 0); /* --input has no such cap */
  buf_free(&b);
}

static void test_json_errors(void **state)
{
  (void)state;
  parse_bad("", "unexpected end of input");
  parse_bad("   ", "unexpected end of input");
  parse_bad("{} x", "trailing characters");
  parse_bad("nullx", "trailing characters");
  parse_bad("[1,]", NULL);
  parse_bad("{,}", "expected a key");
  parse_bad("{\"a\"}", "expected ':'");
  parse_bad("{\"a\":1,}", "expected a key");
  parse_bad("{\"a\":1 \"b\":2}", "expected ',' or '}'");
  parse_bad("[1 2]", "expected ',' or ']'");
  parse_bad("tru", "unexpected character");
  parse_bad("'a'", "unexpected character");
  SupJson *j = parse_ok(" \t\r\n{\"a\":true,\"b\":false,\"c\":null}\n");
  assert_int_equal(sup_json_get(j, "a")->type, SUP_JSON_BOOL);
  assert_true(sup_json_get(j, "a")->b);
  assert_false(sup_json_get(j, "b")->b);
  assert_int_equal(sup_json_get(j, "c")->type, SUP_JSON_NULL);
  assert_null(sup_json_get(j, "d"));
  sup_json_free(j);
}

/* ---------------------------------------------------------------- linein */

static void next_line(SupLineIn *li, const char *want, long lineno)
{
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(li, &line, &len), 1);
  assert_int_equal(len, strlen(want));
  assert_string_equal(line, want);
  assert_int_equal(li->lineno, lineno);
}

static void next_too_long(SupLineIn *li, long lineno)
{
  char *line = (char *)"x";
  size_t len = 0;
  assert_int_equal(sup_linein_next(li, &line, &len), 2);
  assert_null(line);
  assert_true(len > (li->max ? li->max : SUP_LINE_MAX));
  assert_int_equal(li->lineno, lineno);
}

static void next_end(SupLineIn *li)
{
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(li, &line, &len), -1);
  assert_int_equal(li->err, 0);
}

static char *temp_file(const char *data, size_t len)
{
  char *path = strdup("/tmp/test_sup_input_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
  return path;
}

/* A regular file with lines over a small cap: each reported at its
 * number, the next line read after it; one of exactly the cap is fine. */
static void test_linein_long_lines_file(void **state)
{
  (void)state;
  const char data[] = "short\nxxxxxxxxxxx\n0123456789\nok\nyyyyyyyyyyyyyyyyyyyyyyyyy";
  char *path = temp_file(data, sizeof data - 1);
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, path, &blocking), 0);
  li.max = 10;
  next_line(&li, "short", 1);
  next_too_long(&li, 2);
  next_line(&li, "0123456789", 3);
  next_line(&li, "ok", 4);
  next_too_long(&li, 5); /* the last one, without '\n' */
  next_end(&li);
  sup_linein_close(&li);
  unlink(path);
  free(path);
}

/* The real cap: a manifest line over SUP_LINE_MAX in a regular file is
 * one bad line, and the line after it is read. */
static void test_linein_cap_file(void **state)
{
  (void)state;
  size_t n = SUP_LINE_MAX + 1;
  char *data = malloc(n + 16);
  memset(data, 'x', n);
  memcpy(data + n, "\nafter\n", 7);
  char *path = temp_file(data, n + 7);
  free(data);
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, path, &blocking), 0);
  next_too_long(&li, 1);
  next_line(&li, "after", 2);
  next_end(&li);
  sup_linein_close(&li);
  unlink(path);
  free(path);
}

/* A pipe fed piecewise: the too-long line is said as soon as it is too
 * long, before its '\n' came; the rest of it is dropped as it comes, and
 * the buffer stays small. */
static void test_linein_long_line_pipe(void **state)
{
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, path, &blocking), 0);
  close(p[0]);
  li.max = 8;
  char *line;
  size_t len;
  assert_int_equal(write(p[1], "first\nabcdefghij", 16), 16);
  next_line(&li, "first", 1);
  next_too_long(&li, 2);
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  char z[4000];
  memset(z, 'z', sizeof z);
  assert_int_equal(write(p[1], z, sizeof z), (ssize_t)sizeof z);
  for (int calls = 0; calls < 10000; calls++) { /* dropped, none returned */
    assert_int_equal(sup_linein_next(&li, &line, &len), 0);
    int avail = -1;
    assert_int_equal(ioctl(li.fd, FIONREAD, &avail), 0);
    if (avail == 0) break;
  }
  assert_true(li.buf.cap <= 2 * (8 + (1u << 16) + 1));
  assert_int_equal(write(p[1], "zz\nnext\nlast", 12), 12);
  next_line(&li, "next", 3);
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  close(p[1]);
  next_line(&li, "last", 4);
  next_end(&li);
  sup_linein_close(&li);
}

/* /dev/zero: one endless line. Said at once, with the buffer bounded; the
 * reader then yields (it cannot be polled: its caller stops there). */
static void test_linein_dev_zero(void **state)
{
  (void)state;
  SupLineIn li;
  bool blocking;
  assert_int_equal(sup_linein_open(&li, "/dev/zero", &blocking), 0);
  next_too_long(&li, 1);
  char *line;
  size_t len;
  assert_int_equal(sup_linein_next(&li, &line, &len), 0);
  assert_true(li.buf.cap <= 2 * (SUP_LINE_MAX + (1u << 16) + 1));
  sup_linein_close(&li);
}

/* ---------------------------------------------------------- programs */

static void test_read_program_cap(void **state)
{
  (void)state;
  size_t len = 0;
  errno = 0;
  assert_null(cli_read_file("/dev/zero", &len));
  assert_int_equal(errno, EFBIG);
  /* a regular file: its size says it, nothing read */
  char *path = temp_file("", 0);
  assert_int_equal(truncate(path, (off_t)SUP_MAX_PROGRAM + 1), 0);
  errno = 0;
  assert_null(cli_read_file(path, &len));
  assert_int_equal(errno, EFBIG);
  /* exactly the cap is a program */
  assert_int_equal(truncate(path, (off_t)SUP_MAX_PROGRAM), 0);
  char *text = cli_read_file(path, &len);
  assert_non_null(text);
  assert_int_equal(len, SUP_MAX_PROGRAM);
  assert_int_equal(text[len], '\0');
  free(text);
  unlink(path);
  free(path);
}

int main(void)
{
  /* malloc returns non-zero garbage: an unterminated string shows */
  mallopt(M_PERTURB, 0x5a);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_empty_strings),
      cmocka_unit_test(test_json_nul),
      cmocka_unit_test(test_json_numbers),
      cmocka_unit_test(test_json_depth),
      cmocka_unit_test(test_json_escapes),
      cmocka_unit_test(test_json_names),
      cmocka_unit_test(test_json_raw),
      cmocka_unit_test(test_json_members),
      cmocka_unit_test(test_json_errors),
      cmocka_unit_test(test_linein_long_lines_file),
      cmocka_unit_test(test_linein_cap_file),
      cmocka_unit_test(test_linein_long_line_pipe),
      cmocka_unit_test(test_linein_dev_zero),
      cmocka_unit_test(test_read_program_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
