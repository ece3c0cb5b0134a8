/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-scan.h"

#include <string.h>

/* Deeper than any record a tap sends; a line nested deeper is refused
 * rather than recursed into. */
#define MAX_DEPTH 256

typedef struct {
  const char *p;
  const char *end;
} Scanner;

static void
skip_space (Scanner *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static gboolean
scan_string (Scanner *s)
{
  s->p++; /* the opening quote */
  while (s->p < s->end)
    {
      unsigned char c = (unsigned char) *s->p++;
      if (c == '"')
        return TRUE;
      if (c < 0x20)
        return FALSE;
      if (c != '\\')
        continue;
      if (s->p >= s->end)
        return FALSE;
      c = (unsigned char) *s->p++;
      if (c == 'u')
        {
          if (s->end - s->p < 4)
            return FALSE;
          for (int i = 0; i < 4; i++)
            if (!g_ascii_isxdigit (s->p[i]))
              return FALSE;
          s->p += 4;
        }
      else if (!strchr ("\"\\/bfnrt", c))
        return FALSE;
    }
  return FALSE;
}

static gboolean
scan_digits (Scanner *s)
{
  const char *start = s->p;

  while (s->p < s->end && g_ascii_isdigit (*s->p))
    s->p++;
  return s->p > start;
}

static gboolean
scan_number (Scanner *s, JsonSpanKind *kind)
{
  *kind = JSON_SPAN_INTEGER;
  if (*s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (!scan_digits (s))
    return FALSE;
  if (s->p < s->end && *s->p == '.')
    {
      s->p++;
      *kind = JSON_SPAN_NUMBER;
      if (!scan_digits (s))
        return FALSE;
    }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
    {
      s->p++;
      *kind = JSON_SPAN_NUMBER;
      if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
        s->p++;
      if (!scan_digits (s))
        return FALSE;
    }
  return TRUE;
}

static gboolean
scan_literal (Scanner *s, const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return FALSE;
  s->p += n;
  return TRUE;
}

static gboolean scan (Scanner *s, JsonSpan *v, int depth);

static gboolean
scan_container (Scanner *s, char close, int depth)
{
  JsonSpan v;
  gboolean object = close == '}';

  s->p++;
  skip_space (s);
  if (s->p < s->end && *s->p == close)
    {
      s->p++;
      return TRUE;
    }
  for (;;)
    {
      if (object)
        {
          skip_space (s);
          if (s->p >= s->end || *s->p != '"' || !scan_string (s))
            return FALSE;
          skip_space (s);
          if (s->p >= s->end || *s->p != ':')
            return FALSE;
          s->p++;
        }
      if (!scan (s, &v, depth + 1))
        return FALSE;
      skip_space (s);
      if (s->p >= s->end)
        return FALSE;
      if (*s->p == close)
        {
          s->p++;
          return TRUE;
        }
      if (*s->p != ',')
        return FALSE;
      s->p++;
    }
}

static gboolean
scan (Scanner *s, JsonSpan *v, int depth)
{
  gboolean ok;

  if (depth > MAX_DEPTH)
    return FALSE;
  skip_space (s);
  if (s->p >= s->end)
    return FALSE;
  v->start = s->p;
  switch (*s->p)
    {
    case '"':
      v->kind = JSON_SPAN_STRING;
      ok = scan_string (s);
      break;
    case '{':
      v->kind = JSON_SPAN_OBJECT;
      ok = scan_container (s, '}', depth);
      break;
    case '[':
      v->kind = JSON_SPAN_ARRAY;
      ok = scan_container (s, ']', depth);
      break;
    case 't':
      v->kind = JSON_SPAN_TRUE;
      ok = scan_literal (s, "true");
      break;
    case 'f':
      v->kind = JSON_SPAN_FALSE;
      ok = scan_literal (s, "false");
      break;
    case 'n':
      v->kind = JSON_SPAN_NULL;
      ok = scan_literal (s, "null");
      break;
    default:
      ok = (*s->p == '-' || g_ascii_isdigit (*s->p)) && scan_number (s, &v->kind);
      break;
    }
  v->len = (gsize) (s->p - v->start);
  return ok;
}

gboolean
json_scan_value (const char *text, gsize len, JsonSpan *value)
{
  Scanner s = { text, text + len };

  if (!scan (&s, value, 0))
    return FALSE;
  skip_space (&s);
  return s.p == s.end;
}

void
json_scan_members (const JsonSpan *object, JsonScanMember member, gpointer user_data)
{
  /* Already checked as a whole: this walk only finds the boundaries. */
  Scanner s = { object->start + 1, object->start + object->len - 1 };
  JsonSpan key, value;

  for (;;)
    {
      skip_space (&s);
      if (s.p >= s.end || *s.p != '"')
        return;
      key.kind = JSON_SPAN_STRING;
      key.start = s.p;
      scan_string (&s);
      key.len = (gsize) (s.p - key.start);
      skip_space (&s);
      s.p++; /* ':' */
      scan (&s, &value, 0);
      if (!member (&key, &value, user_data))
        return;
      skip_space (&s);
      if (s.p < s.end && *s.p == ',')
        s.p++;
    }
}

gboolean
json_span_equals (const JsonSpan *s, const char *text)
{
  gsize n = strlen (text);

  return s->kind == JSON_SPAN_STRING && s->len == n + 2 && memcmp (s->start + 1, text, n) == 0;
}

static void
append_utf8 (GString *out, gunichar c)
{
  char buf[6];
  int n = g_unichar_to_utf8 (c, buf);
  g_string_append_len (out, buf, n);
}

static guint
hex4 (const char *p)
{
  guint v = 0;

  for (int i = 0; i < 4; i++)
    v = v * 16 + (guint) g_ascii_xdigit_value (p[i]);
  return v;
}

gboolean
json_span_unescape (const JsonSpan *s, GString *out)
{
  const char *p = s->start + 1, *end = s->start + s->len - 1;

  while (p < end)
    {
      const char *bs = memchr (p, '\\', (gsize) (end - p));
      if (!bs)
        {
          g_string_append_len (out, p, end - p);
          break;
        }
      g_string_append_len (out, p, bs - p);
      p = bs + 1;
      switch (*p++)
        {
        case 'b':
          g_string_append_c (out, '\b');
          break;
        case 'f':
          g_string_append_c (out, '\f');
          break;
        case 'n':
          g_string_append_c (out, '\n');
          break;
        case 'r':
          g_string_append_c (out, '\r');
          break;
        case 't':
          g_string_append_c (out, '\t');
          break;
        case 'u':
          {
            guint c = hex4 (p);
            p += 4;
            if (c >= 0xd800 && c < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4 (p + 2) >= 0xdc00 &&
                hex4 (p + 2) < 0xe000)
              {
                c = 0x10000 + ((c - 0xd800) << 10) + (hex4 (p + 2) - 0xdc00);
                p += 6;
              }
            else if (c >= 0xd800 && c < 0xe000)
              c = 0xfffd; /* a lone surrogate: the replacement character */
            if (c == 0)
              return FALSE;
            append_utf8 (out, c);
            break;
          }
        default: /* " \ / */
          g_string_append_c (out, p[-1]);
          break;
        }
    }
  return TRUE;
}
