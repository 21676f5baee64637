/*
 * cli_inline.c: `harn run --inline`, `harn check` and `harn disasm`: the
 * commands that run the VM inside the calling process.
 *
 * Output goes straight to this process's stdout as the program produces it;
 * an uncaught error's diagnostic goes to stderr after it (LANGUAGE.md 10.3,
 * 16). Nothing here forks: this is the debugging and benchmarking path.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"

char *cli_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *data = malloc(cap);
  if (!data) {
    fclose(f);
    return NULL;
  }
  for (;;) {
    if (n + 1 >= cap) {
      char *p = realloc(data, cap *= 2);
      if (!p) {
        free(data);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      data = p;
    }
    size_t r = fread(data + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(data);
    errno = EIO;
    return NULL;
  }
  data[n] = 0;
  if (len) *len = n;
  return data;
}

/* Parse "FILE [--input JSON]" (and --inline, ignored) for run-like commands. */
static int parse_file_args(int argc, char **argv, const char **file, const char **input)
{
  *file = NULL;
  if (input) *input = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--inline") == 0) continue;
    if (input && strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
      *input = argv[++i];
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "harn %s: unknown option '%s'\n", argv[0], argv[i]);
      return 2;
    }
    if (*file) {
      fprintf(stderr, "harn %s: only one FILE may be given\n", argv[0]);
      return 2;
    }
    *file = argv[i];
  }
  if (!*file) {
    fprintf(stderr, "usage: harn %s FILE%s\n", argv[0], input ? " [--input JSON]" : "");
    return 2;
  }
  return 0;
}

int cli_run_inline(int argc, char **argv)
{
  const char *file, *input;
  int rc = parse_file_args(argc, argv, &file, &input);
  if (rc) return rc;
  Vm *vm = vm_new(NULL);
  VmStatus st = vm_run_file(vm, file, input);
  fflush(stdout);
  int code;
  if (st != VM_OK) {
    fputs(vm_diagnostic(vm), stderr);
    code = 1;
  } else {
    code = vm_exit_code(vm);
    /* A pipeline that returned Err(msg): msg on stderr, exit 1. */
    if (code != 0 && vm_error_text(vm) && *vm_error_text(vm))
      fprintf(stderr, "%s\n", vm_error_text(vm));
  }
  vm_free(vm);
  return code;
}

/* Shared body of check and disasm. */
static int compile_only(int argc, char **argv, bool disasm)
{
  const char *file;
  int rc = parse_file_args(argc, argv, &file, NULL);
  if (rc) return rc;
  size_t len;
  char *src = cli_read_file(file, &len);
  if (!src) {
    fprintf(stderr, "error: cannot read %s: %s\n", file, strerror(errno));
    return 1;
  }
  Vm *vm = vm_new(NULL);
  char *text = NULL;
  VmStatus st = disasm ? vm_disasm_source(vm, file, src, len, &text)
                       : vm_check_source(vm, file, src, len);
  if (st != VM_OK) {
    fputs(vm_diagnostic(vm), stderr);
  } else if (text) {
    fputs(text, stdout);
  }
  free(text);
  vm_free(vm);
  free(src);
  return st == VM_OK ? 0 : 1;
}

int cli_check(int argc, char **argv) { return compile_only(argc, argv, false); }

int cli_disasm(int argc, char **argv) { return compile_only(argc, argv, true); }
