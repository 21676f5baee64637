/*
 * std_csv.c: csv_parse / csv_stringify (STDLIB.md 4.7), after the
 * reference's csv.rs on the Rust `csv` crate (RFC 4180 with its
 * defaults). Our own reader and writer:
 *
 * csv_parse(text, {headers = false, delimiter = ","}):
 *  - records end at \n, \r\n or \r; empty lines are skipped (as the
 *    crate does); a UTF-8 byte-order mark at the start is dropped;
 *  - a field starting with '"' is quoted: "" is a quote, delimiters and
 *    line ends are data, and what follows the closing quote up to the
 *    delimiter is appended as is ("ab"cd -> abcd); a quote inside an
 *    unquoted field is an ordinary character; an unclosed quote runs to
 *    the end of the text; no trimming;
 *  - rows may have different lengths (flexible): without headers the
 *    result is a list of lists of strings; with headers the first record
 *    names the columns and every other row is a dict (a missing cell is
 *    "", extra cells are dropped; a repeated name keeps the last cell).
 * csv_stringify(rows, {headers = false, delimiter = ","}): rows are lists
 * (written in order) or dicts (their values in the sorted union of all
 * rows' keys, "" for a missing key; with headers: true that union is
 * written first as the header row). A field is quoted only when needed:
 * it holds the delimiter, a quote, \r or \n, or it is the only field of
 * its record and empty; quotes are doubled; every record ends with \n.
 * Strings are written as is, nil as "", other values as displayed.
 * The delimiter is one ASCII character (`<builtin>: delimiter must be a
 * single ASCII character`).
 */
#include <string.h>

#include "error.h"
#include "gc.h"
#include "object.h"
#include "state.h"
#include "std_url.h"

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

/* The options dict: headers and delimiter. */
static bool options(Vm *vm, const char *fn, Value o, bool *headers, char *delim)
{
  *headers = false;
  *delim = ',';
  if (IS_NIL(o)) return true;
  if (!IS_DICT(o)) return err_throw_str(vm, "%s: options must be a dict, got %s", fn, val_type_name(o));
  Value v;
  if (dict_get_cstr(AS_DICT(o), "headers", &v)) *headers = val_truthy(v);
  if (dict_get_cstr(AS_DICT(o), "delimiter", &v) && !IS_NIL(v)) {
    if (!IS_STRING(v) || AS_STRING(v)->len != 1 || (unsigned char)AS_CSTR(v)[0] >= 0x80)
      return err_throw_str(vm, "%s: delimiter must be a single ASCII character", fn);
    *delim = AS_CSTR(v)[0];
  }
  return true;
}

bool std_csv_rows(Vm *vm, const char *s, size_t n, char delim, Value *out)
{
  ObjList *rows = list_new(vm, 0);
  size_t i = 0;
  if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) i = 3;
  Buf field = {0};
  while (i < n) {
    /* skip empty lines */
    if (s[i] == '\n' || s[i] == '\r') {
      i++;
      continue;
    }
    ObjList *rec = list_new(vm, 0);
    for (;;) {
      buf_clear(&field);
      if (i < n && s[i] == '"') {
        i++;
        for (;;) {
          if (i >= n) break;
          if (s[i] == '"') {
            if (i + 1 < n && s[i + 1] == '"') {
              buf_putc(&field, '"');
              i += 2;
              continue;
            }
            i++;
            break;
          }
          buf_putc(&field, s[i++]);
        }
      }
      while (i < n && s[i] != delim && s[i] != '\n' && s[i] != '\r') buf_putc(&field, s[i++]);
      if (!mem_fits(vm, field.len)) {
        buf_free(&field);
        return err_memory(vm);
      }
      list_push(vm, rec, OBJ_VAL(str_new(vm, field.data ? field.data : "", field.len)));
      if (i < n && s[i] == delim) {
        i++;
        continue;
      }
      break; /* end of line or text */
    }
    if (i < n && s[i] == '\r') i++;
    if (i < n && s[i] == '\n') i++;
    list_push(vm, rows, OBJ_VAL(rec));
    if (vm->heap.doomed) break;
  }
  buf_free(&field);
  if (vm->heap.doomed) return err_memory(vm);
  *out = OBJ_VAL(rows);
  return true;
}

bool std_csv_parse(Vm *vm, int argc, Value *argv, Value *out)
{
  Value t = arg(argc, argv, 0);
  if (!IS_STRING(t)) return err_throw_str(vm, "csv_parse: expected a string, got %s", val_type_name(t));
  bool headers;
  char delim;
  if (!options(vm, "csv_parse", arg(argc, argv, 1), &headers, &delim)) return false;
  Value rows;
  if (!std_csv_rows(vm, AS_CSTR(t), AS_STRING(t)->len, delim, &rows)) return false;
  if (!headers) {
    *out = rows;
    return true;
  }
  ObjList *l = AS_LIST(rows);
  ObjList *res = list_new(vm, l->count ? l->count - 1 : 0);
  if (l->count == 0) {
    *out = OBJ_VAL(res);
    return true;
  }
  ObjList *head = AS_LIST(l->items[0]);
  for (uint32_t r = 1; r < l->count; r++) {
    ObjList *rec = AS_LIST(l->items[r]);
    ObjDict *d = dict_new(vm, head->count);
    for (uint32_t c = 0; c < head->count; c++)
      dict_set(vm, d, AS_STRING(head->items[c]), c < rec->count ? rec->items[c] : OBJ_VAL(str_cstr(vm, "")));
    list_push(vm, res, OBJ_VAL(d));
  }
  *out = OBJ_VAL(res);
  return true;
}

static void write_field(Vm *vm, Buf *b, Value v, char delim, bool only)
{
  ObjString *s = IS_NIL(v) ? NULL : val_to_string(vm, v);
  const char *p = s ? s->chars : "";
  size_t n = s ? s->len : 0;
  bool quote = n == 0 && only;
  for (size_t i = 0; i < n && !quote; i++) quote = p[i] == delim || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
  if (!quote) {
    buf_append(b, p, n);
    return;
  }
  buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '"') buf_putc(b, '"');
    buf_putc(b, p[i]);
  }
  buf_putc(b, '"');
}

bool std_csv_stringify(Vm *vm, int argc, Value *argv, Value *out)
{
  Value rv = arg(argc, argv, 0);
  if (!IS_LIST(rv)) return err_throw_str(vm, "csv_stringify: expected a list of rows, got %s", val_type_name(rv));
  bool headers;
  char delim;
  if (!options(vm, "csv_stringify", arg(argc, argv, 1), &headers, &delim)) return false;
  ObjList *rows = AS_LIST(rv);
  /* the sorted union of the dict rows' keys */
  ObjDict *keys = dict_new(vm, 0);
  bool any_dict = false;
  for (uint32_t r = 0; r < rows->count; r++) {
    Value row = rows->items[r];
    if (IS_DICT(row)) {
      any_dict = true;
      for (uint32_t k = 0; k < AS_DICT(row)->count; k++) dict_set(vm, keys, AS_DICT(row)->entries[k].key, val_nil());
    } else if (!IS_LIST(row)) {
      return err_throw_str(vm, "csv_stringify: each row must be a list or a dict, got %s", val_type_name(row));
    }
  }
  Buf b = {0};
  if (headers && any_dict) {
    for (uint32_t k = 0; k < keys->count; k++) {
      if (k) buf_putc(&b, delim);
      write_field(vm, &b, OBJ_VAL(keys->entries[k].key), delim, keys->count == 1);
    }
    buf_putc(&b, '\n');
  }
  for (uint32_t r = 0; r < rows->count; r++) {
    Value row = rows->items[r];
    if (IS_LIST(row)) {
      ObjList *l = AS_LIST(row);
      for (uint32_t c = 0; c < l->count; c++) {
        if (c) buf_putc(&b, delim);
        write_field(vm, &b, l->items[c], delim, l->count == 1);
      }
    } else {
      for (uint32_t k = 0; k < keys->count; k++) {
        Value v = val_nil();
        dict_get(AS_DICT(row), keys->entries[k].key, &v);
        if (k) buf_putc(&b, delim);
        write_field(vm, &b, v, delim, keys->count == 1);
      }
    }
    buf_putc(&b, '\n');
    if (!mem_fits(vm, b.len)) {
      buf_free(&b);
      return err_memory(vm);
    }
  }
  *out = OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len));
  buf_free(&b);
  return true;
}
