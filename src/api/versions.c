/* versions.yaml */
#include "api/api.h"

/* GET /_matrix/client/versions */
void
versions_get(struct req *r)
{
    reply_json(r, 200,
               json_pack("{s:[s,s,s,s,s,s,s,s], s:{}}", "versions", "r0.0.1", "r0.1.0", "r0.2.0",
                         "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "unstable_features"));
}
