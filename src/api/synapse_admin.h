/* Synapse's admin API under /_synapse/admin (issue 14): the endpoints synapse-admin (the web
 * UI) and admin tools use, with Synapse's request and response shapes. Every handler answers
 * 403 M_FORBIDDEN unless the caller is a server admin (the route table makes unauthenticated
 * callers 401). */
#ifndef HEARTH_API_SYNAPSE_ADMIN_H
#define HEARTH_API_SYNAPSE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

/* ---- shared helpers (synapse_admin.c) ---- */
/* True if r->user_id is a server admin; otherwise answers 403 M_FORBIDDEN (or 500). */
bool synapse_admin_check_or_reply(struct req *r);
/* True if user_id is a well-formed ID of this server; otherwise answers 400 M_INVALID_PARAM
 * with `what` ("Can only look up local users"). */
bool synapse_admin_local_user_or_reply(struct req *r, const char *user_id, const char *what);
/* A non-negative integer query parameter (def when absent); false after 400 M_INVALID_PARAM. */
bool synapse_admin_query_int(struct req *r, const char *name, int64_t def, int64_t *out);
/* A "true"/"false" query parameter; false after 400 M_INVALID_PARAM. */
bool synapse_admin_query_bool(struct req *r, const char *name, bool def, bool *out);
/* dir=f|b (def f): *backwards; false after 400 M_INVALID_PARAM. */
bool synapse_admin_query_dir(struct req *r, bool def_backwards, bool *backwards);

void synapse_admin_server_version(struct req *r);
void synapse_admin_health(struct req *r);

/* ---- accounts (synapse_admin_users.c) ---- */
void synapse_admin_users_list(struct req *r);
void synapse_admin_user_get(struct req *r);
void synapse_admin_user_put(struct req *r);
void synapse_admin_user_deactivate(struct req *r);
void synapse_admin_user_reset_password(struct req *r);
void synapse_admin_user_whois(struct req *r);
void synapse_admin_user_devices(struct req *r);
void synapse_admin_user_device_create(struct req *r);
void synapse_admin_user_device_get(struct req *r);
void synapse_admin_user_device_put(struct req *r);
void synapse_admin_user_device_delete(struct req *r);
void synapse_admin_user_devices_delete(struct req *r);
void synapse_admin_user_joined_rooms(struct req *r);
void synapse_admin_user_media(struct req *r);
void synapse_admin_user_media_delete(struct req *r);
void synapse_admin_user_login(struct req *r);
void synapse_admin_user_admin_get(struct req *r);
void synapse_admin_user_admin_put(struct req *r);
void synapse_admin_user_pushers(struct req *r);

/* ---- rooms (synapse_admin_rooms.c) ---- */
void synapse_admin_rooms_list(struct req *r);
void synapse_admin_room_get(struct req *r);
void synapse_admin_room_members(struct req *r);
void synapse_admin_room_state(struct req *r);
void synapse_admin_room_delete_v1(struct req *r);
void synapse_admin_room_delete_v2(struct req *r);
void synapse_admin_room_delete_status(struct req *r);
void synapse_admin_room_delete_status_by_id(struct req *r);
void synapse_admin_room_make_admin(struct req *r);
void synapse_admin_room_block_get(struct req *r);
void synapse_admin_room_block_put(struct req *r);
void synapse_admin_room_forward_extremities(struct req *r);
void synapse_admin_federation_destinations(struct req *r);
/* Joins refused in blocked rooms: false after answering 403 M_FORBIDDEN (or 500). */
bool synapse_admin_room_joinable_or_reply(struct req *r, const char *room_id);

/* ---- media and event reports (synapse_admin_media.c) ---- */
void synapse_admin_media_delete(struct req *r);
void synapse_admin_media_delete_old(struct req *r);
void synapse_admin_media_protect(struct req *r);
void synapse_admin_media_unprotect(struct req *r);
void synapse_admin_purge_media_cache(struct req *r);
void synapse_admin_media_statistics(struct req *r);
void synapse_admin_room_media(struct req *r);
void synapse_admin_event_reports(struct req *r);
void synapse_admin_event_report_get(struct req *r);
void synapse_admin_event_report_delete(struct req *r);

#endif
