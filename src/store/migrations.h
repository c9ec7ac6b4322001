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

#endif
