/* 3PIDs: email validation sessions, the addresses of accounts, identity server binds, and SSO
 * subjects (issue 10). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store_internal.h"

/* ---- validation sessions ---- */

void
store_3pid_session_clear(struct store_3pid_session *s)
{
    free(s->session_id);
    free(s->medium);
    free(s->address);
    free(s->client_secret);
    free(s->kind);
    free(s->token_hash);
    free(s->next_link);
    memset(s, 0, sizeof(*s));
}

#define SESSION_COLS                                                                               \
    "session_id, medium, address, client_secret, kind, token_hash, next_link, "                    \
    "last_send_attempt, token_expires_ts, COALESCE(validated_ts, 0), created_ts"

static void
fill_session(struct store *st, struct db_stmt *s, void *item)
{
    struct store_3pid_session *x = item;
    x->session_id = st_dup_col(st, s, 0);
    x->medium = st_dup_col(st, s, 1);
    x->address = st_dup_col(st, s, 2);
    x->client_secret = st_dup_col(st, s, 3);
    x->kind = st_dup_col(st, s, 4);
    x->token_hash = st_dup_col(st, s, 5);
    x->next_link = st_dup_col(st, s, 6);
    x->last_send_attempt = st->drv->col_int64(s, 7);
    x->token_expires_ts = st->drv->col_int64(s, 8);
    x->validated_ts = st->drv->col_int64(s, 9);
    x->created_ts = st->drv->col_int64(s, 10);
}

enum store_rc
store_3pid_session_find_open(struct store *st, const char *medium, const char *address,
                             const char *client_secret, struct store_3pid_session *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st,
                       "SELECT " SESSION_COLS " FROM threepid_sessions WHERE medium = ? AND "
                       "address = ? AND client_secret = ? AND validated_ts IS NULL "
                       "ORDER BY created_ts DESC",
                       ST_ARGS(ST_S(medium), ST_S(address), ST_S(client_secret)), fill_session,
                       out);
}

enum store_rc
store_3pid_session_get(struct store *st, const char *session_id, struct store_3pid_session *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st, "SELECT " SESSION_COLS " FROM threepid_sessions WHERE session_id = ?",
                       ST_ARGS(ST_S(session_id)), fill_session, out);
}

/* Sessions are useful for minutes; after a day they go (as Synapse culls its tokens). */
#define SESSION_KEEP_MS (24 * 3600 * 1000LL)

enum store_rc
store_3pid_session_put(struct store *st, const struct store_3pid_session *s)
{
    return ST_WRITE(
        st,
        ST_STEP("DELETE FROM threepid_sessions WHERE created_ts < ?",
                ST_I(util_now_ms() - SESSION_KEEP_MS)),
        ST_STEP("INSERT INTO threepid_sessions (session_id, medium, address, client_secret, "
                "kind, last_send_attempt, token_hash, token_expires_ts, next_link, "
                "created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session_id) DO UPDATE SET kind = excluded.kind, "
                "last_send_attempt = excluded.last_send_attempt, "
                "token_hash = excluded.token_hash, "
                "token_expires_ts = excluded.token_expires_ts, "
                "next_link = excluded.next_link",
                ST_S(s->session_id), ST_S(s->medium), ST_S(s->address), ST_S(s->client_secret),
                ST_S(s->kind), ST_I(s->last_send_attempt), ST_S(s->token_hash),
                ST_I(s->token_expires_ts), ST_S(s->next_link), ST_I(s->created_ts)));
}

enum store_rc
store_3pid_session_validate(struct store *st, const char *session_id, int64_t now)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE threepid_sessions SET validated_ts = "
                                        "COALESCE(validated_ts, ?) WHERE session_id = ?",
                                        ST_I(now), ST_S(session_id)));
}

enum store_rc
store_3pid_session_delete(struct store *st, const char *session_id)
{
    return ST_WRITE(
        st, ST_STEP("DELETE FROM threepid_sessions WHERE session_id = ?", ST_S(session_id)));
}

/* ---- account 3PIDs ---- */

enum store_rc
store_threepid_add(struct store *st, const char *user_id, const char *medium, const char *address,
                   int64_t validated_ts, int64_t now)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO user_threepids (medium, address, user_id, "
                                "validated_ts, added_ts) VALUES (?, ?, ?, ?, ?)",
                                ST_S(medium), ST_S(address), ST_S(user_id), ST_I(validated_ts),
                                ST_I(now)));
}

enum store_rc
store_threepid_owner(struct store *st, const char *medium, const char *address, char **user_id)
{
    *user_id = NULL;
    return st_read_one(st, "SELECT user_id FROM user_threepids WHERE medium = ? AND address = ?",
                       ST_ARGS(ST_S(medium), ST_S(address)), st_fill_text, user_id);
}

static void
fill_threepid(struct store *st, struct db_stmt *s, void *item)
{
    struct store_threepid *t = item;
    t->medium = st_dup_col(st, s, 0);
    t->address = st_dup_col(st, s, 1);
    t->validated_ts = st->drv->col_int64(s, 2);
    t->added_ts = st->drv->col_int64(s, 3);
}

static void
clear_threepid(void *item)
{
    struct store_threepid *t = item;
    free(t->medium);
    free(t->address);
}

void
store_threepids_free(struct store_threepid *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_threepid);
}

enum store_rc
store_threepid_list(struct store *st, const char *user_id, struct store_threepid **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(st,
                                    "SELECT medium, address, validated_ts, added_ts FROM "
                                    "user_threepids WHERE user_id = ? ORDER BY added_ts, address",
                                    ST_ARGS(ST_S(user_id)), sizeof(**out), fill_threepid,
                                    clear_threepid, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_threepid_remove(struct store *st, const char *user_id, const char *medium,
                      const char *address)
{
    return ST_WRITE(st, ST_STEP_CHANGED("DELETE FROM user_threepids WHERE user_id = ? AND "
                                        "medium = ? AND address = ?",
                                        ST_S(user_id), ST_S(medium), ST_S(address)));
}

enum store_rc
store_threepid_remove_all(struct store *st, const char *user_id)
{
    return ST_WRITE(st, ST_STEP("DELETE FROM user_threepids WHERE user_id = ?", ST_S(user_id)),
                    ST_STEP("DELETE FROM user_threepid_binds WHERE user_id = ?", ST_S(user_id)));
}

/* ---- identity server binds ---- */

enum store_rc
store_threepid_bind_add(struct store *st, const char *user_id, const char *medium,
                        const char *address, const char *id_server)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO user_threepid_binds (user_id, medium, address, "
                                "id_server) VALUES (?, ?, ?, ?) ON CONFLICT "
                                "(user_id, medium, address, id_server) DO NOTHING",
                                ST_S(user_id), ST_S(medium), ST_S(address), ST_S(id_server)));
}

static void
fill_bind(struct store *st, struct db_stmt *s, void *item)
{
    struct store_threepid_bind *b = item;
    st_dup_cols(st, s, (char **const[]){&b->medium, &b->address, &b->id_server}, 3);
}

static void
clear_bind(void *item)
{
    struct store_threepid_bind *b = item;
    free(b->medium);
    free(b->address);
    free(b->id_server);
}

void
store_threepid_binds_free(struct store_threepid_bind *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_bind);
}

enum store_rc
store_threepid_binds(struct store *st, const char *user_id, const char *medium, const char *address,
                     struct store_threepid_bind **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc;

    if (medium && address)
        rc = st_read_list(st,
                          "SELECT medium, address, id_server FROM user_threepid_binds WHERE "
                          "user_id = ? AND medium = ? AND address = ? ORDER BY id_server",
                          ST_ARGS(ST_S(user_id), ST_S(medium), ST_S(address)), sizeof(**out),
                          fill_bind, clear_bind, &list, n);
    else
        rc = st_read_list(st,
                          "SELECT medium, address, id_server FROM user_threepid_binds WHERE "
                          "user_id = ? ORDER BY medium, address, id_server",
                          ST_ARGS(ST_S(user_id)), sizeof(**out), fill_bind, clear_bind, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_threepid_bind_remove(struct store *st, const char *user_id, const char *medium,
                           const char *address, const char *id_server)
{
    return ST_WRITE(st, ST_STEP("DELETE FROM user_threepid_binds WHERE user_id = ? AND "
                                "medium = ? AND address = ? AND id_server = ?",
                                ST_S(user_id), ST_S(medium), ST_S(address), ST_S(id_server)));
}

/* ---- SSO subjects ---- */

enum store_rc
store_external_id_get(struct store *st, const char *provider, const char *external_id,
                      char **user_id)
{
    *user_id = NULL;
    return st_read_one(st,
                       "SELECT user_id FROM user_external_ids WHERE auth_provider = ? AND "
                       "external_id = ?",
                       ST_ARGS(ST_S(provider), ST_S(external_id)), st_fill_text, user_id);
}

enum store_rc
store_external_id_add(struct store *st, const char *provider, const char *external_id,
                      const char *user_id)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO user_external_ids (auth_provider, external_id, "
                                "user_id) VALUES (?, ?, ?)",
                                ST_S(provider), ST_S(external_id), ST_S(user_id)));
}

enum store_rc
store_external_id_providers(struct store *st, const char *user_id, char ***providers, size_t *n)
{
    return st_read_texts(st,
                         "SELECT DISTINCT auth_provider FROM user_external_ids WHERE "
                         "user_id = ? ORDER BY auth_provider",
                         ST_ARGS(ST_S(user_id)), providers, n);
}
