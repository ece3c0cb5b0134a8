/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sourcectl: the command-line client of sourced, in the manner of
 * systemctl — one verb, some ids, human tables or --json. This file holds
 * the verb table, the options and main(); the verbs are in verbs-*.c and
 * monitor.c (see sourcectl.h). */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

#include <glib/gi18n.h>
#include "output.h"
#include "pager.h"
#include "polkit-agent.h"
#include "sourcectl.h"

/* A verb: its name and help, how many ids it takes, the options that
 * apply to it, and what it is. */
typedef enum {
  VERB_READS = 0,
  VERB_CHANGES = 1 << 0, /* polkit may ask for a password (system bus) */
  VERB_PAGED = 1 << 1,   /* long output goes through a pager on a terminal */
} VerbFlags;

typedef struct {
  const char *name;
  const char *usage;
  const char *summary;
  int min_args;
  int max_args; /* -1: any number */
  guint options;
  VerbFlags flags;
  int (*run) (Ctl *ctl);
  const char *details;
} Verb;

static const Verb verbs[] = {
  { "list", "", N_ ("List sources: status, pause, schedule, records"), 0, 0, OPT_JSON | OPT_NO_LEGEND | OPT_QUIET,
    VERB_READS, verb_list,
    N_ ("  --json        print a JSON array of source objects\n"
        "  --no-legend   no header and no summary line\n"
        "  -q, --quiet   print the ids only, one per line\n") },
  { "status", "[ID...]", N_ ("Show the state of sources (all without ID), with their journal lines"), 0, -1,
    OPT_JSON | OPT_LINES, VERB_PAGED, verb_status,
    N_ ("  --json        print a JSON array of source objects\n"
        "  -n, --lines=N how many journal lines to show (default 10)\n") },
  { "show", "ID...", N_ ("Show every property of sources"), 1, -1, OPT_JSON, VERB_READS, verb_show,
    N_ ("  --json        print the properties as a JSON object (an array for several ids)\n") },
  { "pause", "ID... [--at TIME]", N_ ("Pause sources (Stitch: set paused_at)"), 1, -1, OPT_AT, VERB_CHANGES, verb_pause,
    N_ ("  --at TIME     pause as of TIME (ISO 8601, e.g. 2019-06-01T00:00:00Z, UTC\n"
        "                unless a zone is given); the pause takes effect at once\n") },
  { "unpause", "ID...", N_ ("Unpause sources (clears a pause made by sourced too)"), 1, -1, 0, VERB_CHANGES,
    verb_unpause, NULL },
  { "start", "ID...", N_ ("Start sources that are not running"), 1, -1, 0, VERB_CHANGES, verb_start, NULL },
  { "restart", "ID...", N_ ("Start sources, restarting running ones"), 1, -1, 0, VERB_CHANGES, verb_restart, NULL },
  { "stop", "ID...", N_ ("Stop sources"), 1, -1, 0, VERB_CHANGES, verb_stop, NULL },
  { "run", "ID...", N_ ("Run one job of scheduled sources now, even if paused"), 1, -1, 0, VERB_CHANGES, verb_run,
    NULL },
  { "create", "ID --exec CMD [OPTIONS]", N_ ("Create a source at run time"), 1, 1, OPT_CREATE, VERB_CHANGES,
    verb_create,
    N_ ("  --exec CMD          the worker's command line (required)\n"
        "  --type exec|singer  what it writes (default exec)\n"
        "  --frequency MIN     run a job every MIN minutes\n"
        "  --cron EXPR         run jobs on a 5-field cron schedule (UTC)\n"
        "  --paused            create it paused\n"
        "  --stopped           create it stopped\n"
        "  --sink FILE         the JSON-lines file its records go to\n"
        "  --target CMD        a Singer target to feed instead of a file\n"
        "  --name NAME         its display name\n") },
  { "remove", "ID...", N_ ("Stop and forget sources made with create"), 1, -1, 0, VERB_CHANGES, verb_remove, NULL },
  { "reload", "", N_ ("Re-read the definition files"), 0, 0, 0, VERB_CHANGES, verb_reload, NULL },
  { "pause-all", "", N_ ("Pause the Manager: hold every source"), 0, 0, 0, VERB_CHANGES, verb_pause_all, NULL },
  { "unpause-all", "", N_ ("Unpause the Manager"), 0, 0, 0, VERB_CHANGES, verb_unpause_all, NULL },
  { "monitor", "", N_ ("Print one line per change until Ctrl-C"), 0, 0, OPT_JSON, VERB_READS, verb_monitor,
    N_ ("  --json        one JSON object per line\n") },
};

static const Verb *
find_verb (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    if (g_str_equal (verbs[i].name, name))
      return &verbs[i];
  return NULL;
}

static void
print_help (void)
{
  printf (_ ("sourcectl [OPTIONS...] COMMAND [ID...]\n\n"
             "Query and control sourced, the data source supervisor.\n\n"
             "Commands:\n"));
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      g_autofree char *left = g_strdup_printf ("%s %s", verbs[i].name, verbs[i].usage);
      printf ("  %-28s %s\n", left, _ (verbs[i].summary));
    }
  printf (_ ("\nOptions:\n"
             "  -h, --help           show this help, or a command's with COMMAND --help\n"
             "      --version        show the version\n"
             "      --system         talk to sourced on the system bus (default)\n"
             "      --user           talk to sourced on the session bus\n"
             "  -H, --host=[USER@]HOST  talk to sourced on HOST's system bus over SSH\n"
             "      --json           print JSON (reading commands; monitor: JSON lines)\n"
             "      --no-legend      no table header and summary\n"
             "  -n, --lines=N        status: how many journal lines to show (default 10)\n"
             "      --no-pager       do not pipe the output into a pager\n"
             "      --no-ask-password  do not ask polkit for a password (on a terminal, changing\n"
             "                       commands on the system bus may ask, as systemctl does)\n"
             "\nColours are used when standard output is a terminal and NO_COLOR is unset.\n"
             "\nExit status:\n"
             "  0  success\n"
             "  1  failure (sourced said no, or is not running)\n"
             "  2  wrong usage\n"
             "  4  no such source\n"
             "  5  the source is not in a stoppable state\n"));
}

static void
print_verb_help (const Verb *cmd)
{
  printf (_ ("sourcectl [OPTIONS...] %s %s\n\n%s.\n"), cmd->name, cmd->usage, _ (cmd->summary));
  if (cmd->details)
    printf (_ ("\nOptions:\n%s"), _ (cmd->details));
  printf (_ ("\nCommon options: --system, --user, -H HOST; see sourcectl --help.\n"));
}

static int
connect_bus (Ctl *ctl, gboolean user, const char *host)
{
  int r;

  if (host)
    {
      ctl->bus_name = host;
      r = sd_bus_open_system_remote (&ctl->bus, host);
    }
  else if (user)
    {
      ctl->bus_name = "user";
      r = sd_bus_open_user (&ctl->bus);
    }
  else
    {
      ctl->bus_name = "system";
      r = sd_bus_open_system (&ctl->bus);
    }
  sourcectl_set_bus_label (ctl->bus_name);
  if (r < 0)
    {
      fprintf (stderr, _ ("sourcectl: cannot connect to the %s bus: %s\n"), ctl->bus_name, g_strerror (-r));
      return EXIT_FAIL;
    }
  return EXIT_OK;
}

/* What the command line asks for besides the verb's own options (which
 * go into Ctl). */
typedef struct {
  gboolean help, version, user, system_bus, ask_password, pager;
  const char *host;
} Options;

enum {
  ARG_VERSION = 0x100,
  ARG_SYSTEM,
  ARG_USER,
  ARG_JSON,
  ARG_NO_LEGEND,
  ARG_AT,
  ARG_EXEC,
  ARG_TYPE,
  ARG_FREQUENCY,
  ARG_CRON,
  ARG_PAUSED,
  ARG_STOPPED,
  ARG_SINK,
  ARG_TARGET,
  ARG_NAME,
  ARG_NO_ASK_PASSWORD,
  ARG_NO_PAGER,
};

static const struct option long_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "version", no_argument, NULL, ARG_VERSION },
  { "system", no_argument, NULL, ARG_SYSTEM },
  { "user", no_argument, NULL, ARG_USER },
  { "host", required_argument, NULL, 'H' },
  { "json", no_argument, NULL, ARG_JSON },
  { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
  { "quiet", no_argument, NULL, 'q' },
  { "at", required_argument, NULL, ARG_AT },
  { "exec", required_argument, NULL, ARG_EXEC },
  { "type", required_argument, NULL, ARG_TYPE },
  { "frequency", required_argument, NULL, ARG_FREQUENCY },
  { "cron", required_argument, NULL, ARG_CRON },
  { "paused", no_argument, NULL, ARG_PAUSED },
  { "stopped", no_argument, NULL, ARG_STOPPED },
  { "sink", required_argument, NULL, ARG_SINK },
  { "target", required_argument, NULL, ARG_TARGET },
  { "name", required_argument, NULL, ARG_NAME },
  { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
  { "lines", required_argument, NULL, 'n' },
  { "no-pager", no_argument, NULL, ARG_NO_PAGER },
  {},
};

/* Step 1: the options, into @ctl and @opts. EXIT_OK to go on, or the exit
 * code of a usage error (already reported). */
static int
parse_options (int argc, char **argv, Ctl *ctl, Options *opts)
{
  int c;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "hH:qn:", long_options, NULL)) >= 0)
    {
      switch (c)
        {
        case 'h':
          opts->help = TRUE;
          break;
        case ARG_VERSION:
          opts->version = TRUE;
          break;
        case ARG_SYSTEM:
          opts->system_bus = TRUE;
          break;
        case ARG_USER:
          opts->user = TRUE;
          break;
        case 'H':
          opts->host = optarg;
          break;
        case ARG_NO_ASK_PASSWORD:
          opts->ask_password = FALSE;
          break;
        case ARG_NO_PAGER:
          opts->pager = FALSE;
          break;
        case ARG_JSON:
          ctl->json = TRUE;
          ctl->given |= OPT_JSON;
          break;
        case ARG_NO_LEGEND:
          ctl->no_legend = TRUE;
          ctl->given |= OPT_NO_LEGEND;
          break;
        case 'q':
          ctl->quiet = TRUE;
          ctl->given |= OPT_QUIET;
          break;
        case ARG_AT:
          ctl->at = optarg;
          ctl->given |= OPT_AT;
          break;
        case ARG_EXEC:
          ctl->exec = optarg;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_TYPE:
          ctl->type = optarg;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_CRON:
          ctl->cron = optarg;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_SINK:
          ctl->sink = optarg;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_TARGET:
          ctl->target = optarg;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_NAME:
          ctl->name = optarg;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_PAUSED:
          ctl->paused = TRUE;
          ctl->given |= OPT_CREATE;
          break;
        case ARG_STOPPED:
          ctl->stopped = TRUE;
          ctl->given |= OPT_CREATE;
          break;
        case 'n':
          {
            char *end = NULL;
            guint64 v = g_ascii_strtoull (optarg, &end, 10);
            if (!*optarg || *end || v > 100000)
              return sourcectl_usage_error (_ ("--lines wants a number of lines from 0 to 100000, not '%s'"), optarg);
            ctl->lines = (guint) v;
            ctl->given |= OPT_LINES;
            break;
          }
        case ARG_FREQUENCY:
          {
            char *end = NULL;
            guint64 v = g_ascii_strtoull (optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > G_MAXUINT32)
              return sourcectl_usage_error (_ ("--frequency wants a number of minutes, not '%s'"), optarg);
            ctl->frequency = (guint32) v;
            ctl->has_frequency = TRUE;
            ctl->given |= OPT_CREATE;
            break;
          }
        case '?':
        default:
          if (optopt)
            return sourcectl_usage_error (_ ("option '-%c' is unknown or lacks its value"), optopt);
          return sourcectl_usage_error (_ ("option '%s' is unknown or lacks its value"), argv[optind - 1]);
        }
    }
  return EXIT_OK;
}

/* Step 2: the verb, and whether its arguments and options fit it. Help is
 * printed here (*done set). */
static int
select_verb (int argc, char **argv, Ctl *ctl, const Options *opts, const Verb **out, gboolean *done)
{
  const Verb *verb;

  *done = TRUE;
  if (opts->version)
    {
      printf ("sourcectl %s\n", SOURCED_VERSION);
      return EXIT_OK;
    }
  if (optind >= argc)
    {
      if (!opts->help)
        return sourcectl_usage_error (_ ("no command given"));
      print_help ();
      return EXIT_OK;
    }
  if (g_str_equal (argv[optind], "help"))
    {
      if (optind + 1 < argc && (verb = find_verb (argv[optind + 1])))
        print_verb_help (verb);
      else if (optind + 1 < argc)
        return sourcectl_usage_error (_ ("unknown command '%s'"), argv[optind + 1]);
      else
        print_help ();
      return EXIT_OK;
    }
  verb = find_verb (argv[optind]);
  if (!verb)
    return sourcectl_usage_error (_ ("unknown command '%s'"), argv[optind]);
  if (opts->help)
    {
      print_verb_help (verb);
      return EXIT_OK;
    }
  ctl->args = argv + optind + 1;
  ctl->n_args = argc - optind - 1;
  if (ctl->n_args < verb->min_args)
    return sourcectl_usage_error (
        verb->min_args == 1 && verb->max_args == 1 ? _ ("%s needs an ID") : _ ("%s needs at least one ID"), verb->name);
  if (verb->max_args >= 0 && ctl->n_args > verb->max_args)
    return sourcectl_usage_error (verb->max_args == 0 ? _ ("%s takes no arguments") : _ ("%s takes one ID"),
                                  verb->name);
  if (ctl->given & ~verb->options)
    return sourcectl_usage_error (_ ("an option given does not apply to '%s'; see sourcectl %s --help"), verb->name,
                                  verb->name);
  if ((opts->user ? 1 : 0) + (opts->system_bus ? 1 : 0) + (opts->host ? 1 : 0) > 1)
    return sourcectl_usage_error (_ ("--system, --user and --host exclude each other"));
  if (ctl->at)
    {
      guint64 at;
      if (!output_parse_time (ctl->at, &at))
        return sourcectl_usage_error (_ ("--at wants a time in ISO 8601 such as 2019-06-01T00:00:00Z, not '%s'"),
                                      ctl->at);
    }
  *out = verb;
  *done = FALSE;
  return EXIT_OK;
}

/* Step 3: the bus, with polkit's agent and the pager where they apply. */
static int
prepare (Ctl *ctl, const Options *opts, const Verb *verb)
{
  int ret;

  ctl->remote = opts->host != NULL;
  ret = connect_bus (ctl, opts->user, opts->host);
  if (ret != EXIT_OK)
    return ret;
  /* On the local system bus, a changing call may need an administrator:
   * allowed to ask, with polkit's text agent on this terminal. */
  if (!opts->user && !opts->host && opts->ask_password && (verb->flags & VERB_CHANGES))
    {
      sd_bus_set_allow_interactive_authorization (ctl->bus, 1);
      polkit_agent_open ();
    }
  if (opts->pager && (verb->flags & VERB_PAGED))
    pager_open ();
  return EXIT_OK;
}

/* Step 5: what prepare() opened, closed again. */
static void
finish (Ctl *ctl)
{
  polkit_agent_close ();
  fflush (stdout);
  pager_close ();
  g_clear_pointer (&ctl->bus, sd_bus_flush_close_unref);
}

int
main (int argc, char **argv)
{
  Ctl ctl = { .lines = 10 };
  Options opts = { .ask_password = TRUE, .pager = TRUE };
  const Verb *verb = NULL;
  gboolean done;
  int ret;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, SOURCED_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  output_init ();
  ret = parse_options (argc, argv, &ctl, &opts);
  if (ret != EXIT_OK)
    return ret;
  ret = select_verb (argc, argv, &ctl, &opts, &verb, &done);
  if (done)
    return ret;
  ret = prepare (&ctl, &opts, verb);
  if (ret == EXIT_OK)
    ret = verb->run (&ctl); /* step 4 */
  finish (&ctl);
  return ret;
}
