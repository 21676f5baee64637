/*
 * fuzz_stdlib.c: libFuzzer harness over the parsers of the pure standard
 * library (STDLIB.md 5 "Fuzz every parser"): one harness, the first byte
 * choosing the parser, so that CI's fuzzing time grows by one harness's
 * share rather than one per parser (scripts/fuzz runs each harness for the
 * same time). The rest of the input is the text:
 *
 *   0  date_parse's parser (std_time_parse), then date_format with the
 *      text as the format string, in a zone chosen by the second byte
 *   1  csv_parse with a delimiter chosen by the second byte; checked:
 *      parse(stringify(rows)) == rows
 *   2  yaml_parse; checked: what parses, yaml_stringify writes and
 *      yaml_parse reads back
 *   3  url_parse; checked: the serialization parses again to itself
 *      (the WHATWG parser is idempotent on its output); query_parse
 *   4  jq with the text as the program over a fixed document, and
 *      json_pointer / json_extract with the text
 *   5  the TZif reader on the bytes as a zone file, and the POSIX TZ
 *      string parser, with lookups around the transitions
 *   6  toml_parse; checked: what parses, toml_stringify writes and
 *      toml_parse reads back to an equal value (NaN aside)
 *
 * Invariant: no crash, no sanitizer report, the checks above; a failure
 * must leave an error text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/builtins.h"
#include "vm/error.h"
#include "vm/object.h"
#include "vm/state.h"
#include "vm/std_json.h"
#include "vm/std_time.h"
#include "vm/std_url.h"
#include "vm/tzif.h"
#include "vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void discard(void *ud, int stream, const char *p, size_t n)
{
  (void)ud, (void)stream, (void)p, (void)n;
}

static Value S(Vm *vm, const char *s, size_t n) { return OBJ_VAL(str_new(vm, s, n)); }

/* A builtin's failure must leave an error; clear it for the next call. */
static void check_fail(Vm *vm, bool ok)
{
  if (ok) return;
  Buf b = {0};
  err_display(vm, &b);
  if (b.len == 0) abort();
  buf_free(&b);
  err_clear(vm);
}

static void fuzz_date(Vm *vm, const char *s, size_t n, uint8_t sel)
{
  int64_t us;
  char err[96];
  int rc = std_time_parse(s, n, &us, err, sizeof err);
  if (rc == STD_TIME_INVALID && err[0] == '\0') abort();
  static const char *const zones[] = {NULL, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/London",
                                      "America/St_Johns", "Pacific/Chatham", "Etc/GMT+12"};
  Value argv[3] = {val_int(rc == STD_TIME_OK ? us / 1000000 : -1234567890), S(vm, s, n),
                   zones[sel % 8] ? OBJ_VAL(str_cstr(vm, zones[sel % 8])) : val_nil()};
  Value out;
  check_fail(vm, std_date_format(vm, 3, argv, &out));
  check_fail(vm, std_date_parse(vm, 1, argv + 1, &out));
  Value in_zone[2] = {argv[0], argv[2]};
  check_fail(vm, std_date_in_zone(vm, 2, in_zone, &out));
}

static void fuzz_csv(Vm *vm, const char *s, size_t n, uint8_t sel)
{
  static const char delims[] = {',', ';', '\t', '|', '"', '\n', 'a', ' '};
  char delim = delims[sel % 8];
  Value rows;
  if (!std_csv_rows(vm, s, n, delim, &rows)) {
    check_fail(vm, false);
    return;
  }
  if (delim == '"' || delim == '\n') return; /* not a usable delimiter for a round trip */
  ObjDict *opts = dict_new(vm, 1);
  dict_set_cstr(vm, opts, "delimiter", OBJ_VAL(str_new(vm, &delim, 1)));
  Value argv[2] = {rows, OBJ_VAL(opts)}, text, again;
  if (!std_csv_stringify(vm, 2, argv, &text)) {
    check_fail(vm, false);
    return;
  }
  if (!std_csv_rows(vm, AS_CSTR(text), AS_STRING(text)->len, delim, &again)) abort();
  /* a first field that starts with a byte-order mark is read back without it */
  if (AS_STRING(text)->len >= 3 && memcmp(AS_CSTR(text), "\xEF\xBB\xBF", 3) == 0) return;
  if (!val_equal(rows, again)) abort();
}

static void fuzz_yaml(Vm *vm, const char *s, size_t n)
{
  Value v, text, again;
  if (!std_yaml_parse_text(vm, s, n, &v)) {
    check_fail(vm, false);
    return;
  }
  if (!std_yaml_stringify(vm, 1, &v, &text)) {
    check_fail(vm, false);
    return;
  }
  if (!std_yaml_parse_text(vm, AS_CSTR(text), AS_STRING(text)->len, &again)) abort();
}

static bool has_nan(Value v)
{
  if (IS_FLOAT(v)) return AS_FLOAT(v) != AS_FLOAT(v);
  if (IS_LIST(v)) {
    for (uint32_t i = 0; i < AS_LIST(v)->count; i++)
      if (has_nan(AS_LIST(v)->items[i])) return true;
  }
  if (IS_DICT(v)) {
    for (uint32_t i = 0; i < AS_DICT(v)->count; i++)
      if (has_nan(AS_DICT(v)->entries[i].value)) return true;
  }
  return false;
}

static void fuzz_toml(Vm *vm, const char *s, size_t n)
{
  Value v, text, again;
  if (!std_toml_parse_text(vm, s, n, &v)) {
    check_fail(vm, false);
    return;
  }
  if (!std_toml_stringify(vm, 1, &v, &text)) {
    check_fail(vm, false);
    return;
  }
  if (!std_toml_parse_text(vm, AS_CSTR(text), AS_STRING(text)->len, &again)) abort();
  if (!has_nan(v) && !val_equal(v, again)) abort();
}

static void fuzz_url(Vm *vm, const char *s, size_t n)
{
  UrlParts p, q;
  if (!std_url_parse_text(s, n, &p)) {
    Buf a = {0}, b = {0};
    std_url_serialize(&p, &a);
    const char *err = std_url_parse_text(a.data, a.len, &q);
    if (err) abort();
    std_url_serialize(&q, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    url_parts_free(&p);
    url_parts_free(&q);
    buf_free(&a);
    buf_free(&b);
  }
  Value argv[1] = {S(vm, s, n)}, out;
  check_fail(vm, std_query_parse(vm, 1, argv, &out));
  if (!IS_NIL(out) && IS_LIST(out)) check_fail(vm, std_query_stringify(vm, 1, &out, &out));
}

static void fuzz_json(Vm *vm, const char *s, size_t n)
{
  static const char doc[] = "{\"a\": [1, 2.5, {\"b\": null, \"c\": [true, false]}], \"s\": \"text\", \"n\": -3, "
                            "\"o\": {\"x\": {\"y\": [[], {}]}}}";
  Value d, out;
  if (!json_parse_value(vm, doc, sizeof doc - 1, &d)) abort();
  Value argv[3] = {d, S(vm, s, n), val_int(7)};
  check_fail(vm, std_jq(vm, 2, argv, &out));
  check_fail(vm, std_json_pointer(vm, 2, argv, &out));
  check_fail(vm, std_json_pointer_set(vm, 3, argv, &out));
  check_fail(vm, std_json_pointer_delete(vm, 2, argv, &out));
  check_fail(vm, std_json_extract(vm, 1, argv + 1, &out));
}

static void fuzz_tzif(const char *s, size_t n)
{
  TzZone z;
  TzInfo ti;
  int64_t t[2];
  if (tzif_parse((const unsigned char *)s, n, &z) || tzif_parse_block((const unsigned char *)s, n, &z)) {
    for (uint32_t i = 0; i < z.timecnt && i < 64; i++) {
      const unsigned char *p = z.times + (size_t)i * 8;
      int64_t at = (int64_t)((uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
                             (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | p[7]);
      if (at < -((int64_t)1 << 50) || at > ((int64_t)1 << 50)) continue;
      tzif_at(&z, at - 1, &ti);
      tzif_at(&z, at, &ti);
      tzif_from_local(&z, at, t);
    }
    tzif_at(&z, 0, &ti);
    tzif_at(&z, (int64_t)1 << 40, &ti);
    tzif_from_local(&z, 1700000000, t);
  }
  TzPosix px;
  if (tz_posix_parse(s, n, &px)) {
    memset(&z, 0, sizeof z);
    z.has_footer = true;
    z.footer = px;
    for (int64_t at = -4000000000LL; at < 4000000000LL; at += 86400 * 29 + 3607) tzif_at(&z, at, &ti);
    tzif_from_local(&z, 1700000000, t);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2) return 0;
  uint8_t which = data[0] % 7, sel = data[1];
  const char *s = (const char *)data + 2;
  size_t n = size - 2;
  if (which == 5) {
    fuzz_tzif(s, n);
    return 0;
  }
  /* One VM for many inputs (vm_new costs more than most parses): the
   * builtins run no safe point, so nothing is collected in between; the
   * VM is replaced when its heap has grown or after 256 inputs. */
  static Vm *vm;
  static unsigned uses;
  if (vm && (++uses >= 256 || vm->heap.bytes > (16u << 20) || vm->heap.doomed)) {
    vm_free(vm);
    vm = NULL;
  }
  if (!vm) {
    VmConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.write = discard;
    cfg.max_instructions = 200000;
    cfg.memory_limit = 64u << 20;
    vm = vm_new(&cfg);
    uses = 0;
  }
  switch (which) {
  case 0: fuzz_date(vm, s, n, sel); break;
  case 1: fuzz_csv(vm, s, n, sel); break;
  case 2: fuzz_yaml(vm, s, n); break;
  case 3: fuzz_url(vm, s, n); break;
  case 4: fuzz_json(vm, s, n); break;
  default: fuzz_toml(vm, s, n); break;
  }
  err_clear(vm);
  return 0;
}
