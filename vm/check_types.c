/*
 * check_types.c: the static checker's type relation and type texts
 * (check_types.h).
 *
 * ct_accepts() answers CHK_NO only for pairs that cannot hold at run time
 * whatever the program does: two different basic kinds (string vs int,
 * list vs dict, ...), a shape whose required field is missing or has a
 * certainly wrong type, two different structs or enums of the file. Every
 * name it does not know (generic parameters, interfaces, Generator, Schema,
 * types of other modules) and every unknown value answers CHK_MAYBE, so a
 * valid program is never rejected. Aliases are followed to a fixed depth.
 */
#include "check_types.h"

#include <stdio.h>
#include <string.h>

#define CT_MAX_DEPTH 16

static CType scalars[] = {
    [CT_UNKNOWN] = {.kind = CT_UNKNOWN}, [CT_NIL] = {.kind = CT_NIL},
    [CT_INT] = {.kind = CT_INT},         [CT_FLOAT] = {.kind = CT_FLOAT},
    [CT_STRING] = {.kind = CT_STRING},   [CT_BOOL] = {.kind = CT_BOOL},
    [CT_LIST] = {.kind = CT_LIST},       [CT_DICT] = {.kind = CT_DICT},
    [CT_SHAPE] = {.kind = CT_UNKNOWN},   [CT_STRUCT] = {.kind = CT_UNKNOWN},
    [CT_ENUM] = {.kind = CT_UNKNOWN},    [CT_FN] = {.kind = CT_FN},
    [CT_ITER] = {.kind = CT_ITER},       [CT_TOP] = {.kind = CT_TOP},
    [CT_GEN] = {.kind = CT_GEN},         [CT_STREAM] = {.kind = CT_STREAM},
};

CType *ct_scalar(CTKind k) { return &scalars[k]; }

CType *ct_new(Arena *a, CTKind k)
{
  CType *t = arena_alloc(a, sizeof(CType));
  t->kind = k;
  return t;
}

static bool is_num(CTKind k) { return k == CT_INT || k == CT_FLOAT; }

/* Kinds whose values are certainly not dicts or structs. */
static bool not_dict(CTKind k)
{
  return k == CT_NIL || is_num(k) || k == CT_STRING || k == CT_BOOL || k == CT_LIST ||
         k == CT_FN || k == CT_ITER || k == CT_ENUM || k == CT_GEN || k == CT_STREAM;
}

static ChkAnswer accepts(const ChkEnv *env, const TypeExpr *d, const CType *v, int depth);

/* Combine the answers for each part of a compound value: any NO is NO,
 * all YES is YES. */
static ChkAnswer both(ChkAnswer a, ChkAnswer b)
{
  if (a == CHK_NO || b == CHK_NO) return CHK_NO;
  return a == CHK_YES && b == CHK_YES ? CHK_YES : CHK_MAYBE;
}

static ChkAnswer list_of(const ChkEnv *env, const TypeExpr *elem, const CType *v, int depth)
{
  if (v->kind == CT_ITER) return CHK_NO; /* an iterator is not a list */
  if (v->kind != CT_LIST) return CHK_NO;
  if (!elem || !v->elem) return CHK_YES;
  return accepts(env, elem, v->elem, depth + 1);
}

static ChkAnswer dict_of(const ChkEnv *env, const TypeExpr *val, const CType *v, int depth)
{
  if (not_dict(v->kind)) return CHK_NO;
  if (!val) return v->kind == CT_STRUCT ? CHK_MAYBE : CHK_YES;
  if (v->kind == CT_DICT) return v->elem ? accepts(env, val, v->elem, depth + 1) : CHK_YES;
  if (v->kind == CT_SHAPE) {
    ChkAnswer r = CHK_YES;
    for (int i = 0; i < v->nfields; i++) r = both(r, accepts(env, val, v->fields[i].type, depth + 1));
    return r;
  }
  return CHK_MAYBE;
}

static ChkAnswer shape(const ChkEnv *env, const TypeExpr *d, const CType *v, int depth)
{
  if (not_dict(v->kind)) return CHK_NO;
  if (v->kind != CT_SHAPE) return CHK_MAYBE;
  ChkAnswer r = CHK_YES;
  for (int i = 0; i < d->nfields; i++) {
    const ShapeField *f = &d->fields[i];
    const CType *got = NULL;
    for (int j = 0; j < v->nfields && !got; j++)
      if (strcmp(v->fields[j].name, f->name) == 0) got = v->fields[j].type;
    if (!got) {
      if (!f->optional) return CHK_NO;
      continue;
    }
    /* an optional field may hold nil */
    if (f->optional && got->kind == CT_NIL) continue;
    r = both(r, accepts(env, f->type, got, depth + 1));
  }
  return r;
}

static ChkAnswer named(const ChkEnv *env, const TypeExpr *d, const CType *v, int depth)
{
  const char *n = d->name;
  const TypeExpr *alias = chk_env_alias(env, n);
  if (alias) return d->nargs == 0 ? accepts(env, alias, v, depth + 1) : CHK_MAYBE;
  if (!strcmp(n, "any") || !strcmp(n, "unknown")) return CHK_YES;
  if (!strcmp(n, "int") || !strcmp(n, "float")) return is_num(v->kind) ? CHK_YES : CHK_NO;
  if (!strcmp(n, "string")) return v->kind == CT_STRING ? CHK_YES : CHK_NO;
  if (!strcmp(n, "bool")) return v->kind == CT_BOOL ? CHK_YES : CHK_NO;
  if (!strcmp(n, "nil")) return v->kind == CT_NIL ? CHK_YES : CHK_NO;
  if (!strcmp(n, "list")) return list_of(env, d->nargs == 1 ? d->args[0] : NULL, v, depth);
  if (!strcmp(n, "dict")) return dict_of(env, d->nargs == 2 ? d->args[1] : NULL, v, depth);
  if (!strcmp(n, "Generator") || !strcmp(n, "Stream")) {
    CTKind want = n[0] == 'G' ? CT_GEN : CT_STREAM;
    if (v->kind == want) return CHK_YES;
    if (v->kind == CT_GEN || v->kind == CT_STREAM) return CHK_NO; /* distinct types */
    return not_dict(v->kind) && v->kind != CT_ITER ? CHK_NO : CHK_MAYBE;
  }
  if (chk_env_is_struct(env, n)) {
    if (v->kind == CT_STRUCT) return strcmp(v->name, n) == 0 ? CHK_YES : CHK_NO;
    return not_dict(v->kind) ? CHK_NO : CHK_MAYBE;
  }
  if (chk_env_is_enum(env, n)) {
    if (v->kind == CT_ENUM) return strcmp(v->name, n) == 0 ? CHK_YES : CHK_NO;
    return v->kind == CT_FN || v->kind == CT_ITER ? CHK_MAYBE : CHK_NO;
  }
  return CHK_MAYBE;
}

static ChkAnswer literal(const TypeExpr *d, const CType *v)
{
  switch (d->literal->kind) {
  case N_STRING: return v->kind == CT_STRING ? CHK_MAYBE : CHK_NO;
  case N_INT: case N_FLOAT: return is_num(v->kind) ? CHK_MAYBE : CHK_NO;
  case N_BOOL: return v->kind == CT_BOOL ? CHK_MAYBE : CHK_NO;
  case N_NIL: return v->kind == CT_NIL ? CHK_YES : CHK_NO;
  default: return CHK_MAYBE;
  }
}

/* A value declared `unknown` (not narrowed): only `any`, `unknown` and
 * unions holding one of them take it; basic types certainly do not. */
static ChkAnswer accepts_top(const ChkEnv *env, const TypeExpr *d, int depth)
{
  if (d->kind == TY_UNION) {
    bool all_no = d->nargs > 0;
    for (int i = 0; i < d->nargs; i++) {
      ChkAnswer r = accepts_top(env, d->args[i], depth + 1);
      if (r == CHK_YES) return CHK_YES;
      if (r != CHK_NO) all_no = false;
    }
    return all_no ? CHK_NO : CHK_MAYBE;
  }
  if (d->kind == TY_LIST || d->kind == TY_LITERAL) return CHK_NO;
  if (d->kind != TY_NAME || depth > CT_MAX_DEPTH) return CHK_MAYBE;
  const TypeExpr *alias = chk_env_alias(env, d->name);
  if (alias) return d->nargs == 0 ? accepts_top(env, alias, depth + 1) : CHK_MAYBE;
  static const char *const basic[] = {"int", "float", "string", "bool", "nil", "list", "dict"};
  for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++)
    if (!strcmp(d->name, basic[i])) return CHK_NO;
  if (!strcmp(d->name, "any") || !strcmp(d->name, "unknown")) return CHK_YES;
  return CHK_MAYBE;
}

static ChkAnswer accepts(const ChkEnv *env, const TypeExpr *d, const CType *v, int depth)
{
  if (!d || !v || v->kind == CT_UNKNOWN || depth > CT_MAX_DEPTH) return CHK_MAYBE;
  if (v->kind == CT_TOP) return accepts_top(env, d, depth);
  switch (d->kind) {
  case TY_NAME: return named(env, d, v, depth);
  case TY_LIST: return list_of(env, d->nargs == 1 ? d->args[0] : NULL, v, depth);
  case TY_SHAPE: return shape(env, d, v, depth);
  case TY_LITERAL: return d->literal ? literal(d, v) : CHK_MAYBE;
  case TY_FN:
    if (v->kind == CT_FN) return CHK_YES;
    return v->kind == CT_STRUCT ? CHK_MAYBE : CHK_NO;
  case TY_UNION: {
    bool all_no = true;
    for (int i = 0; i < d->nargs; i++) {
      ChkAnswer r = accepts(env, d->args[i], v, depth + 1);
      if (r == CHK_YES) return CHK_YES;
      if (r != CHK_NO) all_no = false;
    }
    return all_no && d->nargs > 0 ? CHK_NO : CHK_MAYBE;
  }
  default: return CHK_MAYBE;
  }
}

ChkAnswer ct_accepts(const ChkEnv *env, const TypeExpr *d, const CType *v)
{
  return accepts(env, d, v, 0);
}

static CType *from_decl(const ChkEnv *env, Arena *a, const TypeExpr *d, int depth)
{
  if (!d || depth > CT_MAX_DEPTH) return ct_scalar(CT_UNKNOWN);
  if (d->kind == TY_LIST) {
    CType *t = ct_new(a, CT_LIST);
    t->elem = d->nargs == 1 ? from_decl(env, a, d->args[0], depth + 1) : NULL;
    if (t->elem && t->elem->kind == CT_UNKNOWN) t->elem = NULL;
    return t;
  }
  if (d->kind != TY_NAME) return ct_scalar(CT_UNKNOWN);
  const char *n = d->name;
  const TypeExpr *alias = chk_env_alias(env, n);
  if (alias) return d->nargs == 0 ? from_decl(env, a, alias, depth + 1) : ct_scalar(CT_UNKNOWN);
  if (!strcmp(n, "int")) return ct_scalar(CT_INT);
  if (!strcmp(n, "float")) return ct_scalar(CT_FLOAT);
  if (!strcmp(n, "string")) return ct_scalar(CT_STRING);
  if (!strcmp(n, "bool")) return ct_scalar(CT_BOOL);
  if (!strcmp(n, "nil")) return ct_scalar(CT_NIL);
  if (!strcmp(n, "list")) {
    CType *t = ct_new(a, CT_LIST);
    t->elem = d->nargs == 1 ? from_decl(env, a, d->args[0], depth + 1) : NULL;
    if (t->elem && t->elem->kind == CT_UNKNOWN) t->elem = NULL;
    return t;
  }
  if (chk_env_is_struct(env, n) || chk_env_is_enum(env, n)) {
    CType *t = ct_new(a, chk_env_is_struct(env, n) ? CT_STRUCT : CT_ENUM);
    t->name = n;
    return t;
  }
  return ct_scalar(CT_UNKNOWN);
}

CType *ct_from_decl(const ChkEnv *env, Arena *a, const TypeExpr *d)
{
  return from_decl(env, a, d, 0);
}

bool ct_equal(const CType *x, const CType *y)
{
  if (!x || !y) return x == y;
  if (x->kind != y->kind) return false;
  switch (x->kind) {
  case CT_UNKNOWN: return false;
  case CT_LIST: case CT_DICT: return ct_equal(x->elem, y->elem);
  case CT_STRUCT: case CT_ENUM: return strcmp(x->name, y->name) == 0;
  case CT_SHAPE:
    if (x->nfields != y->nfields) return false;
    for (int i = 0; i < x->nfields; i++)
      if (strcmp(x->fields[i].name, y->fields[i].name) != 0 ||
          !ct_equal(x->fields[i].type, y->fields[i].type))
        return false;
    return true;
  default: return true;
  }
}

static void write_decl(Buf *out, const TypeExpr *d, int depth)
{
  if (!d || depth > CT_MAX_DEPTH) {
    buf_puts(out, "unknown");
    return;
  }
  switch (d->kind) {
  case TY_NAME:
    buf_puts(out, d->name);
    if (d->nargs) {
      buf_putc(out, '<');
      for (int i = 0; i < d->nargs; i++) {
        if (i) buf_puts(out, ", ");
        write_decl(out, d->args[i], depth + 1);
      }
      buf_putc(out, '>');
    }
    break;
  case TY_LIST:
    buf_puts(out, "list<");
    write_decl(out, d->nargs ? d->args[0] : NULL, depth + 1);
    buf_putc(out, '>');
    break;
  case TY_UNION:
    for (int i = 0; i < d->nargs; i++) {
      if (i) buf_puts(out, " | ");
      write_decl(out, d->args[i], depth + 1);
    }
    break;
  case TY_SHAPE:
    buf_putc(out, '{');
    for (int i = 0; i < d->nfields; i++) {
      if (i) buf_puts(out, ", ");
      buf_printf(out, "%s%s: ", d->fields[i].name, d->fields[i].optional ? "?" : "");
      write_decl(out, d->fields[i].type, depth + 1);
    }
    buf_putc(out, '}');
    break;
  case TY_LITERAL: {
    const Node *l = d->literal;
    if (!l) buf_puts(out, "unknown");
    else if (l->kind == N_STRING) buf_printf(out, "\"%s\"", l->as.str.s);
    else if (l->kind == N_INT) buf_printf(out, "%lld", (long long)l->as.i);
    else if (l->kind == N_FLOAT) buf_printf(out, "%g", l->as.f);
    else if (l->kind == N_BOOL) buf_puts(out, l->as.b ? "true" : "false");
    else buf_puts(out, "nil");
    break;
  }
  case TY_FN:
    buf_puts(out, "fn(");
    for (int i = 0; i < d->nargs; i++) {
      if (i) buf_puts(out, ", ");
      write_decl(out, d->args[i], depth + 1);
    }
    buf_putc(out, ')');
    break;
  default: buf_puts(out, "unknown"); break;
  }
}

void ct_write_decl(Buf *out, const TypeExpr *d) { write_decl(out, d, 0); }

static void write_ct(Buf *out, const CType *v, int depth)
{
  if (!v || depth > CT_MAX_DEPTH) {
    buf_puts(out, "unknown");
    return;
  }
  switch (v->kind) {
  case CT_UNKNOWN: buf_puts(out, "unknown"); break;
  case CT_NIL: buf_puts(out, "nil"); break;
  case CT_INT: buf_puts(out, "int"); break;
  case CT_FLOAT: buf_puts(out, "float"); break;
  case CT_STRING: buf_puts(out, "string"); break;
  case CT_BOOL: buf_puts(out, "bool"); break;
  case CT_FN: buf_puts(out, "closure"); break;
  case CT_ITER: buf_puts(out, "iter"); break;
  case CT_TOP: buf_puts(out, "unknown"); break;
  case CT_GEN: case CT_STREAM:
    if (v->decl) write_decl(out, v->decl, depth + 1);
    else buf_puts(out, v->kind == CT_GEN ? "Generator" : "Stream");
    break;
  case CT_LIST:
    buf_puts(out, "list");
    if (v->elem) {
      buf_putc(out, '<');
      write_ct(out, v->elem, depth + 1);
      buf_putc(out, '>');
    }
    break;
  case CT_DICT:
    buf_puts(out, "dict");
    if (v->elem) {
      buf_puts(out, "<string, ");
      write_ct(out, v->elem, depth + 1);
      buf_putc(out, '>');
    }
    break;
  case CT_SHAPE:
    buf_putc(out, '{');
    for (int i = 0; i < v->nfields; i++) {
      if (i) buf_puts(out, ", ");
      buf_printf(out, "%s: ", v->fields[i].name);
      write_ct(out, v->fields[i].type, depth + 1);
    }
    buf_putc(out, '}');
    break;
  case CT_STRUCT: case CT_ENUM: buf_puts(out, v->name); break;
  }
}

void ct_write(Buf *out, const CType *v) { write_ct(out, v, 0); }
