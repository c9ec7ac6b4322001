/* The writer connection's VFS (sqlite_walbuf.c): the default one, with each transaction's
 * WAL writes gathered into one call. */
#ifndef HEARTH_STORE_SQLITE_WALBUF_H
#define HEARTH_STORE_SQLITE_WALBUF_H

/* The VFS's name for sqlite3_open_v2, registered at the first call; NULL (the default VFS)
 * if it could not be. */
const char *sqlite_walbuf_vfs(void);

#endif
