/*
 * options.h: the command line's one option table and the one parser that
 * every documented command (run, batch, test, check, disasm) uses.
 *
 * Each option is one row of cli_options[] (options.c): its long name, its
 * short alias if any, the kind of its value, the commands that accept it,
 * its default and its help line. The parser, the per-command help
 * (help.c), the usage errors and the check of docs/cli.md
 * (tests/unit/test_cli_options.c) all read that table; nothing else in
 * the tree knows an option's spelling.
 *
 * Conventions (GNU's, without abbreviations of long names):
 *   --opt VALUE and --opt=VALUE; -j N and -jN; short flags may be bundled;
 *   VALUE is the next argument whatever it looks like (`--input -1`);
 *   options and operands mix in any order; `--` ends the options; `-`
 *   alone is an operand (stdin); a repeated option: the last one counts,
 *   except a list (CLI_LIST, CLI_REPEAT), whose occurrences add up.
 * Every usage error (unknown option, option of another command, missing
 * value, value of a flag, bad value, wrong number of operands) is one line
 * on stderr naming the command and the option as it was spelled, followed
 * by the command's usage line; the command then exits 2 (CLI_USAGE).
 * `-h` or `--help` anywhere among the options wins over any usage error.
 */
#ifndef HARN_OPTIONS_H
#define HARN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit code of a usage error, for every command (PRODUCT.md). */
#define CLI_USAGE 2
/* cli_parse: -h or --help was given; print the command's help. */
#define CLI_HELP 1

/* The commands, as bits of CliOption.cmds. CLI_CMD_INLINE marks the run
 * options that `harn run --inline` honours too (the others are usage
 * errors with --inline). */
enum {
  CLI_CMD_RUN = 1u << 0,
  CLI_CMD_BATCH = 1u << 1,
  CLI_CMD_TEST = 1u << 2,
  CLI_CMD_CHECK = 1u << 3,
  CLI_CMD_DISASM = 1u << 4,
  CLI_CMD_INLINE = 1u << 5,
  CLI_CMD_VERIFY = 1u << 6,
  /* the job runner's commands (docs/runner.md) */
  CLI_CMD_DB = 1u << 7,
  CLI_CMD_SUBMIT = 1u << 8,
  CLI_CMD_RUNNER = 1u << 9,
  CLI_CMD_JOBS = 1u << 10,
  CLI_CMD_QUEUES = 1u << 11,
  CLI_CMD_ALL = CLI_CMD_RUN | CLI_CMD_BATCH | CLI_CMD_TEST | CLI_CMD_CHECK | CLI_CMD_DISASM |
                CLI_CMD_INLINE | CLI_CMD_VERIFY | CLI_CMD_DB | CLI_CMD_SUBMIT | CLI_CMD_RUNNER |
                CLI_CMD_JOBS | CLI_CMD_QUEUES,
};

/* What an option's value is, and how it is checked. */
typedef enum CliKind {
  CLI_FLAG,     /* no value */
  CLI_DURATION, /* sup_parse_duration: CliValue.ms */
  CLI_SIZE,     /* sup_parse_size: CliValue.bytes */
  CLI_INT,      /* a decimal count in [min, max]: CliValue.n */
  CLI_STRING,   /* any text (a path; --halt, checked by batch.c) */
  CLI_JSON,     /* a valid JSON text */
  CLI_SLOTS,    /* a job count as GNU parallel's -j takes it: N (1 to max; 0:
                   max), N% of the CPUs, +N or -N CPUs: CliValue.n */
  CLI_LIST,     /* a comma-separated list, repeatable: every occurrence
                   adds its items (--allow-read=A,B --allow-read C gives
                   A, B, C) to CliValue.items; empty items are errors */
  CLI_REPEAT,   /* any text, repeatable: each occurrence is one more item
                   of CliValue.items, not split (--env A=1,2 --env B=3; a
                   path may hold commas); .text is the last one, for a
                   command that takes one (harn batch --results) */
  CLI_SIZE_OPT, /* an optional size, only as --opt=SIZE (--opt alone is
                   given with no value: CliValue.text NULL, bytes 0);
                   meta starts with '[' ("[=SIZE]") */
} CliKind;

/* The options, in help order (each command lists its own in this order). */
typedef enum CliOptId {
  CLI_OPT_HELP,
  CLI_OPT_DB,
  CLI_OPT_JOBS,
  CLI_OPT_INPUT,
  CLI_OPT_TIMEOUT,
  CLI_OPT_GRACE,
  CLI_OPT_RETRIES,
  CLI_OPT_RETRY_ON,
  CLI_OPT_RETRY_DELAY,
  CLI_OPT_RESULTS,
  CLI_OPT_RESUME,
  CLI_OPT_RESUME_FAILED,
  CLI_OPT_JOBLOG,
  CLI_OPT_RESULTS_FORMAT,
  CLI_OPT_FIELDS,
  CLI_OPT_KEEP_ORDER,
  CLI_OPT_HALT,
  CLI_OPT_BAR,
  CLI_OPT_NO_BAR,
  CLI_OPT_SPARES,
  CLI_OPT_INPUT_FROM,
  CLI_OPT_SHARD,
  CLI_OPT_SHARD_BY,
  CLI_OPT_METRICS,
  CLI_OPT_LOG_FORMAT,
  CLI_OPT_REQUIRE_OK,
  CLI_OPT_JSON,
  CLI_OPT_EVENTS,
  CLI_OPT_MAX_OUTPUT,
  CLI_OPT_MAX_EVENTS,
  CLI_OPT_MEMORY,
  CLI_OPT_CPU,
  CLI_OPT_NO_SANDBOX,
  CLI_OPT_ALLOW_READ,
  CLI_OPT_ALLOW_WRITE,
  CLI_OPT_SCRATCH,
  CLI_OPT_MAX_WRITE_BYTES,
  CLI_OPT_ALLOW_ENV,
  CLI_OPT_ENV,
  CLI_OPT_DENY,
  CLI_OPT_ALLOW_NET,
  CLI_OPT_DENY_NET,
  CLI_OPT_MAX_RESPONSE_BYTES,
  CLI_OPT_MAX_REQUESTS,
  CLI_OPT_INLINE,
  CLI_OPT_GC_STRESS,
  CLI_OPT_BATCH_NAME,
  CLI_OPT_QUEUE,
  CLI_OPT_PRIORITY,
  CLI_OPT_AT,
  CLI_OPT_IN,
  CLI_OPT_UNIQUE,
  CLI_OPT_WAIT,
  CLI_OPT_DRAIN_TIMEOUT,
  CLI_OPT_STATE,
  CLI_OPT_STATE_DIR,
  CLI_OPT_HEARTBEAT,
  CLI_OPT_LEASE_TTL,
  CLI_OPT_POLL,
  CLI_OPT_RESCUE_INTERVAL,
  CLI_OPT_ON_DB_LOSS,
  CLI_OPT_OLDER_THAN,
  CLI_OPT__COUNT
} CliOptId;

/* One row of the option table. */
typedef struct CliOption {
  const char *name; /* the long name, without "--" */
  char short_name;  /* 'j' for -j; 0: none */
  CliKind kind;
  const char *meta; /* the value's placeholder in help ("DUR"); NULL for a flag */
  unsigned cmds;    /* CLI_CMD_* bits: the commands that accept it */
  const char *def;  /* the default, parsed as a given value would be; NULL: none
                       (or one computed by the command, said in help) */
  long min, max;    /* CLI_INT: the accepted range */
  const char *help; /* one line (continuation lines after '\n') */
} CliOption;

/* The table, indexed by CliOptId. */
extern const CliOption cli_options[CLI_OPT__COUNT];

/* One command: its bit and what its operands are. */
typedef struct CliCommand {
  const char *name;     /* "run" */
  unsigned bit;         /* CLI_CMD_RUN */
  const char *operands; /* "FILE", "SOURCE..." */
  int min_operands, max_operands; /* max -1: no limit */
  const char *synopsis; /* "run FILE": `harn help`'s list (at most 20 bytes) */
  const char *summary;  /* one line: `harn help`, the zsh menu (cli_gen.c) */
} CliCommand;

/* The documented commands (those cli_parse knows); NULL if [name] is not one. */
const CliCommand *cli_command(const char *name);
/* The [i]th documented command, in table order (0, 1, ...); NULL past the
 * last (for the generated man page and completions, cli_gen.c). */
const CliCommand *cli_command_at(size_t i);

/* An option's value after parsing. */
typedef struct CliValue {
  bool given;       /* on the command line (else the default, if any) */
  int pos;          /* argv index of the last occurrence (0 if not given):
                       which of two opposite flags came last */
  const char *text; /* the value as given, or the default; NULL if neither */
  double ms;        /* CLI_DURATION */
  size_t bytes;     /* CLI_SIZE */
  long n;           /* CLI_INT */
  char **items;     /* CLI_LIST, CLI_REPEAT: every item of every occurrence, in order
                       (owned, freed by cli_args_free); NULL when none */
  size_t nitems;
} CliValue;

/* A parsed command line. */
typedef struct CliArgs {
  const CliCommand *cmd;
  CliValue opt[CLI_OPT__COUNT];
  char **operands; /* in order (pointers into argv), NULL-terminated; owned */
  int noperands;
  /* harn run FILE -- ARGS...: operands[nbefore..] came after the "--" (the
   * pipeline's arguments); nbefore == noperands for every other command,
   * whose operands may follow "--" like any other (a file named -x). */
  int nbefore;
} CliArgs;

/* Parse the arguments of command [cmd] (argv[0] is the command name, as in
 * main's argv + 1) into [out] (every value starts at its default).
 * Returns 0; CLI_HELP when -h or --help is among the options (nothing else
 * is reported); CLI_USAGE after printing the first usage error and the
 * usage line on stderr. [out] must be released with cli_args_free in
 * every case. [cmd] must be one of cli_command's. */
int cli_parse(const char *cmd, int argc, char **argv, CliArgs *out);
/* The run's input: --input's JSON, or the arguments after "--" as a JSON
 * list of strings (`harn run x.harn -- a b` binds ["a", "b"]; *owned is
 * then that text, for the caller to free), or NULL. NULL too after a
 * usage error (both given, said), with *rc set to CLI_USAGE; else *rc 0. */
const char *cli_run_input(const CliArgs *a, char **owned, int *rc);
/* Free what cli_parse allocated in [a] (not argv's strings). */
void cli_args_free(CliArgs *a);

/* A usage error found by a command itself: "harn CMD: MESSAGE" and the
 * usage line on stderr. Returns CLI_USAGE. */
int cli_usage_error(const CliArgs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A bad value for option [id] found by the command (--halt): "harn CMD:
 * --NAME: "VALUE" WHAT" and the usage line. Returns CLI_USAGE. */
int cli_bad_value(const CliArgs *a, CliOptId id, const char *what);
/* The options given in [a] that lack the [bit] (CLI_CMD_INLINE): the first
 * one is a usage error "--NAME does not apply with [mode]". Returns 0 when
 * none, else CLI_USAGE (reported). */
int cli_only(const CliArgs *a, unsigned bit, const char *mode);

/* The option lines of command [cmd]'s help, in table order, on [out],
 * after a blank line ("  -j, --jobs N        help (default D)"); nothing
 * for a command without options (-h aside). Lines stay within 80 columns
 * as long as each help line of the table is at most 58 bytes. */
void cli_options_help(const CliCommand *cmd, FILE *out);

#endif
