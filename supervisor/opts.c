/*
 * opts.c: the values of durations and byte sizes, as the command line
 * (options.c) and manifest lines (batch.c) give them.
 *
 * A duration is a non-negative decimal number followed by nothing
 * (seconds, as timeout(1), sleep(1) and GNU parallel read one) or one of
 * the Harn units ms, s, m, h, d, w (docs/LANGUAGE.md 2.3); a size is
 * one followed by nothing, B, K/k/KiB, M/MiB or G/GiB (binary). The number
 * is digits with an optional fraction and exponent ("1.5s", "2e3"); no
 * sign, spaces, hexadecimal, "inf" or "nan" (all of which strtod would
 * take). Anything else is rejected, so that a typo such as "5sec" is a
 * usage error rather than a silent default.
 *
 * Range: a value is computed in double, and rejected (-2) unless it is
 * finite and at most SUP_MAX_DURATION_MS / SUP_MAX_SIZE. The callers
 * convert it to integers (uint64_t timer ms, int64_t deadlines, rlimit
 * seconds, size_t); a double beyond the integer's range would make that
 * conversion undefined behaviour ("1e300s" used to become garbage).
 *
 * Also the retry policy's values: --retry-on (status names) and
 * --retry-delay (DUR or MIN..MAX), and the backoff they give.
 */
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool digit(char c) { return c >= '0' && c <= '9'; }

/* Parse the decimal number that starts [s] into *v and point *unit past
 * it. 0; -1 when [s] does not start with one; -2 when it overflows. */
static int number(const char *s, double *v, const char **unit)
{
  size_t i = 0, digits = 0;
  while (digit(s[i])) i++, digits++;
  if (s[i] == '.')
    for (i++; digit(s[i]); i++) digits++;
  if (!digits) return -1;
  if (s[i] == 'e' || s[i] == 'E') {
    size_t j = i + 1;
    if (s[j] == '+' || s[j] == '-') j++;
    if (digit(s[j])) {
      while (digit(s[j])) j++;
      i = j;
    }
  }
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (end != s + i) return -1; /* cannot happen: strtod reads this syntax whole */
  if (!isfinite(*v) || (errno == ERANGE && *v > 1)) return -2;
  *unit = end;
  return 0;
}

int sup_parse_duration(const char *s, double *ms)
{
  if (!s) return -1;
  double v;
  const char *end;
  int rc = number(s, &v, &end);
  if (rc < 0) return rc;
  static const struct { const char *unit; double scale; } units[] = {
    {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    {"w", 604800000}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) == 0) {
      double x = v * units[i].scale;
      if (!(x <= SUP_MAX_DURATION_MS)) return -2; /* also inf */
      *ms = x;
      return 0;
    }
  }
  return -1;
}

int sup_parse_size(const char *s, size_t *out)
{
  if (!s) return -1;
  double v;
  const char *end;
  int rc = number(s, &v, &end);
  if (rc < 0) return rc;
  double scale;
  if (!strcmp(end, "") || !strcmp(end, "B")) scale = 1;
  else if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k")) scale = 1024;
  else if (!strcmp(end, "M") || !strcmp(end, "MiB")) scale = 1024.0 * 1024;
  else if (!strcmp(end, "G") || !strcmp(end, "GiB")) scale = 1024.0 * 1024 * 1024;
  else return -1;
  double x = v * scale;
  if (!(x <= (double)SUP_MAX_SIZE) || x > (double)SIZE_MAX) return -2;
  *out = (size_t)x;
  return 0;
}

int sup_parse_retry_on(const char *s, unsigned *mask)
{
  if (!s || !*s) return -1;
  unsigned m = 0;
  for (const char *p = s;;) {
    size_t n = strcspn(p, ",");
    int hit = -1;
    for (int st = 0; st < SUP_STATUS__COUNT; st++) {
      const char *name = sup_status_name((SupStatus)st);
      if (st != SUP_STATUS_OK && st != SUP_STATUS_CANCELLED && strlen(name) == n &&
          !strncmp(name, p, n))
        hit = st;
    }
    if (hit < 0) return -1;
    m |= 1u << hit;
    if (!p[n]) break;
    p += n + 1;
  }
  *mask = m;
  return 0;
}

int sup_parse_retry_delay(const char *s, double *lo, double *hi)
{
  if (!s) return -1;
  const char *dots = strstr(s, "..");
  double a, b;
  if (!dots) {
    if (sup_parse_duration(s, &a) < 0) return -1;
    *lo = *hi = a;
    return 0;
  }
  char first[64];
  size_t n = (size_t)(dots - s);
  if (n == 0 || n >= sizeof first) return -1;
  memcpy(first, s, n);
  first[n] = '\0';
  if (sup_parse_duration(first, &a) < 0 || sup_parse_duration(dots + 2, &b) < 0 || b < a)
    return -1;
  *lo = a;
  *hi = b;
  return 0;
}

double sup_retry_delay(double lo, double hi, int k, uint64_t rnd)
{
  double d = lo * pow(2, k < 40 ? k : 40);
  if (d > hi) d = hi;
  /* equal jitter: half fixed, half random, so retries of many jobs that
   * failed together (a flaky service) do not come back together */
  return d / 2 + (double)(rnd % 1000001) / 1e6 * (d / 2);
}
