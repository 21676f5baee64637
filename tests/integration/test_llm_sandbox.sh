#!/usr/bin/env bash
# test_llm_sandbox.sh: the LLM builtins with the mock provider work inside
# the locked-down worker, with no network and no grant (docs/llm.md;
# shared/design/CAPABILITIES.md 8: provider "mock" runs in the worker).
#
# 1. Every tests/lang/llm/NAME.harn runs through the real sandboxed worker
#    (`harn run FILE`, not --inline): stdout must equal NAME.expected, or,
#    for a NAME.error test, the run must fail with a stderr holding every
#    line of NAME.error.
# 2. The same programs as one `harn batch -j 2` (zygote clones, pool
#    filter): every record ok with the expected output.
# 3. Step records carry the tokens and cost of the LLM calls made inside
#    the step (docs/RUNTIME.md 7.5), and an LLM charge past a step budget
#    gives the `skipped` record of a continue boundary.
# 4. A provider other than the mock is refused in the worker with
#    egress_blocked, and nothing reaches the network: the job stays ok
#    when the script catches it.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python
SRC=${HARN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# 1. each program in its own sandboxed worker
lang_sandboxed "$SRC"/tests/lang/llm/*.harn
[ "$LANG_N" -ge 8 ] || fail "expected the tests/lang/llm programs under $SRC, found $LANG_N"

# 2. the same programs through a batch
lang_batched llm

# 3. step records carry tokens and cost
cat > steps.harn <<'EOF'
@step(name: "summarize")
fn summarize(text) {
  llm_mock({text: "short", input_tokens: 1000, output_tokens: 200, model: "gpt-4o-mini"})
  let a = llm_call("Summarize: " + text).text
  let b = llm_call("Again: " + text, {model: "gpt-4o"}).text
  return a + " / " + b
}
@step(name: "tight", budget: {max_tokens: 10}, error_boundary: "continue")
fn tight() {
  return llm_call("far more than ten tokens in this prompt").text
}
println(summarize("abc"))
println(tight())
println(llm_usage().calls)
EOF
"$HARN_BIN" run steps.harn --json > steps.json 2> steps.err
CHECK_PICK=last check "step records: status and output" steps.json \
  "r['status'] == 'ok' and r['output'] == 'short / Mock response to 2-word prompt: Again: abc\nnil\n3\n'"
# summarize: 1000 (the mock's) + 10 ("Again: abc") input tokens, 200 + 30
# output; cost 1000 in + 200 out at gpt-4o-mini (0.15/0.60 per Mtok) + 10 in
# + 30 out at gpt-4o (2.50/10.00)
CHECK_PICK=last check "step record: tokens, cost and llm_calls of the calls inside the step" steps.json \
  "(lambda s: s['name'] == 'summarize' and s['status'] == 'completed' and s['input_tokens'] == 1010 and s['output_tokens'] == 230 and s['llm_calls'] == 2 and abs(s['cost_usd'] - (1000*0.15 + 200*0.60 + 10*2.5 + 30*10.0)/1e6) < 1e-12)(r['steps'][0])"
CHECK_PICK=last check "step record: an LLM charge past max_tokens, continue boundary" steps.json \
  "(lambda s: s['name'] == 'tight' and s['status'] == 'skipped' and s['input_tokens'] == 39 and s['output_tokens'] == 30 and s['error'] == 'step \`tight\` exceeded max_tokens budget (69 > 10)')(r['steps'][1])"

# 4. a real provider is refused in the worker
cat > provider.harn <<'EOF'
let r = llm_call_safe("hi", {provider: "openai", model: "gpt-4o"})
println(r.error.category)
println(r.error.message)
EOF
"$HARN_BIN" run provider.harn --json > provider.json 2> provider.err
CHECK_PICK=last check "a non-mock provider: egress_blocked in the worker" provider.json \
  "r['status'] == 'ok' and r['output'] == \"egress_blocked\nllm provider 'openai' is not granted (--allow-llm)\n\""

lib_finish
