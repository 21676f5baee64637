/*
 * options.c: the option table of `harn run`, `batch`, `test`, `check` and
 * `disasm`, its parser and the option lines of their help (options.h has
 * the conventions).
 *
 * Invariants:
 * - cli_options[] is indexed by CliOptId (designated initializers), so the
 *   enum and the table cannot drift apart; its order is the help order.
 * - Defaults are texts parsed by the same code as given values, so a
 *   default is always a value the option accepts (cli_parse asserts it).
 * - The parser never prints more than one error: the first is kept in a
 *   buffer while the rest of argv is scanned for -h / --help (which wins,
 *   as `harn batch x.harn -h --results r` must print help and run nothing);
 *   it is printed at the end.
 * - A value is reported as given, cut to 60 bytes (an --input can be
 *   megabytes).
 */
#include "supervisor/options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/defaults.h"
#include "base/suggest.h"
#include "supervisor/sup_internal.h"

/* --------------------------------------------------------------- the table */

#define RUN CLI_CMD_RUN
#define BATCH CLI_CMD_BATCH
#define INLINE CLI_CMD_INLINE
#define VERIFY CLI_CMD_VERIFY
#define DB CLI_CMD_DB
#define SUBMIT CLI_CMD_SUBMIT
#define RUNNER CLI_CMD_RUNNER
#define JOBS CLI_CMD_JOBS
#define QUEUES CLI_CMD_QUEUES

const CliOption cli_options[CLI_OPT__COUNT] = {
    [CLI_OPT_HELP] = {"help", 'h', CLI_FLAG, NULL, CLI_CMD_ALL, NULL, 0, 0,
                      "this text"},
    [CLI_OPT_DB] = {"db", 0, CLI_STRING, "URL", DB | SUBMIT | RUNNER | JOBS | QUEUES, NULL, 0, 0,
                    "the database (default $HARN_DATABASE_URL, then PG*)"},
    [CLI_OPT_JOBS] = {"jobs", 'j', CLI_SLOTS, "N", BATCH | RUNNER, NULL, 1, 4096,
                      "jobs at once (default: the number of CPUs); N%, +N, -N:\n"
                      "of the CPUs, as GNU parallel; 0: the most (4096)"},
    [CLI_OPT_INPUT] = {"input", 0, CLI_JSON, "JSON", RUN | INLINE, NULL, 0, 0,
                       "the value bound to the entry pipeline's parameter"},
    [CLI_OPT_TIMEOUT] = {"timeout", 0, CLI_DURATION, "DUR", RUN | BATCH | INLINE | SUBMIT | RUNNER | JOBS,
                         NULL, 0, 0,
                         "deadline of a job (attempt), from the spawn of its worker:\n"
                         "SIGTERM, then SIGKILL after the grace (none by default)"},
    [CLI_OPT_GRACE] = {"grace", 0, CLI_DURATION, "DUR", RUN | BATCH | INLINE | RUNNER,
                       HARN_DEFAULT_GRACE_TEXT, 0, 0,
                       "from SIGTERM/SIGINT to the group's SIGKILL"},
    [CLI_OPT_RETRIES] = {"retries", 0, CLI_INT, "N", BATCH | SUBMIT, NULL, 0, 1000,
                         "retry a failed attempt up to N times (--retry-on)"},
    [CLI_OPT_RETRY_ON] = {"retry-on", 0, CLI_STRING, "LIST", BATCH | SUBMIT, "crashed,killed", 0, 0,
                          "which ends --retries retries: error, timeout, killed,\n"
                          "crashed (comma-separated)"},
    [CLI_OPT_RETRY_DELAY] = {"retry-delay", 0, CLI_STRING, "DUR[..MAX]", BATCH,
                             SUP_RETRY_DELAY_DEFAULT, 0, 0,
                             "backoff before retry n: DUR * 2^(n-1), at most MAX,\n"
                             "with jitter (half of it random)"},
    [CLI_OPT_RESULTS] = {"results", 0, CLI_REPEAT, "FILE", BATCH | VERIFY | JOBS | SUBMIT, NULL, 0, 0,
                         "batch, jobs results: records there, one JSON line each\n"
                         "(default: stdout), with FILE.journal for --resume after\n"
                         "a crash; verify: a results file to check (repeatable)"},
    [CLI_OPT_RESUME] = {"resume", 0, CLI_FLAG, NULL, BATCH, NULL, 0, 0,
                        "skip jobs that have a record in --results; append"},
    [CLI_OPT_RESUME_FAILED] = {"resume-failed", 0, CLI_FLAG, NULL, BATCH, NULL, 0, 0,
                               "rerun only the jobs whose last record is not ok"},
    [CLI_OPT_JOBLOG] = {"joblog", 0, CLI_STRING, "FILE", BATCH | JOBS | SUBMIT, NULL, 0, 0,
                        "GNU parallel compatible job log"},
    [CLI_OPT_RESULTS_FORMAT] = {"results-format", 0, CLI_STRING, "FMT", BATCH | JOBS | SUBMIT, NULL, 0, 0,
                                "jsonl, csv or tsv (default: by the --results name's\n"
                                "suffix, .csv or .tsv; else jsonl)"},
    [CLI_OPT_FIELDS] = {"fields", 0, CLI_STRING, "LIST", BATCH | JOBS | SUBMIT, NULL, 0, 0,
                        "the record's members to write (id, attempt and status\n"
                        "always); a.b for a member of an object (error.message)"},
    [CLI_OPT_KEEP_ORDER] = {"keep-order", 'k', CLI_FLAG, NULL, BATCH, NULL, 0, 0,
                            "records in the order of the sources, not of the ends"},
    [CLI_OPT_HALT] = {"halt", 0, CLI_STRING, "WHEN,COND=N", BATCH, "never", 0, 0,
                      "soon: start no more jobs once N (or N%) jobs failed\n"
                      "(fail), succeeded (success) or ended (done); now:\n"
                      "also cancel the running ones (GNU parallel's forms)"},
    [CLI_OPT_BAR] = {"bar", 0, CLI_FLAG, NULL, BATCH, NULL, 0, 0,
                     "progress bar on stderr (default: when it is a terminal)"},
    [CLI_OPT_NO_BAR] = {"no-bar", 0, CLI_FLAG, NULL, BATCH, NULL, 0, 0,
                        "no progress bar, even on a terminal"},
    [CLI_OPT_SPARES] = {"spares", 0, CLI_INT, "N", BATCH | RUNNER, NULL, 0, 4096,
                        "workers made ahead of their jobs (default min(2*j, 4))"},
    [CLI_OPT_INPUT_FROM] = {"input-from", 0, CLI_STRING, "ROWS", BATCH, NULL, 0, 0,
                            "one job of the one FILE.harn per row of ROWS (JSON\n"
                            "Lines; .csv/.tsv with a header; - for stdin)"},
    [CLI_OPT_SHARD] = {"shard", 0, CLI_STRING, "I/N", BATCH, NULL, 0, 0,
                       "run only shard I of N (0-based); slurm or k8s/N take\n"
                       "I and N from a Slurm array or Indexed Job"},
    [CLI_OPT_SHARD_BY] = {"shard-by", 0, CLI_STRING, "RULE", BATCH, "position", 0, 0,
                          "position (the job's place across all sources) or id\n"
                          "(XXH64 of its id): which jobs a shard takes"},
    [CLI_OPT_METRICS] = {"metrics", 0, CLI_STRING, "FILE|ADDR", BATCH | RUNNER, NULL, 0, 0,
                         "batch: Prometheus text metrics in FILE (FILE.tmp,\n"
                         "renamed) every 5 s and at the end (node exporter\n"
                         "textfile); runner: served on HOST:PORT (GET /metrics)"},
    [CLI_OPT_LOG_FORMAT] = {"log-format", 0, CLI_STRING, "FMT", BATCH | RUNNER | SUBMIT | DB | JOBS | QUEUES,
                            "text", 0, 0,
                            "text, or json: each line on stderr one JSON object\n"
                            "{time, level, source, message} (no bar)"},
    [CLI_OPT_REQUIRE_OK] = {"require-ok", 0, CLI_FLAG, NULL, VERIFY, NULL, 0, 0,
                            "also require every job's last attempt to be ok"},
    [CLI_OPT_JSON] = {"json", 0, CLI_FLAG, NULL, RUN | VERIFY | JOBS, NULL, 0, 0,
                      "run: print the terminal record instead of the output;\n"
                      "verify: findings as JSON lines; jobs: JSON output"},
    [CLI_OPT_EVENTS] = {"events", 0, CLI_FLAG, NULL, RUN, NULL, 0, 0,
                        "print every worker event as a JSON line"},
    [CLI_OPT_MAX_OUTPUT] = {"max-output", 0, CLI_SIZE, "BYTES", RUN | BATCH | RUNNER, HARN_DEFAULT_MAX_OUTPUT_TEXT, 0, 0,
                            "output cap per job; past it output is dropped"},
    [CLI_OPT_MAX_EVENTS] = {"max-events", 0, CLI_INT, "N", RUN | BATCH | RUNNER, "10000", 1, 1000000000,
                            "steps, lifecycle events and emits kept in the record,\n"
                            "each (and at most 16M of each); the rest is counted"},
    [CLI_OPT_MEMORY] = {"memory", 0, CLI_SIZE, "BYTES", RUN | BATCH | RUNNER, NULL, 0, 0,
                        "the VM's heap limit (the job ends error/memory)"},
    [CLI_OPT_CPU] = {"cpu", 0, CLI_DURATION, "DUR", RUN | BATCH | RUNNER, NULL, 0, 0,
                     "CPU-time limit, whole seconds (the job ends killed/cpu)"},
    [CLI_OPT_NO_SANDBOX] = {"no-sandbox", 0, CLI_FLAG, NULL, RUN | BATCH | RUNNER, NULL, 0, 0,
                            "trusted code: no seccomp, Landlock, namespaces or limits"},
    [CLI_OPT_ALLOW_READ] = {"allow-read", 0, CLI_LIST, "PATH,...", RUN | BATCH, NULL, 0, 0,
                            "directories a sandboxed job may read (repeatable)"},
    [CLI_OPT_ALLOW_WRITE] = {"allow-write", 0, CLI_LIST, "PATH,...", RUN | BATCH, NULL, 0, 0,
                             "directories it may read and write (repeatable)"},
    [CLI_OPT_SCRATCH] = {"scratch", 0, CLI_SIZE_OPT, "[=SIZE]", RUN | BATCH, NULL, 0, 0,
                         "a fresh writable directory per job (temp_dir()),\n"
                         "removed after its record; SIZE caps its writes"},
    [CLI_OPT_MAX_WRITE_BYTES] = {"max-write-bytes", 0, CLI_SIZE, "BYTES", RUN | BATCH, NULL, 0, 0,
                                 "bytes a job may write to files (default 64M\n"
                                 "when a write is granted)"},
    [CLI_OPT_ALLOW_ENV] = {"allow-env", 0, CLI_LIST, "NAME,...", RUN | BATCH, NULL, 0, 0,
                           "variables env() may see (NAME or PREFIX*)"},
    [CLI_OPT_ENV] = {"env", 0, CLI_REPEAT, "NAME=VALUE", RUN | BATCH, NULL, 0, 0,
                     "a variable env() sees (repeatable)"},
    [CLI_OPT_DENY] = {"deny", 0, CLI_LIST, "BUILTIN,...", RUN | BATCH, NULL, 0, 0,
                      "builtins a job may not call (Tool 'X' is not\n"
                      "permitted.)"},
    [CLI_OPT_ALLOW_NET] = {"allow-net", 0, CLI_LIST, "HOST[:PORT],...", RUN | BATCH, NULL, 0, 0,
                           "hosts a job may reach through the HTTP broker:\n"
                           "HOST[:PORT], *.SUFFIX, IP, CIDR; http://ENTRY\n"
                           "also allows plain http (else https only)"},
    [CLI_OPT_DENY_NET] = {"deny-net", 0, CLI_LIST, "HOST[:PORT],...", RUN | BATCH, NULL, 0, 0,
                          "hosts, IPs, CIDRs refused even when allowed"},
    [CLI_OPT_MAX_RESPONSE_BYTES] = {"max-response-bytes", 0, CLI_SIZE, "BYTES", RUN | BATCH, "10M", 0, 0,
                                    "largest HTTP response body a job may get"},
    [CLI_OPT_MAX_REQUESTS] = {"max-requests", 0, CLI_INT, "N", RUN | BATCH, "100", 1, 1000000,
                              "HTTP requests per job (redirects, retries count)"},
    [CLI_OPT_INLINE] = {"inline", 0, CLI_FLAG, NULL, RUN | INLINE, NULL, 0, 0,
                        "run in this process, without a worker (debugging);\n"
                        "takes --input, --timeout and --grace only"},
    [CLI_OPT_GC_STRESS] = {"gc-stress", 0, CLI_FLAG, NULL, CLI_CMD_TEST, NULL, 0, 0,
                           "collect garbage at every safe point"},
    [CLI_OPT_BATCH_NAME] = {"batch", 0, CLI_STRING, "NAME", SUBMIT | JOBS, NULL, 0, 0,
                            "the batch (resubmitting one is a no-op)"},
    [CLI_OPT_QUEUE] = {"queue", 0, CLI_STRING, "Q", SUBMIT | RUNNER | JOBS, NULL, 0, 0,
                       "submit: the queue (default); runner: NAME[=SLOTS],..."},
    [CLI_OPT_PRIORITY] = {"priority", 0, CLI_INT, "N", SUBMIT, "5", 0, 9,
                          "0 runs first, 9 last"},
    [CLI_OPT_AT] = {"at", 0, CLI_STRING, "TIME", SUBMIT, NULL, 0, 0,
                    "run no earlier than TIME (2026-01-31T12:00:00Z)"},
    [CLI_OPT_IN] = {"in", 0, CLI_DURATION, "DUR", SUBMIT, NULL, 0, 0,
                    "run no earlier than DUR from now"},
    [CLI_OPT_UNIQUE] = {"unique", 0, CLI_STRING, "KEY", SUBMIT, NULL, 0, 0,
                        "refused while a job with KEY is queued or running"},
    [CLI_OPT_WAIT] = {"wait", 0, CLI_FLAG, NULL, SUBMIT, NULL, 0, 0,
                      "then wait until every job is final (exit 0 iff all\n"
                      "succeeded); with --results / --joblog, write them"},
    [CLI_OPT_DRAIN_TIMEOUT] = {"drain-timeout", 0, CLI_DURATION, "DUR", RUNNER, NULL, 0, 0,
                               "after SIGTERM, cancel the jobs still running after\n"
                               "DUR (as a second SIGTERM; none by default)"},
    [CLI_OPT_STATE] = {"state", 0, CLI_STRING, "S", JOBS, NULL, 0, 0,
                       "only the jobs in state S (list)"},
    [CLI_OPT_STATE_DIR] = {"state-dir", 0, CLI_STRING, "DIR", RUNNER, NULL, 0, 0,
                           "outbox, last id and lock (default ~/.local/state/...)"},
    [CLI_OPT_HEARTBEAT] = {"heartbeat", 0, CLI_DURATION, "DUR", RUNNER, "5s", 0, 0,
                           "how often the runner renews its lease"},
    [CLI_OPT_LEASE_TTL] = {"lease-ttl", 0, CLI_DURATION, "DUR", RUNNER, "30s", 0, 0,
                           "a runner silent this long is dead; its jobs rescued"},
    [CLI_OPT_POLL] = {"poll", 0, CLI_DURATION, "DUR", RUNNER, "1s", 0, 0,
                      "look for jobs this often, NOTIFY or not"},
    [CLI_OPT_RESCUE_INTERVAL] = {"rescue-interval", 0, CLI_DURATION, "DUR", RUNNER, "5s", 0, 0,
                                 "look for dead runners' jobs this often"},
    [CLI_OPT_ON_DB_LOSS] = {"on-db-loss", 0, CLI_STRING, "fence|continue", RUNNER, "fence", 0, 0,
                            "fence: kill own jobs before the lease ends"},
    [CLI_OPT_OLDER_THAN] = {"older-than", 0, CLI_DURATION, "DUR", DB, "14d", 0, 0,
                            "prune: finished jobs older than this"},
};

/* In the order `harn help` lists them. */
static const CliCommand commands[] = {
    {"run", CLI_CMD_RUN, "FILE", 1, 1, "run FILE [-- ARG...]",
     "run one pipeline in a supervised, sandboxed worker"},
    {"batch", CLI_CMD_BATCH, "SOURCE...", 1, -1, "batch SOURCE...",
     "run many pipelines (files, directories, JSONL manifests)"},
    {"verify", CLI_CMD_VERIFY, "SOURCE...", 1, -1, "verify SOURCE...",
     "check that results files hold one record per attempt"},
    {"test", CLI_CMD_TEST, "PATH...", 1, -1, "test PATH...",
     "run language tests (NAME.harn + NAME.expected / NAME.error)"},
    {"check", CLI_CMD_CHECK, "PATH...", 1, -1, "check PATH...",
     "lex, parse, type-check and compile; report errors"},
    {"disasm", CLI_CMD_DISASM, "FILE", 1, 1, "disasm FILE", "print the bytecode"},
    {"submit", CLI_CMD_SUBMIT, "SOURCE...", 1, -1, "submit SOURCE...",
     "queue jobs in PostgreSQL for `harn runner`s (docs/runner.md)"},
    {"runner", CLI_CMD_RUNNER, "", 0, 0, "runner",
     "run queued jobs, on as many machines as there are runners"},
    {"jobs", CLI_CMD_JOBS, "list|show|wait|results|cancel|retry|stats|doctor [ID...]", 1, -1,
     "jobs list|show|...", "the queued, running and finished jobs; their records"},
    {"db", CLI_CMD_DB, "migrate|status|prune", 1, 1, "db migrate|status",
     "the job runner's schema"},
    {"queues", CLI_CMD_QUEUES, "list|pause|resume [QUEUE]", 1, 2, "queues pause|resume",
     "list the queues; pause or resume one (runners skip it)"},
};

const CliCommand *cli_command(const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(name, commands[i].name)) return &commands[i];
  return NULL;
}

const CliCommand *cli_command_at(size_t i)
{
  return i < sizeof commands / sizeof commands[0] ? &commands[i] : NULL;
}

/* ---------------------------------------------------------------- errors */

/* Whether command [c] takes an option besides -h. */
static bool has_options(const CliCommand *c)
{
  for (int i = 0; i < CLI_OPT__COUNT; i++)
    if (i != CLI_OPT_HELP && (cli_options[i].cmds & c->bit)) return true;
  return false;
}

/* The usage line that follows every usage error. */
static void usage_line(const CliCommand *c)
{
  fprintf(stderr, "usage: harn %s%s%s%s (harn %s --help says more)\n", c->name,
          *c->operands ? " " : "", c->operands, has_options(c) ? " [OPTIONS]" : "", c->name);
}

int cli_usage_error(const CliArgs *a, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "harn %s: ", a->cmd->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  usage_line(a->cmd);
  return CLI_USAGE;
}

/* At most 60 bytes of [v], and whether it was cut. */
#define SHOWN(v) (strlen(v) > 60 ? 60 : (int)strlen(v)), (v), (strlen(v) > 60 ? "..." : "")

int cli_bad_value(const CliArgs *a, CliOptId id, const char *what)
{
  const char *v = a->opt[id].text ? a->opt[id].text : "";
  return cli_usage_error(a, "--%s: \"%.*s%s\" %s", cli_options[id].name, SHOWN(v), what);
}

int cli_only(const CliArgs *a, unsigned bit, const char *mode)
{
  for (int i = 0; i < CLI_OPT__COUNT; i++)
    if (a->opt[i].given && !(cli_options[i].cmds & bit))
      return cli_usage_error(a, "--%s does not apply with %s", cli_options[i].name, mode);
  return 0;
}

/* The parser's state: the first error, kept until the end. */
typedef struct Parser {
  CliArgs *a;
  char err[512];
  bool failed, help;
} Parser;

static void __attribute__((format(printf, 2, 3))) fail(Parser *p, const char *fmt, ...)
{
  if (p->failed) return;
  p->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof p->err, fmt, ap);
  va_end(ap);
}

/* ---------------------------------------------------------------- values */

/* Parse [v] as a value of option [o] into [out]; 0, or -1 with the
 * reason in [p] ([spelled]: the option as the user wrote it). */
static int set_value(Parser *p, const CliOption *o, const char *spelled, const char *v,
                     CliValue *out)
{
  int rc;
  switch (o->kind) {
  case CLI_FLAG:
    return 0;
  case CLI_SLOTS: {
    /* N, N%, +N, -N: N a decimal count (at most 9 digits) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), n = 0;
    if (cpus < 1) cpus = 1;
    const char *d = v + (v[0] == '+' || v[0] == '-');
    size_t nd = strspn(d, "0123456789");
    bool pct = d[nd] == '%' && !d[nd + 1] && d == v;
    if (nd == 0 || nd > 9 || (d[nd] && !pct)) {
      fail(p, "%s: \"%.*s%s\" is not a job count (N, N%%, +N or -N)", spelled, SHOWN(v));
      return -1;
    }
    n = strtol(d, NULL, 10);
    if (pct) n = (cpus * n + 99) / 100;
    else if (v[0] == '+') n = cpus + n;
    else if (v[0] == '-') n = cpus - n;
    else if (n == 0) n = o->max; /* GNU parallel's -j 0: as many as it can */
    if (n < o->min || n > o->max) {
      fail(p, "%s: \"%.*s%s\" is %ld jobs (%ld CPUs): not in %ld..%ld", spelled, SHOWN(v), n, cpus,
           o->min, o->max);
      return -1;
    }
    out->n = n;
    break;
  }
  case CLI_DURATION:
    rc = sup_parse_duration(v, &out->ms);
    if (rc == -2) {
      fail(p, "%s: \"%.*s%s\" is too long (the most is 1e15 ms, about 31,700 years)", spelled,
           SHOWN(v));
      return -1;
    }
    if (rc < 0) {
      fail(p, "%s: \"%.*s%s\" is not a duration (examples: 250ms, 5s, 2m)", spelled, SHOWN(v));
      return -1;
    }
    break;
  case CLI_SIZE:
    rc = sup_parse_size(v, &out->bytes);
    if (rc == -2) {
      fail(p, "%s: \"%.*s%s\" is too large (the most is 256 TiB)", spelled, SHOWN(v));
      return -1;
    }
    if (rc < 0) {
      fail(p, "%s: \"%.*s%s\" is not a size (examples: 1000, 64K, 256M, 1G)", spelled, SHOWN(v));
      return -1;
    }
    break;
  case CLI_INT: {
    char *end = NULL;
    long n = -1; /* no sign, no spaces: a count starts with a digit */
    errno = 0;
    if (v[0] >= '0' && v[0] <= '9') n = strtol(v, &end, 10);
    if (n < 0 || *end || errno || n < o->min || n > o->max) {
      fail(p, "%s: \"%.*s%s\" is not a count from %ld to %ld", spelled, SHOWN(v), o->min, o->max);
      return -1;
    }
    out->n = n;
    break;
  }
  case CLI_JSON: {
    const char *err = NULL;
    if (sup_json_check(v, strlen(v), &err) < 0) {
      fail(p, "%s: \"%.*s%s\" is not valid JSON (%s)", spelled, SHOWN(v), err ? err : "?");
      return -1;
    }
    break;
  }
  case CLI_SIZE_OPT:
    if (!v) { /* --opt alone */
      out->bytes = 0;
      out->text = NULL;
      return 0;
    }
    rc = sup_parse_size(v, &out->bytes);
    if (rc < 0) {
      fail(p, rc == -2 ? "%s: \"%.*s%s\" is too large (the most is 256 TiB)"
                       : "%s: \"%.*s%s\" is not a size (examples: 1000, 64K, 256M, 1G)",
           spelled, SHOWN(v));
      return -1;
    }
    break;
  case CLI_LIST: {
    /* every item of [v], appended to what earlier occurrences gave */
    size_t n = 1;
    for (const char *c = v; *c; c++) n += *c == ',';
    char **items = realloc(out->items, (out->nitems + n) * sizeof *items);
    if (!items) abort();
    out->items = items;
    for (const char *s = v;;) {
      size_t len = strcspn(s, ",");
      if (len == 0) {
        fail(p, "%s: \"%.*s%s\" has an empty item", spelled, SHOWN(v));
        return -1;
      }
      char *item = strndup(s, len);
      if (!item) abort();
      out->items[out->nitems++] = item;
      if (!s[len]) break;
      s += len + 1;
    }
    break;
  }
  case CLI_REPEAT: {
    char **items = realloc(out->items, (out->nitems + 1) * sizeof *items);
    if (!items) abort();
    out->items = items;
    if (!(out->items[out->nitems] = strdup(v))) abort();
    out->nitems++;
    break;
  }
  case CLI_STRING:
    break;
  }
  out->text = v;
  return 0;
}

/* Which commands accept [o], for an error: "run, batch". */
static void commands_of(const CliOption *o, char *buf, size_t n)
{
  buf[0] = 0;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (o->cmds & commands[i].bit) {
      size_t l = strlen(buf);
      snprintf(buf + l, n - l, "%s%s", l ? ", " : "", commands[i].name);
    }
}

/* Option [o] met at argv[*i] as [spelled]; its value [inline_v] when it was
 * attached (--opt=V, -jV), else the next argument. */
static void take(Parser *p, const CliOption *o, const char *spelled, const char *inline_v, int argc,
                 char **argv, int *i)
{
  CliArgs *a = p->a;
  CliOptId id = (CliOptId)(o - cli_options);
  if (!(o->cmds & a->cmd->bit)) {
    char which[64];
    commands_of(o, which, sizeof which);
    fail(p, "%s is not an option of harn %s (only of %s)", spelled, a->cmd->name, which);
    return;
  }
  if (id == CLI_OPT_HELP) p->help = true;
  const char *v = inline_v;
  if (o->kind == CLI_SIZE_OPT) {
    /* only --opt=SIZE carries a value */
  } else if (o->kind == CLI_FLAG) {
    if (v) {
      fail(p, "%s takes no value (\"%.*s%s\" given)", spelled, SHOWN(v));
      return;
    }
  } else if (!v) {
    if (*i + 1 >= argc) {
      fail(p, "%s needs a value (%s)", spelled, o->meta);
      return;
    }
    v = argv[++*i];
  }
  CliValue val = a->opt[id];
  int rc = set_value(p, o, spelled, v, &val);
  a->opt[id].items = val.items; /* a list keeps what it took, even on an error */
  a->opt[id].nitems = val.nitems;
  if (rc < 0) return;
  val.given = true;
  val.pos = *i;
  a->opt[id] = val;
}

/* --NAME[=VALUE] at argv[*i]. */
static void long_option(Parser *p, int argc, char **argv, int *i)
{
  const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  char spelled[64];
  snprintf(spelled, sizeof spelled, "--%.*s", (int)(len < 60 ? len : 60), name);
  for (int k = 0; k < CLI_OPT__COUNT; k++)
    if (strlen(cli_options[k].name) == len && !strncmp(cli_options[k].name, name, len)) {
      take(p, &cli_options[k], spelled, eq ? eq + 1 : NULL, argc, argv, i);
      return;
    }
  /* the nearest of this command's options, if one is near */
  const char *names[CLI_OPT__COUNT];
  for (int k = 0; k < CLI_OPT__COUNT; k++)
    names[k] = cli_options[k].cmds & p->a->cmd->bit ? cli_options[k].name : NULL;
  const char *near = suggest(name, len, names, CLI_OPT__COUNT);
  if (near) fail(p, "unknown option %s (did you mean --%s?)", spelled, near);
  else fail(p, "unknown option %s", spelled);
}

/* -X... at argv[*i]: short flags may be bundled (-hx); a short option
 * with a value takes the rest of the argument (-j4) or the next one. */
static void short_options(Parser *p, int argc, char **argv, int *i)
{
  const char *arg = argv[*i];
  for (size_t c = 1; arg[c]; c++) {
    const CliOption *o = NULL;
    for (int k = 0; k < CLI_OPT__COUNT; k++)
      if (cli_options[k].short_name && cli_options[k].short_name == arg[c]) o = &cli_options[k];
    char spelled[3] = {'-', arg[c], 0};
    if (!o) {
      fail(p, "unknown option %s", spelled);
      return;
    }
    if (o->kind != CLI_FLAG) {
      take(p, o, spelled, arg[c + 1] ? arg + c + 1 : NULL, argc, argv, i);
      return;
    }
    take(p, o, spelled, NULL, argc, argv, i);
  }
}

/* ---------------------------------------------------------------- parser */

int cli_parse(const char *cmd, int argc, char **argv, CliArgs *out)
{
  memset(out, 0, sizeof *out);
  out->cmd = cli_command(cmd);
  if (!out->cmd) abort(); /* a caller's bug: main.c only passes known ones */
  out->operands = calloc((size_t)argc + 1, sizeof *out->operands);
  if (!out->operands) abort();
  Parser p = {.a = out};
  for (int k = 0; k < CLI_OPT__COUNT; k++) {
    const CliOption *o = &cli_options[k];
    if (o->def && set_value(&p, o, o->name, o->def, &out->opt[k]) < 0) abort(); /* bad table */
  }
  bool options = true, run_args = false;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (options && !strcmp(arg, "--")) {
      options = false;
      if (out->cmd->bit == CLI_CMD_RUN) out->nbefore = out->noperands, run_args = true;
    } else if (options && arg[0] == '-' && arg[1] == '-') {
      long_option(&p, argc, argv, &i);
    } else if (options && arg[0] == '-' && arg[1]) {
      short_options(&p, argc, argv, &i);
    } else {
      out->operands[out->noperands++] = argv[i];
    }
  }
  if (!run_args) out->nbefore = out->noperands;
  else if (out->nbefore == 0 && out->noperands) out->nbefore = 1; /* run -- -x.harn ARGS */
  if (p.help) return CLI_HELP;
  const CliCommand *c = out->cmd;
  if (!p.failed && out->nbefore < c->min_operands) {
    /* "FILE", "SOURCE..." -> "no FILE given", "no SOURCE given" */
    fail(&p, "no %.*s given", (int)strcspn(c->operands, "."), c->operands);
  }
  if (!p.failed && c->max_operands == 0 && out->nbefore > 0)
    fail(&p, "takes no operand (\"%.*s%s\" given)", SHOWN(out->operands[0]));
  if (!p.failed && c->max_operands > 0 && out->nbefore > c->max_operands)
    fail(&p, "only one %s may be given (\"%.*s%s\" is another)", c->operands,
         SHOWN(out->operands[c->max_operands]));
  if (p.failed) return cli_usage_error(out, "%s", p.err);
  return 0;
}

const char *cli_run_input(const CliArgs *a, char **owned, int *rc)
{
  *rc = 0;
  *owned = NULL;
  if (a->nbefore == a->noperands) return a->opt[CLI_OPT_INPUT].text;
  if (a->opt[CLI_OPT_INPUT].given) {
    *rc = cli_usage_error(a, "--input and arguments after -- both give the input: choose one");
    return NULL;
  }
  Buf b = {0};
  buf_putc(&b, '[');
  for (int i = a->nbefore; i < a->noperands; i++) {
    if (i > a->nbefore) buf_putc(&b, ',');
    sup_json_str(&b, a->operands[i], strlen(a->operands[i]));
  }
  buf_putc(&b, ']');
  return *owned = b.data;
}

void cli_args_free(CliArgs *a)
{
  for (int k = 0; k < CLI_OPT__COUNT; k++) {
    for (size_t i = 0; i < a->opt[k].nitems; i++) free(a->opt[k].items[i]);
    free(a->opt[k].items);
    a->opt[k].items = NULL;
    a->opt[k].nitems = 0;
  }
  free(a->operands);
  a->operands = NULL;
  a->noperands = 0;
}

/* ------------------------------------------------------------------ help */

/* The column where help lines start: 2 + 18 + 2. */
#define HELP_COL 22

void cli_options_help(const CliCommand *cmd, FILE *out)
{
  if (has_options(cmd)) fputc('\n', out);
  for (int k = 0; k < CLI_OPT__COUNT; k++) {
    const CliOption *o = &cli_options[k];
    if (k == CLI_OPT_HELP || !(o->cmds & cmd->bit)) continue;
    char left[64];
    snprintf(left, sizeof left, "%s%s%s--%s%s%s", o->short_name ? "-" : "",
             o->short_name ? (char[]){o->short_name, 0} : "", o->short_name ? ", " : "", o->name,
             o->meta && o->meta[0] != '[' ? " " : "", o->meta ? o->meta : "");
    fprintf(out, "  %-18s", left);
    if (strlen(left) > 18) fprintf(out, "\n  %-18s", "");
    const char *h = o->help;
    int n;
    for (;;) {
      const char *nl = strchr(h, '\n');
      n = nl ? (int)(nl - h) : (int)strlen(h);
      fprintf(out, "  %.*s", n, h);
      if (!nl) break;
      fprintf(out, "\n  %-18s", "");
      h = nl + 1;
    }
    /* the default after the last line, or under it past 80 columns */
    if (o->def && HELP_COL + n + 11 + (int)strlen(o->def) <= 80) fprintf(out, " (default %s)", o->def);
    else if (o->def) fprintf(out, "\n  %-18s  (default %s)", "", o->def);
    fputc('\n', out);
  }
}
