/*
 * utf8.h: the one UTF-8 decoder and validator of harn. Every component that
 * looks at the characters of a byte string (the lexer's columns, the
 * diagnostics' carets, string lengths and indices, case mapping, the JSON
 * escaper) decodes with utf8_decode, so they all agree on where one
 * character ends and the next begins.
 *
 * Well-formed means RFC 3629 / Unicode Table 3-7: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 *
 * The rule for bytes that are not well-formed is the Unicode / WHATWG
 * "maximal subpart" rule (Unicode 15, section 3.9 "U+FFFD Substitution of
 * Maximal Subparts"): an ill-formed sequence is cut into maximal subparts,
 * the longest prefixes of a well-formed sequence (or else a single byte),
 * and each subpart is ONE invalid character. Examples:
 *   "\xE2\x82A" -> invalid(E2 82), 'A'   (a truncated 3-byte sequence)
 *   "\xFF\xFE"  -> invalid(FF), invalid(FE)
 *   "\xED\xA0\x80" -> three invalid characters (a surrogate: ED is only
 *                  followed by 80..9F)
 *   "\xC0\xAF"  -> two invalid characters (C0 never starts a sequence)
 * Where the text is shown or re-encoded, an invalid character stands for
 * U+FFFD (UTF8_REPLACEMENT); in Harn strings it keeps its bytes and counts
 * as one character (docs/LANGUAGE.md, strings).
 *
 * The decoder is inline: it sits on the string fast paths (indexing,
 * iteration), whose ASCII case costs one comparison.
 */
#ifndef HARN_BASE_UTF8_H
#define HARN_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code point utf8_decode stores for an invalid character (above any
 * code point, so a caller's range tests never mistake it for one). */
#define UTF8_INVALID UINT32_MAX
/* What an invalid character is shown as. */
#define UTF8_REPLACEMENT 0xFFFDu

/* Decode the character at [s] ([n] >= 1 bytes available): returns its
 * length in bytes (1..4, never more than [n]) and stores its code point in
 * *cp, or UTF8_INVALID when the bytes are not well-formed; the length is
 * then that of the maximal subpart (1..3). */
static inline size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
  const unsigned char *u = (const unsigned char *)s;
  unsigned c = u[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t need;   /* continuation bytes */
  unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) need = 1, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) need = 2, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) need = 3, v = c & 0x07;
  else {
    *cp = UTF8_INVALID;
    return 1;
  }
  if (c == 0xE0) lo = 0xA0;      /* no overlong 3-byte forms */
  else if (c == 0xED) hi = 0x9F; /* no surrogates */
  else if (c == 0xF0) lo = 0x90; /* no overlong 4-byte forms */
  else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
  if (n < 2 || u[1] < lo || u[1] > hi) {
    *cp = UTF8_INVALID;
    return 1;
  }
  v = (v << 6) | (u[1] & 0x3F);
  for (size_t k = 2; k <= need; k++) {
    if (k >= n || (u[k] & 0xC0) != 0x80) {
      *cp = UTF8_INVALID;
      return k; /* the maximal subpart: the bytes so far */
    }
    v = (v << 6) | (u[k] & 0x3F);
  }
  *cp = v;
  return need + 1;
}

/* Length in bytes of the character at [s] ([n] >= 1 bytes available),
 * valid or not (utf8_decode's length). */
static inline size_t utf8_char_len(const char *s, size_t n)
{
  uint32_t cp;
  return (unsigned char)s[0] < 0x80 ? 1 : utf8_decode(s, n, &cp);
}

/* Number of characters in [s] ([n] bytes), an invalid one (a maximal
 * subpart) counting as one. */
size_t utf8_count(const char *s, size_t n);

/* Whether [s] ([n] bytes) is entirely well-formed UTF-8. */
bool utf8_valid(const char *s, size_t n);

#endif
