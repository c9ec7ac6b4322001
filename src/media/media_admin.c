/* Deleting local media (issue 14: Synapse's admin API and `hearth purge-media`). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "media/media_internal.h"
#include "store/store.h"

/* Removes the thumbnails made of a content (a flat directory of files). */
static void
remove_thumbs(const struct media *m, const char *sha256)
{
    char *dir = media_thumb_dir(m, sha256);
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *f = xasprintf("%s/%s", dir, e->d_name);
            if (unlink(f) != 0)
                log_warn("media: cannot remove %s: %s", f, strerror(errno));
            free(f);
        }
        closedir(d);
        if (rmdir(dir) != 0)
            log_warn("media: cannot remove %s: %s", dir, strerror(errno));
    }
    free(dir);
}

enum media_rc
media_delete(struct media *m, const char *media_id)
{
    char *sha256 = NULL, *path;
    bool last = false;

    switch (store_media_delete(m->st, media_id, &sha256, &last)) {
    case STORE_OK:
        break;
    case STORE_NOT_FOUND:
        return MEDIA_NOT_FOUND;
    default:
        return MEDIA_ERR;
    }
    /* The file is shared by every media with the same content: it goes with the last one. */
    if (last) {
        path = media_content_path(m, sha256);
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("media: cannot remove %s: %s", path, strerror(errno));
        free(path);
        remove_thumbs(m, sha256);
    }
    free(sha256);
    return MEDIA_OK;
}
