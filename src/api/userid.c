#include "api/userid.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/hs.h"
#include "core/config.h"
#include "core/util.h"
#include "room/id.h"

char *
userid_make(const struct hs *hs, const char *localpart)
{
    return xasprintf("@%s:%s", localpart, hs->cfg->server_name);
}

char *
userid_qualify(const struct hs *hs, const char *who)
{
    const char *lp, *server;
    size_t lp_len;
    char *local, *out;

    if (who[0] == '@') {
        if (!id_user_id_split(who, &lp, &lp_len, &server) ||
            strcasecmp(server, hs->cfg->server_name) != 0)
            return NULL;
    } else {
        lp = who;
        lp_len = strlen(who);
    }
    if (!id_localpart_valid_historical(lp, lp_len))
        return NULL;
    local = xstrndup(lp, lp_len);
    for (char *p = local; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    out = userid_make(hs, local);
    free(local);
    if (strlen(out) > ID_MAX_LEN) {
        free(out);
        return NULL;
    }
    return out;
}
