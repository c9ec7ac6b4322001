/* Canonical JSON (appendices/signing_json.rst "Canonical JSON"): sorted keys, no
 * insignificant whitespace, UTF-8 unescaped, the shortest escapes, lower-case \u00XX. */
#ifndef HEARTH_JSON_CANONICAL_H
#define HEARTH_JSON_CANONICAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns a new malloc'd string (NUL-terminated; *len_out gets its length if non-NULL), or
 * NULL if v holds a value canonical JSON cannot express: a real (float) number when
 * `allow_floats` is false, or an integer outside [-(2^53)+1, (2^53)-1]. Room versions 1-5
 * allow floats in events (written as Python would: shortest round-trip repr); v6 forbids. */
char *json_canonical(const json_t *v, bool allow_floats, size_t *len_out);

#endif
