/* A timer: one thread asleep until the earliest deadline it was given, which then calls
 * fn(arg, now) and sleeps until the deadline fn returns (INT64_MAX: none). No polling: a
 * timer with nothing to do waits on a condition variable. fn runs without the timer's lock,
 * so it may call timer_at. */
#ifndef HEARTH_SYNC_TIMER_H
#define HEARTH_SYNC_TIMER_H

#include <stdint.h>

struct timer;
typedef int64_t (*timer_fn)(void *arg, int64_t now_ms);

/* Starts the thread; fn and arg are borrowed until timer_free. */
struct timer *timer_new(timer_fn fn, void *arg);
/* Makes fn run no later than when_ms (CLOCK_REALTIME ms, as util_now_ms). */
void timer_at(struct timer *t, int64_t when_ms);
/* Stops and joins the thread; fn is not called afterwards. */
void timer_free(struct timer *t);

#endif
