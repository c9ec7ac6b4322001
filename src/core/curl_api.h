/* libcurl as a module (issue 12, memory): the executable does not link libcurl (nor, through
 * it, OpenSSL, Kerberos, LDAP, libssh2...: about 3.5 MB resident idle). curl_forward.c defines
 * the libcurl functions Hearth calls, with libcurl's own signatures but renamed hearth_curl_*
 * (core/lazy_libs.h, force-included), so the code that uses libcurl is unchanged; each forwards to
 * this table of the real functions, which the module hearth-curl.so (curl_module.c, linked with
 * libcurl) exports and curl_forward.c loads at the first call (core/module.h). */
#ifndef HEARTH_CORE_CURL_API_H
#define HEARTH_CORE_CURL_API_H

#include <curl/curl.h>

struct curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    curl_version_info_data *(*version_info)(CURLversion);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode);
    char *(*easy_escape)(CURL *handle, const char *string, int length);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *data);
    void (*slist_free_all)(struct curl_slist *list);
    void (*free)(void *p);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *handle);
    CURLUcode (*url_get)(CURLU *handle, CURLUPart what, char **part, unsigned int flags);
    CURLUcode (*url_set)(CURLU *handle, CURLUPart what, const char *part, unsigned int flags);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *multi_handle, CURL *curl_handle);
    CURLMcode (*multi_remove_handle)(CURLM *multi_handle, CURL *curl_handle);
    CURLMcode (*multi_perform)(CURLM *multi_handle, int *running_handles);
    CURLMsg *(*multi_info_read)(CURLM *multi_handle, int *msgs_in_queue);
    CURLMcode (*multi_poll)(CURLM *multi_handle, struct curl_waitfd extra_fds[],
                            unsigned int extra_nfds, int timeout_ms, int *ret);
    CURLMcode (*multi_wakeup)(CURLM *multi_handle);
    CURLMcode (*multi_cleanup)(CURLM *multi_handle);
};

/* The module's table (module_table("curl", "hearth_curl_api")). */
extern const struct curl_api hearth_curl_api;

#endif
