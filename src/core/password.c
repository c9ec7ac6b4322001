#include "core/password.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

/* Each hash holds MEMLIMIT_INTERACTIVE (64 MiB) while it runs. The work is pure CPU, so more
 * hashes at once than cores gains nothing and only multiplies that memory: a burst of logins
 * on the 16 HTTP threads would hold 1 GiB. */
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots_cond = PTHREAD_COND_INITIALIZER;
static unsigned slots_max;
static unsigned slots_used;
static unsigned slots_peak;

static void
slots_init(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    slots_max = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static void
slot_take(void)
{
    pthread_once(&slots_once, slots_init);
    pthread_mutex_lock(&slots_lock);
    while (slots_used >= slots_max)
        pthread_cond_wait(&slots_cond, &slots_lock);
    if (++slots_used > slots_peak)
        slots_peak = slots_used;
    pthread_mutex_unlock(&slots_lock);
}

static void
slot_give(void)
{
    pthread_mutex_lock(&slots_lock);
    slots_used--;
    pthread_cond_signal(&slots_cond);
    pthread_mutex_unlock(&slots_lock);
}

char *
password_hash(const char *password)
{
    char out[crypto_pwhash_STRBYTES];
    int rc;

    /* The interactive limits are libsodium's advice for online logins (64 MiB, ~0.1 s). */
    slot_take();
    rc = crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                           crypto_pwhash_MEMLIMIT_INTERACTIVE);
    slot_give();
    return rc == 0 ? xstrdup(out) : NULL;
}

bool
password_verify(const char *hash, const char *password)
{
    int rc;

    if (!hash || !password)
        return false;
    slot_take();
    rc = crypto_pwhash_str_verify(hash, password, strlen(password));
    slot_give();
    return rc == 0;
}

unsigned
password_parallel_peak(void)
{
    unsigned peak;

    pthread_mutex_lock(&slots_lock);
    peak = slots_peak;
    pthread_mutex_unlock(&slots_lock);
    return peak;
}
