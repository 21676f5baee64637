/*
 * feeder.c: the jobs that a command line's SOURCE... names, one at a time,
 * in order, with their ids (docs/cli.md "Sources" and "Job ids"); used by
 * `harn batch` and `harn verify`, which must see the same jobs.
 *
 * A source is a .harn file, a directory (its .harn files, recursively,
 * sorted; symlinks to directories not followed), a JSON Lines manifest
 * (one job per line; a line is read only when the caller asks for the
 * next job, so a manifest of a million jobs costs one line of memory), or
 * a stream (`-`, a pipe, a FIFO) of manifest lines and paths, read as
 * lines come through linein.c: while it has no whole line, the feeder
 * says "wait" and watches its fd on the caller's loop. A bad line (not
 * JSON, an empty or NUL-holding id, file or source, a line over
 * SUP_LINE_MAX) is said on stderr as SOURCE:LINE and yields no job; a
 * source that cannot be read is said when it is reached; both count in
 * bad_input. Every job, and every bad line, takes the next position (seq),
 * which is what a shard splits on.
 *
 * sup_ids_assign gives repeated ids their ID#2, ID#3 names; it must see
 * every job of a run in order, in every shard, for the names to agree.
 */
#define _GNU_SOURCE
#include "base/suggest.h"
#include "supervisor/sup_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>



static bool has_suffix(const char *s, const char *suf)
{
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static SupSrcKind src_kind(const char *path)
{
  if (!strcmp(path, "-")) return SUP_SRC_STREAM;
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return SUP_SRC_DIR;
    if (!S_ISREG(st.st_mode)) return SUP_SRC_STREAM; /* reading it would consume it */
  }
  if (has_suffix(path, ".harn")) return SUP_SRC_FILE;
  if (has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson") || has_suffix(path, ".json"))
    return SUP_SRC_MANIFEST;
  /* Anything else: a manifest when its first non-blank byte is '{' (in
   * the first line's worth of bytes: a file of blanks is not read to its
   * end). */
  FILE *f = fopen(path, "re");
  if (!f) return SUP_SRC_FILE;
  int c;
  size_t n = 0;
  while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\n' || c == '\r') &&
         ++n < SUP_LINE_MAX) {}
  fclose(f);
  return c == '{' ? SUP_SRC_MANIFEST : SUP_SRC_FILE;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the .harn files under [dir] to *files (*n of *cap). Returns the
 * number of directories that could not be read, each said on stderr
 * unless [quiet]; the files of the others are listed. */
static int list_dir(const char *who, const char *dir, char ***files, size_t *n, size_t *cap, bool quiet)
{
  DIR *d = opendir(dir);
  if (!d) {
    if (!quiet) fprintf(stderr, "%s: cannot read directory %s: %s\n", who, dir, strerror(errno));
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
      bad += list_dir(who, path, files, n, cap, quiet);
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
void sup_feeder_release(SupFeeder *f)
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

static void feeder_close_current(SupFeeder *f)
{
  sup_feeder_release(f);
  f->idx++;
}


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
/* The keys a manifest line may have: any other is a mistake, said with
 * the nearest of these ("timout": did you mean "timeout"?). */
static const char *const manifest_keys[] = {"id",      "file",    "source",   "input",
                                            "timeout", "retries", "retry_on", "retry_delay",
                                            "memory",  "cpu"};
#define NKEYS (sizeof manifest_keys / sizeof manifest_keys[0])

/* A spec with the command line's values for what a line does not say. */
static void spec_defaults(SupFeeder *f, SupSpec *s)
{
  memset(s, 0, sizeof *s);
  s->timeout_ms = f->defaults.timeout_ms;
  s->retries = f->defaults.retries;
  s->retry_on = f->defaults.retry_on;
  s->retry_lo = f->defaults.retry_lo;
  s->retry_hi = f->defaults.retry_hi;
}

static int spec_from_line(SupFeeder *f, const char *text, size_t len, SupSpec *s)
{
  const char *err = NULL;
  SupJson *j = sup_json_parse(text, len, &err);
  const char *src = !strcmp(f->srcs[f->idx], "-") ? "stdin" : f->srcs[f->idx];
  bool say = sup_shard_mine(f->shard, f->seq, NULL);
  if (!j || j->type != SUP_JSON_OBJECT) {
    if (say)
      fprintf(stderr, "%s: %s:%ld: %s\n", f->who, src, f->li.lineno, j ? "not a JSON object" : err);
    sup_json_free(j);
    return -1;
  }
  const SupJson *id = sup_json_get(j, "id"), *file = sup_json_get(j, "file"),
                *source = sup_json_get(j, "source"), *input = sup_json_get(j, "input"),
                *timeout = sup_json_get(j, "timeout"), *retries = sup_json_get(j, "retries"),
                *memory = sup_json_get(j, "memory"), *cpu = sup_json_get(j, "cpu"),
                *retry_on = sup_json_get(j, "retry_on"), *retry_delay = sup_json_get(j, "retry_delay");
  const char *bad = NULL;
  char unknown[200];
  for (size_t k = 0; k < j->len && !bad; k++) {
    bool known = false;
    for (size_t m = 0; m < NKEYS && !known; m++)
      known = j->klens[k] == strlen(manifest_keys[m]) && !memcmp(j->keys[k], manifest_keys[m], j->klens[k]);
    if (known) continue;
    const char *near = suggest(j->keys[k], j->klens[k], manifest_keys, NKEYS);
    Buf name = {0};
    sup_json_str(&name, j->keys[k], j->klens[k] < 60 ? j->klens[k] : 60);
    snprintf(unknown, sizeof unknown, "unknown key %s%s%s%s", name.data,
             near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    buf_free(&name);
    bad = unknown;
  }
  unsigned ron = f->defaults.retry_on;
  double rlo = f->defaults.retry_lo, rhi = f->defaults.retry_hi;
  if (!bad && retry_on && (retry_on->type != SUP_JSON_STRING || sup_parse_retry_on(retry_on->str, &ron) < 0))
    bad = "\"retry_on\" must list error, timeout, killed or crashed (\"timeout,crashed\")";
  if (!bad && retry_delay &&
      (retry_delay->type != SUP_JSON_STRING || sup_parse_retry_delay(retry_delay->str, &rlo, &rhi) < 0))
    bad = "\"retry_delay\" must be DUR or MIN..MAX (\"1s..30s\")";
  if (!bad && file && file->type != SUP_JSON_STRING) bad = "\"file\" must be a string";
  else if (source && source->type != SUP_JSON_STRING) bad = "\"source\" must be a string";
  else if (!!file == !!source) bad = "exactly one of \"file\" and \"source\" is needed";
  else if (retries && (retries->type != SUP_JSON_INT || retries->i < 0 || retries->i > 1000))
    bad = "\"retries\" must be a non-negative int";
  if (!bad && file) bad = bad_name(file, "\"file\" is empty", "\"file\" holds a NUL character");
  if (!bad && source)
    bad = bad_name(source, "\"source\" is empty", "\"source\" holds a NUL character");
  if (!bad && id && id->type == SUP_JSON_STRING)
    bad = bad_name(id, "\"id\" is empty", "\"id\" holds a NUL character");
  double tmo = f->defaults.timeout_ms;
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
    if (say) fprintf(stderr, "%s: %s:%ld: %s\n", f->who, src, f->li.lineno, bad);
    sup_json_free(j);
    return -1;
  }
  spec_defaults(f, s);
  if (id && id->type == SUP_JSON_STRING) {
    s->id = strdup(id->str);
  } else if (id && id->type != SUP_JSON_NULL) { /* its JSON text: 3, true, {"k":1} */
    Buf b = {0};
    sup_json_write(&b, id);
    s->id = buf_take(&b);
  } else {
    char *name = f->kind == SUP_SRC_STREAM ? strdup(src) : sup_source_name(src);
    if (!name || asprintf(&s->id, "%s:%ld", name, f->li.lineno) < 0) abort();
    free(name);
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
  if (retries) s->retries = (int)retries->i;
  s->retry_on = ron;
  s->retry_lo = rlo;
  s->retry_hi = rhi;
  sup_json_free(j);
  return 0;
}

static void feeder_poll_cb(uv_poll_t *h, int status, int events)
{
  SupFeeder *f = h->data;
  uv_poll_stop(h); /* until the next time the feeder waits */
  f->readable(f->ud);
}

/* Watch the current stream's fd until it is readable (or hung up): 0, or
 * a libuv error when it cannot be watched. */
static int feeder_wait(SupFeeder *f)
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
int sup_feeder_next(SupFeeder *f, SupSpec *s)
{
  while (f->idx < f->nsrc) {
    const char *src = f->srcs[f->idx];
    SupSrcKind kind = f->opened ? f->kind : src_kind(src);
    if (kind == SUP_SRC_FILE) {
      f->idx++;
      spec_defaults(f, s);
      s->id = sup_file_id(src);
      s->path_id = true;
      s->file = strdup(src);
      s->program = strdup(src);
      s->seq = ++f->seq;
      return 1;
    }
    if (kind == SUP_SRC_DIR) {
      if (!f->opened) {
        size_t cap = 0;
        {
          int bad = list_dir(f->who, src, &f->files, &f->nfiles, &cap, false);
          f->bad_input += bad;
          f->unreadable += bad;
        }
        if (f->nfiles) qsort(f->files, f->nfiles, sizeof *f->files, cmp_str);
        f->opened = true;
        f->kind = SUP_SRC_DIR;
      }
      if (f->fidx < f->nfiles) {
        char *path = f->files[f->fidx++];
        spec_defaults(f, s);
        s->id = sup_path_id(src, path);
        s->path_id = true;
        s->file = path;
        s->program = strdup(path);
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
        fprintf(stderr, "%s: cannot open %s: %s\n", f->who, src, strerror(-err));
        f->bad_input++;
        f->unreadable++;
        feeder_close_current(f);
        continue;
      }
      f->li_open = true;
      if (blocking)
        fprintf(stderr, "%s: reading stdin may hold up the supervision (no /proc to "
                        "reopen it without blocking)\n", f->who);
      const char *slash = kind == SUP_SRC_STREAM ? NULL : strrchr(src, '/');
      f->mf_dir = slash ? strndup(src, (size_t)(slash - src + (slash == src))) : NULL;
    }
    char *line;
    size_t len;
    int got;
    const char *name = !strcmp(src, "-") ? "stdin" : src;
    while ((got = sup_linein_next(&f->li, &line, &len)) >= 1) {
      if (got == 2) { /* that line is lost; the next ones are read */
        if (sup_shard_mine(f->shard, f->seq++, NULL)) {
          fprintf(stderr, "%s: %s:%ld: line longer than %zu MiB; skipped\n", f->who, name,
                  f->li.lineno, (size_t)SUP_LINE_MAX >> 20);
          f->bad_input++;
        }
        continue;
      }
      while (len && line[len - 1] == '\r') len--;
      size_t k = 0;
      while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
      if (k == len) continue;
      if (f->kind == SUP_SRC_STREAM && line[k] != '{') {
        /* a path, as xargs would take it (`find jobs -name "*.harn" | harn batch -`) */
        if (memchr(line, '\0', len)) { /* the C string would name another file */
          if (sup_shard_mine(f->shard, f->seq++, NULL)) {
            fprintf(stderr, "%s: %s:%ld: a NUL byte in the line\n", f->who, name, f->li.lineno);
            f->bad_input++;
          }
          continue;
        }
        size_t e = len;
        while (e > k && (line[e - 1] == ' ' || line[e - 1] == '\t')) e--;
        spec_defaults(f, s);
        s->file = strndup(line + k, e - k);
        s->id = sup_stream_path_id(s->file);
        s->path_id = true;
        s->program = strdup(s->file);
        s->seq = ++f->seq;
        return 1;
      }
      if (spec_from_line(f, line, len, s) < 0) {
        if (sup_shard_mine(f->shard, f->seq++, NULL)) f->bad_input++;
        continue;
      }
      s->seq = ++f->seq;
      return 1;
    }
    if (got == 0) {
      int rc = feeder_wait(f);
      if (rc == 0) return 2;
      fprintf(stderr, "%s: cannot wait for %s: %s\n", f->who, src, uv_strerror(rc));
      f->bad_input++;
      f->unreadable++;
    }
    if (f->li.err) {
      fprintf(stderr, "%s: reading %s: %s\n", f->who, src, strerror(f->li.err));
      f->bad_input++;
      f->unreadable++;
    }
    feeder_close_current(f);
  }
  return 0;
}

/* Count the jobs ahead (for the progress bar's total); -1 if unknown. */
long sup_count_jobs(char **srcs, int n)
{
  long total = 0;
  for (int i = 0; i < n; i++) {
    SupSrcKind k = src_kind(srcs[i]);
    if (k == SUP_SRC_STREAM) return -1; /* read once, as the jobs run */
    if (k == SUP_SRC_FILE) {
      total++;
    } else if (k == SUP_SRC_DIR) {
      char **files = NULL;
      size_t nf = 0, cap = 0;
      list_dir(NULL, srcs[i], &files, &nf, &cap, true);
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

/* ------------------------------------------------------------------ ids of a run */

/* A job whose id was given before (the same file twice on the command
 * line, an id repeated in a manifest) runs as ID#2, ID#3, ...: records are
 * keyed on (id, attempt), and so is --resume, so the repeats need ids of
 * their own, the same ones from one run to the next. Said once per id,
 * unless the id is the job's file. */
void sup_ids_assign(SupIds *ids, SupSpec *spec, const char *who, bool newline)
{
  if (sup_idset_add(&ids->ids, spec->id)) return;
  SupSeen *r = sup_seen_find(&ids->repeats, spec->id, true);
  if (!r->max_attempt) {
    r->max_attempt = 1; /* here: the last #N used */
    /* the same file twice is a way to run it twice; an id that a manifest
     * repeats may be a mistake */
    if (who && !spec->path_id)
      fprintf(stderr, "%s%s: job id \"%s\" given more than once; the repeats run as "
                      "\"%s#2\", \"%s#3\", ...\n",
              newline ? "\n" : "", who, spec->id, spec->id, spec->id);
  }
  char *id = NULL;
  do {
    free(id);
    if (asprintf(&id, "%s#%d", spec->id, ++r->max_attempt) < 0) abort();
  } while (!sup_idset_add(&ids->ids, id)); /* an id of that form given as such */
  free(spec->id);
  spec->id = id;
}

void sup_ids_free(SupIds *ids)
{
  sup_seen_free(&ids->repeats);
  free(ids->ids.slots);
  memset(ids, 0, sizeof *ids);
}

/* ------------------------------------------------------------------ blocking use */

/* The jobs of a SOURCE list as `harn batch` sees them, for commands that
 * are not a loop (`harn submit`, `harn verify`): the same feeder, the same
 * ids (ID#2 for a repeat). A stream source that has no whole line yet is
 * waited for on a private loop: the caller blocks. */
struct SupSources {
  uv_loop_t loop;
  SupFeeder feeder;
  SupIds ids;
  char **srcs;
  bool say_repeats;
};

static void sources_readable(void *ud) { (void)ud; }

SupSources *sup_sources_open(char *const *srcs, int n, const char *who, bool say_repeats)
{
  SupSources *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->srcs = calloc((size_t)n + 1, sizeof *s->srcs);
  if (!s->srcs) abort();
  memcpy(s->srcs, srcs, (size_t)n * sizeof *srcs);
  if (uv_loop_init(&s->loop) != 0) abort();
  s->say_repeats = say_repeats;
  s->feeder.who = who;
  s->feeder.srcs = s->srcs;
  s->feeder.nsrc = n;
  s->feeder.loop = &s->loop;
  s->feeder.readable = sources_readable;
  s->feeder.ud = s;
  s->feeder.defaults.retry_on = SUP_RETRY_ON_DEFAULT;
  return s;
}

int sup_sources_next(SupSources *s, SupSpec *spec, double def_timeout, int def_retries)
{
  s->feeder.defaults.timeout_ms = def_timeout;
  s->feeder.defaults.retries = def_retries;
  int r;
  while ((r = sup_feeder_next(&s->feeder, spec)) == 2) uv_run(&s->loop, UV_RUN_ONCE);
  if (r == 1) sup_ids_assign(&s->ids, spec, s->say_repeats ? s->feeder.who : NULL, false);
  return r;
}

int sup_sources_bad(const SupSources *s) { return s->feeder.bad_input; }

int sup_sources_unreadable(const SupSources *s) { return s->feeder.unreadable; }

void sup_sources_close(SupSources *s)
{
  sup_feeder_release(&s->feeder);
  uv_run(&s->loop, UV_RUN_DEFAULT); /* the closes */
  uv_loop_close(&s->loop);
  sup_ids_free(&s->ids);
  free(s->srcs);
  free(s);
}
