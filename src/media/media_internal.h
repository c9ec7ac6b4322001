/* Shared plumbing of src/media; not for callers of media.h. */
#ifndef HEARTH_MEDIA_MEDIA_INTERNAL_H
#define HEARTH_MEDIA_MEDIA_INTERNAL_H

#include "media/media.h"

struct media {
    const struct config *cfg;
    struct store *st;
    char *root;    /* media_store_path */
    char *tmp;     /* uploads and thumbnails being written */
    char *content; /* content/ab/cd/<sha256>: each distinct file once */
    char *thumbs;  /* thumbnails/ab/cd/<sha256>/<w>x<h>-<method>: cached thumbnails */
};

/* The file of content sha256 (new string). */
char *media_content_path(const struct media *m, const char *sha256);
/* The thumbnail directory of content sha256 (new string). */
char *media_thumb_dir(const struct media *m, const char *sha256);
/* mkdir -p of path; directories made are fsynced into their parents. 0 or -1 (logged). */
int media_make_dirs(const char *path);
/* fsync of a directory (so a rename or a new entry in it is durable). 0 or -1. */
int media_sync_dir(const char *path);

/* The bytes written to an upload so far, read back into a new NUL-terminated buffer (for
 * parsing a fetched page). 0 or -1. */
int media_upload_read(struct media_upload *u, char **buf, size_t *len);

/* Library set-up, once per process (thumbnail.c: libvips; preview.c: libcurl, libxml2). */
int media_thumb_global_init(const char *argv0);
void media_thumb_global_shutdown(void);
int media_preview_global_init(void);
void media_preview_global_shutdown(void);

#endif
