/*
 * net_rules.c: the network grants of a job (--allow-net, --deny-net;
 * CAPABILITIES.md 7) and the two checks the HTTP broker makes with them:
 * on the URL (scheme, host, port) before anything is sent, and on every
 * resolved address just before a connect (CURLOPT_OPENSOCKETFUNCTION), so
 * that redirects, DNS answers and odd IP spellings cannot reach what was
 * not granted.
 *
 * An entry is `[http://|https://]TARGET[:PORT]` where TARGET is a host
 * name (`api.example.com`), `*.SUFFIX` (any name ending in `.SUFFIX`), an
 * IPv4 or IPv6 address (`[::1]` with a port), or a CIDR (`10.0.0.0/8`,
 * `fd00::/8`). No port: any port. Plain `http` is refused unless the
 * matching allow entry says `http://` (https only by default; an
 * `http://` entry allows both).
 *
 * Invariants
 *  - Deny wins: a URL or address matched by any --deny-net entry is
 *    refused whatever the allow entries say.
 *  - The special ranges (0/8, 10/8, 100.64/10, 127/8, 169.254/16,
 *    172.16/12, 192.168/16, 224/4, 240/4, ::, ::1, fc00::/7, fe80::/10,
 *    ff00::/8) are refused at connect time unless an allow entry that is
 *    an address or CIDR contains the address: a host *name* entry never
 *    grants them (`localhost` resolving to 127.0.0.1 is refused unless
 *    127.0.0.1 is named).
 *  - IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96) addresses are
 *    checked as the IPv4 address they carry.
 *  - At most NET_MAX_RULES entries (a usage error beyond).
 */
#define _GNU_SOURCE
#include "supervisor/net_rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { R_NAME, R_SUFFIX, R_ADDR } RuleKind;

typedef struct Rule {
  RuleKind kind;
  char name[256];          /* R_NAME / R_SUFFIX (without the "*."), lower case */
  unsigned char addr[16];  /* R_ADDR: IPv6 form (IPv4 as ::ffff:a.b.c.d) */
  int prefix;              /* R_ADDR: bits, over the 128 */
  int port;                /* 0: any */
  bool http;               /* `http://` given: plain http allowed */
  char text[300];          /* as given, for reasons */
} Rule;

struct NetRules {
  Rule allow[NET_MAX_RULES], deny[NET_MAX_RULES];
  int nallow, ndeny;
};

NetRules *net_rules_new(void) { return calloc(1, sizeof(NetRules)); }
void net_rules_free(NetRules *r) { free(r); }
bool net_rules_empty(const NetRules *r) { return !r || r->nallow == 0; }

/* [s] as an address in IPv6 form (IPv4 mapped): true with out. */
static bool parse_addr(const char *s, unsigned char out[16])
{
  struct in_addr a4;
  if (inet_pton(AF_INET, s, &a4) == 1) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &a4, 4);
    return true;
  }
  return inet_pton(AF_INET6, s, out) == 1;
}

static bool is_v4(const unsigned char a[16])
{
  static const unsigned char pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(a, pre, 12) == 0;
}

/* NAT64 (64:ff9b::/96) to the IPv4 it carries, in place. */
static void normalise(unsigned char a[16])
{
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (memcmp(a, nat64, 12) == 0) {
    memset(a, 0, 10);
    a[10] = a[11] = 0xff;
  }
}

static bool in_prefix(const unsigned char a[16], const unsigned char net[16], int bits)
{
  int full = bits / 8, rest = bits % 8;
  if (memcmp(a, net, (size_t)full) != 0) return false;
  if (!rest) return true;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[full] & mask) == (net[full] & mask);
}

int net_rules_add(NetRules *r, bool deny, const char *spec, char *err, size_t errlen)
{
  int *n = deny ? &r->ndeny : &r->nallow;
  Rule *list = deny ? r->deny : r->allow;
  if (*n >= NET_MAX_RULES) {
    snprintf(err, errlen, "more than %d entries", NET_MAX_RULES);
    return -1;
  }
  Rule ru;
  memset(&ru, 0, sizeof ru);
  snprintf(ru.text, sizeof ru.text, "%s", spec);
  const char *p = spec;
  if (strncasecmp(p, "http://", 7) == 0) {
    ru.http = true;
    p += 7;
  } else if (strncasecmp(p, "https://", 8) == 0) {
    p += 8;
  }
  char t[300];
  snprintf(t, sizeof t, "%s", p);
  size_t tl = strlen(t);
  if (tl && t[tl - 1] == '/') t[--tl] = '\0';
  if (tl == 0 || tl >= 256) {
    snprintf(err, errlen, "empty or too long entry \"%s\"", spec);
    return -1;
  }
  /* the port: after "]:" for [v6], or after the only ':' */
  char *host = t;
  char *colon = NULL;
  if (t[0] == '[') {
    char *close = strchr(t, ']');
    if (!close) goto bad;
    *close = '\0';
    host = t + 1;
    if (close[1] == ':') colon = close + 1;
    else if (close[1]) goto bad;
  } else if (strchr(t, ':') == strrchr(t, ':')) {
    colon = strchr(t, ':');
  }
  if (colon) {
    *colon = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535) goto bad;
    ru.port = (int)port;
  }
  char *slash = strchr(host, '/');
  if (slash) {
    *slash = '\0';
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || !parse_addr(host, ru.addr) || bits < 0) goto bad;
    bool v4 = strchr(host, ':') == NULL;
    if (bits > (v4 ? 32 : 128)) goto bad;
    ru.prefix = (int)bits + (v4 ? 96 : 0);
    ru.kind = R_ADDR;
  } else if (parse_addr(host, ru.addr)) {
    ru.kind = R_ADDR;
    ru.prefix = 128;
  } else {
    if (strncmp(host, "*.", 2) == 0) {
      ru.kind = R_SUFFIX;
      host += 2;
    } else {
      ru.kind = R_NAME;
    }
    if (!*host) goto bad;
    for (char *c = host; *c; c++) {
      if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') goto bad;
      *c = (char)tolower((unsigned char)*c);
    }
    snprintf(ru.name, sizeof ru.name, "%.255s", host);
  }
  normalise(ru.addr);
  list[(*n)++] = ru;
  return 0;
bad:
  snprintf(err, errlen, "bad entry \"%s\" (HOST[:PORT], *.SUFFIX, IP, CIDR, optionally http://)", spec);
  return -1;
}

/* Does [ru] match host name [host] (lower case; may be an IP literal,
 * [addr] then set) on [port]? */
static bool rule_matches(const Rule *ru, const char *host, const unsigned char *addr, int port)
{
  if (ru->port && ru->port != port) return false;
  switch (ru->kind) {
  case R_NAME: return host && strcmp(host, ru->name) == 0;
  case R_SUFFIX: {
    if (!host) return false;
    size_t hl = strlen(host), sl = strlen(ru->name);
    return hl > sl + 1 && host[hl - sl - 1] == '.' && strcmp(host + hl - sl, ru->name) == 0;
  }
  case R_ADDR: return addr && in_prefix(addr, ru->addr, ru->prefix);
  }
  return false;
}

static void lower(char *dst, size_t n, const char *src)
{
  size_t i = 0;
  for (; src[i] && i + 1 < n; i++) dst[i] = (char)tolower((unsigned char)src[i]);
  dst[i] = '\0';
  /* a trailing dot names the same host */
  if (i > 1 && dst[i - 1] == '.') dst[i - 1] = '\0';
}

int net_rules_check_url(const NetRules *r, const char *scheme, const char *host, int port,
                        char *reason, size_t n)
{
  char h[256];
  lower(h, sizeof h, host);
  char bare[256];
  snprintf(bare, sizeof bare, "%s", h);
  size_t bl = strlen(bare);
  if (bl > 2 && bare[0] == '[' && bare[bl - 1] == ']') {
    memmove(bare, bare + 1, bl - 2);
    bare[bl - 2] = '\0';
  }
  unsigned char a[16];
  bool lit = parse_addr(bare, a);
  if (lit) normalise(a);
  bool https = strcasecmp(scheme, "https") == 0, http = strcasecmp(scheme, "http") == 0;
  if (!https && !http) {
    snprintf(reason, n, "scheme %s is not allowed (https only)", scheme);
    return -1;
  }
  for (int i = 0; i < r->ndeny; i++)
    if (rule_matches(&r->deny[i], lit ? NULL : bare, lit ? a : NULL, port)) {
      snprintf(reason, n, "denied by --deny-net %s", r->deny[i].text);
      return -1;
    }
  for (int i = 0; i < r->nallow; i++) {
    const Rule *ru = &r->allow[i];
    if (!rule_matches(ru, lit ? NULL : bare, lit ? a : NULL, port)) continue;
    if (http && !ru->http) continue;
    return 0;
  }
  if (http) {
    for (int i = 0; i < r->nallow; i++)
      if (rule_matches(&r->allow[i], lit ? NULL : bare, lit ? a : NULL, port)) {
        snprintf(reason, n, "plain http is not granted for %s (name it as http://%s)", bare,
                 r->allow[i].text);
        return -1;
      }
  }
  snprintf(reason, n, "%s:%d is not in --allow-net", bare, port);
  return -1;
}

static const struct {
  const char *net;
  int bits;
} special[] = {
    {"0.0.0.0", 8},      {"10.0.0.0", 8},      {"100.64.0.0", 10}, {"127.0.0.0", 8},
    {"169.254.0.0", 16}, {"172.16.0.0", 12},   {"192.168.0.0", 16}, {"224.0.0.0", 4},
    {"240.0.0.0", 4},    {"::", 128},          {"::1", 128},       {"fc00::", 7},
    {"fe80::", 10},      {"ff00::", 8},
};

bool net_addr_special(const unsigned char a[16])
{
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
    unsigned char net[16];
    parse_addr(special[i].net, net);
    bool v4 = strchr(special[i].net, ':') == NULL;
    int bits = special[i].bits + (v4 ? 96 : 0);
    if (v4 != is_v4(a)) continue;
    if (in_prefix(a, net, bits)) return true;
  }
  return false;
}

int net_rules_check_addr(const NetRules *r, const unsigned char addr16[16], const char *host, int port,
                         char *reason, size_t n)
{
  unsigned char a[16];
  memcpy(a, addr16, 16);
  normalise(a);
  char h[256];
  lower(h, sizeof h, host ? host : "");
  char text[INET6_ADDRSTRLEN];
  if (is_v4(a)) inet_ntop(AF_INET, a + 12, text, sizeof text);
  else inet_ntop(AF_INET6, a, text, sizeof text);
  for (int i = 0; i < r->ndeny; i++)
    if (rule_matches(&r->deny[i], h[0] ? h : NULL, a, port) ||
        (r->deny[i].kind == R_ADDR && rule_matches(&r->deny[i], NULL, a, port))) {
      snprintf(reason, n, "address %s is denied by --deny-net %s", text, r->deny[i].text);
      return -1;
    }
  bool explicit = false, by_addr_rule = false, addr_rules = false;
  for (int i = 0; i < r->nallow; i++) {
    const Rule *ru = &r->allow[i];
    if (ru->kind != R_ADDR) continue;
    addr_rules = true;
    if (rule_matches(ru, NULL, a, port)) explicit = by_addr_rule = true;
  }
  if (net_addr_special(a) && !explicit) {
    snprintf(reason, n, "address %s is private, loopback, link-local or reserved (name it in --allow-net)", text);
    return -1;
  }
  /* the name was checked on the URL; an IP literal host must be granted
   * by an address rule */
  unsigned char lit[16];
  if (host && parse_addr(host, lit) && !by_addr_rule) {
    snprintf(reason, n, "address %s is not in --allow-net", text);
    return -1;
  }
  (void)addr_rules;
  return 0;
}
