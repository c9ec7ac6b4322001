/* The driver interface: one const table of functions per database (curl's vtls idea).
 * SQL is written once, portably, with `?` placeholders; a driver that needs `$1` rewrites. */
#ifndef HEARTH_STORE_DB_H
#define HEARTH_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_rc {
    DB_OK = 0,
    DB_ROW,        /* step: a row is available */
    DB_DONE,       /* step: no more rows */
    DB_CONSTRAINT, /* a unique or foreign-key constraint failed */
    DB_ERR,        /* anything else; the driver has logged it */
};

struct db;
struct db_stmt;

struct db_driver {
    const char *name;
    /* Opens a connection; `writer` asks for the connection that does all writes. */
    enum db_rc (*open)(const char *target, bool writer, struct db **out);
    void (*close)(struct db *db);
    /* Runs one or more statements without parameters or results. */
    enum db_rc (*exec)(struct db *db, const char *sql);
    enum db_rc (*prepare)(struct db *db, const char *sql, struct db_stmt **out);
    /* Parameters are numbered from 1; a NULL text binds SQL NULL. */
    enum db_rc (*bind_text)(struct db_stmt *st, int idx, const char *s);
    /* Optional: as bind_text, without a copy of the text, which must stay valid until the
     * statement is finalized. */
    enum db_rc (*bind_text_borrowed)(struct db_stmt *st, int idx, const char *s);
    enum db_rc (*bind_int64)(struct db_stmt *st, int idx, int64_t v);
    enum db_rc (*bind_null)(struct db_stmt *st, int idx);
    enum db_rc (*step)(struct db_stmt *st);
    /* Columns are numbered from 0; text is borrowed until the next step or finalize. */
    const char *(*col_text)(struct db_stmt *st, int col);
    int64_t (*col_int64)(struct db_stmt *st, int col);
    bool (*col_is_null)(struct db_stmt *st, int col);
    void (*finalize)(struct db_stmt *st);
    /* Rows changed by the last statement on this connection. */
    int64_t (*changes)(struct db *db);
    /* ---- dialect differences, one named place each ---- */
    /* Event stream positions: NULL: the single writer counts them in memory. Otherwise a query
     * returning `?` new positions, one per row, ascending: PostgreSQL's come from a sequence,
     * so several writers could share the database and still never reuse one. The writer takes
     * them in blocks (one round trip each), so an event's statements need no result from the
     * database before they are sent (pipelining, below). */
    const char *stream_pos_block_sql;
    /* ---- pipelining: optional (NULL: every statement runs when stepped) ----
     * Inside a transaction, `defer` sends a prepared, bound statement without waiting for its
     * outcome; the caller finalizes it at once (rows are dropped, `changes` is not updated).
     * `sync` waits for everything deferred and returns DB_OK or the first failure, after which
     * nothing else deferred ran and the transaction must be rolled back (to a savepoint).
     * Meanwhile a statement stepped, or `exec`, goes out with what was deferred and fails if
     * any of it did; a COMMIT then rolls the transaction back. Outside a transaction `defer`
     * runs the statement at once. */
    enum db_rc (*defer)(struct db_stmt *st);
    enum db_rc (*sync)(struct db *db);
};

extern const struct db_driver db_sqlite_driver;
/* modules (issue 12, memory): db_pg_driver is defined in the module hearth-pg.so (db_pg.c,
 * linked with libpq), so a server on SQLite never maps libpq. db_pg_load returns it, loading
 * the module on the first call; NULL (logged) when it cannot be loaded. db_is_pg: is drv
 * the PostgreSQL driver? */
extern const struct db_driver db_pg_driver;
const struct db_driver *db_pg_load(void);
bool db_is_pg(const struct db_driver *drv);

/* Statements the SQLite connection has compiled (its cache missed): for tests. */
uint64_t db_sqlite_compiled(const struct db *db);
/* Checkpoints the SQLite writer connection has had run, on its thread and inline: for tests. */
void db_sqlite_checkpoints(const struct db *db, uint64_t *background, uint64_t *inline_);

#endif
