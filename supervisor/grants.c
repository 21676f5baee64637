/*
 * grants.c: the directories a command line grants to its jobs
 * (--allow-read, --allow-write, --scratch; docs/sandbox.md "Capabilities").
 *
 * The supervisor opens each granted directory once (O_DIRECTORY |
 * O_CLOEXEC, read-only: not O_PATH, whose descriptors Landlock accepts
 * but the worker's filter does not need) and passes the descriptors with
 * every job frame (SCM_RIGHTS, protocol v3); the worker turns each into
 * one Landlock rule. Paths are made absolute against the working
 * directory and normalised lexically, so that the worker's lexical check
 * (a path outside every grant is refused before the kernel is asked) and
 * the record see the same text the user wrote, resolved.
 *
 * A job's scratch directory (--scratch) is made per attempt by the pool
 * (pool.c) and removed with sup_remove_tree after the attempt's record:
 * a walk with openat/unlinkat that follows no symlink, so nothing a job
 * planted there can lead the removal outside it.
 */
#define _GNU_SOURCE
#include "base/path.h"
#include "supervisor/sup_internal.h"
#include "supervisor/options.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *sup_path_absolute(const char *cwd, const char *path) { return path_absolute(cwd, path); }

void sup_grants_close(SupGrant *g, int n)
{
  for (int i = 0; i < n; i++) {
    if (g[i].fd >= 0) close(g[i].fd);
    free(g[i].path);
  }
  free(g);
}

int sup_grants_open(const char *cmd, char **read, size_t nread, char **write, size_t nwrite,
                    bool scratch, SupGrant **out, int *n)
{
  *out = NULL;
  *n = 0;
  char *cwd = getcwd(NULL, 0);
  if (!cwd) {
    fprintf(stderr, "harn %s: cannot read the working directory: %s\n", cmd, strerror(errno));
    return -1;
  }
  SupGrant *g = calloc(nread + nwrite + 1, sizeof *g);
  if (!g) abort();
  int k = 0, rc = 0;
  for (size_t i = 0; i < nread + nwrite && rc == 0; i++) {
    bool w = i >= nread;
    const char *given = w ? write[i - nread] : read[i];
    const char *opt = w ? "--allow-write" : "--allow-read";
    char *abs = sup_path_absolute(cwd, given);
    int dup = -1;
    for (int m = 0; m < k; m++)
      if (!strcmp(g[m].path, abs)) dup = m;
    if (dup >= 0) {
      g[dup].write = g[dup].write || w;
      free(abs);
      continue;
    }
    if (k + (scratch ? 1 : 0) >= IPC_MAX_GRANTS) {
      fprintf(stderr, "harn %s: %s: %s: at most %d directories can be granted%s\n", cmd, opt, given,
              IPC_MAX_GRANTS, scratch ? " (the scratch directory is one)" : "");
      free(abs);
      rc = -1;
      break;
    }
    int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "harn %s: %s: %s: %s\n", cmd, opt, given,
              errno == ENOTDIR ? "not a directory (grants are directories)" : strerror(errno));
      free(abs);
      rc = -1;
      break;
    }
    g[k].path = abs;
    g[k].fd = fd;
    g[k].write = w;
    k++;
  }
  free(cwd);
  if (rc != 0) {
    sup_grants_close(g, k);
    return rc;
  }
  *out = g;
  *n = k;
  return 0;
}

/* Remove what is beneath directory [dfd] (which it closes), following no
 * symlink; [depth] bounds the recursion. */
static int remove_beneath(int dfd, int depth)
{
  DIR *d = fdopendir(dfd);
  if (!d) {
    int e = -errno;
    close(dfd);
    return e;
  }
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) continue;
    if (errno != EISDIR && errno != EPERM) {
      rc = -errno;
      continue;
    }
    int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 || depth > 256) {
      if (sub >= 0) close(sub);
      rc = sub < 0 ? -errno : -ELOOP;
      continue;
    }
    int r = remove_beneath(sub, depth + 1);
    if (r) rc = r;
    if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) != 0) rc = -errno;
  }
  closedir(d);
  return rc;
}

int sup_remove_tree(const char *path)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  int rc = remove_beneath(fd, 0);
  if (rmdir(path) != 0 && rc == 0) rc = -errno;
  return rc;
}

int sup_caps_config(const CliArgs *a, SupPoolConfig *cfg, SupGrant **grants, int *ngrants,
                    char **cwd)
{
  const CliValue *rd = &a->opt[CLI_OPT_ALLOW_READ], *wr = &a->opt[CLI_OPT_ALLOW_WRITE];
  const CliValue *sc = &a->opt[CLI_OPT_SCRATCH], *mw = &a->opt[CLI_OPT_MAX_WRITE_BYTES];
  *grants = NULL;
  *ngrants = 0;
  *cwd = NULL;
  if (sup_grants_open(a->cmd->name, rd->items, rd->nitems, wr->items, wr->nitems, sc->given, grants,
                      ngrants) != 0)
    return -1;
  bool writes = sc->given;
  for (int i = 0; i < *ngrants; i++) writes = writes || (*grants)[i].write;
  cfg->grants = *grants;
  cfg->ngrants = *ngrants;
  cfg->scratch = sc->given;
  /* the quota: --max-write-bytes, else the scratch's SIZE, else 64 MiB
   * when anything is writable; nothing without a write grant */
  cfg->max_write_bytes = !writes ? 0
                         : mw->given ? (uint64_t)mw->bytes
                         : sc->given && sc->text ? (uint64_t)sc->bytes
                                                 : SUP_DEFAULT_MAX_WRITE_BYTES;
  if (writes && cfg->max_write_bytes == 0) cfg->max_write_bytes = 1; /* 0 means none: nothing fits */
  *cwd = getcwd(NULL, 0);
  cfg->cwd = *cwd;
  return 0;
}

extern char **environ;

/* Does variable [entry] ("NAME=VALUE") match pattern [pat] (NAME, or
 * PREFIX* for every name that starts with PREFIX)? */
static bool env_match(const char *entry, const char *pat)
{
  size_t n = strcspn(entry, "="), p = strlen(pat);
  if (p && pat[p - 1] == '*') return n >= p - 1 && !strncmp(entry, pat, p - 1);
  return n == p && !strncmp(entry, pat, n);
}

int sup_env_config(const CliArgs *a, SupPoolConfig *cfg, SupEnv *out)
{
  const CliValue *al = &a->opt[CLI_OPT_ALLOW_ENV], *set = &a->opt[CLI_OPT_ENV];
  const CliValue *deny = &a->opt[CLI_OPT_DENY];
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < set->nitems; i++) {
    const char *eq = strchr(set->items[i], '=');
    if (!eq || eq == set->items[i]) {
      fprintf(stderr, "harn %s: --env: \"%s\" is not NAME=VALUE\n", a->cmd->name, set->items[i]);
      return -1;
    }
  }
  size_t n = 0;
  for (char **e = environ; e && *e; e++) n++;
  out->vars = calloc(n + set->nitems + 1, sizeof *out->vars);
  if (!out->vars) abort();
  /* --env NAME=VALUE wins over the same name allowed from ours */
  for (size_t i = 0; i < set->nitems; i++) {
    const char *eq = strchr(set->items[i], '=');
    size_t k = (size_t)(eq - set->items[i]);
    bool dup = false;
    for (size_t m = 0; m < out->n && !dup; m++)
      dup = !strncmp(out->vars[m].name, set->items[i], k) && out->vars[m].name[k] == 0;
    if (dup) continue;
    out->vars[out->n].name = strndup(set->items[i], k);
    out->vars[out->n].value = strdup(eq + 1);
    out->n++;
  }
  for (char **e = environ; e && *e && out->n < IPC_MAX_ENV; e++) {
    bool allowed = false;
    for (size_t i = 0; i < al->nitems && !allowed; i++) allowed = env_match(*e, al->items[i]);
    if (!allowed) continue;
    size_t k = strcspn(*e, "=");
    bool dup = false;
    for (size_t m = 0; m < out->n && !dup; m++)
      dup = strlen(out->vars[m].name) == k && !strncmp(out->vars[m].name, *e, k);
    if (dup) continue;
    out->vars[out->n].name = strndup(*e, k);
    out->vars[out->n].value = strdup((*e)[k] ? *e + k + 1 : "");
    out->n++;
  }
  if (out->n > IPC_MAX_ENV) {
    fprintf(stderr, "harn %s: --env, --allow-env: more than %d variables\n", a->cmd->name, IPC_MAX_ENV);
    return -1;
  }
  if (deny->nitems > IPC_MAX_DENY) {
    fprintf(stderr, "harn %s: --deny: more than %d builtins\n", a->cmd->name, IPC_MAX_DENY);
    return -1;
  }
  cfg->env = out->vars;
  cfg->nenv = out->n;
  cfg->deny = (const char *const *)deny->items;
  cfg->ndeny = deny->nitems;
  return 0;
}

void sup_env_free(SupEnv *e)
{
  for (size_t i = 0; i < e->n; i++) {
    free((char *)e->vars[i].name);
    free((char *)e->vars[i].value);
  }
  free(e->vars);
  memset(e, 0, sizeof *e);
}
