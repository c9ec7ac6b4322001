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
collect_protocols(struct req *r, const char *only_protocol)
{
    struct appservices *as = r->hs->appservices;
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

/* GET /_matrix/client/r0/thirdparty/protocols */
void
thirdparty_protocols(struct req *r)
{
    reply_json(r, 200, collect_protocols(r, NULL));
}

/* GET /_matrix/client/r0/thirdparty/protocol/{protocol} */
void
thirdparty_protocol(struct req *r)
{
    json_t *all = collect_protocols(r, r->params[0]);
    json_t *one = json_incref(json_object_get(all, r->params[0]));

    json_decref(all);
    if (!one) {
        reply_error(r, MERR_NOT_FOUND, "Unknown protocol");
        return;
    }
    reply_json(r, 200, one);
}

/* The search fields to pass on: the client's query but the token (and the masquerade
 * parameter of a service's own request). */
static const char *
fields(struct req *r)
{
    static const char *const skip_as[] = {"user_id", NULL};
    return req_query_forward(r, r->appservice ? skip_as : NULL);
}

/* GET /_matrix/client/r0/thirdparty/location/{protocol}
 * GET /_matrix/client/r0/thirdparty/user/{protocol} */
void
thirdparty_query_by_protocol(struct req *r)
{
    struct appservices *as = r->hs->appservices;
    const char *protocol = r->params[0];
    const char *kind = strstr(r->path, "/thirdparty/location/") ? "location" : "user";
    const char *query = fields(r);
    json_t *out = json_array();
    bool known = false;

    for (size_t i = 0; i < appservices_count(as); i++) {
        const struct appservice *a = appservices_at(as, i);
        json_t *found;
        if (!appservice_url(a) || !appservice_has_protocol(a, protocol))
            continue;
        known = true;
        found = appservice_thirdparty_lookup(as, a, kind, protocol, query);
        json_array_extend(out, found);
        json_decref(found);
    }
    if (!known || json_array_size(out) == 0) {
        json_decref(out);
        /* SPEC: 404 for "No portal rooms were found" / "The Matrix User ID was not found" (and
         * an unknown protocol). Synapse answers [] when nothing matched. */
        reply_error(r, MERR_NOT_FOUND, known ? "Nothing found" : "Unknown protocol");
        return;
    }
    reply_json(r, 200, out);
}

/* The reverse lookups: the services whose namespaces cover the Matrix ID are asked. */
static void
reverse_lookup(struct req *r, const char *kind, const char *param, enum as_ns ns)
{
    struct appservices *as = r->hs->appservices;
    const char *id = req_query(r, param);
    json_t *out;

    if (!id) {
        reply_error(r, MERR_MISSING_PARAM, "%s is required", param);
        return;
    }
    out = json_array();
    for (size_t i = 0; i < appservices_count(as); i++) {
        const struct appservice *a = appservices_at(as, i);
        json_t *found;
        if (!appservice_url(a) || !appservice_matches(a, ns, id, false))
            continue;
        found = appservice_thirdparty_lookup(as, a, kind, NULL, fields(r));
        json_array_extend(out, found);
        json_decref(found);
    }
    /* An empty list when no service knows the ID (Synapse too). */
    reply_json(r, 200, out);
}

/* GET /_matrix/client/r0/thirdparty/location?alias= */
void
thirdparty_location_by_alias(struct req *r)
{
    reverse_lookup(r, "location", "alias", AS_NS_ALIASES);
}

/* GET /_matrix/client/r0/thirdparty/user?userid= */
void
thirdparty_user_by_id(struct req *r)
{
    reverse_lookup(r, "user", "userid", AS_NS_USERS);
}
