/* The metrics listener (issue 14): Prometheus text on a port of its own (a `listeners` entry
 * of type metrics), so it need not be exposed where the client API is. One thread: a scrape
 * every few seconds is all it serves. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "http/http.h"

struct metrics_server {
    struct MHD_Daemon *daemons[CONFIG_MAX_BIND];
    size_t n;
};

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;
    char *text;
    size_t len;
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;

    if (!*con_cls) { /* headers only so far */
        *con_cls = conn;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        text = xstrdup("method not allowed\n");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") == 0 || strcmp(url, "/_synapse/metrics") == 0 ||
               strcmp(url, "/") == 0) {
        text = metrics_render(&len);
    } else {
        text = xstrdup("not found: the metrics are at /metrics\n");
        status = MHD_HTTP_NOT_FOUND;
    }
    len = strlen(text);
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? METRICS_CONTENT_TYPE : "text/plain");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
http_metrics_start(const struct config_listener *l, struct metrics_server **out)
{
    struct metrics_server *ms = xcalloc(1, sizeof(*ms));

    /* The listener's connection_timeout, as for the client listener; 30 s if unset (a
     * scraper sends its request at once). */
    unsigned timeout_s =
        l->connection_timeout_ms > 0 ? (unsigned)((l->connection_timeout_ms + 999) / 1000) : 30;

    *out = NULL;
    for (size_t i = 0; i < l->n_bind; i++) {
        struct sockaddr_storage ss;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        bool ipv6;

        if (!http_listen_addr("metrics listener:", l->bind_addresses[i], l->port, &ss, &ipv6))
            goto fail;
        if (ipv6)
            flags |= MHD_USE_IPv6;
        ms->daemons[ms->n] = MHD_start_daemon(
            flags, (uint16_t)l->port, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
        if (!ms->daemons[ms->n]) {
            log_error("cannot listen for metrics on %s port %d", l->bind_addresses[i], l->port);
            goto fail;
        }
        ms->n++;
        log_info("metrics on %s port %d", l->bind_addresses[i], l->port);
    }
    *out = ms;
    return 0;
fail:
    http_metrics_stop(ms);
    return -1;
}

void
http_metrics_stop(struct metrics_server *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++)
        MHD_stop_daemon(ms->daemons[i]);
    free(ms);
}
