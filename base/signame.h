/*
 * signame.h: the one table of signal names ("SIGTERM" <-> SIGTERM). The
 * supervisor writes them in records and reasons ("signal:SIGKILL"), the
 * worker and the VM send and read the three a job can be cancelled with
 * (SIGTERM, SIGINT, SIGHUP: docs/protocol.md, the final frame's `signal`),
 * the test helpers report them.
 *
 * The table holds the classic POSIX signals that Linux numbers below 32;
 * real-time signals and unknown numbers have no name here (the callers
 * that must print one write "SIG<n>": signame_fmt).
 */
#ifndef HARN_BASE_SIGNAME_H
#define HARN_BASE_SIGNAME_H

/* Room for any text signame_fmt writes ("SIG" and an int, NUL). */
#define SIGNAME_MAX 16

/* The name of signal [sig] ("SIGTERM"), or NULL when it is not in the
 * table. The string is static. */
const char *signame_name(int sig);

/* The number of signal [name] ("SIGTERM" -> SIGTERM; exact, case
 * sensitive), or 0 when [name] is NULL or not in the table. */
int signame_number(const char *name);

/* The name of [sig], or "SIG<n>" written into [buf] for one that has
 * none; returns the name or [buf]. */
const char *signame_fmt(int sig, char buf[SIGNAME_MAX]);

#endif
