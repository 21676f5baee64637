/*
 * methods_string.c: the methods of strings (docs/LANGUAGE.md 11.1).
 *
 * Strings are immutable UTF-8 (value.h); every index and length at the
 * language level counts characters (code points). Each method scans the
 * bytes once, stepping one character at a time with char_len(), which treats
 * a byte that does not start a well-formed sequence as a character of its
 * own, the same rule str_new uses to count. When the string is pure ASCII
 * (ObjString.ascii) byte offsets are character indices and the scans are
 * skipped.
 *
 * Argument rules: a string argument that is not a string is displayed first
 * ("str(a)" in the spec); integer arguments accept ints and truncated
 * floats; anything else falls back to the documented default. No method
 * fails except with the memory error (err_memory), when its result would
 * not fit a string (lengths are 32-bit) or the memory limit: `repeat` and
 * `pad_*` (sizes the program chooses), `replace`, and `split` / `chars` /
 * `lines`, which make many strings out of one (meth_fits). Counts and
 * widths are computed in 64 bits with overflow checks.
 *
 * Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * (simple one-to-one mappings plus the German sharp s, which uppercases to
 * "SS"); other characters are copied unchanged. Whitespace for trim is the
 * Unicode White_Space property.
 */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "base/utf8.h"
#include "builtins.h"
#include "error.h"
#include "methods.h"
#include "object.h"
#include "state.h"
#include "ucase.h"

/* ---- UTF-8 helpers ------------------------------------------------------ */

#define char_len meth_char_len

/* Decode the character at [i]: returns its byte length and sets *cp, or
 * sets *cp to UINT32_MAX (UTF8_INVALID) for an invalid one. */
static size_t decode(const char *s, size_t len, size_t i, uint32_t *cp)
{
  return utf8_decode(s + i, len - i, cp);
}

/* Character index of byte offset [off] (a character boundary). */
static int64_t char_index(const ObjString *s, size_t off)
{
  if (s->ascii) return (int64_t)off;
  int64_t ci = 0;
  for (size_t i = 0; i < off; i += char_len(s->chars, s->len, i)) ci++;
  return ci;
}

/* Byte offset of character index [ci] (0 <= ci <= nchars). */
static size_t byte_offset(const ObjString *s, int64_t ci)
{
  if (s->ascii) return (size_t)ci;
  size_t i = 0;
  while (ci > 0 && i < s->len) {
    i += char_len(s->chars, s->len, i);
    ci--;
  }
  return i;
}

/* Unicode White_Space. */
static bool is_space(uint32_t c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ---- small helpers ------------------------------------------------------ */

#define SELF AS_STRING(self)

/* str(a): the display string of an argument. */
static ObjString *arg_str(Vm *vm, Value v) { return val_to_string(vm, v); }

static Value buf_value(Vm *vm, Buf *b)
{
  ObjString *s = str_from_buf(vm, b);
  buf_free(b);
  return OBJ_VAL(s);
}

/* First byte offset >= [from] where [needle] occurs in [hay], or -1. */
static int64_t find_bytes(const ObjString *hay, size_t from, const ObjString *needle)
{
  if (needle->len == 0) return from <= hay->len ? (int64_t)from : -1;
  if (from > hay->len || needle->len > hay->len - from) return -1;
  const char *p = memmem(hay->chars + from, hay->len - from, needle->chars, needle->len);
  return p ? (int64_t)(p - hay->chars) : -1;
}

/* ---- methods ------------------------------------------------------------ */

static bool s_count(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = INT_VAL(SELF->nchars);
  return true;
}

static bool s_empty(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = BOOL_VAL(SELF->len == 0);
  return true;
}

static bool s_contains(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = BOOL_VAL(find_bytes(SELF, 0, arg_str(vm, meth_arg(argc, argv, 0))) >= 0);
  return true;
}

static bool s_starts_with(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *p = arg_str(vm, meth_arg(argc, argv, 0));
  *out = BOOL_VAL(p->len <= SELF->len && memcmp(SELF->chars, p->chars, p->len) == 0);
  return true;
}

static bool s_ends_with(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *p = arg_str(vm, meth_arg(argc, argv, 0));
  *out = BOOL_VAL(p->len <= SELF->len &&
                  memcmp(SELF->chars + SELF->len - p->len, p->chars, p->len) == 0);
  return true;
}

static bool s_index_of(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  int64_t off = find_bytes(SELF, 0, arg_str(vm, meth_arg(argc, argv, 0)));
  *out = INT_VAL(off < 0 ? -1 : char_index(SELF, (size_t)off));
  return true;
}

static bool s_last_index_of(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *p = arg_str(vm, meth_arg(argc, argv, 0));
  int64_t found = -1;
  if (p->len <= SELF->len) {
    for (size_t i = SELF->len - p->len + 1; i-- > 0;) {
      if (memcmp(SELF->chars + i, p->chars, p->len) == 0) {
        found = (int64_t)i;
        break;
      }
    }
  }
  *out = INT_VAL(found < 0 ? -1 : char_index(SELF, (size_t)found));
  return true;
}

static bool s_split(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  Value sepv = meth_arg(argc, argv, 0);
  ObjString *sep = IS_NIL(sepv) ? str_cstr(vm, ",") : arg_str(vm, sepv);
  /* at most one piece per byte, plus two */
  uint64_t pieces = sep->len == 0 ? (uint64_t)s->nchars + 2 : (uint64_t)s->len / sep->len + 1;
  if (!meth_fits(vm, pieces, sizeof(ObjString) + sizeof(Value) + 8)) return false;
  ObjList *l = list_new(vm, 4);
  if (sep->len == 0) {
    /* Around every character, with an empty first and last item. */
    list_push(vm, l, OBJ_VAL(str_new(vm, "", 0)));
    for (size_t i = 0; i < s->len;) {
      size_t n = char_len(s->chars, s->len, i);
      list_push(vm, l, OBJ_VAL(str_new(vm, s->chars + i, n)));
      i += n;
    }
    list_push(vm, l, OBJ_VAL(str_new(vm, "", 0)));
  } else {
    size_t start = 0;
    for (;;) {
      int64_t at = find_bytes(s, start, sep);
      if (at < 0) break;
      list_push(vm, l, OBJ_VAL(str_new(vm, s->chars + start, (size_t)at - start)));
      start = (size_t)at + sep->len;
    }
    list_push(vm, l, OBJ_VAL(str_new(vm, s->chars + start, s->len - start)));
  }
  *out = OBJ_VAL(l);
  return true;
}

static bool s_replace(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  if (argc < 1) {
    *out = self;
    return true;
  }
  ObjString *a = arg_str(vm, argv[0]);
  ObjString *b = argc >= 2 ? arg_str(vm, argv[1]) : str_new(vm, "", 0);
  /* the size of the result first: it may be far larger than [s] */
  uint64_t matches = 0;
  if (a->len == 0) {
    matches = (uint64_t)s->nchars + 1;
  } else {
    for (int64_t at = find_bytes(s, 0, a); at >= 0; at = find_bytes(s, (size_t)at + a->len, a)) matches++;
  }
  uint64_t grow = 0, total;
  if (__builtin_mul_overflow(matches, (uint64_t)b->len, &grow) ||
      __builtin_add_overflow((uint64_t)s->len - (a->len ? matches * a->len : 0), grow, &total) ||
      !mem_fits(vm, total))
    return err_memory(vm);
  Buf buf = {0};
  buf_reserve(&buf, (size_t)total);
  if (a->len == 0) {
    /* An empty pattern matches before every character and at the end. */
    buf_append(&buf, b->chars, b->len);
    for (size_t i = 0; i < s->len;) {
      size_t n = char_len(s->chars, s->len, i);
      buf_append(&buf, s->chars + i, n);
      buf_append(&buf, b->chars, b->len);
      i += n;
    }
  } else {
    size_t start = 0;
    for (;;) {
      int64_t at = find_bytes(s, start, a);
      if (at < 0) break;
      buf_append(&buf, s->chars + start, (size_t)at - start);
      buf_append(&buf, b->chars, b->len);
      start = (size_t)at + a->len;
    }
    buf_append(&buf, s->chars + start, s->len - start);
  }
  *out = buf_value(vm, &buf);
  return true;
}

/* Trim leading ([front]) and/or trailing ([back]) whitespace. */
static Value trim(Vm *vm, ObjString *s, bool front, bool back)
{
  size_t start = 0, end = s->len;
  if (front) {
    while (start < end) {
      uint32_t c;
      size_t n = decode(s->chars, s->len, start, &c);
      if (!is_space(c)) break;
      start += n;
    }
  }
  if (back) {
    /* Walk forward remembering the end of the last non-space character. */
    size_t last = start;
    for (size_t i = start; i < end;) {
      uint32_t c;
      size_t n = decode(s->chars, s->len, i, &c);
      i += n;
      if (!is_space(c)) last = i;
    }
    end = last;
  }
  if (start == 0 && end == s->len) return OBJ_VAL(s);
  return OBJ_VAL(str_new(vm, s->chars + start, end - start));
}

static bool s_trim(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = trim(vm, SELF, true, true);
  return true;
}

static bool s_trim_start(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = trim(vm, SELF, true, false);
  return true;
}

static bool s_trim_end(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = trim(vm, SELF, false, true);
  return true;
}

static Value map_case(Vm *vm, ObjString *s, bool upper)
{
  Buf b = {0};
  buf_reserve(&b, s->len);
  for (size_t i = 0; i < s->len;) {
    uint32_t c;
    size_t n = decode(s->chars, s->len, i, &c);
    if (c == UTF8_INVALID) {
      buf_append(&b, s->chars + i, n); /* invalid character: copied as is */
    } else if (upper && c == 0xDF) {
      buf_puts(&b, "SS");
    } else {
      buf_put_utf8(&b, upper ? ucase_upper(c) : ucase_lower(c));
    }
    i += n;
  }
  return buf_value(vm, &b);
}

static bool s_upper(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = map_case(vm, SELF, true);
  return true;
}

static bool s_lower(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  *out = map_case(vm, SELF, false);
  return true;
}

static bool s_substring(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  int64_t len = s->nchars, start = 0, end = len;
  if (!meth_to_int(meth_arg(argc, argv, 0), &start)) start = 0;
  if (!meth_to_int(meth_arg(argc, argv, 1), &end)) end = len;
  if (start < 0) start = 0;
  if (start > len) start = len;
  if (end < start) end = start;
  if (end > len) end = len;
  size_t from = byte_offset(s, start), to = byte_offset(s, end);
  *out = OBJ_VAL(str_new(vm, s->chars + from, to - from));
  return true;
}

static bool s_char_at(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  int64_t i;
  *out = NIL_VAL;
  if (!meth_to_int(meth_arg(argc, argv, 0), &i) || i < 0 || i >= (int64_t)s->nchars)
    return true;
  size_t off = byte_offset(s, i);
  *out = OBJ_VAL(str_new(vm, s->chars + off, char_len(s->chars, s->len, off)));
  return true;
}

static bool s_chars(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  if (!meth_fits(vm, s->nchars, sizeof(ObjString) + sizeof(Value) + 8)) return false;
  ObjList *l = list_new(vm, s->nchars);
  for (size_t i = 0; i < s->len;) {
    size_t n = char_len(s->chars, s->len, i);
    list_push(vm, l, OBJ_VAL(str_new(vm, s->chars + i, n)));
    i += n;
  }
  *out = OBJ_VAL(l);
  return true;
}

static bool s_lines(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  const char *p = s->chars;
  uint64_t nlines = 1;
  while ((p = memchr(p, '\n', (size_t)(s->chars + s->len - p))) != NULL) nlines++, p++;
  if (!meth_fits(vm, nlines, sizeof(ObjString) + sizeof(Value) + 8)) return false;
  ObjList *l = list_new(vm, 4);
  size_t start = 0;
  while (start < s->len) {
    const char *nl = memchr(s->chars + start, '\n', s->len - start);
    size_t end = nl ? (size_t)(nl - s->chars) : s->len;
    size_t e = end;
    if (e > start && s->chars[e - 1] == '\r') e--;
    list_push(vm, l, OBJ_VAL(str_new(vm, s->chars + start, e - start)));
    start = end + 1;
  }
  *out = OBJ_VAL(l);
  return true;
}

static bool s_repeat(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  int64_t n;
  if (!meth_to_int(meth_arg(argc, argv, 0), &n) || n <= 0 || s->len == 0) {
    *out = OBJ_VAL(str_new(vm, "", 0));
    return true;
  }
  uint64_t total;
  if (__builtin_mul_overflow((uint64_t)n, (uint64_t)s->len, &total) || !mem_fits(vm, total))
    return err_memory(vm);
  /* straight into the string: the copy so far doubles each step */
  ObjString *r = str_alloc(vm, (size_t)total);
  if (!r) return err_memory(vm);
  memcpy(r->chars, s->chars, s->len);
  for (size_t done = s->len; done < total;) {
    size_t chunk = done < total - done ? done : (size_t)total - done;
    memcpy(r->chars + done, r->chars, chunk);
    done += chunk;
  }
  str_seal(r, s->ascii && (unsigned char)s->chars[0] < 0x80 &&
                  (unsigned char)s->chars[s->len - 1] < 0x80);
  *out = OBJ_VAL(r);
  return true;
}

static bool s_reverse(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  ObjString *s = SELF;
  Buf b = {0};
  buf_reserve(&b, s->len);
  b.len = s->len;
  b.data[s->len] = 0;
  for (size_t i = 0; i < s->len;) {
    size_t n = char_len(s->chars, s->len, i);
    memcpy(b.data + s->len - i - n, s->chars + i, n);
    i += n;
  }
  *out = buf_value(vm, &b);
  return true;
}

static bool pad(Vm *vm, Value self, int argc, Value *argv, Value *out, bool left)
{
  ObjString *s = SELF;
  int64_t w;
  *out = self;
  if (!meth_to_int(meth_arg(argc, argv, 0), &w) || w <= (int64_t)s->nchars) return true;
  const char *fill = " ";
  size_t flen = 1;
  if (argc >= 2 && !IS_NIL(argv[1])) {
    ObjString *f = arg_str(vm, argv[1]);
    if (f->len > 0) {
      fill = f->chars;
      flen = char_len(f->chars, f->len, 0);
    }
  }
  uint64_t k = (uint64_t)w - s->nchars, fill_bytes, total; /* w > nchars >= 0 */
  if (__builtin_mul_overflow(k, (uint64_t)flen, &fill_bytes) ||
      __builtin_add_overflow(fill_bytes, (uint64_t)s->len, &total) || !mem_fits(vm, total))
    return err_memory(vm);
  Buf b = {0};
  buf_reserve(&b, (size_t)total);
  if (!left) buf_append(&b, s->chars, s->len);
  for (uint64_t i = 0; i < k; i++) buf_append(&b, fill, flen);
  if (left) buf_append(&b, s->chars, s->len);
  *out = buf_value(vm, &b);
  return true;
}

static bool s_pad_left(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return pad(vm, self, argc, argv, out, true);
}

static bool s_pad_right(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return pad(vm, self, argc, argv, out, false);
}

static bool s_iter(Vm *vm, Value self, int argc, Value *argv, Value *out)
{
  return iter_from(vm, self, out);
}

/* Sorted by name (byte order): meth_find() searches it. */
const MethodDef meth_string_table[] = {
  {"char_at", s_char_at},
  {"chars", s_chars},
  {"contains", s_contains},
  {"count", s_count},
  {"empty", s_empty},
  {"ends_with", s_ends_with},
  {"index_of", s_index_of},
  {"iter", s_iter},
  {"last_index_of", s_last_index_of},
  {"len", s_count},
  {"lines", s_lines},
  {"lower", s_lower},
  {"lowercase", s_lower},
  {"pad_left", s_pad_left},
  {"pad_right", s_pad_right},
  {"repeat", s_repeat},
  {"replace", s_replace},
  {"reverse", s_reverse},
  {"split", s_split},
  {"starts_with", s_starts_with},
  {"substring", s_substring},
  {"to_lower", s_lower},
  {"to_upper", s_upper},
  {"trim", s_trim},
  {"trim_end", s_trim_end},
  {"trim_start", s_trim_start},
  {"upper", s_upper},
  {"uppercase", s_upper},
};
const size_t meth_string_count = sizeof meth_string_table / sizeof meth_string_table[0];
