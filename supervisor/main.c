/*
 * main.c: the `harn` command line: dispatch to a subcommand.
 *
 *   harn run FILE [...]        through the supervisor and one worker
 *   harn run --inline FILE     in this process
 *   harn batch SOURCE... [...] many jobs under the supervisor
 *   harn verify SOURCE... --results FILE...   one record per attempt?
 *   harn test PATH...          language tests
 *   harn check FILE            compile only
 *   harn disasm FILE           print bytecode
 *   harn submit, runner, jobs, db   the job runner on PostgreSQL (docs/runner.md)
 *   harn worker                internal: the worker process entry point
 *   harn help [COMMAND], harn COMMAND --help, harn --version   (help.c)
 *   harn help --man TEMPLATE, harn completion bash|zsh   hidden: the man
 *                              page and completions, for the build (cli_gen.c)
 *
 * The documented commands' arguments are parsed by options.c, from the one
 * option table. Exit code 2 is a usage error everywhere (PRODUCT.md).
 *
 * Before anything else, fds 0, 1 and 2 are made open (on /dev/null when
 * closed): otherwise the first descriptor harn opens would take the place
 * of a standard one (libuv's epoll fd as "stderr"; in the zygote, a
 * request's fds one place too low).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "supervisor/cli.h"
#include "supervisor/options.h"
#include "supervisor/supervisor.h"
#include "worker/worker.h"

/* jemalloc's options (read at its first allocation; MALLOC_CONF adds to
 * them): keep freed blocks of up to 8 MiB, the most it allows, in the
 * thread cache instead of the default 32 KiB. A job allocates a few large
 * blocks (the VM's 4 MiB value stack, the parser's 64 KiB arena blocks);
 * the zygote's warm-up job leaves them in its cache, so each worker it
 * clones gets them back without walking the arena's extents, which also
 * spares it the copy-on-write faults on that bookkeeping: -4% CPU per
 * trivial job (task-clock, `harn batch`; docs/performance.md). Unused in
 * builds without jemalloc. */
const char *malloc_conf = "tcache_max:8388608";

/* Open /dev/null on each of fds 0-2 that is closed. */
static void standard_fds(void)
{
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int n = open("/dev/null", O_RDWR);
    if (n >= 0 && n != fd) close(n); /* cannot happen: fd is the lowest free */
  }
}

/* A documented command: its arguments parsed with the option table
 * (options.c), -h/--help answered, then the command itself. */
static int command(const char *cmd, int argc, char **argv)
{
  /* --log-format json before the options are parsed, so that their own
   * errors are JSON lines too (the value is checked below) */
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--log-format=json") ||
        (!strcmp(argv[i], "--log-format") && i + 1 < argc && !strcmp(argv[i + 1], "json"))) {
      static char who[32];
      snprintf(who, sizeof who, "harn %s", cmd);
      if (sup_log_json_start(who) < 0) fprintf(stderr, "harn %s: cannot start the JSON log\n", cmd);
      break;
    }
  CliArgs a;
  int rc = cli_parse(cmd, argc, argv, &a);
  const char *lf = a.opt[CLI_OPT_LOG_FORMAT].text;
  if (rc == 0 && lf && strcmp(lf, "text") && strcmp(lf, "json"))
    rc = cli_bad_value(&a, CLI_OPT_LOG_FORMAT, "is not text or json");
  if (rc == CLI_HELP) rc = cli_help(cmd, stdout);
  else if (rc == 0 && !strcmp(cmd, "run"))
    rc = a.opt[CLI_OPT_INLINE].given ? cli_run_inline(&a) : sup_cmd_run(&a);
  else if (rc == 0 && !strcmp(cmd, "batch")) rc = sup_cmd_batch(&a);
  else if (rc == 0 && !strcmp(cmd, "verify")) rc = sup_cmd_verify(&a);
  else if (rc == 0 && !strcmp(cmd, "test")) rc = cli_test(&a);
  else if (rc == 0 && !strcmp(cmd, "check")) rc = cli_check(&a);
  else if (rc == 0 && !strcmp(cmd, "db")) rc = cli_db(&a);
  else if (rc == 0 && !strcmp(cmd, "submit")) rc = cli_submit(&a);
  else if (rc == 0 && !strcmp(cmd, "jobs")) rc = cli_jobs(&a);
  else if (rc == 0 && !strcmp(cmd, "queues")) rc = cli_queues(&a);
  else if (rc == 0 && !strcmp(cmd, "runner")) rc = sup_cmd_runner(&a);
  else if (rc == 0) rc = cli_disasm(&a);
  cli_args_free(&a);
  return rc;
}

int main(int argc, char **argv)
{
  standard_fds();
  if (argc < 2) {
    cli_help(NULL, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  /* hidden: what the build generates the man page and completions with
   * (cli_gen.c, docs/man/generate.cmake) */
  if (strcmp(cmd, "help") == 0 && argc > 2 && strcmp(argv[2], "--man") == 0) {
    if (argc != 4) {
      fprintf(stderr, "usage: harn help --man TEMPLATE\n");
      return 2;
    }
    return cli_close_stdout("harn help", cli_man(argv[3], stdout), 0);
  }
  if (strcmp(cmd, "completion") == 0)
    return argc == 3 ? cli_close_stdout("harn completion", cli_completion(argv[2], stdout), 0)
                     : cli_completion(NULL, stdout);
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
    return cli_help(argc > 2 ? argv[2] : NULL, stdout);
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0)
    return cli_version();
  if (cli_command(cmd)) return command(cmd, sub_argc, sub_argv);
  if (strcmp(cmd, "worker") == 0) return wrk_main(sub_argc, sub_argv);
  fprintf(stderr, "harn: unknown command '%s' (harn help lists them)\n", cmd);
  return 2;
}
