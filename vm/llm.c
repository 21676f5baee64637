/*
 * llm.c: llm_call and its family (docs/llm.md; shared/design/
 * CAPABILITIES.md 8, 11 "LLM", 12): the options, the request, the one
 * provider entry point, the result shape, error categories, retries,
 * usage totals, budgets, prices, and the charge to open @step invocations
 * (docs/RUNTIME.md 7.2, through steps_bi_charge).
 *
 * Flow of one call (llm_call_full):
 *   options -> LlmRequest -> budget pre-flight -> llm_provider_send (with
 *   llm_retries on retryable categories) -> totals, step charge, post-hoc
 *   per-call budget -> result dict.
 *
 * Providers. The worker has no network: "mock" runs here (llm_mock.c);
 * every other provider is to be brokered by the supervisor (protocol v3
 * host_call, cap "llm"), and llm_provider_send is the single place where
 * that call will be made. Until the broker is wired, a non-mock provider
 * fails with category `egress_blocked` (a policy refusal that sends
 * nothing, like the HTTP EgressBlocked; `auth` would suggest a bad key):
 * `llm provider 'NAME' is not granted (--allow-llm)`. With no provider
 * granted, the default provider is "mock" (CAPABILITIES.md 8: the mock
 * needs no grant), its default model "mock".
 *
 * Budgets. llm_budget(usd) caps this VM's total cost. The pre-flight
 * reserves the worst case, as the broker will (CAPABILITIES.md 8): input
 * bytes as an upper bound on input tokens plus max_tokens output, priced
 * with llm_cost; a call whose reservation does not fit throws
 * budget_exceeded before the provider is asked. A call's `budget` option
 * ({max_cost_usd, max_input_tokens, max_output_tokens, total_budget_usd})
 * is checked the same way before, and with the actual usage after.
 *
 * Invariants: no Harn value is kept between calls (LlmState holds C data
 * only); the collector cannot run inside llm_call_full (no callback is
 * made there), so objects in C locals need no root; with_rate_limit's only
 * callback is its argument, which lives in argv.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "llm.h"
#include "object.h"
#include "state.h"
#include "steps.h"

#define LLM_DEFAULT_MAX_TOKENS 16384
#define LLM_MAX_RETRIES 10

/* ---- state and helpers ----------------------------------------------------- */

LlmState *llm_state(Vm *vm)
{
  if (!vm->llm) vm->llm = calloc(1, sizeof(LlmState));
  return vm->llm;
}

void llm_free(Vm *vm)
{
  LlmState *s = vm->llm;
  if (!s) return;
  for (int i = 0; i < s->nmocks; i++) {
    free(s->mocks[i].json);
    free(s->mocks[i].match);
  }
  free(s->mocks);
  for (int i = 0; i < s->ncalls; i++) free(s->calls[i]);
  free(s->calls);
  free(s);
  vm->llm = NULL;
}

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }
static Value S(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

Value llm_get(Value d, const char *key)
{
  Value v;
  if (IS_DICT(d) && dict_get_cstr(AS_DICT(d), key, &v)) return v;
  return val_nil();
}

const char *llm_get_str(Value d, const char *key)
{
  Value v = llm_get(d, key);
  return IS_STRING(v) ? AS_CSTR(v) : NULL;
}

bool llm_throw(Vm *vm, const char *category, const char *fmt, ...)
{
  Buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  ObjDict *d = dict_new(vm, 2);
  dict_set_cstr(vm, d, "category", S(vm, category));
  dict_set_cstr(vm, d, "message", OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len)));
  buf_free(&b);
  return err_throw(vm, OBJ_VAL(d));
}

/* The category of the pending (catchable) error: a thrown dict's own
 * `category`, else the classification of its text by error_category()
 * (docs/LANGUAGE.md 12.2), so both paths agree. */
static const char *pending_category(Vm *vm, Value caught)
{
  const char *c = llm_get_str(caught, "category");
  return c ? c : llm_classify(vm, caught);
}

const char *llm_classify(Vm *vm, Value err)
{
  int idx = builtin_lookup("error_category");
  Value out = val_nil();
  if (idx >= 0 && builtin_table[idx].fn(vm, 1, &err, &out) && IS_STRING(out)) return AS_CSTR(out);
  return "generic";
}

ObjString *llm_schema_problems(Vm *vm, Value v, Value schema)
{
  int idx = builtin_lookup("schema_check");
  Value a[2] = {v, schema}, res = val_nil();
  if (idx < 0 || !builtin_table[idx].fn(vm, 2, a, &res) || !is_result_err(res)) return NULL;
  Value why = AS_ENUM(res)->nfields ? AS_ENUM(res)->fields[0] : val_nil();
  return IS_STRING(why) ? AS_STRING(why) : str_cstr(vm, "invalid");
}

static ObjString *pending_message(Vm *vm, Value caught)
{
  Value m = llm_get(caught, "message");
  if (IS_STRING(m)) return AS_STRING(m);
  return val_to_string(vm, caught);
}

static bool retryable(const char *c)
{
  static const char *const r[] = {"rate_limit", "timeout", "overloaded", "server_error", "transient_network"};
  for (size_t i = 0; i < sizeof r / sizeof *r; i++)
    if (strcmp(c, r[i]) == 0) return true;
  return false;
}

/* ---- prices ------------------------------------------------------------------ */

/* USD per million tokens, matched by model-name prefix (longest first
 * where names share a prefix). Until the policy file's provider prices
 * reach the worker (CAPABILITIES.md 3.2 price_per_mtok_in/out), this table
 * prices well-known models; any other model (the mock's included) costs 0. */
static const struct {
  const char *prefix;
  double in, out;
} prices[] = {
    {"gpt-4o-mini", 0.15, 0.60},     {"gpt-4o", 2.50, 10.00},        {"gpt-4.1-nano", 0.10, 0.40},
    {"gpt-4.1-mini", 0.40, 1.60},    {"gpt-4.1", 2.00, 8.00},        {"o3-mini", 1.10, 4.40},
    {"claude-3-5-haiku", 0.80, 4.00}, {"claude-3-haiku", 0.25, 1.25}, {"claude-haiku-4", 1.00, 5.00},
    {"claude-3-5-sonnet", 3.00, 15.00}, {"claude-3-7-sonnet", 3.00, 15.00}, {"claude-sonnet-4", 3.00, 15.00},
    {"claude-opus-4", 15.00, 75.00},
};

static double price_of(const char *model, int64_t in, int64_t out)
{
  if (!model) return 0;
  for (size_t i = 0; i < sizeof prices / sizeof *prices; i++)
    if (strncmp(model, prices[i].prefix, strlen(prices[i].prefix)) == 0)
      return ((double)in * prices[i].in + (double)out * prices[i].out) / 1e6;
  return 0;
}

/* ---- the provider entry point -------------------------------------------------- */

static const char *default_provider(void) { return "mock"; }

bool llm_provider_send(Vm *vm, const LlmRequest *req, ObjDict **answer)
{
  if (strcmp(req->provider, "mock") == 0) return llmmock_answer(vm, req, answer);
  /* The broker (supervisor, protocol v3 host_call cap "llm") goes here. */
  return llm_throw(vm, "egress_blocked", "llm provider '%s' is not granted (--allow-llm)", req->provider);
}

/* ---- request building ------------------------------------------------------------- */

char *llm_transcript_text(Vm *vm, const LlmRequest *req)
{
  Buf b = {0};
  if (IS_STRING(req->system)) buf_puts(&b, AS_CSTR(req->system));
  for (uint32_t i = 0; i < req->messages->count; i++) {
    Value c = llm_get(req->messages->items[i], "content");
    if (b.len) buf_puts(&b, "\n");
    if (IS_STRING(c)) buf_puts(&b, AS_CSTR(c));
    else if (!IS_NIL(c)) val_display(vm, c, &b);
  }
  return buf_take(&b); /* ownership passes to the caller */
}

static ObjDict *message(Vm *vm, const char *role, Value content)
{
  ObjDict *m = dict_new(vm, 2);
  dict_set_cstr(vm, m, "role", S(vm, role));
  dict_set_cstr(vm, m, "content", content);
  return m;
}

/* Tools for the request: a tool_registry dict ({tools: [...]}) or a list
 * of tool dicts; each becomes {name, description, parameters} (handlers
 * never leave the VM). nil when there are none. */
static Value tool_specs(Vm *vm, Value tools)
{
  Value list = IS_DICT(tools) ? llm_get(tools, "tools") : tools;
  if (!IS_LIST(list) || AS_LIST(list)->count == 0) return val_nil();
  ObjList *l = AS_LIST(list);
  ObjList *specs = list_new(vm, l->count);
  for (uint32_t i = 0; i < l->count; i++) {
    Value t = l->items[i];
    if (!IS_DICT(t) || !llm_get_str(t, "name")) continue;
    ObjDict *d = dict_new(vm, 3);
    dict_set_cstr(vm, d, "name", llm_get(t, "name"));
    Value desc = llm_get(t, "description");
    dict_set_cstr(vm, d, "description", IS_NIL(desc) ? S(vm, "") : desc);
    Value p = llm_get(t, "parameters");
    dict_set_cstr(vm, d, "parameters", p);
    list_push(vm, specs, OBJ_VAL(d));
  }
  return specs->count ? OBJ_VAL(specs) : val_nil();
}

/* ---- result pieces ---------------------------------------------------------------- */

/* Split <think>...</think> out of [text]: *visible gets the rest (trimmed
 * of the whitespace the tags left), *thinking the inside or nil. */
static void split_thinking(Vm *vm, ObjString *text, Value *visible, Value *thinking)
{
  const char *s = text->chars, *open = strstr(s, "<think>");
  const char *close = open ? strstr(open, "</think>") : NULL;
  if (!open || !close) {
    *visible = OBJ_VAL(text);
    *thinking = val_nil();
    return;
  }
  *thinking = OBJ_VAL(str_new(vm, open + 7, (size_t)(close - open - 7)));
  Buf b = {0};
  buf_append(&b, s, (size_t)(open - s));
  buf_puts(&b, close + 8);
  size_t st = 0, en = b.len;
  while (st < en && (b.data[st] == ' ' || b.data[st] == '\n' || b.data[st] == '\t' || b.data[st] == '\r')) st++;
  while (en > st && (b.data[en - 1] == ' ' || b.data[en - 1] == '\n' || b.data[en - 1] == '\t' || b.data[en - 1] == '\r')) en--;
  *visible = OBJ_VAL(str_new(vm, b.data ? b.data + st : "", en - st));
  buf_free(&b);
}

/* The JSON inside [s]: the text itself, or the body of a ``` fence. */
static bool parse_json_text(Vm *vm, ObjString *s, Value *out)
{
  const char *p = s->chars, *f = strstr(p, "```");
  if (f) {
    const char *body = strchr(f + 3, '\n');
    const char *end = body ? strstr(body + 1, "```") : NULL;
    if (body && end) {
      bool ok = json_parse_value(vm, body + 1, (size_t)(end - body - 1), out);
      if (ok) return true;
      err_clear(vm);
    }
  }
  return json_parse_value(vm, p, s->len, out);
}

/* Token counts and other counts read from options, mocks and answers are
 * clamped to [0, LLM_MAX_COUNT] (a float is truncated), so that sums of
 * them cannot overflow; anything else reads as [dflt]. */
#define LLM_MAX_COUNT ((int64_t)1000000000000000) /* 1e15 */

static Value num_or(Value d, const char *key, int64_t dflt)
{
  Value v = llm_get(d, key);
  if (IS_INT(v) && AS_INT(v) >= 0) return val_int(AS_INT(v) > LLM_MAX_COUNT ? LLM_MAX_COUNT : AS_INT(v));
  if (IS_FLOAT(v) && isfinite(AS_FLOAT(v)) && AS_FLOAT(v) >= 0)
    return val_int(AS_FLOAT(v) >= (double)LLM_MAX_COUNT ? LLM_MAX_COUNT : (int64_t)AS_FLOAT(v));
  return val_int(dflt);
}

/* A number as a clamped count (negative and non-finite: 0). */
static int64_t count_of(Value v)
{
  if (IS_INT(v)) return AS_INT(v) < 0 ? 0 : AS_INT(v) > LLM_MAX_COUNT ? LLM_MAX_COUNT : AS_INT(v);
  if (IS_FLOAT(v) && isfinite(AS_FLOAT(v)) && AS_FLOAT(v) > 0)
    return AS_FLOAT(v) >= (double)LLM_MAX_COUNT ? LLM_MAX_COUNT : (int64_t)AS_FLOAT(v);
  return 0;
}

static int64_t sat_add(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

static bool opt_number(Value d, const char *key, double *out)
{
  Value v = llm_get(d, key);
  if (!IS_NUMBER(v) || !isfinite(AS_NUMBER(v))) return false;
  *out = AS_NUMBER(v);
  return true;
}

static void fmt_usd(Buf *b, double x) { fmt_float(x, false, b); }

/* Throw budget_exceeded with "<what> (<have> > <limit>)", USD amounts in
 * the float display. */
static bool budget_error(Vm *vm, const char *what, double have, double limit, bool usd)
{
  Buf a = {0}, l = {0};
  if (usd) {
    fmt_usd(&a, have);
    fmt_usd(&l, limit);
  } else {
    buf_printf(&a, "%lld", (long long)have); /* a clamped count */
    if (limit == floor(limit) && fabs(limit) < 1e15) buf_printf(&l, "%lld", (long long)limit);
    else fmt_float(limit, false, &l);
  }
  bool r = llm_throw(vm, "budget_exceeded", "LLM budget exceeded: %s (%s > %s)", what, a.data, l.data);
  buf_free(&a);
  buf_free(&l);
  return r;
}

/* ---- llm_call ------------------------------------------------------------------------ */

bool llm_call_full(Vm *vm, Value prompt, Value system, Value opts, ObjList *messages, Value *out)
{
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  if (!IS_NIL(opts) && !IS_DICT(opts)) return err_type(vm, "llm_call: options must be a dict, got %s", val_type_name(opts));
  if (!IS_NIL(prompt) && !IS_STRING(prompt))
    return err_type(vm, "llm_call: prompt must be a string, got %s", val_type_name(prompt));
  if (IS_NIL(system)) system = llm_get(opts, "system");
  if (!IS_NIL(system) && !IS_STRING(system))
    return err_type(vm, "llm_call: system must be a string, got %s", val_type_name(system));

  LlmRequest req = {0};
  req.provider = llm_get_str(opts, "provider");
  if (!req.provider) req.provider = default_provider();
  req.model = llm_get_str(opts, "model");
  if (!req.model) req.model = strcmp(req.provider, "mock") == 0 ? "mock" : "default";
  req.system = system;
  req.opts = IS_DICT(opts) ? AS_DICT(opts) : dict_new(vm, 0);

  /* the conversation */
  ObjList *msgs = messages ? list_copy(vm, messages) : NULL;
  if (!msgs) {
    Value given = llm_get(opts, "messages");
    Value tr = llm_get(opts, "transcript");
    if (IS_DICT(tr)) {
      if (IS_NIL(system)) req.system = system = llm_get(tr, "system");
      tr = llm_get(tr, "messages");
    }
    if (IS_LIST(given)) msgs = list_copy(vm, AS_LIST(given));
    else if (IS_LIST(tr)) msgs = list_copy(vm, AS_LIST(tr));
    else msgs = list_new(vm, 1);
    if (IS_STRING(prompt) || msgs->count == 0)
      list_push(vm, msgs, OBJ_VAL(message(vm, "user", IS_STRING(prompt) ? prompt : S(vm, ""))));
  }
  req.messages = msgs;
  req.tools = tool_specs(vm, llm_get(opts, "tools"));
  req.tool_choice = llm_get(opts, "tool_choice");
  req.response_format = llm_get(opts, "response_format");
  req.schema = llm_get(opts, "schema");
  if (!IS_DICT(req.schema)) req.schema = llm_get(req.response_format, "schema");
  if (!IS_DICT(req.schema)) req.schema = val_nil();
  req.max_tokens = AS_INT(num_or(opts, "max_tokens", LLM_DEFAULT_MAX_TOKENS));
  if (req.max_tokens <= 0) req.max_tokens = LLM_DEFAULT_MAX_TOKENS;

  /* budget pre-flight: the worst case must fit */
  Value budget = llm_get(opts, "budget");
  char *text = llm_transcript_text(vm, &req);
  int64_t in_bound = text ? (int64_t)strlen(text) : 0;
  free(text);
  double worst = price_of(req.model, in_bound, req.max_tokens), lim;
  if (opt_number(budget, "max_input_tokens", &lim) && (double)in_bound > lim)
    return budget_error(vm, "max_input_tokens", (double)in_bound, lim, false);
  if (opt_number(budget, "max_cost_usd", &lim) && worst > lim)
    return budget_error(vm, "max_cost_usd", worst, lim, true);
  if (opt_number(budget, "total_budget_usd", &lim) && st->cost_usd + worst > lim)
    return budget_error(vm, "total_budget_usd", st->cost_usd + worst, lim, true);
  if (st->has_budget && st->cost_usd + worst > st->budget_usd)
    return budget_error(vm, "llm_budget", st->cost_usd + worst, st->budget_usd, true);

  /* the provider, with retries on retryable categories */
  int retries = (int)AS_INT(num_or(opts, "llm_retries", 0));
  if (retries > LLM_MAX_RETRIES) retries = LLM_MAX_RETRIES;
  ObjDict *ans = NULL;
  for (int attempt = 0;; attempt++) {
    if (llm_provider_send(vm, &req, &ans)) break;
    if (!err_catchable(vm->err_kind) || attempt >= retries) return false;
    if (!retryable(pending_category(vm, err_caught_value(vm)))) return false;
    err_clear(vm);
  }

  /* usage */
  Value av = OBJ_VAL(ans);
  int64_t in = AS_INT(num_or(av, "input_tokens", 0)), outt = AS_INT(num_or(av, "output_tokens", 0));
  int64_t cr = AS_INT(num_or(av, "cache_read_tokens", 0)), cw = AS_INT(num_or(av, "cache_write_tokens", 0));
  const char *model = llm_get_str(av, "model");
  if (!model) model = req.model;
  double cost = price_of(model, in, outt);
  st->n_calls++;
  st->in_tokens = sat_add(st->in_tokens, in);
  st->out_tokens = sat_add(st->out_tokens, outt);
  st->cache_read = sat_add(st->cache_read, cr);
  st->cache_write = sat_add(st->cache_write, cw);
  st->cost_usd += cost;

  /* the charge to every open step (may throw the exhaustion dict) */
  ObjDict *charge = dict_new(vm, 3);
  dict_set_cstr(vm, charge, "input_tokens", val_int(in));
  dict_set_cstr(vm, charge, "output_tokens", val_int(outt));
  dict_set_cstr(vm, charge, "cost_usd", val_float(cost));
  Value cv = OBJ_VAL(charge), ignored;
  if (!steps_bi_charge(vm, 1, &cv, &ignored)) return false;

  /* per-call budget, with the actual usage */
  if (opt_number(budget, "max_output_tokens", &lim) && (double)outt > lim)
    return budget_error(vm, "max_output_tokens", (double)outt, lim, false);
  if (opt_number(budget, "max_cost_usd", &lim) && cost > lim) return budget_error(vm, "max_cost_usd", cost, lim, true);

  /* text, thinking, tool calls, data */
  Value tv = llm_get(av, "text");
  ObjString *txt = IS_STRING(tv) ? AS_STRING(tv) : str_cstr(vm, "");
  Value visible, thinking;
  split_thinking(vm, txt, &visible, &thinking);
  Value tcs = llm_get(av, "tool_calls");
  ObjList *calls = list_new(vm, IS_LIST(tcs) ? AS_LIST(tcs)->count : 0);
  if (IS_LIST(tcs)) {
    for (uint32_t i = 0; i < AS_LIST(tcs)->count; i++) {
      Value c = AS_LIST(tcs)->items[i];
      if (!llm_get_str(c, "name")) continue;
      ObjDict *d = dict_new(vm, 3);
      Value id = llm_get(c, "id");
      if (!IS_STRING(id)) id = OBJ_VAL(str_printf(vm, "call_%lld", (long long)++st->next_tool_call_id));
      Value a = llm_get(c, "arguments");
      if (IS_NIL(a)) a = llm_get(c, "args");
      if (IS_STRING(a)) { /* providers send the arguments as JSON text */
        Value parsed;
        if (json_parse_value(vm, AS_CSTR(a), AS_STRING(a)->len, &parsed)) a = parsed;
        else err_clear(vm);
      }
      if (IS_NIL(a)) a = OBJ_VAL(dict_new(vm, 0));
      dict_set_cstr(vm, d, "id", id);
      dict_set_cstr(vm, d, "name", llm_get(c, "name"));
      dict_set_cstr(vm, d, "arguments", a);
      list_push(vm, calls, OBJ_VAL(d));
    }
  }
  Value data = val_nil();
  bool want_json = IS_DICT(req.schema) || IS_DICT(req.response_format) ||
                   (IS_STRING(req.response_format) && strcmp(AS_CSTR(req.response_format), "json") == 0);
  if (want_json) {
    if (!parse_json_text(vm, AS_STRING(visible), &data)) {
      err_clear(vm);
      return llm_throw(vm, "schema_validation", "LLM response is not valid JSON");
    }
    if (IS_DICT(req.schema)) {
      ObjString *why = llm_schema_problems(vm, data, req.schema);
      if (why) return llm_throw(vm, "schema_validation", "LLM response does not match the schema: %s", why->chars);
    }
  }

  /* blocks, transcript */
  ObjList *blocks = list_new(vm, 1 + calls->count);
  if (thinking.type != VAL_NIL) {
    ObjDict *b = dict_new(vm, 2);
    dict_set_cstr(vm, b, "type", S(vm, "thinking"));
    dict_set_cstr(vm, b, "text", thinking);
    list_push(vm, blocks, OBJ_VAL(b));
  }
  if (AS_STRING(visible)->len) {
    ObjDict *b = dict_new(vm, 2);
    dict_set_cstr(vm, b, "type", S(vm, "text"));
    dict_set_cstr(vm, b, "text", visible);
    list_push(vm, blocks, OBJ_VAL(b));
  }
  for (uint32_t i = 0; i < calls->count; i++) {
    ObjDict *b = dict_copy(vm, AS_DICT(calls->items[i]));
    dict_set_cstr(vm, b, "type", S(vm, "tool_call"));
    list_push(vm, blocks, OBJ_VAL(b));
  }
  ObjDict *asst = message(vm, "assistant", OBJ_VAL(txt));
  if (calls->count) dict_set_cstr(vm, asst, "tool_calls", OBJ_VAL(calls));
  ObjList *tmsgs = list_copy(vm, msgs);
  list_push(vm, tmsgs, OBJ_VAL(asst));
  ObjDict *transcript = dict_new(vm, 2);
  dict_set_cstr(vm, transcript, "messages", OBJ_VAL(tmsgs));
  dict_set_cstr(vm, transcript, "system", system);

  ObjDict *usage = dict_new(vm, 6);
  dict_set_cstr(vm, usage, "input_tokens", val_int(in));
  dict_set_cstr(vm, usage, "output_tokens", val_int(outt));
  dict_set_cstr(vm, usage, "cache_read_tokens", val_int(cr));
  dict_set_cstr(vm, usage, "cache_write_tokens", val_int(cw));
  dict_set_cstr(vm, usage, "total_tokens", val_int(in + outt));
  dict_set_cstr(vm, usage, "cost_usd", val_float(cost));

  ObjDict *r = dict_new(vm, 16);
  dict_set_cstr(vm, r, "text", OBJ_VAL(txt));
  dict_set_cstr(vm, r, "visible_text", visible);
  dict_set_cstr(vm, r, "model", S(vm, model));
  dict_set_cstr(vm, r, "provider", S(vm, req.provider));
  dict_set_cstr(vm, r, "input_tokens", val_int(in));
  dict_set_cstr(vm, r, "output_tokens", val_int(outt));
  dict_set_cstr(vm, r, "cache_read_tokens", val_int(cr));
  dict_set_cstr(vm, r, "cache_write_tokens", val_int(cw));
  dict_set_cstr(vm, r, "usage", OBJ_VAL(usage));
  dict_set_cstr(vm, r, "data", data);
  dict_set_cstr(vm, r, "tool_calls", OBJ_VAL(calls));
  dict_set_cstr(vm, r, "thinking", thinking);
  dict_set_cstr(vm, r, "blocks", OBJ_VAL(blocks));
  dict_set_cstr(vm, r, "stop_reason", S(vm, calls->count ? "tool_use" : "end_turn"));
  dict_set_cstr(vm, r, "transcript", OBJ_VAL(transcript));
  *out = OBJ_VAL(r);
  return true;
}

/* llm_call(prompt, system?, opts?) and llm_call(prompt, opts) */
static void split_args(int argc, Value *argv, Value *prompt, Value *system, Value *opts)
{
  *prompt = arg(argc, argv, 0);
  *system = arg(argc, argv, 1);
  *opts = arg(argc, argv, 2);
  if (argc == 2 && IS_DICT(*system)) {
    *opts = *system;
    *system = val_nil();
  }
}

bool llm_bi_call(Vm *vm, int argc, Value *argv, Value *out)
{
  Value p, s, o;
  split_args(argc, argv, &p, &s, &o);
  return llm_call_full(vm, p, s, o, NULL, out);
}

bool llm_bi_call_safe(Vm *vm, int argc, Value *argv, Value *out)
{
  Value p, s, o, r;
  split_args(argc, argv, &p, &s, &o);
  ObjDict *d = dict_new(vm, 3);
  if (llm_call_full(vm, p, s, o, NULL, &r)) {
    dict_set_cstr(vm, d, "ok", val_bool(true));
    dict_set_cstr(vm, d, "response", r);
    dict_set_cstr(vm, d, "error", val_nil());
    *out = OBJ_VAL(d);
    return true;
  }
  if (!err_catchable(vm->err_kind)) return false;
  Value caught = err_caught_value(vm);
  ObjDict *e = dict_new(vm, 2);
  dict_set_cstr(vm, e, "category", S(vm, pending_category(vm, caught)));
  dict_set_cstr(vm, e, "message", OBJ_VAL(pending_message(vm, caught)));
  err_clear(vm);
  dict_set_cstr(vm, d, "ok", val_bool(false));
  dict_set_cstr(vm, d, "response", val_nil());
  dict_set_cstr(vm, d, "error", OBJ_VAL(e));
  *out = OBJ_VAL(d);
  return true;
}

/* llm_call_structured(prompt, schema, opts?): the validated data. */
bool llm_bi_call_structured(Vm *vm, int argc, Value *argv, Value *out)
{
  Value schema = arg(argc, argv, 1), opts = arg(argc, argv, 2);
  if (!IS_DICT(schema)) return err_type(vm, "llm_call_structured: schema must be a dict, got %s", val_type_name(schema));
  if (!IS_NIL(opts) && !IS_DICT(opts))
    return err_type(vm, "llm_call_structured: options must be a dict, got %s", val_type_name(opts));
  ObjDict *o = IS_DICT(opts) ? dict_copy(vm, AS_DICT(opts)) : dict_new(vm, 1);
  dict_set_cstr(vm, o, "schema", schema);
  Value r;
  if (!llm_call_full(vm, arg(argc, argv, 0), val_nil(), OBJ_VAL(o), NULL, &r)) return false;
  *out = llm_get(r, "data");
  return true;
}

/* ---- totals, budgets, prices, info ---------------------------------------------------- */

bool llm_bi_usage(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc, (void)argv;
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  ObjDict *d = dict_new(vm, 7);
  dict_set_cstr(vm, d, "calls", val_int(st->n_calls));
  dict_set_cstr(vm, d, "input_tokens", val_int(st->in_tokens));
  dict_set_cstr(vm, d, "output_tokens", val_int(st->out_tokens));
  dict_set_cstr(vm, d, "cache_read_tokens", val_int(st->cache_read));
  dict_set_cstr(vm, d, "cache_write_tokens", val_int(st->cache_write));
  dict_set_cstr(vm, d, "total_tokens", val_int(st->in_tokens + st->out_tokens));
  dict_set_cstr(vm, d, "cost_usd", val_float(st->cost_usd));
  *out = OBJ_VAL(d);
  return true;
}

bool llm_bi_budget(Vm *vm, int argc, Value *argv, Value *out)
{
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  Value v = arg(argc, argv, 0);
  *out = val_nil();
  if (IS_NIL(v)) {
    st->has_budget = false;
    return true;
  }
  if (!IS_NUMBER(v) || !isfinite(AS_NUMBER(v)) || AS_NUMBER(v) < 0)
    return err_type(vm, "llm_budget: expected a number >= 0, got %s", val_type_name(v));
  st->has_budget = true;
  st->budget_usd = AS_NUMBER(v);
  return true;
}

bool llm_bi_budget_remaining(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc, (void)argv;
  LlmState *st = llm_state(vm);
  if (!st) return err_memory(vm);
  if (!st->has_budget) *out = val_nil();
  else *out = val_float(st->budget_usd > st->cost_usd ? st->budget_usd - st->cost_usd : 0.0);
  return true;
}

bool llm_bi_cost(Vm *vm, int argc, Value *argv, Value *out)
{
  Value m = arg(argc, argv, 0), i = arg(argc, argv, 1), o = arg(argc, argv, 2);
  if (!IS_STRING(m)) return err_type(vm, "llm_cost: model must be a string, got %s", val_type_name(m));
  if (!IS_NUMBER(i) || !IS_NUMBER(o))
    return err_type(vm, "llm_cost: token counts must be numbers, got %s and %s", val_type_name(i), val_type_name(o));
  *out = val_float(price_of(AS_CSTR(m), count_of(i), count_of(o)));
  return true;
}

bool llm_bi_providers(Vm *vm, int argc, Value *argv, Value *out)
{
  (void)argc, (void)argv;
  ObjList *l = list_new(vm, 1);
  list_push(vm, l, S(vm, "mock"));
  *out = OBJ_VAL(l);
  return true;
}

bool llm_bi_info(Vm *vm, int argc, Value *argv, Value *out)
{
  ObjDict *d = dict_new(vm, 6);
  Value providers;
  llm_bi_providers(vm, argc, argv, &providers);
  dict_set_cstr(vm, d, "provider", S(vm, default_provider()));
  dict_set_cstr(vm, d, "model", S(vm, "mock"));
  dict_set_cstr(vm, d, "providers", providers);
  dict_set_cstr(vm, d, "granted", OBJ_VAL(list_new(vm, 0)));
  dict_set_cstr(vm, d, "api_key_set", val_bool(false));
  dict_set_cstr(vm, d, "max_tokens", val_int(LLM_DEFAULT_MAX_TOKENS));
  *out = OBJ_VAL(d);
  return true;
}

/* with_rate_limit(provider, fn, opts?): fn() with its rate_limit errors
 * retried up to opts.max_retries (default 3) times. The token bucket
 * itself is the broker's, shared by every worker (CAPABILITIES.md 8); the
 * mock provider has none, so nothing waits here. */
bool llm_bi_with_rate_limit(Vm *vm, int argc, Value *argv, Value *out)
{
  Value prov = arg(argc, argv, 0), fn = arg(argc, argv, 1), opts = arg(argc, argv, 2);
  if (!IS_STRING(prov)) return err_type(vm, "with_rate_limit: provider must be a string, got %s", val_type_name(prov));
  if (!vm_is_callable(fn)) return err_type(vm, "with_rate_limit: expected a function, got %s", val_type_name(fn));
  if (!IS_NIL(opts) && !IS_DICT(opts))
    return err_type(vm, "with_rate_limit: options must be a dict, got %s", val_type_name(opts));
  int max = (int)AS_INT(num_or(opts, "max_retries", 3));
  if (max > LLM_MAX_RETRIES) max = LLM_MAX_RETRIES;
  for (int attempt = 0;; attempt++) {
    if (vm_call(vm, fn, 0, NULL, out)) return true;
    if (!err_catchable(vm->err_kind) || attempt >= max) return false;
    Value caught = err_caught_value(vm);
    gc_push_root(vm, caught);
    bool again = strcmp(pending_category(vm, caught), "rate_limit") == 0;
    gc_pop_root(vm);
    if (!again) return false;
    err_clear(vm);
  }
}

/* ---- the VM interface (vm.h) ----------------------------------------------------------- */

bool vm_llm_totals(Vm *vm, VmLlmTotals *out)
{
  memset(out, 0, sizeof *out);
  LlmState *st = vm->llm;
  if (!st) return false;
  out->calls = st->n_calls;
  out->input_tokens = st->in_tokens;
  out->output_tokens = st->out_tokens;
  out->cost_usd = st->cost_usd;
  return true;
}
