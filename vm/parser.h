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
 * Errors: the parser recovers (it skips to the next statement or
 * declaration boundary) and reports every error it finds, up to
 * PARSE_MAX_ERRORS; a lexer error (the whole file is tokenized first) is
 * always the only one. Each error carries what the diagnostic renderer
 * (diag.h) needs: message, position, span width, label and optional help.
 */
#ifndef HARN_PARSER_H
#define HARN_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "ast.h"
#include "base/buf.h"

/* At most this many errors are kept; later ones only set `truncated`. */
#define PARSE_MAX_ERRORS 20

/* One syntax error, ready to render (docs/LANGUAGE.md 10.3). */
typedef struct ParseDiag {
  char message[320];  /* e.g. "expected expression, found ;",
                         "unexpected end of file, expected }",
                         "Unterminated string" (no position in the text) */
  int line, col;      /* 1-based start of the span (0 if unknown) */
  int width;          /* characters under the carets (>= 1) */
  const char *label;  /* static text after the carets, e.g. "unexpected token" */
  const char *help;   /* static `= help:` text, or NULL */
} ParseDiag;

typedef struct ParseError {
  /* The first error (kept for callers that only show one). */
  char message[512]; /* the first diag's message */
  int line, col;     /* position of the first error (1-based; 0 if unknown) */
  /* Every error in source order of discovery, at most PARSE_MAX_ERRORS. */
  ParseDiag diags[PARSE_MAX_ERRORS];
  int ndiags;
  bool truncated;    /* more errors were found than diags holds */
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
