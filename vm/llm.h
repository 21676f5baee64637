/*
 * llm.h: the LLM builtins inside the VM (docs/llm.md; design:
 * shared/design/CAPABILITIES.md 8, 11 "LLM", 12).
 *
 * Three files, one concern each:
 *   llm.c       llm_call and its family: options, the request, the one
 *               provider entry point (llm_provider_send), result shapes,
 *               error categories, usage, budgets, costs, steps (llm_ prefix)
 *   llm_mock.c  the mock provider and llm_mock* (llmmock_ prefix)
 *   agent.c     tool_registry, tool_define, agent_loop (agent_ prefix)
 *
 * Per-VM state (vm->llm, NULL until an LLM builtin runs, freed by
 * llm_free from vm_free) holds only C data: queued mocks and the call log
 * are kept as JSON text, so no Harn value outlives a builtin call and the
 * collector needs no root for them. Every list it keeps is capped.
 *
 * Errors of a call are thrown as the dict {category, message} (the
 * categories of CAPABILITIES.md 12), so `catch`, error_category() and the
 * step boundary (a budget_exceeded dict) all see the same value.
 */
#ifndef HARN_LLM_H
#define HARN_LLM_H

#include <stdbool.h>
#include <stdint.h>

#include "value.h"

/* ---- builtins (table entries in builtins.c) ---- */
bool llm_bi_call(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_call_safe(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_call_structured(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_usage(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_budget(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_budget_remaining(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_cost(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_info(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_providers(Vm *vm, int argc, Value *argv, Value *out);
bool llm_bi_with_rate_limit(Vm *vm, int argc, Value *argv, Value *out);
bool llmmock_bi_mock(Vm *vm, int argc, Value *argv, Value *out);
bool llmmock_bi_calls(Vm *vm, int argc, Value *argv, Value *out);
bool llmmock_bi_clear(Vm *vm, int argc, Value *argv, Value *out);
bool agent_bi_tool_registry(Vm *vm, int argc, Value *argv, Value *out);
bool agent_bi_tool_define(Vm *vm, int argc, Value *argv, Value *out);
bool agent_bi_loop(Vm *vm, int argc, Value *argv, Value *out);

/* Free the LLM state of [vm] (vm_free). */
void llm_free(Vm *vm);

/* ---- shared between llm.c, llm_mock.c and agent.c ---- */

/* Caps on what the state keeps. */
#define LLM_MAX_MOCKS 10000      /* queued llm_mock responses */
#define LLM_MAX_CALL_LOG 10000   /* llm_mock_calls entries (oldest dropped) */
#define LLM_MAX_ITERATIONS 1000  /* agent_loop max_iterations ceiling */

typedef struct LlmMock {
  char *json;     /* the llm_mock dict as JSON (malloc'd) */
  char *match;    /* glob on the transcript text, NULL: FIFO (malloc'd) */
  bool consume;   /* a matched mock is removed when used */
} LlmMock;

typedef struct LlmState {
  LlmMock *mocks;
  int nmocks, capmocks;
  char **calls; /* JSON of each recorded request (ring, oldest first) */
  int ncalls, capcalls;
  /* totals of this VM (llm_usage) */
  int64_t n_calls, in_tokens, out_tokens, cache_read, cache_write;
  double cost_usd;
  bool has_budget; /* llm_budget(usd) */
  double budget_usd;
  int64_t next_tool_call_id;
} LlmState;

/* The state of [vm], allocated when new (NULL only when out of memory). */
LlmState *llm_state(Vm *vm);

/* One request to a provider, built by llm_call / agent_loop. Every object
 * is owned by the caller and rooted by it across callbacks. */
typedef struct LlmRequest {
  const char *provider;  /* "mock", or a provider name */
  const char *model;
  ObjList *messages;     /* {role, content[, tool_calls, tool_call_id, name]} */
  Value system;          /* string or nil */
  Value tools;           /* list of {name, description, parameters} or nil */
  Value tool_choice;
  Value response_format; /* "json", a dict, or nil */
  Value schema;          /* dict or nil */
  int64_t max_tokens;
  ObjDict *opts;         /* every option given (recorded by the mock) */
} LlmRequest;

/* A provider's raw answer: a dict {text, tool_calls, input_tokens,
 * output_tokens, cache_read_tokens, cache_write_tokens, model}.
 *
 * llm_provider_send is the ONE entry point through which every request
 * goes: "mock" runs llmmock_answer here; any other provider is meant to be
 * sent through the supervisor's broker (protocol v3 host_call, cap "llm")
 * and today fails with category egress_blocked:
 * `llm provider 'NAME' is not granted (--allow-llm)`. False with the error
 * set (a thrown {category, message} dict). */
bool llm_provider_send(Vm *vm, const LlmRequest *req, ObjDict **answer);

/* The mock provider: a queued llm_mock (glob matches first, then FIFO) or
 * the deterministic default; records the request for llm_mock_calls. */
bool llmmock_answer(Vm *vm, const LlmRequest *req, ObjDict **answer);

/* The text of a request used by mock globs: the system prompt and each
 * message's content, joined by "\n" (malloc'd, never NULL). */
char *llm_transcript_text(Vm *vm, const LlmRequest *req);

/* Throw the dict {category, message}; returns false. */
bool llm_throw(Vm *vm, const char *category, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A full llm_call: the request from (prompt, system, opts) or explicit
 * messages, retries, usage and budgets, the step charge, and the result
 * dict of CAPABILITIES.md 11. [messages] (may be NULL) replaces the
 * prompt-derived conversation (agent_loop). */
bool llm_call_full(Vm *vm, Value prompt, Value system, Value opts, ObjList *messages, Value *out);

/* Placeholder value for a JSON schema (tool arguments and structured
 * defaults of the mock): string "mock", integer 0, number 0.0, boolean
 * false, array [], object with each property filled, else nil. */
Value llm_placeholder(Vm *vm, Value schema, int depth);

/* The category error_category() gives [err] (docs/LANGUAGE.md 12.2). */
const char *llm_classify(Vm *vm, Value err);
/* The problems of [v] against the JSON schema [schema] as schema_check
 * words them (builtins.c), or NULL when it is valid. */
ObjString *llm_schema_problems(Vm *vm, Value v, Value schema);

/* Small dict helpers. */
Value llm_get(Value dict, const char *key);
const char *llm_get_str(Value dict, const char *key); /* NULL when not a string */

#endif
