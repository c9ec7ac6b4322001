/* Long-polls (/sync, /events): suspend the request until the notifier wakes it or its timeout
 * passes, then the handler runs again and looks for news. */
#ifndef HEARTH_API_LONGPOLL_H
#define HEARTH_API_LONGPOLL_H

#include <stdbool.h>
#include <stdint.h>

struct req;

/* Call first in the handler: notes that a resumed request's waiter has fired, and returns
 * the notifier sequence to pass to longpoll_suspend after looking. */
uint64_t longpoll_begin(struct req *r);
/* Nothing new was found: suspends r until something concerning `key` (a user ID, or a room
 * ID for peekers) happens or timeout_ms from the first call passes. Returns false (the
 * handler should answer now) when the time is up or the server is stopping. */
bool longpoll_suspend(struct req *r, const char *key, int64_t timeout_ms, uint64_t seq);

#endif
