/*
 * db_internal.h: what the supervisor's database commands share
 * (cli_db.c, submit.c, runner.c); only in a build with the database
 * feature (HARN_WITH_DB), since it reads libpq's header through store.h.
 */
#ifndef HARN_DB_INTERNAL_H
#define HARN_DB_INTERNAL_H

#include "store/store.h"
#include "supervisor/options.h"

/* Connect to --db (or its defaults) for command [a], blocking. With
 * [need_schema], the schema must be this binary's version (else a message
 * naming `harn db migrate`). NULL after a message on stderr. */
PGconn *sup_db_open(const CliArgs *a, bool need_schema);

/* The all-null `counters` object of a record that no worker wrote (a lost
 * attempt), as batch.c's supervisor_lost record has it: malloc'd. */
char *sup_null_counters(void);

/* Wait until every job of batch [name] is final, polling (cli_db.c): 0
 * when all succeeded, 1 when one did not (or the database failed, said),
 * 124 when [limit_ms] (< 0: none) passed first. [who] prefixes messages. */
int sup_jobs_wait(const CliArgs *a, PGconn *c, const char *name, double limit_ms, const char *who);
/* Write the records of batch [name] as harn batch would (--results FILE
 * or stdout, --joblog, --results-format, --fields of [a]): 0, 1 when they
 * could not be written, 2 for a usage error (said). */
int sup_jobs_results(const CliArgs *a, PGconn *c, const char *name);

#endif
