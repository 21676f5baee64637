/*
 * parser.c: recursive-descent parser from tokens (lexer.h) to the syntax
 * tree of ast.h, following docs/LANGUAGE.md sections 2.6, 5-9, 13 and 14.
 *
 * Structure
 *   - The whole file is tokenized first; the parser then walks the token
 *     array with unlimited lookahead (needed for the lambda-vs-dict scan and
 *     the struct-literal rule).
 *   - Errors: an error is appended to the ParseError's list (message, span,
 *     label, help: docs/LANGUAGE.md 10.3) and the parser longjmps back to
 *     the nearest recovery point. This is safe because everything the
 *     parser allocates lives in the arena (lists grow by copying inside the
 *     arena), so unwinding leaks nothing; the token array is released by the
 *     function that called setjmp.
 *   - Recovery: every statement of a block and every top-level item is a
 *     recovery point (guarded()). After an error the parser synchronises
 *     (sync()): it skips to the next `;` or newline outside brackets, to the
 *     `}` that closes the enclosing block, or to a line that starts a
 *     declaration (`let`, `fn`, `import`...), then goes on. Every recovery
 *     consumes at least one token, so the parse always terminates. Errors at
 *     end of file, "nested too deeply" and the PARSE_MAX_ERRORS-th error are
 *     fatal (nothing after them could be reported usefully). The sub-parse
 *     of a `${...}` piece never recovers: any error makes it literal text.
 *   - Nesting: every construct that recurses (expressions, blocks, patterns,
 *     bindings, types, unary and `**` chains) goes through enter(), which
 *     fails with "Expression nested too deeply at L:C" past MAX_DEPTH levels.
 *     That bounds the C stack no matter what the input is.
 *
 * Newlines (2.6): NEWLINE tokens are significant. Binary-operator loops use
 * at_op(), which looks past newlines only for the continuation tokens of
 * 2.6 (|> || && == != < > <= >= + * / % ** ?? . ?.); inside (), [], dict
 * literals, argument and parameter lists newlines are skipped explicitly,
 * and list_sep() makes commas optional between elements on separate lines.
 *
 * Interpolation: each `${...}` piece is tokenized and parsed on its own
 * (positions start at the piece's place in the original source). If it does
 * not lex, or is not exactly one expression, the piece becomes literal text:
 * the raw text between `${` and `}`, without the delimiters (what the
 * reference inserts when its compiler fails to parse the piece).
 *
 * Type annotations are parsed everywhere (8.4) and dropped, except parameter
 * types and `type` aliases, which are kept as TypeExpr.
 */
#include "parser.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "lexer.h"

/* Maximum nesting of expressions/blocks/patterns/types. Each level costs a
 * handful of C frames (one per precedence level), so 256 keeps the parser
 * well under 1 MB of stack. */
#define MAX_DEPTH 256

typedef struct Parser {
  Arena *a;
  Token *toks;
  int ntoks;
  int pos;
  ParseError *err;
  jmp_buf *jb;
  int depth;
  int *underscores; /* count of `_` identifiers created (pipe placeholder) */
  bool recover;     /* false: the first error ends the parse (`${...}` pieces) */
  bool fatal;       /* the pending error must not be recovered from */
  bool speculative; /* errors are not recorded (a trial parse, try_type_args) */
} Parser;

/* ------------------------------------------------------------------ */
/* Token helpers                                                       */
/* ------------------------------------------------------------------ */

static Token *cur(Parser *P) { return &P->toks[P->pos]; }

static Token *la(Parser *P, int k)
{
  int i = P->pos + k;
  if (i >= P->ntoks) i = P->ntoks - 1;
  return &P->toks[i];
}

static bool at(Parser *P, TokKind k) { return cur(P)->kind == k; }

static Token *next(Parser *P)
{
  Token *t = cur(P);
  if (P->pos < P->ntoks - 1) P->pos++;
  return t;
}

static bool accept(Parser *P, TokKind k)
{
  if (!at(P, k)) return false;
  next(P);
  return true;
}

static void skip_nl(Parser *P)
{
  while (at(P, TK_NEWLINE)) next(P);
}

static bool is_ident(Parser *P, const char *word)
{
  return at(P, TK_IDENT) && strcmp(cur(P)->name, word) == 0;
}

static bool tok_is_word(const Token *t, const char *word)
{
  return t->kind == TK_IDENT && strcmp(t->name, word) == 0;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Width in characters of [t]'s text on its first line (>= 1). */
static int tok_width(const Token *t)
{
  if (t->kind == TK_EOF || t->kind == TK_NEWLINE || !t->start || !t->len) return 1;
  size_t n = 0;
  while (n < t->len && t->start[n] != '\n') n++;
  size_t w = utf8_count(t->start, n);
  return w > 0 ? (int)w : 1;
}

/* Append an error to P->err (docs/LANGUAGE.md 10.3) unless one is already
 * recorded at the same place (a recovery that fails again at once). */
static void record(Parser *P, int line, int col, int width, const char *label, const char *help,
                   const char *msg)
{
  ParseError *e = P->err;
  if (P->speculative) return;
  if (e->ndiags > 0) {
    const ParseDiag *last = &e->diags[e->ndiags - 1];
    if (last->line == line && last->col == col) return;
  }
  if (e->ndiags == 0) {
    snprintf(e->message, sizeof e->message, "%s", msg);
    e->line = line;
    e->col = col;
  }
  if (e->ndiags == PARSE_MAX_ERRORS) {
    e->truncated = true;
    P->fatal = true;
    return;
  }
  ParseDiag *d = &e->diags[e->ndiags++];
  snprintf(d->message, sizeof d->message, "%s", msg);
  d->line = line;
  d->col = col;
  d->width = width;
  d->label = label;
  d->help = help;
}

static _Noreturn void fail_span(Parser *P, int line, int col, int width, const char *label,
                                const char *help, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static _Noreturn void fail_span(Parser *P, int line, int col, int width, const char *label,
                                const char *help, const char *fmt, ...)
{
  char msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  record(P, line, col, width, label, help, msg);
  longjmp(*P->jb, 1);
}

/* An error about the construct at [line]:[col] (carets under the
 * identifier there, label `here`). */
#define fail_at(P, line, col, ...) fail_span((P), (line), (col), 0, "here", NULL, __VA_ARGS__)

/* The `= help:` text for a missing closer (docs/LANGUAGE.md 10.3). */
static const char *closer_help(const char *what)
{
  if (strcmp(what, "}") == 0) return "add a closing `}` to finish this block";
  if (strcmp(what, ")") == 0) return "add a closing `)` to finish this expression or parameter list";
  if (strcmp(what, "]") == 0) return "add a closing `]` to finish this list or subscript";
  return NULL;
}

/* "expected WHAT, found TOKEN" / "unexpected end of file, expected WHAT". */
static _Noreturn void fail_expected(Parser *P, const char *what)
{
  Token *t = cur(P);
  if (t->kind == TK_EOF) {
    /* point just past the last real token: where the text ends */
    int line = t->line, col = t->col;
    for (int i = P->pos - 1; i >= 0; i--) {
      const Token *p = &P->toks[i];
      if (p->kind == TK_NEWLINE) continue;
      line = p->line;
      col = p->col + tok_width(p);
      break;
    }
    P->fatal = true;
    fail_span(P, line, col, 1, "file ends here", closer_help(what),
              "unexpected end of file, expected %s", what);
  }
  Buf b = {0};
  lex_token_display(t, &b);
  /* Copy through a fixed buffer so the Buf can be freed before longjmp. */
  char shown[200];
  snprintf(shown, sizeof shown, "%s", b.data ? b.data : "");
  buf_free(&b);
  fail_span(P, t->line, t->col, tok_width(t),
            t->kind == TK_NEWLINE ? "line break not allowed here" : "unexpected token", NULL,
            "expected %s, found %s", what, shown);
}

static Token *expect(Parser *P, TokKind k, const char *what)
{
  if (!at(P, k)) fail_expected(P, what);
  return next(P);
}

static void enter(Parser *P)
{
  if (++P->depth > MAX_DEPTH) {
    Token *t = cur(P);
    P->fatal = true;
    fail_span(P, t->line, t->col, tok_width(t), "here", NULL, "Expression nested too deeply");
  }
}

static void leave(Parser *P) { P->depth--; }

/* ------------------------------------------------------------------ */
/* Allocation                                                          */
/* ------------------------------------------------------------------ */

static Node *mk(Parser *P, NodeKind kind, const Token *t)
{
  Node *n = arena_alloc(P->a, sizeof(Node));
  n->kind = kind;
  n->line = t->line;
  n->col = t->col;
  return n;
}

/* Arena-backed growable arrays: growth copies into a fresh arena chunk, so
 * an abandoned parse leaks nothing. */
static void *grow(Parser *P, void *old, int count, int *cap, size_t elem)
{
  int nc = *cap ? *cap * 2 : 4;
  void *p = arena_alloc(P->a, (size_t)nc * elem);
  if (count) memcpy(p, old, (size_t)count * elem);
  *cap = nc;
  return p;
}

#define PUSH(P, arr, count, cap, val)                                        \
  do {                                                                       \
    if ((count) == (cap)) (arr) = grow((P), (arr), (count), &(cap), sizeof *(arr)); \
    (arr)[(count)++] = (val);                                                \
  } while (0)

typedef struct NodeVec {
  NodeList l;
  int cap;
} NodeVec;

static void nv_push(Parser *P, NodeVec *v, Node *n) { PUSH(P, v->l.items, v->l.count, v->cap, n); }


/* Name of an identifier or keyword token (keywords are names after `.`,
 * as dict keys, struct fields...). */
static const char *name_of(const Token *t)
{
  return t->kind == TK_IDENT ? t->name : lex_kind_text(t->kind);
}

static bool is_name_tok(const Token *t) { return t->kind == TK_IDENT || lex_is_keyword(t->kind); }

static const char *expect_ident(Parser *P)
{
  return expect(P, TK_IDENT, "identifier")->name;
}

static const char *expect_name(Parser *P)
{
  if (!is_name_tok(cur(P))) fail_expected(P, "identifier");
  return name_of(next(P));
}

/* Is this string token free of `${...}` pieces? */
static bool plain_string(const Token *t)
{
  for (int i = 0; i < t->nparts; i++)
    if (t->parts[i].is_expr) return false;
  return true;
}

/* The text of a plain string token (concatenated literal pieces). */
static Node *string_literal(Parser *P, const Token *t)
{
  Node *n = mk(P, N_STRING, t);
  Buf b = {0};
  for (int i = 0; i < t->nparts; i++) buf_append(&b, t->parts[i].text, t->parts[i].len);
  n->as.str.s = arena_strndup(P->a, b.data ? b.data : "", b.len);
  n->as.str.len = b.len;
  buf_free(&b);
  return n;
}

static Node *string_node_text(Parser *P, const char *s, size_t len, int line, int col)
{
  Node *n = arena_alloc(P->a, sizeof(Node));
  n->kind = N_STRING;
  n->line = line;
  n->col = col;
  n->as.str.s = arena_strndup(P->a, s, len);
  n->as.str.len = len;
  return n;
}

/* After elements of a bracketed list: a comma (newlines around it are
 * free), the closer, or a newline (commas are optional between elements on
 * separate lines). Anything else is "Expected CLOSER, got ...". */
static void list_sep(Parser *P, TokKind closer, const char *what)
{
  if (at(P, TK_EOF)) fail_expected(P, what);
  bool had_nl = at(P, TK_NEWLINE);
  skip_nl(P);
  if (accept(P, TK_COMMA)) {
    skip_nl(P);
    return;
  }
  if (at(P, closer) || had_nl) return;
  fail_expected(P, what);
}

/* Continuation tokens of 2.6: may start the next line of an expression. */
static bool continues(TokKind k)
{
  switch (k) {
  case TK_PIPE: case TK_OROR: case TK_ANDAND: case TK_EQEQ: case TK_NEQ:
  case TK_LT: case TK_GT: case TK_LE: case TK_GE: case TK_PLUS: case TK_STAR:
  case TK_SLASH: case TK_PERCENT: case TK_STARSTAR: case TK_QQ: case TK_DOT:
  case TK_QDOT:
    return true;
  default:
    return false;
  }
}

/* Is the current token [k], possibly after newlines when [k] is a
 * continuation token? On success the newlines are consumed. */
static bool at_op(Parser *P, TokKind k)
{
  if (at(P, k)) return true;
  if (!at(P, TK_NEWLINE) || !continues(k)) return false;
  int i = P->pos;
  while (i < P->ntoks - 1 && P->toks[i].kind == TK_NEWLINE) i++;
  if (P->toks[i].kind != k) return false;
  /* A line starting with `...` is a spread element, not member access. */
  if (k == TK_DOT && i + 1 < P->ntoks && P->toks[i + 1].kind == TK_DOT) return false;
  P->pos = i;
  return true;
}

/* Is [k] the first token after newlines? Consumes the newlines if so
 * (used for `else`/`catch`/`finally` on the line after `}`). */
static bool next_line_is(Parser *P, TokKind k)
{
  int i = P->pos;
  while (i < P->ntoks - 1 && P->toks[i].kind == TK_NEWLINE) i++;
  if (P->toks[i].kind != k) return false;
  P->pos = i;
  return true;
}

/* Loop condition of bracketed lists: true while elements remain; at end of
 * file reports the missing closer rather than a missing element. */
static bool more(Parser *P, TokKind closer, const char *what)
{
  if (at(P, TK_EOF)) fail_expected(P, what);
  return !at(P, closer);
}

static bool at_spread(Parser *P)
{
  return at(P, TK_DOT) && la(P, 1)->kind == TK_DOT && la(P, 2)->kind == TK_DOT;
}

/* At `...`: consume it and return its first token; else NULL. */
static Token *accept_spread(Parser *P)
{
  if (!at_spread(P)) return NULL;
  Token *t = next(P);
  next(P);
  next(P);
  return t;
}

/* ------------------------------------------------------------------ */
/* Forward declarations                                                */
/* ------------------------------------------------------------------ */

static Node *parse_expr(Parser *P);
static Node *parse_or(Parser *P);
static Node *parse_unary(Parser *P);
static Node *parse_postfix(Parser *P);
static Node *parse_block(Parser *P);
static Node *parse_statement(Parser *P);
static TypeExpr *parse_type(Parser *P);
static Pattern *parse_pattern(Parser *P);
static Binding *parse_binding(Parser *P);
static void parse_params(Parser *P, ParamList *out);

/* ------------------------------------------------------------------ */
/* Types (8.4): parsed, kept for params and aliases                    */
/* ------------------------------------------------------------------ */

static TypeExpr *mk_type(Parser *P, TypeKind k)
{
  TypeExpr *t = arena_alloc(P->a, sizeof(TypeExpr));
  t->kind = k;
  return t;
}

static void type_push(Parser *P, TypeExpr *t, TypeExpr *arg, int *cap)
{
  PUSH(P, t->args, t->nargs, *cap, arg);
}

static TypeExpr *parse_type_single(Parser *P)
{
  Token *t = cur(P);
  switch (t->kind) {
  case TK_LBRACKET: {
    next(P);
    skip_nl(P);
    TypeExpr *ty = mk_type(P, TY_LIST);
    int cap = 0;
    type_push(P, ty, parse_type(P), &cap);
    skip_nl(P);
    expect(P, TK_RBRACKET, "]");
    return ty;
  }
  case TK_LBRACE: {
    next(P);
    skip_nl(P);
    TypeExpr *ty = mk_type(P, TY_SHAPE);
    int cap = 0;
    while (more(P, TK_RBRACE, "}")) {
      ShapeField f = {0};
      if (at(P, TK_STRING) && plain_string(cur(P))) f.name = string_literal(P, next(P))->as.str.s;
      else f.name = expect_name(P);
      f.optional = accept(P, TK_QUESTION);
      expect(P, TK_COLON, ":");
      skip_nl(P);
      f.type = parse_type(P);
      PUSH(P, ty->fields, ty->nfields, cap, f);
      list_sep(P, TK_RBRACE, "}");
    }
    next(P);
    return ty;
  }
  case TK_STRING: case TK_INT: case TK_FLOAT: case TK_KW_NIL: case TK_KW_TRUE:
  case TK_KW_FALSE: case TK_MINUS: {
    TypeExpr *ty = mk_type(P, TY_LITERAL);
    Node *lit;
    if (t->kind == TK_MINUS) {
      next(P);
      Token *n = cur(P);
      if (n->kind == TK_INT) {
        lit = mk(P, N_INT, t);
        lit->as.i = (int64_t)(0 - (uint64_t)n->ival);
      } else if (n->kind == TK_FLOAT) {
        lit = mk(P, N_FLOAT, t);
        lit->as.f = -n->fval;
      } else {
        fail_expected(P, "type");
      }
      next(P);
    } else if (t->kind == TK_STRING) {
      if (!plain_string(t)) fail_expected(P, "type");
      lit = string_literal(P, next(P));
    } else if (t->kind == TK_INT) {
      lit = mk(P, N_INT, next(P));
      lit->as.i = t->ival;
    } else if (t->kind == TK_FLOAT) {
      lit = mk(P, N_FLOAT, next(P));
      lit->as.f = t->fval;
    } else if (t->kind == TK_KW_NIL) {
      lit = mk(P, N_NIL, next(P));
    } else {
      lit = mk(P, N_BOOL, next(P));
      lit->as.b = t->kind == TK_KW_TRUE;
    }
    ty->literal = lit;
    return ty;
  }
  case TK_KW_FN: {
    next(P);
    TypeExpr *ty = mk_type(P, TY_FN);
    int cap = 0;
    expect(P, TK_LPAREN, "(");
    skip_nl(P);
    while (more(P, TK_RPAREN, ")")) {
      type_push(P, ty, parse_type(P), &cap);
      list_sep(P, TK_RPAREN, ")");
    }
    next(P);
    /* The return type has no slot in TypeExpr (never checked): dropped. */
    if (accept(P, TK_ARROW)) parse_type(P);
    return ty;
  }
  case TK_LPAREN: {
    next(P);
    skip_nl(P);
    TypeExpr *ty = parse_type(P);
    skip_nl(P);
    expect(P, TK_RPAREN, ")");
    return ty;
  }
  case TK_IDENT: {
    next(P);
    TypeExpr *ty = mk_type(P, TY_NAME);
    ty->name = t->name;
    if (at(P, TK_LT)) {
      next(P);
      skip_nl(P);
      int cap = 0;
      while (more(P, TK_GT, ">")) {
        /* `in T` / `out T` variance markers are allowed in argument lists. */
        if (at(P, TK_KW_IN) || (is_ident(P, "out") && la(P, 1)->kind == TK_IDENT)) next(P);
        type_push(P, ty, parse_type(P), &cap);
        list_sep(P, TK_GT, ">");
      }
      next(P);
    }
    return ty;
  }
  default:
    fail_expected(P, "type");
  }
}

static TypeExpr *parse_type(Parser *P)
{
  enter(P);
  TypeExpr *first = parse_type_single(P);
  if (at(P, TK_BAR)) {
    TypeExpr *u = mk_type(P, TY_UNION);
    int cap = 0;
    type_push(P, u, first, &cap);
    while (accept(P, TK_BAR)) {
      skip_nl(P);
      type_push(P, u, parse_type_single(P), &cap);
    }
    first = u;
  }
  leave(P);
  return first;
}

/* `<T, in U, out V: Bound>` after a declaration name: skipped. */
static void skip_generics(Parser *P)
{
  if (!at(P, TK_LT)) return;
  next(P);
  int depth = 1;
  while (depth > 0) {
    if (at(P, TK_EOF)) fail_expected(P, ">");
    if (at(P, TK_LT)) depth++;
    if (at(P, TK_GT)) depth--;
    next(P);
  }
}

/* `<T, in U, out V: Bound>` after a fn name: skipped as skip_generics()
 * does (balanced), the names, variances and first bounds recorded in [fn]
 * for the static checker. */
static void fn_generics(Parser *P, Node *fn)
{
  if (!at(P, TK_LT)) return;
  next(P);
  int depth = 1, cap = 0, variance = 0;
  Token *prev = NULL; /* the previous token at depth 1 */
  while (depth > 0) {
    if (at(P, TK_EOF)) fail_expected(P, ">");
    Token *t = cur(P);
    if (depth == 1) {
      bool starts = !prev || prev->kind == TK_COMMA;
      if (starts && (t->kind == TK_KW_IN || (is_ident(P, "out") && la(P, 1)->kind == TK_IDENT))) {
        variance = t->kind == TK_KW_IN ? 'i' : 'o';
        next(P);
        continue; /* prev stays: the name still starts the parameter */
      }
      if (starts && t->kind == TK_IDENT) {
        TypeParam tp = {t->name, NULL, variance};
        PUSH(P, fn->as.fn.tparams, fn->as.fn.ntparams, cap, tp);
      } else if (prev && prev->kind == TK_COLON && t->kind == TK_IDENT && fn->as.fn.ntparams > 0 &&
                 !fn->as.fn.tparams[fn->as.fn.ntparams - 1].bound) {
        fn->as.fn.tparams[fn->as.fn.ntparams - 1].bound = t->name;
      }
      if (t->kind == TK_COMMA) variance = 0;
      prev = t;
    }
    if (at(P, TK_LT)) depth++;
    if (at(P, TK_GT)) depth--;
    next(P);
  }
}

/* `where T: Bound, U: A + B` before a function body: the first bound of a
 * generic parameter of [fn] without one is recorded (static checker). */
static void skip_where(Parser *P, Node *fn)
{
  if (!is_ident(P, "where")) return;
  next(P);
  for (;;) {
    const char *name = expect_ident(P);
    expect(P, TK_COLON, ":");
    TypeExpr *b = parse_type(P);
    for (int i = 0; fn && i < fn->as.fn.ntparams; i++)
      if (strcmp(fn->as.fn.tparams[i].name, name) == 0 && !fn->as.fn.tparams[i].bound && b->kind == TY_NAME)
        fn->as.fn.tparams[i].bound = b->name;
    while (accept(P, TK_PLUS)) parse_type(P);
    if (!accept(P, TK_COMMA)) break;
    skip_nl(P);
  }
}

/* ------------------------------------------------------------------ */
/* Parameters (7)                                                      */
/* ------------------------------------------------------------------ */

static Param parse_param(Parser *P)
{
  Param p = {0};
  Token *t = cur(P);
  p.line = t->line;
  p.col = t->col;
  p.rest = accept_spread(P) != NULL;
  p.name = expect_ident(P);
  if (accept(P, TK_COLON)) p.type = parse_type(P);
  if (accept(P, TK_ASSIGN)) {
    skip_nl(P);
    p.default_ = parse_expr(P);
  }
  return p;
}

/* The rules of 7: no required parameter after a defaulted one, rest last. */
static void check_params(Parser *P, const ParamList *pl)
{
  bool seen_default = false;
  for (int i = 0; i < pl->count; i++) {
    const Param *p = &pl->items[i];
    if (p->rest && i != pl->count - 1)
      fail_at(P, p->line, p->col, "Rest parameter must be the last parameter");
    if (p->default_) seen_default = true;
    else if (!p->rest && seen_default)
      fail_at(P, p->line, p->col,
              "Required parameter cannot follow a parameter with a default value");
  }
}

static void parse_params(Parser *P, ParamList *out)
{
  int cap = 0;
  out->items = NULL;
  out->count = 0;
  expect(P, TK_LPAREN, "(");
  skip_nl(P);
  while (more(P, TK_RPAREN, ")")) {
    Param p = parse_param(P);
    PUSH(P, out->items, out->count, cap, p);
    list_sep(P, TK_RPAREN, ")");
  }
  next(P);
  check_params(P, out);
}

/* ------------------------------------------------------------------ */
/* Strings and interpolation (2.4)                                     */
/* ------------------------------------------------------------------ */

/* Parse one `${...}` piece as exactly one expression; NULL when it does
 * not lex or parse (the caller then inserts the raw text). */
static Node *parse_interp_piece(Parser *P, const LexStrPart *part)
{
  TokenList tl = {0};
  LexError le;
  if (!lex_tokenize(P->a, part->text, part->len, part->line, part->col, false, &tl, &le)) {
    lex_free(&tl);
    return NULL;
  }
  jmp_buf jb;
  ParseError sub_err;
  memset(&sub_err, 0, sizeof sub_err);
  Parser sub = {P->a, tl.items, tl.count, 0, &sub_err, &jb, P->depth, P->underscores, false, false,
                false};
  Node *volatile result = NULL;
  if (setjmp(jb) == 0) {
    skip_nl(&sub);
    Node *e = parse_expr(&sub);
    skip_nl(&sub);
    if (at(&sub, TK_EOF)) result = e;
  }
  lex_free(&tl);
  return result;
}

static Node *parse_string(Parser *P)
{
  Token *t = next(P);
  if (plain_string(t)) return string_literal(P, t);
  Node *n = mk(P, N_INTERP, t);
  NodeVec v = {{0}, 0};
  for (int i = 0; i < t->nparts; i++) {
    const LexStrPart *part = &t->parts[i];
    Node *piece = NULL;
    if (part->is_expr) piece = parse_interp_piece(P, part);
    if (!piece) {
      int line = part->is_expr ? part->line : t->line;
      int col = part->is_expr ? part->col : t->col;
      piece = string_node_text(P, part->text, part->len, line, col);
    }
    nv_push(P, &v, piece);
  }
  n->as.list = v.l;
  return n;
}

/* ------------------------------------------------------------------ */
/* Primary expressions                                                 */
/* ------------------------------------------------------------------ */

/* An element of an argument list or list literal: `...expr` or expr. */
static Node *parse_element(Parser *P)
{
  Token *t = accept_spread(P);
  if (!t) return parse_expr(P);
  Node *s = mk(P, N_SPREAD, t);
  s->as.unop.expr = parse_expr(P);
  return s;
}

static void parse_args(Parser *P, NodeList *out)
{
  NodeVec v = {{0}, 0};
  expect(P, TK_LPAREN, "(");
  skip_nl(P);
  while (more(P, TK_RPAREN, ")")) {
    nv_push(P, &v, parse_element(P));
    list_sep(P, TK_RPAREN, ")");
  }
  next(P);
  *out = v.l;
}

/* Does [k] start a declaration or a statement that no expression can
 * continue into? sync() stops at such a token at the start of a line. */
static bool starts_item(TokKind k)
{
  switch (k) {
  case TK_KW_LET: case TK_KW_VAR: case TK_KW_PUB: case TK_KW_IMPORT: case TK_KW_STRUCT:
  case TK_KW_ENUM: case TK_KW_PIPELINE: case TK_KW_INTERFACE: case TK_KW_IMPL: case TK_AT:
  case TK_KW_RETURN:
    return true;
  default:
    return false;
  }
}

/* After an error in the statement that began at token [start]: skip to the
 * next statement boundary (file comment "Recovery"). Brackets opened since
 * [start] are counted so that a `;` or newline inside them is skipped; a
 * `}` with no `{` open since [start] ends the enclosing block and is left
 * for it ([in_block]; at top level it is skipped). Always leaves the parser
 * at least one token past [start] or at EOF. */
static void sync(Parser *P, int start, bool in_block)
{
  int parens = 0, braces = 0;
  for (int i = start; i < P->pos; i++) {
    TokKind k = P->toks[i].kind;
    if (k == TK_LPAREN || k == TK_LBRACKET) parens++;
    else if ((k == TK_RPAREN || k == TK_RBRACKET) && parens > 0) parens--;
    else if (k == TK_LBRACE) braces++;
    else if (k == TK_RBRACE && braces > 0) braces--;
  }
  while (!at(P, TK_EOF)) {
    TokKind k = cur(P)->kind;
    if (P->pos > start && braces == 0 && starts_item(k) &&
        P->toks[P->pos - 1].kind == TK_NEWLINE)
      break; /* a declaration at the start of a line, even inside `(` */
    if (k == TK_NEWLINE || k == TK_SEMI) {
      if (parens == 0 && braces == 0) {
        next(P);
        break;
      }
    } else if (k == TK_RBRACE && braces == 0) {
      if (in_block && P->pos > start) break;
      parens = 0;
    } else if (k == TK_LPAREN || k == TK_LBRACKET) {
      parens++;
    } else if (k == TK_RPAREN || k == TK_RBRACKET) {
      if (parens > 0) parens--;
    } else if (k == TK_LBRACE) {
      braces++;
    } else if (k == TK_RBRACE) {
      braces--;
    }
    next(P);
  }
  skip_nl(P);
}

/* One statement (or top-level item) and its separator, as a recovery
 * point: on an error inside it the error is recorded, the parser
 * synchronises and NULL is returned. [closer] ends the list (TK_RBRACE in a
 * block, TK_EOF at top level); [sep] names the separator in errors. Fatal
 * errors, and every error when P->recover is false, go on to the outer
 * recovery point. */
static Node *guarded(Parser *P, TokKind closer, const char *sep)
{
  jmp_buf jb;
  jmp_buf *outer = P->jb;
  int depth = P->depth;
  int start = P->pos;
  Node *volatile s = NULL;
  P->jb = &jb;
  if (setjmp(jb) == 0) {
    s = parse_statement(P);
    if (accept(P, TK_SEMI)) skip_nl(P);
    else if (at(P, TK_NEWLINE)) skip_nl(P);
    else if (!at(P, closer)) fail_expected(P, sep);
  } else {
    P->jb = outer;
    P->depth = depth;
    if (P->fatal || !P->recover) longjmp(*outer, 1);
    s = NULL;
    sync(P, start, closer == TK_RBRACE);
  }
  P->jb = outer;
  return s;
}

/* Statements up to the closing `}` (the `{` is already consumed); fills an
 * N_BLOCK. */
static Node *parse_block_rest(Parser *P, const Token *open)
{
  enter(P);
  Node *b = mk(P, N_BLOCK, open);
  NodeVec v = {{0}, 0};
  skip_nl(P);
  while (!at(P, TK_RBRACE) && !at(P, TK_EOF)) {
    Node *s = guarded(P, TK_RBRACE, "statement separator (`;` or newline)");
    if (s) nv_push(P, &v, s);
  }
  expect(P, TK_RBRACE, "}");
  b->as.list = v.l;
  leave(P);
  return b;
}

static Node *parse_block(Parser *P)
{
  Token *open = expect(P, TK_LBRACE, "{");
  return parse_block_rest(P, open);
}

typedef struct TypeVec {
  TypeExpr **items;
  int count, cap;
} TypeVec;

/* At `<` right after a callee name: explicit type arguments, `f<int,
 * string>(...)` (docs/LANGUAGE.md 8.4)? They are when the tokens from `<`
 * parse as a comma-separated list of types closed by `>` on the same line
 * and the `>` is immediately followed by `(`; the types go to [out], the
 * parser stands at `(` and true is returned. Otherwise nothing is consumed,
 * no error is recorded, false is returned and `<` is the comparison
 * operator (`a < b`, `a < b > (c)` is never a sensible comparison). */
static bool try_type_args(Parser *P, TypeVec *out)
{
  jmp_buf jb;
  jmp_buf *outer = P->jb;
  int pos = P->pos, depth = P->depth;
  bool fatal = P->fatal, spec = P->speculative;
  volatile bool ok = false;
  TypeVec v = {0};
  P->jb = &jb;
  P->speculative = true;
  if (setjmp(jb) == 0) {
    next(P);
    for (;;) {
      if (at(P, TK_NEWLINE)) fail_expected(P, "type");
      TypeExpr *ty = parse_type(P);
      PUSH(P, v.items, v.count, v.cap, ty);
      if (accept(P, TK_COMMA)) continue;
      expect(P, TK_GT, ">");
      break;
    }
    if (at(P, TK_LPAREN)) {
      *out = v;
      ok = true;
    }
  }
  P->jb = outer;
  P->speculative = spec;
  P->fatal = fatal;
  P->depth = depth;
  if (!ok) P->pos = pos;
  return ok;
}

/* Does the `{` at the current position start a lambda? True when `->`
 * appears at brace depth 0 before the matching `}` (7). */
static bool brace_is_lambda(Parser *P)
{
  int depth = 0;
  for (int i = P->pos + 1; i < P->ntoks; i++) {
    TokKind k = P->toks[i].kind;
    if (k == TK_EOF) return false;
    if (k == TK_LBRACE) depth++;
    else if (k == TK_RBRACE) {
      if (depth == 0) return false;
      depth--;
    } else if (k == TK_ARROW && depth == 0) {
      return true;
    }
  }
  return false;
}

static Node *parse_lambda_braces(Parser *P)
{
  Token *open = next(P);
  Node *n = mk(P, N_LAMBDA, open);
  ParamList pl = {0};
  int cap = 0;
  skip_nl(P);
  while (!at(P, TK_ARROW)) {
    Param p = parse_param(P);
    PUSH(P, pl.items, pl.count, cap, p);
    skip_nl(P);
    if (accept(P, TK_COMMA)) skip_nl(P);
    else if (!at(P, TK_ARROW)) fail_expected(P, "->");
  }
  next(P);
  check_params(P, &pl);
  n->as.lambda.params = pl;
  n->as.lambda.body = parse_block_rest(P, open);
  return n;
}

typedef struct EntryVec {
  DictEntryNode *items;
  int count, cap;
} EntryVec;

static void ev_push(Parser *P, EntryVec *v, Node *k, Node *val)
{
  DictEntryNode e = {k, val};
  PUSH(P, v->items, v->count, v->cap, e);
}

/* Dict literal; the current token is `{`. */
static Node *parse_dict(Parser *P)
{
  Token *open = next(P);
  Node *n = mk(P, N_DICT, open);
  EntryVec v = {0};
  enter(P);
  skip_nl(P);
  while (more(P, TK_RBRACE, "}")) {
    Token *t = cur(P);
    if (at_spread(P)) {
      ev_push(P, &v, NULL, parse_element(P));
    } else {
      Node *key;
      if (at(P, TK_LBRACKET)) {
        next(P);
        skip_nl(P);
        key = parse_expr(P);
        skip_nl(P);
        expect(P, TK_RBRACKET, "]");
      } else if (is_name_tok(t) && la(P, 1)->kind == TK_COLON) {
        next(P);
        const char *name = name_of(t);
        key = string_node_text(P, name, strlen(name), t->line, t->col);
      } else if (t->kind == TK_STRING && plain_string(t)) {
        key = string_literal(P, next(P));
      } else {
        key = parse_expr(P);
      }
      skip_nl(P);
      expect(P, TK_COLON, ":");
      skip_nl(P);
      ev_push(P, &v, key, parse_expr(P));
    }
    list_sep(P, TK_RBRACE, "}");
  }
  next(P);
  leave(P);
  n->as.dict.entries = v.items;
  n->as.dict.count = v.count;
  return n;
}

static Node *parse_list(Parser *P)
{
  Token *open = next(P);
  Node *n = mk(P, N_LIST, open);
  NodeVec v = {{0}, 0};
  enter(P);
  skip_nl(P);
  while (more(P, TK_RBRACKET, "]")) {
    nv_push(P, &v, parse_element(P));
    list_sep(P, TK_RBRACKET, "]");
  }
  next(P);
  leave(P);
  n->as.list = v.l;
  return n;
}

/* Struct literal rule (5.1): `Name {` followed by `}` or `name:`/`"s":`
 * (newlines after the brace are skipped). [i] indexes the `{`. */
static bool struct_lit_ahead(Parser *P, int i)
{
  i++;
  while (i < P->ntoks - 1 && P->toks[i].kind == TK_NEWLINE) i++;
  const Token *t = &P->toks[i];
  if (t->kind == TK_RBRACE) return true;
  if ((is_name_tok(t) || t->kind == TK_STRING) && i + 1 < P->ntoks &&
      P->toks[i + 1].kind == TK_COLON)
    return true;
  return false;
}

static Node *parse_struct_lit(Parser *P, Token *name)
{
  Node *n = mk(P, N_STRUCT_LIT, name);
  n->as.struct_lit.name = name->name;
  EntryVec v = {0};
  expect(P, TK_LBRACE, "{");
  enter(P);
  skip_nl(P);
  while (more(P, TK_RBRACE, "}")) {
    Token *t = cur(P);
    Node *key;
    if (t->kind == TK_STRING && plain_string(t)) {
      key = string_literal(P, next(P));
    } else {
      const char *f = expect_name(P);
      key = string_node_text(P, f, strlen(f), t->line, t->col);
    }
    expect(P, TK_COLON, ":");
    skip_nl(P);
    ev_push(P, &v, key, parse_expr(P));
    list_sep(P, TK_RBRACE, "}");
  }
  next(P);
  leave(P);
  n->as.struct_lit.fields = v.items;
  n->as.struct_lit.count = v.count;
  return n;
}

static Node *parse_if(Parser *P)
{
  Node *root = NULL, **slot = &root;
  int chain = 0;
  for (;; chain++) {
    enter(P);
    Token *t = expect(P, TK_KW_IF, "if");
    Node *n = mk(P, N_IF, t);
    n->as.ternary.cond = parse_expr(P);
    n->as.ternary.then = parse_block(P);
    *slot = n;
    if (!next_line_is(P, TK_KW_ELSE)) break;
    next(P);
    if (at(P, TK_KW_IF)) {
      slot = &n->as.ternary.else_;
      continue;
    }
    n->as.ternary.else_ = parse_block(P);
    break;
  }
  P->depth -= chain + 1;
  return root;
}

/* Match arm pattern (6.6). */
static Pattern *mk_pat(Parser *P, PatKind k, const Token *t)
{
  Pattern *p = arena_alloc(P->a, sizeof(Pattern));
  p->kind = k;
  p->line = t->line;
  p->col = t->col;
  return p;
}

static Pattern *parse_pattern_alt(Parser *P)
{
  Token *t = cur(P);
  int cap = 0;
  if (t->kind == TK_IDENT) {
    Token *n1 = la(P, 1);
    if (n1->kind == TK_DOT && is_name_tok(la(P, 2))) {
      Pattern *p = mk_pat(P, PAT_ENUM, t);
      p->name = t->name;
      next(P);
      next(P);
      p->variant = name_of(next(P));
      if (at(P, TK_LPAREN)) {
        next(P);
        p->has_args = true;
        skip_nl(P);
        while (more(P, TK_RPAREN, ")")) {
          PUSH(P, p->items, p->nitems, cap, parse_pattern(P));
          list_sep(P, TK_RPAREN, ")");
        }
        next(P);
      }
      return p;
    }
    if (n1->kind != TK_LPAREN) {
      next(P);
      if (strcmp(t->name, "_") == 0) return mk_pat(P, PAT_WILDCARD, t);
      Pattern *p = mk_pat(P, PAT_BIND, t);
      p->name = t->name;
      return p;
    }
  }
  if (t->kind == TK_LBRACE) {
    next(P);
    Pattern *p = mk_pat(P, PAT_DICT, t);
    int kcap = 0, nkeys = 0;
    skip_nl(P);
    while (more(P, TK_RBRACE, "}")) {
      Token *kt = cur(P);
      const char *key;
      if (kt->kind == TK_STRING && plain_string(kt)) key = string_literal(P, next(P))->as.str.s;
      else key = expect_name(P);
      Pattern *val;
      if (accept(P, TK_COLON)) {
        skip_nl(P);
        val = parse_pattern(P);
      } else {
        val = mk_pat(P, PAT_BIND, kt);
        val->name = key;
      }
      PUSH(P, p->keys, nkeys, kcap, key);
      PUSH(P, p->items, p->nitems, cap, val);
      list_sep(P, TK_RBRACE, "}");
    }
    next(P);
    return p;
  }
  if (t->kind == TK_LBRACKET) {
    next(P);
    Pattern *p = mk_pat(P, PAT_LIST, t);
    skip_nl(P);
    while (more(P, TK_RBRACKET, "]")) {
      PUSH(P, p->items, p->nitems, cap, parse_pattern(P));
      list_sep(P, TK_RBRACKET, "]");
    }
    next(P);
    return p;
  }
  Pattern *p = mk_pat(P, PAT_VALUE, t);
  p->value = parse_or(P);
  return p;
}

static Pattern *parse_pattern(Parser *P)
{
  enter(P);
  Token *t = cur(P);
  Pattern *first = parse_pattern_alt(P);
  if (at(P, TK_BAR)) {
    Pattern *o = mk_pat(P, PAT_OR, t);
    int cap = 0;
    PUSH(P, o->items, o->nitems, cap, first);
    while (accept(P, TK_BAR)) {
      skip_nl(P);
      PUSH(P, o->items, o->nitems, cap, parse_pattern_alt(P));
    }
    first = o;
  }
  leave(P);
  return first;
}

/* A match arm body: a block; a bare expression is accepted too and wrapped
 * in a block. */
static Node *parse_arm_body(Parser *P)
{
  if (at(P, TK_LBRACE)) return parse_block(P);
  Token *t = cur(P);
  Node *b = mk(P, N_BLOCK, t);
  Node *s = mk(P, N_EXPR_STMT, t);
  s->as.unop.expr = parse_expr(P);
  NodeVec v = {{0}, 0};
  nv_push(P, &v, s);
  b->as.list = v.l;
  return b;
}

static Node *parse_match(Parser *P)
{
  Token *t = next(P);
  Node *n = mk(P, N_MATCH, t);
  n->as.match.subject = parse_expr(P);
  expect(P, TK_LBRACE, "{");
  enter(P);
  MatchArm *arms = NULL;
  int count = 0, cap = 0;
  skip_nl(P);
  while (more(P, TK_RBRACE, "}")) {
    MatchArm arm = {0};
    arm.pattern = parse_pattern(P);
    if (accept(P, TK_KW_IF)) arm.guard = parse_expr(P);
    expect(P, TK_ARROW, "->");
    skip_nl(P);
    arm.body = parse_arm_body(P);
    PUSH(P, arms, count, cap, arm);
    list_sep(P, TK_RBRACE, "}");
  }
  next(P);
  leave(P);
  n->as.match.arms = arms;
  n->as.match.count = count;
  return n;
}

static Node *parse_try(Parser *P)
{
  Token *t = next(P);
  if (at(P, TK_STAR)) {
    next(P);
    Node *n = mk(P, N_TRY_STAR, t);
    n->as.unop.expr = parse_unary(P);
    return n;
  }
  Node *n = mk(P, N_TRY, t);
  n->as.try_.body = parse_block(P);
  if (next_line_is(P, TK_KW_CATCH)) {
    next(P);
    if (at(P, TK_LPAREN)) {
      next(P);
      skip_nl(P);
      n->as.try_.catch_var = expect_ident(P);
      if (accept(P, TK_COLON)) {
        TypeExpr *ty = parse_type(P);
        if (ty->kind == TY_NAME) n->as.try_.catch_type = ty->name;
      }
      skip_nl(P);
      expect(P, TK_RPAREN, ")");
    } else if (at(P, TK_IDENT)) {
      n->as.try_.catch_var = next(P)->name;
      if (accept(P, TK_COLON)) {
        TypeExpr *ty = parse_type(P);
        if (ty->kind == TY_NAME) n->as.try_.catch_type = ty->name;
      }
    }
    n->as.try_.catch_body = parse_block(P);
  }
  if (next_line_is(P, TK_KW_FINALLY)) {
    next(P);
    n->as.try_.finally_body = parse_block(P);
  }
  return n;
}

/* `{ [x ->] body }` of parallel forms: fills var and body. */
static void parse_task_body(Parser *P, Node *n)
{
  Token *open = expect(P, TK_LBRACE, "{");
  skip_nl(P);
  if (at(P, TK_IDENT) && la(P, 1)->kind == TK_ARROW) {
    n->as.parallel.var = next(P)->name;
    next(P);
  } else if (at(P, TK_ARROW)) {
    next(P);
  }
  n->as.parallel.body = parse_block_rest(P, open);
}

static Node *parse_parallel(Parser *P)
{
  Token *t = next(P);
  Node *n = mk(P, N_PARALLEL, t);
  n->as.parallel.mode = PAR_COUNT;
  if (is_ident(P, "each") && la(P, 1)->kind != TK_LBRACE) {
    next(P);
    n->as.parallel.mode = PAR_EACH;
  } else if (is_ident(P, "settle") && la(P, 1)->kind != TK_LBRACE) {
    next(P);
    n->as.parallel.mode = PAR_SETTLE;
  }
  n->as.parallel.arg = parse_expr(P);
  if (is_ident(P, "with") && la(P, 1)->kind == TK_LBRACE) {
    next(P);
    n->as.parallel.options = parse_dict(P);
  }
  parse_task_body(P, n);
  if (is_ident(P, "with") && la(P, 1)->kind == TK_LBRACE && !n->as.parallel.options) {
    next(P);
    n->as.parallel.options = parse_dict(P);
  }
  if (is_ident(P, "as") && tok_is_word(la(P, 1), "stream")) {
    next(P);
    next(P);
    n->as.parallel.as_stream = true;
  }
  return n;
}

static Node *parse_select(Parser *P)
{
  Token *t = next(P);
  Node *n = mk(P, N_SELECT, t);
  expect(P, TK_LBRACE, "{");
  enter(P);
  SelectCase *cases = NULL;
  int count = 0, cap = 0;
  Token *timeout_tok = NULL, *default_tok = NULL;
  skip_nl(P);
  while (more(P, TK_RBRACE, "}")) {
    Token *c = cur(P);
    if ((c->kind == TK_IDENT && la(P, 1)->kind == TK_KW_FROM) || c->kind == TK_KW_FROM) {
      SelectCase sc = {0};
      if (c->kind == TK_IDENT) sc.var = next(P)->name;
      next(P);
      sc.channel = parse_expr(P);
      sc.body = parse_block(P);
      PUSH(P, cases, count, cap, sc);
    } else if (tok_is_word(c, "timeout")) {
      next(P);
      timeout_tok = c;
      n->as.select.timeout = parse_postfix(P);
      n->as.select.timeout_body = parse_block(P);
    } else if (tok_is_word(c, "default")) {
      next(P);
      default_tok = c;
      n->as.select.default_body = parse_block(P);
    } else {
      fail_expected(P, "select case");
    }
    list_sep(P, TK_RBRACE, "}");
  }
  next(P);
  leave(P);
  if (timeout_tok && default_tok) {
    Token *late = timeout_tok->line > default_tok->line ||
                  (timeout_tok->line == default_tok->line && timeout_tok->col > default_tok->col)
                      ? timeout_tok : default_tok;
    fail_at(P, late->line, late->col,
            "select cannot have both timeout and default");
  }
  n->as.select.cases = cases;
  n->as.select.count = count;
  return n;
}

/* Can [t] end a bare `yield`/`return`? */
static bool ends_value(const Token *t)
{
  switch (t->kind) {
  case TK_NEWLINE: case TK_SEMI: case TK_RBRACE: case TK_RPAREN: case TK_RBRACKET:
  case TK_COMMA: case TK_EOF:
    return true;
  default:
    return false;
  }
}

static Node *parse_primary(Parser *P)
{
  Token *t = cur(P);
  Node *n;
  switch (t->kind) {
  case TK_INT:
    n = mk(P, N_INT, next(P));
    n->as.i = t->ival;
    return n;
  case TK_FLOAT:
    n = mk(P, N_FLOAT, next(P));
    n->as.f = t->fval;
    return n;
  case TK_DURATION:
    n = mk(P, N_DURATION, next(P));
    n->as.i = t->ival;
    return n;
  case TK_STRING:
    return parse_string(P);
  case TK_KW_TRUE:
  case TK_KW_FALSE:
    n = mk(P, N_BOOL, next(P));
    n->as.b = t->kind == TK_KW_TRUE;
    return n;
  case TK_KW_NIL:
    return mk(P, N_NIL, next(P));
  case TK_IDENT: {
    next(P);
    TypeVec targs = {0};
    if (at(P, TK_LT) && try_type_args(P, &targs)) {
      n = mk(P, N_CALL, t);
      n->as.call.name = t->name;
      n->as.call.type_args = targs.items;
      n->as.call.ntype_args = targs.count;
      parse_args(P, &n->as.call.args);
      return n;
    }
    if (at(P, TK_LPAREN)) {
      n = mk(P, N_CALL, t);
      n->as.call.name = t->name;
      parse_args(P, &n->as.call.args);
      return n;
    }
    if (t->name[0] >= 'A' && t->name[0] <= 'Z' && at(P, TK_LBRACE) &&
        struct_lit_ahead(P, P->pos))
      return parse_struct_lit(P, t);
    n = mk(P, N_IDENT, t);
    n->as.str.s = t->name;
    n->as.str.len = strlen(t->name);
    if (strcmp(t->name, "_") == 0) (*P->underscores)++;
    return n;
  }
  case TK_LPAREN: {
    next(P);
    skip_nl(P);
    n = parse_expr(P);
    skip_nl(P);
    expect(P, TK_RPAREN, ")");
    return n;
  }
  case TK_LBRACKET:
    return parse_list(P);
  case TK_LBRACE:
    return brace_is_lambda(P) ? parse_lambda_braces(P) : parse_dict(P);
  case TK_KW_FN: {
    next(P);
    n = mk(P, N_LAMBDA, t);
    parse_params(P, &n->as.lambda.params);
    if (accept(P, TK_ARROW)) parse_type(P);
    n->as.lambda.body = parse_block(P);
    return n;
  }
  case TK_KW_IF:
    return parse_if(P);
  case TK_KW_MATCH:
    return parse_match(P);
  case TK_KW_TRY:
    return parse_try(P);
  case TK_KW_SPAWN:
    n = mk(P, N_SPAWN, next(P));
    n->as.unop.expr = parse_block(P);
    return n;
  case TK_KW_PARALLEL:
    return parse_parallel(P);
  case TK_KW_DEADLINE:
    n = mk(P, N_DEADLINE, next(P));
    n->as.deadline.arg = parse_postfix(P);
    n->as.deadline.body = parse_block(P);
    return n;
  case TK_KW_MUTEX:
    n = mk(P, N_MUTEX, next(P));
    if (!at(P, TK_LBRACE)) n->as.deadline.arg = parse_postfix(P);
    n->as.deadline.body = parse_block(P);
    return n;
  case TK_KW_RETRY:
    n = mk(P, N_RETRY, next(P));
    n->as.deadline.arg = parse_postfix(P);
    n->as.deadline.body = parse_block(P);
    return n;
  case TK_KW_SELECT:
    return parse_select(P);
  case TK_KW_YIELD:
    n = mk(P, N_YIELD, next(P));
    if (!ends_value(cur(P))) n->as.unop.expr = parse_expr(P);
    return n;
  case TK_KW_EMIT:
    n = mk(P, N_EMIT, next(P));
    n->as.unop.expr = parse_expr(P);
    return n;
  default:
    fail_expected(P, "expression");
  }
}

/* ------------------------------------------------------------------ */
/* Postfix, unary and binary levels (5.1)                              */
/* ------------------------------------------------------------------ */

/* After a `?`: does [t] start the `x` of a ternary (5.1)? */
static bool starts_ternary(const Token *t)
{
  switch (t->kind) {
  case TK_IDENT: case TK_INT: case TK_FLOAT: case TK_DURATION: case TK_STRING:
  case TK_KW_TRUE: case TK_KW_FALSE: case TK_KW_NIL: case TK_LPAREN: case TK_LBRACE:
  case TK_BANG: case TK_MINUS: case TK_KW_FN:
    return true;
  default:
    return false;
  }
}

static Node *parse_index(Parser *P, Node *recv, Token *open, bool optional)
{
  enter(P);
  skip_nl(P);
  Node *start = NULL, *end = NULL;
  if (!at(P, TK_COLON)) start = parse_expr(P);
  skip_nl(P);
  Node *n;
  if (accept(P, TK_COLON)) {
    skip_nl(P);
    if (!at(P, TK_RBRACKET)) end = parse_expr(P);
    skip_nl(P);
    n = mk(P, N_SLICE, open);
    n->as.slice.recv = recv;
    n->as.slice.start = start;
    n->as.slice.end = end;
  } else {
    n = mk(P, N_INDEX, open);
    n->as.index.recv = recv;
    n->as.index.index = start;
    n->as.index.optional = optional;
  }
  expect(P, TK_RBRACKET, "]");
  leave(P);
  return n;
}

static Node *parse_postfix(Parser *P)
{
  Node *e = parse_primary(P);
  int chain = 0;
  for (;; chain++) {
    enter(P);
    if (at_op(P, TK_DOT) || at_op(P, TK_QDOT)) {
      Token *op = next(P);
      bool opt = op->kind == TK_QDOT;
      const char *name = expect_name(P);
      if (at(P, TK_LPAREN)) {
        Node *m = mk(P, N_METHOD, op);
        m->as.method.recv = e;
        m->as.method.name = name;
        m->as.method.optional = opt;
        parse_args(P, &m->as.method.args);
        e = m;
      } else {
        Node *m = mk(P, N_PROPERTY, op);
        m->as.prop.recv = e;
        m->as.prop.name = name;
        m->as.prop.optional = opt;
        e = m;
      }
    } else if (at(P, TK_LBRACKET)) {
      e = parse_index(P, e, next(P), false);
    } else if (at(P, TK_QUESTION)) {
      Token *q = cur(P);
      Token *after = la(P, 1);
      if (after->kind == TK_LBRACKET) {
        next(P);
        next(P);
        e = parse_index(P, e, q, true);
      } else if (starts_ternary(after)) {
        break;
      } else {
        next(P);
        Node *n = mk(P, N_TRY_OP, q);
        n->as.unop.expr = e;
        e = n;
      }
    } else {
      break;
    }
  }
  P->depth -= chain + 1;
  return e;
}

static Node *parse_unary(Parser *P)
{
  if (at(P, TK_BANG) || at(P, TK_MINUS)) {
    enter(P);
    Token *t = next(P);
    Node *n = mk(P, N_UNARY, t);
    n->as.unary.op = t->kind == TK_BANG ? '!' : '-';
    n->as.unary.operand = parse_unary(P);
    leave(P);
    return n;
  }
  return parse_postfix(P);
}

static Node *mk_bin(Parser *P, Token *op, BinOp k, Node *l, Node *r)
{
  Node *n = mk(P, N_BINARY, op);
  n->as.binary.op = k;
  n->as.binary.left = l;
  n->as.binary.right = r;
  return n;
}

/* Level 11: `**`, right-associative, left operand a unary expression. */
static Node *parse_pow(Parser *P)
{
  Node *l = parse_unary(P);
  if (at_op(P, TK_STARSTAR)) {
    enter(P);
    Token *op = next(P);
    skip_nl(P);
    Node *r = parse_pow(P);
    leave(P);
    return mk_bin(P, op, OP_POW_, l, r);
  }
  return l;
}

/* Levels 4-10: the left-associative binary operators, tightest first
 * (mul, `??`, add, compare, equality, `&&`, `||`); the operands of level L
 * are level L-1 expressions, those of the tightest level `**` ones. An
 * operator may continue an expression on the next line (at_op), except
 * where `same_line` says it must stay on the operator's line: a leading
 * `-` starts a new statement (2.6), and `in`. Each operator of a chain
 * counts one nesting level until the chain ends. */
typedef struct BinTok {
  TokKind tok;
  BinOp op;
  bool same_line;
} BinTok;

typedef struct BinLevel {
  BinTok ops[5];
  int nops;
} BinLevel;

enum { LV_MUL, LV_NULLISH, LV_ADD, LV_CMP, LV_EQ, LV_AND, LV_OR };

static const BinLevel BIN_LEVELS[] = {
  [LV_MUL] = {{{TK_STAR, OP_MUL_, false}, {TK_SLASH, OP_DIV_, false}, {TK_PERCENT, OP_MOD_, false}}, 3},
  [LV_NULLISH] = {{{TK_QQ, OP_NULLISH_, false}}, 1},
  [LV_ADD] = {{{TK_PLUS, OP_ADD_, false}, {TK_MINUS, OP_SUB_, true}}, 2},
  [LV_CMP] = {{{TK_LT, OP_LT_, false}, {TK_GT, OP_GT_, false}, {TK_LE, OP_LE_, false},
               {TK_GE, OP_GE_, false}, {TK_KW_IN, OP_IN_, true}}, 5},
  [LV_EQ] = {{{TK_EQEQ, OP_EQ_, false}, {TK_NEQ, OP_NE_, false}}, 2},
  [LV_AND] = {{{TK_ANDAND, OP_AND_, false}}, 1},
  [LV_OR] = {{{TK_OROR, OP_OR_, false}}, 1},
};

static Node *parse_binary(Parser *P, int level)
{
  Node *l = level == LV_MUL ? parse_pow(P) : parse_binary(P, level - 1);
  const BinLevel *lv = &BIN_LEVELS[level];
  int chain = 0;
  for (;;) {
    int i = 0;
    while (i < lv->nops && !(lv->ops[i].same_line ? at(P, lv->ops[i].tok) : at_op(P, lv->ops[i].tok)))
      i++;
    Token *op = cur(P);
    BinOp k;
    if (i < lv->nops) {
      k = lv->ops[i].op;
    } else if (level == LV_CMP && is_ident(P, "not") && la(P, 1)->kind == TK_KW_IN) {
      next(P); /* `not in`: the node takes the `not` token's position */
      k = OP_NOT_IN_;
    } else {
      P->depth -= chain;
      return l;
    }
    next(P);
    enter(P);
    chain++;
    skip_nl(P);
    Node *r = level == LV_MUL ? parse_pow(P) : parse_binary(P, level - 1);
    l = mk_bin(P, op, k, l, r);
  }
}

static Node *parse_or(Parser *P) { return parse_binary(P, LV_OR); }

/* Level 3: `c ? x : y`, non-associative, operands at level 4. */
static Node *parse_ternary(Parser *P)
{
  Node *c = parse_or(P);
  if (!at(P, TK_QUESTION)) return c;
  Token *q = next(P);
  skip_nl(P);
  Node *n = mk(P, N_TERNARY, q);
  n->as.ternary.cond = c;
  n->as.ternary.then = parse_or(P);
  skip_nl(P);
  expect(P, TK_COLON, ":");
  skip_nl(P);
  n->as.ternary.else_ = parse_or(P);
  return n;
}

/* Level 2: `a to b [exclusive]`, non-associative. */
static Node *parse_range(Parser *P)
{
  Node *l = parse_ternary(P);
  if (!at(P, TK_KW_TO)) return l;
  Token *op = next(P);
  skip_nl(P);
  Node *n = mk(P, N_RANGE, op);
  n->as.range.start = l;
  n->as.range.end = parse_ternary(P);
  n->as.range.exclusive = accept(P, TK_KW_EXCLUSIVE);
  return n;
}

/* Level 1: `a |> f`; placeholder when the right side mentions `_`. */
static Node *parse_expr(Parser *P)
{
  enter(P);
  Node *l = parse_range(P);
  int chain = 0;
  while (at_op(P, TK_PIPE)) {
    Token *op = next(P);
    enter(P);
    chain++;
    skip_nl(P);
    int before = *P->underscores;
    Node *r = parse_range(P);
    Node *n = mk(P, N_PIPE, op);
    n->as.pipe.left = l;
    n->as.pipe.right = r;
    n->as.pipe.placeholder = *P->underscores != before;
    l = n;
  }
  P->depth -= chain + 1;
  return l;
}

/* ------------------------------------------------------------------ */
/* Bindings (6.2)                                                      */
/* ------------------------------------------------------------------ */

static Binding *mk_bind(Parser *P, BindKind k, const Token *t)
{
  Binding *b = arena_alloc(P->a, sizeof(Binding));
  b->kind = k;
  b->line = t->line;
  b->col = t->col;
  return b;
}

static Binding *bind_name(Parser *P, const char *name, const Token *t)
{
  Binding *b = mk_bind(P, BIND_NAME, t);
  b->name = name;
  return b;
}

static const char *parse_rest_name(Parser *P)
{
  accept_spread(P);
  return expect_ident(P);
}

static Binding *parse_binding(Parser *P)
{
  enter(P);
  Token *t = cur(P);
  Binding *b;
  int cap = 0;
  if (t->kind == TK_IDENT) {
    next(P);
    b = bind_name(P, t->name, t);
  } else if (t->kind == TK_LBRACE) {
    next(P);
    b = mk_bind(P, BIND_DICT, t);
    skip_nl(P);
    while (more(P, TK_RBRACE, "}")) {
      if (at_spread(P)) {
        b->rest = parse_rest_name(P);
      } else {
        Token *kt = cur(P);
        BindField f = {0};
        if (kt->kind == TK_STRING && plain_string(kt)) f.key = string_literal(P, next(P))->as.str.s;
        else if (kt->kind == TK_IDENT || la(P, 1)->kind == TK_COLON) f.key = expect_name(P);
        else fail_expected(P, "identifier");
        if (accept(P, TK_COLON)) {
          skip_nl(P);
          f.target = parse_binding(P);
        } else {
          if (kt->kind != TK_IDENT) fail_expected(P, ":");
          f.target = bind_name(P, f.key, kt);
        }
        if (accept(P, TK_ASSIGN)) {
          skip_nl(P);
          f.default_ = parse_expr(P);
        }
        PUSH(P, b->fields, b->nfields, cap, f);
      }
      list_sep(P, TK_RBRACE, "}");
    }
    next(P);
  } else if (t->kind == TK_LBRACKET || t->kind == TK_LPAREN) {
    bool pair = t->kind == TK_LPAREN;
    TokKind close = pair ? TK_RPAREN : TK_RBRACKET;
    next(P);
    b = mk_bind(P, pair ? BIND_PAIR : BIND_LIST, t);
    skip_nl(P);
    while (more(P, close, pair ? ")" : "]")) {
      if (!pair && at_spread(P)) {
        b->rest = parse_rest_name(P);
      } else {
        BindField f = {0};
        f.target = parse_binding(P);
        if (accept(P, TK_ASSIGN)) {
          skip_nl(P);
          f.default_ = parse_expr(P);
        }
        PUSH(P, b->fields, b->nfields, cap, f);
      }
      list_sep(P, close, pair ? ")" : "]");
    }
    next(P);
  } else {
    fail_expected(P, "identifier");
  }
  leave(P);
  return b;
}

/* ------------------------------------------------------------------ */
/* Declarations (7, 8, 9)                                              */
/* ------------------------------------------------------------------ */

typedef struct AttrVec {
  Attribute *items;
  int count, cap;
} AttrVec;

static void parse_attributes(Parser *P, AttrVec *out)
{
  while (at(P, TK_AT)) {
    Token *t = next(P);
    Attribute a = {0};
    a.line = t->line;
    a.col = t->col;
    a.name = expect_name(P);
    if (at(P, TK_LPAREN)) {
      next(P);
      EntryVec v = {0};
      skip_nl(P);
      int fcap = 0;
      while (more(P, TK_RPAREN, ")")) {
        Token *kt = cur(P);
        const char *key = expect_name(P);
        if (!at(P, TK_COLON)) { /* a bare identifier: `@name(allow)` */
          PUSH(P, a.flags, a.nflags, fcap, key);
          list_sep(P, TK_RPAREN, ")");
          continue;
        }
        expect(P, TK_COLON, ":");
        skip_nl(P);
        Node *k = string_node_text(P, key, strlen(key), kt->line, kt->col);
        ev_push(P, &v, k, parse_expr(P));
        list_sep(P, TK_RPAREN, ")");
      }
      next(P);
      a.args = v.items;
      a.nargs = v.count;
    }
    PUSH(P, out->items, out->count, out->cap, a);
    skip_nl(P);
  }
}

static Node *parse_fn_decl(Parser *P, const Token *start, bool pub, bool is_gen, AttrVec *attrs)
{
  expect(P, TK_KW_FN, "fn");
  Node *n = mk(P, N_FN_DECL, start);
  n->as.fn.name = expect_ident(P);
  fn_generics(P, n);
  parse_params(P, &n->as.fn.params);
  if (accept(P, TK_ARROW)) n->as.fn.ret = parse_type(P);
  skip_where(P, n);
  n->as.fn.body = parse_block(P);
  n->as.fn.pub = pub;
  n->as.fn.is_gen = is_gen;
  if (attrs) {
    n->as.fn.attrs = attrs->items;
    n->as.fn.nattrs = attrs->count;
  }
  return n;
}

static Node *parse_struct_decl(Parser *P, const Token *start, bool pub)
{
  next(P);
  Node *n = mk(P, N_STRUCT_DECL, start);
  n->as.struct_decl.name = expect_ident(P);
  n->as.struct_decl.pub = pub;
  skip_generics(P);
  expect(P, TK_LBRACE, "{");
  ParamList *fl = &n->as.struct_decl.fields;
  int cap = 0;
  skip_nl(P);
  while (more(P, TK_RBRACE, "}")) {
    Token *ft = cur(P);
    Param f = {0};
    f.line = ft->line;
    f.col = ft->col;
    f.name = expect_name(P);
    accept(P, TK_QUESTION);
    if (accept(P, TK_COLON)) f.type = parse_type(P);
    if (accept(P, TK_ASSIGN)) {
      skip_nl(P);
      f.default_ = parse_expr(P);
    }
    PUSH(P, fl->items, fl->count, cap, f);
    list_sep(P, TK_RBRACE, "}");
  }
  next(P);
  return n;
}

static Node *parse_enum_decl(Parser *P, const Token *start, bool pub)
{
  next(P);
  Node *n = mk(P, N_ENUM_DECL, start);
  n->as.enum_decl.name = expect_ident(P);
  n->as.enum_decl.pub = pub;
  skip_generics(P);
  expect(P, TK_LBRACE, "{");
  EnumVariantDecl *vars = NULL;
  int count = 0, cap = 0;
  skip_nl(P);
  while (more(P, TK_RBRACE, "}")) {
    EnumVariantDecl v = {0};
    v.name = expect_ident(P);
    if (at(P, TK_LPAREN)) {
      next(P);
      int fcap = 0;
      skip_nl(P);
      while (more(P, TK_RPAREN, ")")) {
        Token *ft = cur(P);
        Param f = {0};
        f.line = ft->line;
        f.col = ft->col;
        if (is_name_tok(ft) && la(P, 1)->kind == TK_COLON) {
          f.name = name_of(next(P));
          next(P);
          f.type = parse_type(P);
        } else {
          TypeExpr *ty = parse_type(P);
          f.name = ty->kind == TY_NAME ? ty->name : "_";
        }
        PUSH(P, v.fields.items, v.fields.count, fcap, f);
        list_sep(P, TK_RPAREN, ")");
      }
      next(P);
    }
    PUSH(P, vars, count, cap, v);
    list_sep(P, TK_RBRACE, "}");
  }
  next(P);
  n->as.enum_decl.variants = vars;
  n->as.enum_decl.count = count;
  return n;
}

static Node *parse_impl(Parser *P, const Token *start)
{
  next(P);
  Node *n = mk(P, N_IMPL, start);
  n->as.impl.type_name = expect_ident(P);
  skip_generics(P);
  if (accept(P, TK_KW_FOR)) {
    n->as.impl.type_name = expect_ident(P);
    skip_generics(P);
  }
  Token *open = expect(P, TK_LBRACE, "{");
  Node *body = parse_block_rest(P, open);
  NodeVec v = {{0}, 0};
  for (int i = 0; i < body->as.list.count; i++) {
    Node *m = body->as.list.items[i];
    if (m->kind != N_FN_DECL)
      fail_at(P, m->line, m->col, "expected fn, found statement");
    nv_push(P, &v, m);
  }
  n->as.impl.methods = v.l;
  return n;
}

/* interface Name<T> { ... }: checked only by the static checker, so the
 * body is skipped (balanced braces); the name and the names of its `fn`
 * members are kept. */
static Node *parse_interface(Parser *P, const Token *start)
{
  next(P);
  Node *n = mk(P, N_INTERFACE, start);
  n->as.iface.name = expect_ident(P);
  while (!at(P, TK_LBRACE)) {
    if (at(P, TK_EOF) || at(P, TK_NEWLINE)) fail_expected(P, "{");
    next(P);
  }
  next(P);
  int depth = 1, cap = 0;
  while (depth > 0) {
    if (at(P, TK_EOF)) fail_expected(P, "}");
    if (depth == 1 && at(P, TK_KW_FN) && la(P, 1)->kind == TK_IDENT)
      PUSH(P, n->as.iface.methods, n->as.iface.nmethods, cap, la(P, 1)->name);
    if (at(P, TK_LBRACE)) depth++;
    if (at(P, TK_RBRACE)) depth--;
    next(P);
  }
  return n;
}

static Node *parse_type_alias(Parser *P, const Token *start, bool pub)
{
  next(P);
  Node *n = mk(P, N_TYPE_ALIAS, start);
  n->as.type_alias.name = expect_ident(P);
  n->as.type_alias.pub = pub;
  skip_generics(P);
  expect(P, TK_ASSIGN, "=");
  skip_nl(P);
  n->as.type_alias.type = parse_type(P);
  return n;
}

static const char *expect_path(Parser *P)
{
  if (!at(P, TK_STRING) || !plain_string(cur(P))) fail_expected(P, "string");
  return string_literal(P, next(P))->as.str.s;
}

static Node *parse_import(Parser *P, const Token *start, bool pub)
{
  next(P);
  Node *n = mk(P, N_IMPORT, start);
  n->as.import.pub = pub;
  if (at(P, TK_LBRACE)) {
    next(P);
    const char **names = NULL;
    int count = 0, cap = 0;
    skip_nl(P);
    while (more(P, TK_RBRACE, "}")) {
      const char *name = expect_ident(P);
      PUSH(P, names, count, cap, name);
      list_sep(P, TK_RBRACE, "}");
    }
    next(P);
    expect(P, TK_KW_FROM, "from");
    n->as.import.names = names;
    n->as.import.nnames = count;
  }
  n->as.import.path = expect_path(P);
  return n;
}

/* `override name(...) { }` inside a pipeline: parsed and dropped. */
static void skip_override(Parser *P)
{
  next(P);
  expect_name(P);
  if (at(P, TK_LPAREN)) {
    ParamList pl;
    parse_params(P, &pl);
  }
  if (accept(P, TK_ARROW)) parse_type(P);
  parse_block(P);
}

static Node *parse_pipeline(Parser *P, const Token *start, bool pub)
{
  next(P);
  Node *n = mk(P, N_PIPELINE, start);
  n->as.pipeline.name = expect_name(P);
  n->as.pipeline.pub = pub;
  if (at(P, TK_LPAREN)) parse_params(P, &n->as.pipeline.params);
  for (;;) {
    if (accept(P, TK_ARROW)) parse_type(P);
    else if (accept(P, TK_KW_EXTENDS)) n->as.pipeline.extends = expect_ident(P);
    else break;
  }
  n->as.pipeline.body = parse_block(P);
  return n;
}

/* Declarations that may follow `pub` and/or attributes. */
static Node *parse_decl_after_prefix(Parser *P, const Token *start, bool pub, AttrVec *attrs)
{
  bool is_gen = false;
  if (is_ident(P, "gen") && la(P, 1)->kind == TK_KW_FN) {
    next(P);
    is_gen = true;
  }
  switch (cur(P)->kind) {
  case TK_KW_FN: return parse_fn_decl(P, start, pub, is_gen, attrs);
  case TK_KW_STRUCT: return parse_struct_decl(P, start, pub);
  case TK_KW_ENUM: return parse_enum_decl(P, start, pub);
  case TK_KW_TYPE: return parse_type_alias(P, start, pub);
  case TK_KW_IMPORT: return parse_import(P, start, pub);
  case TK_KW_PIPELINE: return parse_pipeline(P, start, pub);
  case TK_KW_INTERFACE: return parse_interface(P, start);
  case TK_KW_IMPL: return parse_impl(P, start);
  default: fail_expected(P, "fn");
  }
}

/* ------------------------------------------------------------------ */
/* Statements (6)                                                      */
/* ------------------------------------------------------------------ */

static Node *parse_let(Parser *P)
{
  Token *t = next(P);
  Node *n = mk(P, N_LET, t);
  n->as.let.mutable_ = t->kind == TK_KW_VAR;
  n->as.let.target = parse_binding(P);
  if (accept(P, TK_COLON)) n->as.let.type = parse_type(P);
  if (accept(P, TK_ASSIGN)) {
    skip_nl(P);
    n->as.let.value = parse_expr(P);
  } else {
    /* `var x` without a value starts as nil. */
    n->as.let.value = mk(P, N_NIL, t);
  }
  return n;
}

static int assign_op(TokKind k)
{
  switch (k) {
  case TK_ASSIGN: return 0;
  case TK_PLUSEQ: return '+';
  case TK_MINUSEQ: return '-';
  case TK_STAREQ: return '*';
  case TK_SLASHEQ: return '/';
  case TK_PERCENTEQ: return '%';
  default: return -1;
  }
}

static Node *parse_statement(Parser *P)
{
  Token *t = cur(P);
  Node *n;
  switch (t->kind) {
  case TK_KW_LET:
  case TK_KW_VAR:
    return parse_let(P);
  case TK_KW_RETURN:
    n = mk(P, N_RETURN, next(P));
    if (!ends_value(cur(P))) n->as.unop.expr = parse_expr(P);
    return n;
  case TK_KW_THROW:
    n = mk(P, N_THROW, next(P));
    n->as.unop.expr = parse_expr(P);
    return n;
  case TK_KW_BREAK:
    return mk(P, N_BREAK, next(P));
  case TK_KW_CONTINUE:
    return mk(P, N_CONTINUE, next(P));
  case TK_KW_WHILE:
    n = mk(P, N_WHILE, next(P));
    n->as.deadline.arg = parse_expr(P);
    n->as.deadline.body = parse_block(P);
    return n;
  case TK_KW_FOR:
    n = mk(P, N_FOR, next(P));
    n->as.for_.var = parse_binding(P);
    expect(P, TK_KW_IN, "in");
    n->as.for_.iter = parse_expr(P);
    n->as.for_.body = parse_block(P);
    return n;
  case TK_KW_GUARD:
    n = mk(P, N_GUARD, next(P));
    n->as.guard.cond = parse_expr(P);
    expect(P, TK_KW_ELSE, "else");
    n->as.guard.body = parse_block(P);
    return n;
  case TK_KW_REQUIRE:
    n = mk(P, N_REQUIRE, next(P));
    n->as.guard.cond = parse_expr(P);
    if (accept(P, TK_COMMA)) {
      skip_nl(P);
      n->as.guard.msg = parse_expr(P);
    }
    return n;
  case TK_KW_DEFER:
    n = mk(P, N_DEFER, next(P));
    n->as.unop.expr = parse_block(P);
    return n;
  case TK_KW_FN:
    if (la(P, 1)->kind == TK_IDENT) return parse_fn_decl(P, t, false, false, NULL);
    break;
  case TK_AT: {
    AttrVec attrs = {0};
    parse_attributes(P, &attrs);
    bool pub = accept(P, TK_KW_PUB);
    return parse_decl_after_prefix(P, t, pub, &attrs);
  }
  case TK_KW_PUB:
    next(P);
    return parse_decl_after_prefix(P, t, true, NULL);
  case TK_KW_STRUCT: case TK_KW_ENUM: case TK_KW_IMPL: case TK_KW_INTERFACE:
  case TK_KW_TYPE: case TK_KW_IMPORT: case TK_KW_PIPELINE:
    return parse_decl_after_prefix(P, t, false, NULL);
  case TK_KW_OVERRIDE:
    skip_override(P);
    return NULL;
  case TK_IDENT:
    if (strcmp(t->name, "gen") == 0 && la(P, 1)->kind == TK_KW_FN)
      return parse_decl_after_prefix(P, t, false, NULL);
    break;
  default:
    break;
  }
  Node *e = parse_expr(P);
  int op = assign_op(cur(P)->kind);
  if (op >= 0) {
    if (e->kind != N_IDENT && e->kind != N_PROPERTY && e->kind != N_INDEX)
      fail_at(P, e->line, e->col, "Invalid assignment target");
    next(P);
    skip_nl(P);
    n = mk(P, N_ASSIGN, t);
    n->as.assign.target = e;
    n->as.assign.op = op;
    n->as.assign.value = parse_expr(P);
    return n;
  }
  n = mk(P, N_EXPR_STMT, t);
  n->as.unop.expr = e;
  return n;
}

/* ------------------------------------------------------------------ */
/* Program                                                             */
/* ------------------------------------------------------------------ */

static Node *parse_top(Parser *P)
{
  Node *prog = mk(P, N_PROGRAM, cur(P));
  prog->line = prog->col = 1;
  NodeVec v = {{0}, 0};
  skip_nl(P);
  while (!at(P, TK_EOF)) {
    Node *s = guarded(P, TK_EOF, "top-level item separator (`;` or newline)");
    if (s) nv_push(P, &v, s);
  }
  prog->as.list = v.l;
  return prog;
}

Node *parse_program(Arena *arena, const char *src, size_t len, ParseError *err)
{
  memset(err, 0, sizeof *err);
  TokenList tl = {0};
  LexError le;
  if (!lex_tokenize(arena, src, len, 1, 1, true, &tl, &le)) {
    snprintf(err->message, sizeof err->message, "%s", le.message);
    err->line = le.line;
    err->col = le.col;
    ParseDiag *d = &err->diags[err->ndiags++];
    snprintf(d->message, sizeof d->message, "%s", le.message);
    d->line = le.line;
    d->col = le.col;
    d->width = 1;
    d->label = "here";
    lex_free(&tl);
    return NULL;
  }
  jmp_buf jb;
  int underscores = 0;
  Parser P = {arena, tl.items, tl.count, 0, err, &jb, 0, &underscores, true, false, false};
  Node *volatile prog = NULL;
  if (setjmp(jb) == 0) prog = parse_top(&P);
  lex_free(&tl);
  return err->ndiags > 0 ? NULL : prog;
}
