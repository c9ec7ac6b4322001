#include "json/json.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

bool
json_ints_in_range(const json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        return n >= -JSON_CANON_INT_MAX && n <= JSON_CANON_INT_MAX;
    }
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, child)
        {
            if (!json_ints_in_range(child))
                return false;
        }
        return true;
    case JSON_ARRAY:
        json_array_foreach(v, i, child)
        {
            if (!json_ints_in_range(child))
                return false;
        }
        return true;
    default:
        return true;
    }
}

enum json_status
json_parse_object(const char *data, size_t len, json_t **out, char *msg, size_t msglen)
{
    json_error_t err;
    json_t *v;

    *out = NULL;
    v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!v) {
        switch (json_error_code(&err)) {
        case json_error_numeric_overflow:
            snprintf(msg, msglen, "Integer out of range at position %d", err.position);
            return JSONS_BAD_JSON;
        case json_error_null_character:
            snprintf(msg, msglen, "Strings may not contain U+0000");
            return JSONS_BAD_JSON;
        case json_error_stack_overflow:
            snprintf(msg, msglen, "JSON nested too deeply");
            return JSONS_BAD_JSON;
        default:
            /* jansson reports an escaped NUL in a key as a syntax error; it is valid JSON. */
            if (strstr(err.text, "NUL byte in object key")) {
                snprintf(msg, msglen, "Strings may not contain U+0000");
                return JSONS_BAD_JSON;
            }
            snprintf(msg, msglen, "Content not JSON: %s", err.text);
            return JSONS_NOT_JSON;
        }
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(msg, msglen, "Content must be a JSON object");
        return JSONS_BAD_JSON;
    }
    if (!json_ints_in_range(v)) {
        json_decref(v);
        snprintf(msg, msglen, "Integer out of range (must be within +/-(2^53-1))");
        return JSONS_BAD_JSON;
    }
    *out = v;
    return JSONS_OK;
}

const char *
json_get_str(const json_t *obj, const char *key, bool *wrong_type)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        if (wrong_type)
            *wrong_type = true;
        return NULL;
    }
    return json_string_value(v);
}

char *
json_dump_compact(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        fputs("hearth: json_dumps failed\n", stderr);
        abort();
    }
    return s;
}
