/* Rooms, events and room state over the driver interface. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "store/store_search.h"

#define EVENT_COLS                                                                                 \
    "event_id, room_id, type, state_key, sender, json, redacted_by, stream_pos, depth, "           \
    "unsigned_json"

void
store_event_clear(struct store_event *e)
{
    free(e->event_id);
    free(e->room_id);
    free(e->type);
    free(e->state_key);
    free(e->sender);
    free(e->json);
    free(e->redacted_by);
    free(e->unsigned_json);
    memset(e, 0, sizeof(*e));
}

void
store_event_list_free(struct store_event *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_event_clear(&list[i]);
    free(list);
}

void
store_strings_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void
read_event(struct store *st, struct db_stmt *s, struct store_event *e)
{
    e->event_id = st_dup_col(st, s, 0);
    e->room_id = st_dup_col(st, s, 1);
    e->type = st_dup_col(st, s, 2);
    e->state_key = st_dup_col(st, s, 3);
    e->sender = st_dup_col(st, s, 4);
    e->json = st_dup_col(st, s, 5);
    e->redacted_by = st_dup_col(st, s, 6);
    e->pos = st->drv->col_int64(s, 7);
    e->depth = st->drv->col_int64(s, 8);
    e->unsigned_json = st_dup_col(st, s, 9);
}

/* Steps s to the end, collecting events. */
static void
fill_event(struct store *st, struct db_stmt *s, void *item)
{
    read_event(st, s, item);
}

static void
clear_event(void *item)
{
    store_event_clear(item);
}

/* Reads the events a query returns (its columns those of EVENT_COLS). */
static enum store_rc
read_events(struct store *st, const char *sql, const struct st_arg *args, size_t nargs,
            struct store_event **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc =
        st_read_list(st, sql, args, nargs, sizeof(**out), fill_event, clear_event, &list, n);
    *out = list;
    return rc;
}

struct two_strings {
    char *a, *b;
    bool want_b;
};

static void
fill_two_strings(struct store *st, struct db_stmt *s, void *item)
{
    struct two_strings *t = item;
    t->a = st_dup_col(st, s, 0);
    if (t->want_b)
        t->b = st_dup_col(st, s, 1);
}

/* The first column (and the second, with out2) of the first row. */
static enum store_rc
one_string(struct store *st, char **out, char **out2, const char *sql, const struct st_arg *args,
           size_t nargs)
{
    struct two_strings t = {NULL, NULL, out2 != NULL};
    enum store_rc rc = st_read_one(st, sql, args, nargs, fill_two_strings, &t);
    *out = t.a;
    if (out2)
        *out2 = t.b;
    return rc;
}

/* Takes a block of positions from the database (db.h: stream_pos_block_sql). */
static enum store_rc
take_positions(struct store *st)
{
    const size_t want = sizeof(st->pos_block) / sizeof(st->pos_block[0]);
    struct db_stmt *s = NULL;
    enum db_rc r =
        st_prep(st, st->writer, &s, st->drv->stream_pos_block_sql, ST_ARGS(ST_I((int64_t)want)));
    size_t n = 0;

    while (r == DB_OK || r == DB_ROW) {
        r = st->drv->step(s);
        if (r == DB_ROW && n < want)
            st->pos_block[n++] = st->drv->col_int64(s, 0);
    }
    st->drv->finalize(s);
    if (r != DB_DONE || n == 0)
        return STORE_ERR;
    st->pos_n = n;
    st->pos_used = 0;
    return STORE_OK;
}

/* The next event stream position. Only the batch leader runs jobs, so no lock is needed.
 * SQLite: the single writer counts in memory. PostgreSQL: from a block of the sequence's, so
 * the event's statements can go out without waiting for a RETURNING. */
static enum store_rc
next_position(struct store *st, int64_t *pos)
{
    if (!st->drv->stream_pos_block_sql) {
        *pos = ++st->stream_next;
        return STORE_OK;
    }
    if (st->pos_used == st->pos_n && take_positions(st) != STORE_OK)
        return STORE_ERR;
    *pos = st->pos_block[st->pos_used++];
    if (*pos > st->stream_next)
        st->stream_next = *pos;
    return STORE_OK;
}

static enum store_rc
persist_one(struct store *st, const char *room_id, const struct store_event_row *e, int64_t pos)
{
    enum store_rc rc =
        st_rc(st_defer(st,
                       "INSERT INTO events (stream_pos, event_id, room_id, depth, type, "
                       "state_key, sender, origin_server_ts, json, unsigned_json) VALUES (?, "
                       "?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       ST_ARGS(ST_I(pos), ST_S(e->event_id), ST_S(room_id), ST_I(e->depth),
                               ST_S(e->type), ST_S(e->state_key), ST_S(e->sender),
                               ST_I(e->origin_server_ts), ST_S(e->json), ST_S(e->unsigned_json))));

    if (rc == STORE_OK && e->state_key) {
        rc = st_rc(st_defer(st,
                            "UPDATE room_state SET to_pos = ? WHERE room_id = ? AND type = ? AND "
                            "state_key = ? AND to_pos IS NULL",
                            ST_ARGS(ST_I(pos), ST_S(room_id), ST_S(e->type), ST_S(e->state_key))));
        if (rc == STORE_OK)
            rc = st_rc(st_defer(st,
                                "INSERT INTO room_state (room_id, type, state_key, event_id, "
                                "membership, from_pos) VALUES (?, ?, ?, ?, ?, ?)",
                                ST_ARGS(ST_S(room_id), ST_S(e->type), ST_S(e->state_key),
                                        ST_S(e->event_id), ST_S(e->membership), ST_I(pos))));
    }
    /* Joining again makes a forgotten room remembered. */
    if (rc == STORE_OK && e->membership && strcmp(e->membership, "join") == 0)
        rc = st_rc(st_defer(st, "DELETE FROM room_forgotten WHERE user_id = ? AND room_id = ?",
                            ST_ARGS(ST_S(e->state_key), ST_S(room_id))));
    /* Server-side search: events are indexed later, in batches (store_search_catch_up, which
     * skips redacted ones); a redaction takes its target out of the index if it is there
     * already. */
    if (rc == STORE_OK && e->redacts)
        rc = st_search_unindex_event(st, room_id, e->redacts);
    if (rc == STORE_OK && e->redacts)
        rc = st_rc(st_defer(st,
                            "UPDATE events SET redacted_by = ? WHERE event_id = ? AND room_id = ? "
                            "AND redacted_by IS NULL",
                            ST_ARGS(ST_S(e->event_id), ST_S(e->redacts), ST_S(room_id))));
    /* Push (issue 8): notifications go with their event. */
    if (rc == STORE_OK)
        rc = st_push_persist(st, room_id, e, pos);
    return rc;
}

struct persist_ctx {
    const char *room_id;
    const char *new_room_version;
    const struct store_event_row *rows;
    size_t n;
    int64_t first_pos;
    const struct store_txn_ref *txn;
};

static enum store_rc
persist_job(struct store *st, void *arg)
{
    struct persist_ctx *c = arg;
    enum store_rc rc = STORE_OK;
    int64_t pos = 0;

    if (c->new_room_version && c->n > 0)
        rc = st_rc(st_defer(st,
                            "INSERT INTO rooms (room_id, room_version, creator, created_ts) "
                            "VALUES (?, ?, ?, ?)",
                            ST_ARGS(ST_S(c->room_id), ST_S(c->new_room_version),
                                    ST_S(c->rows[0].sender), ST_I(c->rows[0].origin_server_ts))));
    for (size_t i = 0; i < c->n && rc == STORE_OK; i++) {
        rc = next_position(st, &pos);
        if (rc == STORE_OK && i == 0)
            c->first_pos = pos;
        if (rc == STORE_OK)
            rc = persist_one(st, c->room_id, &c->rows[i], pos);
    }
    if (rc == STORE_OK && c->txn && c->n > 0)
        rc = st_rc(
            st_defer(st,
                     "INSERT INTO txns (token_hash, txn_key, txn_id, event_id, created_ts) "
                     "VALUES (?, ?, ?, ?, ?)",
                     ST_ARGS(ST_S(c->txn->token_hash), ST_S(c->txn->txn_key), ST_S(c->txn->txn_id),
                             ST_S(c->rows[c->n - 1].event_id), ST_I(util_now_ms()))));
    return rc;
}

/* The event persistence rate's counter (issue 14; rate() of it in Prometheus). */
static struct metric *m_events;
static pthread_once_t events_once = PTHREAD_ONCE_INIT;

static void
register_events_metric(void)
{
    m_events = metrics_counter("hearth_events_persisted_total",
                               "Room events committed to the database.", NULL);
}

static void
count_persisted(size_t n)
{
    pthread_once(&events_once, register_events_metric);
    metrics_inc(m_events, NULL, (double)n);
}

struct store_pending {
    struct st_job job;
    struct persist_ctx ctx;
};

struct store_pending *
store_events_submit(struct store *st, const char *room_id, const char *new_room_version,
                    const struct store_event_row *rows, size_t n, const struct store_txn_ref *txn)
{
    struct store_pending *p = xcalloc(1, sizeof(*p));
    p->ctx = (struct persist_ctx){room_id, new_room_version, rows, n, 0, txn};
    p->job.fn = persist_job;
    p->job.ctx = &p->ctx;
    st_job_submit(st, &p->job);
    return p;
}

struct store_pending *
store_events_submit_held(struct store *st, const char *room_id, const struct store_event_row *rows,
                         size_t n, const struct store_txn_ref *txn)
{
    struct store_pending *p = xcalloc(1, sizeof(*p));
    p->ctx = (struct persist_ctx){room_id, NULL, rows, n, 0, txn};
    p->job.fn = persist_job;
    p->job.ctx = &p->ctx;
    p->job.held = true;
    st_job_submit(st, &p->job);
    return p;
}

void
store_pending_release(struct store *st, struct store_pending *p, bool ok)
{
    st_job_release(st, &p->job, ok);
}

bool
store_pending_release_async(struct store *st, struct store_pending *p, bool ok,
                            void (*suspend)(void *), void (*done)(void *), void *arg)
{
    return st_job_release_or_lead(st, &p->job, ok, suspend, done, arg);
}

/* A submission's end, its job done (the job's condition variable already destroyed). */
static enum store_rc
pending_end(struct store_pending *p, int64_t *first_pos)
{
    enum store_rc rc = p->job.rc;
    if (rc == STORE_OK)
        count_persisted(p->ctx.n);
    if (rc == STORE_OK && first_pos)
        *first_pos = p->ctx.first_pos;
    free(p);
    return rc;
}

enum store_rc
store_pending_finish(struct store *st, struct store_pending *p, int64_t *first_pos)
{
    (void)st;
    pthread_cond_destroy(&p->job.cv);
    return pending_end(p, first_pos);
}

enum store_rc
store_pending_wait(struct store *st, struct store_pending *p, int64_t *first_pos)
{
    (void)st_job_wait(st, &p->job); /* its result is the job's rc */
    return pending_end(p, first_pos);
}

enum store_rc
store_events_persist(struct store *st, const char *room_id, const char *new_room_version,
                     const struct store_event_row *rows, size_t n, int64_t *first_pos)
{
    struct persist_ctx c = {room_id, new_room_version, rows, n, 0, NULL};
    enum store_rc rc = st_write(st, persist_job, &c);
    if (rc == STORE_OK)
        count_persisted(n);
    if (rc == STORE_OK && first_pos)
        *first_pos = c.first_pos;
    return rc;
}

enum store_rc
store_room_get(struct store *st, const char *room_id, char **version, char **creator)
{
    char *v = NULL, *c = NULL;
    enum store_rc rc =
        one_string(st, &v, &c, "SELECT room_version, creator FROM rooms WHERE room_id = ?",
                   ST_ARGS(ST_S(room_id)));
    if (version)
        *version = v;
    else
        free(v);
    if (creator)
        *creator = c;
    else
        free(c);
    return rc;
}

/* Runs a query expected to return at most one event. */
static enum store_rc
one_event(struct store *st, struct store_event *out, const char *sql, const struct st_arg *args,
          size_t nargs)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st, sql, args, nargs, fill_event, out);
}

enum store_rc
store_event_get(struct store *st, const char *event_id, struct store_event *out)
{
    return one_event(st, out, "SELECT " EVENT_COLS " FROM events WHERE event_id = ?",
                     ST_ARGS(ST_S(event_id)));
}

enum store_rc
store_room_last_event(struct store *st, const char *room_id, struct store_event *out)
{
    return one_event(st, out,
                     "SELECT " EVENT_COLS " FROM events WHERE room_id = ? "
                     "ORDER BY stream_pos DESC LIMIT 1",
                     ST_ARGS(ST_S(room_id)));
}

#define STATE_EVENT_COLS                                                                           \
    "e.event_id, e.room_id, e.type, e.state_key, e.sender, e.json, e.redacted_by, "                \
    "e.stream_pos, e.depth, e.unsigned_json"

/* A state row's from_pos is its event's stream_pos (persist_one writes both): joining on it
 * finds the event by its key instead of through the event_id index (sync speed, issue 4:
 * the lazy-member query took half the time); the event_id still has to match. */
#define STATE_EVENTS_JOIN                                                                          \
    " FROM room_state rs JOIN events e ON e.stream_pos = rs.from_pos AND e.event_id = "            \
    "rs.event_id "

enum store_rc
store_room_state_at(struct store *st, const char *room_id, int64_t pos, struct store_event **out,
                    size_t *n)
{
    return read_events(
        st,
        "SELECT " STATE_EVENT_COLS STATE_EVENTS_JOIN
        "WHERE rs.room_id = ? AND rs.from_pos <= ? AND (rs.to_pos IS NULL OR rs.to_pos > ?) "
        "ORDER BY e.stream_pos",
        ST_ARGS(ST_S(room_id), ST_I(pos), ST_I(pos)), out, n);
}

enum store_rc
store_state_full_event_at(struct store *st, const char *room_id, const char *type,
                          const char *state_key, int64_t pos, struct store_event *out)
{
    return one_event(
        st, out,
        "SELECT " STATE_EVENT_COLS STATE_EVENTS_JOIN
        "WHERE rs.room_id = ? AND rs.type = ? AND rs.state_key = ? AND rs.from_pos <= ? AND "
        "(rs.to_pos IS NULL OR rs.to_pos > ?)",
        ST_ARGS(ST_S(room_id), ST_S(type), ST_S(state_key), ST_I(pos), ST_I(pos)));
}

/* ---- sync speed (issue 4): lazy-loaded members in one query per STORE_MEMBERS_BATCH ----
 * The IN list has a fixed length (unused places repeat the last user), so it is one SQL text
 * and stays in the prepared-statement cache. */
#define Q16 "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"

enum store_rc
store_state_members_at(struct store *st, const char *room_id, const char *const *users, size_t n,
                       int64_t pos, struct store_event **out, size_t *nout)
{
    struct store_event *all = NULL;
    size_t nall = 0;

    *out = NULL;
    *nout = 0;
    for (size_t at = 0; at < n; at += STORE_MEMBERS_BATCH) {
        struct st_arg args[STORE_MEMBERS_BATCH + 3];
        struct store_event *part = NULL;
        size_t npart = 0;
        enum store_rc rc;
        args[0] = ST_S(room_id);
        for (size_t i = 0; i < STORE_MEMBERS_BATCH; i++)
            args[1 + i] = ST_S(users[at + i < n ? at + i : n - 1]);
        args[STORE_MEMBERS_BATCH + 1] = ST_I(pos);
        args[STORE_MEMBERS_BATCH + 2] = ST_I(pos);
        rc = read_events(st,
                         "SELECT " STATE_EVENT_COLS STATE_EVENTS_JOIN "WHERE rs.room_id = ? AND "
                         "rs.type = 'm.room.member' AND rs.state_key IN (" Q16 ") AND "
                         "rs.from_pos <= ? AND (rs.to_pos IS NULL OR rs.to_pos > ?)",
                         args, STORE_MEMBERS_BATCH + 3, &part, &npart);
        if (rc != STORE_OK) {
            store_event_list_free(all, nall);
            return rc;
        }
        if (npart > 0) {
            all = xrealloc(all, (nall + npart) * sizeof(*all));
            memcpy(all + nall, part, npart * sizeof(*part));
            nall += npart;
        }
        free(part);
    }
    *out = all;
    *nout = nall;
    return STORE_OK;
}
#undef Q16
/* ---- (end of sync speed) ---- */

/* The type range is written as two ranges (not <>) so that the index skips the members'
 * rows instead of visiting each (sync speed, issue 4). */
enum store_rc
store_room_state_at_nonmembers(struct store *st, const char *room_id, int64_t pos,
                               struct store_event **out, size_t *n)
{
    return read_events(
        st,
        "SELECT " STATE_EVENT_COLS STATE_EVENTS_JOIN
        "WHERE rs.room_id = ? AND rs.from_pos <= ? AND (rs.to_pos IS NULL OR rs.to_pos > ?) "
        "AND (rs.type < 'm.room.member' OR rs.type > 'm.room.member') ORDER BY e.stream_pos",
        ST_ARGS(ST_S(room_id), ST_I(pos), ST_I(pos)), out, n);
}

enum store_rc
store_room_events(struct store *st, const char *room_id, int64_t from, int64_t to, bool backwards,
                  size_t limit, struct store_event **out, size_t *n)
{
    if (backwards)
        return read_events(st,
                           "SELECT " EVENT_COLS " FROM events WHERE room_id = ? AND "
                           "stream_pos < ? AND stream_pos > ? ORDER BY stream_pos DESC LIMIT ?",
                           ST_ARGS(ST_S(room_id), ST_I(from), ST_I(to), ST_I((int64_t)limit)), out,
                           n);
    return read_events(st,
                       "SELECT " EVENT_COLS " FROM events WHERE room_id = ? AND stream_pos > ? "
                       "AND stream_pos <= ? ORDER BY stream_pos ASC LIMIT ?",
                       ST_ARGS(ST_S(room_id), ST_I(from), ST_I(to), ST_I((int64_t)limit)), out, n);
}

void
store_state_intervals_free(struct store_state_interval *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].event_id);
        free(list[i].membership);
    }
    free(list);
}

static void
fill_interval(struct store *st, struct db_stmt *s, void *item)
{
    struct store_state_interval *iv = item;
    iv->event_id = st_dup_col(st, s, 0);
    iv->membership = st_dup_col(st, s, 1);
    iv->from_pos = st->drv->col_int64(s, 2);
    iv->to_pos = st->drv->col_is_null(s, 3) ? INT64_MAX : st->drv->col_int64(s, 3);
}

static void
clear_interval(void *item)
{
    struct store_state_interval *iv = item;
    free(iv->event_id);
    free(iv->membership);
}

enum store_rc
store_state_history(struct store *st, const char *room_id, const char *type, const char *state_key,
                    struct store_state_interval **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc =
        st_read_list(st,
                     "SELECT event_id, membership, from_pos, to_pos FROM room_state "
                     "WHERE room_id = ? AND type = ? AND state_key = ? ORDER BY from_pos",
                     ST_ARGS(ST_S(room_id), ST_S(type), ST_S(state_key)), sizeof(**out),
                     fill_interval, clear_interval, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_user_rooms(struct store *st, const char *user_id, const char *membership, char ***room_ids,
                 size_t *n)
{
    return st_read_texts(st,
                         "SELECT room_id FROM room_state WHERE state_key = ? AND "
                         "type = 'm.room.member' AND to_pos IS NULL AND membership = ? "
                         "ORDER BY from_pos",
                         ST_ARGS(ST_S(user_id), ST_S(membership)), room_ids, n);
}

enum store_rc
store_stream_position(struct store *st, int64_t *pos)
{
    *pos = atomic_load(&st->stream_committed);
    return STORE_OK;
}

/* A single-row, single-text-column lookup. */

enum store_rc
store_txn_get(struct store *st, const char *token_hash, const char *txn_key, char **event_id)
{
    return one_string(st, event_id, NULL,
                      "SELECT event_id FROM txns WHERE token_hash = ? AND txn_key = ?",
                      ST_ARGS(ST_S(token_hash), ST_S(txn_key)));
}

enum store_rc
store_txn_put(struct store *st, const char *token_hash, const char *txn_key, const char *txn_id,
              const char *event_id)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO txns (token_hash, txn_key, txn_id, event_id, "
                                "created_ts) VALUES (?, ?, ?, ?, ?)",
                                ST_S(token_hash), ST_S(txn_key), ST_S(txn_id), ST_S(event_id),
                                ST_I(util_now_ms())));
}

enum store_rc
store_txn_of_event(struct store *st, const char *token_hash, const char *event_id, char **txn_id)
{
    return one_string(st, txn_id, NULL,
                      "SELECT txn_id FROM txns WHERE event_id = ? AND token_hash = ?",
                      ST_ARGS(ST_S(event_id), ST_S(token_hash)));
}

enum store_rc
store_room_is_forgotten(struct store *st, const char *user_id, const char *room_id, bool *forgotten)
{
    char *v = NULL;
    enum store_rc rc = one_string(st, &v, NULL,
                                  "SELECT user_id FROM room_forgotten WHERE user_id = ? AND "
                                  "room_id = ?",
                                  ST_ARGS(ST_S(user_id), ST_S(room_id)));
    *forgotten = rc == STORE_OK;
    free(v);
    return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

enum store_rc
store_alias_put(struct store *st, const char *alias, const char *room_id, const char *creator)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO room_aliases (alias, room_id, creator) "
                                "VALUES (?, ?, ?)",
                                ST_S(alias), ST_S(room_id), ST_S(creator)));
}

enum store_rc
store_alias_get(struct store *st, const char *alias, char **room_id, char **creator)
{
    return one_string(st, room_id, creator,
                      "SELECT room_id, creator FROM room_aliases WHERE alias = ?",
                      ST_ARGS(ST_S(alias)));
}

enum store_rc
store_alias_delete(struct store *st, const char *alias)
{
    return ST_WRITE(st, ST_STEP_CHANGED("DELETE FROM room_aliases WHERE alias = ?", ST_S(alias)));
}

enum store_rc
store_room_aliases(struct store *st, const char *room_id, char ***aliases, size_t *n)
{
    return st_read_texts(st, "SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias",
                         ST_ARGS(ST_S(room_id)), aliases, n);
}

enum store_rc
store_server_notice_room_get(struct store *st, const char *user_id, char **room_id)
{
    return one_string(st, room_id, NULL,
                      "SELECT room_id FROM server_notice_rooms WHERE user_id = ?",
                      ST_ARGS(ST_S(user_id)));
}

enum store_rc
store_server_notice_room_put(struct store *st, const char *user_id, const char *room_id)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO server_notice_rooms (user_id, room_id) VALUES (?, ?) "
                                "ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id",
                                ST_S(user_id), ST_S(room_id)));
}

enum store_rc
store_room_set_public(struct store *st, const char *room_id, bool is_public)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE rooms SET is_public = ? WHERE room_id = ?",
                                        ST_B(is_public), ST_S(room_id)));
}

enum store_rc
store_room_is_public(struct store *st, const char *room_id, bool *is_public)
{
    char *v = NULL;
    enum store_rc rc = one_string(st, &v, NULL,
                                  "SELECT CASE WHEN is_public = 1 THEN 'y' ELSE 'n' END "
                                  "FROM rooms WHERE room_id = ?",
                                  ST_ARGS(ST_S(room_id)));
    *is_public = rc == STORE_OK && v && v[0] == 'y';
    free(v);
    return rc;
}

enum store_rc
store_public_rooms(struct store *st, char ***room_ids, size_t *n)
{
    return st_read_texts(st, "SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY created_ts",
                         ST_NOARGS, room_ids, n);
}

enum store_rc
store_room_forget(struct store *st, const char *user_id, const char *room_id)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO room_forgotten (user_id, room_id) VALUES (?, ?) "
                                "ON CONFLICT (user_id, room_id) DO NOTHING",
                                ST_S(user_id), ST_S(room_id)));
}

enum store_rc
store_report_add(struct store *st, const char *room_id, const char *event_id, const char *user_id,
                 const char *reason, int64_t score, bool has_score)
{
    /* Each report gets the next 'event_reports' number (issue 14: the admin API names
     * reports by it). */
    const struct st_step count = {"UPDATE counters SET value = value + 1 WHERE name = "
                                  "'event_reports'",
                                  NULL, 0, 0};
    return ST_WRITE(st, count,
                    ST_STEP("INSERT INTO event_reports (id, room_id, event_id, user_id, reason, "
                            "score, received_ts) VALUES ((SELECT value FROM counters WHERE name = "
                            "'event_reports'), ?, ?, ?, ?, ?, ?)",
                            ST_S(room_id), ST_S(event_id), ST_S(user_id), ST_S(reason),
                            has_score ? ST_I(score) : ST_S(NULL), ST_I(util_now_ms())));
}

enum store_rc
store_aliases_move(struct store *st, const char *from_room, const char *to_room)
{
    return ST_WRITE(st, ST_STEP("UPDATE room_aliases SET room_id = ? WHERE room_id = ?",
                                ST_S(to_room), ST_S(from_room)));
}

struct filter_ctx {
    const char *user_id;
    const char *json;
    int64_t id;
};

static enum store_rc
filter_put_job(struct store *st, void *arg)
{
    struct filter_ctx *c = arg;
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;

    if (st_prep(st, st->writer, &s,
                "SELECT COALESCE(MAX(filter_id), -1) + 1 FROM filters WHERE user_id = ?",
                ST_ARGS(ST_S(c->user_id))) == DB_OK &&
        st->drv->step(s) == DB_ROW) {
        c->id = st->drv->col_int64(s, 0);
        rc = STORE_OK;
    }
    st->drv->finalize(s);
    if (rc == STORE_OK)
        rc = st_rc(st_run(st, st->writer,
                          "INSERT INTO filters (user_id, filter_id, json) VALUES (?, ?, ?)",
                          ST_ARGS(ST_S(c->user_id), ST_I(c->id), ST_S(c->json))));
    return rc;
}

enum store_rc
store_filter_put(struct store *st, const char *user_id, const char *json, int64_t *filter_id)
{
    struct filter_ctx c = {user_id, json, 0};
    enum store_rc rc = st_write(st, filter_put_job, &c);
    *filter_id = c.id;
    return rc;
}

enum store_rc
store_filter_get(struct store *st, const char *user_id, int64_t filter_id, char **json)
{
    return one_string(st, json, NULL,
                      "SELECT json FROM filters WHERE user_id = ? AND filter_id = ?",
                      ST_ARGS(ST_S(user_id), ST_I(filter_id)));
}

void
store_memberships_free(struct store_membership *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].room_id);
        free(list[i].membership);
    }
    free(list);
}

static void
fill_membership(struct store *st, struct db_stmt *s, void *item)
{
    struct store_membership *m = item;
    m->room_id = st_dup_col(st, s, 0);
    m->membership = st_dup_col(st, s, 1);
    m->pos = st->drv->col_int64(s, 2);
}

static void
clear_membership(void *item)
{
    struct store_membership *m = item;
    free(m->room_id);
    free(m->membership);
}

enum store_rc
store_user_membership_changes(struct store *st, const char *user_id, int64_t since,
                              struct store_membership **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc =
        st_read_list(st,
                     "SELECT room_id, membership, from_pos FROM room_state WHERE state_key = ? AND "
                     "type = 'm.room.member' AND to_pos IS NULL AND from_pos > ? ORDER BY from_pos",
                     ST_ARGS(ST_S(user_id), ST_I(since)), sizeof(**out), fill_membership,
                     clear_membership, &list, n);
    *out = list;
    return rc;
}

struct account_data_ctx {
    const char *user_id, *room_id, *type, *content;
    int64_t pos;
};

static enum store_rc
account_data_job(struct store *st, void *arg)
{
    struct account_data_ctx *c = arg;
    struct db_stmt *s = NULL;
    enum store_rc rc;

    rc = st_rc(st_run(st, st->writer,
                      "UPDATE counters SET value = value + 1 WHERE name = 'account_data'",
                      ST_NOARGS));
    if (rc != STORE_OK)
        return rc;
    rc = STORE_ERR;
    if (st_prep(st, st->writer, &s, "SELECT value FROM counters WHERE name = 'account_data'",
                ST_NOARGS) == DB_OK &&
        st->drv->step(s) == DB_ROW) {
        c->pos = st->drv->col_int64(s, 0);
        rc = STORE_OK;
    }
    st->drv->finalize(s);
    if (rc != STORE_OK)
        return rc;
    return st_rc(st_run(st, st->writer,
                        "INSERT INTO account_data (user_id, room_id, type, content, stream_pos) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, room_id, type) DO UPDATE "
                        "SET content = excluded.content, stream_pos = excluded.stream_pos",
                        ST_ARGS(ST_S(c->user_id), ST_S(c->room_id), ST_S(c->type), ST_S(c->content),
                                ST_I(c->pos))));
}

enum store_rc
store_account_data_put(struct store *st, const char *user_id, const char *room_id, const char *type,
                       const char *content, int64_t *pos)
{
    struct account_data_ctx c = {user_id, room_id, type, content, 0};
    enum store_rc rc = st_write(st, account_data_job, &c);
    if (pos)
        *pos = c.pos;
    return rc;
}

enum store_rc
store_account_data_get(struct store *st, const char *user_id, const char *room_id, const char *type,
                       char **content)
{
    return one_string(st, content, NULL,
                      "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND "
                      "type = ?",
                      ST_ARGS(ST_S(user_id), ST_S(room_id), ST_S(type)));
}

void
store_account_data_free(struct store_account_data *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].room_id);
        free(list[i].type);
        free(list[i].content);
    }
    free(list);
}

static void
fill_account_data(struct store *st, struct db_stmt *s, void *item)
{
    struct store_account_data *a = item;
    a->room_id = st_dup_col(st, s, 0);
    a->type = st_dup_col(st, s, 1);
    a->content = st_dup_col(st, s, 2);
}

static void
clear_account_data(void *item)
{
    struct store_account_data *a = item;
    free(a->room_id);
    free(a->type);
    free(a->content);
}

enum store_rc
store_account_data_since(struct store *st, const char *user_id, int64_t since,
                         struct store_account_data **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(st,
                                    "SELECT room_id, type, content FROM account_data WHERE "
                                    "user_id = ? AND stream_pos > ? ORDER BY stream_pos",
                                    ST_ARGS(ST_S(user_id), ST_I(since)), sizeof(**out),
                                    fill_account_data, clear_account_data, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_counter(struct store *st, const char *name, int64_t *value)
{
    char *v = NULL;
    enum store_rc rc =
        one_string(st, &v, NULL, "SELECT CAST(value AS TEXT) FROM counters WHERE name = ?",
                   ST_ARGS(ST_S(name)));
    if (rc == STORE_OK && util_parse_int64(v, value) != 0)
        rc = STORE_ERR;
    free(v);
    return rc;
}

enum store_rc
store_state_event_at(struct store *st, const char *room_id, const char *type, const char *state_key,
                     int64_t pos, char **event_id)
{
    return one_string(st, event_id, NULL,
                      "SELECT event_id FROM room_state WHERE room_id = ? AND type = ? AND "
                      "state_key = ? AND from_pos <= ? AND (to_pos IS NULL OR to_pos > ?)",
                      ST_ARGS(ST_S(room_id), ST_S(type), ST_S(state_key), ST_I(pos), ST_I(pos)));
}
