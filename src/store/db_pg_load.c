/* modules (issue 12, memory): the PostgreSQL driver (db_pg.c) is the module hearth-pg.so,
 * linked with libpq; this loads it when the configuration asks for PostgreSQL. */
#include <stdbool.h>
#include <stddef.h>

#include "core/module.h"
#include "store/db.h"

static const void *_Atomic pg_driver;

const struct db_driver *
db_pg_load(void)
{
    return module_table_once(&pg_driver, "pg", "db_pg_driver");
}

bool
db_is_pg(const struct db_driver *drv)
{
    return drv && (const void *)drv == pg_driver;
}
