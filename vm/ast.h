/*
 * ast.h: the syntax tree the parser builds and the compiler consumes.
 *
 * Every node is one `Node` with a kind and a union of per-kind fields. All
 * nodes, strings and arrays of one parse live in one Arena and are freed
 * together; nothing in the tree is GC-managed. Strings are NUL-terminated,
 * already unescaped (string literals) and UTF-8.
 *
 * Positions: `line`/`col` are 1-based (col counts characters) and point at
 * the token that best identifies the node for error reports: the operator
 * of a binary expression, the name of a call, the `.` of a member access,
 * the first token of a statement.
 *
 * Type annotations are parsed and dropped, except parameter types (kept as
 * TypeExpr for the runtime checks of docs/LANGUAGE.md 8.5), `type` aliases
 * (kept for schema_of), and the `let`/`var` annotation and the return type
 * of a named `fn` (kept for the static checker, vm/check.c).
 */
#ifndef HARN_AST_H
#define HARN_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena ------------------------------------------------------------ */

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
  ArenaBlock *head;
} Arena;

/* Zeroed memory that lives until arena_free(). Never returns NULL. */
void *arena_alloc(Arena *a, size_t n);
char *arena_strndup(Arena *a, const char *s, size_t n);
void arena_free(Arena *a);

typedef struct Node Node;

typedef struct NodeList {
  Node **items;
  int count;
} NodeList;

/* ---- type expressions (kept for parameter checks) -------------------- */

typedef enum {
  TY_NAME,    /* int, string, Foo, list<int> (args ignored at runtime) */
  TY_UNION,   /* A | B */
  TY_SHAPE,   /* {name: string, age?: int} */
  TY_LIST,    /* [T] */
  TY_LITERAL, /* "a", 42, nil, true */
  TY_FN,      /* fn(int) -> bool */
  TY_OTHER    /* anything else: never checked */
} TypeKind;

typedef struct TypeExpr TypeExpr;
typedef struct ShapeField {
  const char *name;
  bool optional;
  TypeExpr *type;
} ShapeField;

struct TypeExpr {
  TypeKind kind;
  const char *name;      /* TY_NAME */
  TypeExpr **args;       /* TY_NAME generic args / TY_UNION members */
  int nargs;
  ShapeField *fields;    /* TY_SHAPE */
  int nfields;
  Node *literal;         /* TY_LITERAL: a literal expression node */
};

/* ---- parameters, patterns ------------------------------------------- */

typedef struct Param {
  const char *name;
  TypeExpr *type;   /* NULL when untyped */
  Node *default_;   /* NULL when required */
  bool rest;        /* ...name */
  int line, col;
} Param;

typedef struct ParamList {
  Param *items;
  int count;
} ParamList;

/* Destructuring pattern of let/var/for (docs/LANGUAGE.md 6.2). */
typedef enum {
  BIND_NAME,  /* x  (name "_" discards) */
  BIND_DICT,  /* {a, b: renamed, c = 5, ...rest} */
  BIND_LIST,  /* [x, y, ...rest] */
  BIND_PAIR   /* (a, b) in for loops */
} BindKind;

typedef struct Binding Binding;
typedef struct BindField {
  const char *key;     /* dict key (BIND_DICT) */
  Binding *target;     /* where the value goes (a BIND_NAME for `b: renamed`) */
  Node *default_;      /* `= default`, or NULL */
} BindField;

struct Binding {
  BindKind kind;
  const char *name;    /* BIND_NAME */
  BindField *fields;   /* BIND_DICT (key + target) / BIND_LIST, BIND_PAIR (target only) */
  int nfields;
  const char *rest;    /* ...rest name, or NULL */
  int line, col;
};

/* ---- nodes ------------------------------------------------------------ */

typedef enum {
  /* literals */
  N_NIL, N_BOOL, N_INT, N_FLOAT, N_DURATION, N_STRING,
  N_INTERP,      /* interpolated string: parts are N_STRING or expressions */
  N_IDENT,
  N_LIST,        /* items may contain N_SPREAD */
  N_DICT,        /* entries: see DictEntryNode */
  N_LAMBDA,      /* { x, y -> body } or fn(x) { body } */
  N_UNARY,       /* op: '-' or '!' */
  N_BINARY,      /* op: see BinOp; includes && || ?? */
  N_TERNARY,
  N_RANGE,       /* a to b [exclusive] */
  N_PIPE,        /* a |> f */
  N_CALL,        /* name(args): callee is always an identifier */
  N_METHOD,      /* recv.name(args), recv?.name(args) */
  N_PROPERTY,    /* recv.name, recv?.name */
  N_INDEX,       /* recv[i], recv?[i] */
  N_SLICE,       /* recv[a:b] */
  N_TRY_OP,      /* expr? */
  N_SPREAD,      /* ...expr inside list literals, dicts and call args */
  N_STRUCT_LIT,  /* Name { f: v, ... } */
  N_BLOCK,       /* { stmts } as an expression: value of last expr stmt */
  N_IF,          /* if/else if/else (expression) */
  N_MATCH,
  N_TRY,         /* try/catch/finally, or bare try (no catch, no finally) */
  N_TRY_STAR,    /* try* expr */
  N_SPAWN,       /* spawn { body } */
  N_PARALLEL,    /* parallel(n) {i -> } / parallel each / parallel settle */
  N_DEADLINE,    /* deadline DUR { body } */
  N_MUTEX,       /* mutex [key] { body } */
  N_RETRY,       /* retry N { body } */
  N_SELECT,
  N_YIELD,       /* yield [expr] (expression) */
  N_EMIT,        /* emit expr */

  /* statements */
  N_LET,         /* let/var binding = value */
  N_ASSIGN,      /* target op= value */
  N_EXPR_STMT,
  N_WHILE,
  N_FOR,
  N_BREAK,
  N_CONTINUE,
  N_RETURN,
  N_THROW,
  N_GUARD,       /* guard cond else { } */
  N_REQUIRE,     /* require cond [, msg] */
  N_DEFER,       /* defer { } */
  N_FN_DECL,
  N_STRUCT_DECL,
  N_ENUM_DECL,
  N_IMPL,
  N_INTERFACE,   /* name and method names kept for the static checker */
  N_TYPE_ALIAS,
  N_IMPORT,
  N_PIPELINE,
  N_PROGRAM
} NodeKind;

typedef enum {
  OP_ADD_, OP_SUB_, OP_MUL_, OP_DIV_, OP_MOD_, OP_POW_,
  OP_EQ_, OP_NE_, OP_LT_, OP_GT_, OP_LE_, OP_GE_,
  OP_IN_, OP_NOT_IN_,
  OP_AND_, OP_OR_, OP_NULLISH_
} BinOp;

typedef struct DictEntryNode {
  Node *key;     /* N_STRING for `name:` and `"str":`; an expression for `[expr]:`;
                    NULL for a spread entry */
  Node *value;   /* the value, or the N_SPREAD node */
} DictEntryNode;

/* Match arm pattern (docs/LANGUAGE.md 6.6). */
typedef enum {
  PAT_WILDCARD,  /* _ */
  PAT_BIND,      /* x */
  PAT_VALUE,     /* any expression, compared with == */
  PAT_ENUM,      /* E.V or E.V(p, ...) */
  PAT_DICT,      /* {k: pattern, ...} */
  PAT_LIST,      /* [p, ...] */
  PAT_OR         /* p1 | p2 */
} PatKind;

typedef struct Pattern Pattern;
struct Pattern {
  PatKind kind;
  const char *name;       /* PAT_BIND name; PAT_ENUM enum name */
  const char *variant;    /* PAT_ENUM variant */
  bool has_args;          /* PAT_ENUM with (...) */
  Node *value;            /* PAT_VALUE */
  Pattern **items;        /* PAT_ENUM args, PAT_LIST elements, PAT_OR alternatives,
                             PAT_DICT values */
  const char **keys;      /* PAT_DICT keys */
  int nitems;
  int line, col;
};

typedef struct MatchArm {
  Pattern *pattern;
  Node *guard;            /* or NULL */
  Node *body;             /* N_BLOCK */
} MatchArm;

typedef struct SelectCase {
  const char *var;        /* binding for the received value (may be NULL) */
  Node *channel;          /* channel expression */
  Node *body;             /* N_BLOCK */
} SelectCase;

typedef struct EnumVariantDecl {
  const char *name;
  ParamList fields;       /* field names (types ignored) */
} EnumVariantDecl;

/* A generic parameter of a named fn: `<in T: Bound>` or `where T: Bound`
 * (kept for the static checker, vm/check.c). */
typedef struct TypeParam {
  const char *name;
  const char *bound;      /* the first bound's name, or NULL */
  int variance;           /* 0, or 'i' for `in`, 'o' for `out` */
} TypeParam;

typedef struct Attribute {
  const char *name;       /* e.g. "step" */
  DictEntryNode *args;    /* name: value arguments (key N_STRING) */
  int nargs;
  int line, col;
  const char **flags;     /* bare identifier arguments, `@name(allow)` */
  int nflags;
} Attribute;

struct Node {
  NodeKind kind;
  int line, col;
  union {
    bool b;                                   /* N_BOOL */
    int64_t i;                                /* N_INT, N_DURATION (ms) */
    double f;                                 /* N_FLOAT */
    struct { const char *s; size_t len; } str;/* N_STRING (len in bytes), N_IDENT (s) */
    NodeList list;                            /* N_LIST, N_INTERP parts, N_BLOCK stmts,
                                                 N_PROGRAM items */
    struct { DictEntryNode *entries; int count; } dict;    /* N_DICT */
    struct { ParamList params; Node *body; } lambda;       /* N_LAMBDA (body N_BLOCK) */
    struct { char op; Node *operand; } unary;              /* N_UNARY */
    struct { BinOp op; Node *left, *right; } binary;       /* N_BINARY */
    struct { Node *cond, *then, *else_; } ternary;         /* N_TERNARY, N_IF (else_ may
                                                              be NULL, an N_BLOCK or an N_IF) */
    struct { Node *start, *end; bool exclusive; } range;   /* N_RANGE */
    struct { Node *left, *right; bool placeholder; } pipe; /* N_PIPE: placeholder = right
                                                              side mentions `_` */
    struct { const char *name; NodeList args;              /* N_CALL; type_args: the */
             TypeExpr **type_args; int ntype_args; } call; /* explicit `f<T, U>(...)`
                                                              (NULL/0 when absent) */
    struct { Node *recv; const char *name; NodeList args; bool optional; } method;
    struct { Node *recv; const char *name; bool optional; } prop;       /* N_PROPERTY */
    struct { Node *recv, *index; bool optional; } index;   /* N_INDEX */
    struct { Node *recv, *start, *end; } slice;            /* N_SLICE (start/end NULL
                                                              when omitted) */
    struct { Node *expr; } unop;                           /* N_TRY_OP, N_SPREAD,
                                                              N_TRY_STAR, N_YIELD (NULL
                                                              for bare yield), N_EMIT,
                                                              N_THROW, N_RETURN (NULL),
                                                              N_EXPR_STMT, N_DEFER body,
                                                              N_SPAWN body */
    struct { const char *name; DictEntryNode *fields; int count; } struct_lit;
    struct { Node *subject; MatchArm *arms; int count; } match;
    struct {
      Node *body;               /* N_BLOCK */
      const char *catch_var;    /* NULL when `catch {` or no catch */
      const char *catch_type;   /* typed catch: enum name, else NULL */
      Node *catch_body;         /* NULL when there is no catch clause */
      Node *finally_body;       /* NULL when there is no finally */
    } try_;
    struct {
      int mode;                 /* PAR_COUNT, PAR_EACH, PAR_SETTLE */
      Node *arg;                /* count or collection */
      const char *var;          /* lambda parameter (i or x), may be NULL */
      Node *body;
      Node *options;            /* `with { ... }` dict expression, or NULL */
      bool as_stream;
    } parallel;
    struct { Node *arg; Node *body; } deadline;            /* N_DEADLINE, N_RETRY (arg =
                                                              attempts), N_MUTEX (arg =
                                                              key or NULL), N_WHILE
                                                              (arg = cond) */
    struct { SelectCase *cases; int count; Node *timeout; Node *timeout_body;
             Node *default_body; } select;
    struct { bool mutable_; Binding *target; Node *value;
             TypeExpr *type; } let;                         /* N_LET (type: the
                                                              annotation, or NULL) */
    struct { Node *target; int op; Node *value; } assign;  /* N_ASSIGN: op 0 for `=`,
                                                              else '+','-','*','/','%';
                                                              target is N_IDENT,
                                                              N_PROPERTY or N_INDEX */
    struct { Binding *var; Node *iter; Node *body; } for_; /* N_FOR */
    struct { Node *cond; Node *msg; Node *body; } guard;   /* N_GUARD (body = else block),
                                                              N_REQUIRE (msg may be NULL) */
    struct {
      const char *name;
      ParamList params;
      Node *body;               /* N_BLOCK */
      bool pub, is_gen;
      Attribute *attrs;
      int nattrs;
      TypeExpr *ret;            /* `-> T`, or NULL (static checker) */
      TypeParam *tparams;       /* `<T, U: Bound>` (static checker) */
      int ntparams;
    } fn;                                                  /* N_FN_DECL */
    struct { const char *name; ParamList fields; bool pub; } struct_decl;
    struct { const char *name; EnumVariantDecl *variants; int count; bool pub; } enum_decl;
    struct { const char *type_name; NodeList methods; } impl;   /* methods: N_FN_DECL */
    struct { const char *name; const char **methods; int nmethods; } iface;
                                                           /* N_INTERFACE: the names of
                                                              its `fn` members */
    struct { const char *name; TypeExpr *type; bool pub; } type_alias;
    struct {
      const char *path;         /* as written: "./lib/util", "std/math" */
      const char **names;       /* selective import names, or NULL */
      int nnames;
      bool pub;                 /* pub import: re-export */
    } import;
    struct {
      const char *name;
      ParamList params;
      const char *extends;      /* parent pipeline name, or NULL */
      Node *body;               /* N_BLOCK; `override` items are dropped */
      bool pub;
    } pipeline;
  } as;
};

enum { PAR_COUNT, PAR_EACH, PAR_SETTLE };

#endif
