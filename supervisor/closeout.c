/*
 * closeout.c: a command's exit status when its stdout may have failed.
 *
 * Output that could not be written (a full disk, a closed terminal) is
 * output lost: as with coreutils' close_stdout, the command then says so on
 * stderr and does not exit 0. A reader that went away (EPIPE: `harn run x |
 * head -1`) is its own choice, and SIGPIPE is ignored here, so that case
 * is silent, but still not 0, as a process killed by SIGPIPE would not be.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/cli.h"

int cli_close_stdout(const char *who, int code, int write_errno)
{
  int err = write_errno;
  errno = 0;
  if (fflush(stdout) != 0 && !err) err = errno ? errno : -1;
  if (ferror(stdout) && !err) err = -1; /* failed earlier; the reason is gone */
  if (!err) return code;
  if (err != EPIPE)
    fprintf(stderr, "%s: cannot write to stdout%s%s\n", who, err > 0 ? ": " : "",
            err > 0 ? strerror(err) : "");
  return code == 0 ? 1 : code;
}
