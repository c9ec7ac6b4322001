/* Command line: serve, generate-config, register-user, port-db, quarantine-media, version. */
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "appservice/appservice.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/util.h"
#include "http/http.h"
#include "media/media.h"
#include "push/push.h"
#include "room/id.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/notifier.h"
#include "sync/presence.h"
#include "sync/typing.h"

#define HEARTH_VERSION "0.1.0"

static int
usage(void)
{
    fputs("usage: hearth serve --config FILE\n"
          "       hearth generate-config --server-name NAME --data-dir DIR\n"
          "       hearth register-user --config FILE [--admin] USER PASSWORD\n"
          "       hearth port-db --from sqlite:PATH --to postgres:DSN\n"
          "       hearth quarantine-media --config FILE [--undo] mxc://SERVER/MEDIA_ID\n"
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
notify_users(void *arg, const char *const *users, size_t n)
{
    struct hs *hs = arg;
    notifier_notify(hs->notifier, users, n);
    /* New events: the application services' senders look for theirs (issue 13). */
    appservices_notify(hs->appservices);
}

static int
cmd_serve(const char *argv0, int argc, char **argv)
{
    const char *path = NULL;
    struct config *cfg = NULL;
    struct http_server *srv = NULL;
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
    /* Block the stop signals before any thread starts, so only sigwait sees them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    hs.rooms = rooms_new(hs.store, cfg->server_name, &hs.key);
    hs.notifier = notifier_new();
    hs.lazy = lazy_cache_new();
    hs.typing = typing_new(api_typing_expired, &hs);
    hs.presence = presence_new(api_presence_changed, &hs);
    rooms_set_listener(hs.rooms, notify_users, &hs);
    if (appservices_ensure_senders(hs.appservices, hs.store) != 0 ||
        appservices_start(hs.appservices, hs.store) != 0)
        goto out;
    /* push (issue 8): rules evaluated as events are sent, delivery on its own thread */
    hs.push = push_new(hs.store, cfg->server_name);
    rooms_set_push_hook(hs.rooms,
                        &(struct rooms_push_hook){push_evaluate_event, push_event_committed,
                                                  push_event_discard, hs.push});
    if (http_server_start(&hs, api_routes, api_n_routes, &srv) != 0)
        goto out;
    log_info("hearth %s serving %s", HEARTH_VERSION, cfg->server_name);
    sigwait(&sigs, &sig);
    log_info("received signal %d, draining requests", sig);
    /* Long-polls answer now instead of at their timeout. */
    notifier_shutdown(hs.notifier);
    /* Requests waiting on an application service give up now; the senders stop. */
    appservices_stop(hs.appservices);
    http_server_stop(srv, 10000);
    srv = NULL;
    rc = 0;
out:
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
    store_close(hs.store);
    hs_cleanup(&hs);
    config_free(cfg);
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

static int
cmd_register_user(int argc, char **argv)
{
    const char *path = NULL, *user = NULL, *pw = NULL;
    struct config *cfg = NULL;
    struct store *st = NULL;
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
    if (load_config(path, &cfg) != 0)
        return 1;
    if (!id_localpart_valid(user)) {
        fprintf(stderr, "hearth: user name may only contain a-z, 0-9 and '=_-./'\n");
        goto out;
    }
    user_id = xasprintf("@%s:%s", user, cfg->server_name);
    if (strlen(user_id) > ID_MAX_LEN) {
        fprintf(stderr, "hearth: user ID too long\n");
        goto out;
    }
    if (store_open(cfg, &st) != STORE_OK) {
        fprintf(stderr, "hearth: cannot open the database\n");
        goto out;
    }
    hash = password_hash(pw);
    if (!hash)
        goto out;
    switch (store_user_create(st, user_id, hash, false, admin, util_now_ms())) {
    case STORE_OK:
        /* The localpart is the default display name (as Synapse); failing leaves none. */
        if (store_profile_init(st, user_id) != STORE_OK)
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
    store_close(st);
    config_free(cfg);
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
    struct config *cfg = NULL;
    struct store *st = NULL;
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
    if (load_config(path, &cfg) != 0)
        return 1;
    slen = strlen(cfg->server_name);
    if (strncmp(uri, "mxc://", 6) != 0 || strncmp(uri + 6, cfg->server_name, slen) != 0 ||
        uri[6 + slen] != '/' || !media_id_valid(uri + 7 + slen)) {
        fprintf(stderr, "hearth: %s is not an mxc://%s/... URI of this server\n", uri,
                cfg->server_name);
        goto out;
    }
    id = uri + 7 + slen;
    if (store_open(cfg, &st) != STORE_OK) {
        fprintf(stderr, "hearth: cannot open the database\n");
        goto out;
    }
    switch (store_media_quarantine(st, id, undo ? NULL : "(hearth quarantine-media)")) {
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
    store_close(st);
    config_free(cfg);
    return rc;
}

int
main(int argc, char **argv)
{
    /* glibc gives each busy thread its own malloc arena, and memory freed in one stays there;
     * with 16+ HTTP threads that multiplies the resident size for nothing. */
    mallopt(M_ARENA_MAX, 2);
    if (sodium_init() < 0) {
        fputs("hearth: libsodium failed to initialise\n", stderr);
        return 1;
    }
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
    if (strcmp(argv[1], "quarantine-media") == 0)
        return cmd_quarantine_media(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("hearth %s\n", HEARTH_VERSION);
        return 0;
    }
    return usage();
}
