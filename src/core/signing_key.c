#include "core/signing_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

static int
from_seed(const unsigned char seed[32], const char *version, struct signing_key *out)
{
    snprintf(out->key_id, sizeof(out->key_id), "ed25519:%s", version);
    return crypto_sign_seed_keypair(out->public_key, out->secret_key, seed);
}

static int
generate(const char *path, struct signing_key *out, char *err, size_t errlen)
{
    unsigned char seed[32];
    char *version = NULL, *b64 = NULL, *line = NULL;
    int fd = -1, rc = -1;

    randombytes_buf(seed, sizeof(seed));
    /* Synapse names generated keys "a_" plus four random characters. */
    char *suffix = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 4);
    version = xasprintf("a_%s", suffix);
    free(suffix);
    b64 = util_base64_encode(seed, sizeof(seed));
    line = xasprintf("ed25519 %s %s\n", version, b64);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "signing_key_path: cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len || fsync(fd) != 0) {
        snprintf(err, errlen, "signing_key_path: cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if (from_seed(seed, version, out) != 0) {
        snprintf(err, errlen, "signing_key_path: key derivation failed");
        goto out;
    }
    log_info("generated signing key %s in %s", out->key_id, path);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    sodium_memzero(seed, sizeof(seed));
    if (line)
        sodium_memzero(line, strlen(line));
    if (b64)
        sodium_memzero(b64, strlen(b64));
    free(line);
    free(b64);
    free(version);
    return rc;
}

int
signing_key_load_or_generate(const char *path, struct signing_key *out, char *err, size_t errlen)
{
    char buf[512], alg[32], version[64], b64[128];
    unsigned char seed[64];
    size_t seedlen = 0;
    FILE *f;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return generate(path, out, err, errlen);
        snprintf(err, errlen, "signing_key_path: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    /* The file may hold several keys; the first ed25519 one signs. */
    while (fgets(buf, sizeof(buf), f)) {
        if (sscanf(buf, "%31s %63s %127s", alg, version, b64) != 3 || strcmp(alg, "ed25519") != 0)
            continue;
        if (util_base64_decode(b64, seed, sizeof(seed), &seedlen) != 0 || seedlen != 32) {
            snprintf(err, errlen, "signing_key_path: %s: key is not 32 bytes of base64", path);
            goto out;
        }
        if (from_seed(seed, version, out) != 0) {
            snprintf(err, errlen, "signing_key_path: key derivation failed");
            goto out;
        }
        rc = 0;
        goto out;
    }
    snprintf(err, errlen, "signing_key_path: %s holds no ed25519 key", path);
out:
    fclose(f);
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(b64, sizeof(b64));
    sodium_memzero(seed, sizeof(seed));
    return rc;
}

void
signing_key_wipe(struct signing_key *key)
{
    sodium_memzero(key, sizeof(*key));
}
