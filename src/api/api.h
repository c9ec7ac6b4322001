/* Handlers, one file per spec module (api/client-server/<module>.yaml), and the route table. */
#ifndef HEARTH_API_API_H
#define HEARTH_API_API_H

#include <jansson.h>
#include <stddef.h>

#include "http/http.h"

extern const struct route api_routes[];
extern const size_t api_n_routes;

/* Shared by login and registration: creates (or reuses) the device, issues a new access
 * token for it, and adds user_id, access_token, device_id, home_server to `out`.
 * device_id NULL generates one. Returns 0, or -1 after replying. */
int api_issue_login_or_reply(struct req *r, const char *user_id, const char *device_id,
                             const char *display_name, json_t *out);
/* A new random device ID (10 capital letters, as Synapse). */
char *api_new_device_id(void);

/* versions.yaml */
void versions_get(struct req *r);
/* wellknown.yaml */
void wellknown_get(struct req *r);
/* capabilities.yaml */
void capabilities_get(struct req *r);
/* registration.yaml */
void registration_register(struct req *r);
void registration_available(struct req *r);
void registration_password(struct req *r);
void registration_deactivate(struct req *r);
void registration_request_token(struct req *r);
/* login.yaml */
void login_get_flows(struct req *r);
void login_post(struct req *r);
/* logout.yaml */
void logout_post(struct req *r);
void logout_all(struct req *r);
/* whoami.yaml */
void whoami_get(struct req *r);
/* device_management.yaml */
void devices_list(struct req *r);
void devices_get(struct req *r);
void devices_put(struct req *r);
void devices_delete(struct req *r);
void devices_delete_many(struct req *r);
/* administrative_contact.yaml */
void threepid_list(struct req *r);
void threepid_add_legacy(struct req *r);
void threepid_add(struct req *r);
void threepid_bind(struct req *r);
void threepid_delete(struct req *r);
void threepid_unbind(struct req *r);
void threepid_request_token(struct req *r);
/* Synapse's shared-secret registration (synapse_admin.c) */
void synapse_admin_register_nonce(struct req *r);
void synapse_admin_register(struct req *r);
struct nonces *synapse_admin_nonces_new(void);
void synapse_admin_nonces_free(struct nonces *ns);

#endif
