/* Optional libraries loaded on first use (issue 12, memory): code that needs a heavy library
 * (libvips, libpq, libxml2) is built as a loadable module (hearth-<name>.so) linked against
 * it, so a server that never makes a thumbnail or never uses PostgreSQL never maps that
 * library. A module is looked for in $HEARTH_MODULE_DIR when set (only there), else next to
 * the running executable, then in <executable's dir>/../lib/hearth (`make install`). */
#ifndef HEARTH_CORE_MODULE_H
#define HEARTH_CORE_MODULE_H

/* The data symbol `table` of module `name` ("vips" loads hearth-vips.so), loading the module
 * once (thread-safe; it stays loaded until exit). NULL, with one clear log line, when the
 * module or the symbol cannot be found; the next call tries again. The returned table is
 * borrowed and lives until exit. */
const void *module_table(const char *name, const char *table);

/* module_table, kept in *slot after the first success so that later calls are one atomic
 * load (the forwarders call it for every libcurl or libcrypto call). */
const void *module_table_once(const void *_Atomic *slot, const char *name, const char *table);

/* The directory the modules are looked for in first (new string). */
char *module_dir(void);

#endif
