/*
 * buf.h: a growable byte buffer (plain malloc, not GC-managed).
 *
 * Used to build display strings, diagnostics and encoded frames. The data
 * is always NUL-terminated so it can be handed to C string functions; `len`
 * excludes the terminator. A zero-initialised Buf is a valid empty buffer.
 */
#ifndef HARN_BUF_H
#define HARN_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Buf {
  char *data;
  size_t len, cap;
} Buf;

/* Append [n] bytes of [s]. Aborts on out-of-memory (as malloc users here do). */
void buf_append(Buf *b, const char *s, size_t n);
/* Append the NUL-terminated string [s]. */
void buf_puts(Buf *b, const char *s);
void buf_putc(Buf *b, char c);
/* printf-style append. */
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(Buf *b, const char *fmt, va_list ap);
/* Decimal text of [v] / [u] (no stdio): written to [out], which needs room
 * for BUF_INT_MAX bytes, without a terminator; returns the length. */
#define BUF_INT_MAX 21
size_t buf_fmt_i64(char *out, int64_t v);
size_t buf_fmt_u64(char *out, uint64_t u);
/* Append the decimal text of [v] / [u] (same bytes as printf's PRId64 /
 * PRIu64). */
void buf_put_i64(Buf *b, int64_t v);
void buf_put_u64(Buf *b, uint64_t u);
/* Append code point [cp] (at most 0x10FFFF) encoded as UTF-8. */
void buf_put_utf8(Buf *b, uint32_t cp);
/* Make sure [n] more bytes fit without reallocating. */
void buf_reserve(Buf *b, size_t n);
/* Empty the buffer, keeping its memory. */
void buf_clear(Buf *b);
/* Release the memory; the Buf is empty and reusable afterwards. */
void buf_free(Buf *b);
/* Hand the data over to the caller (who frees it with free()); the Buf is
 * left empty. Never returns NULL. */
char *buf_take(Buf *b);

#endif
