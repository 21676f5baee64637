/*
 * host_call.h: the VM's end of the host-call channel (host_call.c) and
 * the HTTP builtins on top of it (host_net.c). Internal to vm/.
 */
#ifndef HARN_HOST_CALL_H
#define HARN_HOST_CALL_H

#include "builtins.h"
#include "object.h"

typedef struct HostCalls HostCalls;
struct HostNetMocks;

/* The per-VM state (created on first use; freed by hostcall_free). */
HostCalls *hostcall_state(Vm *vm);
void hostcall_free(Vm *vm);
/* Is there a channel at all (a supervised worker)? */
bool hostcall_available(Vm *vm);
/* Is capability [cap] brokered for this job (the job frame's `host`)? */
bool hostcall_granted(Vm *vm, const char *cap);
/* The scheduler: the fd to wait on while calls are in flight, or -1. */
int hostcall_wait_fd(Vm *vm);
/* The scheduler, after a wait: take in what the channel holds. */
void hostcall_pump(Vm *vm);
/* The unsettled snapshot: append {id, name} per call not answered yet. */
void hostcall_pending(Vm *vm, ObjList *out);

/* Make call [cap].[op] with the dict [args] (rooted by the caller) and
 * block the calling task until the answer: true with *out = the value.
 * A refusal or failure: with [error] NULL it is thrown (a dict with
 * `type` as that dict, else "category: message"); with [error] non-NULL
 * true is returned with *error = the error map and *out nil. False: the
 * VM error is set (deadline, cancellation, no channel...). */
bool hostcall_call(Vm *vm, const char *cap, const char *op, Value args, Value *out, Value *error);
/* Throw an error map as hostcall_call does. Returns false. */
bool hostcall_throw_error(Vm *vm, Value err);

/* host_net.c's mock table, kept in the HostCalls state. */
struct HostNetMocks **hostcall_mocks(Vm *vm);
void hostnet_mocks_free(struct HostNetMocks *m);

bool hostcall_bi_host_call(Vm *vm, int argc, Value *argv, Value *out);
bool hostcall_bi_host_capabilities(Vm *vm, int argc, Value *argv, Value *out);
bool hostcall_bi_host_has(Vm *vm, int argc, Value *argv, Value *out);

bool net_bi_http_get(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_post(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_put(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_patch(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_delete(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_request(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_download(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_mock(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_mock_calls(Vm *vm, int argc, Value *argv, Value *out);
bool net_bi_http_mock_clear(Vm *vm, int argc, Value *argv, Value *out);

#endif
