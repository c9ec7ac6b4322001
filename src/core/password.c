#include "core/password.h"

#include <sodium.h>
#include <string.h>

#include "core/util.h"

char *
password_hash(const char *password)
{
    char out[crypto_pwhash_STRBYTES];

    /* The interactive limits are libsodium's advice for online logins (64 MiB, ~0.1 s). */
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return NULL;
    return xstrdup(out);
}

bool
password_verify(const char *hash, const char *password)
{
    if (!hash || !password)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
