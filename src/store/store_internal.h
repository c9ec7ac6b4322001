/* Shared plumbing of the store's implementation files; not for callers of store.h. */
#ifndef HEARTH_STORE_STORE_INTERNAL_H
#define HEARTH_STORE_STORE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "store/store.h"

struct store {
    const struct db_driver *drv;
    char *target;
    struct db *writer;
    pthread_mutex_t wlock;
    pthread_mutex_t plock;
    struct db **pool;
    size_t npool, cappool;
};

/* A typed query argument. Build lists with ST_ARGS(ST_S(text), ST_I(number), ST_B(flag)):
 * the compiler then checks each value's type, which a format string could not. */
struct st_arg {
    char kind; /* 's', 'i' */
    const char *s;
    int64_t i;
};

static inline struct st_arg
st_arg_s(const char *s)
{
    return (struct st_arg){'s', s, 0};
}

static inline struct st_arg
st_arg_i(int64_t i)
{
    return (struct st_arg){'i', NULL, i};
}

#define ST_S(x) st_arg_s(x)
#define ST_I(x) st_arg_i(x)
#define ST_B(x) st_arg_i((x) ? 1 : 0)
#define ST_ARGS(...)                                                                               \
    (const struct st_arg[]){__VA_ARGS__},                                                          \
        sizeof((const struct st_arg[]){__VA_ARGS__}) / sizeof(struct st_arg)
#define ST_NOARGS NULL, 0

/* A reader connection from the pool (opened on demand); NULL on failure. */
struct db *st_reader_get(struct store *st);
void st_reader_put(struct store *st, struct db *db);
/* Prepares sql and binds the n arguments (ST_ARGS(...) gives both). */
enum db_rc st_prep(struct store *st, struct db *db, struct db_stmt **out, const char *sql,
                   const struct st_arg *args, size_t n);
/* Runs a statement that returns no rows. */
enum db_rc st_run(struct store *st, struct db *db, const char *sql, const struct st_arg *args,
                  size_t n);
enum store_rc st_rc(enum db_rc rc);
/* Takes the writer and begins a transaction. */
enum store_rc st_wbegin(struct store *st);
/* Commits when rc is STORE_OK, rolls back otherwise; releases the writer. */
enum store_rc st_wend(struct store *st, enum store_rc rc);
/* A copy of a text column, or NULL. */
char *st_dup_col(struct store *st, struct db_stmt *s, int col);

#endif
