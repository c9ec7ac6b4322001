/* third_party_lookup.yaml: third-party networks are served by application services (bridges).
 * The protocols are those the registrations list, described by the services themselves; the
 * lookups are passed on to the services of the protocol (or, for reverse lookups, to those
 * whose namespaces cover the Matrix ID). */
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "appservice/appservice.h"

/* {protocol: metadata} for every protocol (only_protocol non-NULL: that one). As Synapse, the
 * first service's description of a protocol is kept and the others' instances are added. */
static json_t *
collect_protocols(struct hs *hs, const char *only_protocol)
{
    struct appservices *as = hs->appservices;
    json_t *out = json_object();

    for (size_t i = 0; i < appservices_count(as); i++) {
        const struct appservice *a = appservices_at(as, i);
        if (!appservice_url(a))
            continue;
        for (size_t p = 0; p < appservice_n_protocols(a); p++) {
            const char *name = appservice_protocol(a, p);
            json_t *info, *have;
            if (only_protocol && strcmp(name, only_protocol) != 0)
                continue;
            info = appservice_protocol_get(as, a, name);
            if (!info)
                continue;
            have = json_object_get(out, name);
            if (have)
                json_array_extend(json_object_get(have, "instances"),
                                  json_object_get(info, "instances"));
            else
                json_object_set(out, name, info);
            json_decref(info);
        }
    }
    return out;
}

/* The services are asked from a thread of their own while the request waits (appservice.c). */
static void
work_protocols(struct api_as_job *j)
{
    j->out = collect_protocols(j->hs, j->arg);
}

/* GET /_matrix/client/r0/thirdparty/protocols */
void
thirdparty_protocols(struct req *r)
{
    struct api_as_job *j = api_appservice_job(r, work_protocols, NULL, NULL);
    if (j)
        reply_json(r, 200, json_incref(j->out));
}

/* GET /_matrix/client/r0/thirdparty/protocol/{protocol} */
void
thirdparty_protocol(struct req *r)
{
    struct api_as_job *j = api_appservice_job(r, work_protocols, r->params[0], NULL);
    json_t *one;

    if (!j)
        return;
    one = json_object_get(j->out, r->params[0]);
    if (!one) {
        reply_error(r, MERR_NOT_FOUND, "Unknown protocol");
        return;
    }
    reply_json(r, 200, json_incref(one));
}

/* The search fields to pass on: the client's query but the token (and the masquerade
 * parameter of a service's own request). */
static const char *
fields(struct req *r)
{
    static const char *const skip_as[] = {"user_id", NULL};
    return req_query_forward(r, r->appservice ? skip_as : NULL);
}

/* Asks every service of the protocol (arg); yes: some service offers it. */
static void
lookup_protocol(struct api_as_job *j, const char *kind)
{
    struct appservices *as = j->hs->appservices;

    j->out = json_array();
    for (size_t i = 0; i < appservices_count(as); i++) {
        const struct appservice *a = appservices_at(as, i);
        json_t *found;
        if (!appservice_url(a) || !appservice_has_protocol(a, j->arg))
            continue;
        j->yes = true;
        found = appservice_thirdparty_lookup(as, a, kind, j->arg, j->arg2);
        json_array_extend(j->out, found);
        json_decref(found);
    }
}

static void
work_location(struct api_as_job *j)
{
    lookup_protocol(j, "location");
}

static void
work_user(struct api_as_job *j)
{
    lookup_protocol(j, "user");
}

/* GET /_matrix/client/r0/thirdparty/location/{protocol}
 * GET /_matrix/client/r0/thirdparty/user/{protocol} */
void
thirdparty_query_by_protocol(struct req *r)
{
    bool location = strstr(r->path, "/thirdparty/location/") != NULL;
    struct api_as_job *j =
        api_appservice_job(r, location ? work_location : work_user, r->params[0], fields(r));

    if (!j)
        return;
    if (!j->yes || json_array_size(j->out) == 0) {
        /* SPEC: 404 for "No portal rooms were found" / "The Matrix User ID was not found" (and
         * an unknown protocol). Synapse answers [] when nothing matched. */
        reply_error(r, MERR_NOT_FOUND, j->yes ? "Nothing found" : "Unknown protocol");
        return;
    }
    reply_json(r, 200, json_incref(j->out));
}

/* The reverse lookups: the services whose namespaces cover the Matrix ID (arg) are asked. */
static void
reverse_lookup(struct api_as_job *j, const char *kind, enum as_ns ns)
{
    struct appservices *as = j->hs->appservices;

    j->out = json_array();
    for (size_t i = 0; i < appservices_count(as); i++) {
        const struct appservice *a = appservices_at(as, i);
        json_t *found;
        if (!appservice_url(a) || !appservice_matches(a, ns, j->arg, false))
            continue;
        found = appservice_thirdparty_lookup(as, a, kind, NULL, j->arg2);
        json_array_extend(j->out, found);
        json_decref(found);
    }
}

static void
work_location_by_alias(struct api_as_job *j)
{
    reverse_lookup(j, "location", AS_NS_ALIASES);
}

static void
work_user_by_id(struct api_as_job *j)
{
    reverse_lookup(j, "user", AS_NS_USERS);
}

static void
reverse(struct req *r, const char *param, api_as_work work)
{
    const char *id = req_query(r, param);
    struct api_as_job *j;

    if (!id) {
        reply_error(r, MERR_MISSING_PARAM, "%s is required", param);
        return;
    }
    j = api_appservice_job(r, work, id, fields(r));
    /* An empty list when no service knows the ID (Synapse too). */
    if (j)
        reply_json(r, 200, json_incref(j->out));
}

/* GET /_matrix/client/r0/thirdparty/location?alias= */
void
thirdparty_location_by_alias(struct req *r)
{
    reverse(r, "alias", work_location_by_alias);
}

/* GET /_matrix/client/r0/thirdparty/user?userid= */
void
thirdparty_user_by_id(struct req *r)
{
    reverse(r, "userid", work_user_by_id);
}
