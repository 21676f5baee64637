/*
 * std_json.c: JSON pointers, a jq subset and JSON extraction (STDLIB.md
 * 4.8; the reference's json.rs and json_query.rs).
 *
 * JSON pointers (RFC 6901). `ptr` is "" (the whole value) or "/"-separated
 * tokens with ~1 for '/' and ~0 for '~'; anything else throws
 * `<builtin>: invalid JSON pointer '<ptr>'`. A list is indexed by a
 * decimal token without leading zeros; "-" is the position past the end.
 *  - json_pointer(v, ptr): the value there, nil when any step is missing.
 *  - json_pointer_set(v, ptr, x): a copy of v with x there. Missing dict
 *    keys on the way are created as dicts; "-" (or the length) appends to
 *    a list; a list index past the end, or a step into a scalar, throws
 *    `json_pointer_set: ...`.
 *  - json_pointer_delete(v, ptr): a copy of v without that entry (a list
 *    closes the gap); v unchanged when nothing is there; nil for "".
 *
 * jq(v, expr) -> list of every output; jq_first(v, expr) -> the first
 * output or nil. The subset: `.`, `..`, `.foo`, `."foo"`, `.[e]`, `.[a:b]`,
 * `.[]`, postfix `?`, `|`, `,`, `//`, literals, `[...]`, `{...}` (with
 * `{a}`, `{"a": e}`, `{(e): e}` and `{$x}`), `== != < <= > >=`, `and`,
 * `or`, `+ - * / %`, unary minus, `if c then a (elif c then b)* (else
 * d)? end`, `e as $x | body` and `$x`, and the functions length, keys,
 * keys_unsorted, values (an object's values or an array itself), type,
 * map(f), map_values(f), select(f), has(k), add, not, empty, first, last,
 * first(f), last(f), reverse, sort, sort_by(f), group_by(f), unique,
 * unique_by(f), min, max, min_by(f), max_by(f), to_entries, from_entries,
 * with_entries(f), tostring, tonumber, tojson, fromjson, ascii_downcase,
 * ascii_upcase, join(s), split(s), startswith(s), endswith(s),
 * ltrimstr(s), rtrimstr(s), contains(x), flatten, flatten(n), any, all,
 * any(f), all(f), floor, ceil, sqrt, abs, range(n), range(a; b), limit(n; f),
 * recurse, objects, arrays, strings, numbers, booleans, nulls, scalars,
 * iterables, error, error(msg). Values: nil is null, dicts are objects
 * (iterated in key order: harn dicts are sorted), lists are arrays;
 * numbers keep int-ness where the result is whole. Errors are jq's texts
 * prefixed `jq: ` ("jq: Cannot index array with \"foo\""); a syntax error
 * is `jq: syntax error: ...`. Work is bounded (JQ_MAX_STEPS steps and
 * JQ_MAX_DEPTH levels of nesting).
 *
 * json_extract(text, key?): the JSON value in model output. Code fences
 * (```json ... ```) are stripped; the whole text is tried first, then each
 * '{' or '[' in turn with its balanced closing bracket (brackets inside
 * strings skipped). The first candidate that parses wins; with `key` the
 * result is that field of it (nil when absent or not an object). No JSON
 * anywhere throws `json_extract: no JSON found in text`.
 */
#define _GNU_SOURCE /* memmem */
#include "std_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "error.h"
#include "gc.h"
#include "object.h"
#include "sched.h"
#include "state.h"

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

/* ======================================================================
 * JSON pointers
 * ====================================================================== */

#define PTR_MAX_TOKENS 4096

typedef struct {
  Buf text;                    /* the unescaped tokens, NUL-separated */
  size_t off[PTR_MAX_TOKENS];  /* start of each token in text */
  size_t len[PTR_MAX_TOKENS];
  int n;
} Ptr;

static bool ptr_parse(Vm *vm, const char *fn, Value pv, Ptr *p)
{
  p->n = 0;
  memset(&p->text, 0, sizeof p->text);
  if (!IS_STRING(pv)) return err_throw_str(vm, "%s: pointer must be a string, got %s", fn, val_type_name(pv));
  const char *s = AS_CSTR(pv);
  size_t n = AS_STRING(pv)->len;
  if (n == 0) return true;
  if (s[0] != '/') goto bad;
  size_t i = 1;
  for (;;) {
    if (p->n == PTR_MAX_TOKENS) {
      buf_free(&p->text);
      return err_throw_str(vm, "%s: JSON pointer has more than %d tokens", fn, PTR_MAX_TOKENS);
    }
    p->off[p->n] = p->text.len;
    while (i < n && s[i] != '/') {
      if (s[i] == '~') {
        if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1')) goto bad;
        buf_putc(&p->text, s[i + 1] == '0' ? '~' : '/');
        i += 2;
      } else {
        buf_putc(&p->text, s[i++]);
      }
    }
    p->len[p->n] = p->text.len - p->off[p->n];
    buf_putc(&p->text, '\0');
    p->n++;
    if (i >= n) break;
    i++; /* '/' */
  }
  return true;
bad:
  buf_free(&p->text);
  return err_throw_str(vm, "%s: invalid JSON pointer '%s'", fn, s);
}

static const char *tok(const Ptr *p, int i) { return p->text.data + p->off[i]; }

/* A list index token: -1 for "-", -2 when not an index. */
static int64_t tok_index(const Ptr *p, int i)
{
  const char *t = tok(p, i);
  size_t n = p->len[i];
  if (n == 1 && t[0] == '-') return -1;
  if (n == 0 || n > 12 || (n > 1 && t[0] == '0')) return -2;
  int64_t v = 0;
  for (size_t k = 0; k < n; k++) {
    if (t[k] < '0' || t[k] > '9') return -2;
    v = v * 10 + (t[k] - '0');
  }
  return v;
}

static Value ptr_key(Vm *vm, const Ptr *p, int i) { return OBJ_VAL(str_new(vm, tok(p, i), p->len[i])); }

bool std_json_pointer(Vm *vm, int argc, Value *argv, Value *out)
{
  Ptr *p = malloc(sizeof *p);
  if (!p) abort();
  if (!ptr_parse(vm, "json_pointer", arg(argc, argv, 1), p)) {
    free(p);
    return false;
  }
  Value cur = arg(argc, argv, 0);
  for (int i = 0; i < p->n && !IS_NIL(cur); i++) {
    if (IS_DICT(cur)) {
      Value v;
      cur = dict_get(AS_DICT(cur), AS_STRING(ptr_key(vm, p, i)), &v) ? v : val_nil();
    } else if (IS_LIST(cur)) {
      int64_t k = tok_index(p, i);
      cur = k >= 0 && k < AS_LIST(cur)->count ? AS_LIST(cur)->items[k] : val_nil();
    } else {
      cur = val_nil();
    }
  }
  buf_free(&p->text);
  free(p);
  *out = cur;
  return true;
}

static bool ptr_set(Vm *vm, const Ptr *p, int i, Value cur, Value x, Value *out)
{
  if (i == p->n) {
    *out = x;
    return true;
  }
  if (!sched_stack_ok(vm)) return err_throw_str(vm, "json_pointer_set: value nested too deeply");
  if (IS_NIL(cur) || IS_DICT(cur)) {
    ObjString *k = AS_STRING(ptr_key(vm, p, i));
    Value child = val_nil(), nv;
    if (IS_DICT(cur)) dict_get(AS_DICT(cur), k, &child);
    if (!ptr_set(vm, p, i + 1, child, x, &nv)) return false;
    ObjDict *d = IS_DICT(cur) ? dict_copy(vm, AS_DICT(cur)) : dict_new(vm, 1);
    dict_set(vm, d, k, nv);
    *out = OBJ_VAL(d);
    return true;
  }
  if (IS_LIST(cur)) {
    ObjList *l = AS_LIST(cur);
    int64_t k = tok_index(p, i);
    if (k == -1) k = l->count;
    if (k < 0 || k > l->count || (k == l->count && i + 1 < p->n))
      return err_throw_str(vm, "json_pointer_set: no list index '%s' in a list of %u", tok(p, i), l->count);
    Value nv;
    if (!ptr_set(vm, p, i + 1, k < l->count ? l->items[k] : val_nil(), x, &nv)) return false;
    ObjList *c = list_copy(vm, l);
    if (k == c->count) list_push(vm, c, nv);
    else c->items[k] = nv;
    *out = OBJ_VAL(c);
    return true;
  }
  return err_throw_str(vm, "json_pointer_set: cannot descend into %s at '%s'", val_type_name(cur), tok(p, i));
}

bool std_json_pointer_set(Vm *vm, int argc, Value *argv, Value *out)
{
  Ptr *p = malloc(sizeof *p);
  if (!p) abort();
  bool ok = ptr_parse(vm, "json_pointer_set", arg(argc, argv, 1), p) &&
            ptr_set(vm, p, 0, arg(argc, argv, 0), arg(argc, argv, 2), out);
  buf_free(&p->text);
  free(p);
  return ok;
}

/* false: nothing to delete (cur unchanged) */
static bool ptr_del(Vm *vm, const Ptr *p, int i, Value cur, Value *out)
{
  if (!sched_stack_ok(vm)) return false;
  bool last = i == p->n - 1;
  if (IS_DICT(cur)) {
    ObjString *k = AS_STRING(ptr_key(vm, p, i));
    Value child, nv;
    if (!dict_get(AS_DICT(cur), k, &child)) return false;
    if (!last && !ptr_del(vm, p, i + 1, child, &nv)) return false;
    ObjDict *d = dict_copy(vm, AS_DICT(cur));
    if (last) dict_remove(d, k);
    else dict_set(vm, d, k, nv);
    *out = OBJ_VAL(d);
    return true;
  }
  if (IS_LIST(cur)) {
    ObjList *l = AS_LIST(cur);
    int64_t k = tok_index(p, i);
    if (k < 0 || k >= l->count) return false;
    Value nv;
    if (!last && !ptr_del(vm, p, i + 1, l->items[k], &nv)) return false;
    ObjList *c = list_copy(vm, l);
    if (last) {
      memmove(c->items + k, c->items + k + 1, sizeof(Value) * (c->count - k - 1));
      c->count--;
    } else {
      c->items[k] = nv;
    }
    *out = OBJ_VAL(c);
    return true;
  }
  return false;
}

bool std_json_pointer_delete(Vm *vm, int argc, Value *argv, Value *out)
{
  Ptr *p = malloc(sizeof *p);
  if (!p) abort();
  if (!ptr_parse(vm, "json_pointer_delete", arg(argc, argv, 1), p)) {
    free(p);
    return false;
  }
  Value v = arg(argc, argv, 0);
  if (p->n == 0) *out = val_nil();
  else if (!ptr_del(vm, p, 0, v, out)) *out = v;
  buf_free(&p->text);
  free(p);
  return true;
}

/* ======================================================================
 * jq: lexer and parser
 * ====================================================================== */

#define JQ_MAX_STEPS 10000000
#define JQ_MAX_DEPTH 200

typedef enum {
  N_IDENT, N_RECURSE, N_INDEX, N_SLICE, N_ITER, N_LIT, N_PIPE, N_COMMA, N_ALT, N_OR, N_AND, N_BIN, N_NEG,
  N_ARRAY, N_OBJECT, N_CALL, N_IF, N_TRY, N_AS, N_VAR
} NodeKind;

typedef struct Node Node;
struct Node {
  NodeKind kind;
  int op;        /* N_BIN: the operator token */
  Node *a, *b, *c; /* operands; N_IF: cond, then, else (elif nests) */
  Value lit;     /* N_LIT; N_INDEX with a literal key */
  char *name;    /* N_CALL, N_AS, N_VAR */
  Node **args;   /* N_CALL arguments; N_OBJECT: keys and values interleaved */
  int nargs;
  Node *next_alloc;
};

enum {
  T_EOF, T_DOT, T_DOTDOT, T_FIELD, T_LBRACK, T_RBRACK, T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_PIPE,
  T_COMMA, T_COLON, T_SEMI, T_QUEST, T_ALT, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_STAR,
  T_SLASH, T_PERCENT, T_VAR, T_IDENT, T_NUM, T_STR
};

typedef struct Jq {
  Vm *vm;
  const char *src;
  size_t len, pos;
  int tok;            /* current token */
  Buf tokstr;         /* T_FIELD/T_VAR/T_IDENT name, T_STR text */
  Value toknum;
  Node *nodes;        /* every node, for freeing */
  int depth;
  bool failed;        /* error set in the VM */
  uint64_t steps;
  /* variables in scope during evaluation */
  struct JqVar {
    const char *name;
    Value v;
  } vars[JQ_MAX_DEPTH];
  int nvars;
} Jq;

static bool jq_fail(Jq *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jq_fail(Jq *j, const char *fmt, ...)
{
  if (j->failed) return false;
  Buf b = {0};
  buf_puts(&b, "jq: ");
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  err_throw(j->vm, OBJ_VAL(str_new(j->vm, b.data, b.len)));
  buf_free(&b);
  j->failed = true;
  return false;
}

static bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

static bool lex_string(Jq *j)
{
  buf_clear(&j->tokstr);
  j->pos++; /* opening quote */
  while (j->pos < j->len && j->src[j->pos] != '"') {
    char c = j->src[j->pos++];
    if (c != '\\') {
      buf_putc(&j->tokstr, c);
      continue;
    }
    if (j->pos >= j->len) break;
    c = j->src[j->pos++];
    switch (c) {
    case 'n': buf_putc(&j->tokstr, '\n'); break;
    case 't': buf_putc(&j->tokstr, '\t'); break;
    case 'r': buf_putc(&j->tokstr, '\r'); break;
    case 'b': buf_putc(&j->tokstr, '\b'); break;
    case 'f': buf_putc(&j->tokstr, '\f'); break;
    case '"': case '\\': case '/': buf_putc(&j->tokstr, c); break;
    case 'u': {
      uint32_t cp = 0;
      for (int k = 0; k < 4; k++) {
        if (j->pos >= j->len) return jq_fail(j, "syntax error: bad \\u escape");
        char h = j->src[j->pos++];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return jq_fail(j, "syntax error: bad \\u escape");
        cp = cp * 16 + (uint32_t)d;
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
      buf_put_utf8(&j->tokstr, cp);
      break;
    }
    case '(': return jq_fail(j, "syntax error: string interpolation \\( is not supported");
    default: return jq_fail(j, "syntax error: bad escape \\%c", c);
    }
  }
  if (j->pos >= j->len) return jq_fail(j, "syntax error: unterminated string");
  j->pos++;
  j->tok = T_STR;
  return true;
}

static bool lex(Jq *j)
{
  while (j->pos < j->len && (j->src[j->pos] == ' ' || j->src[j->pos] == '\t' || j->src[j->pos] == '\n' ||
                             j->src[j->pos] == '\r' || j->src[j->pos] == '#')) {
    if (j->src[j->pos] == '#')
      while (j->pos < j->len && j->src[j->pos] != '\n') j->pos++;
    else j->pos++;
  }
  if (j->pos >= j->len) {
    j->tok = T_EOF;
    return true;
  }
  const char *s = j->src + j->pos;
  size_t left = j->len - j->pos;
  char c = s[0], d = left > 1 ? s[1] : 0;
  if (c == '.') {
    if (d == '.') {
      j->pos += 2;
      j->tok = T_DOTDOT;
      return true;
    }
    if (is_ident_start(d)) {
      size_t k = 1;
      while (k < left && is_ident_char(s[k])) k++;
      buf_clear(&j->tokstr);
      buf_append(&j->tokstr, s + 1, k - 1);
      j->pos += k;
      j->tok = T_FIELD;
      return true;
    }
    j->pos++;
    j->tok = T_DOT;
    return true;
  }
  if (c == '$' && is_ident_start(d)) {
    size_t k = 1;
    while (k < left && is_ident_char(s[k])) k++;
    buf_clear(&j->tokstr);
    buf_append(&j->tokstr, s + 1, k - 1);
    j->pos += k;
    j->tok = T_VAR;
    return true;
  }
  if (is_ident_start(c)) {
    size_t k = 0;
    while (k < left && is_ident_char(s[k])) k++;
    buf_clear(&j->tokstr);
    buf_append(&j->tokstr, s, k);
    j->pos += k;
    j->tok = T_IDENT;
    return true;
  }
  if (c >= '0' && c <= '9') {
    size_t k = 0;
    bool fl = false;
    while (k < left && s[k] >= '0' && s[k] <= '9') k++;
    if (k < left && s[k] == '.' && k + 1 < left && s[k + 1] >= '0' && s[k + 1] <= '9') {
      fl = true;
      k++;
      while (k < left && s[k] >= '0' && s[k] <= '9') k++;
    }
    if (k < left && (s[k] == 'e' || s[k] == 'E')) {
      size_t e = k + 1;
      if (e < left && (s[e] == '+' || s[e] == '-')) e++;
      if (e < left && s[e] >= '0' && s[e] <= '9') {
        fl = true;
        k = e;
        while (k < left && s[k] >= '0' && s[k] <= '9') k++;
      }
    }
    char tmp[64];
    if (k >= sizeof tmp) return jq_fail(j, "syntax error: number too long");
    memcpy(tmp, s, k);
    tmp[k] = '\0';
    if (!fl) {
      errno = 0;
      long long v = strtoll(tmp, NULL, 10);
      j->toknum = errno ? val_float(strtod(tmp, NULL)) : val_int(v);
    } else {
      j->toknum = val_float(strtod(tmp, NULL));
    }
    j->pos += k;
    j->tok = T_NUM;
    return true;
  }
  if (c == '"') return lex_string(j);
  static const struct {
    const char *text;
    int tok;
  } ops[] = {{"//", T_ALT}, {"==", T_EQ}, {"!=", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"<", T_LT},
             {">", T_GT},   {"[", T_LBRACK}, {"]", T_RBRACK}, {"{", T_LBRACE}, {"}", T_RBRACE},
             {"(", T_LPAREN}, {")", T_RPAREN}, {"|", T_PIPE}, {",", T_COMMA}, {":", T_COLON},
             {";", T_SEMI}, {"?", T_QUEST}, {"+", T_PLUS}, {"-", T_MINUS}, {"*", T_STAR}, {"/", T_SLASH},
             {"%", T_PERCENT}};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    size_t n = strlen(ops[k].text);
    if (left >= n && memcmp(s, ops[k].text, n) == 0) {
      j->pos += n;
      j->tok = ops[k].tok;
      return true;
    }
  }
  return jq_fail(j, "syntax error: unexpected character '%c'", c);
}

static Node *node(Jq *j, NodeKind k)
{
  Node *n = calloc(1, sizeof *n);
  if (!n) abort();
  n->kind = k;
  n->next_alloc = j->nodes;
  j->nodes = n;
  return n;
}

static void free_nodes(Jq *j)
{
  for (Node *n = j->nodes, *next; n; n = next) {
    next = n->next_alloc;
    free(n->name);
    free(n->args);
    free(n);
  }
  j->nodes = NULL;
}

static bool expect(Jq *j, int t, const char *what)
{
  if (j->tok != t) return jq_fail(j, "syntax error: expected %s", what);
  return lex(j);
}

static bool is_word(Jq *j, const char *w) { return j->tok == T_IDENT && strcmp(j->tokstr.data, w) == 0; }

static Node *parse_pipe(Jq *j, bool comma);

static void add_arg(Node *n, Node *a)
{
  n->args = realloc(n->args, sizeof(Node *) * (size_t)(n->nargs + 1));
  if (!n->args) abort();
  n->args[n->nargs++] = a;
}

static Node *lit_node(Jq *j, Value v)
{
  Node *n = node(j, N_LIT);
  n->lit = v;
  return n;
}

static Node *field_node(Jq *j, Node *target, const char *name, size_t len)
{
  Node *n = node(j, N_INDEX);
  n->a = target;
  n->b = lit_node(j, OBJ_VAL(str_new(j->vm, name, len)));
  return n;
}

/* '[' already consumed: index, slice or iteration of [target] */
static Node *parse_bracket(Jq *j, Node *target)
{
  if (j->tok == T_RBRACK) {
    if (!lex(j)) return NULL;
    Node *n = node(j, N_ITER);
    n->a = target;
    return n;
  }
  Node *from = NULL, *to = NULL;
  if (j->tok != T_COLON && !(from = parse_pipe(j, true))) return NULL;
  if (j->tok == T_COLON) {
    if (!lex(j)) return NULL;
    if (j->tok != T_RBRACK && !(to = parse_pipe(j, true))) return NULL;
    if (!expect(j, T_RBRACK, "']'")) return NULL;
    Node *n = node(j, N_SLICE);
    n->a = target;
    n->b = from;
    n->c = to;
    return n;
  }
  if (!expect(j, T_RBRACK, "']'")) return NULL;
  Node *n = node(j, N_INDEX);
  n->a = target;
  n->b = from;
  return n;
}

static Node *parse_object(Jq *j)
{
  Node *obj = node(j, N_OBJECT);
  while (j->tok != T_RBRACE) {
    Node *key, *val = NULL;
    if (j->tok == T_VAR) {
      key = lit_node(j, OBJ_VAL(str_new(j->vm, j->tokstr.data, j->tokstr.len)));
      val = node(j, N_VAR);
      val->name = strdup(j->tokstr.data);
      if (!lex(j)) return NULL;
    } else if (j->tok == T_IDENT || j->tok == T_STR) {
      key = lit_node(j, OBJ_VAL(str_new(j->vm, j->tokstr.data, j->tokstr.len)));
      if (!lex(j)) return NULL;
    } else if (j->tok == T_LPAREN) {
      if (!lex(j) || !(key = parse_pipe(j, true)) || !expect(j, T_RPAREN, "')'")) return NULL;
    } else {
      jq_fail(j, "syntax error: bad object key");
      return NULL;
    }
    if (!val) {
      if (j->tok == T_COLON) {
        if (!lex(j) || !(val = parse_pipe(j, false))) return NULL;
      } else if (key->kind == N_LIT) {
        val = field_node(j, node(j, N_IDENT), AS_CSTR(key->lit), AS_STRING(key->lit)->len);
      } else {
        jq_fail(j, "syntax error: expected ':' after a computed key");
        return NULL;
      }
    }
    add_arg(obj, key);
    add_arg(obj, val);
    if (j->tok == T_COMMA) {
      if (!lex(j)) return NULL;
    } else if (j->tok != T_RBRACE) {
      jq_fail(j, "syntax error: expected ',' or '}' in an object");
      return NULL;
    }
  }
  if (!lex(j)) return NULL;
  return obj;
}

static Node *parse_term(Jq *j)
{
  Node *n = NULL;
  switch (j->tok) {
  case T_DOT:
    if (!lex(j)) return NULL;
    n = node(j, N_IDENT);
    if (j->tok == T_STR) { /* ."foo" */
      n = field_node(j, n, j->tokstr.data, j->tokstr.len);
      if (!lex(j)) return NULL;
    }
    break;
  case T_DOTDOT:
    if (!lex(j)) return NULL;
    n = node(j, N_RECURSE);
    break;
  case T_FIELD:
    n = field_node(j, node(j, N_IDENT), j->tokstr.data, j->tokstr.len);
    if (!lex(j)) return NULL;
    break;
  case T_NUM:
    n = lit_node(j, j->toknum);
    if (!lex(j)) return NULL;
    break;
  case T_STR:
    n = lit_node(j, OBJ_VAL(str_new(j->vm, j->tokstr.data, j->tokstr.len)));
    if (!lex(j)) return NULL;
    break;
  case T_VAR:
    n = node(j, N_VAR);
    n->name = strdup(j->tokstr.data);
    if (!lex(j)) return NULL;
    break;
  case T_LPAREN:
    if (!lex(j) || !(n = parse_pipe(j, true)) || !expect(j, T_RPAREN, "')'")) return NULL;
    break;
  case T_LBRACK:
    if (!lex(j)) return NULL;
    n = node(j, N_ARRAY);
    if (j->tok != T_RBRACK && !(n->a = parse_pipe(j, true))) return NULL;
    if (!expect(j, T_RBRACK, "']'")) return NULL;
    break;
  case T_LBRACE:
    if (!lex(j) || !(n = parse_object(j))) return NULL;
    break;
  case T_IDENT: {
    if (is_word(j, "true") || is_word(j, "false")) {
      n = lit_node(j, val_bool(j->tokstr.data[0] == 't'));
      if (!lex(j)) return NULL;
      break;
    }
    if (is_word(j, "null")) {
      n = lit_node(j, val_nil());
      if (!lex(j)) return NULL;
      break;
    }
    if (is_word(j, "if")) {
      Node *root = node(j, N_IF), *cur = root;
      if (!lex(j) || !(cur->a = parse_pipe(j, true))) return NULL;
      if (!is_word(j, "then")) return jq_fail(j, "syntax error: expected 'then'"), NULL;
      if (!lex(j) || !(cur->b = parse_pipe(j, true))) return NULL;
      while (is_word(j, "elif")) {
        Node *e = node(j, N_IF);
        if (!lex(j) || !(e->a = parse_pipe(j, true))) return NULL;
        if (!is_word(j, "then")) return jq_fail(j, "syntax error: expected 'then'"), NULL;
        if (!lex(j) || !(e->b = parse_pipe(j, true))) return NULL;
        cur->c = e;
        cur = e;
      }
      if (is_word(j, "else")) {
        if (!lex(j) || !(cur->c = parse_pipe(j, true))) return NULL;
      }
      if (!is_word(j, "end")) return jq_fail(j, "syntax error: expected 'end'"), NULL;
      if (!lex(j)) return NULL;
      n = root;
      break;
    }
    static const char *const reserved[] = {"then", "elif", "else", "end", "and", "or", "as", "reduce", "foreach",
                                           "def", "try", "catch", "label", "import", "include"};
    for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
      if (is_word(j, reserved[k])) return jq_fail(j, "syntax error: unexpected '%s'", reserved[k]), NULL;
    n = node(j, N_CALL);
    n->name = strdup(j->tokstr.data);
    if (!lex(j)) return NULL;
    if (j->tok == T_LPAREN) {
      if (!lex(j)) return NULL;
      for (;;) {
        Node *a = parse_pipe(j, true);
        if (!a) return NULL;
        add_arg(n, a);
        if (j->tok == T_SEMI) {
          if (!lex(j)) return NULL;
          continue;
        }
        if (!expect(j, T_RPAREN, "')' or ';'")) return NULL;
        break;
      }
    }
    break;
  }
  case T_EOF: jq_fail(j, "syntax error: unexpected end of the program"); return NULL;
  default: jq_fail(j, "syntax error: unexpected token"); return NULL;
  }
  /* postfix: .foo ."foo" [..] .[..] ? */
  for (;;) {
    if (j->tok == T_FIELD) {
      n = field_node(j, n, j->tokstr.data, j->tokstr.len);
      if (!lex(j)) return NULL;
    } else if (j->tok == T_DOT) {
      if (!lex(j)) return NULL;
      if (j->tok == T_STR) {
        n = field_node(j, n, j->tokstr.data, j->tokstr.len);
        if (!lex(j)) return NULL;
      } else if (j->tok == T_LBRACK) {
        if (!lex(j) || !(n = parse_bracket(j, n))) return NULL;
      } else {
        jq_fail(j, "syntax error: unexpected '.'");
        return NULL;
      }
    } else if (j->tok == T_LBRACK) {
      if (!lex(j) || !(n = parse_bracket(j, n))) return NULL;
    } else if (j->tok == T_QUEST) {
      if (!lex(j)) return NULL;
      Node *t = node(j, N_TRY);
      t->a = n;
      n = t;
    } else {
      break;
    }
  }
  return n;
}

static Node *parse_unary(Jq *j)
{
  if (j->tok == T_MINUS) {
    if (!lex(j)) return NULL;
    Node *n = node(j, N_NEG);
    if (!(n->a = parse_unary(j))) return NULL;
    return n;
  }
  return parse_term(j);
}

static Node *bin(Jq *j, NodeKind k, int op, Node *a, Node *b)
{
  Node *n = node(j, k);
  n->op = op;
  n->a = a;
  n->b = b;
  return n;
}

static Node *parse_mul(Jq *j)
{
  Node *a = parse_unary(j);
  while (a && (j->tok == T_STAR || j->tok == T_SLASH || j->tok == T_PERCENT)) {
    int op = j->tok;
    Node *b;
    if (!lex(j) || !(b = parse_unary(j))) return NULL;
    a = bin(j, N_BIN, op, a, b);
  }
  return a;
}

static Node *parse_add(Jq *j)
{
  Node *a = parse_mul(j);
  while (a && (j->tok == T_PLUS || j->tok == T_MINUS)) {
    int op = j->tok;
    Node *b;
    if (!lex(j) || !(b = parse_mul(j))) return NULL;
    a = bin(j, N_BIN, op, a, b);
  }
  return a;
}

static Node *parse_cmp(Jq *j)
{
  Node *a = parse_add(j);
  if (a && j->tok >= T_EQ && j->tok <= T_GE) {
    int op = j->tok;
    Node *b;
    if (!lex(j) || !(b = parse_add(j))) return NULL;
    a = bin(j, N_BIN, op, a, b);
    if (j->tok >= T_EQ && j->tok <= T_GE) return jq_fail(j, "syntax error: comparisons do not chain"), NULL;
  }
  return a;
}

static Node *parse_and(Jq *j)
{
  Node *a = parse_cmp(j);
  while (a && is_word(j, "and")) {
    Node *b;
    if (!lex(j) || !(b = parse_cmp(j))) return NULL;
    a = bin(j, N_AND, 0, a, b);
  }
  return a;
}

static Node *parse_or(Jq *j)
{
  Node *a = parse_and(j);
  while (a && is_word(j, "or")) {
    Node *b;
    if (!lex(j) || !(b = parse_and(j))) return NULL;
    a = bin(j, N_OR, 0, a, b);
  }
  return a;
}

static Node *parse_alt(Jq *j)
{
  Node *a = parse_or(j);
  if (a && j->tok == T_ALT) {
    Node *b;
    if (!lex(j) || !(b = parse_alt(j))) return NULL;
    a = bin(j, N_ALT, 0, a, b);
  }
  return a;
}

/* pipe := comma ('|' pipe)? | term 'as' $x '|' pipe; [comma]: whether ','
 * belongs to this level (not inside an object value) */
static Node *parse_pipe(Jq *j, bool comma)
{
  if (++j->depth > JQ_MAX_DEPTH) {
    jq_fail(j, "syntax error: program nested too deeply");
    return NULL;
  }
  Node *a = parse_alt(j);
  if (a && is_word(j, "as")) {
    if (!lex(j)) return NULL;
    if (j->tok != T_VAR) return jq_fail(j, "syntax error: expected $name after 'as'"), NULL;
    Node *n = node(j, N_AS);
    n->name = strdup(j->tokstr.data);
    n->a = a;
    if (!lex(j) || !expect(j, T_PIPE, "'|' after 'as $name'") || !(n->b = parse_pipe(j, comma))) return NULL;
    j->depth--;
    return n;
  }
  while (a && comma && j->tok == T_COMMA) {
    Node *b;
    if (!lex(j) || !(b = parse_alt(j))) return NULL;
    a = bin(j, N_COMMA, 0, a, b);
  }
  if (a && j->tok == T_PIPE) {
    Node *b;
    if (!lex(j) || !(b = parse_pipe(j, comma))) return NULL;
    a = bin(j, N_PIPE, 0, a, b);
  }
  j->depth--;
  return a;
}

/* ======================================================================
 * jq: values
 * ====================================================================== */

static const char *jq_type(Value v)
{
  if (IS_NIL(v)) return "null";
  if (IS_BOOL(v)) return "boolean";
  if (IS_INT(v) || IS_FLOAT(v)) return "number";
  if (IS_STRING(v)) return "string";
  if (IS_LIST(v)) return "array";
  if (IS_DICT(v)) return "object";
  return val_type_name(v);
}

static int type_rank(Value v)
{
  if (IS_NIL(v)) return 0;
  if (IS_BOOL(v)) return AS_BOOL(v) ? 2 : 1;
  if (IS_INT(v) || IS_FLOAT(v)) return 3;
  if (IS_STRING(v)) return 4;
  if (IS_LIST(v)) return 5;
  if (IS_DICT(v)) return 6;
  return 7;
}

static bool truthy(Value v) { return !(IS_NIL(v) || (IS_BOOL(v) && !AS_BOOL(v))); }

/* jq's order: null < false < true < numbers < strings < arrays < objects */
static int jq_cmp(Vm *vm, Value a, Value b)
{
  int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
  case 3: {
    if (IS_INT(a) && IS_INT(b)) return AS_INT(a) < AS_INT(b) ? -1 : AS_INT(a) > AS_INT(b);
    double x = AS_NUMBER(a), y = AS_NUMBER(b);
    return x < y ? -1 : x > y;
  }
  case 4: return str_cmp(AS_STRING(a), AS_STRING(b));
  case 5: {
    if (!sched_stack_ok(vm)) return 0;
    ObjList *x = AS_LIST(a), *y = AS_LIST(b);
    for (uint32_t i = 0; i < x->count && i < y->count; i++) {
      int c = jq_cmp(vm, x->items[i], y->items[i]);
      if (c) return c;
    }
    return x->count < y->count ? -1 : x->count > y->count;
  }
  case 6: {
    if (!sched_stack_ok(vm)) return 0;
    ObjDict *x = AS_DICT(a), *y = AS_DICT(b);
    /* keys first (sorted lists), then values key by key */
    for (uint32_t i = 0; i < x->count && i < y->count; i++) {
      int c = str_cmp(x->entries[i].key, y->entries[i].key);
      if (c) return c;
    }
    if (x->count != y->count) return x->count < y->count ? -1 : 1;
    for (uint32_t i = 0; i < x->count; i++) {
      int c = jq_cmp(vm, x->entries[i].value, y->entries[i].value);
      if (c) return c;
    }
    return 0;
  }
  case 7: return val_equal(a, b) ? 0 : val_compare(a, b);
  default: return 0;
  }
}

static Value num_val(double d)
{
  if (d == floor(d) && fabs(d) < 9.007199254740992e15) return val_int((int64_t)d);
  return val_float(d);
}

/* The JSON text of [v] (for messages, tostring, tojson). */
static void json_text(Vm *vm, Value v, Buf *b)
{
  if (!json_stringify_value(vm, v, b)) buf_puts(b, "...");
}

/* "number (5)", "null (null)" as jq words its errors (the value cut to 11 bytes) */
static const char *describe(Jq *j, Value v, Buf *b)
{
  buf_clear(b);
  Buf t = {0};
  json_text(j->vm, v, &t);
  buf_printf(b, "%s (", jq_type(v));
  if (t.len > 11) {
    buf_append(b, t.data, 10);
    buf_puts(b, "...");
  } else {
    buf_append(b, t.data ? t.data : "", t.len);
  }
  buf_putc(b, ')');
  buf_free(&t);
  return b->data;
}

/* ======================================================================
 * jq: evaluation (every output of a node appended to a list)
 * ====================================================================== */

static bool ev(Jq *j, Node *n, Value in, ObjList *out);

static bool step(Jq *j)
{
  if (++j->steps > JQ_MAX_STEPS) return jq_fail(j, "evaluation took more than %d steps", JQ_MAX_STEPS);
  if (j->vm->heap.doomed) {
    j->failed = true;
    return err_memory(j->vm);
  }
  if (!sched_stack_ok(j->vm)) return jq_fail(j, "evaluation nested too deeply");
  return true;
}

static bool emit(Jq *j, ObjList *out, Value v)
{
  if (!step(j)) return false;
  list_push(j->vm, out, v);
  return true;
}

static ObjList *collect(Jq *j, Node *n, Value in)
{
  ObjList *l = list_new(j->vm, 0);
  return ev(j, n, in, l) ? l : NULL;
}

static bool index_value(Jq *j, Value t, Value k, ObjList *out)
{
  Buf b = {0};
  if (IS_NIL(t) && (IS_STRING(k) || IS_INT(k) || IS_FLOAT(k) || IS_NIL(k))) return emit(j, out, val_nil());
  if (IS_DICT(t) && IS_STRING(k)) {
    Value v;
    return emit(j, out, dict_get(AS_DICT(t), AS_STRING(k), &v) ? v : val_nil());
  }
  if (IS_LIST(t) && (IS_INT(k) || IS_FLOAT(k))) {
    ObjList *l = AS_LIST(t);
    double d = floor(AS_NUMBER(k));
    if (d < 0) d += l->count;
    return emit(j, out, d >= 0 && d < l->count ? l->items[(uint32_t)d] : val_nil());
  }
  bool ok;
  if (IS_STRING(k)) ok = jq_fail(j, "Cannot index %s with \"%s\"", jq_type(t), AS_CSTR(k));
  else ok = jq_fail(j, "Cannot index %s with %s", jq_type(t), jq_type(k));
  buf_free(&b);
  return ok;
}

static bool slice_value(Jq *j, Value t, Value from, Value to, ObjList *out)
{
  if (IS_NIL(t)) return emit(j, out, val_nil());
  if ((!IS_NIL(from) && !IS_INT(from) && !IS_FLOAT(from)) || (!IS_NIL(to) && !IS_INT(to) && !IS_FLOAT(to)))
    return jq_fail(j, "Start and end indices of an array slice must be numbers");
  int64_t len;
  if (IS_LIST(t)) len = AS_LIST(t)->count;
  else if (IS_STRING(t)) len = AS_STRING(t)->nchars;
  else return jq_fail(j, "Cannot index %s with object", jq_type(t));
  double a = IS_NIL(from) ? 0 : floor(AS_NUMBER(from)), b = IS_NIL(to) ? (double)len : ceil(AS_NUMBER(to));
  if (a < 0) a += len;
  if (b < 0) b += len;
  if (a < 0) a = 0;
  if (b > len) b = len;
  if (b < a) b = a;
  if (a > len) a = b = (double)len;
  if (IS_LIST(t)) {
    ObjList *l = list_new(j->vm, (uint32_t)(b - a));
    for (int64_t i = (int64_t)a; i < (int64_t)b; i++) list_push(j->vm, l, AS_LIST(t)->items[i]);
    return emit(j, out, OBJ_VAL(l));
  }
  return emit(j, out, OBJ_VAL(str_sub(j->vm, AS_STRING(t), (int64_t)a, (int64_t)b)));
}

static bool iterate(Jq *j, Value t, ObjList *out)
{
  if (IS_LIST(t)) {
    ObjList *l = AS_LIST(t);
    for (uint32_t i = 0; i < l->count; i++)
      if (!emit(j, out, l->items[i])) return false;
    return true;
  }
  if (IS_DICT(t)) {
    ObjDict *d = AS_DICT(t);
    for (uint32_t i = 0; i < d->count; i++)
      if (!emit(j, out, d->entries[i].value)) return false;
    return true;
  }
  if (IS_NIL(t)) return jq_fail(j, "Cannot iterate over null");
  Buf b = {0};
  bool r = jq_fail(j, "Cannot iterate over %s", describe(j, t, &b));
  buf_free(&b);
  return r;
}

static bool recurse_all(Jq *j, Value v, ObjList *out)
{
  if (!emit(j, out, v)) return false;
  if (IS_LIST(v)) {
    for (uint32_t i = 0; i < AS_LIST(v)->count; i++)
      if (!recurse_all(j, AS_LIST(v)->items[i], out)) return false;
  } else if (IS_DICT(v)) {
    for (uint32_t i = 0; i < AS_DICT(v)->count; i++)
      if (!recurse_all(j, AS_DICT(v)->entries[i].value, out)) return false;
  }
  return true;
}

static bool jq_equal(Vm *vm, Value a, Value b) { return jq_cmp(vm, a, b) == 0; }

static bool arith(Jq *j, int op, Value a, Value b, Value *r)
{
  Vm *vm = j->vm;
  bool an = IS_INT(a) || IS_FLOAT(a), bn = IS_INT(b) || IS_FLOAT(b);
  Buf x = {0}, y = {0};
  if (op == T_PLUS) {
    if (IS_NIL(a)) { *r = b; return true; }
    if (IS_NIL(b)) { *r = a; return true; }
    if (an && bn) {
      int64_t s;
      if (IS_INT(a) && IS_INT(b) && !__builtin_add_overflow(AS_INT(a), AS_INT(b), &s)) *r = val_int(s);
      else *r = val_float(AS_NUMBER(a) + AS_NUMBER(b));
      return true;
    }
    if (IS_STRING(a) && IS_STRING(b)) { *r = OBJ_VAL(str_concat(vm, AS_STRING(a), AS_STRING(b))); return true; }
    if (IS_LIST(a) && IS_LIST(b)) {
      ObjList *l = list_copy(vm, AS_LIST(a));
      for (uint32_t i = 0; i < AS_LIST(b)->count; i++) list_push(vm, l, AS_LIST(b)->items[i]);
      *r = OBJ_VAL(l);
      return true;
    }
    if (IS_DICT(a) && IS_DICT(b)) {
      ObjDict *d = dict_copy(vm, AS_DICT(a));
      for (uint32_t i = 0; i < AS_DICT(b)->count; i++) dict_set(vm, d, AS_DICT(b)->entries[i].key, AS_DICT(b)->entries[i].value);
      *r = OBJ_VAL(d);
      return true;
    }
  } else if (op == T_MINUS) {
    if (an && bn) {
      int64_t s;
      if (IS_INT(a) && IS_INT(b) && !__builtin_sub_overflow(AS_INT(a), AS_INT(b), &s)) *r = val_int(s);
      else *r = val_float(AS_NUMBER(a) - AS_NUMBER(b));
      return true;
    }
    if (IS_LIST(a) && IS_LIST(b)) {
      ObjList *l = list_new(vm, 0);
      for (uint32_t i = 0; i < AS_LIST(a)->count; i++) {
        bool found = false;
        for (uint32_t k = 0; k < AS_LIST(b)->count && !found; k++) found = jq_equal(vm, AS_LIST(a)->items[i], AS_LIST(b)->items[k]);
        if (!found) list_push(vm, l, AS_LIST(a)->items[i]);
        if (!step(j)) return false;
      }
      *r = OBJ_VAL(l);
      return true;
    }
  } else if (op == T_STAR) {
    if (an && bn) {
      int64_t s;
      if (IS_INT(a) && IS_INT(b) && !__builtin_mul_overflow(AS_INT(a), AS_INT(b), &s)) *r = val_int(s);
      else *r = val_float(AS_NUMBER(a) * AS_NUMBER(b));
      return true;
    }
  } else if (op == T_SLASH) {
    if (an && bn) {
      if (AS_NUMBER(b) == 0) {
        bool res = jq_fail(j, "%s and %s cannot be divided because the divisor is zero", describe(j, a, &x), describe(j, b, &y));
        buf_free(&x);
        buf_free(&y);
        return res;
      }
      if (IS_INT(a) && IS_INT(b) && AS_INT(b) != -1 && AS_INT(a) % AS_INT(b) == 0) *r = val_int(AS_INT(a) / AS_INT(b));
      else *r = val_float(AS_NUMBER(a) / AS_NUMBER(b));
      return true;
    }
    if (IS_STRING(a) && IS_STRING(b)) {
      ObjString *sep = AS_STRING(b);
      ObjString *src = AS_STRING(a);
      ObjList *l = list_new(vm, 0);
      if (src->len > 0) {
        if (sep->len == 0) {
          for (int64_t i = 0; i < src->nchars; i++) list_push(vm, l, OBJ_VAL(str_sub(vm, src, i, i + 1)));
        } else {
          const char *p = src->chars, *end = src->chars + src->len;
          for (;;) {
            const char *q = memmem(p, (size_t)(end - p), sep->chars, sep->len);
            if (!q) break;
            list_push(vm, l, OBJ_VAL(str_new(vm, p, (size_t)(q - p))));
            p = q + sep->len;
            if (!step(j)) return false;
          }
          list_push(vm, l, OBJ_VAL(str_new(vm, p, (size_t)(end - p))));
        }
      }
      *r = OBJ_VAL(l);
      return true;
    }
  } else if (op == T_PERCENT) {
    if (an && bn) {
      double da = AS_NUMBER(a), db = AS_NUMBER(b);
      if (!isfinite(da) || !isfinite(db) || fabs(da) > 9e18 || fabs(db) > 9e18) return jq_fail(j, "number out of range for %%");
      int64_t ia = (int64_t)da, ib = (int64_t)db;
      if (ib == 0) {
        bool res = jq_fail(j, "%s and %s cannot be divided because the divisor is zero", describe(j, a, &x), describe(j, b, &y));
        buf_free(&x);
        buf_free(&y);
        return res;
      }
      *r = val_int(ib == -1 ? 0 : ia % (ib < 0 ? -ib : ib));
      return true;
    }
  }
  static const char *const names[] = {[T_PLUS] = "added", [T_MINUS] = "subtracted", [T_STAR] = "multiplied",
                                      [T_SLASH] = "divided", [T_PERCENT] = "divided"};
  bool res = jq_fail(j, "%s and %s cannot be %s", describe(j, a, &x), describe(j, b, &y), names[op]);
  buf_free(&x);
  buf_free(&y);
  return res;
}

static bool compare_op(Jq *j, int op, Value a, Value b)
{
  int c = jq_cmp(j->vm, a, b);
  switch (op) {
  case T_EQ: return c == 0;
  case T_NE: return c != 0;
  case T_LT: return c < 0;
  case T_LE: return c <= 0;
  case T_GT: return c > 0;
  default: return c >= 0;
  }
}

/* sort [l] in place by jq order of [keys] (parallel), stable (merge sort) */
static void sort_by_keys(Jq *j, Value *items, Value *keys, uint32_t n)
{
  if (n < 2) return;
  Value *ti = malloc(sizeof(Value) * n), *tk = malloc(sizeof(Value) * n);
  if (!ti || !tk) abort();
  for (uint32_t w = 1; w < n; w *= 2) {
    for (uint32_t lo = 0; lo < n; lo += 2 * w) {
      uint32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, k = lo;
      while (a < mid || b < hi) {
        bool take_a = b >= hi || (a < mid && jq_cmp(j->vm, keys[a], keys[b]) <= 0);
        uint32_t s = take_a ? a++ : b++;
        ti[k] = items[s];
        tk[k++] = keys[s];
      }
    }
    memcpy(items, ti, sizeof(Value) * n);
    memcpy(keys, tk, sizeof(Value) * n);
  }
  free(ti);
  free(tk);
}

static bool need_list(Jq *j, const char *fn, Value in)
{
  if (IS_LIST(in)) return true;
  Buf b = {0};
  bool r = jq_fail(j, "%s cannot be %s, it must be an array", describe(j, in, &b),
                   strcmp(fn, "sort") == 0 || strcmp(fn, "sort_by") == 0 ? "sorted" : "grouped");
  buf_free(&b);
  return r;
}

/* keys of [in] computed with f (or the items themselves) */
static bool key_list(Jq *j, Node *f, ObjList *in, Value **keys)
{
  *keys = malloc(sizeof(Value) * (in->count ? in->count : 1));
  if (!*keys) abort();
  for (uint32_t i = 0; i < in->count; i++) {
    if (!f) {
      (*keys)[i] = in->items[i];
      continue;
    }
    ObjList *k = collect(j, f, in->items[i]);
    if (!k) {
      free(*keys);
      return false;
    }
    (*keys)[i] = OBJ_VAL(k); /* jq compares [f] */
  }
  return true;
}

static bool fn_sort(Jq *j, Node *f, Value in, ObjList *out, int mode)
{
  /* mode 0 sort, 1 group, 2 unique */
  if (!need_list(j, mode == 1 ? "group_by" : "sort", in)) return false;
  ObjList *src = AS_LIST(in);
  ObjList *items = list_copy(j->vm, src);
  Value *keys;
  if (!key_list(j, f, src, &keys)) return false;
  sort_by_keys(j, items->items, keys, items->count);
  if (mode == 0) {
    free(keys);
    return emit(j, out, OBJ_VAL(items));
  }
  ObjList *res = list_new(j->vm, 0);
  ObjList *group = NULL;
  for (uint32_t i = 0; i < items->count; i++) {
    bool same = i > 0 && jq_cmp(j->vm, keys[i - 1], keys[i]) == 0;
    if (mode == 1) {
      if (!same) {
        group = list_new(j->vm, 1);
        list_push(j->vm, res, OBJ_VAL(group));
      }
      list_push(j->vm, group, items->items[i]);
    } else if (!same) {
      list_push(j->vm, res, items->items[i]);
    }
  }
  free(keys);
  return emit(j, out, OBJ_VAL(res));
}

static bool fn_minmax(Jq *j, Node *f, Value in, ObjList *out, bool max)
{
  if (!IS_LIST(in)) {
    Buf b = {0};
    bool r = jq_fail(j, "%s has no %s", describe(j, in, &b), max ? "maximum" : "minimum");
    buf_free(&b);
    return r;
  }
  ObjList *l = AS_LIST(in);
  if (l->count == 0) return emit(j, out, val_nil());
  Value *keys;
  if (!key_list(j, f, l, &keys)) return false;
  uint32_t best = 0;
  for (uint32_t i = 1; i < l->count; i++) {
    int c = jq_cmp(j->vm, keys[i], keys[best]);
    if (max ? c >= 0 : c < 0) best = i;
  }
  free(keys);
  return emit(j, out, l->items[best]);
}

static ObjString *to_string_val(Jq *j, Value v)
{
  if (IS_STRING(v)) return AS_STRING(v);
  Buf b = {0};
  json_text(j->vm, v, &b);
  ObjString *s = str_new(j->vm, b.data ? b.data : "", b.len);
  buf_free(&b);
  return s;
}

static bool flatten_into(Jq *j, ObjList *dst, ObjList *src, double depth)
{
  for (uint32_t i = 0; i < src->count; i++) {
    if (!step(j)) return false;
    if (IS_LIST(src->items[i]) && depth > 0) {
      if (!flatten_into(j, dst, AS_LIST(src->items[i]), depth - 1)) return false;
    } else {
      list_push(j->vm, dst, src->items[i]);
    }
  }
  return true;
}

static bool contains(Jq *j, Value a, Value b)
{
  if (!sched_stack_ok(j->vm)) return false;
  if (IS_DICT(a) && IS_DICT(b)) {
    for (uint32_t i = 0; i < AS_DICT(b)->count; i++) {
      Value v;
      if (!dict_get(AS_DICT(a), AS_DICT(b)->entries[i].key, &v) || !contains(j, v, AS_DICT(b)->entries[i].value)) return false;
    }
    return true;
  }
  if (IS_LIST(a) && IS_LIST(b)) {
    for (uint32_t i = 0; i < AS_LIST(b)->count; i++) {
      bool any = false;
      for (uint32_t k = 0; k < AS_LIST(a)->count && !any; k++) any = contains(j, AS_LIST(a)->items[k], AS_LIST(b)->items[i]);
      if (!any) return false;
    }
    return true;
  }
  if (IS_STRING(a) && IS_STRING(b))
    return AS_STRING(b)->len == 0 || memmem(AS_CSTR(a), AS_STRING(a)->len, AS_CSTR(b), AS_STRING(b)->len) != NULL;
  return jq_equal(j->vm, a, b);
}

/* The single output of argument [k] of a call ([fn](...)), each output
 * combined in turn by [body] — jq evaluates functions' value arguments
 * as cartesian products; for the one-argument string helpers the
 * outputs are simply iterated. */
static bool call(Jq *j, Node *n, Value in, ObjList *out)
{
  const char *f = n->name;
  int na = n->nargs;
  Vm *vm = j->vm;
  Buf b = {0};
#define IS(name, arity) (strcmp(f, name) == 0 && na == (arity))
  if (IS("empty", 0)) return true;
  if (IS("not", 0)) return emit(j, out, val_bool(!truthy(in)));
  if (IS("length", 0)) {
    if (IS_NIL(in)) return emit(j, out, val_int(0));
    if (IS_INT(in)) return emit(j, out, val_int(AS_INT(in) < 0 ? -AS_INT(in) : AS_INT(in)));
    if (IS_FLOAT(in)) return emit(j, out, val_float(fabs(AS_FLOAT(in))));
    if (IS_STRING(in)) return emit(j, out, val_int(AS_STRING(in)->nchars));
    if (IS_LIST(in)) return emit(j, out, val_int(AS_LIST(in)->count));
    if (IS_DICT(in)) return emit(j, out, val_int(AS_DICT(in)->count));
    bool r = jq_fail(j, "%s has no length", describe(j, in, &b));
    buf_free(&b);
    return r;
  }
  if (IS("utf8bytelength", 0) && IS_STRING(in)) return emit(j, out, val_int(AS_STRING(in)->len));
  if (IS("keys", 0) || IS("keys_unsorted", 0)) {
    if (IS_DICT(in)) {
      ObjList *l = list_new(vm, AS_DICT(in)->count);
      for (uint32_t i = 0; i < AS_DICT(in)->count; i++) list_push(vm, l, OBJ_VAL(AS_DICT(in)->entries[i].key));
      return emit(j, out, OBJ_VAL(l));
    }
    if (IS_LIST(in)) {
      ObjList *l = list_new(vm, AS_LIST(in)->count);
      for (uint32_t i = 0; i < AS_LIST(in)->count; i++) list_push(vm, l, val_int(i));
      return emit(j, out, OBJ_VAL(l));
    }
    bool r = jq_fail(j, "%s has no keys", describe(j, in, &b));
    buf_free(&b);
    return r;
  }
  if (IS("values", 0)) {
    if (IS_DICT(in)) {
      ObjList *l = list_new(vm, AS_DICT(in)->count);
      for (uint32_t i = 0; i < AS_DICT(in)->count; i++) list_push(vm, l, AS_DICT(in)->entries[i].value);
      return emit(j, out, OBJ_VAL(l));
    }
    if (IS_LIST(in)) return emit(j, out, in);
    bool r = jq_fail(j, "%s has no values", describe(j, in, &b));
    buf_free(&b);
    return r;
  }
  if (IS("type", 0)) return emit(j, out, OBJ_VAL(str_cstr(vm, jq_type(in))));
  if (IS("map", 1) || IS("map_values", 1)) {
    if (IS_DICT(in) && f[3] == '_') {
      ObjDict *d = dict_new(vm, AS_DICT(in)->count);
      for (uint32_t i = 0; i < AS_DICT(in)->count; i++) {
        ObjList *r = collect(j, n->args[0], AS_DICT(in)->entries[i].value);
        if (!r) return false;
        if (r->count) dict_set(vm, d, AS_DICT(in)->entries[i].key, r->items[0]);
      }
      return emit(j, out, OBJ_VAL(d));
    }
    if (!IS_LIST(in) && !IS_DICT(in)) return iterate(j, in, out);
    ObjList *src = list_new(vm, 0);
    if (!iterate(j, in, src)) return false;
    ObjList *l = list_new(vm, src->count);
    for (uint32_t i = 0; i < src->count; i++) {
      if (f[3] == '_') {
        ObjList *r = collect(j, n->args[0], src->items[i]);
        if (!r) return false;
        if (r->count) list_push(vm, l, r->items[0]);
      } else if (!ev(j, n->args[0], src->items[i], l)) {
        return false;
      }
    }
    return emit(j, out, OBJ_VAL(l));
  }
  if (IS("select", 1)) {
    ObjList *r = collect(j, n->args[0], in);
    if (!r) return false;
    for (uint32_t i = 0; i < r->count; i++)
      if (truthy(r->items[i]) && !emit(j, out, in)) return false;
    return true;
  }
  if (IS("recurse", 0)) return recurse_all(j, in, out);
  if (IS("has", 1)) {
    ObjList *r = collect(j, n->args[0], in);
    if (!r) return false;
    for (uint32_t i = 0; i < r->count; i++) {
      Value k = r->items[i], v;
      if (IS_DICT(in) && IS_STRING(k)) {
        if (!emit(j, out, val_bool(dict_get(AS_DICT(in), AS_STRING(k), &v)))) return false;
      } else if (IS_LIST(in) && (IS_INT(k) || IS_FLOAT(k))) {
        if (!emit(j, out, val_bool(AS_NUMBER(k) >= 0 && AS_NUMBER(k) < AS_LIST(in)->count))) return false;
      } else {
        Buf c = {0};
        bool res = jq_fail(j, "Cannot check whether %s has a %s key", jq_type(in), jq_type(k));
        buf_free(&c);
        return res;
      }
    }
    return true;
  }
  if (IS("add", 0)) {
    ObjList *src = list_new(vm, 0);
    if (!iterate(j, in, src)) return false;
    Value acc = val_nil();
    for (uint32_t i = 0; i < src->count; i++)
      if (!arith(j, T_PLUS, acc, src->items[i], &acc) || !step(j)) return false;
    return emit(j, out, acc);
  }
  if (IS("first", 0)) return index_value(j, in, val_int(0), out);
  if (IS("last", 0)) return index_value(j, in, val_int(-1), out);
  if (IS("first", 1) || IS("last", 1)) {
    ObjList *r = collect(j, n->args[0], in);
    if (!r) return false;
    if (r->count == 0) return true;
    return emit(j, out, f[0] == 'f' ? r->items[0] : r->items[r->count - 1]);
  }
  if (IS("limit", 2)) {
    ObjList *ns = collect(j, n->args[0], in);
    if (!ns) return false;
    for (uint32_t i = 0; i < ns->count; i++) {
      if (!IS_INT(ns->items[i]) && !IS_FLOAT(ns->items[i])) return jq_fail(j, "Invalid limit: must be a number");
      ObjList *r = collect(j, n->args[1], in);
      if (!r) return false;
      double lim = AS_NUMBER(ns->items[i]);
      for (uint32_t k = 0; k < r->count && k < lim; k++)
        if (!emit(j, out, r->items[k])) return false;
    }
    return true;
  }
  if (IS("reverse", 0)) {
    if (IS_NIL(in)) return emit(j, out, OBJ_VAL(list_new(vm, 0)));
    if (IS_STRING(in)) {
      ObjString *s = AS_STRING(in);
      Buf r = {0};
      for (int64_t i = s->nchars; i > 0; i--) {
        size_t a = str_byte_offset(s, i - 1), e = str_byte_offset(s, i);
        buf_append(&r, s->chars + a, e - a);
      }
      Value v = OBJ_VAL(str_new(vm, r.data ? r.data : "", r.len));
      buf_free(&r);
      return emit(j, out, v);
    }
    if (!IS_LIST(in)) {
      bool r = jq_fail(j, "Cannot reverse %s", describe(j, in, &b));
      buf_free(&b);
      return r;
    }
    ObjList *l = list_new(vm, AS_LIST(in)->count);
    for (uint32_t i = AS_LIST(in)->count; i > 0; i--) list_push(vm, l, AS_LIST(in)->items[i - 1]);
    return emit(j, out, OBJ_VAL(l));
  }
  if (IS("sort", 0)) return fn_sort(j, NULL, in, out, 0);
  if (IS("sort_by", 1)) return fn_sort(j, n->args[0], in, out, 0);
  if (IS("group_by", 1)) return fn_sort(j, n->args[0], in, out, 1);
  if (IS("unique", 0)) return fn_sort(j, NULL, in, out, 2);
  if (IS("unique_by", 1)) return fn_sort(j, n->args[0], in, out, 2);
  if (IS("min", 0) || IS("max", 0)) return fn_minmax(j, NULL, in, out, f[1] == 'a');
  if (IS("min_by", 1) || IS("max_by", 1)) return fn_minmax(j, n->args[0], in, out, f[1] == 'a');
  if (IS("to_entries", 0)) {
    if (IS_LIST(in)) {
      ObjList *l = list_new(vm, AS_LIST(in)->count);
      for (uint32_t i = 0; i < AS_LIST(in)->count; i++) {
        ObjDict *e = dict_new(vm, 2);
        dict_set_cstr(vm, e, "key", val_int(i));
        dict_set_cstr(vm, e, "value", AS_LIST(in)->items[i]);
        list_push(vm, l, OBJ_VAL(e));
      }
      return emit(j, out, OBJ_VAL(l));
    }
    if (!IS_DICT(in)) {
      bool r = jq_fail(j, "%s has no keys", describe(j, in, &b));
      buf_free(&b);
      return r;
    }
    ObjList *l = list_new(vm, AS_DICT(in)->count);
    for (uint32_t i = 0; i < AS_DICT(in)->count; i++) {
      ObjDict *e = dict_new(vm, 2);
      dict_set_cstr(vm, e, "key", OBJ_VAL(AS_DICT(in)->entries[i].key));
      dict_set_cstr(vm, e, "value", AS_DICT(in)->entries[i].value);
      list_push(vm, l, OBJ_VAL(e));
    }
    return emit(j, out, OBJ_VAL(l));
  }
  if (IS("from_entries", 0)) {
    if (!IS_LIST(in)) return jq_fail(j, "Cannot iterate over %s", jq_type(in));
    ObjDict *d = dict_new(vm, AS_LIST(in)->count);
    for (uint32_t i = 0; i < AS_LIST(in)->count; i++) {
      Value e = AS_LIST(in)->items[i], k = val_nil(), v = val_nil();
      if (IS_DICT(e)) {
        static const char *const kn[] = {"key", "k", "name", "Name", "Key", "K"};
        static const char *const vn[] = {"value", "v", "Value", "V"};
        for (size_t q = 0; q < 6 && !truthy(k); q++) dict_get_cstr(AS_DICT(e), kn[q], &k);
        for (size_t q = 0; q < 4 && IS_NIL(v); q++) dict_get_cstr(AS_DICT(e), vn[q], &v);
      }
      if (IS_INT(k) || IS_FLOAT(k) || IS_BOOL(k)) k = OBJ_VAL(to_string_val(j, k));
      if (!IS_STRING(k)) return jq_fail(j, "Cannot use %s as object key", jq_type(k));
      dict_set(vm, d, AS_STRING(k), v);
    }
    return emit(j, out, OBJ_VAL(d));
  }
  if (IS("with_entries", 1)) {
    if (!IS_DICT(in)) {
      bool r = jq_fail(j, "%s has no keys", describe(j, in, &b));
      buf_free(&b);
      return r;
    }
    ObjDict *d = dict_new(vm, AS_DICT(in)->count);
    for (uint32_t i = 0; i < AS_DICT(in)->count; i++) {
      ObjDict *e = dict_new(vm, 2);
      dict_set_cstr(vm, e, "key", OBJ_VAL(AS_DICT(in)->entries[i].key));
      dict_set_cstr(vm, e, "value", AS_DICT(in)->entries[i].value);
      ObjList *r = collect(j, n->args[0], OBJ_VAL(e));
      if (!r) return false;
      for (uint32_t q = 0; q < r->count; q++) {
        Value k = val_nil(), v = val_nil();
        if (IS_DICT(r->items[q])) {
          dict_get_cstr(AS_DICT(r->items[q]), "key", &k);
          dict_get_cstr(AS_DICT(r->items[q]), "value", &v);
        }
        if (IS_INT(k) || IS_FLOAT(k) || IS_BOOL(k)) k = OBJ_VAL(to_string_val(j, k));
        if (!IS_STRING(k)) return jq_fail(j, "Cannot use %s as object key", jq_type(k));
        dict_set(vm, d, AS_STRING(k), v);
      }
    }
    return emit(j, out, OBJ_VAL(d));
  }
  if (IS("tostring", 0)) return emit(j, out, OBJ_VAL(to_string_val(j, in)));
  if (IS("tojson", 0)) {
    Buf t = {0};
    json_text(vm, in, &t);
    Value v = OBJ_VAL(str_new(vm, t.data ? t.data : "", t.len));
    buf_free(&t);
    return emit(j, out, v);
  }
  if (IS("fromjson", 0) || IS("tonumber", 0)) {
    if (f[0] == 't' && (IS_INT(in) || IS_FLOAT(in))) return emit(j, out, in);
    if (!IS_STRING(in)) {
      bool r = jq_fail(j, "%s cannot be parsed as %s", describe(j, in, &b), f[0] == 't' ? "a number" : "JSON");
      buf_free(&b);
      return r;
    }
    Value v;
    if (!json_parse_value(vm, AS_CSTR(in), AS_STRING(in)->len, &v) || (f[0] == 't' && !IS_INT(v) && !IS_FLOAT(v))) {
      err_clear(vm);
      bool r = jq_fail(j, "%s cannot be parsed as %s", describe(j, in, &b), f[0] == 't' ? "a number" : "JSON");
      buf_free(&b);
      return r;
    }
    return emit(j, out, v);
  }
  if (IS("ascii_downcase", 0) || IS("ascii_upcase", 0)) {
    if (!IS_STRING(in)) {
      bool r = jq_fail(j, "%s cannot be %s", describe(j, in, &b), f[6] == 'd' ? "lowercased" : "uppercased");
      buf_free(&b);
      return r;
    }
    ObjString *s = AS_STRING(in);
    Buf r = {0};
    buf_append(&r, s->chars, s->len);
    for (size_t i = 0; i < r.len; i++) {
      if (f[6] == 'd' && r.data[i] >= 'A' && r.data[i] <= 'Z') r.data[i] = (char)(r.data[i] + 32);
      if (f[6] == 'u' && r.data[i] >= 'a' && r.data[i] <= 'z') r.data[i] = (char)(r.data[i] - 32);
    }
    Value v = OBJ_VAL(str_new(vm, r.data ? r.data : "", r.len));
    buf_free(&r);
    return emit(j, out, v);
  }
  if (IS("floor", 0) || IS("ceil", 0) || IS("sqrt", 0) || IS("abs", 0)) {
    if (!IS_INT(in) && !IS_FLOAT(in)) {
      bool r = jq_fail(j, "%s number required", describe(j, in, &b));
      buf_free(&b);
      return r;
    }
    double d = AS_NUMBER(in);
    if (f[0] == 'f') return emit(j, out, num_val(floor(d)));
    if (f[0] == 'c') return emit(j, out, num_val(ceil(d)));
    if (f[0] == 'a') return emit(j, out, IS_INT(in) && AS_INT(in) != INT64_MIN ? val_int(AS_INT(in) < 0 ? -AS_INT(in) : AS_INT(in)) : val_float(fabs(d)));
    return emit(j, out, val_float(sqrt(d)));
  }
  if (IS("flatten", 0) || IS("flatten", 1)) {
    double depth = 1e9;
    if (na == 1) {
      ObjList *r = collect(j, n->args[0], in);
      if (!r) return false;
      if (r->count == 0) return true;
      if (!IS_INT(r->items[0]) && !IS_FLOAT(r->items[0])) return jq_fail(j, "flatten depth must not be negative");
      depth = AS_NUMBER(r->items[0]);
      if (depth < 0) return jq_fail(j, "flatten depth must not be negative");
    }
    if (!IS_LIST(in)) return jq_fail(j, "Cannot flatten %s", jq_type(in));
    ObjList *l = list_new(vm, 0);
    if (!flatten_into(j, l, AS_LIST(in), depth)) return false;
    return emit(j, out, OBJ_VAL(l));
  }
  if (IS("any", 0) || IS("all", 0) || IS("any", 1) || IS("all", 1)) {
    bool is_any = f[1] == 'n';
    ObjList *src = list_new(vm, 0);
    if (!iterate(j, in, src)) return false;
    bool acc = !is_any;
    for (uint32_t i = 0; i < src->count && acc == !is_any; i++) {
      if (na == 0) {
        acc = truthy(src->items[i]);
        continue;
      }
      ObjList *r = collect(j, n->args[0], src->items[i]);
      if (!r) return false;
      for (uint32_t k = 0; k < r->count; k++) {
        if (is_any && truthy(r->items[k])) acc = true;
        if (!is_any && !truthy(r->items[k])) acc = false;
      }
    }
    return emit(j, out, val_bool(acc));
  }
  if (IS("range", 1) || IS("range", 2)) {
    ObjList *a = collect(j, n->args[0], in), *e = na == 2 ? collect(j, n->args[1], in) : NULL;
    if (!a || (na == 2 && !e)) return false;
    ObjList *from = na == 2 ? a : NULL, *to = na == 2 ? e : a;
    for (uint32_t q = 0; q < (from ? from->count : 1); q++) {
      for (uint32_t r = 0; r < to->count; r++) {
        Value lo = from ? from->items[q] : val_int(0), hi = to->items[r];
        if (!(IS_INT(lo) || IS_FLOAT(lo)) || !(IS_INT(hi) || IS_FLOAT(hi))) return jq_fail(j, "Range bounds must be numeric");
        for (double x = AS_NUMBER(lo); x < AS_NUMBER(hi); x += 1)
          if (!emit(j, out, num_val(x))) return false;
      }
    }
    return true;
  }
  if (IS("error", 0) || IS("error", 1)) {
    Value msg = in;
    if (na == 1) {
      ObjList *r = collect(j, n->args[0], in);
      if (!r) return false;
      if (r->count == 0) return true;
      msg = r->items[0];
    }
    if (IS_STRING(msg)) return jq_fail(j, "%s", AS_CSTR(msg));
    Buf t = {0};
    json_text(vm, msg, &t);
    bool r = jq_fail(j, "%s (not a string)", t.data ? t.data : "null");
    buf_free(&t);
    return r;
  }
  /* type filters */
  static const struct {
    const char *name;
    int rank_lo, rank_hi;
  } filters[] = {{"nulls", 0, 0},  {"booleans", 1, 2}, {"numbers", 3, 3},  {"strings", 4, 4},
                 {"arrays", 5, 5}, {"objects", 6, 6},  {"iterables", 5, 6}, {"scalars", 0, 4}};
  for (size_t q = 0; q < sizeof filters / sizeof filters[0]; q++) {
    if (IS(filters[q].name, 0)) {
      int r = type_rank(in);
      if (r >= filters[q].rank_lo && r <= filters[q].rank_hi) return emit(j, out, in);
      return true;
    }
  }
  /* one string argument against a string input */
  static const char *const strfns[] = {"join", "split", "startswith", "endswith", "ltrimstr", "rtrimstr", "contains"};
  for (size_t q = 0; q < sizeof strfns / sizeof strfns[0]; q++) {
    if (!IS(strfns[q], 1)) continue;
    ObjList *r = collect(j, n->args[0], in);
    if (!r) return false;
    for (uint32_t k = 0; k < r->count; k++) {
      Value a = r->items[k];
      if (q == 6) {
        if (type_rank(in) != type_rank(a) && !(IS_BOOL(in) && IS_BOOL(a))) {
          Buf c = {0}, d = {0};
          bool res = jq_fail(j, "%s and %s cannot have their containment checked", describe(j, in, &c), describe(j, a, &d));
          buf_free(&c);
          buf_free(&d);
          return res;
        }
        if (!emit(j, out, val_bool(contains(j, in, a)))) return false;
        continue;
      }
      if (q == 0) { /* join */
        if (!IS_STRING(a)) return jq_fail(j, "join separator must be a string");
        ObjList *src = list_new(vm, 0);
        if (!iterate(j, in, src)) return false;
        Buf t = {0};
        for (uint32_t i = 0; i < src->count; i++) {
          Value x = src->items[i];
          if (i) buf_append(&t, AS_CSTR(a), AS_STRING(a)->len);
          if (IS_NIL(x)) continue;
          if (IS_STRING(x)) buf_append(&t, AS_CSTR(x), AS_STRING(x)->len);
          else if (IS_INT(x) || IS_FLOAT(x) || IS_BOOL(x)) json_text(vm, x, &t);
          else {
            buf_free(&t);
            return jq_fail(j, "Cannot join with %s", jq_type(x));
          }
          if (!mem_fits(vm, t.len)) {
            buf_free(&t);
            return err_memory(vm);
          }
        }
        Value v = OBJ_VAL(str_new(vm, t.data ? t.data : "", t.len));
        buf_free(&t);
        if (!emit(j, out, v)) return false;
        continue;
      }
      if (!IS_STRING(in) || !IS_STRING(a)) {
        if (q == 1) return jq_fail(j, "split input and separator must be strings");
        if (q == 2 || q == 3) return jq_fail(j, "%s() requires string inputs", strfns[q]);
        if (!emit(j, out, in)) return false; /* ltrimstr/rtrimstr leave other inputs alone */
        continue;
      }
      ObjString *s = AS_STRING(in), *p = AS_STRING(a);
      bool pre = s->len >= p->len && memcmp(s->chars, p->chars, p->len) == 0;
      bool suf = s->len >= p->len && memcmp(s->chars + s->len - p->len, p->chars, p->len) == 0;
      Value v;
      if (q == 1) {
        if (!arith(j, T_SLASH, in, a, &v)) return false;
      } else if (q == 2) v = val_bool(pre);
      else if (q == 3) v = val_bool(suf);
      else if (q == 4) v = pre ? OBJ_VAL(str_new(vm, s->chars + p->len, s->len - p->len)) : in;
      else v = suf ? OBJ_VAL(str_new(vm, s->chars, s->len - p->len)) : in;
      if (!emit(j, out, v)) return false;
    }
    return true;
  }
#undef IS
  return jq_fail(j, "%s/%d is not defined", f, na);
}

static bool ev(Jq *j, Node *n, Value in, ObjList *out)
{
  if (!step(j)) return false;
  Vm *vm = j->vm;
  switch (n->kind) {
  case N_IDENT: return emit(j, out, in);
  case N_RECURSE: return recurse_all(j, in, out);
  case N_LIT: return emit(j, out, n->lit);
  case N_VAR:
    for (int i = j->nvars - 1; i >= 0; i--)
      if (strcmp(j->vars[i].name, n->name) == 0) return emit(j, out, j->vars[i].v);
    return jq_fail(j, "$%s is not defined", n->name);
  case N_INDEX: {
    ObjList *t = collect(j, n->a, in);
    if (!t) return false;
    if (n->b->kind == N_LIT) {
      for (uint32_t i = 0; i < t->count; i++)
        if (!index_value(j, t->items[i], n->b->lit, out)) return false;
      return true;
    }
    ObjList *k = collect(j, n->b, in);
    if (!k) return false;
    for (uint32_t i = 0; i < t->count; i++)
      for (uint32_t q = 0; q < k->count; q++)
        if (!index_value(j, t->items[i], k->items[q], out)) return false;
    return true;
  }
  case N_SLICE: {
    ObjList *t = collect(j, n->a, in), *a = NULL, *b = NULL;
    if (!t) return false;
    if (n->b && !(a = collect(j, n->b, in))) return false;
    if (n->c && !(b = collect(j, n->c, in))) return false;
    for (uint32_t i = 0; i < t->count; i++)
      for (uint32_t x = 0; x < (a ? a->count : 1); x++)
        for (uint32_t y = 0; y < (b ? b->count : 1); y++)
          if (!slice_value(j, t->items[i], a ? a->items[x] : val_nil(), b ? b->items[y] : val_nil(), out)) return false;
    return true;
  }
  case N_ITER: {
    ObjList *t = collect(j, n->a, in);
    if (!t) return false;
    for (uint32_t i = 0; i < t->count; i++)
      if (!iterate(j, t->items[i], out)) return false;
    return true;
  }
  case N_PIPE: {
    ObjList *t = collect(j, n->a, in);
    if (!t) return false;
    for (uint32_t i = 0; i < t->count; i++)
      if (!ev(j, n->b, t->items[i], out)) return false;
    return true;
  }
  case N_COMMA: return ev(j, n->a, in, out) && ev(j, n->b, in, out);
  case N_TRY: {
    uint32_t before = out->count;
    (void)before;
    if (ev(j, n->a, in, out)) return true;
    if (vm->heap.doomed || j->steps > JQ_MAX_STEPS) return false;
    err_clear(vm);
    j->failed = false;
    return true;
  }
  case N_ALT: {
    ObjList *t = list_new(vm, 0);
    bool ok = ev(j, n->a, in, t);
    if (!ok) {
      if (vm->heap.doomed || j->steps > JQ_MAX_STEPS) return false;
      err_clear(vm);
      j->failed = false;
    }
    bool any = false;
    for (uint32_t i = 0; i < t->count; i++)
      if (truthy(t->items[i])) {
        any = true;
        if (!emit(j, out, t->items[i])) return false;
      }
    return any ? true : ev(j, n->b, in, out);
  }
  case N_AND:
  case N_OR: {
    ObjList *a = collect(j, n->a, in);
    if (!a) return false;
    for (uint32_t i = 0; i < a->count; i++) {
      bool ta = truthy(a->items[i]);
      if (n->kind == N_AND ? !ta : ta) {
        if (!emit(j, out, val_bool(ta))) return false;
        continue;
      }
      ObjList *b = collect(j, n->b, in);
      if (!b) return false;
      for (uint32_t q = 0; q < b->count; q++)
        if (!emit(j, out, val_bool(truthy(b->items[q])))) return false;
    }
    return true;
  }
  case N_BIN: {
    ObjList *b = collect(j, n->b, in), *a;
    if (!b || !(a = collect(j, n->a, in))) return false;
    for (uint32_t q = 0; q < b->count; q++)
      for (uint32_t i = 0; i < a->count; i++) {
        Value r;
        if (n->op >= T_EQ && n->op <= T_GE) r = val_bool(compare_op(j, n->op, a->items[i], b->items[q]));
        else if (!arith(j, n->op, a->items[i], b->items[q], &r)) return false;
        if (!emit(j, out, r)) return false;
      }
    return true;
  }
  case N_NEG: {
    ObjList *a = collect(j, n->a, in);
    if (!a) return false;
    for (uint32_t i = 0; i < a->count; i++) {
      Value v = a->items[i];
      if (IS_INT(v) && AS_INT(v) != INT64_MIN) v = val_int(-AS_INT(v));
      else if (IS_INT(v) || IS_FLOAT(v)) v = val_float(-AS_NUMBER(v));
      else {
        Buf b = {0};
        bool r = jq_fail(j, "%s cannot be negated", describe(j, v, &b));
        buf_free(&b);
        return r;
      }
      if (!emit(j, out, v)) return false;
    }
    return true;
  }
  case N_ARRAY: {
    ObjList *l = n->a ? collect(j, n->a, in) : list_new(vm, 0);
    return l && emit(j, out, OBJ_VAL(l));
  }
  case N_OBJECT: {
    /* the cartesian product of every key's and value's outputs */
    ObjList *acc = list_new(vm, 1);
    list_push(vm, acc, OBJ_VAL(dict_new(vm, 0)));
    for (int e = 0; e < n->nargs; e += 2) {
      ObjList *ks = collect(j, n->args[e], in), *vs;
      if (!ks || !(vs = collect(j, n->args[e + 1], in))) return false;
      ObjList *next = list_new(vm, 0);
      for (uint32_t a = 0; a < acc->count; a++)
        for (uint32_t k = 0; k < ks->count; k++) {
          if (!IS_STRING(ks->items[k])) {
            Buf b = {0};
            bool r = jq_fail(j, "Object keys must be strings, not %s", jq_type(ks->items[k]));
            buf_free(&b);
            return r;
          }
          for (uint32_t v = 0; v < vs->count; v++) {
            if (!step(j)) return false;
            ObjDict *d = dict_copy(vm, AS_DICT(acc->items[a]));
            dict_set(vm, d, AS_STRING(ks->items[k]), vs->items[v]);
            list_push(vm, next, OBJ_VAL(d));
          }
        }
      acc = next;
    }
    for (uint32_t a = 0; a < acc->count; a++)
      if (!emit(j, out, acc->items[a])) return false;
    return true;
  }
  case N_IF: {
    ObjList *c = collect(j, n->a, in);
    if (!c) return false;
    for (uint32_t i = 0; i < c->count; i++) {
      Node *branch = truthy(c->items[i]) ? n->b : n->c;
      if (!branch) {
        if (!emit(j, out, in)) return false;
      } else if (!ev(j, branch, in, out)) {
        return false;
      }
    }
    return true;
  }
  case N_AS: {
    ObjList *vals = collect(j, n->a, in);
    if (!vals) return false;
    if (j->nvars == JQ_MAX_DEPTH) return jq_fail(j, "too many variables");
    for (uint32_t i = 0; i < vals->count; i++) {
      j->vars[j->nvars].name = n->name;
      j->vars[j->nvars].v = vals->items[i];
      j->nvars++;
      bool ok = ev(j, n->b, in, out);
      j->nvars--;
      if (!ok) return false;
    }
    return true;
  }
  case N_CALL: return call(j, n, in, out);
  }
  return jq_fail(j, "internal error");
}

static bool run_jq(Vm *vm, const char *fn, int argc, Value *argv, ObjList **res)
{
  Value e = arg(argc, argv, 1);
  if (!IS_STRING(e)) return err_throw_str(vm, "%s: expression must be a string, got %s", fn, val_type_name(e));
  Jq *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->vm = vm;
  j->src = AS_CSTR(e);
  j->len = AS_STRING(e)->len;
  Node *prog = NULL;
  bool ok = lex(j) && (prog = parse_pipe(j, true)) != NULL;
  if (ok && j->tok != T_EOF) ok = jq_fail(j, "syntax error: unexpected text at offset %zu", j->pos);
  if (ok) {
    *res = list_new(vm, 0);
    ok = ev(j, prog, arg(argc, argv, 0), *res);
  }
  free_nodes(j);
  buf_free(&j->tokstr);
  free(j);
  return ok;
}

bool std_jq(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjList *r;
  if (!run_jq(vm, "jq", argc, argv, &r)) return false;
  *out = OBJ_VAL(r);
  return true;
}

bool std_jq_first(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjList *r;
  if (!run_jq(vm, "jq_first", argc, argv, &r)) return false;
  *out = r->count ? r->items[0] : val_nil();
  return true;
}

/* ======================================================================
 * json_extract
 * ====================================================================== */

/* The end (one past) of the balanced bracket at s[i], or 0. */
static size_t balanced_end(const char *s, size_t n, size_t i, size_t *budget)
{
  char stack[JQ_MAX_DEPTH * 2];
  int depth = 0;
  bool in_str = false;
  for (size_t k = i; k < n; k++) {
    char c = s[k];
    if (*budget == 0) return 0;
    --*budget;
    if (in_str) {
      if (c == '\\') k++;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') {
      if (depth == (int)sizeof stack) return 0;
      stack[depth++] = c == '{' ? '}' : ']';
    } else if (c == '}' || c == ']') {
      if (depth == 0 || stack[depth - 1] != c) return 0;
      if (--depth == 0) return k + 1;
    }
  }
  return 0;
}

static bool try_parse(Vm *vm, const char *s, size_t n, Value *out)
{
  if (json_parse_value(vm, s, n, out)) return true;
  if (vm->heap.doomed) return false;
  err_clear(vm);
  return false;
}

bool std_json_extract(Vm *vm, int argc, Value *argv, Value *out)
{
  Value tv = arg(argc, argv, 0), key = arg(argc, argv, 1);
  if (!IS_STRING(tv)) return err_throw_str(vm, "json_extract: expected a string, got %s", val_type_name(tv));
  const char *s = AS_CSTR(tv);
  size_t n = AS_STRING(tv)->len;
  /* a fenced block: the text between the first ``` line and the next ``` */
  const char *fence = memmem(s, n, "```", 3);
  if (fence) {
    const char *body = fence + 3;
    while (body < s + n && *body != '\n') body++; /* the info string (json) */
    const char *end = memmem(body, (size_t)(s + n - body), "```", 3);
    if (end) {
      s = body;
      n = (size_t)(end - body);
    }
  }
  /* trimmed whole text */
  size_t a = 0, b = n;
  while (a < b && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t')) a++;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n' || s[b - 1] == '\r' || s[b - 1] == '\t')) b--;
  Value v;
  bool found = a < b && try_parse(vm, s + a, b - a, &v);
  /* each candidate costs a scan: the bytes scanned in all are bounded
   * (quadratic input such as '{"{"{"...' ends as "no JSON") */
  size_t budget = (size_t)64 << 20;
  for (size_t i = a; !found && i < b && budget > 0; i++) {
    if (vm->heap.doomed) return err_memory(vm);
    if (s[i] != '{' && s[i] != '[') continue;
    size_t e = balanced_end(s, b, i, &budget);
    if (e && try_parse(vm, s + i, e - i, &v)) found = true;
  }
  if (vm->heap.doomed) return err_memory(vm);
  if (!found) return err_throw_str(vm, "json_extract: no JSON found in text");
  if (!IS_NIL(key)) {
    if (!IS_STRING(key)) return err_throw_str(vm, "json_extract: key must be a string, got %s", val_type_name(key));
    Value x = val_nil();
    if (IS_DICT(v)) dict_get(AS_DICT(v), AS_STRING(key), &x);
    v = x;
  }
  *out = v;
  return true;
}
