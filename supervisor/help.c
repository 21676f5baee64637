/*
 * help.c: `harn help [COMMAND]`, `harn COMMAND --help` and `harn --version`.
 *
 * One text per command, on stdout, exit 0: what a user reads before the
 * first run. Each is a digest of docs/cli.md (the reference, with the
 * record fields, the journal and the process model). The option lines are
 * generated from the option table (options.c), whose names the unit test
 * test_cli_options checks against docs/cli.md; the text around them is
 * here. Usage errors are reported by options.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ipc/ipc.h"
#include "supervisor/cli.h"
#include "supervisor/options.h"
#include "vm/vm.h"

#ifndef HARN_VERSION
#define HARN_VERSION "unknown"
#endif

/* `harn help`: the commands of the option table's list (options.c), then
 * the two that take no options. */
static void help_top(FILE *out)
{
  fputs("usage: harn COMMAND [ARGS]\n\n", out);
  for (size_t i = 0; cli_command_at(i); i++)
    fprintf(out, "  %-20s %s\n", cli_command_at(i)->synopsis, cli_command_at(i)->summary);
  fputs("  help [COMMAND]       this text, or a command's options (also: COMMAND --help);\n"
        "                       help builtins: the builtin functions\n"
        "  version              the version and the worker protocol's version\n"
        "\n"
        "DUR is 250ms, 5s, 1.5s, 2m, 1h or plain seconds (5); BYTES is a count with\n"
        "an optional K, M or G suffix. Reference: man harn (harn(1)), docs/cli.md.\n",
        out);
}

/* Each command's text around its options: the usage line and what it
 * does (before), its exit codes (after). The option lines between them are
 * generated from the option table (cli_options_help). */
static const struct {
  const char *name, *before, *after;
} texts[] = {
    {"run",
     "usage: harn run FILE [OPTIONS]\n"
     "\n"
     "Run one pipeline in a fresh worker process, sandboxed, under the supervisor.\n"
     "Its output streams to stdout; an uncaught error is rendered on stderr.\n",
     "Exit: 0 ok (or the int the pipeline returned), 1 script error or crashed\n"
     "worker, 2 usage, 124 deadline, 130 Ctrl-C, 137 killed after the grace.\n"},
    {"batch",
     "usage: harn batch SOURCE... [OPTIONS]\n"
     "\n"
     "Run every job of the sources, up to -j at a time, each in its own fresh\n"
     "sandboxed worker, and write one JSON record per attempt. A SOURCE is a\n"
     ".harn file, a directory (every .harn file under it, sorted), a JSON Lines\n"
     "manifest: {\"id\": ..., \"file\" or \"source\": ..., \"input\", \"timeout\", ...},\n"
     "or - (stdin; also a pipe or FIFO): manifest lines or paths, read as they come.\n",
     "Exit: 0 when every job's last attempt ended ok, 1 otherwise, 2 usage,\n"
     "130 after Ctrl-C (every started attempt still gets its record).\n"},
    {"verify",
     "usage: harn verify SOURCE... --results FILE [--results FILE]... [OPTIONS]\n"
     "\n"
     "Check, without running anything, that the results files (of the shards of a\n"
     "batch, say) hold exactly one terminal record per attempt of every job of the\n"
     "sources (attempts 1..n) and nothing else. Findings go to stdout, one a line:\n"
     "missing, duplicate, gap, stray, partial, bad record (failed: --require-ok).\n",
     "Exit: 0 with no finding, 1 otherwise, 2 usage.\n"},
    {"test",
     "usage: harn test [--gc-stress] PATH...\n"
     "\n"
     "Run the language tests under each PATH (a file or a directory, recursively),\n"
     "each in a child process of its own. NAME.harn must print exactly\n"
     "NAME.expected, or fail with an error in which every line of NAME.error is\n"
     "found (a substring, or re:REGEX). A .harn file with neither fails, unless\n"
     "it is a helper module: its name starts with _ or it is under a helpers/\n"
     "directory (helpers are not run). Failures are printed with a diff; the\n"
     "last line is \"N passed, N failed\".\n",
     "Exit: 0 when every test passed, 1 otherwise, 2 usage.\n"},
    {"check",
     "usage: harn check PATH...\n"
     "\n"
     "Lex, parse, type-check and compile each PATH without running it: a file\n"
     "(- is stdin) or a directory, whose *.harn files are checked recursively.\n"
     "Exit 0 when every file is clean, 1 with each error rendered on stderr.\n",
     NULL},
    {"disasm",
     "usage: harn disasm FILE\n"
     "\n"
     "Compile FILE and print its bytecode, function by function.\n",
     NULL},
    {"db",
     "usage: harn db migrate|status|prune [OPTIONS]\n"
     "\n"
     "migrate: create or update the job runner's schema (harn.*) in the database.\n"
     "status: the schema version, the runners and the jobs by state.\n"
     "prune: delete the finished jobs (and their records) older than --older-than.\n",
     "Exit: 0 done, 1 database error, 2 usage or no database support.\n"},
    {"submit",
     "usage: harn submit SOURCE... [OPTIONS]\n"
     "\n"
     "Queue every job of the sources (the SOURCE grammar and job ids of harn batch)\n"
     "in the database, for `harn runner`s to run. Programs are stored once, by\n"
     "content. Without --batch the batch gets a fresh name, printed on stdout;\n"
     "submitting a batch again adds only the jobs it does not have yet.\n",
     "Exit: 0 queued, 1 a bad source or database error, 2 usage.\n"},
    {"runner",
     "usage: harn runner [OPTIONS]\n"
     "\n"
     "Run the jobs queued in the database, up to -j at once, each in a fresh\n"
     "sandboxed worker as harn batch runs them, and store each attempt's record.\n"
     "Start one on every machine that should work; a runner that dies has its\n"
     "jobs rescued by the others once its lease ends. Jobs without a timeout get\n"
     "one hour. SIGTERM drains (no new jobs; exit 0 once the running ones\n"
     "ended); a second SIGTERM, or SIGINT, cancels the running jobs.\n",
     "Exit: 0 after a drain, 130 after a cancel, 2 usage or no database support.\n"},
    {"jobs",
     "usage: harn jobs list|show ID|wait|results|cancel ID...|retry ID...|stats|doctor [OPTIONS]\n"
     "\n"
     "list: the jobs (--batch, --state, --queue; --json). show ID: one job and its\n"
     "attempts. wait --batch B: until every job of B is finished. results --batch B:\n"
     "the records, as harn batch writes them (--results, --joblog). cancel ID...:\n"
     "queued jobs end at once, running ones get SIGINT. retry ID...: run finished\n"
     "jobs again. stats: jobs by queue and state. doctor: the invariant checks.\n",
     "Exit: 0; wait: 0 when every job succeeded, 1 when one did not, 124 on\n"
     "--timeout; doctor: 1 when a check fails; 2 usage or no database support.\n"},
};

/* `harn help builtins`: every builtin function's name, in columns that
 * fit 80 (their signatures and libraries: docs/stdlib.md, LANGUAGE.md). */
static int help_builtins(FILE *out)
{
  int n = 0, width = 0;
  while (vm_builtin_name(n)) {
    int l = (int)strlen(vm_builtin_name(n++));
    if (l > width) width = l;
  }
  int cols = 80 / (width + 2);
  if (cols < 1) cols = 1;
  int rows = (n + cols - 1) / cols;
  fprintf(out, "%d builtin functions (signatures: docs/stdlib.md, docs/LANGUAGE.md):\n\n", n);
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols && c * rows + r < n; c++) {
      bool last = c == cols - 1 || (c + 1) * rows + r >= n;
      if (last) {
        fprintf(out, "%s\n", vm_builtin_name(c * rows + r));
        break;
      }
      fprintf(out, "%-*s", width + 2, vm_builtin_name(c * rows + r));
    }
  }
  return 0;
}

int cli_help(const char *cmd, FILE *out)
{
  if (!cmd) {
    help_top(out);
    return 0;
  }
  if (!strcmp(cmd, "builtins")) return help_builtins(out);
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    if (strcmp(cmd, texts[i].name) == 0) {
      fputs(texts[i].before, out);
      cli_options_help(cli_command(cmd), out);
      if (texts[i].after) fprintf(out, "\n%s", texts[i].after);
      return 0;
    }
  fprintf(stderr, "harn help: no command '%s'\n\n", cmd);
  help_top(stderr);
  return 2;
}

int cli_version(void)
{
  printf("harn %s (worker protocol %d)\n", HARN_VERSION, IPC_PROTOCOL_VERSION);
#ifdef HARN_TEST_HOOKS
  /* a development build: the HARN_TEST_* fault injections are compiled in
   * (CMake option HARN_TEST_HOOKS; integration tests look for this line) */
  printf("test hooks: on\n");
#endif
  /* what this build can do: the job runner (HARN_WITH_DB) needs libpq,
   * which a static build leaves out; the pool filter needs libseccomp */
  printf("features: %cdb %cnet %cseccomp\n",
#ifdef HARN_WITH_DB
         '+',
#else
         '-',
#endif
#ifdef HARN_WITH_NET
         '+',
#else
         '-',
#endif
#ifdef HARN_HAVE_SECCOMP
         '+'
#else
         '-'
#endif
  );
  return 0;
}
