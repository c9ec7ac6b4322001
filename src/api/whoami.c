/* whoami.yaml */
#include "api/api.h"

/* GET /_matrix/client/r0/account/whoami */
void
whoami_get(struct req *r)
{
    /* device_id and is_guest come from Matrix 1.1; r0 clients ignore extra fields. An
     * application service's token has no device (issue 13). */
    json_t *out = json_pack("{s:s, s:b}", "user_id", r->user_id, "is_guest", r->is_guest);
    if (r->device_id)
        json_object_set_new(out, "device_id", json_string(r->device_id));
    reply_json(r, 200, out);
}
