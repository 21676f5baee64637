/*
 * net_rules.h: --allow-net / --deny-net entries and the broker's checks
 * (net_rules.c has the syntax and the invariants).
 */
#ifndef HARN_NET_RULES_H
#define HARN_NET_RULES_H

#include <stdbool.h>
#include <stddef.h>

#define NET_MAX_RULES 64

typedef struct NetRules NetRules;

/* An empty rule set (NULL on OOM) / free it. */
NetRules *net_rules_new(void);
void net_rules_free(NetRules *r);
/* Add one allow ([deny] false) or deny entry: 0, or -1 with a text in
 * [err] (a usage error). */
int net_rules_add(NetRules *r, bool deny, const char *spec, char *err, size_t errlen);
/* No allow entry at all (nothing is granted)? */
bool net_rules_empty(const NetRules *r);
/* Check 1, on the URL: 0 allowed, -1 refused with the reason in [reason]. */
int net_rules_check_url(const NetRules *r, const char *scheme, const char *host, int port,
                        char *reason, size_t n);
/* Check 2, on a resolved address ([addr16]: IPv6 form, IPv4 mapped) that
 * the URL's [host] resolved to, just before connecting: 0 or -1. */
int net_rules_check_addr(const NetRules *r, const unsigned char addr16[16], const char *host, int port,
                         char *reason, size_t n);
/* Is [addr16] in one of the special ranges (private, loopback...)? */
bool net_addr_special(const unsigned char addr16[16]);

#endif
