/* Server-side search inside the store (store_search.c): the parsed form of a user's search
 * term, and the hooks that keep the index in step with events. Not for callers of store.h. */
#ifndef HEARTH_STORE_STORE_SEARCH_H
#define HEARTH_STORE_STORE_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A search term as the user typed it, parsed without any database syntax (the same
 * language on every database):
 *   words          all must match ("martians men" finds events holding both words)
 *   "a phrase"     the words next to each other, in this order
 *   word*          words starting with "word" (an extension: Synapse has no prefix search)
 *   -word          events without the word (also -"a phrase")
 *   x or y         either side ("or" in any case); "and" is the implicit operator
 * A word is cut into tokens where the tokenizer cuts ("foo-bar" is the phrase "foo bar");
 * words without any letter or digit (punctuation, emoji) are dropped, since they could
 * match nothing. Matching is case-insensitive and, for Latin letters, accent-insensitive. */
struct search_item {
    char *text;   /* owned; as typed */
    bool prefix;  /* the last token is a prefix */
    bool negated; /* must not match */
};

/* Alternatives joined by "or"; each group is the AND of its positive items, minus any of its
 * negative ones. A group without positive items matches nothing and is dropped. */
struct search_group {
    struct search_item *items;
    size_t n;
};

struct search_terms {
    struct search_group *groups;
    size_t n;
};

/* Parses term (borrowed) into *out (free with st_search_terms_clear). Never fails: a term
 * with nothing searchable gives no groups. */
void st_search_parse(const char *term, struct search_terms *out);
void st_search_terms_clear(struct search_terms *t);
/* True for a code point that the tokenizer keeps in tokens (letters, digits, private use);
 * false for separators (space, punctuation, symbols, emoji). Close to SQLite's unicode61
 * categories; only used to drop words that have no token at all. */
bool st_search_token_char(uint32_t cp);

/* ---- SQLite dialect (FTS5): the only place that knows FTS5 syntax ---- */
/* The FTS5 MATCH expression for the terms restricted to the keys (STORE_SEARCH_* bits),
 * every user word inside a quoted FTS5 string so that no input can be read as FTS5 syntax.
 * New string, or NULL when nothing can match (no groups, or no keys). */
char *st_search_fts5_query(const struct search_terms *t, unsigned keys);
/* Migration 11 on SQLite: the FTS5 table and its backfill from existing events. */
extern const char st_search_migration_sqlite[];
/* PostgreSQL's migration 11 (a tsvector table), and the index backfill port-db runs after
 * copying the rows. */
extern const char st_search_migration_pg[];
/* PostgreSQL: the index's words cut at ASCII punctuation, as on SQLite (migration 21). */
extern const char st_search_words_migration_pg[];
extern const char st_search_port_pg[];

/* Write hook, run by the event writer (store_rooms.c) inside its transaction on st->writer:
 * drops the event a redaction redacts from the index (if it was indexed yet; issue 3). */
enum store_rc st_search_unindex_event(struct store *st, const char *room_id, const char *event_id);

#endif
