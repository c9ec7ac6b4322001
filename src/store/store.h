/* Storage: operations per domain. Callers never see SQL or which database is behind. */
#ifndef HEARTH_STORE_STORE_H
#define HEARTH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;

enum store_rc {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_EXISTS,
    STORE_ERR,
};

/* Opens the database named by the config and applies pending migrations. */
enum store_rc store_open(const struct config *cfg, struct store **out);
void store_close(struct store *st);

/* ---- accounts ---- */
struct store_user {
    char *user_id;
    char *password_hash; /* NULL when the account has no password (guests) */
    bool is_guest, is_admin, deactivated;
    int64_t created_ts;
};
void store_user_clear(struct store_user *u);

/* STORE_EXISTS when the user ID is taken (deactivated accounts keep theirs). */
enum store_rc store_user_create(struct store *st, const char *user_id, const char *password_hash,
                                bool is_guest, bool is_admin, int64_t now);
/* Fills *out (owned by the caller, free with store_user_clear). */
enum store_rc store_user_get(struct store *st, const char *user_id, struct store_user *out);
enum store_rc store_user_set_password(struct store *st, const char *user_id, const char *hash);
/* Marks the account deactivated and deletes its devices and tokens, in one transaction. The
 * password hash stays, so a login with the right password can be told M_USER_DEACTIVATED. */
enum store_rc store_user_deactivate(struct store *st, const char *user_id);
/* Returns a number never returned before, for generated localparts. */
enum store_rc store_next_localpart_number(struct store *st, int64_t *out);

/* ---- devices and access tokens ---- */
struct store_device {
    char *device_id;
    char *display_name;   /* may be NULL */
    char *last_seen_ip;   /* may be NULL */
    int64_t last_seen_ts; /* 0 when never seen */
};
void store_device_clear(struct store_device *d);
void store_device_list_free(struct store_device *list, size_t n);

/* Creates the device if missing (display_name only applies then), replaces any access tokens
 * of that device with token_hash, and records ip/now as last seen. One transaction. */
enum store_rc store_device_login(struct store *st, const char *user_id, const char *device_id,
                                 const char *display_name, const char *token_hash, const char *ip,
                                 int64_t now);
enum store_rc store_device_list(struct store *st, const char *user_id, struct store_device **out,
                                size_t *n);
enum store_rc store_device_get(struct store *st, const char *user_id, const char *device_id,
                               struct store_device *out);
/* STORE_NOT_FOUND if the device does not exist. */
enum store_rc store_device_set_display_name(struct store *st, const char *user_id,
                                            const char *device_id, const char *name);
/* Deletes the device and its tokens; STORE_NOT_FOUND if it did not exist. */
enum store_rc store_device_delete(struct store *st, const char *user_id, const char *device_id);
/* Deletes every device (and token) of the user but `keep` (NULL: all). */
enum store_rc store_device_delete_all_except(struct store *st, const char *user_id,
                                             const char *keep);
enum store_rc store_device_touch(struct store *st, const char *user_id, const char *device_id,
                                 const char *ip, int64_t now);

struct store_auth {
    char *user_id;
    char *device_id;
    bool is_guest;
    char *last_seen_ip;
    int64_t last_seen_ts;
};
void store_auth_clear(struct store_auth *a);
/* Looks up an access token by the SHA-256 hex of the token. */
enum store_rc store_token_lookup(struct store *st, const char *token_hash, struct store_auth *out);

/* Short-lived single-use login tokens (m.login.token). */
enum store_rc store_login_token_add(struct store *st, const char *token_hash, const char *user_id,
                                    int64_t expiry_ts);
/* Deletes the token and returns its user (new string) if it had not expired. */
enum store_rc store_login_token_consume(struct store *st, const char *token_hash, int64_t now,
                                        char **user_id);

#endif
