#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define ARENA_BLOCK 4096
#define ARENA_FIRST_BLOCK 1024

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    void *adopted; /* non-NULL: this block only records a malloc'd pointer */
    _Alignas(max_align_t) unsigned char data[];
};

void *
arena_alloc(struct arena *a, size_t n)
{
    struct arena_block *b = a->head;
    size_t need;

    if (n > SIZE_MAX / 2)
        abort(); /* no request can legitimately ask for this */
    need = (n + 15) & ~(size_t)15;

    /* sync memory (issue 4): allocate from the newest data block even when adopted pointers
     * were recorded after it (a few at most are looked past), and start small: a parked
     * long-poll keeps its arena, and most requests need a few hundred bytes. */
    for (int skip = 0; b && b->adopted && skip < 8; skip++)
        b = b->next;
    if (!b || b->adopted || b->cap - b->used < need) {
        size_t block = a->head ? ARENA_BLOCK : ARENA_FIRST_BLOCK;
        size_t cap = need > block ? need : block;
        b = xmalloc(sizeof(*b) + cap);
        b->cap = cap;
        b->used = 0;
        b->adopted = NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void *
arena_adopt(struct arena *a, void *p)
{
    struct arena_block *b;

    if (!p)
        return NULL;
    b = xmalloc(sizeof(*b));
    b->cap = b->used = 0;
    b->adopted = p;
    b->next = a->head;
    a->head = b;
    return p;
}

void
arena_free(struct arena *a)
{
    struct arena_block *b = a->head, *next;
    for (; b; b = next) {
        next = b->next;
        free(b->adopted);
        free(b);
    }
    a->head = NULL;
}
