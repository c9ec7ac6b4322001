/* whoami.yaml */
#include "api/api.h"

/* GET /_matrix/client/r0/account/whoami */
void
whoami_get(struct req *r)
{
    /* device_id and is_guest come from Matrix 1.1; r0 clients ignore extra fields. */
    reply_json(r, 200,
               json_pack("{s:s, s:s, s:b}", "user_id", r->user_id, "device_id", r->device_id,
                         "is_guest", r->is_guest));
}
