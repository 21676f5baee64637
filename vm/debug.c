/*
 * debug.c: the bytecode disassembler (dbg_), used by `harn disasm FILE`
 * and when debugging the compiler.
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
 */
#include <string.h>

#include "builtins.h"
#include "interp.h"
#include "object.h"
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
  case OP_UNSUPPORTED:
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
