/* capabilities.yaml */
#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "room/version.h"

/* GET /_matrix/client/r0/capabilities */
void
capabilities_get(struct req *r)
{
    json_t *available = json_object();
    const struct room_version *v;

    /* Every version of the table (1-7 since Matrix v1.1) is stable. */
    for (size_t i = 0; (v = room_version_at(i)); i++)
        json_object_set_new(available, v->id, json_string("stable"));
    reply_json(r, 200,
               json_pack("{s:{s:{s:b}, s:{s:s, s:o}}}", "capabilities", "m.change_password",
                         "enabled", 1, "m.room_versions", "default",
                         r->hs->cfg->default_room_version, "available", available));
}
