/* Push (modules/push.rst): push rule documents, pushers, and the notifications each event
 * caused, per user. A notification row is written in its event's transaction (st_push_persist),
 * so the /sync that delivers an event already counts it. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"
#include "json/json.h"
#include "store/store_internal.h"

/* ---- notifications, in the event's write job ---- */

/* Deferred (store_internal.h): only the job's outcome depends on these. */
static enum store_rc
run(struct store *st, const char *sql, const struct st_arg *args, size_t n)
{
    return st_rc(st_defer(st, sql, args, n));
}

/* The room's sequences, as a subquery (bound: the room ID). */
#define ROOM_SEQ(col) "COALESCE((SELECT " col " FROM push_rooms WHERE room_id = ?), 0)"

/* Sets the member's counts to n, h as of now, read up to read_pos. */
static enum store_rc
reset_counts(struct store *st, const char *room_id, const char *user_id, int64_t n, int64_t h,
             int64_t read_pos)
{
    return run(
        st,
        "UPDATE push_counts SET notif_base = " ROOM_SEQ("notif_seq") ", highlight_base = " ROOM_SEQ(
            "highlight_seq") ", notif_extra = ?, highlight_extra = ?, read_pos = ? "
                             "WHERE room_id = ? AND user_id = ?",
        ST_ARGS(ST_S(room_id), ST_S(room_id), ST_I(n), ST_I(h), ST_I(read_pos), ST_S(room_id),
                ST_S(user_id)));
}

enum store_rc
st_push_persist(struct store *st, const char *room_id, const struct store_event_row *e, int64_t pos)
{
    const struct store_push_event *p = e->push;
    enum store_rc rc = STORE_OK;

    /* Joined members have a row of counts, from their join on. */
    if (e->membership && e->state_key && strcmp(e->type, "m.room.member") == 0) {
        if (strcmp(e->membership, "join") == 0)
            rc = run(st,
                     "INSERT INTO push_counts (room_id, user_id, notif_base, highlight_base, "
                     "notif_extra, highlight_extra, read_pos) VALUES (?, ?, " ROOM_SEQ(
                         "notif_seq") ", " ROOM_SEQ("highlight_seq") ", 0, 0, ?) ON CONFLICT "
                                                                     "(room_id, user_id) "
                                                                     "DO NOTHING",
                     ST_ARGS(ST_S(room_id), ST_S(e->state_key), ST_S(room_id), ST_S(room_id),
                             ST_I(pos)));
        else
            rc = run(st, "DELETE FROM push_counts WHERE room_id = ? AND user_id = ?",
                     ST_ARGS(ST_S(room_id), ST_S(e->state_key)));
    }
    if (rc == STORE_OK && p) {
        rc = run(st,
                 "INSERT INTO push_events (stream_pos, room_id, sender, actions, highlight, "
                 "exceptions) VALUES (?, ?, ?, ?, ?, ?)",
                 ST_ARGS(ST_I(pos), ST_S(room_id), ST_S(e->sender), ST_S(p->actions),
                         ST_B(p->highlight), ST_S(p->exceptions_json)));
        /* Everyone joined at once: the room's sequence moves (the sender is reset below). */
        if (rc == STORE_OK && p->actions)
            rc = run(st,
                     "INSERT INTO push_rooms (room_id, notif_seq, highlight_seq) VALUES (?, 1, ?) "
                     "ON CONFLICT (room_id) DO UPDATE SET notif_seq = push_rooms.notif_seq + 1, "
                     "highlight_seq = push_rooms.highlight_seq + excluded.highlight_seq",
                     ST_ARGS(ST_S(room_id), ST_B(p->highlight)));
        /* The exceptions, as a difference from that. */
        for (size_t i = 0; i < p->nexceptions && rc == STORE_OK; i++) {
            const struct store_push_exception *x = &p->exceptions[i];
            int64_t dn = (x->actions ? 1 : 0) - (p->actions ? 1 : 0);
            int64_t dh =
                (x->actions && x->highlight ? 1 : 0) - (p->actions && p->highlight ? 1 : 0);
            /* The sender's counts are reset below anyway. */
            if ((dn || dh) && strcmp(x->user_id, e->sender) != 0)
                rc = run(st,
                         "UPDATE push_counts SET notif_extra = notif_extra + ?, highlight_extra = "
                         "highlight_extra + ? WHERE room_id = ? AND user_id = ?",
                         ST_ARGS(ST_I(dn), ST_I(dh), ST_S(room_id), ST_S(x->user_id)));
        }
    }
    /* SPEC: modules/push.rst: "When the user updates their read receipt (either by using the
     * API or by sending an event), notifications prior to and including that event MUST be
     * marked as read." */
    if (rc == STORE_OK)
        rc = reset_counts(st, room_id, e->sender, 0, 0, pos);
    return rc;
}

enum notified { NOT_NOTIFIED, AS_MEMBER, AS_EXCEPTION };

/* Did the push_events row (columns actions, highlight, exceptions from col) notify the user?
 * AS_MEMBER applies only if the user was joined then. *actions is the actions array (a new
 * reference) and *highlight whether it highlights. */
static enum notified
notified(struct store *st, struct db_stmt *s, int col, const char *user_id, bool *highlight,
         json_t **actions)
{
    const char *exc = st->drv->col_text(s, col + 2);
    json_t *all = NULL, *x;
    enum notified rc = NOT_NOTIFIED;

    *actions = NULL;
    *highlight = false;
    if (exc && strcmp(exc, "{}") != 0 && (all = json_loads(exc, 0, NULL)) &&
        (x = json_object_get(all, user_id))) {
        json_t *a = json_array_get(x, 0), *h = json_array_get(x, 1);
        if (json_is_array(a)) {
            *actions = json_incref(a);
            *highlight = json_is_true(h) || json_integer_value(h) != 0;
            rc = AS_EXCEPTION;
        }
        json_decref(all);
        return rc;
    }
    json_decref(all);
    if (st->drv->col_is_null(s, col))
        return NOT_NOTIFIED;
    *highlight = st->drv->col_int64(s, col + 1) != 0;
    *actions = json_loads(st->drv->col_text(s, col), 0, NULL);
    return AS_MEMBER;
}

enum store_rc
st_push_mark_read(struct store *st, const char *room_id, const char *user_id, int64_t event_pos)
{
    struct db_stmt *s = NULL;
    int64_t read_pos, n = 0, h = 0;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    if (st_prep(st, st->writer, &s,
                "SELECT read_pos FROM push_counts WHERE room_id = ? AND user_id = ?",
                ST_ARGS(ST_S(room_id), ST_S(user_id))) != DB_OK)
        return STORE_ERR;
    r = st->drv->step(s);
    read_pos = r == DB_ROW ? st->drv->col_int64(s, 0) : 0;
    st->drv->finalize(s);
    s = NULL;
    /* Not joined, or already read further (the user's own later event). */
    if (r == DB_DONE || (r == DB_ROW && read_pos >= event_pos))
        return r == DB_ERR ? STORE_ERR : STORE_OK;
    if (r != DB_ROW)
        return STORE_ERR;
    /* What is left unread: the notifying events after the receipt (usually none, as clients
     * acknowledge the latest event). */
    if (st_prep(st, st->writer, &s,
                "SELECT actions, highlight, exceptions FROM push_events WHERE room_id = ? AND "
                "stream_pos > ? AND sender <> ? ORDER BY stream_pos",
                ST_ARGS(ST_S(room_id), ST_I(event_pos), ST_S(user_id))) != DB_OK)
        return STORE_ERR;
    while ((r = st->drv->step(s)) == DB_ROW) {
        bool hl = false;
        json_t *actions = NULL;
        /* Rows exist from the join on: every event counted here found the user joined. */
        if (notified(st, s, 0, user_id, &hl, &actions) != NOT_NOTIFIED) {
            n++;
            h += hl;
        }
        json_decref(actions);
    }
    st->drv->finalize(s);
    if (r != DB_DONE)
        return STORE_ERR;
    rc = reset_counts(st, room_id, user_id, n, h, event_pos);
    return rc;
}

struct counts {
    int64_t notifications, highlights;
};

static void
fill_counts(struct store *st, struct db_stmt *s, void *item)
{
    struct counts *c = item;
    c->notifications = st->drv->col_int64(s, 0);
    c->highlights = st->drv->col_int64(s, 1);
}

enum store_rc
store_push_counts(struct store *st, const char *user_id, const char *room_id,
                  int64_t *notifications, int64_t *highlights)
{
    struct counts c = {0, 0};
    enum store_rc rc = st_read_one(
        st,
        "SELECT COALESCE(r.notif_seq, 0) - c.notif_base + c.notif_extra, "
        "COALESCE(r.highlight_seq, 0) - c.highlight_base + c.highlight_extra FROM push_counts c "
        "LEFT JOIN push_rooms r ON r.room_id = c.room_id WHERE c.room_id = ? AND c.user_id = ?",
        ST_ARGS(ST_S(room_id), ST_S(user_id)), fill_counts, &c);
    *notifications = c.notifications;
    *highlights = c.highlights;
    return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

enum store_rc
store_push_unread_total(struct store *st, const char *user_id, int64_t *count)
{
    struct counts c = {0, 0};
    enum store_rc rc = st_read_one(
        st,
        "SELECT COALESCE(SUM(COALESCE(r.notif_seq, 0) - c.notif_base + c.notif_extra), 0), 0 "
        "FROM push_counts c LEFT JOIN push_rooms r ON r.room_id = c.room_id WHERE c.user_id = ?",
        ST_ARGS(ST_S(user_id)), fill_counts, &c);
    *count = c.notifications;
    return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

void
store_notifications_free(struct store_notification *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_event_clear(&list[i].event);
        free(list[i].actions);
    }
    free(list);
}

/* What /notifications needs to know of a room once: the user's membership history there and
 * how far they have read it. */
struct room_info {
    char *room_id;
    struct store_state_interval *hist;
    size_t nhist;
    int64_t read_pos;
};

static void
fill_int(struct store *st, struct db_stmt *s, void *item)
{
    *(int64_t *)item = st->drv->col_int64(s, 0);
}

static struct room_info *
room_info(struct store *st, struct room_info **rooms, size_t *n, const char *room_id,
          const char *user_id)
{
    struct room_info *ri;

    for (size_t i = 0; i < *n; i++)
        if (strcmp((*rooms)[i].room_id, room_id) == 0)
            return &(*rooms)[i];
    *rooms = xrealloc(*rooms, (*n + 1) * sizeof(**rooms));
    ri = &(*rooms)[(*n)++];
    memset(ri, 0, sizeof(*ri));
    ri->room_id = xstrdup(room_id);
    if (store_state_history(st, room_id, "m.room.member", user_id, &ri->hist, &ri->nhist) !=
        STORE_OK) {
        ri->hist = NULL;
        ri->nhist = 0;
    }
    st_read_one(st,
                "SELECT MAX(p) FROM (SELECT read_pos AS p FROM push_counts WHERE room_id = ? "
                "AND user_id = ? UNION ALL SELECT event_pos AS p FROM receipts WHERE room_id = ? "
                "AND receipt_type = 'm.read' AND user_id = ? UNION ALL SELECT 0 AS p) AS marks",
                ST_ARGS(ST_S(room_id), ST_S(user_id), ST_S(room_id), ST_S(user_id)), fill_int,
                &ri->read_pos);
    return ri;
}

static bool
joined_at(const struct room_info *ri, int64_t pos)
{
    for (size_t i = 0; i < ri->nhist; i++)
        if (ri->hist[i].membership && strcmp(ri->hist[i].membership, "join") == 0 &&
            ri->hist[i].from_pos <= pos && pos < ri->hist[i].to_pos)
            return true;
    return false;
}

#define NOTIFICATIONS_CHUNK 200
#define NOTIFICATIONS_SCAN_MAX 5000

enum store_rc
store_notifications(struct store *st, const char *user_id, int64_t before, bool only_highlight,
                    size_t limit, struct store_notification **out, size_t *n, int64_t *next)
{
    struct db *db = st_reader_get(st);
    struct db_stmt *s = NULL;
    struct store_notification *list = NULL;
    struct room_info *rooms = NULL;
    size_t len = 0, nrooms = 0, scanned = 0;
    enum store_rc rc = STORE_ERR;

    *out = NULL;
    *n = 0;
    *next = 0;
    if (!db)
        return STORE_ERR;
    list = xcalloc(limit + 1, sizeof(*list));
    /* Newest first over the rooms the user has (or had) a membership in, filtered here: whom
     * an event notified is in its row. Bounded: a long run of events that did not notify the
     * user ends the page early (the caller's next_token goes on from there). */
    while (len < limit && scanned < NOTIFICATIONS_SCAN_MAX) {
        size_t got = 0;
        enum db_rc r = DB_DONE;
        if (st_prep(st, db, &s,
                    "SELECT pe.actions, pe.highlight, pe.exceptions, pe.room_id, e.event_id, "
                    "e.type, e.state_key, e.sender, e.json, e.redacted_by, e.stream_pos, e.depth, "
                    "e.unsigned_json, e.origin_server_ts FROM room_state m JOIN push_events pe "
                    "ON pe.room_id = m.room_id JOIN events e ON e.stream_pos = pe.stream_pos "
                    "WHERE m.state_key = ? AND m.type = 'm.room.member' AND m.to_pos IS NULL "
                    "AND pe.stream_pos < ? AND pe.sender <> ? "
                    "ORDER BY pe.stream_pos DESC LIMIT ?",
                    ST_ARGS(ST_S(user_id), ST_I(before), ST_S(user_id),
                            ST_I(NOTIFICATIONS_CHUNK))) != DB_OK)
            goto out;
        while (len < limit && (r = st->drv->step(s)) == DB_ROW) {
            struct room_info *ri;
            json_t *actions = NULL;
            bool hl = false;
            int64_t pos = st->drv->col_int64(s, 10);
            enum notified how;
            got++;
            scanned++;
            before = pos;
            ri = room_info(st, &rooms, &nrooms, st->drv->col_text(s, 3), user_id);
            how = notified(st, s, 0, user_id, &hl, &actions);
            if (actions && (how == AS_EXCEPTION || (how == AS_MEMBER && joined_at(ri, pos))) &&
                (!only_highlight || hl)) {
                struct store_notification *no = &list[len++];
                struct store_event *e = &no->event;
                no->actions = json_dump_compact(actions);
                no->highlight = hl;
                no->read = pos <= ri->read_pos;
                no->ts = st->drv->col_int64(s, 13);
                e->room_id = st_dup_col(st, s, 3);
                e->event_id = st_dup_col(st, s, 4);
                e->type = st_dup_col(st, s, 5);
                e->state_key = st_dup_col(st, s, 6);
                e->sender = st_dup_col(st, s, 7);
                e->json = st_dup_col(st, s, 8);
                e->redacted_by = st_dup_col(st, s, 9);
                e->pos = pos;
                e->depth = st->drv->col_int64(s, 11);
                e->unsigned_json = st_dup_col(st, s, 12);
            }
            json_decref(actions);
        }
        st->drv->finalize(s);
        s = NULL;
        if (r != DB_ROW && r != DB_DONE)
            goto out;
        if (got < NOTIFICATIONS_CHUNK && len < limit) {
            before = 0; /* nothing older */
            break;
        }
    }
    *next = before;
    *out = list;
    *n = len;
    list = NULL;
    len = 0;
    rc = STORE_OK;
out:
    st->drv->finalize(s);
    store_notifications_free(list, len);
    for (size_t i = 0; i < nrooms; i++) {
        free(rooms[i].room_id);
        store_state_intervals_free(rooms[i].hist, rooms[i].nhist);
    }
    free(rooms);
    st_reader_put(st, db);
    return rc;
}

/* ---- push rules ---- */

static void
fill_doc(struct store *st, struct db_stmt *s, void *item)
{
    *(char **)item = st_dup_col(st, s, 0);
}

enum store_rc
store_push_rules_get(struct store *st, const char *user_id, char **doc)
{
    *doc = NULL;
    return st_read_one(st, "SELECT doc FROM push_rules WHERE user_id = ?", ST_ARGS(ST_S(user_id)),
                       fill_doc, doc);
}

struct edit_ctx {
    const char *user_id;
    store_push_edit_fn edit;
    void *ctx;
    int64_t pos;
};

static enum store_rc
edit_job(struct store *st, void *arg)
{
    struct edit_ctx *c = arg;
    struct db_stmt *s = NULL;
    char *old = NULL, *doc = NULL, *content = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    if (st_prep(st, st->writer, &s, "SELECT doc FROM push_rules WHERE user_id = ?",
                ST_ARGS(ST_S(c->user_id))) != DB_OK)
        goto out;
    r = st->drv->step(s);
    if (r == DB_ROW)
        old = st_dup_col(st, s, 0);
    else if (r != DB_DONE)
        goto out;
    st->drv->finalize(s);
    s = NULL;
    rc = c->edit(c->ctx, old, &doc, &content);
    if (rc != STORE_OK)
        goto out;
    rc = STORE_ERR;
    if (st_run(st, st->writer,
               "INSERT INTO push_rules (user_id, doc) VALUES (?, ?) ON CONFLICT (user_id) DO "
               "UPDATE SET doc = excluded.doc",
               ST_ARGS(ST_S(c->user_id), ST_S(doc))) != DB_OK)
        goto out;
    /* The rules also live on as the m.push_rules account data, at a new position of that
     * stream, so the account data provider of /sync carries every change. */
    if (st_run(st, st->writer, "UPDATE counters SET value = value + 1 WHERE name = 'account_data'",
               ST_NOARGS) != DB_OK ||
        st_prep(st, st->writer, &s, "SELECT value FROM counters WHERE name = 'account_data'",
                ST_NOARGS) != DB_OK ||
        st->drv->step(s) != DB_ROW)
        goto out;
    c->pos = st->drv->col_int64(s, 0);
    rc = st_rc(st_run(st, st->writer,
                      "INSERT INTO account_data (user_id, room_id, type, content, stream_pos) "
                      "VALUES (?, '', 'm.push_rules', ?, ?) ON CONFLICT (user_id, room_id, type) "
                      "DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos",
                      ST_ARGS(ST_S(c->user_id), ST_S(content), ST_I(c->pos))));
out:
    st->drv->finalize(s);
    free(old);
    free(doc);
    free(content);
    return rc;
}

enum store_rc
store_push_rules_edit(struct store *st, const char *user_id, store_push_edit_fn edit, void *ctx,
                      int64_t *pos)
{
    struct edit_ctx c = {user_id, edit, ctx, 0};
    enum store_rc rc = st_write(st, edit_job, &c);
    if (pos)
        *pos = c.pos;
    return rc;
}

/* ---- pushers ---- */

void
store_pushers_free(struct store_pusher *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct store_pusher *p = &list[i];
        free(p->user_id);
        free(p->device_id);
        free(p->kind);
        free(p->app_id);
        free(p->pushkey);
        free(p->app_display_name);
        free(p->device_display_name);
        free(p->profile_tag);
        free(p->lang);
        free(p->data);
    }
    free(list);
}

static enum store_rc
pushers_changed(struct store *st, enum store_rc rc)
{
    atomic_fetch_add(&st->pushers_gen, 1);
    return rc;
}

uint64_t
store_pushers_generation(struct store *st)
{
    return atomic_load(&st->pushers_gen);
}

enum store_rc
store_pusher_set(struct store *st, const struct store_pusher *p, bool append)
{
    /* SPEC: pusher.yaml append: "Otherwise, the homeserver must remove any other pushers with
     * the same App ID and pushkey for different users." */
    return pushers_changed(
        st,
        ST_WRITE(st,
                 ST_STEP("DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id <> ? "
                         "AND ? = 0",
                         ST_S(p->app_id), ST_S(p->pushkey), ST_S(p->user_id), ST_B(append)),
                 ST_STEP("INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, "
                         "app_display_name, device_display_name, profile_tag, lang, data, "
                         "pushkey_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                         "(app_id, pushkey, user_id) DO UPDATE SET device_id = "
                         "excluded.device_id, kind = excluded.kind, app_display_name = "
                         "excluded.app_display_name, device_display_name = "
                         "excluded.device_display_name, profile_tag = excluded.profile_tag, "
                         "lang = excluded.lang, data = excluded.data, pushkey_ts = "
                         "excluded.pushkey_ts",
                         ST_S(p->user_id), ST_S(p->device_id), ST_S(p->kind), ST_S(p->app_id),
                         ST_S(p->pushkey), ST_S(p->app_display_name), ST_S(p->device_display_name),
                         ST_S(p->profile_tag), ST_S(p->lang), ST_S(p->data), ST_I(p->pushkey_ts))));
}

enum store_rc
store_pusher_delete(struct store *st, const char *user_id, const char *app_id, const char *pushkey)
{
    return pushers_changed(
        st, ST_WRITE(st, ST_STEP("DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND "
                                 "pushkey = ?",
                                 ST_S(user_id), ST_S(app_id), ST_S(pushkey))));
}

static void
fill_pusher(struct store *st, struct db_stmt *s, void *item)
{
    struct store_pusher *p = item;
    p->user_id = st_dup_col(st, s, 0);
    p->device_id = st_dup_col(st, s, 1);
    p->kind = st_dup_col(st, s, 2);
    p->app_id = st_dup_col(st, s, 3);
    p->pushkey = st_dup_col(st, s, 4);
    p->app_display_name = st_dup_col(st, s, 5);
    p->device_display_name = st_dup_col(st, s, 6);
    p->profile_tag = st_dup_col(st, s, 7);
    p->lang = st_dup_col(st, s, 8);
    p->data = st_dup_col(st, s, 9);
    p->pushkey_ts = st->drv->col_int64(s, 10);
}

static void
clear_pusher(void *item)
{
    struct store_pusher *p = item;
    free(p->user_id);
    free(p->device_id);
    free(p->kind);
    free(p->app_id);
    free(p->pushkey);
    free(p->app_display_name);
    free(p->device_display_name);
    free(p->profile_tag);
    free(p->lang);
    free(p->data);
}

#define PUSHER_COLS                                                                                \
    "user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name, "           \
    "profile_tag, lang, data, pushkey_ts"

enum store_rc
store_pushers_list(struct store *st, const char *user_id, struct store_pusher **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc;

    if (user_id)
        rc = st_read_list(st,
                          "SELECT " PUSHER_COLS " FROM pushers WHERE user_id = ? "
                          "ORDER BY app_id, pushkey",
                          ST_ARGS(ST_S(user_id)), sizeof(**out), fill_pusher, clear_pusher, &list,
                          n);
    else
        rc = st_read_list(st,
                          "SELECT " PUSHER_COLS " FROM pushers ORDER BY user_id, app_id, pushkey",
                          ST_NOARGS, sizeof(**out), fill_pusher, clear_pusher, &list, n);
    *out = list;
    return rc;
}
