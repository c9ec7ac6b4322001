/* Loading optional modules: see module.h. RTLD_LOCAL keeps a module's libraries' symbols out
 * of the global scope; the module resolves the few host functions it calls (log_msg,
 * xmalloc...) from the executable, which exports exactly those (src/modules/host.sym). */
#include "core/module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define MAX_MODULES 8

struct loaded {
    char name[32];
    void *handle;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct loaded loaded[MAX_MODULES];
static size_t nloaded;

char *
module_dir(void)
{
    const char *env = getenv("HEARTH_MODULE_DIR");
    char exe[PATH_MAX];
    ssize_t n;
    char *slash;

    if (env && env[0])
        return xstrdup(env);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return xstrdup(".");
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return xstrdup(".");
    *slash = '\0';
    return xstrdup(exe[0] ? exe : "/");
}

/* dlopen of hearth-<name>.so in the module directories; NULL with the last error in err. */
static void *
open_module(const char *name, char *err, size_t errlen)
{
    char *dir = module_dir(), *path = NULL;
    void *h = NULL;
    int tries = getenv("HEARTH_MODULE_DIR") && getenv("HEARTH_MODULE_DIR")[0] ? 1 : 2;

    for (int i = 0; i < tries && !h; i++) {
        free(path);
        path = i == 0 ? xasprintf("%s/hearth-%s.so", dir, name)
                      : xasprintf("%s/../lib/hearth/hearth-%s.so", dir, name);
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            snprintf(err, errlen, "%s", e ? e : path);
        }
    }
    free(path);
    free(dir);
    return h;
}

const void *
module_table(const char *name, const char *table)
{
    void *handle = NULL;
    const void *sym = NULL;
    char err[512] = "";

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nloaded && !handle; i++)
        if (strcmp(loaded[i].name, name) == 0)
            handle = loaded[i].handle;
    if (!handle && nloaded < MAX_MODULES) {
        handle = open_module(name, err, sizeof(err));
        if (handle) {
            snprintf(loaded[nloaded].name, sizeof(loaded[nloaded].name), "%s", name);
            loaded[nloaded++].handle = handle;
            log_info("module: loaded hearth-%s.so", name);
        } else {
            log_error("module: cannot load hearth-%s.so (%s); is it installed next to the "
                      "hearth executable, in ../lib/hearth, or in $HEARTH_MODULE_DIR?",
                      name, err);
        }
    }
    if (handle) {
        dlerror();
        sym = dlsym(handle, table);
        if (!sym)
            log_error("module: hearth-%s.so has no %s (a module from another build?)", name, table);
    }
    pthread_mutex_unlock(&lock);
    return sym;
}

const void *
module_table_once(const void *_Atomic *slot, const char *name, const char *table)
{
    const void *t = atomic_load(slot);

    /* Two threads may both get here first: module_table is serialized and answers both the
     * same. */
    if (!t && (t = module_table(name, table)))
        atomic_store(slot, t);
    return t;
}
