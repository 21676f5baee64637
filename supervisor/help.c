/*
 * help.c: `harn help [COMMAND]`, `harn COMMAND --help` and `harn --version`.
 *
 * One text per command, on stdout, exit 0: what a user reads before the
 * first run. Each is a digest of docs/cli.md (the reference, with the
 * record fields, the journal and the process model); keep the two in step
 * when an option changes. The short usage lines printed on stderr with a
 * usage error stay in each command's own file.
 */
#include <stdio.h>
#include <string.h>

#include "ipc/ipc.h"
#include "supervisor/cli.h"

#ifndef HARN_VERSION
#define HARN_VERSION "unknown"
#endif

static const char help_top[] =
    "usage: harn COMMAND [ARGS]\n"
    "\n"
    "  run FILE             run one pipeline in a supervised, sandboxed worker\n"
    "  batch SOURCE...      run many pipelines (files, directories, JSONL manifests)\n"
    "  test PATH...         run language tests (NAME.harn + NAME.expected / NAME.error)\n"
    "  check FILE           lex, parse and compile; report errors\n"
    "  disasm FILE          print the bytecode\n"
    "  help [COMMAND]       this text, or a command's options (also: COMMAND --help)\n"
    "  version              the version and the worker protocol's version\n"
    "\n"
    "DUR is 250ms, 5s, 1.5s, 2m, 1h or plain milliseconds; BYTES is a count with\n"
    "an optional K, M or G suffix. Reference: docs/cli.md.\n";

static const char help_run[] =
    "usage: harn run FILE [OPTIONS]\n"
    "\n"
    "Run one pipeline in a fresh worker process, sandboxed, under the supervisor.\n"
    "Its output streams to stdout; an uncaught error is rendered on stderr.\n"
    "\n"
    "  --input JSON        the value bound to the entry pipeline's parameter\n"
    "  --timeout DUR       deadline, from the spawn of the worker (none by default)\n"
    "  --grace DUR         from SIGTERM/SIGINT to the SIGKILL of the group (250ms)\n"
    "  --json              print the terminal record instead of the output\n"
    "  --events            print every worker event as a JSON line\n"
    "  --max-output BYTES  output cap (1M); past it output is dropped\n"
    "  --max-events N      steps, lifecycle events and emits kept in the record,\n"
    "                      each (10000; and 16M of each); the rest is counted\n"
    "  --memory BYTES      the VM's heap limit (the job ends error/memory)\n"
    "  --cpu DUR           CPU-time limit, whole seconds (the job ends killed/cpu)\n"
    "  --no-sandbox        trusted code: no seccomp, Landlock, namespaces or limits\n"
    "  --inline            run in this process, without a worker (debugging)\n"
    "\n"
    "Exit: 0 ok (or the int the pipeline returned), 1 script error or crashed\n"
    "worker, 2 usage, 124 deadline, 130 Ctrl-C, 137 killed after the grace.\n";

static const char help_batch[] =
    "usage: harn batch SOURCE... [OPTIONS]\n"
    "\n"
    "Run every job of the sources, up to -j at a time, each in its own fresh\n"
    "sandboxed worker, and write one JSON record per attempt. A SOURCE is a\n"
    ".harn file, a directory (every .harn file under it, sorted), a JSON Lines\n"
    "manifest: {\"id\": ..., \"file\" or \"source\": ..., \"input\", \"timeout\", ...},\n"
    "or - (stdin; also a pipe or FIFO): manifest lines or paths, read as they come.\n"
    "\n"
    "  -j, --jobs N        jobs at once (default: the number of CPUs)\n"
    "  --timeout DUR       per-job deadline (SIGTERM, then SIGKILL after the grace)\n"
    "  --grace DUR         from SIGTERM/SIGINT to the SIGKILL of the group (250ms)\n"
    "  --retries N         retry crashed and killed attempts, with backoff\n"
    "  --results FILE      records there, one JSON line each (default: stdout),\n"
    "                      with FILE.journal for --resume after a crash\n"
    "  --resume            skip jobs that have a record in --results; append\n"
    "  --resume-failed     rerun only the jobs whose last record is not ok\n"
    "  --joblog FILE       GNU parallel compatible job log\n"
    "  --halt WHEN,fail=N  soon: start no more jobs after N failures (or N%);\n"
    "                      now: also cancel the running ones\n"
    "  --bar, --no-bar     progress bar on stderr (default: when it is a terminal)\n"
    "  --spares N          workers made ahead of their jobs (default min(2*j, 4))\n"
    "  --max-output BYTES, --max-events N, --memory BYTES, --cpu DUR, --no-sandbox:\n"
    "                      as for run\n"
    "\n"
    "Exit: 0 when every job's last attempt ended ok, 1 otherwise, 2 usage,\n"
    "130 after Ctrl-C (every started attempt still gets its record).\n";

static const char help_test[] =
    "usage: harn test [--gc-stress] PATH...\n"
    "\n"
    "Run the language tests under each PATH (a file or a directory, recursively),\n"
    "each in a child process of its own. NAME.harn must print exactly\n"
    "NAME.expected, or fail with an error in which every line of NAME.error is\n"
    "found (a substring, or re:REGEX). A .harn file with neither fails, unless\n"
    "it is a helper module: its name starts with _ or it is under a helpers/\n"
    "directory (helpers are not run). Failures are printed with a diff; the\n"
    "last line is \"N passed, N failed\".\n"
    "\n"
    "  --gc-stress         collect garbage at every safe point\n"
    "\n"
    "Exit: 0 when every test passed, 1 otherwise, 2 usage.\n";

static const char help_check[] =
    "usage: harn check FILE\n"
    "\n"
    "Lex, parse and compile FILE without running it. Exit 0 when it is clean,\n"
    "1 with the error rendered on stderr.\n";

static const char help_disasm[] =
    "usage: harn disasm FILE\n"
    "\n"
    "Compile FILE and print its bytecode, function by function.\n";

int cli_help(const char *cmd, FILE *out)
{
  static const struct {
    const char *name, *text;
  } texts[] = {
      {"run", help_run},       {"batch", help_batch},   {"test", help_test},
      {"check", help_check},   {"disasm", help_disasm},
  };
  if (!cmd) {
    fputs(help_top, out);
    return 0;
  }
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    if (strcmp(cmd, texts[i].name) == 0) {
      fputs(texts[i].text, out);
      return 0;
    }
  fprintf(stderr, "harn help: no command '%s'\n\n%s", cmd, help_top);
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
  return 0;
}
