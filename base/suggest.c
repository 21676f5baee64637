/*
 * suggest.c: the nearest candidate to a mistyped word (suggest.h).
 *
 * Optimal string alignment distance over bytes, with a fixed-size table
 * (words and candidates beyond SUGGEST_MAX bytes are not compared: no
 * allocation, and the cost is bounded whatever the input).
 */
#include "base/suggest.h"

#include <stdbool.h>
#include <string.h>

#define SUGGEST_MAX 64

static size_t min3(size_t a, size_t b, size_t c)
{
  size_t m = a < b ? a : b;
  return m < c ? m : c;
}

/* The OSA distance of a[0..n) and b[0..m), both at most SUGGEST_MAX. */
static size_t distance(const char *a, size_t n, const char *b, size_t m)
{
  static size_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
  for (size_t i = 0; i <= n; i++) d[i][0] = i;
  for (size_t j = 0; j <= m; j++) d[0][j] = j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      size_t cost = a[i - 1] != b[j - 1];
      d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      bool swap = i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1];
      if (swap && d[i - 2][j - 2] + 1 < d[i][j]) d[i][j] = d[i - 2][j - 2] + 1;
    }
  return d[n][m];
}

const char *suggest(const char *word, size_t len, const char *const *cands, size_t n)
{
  if (len == 0 || len > SUGGEST_MAX) return NULL;
  size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
  const char *best = NULL;
  size_t best_d = limit + 1;
  for (size_t i = 0; i < n; i++) {
    if (!cands[i]) continue;
    size_t m = strlen(cands[i]);
    if (m > SUGGEST_MAX || (m > len ? m - len : len - m) > limit) continue;
    size_t dist = distance(word, len, cands[i], m);
    if (dist < best_d && dist > 0) {
      best = cands[i];
      best_d = dist;
    }
  }
  return best;
}
