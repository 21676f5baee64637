/*
 * cli_gen.c: the man page's option lists and the bash and zsh completions,
 * generated from the option table (options.c cli_options[] and its
 * commands), so that neither can drift from what the parser accepts.
 *
 *   harn help --man TEMPLATE   the man page: TEMPLATE (docs/man/harn.1.in,
 *                              the prose, in roff) with its placeholders
 *                              filled in
 *   harn completion bash|zsh   a completion script for that shell
 *
 * Both are hidden (the build runs them: docs/man/generate.cmake makes the
 * installed files); their output is a pure function of the table, the
 * template and the version.
 *
 * Template placeholders: a line that is exactly "@OPTIONS CMD@" becomes
 * the option list of command CMD (a roff comment line naming it, then one
 * .TP paragraph per option, table order; tests/unit/test_cli_gen.c finds
 * the lists by that comment); "@VERSION@" anywhere becomes the version.
 * An unknown placeholder command or a template line over 4 KiB is an
 * error (nothing half-written is trusted: the build fails).
 *
 * Invariants: every option row whose cmds has a command's bit is in that
 * command's list in the man page and in its option words in both
 * completions (-h/--help included); texts from the table are escaped for
 * the target language (roff: backslash, minus, a leading dot; shells:
 * single quotes; zsh: brackets and colons in descriptions).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/cli.h"
#include "supervisor/options.h"

#ifndef HARN_VERSION
#define HARN_VERSION "unknown"
#endif

/* The longest template line accepted (with its newline). */
#define GEN_MAX_LINE 4096

/* The commands that are not in the option table's list (options.c, where
 * the others' summaries are), for zsh's command menu. */
static const struct {
  const char *name, *summary;
} more_commands[] = {
    {"help", "the list of commands, or a command's options"},
    {"version", "the version and the worker protocol's version"},
};

/* Whether option [o] is one of command [c]'s. */
static bool takes(const CliCommand *c, const CliOption *o) { return (o->cmds & c->bit) != 0; }

/* ------------------------------------------------------------------- roff */

/* [n] bytes of [s] as roff text: \ -> \e, - -> \-, and \& before a dot or
 * quote that would start a line (a request). */
static void roff_text(FILE *out, const char *s, size_t n, bool line_start)
{
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (line_start && (ch == '.' || ch == '\'')) fputs("\\&", out);
    line_start = false;
    if (ch == '\\') fputs("\\e", out);
    else if (ch == '-') fputs("\\-", out);
    else fputc(ch, out);
  }
}

static void roff_str(FILE *out, const char *s, bool line_start)
{
  roff_text(out, s, strlen(s), line_start);
}

/* The option list of command [c] in roff. */
static void man_options(const CliCommand *c, FILE *out)
{
  fprintf(out, ".\\\" options of harn %s (generated from the option table)\n", c->name);
  for (int k = 0; k < CLI_OPT__COUNT; k++) {
    const CliOption *o = &cli_options[k];
    if (!takes(c, o)) continue;
    fputs(".TP\n", out);
    if (o->short_name) fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
    fputs("\\fB\\-\\-", out);
    roff_str(out, o->name, false);
    fputs("\\fR", out);
    if (o->meta && o->meta[0] == '[') { /* [=SIZE] */
      fputs("[=\\fI", out);
      roff_text(out, o->meta + 2, strcspn(o->meta + 2, "]"), false);
      fputs("\\fR]", out);
    } else if (o->meta) {
      fputs(" \\fI", out);
      roff_str(out, o->meta, false);
      fputs("\\fR", out);
    }
    fputc('\n', out);
    if (k == CLI_OPT_HELP) {
      fputs("Print the command's help and exit.\n", out);
      continue;
    }
    for (const char *h = o->help;;) { /* one output line per help line */
      size_t n = strcspn(h, "\n");
      roff_text(out, h, n, true);
      fputc('\n', out);
      if (!h[n]) break;
      h += n + 1;
    }
    if (o->def) {
      fputs("(default \\fB", out);
      roff_str(out, o->def, false);
      fputs("\\fR)\n", out);
    }
  }
}

int cli_man(const char *template_path, FILE *out)
{
  FILE *in = fopen(template_path, "re");
  if (!in) {
    fprintf(stderr, "harn help --man: cannot open %s: %m\n", template_path);
    return 1;
  }
  char line[GEN_MAX_LINE];
  int rc = 0;
  for (unsigned lineno = 1; rc == 0 && fgets(line, sizeof line, in); lineno++) {
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      fprintf(stderr, "harn help --man: %s:%u: a line over %d bytes\n", template_path, lineno,
              GEN_MAX_LINE - 2);
      rc = 1;
      break;
    }
    if (!strncmp(line, "@OPTIONS ", 9)) {
      char name[64];
      size_t n = strcspn(line + 9, "@\n");
      const CliCommand *c = NULL;
      if (n < sizeof name && !strcmp(line + 9 + n, "@\n")) {
        memcpy(name, line + 9, n);
        name[n] = 0;
        c = cli_command(name);
      }
      if (!c) {
        fprintf(stderr, "harn help --man: %s:%u: not a command's placeholder: %.*s\n",
                template_path, lineno, (int)strcspn(line, "\n"), line);
        rc = 1;
        break;
      }
      man_options(c, out);
      continue;
    }
    for (const char *s = line, *at; *s; s = at + 9) {
      at = strstr(s, "@VERSION@");
      if (!at) {
        fputs(s, out);
        break;
      }
      fwrite(s, 1, (size_t)(at - s), out);
      fputs(HARN_VERSION, out);
    }
  }
  if (rc == 0 && ferror(in)) {
    fprintf(stderr, "harn help --man: cannot read %s: %m\n", template_path);
    rc = 1;
  }
  fclose(in);
  return rc;
}

/* ------------------------------------------------------------ completions */

/* Whether option [o]'s value is a path (complete file names there). */
static bool path_value(const CliOption *o)
{
  return o->meta && (strstr(o->meta, "FILE") || strstr(o->meta, "PATH"));
}

/* [s] with every ' as '\'' (inside a single-quoted shell word). */
static void sh_quoted(FILE *out, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\'') fputs("'\\''", out);
    else fputc(s[i], out);
  }
}

static void bash_words(const CliCommand *c, FILE *out, int which)
{
  /* which: 0 every option word; 1 those taking a value; 2 those taking a path */
  bool first = true;
  for (int k = 0; k < CLI_OPT__COUNT; k++) {
    const CliOption *o = &cli_options[k];
    if (!takes(c, o)) continue;
    bool valued = o->kind != CLI_FLAG && o->kind != CLI_SIZE_OPT;
    if ((which == 1 && !valued) || (which == 2 && !(valued && path_value(o)))) continue;
    if (o->short_name) fprintf(out, "%s-%c", first ? "" : " ", o->short_name), first = false;
    fprintf(out, "%s--%s", first ? "" : " ", o->name);
    first = false;
  }
}

static void completion_bash(FILE *out)
{
  fputs("# bash completion for harn(1): generated by `harn completion bash` from the\n"
        "# option table (supervisor/options.c); do not edit.\n"
        "_harn()\n"
        "{\n"
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
        "    local i=$((COMP_CWORD - 1))\n"
        "    # --opt=VALUE: bash splits it at the '='\n"
        "    if [[ $cur == = ]]; then cur=; prev=${COMP_WORDS[COMP_CWORD-1]}; i=$((i - 1));\n"
        "    elif [[ $prev == = ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; i=$((i - 1)); fi\n"
        "    COMPREPLY=()\n"
        "    if [[ $COMP_CWORD -eq 1 ]]; then\n"
        "        COMPREPLY=($(compgen -W '",
        out);
  for (size_t i = 0; cli_command_at(i); i++) fprintf(out, "%s ", cli_command_at(i)->name);
  fputs("help version' -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    local opts valued paths\n"
        "    case ${COMP_WORDS[1]} in\n",
        out);
  for (size_t i = 0; cli_command_at(i); i++) {
    const CliCommand *c = cli_command_at(i);
    fprintf(out, "        %s)\n            opts='", c->name);
    bash_words(c, out, 0);
    fputs("'\n            valued='", out);
    bash_words(c, out, 1);
    fputs("'\n            paths='", out);
    bash_words(c, out, 2);
    fputs("' ;;\n", out);
  }
  fputs("        help)\n"
        "            [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W '",
        out);
  for (size_t i = 0; cli_command_at(i); i++) fprintf(out, "%s%s", i ? " " : "", cli_command_at(i)->name);
  fputs("' -- \"$cur\"))\n"
        "            return ;;\n"
        "        *) return ;;\n"
        "    esac\n"
        "    # the value of an option: a path, or free text (nothing to offer)\n"
        "    if [[ $i -ge 2 && \" $paths \" == *\" $prev \"* ]]; then\n"
        "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    [[ $i -ge 2 && \" $valued \" == *\" $prev \"* ]] && return\n"
        "    if [[ $cur == -* ]]; then\n"
        "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "}\n"
        "complete -o filenames -o bashdefault -F _harn harn\n",
        out);
}

/* A description for zsh's _arguments: the first help line, with ' [ ] :
 * and \ escaped. */
static void zsh_desc(FILE *out, const char *h)
{
  size_t n = strcspn(h, "\n");
  for (size_t i = 0; i < n; i++) {
    if (h[i] == '\'') fputs("'\\''", out);
    else if (h[i] == '[' || h[i] == ']' || h[i] == ':' || h[i] == '\\') fprintf(out, "\\%c", h[i]);
    else fputc(h[i], out);
  }
}

static void completion_zsh(FILE *out)
{
  fputs("#compdef harn\n"
        "# zsh completion for harn(1): generated by `harn completion zsh` from the\n"
        "# option table (supervisor/options.c); do not edit.\n"
        "_harn() {\n"
        "  local -a commands\n"
        "  commands=(\n",
        out);
  for (size_t i = 0; cli_command_at(i); i++) {
    fprintf(out, "    '%s:", cli_command_at(i)->name);
    sh_quoted(out, cli_command_at(i)->summary, strlen(cli_command_at(i)->summary));
    fputs("'\n", out);
  }
  for (size_t i = 0; i < sizeof more_commands / sizeof more_commands[0]; i++) {
    fprintf(out, "    '%s:", more_commands[i].name);
    sh_quoted(out, more_commands[i].summary, strlen(more_commands[i].summary));
    fputs("'\n", out);
  }
  fputs("  )\n"
        "  if (( CURRENT == 2 )); then\n"
        "    _describe -t commands 'harn command' commands\n"
        "    return\n"
        "  fi\n"
        "  local cmd=${words[2]}\n"
        "  shift words\n"
        "  (( CURRENT-- ))\n"
        "  case $cmd in\n",
        out);
  for (size_t i = 0; cli_command_at(i); i++) {
    const CliCommand *c = cli_command_at(i);
    fprintf(out, "    %s)\n      _arguments -s -S \\\n", c->name);
    for (int k = 0; k < CLI_OPT__COUNT; k++) {
      const CliOption *o = &cli_options[k];
      if (!takes(c, o)) continue;
      bool repeat = o->kind == CLI_LIST || o->kind == CLI_REPEAT;
      bool valued = o->kind != CLI_FLAG && o->kind != CLI_SIZE_OPT;
      const char *suffix = o->kind == CLI_SIZE_OPT ? "=-" : valued ? "=" : "";
      fputs("        ", out);
      if (k == CLI_OPT_HELP) fputs("'(- *)'", out);
      else if (o->short_name && !repeat) fprintf(out, "'(-%c --%s)'", o->short_name, o->name);
      else if (repeat) fputs("'*'", out);
      if (o->short_name)
        fprintf(out, "{-%c%s,--%s%s}'[", o->short_name, valued ? "+" : "", o->name, suffix);
      else
        fprintf(out, "'--%s%s[", o->name, suffix);
      zsh_desc(out, k == CLI_OPT_HELP ? "print the command's help" : o->help);
      fputc(']', out);
      if (o->kind == CLI_SIZE_OPT) fputs("::SIZE: ", out);
      else if (valued) {
        fputc(':', out);
        zsh_desc(out, o->meta);
        fputs(path_value(o) ? ":_files" : ": ", out);
      }
      fputs("' \\\n", out);
    }
    fputs("        '*:file:_files' ;;\n", out);
  }
  fputs("    help)\n"
        "      (( CURRENT == 2 )) && _describe -t commands 'harn command' commands ;;\n"
        "  esac\n"
        "}\n"
        "_harn \"$@\"\n",
        out);
}

int cli_completion(const char *shell, FILE *out)
{
  if (shell && !strcmp(shell, "bash")) completion_bash(out);
  else if (shell && !strcmp(shell, "zsh")) completion_zsh(out);
  else {
    fprintf(stderr, "usage: harn completion bash|zsh\n");
    return 2;
  }
  return 0;
}
