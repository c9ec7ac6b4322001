/* ID token verification (src/json/jwt.c): RS256 with a key generated here, HS256, and the
 * claim checks of OpenID Connect Core 3.1.3.7. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "json/jwt.h"

static EVP_PKEY *key, *other_key;

static char *
b64u(const unsigned char *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = xmalloc(cap);
    sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static char *
bn_b64u(EVP_PKEY *k, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char buf[600];
    int n;
    char *out;

    assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
    n = BN_bn2bin(bn, buf);
    out = b64u(buf, (size_t)n);
    BN_free(bn);
    return out;
}

static json_t *
jwks_for(EVP_PKEY *k, const char *kid)
{
    char *n = bn_b64u(k, OSSL_PKEY_PARAM_RSA_N), *e = bn_b64u(k, OSSL_PKEY_PARAM_RSA_E);
    json_t *j =
        json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "keys", "kty", "RSA", "kid", kid, "n", n, "e", e);
    free(n);
    free(e);
    return j;
}

/* header.claims signed with k (RS256), or with an HMAC secret (HS256), or unsigned. */
static char *
make_token(const char *header, const char *claims, EVP_PKEY *k, const char *hmac)
{
    char *h = b64u((const unsigned char *)header, strlen(header));
    char *c = b64u((const unsigned char *)claims, strlen(claims));
    char *input = xasprintf("%s.%s", h, c), *sig64, *out;
    unsigned char sig[512];
    size_t siglen = sizeof(sig);

    if (k) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
        assert_int_equal(
            EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(md);
    } else if (hmac) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)hmac, strlen(hmac));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)input, strlen(input));
        crypto_auth_hmacsha256_final(&st, sig);
        siglen = crypto_auth_hmacsha256_BYTES;
    } else {
        siglen = 0;
    }
    sig64 = b64u(sig, siglen);
    out = xasprintf("%s.%s", input, sig64);
    free(h);
    free(c);
    free(input);
    free(sig64);
    return out;
}

static const char *claims_ok =
    "{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"sub\":\"s1\","
    "\"exp\":2000000000,\"iat\":1600000000,\"nonce\":\"n1\"}";

static int
setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    return key && other_key ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    return 0;
}

static void
test_rs256(void **state)
{
    json_t *jwks = jwks_for(key, "k1"), *claims;
    char err[128];
    char *tok = make_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims_ok, key, NULL);

    (void)state;
    claims = jwt_verify(tok, jwks, NULL, err, sizeof(err));
    assert_non_null(claims);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "s1");
    json_decref(claims);
    free(tok);

    /* No kid in the header: any RSA key of the set may verify. */
    tok = make_token("{\"alg\":\"RS256\"}", claims_ok, key, NULL);
    claims = jwt_verify(tok, jwks, NULL, err, sizeof(err));
    assert_non_null(claims);
    json_decref(claims);
    free(tok);
    json_decref(jwks);
}

static void
test_rs256_refused(void **state)
{
    json_t *jwks = jwks_for(key, "k1");
    char err[128], *tok, *tampered;
    (void)state;

    /* Another key, or a kid the set does not have. */
    tok = make_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims_ok, other_key, NULL);
    assert_null(jwt_verify(tok, jwks, NULL, err, sizeof(err)));
    free(tok);
    tok = make_token("{\"alg\":\"RS256\",\"kid\":\"k2\"}", claims_ok, key, NULL);
    assert_null(jwt_verify(tok, jwks, NULL, err, sizeof(err)));
    free(tok);
    /* Claims changed after signing. */
    tok = make_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims_ok, key, NULL);
    {
        char *dot1 = strchr(tok, '.'), *dot2 = strchr(dot1 + 1, '.');
        char *c = b64u((const unsigned char *)"{\"sub\":\"admin\"}", 15);
        tampered = xasprintf("%.*s.%s%s", (int)(dot1 - tok), tok, c, dot2);
        free(c);
    }
    assert_null(jwt_verify(tampered, jwks, NULL, err, sizeof(err)));
    free(tampered);
    free(tok);
    /* No keys at all. */
    tok = make_token("{\"alg\":\"RS256\"}", claims_ok, key, NULL);
    assert_null(jwt_verify(tok, NULL, NULL, err, sizeof(err)));
    free(tok);
    json_decref(jwks);
}

static void
test_alg_none_and_others_refused(void **state)
{
    json_t *jwks = jwks_for(key, "k1");
    char err[128], *tok;
    (void)state;

    tok = make_token("{\"alg\":\"none\"}", claims_ok, NULL, NULL);
    assert_null(jwt_verify(tok, jwks, "secret", err, sizeof(err)));
    assert_non_null(strstr(err, "unsupported"));
    free(tok);
    tok = make_token("{\"alg\":\"ES256\"}", claims_ok, NULL, NULL);
    assert_null(jwt_verify(tok, jwks, "secret", err, sizeof(err)));
    free(tok);
    tok = make_token("{}", claims_ok, NULL, NULL);
    assert_null(jwt_verify(tok, jwks, "secret", err, sizeof(err)));
    free(tok);
    json_decref(jwks);
}

static void
test_hs256(void **state)
{
    char err[128], *tok = make_token("{\"alg\":\"HS256\"}", claims_ok, NULL, "client-secret");
    json_t *claims;
    (void)state;

    claims = jwt_verify(tok, NULL, "client-secret", err, sizeof(err));
    assert_non_null(claims);
    json_decref(claims);
    assert_null(jwt_verify(tok, NULL, "other-secret", err, sizeof(err)));
    assert_null(jwt_verify(tok, NULL, NULL, err, sizeof(err)));
    free(tok);
}

static void
test_malformed(void **state)
{
    static const char *const bad[] = {
        "", "a", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.", "W10.e30.AA"}; /* [] is not an object */
    char err[128];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(jwt_verify(bad[i], NULL, "s", err, sizeof(err)));
}

struct claims_case {
    const char *json;
    const char *nonce;
    bool ok;
};

static void
test_claims(void **state)
{
    static const struct claims_case cases[] = {
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1000}", NULL, true},
        {"{\"iss\":\"https://idp.example/\",\"aud\":[\"x\",\"hearth\"],\"exp\":1000}", NULL, true},
        {"{\"iss\":\"https://idp.example/\",\"aud\":[\"x\"],\"exp\":1000}", NULL, false},
        {"{\"iss\":\"https://idp.example\",\"aud\":\"hearth\",\"exp\":1000}", NULL, false},
        {"{\"aud\":\"hearth\",\"exp\":1000}", NULL, false},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\"}", NULL, false},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":\"1000\"}", NULL, false},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1e300}", NULL, false},
        /* now is 500, leeway 100: exp 450 still fine, 350 not */
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":450}", NULL, true},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":350}", NULL, false},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1000,\"nbf\":700}", NULL,
         false},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1000,\"iat\":550}", NULL,
         true},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1000,\"nonce\":\"n\"}", "n",
         true},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1000,\"nonce\":\"m\"}", "n",
         false},
        {"{\"iss\":\"https://idp.example/\",\"aud\":\"hearth\",\"exp\":1000}", "n", false},
    };
    char err[128];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = json_loads(cases[i].json, 0, NULL);
        int rc = jwt_check_claims(c, "https://idp.example/", "hearth", cases[i].nonce, 500, 100,
                                  err, sizeof(err));
        if ((rc == 0) != cases[i].ok)
            fail_msg("case %zu (%s): got %d (%s)", i, cases[i].json, rc, err);
        json_decref(c);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256),
        cmocka_unit_test(test_rs256_refused),
        cmocka_unit_test(test_alg_none_and_others_refused),
        cmocka_unit_test(test_hs256),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_claims),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
