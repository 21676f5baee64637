/*
 * diag.h: rendering of uncaught errors (docs/RUNTIME.md 3.4, docs/LANGUAGE.md 10.3).
 *
 *   error: Runtime error: Division by zero (line 2)
 *     --> main.harn:2:12
 *      |
 *    2 |   return a / b
 *      |            ^
 *     = note: called from pipeline at main.harn:5
 *
 * Lexer and parser errors use the same layout with a label after the carets
 * and an optional help line (docs/LANGUAGE.md 10.3):
 *
 *   error: unexpected end of file, expected }
 *     --> main.harn:3:14
 *      |
 *    3 |   println("x")
 *      |              ^ file ends here
 *     = help: add a closing `}` to finish this block
 *
 * The text is always plain; diag_fputs() adds colour when it goes to a
 * terminal.
 */
#ifndef HARN_DIAG_H
#define HARN_DIAG_H

#include <stdio.h>

#include "base/buf.h"
#include "vm.h" /* TraceEntry */

/* Returns the text of [file] (NUL-terminated) or NULL if unavailable. */
typedef const char *(*DiagSourceFn)(void *ud, const char *file);

/* Append the diagnostic for [message] (display text, suffix already
 * applied) with [trace] ([n] entries, outermost first) to [out]. [entry_file]
 * is used when a frame has no file. Lines are terminated by "\n". */
void diag_render(Buf *out, const char *message, const TraceEntry *trace, int n,
                 const char *entry_file, DiagSourceFn source, void *ud);

/* Identical consecutive call frames (deep recursion) show this many notes,
 * then one `  = note: [previous frame repeated N more times]`. */
#define DIAG_REPEAT_SHOWN 3

/* Append one diagnostic at [file]:[line]:[col] (line 0: the message line
 * only): [width] carets (0: the identifier at col, else 1; clamped to the
 * line), then " " + [label] when non-empty, then `  = help: ` + [help] when
 * non-NULL. [source] gives the file's text for the source line. */
void diag_render_span(Buf *out, const char *message, const char *file, int line, int col,
                      int width, const char *label, const char *help, DiagSourceFn source,
                      void *ud);

/* Write a rendered diagnostic [text] to [f]: as is, or coloured (the
 * `error` word and carets red, `-->`, gutters and notes blue, help cyan)
 * when [f] is a terminal and NO_COLOR is unset or empty (diag_color.c). */
void diag_fputs(const char *text, FILE *f);

/* The colouring of diag_fputs() applied to [text], appended to [out]
 * (exposed for tests). */
void diag_colorize(const char *text, Buf *out);

#endif
