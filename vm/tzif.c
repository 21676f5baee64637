/*
 * tzif.c: the TZif reader, POSIX TZ rules and the calendar (tzif.h).
 *
 * No allocation, no files, no globals but the generated tables: every
 * function works on the bytes it is given.
 */
#include "tzif.h"

#include <string.h>

/* ======================================================================
 * Calendar (Howard Hinnant's days_from_civil / civil_from_days)
 * ====================================================================== */

static int64_t floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

bool tz_is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int tz_days_in_month(int64_t y, int m)
{
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && tz_is_leap(y) ? 29 : dm[m - 1];
}

int tz_weekday(int64_t days) { return (int)(((days % 7) + 11) % 7); } /* 1970-01-01 was a Thursday */

/* ======================================================================
 * POSIX TZ strings
 * ====================================================================== */

typedef struct {
  const char *s, *end;
} Scan;

static bool sc_digit(Scan *c) { return c->s < c->end && *c->s >= '0' && *c->s <= '9'; }

/* Unsigned decimal of 1..[maxd] digits, at most [max]. */
static bool sc_num(Scan *c, int maxd, int max, int *out)
{
  int v = 0, n = 0;
  while (sc_digit(c) && n < maxd) {
    v = v * 10 + (*c->s++ - '0');
    n++;
  }
  if (n == 0 || v > max) return false;
  *out = v;
  return true;
}

/* A zone abbreviation: <...> (letters, digits, + and -) or 3+ letters. */
static bool sc_abbr(Scan *c, char *out, size_t cap)
{
  size_t n = 0;
  if (c->s < c->end && *c->s == '<') {
    c->s++;
    while (c->s < c->end && *c->s != '>') {
      char ch = *c->s++;
      if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-'))
        return false;
      if (n + 1 < cap) out[n] = ch;
      n++;
    }
    if (c->s == c->end) return false;
    c->s++; /* '>' */
  } else {
    while (c->s < c->end && ((*c->s >= 'A' && *c->s <= 'Z') || (*c->s >= 'a' && *c->s <= 'z'))) {
      if (n + 1 < cap) out[n] = *c->s;
      n++;
      c->s++;
    }
  }
  if (n < 3) return false;
  out[n < cap ? n : cap - 1] = '\0';
  return true;
}

/* [+-]hh[:mm[:ss]] with hh <= [maxh]; seconds, signed as written. */
static bool sc_hms(Scan *c, int maxh, int32_t *out)
{
  int sign = 1, h, m = 0, s = 0;
  if (c->s < c->end && (*c->s == '+' || *c->s == '-')) sign = *c->s++ == '-' ? -1 : 1;
  if (!sc_num(c, 3, maxh, &h)) return false;
  if (c->s < c->end && *c->s == ':') {
    c->s++;
    if (!sc_num(c, 2, 59, &m)) return false;
    if (c->s < c->end && *c->s == ':') {
      c->s++;
      if (!sc_num(c, 2, 59, &s)) return false;
    }
  }
  *out = sign * (h * 3600 + m * 60 + s);
  return true;
}

static bool sc_rule(Scan *c, TzRuleDate *r)
{
  if (c->s == c->end) return false;
  if (*c->s == 'J') {
    c->s++;
    r->kind = 'J';
    if (!sc_num(c, 3, 365, &r->a) || r->a < 1) return false;
  } else if (*c->s == 'M') {
    c->s++;
    r->kind = 'M';
    if (!sc_num(c, 2, 12, &r->a) || r->a < 1) return false;
    if (c->s == c->end || *c->s++ != '.' || !sc_num(c, 1, 5, &r->b) || r->b < 1) return false;
    if (c->s == c->end || *c->s++ != '.' || !sc_num(c, 1, 6, &r->c)) return false;
  } else {
    r->kind = 'D';
    if (!sc_num(c, 3, 365, &r->a)) return false;
  }
  r->time = 2 * 3600;
  if (c->s < c->end && *c->s == '/') {
    c->s++;
    if (!sc_hms(c, 167, &r->time)) return false;
  }
  return true;
}

bool tz_posix_parse(const char *s, size_t n, TzPosix *p)
{
  Scan c = {s, s + n};
  int32_t off;
  memset(p, 0, sizeof *p);
  if (!sc_abbr(&c, p->std_abbr, sizeof p->std_abbr) || !sc_hms(&c, 167, &off)) return false;
  p->std_off = -off;
  if (c.s == c.end) return true;
  if (!sc_abbr(&c, p->dst_abbr, sizeof p->dst_abbr)) return false;
  p->has_dst = true;
  p->dst_off = p->std_off + 3600;
  if (c.s < c.end && *c.s != ',') {
    if (!sc_hms(&c, 167, &off)) return false;
    p->dst_off = -off;
  }
  if (c.s == c.end) { /* no rules: the US ones */
    p->start = (TzRuleDate){'M', 3, 2, 0, 7200};
    p->end = (TzRuleDate){'M', 11, 1, 0, 7200};
    return true;
  }
  if (*c.s++ != ',' || !sc_rule(&c, &p->start)) return false;
  if (c.s == c.end || *c.s++ != ',' || !sc_rule(&c, &p->end)) return false;
  return c.s == c.end;
}

/* Local seconds (as if UTC) at which rule [r] fires in year [y]. */
static int64_t rule_local(const TzRuleDate *r, int64_t y)
{
  int64_t day;
  if (r->kind == 'J') {
    day = tz_days_from_civil(y, 1, 1) + r->a - 1 + (tz_is_leap(y) && r->a >= 60);
  } else if (r->kind == 'D') {
    day = tz_days_from_civil(y, 1, 1) + r->a;
  } else {
    int64_t first = tz_days_from_civil(y, r->a, 1);
    int d = 1 + (r->c - tz_weekday(first) + 7) % 7 + (r->b - 1) * 7;
    while (d > tz_days_in_month(y, r->a)) d -= 7;
    day = first + d - 1;
  }
  return day * 86400 + r->time;
}

static void posix_type(const TzPosix *p, bool dst, TzInfo *out)
{
  out->isdst = dst;
  out->utoff = dst ? p->dst_off : p->std_off;
  const char *a = dst ? p->dst_abbr : p->std_abbr;
  size_t n = strlen(a);
  if (n >= sizeof out->abbr) n = sizeof out->abbr - 1;
  memcpy(out->abbr, a, n);
  out->abbr[n] = '\0';
}

/* The type of footer [p] at UTC second [t]: the latest change at or
 * before t among those of the year of t and its neighbours (an end
 * before a start at the same second, so a zone in DST all year, like
 * "EST5EDT,0/0,J365/25", stays in DST across the new year). */
static void posix_at(const TzPosix *p, int64_t t, TzInfo *out)
{
  if (!p->has_dst) {
    posix_type(p, false, out);
    return;
  }
  int64_t y, best = INT64_MIN;
  int m, d;
  bool dst = false, found = false;
  tz_civil_from_days(floor_div(t, 86400), &y, &m, &d);
  for (int64_t yy = y - 1; yy <= y + 1; yy++) {
    int64_t start = rule_local(&p->start, yy) - p->std_off;
    int64_t end = rule_local(&p->end, yy) - p->dst_off;
    /* a start wins a tie with an end (applied after it) */
    if (end <= t && (!found || end > best)) {
      best = end;
      dst = false;
      found = true;
    }
    if (start <= t && (!found || start >= best)) {
      best = start;
      dst = true;
      found = true;
    }
  }
  posix_type(p, found ? dst : false, out);
}

/* ======================================================================
 * TZif
 * ====================================================================== */

static uint32_t be32(const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

typedef struct {
  char version;
  uint32_t isut, isstd, leap, timecnt, typecnt, charcnt;
} Header;

static bool header(const unsigned char *d, size_t len, Header *h)
{
  if (len < 44 || memcmp(d, "TZif", 4) != 0) return false;
  h->version = (char)d[4];
  h->isut = be32(d + 20);
  h->isstd = be32(d + 24);
  h->leap = be32(d + 28);
  h->timecnt = be32(d + 32);
  h->typecnt = be32(d + 36);
  h->charcnt = be32(d + 40);
  /* counts far beyond any real file are refused before sizes are added */
  if (h->timecnt > 1000000 || h->typecnt > 256 || h->charcnt > 65536 || h->leap > 100000 || h->isut > 256 ||
      h->isstd > 256)
    return false;
  return true;
}

bool tzif_parse_block(const unsigned char *d, size_t len, TzZone *z)
{
  Header h;
  memset(z, 0, sizeof *z);
  if (!header(d, len, &h) || h.version < '2') return false;
  if (h.leap != 0 || h.typecnt == 0 || h.charcnt == 0) return false;
  if ((h.isut != 0 && h.isut != h.typecnt) || (h.isstd != 0 && h.isstd != h.typecnt)) return false;
  size_t need = 44 + (size_t)h.timecnt * 9 + (size_t)h.typecnt * 6 + h.charcnt + h.isstd + h.isut;
  if (len < need) return false;
  const unsigned char *p = d + 44;
  z->timecnt = h.timecnt;
  z->typecnt = h.typecnt;
  z->charcnt = h.charcnt;
  z->times = p;
  z->idxs = p + (size_t)h.timecnt * 8;
  z->types = z->idxs + h.timecnt;
  z->chars = (const char *)(z->types + (size_t)h.typecnt * 6);
  for (uint32_t i = 0; i < h.timecnt; i++) {
    if (z->idxs[i] >= h.typecnt) return false;
    if (i > 0 && be64(z->times + (size_t)i * 8) <= be64(z->times + (size_t)(i - 1) * 8)) return false;
  }
  for (uint32_t i = 0; i < h.typecnt; i++) {
    const unsigned char *t = z->types + (size_t)i * 6;
    int32_t off = (int32_t)be32(t);
    if (off < -25 * 3600 || off > 26 * 3600 || t[4] > 1 || t[5] >= h.charcnt) return false;
  }
  if (z->chars[h.charcnt - 1] != '\0') return false;
  /* footer: \n TZ \n (may be empty) */
  const unsigned char *f = d + need;
  size_t flen = len - need;
  if (flen == 0) return true; /* tolerated: no footer */
  if (f[0] != '\n') return false;
  const unsigned char *nl = memchr(f + 1, '\n', flen - 1);
  if (!nl) return false;
  size_t tzlen = (size_t)(nl - (f + 1));
  if (tzlen == 0) return true;
  if (!tz_posix_parse((const char *)f + 1, tzlen, &z->footer)) return false;
  z->has_footer = true;
  return true;
}

bool tzif_parse(const unsigned char *d, size_t len, TzZone *z)
{
  Header h;
  if (!header(d, len, &h) || h.version < '2') return false;
  size_t v1 = 44 + (size_t)h.timecnt * 5 + (size_t)h.typecnt * 6 + h.charcnt + (size_t)h.leap * 8 + h.isstd + h.isut;
  if (len < v1) return false;
  return tzif_parse_block(d + v1, len - v1, z);
}

static void type_info(const TzZone *z, unsigned idx, TzInfo *out)
{
  const unsigned char *t = z->types + (size_t)idx * 6;
  out->utoff = (int32_t)be32(t);
  out->isdst = t[4] != 0;
  const char *a = z->chars + t[5];
  size_t n = strnlen(a, z->charcnt - t[5]);
  if (n >= sizeof out->abbr) n = sizeof out->abbr - 1;
  memcpy(out->abbr, a, n);
  out->abbr[n] = '\0';
}

void tzif_at(const TzZone *z, int64_t t, TzInfo *out)
{
  if (z->timecnt == 0) {
    if (z->has_footer) posix_at(&z->footer, t, out);
    else type_info(z, 0, out);
    return;
  }
  if (t < be64(z->times)) {
    type_info(z, 0, out);
    return;
  }
  /* the last transition at or before t */
  uint32_t lo = 0, hi = z->timecnt - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (be64(z->times + (size_t)mid * 8) <= t) lo = mid;
    else hi = mid - 1;
  }
  if (lo == z->timecnt - 1 && z->has_footer) posix_at(&z->footer, t, out);
  else type_info(z, z->idxs[lo], out);
}

int tzif_from_local(const TzZone *z, int64_t local, int64_t out[2])
{
  /* Every offset in effect within a day of the local time is a
   * candidate; t = local - offset is an answer when that offset is the
   * one in effect at t. (Changes are more than two days apart.) */
  int32_t cand[3];
  int nc = 0, n = 0;
  static const int64_t probe[3] = {-86400 * 2, 0, 86400 * 2};
  for (int i = 0; i < 3; i++) {
    TzInfo ti;
    tzif_at(z, local + probe[i], &ti);
    bool seen = false;
    for (int j = 0; j < nc; j++) seen |= cand[j] == ti.utoff;
    if (!seen) cand[nc++] = ti.utoff;
  }
  for (int j = 0; j < nc; j++) {
    int64_t t = local - cand[j];
    TzInfo ti;
    tzif_at(z, t, &ti);
    if (ti.utoff != cand[j]) continue;
    bool dup = false;
    for (int k = 0; k < n; k++) dup |= out[k] == t;
    if (!dup && n < 2) out[n++] = t;
  }
  if (n == 2 && out[0] > out[1]) {
    int64_t tmp = out[0];
    out[0] = out[1];
    out[1] = tmp;
  }
  return n;
}

/* ======================================================================
 * The embedded database
 * ====================================================================== */

bool tz_find(const char *name, TzZone *z)
{
  int lo = 0, hi = tz_entry_count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, tz_entries[mid].name);
    if (c == 0) return tzif_parse_block(tz_blob + tz_entries[mid].off, tz_entries[mid].len, z);
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return false;
}
