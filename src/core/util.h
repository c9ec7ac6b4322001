/* Small helpers over libsodium and libc: time, random tokens, encodings, bounded strings. */
#ifndef HEARTH_CORE_UTIL_H
#define HEARTH_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Aborts on out-of-memory so no call site carries a NULL path (Redis' rule). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new string formatted like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int64_t util_now_ms(void);
uint64_t util_mono_ns(void);

/* Writes `nbytes` random bytes as unpadded URL-safe base64 into a new string. */
char *util_random_token(size_t nbytes);
/* Writes n random characters from `alphabet` into a new string. */
char *util_random_string(const char *alphabet, size_t n);

/* Unpadded standard base64 (Matrix's encoding); returns a new string. */
char *util_base64_encode(const unsigned char *data, size_t len);
/* Accepts padded or unpadded standard base64; returns 0 and fills out (max outcap). */
int util_base64_decode(const char *s, unsigned char *out, size_t outcap, size_t *outlen);
/* Lower-case hex of SHA-256(data) into out (65 bytes). */
void util_sha256_hex(const void *data, size_t len, char out[65]);

/* Decodes %XX escapes (and '+' as space when plus_is_space) into a new string; returns NULL
 * if an escape is malformed or decodes to NUL. */
char *util_url_decode(const char *s, size_t len, bool plus_is_space);

/* Parses a whole decimal integer string; returns 0 on success. */
int util_parse_int64(const char *s, int64_t *out);
/* True if s is valid UTF-8 without NUL. */
bool util_valid_utf8(const char *s, size_t len);

#endif
