/*
 * json_escape.h: the one JSON string escaper of harn. The VM's
 * json_stringify (vm/json.c), the results file and `harn run --json`
 * (ipc/json.c) and the supervisor's records and event lines
 * (supervisor/json.c) all write their strings with it, so the same bytes
 * become the same JSON text wherever they appear.
 *
 * Rules (the output is always valid JSON, RFC 8259, and valid UTF-8):
 *   - `"` and `\` are escaped; \b \f \n \r \t use their short forms; every
 *     other control character (below 0x20) and DEL (0x7F) is \u00XX
 *     (lowercase hex).
 *   - Well-formed UTF-8 (base/utf8.h) is copied as it is.
 *   - An invalid character (a maximal subpart, base/utf8.h) becomes the
 *     escape \ufffd, one per subpart: six ASCII bytes, so the text stays
 *     ASCII-safe and says plainly that something was replaced.
 *   - With JSON_ESCAPE_BYTES, each byte XX of an invalid character becomes
 *     \udcXX instead (Python's "surrogateescape"; XX is always >= 0x80).
 *     Readers that know the convention (supervisor/json.c's parser) turn
 *     it back into the byte, so a name that is not UTF-8 round-trips
 *     exactly (job ids and paths: docs/cli.md "The terminal record").
 * At most 6 output bytes per input byte, plus the two quotes.
 */
#ifndef HARN_BASE_JSON_ESCAPE_H
#define HARN_BASE_JSON_ESCAPE_H

#include <stddef.h>

#include "base/buf.h"

/* json_escape's [how]: invalid bytes as \udcXX rather than \ufffd. */
#define JSON_ESCAPE_BYTES 1u

/* Append [n] bytes of [s] (any bytes, NULs included) to [b] as a JSON
 * string, quotes included, by the rules above. */
void json_escape(Buf *b, const char *s, size_t n, unsigned how);

#endif
