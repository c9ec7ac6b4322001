/* End-to-end encryption storage (modules/end_to_end_encryption.rst, send_to_device.rst):
 * device identity keys, one-time keys, to-device inboxes and the device-list log. Every write
 * that must be atomic (an upload's conflict check, a claim's select-and-delete, a send's
 * transaction-ID check) is one job of the group-commit writer, which runs jobs one at a time. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store_internal.h"

/* A text column of the first row of a query on the writer: STORE_OK (*out owned),
 * STORE_NOT_FOUND, STORE_ERR. */
static enum store_rc
writer_string(struct store *st, char **out, const char *sql, const struct st_arg *args, size_t n)
{
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    *out = NULL;
    if (st_prep(st, st->writer, &s, sql, args, n) != DB_OK)
        return STORE_ERR;
    r = st->drv->step(s);
    if (r == DB_ROW) {
        *out = st_dup_col(st, s, 0);
        rc = *out ? STORE_OK : STORE_ERR;
    } else if (r == DB_DONE) {
        rc = STORE_NOT_FOUND;
    }
    st->drv->finalize(s);
    return rc;
}

/* Moves a counter on by one and returns its new value (on the writer). */
static enum store_rc
next_counter(struct store *st, const char *name, int64_t *out)
{
    char *v = NULL;
    enum store_rc rc =
        st_rc(st_run(st, st->writer, "UPDATE counters SET value = value + 1 WHERE name = ?",
                     ST_ARGS(ST_S(name))));
    if (rc != STORE_OK)
        return rc;
    rc = writer_string(st, &v, "SELECT CAST(value AS TEXT) FROM counters WHERE name = ?",
                       ST_ARGS(ST_S(name)));
    if (rc == STORE_OK && util_parse_int64(v, out) != 0)
        rc = STORE_ERR;
    free(v);
    return rc == STORE_NOT_FOUND ? STORE_ERR : rc;
}

static enum store_rc
log_device_list_change(struct store *st, const char *user_id)
{
    enum store_rc rc = st_rc(st_run(st, st->writer, ST_SQL_DL_BUMP, ST_ARGS(ST_S("device_lists"))));
    if (rc == STORE_OK)
        rc = st_rc(st_run(st, st->writer, ST_SQL_DL_LOG, ST_ARGS(ST_S(user_id))));
    return rc;
}

/* ---- uploads ---- */

static enum store_rc
upload_job(struct store *st, void *arg)
{
    struct store_keys_upload *u = arg;
    enum store_rc rc;
    char *old = NULL;

    for (size_t i = 0; i < u->n_otks; i++) {
        const struct store_otk *k = &u->otks[i];
        rc = writer_string(
            st, &old,
            "SELECT key_json FROM e2e_one_time_keys WHERE user_id = ? AND "
            "device_id = ? AND algorithm = ? AND key_id = ?",
            ST_ARGS(ST_S(u->user_id), ST_S(u->device_id), ST_S(k->algorithm), ST_S(k->key_id)));
        if (rc == STORE_OK) {
            /* SPEC: the same key again is a retried upload; another under its ID is refused. */
            bool same = strcmp(old, k->key_json) == 0;
            free(old);
            old = NULL;
            if (same)
                continue;
            u->conflict = xasprintf("%s:%s", k->algorithm, k->key_id);
            return STORE_EXISTS;
        }
        if (rc != STORE_NOT_FOUND)
            return STORE_ERR;
        rc = st_rc(st_run(st, st->writer,
                          "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, "
                          "key_json) VALUES (?, ?, ?, ?, ?)",
                          ST_ARGS(ST_S(u->user_id), ST_S(u->device_id), ST_S(k->algorithm),
                                  ST_S(k->key_id), ST_S(k->key_json))));
        if (rc != STORE_OK)
            return STORE_ERR;
    }
    if (!u->device_keys)
        return STORE_OK;
    rc = writer_string(st, &old,
                       "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
                       ST_ARGS(ST_S(u->user_id), ST_S(u->device_id)));
    if (rc == STORE_OK) {
        bool same = strcmp(old, u->device_keys) == 0;
        free(old);
        if (same)
            return STORE_OK;
    } else if (rc != STORE_NOT_FOUND) {
        return STORE_ERR;
    }
    rc = st_rc(st_run(st, st->writer,
                      "INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?) "
                      "ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
                      ST_ARGS(ST_S(u->user_id), ST_S(u->device_id), ST_S(u->device_keys))));
    if (rc == STORE_OK)
        rc = log_device_list_change(st, u->user_id);
    if (rc == STORE_OK)
        u->device_keys_changed = true;
    return rc;
}

enum store_rc
store_keys_upload(struct store *st, struct store_keys_upload *u)
{
    enum store_rc rc;

    u->device_keys_changed = false;
    u->conflict = NULL;
    rc = st_write(st, upload_job, u);
    if (rc != STORE_OK)
        u->device_keys_changed = false;
    if (rc != STORE_EXISTS) {
        free(u->conflict);
        u->conflict = NULL;
    }
    return rc;
}

static void
fill_count(struct store *st, struct db_stmt *s, void *item)
{
    struct store_otk_count *c = item;
    c->algorithm = st_dup_col(st, s, 0);
    c->count = st->drv->col_int64(s, 1);
}

static void
clear_count(void *item)
{
    free(((struct store_otk_count *)item)->algorithm);
}

void
store_otk_counts_free(struct store_otk_count *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_count);
}

enum store_rc
store_otk_counts(struct store *st, const char *user_id, const char *device_id,
                 struct store_otk_count **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(st,
                                    "SELECT algorithm, COUNT(*) FROM e2e_one_time_keys WHERE "
                                    "user_id = ? AND device_id = ? GROUP BY algorithm",
                                    ST_ARGS(ST_S(user_id), ST_S(device_id)), sizeof(**out),
                                    fill_count, clear_count, &list, n);
    *out = list;
    return rc;
}

/* ---- queries ---- */

static void
fill_device_keys(struct store *st, struct db_stmt *s, void *item)
{
    struct store_device_keys *k = item;
    st_dup_cols(st, s, (char **const[]){&k->device_id, &k->key_json, &k->display_name}, 3);
}

static void
clear_device_keys(void *item)
{
    struct store_device_keys *k = item;
    free(k->device_id);
    free(k->key_json);
    free(k->display_name);
}

void
store_device_keys_free(struct store_device_keys *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_device_keys);
}

enum store_rc
store_device_keys_list(struct store *st, const char *user_id, struct store_device_keys **out,
                       size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(
        st,
        "SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k "
        "JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id "
        "WHERE k.user_id = ? ORDER BY k.device_id",
        ST_ARGS(ST_S(user_id)), sizeof(**out), fill_device_keys, clear_device_keys, &list, n);
    *out = list;
    return rc;
}

/* ---- claims ---- */

struct claim_ctx {
    struct store_claim *claims;
    size_t n;
};

static enum store_rc
claim_job(struct store *st, void *arg)
{
    struct claim_ctx *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        struct store_claim *k = &c->claims[i];
        struct db_stmt *s = NULL;
        enum db_rc r;

        if (st_prep(st, st->writer, &s,
                    "SELECT key_id, key_json FROM e2e_one_time_keys WHERE user_id = ? AND "
                    "device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1",
                    ST_ARGS(ST_S(k->user_id), ST_S(k->device_id), ST_S(k->algorithm))) != DB_OK)
            return STORE_ERR;
        r = st->drv->step(s);
        if (r == DB_ROW) {
            k->key_id = st_dup_col(st, s, 0);
            k->key_json = st_dup_col(st, s, 1);
        }
        st->drv->finalize(s);
        if (r != DB_ROW && r != DB_DONE)
            return STORE_ERR;
        if (r == DB_DONE)
            continue;
        /* SPEC: "A homeserver should discard the public part of a one time key once it has
         * given that key to another user." Same job, so nobody else can take it meanwhile. */
        if (st_run(st, st->writer,
                   "DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND "
                   "algorithm = ? AND key_id = ?",
                   ST_ARGS(ST_S(k->user_id), ST_S(k->device_id), ST_S(k->algorithm),
                           ST_S(k->key_id))) != DB_OK)
            return STORE_ERR;
    }
    return STORE_OK;
}

void
store_claims_clear(struct store_claim *claims, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(claims[i].key_id);
        free(claims[i].key_json);
        claims[i].key_id = claims[i].key_json = NULL;
    }
}

enum store_rc
store_otks_claim(struct store *st, struct store_claim *claims, size_t n)
{
    struct claim_ctx c = {claims, n};
    enum store_rc rc;

    for (size_t i = 0; i < n; i++)
        claims[i].key_id = claims[i].key_json = NULL;
    if (n == 0)
        return STORE_OK;
    rc = st_write(st, claim_job, &c);
    /* A failed batch rolled the deletions back: hand out nothing. */
    if (rc != STORE_OK)
        store_claims_clear(claims, n);
    return rc;
}

/* ---- to-device ---- */

static enum store_rc
send_job(struct store *st, void *arg)
{
    struct store_to_device_send *s = arg;
    enum store_rc rc;
    char *seen = NULL;

    if (s->txn_key) {
        rc =
            writer_string(st, &seen, "SELECT txn_id FROM txns WHERE token_hash = ? AND txn_key = ?",
                          ST_ARGS(ST_S(s->token_hash), ST_S(s->txn_key)));
        free(seen);
        if (rc == STORE_OK) {
            s->replayed = true;
            return STORE_OK;
        }
        if (rc != STORE_NOT_FOUND)
            return STORE_ERR;
    }
    if ((rc = next_counter(st, "to_device", &s->pos)) != STORE_OK)
        return rc;
    /* Named devices first, then "*": one message per device and transaction (the spec's
     * rule), the named one winning. One position for the whole request: a device gets at
     * most one message of it. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->n; i++) {
            const struct store_to_device_msg *m = &s->msgs[i];
            bool all = strcmp(m->device_id, "*") == 0;
            if (all != (pass == 1))
                continue;
            rc = st_rc(st_run(
                st, st->writer,
                all ? "INSERT INTO to_device_inbox (user_id, device_id, stream_pos, sender, type, "
                      "content) SELECT user_id, device_id, CAST(? AS BIGINT), CAST(? AS TEXT), "
                      "CAST(? AS TEXT), CAST(? AS TEXT) FROM devices WHERE user_id = ? AND "
                      "device_id <> ? ON CONFLICT (user_id, device_id, stream_pos) DO NOTHING"
                    : "INSERT INTO to_device_inbox (user_id, device_id, stream_pos, sender, type, "
                      "content) SELECT user_id, device_id, CAST(? AS BIGINT), CAST(? AS TEXT), "
                      "CAST(? AS TEXT), CAST(? AS TEXT) FROM devices WHERE user_id = ? AND "
                      "device_id = ? ON CONFLICT (user_id, device_id, stream_pos) DO NOTHING",
                ST_ARGS(ST_I(s->pos), ST_S(s->sender), ST_S(s->type), ST_S(m->content),
                        ST_S(m->user_id), ST_S(all ? "" : m->device_id))));
            if (rc != STORE_OK)
                return STORE_ERR;
        }
    }
    if (!s->txn_key)
        return STORE_OK;
    /* txns.event_id is NOT NULL; a to-device transaction has no event. */
    return st_rc(
        st_run(st, st->writer,
               "INSERT INTO txns (token_hash, txn_key, txn_id, event_id, created_ts) "
               "VALUES (?, ?, ?, '', ?)",
               ST_ARGS(ST_S(s->token_hash), ST_S(s->txn_key), ST_S(s->txn_id), ST_I(s->now))));
}

enum store_rc
store_to_device_send(struct store *st, struct store_to_device_send *s)
{
    s->replayed = false;
    s->pos = 0;
    return st_write(st, send_job, s);
}

static void
fill_to_device(struct store *st, struct db_stmt *s, void *item)
{
    struct store_to_device *m = item;
    m->pos = st->drv->col_int64(s, 0);
    m->sender = st_dup_col(st, s, 1);
    m->type = st_dup_col(st, s, 2);
    m->content = st_dup_col(st, s, 3);
}

static void
clear_to_device(void *item)
{
    struct store_to_device *m = item;
    free(m->sender);
    free(m->type);
    free(m->content);
}

void
store_to_device_free(struct store_to_device *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_to_device);
}

enum store_rc
store_to_device_pending(struct store *st, const char *user_id, const char *device_id, int64_t after,
                        int64_t upto, size_t limit, struct store_to_device **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(
        st,
        "SELECT stream_pos, sender, type, content FROM to_device_inbox WHERE user_id = ? AND "
        "device_id = ? AND stream_pos > ? AND stream_pos <= ? ORDER BY stream_pos LIMIT ?",
        ST_ARGS(ST_S(user_id), ST_S(device_id), ST_I(after), ST_I(upto), ST_I((int64_t)limit)),
        sizeof(**out), fill_to_device, clear_to_device, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_to_device_ack(struct store *st, const char *user_id, const char *device_id, int64_t upto)
{
    return ST_WRITE(st, ST_STEP("DELETE FROM to_device_inbox WHERE user_id = ? AND device_id = ? "
                                "AND stream_pos <= ?",
                                ST_S(user_id), ST_S(device_id), ST_I(upto)));
}

static void
fill_heads(struct store *st, struct db_stmt *s, void *item)
{
    struct store_e2e_heads *h = item;
    h->to_device = st->drv->col_int64(s, 0);
    h->device_lists = st->drv->col_int64(s, 1);
    h->inbox_min = st->drv->col_is_null(s, 2) ? -1 : st->drv->col_int64(s, 2);
}

enum store_rc
store_e2e_heads(struct store *st, const char *user_id, const char *device_id,
                struct store_e2e_heads *out)
{
    /* One statement, so the positions and the inbox are read at the same instant. */
    enum store_rc rc = st_read_one(
        st,
        "SELECT (SELECT value FROM counters WHERE name = 'to_device'), (SELECT value FROM "
        "counters WHERE name = 'device_lists'), (SELECT MIN(stream_pos) FROM to_device_inbox "
        "WHERE user_id = ? AND device_id = ?)",
        ST_ARGS(ST_S(user_id), ST_S(device_id)), fill_heads, out);
    return rc == STORE_NOT_FOUND ? STORE_ERR : rc;
}

/* ---- device lists ---- */

enum store_rc
store_device_list_changed(struct store *st, const char *user_id)
{
    return ST_WRITE(st, ST_DL_LOG_STEPS(user_id));
}

enum store_rc
store_device_list_changes(struct store *st, const char *user_id, int64_t since, int64_t upto,
                          char ***users, size_t *n)
{
    return st_read_texts(
        st,
        "SELECT DISTINCT c.user_id FROM device_list_changes c WHERE c.stream_pos > ? AND "
        "c.stream_pos <= ? AND (c.user_id = ? OR EXISTS (SELECT 1 FROM room_state a JOIN "
        "room_state b ON b.room_id = a.room_id WHERE a.state_key = c.user_id AND "
        "a.type = 'm.room.member' AND a.to_pos IS NULL AND a.membership = 'join' AND "
        "b.state_key = ? AND b.type = 'm.room.member' AND b.to_pos IS NULL AND "
        "b.membership = 'join'))",
        ST_ARGS(ST_I(since), ST_I(upto), ST_S(user_id), ST_S(user_id)), users, n);
}

static void
fill_member_change(struct store *st, struct db_stmt *s, void *item)
{
    struct store_member_change *m = item;
    m->user_id = st_dup_col(st, s, 0);
    m->membership = st_dup_col(st, s, 1);
    m->current = st->drv->col_int64(s, 2) != 0;
    m->joined_before = st->drv->col_int64(s, 3) != 0;
}

static void
clear_member_change(void *item)
{
    struct store_member_change *m = item;
    free(m->user_id);
    free(m->membership);
}

void
store_member_changes_free(struct store_member_change *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_member_change);
}

enum store_rc
store_room_member_changes(struct store *st, const char *room_id, int64_t since, int64_t upto,
                          struct store_member_change **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(
        st,
        "SELECT o.state_key, o.membership, CASE WHEN o.to_pos IS NULL THEN 1 ELSE 0 END, "
        "CASE WHEN EXISTS (SELECT 1 FROM room_state h WHERE h.room_id = o.room_id AND "
        "h.type = 'm.room.member' AND h.state_key = o.state_key AND h.membership = 'join' AND "
        "h.from_pos <= ? AND (h.to_pos IS NULL OR h.to_pos > ?)) THEN 1 ELSE 0 END "
        "FROM room_state o WHERE o.room_id = ? AND o.type = 'm.room.member' AND "
        "o.from_pos > ? AND o.from_pos <= ? ORDER BY o.from_pos",
        ST_ARGS(ST_I(since), ST_I(since), ST_S(room_id), ST_I(since), ST_I(upto)), sizeof(**out),
        fill_member_change, clear_member_change, &list, n);
    *out = list;
    return rc;
}
