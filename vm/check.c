/*
 * check.c: the static checker (check.h), two walks over the syntax tree.
 *
 * Walk 1 (collect) records every name the file binds anywhere (functions at
 * any depth, struct and enum names, let/var/for/catch/match bindings,
 * parameters, selective imports, the names of the std modules imported
 * whole), the enums, structs, aliases, interfaces and impl methods
 * (ChkEnv) and the top-level functions (return types, generic parameters,
 * whether they yield). A name bound anywhere counts as defined for a
 * call, whatever its scope: forward references, names defined later and
 * closures held in variables are never reported. An import of a whole
 * file module makes every call target possibly defined (the check is off).
 *
 * Walk 2 (check) keeps a scope stack of (name, inferred type): every
 * binder pushes its names (unknown unless a `let` whose value's type is
 * known, a declared `let`/`var` type or a typed parameter), and blocks,
 * functions, lambdas, arms and loops pop what they pushed, so a lookup
 * never sees a binding that is not the one the program reads. Inference
 * (infer) is conservative: literals, struct literals, enum variants,
 * arithmetic on known numbers, calls of top-level functions with a
 * declared return type; everything else is unknown (check_types.h).
 *
 * Invariants: the tree is read only; all memory is the checker's own
 * arena and name table, freed before chk_program returns; recursion
 * follows the tree, whose depth the parser bounds.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "check_types.h"
#include "diag.h"
#include "error.h"
#include "import.h"
#include "parser.h"

/* ---- a set of names (open addressing, strings owned by the trees) ------ */

typedef struct NameSlot {
  const char *name;
  const void *val; /* per-table payload */
  int count;       /* how many times it was added */
} NameSlot;

typedef struct NameTab {
  NameSlot *slots;
  size_t cap, n;
} NameTab;

static uint64_t hash_name(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static NameSlot *tab_find(const NameTab *t, const char *name)
{
  if (!t->cap || !name) return NULL;
  for (size_t i = hash_name(name) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    if (!t->slots[i].name) return NULL;
    if (strcmp(t->slots[i].name, name) == 0) return &t->slots[i];
  }
}

static void tab_add(NameTab *t, const char *name, const void *val)
{
  if (!name) return;
  NameSlot *s = tab_find(t, name);
  if (s) {
    s->count++;
    return;
  }
  if ((t->n + 1) * 2 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    NameSlot *ns = calloc(cap, sizeof(NameSlot));
    if (!ns) abort();
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->slots[i].name) continue;
      size_t j = hash_name(t->slots[i].name) & (cap - 1);
      while (ns[j].name) j = (j + 1) & (cap - 1);
      ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = cap;
  }
  size_t j = hash_name(name) & (t->cap - 1);
  while (t->slots[j].name) j = (j + 1) & (t->cap - 1);
  t->slots[j].name = name;
  t->slots[j].val = val;
  t->slots[j].count = 1;
  t->n++;
}

/* The payload of [name] when it was added exactly once, else NULL. */
static const void *tab_unique(const NameTab *t, const char *name)
{
  const NameSlot *s = tab_find(t, name);
  return s && s->count == 1 ? s->val : NULL;
}

/* ---- the checker's state ---------------------------------------------------- */

struct ChkEnv {
  NameTab ifaces;  /* name -> N_INTERFACE */
  NameTab methods; /* "Type.method" of every impl of the file */
  NameTab aliases; /* name -> TypeExpr (N_TYPE_ALIAS) */
  NameTab structs; /* name -> N_STRUCT_DECL */
  NameTab enums;   /* name -> N_ENUM_DECL */
};

typedef struct ScopeVar {
  const char *name;
  CType *type;
  int prev; /* index of the binding of the same name it shadows, or -1 */
  const TypeExpr *decl;  /* the declared type (immutable let, parameter), or NULL */
  const TypeExpr *wdecl; /* the declared type of a `var`: what writes must respect */
} ScopeVar;

typedef struct Chk {
  Arena arena;       /* CTypes, parsed std modules */
  ChkEnv env;
  NameTab defined;   /* every name bound anywhere (walk 1) */
  NameTab top_fns;   /* top-level fn name -> N_FN_DECL */
  bool open_imports; /* a whole file module is imported: any call may resolve */
  int std_depth;     /* nesting of std modules being collected */
  ScopeVar *vars;     /* the scope stack */
  int nvars, capvars;
  NameTab innermost;  /* name -> 1 + index of its innermost binding (0: none) */
  NameTab gen_fns;    /* top-level fns whose body yields (they return generators) */
  const TypeExpr *ret; /* declared return type of the enclosing fn, or NULL */
  bool in_gen;         /* inside a `gen fn` (not a nested lambda/fn) */
  bool found;          /* scratch flag of scan_yield */
  int depth;           /* functions, lambdas and pipelines entered */
  const char *narrow;  /* the name narrows() looks for */
  const char *path, *src;
  Buf *out;
  char *first;
  size_t firstcap;
  int nreports;
} Chk;

const TypeExpr *chk_env_alias(const ChkEnv *env, const char *name)
{
  return tab_unique(&env->aliases, name);
}

bool chk_env_is_struct(const ChkEnv *env, const char *name)
{
  return tab_unique(&env->structs, name) && !tab_find(&env->enums, name) &&
         !tab_find(&env->aliases, name);
}

bool chk_env_is_enum(const ChkEnv *env, const char *name)
{
  return tab_unique(&env->enums, name) && !tab_find(&env->structs, name) &&
         !tab_find(&env->aliases, name);
}

/* ---- reports ------------------------------------------------------------------ */

static const char *source_of(void *ud, const char *file)
{
  (void)file;
  return ((Chk *)ud)->src;
}

/* Render one problem at [line]:[col] with an optional help line. */
static void report(Chk *c, int line, int col, const char *msg, const char *help)
{
  if (c->nreports++ == 0 && c->first && c->firstcap) {
    size_t n = strlen(msg);
    if (n >= c->firstcap) n = c->firstcap - 1;
    memcpy(c->first, msg, n);
    c->first[n] = 0;
  }
  if (c->nreports > CHK_MAX_REPORTS) return;
  TraceEntry te = {NULL, line, col, c->path};
  diag_render(c->out, msg, &te, 1, c->path, source_of, c);
  if (help) buf_printf(c->out, "  = help: %s\n", help);
}

/* ---- generic traversal ----------------------------------------------------------- */

typedef void (*VisitFn)(Chk *c, const Node *n);

static void visit_list(Chk *c, const NodeList *l, VisitFn f)
{
  for (int i = 0; i < l->count; i++) f(c, l->items[i]);
}

static void visit_opt(Chk *c, const Node *n, VisitFn f)
{
  if (n) f(c, n);
}

static void visit_params(Chk *c, const ParamList *pl, VisitFn f)
{
  for (int i = 0; i < pl->count; i++) visit_opt(c, pl->items[i].default_, f);
}

static void visit_binding(Chk *c, const Binding *b, VisitFn f)
{
  if (!b) return;
  for (int i = 0; i < b->nfields; i++) {
    visit_binding(c, b->fields[i].target, f);
    visit_opt(c, b->fields[i].default_, f);
  }
}

static void visit_pattern(Chk *c, const Pattern *p, VisitFn f)
{
  if (!p) return;
  visit_opt(c, p->value, f);
  for (int i = 0; i < p->nitems; i++) visit_pattern(c, p->items[i], f);
}

static void visit_entries(Chk *c, const DictEntryNode *e, int n, VisitFn f)
{
  for (int i = 0; i < n; i++) {
    visit_opt(c, e[i].key, f);
    visit_opt(c, e[i].value, f);
  }
}

/* Call [f] on every direct child node of [n] (expressions, statements,
 * defaults, pattern values, attribute arguments). */
static void visit_children(Chk *c, const Node *n, VisitFn f)
{
  switch (n->kind) {
  case N_INTERP: case N_LIST: case N_BLOCK: case N_PROGRAM: visit_list(c, &n->as.list, f); break;
  case N_DICT: visit_entries(c, n->as.dict.entries, n->as.dict.count, f); break;
  case N_LAMBDA:
    visit_params(c, &n->as.lambda.params, f);
    visit_opt(c, n->as.lambda.body, f);
    break;
  case N_UNARY: visit_opt(c, n->as.unary.operand, f); break;
  case N_BINARY:
    visit_opt(c, n->as.binary.left, f);
    visit_opt(c, n->as.binary.right, f);
    break;
  case N_TERNARY: case N_IF:
    visit_opt(c, n->as.ternary.cond, f);
    visit_opt(c, n->as.ternary.then, f);
    visit_opt(c, n->as.ternary.else_, f);
    break;
  case N_RANGE:
    visit_opt(c, n->as.range.start, f);
    visit_opt(c, n->as.range.end, f);
    break;
  case N_PIPE:
    visit_opt(c, n->as.pipe.left, f);
    visit_opt(c, n->as.pipe.right, f);
    break;
  case N_CALL: visit_list(c, &n->as.call.args, f); break;
  case N_METHOD:
    visit_opt(c, n->as.method.recv, f);
    visit_list(c, &n->as.method.args, f);
    break;
  case N_PROPERTY: visit_opt(c, n->as.prop.recv, f); break;
  case N_INDEX:
    visit_opt(c, n->as.index.recv, f);
    visit_opt(c, n->as.index.index, f);
    break;
  case N_SLICE:
    visit_opt(c, n->as.slice.recv, f);
    visit_opt(c, n->as.slice.start, f);
    visit_opt(c, n->as.slice.end, f);
    break;
  case N_TRY_OP: case N_SPREAD: case N_TRY_STAR: case N_YIELD: case N_EMIT: case N_THROW:
  case N_RETURN: case N_EXPR_STMT: case N_DEFER: case N_SPAWN:
    visit_opt(c, n->as.unop.expr, f);
    break;
  case N_STRUCT_LIT: visit_entries(c, n->as.struct_lit.fields, n->as.struct_lit.count, f); break;
  case N_MATCH:
    visit_opt(c, n->as.match.subject, f);
    for (int i = 0; i < n->as.match.count; i++) {
      visit_pattern(c, n->as.match.arms[i].pattern, f);
      visit_opt(c, n->as.match.arms[i].guard, f);
      visit_opt(c, n->as.match.arms[i].body, f);
    }
    break;
  case N_TRY:
    visit_opt(c, n->as.try_.body, f);
    visit_opt(c, n->as.try_.catch_body, f);
    visit_opt(c, n->as.try_.finally_body, f);
    break;
  case N_PARALLEL:
    visit_opt(c, n->as.parallel.arg, f);
    visit_opt(c, n->as.parallel.options, f);
    visit_opt(c, n->as.parallel.body, f);
    break;
  case N_DEADLINE: case N_RETRY: case N_MUTEX: case N_WHILE:
    visit_opt(c, n->as.deadline.arg, f);
    visit_opt(c, n->as.deadline.body, f);
    break;
  case N_SELECT:
    for (int i = 0; i < n->as.select.count; i++) {
      visit_opt(c, n->as.select.cases[i].channel, f);
      visit_opt(c, n->as.select.cases[i].body, f);
    }
    visit_opt(c, n->as.select.timeout, f);
    visit_opt(c, n->as.select.timeout_body, f);
    visit_opt(c, n->as.select.default_body, f);
    break;
  case N_LET:
    visit_binding(c, n->as.let.target, f);
    visit_opt(c, n->as.let.value, f);
    break;
  case N_ASSIGN:
    visit_opt(c, n->as.assign.target, f);
    visit_opt(c, n->as.assign.value, f);
    break;
  case N_FOR:
    visit_binding(c, n->as.for_.var, f);
    visit_opt(c, n->as.for_.iter, f);
    visit_opt(c, n->as.for_.body, f);
    break;
  case N_GUARD: case N_REQUIRE:
    visit_opt(c, n->as.guard.cond, f);
    visit_opt(c, n->as.guard.msg, f);
    visit_opt(c, n->as.guard.body, f);
    break;
  case N_FN_DECL:
    for (int i = 0; i < n->as.fn.nattrs; i++)
      visit_entries(c, n->as.fn.attrs[i].args, n->as.fn.attrs[i].nargs, f);
    visit_params(c, &n->as.fn.params, f);
    visit_opt(c, n->as.fn.body, f);
    break;
  case N_STRUCT_DECL: visit_params(c, &n->as.struct_decl.fields, f); break;
  case N_IMPL: visit_list(c, &n->as.impl.methods, f); break;
  case N_PIPELINE:
    visit_params(c, &n->as.pipeline.params, f);
    visit_opt(c, n->as.pipeline.body, f);
    break;
  default: break; /* literals, names, break/continue, enum/alias/interface/import */
  }
}

/* ---- walk 1: the names of the file ------------------------------------------------- */

static void collect_binding(Chk *c, const Binding *b)
{
  if (!b) return;
  tab_add(&c->defined, b->name, NULL);
  tab_add(&c->defined, b->rest, NULL);
  for (int i = 0; i < b->nfields; i++) collect_binding(c, b->fields[i].target);
}

static void collect_pattern(Chk *c, const Pattern *p)
{
  if (!p) return;
  if (p->kind == PAT_BIND) tab_add(&c->defined, p->name, NULL);
  for (int i = 0; i < p->nitems; i++) collect_pattern(c, p->items[i]);
}

static void collect_params(Chk *c, const ParamList *pl)
{
  for (int i = 0; i < pl->count; i++) tab_add(&c->defined, pl->items[i].name, NULL);
}

static void collect(Chk *c, const Node *n);

/* `import "std/x"` as a whole: the names the module binds (a superset of
 * what it exports) become defined. A file module, an unknown or unparsable
 * module, or std modules nested too deep switch the call check off. */
static void collect_import(Chk *c, const Node *n)
{
  const char *path = n->as.import.path;
  if (n->as.import.names) {
    for (int i = 0; i < n->as.import.nnames; i++) tab_add(&c->defined, n->as.import.names[i], NULL);
    return;
  }
  if (strncmp(path, "std/", 4) != 0 || c->std_depth >= 4) {
    c->open_imports = true;
    return;
  }
  char name[128];
  size_t len = strlen(path + 4);
  if (len >= sizeof name) {
    c->open_imports = true;
    return;
  }
  memcpy(name, path + 4, len + 1);
  if (len > 5 && strcmp(name + len - 5, ".harn") == 0) name[len - 5] = 0;
  size_t srclen = 0;
  const char *src = imp_std_source(name, &srclen);
  if (!src) {
    c->open_imports = true;
    return;
  }
  ParseError perr;
  memset(&perr, 0, sizeof perr);
  Node *prog = parse_program(&c->arena, src, srclen, &perr);
  if (!prog) {
    c->open_imports = true;
    return;
  }
  /* only its names: its types and functions are not the entry file's */
  Chk sub;
  memset(&sub, 0, sizeof sub);
  sub.std_depth = c->std_depth + 1;
  collect(&sub, prog);
  for (size_t i = 0; i < sub.defined.cap; i++)
    if (sub.defined.slots[i].name) tab_add(&c->defined, sub.defined.slots[i].name, NULL);
  if (sub.open_imports) c->open_imports = true;
  arena_free(&sub.arena);
  free(sub.defined.slots);
  free(sub.top_fns.slots);
  free(sub.env.aliases.slots);
  free(sub.env.structs.slots);
  free(sub.env.enums.slots);
  free(sub.env.ifaces.slots);
  free(sub.env.methods.slots);
}

static void collect(Chk *c, const Node *n)
{
  switch (n->kind) {
  case N_PROGRAM:
    for (int i = 0; i < n->as.list.count; i++) {
      const Node *it = n->as.list.items[i];
      if (it->kind == N_FN_DECL) tab_add(&c->top_fns, it->as.fn.name, it);
    }
    break;
  case N_LAMBDA: collect_params(c, &n->as.lambda.params); break;
  case N_MATCH:
    for (int i = 0; i < n->as.match.count; i++) collect_pattern(c, n->as.match.arms[i].pattern);
    break;
  case N_TRY: tab_add(&c->defined, n->as.try_.catch_var, NULL); break;
  case N_PARALLEL: tab_add(&c->defined, n->as.parallel.var, NULL); break;
  case N_SELECT:
    for (int i = 0; i < n->as.select.count; i++) tab_add(&c->defined, n->as.select.cases[i].var, NULL);
    break;
  case N_LET: collect_binding(c, n->as.let.target); break;
  case N_FOR: collect_binding(c, n->as.for_.var); break;
  case N_FN_DECL:
    tab_add(&c->defined, n->as.fn.name, NULL);
    collect_params(c, &n->as.fn.params);
    break;
  case N_STRUCT_DECL:
    tab_add(&c->defined, n->as.struct_decl.name, NULL);
    tab_add(&c->env.structs, n->as.struct_decl.name, n);
    break;
  case N_ENUM_DECL:
    tab_add(&c->defined, n->as.enum_decl.name, NULL);
    tab_add(&c->env.enums, n->as.enum_decl.name, n);
    break;
  case N_INTERFACE:
    tab_add(&c->defined, n->as.iface.name, NULL);
    tab_add(&c->env.ifaces, n->as.iface.name, n);
    break;
  case N_IMPL:
    for (int i = 0; i < n->as.impl.methods.count; i++) {
      const Node *m = n->as.impl.methods.items[i];
      size_t a = strlen(n->as.impl.type_name), b = strlen(m->as.fn.name);
      char *key = arena_alloc(&c->arena, a + b + 2);
      memcpy(key, n->as.impl.type_name, a);
      key[a] = '.';
      memcpy(key + a + 1, m->as.fn.name, b + 1);
      tab_add(&c->env.methods, key, NULL);
    }
    break;
  case N_TYPE_ALIAS:
    tab_add(&c->defined, n->as.type_alias.name, NULL);
    tab_add(&c->env.aliases, n->as.type_alias.name, n->as.type_alias.type);
    break;
  case N_PIPELINE:
    tab_add(&c->defined, n->as.pipeline.name, NULL);
    collect_params(c, &n->as.pipeline.params);
    break;
  case N_IMPORT: collect_import(c, n); break;
  default: break;
  }
  visit_children(c, n, collect);
}

/* ---- scopes ----------------------------------------------------------------------- */

static void push_var(Chk *c, const char *name, CType *t)
{
  if (!name) return;
  if (c->nvars == c->capvars) {
    c->capvars = c->capvars ? c->capvars * 2 : 64;
    c->vars = realloc(c->vars, (size_t)c->capvars * sizeof(ScopeVar));
    if (!c->vars) abort();
  }
  NameSlot *s = tab_find(&c->innermost, name);
  if (!s) {
    tab_add(&c->innermost, name, NULL);
    s = tab_find(&c->innermost, name);
  }
  ScopeVar *v = &c->vars[c->nvars];
  v->name = name;
  v->type = t ? t : ct_scalar(CT_UNKNOWN);
  v->prev = (int)(intptr_t)s->val - 1;
  v->decl = v->wdecl = NULL;
  s->val = (const void *)(intptr_t)(c->nvars + 1);
  c->nvars++;
}

/* Drop the bindings pushed since the stack held [saved] of them. */
static void pop_to(Chk *c, int saved)
{
  while (c->nvars > saved) {
    c->nvars--;
    NameSlot *s = tab_find(&c->innermost, c->vars[c->nvars].name);
    s->val = (const void *)(intptr_t)(c->vars[c->nvars].prev + 1);
  }
}

/* The innermost binding of [name], or NULL when the scope has none. */
static ScopeVar *lookup(Chk *c, const char *name)
{
  const NameSlot *s = tab_find(&c->innermost, name);
  int i = s ? (int)(intptr_t)s->val - 1 : -1;
  return i >= 0 ? &c->vars[i] : NULL;
}

static void push_binding(Chk *c, const Binding *b)
{
  if (!b) return;
  push_var(c, b->name, NULL);
  push_var(c, b->rest, NULL);
  for (int i = 0; i < b->nfields; i++) push_binding(c, b->fields[i].target);
}

static void push_pattern(Chk *c, const Pattern *p)
{
  if (!p) return;
  if (p->kind == PAT_BIND) push_var(c, p->name, NULL);
  for (int i = 0; i < p->nitems; i++) push_pattern(c, p->items[i]);
}

static void push_params(Chk *c, const ParamList *pl)
{
  for (int i = 0; i < pl->count; i++) {
    const Param *p = &pl->items[i];
    push_var(c, p->name, p->type && !p->rest && !p->default_ ? ct_from_decl(&c->env, &c->arena, p->type) : NULL);
  }
}

/* Sets c->found when [n] contains a `yield` of its own function (not of a
 * nested lambda or fn): such a fn returns a generator. */
static void scan_yield(Chk *c, const Node *n)
{
  if (!n || c->found || n->kind == N_LAMBDA || n->kind == N_FN_DECL) return;
  if (n->kind == N_YIELD) {
    c->found = true;
    return;
  }
  visit_children(c, n, scan_yield);
}

/* ---- inference --------------------------------------------------------------------- */

static CType *infer(Chk *c, const Node *n);

/* The enum of the file named by the identifier [n] (not shadowed), or NULL. */
static const Node *enum_named(Chk *c, const Node *n)
{
  if (!n || n->kind != N_IDENT || lookup(c, n->as.str.s)) return NULL;
  if (!chk_env_is_enum(&c->env, n->as.str.s)) return NULL;
  return tab_unique(&c->env.enums, n->as.str.s);
}

static bool has_variant(const Node *e, const char *name)
{
  for (int i = 0; i < e->as.enum_decl.count; i++)
    if (strcmp(e->as.enum_decl.variants[i].name, name) == 0) return true;
  return false;
}

static CType *named_type(Chk *c, CTKind k, const char *name)
{
  CType *t = ct_new(&c->arena, k);
  t->name = name;
  return t;
}

static CType *infer_list(Chk *c, const Node *n)
{
  CType *t = ct_new(&c->arena, CT_LIST);
  CType *elem = NULL;
  for (int i = 0; i < n->as.list.count; i++) {
    const Node *it = n->as.list.items[i];
    CType *e = it->kind == N_SPREAD ? ct_scalar(CT_UNKNOWN) : infer(c, it);
    if (e->kind == CT_UNKNOWN || (elem && !ct_equal(elem, e))) return t; /* elem unknown */
    elem = e;
  }
  t->elem = elem;
  return t;
}

static CType *infer_dict(Chk *c, const Node *n)
{
  int cnt = n->as.dict.count;
  for (int i = 0; i < cnt; i++) {
    const Node *k = n->as.dict.entries[i].key;
    if (!k || k->kind != N_STRING) return ct_new(&c->arena, CT_DICT);
  }
  CType *t = ct_new(&c->arena, CT_SHAPE);
  t->fields = arena_alloc(&c->arena, sizeof(CField) * (size_t)(cnt ? cnt : 1));
  for (int i = 0; i < cnt; i++) {
    const char *key = n->as.dict.entries[i].key->as.str.s;
    CType *v = infer(c, n->as.dict.entries[i].value);
    int j = 0;
    while (j < t->nfields && strcmp(t->fields[j].name, key) != 0) j++;
    t->fields[j].name = key; /* a repeated key: the last value wins */
    t->fields[j].type = v;
    if (j == t->nfields) t->nfields++;
  }
  return t;
}

static bool is_num(const CType *t) { return t->kind == CT_INT || t->kind == CT_FLOAT; }

static CType *infer_binary(Chk *c, const Node *n)
{
  BinOp op = n->as.binary.op;
  switch (op) {
  case OP_EQ_: case OP_NE_: case OP_LT_: case OP_GT_: case OP_LE_: case OP_GE_:
  case OP_IN_: case OP_NOT_IN_:
    return ct_scalar(CT_BOOL);
  default: break;
  }
  CType *l = infer(c, n->as.binary.left), *r = infer(c, n->as.binary.right);
  switch (op) {
  case OP_AND_: case OP_OR_:
    return l->kind == CT_BOOL && r->kind == CT_BOOL ? ct_scalar(CT_BOOL) : ct_scalar(CT_UNKNOWN);
  case OP_ADD_:
    if (l->kind == CT_STRING && r->kind == CT_STRING) return ct_scalar(CT_STRING);
    /* fall through */
  case OP_SUB_: case OP_MUL_: case OP_MOD_:
    if (l->kind == CT_INT && r->kind == CT_INT) return ct_scalar(CT_INT);
    if (is_num(l) && is_num(r)) return ct_scalar(CT_FLOAT);
    return ct_scalar(CT_UNKNOWN);
  case OP_DIV_:
    return l->kind == CT_FLOAT && r->kind == CT_FLOAT ? ct_scalar(CT_FLOAT) : ct_scalar(CT_UNKNOWN);
  default: return ct_scalar(CT_UNKNOWN);
  }
}

static bool iter_method(const char *m)
{
  static const char *const lazy[] = {"chain", "chunks", "enumerate", "filter", "flat_map", "map",
                                     "skip", "skip_while", "take", "take_while", "windows", "zip"};
  for (size_t i = 0; i < sizeof lazy / sizeof lazy[0]; i++)
    if (strcmp(m, lazy[i]) == 0) return true;
  return false;
}

static CType *infer_call(Chk *c, const Node *n)
{
  const char *name = n->as.call.name;
  if (lookup(c, name)) return ct_scalar(CT_UNKNOWN);
  const Node *fn = tab_unique(&c->top_fns, name);
  if (fn) {
    /* a fn whose body yields returns a generator, a `gen fn` a stream */
    const TypeExpr *r = fn->as.fn.ret;
    if (fn->as.fn.is_gen || tab_find(&c->gen_fns, name)) {
      CType *t = ct_new(&c->arena, fn->as.fn.is_gen ? CT_STREAM : CT_GEN);
      const char *want = fn->as.fn.is_gen ? "Stream" : "Generator";
      if (r && r->kind == TY_NAME && strcmp(r->name, want) == 0) t->decl = r;
      return t;
    }
    return r ? ct_from_decl(&c->env, &c->arena, r) : ct_scalar(CT_UNKNOWN);
  }
  if (!tab_find(&c->defined, name) && strcmp(name, "iter") == 0 && n->as.call.args.count == 1)
    return ct_scalar(CT_ITER);
  return ct_scalar(CT_UNKNOWN);
}

static CType *infer_method(Chk *c, const Node *n)
{
  const Node *e = enum_named(c, n->as.method.recv);
  if (e) return has_variant(e, n->as.method.name) ? named_type(c, CT_ENUM, e->as.enum_decl.name)
                                                  : ct_scalar(CT_UNKNOWN);
  if (n->as.method.optional) return ct_scalar(CT_UNKNOWN);
  CType *r = infer(c, n->as.method.recv);
  const char *m = n->as.method.name;
  if (strcmp(m, "iter") == 0 && n->as.method.args.count == 0 &&
      (r->kind == CT_LIST || r->kind == CT_ITER || r->kind == CT_STRING))
    return ct_scalar(CT_ITER);
  if (r->kind == CT_ITER && iter_method(m)) return ct_scalar(CT_ITER);
  return ct_scalar(CT_UNKNOWN);
}

static CType *infer(Chk *c, const Node *n)
{
  if (!n) return ct_scalar(CT_UNKNOWN);
  switch (n->kind) {
  case N_NIL: return ct_scalar(CT_NIL);
  case N_BOOL: return ct_scalar(CT_BOOL);
  case N_INT: return ct_scalar(CT_INT);
  case N_FLOAT: return ct_scalar(CT_FLOAT);
  case N_STRING: case N_INTERP: return ct_scalar(CT_STRING);
  case N_LIST: return infer_list(c, n);
  case N_DICT: return infer_dict(c, n);
  case N_LAMBDA: return ct_scalar(CT_FN);
  case N_IDENT: {
    ScopeVar *v = lookup(c, n->as.str.s);
    return v ? v->type : ct_scalar(CT_UNKNOWN);
  }
  case N_UNARY: {
    if (n->as.unary.op == '!') return ct_scalar(CT_BOOL);
    CType *t = infer(c, n->as.unary.operand);
    return is_num(t) ? t : ct_scalar(CT_UNKNOWN);
  }
  case N_BINARY: return infer_binary(c, n);
  case N_TERNARY: {
    CType *a = infer(c, n->as.ternary.then), *b = infer(c, n->as.ternary.else_);
    return ct_equal(a, b) ? a : ct_scalar(CT_UNKNOWN);
  }
  case N_STRUCT_LIT:
    return chk_env_is_struct(&c->env, n->as.struct_lit.name) && !lookup(c, n->as.struct_lit.name)
               ? named_type(c, CT_STRUCT, n->as.struct_lit.name)
               : ct_scalar(CT_UNKNOWN);
  case N_PROPERTY: {
    const Node *e = enum_named(c, n->as.prop.recv);
    return e && has_variant(e, n->as.prop.name) ? named_type(c, CT_ENUM, e->as.enum_decl.name)
                                                : ct_scalar(CT_UNKNOWN);
  }
  case N_METHOD: return infer_method(c, n);
  case N_CALL: return infer_call(c, n);
  default: return ct_scalar(CT_UNKNOWN);
  }
}

/* ---- walk 2: the checks ------------------------------------------------------------- */


static void check(Chk *c, const Node *n);

/* ---- narrowing of `unknown` ---------------------------------------------------- */

static void mentions(Chk *c, const Node *n)
{
  if (c->found) return;
  if (n->kind == N_IDENT && strcmp(n->as.str.s, c->narrow) == 0) {
    c->found = true;
    return;
  }
  visit_children(c, n, mentions);
}

/* Sets c->found when [n] may narrow the name c->narrow: the name appears in a
 * condition (if, ternary, while, guard, require), a match subject or an
 * operand of && || ??. Anything else that tests it is out of reach, so the
 * value is then taken as unknown (never reported). */
static void narrows(Chk *c, const Node *n)
{
  if (c->found) return;
  switch (n->kind) {
  case N_IF: case N_TERNARY: mentions(c, n->as.ternary.cond); break;
  case N_WHILE: visit_opt(c, n->as.deadline.arg, mentions); break;
  case N_GUARD: case N_REQUIRE: mentions(c, n->as.guard.cond); break;
  case N_MATCH: mentions(c, n->as.match.subject); break;
  case N_BINARY:
    if (n->as.binary.op == OP_AND_ || n->as.binary.op == OP_OR_ || n->as.binary.op == OP_NULLISH_)
      mentions(c, n);
    break;
  default: break;
  }
  if (!c->found) visit_children(c, n, narrows);
}

/* The parameters of a fn: typed ones get their type; one declared
 * `unknown` that its body never narrows is CT_TOP. */
static void push_fn_params(Chk *c, const ParamList *pl, const Node *body)
{
  for (int i = 0; i < pl->count; i++) {
    const Param *p = &pl->items[i];
    CType *t = NULL;
    if (p->type && !p->rest && !p->default_) {
      t = ct_from_decl(&c->env, &c->arena, p->type);
      if (p->type->kind == TY_NAME && strcmp(p->type->name, "unknown") == 0 && p->type->nargs == 0 &&
          !chk_env_alias(&c->env, "unknown")) {
        c->found = false;
        c->narrow = p->name;
        if (body) narrows(c, body);
        if (!c->found) t = ct_scalar(CT_TOP);
      }
    }
    push_var(c, p->name, t);
    if (p->type && !p->rest && !p->default_) c->vars[c->nvars - 1].decl = p->type;
  }
}

static void mismatch(Chk *c, const Node *at, const char *fmt_head, const TypeExpr *d, const char *mid,
                     const CType *v)
{
  Buf b = {0};
  buf_puts(&b, fmt_head);
  ct_write_decl(&b, d);
  buf_puts(&b, mid);
  ct_write(&b, v);
  report(c, at->line, at->col, b.data, NULL);
  buf_free(&b);
}

/* ---- interfaces and generic parameters ------------------------------------------ */

/* When [v] is a struct of the file and [iface] an interface of the file
 * that needs a method the struct's impls lack, report it at [at]:
 * `Point does not satisfy interface 'Named' (missing method 'name')`.
 * Anything else (other values, unknown interfaces) says nothing. */
static void check_satisfies(Chk *c, const Node *at, const char *iface, const CType *v)
{
  if (!iface || !v || v->kind != CT_STRUCT) return;
  const Node *in = tab_unique(&c->env.ifaces, iface);
  if (!in || tab_find(&c->env.structs, iface) || tab_find(&c->env.aliases, iface)) return;
  for (int i = 0; i < in->as.iface.nmethods; i++) {
    Buf key = {0};
    buf_printf(&key, "%s.%s", v->name, in->as.iface.methods[i]);
    bool has = tab_find(&c->env.methods, key.data) != NULL;
    buf_free(&key);
    /* a field of that name (a closure) may serve as well */
    const Node *sd = tab_unique(&c->env.structs, v->name);
    for (int f = 0; sd && !has && f < sd->as.struct_decl.fields.count; f++)
      has = strcmp(sd->as.struct_decl.fields.items[f].name, in->as.iface.methods[i]) == 0;
    if (has) continue;
    Buf b = {0};
    buf_printf(&b, "%s does not satisfy interface '%s' (missing method '%s')", v->name, iface,
               in->as.iface.methods[i]);
    report(c, at->line, at->col, b.data, NULL);
    buf_free(&b);
    return;
  }
}

/* The interface named by the declared type [d], or NULL. */
static const char *iface_of(Chk *c, const TypeExpr *d)
{
  return d && d->kind == TY_NAME && d->nargs == 0 && tab_unique(&c->env.ifaces, d->name) ? d->name : NULL;
}

static const TypeParam *tparam_of(const Node *fn, const TypeExpr *d)
{
  if (!d || d->kind != TY_NAME || d->nargs) return NULL;
  for (int i = 0; i < fn->as.fn.ntparams; i++)
    if (strcmp(fn->as.fn.tparams[i].name, d->name) == 0) return &fn->as.fn.tparams[i];
  return NULL;
}

/* A call of the top-level fn [fn]: each argument passed for a parameter
 * typed with a generic parameter T binds T to the argument's type; two
 * different types for one T are reported, and so is an argument (or a
 * value for an interface-typed parameter) that does not satisfy T's
 * interface bound. */
static void check_call_types(Chk *c, const Node *call, const Node *fn)
{
  const NodeList *args = &call->as.call.args;
  const ParamList *pl = &fn->as.fn.params;
  const char *bound_name[16];
  CType *bound_type[16];
  int nb = 0;
  for (int i = 0; i < args->count && i < pl->count; i++) {
    const Param *p = &pl->items[i];
    const Node *a = args->items[i];
    if (p->rest || a->kind == N_SPREAD) return;
    CType *v = infer(c, a);
    const TypeParam *tp = tparam_of(fn, p->type);
    if (!tp) {
      check_satisfies(c, a, iface_of(c, p->type), v);
      continue;
    }
    check_satisfies(c, a, tp->bound, v);
    if (v->kind == CT_UNKNOWN || v->kind == CT_TOP) continue;
    int j = 0;
    while (j < nb && strcmp(bound_name[j], tp->name) != 0) j++;
    if (j == nb) {
      if (nb < 16) {
        bound_name[nb] = tp->name;
        bound_type[nb++] = v;
      }
      continue;
    }
    const CType *w = bound_type[j];
    bool same = ct_equal(w, v) || ((w->kind == CT_INT || w->kind == CT_FLOAT) &&
                                   (v->kind == CT_INT || v->kind == CT_FLOAT));
    /* two values of the same basic kind whose details differ (lists with
     * unknown elements, shapes) are not known to differ */
    if (same || w->kind == v->kind) continue;
    Buf b = {0};
    buf_printf(&b, "type parameter %s of %s inferred as both ", tp->name, fn->as.fn.name);
    ct_write(&b, w);
    buf_puts(&b, " and ");
    ct_write(&b, v);
    report(c, a->line, a->col, b.data, NULL);
    buf_free(&b);
  }
}

static void check_let(Chk *c, const Node *n)
{
  check(c, n->as.let.value);
  visit_binding(c, n->as.let.target, check); /* destructuring defaults */
  const TypeExpr *d = n->as.let.type;
  CType *v = infer(c, n->as.let.value);
  if (d && ct_accepts(&c->env, d, v) == CHK_NO) mismatch(c, n, "declared as ", d, ", but assigned ", v);
  else if (d) check_satisfies(c, n, iface_of(c, d), v);
  const Binding *b = n->as.let.target;
  if (b && b->kind == BIND_NAME) {
    CType *t = d ? ct_from_decl(&c->env, &c->arena, d) : n->as.let.mutable_ || v->kind == CT_TOP ? NULL : v;
    push_var(c, b->name, t);
    if (d && !n->as.let.mutable_) c->vars[c->nvars - 1].decl = d;
    if (d && n->as.let.mutable_) c->vars[c->nvars - 1].wdecl = d;
  } else {
    push_binding(c, b);
  }
}

static void check_fn(Chk *c, const Node *n)
{
  if (c->depth > 0) push_var(c, n->as.fn.name, NULL); /* top level: top_fns */
  c->depth++;
  int saved = c->nvars;
  const TypeExpr *ret = c->ret;
  bool gen = c->in_gen;
  c->in_gen = n->as.fn.is_gen;
  c->ret = NULL;
  const TypeExpr *r = n->as.fn.ret;
  if (r) {
    c->found = false;
    if (!n->as.fn.is_gen) scan_yield(c, n->as.fn.body);
    if (!n->as.fn.is_gen && !c->found) {
      c->ret = r;
    } else {
      /* Generator<T> and Stream<T> are distinct: a fn that yields makes the
       * one, a `gen fn` the other */
      CType *got = ct_new(&c->arena, n->as.fn.is_gen ? CT_STREAM : CT_GEN);
      if (r->kind == TY_NAME && ct_accepts(&c->env, r, got) == CHK_NO) {
        TypeExpr as = *r;
        as.name = n->as.fn.is_gen ? "Stream" : "Generator";
        got->decl = &as;
        mismatch(c, n, "return type doesn't match: expected ", r, ", got ", got);
      }
    }
  }
  for (int i = 0; i < n->as.fn.nattrs; i++)
    visit_entries(c, n->as.fn.attrs[i].args, n->as.fn.attrs[i].nargs, check);
  visit_params(c, &n->as.fn.params, check);
  push_fn_params(c, &n->as.fn.params, n->as.fn.body);
  check(c, n->as.fn.body);
  pop_to(c, saved);
  c->ret = ret;
  c->in_gen = gen;
  c->depth--;
}

/* Bodies with their own parameters and no declared return type: lambdas
 * and pipelines. */
static void check_body(Chk *c, const ParamList *pl, const Node *body)
{
  int saved = c->nvars;
  const TypeExpr *ret = c->ret;
  bool gen = c->in_gen;
  c->ret = NULL;
  c->in_gen = false;
  c->depth++;
  visit_params(c, pl, check);
  push_params(c, pl);
  visit_opt(c, body, check);
  c->depth--;
  pop_to(c, saved);
  c->ret = ret;
  c->in_gen = gen;
}

/* The variant [p] covers entirely, or NULL: `E.V` / `E.V(x, _)` of enum
 * [ename]. Sets *other when the pattern is not a variant of that enum. */
static bool arm_variants(const Pattern *p, const char *ename, const char **covered, int *ncov,
                         int cap)
{
  if (p->kind == PAT_OR) {
    for (int i = 0; i < p->nitems; i++)
      if (!arm_variants(p->items[i], ename, covered, ncov, cap)) return false;
    return true;
  }
  if (p->kind != PAT_ENUM || !p->name || strcmp(p->name, ename) != 0 || !p->variant) return false;
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind != PAT_BIND && p->items[i]->kind != PAT_WILDCARD) return true; /* refutable */
  if (*ncov < cap) covered[(*ncov)++] = p->variant;
  return true;
}

static void check_match_exhaustive(Chk *c, const Node *n)
{
  int cnt = n->as.match.count;
  if (cnt == 0) return;
  const Pattern *p0 = n->as.match.arms[0].pattern;
  while (p0 && p0->kind == PAT_OR && p0->nitems > 0) p0 = p0->items[0];
  if (!p0 || p0->kind != PAT_ENUM || !p0->name) return;
  const char *ename = p0->name;
  if (!chk_env_is_enum(&c->env, ename) || lookup(c, ename)) return;
  const Node *e = tab_unique(&c->env.enums, ename);
  int nv = e->as.enum_decl.count;
  const char *covered[256];
  int ncov = 0;
  for (int i = 0; i < cnt; i++) {
    const MatchArm *a = &n->as.match.arms[i];
    if (!a->pattern || a->pattern->kind == PAT_WILDCARD || a->pattern->kind == PAT_BIND) {
      if (!a->guard) return; /* a catch-all arm */
      continue;
    }
    const char *mine[64];
    int nmine = 0;
    if (!arm_variants(a->pattern, ename, mine, &nmine, 64)) return; /* another kind of arm */
    if (a->guard) continue;
    for (int j = 0; j < nmine && ncov < 256; j++) covered[ncov++] = mine[j];
  }
  Buf missing = {0};
  int nmissing = 0;
  for (int v = 0; v < nv; v++) {
    const char *vn = e->as.enum_decl.variants[v].name;
    bool seen = false;
    for (int j = 0; j < ncov && !seen; j++) seen = strcmp(covered[j], vn) == 0;
    if (seen) continue;
    if (nmissing++) buf_puts(&missing, ", ");
    buf_puts(&missing, vn);
  }
  if (nmissing) {
    Buf b = {0};
    buf_printf(&b, "Non-exhaustive match on enum %s: missing variants %s", ename, missing.data);
    report(c, n->line, n->col, b.data, NULL);
    buf_free(&b);
  }
  buf_free(&missing);
}

/* The string tag of [shape]'s field [field] (a literal type), or NULL. */
static const char *shape_tag(const TypeExpr *shape, const char *field)
{
  if (!shape || shape->kind != TY_SHAPE) return NULL;
  for (int i = 0; i < shape->nfields; i++) {
    const ShapeField *f = &shape->fields[i];
    if (strcmp(f->name, field) == 0 && !f->optional && f->type && f->type->kind == TY_LITERAL &&
        f->type->literal && f->type->literal->kind == N_STRING)
      return f->type->literal->as.str.s;
  }
  return NULL;
}

/* Collect the string literals of [p] into [tags]; false when the
 * pattern is anything else. */
static bool string_pats(const Pattern *p, const char **tags, int *n, int cap)
{
  if (p->kind == PAT_OR) {
    for (int i = 0; i < p->nitems; i++)
      if (!string_pats(p->items[i], tags, n, cap)) return false;
    return true;
  }
  if (p->kind != PAT_VALUE || !p->value || p->value->kind != N_STRING) return false;
  if (*n < cap) tags[(*n)++] = p->value->as.str.s;
  return true;
}

/* `match x.kind { "a" -> ..., }` where x is declared with an alias of a
 * union of shapes tagged by the string literal field `kind`: every tag
 * needs an arm (unguarded), unless there is a catch-all arm. */
static void check_match_tagged(Chk *c, const Node *n)
{
  const Node *sub = n->as.match.subject;
  if (!sub || sub->kind != N_PROPERTY || sub->as.prop.optional || sub->as.prop.recv->kind != N_IDENT) return;
  const ScopeVar *v = lookup(c, sub->as.prop.recv->as.str.s);
  const TypeExpr *d = v ? v->decl : NULL;
  if (!d || d->kind != TY_NAME || d->nargs) return;
  const TypeExpr *u = chk_env_alias(&c->env, d->name);
  if (!u || u->kind != TY_UNION || u->nargs < 2) return;
  const char *field = sub->as.prop.name;
  for (int i = 0; i < u->nargs; i++)
    if (!shape_tag(u->args[i], field)) return;
  const char *covered[256];
  int ncov = 0;
  for (int i = 0; i < n->as.match.count; i++) {
    const MatchArm *a = &n->as.match.arms[i];
    if (!a->pattern || a->pattern->kind == PAT_WILDCARD || a->pattern->kind == PAT_BIND) {
      if (!a->guard) return;
      continue;
    }
    const char *mine[64];
    int nmine = 0;
    if (!string_pats(a->pattern, mine, &nmine, 64)) return;
    if (a->guard) continue;
    for (int j = 0; j < nmine && ncov < 256; j++) covered[ncov++] = mine[j];
  }
  Buf missing = {0};
  int nmissing = 0;
  for (int i = 0; i < u->nargs; i++) {
    const char *tag = shape_tag(u->args[i], field);
    bool seen = false;
    for (int j = 0; j < ncov && !seen; j++) seen = strcmp(covered[j], tag) == 0;
    if (seen) continue;
    if (nmissing++) buf_puts(&missing, ", ");
    buf_printf(&missing, "\"%s\"", tag);
  }
  if (nmissing) {
    Buf b = {0};
    buf_printf(&b, "Non-exhaustive match on %s.%s (%s): missing variants %s", sub->as.prop.recv->as.str.s,
               field, d->name, missing.data);
    report(c, n->line, n->col, b.data, NULL);
    buf_free(&b);
  }
  buf_free(&missing);
}

static void check_match(Chk *c, const Node *n)
{
  check(c, n->as.match.subject);
  check_match_exhaustive(c, n);
  check_match_tagged(c, n);
  for (int i = 0; i < n->as.match.count; i++) {
    const MatchArm *a = &n->as.match.arms[i];
    int saved = c->nvars;
    visit_pattern(c, a->pattern, check);
    push_pattern(c, a->pattern);
    visit_opt(c, a->guard, check);
    visit_opt(c, a->body, check);
    pop_to(c, saved);
  }
}

static void check_call(Chk *c, const Node *n)
{
  visit_list(c, &n->as.call.args, check);
  const char *name = n->as.call.name;
  const Node *fn = lookup(c, name) ? NULL : tab_unique(&c->top_fns, name);
  const NameSlot *def = tab_find(&c->defined, name);
  if (fn && def && def->count == 1) check_call_types(c, n, fn); /* bound once: that fn */
  if (c->open_imports || lookup(c, name) || tab_find(&c->defined, name)) return;
  if (builtin_lookup(name) >= 0) return;
  /* the help names the closest defined name or builtin (docs/LANGUAGE.md 10.1) */
  int nc = 0;
  const char **cands = malloc((c->defined.n + (size_t)builtin_count + 1) * sizeof(char *));
  if (!cands) abort();
  for (size_t i = 0; i < c->defined.cap; i++)
    if (c->defined.slots[i].name) cands[nc++] = c->defined.slots[i].name;
  for (int i = 0; i < builtin_count; i++) cands[nc++] = builtin_table[i].name;
  const char *sugg = err_suggest(name, cands, nc);
  Buf b = {0}, h = {0};
  buf_printf(&b, "call target `%s` is not defined or imported", name);
  if (sugg) buf_printf(&h, "did you mean `%s`?", sugg);
  report(c, n->line, n->col, b.data, sugg ? h.data : NULL);
  buf_free(&b);
  buf_free(&h);
  free(cands);
}

/* The element type of the declared list type [d] (list<T>, [T], an alias
 * of one), or NULL. */
static const TypeExpr *list_elem(Chk *c, const TypeExpr *d)
{
  for (int depth = 0; d && depth < 8; depth++) {
    if (d->kind == TY_LIST) return d->nargs == 1 ? d->args[0] : NULL;
    if (d->kind != TY_NAME) return NULL;
    if (!strcmp(d->name, "list")) return d->nargs == 1 ? d->args[0] : NULL;
    d = d->nargs ? NULL : chk_env_alias(&c->env, d->name);
  }
  return NULL;
}

/* `x = v` on a `var x: T` and `xs[i] = v` on a list declared list<T>
 * (list elements are written with their declared type: a list<int> takes
 * no string). Afterwards the variable's inferred type is forgotten. */
static void check_assign(Chk *c, const Node *n)
{
  visit_children(c, n, check);
  const Node *t = n->as.assign.target;
  if (n->as.assign.op == 0 && t->kind == N_IDENT) {
    ScopeVar *v = lookup(c, t->as.str.s);
    if (v && v->wdecl) {
      CType *val = infer(c, n->as.assign.value);
      if (ct_accepts(&c->env, v->wdecl, val) == CHK_NO) mismatch(c, n, "declared as ", v->wdecl, ", but assigned ", val);
    }
  } else if (n->as.assign.op == 0 && t->kind == N_INDEX && !t->as.index.optional &&
             t->as.index.recv->kind == N_IDENT) {
    ScopeVar *v = lookup(c, t->as.index.recv->as.str.s);
    const TypeExpr *d = v ? (v->wdecl ? v->wdecl : v->decl) : NULL;
    const TypeExpr *elem = list_elem(c, d);
    CType *it = infer(c, t->as.index.index);
    if (elem && (it->kind == CT_INT)) {
      CType *val = infer(c, n->as.assign.value);
      if (ct_accepts(&c->env, elem, val) == CHK_NO) {
        Buf b = {0};
        buf_puts(&b, "declared as ");
        ct_write_decl(&b, d);
        buf_puts(&b, ", but an element is assigned ");
        ct_write(&b, val);
        report(c, n->line, n->col, b.data, NULL);
        buf_free(&b);
      }
    }
  }
  /* the variable may now hold another type: forget what was inferred */
  const Node *root = t->kind == N_IDENT ? t : t->kind == N_INDEX ? t->as.index.recv : NULL;
  if (root && root->kind == N_IDENT) {
    ScopeVar *v = lookup(c, root->as.str.s);
    if (v) {
      v->type = ct_scalar(CT_UNKNOWN);
      v->decl = NULL;
    }
  }
}

static void check(Chk *c, const Node *n)
{
  if (!n) return;
  int saved = c->nvars;
  switch (n->kind) {
  case N_BLOCK:
    visit_children(c, n, check);
    pop_to(c, saved);
    return;
  case N_LAMBDA: check_body(c, &n->as.lambda.params, n->as.lambda.body); return;
  case N_PIPELINE:
    push_var(c, n->as.pipeline.name, NULL);
    check_body(c, &n->as.pipeline.params, n->as.pipeline.body);
    return;
  case N_FN_DECL: check_fn(c, n); return;
  case N_LET: check_let(c, n); return;
  case N_CALL: check_call(c, n); return;
  case N_MATCH: check_match(c, n); return;
  case N_RETURN:
    check(c, n->as.unop.expr);
    if (c->ret && n->as.unop.expr) {
      CType *v = infer(c, n->as.unop.expr);
      if (ct_accepts(&c->env, c->ret, v) == CHK_NO)
        mismatch(c, n, "return type doesn't match: expected ", c->ret, ", got ", v);
      else
        check_satisfies(c, n, iface_of(c, c->ret), v);
    }
    return;
  case N_YIELD:
    check(c, n->as.unop.expr);
    if (c->in_gen)
      report(c, n->line, n->col, "`yield` is not allowed inside a `gen fn`",
             "use `emit` inside `gen fn`");
    return;
  case N_FOR:
    check(c, n->as.for_.iter);
    visit_binding(c, n->as.for_.var, check);
    push_binding(c, n->as.for_.var);
    check(c, n->as.for_.body);
    pop_to(c, saved);
    return;
  case N_TRY:
    check(c, n->as.try_.body);
    push_var(c, n->as.try_.catch_var, NULL);
    check(c, n->as.try_.catch_body);
    pop_to(c, saved);
    check(c, n->as.try_.finally_body);
    return;
  case N_PARALLEL:
    check(c, n->as.parallel.arg);
    check(c, n->as.parallel.options);
    push_var(c, n->as.parallel.var, NULL);
    check(c, n->as.parallel.body);
    pop_to(c, saved);
    return;
  case N_SELECT:
    for (int i = 0; i < n->as.select.count; i++) {
      check(c, n->as.select.cases[i].channel);
      push_var(c, n->as.select.cases[i].var, NULL);
      check(c, n->as.select.cases[i].body);
      pop_to(c, saved);
    }
    check(c, n->as.select.timeout);
    check(c, n->as.select.timeout_body);
    check(c, n->as.select.default_body);
    return;
  case N_IMPORT:
    if (n->as.import.names)
      for (int i = 0; i < n->as.import.nnames; i++) push_var(c, n->as.import.names[i], NULL);
    return;
  case N_ASSIGN: check_assign(c, n); return;
  default: visit_children(c, n, check); return;
  }
}

int chk_program(const Node *prog, const char *path, const char *src, Buf *out, char *first,
                size_t firstcap)
{
  Chk c;
  memset(&c, 0, sizeof c);
  c.path = path;
  c.src = src;
  c.out = out;
  c.first = first;
  c.firstcap = firstcap;
  if (first && firstcap) first[0] = 0;
  collect(&c, prog);
  for (int i = 0; i < prog->as.list.count; i++) {
    const Node *it = prog->as.list.items[i];
    if (it->kind != N_FN_DECL) continue;
    c.found = false;
    scan_yield(&c, it->as.fn.body);
    if (c.found) tab_add(&c.gen_fns, it->as.fn.name, NULL);
  }
  check(&c, prog);
  free(c.vars);
  free(c.innermost.slots);
  free(c.gen_fns.slots);
  free(c.defined.slots);
  free(c.top_fns.slots);
  free(c.env.aliases.slots);
  free(c.env.structs.slots);
  free(c.env.enums.slots);
  free(c.env.ifaces.slots);
  free(c.env.methods.slots);
  arena_free(&c.arena);
  return c.nreports;
}
