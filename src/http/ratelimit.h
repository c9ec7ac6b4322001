/* Token buckets keyed by a string (a user ID or an IP address), one limiter per rc_* setting. */
#ifndef HEARTH_HTTP_RATELIMIT_H
#define HEARTH_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit;

/* per_second <= 0 and burst <= 0 together mean "no limit". */
struct ratelimit *ratelimit_new(double per_second, double burst);
void ratelimit_free(struct ratelimit *rl);

/* True if one action is allowed for key at now_ms. With `take`, the action is counted.
 * When refused, *retry_after_ms says when the next one will be. */
bool ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms, bool take,
                     int64_t *retry_after_ms);
/* Counts one action whether or not it is allowed (failed login attempts). */
void ratelimit_record(struct ratelimit *rl, const char *key, int64_t now_ms);

#endif
