/* The module hearth-crypto.so (crypto_api.h): libcrypto's functions, linked here. */
#include "core/crypto_api.h"

const struct crypto_api hearth_crypto_api = {
    .hmac = HMAC,
    .evp_sha1 = EVP_sha1,
    .evp_sha256 = EVP_sha256,
    .bn_bin2bn = BN_bin2bn,
    .bn_free = BN_free,
    .ossl_param_bld_new = OSSL_PARAM_BLD_new,
    .ossl_param_bld_push_bn = OSSL_PARAM_BLD_push_BN,
    .ossl_param_bld_to_param = OSSL_PARAM_BLD_to_param,
    .ossl_param_bld_free = OSSL_PARAM_BLD_free,
    .ossl_param_free = OSSL_PARAM_free,
    .evp_pkey_ctx_new_from_name = EVP_PKEY_CTX_new_from_name,
    .evp_pkey_ctx_free = EVP_PKEY_CTX_free,
    .evp_pkey_fromdata_init = EVP_PKEY_fromdata_init,
    .evp_pkey_fromdata = EVP_PKEY_fromdata,
    .evp_md_ctx_new = EVP_MD_CTX_new,
    .evp_md_ctx_free = EVP_MD_CTX_free,
    .evp_digestverifyinit = EVP_DigestVerifyInit,
    .evp_digestverify = EVP_DigestVerify,
    .evp_pkey_free = EVP_PKEY_free,
};
