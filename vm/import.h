/*
 * import.h: the modules of one run (docs/LANGUAGE.md 9.2) -- where an import
 * path leads, loading and compiling each module file once, the names a
 * module exports, and the source text of every file for diagnostics.
 *
 * Model: imports are resolved while compiling. When the compiler meets
 * `import "p"` it calls imp_load(), which finds the file (relative to the
 * importing file's directory, `.harn` appended; `std/...` from the sources
 * embedded in the binary), parses it and compiles it with
 * comp_compile_module() into the module's own namespace (see the design
 * comment of compiler.c). The first import site calls the module's top
 * level (so it runs once per run, before the importer's own code, which is
 * exactly when the import statement runs: imports run first); every
 * import site then copies the exported values into the importer's
 * namespace.
 *
 * Invariants: one ImpModule per canonical path per run; module 0 is the
 * entry program; a module is IMP_LOADING while it is being compiled, so
 * meeting it again then is an import cycle. Everything here is malloc'd
 * and lives until imp_reset()/imp_free() (the next run or vm_free), so the
 * diagnostic of an uncaught error can show lines of any file.
 */
#ifndef HARN_IMPORT_H
#define HARN_IMPORT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>

#include "value.h"

/* How the VM opens a program or module file (read-only, O_NOCTTY,
 * O_CLOEXEC): the only form of open() a sandboxed worker's pool filter
 * lets through before its lock-down (docs/sandbox.md "The pool filter").
 * O_NOCTTY changes nothing for a regular file. */
#define IMP_OPEN_FLAGS (O_RDONLY | O_NOCTTY | O_CLOEXEC)

/* One name a module offers: its source name and the global slot (in the
 * module's namespace) that holds the value once the module ran. */
typedef struct ImpName {
  char *name;
  int global;
  int origin;           /* global of the original definition: a name that
                           arrives twice from the same origin (a module
                           imported twice, a re-export) is no collision */
} ImpName;

typedef struct ImpNames {
  ImpName *items;
  int count, cap;
} ImpNames;

enum { IMP_LOADING, IMP_DONE };

typedef struct ImpModule {
  int id;               /* 0 = the entry program, then 1, 2... in load order */
  char *key;            /* "@dev:ino" of the file, its path when it could not be opened, or "std/<name>" */
  char *file;           /* the name traces show: resolved path, "std/x.harn" */
  char *source;         /* NUL-terminated text of the file */
  size_t source_len;
  int state;            /* IMP_LOADING / IMP_DONE */
  bool has_pub;         /* some top-level declaration is `pub` */
  ImpNames exports;     /* what a plain `import` binds */
  ImpNames defined;     /* what a selective import may name (top level +
                           re-exports) */
  ObjFunction *main_fn; /* compiled top level */
  bool called;          /* an import site already calls main_fn */
} ImpModule;

/* An embedded std/ module (generated from the .harn files of vm/std/ at
 * build time by vm/std/embed.cmake). */
typedef struct ImpStdModule {
  const char *name;     /* "math" for std/math */
  const unsigned char *source;
  size_t len;
} ImpStdModule;

extern const ImpStdModule imp_std_modules[];
extern const int imp_std_count;

/* Forget every module of the previous run (start of a run). */
void imp_reset(Vm *vm);
/* Release the registry (vm_free). */
void imp_free(Vm *vm);

/* Register the entry program [path] (module 0; a copy of [src] is kept
 * for diagnostics) under [key] (imp_read_file's), or NULL: then the file
 * at [path] is opened for its key, if there is one. Importing it from a
 * module is an import cycle. */
void imp_register_entry(Vm *vm, const char *key, const char *path, const char *src, size_t len);

/* Read the file open at [fd] into [out] and close [fd]: a regular file,
 * or with [any_kind] also a pipe or a device (`harn run /dev/stdin`); at
 * most 64 MiB either way, so that /dev/zero cannot hang the compiler.
 * When [key] is not NULL, *key gets the file's identity ("@dev:ino", the
 * registry's key; malloc'd). false with errno on failure (EINVAL: not a
 * regular file, or too big). */
bool imp_read_file(int fd, bool any_kind, Buf *out, char **key);

/* Resolve [path] (as written in an import of the file [importer_file]),
 * then load, parse and compile the module unless it was loaded before in
 * this run. Returns the module (state IMP_DONE), or NULL with the error
 * text (without the `Runtime error: ` prefix, e.g. `Unknown stdlib module:
 * std/x`) copied into [err] ([errlen] bytes). */
ImpModule *imp_load(Vm *vm, const char *importer_file, const char *path, char *err,
                    size_t errlen);

/* Add [name] (global [global], first defined in global [origin]) to
 * [names] unless it is there already. */
void imp_names_add(ImpNames *names, const char *name, int global, int origin);
/* The entry named [name] in [names], or NULL. */
const ImpName *imp_names_find(const ImpNames *names, const char *name);

/* The source text of [file] (a module's display name), or NULL. */
const char *imp_source_of(Vm *vm, const char *file);

/* The embedded source of std/[name], or NULL (sets *len). */
const char *imp_std_source(const char *name, size_t *len);

#endif
