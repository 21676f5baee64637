/*
 * fuzz_vm.c: libFuzzer harness over the whole VM front to back: lex,
 * parse, compile and run any byte sequence as a Harn program, with an
 * instruction limit and a heap limit so that every input terminates, and
 * the import root a sandboxed worker gives a program sent as source.
 *
 * Invariant checked: no crash, no hang, no sanitizer report, and every
 * failing input produces a non-empty error text.
 *
 * tests/fuzz/fuzz_vm.dict (scripts/fuzz passes it with -dict=) holds the
 * keywords, every method and builtin name and the integers at the edges of
 * the sizes, steps, counts and indices they take (2^63 - 1, -2^63, 2^32...),
 * so that mutations reach the size arithmetic quickly. Loops in C count
 * against the instruction limit too (methods.h meth_poll).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void discard(void *ud, int stream, const char *p, size_t n)
{
  (void)ud, (void)stream, (void)p, (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.write = discard;
  cfg.max_instructions = 200000;
  cfg.memory_limit = 64u << 20;
  cfg.fake_sleep = true;
  /* As a worker runs a program given as source: imports come from std/
   * only, so no input makes the harness open a host file (docs/sandbox.md
   * "Imports"); the heap limit is a job's --memory 64M. */
  cfg.import_root = VM_IMPORT_ROOT_NONE;
  Vm *vm = vm_new(&cfg);
  VmStatus st = vm_run_source(vm, "fuzz.harn", (const char *)data, size, NULL);
  if (st != VM_OK) {
    const char *t = vm_error_text(vm);
    if (!t || !*t) abort(); /* every failure must say why */
  }
  vm_free(vm);
  return 0;
}
