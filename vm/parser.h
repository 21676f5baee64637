/*
 * parser.h: source text to syntax tree (ast.h).
 *
 * A recursive-descent parser over the lexer's tokens (lexer.h) following
 * docs/LANGUAGE.md sections 2, 5 and 6-9: newline-sensitive statements, the
 * precedence table of 5.1, lambda-vs-dict and struct-literal lookahead,
 * postfix `?` vs ternary, string interpolation (each `${...}` is parsed as
 * an expression; text that does not parse stays literal text), triple-quoted
 * string dedenting, and all type syntax (parsed, mostly dropped).
 *
 * Only the first error is reported, with the reference's exact text.
 */
#ifndef HARN_PARSER_H
#define HARN_PARSER_H

#include <stddef.h>

#include "ast.h"
#include "base/buf.h"

typedef struct ParseError {
  char message[512]; /* exact display text, e.g. "Expected expression, got ; at 3:5",
                        "Unexpected end of file, expected }",
                        "Unterminated string at 1:5" */
  int line, col;     /* position of the error (1-based; 0 if unknown) */
} ParseError;

/* Parse [len] bytes of [src] (need not be NUL-terminated) into an
 * N_PROGRAM node allocated in [arena]. Returns NULL on error with [err]
 * filled in. Never crashes or hangs on any input; nesting deeper than a
 * fixed limit is reported as an error instead of overflowing the C stack. */
Node *parse_program(Arena *arena, const char *src, size_t len, ParseError *err);

/* Debug aid: print the tree as an S-expression (debug.c; used by the
 * parser's unit tests). */
void parse_dump(const Node *n, Buf *out);

#endif
