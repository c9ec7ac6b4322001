/* JSON Web Tokens as OpenID Connect uses them for ID tokens (RFC 7515 compact JWS, RFC 7519):
 * signature verification with RS256 (OpenSSL libcrypto: RSA is fixed by the protocol and
 * libsodium has none) or HS256 (libsodium's HMAC-SHA-256 with the client secret), and the
 * claim checks of OpenID Connect Core 3.1.3.7. Pure: keys and time come in (issue 10). */
#ifndef HEARTH_JSON_JWT_H
#define HEARTH_JSON_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Verifies token's signature and returns its claims (new reference), or NULL with a reason in
 * err. RS256 takes the key of `jwks` (a JWK Set, borrowed; may be NULL) whose kid matches the
 * header's, or any RSA key when the header names none; HS256 takes hmac_secret (may be NULL).
 * Other algorithms, "none" included, are refused. */
json_t *jwt_verify(const char *token, const json_t *jwks, const char *hmac_secret, char *err,
                   size_t errlen);

/* Checks ID token claims: iss equals issuer, aud is (or contains) audience, exp is after now
 * and nbf/iat not after it (each with leeway_s), and nonce equals `nonce` when that is
 * non-NULL. 0, or -1 with a reason in err. */
int jwt_check_claims(const json_t *claims, const char *issuer, const char *audience,
                     const char *nonce, int64_t now_s, int64_t leeway_s, char *err, size_t errlen);

#endif
