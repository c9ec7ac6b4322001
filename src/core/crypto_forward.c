/* OpenSSL functions Hearth calls (renamed hearth_* by core/lazy_libs.h), forwarding to the module
 * hearth-crypto.so (crypto_api.h), loaded at the first call. Without the module each fails
 * the way OpenSSL reports failure (NULL or 0; the loader logs why) and the freeing ones do
 * nothing (nothing was allocated). */
#include <stddef.h>

#include "core/crypto_api.h"
#include "core/module.h"

static const void *_Atomic table; /* the module's struct crypto_api, once loaded */

/* The table, loading the module at the first call. */
static const struct crypto_api *
load(void)
{
    return module_table_once(&table, "crypto", "hearth_crypto_api");
}

/* The table if the module is loaded (the freeing functions must not load it). */
static const struct crypto_api *
loaded(void)
{
    return table;
}

unsigned char *
HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *data, size_t data_len,
     unsigned char *md, unsigned int *md_len)
{
    const struct crypto_api *c = load();
    return c ? c->hmac(evp_md, key, key_len, data, data_len, md, md_len) : NULL;
}

const EVP_MD *
EVP_sha1(void)
{
    const struct crypto_api *c = load();
    return c ? c->evp_sha1() : NULL;
}

const EVP_MD *
EVP_sha256(void)
{
    const struct crypto_api *c = load();
    return c ? c->evp_sha256() : NULL;
}

BIGNUM *
BN_bin2bn(const unsigned char *s, int len, BIGNUM *ret)
{
    const struct crypto_api *c = load();
    return c ? c->bn_bin2bn(s, len, ret) : NULL;
}

void
BN_free(BIGNUM *a)
{
    if (loaded())
        loaded()->bn_free(a);
}

OSSL_PARAM_BLD *
OSSL_PARAM_BLD_new(void)
{
    const struct crypto_api *c = load();
    return c ? c->ossl_param_bld_new() : NULL;
}

int
OSSL_PARAM_BLD_push_BN(OSSL_PARAM_BLD *bld, const char *key, const BIGNUM *bn)
{
    const struct crypto_api *c = load();
    return c ? c->ossl_param_bld_push_bn(bld, key, bn) : 0;
}

OSSL_PARAM *
OSSL_PARAM_BLD_to_param(OSSL_PARAM_BLD *bld)
{
    const struct crypto_api *c = load();
    return c ? c->ossl_param_bld_to_param(bld) : NULL;
}

void
OSSL_PARAM_BLD_free(OSSL_PARAM_BLD *bld)
{
    if (loaded())
        loaded()->ossl_param_bld_free(bld);
}

void
OSSL_PARAM_free(OSSL_PARAM *p)
{
    if (loaded())
        loaded()->ossl_param_free(p);
}

EVP_PKEY_CTX *
EVP_PKEY_CTX_new_from_name(OSSL_LIB_CTX *libctx, const char *name, const char *propquery)
{
    const struct crypto_api *c = load();
    return c ? c->evp_pkey_ctx_new_from_name(libctx, name, propquery) : NULL;
}

void
EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx)
{
    if (loaded())
        loaded()->evp_pkey_ctx_free(ctx);
}

int
EVP_PKEY_fromdata_init(EVP_PKEY_CTX *ctx)
{
    const struct crypto_api *c = load();
    return c ? c->evp_pkey_fromdata_init(ctx) : 0;
}

int
EVP_PKEY_fromdata(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey, int selection, OSSL_PARAM param[])
{
    const struct crypto_api *c = load();
    return c ? c->evp_pkey_fromdata(ctx, ppkey, selection, param) : 0;
}

EVP_MD_CTX *
EVP_MD_CTX_new(void)
{
    const struct crypto_api *c = load();
    return c ? c->evp_md_ctx_new() : NULL;
}

void
EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
    if (loaded())
        loaded()->evp_md_ctx_free(ctx);
}

int
EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e,
                     EVP_PKEY *pkey)
{
    const struct crypto_api *c = load();
    return c ? c->evp_digestverifyinit(ctx, pctx, type, e, pkey) : 0;
}

int
EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
                 const unsigned char *tbs, size_t tbslen)
{
    const struct crypto_api *c = load();
    return c ? c->evp_digestverify(ctx, sigret, siglen, tbs, tbslen) : 0;
}

void
EVP_PKEY_free(EVP_PKEY *pkey)
{
    if (loaded())
        loaded()->evp_pkey_free(pkey);
}
