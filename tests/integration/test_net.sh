#!/usr/bin/env bash
# test_net.sh: the HTTP broker (issue 15, CAPABILITIES.md 7) against the
# fake server tests/tools/fakehttp.c on 127.0.0.1, through `harn run` and
# `harn batch` with their --allow-net / --deny-net grants:
#  - the allow-list (a granted request works and is in used.net; an
#    ungranted host throws EgressBlocked and is in `denied`);
#  - deny wins; the private-range default (a *name* resolving to 127.0.0.1
#    is refused unless 127.0.0.1 itself is granted: `localhost` with only
#    127.0.0.2 granted); a redirect to a denied host; plain http refused
#    unless granted as http://;
#  - the response size cap; 429 + Retry-After with retries;
#  - the deadline with a request in flight (record `timeout`, promptly);
#    SIGKILL of the worker mid-request (the supervisor records it and
#    exits promptly);
#  - at most 4 transfers of one job at once;
#  - 50 parallel jobs doing requests, all ok.
set -u
. "$(dirname "$0")/lib.sh"
lib_init python

FAKEHTTP=$(dirname "$HARN_BIN")/fakehttp
[ -x "$FAKEHTTP" ] || skip_all "no fakehttp next to harn"
"$HARN_BIN" --version | grep -q '^features:.* +net' || skip_all "this harn is built without the network feature (HARN_WITH_NET=OFF)"

start_server() { # -> $PORT, $SRV
  "$FAKEHTTP" > "$T/port.$1" &
  SRV=$!
  for _ in $(seq 50); do [ -s "$T/port.$1" ] && break; sleep 0.1; done
  PORT=$(cat "$T/port.$1")
}
start_server main
MAIN_SRV=$SRV
trap 'kill $MAIN_SRV ${RETRY_SRV:-} 2>/dev/null; rm -rf "$T"' EXIT
U=http://127.0.0.1:$PORT

run() { # run NAME SCRIPT ARGS... -> $T/NAME.json
  local name=$1 src=$2
  shift 2
  printf '%s\n' "$src" > "$T/$name.harn"
  timeout 60 "$HARN_BIN" run --json "$@" "$T/$name.harn" > "$T/$name.json" 2> "$T/$name.err"
}

# allow-list
run ok "let r = http_get(\"$U/ok\")
println(\"\${r.status} \${r.body} \${r.ok}\")" --allow-net=http://127.0.0.1
check "granted request" "$T/ok.json" \
  "r['status']=='ok' and r['output']=='200 ok true\n' and r['capabilities']['used']['net'][0]['status']==200 and r['capabilities']['used']['net'][0]['bytes']==2"

run nohost "try { http_get(\"https://example.com/\") } catch (e) { println(e.type); println(e.reason) }" \
  --allow-net=http://127.0.0.1
check "ungranted host: EgressBlocked, in denied, nothing sent" "$T/nohost.json" \
  "r['output'].startswith('EgressBlocked\n') and r['capabilities']['denied'][0]['target']=='https://example.com/' and r['capabilities']['used']['net']==[]"

run nogrant "try { http_get(\"$U/ok\") } catch (e) { println(e) }"
check "no --allow-net: no network at all" "$T/nogrant.json" \
  "'not available here' in r['output'] and 'capabilities' not in r"

run deny "try { http_get(\"$U/ok\") } catch (e) { println(e.category); println(e.reason) }" \
  --allow-net=http://127.0.0.1 --deny-net=127.0.0.0/8
check "deny wins" "$T/deny.json" "r['output'].startswith('egress_blocked\ndenied by --deny-net')"

run https_only "try { http_get(\"$U/ok\") } catch (e) { println(e.reason) }" --allow-net=127.0.0.1
check "plain http refused unless granted as http://" "$T/https_only.json" "'plain http is not granted' in r['output']"

run private "try { http_get(\"http://localhost:$PORT/ok\") } catch (e) { println(e.reason) }" \
  --allow-net=http://localhost
check "private-range default: localhost -> 127.0.0.1 / ::1 refused" "$T/private.json" \
  "'private, loopback' in r['output'] and r['capabilities']['denied'][0]['target'].startswith('http://localhost')"

run rebind "try { http_get(\"http://localhost:$PORT/ok\") } catch (e) { println(e.reason) }" \
  --allow-net=http://localhost,http://127.0.0.2
check "a name resolving to an address not granted (only 127.0.0.2)" "$T/rebind.json" \
  "'private, loopback' in r['output'] and r['capabilities']['used']['net'][0]['status']==0"

run explicit "println(http_get(\"http://localhost:$PORT/ok\").body)" --allow-net=http://localhost,http://127.0.0.1
check "the loopback named explicitly" "$T/explicit.json" "r['output']=='ok\n'"

run redirect "try { http_get(\"$U/redirect?to=http://10.1.2.3/x\") } catch (e) { println(e.url); println(e.reason) }
println(http_get(\"$U/redirect?to=/ok\").body)" --allow-net=http://127.0.0.1
check "redirect to a denied host refused; a granted one followed" "$T/redirect.json" \
  "r['output'].startswith('http://10.1.2.3/x\n') and r['output'].endswith('ok\n') and len(r['capabilities']['used']['net'])==3"

run big "try { http_get(\"$U/big?bytes=5000\") } catch (e) { println(e) }
println(len(http_get(\"$U/big?bytes=1000\").body))" --allow-net=http://127.0.0.1 --max-response-bytes 4000
check "response size cap" "$T/big.json" "r['output']=='response_too_large: the response exceeds --max-response-bytes (4000)\n1000\n'"

run cap "for i in [1, 2, 3, 4, 5] { try { http_get(\"$U/ok\") } catch (e) { println(e) } }" --allow-net=http://127.0.0.1 --max-requests 3
check "requests per job" "$T/cap.json" "r['output'].count('limit:')==2 and len(r['capabilities']['used']['net'])==3"

# at most 4 transfers of a job at once: 8 concurrent calls of 600 ms take
# two rounds
run conc "var ts = []
for i in [1, 2, 3, 4, 5, 6, 7, 8] { ts = ts + [spawn { http_get(\"$U/slow?ms=600\").status }] }
println(len(ts.map({ t -> await(t) }).filter({ s -> s == 200 })))" --allow-net=http://127.0.0.1
check "8 concurrent calls: 4 at a time" "$T/conc.json" \
  "r['output']=='8\n' and len(r['capabilities']['used']['net'])==8 and r['duration_ms']>=1200"

# 429 + Retry-After: the fresh server answers 200 at the 3rd hit
start_server retry
RETRY_SRV=$SRV
run retry "let s = http_get(\"http://127.0.0.1:$PORT/status?code=429&retry-after=1\", {retry: {max: 3, backoff_ms: 10}})
println(\"\${s.status} \${s.body}\")" --allow-net=http://127.0.0.1
check "429 + Retry-After retried (counted as requests, waited ~2 s)" "$T/retry.json" \
  "r['output']=='200 recovered\n' and [e['status'] for e in r['capabilities']['used']['net']]==[429,429,200] and r['duration_ms']>=1900"
kill $RETRY_SRV 2>/dev/null
PORT=${U##*:}

# a deadline inside the program: the waiting fiber ends with the usual
# error, host_cancel goes out, the answer (`cancelled`) is dropped
run indl "try { deadline 300ms { http_get(\"$U/slow?ms=5000\") } } catch (e) { println(\"caught: \${e}\") }
println(\"after\")" --allow-net=http://127.0.0.1 --events
CHECK_PICK=last check "deadline inside the program: host_cancel, the job goes on" "$T/indl.json" \
  "r['output'].startswith('caught: ') and 'Deadline' in r['output'] and r['output'].endswith('after\n') and 'host_cancel' in types and r['duration_ms'] < 4000"

# pending_host_calls: a task still waiting on a call when the pipeline
# returns is in the unsettled snapshot
run pend "let t = spawn { http_get(\"$U/slow?ms=3000\") }
sleep(200ms)
return 1" --allow-net=http://127.0.0.1
check "pending_host_calls lists the call in flight" "$T/pend.json" \
  "r['lifecycle'][0]['payload']['unsettled']['pending_host_calls'][0]['name']=='net.request'"

# the deadline with a request in flight
t0=$(date +%s%N)
run deadline "println(http_get(\"$U/slow?ms=20000\").status)" --allow-net=http://127.0.0.1 --timeout 1s
t1=$(date +%s%N)
check "deadline with a request in flight: timeout" "$T/deadline.json" "r['status']=='timeout'"
[ $(((t1 - t0) / 1000000)) -lt 8000 ] && pass "... promptly" || fail "... promptly ($(((t1 - t0) / 1000000)) ms)"

# SIGKILL of the worker mid-request
printf '%s\n' "println(http_get(\"$U/slow?ms=20000\").status)" > "$T/kill.harn"
timeout 60 "$HARN_BIN" run --json --allow-net=http://127.0.0.1 "$T/kill.harn" > "$T/kill.json" 2>/dev/null &
H=$!
W=
for _ in $(seq 100); do
  S=$(pgrep -P $H | head -1) # timeout -> harn -> the worker
  [ -n "$S" ] && W=$(pgrep -P "$S" | head -1)
  [ -n "$W" ] && break
  sleep 0.05
done
sleep 0.5
t0=$(date +%s%N)
[ -n "$W" ] && kill -9 "$W"
wait $H
t1=$(date +%s%N)
check "worker SIGKILLed mid-request: recorded" "$T/kill.json" "r['status'] in ('crashed','killed')"
[ $(((t1 - t0) / 1000000)) -lt 5000 ] && pass "... and the supervisor ends promptly" || fail "... promptly"

# 50 parallel jobs
mkdir -p "$T/par"
for i in $(seq 50); do
  printf '%s\n' "let r = http_get(\"$U/slow?ms=200\")
println(r.status)" > "$T/par/j$i.harn"
done
timeout 120 "$HARN_BIN" batch -j 50 --allow-net=http://127.0.0.1 --results "$T/par.jsonl" "$T/par" 2>/dev/null
check "50 parallel jobs with requests" "$T/par.jsonl" \
  "len(rs)==50 and all(x['status']=='ok' and x['output']=='200\n' for x in rs)"

lib_finish
