/* What Synapse's admin API and the offline admin commands read and change (issue 14): account
 * listings, media listings and deletion, room purges and blocks, event reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_internal.h"

#define MAX_ARGS 8

/* "%term%" for LIKE, with the pattern characters of term escaped by '\' (LOWER on both sides
 * makes it case-insensitive on both engines: PostgreSQL's LIKE is case-sensitive). */
static char *
like_pattern(const char *term)
{
    size_t n = strlen(term);
    char *out = xmalloc(2 * n + 3), *p = out;

    *p++ = '%';
    for (const char *s = term; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

static void
fill_count(struct store *st, struct db_stmt *s, void *item)
{
    *(int64_t *)item = st->drv->col_int64(s, 0);
}

/* ---- accounts ---- */

void
store_admin_user_clear(struct store_admin_user *u)
{
    free(u->user_id);
    free(u->displayname);
    free(u->avatar_url);
    memset(u, 0, sizeof(*u));
}

static void
fill_admin_user(struct store *st, struct db_stmt *s, void *item)
{
    struct store_admin_user *u = item;
    u->user_id = st_dup_col(st, s, 0);
    u->displayname = st_dup_col(st, s, 1);
    u->avatar_url = st_dup_col(st, s, 2);
    u->is_guest = st->drv->col_int64(s, 3) != 0;
    u->is_admin = st->drv->col_int64(s, 4) != 0;
    u->deactivated = st->drv->col_int64(s, 5) != 0;
    u->erased = st->drv->col_int64(s, 6) != 0;
    u->created_ts = st->drv->col_int64(s, 7);
}

static void
clear_admin_user(void *item)
{
    store_admin_user_clear(item);
}

void
store_admin_users_free(struct store_admin_user *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_admin_user);
}

#define USER_COLUMNS                                                                               \
    "SELECT u.user_id, p.displayname, p.avatar_url, u.is_guest, u.is_admin, u.deactivated, "       \
    "CASE WHEN e.user_id IS NULL THEN 0 ELSE 1 END, u.created_ts "
#define USER_FROM                                                                                  \
    "FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id "                                  \
    "LEFT JOIN erased_users e ON e.user_id = u.user_id "

/* Synapse's order_by values and the column each sorts by. Text columns that may be NULL are
 * COALESCEd: the engines put NULLs at opposite ends. */
static const struct {
    const char *name, *column;
} user_orders[] = {
    {"name", "u.user_id"},
    {"is_guest", "u.is_guest"},
    {"admin", "u.is_admin"},
    {"user_type", "u.user_id"}, /* Hearth has no user types */
    {"deactivated", "u.deactivated"},
    {"shadow_banned", "u.user_id"}, /* nor shadow bans */
    {"displayname", "COALESCE(p.displayname, '')"},
    {"avatar_url", "COALESCE(p.avatar_url, '')"},
    {"creation_ts", "u.created_ts"},
    {"locked", "u.user_id"}, /* nor locks; synapse-admin sorts by its "locked" column */
};

static const char *
user_order_column(const char *name)
{
    for (size_t i = 0; i < sizeof(user_orders) / sizeof(user_orders[0]); i++)
        if (strcmp(user_orders[i].name, name) == 0)
            return user_orders[i].column;
    return NULL;
}

bool
store_admin_user_order_ok(const char *order_by)
{
    return user_order_column(order_by) != NULL;
}

enum store_rc
store_admin_users_list(struct store *st, const struct store_admin_user_query *q,
                       struct store_admin_user **out, size_t *n, int64_t *total)
{
    const char *col = user_order_column(q->order_by ? q->order_by : "name");
    const char *dir = q->backwards ? "DESC" : "ASC";
    struct st_arg args[MAX_ARGS];
    char where[512], sql[1536];
    char *uid = NULL, *name = NULL;
    size_t na = 0;
    enum store_rc rc;

    *out = NULL;
    *n = 0;
    *total = 0;
    if (!col)
        return STORE_ERR;
    snprintf(where, sizeof(where), "WHERE 1 = 1%s%s%s%s", q->guests ? "" : " AND u.is_guest = 0",
             q->deactivated ? "" : " AND u.deactivated = 0",
             q->user_id ? " AND LOWER(u.user_id) LIKE ? ESCAPE '\\'" : "",
             q->name ? " AND (LOWER(u.user_id) LIKE ? ESCAPE '\\' OR "
                       "LOWER(COALESCE(p.displayname, '')) LIKE ? ESCAPE '\\')"
                     : "");
    if (q->user_id) {
        uid = like_pattern(q->user_id);
        args[na++] = st_arg_s(uid);
    }
    if (q->name) {
        name = like_pattern(q->name);
        args[na++] = st_arg_s(name);
        args[na++] = st_arg_s(name);
    }
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) " USER_FROM "%s", where);
    rc = st_read_one(st, sql, args, na, fill_count, total);
    if (rc != STORE_OK)
        goto out;
    snprintf(sql, sizeof(sql),
             USER_COLUMNS USER_FROM "%s ORDER BY %s %s, u.user_id %s LIMIT ? OFFSET ?", where, col,
             dir, dir);
    args[na++] = st_arg_i(q->limit);
    args[na++] = st_arg_i(q->from);
    rc = st_read_list(st, sql, args, na, sizeof(**out), fill_admin_user, clear_admin_user,
                      (void **)out, n);
out:
    free(uid);
    free(name);
    return rc;
}

enum store_rc
store_admin_user_get(struct store *st, const char *user_id, struct store_admin_user *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st, USER_COLUMNS USER_FROM "WHERE u.user_id = ?", ST_ARGS(ST_S(user_id)),
                       fill_admin_user, out);
}

enum store_rc
store_user_set_admin(struct store *st, const char *user_id, bool admin)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE users SET is_admin = ? WHERE user_id = ?",
                                        ST_B(admin), ST_S(user_id)));
}

static void
fill_external_id(struct store *st, struct db_stmt *s, void *item)
{
    struct store_external_id *e = item;
    e->auth_provider = st_dup_col(st, s, 0);
    e->external_id = st_dup_col(st, s, 1);
}

static void
clear_external_id(void *item)
{
    struct store_external_id *e = item;
    free(e->auth_provider);
    free(e->external_id);
}

void
store_external_ids_free(struct store_external_id *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        clear_external_id(&list[i]);
    free(list);
}

enum store_rc
store_admin_external_ids(struct store *st, const char *user_id, struct store_external_id **out,
                         size_t *n)
{
    return st_read_list(st,
                        "SELECT auth_provider, external_id FROM user_external_ids "
                        "WHERE user_id = ? ORDER BY auth_provider, external_id",
                        ST_ARGS(ST_S(user_id)), sizeof(**out), fill_external_id, clear_external_id,
                        (void **)out, n);
}

struct external_ids_ctx {
    const char *user_id;
    const struct store_external_id *list;
    size_t n;
};

static enum store_rc
external_ids_set_job(struct store *st, void *arg)
{
    struct external_ids_ctx *c = arg;

    if (st_run(st, st->writer, "DELETE FROM user_external_ids WHERE user_id = ?",
               ST_ARGS(ST_S(c->user_id))) != DB_OK)
        return STORE_ERR;
    for (size_t i = 0; i < c->n; i++)
        if (st_run(st, st->writer,
                   "INSERT INTO user_external_ids (auth_provider, external_id, user_id) "
                   "VALUES (?, ?, ?)",
                   ST_ARGS(ST_S(c->list[i].auth_provider), ST_S(c->list[i].external_id),
                           ST_S(c->user_id))) != DB_OK)
            return STORE_ERR;
    return STORE_OK;
}

enum store_rc
store_admin_external_ids_set(struct store *st, const char *user_id,
                             const struct store_external_id *list, size_t n)
{
    struct external_ids_ctx c = {user_id, list, n};
    return st_write(st, external_ids_set_job, &c);
}

/* After a write to erased_users: the cached count is stale. */
static void
erased_changed(struct store *st)
{
    pthread_mutex_lock(&st->elock);
    st->erased_gen++;
    st->erased_count = -1;
    pthread_mutex_unlock(&st->elock);
}

enum store_rc
store_user_reactivate(struct store *st, const char *user_id)
{
    enum store_rc rc = ST_WRITE(
        st, ST_STEP_CHANGED("UPDATE users SET deactivated = 0 WHERE user_id = ?", ST_S(user_id)),
        ST_STEP("DELETE FROM erased_users WHERE user_id = ?", ST_S(user_id)));

    erased_changed(st);
    return rc;
}

enum store_rc
store_user_erase(struct store *st, const char *user_id)
{
    enum store_rc rc = ST_WRITE(st,
                                ST_STEP("INSERT INTO erased_users (user_id) VALUES (?) "
                                        "ON CONFLICT (user_id) DO NOTHING",
                                        ST_S(user_id)),
                                ST_STEP("UPDATE profiles SET displayname = NULL, avatar_url = NULL "
                                        "WHERE user_id = ?",
                                        ST_S(user_id)));

    erased_changed(st);
    return rc;
}

enum store_rc
store_user_is_erased(struct store *st, const char *user_id, bool *out)
{
    int64_t count, one = 0;
    uint64_t gen;
    enum store_rc rc;

    *out = false;
    pthread_mutex_lock(&st->elock);
    count = st->erased_count;
    gen = st->erased_gen;
    pthread_mutex_unlock(&st->elock);
    if (count < 0) {
        rc = st_read_one(st, "SELECT COUNT(*) FROM erased_users", ST_NOARGS, fill_count, &count);
        if (rc != STORE_OK)
            return rc;
        pthread_mutex_lock(&st->elock);
        if (st->erased_gen == gen) /* no erasure committed meanwhile */
            st->erased_count = count;
        pthread_mutex_unlock(&st->elock);
    }
    if (count == 0)
        return STORE_OK;
    rc = st_read_one(st, "SELECT 1 FROM erased_users WHERE user_id = ?", ST_ARGS(ST_S(user_id)),
                     fill_count, &one);
    if (rc == STORE_NOT_FOUND)
        return STORE_OK;
    *out = rc == STORE_OK;
    return rc;
}

/* ---- media ---- */

static void
clear_media(void *item)
{
    store_media_clear(item);
}

void
store_media_list_free(struct store_media *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_media);
}

static const struct {
    const char *name, *column;
} media_orders[] = {
    {"media_id", "media_id"},
    {"upload_name", "COALESCE(upload_name, '')"},
    {"created_ts", "created_ts"},
    {"last_access_ts", "created_ts"}, /* access times are not kept */
    {"media_length", "media_length"},
    {"media_type", "media_type"},
    {"quarantined_by", "COALESCE(quarantined_by, '')"},
    {"safe_from_quarantine", "safe_from_quarantine"},
};

static const char *
media_order_column(const char *name)
{
    for (size_t i = 0; i < sizeof(media_orders) / sizeof(media_orders[0]); i++)
        if (strcmp(media_orders[i].name, name) == 0)
            return media_orders[i].column;
    return NULL;
}

bool
store_admin_media_order_ok(const char *order_by)
{
    return media_order_column(order_by) != NULL;
}

#define MEDIA_COLUMNS                                                                              \
    "SELECT media_id, media_type, upload_name, media_length, sha256, user_id, created_ts, "        \
    "quarantined_by, safe_from_quarantine FROM local_media "

enum store_rc
store_media_list_user(struct store *st, const char *user_id, int64_t from, int64_t limit,
                      const char *order_by, bool backwards, struct store_media **out, size_t *n,
                      int64_t *total)
{
    const char *col = media_order_column(order_by ? order_by : "created_ts");
    const char *dir = backwards ? "DESC" : "ASC";
    char sql[512];
    enum store_rc rc;

    *out = NULL;
    *n = 0;
    if (!col)
        return STORE_ERR;
    rc = st_read_one(st, "SELECT COUNT(*) FROM local_media WHERE user_id = ?",
                     ST_ARGS(ST_S(user_id)), fill_count, total);
    if (rc != STORE_OK)
        return rc;
    snprintf(sql, sizeof(sql),
             MEDIA_COLUMNS "WHERE user_id = ? ORDER BY %s %s, media_id %s LIMIT ? OFFSET ?", col,
             dir, dir);
    return st_read_list(st, sql, ST_ARGS(ST_S(user_id), ST_I(limit), ST_I(from)), sizeof(**out),
                        st_fill_media, clear_media, (void **)out, n);
}

enum store_rc
store_media_user_ids(struct store *st, const char *user_id, char ***ids, size_t *n)
{
    return st_read_texts(st, "SELECT media_id FROM local_media WHERE user_id = ? ORDER BY media_id",
                         ST_ARGS(ST_S(user_id)), ids, n);
}

enum store_rc
store_media_old(struct store *st, int64_t before_ts, int64_t size_gt, bool keep_profiles,
                char ***ids, size_t *n)
{
    /* keep_profiles: media used as an avatar stays (Synapse's default). avatar_url is an
     * mxc:// URI; the media ID is its last segment, so a suffix match names it. */
    if (keep_profiles)
        return st_read_texts(st,
                             "SELECT m.media_id FROM local_media m WHERE m.created_ts < ? AND "
                             "m.media_length > ? AND m.safe_from_quarantine = 0 AND NOT EXISTS "
                             "(SELECT 1 FROM profiles p WHERE p.avatar_url LIKE '%/' || "
                             "m.media_id) ORDER BY m.media_id",
                             ST_ARGS(ST_I(before_ts), ST_I(size_gt)), ids, n);
    return st_read_texts(st,
                         "SELECT media_id FROM local_media WHERE created_ts < ? AND media_length > "
                         "? AND safe_from_quarantine = 0 ORDER BY media_id",
                         ST_ARGS(ST_I(before_ts), ST_I(size_gt)), ids, n);
}

struct delete_ctx {
    const char *media_id;
    char *sha256;
    bool last_copy;
};

static enum store_rc
media_delete_job(struct store *st, void *ctx)
{
    struct delete_ctx *d = ctx;
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    if (st_prep(st, st->writer, &s, "SELECT sha256 FROM local_media WHERE media_id = ?",
                ST_ARGS(ST_S(d->media_id))) != DB_OK)
        goto out;
    r = st->drv->step(s);
    if (r == DB_DONE) {
        rc = STORE_NOT_FOUND;
        goto out;
    }
    if (r != DB_ROW)
        goto out;
    d->sha256 = st_dup_col(st, s, 0);
    st->drv->finalize(s);
    s = NULL;
    if (st_run(st, st->writer, "DELETE FROM local_media WHERE media_id = ?",
               ST_ARGS(ST_S(d->media_id))) != DB_OK)
        goto out;
    if (st_prep(st, st->writer, &s, "SELECT COUNT(*) FROM local_media WHERE sha256 = ?",
                ST_ARGS(ST_S(d->sha256))) != DB_OK ||
        st->drv->step(s) != DB_ROW)
        goto out;
    d->last_copy = st->drv->col_int64(s, 0) == 0;
    rc = STORE_OK;
out:
    st->drv->finalize(s);
    return rc;
}

enum store_rc
store_media_delete(struct store *st, const char *media_id, char **sha256, bool *last_copy)
{
    struct delete_ctx d = {media_id, NULL, false};
    enum store_rc rc = st_write(st, media_delete_job, &d);

    *last_copy = rc == STORE_OK && d.last_copy;
    if (rc == STORE_OK) {
        *sha256 = d.sha256;
    } else {
        *sha256 = NULL;
        free(d.sha256);
    }
    return rc;
}

enum store_rc
store_media_set_protected(struct store *st, const char *media_id, bool protect)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE local_media SET safe_from_quarantine = ? WHERE "
                                        "media_id = ?",
                                        ST_B(protect), ST_S(media_id)));
}

/* ---- rooms ---- */

static void
fill_room(struct store *st, struct db_stmt *s, void *item)
{
    struct store_admin_room *r = item;
    st_dup_cols(st, s, (char **const[]){&r->room_id, &r->version, &r->creator}, 3);
    r->is_public = st->drv->col_int64(s, 3) != 0;
    r->created_ts = st->drv->col_int64(s, 4);
}

static void
clear_room(void *item)
{
    struct store_admin_room *r = item;
    free(r->room_id);
    free(r->version);
    free(r->creator);
}

void
store_admin_rooms_free(struct store_admin_room *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_room);
}

enum store_rc
store_admin_rooms(struct store *st, struct store_admin_room **out, size_t *n)
{
    return st_read_list(st,
                        "SELECT room_id, room_version, creator, is_public, created_ts FROM rooms "
                        "ORDER BY room_id",
                        ST_NOARGS, sizeof(**out), fill_room, clear_room, (void **)out, n);
}

enum store_rc
store_room_purge(struct store *st, const char *room_id)
{
    return ST_WRITE(
        st,
        ST_STEP("DELETE FROM txns WHERE event_id IN (SELECT event_id FROM events WHERE room_id = "
                "?)",
                ST_S(room_id)),
        ST_STEP("DELETE FROM events WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM room_state WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM room_aliases WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM room_forgotten WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM receipts WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM account_data WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM event_reports WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM server_notice_rooms WHERE room_id = ?", ST_S(room_id)),
        /* The room's message text in the search index; its rows' IDs hold the room's number
         * in their high bits (store_search.c). */
        ST_STEP("DELETE FROM event_search WHERE rowid >= (SELECT nid FROM event_search_rooms "
                "WHERE room_id = ?) * 1099511627776 AND rowid < ((SELECT nid FROM "
                "event_search_rooms WHERE room_id = ?) + 1) * 1099511627776",
                ST_S(room_id), ST_S(room_id)),
        ST_STEP("DELETE FROM event_search_rooms WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM push_events WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM push_counts WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM push_rooms WHERE room_id = ?", ST_S(room_id)),
        ST_STEP("DELETE FROM appservice_room_list WHERE room_id = ?", ST_S(room_id)),
        /* As Synapse: backed-up keys of a room that is gone are of no use. */
        ST_STEP("DELETE FROM e2e_room_keys WHERE room_id = ?", ST_S(room_id)),
        ST_STEP_CHANGED("DELETE FROM rooms WHERE room_id = ?", ST_S(room_id)));
}

enum store_rc
store_room_block(struct store *st, const char *room_id, const char *by, bool block, int64_t now)
{
    if (!block)
        return ST_WRITE(st, ST_STEP("DELETE FROM blocked_rooms WHERE room_id = ?", ST_S(room_id)));
    return ST_WRITE(st, ST_STEP("INSERT INTO blocked_rooms (room_id, user_id, blocked_ts) VALUES "
                                "(?, ?, ?) ON CONFLICT (room_id) DO NOTHING",
                                ST_S(room_id), ST_S(by), ST_I(now)));
}

enum store_rc
store_room_blocked(struct store *st, const char *room_id, char **by)
{
    char *who = NULL;
    enum store_rc rc = st_read_one(st, "SELECT user_id FROM blocked_rooms WHERE room_id = ?",
                                   ST_ARGS(ST_S(room_id)), st_fill_text, &who);
    if (by)
        *by = who;
    else
        free(who);
    return rc;
}

enum store_rc
store_room_deletion_put(struct store *st, const char *delete_id, const char *room_id,
                        const char *status, const char *result, int64_t now)
{
    return ST_WRITE(st,
                    ST_STEP("INSERT INTO room_deletions (delete_id, room_id, status, result, "
                            "created_ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT (delete_id) DO "
                            "UPDATE SET status = excluded.status, result = excluded.result",
                            ST_S(delete_id), ST_S(room_id), ST_S(status), ST_S(result), ST_I(now)));
}

static void
fill_deletion(struct store *st, struct db_stmt *s, void *item)
{
    struct store_room_deletion *d = item;
    st_dup_cols(st, s, (char **const[]){&d->delete_id, &d->room_id, &d->status, &d->result}, 4);
}

static void
clear_deletion(void *item)
{
    struct store_room_deletion *d = item;
    free(d->delete_id);
    free(d->room_id);
    free(d->status);
    free(d->result);
}

void
store_room_deletions_free(struct store_room_deletion *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_deletion);
}

enum store_rc
store_room_deletions(struct store *st, const char *room_id, const char *delete_id,
                     struct store_room_deletion **out, size_t *n)
{
    return st_read_list(st,
                        "SELECT delete_id, room_id, status, result FROM room_deletions WHERE "
                        "room_id = ? OR delete_id = ? ORDER BY created_ts, delete_id",
                        ST_ARGS(ST_S(room_id ? room_id : ""), ST_S(delete_id ? delete_id : "")),
                        sizeof(**out), fill_deletion, clear_deletion, (void **)out, n);
}

/* ---- event reports ---- */

void
store_report_clear(struct store_report *r)
{
    free(r->room_id);
    free(r->event_id);
    free(r->user_id);
    free(r->reason);
    free(r->sender);
    memset(r, 0, sizeof(*r));
}

static void
fill_report(struct store *st, struct db_stmt *s, void *item)
{
    struct store_report *r = item;
    r->id = st->drv->col_int64(s, 0);
    r->room_id = st_dup_col(st, s, 1);
    r->event_id = st_dup_col(st, s, 2);
    r->user_id = st_dup_col(st, s, 3);
    r->reason = st_dup_col(st, s, 4);
    r->has_score = !st->drv->col_is_null(s, 5);
    r->score = st->drv->col_int64(s, 5);
    r->received_ts = st->drv->col_int64(s, 6);
    r->sender = st_dup_col(st, s, 7);
}

static void
clear_report(void *item)
{
    store_report_clear(item);
}

void
store_reports_free(struct store_report *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_report);
}

#define REPORT_COLUMNS                                                                             \
    "SELECT r.id, r.room_id, r.event_id, r.user_id, r.reason, r.score, r.received_ts, e.sender "   \
    "FROM event_reports r LEFT JOIN events e ON e.event_id = r.event_id "

enum store_rc
store_reports_list(struct store *st, int64_t from, int64_t limit, bool backwards,
                   const char *user_id, const char *room_id, struct store_report **out, size_t *n,
                   int64_t *total)
{
    struct st_arg args[MAX_ARGS];
    char where[256], sql[1024];
    char *uid = NULL, *rid = NULL;
    size_t na = 0;
    enum store_rc rc;

    *out = NULL;
    *n = 0;
    /* As Synapse: user_id and room_id filter by substring. */
    snprintf(where, sizeof(where), "WHERE 1 = 1%s%s",
             user_id ? " AND LOWER(r.user_id) LIKE ? ESCAPE '\\'" : "",
             room_id ? " AND LOWER(r.room_id) LIKE ? ESCAPE '\\'" : "");
    if (user_id) {
        uid = like_pattern(user_id);
        args[na++] = st_arg_s(uid);
    }
    if (room_id) {
        rid = like_pattern(room_id);
        args[na++] = st_arg_s(rid);
    }
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM event_reports r %s", where);
    rc = st_read_one(st, sql, args, na, fill_count, total);
    if (rc != STORE_OK)
        goto out;
    /* Synapse lists the newest first by default (dir=b). */
    snprintf(sql, sizeof(sql),
             REPORT_COLUMNS "%s ORDER BY r.received_ts %s, r.id %s LIMIT ? "
                            "OFFSET ?",
             where, backwards ? "DESC" : "ASC", backwards ? "DESC" : "ASC");
    args[na++] = st_arg_i(limit);
    args[na++] = st_arg_i(from);
    rc = st_read_list(st, sql, args, na, sizeof(**out), fill_report, clear_report, (void **)out, n);
out:
    free(uid);
    free(rid);
    return rc;
}

enum store_rc
store_report_get(struct store *st, int64_t id, struct store_report *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st, REPORT_COLUMNS "WHERE r.id = ?", ST_ARGS(ST_I(id)), fill_report, out);
}

enum store_rc
store_report_delete(struct store *st, int64_t id)
{
    return ST_WRITE(st, ST_STEP_CHANGED("DELETE FROM event_reports WHERE id = ?", ST_I(id)));
}

/* ---- statistics ---- */

static void
fill_usage(struct store *st, struct db_stmt *s, void *item)
{
    struct store_media_usage *u = item;
    u->user_id = st_dup_col(st, s, 0);
    u->displayname = st_dup_col(st, s, 1);
    u->media_count = st->drv->col_int64(s, 2);
    u->media_length = st->drv->col_int64(s, 3);
}

static void
clear_usage(void *item)
{
    struct store_media_usage *u = item;
    free(u->user_id);
    free(u->displayname);
}

void
store_media_usage_free(struct store_media_usage *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_usage);
}

static const struct {
    const char *name, *column;
} usage_orders[] = {
    {"user_id", "m.user_id"},
    {"displayname", "COALESCE(MAX(p.displayname), '')"},
    {"media_length", "SUM(m.media_length)"},
    {"media_count", "COUNT(*)"},
};

bool
store_media_usage_order_ok(const char *order_by)
{
    for (size_t i = 0; i < sizeof(usage_orders) / sizeof(usage_orders[0]); i++)
        if (strcmp(usage_orders[i].name, order_by) == 0)
            return true;
    return false;
}

enum store_rc
store_media_usage(struct store *st, int64_t from, int64_t limit, const char *order_by,
                  bool backwards, const char *term, struct store_media_usage **out, size_t *n,
                  int64_t *total)
{
    const char *col = "SUM(m.media_length)", *dir = backwards ? "DESC" : "ASC";
    struct st_arg args[MAX_ARGS];
    char where[256], sql[1024];
    char *pat = NULL;
    size_t na = 0;
    enum store_rc rc;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; order_by && i < sizeof(usage_orders) / sizeof(usage_orders[0]); i++)
        if (strcmp(usage_orders[i].name, order_by) == 0)
            col = usage_orders[i].column;
    snprintf(where, sizeof(where), "WHERE m.user_id IS NOT NULL%s",
             term ? " AND (LOWER(m.user_id) LIKE ? ESCAPE '\\' OR "
                    "LOWER(COALESCE(p.displayname, '')) LIKE ? ESCAPE '\\')"
                  : "");
    if (term) {
        pat = like_pattern(term);
        args[na++] = st_arg_s(pat);
        args[na++] = st_arg_s(pat);
    }
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM (SELECT m.user_id FROM local_media m LEFT JOIN profiles p ON "
             "p.user_id = m.user_id %s GROUP BY m.user_id) AS t",
             where);
    rc = st_read_one(st, sql, args, na, fill_count, total);
    if (rc != STORE_OK)
        goto out;
    snprintf(sql, sizeof(sql),
             "SELECT m.user_id, MAX(p.displayname), COUNT(*), SUM(m.media_length) FROM "
             "local_media m LEFT JOIN profiles p ON p.user_id = m.user_id %s GROUP BY m.user_id "
             "ORDER BY %s %s, m.user_id %s LIMIT ? OFFSET ?",
             where, col, dir, dir);
    args[na++] = st_arg_i(limit);
    args[na++] = st_arg_i(from);
    rc = st_read_list(st, sql, args, na, sizeof(**out), fill_usage, clear_usage, (void **)out, n);
out:
    free(pat);
    return rc;
}

enum store_rc
store_room_event_jsons(struct store *st, const char *room_id, char ***jsons, size_t *n)
{
    return st_read_texts(st, "SELECT json FROM events WHERE room_id = ? ORDER BY stream_pos",
                         ST_ARGS(ST_S(room_id)), jsons, n);
}

/* ---- application service queues (issue 13's tables; for the metrics) ---- */

static void
fill_queue(struct store *st, struct db_stmt *s, void *item)
{
    struct store_queue_count *q = item;
    q->id = st_dup_col(st, s, 0);
    q->count = st->drv->col_int64(s, 1);
}

static void
clear_queue(void *item)
{
    free(((struct store_queue_count *)item)->id);
}

void
store_queue_counts_free(struct store_queue_count *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_queue);
}

enum store_rc
store_appservice_queues(struct store *st, struct store_queue_count **out, size_t *n)
{
    return st_read_list(st,
                        "SELECT as_id, COUNT(*) FROM appservice_txns GROUP BY as_id ORDER BY as_id",
                        ST_NOARGS, sizeof(**out), fill_queue, clear_queue, (void **)out, n);
}
