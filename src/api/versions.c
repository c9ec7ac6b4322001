/* versions.yaml */
#include "api/api.h"

/* GET /_matrix/client/versions */
void
versions_get(struct req *r)
{
    /* SPEC: v1.1 content/_index.md "Specification Versions": v1.1 is listed since everything
     * it added for servers is here (issue 15: cross-signing, key backup, knocking and room
     * version 7, and the smaller changes); the r0 releases stay for older clients. */
    reply_json(r, 200,
               json_pack("{s:[s,s,s,s,s,s,s,s,s], s:{}}", "versions", "r0.0.1", "r0.1.0", "r0.2.0",
                         "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "v1.1",
                         "unstable_features"));
}
