/* Content repository metadata (modules/content_repo.rst): local media and cached URL
 * previews. The files themselves live in the media store (src/media). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_internal.h"

void
store_media_clear(struct store_media *m)
{
    free(m->media_id);
    free(m->media_type);
    free(m->upload_name);
    free(m->sha256);
    free(m->user_id);
    free(m->quarantined_by);
    memset(m, 0, sizeof(*m));
}

enum store_rc
store_media_add(struct store *st, const struct store_media *m)
{
    enum store_rc rc = ST_WRITE(
        st,
        ST_STEP_CHANGED("INSERT INTO local_media (media_id, media_type, upload_name, "
                        "media_length, sha256, user_id, created_ts) VALUES (?, ?, ?, ?, ?, ?, "
                        "?) ON CONFLICT (media_id) DO NOTHING",
                        ST_S(m->media_id), ST_S(m->media_type), ST_S(m->upload_name),
                        ST_I(m->length), ST_S(m->sha256), ST_S(m->user_id), ST_I(m->created_ts)));
    return rc == STORE_NOT_FOUND ? STORE_EXISTS : rc;
}

void
st_fill_media(struct store *st, struct db_stmt *s, void *item)
{
    struct store_media *m = item;
    m->media_id = st_dup_col(st, s, 0);
    m->media_type = st_dup_col(st, s, 1);
    m->upload_name = st_dup_col(st, s, 2);
    m->length = st->drv->col_int64(s, 3);
    m->sha256 = st_dup_col(st, s, 4);
    m->user_id = st_dup_col(st, s, 5);
    m->created_ts = st->drv->col_int64(s, 6);
    m->quarantined_by = st_dup_col(st, s, 7);
    m->safe_from_quarantine = st->drv->col_int64(s, 8) != 0;
}

enum store_rc
store_media_get(struct store *st, const char *media_id, struct store_media *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st,
                       "SELECT media_id, media_type, upload_name, media_length, sha256, user_id, "
                       "created_ts, quarantined_by, safe_from_quarantine FROM local_media WHERE "
                       "media_id = ?",
                       ST_ARGS(ST_S(media_id)), st_fill_media, out);
}

/* As Synapse: the same bytes uploaded under another ID are the same content, so they go
 * with it. */
enum store_rc
store_media_quarantine(struct store *st, const char *media_id, const char *by)
{
    if (!by)
        return ST_WRITE(st, ST_STEP_CHANGED("UPDATE local_media SET quarantined_by = NULL WHERE "
                                            "sha256 = (SELECT sha256 FROM local_media WHERE "
                                            "media_id = ?)",
                                            ST_S(media_id)));
    /* Media an admin protected (issue 14) stays available; the first step only checks that
     * the media exists. */
    return ST_WRITE(st,
                    ST_STEP_CHANGED("UPDATE local_media SET media_id = media_id WHERE media_id = ?",
                                    ST_S(media_id)),
                    ST_STEP("UPDATE local_media SET quarantined_by = ? WHERE sha256 = (SELECT "
                            "sha256 FROM local_media WHERE media_id = ?) AND "
                            "safe_from_quarantine = 0",
                            ST_S(by), ST_S(media_id)));
}

static void
fill_text(struct store *st, struct db_stmt *s, void *item)
{
    *(char **)item = st_dup_col(st, s, 0);
}

enum store_rc
store_url_preview_get(struct store *st, const char *url, int64_t now, char **og)
{
    *og = NULL;
    return st_read_one(st, "SELECT og FROM url_previews WHERE url = ? AND expires_ts > ?",
                       ST_ARGS(ST_S(url), ST_I(now)), fill_text, og);
}

enum store_rc
store_url_preview_put(struct store *st, const char *url, const char *og, int64_t fetched_ts,
                      int64_t expires_ts)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO url_previews (url, og, fetched_ts, expires_ts) "
                                "VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
                                "og = excluded.og, fetched_ts = excluded.fetched_ts, "
                                "expires_ts = excluded.expires_ts",
                                ST_S(url), ST_S(og), ST_I(fetched_ts), ST_I(expires_ts)));
}
