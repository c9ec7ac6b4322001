/* The writer connection's VFS (sqlite_walbuf.c): the default one, with each transaction's
 * WAL writes gathered into one call. */
#ifndef HEARTH_STORE_SQLITE_WALBUF_H
#define HEARTH_STORE_SQLITE_WALBUF_H

#include <sqlite3.h>
#include <stdbool.h>

/* The VFS's name for sqlite3_open_v2, registered at the first call; NULL (the default VFS)
 * if it could not be. */
const char *sqlite_walbuf_vfs(void);

/* Deferred commit syncs (issue 3). With on, the syncs of the connection h's WAL are noted,
 * not made (except a new WAL file's first); with !on, *owed (if given) tells whether one
 * was put off, which the caller must then make itself (an fdatasync of the WAL) before
 * calling the transaction durable. False if h's WAL is not this VFS's (nothing deferred). */
bool sqlite_walbuf_defer(sqlite3 *h, bool on, bool *owed);
/* Makes a sync put off so far now and stops deferring: for a checkpoint on h, which must not
 * copy frames that are not on disk into the database. */
int sqlite_walbuf_settle(sqlite3 *h);

#endif
