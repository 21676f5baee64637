/*
 * host_fs.h: the file and environment builtins (host_fs.c), registered in
 * builtins.c's table, and the state they keep per VM.
 */
#ifndef HARN_HOST_FS_H
#define HARN_HOST_FS_H

#include "builtins.h"

bool fs_bi_read_file(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_read_file_result(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_read_lines(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_file_exists(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_list_dir(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_stat(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_write_file(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_append_file(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_copy_file(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_delete_file(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_mkdir(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_move_file(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_glob(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_walk_dir(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_cwd(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_source_dir(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_project_root(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_temp_dir(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_env(Vm *vm, int argc, Value *argv, Value *out);
bool fs_bi_env_or(Vm *vm, int argc, Value *argv, Value *out);

/* vm_new: the table of denied builtins (VmFsConfig.deny). */
void hostfs_setup(Vm *vm);
/* The error of a call to denied builtin [idx]: `Tool 'X' is not
 * permitted.` (thrown, as the reference's). Returns false. */
bool hostfs_denied(Vm *vm, int idx);
/* Free what the file builtins kept in [vm] (vm_free). */
void hostfs_free(Vm *vm);

#endif
