/*
 * broker.c: the dispatch table of the host-call channel (broker.h) and
 * the answers every broker sends.
 *
 * Invariants: every host_call gets exactly one host_result while the job
 * runs: an unknown capability, one not granted to the job and a call
 * beyond IPC_MAX_HOST_INFLIGHT are answered here at once (categories
 * `not_found`, `denied`, `limit`); a granted one goes to its broker, which
 * answers. The in-flight count per job lives in the pool (sup_job_inflight).
 */
#define _GNU_SOURCE
#include "supervisor/broker.h"

#include <stdio.h>
#include <string.h>

#include "supervisor/net_broker.h"
#include "supervisor/sup_internal.h"

/* One row per broker; a build without a feature has no row for it (the
 * table ends with a NULL cap). */
static const SupBroker brokers[] = {
#ifdef HARN_WITH_NET
    {"net", sup_net_call, sup_net_cancel, sup_net_job_end},
#endif
    {NULL, NULL, NULL, NULL},
};

static const SupBroker *find(const char *cap)
{
  for (const SupBroker *b = brokers; b->cap; b++)
    if (strcmp(b->cap, cap) == 0) return b;
  return NULL;
}

bool sup_broker_granted(const SupPool *p, const char *cap)
{
  if (!find(cap)) return false;
  if (strcmp(cap, "net") == 0) return p->cfg.net_rules && !net_rules_empty(p->cfg.net_rules);
  return false;
}

#ifndef HARN_WITH_NET
/* A build without the HTTP broker (-net): no job ever has network state. */
bool sup_net_record(SupJob *j, Buf *used, Buf *denied)
{
  (void)j;
  (void)used;
  (void)denied;
  return false;
}
void sup_net_job_free(SupJob *j) { (void)j; }
void sup_net_pool_close(SupPool *p) { (void)p; }
#endif

void sup_broker_call(SupJob *j, const IpcHostCall *c)
{
  int *inflight = sup_job_inflight(j);
  const SupBroker *b = find(c->cap);
  (*inflight)++;
  if (!b) {
    char msg[160];
    snprintf(msg, sizeof msg, "no broker for capability \"%s\"", c->cap);
    sup_host_error(j, c->id, "not_found", msg);
    return;
  }
  if (!sup_broker_granted(sup_job_pool(j), c->cap)) {
    char msg[200];
    snprintf(msg, sizeof msg, "capability \"%s\" is not granted to this job (e.g. --allow-%s)", c->cap,
             c->cap);
    sup_host_error(j, c->id, "denied", msg);
    return;
  }
  if (*inflight > IPC_MAX_HOST_INFLIGHT) {
    sup_host_error(j, c->id, "limit", "too many host calls in flight");
    return;
  }
  b->call(j, c);
}

void sup_broker_cancel(SupJob *j, uint64_t id)
{
  for (const SupBroker *b = brokers; b->cap; b++) b->cancel(j, id);
}

void sup_broker_job_end(SupJob *j)
{
  for (const SupBroker *b = brokers; b->cap; b++) b->job_end(j);
}

void sup_host_answer_frame(SupJob *j, uint64_t id, Buf *frame)
{
  (void)id;
  int *inflight = sup_job_inflight(j);
  if (*inflight > 0) (*inflight)--;
  sup_job_send_host(j, frame);
}

static void error_frame(SupJob *j, uint64_t id, const char *category, const char *message,
                        const char *host, int port, const char *reason, const char *url)
{
  IpcFrame f;
  ipc_frame_init(&f);
  ipc_frame_begin(&f, IPC_MSG_HOST_RESULT, NULL, 3);
  msgpack_packer *pk = ipc_frame_packer(&f);
  ipc_pack_str(pk, "id");
  msgpack_pack_uint64(pk, id);
  ipc_pack_str(pk, "ok");
  msgpack_pack_false(pk);
  ipc_pack_str(pk, "error");
  msgpack_pack_map(pk, host ? 7 : 2);
  if (host) {
    ipc_pack_str(pk, "type");
    ipc_pack_str(pk, "EgressBlocked");
  }
  ipc_pack_str(pk, "category");
  ipc_pack_str(pk, category);
  ipc_pack_str(pk, "message");
  ipc_pack_str(pk, message);
  if (host) {
    ipc_pack_str(pk, "host");
    ipc_pack_str(pk, host);
    ipc_pack_str(pk, "port");
    msgpack_pack_int(pk, port);
    ipc_pack_str(pk, "reason");
    ipc_pack_str(pk, reason);
    ipc_pack_str(pk, "url");
    ipc_pack_str(pk, url);
  }
  Buf b = {0};
  if (ipc_frame_end(&f, &b) == 0) sup_host_answer_frame(j, id, &b);
  buf_free(&b);
  ipc_frame_destroy(&f);
}

void sup_host_error(SupJob *j, uint64_t id, const char *category, const char *message)
{
  error_frame(j, id, category, message, NULL, 0, NULL, NULL);
}

void sup_host_egress_blocked(SupJob *j, uint64_t id, const char *host, int port, const char *reason,
                             const char *url)
{
  char msg[600];
  snprintf(msg, sizeof msg, "egress to %s:%d blocked: %s", host, port, reason);
  error_frame(j, id, "egress_blocked", msg, host, port, reason, url);
}
