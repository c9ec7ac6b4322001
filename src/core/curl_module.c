/* The module hearth-curl.so (curl_api.h): libcurl's functions, linked here and nowhere else. */
#define CURL_DISABLE_TYPECHECK
#include "core/curl_api.h"

const struct curl_api hearth_curl_api = {
    .global_init = curl_global_init,
    .global_cleanup = curl_global_cleanup,
    .version_info = curl_version_info,
    .easy_init = curl_easy_init,
    .easy_setopt = curl_easy_setopt,
    .easy_perform = curl_easy_perform,
    .easy_cleanup = curl_easy_cleanup,
    .easy_getinfo = curl_easy_getinfo,
    .easy_strerror = curl_easy_strerror,
    .easy_escape = curl_easy_escape,
    .slist_append = curl_slist_append,
    .slist_free_all = curl_slist_free_all,
    .free = curl_free,
    .url = curl_url,
    .url_cleanup = curl_url_cleanup,
    .url_get = curl_url_get,
    .url_set = curl_url_set,
    .multi_init = curl_multi_init,
    .multi_add_handle = curl_multi_add_handle,
    .multi_remove_handle = curl_multi_remove_handle,
    .multi_perform = curl_multi_perform,
    .multi_info_read = curl_multi_info_read,
    .multi_poll = curl_multi_poll,
    .multi_wakeup = curl_multi_wakeup,
    .multi_cleanup = curl_multi_cleanup,
};
