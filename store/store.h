/*
 * store.h: the job runner's PostgreSQL client (prefix hs_), used by the
 * supervisor only (docs/architecture.md; docs/runner.md; the design is
 * ../shared/design/RUNNER.md sections 4, 5 and 9).
 *
 * Two ways to talk to the database:
 *
 * - HsConn, for `harn runner`: libpq's asynchronous API driven by a libuv
 *   loop, and nothing that blocks. Connecting (PQconnectStartParams +
 *   PQconnectPoll), sending (PQsendQueryParams in pipeline mode, one sync
 *   per request, PQflush while the socket takes it) and reading
 *   (PQconsumeInput, PQisBusy, PQgetResult, PQnotifies) all happen when a
 *   uv_poll on PQsocket() says so. A request that gets no answer within
 *   its deadline, or a connect that does not finish within its own, drops
 *   the connection (the socket is closed: PQcancel would block, and the
 *   server aborts the query when it notices); a dropped connection fails
 *   every request it held (the callback gets no result and the reason) and
 *   is made again after a backoff of 100 ms doubling to 5 s (or the
 *   cap the owner gives). A host name
 *   is resolved with uv_getaddrinfo and passed as hostaddr, since libpq's
 *   non-blocking connect resolves names synchronously.
 *
 * - The synchronous helpers (hs_connect_sync, hs_migrate, ...) for the
 *   commands that are not a loop (`harn db`, `harn submit`, `harn jobs`).
 *
 * The schema lives in store/migrations/NNN_name.sql, embedded in the
 * binary at build time (store/embed.cmake) and applied in order under an
 * advisory lock, the version kept in harn.meta (hs_migrate).
 */
#ifndef HARN_STORE_H
#define HARN_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"

/* ------------------------------------------------------------ conninfo */

/* The connection string to use: [given] (--db) when not NULL, else
 * $HARN_DATABASE_URL, else "" (libpq's PG* variables and defaults). */
const char *hs_conninfo(const char *given);

/* ------------------------------------------------------------ migrations */

/* One embedded migration (generated from store/migrations/). */
typedef struct HsMigration {
  int version;       /* NNN of NNN_name.sql */
  const char *name;  /* "001_init" */
  const char *sql;
} HsMigration;
extern const HsMigration hs_migrations[];
extern const int hs_migration_count;
/* The query of the schema version once harn.meta exists (one row: the
 * version, 0 when none is recorded). */
#define HS_SQL_SCHEMA_VERSION \
  "SELECT coalesce(max(v::int), 0) FROM harn.meta WHERE k = 'schema_version'"
/* The schema version this binary expects (the last migration's). */
int hs_schema_latest(void);

/* ------------------------------------------------------------ synchronous */

/* Connect and wait (libpq's blocking PQconnectdbParams) with the keepalive
 * settings of the runner and application_name [app]. NULL with *err
 * (malloc'd) when the connection failed. */
PGconn *hs_connect_sync(const char *conninfo, const char *app, char **err);
/* The schema version in the database: 0 when there is no harn schema,
 * -1 with *err (malloc'd) on error. */
int hs_schema_version(PGconn *c, char **err);
/* Apply every migration above the database's version, each in its own
 * transaction, holding pg_advisory_lock(hashtext('harn.migrate')) so that
 * two migrators wait for each other. *from / *to get the versions before
 * and after. 0, or -1 with *err (malloc'd; nothing of the failed
 * migration is kept). */
int hs_migrate(PGconn *c, int *from, int *to, char **err);
/* Run [sql] (no parameters, may hold several statements) and check that
 * it succeeded; 0 or -1 with *err (malloc'd). */
int hs_exec(PGconn *c, const char *sql, char **err);

/* ------------------------------------------------------------ helpers */

/* Append [n] bytes of [s] as one field of COPY's text format: backslash,
 * tab, newline and carriage return escaped (\\ \t \n \r). */
void hs_copy_field(Buf *b, const char *s, size_t n);
/* Append the text-format NULL (\N). */
void hs_copy_null(Buf *b);

/* SHA-256 of [n] bytes of [data] into [out]. */
void hs_sha256(const void *data, size_t n, uint8_t out[32]);
/* The 64 lowercase hex digits of [h] plus a NUL, into [out]. */
void hs_hex(const uint8_t *h, size_t n, char *out);

/* A random UUID (version 4) as text, 36 characters and a NUL, into [out]
 * (getrandom; 0, or -1 when no randomness could be had). */
int hs_uuid(char out[37]);

/* ------------------------------------------------------------ asynchronous */

typedef struct HsConn HsConn;

/* The result of one request: [res] is the statement's result (a
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK one; owned by the store, valid
 * during the call) or NULL when it failed, with [err] saying why (a
 * server error, or the connection was lost: then [lost] is true, and
 * whether the statement ran is unknown). */
typedef void (*HsResultCb)(HsConn *c, PGresult *res, const char *err, bool lost, void *ud);

typedef struct HsConnHooks {
  /* Connected (again): the requests sent from here run on a new session
   * (LISTEN again). May be NULL. */
  void (*on_up)(HsConn *c, void *ud);
  /* The connection was lost or could not be made ([why]); requests are
   * failed first. A new attempt follows after the backoff. May be NULL. */
  void (*on_down)(HsConn *c, const char *why, void *ud);
  /* A NOTIFY on a channel this session listens to. May be NULL. */
  void (*on_notify)(HsConn *c, const char *channel, const char *payload, void *ud);
  void *ud;
} HsConnHooks;

typedef struct HsConnOptions {
  const char *conninfo;     /* hs_conninfo's */
  const char *app;          /* application_name */
  double request_timeout_ms; /* a request unanswered this long drops the
                                connection (0: 10 s) */
  double connect_timeout_ms; /* the same for connecting (0: 5 s) */
  double max_backoff_ms;    /* the reconnect backoff's cap (0: 5 s; at least
                               100 ms) */
} HsConnOptions;

/* A connection on [loop] (copied options); it starts connecting at once.
 * Its handles keep the loop alive until hs_conn_close. */
HsConn *hs_conn_new(uv_loop_t *loop, const HsConnOptions *o, const HsConnHooks *hooks);
/* Queue [sql] with [n] text parameters (NULL for SQL NULL; copied) and
 * call [cb] once with its result. While the connection is down the
 * request waits for it (and fails if it is lost again after being sent);
 * [cb] is never called from within hs_query. */
void hs_query(HsConn *c, const char *sql, int n, const char *const *params, HsResultCb cb,
              void *ud);
/* Whether the connection is established now. */
bool hs_conn_up(const HsConn *c);
/* Requests sent or queued and not answered yet. */
int hs_conn_pending(const HsConn *c);
/* Drop the connection now (as a lost one: requests failed, reconnect after
 * the backoff). */
void hs_conn_reset(HsConn *c, const char *why);
/* Fail the requests, close the connection and its handles; [c] is freed
 * once the loop has run the close callbacks. No hook runs afterwards. */
void hs_conn_close(HsConn *c);

#endif
