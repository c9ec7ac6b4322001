/* modules (issue 12, memory): libcurl and libcrypto are loaded on first use (core/curl_api.h,
 * core/crypto_api.h). CMake force-includes this header into every source of hearthcore
 * (-include), so their calls of these functions name Hearth's forwarding functions hearth_*
 * (core/curl_forward.c, core/crypto_forward.c) instead: the executable does not link the libraries,
 * and a program that links them too (a unit test, a bench) still gets the real ones for its
 * own calls, with no clash of names. The modules' sources are not in hearthcore and see the
 * real names. The libraries' headers come first, so that their own macros (libcurl's
 * curl_easy_setopt/getinfo type checks, which would call the real names) are replaced. */
#ifndef HEARTH_CORE_LAZY_LIBS_H
#define HEARTH_CORE_LAZY_LIBS_H

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#undef curl_easy_setopt
#undef curl_easy_getinfo

/* libcurl */
CURLcode hearth_curl_global_init(long flags);
void hearth_curl_global_cleanup(void);
curl_version_info_data *hearth_curl_version_info(CURLversion);
CURL *hearth_curl_easy_init(void);
CURLcode hearth_curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode hearth_curl_easy_perform(CURL *curl);
void hearth_curl_easy_cleanup(CURL *curl);
CURLcode hearth_curl_easy_getinfo(CURL *curl, CURLINFO info, ...);
const char *hearth_curl_easy_strerror(CURLcode);
char *hearth_curl_easy_escape(CURL *handle, const char *string, int length);
struct curl_slist *hearth_curl_slist_append(struct curl_slist *list, const char *data);
void hearth_curl_slist_free_all(struct curl_slist *list);
void hearth_curl_free(void *p);
CURLU *hearth_curl_url(void);
void hearth_curl_url_cleanup(CURLU *handle);
CURLUcode hearth_curl_url_get(CURLU *handle, CURLUPart what, char **part, unsigned int flags);
CURLUcode hearth_curl_url_set(CURLU *handle, CURLUPart what, const char *part, unsigned int flags);
CURLM *hearth_curl_multi_init(void);
CURLMcode hearth_curl_multi_add_handle(CURLM *multi_handle, CURL *curl_handle);
CURLMcode hearth_curl_multi_remove_handle(CURLM *multi_handle, CURL *curl_handle);
CURLMcode hearth_curl_multi_perform(CURLM *multi_handle, int *running_handles);
CURLMsg *hearth_curl_multi_info_read(CURLM *multi_handle, int *msgs_in_queue);
CURLMcode hearth_curl_multi_poll(CURLM *multi_handle, struct curl_waitfd extra_fds[],
                                 unsigned int extra_nfds, int timeout_ms, int *ret);
CURLMcode hearth_curl_multi_wakeup(CURLM *multi_handle);
CURLMcode hearth_curl_multi_cleanup(CURLM *multi_handle);
#define curl_global_init hearth_curl_global_init
#define curl_global_cleanup hearth_curl_global_cleanup
#define curl_version_info hearth_curl_version_info
#define curl_easy_init hearth_curl_easy_init
#define curl_easy_setopt hearth_curl_easy_setopt
#define curl_easy_perform hearth_curl_easy_perform
#define curl_easy_cleanup hearth_curl_easy_cleanup
#define curl_easy_getinfo hearth_curl_easy_getinfo
#define curl_easy_strerror hearth_curl_easy_strerror
#define curl_easy_escape hearth_curl_easy_escape
#define curl_slist_append hearth_curl_slist_append
#define curl_slist_free_all hearth_curl_slist_free_all
#define curl_free hearth_curl_free
#define curl_url hearth_curl_url
#define curl_url_cleanup hearth_curl_url_cleanup
#define curl_url_get hearth_curl_url_get
#define curl_url_set hearth_curl_url_set
#define curl_multi_init hearth_curl_multi_init
#define curl_multi_add_handle hearth_curl_multi_add_handle
#define curl_multi_remove_handle hearth_curl_multi_remove_handle
#define curl_multi_perform hearth_curl_multi_perform
#define curl_multi_info_read hearth_curl_multi_info_read
#define curl_multi_poll hearth_curl_multi_poll
#define curl_multi_wakeup hearth_curl_multi_wakeup
#define curl_multi_cleanup hearth_curl_multi_cleanup

/* libcrypto */
unsigned char *hearth_HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                           const unsigned char *data, size_t data_len, unsigned char *md,
                           unsigned int *md_len);
const EVP_MD *hearth_EVP_sha1(void);
const EVP_MD *hearth_EVP_sha256(void);
BIGNUM *hearth_BN_bin2bn(const unsigned char *s, int len, BIGNUM *ret);
void hearth_BN_free(BIGNUM *a);
OSSL_PARAM_BLD *hearth_OSSL_PARAM_BLD_new(void);
int hearth_OSSL_PARAM_BLD_push_BN(OSSL_PARAM_BLD *bld, const char *key, const BIGNUM *bn);
OSSL_PARAM *hearth_OSSL_PARAM_BLD_to_param(OSSL_PARAM_BLD *bld);
void hearth_OSSL_PARAM_BLD_free(OSSL_PARAM_BLD *bld);
void hearth_OSSL_PARAM_free(OSSL_PARAM *p);
EVP_PKEY_CTX *hearth_EVP_PKEY_CTX_new_from_name(OSSL_LIB_CTX *libctx, const char *name,
                                                const char *propquery);
void hearth_EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx);
int hearth_EVP_PKEY_fromdata_init(EVP_PKEY_CTX *ctx);
int hearth_EVP_PKEY_fromdata(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey, int selection,
                             OSSL_PARAM param[]);
EVP_MD_CTX *hearth_EVP_MD_CTX_new(void);
void hearth_EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int hearth_EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e,
                                EVP_PKEY *pkey);
int hearth_EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
                            const unsigned char *tbs, size_t tbslen);
void hearth_EVP_PKEY_free(EVP_PKEY *pkey);
#define HMAC hearth_HMAC
#define EVP_sha1 hearth_EVP_sha1
#define EVP_sha256 hearth_EVP_sha256
#define BN_bin2bn hearth_BN_bin2bn
#define BN_free hearth_BN_free
#define OSSL_PARAM_BLD_new hearth_OSSL_PARAM_BLD_new
#define OSSL_PARAM_BLD_push_BN hearth_OSSL_PARAM_BLD_push_BN
#define OSSL_PARAM_BLD_to_param hearth_OSSL_PARAM_BLD_to_param
#define OSSL_PARAM_BLD_free hearth_OSSL_PARAM_BLD_free
#define OSSL_PARAM_free hearth_OSSL_PARAM_free
#define EVP_PKEY_CTX_new_from_name hearth_EVP_PKEY_CTX_new_from_name
#define EVP_PKEY_CTX_free hearth_EVP_PKEY_CTX_free
#define EVP_PKEY_fromdata_init hearth_EVP_PKEY_fromdata_init
#define EVP_PKEY_fromdata hearth_EVP_PKEY_fromdata
#define EVP_MD_CTX_new hearth_EVP_MD_CTX_new
#define EVP_MD_CTX_free hearth_EVP_MD_CTX_free
#define EVP_DigestVerifyInit hearth_EVP_DigestVerifyInit
#define EVP_DigestVerify hearth_EVP_DigestVerify
#define EVP_PKEY_free hearth_EVP_PKEY_free

#endif
