/* third_party_lookup.yaml: third-party networks are served by application services
 * (bridges), and Hearth has none yet: no protocols, so nothing to look up. */
#include "api/api.h"

/* GET /_matrix/client/r0/thirdparty/protocols */
void
thirdparty_protocols(struct req *r)
{
    reply_json(r, 200, json_object());
}

/* GET /_matrix/client/r0/thirdparty/protocol/{protocol} */
void
thirdparty_protocol(struct req *r)
{
    reply_error(r, MERR_NOT_FOUND, "Unknown protocol");
}

/* GET /_matrix/client/r0/thirdparty/location/{protocol}
 * GET /_matrix/client/r0/thirdparty/user/{protocol} */
void
thirdparty_query_by_protocol(struct req *r)
{
    /* SPEC: third_party_lookup.yaml: 404 when "No portal rooms were found" / "The Matrix User
     * ID was not found". Synapse answers [] here; no protocol exists, so nothing can match. */
    reply_error(r, MERR_NOT_FOUND, "Unknown protocol");
}

/* GET /_matrix/client/r0/thirdparty/location?alias= */
void
thirdparty_location_by_alias(struct req *r)
{
    if (!req_query(r, "alias")) {
        reply_error(r, MERR_MISSING_PARAM, "alias is required");
        return;
    }
    /* An empty list of locations: no bridge knows of any. */
    reply_json(r, 200, json_array());
}

/* GET /_matrix/client/r0/thirdparty/user?userid= */
void
thirdparty_user_by_id(struct req *r)
{
    if (!req_query(r, "userid")) {
        reply_error(r, MERR_MISSING_PARAM, "userid is required");
        return;
    }
    reply_json(r, 200, json_array());
}
