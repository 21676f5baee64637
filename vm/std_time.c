/*
 * std_time.c: dates, durations and time zones (STDLIB.md 4.2), after the
 * reference's datetime.rs (chrono + chrono-tz).
 *
 * Values. A date argument `dt` is an int (seconds since the epoch), a
 * float (seconds, rounded to microseconds), a dict (its `timestamp`, as
 * date_now / date_in_zone return) or a string (read as date_parse reads
 * it). Internally a date is int64 microseconds since the epoch (UTC, no
 * leap seconds), within chrono's range (years -262143..262143). A result
 * timestamp is an int when it has no fractional part, else a float.
 * Durations are the language's duration values (milliseconds).
 *
 * Zones come from the embedded tzdata (tzif.h): `tz` is a zone name as
 * chrono-tz spells it ("America/New_York", "UTC", "US/Eastern"), exact
 * case; nil or absent means UTC. An unknown one throws
 * `<builtin>: unknown timezone 'X'`. Nothing here reads the process's TZ
 * or calls localtime/strftime/strptime (locale files, zone files: the
 * sandbox forbids both, STDLIB.md 2).
 *
 * Formatting is chrono's strftime (docs/stdlib.md lists the specifiers):
 * English names whatever the locale, %f %3f %.3f %.f %:z %s included;
 * an unknown specifier throws `date_format: invalid format string '...'`.
 * ISO/RFC 3339 text is chrono's to_rfc3339: "+00:00" for UTC, a fraction
 * of 3, 6 or 9 digits only when there is one.
 *
 * Parsing (date_parse) tries RFC 3339 (a 'T', 't' or ' ' between date and
 * time; 'Z' or a +hh:mm offset), then, as UTC, "%Y-%m-%d %H:%M:%S%.f",
 * "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"
 * (chrono's reading: 1-2 digit fields, a 1-4 digit or signed year), then
 * the digit runs of the text as year, month, day[, hour, minute, second]
 * with range checks (`Invalid month: 13 (must be 1-12)`) and the calendar
 * check (`Invalid date: 2024-02-31`). Text with fewer than three digit
 * runs throws `date_parse: cannot parse '<text>'`.
 *
 * Errors are thrown strings (what the reference throws), so a catch gets
 * the text itself.
 */
#include "std_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "object.h"
#include "tzif.h"

#define US_PER_S 1000000LL

/* chrono's range: -262143-01-01 .. 262142-12-31 23:59:59 */
#define MIN_SECS (-8334601315200LL)
#define MAX_SECS (8210298412799LL)

static const char *const month_names[12] = {"January", "February", "March",     "April",   "May",      "June",
                                            "July",    "August",   "September", "October", "November", "December"};
static const char *const day_names[7] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

static int64_t fdiv(int64_t a, int64_t b)
{
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A timestamp in microseconds as the reference returns it. */
static Value ts_value(int64_t us)
{
  if (us % US_PER_S == 0) return val_int(us / US_PER_S);
  return val_float((double)us / 1e6);
}

/* ======================================================================
 * Zones and broken-down time
 * ====================================================================== */

typedef struct Zone {
  bool utc;
  const char *name;
  TzZone tz;
} Zone;

/* [v] as a zone: nil is UTC; a name must be in the embedded database. */
static bool zone_arg(Vm *vm, const char *fn, Value v, Zone *z)
{
  memset(z, 0, sizeof *z);
  if (IS_NIL(v)) {
    z->utc = true;
    z->name = "UTC";
    return true;
  }
  if (IS_STRING(v) && strlen(AS_CSTR(v)) == AS_STRING(v)->len && tz_find(AS_CSTR(v), &z->tz)) {
    z->name = AS_CSTR(v);
    return true;
  }
  ObjString *s = val_to_string(vm, v);
  return err_throw_str(vm, "%s: unknown timezone '%s'", fn, s->chars);
}

typedef struct Tm {
  int64_t us;   /* the instant (UTC) */
  int64_t year; /* local fields */
  int month, day, hour, minute, second;
  int32_t micro;
  int wday; /* 0 = Sunday */
  int yday; /* 1..366 */
  int32_t off;
  char abbr[16];
} Tm;

static void breakdown(const Zone *z, int64_t us, Tm *tm)
{
  TzInfo ti;
  int64_t secs = fdiv(us, US_PER_S);
  if (z->utc) {
    ti.utoff = 0;
    strcpy(ti.abbr, "UTC");
  } else {
    tzif_at(&z->tz, secs, &ti);
  }
  tm->us = us;
  tm->off = ti.utoff;
  memcpy(tm->abbr, ti.abbr, sizeof tm->abbr);
  int64_t local = secs + ti.utoff;
  tm->micro = (int32_t)(us - secs * US_PER_S);
  int64_t days = fdiv(local, 86400), sod = local - days * 86400;
  tz_civil_from_days(days, &tm->year, &tm->month, &tm->day);
  tm->hour = (int)(sod / 3600);
  tm->minute = (int)(sod / 60 % 60);
  tm->second = (int)(sod % 60);
  tm->wday = tz_weekday(days);
  tm->yday = (int)(days - tz_days_from_civil(tm->year, 1, 1)) + 1;
}

/* ======================================================================
 * Formatting (chrono's strftime items)
 * ====================================================================== */

/* Numeric item: chrono pads to [width] ('0', ' ' or none); a year
 * outside 0..9999 gets an explicit sign and one more column. */
static void put_num(Buf *b, int64_t v, int width, char pad, bool year)
{
  char tmp[32];
  if (year && (v < 0 || v > 9999)) {
    if (pad == '0') snprintf(tmp, sizeof tmp, "%+0*lld", width + 1, (long long)v);
    else if (pad == ' ') snprintf(tmp, sizeof tmp, "%+*lld", width + 1, (long long)v);
    else snprintf(tmp, sizeof tmp, "%+lld", (long long)v);
  } else if (pad == '0') {
    snprintf(tmp, sizeof tmp, "%0*lld", width, (long long)v);
  } else if (pad == ' ') {
    snprintf(tmp, sizeof tmp, "%*lld", width, (long long)v);
  } else {
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  }
  buf_puts(b, tmp);
}

/* Offset text: 'h' +hh, 'm' +hh[:]mm (rounded to the minute, as chrono),
 * 's' +hh[:]mm[:]ss. */
static void put_offset(Buf *b, int32_t off, char precision, bool colon)
{
  char sign = off < 0 ? '-' : '+';
  int32_t a = off < 0 ? -off : off;
  int h, m = 0, s = 0;
  if (precision == 'h') {
    h = a / 3600;
  } else if (precision == 'm') {
    int32_t mins = (a + 30) / 60;
    h = mins / 60;
    m = mins % 60;
  } else {
    h = a / 3600;
    m = a / 60 % 60;
    s = a % 60;
  }
  buf_printf(b, "%c%02d", sign, h);
  if (precision != 'h') buf_printf(b, colon ? ":%02d" : "%02d", m);
  if (precision == 's') buf_printf(b, colon ? ":%02d" : "%02d", s);
}

/* ".fff", ".ffffff" or ".fffffffff" when there is a fraction (chrono's %.f). */
static void put_auto_frac(Buf *b, int32_t micro)
{
  if (micro == 0) return;
  if (micro % 1000 == 0) buf_printf(b, ".%03d", micro / 1000);
  else buf_printf(b, ".%06d", micro);
}

/* chrono's to_rfc3339 (SecondsFormat::AutoSi, no Z). */
static void put_rfc3339(Buf *b, const Tm *tm)
{
  put_num(b, tm->year, 4, '0', true);
  buf_printf(b, "-%02d-%02dT%02d:%02d:%02d", tm->month, tm->day, tm->hour, tm->minute, tm->second);
  put_auto_frac(b, tm->micro);
  put_offset(b, tm->off, 'm', true);
}

/* ISO 8601 week-based year and week. */
static void iso_week(const Tm *tm, int64_t *iy, int *iw)
{
  int wd = (tm->wday + 6) % 7; /* Monday 0 */
  int64_t y = tm->year;
  int w = (tm->yday - wd + 9) / 7;
  if (w < 1) {
    y--;
    int jan1 = tz_weekday(tz_days_from_civil(y, 1, 1));
    w = (jan1 == 4 || (jan1 == 3 && tz_is_leap(y))) ? 53 : 52;
  } else if (w == 53) {
    int jan1 = tz_weekday(tz_days_from_civil(y, 1, 1));
    if (!(jan1 == 4 || (jan1 == 3 && tz_is_leap(y)))) {
      y++;
      w = 1;
    }
  }
  *iy = y;
  *iw = w;
}

static bool format_tm(const char *f, size_t n, const Tm *tm, bool utc_name, Buf *b, const char **bad, size_t *badlen);

/* Expand one composite specifier (%c, %D...) */
static void format_fixed(const char *f, const Tm *tm, bool utc_name, Buf *b)
{
  const char *bad;
  size_t badlen;
  format_tm(f, strlen(f), tm, utc_name, b, &bad, &badlen);
}

/* Format [tm] with the chrono pattern [f]; false with the offending
 * specifier in *bad, *badlen. */
static bool format_tm(const char *f, size_t n, const Tm *tm, bool utc_name, Buf *b, const char **bad, size_t *badlen)
{
  size_t i = 0;
  while (i < n) {
    if (f[i] != '%') {
      size_t j = i;
      while (j < n && f[j] != '%') j++;
      buf_append(b, f + i, j - i);
      i = j;
      continue;
    }
    size_t start = i++;
    char pad = 0; /* 0: the item's default */
    if (i < n && (f[i] == '-' || f[i] == '_' || f[i] == '0')) {
      pad = f[i] == '-' ? 'n' : f[i] == '_' ? ' ' : '0';
      i++;
    }
    if (i >= n) goto invalid;
    char c = f[i++];
    /* numeric items: value, width, default pad */
    int64_t v = 0;
    int width = 2;
    char dpad = '0';
    bool year = false, numeric = true;
    switch (c) {
    case 'Y': v = tm->year; width = 4; year = true; break;
    case 'C': v = fdiv(tm->year, 100); break;
    case 'y': v = tm->year - fdiv(tm->year, 100) * 100; break;
    case 'G': { int w; iso_week(tm, &v, &w); width = 4; year = true; break; }
    case 'g': { int w; int64_t iy; iso_week(tm, &iy, &w); v = iy - fdiv(iy, 100) * 100; break; }
    case 'V': { int64_t iy; int w; iso_week(tm, &iy, &w); v = w; break; }
    case 'm': v = tm->month; break;
    case 'd': v = tm->day; break;
    case 'e': v = tm->day; dpad = ' '; break;
    case 'U': v = (tm->yday - tm->wday + 6) / 7; break;
    case 'W': v = (tm->yday - (tm->wday + 6) % 7 + 6) / 7; break;
    case 'w': v = tm->wday; width = 1; break;
    case 'u': v = tm->wday == 0 ? 7 : tm->wday; width = 1; break;
    case 'j': v = tm->yday; width = 3; break;
    case 'H': v = tm->hour; break;
    case 'k': v = tm->hour; dpad = ' '; break;
    case 'I': v = (tm->hour + 11) % 12 + 1; break;
    case 'l': v = (tm->hour + 11) % 12 + 1; dpad = ' '; break;
    case 'M': v = tm->minute; break;
    case 'S': v = tm->second; break;
    case 'f': v = (int64_t)tm->micro * 1000; width = 9; break;
    case 's': v = fdiv(tm->us, US_PER_S); width = 1; dpad = 'n'; break;
    default: numeric = false;
    }
    if (numeric) {
      char p = pad ? pad : dpad;
      put_num(b, v, width, p == 'n' ? 0 : p, year);
      continue;
    }
    if (pad) goto invalid; /* chrono: padding only on numeric items */
    switch (c) {
    case 'a': buf_append(b, day_names[tm->wday], 3); break;
    case 'A': buf_puts(b, day_names[tm->wday]); break;
    case 'b':
    case 'h': buf_append(b, month_names[tm->month - 1], 3); break;
    case 'B': buf_puts(b, month_names[tm->month - 1]); break;
    case 'p': buf_puts(b, tm->hour < 12 ? "AM" : "PM"); break;
    case 'P': buf_puts(b, tm->hour < 12 ? "am" : "pm"); break;
    case 'D':
    case 'x': format_fixed("%m/%d/%y", tm, utc_name, b); break;
    case 'F': format_fixed("%Y-%m-%d", tm, utc_name, b); break;
    case 'v': format_fixed("%e-%b-%Y", tm, utc_name, b); break;
    case 'R': format_fixed("%H:%M", tm, utc_name, b); break;
    case 'T':
    case 'X': format_fixed("%H:%M:%S", tm, utc_name, b); break;
    case 'r': format_fixed("%I:%M:%S %p", tm, utc_name, b); break;
    case 'c': format_fixed("%a %b %e %H:%M:%S %Y", tm, utc_name, b); break;
    case '+': put_rfc3339(b, tm); break;
    case 'Z': buf_puts(b, tm->abbr); break;
    case 'z': put_offset(b, tm->off, 'm', false); break;
    case 'n': buf_putc(b, '\n'); break;
    case 't': buf_putc(b, '\t'); break;
    case '%': buf_putc(b, '%'); break;
    case ':': {
      int colons = 1;
      while (i < n && f[i] == ':' && colons < 3) {
        colons++;
        i++;
      }
      if (i >= n || f[i] != 'z') goto invalid;
      i++;
      put_offset(b, tm->off, colons == 1 ? 'm' : colons == 2 ? 's' : 'h', true);
      break;
    }
    case '.':
      if (i < n && f[i] == 'f') {
        i++;
        put_auto_frac(b, tm->micro);
        break;
      }
      if (i + 1 < n && (f[i] == '3' || f[i] == '6' || f[i] == '9') && f[i + 1] == 'f') {
        char d = f[i];
        i += 2;
        if (d == '3') buf_printf(b, ".%03d", tm->micro / 1000);
        else if (d == '6') buf_printf(b, ".%06d", tm->micro);
        else buf_printf(b, ".%06d000", tm->micro);
        break;
      }
      goto invalid;
    case '3':
    case '6':
    case '9':
      if (i < n && f[i] == 'f') {
        i++;
        if (c == '3') buf_printf(b, "%03d", tm->micro / 1000);
        else if (c == '6') buf_printf(b, "%06d", tm->micro);
        else buf_printf(b, "%06d000", tm->micro);
        break;
      }
      goto invalid;
    default:
      goto invalid;
    }
    continue;
  invalid:
    *bad = f + start;
    *badlen = (i > n ? n : i) - start;
    return false;
  }
  (void)utc_name;
  return true;
}

/* ======================================================================
 * Parsing
 * ====================================================================== */

typedef struct {
  const char *s, *e;
} Cur;

static bool cur_digit(const Cur *c) { return c->s < c->e && *c->s >= '0' && *c->s <= '9'; }

/* exactly [nd] digits */
static bool fixed_digits(Cur *c, int nd, int *out)
{
  int v = 0;
  for (int k = 0; k < nd; k++) {
    if (!cur_digit(c)) return false;
    v = v * 10 + (*c->s++ - '0');
  }
  *out = v;
  return true;
}

/* 1..[maxd] digits (chrono's scan::number), after skipping whitespace */
static bool var_digits(Cur *c, int maxd, int64_t *out)
{
  while (c->s < c->e && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) c->s++;
  int64_t v = 0;
  int k = 0;
  while (k < maxd && cur_digit(c)) {
    v = v * 10 + (*c->s++ - '0');
    k++;
  }
  *out = v;
  return k > 0;
}

static bool lit(Cur *c, char ch)
{
  if (c->s < c->e && *c->s == ch) {
    c->s++;
    return true;
  }
  return false;
}

/* '.' digits: nanoseconds, the first 9 digits kept, rounded here to
 * microseconds (half up); no '.' reads as zero. */
static bool frac(Cur *c, int64_t *us, bool optional)
{
  *us = 0;
  if (!(c->s < c->e && *c->s == '.')) return optional;
  c->s++;
  if (!cur_digit(c)) return false;
  int64_t ns = 0;
  int k = 0;
  while (cur_digit(c)) {
    if (k < 9) ns = ns * 10 + (*c->s - '0');
    k++;
    c->s++;
  }
  for (; k < 9; k++) ns *= 10;
  *us = (ns + 500) / 1000;
  return true;
}

static bool valid_ymd(int64_t y, int64_t m, int64_t d)
{
  return y >= -262143 && y <= 262142 && m >= 1 && m <= 12 && d >= 1 && d <= tz_days_in_month(y, (int)m);
}

static int64_t civil_us(int64_t y, int m, int d, int h, int mi, int s)
{
  return ((tz_days_from_civil(y, m, d) * 86400) + h * 3600 + mi * 60 + s) * US_PER_S;
}

/* chrono's parse_from_rfc3339. */
static bool parse_rfc3339(const char *s, size_t n, int64_t *us)
{
  Cur c = {s, s + n};
  int y, m, d, h, mi, sec, oh, om;
  int64_t fr;
  if (!fixed_digits(&c, 4, &y) || !lit(&c, '-') || !fixed_digits(&c, 2, &m) || !lit(&c, '-') ||
      !fixed_digits(&c, 2, &d))
    return false;
  if (!(lit(&c, 'T') || lit(&c, 't') || lit(&c, ' '))) return false;
  if (!fixed_digits(&c, 2, &h) || !lit(&c, ':') || !fixed_digits(&c, 2, &mi) || !lit(&c, ':') ||
      !fixed_digits(&c, 2, &sec) || !frac(&c, &fr, true))
    return false;
  int32_t off = 0;
  if (lit(&c, 'Z') || lit(&c, 'z')) {
    off = 0;
  } else if (c.s < c.e && (*c.s == '+' || *c.s == '-')) {
    int sign = *c.s++ == '-' ? -1 : 1;
    if (!fixed_digits(&c, 2, &oh) || !lit(&c, ':') || !fixed_digits(&c, 2, &om) || oh > 23 || om > 59) return false;
    off = sign * (oh * 3600 + om * 60);
  } else {
    return false;
  }
  if (c.s != c.e) return false;
  if (!valid_ymd(y, m, d) || h > 23 || mi > 59 || sec > 60) return false;
  *us = civil_us(y, m, d, h, mi, sec) + fr - (int64_t)off * US_PER_S;
  return true;
}

/* One of the naive formats: date, then (when [sep]) the separator, hours
 * and minutes, then (when [secs]) seconds and an optional fraction. */
static bool parse_naive(const char *s, size_t n, char sep, bool secs, int64_t *us)
{
  Cur c = {s, s + n};
  int64_t y, m, d, h = 0, mi = 0, sec = 0, fr = 0;
  while (c.s < c.e && (*c.s == ' ' || *c.s == '\t' || *c.s == '\n' || *c.s == '\r')) c.s++;
  bool neg = false;
  if (c.s < c.e && (*c.s == '-' || *c.s == '+')) {
    neg = *c.s == '-';
    c.s++;
    if (!var_digits(&c, 9, &y)) return false;
  } else if (!var_digits(&c, 4, &y)) {
    return false;
  }
  if (neg) y = -y;
  if (!lit(&c, '-') || !var_digits(&c, 2, &m) || !lit(&c, '-') || !var_digits(&c, 2, &d)) return false;
  if (sep) {
    if (sep == ' ') {
      while (c.s < c.e && (*c.s == ' ' || *c.s == '\t' || *c.s == '\n' || *c.s == '\r')) c.s++;
    } else if (!lit(&c, sep)) {
      return false;
    }
    if (!var_digits(&c, 2, &h) || !lit(&c, ':') || !var_digits(&c, 2, &mi)) return false;
    if (secs && (!lit(&c, ':') || !var_digits(&c, 2, &sec) || !frac(&c, &fr, true))) return false;
  }
  if (c.s != c.e) return false;
  if (!valid_ymd(y, m, d) || h > 23 || mi > 59 || sec > 60) return false;
  *us = civil_us(y, (int)m, (int)d, (int)h, (int)mi, (int)sec) + fr;
  return true;
}

/* The range checks shared by the digits fallback and date_from_components. */
static bool check_fields(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s, char *err, size_t cap)
{
  if (mo < 1 || mo > 12) snprintf(err, cap, "Invalid month: %lld (must be 1-12)", (long long)mo);
  else if (d < 1 || d > 31) snprintf(err, cap, "Invalid day: %lld (must be 1-31)", (long long)d);
  else if (h < 0 || h > 23) snprintf(err, cap, "Invalid hour: %lld (must be 0-23)", (long long)h);
  else if (mi < 0 || mi > 59) snprintf(err, cap, "Invalid minute: %lld (must be 0-59)", (long long)mi);
  else if (s < 0 || s > 59) snprintf(err, cap, "Invalid second: %lld (must be 0-59)", (long long)s);
  else if (!valid_ymd(y, mo, d)) snprintf(err, cap, "Invalid date: %04lld-%02d-%02d", (long long)y, (int)mo, (int)d);
  else return true;
  return false;
}

int std_time_parse(const char *s, size_t n, int64_t *us, char *err, size_t errcap)
{
  if (parse_rfc3339(s, n, us)) return STD_TIME_OK;
  if (parse_naive(s, n, ' ', true, us) || parse_naive(s, n, 'T', true, us) || parse_naive(s, n, ' ', false, us) ||
      parse_naive(s, n, 'T', false, us) || parse_naive(s, n, 0, false, us))
    return STD_TIME_OK;
  /* digit runs: year, month, day[, hour, minute, second] */
  int64_t f[6] = {0, 0, 0, 0, 0, 0};
  int nf = 0;
  for (size_t i = 0; i < n && nf < 6;) {
    if (s[i] < '0' || s[i] > '9') {
      i++;
      continue;
    }
    int64_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (v < 100000000000000000LL) v = v * 10 + (s[i] - '0');
      i++;
    }
    f[nf++] = v;
  }
  if (nf < 3) return STD_TIME_UNPARSED;
  if (!check_fields(f[0], f[1], f[2], f[3], f[4], f[5], err, errcap)) return STD_TIME_INVALID;
  *us = civil_us(f[0], (int)f[1], (int)f[2], (int)f[3], (int)f[4], (int)f[5]);
  return STD_TIME_OK;
}

/* ======================================================================
 * Arguments
 * ====================================================================== */

static bool range_ok(Vm *vm, const char *fn, int64_t us)
{
  if (us < MIN_SECS * US_PER_S || us > MAX_SECS * US_PER_S) return err_throw_str(vm, "%s: timestamp out of range", fn);
  return true;
}

static bool parse_text(Vm *vm, const char *fn, ObjString *s, int64_t *us)
{
  char err[96];
  int rc = std_time_parse(s->chars, s->len, us, err, sizeof err);
  if (rc == STD_TIME_INVALID) return err_throw_str(vm, "%s", err);
  if (rc == STD_TIME_UNPARSED) return err_throw_str(vm, "%s: cannot parse '%s'", fn, s->chars);
  return range_ok(vm, fn, *us);
}

/* A date argument as microseconds (see the top of the file). */
static bool dt_arg(Vm *vm, const char *fn, Value v, int64_t *us)
{
  if (IS_DICT(v)) {
    Value t;
    if (!dict_get_cstr(AS_DICT(v), "timestamp", &t) || !(IS_INT(t) || IS_FLOAT(t)))
      return err_throw_str(vm, "%s: date dict has no numeric 'timestamp'", fn);
    v = t;
  }
  if (IS_INT(v)) {
    int64_t s = AS_INT(v);
    if (s < MIN_SECS || s > MAX_SECS) return err_throw_str(vm, "%s: timestamp out of range", fn);
    *us = s * US_PER_S;
    return true;
  }
  if (IS_FLOAT(v)) {
    double f = AS_FLOAT(v);
    if (!isfinite(f) || f < (double)MIN_SECS || f > (double)MAX_SECS)
      return err_throw_str(vm, "%s: timestamp out of range", fn);
    *us = llround(f * 1e6);
    return true;
  }
  if (IS_STRING(v)) return parse_text(vm, fn, AS_STRING(v), us);
  return err_throw_str(vm, "%s: expected a timestamp, date dict or date string, got %s", fn, val_type_name(v));
}

static Value str_val(Vm *vm, Buf *b)
{
  Value v = OBJ_VAL(str_new(vm, b->data ? b->data : "", b->len));
  buf_free(b);
  return v;
}

/* The dict of date_now / date_in_zone. */
static Value date_dict(Vm *vm, const Tm *tm, const Zone *z)
{
  ObjDict *d = dict_new(vm, 11);
  dict_set_cstr(vm, d, "year", val_int(tm->year));
  dict_set_cstr(vm, d, "month", val_int(tm->month));
  dict_set_cstr(vm, d, "day", val_int(tm->day));
  dict_set_cstr(vm, d, "hour", val_int(tm->hour));
  dict_set_cstr(vm, d, "minute", val_int(tm->minute));
  dict_set_cstr(vm, d, "second", val_int(tm->second));
  dict_set_cstr(vm, d, "weekday", val_int(tm->wday));
  dict_set_cstr(vm, d, "timestamp", ts_value(tm->us));
  Buf b = {0};
  put_rfc3339(&b, tm);
  dict_set_cstr(vm, d, "iso8601", str_val(vm, &b));
  if (z) {
    dict_set_cstr(vm, d, "zone", OBJ_VAL(str_cstr(vm, z->name)));
    dict_set_cstr(vm, d, "offset_seconds", val_int(tm->off));
  }
  return OBJ_VAL(d);
}

/* ======================================================================
 * Builtins
 * ====================================================================== */

bool std_date_now(Vm *vm, int argc, Value *argv, Value *out)
{
  Zone utc = {.utc = true, .name = "UTC"};
  Tm tm;
  breakdown(&utc, builtins_now_ms(vm) * 1000, &tm);
  *out = date_dict(vm, &tm, NULL);
  return true;
}

bool std_date_now_iso(Vm *vm, int argc, Value *argv, Value *out)
{
  Zone utc = {.utc = true, .name = "UTC"};
  Tm tm;
  breakdown(&utc, builtins_now_ms(vm) * 1000, &tm);
  Buf b = {0};
  put_rfc3339(&b, &tm);
  *out = str_val(vm, &b);
  return true;
}

/* date_parse(str) -> int|float */
bool std_date_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value s = arg(argc, argv, 0);
  if (!IS_STRING(s)) return err_throw_str(vm, "date_parse: expected a string, got %s", val_type_name(s));
  int64_t us;
  if (!parse_text(vm, "date_parse", AS_STRING(s), &us)) return false;
  *out = ts_value(us);
  return true;
}

/* date_format(dt, fmt = "%Y-%m-%d %H:%M:%S", tz?) -> string */
bool std_date_format(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t us;
  Zone z;
  if (!dt_arg(vm, "date_format", arg(argc, argv, 0), &us)) return false;
  Value f = arg(argc, argv, 1);
  const char *fmt = "%Y-%m-%d %H:%M:%S";
  size_t flen = strlen(fmt);
  if (IS_STRING(f)) {
    fmt = AS_CSTR(f);
    flen = AS_STRING(f)->len;
  } else if (!IS_NIL(f)) {
    return err_throw_str(vm, "date_format: format must be a string, got %s", val_type_name(f));
  }
  if (!zone_arg(vm, "date_format", arg(argc, argv, 2), &z)) return false;
  Tm tm;
  breakdown(&z, us, &tm);
  Buf b = {0};
  const char *bad;
  size_t badlen;
  if (!format_tm(fmt, flen, &tm, z.utc, &b, &bad, &badlen)) {
    buf_free(&b);
    return err_throw_str(vm, "date_format: invalid format string '%.*s'", (int)badlen, bad);
  }
  *out = str_val(vm, &b);
  return true;
}

/* date_in_zone(dt, tz) -> {year, ..., zone, offset_seconds, timestamp, iso8601} */
bool std_date_in_zone(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t us;
  Zone z;
  if (!dt_arg(vm, "date_in_zone", arg(argc, argv, 0), &us) || !zone_arg(vm, "date_in_zone", arg(argc, argv, 1), &z))
    return false;
  Tm tm;
  breakdown(&z, us, &tm);
  *out = date_dict(vm, &tm, &z);
  return true;
}

/* date_to_zone(dt, tz) -> RFC 3339 text with the zone's offset */
bool std_date_to_zone(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t us;
  Zone z;
  if (!dt_arg(vm, "date_to_zone", arg(argc, argv, 0), &us) || !zone_arg(vm, "date_to_zone", arg(argc, argv, 1), &z))
    return false;
  Tm tm;
  breakdown(&z, us, &tm);
  Buf b = {0};
  put_rfc3339(&b, &tm);
  *out = str_val(vm, &b);
  return true;
}

/* An int field of a components dict (a float is truncated, except for
 * the seconds, whose fraction is kept in *frac_us). */
static bool comp_field(Vm *vm, ObjDict *d, const char *key, bool required, int64_t *v, int64_t *frac_us)
{
  Value x;
  *v = 0;
  if (frac_us) *frac_us = 0;
  if (!dict_get_cstr(d, key, &x) || IS_NIL(x)) {
    if (required) return err_throw_str(vm, "date_from_components: missing '%s'", key);
    return true;
  }
  if (IS_INT(x)) {
    *v = AS_INT(x);
    return true;
  }
  if (IS_FLOAT(x) && isfinite(AS_FLOAT(x)) && fabs(AS_FLOAT(x)) < 1e15) {
    double f = AS_FLOAT(x), w = floor(f);
    *v = (int64_t)w;
    if (frac_us) *frac_us = llround((f - w) * 1e6);
    if (frac_us && *frac_us >= US_PER_S) {
      *v += 1;
      *frac_us -= US_PER_S;
    }
    return true;
  }
  return err_throw_str(vm, "date_from_components: '%s' must be a number, got %s", key, val_type_name(x));
}

/* date_from_components({year, month, day, hour?, minute?, second?}, tz = "UTC") -> int|float */
bool std_date_from_components(Vm *vm, int argc, Value *argv, Value *out)
{
  Value dv = arg(argc, argv, 0);
  if (!IS_DICT(dv)) return err_throw_str(vm, "date_from_components: expected a dict, got %s", val_type_name(dv));
  ObjDict *d = AS_DICT(dv);
  int64_t y, mo, day, h, mi, s, fr;
  if (!comp_field(vm, d, "year", true, &y, NULL) || !comp_field(vm, d, "month", true, &mo, NULL) ||
      !comp_field(vm, d, "day", true, &day, NULL) || !comp_field(vm, d, "hour", false, &h, NULL) ||
      !comp_field(vm, d, "minute", false, &mi, NULL) || !comp_field(vm, d, "second", false, &s, &fr))
    return false;
  Zone z;
  if (!zone_arg(vm, "date_from_components", arg(argc, argv, 1), &z)) return false;
  char err[96];
  if (!check_fields(y, mo, day, h, mi, s, err, sizeof err)) return err_throw_str(vm, "%s", err);
  int64_t local = civil_us(y, (int)mo, (int)day, (int)h, (int)mi, (int)s) / US_PER_S;
  int64_t secs = local;
  if (!z.utc) {
    int64_t t[2];
    int k = tzif_from_local(&z.tz, local, t);
    if (k == 0)
      return err_throw_str(vm, "date_from_components: %04lld-%02d-%02d %02d:%02d:%02d does not exist in %s",
                           (long long)y, (int)mo, (int)day, (int)h, (int)mi, (int)s, z.name);
    secs = t[0]; /* the earlier of two in an overlap (chrono's earliest) */
  }
  int64_t us = secs * US_PER_S + fr;
  if (!range_ok(vm, "date_from_components", us)) return false;
  *out = ts_value(us);
  return true;
}

/* Milliseconds of a duration argument (a duration, or an int / float
 * count of milliseconds). */
static bool ms_arg(Vm *vm, const char *fn, Value v, int64_t *ms)
{
  if (IS_DURATION(v) || IS_INT(v)) {
    *ms = AS_INT(v);
    return true;
  }
  if (IS_FLOAT(v) && isfinite(AS_FLOAT(v)) && fabs(AS_FLOAT(v)) < 9e15) {
    *ms = llround(AS_FLOAT(v));
    return true;
  }
  return err_throw_str(vm, "%s: expected a duration, got %s", fn, val_type_name(v));
}

/* date_add(dt, duration) -> int|float */
bool std_date_add(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t us = 0, ms = 0;
  if (!dt_arg(vm, "date_add", arg(argc, argv, 0), &us) || !ms_arg(vm, "date_add", arg(argc, argv, 1), &ms))
    return false;
  int64_t delta;
  if (__builtin_mul_overflow(ms, (int64_t)1000, &delta) || __builtin_add_overflow(us, delta, &us))
    return err_throw_str(vm, "date_add: timestamp out of range");
  if (!range_ok(vm, "date_add", us)) return false;
  *out = ts_value(us);
  return true;
}

/* date_diff(a, b) -> duration a - b (milliseconds, toward zero) */
bool std_date_diff(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t a, b;
  if (!dt_arg(vm, "date_diff", arg(argc, argv, 0), &a) || !dt_arg(vm, "date_diff", arg(argc, argv, 1), &b))
    return false;
  *out = val_duration((int64_t)(((__int128)a - b) / 1000)); /* a - b may pass int64 in microseconds */
  return true;
}

static bool make_duration(Vm *vm, const char *fn, Value v, int64_t unit, Value *out)
{
  if (IS_INT(v)) {
    int64_t r;
    if (__builtin_mul_overflow(AS_INT(v), unit, &r)) return err_throw_str(vm, "%s: duration out of range", fn);
    *out = val_duration(r);
    return true;
  }
  if (IS_FLOAT(v)) {
    double r = AS_FLOAT(v) * (double)unit;
    if (!isfinite(r) || fabs(r) >= 9.2e18) return err_throw_str(vm, "%s: duration out of range", fn);
    *out = val_duration(llround(r));
    return true;
  }
  return err_throw_str(vm, "%s: expected a number, got %s", fn, val_type_name(v));
}

bool std_duration_ms(Vm *vm, int argc, Value *argv, Value *out)
{
  return make_duration(vm, "duration_ms", arg(argc, argv, 0), 1, out);
}

bool std_duration_seconds(Vm *vm, int argc, Value *argv, Value *out)
{
  return make_duration(vm, "duration_seconds", arg(argc, argv, 0), 1000, out);
}

bool std_duration_minutes(Vm *vm, int argc, Value *argv, Value *out)
{
  return make_duration(vm, "duration_minutes", arg(argc, argv, 0), 60000, out);
}

bool std_duration_hours(Vm *vm, int argc, Value *argv, Value *out)
{
  return make_duration(vm, "duration_hours", arg(argc, argv, 0), 3600000, out);
}

bool std_duration_days(Vm *vm, int argc, Value *argv, Value *out)
{
  return make_duration(vm, "duration_days", arg(argc, argv, 0), 86400000, out);
}

/* duration_to_seconds(d) -> int (toward zero) */
bool std_duration_to_seconds(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t ms = 0;
  if (!ms_arg(vm, "duration_to_seconds", arg(argc, argv, 0), &ms)) return false;
  *out = val_int(ms / 1000);
  return true;
}

/* duration_to_human(d): the first three non-zero of d h m s ms ("3h 14m",
 * "1d 2h 3m"), "0s" for zero, a leading '-' when negative. */
bool std_duration_to_human(Vm *vm, int argc, Value *argv, Value *out)
{
  int64_t ms = 0;
  if (!ms_arg(vm, "duration_to_human", arg(argc, argv, 0), &ms)) return false;
  if (ms == 0) {
    *out = OBJ_VAL(str_cstr(vm, "0s"));
    return true;
  }
  uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  static const struct {
    uint64_t ms;
    const char *unit;
  } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  Buf b = {0};
  if (ms < 0) buf_putc(&b, '-');
  int shown = 0;
  for (int i = 0; i < 5 && shown < 3; i++) {
    uint64_t q = a / units[i].ms;
    a -= q * units[i].ms;
    if (q == 0) continue;
    if (shown++) buf_putc(&b, ' ');
    buf_put_u64(&b, q);
    buf_puts(&b, units[i].unit);
  }
  *out = str_val(vm, &b);
  return true;
}

static bool name_of(Vm *vm, const char *fn, int argc, Value *argv, bool month, Value *out)
{
  int64_t us;
  Zone z;
  if (!dt_arg(vm, fn, arg(argc, argv, 0), &us) || !zone_arg(vm, fn, arg(argc, argv, 1), &z)) return false;
  Tm tm;
  breakdown(&z, us, &tm);
  *out = OBJ_VAL(str_cstr(vm, month ? month_names[tm.month - 1] : day_names[tm.wday]));
  return true;
}

bool std_weekday_name(Vm *vm, int argc, Value *argv, Value *out)
{
  return name_of(vm, "weekday_name", argc, argv, false, out);
}

bool std_month_name(Vm *vm, int argc, Value *argv, Value *out)
{
  return name_of(vm, "month_name", argc, argv, true, out);
}
