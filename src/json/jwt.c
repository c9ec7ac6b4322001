#include "json/jwt.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* A compact JWS is well under this; more is not an ID token. */
#define JWT_MAX_LEN 16384

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Unpadded URL-safe base64 into a new buffer (NUL-terminated); NULL if malformed. */
static unsigned char *
b64url_decode(const char *s, size_t len, size_t *outlen)
{
    unsigned char *out = xmalloc(len + 1);

    if (sodium_base642bin(out, len + 1, s, len, NULL, outlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(out);
        return NULL;
    }
    out[*outlen] = '\0';
    return out;
}

static json_t *
decode_json_part(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *raw = b64url_decode(s, len, &n);
    json_t *v;

    if (!raw)
        return NULL;
    v = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static EVP_PKEY *
rsa_key_from_jwk(const json_t *jwk)
{
    const char *n64 = json_string_value(json_object_get(jwk, "n"));
    const char *e64 = json_string_value(json_object_get(jwk, "e"));
    unsigned char *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (!n64 || !e64)
        return NULL;
    n = b64url_decode(n64, strlen(n64), &nlen);
    e = b64url_decode(e64, strlen(e64), &elen);
    if (!n || !e || nlen < 256 || elen == 0) /* RSA below 2048 bits is refused */
        goto out;
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!bn || !be || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static bool
rs256_ok(const json_t *jwk, const char *data, size_t datalen, const unsigned char *sig,
         size_t siglen)
{
    EVP_PKEY *pkey = rsa_key_from_jwk(jwk);
    EVP_MD_CTX *md = NULL;
    bool ok = false;

    if (!pkey)
        return false;
    md = EVP_MD_CTX_new();
    if (md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1)
        ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)data, datalen) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return ok;
}

static bool
hs256_ok(const char *secret, const char *data, size_t datalen, const unsigned char *sig,
         size_t siglen)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    bool ok;

    if (!secret || siglen != sizeof(mac))
        return false;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)data, datalen);
    crypto_auth_hmacsha256_final(&st, mac);
    ok = sodium_memcmp(mac, sig, sizeof(mac)) == 0;
    sodium_memzero(&st, sizeof(st));
    return ok;
}

json_t *
jwt_verify(const char *token, const json_t *jwks, const char *hmac_secret, char *err, size_t errlen)
{
    const char *dot1, *dot2, *alg, *kid;
    json_t *header = NULL, *claims = NULL, *keys, *jwk;
    unsigned char *sig = NULL;
    size_t siglen = 0, len = strlen(token), i;
    bool ok = false;

    if (len > JWT_MAX_LEN) {
        fail(err, errlen, "token too long");
        return NULL;
    }
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
        fail(err, errlen, "not a compact JWS");
        return NULL;
    }
    header = decode_json_part(token, (size_t)(dot1 - token));
    claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen);
    if (!header || !claims || !sig) {
        fail(err, errlen, "malformed header, claims or signature");
        goto out;
    }
    alg = json_string_value(json_object_get(header, "alg"));
    kid = json_string_value(json_object_get(header, "kid"));
    if (alg && strcmp(alg, "RS256") == 0) {
        keys = json_object_get(jwks, "keys");
        json_array_foreach(keys, i, jwk)
        {
            const char *kty = json_string_value(json_object_get(jwk, "kty"));
            const char *k = json_string_value(json_object_get(jwk, "kid"));
            if (!kty || strcmp(kty, "RSA") != 0 || (kid && (!k || strcmp(k, kid) != 0)))
                continue;
            if (rs256_ok(jwk, token, (size_t)(dot2 - token), sig, siglen)) {
                ok = true;
                break;
            }
        }
        if (!ok)
            fail(err, errlen, "no key of the provider verifies the RS256 signature");
    } else if (alg && strcmp(alg, "HS256") == 0) {
        ok = hs256_ok(hmac_secret, token, (size_t)(dot2 - token), sig, siglen);
        if (!ok)
            fail(err, errlen, "the HS256 signature does not verify");
    } else {
        fail(err, errlen, "unsupported signature algorithm %s", alg ? alg : "(none)");
    }
out:
    json_decref(header);
    free(sig);
    if (!ok) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

static bool
audience_ok(const json_t *aud, const char *audience)
{
    size_t i;
    json_t *a;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), audience) == 0;
    json_array_foreach(aud, i, a)
    {
        if (json_is_string(a) && strcmp(json_string_value(a), audience) == 0)
            return true;
    }
    return false;
}

/* A NumericDate in seconds; false unless a number in a sane range. */
static bool
seconds(const json_t *v, int64_t *out)
{
    double d;

    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return *out > -1000000000000LL && *out < 1000000000000LL;
    }
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    if (!(d > -1e12 && d < 1e12))
        return false;
    *out = (int64_t)d;
    return true;
}

int
jwt_check_claims(const json_t *claims, const char *issuer, const char *audience, const char *nonce,
                 int64_t now_s, int64_t leeway_s, char *err, size_t errlen)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    const json_t *iat = json_object_get(claims, "iat");

    if (!iss || strcmp(iss, issuer) != 0)
        return fail(err, errlen, "issuer mismatch");
    if (!audience_ok(json_object_get(claims, "aud"), audience))
        return fail(err, errlen, "audience mismatch");
    int64_t t;

    if (!seconds(exp, &t) || t + leeway_s < now_s)
        return fail(err, errlen, "expired");
    if (nbf && (!seconds(nbf, &t) || t - leeway_s > now_s))
        return fail(err, errlen, "not valid yet");
    if (iat && (!seconds(iat, &t) || t - leeway_s > now_s))
        return fail(err, errlen, "issued in the future");
    if (nonce) {
        const char *n = json_string_value(json_object_get(claims, "nonce"));
        if (!n || strcmp(n, nonce) != 0)
            return fail(err, errlen, "nonce mismatch");
    }
    return 0;
}
