/*
 * opts.c: option values shared by `harn run` and `harn batch`: durations
 * (Harn syntax or plain milliseconds) and byte sizes.
 *
 * A duration is a non-negative decimal number followed by nothing (ms) or
 * one of the Harn units ms, s, m, h, d, w (docs/LANGUAGE.md 2.3); fractions are
 * accepted ("1.5s"). Anything else is rejected so that a typo such as
 * "5sec" is a usage error rather than a silent default.
 */
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int sup_parse_duration(const char *s, double *ms)
{
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v) || v < 0) return -1;
  static const struct { const char *unit; double scale; } units[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    {"w", 604800000}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) == 0) {
      *ms = v * units[i].scale;
      return 0;
    }
  }
  return -1;
}

int sup_parse_size(const char *s, size_t *out)
{
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v) || v < 0) return -1;
  double scale = 1;
  if (!strcmp(end, "") || !strcmp(end, "B")) scale = 1;
  else if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k")) scale = 1024;
  else if (!strcmp(end, "M") || !strcmp(end, "MiB")) scale = 1024.0 * 1024;
  else if (!strcmp(end, "G") || !strcmp(end, "GiB")) scale = 1024.0 * 1024 * 1024;
  else return -1;
  *out = (size_t)(v * scale);
  return 0;
}
