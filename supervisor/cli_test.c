/*
 * cli_test.c: `harn test PATH...`, the language test runner.
 *
 * A test is NAME.harn with a sibling NAME.expected (exact stdout, compared
 * after trimming trailing whitespace at the end of both texts; the run must
 * succeed) or NAME.error (the run must fail; one pattern per line, each a
 * plain substring or `re:` + POSIX extended regex matched line-wise, and
 * every pattern must be found in the error output on stderr). A .harn file
 * without either sibling fails ("no NAME.expected or NAME.error"), so that a
 * forgotten expectation is never a silent pass, unless it is visibly a helper
 * module that tests import: its name starts with `_` (_util.harn) or it lies
 * under a directory named `helpers/` at any depth (imports/helpers/util.harn,
 * imports/helpers/deep/inner.harn). Helpers are not run.
 * Timer lines (`[timer] NAME: 12ms`, docs/LANGUAGE.md 12.7) are compared with the
 * number normalised to N in both texts, since elapsed time varies.
 *
 * Each test runs in a forked child (fresh VM, its own stdout/stderr pipes,
 * stdin from /dev/null) so that a crash or a hang in one test cannot take
 * the runner down. Two limits end a child: TEST_CPU_S seconds of CPU
 * (RLIMIT_CPU; what catches a program that got slow, e.g. quadratic, and
 * does not move with the machine's load, so a test under ASan with both
 * cores busy is judged as on a quiet machine; four times as much under
 * --gc-stress, which collects at every safe point) and TEST_TIMEOUT_MS of
 * wall time, a generous bound that catches a child blocked forever. Tests
 * run in sorted path order; failures print a line diff; the last line is
 * always "N passed, N failed".
 *
 * `harn test --gc-stress PATH...` runs every test with VmConfig.gc_stress
 * (a collection at every safe point, as a VM_GC_STRESS build does), so a
 * normal build can run the suite as a GC stress test (ctest lang_gc_stress).
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "vm/vm.h"

#define TEST_CPU_S 20
#define TEST_GC_STRESS_CPU_FACTOR 4
#define TEST_TIMEOUT_MS 300000

static bool test_gc_stress; /* --gc-stress */
#define DIFF_MAX_LINES 400

typedef struct PathList {
  char **items;
  size_t count, cap;
} PathList;

static void paths_add(PathList *l, const char *p)
{
  if (l->count == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->items = realloc(l->items, l->cap * sizeof *l->items);
    if (!l->items) abort();
  }
  l->items[l->count++] = strdup(p);
}

static bool has_suffix(const char *s, const char *suf)
{
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Collect every *.harn under [path] (a file or a directory, recursively). */
static void collect(PathList *out, const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "harn test: %s: %s\n", path, strerror(errno));
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (has_suffix(path, ".harn")) paths_add(out, path);
    return;
  }
  DIR *d = opendir(path);
  if (!d) {
    fprintf(stderr, "harn test: %s: %s\n", path, strerror(errno));
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    Buf p = {0};
    buf_printf(&p, "%s/%s", path, e->d_name);
    collect(out, p.data);
    buf_free(&p);
  }
  closedir(d);
}

/* A helper module, not a test: the file name starts with '_', or a
 * directory component of the path is exactly "helpers". */
static bool is_helper(const char *path)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (base[0] == '_') return true;
  for (const char *p = path; p < base;) {
    const char *slash = strchr(p, '/');
    if (slash - p == (ptrdiff_t)strlen("helpers") && strncmp(p, "helpers", strlen("helpers")) == 0)
      return true;
    p = slash + 1;
  }
  return false;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replace NAME.harn's extension with [ext] and read that file, or NULL. */
static char *read_sibling(const char *harn, const char *ext)
{
  Buf p = {0};
  buf_append(&p, harn, strlen(harn) - strlen(".harn"));
  buf_puts(&p, ext);
  char *text = cli_read_file(p.data, NULL);
  buf_free(&p);
  return text;
}

static void rtrim(char *s)
{
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = 0;
}

/* Rewrite every "[timer] NAME: <digits>ms" line of [s] in place as
 * "[timer] NAME: Nms". */
static void normalise_timers(char *s)
{
  char *line = s, *w = s;
  while (*line) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char *colon = NULL;
    if (len > 10 && strncmp(line, "[timer] ", 8) == 0 && len >= 3 &&
        line[len - 2] == 'm' && line[len - 1] == 's') {
      for (char *p = line + len - 3; p > line && *p >= '0' && *p <= '9'; p--)
        if (p[-1] == ' ' && p - 2 > line && p[-2] == ':') colon = p;
    }
    if (colon) {
      size_t head = (size_t)(colon - line);
      memmove(w, line, head);
      memcpy(w + head, "Nms", 3);
      w += head + 3;
    } else {
      memmove(w, line, len);
      w += len;
    }
    if (!nl) break;
    *w++ = '\n';
    line = nl + 1;
  }
  *w = 0;
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct Outcome {
  Buf out, err;
  int status;     /* child's exit code: 0 ran ok, 1 script error, else crash */
  int signal;     /* terminating signal, 0 if none */
  bool timed_out;
} Outcome;

/* The CPU seconds a test may use (TEST_CPU_S, more under --gc-stress). */
static int test_cpu_s(void)
{
  return TEST_CPU_S * (test_gc_stress ? TEST_GC_STRESS_CPU_FACTOR : 1);
}

/* The child: run [path] with stdout/stderr on the given pipe ends. */

static void run_child(const char *path, int out_fd, int err_fd)
{
  /* SIGXCPU at the soft limit ends the child (its default action); the hard
   * limit a second later is SIGKILL, should it be caught or ignored. */
  struct rlimit cpu = {(rlim_t)test_cpu_s(), (rlim_t)test_cpu_s() + 1};
  setrlimit(RLIMIT_CPU, &cpu);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.gc_stress = test_gc_stress;
  cfg.fs.mode = VM_FS_HOST; /* tests are trusted: files act on the host */
  cfg.fs.env_host = true;
  Vm *vm = vm_new(&cfg);
  VmStatus st = vm_run_file(vm, path, NULL);
  fflush(stdout);
  if (st != VM_OK) fputs(vm_diagnostic(vm), stderr);
  fflush(stderr);
  vm_free(vm);
  _exit(st == VM_OK ? 0 : 1);
}

static void run_test(const char *path, Outcome *o)
{
  memset(o, 0, sizeof *o);
  int po[2], pe[2];
  if (pipe(po) != 0 || pipe(pe) != 0) {
    perror("harn test: pipe");
    exit(1);
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("harn test: fork");
    exit(1);
  }
  if (pid == 0) {
    close(po[0]);
    close(pe[0]);
    run_child(path, po[1], pe[1]);
  }
  close(po[1]);
  close(pe[1]);
  struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  Buf *bufs[2] = {&o->out, &o->err};
  int open_fds = 2;
  long long deadline = now_ms() + TEST_TIMEOUT_MS;
  while (open_fds > 0) {
    long long left = deadline - now_ms();
    if (left <= 0) {
      o->timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int r = poll(fds, 2, (int)left);
    if (r < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char chunk[8192];
      ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
      if (n > 0) {
        buf_append(bufs[i], chunk, (size_t)n);
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      }
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i].fd >= 0) close(fds[i].fd);
  int ws;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(ws)) o->status = WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) {
    o->signal = WTERMSIG(ws);
    o->status = -1;
  }
  if (!o->out.data) buf_puts(&o->out, "");
  if (!o->err.data) buf_puts(&o->err, "");
}

/* ---- line diff (LCS), for failure reports ----------------------------- */

typedef struct Lines {
  char **l;
  int n;
} Lines;

static Lines split_lines(const char *text)
{
  Lines r = {0};
  int cap = 16;
  r.l = malloc(sizeof(char *) * (size_t)cap);
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (r.n == cap) r.l = realloc(r.l, sizeof(char *) * (size_t)(cap *= 2));
    r.l[r.n++] = strndup(p, len);
    if (!nl) break;
    p = nl + 1;
  }
  return r;
}

static void free_lines(Lines *l)
{
  for (int i = 0; i < l->n; i++) free(l->l[i]);
  free(l->l);
}

static void print_diff(const char *expected, const char *actual)
{
  Lines a = split_lines(expected), b = split_lines(actual);
  printf("    --- expected\n    +++ actual\n");
  if (a.n > DIFF_MAX_LINES || b.n > DIFF_MAX_LINES) {
    int i = 0;
    while (i < a.n && i < b.n && strcmp(a.l[i], b.l[i]) == 0) i++;
    printf("    (long output; first difference at line %d)\n", i + 1);
    if (i < a.n) printf("    -%s\n", a.l[i]);
    if (i < b.n) printf("    +%s\n", b.l[i]);
  } else {
    /* lcs[i][j] = LCS length of a[i..], b[j..] */
    int *lcs = calloc((size_t)(a.n + 1) * (size_t)(b.n + 1), sizeof(int));
#define L(i, j) lcs[(i) * (b.n + 1) + (j)]
    for (int i = a.n - 1; i >= 0; i--)
      for (int j = b.n - 1; j >= 0; j--)
        L(i, j) = strcmp(a.l[i], b.l[j]) == 0 ? L(i + 1, j + 1) + 1
                  : L(i + 1, j) > L(i, j + 1) ? L(i + 1, j)
                                              : L(i, j + 1);
    int i = 0, j = 0;
    while (i < a.n || j < b.n) {
      if (i < a.n && j < b.n && strcmp(a.l[i], b.l[j]) == 0) {
        printf("     %s\n", a.l[i]);
        i++, j++;
      } else if (j < b.n && (i == a.n || L(i, j + 1) >= L(i + 1, j))) {
        printf("    +%s\n", b.l[j++]);
      } else {
        printf("    -%s\n", a.l[i++]);
      }
    }
#undef L
    free(lcs);
  }
  free_lines(&a);
  free_lines(&b);
}

/* Does [pattern] (substring, or "re:" regex) match somewhere in [text]? */
static bool pattern_matches(const char *pattern, const char *text)
{
  if (strncmp(pattern, "re:", 3) != 0) return strstr(text, pattern) != NULL;
  regex_t re;
  if (regcomp(&re, pattern + 3, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0) {
    printf("    bad regex in .error file: %s\n", pattern + 3);
    return false;
  }
  bool ok = regexec(&re, text, 0, NULL, 0) == 0;
  regfree(&re);
  return ok;
}

static void indent_print(const char *label, const char *text)
{
  printf("    %s:\n", label);
  Lines l = split_lines(text);
  for (int i = 0; i < l.n && i < 40; i++) printf("      %s\n", l.l[i]);
  if (l.n > 40) printf("      ... (%d more lines)\n", l.n - 40);
  free_lines(&l);
}

/* Run one test; print a report when it fails. Returns pass/fail. */
static bool check_test(const char *path, const char *expected, const char *error)
{
  Outcome o;
  run_test(path, &o);
  bool ok = true;
  if (o.timed_out) {
    printf("FAIL %s: timed out after %d ms\n", path, TEST_TIMEOUT_MS);
    ok = false;
  } else if (o.signal == SIGXCPU) {
    printf("FAIL %s: used more than %d s of CPU\n", path, test_cpu_s());
    ok = false;
  } else if (o.status < 0 || o.status > 1) {
    printf("FAIL %s: the VM crashed (%s %d)\n", path, o.signal ? "signal" : "exit status",
           o.signal ? o.signal : o.status);
    indent_print("stderr", o.err.data);
    ok = false;
  } else if (expected) {
    char *want = strdup(expected);
    rtrim(want);
    rtrim(o.out.data);
    normalise_timers(want);
    normalise_timers(o.out.data);
    if (o.status != 0) {
      printf("FAIL %s: expected success, the program failed\n", path);
      indent_print("stderr", o.err.data);
      ok = false;
    } else if (strcmp(want, o.out.data) != 0) {
      printf("FAIL %s: output differs\n", path);
      print_diff(want, o.out.data);
      ok = false;
    }
    free(want);
  } else {
    if (o.status == 0) {
      printf("FAIL %s: expected an error, the program succeeded\n", path);
      indent_print("stdout", o.out.data);
      ok = false;
    } else {
      Lines pats = split_lines(error);
      for (int i = 0; i < pats.n; i++) {
        rtrim(pats.l[i]);
        if (!*pats.l[i]) continue;
        if (!pattern_matches(pats.l[i], o.err.data)) {
          if (ok) printf("FAIL %s: error output does not match\n", path);
          printf("    missing: %s\n", pats.l[i]);
          ok = false;
        }
      }
      if (!ok) indent_print("stderr", o.err.data);
      free_lines(&pats);
    }
  }
  buf_free(&o.out);
  buf_free(&o.err);
  return ok;
}

int cli_test(const CliArgs *a)
{
  test_gc_stress = a->opt[CLI_OPT_GC_STRESS].given;
  signal(SIGPIPE, SIG_IGN);
  PathList files = {0};
  for (int i = 0; i < a->noperands; i++) collect(&files, a->operands[i]);
  qsort(files.items, files.count, sizeof *files.items, cmp_str);
  int passed = 0, failed = 0;
  for (size_t i = 0; i < files.count; i++) {
    char *expected = read_sibling(files.items[i], ".expected");
    char *error = expected ? NULL : read_sibling(files.items[i], ".error");
    if (expected || error) {
      if (check_test(files.items[i], expected, error))
        passed++;
      else
        failed++;
      fflush(stdout);
    } else if (!is_helper(files.items[i])) {
      const char *path = files.items[i], *slash = strrchr(path, '/');
      const char *base = slash ? slash + 1 : path;
      int stem = (int)(strlen(base) - strlen(".harn"));
      printf("FAIL %s: no %.*s.expected or %.*s.error; name helpers _%.*s.harn or put them "
             "under helpers/\n",
             path, stem, base, stem, base, stem, base);
      failed++;
      fflush(stdout);
    }
    free(expected);
    free(error);
    free(files.items[i]);
  }
  free(files.items);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed + failed > 0 ? 0 : 1;
}
