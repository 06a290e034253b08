/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reading and writing the kernel's sysfs and configfs attribute files for
 * the gpio-sim tests, which run alone in the QEMU guest (no test library
 * there). Written in place, never with g_file_set_contents(): those files
 * cannot be replaced by a rename. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

/* The file's text without its trailing newline; fails the test if it
 * cannot be read. */
static inline char *
sim_read_text (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return g_strchomp (text);
}

static inline void
sim_write_text (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    g_error ("cannot open %s: %s", path, g_strerror (errno));
  ssize_t n = write (fd, text, strlen (text));
  if (n != (ssize_t) strlen (text))
    g_error ("cannot write '%s' to %s: %s", text, path, n < 0 ? g_strerror (errno) : "short write");
  close (fd);
}
