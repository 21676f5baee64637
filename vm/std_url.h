/*
 * std_url.h: URLs and query strings (STDLIB.md 4.6; the reference's
 * url_parse.rs on the WHATWG `url` crate) and CSV (STDLIB.md 4.7; the Rust
 * `csv` crate). Implemented in std_url.c and std_csv.c; registered in
 * builtins.c's table; semantics at the top of each .c file and in
 * docs/stdlib.md.
 */
#ifndef HARN_STD_URL_H
#define HARN_STD_URL_H

#include <stddef.h>

#include "base/buf.h"
#include "builtins.h"

bool std_url_parse(Vm *vm, int argc, Value *argv, Value *out);
bool std_url_build(Vm *vm, int argc, Value *argv, Value *out);
bool std_query_parse(Vm *vm, int argc, Value *argv, Value *out);
bool std_query_stringify(Vm *vm, int argc, Value *argv, Value *out);

bool std_csv_parse(Vm *vm, int argc, Value *argv, Value *out);
bool std_csv_stringify(Vm *vm, int argc, Value *argv, Value *out);

/* The parsed parts of a URL (every text malloc'd in one Buf, NULL = absent). */
typedef struct UrlParts {
  Buf text;
  const char *scheme, *username, *password, *host, *path, *query, *fragment;
  int port; /* -1: none or the scheme's default */
} UrlParts;

/* Parse [s] ([n] bytes) as the WHATWG URL parser does (no base URL):
 * NULL with *p filled (free it with url_parts_free), or the error text
 * ("relative URL without a base", "invalid port number"...). Exposed for
 * the fuzz harness. */
const char *std_url_parse_text(const char *s, size_t n, UrlParts *p);
void url_parts_free(UrlParts *p);
/* The serialization (href) of [p]. */
void std_url_serialize(const UrlParts *p, Buf *out);

/* Parse CSV [s] ([n] bytes) with [delim] into *out (a list of lists of
 * strings); false with the VM error set. Exposed for the fuzz harness. */
bool std_csv_rows(Vm *vm, const char *s, size_t n, char delim, Value *out);

#endif
