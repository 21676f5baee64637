/*
 * cli_check.c: `harn check PATH...`: lex, parse, statically check
 * (vm/check.h) and compile programs without running them.
 *
 * Each PATH is a file (checked whatever its name; `-` is stdin) or a
 * directory, searched recursively for *.harn files (names starting with
 * `.` skipped), checked in sorted order. Every failing file's diagnostic
 * goes to stderr, rendered as `harn run` renders errors; one VM is reused
 * for all files. Exit 0 when every file is clean, 1 otherwise.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "vm/vm.h"

typedef struct CheckFiles {
  char **items;
  size_t count, cap;
  bool failed; /* a path could not be read or listed */
} CheckFiles;

static void files_add(CheckFiles *l, const char *p)
{
  if (l->count == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->items = realloc(l->items, l->cap * sizeof *l->items);
    if (!l->items) abort();
  }
  l->items[l->count] = strdup(p);
  if (!l->items[l->count]) abort();
  l->count++;
}

static bool harn_suffix(const char *s)
{
  size_t n = strlen(s);
  return n >= 5 && strcmp(s + n - 5, ".harn") == 0;
}

static int cmp_path(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.harn files under the directory [dir], recursively ([depth] bounds
 * symlink loops). */
static void list_dir(CheckFiles *out, const char *dir, int depth)
{
  DIR *d = opendir(dir);
  if (!d || depth > 64) {
    fprintf(stderr, "harn check: %s: %s\n", dir, d ? "too deep" : strerror(errno));
    if (d) closedir(d);
    out->failed = true;
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    Buf p = {0};
    buf_printf(&p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p.data, &st) == 0 && S_ISDIR(st.st_mode)) list_dir(out, p.data, depth + 1);
    else if (harn_suffix(e->d_name)) files_add(out, p.data);
    buf_free(&p);
  }
  closedir(d);
}

/* Check one file with [vm]; false when it has an error (printed). */
static bool check_file(Vm *vm, const char *path)
{
  const char *file = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
  size_t len;
  char *src = cli_read_file(file, &len);
  if (!src) {
    fprintf(stderr, "error: cannot read %s: %s\n", file,
            errno == EFBIG ? "more than 64 MiB" : strerror(errno));
    return false;
  }
  VmStatus st = vm_check_source(vm, file, src, len);
  if (st != VM_OK) fputs(vm_diagnostic(vm), stderr);
  free(src);
  return st == VM_OK;
}

int cli_check(const CliArgs *a)
{
  CheckFiles files = {0};
  for (int i = 0; i < a->noperands; i++) {
    const char *p = a->operands[i];
    struct stat st;
    if (strcmp(p, "-") != 0 && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      size_t from = files.count;
      list_dir(&files, p, 0);
      qsort(files.items + from, files.count - from, sizeof *files.items, cmp_path);
    } else {
      files_add(&files, p);
    }
  }
  Vm *vm = vm_new(NULL);
  bool ok = !files.failed;
  for (size_t i = 0; i < files.count; i++) {
    if (!check_file(vm, files.items[i])) ok = false;
    free(files.items[i]);
  }
  free(files.items);
  vm_free(vm);
  return cli_close_stdout("harn check", ok ? 0 : 1, 0);
}
