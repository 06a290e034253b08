/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The link between two incidents of one source: the final manifest hash
 * of the newest incident, for its successor (opened while it was still
 * closing) to chain to. Refcounted; set exactly once, by the sealing
 * thread or at free, so a successor never waits forever. */
#include "incident-private.h"


RecorderChainLink *
recorder_chain_link_new (void)
{
  RecorderChainLink *l = g_new0 (RecorderChainLink, 1);
  l->ref = 1;
  g_mutex_init (&l->lock);
  g_cond_init (&l->cond);
  return l;
}

RecorderChainLink *
recorder_chain_link_ref (RecorderChainLink *l)
{
  g_atomic_int_inc (&l->ref);
  return l;
}

void
recorder_chain_link_unref (gpointer p)
{
  RecorderChainLink *l = p;
  if (l == NULL || !g_atomic_int_dec_and_test (&l->ref))
    return;
  g_mutex_clear (&l->lock);
  g_cond_clear (&l->cond);
  g_free (l->hash);
  g_free (l);
}

void
recorder_chain_link_set (RecorderChainLink *l, const char *hash)
{
  g_mutex_lock (&l->lock);
  l->hash = g_strdup (hash);
  l->done = TRUE;
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
}

/* Without waiting: whether it is done, and then its hash (or NULL). */
gboolean
recorder_chain_link_peek (RecorderChainLink *l, char **out_hash)
{
  g_mutex_lock (&l->lock);
  gboolean done = l->done;
  *out_hash = done ? g_strdup (l->hash) : NULL;
  g_mutex_unlock (&l->lock);
  return done;
}

/* Waits for the predecessor to be closed; its final hash or NULL. */
char *
recorder_chain_link_wait (RecorderChainLink *l)
{
  g_mutex_lock (&l->lock);
  while (!l->done)
    g_cond_wait (&l->cond, &l->lock);
  char *hash = g_strdup (l->hash);
  g_mutex_unlock (&l->lock);
  return hash;
}
