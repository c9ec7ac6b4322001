/* Handlers, one file per spec module (api/client-server/<module>.yaml), and the route table. */
#ifndef HEARTH_API_API_H
#define HEARTH_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

struct hs;

extern const struct route api_routes[];
extern const size_t api_n_routes;

/* Shared by login and registration: creates (or reuses) the device, issues a new access
 * token for it, and adds user_id, access_token, device_id, home_server to `out`.
 * device_id NULL generates one. Returns 0, or -1 after replying. */
int api_issue_login_or_reply(struct req *r, const char *user_id, const char *device_id,
                             const char *display_name, json_t *out);
/* A new random device ID (10 capital letters, as Synapse). */
char *api_new_device_id(void);

/* Makes the user leave every room they are joined to or invited to (deactivation). Returns 0,
 * or -1 if some room could not be left (logged). */
int api_leave_all_rooms(struct hs *hs, const char *user_id);
/* Guests and m.room.guest_access (room_membership.c). */
struct rooms;
bool api_guest_may_join(struct rooms *rooms, const char *room_id);
void api_part_guests(struct hs *hs, const char *room_id);

/* create_room.yaml */
void create_room(struct req *r);
/* The m.room.power_levels content of a new room: creator 100 (and the invitees in `invite`,
 * a borrowed array, when invitees_admin), invite at invite_level. New reference. */
json_t *create_room_default_power_levels(const char *creator, const json_t *invite,
                                         bool invitees_admin, int invite_level);
/* joining.yaml, inviting.yaml, leaving.yaml, kicking.yaml, banning.yaml,
 * list_joined_rooms.yaml (room_membership.c) */
void membership_join_room(struct req *r);
void membership_join_alias(struct req *r);
void membership_invite(struct req *r);
void membership_leave(struct req *r);
void membership_forget(struct req *r);
void membership_kick(struct req *r);
void membership_ban(struct req *r);
void membership_unban(struct req *r);
void membership_joined_rooms(struct req *r);
/* room_send.yaml, room_state.yaml (room_send.c) */
void room_send_message(struct req *r);
void room_send_state(struct req *r);
/* redaction.yaml */
void redaction_redact(struct req *r);
/* rooms.yaml */
void rooms_get_event(struct req *r);
void rooms_get_state(struct req *r);
void rooms_get_state_event(struct req *r);
void rooms_get_members(struct req *r);
void rooms_get_joined_members(struct req *r);

/* message_pagination.yaml */
void message_pagination_get(struct req *r);
/* event_context.yaml */
void event_context_get(struct req *r);
/* room_initial_sync.yaml */
void room_initial_sync_get(struct req *r);
/* A room's initialSync entry for the user: 0 and *out, 1 if the user may not see the room,
 * -1 on storage failure. */
int api_room_snapshot(struct req *r, const char *room_id, long limit, json_t **out);
/* old_sync.yaml, peeking_events.yaml */
void old_sync_events(struct req *r);
void old_sync_initial_sync(struct req *r);
void old_sync_get_event(struct req *r);

/* directory.yaml, list_public_rooms.yaml, room_upgrades.yaml, report_content.yaml */
void directory_put_alias(struct req *r);
void directory_get_alias(struct req *r);
void directory_delete_alias(struct req *r);
void directory_room_aliases(struct req *r);
/* room_state.yaml: checks the content of an m.room.canonical_alias (state key "") before it
 * is sent to room_id: alias and alt_aliases must be well formed (else 400 M_INVALID_PARAM) and
 * those not already in the current event must point to the room (else 400 M_BAD_ALIAS).
 * Borrows content. Returns false after replying. */
bool directory_canonical_alias_ok_or_reply(struct req *r, const char *room_id,
                                           const json_t *content);
/* May the user edit the room's directory entries: a server admin, or a joined member with
 * the power to send m.room.canonical_alias (Synapse's room-list moderator)? */
bool directory_user_may_edit_room(struct req *r, const char *room_id);
void public_rooms_get(struct req *r);
void public_rooms_post(struct req *r);
void public_rooms_get_visibility(struct req *r);
void public_rooms_set_visibility(struct req *r);
void room_upgrades_upgrade(struct req *r);
void report_content_report(struct req *r);
/* (end of directory/public rooms/upgrades/reports) */

/* account-data.yaml */
void account_data_put(struct req *r);
void account_data_get(struct req *r);
void account_data_room_put(struct req *r);
void account_data_room_get(struct req *r);
/* filter.yaml */
void filter_post(struct req *r);
void filter_get(struct req *r);
struct sync_filter;
int api_sync_filter_or_reply(struct req *r, struct sync_filter *f);
/* sync.yaml */
void sync_get(struct req *r);
struct lazy_cache *lazy_cache_new(void);
void lazy_cache_free(struct lazy_cache *c);

/* profiles, user directory, admin, openid, voip, third-party networks (helper A) */
/* profile.yaml */
void profile_get(struct req *r);
void profile_get_displayname(struct req *r);
void profile_set_displayname(struct req *r);
void profile_get_avatar_url(struct req *r);
void profile_set_avatar_url(struct req *r);
/* Adds the user's displayname and avatar_url (those set) to an m.room.member content, as
 * servers should for their own users' membership events. Borrows content; a lookup failure
 * adds nothing. */
void profile_add_to_member_content(struct hs *hs, const char *user_id, json_t *content);
/* users.yaml */
void users_directory_search(struct req *r);
/* admin.yaml */
void admin_whois(struct req *r);
/* openid.yaml, and the federation API's check of its tokens */
void openid_request_token(struct req *r);
void openid_userinfo(struct req *r);
/* voip.yaml */
void voip_turn_server(struct req *r);
/* third_party_lookup.yaml */
void thirdparty_protocols(struct req *r);
void thirdparty_protocol(struct req *r);
void thirdparty_query_by_protocol(struct req *r);
void thirdparty_location_by_alias(struct req *r);
void thirdparty_user_by_id(struct req *r);
/* (end of helper A) */
/* typing, receipts, read markers, presence, tags (helper B) */
/* typing.yaml */
void typing_put(struct req *r);
/* Wakes the syncs of the room's joined members (typing and receipt changes). */
void api_notify_room_members(struct hs *hs, const char *room_id);
/* The typing timer's callback (arg: the struct hs): a room's typing set expired. */
void api_typing_expired(void *arg, const char *room_id);
/* receipts.yaml */
void receipts_post(struct req *r);
/* Records an m.read receipt of r->user_id for an event of the room the user has joined and
 * wakes the room. 0, or -1 after replying (404 unknown event, 500). */
int api_read_receipt_or_reply(struct req *r, const char *room_id, const char *event_id);
/* read_markers.yaml */
void read_markers_post(struct req *r);
/* presence.yaml */
void presence_put_status(struct req *r);
void presence_get_status(struct req *r);
/* The presence callback (arg: the struct hs): wakes the user and everyone sharing a room. */
void api_presence_changed(void *arg, const char *user_id);
/* The user acted (sent an event, typed, sent a receipt): online and not idle, unless presence
 * is turned off. */
void api_presence_active(struct hs *hs, const char *user_id);
/* The users who share a joined room with user_id, the user included: {user_id: true}. New
 * reference, or NULL on storage failure. */
json_t *api_room_sharers(struct hs *hs, const char *user_id);
/* tags.yaml */
void tags_get(struct req *r);
void tags_put(struct req *r);
void tags_delete(struct req *r);
/* modules/ignore_users.rst: the user's m.ignored_user_list as {user_id: {}} (new reference;
 * empty when unset or malformed). */
json_t *api_ignored_users(struct hs *hs, const char *user_id);
/* (end of helper B) */

/* content-repo.yaml and Synapse's media quarantine admin API (content_repo.c; issue 7) */
void content_upload(struct req *r);
void content_download(struct req *r);
void content_thumbnail(struct req *r);
void content_preview_url(struct req *r);
void content_config(struct req *r);
void content_quarantine(struct req *r);
void content_unquarantine(struct req *r);
/* (end of content repository) */
/* end-to-end encryption, send-to-device (issue 6: keys.c, to_device.c, sync_e2e.c) */
/* keys.yaml */
void keys_upload(struct req *r);
void keys_query(struct req *r);
void keys_claim(struct req *r);
void keys_changes(struct req *r);
/* The user's devices or keys changed (logged by the store): wakes the syncs of the user and
 * of everyone sharing a room, whose device_lists.changed now name the user. */
void api_device_list_changed(struct hs *hs, const char *user_id);
/* to_device.yaml */
void to_device_send(struct req *r);
/* (end of end-to-end encryption) */
/* Matrix v1.1 (issue 15): cross_signing.yaml (cross_signing.c), key_backup.yaml
 * (key_backup.c) */
void xsign_device_signing_upload(struct req *r);
void xsign_signatures_upload(struct req *r);
/* Adds user_id's cross-signing keys to result's master_keys, self_signing_keys and (for the
 * requester only) user_signing_keys, and the stored signatures to its keys and its devices
 * ({device_id: keys}). -1 on storage failure. */
int api_xsign_decorate(struct req *r, const char *user_id, json_t *devices, json_t *result);
void backup_version_create(struct req *r);
void backup_version_get(struct req *r);
void backup_version_update(struct req *r);
void backup_version_delete(struct req *r);
void backup_keys_put(struct req *r);
void backup_keys_get(struct req *r);
void backup_keys_delete(struct req *r);
void membership_knock(struct req *r);   /* knocking.yaml (room_membership.c) */
void login_fallback_get(struct req *r); /* Login Fallback with v1.1 parameters */
/* (end of Matrix v1.1) */
/* server-side search (issue 9): search.yaml */
void search_post(struct req *r);
/* (end of server-side search) */
/* push (issue 8): pushrules.yaml, pusher.yaml, notifications.yaml */
void pushrules_get_all(struct req *r);
void pushrules_get_scope(struct req *r);
void pushrules_get_kind(struct req *r);
void pushrules_get_rule(struct req *r);
void pushrules_put_rule(struct req *r);
void pushrules_delete_rule(struct req *r);
void pushrules_get_enabled(struct req *r);
void pushrules_put_enabled(struct req *r);
void pushrules_get_actions(struct req *r);
void pushrules_put_actions(struct req *r);
/* The user's pushers as the client API lists them (new reference), NULL if storage failed;
 * the admin API lists them too. */
json_t *api_pushers_json(struct hs *hs, const char *user_id);
void pushers_get(struct req *r);
void pushers_set(struct req *r);
void notifications_get(struct req *r);
/* An initial /sync always has m.push_rules: adds the server-default rules to the global
 * account data events when the user never changed one and the filter f lets it through
 * (Synapse does this; clients read their rules from it). */
struct event_filter;
void api_push_rules_initial_sync(const char *user_id, const struct event_filter *f, json_t *events);
/* Sets unread_notifications in each joined room entry of a /sync answer ({room_id: entry}).
 * The counts are the latest, which can be one event ahead of the answer's timeline. */
void api_push_unread_counts(struct hs *hs, const char *user_id, json_t *join);
/* (end of push) */

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
/* administrative_contact.yaml, and 3PIDs, identity servers, SSO, token login (issue 10) */
void threepid_list(struct req *r);
void threepid_add_legacy(struct req *r);
void threepid_add(struct req *r);
void threepid_bind(struct req *r);
void threepid_delete(struct req *r);
void threepid_unbind_handler(struct req *r);
void threepid_request_token(struct req *r);
/* The link in validation mails, and submit_url (administrative_contact.c) */
void threepid_submit_token_get(struct req *r);
void threepid_submit_token_post(struct req *r);
void threepid_password_reset_confirm(struct req *r);
void threepid_password_reset_submit(struct req *r);
/* UIA fallback pages (fallback.c) */
void fallback_web(struct req *r);
/* sso_login_redirect.yaml (sso.c) */
void sso_redirect(struct req *r);
void sso_oidc_callback(struct req *r);
/* The m.login.sso fallback page for a UIA session (sso.c). */
void sso_fallback_page(struct req *r, const char *session);
/* A new single-use login token (m.login.token) for user_id, valid lifetime_ms. New string, or
 * NULL when it could not be stored (login.c; also `hearth login-token`). */
struct store;
char *api_login_token_new(struct store *st, const char *user_id, int64_t lifetime_ms);
/* third_party_membership.yaml, third_party_signed joins, the identity server's onbind
 * (third_party_invite.c) */
bool third_party_invite_requested(const struct req *r);
void third_party_invite(struct req *r);
/* One third-party invite ({id_server, id_access_token, medium, address}, borrowed) from
 * r->user_id to room_id; check_or_reply only validates it. 0 (the reply is {}), or -1 after
 * replying with the error. */
int third_party_invite_check_or_reply(struct req *r, const json_t *obj);
int third_party_invite_one(struct req *r, const char *room_id, const json_t *obj);
/* A join with third_party_signed: exchanges the room's m.room.third_party_invite for an invite
 * of r->user_id. false after replying. */
bool third_party_signed_or_reply(struct req *r, const char *room_id);
void third_party_onbind(struct req *r);
/* (end of issue 10) */
/* Synapse's admin API for server notices (server_notices.c) */
void server_notices_send(struct req *r);
/* POST /leave: false after replying 403 M_CANNOT_LEAVE_SERVER_NOTICE_ROOM when room_id is
 * r->user_id's server notices room (or 500). */
bool server_notices_may_leave_or_reply(struct req *r, const char *room_id);
/* Synapse's shared-secret registration (synapse_admin.c) */
void synapse_admin_register_nonce(struct req *r);
void synapse_admin_register(struct req *r);
struct nonces *synapse_admin_nonces_new(void);
void synapse_admin_nonces_free(struct nonces *ns);

/* application services: Client-Server extensions (issue 13; appservice.c) */
/* POST /register with type m.login.application_service: true when the request was that (and
 * has been answered), false to let registration go on. */
bool api_appservice_register(struct req *r);
/* 400 M_EXCLUSIVE (false) when user_id is in a service's exclusive users namespace. */
bool api_appservice_user_free_or_reply(struct req *r, const char *user_id);
/* Creating an alias: a service only in its aliases namespaces, and nobody in another one's
 * exclusive namespace (400 M_EXCLUSIVE, false). */
bool api_appservice_alias_ok_or_reply(struct req *r, const char *alias);
/* Is the request from a service whose aliases namespace covers alias (which it controls)? */
bool api_appservice_owns_alias(struct req *r, const char *alias);
/* Work for a thread of its own while its request waits, suspended, on a service: it reads its
 * arguments and hs and leaves its results in the job, never touching the request. */
struct api_as_job;
typedef void (*api_as_work)(struct api_as_job *j);
struct api_as_job {
    struct req *r;
    struct hs *hs;
    api_as_work work;
    char *arg, *arg2; /* copies of the arguments */
    bool yes;         /* results */
    json_t *out;
};
/* Runs work with the request suspended: NULL then, and the handler returns at once; it is
 * called again when the work is done, and this returns the job with its results (owned by the
 * request). With no services configured the work runs at once. The handler must be able to
 * run twice (it reads before it writes). */
struct api_as_job *api_appservice_job(struct req *r, api_as_work work, const char *arg,
                                      const char *arg2);
/* An unknown local user or alias in a service's exclusive namespace: asks the service (which
 * may create it) with the request suspended. True when suspended (the handler returns at once
 * and runs again once the service answered, when this returns false: look again). */
bool api_appservice_suspend_for_user(struct req *r, const char *user_id);
bool api_appservice_suspend_for_alias(struct req *r, const char *alias);
/* appservice_room_directory.yaml */
void appservice_directory_put(struct req *r);
/* (end of application services) */

#endif
