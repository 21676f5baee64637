/*
 * check_types.h: the types of the static checker (vm/check.c), internal to
 * vm/: the inferred type of an expression (CType), how a declared type
 * (TypeExpr, ast.h) accepts it, and how both are written in messages.
 *
 * The checker is gradual and must never reject a valid program: every
 * question has three answers, and only a certain CHK_NO is reported.
 * CT_UNKNOWN is what inference gives whenever it is not sure; it is
 * accepted by everything (CHK_MAYBE).
 */
#ifndef HARN_CHECK_TYPES_H
#define HARN_CHECK_TYPES_H

#include <stdbool.h>

#include "ast.h"
#include "base/buf.h"

typedef enum {
  CT_UNKNOWN, CT_NIL, CT_INT, CT_FLOAT, CT_STRING, CT_BOOL,
  CT_LIST,   /* elem: element type or NULL (unknown, mixed, empty) */
  CT_DICT,   /* elem: value type or NULL */
  CT_SHAPE,  /* a dict literal with plain keys: fields in source order */
  CT_STRUCT, /* name: a struct declared in the file */
  CT_ENUM,   /* name: an enum declared in the file */
  CT_FN,     /* a closure or function */
  CT_ITER,   /* a lazy iterator (iter(), .map() on an iterator, ...) */
  CT_TOP,    /* declared `unknown` and never narrowed: must be narrowed before use */
  CT_GEN,    /* what a fn that yields returns (decl: its Generator<T>, or NULL) */
  CT_STREAM  /* what a `gen fn` returns (decl: its Stream<T>, or NULL) */
} CTKind;

typedef struct CType CType;
typedef struct CField {
  const char *name;
  CType *type;
} CField;

struct CType {
  CTKind kind;
  CType *elem;
  const char *name;
  CField *fields;
  int nfields;
  const TypeExpr *decl; /* CT_GEN, CT_STREAM: the declared return type, for texts */
};

typedef enum { CHK_NO, CHK_MAYBE, CHK_YES } ChkAnswer;

/* What the file declares, for names in types (implemented in check.c). */
typedef struct ChkEnv ChkEnv;
/* The alias `type NAME = T` declared in the file (NULL if none). */
const TypeExpr *chk_env_alias(const ChkEnv *env, const char *name);
bool chk_env_is_struct(const ChkEnv *env, const char *name);
bool chk_env_is_enum(const ChkEnv *env, const char *name);

/* The shared scalar types (never freed, never modified). */
CType *ct_scalar(CTKind k);
/* A new compound type in [a]. */
CType *ct_new(Arena *a, CTKind k);

/* Whether a value of type [v] may be stored where [d] is declared.
 * CHK_NO only when it certainly cannot (int and float accept each other;
 * unknown names, generics and interfaces answer CHK_MAYBE). */
ChkAnswer ct_accepts(const ChkEnv *env, const TypeExpr *d, const CType *v);

/* The inferred type of a value of declared type [d] when it is simple
 * (scalars, lists of them, structs, enums), else the unknown type. */
CType *ct_from_decl(const ChkEnv *env, Arena *a, const TypeExpr *d);

/* Structural equality (used to unify list literal elements). */
bool ct_equal(const CType *x, const CType *y);

/* Append [d] / [v] written the reference's way: `int`, `list<int>`,
 * `dict<string, int>`, `{name: string, age?: int}`, `int | string`. */
void ct_write_decl(Buf *out, const TypeExpr *d);
void ct_write(Buf *out, const CType *v);

#endif
