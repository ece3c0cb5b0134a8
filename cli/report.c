/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How sourcectl tells what went wrong: one line on stderr, and the exit
 * code the error table gives the error. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "sourcectl.h"

static const char *bus_label = "system";

/* Each error's exit code, from the same table the daemon replies with. */
static const int error_exit_codes[] = {
#define ERROR_EXIT_CODE(code, name, errnum, exit_code) [SOURCED_ERROR_##code] = EXIT_##exit_code,
  SOURCED_ERRORS (ERROR_EXIT_CODE)
#undef ERROR_EXIT_CODE
};

/* The bus's own answers: nobody owns the name, or polkit wants a
 * password. */
typedef enum { NOT_RUNNING, DENIED } BusAnswer;
static const struct {
  const char *name;
  BusAnswer meaning;
} bus_answers[] = {
#define BUS_ANSWER(code, name, meaning) { name, meaning },
  SOURCED_BUS_ERRORS (BUS_ANSWER)
#undef BUS_ANSWER
};

static void
report_bus_answer (const sd_bus_error *error)
{
  const char *message = error->message ? error->message : error->name;

  for (gsize i = 0; i < G_N_ELEMENTS (bus_answers); i++)
    if (g_str_equal (bus_answers[i].name, error->name))
      {
        if (bus_answers[i].meaning == DENIED)
          fprintf (stderr, _ ("sourcectl: permission denied: %s\n"), message);
        else
          fprintf (stderr, _ ("sourcectl: sourced is not running (no %s on the %s bus)\n"), SOURCED_BUS_NAME,
                   bus_label);
        return;
      }
  fprintf (stderr, "sourcectl: %s\n", message);
}

void
sourcectl_set_bus_label (const char *label)
{
  bus_label = label;
}

int
sourcectl_report (const char *id, const sd_bus_error *error, int r)
{
  if (error && sd_bus_error_is_set (error))
    {
      int code = sourced_error_from_dbus_name (error->name);
      const char *message = error->message ? error->message : error->name;

      switch (code)
        {
        case SOURCED_ERROR_NO_SUCH_SOURCE:
          fprintf (stderr, _ ("sourcectl: source '%s' not found\n"), id ? id : "?");
          break;
        case SOURCED_ERROR_ACCESS_DENIED:
          fprintf (stderr, _ ("sourcectl: permission denied: %s\n"), message);
          break;
        case -1: /* not sourced's: the bus's, or another service's */
          report_bus_answer (error);
          return EXIT_FAIL;
        default:
          fprintf (stderr, "sourcectl: %s\n", message);
          break;
        }
      return error_exit_codes[code];
    }
  fprintf (stderr, "sourcectl: %s\n", g_strerror (r < 0 ? -r : r));
  return EXIT_FAIL;
}

int
sourcectl_usage_error (const char *fmt, ...)
{
  va_list ap;

  fputs (_ ("sourcectl: "), stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputs (_ ("\nTry 'sourcectl --help'.\n"), stderr);
  return EXIT_USAGE;
}

void
sourcectl_print_json (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (gen, node);
  json_generator_set_pretty (gen, isatty (STDOUT_FILENO));
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}
