/*
 * diag.h: rendering of uncaught errors (docs/RUNTIME.md 3.4, docs/LANGUAGE.md 10.3).
 *
 *   error: Runtime error: Division by zero (line 2)
 *     --> main.harn:2:12
 *      |
 *    2 |   return a / b
 *      |            ^
 *     = note: called from pipeline at main.harn:5
 */
#ifndef HARN_DIAG_H
#define HARN_DIAG_H

#include "base/buf.h"
#include "vm.h" /* TraceEntry */

/* Returns the text of [file] (NUL-terminated) or NULL if unavailable. */
typedef const char *(*DiagSourceFn)(void *ud, const char *file);

/* Append the diagnostic for [message] (display text, suffix already
 * applied) with [trace] ([n] entries, outermost first) to [out]. [entry_file]
 * is used when a frame has no file. Lines are terminated by "\n". */
void diag_render(Buf *out, const char *message, const TraceEntry *trace, int n,
                 const char *entry_file, DiagSourceFn source, void *ud);

#endif
