/*
 * suggest.h: "did you mean" for a word that names nothing (an unknown
 * option, a manifest key with a typo: `timout`).
 *
 * The candidate closest to the word by optimal string alignment distance
 * (Levenshtein plus the swap of two neighbours, each edit costing 1), if
 * it is close enough to be the likely intent: at most 1 edit for words of
 * up to 4 bytes, 2 up to 8, 3 beyond. Bytes are compared as they are (a
 * case change is one edit). Not reentrant (one static table).
 */
#ifndef HARN_BASE_SUGGEST_H
#define HARN_BASE_SUGGEST_H

#include <stddef.h>

/* The member of [cands] ([n] NUL-terminated strings; NULL ones skipped)
 * nearest to the [len] bytes of [word], or NULL when none is close enough
 * (or [word] is longer than 64 bytes). Ties go to the earlier candidate. */
const char *suggest(const char *word, size_t len, const char *const *cands, size_t n);

#endif
