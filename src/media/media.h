/* The content repository (modules/content_repo.rst): files stored once per content hash
 * under media_store_path, thumbnails made with libvips and cached beside them, URL previews
 * fetched with libcurl and parsed with libxml2. Metadata goes through the store. */
#ifndef HEARTH_MEDIA_MEDIA_H
#define HEARTH_MEDIA_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct store;
struct store_media;

enum media_rc {
    MEDIA_OK = 0,
    MEDIA_NOT_FOUND,   /* no such media, or quarantined */
    MEDIA_TOO_LARGE,   /* over max_upload_size / max_image_pixels / max_spider_size */
    MEDIA_UNSUPPORTED, /* not an image we thumbnail, or one that does not decode */
    MEDIA_BLOCKED,     /* a preview target on a blacklisted address */
    MEDIA_FETCH_FAILED,
    MEDIA_ERR, /* storage or internal failure (logged) */
    /* modules (issue 12): the module this needs (hearth-vips.so, hearth-xml.so) cannot be
     * loaded (logged) */
    MEDIA_UNAVAILABLE,
};

/* Process-wide set-up of libvips, libxml2 and libcurl (not thread-safe: call once from main
 * before any thread starts), and their shutdown at exit. */
int media_global_init(const char *argv0);
void media_global_shutdown(void);

/* The media store of a server: borrows cfg and st for its lifetime. NULL if the directories
 * under media_store_path cannot be made (logged). */
struct media *media_new(const struct config *cfg, struct store *st);
void media_free(struct media *m);

/* A new random media ID (24 letters, as Synapse: about 137 bits). */
char *media_new_id(void);
/* True if id uses only the characters content_repo.rst allows (A-Za-z0-9_-), 1..255. */
bool media_id_valid(const char *id);

/* ---- uploads (media_store.c) ----
 * The body goes to a temporary file in the store while its SHA-256 is computed; finish makes
 * it durable under its hash (a second copy of the same bytes is dropped) and records the
 * metadata. The upload is freed by finish or abort. */
struct media_upload;
enum media_rc media_upload_begin(struct media *m, int64_t max_size, struct media_upload **out);
/* MEDIA_TOO_LARGE once the total passes max_size; MEDIA_ERR on a write failure. */
enum media_rc media_upload_write(struct media_upload *u, const void *data, size_t len);
/* Stores the file and a local_media row (media_type, upload_name and user_id borrowed;
 * user_id NULL for server-fetched media); *media_id is a new string. Frees u. */
enum media_rc media_upload_finish(struct media_upload *u, const char *media_type,
                                  const char *upload_name, const char *user_id, char **media_id,
                                  int64_t *length);
void media_upload_abort(struct media_upload *u);

/* Opens the content of a local media for reading: *fd (the caller closes it), and the
 * metadata in *out (free with store_media_clear). MEDIA_NOT_FOUND for unknown or
 * quarantined media. */
enum media_rc media_open(struct media *m, const char *media_id, struct store_media *out, int *fd);

/* Content-Disposition for a download (new string): inline only for types a browser shows
 * safely, the file name as an RFC 6266 token or filename*=utf-8''%-encoded. */
char *media_content_disposition(const char *media_type, const char *filename);

/* A Range header (RFC 7233) against a file of `size` bytes: 1 and the one range asked for,
 * 0 to answer the whole file (no header, one we do not serve such as several ranges, or a
 * malformed one), -1 when unsatisfiable (416). Pure. */
int media_parse_range(const char *header, uint64_t size, uint64_t *start, uint64_t *len);

/* ---- thumbnails (thumbnail.c) ---- */
enum media_thumb_method { MEDIA_CROP = CONFIG_THUMB_CROP, MEDIA_SCALE = CONFIG_THUMB_SCALE };

/* What answers a thumbnail request, given the image's size (upright) and the configured
 * sizes: the original (it is no larger than asked), or a thumbnail of out_w x out_h made with
 * `method`. Pure; see thumbnail.c for the rules. */
struct media_thumb_choice {
    bool original;
    int out_w, out_h;
};
struct media_thumb_choice media_thumb_choose(int img_w, int img_h, int req_w, int req_h,
                                             enum media_thumb_method method,
                                             const struct config_thumbnail_size *sizes,
                                             size_t n_sizes, bool dynamic);

/* A thumbnail for a request: *fd (caller closes), its *length and *content_type (static:
 * image/jpeg or image/png; the original itself when it is a JPEG or PNG no larger than
 * asked). Made on first request and cached. MEDIA_UNSUPPORTED for content that is not a
 * JPEG, PNG, GIF or WebP image or does not decode, MEDIA_TOO_LARGE over max_image_pixels. */
enum media_rc media_thumbnail(struct media *m, const struct store_media *md, int req_w, int req_h,
                              enum media_thumb_method method, int *fd, int64_t *length,
                              const char **content_type);

/* The size of an image file (upright), without decoding it; false if it is not an image we
 * read. */
bool media_image_size(struct media *m, const char *sha256, int *w, int *h);

/* ---- URL previews (preview.c) ---- */
/* The OpenGraph answer for url (new string of JSON). now_ms chooses the cache entry. */
enum media_rc media_preview_url(struct media *m, const char *url, int64_t now_ms, char **og_json);

/* Is the address blocked for previews (in the blacklist and not in the whitelist)? An
 * IPv4-mapped IPv6 address is checked as IPv4. Pure. */
bool media_ip_blocked(const struct config *cfg, int family, const unsigned char *addr);

/* ---- deletion (media_admin.c; issue 14) ----
 * Deletes a local media's record, and its file and thumbnails when no other media shares the
 * content. MEDIA_NOT_FOUND for unknown media. */
enum media_rc media_delete(struct media *m, const char *media_id);

#endif
