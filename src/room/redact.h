/* The redaction algorithm (rooms/v1.rst "Redactions", changed in v6). Pure. */
#ifndef HEARTH_ROOM_REDACT_H
#define HEARTH_ROOM_REDACT_H

#include <jansson.h>

#include "room/version.h"

/* Returns a new, redacted copy of ev (the full event, federation format): only the top-level
 * keys the algorithm keeps, and in content only the keys kept for the event's type. */
json_t *redact_event(const json_t *ev, const struct room_version *v);

#endif
