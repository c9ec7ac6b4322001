/* The one route table. Every PFX_CLIENT route answers on /_matrix/client/r0 and /v3. */
#include "api/api.h"

#define JSON ROUTE_JSON
#define JSON_OPT ROUTE_JSON_OPTIONAL
#define GUEST ROUTE_GUEST_OK

const struct route api_routes[] = {
    {HTTP_GET, PFX_EXACT, "/_matrix/client/versions", versions_get, AUTH_NONE, 0},
    {HTTP_GET, PFX_EXACT, "/.well-known/matrix/client", wellknown_get, AUTH_NONE, 0},
    {HTTP_GET, PFX_CLIENT, "/capabilities", capabilities_get, AUTH_REQUIRED, GUEST},

    {HTTP_POST, PFX_CLIENT, "/register", registration_register, AUTH_NONE, JSON},
    {HTTP_GET, PFX_CLIENT, "/register/available", registration_available, AUTH_NONE, 0},
    {HTTP_POST, PFX_CLIENT, "/register/email/requestToken", registration_request_token, AUTH_NONE,
     JSON},
    {HTTP_POST, PFX_CLIENT, "/register/msisdn/requestToken", registration_request_token, AUTH_NONE,
     JSON},
    {HTTP_POST, PFX_CLIENT, "/account/password", registration_password, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/password/email/requestToken", registration_request_token,
     AUTH_NONE, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/password/msisdn/requestToken", registration_request_token,
     AUTH_NONE, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/deactivate", registration_deactivate, AUTH_REQUIRED, JSON},

    {HTTP_GET, PFX_CLIENT, "/login", login_get_flows, AUTH_NONE, 0},
    {HTTP_POST, PFX_CLIENT, "/login", login_post, AUTH_NONE, JSON},
    {HTTP_POST, PFX_CLIENT, "/logout", logout_post, AUTH_REQUIRED, JSON_OPT | GUEST},
    {HTTP_POST, PFX_CLIENT, "/logout/all", logout_all, AUTH_REQUIRED, JSON_OPT | GUEST},
    {HTTP_GET, PFX_CLIENT, "/account/whoami", whoami_get, AUTH_REQUIRED, GUEST},

    {HTTP_GET, PFX_CLIENT, "/devices", devices_list, AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/devices/{deviceId}", devices_get, AUTH_REQUIRED, GUEST},
    {HTTP_PUT, PFX_CLIENT, "/devices/{deviceId}", devices_put, AUTH_REQUIRED, JSON | GUEST},
    {HTTP_DELETE, PFX_CLIENT, "/devices/{deviceId}", devices_delete, AUTH_REQUIRED, JSON_OPT},
    {HTTP_POST, PFX_CLIENT, "/delete_devices", devices_delete_many, AUTH_REQUIRED, JSON},

    {HTTP_GET, PFX_CLIENT, "/account/3pid", threepid_list, AUTH_REQUIRED, 0},
    {HTTP_POST, PFX_CLIENT, "/account/3pid", threepid_add_legacy, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/3pid/add", threepid_add, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/3pid/bind", threepid_bind, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/3pid/delete", threepid_delete, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/3pid/unbind", threepid_unbind, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/account/3pid/email/requestToken", threepid_request_token, AUTH_NONE,
     JSON},
    {HTTP_POST, PFX_CLIENT, "/account/3pid/msisdn/requestToken", threepid_request_token, AUTH_NONE,
     JSON},

    {HTTP_GET, PFX_EXACT, "/_synapse/admin/v1/register", synapse_admin_register_nonce, AUTH_NONE,
     0},
    {HTTP_POST, PFX_EXACT, "/_synapse/admin/v1/register", synapse_admin_register, AUTH_NONE, JSON},
};

const size_t api_n_routes = sizeof(api_routes) / sizeof(api_routes[0]);
