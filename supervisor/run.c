/*
 * run.c: `harn run FILE`: one job through the pool, in the foreground.
 *
 * The loop runs until the job's record is out and every handle is closed.
 * Program output is written to our stdout/stderr as output events arrive
 * (up to the output cap, like the record); with --events every event is a
 * JSON line on stdout instead, and with --json the terminal record is
 * printed at the end (raw output is then not echoed, so stdout stays one
 * JSON document per line). SIGINT (Ctrl-C), SIGTERM and SIGHUP to us
 * cancel the job: the same signal goes to the worker's group (SIGINT for
 * Ctrl-C, reason `cancel`), then SIGKILL after the grace; the exit code
 * then comes from the record (130 cancelled, 137 killed).
 */
#define _GNU_SOURCE
#include "base/defaults.h"
#include "supervisor/supervisor.h"
#include "supervisor/sup_internal.h"
#include "supervisor/net_rules.h"
#include "supervisor/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Run {
  bool json, events;
  size_t max_output, streamed;
  bool truncated_note;
  int exit_code;
  SupPool pool;
  uv_signal_t sigs[3];
  int nsigs;
  bool cancelled;
  int stdout_errno;   /* first failed write to fd 1 (write_fd) */
} Run;

/* Write to our fd 1 or 2. A failure does not stop the job (EPIPE: the
 * reader is gone; keep supervising), but the first errno on stdout is kept
 * for the exit status (cli_close_stdout). */
static void write_fd(Run *r, int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (fd == 1 && !r->stdout_errno) r->stdout_errno = errno;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static void run_event(SupJob *job, const IpcMsg *m, void *ud)
{
  Run *r = ud;
  if (r->events) {
    Buf b = {0};
    sup_event_json(&b, m);
    buf_putc(&b, '\n');
    write_fd(r, 1, b.data, b.len);
    buf_free(&b);
    return;
  }
  if (r->json || m->type != IPC_MSG_OUTPUT) return;
  size_t n = m->u.output.len;
  if (r->streamed >= r->max_output) {
    n = 0;
  } else if (n > r->max_output - r->streamed) {
    n = r->max_output - r->streamed;
  }
  if (n < m->u.output.len && !r->truncated_note) {
    r->truncated_note = true;
    fprintf(stderr, "harn: output truncated at %zu bytes\n", r->max_output);
  }
  r->streamed += n;
  if (n) write_fd(r, m->u.output.stream == 2 ? 2 : 1, m->u.output.data, n);
}

static void run_done(SupJob *job, const SupOutcome *o, void *ud)
{
  Run *r = ud;
  r->exit_code = o->exit_code;
  if (r->json) {
    Buf b = {0};
    buf_puts(&b, o->record);
    buf_putc(&b, '\n');
    write_fd(r, 1, b.data, b.len);
    buf_free(&b);
  }
  if (r->json || r->events) goto out;
  switch (o->status) {
  case SUP_STATUS_OK:
    break;
  case SUP_STATUS_ERROR:
    if (o->err_result) { /* a returned Err(msg): msg, as the reference prints it */
      fprintf(stderr, "%s\n", o->err_result);
    } else if (o->diagnostic && *o->diagnostic) {
      size_t l = strlen(o->diagnostic);
      vm_print_diagnostic(o->diagnostic, stderr);
      if (o->diagnostic[l - 1] != '\n') fputc('\n', stderr);
    } else if (o->error_text) {
      fprintf(stderr, "error: %s\n", o->error_text);
    }
    break;
  default:
    fprintf(stderr, "harn: job %s (%s)\n", sup_status_name(o->status), o->reason ? o->reason : "");
    break;
  }
out:
  for (int i = 0; i < r->nsigs; i++) uv_close((uv_handle_t *)&r->sigs[i], NULL);
  r->nsigs = 0;
  sup_pool_close(&r->pool);
}

static void run_signal(uv_signal_t *h, int signum)
{
  Run *r = h->data;
  if (r->cancelled) return;
  r->cancelled = true;
  sup_pool_cancel_all(&r->pool, signum);
}

int sup_cmd_run(const CliArgs *a)
{
  const char *file = a->operands[0];
  char *args_json;
  int rc0;
  const char *input = cli_run_input(a, &args_json, &rc0);
  if (rc0) return rc0;
  double timeout = a->opt[CLI_OPT_TIMEOUT].ms, grace = a->opt[CLI_OPT_GRACE].ms;
  double cpu_ms = a->opt[CLI_OPT_CPU].ms;
  size_t memory = a->opt[CLI_OPT_MEMORY].bytes, max_events = (size_t)a->opt[CLI_OPT_MAX_EVENTS].n;
  bool no_sandbox = a->opt[CLI_OPT_NO_SANDBOX].given;
  Run r;
  memset(&r, 0, sizeof r);
  r.max_output = a->opt[CLI_OPT_MAX_OUTPUT].bytes;
  r.json = a->opt[CLI_OPT_JSON].given;
  r.events = a->opt[CLI_OPT_EVENTS].given;

  /* A program that is not a regular file (`-` or /dev/stdin, a pipe, a
   * FIFO, a device) is read here, whole, and goes to the worker as source
   * text: the worker's own stdin is /dev/null (its /dev/stdin would be an
   * empty program), and a pipe can be read once. At most SUP_MAX_PROGRAM
   * bytes of it are read (/dev/zero is an error, not an out-of-memory). */
  char *text = NULL;
  const char *name = file;
  struct stat st;
  if (!strcmp(file, "-") || (stat(file, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
    size_t len;
    text = cli_read_file(!strcmp(file, "-") ? "/dev/stdin" : file, &len);
    if (!text) { /* as the worker says it of a regular file */
      fprintf(stderr, "error: Cannot read file %s: %s\n", file,
              errno == EFBIG ? "more than 64 MiB" : strerror(errno));
      free(args_json);
      return 1;
    }
    if (memchr(text, '\0', len)) {
      fprintf(stderr, "error: %s: the program contains a NUL byte\n", file);
      free(text);
      free(args_json);
      return 1;
    }
    if (!strcmp(file, "-")) name = "<stdin>";
  }

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "harn run: cannot start the event loop\n");
    free(text);
    free(args_json);
    return 1;
  }
  SupPoolConfig cfg = {.grace_ms = grace, .max_output = r.max_output,
                       .no_sandbox = no_sandbox, .memory = memory, .cpu_ms = cpu_ms,
                       .max_events = max_events};
  SupGrant *grants = NULL;
  int ngrants = 0;
  char *cwd = NULL;
  SupEnv env = {0};
  struct NetRules *net = NULL;
  if (sup_caps_config(a, &cfg, &grants, &ngrants, &cwd) != 0 || sup_env_config(a, &cfg, &env) != 0 ||
      sup_net_config("run", a, &cfg, &net) != 0) {
    sup_grants_close(grants, ngrants);
    free(cwd);
    sup_env_free(&env);
    net_rules_free(net);
    uv_loop_close(&loop);
    free(text);
    free(args_json);
    return CLI_USAGE;
  }
  SupHooks hooks = {.on_event = run_event, .on_done = run_done, .ud = &r};
  static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  int urc = sup_pool_init(&r.pool, &loop, &cfg, &hooks);
  if (urc == 0) {
    urc = sup_signals_start(&loop, r.sigs, sigs, 3, run_signal, &r);
    if (urc != 0) sup_pool_close(&r.pool);
  }
  if (urc != 0) {
    /* Without its signal watchers `harn run` could neither reap its
     * worker nor pass a Ctrl-C on to it: it does not start the job. */
    fprintf(stderr, "harn run: cannot watch signals: %s\n", uv_strerror(urc));
    uv_run(&loop, UV_RUN_DEFAULT); /* finish the closes */
    uv_loop_close(&loop);
    free(text);
    free(args_json);
    sup_grants_close(grants, ngrants);
    free(cwd);
    sup_env_free(&env);
    net_rules_free(net);
    return 1;
  }
  r.nsigs = 3;

  SupSpec spec = {0};
  spec.id = strdup(name);
  spec.file = strdup(name);
  spec.is_source = text != NULL;
  spec.program = text ? text : strdup(file);
  spec.input_json = args_json ? args_json : input ? strdup(input) : NULL;
  spec.timeout_ms = timeout;
  spec.attempt = 1;
  spec.seq = 1;
  r.exit_code = 1;
  sup_pool_start(&r.pool, &spec);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) fprintf(stderr, "harn run: event loop not empty at exit\n");
  }
  sup_grants_close(grants, ngrants);
  free(cwd);
  sup_env_free(&env);
  net_rules_free(net);
  return cli_close_stdout("harn run", r.exit_code, r.stdout_errno);
}
