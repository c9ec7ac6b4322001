/* modules/ignore_users.rst: the m.ignored_user_list account data. Its users' non-state room
 * events, invites and ephemeral data are not delivered to the ignorer (sync.c,
 * message_pagination.c). Un-ignoring resumes delivery from then on; SPEC: what was missed
 * meanwhile comes only with a fresh sync ("should not send events that were missed"). */
#include <stdlib.h>

#include "api/api.h"
#include "api/hs.h"
#include "store/store.h"

json_t *
api_ignored_users(struct hs *hs, const char *user_id)
{
    char *text = NULL;
    json_t *content, *users, *out;

    if (store_account_data_get(hs->store, user_id, "", "m.ignored_user_list", &text) != STORE_OK)
        return json_object();
    content = json_loads(text, 0, NULL);
    free(text);
    users = json_object_get(content, "ignored_users");
    out = json_is_object(users) ? json_incref(users) : json_object();
    json_decref(content);
    return out;
}
