/* modules (issue 12, memory): the PostgreSQL driver (db_pg.c) is the module hearth-pg.so,
 * linked with libpq; this loads it when the configuration asks for PostgreSQL. */
#include <stdbool.h>
#include <stddef.h>

#include "core/module.h"
#include "store/db.h"

static const struct db_driver *_Atomic pg_driver;

const struct db_driver *
db_pg_load(void)
{
    const struct db_driver *d = pg_driver;

    if (!d) {
        d = module_table("pg", "db_pg_driver");
        if (d)
            pg_driver = d;
    }
    return d;
}

bool
db_is_pg(const struct db_driver *drv)
{
    return drv && drv == pg_driver;
}
