/* The notifier: requests waiting for something new for a user (a /sync long-poll) register
 * here; a write wakes the waiters of the users it concerns. It passes no data, only the fact
 * that something changed; the woken request looks for itself. A timer thread wakes waiters
 * whose timeout has passed. No thread is parked per waiting client. */
#ifndef HEARTH_SYNC_NOTIFIER_H
#define HEARTH_SYNC_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct notifier;

struct waiter {
    /* Set by the caller before notifier_wait. */
    const char *user_id; /* borrowed until the waiter fires or is cancelled */
    int64_t deadline_ms; /* CLOCK_REALTIME ms */
    void (*wake)(void *arg);
    void *arg;
    /* Private. */
    bool fired;
    struct waiter *next;
};

struct notifier *notifier_new(void);
/* Wakes every waiter and stops the timer thread. */
void notifier_free(struct notifier *n);

/* The count of notifications so far; read it before looking for news, and pass it to
 * notifier_wait, so nothing that happens in between is missed. */
uint64_t notifier_seq(struct notifier *n);
/* Registers w; fires it at once if a notification came after `seen`. */
void notifier_wait(struct notifier *n, struct waiter *w, uint64_t seen);
/* Unregisters w if it has not fired. Returns true if it had fired. */
bool notifier_cancel(struct notifier *n, struct waiter *w);
/* Wakes the waiters of these users. */
void notifier_notify(struct notifier *n, const char *const *user_ids, size_t count);
/* The same with hashes[i] == notifier_user_hash(user_ids[i]) computed beforehand (hashes may
 * be NULL): a caller waking the same list again and again (a room's members) hashes once. */
void notifier_notify_hashed(struct notifier *n, const char *const *user_ids, const size_t *hashes,
                            size_t count);
/* The hash notifier_notify_hashed expects for a user ID (a pure function of the string). */
size_t notifier_user_hash(const char *user_id);
/* Wakes every waiter. */
void notifier_wake_all(struct notifier *n);
/* From now on every waiter fires at once (shutdown: long-polls answer and finish). */
void notifier_shutdown(struct notifier *n);
bool notifier_stopping(struct notifier *n);
/* How many requests are waiting now (the metrics' sync waiters; issue 14). */
size_t notifier_waiting(struct notifier *n);

#endif
