/*
 * sync.c: the blocking side of the store, for the commands that are not a
 * loop (`harn db`, `harn submit`, `harn jobs`): connecting, migrations.
 */
#define _GNU_SOURCE
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *hs_conninfo(const char *given)
{
  if (given) return given;
  const char *e = getenv("HARN_DATABASE_URL");
  return e ? e : "";
}

int hs_schema_latest(void)
{
  return hs_migration_count > 0 ? hs_migrations[hs_migration_count - 1].version : 0;
}

/* A malloc'd copy of libpq's message without its trailing newline. */
static char *msg(const char *m)
{
  char *s = strdup(m && *m ? m : "unknown error");
  if (!s) abort();
  for (size_t n = strlen(s); n && (s[n - 1] == '\n' || s[n - 1] == ' '); n--) s[n - 1] = 0;
  return s;
}

PGconn *hs_connect_sync(const char *conninfo, const char *app, char **err)
{
  const char *keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "application_name", "connect_timeout", "dbname", NULL};
  const char *vals[] = {"1", "5", "2", "3", app ? app : "harn", "10", conninfo, NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (!c) {
    *err = msg("out of memory");
    return NULL;
  }
  if (PQstatus(c) != CONNECTION_OK) {
    *err = msg(PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  /* no NOTICE lines on stderr (CREATE SCHEMA IF NOT EXISTS ...) */
  PQclear(PQexec(c, "SET client_min_messages = warning"));
  return c;
}

int hs_exec(PGconn *c, const char *sql, char **err)
{
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    *err = msg(PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return -1;
  }
  PQclear(r);
  return 0;
}

int hs_schema_version(PGconn *c, char **err)
{
  /* two statements: a query of a table that does not exist fails at once */
  PGresult *r = PQexec(c, "SELECT to_regclass('harn.meta') IS NOT NULL");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    *err = msg(PQresultErrorMessage(r));
    PQclear(r);
    return -1;
  }
  bool exists = !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  if (!exists) return 0;
  r = PQexec(c, HS_SQL_SCHEMA_VERSION);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    *err = msg(PQresultErrorMessage(r));
    PQclear(r);
    return -1;
  }
  int v = PQgetisnull(r, 0, 0) ? 0 : atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

int hs_migrate(PGconn *c, int *from, int *to, char **err)
{
  if (hs_exec(c, "SELECT pg_advisory_lock(hashtext('harn.migrate'))", err) < 0) return -1;
  int rc = -1;
  int v = hs_schema_version(c, err);
  if (v < 0) goto out;
  *from = *to = v;
  for (int i = 0; i < hs_migration_count; i++) {
    const HsMigration *m = &hs_migrations[i];
    if (m->version <= v) continue;
    if (hs_exec(c, "BEGIN", err) < 0) goto out;
    if (hs_exec(c, m->sql, err) < 0) {
      char *e = *err;
      if (asprintf(err, "migration %s: %s", m->name, e) < 0) abort();
      free(e);
      PQclear(PQexec(c, "ROLLBACK"));
      goto out;
    }
    char sql[200];
    snprintf(sql, sizeof sql,
             "INSERT INTO harn.meta (k, v) VALUES ('schema_version', '%d') "
             "ON CONFLICT (k) DO UPDATE SET v = excluded.v", m->version);
    if (hs_exec(c, sql, err) < 0 || hs_exec(c, "COMMIT", err) < 0) {
      PQclear(PQexec(c, "ROLLBACK"));
      goto out;
    }
    *to = v = m->version;
  }
  rc = 0;
out:;
  char *ignored = NULL;
  if (hs_exec(c, "SELECT pg_advisory_unlock(hashtext('harn.migrate'))", &ignored) < 0) free(ignored);
  return rc;
}
