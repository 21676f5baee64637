/*
 * arena.c: the bump allocator that owns one parse (ast.h).
 *
 * Memory comes from a chain of malloc'ed blocks; allocations are carved from
 * the newest block and are never freed one by one: arena_free() releases the
 * whole chain. Requests larger than a quarter of the default block size get a
 * block of their own, which is linked *behind* the current block so the
 * current block's free space is not wasted.
 *
 * Invariants: every returned pointer is aligned to ARENA_ALIGN bytes and
 * points at zeroed memory; `used <= size` in every block. Out of memory
 * aborts, like buf.c, so arena_alloc() never returns NULL.
 */
#include "ast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_BLOCK_SIZE (64 * 1024)

struct ArenaBlock {
  ArenaBlock *next;
  size_t size, used;
  /* Payload follows, aligned to ARENA_ALIGN. */
  _Alignas(ARENA_ALIGN) unsigned char data[];
};

static ArenaBlock *new_block(size_t size)
{
  ArenaBlock *b = malloc(sizeof(ArenaBlock) + size);
  if (!b) {
    fputs("harn: out of memory\n", stderr);
    abort();
  }
  b->next = NULL;
  b->size = size;
  b->used = 0;
  return b;
}

void *arena_alloc(Arena *a, size_t n)
{
  if (n == 0) n = 1;
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need < n) {  /* overflow */
    fputs("harn: out of memory\n", stderr);
    abort();
  }
  ArenaBlock *b = a->head;
  if (need > ARENA_BLOCK_SIZE / 4) {
    ArenaBlock *big = new_block(need);
    big->used = need;
    if (b) {
      big->next = b->next;
      b->next = big;
    } else {
      a->head = big;
    }
    memset(big->data, 0, need);
    return big->data;
  }
  if (!b || b->size - b->used < need) {
    b = new_block(ARENA_BLOCK_SIZE);
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += need;
  memset(p, 0, need);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
  char *p = arena_alloc(a, n + 1);
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void arena_free(Arena *a)
{
  ArenaBlock *b = a->head;
  while (b) {
    ArenaBlock *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
}
