/*
 * fuzz_regex.c: libFuzzer harness over the regex builtins (vm/std_regex.c):
 * the pattern check (Rust's restrictions), PCRE2 compilation with our
 * options, the match loop with Rust's empty-match rule, replacement
 * expansion, splitting, captures and the lossy handling of text that is
 * not UTF-8, all through a real VM so that rooting, the memory limit and
 * the instruction limit are exercised as a program would.
 *
 * Input: PATTERN \0 TEXT \0 REPLACEMENT \0 FLAGS (missing parts are
 * empty). They reach the program as JSON strings in its input, bytes
 * kept as they are (the VM's JSON reader keeps invalid UTF-8).
 *
 * Invariant checked: no crash, no hang, no sanitizer report, and every run
 * either succeeds or fails with a non-empty error text (every regex error
 * is caught by the program, so a failure is a limit: instructions,
 * memory).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char program[] =
    "pipeline default(t) {\n"
    "  try { regex_match(t.p, t.s, t.f) } catch e { }\n"
    "  try { regex_match(t.p, t.s) } catch e { }\n"
    "  try { regex_replace(t.p, t.r, t.s) } catch e { }\n"
    "  try { regex_split(t.s, t.p, t.f) } catch e { }\n"
    "  try { regex_captures(t.p, t.s) } catch e { }\n"
    "}\n";

static void discard(void *ud, int stream, const char *p, size_t n)
{
  (void)ud, (void)stream, (void)p, (void)n;
}

/* A JSON string of [n] bytes at [s]: quote, backslash and control
 * characters escaped, every other byte as it is. */
static void json_str(Buf *b, const uint8_t *s, size_t n)
{
  buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') {
      buf_putc(b, '\\');
      buf_putc(b, (char)s[i]);
    } else if (s[i] < 0x20) {
      buf_printf(b, "\\u%04x", s[i]);
    } else {
      buf_putc(b, (char)s[i]);
    }
  }
  buf_putc(b, '"');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *part[4] = {data, data + size, data + size, data + size};
  size_t len[4] = {size, 0, 0, 0};
  for (int k = 1; k < 4; k++) {
    const uint8_t *z = memchr(part[k - 1], 0, len[k - 1]);
    if (!z) break;
    len[k] = (size_t)(data + size - (z + 1));
    len[k - 1] = (size_t)(z - part[k - 1]);
    part[k] = z + 1;
  }
  Buf in = {0};
  static const char *const keys[4] = {"p", "s", "r", "f"};
  buf_putc(&in, '{');
  for (int k = 0; k < 4; k++) {
    if (k) buf_putc(&in, ',');
    buf_printf(&in, "\"%s\":", keys[k]);
    json_str(&in, part[k], len[k]);
  }
  buf_putc(&in, '}');

  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.write = discard;
  cfg.max_instructions = 200000;
  cfg.memory_limit = 64u << 20;
  cfg.fake_sleep = true;
  cfg.import_root = VM_IMPORT_ROOT_NONE;
  Vm *vm = vm_new(&cfg);
  VmStatus st = vm_run_source(vm, "fuzz_regex.harn", program, sizeof program - 1, in.data);
  if (st != VM_OK) {
    const char *t = vm_error_text(vm);
    if (!t || !*t) abort(); /* every failure must say why */
  }
  vm_free(vm);
  buf_free(&in);
  return 0;
}
