/* jansson helpers: request-body parsing with Matrix's limits, typed getters. */
#ifndef HEARTH_JSON_JSON_H
#define HEARTH_JSON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Canonical JSON's integer range: [-(2^53)+1, (2^53)-1]. */
#define JSON_CANON_INT_MAX 9007199254740991LL

enum json_status {
    JSONS_OK,
    JSONS_NOT_JSON, /* unparseable: syntax, invalid UTF-8, duplicate keys */
    JSONS_BAD_JSON, /* parseable but not acceptable: not an object, integer range, depth */
};

/* Parses a request body that must be one JSON object. On JSONS_OK *out is a new reference.
 * Otherwise msg (msglen bytes) says why. */
enum json_status json_parse_object(const char *data, size_t len, json_t **out, char *msg,
                                   size_t msglen);

/* True if every integer in v lies in canonical JSON's range. */
bool json_ints_in_range(const json_t *v);

/* Returns the string at key, or NULL when absent; *wrong_type set if present but not a
 * string. Borrowed. */
const char *json_get_str(const json_t *obj, const char *key, bool *wrong_type);

/* Dumps compactly; returns a new malloc'd string. */
char *json_dump_compact(const json_t *v);

#endif
