/* The server's ed25519 signing key, in Synapse's file format:
 * "ed25519 <version> <unpadded base64 of the 32-byte seed>". */
#ifndef HEARTH_CORE_SIGNING_KEY_H
#define HEARTH_CORE_SIGNING_KEY_H

#include <stddef.h>
#include <stdint.h>

struct signing_key {
    char key_id[80]; /* "ed25519:a_AbCd" */
    uint8_t public_key[32];
    uint8_t secret_key[64]; /* libsodium's seed || public key form */
};

/* Loads the key at path, generating and writing a new one if the file does not exist.
 * Returns 0, or -1 with a message in err. */
int signing_key_load_or_generate(const char *path, struct signing_key *out, char *err,
                                 size_t errlen);
/* Wipes the secret. */
void signing_key_wipe(struct signing_key *key);

#endif
