/* Matrix v1.1 storage (modules/end_to_end_encryption.md "Cross-signing", "Server-side key
 * backups"): cross-signing keys and signatures, key backup versions and their room keys. A
 * write that must see its own reads (the replacement rules, the version check) is one job of
 * the group-commit writer. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store_internal.h"

/* ---- cross-signing keys ---- */

static void
fill_xsign_key(struct store *st, struct db_stmt *s, void *item)
{
    struct store_xsign_key *k = item;
    st_dup_cols(st, s, (char **const[]){&k->key_type, &k->public_key, &k->key_json}, 3);
}

static void
clear_xsign_key(void *item)
{
    struct store_xsign_key *k = item;
    free(k->key_type);
    free(k->public_key);
    free(k->key_json);
}

void
store_xsign_keys_free(struct store_xsign_key *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_xsign_key);
}

enum store_rc
store_xsign_keys_get(struct store *st, const char *user_id, struct store_xsign_key **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(st,
                                    "SELECT key_type, public_key, key_json FROM "
                                    "e2e_cross_signing_keys WHERE user_id = ? ORDER BY key_type",
                                    ST_ARGS(ST_S(user_id)), sizeof(**out), fill_xsign_key,
                                    clear_xsign_key, &list, n);
    *out = list;
    return rc;
}

struct xsign_put_ctx {
    const char *user_id;
    const struct store_xsign_put *keys;
    size_t n;
};

static enum store_rc
xsign_put_job(struct store *st, void *arg)
{
    struct xsign_put_ctx *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        if (st_run(st, st->writer,
                   "INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (user_id, key_type) DO UPDATE SET "
                   "public_key = excluded.public_key, key_json = excluded.key_json",
                   ST_ARGS(ST_S(c->user_id), ST_S(c->keys[i].key_type), ST_S(c->keys[i].public_key),
                           ST_S(c->keys[i].key_json))) != DB_OK)
            return STORE_ERR;
    }
    if (st_run(st, st->writer, ST_SQL_DL_BUMP, ST_ARGS(ST_S("device_lists"))) != DB_OK ||
        st_run(st, st->writer, ST_SQL_DL_LOG, ST_ARGS(ST_S(c->user_id))) != DB_OK)
        return STORE_ERR;
    return STORE_OK;
}

enum store_rc
store_xsign_keys_put(struct store *st, const char *user_id, const struct store_xsign_put *keys,
                     size_t n)
{
    struct xsign_put_ctx c = {user_id, keys, n};
    return st_write(st, xsign_put_job, &c);
}

/* ---- signatures ---- */

struct sigs_ctx {
    const struct store_xsign_sig *sigs;
    size_t n;
    const char *const *changed;
    size_t n_changed;
};

static enum store_rc
sigs_add_job(struct store *st, void *arg)
{
    struct sigs_ctx *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        const struct store_xsign_sig *g = &c->sigs[i];
        if (st_run(st, st->writer,
                   "INSERT INTO e2e_cross_signing_sigs (signer_user_id, signer_key_id, "
                   "target_user_id, target_key_id, signature) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) "
                   "DO UPDATE SET signature = excluded.signature",
                   ST_ARGS(ST_S(g->signer_user_id), ST_S(g->signer_key_id), ST_S(g->target_user_id),
                           ST_S(g->target_key_id), ST_S(g->signature))) != DB_OK)
            return STORE_ERR;
    }
    for (size_t i = 0; i < c->n_changed; i++) {
        if (st_run(st, st->writer, ST_SQL_DL_BUMP, ST_ARGS(ST_S("device_lists"))) != DB_OK ||
            st_run(st, st->writer, ST_SQL_DL_LOG, ST_ARGS(ST_S(c->changed[i]))) != DB_OK)
            return STORE_ERR;
    }
    return STORE_OK;
}

enum store_rc
store_xsign_sigs_add(struct store *st, const struct store_xsign_sig *sigs, size_t n,
                     const char *const *changed, size_t n_changed)
{
    struct sigs_ctx c = {sigs, n, changed, n_changed};
    if (n == 0 && n_changed == 0)
        return STORE_OK;
    return st_write(st, sigs_add_job, &c);
}

static void
fill_sig(struct store *st, struct db_stmt *s, void *item)
{
    struct store_xsign_sig *g = item;
    g->signer_user_id = st_dup_col(st, s, 0);
    g->signer_key_id = st_dup_col(st, s, 1);
    g->target_user_id = st_dup_col(st, s, 2);
    g->target_key_id = st_dup_col(st, s, 3);
    g->signature = st_dup_col(st, s, 4);
}

static void
clear_sig(void *item)
{
    struct store_xsign_sig *g = item;
    free(g->signer_user_id);
    free(g->signer_key_id);
    free(g->target_user_id);
    free(g->target_key_id);
    free(g->signature);
}

void
store_xsign_sigs_free(struct store_xsign_sig *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_sig);
}

enum store_rc
store_xsign_sigs_get(struct store *st, const char *target_user_id, const char *viewer,
                     struct store_xsign_sig **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(
        st,
        "SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature FROM "
        "e2e_cross_signing_sigs WHERE target_user_id = ? AND (signer_user_id = target_user_id "
        "OR signer_user_id = ?) ORDER BY target_key_id, signer_user_id, signer_key_id",
        ST_ARGS(ST_S(target_user_id), ST_S(viewer)), sizeof(**out), fill_sig, clear_sig, &list, n);
    *out = list;
    return rc;
}

/* ---- key backup versions ---- */

void
store_backup_clear(struct store_backup *b)
{
    free(b->algorithm);
    free(b->auth_data);
    memset(b, 0, sizeof(*b));
}

/* An integer of the first row on the writer: STORE_OK, STORE_NOT_FOUND, STORE_ERR. */
static enum store_rc
writer_int(struct store *st, int64_t *out, const char *sql, const struct st_arg *args, size_t n)
{
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    if (st_prep(st, st->writer, &s, sql, args, n) != DB_OK)
        return STORE_ERR;
    r = st->drv->step(s);
    if (r == DB_ROW && !st->drv->col_is_null(s, 0)) {
        *out = st->drv->col_int64(s, 0);
        rc = STORE_OK;
    } else if (r == DB_ROW || r == DB_DONE) {
        rc = STORE_NOT_FOUND;
    }
    st->drv->finalize(s);
    return rc;
}

struct create_ctx {
    const char *user_id, *algorithm, *auth_data;
    int64_t version;
};

static enum store_rc
create_job(struct store *st, void *arg)
{
    struct create_ctx *c = arg;
    enum store_rc rc = writer_int(
        st, &c->version, "SELECT MAX(version) FROM e2e_room_keys_versions WHERE user_id = ?",
        ST_ARGS(ST_S(c->user_id)));
    if (rc == STORE_NOT_FOUND)
        c->version = 0;
    else if (rc != STORE_OK)
        return rc;
    c->version++;
    return st_rc(st_run(
        st, st->writer,
        "INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, "
        "auth_data, etag, deleted) VALUES (?, ?, ?, ?, 0, 0)",
        ST_ARGS(ST_S(c->user_id), ST_I(c->version), ST_S(c->algorithm), ST_S(c->auth_data))));
}

enum store_rc
store_backup_create(struct store *st, const char *user_id, const char *algorithm,
                    const char *auth_data, int64_t *version)
{
    struct create_ctx c = {user_id, algorithm, auth_data, 0};
    enum store_rc rc = st_write(st, create_job, &c);
    *version = c.version;
    return rc;
}

struct backup_row {
    struct store_backup b;
    bool deleted;
};

static void
fill_backup(struct store *st, struct db_stmt *s, void *item)
{
    struct backup_row *r = item;
    r->b.version = st->drv->col_int64(s, 0);
    r->b.algorithm = st_dup_col(st, s, 1);
    r->b.auth_data = st_dup_col(st, s, 2);
    r->b.etag = st->drv->col_int64(s, 3);
    r->deleted = st->drv->col_int64(s, 4) != 0;
    r->b.count = st->drv->col_int64(s, 5);
}

enum store_rc
store_backup_get(struct store *st, const char *user_id, int64_t version, struct store_backup *out,
                 bool *deleted)
{
    struct backup_row row = {0};
    enum store_rc rc;

    memset(out, 0, sizeof(*out));
    if (deleted)
        *deleted = false;
    rc = st_read_one(
        st,
        version < 0
            ? "SELECT v.version, v.algorithm, v.auth_data, v.etag, v.deleted, (SELECT COUNT(*) "
              "FROM e2e_room_keys k WHERE k.user_id = v.user_id AND k.version = v.version) FROM "
              "e2e_room_keys_versions v WHERE v.user_id = ? AND v.deleted = 0 AND "
              "v.version > ? ORDER BY v.version DESC LIMIT 1"
            : "SELECT v.version, v.algorithm, v.auth_data, v.etag, v.deleted, (SELECT COUNT(*) "
              "FROM e2e_room_keys k WHERE k.user_id = v.user_id AND k.version = v.version) FROM "
              "e2e_room_keys_versions v WHERE v.user_id = ? AND v.version = ?",
        ST_ARGS(ST_S(user_id), ST_I(version < 0 ? 0 : version)), fill_backup, &row);
    if (rc != STORE_OK) {
        store_backup_clear(&row.b);
        return rc;
    }
    if (row.deleted) {
        if (deleted)
            *deleted = true;
        store_backup_clear(&row.b);
        return STORE_NOT_FOUND;
    }
    *out = row.b;
    return STORE_OK;
}

enum store_rc
store_backup_update(struct store *st, const char *user_id, int64_t version, const char *auth_data)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE e2e_room_keys_versions SET auth_data = ? WHERE "
                                        "user_id = ? AND version = ? AND deleted = 0",
                                        ST_S(auth_data), ST_S(user_id), ST_I(version)));
}

enum store_rc
store_backup_delete(struct store *st, const char *user_id, int64_t version)
{
    return ST_WRITE(st,
                    ST_STEP_CHANGED("UPDATE e2e_room_keys_versions SET deleted = 1 WHERE "
                                    "user_id = ? AND version = ?",
                                    ST_S(user_id), ST_I(version)),
                    ST_STEP("DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?",
                            ST_S(user_id), ST_I(version)));
}

/* ---- backed-up room keys ---- */

struct keys_put_ctx {
    const char *user_id;
    int64_t version;
    const struct store_room_key *keys;
    size_t n;
    int64_t current;
};

/* SPEC: end_to_end_encryption.md "Server-side key backups": keep the verified key, then the
 * lower first_message_index, then the lower forwarded_count. True if `n` beats `o`. */
static bool
new_key_wins(const struct store_room_key *n, bool o_verified, int64_t o_first, int64_t o_fwd)
{
    if (n->is_verified != o_verified)
        return n->is_verified;
    if (n->first_message_index != o_first)
        return n->first_message_index < o_first;
    return n->forwarded_count < o_fwd;
}

static void
fill_key_meta(struct store *st, struct db_stmt *s, void *item)
{
    int64_t *m = item;
    m[0] = st->drv->col_int64(s, 0);
    m[1] = st->drv->col_int64(s, 1);
    m[2] = st->drv->col_int64(s, 2);
}

static enum store_rc
keys_put_job(struct store *st, void *arg)
{
    struct keys_put_ctx *c = arg;
    enum store_rc rc;
    bool changed = false;

    c->current = -1;
    rc = writer_int(st, &c->current,
                    "SELECT MAX(version) FROM e2e_room_keys_versions WHERE user_id = ? AND "
                    "deleted = 0",
                    ST_ARGS(ST_S(c->user_id)));
    if (rc == STORE_NOT_FOUND)
        c->current = -1;
    else if (rc != STORE_OK)
        return rc;
    /* Synapse: with no backup at all, 404; another version than the current one, 403. */
    if (c->current != c->version)
        return c->current < 0 ? STORE_NOT_FOUND : STORE_EXISTS;
    for (size_t i = 0; i < c->n; i++) {
        const struct store_room_key *k = &c->keys[i];
        int64_t meta[3] = {0};
        struct db_stmt *s = NULL;
        enum db_rc r;

        if (st_prep(st, st->writer, &s,
                    "SELECT is_verified, first_message_index, forwarded_count FROM e2e_room_keys "
                    "WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?",
                    ST_ARGS(ST_S(c->user_id), ST_I(c->version), ST_S(k->room_id),
                            ST_S(k->session_id))) != DB_OK)
            return STORE_ERR;
        r = st->drv->step(s);
        if (r == DB_ROW)
            fill_key_meta(st, s, meta);
        st->drv->finalize(s);
        if (r != DB_ROW && r != DB_DONE)
            return STORE_ERR;
        if (r == DB_ROW && !new_key_wins(k, meta[0] != 0, meta[1], meta[2]))
            continue;
        if (st_run(st, st->writer,
                   "INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, "
                   "first_message_index, forwarded_count, is_verified, session_data) VALUES "
                   "(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, version, room_id, session_id) "
                   "DO UPDATE SET first_message_index = excluded.first_message_index, "
                   "forwarded_count = excluded.forwarded_count, is_verified = "
                   "excluded.is_verified, session_data = excluded.session_data",
                   ST_ARGS(ST_S(c->user_id), ST_I(c->version), ST_S(k->room_id),
                           ST_S(k->session_id), ST_I(k->first_message_index),
                           ST_I(k->forwarded_count), ST_B(k->is_verified),
                           ST_S(k->session_data))) != DB_OK)
            return STORE_ERR;
        changed = true;
    }
    if (!changed)
        return STORE_OK;
    return st_rc(st_run(st, st->writer,
                        "UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = ? AND "
                        "version = ?",
                        ST_ARGS(ST_S(c->user_id), ST_I(c->version))));
}

enum store_rc
store_backup_keys_put(struct store *st, const char *user_id, int64_t version,
                      const struct store_room_key *keys, size_t n, int64_t *current)
{
    struct keys_put_ctx c = {user_id, version, keys, n, -1};
    enum store_rc rc = st_write(st, keys_put_job, &c);
    *current = c.current;
    return rc;
}

static void
fill_room_key(struct store *st, struct db_stmt *s, void *item)
{
    struct store_room_key_row *k = item;
    k->room_id = st_dup_col(st, s, 0);
    k->session_id = st_dup_col(st, s, 1);
    k->first_message_index = st->drv->col_int64(s, 2);
    k->forwarded_count = st->drv->col_int64(s, 3);
    k->is_verified = st->drv->col_int64(s, 4) != 0;
    k->session_data = st_dup_col(st, s, 5);
}

static void
clear_room_key(void *item)
{
    struct store_room_key_row *k = item;
    free(k->room_id);
    free(k->session_id);
    free(k->session_data);
}

void
store_backup_keys_free(struct store_room_key_row *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_room_key);
}

enum store_rc
store_backup_keys_get(struct store *st, const char *user_id, int64_t version, const char *room_id,
                      const char *session_id, struct store_room_key_row **out, size_t *n)
{
    void *list = NULL;
    /* '' never matches a room or session ID (both are non-empty), so one statement serves
     * all three scopes. */
    enum store_rc rc = st_read_list(
        st,
        "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, "
        "session_data FROM e2e_room_keys WHERE user_id = ? AND version = ? AND (? = '' OR "
        "room_id = ?) AND (? = '' OR session_id = ?) ORDER BY room_id, session_id",
        ST_ARGS(ST_S(user_id), ST_I(version), ST_S(room_id ? room_id : ""),
                ST_S(room_id ? room_id : ""), ST_S(session_id ? session_id : ""),
                ST_S(session_id ? session_id : "")),
        sizeof(**out), fill_room_key, clear_room_key, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_backup_keys_delete(struct store *st, const char *user_id, int64_t version,
                         const char *room_id, const char *session_id)
{
    const char *room = room_id ? room_id : "", *sess = session_id ? session_id : "";
    return ST_WRITE(st,
                    ST_STEP("DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ? AND "
                            "(? = '' OR room_id = ?) AND (? = '' OR session_id = ?)",
                            ST_S(user_id), ST_I(version), ST_S(room), ST_S(room), ST_S(sess),
                            ST_S(sess)),
                    ST_STEP("UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE "
                            "user_id = ? AND version = ?",
                            ST_S(user_id), ST_I(version)));
}
