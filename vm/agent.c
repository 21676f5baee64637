/*
 * agent.c: tools and the agent loop (docs/llm.md "Agent loop"):
 * tool_registry(), tool_define(registry, name, description, config) and
 * agent_loop(prompt, system?, opts?).
 *
 * A registry is a plain dict {_type: "tool_registry", tools: [tool...]},
 * each tool {name, description, parameters, handler}; tool_define returns
 * a new registry (values have value semantics: `tools = tool_define(tools,
 * ...)`), replacing a tool of the same name. `parameters` is a JSON schema
 * ({type: "object", properties, required}) or the shorthand {arg: "type"}
 * / {arg: {type, description}}, normalized to the schema with every
 * argument required unless its entry says `required: false`.
 *
 * agent_loop: messages = [user prompt]; up to max_iterations (default 10,
 * at most LLM_MAX_ITERATIONS) times: one llm_call_full with the whole
 * conversation and the tools; the assistant message is appended; no tool
 * calls -> status "done"; else every call runs its handler (a Harn
 * closure, called with the arguments dict) and a tool message {role:
 * "tool", tool_call_id, name, content} is appended (content: the result if
 * a string, else its JSON; an unknown tool, arguments that fail the schema
 * or a handler error give "Error: ..." and the loop goes on, as the model
 * is expected to recover). Running out of iterations with calls still
 * pending gives status "max_iterations". An LLM error ends the loop with
 * that error (agent_loop throws, like llm_call).
 *
 * GC: handlers run safe points, so everything the loop builds lives in one
 * state dict rooted for the whole call (the builders inside it are private
 * to this call and pushed to in place); C locals are re-read from it after
 * each callback.
 */
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "llm.h"
#include "object.h"
#include "state.h"

#define AGENT_DEFAULT_ITERATIONS 10

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }
static Value S(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

static bool is_registry(Value r)
{
  const char *t = llm_get_str(r, "_type");
  return t && strcmp(t, "tool_registry") == 0 && IS_LIST(llm_get(r, "tools"));
}

bool agent_bi_tool_registry(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc, (void)argv;
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "_type", S(vm, "tool_registry"));
  dict_set_cstr(vm, d, "tools", OBJ_VAL(list_new(vm, 0)));
  *out = OBJ_VAL(d);
  return true;
}

/* The JSON schema of [p] (see the top of the file). */
static Value norm_params(Vm *vm, Value p)
{
  if (IS_NIL(p)) p = OBJ_VAL(dict_new(vm, 0));
  if (!IS_DICT(p)) return p;
  if (llm_get_str(p, "type") || IS_DICT(llm_get(p, "properties"))) return p;
  ObjDict *props = dict_new(vm, AS_DICT(p)->count);
  ObjList *req = list_new(vm, AS_DICT(p)->count);
  for (uint32_t i = 0; i < AS_DICT(p)->count; i++) {
    DictEntry *e = &AS_DICT(p)->entries[i];
    Value s = e->value;
    if (IS_STRING(s)) {
      ObjDict *x = dict_new(vm, 1);
      dict_set_cstr(vm, x, "type", s);
      s = OBJ_VAL(x);
    }
    dict_set(vm, props, e->key, s);
    Value r = llm_get(s, "required");
    if (!(IS_BOOL(r) && !AS_BOOL(r))) list_push(vm, req, OBJ_VAL(e->key));
  }
  ObjDict *d = dict_new(vm, 3);
  dict_set_cstr(vm, d, "type", S(vm, "object"));
  dict_set_cstr(vm, d, "properties", OBJ_VAL(props));
  dict_set_cstr(vm, d, "required", OBJ_VAL(req));
  return OBJ_VAL(d);
}

/* tool_define(registry, name, description, config) where config is
 * {parameters, handler} (also `params`, `input_schema`), or
 * tool_define(registry, name, description, parameters, handler). */
bool agent_bi_tool_define(Vm *vm, int argc, Value *argv, Value *out)
{
  Value reg = arg(argc, argv, 0), name = arg(argc, argv, 1), desc = arg(argc, argv, 2);
  Value conf = arg(argc, argv, 3), params, handler;
  if (!is_registry(reg)) return err_type(vm, "tool_define: expected a tool registry, got %s", val_type_name(reg));
  if (!IS_STRING(name) || AS_STRING(name)->len == 0)
    return err_type(vm, "tool_define: name must be a non-empty string, got %s", val_type_name(name));
  if (!IS_NIL(desc) && !IS_STRING(desc))
    return err_type(vm, "tool_define: description must be a string, got %s", val_type_name(desc));
  if (argc >= 5) {
    params = conf;
    handler = arg(argc, argv, 4);
  } else {
    if (!IS_DICT(conf)) return err_type(vm, "tool_define: config must be a dict, got %s", val_type_name(conf));
    params = llm_get(conf, "parameters");
    if (IS_NIL(params)) params = llm_get(conf, "params");
    if (IS_NIL(params)) params = llm_get(conf, "input_schema");
    handler = llm_get(conf, "handler");
  }
  if (!IS_NIL(params) && !IS_DICT(params))
    return err_type(vm, "tool_define: parameters of '%s' must be a dict, got %s", AS_CSTR(name), val_type_name(params));
  if (!vm_is_callable(handler))
    return err_type(vm, "tool_define: handler of '%s' must be a function, got %s", AS_CSTR(name), val_type_name(handler));

  ObjDict *t = dict_new(vm, 4);
  dict_set_cstr(vm, t, "name", name);
  dict_set_cstr(vm, t, "description", IS_NIL(desc) ? S(vm, "") : desc);
  dict_set_cstr(vm, t, "parameters", norm_params(vm, params));
  dict_set_cstr(vm, t, "handler", handler);
  ObjList *old = AS_LIST(llm_get(reg, "tools"));
  ObjList *tools = list_new(vm, old->count + 1);
  bool replaced = false;
  for (uint32_t i = 0; i < old->count; i++) {
    const char *n = llm_get_str(old->items[i], "name");
    if (n && strcmp(n, AS_CSTR(name)) == 0) {
      list_push(vm, tools, OBJ_VAL(t));
      replaced = true;
    } else {
      list_push(vm, tools, old->items[i]);
    }
  }
  if (!replaced) list_push(vm, tools, OBJ_VAL(t));
  ObjDict *r = dict_copy(vm, AS_DICT(reg));
  dict_set_cstr(vm, r, "tools", OBJ_VAL(tools));
  *out = OBJ_VAL(r);
  return true;
}

/* The tool named [name] in [tools] (registry or list), or nil. */
static Value find_tool(Value tools, const char *name)
{
  Value l = IS_DICT(tools) ? llm_get(tools, "tools") : tools;
  if (!IS_LIST(l)) return val_nil();
  for (uint32_t i = 0; i < AS_LIST(l)->count; i++) {
    const char *n = llm_get_str(AS_LIST(l)->items[i], "name");
    if (n && strcmp(n, name) == 0) return AS_LIST(l)->items[i];
  }
  return val_nil();
}

static bool contains_str(ObjList *l, const char *s)
{
  for (uint32_t i = 0; i < l->count; i++)
    if (IS_STRING(l->items[i]) && strcmp(AS_CSTR(l->items[i]), s) == 0) return true;
  return false;
}

/* Run one tool call [call] ({id, name, arguments}); *content gets the text
 * fed back, *ok whether the tool succeeded. False only for an error that
 * must end the run (not catchable). [state] is rooted by the caller. */
static bool run_tool(Vm *vm, Value tools, Value call, Value *content, bool *ok)
{
  const char *name = llm_get_str(call, "name");
  Value tool = find_tool(tools, name ? name : "");
  Value args = llm_get(call, "arguments");
  *ok = false;
  if (IS_NIL(tool)) {
    *content = OBJ_VAL(str_printf(vm, "Error: unknown tool '%s'", name ? name : ""));
    return true;
  }
  Value schema = llm_get(tool, "parameters");
  if (IS_DICT(schema)) {
    ObjString *why = llm_schema_problems(vm, args, schema);
    if (why) {
      *content = OBJ_VAL(str_printf(vm, "Error: invalid arguments for tool '%s': %s", name, why->chars));
      return true;
    }
  }
  Value r;
  if (!vm_call(vm, llm_get(tool, "handler"), 1, &args, &r)) {
    if (!err_catchable(vm->err_kind)) return false;
    /* what a catch would see: a thrown string as is, else its display */
    ObjString *m = val_to_string(vm, err_caught_value(vm));
    err_clear(vm);
    *content = OBJ_VAL(str_printf(vm, "Error: %s", m->chars));
    return true;
  }
  *ok = true;
  if (IS_STRING(r)) {
    *content = r;
    return true;
  }
  Buf b = {0};
  if (!json_stringify_value(vm, r, &b)) {
    buf_free(&b);
    if (vm->heap.doomed) return err_memory(vm);
    return err_runtime(vm, "agent_loop: the result of tool '%s' is nested too deeply", name);
  }
  *content = OBJ_VAL(str_new(vm, b.data ? b.data : "null", b.data ? b.len : 4));
  buf_free(&b);
  return true;
}

static int64_t int_of(Value d, const char *k)
{
  Value v = llm_get(d, k);
  return IS_INT(v) ? AS_INT(v) : 0;
}

bool agent_bi_loop(Vm *vm, int argc, Value *argv, Value *out)
{
  Value prompt = arg(argc, argv, 0), system = arg(argc, argv, 1), opts = arg(argc, argv, 2);
  if (argc == 2 && IS_DICT(system)) {
    opts = system;
    system = val_nil();
  }
  if (!IS_STRING(prompt)) return err_type(vm, "agent_loop: prompt must be a string, got %s", val_type_name(prompt));
  if (!IS_NIL(opts) && !IS_DICT(opts)) return err_type(vm, "agent_loop: options must be a dict, got %s", val_type_name(opts));
  if (IS_NIL(system)) system = llm_get(opts, "system");
  if (!IS_NIL(system) && !IS_STRING(system))
    return err_type(vm, "agent_loop: system must be a string, got %s", val_type_name(system));
  Value mi = llm_get(opts, "max_iterations");
  int64_t max_iter = IS_INT(mi) && AS_INT(mi) > 0 ? AS_INT(mi) : AGENT_DEFAULT_ITERATIONS;
  if (max_iter > LLM_MAX_ITERATIONS) max_iter = LLM_MAX_ITERATIONS;
  Value tools = llm_get(opts, "tools");

  /* state: every builder of this call, rooted across the handlers */
  ObjDict *state = dict_new(vm, 4);
  ObjList *msgs = list_new(vm, 8), *log = list_new(vm, 4), *used = list_new(vm, 4);
  ObjDict *first = dict_new(vm, 2);
  dict_set_cstr(vm, first, "role", S(vm, "user"));
  dict_set_cstr(vm, first, "content", prompt);
  list_push(vm, msgs, OBJ_VAL(first));
  dict_set_cstr(vm, state, "messages", OBJ_VAL(msgs));
  dict_set_cstr(vm, state, "log", OBJ_VAL(log));
  dict_set_cstr(vm, state, "used", OBJ_VAL(used));
  dict_set_cstr(vm, state, "last", val_nil());
  gc_push_root(vm, OBJ_VAL(state));

  int64_t in = 0, outt = 0, iterations = 0;
  double cost = 0;
  const char *status = "max_iterations";
  bool ok = true;
  for (int64_t it = 0; it < max_iter && ok; it++) {
    Value resp;
    if (!(ok = llm_call_full(vm, val_nil(), system, opts, msgs, &resp))) break;
    dict_set_cstr(vm, state, "last", resp);
    iterations++;
    in += int_of(resp, "input_tokens");
    outt += int_of(resp, "output_tokens");
    Value c = llm_get(llm_get(resp, "usage"), "cost_usd");
    if (IS_FLOAT(c)) cost += AS_FLOAT(c);
    /* the assistant message is the last one of the call's transcript */
    ObjList *tm = AS_LIST(llm_get(llm_get(resp, "transcript"), "messages"));
    list_push(vm, msgs, tm->items[tm->count - 1]);
    ObjList *calls = AS_LIST(llm_get(resp, "tool_calls"));
    if (calls->count == 0) {
      status = "done";
      break;
    }
    for (uint32_t i = 0; i < calls->count && ok; i++) {
      Value call = calls->items[i], content;
      bool tool_ok;
      /* resp (and so call) is rooted through state.last */
      if (!(ok = run_tool(vm, tools, call, &content, &tool_ok))) break;
      const char *name = llm_get_str(call, "name");
      ObjDict *m = dict_new(vm, 4);
      dict_set_cstr(vm, m, "role", S(vm, "tool"));
      dict_set_cstr(vm, m, "tool_call_id", llm_get(call, "id"));
      dict_set_cstr(vm, m, "name", llm_get(call, "name"));
      dict_set_cstr(vm, m, "content", content);
      list_push(vm, msgs, OBJ_VAL(m));
      ObjDict *l = dict_new(vm, 4);
      dict_set_cstr(vm, l, "name", llm_get(call, "name"));
      dict_set_cstr(vm, l, "arguments", llm_get(call, "arguments"));
      dict_set_cstr(vm, l, "result", content);
      dict_set_cstr(vm, l, "ok", val_bool(tool_ok));
      list_push(vm, log, OBJ_VAL(l));
      if (name && !contains_str(used, name)) list_push(vm, used, llm_get(call, "name"));
    }
  }
  if (!ok) {
    gc_pop_root(vm);
    return false;
  }

  Value last = llm_get(OBJ_VAL(state), "last");
  ObjDict *tr = dict_new(vm, 2);
  dict_set_cstr(vm, tr, "messages", OBJ_VAL(list_copy(vm, msgs)));
  dict_set_cstr(vm, tr, "system", system);
  ObjDict *r = dict_new(vm, 12);
  dict_set_cstr(vm, r, "status", S(vm, status));
  dict_set_cstr(vm, r, "text", IS_NIL(last) ? S(vm, "") : llm_get(last, "text"));
  dict_set_cstr(vm, r, "visible_text", IS_NIL(last) ? S(vm, "") : llm_get(last, "visible_text"));
  dict_set_cstr(vm, r, "iterations", val_int(iterations));
  dict_set_cstr(vm, r, "tools_used", OBJ_VAL(list_copy(vm, used)));
  dict_set_cstr(vm, r, "tool_calls", OBJ_VAL(list_copy(vm, log)));
  dict_set_cstr(vm, r, "transcript", OBJ_VAL(tr));
  dict_set_cstr(vm, r, "llm_calls", val_int(iterations));
  dict_set_cstr(vm, r, "input_tokens", val_int(in));
  dict_set_cstr(vm, r, "output_tokens", val_int(outt));
  dict_set_cstr(vm, r, "cost_usd", val_float(cost));
  *out = OBJ_VAL(r);
  gc_pop_root(vm);
  return true;
}
