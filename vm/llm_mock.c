/*
 * llm_mock.c: the mock LLM provider and llm_mock, llm_mock_calls,
 * llm_mock_clear (docs/llm.md "The mock provider"; shared/design/
 * CAPABILITIES.md 8: provider "mock" runs in the worker with no grant).
 *
 * Queue. llm_mock(spec) appends the spec, kept as JSON text (LlmState in
 * llm.h: no Harn value outlives the call), at most LLM_MAX_MOCKS. A call
 * picks, in this order:
 *   1. the first mock with a `match` glob (fnmatch, `*` crosses lines)
 *      that matches the transcript text (llm_transcript_text: system and
 *      every message's content joined by "\n"); it stays queued unless
 *      `consume_match: true`;
 *   2. else the oldest mock without `match` (FIFO), which is removed;
 *   3. else the default answer.
 * A picked mock with `error` fails the call: a dict {category, message}
 * (category defaulting to the classification of the message) or a string
 * (message, classified by error_category()).
 *
 * Default answer (deterministic, the reference's llm/mock.rs):
 *   prompt = the content of the last user message;
 *   text   = "Mock response to N-word prompt: <first 100 chars>" (N =
 *            whitespace-separated words), "Mock LLM response" when empty;
 *   input_tokens = the prompt's UTF-8 length, output_tokens = 30.
 *   With tools, while the last message is not a tool result: one call of
 *   the first tool (or the one tool_choice names; none for "none") with
 *   placeholder arguments (llm_placeholder), text "".
 *   With a schema (llm_call_structured): the placeholder JSON of the
 *   schema, so structured calls validate without a queued mock.
 * A mock's own input_tokens / output_tokens replace the defaults.
 *
 * Every request is logged (ring of LLM_MAX_CALL_LOG, oldest dropped) as
 * {provider, model, system, prompt, messages, tools (names or nil),
 * tool_choice, max_tokens, temperature} for llm_mock_calls().
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "builtins.h"
#include "error.h"
#include "llm.h"
#include "object.h"
#include "state.h"

#define MOCK_DEFAULT_OUTPUT_TOKENS 30
#define MOCK_PREVIEW_CHARS 100
#define PLACEHOLDER_MAX_DEPTH 16

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }
static Value S(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

/* JSON text of [v] (malloc'd), NULL when it cannot be written. */
static char *to_json(Vm *vm, Value v)
{
  Buf b = {0};
  if (!json_stringify_value(vm, v, &b) || vm->heap.doomed) {
    buf_free(&b);
    return NULL;
  }
  return buf_take(&b);
}

/* ---- llm_mock, llm_mock_calls, llm_mock_clear --------------------------------- */

bool llmmock_bi_mock(Vm *vm, int argc, Value *argv, Value *out)
{
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  Value spec = arg(argc, argv, 0);
  *out = val_nil();
  if (IS_STRING(spec)) { /* llm_mock("text") */
    ObjDict *d = dict_new(vm, 1);
    dict_set_cstr(vm, d, "text", spec);
    spec = OBJ_VAL(d);
  }
  if (!IS_DICT(spec)) return err_type(vm, "llm_mock: expected a dict, got %s", val_type_name(spec));
  Value t = llm_get(spec, "text"), tc = llm_get(spec, "tool_calls"), m = llm_get(spec, "match");
  Value e = llm_get(spec, "error");
  if (!IS_NIL(t) && !IS_STRING(t)) return err_type(vm, "llm_mock: text must be a string, got %s", val_type_name(t));
  if (!IS_NIL(tc) && !IS_LIST(tc))
    return err_type(vm, "llm_mock: tool_calls must be a list, got %s", val_type_name(tc));
  if (!IS_NIL(m) && !IS_STRING(m)) return err_type(vm, "llm_mock: match must be a string, got %s", val_type_name(m));
  if (!IS_NIL(e) && !IS_STRING(e) && !IS_DICT(e))
    return err_type(vm, "llm_mock: error must be a string or a dict, got %s", val_type_name(e));
  if (st->nmocks >= LLM_MAX_MOCKS) return err_runtime(vm, "llm_mock: more than %d queued mocks", LLM_MAX_MOCKS);
  char *json = to_json(vm, spec);
  if (!json) return vm->heap.doomed ? err_memory(vm) : err_runtime(vm, "llm_mock: value nested too deeply");
  if (st->nmocks == st->capmocks) {
    int cap = st->capmocks ? st->capmocks * 2 : 8;
    LlmMock *n = realloc(st->mocks, (size_t)cap * sizeof *n);
    if (!n) {
      free(json);
      return err_memory(vm);
    }
    st->mocks = n;
    st->capmocks = cap;
  }
  LlmMock *mk = &st->mocks[st->nmocks];
  mk->json = json;
  mk->match = IS_STRING(m) ? strdup(AS_CSTR(m)) : NULL;
  mk->consume = val_truthy(llm_get(spec, "consume_match"));
  if (IS_STRING(m) && !mk->match) {
    free(json);
    return err_memory(vm);
  }
  st->nmocks++;
  return true;
}

bool llmmock_bi_calls(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc, (void)argv;
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  ObjList *l = list_new(vm, (uint32_t)st->ncalls);
  for (int i = 0; i < st->ncalls; i++) {
    Value v;
    if (!json_parse_value(vm, st->calls[i], strlen(st->calls[i]), &v)) return false;
    list_push(vm, l, v);
  }
  *out = OBJ_VAL(l);
  return true;
}

bool llmmock_bi_clear(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc, (void)argv;
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  for (int i = 0; i < st->nmocks; i++) {
    free(st->mocks[i].json);
    free(st->mocks[i].match);
  }
  st->nmocks = 0;
  for (int i = 0; i < st->ncalls; i++) free(st->calls[i]);
  st->ncalls = 0;
  *out = val_nil();
  return true;
}

/* ---- the provider -------------------------------------------------------------- */

static bool is_ws(uint32_t c)
{
  return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static Value default_text(Vm *vm, ObjString *p)
{
  if (p->len == 0) return S(vm, "Mock LLM response");
  size_t words = 0, preview = 0, nchars = 0;
  bool in_word = false;
  for (size_t i = 0; i < p->len;) {
    uint32_t cp;
    size_t l = utf8_decode(p->chars + i, p->len - i, &cp);
    if (l == 0) l = 1;
    if (is_ws(cp)) in_word = false;
    else if (!in_word) {
      in_word = true;
      words++;
    }
    i += l;
    if (++nchars == MOCK_PREVIEW_CHARS) preview = i;
  }
  if (nchars < MOCK_PREVIEW_CHARS) preview = p->len;
  return OBJ_VAL(str_printf(vm, "Mock response to %zu-word prompt: %.*s", words, (int)preview, p->chars));
}

Value llm_placeholder(Vm *vm, Value schema, int depth)
{
  const char *t = llm_get_str(schema, "type");
  Value props = llm_get(schema, "properties");
  if (!t && IS_DICT(props)) t = "object";
  if (!t || depth > PLACEHOLDER_MAX_DEPTH) return val_nil();
  if (strcmp(t, "string") == 0) return S(vm, "mock");
  if (strcmp(t, "integer") == 0 || strcmp(t, "int") == 0) return val_int(0);
  if (strcmp(t, "number") == 0 || strcmp(t, "float") == 0) return val_float(0.0);
  if (strcmp(t, "boolean") == 0 || strcmp(t, "bool") == 0) return val_bool(false);
  if (strcmp(t, "array") == 0 || strcmp(t, "list") == 0) return OBJ_VAL(list_new(vm, 0));
  if (strcmp(t, "object") == 0 || strcmp(t, "dict") == 0) {
    ObjDict *d = dict_new(vm, 0);
    if (IS_DICT(props))
      for (uint32_t i = 0; i < AS_DICT(props)->count; i++) {
        DictEntry *e = &AS_DICT(props)->entries[i];
        Value ps = e->value;
        if (IS_STRING(ps)) { /* shorthand {key: "type"} */
          ObjDict *x = dict_new(vm, 1);
          dict_set_cstr(vm, x, "type", ps);
          ps = OBJ_VAL(x);
        }
        dict_set(vm, d, e->key, llm_placeholder(vm, ps, depth + 1));
      }
    return OBJ_VAL(d);
  }
  return val_nil();
}

static void log_call(Vm *vm, LlmState *st, const LlmRequest *req, Value prompt)
{
  ObjDict *d = dict_new(vm, 10);
  dict_set_cstr(vm, d, "provider", S(vm, req->provider));
  dict_set_cstr(vm, d, "model", S(vm, req->model));
  dict_set_cstr(vm, d, "system", req->system);
  dict_set_cstr(vm, d, "prompt", prompt);
  dict_set_cstr(vm, d, "messages", OBJ_VAL(req->messages));
  Value names = val_nil();
  if (IS_LIST(req->tools)) {
    ObjList *l = list_new(vm, AS_LIST(req->tools)->count);
    for (uint32_t i = 0; i < AS_LIST(req->tools)->count; i++) list_push(vm, l, llm_get(AS_LIST(req->tools)->items[i], "name"));
    names = OBJ_VAL(l);
  }
  dict_set_cstr(vm, d, "tools", names);
  dict_set_cstr(vm, d, "tool_choice", req->tool_choice);
  dict_set_cstr(vm, d, "max_tokens", val_int(req->max_tokens));
  dict_set_cstr(vm, d, "temperature", llm_get(OBJ_VAL(req->opts), "temperature"));
  char *json = to_json(vm, OBJ_VAL(d));
  if (!json) return; /* too deep or out of memory: the call itself goes on */
  if (st->ncalls == LLM_MAX_CALL_LOG) {
    free(st->calls[0]);
    memmove(st->calls, st->calls + 1, (size_t)(st->ncalls - 1) * sizeof *st->calls);
    st->ncalls--;
  }
  if (st->ncalls == st->capcalls) {
    int cap = st->capcalls ? st->capcalls * 2 : 8;
    char **n = realloc(st->calls, (size_t)cap * sizeof *n);
    if (!n) {
      free(json);
      return;
    }
    st->calls = n;
    st->capcalls = cap;
  }
  st->calls[st->ncalls++] = json;
}

/* The tool the default answer calls: the one `tool_choice` names (a
 * name, or {name}), none for "none", else the first. nil: no call. */
static Value default_tool(const LlmRequest *req)
{
  ObjList *l = AS_LIST(req->tools);
  const char *want = IS_STRING(req->tool_choice) ? AS_CSTR(req->tool_choice) : llm_get_str(req->tool_choice, "name");
  if (want && strcmp(want, "none") == 0) return val_nil();
  if (want)
    for (uint32_t i = 0; i < l->count; i++) {
      const char *n = llm_get_str(l->items[i], "name");
      if (n && strcmp(n, want) == 0) return l->items[i];
    }
  return l->count ? l->items[0] : val_nil();
}

/* Index of the mock to use, or -1 for the default. */
static int pick(Vm *vm, LlmState *st, const LlmRequest *req)
{
  int fifo = -1;
  char *text = NULL;
  for (int i = 0; i < st->nmocks; i++) {
    if (!st->mocks[i].match) {
      if (fifo < 0) fifo = i;
      continue;
    }
    if (!text) text = llm_transcript_text(vm, req);
    if (fnmatch(st->mocks[i].match, text, 0) == 0) {
      free(text);
      return i;
    }
  }
  free(text);
  return fifo;
}

bool llmmock_answer(Vm *vm, const LlmRequest *req, ObjDict **answer)
{
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);

  /* the prompt: the last user message's content */
  Value prompt = OBJ_VAL(str_cstr(vm, ""));
  bool after_tool = false;
  for (uint32_t i = req->messages->count; i-- > 0;) {
    Value m = req->messages->items[i];
    const char *role = llm_get_str(m, "role");
    if (i == req->messages->count - 1 && role && strcmp(role, "tool") == 0) after_tool = true;
    if (role && strcmp(role, "user") == 0) {
      Value c = llm_get(m, "content");
      if (IS_STRING(c)) prompt = c;
      break;
    }
  }
  log_call(vm, st, req, prompt);

  ObjDict *a = dict_new(vm, 6);
  dict_set_cstr(vm, a, "model", S(vm, req->model));
  dict_set_cstr(vm, a, "input_tokens", val_int((int64_t)AS_STRING(prompt)->len));
  dict_set_cstr(vm, a, "output_tokens", val_int(MOCK_DEFAULT_OUTPUT_TOKENS));

  int i = pick(vm, st, req);
  if (i < 0) {
    Value tool = IS_LIST(req->tools) && !after_tool ? default_tool(req) : val_nil();
    if (!IS_NIL(tool)) {
      Value params = llm_get(tool, "parameters");
      Value args = llm_placeholder(vm, IS_DICT(params) ? params : val_nil(), 0);
      if (!IS_DICT(args)) args = OBJ_VAL(dict_new(vm, 0));
      ObjDict *c = dict_new(vm, 2);
      dict_set_cstr(vm, c, "name", llm_get(tool, "name"));
      dict_set_cstr(vm, c, "arguments", args);
      ObjList *l = list_new(vm, 1);
      list_push(vm, l, OBJ_VAL(c));
      dict_set_cstr(vm, a, "tool_calls", OBJ_VAL(l));
      dict_set_cstr(vm, a, "text", S(vm, ""));
    } else if (IS_DICT(req->schema)) {
      Buf b = {0};
      json_stringify_value(vm, llm_placeholder(vm, req->schema, 0), &b);
      dict_set_cstr(vm, a, "text", OBJ_VAL(str_new(vm, b.data ? b.data : "null", b.data ? b.len : 4)));
      buf_free(&b);
    } else {
      dict_set_cstr(vm, a, "text", default_text(vm, AS_STRING(prompt)));
    }
    *answer = a;
    return true;
  }

  LlmMock mk = st->mocks[i];
  bool remove = !mk.match || mk.consume;
  Value spec;
  bool ok = json_parse_value(vm, mk.json, strlen(mk.json), &spec);
  if (remove) {
    free(mk.json);
    free(mk.match);
    memmove(st->mocks + i, st->mocks + i + 1, (size_t)(st->nmocks - i - 1) * sizeof *st->mocks);
    st->nmocks--;
  }
  if (!ok) return false;

  Value e = llm_get(spec, "error");
  if (!IS_NIL(e)) {
    Value msg = IS_DICT(e) ? llm_get(e, "message") : e;
    if (!IS_STRING(msg)) msg = S(vm, "mock LLM error");
    const char *cat = llm_get_str(e, "category");
    if (!cat) cat = llm_classify(vm, msg);
    return llm_throw(vm, cat, "%s", AS_CSTR(msg));
  }
  Value t = llm_get(spec, "text");
  dict_set_cstr(vm, a, "text", IS_STRING(t) ? t : S(vm, ""));
  Value tc = llm_get(spec, "tool_calls");
  if (IS_LIST(tc)) dict_set_cstr(vm, a, "tool_calls", tc);
  static const char *const keys[] = {"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "model"};
  for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
    Value v = llm_get(spec, keys[k]);
    if (!IS_NIL(v)) dict_set_cstr(vm, a, keys[k], v);
  }
  *answer = a;
  return true;
}
