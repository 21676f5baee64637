/*
 * test_hostcall.c: the v3 host-call frames of ipc/ (host_call,
 * host_cancel on the event side; host_result after the job on the job
 * side: round trips and every refusal) and the network rules of the HTTP
 * broker (supervisor/net_rules.c: allow, deny wins, the special ranges,
 * IPv4-mapped and NAT64 spellings, ports, http only when granted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "ipc/ipc.h"
#include "supervisor/net_rules.h"

/* ---- frames ---------------------------------------------------------------- */

static IpcEnvelope env(uint64_t seq) { return (IpcEnvelope){"j1", 1, seq, 1.0}; }

static void add_started(Buf *b)
{
  IpcEnvelope e = env(0);
  IpcStarted s = {IPC_PROTOCOL_VERSION, 10, 10, 1.0};
  assert_int_equal(ipc_encode_started(b, &e, &s), 0);
}

/* a map {k: v} as a msgpack_object, from its packed bytes */
static msgpack_object map1(msgpack_sbuffer *sb, msgpack_zone *z, const char *k, const char *v)
{
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  ipc_pack_str(&pk, k);
  ipc_pack_str(&pk, v);
  msgpack_object o;
  size_t off = 0;
  assert_int_equal(msgpack_unpack(sb->data, sb->size, &off, z, &o), MSGPACK_UNPACK_SUCCESS);
  return o;
}

/* Feed [b] to a fresh decoder of [side]; return the code of the last
 * ipc_decoder_next and the frames in [out] (up to 4). */
static int decode_all(IpcReadSide side, const Buf *b, IpcMsg *out, int *n, char *err, size_t errn)
{
  IpcDecoder *d = ipc_decoder_new(side, 0);
  assert_non_null(d);
  ipc_decoder_feed(d, b->data, b->len);
  int r;
  *n = 0;
  IpcMsg m;
  while ((r = ipc_decoder_next(d, &m)) == 1) {
    if (*n < 4) out[(*n)++] = m;
    else ipc_msg_free(&m);
  }
  snprintf(err, errn, "%s", ipc_decoder_error(d));
  ipc_decoder_free(d);
  return r;
}

static void test_host_call_roundtrip(void **state)
{
  (void)state;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_zone *z = msgpack_zone_new(1024);
  msgpack_object args = map1(&sb, z, "url", "https://a.example/");
  Buf b = {0};
  add_started(&b);
  IpcEnvelope e = env(1);
  assert_int_equal(ipc_encode_host_call(&b, &e, 1, "net", "request", &args), 0);
  e = env(2);
  assert_int_equal(ipc_encode_host_cancel(&b, &e, 1), 0);
  IpcMsg m[4];
  int n;
  char err[512];
  assert_int_equal(decode_all(IPC_READ_EVENTS, &b, m, &n, err, sizeof err), 0);
  assert_int_equal(n, 3);
  assert_int_equal(m[1].type, IPC_MSG_HOST_CALL);
  assert_int_equal(m[1].u.host_call.id, 1);
  assert_string_equal(m[1].u.host_call.cap, "net");
  assert_string_equal(m[1].u.host_call.op, "request");
  assert_int_equal(m[1].u.host_call.args.type, MSGPACK_OBJECT_MAP);
  assert_int_equal(m[2].type, IPC_MSG_HOST_CANCEL);
  assert_int_equal(m[2].u.host_cancel.id, 1);
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);

  /* ids must increase */
  buf_clear(&b);
  add_started(&b);
  e = env(1);
  ipc_encode_host_call(&b, &e, 5, "net", "request", &args);
  e = env(2);
  ipc_encode_host_call(&b, &e, 5, "net", "request", &args);
  assert_int_equal(decode_all(IPC_READ_EVENTS, &b, m, &n, err, sizeof err), IPC_E_ORDER);
  assert_non_null(strstr(err, "host_call id 5 after id 5"));
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);

  /* a cancel of a call never made */
  buf_clear(&b);
  add_started(&b);
  e = env(1);
  ipc_encode_host_cancel(&b, &e, 3);
  assert_int_equal(decode_all(IPC_READ_EVENTS, &b, m, &n, err, sizeof err), IPC_E_ORDER);
  assert_non_null(strstr(err, "never called"));
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);

  /* args must be a map; cap not empty */
  buf_clear(&b);
  add_started(&b);
  e = env(1);
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  ipc_encode_host_call(&b, &e, 1, "net", "request", &nil);
  assert_int_equal(decode_all(IPC_READ_EVENTS, &b, m, &n, err, sizeof err), IPC_E_FIELD_TYPE);
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);
  buf_clear(&b);
  add_started(&b);
  e = env(1);
  ipc_encode_host_call(&b, &e, 1, "", "request", &args);
  assert_int_equal(decode_all(IPC_READ_EVENTS, &b, m, &n, err, sizeof err), IPC_E_FIELD_VALUE);
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);

  /* a host_call is not a job-side frame */
  buf_clear(&b);
  e = env(1);
  ipc_encode_host_call(&b, &e, 1, "net", "request", &args);
  assert_int_equal(decode_all(IPC_READ_JOB, &b, m, &n, err, sizeof err), IPC_E_DIRECTION);
  buf_free(&b);
  msgpack_zone_free(z);
  msgpack_sbuffer_destroy(&sb);
}

static void add_job(Buf *b)
{
  IpcJob j = {0};
  j.source = "1";
  j.source_len = 1;
  static const char *const caps[] = {"net"};
  j.host = caps;
  j.nhost = 1;
  assert_int_equal(ipc_encode_job(b, "j1", 1, &j), 0);
}

static void test_host_result(void **state)
{
  (void)state;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_zone *z = msgpack_zone_new(1024);
  msgpack_object val = map1(&sb, z, "body", "ok");
  Buf b = {0};
  add_job(&b);
  assert_int_equal(ipc_encode_host_result(&b, 1, true, &val, NULL), 0);
  msgpack_sbuffer es;
  msgpack_sbuffer_init(&es);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &es, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  ipc_pack_str(&pk, "category");
  ipc_pack_str(&pk, "timeout");
  ipc_pack_str(&pk, "message");
  ipc_pack_str(&pk, "too slow");
  msgpack_object eo;
  size_t off = 0;
  msgpack_unpack(es.data, es.size, &off, z, &eo);
  assert_int_equal(ipc_encode_host_result(&b, 2, false, NULL, &eo), 0);
  IpcMsg m[4];
  int n;
  char err[512];
  assert_int_equal(decode_all(IPC_READ_JOB, &b, m, &n, err, sizeof err), 0);
  assert_int_equal(n, 3);
  assert_int_equal(m[0].u.job.nhost, 1);
  assert_string_equal(m[0].u.job.host[0], "net");
  assert_int_equal(m[1].type, IPC_MSG_HOST_RESULT);
  assert_true(m[1].u.host_result.ok);
  assert_int_equal(m[1].u.host_result.id, 1);
  assert_int_equal(m[1].u.host_result.value.type, MSGPACK_OBJECT_MAP);
  assert_false(m[2].u.host_result.ok);
  assert_int_equal(m[2].u.host_result.error.type, MSGPACK_OBJECT_MAP);
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);

  /* before the job; a second job */
  buf_clear(&b);
  ipc_encode_host_result(&b, 1, true, &val, NULL);
  assert_int_equal(decode_all(IPC_READ_JOB, &b, m, &n, err, sizeof err), IPC_E_ORDER);
  assert_non_null(strstr(err, "before the job"));
  buf_clear(&b);
  add_job(&b);
  add_job(&b);
  assert_int_equal(decode_all(IPC_READ_JOB, &b, m, &n, err, sizeof err), IPC_E_ORDER);
  assert_non_null(strstr(err, "a second `job` frame"));
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);

  /* an error without a category; ok with an error map */
  buf_clear(&b);
  add_job(&b);
  msgpack_sbuffer s2;
  msgpack_sbuffer_init(&s2);
  msgpack_packer p2;
  msgpack_packer_init(&p2, &s2, msgpack_sbuffer_write);
  msgpack_pack_map(&p2, 1);
  ipc_pack_str(&p2, "message");
  ipc_pack_str(&p2, "x");
  msgpack_object mo;
  off = 0;
  msgpack_unpack(s2.data, s2.size, &off, z, &mo);
  ipc_encode_host_result(&b, 1, false, NULL, &mo);
  assert_int_equal(decode_all(IPC_READ_JOB, &b, m, &n, err, sizeof err), IPC_E_MISSING);
  assert_non_null(strstr(err, "error.category"));
  for (int i = 0; i < n; i++) ipc_msg_free(&m[i]);
  buf_free(&b);
  msgpack_sbuffer_destroy(&s2);
  msgpack_sbuffer_destroy(&es);
  msgpack_zone_free(z);
  msgpack_sbuffer_destroy(&sb);
}

/* ---- network rules ---------------------------------------------------------- */

static NetRules *rules(const char *allow, const char *deny)
{
  NetRules *r = net_rules_new();
  char err[300], buf[512];
  for (int k = 0; k < 2; k++) {
    const char *list = k ? deny : allow;
    if (!list) continue;
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
      assert_int_equal(net_rules_add(r, k == 1, t, err, sizeof err), 0);
  }
  return r;
}

static int url(const NetRules *r, const char *scheme, const char *host, int port)
{
  char why[300];
  return net_rules_check_url(r, scheme, host, port, why, sizeof why);
}

static int addr(const NetRules *r, const char *ip, const char *host, int port)
{
  unsigned char a[16];
  struct in_addr a4;
  if (inet_pton(AF_INET, ip, &a4) == 1) {
    memset(a, 0, 10);
    a[10] = a[11] = 0xff;
    memcpy(a + 12, &a4, 4);
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
  }
  char why[300];
  return net_rules_check_addr(r, a, host, port, why, sizeof why);
}

static void test_rules_url(void **state)
{
  (void)state;
  NetRules *r = rules("api.example.com,*.example.org:8443,http://plain.example.net,10.0.0.0/8", "bad.example.org");
  assert_int_equal(url(r, "https", "api.example.com", 443), 0);
  assert_int_equal(url(r, "https", "API.Example.COM.", 443), 0);   /* case, trailing dot */
  assert_int_equal(url(r, "http", "api.example.com", 80), -1);     /* https only */
  assert_int_equal(url(r, "http", "plain.example.net", 80), 0);    /* http:// granted */
  assert_int_equal(url(r, "https", "x.api.example.com", 443), -1); /* exact name only */
  assert_int_equal(url(r, "https", "a.example.org", 8443), 0);
  assert_int_equal(url(r, "https", "a.example.org", 443), -1);     /* port */
  assert_int_equal(url(r, "https", "example.org", 8443), -1);      /* suffix needs a label */
  assert_int_equal(url(r, "https", "bad.example.org", 8443), -1);  /* deny wins */
  assert_int_equal(url(r, "https", "10.1.2.3", 443), 0);           /* CIDR on an IP literal */
  assert_int_equal(url(r, "https", "[::ffff:10.1.2.3]", 443), 0);  /* IPv4-mapped spelling */
  assert_int_equal(url(r, "https", "11.1.2.3", 443), -1);
  assert_int_equal(url(r, "ftp", "api.example.com", 21), -1);
  net_rules_free(r);

  char err[300];
  NetRules *bad = net_rules_new();
  assert_int_equal(net_rules_add(bad, false, "a b", err, sizeof err), -1);
  assert_int_equal(net_rules_add(bad, false, "h:99999", err, sizeof err), -1);
  assert_int_equal(net_rules_add(bad, false, "10.0.0.0/33", err, sizeof err), -1);
  assert_int_equal(net_rules_add(bad, false, "[::1]:8080", err, sizeof err), 0);
  net_rules_free(bad);
}

static void test_rules_addr(void **state)
{
  (void)state;
  NetRules *r = rules("api.example.com,localhost,127.0.0.2,10.5.0.0/16", "203.0.113.0/24");
  /* a public address behind an allowed name */
  assert_int_equal(addr(r, "93.184.216.34", "api.example.com", 443), 0);
  /* special ranges refused unless named by address */
  assert_int_equal(addr(r, "127.0.0.1", "localhost", 443), -1);
  assert_int_equal(addr(r, "::1", "localhost", 443), -1);
  assert_int_equal(addr(r, "127.0.0.2", "localhost", 443), 0);
  assert_int_equal(addr(r, "169.254.169.254", "api.example.com", 80), -1); /* metadata */
  assert_int_equal(addr(r, "100.64.1.1", "api.example.com", 443), -1);     /* CGNAT */
  assert_int_equal(addr(r, "fd00::1", "api.example.com", 443), -1);        /* ULA */
  assert_int_equal(addr(r, "fe80::1", "api.example.com", 443), -1);
  assert_int_equal(addr(r, "10.5.3.4", "api.example.com", 443), 0);        /* in a granted CIDR */
  assert_int_equal(addr(r, "10.6.3.4", "api.example.com", 443), -1);
  /* IPv4-mapped and NAT64 spellings are the IPv4 they carry */
  assert_int_equal(addr(r, "::ffff:127.0.0.1", "api.example.com", 443), -1);
  assert_int_equal(addr(r, "64:ff9b::a9fe:a9fe", "api.example.com", 443), -1); /* 169.254.169.254 */
  assert_int_equal(addr(r, "64:ff9b::7f00:2", "api.example.com", 443), 0);      /* 127.0.0.2 */
  /* deny wins over everything */
  assert_int_equal(addr(r, "203.0.113.7", "api.example.com", 443), -1);
  net_rules_free(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_host_call_roundtrip),
      cmocka_unit_test(test_host_result),
      cmocka_unit_test(test_rules_url),
      cmocka_unit_test(test_rules_addr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
