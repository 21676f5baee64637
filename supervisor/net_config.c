/*
 * net_config.c: the network options of `harn run` / `harn batch`
 * (--allow-net, --deny-net, --max-response-bytes, --max-requests) into a
 * pool configuration (sup_internal.h sup_net_config; syntax in
 * net_rules.c). No --allow-net: no rules, the job has no network.
 */
#include <stdio.h>

#include "supervisor/net_rules.h"
#include "supervisor/options.h"
#include "supervisor/sup_internal.h"

int sup_net_config(const char *cmd, const CliArgs *a, SupPoolConfig *cfg, NetRules **rules)
{
  const CliValue *al = &a->opt[CLI_OPT_ALLOW_NET], *dn = &a->opt[CLI_OPT_DENY_NET];
  *rules = NULL;
  cfg->max_response_bytes = a->opt[CLI_OPT_MAX_RESPONSE_BYTES].bytes;
  if (cfg->max_response_bytes == 0) cfg->max_response_bytes = 10u << 20;
  cfg->max_requests = a->opt[CLI_OPT_MAX_REQUESTS].n > 0 ? (int)a->opt[CLI_OPT_MAX_REQUESTS].n : 100;
  if (al->nitems == 0 && dn->nitems == 0) return 0;
#ifndef HARN_WITH_NET
  fprintf(stderr, "harn %s: --allow-net: this build has no network feature (-net: built without libcurl)\n",
          cmd);
  return -1;
#endif
  NetRules *r = net_rules_new();
  if (!r) return -1;
  char err[300];
  for (int deny = 0; deny < 2; deny++) {
    const CliValue *v = deny ? dn : al;
    for (size_t i = 0; i < v->nitems; i++)
      if (net_rules_add(r, deny, v->items[i], err, sizeof err) != 0) {
        fprintf(stderr, "harn %s: --%s: %s\n", cmd, deny ? "deny-net" : "allow-net", err);
        net_rules_free(r);
        return -1;
      }
  }
  cfg->net_rules = r;
  *rules = r;
  return 0;
}
