/* A bounded memo of stored events in client format (issue 4, sync speed). Parsing the
 * stored canonical JSON was half of an initial sync's CPU; the same events (recent
 * timelines, current members) are formatted again for every sync of every member.
 *
 * An entry is a function of the stored row: the key is the event ID (whose stored JSON never
 * changes: a redaction only marks the row), and an entry is used only if the row's unsigned
 * text and JSON length are still what it was made from.
 * Redacted events are never cached (their format depends on the redaction, and carries
 * redacted_because). Nothing per user is cached: `unsigned` (age, transaction_id, ...) is
 * left out and added by the caller for each request. So no invalidation is needed and
 * nothing can leak from one user to another. */
#ifndef HEARTH_SYNC_EVCACHE_H
#define HEARTH_SYNC_EVCACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

struct evcache;

/* A cache of about `entries` events (rounded up to whole sets). */
struct evcache *evcache_new(size_t entries);
void evcache_free(struct evcache *c);

/* The client format of the stored event without "unsigned": a new reference to a shared,
 * read-only object (copy it before changing it: json_copy). NULL if the event is redacted
 * or its stored JSON unreadable; the caller then formats it itself. */
json_t *evcache_client(struct evcache *c, const struct store_event *e);

/* If `ev` is a shallow copy of the cached client format of event_id (the same values,
 * by pointer) plus only "unsigned", appends that format's compact JSON text without its
 * closing brace to *buf (realloc'd; *len, *cap updated) and returns true. Otherwise
 * appends nothing and returns false (the caller dumps ev itself). */
bool evcache_append_text(struct evcache *c, const char *event_id, const json_t *ev, char **buf,
                         size_t *len, size_t *cap);

#endif
