/*
 * net_broker.h: the HTTP broker (net_broker.c): `net.request` host calls
 * performed with libcurl's multi-socket API on the pool's libuv loop.
 */
#ifndef HARN_NET_BROKER_H
#define HARN_NET_BROKER_H

#include "base/buf.h"
#include "ipc/ipc.h"
#include "supervisor/broker.h"
#include "supervisor/net_rules.h"

void sup_net_call(SupJob *j, const IpcHostCall *c);
void sup_net_cancel(SupJob *j, uint64_t id);
/* Remove every transfer of [j] from the multi handle and free it. */
void sup_net_job_end(SupJob *j);
/* The job's `used.net` entries and its refusals as JSON array items
 * (comma-separated, no brackets) appended to [used] / [denied]; false
 * when the job made no request. */
bool sup_net_record(SupJob *j, Buf *used, Buf *denied);
/* Free the pool's curl state (sup_pool_close). */
void sup_net_pool_close(SupPool *p);
/* Transfers alive in all (HARN_SUP_STATS, tests). */
long sup_net_live(void);

#endif
