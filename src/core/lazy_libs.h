/* modules (issue 12, memory): libcurl and libcrypto are loaded on first use (core/curl_api.h,
 * core/crypto_api.h). CMake force-includes this header into every source of hearthcore
 * (-include), so their calls of these functions name Hearth's forwarding stubs
 * (core/curl_stub.c, core/crypto_stub.c) instead: the executable does not link the libraries,
 * and a program that links them too (a test, a bench) still gets the real ones for its own
 * calls, with no clash of names. The modules' sources are not in hearthcore and see the real
 * names. */
#ifndef HEARTH_CORE_LAZY_LIBS_H
#define HEARTH_CORE_LAZY_LIBS_H

/* libcurl */
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
