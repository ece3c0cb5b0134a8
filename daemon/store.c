/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <gio/gio.h>

#include "sourced-error.h"

#define STORE_VERSION 1
#define SNAPSHOT_NAME "state.ini"
#define JOURNAL_NAME "state.journal"
#define TXN_MAGIC "#@txn "
/* The journal grows by this much zeroed room at a time. */
#define JOURNAL_ROOM (1024 * 1024)
/* Below this, rewriting the snapshot is cheaper than keeping a journal. */
#define MIN_JOURNAL_BEFORE_SNAPSHOT (1024 * 1024)

struct Store {
  char *dir;
  char *snapshot_path;
  char *journal_path;
  char *fault_file;
  int journal_fd;
  guint64 journal_size;   /* where the next transaction goes */
  guint64 journal_alloc;  /* the file's size: zeros from journal_size on */
  gboolean journal_end_known;
  guint64 snapshot_size;
  guint64 seq;
  guint64 n_syncs;
};

Store *
store_new (const char *state_dir)
{
  Store *s = g_new0 (Store, 1);
  s->dir = g_strdup (state_dir);
  s->snapshot_path = g_build_filename (state_dir, SNAPSHOT_NAME, NULL);
  s->journal_path = g_build_filename (state_dir, JOURNAL_NAME, NULL);
  s->journal_fd = -1;
  return s;
}

void
store_free (Store *s)
{
  if (!s)
    return;
  if (s->journal_fd >= 0)
    close (s->journal_fd);
  g_free (s->dir);
  g_free (s->snapshot_path);
  g_free (s->journal_path);
  g_free (s->fault_file);
  g_free (s);
}

void
store_set_fault_file (Store *s, const char *path)
{
  g_free (s->fault_file);
  s->fault_file = g_strdup (path);
}

guint64
store_get_n_syncs (Store *s)
{
  return s->n_syncs;
}

static gboolean
set_errno_error (GError **error, int errnum, const char *what, const char *path)
{
  g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_PERSIST_FAILED,
               "Could not %s %s: %s", what, path, g_strerror (errnum));
  return FALSE;
}

static gboolean
fault_injected (Store *s)
{
  return s->fault_file && g_file_test (s->fault_file, G_FILE_TEST_EXISTS);
}

static gboolean
sync_dir (Store *s, GError **error)
{
  int fd = open (s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return set_errno_error (error, errno, "open", s->dir);
  if (fsync (fd) < 0)
    {
      int e = errno;
      close (fd);
      return set_errno_error (error, e, "sync", s->dir);
    }
  close (fd);
  return TRUE;
}

static gboolean
write_all (int fd, const char *data, gsize length)
{
  while (length > 0)
    {
      ssize_t n = write (fd, data, length);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      data += n;
      length -= (gsize) n;
    }
  return TRUE;
}

static char *
checksum_of (const char *data, gsize length)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, length);
}

void
store_keyfile_replace_group (GKeyFile *to, GKeyFile *from, const char *group)
{
  g_auto (GStrv) keys = g_key_file_get_keys (from, group, NULL, NULL);

  g_key_file_remove_group (to, group, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    {
      g_autofree char *v = g_key_file_get_value (from, group, keys[i], NULL);
      g_key_file_set_value (to, group, keys[i], v);
    }
}

/* Moves @path aside as <path>.corrupt-<timestamp>, never deleting it: the
 * administrator decides what it was worth. */
static gboolean
move_aside (const char *path, GError **error)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");
  g_autofree char *target = g_strdup_printf ("%s.corrupt-%s", path, stamp);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  if (rename (path, target) < 0)
    return set_errno_error (error, errno, "move aside", path);
  g_warning ("State file %s cannot be trusted; moved it to %s and starting from the definition files",
             path, target);
  return TRUE;
}

/* Calls @func for each group of @data (key-file text), one group at a time
 * in a key file of its own: never the whole store in memory as a GKeyFile,
 * which at 100,000 sources would take ten times the text's size. */
static gboolean
foreach_group (const char *data, gsize length, StoreGroupFunc func, gpointer user_data, char **why)
{
  const char *p = data, *end = data + length;

  while (p < end)
    {
      const char *stop = end;
      g_autoptr (GKeyFile) one = g_key_file_new ();
      g_autoptr (GError) local = NULL;
      g_auto (GStrv) groups = NULL;

      /* The next line that starts with '[' begins the next group: values
       * are one line each (GKeyFile escapes newlines). */
      for (const char *q = p; q < end;)
        {
          const char *nl = memchr (q, '\n', (gsize) (end - q));
          if (!nl || nl + 1 >= end)
            break;
          if (nl[1] == '[')
            {
              stop = nl + 1;
              break;
            }
          q = nl + 1;
        }
      if (!g_key_file_load_from_data (one, p, (gsize) (stop - p), G_KEY_FILE_NONE, &local))
        {
          *why = g_strdup_printf ("not a key file: %s", local->message);
          return FALSE;
        }
      groups = g_key_file_get_groups (one, NULL);
      for (guint i = 0; groups[i]; i++)
        func (groups[i], one, user_data);
      p = stop;
    }
  return TRUE;
}

typedef struct {
  StoreGroupFunc func;
  gpointer user_data;
  gboolean seen_store;
  guint64 journal_seq;
  char *why;
} SnapshotReader;

static void
snapshot_group (const char *group, GKeyFile *kf, gpointer user_data)
{
  SnapshotReader *r = user_data;

  if (r->why)
    return;
  if (g_str_equal (group, "Store"))
    {
      if (g_key_file_get_integer (kf, "Store", "Version", NULL) != STORE_VERSION)
        r->why = g_strdup_printf ("unknown [Store] Version (this sourced reads %d)", STORE_VERSION);
      r->journal_seq = g_key_file_get_uint64 (kf, "Store", "JournalSeq", NULL);
      r->seen_store = TRUE;
      return;
    }
  if (!r->seen_store)
    {
      r->why = g_strdup ("no [Store] group first");
      return;
    }
  r->func (group, kf, r->user_data);
}

/* Checks the snapshot, then hands its groups to @func; FALSE with @why set
 * when it cannot be trusted (@func may have seen some groups by then: the
 * caller resets). */
static gboolean
parse_snapshot (const char *data, gsize length, StoreGroupFunc func, gpointer user_data, guint64 *journal_seq,
                char **why)
{
  const char *end_group = g_strrstr_len (data, (gssize) length, "\n[End]\n");
  g_autoptr (GKeyFile) end = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_autofree char *want = NULL, *have = NULL;
  SnapshotReader reader = { func, user_data, FALSE, 0, NULL };

  if (!end_group)
    {
      *why = g_strdup ("no [End] group: the file was cut short");
      return FALSE;
    }
  end_group++;
  if (!g_key_file_load_from_data (end, end_group, length - (gsize) (end_group - data), G_KEY_FILE_NONE, &local))
    {
      *why = g_strdup_printf ("[End] group unreadable: %s", local->message);
      return FALSE;
    }
  want = g_key_file_get_string (end, "End", "Checksum", NULL);
  have = checksum_of (data, (gsize) (end_group - data));
  if (!want || !g_str_equal (want, have))
    {
      *why = g_strdup ("checksum mismatch: the file was changed or damaged");
      return FALSE;
    }
  if (!foreach_group (data, (gsize) (end_group - data), snapshot_group, &reader, why))
    {
      g_free (reader.why);
      return FALSE;
    }
  if (reader.why || !reader.seen_store)
    {
      *why = reader.why ? reader.why : g_strdup ("no [Store] group");
      return FALSE;
    }
  *journal_seq = reader.journal_seq;
  return TRUE;
}

static gboolean
all_zero (const char *data, gsize length)
{
  for (gsize i = 0; i < length; i++)
    if (data[i])
      return FALSE;
  return TRUE;
}

/* Whether a transaction header starts a line after @pos: then what is at
 * @pos is damage, not the torn end of the last write. */
static gboolean
header_after (const char *data, gsize length, gsize pos)
{
  static const char needle[] = "\n" TXN_MAGIC;

  return pos + 1 < length && memmem (data + pos + 1, length - pos - 1, needle, strlen (needle)) != NULL;
}

typedef enum { REPLAY_OK, REPLAY_TORN_TAIL, REPLAY_CORRUPT } ReplayResult;

/* Applies the journal's transactions after @after_seq to @kf. *good_length is
 * how much of the file holds complete transactions. */
static ReplayResult
replay_journal (const char *data, gsize length, guint64 after_seq, StoreGroupFunc func, gpointer user_data,
                guint64 *last_seq, gsize *good_length, char **why)
{
  gsize pos = 0;

  *last_seq = after_seq;
  while (pos < length)
    {
      const char *hdr = data + pos;
      const char *nl = memchr (hdr, '\n', length - pos);
      guint64 seq, len;
      char sum[65];
      g_autofree char *header = NULL;

      *good_length = pos;
      if (*hdr == '\0' && all_zero (hdr, length - pos))
        return REPLAY_OK; /* the journal's preallocated room */
      if (!nl)
        goto torn;
      header = g_strndup (hdr, (gsize) (nl - hdr));
      if (!g_str_has_prefix (header, TXN_MAGIC) ||
          sscanf (header + strlen (TXN_MAGIC), "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %64s", &seq, &len, sum) != 3)
        {
          if (!header_after (data, length, pos))
            goto torn;
          *why = g_strdup_printf ("bad transaction header at byte %" G_GSIZE_FORMAT, pos);
          return REPLAY_CORRUPT;
        }
      const char *body = nl + 1;
      if ((gsize) (body - data) + len > length)
        goto torn;
      g_autofree char *have = checksum_of (body, len);
      if (!g_str_equal (have, sum))
        {
          /* Only the last transaction can have been torn by a crash; a bad
           * one with more after it means the file was damaged. */
          if (!header_after (data, length, pos))
            goto torn;
          *why = g_strdup_printf ("checksum mismatch in transaction %" G_GUINT64_FORMAT, seq);
          return REPLAY_CORRUPT;
        }
      pos = (gsize) (body - data) + len;
      *last_seq = MAX (*last_seq, seq);
      if (seq <= after_seq)
        continue; /* already in the snapshot */

      g_autofree char *txn_why = NULL;
      if (!foreach_group (body, len, func, user_data, &txn_why))
        {
          *why = g_strdup_printf ("transaction %" G_GUINT64_FORMAT " unreadable: %s", seq, txn_why);
          return REPLAY_CORRUPT;
        }
    }
  *good_length = pos;
  return REPLAY_OK;

torn:
  return REPLAY_TORN_TAIL;
}

static void
ignore_group (const char *group, GKeyFile *kf, gpointer user_data)
{
}

/* Where the transactions end in a journal nobody has loaded: everything
 * after is zeros (or the torn rest of a failed write, zeroed here). */
static gboolean
find_journal_end (Store *s, GError **error)
{
  g_autofree char *data = NULL;
  g_autofree char *why = NULL;
  gsize length = 0, good = 0;
  guint64 last_seq = 0;

  if (!g_file_get_contents (s->journal_path, &data, &length, NULL))
    length = 0;
  else if (replay_journal (data, length, 0, ignore_group, NULL, &last_seq, &good, &why) == REPLAY_CORRUPT)
    return set_errno_error (error, EIO, "append to the damaged journal", s->journal_path);
  /* Numbering goes on after the last transaction there. */
  s->seq = MAX (s->seq, last_seq);
  if (length && ftruncate (s->journal_fd, (off_t) good) < 0)
    return set_errno_error (error, errno, "truncate", s->journal_path);
  s->journal_size = s->journal_alloc = length ? good : 0;
  s->journal_end_known = TRUE;
  return TRUE;
}

static gboolean
open_journal (Store *s, GError **error)
{
  gboolean existed;

  if (s->journal_fd >= 0)
    return TRUE;
  existed = g_file_test (s->journal_path, G_FILE_TEST_EXISTS);
  if (g_mkdir_with_parents (s->dir, 0755) < 0)
    return set_errno_error (error, errno, "create the state directory", s->dir);
  /* Not O_APPEND: transactions are written at the logical end, into room
   * zeroed ahead of time, so that an fdatasync flushes data only, not
   * the file's size with it (about half the cost here). */
  s->journal_fd = open (s->journal_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (s->journal_fd < 0)
    return set_errno_error (error, errno, "open", s->journal_path);
  if ((!existed && !sync_dir (s, error)) || (!s->journal_end_known && !find_journal_end (s, error)))
    {
      close (s->journal_fd);
      s->journal_fd = -1;
      return FALSE;
    }
  if (!existed)
    s->journal_size = s->journal_alloc = 0;
  return TRUE;
}

gboolean
store_load_stream (Store *s, StoreGroupFunc func, gpointer user_data, GError **error)
{
  g_autofree char *snap = NULL, *journal = NULL, *why = NULL;
  gsize snap_len = 0, journal_len = 0, good_len = 0;
  guint64 journal_seq = 0;
  g_autoptr (GError) local = NULL;

  if (g_file_get_contents (s->snapshot_path, &snap, &snap_len, &local))
    {
      s->snapshot_size = snap_len;
      if (!parse_snapshot (snap, snap_len, func, user_data, &journal_seq, &why))
        {
          g_warning ("State file %s is corrupt (%s)", s->snapshot_path, why);
          func (NULL, NULL, user_data);
          if (!move_aside (s->snapshot_path, error) || !move_aside (s->journal_path, error))
            return FALSE;
          s->snapshot_size = 0;
          return TRUE;
        }
    }
  else if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_warning ("State file %s is unreadable (%s)", s->snapshot_path, local->message);
      if (!move_aside (s->snapshot_path, error) || !move_aside (s->journal_path, error))
        return FALSE;
      return TRUE;
    }
  g_clear_error (&local);
  /* The snapshot's text is not needed any more: keep the peak down. */
  g_clear_pointer (&snap, g_free);
  s->seq = journal_seq;
  /* Until the journal says otherwise: empty (missing, or moved aside). */
  s->journal_size = s->journal_alloc = 0;
  s->journal_end_known = TRUE;

  if (!g_file_get_contents (s->journal_path, &journal, &journal_len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_warning ("State journal %s is unreadable (%s)", s->journal_path, local->message);
      return move_aside (s->journal_path, error);
    }

  switch (replay_journal (journal, journal_len, journal_seq, func, user_data, &s->seq, &good_len, &why))
    {
    case REPLAY_OK:
      s->journal_size = good_len;
      s->journal_alloc = journal_len;
      s->journal_end_known = TRUE;
      break;
    case REPLAY_TORN_TAIL:
      /* A crash in the middle of an append: that transaction was never
       * acknowledged, so dropping it loses nothing anyone was told about. */
      g_message ("State journal %s ends in an incomplete transaction (a crash while writing it); "
                 "dropping its last %" G_GSIZE_FORMAT " bytes",
                 s->journal_path, journal_len - good_len);
      if (truncate (s->journal_path, (off_t) good_len) < 0)
        return set_errno_error (error, errno, "truncate", s->journal_path);
      s->journal_size = s->journal_alloc = good_len;
      s->journal_end_known = TRUE;
      break;
    case REPLAY_CORRUPT:
      g_warning ("State journal %s is corrupt (%s)", s->journal_path, why);
      func (NULL, NULL, user_data);
      if (!move_aside (s->snapshot_path, error) || !move_aside (s->journal_path, error))
        return FALSE;
      s->seq = 0;
      s->snapshot_size = 0;
      return TRUE;
    }
  return TRUE;
}

static void
merge_group (const char *group, GKeyFile *from, gpointer user_data)
{
  GKeyFile **kf = user_data;

  if (!group)
    {
      /* Start over: what was read cannot be trusted. */
      g_key_file_free (*kf);
      *kf = g_key_file_new ();
      return;
    }
  store_keyfile_replace_group (*kf, from, group);
}

GKeyFile *
store_load (Store *s, GError **error)
{
  GKeyFile *kf = g_key_file_new ();

  if (!store_load_stream (s, merge_group, &kf, error))
    {
      g_key_file_free (kf);
      return NULL;
    }
  return kf;
}



static gboolean
zero_fill_to (Store *s, guint64 want)
{
  static const char zeros[64 * 1024];

  while (s->journal_alloc < want)
    {
      gsize n = (gsize) MIN ((guint64) sizeof zeros, want - s->journal_alloc);
      ssize_t w = pwrite (s->journal_fd, zeros, n, (off_t) s->journal_alloc);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          if (w == 0)
            errno = ENOSPC;
          return FALSE;
        }
      s->journal_alloc += (guint64) w;
    }
  return TRUE;
}

/* Makes sure @need bytes fit after the logical end, zero-filling room a
 * megabyte at a time (its size reaches the disk with the next sync). On a
 * nearly full disk, just what this transaction needs: room taken ahead of
 * time there could be the room a snapshot needs to fold the journal, and
 * the journal would stay full for good. */
static gboolean
ensure_room (Store *s, gsize need)
{
  guint64 exact = s->journal_size + need;
  struct statvfs fs;

  if (exact <= s->journal_alloc)
    return TRUE;
  if (fstatvfs (s->journal_fd, &fs) == 0 &&
      (guint64) fs.f_bavail * fs.f_frsize >= (guint64) JOURNAL_ROOM * 16 &&
      zero_fill_to (s, (exact + JOURNAL_ROOM - 1) / JOURNAL_ROOM * JOURNAL_ROOM))
    return TRUE;
  return s->journal_alloc >= exact || zero_fill_to (s, exact);
}

gboolean
store_append (Store *s, const char *text, gsize length, GError **error)
{
  g_autofree char *sum = checksum_of (text, length);
  g_autofree char *header = NULL;
  guint64 at;

  if (!open_journal (s, error))
    return FALSE;
  at = s->journal_size;
  header = g_strdup_printf (TXN_MAGIC "%" G_GUINT64_FORMAT " %" G_GSIZE_FORMAT " %s\n", s->seq + 1, length, sum);

  struct iovec iov[2] = { { header, strlen (header) }, { (void *) text, length } };
  gsize total = iov[0].iov_len + iov[1].iov_len;
  gsize done = 0;
  gboolean ok = TRUE;
  int errnum = 0;

  if (fault_injected (s))
    {
      ok = FALSE;
      errnum = ENOSPC;
    }
  else if (!ensure_room (s, total))
    {
      ok = FALSE;
      errnum = errno ? errno : ENOSPC;
    }
  else
    {
      while (ok && done < total)
        {
          /* A short write (disk full part way): go on from where it
           * stopped, or fail. */
          ssize_t n;
          if (done < iov[0].iov_len)
            n = pwritev (s->journal_fd, (struct iovec[]) { { header + done, iov[0].iov_len - done }, iov[1] }, 2,
                         (off_t) (at + done));
          else
            n = pwrite (s->journal_fd, text + (done - iov[0].iov_len), total - done, (off_t) (at + done));
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              ok = FALSE;
              errnum = n < 0 ? errno : ENOSPC;
            }
          else
            done += (gsize) n;
        }
      if (ok && fdatasync (s->journal_fd) < 0)
        {
          ok = FALSE;
          errnum = errno;
        }
    }

  if (!ok)
    {
      /* Leave no partial transaction behind: the next one goes to the same
       * place, and what follows the logical end must read as zeros. If
       * that cannot be made so, the journal's end is found again (and the
       * rest cut off) at the next append. */
      static const char zeros[4096];
      for (gsize z = 0; z < done;)
        {
          ssize_t n = pwrite (s->journal_fd, zeros, MIN (sizeof zeros, done - z), (off_t) (at + z));
          if (n <= 0)
            {
              close (s->journal_fd);
              s->journal_fd = -1;
              s->journal_end_known = FALSE;
              break;
            }
          z += (gsize) n;
        }
      return set_errno_error (error, errnum, "write", s->journal_path);
    }
  s->n_syncs++;
  s->seq++;
  s->journal_size = at + total;
  return TRUE;
}

gboolean
store_wants_snapshot (Store *s)
{
  return s->journal_size > MAX (MIN_JOURNAL_BEFORE_SNAPSHOT, s->snapshot_size);
}

gboolean
store_write_snapshot (Store *s, const char *text, gsize length, GError **error)
{
  g_autofree char *tmp = g_strconcat (s->snapshot_path, ".tmp", NULL);
  g_autofree char *head = g_strdup_printf ("[Store]\nVersion=%d\nJournalSeq=%" G_GUINT64_FORMAT "\n\n",
                                           STORE_VERSION, s->seq);
  const char *gap = length && text[length - 1] != '\n' ? "\n\n" : "\n";
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *tail = NULL;
  gsize total;
  int fd;
  gboolean ok;

  /* Head, text and tail are written as they are, not copied into one
   * buffer: at 100,000 sources the text alone is megabytes. The checksum
   * covers everything up to the [End] line. */
  g_checksum_update (checksum, (const guchar *) head, -1);
  g_checksum_update (checksum, (const guchar *) text, (gssize) length);
  g_checksum_update (checksum, (const guchar *) gap, -1);
  tail = g_strdup_printf ("[End]\nChecksum=%s\n", g_checksum_get_string (checksum));
  total = strlen (head) + length + strlen (gap) + strlen (tail);

  if (g_mkdir_with_parents (s->dir, 0755) < 0)
    return set_errno_error (error, errno, "create the state directory", s->dir);
  if (fault_injected (s))
    return set_errno_error (error, ENOSPC, "write", tmp);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error (error, errno, "create", tmp);
  ok = write_all (fd, head, strlen (head)) && write_all (fd, text, length) && write_all (fd, gap, strlen (gap)) &&
       write_all (fd, tail, strlen (tail)) && fsync (fd) == 0;
  int errnum = errno;
  close (fd);
  if (!ok || rename (tmp, s->snapshot_path) < 0)
    {
      if (ok)
        errnum = errno;
      unlink (tmp);
      return set_errno_error (error, errnum, "write", s->snapshot_path);
    }
  s->snapshot_size = total;
  if (!sync_dir (s, error))
    return FALSE;
  s->n_syncs++;

  /* The snapshot now holds every transaction up to s->seq; replaying them
   * again would be harmless (each replaces whole groups), so a crash before
   * this truncation loses nothing. */
  if (open_journal (s, NULL) && ftruncate (s->journal_fd, 0) == 0 && fdatasync (s->journal_fd) == 0)
    s->journal_size = s->journal_alloc = 0;
  return TRUE;
}
