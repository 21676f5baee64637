/*
 * object.c: constructors and primitive operations of Harn heap objects
 * (strings, lists, dicts, sets, ranges, pairs, enums, structs, functions,
 * closures, bound methods, iterators, host objects) and chunk building.
 *
 * Invariants kept here:
 *  - Every object is allocated with gc_alloc_obj(), so it is zeroed (a
 *    zeroed Value is nil) and linked into the heap; variable-size objects
 *    (strings, enum values, closures) record the count their size derives
 *    from, which gc.c uses to free them with the exact size.
 *  - Strings are NUL-terminated, immutable once returned, with `nchars`
 *    and `ascii` computed at creation. Characters are those of base/utf8.h
 *    (utf8_decode): a well-formed UTF-8 sequence, or else a maximal
 *    subpart of an ill-formed one, is one character; str_new's count,
 *    str_byte_offset and str_sub all walk with that one rule.
 *    `hash` is FNV-1a over the bytes, computed on first use (0 = unknown;
 *    a real hash of 0 is stored as 1).
 *  - Dict entries are kept sorted by key in byte order (str_cmp), so
 *    iteration/display order is the sorted order; lookup is a binary search
 *    that matches the same key object first, or a hash probe for large
 *    dicts (see the dicts section). String constants are interned (weak
 *    table in vm->heap, swept by gc.c): an interned key matches by pointer.
 *  - Sets keep insertion order and never hold two val_equal() items;
 *    large ones carry a hash index (see the sets section).
 *  - Growable arrays (list/set items, dict entries, chunk arrays) are
 *    allocated with mem_realloc and their `cap`, as gc.c expects. The
 *    containers the program grows take at most MEM_BLOCK_MAX items, and
 *    grow with mem_try_realloc: past the maximum, or when the memory
 *    cannot be had, the item is dropped and the run doomed (gc.h), never
 *    an overflow or an abort. Long strings are allocated the same way.
 *  - Nothing here collects: allocation only sets gc_pending (gc.h), so a
 *    constructor may hold fresh objects in C locals.
 */
#include "object.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "gc.h"
#include "state.h"

#define ALLOC_OBJ(vm, type, kind) ((type *)gc_alloc_obj((vm), sizeof(type), (kind)))

/* Capacity growth for the growable arrays below ([need] <= MEM_BLOCK_MAX:
 * a container never holds more, see full()). */
static uint32_t grow_cap(uint32_t cap, uint32_t need)
{
  uint64_t c = cap < 8 ? 8 : cap;
  while (c < need) c *= 2;
  if (c > MEM_BLOCK_MAX) c = MEM_BLOCK_MAX;
  return (uint32_t)c;
}

/* A container of [count] items cannot take one more: counts are uint32
 * and a run that got this far (only possible without a memory limit) is
 * doomed (gc.h); the item is dropped. */
static bool full(Vm *vm, uint32_t count)
{
  if (count < MEM_BLOCK_MAX) return false;
  mem_doom(vm);
  return true;
}

/* ---- strings ------------------------------------------------------------- */

/* Strings are limited to 4 GiB by their uint32 length (MEM_BLOCK_MAX);
 * callers that build strings from program data check sizes first and
 * raise the memory error (mem_fits). Should a longer text reach str_new
 * or str_concat anyway, the run is doomed (gc.h) and the string comes out
 * empty: the run fails at its next safe point instead of the process. */
static bool len_ok(Vm *vm, size_t len)
{
  if (len <= MEM_BLOCK_MAX) return true;
  mem_doom(vm);
  return false;
}

/* The block of a string of [len] bytes: long ones may fail (NULL, the
 * run doomed: gc.h mem_try_realloc). */
#define STR_TRY_LEN (64u << 10)
static ObjString *str_block(Vm *vm, size_t len)
{
  if (len < STR_TRY_LEN) return (ObjString *)gc_alloc_obj(vm, sizeof(ObjString) + len + 1, OBJ_STRING);
  return (ObjString *)gc_try_alloc_obj(vm, sizeof(ObjString) + len + 1, OBJ_STRING);
}

ObjString *str_new(Vm *vm, const char *s, size_t len)
{
  if (!len_ok(vm, len)) len = 0;
  ObjString *str = str_block(vm, len);
  if (!str) str = str_block(vm, len = 0); /* no memory for it: empty, run doomed */
  str->len = (uint32_t)len;
  if (len) memcpy(str->chars, s, len);
  str->chars[len] = 0;
  str->nchars = (uint32_t)utf8_count(str->chars, len);
  str->ascii = str->nchars == str->len;
  str->hash = 0;
  return str;
}

ObjString *str_cstr(Vm *vm, const char *s) { return str_new(vm, s, strlen(s)); }

ObjString *str_from_buf(Vm *vm, Buf *b)
{
  ObjString *s = str_new(vm, b->data ? b->data : "", b->len);
  buf_free(b);
  return s;
}

ObjString *str_printf(Vm *vm, const char *fmt, ...)
{
  Buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  return str_from_buf(vm, &b);
}

ObjString *str_concat(Vm *vm, ObjString *a, ObjString *b)
{
  size_t len = (size_t)a->len + b->len;
  if (!len_ok(vm, len)) return str_new(vm, "", 0);
  ObjString *s = str_block(vm, len);
  if (!s) return str_new(vm, "", 0); /* no memory for it: the run is doomed */
  s->len = (uint32_t)len;
  memcpy(s->chars, a->chars, a->len);
  memcpy(s->chars + a->len, b->chars, b->len);
  s->chars[len] = 0;
  /* Two one-byte-per-character halves stay so unless high bytes meet at
   * the junction (`ascii` also holds for strings of invalid bytes): an
   * invalid tail of [a] and head of [b] may form one valid sequence. */
  if (a->ascii && b->ascii && (a->len == 0 || (unsigned char)a->chars[a->len - 1] < 0x80) &&
      (b->len == 0 || (unsigned char)b->chars[0] < 0x80))
    s->nchars = (uint32_t)len;
  else s->nchars = (uint32_t)utf8_count(s->chars, len);
  s->ascii = s->nchars == s->len;
  return s;
}

static uint32_t bytes_hash(const char *p, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 16777619u;
  }
  return h ? h : 1;
}

uint32_t str_hash(ObjString *s)
{
  if (s->hash) return s->hash;
  s->hash = bytes_hash(s->chars, s->len);
  return s->hash;
}

ObjString *str_alloc(Vm *vm, size_t len)
{
  if (len > MEM_BLOCK_MAX) { /* the caller was to check (mem_fits) */
    fputs("harn: internal error: string too large\n", stderr);
    abort();
  }
  ObjString *s = str_block(vm, len);
  if (!s) return NULL;
  s->len = (uint32_t)len;
  s->chars[len] = 0;
  return s;
}

void str_seal(ObjString *s, bool ascii)
{
  s->nchars = ascii ? s->len : (uint32_t)utf8_count(s->chars, s->len);
  s->ascii = s->nchars == s->len;
}

/* ---- the intern table ------------------------------------------------------
 * Open addressing with linear probing over vm->heap.itab (gc.h), load kept
 * at most 1/2 counting tombstones. Only this section inserts; gc.c turns
 * entries of unmarked strings into tombstones before sweeping. */

static void intern_insert_slot(ObjString **tab, uint32_t cap, ObjString *s)
{
  uint32_t mask = cap - 1;
  uint32_t i = s->hash & mask;
  while (tab[i] && tab[i] != GC_INTERN_TOMB) i = (i + 1) & mask;
  tab[i] = s;
}

static void intern_grow(Heap *h)
{
  uint32_t cap = h->icap ? h->icap : 256;
  while ((uint64_t)(h->icount + 1) * 2 > cap) cap *= 2;
  ObjString **tab = calloc(cap, sizeof(ObjString *));
  if (!tab) {
    fputs("harn: out of memory\n", stderr);
    abort();
  }
  for (uint32_t i = 0; i < h->icap; i++)
    if (h->itab[i] && h->itab[i] != GC_INTERN_TOMB) intern_insert_slot(tab, cap, h->itab[i]);
  free(h->itab);
  h->itab = tab;
  h->icap = cap;
  h->itomb = 0;
}

/* The interned string with these bytes (hash [hash]), or NULL. */
static ObjString *intern_find(Heap *h, const char *p, size_t n, uint32_t hash)
{
  if (!h->icap) return NULL;
  uint32_t mask = h->icap - 1;
  for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
    ObjString *t = h->itab[i];
    if (!t) return NULL;
    if (t != GC_INTERN_TOMB && t->hash == hash && t->len == n && memcmp(t->chars, p, n) == 0)
      return t;
  }
}

static void intern_add(Heap *h, ObjString *s)
{
  if ((uint64_t)(h->icount + h->itomb + 1) * 2 > h->icap) intern_grow(h);
  intern_insert_slot(h->itab, h->icap, s);
  h->icount++;
  s->interned = true;
}

ObjString *str_intern(Vm *vm, const char *p, size_t n)
{
  uint32_t hash = bytes_hash(p, n);
  ObjString *s = intern_find(&vm->heap, p, n, hash);
  if (s) return s;
  s = str_new(vm, p, n);
  s->hash = hash;
  intern_add(&vm->heap, s);
  return s;
}

ObjString *str_intern_cstr(Vm *vm, const char *s) { return str_intern(vm, s, strlen(s)); }

ObjString *str_intern_obj(Vm *vm, ObjString *s)
{
  if (s->interned) return s;
  uint32_t hash = str_hash(s);
  ObjString *t = intern_find(&vm->heap, s->chars, s->len, hash);
  if (t) return t;
  intern_add(&vm->heap, s);
  return s;
}

bool str_eq(const ObjString *a, const ObjString *b)
{
  if (a == b) return true;
  if (a->interned && b->interned) return false;
  if (a->len != b->len) return false;
  if (a->hash && b->hash && a->hash != b->hash) return false;
  return memcmp(a->chars, b->chars, a->len) == 0;
}

/* Byte-order comparison of [a] with [n] bytes at [b]. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  size_t n = an < bn ? an : bn;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

int str_cmp(const ObjString *a, const ObjString *b)
{
  if (a == b) return 0;
  return bytes_cmp(a->chars, a->len, b->chars, b->len);
}

/* Byte offset reached by stepping [n] characters from byte [i] of [s]. */
static size_t advance_chars(const ObjString *s, size_t i, int64_t n)
{
  const unsigned char *p = (const unsigned char *)s->chars;
  while (i < s->len && n > 0) {
    i += p[i] < 0x80 ? 1 : utf8_char_len((const char *)p + i, s->len - i);
    n--;
  }
  return i;
}

size_t str_byte_offset(const ObjString *s, int64_t ci)
{
  if (ci <= 0) return 0;
  if (ci >= s->nchars) return s->len;
  if (s->ascii) return (size_t)ci;
  return advance_chars(s, 0, ci);
}

ObjString *str_sub(Vm *vm, ObjString *s, int64_t from, int64_t to)
{
  if (from < 0) from = 0;
  if (to > s->nchars) to = s->nchars;
  if (from >= to) return str_new(vm, "", 0);
  size_t a = str_byte_offset(s, from);
  size_t b = s->ascii ? (size_t)to : advance_chars(s, a, to - from);
  return str_new(vm, s->chars + a, b - a);
}

/* ---- lists --------------------------------------------------------------- */

ObjList *list_new(Vm *vm, uint32_t cap)
{
  ObjList *l = ALLOC_OBJ(vm, ObjList, OBJ_LIST);
  if (cap) {
    l->items = mem_alloc(vm, cap * sizeof(Value));
    l->cap = cap;
  }
  return l;
}

void list_push(Vm *vm, ObjList *l, Value v)
{
  if (l->count == l->cap) {
    if (full(vm, l->count)) return;
    uint32_t cap = grow_cap(l->cap, l->count + 1);
    Value *items = mem_try_realloc(vm, l->items, l->cap * sizeof(Value), cap * sizeof(Value));
    if (!items) return; /* no memory: dropped, the run is doomed (gc.h) */
    l->items = items;
    l->cap = cap;
  }
  l->items[l->count++] = v;
}

ObjList *list_copy(Vm *vm, ObjList *l)
{
  ObjList *c = list_new(vm, l->count);
  if (l->count) memcpy(c->items, l->items, l->count * sizeof(Value));
  c->count = l->count;
  return c;
}

/* ---- dicts --------------------------------------------------------------- */

ObjDict *dict_new(Vm *vm, uint32_t cap)
{
  ObjDict *d = ALLOC_OBJ(vm, ObjDict, OBJ_DICT);
  if (cap) {
    d->entries = mem_alloc(vm, cap * sizeof(DictEntry));
    d->cap = cap;
  }
  return d;
}

/* Dicts of DICT_INDEX_MIN entries or more carry a hash index (value.h) of
 * string hashes (str_hash, cached in the key), so a lookup is a probe
 * instead of a binary search over byte comparisons. Entries stay sorted:
 * the binary search remains the source of insertion positions, and the
 * index is kept in step by dict_insert_at (positions after the insertion
 * point shift by one) and dropped by dict_remove (rebuilt by the next
 * dict_set or dict_copy). A probe trusts a slot only after comparing the
 * key, so a stale index could only miss, and icount == count guards it. */
#define DICT_INDEX_MIN 16

static bool dict_indexed(const ObjDict *d) { return d->index && d->icount == d->count; }

/* The position indexes of dicts and sets: *icap (a power of two) slots
 * holding position + 1 (0 = empty), linear probing, load at most 1/2. */
static void hindex_put(uint32_t *index, uint32_t icap, uint32_t h, uint32_t pos)
{
  uint32_t mask = icap - 1;
  uint32_t i = h & mask;
  while (index[i]) i = (i + 1) & mask;
  index[i] = pos + 1;
}

/* Make *index an empty index with room for [count] positions; false (the
 * index untouched) for an absurd size, where the caller goes without. */
static bool hindex_reset(Vm *vm, uint32_t **index, uint32_t *icap, uint32_t count)
{
  uint64_t cap = 32;
  while (cap < (uint64_t)count * 2 + 2) cap *= 2;
  if (cap > UINT32_MAX / 2) return false;
  if (cap != *icap) {
    mem_free(vm, *index, *icap * sizeof(uint32_t));
    *index = mem_alloc(vm, (size_t)cap * sizeof(uint32_t));
    *icap = (uint32_t)cap;
  }
  memset(*index, 0, (size_t)cap * sizeof(uint32_t));
  return true;
}

/* A copy of the index [from] of [icap] slots (the copy of a container). */
static uint32_t *hindex_dup(Vm *vm, const uint32_t *from, uint32_t icap)
{
  uint32_t *index = mem_alloc(vm, icap * sizeof(uint32_t));
  memcpy(index, from, icap * sizeof(uint32_t));
  return index;
}

static void dict_index_put(ObjDict *d, uint32_t h, uint32_t pos) { hindex_put(d->index, d->icap, h, pos); }

/* (Re)build the index (absurd sizes: binary search only). */
static void dict_index_rebuild(Vm *vm, ObjDict *d)
{
  if (!hindex_reset(vm, &d->index, &d->icap, d->count)) return;
  for (uint32_t i = 0; i < d->count; i++) dict_index_put(d, str_hash(d->entries[i].key), i);
  d->icount = d->count;
}

/* Position of the key equal to [k] (hash [h]) in an indexed dict, or -1. */
static int64_t dict_index_find(const ObjDict *d, const ObjString *k, uint32_t h)
{
  uint32_t mask = d->icap - 1;
  for (uint32_t i = h & mask;; i = (i + 1) & mask) {
    uint32_t slot = d->index[i];
    if (slot == 0) return -1;
    const ObjString *key = d->entries[slot - 1].key;
    if (key == k) return slot - 1;
    if (key->hash == h && key->len == k->len && !(key->interned && k->interned) &&
        memcmp(key->chars, k->chars, k->len) == 0)
      return slot - 1;
  }
}

ObjList *dict_entries(Vm *vm, const ObjDict *d)
{
  ObjList *l = list_new(vm, d->count);
  for (uint32_t i = 0; i < d->count; i++) {
    ObjDict *e = dict_new(vm, 2);
    dict_set_cstr(vm, e, "key", OBJ_VAL(d->entries[i].key));
    dict_set_cstr(vm, e, "value", d->entries[i].value);
    list_push(vm, l, OBJ_VAL(e));
  }
  return l;
}

ObjDict *dict_copy(Vm *vm, ObjDict *d)
{
  ObjDict *c = dict_new(vm, d->count);
  if (d->count) memcpy(c->entries, d->entries, d->count * sizeof(DictEntry));
  c->count = d->count;
  if (dict_indexed(d)) {
    c->index = hindex_dup(vm, d->index, d->icap);
    c->icap = d->icap;
    c->icount = c->count;
  } else if (c->count >= DICT_INDEX_MIN) {
    dict_index_rebuild(vm, c);
  }
  return c;
}

/* Binary search for the key of [n] bytes at [k]: returns true with *pos =
 * its index, or false with *pos = where it would be inserted. */
static bool dict_find(const ObjDict *d, const char *k, size_t n, uint32_t *pos)
{
  uint32_t lo = 0, hi = d->count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    const ObjString *key = d->entries[mid].key;
    int c = bytes_cmp(key->chars, key->len, k, n);
    if (c == 0) {
      *pos = mid;
      return true;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *pos = lo;
  return false;
}

/* dict_find for a key object: the same search, but an entry that is the
 * very same string object matches without comparing bytes (interned keys
 * and keys taken from the dict itself, the common cases). */
static bool dict_search(const ObjDict *d, const ObjString *k, uint32_t *pos)
{
  uint32_t lo = 0, hi = d->count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    const ObjString *key = d->entries[mid].key;
    int c;
    if (key == k) {
      *pos = mid;
      return true;
    }
    /* first bytes decide most comparisons without calling memcmp */
    if (key->len && k->len && key->chars[0] != k->chars[0])
      c = (unsigned char)key->chars[0] < (unsigned char)k->chars[0] ? -1 : 1;
    else
      c = bytes_cmp(key->chars, key->len, k->chars, k->len);
    if (c == 0) {
      *pos = mid;
      return true;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *pos = lo;
  return false;
}

/* Find [k]: through the index when there is one. [need_pos]: on a miss,
 * *pos must be the insertion position (a binary search). */
static bool dict_find_str(const ObjDict *d, const ObjString *k, uint32_t *pos, bool need_pos)
{
  if (dict_indexed(d)) {
    int64_t p = dict_index_find(d, k, str_hash((ObjString *)k));
    if (p >= 0) {
      *pos = (uint32_t)p;
      return true;
    }
    if (need_pos) dict_search(d, k, pos);
    return false;
  }
  return dict_search(d, k, pos);
}

bool dict_lookup(const ObjDict *d, const ObjString *key, uint32_t *pos)
{
  return dict_find_str(d, key, pos, true);
}

bool dict_get(ObjDict *d, ObjString *key, Value *out)
{
  uint32_t pos;
  if (!dict_find_str(d, key, &pos, false)) return false;
  if (out) *out = d->entries[pos].value;
  return true;
}

bool dict_get_cstr(ObjDict *d, const char *key, Value *out)
{
  uint32_t pos;
  if (!dict_find(d, key, strlen(key), &pos)) return false;
  if (out) *out = d->entries[pos].value;
  return true;
}

static void dict_insert_at(Vm *vm, ObjDict *d, uint32_t pos, ObjString *key, Value v)
{
  bool indexed = dict_indexed(d);
  if (d->count == d->cap) {
    if (full(vm, d->count)) return;
    uint32_t cap = grow_cap(d->cap, d->count + 1);
    DictEntry *entries = mem_try_realloc(vm, d->entries, d->cap * sizeof(DictEntry), cap * sizeof(DictEntry));
    if (!entries) return; /* no memory: dropped, the run is doomed (gc.h) */
    d->entries = entries;
    d->cap = cap;
  }
  memmove(d->entries + pos + 1, d->entries + pos, (d->count - pos) * sizeof(DictEntry));
  d->entries[pos].key = key;
  d->entries[pos].value = v;
  d->count++;
  if (indexed && (uint64_t)d->count * 2 + 2 <= d->icap) {
    /* entries at pos.. moved up one: so do their slots (position + 1) */
    for (uint32_t i = 0; i < d->icap; i++)
      if (d->index[i] > pos) d->index[i]++;
    dict_index_put(d, str_hash(key), pos);
    d->icount = d->count;
  } else if (d->count >= DICT_INDEX_MIN) {
    dict_index_rebuild(vm, d);
  }
}

void dict_set(Vm *vm, ObjDict *d, ObjString *key, Value v)
{
  uint32_t pos;
  if (dict_find_str(d, key, &pos, true)) {
    d->entries[pos].value = v;
    return;
  }
  dict_insert_at(vm, d, pos, key, v);
}

void dict_set_cstr(Vm *vm, ObjDict *d, const char *key, Value v)
{
  uint32_t pos;
  size_t n = strlen(key);
  if (dict_find(d, key, n, &pos)) {
    d->entries[pos].value = v;
    return;
  }
  dict_insert_at(vm, d, pos, str_new(vm, key, n), v);
}

bool dict_remove(ObjDict *d, ObjString *key)
{
  uint32_t pos;
  if (!dict_find_str(d, key, &pos, false)) return false;
  memmove(d->entries + pos, d->entries + pos + 1, (d->count - pos - 1) * sizeof(DictEntry));
  d->count--;
  d->icount = UINT32_MAX; /* positions moved: the index is stale until rebuilt */
  return true;
}

/* ---- sets ---------------------------------------------------------------- */

/* Sets of SET_INDEX_MIN items or more get a hash index (value.h), so that
 * building a set of n items costs O(n) equality checks instead of O(n^2).
 * The hash is structural and consistent with val_equal(): equal values hash
 * equally. Numbers hash by their double value (int/float equality compares
 * doubles), with -0.0 folded into 0.0; sets hash order-independently; kinds
 * that are never equal (closures, durations...) hash by identity or value,
 * which is harmless. Hashing stops descending at HASH_DEPTH, which keeps it
 * consistent (equal values have the same shape) and bounded. */
#define SET_INDEX_MIN 16
#define HASH_DEPTH 32

static uint32_t hash_u64(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return (uint32_t)x;
}

static uint32_t hash_mix(uint32_t h, uint32_t x)
{
  return h ^ (x + 0x9e3779b9u + (h << 6) + (h >> 2));
}

static uint32_t hash_number(double d)
{
  if (d == 0) return hash_u64(0);
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  return hash_u64(bits);
}

/* Hashing walks at most HASH_DEPTH levels, but a value may share its
 * parts (a = [a, a] twenty times is a small value whose tree has a million
 * leaves): after HASH_MEMO_AFTER containers, the hash of each (container,
 * depth) is remembered for the rest of the walk, so the work is bounded by
 * the distinct parts, not by the size of the tree they unfold into. */
#define HASH_MEMO_AFTER 4096

typedef struct HashMemo {
  const Obj *o;
  uint32_t depth, h;
} HashMemo;

typedef struct HashCtx {
  size_t visits;   /* containers hashed so far */
  HashMemo *memo;  /* open addressing on (o, depth); NULL until needed */
  size_t cap, n;
} HashCtx;

static size_t memo_slot(const HashCtx *c, const Obj *o, int depth)
{
  uint64_t k = (uint64_t)(uintptr_t)o * 0x9e3779b97f4a7c15ull + (uint64_t)depth;
  return (size_t)(k >> 17) & (c->cap - 1);
}

static HashMemo *memo_find(HashCtx *c, const Obj *o, int depth)
{
  for (size_t i = memo_slot(c, o, depth);; i = (i + 1) & (c->cap - 1)) {
    HashMemo *m = &c->memo[i];
    if (!m->o || (m->o == o && m->depth == (uint32_t)depth)) return m;
  }
}

static void memo_put(HashCtx *c, const Obj *o, int depth, uint32_t h)
{
  if ((c->n + 1) * 2 > c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    HashMemo *old = c->memo;
    size_t oldcap = c->cap;
    c->memo = calloc(cap, sizeof *c->memo);
    if (!c->memo) { /* no memo: just slower */
      c->memo = old;
      return;
    }
    c->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].o) *memo_find(c, old[i].o, (int)old[i].depth) = old[i];
    free(old);
  }
  HashMemo *m = memo_find(c, o, depth);
  if (!m->o) c->n++;
  m->o = o;
  m->depth = (uint32_t)depth;
  m->h = h;
}

static uint32_t hash_rec(HashCtx *c, Value v, int depth);

static uint32_t hash_values(HashCtx *c, uint32_t h, const Value *vs, uint32_t n, int depth)
{
  for (uint32_t i = 0; i < n; i++) h = hash_mix(h, hash_rec(c, vs[i], depth + 1));
  return h;
}

static uint32_t hash_dict(HashCtx *c, const ObjDict *d, int depth)
{
  uint32_t h = 0x64696374u;
  if (!d) return h;
  for (uint32_t i = 0; i < d->count; i++) {
    h = hash_mix(h, str_hash(d->entries[i].key));
    h = hash_mix(h, hash_rec(c, d->entries[i].value, depth + 1));
  }
  return h;
}

static uint32_t hash_name(ObjString *s) { return s ? str_hash(s) : 0; }

/* The hash of a container [o] (list, dict, set, pair, enum, struct). */
static uint32_t hash_container(HashCtx *c, Obj *o, int depth)
{
  switch (o->type) {
  case OBJ_LIST: {
    ObjList *l = (ObjList *)o;
    return hash_values(c, 0x6c697374u, l->items, l->count, depth);
  }
  case OBJ_DICT: return hash_dict(c, (ObjDict *)o, depth);
  case OBJ_SET: {
    ObjSet *st = (ObjSet *)o;
    uint32_t h = 0x736574u;
    for (uint32_t i = 0; i < st->count; i++) h += hash_rec(c, st->items[i], depth + 1);
    return h;
  }
  case OBJ_PAIR: {
    ObjPair *p = (ObjPair *)o;
    return hash_mix(hash_rec(c, p->first, depth + 1), hash_rec(c, p->second, depth + 1));
  }
  case OBJ_ENUM: {
    ObjEnum *e = (ObjEnum *)o;
    uint32_t h = hash_mix(hash_name(e->enum_name), hash_name(e->variant));
    return hash_values(c, h, e->fields, e->nfields, depth);
  }
  case OBJ_STRUCT: {
    ObjStruct *st = (ObjStruct *)o;
    return hash_mix(hash_name(st->name), hash_dict(c, st->fields, depth));
  }
  default:
    return hash_u64((uint64_t)(uintptr_t)o);
  }
}

static uint32_t hash_rec(HashCtx *c, Value v, int depth)
{
  if (depth > HASH_DEPTH) return 0x5eed;
  switch (v.type) {
  case VAL_NIL: return 0x6e696cu;
  case VAL_BOOL: return v.as.b ? 0x74u : 0x66u;
  case VAL_INT: return hash_number((double)v.as.i);
  case VAL_FLOAT: return hash_number(v.as.f);
  case VAL_DURATION:
  case VAL_BUILTIN: return hash_mix((uint32_t)v.type, hash_u64((uint64_t)v.as.i));
  case VAL_OBJ: break;
  }
  Obj *o = v.as.o;
  switch (o->type) {
  case OBJ_STRING: return str_hash((ObjString *)o);
  case OBJ_RANGE: {
    ObjRange *r = (ObjRange *)o;
    uint32_t h = hash_mix(hash_u64((uint64_t)r->start), hash_u64((uint64_t)r->end));
    return hash_mix(h, r->exclusive);
  }
  case OBJ_NATIVE: {
    /* Natives of one vtable may be equal through vt->equal. */
    ObjNative *n = (ObjNative *)o;
    if (n->vt && n->vt->equal) return hash_u64((uint64_t)(uintptr_t)n->vt);
    return hash_u64((uint64_t)(uintptr_t)o);
  }
  case OBJ_LIST: case OBJ_DICT: case OBJ_SET: case OBJ_PAIR: case OBJ_ENUM: case OBJ_STRUCT:
    break;
  default:
    return hash_u64((uint64_t)(uintptr_t)o);
  }
  if (++c->visits <= HASH_MEMO_AFTER) return hash_container(c, o, depth);
  if (c->memo) {
    HashMemo *m = memo_find(c, o, depth);
    if (m->o) return m->h;
  }
  uint32_t h = hash_container(c, o, depth);
  memo_put(c, o, depth, h);
  return h;
}

uint32_t val_hash(Value v)
{
  HashCtx c = {0};
  uint32_t h = hash_rec(&c, v, 0);
  free(c.memo);
  return h;
}

static bool set_indexed(const ObjSet *s) { return s->index && s->icount == s->count; }

/* Position of an item equal to [v] (hash [h]) in an indexed set, or -1. */
static int64_t index_find(const ObjSet *s, Value v, uint32_t h)
{
  uint32_t mask = s->icap - 1;
  for (uint32_t i = h & mask;; i = (i + 1) & mask) {
    uint32_t slot = s->index[i];
    if (slot == 0) return -1;
    if (val_equal(s->items[slot - 1], v)) return slot - 1;
  }
}

static void index_insert(ObjSet *s, uint32_t h, uint32_t pos) { hindex_put(s->index, s->icap, h, pos); }

/* (Re)build the index (absurd sizes: stay linear). */
static void index_rebuild(Vm *vm, ObjSet *s)
{
  if (!hindex_reset(vm, &s->index, &s->icap, s->count)) return;
  for (uint32_t i = 0; i < s->count; i++) index_insert(s, val_hash(s->items[i]), i);
  s->icount = s->count;
}

ObjSet *set_new(Vm *vm, uint32_t cap)
{
  ObjSet *s = ALLOC_OBJ(vm, ObjSet, OBJ_SET);
  if (cap) {
    s->items = mem_alloc(vm, cap * sizeof(Value));
    s->cap = cap;
  }
  return s;
}

ObjSet *set_copy(Vm *vm, ObjSet *s)
{
  ObjSet *c = set_new(vm, s->count);
  if (s->count) memcpy(c->items, s->items, s->count * sizeof(Value));
  c->count = s->count;
  if (set_indexed(s)) {
    c->index = hindex_dup(vm, s->index, s->icap);
    c->icap = s->icap;
    c->icount = c->count;
  }
  return c;
}

static bool linear_has(const ObjSet *s, Value v)
{
  for (uint32_t i = 0; i < s->count; i++)
    if (val_equal(s->items[i], v)) return true;
  return false;
}

bool set_has(ObjSet *s, Value v)
{
  if (set_indexed(s)) return index_find(s, v, val_hash(v)) >= 0;
  return linear_has(s, v);
}

void set_add(Vm *vm, ObjSet *s, Value v)
{
  bool indexed = set_indexed(s);
  uint32_t h = 0;
  if (indexed) {
    h = val_hash(v);
    if (index_find(s, v, h) >= 0) return;
  } else if (linear_has(s, v)) {
    return;
  }
  if (s->count == s->cap) {
    if (full(vm, s->count)) return;
    uint32_t cap = grow_cap(s->cap, s->count + 1);
    Value *items = mem_try_realloc(vm, s->items, s->cap * sizeof(Value), cap * sizeof(Value));
    if (!items) return; /* no memory: dropped, the run is doomed (gc.h) */
    s->items = items;
    s->cap = cap;
  }
  s->items[s->count++] = v;
  if (indexed && (uint64_t)s->count * 2 + 2 <= s->icap) {
    index_insert(s, h, s->count - 1);
    s->icount = s->count;
  } else if (s->count >= SET_INDEX_MIN) {
    index_rebuild(vm, s);
  }
}

/* ---- ranges, pairs --------------------------------------------------------- */

ObjRange *range_new(Vm *vm, int64_t start, int64_t end, bool exclusive)
{
  ObjRange *r = ALLOC_OBJ(vm, ObjRange, OBJ_RANGE);
  r->start = start;
  r->end = end;
  r->exclusive = exclusive;
  return r;
}

int64_t range_len(const ObjRange *r)
{
  if (r->exclusive ? r->end <= r->start : r->end < r->start) return 0;
  /* Unsigned arithmetic: the span of a full-width range does not fit. */
  uint64_t span = (uint64_t)r->end - (uint64_t)r->start;
  if (!r->exclusive) {
    if (span >= (uint64_t)INT64_MAX) return INT64_MAX;
    span++;
  }
  return span > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)span;
}

ObjPair *pair_new(Vm *vm, Value a, Value b)
{
  ObjPair *p = ALLOC_OBJ(vm, ObjPair, OBJ_PAIR);
  p->first = a;
  p->second = b;
  return p;
}

/* ---- enums, structs ---------------------------------------------------------- */

ObjEnum *enum_new(Vm *vm, ObjString *enum_name, ObjString *variant, uint32_t nfields)
{
  ObjEnum *e = (ObjEnum *)gc_alloc_obj(vm, sizeof(ObjEnum) + nfields * sizeof(Value), OBJ_ENUM);
  e->enum_name = enum_name;
  e->variant = variant;
  e->nfields = nfields;
  return e;
}

static Value result_new(Vm *vm, const char *variant, Value v)
{
  ObjString *name = str_new(vm, "Result", 6);
  ObjString *var = str_cstr(vm, variant);
  ObjEnum *e = enum_new(vm, name, var, 1);
  e->fields[0] = v;
  return OBJ_VAL(e);
}

Value enum_ok(Vm *vm, Value v) { return result_new(vm, "Ok", v); }
Value enum_err(Vm *vm, Value v) { return result_new(vm, "Err", v); }

static bool is_result(Value v, const char *variant, uint32_t vlen)
{
  if (!IS_ENUM(v)) return false;
  ObjEnum *e = AS_ENUM(v);
  return e->enum_name && e->variant && e->enum_name->len == 6 &&
         memcmp(e->enum_name->chars, "Result", 6) == 0 && e->variant->len == vlen &&
         memcmp(e->variant->chars, variant, vlen) == 0;
}

bool is_result_ok(Value v) { return is_result(v, "Ok", 2); }
bool is_result_err(Value v) { return is_result(v, "Err", 3); }

ObjEnumType *enum_type_new(Vm *vm, ObjString *name, uint32_t nvariants)
{
  ObjEnumType *t = ALLOC_OBJ(vm, ObjEnumType, OBJ_ENUM_TYPE);
  t->name = name;
  if (nvariants) {
    t->variants = mem_alloc(vm, nvariants * sizeof(ObjString *));
    memset(t->variants, 0, nvariants * sizeof(ObjString *));
    t->arity = mem_alloc(vm, nvariants * sizeof(uint32_t));
    memset(t->arity, 0, nvariants * sizeof(uint32_t));
    t->fieldnames = mem_alloc(vm, nvariants * sizeof(ObjString **));
    memset(t->fieldnames, 0, nvariants * sizeof(ObjString **));
  }
  t->nvariants = nvariants;
  return t;
}

ObjStruct *struct_new(Vm *vm, ObjStructType *type, ObjString *name, ObjDict *fields)
{
  if (!fields) fields = dict_new(vm, 0);
  ObjStruct *s = ALLOC_OBJ(vm, ObjStruct, OBJ_STRUCT);
  s->type = type;
  s->name = name ? name : type ? type->name : NULL;
  s->fields = fields;
  return s;
}

ObjStructType *struct_type_new(Vm *vm, ObjString *name, uint32_t nfields)
{
  ObjStructType *t = ALLOC_OBJ(vm, ObjStructType, OBJ_STRUCT_TYPE);
  t->name = name;
  if (nfields) {
    t->fields = mem_alloc(vm, nfields * sizeof(ObjString *));
    memset(t->fields, 0, nfields * sizeof(ObjString *));
  }
  t->nfields = nfields;
  return t;
}

/* ---- code ------------------------------------------------------------------ */

ObjFunction *function_new(Vm *vm) { return ALLOC_OBJ(vm, ObjFunction, OBJ_FUNCTION); }

ObjClosure *closure_new(Vm *vm, ObjFunction *fn, Value module)
{
  uint16_t n = fn->ncaptures;
  ObjClosure *c =
      (ObjClosure *)gc_alloc_obj(vm, sizeof(ObjClosure) + n * sizeof(Value), OBJ_CLOSURE);
  c->fn = fn;
  c->module = module;
  c->ncaptures = n;
  return c;
}

ObjBound *bound_new(Vm *vm, Value receiver, Value method)
{
  ObjBound *b = ALLOC_OBJ(vm, ObjBound, OBJ_BOUND);
  b->receiver = receiver;
  b->method = method;
  return b;
}

ObjIter *iter_new(Vm *vm, const IterVtbl *vt, Value src)
{
  ObjIter *it = ALLOC_OBJ(vm, ObjIter, OBJ_ITER);
  it->vt = vt;
  it->src = src;
  return it;
}

ObjNative *native_new(Vm *vm, const NativeVtbl *vt, void *data, size_t size)
{
  ObjNative *n = ALLOC_OBJ(vm, ObjNative, OBJ_NATIVE);
  n->vt = vt;
  n->data = data;
  n->size = size;
  return n;
}

void chunk_write(Vm *vm, Chunk *c, uint8_t byte, int line, int col)
{
  if (c->count == c->cap) {
    uint32_t cap = grow_cap(c->cap, c->count + 1);
    c->code = mem_realloc(vm, c->code, c->cap, cap);
    c->lines = mem_realloc(vm, c->lines, c->cap * sizeof(int32_t), cap * sizeof(int32_t));
    c->cols = mem_realloc(vm, c->cols, c->cap * sizeof(int32_t), cap * sizeof(int32_t));
    c->cap = cap;
  }
  c->code[c->count] = byte;
  c->lines[c->count] = line;
  c->cols[c->count] = col;
  c->count++;
}

/* Constants are shared only when they are the same value in every way the
 * program can observe: same kind, same bits (0.0 and -0.0 stay apart). */
static bool same_const(Value a, Value b)
{
  if (a.type != b.type) return false;
  switch (a.type) {
  case VAL_NIL: return true;
  case VAL_BOOL: return a.as.b == b.as.b;
  case VAL_INT:
  case VAL_DURATION:
  case VAL_BUILTIN: return a.as.i == b.as.i;
  case VAL_FLOAT: return memcmp(&a.as.f, &b.as.f, sizeof(double)) == 0;
  case VAL_OBJ:
    if (a.as.o == b.as.o) return true;
    return IS_STRING(a) && IS_STRING(b) && str_eq(AS_STRING(a), AS_STRING(b));
  }
  return false;
}

uint32_t chunk_add_const(Vm *vm, Chunk *c, Value v)
{
  /* string constants (names, keys, literals) are interned, so property
   * and method lookups can match keys by pointer */
  if (IS_STRING(v)) v = OBJ_VAL(str_intern_obj(vm, AS_STRING(v)));
  for (uint32_t i = 0; i < c->nconsts; i++)
    if (same_const(c->consts[i], v)) return i;
  if (c->nconsts == c->constcap) {
    uint32_t cap = grow_cap(c->constcap, c->nconsts + 1);
    c->consts = mem_realloc(vm, c->consts, c->constcap * sizeof(Value), cap * sizeof(Value));
    c->constcap = cap;
  }
  c->consts[c->nconsts] = v;
  return c->nconsts++;
}

void chunk_free(Vm *vm, Chunk *c)
{
  mem_free(vm, c->code, c->cap);
  mem_free(vm, c->lines, c->cap * sizeof(int32_t));
  mem_free(vm, c->cols, c->cap * sizeof(int32_t));
  mem_free(vm, c->consts, c->constcap * sizeof(Value));
  memset(c, 0, sizeof(*c));
}
