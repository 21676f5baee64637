/*
 * json_escape.c: bytes to a JSON string (rules in json_escape.h). The
 * longest run of bytes that need no escape (printable ASCII other than `"`
 * and `\`, and well-formed UTF-8) is copied with one append.
 */
#include "base/json_escape.h"

#include <stdint.h>

#include "base/utf8.h"

static const char hex[] = "0123456789abcdef";

/* Append \u followed by the four hex digits of [u]. */
static void put_u(Buf *b, unsigned u)
{
  char e[6] = {'\\', 'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15], hex[u & 15]};
  buf_append(b, e, 6);
}

void json_escape(Buf *b, const char *s, size_t n, unsigned how)
{
  const unsigned char *p = (const unsigned char *)s;
  buf_reserve(b, n + 2);
  buf_putc(b, '"');
  size_t i = 0, run = 0; /* [run, i): bytes to copy as they are */
  while (i < n) {
    unsigned c = p[i];
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      i++;
      continue;
    }
    size_t len = 1;
    if (c >= 0x80) {
      uint32_t cp;
      len = utf8_decode(s + i, n - i, &cp);
      if (cp != UTF8_INVALID) {
        i += len;
        continue;
      }
    }
    buf_append(b, s + run, i - run);
    switch (c) {
    case '"': buf_append(b, "\\\"", 2); break;
    case '\\': buf_append(b, "\\\\", 2); break;
    case '\b': buf_append(b, "\\b", 2); break;
    case '\f': buf_append(b, "\\f", 2); break;
    case '\n': buf_append(b, "\\n", 2); break;
    case '\r': buf_append(b, "\\r", 2); break;
    case '\t': buf_append(b, "\\t", 2); break;
    default:
      if (c < 0x80) put_u(b, c); /* control character or DEL */
      else if (how & JSON_ESCAPE_BYTES)
        for (size_t k = 0; k < len; k++) put_u(b, 0xDC00u | p[i + k]);
      else put_u(b, 0xFFFDu);
    }
    i += len;
    run = i;
  }
  buf_append(b, s + run, n - run);
  buf_putc(b, '"');
}
