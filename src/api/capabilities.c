/* capabilities.yaml */
#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"

/* GET /_matrix/client/r0/capabilities */
void
capabilities_get(struct req *r)
{
    json_t *available = json_object();
    static const char *const versions[] = {"1", "2", "3", "4", "5", "6"};

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        json_object_set_new(available, versions[i], json_string("stable"));
    reply_json(r, 200,
               json_pack("{s:{s:{s:b}, s:{s:s, s:o}}}", "capabilities", "m.change_password",
                         "enabled", 1, "m.room_versions", "default",
                         r->hs->cfg->default_room_version, "available", available));
}
