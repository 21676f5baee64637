/*
 * import.c: the module registry of a run (imp_; see import.h).
 *
 * Path resolution (docs/LANGUAGE.md 9.2): `std/<name>` is an embedded library
 * module; anything else is joined to the directory of the importing file
 * (an absolute path is kept), normalized (`.` and `x/..` segments
 * removed) and gets `.harn` appended when it does not end with it. A path
 * reached from inside a std module that stays under `std/` is embedded
 * too. The key of a file is its device and inode numbers, taken with
 * fstat from the open file, so two spellings of one file (symlinks, hard
 * links, `x/../`) load it once.
 *
 * The import root (VmConfig.import_root, docs/sandbox.md "Imports"): a
 * file module must lie beneath the entry program's directory. The
 * resolved name is first checked lexically against that directory (for a
 * clear message), then opened relative to a descriptor of it with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): the kernel refuses
 * `..`, absolute paths and symlinks that lead out of it (EXDEV), whatever
 * the lexical check missed. In a sandboxed worker that descriptor was
 * opened before the lock-down, its seccomp filter allows openat2 on it
 * alone and Landlock allows reading beneath it alone: the VM never opens a
 * path from the host's root. A program given as source has no root and
 * imports std/ modules only.
 *
 * Loading: a module is registered IMP_LOADING before it is parsed and
 * compiled and becomes IMP_DONE afterwards; meeting an IMP_LOADING module
 * again is a cycle, reported with the chain of files being loaded. A parse
 * or compile error inside a module becomes an import error of the import
 * site (the importer raises it at run time, with the module's file named).
 * A module that failed is dropped from the registry, so its error is
 * reported again by every site that imports it.
 *
 * import.c <-> compiler.c. The two call each other because imports nest:
 * compiling an `import` statement (compiler.c) loads the module here
 * (imp_load), which parses and compiles it (comp_compile_module), whose own
 * imports come back here. The recursion is bounded by the registry: a
 * module is compiled once, and one met again while IMP_LOADING is the
 * cycle error above. The headers do not include each other (compiler.h
 * names struct ImpModule without its definition), so each side sees the
 * other's contract only.
 */
#define _GNU_SOURCE /* O_PATH */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/buf.h"
#include "compiler.h"
#include "parser.h"
#include "state.h"


typedef struct ImpRegistry {
  ImpModule **mods;
  int count, cap;
  int next_id;
  /* The import root of the current run: the entry's directory as the
   * entry's path names it ("" for the current directory), and a
   * descriptor of it (-1 until opened; closed by imp_reset only when the
   * VM opened it itself, VM_IMPORT_ROOT_AUTO). */
  char *root_dir;
  int root_fd;
  bool root_owned;
  int root_errno;       /* why opening it failed (AUTO), 0 = not tried */
} ImpRegistry;

static char *dupn(const char *s, size_t n)
{
  char *p = malloc(n + 1);
  if (!p) abort();
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static char *dups(const char *s) { return dupn(s, strlen(s)); }

static ImpRegistry *reg(Vm *vm)
{
  if (!vm->imports) {
    vm->imports = calloc(1, sizeof(ImpRegistry));
    if (!vm->imports) abort();
    vm->imports->root_fd = -1;
  }
  return vm->imports;
}

static void names_free(ImpNames *n)
{
  for (int i = 0; i < n->count; i++) free(n->items[i].name);
  free(n->items);
  memset(n, 0, sizeof *n);
}

static void module_free(ImpModule *m)
{
  if (!m) return;
  free(m->key);
  free(m->file);
  free(m->source);
  names_free(&m->exports);
  names_free(&m->defined);
  free(m);
}

void imp_reset(Vm *vm)
{
  ImpRegistry *r = vm->imports;
  if (!r) return;
  for (int i = 0; i < r->count; i++) module_free(r->mods[i]);
  r->count = 0;
  r->next_id = 0;
  if (r->root_owned && r->root_fd >= 0) close(r->root_fd);
  r->root_fd = -1;
  r->root_owned = false;
  r->root_errno = 0;
  free(r->root_dir);
  r->root_dir = NULL;
}

void imp_free(Vm *vm)
{
  imp_reset(vm);
  if (vm->imports) free(vm->imports->mods);
  free(vm->imports);
  vm->imports = NULL;
}

void imp_names_add(ImpNames *names, const char *name, int global, int origin)
{
  if (imp_names_find(names, name)) return;
  if (names->count >= names->cap) {
    names->cap = names->cap ? names->cap * 2 : 8;
    names->items = realloc(names->items, sizeof(ImpName) * (size_t)names->cap);
    if (!names->items) abort();
  }
  names->items[names->count].name = dups(name);
  names->items[names->count].global = global;
  names->items[names->count].origin = origin;
  names->count++;
}

const ImpName *imp_names_find(const ImpNames *names, const char *name)
{
  for (int i = 0; i < names->count; i++)
    if (strcmp(names->items[i].name, name) == 0) return &names->items[i];
  return NULL;
}

static ImpModule *add_module(Vm *vm, const char *key, const char *file, const char *src,
                             size_t len)
{
  ImpRegistry *r = reg(vm);
  if (r->count >= r->cap) {
    r->cap = r->cap ? r->cap * 2 : 8;
    r->mods = realloc(r->mods, sizeof(ImpModule *) * (size_t)r->cap);
    if (!r->mods) abort();
  }
  ImpModule *m = calloc(1, sizeof(ImpModule));
  if (!m) abort();
  m->id = r->next_id++;
  m->key = dups(key);
  m->file = dups(file);
  m->source = dupn(src, len);
  m->source_len = len;
  m->state = IMP_LOADING;
  r->mods[r->count++] = m;
  return m;
}

static void drop_module(Vm *vm, ImpModule *m)
{
  ImpRegistry *r = reg(vm);
  for (int i = 0; i < r->count; i++)
    if (r->mods[i] == m) {
      memmove(r->mods + i, r->mods + i + 1, sizeof(ImpModule *) * (size_t)(r->count - i - 1));
      r->count--;
      break;
    }
  module_free(m);
}

static ImpModule *find_key(Vm *vm, const char *key)
{
  ImpRegistry *r = reg(vm);
  for (int i = 0; i < r->count; i++)
    if (strcmp(r->mods[i]->key, key) == 0) return r->mods[i];
  return NULL;
}

/* The key of a file: "@dev:ino" (without printf: a worker reads its
 * program through here, and printf's code is pages it need not touch). */
static char *stat_key(const struct stat *st)
{
  char buf[64];
  size_t n = 0;
  buf[n++] = '@';
  n += buf_fmt_u64(buf + n, (uint64_t)st->st_dev);
  buf[n++] = ':';
  n += buf_fmt_u64(buf + n, (uint64_t)st->st_ino);
  buf[n] = 0;
  return dups(buf);
}

/* The key of the file open at [fd], or NULL if fstat fails. */
static char *file_key(int fd)
{
  struct stat st;
  return fstat(fd, &st) == 0 ? stat_key(&st) : NULL;
}

/* The key of the file at [path] if it can be opened, else [path]. */
static char *canonical(const char *path)
{
  int fd = open(path, IMP_OPEN_FLAGS);
  char *key = fd >= 0 ? file_key(fd) : NULL;
  if (fd >= 0) close(fd);
  return key ? key : dups(path);
}

static char *join_normalize(const char *dir, const char *rel);
static char *dir_of(const char *file);

void imp_register_entry(Vm *vm, const char *key, const char *path, const char *src, size_t len)
{
  /* Only a VM that may open paths itself looks the entry up by path: in a
   * worker the path is only a name (opening it would break the lock-down). */
  bool auto_root = vm->cfg.import_root == VM_IMPORT_ROOT_AUTO;
  char *own = key ? NULL : auto_root ? canonical(path) : dups(path);
  add_module(vm, key ? key : own, path, src ? src : "", src ? len : 0);
  free(own);
  ImpRegistry *r = reg(vm);
  char *dir = dir_of(path);
  r->root_dir = join_normalize("", dir);
  free(dir);
  if (!strcmp(r->root_dir, ".")) r->root_dir[0] = 0;
  if (vm->cfg.import_root == VM_IMPORT_ROOT_FD) r->root_fd = vm->cfg.import_root_fd;
}

const char *imp_source_of(Vm *vm, const char *file)
{
  if (!vm->imports || !file) return NULL;
  ImpRegistry *r = vm->imports;
  for (int i = 0; i < r->count; i++)
    if (strcmp(r->mods[i]->file, file) == 0) return r->mods[i]->source;
  return NULL;
}

const char *imp_std_source(const char *name, size_t *len)
{
  for (int i = 0; i < imp_std_count; i++)
    if (strcmp(imp_std_modules[i].name, name) == 0) {
      *len = imp_std_modules[i].len;
      return (const char *)imp_std_modules[i].source;
    }
  return NULL;
}

/* ---- paths ------------------------------------------------------------------ */

/* [dir]/[rel] (or [rel] alone when absolute or [dir] is empty), with `.`
 * and `x/..` segments removed. */
static char *join_normalize(const char *dir, const char *rel)
{
  Buf joined = {0};
  if (rel[0] != '/' && dir[0]) {
    buf_puts(&joined, dir);
    buf_putc(&joined, '/');
  }
  buf_puts(&joined, rel);
  char *s = buf_take(&joined);
  bool absolute = s[0] == '/';
  /* split into segments */
  int n = 0, cap = 16;
  char **seg = malloc(sizeof(char *) * (size_t)cap);
  if (!seg) abort();
  char *save = NULL;
  for (char *t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0) continue;
    if (strcmp(t, "..") == 0 && n > 0 && strcmp(seg[n - 1], "..") != 0) {
      n--;
      continue;
    }
    if (strcmp(t, "..") == 0 && absolute) continue;
    if (n >= cap) {
      cap *= 2;
      seg = realloc(seg, sizeof(char *) * (size_t)cap);
      if (!seg) abort();
    }
    seg[n++] = t;
  }
  Buf out = {0};
  if (absolute) buf_putc(&out, '/');
  for (int i = 0; i < n; i++) {
    if (i) buf_putc(&out, '/');
    buf_puts(&out, seg[i]);
  }
  if (!out.len) buf_putc(&out, '.');
  free(seg);
  free(s);
  return buf_take(&out);
}

static char *dir_of(const char *file)
{
  const char *slash = strrchr(file, '/');
  if (!slash) return dups("");
  if (slash == file) return dups("/");
  return dupn(file, (size_t)(slash - file));
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool imp_read_file(int fd, bool any_kind, Buf *out, char **key)
{
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  if (ok && ((!any_kind && !S_ISREG(st.st_mode)) || (uintmax_t)st.st_size > VM_MAX_PROGRAM)) {
    errno = EINVAL;
    ok = false;
  }
  /* The size fstat gave, in one read as a rule; a file that grows
   * meanwhile is read as it was; one that reports no size (as some
   * kernel files do, and pipes) until EOF, within the limit. */
  size_t want = ok && S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
  while (ok && (want == 0 || out->len < want)) {
    if (out->len > VM_MAX_PROGRAM) {
      errno = EINVAL;
      ok = false;
      break;
    }
    buf_reserve(out, want > out->len ? want - out->len : 4096);
    ssize_t n = read(fd, out->data + out->len, out->cap - 1 - out->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    out->len += (size_t)n;
  }
  if (ok && out->data) out->data[out->len] = 0;
  if (ok && key) *key = stat_key(&st);
  int e = errno;
  close(fd);
  errno = e;
  return ok;
}

/* ---- the import root ------------------------------------------------------------ */

/* [file] relative to the root directory [root] ("" = the current one), or
 * NULL when it is not lexically beneath it. Both are normalized
 * (join_normalize), so a prefix match on whole segments is enough. */
static const char *beneath(const char *root, const char *file)
{
  if (!root[0]) return file[0] == '/' || !strcmp(file, "..") || !strncmp(file, "../", 3) ? NULL : file;
  size_t n = strlen(root);
  if (!strcmp(root, "/")) return file[0] == '/' && file[1] ? file + 1 : NULL;
  if (strncmp(file, root, n) != 0 || file[n] != '/' || !file[n + 1]) return NULL;
  return file + n + 1;
}

/* The root's descriptor, opening it first under VM_IMPORT_ROOT_AUTO; -1
 * with *why set when there is none. */
static int root_fd(Vm *vm, const char **why)
{
  ImpRegistry *r = reg(vm);
  if (vm->cfg.import_root == VM_IMPORT_ROOT_NONE) {
    *why = "a program given as source can import only std/ modules";
    return -1;
  }
  if (r->root_fd < 0 && vm->cfg.import_root == VM_IMPORT_ROOT_AUTO && !r->root_errno) {
    r->root_fd = open(r->root_dir && r->root_dir[0] ? r->root_dir : ".",
                      O_PATH | O_DIRECTORY | O_CLOEXEC);
    r->root_owned = r->root_fd >= 0;
    if (r->root_fd < 0) r->root_errno = errno;
  }
  if (r->root_fd < 0) *why = "the program's directory cannot be opened";
  return r->root_fd;
}

/* Open module file [file] (a resolved name) beneath the import root. A
 * file outside it, or no root, sets *why (the import's error); else the
 * fd, or -1 with *open_errno (a file that is not there, or a link that
 * leads out of the root: EXDEV). */
static int open_beneath(Vm *vm, const char *file, int *open_errno, const char **why)
{
  ImpRegistry *r = reg(vm);
  const char *rel = beneath(r->root_dir ? r->root_dir : "", file);
  if (!rel) {
    *why = "outside the program's directory (imports resolve beneath the entry file's directory)";
    return -1;
  }
  int dir = root_fd(vm, why);
  if (dir < 0) return -1;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = IMP_OPEN_FLAGS;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd, tries = 0; /* EAGAIN: a rename raced the lookup */
  do fd = (int)syscall(SYS_openat2, dir, rel, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN && ++tries < 4);
  if (fd < 0) *open_errno = errno;
  if (fd < 0 && errno == EXDEV)
    *why = "it leads outside the program's directory (imports resolve beneath the entry file's directory)";
  return fd;
}

/* ---- loading ------------------------------------------------------------------ */

static void cycle_error(Vm *vm, ImpModule *again, char *err, size_t errlen)
{
  ImpRegistry *r = reg(vm);
  Buf b = {0};
  buf_puts(&b, "Import error: import cycle: ");
  bool on = false;
  for (int i = 0; i < r->count; i++) {
    ImpModule *m = r->mods[i];
    if (m == again) on = true;
    if (on && m->state == IMP_LOADING) {
      buf_puts(&b, m->file);
      buf_puts(&b, " -> ");
    }
  }
  buf_puts(&b, again->file);
  snprintf(err, errlen, "%s", b.data);
  buf_free(&b);
}

/* Parse and compile [m] (registered, IMP_LOADING). */
static bool compile_module(Vm *vm, ImpModule *m, char *err, size_t errlen)
{
  Arena arena = {0};
  ParseError *perr = calloc(1, sizeof *perr); /* ~7 KiB: not on the stack */
  if (!perr) abort();
  Node *prog = parse_program(&arena, m->source, m->source_len, perr);
  if (!prog) {
    /* the first syntax error, with its place in the module */
    const char *msg = perr->message[0] ? perr->message : "Parse error";
    if (perr->line > 0)
      snprintf(err, errlen, "Import error: %s:%d:%d: %s", m->file, perr->line, perr->col, msg);
    else
      snprintf(err, errlen, "Import error: %s: %s", m->file, msg);
    free(perr);
    arena_free(&arena);
    return false;
  }
  free(perr);
  char cerr[512];
  int line = 0;
  ObjFunction *fn = comp_compile_module(vm, prog, m, cerr, sizeof cerr, &line);
  arena_free(&arena);
  if (!fn) {
    snprintf(err, errlen, "Import error: %s: %s", m->file, cerr);
    return false;
  }
  m->main_fn = fn;
  m->state = IMP_DONE;
  return true;
}

ImpModule *imp_load(Vm *vm, const char *importer_file, const char *path, char *err,
                    size_t errlen)
{
  const char *ifile = importer_file ? importer_file : "";
  bool std_module = strncmp(path, "std/", 4) == 0;
  char *resolved = NULL;
  if (std_module) {
    resolved = dups(path);
  } else {
    char *dir = dir_of(ifile);
    resolved = join_normalize(dir, path);
    free(dir);
    /* a relative import inside a std module stays in std/ */
    if (strncmp(ifile, "std/", 4) == 0 && strncmp(resolved, "std/", 4) == 0) std_module = true;
  }
  if (ends_with(resolved, ".harn")) resolved[strlen(resolved) - 5] = 0;

  ImpModule *m = NULL;
  if (std_module) {
    size_t len = 0;
    const char *src = imp_std_source(resolved + 4, &len);
    if (!src) {
      snprintf(err, errlen, "Unknown stdlib module: %s", strncmp(path, "std/", 4) == 0 ? path : resolved);
      free(resolved);
      return NULL;
    }
    m = find_key(vm, resolved);
    if (!m) {
      Buf file = {0};
      buf_printf(&file, "%s.harn", resolved);
      m = add_module(vm, resolved, file.data, src, len);
      buf_free(&file);
      if (!compile_module(vm, m, err, errlen)) {
        drop_module(vm, m);
        m = NULL;
      }
      free(resolved);
      return m;
    }
  } else {
    Buf file = {0};
    buf_printf(&file, "%s.harn", resolved);
    int open_errno = 0;
    const char *why = NULL;
    int fd = open_beneath(vm, file.data, &open_errno, &why);
    if (why) {
      snprintf(err, errlen, "Import error: cannot import '%s' (%s): %s", path, file.data, why);
      buf_free(&file);
      free(resolved);
      return NULL;
    }
    char *key = fd >= 0 ? file_key(fd) : NULL;
    if (!key) key = dups(file.data);
    m = find_key(vm, key);
    if (m && fd >= 0) close(fd);
    if (!m) {
      Buf src = {0};
      errno = fd < 0 ? open_errno : 0;
      if (fd < 0 || !imp_read_file(fd, false, &src, NULL)) {
        snprintf(err, errlen, "Import error: cannot read module '%s' (%s): %s", path, file.data,
                 errno == EINVAL ? "not a regular file of at most 64 MiB"
                 : errno         ? strerror(errno)
                                 : "read error");
        buf_free(&src);
        buf_free(&file);
        free(key);
        free(resolved);
        return NULL;
      }
      m = add_module(vm, key, file.data, src.data ? src.data : "", src.len);
      buf_free(&src);
      if (!compile_module(vm, m, err, errlen)) {
        drop_module(vm, m);
        m = NULL;
      }
      buf_free(&file);
      free(key);
      free(resolved);
      return m;
    }
    buf_free(&file);
    free(key);
  }
  free(resolved);
  if (m->state == IMP_LOADING) {
    cycle_error(vm, m, err, errlen);
    return NULL;
  }
  return m;
}
