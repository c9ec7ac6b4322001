/* Per-request bump allocator: everything is freed at once with the request. */
#ifndef HEARTH_CORE_ARENA_H
#define HEARTH_CORE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
};

void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
/* Takes ownership of a malloc'd pointer: it is freed with the arena. Returns p. */
void *arena_adopt(struct arena *a, void *p);
void arena_free(struct arena *a);

#endif
