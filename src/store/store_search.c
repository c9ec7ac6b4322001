/* Server-side search (modules/search.rst): the term language, the index kept in step with
 * events, and the search itself. The first half is portable; everything that is SQLite's
 * own (FTS5 tables, MATCH syntax, bm25, highlight) is in the section marked "SQLite dialect"
 * below, which a PostgreSQL driver replaces with the same functions over tsvector. */
#include "store/store_search.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_internal.h"

/* ---- the term language (portable, pure) ---- */

/* Decodes one UTF-8 sequence at s (not at its end); returns its length. Invalid bytes come
 * back one at a time as U+FFFD. */
static size_t
utf8_next(const char *s, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;

    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if ((u[0] & 0xE0) == 0xC0 && (u[1] & 0xC0) == 0x80) {
        *cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
        return 2;
    }
    if ((u[0] & 0xF0) == 0xE0 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
        *cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        return 3;
    }
    if ((u[0] & 0xF8) == 0xF0 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 &&
        (u[3] & 0xC0) == 0x80) {
        *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
              (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

bool
st_search_token_char(uint32_t cp)
{
    /* Blocks of punctuation, symbols, spaces and emoji, which unicode61 treats as
     * separators (its token characters are the categories L*, N* and Co). */
    static const struct {
        uint32_t lo, hi;
    } separators[] = {
        {0x80, 0xA9},       {0xAB, 0xB1},       {0xB4, 0xB4},     {0xB6, 0xB8},
        {0xBB, 0xBB},       {0xBF, 0xBF},       {0xD7, 0xD7},     {0xF7, 0xF7},
        {0x2000, 0x206F},   {0x20A0, 0x20CF},   {0x2190, 0x245F}, {0x2500, 0x2775},
        {0x2794, 0x2BFF},   {0x2E00, 0x2E7F},   {0x3000, 0x3004}, {0x3008, 0x3020},
        {0x3030, 0x3030},   {0xFE00, 0xFE1F},   {0xFE30, 0xFE6F}, {0xFF00, 0xFF0F},
        {0xFF1A, 0xFF20},   {0xFF3B, 0xFF40},   {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF},
        {0x1F000, 0x1FAFF}, {0xE0000, 0xE007F},
    };

    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    for (size_t i = 0; i < sizeof(separators) / sizeof(separators[0]); i++)
        if (cp >= separators[i].lo && cp <= separators[i].hi)
            return false;
    return true;
}

/* Whitespace separates words (Unicode spaces too, so "a\u3000b" is two words). */
static size_t
space_at(const char *s)
{
    uint32_t cp;
    size_t len = utf8_next(s, &cp);

    if (cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200B) || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return len;
    return 0;
}

static bool
has_token(const char *s, size_t len)
{
    uint32_t cp;

    for (size_t i = 0; i < len;) {
        i += utf8_next(s + i, &cp);
        if (st_search_token_char(cp))
            return true;
    }
    return false;
}

static void
add_item(struct search_group *g, const char *text, size_t len, bool prefix, bool negated)
{
    if (!has_token(text, len))
        return;
    g->items = xrealloc(g->items, (g->n + 1) * sizeof(*g->items));
    g->items[g->n++] = (struct search_item){xstrndup(text, len), prefix, negated};
}

static void
close_group(struct search_terms *t, struct search_group *g)
{
    if (g->n == 0)
        return;
    t->groups = xrealloc(t->groups, (t->n + 1) * sizeof(*t->groups));
    t->groups[t->n++] = *g;
    memset(g, 0, sizeof(*g));
}

static bool
word_is(const char *w, size_t len, const char *kw)
{
    return len == strlen(kw) && strncasecmp(w, kw, len) == 0;
}

void
st_search_parse(const char *term, struct search_terms *out)
{
    struct search_group cur = {0};
    bool negate_next = false; /* a lone "-" before a quoted phrase */
    const char *p = term;
    size_t sp;

    memset(out, 0, sizeof(*out));
    while (*p) {
        if (*p == '"') {
            /* An unclosed quote runs to the end (as Synapse splits on '"'). */
            const char *end = strchr(p + 1, '"');
            size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
            add_item(&cur, p + 1, len, false, negate_next);
            negate_next = false;
            p += 1 + len + (end ? 1 : 0);
            continue;
        }
        if ((sp = space_at(p)) > 0) {
            p += sp;
            continue;
        }
        const char *w = p;
        uint32_t cp;
        while (*p && *p != '"' && !space_at(p))
            p += utf8_next(p, &cp);
        size_t len = (size_t)(p - w);
        bool negated = false, prefix = false;
        if (word_is(w, len, "or")) {
            close_group(out, &cur);
            negate_next = false;
            continue;
        }
        if (word_is(w, len, "and"))
            continue;
        if (w[0] == '-') {
            negated = true;
            w++;
            len--;
            if (len == 0) {
                negate_next = true;
                continue;
            }
        }
        while (len > 0 && w[len - 1] == '*') {
            prefix = true;
            len--;
        }
        add_item(&cur, w, len, prefix, negated || negate_next);
        negate_next = false;
    }
    close_group(out, &cur);
}

void
st_search_terms_clear(struct search_terms *t)
{
    for (size_t g = 0; g < t->n; g++) {
        for (size_t i = 0; i < t->groups[g].n; i++)
            free(t->groups[g].items[i].text);
        free(t->groups[g].items);
    }
    free(t->groups);
    memset(t, 0, sizeof(*t));
}

/* ---- portable queries ---- */

void
store_history_rows_free(struct store_history_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].room_id);
        free(rows[i].value);
    }
    free(rows);
}

static void
fill_history_row(struct store *st, struct db_stmt *s, void *item)
{
    struct store_history_row *h = item;
    h->room_id = st_dup_col(st, s, 0);
    h->value = st_dup_col(st, s, 1);
    h->redacted = !st->drv->col_is_null(s, 2);
    h->from_pos = st->drv->col_int64(s, 3);
    h->to_pos = st->drv->col_is_null(s, 4) ? INT64_MAX : st->drv->col_int64(s, 4);
}

static void
clear_history_row(void *item)
{
    struct store_history_row *h = item;
    free(h->room_id);
    free(h->value);
}

static enum store_rc
history_rows(struct store *st, const char *sql, const struct st_arg *args, size_t nargs,
             struct store_history_row **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(st, sql, args, nargs, sizeof(**out), fill_history_row,
                                    clear_history_row, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_user_room_histories(struct store *st, const char *user_id, struct store_history_row **members,
                          size_t *nmembers, struct store_history_row **visibility,
                          size_t *nvisibility, char ***forgotten, size_t *nforgotten)
{
    void *list = NULL;
    enum store_rc rc;

    *visibility = NULL;
    *nvisibility = 0;
    *forgotten = NULL;
    *nforgotten = 0;
    /* Every membership ever leaves a current row (a "leave" after leaving), so the rooms come
     * from the current rows, which have an index; each room's history then from
     * room_state_history. */
    rc = history_rows(st,
                      "SELECT room_id, membership, NULL, from_pos, to_pos FROM room_state "
                      "WHERE type = 'm.room.member' AND state_key = ? AND room_id IN "
                      "(SELECT room_id FROM room_state WHERE state_key = ? AND "
                      "type = 'm.room.member' AND to_pos IS NULL) ORDER BY room_id, from_pos",
                      ST_ARGS(ST_S(user_id), ST_S(user_id)), members, nmembers);
    if (rc == STORE_OK)
        rc = history_rows(st,
                          "SELECT rs.room_id, e.json, e.redacted_by, rs.from_pos, rs.to_pos "
                          "FROM room_state rs JOIN events e ON e.event_id = rs.event_id "
                          "WHERE rs.type = 'm.room.history_visibility' AND rs.state_key = '' "
                          "AND rs.room_id IN (SELECT room_id FROM room_state WHERE "
                          "state_key = ? AND type = 'm.room.member' AND to_pos IS NULL) "
                          "ORDER BY rs.room_id, rs.from_pos",
                          ST_ARGS(ST_S(user_id)), visibility, nvisibility);
    if (rc == STORE_OK) {
        rc = st_read_list(st, "SELECT room_id FROM room_forgotten WHERE user_id = ?",
                          ST_ARGS(ST_S(user_id)), sizeof(char *), st_fill_text, st_clear_text,
                          &list, nforgotten);
        *forgotten = list;
    }
    if (rc != STORE_OK) {
        store_history_rows_free(*members, *nmembers);
        store_history_rows_free(*visibility, *nvisibility);
        *members = *visibility = NULL;
        *nmembers = *nvisibility = 0;
    }
    return rc;
}

static void
fill_event(struct store *st, struct db_stmt *s, void *item)
{
    struct store_event *e = item;
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

enum store_rc
store_event_at(struct store *st, int64_t pos, struct store_event *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st,
                       "SELECT event_id, room_id, type, state_key, sender, json, redacted_by, "
                       "stream_pos, depth, unsigned_json FROM events WHERE stream_pos = ?",
                       ST_ARGS(ST_I(pos)), fill_event, out);
}

/* ======================================================================================
 * SQLite dialect (FTS5). Everything below is SQLite's own; a PostgreSQL driver provides
 * st_search_fts5_query's counterpart (tsquery), the migration, fts_insert,
 * st_search_unindex_event, store_search_events and store_search_highlights over tsvector.
 *
 * The index is an FTS5 table with one column per key (body, name, topic), holding its own
 * copy of the text (so a redaction can delete by rowid and highlight() can find the words).
 * Tokenizer: unicode61 with remove_diacritics 2. unicode61 cuts tokens by Unicode category,
 * so Cyrillic, Greek, Arabic, Hebrew, Devanagari... are words like Latin ones, and folds case
 * for all of them; remove_diacritics 2 makes "cafe" find "Café" and "naive" find "naïve"
 * (Latin letters only; Greek tonos stays, so "ΚΑΛΗΜΈΡΑ" finds "καλημέρα" but "καλημερα" does
 * not). No stemming (porter is English-only). Scripts written without spaces (Chinese,
 * Japanese) index a whole run as one token: only whole runs or prefixes ("日本*") match.
 *
 * rowid = room number << 40 | stream position. A room's number comes from
 * event_search_rooms; with the room in the rowid, restricting a search to the user's rooms
 * and visible position ranges needs no join with events (one IN on rowid >> 40, then a range
 * check per row), which keeps a one-word query over a million messages in milliseconds.
 * Limits: 2^40 positions, 2^23 rooms; beyond them events are left out of the index (logged).
 * ====================================================================================== */

#define ROOM_SHIFT 40
#define POS_MASK ((INT64_C(1) << ROOM_SHIFT) - 1)
#define MAX_NID ((INT64_C(1) << (63 - ROOM_SHIFT)) - 1)

const char st_search_migration_sqlite[] =
    "CREATE TABLE event_search_rooms ("
    "  room_id TEXT PRIMARY KEY,"
    "  nid BIGINT NOT NULL UNIQUE);"
    "INSERT INTO event_search_rooms (room_id, nid)"
    "  SELECT room_id, ROW_NUMBER() OVER (ORDER BY created_ts, room_id) FROM rooms;"
    "CREATE VIRTUAL TABLE event_search USING fts5(body, name, topic,"
    "  tokenize = 'unicode61 remove_diacritics 2');"
    /* The backfill: what the catch-up indexes, for the events already stored. */
    "INSERT INTO event_search (rowid, body, name, topic)"
    "  SELECT r.nid * 1099511627776 + e.stream_pos,"
    "    CASE WHEN e.type = 'm.room.message' THEN json_extract(e.json, '$.content.body') END,"
    "    CASE WHEN e.type = 'm.room.name' THEN json_extract(e.json, '$.content.name') END,"
    "    CASE WHEN e.type = 'm.room.topic' THEN json_extract(e.json, '$.content.topic') END"
    "  FROM events e JOIN event_search_rooms r ON r.room_id = e.room_id"
    "  WHERE e.redacted_by IS NULL AND e.stream_pos < 1099511627776 AND r.nid < 8388608"
    "    AND ((e.type = 'm.room.message' AND json_type(e.json, '$.content.body') = 'text')"
    "      OR (e.type = 'm.room.name' AND json_type(e.json, '$.content.name') = 'text')"
    "      OR (e.type = 'm.room.topic' AND json_type(e.json, '$.content.topic') = 'text'))"
    "  ORDER BY 1;";

/* ---- PostgreSQL's side of the same (the one other dialect) ----
 * A table with the text per key and a tsvector weighted A (body), B (name), C (topic), so a
 * query restricts keys by weight; a GIN index on it. The text search configuration is
 * 'simple' (no stemming, case folded) behind the unaccent dictionary, which folds diacritics
 * as SQLite's remove_diacritics does (unaccent ships with PostgreSQL and is a trusted
 * extension: the database owner may create it). Same rowids as SQLite's. */
/* PostgreSQL's parser keeps host names, URLs, e-mail addresses and numbers with dots whole
 * ("example.com/x" is one token): so ASCII punctuation becomes spaces first, in the text and
 * in the query (tsq_item), and words are cut as unicode61 cuts them on SQLite. */
#define PG_PUNCT "'!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'"
#define PG_SPACES "'                                '" /* one for each of the 32 above */
#define PG_WORDS(x) "translate(" x ", " PG_PUNCT ", " PG_SPACES ")"
#define PG_WEIGHT(x, w) "setweight(to_tsvector('hearth_search', " PG_WORDS(x) "), '" w "')"
#define PG_VEC_OF(b, n, t) PG_WEIGHT(b, "A") " || " PG_WEIGHT(n, "B") " || " PG_WEIGHT(t, "C")
#define PG_VEC PG_VEC_OF("COALESCE(?, '')", "COALESCE(?, '')", "COALESCE(?, '')")
#define PG_VEC_COLS PG_VEC_OF("COALESCE(body, '')", "COALESCE(name, '')", "COALESCE(topic, '')")
#define PG_HL_BODY PG_WORDS("body")
#define PG_HL_NAME PG_WORDS("name")
#define PG_HL_TOPIC PG_WORDS("topic")

#define PG_BACKFILL                                                                                \
    "INSERT INTO event_search (rowid, body, name, topic, vec)"                                     \
    "  SELECT rowid, body, name, topic, " PG_VEC_COLS                                              \
    "  FROM (SELECT r.nid * 1099511627776 + e.stream_pos AS rowid,"                                \
    "      CASE WHEN e.type = 'm.room.message' THEN CAST(e.json AS jsonb) -> 'content' ->> "       \
    "'body' END AS body,"                                                                          \
    "      CASE WHEN e.type = 'm.room.name' THEN CAST(e.json AS jsonb) -> 'content' ->> "          \
    "'name' END AS name,"                                                                          \
    "      CASE WHEN e.type = 'm.room.topic' THEN CAST(e.json AS jsonb) -> 'content' ->> "         \
    "'topic' END AS topic"                                                                         \
    "    FROM events e JOIN event_search_rooms r ON r.room_id = e.room_id"                         \
    "    WHERE e.redacted_by IS NULL AND e.stream_pos < 1099511627776 AND r.nid < 8388608"         \
    "      AND e.type IN ('m.room.message', 'm.room.name', 'm.room.topic')) t"                     \
    "  WHERE (body IS NOT NULL OR name IS NOT NULL OR topic IS NOT NULL)"                          \
    "    AND NOT EXISTS (SELECT 1 FROM event_search s WHERE s.rowid = t.rowid);"

const char st_search_migration_pg[] =
    "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;"
    "CREATE TEXT SEARCH CONFIGURATION hearth_search (COPY = pg_catalog.simple);"
    "ALTER TEXT SEARCH CONFIGURATION hearth_search ALTER MAPPING FOR hword, hword_part, word "
    "  WITH public.unaccent, pg_catalog.simple;"
    "CREATE TABLE event_search_rooms ("
    "  room_id TEXT PRIMARY KEY,"
    "  nid BIGINT NOT NULL UNIQUE);"
    "INSERT INTO event_search_rooms (room_id, nid)"
    "  SELECT room_id, ROW_NUMBER() OVER (ORDER BY created_ts, room_id) FROM rooms;"
    "CREATE TABLE event_search ("
    "  rowid BIGINT PRIMARY KEY,"
    "  body TEXT,"
    "  name TEXT,"
    "  topic TEXT,"
    "  vec tsvector NOT NULL);"
    "CREATE INDEX event_search_vec ON event_search USING GIN (vec);" PG_BACKFILL;

const char st_search_words_migration_pg[] = "UPDATE event_search SET vec = " PG_VEC_COLS ";";

/* port-db copies event_search_rooms but not the index: PostgreSQL builds its own. The mark
 * (issue 3) comes along as it was: events after it are indexed by the first catch-up, which
 * passes over those this backfill has (fts_insert: ON CONFLICT) and numbers the rooms that
 * had nothing indexed yet. */
const char st_search_port_pg[] = PG_BACKFILL;

static bool
is_pg(const struct store *st)
{
    return db_is_pg(st->drv);
}

/* A growing string. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* An FTS5 string: inside double quotes nothing is syntax, and a '"' is written twice. Its
 * tokens form a phrase; a trailing " *" makes the last one a prefix. */
static void
fts5_item(struct sbuf *b, const struct search_item *it)
{
    sb_str(b, "\"");
    for (const char *p = it->text; *p; p++) {
        sb_add(b, p, 1);
        if (*p == '"')
            sb_add(b, "\"", 1);
    }
    sb_str(b, it->prefix ? "\" *" : "\"");
}

static void
fts5_items(struct sbuf *b, const struct search_group *g, bool negated, const char *op)
{
    bool first = true;
    for (size_t i = 0; i < g->n; i++) {
        if (g->items[i].negated != negated)
            continue;
        if (!first)
            sb_str(b, op);
        fts5_item(b, &g->items[i]);
        first = false;
    }
}

char *
st_search_fts5_query(const struct search_terms *t, unsigned keys)
{
    static const char *const cols[] = {"body", "name", "topic"};
    struct sbuf b = {0};
    size_t written = 0;

    if (!(keys & STORE_SEARCH_ALL_KEYS))
        return NULL;
    /* A column filter in front of a parenthesised expression applies to all of it. */
    sb_str(&b, "{");
    for (size_t i = 0, n = 0; i < 3; i++)
        if (keys & (1u << i)) {
            sb_str(&b, n++ ? " " : "");
            sb_str(&b, cols[i]);
        }
    sb_str(&b, "} : (");
    for (size_t g = 0; g < t->n; g++) {
        const struct search_group *grp = &t->groups[g];
        bool pos = false, neg = false;
        for (size_t i = 0; i < grp->n; i++)
            *(grp->items[i].negated ? &neg : &pos) = true;
        if (!pos)
            continue; /* FTS5's NOT needs something to subtract from */
        sb_str(&b, written++ ? " OR (" : "(");
        fts5_items(&b, grp, false, " AND ");
        if (neg) {
            sb_str(&b, " NOT (");
            fts5_items(&b, grp, true, " OR ");
            sb_str(&b, ")");
        }
        sb_str(&b, ")");
    }
    sb_str(&b, ")");
    if (written == 0) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* The same terms as a to_tsquery() text: each item a quoted string (to_tsquery makes the
 * words of one a phrase), ":*" for a prefix, weights for the keys asked. */
static void
tsq_item(struct sbuf *b, const struct search_item *it, const char *weights)
{
    sb_str(b, "'");
    for (const char *p = it->text; *p; p++) /* as PG_WORDS, which takes out ' and \ too */
        sb_add(b, ispunct((unsigned char)*p) ? " " : p, 1);
    sb_str(b, "'");
    sb_str(b, it->prefix ? ":*" : ":");
    sb_str(b, weights);
}

static char *
st_search_tsquery(const struct search_terms *t, unsigned keys)
{
    char weights[4] = {0};
    size_t nw = 0, written = 0;
    struct sbuf b = {0};

    if (keys & STORE_SEARCH_BODY)
        weights[nw++] = 'A';
    if (keys & STORE_SEARCH_NAME)
        weights[nw++] = 'B';
    if (keys & STORE_SEARCH_TOPIC)
        weights[nw++] = 'C';
    if (nw == 0)
        return NULL;
    for (size_t g = 0; g < t->n; g++) {
        const struct search_group *grp = &t->groups[g];
        bool first = true;
        for (size_t i = 0; i < grp->n && first; i++)
            first = grp->items[i].negated;
        if (first)
            continue; /* nothing positive: as FTS5's NOT, it matches nothing */
        sb_str(&b, written++ ? " | (" : "(");
        first = true;
        for (size_t i = 0; i < grp->n; i++) {
            if (!first)
                sb_str(&b, " & ");
            if (grp->items[i].negated)
                sb_str(&b, "!");
            tsq_item(&b, &grp->items[i], weights);
            first = false;
        }
        sb_str(&b, ")");
    }
    if (written == 0) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *
search_query_text(const struct store *st, const struct search_terms *t, unsigned keys)
{
    return is_pg(st) ? st_search_tsquery(t, keys) : st_search_fts5_query(t, keys);
}

void
st_search_forget_nids(struct store *st)
{
    if (!st->nid_made)
        return; /* every cached number was read from the database, not made: still valid */
    st->nid_made = false;
    for (size_t i = 0; i < sizeof(st->nids) / sizeof(st->nids[0]); i++) {
        free(st->nids[i].room_id);
        st->nids[i].room_id = NULL;
    }
}

static struct st_nid_slot *
nid_slot(struct store *st, const char *room_id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = room_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &st->nids[h % (sizeof(st->nids) / sizeof(st->nids[0]))];
}

/* The room's number on the writer, made on first use. Cached: on PostgreSQL each lookup is a
 * round trip of the serial write path. */
static enum store_rc
room_nid(struct store *st, const char *room_id, int64_t *nid)
{
    static const char *const sql = "SELECT nid FROM event_search_rooms WHERE room_id = ?";
    struct st_nid_slot *slot = nid_slot(st, room_id);
    struct db_stmt *s = NULL;
    enum db_rc r;

    if (slot->room_id && strcmp(slot->room_id, room_id) == 0) {
        *nid = slot->nid;
        return STORE_OK;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (st_prep(st, st->writer, &s, sql, ST_ARGS(ST_S(room_id))) != DB_OK)
            return STORE_ERR;
        r = st->drv->step(s);
        if (r == DB_ROW)
            *nid = st->drv->col_int64(s, 0);
        st->drv->finalize(s);
        if (r == DB_ROW) {
            free(slot->room_id);
            slot->room_id = xstrdup(room_id);
            slot->nid = *nid;
            return STORE_OK;
        }
        if (r != DB_DONE || attempt > 0)
            return STORE_ERR;
        /* Only the batch leader writes, so MAX + 1 is not raced. */
        st->nid_made = true;
        if (st_run(st, st->writer,
                   "INSERT INTO event_search_rooms (room_id, nid) "
                   "SELECT ?, COALESCE(MAX(nid), 0) + 1 FROM event_search_rooms",
                   ST_ARGS(ST_S(room_id))) != DB_OK)
            return STORE_ERR;
    }
    return STORE_ERR;
}

static enum store_rc
fts_insert(struct store *st, const char *room_id, int64_t pos, unsigned key, const char *value)
{
    int64_t nid = 0;
    enum store_rc rc = room_nid(st, room_id, &nid);

    if (rc != STORE_OK)
        return rc;
    if (nid > MAX_NID || pos > POS_MASK || pos < 0) {
        log_warn("search: event at position %lld of room %s is beyond the index's range",
                 (long long)pos, room_id);
        return STORE_OK;
    }
    const char *body = key == STORE_SEARCH_BODY ? value : NULL;
    const char *name = key == STORE_SEARCH_NAME ? value : NULL;
    const char *topic = key == STORE_SEARCH_TOPIC ? value : NULL;
    if (is_pg(st))
        return st_rc(st_defer(st,
                              "INSERT INTO event_search (rowid, body, name, topic, vec) VALUES "
                              "(?, ?, ?, ?, " PG_VEC ") ON CONFLICT (rowid) DO NOTHING",
                              ST_ARGS(ST_I(nid << ROOM_SHIFT | pos), ST_S(body), ST_S(name),
                                      ST_S(topic), ST_S(body), ST_S(name), ST_S(topic))));
    return st_rc(
        st_defer(st, "INSERT INTO event_search (rowid, body, name, topic) VALUES (?, ?, ?, ?)",
                 ST_ARGS(ST_I(nid << ROOM_SHIFT | pos), ST_S(body), ST_S(name), ST_S(topic))));
}

enum store_rc
st_search_unindex_event(struct store *st, const char *room_id, const char *event_id)
{
    /* An event that was never indexed has no row: nothing is deleted. */
    return st_rc(st_defer(st,
                          "DELETE FROM event_search WHERE rowid = (SELECT r.nid * 1099511627776 "
                          "+ e.stream_pos FROM events e JOIN event_search_rooms r ON "
                          "r.room_id = e.room_id WHERE e.event_id = ? AND e.room_id = ?)",
                          ST_ARGS(ST_S(event_id), ST_S(room_id))));
}

/* ---- deferred indexing (issue 3, send speed) ----
 * A send's transaction does not touch the index: FTS5 makes a new segment per transaction
 * that writes to it, which cost a sequential send 4 of its ~14 WAL pages. Instead a write job
 * indexes every event after the stored mark (counters 'search_indexed') and moves the mark in
 * the same transaction: after a crash the index and the mark agree, and the next catch-up
 * indexes what is missing. Redacted events are skipped (a redaction of an event already
 * indexed deletes its row, store_rooms.c), so the order of redaction and indexing does not
 * matter. */

/* Events indexed per job: one transaction holds the writer for a few milliseconds at most. */
#define CATCH_UP_BATCH 512
/* The mark is stored when the job indexed something, or when it passes this many positions
 * with nothing to index (so a restart does not rescan a long run of other events). */
#define CATCH_UP_MARK_GAP 1024

struct catch_up_row {
    int64_t pos;
    char *room_id, *type, *text; /* text: NULL when the event has none to index */
};

/* The events after the mark in order, each with its searchable text: content.body of
 * m.room.message, content.name of m.room.name, content.topic of m.room.topic, when it is a
 * string (m.room.encrypted and every other type have no text to search; an encrypted event's
 * content is ciphertext). The text is taken out in SQL: parsing the whole event with jansson
 * (signatures, hashes, prev_events) cost five times what indexing it does. The dialect pair:
 * SQLite's json_type/json_extract, PostgreSQL's jsonb. */
static const char *
catch_up_select(const struct store *st)
{
    return is_pg(st)
               ? "SELECT stream_pos, room_id, type, CASE WHEN jsonb_typeof(j -> 'content' -> k) "
                 "= 'string' THEN j -> 'content' ->> k END FROM (SELECT stream_pos, room_id, "
                 "type, CAST(json AS jsonb) AS j, CASE type WHEN 'm.room.message' THEN 'body' "
                 "WHEN 'm.room.name' THEN 'name' ELSE 'topic' END AS k FROM events WHERE "
                 "stream_pos > ? AND stream_pos <= ? AND redacted_by IS NULL AND type IN "
                 "('m.room.message', 'm.room.name', 'm.room.topic') ORDER BY stream_pos LIMIT ?) "
                 "t ORDER BY stream_pos"
               : "SELECT stream_pos, room_id, type, CASE WHEN json_type(json, p) = 'text' THEN "
                 "json_extract(json, p) END FROM (SELECT stream_pos, room_id, type, json, CASE "
                 "type WHEN 'm.room.message' THEN '$.content.body' WHEN 'm.room.name' THEN "
                 "'$.content.name' ELSE '$.content.topic' END AS p FROM events WHERE stream_pos "
                 "> ? AND stream_pos <= ? AND redacted_by IS NULL AND type IN ('m.room.message', "
                 "'m.room.name', 'm.room.topic') ORDER BY stream_pos LIMIT ?) t ORDER BY "
                 "stream_pos";
}

static unsigned
search_key(const char *type)
{
    if (strcmp(type, "m.room.message") == 0)
        return STORE_SEARCH_BODY;
    if (strcmp(type, "m.room.name") == 0)
        return STORE_SEARCH_NAME;
    return STORE_SEARCH_TOPIC;
}

static enum store_rc
read_mark(struct store *st, struct db *db, int64_t *mark)
{
    struct db_stmt *s = NULL;
    enum db_rc r =
        st_prep(st, db, &s, "SELECT value FROM counters WHERE name = 'search_indexed'", ST_NOARGS);

    if (r == DB_OK)
        r = st->drv->step(s);
    *mark = r == DB_ROW ? st->drv->col_int64(s, 0) : 0;
    st->drv->finalize(s);
    return r == DB_ROW ? STORE_OK : STORE_ERR;
}

enum store_rc
st_search_load_mark(struct store *st)
{
    int64_t mark = 0;
    enum store_rc rc = read_mark(st, st->writer, &mark);

    atomic_store(&st->search_indexed, mark);
    return rc;
}

/* Raises st->search_indexed to mark (never lowers it: jobs may finish out of order). */
static void
publish_mark(struct store *st, int64_t mark)
{
    int64_t cur = atomic_load(&st->search_indexed);
    while (cur < mark && !atomic_compare_exchange_weak(&st->search_indexed, &cur, mark))
        ;
}

/* The write job: indexes up to CATCH_UP_BATCH events after the stored mark, up to the last
 * position handed out (every lower one is committed, earlier in this transaction, or a gap),
 * and sets *ctx (int64_t) to the position indexed up to. */
static enum store_rc
catch_up_job(struct store *st, void *ctx)
{
    int64_t *done = ctx, mark = 0, upto = st->stream_next, reached;
    struct catch_up_row *rows = xcalloc(CATCH_UP_BATCH, sizeof(*rows));
    struct db_stmt *s = NULL;
    size_t n = 0;
    enum store_rc rc = read_mark(st, st->writer, &mark);
    enum db_rc r = DB_DONE;

    if (rc != STORE_OK || mark >= upto) {
        *done = mark;
        goto out;
    }
    /* All rows first: a pipelining driver cannot interleave a read with the inserts. */
    rc = STORE_ERR;
    if (st_prep(st, st->writer, &s, catch_up_select(st),
                ST_ARGS(ST_I(mark), ST_I(upto), ST_I(CATCH_UP_BATCH))) != DB_OK)
        goto out;
    while (n < CATCH_UP_BATCH && (r = st->drv->step(s)) == DB_ROW) {
        rows[n].pos = st->drv->col_int64(s, 0);
        rows[n].room_id = st_dup_col(st, s, 1);
        rows[n].type = st_dup_col(st, s, 2);
        rows[n].text = st_dup_col(st, s, 3);
        n++;
    }
    st->drv->finalize(s);
    if (r != DB_ROW && r != DB_DONE)
        goto out;
    rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++)
        if (rows[i].text)
            rc = fts_insert(st, rows[i].room_id, rows[i].pos, search_key(rows[i].type),
                            rows[i].text);
    /* A full batch may have more after its last row. */
    reached = n == CATCH_UP_BATCH ? rows[n - 1].pos : upto;
    if (rc == STORE_OK && (n > 0 || reached - mark >= CATCH_UP_MARK_GAP))
        rc = st_rc(st_defer(st, "UPDATE counters SET value = ? WHERE name = 'search_indexed'",
                            ST_ARGS(ST_I(reached))));
    *done = reached;
out:
    for (size_t i = 0; i < n; i++) {
        free(rows[i].room_id);
        free(rows[i].type);
        free(rows[i].text);
    }
    free(rows);
    return rc;
}

enum store_rc
store_search_catch_up(struct store *st, size_t max_jobs, bool *current)
{
    int64_t target = atomic_load(&st->stream_committed);

    for (size_t jobs = 0; atomic_load(&st->search_indexed) < target; jobs++) {
        int64_t done = 0;
        enum store_rc rc;
        if (max_jobs && jobs == max_jobs) {
            if (current)
                *current = false;
            return STORE_OK;
        }
        if ((rc = st_write(st, catch_up_job, &done)) != STORE_OK)
            return rc;
        publish_mark(st, done);
    }
    if (current)
        *current = true;
    return STORE_OK;
}

/* A visible range of one room, in rowids: (lo, hi]. */
struct span {
    int64_t lo, hi;
    const char *room_id;
};

static int
cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

struct room_nid {
    char *room_id;
    int64_t nid;
};

static void
fill_room_nid(struct store *st, struct db_stmt *s, void *item)
{
    struct room_nid *rn = item;
    rn->room_id = st_dup_col(st, s, 0);
    rn->nid = st->drv->col_int64(s, 1);
}

static void
clear_room_nid(void *item)
{
    free(((struct room_nid *)item)->room_id);
}

static int
cmp_room_nid(const void *a, const void *b)
{
    return strcmp(((const struct room_nid *)a)->room_id, ((const struct room_nid *)b)->room_id);
}

/* The query's ranges as sorted rowid spans (*nids: the JSON list of room numbers), for the
 * rooms that have a number (a room without one has nothing indexed). */
static enum store_rc
query_spans(struct store *st, const struct store_search_query *q, struct span **spans, size_t *n,
            char **nids)
{
    json_t *ids = json_array();
    struct room_nid *map = NULL;
    void *list = NULL;
    size_t nmap = 0;
    struct sbuf b = {0};
    char *ids_text;
    enum store_rc rc;

    *spans = NULL;
    *n = 0;
    *nids = NULL;
    for (size_t i = 0; i < q->n_ranges; i++)
        json_array_append_new(ids, json_string(q->ranges[i].room_id));
    ids_text = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    rc = st_read_list(st,
                      is_pg(st) ? "SELECT room_id, nid FROM event_search_rooms WHERE room_id IN "
                                  "(SELECT jsonb_array_elements_text(CAST(? AS jsonb)))"
                                : "SELECT room_id, nid FROM event_search_rooms WHERE room_id IN "
                                  "(SELECT value FROM json_each(?))",
                      ST_ARGS(ST_S(ids_text)), sizeof(*map), fill_room_nid, clear_room_nid, &list,
                      &nmap);
    free(ids_text);
    map = list;
    if (rc != STORE_OK)
        return rc;
    if (nmap > 1)
        qsort(map, nmap, sizeof(*map), cmp_room_nid);
    *spans = xcalloc(q->n_ranges + 1, sizeof(**spans));
    sb_str(&b, "[");
    for (size_t i = 0; i < q->n_ranges; i++) {
        const struct store_search_range *r = &q->ranges[i];
        struct room_nid key = {(char *)r->room_id, 0}, *found;
        int64_t after = r->after_pos < 0 ? 0 : r->after_pos;
        int64_t upto = r->upto_pos > POS_MASK ? POS_MASK : r->upto_pos;
        char num[32];
        found = nmap ? bsearch(&key, map, nmap, sizeof(*map), cmp_room_nid) : NULL;
        if (!found || found->nid > MAX_NID || after >= upto)
            continue;
        (*spans)[(*n)++] = (struct span){found->nid << ROOM_SHIFT | after,
                                         found->nid << ROOM_SHIFT | upto, r->room_id};
        snprintf(num, sizeof(num), "%s%lld", b.len > 1 ? "," : "", (long long)found->nid);
        sb_str(&b, num);
    }
    sb_str(&b, "]");
    if (*n > 1)
        qsort(*spans, *n, sizeof(**spans), cmp_span);
    *nids = b.p;
    for (size_t i = 0; i < nmap; i++)
        free(map[i].room_id);
    free(map);
    return STORE_OK;
}

/* The span holding rowid, or NULL. */
static const struct span *
span_of(const struct span *spans, size_t n, int64_t rowid)
{
    size_t lo = 0, hi = n;
    /* The last span starting below rowid. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (spans[mid].lo < rowid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || rowid > spans[lo - 1].hi)
        return NULL;
    return &spans[lo - 1];
}

enum store_rc
store_search_events(struct store *st, const struct store_search_query *q,
                    struct store_search_hit **out, size_t *n, int64_t *count)
{
    /* bm25() is lower for better matches; the API wants higher, so rank = -bm25 (>= 0). The
     * whole match set in the user's rooms is read, to count it and to skip earlier pages. */
    static const char *const by_rank =
        "SELECT rowid, bm25(event_search) AS score FROM event_search WHERE event_search MATCH ? "
        "AND (rowid >> 40) IN (SELECT value FROM json_each(?)) "
        "ORDER BY score, rowid & 1099511627775 DESC";
    static const char *const by_recent =
        "SELECT rowid, bm25(event_search) FROM event_search WHERE event_search MATCH ? "
        "AND (rowid >> 40) IN (SELECT value FROM json_each(?)) "
        "ORDER BY rowid & 1099511627775 DESC";
    /* PostgreSQL: ts_rank is higher for better matches; negated to sort as bm25 does. */
    static const char *const pg_by_rank =
        "SELECT rowid, -ts_rank(vec, q) AS score FROM event_search, "
        "to_tsquery('hearth_search', ?) q WHERE vec @@ q AND (rowid >> 40) IN "
        "(SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS BIGINT)) "
        "ORDER BY score, rowid & 1099511627775 DESC";
    static const char *const pg_by_recent =
        "SELECT rowid, -ts_rank(vec, q) FROM event_search, to_tsquery('hearth_search', ?) q "
        "WHERE vec @@ q AND (rowid >> 40) IN "
        "(SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS BIGINT)) "
        "ORDER BY rowid & 1099511627775 DESC";
    struct search_terms terms;
    struct span *spans = NULL;
    size_t nspans = 0, cap = 0;
    char *match = NULL, *nids = NULL;
    struct db *db = NULL;
    struct db_stmt *s = NULL;
    struct store_search_hit *hits = NULL;
    int64_t seen = 0;
    enum store_rc rc = STORE_ERR;
    enum db_rc r = DB_DONE;

    *out = NULL;
    *n = 0;
    *count = 0;
    st_search_parse(q->term, &terms);
    match = search_query_text(st, &terms, q->keys);
    st_search_terms_clear(&terms);
    if (!match || q->n_ranges == 0) {
        rc = STORE_OK;
        goto out;
    }
    if (query_spans(st, q, &spans, &nspans, &nids) != STORE_OK)
        goto out;
    if (nspans == 0) {
        rc = STORE_OK;
        goto out;
    }
    if (!(db = st_reader_get(st)) || st_prep(st, db, &s,
                                             is_pg(st) ? (q->by_rank ? pg_by_rank : pg_by_recent)
                                                       : (q->by_rank ? by_rank : by_recent),
                                             ST_ARGS(ST_S(match), ST_S(nids))) != DB_OK)
        goto out;
    while ((r = st->drv->step(s)) == DB_ROW) {
        int64_t rowid = st->drv->col_int64(s, 0), pos = rowid & POS_MASK;
        const struct span *sp = span_of(spans, nspans, rowid);
        if (!sp)
            continue;
        seen++;
        if (*n >= q->max || (q->by_rank ? seen <= q->skip : pos >= q->before_pos))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            hits = xrealloc(hits, cap * sizeof(*hits));
        }
        /* bm25 is a double; the driver reads integers and text. */
        const char *score = st->drv->col_text(s, 1);
        hits[(*n)++] =
            (struct store_search_hit){sp->room_id, pos, score ? -strtod(score, NULL) : 0};
    }
    if (r != DB_DONE)
        goto out;
    *count = seen;
    *out = hits;
    hits = NULL;
    rc = STORE_OK;
out:
    if (rc != STORE_OK)
        *n = 0;
    free(hits);
    st->drv->finalize(s);
    st_reader_put(st, db);
    free(spans);
    free(nids);
    free(match);
    return rc;
}

/* ts_headline's options: the same markers as SQLite's highlight(), every match marked. */
#define PG_MARKS "StartSel=\"\1\", StopSel=\"\2\", HighlightAll=true"

/* Adds the spans between \1 and \2 of a highlight() text to words (a {word: true} set). */
static void
collect_marked(const char *text, json_t *words)
{
    const char *p = text;

    while (p && (p = strchr(p, '\1'))) {
        const char *end = strchr(p + 1, '\2');
        if (!end)
            break;
        if (end > p + 1) {
            char *w = xstrndup(p + 1, (size_t)(end - p - 1));
            json_object_set_new(words, w, json_true());
            free(w);
        }
        p = end + 1;
    }
}

enum store_rc
store_search_highlights(struct store *st, const struct store_search_query *q,
                        const struct store_search_hit *hits, size_t n, char ***words,
                        size_t *nwords)
{
    struct search_terms terms;
    char *match;
    json_t *set = json_object(), *v;
    struct db *db = NULL;
    enum store_rc rc = STORE_OK;
    const char *w;
    size_t i = 0;

    *words = NULL;
    *nwords = 0;
    st_search_parse(q->term, &terms);
    match = search_query_text(st, &terms, q->keys);
    st_search_terms_clear(&terms);
    if (match && n > 0 && !(db = st_reader_get(st)))
        rc = STORE_ERR;
    for (size_t h = 0; match && db && h < n && rc == STORE_OK; h++) {
        struct db_stmt *s = NULL;
        enum db_rc r;
        enum db_rc pr;
        if (is_pg(st))
            pr = st_prep(
                st, db, &s,
                "SELECT ts_headline('hearth_search', " PG_HL_BODY ", q, ?), "
                "ts_headline('hearth_search', " PG_HL_NAME ", q, ?), "
                "ts_headline('hearth_search', " PG_HL_TOPIC ", q, ?) FROM event_search, "
                "to_tsquery('hearth_search', ?) q WHERE rowid = (SELECT nid * 1099511627776 + ? "
                "FROM event_search_rooms WHERE room_id = ?)",
                ST_ARGS(ST_S(PG_MARKS), ST_S(PG_MARKS), ST_S(PG_MARKS), ST_S(match),
                        ST_I(hits[h].pos), ST_S(hits[h].room_id)));
        else
            pr = st_prep(st, db, &s,
                         "SELECT highlight(event_search, 0, char(1), char(2)), "
                         "highlight(event_search, 1, char(1), char(2)), "
                         "highlight(event_search, 2, char(1), char(2)) FROM event_search "
                         "WHERE event_search MATCH ? AND rowid = (SELECT nid * 1099511627776 + ? "
                         "FROM event_search_rooms WHERE room_id = ?)",
                         ST_ARGS(ST_S(match), ST_I(hits[h].pos), ST_S(hits[h].room_id)));
        if (pr != DB_OK) {
            rc = STORE_ERR;
            break;
        }
        while ((r = st->drv->step(s)) == DB_ROW)
            for (int c = 0; c < 3; c++)
                collect_marked(st->drv->col_text(s, c), set);
        if (r != DB_DONE)
            rc = STORE_ERR;
        st->drv->finalize(s);
    }
    st_reader_put(st, db);
    free(match);
    if (rc == STORE_OK && json_object_size(set) > 0) {
        *words = xcalloc(json_object_size(set), sizeof(char *));
        json_object_foreach(set, w, v)
        {
            (*words)[i++] = xstrdup(w);
        }
        *nwords = i;
    }
    json_decref(set);
    return rc;
}
