/* libFuzzer driver: any text as an ID token -> jwt_verify never crashes, gives the same answer
 * twice, and a token it accepts has claims that jwt_check_claims can read. Build (not part of
 * CMake):
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I../src \
 *     fuzz_jwt.c ../src/json/jwt.c ../src/core/util.c -ljansson -lsodium -lcrypto -lm */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A 2048-bit RSA public key (any will do: the fuzzer cannot forge a signature, this exercises
 * the parsing and the refusals). */
static const char *const jwks_text =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"e\":\"AQAB\",\"n\":\""
    "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRR"
    "OSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJ"
    "JQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQh"
    "rNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw\"}]}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *jwks;
    char *token, err[128];
    json_t *a, *b;

    if (!jwks) {
        if (sodium_init() < 0)
            abort();
        jwks = json_loads(jwks_text, 0, NULL);
    }
    token = malloc(size + 1);
    memcpy(token, data, size);
    token[size] = '\0';
    a = jwt_verify(token, jwks, "secret", err, sizeof(err));
    b = jwt_verify(token, jwks, "secret", err, sizeof(err));
    if ((a == NULL) != (b == NULL))
        abort();
    if (a)
        (void)jwt_check_claims(a, "https://idp.example/", "hearth", "n", 1700000000, 60, err,
                               sizeof(err));
    json_decref(a);
    json_decref(b);
    free(token);
    return 0;
}
