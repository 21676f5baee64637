/*
 * path.h: paths normalised lexically, the one way the tree does it.
 *
 * "." and empty components and trailing slashes are dropped and "x/.."
 * folded, without asking the file system (a symlink keeps the name it was
 * given by, as the shell's `cd -L` and POSIX `realpath -s` do). Used for
 * job ids (supervisor/jobid.c), grants (supervisor/grants.c) and the
 * file builtins' lexical check (vm/host_fs.c): the kernel enforces what
 * matters (Landlock, RESOLVE_BENEATH); these must agree with each other.
 */
#ifndef HARN_BASE_PATH_H
#define HARN_BASE_PATH_H

/* [path] normalised; a relative path stays relative (a leading ".." is
 * kept, "" and "x/.." become "."), an absolute one absolute ("/.." is
 * "/"). malloc'd; aborts on out-of-memory. */
char *path_normal(const char *path);

/* [path] made absolute against [cwd] (used when [path] is relative; NULL
 * or a relative [cwd] counts as "/") and normalised. malloc'd. */
char *path_absolute(const char *cwd, const char *path);

#endif
