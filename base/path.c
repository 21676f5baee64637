/*
 * path.c: lexical normalisation of paths (path.h).
 *
 * One pass over the components, keeping where each kept one ends, so that
 * ".." can drop the last one; leading ".." of a relative path are kept
 * (there is nothing to drop), "/.." is "/". The output is never longer
 * than the input plus one byte.
 */
#include "base/path.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *path_normal(const char *path)
{
  bool abs = path[0] == '/';
  size_t len = strlen(path);
  char *out = malloc(len + 2);
  size_t *ends = malloc((len / 2 + 2) * sizeof *ends); /* where each kept component ends */
  if (!out || !ends) abort();
  size_t w = 0, depth = 0, ups = 0; /* ups: leading ".." components kept */
  for (const char *r = path; *r;) {
    while (*r == '/') r++;
    const char *e = r;
    while (*e && *e != '/') e++;
    size_t n = (size_t)(e - r);
    bool dot = n == 1 && r[0] == '.', dotdot = n == 2 && r[0] == '.' && r[1] == '.';
    if (n == 0 || dot || (dotdot && abs && depth == 0)) {
      /* nothing ("/.." is "/") */
    } else if (dotdot && depth > ups) {
      depth--;
      w = depth ? ends[depth - 1] : 0;
    } else {
      if (w > 0 || abs) out[w++] = '/';
      memcpy(out + w, r, n);
      w += n;
      ends[depth++] = w;
      if (dotdot) ups++;
    }
    r = e;
  }
  if (w == 0) out[w++] = abs ? '/' : '.';
  out[w] = '\0';
  free(ends);
  return out;
}

char *path_absolute(const char *cwd, const char *path)
{
  if (path[0] == '/') return path_normal(path);
  if (!cwd || cwd[0] != '/') cwd = "/";
  size_t n = strlen(cwd) + 1 + strlen(path) + 1;
  char *joined = malloc(n);
  if (!joined) abort();
  snprintf(joined, n, "%s/%s", cwd, path);
  char *out = path_normal(joined);
  free(joined);
  return out;
}
