/*
 * idset.c: the sets of job ids a batch keeps.
 *
 * SupSeenSet maps an id to what is known of it (a previous run's records
 * and journal, for --resume; the last #N given to a repeated id); it keeps
 * the strings. SupIdSet only answers "given before?" for every id of a
 * run, in 16 bytes an id (a fingerprint, see sup_internal.h), so that a
 * batch of millions of jobs stays small. Both are open-addressing tables
 * at most half full, grown by doubling.
 */
#include "supervisor/sup_internal.h"

#include <stdlib.h>
#include <string.h>



static uint64_t hash_str(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

SupSeen *sup_seen_find(SupSeenSet *set, const char *id, bool create)
{
  if (create && (set->len + 1) * 2 > set->cap) {
    size_t ncap = set->cap ? set->cap * 2 : 64;
    SupSeen *ns = calloc(ncap, sizeof *ns);
    if (!ns) abort();
    for (size_t i = 0; i < set->cap; i++) {
      if (!set->slots[i].id) continue;
      size_t k = hash_str(set->slots[i].id) & (ncap - 1);
      while (ns[k].id) k = (k + 1) & (ncap - 1);
      ns[k] = set->slots[i];
    }
    free(set->slots);
    set->slots = ns;
    set->cap = ncap;
  }
  if (!set->cap) return NULL;
  size_t k = hash_str(id) & (set->cap - 1);
  while (set->slots[k].id) {
    if (!strcmp(set->slots[k].id, id)) return &set->slots[k];
    k = (k + 1) & (set->cap - 1);
  }
  if (!create) return NULL;
  set->slots[k].id = strdup(id);
  set->len++;
  return &set->slots[k];
}



static IdPrint id_print(const char *s)
{
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h = (h ^ *p) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  IdPrint f = {hash_str(s) | 1, h};
  return f;
}

/* Add [id]; false when it was there already. */
bool sup_idset_add(SupIdSet *set, const char *id)
{
  if ((set->len + 1) * 2 > set->cap) {
    size_t ncap = set->cap ? set->cap * 2 : 1024;
    IdPrint *ns = calloc(ncap, sizeof *ns);
    if (!ns) abort();
    for (size_t i = 0; i < set->cap; i++) {
      if (!set->slots[i].a) continue;
      size_t k = set->slots[i].a & (ncap - 1);
      while (ns[k].a) k = (k + 1) & (ncap - 1);
      ns[k] = set->slots[i];
    }
    free(set->slots);
    set->slots = ns;
    set->cap = ncap;
  }
  IdPrint f = id_print(id);
  size_t k = f.a & (set->cap - 1);
  for (; set->slots[k].a; k = (k + 1) & (set->cap - 1))
    if (set->slots[k].a == f.a && set->slots[k].b == f.b) return false;
  set->slots[k] = f;
  set->len++;
  return true;
}

void sup_seen_free(SupSeenSet *set)
{
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i].file);
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i].id);
  free(set->slots);
}
