/*
 * cli_inline.c: `harn run --inline` and `harn disasm` (and the file reader
 * of `harn check`, cli_check.c): the commands that run the VM inside the
 * calling process.
 *
 * Output goes straight to this process's stdout as the program produces it
 * (line-buffered, so nothing printed is lost if the process is killed); an
 * uncaught error's diagnostic goes to stderr after it (docs/LANGUAGE.md 10.3,
 * 16). Nothing here forks: this is the debugging and benchmarking path.
 *
 * Signals and deadlines without a supervisor (docs/RUNTIME.md 5.1, 5.6): SIGINT,
 * SIGTERM and SIGHUP only call vm_interrupt(), so the VM cancels at its next
 * safe point. `--timeout DUR` arms a one-shot SIGALRM that does the same with
 * SIGTERM. If the program is still running `--grace DUR` (default 250 ms)
 * after the first of these, the process exits 137 on its own, as the
 * supervisor's SIGKILL would (GNU `timeout -k`); the VM knows that grace
 * (VmJobConfig.grace_ms) and stops on its own 25 ms before, as a worker
 * does, so the exit 137 is only for a VM stuck outside its safe points
 * (a long builtin). Exit codes as `harn run`:
 * 124 deadline, 130 SIGINT, 128+N for another signal, 137 hard kill.
 */
#include "cli.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/defaults.h"
#include "supervisor/sup_internal.h"
#include "vm/vm.h"

char *cli_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  /* a regular file says its size: no need to read 64 MiB of a larger one */
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > SUP_MAX_PROGRAM) {
    fclose(f);
    errno = EFBIG;
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *data = malloc(cap);
  if (!data) {
    fclose(f);
    return NULL;
  }
  /* at most SUP_MAX_PROGRAM + 1 bytes are read: one past the cap tells */
  for (;;) {
    if (n + 1 >= cap) {
      if (n > SUP_MAX_PROGRAM) break;
      cap = cap * 2 < SUP_MAX_PROGRAM + 2 ? cap * 2 : SUP_MAX_PROGRAM + 2;
      char *p = realloc(data, cap);
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
  if (n > SUP_MAX_PROGRAM) {
    free(data);
    errno = EFBIG;
    return NULL;
  }
  data[n] = 0;
  if (len) *len = n;
  return data;
}

/* The program path of FILE ([a]'s one operand): `-` is the program on stdin. */
static const char *program_path(const CliArgs *a)
{
  return strcmp(a->operands[0], "-") == 0 ? "/dev/stdin" : a->operands[0];
}

/* Signal state of the one inline run (handlers only touch these). */
static Vm *volatile running_vm;
static volatile sig_atomic_t first_signal, timed_out, grace_armed;
static double grace_ms_setting;

static void arm_alarm(double ms)
{
  struct itimerval it = {{0, 0}, {(time_t)(ms / 1000), (suseconds_t)((long)ms % 1000) * 1000}};
  if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0) it.it_value.tv_usec = 1;
  setitimer(ITIMER_REAL, &it, NULL);
}

/* SIGINT/SIGTERM/SIGHUP/SIGALRM: ask the VM to cancel; the first one also
 * starts the grace, whose own SIGALRM ends the process (async-signal-safe:
 * flags, vm_interrupt, setitimer and _exit only). */
static void on_signal(int sig)
{
  if (sig == SIGALRM) {
    if (grace_armed) {
      static const char msg[] = "harn: killed after the grace period\n";
      ssize_t w = write(2, msg, sizeof msg - 1);
      (void)w;
      _exit(137);
    }
    timed_out = 1;
    sig = SIGTERM;
  }
  if (!first_signal) {
    first_signal = sig;
    grace_armed = 1;
    arm_alarm(grace_ms_setting);
  }
  if (running_vm) vm_interrupt(running_vm, sig);
}

int cli_run_inline(const CliArgs *args)
{
  int rc = cli_only(args, CLI_CMD_INLINE, "--inline");
  if (rc) return rc;
  struct {
    const char *file, *input;
    double timeout_ms, grace_ms; /* timeout 0: none */
  } a = {program_path(args), NULL, args->opt[CLI_OPT_TIMEOUT].ms, args->opt[CLI_OPT_GRACE].ms};
  char *args_json;
  a.input = cli_run_input(args, &args_json, &rc);
  if (rc) return rc;
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* the VM stops on its own 25 ms before our exit 137 (docs/RUNTIME.md 5.6),
   * so an in-flight sleep fails with the cancelled error, not a kill */
  VmConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.job.grace_ms = (int64_t)a.grace_ms;
  cfg.fs.mode = VM_FS_HOST; /* trusted: the file builtins act on the host */
  cfg.fs.env_host = true;
  Vm *vm = vm_new(&cfg);
  running_vm = vm;
  grace_ms_setting = a.grace_ms;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  if (a.timeout_ms > 0) arm_alarm(a.timeout_ms);

  VmStatus st = vm_run_file(vm, a.file, a.input);

  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  running_vm = NULL;
  fflush(stdout);
  int code;
  if (st != VM_OK) {
    vm_print_diagnostic(vm_diagnostic(vm), stderr);
    code = 1;
  } else {
    code = vm_exit_code(vm);
    /* A pipeline that returned Err(msg): msg on stderr, exit 1. */
    if (code != 0 && vm_error_text(vm) && *vm_error_text(vm))
      fprintf(stderr, "%s\n", vm_error_text(vm));
  }
  if (first_signal) code = timed_out ? HARN_EXIT_TIMEOUT : HARN_EXIT_SIGNAL_BASE + first_signal;
  vm_free(vm);
  free(args_json);
  return cli_close_stdout("harn run", code, 0);
}

/* Shared body of check and disasm. */
static int compile_only(const CliArgs *a, bool disasm)
{
  const char *file = program_path(a);
  size_t len;
  char *src = cli_read_file(file, &len);
  if (!src) {
    fprintf(stderr, "error: cannot read %s: %s\n", file,
            errno == EFBIG ? "more than 64 MiB" : strerror(errno));
    return 1;
  }
  Vm *vm = vm_new(NULL);
  char *text = NULL;
  VmStatus st = disasm ? vm_disasm_source(vm, file, src, len, &text)
                       : vm_check_source(vm, file, src, len);
  if (st != VM_OK) {
    vm_print_diagnostic(vm_diagnostic(vm), stderr);
  } else if (text) {
    fputs(text, stdout);
  }
  free(text);
  vm_free(vm);
  free(src);
  return cli_close_stdout(disasm ? "harn disasm" : "harn check", st == VM_OK ? 0 : 1, 0);
}

int cli_disasm(const CliArgs *a) { return compile_only(a, true); }
