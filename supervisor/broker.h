/*
 * broker.h: the supervisor's end of the host-call channel (protocol v3,
 * docs/protocol.md "Host calls"): a small dispatch table from a
 * host_call's `cap` to the broker that serves it (broker.c), and what a
 * broker needs from the pool (pool.c). Adding a broker (LLM, exec) is one
 * more row of the table with its three handlers.
 */
#ifndef HARN_BROKER_H
#define HARN_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "ipc/ipc.h"

typedef struct SupJob SupJob;
typedef struct SupPool SupPool;

/* One broker: [call] must lead to exactly one answer (sup_host_answer...)
 * for every call it gets, now or later, unless the job ends first
 * ([job_end] then drops everything of that job, answering nothing: the
 * worker is gone or going). [cancel]: the worker gave up on [id] (answer
 * `cancelled` unless answered already). */
typedef struct SupBroker {
  const char *cap;
  void (*call)(SupJob *j, const IpcHostCall *c);
  void (*cancel)(SupJob *j, uint64_t id);
  void (*job_end)(SupJob *j);
} SupBroker;

/* pool.c: a host_call / host_cancel event of [j]. The in-flight cap, an
 * unknown or ungranted capability are answered here. */
void sup_broker_call(SupJob *j, const IpcHostCall *c);
void sup_broker_cancel(SupJob *j, uint64_t id);
/* pool.c: [j] ended (reaped, however): every broker drops its calls. */
void sup_broker_job_end(SupJob *j);
/* Is capability [cap] brokered for the jobs of [p] (the job frame's `host`)? */
bool sup_broker_granted(const SupPool *p, const char *cap);

/* Answers (broker.c): encode a host_result and hand it to the pool. Each
 * also ends the call's in-flight count. [value_pack]/[fields] pack the
 * value or the error map's extra fields with the packer. */
void sup_host_answer_frame(SupJob *j, uint64_t id, Buf *frame);
void sup_host_error(SupJob *j, uint64_t id, const char *category, const char *message);
/* A call the broker refused before it sent anything: the reference's
 * EgressBlocked {type, category: "egress_blocked", host, port, reason,
 * url} plus `message`. */
void sup_host_egress_blocked(SupJob *j, uint64_t id, const char *host, int port, const char *reason,
                             const char *url);

/* pool.c services for brokers */
void sup_job_send_host(SupJob *j, const Buf *frame); /* write to the job socket */
double sup_job_ms_left(const SupJob *j);             /* to the deadline; < 0: none */
void **sup_job_broker_slot(SupJob *j);               /* the net broker's per-job state */
SupPool *sup_job_pool(SupJob *j);
const char *sup_job_id(const SupJob *j);

#endif
