/* The one route table. Every PFX_CLIENT route answers on /_matrix/client/r0 and /v3. */
#include "api/api.h"

#define JSON ROUTE_JSON
#define JSON_OPT ROUTE_JSON_OPTIONAL
#define GUEST ROUTE_GUEST_OK
#define RL ROUTE_RATELIMIT

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

    {HTTP_POST, PFX_CLIENT, "/createRoom", create_room, AUTH_REQUIRED, JSON | RL},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/join", membership_join_room, AUTH_REQUIRED,
     JSON_OPT | GUEST},
    {HTTP_POST, PFX_CLIENT, "/join/{roomIdOrAlias}", membership_join_alias, AUTH_REQUIRED,
     JSON_OPT},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/invite", membership_invite, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/leave", membership_leave, AUTH_REQUIRED,
     JSON_OPT | GUEST},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/forget", membership_forget, AUTH_REQUIRED, JSON_OPT},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/kick", membership_kick, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/ban", membership_ban, AUTH_REQUIRED, JSON},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/unban", membership_unban, AUTH_REQUIRED, JSON},
    {HTTP_GET, PFX_CLIENT, "/joined_rooms", membership_joined_rooms, AUTH_REQUIRED, 0},

    {HTTP_PUT, PFX_CLIENT, "/rooms/{roomId}/send/{eventType}/{txnId}", room_send_message,
     AUTH_REQUIRED, JSON | GUEST | RL},
    {HTTP_PUT, PFX_CLIENT, "/rooms/{roomId}/state/{eventType}/{stateKey}", room_send_state,
     AUTH_REQUIRED, JSON | RL},
    {HTTP_PUT, PFX_CLIENT, "/rooms/{roomId}/state/{eventType}", room_send_state, AUTH_REQUIRED,
     JSON | RL},
    {HTTP_PUT, PFX_CLIENT, "/rooms/{roomId}/redact/{eventId}/{txnId}", redaction_redact,
     AUTH_REQUIRED, JSON | RL},

    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/event/{eventId}", rooms_get_event, AUTH_REQUIRED,
     GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/state", rooms_get_state, AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/state/{eventType}/{stateKey}", rooms_get_state_event,
     AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/state/{eventType}", rooms_get_state_event,
     AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/members", rooms_get_members, AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/joined_members", rooms_get_joined_members,
     AUTH_REQUIRED, GUEST},

    {HTTP_GET, PFX_CLIENT, "/sync", sync_get, AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/events", old_sync_events, AUTH_REQUIRED, GUEST},
    {HTTP_GET, PFX_CLIENT, "/initialSync", old_sync_initial_sync, AUTH_REQUIRED, 0},
    {HTTP_GET, PFX_CLIENT, "/events/{eventId}", old_sync_get_event, AUTH_REQUIRED, 0},
    {HTTP_PUT, PFX_CLIENT, "/user/{userId}/account_data/{type}", account_data_put, AUTH_REQUIRED,
     JSON},
    {HTTP_GET, PFX_CLIENT, "/user/{userId}/account_data/{type}", account_data_get, AUTH_REQUIRED,
     0},
    {HTTP_PUT, PFX_CLIENT, "/user/{userId}/rooms/{roomId}/account_data/{type}",
     account_data_room_put, AUTH_REQUIRED, JSON},
    {HTTP_GET, PFX_CLIENT, "/user/{userId}/rooms/{roomId}/account_data/{type}",
     account_data_room_get, AUTH_REQUIRED, 0},
    {HTTP_POST, PFX_CLIENT, "/user/{userId}/filter", filter_post, AUTH_REQUIRED, JSON},
    {HTTP_GET, PFX_CLIENT, "/user/{userId}/filter/{filterId}", filter_get, AUTH_REQUIRED, 0},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/messages", message_pagination_get, AUTH_REQUIRED,
     GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/context/{eventId}", event_context_get, AUTH_REQUIRED,
     GUEST},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/initialSync", room_initial_sync_get, AUTH_REQUIRED,
     GUEST},

    /* directory.yaml, list_public_rooms.yaml, room_upgrades.yaml, report_content.yaml */
    {HTTP_PUT, PFX_CLIENT, "/directory/room/{roomAlias}", directory_put_alias, AUTH_REQUIRED, JSON},
    {HTTP_GET, PFX_CLIENT, "/directory/room/{roomAlias}", directory_get_alias, AUTH_OPTIONAL,
     GUEST},
    {HTTP_DELETE, PFX_CLIENT, "/directory/room/{roomAlias}", directory_delete_alias, AUTH_REQUIRED,
     JSON_OPT},
    {HTTP_GET, PFX_CLIENT, "/rooms/{roomId}/aliases", directory_room_aliases, AUTH_REQUIRED, 0},
    {HTTP_GET, PFX_CLIENT, "/directory/list/room/{roomId}", public_rooms_get_visibility,
     AUTH_OPTIONAL, GUEST},
    {HTTP_PUT, PFX_CLIENT, "/directory/list/room/{roomId}", public_rooms_set_visibility,
     AUTH_REQUIRED, JSON_OPT},
    {HTTP_GET, PFX_CLIENT, "/publicRooms", public_rooms_get, AUTH_OPTIONAL, GUEST},
    {HTTP_POST, PFX_CLIENT, "/publicRooms", public_rooms_post, AUTH_REQUIRED, JSON_OPT | GUEST},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/upgrade", room_upgrades_upgrade, AUTH_REQUIRED,
     JSON | RL},
    {HTTP_POST, PFX_CLIENT, "/rooms/{roomId}/report/{eventId}", report_content_report,
     AUTH_REQUIRED, JSON},
    /* (end of directory/public rooms/upgrades/reports) */

        /* profiles, user directory, admin, openid, voip, third-party networks (helper A) */
    /* (end of helper A routes) */
    /* typing, receipts, read markers, presence, tags (helper B) */
    /* (end of helper B routes) */

    {HTTP_GET, PFX_EXACT, "/_synapse/admin/v1/register", synapse_admin_register_nonce, AUTH_NONE,
     0},
    {HTTP_POST, PFX_EXACT, "/_synapse/admin/v1/register", synapse_admin_register, AUTH_NONE, JSON},
};

const size_t api_n_routes = sizeof(api_routes) / sizeof(api_routes[0]);
