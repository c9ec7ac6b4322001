#include "sync/token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sync_token_parse(const char *s, struct sync_token *out)
{
    const char *p;
    int i = 0;

    memset(out, 0, sizeof(*out));
    if (!s || s[0] != 's')
        return -1;
    p = s + 1;
    for (;;) {
        char *end;
        long long v;
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        v = strtoll(p, &end, 10);
        if (errno || v < 0)
            return -1;
        if (i < STREAM_COUNT)
            out->pos[i] = v;
        i++;
        if (*end == '\0')
            return 0;
        if (*end != '_')
            return -1;
        p = end + 1;
    }
}

void
sync_token_format(const struct sync_token *t, char *buf, size_t len)
{
    snprintf(buf, len, "s%lld_%lld_%lld_%lld_%lld_%lld_%lld", (long long)t->pos[0],
             (long long)t->pos[1], (long long)t->pos[2], (long long)t->pos[3], (long long)t->pos[4],
             (long long)t->pos[5], (long long)t->pos[6]);
}
