/* libcrypto as a module (issue 12, memory): the executable does not link OpenSSL's libcrypto
 * (about 1.5 MB resident just mapped). Hearth's own uses (HMAC-SHA1 in voip.c and
 * synapse_admin.c, RS256 in jwt.c) call the functions below, which crypto_forward.c defines with
 * OpenSSL's signatures (renamed hearth_*: core/lazy_libs.h, force-included), forwarding to this
 * table of the real ones from the module hearth-crypto.so (crypto_module.c, linked with libcrypto),
 * loaded at the first call. So those files are unchanged. */
#ifndef HEARTH_CORE_CRYPTO_API_H
#define HEARTH_CORE_CRYPTO_API_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

struct crypto_api {
    unsigned char *(*hmac)(const EVP_MD *evp_md, const void *key, int key_len,
                           const unsigned char *data, size_t data_len, unsigned char *md,
                           unsigned int *md_len);
    const EVP_MD *(*evp_sha1)(void);
    const EVP_MD *(*evp_sha256)(void);
    BIGNUM *(*bn_bin2bn)(const unsigned char *s, int len, BIGNUM *ret);
    void (*bn_free)(BIGNUM *a);
    OSSL_PARAM_BLD *(*ossl_param_bld_new)(void);
    int (*ossl_param_bld_push_bn)(OSSL_PARAM_BLD *bld, const char *key, const BIGNUM *bn);
    OSSL_PARAM *(*ossl_param_bld_to_param)(OSSL_PARAM_BLD *bld);
    void (*ossl_param_bld_free)(OSSL_PARAM_BLD *bld);
    void (*ossl_param_free)(OSSL_PARAM *p);
    EVP_PKEY_CTX *(*evp_pkey_ctx_new_from_name)(OSSL_LIB_CTX *libctx, const char *name,
                                                const char *propquery);
    void (*evp_pkey_ctx_free)(EVP_PKEY_CTX *ctx);
    int (*evp_pkey_fromdata_init)(EVP_PKEY_CTX *ctx);
    int (*evp_pkey_fromdata)(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey, int selection,
                             OSSL_PARAM param[]);
    EVP_MD_CTX *(*evp_md_ctx_new)(void);
    void (*evp_md_ctx_free)(EVP_MD_CTX *ctx);
    int (*evp_digestverifyinit)(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e,
                                EVP_PKEY *pkey);
    int (*evp_digestverify)(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
                            const unsigned char *tbs, size_t tbslen);
    void (*evp_pkey_free)(EVP_PKEY *pkey);
};

/* The module's table (module_table("crypto", "hearth_crypto_api")). */
extern const struct crypto_api hearth_crypto_api;

#endif
