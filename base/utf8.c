/*
 * utf8.c: the out-of-line parts of the UTF-8 decoder (utf8.h): counting
 * characters and validating a whole text. Both walk the text with
 * utf8_decode, so they follow its maximal-subpart rule; runs of ASCII are
 * skipped a byte at a time without a call.
 */
#include "base/utf8.h"

size_t utf8_count(const char *s, size_t n)
{
  size_t count = 0, i = 0;
  while (i < n) {
    if ((unsigned char)s[i] < 0x80) i++;
    else i += utf8_char_len(s + i, n - i);
    count++;
  }
  return count;
}

bool utf8_valid(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    if ((unsigned char)s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    i += utf8_decode(s + i, n - i, &cp);
    if (cp == UTF8_INVALID) return false;
  }
  return true;
}
