/*
 * batch.c: `harn batch SOURCE...`: many jobs through one pool.
 *
 * Flow: a feeder walks the sources in order and hands out one job spec at a
 * time (a directory is listed and sorted when it is reached; a JSONL
 * manifest is read line by line only when a slot is free, so a manifest of
 * a million jobs costs one line of memory; stdin (`-`), a pipe or a FIFO
 * is read as lines come, through linein.c, and while it has no whole line
 * the feeder says "wait" and a uv_poll on its fd pumps again: the loop
 * never blocks on a source). A job id given twice runs as ID#2
 * (rename_repeat). pump() starts jobs while fewer than -j run. Each
 * attempt's terminal record goes to --results (or stdout) and, with
 * --joblog, one GNU-parallel-format line; both are flushed per job so that
 * a supervisor crash loses nothing finished; a record that cannot be
 * written stops the batch (records_failed).
 * `crashed` and `killed` attempts are retried (--retries, or the manifest
 * line's "retries") after an exponential backoff (100 ms, 200 ms, ...
 * capped at 5 s); each attempt is its own record.
 *
 * Bad input loses nothing else: a manifest line that is no job (not JSON,
 * an empty or NUL-holding id, file or source, a line over SUP_LINE_MAX) is
 * said on stderr as SOURCE:LINE and runs nothing; a source that cannot be
 * read is said when the feeder reaches it (a .harn path is a job anyway:
 * its record says why); the other lines and sources run, and the batch
 * exits 1 (Feeder.bad_input).
 *
 * --resume skips every job id that already has a record in the results
 * file; --resume-failed skips only ids with an `ok` record and continues
 * the others' attempt numbering, so (id, attempt) stays unique across runs.
 * Ids are compared as bytes: records and the journal write them with
 * sup_json_name, which a parse turns back into the same bytes, whatever
 * they are (docs/cli.md "The terminal record").
 *
 * --halt soon,fail=N stops starting jobs once N jobs have failed (finally,
 * after their retries); now,fail=N also cancels the running ones. A
 * percentage is of the jobs finished so far. Ctrl-C (SIGINT) or SIGTERM to
 * the supervisor cancels every running job (SIGINT to their groups, then
 * SIGKILL after the grace), waits for their records, and exits 130.
 *
 * The batch exits 0 when every job's last attempt ended `ok`, else 1.
 */
#define _GNU_SOURCE
#include "base/defaults.h"
#include "supervisor/supervisor.h"
#include "supervisor/sup_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ seen ids */

/* Open-addressing set of job ids: those of a previous results file
 * (resume), and those given more than once (rename_repeat). */
typedef struct Seen {
  char *id;
  int max_attempt;
  bool ok;
  bool lost;        /* the record of max_attempt says supervisor_lost */
  int started;      /* journal: highest attempt started (resume) */
  char *file;       /* journal: the start entry's file (resume) */
} Seen;

typedef struct SeenSet {
  Seen *slots;
  size_t cap, len;
} SeenSet;

static uint64_t hash_str(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static Seen *seen_find(SeenSet *set, const char *id, bool create)
{
  if (create && (set->len + 1) * 2 > set->cap) {
    size_t ncap = set->cap ? set->cap * 2 : 64;
    Seen *ns = calloc(ncap, sizeof *ns);
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

/* The ids the sources gave in this run, to tell a repeated id
 * (rename_repeat). A set of 128-bit fingerprints (two independent 64-bit
 * hashes, FNV-1a and a multiply-xorshift one) rather than of strings: 32
 * bytes a job at most, for batches of millions; two different ids collide
 * with a probability of ~n^2/2^129. */
typedef struct IdPrint {
  uint64_t a, b; /* {0, 0}: an empty slot (a is never 0) */
} IdPrint;

typedef struct IdSet {
  IdPrint *slots;
  size_t cap, len;
} IdSet;

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
static bool idset_add(IdSet *set, const char *id)
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

static void seen_free(SeenSet *set)
{
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i].file);
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i].id);
  free(set->slots);
}

/* ------------------------------------------------------------------ feeder */

/* SRC_STREAM: `-` (stdin), or a source that is not a regular file (a
 * pipe: `<(gen)`, a FIFO): never sniffed or counted ahead, read as it
 * comes (linein.c); each line a manifest line or a path. */
typedef enum { SRC_FILE, SRC_DIR, SRC_MANIFEST, SRC_STREAM } SrcKind;

typedef struct Feeder {
  char **srcs;
  int nsrc, idx;
  bool opened;        /* srcs[idx] is being walked ... */
  SrcKind kind;       /* ... and is of this kind (found once) */
  char **files;       /* directory listing */
  size_t nfiles, fidx;
  SupLineIn li;       /* a manifest or stream (li_open) */
  bool li_open;
  char *mf_dir;       /* its directory: relative "file"s are in it */
  /* A stream that has no whole line yet: its fd is watched, and
   * [readable] called when it may have one (feeder_next said 2). */
  uv_loop_t *loop;
  uv_poll_t *poll;    /* malloc'd: freed by its close callback */
  void (*readable)(void *ud);
  void *ud;
  long seq;
  int bad_input;      /* bad lines, and sources or directories that could
                         not be read: each said on stderr; the batch exits 1 */
} Feeder;

static bool has_suffix(const char *s, const char *suf)
{
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static SrcKind src_kind(const char *path)
{
  if (!strcmp(path, "-")) return SRC_STREAM;
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return SRC_DIR;
    if (!S_ISREG(st.st_mode)) return SRC_STREAM; /* reading it would consume it */
  }
  if (has_suffix(path, ".harn")) return SRC_FILE;
  if (has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson") || has_suffix(path, ".json"))
    return SRC_MANIFEST;
  /* Anything else: a manifest when its first non-blank byte is '{' (in
   * the first line's worth of bytes: a file of blanks is not read to its
   * end). */
  FILE *f = fopen(path, "re");
  if (!f) return SRC_FILE;
  int c;
  size_t n = 0;
  while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\n' || c == '\r') &&
         ++n < SUP_LINE_MAX) {}
  fclose(f);
  return c == '{' ? SRC_MANIFEST : SRC_FILE;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the .harn files under [dir] to *files (*n of *cap). Returns the
 * number of directories that could not be read, each said on stderr
 * unless [quiet]; the files of the others are listed. */
static int list_dir(const char *dir, char ***files, size_t *n, size_t *cap, bool quiet)
{
  DIR *d = opendir(dir);
  if (!d) {
    if (!quiet) fprintf(stderr, "harn batch: cannot read directory %s: %s\n", dir, strerror(errno));
    return 1;
  }
  int bad = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    size_t l = strlen(dir);
    char *path;
    if (asprintf(&path, "%s%s%s", dir, l && dir[l - 1] == '/' ? "" : "/", e->d_name) < 0) abort();
    /* A directory is walked, a symlink to one is not (as find(1) without
     * -L: a link to an ancestor would list its files again at every level
     * of the loop); a symlink to a .harn file is a job. */
    struct stat ls, ts;
    bool known = lstat(path, &ls) == 0, linked = known && S_ISLNK(ls.st_mode);
    if (known && S_ISDIR(ls.st_mode)) {
      bad += list_dir(path, files, n, cap, quiet);
      free(path);
    } else if (has_suffix(e->d_name, ".harn") &&
               !(linked && stat(path, &ts) == 0 && S_ISDIR(ts.st_mode))) {
      if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *files = realloc(*files, *cap * sizeof **files);
        if (!*files) abort();
      }
      (*files)[(*n)++] = path;
    } else {
      free(path);
    }
  }
  closedir(d);
  return bad;
}

/* Let go of what the current source holds (the batch may end with a
 * source half read: Ctrl-C, --halt). */
static void feeder_release(Feeder *f)
{
  for (size_t i = f->fidx; i < f->nfiles; i++) free(f->files[i]);
  free(f->files);
  f->files = NULL;
  f->nfiles = f->fidx = 0;
  if (f->poll) {
    /* before the fd closes: a closed poll handle no longer watches it */
    uv_close((uv_handle_t *)f->poll, (uv_close_cb)free);
    f->poll = NULL;
  }
  if (f->li_open) sup_linein_close(&f->li);
  f->li_open = false;
  free(f->mf_dir);
  f->mf_dir = NULL;
  f->opened = false;
}

static void feeder_close_current(Feeder *f)
{
  feeder_release(f);
  f->idx++;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The largest "timeout", "cpu" and "memory" a manifest line may give are
 * the command line's (SUP_MAX_DURATION_MS, SUP_MAX_SIZE, sup_internal.h):
 * beyond them the pool's conversions to int64 and rlimits would overflow. */

/* What is wrong with "id", "file" or "source" [v] (a string): empty, or
 * holding a NUL (a C string would end there: another id, another path, a
 * program cut short); NULL when it is fine. */
static const char *bad_name(const SupJson *v, const char *empty, const char *nul)
{
  if (!v->slen) return empty;
  if (memchr(v->str, '\0', v->slen)) return nul;
  return NULL;
}

/* Build a spec from manifest line [text]. 0, or -1 for a bad line (said
 * on stderr with the source and line number). */
static int spec_from_line(Feeder *f, const char *text, size_t len, SupSpec *s, double def_timeout,
                          int def_retries)
{
  const char *err = NULL;
  SupJson *j = sup_json_parse(text, len, &err);
  const char *src = !strcmp(f->srcs[f->idx], "-") ? "stdin" : f->srcs[f->idx];
  if (!j || j->type != SUP_JSON_OBJECT) {
    fprintf(stderr, "harn batch: %s:%ld: %s\n", src, f->li.lineno, j ? "not a JSON object" : err);
    sup_json_free(j);
    return -1;
  }
  const SupJson *id = sup_json_get(j, "id"), *file = sup_json_get(j, "file"),
                *source = sup_json_get(j, "source"), *input = sup_json_get(j, "input"),
                *timeout = sup_json_get(j, "timeout"), *retries = sup_json_get(j, "retries"),
                *memory = sup_json_get(j, "memory"), *cpu = sup_json_get(j, "cpu");
  const char *bad = NULL;
  if (file && file->type != SUP_JSON_STRING) bad = "\"file\" must be a string";
  else if (source && source->type != SUP_JSON_STRING) bad = "\"source\" must be a string";
  else if (!!file == !!source) bad = "exactly one of \"file\" and \"source\" is needed";
  else if (retries && (retries->type != SUP_JSON_INT || retries->i < 0 || retries->i > 1000))
    bad = "\"retries\" must be a non-negative int";
  if (!bad && file) bad = bad_name(file, "\"file\" is empty", "\"file\" holds a NUL character");
  if (!bad && source)
    bad = bad_name(source, "\"source\" is empty", "\"source\" holds a NUL character");
  if (!bad && id && id->type == SUP_JSON_STRING)
    bad = bad_name(id, "\"id\" is empty", "\"id\" holds a NUL character");
  double tmo = def_timeout;
  if (!bad && timeout && timeout->type != SUP_JSON_NULL) {
    if (timeout->type == SUP_JSON_STRING) {
      int pr = sup_parse_duration(timeout->str, &tmo);
      if (pr < 0) bad = pr == -2 ? "\"timeout\" is too large" : "bad \"timeout\" duration";
    } else if (timeout->type == SUP_JSON_INT || timeout->type == SUP_JSON_FLOAT) {
      tmo = timeout->type == SUP_JSON_INT ? (double)timeout->i : timeout->d;
      if (tmo < 0) bad = "bad \"timeout\"";
    } else {
      bad = "bad \"timeout\"";
    }
    if (!bad && !(tmo <= SUP_MAX_DURATION_MS)) bad = "\"timeout\" is too large";
  }
  size_t mem = 0;
  double cpu_ms = 0;
  if (!bad && memory && memory->type != SUP_JSON_NULL) {
    if (memory->type == SUP_JSON_STRING) {
      int pr = sup_parse_size(memory->str, &mem);
      if (pr < 0) bad = pr == -2 ? "\"memory\" is too large" : "bad \"memory\" size";
    } else if (memory->type == SUP_JSON_INT && memory->i > 0) {
      mem = (size_t)memory->i;
    } else {
      bad = "bad \"memory\"";
    }
    if (!bad && mem > SUP_MAX_SIZE) bad = "\"memory\" is too large";
  }
  if (!bad && cpu && cpu->type != SUP_JSON_NULL) {
    if (cpu->type == SUP_JSON_STRING) {
      int pr = sup_parse_duration(cpu->str, &cpu_ms);
      if (pr < 0) bad = pr == -2 ? "\"cpu\" is too large" : "bad \"cpu\" duration";
    } else if ((cpu->type == SUP_JSON_INT && cpu->i > 0) || (cpu->type == SUP_JSON_FLOAT && cpu->d > 0)) {
      cpu_ms = cpu->type == SUP_JSON_INT ? (double)cpu->i : cpu->d;
    } else {
      bad = "bad \"cpu\"";
    }
    if (!bad && !(cpu_ms <= SUP_MAX_DURATION_MS)) bad = "\"cpu\" is too large";
  }
  if (bad) {
    fprintf(stderr, "harn batch: %s:%ld: %s\n", src, f->li.lineno, bad);
    sup_json_free(j);
    return -1;
  }
  memset(s, 0, sizeof *s);
  if (id && id->type == SUP_JSON_STRING) {
    s->id = strdup(id->str);
  } else if (id && id->type != SUP_JSON_NULL) { /* its JSON text: 3, true, {"k":1} */
    Buf b = {0};
    sup_json_write(&b, id);
    s->id = buf_take(&b);
  } else if (asprintf(&s->id, "%s:%ld", src, f->li.lineno) < 0) {
    abort();
  }
  if (file) {
    if (file->str[0] == '/' || !f->mf_dir) {
      s->file = strdup(file->str);
    } else if (asprintf(&s->file, "%s/%s", f->mf_dir, file->str) < 0) {
      abort();
    }
    s->program = strdup(s->file);
  } else {
    s->is_source = true;
    s->program = strdup(source->str);
    s->file = strdup(s->id);
  }
  if (input) {
    Buf b = {0};
    sup_json_write(&b, input);
    s->input_json = buf_take(&b);
  }
  s->timeout_ms = tmo;
  s->memory = mem;
  s->cpu_ms = cpu_ms;
  s->retries = retries ? (int)retries->i : def_retries;
  sup_json_free(j);
  return 0;
}

static void feeder_poll_cb(uv_poll_t *h, int status, int events)
{
  Feeder *f = h->data;
  uv_poll_stop(h); /* until the next time the feeder waits */
  f->readable(f->ud);
}

/* Watch the current stream's fd until it is readable (or hung up): 0, or
 * a libuv error when it cannot be watched. */
static int feeder_wait(Feeder *f)
{
  if (!f->poll) {
    f->poll = malloc(sizeof *f->poll);
    if (!f->poll) abort();
    int rc = uv_poll_init(f->loop, f->poll, f->li.fd);
    if (rc != 0) { /* not expected for a pipe, FIFO, terminal or socket */
      free(f->poll);
      f->poll = NULL;
      return rc;
    }
    f->poll->data = f;
  }
  return uv_poll_start(f->poll, UV_READABLE | UV_DISCONNECT, feeder_poll_cb);
}

/* The next job: 1 with *s filled; 0 when every source is exhausted; 2 when
 * a stream has no whole line yet (f->readable is called when it may). */
static int feeder_next(Feeder *f, SupSpec *s, double def_timeout, int def_retries)
{
  while (f->idx < f->nsrc) {
    const char *src = f->srcs[f->idx];
    SrcKind kind = f->opened ? f->kind : src_kind(src);
    if (kind == SRC_FILE) {
      f->idx++;
      memset(s, 0, sizeof *s);
      s->id = strdup(src);
      s->file = strdup(src);
      s->program = strdup(src);
      s->timeout_ms = def_timeout;
      s->retries = def_retries;
      s->seq = ++f->seq;
      return 1;
    }
    if (kind == SRC_DIR) {
      if (!f->opened) {
        size_t cap = 0;
        f->bad_input += list_dir(src, &f->files, &f->nfiles, &cap, false);
        if (f->nfiles) qsort(f->files, f->nfiles, sizeof *f->files, cmp_str);
        f->opened = true;
        f->kind = SRC_DIR;
      }
      if (f->fidx < f->nfiles) {
        char *path = f->files[f->fidx++];
        memset(s, 0, sizeof *s);
        s->id = strdup(path);
        s->file = path;
        s->program = strdup(path);
        s->timeout_ms = def_timeout;
        s->retries = def_retries;
        s->seq = ++f->seq;
        return 1;
      }
      feeder_close_current(f);
      continue;
    }
    if (!f->opened) {
      f->kind = kind;
      f->opened = true;
      bool blocking;
      int err = sup_linein_open(&f->li, src, &blocking);
      if (err < 0) {
        fprintf(stderr, "harn batch: cannot open %s: %s\n", src, strerror(-err));
        f->bad_input++;
        feeder_close_current(f);
        continue;
      }
      f->li_open = true;
      if (blocking)
        fprintf(stderr, "harn batch: reading stdin may hold up the supervision (no /proc to "
                        "reopen it without blocking)\n");
      const char *slash = kind == SRC_STREAM ? NULL : strrchr(src, '/');
      f->mf_dir = slash ? strndup(src, (size_t)(slash - src + (slash == src))) : NULL;
    }
    char *line;
    size_t len;
    int got;
    const char *name = !strcmp(src, "-") ? "stdin" : src;
    while ((got = sup_linein_next(&f->li, &line, &len)) >= 1) {
      if (got == 2) { /* that line is lost; the next ones are read */
        fprintf(stderr, "harn batch: %s:%ld: line longer than %zu MiB; skipped\n", name,
                f->li.lineno, (size_t)SUP_LINE_MAX >> 20);
        f->bad_input++;
        continue;
      }
      while (len && line[len - 1] == '\r') len--;
      size_t k = 0;
      while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
      if (k == len) continue;
      if (f->kind == SRC_STREAM && line[k] != '{') {
        /* a path, as xargs would take it (`find jobs -name "*.harn" | harn batch -`) */
        if (memchr(line, '\0', len)) { /* the C string would name another file */
          fprintf(stderr, "harn batch: %s:%ld: a NUL byte in the line\n", name, f->li.lineno);
          f->bad_input++;
          continue;
        }
        size_t e = len;
        while (e > k && (line[e - 1] == ' ' || line[e - 1] == '\t')) e--;
        memset(s, 0, sizeof *s);
        s->id = strndup(line + k, e - k);
        s->file = strdup(s->id);
        s->program = strdup(s->id);
        s->timeout_ms = def_timeout;
        s->retries = def_retries;
        s->seq = ++f->seq;
        return 1;
      }
      if (spec_from_line(f, line, len, s, def_timeout, def_retries) < 0) {
        f->bad_input++;
        continue;
      }
      s->seq = ++f->seq;
      return 1;
    }
    if (got == 0) {
      int rc = feeder_wait(f);
      if (rc == 0) return 2;
      fprintf(stderr, "harn batch: cannot wait for %s: %s\n", src, uv_strerror(rc));
      f->bad_input++;
    }
    if (f->li.err) {
      fprintf(stderr, "harn batch: reading %s: %s\n", src, strerror(f->li.err));
      f->bad_input++;
    }
    feeder_close_current(f);
  }
  return 0;
}

/* Count the jobs ahead (for the progress bar's total); -1 if unknown. */
static long count_jobs(char **srcs, int n)
{
  long total = 0;
  for (int i = 0; i < n; i++) {
    SrcKind k = src_kind(srcs[i]);
    if (k == SRC_STREAM) return -1; /* read once, as the jobs run */
    if (k == SRC_FILE) {
      total++;
    } else if (k == SRC_DIR) {
      char **files = NULL;
      size_t nf = 0, cap = 0;
      list_dir(srcs[i], &files, &nf, &cap, true);
      for (size_t j = 0; j < nf; j++) free(files[j]);
      free(files);
      total += (long)nf;
    } else {
      FILE *f = fopen(srcs[i], "re");
      if (!f) continue;
      int c, blank = 1;
      while ((c = getc(f)) != EOF) {
        if (c == '\n') {
          if (!blank) total++;
          blank = 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
          blank = 0;
        }
      }
      if (!blank) total++;
      fclose(f);
    }
  }
  return total;
}

/* ------------------------------------------------------------------ batch */

/* Workers made ahead by default: two per job slot, at most this many.
 * They hide the zygote's clone and the worker's start-up behind the
 * running jobs (docs/architecture.md "Spare workers"); at -j 2, four
 * measured 2% faster than two and 5% faster than one, and steadier
 * (docs/performance.md, session 4). */
#define DEFAULT_SPARES 4

typedef struct Retry {
  struct Retry *next;
  SupSpec spec;
  uv_timer_t timer;
  struct Batch *batch;
  bool ready;
} Retry;

typedef struct Batch {
  uv_loop_t loop;
  SupPool pool;
  Feeder feeder;
  int jobs;
  int spares;        /* workers made ahead (--spares; sup_pool_spares) */
  double timeout_ms;
  int retries;
  FILE *results, *joblog;
  const char *results_path, *joblog_path; /* for messages */
  bool records_failed;      /* a record could not be written: records_failed() */
  bool joblog_failed;       /* ... a joblog line: said once, exit status 1 */
  int journal;       /* fd of FILE.journal (O_APPEND), -1 when none */
  bool resume, resume_failed;
  SeenSet seen;
  IdSet ids;         /* every id the sources gave in this run */
  SeenSet repeats;   /* ids given more than once (rename_repeat) */
  /* halt */
  int halt_mode;     /* 0 never, 1 soon, 2 now */
  double halt_fail;  /* count, or percent when halt_pct */
  bool halt_pct;
  bool halting;
  /* state */
  bool exhausted, interrupted, finished;
  SupSpec ahead;     /* the sources' next job, read one ahead (take_spec) */
  bool has_ahead, sources_done;
  bool input_wait;   /* a stream source has no whole line yet */
  int interrupt_sig;
  Retry *retries_head;
  int npending_retries;
  long done, ok, failed, attempts;
  bool all_ok;
  /* progress */
  bool bar;
  long total;
  double t_start, last_bar;
  uv_timer_t bar_timer;
  bool bar_timer_open;
  uv_signal_t sigs[2];
  bool sigs_open;
  /* grouped fdatasync of the results and the journal (see journal_put) */
  uv_timer_t sync_timer;
  bool sync_timer_open, sync_due;
  uv_fs_t sync_req[2];   /* the grouped fdatasyncs in flight on libuv's pool */
  int sync_inflight;
  SupGrant *grants;     /* --allow-read, --allow-write (grants.c) */
  int ngrants;
  char *cwd;
  SupEnv env;           /* --allow-env, --env */
} Batch;

static void pump(Batch *b);

static void draw_bar(Batch *b, bool force)
{
  if (!b->bar) return;
  double now = sup_now_ms();
  if (!force && now - b->last_bar < 100) return;
  b->last_bar = now;
  double el = (now - b->t_start) / 1000.0;
  char line[256];
  int n;
  if (b->total > 0) {
    double frac = (double)b->done / (double)b->total;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    char eta[32] = "--:--";
    if (b->done > 0 && b->done < b->total) {
      double rem = el / (double)b->done * (double)(b->total - b->done);
      snprintf(eta, sizeof eta, "%d:%02d", (int)(rem / 60), (int)fmod(rem, 60));
    } else if (b->done >= b->total) {
      snprintf(eta, sizeof eta, "0:00");
    }
    n = snprintf(line, sizeof line, "\r[%s] %ld/%ld %3d%% ok %ld fail %ld run %d ETA %s ", bar,
                 b->done, b->total, (int)(frac * 100), b->ok, b->failed, b->pool.nrunning, eta);
  } else {
    n = snprintf(line, sizeof line, "\r%ld done, ok %ld fail %ld run %d, %.1f jobs/s ", b->done,
                 b->ok, b->failed, b->pool.nrunning, el > 0 ? (double)b->done / el : 0.0);
  }
  if (n > 0) {
    ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)w;
  }
}

static void bar_tick(uv_timer_t *t) { draw_bar(container_of(t, Batch, bar_timer), false); }

static void maybe_finish(Batch *b)
{
  if (b->finished) return;
  if (!b->exhausted || b->pool.nrunning > 0 || b->npending_retries > 0) return;
  b->finished = true;
  draw_bar(b, true);
  if (b->bar) {
    ssize_t w = write(2, "\n", 1);
    (void)w;
  }
  if (b->sigs_open) {
    uv_close((uv_handle_t *)&b->sigs[0], NULL);
    uv_close((uv_handle_t *)&b->sigs[1], NULL);
    b->sigs_open = false;
  }
  if (b->bar_timer_open) {
    uv_close((uv_handle_t *)&b->bar_timer, NULL);
    b->bar_timer_open = false;
  }
  if (b->sync_timer_open) {
    uv_close((uv_handle_t *)&b->sync_timer, NULL);
    b->sync_timer_open = false;
  }
  feeder_release(&b->feeder); /* a stream's watcher would keep the loop up */
  sup_pool_close(&b->pool);
}

static void retry_closed(uv_handle_t *h)
{
  Retry *r = h->data;
  sup_spec_free(&r->spec);
  free(r);
}

static void retry_unlink(Batch *b, Retry *r)
{
  for (Retry **pp = &b->retries_head; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  }
  b->npending_retries--;
  r->timer.data = r;
  uv_close((uv_handle_t *)&r->timer, retry_closed);
}

static void retry_due(uv_timer_t *t)
{
  Retry *r = container_of(t, Retry, timer);
  r->ready = true;
  pump(r->batch);
}

static void drop_retries(Batch *b)
{
  while (b->retries_head) retry_unlink(b, b->retries_head);
}

/* Start no more jobs (nor retries); with [cancel], also cancel the
 * running ones (SIGTERM, then SIGKILL after the grace). */
static void halt(Batch *b, bool cancel)
{
  b->halting = true;
  b->exhausted = true;
  drop_retries(b);
  if (cancel) sup_pool_cancel_all(&b->pool, SIGTERM);
}

static void check_halt(Batch *b)
{
  if (!b->halt_mode || b->halting) return;
  bool hit;
  if (b->halt_pct)
    hit = b->done > 0 && (double)b->failed * 100.0 >= b->halt_fail * (double)b->done &&
          b->failed > 0;
  else
    hit = (double)b->failed >= b->halt_fail;
  if (!hit) return;
  fprintf(stderr, "%sharn batch: halting after %ld failed job%s\n", b->bar ? "\n" : "", b->failed,
          b->failed == 1 ? "" : "s");
  halt(b, b->halt_mode == 2);
}

/* ------------------------------------------------------------------ journal */

/* Make the results and the journal durable (OS crash, power loss): the
 * entries are already in the kernel, this only waits for the disk. */
static void sync_files(Batch *b)
{
  if (!b->sync_due) return;
  b->sync_due = false;
  if (b->results) fdatasync(fileno(b->results));
  if (b->journal >= 0) fdatasync(b->journal);
}

static void sync_done(uv_fs_t *req)
{
  Batch *b = req->data;
  uv_fs_req_cleanup(req);
  b->sync_inflight--;
}

/* The 20 ms tick: the same fdatasyncs, but on libuv's thread pool, so the
 * loop never stalls while the disk flushes (a flush took up to a few ms
 * here, during which finished workers waited to be reaped and no job
 * started). The next round starts only when this one is complete; what is
 * written meanwhile stays due. The loop does not end before they are done
 * (pending requests keep uv_run going), and the exit path syncs once more
 * synchronously. */
static void sync_tick(uv_timer_t *t)
{
  Batch *b = container_of(t, Batch, sync_timer);
  if (!b->sync_due || b->sync_inflight) return;
  b->sync_due = false;
  int fds[2] = {b->results ? fileno(b->results) : -1, b->journal};
  for (int i = 0; i < 2; i++) {
    if (fds[i] < 0) continue;
    b->sync_req[i].data = b;
    if (uv_fs_fdatasync(&b->loop, &b->sync_req[i], fds[i], sync_done) == 0) b->sync_inflight++;
    else fdatasync(fds[i]);
  }
}

/* Append one journal entry before returning. [ev] is "start" or "end".
 * The write() is what protects against a supervisor crash (SIGKILL, a
 * bug): once it returns, the entry is in the kernel and outlives the
 * process, so a start entry always precedes its job. Durability against an
 * OS crash is grouped: a 20 ms timer fdatasyncs the results and the journal
 * when something was written since (and once more at exit), instead of
 * three fdatasyncs per job, which cost more than the job itself. Failures
 * are reported once and otherwise ignored: the journal must not become a
 * reason to fail jobs. */
static void journal_put(Batch *b, const char *ev, const SupSpec *s)
{
  if (b->journal < 0) return;
  Buf l = {0};
  buf_puts(&l, "{\"ev\":\"");
  buf_puts(&l, ev);
  buf_puts(&l, "\",\"id\":");
  sup_json_name(&l, s->id);
  buf_puts(&l, ",\"attempt\":");
  sup_json_int(&l, s->attempt);
  buf_puts(&l, ",\"file\":");
  sup_json_name(&l, s->file);
  buf_puts(&l, "}\n");
  size_t off = 0;
  while (off < l.len) {
    ssize_t w = write(b->journal, l.data + off, l.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  b->sync_due = true;
  static bool warned;
  if (off < l.len && !warned) {
    warned = true;
    fprintf(stderr, "harn batch: writing the journal failed: %s\n", strerror(errno));
  }
  buf_free(&l);
}

/* Start one attempt: journal first (durable), then the pool. */
static void start_job(Batch *b, SupSpec *spec)
{
  journal_put(b, "start", spec);
  sup_pool_start(&b->pool, spec);
}

/* A record could not be written (a full disk; a closed pipe: EPIPE,
 * SIGPIPE being ignored): the outcome of that attempt is lost, and so
 * would be every later one. Say so once, start no more jobs, cancel the
 * running ones (SIGTERM, as `--halt now`); the exit status is 1. */
static void records_failed(Batch *b, int err)
{
  b->all_ok = false;
  if (b->records_failed) return;
  b->records_failed = true;
  fprintf(stderr, "%sharn batch: cannot write a record to %s: %s; starting no more jobs\n",
          b->bar ? "\n" : "", b->results ? b->results_path : "stdout", strerror(err));
  halt(b, true);
}

/* Write one terminal record line to the results (made durable with the
 * journal's grouped fdatasync when it is a file). False when it could not
 * be written whole: records_failed. (A partial last line is what --resume
 * cuts off.) */
static bool put_record(Batch *b, const char *record)
{
  FILE *out = b->results ? b->results : stdout;
  errno = 0;
  fputs(record, out);
  fputc('\n', out);
  if (fflush(out) != 0 || ferror(out)) {
    int err = errno ? errno : EIO;
    clearerr(out);
    records_failed(b, err);
    return false;
  }
  if (b->results) b->sync_due = true;
  return true;
}

/* A worker is gone: its slot goes to the next job at once, before the
 * record of the one that ended is built and written (on_done), which
 * shortens the gap between one job and the next by that much. Not when
 * the end may be a failure that --halt must see first. */
static void batch_reaped(SupStatus status, void *ud)
{
  Batch *b = ud;
  if (status == SUP_STATUS_OK || !b->halt_mode) pump(b);
}

static void batch_done(SupJob *job, const SupOutcome *o, void *ud)
{
  Batch *b = ud;
  const SupSpec *s = sup_job_spec(job);
  b->attempts++;
  /* Without its record the attempt has not ended for --resume either: no
   * "end" in the journal, so a resumed run reruns it. */
  if (put_record(b, o->record)) journal_put(b, "end", s);
  if (b->joblog) {
    errno = 0;
    fprintf(b->joblog, "%ld\t:\t%.3f\t%8.3f\t0\t%zu\t%d\t%d\t%s\n", s->seq,
            o->start_epoch_ms / 1000.0, o->duration_ms / 1000.0, o->output_bytes, o->exit_code,
            o->term_signal, s->file ? s->file : s->id);
    if (fflush(b->joblog) != 0 || ferror(b->joblog)) {
      /* The records are intact: the batch goes on, and ends with 1. */
      int err = errno ? errno : EIO;
      clearerr(b->joblog);
      b->all_ok = false;
      if (!b->joblog_failed)
        fprintf(stderr, "%sharn batch: cannot write to the joblog %s: %s\n", b->bar ? "\n" : "",
                b->joblog_path, strerror(err));
      b->joblog_failed = true;
    }
  }
  if (sup_status_retryable(o->status) && !b->interrupted && !b->halting && s->attempt - s->first_attempt < s->retries) {
    Retry *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->batch = b;
    r->spec.id = strdup(s->id);
    r->spec.file = dup_or_null(s->file);
    r->spec.program = strdup(s->program);
    r->spec.is_source = s->is_source;
    r->spec.input_json = dup_or_null(s->input_json);
    r->spec.timeout_ms = s->timeout_ms;
    r->spec.attempt = s->attempt + 1;
    r->spec.first_attempt = s->first_attempt;
    r->spec.seq = s->seq;
    r->spec.retries = s->retries;
    r->spec.memory = s->memory;
    r->spec.cpu_ms = s->cpu_ms;
    int k = s->attempt - s->first_attempt;
    double delay = 100.0 * pow(2, k < 10 ? k : 10);
    if (delay > 5000) delay = 5000;
    sup_uv_must(uv_timer_init(&b->loop, &r->timer), "uv_timer_init");
    sup_uv_must(uv_timer_start(&r->timer, retry_due, (uint64_t)delay, 0), "uv_timer_start");
    r->next = b->retries_head;
    b->retries_head = r;
    b->npending_retries++;
  } else {
    b->done++;
    if (o->status == SUP_STATUS_OK) {
      b->ok++;
    } else {
      b->failed++;
      b->all_ok = false;
    }
    check_halt(b);
  }
  draw_bar(b, false);
  pump(b);
  maybe_finish(b);
}

/* Is there a next job in the sources? It is read one ahead, so that the
 * pool knows whether to make workers for it. */
static bool peek_spec(Batch *b)
{
  if (!b->has_ahead && !b->sources_done) {
    int r = feeder_next(&b->feeder, &b->ahead, b->timeout_ms, b->retries);
    b->input_wait = r == 2; /* batch_input_ready comes back here */
    if (r == 1) b->has_ahead = true;
    else if (r == 0) b->sources_done = true;
  }
  return b->has_ahead;
}

/* The next job from the sources into *spec; false when there is none. */
static bool take_spec(Batch *b, SupSpec *spec)
{
  if (!peek_spec(b)) return false;
  *spec = b->ahead;
  memset(&b->ahead, 0, sizeof b->ahead);
  b->has_ahead = false;
  return true;
}

/* A job whose id was given before (the same file twice on the command
 * line, an id repeated in a manifest) runs as ID#2, ID#3, ...: records are
 * keyed on (id, attempt), and so is --resume, so the repeats need ids of
 * their own, the same ones from one run to the next. Said once per id,
 * unless the id is the job's file. */
static void rename_repeat(Batch *b, SupSpec *spec)
{
  Seen *r = seen_find(&b->repeats, spec->id, true);
  if (!r->max_attempt) {
    r->max_attempt = 1; /* here: the last #N used */
    /* the same file twice is a way to run it twice; an id that a manifest
     * repeats may be a mistake */
    if (!spec->file || strcmp(spec->id, spec->file) != 0)
      fprintf(stderr, "%sharn batch: job id \"%s\" given more than once; the repeats run as "
                      "\"%s#2\", \"%s#3\", ...\n",
              b->bar ? "\n" : "", spec->id, spec->id, spec->id);
  }
  char *id = NULL;
  do {
    free(id);
    if (asprintf(&id, "%s#%d", spec->id, ++r->max_attempt) < 0) abort();
  } while (!idset_add(&b->ids, id)); /* an id of that form given as such */
  free(spec->id);
  spec->id = id;
}

/* A stream source may have a line now (feeder_wait). */
static void batch_input_ready(void *ud) { pump(ud); }

static void pump(Batch *b)
{
  while (!b->interrupted && !b->halting && b->pool.nrunning - b->pool.nreaped < b->jobs) {
    Retry *ready = NULL;
    for (Retry *r = b->retries_head; r; r = r->next)
      if (r->ready) ready = r; /* the oldest ready one is last */
    if (ready) {
      SupSpec spec = ready->spec;
      memset(&ready->spec, 0, sizeof ready->spec);
      retry_unlink(b, ready);
      start_job(b, &spec);
      continue;
    }
    if (b->exhausted) break;
    SupSpec spec;
    if (!take_spec(b, &spec)) {
      if (b->sources_done) b->exhausted = true;
      break; /* else input_wait: batch_input_ready pumps again */
    }
    if (!idset_add(&b->ids, spec.id)) rename_repeat(b, &spec);
    spec.attempt = 1;
    if (b->resume || b->resume_failed) {
      Seen *seen = seen_find(&b->seen, spec.id, false);
      if (seen && seen->max_attempt > 0 && (b->resume || seen->ok) && !(seen->lost && !seen->ok)) {
        if (!seen->ok) b->all_ok = false; /* its last run did not succeed */
        sup_spec_free(&spec);
        b->done++;
        if (seen->ok) b->ok++;
        else b->failed++;
        continue;
      }
      if (seen) spec.attempt = seen->max_attempt + 1;
    }
    spec.first_attempt = spec.attempt;
    start_job(b, &spec);
  }
  /* Workers are made ahead only while more jobs may start. */
  bool more = !b->interrupted && !b->halting &&
              (peek_spec(b) || b->input_wait || b->npending_retries > 0);
  sup_pool_spares(&b->pool, more ? b->spares : 0);
  maybe_finish(b);
}

static void on_interrupt(uv_signal_t *h, int signum)
{
  Batch *b = h->data;
  if (b->interrupted) return;
  b->interrupted = true;
  b->interrupt_sig = signum;
  b->exhausted = true;
  b->all_ok = false;
  drop_retries(b);
  sup_pool_cancel_all(&b->pool, SIGINT);
  maybe_finish(b);
}

/* A supervisor killed while writing a record leaves a partial last line:
 * cut the file back to its last newline (that attempt then counts as lost,
 * the journal has its start). */
static void repair_tail(const char *path)
{
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  off_t end = lseek(fd, 0, SEEK_END), pos = end;
  char buf[4096];
  while (pos > 0) {
    size_t n = pos < (off_t)sizeof buf ? (size_t)pos : sizeof buf;
    if (pread(fd, buf, n, pos - (off_t)n) != (ssize_t)n) break;
    size_t k = n;
    while (k > 0 && buf[k - 1] != '\n') k--;
    if (k > 0) {
      pos = pos - (off_t)n + (off_t)k;
      break;
    }
    pos -= (off_t)n;
  }
  if (pos < end && ftruncate(fd, pos) == 0)
    fprintf(stderr, "harn batch: %s: dropped a partial last record (%lld bytes)\n", path,
            (long long)(end - pos));
  close(fd);
}

/* The longest line of a results file or journal that --resume reads. A
 * record is bounded by the caps on output and events (docs/cli.md), far
 * below this; a longer line is not one we wrote, and reading it whole
 * could take any amount of memory. */
#define MAX_RECORD_LINE ((size_t)1 << 30)

/* Call [fn] with each line of the JSONL file [path] parsed (NULL for a
 * line that does not parse: a torn last line); nothing when it cannot be
 * opened. -1 (said on stderr) when a line is longer than MAX_RECORD_LINE
 * or the file cannot be read to its end: skipping what it holds would run
 * recorded jobs again, so the caller stops. */
static int each_json_line(const char *path, void (*fn)(Batch *, const SupJson *), Batch *b)
{
  SupLineIn li;
  bool blocking;
  if (sup_linein_open(&li, strcmp(path, "-") ? path : "./-", &blocking) < 0) return 0;
  li.max = MAX_RECORD_LINE;
  int rc = 0, got;
  char *line;
  size_t len;
  while ((got = sup_linein_next(&li, &line, &len)) > 0) {
    if (got == 2) {
      fprintf(stderr, "harn batch: %s:%ld: a line longer than %zu MiB; cannot resume from it\n",
              path, li.lineno, MAX_RECORD_LINE >> 20);
      rc = -1;
      break;
    }
    SupJson *j = sup_json_parse(line, len, NULL);
    fn(b, j);
    sup_json_free(j);
  }
  if (li.err) {
    fprintf(stderr, "harn batch: cannot read %s: %s\n", path, strerror(li.err));
    rc = -1;
  }
  sup_linein_close(&li);
  return rc;
}

/* A journal line: the latest start of each job. */
static void journal_line(Batch *b, const SupJson *j)
{
  const SupJson *ev = sup_json_get(j, "ev"), *id = sup_json_get(j, "id"),
                *att = sup_json_get(j, "attempt"), *file = sup_json_get(j, "file");
  if (ev && ev->type == SUP_JSON_STRING && !strcmp(ev->str, "start") && id &&
      id->type == SUP_JSON_STRING && att && att->type == SUP_JSON_INT) {
    Seen *s = seen_find(&b->seen, id->str, true);
    if (att->i > s->started) {
      s->started = (int)att->i;
      free(s->file);
      s->file = file && file->type == SUP_JSON_STRING ? strdup(file->str) : NULL;
    }
  }
}

/* Read the journal of an interrupted run: every attempt started there and
 * without a record in the results (the supervisor died while it ran) gets
 * its terminal record now: crashed / supervisor_lost. The job then runs
 * again (attempt + 1) like any job without an ok record. -1 when the
 * journal cannot be read (each_json_line), with nothing written. */
static int recover_journal(Batch *b, const char *jpath)
{
  if (each_json_line(jpath, journal_line, b) < 0) return -1;
  long lost = 0;
  for (size_t i = 0; i < b->seen.cap; i++) {
    Seen *s = &b->seen.slots[i];
    if (!s->id || s->started <= s->max_attempt) continue;
    Buf r = {0};
    buf_puts(&r, "{\"id\":");
    sup_json_name(&r, s->id);
    buf_printf(&r, ",\"attempt\":%d,\"file\":", s->started);
    sup_json_name(&r, s->file);
    buf_puts(&r, ",\"status\":\"crashed\",\"reason\":\"supervisor_lost\",\"value\":null,"
                 "\"exit_code\":1,\"error\":null,\"output\":\"\",\"output_truncated\":false,"
                 "\"steps\":[],\"steps_truncated\":false,\"lifecycle\":[],\"lifecycle_truncated\":false,"
                 "\"emits\":[],\"emits_truncated\":false,\"dropped\":null,\"started_at\":null,"
                 "\"duration_ms\":null,\"cpu_ms\":null,\"max_rss_kb\":null,\"signals\":[],"
                 "\"hard_stop\":false,\"counters\":");
    sup_json_counters(&r, &(IpcCounters){0}, 0, false);
    buf_puts(&r, ",\"worker\":null,\"sandbox\":null}");
    put_record(b, r.data);
    buf_free(&r);
    s->max_attempt = s->started;
    s->lost = true;
    lost++;
  }
  if (b->results) fdatasync(fileno(b->results));
  if (lost)
    fprintf(stderr, "harn batch: %ld attempt%s lost with the previous supervisor (recorded as "
                    "crashed/supervisor_lost)\n", lost, lost == 1 ? "" : "s");
  return 0;
}

/* A line of a previous results file, into b->seen. */
static void results_line(Batch *b, const SupJson *j)
{
  const SupJson *id = sup_json_get(j, "id"), *att = sup_json_get(j, "attempt"),
                *st = sup_json_get(j, "status"), *rs = sup_json_get(j, "reason");
  if (!id || id->type != SUP_JSON_STRING) return;
  Seen *s = seen_find(&b->seen, id->str, true);
  if (att && att->type == SUP_JSON_INT && att->i > s->max_attempt) {
    s->max_attempt = (int)att->i;
    s->lost = rs && rs->type == SUP_JSON_STRING && !strcmp(rs->str, "supervisor_lost");
  }
  if (st && st->type == SUP_JSON_STRING && !strcmp(st->str, "ok")) s->ok = true;
}

static int parse_halt(Batch *b, const char *v)
{
  if (!strcmp(v, "never")) return 0;
  const char *comma = strchr(v, ',');
  if (!comma) return -1;
  size_t wl = (size_t)(comma - v);
  if (wl == 3 && !strncmp(v, "now", 3)) b->halt_mode = 2;
  else if (wl == 4 && !strncmp(v, "soon", 4)) b->halt_mode = 1;
  else return -1;
  const char *cond = comma + 1;
  if (strncmp(cond, "fail=", 5)) return -1;
  char *end;
  double x = strtod(cond + 5, &end);
  if (end == cond + 5 || x <= 0) return -1;
  if (*end == '%') {
    b->halt_pct = true;
    end++;
  }
  if (*end) return -1;
  b->halt_fail = x;
  return 0;
}

/* Which of [other] and the sources is the file at [path] (the same inode),
 * or NULL (also when [path] does not exist yet). */
static const char *same_file(const char *path, const char *other, char **srcs, int nsrc)
{
  struct stat a, b;
  if (other && !strcmp(path, other)) return other; /* may not exist yet */
  if (stat(path, &a) != 0) return NULL;
  if (other && stat(other, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return other;
  for (int i = 0; i < nsrc; i++)
    if (strcmp(srcs[i], "-") && stat(srcs[i], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
      return srcs[i];
  return NULL;
}

static void print_stats(void)
{
  int fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.') fds++;
    closedir(d);
    fds--; /* the directory's own fd */
  }
  siginfo_t si;
  memset(&si, 0, sizeof si);
  const char *children;
  if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) children = "none";
  else children = si.si_pid ? "zombie" : "live";
  fprintf(stderr, "harn-stats: fds=%d children=%s\n", fds, children);
  /* The supervisor's own cost (its children's is not included). */
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    fprintf(stderr, "harn-stats: self user_ms=%.1f sys_ms=%.1f minflt=%ld\n",
            (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3,
            (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3, ru.ru_minflt);
}

int sup_cmd_batch(const CliArgs *a)
{
  Batch *b = calloc(1, sizeof *b);
  if (!b) abort();
  b->journal = -1;
  b->all_ok = true;
  b->jobs = a->opt[CLI_OPT_JOBS].given ? (int)a->opt[CLI_OPT_JOBS].n : 0;
  b->spares = a->opt[CLI_OPT_SPARES].given ? (int)a->opt[CLI_OPT_SPARES].n : -1;
  b->timeout_ms = a->opt[CLI_OPT_TIMEOUT].ms;
  b->retries = (int)a->opt[CLI_OPT_RETRIES].n;
  b->resume = a->opt[CLI_OPT_RESUME].given;
  b->resume_failed = a->opt[CLI_OPT_RESUME_FAILED].given;
  double grace = a->opt[CLI_OPT_GRACE].ms, cpu_ms = a->opt[CLI_OPT_CPU].ms;
  size_t max_output = a->opt[CLI_OPT_MAX_OUTPUT].bytes, memory = a->opt[CLI_OPT_MEMORY].bytes;
  size_t max_events = (size_t)a->opt[CLI_OPT_MAX_EVENTS].n;
  bool no_sandbox = a->opt[CLI_OPT_NO_SANDBOX].given;
  const char *results = a->opt[CLI_OPT_RESULTS].text, *joblog = a->opt[CLI_OPT_JOBLOG].text;
  /* --bar / --no-bar: the last one given counts; neither: a terminal's */
  const CliValue *on = &a->opt[CLI_OPT_BAR], *off = &a->opt[CLI_OPT_NO_BAR];
  int bar = on->pos > off->pos ? 1 : off->given ? 0 : -1;
  int rc = 2;
  char **srcs = calloc((size_t)a->noperands + 1, sizeof *srcs);
  if (!srcs) abort();
  memcpy(srcs, a->operands, (size_t)a->noperands * sizeof *srcs);
  int nsrc = a->noperands;
  if (parse_halt(b, a->opt[CLI_OPT_HALT].text) < 0) {
    rc = cli_bad_value(a, CLI_OPT_HALT, "is not never, soon,fail=N[%] or now,fail=N[%]");
    goto out;
  }
  if (b->resume && b->resume_failed) {
    rc = cli_usage_error(a, "--resume and --resume-failed exclude each other");
    goto out;
  }
  if ((b->resume || b->resume_failed) && !results) {
    rc = cli_usage_error(a, "--%s needs --results FILE", b->resume ? "resume" : "resume-failed");
    goto out;
  }
  /* A source that cannot be read is that source's failure, found when the
   * feeder reaches it (feeder_next), not the whole batch's: the others'
   * jobs all run. */
  for (int i = 0, stdins = 0; i < nsrc; i++)
    if (!strcmp(srcs[i], "-") && stdins++) { rc = cli_usage_error(a, "`-` (stdin) given twice"); goto out; }
  /* Opening the results truncates them: naming a source there (or the
   * joblog, or the two the same) would destroy it before it is read. */
  const char *outs[2] = {results, joblog};
  for (int k = 0; k < 2; k++) {
    const char *clash = outs[k] ? same_file(outs[k], k == 0 ? joblog : NULL, srcs, nsrc) : NULL;
    if (clash) {
      if (clash == joblog)
        fprintf(stderr, "harn batch: --results and --joblog are one file (%s)\n", outs[k]);
      else
        fprintf(stderr, "harn batch: %s %s is also the source %s: it would be truncated before "
                        "it is read\n", k == 0 ? "--results" : "--joblog", outs[k], clash);
      rc = 2;
      goto out;
    }
  }
  if (!b->jobs) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    b->jobs = n > 0 ? (int)n : 1;
  }
  if (b->spares < 0) b->spares = b->jobs < DEFAULT_SPARES / 2 ? 2 * b->jobs : DEFAULT_SPARES;

  if (results) {
    bool resuming = b->resume || b->resume_failed;
    if (resuming) {
      repair_tail(results);
      if (each_json_line(results, results_line, b) < 0) { rc = 2; goto out; }
    }
    b->results = fopen(results, resuming ? "ae" : "we");
    b->results_path = results;
    if (!b->results) {
      fprintf(stderr, "harn batch: cannot open %s: %s\n", results, strerror(errno));
      rc = 2;
      goto out;
    }
    const char *nj = getenv("HARN_NO_JOURNAL");
    if (!(nj && *nj && strcmp(nj, "0"))) {
      char *jpath;
      if (asprintf(&jpath, "%s.journal", results) < 0) abort();
      if (resuming && recover_journal(b, jpath) < 0) {
        free(jpath);
        rc = 2;
        goto out;
      }
      b->journal = open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (resuming ? 0 : O_TRUNC),
                        0644);
      if (b->journal < 0)
        fprintf(stderr, "harn batch: cannot open the journal %s: %s\n", jpath, strerror(errno));
      free(jpath);
    }
  }
  if (joblog) {
    bool append = b->resume || b->resume_failed;
    b->joblog = fopen(joblog, append ? "ae" : "we");
    b->joblog_path = joblog;
    if (!b->joblog) {
      fprintf(stderr, "harn batch: cannot open %s: %s\n", joblog, strerror(errno));
      rc = 2;
      goto out;
    }
    if (ftell(b->joblog) == 0)
      fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", b->joblog);
    fflush(b->joblog);
  }
  b->bar = bar == 1 || (bar == -1 && isatty(2));
  b->total = b->bar ? count_jobs(srcs, nsrc) : -1;
  b->feeder.srcs = srcs;
  b->feeder.nsrc = nsrc;
  b->feeder.loop = &b->loop;
  b->feeder.readable = batch_input_ready;
  b->feeder.ud = b;

  if (uv_loop_init(&b->loop) != 0) {
    fprintf(stderr, "harn batch: cannot start the event loop\n");
    rc = 1;
    goto out;
  }
  SupPoolConfig cfg = {.grace_ms = grace, .max_output = max_output, .no_sandbox = no_sandbox,
                       .memory = memory, .cpu_ms = cpu_ms, .max_events = max_events};
  if (sup_caps_config(a, &cfg, &b->grants, &b->ngrants, &b->cwd) != 0 ||
      sup_env_config(a, &cfg, &b->env) != 0) {
    uv_loop_close(&b->loop);
    rc = CLI_USAGE;
    goto out;
  }
  SupHooks hooks = {.on_done = batch_done, .on_reaped = batch_reaped, .ud = b};
  static const int sigs[2] = {SIGINT, SIGTERM};
  int urc = sup_pool_init(&b->pool, &b->loop, &cfg, &hooks);
  if (urc == 0) {
    urc = sup_signals_start(&b->loop, b->sigs, sigs, 2, on_interrupt, b);
    if (urc != 0) sup_pool_close(&b->pool);
  }
  if (urc != 0) {
    /* No job has started: without its signal watchers a batch could
     * neither reap its workers nor stop them on Ctrl-C. */
    fprintf(stderr, "harn batch: cannot watch signals: %s\n", uv_strerror(urc));
    uv_run(&b->loop, UV_RUN_DEFAULT); /* finish the closes */
    uv_loop_close(&b->loop);
    rc = 1;
    goto out;
  }
  b->sigs_open = true;
  b->t_start = sup_now_ms();
  if (b->bar) {
    sup_uv_must(uv_timer_init(&b->loop, &b->bar_timer), "uv_timer_init");
    sup_uv_must(uv_timer_start(&b->bar_timer, bar_tick, 200, 200), "uv_timer_start");
    uv_unref((uv_handle_t *)&b->bar_timer);
    b->bar_timer_open = true;
  }
  if (b->journal >= 0) {
    sup_uv_must(uv_timer_init(&b->loop, &b->sync_timer), "uv_timer_init");
    sup_uv_must(uv_timer_start(&b->sync_timer, sync_tick, 20, 20), "uv_timer_start");
    uv_unref((uv_handle_t *)&b->sync_timer);
    b->sync_timer_open = true;
  }
  pump(b);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  maybe_finish(b); /* e.g. no job at all */
  uv_run(&b->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&b->loop) != 0) fprintf(stderr, "harn batch: event loop not empty at exit\n");

  if (b->feeder.bad_input) b->all_ok = false;
  if (b->interrupted) rc = b->interrupt_sig == SIGTERM ? 143 : 130;
  else rc = b->all_ok ? 0 : 1;

out:
  b->sync_due = true;
  sync_files(b);
  if (b->results) fclose(b->results);
  if (b->joblog) fclose(b->joblog);
  if (b->journal >= 0) close(b->journal);
  sup_grants_close(b->grants, b->ngrants);
  free(b->cwd);
  sup_env_free(&b->env);
  if (getenv("HARN_SUP_STATS")) print_stats();
  if (b->has_ahead) sup_spec_free(&b->ahead);
  feeder_release(&b->feeder);
  seen_free(&b->seen);
  seen_free(&b->repeats);
  free(b->ids.slots);
  free(srcs);
  free(b);
  return rc;
}
