/* libcurl's functions for hearthcore (renamed hearth_curl_* by core/lazy_libs.h), forwarding to the
 * module hearth-curl.so (curl_api.h), loaded at the first call. Without the module: handles cannot
 * be made (curl_easy_init, curl_multi_init and curl_url give NULL, curl_global_init
 * CURLE_FAILED_INIT; the loader logs why), and the functions that take a handle, which only exist
 * with the module, are never reached; the freeing ones accept NULL. */
#include <stdarg.h>
#include <stddef.h>

#include "core/curl_api.h"
#include "core/module.h"

static const void *_Atomic table; /* the module's struct curl_api, once loaded */

/* The table, loading the module at the first call. */
static const struct curl_api *
load(void)
{
    return module_table_once(&table, "curl", "hearth_curl_api");
}

/* The table if the module is loaded (the freeing functions must not load it). */
static const struct curl_api *
loaded(void)
{
    return table;
}

CURLcode
curl_global_init(long flags)
{
    const struct curl_api *a = load();
    return a ? a->global_init(flags) : CURLE_FAILED_INIT;
}

void
curl_global_cleanup(void)
{
    if (loaded())
        loaded()->global_cleanup();
}

curl_version_info_data *
curl_version_info(CURLversion v)
{
    const struct curl_api *a = load();
    return a ? a->version_info(v) : NULL;
}

CURL *
curl_easy_init(void)
{
    const struct curl_api *a = load();
    return a ? a->easy_init() : NULL;
}

/* Each option takes one argument whose type its number's range says (curl.h CURLOPTTYPE_*),
 * the way libcurl itself reads it. */
CURLcode
curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    va_list ap;
    CURLcode rc;

    va_start(ap, option);
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = loaded()->easy_setopt(curl, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = loaded()->easy_setopt(curl, option, va_arg(ap, void *)); /* objects and functions */
    else if (option < CURLOPTTYPE_BLOB)
        rc = loaded()->easy_setopt(curl, option, va_arg(ap, curl_off_t));
    else
        rc = loaded()->easy_setopt(curl, option, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode
curl_easy_perform(CURL *curl)
{
    return loaded()->easy_perform(curl);
}

void
curl_easy_cleanup(CURL *curl)
{
    if (loaded())
        loaded()->easy_cleanup(curl);
}

/* Every CURLINFO takes one pointer. */
CURLcode
curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    va_list ap;
    CURLcode rc;

    va_start(ap, info);
    rc = loaded()->easy_getinfo(curl, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

const char *
curl_easy_strerror(CURLcode code)
{
    const struct curl_api *a = load();
    return a ? a->easy_strerror(code) : "libcurl (hearth-curl.so) cannot be loaded";
}

char *
curl_easy_escape(CURL *handle, const char *string, int length)
{
    const struct curl_api *a = load();
    return a ? a->easy_escape(handle, string, length) : NULL;
}

struct curl_slist *
curl_slist_append(struct curl_slist *list, const char *data)
{
    const struct curl_api *a = load();
    return a ? a->slist_append(list, data) : NULL;
}

void
curl_slist_free_all(struct curl_slist *list)
{
    if (loaded())
        loaded()->slist_free_all(list);
}

void
curl_free(void *p)
{
    if (loaded())
        loaded()->free(p);
}

CURLU *
curl_url(void)
{
    const struct curl_api *a = load();
    return a ? a->url() : NULL;
}

void
curl_url_cleanup(CURLU *handle)
{
    if (loaded())
        loaded()->url_cleanup(handle);
}

CURLUcode
curl_url_get(CURLU *handle, CURLUPart what, char **part, unsigned int flags)
{
    return loaded()->url_get(handle, what, part, flags);
}

CURLUcode
curl_url_set(CURLU *handle, CURLUPart what, const char *part, unsigned int flags)
{
    return loaded()->url_set(handle, what, part, flags);
}

CURLM *
curl_multi_init(void)
{
    const struct curl_api *a = load();
    return a ? a->multi_init() : NULL;
}

CURLMcode
curl_multi_add_handle(CURLM *multi_handle, CURL *curl_handle)
{
    return loaded()->multi_add_handle(multi_handle, curl_handle);
}

CURLMcode
curl_multi_remove_handle(CURLM *multi_handle, CURL *curl_handle)
{
    return loaded()->multi_remove_handle(multi_handle, curl_handle);
}

CURLMcode
curl_multi_perform(CURLM *multi_handle, int *running_handles)
{
    return loaded()->multi_perform(multi_handle, running_handles);
}

CURLMsg *
curl_multi_info_read(CURLM *multi_handle, int *msgs_in_queue)
{
    return loaded()->multi_info_read(multi_handle, msgs_in_queue);
}

CURLMcode
curl_multi_poll(CURLM *multi_handle, struct curl_waitfd extra_fds[], unsigned int extra_nfds,
                int timeout_ms, int *ret)
{
    return loaded()->multi_poll(multi_handle, extra_fds, extra_nfds, timeout_ms, ret);
}

CURLMcode
curl_multi_wakeup(CURLM *multi_handle)
{
    return loaded()->multi_wakeup(multi_handle);
}

CURLMcode
curl_multi_cleanup(CURLM *multi_handle)
{
    return loaded()->multi_cleanup(multi_handle);
}
