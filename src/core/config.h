/* Server configuration: YAML with Synapse's key names (libyaml). */
#ifndef HEARTH_CORE_CONFIG_H
#define HEARTH_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_ratelimit {
    double per_second;
    double burst_count;
};

#define CONFIG_MAX_BIND 8

/* 3PID, identity servers, SSO (issue 10) */
struct config_3pid_pattern {
    char *medium;  /* "email" or "msisdn" */
    char *pattern; /* POSIX extended regex the whole address must match */
};

/* One entry of oidc_providers (Synapse's shape). */
struct config_oidc_provider {
    char *idp_id;   /* "oidc-<idp_id>" as Synapse prefixes it; "oidc" for the legacy oidc_config */
    char *idp_name; /* shown to users; default "OIDC" */
    char *issuer;   /* required */
    char *client_id;
    char *client_secret;
    char *client_auth_method; /* client_secret_basic (default), client_secret_post, none */
    char **scopes;            /* default ["openid"] */
    size_t n_scopes;
    bool discover; /* fetch <issuer>/.well-known/openid-configuration; default true */
    char *authorization_endpoint, *token_endpoint, *userinfo_endpoint, *jwks_uri;
    bool skip_verification;    /* allow http:// endpoints (testing) */
    char *user_profile_method; /* "auto" (ID token claims) or "userinfo_endpoint" */
    bool allow_existing_users; /* link a new subject to an existing account of the localpart */
    char *pkce_method;         /* "auto" (default), "always", "never" */
    /* user_mapping_provider.config */
    char *subject_claim;         /* default "sub" */
    char *localpart_template;    /* default "{{ user.preferred_username }}" */
    char *display_name_template; /* NULL: none */
    char *email_template;        /* NULL: none */
};

/* Content repository (issue 7). */
enum config_thumb_method { CONFIG_THUMB_CROP, CONFIG_THUMB_SCALE };
struct config_thumbnail_size {
    int width, height;
    enum config_thumb_method method;
};
/* An address range: family AF_INET or AF_INET6, the address in network order (4 or 16
 * bytes used) and the prefix length in bits. */
struct config_ip_range {
    int family;
    unsigned char addr[16];
    int prefix;
};

struct config_listener {
    int port;
    size_t n_bind;
    char *bind_addresses[CONFIG_MAX_BIND]; /* default {"127.0.0.1"} when the key is absent */
    bool x_forwarded; /* behind a proxy: the client is X-Forwarded-For's first address (14) */
    /* Slow clients (issue 12, soak): a connection must deliver a whole request (headers and
     * body) within connection_timeout_ms of becoming ready for one (opened, or the previous
     * answer sent), else it is closed; parked long-polls are not cut. Default 90 s. Open
     * connections per client address, 0 = no limit; default 4096. */
    int64_t connection_timeout_ms;
    int max_connections_per_ip;
};

struct config {
    char *server_name;               /* required */
    char *public_baseurl;            /* NULL when unset; .well-known answers 404 then */
    struct config_listener listener; /* the first listener of type http; port 8008 on
                                        127.0.0.1 when the listeners key is absent */
    char *database_name;             /* "sqlite3" (default) or "psycopg2" */
    char *database_path;             /* database.args.database (sqlite3) */
    char *database_conninfo;         /* psycopg2: built from database.args (user, password,
                                        database/dbname, host, port) as a libpq conninfo string */
    int database_cp_min;             /* psycopg2: connections opened at start (default 5) */
    int database_cp_max;             /* psycopg2: most connections at once (default 10) */
    char *media_store_path;          /* default "<dir of config>/media_store" */
    char *signing_key_path;          /* default "<dir of config>/<server_name>.signing.key" */
    char *log_level;                 /* "debug", "info" (default), "warning", "error" */
    bool enable_registration;        /* default false */
    bool enable_registration_without_verification; /* default false */
    bool allow_guest_access;                       /* default false */
    char *registration_shared_secret; /* NULL when unset: shared-secret registration off */
    char *default_room_version;       /* default "6" */
    /* VoIP (voip.yaml): TURN servers handed to clients; turn_shared_secret gives TURN REST
     * API credentials, else static turn_username/turn_password. No URIs: no TURN. */
    char **turn_uris;
    size_t n_turn_uris;
    char *turn_shared_secret;
    char *turn_username;
    char *turn_password;
    int64_t turn_user_lifetime_ms; /* accepts "1h", "30m", "1d" or milliseconds; default 1h */
    bool turn_allow_guests;        /* default true */
    bool user_directory_search_all_users; /* user_directory.search_all_users, default false */
    int64_t max_upload_size;  /* bytes; accepts "50M", "10K", "1G" or a plain number; default 50M */
    int64_t max_request_size; /* JSON body limit in bytes; hearth-specific; default 1 MiB */
    /* Events kept formatted in memory (Synapse's name; "4K" = 4,096); default 4K. About 2 KB
     * each when full (issue 12's memory target). */
    int64_t event_cache_size;
    struct config_ratelimit rc_message;               /* default 0.2 / 10 */
    struct config_ratelimit rc_registration;          /* default 0.17 / 3 */
    struct config_ratelimit rc_login_address;         /* rc_login.address, default 0.17 / 3 */
    struct config_ratelimit rc_login_account;         /* rc_login.account, default 0.17 / 3 */
    struct config_ratelimit rc_login_failed_attempts; /* rc_login.failed_attempts, 0.17 / 3 */
    int thread_pool_size;  /* hearth-specific: HTTP worker threads; default 0 = cores */
    bool presence_enabled; /* presence.enabled, default true */
    /* server_notices (modules/server_notices.rst): the system user's localpart (NULL: no
     * server notices), its display name and avatar (NULL: none), the rooms' name. */
    char *server_notices_localpart;    /* server_notices.system_mxid_localpart */
    char *server_notices_display_name; /* server_notices.system_mxid_display_name */
    char *server_notices_avatar_url;   /* server_notices.system_mxid_avatar_url */
    char *server_notices_room_name;    /* server_notices.room_name, default "Server Notices" */
    /* Content repository (issue 7), Synapse's keys. */
    int64_t max_image_pixels; /* larger images are not thumbnailed; default 32M */
    struct config_thumbnail_size *thumbnail_sizes; /* default Synapse's five sizes */
    size_t n_thumbnail_sizes;
    bool dynamic_thumbnails;  /* generate exactly the requested size; default false */
    bool url_preview_enabled; /* default false */
    /* Addresses previews may not fetch from: default Synapse's sample list of private and
     * reserved ranges; 0.0.0.0 and :: are always added. The whitelist wins over it. */
    struct config_ip_range *url_preview_ip_range_blacklist;
    size_t n_url_preview_ip_range_blacklist;
    struct config_ip_range *url_preview_ip_range_whitelist;
    size_t n_url_preview_ip_range_whitelist;
    int64_t max_spider_size; /* largest page or image a preview downloads; default 10M */
    /* Application services (issue 13): app_service_config_files, the registration files
     * (Synapse's format), each resolved against the config's directory; read by
     * src/appservice/ at start. */
    char **app_service_config_files;
    size_t n_app_service_config_files;
    /* Operating Hearth (issue 14): the first listener of type metrics serves Prometheus text
     * on its own port; port 0: none. */
    struct config_listener metrics_listener;

    /* ---- 3PID, identity servers, SSO, token login, soft logout (issue 10) ---- */
    bool email_enabled;    /* the email section is present: the server validates addresses */
    char *email_smtp_host; /* email.smtp_host, default "localhost" */
    int email_smtp_port;   /* email.smtp_port, default 25 */
    char *email_smtp_user; /* email.smtp_user: NULL, no SMTP AUTH */
    char *email_smtp_pass; /* email.smtp_pass */
    bool email_require_transport_security; /* STARTTLS or no mail; default false */
    bool email_enable_tls;                 /* STARTTLS when offered; default true */
    bool email_force_tls;                  /* implicit TLS (smtps); default false */
    char *email_notif_from;                /* required with email; "%(app)s" becomes app_name */
    char *email_app_name;                  /* default "Matrix" */
    int64_t email_validation_token_lifetime_ms;      /* default 1h */
    bool registration_requires_email;                /* "email" in registrations_require_3pid */
    struct config_3pid_pattern *allowed_local_3pids; /* none: every address is allowed */
    size_t n_allowed_local_3pids;
    bool enable_3pid_changes;                   /* default true */
    struct config_ratelimit rc_3pid_validation; /* per IP and per address; 0.003 / 5 */
    int64_t session_lifetime_ms;  /* session_lifetime (alias access_token_lifetime); 0 never */
    char *identity_server_scheme; /* Hearth-specific: "https" (default) or "http" (tests) */
    struct config_oidc_provider *oidc_providers;
    size_t n_oidc_providers;
    char **sso_client_whitelist; /* sso.client_whitelist: redirectUrl prefixes trusted */
    size_t n_sso_client_whitelist;
    /* Addresses identity server requests may not reach (ip_range_blacklist, default the
     * private and reserved ranges as url_preview's; 0.0.0.0 and :: always), unless in
     * ip_range_whitelist. */
    struct config_ip_range *ip_range_blacklist;
    size_t n_ip_range_blacklist;
    struct config_ip_range *ip_range_whitelist;
    size_t n_ip_range_whitelist;
};

/* Reads and validates FILE. On success returns 0 and *out is a new config (free with
 * config_free). On failure returns -1 and writes a one-line message naming the key into
 * err (size errlen). Unknown keys are logged as warnings, not errors. */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* Same as config_load but from a string; base_dir is used for path defaults. */
int config_load_string(const char *yaml, size_t len, const char *base_dir, struct config **out,
                       char *err, size_t errlen);

void config_free(struct config *cfg);

/* Returns a new malloc'd string: a commented YAML config listing every setting, with
 * server_name and paths under data_dir filled in. Caller frees. Returns NULL if server_name
 * is not a valid server name (or libsodium cannot start). A relative data_dir is made
 * absolute against the working directory. */
char *config_generate(const char *server_name, const char *data_dir);

/* The configuration reference in Markdown (new string), generated from the parser's key
 * tables: docs/configuration.md (issue 14). */
char *config_reference(void);

#endif
