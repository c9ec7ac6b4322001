/* Asking application services about users, aliases and third-party networks, on behalf of a
 * client request (which waits: SPEC "the application service is blocking the homeserver until
 * the entity is created"). */
#include <stdlib.h>
#include <string.h>

#include "appservice/appservice_internal.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

/* A service creating a user or a room while we wait needs a few round trips of its own. */
#define QUERY_TIMEOUT_MS 30000L
#define LOOKUP_TIMEOUT_MS 15000L

bool
appservices_query_user(struct appservices *as, struct store *st, const char *user_id)
{
    struct store_user u = {0};
    enum store_rc rc;
    bool yes = false;

    for (size_t i = 0; i < appservices_count(as) && !yes; i++) {
        const struct appservice *a = as->list[i];
        char *esc, *path;
        if (!a->url || !appservice_matches(a, AS_NS_USERS, user_id, true))
            continue;
        esc = appservice_escape(user_id);
        path = xasprintf("/users/%s", esc);
        yes = appservice_call(as, a, "GET", path, NULL, NULL, NULL, QUERY_TIMEOUT_MS, NULL) == 200;
        free(path);
        free(esc);
    }
    if (!yes)
        return false;
    rc = store_user_get(st, user_id, &u);
    store_user_clear(&u);
    if (rc == STORE_OK)
        return true;
    if (rc != STORE_NOT_FOUND)
        return false;
    /* SPEC: the service "MUST create the user"; when it only said yes, we do. */
    rc = store_user_create(st, user_id, NULL, false, false, util_now_ms());
    if (rc != STORE_OK && rc != STORE_EXISTS) {
        log_error("could not create %s for its application service", user_id);
        return false;
    }
    if (rc == STORE_OK && store_profile_init(st, user_id) != STORE_OK)
        log_warn("could not set the default display name of %s", user_id);
    log_info("created %s: its application service says it exists", user_id);
    return true;
}

bool
appservices_query_alias(struct appservices *as, const char *alias)
{
    for (size_t i = 0; i < appservices_count(as); i++) {
        const struct appservice *a = as->list[i];
        char *esc, *path;
        long status;
        if (!a->url || !appservice_matches(a, AS_NS_ALIASES, alias, true))
            continue;
        esc = appservice_escape(alias);
        path = xasprintf("/rooms/%s", esc);
        status = appservice_call(as, a, "GET", path, NULL, NULL, NULL, QUERY_TIMEOUT_MS, NULL);
        free(path);
        free(esc);
        if (status == 200)
            return true;
    }
    return false;
}

/* Synapse's check of a protocol answer: an object whose instances is a list of objects. */
static bool
valid_protocol(const json_t *info)
{
    const json_t *inst = json_object_get(info, "instances"), *v;
    size_t i;

    if (!json_is_object(info) || !json_is_array(inst))
        return false;
    json_array_foreach(inst, i, v)
    {
        if (!json_is_object(v))
            return false;
    }
    return true;
}

json_t *
appservice_protocol_get(struct appservices *as, const struct appservice *a, const char *protocol)
{
    json_t *info = NULL, *v;
    char *esc = appservice_escape(protocol);
    char *path = xasprintf("/thirdparty/protocol/%s", esc);
    char *legacy = xasprintf("/_matrix/app/unstable/thirdparty/protocol/%s", esc);
    long status = appservice_call(as, a, "GET", path, legacy, NULL, NULL, LOOKUP_TIMEOUT_MS, &info);
    size_t i;

    free(path);
    free(legacy);
    free(esc);
    if (status != 200 || !valid_protocol(info)) {
        if (status > 0)
            log_warn("application service %s: protocol %s: no valid answer (HTTP %ld)", a->id,
                     protocol, status);
        json_decref(info);
        return NULL;
    }
    json_array_foreach(json_object_get(info, "instances"), i, v)
    {
        const char *network = json_string_value(json_object_get(v, "network_id"));
        if (network) {
            char *iid = xasprintf("%s|%s", a->id, network);
            json_object_set_new(v, "instance_id", json_string(iid));
            free(iid);
        }
    }
    return info;
}

json_t *
appservice_thirdparty_lookup(struct appservices *as, const struct appservice *a, const char *kind,
                             const char *protocol, const char *query)
{
    json_t *res = NULL, *out = json_array(), *v;
    char *esc = protocol ? appservice_escape(protocol) : NULL;
    char *path =
        esc ? xasprintf("/thirdparty/%s/%s", kind, esc) : xasprintf("/thirdparty/%s", kind);
    char *legacy = xasprintf("/_matrix/app/unstable%s", path);
    long status = appservice_call(as, a, "GET", path, legacy, query, NULL, LOOKUP_TIMEOUT_MS, &res);
    size_t i;

    free(path);
    free(legacy);
    free(esc);
    /* Only objects: a service's answer is passed on, but not its garbage. */
    if (status == 200 && json_is_array(res)) {
        json_array_foreach(res, i, v)
        {
            if (json_is_object(v))
                json_array_append(out, v);
        }
    }
    json_decref(res);
    return out;
}
