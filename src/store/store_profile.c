/* Profiles, the user directory and OpenID tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_internal.h"

void
store_profile_clear(struct store_profile *p)
{
    free(p->displayname);
    free(p->avatar_url);
    memset(p, 0, sizeof(*p));
}

static void
fill_profile(struct store *st, struct db_stmt *s, void *item)
{
    struct store_profile *p = item;
    p->displayname = st_dup_col(st, s, 0);
    p->avatar_url = st_dup_col(st, s, 1);
}

enum store_rc
store_profile_get(struct store *st, const char *user_id, struct store_profile *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st,
                       "SELECT p.displayname, p.avatar_url FROM users u "
                       "LEFT JOIN profiles p ON p.user_id = u.user_id WHERE u.user_id = ?",
                       ST_ARGS(ST_S(user_id)), fill_profile, out);
}

/* The SELECT from users makes a missing account change no row (STORE_NOT_FOUND); its WHERE
 * also keeps SQLite from reading ON CONFLICT as part of a join. */
enum store_rc
store_profile_set_displayname(struct store *st, const char *user_id, const char *displayname)
{
    return ST_WRITE(st, ST_STEP_CHANGED("INSERT INTO profiles (user_id, displayname) "
                                        "SELECT user_id, ? FROM users WHERE user_id = ? "
                                        "ON CONFLICT (user_id) DO UPDATE SET "
                                        "displayname = excluded.displayname",
                                        ST_S(displayname), ST_S(user_id)));
}

enum store_rc
store_profile_set_avatar_url(struct store *st, const char *user_id, const char *avatar_url)
{
    return ST_WRITE(st, ST_STEP_CHANGED("INSERT INTO profiles (user_id, avatar_url) "
                                        "SELECT user_id, ? FROM users WHERE user_id = ? "
                                        "ON CONFLICT (user_id) DO UPDATE SET "
                                        "avatar_url = excluded.avatar_url",
                                        ST_S(avatar_url), ST_S(user_id)));
}

enum store_rc
store_profile_init(struct store *st, const char *user_id)
{
    const char *colon = strchr(user_id, ':');
    char *localpart;
    enum store_rc rc;

    if (user_id[0] != '@' || !colon)
        return STORE_ERR;
    localpart = xstrndup(user_id + 1, (size_t)(colon - user_id - 1));
    rc = ST_WRITE(st, ST_STEP("INSERT INTO profiles (user_id, displayname) VALUES (?, ?) "
                              "ON CONFLICT (user_id) DO NOTHING",
                              ST_S(user_id), ST_S(localpart)));
    free(localpart);
    return rc;
}

/* ---- user directory ---- */

void
store_directory_free(struct store_directory_entry *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].user_id);
        free(list[i].displayname);
        free(list[i].avatar_url);
    }
    free(list);
}

/* "%term%" with LIKE's special characters escaped by a backslash (new string); with
 * prefix_only "term%", and at_sign prepends '@' for matching user IDs by their localpart. */
static char *
like_pattern(const char *term, bool prefix_only, bool at_sign)
{
    size_t len = strlen(term);
    char *p = xmalloc(2 * len + 4), *o = p;

    if (at_sign)
        *o++ = '@';
    else if (!prefix_only)
        *o++ = '%';
    for (const char *c = term; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *o++ = '\\';
        *o++ = *c;
    }
    *o++ = '%';
    *o = '\0';
    return p;
}

#define MATCH_USER "LOWER(u.user_id) LIKE LOWER(?) ESCAPE '\\'"
#define MATCH_NAME "LOWER(p.displayname) LIKE LOWER(?) ESCAPE '\\'"

/* Is this stored m.room.join_rules event's rule "public"? Read from the JSON here, since
 * SQLite and PostgreSQL disagree on JSON operators. */
static bool
rules_public(const char *event_json)
{
    json_t *ev = event_json ? json_loads(event_json, 0, NULL) : NULL;
    const char *rule =
        json_string_value(json_object_get(json_object_get(ev, "content"), "join_rule"));
    bool pub = rule && strcmp(rule, "public") == 0;
    json_decref(ev);
    return pub;
}

/* Ranking: prefix matches of the localpart or display name first, then accounts with a
 * display name, then by user ID; every row of one account sorts together. */
#define DIR_ORDER                                                                                  \
    " ORDER BY CASE WHEN " MATCH_USER " OR " MATCH_NAME " THEN 0 ELSE 1 END, "                     \
    "CASE WHEN p.displayname IS NULL THEN 1 ELSE 0 END, u.user_id"

/* Everyone: no room condition. */
static const char dir_all_sql[] =
    "SELECT u.user_id, p.displayname, p.avatar_url, 1, NULL FROM users u "
    "LEFT JOIN profiles p ON p.user_id = u.user_id "
    "WHERE u.deactivated = 0 AND (" MATCH_USER " OR " MATCH_NAME ")" DIR_ORDER;

/* One row per (matching account, room it is joined to), saying whether the searcher is joined
 * there too and, if not, the room's join rules event to check for "public". The directory is
 * computed from current state on each search rather than kept as an index: a search scans
 * the current membership rows of the accounts that match the term. */
static const char dir_visible_sql[] =
    "SELECT u.user_id, p.displayname, p.avatar_url, "
    "  EXISTS (SELECT 1 FROM room_state s WHERE s.room_id = m.room_id "
    "    AND s.type = 'm.room.member' AND s.state_key = ? AND s.to_pos IS NULL "
    "    AND s.membership = 'join'), "
    "  (SELECT e.json FROM room_state j JOIN events e ON e.event_id = j.event_id "
    "    WHERE j.room_id = m.room_id AND j.type = 'm.room.join_rules' AND j.state_key = '' "
    "    AND j.to_pos IS NULL) "
    "FROM room_state m JOIN users u ON u.user_id = m.state_key "
    "LEFT JOIN profiles p ON p.user_id = u.user_id "
    "WHERE m.type = 'm.room.member' AND m.to_pos IS NULL AND m.membership = 'join' "
    "AND u.deactivated = 0 AND (" MATCH_USER " OR " MATCH_NAME ")" DIR_ORDER;

enum store_rc
store_user_directory_search(struct store *st, const char *searcher, const char *term,
                            bool all_users, size_t limit, struct store_directory_entry **out,
                            size_t *n, bool *limited)
{
    struct db *db = st_reader_get(st);
    struct db_stmt *s = NULL;
    struct store_directory_entry *list = NULL;
    size_t len = 0, cap = 0;
    char *any = like_pattern(term, false, false), *prefix = like_pattern(term, true, false);
    char *user_prefix = like_pattern(term, true, true);
    char *last = NULL; /* the account of the previous row, decided already */
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    *out = NULL;
    *n = 0;
    *limited = false;
    if (!db)
        goto out;
    if (all_users)
        r = st_prep(st, db, &s, dir_all_sql,
                    ST_ARGS(ST_S(any), ST_S(any), ST_S(user_prefix), ST_S(prefix)));
    else
        r = st_prep(st, db, &s, dir_visible_sql,
                    ST_ARGS(ST_S(searcher), ST_S(any), ST_S(any), ST_S(user_prefix), ST_S(prefix)));
    if (r != DB_OK)
        goto out;
    while ((r = st->drv->step(s)) == DB_ROW) {
        const char *user = st->drv->col_text(s, 0);

        if (last && strcmp(last, user) == 0)
            continue;
        if (st->drv->col_int64(s, 3) == 0 && !rules_public(st->drv->col_text(s, 4)))
            continue;
        if (len == limit) {
            *limited = true;
            break;
        }
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            list = xrealloc(list, cap * sizeof(*list));
        }
        list[len].user_id = st_dup_col(st, s, 0);
        list[len].displayname = st_dup_col(st, s, 1);
        list[len].avatar_url = st_dup_col(st, s, 2);
        last = list[len].user_id;
        len++;
    }
    if (r != DB_DONE && r != DB_ROW) {
        store_directory_free(list, len);
        goto out;
    }
    *out = list;
    *n = len;
    rc = STORE_OK;
out:
    if (db) {
        st->drv->finalize(s);
        st_reader_put(st, db);
    }
    free(any);
    free(prefix);
    free(user_prefix);
    return rc;
}

/* ---- OpenID ---- */

enum store_rc
store_openid_token_add(struct store *st, const char *token_hash, const char *user_id,
                       int64_t expiry_ts, int64_t now)
{
    return ST_WRITE(st, ST_STEP("DELETE FROM openid_tokens WHERE expiry_ts < ?", ST_I(now)),
                    ST_STEP("INSERT INTO openid_tokens (token_hash, user_id, expiry_ts) "
                            "VALUES (?, ?, ?)",
                            ST_S(token_hash), ST_S(user_id), ST_I(expiry_ts)));
}

enum store_rc
store_openid_token_lookup(struct store *st, const char *token_hash, int64_t now, char **user_id)
{
    struct db *db = st_reader_get(st);
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    *user_id = NULL;
    if (!db)
        return STORE_ERR;
    if (st_prep(st, db, &s,
                "SELECT user_id FROM openid_tokens WHERE token_hash = ? AND expiry_ts >= ?",
                ST_ARGS(ST_S(token_hash), ST_I(now))) != DB_OK)
        goto out;
    r = st->drv->step(s);
    if (r == DB_ROW) {
        *user_id = st_dup_col(st, s, 0);
        rc = STORE_OK;
    } else if (r == DB_DONE) {
        rc = STORE_NOT_FOUND;
    }
out:
    st->drv->finalize(s);
    st_reader_put(st, db);
    return rc;
}
