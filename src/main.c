/* Command line: serve, generate-config, register-user, port-db, quarantine-media, the offline
 * admin commands (deactivate-user, reset-password, set-admin, purge-room, purge-media, backup;
 * issue 14), config-reference, version. */
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/hs.h"
#include "appservice/appservice.h"
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/password.h"
#include "core/util.h"
#include "http/http.h"
#include "media/media.h"
#include "push/push.h"
#include "room/version.h"
#include "room/id.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/indexer.h"
#include "sync/notifier.h"
#include "sync/presence.h"
#include "sync/typing.h"

#include "core/version.h"

static int
usage(void)
{
    fputs("usage: hearth serve --config FILE\n"
          "       hearth generate-config --server-name NAME --data-dir DIR\n"
          "       hearth register-user --config FILE [--admin] USER PASSWORD\n"
          "       hearth port-db --from sqlite:PATH --to postgres:DSN\n"
          "       hearth login-token --config FILE [--lifetime DURATION] USER\n"
          "       hearth quarantine-media --config FILE [--undo] mxc://SERVER/MEDIA_ID\n"
          "       hearth deactivate-user --config FILE [--erase] USER\n"
          "       hearth reset-password --config FILE USER PASSWORD\n"
          "       hearth set-admin --config FILE USER true|false\n"
          "       hearth purge-room --config FILE [--block] ROOM_ID\n"
          "       hearth purge-media --config FILE --before-days N [--size-gt BYTES]\n"
          "       hearth backup --config FILE --to FILE\n"
          "       hearth config-reference\n"
          "       hearth version\n",
          stderr);
    return 2;
}

static int
load_config(const char *path, struct config **cfg)
{
    char err[512];
    enum log_level level;

    if (!path) {
        fputs("hearth: --config FILE is required\n", stderr);
        return -1;
    }
    if (config_load(path, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "hearth: %s: %s\n", path, err);
        return -1;
    }
    if ((*cfg)->log_level && log_parse_level((*cfg)->log_level, &level) == 0)
        log_set_level(level);
    return 0;
}

static void
notify_users(void *arg, const char *const *users, const size_t *hashes, size_t n)
{
    struct hs *hs = arg;
    notifier_notify_hashed(hs->notifier, users, hashes, n);
    /* New events: the application services' senders look for theirs (issue 13). */
    appservices_notify(hs->appservices);
    /* searchdefer (issue 3): and the search index takes them in soon. */
    search_indexer_kick(hs->search_indexer);
}

/* Sync waiters for the metrics (issue 14). */
static void
collect_sync_waiters(void *arg, struct metrics_sink *sink)
{
    metrics_sink_add(sink, NULL, (double)notifier_waiting(arg));
}

/* Application service queues for the metrics (issue 14): every registration, 0 when idle. */
static void
collect_appservice_queues(void *arg, struct metrics_sink *sink)
{
    struct hs *hs = arg;
    struct store_queue_count *q = NULL;
    size_t n = 0;

    if (store_appservice_queues(hs->store, &q, &n) != STORE_OK)
        return;
    for (size_t i = 0; i < appservices_count(hs->appservices); i++) {
        const char *id = appservice_id(appservices_at(hs->appservices, i));
        int64_t count = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(q[j].id, id) == 0)
                count = q[j].count;
        metrics_sink_add(sink, (const char *[]){id}, (double)count);
    }
    store_queue_counts_free(q, n);
}

static int
cmd_serve(const char *argv0, int argc, char **argv)
{
    const char *path = NULL;
    struct config *cfg = NULL;
    struct http_server *srv = NULL;
    struct metrics_server *msrv = NULL;
    struct hs hs = {0};
    sigset_t sigs;
    char err[512];
    int sig = 0, rc = 1;
    bool media_ready = false;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else
            return usage();
    }
    if (load_config(path, &cfg) != 0)
        return 1;
    /* Block the stop signals before any thread starts (hs_init starts the mailer, libvips its
     * own), so only sigwait sees them: a thread with them unblocked would die of SIGTERM. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    hs_init(&hs, cfg);
    /* Application services (issue 13): registrations are checked before anything starts. */
    if (appservices_load((const char *const *)cfg->app_service_config_files,
                         cfg->n_app_service_config_files, cfg->server_name, &hs.appservices, err,
                         sizeof(err)) != 0) {
        log_error("app_service_config_files: %s", err);
        goto out;
    }
    if (signing_key_load_or_generate(cfg->signing_key_path, &hs.key, err, sizeof(err)) != 0) {
        log_error("%s", err);
        goto out;
    }
    if (store_open(cfg, &hs.store) != STORE_OK) {
        log_error("cannot open the database");
        goto out;
    }
    /* The content repository (issue 7); its libraries are set up before any thread starts. */
    if (media_global_init(argv0) != 0)
        goto out;
    media_ready = true;
    hs.media = media_new(cfg, hs.store);
    if (!hs.media)
        goto out;
    hs.search_indexer = search_indexer_new(hs.store); /* searchdefer (issue 3) */
    hs.rooms = rooms_new(hs.store, cfg->server_name, &hs.key);
    hs.notifier = notifier_new();
    hs.lazy = lazy_cache_new();
    hs.typing = typing_new(api_typing_expired, &hs);
    hs.presence = presence_new(api_presence_changed, &hs);
    rooms_set_listener(hs.rooms, notify_users, &hs);
    metrics_register_collector("hearth_sync_waiters",
                               "Requests (/sync, /events) waiting for something new.", METRIC_GAUGE,
                               NULL, collect_sync_waiters, hs.notifier);
    metrics_register_collector("hearth_appservice_queue_length",
                               "Transactions waiting for an application service to accept them.",
                               METRIC_GAUGE, "appservice", collect_appservice_queues, &hs);
    if (appservices_ensure_senders(hs.appservices, hs.store) != 0 ||
        appservices_start(hs.appservices, hs.store) != 0)
        goto out;
    /* push (issue 8): rules evaluated as events are sent, delivery on its own thread */
    hs.push = push_new(hs.store, cfg->server_name);
    rooms_set_push_hook(hs.rooms,
                        &(struct rooms_push_hook){push_evaluate_event, push_event_committed,
                                                  push_event_discard, hs.push});
    /* Metrics first: once the client listener answers (what a supervisor or a test waits
     * for), the metrics listener is up too, and a port it cannot bind stops the start. */
    if (cfg->metrics_listener.port && http_metrics_start(&cfg->metrics_listener, &msrv) != 0)
        goto out;
    if (http_server_start(&hs, api_routes, api_n_routes, &srv) != 0)
        goto out;
    log_info("hearth %s serving %s", HEARTH_VERSION, cfg->server_name);
    /* Memory (issue 12, soak): glibc keeps pages freed inside its arenas (a burst of syncs'
     * answers leaves holes below the top of the heap); every 10 s they go back to the kernel
     * (malloc_trim takes each arena's lock for about a millisecond). */
    do {
        sig = sigtimedwait(&sigs, NULL, &(struct timespec){10, 0});
        if (sig < 0)
            malloc_trim(0);
    } while (sig < 0);
    log_info("received signal %d, draining requests", sig);
    /* Long-polls answer now instead of at their timeout. */
    notifier_shutdown(hs.notifier);
    /* Requests waiting on an application service give up now; the senders stop. */
    appservices_stop(hs.appservices);
    http_server_stop(srv, 10000);
    srv = NULL;
    rc = 0;
out:
    http_metrics_stop(msrv);
    http_server_stop(srv, 0);
    if (hs.notifier)
        metrics_unregister_collectors(hs.notifier);
    metrics_unregister_collectors(&hs);
    /* Their timers wake syncs through the notifier: stop them first. */
    push_free(hs.push); /* push (issue 8): no request uses it any more */
    presence_free(hs.presence);
    typing_free(hs.typing);
    notifier_free(hs.notifier);
    lazy_cache_free(hs.lazy);
    rooms_free(hs.rooms);
    appservices_free(hs.appservices); /* stops its threads, which use the store */
    media_free(hs.media);
    if (media_ready)
        media_global_shutdown();
    search_indexer_free(hs.search_indexer); /* searchdefer (issue 3): before the store */
    store_close(hs.store);
    hs_cleanup(&hs);
    config_free(cfg);
    metrics_free_all();
    return rc;
}

static int
cmd_generate_config(int argc, char **argv)
{
    const char *name = NULL, *dir = NULL;
    char *text;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--server-name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else
            return usage();
    }
    if (!name || !dir)
        return usage();
    if (!id_server_name_valid(name)) {
        fprintf(stderr, "hearth: '%s' is not a valid server name\n", name);
        return 1;
    }
    text = config_generate(name, dir);
    fputs(text, stdout);
    free(text);
    return 0;
}

/* What every command run against a stopped server opens (issue 14): the config, the
 * database, and for some the homeserver state and the rooms. offline_close frees it all. */
struct offline {
    struct config *cfg;
    struct hs hs; /* store and, for commands that send events, rooms */
    bool have_hs;
    char *uid; /* offline_open_user: the account */
    struct store_user user;
};

enum {
    OFFLINE_HS = 1,    /* hs_init: what API functions need besides the store */
    OFFLINE_ROOMS = 3, /* and the rooms with the signing key, to send events */
};

/* Loads --config path; 0, or -1 after saying why. */
static int
offline_config(const char *path, struct offline *o)
{
    memset(o, 0, sizeof(*o));
    return load_config(path, &o->cfg) != 0 ? -1 : 0;
}

/* After offline_config: opens the database and what `what` (OFFLINE_*) asks for. */
static int
offline_store(struct offline *o, unsigned what)
{
    char err[512];

    if (what & OFFLINE_HS) {
        hs_init(&o->hs, o->cfg);
        o->have_hs = true;
    }
    if (store_open(o->cfg, &o->hs.store) != STORE_OK) {
        fprintf(stderr, "hearth: cannot open the database\n");
        return -1;
    }
    if ((what & OFFLINE_ROOMS) != OFFLINE_ROOMS)
        return 0;
    if (signing_key_load_or_generate(o->cfg->signing_key_path, &o->hs.key, err, sizeof(err)) != 0) {
        fprintf(stderr, "hearth: %s\n", err);
        return -1;
    }
    o->hs.rooms = rooms_new(o->hs.store, o->cfg->server_name, &o->hs.key);
    return 0;
}

static int
offline_open(const char *path, unsigned what, struct offline *o)
{
    if (offline_config(path, o) != 0)
        return -1;
    return offline_store(o, what);
}

static void
offline_close(struct offline *o)
{
    store_user_clear(&o->user);
    free(o->uid);
    rooms_free(o->hs.rooms);
    store_close(o->hs.store);
    if (o->have_hs)
        hs_cleanup(&o->hs);
    config_free(o->cfg);
}

static int
cmd_register_user(int argc, char **argv)
{
    const char *path = NULL, *user = NULL, *pw = NULL;
    struct offline o;
    char *user_id = NULL, *hash = NULL;
    bool admin = false;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--admin") == 0)
            admin = true;
        else if (!user)
            user = argv[i];
        else if (!pw)
            pw = argv[i];
        else
            return usage();
    }
    if (!user || !pw)
        return usage();
    if (offline_config(path, &o) != 0)
        goto out;
    if (!id_localpart_valid(user)) {
        fprintf(stderr, "hearth: user name may only contain a-z, 0-9 and '=_-./'\n");
        goto out;
    }
    user_id = xasprintf("@%s:%s", user, o.cfg->server_name);
    if (strlen(user_id) > ID_MAX_LEN) {
        fprintf(stderr, "hearth: user ID too long\n");
        goto out;
    }
    if (offline_store(&o, 0) != 0)
        goto out;
    hash = password_hash(pw);
    if (!hash)
        goto out;
    switch (store_user_create(o.hs.store, user_id, hash, false, admin, util_now_ms())) {
    case STORE_OK:
        /* The localpart is the default display name (as Synapse); failing leaves none. */
        if (store_profile_init(o.hs.store, user_id) != STORE_OK)
            fprintf(stderr, "hearth: could not set the display name of %s\n", user_id);
        printf("%s\n", user_id);
        rc = 0;
        break;
    case STORE_EXISTS:
        fprintf(stderr, "hearth: %s already exists\n", user_id);
        break;
    default:
        fprintf(stderr, "hearth: could not create %s\n", user_id);
        break;
    }
out:
    free(hash);
    free(user_id);
    offline_close(&o);
    return rc;
}

/* hearth login-token --config FILE [--lifetime DURATION] USER: prints a single-use
 * m.login.token for the account (issue 10), valid 2 minutes unless --lifetime says otherwise
 * ("30s", "10m", "1h" or milliseconds, at most a day). */
static int
cmd_login_token(int argc, char **argv)
{
    const char *path = NULL, *user = NULL, *lifetime = NULL;
    struct offline o;
    struct store_user u = {0};
    char *user_id = NULL, *token = NULL, *end = NULL;
    long long ms = 120000;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc)
            lifetime = argv[++i];
        else if (!user)
            user = argv[i];
        else
            return usage();
    }
    if (!user)
        return usage();
    if (lifetime) {
        ms = strtoll(lifetime, &end, 10);
        if (end && strcmp(end, "s") == 0)
            ms *= 1000;
        else if (end && strcmp(end, "m") == 0)
            ms *= 60000;
        else if (end && strcmp(end, "h") == 0)
            ms *= 3600000;
        else if (!end || *end)
            ms = -1;
        if (end == lifetime || ms <= 0 || ms > 86400000) {
            fputs("hearth: --lifetime must be a positive duration of at most 1 day\n", stderr);
            return 2;
        }
    }
    if (offline_config(path, &o) != 0)
        goto out;
    user_id = user[0] == '@' ? xstrdup(user) : xasprintf("@%s:%s", user, o.cfg->server_name);
    if (offline_store(&o, 0) != 0)
        goto out;
    if (store_user_get(o.hs.store, user_id, &u) != STORE_OK || u.deactivated) {
        fprintf(stderr, "hearth: no active account %s\n", user_id);
        goto out;
    }
    token = api_login_token_new(o.hs.store, user_id, ms);
    if (!token) {
        fprintf(stderr, "hearth: could not store the login token\n");
        goto out;
    }
    printf("%s\n", token);
    rc = 0;
out:
    free(token);
    store_user_clear(&u);
    free(user_id);
    offline_close(&o);
    return rc;
}

/* hearth port-db --from sqlite:PATH --to postgres:DSN */
static int
cmd_port_db(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else
            return usage();
    }
    if (!from || !to || strncmp(from, "sqlite:", 7) != 0 || strncmp(to, "postgres:", 9) != 0) {
        fputs("usage: hearth port-db --from sqlite:PATH --to postgres:DSN\n"
              "  DSN is a libpq connection string (\"host=... dbname=... user=...\") or URI\n",
              stderr);
        return 2;
    }
    /* "postgres:postgresql://..." keeps the URI whole; "postgres:host=..." is a conninfo. */
    return store_port_db(from + 7, to + 9);
}

/* Synapse's media quarantine from the command line (issue 7): the media, and every other local
 * media with the same content, answers 404 from now on; --undo lifts it. */
static int
cmd_quarantine_media(int argc, char **argv)
{
    const char *path = NULL, *uri = NULL, *id;
    struct offline o;
    bool undo = false;
    size_t slen;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--undo") == 0)
            undo = true;
        else if (!uri)
            uri = argv[i];
        else
            return usage();
    }
    if (!uri)
        return usage();
    if (offline_config(path, &o) != 0)
        goto out;
    slen = strlen(o.cfg->server_name);
    if (strncmp(uri, "mxc://", 6) != 0 || strncmp(uri + 6, o.cfg->server_name, slen) != 0 ||
        uri[6 + slen] != '/' || !media_id_valid(uri + 7 + slen)) {
        fprintf(stderr, "hearth: %s is not an mxc://%s/... URI of this server\n", uri,
                o.cfg->server_name);
        goto out;
    }
    id = uri + 7 + slen;
    if (offline_store(&o, 0) != 0)
        goto out;
    switch (store_media_quarantine(o.hs.store, id, undo ? NULL : "(hearth quarantine-media)")) {
    case STORE_OK:
        printf("%s %s\n", undo ? "released" : "quarantined", uri);
        rc = 0;
        break;
    case STORE_NOT_FOUND:
        fprintf(stderr, "hearth: no such media: %s\n", uri);
        break;
    default:
        fprintf(stderr, "hearth: could not update %s\n", uri);
        break;
    }
out:
    offline_close(&o);
    return rc;
}

/* ---- offline admin commands (issue 14) ----
 * For a locked-out admin: they open the database directly. With SQLite they may run while the
 * server runs (WAL allows one writer at a time; each command is a few short transactions), but
 * the server's caches do not see their changes until it restarts, so stop it first. */

/* USER as a localpart or a full user ID of this server (new string), or NULL. */
static char *
user_arg(const struct config *cfg, const char *user)
{
    char *uid = user[0] == '@' ? xstrdup(user) : xasprintf("@%s:%s", user, cfg->server_name);
    const char *colon = strchr(uid, ':');

    if (!colon || strcmp(colon + 1, cfg->server_name) != 0) {
        fprintf(stderr, "hearth: %s is not a user of %s\n", user, cfg->server_name);
        free(uid);
        return NULL;
    }
    return uid;
}

/* The same arguments for every command: --config FILE, flags, then positional words. */
struct args {
    const char *config;
    const char *words[3];
    size_t nwords;
    bool flag;
};

static int
parse_args(int argc, char **argv, const char *flag, size_t want, struct args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            a->config = argv[++i];
        else if (flag && strcmp(argv[i], flag) == 0)
            a->flag = true;
        else if (argv[i][0] != '-' && a->nwords < want)
            a->words[a->nwords++] = argv[i];
        else
            return -1;
    }
    return a->nwords == want ? 0 : -1;
}

/* offline_open for a command on the account a->words[0], which must exist: o->uid, o->user. */
static int
offline_open_user(const struct args *a, unsigned what, struct offline *o)
{
    enum store_rc rc;

    if (offline_open(a->config, what, o) != 0 || !(o->uid = user_arg(o->cfg, a->words[0])))
        return -1;
    rc = store_user_get(o->hs.store, o->uid, &o->user);
    if (rc == STORE_OK)
        return 0;
    fprintf(stderr, "hearth: %s\n", rc == STORE_NOT_FOUND ? "no such user" : "lookup failed");
    return -1;
}

/* hearth deactivate-user --config FILE [--erase] USER: leaves every room, revokes every
 * device, and (--erase) clears the profile. */
static int
cmd_deactivate_user(int argc, char **argv)
{
    struct args a;
    struct offline o;
    const char *uid;
    int rc = 1;

    if (parse_args(argc, argv, "--erase", 1, &a) != 0)
        return usage();
    if (offline_open_user(&a, OFFLINE_ROOMS, &o) != 0)
        goto out;
    uid = o.uid;
    if (api_leave_all_rooms(&o.hs, uid) != 0)
        fprintf(stderr, "hearth: %s could not leave every room (see the log)\n", uid);
    if (store_user_deactivate(o.hs.store, uid) != STORE_OK ||
        (a.flag && store_user_erase(o.hs.store, uid) != STORE_OK)) {
        fprintf(stderr, "hearth: could not deactivate %s\n", uid);
        goto out;
    }
    printf("deactivated %s%s\n", uid, a.flag ? " (erased)" : "");
    rc = 0;
out:
    offline_close(&o);
    return rc;
}

/* hearth reset-password --config FILE USER PASSWORD: also logs every device out. */
static int
cmd_reset_password(int argc, char **argv)
{
    struct args a;
    struct offline o;
    const char *uid;
    char *hash = NULL;
    int rc = 1;

    if (parse_args(argc, argv, NULL, 2, &a) != 0)
        return usage();
    if (offline_open_user(&a, OFFLINE_HS, &o) != 0)
        goto out;
    uid = o.uid;
    hash = password_hash(a.words[1]);
    if (!hash || store_user_set_password(o.hs.store, uid, hash) != STORE_OK ||
        store_device_delete_all_except(o.hs.store, uid, NULL) != STORE_OK) {
        fprintf(stderr, "hearth: could not set the password of %s\n", uid);
        goto out;
    }
    printf("password of %s reset; its devices are logged out\n", uid);
    rc = 0;
out:
    free(hash);
    offline_close(&o);
    return rc;
}

/* hearth set-admin --config FILE USER true|false */
static int
cmd_set_admin(int argc, char **argv)
{
    struct args a;
    struct offline o;
    const char *uid;
    bool on;
    int rc = 1;

    if (parse_args(argc, argv, NULL, 2, &a) != 0 ||
        (strcmp(a.words[1], "true") != 0 && strcmp(a.words[1], "false") != 0))
        return usage();
    on = strcmp(a.words[1], "true") == 0;
    if (offline_open_user(&a, OFFLINE_HS, &o) != 0)
        goto out;
    uid = o.uid;
    if (store_user_set_admin(o.hs.store, uid, on) != STORE_OK) {
        fprintf(stderr, "hearth: could not update %s\n", uid);
        goto out;
    }
    printf("%s is %s\n", uid, on ? "a server admin" : "not a server admin");
    rc = 0;
out:
    offline_close(&o);
    return rc;
}

/* hearth purge-room --config FILE [--block] ROOM_ID: the local members leave, then the room's
 * events, state and aliases are removed; --block keeps anyone from joining it again. */
static int
cmd_purge_room(int argc, char **argv)
{
    struct args a;
    struct offline o;
    json_t *state = NULL, *entry, *leave = json_pack("{s:s}", "membership", "leave");
    const char *room, *sk;
    char **names = NULL;
    size_t n = 0;
    int rc = 1;

    if (parse_args(argc, argv, "--block", 1, &a) != 0 || a.words[0][0] != '!') {
        json_decref(leave);
        return usage();
    }
    room = a.words[0];
    if (offline_open(a.config, OFFLINE_ROOMS, &o) != 0)
        goto out;
    if (a.flag && store_room_block(o.hs.store, room, "(hearth purge-room)", true, util_now_ms()) !=
                      STORE_OK) {
        fprintf(stderr, "hearth: could not block %s\n", room);
        goto out;
    }
    state = rooms_current_state(o.hs.rooms, room);
    if (!state) {
        fprintf(stderr, "hearth: no such room: %s%s\n", room, a.flag ? " (blocked anyway)" : "");
        rc = a.flag ? 0 : 1;
        goto out;
    }
    json_object_foreach(json_object_get(state, "m.room.member"), sk, entry)
    {
        const char *m = json_string_value(json_object_get(
            json_object_get(json_object_get(entry, "event"), "content"), "membership"));
        const char *colon = strchr(sk, ':');
        struct rooms_proto p = {sk, "m.room.member", sk, leave, NULL};
        char reason[256];
        if (!m || (strcmp(m, "join") != 0 && strcmp(m, "invite") != 0) || !colon ||
            strcmp(colon + 1, o.cfg->server_name) != 0)
            continue;
        if (rooms_send(o.hs.rooms, room, &p, 1, NULL, NULL, reason, sizeof(reason)) != ROOMS_OK)
            fprintf(stderr, "hearth: %s could not leave: %s\n", sk, reason);
    }
    if (store_room_aliases(o.hs.store, room, &names, &n) == STORE_OK)
        for (size_t i = 0; i < n; i++)
            store_alias_delete(o.hs.store, names[i]);
    store_strings_free(names, n);
    if (store_room_purge(o.hs.store, room) != STORE_OK) {
        fprintf(stderr, "hearth: could not purge %s\n", room);
        goto out;
    }
    rooms_forget_cache(o.hs.rooms, room);
    printf("purged %s%s\n", room, a.flag ? " (blocked)" : "");
    rc = 0;
out:
    json_decref(state);
    json_decref(leave);
    offline_close(&o);
    return rc;
}

/* hearth purge-media --config FILE --before-days N [--size-gt BYTES]: local media uploaded
 * more than N days ago (larger than BYTES), except avatars and protected media. */
static int
cmd_purge_media(int argc, char **argv)
{
    const char *path = NULL;
    int64_t days = -1, size_gt = 0;
    struct offline o;
    struct media *m = NULL;
    char **ids = NULL;
    size_t n = 0, deleted = 0;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--before-days") == 0 && i + 1 < argc)
            rc = util_parse_int64(argv[++i], &days);
        else if (strcmp(argv[i], "--size-gt") == 0 && i + 1 < argc)
            rc = util_parse_int64(argv[++i], &size_gt);
        else
            return usage();
        if (rc != 0 && rc != 1)
            return usage();
    }
    if (days < 0 || size_gt < 0)
        return usage();
    rc = 1;
    if (offline_open(path, OFFLINE_HS, &o) != 0)
        goto out;
    m = media_new(o.cfg, o.hs.store);
    if (!m || store_media_old(o.hs.store, util_now_ms() - days * 86400000, size_gt, true, &ids,
                              &n) != STORE_OK) {
        fprintf(stderr, "hearth: cannot read the media store\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (media_delete(m, ids[i]) == MEDIA_OK)
            deleted++;
    printf("deleted %zu media\n", deleted);
    rc = deleted == n ? 0 : 1;
out:
    store_strings_free(ids, n);
    media_free(m);
    offline_close(&o);
    return rc;
}

/* hearth backup --config FILE --to FILE: SQLite's online backup API, safe while the server
 * runs. PostgreSQL has pg_dump for this. */
static int
cmd_backup(int argc, char **argv)
{
    const char *path = NULL, *to = NULL;
    struct offline o;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else
            return usage();
    }
    if (!to)
        return usage();
    if (offline_config(path, &o) != 0)
        goto out;
    if (o.cfg->database_name && strcmp(o.cfg->database_name, "psycopg2") == 0) {
        fprintf(stderr, "hearth: the database is PostgreSQL: back it up with pg_dump, e.g.\n"
                        "  pg_dump --format=custom --file=hearth.dump DBNAME\n"
                        "(see docs/backup.md)\n");
        rc = 2;
        goto out;
    }
    if (access(to, F_OK) == 0) {
        fprintf(stderr, "hearth: %s exists; not overwriting it\n", to);
        goto out;
    }
    if (store_backup_sqlite(o.cfg->database_path, to) == 0) {
        printf("backed up %s to %s\n", o.cfg->database_path, to);
        rc = 0;
    }
out:
    offline_close(&o);
    return rc;
}

int
main(int argc, char **argv)
{
    /* Memory (issue 12, soak). glibc gives each busy thread its own malloc arena, and memory
     * freed in one stays there; with 16+ HTTP threads that multiplied the resident size, and a
     * second arena still held 7-16 MB of holes. Thread caches keep one arena uncontended here.
     * A fixed mmap threshold: by default glibc raises it after each large block is freed, so
     * later initial-sync answers (about 1 MB) came from the heap and left holes there. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    if (sodium_init() < 0) {
        fputs("hearth: libsodium failed to initialise\n", stderr);
        return 1;
    }
    if (fetch_global_init() != 0) {
        fputs("hearth: libcurl failed to initialise\n", stderr);
        return 1;
    }
    atexit(fetch_global_cleanup);
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argv[0], argc - 2, argv + 2);
    if (strcmp(argv[1], "generate-config") == 0)
        return cmd_generate_config(argc - 2, argv + 2);
    if (strcmp(argv[1], "port-db") == 0)
        return cmd_port_db(argc - 2, argv + 2);
    if (strcmp(argv[1], "register-user") == 0)
        return cmd_register_user(argc - 2, argv + 2);
    if (strcmp(argv[1], "login-token") == 0)
        return cmd_login_token(argc - 2, argv + 2);
    if (strcmp(argv[1], "quarantine-media") == 0)
        return cmd_quarantine_media(argc - 2, argv + 2);
    /* issue 14 */
    if (strcmp(argv[1], "deactivate-user") == 0)
        return cmd_deactivate_user(argc - 2, argv + 2);
    if (strcmp(argv[1], "reset-password") == 0)
        return cmd_reset_password(argc - 2, argv + 2);
    if (strcmp(argv[1], "set-admin") == 0)
        return cmd_set_admin(argc - 2, argv + 2);
    if (strcmp(argv[1], "purge-room") == 0)
        return cmd_purge_room(argc - 2, argv + 2);
    if (strcmp(argv[1], "purge-media") == 0)
        return cmd_purge_media(argc - 2, argv + 2);
    if (strcmp(argv[1], "backup") == 0)
        return cmd_backup(argc - 2, argv + 2);
    if (strcmp(argv[1], "config-reference") == 0) {
        char *text = config_reference();
        fputs(text, stdout);
        free(text);
        return 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("hearth %s\n", HEARTH_VERSION);
        return 0;
    }
    return usage();
}
