/* Numbered schema migrations, portable SQL (SQLite and PostgreSQL). */
#ifndef HEARTH_STORE_MIGRATIONS_H
#define HEARTH_STORE_MIGRATIONS_H

#include <stddef.h>

struct migration {
    int version;
    const char *sql;
};

extern const struct migration store_migrations[];
extern const size_t store_n_migrations;
/* PostgreSQL's text for the few migrations where the dialects differ (same version numbers);
 * every other migration runs as written on both engines. */
extern const struct migration store_migrations_pg[];
extern const size_t store_n_migrations_pg;
/* Run on PostgreSQL after port-db copied the rows: what the engine derives for itself
 * (the stream sequence). */
extern const char *const store_port_pg_fixups;

#endif
