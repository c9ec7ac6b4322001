/* wellknown.yaml */
#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"

/* GET /.well-known/matrix/client */
void
wellknown_get(struct req *r)
{
    const char *base = r->hs->cfg->public_baseurl;
    if (!base) {
        reply_error(r, MERR_NOT_FOUND, "No .well-known configured (public_baseurl is unset)");
        return;
    }
    reply_json(r, 200, json_pack("{s:{s:s}}", "m.homeserver", "base_url", base));
}
