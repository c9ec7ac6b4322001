/* hearth port-db: copies an SQLite database into an empty PostgreSQL one, so a server can
 * move engines. Both are opened as stores (which brings each to the current schema), every
 * table is copied row by row in one PostgreSQL transaction, and the copy is checked: row
 * counts per table and a SHA-256 over every event's ID and JSON, in stream order. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/util.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_search.h"
#include "store/store_internal.h"

struct table {
    char *name;
    char **cols;
    size_t ncols;
};

static void
tables_free(struct table *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < t[i].ncols; c++)
            free(t[i].cols[c]);
        free(t[i].cols);
        free(t[i].name);
    }
    free(t);
}

/* Our tables in the SQLite file (not SQLite's own, not full-text index internals, which each
 * engine builds for itself, and not the schema version, which the target already has). */
static int
list_tables(struct store *src, struct table **out, size_t *n)
{
    struct db_stmt *s = NULL;
    struct table *t = NULL;
    size_t len = 0;
    int rc = -1;

    if (st_prep(src, src->writer, &s,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                "'sqlite_%' AND name <> 'schema_version' AND sql NOT LIKE 'CREATE VIRTUAL%' "
                "ORDER BY name",
                ST_NOARGS) != DB_OK)
        goto out;
    while (src->drv->step(s) == DB_ROW) {
        const char *name = src->drv->col_text(s, 0);
        t = xrealloc(t, (len + 1) * sizeof(*t));
        memset(&t[len], 0, sizeof(*t));
        t[len++].name = xstrdup(name);
    }
    src->drv->finalize(s);
    s = NULL;
    /* Shadow tables of a virtual (FTS5) table are named after it, with these suffixes. */
    for (size_t i = 0; i < len; i++) {
        struct db_stmt *v = NULL;
        bool shadow = false;
        if (st_prep(src, src->writer, &v,
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE "
                    "VIRTUAL%' AND ? IN (name || '_data', name || '_idx', name || '_content', "
                    "name || '_docsize', name || '_config')",
                    ST_ARGS(ST_S(t[i].name))) != DB_OK)
            goto out;
        shadow = src->drv->step(v) == DB_ROW;
        src->drv->finalize(v);
        if (shadow) {
            free(t[i].name);
            memmove(&t[i], &t[i + 1], (len - i - 1) * sizeof(*t));
            len--;
            i--;
            continue;
        }
        char *sql = xasprintf("SELECT name FROM pragma_table_info('%s') ORDER BY cid", t[i].name);
        if (st_prep(src, src->writer, &v, sql, ST_NOARGS) != DB_OK) {
            free(sql);
            goto out;
        }
        while (src->drv->step(v) == DB_ROW) {
            t[i].cols = xrealloc(t[i].cols, (t[i].ncols + 1) * sizeof(char *));
            t[i].cols[t[i].ncols++] = xstrdup(src->drv->col_text(v, 0));
        }
        src->drv->finalize(v);
        free(sql);
    }
    *out = t;
    *n = len;
    t = NULL;
    len = 0;
    rc = 0;
out:
    src->drv->finalize(s);
    tables_free(t, len);
    return rc;
}

static int64_t
count_rows(struct store *st, const char *table)
{
    struct db_stmt *s = NULL;
    char *sql = xasprintf("SELECT COUNT(*) FROM %s", table);
    int64_t n = -1;

    if (st_prep(st, st->writer, &s, sql, ST_NOARGS) == DB_OK && st->drv->step(s) == DB_ROW)
        n = st->drv->col_int64(s, 0);
    st->drv->finalize(s);
    free(sql);
    return n;
}

/* SHA-256 (hex) over "event_id\njson\n" of every event in stream order. */
static int
events_digest(struct store *st, char hex[65])
{
    crypto_hash_sha256_state h;
    unsigned char d[crypto_hash_sha256_BYTES];
    struct db_stmt *s = NULL;
    enum db_rc r = DB_ERR;

    crypto_hash_sha256_init(&h);
    if (st_prep(st, st->writer, &s, "SELECT event_id, json FROM events ORDER BY stream_pos",
                ST_NOARGS) != DB_OK)
        goto out;
    while ((r = st->drv->step(s)) == DB_ROW) {
        for (int c = 0; c < 2; c++) {
            const char *v = st->drv->col_text(s, c);
            crypto_hash_sha256_update(&h, (const unsigned char *)v, strlen(v));
            crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
        }
    }
out:
    st->drv->finalize(s);
    if (r != DB_DONE)
        return -1;
    crypto_hash_sha256_final(&h, d);
    sodium_bin2hex(hex, 65, d, sizeof(d));
    return 0;
}

static int
copy_table(struct store *src, struct store *dst, const struct table *t, int64_t *copied)
{
    char *sel = NULL, *ins = NULL;
    size_t sel_len = 0, ins_len = 0;
    FILE *fs = open_memstream(&sel, &sel_len), *fi = open_memstream(&ins, &ins_len);
    struct db_stmt *s = NULL;
    char *del = xasprintf("DELETE FROM %s", t->name);
    enum db_rc r = DB_ERR;
    int rc = -1;

    if (!fs || !fi) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    fputs("SELECT ", fs);
    fprintf(fi, "INSERT INTO %s (", t->name);
    for (size_t c = 0; c < t->ncols; c++) {
        fprintf(fs, "%s%s", c ? ", " : "", t->cols[c]);
        fprintf(fi, "%s%s", c ? ", " : "", t->cols[c]);
    }
    fprintf(fs, " FROM %s", t->name);
    fputs(") VALUES (", fi);
    for (size_t c = 0; c < t->ncols; c++)
        fputs(c ? ", ?" : "?", fi);
    fputs(")", fi);
    fclose(fs);
    fclose(fi);

    /* Rows the target's migrations seeded (counters) give way to the source's. */
    if (dst->drv->exec(dst->writer, del) != DB_OK)
        goto out;
    if (st_prep(src, src->writer, &s, sel, ST_NOARGS) != DB_OK)
        goto out;
    *copied = 0;
    while ((r = src->drv->step(s)) == DB_ROW) {
        struct db_stmt *w = NULL;
        enum db_rc wr = dst->drv->prepare(dst->writer, ins, &w);
        for (size_t c = 0; c < t->ncols && wr == DB_OK; c++)
            wr = dst->drv->bind_text(w, (int)c + 1, src->drv->col_text(s, (int)c));
        if (wr == DB_OK)
            wr = dst->drv->step(w);
        dst->drv->finalize(w);
        if (wr != DB_DONE) {
            fprintf(stderr, "hearth port-db: copying %s failed\n", t->name);
            goto out;
        }
        (*copied)++;
    }
    if (r == DB_DONE)
        rc = 0;
out:
    src->drv->finalize(s);
    free(del);
    free(sel);
    free(ins);
    return rc;
}

int
store_port_db(const char *sqlite_path, const char *pg_conninfo)
{
    struct config from = {0}, to = {0};
    struct store *src = NULL, *dst = NULL;
    struct table *tables = NULL;
    size_t ntables = 0;
    char hex_src[65], hex_dst[65];
    bool in_txn = false;
    int rc = 1;

    from.database_name = "sqlite3";
    from.database_path = (char *)sqlite_path;
    to.database_name = "psycopg2";
    to.database_conninfo = (char *)pg_conninfo;
    to.database_cp_min = 1;
    to.database_cp_max = 1;
    if (access(sqlite_path, R_OK | W_OK) != 0) {
        fprintf(stderr, "hearth port-db: cannot open %s\n", sqlite_path);
        return 1;
    }
    if (store_open(&from, &src) != STORE_OK) {
        fprintf(stderr, "hearth port-db: cannot open the SQLite database %s\n", sqlite_path);
        goto out;
    }
    if (store_open(&to, &dst) != STORE_OK) {
        fprintf(stderr, "hearth port-db: cannot open the PostgreSQL database\n");
        goto out;
    }
    if (count_rows(dst, "users") != 0 || count_rows(dst, "events") != 0) {
        fprintf(stderr, "hearth port-db: the PostgreSQL database is not empty\n");
        goto out;
    }
    if (list_tables(src, &tables, &ntables) != 0)
        goto out;
    if (dst->drv->exec(dst->writer, "BEGIN") != DB_OK)
        goto out;
    in_txn = true;
    for (size_t i = 0; i < ntables; i++) {
        int64_t n = 0;
        if (copy_table(src, dst, &tables[i], &n) != 0)
            goto out;
        printf("%-24s %lld rows\n", tables[i].name, (long long)n);
    }
    /* What each engine keeps for itself: the stream sequence and derived indexes. */
    if (dst->drv->exec(dst->writer, store_port_pg_fixups) != DB_OK ||
        dst->drv->exec(dst->writer, st_search_port_pg) != DB_OK)
        goto out;
    for (size_t i = 0; i < ntables; i++) {
        int64_t a = count_rows(src, tables[i].name), b = count_rows(dst, tables[i].name);
        if (a < 0 || a != b) {
            fprintf(stderr, "hearth port-db: %s: %lld rows in SQLite, %lld copied\n",
                    tables[i].name, (long long)a, (long long)b);
            goto out;
        }
    }
    if (events_digest(src, hex_src) != 0 || events_digest(dst, hex_dst) != 0 ||
        strcmp(hex_src, hex_dst) != 0) {
        fprintf(stderr, "hearth port-db: the events differ after copying\n");
        goto out;
    }
    if (dst->drv->exec(dst->writer, "COMMIT") != DB_OK)
        goto out;
    in_txn = false;
    printf("events checksum %s\nport-db: done; point database: in homeserver.yaml at "
           "PostgreSQL\n",
           hex_src);
    rc = 0;
out:
    if (in_txn)
        dst->drv->exec(dst->writer, "ROLLBACK");
    tables_free(tables, ntables);
    store_close(src);
    store_close(dst);
    return rc;
}
