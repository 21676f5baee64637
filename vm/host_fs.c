/*
 * host_fs.c: the file builtins (read_file, write_file, list_dir, ...) and
 * the paths a program sees (cwd, source_dir, temp_dir), with the
 * reference's names, signatures and error texts (CAPABILITIES.md §5, §11,
 * §12; docs/sandbox.md "Capabilities").
 *
 * Three modes (VmConfig.fs, vm.h):
 *   HOST    trusted code: a path is used as given (relative ones from the
 *           working directory), with openat(AT_FDCWD, ...);
 *   GRANTS  a sandboxed worker: the path is made absolute against the
 *           job's cwd and normalised lexically ("." dropped, ".." removes
 *           a component); the longest grant that contains it names the
 *           directory descriptor to resolve it beneath; outside every
 *           grant (or outside the write grants, for a write) it fails with
 *           the reference's `sandbox violation: ...` text before the kernel
 *           is asked, and the refusal is recorded (denied). Inside, every
 *           system call is relative to the grant's descriptor: openat2 with
 *           RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (a symlink that leads
 *           out fails with EXDEV, also recorded), mkdirat, unlinkat and
 *           renameat2 with the grant's fd. The worker's Landlock rules
 *           (one per grant) and its seccomp filter (those calls only with
 *           a grant's fd) are the walls behind this check: a bug here
 *           cannot widen a grant;
 *   NONE    no grant at all (unit tests, fuzzing): every path is outside.
 *
 * Errors are thrown strings, as the reference's are: `Failed to read file
 * P: No such file or directory (os error 2)` (Rust's io::Error display).
 * Writes count against VmFsConfig.max_write_bytes: a write that would go
 * past it is refused whole (`... write quota of N bytes exceeded`).
 *
 * Directory listings use getdents64 on a descriptor (no opendir: glibc's
 * opens by path and calls fcntl, which the worker's filter refuses).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <msgpack.h>

#include "base/path.h"
#include "builtins.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "host_fs.h"
#include "object.h"
#include "state.h"

#ifndef RESOLVE_BENEATH
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

#define MAX_DENIED 100   /* refusals kept for the record; the rest counted */
#define MAX_DEPTH 64     /* directory recursion (delete_file, walk_dir, glob) */

typedef struct Denied {
  char *op, *target, *reason;
} Denied;

struct HostFs {
  uint64_t bytes_read, bytes_written, files_read, files_written;
  Denied denied[MAX_DENIED];
  int ndenied;
  uint64_t denied_dropped;
  bool used;
};

static struct HostFs *hfs(Vm *vm)
{
  if (!vm->hostfs) {
    vm->hostfs = calloc(1, sizeof *vm->hostfs);
    if (!vm->hostfs) abort();
  }
  return vm->hostfs;
}

void hostfs_setup(Vm *vm)
{
  const VmFsConfig *c = &vm->cfg.fs;
  if (c->ndeny <= 0) return;
  vm->denied = calloc((size_t)builtin_count, sizeof *vm->denied);
  if (!vm->denied) abort();
  for (int i = 0; i < c->ndeny; i++) {
    int idx = builtin_lookup(c->deny[i]);
    if (idx >= 0) vm->denied[idx] = true;
  }
}

bool hostfs_denied(Vm *vm, int idx)
{
  return err_throw_str(vm, "Tool '%s' is not permitted.", builtin_table[idx].name);
}

void hostfs_free(Vm *vm)
{
  free(vm->denied);
  vm->denied = NULL;
  struct HostFs *h = vm->hostfs;
  if (!h) return;
  for (int i = 0; i < h->ndenied; i++) {
    free(h->denied[i].op);
    free(h->denied[i].target);
    free(h->denied[i].reason);
  }
  free(h);
  vm->hostfs = NULL;
}

static void record_denied(Vm *vm, const char *op, const char *target, const char *reason)
{
  struct HostFs *h = hfs(vm);
  if (h->ndenied >= MAX_DENIED) {
    h->denied_dropped++;
    return;
  }
  Denied *d = &h->denied[h->ndenied++];
  d->op = strdup(op);
  d->target = strdup(target);
  d->reason = strdup(reason);
  if (!d->op || !d->target || !d->reason) abort();
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

bool vm_fs_report_pack(Vm *vm, void *packer)
{
  struct HostFs *h = vm->hostfs;
  if (!h || (!h->used && !h->ndenied && !h->denied_dropped)) return false;
  msgpack_packer *pk = packer;
  msgpack_pack_map(pk, 3);
  pack_cstr(pk, "used");
  msgpack_pack_map(pk, 1);
  pack_cstr(pk, "fs");
  msgpack_pack_map(pk, 4);
  pack_cstr(pk, "bytes_read");
  msgpack_pack_uint64(pk, h->bytes_read);
  pack_cstr(pk, "bytes_written");
  msgpack_pack_uint64(pk, h->bytes_written);
  pack_cstr(pk, "files_read");
  msgpack_pack_uint64(pk, h->files_read);
  pack_cstr(pk, "files_written");
  msgpack_pack_uint64(pk, h->files_written);
  pack_cstr(pk, "denied");
  msgpack_pack_array(pk, (size_t)h->ndenied);
  for (int i = 0; i < h->ndenied; i++) {
    msgpack_pack_map(pk, 3);
    pack_cstr(pk, "op");
    pack_cstr(pk, h->denied[i].op);
    pack_cstr(pk, "target");
    pack_cstr(pk, h->denied[i].target);
    pack_cstr(pk, "reason");
    pack_cstr(pk, h->denied[i].reason);
  }
  pack_cstr(pk, "denied_dropped");
  msgpack_pack_uint64(pk, h->denied_dropped);
  return true;
}

/* ---- values ----------------------------------------------------------------- */

static inline Value arg(int argc, Value *argv, int i) { return i < argc ? argv[i] : val_nil(); }

static Value cstr_val(Vm *vm, const char *s) { return OBJ_VAL(str_cstr(vm, s)); }

/* Rust's io::Error display: "No such file or directory (os error 2)". */
static const char *os_error(int e, char *buf, size_t n)
{
  snprintf(buf, n, "%s (os error %d)", strerror(e), e);
  return buf;
}

/* A path argument: a string without NUL bytes, else a type error naming
 * the builtin. */
static bool path_arg(Vm *vm, const char *fn, int argc, Value *argv, int i, const char **out)
{
  Value v = arg(argc, argv, i);
  if (!IS_STRING(v)) return err_type(vm, "%s: the path must be a string, got %s", fn, val_type_name(v));
  if (strlen(AS_CSTR(v)) != AS_STRING(v)->len)
    return err_throw_str(vm, "%s: the path contains a NUL byte", fn);
  *out = AS_CSTR(v);
  return true;
}

/* ---- resolution --------------------------------------------------------------- */

/* A path resolved for one system call: [dirfd] and [rel] (AT_FDCWD and the
 * path as given in HOST mode); [abs] the absolute normalised form (GRANTS),
 * owned. */
typedef struct Resolved {
  int dirfd;
  const char *rel;
  char *abs;
  const VmFsGrant *grant;
} Resolved;

static void resolved_free(Resolved *r)
{
  free(r->abs);
  r->abs = NULL;
}


/* Is [abs] [root] or beneath it? */
static bool beneath(const char *abs, const char *root)
{
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return true;
  return strncmp(abs, root, n) == 0 && (abs[n] == 0 || abs[n] == '/');
}

/* The sandbox-violation text of the reference (stdlib/sandbox.rs
 * enforce_fs_path): the roots listed are those that would have allowed
 * the operation. */
static bool violation(Vm *vm, const char *fn, bool write, const char *path, const char *abs,
                      const char *reason)
{
  const VmFsConfig *c = &vm->cfg.fs;
  Buf roots = {0};
  for (int i = 0; i < c->ngrants; i++) {
    if (write && !c->grants[i].write) continue;
    if (roots.len) buf_puts(&roots, ", ");
    buf_puts(&roots, c->grants[i].path);
  }
  record_denied(vm, fn, abs, reason);
  bool r = err_throw_str(vm, "sandbox violation: builtin '%s' attempted to %s '%s' outside workspace_roots [%s]",
                         fn, write ? "write" : "read", path, roots.data ? roots.data : "");
  buf_free(&roots);
  return r;
}

/* Resolve [path] for builtin [fn] ([write]: the operation writes). */
static bool resolve(Vm *vm, const char *fn, const char *path, bool write, Resolved *r)
{
  const VmFsConfig *c = &vm->cfg.fs;
  memset(r, 0, sizeof *r);
  if (c->mode == VM_FS_HOST) {
    r->dirfd = AT_FDCWD;
    r->rel = path;
    return true;
  }
  r->abs = path_absolute(c->cwd, path);
  const VmFsGrant *best = NULL;
  for (int i = 0; c->mode == VM_FS_GRANTS && i < c->ngrants; i++)
    if (beneath(r->abs, c->grants[i].path) && (!best || strlen(c->grants[i].path) > strlen(best->path)))
      best = &c->grants[i];
  if (!best) {
    bool ok = violation(vm, fn, write, path, r->abs, "outside the grants");
    resolved_free(r);
    return ok;
  }
  if (write && !best->write) {
    /* a read grant inside a write grant is read only there */
    bool ok = violation(vm, fn, true, path, r->abs, "not writable");
    resolved_free(r);
    return ok;
  }
  size_t n = strlen(best->path);
  const char *rel = r->abs + (n == 1 ? 1 : n);
  while (*rel == '/') rel++;
  r->rel = *rel ? rel : ".";
  r->dirfd = best->fd;
  r->grant = best;
  return true;
}

/* Open [r] with [flags] (O_CLOEXEC | O_NOCTTY added): beneath the grant in
 * GRANTS mode. An fd, or -1 with errno. */
static int open_at(Vm *vm, const Resolved *r, int flags, mode_t mode)
{
  flags |= O_CLOEXEC | O_NOCTTY;
  if (vm->cfg.fs.mode != VM_FS_GRANTS) return openat(r->dirfd, r->rel, flags, mode);
  struct {
    uint64_t flags, mode, resolve;
  } how = {(uint64_t)flags, (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0,
           RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  long fd;
  do fd = syscall(SYS_openat2, r->dirfd, r->rel, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return (int)fd;
}

/* A system call on [r] failed with [e]: record an escape the kernel
 * stopped (EXDEV: a symlink or mount that leads out of the grant), and
 * throw "[what] P: REASON". */
static bool fail_os(Vm *vm, const char *fn, const char *what, const char *path, const Resolved *r,
                    int e)
{
  char eb[160];
  if (e == EXDEV && vm->cfg.fs.mode == VM_FS_GRANTS) {
    record_denied(vm, fn, r->abs ? r->abs : path, "leads outside the grant (symlink)");
    return err_throw_str(vm, "%s %s: the path leads outside the granted directory %s (a symlink)",
                         what, path, r->grant ? r->grant->path : "");
  }
  return err_throw_str(vm, "%s %s: %s", what, path, os_error(e, eb, sizeof eb));
}

/* Read all of [fd] (a regular file or anything readable) into [b]; 0 or
 * an errno (EFBIG when it cannot be a string). */
static int read_all(Vm *vm, int fd, Buf *b)
{
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) return EISDIR;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !mem_fits(vm, (uint64_t)st.st_size + 1)) return EFBIG;
  char tmp[65536];
  for (;;) {
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return 0;
    if (!mem_fits(vm, (uint64_t)b->len + (uint64_t)n + 1)) return EFBIG;
    buf_append(b, tmp, (size_t)n);
  }
}

/* Read the file at [path] for [fn] into [b]; false with the error thrown
 * ("Failed to read file P: ..."). */
static bool read_path(Vm *vm, const char *fn, const char *path, Buf *b)
{
  Resolved r;
  if (!resolve(vm, fn, path, false, &r)) return false;
  int fd = open_at(vm, &r, O_RDONLY, 0);
  int e = fd < 0 ? errno : read_all(vm, fd, b);
  if (fd >= 0) close(fd);
  bool ok = e == 0 || fail_os(vm, fn, "Failed to read file", path, &r, e);
  resolved_free(&r);
  if (ok) {
    struct HostFs *h = hfs(vm);
    h->used = true;
    h->files_read++;
    h->bytes_read += b->len;
  } else {
    buf_free(b);
  }
  return ok;
}

/* ---- reading -------------------------------------------------------------------- */

bool fs_bi_read_file(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "read_file", argc, argv, 0, &path)) return false;
  Buf b = {0};
  if (!read_path(vm, "read_file", path, &b)) return false;
  *out = OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len));
  buf_free(&b);
  return true;
}

bool fs_bi_read_file_result(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "read_file_result", argc, argv, 0, &path)) return false;
  Buf b = {0};
  if (!read_path(vm, "read_file_result", path, &b)) {
    /* the thrown message becomes the Err; memory errors stay errors */
    if (vm->err_kind != ERR_THROWN) return false;
    Value msg = vm->err_value;
    err_clear(vm);
    *out = enum_err(vm, msg);
    return true;
  }
  Value s = OBJ_VAL(str_new(vm, b.data ? b.data : "", b.len));
  buf_free(&b);
  *out = enum_ok(vm, s);
  return true;
}

bool fs_bi_read_lines(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "read_lines", argc, argv, 0, &path)) return false;
  Buf b = {0};
  if (!read_path(vm, "read_lines", path, &b)) return false;
  ObjList *l = list_new(vm, 0);
  gc_push_root(vm, OBJ_VAL(l));
  /* Rust's str::lines: "\n" or "\r\n" ends a line; no empty last line */
  size_t i = 0;
  while (i < b.len) {
    const char *nl = memchr(b.data + i, '\n', b.len - i);
    size_t end = nl ? (size_t)(nl - b.data) : b.len, stop = end;
    if (nl && stop > i && b.data[stop - 1] == '\r') stop--;
    list_push(vm, l, OBJ_VAL(str_new(vm, b.data + i, stop - i)));
    i = nl ? end + 1 : b.len;
  }
  gc_pop_root(vm);
  buf_free(&b);
  *out = OBJ_VAL(l);
  return true;
}

bool fs_bi_file_exists(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "file_exists", argc, argv, 0, &path)) return false;
  Resolved r;
  if (!resolve(vm, "file_exists", path, false, &r)) return false;
  bool exists;
  if (vm->cfg.fs.mode == VM_FS_HOST) {
    struct stat st;
    exists = fstatat(AT_FDCWD, path, &st, 0) == 0;
  } else {
    /* no stat by path in the sandbox (Landlock does not cover it): an
     * open beneath the grant says whether it is there */
    int fd = open_at(vm, &r, O_RDONLY, 0);
    int e = errno;
    if (fd >= 0) close(fd);
    exists = fd >= 0 || e == EACCES || e == EPERM;
    if (fd < 0 && e == EXDEV) record_denied(vm, "file_exists", r.abs, "leads outside the grant (symlink)");
  }
  resolved_free(&r);
  *out = val_bool(exists);
  return true;
}

/* One directory's entries (names, d_type) through getdents64 on [fd]. */
typedef struct DirEnt {
  char *name;
  unsigned char type;
} DirEnt;

static int cmp_dirent(const void *a, const void *b)
{
  return strcmp(((const DirEnt *)a)->name, ((const DirEnt *)b)->name);
}

static void dirents_free(DirEnt *e, size_t n)
{
  for (size_t i = 0; i < n; i++) free(e[i].name);
  free(e);
}

/* The entries of directory [fd] but "." and "..", sorted by name. 0 or errno. */
static int read_dir(int fd, DirEnt **out, size_t *n)
{
  char buf[16384];
  DirEnt *v = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int e = errno;
      dirents_free(v, len);
      return e;
    }
    if (got == 0) break;
    for (long off = 0; off < got;) {
      struct {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[];
      } *d = (void *)(buf + off);
      off += d->reclen;
      if (!strcmp(d->name, ".") || !strcmp(d->name, "..")) continue;
      if (len == cap) {
        cap = cap ? 2 * cap : 16;
        DirEnt *nv = realloc(v, cap * sizeof *nv);
        if (!nv) abort();
        v = nv;
      }
      v[len].name = strdup(d->name);
      if (!v[len].name) abort();
      v[len].type = d->type;
      len++;
    }
  }
  if (len) qsort(v, len, sizeof *v, cmp_dirent);
  *out = v;
  *n = len;
  return 0;
}

bool fs_bi_list_dir(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path = ".";
  if (argc > 0 && !IS_NIL(argv[0]) && !path_arg(vm, "list_dir", argc, argv, 0, &path)) return false;
  Resolved r;
  if (!resolve(vm, "list_dir", path, false, &r)) return false;
  int fd = open_at(vm, &r, O_RDONLY | O_DIRECTORY, 0);
  DirEnt *e = NULL;
  size_t n = 0;
  int err = fd < 0 ? errno : read_dir(fd, &e, &n);
  if (fd >= 0) close(fd);
  if (err) {
    bool ok = fail_os(vm, "list_dir", "Failed to read directory", path, &r, err);
    resolved_free(&r);
    return ok;
  }
  resolved_free(&r);
  hfs(vm)->used = true;
  ObjList *l = list_new(vm, (uint32_t)n);
  gc_push_root(vm, OBJ_VAL(l));
  for (size_t i = 0; i < n; i++) list_push(vm, l, cstr_val(vm, e[i].name));
  gc_pop_root(vm);
  dirents_free(e, n);
  *out = OBJ_VAL(l);
  return true;
}

/* Is [r] a directory (following symlinks beneath the grant)? -1: does
 * not exist / cannot be opened. */
static int is_dir_at(Vm *vm, const Resolved *r)
{
  int fd = open_at(vm, r, O_RDONLY | O_DIRECTORY, 0);
  if (fd >= 0) {
    close(fd);
    return 1;
  }
  return errno == ENOTDIR ? 0 : -1;
}

bool fs_bi_stat(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "stat", argc, argv, 0, &path)) return false;
  Resolved r;
  if (!resolve(vm, "stat", path, false, &r)) return false;
  struct stat st;
  int e = 0;
  if (vm->cfg.fs.mode == VM_FS_HOST) {
    if (fstatat(AT_FDCWD, path, &st, 0) != 0) e = errno;
  } else {
    int fd = open_at(vm, &r, O_RDONLY, 0);
    if (fd < 0) e = errno;
    else if (fstat(fd, &st) != 0) e = errno;
    if (fd >= 0) close(fd);
  }
  if (e) {
    bool ok = fail_os(vm, "stat", "Failed to stat", path, &r, e);
    resolved_free(&r);
    return ok;
  }
  resolved_free(&r);
  hfs(vm)->used = true;
  ObjDict *d = dict_new(vm, 5);
  gc_push_root(vm, OBJ_VAL(d));
  dict_set_cstr(vm, d, "size", val_int((int64_t)st.st_size));
  dict_set_cstr(vm, d, "is_file", val_bool(S_ISREG(st.st_mode)));
  dict_set_cstr(vm, d, "is_dir", val_bool(S_ISDIR(st.st_mode)));
  dict_set_cstr(vm, d, "readonly", val_bool((st.st_mode & 0222) == 0));
  dict_set_cstr(vm, d, "modified", val_int((int64_t)st.st_mtim.tv_sec));
  gc_pop_root(vm);
  *out = OBJ_VAL(d);
  return true;
}

/* ---- writing -------------------------------------------------------------------- */

/* Would [n] more bytes stay within the job's write quota? Else throw. */
static bool quota(Vm *vm, const char *fn, const char *what, const char *path, const Resolved *r,
                  uint64_t n)
{
  uint64_t max = vm->cfg.fs.max_write_bytes;
  struct HostFs *h = hfs(vm);
  if (!max || h->bytes_written + n <= max) return true;
  record_denied(vm, fn, r->abs ? r->abs : path, "write quota exceeded");
  return err_throw_str(vm, "%s %s: write quota of %" PRIu64 " bytes exceeded", what, path, max);
}

/* Write [len] bytes of [data] to [fd]; 0 or errno. */
static int write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* write_file / append_file: [content] displayed (a string as it is). */
static bool write_common(Vm *vm, const char *fn, bool append, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, fn, argc, argv, 0, &path)) return false;
  Value c = arg(argc, argv, 1);
  ObjString *s = IS_STRING(c) ? AS_STRING(c) : val_to_string(vm, c);
  gc_push_root(vm, OBJ_VAL(s));
  Resolved r;
  bool ok = resolve(vm, fn, path, true, &r);
  if (ok) ok = quota(vm, fn, "Failed to write file", path, &r, s->len);
  if (ok) {
    int fd = open_at(vm, &r, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0666);
    int e = fd < 0 ? errno : write_all(fd, s->chars, s->len);
    if (fd >= 0) close(fd);
    if (e) ok = fail_os(vm, fn, "Failed to write file", path, &r, e);
    if (ok) {
      struct HostFs *h = hfs(vm);
      h->used = true;
      h->files_written++;
      h->bytes_written += s->len;
    }
  }
  resolved_free(&r);
  gc_pop_root(vm);
  if (ok) *out = val_nil();
  return ok;
}

bool fs_bi_write_file(Vm *vm, int argc, Value *argv, Value *out)
{
  return write_common(vm, "write_file", false, argc, argv, out);
}

bool fs_bi_append_file(Vm *vm, int argc, Value *argv, Value *out)
{
  return write_common(vm, "append_file", true, argc, argv, out);
}

bool fs_bi_copy_file(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *src, *dst;
  if (!path_arg(vm, "copy_file", argc, argv, 0, &src) || !path_arg(vm, "copy_file", argc, argv, 1, &dst))
    return false;
  Buf b = {0};
  if (!read_path(vm, "copy_file", src, &b)) return false;
  Resolved r;
  bool ok = resolve(vm, "copy_file", dst, true, &r);
  if (ok) ok = quota(vm, "copy_file", "Failed to copy file", dst, &r, b.len);
  if (ok) {
    int fd = open_at(vm, &r, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int e = fd < 0 ? errno : write_all(fd, b.data ? b.data : "", b.len);
    if (fd >= 0) close(fd);
    if (e) ok = fail_os(vm, "copy_file", "Failed to copy file", dst, &r, e);
    if (ok) {
      hfs(vm)->files_written++;
      hfs(vm)->bytes_written += b.len;
    }
  }
  resolved_free(&r);
  buf_free(&b);
  if (ok) *out = val_nil();
  return ok;
}

/* Remove [rel] beneath [dirfd] and, for a directory, what is in it (no
 * symlink followed: a link is removed, not its target). 0 or errno. */
static int remove_rel(Vm *vm, const Resolved *base, const char *rel, int depth)
{
  if (unlinkat(base->dirfd, rel, 0) == 0) return 0;
  if (errno != EISDIR && errno != EPERM) return errno;
  if (depth > MAX_DEPTH) return ELOOP;
  Resolved sub = *base;
  sub.rel = rel;
  int fd = open_at(vm, &sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
  if (fd < 0) return errno;
  DirEnt *e = NULL;
  size_t n = 0;
  int err = read_dir(fd, &e, &n);
  close(fd);
  for (size_t i = 0; !err && i < n; i++) {
    size_t l = strlen(rel) + strlen(e[i].name) + 2;
    char *child = malloc(l);
    if (!child) abort();
    snprintf(child, l, "%s/%s", rel, e[i].name);
    err = remove_rel(vm, base, child, depth + 1);
    free(child);
  }
  dirents_free(e, n);
  if (!err && unlinkat(base->dirfd, rel, AT_REMOVEDIR) != 0) err = errno;
  return err;
}

bool fs_bi_delete_file(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "delete_file", argc, argv, 0, &path)) return false;
  Resolved r;
  if (!resolve(vm, "delete_file", path, true, &r)) return false;
  bool ok = true;
  if (r.grant && !strcmp(r.rel, ".")) {
    /* a grant's root stays: it is the job's, not the program's */
    record_denied(vm, "delete_file", r.abs, "a granted directory itself");
    ok = err_throw_str(vm, "Failed to delete %s: a granted directory cannot be removed", path);
  } else {
    int e = remove_rel(vm, &r, r.rel, 0);
    if (e) ok = fail_os(vm, "delete_file", "Failed to delete", path, &r, e);
    else hfs(vm)->used = true;
  }
  resolved_free(&r);
  if (ok) *out = val_nil();
  return ok;
}

bool fs_bi_mkdir(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path;
  if (!path_arg(vm, "mkdir", argc, argv, 0, &path)) return false;
  Resolved r;
  if (!resolve(vm, "mkdir", path, true, &r)) return false;
  /* -p: each component in turn (an existing directory is fine) */
  char *rel = strdup(r.rel);
  if (!rel) abort();
  int e = 0;
  size_t len = strlen(rel);
  for (size_t i = 1; i <= len && !e; i++) {
    if (rel[i] != '/' && rel[i] != 0) continue;
    char c = rel[i];
    rel[i] = 0;
    if (mkdirat(r.dirfd, rel, 0777) != 0) {
      int m = errno;
      Resolved p = r;
      p.rel = rel;
      if (m != EEXIST) e = m;
      else if (is_dir_at(vm, &p) != 1) e = EEXIST;
    }
    rel[i] = c;
  }
  free(rel);
  bool ok = !e || fail_os(vm, "mkdir", "Failed to create directory", path, &r, e);
  if (ok && !e) hfs(vm)->used = true;
  resolved_free(&r);
  if (ok) *out = val_nil();
  return ok;
}

bool fs_bi_move_file(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *src, *dst;
  if (!path_arg(vm, "move_file", argc, argv, 0, &src) || !path_arg(vm, "move_file", argc, argv, 1, &dst))
    return false;
  Resolved a, b;
  if (!resolve(vm, "move_file", src, true, &a)) return false;
  if (!resolve(vm, "move_file", dst, true, &b)) {
    resolved_free(&a);
    return false;
  }
  bool ok = true;
  if (a.dirfd == b.dirfd) {
    long rc;
    do rc = syscall(SYS_renameat2, a.dirfd, a.rel, b.dirfd, b.rel, 0);
    while (rc < 0 && errno == EINTR);
    if (rc != 0) ok = fail_os(vm, "move_file", "Failed to move file", src, &a, errno);
  } else {
    /* across grants: copy, then remove (the filter allows renameat2 only
     * within one grant's descriptor) */
    resolved_free(&a);
    resolved_free(&b);
    Value cargv[2] = {argv[0], argv[1]};
    if (!fs_bi_copy_file(vm, 2, cargv, out)) return false;
    return fs_bi_delete_file(vm, 1, cargv, out);
  }
  if (ok) hfs(vm)->used = true;
  resolved_free(&a);
  resolved_free(&b);
  if (ok) *out = val_nil();
  return ok;
}

/* ---- walking ----------------------------------------------------------------------- */

/* Append "[prefix]/name" for everything beneath [rel] (depth-first,
 * sorted) to [l]; dirs too. Symlinks are not followed. 0 or errno. */
static int walk(Vm *vm, const Resolved *base, const char *rel, const char *shown, int depth,
                int max_depth, ObjList *l)
{
  if (max_depth >= 0 && depth >= max_depth) return 0;
  if (depth > MAX_DEPTH) return ELOOP;
  Resolved sub = *base;
  sub.rel = rel;
  int fd = open_at(vm, &sub, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return errno;
  DirEnt *e = NULL;
  size_t n = 0;
  int err = read_dir(fd, &e, &n);
  close(fd);
  for (size_t i = 0; !err && i < n; i++) {
    size_t lr = strlen(rel) + strlen(e[i].name) + 2, ls = strlen(shown) + strlen(e[i].name) + 2;
    char *crel = malloc(lr), *cshown = malloc(ls);
    if (!crel || !cshown) abort();
    snprintf(crel, lr, "%s/%s", rel, e[i].name);
    if (!strcmp(shown, ".")) snprintf(cshown, ls, "%s", e[i].name);
    else snprintf(cshown, ls, "%s%s%s", shown, shown[strlen(shown) - 1] == '/' ? "" : "/", e[i].name);
    list_push(vm, l, cstr_val(vm, cshown));
    if (e[i].type == DT_DIR) err = walk(vm, base, crel, cshown, depth + 1, max_depth, l);
    free(crel);
    free(cshown);
  }
  dirents_free(e, n);
  return err;
}

bool fs_bi_walk_dir(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *path = ".";
  if (argc > 0 && !IS_NIL(argv[0]) && !path_arg(vm, "walk_dir", argc, argv, 0, &path)) return false;
  int max_depth = -1;
  Value opts = arg(argc, argv, 1);
  Value md;
  if (IS_OBJ_TYPE(opts, OBJ_DICT) && dict_get_cstr(AS_DICT(opts), "max_depth", &md) && IS_INT(md))
    max_depth = md.as.i < 0 ? 0 : md.as.i > MAX_DEPTH ? MAX_DEPTH : (int)md.as.i;
  Resolved r;
  if (!resolve(vm, "walk_dir", path, false, &r)) return false;
  ObjList *l = list_new(vm, 0);
  gc_push_root(vm, OBJ_VAL(l));
  int e = walk(vm, &r, r.rel, path, 0, max_depth, l);
  gc_pop_root(vm);
  bool ok = !e || fail_os(vm, "walk_dir", "Failed to read directory", path, &r, e);
  resolved_free(&r);
  if (!ok) return false;
  hfs(vm)->used = true;
  *out = OBJ_VAL(l);
  return true;
}

/* Does path [p] (components separated by '/') match glob [g]? "**" as a
 * whole component matches any number of components; other components
 * match with fnmatch (a leading dot only explicitly). */
static bool glob_match(const char *g, const char *p)
{
  for (;;) {
    size_t gl = strcspn(g, "/"), pl = strcspn(p, "/");
    if (gl == 2 && g[0] == '*' && g[1] == '*') {
      /* zero or more components, none of them hidden */
      const char *rest = g[2] ? g + 3 : "";
      for (const char *q = p;;) {
        if (*rest ? glob_match(rest, q) : (*q && *q != '.' && !strchr(q, '/')) || !*q) return true;
        if (*q == '.') return false;
        q += strcspn(q, "/");
        if (!*q) return false;
        q++;
      }
    }
    char gs[NAME_MAX + 1], ps[NAME_MAX + 1];
    if (gl > NAME_MAX || pl > NAME_MAX) return false;
    memcpy(gs, g, gl);
    gs[gl] = 0;
    memcpy(ps, p, pl);
    ps[pl] = 0;
    if (fnmatch(gs, ps, FNM_PERIOD) != 0) return false;
    g += gl;
    p += pl;
    if (!*g || !*p) return !*g && !*p;
    g++;
    p++;
  }
}

static int cmp_cstr(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* glob(pattern, base_or_opts?, opts?): the paths beneath base (default
 * ".") that match [pattern] (*, ?, [..], ** for any depth), sorted; each
 * as base/path, or path for base ".". */
bool fs_bi_glob(Vm *vm, int argc, Value *argv, Value *out)
{
  Value pv = arg(argc, argv, 0);
  if (!IS_STRING(pv)) return err_type(vm, "glob: the pattern must be a string, got %s", val_type_name(pv));
  const char *pattern = AS_CSTR(pv);
  const char *base = ".";
  Value b = arg(argc, argv, 1);
  if (IS_STRING(b) && !path_arg(vm, "glob", argc, argv, 1, &base)) return false;
  /* how deep to look: the pattern's components, or all the way for ** */
  int depth = 1;
  for (const char *c = pattern; *c; c++) depth += *c == '/';
  if (strstr(pattern, "**")) depth = MAX_DEPTH;
  Resolved r;
  if (!resolve(vm, "glob", base, false, &r)) return false;
  ObjList *all = list_new(vm, 0);
  gc_push_root(vm, OBJ_VAL(all));
  int e = walk(vm, &r, r.rel, ".", 0, depth, all);
  bool ok = !e || fail_os(vm, "glob", "Failed to read directory", base, &r, e);
  resolved_free(&r);
  if (!ok) {
    gc_pop_root(vm);
    return false;
  }
  /* the matches, sorted */
  const char **hit = malloc((all->count + 1) * sizeof *hit);
  if (!hit) abort();
  uint32_t nhit = 0;
  for (uint32_t i = 0; i < all->count; i++)
    if (glob_match(pattern, AS_CSTR(all->items[i]))) hit[nhit++] = AS_CSTR(all->items[i]);
  qsort(hit, nhit, sizeof *hit, cmp_cstr);
  ObjList *l = list_new(vm, nhit);
  gc_push_root(vm, OBJ_VAL(l));
  bool dot = !strcmp(base, ".");
  for (uint32_t i = 0; i < nhit; i++) {
    const char *p = hit[i];
    if (dot) {
      list_push(vm, l, cstr_val(vm, p));
    } else {
      ObjString *s = str_printf(vm, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", p);
      list_push(vm, l, OBJ_VAL(s));
    }
  }
  free(hit);
  gc_pop_root(vm);
  gc_pop_root(vm);
  hfs(vm)->used = true;
  *out = OBJ_VAL(l);
  return true;
}

/* ---- paths -------------------------------------------------------------------------- */

static const char *host_cwd(Vm *vm, char *buf, size_t n)
{
  if (vm->cfg.fs.mode == VM_FS_HOST) return getcwd(buf, n) ? buf : ".";
  return vm->cfg.fs.cwd ? vm->cfg.fs.cwd : "/";
}

bool fs_bi_cwd(Vm *vm, int argc, Value *argv, Value *out)
{
  char buf[PATH_MAX];
  *out = cstr_val(vm, host_cwd(vm, buf, sizeof buf));
  return true;
}

/* source_dir(): the host's value, else the entry program's directory
 * (absolute), else cwd(); malloc'd. */
static char *source_dir_of(Vm *vm)
{
  char buf[PATH_MAX];
  const char *cwd = host_cwd(vm, buf, sizeof buf);
  const char *d = vm->cfg.fs.source_dir;
  if (d && *d) return path_absolute(cwd, d);
  const char *p = vm->interp ? vm->interp->path : NULL;
  if (!p || !*p || p[0] == '<') return path_absolute(cwd, ".");
  char *abs = path_absolute(cwd, p);
  char *slash = strrchr(abs, '/');
  if (slash == abs) slash[1] = 0;
  else *slash = 0;
  return abs;
}

bool fs_bi_source_dir(Vm *vm, int argc, Value *argv, Value *out)
{
  char *d = source_dir_of(vm);
  *out = cstr_val(vm, d);
  free(d);
  return true;
}

/* The nearest directory at or above source_dir() holding harn.toml (the
 * reference's project marker), else source_dir(). In the sandbox only
 * directories beneath a read grant are looked at. */
bool fs_bi_project_root(Vm *vm, int argc, Value *argv, Value *out)
{
  char *d = source_dir_of(vm);
  char *dir = strdup(d);
  if (!dir) abort();
  char *found = NULL;
  for (;;) {
    size_t l = strlen(dir) + 11;
    char *marker = malloc(l);
    if (!marker) abort();
    snprintf(marker, l, "%s/harn.toml", strcmp(dir, "/") ? dir : "");
    bool hit = false;
    if (vm->cfg.fs.mode == VM_FS_HOST) {
      hit = access(marker, F_OK) == 0;
    } else if (vm->cfg.fs.mode == VM_FS_GRANTS) {
      const VmFsConfig *c = &vm->cfg.fs;
      for (int i = 0; i < c->ngrants && !hit; i++)
        if (beneath(marker, c->grants[i].path)) {
          Resolved r = {c->grants[i].fd, marker + strlen(c->grants[i].path) + 1, NULL, &c->grants[i]};
          int fd = open_at(vm, &r, O_RDONLY, 0);
          if (fd >= 0) close(fd);
          hit = fd >= 0;
        }
    }
    free(marker);
    if (hit) {
      found = dir;
      break;
    }
    if (!strcmp(dir, "/")) break;
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else *slash = 0;
  }
  *out = cstr_val(vm, found ? found : d);
  free(dir);
  free(d);
  return true;
}

bool fs_bi_temp_dir(Vm *vm, int argc, Value *argv, Value *out)
{
  const char *s = vm->cfg.fs.scratch;
  if (!s || !*s) {
    s = vm->cfg.fs.mode == VM_FS_HOST ? getenv("TMPDIR") : NULL;
    if (!s || !*s) s = "/tmp";
  }
  *out = cstr_val(vm, s);
  return true;
}

/* ---- environment ------------------------------------------------------------------ */

/* The value of [name] for env(): the job's granted variables (data from
 * the job frame), or the process environment in trusted modes. */
static const char *env_lookup(Vm *vm, const char *name)
{
  const VmFsConfig *c = &vm->cfg.fs;
  size_t n = strlen(name);
  for (int i = 0; i < c->nenv; i++)
    if (!strncmp(c->env[i], name, n) && c->env[i][n] == '=') return c->env[i] + n + 1;
  return c->env_host ? getenv(name) : NULL;
}

bool fs_bi_env(Vm *vm, int argc, Value *argv, Value *out)
{
  Value n = arg(argc, argv, 0);
  if (!IS_STRING(n)) {
    *out = val_nil();
    return true;
  }
  const char *v = env_lookup(vm, AS_CSTR(n));
  *out = v ? cstr_val(vm, v) : val_nil();
  return true;
}

bool fs_bi_env_or(Vm *vm, int argc, Value *argv, Value *out)
{
  Value n = arg(argc, argv, 0);
  const char *v = IS_STRING(n) ? env_lookup(vm, AS_CSTR(n)) : NULL;
  *out = v ? cstr_val(vm, v) : arg(argc, argv, 1);
  return true;
}

