/* The end-to-end encryption parts of /sync (modules/send_to_device.rst, end_to_end_encryption.rst
 * "Extensions to /sync"): to_device, device_lists, device_one_time_keys_count, each behind its
 * own position in the sync token. Also the device-list delta that GET /keys/changes answers. */
#ifndef HEARTH_API_SYNC_E2E_H
#define HEARTH_API_SYNC_E2E_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct hs;
struct req;
struct sync_token;

/* SPEC: send_to_device.rst: "100 messages is recommended as a reasonable limit." */
#define SYNC_TO_DEVICE_LIMIT 100

/* What one /sync answer carries for the device. All references owned. */
struct sync_e2e {
    json_t *to_device;      /* [event] for r->device_id, oldest first */
    json_t *changed, *left; /* [user_id]; empty on an initial sync */
    json_t *otk_counts;     /* {algorithm: count} */
    int64_t to_device_next; /* the to-device position of the next token */
    int64_t device_lists_now;
};

/* Fills e for r's user and device. since NULL: an initial sync. events_now: the events
 * position the answer is consistent with. Messages up to since's to-device position were
 * delivered by the answer that gave that token and are deleted now (never before: a client
 * whose answer was lost repeats its old since and gets them again). 0, or -1 on storage
 * failure. */
int sync_e2e_collect(struct req *r, const struct sync_token *since, int64_t events_now,
                     struct sync_e2e *e);
/* True when neither to-device messages nor device-list changes are waiting. */
bool sync_e2e_is_empty(const struct sync_e2e *e);
/* Sets the positions of next and moves the three sections into the answer body. */
void sync_e2e_reply(struct sync_e2e *e, struct sync_token *next, json_t *body);
void sync_e2e_clear(struct sync_e2e *e);

/* The users whose device lists user_id should refresh between two positions of the events
 * stream and of the device-lists stream: *changed (those sharing a joined room with user_id,
 * user_id included, whose devices or keys changed, who joined a shared room, or all members
 * of a room user_id joined) and *left (those who left a shared room, or were in a room
 * user_id left, and share none now). New arrays of strings. 0, or -1 on storage failure. */
int sync_e2e_device_lists(struct hs *hs, const char *user_id, int64_t ev_since, int64_t ev_upto,
                          int64_t dl_since, int64_t dl_upto, json_t **changed, json_t **left);

#endif
