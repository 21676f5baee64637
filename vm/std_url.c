/*
 * std_url.c: URLs and query strings (STDLIB.md 4.6), after the reference's
 * url_parse.rs on the WHATWG `url` crate. Our own parser, a subset of the
 * WHATWG URL Standard's basic URL parser without a base URL:
 *
 *  - leading and trailing C0 controls and spaces are trimmed, tabs and
 *    newlines removed; the scheme is lowercased; no scheme is
 *    `relative URL without a base`;
 *  - special schemes (http, https, ws, wss, ftp, file) take '\' as '/',
 *    any number of slashes before the authority, a lowercased domain
 *    (non-ASCII through IDNA/UTS #46 with libidn2: `invalid international
 *    domain name`), IPv4 in any of its WHATWG forms (0x7f.1 ->
 *    127.0.0.1), `[IPv6]` compressed on output, the default port elided,
 *    a path of at least "/"; an empty host is `empty host`;
 *  - other schemes: an opaque host when there is "//", else a path
 *    (opaque, as in mailto:x, when it does not start with '/');
 *  - `.` and `..` segments (and their %2e spellings) are resolved; each
 *    part is percent-encoded with its WHATWG set (existing %XX kept);
 *  - errors are the url crate's texts, thrown as `url_parse: <text>`:
 *    empty host, invalid port number, invalid IPv4 address, invalid IPv6
 *    address, invalid domain character, invalid international domain
 *    name, relative URL without a base.
 * Not done: Windows drive letters in file URLs, the full UTS #46 checks
 * on ASCII hosts (xn-- labels are not validated).
 *
 * url_parse(s) -> {scheme, host, port, path, query, fragment, username,
 * password}: host, port, query, fragment, username and password are nil
 * when absent (username and password also when empty, as the crate's
 * accessors); port is nil for the scheme's default.
 * url_build(parts): the URL of a dict of those parts (scheme required;
 * query a string, or a dict / a list of {key, value} form-encoded as by
 * query_stringify), normalised by parsing it again; errors throw
 * `url_build: <text>`.
 * query_parse(s) -> [{key, value}]: application/x-www-form-urlencoded
 * parsing (a leading '?' dropped, '+' is a space, bad UTF-8 after
 * percent-decoding becomes U+FFFD). query_stringify(pairs): the form
 * serializer (A-Z a-z 0-9 * - . _ kept, space as '+', the rest %XX);
 * pairs are a list of {key, value} dicts (or [key, value] lists), or a
 * dict; values that are not strings are written as displayed (nil as "").
 */
#include "std_url.h"

#include <idn2.h>
#include <strings.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "error.h"
#include "gc.h"
#include "object.h"

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

/* ======================================================================
 * Percent-encoding
 * ====================================================================== */

enum { SET_C0, SET_FRAGMENT, SET_QUERY, SET_SPECIAL_QUERY, SET_PATH, SET_USERINFO };

static bool in_set(unsigned char c, int set)
{
  if (c < 0x20 || c >= 0x7F) return true;
  if (set == SET_C0) return false;
  if (c == ' ' || c == '"' || c == '<' || c == '>') return true;
  if (set == SET_FRAGMENT) return c == '`';
  if (c == '#') return true;
  if (set == SET_QUERY) return false;
  if (set == SET_SPECIAL_QUERY) return c == '\'';
  if (c == '?' || c == '`' || c == '{' || c == '}') return true;
  if (set == SET_PATH) return false;
  return c == '/' || c == ':' || c == ';' || c == '=' || c == '@' || c == '[' || c == '\\' || c == ']' || c == '^' ||
         c == '|';
}

static void pct_encode(Buf *b, const char *s, size_t n, int set)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (in_set(c, set)) buf_printf(b, "%%%02X", c);
    else buf_putc(b, (char)c);
  }
}

static int hexv(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void pct_decode(Buf *b, const char *s, size_t n, bool plus_space)
{
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n + 0 && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
      buf_putc(b, (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2])));
      i += 2;
    } else if (plus_space && s[i] == '+') {
      buf_putc(b, ' ');
    } else {
      buf_putc(b, s[i]);
    }
  }
}

/* [s] as valid UTF-8, each invalid sequence as U+FFFD (lossy). */
static ObjString *lossy_str(Vm *vm, const char *s, size_t n)
{
  Buf b = {0};
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = utf8_decode(s + i, n - i, &cp);
    if (cp == UTF8_INVALID) buf_put_utf8(&b, UTF8_REPLACEMENT);
    else buf_append(&b, s + i, k);
    i += k;
  }
  ObjString *r = str_new(vm, b.data ? b.data : "", b.len);
  buf_free(&b);
  return r;
}

/* ======================================================================
 * Hosts
 * ====================================================================== */

static bool forbidden_host(unsigned char c)
{
  return c == 0 || c == '\t' || c == '\n' || c == '\r' || c == ' ' || c == '#' || c == '/' || c == ':' || c == '<' ||
         c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' || c == ']' || c == '^' || c == '|';
}

static bool forbidden_domain(unsigned char c)
{
  return forbidden_host(c) || (c > 0 && c < 0x20) || c == '%' || c == 0x7F;
}

/* IPv6 (WHATWG "IPv6 parser"); [s] without the brackets. */
static bool parse_ipv6(const char *s, size_t n, uint16_t addr[8])
{
  memset(addr, 0, 16);
  int piece = 0, compress = -1;
  size_t i = 0;
  if (i < n && s[i] == ':') {
    if (i + 1 >= n || s[i + 1] != ':') return false;
    i += 2;
    compress = ++piece;
  }
  while (i < n) {
    if (piece == 8) return false;
    if (s[i] == ':') {
      if (compress >= 0) return false;
      i++;
      compress = ++piece;
      continue;
    }
    unsigned value = 0, length = 0;
    while (length < 4 && i < n && hexv(s[i]) >= 0) {
      value = value * 16 + (unsigned)hexv(s[i]);
      i++;
      length++;
    }
    if (i < n && s[i] == '.') {
      if (length == 0) return false;
      i -= length;
      if (piece > 6) return false;
      int seen = 0;
      while (i < n) {
        int v4 = -1;
        if (seen > 0) {
          if (s[i] == '.' && seen < 4) i++;
          else return false;
        }
        if (i >= n || s[i] < '0' || s[i] > '9') return false;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
          int d = s[i] - '0';
          if (v4 == -1) v4 = d;
          else if (v4 == 0) return false;
          else v4 = v4 * 10 + d;
          if (v4 > 255) return false;
          i++;
        }
        addr[piece] = (uint16_t)(addr[piece] * 0x100 + v4);
        seen++;
        if (seen == 2 || seen == 4) piece++;
      }
      if (seen != 4) return false;
      break;
    }
    if (i < n && s[i] == ':') {
      i++;
      if (i >= n) return false;
    } else if (i < n) {
      return false;
    }
    addr[piece++] = (uint16_t)value;
  }
  if (compress >= 0) {
    int swaps = piece - compress;
    piece = 7;
    while (piece != 0 && swaps > 0) {
      uint16_t t = addr[piece];
      addr[piece] = addr[compress + swaps - 1];
      addr[compress + swaps - 1] = t;
      piece--;
      swaps--;
    }
  } else if (piece != 8) {
    return false;
  }
  return true;
}

static void write_ipv6(Buf *b, const uint16_t a[8])
{
  int best = -1, bestlen = 1;
  for (int i = 0; i < 8;) {
    if (a[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && a[j] == 0) j++;
    if (j - i > bestlen) {
      best = i;
      bestlen = j - i;
    }
    i = j;
  }
  buf_putc(b, '[');
  bool ignore0 = false;
  for (int i = 0; i < 8; i++) {
    if (ignore0 && a[i] == 0) continue;
    ignore0 = false;
    if (i == best) {
      buf_puts(b, i == 0 ? "::" : ":");
      ignore0 = true;
      continue;
    }
    buf_printf(b, "%x", a[i]);
    if (i != 7) buf_putc(b, ':');
  }
  buf_putc(b, ']');
}

/* One IPv4 part: -1 invalid, else its value (saturated at 2^40). */
static int64_t ipv4_number(const char *s, size_t n)
{
  if (n == 0) return -1;
  int radix = 10;
  if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s += 2;
    n -= 2;
    radix = 16;
  } else if (n >= 2 && s[0] == '0') {
    s++;
    n--;
    radix = 8;
  }
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    int d = hexv(s[i]);
    if (d < 0 || d >= radix) return -1;
    if (v < ((int64_t)1 << 40)) v = v * radix + d;
  }
  return v;
}

/* Does the domain end in a number (WHATWG "ends in a number checker")? */
static bool ends_in_number(const char *s, size_t n)
{
  if (n && s[n - 1] == '.') n--;
  size_t start = n;
  while (start > 0 && s[start - 1] != '.') start--;
  const char *last = s + start;
  size_t ln = n - start;
  if (ln == 0) return false;
  bool digits = true;
  for (size_t i = 0; i < ln; i++) digits &= last[i] >= '0' && last[i] <= '9';
  if (digits) return true;
  if (ln >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    for (size_t i = 2; i < ln; i++)
      if (hexv(last[i]) < 0) return false;
    return true;
  }
  return false;
}

static bool parse_ipv4(const char *s, size_t n, uint32_t *out)
{
  if (n && s[n - 1] == '.') n--;
  int64_t parts[4];
  int np = 0;
  size_t i = 0;
  for (;;) {
    size_t j = i;
    while (j < n && s[j] != '.') j++;
    if (np == 4) return false;
    parts[np] = ipv4_number(s + i, j - i);
    if (parts[np] < 0) return false;
    np++;
    if (j >= n) break;
    i = j + 1;
  }
  for (int k = 0; k < np - 1; k++)
    if (parts[k] > 255) return false;
  if (parts[np - 1] >= ((int64_t)1 << (8 * (5 - np)))) return false;
  uint64_t v = (uint64_t)parts[np - 1];
  for (int k = 0; k < np - 1; k++) v += (uint64_t)parts[k] << (8 * (3 - k));
  *out = (uint32_t)v;
  return true;
}

/* The host of a URL into [b]: NULL or the error. */
static const char *parse_host(const char *s, size_t n, bool special, Buf *b)
{
  if (n && s[0] == '[') {
    uint16_t a[8];
    if (n < 2 || s[n - 1] != ']' || !parse_ipv6(s + 1, n - 2, a)) return "invalid IPv6 address";
    write_ipv6(b, a);
    return NULL;
  }
  if (!special) {
    for (size_t i = 0; i < n; i++)
      if (forbidden_host((unsigned char)s[i])) return "invalid domain character";
    pct_encode(b, s, n, SET_C0);
    return NULL;
  }
  Buf d = {0};
  pct_decode(&d, s, n, false);
  bool ascii = true;
  for (size_t i = 0; i < d.len; i++) ascii &= (unsigned char)d.data[i] < 0x80;
  if (!ascii) {
    char *in = malloc(d.len + 1), *res = NULL;
    if (!in) abort();
    memcpy(in, d.data, d.len);
    in[d.len] = '\0';
    int rc = strlen(in) == d.len ? idn2_to_ascii_8z(in, &res, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) : IDN2_ENCODING_ERROR;
    free(in);
    buf_free(&d);
    if (rc != IDN2_OK) return "invalid international domain name";
    buf_puts(&d, res);
    idn2_free(res);
  }
  for (size_t i = 0; i < d.len; i++) {
    char c = d.data[i];
    if (forbidden_domain((unsigned char)c)) {
      buf_free(&d);
      return "invalid domain character";
    }
    if (c >= 'A' && c <= 'Z') d.data[i] = (char)(c + 32);
  }
  if (d.len == 0) {
    buf_free(&d);
    return "empty host";
  }
  if (ends_in_number(d.data, d.len)) {
    uint32_t v;
    bool ok = parse_ipv4(d.data, d.len, &v);
    buf_free(&d);
    if (!ok) return "invalid IPv4 address";
    buf_printf(b, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
    return NULL;
  }
  buf_append(b, d.data, d.len);
  buf_free(&d);
  return NULL;
}

/* ======================================================================
 * The parser
 * ====================================================================== */

static int default_port(const char *scheme)
{
  if (!strcmp(scheme, "http") || !strcmp(scheme, "ws")) return 80;
  if (!strcmp(scheme, "https") || !strcmp(scheme, "wss")) return 443;
  if (!strcmp(scheme, "ftp")) return 21;
  return -1;
}

static bool is_special(const char *scheme) { return default_port(scheme) >= 0 || !strcmp(scheme, "file"); }

static bool single_dot(const char *s, size_t n) { return (n == 1 && s[0] == '.') || (n == 3 && strncasecmp(s, "%2e", 3) == 0); }

static bool double_dot(const char *s, size_t n)
{
  if (n == 2) return s[0] == '.' && s[1] == '.';
  if (n == 4) return (s[0] == '.' && strncasecmp(s + 1, "%2e", 3) == 0) || (strncasecmp(s, "%2e", 3) == 0 && s[3] == '.');
  return n == 6 && strncasecmp(s, "%2e%2e", 6) == 0;
}

/* The path [s] (starting after the authority, or the whole of a
 * hierarchical path) as segments resolved and encoded, into [b]. */
static void parse_path(const char *s, size_t n, bool special, Buf *b)
{
  /* segments kept as offsets into b */
  size_t starts[1024];
  int nseg = 0;
  size_t base = b->len;
  size_t i = 0;
  if (n && (s[0] == '/' || (special && s[0] == '\\'))) i = 1;
  else if (n == 0) {
    if (special) buf_putc(b, '/');
    return;
  }
  for (;;) {
    size_t j = i;
    while (j < n && s[j] != '/' && !(special && s[j] == '\\')) j++;
    bool last = j >= n;
    if (double_dot(s + i, j - i)) {
      if (nseg > 0) b->len = starts[--nseg];
      if (last) {
        starts[nseg++] = b->len;
        buf_putc(b, '/');
      }
    } else if (single_dot(s + i, j - i)) {
      if (last) {
        starts[nseg++] = b->len;
        buf_putc(b, '/');
      }
    } else {
      if (nseg == 1024) { /* very long paths: fold the oldest offsets away (no ".." past them) */
        memmove(starts, starts + 512, sizeof starts[0] * 512);
        nseg = 512;
      }
      starts[nseg++] = b->len;
      buf_putc(b, '/');
      pct_encode(b, s + i, j - i, SET_PATH);
    }
    if (last) break;
    i = j + 1;
  }
  if (b->len == base) buf_putc(b, '/');
  b->data[b->len] = '\0';
}

void url_parts_free(UrlParts *p) { buf_free(&p->text); }

/* Each part is appended to p->text with its NUL; offsets are fixed up at
 * the end (the Buf may move while growing). */
typedef struct {
  ssize_t scheme, username, password, host, path, query, fragment;
} Offs;

static ssize_t put_part(Buf *t) { return (ssize_t)t->len; }
static void end_part(Buf *t) { buf_putc(t, '\0'); }

const char *std_url_parse_text(const char *in, size_t n, UrlParts *p)
{
  memset(p, 0, sizeof *p);
  p->port = -1;
  Offs o = {-1, -1, -1, -1, -1, -1, -1};
  /* trim C0 controls and spaces; drop tabs and newlines */
  while (n && (unsigned char)in[0] <= 0x20) {
    in++;
    n--;
  }
  while (n && (unsigned char)in[n - 1] <= 0x20) n--;
  Buf clean = {0};
  for (size_t i = 0; i < n; i++)
    if (in[i] != '\t' && in[i] != '\n' && in[i] != '\r') buf_putc(&clean, in[i]);
  const char *s = clean.data ? clean.data : "";
  n = clean.len;
  const char *err = NULL;
  /* scheme */
  size_t k = 0;
  if (n && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
    k = 1;
    while (k < n && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9') ||
                     s[k] == '+' || s[k] == '-' || s[k] == '.'))
      k++;
  }
  if (k == 0 || k >= n || s[k] != ':') {
    buf_free(&clean);
    return "relative URL without a base";
  }
  Buf *t = &p->text;
  o.scheme = put_part(t);
  for (size_t i = 0; i < k; i++) buf_putc(t, (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]));
  end_part(t);
  char scheme[32];
  snprintf(scheme, sizeof scheme, "%s", t->data + o.scheme);
  bool special = is_special(scheme), file = !strcmp(scheme, "file");
  size_t i = k + 1;
  /* the end of the path: '?' or '#'; of the query: '#' */
  size_t hash = i;
  while (hash < n && s[hash] != '#') hash++;
  size_t qmark = i;
  while (qmark < hash && s[qmark] != '?') qmark++;
  size_t path_end = qmark;
  bool slash2 = path_end - i >= 2 && (s[i] == '/' || (special && s[i] == '\\')) && (s[i + 1] == '/' || (special && s[i + 1] == '\\'));
  bool has_authority = special ? (!file || slash2) : slash2;
  if (has_authority) {
    if (special && !file) {
      while (i < path_end && (s[i] == '/' || s[i] == '\\')) i++;
    } else {
      i += 2;
    }
    size_t ae = i;
    while (ae < path_end && s[ae] != '/' && !(special && s[ae] == '\\')) ae++;
    /* userinfo: up to the last '@' */
    size_t at = ae;
    for (size_t q = i; q < ae; q++)
      if (s[q] == '@') at = q;
    if (at < ae) {
      size_t colon = i;
      while (colon < at && s[colon] != ':') colon++;
      if (colon > i) {
        o.username = put_part(t);
        pct_encode(t, s + i, colon - i, SET_USERINFO);
        end_part(t);
      }
      if (colon < at && at - colon > 1) {
        o.password = put_part(t);
        pct_encode(t, s + colon + 1, at - colon - 1, SET_USERINFO);
        end_part(t);
      }
      i = at + 1;
    }
    /* host[:port] */
    size_t hp = i;
    bool inside = false;
    while (hp < ae && (inside || s[hp] != ':')) {
      if (s[hp] == '[') inside = true;
      if (s[hp] == ']') inside = false;
      hp++;
    }
    if (hp < ae) {
      long port = 0;
      if (hp + 1 == ae) port = -1;
      for (size_t q = hp + 1; q < ae; q++) {
        if (s[q] < '0' || s[q] > '9') {
          err = "invalid port number";
          goto fail;
        }
        if (port <= 65535) port = port * 10 + (s[q] - '0');
      }
      if (port > 65535) {
        err = "invalid port number";
        goto fail;
      }
      if (port >= 0 && port != default_port(scheme)) p->port = (int)port;
    }
    if (file) {
      if (hp > i) {
        o.host = put_part(t);
        if ((err = parse_host(s + i, hp - i, true, t))) goto fail;
        if (!strcmp(t->data + o.host, "localhost")) t->len = (size_t)o.host;
        end_part(t);
      } else {
        o.host = put_part(t);
        end_part(t);
      }
    } else if (hp == i) {
      if (special || o.username >= 0 || o.password >= 0 || p->port >= 0) {
        err = "empty host";
        goto fail;
      }
      o.host = put_part(t);
      end_part(t);
    } else {
      o.host = put_part(t);
      if ((err = parse_host(s + i, hp - i, special, t))) goto fail;
      end_part(t);
    }
    i = ae;
  } else if (file) {
    o.host = put_part(t);
    end_part(t);
  }
  /* path */
  o.path = put_part(t);
  if (!has_authority && !file && (i >= path_end || s[i] != '/')) {
    pct_encode(t, s + i, path_end - i, SET_C0); /* an opaque path */
  } else {
    parse_path(s + i, path_end - i, special, t);
  }
  end_part(t);
  if (qmark < hash) {
    o.query = put_part(t);
    pct_encode(t, s + qmark + 1, hash - qmark - 1, special ? SET_SPECIAL_QUERY : SET_QUERY);
    end_part(t);
  }
  if (hash < n) {
    o.fragment = put_part(t);
    pct_encode(t, s + hash + 1, n - hash - 1, SET_FRAGMENT);
    end_part(t);
  }
  buf_free(&clean);
#define FIX(f) p->f = o.f >= 0 ? t->data + o.f : NULL
  FIX(scheme);
  FIX(username);
  FIX(password);
  FIX(host);
  FIX(path);
  FIX(query);
  FIX(fragment);
#undef FIX
  return NULL;
fail:
  buf_free(&clean);
  buf_free(&p->text);
  return err;
}

void std_url_serialize(const UrlParts *p, Buf *b)
{
  buf_puts(b, p->scheme);
  buf_putc(b, ':');
  if (p->host) {
    buf_puts(b, "//");
    if (p->username || p->password) {
      if (p->username) buf_puts(b, p->username);
      if (p->password) {
        buf_putc(b, ':');
        buf_puts(b, p->password);
      }
      buf_putc(b, '@');
    }
    buf_puts(b, p->host);
    if (p->port >= 0) buf_printf(b, ":%d", p->port);
  } else if (p->path[0] == '/' && p->path[1] == '/') {
    buf_puts(b, "/.");
  }
  buf_puts(b, p->path);
  if (p->query) {
    buf_putc(b, '?');
    buf_puts(b, p->query);
  }
  if (p->fragment) {
    buf_putc(b, '#');
    buf_puts(b, p->fragment);
  }
}

static Value opt_str(Vm *vm, const char *s) { return s && *s ? OBJ_VAL(str_cstr(vm, s)) : val_nil(); }

bool std_url_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value sv = arg(argc, argv, 0);
  if (!IS_STRING(sv)) return err_throw_str(vm, "url_parse: expected a string, got %s", val_type_name(sv));
  UrlParts p;
  const char *err = std_url_parse_text(AS_CSTR(sv), AS_STRING(sv)->len, &p);
  if (err) return err_throw_str(vm, "url_parse: %s", err);
  ObjDict *d = dict_new(vm, 8);
  dict_set_cstr(vm, d, "scheme", OBJ_VAL(str_cstr(vm, p.scheme)));
  dict_set_cstr(vm, d, "host", opt_str(vm, p.host));
  dict_set_cstr(vm, d, "port", p.port >= 0 ? val_int(p.port) : val_nil());
  dict_set_cstr(vm, d, "path", OBJ_VAL(str_cstr(vm, p.path)));
  dict_set_cstr(vm, d, "query", p.query ? OBJ_VAL(str_cstr(vm, p.query)) : val_nil());
  dict_set_cstr(vm, d, "fragment", p.fragment ? OBJ_VAL(str_cstr(vm, p.fragment)) : val_nil());
  dict_set_cstr(vm, d, "username", opt_str(vm, p.username));
  dict_set_cstr(vm, d, "password", opt_str(vm, p.password));
  url_parts_free(&p);
  *out = OBJ_VAL(d);
  return true;
}

/* ======================================================================
 * Query strings
 * ====================================================================== */

static void form_encode(Buf *b, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '*' || c == '-' ||
        c == '.' || c == '_')
      buf_putc(b, (char)c);
    else if (c == ' ') buf_putc(b, '+');
    else buf_printf(b, "%%%02X", c);
  }
}

static void form_value(Vm *vm, Value v, Buf *b)
{
  if (IS_NIL(v)) return;
  ObjString *s = val_to_string(vm, v);
  form_encode(b, s->chars, s->len);
}

/* The pairs of query_stringify / url_build's query into [b]. */
static bool form_pairs(Vm *vm, const char *fn, Value pairs, Buf *b)
{
  if (IS_DICT(pairs)) {
    ObjDict *d = AS_DICT(pairs);
    for (uint32_t i = 0; i < d->count; i++) {
      if (i) buf_putc(b, '&');
      form_encode(b, d->entries[i].key->chars, d->entries[i].key->len);
      buf_putc(b, '=');
      form_value(vm, d->entries[i].value, b);
    }
    return true;
  }
  if (!IS_LIST(pairs)) return err_throw_str(vm, "%s: expected a list of {key, value} pairs, got %s", fn, val_type_name(pairs));
  ObjList *l = AS_LIST(pairs);
  for (uint32_t i = 0; i < l->count; i++) {
    Value e = l->items[i], k = val_nil(), v = val_nil();
    if (IS_DICT(e)) {
      dict_get_cstr(AS_DICT(e), "key", &k);
      dict_get_cstr(AS_DICT(e), "value", &v);
    } else if (IS_LIST(e) && AS_LIST(e)->count == 2) {
      k = AS_LIST(e)->items[0];
      v = AS_LIST(e)->items[1];
    } else if (IS_PAIR(e)) {
      k = AS_PAIR(e)->first;
      v = AS_PAIR(e)->second;
    } else {
      return err_throw_str(vm, "%s: each pair must be a {key, value} dict, got %s", fn, val_type_name(e));
    }
    if (i) buf_putc(b, '&');
    form_value(vm, k, b);
    buf_putc(b, '=');
    form_value(vm, v, b);
    if (!mem_fits(vm, b->len)) return err_memory(vm);
  }
  return true;
}

bool std_query_stringify(Vm *vm, int argc, Value *argv, Value *out)
{
  Buf b = {0};
  if (!form_pairs(vm, "query_stringify", arg(argc, argv, 0), &b)) {
    buf_free(&b);
    return false;
  }
  *out = OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len));
  buf_free(&b);
  return true;
}

bool std_query_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value sv = arg(argc, argv, 0);
  if (!IS_STRING(sv)) return err_throw_str(vm, "query_parse: expected a string, got %s", val_type_name(sv));
  const char *s = AS_CSTR(sv);
  size_t n = AS_STRING(sv)->len;
  if (n && s[0] == '?') {
    s++;
    n--;
  }
  ObjList *l = list_new(vm, 0);
  for (size_t i = 0; i <= n;) {
    size_t j = i;
    while (j < n && s[j] != '&') j++;
    if (j > i) {
      size_t eq = i;
      while (eq < j && s[eq] != '=') eq++;
      Buf k = {0}, v = {0};
      pct_decode(&k, s + i, eq - i, true);
      if (eq < j) pct_decode(&v, s + eq + 1, j - eq - 1, true);
      ObjDict *d = dict_new(vm, 2);
      dict_set_cstr(vm, d, "key", OBJ_VAL(lossy_str(vm, k.data ? k.data : "", k.len)));
      dict_set_cstr(vm, d, "value", OBJ_VAL(lossy_str(vm, v.data ? v.data : "", v.len)));
      buf_free(&k);
      buf_free(&v);
      list_push(vm, l, OBJ_VAL(d));
    }
    i = j + 1;
  }
  *out = OBJ_VAL(l);
  return true;
}

/* ======================================================================
 * url_build
 * ====================================================================== */

static bool part(Vm *vm, ObjDict *d, const char *key, Value *v)
{
  *v = val_nil();
  return dict_get_cstr(d, key, v) && !IS_NIL(*v);
}

bool std_url_build(Vm *vm, int argc, Value *argv, Value *out)
{
  Value dv = arg(argc, argv, 0);
  if (!IS_DICT(dv)) return err_throw_str(vm, "url_build: expected a dict of URL parts, got %s", val_type_name(dv));
  ObjDict *d = AS_DICT(dv);
  Value v;
  Buf b = {0};
  if (!part(vm, d, "scheme", &v)) return err_throw_str(vm, "url_build: missing 'scheme'");
  ObjString *scheme = val_to_string(vm, v);
  buf_append(&b, scheme->chars, scheme->len);
  buf_putc(&b, ':');
  Value host;
  bool has_host = part(vm, d, "host", &host);
  if (has_host) {
    buf_puts(&b, "//");
    Value u, pw;
    bool hu = part(vm, d, "username", &u), hp = part(vm, d, "password", &pw);
    if (hu || hp) {
      if (hu) {
        ObjString *us = val_to_string(vm, u);
        pct_encode(&b, us->chars, us->len, SET_USERINFO);
      }
      if (hp) {
        ObjString *ps = val_to_string(vm, pw);
        buf_putc(&b, ':');
        pct_encode(&b, ps->chars, ps->len, SET_USERINFO);
      }
      buf_putc(&b, '@');
    }
    ObjString *hs = val_to_string(vm, host);
    buf_append(&b, hs->chars, hs->len);
    if (part(vm, d, "port", &v)) {
      buf_putc(&b, ':');
      ObjString *ps = val_to_string(vm, v);
      buf_append(&b, ps->chars, ps->len);
    }
  }
  if (part(vm, d, "path", &v)) {
    ObjString *ps = val_to_string(vm, v);
    if (has_host && ps->len && ps->chars[0] != '/') buf_putc(&b, '/');
    for (size_t i = 0; i < ps->len; i++) {
      char c = ps->chars[i];
      if (c == '?' || c == '#') buf_printf(&b, "%%%02X", (unsigned char)c);
      else buf_putc(&b, c);
    }
  }
  if (part(vm, d, "query", &v)) {
    buf_putc(&b, '?');
    if (IS_STRING(v)) {
      const char *q = AS_CSTR(v);
      size_t qn = AS_STRING(v)->len;
      if (qn && q[0] == '?') q++, qn--;
      for (size_t i = 0; i < qn; i++) {
        if (q[i] == '#') buf_puts(&b, "%23");
        else buf_putc(&b, q[i]);
      }
    } else if (!form_pairs(vm, "url_build", v, &b)) {
      buf_free(&b);
      return false;
    }
  }
  if (part(vm, d, "fragment", &v)) {
    ObjString *fs = val_to_string(vm, v);
    buf_putc(&b, '#');
    buf_append(&b, fs->chars, fs->len);
  }
  UrlParts p;
  const char *err = std_url_parse_text(b.data, b.len, &p);
  buf_free(&b);
  if (err) return err_throw_str(vm, "url_build: %s", err);
  std_url_serialize(&p, &b);
  url_parts_free(&p);
  *out = OBJ_VAL(str_new(vm, b.data, b.len));
  buf_free(&b);
  return true;
}
