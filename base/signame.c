/*
 * signame.c: the signal name table (signame.h), searched linearly in both
 * directions: 24 entries, looked up once per finished job at most.
 */
#include "base/signame.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct {
  int sig;
  const char *name;
} names[] = {
  {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},     {SIGILL, "SIGILL"},
  {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},
  {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},     {SIGUSR2, "SIGUSR2"},
  {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},     {SIGCHLD, "SIGCHLD"},
  {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},     {SIGXCPU, "SIGXCPU"},
  {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},   {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},
};

const char *signame_name(int sig)
{
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].sig == sig) return names[i].name;
  return NULL;
}

int signame_number(const char *name)
{
  if (!name) return 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(names[i].name, name) == 0) return names[i].sig;
  return 0;
}

const char *signame_fmt(int sig, char buf[SIGNAME_MAX])
{
  const char *name = signame_name(sig);
  if (name) return name;
  snprintf(buf, SIGNAME_MAX, "SIG%d", sig);
  return buf;
}
