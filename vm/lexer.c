/*
 * lexer.c: Harn tokenizer (docs/LANGUAGE.md section 2; interface in lexer.h).
 *
 * One pass over the bytes with explicit bounds checks (the source is not
 * NUL-terminated): `peek_at()` returns -1 past the end, so no code path can
 * read beyond `len`. Columns advance once per decoded UTF-8 character
 * (base/utf8.h); malformed UTF-8 counts one column per maximal subpart and
 * decodes as U+FFFD.
 *
 * Limits and choices, with their reasons:
 *   - "Unicode alphabetic" identifiers use a range table (uni_alpha) rather
 *     than full Unicode data: letters of all scripts are accepted, while
 *     punctuation, symbols, arrows and emoji blocks are rejected, which is
 *     what matters for error reporting.
 *   - Durations only attach to integer literals; `1.5s` is a float then `s`.
 *   - Inside `${...}` the text is copied verbatim up to the matching `}`,
 *     counting only braces (quotes are not special), as the reference does.
 *   - Triple-quoted strings are dedented here, piece by piece, with the
 *     algorithm of docs/LANGUAGE.md 2.4 (see dedent_triple()).
 */
#include "lexer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* ------------------------------------------------------------------ */
/* Token kind tables                                                   */
/* ------------------------------------------------------------------ */

static const char *const kind_text[TK__COUNT] = {
#define LEX_TEXT_(name, text) text,
  LEX_TOKEN_MAP(LEX_TEXT_)
#undef LEX_TEXT_
};

const char *lex_kind_text(TokKind kind)
{
  if ((int)kind < 0 || kind >= TK__COUNT) return "?";
  return kind_text[kind];
}

bool lex_is_keyword(TokKind kind) { return kind >= TK_KW_PIPELINE && kind <= TK_KW_SKILL; }

/* Two-character operators, matched before single characters (2.5). */
static const struct { char a, b; TokKind kind; } two_char[] = {
  {'=', '=', TK_EQEQ},    {'!', '=', TK_NEQ},     {'&', '&', TK_ANDAND},
  {'|', '|', TK_OROR},    {'|', '>', TK_PIPE},    {'?', '?', TK_QQ},
  {'*', '*', TK_STARSTAR}, {'?', '.', TK_QDOT},   {'-', '>', TK_ARROW},
  {'+', '=', TK_PLUSEQ},  {'-', '=', TK_MINUSEQ}, {'*', '=', TK_STAREQ},
  {'/', '=', TK_SLASHEQ}, {'%', '=', TK_PERCENTEQ}, {'<', '=', TK_LE},
  {'>', '=', TK_GE},
};

static const struct { char c; TokKind kind; } one_char[] = {
  {'{', TK_LBRACE}, {'}', TK_RBRACE}, {'(', TK_LPAREN}, {')', TK_RPAREN},
  {'[', TK_LBRACKET}, {']', TK_RBRACKET}, {',', TK_COMMA}, {':', TK_COLON},
  {';', TK_SEMI}, {'.', TK_DOT}, {'=', TK_ASSIGN}, {'!', TK_BANG},
  {'+', TK_PLUS}, {'-', TK_MINUS}, {'*', TK_STAR}, {'/', TK_SLASH},
  {'%', TK_PERCENT}, {'<', TK_LT}, {'>', TK_GT}, {'?', TK_QUESTION},
  {'|', TK_BAR}, {'@', TK_AT},
};

/* ------------------------------------------------------------------ */
/* Lexer state and character helpers                                   */
/* ------------------------------------------------------------------ */

typedef struct Lexer {
  Arena *arena;
  const char *src;
  size_t len, pos;
  int line, col;
  TokenList *out;
  LexError *err;
} Lexer;

static int peek_at(const Lexer *L, size_t off)
{
  size_t i = L->pos + off;
  return i < L->len ? (unsigned char)L->src[i] : -1;
}

/* Decode the UTF-8 character at byte [i]; returns its code point and sets
 * [*n] to its byte length. An invalid character (base/utf8.h: a maximal
 * subpart) gives U+FFFD with the subpart's length. */
static uint32_t decode_at(const char *src, size_t len, size_t i, int *n)
{
  uint32_t cp;
  *n = (int)utf8_decode(src + i, len - i, &cp);
  return cp == UTF8_INVALID ? UTF8_REPLACEMENT : cp;
}

/* Byte length of the character at the current position (>= 1). */
static int char_len(const Lexer *L)
{
  int n;
  decode_at(L->src, L->len, L->pos, &n);
  return n;
}

/* Advance over one whole character, keeping line/col right. */
static void adv(Lexer *L)
{
  if (L->pos >= L->len) return;
  if (L->src[L->pos] == '\n') {
    L->pos++;
    L->line++;
    L->col = 1;
    return;
  }
  L->pos += (size_t)char_len(L);
  L->col++;
}

/* Approximation of Unicode "alphabetic" good enough for identifiers: all
 * letter-bearing blocks are accepted; punctuation, symbols, arrows, box
 * drawing, private use and emoji blocks are not. */
static bool uni_alpha(uint32_t cp)
{
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
  if (cp == 0xD7 || cp == 0xF7) return false;
  if (cp < 0x2000) return cp != 0x37E && cp != 0x387 && cp != 0xFFFD;
  if (cp < 0x2C00) return false;
  if (cp < 0x2E00) return true;
  if (cp < 0x3040) return cp >= 0x3005 && cp <= 0x3007;
  if (cp < 0xD800) return true;
  if (cp < 0xF900) return false;
  if (cp < 0xFE00) return cp != 0xFD3E && cp != 0xFD3F;
  if (cp < 0xFE70) return false;
  if (cp < 0xFF00) return cp != 0xFEFF;
  if (cp < 0xFF21) return false;
  if (cp <= 0xFF3A) return true;
  if (cp >= 0xFF41 && cp <= 0xFF5A) return true;
  if (cp >= 0xFF66 && cp <= 0xFFDC) return true;
  if (cp < 0x10000) return false;
  if (cp < 0x1F000) return true;
  if (cp >= 0x20000 && cp < 0x40000) return true;
  return false;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* Does an identifier start at the current position? */
static bool ident_start_here(const Lexer *L)
{
  int c = peek_at(L, 0);
  if (c < 0) return false;
  if (c == '_') return true;
  if (c < 0x80) return uni_alpha((uint32_t)c);
  int n;
  return uni_alpha(decode_at(L->src, L->len, L->pos, &n));
}

static bool ident_cont_here(const Lexer *L)
{
  return is_digit(peek_at(L, 0)) || ident_start_here(L);
}

/* Used for the duration-suffix rule: is the byte at [off] part of a word? */
static bool word_byte_at(const Lexer *L, size_t off)
{
  int c = peek_at(L, off);
  if (c < 0) return false;
  return c >= 0x80 || c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

static bool fail(Lexer *L, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(Lexer *L, int line, int col, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(L->err->message, sizeof L->err->message, fmt, ap);
  va_end(ap);
  L->err->line = line;
  L->err->col = col;
  return false;
}

/* "Unexpected character 'C'" for the character at the current
 * position (invalid UTF-8 shows as U+FFFD). */
static bool fail_unexpected(Lexer *L)
{
  int n;
  uint32_t cp = decode_at(L->src, L->len, L->pos, &n);
  char ch[8];
  if (cp == UTF8_REPLACEMENT && (unsigned char)L->src[L->pos] >= 0x80) {
    memcpy(ch, "\xEF\xBF\xBD", 4);
  } else {
    memcpy(ch, L->src + L->pos, (size_t)n);
    ch[n] = 0;
  }
  return fail(L, L->line, L->col, "Unexpected character '%s'", ch);
}

static Token *push(Lexer *L, TokKind kind, int line, int col, size_t start)
{
  TokenList *o = L->out;
  if (o->count == o->cap) {
    int cap = o->cap ? o->cap * 2 : 256;
    Token *p = realloc(o->items, (size_t)cap * sizeof(Token));
    if (!p) {
      fputs("harn: out of memory\n", stderr);
      abort();
    }
    o->items = p;
    o->cap = cap;
  }
  Token *t = &o->items[o->count++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->line = line;
  t->col = col;
  t->start = L->src + start;
  t->len = L->pos - start;
  return t;
}

/* ------------------------------------------------------------------ */
/* Numbers and durations (2.3)                                         */
/* ------------------------------------------------------------------ */

static void lex_number(Lexer *L)
{
  int line = L->line, col = L->col;
  size_t start = L->pos;
  while (is_digit(peek_at(L, 0))) adv(L);
  bool is_float = peek_at(L, 0) == '.' && is_digit(peek_at(L, 1));
  if (is_float) {
    adv(L);
    while (is_digit(peek_at(L, 0))) adv(L);
  }
  size_t n = L->pos - start;
  if (!is_float) {
    uint64_t v = 0;
    bool overflow = false;
    for (size_t i = start; i < L->pos; i++) {
      uint64_t d = (uint64_t)(L->src[i] - '0');
      if (v > (UINT64_C(9223372036854775807) - d) / 10) {
        overflow = true;
        break;
      }
      v = v * 10 + d;
    }
    if (!overflow) {
      /* Duration suffix: directly attached, not followed by a word char;
       * `ms` is checked before `m`. */
      int64_t mult = 0;
      size_t sfx = 0;
      int c0 = peek_at(L, 0);
      if (c0 == 'm' && peek_at(L, 1) == 's' && !word_byte_at(L, 2)) {
        mult = 1;
        sfx = 2;
      } else if (c0 > 0 && strchr("smhdw", c0) && !word_byte_at(L, 1)) {
        switch (c0) {
        case 's': mult = 1000; break;
        case 'm': mult = 60000; break;
        case 'h': mult = 3600000; break;
        case 'd': mult = 86400000; break;
        default: mult = 604800000; break;
        }
        sfx = 1;
      }
      if (sfx) {
        for (size_t i = 0; i < sfx; i++) adv(L);
        int64_t ms;
        if (__builtin_mul_overflow((int64_t)v, mult, &ms)) ms = INT64_MAX;
        Token *t = push(L, TK_DURATION, line, col, start);
        t->ival = ms;
        return;
      }
      Token *t = push(L, TK_INT, line, col, start);
      t->ival = (int64_t)v;
      return;
    }
  }
  char *text = arena_strndup(L->arena, L->src + start, n);
  Token *t = push(L, TK_FLOAT, line, col, start);
  t->fval = strtod(text, NULL);
}

/* ------------------------------------------------------------------ */
/* Strings (2.4)                                                       */
/* ------------------------------------------------------------------ */

/* Pieces collected while scanning one string. Literal pieces are kept in
 * malloc'ed Bufs until the string is finished. */
typedef struct RawPart {
  bool is_expr;
  Buf lit;
  const char *text;
  size_t len;
  int line, col;
} RawPart;

typedef struct PartVec {
  RawPart *items;
  int count, cap;
} PartVec;

static RawPart *part_add(PartVec *v)
{
  if (v->count == v->cap) {
    int cap = v->cap ? v->cap * 2 : 4;
    RawPart *p = realloc(v->items, (size_t)cap * sizeof(RawPart));
    if (!p) {
      fputs("harn: out of memory\n", stderr);
      abort();
    }
    v->items = p;
    v->cap = cap;
  }
  RawPart *r = &v->items[v->count++];
  memset(r, 0, sizeof *r);
  return r;
}

static void parts_free(PartVec *v)
{
  for (int i = 0; i < v->count; i++) buf_free(&v->items[i].lit);
  free(v->items);
  v->items = NULL;
  v->count = v->cap = 0;
}

/* The literal piece being filled (a new one after an expression piece). */
static Buf *cur_lit(PartVec *v)
{
  if (v->count == 0 || v->items[v->count - 1].is_expr) part_add(v);
  return &v->items[v->count - 1].lit;
}

/* Scan `${ ... }` starting at the `$`. Copies nothing: records the span.
 * [multiline] allows newlines inside (triple-quoted strings). */
static bool scan_interp(Lexer *L, PartVec *v, bool multiline, int qline, int qcol)
{
  adv(L); /* $ */
  adv(L); /* { */
  int line = L->line, col = L->col;
  size_t start = L->pos;
  int depth = 0;
  for (;;) {
    int c = peek_at(L, 0);
    if (c < 0 || (c == '\n' && !multiline))
      return fail(L, qline, qcol, "Unterminated string");
    if (c == '{') depth++;
    if (c == '}') {
      if (depth == 0) break;
      depth--;
    }
    adv(L);
  }
  if (L->pos == start) return fail_unexpected(L);
  RawPart *r = part_add(v);
  r->is_expr = true;
  r->text = L->src + start;
  r->len = L->pos - start;
  r->line = line;
  r->col = col;
  adv(L); /* } */
  return true;
}

static bool ws_only(const char *s, size_t n, bool allow_nl)
{
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r') continue;
    if (c == '\n' && allow_nl) continue;
    return false;
  }
  return true;
}

/* Lines of a triple-quoted string with interpolation (issue 17): the
 * pieces are cut into segments at each newline; a segment starts a line
 * when it follows a newline or is the start of the string, and such a
 * line has content when it has a non-blank character or goes on into an
 * interpolation (`    ${name} rest`): interpolations are opaque content,
 * so a line that starts with one is dedented like any other. */
static bool seg_has_content(const PartVec *v, int i, const char *s, size_t ls, size_t j, size_t n)
{
  return !ws_only(s + ls, j - ls, false) || (j == n && i + 1 < v->count);
}

/* Minimum leading spaces/tabs over the lines with content (above); 0 when
 * there is none, or when the string starts with an interpolation. */
static size_t common_indent(const PartVec *v)
{
  size_t best = SIZE_MAX;
  for (int i = 0; i < v->count; i++) {
    if (v->items[i].is_expr) {
      if (i == 0) return 0;
      continue;
    }
    const char *s = v->items[i].lit.data ? v->items[i].lit.data : "";
    size_t n = v->items[i].lit.len, ls = 0;
    bool line_start = i == 0;
    for (size_t j = 0; j <= n; j++) {
      if (j == n || s[j] == '\n') {
        if (line_start && seg_has_content(v, i, s, ls, j, n)) {
          size_t k = 0;
          while (ls + k < j && (s[ls + k] == ' ' || s[ls + k] == '\t')) k++;
          if (k < best) best = k;
        }
        ls = j + 1;
        line_start = true;
      }
    }
  }
  return best == SIZE_MAX ? 0 : best;
}

/* Remove [indent] leading characters from every line of piece [i] that
 * starts a line (lines without content become empty), then drop one
 * trailing newline when [trim] (the last piece). */
static void dedent_piece(const PartVec *v, int i, Buf *b, size_t indent, bool trim)
{
  Buf out = {0};
  const char *s = b->data ? b->data : "";
  size_t n = b->len, ls = 0;
  bool line_start = i == 0;
  for (size_t j = 0; j <= n; j++) {
    if (j == n || s[j] == '\n') {
      if (!line_start) {
        buf_append(&out, s + ls, j - ls);
      } else if (seg_has_content(v, i, s, ls, j, n)) {
        size_t k = 0;
        while (k < indent && ls + k < j && (s[ls + k] == ' ' || s[ls + k] == '\t')) k++;
        buf_append(&out, s + ls + k, j - ls - k);
      }
      if (j < n) buf_putc(&out, '\n');
      ls = j + 1;
      line_start = true;
    }
  }
  if (trim && out.len && out.data[out.len - 1] == '\n') out.data[--out.len] = 0;
  buf_free(b);
  *b = out;
}

/* docs/LANGUAGE.md 2.4, triple-quoted processing after the leading newline was
 * dropped: steps 2-4, over the lines of the whole string (interpolations
 * count as content of their line). */
static void dedent_triple(PartVec *v)
{
  size_t indent = common_indent(v);
  bool interp = false;
  for (int i = 0; i < v->count; i++) interp |= v->items[i].is_expr;
  if (!interp) {
    if (v->count == 0) return;
    Buf *b = &v->items[0].lit;
    if (indent == 0) {
      if (b->len && b->data[b->len - 1] == '\n') b->data[--b->len] = 0;
    } else {
      dedent_piece(v, 0, b, indent, true);
    }
    return;
  }
  if (indent == 0) {
    RawPart *last = &v->items[v->count - 1];
    if (!last->is_expr && ws_only(last->lit.data, last->lit.len, true)) {
      buf_free(&last->lit);
      v->count--;
    }
    return;
  }
  for (int i = 0; i < v->count; i++) {
    RawPart *r = &v->items[i];
    if (!r->is_expr) dedent_piece(v, i, &r->lit, indent, i == v->count - 1);
  }
}

/* Move the collected pieces into the token (arena), dropping empty
 * literal pieces. */
static void finish_string(Lexer *L, Token *t, PartVec *v)
{
  int n = 0;
  for (int i = 0; i < v->count; i++)
    if (v->items[i].is_expr || v->items[i].lit.len) n++;
  t->parts = n ? arena_alloc(L->arena, (size_t)n * sizeof(LexStrPart)) : NULL;
  t->nparts = n;
  int k = 0;
  for (int i = 0; i < v->count; i++) {
    RawPart *r = &v->items[i];
    LexStrPart *p;
    if (r->is_expr) {
      p = &t->parts[k++];
      p->is_expr = true;
      p->text = r->text;
      p->len = r->len;
      p->line = r->line;
      p->col = r->col;
    } else if (r->lit.len) {
      p = &t->parts[k++];
      p->text = arena_strndup(L->arena, r->lit.data, r->lit.len);
      p->len = r->lit.len;
    }
  }
  parts_free(v);
}

static void append_char(Lexer *L, Buf *b)
{
  int n = char_len(L);
  buf_append(b, L->src + L->pos, (size_t)n);
  adv(L);
}

/* Plain "..." (with escapes and interpolation) or raw r"..." (neither).
 * At entry the current character is the opening quote; the token starts
 * at [tstart] ([tline]:[tcol]), which is the `r` of a raw string. */
static bool lex_plain_string(Lexer *L, bool raw, size_t tstart, int tline, int tcol)
{
  int qline = L->line, qcol = L->col;
  PartVec v = {0};
  adv(L);
  for (;;) {
    int c = peek_at(L, 0);
    if (c < 0 || c == '\n') {
      parts_free(&v);
      return fail(L, qline, qcol, "Unterminated string");
    }
    if (c == '"') {
      adv(L);
      break;
    }
    if (!raw && c == '\\') {
      int e = peek_at(L, 1);
      const char *rep = NULL;
      switch (e) {
      case 'n': rep = "\n"; break;
      case 't': rep = "\t"; break;
      case '\\': rep = "\\"; break;
      case '"': rep = "\""; break;
      case '$': rep = "$"; break;
      default: break;
      }
      if (rep) {
        buf_puts(cur_lit(&v), rep);
        adv(L);
        adv(L);
      } else {
        /* Unknown escape: keep the backslash; the next character is then
         * read normally. */
        buf_putc(cur_lit(&v), '\\');
        adv(L);
      }
      continue;
    }
    if (!raw && c == '$' && peek_at(L, 1) == '{') {
      if (!scan_interp(L, &v, false, qline, qcol)) {
        parts_free(&v);
        return false;
      }
      continue;
    }
    append_char(L, cur_lit(&v));
  }
  Token *t = push(L, TK_STRING, tline, tcol, tstart);
  t->raw_string = raw;
  finish_string(L, t, &v);
  return true;
}

static bool lex_triple_string(Lexer *L)
{
  int qline = L->line, qcol = L->col;
  size_t start = L->pos;
  PartVec v = {0};
  adv(L);
  adv(L);
  adv(L);
  if (peek_at(L, 0) == '\n') adv(L);
  else if (peek_at(L, 0) == '\r' && peek_at(L, 1) == '\n') {
    adv(L);
    adv(L);
  }
  for (;;) {
    int c = peek_at(L, 0);
    if (c < 0) {
      parts_free(&v);
      return fail(L, qline, qcol, "Unterminated string");
    }
    if (c == '"' && peek_at(L, 1) == '"' && peek_at(L, 2) == '"') {
      adv(L);
      adv(L);
      adv(L);
      break;
    }
    if (c == '$' && peek_at(L, 1) == '{') {
      if (!scan_interp(L, &v, true, qline, qcol)) {
        parts_free(&v);
        return false;
      }
      continue;
    }
    append_char(L, cur_lit(&v));
  }
  dedent_triple(&v);
  Token *t = push(L, TK_STRING, qline, qcol, start);
  finish_string(L, t, &v);
  return true;
}

/* ------------------------------------------------------------------ */
/* Identifiers, keywords                                               */
/* ------------------------------------------------------------------ */

static TokKind keyword_kind(const char *s, size_t n)
{
  for (int k = TK_KW_PIPELINE; k <= TK_KW_SKILL; k++) {
    const char *kw = kind_text[k];
    if (strlen(kw) == n && memcmp(kw, s, n) == 0) return (TokKind)k;
  }
  return TK_IDENT;
}

static bool lex_ident(Lexer *L)
{
  int line = L->line, col = L->col;
  size_t start = L->pos;
  while (L->pos < L->len && ident_cont_here(L)) adv(L);
  size_t n = L->pos - start;
  if (n == 1 && L->src[start] == 'r' && peek_at(L, 0) == '"')
    return lex_plain_string(L, true, start, line, col);
  TokKind k = keyword_kind(L->src + start, n);
  Token *t = push(L, k, line, col, start);
  if (k == TK_IDENT) t->name = arena_strndup(L->arena, L->src + start, n);
  return true;
}

/* ------------------------------------------------------------------ */
/* Driver                                                              */
/* ------------------------------------------------------------------ */

static bool lex_one(Lexer *L)
{
  int c = peek_at(L, 0);
  int c1 = peek_at(L, 1);
  if (c == ' ' || c == '\t' || c == '\r') {
    adv(L);
    return true;
  }
  if (c == '\n') {
    size_t start = L->pos;
    int line = L->line, col = L->col;
    adv(L);
    push(L, TK_NEWLINE, line, col, start);
    return true;
  }
  if (c == '\\' && c1 == '\n') {
    adv(L);
    adv(L);
    return true;
  }
  if (c == '\\' && c1 == '\r' && peek_at(L, 2) == '\n') {
    adv(L);
    adv(L);
    adv(L);
    return true;
  }
  if (c == '/' && c1 == '/') {
    while (L->pos < L->len && L->src[L->pos] != '\n') adv(L);
    return true;
  }
  if (c == '/' && c1 == '*') {
    int line = L->line, col = L->col;
    int depth = 0;
    for (;;) {
      int a = peek_at(L, 0), b = peek_at(L, 1);
      if (a < 0) return fail(L, line, col, "Unterminated block comment");
      if (a == '/' && b == '*') {
        depth++;
        adv(L);
        adv(L);
      } else if (a == '*' && b == '/') {
        depth--;
        adv(L);
        adv(L);
        if (depth == 0) return true;
      } else {
        adv(L);
      }
    }
  }
  if (is_digit(c)) {
    lex_number(L);
    return true;
  }
  if (c == '"') {
    if (c1 == '"' && peek_at(L, 2) == '"') return lex_triple_string(L);
    return lex_plain_string(L, false, L->pos, L->line, L->col);
  }
  if (ident_start_here(L)) return lex_ident(L);
  int line = L->line, col = L->col;
  size_t start = L->pos;
  for (size_t i = 0; i < sizeof two_char / sizeof two_char[0]; i++) {
    if (c == two_char[i].a && c1 == two_char[i].b) {
      adv(L);
      adv(L);
      push(L, two_char[i].kind, line, col, start);
      return true;
    }
  }
  for (size_t i = 0; i < sizeof one_char / sizeof one_char[0]; i++) {
    if (c == one_char[i].c) {
      adv(L);
      push(L, one_char[i].kind, line, col, start);
      return true;
    }
  }
  return fail_unexpected(L);
}

bool lex_tokenize(Arena *arena, const char *src, size_t len, int line, int col,
                  bool file_start, TokenList *out, LexError *err)
{
  Lexer L = {arena, src ? src : "", src ? len : 0, 0, line, col, out, err};
  err->message[0] = 0;
  err->line = err->col = 0;
  if (file_start && L.len >= 2 && src[0] == '#' && src[1] == '!') {
    while (L.pos < L.len && L.src[L.pos] != '\n') adv(&L);
  }
  while (L.pos < L.len) {
    if (!lex_one(&L)) return false;
  }
  push(&L, TK_EOF, L.line, L.col, L.pos);
  return true;
}

void lex_free(TokenList *list)
{
  free(list->items);
  list->items = NULL;
  list->count = list->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Error display of tokens (docs/LANGUAGE.md 10.1)                          */
/* ------------------------------------------------------------------ */

/* Shortest "%.*g" text that reads back as the same double. */
static void put_double(Buf *out, double d)
{
  char tmp[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  buf_puts(out, tmp);
}

void lex_token_display(const Token *t, Buf *out)
{
  switch (t->kind) {
  case TK_IDENT:
    buf_printf(out, "id(%s)", t->name ? t->name : "");
    break;
  case TK_INT:
    buf_printf(out, "int(%" PRId64 ")", t->ival);
    break;
  case TK_FLOAT:
    buf_puts(out, "float(");
    put_double(out, t->fval);
    buf_putc(out, ')');
    break;
  case TK_DURATION:
    buf_printf(out, "duration(%" PRId64 "ms)", t->ival);
    break;
  case TK_STRING:
    buf_puts(out, "str(");
    for (int i = 0; i < t->nparts; i++) {
      const LexStrPart *p = &t->parts[i];
      if (p->is_expr) buf_puts(out, "${");
      buf_append(out, p->text, p->len);
      if (p->is_expr) buf_putc(out, '}');
    }
    buf_putc(out, ')');
    break;
  default:
    buf_puts(out, lex_kind_text(t->kind));
    break;
  }
}
