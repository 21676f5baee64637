/*
 * defaults.h: the defaults and exit codes that several components must
 * agree on, written once. Each has the reason it is what it is; docs/cli.md
 * states the same values to users.
 *
 * Not here: limits that belong to one component (the VM's in vm/, the
 * protocol's in ipc/ipc.h, the supervisor's caps in sup_internal.h), and
 * vm/sched.c's CANCEL_GRACE_MS, which is a different grace (how long tasks
 * cancelled inside the VM may keep running, docs/RUNTIME.md 5.4), equal to
 * this one only by choice.
 */
#ifndef HARN_BASE_DEFAULTS_H
#define HARN_BASE_DEFAULTS_H

/* Text of a macro's value, for help strings ("250"). */
#define HARN_STR_(x) #x
#define HARN_STR(x) HARN_STR_(x)

/* --grace: milliseconds from the SIGTERM (deadline) or SIGINT (Ctrl-C) to
 * the SIGKILL of the worker's process group. Long enough for a cooperative
 * job to run its finish sequence and write its final frame, short enough
 * that a stuck job does not hold the run up. Used by `harn run` (both
 * modes), `harn batch`, the pool when a config leaves it unset, and the
 * worker's warm-up job. */
#define HARN_DEFAULT_GRACE_MS 250
#define HARN_DEFAULT_GRACE_TEXT HARN_STR(HARN_DEFAULT_GRACE_MS) "ms"

/* --max-output: bytes of a job's output kept for its record (the rest is
 * dropped and the record says output_truncated). 1 MiB: a record is one
 * line of the results file, kept in memory until written. */
#define HARN_DEFAULT_MAX_OUTPUT (1u << 20)
#define HARN_DEFAULT_MAX_OUTPUT_TEXT "1M" /* the same, as an option value */

/* Exit codes of `harn run` (the job's own, docs/cli.md) and of the
 * supervisor's verdicts, after the conventions of timeout(1) and the
 * shell: */
#define HARN_EXIT_OK 0
#define HARN_EXIT_ERROR 1         /* script error, Err result, crashed worker */
#define HARN_EXIT_USAGE 2         /* bad command line */
#define HARN_EXIT_TIMEOUT 124     /* the deadline passed (timeout(1)) */
#define HARN_EXIT_SIGNAL_BASE 128 /* + N: ended by signal N (130: Ctrl-C) */
#define HARN_EXIT_KILLED 137      /* SIGKILLed after the grace: 128 + 9 */

#endif
