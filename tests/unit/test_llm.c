/*
 * test_llm.c: the LLM builtins at the C level (vm/llm.c, vm/llm_mock.c,
 * vm/agent.c; docs/llm.md): every name is in the builtin table, the LLM
 * state is per VM (mocks, call log, totals, budget), vm_llm_totals
 * reports the totals, and vm_free releases the queued mocks and the log
 * (checked by the sanitizer build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vm/builtins.h"
#include "vm/error.h"
#include "vm/gc.h"
#include "vm/object.h"
#include "vm/state.h"
#include "vm/vm.h"

static Vm *vm;

static int setup(void **state)
{
  (void)state;
  vm = vm_new(NULL);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  vm_free(vm);
  vm = NULL;
  return 0;
}

static Value S(const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

/* Call builtin [name] on the current vm; must succeed. */
static Value call(const char *name, int argc, Value *argv)
{
  int idx = builtin_lookup(name);
  if (idx < 0) fail_msg("no builtin %s", name);
  for (int i = 0; i < argc; i++) gc_push_root(vm, argv[i]);
  Value out = val_nil();
  if (!builtin_table[idx].fn(vm, argc, argv, &out)) {
    Buf b = {0};
    err_display(vm, &b);
    fail_msg("%s failed: %s", name, b.data);
  }
  for (int i = 0; i < argc; i++) gc_pop_root(vm);
  return out;
}

static const char *text_of(Value r)
{
  Value t;
  assert_true(IS_DICT(r));
  assert_true(dict_get_cstr(AS_DICT(r), "text", &t));
  assert_true(IS_STRING(t));
  return AS_CSTR(t);
}

static void test_names(void **state)
{
  (void)state;
  static const char *const names[] = {
    "agent_loop", "llm_budget", "llm_budget_remaining", "llm_call", "llm_call_safe", "llm_call_structured",
    "llm_cost", "llm_info", "llm_mock", "llm_mock_calls", "llm_mock_clear", "llm_providers", "llm_usage",
    "tool_define", "tool_registry", "with_rate_limit",
  };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) assert_true(builtin_lookup(names[i]) >= 0);
}

static void test_per_vm(void **state)
{
  (void)state;
  VmLlmTotals t;
  assert_false(vm_llm_totals(vm, &t));
  assert_int_equal(t.calls, 0);

  Vm *a = vm, *b = vm_new(NULL);
  Value m = S("queued in a");
  call("llm_mock", 1, &m);
  Value budget = val_float(1.5);
  call("llm_budget", 1, &budget);

  vm = b; /* b sees neither a's mock nor a's budget */
  Value p = S("two words");
  assert_string_equal(text_of(call("llm_call", 1, &p)), "Mock response to 2-word prompt: two words");
  assert_true(IS_NIL(call("llm_budget_remaining", 0, NULL)));
  assert_true(vm_llm_totals(b, &t));
  assert_int_equal(t.calls, 1);
  assert_int_equal(t.input_tokens, 9);
  assert_int_equal(t.output_tokens, 30);

  vm = a;
  assert_string_equal(text_of(call("llm_call", 1, &p)), "queued in a");
  assert_true(vm_llm_totals(a, &t));
  assert_int_equal(t.calls, 1);
  assert_true(t.cost_usd == 0.0);
  Value rem = call("llm_budget_remaining", 0, NULL);
  assert_true(IS_FLOAT(rem) && AS_FLOAT(rem) == 1.5);
  vm_free(b);
}

/* Mocks and log entries still queued when the VM goes are freed by
 * vm_free (the sanitizer build reports a leak otherwise). */
static void test_free_with_state(void **state)
{
  (void)state;
  for (int i = 0; i < 50; i++) {
    ObjDict *d = dict_new(vm, 2);
    dict_set_cstr(vm, d, "text", S("x"));
    dict_set_cstr(vm, d, "match", S("*never*"));
    Value v = OBJ_VAL(d);
    call("llm_mock", 1, &v);
    Value p = S("logged");
    call("llm_call", 1, &p);
  }
  Value calls = call("llm_mock_calls", 0, NULL);
  assert_int_equal(AS_LIST(calls)->count, 50);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_per_vm, setup, teardown),
    cmocka_unit_test_setup_teardown(test_free_with_state, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
