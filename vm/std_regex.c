/*
 * std_regex.c: regex_match, regex_replace (regex_replace_all), regex_captures
 * and regex_split on PCRE2's interpreter, with the semantics of the
 * reference (the Rust `regex` crate; design: shared/design/STDLIB.md 4.1).
 *
 * Compilation. Every pattern is compiled with PCRE2_UTF | PCRE2_UCP (Rust's
 * \d \w \s \b are Unicode), PCRE2_DOLLAR_ENDONLY (Rust's `$` without `m`
 * matches only at the very end), PCRE2_NEVER_BACKSLASH_C, LF newlines and a
 * parenthesis nesting limit of 250 (Rust's). Flags i/m/s/x map to
 * CASELESS/MULTILINE/DOTALL/EXTENDED. What Rust rejects and PCRE2 accepts is
 * rejected before compiling, with regex-syntax's error text: back-references
 * (\1..\9, and after compiling any PCRE2_INFO_BACKREFMAX > 0), look-around
 * ((?= (?! (?<= (?<!) and \Z. The JIT is never used: the worker's seccomp
 * filter forbids executable memory (docs/sandbox.md).
 *
 * The match loop is ours, not pcre2_substitute's: Rust's rule for empty
 * matches is that an empty match starting where the previous match ended
 * is dropped and the search moves on one character (`b|(?:)+` on "abc"
 * gives [0,0] [1,2] [3,3], where Perl's global mode gives [2,2] too).
 * Replacement templates are expanded with Rust's syntax ($1, ${1}, $name,
 * ${name}, $$; `$name` takes the longest run of [0-9A-Za-z_], so `$1a` is
 * the group named "1a", empty when absent).
 *
 * Bounds. Each pcre2_match call has a match limit of 10^7, a depth limit and
 * a heap limit (64 MiB, or a quarter of the VM's memory limit when that is
 * smaller): a catastrophic pattern ends with `regex match limit exceeded` in
 * bounded CPU. The loop over matches polls the interpreter (meth_poll:
 * instruction limit, deadlines, memory limit). Patterns longer than
 * RX_PATTERN_MAX bytes are refused.
 *
 * Memory. PCRE2 allocates through a general context whose functions count
 * every block in the VM's heap (mem_account), so compiled patterns and
 * match frames are covered by the job's --memory limit. Compiled patterns
 * are cached per VM (keyed by pattern and flags); the cache is emptied when
 * it reaches 128 entries, as the reference's is, and freed with the VM.
 *
 * Text that is not well-formed UTF-8 (Harn strings may hold any bytes) is
 * matched as its lossy UTF-8 form (each invalid character U+FFFD), which is
 * what the reference, whose strings are always valid, would have been given.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "std_regex.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "error.h"
#include "gc.h"
#include "methods.h"
#include "object.h"
#include "state.h"

#define RX_CACHE_MAX 128
#define RX_MATCH_LIMIT 10000000u
#define RX_DEPTH_LIMIT 1000000u
#define RX_HEAP_LIMIT_KIB (64u * 1024u)
#define RX_PATTERN_MAX (1u << 20)
#define RX_NEST_LIMIT 250
#define RX_FLAG_I 1u
#define RX_FLAG_M 2u
#define RX_FLAG_S 4u
#define RX_FLAG_X 8u

typedef struct RxEntry {
  char *pat;  /* malloc'd copy of the pattern */
  size_t plen;
  unsigned flags;
  uint32_t hash;
  pcre2_code *code;
  uint32_t ncap;       /* capture groups, group 0 excluded */
  uint32_t nnames;     /* named groups */
  uint32_t name_size;  /* bytes per name-table entry */
  PCRE2_SPTR names;    /* the name table (inside code) */
} RxEntry;

struct StdRegexCache {
  pcre2_general_context *gctx;
  pcre2_compile_context *cctx;
  pcre2_match_context *mctx;
  uint32_t n;
  int busy; /* match loops running (rx_init..rx_done): the cache is not
               cleared under them (a safe point may run an interrupt
               handler that compiles more patterns) */
  RxEntry e[RX_CACHE_MAX];
};

/* ---- accounted allocation ------------------------------------------------ */

/* A header in front of each block records its size for the free. */
#define RX_HDR 16

static void *rx_malloc(PCRE2_SIZE n, void *ud)
{
  Vm *vm = ud;
  if (n > SIZE_MAX - RX_HDR) return NULL;
  char *p = malloc(n + RX_HDR);
  if (!p) return NULL;
  *(size_t *)p = n + RX_HDR;
  if (vm) mem_account(vm, 0, n + RX_HDR);
  return p + RX_HDR;
}

static void rx_mfree(void *q, void *ud)
{
  Vm *vm = ud;
  if (!q) return;
  char *p = (char *)q - RX_HDR;
  if (vm) mem_account(vm, *(size_t *)p, 0);
  free(p);
}

/* ---- the cache ------------------------------------------------------------- */

static void entry_free(RxEntry *e)
{
  pcre2_code_free(e->code);
  free(e->pat);
  memset(e, 0, sizeof *e);
}

static void cache_clear(struct StdRegexCache *c)
{
  for (uint32_t i = 0; i < c->n; i++) entry_free(&c->e[i]);
  c->n = 0;
}

static void cache_destroy(struct StdRegexCache *c)
{
  if (!c) return;
  cache_clear(c);
  pcre2_match_context_free(c->mctx);
  pcre2_compile_context_free(c->cctx);
  pcre2_general_context_free(c->gctx);
  free(c);
}

/* A cache whose allocations count in [vm]. NULL when out of memory. */
static struct StdRegexCache *cache_new(Vm *vm)
{
  struct StdRegexCache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->gctx = pcre2_general_context_create(rx_malloc, rx_mfree, vm);
  c->cctx = c->gctx ? pcre2_compile_context_create(c->gctx) : NULL;
  c->mctx = c->gctx ? pcre2_match_context_create(c->gctx) : NULL;
  if (!c->cctx || !c->mctx) {
    cache_destroy(c);
    return NULL;
  }
  pcre2_set_newline(c->cctx, PCRE2_NEWLINE_LF);
  pcre2_set_parens_nest_limit(c->cctx, RX_NEST_LIMIT);
  pcre2_set_max_pattern_length(c->cctx, RX_PATTERN_MAX);
  pcre2_set_match_limit(c->mctx, RX_MATCH_LIMIT);
  pcre2_set_depth_limit(c->mctx, RX_DEPTH_LIMIT);
  pcre2_set_heap_limit(c->mctx, RX_HEAP_LIMIT_KIB);
  return c;
}

void std_regex_free(Vm *vm)
{
  cache_destroy(vm->regex_cache);
  vm->regex_cache = NULL;
}

static uint32_t fnv1a(const char *s, size_t n, unsigned flags)
{
  uint32_t h = 2166136261u ^ flags;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* ---- Rust's restrictions ------------------------------------------------------ */

/* regex-syntax's error display for a one-span error: the pattern, carets
 * under the span (in characters), the message. */
static void rust_error(Buf *b, const char *pat, size_t plen, size_t st, size_t en, const char *msg)
{
  buf_puts(b, "regex parse error:\n    ");
  buf_append(b, pat, plen);
  buf_puts(b, "\n    ");
  size_t before = utf8_count(pat, st), width = utf8_count(pat + st, en - st);
  for (size_t i = 0; i < before; i++) buf_putc(b, ' ');
  for (size_t i = 0; i < (width ? width : 1); i++) buf_putc(b, '^');
  buf_puts(b, "\nerror: ");
  buf_puts(b, msg);
}

static const char MSG_BACKREF[] = "backreferences are not supported";
static const char MSG_LOOKAROUND[] = "look-around, including look-ahead and look-behind, is not supported";
static const char MSG_ESCAPE[] = "unrecognized escape sequence";

/* Scan [pat] for what Rust rejects; false with the error in [b]. Classes
 * ([...], with a leading ] literal) and, under x, # comments are skipped. */
static bool rust_scan(const char *pat, size_t n, bool extended, Buf *b)
{
  bool in_class = false;
  size_t class_start = 0;
  for (size_t i = 0; i < n; i++) {
    char c = pat[i];
    if (c == '\\') {
      if (i + 1 >= n) break;
      char d = pat[i + 1];
      if (!in_class && d >= '1' && d <= '9') {
        size_t e = i + 2;
        while (e < n && pat[e] >= '0' && pat[e] <= '9') e++;
        rust_error(b, pat, n, i, e, MSG_BACKREF);
        return false;
      }
      if (d == 'Z') {
        rust_error(b, pat, n, i, i + 2, MSG_ESCAPE);
        return false;
      }
      i++;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < n && pat[i + 1] == ':') { /* [:alpha:] */
        const char *end = NULL;
        for (size_t k = i + 2; k + 1 < n; k++)
          if (pat[k] == ':' && pat[k + 1] == ']') { end = pat + k; break; }
          else if (pat[k] == ']') break;
        if (end) i = (size_t)(end - pat) + 1;
      } else if (c == ']' && i > class_start) {
        in_class = false;
      }
      continue;
    }
    if (c == '[') {
      in_class = true;
      class_start = i + 1;
      if (class_start < n && pat[class_start] == '^') class_start++;
      continue;
    }
    if (extended && c == '#') {
      while (i < n && pat[i] != '\n') i++;
      continue;
    }
    if (c == '(' && i + 2 < n && pat[i + 1] == '?') {
      size_t len = 0;
      if (pat[i + 2] == '=' || pat[i + 2] == '!') len = 3;
      else if (pat[i + 2] == '<' && i + 3 < n && (pat[i + 3] == '=' || pat[i + 3] == '!')) len = 4;
      if (len) {
        rust_error(b, pat, n, i, i + len, MSG_LOOKAROUND);
        return false;
      }
    }
  }
  return true;
}

/* ---- compiling ------------------------------------------------------------------ */

/* Parse the flags string into *fl; false with the error text in [b]. */
static bool parse_flags(const char *f, size_t n, unsigned *fl, Buf *b)
{
  *fl = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = utf8_decode(f + i, n - i, &cp);
    switch (cp) {
    case 'i': *fl |= RX_FLAG_I; break;
    case 'm': *fl |= RX_FLAG_M; break;
    case 's': *fl |= RX_FLAG_S; break;
    case 'x': *fl |= RX_FLAG_X; break;
    default:
      buf_puts(b, "unsupported regex flag '");
      buf_append(b, f + i, k);
      buf_puts(b, "', expected one of i/m/s/x");
      return false;
    }
    i += k;
  }
  return true;
}

/* Compile into [e] (pattern copied); false with the error text in [b]. */
static bool compile(struct StdRegexCache *c, const char *pat, size_t plen, unsigned fl, RxEntry *e,
                    Buf *b)
{
  memset(e, 0, sizeof *e);
  if (!utf8_valid(pat, plen)) {
    buf_puts(b, "Invalid regex: pattern is not valid UTF-8");
    return false;
  }
  Buf rb = {0};
  if (!rust_scan(pat, plen, (fl & RX_FLAG_X) != 0, &rb)) {
    buf_puts(b, "Invalid regex: ");
    buf_append(b, rb.data, rb.len);
    buf_free(&rb);
    return false;
  }
  uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C |
                  PCRE2_NO_UTF_CHECK;
  if (fl & RX_FLAG_I) opts |= PCRE2_CASELESS;
  if (fl & RX_FLAG_M) opts |= PCRE2_MULTILINE;
  if (fl & RX_FLAG_S) opts |= PCRE2_DOTALL;
  if (fl & RX_FLAG_X) opts |= PCRE2_EXTENDED;
  int errcode = 0;
  PCRE2_SIZE erroff = 0;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, plen, opts, &errcode, &erroff, c->cctx);
  if (!code) {
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0) strcpy((char *)msg, "error");
    buf_printf(b, "Invalid regex: %s at offset %zu", (const char *)msg, (size_t)erroff);
    return false;
  }
  uint32_t backref = 0;
  pcre2_pattern_info(code, PCRE2_INFO_BACKREFMAX, &backref);
  if (backref > 0) {
    pcre2_code_free(code);
    buf_puts(b, "Invalid regex: ");
    rust_error(b, pat, plen, 0, plen, MSG_BACKREF);
    return false;
  }
  e->pat = malloc(plen + 1);
  if (!e->pat) {
    pcre2_code_free(code);
    buf_puts(b, "out of memory");
    return false;
  }
  memcpy(e->pat, pat, plen);
  e->pat[plen] = '\0';
  e->plen = plen;
  e->flags = fl;
  e->code = code;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &e->ncap);
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &e->nnames);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &e->name_size);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &e->names);
  return true;
}

/* The compiled form of [pat] with [flags] (a string or nil), from the
 * cache or compiled into it, or, when the cache is full while a loop uses
 * it, compiled into [tmp] (the caller frees it with entry_free when the
 * result is [tmp]); NULL with the VM error set. */
static RxEntry *get_regex(Vm *vm, ObjString *pat, ObjString *flags, RxEntry *tmp)
{
  Buf eb = {0};
  unsigned fl = 0;
  if (flags && !parse_flags(flags->chars, flags->len, &fl, &eb)) {
    err_throw_str(vm, "%.*s", (int)eb.len, eb.data);
    buf_free(&eb);
    return NULL;
  }
  struct StdRegexCache *c = vm->regex_cache;
  if (!c) {
    c = vm->regex_cache = cache_new(vm);
    if (!c) {
      err_memory(vm);
      return NULL;
    }
  }
  uint32_t h = fnv1a(pat->chars, pat->len, fl);
  for (uint32_t i = 0; i < c->n; i++) {
    RxEntry *e = &c->e[i];
    if (e->hash == h && e->flags == fl && e->plen == pat->len && !memcmp(e->pat, pat->chars, pat->len))
      return e;
  }
  if (c->n == RX_CACHE_MAX && !c->busy) cache_clear(c);
  RxEntry *e = c->n == RX_CACHE_MAX ? tmp : &c->e[c->n];
  if (!compile(c, pat->chars, pat->len, fl, e, &eb)) {
    err_throw_str(vm, "%.*s", (int)eb.len, eb.data ? eb.data : "");
    buf_free(&eb);
    return NULL;
  }
  e->hash = h;
  if (e != tmp) c->n++;
  return e;
}

/* ---- the match loop -------------------------------------------------------------- */

typedef struct RxIter {
  Vm *vm;
  RxEntry *e;
  const char *s;
  size_t len;
  size_t pos, last_end;
  bool done;
  pcre2_match_data *md;
  char *lossy; /* malloc'd well-formed copy of the text, or NULL */
  uint32_t ticks;
} RxIter;

/* Set up iteration over [text]; false with the VM error set. */
static bool rx_init(RxIter *it, Vm *vm, RxEntry *e, ObjString *text)
{
  memset(it, 0, sizeof *it);
  it->vm = vm;
  it->e = e;
  it->s = text->chars;
  it->len = text->len;
  it->last_end = SIZE_MAX;
  /* (not ObjString.ascii: an invalid byte also counts as one character) */
  if (!utf8_valid(text->chars, text->len)) {
    Buf b = {0};
    for (size_t i = 0; i < text->len;) {
      uint32_t cp;
      size_t k = utf8_decode(text->chars + i, text->len - i, &cp);
      if (cp == UTF8_INVALID) buf_put_utf8(&b, UTF8_REPLACEMENT);
      else buf_append(&b, text->chars + i, k);
      i += k;
    }
    it->len = b.len;
    it->lossy = buf_take(&b);
    it->s = it->lossy;
  }
  struct StdRegexCache *c = vm->regex_cache;
  it->md = pcre2_match_data_create_from_pattern(e->code, c->gctx);
  if (!it->md) {
    free(it->lossy);
    return err_memory(vm);
  }
  size_t heap_kib = RX_HEAP_LIMIT_KIB;
  if (vm->heap.limit && vm->heap.limit / 4 / 1024 < heap_kib) heap_kib = vm->heap.limit / 4 / 1024;
  pcre2_set_heap_limit(c->mctx, (uint32_t)(heap_kib ? heap_kib : 1));
  c->busy++;
  return true;
}

static void rx_done(RxIter *it)
{
  it->vm->regex_cache->busy--;
  pcre2_match_data_free(it->md);
  free(it->lossy);
  it->md = NULL;
  it->lossy = NULL;
}

static size_t next_char(const RxIter *it, size_t i)
{
  if (i >= it->len) return it->len + 1;
  return i + utf8_char_len(it->s + i, it->len - i);
}

/* The next match: 1 with its ovector in *ov, 0 when there are no more, -1
 * with the VM error set. */
static int rx_next(RxIter *it, PCRE2_SIZE **ov)
{
  Vm *vm = it->vm;
  struct StdRegexCache *c = vm->regex_cache;
  while (!it->done && it->pos <= it->len) {
    if (!meth_poll(vm, &it->ticks)) return -1;
    int rc = pcre2_match(it->e->code, (PCRE2_SPTR)it->s, it->len, it->pos, PCRE2_NO_UTF_CHECK,
                         it->md, c->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
        err_runtime(vm, "regex match limit exceeded");
      else if (rc == PCRE2_ERROR_NOMEMORY)
        err_memory(vm);
      else {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(rc, msg, sizeof msg) < 0) strcpy((char *)msg, "error");
        err_runtime(vm, "regex match error: %s", (const char *)msg);
      }
      return -1;
    }
    PCRE2_SIZE *o = pcre2_get_ovector_pointer(it->md);
    size_t st = o[0], en = o[1];
    if (en < st) { /* \K can do this; Rust has no \K */
      err_runtime(vm, "regex match error: match ends before it starts");
      return -1;
    }
    if (st == en && st == it->last_end) {
      it->pos = next_char(it, st);
      continue;
    }
    it->last_end = en;
    it->pos = st == en ? next_char(it, en) : en;
    *ov = o;
    return 1;
  }
  it->done = true;
  return 0;
}

/* ---- arguments ------------------------------------------------------------------- */

/* Argument [i] as a string (its display text when it is not one), rooted
 * until the caller's gc_pop_root; NULL (error set) when the root stack is
 * full. */
static ObjString *str_arg(Vm *vm, int argc, Value *argv, int i)
{
  Value v = meth_arg(argc, argv, i);
  ObjString *s = IS_STRING(v) ? AS_STRING(v) : val_to_string(vm, v);
  if (!meth_push_root(vm, OBJ_VAL(s))) return NULL;
  return s;
}

static void pop_roots(Vm *vm, int n)
{
  while (n-- > 0) gc_pop_root(vm);
}

static Value sub(Vm *vm, const RxIter *it, size_t st, size_t en)
{
  return OBJ_VAL(str_new(vm, it->s + st, en - st));
}

/* ---- the builtins ------------------------------------------------------------------ */

bool std_regex_match(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_nil();
  if (argc < 2) return true;
  int roots = 0;
  bool ok = false;
  RxEntry tmp;
  memset(&tmp, 0, sizeof tmp);
  ObjString *pat = str_arg(vm, argc, argv, 0);
  if (!pat) goto done;
  roots++;
  ObjString *text = str_arg(vm, argc, argv, 1);
  if (!text) goto done;
  roots++;
  ObjString *flags = NULL;
  if (argc >= 3 && !IS_NIL(argv[2])) {
    if (!(flags = str_arg(vm, argc, argv, 2))) goto done;
    roots++;
  }
  RxEntry *e = get_regex(vm, pat, flags, &tmp);
  if (!e) goto done;
  ObjList *l = list_new(vm, 0);
  if (!meth_push_root(vm, OBJ_VAL(l))) goto done;
  roots++;
  RxIter it;
  if (!rx_init(&it, vm, e, text)) goto done;
  PCRE2_SIZE *ov;
  int rc;
  while ((rc = rx_next(&it, &ov)) == 1) list_push(vm, l, sub(vm, &it, ov[0], ov[1]));
  rx_done(&it);
  if (rc < 0) goto done;
  if (l->count > 0) *out = OBJ_VAL(l);
  ok = true;
done:
  if (tmp.code) entry_free(&tmp);
  pop_roots(vm, roots);
  return ok;
}

bool std_regex_split(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_nil();
  if (argc < 2) return true;
  int roots = 0;
  bool ok = false;
  RxEntry tmp;
  memset(&tmp, 0, sizeof tmp);
  ObjString *text = str_arg(vm, argc, argv, 0);
  if (!text) goto done;
  roots++;
  ObjString *pat = str_arg(vm, argc, argv, 1);
  if (!pat) goto done;
  roots++;
  ObjString *flags = NULL;
  if (argc >= 3 && !IS_NIL(argv[2])) {
    if (!(flags = str_arg(vm, argc, argv, 2))) goto done;
    roots++;
  }
  RxEntry *e = get_regex(vm, pat, flags, &tmp);
  if (!e) goto done;
  ObjList *l = list_new(vm, 0);
  if (!meth_push_root(vm, OBJ_VAL(l))) goto done;
  roots++;
  RxIter it;
  if (!rx_init(&it, vm, e, text)) goto done;
  PCRE2_SIZE *ov;
  int rc;
  size_t last = 0;
  while ((rc = rx_next(&it, &ov)) == 1) {
    list_push(vm, l, sub(vm, &it, last, ov[0]));
    last = ov[1];
  }
  if (rc == 0) list_push(vm, l, sub(vm, &it, last, it.len));
  rx_done(&it);
  if (rc < 0) goto done;
  *out = OBJ_VAL(l);
  ok = true;
done:
  if (tmp.code) entry_free(&tmp);
  pop_roots(vm, roots);
  return ok;
}

/* Group number of [name] ([n] bytes) in [e], or -1. */
static int group_by_name(const RxEntry *e, const char *name, size_t n)
{
  for (uint32_t i = 0; i < e->nnames; i++) {
    PCRE2_SPTR ent = e->names + (size_t)i * e->name_size;
    const char *nm = (const char *)ent + 2;
    if (strlen(nm) == n && !memcmp(nm, name, n)) return (ent[0] << 8) | ent[1];
  }
  return -1;
}

static bool cap_letter(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Rust's usize::from_str: an optional '+', then only digits; -1 when it is
 * not a number (or too large for a group index). */
static long parse_index(const char *s, size_t n)
{
  size_t i = 0;
  if (i < n && s[i] == '+') i++;
  if (i == n) return -1;
  long v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
    if (v > 1000000) v = 1000000; /* no such group either way */
  }
  return v;
}

/* Append group [g] of the current match (nothing when absent or unset). */
static void append_group(Buf *b, const RxIter *it, const PCRE2_SIZE *ov, long g)
{
  if (g < 0 || (uint32_t)g > it->e->ncap) return;
  PCRE2_SIZE st = ov[2 * g], en = ov[2 * g + 1];
  if (st == PCRE2_UNSET || en < st) return;
  buf_append(b, it->s + st, en - st);
}

/* regex crate's Captures::expand. */
static void expand(Buf *b, const RxIter *it, const PCRE2_SIZE *ov, const char *r, size_t n)
{
  size_t i = 0;
  while (i < n) {
    const char *d = memchr(r + i, '$', n - i);
    if (!d) break;
    size_t k = (size_t)(d - r);
    buf_append(b, r + i, k - i);
    i = k;
    if (i + 1 < n && r[i + 1] == '$') {
      buf_putc(b, '$');
      i += 2;
      continue;
    }
    /* a capture reference at r[i] == '$' */
    const char *name = NULL;
    size_t nlen = 0, end = 0;
    if (i + 1 < n && r[i + 1] == '{') {
      size_t j = i + 2;
      while (j < n && r[j] != '}') j++;
      if (j < n && utf8_valid(r + i + 2, j - (i + 2))) {
        name = r + i + 2;
        nlen = j - (i + 2);
        end = j + 1;
      }
    } else if (i + 1 < n) {
      size_t j = i + 1;
      while (j < n && cap_letter(r[j])) j++;
      if (j > i + 1) {
        name = r + i + 1;
        nlen = j - (i + 1);
        end = j;
      }
    }
    if (!name) {
      buf_putc(b, '$');
      i++;
      continue;
    }
    long g = parse_index(name, nlen);
    if (g < 0) g = group_by_name(it->e, name, nlen);
    append_group(b, it, ov, g);
    i = end;
  }
  buf_append(b, r + i, n - i);
}

bool std_regex_replace(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_nil();
  if (argc < 3) return true;
  int roots = 0;
  bool ok = false;
  RxEntry tmp;
  memset(&tmp, 0, sizeof tmp);
  ObjString *pat = str_arg(vm, argc, argv, 0);
  if (!pat) goto done;
  roots++;
  ObjString *rep = str_arg(vm, argc, argv, 1);
  if (!rep) goto done;
  roots++;
  ObjString *text = str_arg(vm, argc, argv, 2);
  if (!text) goto done;
  roots++;
  RxEntry *e = get_regex(vm, pat, NULL, &tmp);
  if (!e) goto done;
  RxIter it;
  if (!rx_init(&it, vm, e, text)) goto done;
  Buf b = {0};
  PCRE2_SIZE *ov;
  int rc;
  size_t last = 0;
  while ((rc = rx_next(&it, &ov)) == 1) {
    buf_append(&b, it.s + last, ov[0] - last);
    expand(&b, &it, ov, rep->chars, rep->len);
    last = ov[1];
    if (b.len > MEM_BLOCK_MAX || !mem_fits(vm, b.len)) {
      rc = -1;
      err_memory(vm);
      break;
    }
  }
  if (rc == 0) {
    if (last == 0 && b.len == 0 && !it.lossy) *out = OBJ_VAL(text); /* no match: the text as is */
    else {
      buf_append(&b, it.s + last, it.len - last);
      *out = OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len));
    }
  }
  buf_free(&b);
  rx_done(&it);
  ok = rc == 0;
done:
  if (tmp.code) entry_free(&tmp);
  pop_roots(vm, roots);
  return ok;
}

bool std_regex_captures(Vm *vm, int argc, Value *argv, Value *out)
{
  *out = val_nil();
  if (argc < 2) return true;
  int roots = 0;
  bool ok = false;
  RxEntry tmp;
  memset(&tmp, 0, sizeof tmp);
  ObjString *pat = str_arg(vm, argc, argv, 0);
  if (!pat) goto done;
  roots++;
  ObjString *text = str_arg(vm, argc, argv, 1);
  if (!text) goto done;
  roots++;
  RxEntry *e = get_regex(vm, pat, NULL, &tmp);
  if (!e) goto done;
  ObjList *l = list_new(vm, 0);
  if (!meth_push_root(vm, OBJ_VAL(l))) goto done;
  roots++;
  RxIter it;
  if (!rx_init(&it, vm, e, text)) goto done;
  PCRE2_SIZE *ov;
  int rc;
  while ((rc = rx_next(&it, &ov)) == 1) {
    ObjDict *d = dict_new(vm, 2 + e->nnames);
    ObjList *groups = list_new(vm, e->ncap);
    for (uint32_t g = 1; g <= e->ncap; g++) {
      PCRE2_SIZE st = ov[2 * g], en = ov[2 * g + 1];
      list_push(vm, groups, st == PCRE2_UNSET ? val_nil() : sub(vm, &it, st, en));
    }
    dict_set_cstr(vm, d, "match", sub(vm, &it, ov[0], ov[1]));
    dict_set_cstr(vm, d, "groups", OBJ_VAL(groups));
    for (uint32_t k = 0; k < e->nnames; k++) {
      PCRE2_SPTR ent = e->names + (size_t)k * e->name_size;
      uint32_t g = (uint32_t)((ent[0] << 8) | ent[1]);
      PCRE2_SIZE st = ov[2 * g], en = ov[2 * g + 1];
      dict_set_cstr(vm, d, (const char *)ent + 2, st == PCRE2_UNSET ? val_nil() : sub(vm, &it, st, en));
    }
    list_push(vm, l, OBJ_VAL(d));
  }
  rx_done(&it);
  if (rc < 0) goto done;
  *out = OBJ_VAL(l);
  ok = true;
done:
  if (tmp.code) entry_free(&tmp);
  pop_roots(vm, roots);
  return ok;
}
