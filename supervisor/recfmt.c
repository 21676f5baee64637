/*
 * recfmt.c: what a results file holds (docs/cli.md "Choosing fields and
 * formats"): the whole record as JSON Lines (the default, written as the
 * pool built it), chosen members of it (--fields), or a CSV or TSV table
 * with a header line (--results-format, or a results name ending in .csv
 * or .tsv) for a spreadsheet.
 *
 * Invariants:
 * - id, attempt and status are always written, first, whatever --fields
 *   says: --resume and harn verify read them back. Other names must be
 *   members of the record (RECFMT_KNOWN) or a dotted path below one
 *   (`error.message`, `counters.cpu_ms`); a typo is a usage error with a
 *   suggestion, not a column that is always empty.
 * - A JSON line without --fields is the record byte for byte (no parse):
 *   the runner's records and harn batch's stay equal, and the common case
 *   costs nothing. With --fields, members keep their JSON text; a missing
 *   one is null (`reason` is only there when there is one).
 * - CSV cells follow RFC 4180 (quoted when they hold a comma, a quote, CR
 *   or LF; quotes doubled); TSV cells escape \t, \n, \r and \ as \t, \n,
 *   \r and \\ (the text format of PostgreSQL's COPY), so each row is one
 *   line. A string is its text, null an empty cell, anything else its JSON.
 */
#include "supervisor/sup_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/suggest.h"

/* The record's members (pool.c, record_json), in record order. */
static const char *const RECFMT_KNOWN[] = {
    "id",        "attempt",       "file",      "status",     "reason",      "value",
    "exit_code", "error",         "output",    "stdout",     "stderr",      "output_truncated",
    "steps",     "steps_truncated", "lifecycle", "lifecycle_truncated", "emits",
    "emits_truncated", "dropped", "started_at", "duration_ms", "cpu_ms",     "max_rss_kb",
    "signals",   "hard_stop",     "counters",  "worker",     "sandbox",     "capabilities"};
#define NKNOWN (sizeof RECFMT_KNOWN / sizeof *RECFMT_KNOWN)

static const char *const ALWAYS[] = {"id", "attempt", "status"};

/* The columns of a table when --fields is not given: what a person reads
 * first; the rest is one --fields away. */
static const char *const TABLE_DEFAULT =
    "id,attempt,status,reason,file,value,exit_code,error.message,stdout,stderr,started_at,"
    "duration_ms,cpu_ms,max_rss_kb";

static bool known(const char *name, size_t len)
{
  for (size_t i = 0; i < NKNOWN; i++)
    if (strlen(RECFMT_KNOWN[i]) == len && !memcmp(RECFMT_KNOWN[i], name, len)) return true;
  return false;
}

static bool listed(const SupRecFmt *f, const char *name)
{
  for (size_t i = 0; i < f->nfields; i++)
    if (!strcmp(f->fields[i], name)) return true;
  return false;
}

static void add_field(SupRecFmt *f, const char *name, size_t len)
{
  f->fields = realloc(f->fields, (f->nfields + 1) * sizeof *f->fields);
  if (!f->fields) abort();
  f->fields[f->nfields] = strndup(name, len);
  if (!f->fields[f->nfields]) abort();
  f->nfields++;
}

int sup_recfmt_init(SupRecFmt *f, const char *format, const char *fields, const char *path,
                    char *why, size_t whylen)
{
  memset(f, 0, sizeof *f);
  if (!format && path) {
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".csv")) format = "csv";
    else if (n > 4 && !strcmp(path + n - 4, ".tsv")) format = "tsv";
  }
  if (!format || !strcmp(format, "jsonl") || !strcmp(format, "json")) f->kind = SUP_RECFMT_JSONL;
  else if (!strcmp(format, "csv")) f->kind = SUP_RECFMT_CSV;
  else if (!strcmp(format, "tsv")) f->kind = SUP_RECFMT_TSV;
  else {
    snprintf(why, whylen, "--results-format %s: not jsonl, csv or tsv", format);
    return -1;
  }
  if (!fields && f->kind != SUP_RECFMT_JSONL) fields = TABLE_DEFAULT;
  if (!fields) return 0;
  for (size_t i = 0; i < sizeof ALWAYS / sizeof *ALWAYS; i++) add_field(f, ALWAYS[i], strlen(ALWAYS[i]));
  for (const char *p = fields; *p;) {
    size_t len = strcspn(p, ",");
    size_t top = strcspn(p, ".,");
    if (len == 0 || p[len - 1] == '.' || top == 0) {
      snprintf(why, whylen, "--fields: an empty name in \"%.60s\"", fields);
      sup_recfmt_free(f);
      return -1;
    }
    if (!known(p, top)) {
      const char *near = suggest(p, top, RECFMT_KNOWN, NKNOWN);
      snprintf(why, whylen, "--fields: the record has no member \"%.*s\"%s%s%s", (int)(top > 60 ? 60 : top),
               p, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
      sup_recfmt_free(f);
      return -1;
    }
    char *name = strndup(p, len);
    if (!name) abort();
    if (!listed(f, name)) add_field(f, p, len);
    free(name);
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

void sup_recfmt_free(SupRecFmt *f)
{
  for (size_t i = 0; i < f->nfields; i++) free(f->fields[i]);
  free(f->fields);
  f->fields = NULL;
  f->nfields = 0;
}

/* ------------------------------------------------------------------ cells */

static void cell_text(const SupRecFmt *f, Buf *b, const char *s, size_t n)
{
  if (f->kind == SUP_RECFMT_TSV) {
    for (size_t i = 0; i < n; i++) {
      switch (s[i]) {
      case '\t': buf_puts(b, "\\t"); break;
      case '\n': buf_puts(b, "\\n"); break;
      case '\r': buf_puts(b, "\\r"); break;
      case '\\': buf_puts(b, "\\\\"); break;
      default: buf_putc(b, s[i]);
      }
    }
    return;
  }
  bool quote = false;
  for (size_t i = 0; i < n && !quote; i++) quote = strchr(",\"\r\n", s[i]) && s[i];
  if (!quote) {
    buf_append(b, s, n);
    return;
  }
  buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') buf_putc(b, '"');
    buf_putc(b, s[i]);
  }
  buf_putc(b, '"');
}

/* The member at dotted [path] of [rec], or NULL; nested objects are RAW
 * text, parsed again one level at a time (*owned collects what to free). */
static const SupJson *lookup(const SupJson *rec, const char *path, SupJson **owned, size_t *nowned)
{
  const SupJson *cur = rec;
  char part[128];
  for (const char *p = path;;) {
    size_t len = strcspn(p, ".");
    if (len >= sizeof part) return NULL;
    memcpy(part, p, len);
    part[len] = '\0';
    cur = sup_json_get(cur, part);
    if (!cur || !p[len]) return cur;
    p += len + 1;
    if (cur->type != SUP_JSON_RAW || cur->str[0] != '{' || *nowned >= 8) return NULL;
    SupJson *sub = sup_json_parse(cur->str, cur->slen, NULL);
    if (!sub) return NULL;
    owned[(*nowned)++] = sub;
    cur = sub;
  }
}

/* ------------------------------------------------------------------ lines */

void sup_recfmt_header(const SupRecFmt *f, Buf *out)
{
  if (f->kind == SUP_RECFMT_JSONL) return;
  for (size_t i = 0; i < f->nfields; i++) {
    if (i) buf_putc(out, f->kind == SUP_RECFMT_CSV ? ',' : '\t');
    cell_text(f, out, f->fields[i], strlen(f->fields[i]));
  }
  buf_putc(out, '\n');
}

int sup_recfmt_line(const SupRecFmt *f, const char *record, Buf *out)
{
  if (!f->nfields) {
    buf_puts(out, record);
    buf_putc(out, '\n');
    return 0;
  }
  SupJson *rec = sup_json_parse(record, strlen(record), NULL);
  if (!rec || rec->type != SUP_JSON_OBJECT) {
    sup_json_free(rec);
    return -1;
  }
  if (f->kind == SUP_RECFMT_JSONL) buf_putc(out, '{');
  for (size_t i = 0; i < f->nfields; i++) {
    SupJson *owned[8];
    size_t nowned = 0;
    const SupJson *v = lookup(rec, f->fields[i], owned, &nowned);
    if (f->kind == SUP_RECFMT_JSONL) {
      if (i) buf_putc(out, ',');
      sup_json_str(out, f->fields[i], strlen(f->fields[i]));
      buf_putc(out, ':');
      if (v && v->type == SUP_JSON_STRING && (!strcmp(f->fields[i], "id") || !strcmp(f->fields[i], "file")))
        sup_json_name(out, v->str); /* bytes that are not UTF-8 read back as they were (resume) */
      else if (v) sup_json_write(out, v);
      else buf_puts(out, "null");
    } else {
      if (i) buf_putc(out, f->kind == SUP_RECFMT_CSV ? ',' : '\t');
      if (v && v->type == SUP_JSON_STRING) {
        cell_text(f, out, v->str, v->slen);
      } else if (v && v->type != SUP_JSON_NULL) {
        Buf t = {0};
        sup_json_write(&t, v);
        cell_text(f, out, t.data, t.len);
        buf_free(&t);
      }
    }
    while (nowned) sup_json_free(owned[--nowned]);
  }
  if (f->kind == SUP_RECFMT_JSONL) buf_putc(out, '}');
  buf_putc(out, '\n');
  sup_json_free(rec);
  return 0;
}
