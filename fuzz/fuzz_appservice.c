/* libFuzzer driver: any text as an application service registration (YAML) never crashes;
 * an accepted one answers namespace lookups on the input's own lines without crashing, and
 * cannot be added twice (its id and as_token are taken). Build (not part of CMake):
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I../src \
 *     fuzz_appservice.c ../src/appservice/registration.c ../src/core/util.c \
 *     ../src/core/log.c ../src/room/id.c -ljansson -lsodium -lyaml -lpcre2-8 -lcurl -lm */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appservice/appservice.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The senders are not linked in: nothing was started, so there is nothing to stop. */
void
appservices_stop(struct appservices *as)
{
    (void)as;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct appservices *as = appservices_new("example.org");
    char err[256];
    char *text = xstrndup((const char *)data, size);

    if (appservices_add_yaml(as, (const char *)data, size, "fuzz", err, sizeof(err)) == 0) {
        const struct appservice *a = appservices_at(as, 0);
        for (char *line = text, *next; line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            for (int k = AS_NS_USERS; k <= AS_NS_ROOMS; k++)
                (void)appservice_matches(a, (enum as_ns)k, line, k == AS_NS_ALIASES);
            (void)appservice_is_user(a, line);
            (void)appservices_by_token(as, line);
        }
        if (appservices_add_yaml(as, (const char *)data, size, "fuzz", err, sizeof(err)) == 0)
            abort();
    }
    free(text);
    appservices_free(as);
    return 0;
}
