/*
 * typecheck.c: compiled parameter types and their run-time check (tc_;
 * see typecheck.h).
 *
 * A compiled type is a list whose first item is its kind and second its
 * source text (for messages):
 *   [TC_NAME,  text, name]                 a type_of name (int, dict...)
 *   [TC_UNION, text, member...]            accepted if any member accepts
 *   [TC_SHAPE, text, n, (field, optional, type, ftext) * n, sorted index * n]
 *   [TC_LIST,  text, elem, etext]          a list whose every item is an elem
 *   [TC_DICT,  text, val, vtext]           a dict whose every value is a val
 * where a shape field's type may be nil (presence checked, type not) and
 * the sorted indexes give the fields in name order (docs/LANGUAGE.md 8.5:
 * required fields first in declaration order, then field types in sorted
 * field order). Anything not checkable compiles to nil, and a union with
 * an unchecked member is not checked at all.
 */
#include "typecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "error.h"
#include "object.h"
#include "state.h"

enum { TC_NAME, TC_UNION, TC_SHAPE, TC_LIST, TC_DICT };

#define TC_MAX_DEPTH 64 /* alias / nesting depth followed when compiling */

/* type_of names a parameter may be checked against (besides `any`). */
static const char *const checkable[] = {"int",   "float", "string", "bool",     "nil",  "list",
                                        "dict",  "set",   "range",  "closure",  "pair", "iter",
                                        "enum",  "struct", "duration", "builtin"};

static bool is_checkable(const char *name)
{
  for (size_t i = 0; i < sizeof checkable / sizeof checkable[0]; i++)
    if (strcmp(checkable[i], name) == 0) return true;
  return false;
}

/* ---- source text ----------------------------------------------------------- */

static void render(const TypeExpr *t, Buf *b, int depth)
{
  if (!t || depth > TC_MAX_DEPTH) {
    buf_puts(b, "any");
    return;
  }
  switch (t->kind) {
  case TY_NAME:
    buf_puts(b, t->name ? t->name : "any");
    if (t->nargs) {
      buf_putc(b, '<');
      for (int i = 0; i < t->nargs; i++) {
        if (i) buf_puts(b, ", ");
        render(t->args[i], b, depth + 1);
      }
      buf_putc(b, '>');
    }
    break;
  case TY_UNION:
    for (int i = 0; i < t->nargs; i++) {
      if (i) buf_puts(b, " | ");
      render(t->args[i], b, depth + 1);
    }
    break;
  case TY_SHAPE:
    buf_putc(b, '{');
    for (int i = 0; i < t->nfields; i++) {
      if (i) buf_puts(b, ", ");
      buf_printf(b, "%s%s: ", t->fields[i].name, t->fields[i].optional ? "?" : "");
      render(t->fields[i].type, b, depth + 1);
    }
    buf_putc(b, '}');
    break;
  case TY_LIST:
    buf_putc(b, '[');
    render(t->nargs ? t->args[0] : NULL, b, depth + 1);
    buf_putc(b, ']');
    break;
  case TY_LITERAL: {
    Node *n = t->literal;
    if (!n) buf_puts(b, "nil");
    else if (n->kind == N_STRING) buf_printf(b, "\"%s\"", n->as.str.s);
    else if (n->kind == N_INT) buf_printf(b, "%lld", (long long)n->as.i);
    else if (n->kind == N_BOOL) buf_puts(b, n->as.b ? "true" : "false");
    else if (n->kind == N_FLOAT) buf_printf(b, "%g", n->as.f);
    else buf_puts(b, "nil");
    break;
  }
  case TY_FN: buf_puts(b, "fn"); break;
  case TY_OTHER: buf_puts(b, "any"); break;
  }
}

static Value text_of(Vm *vm, const TypeExpr *t)
{
  Buf b = {0};
  render(t, &b, 0);
  Value v = OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len));
  buf_free(&b);
  return v;
}

/* ---- compiling ---------------------------------------------------------------- */

typedef struct Ctx {
  Vm *vm;
  TcAliasFn alias;
  void *ud;
  /* aliases being expanded (outermost first): a recursive alias meets
   * itself here and stops, as a type the check/schema cannot express
   * (else `type T = {l?: T, r?: T}` would unroll exponentially) */
  const TypeExpr *expanding[TC_MAX_DEPTH + 1];
  int nexpanding;
} Ctx;

/* The alias [name] resolves to, or NULL when there is none or it is
 * already being expanded (then the caller treats it as `any`). On
 * success the alias is pushed on x->expanding: alias_leave pops it. */
static const TypeExpr *alias_enter(Ctx *x, const char *name)
{
  const TypeExpr *a = x->alias ? x->alias(x->ud, name) : NULL;
  if (!a || x->nexpanding > TC_MAX_DEPTH) return NULL;
  for (int i = 0; i < x->nexpanding; i++)
    if (x->expanding[i] == a) return NULL;
  x->expanding[x->nexpanding++] = a;
  return a;
}

static void alias_leave(Ctx *x) { x->nexpanding--; }

static Value compile(Ctx *x, const TypeExpr *t, int depth);

static Value compile_shape(Ctx *x, const TypeExpr *t, int depth)
{
  Vm *vm = x->vm;
  int n = t->nfields;
  ObjList *l = list_new(vm, (uint32_t)(3 + 5 * n));
  list_push(vm, l, INT_VAL(TC_SHAPE));
  list_push(vm, l, text_of(vm, t));
  list_push(vm, l, INT_VAL(n));
  for (int i = 0; i < n; i++) {
    ShapeField *f = &t->fields[i];
    list_push(vm, l, OBJ_VAL(str_cstr(vm, f->name ? f->name : "")));
    list_push(vm, l, BOOL_VAL(f->optional));
    list_push(vm, l, compile(x, f->type, depth + 1));
    list_push(vm, l, text_of(vm, f->type));
  }
  /* field indexes in name order (insertion sort: shapes are small) */
  int *idx = malloc(sizeof(int) * (n > 0 ? (size_t)n : 1u));
  if (!idx) abort();
  for (int i = 0; i < n; i++) {
    int j = i;
    while (j > 0 && strcmp(t->fields[idx[j - 1]].name, t->fields[i].name) > 0) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  for (int i = 0; i < n; i++) list_push(vm, l, INT_VAL(idx[i]));
  free(idx);
  return OBJ_VAL(l);
}

static Value compile_name(Ctx *x, const TypeExpr *t, const char *name, int depth)
{
  Vm *vm = x->vm;
  if (strcmp(name, "any") == 0) return NIL_VAL;
  if (!is_checkable(name)) {
    const TypeExpr *a = alias_enter(x, name);
    if (!a) return NIL_VAL;
    Value c = compile(x, a, depth + 1);
    alias_leave(x);
    return c;
  }
  ObjList *l = list_new(vm, 3);
  list_push(vm, l, INT_VAL(TC_NAME));
  list_push(vm, l, text_of(vm, t));
  list_push(vm, l, OBJ_VAL(str_cstr(vm, name)));
  return OBJ_VAL(l);
}

/* list<T> / [T] (kind TC_LIST) and dict<K, V> (TC_DICT) over the compiled
 * element type [et]; a plain list / dict check when [et] is unchecked. */
static Value compile_container(Ctx *x, const TypeExpr *t, int kind, const TypeExpr *et, int depth)
{
  Value e = compile(x, et, depth + 1);
  if (IS_NIL(e)) return compile_name(x, t, kind == TC_LIST ? "list" : "dict", depth);
  ObjList *l = list_new(x->vm, 4);
  list_push(x->vm, l, INT_VAL(kind));
  list_push(x->vm, l, text_of(x->vm, t));
  list_push(x->vm, l, e);
  list_push(x->vm, l, text_of(x->vm, et));
  return OBJ_VAL(l);
}

static Value compile(Ctx *x, const TypeExpr *t, int depth)
{
  if (!t || depth > TC_MAX_DEPTH) return NIL_VAL;
  switch (t->kind) {
  case TY_NAME:
    if (t->name && strcmp(t->name, "list") == 0 && t->nargs == 1)
      return compile_container(x, t, TC_LIST, t->args[0], depth);
    if (t->name && strcmp(t->name, "dict") == 0 && t->nargs == 2)
      return compile_container(x, t, TC_DICT, t->args[1], depth);
    return t->name ? compile_name(x, t, t->name, depth) : NIL_VAL;
  case TY_LIST:
    if (t->nargs == 1) return compile_container(x, t, TC_LIST, t->args[0], depth);
    return compile_name(x, t, "list", depth);
  case TY_SHAPE: return compile_shape(x, t, depth);
  case TY_UNION: {
    if (t->nargs == 0) return NIL_VAL;
    ObjList *l = list_new(x->vm, (uint32_t)(2 + t->nargs));
    list_push(x->vm, l, INT_VAL(TC_UNION));
    list_push(x->vm, l, text_of(x->vm, t));
    for (int i = 0; i < t->nargs; i++) {
      Value m = compile(x, t->args[i], depth + 1);
      if (IS_NIL(m)) return NIL_VAL; /* an unchecked member accepts anything */
      list_push(x->vm, l, m);
    }
    return OBJ_VAL(l);
  }
  case TY_LITERAL: {
    /* a literal type checks as its value's runtime type (`"a" | "b"` takes
     * strings, `1 | 2` ints): the value itself is not compared, so a
     * literal-typed value keeps its type and nothing stricter is asked */
    const Node *n = t->literal;
    const char *name = !n                 ? "nil"
                       : n->kind == N_STRING ? "string"
                       : n->kind == N_INT    ? "int"
                       : n->kind == N_FLOAT  ? "float"
                       : n->kind == N_BOOL   ? "bool"
                                             : NULL;
    if (!name && n && n->kind == N_NIL) name = "nil";
    return name ? compile_name(x, t, name, depth) : NIL_VAL;
  }
  case TY_FN:
  case TY_OTHER: return NIL_VAL;
  }
  return NIL_VAL;
}

Value tc_compile_type(Vm *vm, const TypeExpr *t, TcAliasFn alias, void *ud)
{
  Ctx x = {.vm = vm, .alias = alias, .ud = ud};
  return compile(&x, t, 0);
}

/* ---- checking ------------------------------------------------------------------ */

static int kind_of(ObjList *t) { return (int)AS_INT(t->items[0]); }
static const char *text(ObjList *t) { return AS_CSTR(t->items[1]); }

static ObjDict *fields_of(Value v)
{
  if (IS_DICT(v)) return AS_DICT(v);
  if (IS_OBJ_TYPE(v, OBJ_STRUCT)) return AS_STRUCT(v)->fields;
  return NULL;
}

static bool accepts(Value type, Value v, int depth);

static bool shape_accepts(ObjList *t, Value v, int depth)
{
  ObjDict *d = fields_of(v);
  if (!d) return false;
  int n = (int)AS_INT(t->items[2]);
  for (int i = 0; i < n; i++) {
    Value *f = &t->items[3 + 4 * i];
    Value fv;
    bool present = d && dict_get_cstr(d, AS_CSTR(f[0]), &fv);
    if (!present) {
      if (!AS_BOOL(f[1])) return false;
      continue;
    }
    if (AS_BOOL(f[1]) && IS_NIL(fv)) continue;
    if (!IS_NIL(f[2]) && !accepts(f[2], fv, depth + 1)) return false;
  }
  return true;
}

static bool accepts(Value type, Value v, int depth)
{
  if (IS_NIL(type) || depth > TC_MAX_DEPTH) return true;
  ObjList *t = AS_LIST(type);
  switch (kind_of(t)) {
  case TC_NAME: {
    const char *want = AS_CSTR(t->items[2]);
    if (strcmp(want, "int") == 0 || strcmp(want, "float") == 0) return IS_INT(v) || IS_FLOAT(v);
    if (strcmp(want, "dict") == 0) return fields_of(v) != NULL;
    return strcmp(want, val_type_name(v)) == 0;
  }
  case TC_UNION:
    for (uint32_t i = 2; i < t->count; i++)
      if (accepts(t->items[i], v, depth + 1)) return true;
    return false;
  case TC_SHAPE: return shape_accepts(t, v, depth);
  case TC_LIST:
    if (!IS_LIST(v)) return false;
    for (uint32_t i = 0; i < AS_LIST(v)->count; i++)
      if (!accepts(t->items[2], AS_LIST(v)->items[i], depth + 1)) return false;
    return true;
  case TC_DICT: {
    ObjDict *d = fields_of(v);
    if (!d) return false;
    for (uint32_t i = 0; i < d->count; i++)
      if (!accepts(t->items[2], d->entries[i].value, depth + 1)) return false;
    return true;
  }
  }
  return true;
}

/* Check [v] against the shape [t]; [path] names it (`u`, `u.inner`). */
static bool check_shape(Vm *vm, const char *path, ObjList *t, Value v, int depth)
{
  ObjDict *d = fields_of(v);
  if (!d) return err_type(vm, "parameter '%s': expected dict or struct, got %s", path, val_type_name(v));
  int n = (int)AS_INT(t->items[2]);
  /* required fields, in declaration order */
  for (int i = 0; i < n; i++) {
    Value *f = &t->items[3 + 4 * i];
    if (!AS_BOOL(f[1]) && !dict_get_cstr(d, AS_CSTR(f[0]), NULL))
      return err_type(vm, "parameter '%s': missing field '%s' (%s)", path, AS_CSTR(f[0]),
                      AS_CSTR(f[3]));
  }
  /* field types, in field name order */
  for (int k = 0; k < n; k++) {
    int i = (int)AS_INT(t->items[3 + 4 * n + k]);
    Value *f = &t->items[3 + 4 * i];
    Value fv;
    if (IS_NIL(f[2]) || !dict_get_cstr(d, AS_CSTR(f[0]), &fv)) continue;
    if (AS_BOOL(f[1]) && IS_NIL(fv)) continue;
    ObjList *ft = AS_LIST(f[2]);
    if (kind_of(ft) == TC_SHAPE && depth < TC_MAX_DEPTH) {
      if (!fields_of(fv))
        return err_type(vm, "parameter '%s': field '%s' expected dict or struct, got %s", path,
                        AS_CSTR(f[0]), val_type_name(fv));
      Buf sub = {0};
      buf_printf(&sub, "%s.%s", path, AS_CSTR(f[0]));
      bool ok = check_shape(vm, sub.data, ft, fv, depth + 1);
      buf_free(&sub);
      if (!ok) return false;
      continue;
    }
    if (!accepts(f[2], fv, depth + 1))
      return err_type(vm, "parameter '%s': field '%s' expected %s, got %s", path, AS_CSTR(f[0]),
                      AS_CSTR(f[3]), val_type_name(fv));
  }
  return true;
}

/* The failing item of a list / dict value [v] of the container type [t]
 * (accepts(t, v) is false and v has the right kind):
 * `parameter 'xs': element 1 expected int, got string (a)` or
 * `parameter 'd': key 'b' expected int, got bool (true)` (docs/LANGUAGE.md 8.5). */
static bool check_items(Vm *vm, const char *name, ObjList *t, Value v)
{
  Value bad = NIL_VAL;
  Buf where = {0};
  if (IS_LIST(v)) {
    ObjList *l = AS_LIST(v);
    for (uint32_t i = 0; i < l->count; i++)
      if (!accepts(t->items[2], l->items[i], 1)) {
        bad = l->items[i];
        buf_printf(&where, "element %u", i);
        break;
      }
  } else {
    ObjDict *d = fields_of(v); /* entries are sorted by key: the first failing key */
    const char *best = NULL;
    for (uint32_t i = 0; i < d->count && !best; i++)
      if (!accepts(t->items[2], d->entries[i].value, 1)) {
        best = d->entries[i].key->chars;
        bad = d->entries[i].value;
      }
    buf_printf(&where, "key '%s'", best ? best : "");
  }
  Buf b = {0};
  val_display(vm, bad, &b);
  err_runtime(vm, "TypeError: parameter '%s': %s expected %s, got %s (%s)", name, where.data,
              AS_CSTR(t->items[3]), val_type_name(bad), b.data ? b.data : "");
  buf_free(&b);
  buf_free(&where);
  return false;
}

static bool check_param(Vm *vm, const char *name, Value type, Value v)
{
  ObjList *t = AS_LIST(type);
  if (kind_of(t) == TC_SHAPE) return check_shape(vm, name, t, v, 0);
  if (accepts(type, v, 0)) return true;
  if ((kind_of(t) == TC_LIST && IS_LIST(v)) || (kind_of(t) == TC_DICT && fields_of(v)))
    return check_items(vm, name, t, v);
  Buf b = {0};
  val_display(vm, v, &b);
  err_runtime(vm, "TypeError: parameter '%s' expected %s, got %s (%s)", name, text(t),
              val_type_name(v), b.data ? b.data : "");
  buf_free(&b);
  return false;
}

bool tc_check_params(Vm *vm, const ObjFunction *fn, const Value *args, int argc)
{
  for (int i = 0; i < fn->nparams; i++) {
    Value t = fn->param_types[i];
    if (IS_NIL(t)) continue;
    if (i >= argc && i >= fn->nrequired) continue; /* its default applies */
    if (!check_param(vm, fn->param_names[i]->chars, t, args[i])) return false;
  }
  return true;
}

/* ---- schema_of (docs/LANGUAGE.md 12.6) ------------------------------------------------ */

/* A schema dict in the form json_validate / schema_is understand
 * (builtins.c validate): the type_of name in `type` (a list of names for
 * a union of plain types), `items` for list element types, `required` +
 * `properties` for shapes (`type: "object"`, optional fields nullable),
 * `enum` for literal types (and unions of them), `nullable` for `T | nil`.
 * A type it cannot express (any, fn, generics, other user names, unions
 * of shapes) gives {} which accepts everything, so a schema never rejects
 * a value the type would accept. */
static Value schema(Ctx *x, const TypeExpr *t, int depth);

static ObjDict *schema_dict(Vm *vm, const char *type)
{
  ObjDict *d = dict_new(vm, 2);
  if (type) dict_set_cstr(vm, d, "type", OBJ_VAL(str_cstr(vm, type)));
  return d;
}

static bool literal_value(const Node *n, Vm *vm, Value *out)
{
  if (!n || n->kind == N_NIL) *out = NIL_VAL;
  else if (n->kind == N_STRING) *out = OBJ_VAL(str_cstr(vm, n->as.str.s ? n->as.str.s : ""));
  else if (n->kind == N_INT) *out = INT_VAL(n->as.i);
  else if (n->kind == N_FLOAT) *out = FLOAT_VAL(n->as.f);
  else if (n->kind == N_BOOL) *out = BOOL_VAL(n->as.b);
  else return false;
  return true;
}

static Value schema_union(Ctx *x, const TypeExpr *t, int depth)
{
  Vm *vm = x->vm;
  ObjList *names = list_new(vm, (uint32_t)t->nargs), *lits = list_new(vm, (uint32_t)t->nargs);
  Value other = NIL_VAL; /* the one complex member, if any */
  bool has_nil = false, complex = false;
  for (int i = 0; i < t->nargs; i++) {
    ObjDict *m = AS_DICT(schema(x, t->args[i], depth + 1));
    Value tv, ev;
    if (m->count == 0) return OBJ_VAL(schema_dict(vm, NULL)); /* any member: anything goes */
    if (m->count == 1 && dict_get_cstr(m, "type", &tv) && IS_STRING(tv)) {
      if (strcmp(AS_CSTR(tv), "nil") == 0) has_nil = true;
      list_push(vm, names, tv);
    } else if (m->count == 1 && dict_get_cstr(m, "enum", &ev) && IS_LIST(ev)) {
      for (uint32_t k = 0; k < AS_LIST(ev)->count; k++) list_push(vm, lits, AS_LIST(ev)->items[k]);
    } else {
      if (complex) return OBJ_VAL(schema_dict(vm, NULL));
      complex = true;
      other = OBJ_VAL(m);
    }
  }
  if (complex) { /* T | nil only */
    if (names->count != 1 || !has_nil || lits->count) return OBJ_VAL(schema_dict(vm, NULL));
    ObjDict *d = dict_copy(vm, AS_DICT(other));
    dict_set_cstr(vm, d, "nullable", BOOL_VAL(true));
    return OBJ_VAL(d);
  }
  if (lits->count && names->count) return OBJ_VAL(schema_dict(vm, NULL));
  if (has_nil && names->count == 2) { /* T | nil of a plain T */
    Value tn = names->items[0];
    if (strcmp(AS_CSTR(tn), "nil") == 0) tn = names->items[1];
    ObjDict *d = schema_dict(vm, NULL);
    dict_set_cstr(vm, d, "type", tn);
    dict_set_cstr(vm, d, "nullable", BOOL_VAL(true));
    return OBJ_VAL(d);
  }
  ObjDict *d = dict_new(vm, 1);
  if (lits->count) dict_set_cstr(vm, d, "enum", OBJ_VAL(lits));
  else dict_set_cstr(vm, d, "type", OBJ_VAL(names));
  return OBJ_VAL(d);
}

static Value schema(Ctx *x, const TypeExpr *t, int depth)
{
  Vm *vm = x->vm;
  if (!t || depth > TC_MAX_DEPTH) return OBJ_VAL(schema_dict(vm, NULL));
  switch (t->kind) {
  case TY_NAME: {
    const char *name = t->name ? t->name : "any";
    if (strcmp(name, "any") == 0) return OBJ_VAL(schema_dict(vm, NULL));
    if (!is_checkable(name) && strcmp(name, "number") != 0) {
      const TypeExpr *a = alias_enter(x, name);
      if (!a) return OBJ_VAL(schema_dict(vm, NULL));
      Value sc = schema(x, a, depth + 1);
      alias_leave(x);
      return sc;
    }
    ObjDict *d = schema_dict(vm, name);
    if (strcmp(name, "list") == 0 && t->nargs == 1)
      dict_set_cstr(vm, d, "items", schema(x, t->args[0], depth + 1));
    else if (strcmp(name, "dict") == 0 && t->nargs == 2)
      dict_set_cstr(vm, d, "additional_properties", schema(x, t->args[1], depth + 1));
    return OBJ_VAL(d);
  }
  case TY_LIST: {
    ObjDict *d = schema_dict(vm, "list");
    if (t->nargs) dict_set_cstr(vm, d, "items", schema(x, t->args[0], depth + 1));
    return OBJ_VAL(d);
  }
  case TY_SHAPE: {
    ObjDict *d = schema_dict(vm, "object");
    ObjList *req = list_new(vm, (uint32_t)t->nfields);
    ObjDict *props = dict_new(vm, (uint32_t)t->nfields);
    dict_set_cstr(vm, d, "required", OBJ_VAL(req));
    dict_set_cstr(vm, d, "properties", OBJ_VAL(props));
    for (int i = 0; i < t->nfields; i++) {
      const ShapeField *f = &t->fields[i];
      Value fs = schema(x, f->type, depth + 1);
      if (f->optional) {
        ObjDict *o = dict_copy(vm, AS_DICT(fs));
        dict_set_cstr(vm, o, "nullable", BOOL_VAL(true));
        fs = OBJ_VAL(o);
      } else {
        list_push(vm, req, OBJ_VAL(str_cstr(vm, f->name ? f->name : "")));
      }
      dict_set_cstr(vm, props, f->name ? f->name : "", fs);
    }
    return OBJ_VAL(d);
  }
  case TY_UNION: return t->nargs ? schema_union(x, t, depth) : OBJ_VAL(schema_dict(vm, NULL));
  case TY_LITERAL: {
    Value v;
    if (!literal_value(t->literal, vm, &v)) return OBJ_VAL(schema_dict(vm, NULL));
    if (IS_NIL(v)) return OBJ_VAL(schema_dict(vm, "nil")); /* `T | nil` */
    ObjDict *d = dict_new(vm, 1);
    ObjList *l = list_new(vm, 1);
    list_push(vm, l, v);
    dict_set_cstr(vm, d, "enum", OBJ_VAL(l));
    return OBJ_VAL(d);
  }
  case TY_FN:
  case TY_OTHER: break;
  }
  return OBJ_VAL(schema_dict(vm, NULL));
}

Value tc_schema_of(Vm *vm, const TypeExpr *t, TcAliasFn alias, void *ud)
{
  Ctx x = {.vm = vm, .alias = alias, .ud = ud};
  /* [t] may be an alias's own type (schema_of(Alias)): a reference to
   * that alias inside it is then already recursive */
  x.expanding[x.nexpanding++] = t;
  return schema(&x, t, 0);
}
