/*
 * jobid.c: the ids of jobs named by a path, and which shard a job is in.
 *
 * A job id is the key of records, of --resume and of `harn verify`, so it
 * must not depend on how a path was spelled or on the current directory
 * (docs/cli.md "Job ids"). The id of a job that a path names starts at
 * its source: a directory source contributes its own name and the path
 * beneath it ("jobs/a.harn" for `jobs`, `jobs/`, `./jobs`, `/abs/jobs`,
 * or `.` run inside jobs/), a file source its own name ("a.harn" for
 * `jobs/a.harn`, `./jobs//a.harn`, `/abs/jobs/a.harn`), and a manifest
 * line without an "id" is NAME:LINE with the manifest's name
 * ("jobs.jsonl:3"). A path read from a stream (`find jobs | harn batch -`)
 * is the producer's choice: it is only normalised ("jobs/a.harn" for
 * "./jobs//a.harn"), as a path relative to where it was printed. Paths are made absolute against the
 * current directory and normalised lexically (".", "..", repeated and
 * trailing slashes), as the shell and POSIX realpath -s do: the file
 * system is not asked, so a symlink keeps the name it was given by.
 *
 * Sharding (design/RUNNER.md section 8): shard I of N takes the jobs whose
 * 0-based position across all sources is I mod N (`position`, the
 * default), or whose id's XXH64 (seed 0) is I mod N (`id`). Both rules are
 * CLI contract: every shard, on any machine, computes the same split.
 */
#define _GNU_SOURCE
#include "base/path.h"
#include "supervisor/sup_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL /* header-only: nothing to link, static builds too */
#include <xxhash.h>

/* ------------------------------------------------------------------ ids */

/* [path] made absolute (against the current directory) and normalised
 * lexically; malloc'd. NULL when the current directory is unknown
 * (removed) and [path] is relative. */
static char *abs_normal(const char *path)
{
  if (path[0] == '/') return path_normal(path);
  char *cwd = getcwd(NULL, 0);
  if (!cwd) return NULL;
  char *n = path_absolute(cwd, path);
  free(cwd);
  return n;
}

/* [p] (absolute, normalised) from the parent of [top] (absolute,
 * normalised, [p] beneath it or equal): "jobs/a.harn" for /w/jobs and
 * /w/jobs/a.harn. NULL when [p] is not beneath [top]. */
static char *from_parent(const char *top, const char *p)
{
  size_t base = strlen(top); /* the parent, with its slash: 3 for "/w/jobs" */
  while (base > 0 && top[base - 1] != '/') base--;
  if (base > 1 && (strncmp(p, top, base - 1) != 0 || p[base - 1] != '/')) return NULL;
  char *id = strdup(*(p + base) ? p + base : "/");
  if (!id) abort();
  return id;
}

char *sup_path_id(const char *dir, const char *path)
{
  char *d = abs_normal(dir), *p = abs_normal(path);
  char *id = d && p ? from_parent(d, p) : NULL;
  free(d);
  free(p);
  if (!id && !(id = strdup(path))) abort(); /* no current directory: as given */
  return id;
}

char *sup_file_id(const char *path) { return sup_source_name(path); }

char *sup_stream_path_id(const char *path) { return path_normal(path); }

char *sup_source_name(const char *src)
{
  char *s = abs_normal(src);
  if (!s) return strdup(src);
  const char *slash = strrchr(s, '/');
  char *name = strdup(slash[1] ? slash + 1 : s);
  free(s);
  if (!name) abort();
  return name;
}

/* ------------------------------------------------------------------ shards */

/* A decimal in [0, max] at [s] up to [end] (or the string's end); -1 if
 * there is anything else. */
static long parse_count(const char *s, const char *end, long max)
{
  if (!end) end = s + strlen(s);
  if (s == end || end - s > 9) return -1;
  long v = 0;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  return v <= max ? v : -1;
}

/* getenv as a count; -1 when unset or not a count (named in [err]). */
static long env_count(const char *name, char *err, size_t errlen)
{
  const char *v = getenv(name);
  long n = v ? parse_count(v, NULL, SUP_SHARD_MAX) : -1;
  if (n < 0 && err[0] == '\0')
    snprintf(err, errlen, "%s is %s%s%s", name, v ? "not a count: \"" : "not set",
             v ? v : "", v ? "\"" : "");
  return n;
}

int sup_shard_parse(const char *spec, const char *by, SupShard *out, char *err, size_t errlen)
{
  memset(out, 0, sizeof *out);
  err[0] = '\0';
  if (by && !strcmp(by, "id")) {
    out->by_id = true;
  } else if (by && strcmp(by, "position") != 0) {
    snprintf(err, errlen, "--shard-by takes position or id, not \"%s\"", by);
    return -1;
  }
  long i = -1, n = -1;
  if (!strcmp(spec, "slurm")) {
    /* I = (TASK_ID - MIN) / STEP, N = COUNT; STEP defaults to 1 (older
     * Slurm does not set it) */
    long id = env_count("SLURM_ARRAY_TASK_ID", err, errlen);
    long min = env_count("SLURM_ARRAY_TASK_MIN", err, errlen);
    long count = env_count("SLURM_ARRAY_TASK_COUNT", err, errlen);
    long step = getenv("SLURM_ARRAY_TASK_STEP") ? env_count("SLURM_ARRAY_TASK_STEP", err, errlen) : 1;
    if (err[0]) return -1;
    if (step < 1 || id < min || (id - min) % step != 0 || (id - min) / step >= count) {
      snprintf(err, errlen,
               "the Slurm array is not a range this task fits in (SLURM_ARRAY_TASK_ID=%ld, MIN=%ld, "
               "STEP=%ld, COUNT=%ld); give --shard I/N",
               id, min, step, count);
      return -1;
    }
    i = (id - min) / step;
    n = count;
  } else if (!strncmp(spec, "k8s/", 4)) {
    n = parse_count(spec + 4, NULL, SUP_SHARD_MAX);
    if (n < 1) {
      snprintf(err, errlen, "--shard k8s/N needs a count N of 1 to %d, not \"%s\"", SUP_SHARD_MAX,
               spec + 4);
      return -1;
    }
    i = env_count("JOB_COMPLETION_INDEX", err, errlen);
    if (i < 0) return -1;
  } else {
    const char *slash = strchr(spec, '/');
    if (slash) {
      i = parse_count(spec, slash, SUP_SHARD_MAX);
      n = parse_count(slash + 1, NULL, SUP_SHARD_MAX);
    }
    if (i < 0 || n < 1) {
      snprintf(err, errlen, "--shard takes I/N (0 <= I < N <= %d), slurm or k8s/N, not \"%s\"",
               SUP_SHARD_MAX, spec);
      return -1;
    }
  }
  if (i >= n) {
    snprintf(err, errlen, "shard index %ld is not below the shard count %ld", i, n);
    return -1;
  }
  out->index = (int)i;
  out->count = (int)n;
  snprintf(out->why, sizeof out->why, "%ld/%ld", i, n);
  return 0;
}

bool sup_shard_mine(const SupShard *sh, long pos, const char *id)
{
  if (!sh || sh->count <= 1) return true;
  uint64_t k = sh->by_id && id ? XXH64(id, strlen(id), 0) : (uint64_t)pos;
  return k % (uint64_t)sh->count == (uint64_t)sh->index;
}
