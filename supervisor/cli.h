/*
 * cli.h: the in-process commands of the `harn` executable (the lead's part
 * of the CLI; `harn run` through workers and `harn batch` are in
 * supervisor.h, `harn worker` in worker/worker.h).
 *
 * Each command takes its command line as parsed by options.c (main.c
 * parses it) and returns the process exit code.
 */
#ifndef HARN_CLI_H
#define HARN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "supervisor/options.h"

/* The commands below take their parsed command line [a] (cli_parse,
 * options.h: options checked, operand count checked) and return the
 * process exit code. */

/* harn run --inline FILE [--input JSON] [--timeout DUR] [--grace DUR]: run
 * in this process. Exit code: 0 ok, 1 script error, 2 usage (another run
 * option given); an int returned by the pipeline is used as the exit code. */
int cli_run_inline(const CliArgs *a);
/* harn check PATH...: lex, parse, check statically and compile each file
 * (directories: their *.harn files, recursively); 0 when all are clean, 1
 * with every error on stderr (cli_check.c). */
int cli_check(const CliArgs *a);
/* harn disasm FILE: print the bytecode. */
int cli_disasm(const CliArgs *a);
/* harn test [--gc-stress] PATH...: run language tests (NAME.harn +
 * NAME.expected or NAME.error), print each failure with a diff, end with
 * "N passed, N failed". 0 when all passed. */
int cli_test(const CliArgs *a);

/* The job runner's commands that are not a loop (cli_db.c, submit.c):
 * harn db migrate|status|prune, harn jobs ..., harn submit SOURCE...;
 * each blocks on the database as it goes. In a build without the database
 * feature they say so and return 2. */
int cli_db(const CliArgs *a);
int cli_jobs(const CliArgs *a);
int cli_queues(const CliArgs *a);
int cli_submit(const CliArgs *a);

/* harn help [COMMAND], harn COMMAND --help: the command's options (NULL:
 * the list of commands) on [out], 0. 2 with a message on stderr for an
 * unknown command. */
int cli_help(const char *cmd, FILE *out);
/* harn version: "harn VERSION (worker protocol N)" on stdout, 0. */
int cli_version(void);

/* harn help --man TEMPLATE (hidden): the man page, TEMPLATE's roff with
 * "@OPTIONS CMD@" lines replaced by CMD's generated option list and
 * "@VERSION@" by the version, on [out]. 0, or 1 with a message on stderr
 * (unreadable template, a line over 4 KiB, an unknown command). */
int cli_man(const char *template_path, FILE *out);
/* harn completion bash|zsh (hidden): the completion script for [shell],
 * generated from the option table, on [out]. 0, or 2 with a usage line on
 * stderr for another shell (or NULL). */
int cli_completion(const char *shell, FILE *out);

/* The exit status of a command about to end, given that its stdout may
 * have failed: [code] when everything written to stdout (the FILE, after
 * a flush, and [write_errno]: the first errno of the command's own
 * write(2)s to fd 1, 0 if none failed) got out; else, with a line on
 * stderr naming [who] (none for EPIPE), [code], or 1 instead of 0. */
int cli_close_stdout(const char *who, int code, int write_errno);

/* Read a whole file into a malloc'd NUL-terminated buffer; NULL on error
 * (errno set; EFBIG: more than SUP_MAX_PROGRAM bytes, of which no more
 * than that were read). *len gets the size. */
char *cli_read_file(const char *path, size_t *len);

/* --log-format (logfmt.c) */

/* --log-format json: from now on every line written on stderr goes out as
 * one JSON object {time, level, source, message} ([who]: the source of a
 * line without a "harn CMD:" prefix). -1 when the stream cannot be made. */
int sup_log_json_start(const char *who);
/* ... and it was started: no progress bar, no terminal redraws. */
extern bool sup_log_json;

#endif
