#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SN "server_name: example.org\n"
#define BASE "/srv/hearth"

static struct config *
load_ok(const char *yaml)
{
    struct config *cfg = NULL;
    char err[256] = "";

    if (config_load_string(yaml, strlen(yaml), BASE, &cfg, err, sizeof(err)) != 0)
        fail_msg("unexpected error for\n%s\n-> %s", yaml, err);
    assert_non_null(cfg);
    return cfg;
}

/* ---- stderr capture, to see what the loader logged ---------------------------------------- */

static int saved_stderr = -1;
static FILE *capture_file;

static void
capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture_file), 2) >= 0);
}

/* Returns what was written to stderr since capture_begin; caller frees. */
static char *
capture_end(void)
{
    char *text;
    long n;

    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    saved_stderr = -1;
    fseek(capture_file, 0, SEEK_END);
    n = ftell(capture_file);
    rewind(capture_file);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, capture_file), (size_t)n);
    fclose(capture_file);
    capture_file = NULL;
    return text;
}

/* ---- defaults and every key --------------------------------------------------------------- */

static void
test_defaults(void **state)
{
    struct config *cfg = load_ok(SN);

    (void)state;
    assert_string_equal(cfg->server_name, "example.org");
    assert_null(cfg->public_baseurl);
    assert_int_equal(cfg->listener.port, 8008);
    assert_false(cfg->listener.x_forwarded);
    assert_int_equal(cfg->metrics_listener.port, 0);
    assert_int_equal(cfg->listener.n_bind, 1);
    assert_string_equal(cfg->listener.bind_addresses[0], "127.0.0.1");
    assert_string_equal(cfg->database_name, "sqlite3");
    assert_string_equal(cfg->database_path, BASE "/homeserver.db");
    assert_null(cfg->database_conninfo);
    assert_string_equal(cfg->media_store_path, BASE "/media_store");
    assert_string_equal(cfg->signing_key_path, BASE "/example.org.signing.key");
    assert_string_equal(cfg->log_level, "info");
    assert_false(cfg->enable_registration);
    assert_false(cfg->enable_registration_without_verification);
    assert_false(cfg->allow_guest_access);
    assert_null(cfg->registration_shared_secret);
    assert_string_equal(cfg->default_room_version, "6");
    assert_int_equal(cfg->max_upload_size, 50 * 1024 * 1024);
    assert_int_equal(cfg->max_request_size, 1024 * 1024);
    assert_int_equal(cfg->event_cache_size, 4096);
    assert_true(cfg->rc_message.per_second == 0.2 && cfg->rc_message.burst_count == 10);
    assert_true(cfg->rc_registration.per_second == 0.17 && cfg->rc_registration.burst_count == 3);
    assert_true(cfg->rc_login_address.per_second == 0.17 && cfg->rc_login_address.burst_count == 3);
    assert_true(cfg->rc_login_account.per_second == 0.17 && cfg->rc_login_account.burst_count == 3);
    assert_true(cfg->rc_login_failed_attempts.per_second == 0.17 &&
                cfg->rc_login_failed_attempts.burst_count == 3);
    assert_int_equal(cfg->thread_pool_size, 0);
    assert_true(cfg->presence_enabled);
    assert_true(cfg->n_turn_uris == 0 && !cfg->turn_shared_secret && !cfg->turn_username &&
                cfg->turn_user_lifetime_ms == 3600000 && cfg->turn_allow_guests);
    assert_false(cfg->user_directory_search_all_users);
    assert_true(!cfg->server_notices_localpart && !cfg->server_notices_display_name &&
                !cfg->server_notices_avatar_url && !cfg->server_notices_room_name);
    config_free(cfg);
}

/* Null values ("key:" with nothing, ~, null) leave the default in place, as Synapse's None. */
static void
test_null_values_keep_defaults(void **state)
{
    struct config *cfg = load_ok(SN "public_baseurl:\n"
                                    "listeners: ~\n"
                                    "database: null\n"
                                    "max_upload_size:\n"
                                    "rc_message: {per_second: ~}\n"
                                    "enable_registration: NULL\n");

    (void)state;
    assert_null(cfg->public_baseurl);
    assert_int_equal(cfg->listener.port, 8008);
    assert_string_equal(cfg->database_name, "sqlite3");
    assert_int_equal(cfg->max_upload_size, 50 * 1024 * 1024);
    assert_true(cfg->rc_message.per_second == 0.2);
    assert_false(cfg->enable_registration);
    config_free(cfg);
}

static void
test_every_key(void **state)
{
    struct config *cfg = load_ok("server_name: \"matrix.example.org:8448\"\n"
                                 "public_baseurl: https://matrix.example.org\n"
                                 "listeners:\n"
                                 "  - port: 9000\n"
                                 "    type: metrics\n"
                                 "  - port: 8448\n"
                                 "    tls: false\n"
                                 "    type: http\n"
                                 "    x_forwarded: true\n"
                                 "    bind_addresses: ['::1', 127.0.0.1]\n"
                                 "    resources:\n"
                                 "      - names: [client, federation]\n"
                                 "        compress: false\n"
                                 "  - port: 8008\n"
                                 "database:\n"
                                 "  name: sqlite3\n"
                                 "  args:\n"
                                 "    database: /var/lib/hearth/db.sqlite\n"
                                 "    cp_min: 5\n"
                                 "    cp_max: 10\n"
                                 "media_store_path: /var/lib/hearth/media\n"
                                 "signing_key_path: /etc/hearth/signing.key\n"
                                 "log_level: DEBUG\n"
                                 "enable_registration: yes\n"
                                 "enable_registration_without_verification: On\n"
                                 "allow_guest_access: TRUE\n"
                                 "registration_shared_secret: s3cret\n"
                                 "default_room_version: 7\n"
                                 "max_upload_size: 10M\n"
                                 "max_request_size: 2048K\n"
                                 "event_cache_size: 10K\n"
                                 "thread_pool_size: 16\n"
                                 "turn_uris: [\"turn:t.example.org?transport=udp\", \"turns:t\"]\n"
                                 "turn_shared_secret: turnsecret\n"
                                 "turn_user_lifetime: 1d\n"
                                 "turn_allow_guests: false\n"
                                 "user_directory: {search_all_users: true}\n"
                                 "server_notices: {system_mxid_localpart: notices, "
                                 "system_mxid_display_name: Notices, system_mxid_avatar_url: "
                                 "mxc://x/y, room_name: Hear ye}\n"
                                 "rc_message: {per_second: 1.5, burst_count: 20}\n"
                                 "rc_registration:\n"
                                 "  per_second: 0\n"
                                 "  burst_count: 1e2\n"
                                 "rc_login:\n"
                                 "  address: {per_second: 1, burst_count: 2}\n"
                                 "  account: {per_second: 3, burst_count: 4}\n"
                                 "  failed_attempts: {per_second: 5}\n");

    (void)state;
    assert_string_equal(cfg->server_name, "matrix.example.org:8448");
    assert_string_equal(cfg->public_baseurl, "https://matrix.example.org/");
    assert_int_equal(cfg->listener.port, 8448);
    assert_true(cfg->listener.x_forwarded);
    /* issue 14: the metrics listener, on loopback by default */
    assert_int_equal(cfg->metrics_listener.port, 9000);
    assert_string_equal(cfg->metrics_listener.bind_addresses[0], "127.0.0.1");
    assert_int_equal(cfg->listener.n_bind, 2);
    assert_string_equal(cfg->listener.bind_addresses[0], "::1");
    assert_string_equal(cfg->listener.bind_addresses[1], "127.0.0.1");
    assert_string_equal(cfg->database_name, "sqlite3");
    assert_string_equal(cfg->database_path, "/var/lib/hearth/db.sqlite");
    assert_string_equal(cfg->media_store_path, "/var/lib/hearth/media");
    assert_string_equal(cfg->signing_key_path, "/etc/hearth/signing.key");
    assert_string_equal(cfg->log_level, "debug");
    assert_true(cfg->enable_registration);
    assert_true(cfg->enable_registration_without_verification);
    assert_true(cfg->allow_guest_access);
    assert_string_equal(cfg->registration_shared_secret, "s3cret");
    assert_string_equal(cfg->default_room_version, "7");
    assert_int_equal(cfg->max_upload_size, 10 * 1024 * 1024);
    assert_int_equal(cfg->max_request_size, 2048 * 1024);
    assert_int_equal(cfg->event_cache_size, 10 * 1024);
    assert_int_equal(cfg->thread_pool_size, 16);
    assert_true(cfg->n_turn_uris == 2 && strcmp(cfg->turn_uris[1], "turns:t") == 0);
    assert_string_equal(cfg->turn_shared_secret, "turnsecret");
    assert_true(cfg->turn_user_lifetime_ms == 86400000 && !cfg->turn_allow_guests);
    assert_true(cfg->user_directory_search_all_users);
    assert_string_equal(cfg->server_notices_localpart, "notices");
    assert_string_equal(cfg->server_notices_display_name, "Notices");
    assert_string_equal(cfg->server_notices_avatar_url, "mxc://x/y");
    assert_string_equal(cfg->server_notices_room_name, "Hear ye");
    assert_true(cfg->rc_message.per_second == 1.5 && cfg->rc_message.burst_count == 20);
    assert_true(cfg->rc_registration.per_second == 0 && cfg->rc_registration.burst_count == 100);
    assert_true(cfg->rc_login_address.per_second == 1 && cfg->rc_login_address.burst_count == 2);
    assert_true(cfg->rc_login_account.per_second == 3 && cfg->rc_login_account.burst_count == 4);
    /* An rc_* block that gives one field keeps the default for the other. */
    assert_true(cfg->rc_login_failed_attempts.per_second == 5 &&
                cfg->rc_login_failed_attempts.burst_count == 3);
    config_free(cfg);
}

static void
test_listener_bind_address_singular(void **state)
{
    struct config *cfg = load_ok(SN "listeners:\n"
                                    "  - port: 8008\n"
                                    "    bind_address: 0.0.0.0\n");

    (void)state;
    assert_int_equal(cfg->listener.n_bind, 1);
    assert_string_equal(cfg->listener.bind_addresses[0], "0.0.0.0");
    config_free(cfg);
}

static void
test_public_baseurl_slash_kept(void **state)
{
    struct config *cfg = load_ok(SN "public_baseurl: http://localhost:8008/\n");

    (void)state;
    assert_string_equal(cfg->public_baseurl, "http://localhost:8008/");
    config_free(cfg);
}

static void
test_log_levels(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"debug", "debug"},  {"INFO", "info"},   {"warning", "warning"},
        {"WARN", "warning"}, {"Error", "error"},
    };
    char yaml[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg;
        snprintf(yaml, sizeof(yaml), SN "log_level: %s\n", cases[i].in);
        cfg = load_ok(yaml);
        assert_string_equal(cfg->log_level, cases[i].want);
        config_free(cfg);
    }
}

static void
test_room_versions(void **state)
{
    static const char *const ok[] = {"1", "2", "3", "4", "5", "6", "7", "'1'", "\"6\""};
    char yaml[128];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct config *cfg;
        snprintf(yaml, sizeof(yaml), SN "default_room_version: %s\n", ok[i]);
        cfg = load_ok(yaml);
        assert_int_equal(strlen(cfg->default_room_version), 1);
        assert_true(strchr(ok[i], cfg->default_room_version[0]) != NULL);
        config_free(cfg);
    }
}

/* ---- scalars ------------------------------------------------------------------------------ */

static void
test_sizes(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"1", 1},
        {"1234", 1234},
        {"10K", 10 * 1024},
        {"10k", 10 * 1024},
        {"50M", 50 * 1024 * 1024},
        {"1G", 1024 * 1024 * 1024},
        {"4g", 4LL * 1024 * 1024 * 1024},
        {"\"7K\"", 7 * 1024},
        {"'100'", 100},
        {"8589934591G", 8589934591LL * 1024 * 1024 * 1024},
    };
    char yaml[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg;
        snprintf(yaml, sizeof(yaml), SN "max_upload_size: %s\nmax_request_size: %s\n", cases[i].in,
                 cases[i].in);
        cfg = load_ok(yaml);
        if (cfg->max_upload_size != cases[i].want || cfg->max_request_size != cases[i].want)
            fail_msg("%s: got %lld", cases[i].in, (long long)cfg->max_upload_size);
        config_free(cfg);
    }
}

static void
test_booleans(void **state)
{
    static const struct {
        const char *in;
        bool want;
    } cases[] = {
        {"true", true},   {"True", true},   {"TRUE", true},   {"yes", true},
        {"Yes", true},    {"on", true},     {"ON", true},     {"'true'", true},
        {"false", false}, {"False", false}, {"FALSE", false}, {"no", false},
        {"No", false},    {"off", false},   {"Off", false},   {"\"no\"", false},
    };
    char yaml[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg;
        snprintf(yaml, sizeof(yaml),
                 SN "enable_registration: %s\nenable_registration_without_verification: %s\n"
                    "allow_guest_access: %s\n",
                 cases[i].in, cases[i].in, cases[i].in);
        cfg = load_ok(yaml);
        if (cfg->enable_registration != cases[i].want ||
            cfg->enable_registration_without_verification != cases[i].want ||
            cfg->allow_guest_access != cases[i].want)
            fail_msg("boolean %s misparsed", cases[i].in);
        config_free(cfg);
    }
}

static void
test_server_names(void **state)
{
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {
        {"example.org", true},
        {"localhost", true},
        {"localhost:8448", true},
        {"matrix.example.org:1", true},
        {"a-b.example", true},
        {"xn--bcher-kva.example", true},
        {"1.2.3.4", true},
        {"1.2.3.4:8008", true},
        {"255.255.255.255", true},
        {"[::1]", true},
        {"[::1]:8448", true},
        {"[2001:db8::1]", true},
        {"[::ffff:1.2.3.4]", true},
        {"", false},
        {"exa mple.org", false},
        {"ex_ample.org", false},
        {"example..org", false},
        {".example.org", false},
        {"example.org.", false},
        {"example.org:", false},
        {"example.org:0", false},
        {"example.org:65536", false},
        {"example.org:123456", false},
        {"example.org:80x", false},
        {"example.org:80:80", false},
        {"@alice:example.org", false},
        {"256.1.1.1", false},
        {"1.2.3", false},
        {"1.2.3.4.5", false},
        {"1.2.3.0004", false},
        {"[::1", false},
        {"[::1]x", false},
        {"[::1]:", false},
        {"[fe80::1%eth0]", false},
        {"[1.2.3.4]", false},
        {"[example.org]", false},
        {"b\xc3\xbc"
         "cher.example",
         false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org", false},
    };
    char yaml[256], err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg = NULL;
        int rc;
        snprintf(yaml, sizeof(yaml), "server_name: \"%s\"\n", cases[i].name);
        rc = config_load_string(yaml, strlen(yaml), BASE, &cfg, err, sizeof(err));
        if ((rc == 0) != cases[i].ok)
            fail_msg("server name '%s': rc %d (%s)", cases[i].name, rc, rc ? err : "");
        if (rc == 0)
            assert_string_equal(cfg->server_name, cases[i].name);
        else
            assert_non_null(strstr(err, "server_name: "));
        config_free(cfg);
    }
}

/* ---- errors ------------------------------------------------------------------------------- */

static void
test_errors(void **state)
{
    static const struct {
        const char *yaml;
        const char *want; /* substring of the one-line message */
    } cases[] = {
        /* server_name */
        {"", "server_name: required"},
        {"server_name: ~\n", "server_name: required"},
        {"public_baseurl: https://x.org/\n", "server_name: required"},
        {"server_name: [a]\n", "server_name: must be a string"},
        {"server_name: bad name\n", "server_name: 'bad name' is not a valid server name"},
        {"server_name: \"a\\0b\"\n", "server_name: must not contain NUL"},
        /* public_baseurl */
        {SN "public_baseurl: ftp://example.org/\n", "public_baseurl: must be an http"},
        {SN "public_baseurl: https://\n", "public_baseurl: must be an http"},
        {SN "public_baseurl: {a: b}\n", "public_baseurl: must be a URL"},
        /* listeners */
        {SN "listeners: 8008\n", "listeners: must be a list"},
        {SN "listeners: {port: 8008}\n", "listeners: must be a list"},
        {SN "listeners: []\n", "listeners: no listener of type http"},
        {SN "listeners: [{type: metrics, port: 9000}]\n", "listeners: no listener of type http"},
        {SN "listeners: [8008]\n", "listeners[0]: must be a mapping"},
        {SN "listeners: [{bind_addresses: ['::1']}]\n", "listeners[0].port: required"},
        {SN "listeners: [{port: ~}]\n", "listeners[0].port: required"},
        {SN "listeners: [{port: 0}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: 65536}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: -80}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: http}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: 80.5}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: 0x50}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: 8_008}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: ' 80'}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: '80 '}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{port: 99999999999999999999}]\n", "listeners[0].port: must be an"},
        {SN "listeners: [{port: [80]}]\n", "listeners[0].port: must be an integer 1..65535"},
        {SN "listeners: [{type: manhole}, {port: 99999}]\n", "listeners[1].port: must be an"},
        /* issue 14: a metrics listener is read, so it needs a port, its own */
        {SN "listeners: [{type: metrics}, {port: 8008}]\n", "listeners[0].port: required"},
        {SN "listeners: [{port: 8008}, {type: metrics, port: 8008}]\n",
         "listeners: the metrics listener needs a port of its own"},
        {SN "listeners: [{port: 8008}, {type: metrics, port: 9000, bind_addresses: [x]}]\n",
         "listeners[1].bind_addresses[0]: 'x' is not an IPv4"},
        {SN "listeners: [{port: 80, type: [http]}]\n", "listeners[0].type: must be a string"},
        {SN "listeners: [{port: 80, port: 81}]\n", "listeners[0].port: duplicate key"},
        {SN "listeners: [{port: 80, bind_addresses: 127.0.0.1}]\n",
         "listeners[0].bind_addresses: must be a list"},
        {SN "listeners: [{port: 80, bind_addresses: []}]\n",
         "listeners[0].bind_addresses: must not be empty"},
        {SN "listeners: [{port: 80, bind_addresses: [localhost]}]\n",
         "listeners[0].bind_addresses[0]: 'localhost' is not an IPv4 or IPv6 address"},
        {SN "listeners: [{port: 80, bind_addresses: ['::1', [a]]}]\n",
         "listeners[0].bind_addresses[1]: must be an IP address"},
        {SN "listeners: [{port: 80, bind_addresses: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4, "
            "1.1.1.5, 1.1.1.6, 1.1.1.7, 1.1.1.8, 1.1.1.9]}]\n",
         "listeners[0].bind_addresses[8]: at most 8"},
        {SN "listeners: [{port: 80, bind_address: 300.1.1.1}]\n",
         "listeners[0].bind_address: '300.1.1.1' is not"},
        {SN "listeners: [{port: 80, tls: maybe}]\n", "listeners[0].tls: must be true or false"},
        /* database */
        {SN "database: sqlite3\n", "database: must be a mapping"},
        {SN "database: {name: mysql}\n", "database.name: must be sqlite3 or psycopg2"},
        {SN "database: {name: [sqlite3]}\n", "database.name: must be a string"},
        {SN "database: {name: sqlite3, args: [x]}\n", "database.args: must be a mapping"},
        {SN "database: {name: sqlite3, args: {database: ''}}\n",
         "database.args.database: must not be empty"},
        {SN "database: {name: sqlite3, args: {database: {}}}\n",
         "database.args.database: must be a path"},
        {SN "database: {name: psycopg2, args: 5}\n", "database.args: must be a mapping"},
        {SN "database: {name: psycopg2, args: {port: 99999}}\n",
         "database.args.port: must be an integer 1..65535"},
        {SN "database: {name: psycopg2, args: {port: pg}}\n",
         "database.args.port: must be an integer 1..65535"},
        {SN "database: {name: psycopg2, args: {database: a, dbname: b}}\n",
         "database.args: give only one of database and dbname"},
        {SN "database: {name: psycopg2, args: {user: [a]}}\n",
         "database.args.user: must be a string"},
        {SN "database: {name: psycopg2, args: {user: a, user: b}}\n",
         "database.args.user: duplicate key"},
        /* paths and strings */
        {SN "media_store_path: {}\n", "media_store_path: must be a path"},
        {SN "media_store_path: ''\n", "media_store_path: must not be empty"},
        {SN "signing_key_path: [a]\n", "signing_key_path: must be a path"},
        {SN "log_level: verbose\n", "log_level: must be debug, info, warning or error"},
        {SN "log_level: debugdebugdebugdebug\n", "log_level: must be debug"},
        {SN "log_level: [info]\n", "log_level: must be a string"},
        {SN "registration_shared_secret: ''\n", "registration_shared_secret: must not be empty"},
        {SN "registration_shared_secret: [a]\n", "registration_shared_secret: must be a string"},
        /* booleans */
        {SN "enable_registration: maybe\n", "enable_registration: must be true or false"},
        {SN "enable_registration: 1\n", "enable_registration: must be true or false"},
        {SN "enable_registration: [true]\n", "enable_registration: must be true or false"},
        {SN "enable_registration_without_verification: y\n",
         "enable_registration_without_verification: must be true or false"},
        {SN "allow_guest_access: nope\n", "allow_guest_access: must be true or false"},
        {SN "turn_user_lifetime: 1x\n", "turn_user_lifetime: must be a positive duration"},
        {SN "turn_uris: turn:x\n", "turn_uris: must be a list of URIs"},
        {SN "server_notices: {room_name: x}\n", "server_notices.system_mxid_localpart: required"},
        {SN "server_notices: {system_mxid_localpart: Big}\n",
         "server_notices.system_mxid_localpart: 'Big' is not a valid localpart"},
        {SN "server_notices: on\n", "server_notices: must be a mapping"},
        /* room versions */
        {SN "default_room_version: 8\n", "default_room_version: must be one of"},
        {SN "default_room_version: 0\n", "default_room_version: must be one of"},
        {SN "default_room_version: '10'\n", "default_room_version: must be one of"},
        {SN "default_room_version: 5.0\n", "default_room_version: must be one of"},
        {SN "default_room_version: [5]\n", "default_room_version: must be one of"},
        /* sizes */
        {SN "max_upload_size: 50MB\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: -1\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: +5\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: 0\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: ''\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: M\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: 10T\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: 1.5M\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: 8589934592G\n", "max_upload_size: must be a positive size"},
        {SN "max_upload_size: 99999999999999999999\n", "max_upload_size: must be a positive"},
        {SN "max_upload_size: {}\n", "max_upload_size: must be a positive size"},
        {SN "max_request_size: lots\n", "max_request_size: must be a positive size"},
        /* thread pool */
        {SN "thread_pool_size: -1\n", "thread_pool_size: must be an integer 0..1024"},
        {SN "thread_pool_size: 1025\n", "thread_pool_size: must be an integer 0..1024"},
        {SN "thread_pool_size: two\n", "thread_pool_size: must be an integer 0..1024"},
        /* rate limits */
        {SN "rc_message: 5\n", "rc_message: must be a mapping"},
        {SN "rc_message: {per_second: -1}\n", "rc_message.per_second: must be a number >= 0"},
        {SN "rc_message: {per_second: .inf}\n", "rc_message.per_second: must be a number"},
        {SN "rc_message: {per_second: inf}\n", "rc_message.per_second: must be a number"},
        {SN "rc_message: {per_second: nan}\n", "rc_message.per_second: must be a number"},
        {SN "rc_message: {per_second: 0x10}\n", "rc_message.per_second: must be a number"},
        {SN "rc_message: {per_second: 1e999}\n", "rc_message.per_second: must be a number"},
        {SN "rc_message: {burst_count: '1 '}\n", "rc_message.burst_count: must be a number"},
        {SN "rc_registration: {burst_count: lots}\n",
         "rc_registration.burst_count: must be a number >= 0"},
        {SN "rc_login: 3\n", "rc_login: must be a mapping"},
        {SN "rc_login: {address: {per_second: x}}\n",
         "rc_login.address.per_second: must be a number >= 0"},
        {SN "rc_login: {account: 3}\n", "rc_login.account: must be a mapping"},
        {SN "rc_login: {failed_attempts: {burst_count: -2}}\n",
         "rc_login.failed_attempts.burst_count: must be a number >= 0"},
        /* document shape */
        {"server_name: a.org\nserver_name: b.org\n", "server_name: duplicate key"},
        {"- server_name\n", "config: must be a mapping"},
        {"just a string\n", "config: must be a mapping"},
        {"? [a]\n: b\n", "config: keys must be strings"},
        {SN "---\nserver_name: other.org\n", "config: expected a single YAML document"},
        {SN "---\n[unclosed\n", "config: YAML syntax error at line 4"},
        {SN "---\n[unclosed\n", "while parsing a flow sequence started at line 3"},
        {SN "listeners: [\n  {port: 80}\n", "config: YAML syntax error at line 4"},
        {SN "media_store_path: a\n  b: c\n", "config: YAML syntax error at line 3, column"},
        {SN "\tfoo: 1\n", "config: YAML syntax error at line 2"},
        {SN "x: *nosuch\n", "config: YAML syntax error at line 2"},
        {SN "x: \"\xff\"\n", "config: YAML error at byte"},
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg = (struct config *)1;
        int rc;

        memset(err, 'x', sizeof(err));
        rc = config_load_string(cases[i].yaml, strlen(cases[i].yaml), BASE, &cfg, err, sizeof(err));
        if (rc != -1)
            fail_msg("case %zu should fail:\n%s", i, cases[i].yaml);
        assert_null(cfg);
        if (!memchr(err, '\0', sizeof(err)))
            fail_msg("case %zu: message not terminated", i);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        if (strchr(err, '\n'))
            fail_msg("case %zu: message spans lines: '%s'", i, err);
    }
}

/* Error reporting must cope with a tiny or absent buffer. */
static void
test_error_buffer_sizes(void **state)
{
    struct config *cfg = NULL;
    char err[8];

    (void)state;
    assert_int_equal(config_load_string("", 0, BASE, &cfg, NULL, 0), -1);
    assert_null(cfg);
    assert_int_equal(config_load_string("", 0, BASE, &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "server_");
    assert_int_equal(config_load_string("", 0, BASE, &cfg, err, 1), -1);
    assert_string_equal(err, "");
    config_free(NULL);
}

/* ---- warnings ----------------------------------------------------------------------------- */

static void
test_unknown_keys_warn(void **state)
{
    static const struct {
        const char *yaml;
        const char *want; /* in the log; NULL: nothing logged */
    } cases[] = {
        {SN "foo: 1\n", "WARN config: unknown key 'foo' ignored"},
        {SN "enable_registraton: true\n", "unknown key 'enable_registraton' ignored"},
        {SN "listeners: [{port: 8008, bogus: 1}]\n", "unknown key 'listeners[0].bogus' ignored"},
        {SN "database: {args: {bogus: 1}}\n", "unknown key 'database.args.bogus' ignored"},
        {SN "database: {name: sqlite3, args: {user: x}}\n",
         "unknown key 'database.args.user' ignored"},
        {SN "database: {name: psycopg2, args: {sslmod: x}}\n",
         "unknown key 'database.args.sslmod' ignored"},
        {SN "database: {name: sqlite3, bogus: 1}\n", "unknown key 'database.bogus' ignored"},
        {SN "rc_login: {address: {rate: 1}}\n", "unknown key 'rc_login.address.rate' ignored"},
        {SN "rc_login: {everything: {}}\n", "unknown key 'rc_login.everything' ignored"},
        {SN "rc_message: {per_minute: 1}\n", "unknown key 'rc_message.per_minute' ignored"},
        {SN "\"a\\nWARN b\": 1\n", "unknown key 'a?WARN b' ignored"},
        {SN "report_stats: false\n",
         "INFO config: Synapse setting 'report_stats' is not used by Hearth"},
        {SN "trusted_key_servers: [{server_name: matrix.org}]\n", "'trusted_key_servers'"},
        {SN "listeners: [{port: 8008, tls: true}]\n",
         "WARN config: listeners[0].tls: Hearth does not terminate TLS"},
        /* Synapse's listener keys and pool sizes pass quietly. */
        {SN "listeners: [{port: 8008, type: http, tls: false, x_forwarded: true,\n"
            "              resources: [{names: [client], compress: false}]}]\n",
         NULL},
        {SN "database: {name: psycopg2, txn_limit: 10, allow_unsafe_locale: false,\n"
            "           args: {cp_min: 5, cp_max: 10, cp_reconnect: true}}\n",
         NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg;
        char *log;

        capture_begin();
        cfg = load_ok(cases[i].yaml);
        log = capture_end();
        if (cases[i].want && !strstr(log, cases[i].want))
            fail_msg("case %zu: log '%s' lacks '%s'", i, log, cases[i].want);
        if (!cases[i].want && log[0])
            fail_msg("case %zu: unexpected log '%s'", i, log);
        if (strstr(cases[i].yaml, "report_stats") && strstr(log, "WARN"))
            fail_msg("Synapse keys should not warn: '%s'", log);
        free(log);
        config_free(cfg);
    }
}

/* ---- paths -------------------------------------------------------------------------------- */

static void
test_relative_paths(void **state)
{
    static const struct {
        const char *value, *want;
    } cases[] = {
        {"media", BASE "/media"},
        {"./media", BASE "/media"},
        {"a/b/../c", BASE "/a/c"},
        {"../media", "/srv/media"},
        {"../../../../media", "/media"},
        {"a//b/", BASE "/a/b"},
        {"/var/lib/hearth/media", "/var/lib/hearth/media"},
        {"/var/lib/../lib/./x", "/var/lib/x"},
        {".", BASE},
    };
    char yaml[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg;
        snprintf(yaml, sizeof(yaml),
                 SN "media_store_path: \"%s\"\nsigning_key_path: \"%s\"\n"
                    "database: {args: {database: \"%s\"}}\n",
                 cases[i].value, cases[i].value, cases[i].value);
        cfg = load_ok(yaml);
        assert_string_equal(cfg->media_store_path, cases[i].want);
        assert_string_equal(cfg->signing_key_path, cases[i].want);
        assert_string_equal(cfg->database_path, cases[i].want);
        config_free(cfg);
    }
}

static void
test_sqlite_special_names(void **state)
{
    struct config *cfg = load_ok(SN "database: {name: sqlite3, args: {database: ':memory:'}}\n");

    (void)state;
    assert_string_equal(cfg->database_path, ":memory:");
    config_free(cfg);
    cfg = load_ok(SN "database: {args: {database: 'file:x.db?mode=ro'}}\n");
    assert_string_equal(cfg->database_path, "file:x.db?mode=ro");
    config_free(cfg);
}

static void
test_base_dir_made_absolute(void **state)
{
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    struct config *cfg = NULL;
    char err[256];

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(config_load_string(SN, strlen(SN), "conf/./dir/", &cfg, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/conf/dir/media_store", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(cfg->media_store_path, want);
    config_free(cfg);

    assert_int_equal(config_load_string(SN, strlen(SN), NULL, &cfg, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/homeserver.db", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(cfg->database_path, want);
    config_free(cfg);
}

/* ---- files -------------------------------------------------------------------------------- */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void
test_config_load_file(void **state)
{
    char dir[] = "/tmp/hearth-config-XXXXXX";
    char path[PATH_MAX], sub[PATH_MAX], want[PATH_MAX + 64], oldcwd[PATH_MAX], cwd[PATH_MAX];
    char err[512];
    struct config *cfg = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/homeserver.yaml", dir);
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(path, SN "media_store_path: media\n");

    /* By absolute path: paths are relative to the file's directory. */
    assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/media", dir);
    assert_string_equal(cfg->media_store_path, want);
    snprintf(want, sizeof(want), "%s/homeserver.db", dir);
    assert_string_equal(cfg->database_path, want);
    config_free(cfg);

    /* By relative paths from inside the directory. */
    assert_non_null(getcwd(oldcwd, sizeof(oldcwd)));
    assert_int_equal(chdir(sub), 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(config_load("../homeserver.yaml", &cfg, err, sizeof(err)), 0);
    *strrchr(cwd, '/') = '\0';
    snprintf(want, sizeof(want), "%s/media", cwd);
    assert_string_equal(cfg->media_store_path, want);
    config_free(cfg);
    assert_int_equal(chdir(".."), 0);
    assert_int_equal(config_load("homeserver.yaml", &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->media_store_path, want);
    config_free(cfg);
    assert_int_equal(config_load("./sub/../homeserver.yaml", &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->media_store_path, want);
    config_free(cfg);
    assert_int_equal(chdir(oldcwd), 0);

    /* Errors name the file. */
    snprintf(want, sizeof(want), "%s/missing.yaml", dir);
    assert_int_equal(config_load(want, &cfg, err, sizeof(err)), -1);
    assert_null(cfg);
    assert_non_null(strstr(err, "missing.yaml: cannot open: No such file or directory"));
    assert_int_equal(config_load(sub, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sub: cannot read: Is a directory"));

    write_file(path, SN "listeners: [{port: 99999}]\n");
    assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "listeners[0].port: must be an integer 1..65535");

    write_file(path, SN "listeners: [\n");
    assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "homeserver.yaml: YAML syntax error at line 3"));

    {
        size_t big = 1024 * 1024 + 1;
        char *text = malloc(big + 1);
        assert_non_null(text);
        memset(text, '#', big);
        text[big] = '\0';
        write_file(path, text);
        free(text);
        assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "homeserver.yaml: larger than"));
    }

    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* ---- psycopg2 ----------------------------------------------------------------------------- */

static void
test_psycopg2_conninfo(void **state)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"{user: synapse, password: secret, database: synapse, host: localhost, port: 5432,\n"
         " cp_min: 5, cp_max: 10}",
         "user=synapse password=secret dbname=synapse host=localhost port=5432"},
        {"{dbname: hearth, host: /var/run/postgresql}", "dbname=hearth host=/var/run/postgresql"},
        {"{password: \"it's a \\\\secret\"}", "password='it\\'s a \\\\secret'"},
        {"{password: 'a b'}", "password='a b'"},
        {"{password: \"tab\\there\"}", "password='tab\there'"},
        {"{password: x=y}", "password=x=y"},
        {"{password: ''}", "password=''"},
        {"{password: ~, user: u}", "user=u"},
        {"{user: 12345, sslmode: verify-full, application_name: hearth, connect_timeout: 10}",
         "user=12345 sslmode=verify-full application_name=hearth connect_timeout=10"},
        {"{}", ""},
        {"~", ""},
    };
    char yaml[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg;
        snprintf(yaml, sizeof(yaml), SN "database:\n  name: psycopg2\n  args: %s\n", cases[i].args);
        cfg = load_ok(yaml);
        assert_string_equal(cfg->database_name, "psycopg2");
        assert_null(cfg->database_path);
        if (strcmp(cfg->database_conninfo, cases[i].want) != 0)
            fail_msg("case %zu: got <%s> want <%s>", i, cfg->database_conninfo, cases[i].want);
        config_free(cfg);
    }

    /* No args at all: libpq's defaults and PG* environment variables apply. */
    {
        struct config *cfg = load_ok(SN "database: {name: psycopg2}\n");
        assert_string_equal(cfg->database_conninfo, "");
        config_free(cfg);
    }
}

/* ---- generate-config ---------------------------------------------------------------------- */

static bool
is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static void
test_generate_roundtrip(void **state)
{
    char *text = config_generate("localhost", "/var/lib/hearth/");
    char *other = config_generate("localhost", "/var/lib/hearth");
    struct config *cfg, *cfg2;
    char *log;

    (void)state;
    assert_non_null(text);
    assert_non_null(other);
    /* Every setting appears, each with a comment. */
    static const char *const keys[] = {"server_name:",
                                       "public_baseurl:",
                                       "listeners:",
                                       "port: 8008",
                                       "bind_addresses:",
                                       "database:",
                                       "name: sqlite3",
                                       "media_store_path:",
                                       "signing_key_path:",
                                       "log_level:",
                                       "enable_registration:",
                                       "enable_registration_without_verification:",
                                       "allow_guest_access:",
                                       "registration_shared_secret:",
                                       "default_room_version:",
                                       "max_upload_size:",
                                       "max_request_size:",
                                       "thread_pool_size:",
                                       "rc_message:",
                                       "rc_registration:",
                                       "rc_login:",
                                       "address:",
                                       "account:",
                                       "failed_attempts:",
                                       "presence:",
                                       "turn_user_lifetime:",
                                       "user_directory:",
                                       "#server_notices:",
                                       "OPEN REGISTRATION",
                                       "psycopg2",
                                       "#email:",
                                       "#registrations_require_3pid:",
                                       "#allowed_local_3pids:",
                                       "enable_3pid_changes:",
                                       "rc_3pid_validation:",
                                       "#session_lifetime:",
                                       "identity_server_scheme:",
                                       "#oidc_providers:",
                                       "#sso:"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strstr(text, keys[i]))
            fail_msg("generated config lacks '%s'", keys[i]);

    capture_begin();
    cfg = load_ok(text);
    cfg2 = load_ok(other);
    log = capture_end();
    assert_string_equal(log, ""); /* no unknown keys */
    free(log);

    assert_string_equal(cfg->server_name, "localhost");
    assert_null(cfg->public_baseurl);
    assert_int_equal(cfg->listener.port, 8008);
    assert_int_equal(cfg->listener.n_bind, 1);
    assert_string_equal(cfg->listener.bind_addresses[0], "127.0.0.1");
    assert_string_equal(cfg->database_name, "sqlite3");
    assert_string_equal(cfg->database_path, "/var/lib/hearth/homeserver.db");
    assert_string_equal(cfg->media_store_path, "/var/lib/hearth/media_store");
    assert_string_equal(cfg->signing_key_path, "/var/lib/hearth/localhost.signing.key");
    assert_string_equal(cfg->log_level, "info");
    assert_true(cfg->enable_registration);
    assert_true(cfg->enable_registration_without_verification);
    assert_false(cfg->allow_guest_access);
    assert_true(is_hex(cfg->registration_shared_secret, 64));
    assert_string_not_equal(cfg->registration_shared_secret, cfg2->registration_shared_secret);
    assert_string_equal(cfg->default_room_version, "6");
    assert_int_equal(cfg->max_upload_size, 50 * 1024 * 1024);
    assert_int_equal(cfg->max_request_size, 1024 * 1024);
    assert_int_equal(cfg->thread_pool_size, 0);
    assert_true(cfg->rc_message.per_second == 0.2 && cfg->rc_message.burst_count == 10);
    assert_true(cfg->rc_registration.per_second == 0.17 && cfg->rc_registration.burst_count == 3);
    assert_true(cfg->rc_login_address.per_second == 0.17 && cfg->rc_login_address.burst_count == 3);
    assert_true(cfg->rc_login_account.per_second == 0.17 && cfg->rc_login_account.burst_count == 3);
    assert_true(cfg->rc_login_failed_attempts.per_second == 0.17 &&
                cfg->rc_login_failed_attempts.burst_count == 3);
    config_free(cfg);
    config_free(cfg2);
    free(text);
    free(other);
}

static void
test_generate_odd_inputs(void **state)
{
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    struct config *cfg;
    char *text;

    (void)state;
    /* Quotes, backslashes and control characters in the data dir survive YAML quoting. */
    text = config_generate("[::1]:8448", "/tmp/a \"b\" \\c\td: #e");
    assert_non_null(text);
    cfg = load_ok(text);
    assert_string_equal(cfg->server_name, "[::1]:8448");
    assert_string_equal(cfg->media_store_path, "/tmp/a \"b\" \\c\td: #e/media_store");
    assert_string_equal(cfg->signing_key_path, "/tmp/a \"b\" \\c\td: #e/[::1]:8448.signing.key");
    config_free(cfg);
    free(text);

    /* A relative data dir is written as an absolute path. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    text = config_generate("example.org", "data");
    assert_non_null(text);
    cfg = load_ok(text);
    snprintf(want, sizeof(want), "%s/data/homeserver.db", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(cfg->database_path, want);
    config_free(cfg);
    free(text);

    assert_null(config_generate("not a server name", "/tmp"));
    assert_null(config_generate("", "/tmp"));
    assert_null(config_generate(NULL, "/tmp"));
}

/* ---- content repository (issue 7) ---- */

static bool
range_is(const struct config_ip_range *r, const char *addr, int prefix)
{
    unsigned char want[16] = {0};
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

    return inet_pton(family, addr, want) == 1 && r->family == family && r->prefix == prefix &&
           memcmp(r->addr, want, family == AF_INET ? 4 : 16) == 0;
}

static void
test_media_keys(void **state)
{
    struct config *cfg;
    char err[256];
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {SN "thumbnail_sizes: 32\n", "thumbnail_sizes: must be a list"},
        {SN "thumbnail_sizes: [{width: 32, height: 32, method: fit}]\n",
         "thumbnail_sizes[0].method: must be crop or scale"},
        {SN "thumbnail_sizes: [{width: 32, method: crop}]\n",
         "thumbnail_sizes[0]: width and height are required"},
        {SN "thumbnail_sizes: [{width: 0, height: 32}]\n", "thumbnail_sizes[0].width: must be"},
        {SN "thumbnail_sizes: [{width: 5000, height: 32}]\n", "thumbnail_sizes[0].width: must be"},
        {SN "url_preview_ip_range_blacklist: 10.0.0.0/8\n",
         "url_preview_ip_range_blacklist: must be a list"},
        {SN "url_preview_ip_range_blacklist: ['10.0.0.1/8']\n",
         "url_preview_ip_range_blacklist[0]: '10.0.0.1/8' is not"},
        {SN "url_preview_ip_range_whitelist: ['300.1.1.1']\n",
         "url_preview_ip_range_whitelist[0]: '300.1.1.1' is not"},
        {SN "url_preview_ip_range_whitelist: ['10.0.0.0/33']\n",
         "url_preview_ip_range_whitelist[0]: '10.0.0.0/33' is not"},
        {SN "url_preview_ip_range_whitelist: ['::/-1']\n",
         "url_preview_ip_range_whitelist[0]: '::/-1' is not"},
        {SN "url_preview_ip_range_whitelist: ['/8']\n", "url_preview_ip_range_whitelist[0]"},
        {SN "max_image_pixels: lots\n", "max_image_pixels: must be a positive size"},
        {SN "max_spider_size: 0\n", "max_spider_size: must be a positive size"},
        {SN "url_preview_enabled: maybe\n", "url_preview_enabled: must be true or false"},
    };

    (void)state;
    /* Synapse's defaults. */
    cfg = load_ok(SN);
    assert_int_equal(cfg->max_image_pixels, 32 * 1024 * 1024);
    assert_int_equal(cfg->max_spider_size, 10 * 1024 * 1024);
    assert_false(cfg->dynamic_thumbnails);
    assert_false(cfg->url_preview_enabled);
    assert_int_equal(cfg->n_thumbnail_sizes, 5);
    assert_true(cfg->thumbnail_sizes[0].width == 32 && cfg->thumbnail_sizes[0].height == 32 &&
                cfg->thumbnail_sizes[0].method == CONFIG_THUMB_CROP);
    assert_true(cfg->thumbnail_sizes[4].width == 800 && cfg->thumbnail_sizes[4].height == 600 &&
                cfg->thumbnail_sizes[4].method == CONFIG_THUMB_SCALE);
    assert_int_equal(cfg->n_url_preview_ip_range_blacklist, 19 + 2);
    assert_true(range_is(&cfg->url_preview_ip_range_blacklist[0], "127.0.0.0", 8));
    assert_true(range_is(&cfg->url_preview_ip_range_blacklist[13], "::1", 128));
    assert_true(range_is(&cfg->url_preview_ip_range_blacklist[19], "0.0.0.0", 32));
    assert_true(range_is(&cfg->url_preview_ip_range_blacklist[20], "::", 128));
    assert_int_equal(cfg->n_url_preview_ip_range_whitelist, 0);
    config_free(cfg);

    cfg = load_ok(SN "max_image_pixels: 1M\n"
                     "max_spider_size: 64K\n"
                     "dynamic_thumbnails: true\n"
                     "url_preview_enabled: yes\n"
                     "thumbnail_sizes:\n"
                     "  - {width: 10, height: 20, method: scale}\n"
                     "  - {width: 30, height: 40}\n"
                     "url_preview_ip_range_blacklist: ['10.0.0.0/8', 'fc00::/7']\n"
                     "url_preview_ip_range_whitelist: ['10.1.2.3', '10.2.0.0/16']\n");
    assert_int_equal(cfg->max_image_pixels, 1024 * 1024);
    assert_int_equal(cfg->max_spider_size, 64 * 1024);
    assert_true(cfg->dynamic_thumbnails && cfg->url_preview_enabled);
    assert_int_equal(cfg->n_thumbnail_sizes, 2);
    assert_true(cfg->thumbnail_sizes[1].width == 30 && cfg->thumbnail_sizes[1].height == 40 &&
                cfg->thumbnail_sizes[1].method == CONFIG_THUMB_SCALE); /* Synapse's default */
    /* The given list replaces the default; the unroutable addresses are always added. */
    assert_int_equal(cfg->n_url_preview_ip_range_blacklist, 4);
    assert_true(range_is(&cfg->url_preview_ip_range_blacklist[1], "fc00::", 7));
    assert_true(range_is(&cfg->url_preview_ip_range_blacklist[2], "0.0.0.0", 32));
    assert_int_equal(cfg->n_url_preview_ip_range_whitelist, 2);
    assert_true(range_is(&cfg->url_preview_ip_range_whitelist[0], "10.1.2.3", 32));
    assert_true(range_is(&cfg->url_preview_ip_range_whitelist[1], "10.2.0.0", 16));
    config_free(cfg);

    /* An empty list is a choice, not "unset". */
    cfg = load_ok(SN "thumbnail_sizes: []\nurl_preview_ip_range_blacklist: []\n");
    assert_int_equal(cfg->n_thumbnail_sizes, 0);
    assert_int_equal(cfg->n_url_preview_ip_range_blacklist, 2);
    config_free(cfg);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = NULL;
        err[0] = '\0';
        if (config_load_string(bad[i].yaml, strlen(bad[i].yaml), BASE, &cfg, err, sizeof(err)) == 0)
            fail_msg("accepted:\n%s", bad[i].yaml);
        if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
            fail_msg("%s\nwant: %s...\ngot:  %s", bad[i].yaml, bad[i].want, err);
        assert_null(cfg);
    }
}
/* ---- (end of content repository) ---- */
/* app_service_config_files (issue 13): paths resolved like the others; errors name the item. */
static void
test_app_service_config_files(void **state)
{
    struct config *cfg = load_ok(SN "app_service_config_files: [irc.yaml, /etc/as/x.yaml]\n");
    struct config *none = load_ok(SN "app_service_config_files: []\n");
    struct config *bad = NULL;
    char err[256] = "";

    (void)state;
    assert_int_equal(cfg->n_app_service_config_files, 2);
    assert_string_equal(cfg->app_service_config_files[0], BASE "/irc.yaml");
    assert_string_equal(cfg->app_service_config_files[1], "/etc/as/x.yaml");
    assert_int_equal(none->n_app_service_config_files, 0);
    config_free(cfg);
    config_free(none);
    assert_int_equal(config_load_string(SN "app_service_config_files: irc.yaml\n",
                                        strlen(SN "app_service_config_files: irc.yaml\n"), BASE,
                                        &bad, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "app_service_config_files: must be a list of paths"));
    assert_int_equal(config_load_string(SN "app_service_config_files: [a, [b]]\n",
                                        strlen(SN "app_service_config_files: [a, [b]]\n"), BASE,
                                        &bad, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "app_service_config_files[1]: must be a path"));
    assert_null(bad);
}
/* ---- 3PID, identity servers, SSO, soft logout (issue 10) ---------------------------------- */

static void
test_issue10_defaults(void **state)
{
    struct config *cfg = load_ok(SN);
    (void)state;
    assert_false(cfg->email_enabled);
    assert_false(cfg->registration_requires_email);
    assert_true(cfg->enable_3pid_changes);
    assert_int_equal(cfg->n_allowed_local_3pids, 0);
    assert_true(cfg->rc_3pid_validation.per_second == 0.003 &&
                cfg->rc_3pid_validation.burst_count == 5);
    assert_int_equal(cfg->session_lifetime_ms, 0);
    assert_string_equal(cfg->identity_server_scheme, "https");
    assert_int_equal(cfg->n_oidc_providers, 0);
    assert_int_equal(cfg->n_sso_client_whitelist, 0);
    /* Synapse's default private ranges, plus 0.0.0.0 and ::. */
    assert_int_equal(cfg->n_ip_range_blacklist, 21);
    assert_int_equal(cfg->n_ip_range_whitelist, 0);
    config_free(cfg);
    cfg = load_ok(SN "ip_range_blacklist: []\nip_range_whitelist: [\"127.0.0.1\"]\n");
    assert_int_equal(cfg->n_ip_range_blacklist, 2); /* the unroutable two stay */
    assert_int_equal(cfg->n_ip_range_whitelist, 1);
    config_free(cfg);
}

static void
test_issue10_keys(void **state)
{
    struct config *cfg =
        load_ok(SN "public_baseurl: https://matrix.example.org\n"
                   "email:\n"
                   "  smtp_host: mail.example.org\n"
                   "  smtp_port: 587\n"
                   "  smtp_user: hearth\n"
                   "  smtp_pass: s3cret\n"
                   "  require_transport_security: true\n"
                   "  notif_from: \"Your Friendly %(app)s homeserver <noreply@example.org>\"\n"
                   "  app_name: Hearth\n"
                   "  client_base_url: https://client.example.org\n"
                   "  validation_token_lifetime: 15m\n"
                   "registrations_require_3pid: [email]\n"
                   "allowed_local_3pids:\n"
                   "  - medium: email\n"
                   "    pattern: '.*@example\\.org'\n"
                   "enable_3pid_changes: false\n"
                   "rc_3pid_validation: {per_second: 1, burst_count: 2}\n"
                   "session_lifetime: 24h\n"
                   "identity_server_scheme: http\n"
                   "oidc_providers:\n"
                   "  - idp_id: google\n"
                   "    idp_name: Google\n"
                   "    issuer: https://accounts.google.com/\n"
                   "    client_id: cid\n"
                   "    client_secret: csecret\n"
                   "    client_auth_method: client_secret_post\n"
                   "    scopes: [openid, profile, email]\n"
                   "    allow_existing_users: true\n"
                   "    user_mapping_provider:\n"
                   "      config:\n"
                   "        subject_claim: id\n"
                   "        localpart_template: \"{{ user.login }}\"\n"
                   "        display_name_template: \"{{ user.name }}\"\n"
                   "  - issuer: https://idp.example.org\n"
                   "    client_id: other\n"
                   "    client_auth_method: none\n"
                   "    discover: false\n"
                   "    authorization_endpoint: https://idp.example.org/auth\n"
                   "    token_endpoint: https://idp.example.org/token\n"
                   "sso:\n"
                   "  client_whitelist: [\"https://app.example.org/\"]\n");
    const struct config_oidc_provider *p;
    (void)state;

    assert_true(cfg->email_enabled);
    assert_string_equal(cfg->email_smtp_host, "mail.example.org");
    assert_int_equal(cfg->email_smtp_port, 587);
    assert_string_equal(cfg->email_smtp_user, "hearth");
    assert_string_equal(cfg->email_smtp_pass, "s3cret");
    assert_true(cfg->email_require_transport_security);
    assert_true(cfg->email_enable_tls);
    assert_string_equal(cfg->email_notif_from,
                        "Your Friendly Hearth homeserver <noreply@example.org>");
    assert_int_equal(cfg->email_validation_token_lifetime_ms, 15 * 60000);
    assert_true(cfg->registration_requires_email);
    assert_int_equal(cfg->n_allowed_local_3pids, 1);
    assert_string_equal(cfg->allowed_local_3pids[0].pattern, ".*@example\\.org");
    assert_false(cfg->enable_3pid_changes);
    assert_true(cfg->rc_3pid_validation.per_second == 1);
    assert_int_equal(cfg->session_lifetime_ms, 86400000);
    assert_string_equal(cfg->identity_server_scheme, "http");
    assert_int_equal(cfg->n_oidc_providers, 2);
    p = &cfg->oidc_providers[0];
    assert_string_equal(p->idp_id, "oidc-google");
    assert_string_equal(p->idp_name, "Google");
    assert_string_equal(p->issuer, "https://accounts.google.com/");
    assert_string_equal(p->client_auth_method, "client_secret_post");
    assert_int_equal(p->n_scopes, 3);
    assert_true(p->discover);
    assert_true(p->allow_existing_users);
    assert_string_equal(p->subject_claim, "id");
    assert_string_equal(p->localpart_template, "{{ user.login }}");
    assert_string_equal(p->pkce_method, "auto");
    assert_string_equal(p->user_profile_method, "auto");
    p = &cfg->oidc_providers[1];
    assert_string_equal(p->idp_id, "oidc-oidc");
    assert_string_equal(p->idp_name, "OIDC");
    assert_string_equal(p->issuer, "https://idp.example.org"); /* kept as written */
    assert_false(p->discover);
    assert_int_equal(p->n_scopes, 1);
    assert_string_equal(p->scopes[0], "openid");
    assert_string_equal(p->subject_claim, "sub");
    assert_string_equal(p->localpart_template, "{{ user.preferred_username }}");
    assert_int_equal(cfg->n_sso_client_whitelist, 1);
    config_free(cfg);

    /* The older single-provider form, and the name the issue uses for session_lifetime. */
    cfg = load_ok(SN "public_baseurl: https://m.example.org/\n"
                     "access_token_lifetime: 30m\n"
                     "oidc_config:\n"
                     "  enabled: true\n"
                     "  issuer: https://idp.example.org/\n"
                     "  client_id: c\n"
                     "  client_secret: s\n");
    assert_int_equal(cfg->n_oidc_providers, 1);
    assert_string_equal(cfg->oidc_providers[0].idp_id, "oidc");
    assert_int_equal(cfg->session_lifetime_ms, 30 * 60000);
    config_free(cfg);
    cfg = load_ok(SN "oidc_config: {enabled: false, issuer: x}\n");
    assert_int_equal(cfg->n_oidc_providers, 0);
    config_free(cfg);
}

static void
test_issue10_errors(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {SN "email: {notif_from: a@b.c}\n", "public_baseurl: required"},
        {SN "public_baseurl: https://x.org/\nemail: {smtp_host: h}\n",
         "email.notif_from: required"},
        {SN "public_baseurl: https://x.org/\nemail: {notif_from: a@b.c, smtp_port: 0}\n",
         "email.smtp_port: must be an integer"},
        {SN "public_baseurl: https://x.org/\nemail: {notif_from: a@b.c, force_tls: true, "
            "require_transport_security: true}\n",
         "email.force_tls: cannot be combined"},
        {SN "public_baseurl: https://x.org/\nemail: {notif_from: a@b.c, "
            "validation_token_lifetime: soon}\n",
         "email.validation_token_lifetime: must be a positive duration"},
        {SN "email: [1]\n", "email: must be a mapping"},
        {SN "registrations_require_3pid: [email]\n", "registrations_require_3pid: email needs"},
        {SN "registrations_require_3pid: [msisdn]\n", "registrations_require_3pid[0]: only"},
        {SN "registrations_require_3pid: email\n", "registrations_require_3pid: must be a list"},
        {SN "allowed_local_3pids: [{medium: email}]\n", "allowed_local_3pids[0]: needs medium"},
        {SN "allowed_local_3pids: [{medium: fax, pattern: x}]\n",
         "allowed_local_3pids[0]: medium must be"},
        {SN "allowed_local_3pids: [{medium: email, pattern: \"a(\"}]\n",
         "allowed_local_3pids[0]: pattern is not a valid"},
        {SN "session_lifetime: forever\n", "session_lifetime: must be a positive duration"},
        {SN "identity_server_scheme: gopher\n", "identity_server_scheme: must be https or http"},
        {SN "oidc_providers: {}\n", "oidc_providers: must be a list"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{client_id: c, client_secret: s}]\n",
         "oidc_providers[0].issuer: required"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: https://i/, "
            "client_secret: s}]\n",
         "oidc_providers[0].client_id: required"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: https://i/, client_id: "
            "c}]\n",
         "oidc_providers[0].client_secret: required"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: ftp://i/, client_id: c, "
            "client_secret: s}]\n",
         "oidc_providers[0].issuer: must be an http"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: https://i/, client_id: c, "
            "client_secret: s, client_auth_method: private_key_jwt}]\n",
         "oidc_providers[0].client_auth_method: 'private_key_jwt' is not supported"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: https://i/, client_id: c, "
            "client_secret: s, discover: false}]\n",
         "oidc_providers[0].discover: false needs"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: https://i/, client_id: c, "
            "client_secret: s, idp_id: \"a b\"}]\n",
         "oidc_providers[0].idp_id: may only contain"},
        {SN "public_baseurl: https://x.org/\noidc_providers: [{issuer: https://i/, client_id: c, "
            "client_secret: s}, {issuer: https://j/, client_id: d, client_secret: s}]\n",
         "oidc_providers[1].idp_id: duplicate provider"},
        {SN "oidc_providers: [{issuer: https://i/, client_id: c, client_secret: s}]\n",
         "public_baseurl: required"},
        {SN "sso: {client_whitelist: https://a/}\n", "sso.client_whitelist: must be a list"},
        {SN "ip_range_blacklist: [\"10.0.0.1/8\"]\n", "ip_range_blacklist[0]: '10.0.0.1/8' is not"},
        {SN "ip_range_whitelist: 127.0.0.1\n", "ip_range_whitelist: must be a list"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg = NULL;
        char err[256] = "";
        if (config_load_string(cases[i].yaml, strlen(cases[i].yaml), BASE, &cfg, err,
                               sizeof(err)) == 0) {
            config_free(cfg);
            fail_msg("case %zu accepted:\n%s", i, cases[i].yaml);
        }
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_null_values_keep_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_listener_bind_address_singular),
        cmocka_unit_test(test_public_baseurl_slash_kept),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_room_versions),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_server_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_buffer_sizes),
        cmocka_unit_test(test_unknown_keys_warn),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_sqlite_special_names),
        cmocka_unit_test(test_base_dir_made_absolute),
        cmocka_unit_test(test_config_load_file),
        cmocka_unit_test(test_psycopg2_conninfo),
        cmocka_unit_test(test_generate_roundtrip),
        cmocka_unit_test(test_generate_odd_inputs),
        cmocka_unit_test(test_media_keys), /* content repository (issue 7) */
        cmocka_unit_test(test_app_service_config_files),
        cmocka_unit_test(test_issue10_defaults),
        cmocka_unit_test(test_issue10_keys),
        cmocka_unit_test(test_issue10_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
