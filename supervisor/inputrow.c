/*
 * inputrow.c: one row of `harn batch FILE.harn --input-from ROWS` as the
 * job's input (docs/cli.md "Per-job inputs").
 *
 * ROWS is JSON Lines (each line any JSON value: the input as written) or,
 * for a name ending in .csv or .tsv, comma- or tab-separated values with a
 * header line: each later row becomes the object {header: field, ...},
 * every field a string. Fields follow RFC 4180 within one line: a field
 * may be quoted, a quote inside one is doubled; a quoted field that spans
 * lines is not supported (that row is a bad line, said with its number).
 * The header's names must be unique and non-empty.
 */
#include "supervisor/sup_internal.h"

#include <stdlib.h>
#include <string.h>

/* Split [line] into fields (malloc'd, *n of them); NULL with *err set. */
static char **split(const char *line, size_t len, char sep, size_t *n, const char **err)
{
  size_t cap = 8, k = 0, i = 0;
  char **f = malloc(cap * sizeof *f);
  if (!f) abort();
  for (;;) {
    Buf v = {0};
    buf_reserve(&v, 1); /* an empty field is "" */
    if (i < len && line[i] == '"') {
      for (i++;; i++) {
        if (i >= len) {
          *err = "a quoted field is not closed on its line";
          goto bad;
        }
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') {
            buf_putc(&v, '"');
            i++;
            continue;
          }
          i++;
          break;
        }
        buf_putc(&v, line[i]);
      }
      if (i < len && line[i] != sep) {
        *err = "text after a quoted field";
        goto bad;
      }
    } else {
      while (i < len && line[i] != sep) {
        if (line[i] == '"') {
          *err = "a quote inside an unquoted field";
          goto bad;
        }
        buf_putc(&v, line[i++]);
      }
    }
    if (k == cap) {
      cap *= 2;
      f = realloc(f, cap * sizeof *f);
      if (!f) abort();
    }
    f[k++] = buf_take(&v);
    if (i >= len) break;
    i++; /* the separator */
    continue;
  bad:
    buf_free(&v);
    for (size_t j = 0; j < k; j++) free(f[j]);
    free(f);
    return NULL;
  }
  *n = k;
  return f;
}

static void free_fields(char **f, size_t n)
{
  for (size_t i = 0; i < n; i++) free(f[i]);
  free(f);
}

int sup_input_row(SupInputRows *r, const char *line, size_t len, Buf *json, const char **err)
{
  if (!r->sep) {
    const char *e = NULL;
    SupJson *j = sup_json_parse(line, len, &e);
    if (!j) {
      *err = e ? e : "not JSON";
      return -1;
    }
    sup_json_write(json, j);
    sup_json_free(j);
    return 1;
  }
  size_t n;
  char **f = split(line, len, r->sep, &n, err);
  if (!f) return -1;
  if (!r->header) {
    for (size_t i = 0; i < n; i++) {
      bool dup = false;
      for (size_t j = 0; j < i; j++) dup |= !strcmp(f[i], f[j]);
      if (!*f[i] || dup) {
        *err = *f[i] ? "a column name given twice in the header" : "an empty column name in the header";
        free_fields(f, n);
        return -1;
      }
    }
    r->header = f;
    r->nheader = n;
    return 0;
  }
  if (n != r->nheader) {
    *err = n < r->nheader ? "fewer fields than the header has" : "more fields than the header has";
    free_fields(f, n);
    return -1;
  }
  buf_putc(json, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) buf_putc(json, ',');
    sup_json_str(json, r->header[i], strlen(r->header[i]));
    buf_putc(json, ':');
    sup_json_str(json, f[i], strlen(f[i]));
  }
  buf_putc(json, '}');
  free_fields(f, n);
  return 1;
}

void sup_input_rows_reset(SupInputRows *r, const char *name)
{
  if (r->header) free_fields(r->header, r->nheader);
  r->header = NULL;
  r->nheader = 0;
  size_t l = strlen(name);
  r->sep = l > 4 && !strcmp(name + l - 4, ".csv") ? ',' : l > 4 && !strcmp(name + l - 4, ".tsv") ? '\t' : 0;
}
