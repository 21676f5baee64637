/*
 * test_store.c: the pieces of store/ that need no server: SHA-256 (the
 * program's content address; FIPS 180-2 vectors and every padding
 * boundary), COPY's text escaping, UUIDs, the embedded migrations, and
 * the asynchronous connection's failure paths (a socket nobody listens on;
 * a server that accepts and never answers: the connect deadline drops it;
 * closing with requests pending fails each exactly once). The protocol
 * itself is tested against a real PostgreSQL by
 * tests/integration/test_runner*.sh. In a build without the database
 * feature there is nothing to test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef HARN_WITH_DB

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "store/store.h"

static void sha_is(const void *data, size_t n, const char *want)
{
  uint8_t h[32];
  char hex[65];
  hs_sha256(data, n, h);
  hs_hex(h, 32, hex);
  assert_string_equal(hex, want);
}

static void test_sha256(void **state)
{
  (void)state;
  sha_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha_is(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  static const struct {
    size_t n;
    const char *hex;
  } as[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
      {1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
    char *a = malloc(as[i].n);
    memset(a, 'a', as[i].n);
    sha_is(a, as[i].n, as[i].hex);
    free(a);
  }
}

static void test_copy_field(void **state)
{
  (void)state;
  Buf b = {0};
  const char s[] = "a\tb\nc\rd\\e\"f'g\x01h";
  hs_copy_field(&b, s, sizeof s - 1);
  buf_putc(&b, '|');
  hs_copy_null(&b);
  buf_putc(&b, '|');
  hs_copy_field(&b, "", 0);
  assert_string_equal(b.data, "a\\tb\\nc\\rd\\\\e\"f'g\x01h|\\N|");
  buf_free(&b);
}

static void test_uuid(void **state)
{
  (void)state;
  char a[37], b[37];
  assert_int_equal(hs_uuid(a), 0);
  assert_int_equal(hs_uuid(b), 0);
  assert_int_equal(strlen(a), 36);
  assert_string_not_equal(a, b);
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) assert_int_equal(a[i], '-');
    else assert_non_null(strchr("0123456789abcdef", a[i]));
  }
  assert_int_equal(a[14], '4');               /* version 4 */
  assert_non_null(strchr("89ab", a[19]));     /* RFC 4122 variant */
}

static void test_migrations(void **state)
{
  (void)state;
  assert_true(hs_migration_count >= 1);
  assert_string_equal(hs_migrations[0].name, "001_init");
  assert_int_equal(hs_migrations[0].version, 1);
  for (int i = 1; i < hs_migration_count; i++)
    assert_true(hs_migrations[i].version > hs_migrations[i - 1].version);
  assert_int_equal(hs_schema_latest(), hs_migrations[hs_migration_count - 1].version);
  assert_non_null(strstr(hs_migrations[0].sql, "CREATE TABLE harn.job"));
  assert_null(hs_migrations[hs_migration_count].sql);
}

static void test_conninfo(void **state)
{
  (void)state;
  setenv("HARN_DATABASE_URL", "host=/x", 1);
  assert_string_equal(hs_conninfo("dbname=y"), "dbname=y");
  assert_string_equal(hs_conninfo(NULL), "host=/x");
  unsetenv("HARN_DATABASE_URL");
  assert_string_equal(hs_conninfo(NULL), "");
}

/* ---------------------------------------------------------------- async */

typedef struct Seen {
  int downs, ups, results, lost;
  char why[256];
  HsConn *c;
} Seen;

static void on_down(HsConn *c, const char *why, void *ud)
{
  Seen *s = ud;
  s->downs++;
  snprintf(s->why, sizeof s->why, "%s", why);
  if (s->downs == 2) hs_conn_close(c); /* from the hook: nothing runs after */
}

static void on_up(HsConn *c, void *ud) { ((Seen *)ud)->ups++; }

static void on_result(HsConn *c, PGresult *res, const char *err, bool lost, void *ud)
{
  Seen *s = ud;
  assert_null(res);
  assert_non_null(err);
  s->results++;
  s->lost += lost;
}

/* Nobody listens: the connect fails, is tried again after the backoff,
 * and the queued request waits until the close fails it, once. */
static void test_conn_refused(void **state)
{
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  Seen s = {0};
  HsConnOptions o = {.conninfo = "host=/nonexistent-harn-dir port=1 user=x dbname=x", .app = "t"};
  HsConnHooks h = {.on_up = on_up, .on_down = on_down, .ud = &s};
  HsConn *c = hs_conn_new(&loop, &o, &h);
  hs_query(c, "SELECT 1", 0, NULL, on_result, &s);
  assert_int_equal(hs_conn_pending(c), 1);
  uv_run(&loop, UV_RUN_DEFAULT); /* ends after the second down closes it */
  assert_int_equal(s.downs, 2);
  assert_int_equal(s.ups, 0);
  assert_int_equal(s.results, 1);
  assert_int_equal(s.lost, 1);
  assert_non_null(strstr(s.why, "nonexistent-harn-dir"));
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_down_close(HsConn *c, const char *why, void *ud)
{
  Seen *s = ud;
  s->downs++;
  snprintf(s->why, sizeof s->why, "%s", why);
  hs_conn_close(c);
}

/* A server that accepts and says nothing: the connect deadline drops the
 * connection (a blocking libpq call would hang here). */
static void test_conn_deadline(void **state)
{
  (void)state;
  char dir[] = "/tmp/harn-store-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/.s.PGSQL.5432", dir);
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 4), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  Seen s = {0};
  char ci[256];
  snprintf(ci, sizeof ci, "host=%s port=5432 user=x dbname=x", dir);
  HsConnOptions o = {.conninfo = ci, .app = "t", .connect_timeout_ms = 300};
  HsConnHooks h = {.on_up = on_up, .on_down = on_down_close, .ud = &s};
  uint64_t t0 = uv_hrtime();
  HsConn *c = hs_conn_new(&loop, &o, &h);
  hs_query(c, "SELECT 1", 0, NULL, on_result, &s);
  uv_run(&loop, UV_RUN_DEFAULT);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  assert_int_equal(s.downs, 1);
  assert_int_equal(s.results, 1);
  assert_non_null(strstr(s.why, "timeout"));
  assert_true(ms >= 250 && ms < 3000);
  assert_int_equal(uv_loop_close(&loop), 0);
  close(ls);
  unlink(path);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256),     cmocka_unit_test(test_copy_field),
      cmocka_unit_test(test_uuid),       cmocka_unit_test(test_migrations),
      cmocka_unit_test(test_conninfo),   cmocka_unit_test(test_conn_refused),
      cmocka_unit_test(test_conn_deadline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void test_no_db(void **state)
{
  (void)state;
  skip(); /* built without HARN_WITH_DB: store/ is not there */
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_db)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
