/*
 * supervisor.h: the public entry points of the supervisor component,
 * `harn run` (one job in a supervised worker) and `harn batch` (many jobs,
 * up to -j at once), called by the CLI dispatcher (supervisor/main.c).
 *
 * Both run one libuv loop in the calling process and start one worker
 * process per job attempt (supervisor/spawn.c): by default the pool's
 * zygote (`harn worker --zygote`, worker/zygote.c) clones it, made ahead of
 * the job, with the supervisor as its parent, and it runs the worker entry
 * point wrk_main; when the zygote cannot be started or has died, the
 * supervisor forks the worker itself; with the environment variable
 * HARN_WORKER_CMD set (split on spaces, e.g. tests' fake workers) it forks
 * and execs that command instead. Each worker lives
 * in its own process group, gets the job frame on its fd 3 and writes
 * events to its fd 4 (ipc/ipc.h). Deadlines, grace and kill follow
 * docs/RUNTIME.md 5.6; records follow PRODUCT.md. docs/cli.md is the user
 * documentation of every option.
 */
#ifndef HARN_SUPERVISOR_H
#define HARN_SUPERVISOR_H

#include "supervisor/options.h"

/* harn run FILE [--input JSON] [--timeout DUR] [--grace DUR] [--json]
 *               [--events] [--max-output BYTES] ...
 * [a]: the command line, parsed (options.h; `--inline` is handled by the
 * caller). Program output
 * is streamed to stdout/stderr as it arrives; an uncaught error's diagnostic
 * goes to stderr. --json prints the terminal record on stdout at the end,
 * --events every event as a JSON line (both replace the raw output on
 * stdout). Returns the exit code: 0 ok (or the int the pipeline returned),
 * 1 script error or crashed worker, 2 usage, 124 deadline, 130 SIGINT,
 * 137 killed after the grace. */
int sup_cmd_run(const CliArgs *a);

/* harn batch SOURCE... [-j N] [--timeout DUR] [--grace DUR] [--retries N]
 *   [--results FILE.jsonl] [--joblog FILE] [--resume | --resume-failed]
 *   [--halt now|soon,fail=N|N%] [--bar | --no-bar] [--max-output BYTES] ...
 * [a]: the command line, parsed (options.h). SOURCE is a .harn file, a directory (every .harn
 * file inside, recursively, sorted) or a JSON Lines manifest (streamed).
 * Writes one terminal record per job attempt to --results (or to stdout
 * when there is none). Returns 0 when every job's last attempt ended ok,
 * 1 otherwise, 2 on usage errors, 130 after Ctrl-C. The environment
 * variable HARN_SUP_STATS=1 makes it print its open fd count, child
 * count and own CPU time / page faults on stderr at the end (tests,
 * profiling). */
int sup_cmd_batch(const CliArgs *a);

/* harn verify SOURCE... --results FILE [--results FILE]... [--require-ok]
 *   [--json]: enumerate the jobs of the sources as harn batch would (same
 * ids; nothing runs), read every results file, and print each finding
 * (missing, duplicate, gap, stray, partial, bad record; failed with
 * --require-ok) on stdout, then a summary on stderr. 0 with no finding,
 * 1 otherwise, 2 on usage errors (design/RUNNER.md section 8). */
int sup_cmd_verify(const CliArgs *a);
/* harn runner [-j N] [--queue NAME[=SLOTS],...] [--state-dir DIR] ...:
 * the long-lived job runner on PostgreSQL (runner.c, docs/runner.md).
 * Returns 0 after a drain (SIGTERM), 130 after a cancel, 2 on usage
 * errors (and in a build without the database feature). */
int sup_cmd_runner(const CliArgs *a);

#endif
