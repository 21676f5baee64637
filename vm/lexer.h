/*
 * lexer.h: Harn source text to tokens (docs/LANGUAGE.md section 2).
 *
 * The lexer turns a whole source buffer into an array of tokens before the
 * parser starts, so a lexer error anywhere in the file is reported even if a
 * parse error would come earlier (the reference tokenizes first as well).
 *
 * Invariants of the token array produced by lex_tokenize():
 *   - it always ends with exactly one TK_EOF token;
 *   - newlines are tokens (TK_NEWLINE), one per '\n' that is not inside a
 *     comment, a string or a `\`+newline line join;
 *   - positions are 1-based; `col` counts characters (UTF-8 code points),
 *     not bytes;
 *   - all text a token owns (identifier names, string pieces) lives in the
 *     arena passed in, except the raw source text of `${...}` pieces, which
 *     points into the source buffer itself (so the caller must keep the
 *     source alive while it uses the tokens).
 *
 * Strings: every string form (plain, raw, triple-quoted) becomes one
 * TK_STRING token made of pieces. Literal pieces are fully processed
 * (escapes applied, triple-quote dedent applied); expression pieces hold the
 * raw text between `${` and the matching `}`, and the position of its first
 * character, for the parser to parse as an expression.
 *
 * The source need not be NUL-terminated; the lexer never reads past `len`.
 */
#ifndef HARN_LEXER_H
#define HARN_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ast.h"
#include "base/buf.h"

/* Every token kind with the text used for it in parse errors. Keywords are
 * the contiguous run KW_PIPELINE..KW_SKILL (docs/LANGUAGE.md 2.2, ORDER KW). */
#define LEX_TOKEN_MAP(X)                                                     \
  X(EOF, "EOF") X(NEWLINE, "\\n") X(IDENT, "identifier") X(INT, "int")       \
  X(FLOAT, "float") X(DURATION, "duration") X(STRING, "string")              \
  X(KW_PIPELINE, "pipeline") X(KW_EXTENDS, "extends")                        \
  X(KW_OVERRIDE, "override") X(KW_LET, "let") X(KW_VAR, "var")               \
  X(KW_IF, "if") X(KW_ELSE, "else") X(KW_FOR, "for") X(KW_IN, "in")          \
  X(KW_MATCH, "match") X(KW_RETRY, "retry") X(KW_PARALLEL, "parallel")       \
  X(KW_RETURN, "return") X(KW_IMPORT, "import") X(KW_TRUE, "true")           \
  X(KW_FALSE, "false") X(KW_NIL, "nil") X(KW_TRY, "try")                     \
  X(KW_CATCH, "catch") X(KW_THROW, "throw") X(KW_FINALLY, "finally")         \
  X(KW_FN, "fn") X(KW_SPAWN, "spawn") X(KW_WHILE, "while")                   \
  X(KW_TYPE, "type") X(KW_ENUM, "enum") X(KW_EVAL_PACK, "eval_pack")         \
  X(KW_STRUCT, "struct") X(KW_INTERFACE, "interface") X(KW_EMIT, "emit")     \
  X(KW_PUB, "pub") X(KW_FROM, "from") X(KW_TO, "to") X(KW_TOOL, "tool")      \
  X(KW_EXCLUSIVE, "exclusive") X(KW_GUARD, "guard")                          \
  X(KW_REQUIRE, "require") X(KW_DEADLINE, "deadline")                        \
  X(KW_DEFER, "defer") X(KW_YIELD, "yield") X(KW_MUTEX, "mutex")             \
  X(KW_BREAK, "break") X(KW_CONTINUE, "continue") X(KW_SELECT, "select")     \
  X(KW_IMPL, "impl") X(KW_SKILL, "skill")                                    \
  X(EQEQ, "==") X(NEQ, "!=") X(ANDAND, "&&") X(OROR, "||") X(PIPE, "|>")     \
  X(QQ, "??") X(STARSTAR, "**") X(QDOT, "?.") X(ARROW, "->")                 \
  X(PLUSEQ, "+=") X(MINUSEQ, "-=") X(STAREQ, "*=") X(SLASHEQ, "/=")          \
  X(PERCENTEQ, "%=") X(LE, "<=") X(GE, ">=")                                 \
  X(LBRACE, "{") X(RBRACE, "}") X(LPAREN, "(") X(RPAREN, ")")                \
  X(LBRACKET, "[") X(RBRACKET, "]") X(COMMA, ",") X(COLON, ":")              \
  X(SEMI, ";") X(DOT, ".") X(ASSIGN, "=") X(BANG, "!") X(PLUS, "+")          \
  X(MINUS, "-") X(STAR, "*") X(SLASH, "/") X(PERCENT, "%") X(LT, "<")        \
  X(GT, ">") X(QUESTION, "?") X(BAR, "|") X(AT, "@")

typedef enum {
#define LEX_ENUM_(name, text) TK_##name,
  LEX_TOKEN_MAP(LEX_ENUM_)
#undef LEX_ENUM_
  TK__COUNT
} TokKind;

/* One piece of a string token. */
typedef struct LexStrPart {
  bool is_expr;      /* true: `${...}` text to parse as an expression */
  const char *text;  /* literal: processed text, NUL-terminated (arena);
                        expression: raw source text (NOT NUL-terminated) */
  size_t len;        /* bytes of text */
  int line, col;     /* expression: position of its first character */
} LexStrPart;

typedef struct Token {
  TokKind kind;
  int line, col;          /* position of the first character */
  const char *start;      /* source span of the whole token */
  size_t len;
  int64_t ival;           /* TK_INT; TK_DURATION (milliseconds) */
  double fval;            /* TK_FLOAT */
  const char *name;       /* TK_IDENT (NUL-terminated, arena) */
  LexStrPart *parts;      /* TK_STRING pieces, in order */
  int nparts;
  bool raw_string;        /* TK_STRING written as r"..." */
} Token;

typedef struct TokenList {
  Token *items;           /* malloc'ed; release with lex_free() */
  int count, cap;
} TokenList;

typedef struct LexError {
  char message[256];      /* display text without position, e.g. "Unterminated string" */
  int line, col;
} LexError;

/* Tokenize [len] bytes of [src]. Positions start at [line]:[col] (1:1 for a
 * file; a `${...}` piece is lexed again starting at its own position). When
 * [file_start] is true a `#!` line at the very beginning is skipped. On
 * success fills [out] (which the caller releases with lex_free(), also after
 * a failure) and returns true; on the first lexer error returns false with
 * [err] filled in. Never reads past [len]. */
bool lex_tokenize(Arena *arena, const char *src, size_t len, int line, int col,
                  bool file_start, TokenList *out, LexError *err);

/* Release the token array of [list] (the arena keeps the texts). */
void lex_free(TokenList *list);

/* The fixed text of a token kind: the keyword or punctuation itself, "EOF",
 * "\\n" (backslash + n) for newlines, or a category word for literals. */
const char *lex_kind_text(TokKind kind);

/* Append the parse-error display of [t] (docs/LANGUAGE.md 10.1) to [out]:
 * keywords and punctuation by their text, `id(name)`, `str(text)`,
 * `int(5)`, `float(1.5)`, `duration(500ms)`, `\n`, `EOF`. */
void lex_token_display(const Token *t, Buf *out);

/* True for the reserved words of docs/LANGUAGE.md 2.2. */
bool lex_is_keyword(TokKind kind);

#endif
