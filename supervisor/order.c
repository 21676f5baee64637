/*
 * order.c: `harn batch --keep-order`: records in the order of the sources,
 * not in the order the jobs end (GNU parallel's --keep-order).
 *
 * Jobs are added as they start their first attempt, which is source order
 * (the feeder's positions, seq, only grow; retries keep their job's). A
 * job's records (one per attempt) wait here until its last attempt has
 * ended; the jobs at the head that have ended are then emitted, in order,
 * through the caller's callback (which writes the record and only then
 * the journal's "end": a record held here when the supervisor dies was
 * never written, and --resume reruns that job, as for any lost attempt).
 *
 * Invariants:
 * - The queue is a ring of jobs sorted by seq; a job is found by binary
 *   search (the ring holds the running jobs and the ended ones behind an
 *   unfinished head).
 * - Memory is bounded by the caller: sup_order_full says when the held
 *   bytes (records plus a fixed cost per job) pass the cap, and the batch
 *   then starts no new job until the head ends (a slow first job stalls
 *   the batch, as in parallel, but never grows the supervisor).
 * - sup_order_drain emits everything still held, in order, ended or not
 *   (the end of an interrupted batch: dropped retries never end).
 */
#include "supervisor/sup_internal.h"

#include <stdlib.h>
#include <string.h>

#define ORDER_ITEM_COST 96 /* bytes counted per job held, besides its records */

typedef struct OrderRec {
  struct OrderRec *next;
  SupEnded e; /* every string a copy */
} OrderRec;

struct SupOrderItem {
  long seq;
  bool ended;
  OrderRec *first, *last;
};

void sup_order_init(SupOrder *o, size_t cap_bytes, SupOrderEmit emit, void *ud)
{
  memset(o, 0, sizeof *o);
  o->cap_bytes = cap_bytes;
  o->emit = emit;
  o->ud = ud;
}

static SupOrderItem *at(const SupOrder *o, size_t i) { return &o->ring[(o->head + i) % o->cap]; }

void sup_order_add(SupOrder *o, long seq)
{
  if (o->len == o->cap) {
    size_t ncap = o->cap ? 2 * o->cap : 64;
    SupOrderItem *r = calloc(ncap, sizeof *r);
    if (!r) abort();
    for (size_t i = 0; i < o->len; i++) r[i] = *at(o, i);
    free(o->ring);
    o->ring = r;
    o->cap = ncap;
    o->head = 0;
  }
  SupOrderItem *it = at(o, o->len++);
  memset(it, 0, sizeof *it);
  it->seq = seq;
  o->bytes += ORDER_ITEM_COST;
}

/* The job [seq], or NULL (not added: it started before --keep-order knew
 * it, which cannot happen, or it was drained). */
static SupOrderItem *find(const SupOrder *o, long seq)
{
  size_t lo = 0, hi = o->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    long s = at(o, mid)->seq;
    if (s == seq) return at(o, mid);
    if (s < seq) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

static void rec_free(OrderRec *r)
{
  free((char *)r->e.record);
  free((char *)r->e.id);
  free((char *)r->e.file);
  free((char *)r->e.status);
  free((char *)r->e.reason);
  free(r);
}

/* Take the head off the ring; with [emit], its records go out first. */
static void pop_head(SupOrder *o, bool emit)
{
  SupOrderItem *it = at(o, 0);
  for (OrderRec *r = it->first, *n; r; r = n) {
    n = r->next;
    if (emit) o->emit(o->ud, &r->e);
    o->bytes -= strlen(r->e.record) + 1;
    rec_free(r);
  }
  o->bytes -= ORDER_ITEM_COST;
  o->head = (o->head + 1) % o->cap;
  o->len--;
}

static char *dup(const char *s)
{
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

void sup_order_put(SupOrder *o, long seq, const SupEnded *e, bool last)
{
  SupOrderItem *it = find(o, seq);
  if (!it) { /* not held: nothing to wait for */
    o->emit(o->ud, e);
    return;
  }
  OrderRec *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->e = (SupEnded){.record = dup(e->record), .id = dup(e->id), .file = dup(e->file),
                    .attempt = e->attempt, .status = dup(e->status), .reason = dup(e->reason)};
  if (it->last) it->last->next = r;
  else it->first = r;
  it->last = r;
  o->bytes += strlen(e->record) + 1;
  if (last) it->ended = true;
  while (o->len && at(o, 0)->ended) pop_head(o, true);
}

bool sup_order_full(const SupOrder *o) { return o->cap_bytes && o->bytes >= o->cap_bytes; }

void sup_order_drain(SupOrder *o)
{
  while (o->len) pop_head(o, true);
}

void sup_order_free(SupOrder *o)
{
  while (o->len) pop_head(o, false); /* the batch failed before writing them */
  free(o->ring);
  memset(o, 0, sizeof *o);
}
