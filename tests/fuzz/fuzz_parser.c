/*
 * fuzz_parser.c: libFuzzer harness for the lexer, the parser's error
 * recovery and the diagnostic renderer (docs/LANGUAGE.md 10.3), without
 * compiling or running anything, so that far more inputs per second reach
 * the recovery loops than through fuzz_vm.
 *
 * Invariants checked (abort() on violation, which libFuzzer reports):
 *   - parsing terminates (libFuzzer's -timeout catches a recovery loop that
 *     does not consume a token);
 *   - a failed parse has between 1 and PARSE_MAX_ERRORS errors, each with a
 *     non-empty message and a label, and `truncated` only with a full list;
 *   - a successful parse has none;
 *   - rendering every error over the input as source (diag_render_span) and
 *     colouring the result (diag_colorize) stays within the buffers.
 * The seed corpus is every tests/lang program (scripts/fuzz);
 * tests/fuzz/fuzz_parser.dict holds keywords and punctuation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm/diag.h"
#include "vm/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *source_of(void *ud, const char *file)
{
  (void)file;
  return ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *src = malloc(size + 1);
  if (!src) return 0;
  memcpy(src, data, size);
  src[size] = 0;
  Arena arena = {0};
  ParseError *err = calloc(1, sizeof *err);
  if (!err) abort();
  Node *prog = parse_program(&arena, src, size, err);
  if (prog) {
    if (err->ndiags != 0) abort();
  } else {
    if (err->ndiags < 1 || err->ndiags > PARSE_MAX_ERRORS) abort();
    if (err->truncated && err->ndiags != PARSE_MAX_ERRORS) abort();
    Buf out = {0};
    for (int i = 0; i < err->ndiags; i++) {
      const ParseDiag *d = &err->diags[i];
      if (!d->message[0] || !d->label) abort();
      diag_render_span(&out, d->message, "fuzz.harn", d->line, d->col, d->width, d->label,
                       d->help, source_of, src);
    }
    Buf col = {0};
    diag_colorize(out.data ? out.data : "", &col);
    buf_free(&col);
    buf_free(&out);
  }
  free(err);
  arena_free(&arena);
  free(src);
  return 0;
}
