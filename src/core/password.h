/* Password hashing with argon2id (libsodium crypto_pwhash). */
#ifndef HEARTH_CORE_PASSWORD_H
#define HEARTH_CORE_PASSWORD_H

#include <stdbool.h>

/* Returns a new string holding the encoded hash, or NULL on failure (out of memory in the
 * KDF). */
char *password_hash(const char *password);
bool password_verify(const char *hash, const char *password);

/* Hashes and checks run at most one per online core at once (each holds 64 MiB); the others
 * wait. The most that ever ran at once, for tests. */
unsigned password_parallel_peak(void);

#endif
