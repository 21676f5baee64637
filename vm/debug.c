/*
 * debug.c: the bytecode disassembler (dbg_), used by `harn disasm FILE`
 * and when debugging the compiler, and the syntax-tree dump (parse_dump).
 *
 * Each function prints a header, then one line per instruction:
 *
 *   0012    3  GET_GLOBAL        g3 (fib)
 *   offset line opcode           operands (constants shown by display)
 *
 * then the functions found among its constants, recursively. The operand
 * layouts come from opcodes.def (interp_op_operands); the few instructions
 * whose operands mean something special (constants, globals, jump
 * targets, CLOSURE's capture list) are decoded by name here, the fused
 * operand forms (ADD_LK, LT_LK_JF...) from the operand letters of their
 * opcodes.def meaning. The copy-on-write forms print like their plain
 * relatives (GET_LOCAL_BORROW a slot, SET_PROP_OWN / PUSH_OWN their name
 * constant, INVOKE_BORROW as INVOKE); the inline cache byte of GET_PROP /
 * INVOKE is 0 as compiled and is shown (`[ic N]`) only once a run has
 * rewritten it.
 *
 * It also holds parse_dump (parser.h), the syntax tree printed as an
 * S-expression for the parser's unit tests: one form per node,
 * `(kind child...)`, strings quoted with C escapes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "interp.h"
#include "object.h"
#include "parser.h"
#include "state.h"

static uint16_t u16_at(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t u32_at(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Print constant [k] of [fn] (short display). */
static void show_const(Vm *vm, ObjFunction *fn, unsigned k, Buf *out)
{
  if (k == NO_CONST) {
    buf_puts(out, "-");
    return;
  }
  if (k >= fn->chunk.nconsts) {
    buf_printf(out, "k%u(?)", k);
    return;
  }
  Value v = fn->chunk.consts[k];
  buf_printf(out, "k%u ", k);
  if (IS_OBJ_TYPE(v, OBJ_FUNCTION)) {
    ObjFunction *f = AS_FUNCTION(v);
    buf_printf(out, "<function %s>", f->name && f->name->len ? f->name->chars : "(anonymous)");
    return;
  }
  Buf tmp = {0};
  val_display(vm, v, &tmp);
  if (IS_STRING(v)) buf_putc(out, '"');
  if (tmp.len > 40) {
    buf_append(out, tmp.data, 40);
    buf_puts(out, "...");
  } else if (tmp.data) {
    buf_append(out, tmp.data, tmp.len);
  }
  if (IS_STRING(v)) buf_putc(out, '"');
  buf_free(&tmp);
}

static void show_global(Vm *vm, unsigned g, Buf *out)
{
  Interp *in = vm->interp;
  if ((int)g < in->nglobals) buf_printf(out, "g%u (%s)", g, in->globals[g].name->chars);
  else buf_printf(out, "g%u", g);
}

/* The inline cache byte of GET_PROP / INVOKE (interp.c "inline caches"):
 * 0 as compiled, so shown only once a run has rewritten it. */
static void show_cache(uint8_t ic, Buf *out)
{
  if (ic) buf_printf(out, " [ic %u]", ic);
}

/* The meaning texts of opcodes.def: the operand forms are decoded from
 * their leading operand letters ("s k T: ..."). */
static const char *const op_meanings[NUM_OPS] = {
#define OP(name, bytes, effect, meaning) meaning,
#include "opcodes.def"
#undef OP
};

/* Operands of a fused instruction (opcodes.def "operand forms"): the
 * letters before the ':' of its meaning, k a u16 constant, s/t a u16
 * slot, T a u32 jump target. */
static void show_operand_form(Vm *vm, ObjFunction *fn, uint8_t op, const uint8_t *p, Buf *out)
{
  for (const char *m = op_meanings[op]; *m && *m != ':'; m++) {
    if (*m == ' ') continue;
    if (*m == 'k') {
      show_const(vm, fn, u16_at(p), out);
      p += 2;
    } else if (*m == 's' || *m == 't') {
      buf_printf(out, "s%u", u16_at(p));
      p += 2;
    } else if (*m == 'T') {
      buf_printf(out, "-> %04u", u32_at(p));
      p += 4;
    }
    if (m[1] == ' ') buf_putc(out, ' ');
  }
}

long dbg_disasm_instruction(Vm *vm, ObjFunction *fn, long off, Buf *out)
{
  const uint8_t *code = fn->chunk.code;
  uint8_t op = code[off];
  int line = interp_line_at(fn, off);
  buf_printf(out, "%04ld %4d  ", off, line);
  if (op >= NUM_OPS) {
    buf_printf(out, "??? 0x%02x\n", op);
    return off + 1;
  }
  buf_printf(out, "%-16s ", interp_op_names[op]);
  const uint8_t *p = code + off + 1;
  long next = off + 1 + interp_op_operands[op];
  switch ((Opcode)op) {
  case OP_CONST:
  case OP_SET_PROP:
  case OP_SET_PROP_OWN:
  case OP_PUSH_OWN:
  case OP_DICT_REST:
    show_const(vm, fn, u16_at(p), out);
    break;
  case OP_INT8: buf_printf(out, "%d", (int8_t)p[0]); break;
  case OP_GET_GLOBAL:
  case OP_GET_CALLEE:
    show_global(vm, u16_at(p), out);
    if (u16_at(p + 2) != NO_CONST) {
      buf_puts(out, " suggest ");
      show_const(vm, fn, u16_at(p + 2), out);
    }
    break;
  case OP_SET_GLOBAL:
  case OP_MAKE_STRUCT: show_global(vm, u16_at(p), out); break;
  case OP_DEFINE_GLOBAL:
    show_global(vm, u16_at(p), out);
    buf_printf(out, "%s%s", (p[2] & 1) ? " var" : "", (p[2] & 2) ? " let" : "");
    break;
  case OP_IMPL_METHOD:
    show_global(vm, u16_at(p), out);
    buf_putc(out, ' ');
    show_const(vm, fn, u16_at(p + 2), out);
    break;
  case OP_JUMP:
  case OP_LOOP:
  case OP_JUMP_IF_FALSE:
  case OP_JUMP_IF_TRUE:
  case OP_JUMP_IF_NOT_NIL:
  case OP_TRY_UNWRAP: buf_printf(out, "-> %04u", u32_at(p)); break;
  case OP_ARG_GIVEN: buf_printf(out, "arg %u -> %04u", p[0], u32_at(p + 1)); break;
  case OP_SETUP_TRY:
    buf_printf(out, "catch -> %04u type ", u32_at(p));
    show_const(vm, fn, u16_at(p + 4), out);
    break;
  case OP_FOR_NEXT: buf_printf(out, "s%u done -> %04u", u16_at(p), u32_at(p + 2)); break;
  case OP_FOR_PREP:
  case OP_GET_LOCAL:
  case OP_GET_LOCAL_BORROW:
  case OP_SET_LOCAL: buf_printf(out, "s%u", u16_at(p)); break;
  case OP_GET_CAPTURE:
  case OP_SET_CAPTURE:
  case OP_PATCH_SELF: buf_printf(out, "c%u", u16_at(p)); break;
  case OP_CALL:
  case OP_TAIL_CALL:
  case OP_INTERP: buf_printf(out, "%u", p[0]); break;
  case OP_PARALLEL: buf_printf(out, "mode %u%s", p[0], p[1] ? " as stream" : ""); break;
  case OP_SELECT: buf_printf(out, "cases %u mode %u", p[0], p[1]); break;
  case OP_CALL_BUILTIN: {
    unsigned idx = u16_at(p);
    buf_printf(out, "%s argc %u", (int)idx < builtin_count ? builtin_table[idx].name : "?", p[2]);
    break;
  }
  case OP_INVOKE:
  case OP_INVOKE_BORROW:
    show_const(vm, fn, u16_at(p), out);
    buf_printf(out, " argc %u%s", p[2], p[3] ? " ?." : "");
    show_cache(p[4], out);
    break;
  case OP_INVOKE_SPREAD:
    show_const(vm, fn, u16_at(p), out);
    if (p[2]) buf_puts(out, " ?.");
    break;
  case OP_GET_PROP:
    show_const(vm, fn, u16_at(p), out);
    if (p[2]) buf_puts(out, " ?.");
    show_cache(p[3], out);
    break;
  case OP_GET_INDEX:
    if (p[0]) buf_puts(out, "?[");
    break;
  case OP_RANGE:
    if (p[0]) buf_puts(out, "exclusive");
    break;
  case OP_GET_PROP_L:
    buf_printf(out, "s%u ", u16_at(p));
    show_const(vm, fn, u16_at(p + 2), out);
    if (p[4]) buf_puts(out, " ?.");
    show_cache(p[5], out);
    break;
  case OP_MATCH_ENUM:
    show_const(vm, fn, u16_at(p), out);
    buf_putc(out, ' ');
    show_const(vm, fn, u16_at(p + 2), out);
    break;
  case OP_RAISE:
    buf_printf(out, "kind %u ", p[0]);
    show_const(vm, fn, u16_at(p + 1), out);
    break;
  case OP_CLOSURE: {
    unsigned k = u16_at(p);
    show_const(vm, fn, k, out);
    if (k < fn->chunk.nconsts && IS_OBJ_TYPE(fn->chunk.consts[k], OBJ_FUNCTION)) {
      ObjFunction *f = AS_FUNCTION(fn->chunk.consts[k]);
      const uint8_t *q = p + 2;
      for (uint16_t i = 0; i < f->ncaptures; i++, q += 3)
        buf_printf(out, " %s%u", q[0] ? "s" : "c", u16_at(q + 1));
      next += 3L * f->ncaptures;
    }
    break;
  }
  case OP_ADD_K:
  case OP_ADD_L:
  case OP_ADD_LK:
  case OP_ADD_LL:
  case OP_SUB_K:
  case OP_SUB_L:
  case OP_SUB_LK:
  case OP_SUB_LL:
  case OP_MUL_K:
  case OP_MUL_L:
  case OP_MUL_LK:
  case OP_MUL_LL:
  case OP_DIV_K:
  case OP_DIV_L:
  case OP_DIV_LK:
  case OP_DIV_LL:
  case OP_MOD_K:
  case OP_MOD_L:
  case OP_MOD_LK:
  case OP_MOD_LL:
  case OP_INC_LOCAL:
  case OP_EQ_JF:
  case OP_EQ_K_JF:
  case OP_EQ_LK_JF:
  case OP_EQ_LL_JF:
  case OP_NE_JF:
  case OP_NE_K_JF:
  case OP_NE_LK_JF:
  case OP_NE_LL_JF:
  case OP_LT_JF:
  case OP_LT_K_JF:
  case OP_LT_LK_JF:
  case OP_LT_LL_JF:
  case OP_LE_JF:
  case OP_LE_K_JF:
  case OP_LE_LK_JF:
  case OP_LE_LL_JF:
  case OP_GT_JF:
  case OP_GT_K_JF:
  case OP_GT_LK_JF:
  case OP_GT_LL_JF:
  case OP_GE_JF:
  case OP_GE_K_JF:
  case OP_GE_LK_JF:
  case OP_GE_LL_JF: show_operand_form(vm, fn, op, p, out); break;
  default:
    if (interp_op_operands[op] == 1) buf_printf(out, "%u", p[0]);
    else if (interp_op_operands[op] == 2) buf_printf(out, "%u", u16_at(p));
    break;
  }
  buf_putc(out, '\n');
  return next;
}

static void disasm(Vm *vm, ObjFunction *fn, Buf *out, int depth)
{
  const char *name = fn->name && fn->name->len ? fn->name->chars : depth == 0 ? "<main>" : "<anonymous>";
  buf_printf(out, "== %s (%s) params %u%s, locals %u, captures %u ==\n", name,
             fn->file ? fn->file->chars : "?", fn->nparams, fn->has_rest ? " (rest)" : "",
             fn->nlocals, fn->ncaptures);
  for (long off = 0; off < (long)fn->chunk.count;) off = dbg_disasm_instruction(vm, fn, off, out);
  buf_putc(out, '\n');
  if (depth > 200) return;
  for (uint32_t k = 0; k < fn->chunk.nconsts; k++)
    if (IS_OBJ_TYPE(fn->chunk.consts[k], OBJ_FUNCTION)) disasm(vm, AS_FUNCTION(fn->chunk.consts[k]), out, depth + 1);
}

void dbg_disasm_function(Vm *vm, ObjFunction *fn, Buf *out) { disasm(vm, fn, out, 0); }

/* ---- the syntax tree as an S-expression (parse_dump) -------------------- */

static void dump(const Node *n, Buf *o);

static void dump_str(const char *s, size_t len, Buf *o)
{
  buf_putc(o, '"');
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '"' || c == '\\') {
      buf_putc(o, '\\');
      buf_putc(o, c);
    } else if (c == '\n') {
      buf_puts(o, "\\n");
    } else if (c == '\t') {
      buf_puts(o, "\\t");
    } else {
      buf_putc(o, c);
    }
  }
  buf_putc(o, '"');
}

static void dump_list(const NodeList *l, Buf *o)
{
  for (int i = 0; i < l->count; i++) {
    buf_putc(o, ' ');
    dump(l->items[i], o);
  }
}

static void dump_opt(const Node *n, Buf *o)
{
  buf_putc(o, ' ');
  if (n) dump(n, o);
  else buf_putc(o, '_');
}

static void dump_type(const TypeExpr *t, Buf *o)
{
  if (!t) {
    buf_puts(o, "?");
    return;
  }
  switch (t->kind) {
  case TY_NAME:
    buf_puts(o, t->name);
    if (t->nargs) {
      buf_putc(o, '<');
      for (int i = 0; i < t->nargs; i++) {
        if (i) buf_puts(o, ", ");
        dump_type(t->args[i], o);
      }
      buf_putc(o, '>');
    }
    break;
  case TY_UNION:
    buf_putc(o, '(');
    for (int i = 0; i < t->nargs; i++) {
      if (i) buf_puts(o, " | ");
      dump_type(t->args[i], o);
    }
    buf_putc(o, ')');
    break;
  case TY_SHAPE:
    buf_putc(o, '{');
    for (int i = 0; i < t->nfields; i++) {
      if (i) buf_puts(o, ", ");
      buf_printf(o, "%s%s: ", t->fields[i].name, t->fields[i].optional ? "?" : "");
      dump_type(t->fields[i].type, o);
    }
    buf_putc(o, '}');
    break;
  case TY_LIST:
    buf_putc(o, '[');
    dump_type(t->nargs ? t->args[0] : NULL, o);
    buf_putc(o, ']');
    break;
  case TY_LITERAL:
    dump(t->literal, o);
    break;
  case TY_FN:
    buf_puts(o, "fn(");
    for (int i = 0; i < t->nargs; i++) {
      if (i) buf_puts(o, ", ");
      dump_type(t->args[i], o);
    }
    buf_putc(o, ')');
    break;
  case TY_OTHER:
    buf_puts(o, "other");
    break;
  }
}

static void dump_params(const ParamList *pl, Buf *o)
{
  buf_putc(o, '(');
  for (int i = 0; i < pl->count; i++) {
    const Param *p = &pl->items[i];
    if (i) buf_putc(o, ' ');
    if (p->rest) buf_puts(o, "...");
    buf_puts(o, p->name);
    if (p->type) {
      buf_putc(o, ':');
      dump_type(p->type, o);
    }
    if (p->default_) {
      buf_putc(o, '=');
      dump(p->default_, o);
    }
  }
  buf_putc(o, ')');
}

static void dump_binding(const Binding *b, Buf *o)
{
  switch (b->kind) {
  case BIND_NAME:
    buf_puts(o, b->name);
    return;
  case BIND_DICT: buf_putc(o, '{'); break;
  case BIND_LIST: buf_putc(o, '['); break;
  case BIND_PAIR: buf_putc(o, '('); break;
  }
  for (int i = 0; i < b->nfields; i++) {
    if (i) buf_putc(o, ' ');
    const BindField *f = &b->fields[i];
    if (b->kind == BIND_DICT) buf_printf(o, "%s:", f->key);
    dump_binding(f->target, o);
    if (f->default_) {
      buf_putc(o, '=');
      dump(f->default_, o);
    }
  }
  if (b->rest) buf_printf(o, "%s...%s", b->nfields ? " " : "", b->rest);
  buf_putc(o, b->kind == BIND_DICT ? '}' : b->kind == BIND_LIST ? ']' : ')');
}

static void dump_pattern(const Pattern *p, Buf *o)
{
  switch (p->kind) {
  case PAT_WILDCARD: buf_putc(o, '_'); break;
  case PAT_BIND: buf_puts(o, p->name); break;
  case PAT_VALUE:
    buf_puts(o, "(= ");
    dump(p->value, o);
    buf_putc(o, ')');
    break;
  case PAT_ENUM:
    if (p->has_args) buf_putc(o, '(');
    buf_printf(o, "%s.%s", p->name, p->variant);
    for (int i = 0; i < p->nitems; i++) {
      buf_putc(o, ' ');
      dump_pattern(p->items[i], o);
    }
    if (p->has_args) buf_putc(o, ')');
    break;
  case PAT_DICT:
    buf_putc(o, '{');
    for (int i = 0; i < p->nitems; i++) {
      if (i) buf_putc(o, ' ');
      buf_printf(o, "%s:", p->keys[i]);
      dump_pattern(p->items[i], o);
    }
    buf_putc(o, '}');
    break;
  case PAT_LIST:
    buf_putc(o, '[');
    for (int i = 0; i < p->nitems; i++) {
      if (i) buf_putc(o, ' ');
      dump_pattern(p->items[i], o);
    }
    buf_putc(o, ']');
    break;
  case PAT_OR:
    buf_puts(o, "(|");
    for (int i = 0; i < p->nitems; i++) {
      buf_putc(o, ' ');
      dump_pattern(p->items[i], o);
    }
    buf_putc(o, ')');
    break;
  }
}

static void dump_entries(const DictEntryNode *e, int count, Buf *o)
{
  for (int i = 0; i < count; i++) {
    buf_putc(o, ' ');
    if (!e[i].key) {
      dump(e[i].value, o);
      continue;
    }
    buf_putc(o, '(');
    dump(e[i].key, o);
    buf_putc(o, ' ');
    dump(e[i].value, o);
    buf_putc(o, ')');
  }
}

static const char *binop_text(BinOp op)
{
  static const char *const names[] = {"+", "-", "*", "/", "%", "**", "==", "!=", "<", ">", "<=",
                                      ">=", "in", "not-in", "&&", "||", "??"};
  return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

static void dump(const Node *n, Buf *o)
{
  if (!n) {
    buf_puts(o, "_");
    return;
  }
  switch (n->kind) {
  case N_NIL: buf_puts(o, "nil"); break;
  case N_BOOL: buf_puts(o, n->as.b ? "true" : "false"); break;
  case N_INT: buf_printf(o, "%" PRId64, n->as.i); break;
  case N_FLOAT: {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.17g", n->as.f);
    for (int prec = 1; prec <= 17; prec++) {
      snprintf(tmp, sizeof tmp, "%.*g", prec, n->as.f);
      if (strtod(tmp, NULL) == n->as.f) break;
    }
    buf_puts(o, tmp);
    if (!strpbrk(tmp, ".eni")) buf_puts(o, ".0");
    break;
  }
  case N_DURATION: buf_printf(o, "(dur %" PRId64 ")", n->as.i); break;
  case N_STRING: dump_str(n->as.str.s, n->as.str.len, o); break;
  case N_INTERP:
    buf_puts(o, "(interp");
    dump_list(&n->as.list, o);
    buf_putc(o, ')');
    break;
  case N_IDENT: buf_puts(o, n->as.str.s); break;
  case N_LIST:
    buf_puts(o, "(list");
    dump_list(&n->as.list, o);
    buf_putc(o, ')');
    break;
  case N_DICT:
    buf_puts(o, "(dict");
    dump_entries(n->as.dict.entries, n->as.dict.count, o);
    buf_putc(o, ')');
    break;
  case N_LAMBDA:
    buf_puts(o, "(lambda ");
    dump_params(&n->as.lambda.params, o);
    buf_putc(o, ' ');
    dump(n->as.lambda.body, o);
    buf_putc(o, ')');
    break;
  case N_UNARY:
    buf_printf(o, "(%c ", n->as.unary.op);
    dump(n->as.unary.operand, o);
    buf_putc(o, ')');
    break;
  case N_BINARY:
    buf_printf(o, "(%s ", binop_text(n->as.binary.op));
    dump(n->as.binary.left, o);
    buf_putc(o, ' ');
    dump(n->as.binary.right, o);
    buf_putc(o, ')');
    break;
  case N_TERNARY:
    buf_puts(o, "(?");
    dump_opt(n->as.ternary.cond, o);
    dump_opt(n->as.ternary.then, o);
    dump_opt(n->as.ternary.else_, o);
    buf_putc(o, ')');
    break;
  case N_IF:
    buf_puts(o, "(if");
    dump_opt(n->as.ternary.cond, o);
    dump_opt(n->as.ternary.then, o);
    if (n->as.ternary.else_) dump_opt(n->as.ternary.else_, o);
    buf_putc(o, ')');
    break;
  case N_RANGE:
    buf_puts(o, n->as.range.exclusive ? "(to-excl" : "(to");
    dump_opt(n->as.range.start, o);
    dump_opt(n->as.range.end, o);
    buf_putc(o, ')');
    break;
  case N_PIPE:
    buf_puts(o, n->as.pipe.placeholder ? "(|>_" : "(|>");
    dump_opt(n->as.pipe.left, o);
    dump_opt(n->as.pipe.right, o);
    buf_putc(o, ')');
    break;
  case N_CALL:
    buf_printf(o, "(call %s", n->as.call.name);
    if (n->as.call.ntype_args) { /* explicit type arguments: (call f <int string> args) */
      buf_puts(o, " <");
      for (int i = 0; i < n->as.call.ntype_args; i++) {
        if (i) buf_putc(o, ' ');
        dump_type(n->as.call.type_args[i], o);
      }
      buf_putc(o, '>');
    }
    dump_list(&n->as.call.args, o);
    buf_putc(o, ')');
    break;
  case N_METHOD:
    buf_printf(o, "(%s%s", n->as.method.optional ? "?." : ".", n->as.method.name);
    dump_opt(n->as.method.recv, o);
    dump_list(&n->as.method.args, o);
    buf_putc(o, ')');
    break;
  case N_PROPERTY:
    buf_puts(o, n->as.prop.optional ? "(?." : "(.");
    dump_opt(n->as.prop.recv, o);
    buf_printf(o, " %s)", n->as.prop.name);
    break;
  case N_INDEX:
    buf_puts(o, n->as.index.optional ? "(?[]" : "([]");
    dump_opt(n->as.index.recv, o);
    dump_opt(n->as.index.index, o);
    buf_putc(o, ')');
    break;
  case N_SLICE:
    buf_puts(o, "(slice");
    dump_opt(n->as.slice.recv, o);
    dump_opt(n->as.slice.start, o);
    dump_opt(n->as.slice.end, o);
    buf_putc(o, ')');
    break;
  case N_TRY_OP: buf_puts(o, "(try?"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_SPREAD: buf_puts(o, "(..."); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_TRY_STAR: buf_puts(o, "(try*"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_SPAWN: buf_puts(o, "(spawn"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_YIELD: buf_puts(o, "(yield"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_EMIT: buf_puts(o, "(emit"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_THROW: buf_puts(o, "(throw"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_RETURN: buf_puts(o, "(return"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_DEFER: buf_puts(o, "(defer"); dump_opt(n->as.unop.expr, o); buf_putc(o, ')'); break;
  case N_EXPR_STMT: dump(n->as.unop.expr, o); break;
  case N_STRUCT_LIT:
    buf_printf(o, "(struct %s", n->as.struct_lit.name);
    dump_entries(n->as.struct_lit.fields, n->as.struct_lit.count, o);
    buf_putc(o, ')');
    break;
  case N_BLOCK:
    buf_puts(o, "(block");
    dump_list(&n->as.list, o);
    buf_putc(o, ')');
    break;
  case N_MATCH:
    buf_puts(o, "(match");
    dump_opt(n->as.match.subject, o);
    for (int i = 0; i < n->as.match.count; i++) {
      const MatchArm *a = &n->as.match.arms[i];
      buf_puts(o, " (arm ");
      dump_pattern(a->pattern, o);
      if (a->guard) {
        buf_puts(o, " if ");
        dump(a->guard, o);
      }
      dump_opt(a->body, o);
      buf_putc(o, ')');
    }
    buf_putc(o, ')');
    break;
  case N_TRY:
    buf_puts(o, "(try");
    dump_opt(n->as.try_.body, o);
    if (n->as.try_.catch_body) {
      buf_printf(o, " (catch %s", n->as.try_.catch_var ? n->as.try_.catch_var : "_");
      if (n->as.try_.catch_type) buf_printf(o, ":%s", n->as.try_.catch_type);
      dump_opt(n->as.try_.catch_body, o);
      buf_putc(o, ')');
    }
    if (n->as.try_.finally_body) {
      buf_puts(o, " (finally");
      dump_opt(n->as.try_.finally_body, o);
      buf_putc(o, ')');
    }
    buf_putc(o, ')');
    break;
  case N_PARALLEL: {
    static const char *const modes[] = {"count", "each", "settle"};
    int m = n->as.parallel.mode;
    buf_printf(o, "(parallel %s %s", m >= 0 && m <= 2 ? modes[m] : "?",
               n->as.parallel.var ? n->as.parallel.var : "_");
    dump_opt(n->as.parallel.arg, o);
    dump_opt(n->as.parallel.body, o);
    if (n->as.parallel.options) {
      buf_puts(o, " with");
      dump_opt(n->as.parallel.options, o);
    }
    if (n->as.parallel.as_stream) buf_puts(o, " stream");
    buf_putc(o, ')');
    break;
  }
  case N_DEADLINE:
  case N_MUTEX:
  case N_RETRY:
  case N_WHILE:
    buf_puts(o, n->kind == N_DEADLINE ? "(deadline"
                : n->kind == N_MUTEX  ? "(mutex"
                : n->kind == N_RETRY  ? "(retry"
                                      : "(while");
    dump_opt(n->as.deadline.arg, o);
    dump_opt(n->as.deadline.body, o);
    buf_putc(o, ')');
    break;
  case N_SELECT:
    buf_puts(o, "(select");
    for (int i = 0; i < n->as.select.count; i++) {
      const SelectCase *c = &n->as.select.cases[i];
      buf_printf(o, " (from %s", c->var ? c->var : "_");
      dump_opt(c->channel, o);
      dump_opt(c->body, o);
      buf_putc(o, ')');
    }
    if (n->as.select.timeout_body) {
      buf_puts(o, " (timeout");
      dump_opt(n->as.select.timeout, o);
      dump_opt(n->as.select.timeout_body, o);
      buf_putc(o, ')');
    }
    if (n->as.select.default_body) {
      buf_puts(o, " (default");
      dump_opt(n->as.select.default_body, o);
      buf_putc(o, ')');
    }
    buf_putc(o, ')');
    break;
  case N_LET:
    buf_puts(o, n->as.let.mutable_ ? "(var " : "(let ");
    dump_binding(n->as.let.target, o);
    dump_opt(n->as.let.value, o);
    buf_putc(o, ')');
    break;
  case N_ASSIGN:
    if (n->as.assign.op) buf_printf(o, "(%c=", n->as.assign.op);
    else buf_puts(o, "(=");
    dump_opt(n->as.assign.target, o);
    dump_opt(n->as.assign.value, o);
    buf_putc(o, ')');
    break;
  case N_FOR:
    buf_puts(o, "(for ");
    dump_binding(n->as.for_.var, o);
    dump_opt(n->as.for_.iter, o);
    dump_opt(n->as.for_.body, o);
    buf_putc(o, ')');
    break;
  case N_BREAK: buf_puts(o, "(break)"); break;
  case N_CONTINUE: buf_puts(o, "(continue)"); break;
  case N_GUARD:
    buf_puts(o, "(guard");
    dump_opt(n->as.guard.cond, o);
    dump_opt(n->as.guard.body, o);
    buf_putc(o, ')');
    break;
  case N_REQUIRE:
    buf_puts(o, "(require");
    dump_opt(n->as.guard.cond, o);
    if (n->as.guard.msg) dump_opt(n->as.guard.msg, o);
    buf_putc(o, ')');
    break;
  case N_FN_DECL:
    buf_puts(o, "(fn ");
    if (n->as.fn.pub) buf_puts(o, "pub ");
    if (n->as.fn.is_gen) buf_puts(o, "gen ");
    for (int i = 0; i < n->as.fn.nattrs; i++) {
      const Attribute *a = &n->as.fn.attrs[i];
      buf_printf(o, "@%s", a->name);
      if (a->nflags) { /* bare identifier arguments: @name[allow] */
        buf_putc(o, '[');
        for (int j = 0; j < a->nflags; j++) buf_printf(o, "%s%s", j ? " " : "", a->flags[j]);
        buf_putc(o, ']');
      }
      if (a->nargs) {
        buf_putc(o, '(');
        dump_entries(a->args, a->nargs, o);
        buf_putc(o, ')');
      }
      buf_putc(o, ' ');
    }
    buf_printf(o, "%s ", n->as.fn.name);
    dump_params(&n->as.fn.params, o);
    dump_opt(n->as.fn.body, o);
    buf_putc(o, ')');
    break;
  case N_STRUCT_DECL:
    buf_printf(o, "(struct-decl %s%s ", n->as.struct_decl.pub ? "pub " : "",
               n->as.struct_decl.name);
    dump_params(&n->as.struct_decl.fields, o);
    buf_putc(o, ')');
    break;
  case N_ENUM_DECL:
    buf_printf(o, "(enum %s%s", n->as.enum_decl.pub ? "pub " : "", n->as.enum_decl.name);
    for (int i = 0; i < n->as.enum_decl.count; i++) {
      const EnumVariantDecl *v = &n->as.enum_decl.variants[i];
      buf_printf(o, " %s", v->name);
      if (v->fields.count) dump_params(&v->fields, o);
    }
    buf_putc(o, ')');
    break;
  case N_IMPL:
    buf_printf(o, "(impl %s", n->as.impl.type_name);
    dump_list(&n->as.impl.methods, o);
    buf_putc(o, ')');
    break;
  case N_INTERFACE: buf_puts(o, "(interface)"); break;
  case N_TYPE_ALIAS:
    buf_printf(o, "(type %s%s ", n->as.type_alias.pub ? "pub " : "", n->as.type_alias.name);
    dump_type(n->as.type_alias.type, o);
    buf_putc(o, ')');
    break;
  case N_IMPORT:
    buf_puts(o, "(import ");
    if (n->as.import.pub) buf_puts(o, "pub ");
    dump_str(n->as.import.path, strlen(n->as.import.path), o);
    for (int i = 0; i < n->as.import.nnames; i++) buf_printf(o, " %s", n->as.import.names[i]);
    buf_putc(o, ')');
    break;
  case N_PIPELINE:
    buf_printf(o, "(pipeline %s%s ", n->as.pipeline.pub ? "pub " : "", n->as.pipeline.name);
    dump_params(&n->as.pipeline.params, o);
    if (n->as.pipeline.extends) buf_printf(o, " extends %s", n->as.pipeline.extends);
    dump_opt(n->as.pipeline.body, o);
    buf_putc(o, ')');
    break;
  case N_PROGRAM:
    buf_puts(o, "(program");
    dump_list(&n->as.list, o);
    buf_putc(o, ')');
    break;
  }
}

void parse_dump(const Node *n, Buf *out) { dump(n, out); }
