/* The Client-Server API's application service extensions (application_service_api.rst
 * "Client-Server API Extensions"): registration of a service's users, its exclusive namespaces
 * against everyone else, and its room directories (appservice_room_directory.yaml). The
 * as_token itself is handled by src/http/auth.c. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "api/userid.h"
#include "appservice/appservice.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "http/auth.h"
#include "json/json.h"
#include "room/id.h"
#include "store/store.h"

#define AS_LOGIN_TYPE "m.login.application_service"

/* SPEC: the body names the type ("type": "m.login.application_service"); clients built on
 * the UIA shape send it as auth.type, which Synapse accepts too. */
static bool
wants_appservice(const json_t *body)
{
    const char *t = json_string_value(json_object_get(body, "type"));
    const char *at = json_string_value(json_object_get(json_object_get(body, "auth"), "type"));
    return (t && strcmp(t, AS_LOGIN_TYPE) == 0) || (at && strcmp(at, AS_LOGIN_TYPE) == 0);
}

/* POST /_matrix/client/r0/register with type m.login.application_service */
bool
api_appservice_register(struct req *r)
{
    const char *username, *device_id, *display_name;
    json_t *inhibit, *out = NULL;
    const struct appservice *other;
    char *user_id = NULL;
    bool wrong = false;
    enum store_rc rc;

    if (!wants_appservice(r->json))
        return false;
    /* The route takes no token; the as_token is checked here (401 when missing or unknown).
     * A user_id parameter (intents send the user being registered) plays no part. */
    if (!auth_appservice_or_reply(r))
        return true;
    username = json_get_str(r->json, "username", &wrong);
    device_id = json_get_str(r->json, "device_id", &wrong);
    display_name = json_get_str(r->json, "initial_device_display_name", &wrong);
    inhibit = json_object_get(r->json, "inhibit_login");
    if (wrong || (inhibit && !json_is_boolean(inhibit))) {
        reply_error(r, MERR_BAD_JSON,
                    "username, device_id and initial_device_display_name must be strings, "
                    "inhibit_login a boolean");
        return true;
    }
    if (!username) {
        reply_error(r, MERR_MISSING_PARAM, "username is required");
        return true;
    }
    if (device_id && (!*device_id || strlen(device_id) > 255)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid device_id");
        return true;
    }
    /* Services may use the '_' localparts other users may not. */
    if (!id_localpart_valid(username)) {
        reply_error(r, MERR_INVALID_USERNAME,
                    "User ID can only contain characters a-z, 0-9, or '=_-./'");
        return true;
    }
    user_id = userid_make(r->hs, username);
    if (strlen(user_id) > ID_MAX_LEN) {
        reply_error(r, MERR_INVALID_USERNAME, "User ID may not be longer than %d characters",
                    ID_MAX_LEN);
        goto out;
    }
    /* SPEC: "Application services which attempt to create users ... outside of their defined
     * namespaces will receive an error code M_EXCLUSIVE"; so does one in another service's
     * exclusive namespace. */
    other = appservices_exclusive(r->hs->appservices, AS_NS_USERS, user_id, r->appservice);
    if (!appservice_is_user(r->appservice, user_id) || other) {
        reply_error(r, MERR_EXCLUSIVE, "User ID %s is not in this application service's namespace",
                    user_id);
        goto out;
    }
    rc = store_user_create(r->hs->store, user_id, NULL, false, false, util_now_ms());
    if (rc == STORE_EXISTS) {
        reply_error(r, MERR_USER_IN_USE, "User ID already taken.");
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user create failed");
        goto out;
    }
    if (store_profile_init(r->hs->store, user_id) != STORE_OK)
        log_warn("could not set the default display name of %s", user_id);
    log_info("application service %s registered %s", appservice_id(r->appservice), user_id);
    out = json_pack("{s:s, s:s}", "user_id", user_id, "home_server", r->hs->cfg->server_name);
    if (!json_is_true(inhibit) &&
        api_issue_login_or_reply(r, user_id, device_id, display_name, out) != 0)
        goto out;
    reply_json(r, 200, out);
    out = NULL;
out:
    json_decref(out);
    free(user_id);
    return true;
}

bool
api_appservice_user_free_or_reply(struct req *r, const char *user_id)
{
    /* SPEC: "normal users who attempt to create users ... inside an application
     * service-defined namespace will receive the same M_EXCLUSIVE error code, but only if the
     * application service has defined the namespace as exclusive". */
    if (appservices_exclusive(r->hs->appservices, AS_NS_USERS, user_id, NULL)) {
        reply_error(r, MERR_EXCLUSIVE, "User ID %s is reserved by an application service", user_id);
        return false;
    }
    return true;
}

bool
api_appservice_alias_ok_or_reply(struct req *r, const char *alias)
{
    const struct appservice *other =
        appservices_exclusive(r->hs->appservices, AS_NS_ALIASES, alias, r->appservice);

    if (r->appservice && !appservice_matches(r->appservice, AS_NS_ALIASES, alias, false)) {
        reply_error(r, MERR_EXCLUSIVE, "Alias %s is not in this application service's namespace",
                    alias);
        return false;
    }
    if (other) {
        reply_error(r, MERR_EXCLUSIVE, "Alias %s is reserved by an application service", alias);
        return false;
    }
    return true;
}

bool
api_appservice_owns_alias(struct req *r, const char *alias)
{
    return r->appservice && appservice_matches(r->appservice, AS_NS_ALIASES, alias, false);
}

/* ---- waiting on a service without holding an HTTP thread ---- */

static void
job_free(void *p)
{
    struct api_as_job *j = p;
    free(j->arg);
    free(j->arg2);
    json_decref(j->out);
    free(j);
}

static void
job_main(void *p)
{
    struct api_as_job *j = p;
    j->work(j);
    /* The last touch of the request: from here it belongs to its HTTP thread again. */
    req_resume(j->r);
}

struct api_as_job *
api_appservice_job(struct req *r, api_as_work work, const char *arg, const char *arg2)
{
    struct api_as_job *j;

    if (r->ctx_free == job_free)
        return r->ctx; /* called again: the job is done */
    j = xcalloc(1, sizeof(*j));
    *j = (struct api_as_job){
        r, r->hs, work, arg ? xstrdup(arg) : NULL, arg2 ? xstrdup(arg2) : NULL, false, NULL};
    r->ctx = j;
    r->ctx_free = job_free;
    if (appservices_count(r->hs->appservices) == 0) {
        work(j); /* nobody to wait for */
        return j;
    }
    /* Suspended before the thread starts, so its resume always follows. */
    req_suspend(r);
    if (appservices_run(r->hs->appservices, job_main, j) != 0)
        job_main(j); /* stopping (calls to services fail at once) or no thread: here */
    return NULL;
}

static void
work_user(struct api_as_job *j)
{
    j->yes = appservices_query_user(j->hs->appservices, j->hs->store, j->arg);
}

static void
work_alias(struct api_as_job *j)
{
    j->yes = appservices_query_alias(j->hs->appservices, j->arg);
}

bool
api_appservice_suspend_for_user(struct req *r, const char *user_id)
{
    const char *lp, *server;
    size_t lp_len;

    if (r->ctx_free == job_free || !id_user_id_split(user_id, &lp, &lp_len, &server) ||
        strcmp(server, r->hs->cfg->server_name) != 0 ||
        !appservices_exclusive(r->hs->appservices, AS_NS_USERS, user_id, NULL))
        return false;
    return api_appservice_job(r, work_user, user_id, NULL) == NULL;
}

bool
api_appservice_suspend_for_alias(struct req *r, const char *alias)
{
    const char *colon = strchr(alias, ':');

    if (r->ctx_free == job_free || !colon || strcmp(colon + 1, r->hs->cfg->server_name) != 0 ||
        !appservices_exclusive(r->hs->appservices, AS_NS_ALIASES, alias, NULL))
        return false;
    return api_appservice_job(r, work_alias, alias, NULL) == NULL;
}

/* PUT /_matrix/client/r0/directory/list/appservice/{networkId}/{roomId} */
void
appservice_directory_put(struct req *r)
{
    const char *network = r->params[0], *room_id = r->params[1], *vis;
    bool wrong = false;
    enum store_rc rc;

    /* SPEC: "This API cannot be invoked by users who are not identified as application
     * services." */
    if (!r->appservice) {
        reply_error(r, MERR_FORBIDDEN, "Only application services can edit their room lists");
        return;
    }
    vis = json_get_str(r->json, "visibility", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON, "visibility must be a string");
        return;
    }
    /* SPEC: visibility is required (Synapse defaults it to public). */
    if (!vis) {
        reply_error(r, MERR_MISSING_PARAM, "visibility is required");
        return;
    }
    if (strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "visibility must be 'public' or 'private'");
        return;
    }
    if (!*network || strchr(network, '|')) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid network ID");
        return;
    }
    if (!api_room_or_reply(r, room_id))
        return;
    rc = store_appservice_room_list_set(r->hs->store, appservice_id(r->appservice), network,
                                        room_id, strcmp(vis, "public") == 0);
    if (rc != STORE_OK) {
        reply_internal(r, "appservice room list update failed");
        return;
    }
    log_info("application service %s made %s %s in network %s", appservice_id(r->appservice),
             room_id, vis, network);
    reply_empty(r);
}
