/* The writer's WAL writes, gathered (issue 3, send speed). SQLite writes each WAL frame with
 * two calls (its 24-byte header, then the page), about 30 pwrite calls for one message's
 * commit. This VFS, used by the writer's connection only, wraps the default one and keeps
 * the writes to the WAL file that follow one another in a buffer, written with one call
 * before anything that must see them: the commit's sync, a read of the WAL (a transaction
 * reading back a page it spilled), its size, a truncation, a file control, closing. The
 * commit is on disk, as before, when the sync returns; frames still in the buffer belong
 * to a transaction not yet committed, which recovery would discard anyway. Other files
 * (the database, its shared memory) are the default VFS's own, untouched. */
#include "store/sqlite_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Room for a commit of 15 frames (a message takes 10 to 15); a bigger transaction writes in
 * several calls. The default VFS writes at most 128 KiB - 1 in one call (it masks the
 * length with 0x1ffff: SQLite itself never writes more than a page), so no more than that. */
#define WALBUF_CAP (64 * 1024)

struct wal_file {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, just after this struct */
    unsigned char *buf; /* made at the first write */
    size_t len;
    sqlite3_int64 off; /* where buf[0] goes in the file */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbuf_vfs;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered = SQLITE_ERROR;

static int
flush(struct wal_file *f)
{
    int rc;

    if (f->len == 0)
        return SQLITE_OK;
    rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    return rc;
}

static int
wb_close(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f), rc2 = f->real->pMethods->xClose(f->real);

    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int
wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

static int
wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc;

    if (amt < 0)
        return SQLITE_IOERR_WRITE;
    if (f->len > 0 && off == f->off + (sqlite3_int64)f->len && f->len + (size_t)amt <= WALBUF_CAP) {
        memcpy(f->buf + f->len, data, (size_t)amt);
        f->len += (size_t)amt;
        return SQLITE_OK;
    }
    if ((rc = flush(f)) != SQLITE_OK)
        return rc;
    if ((size_t)amt > WALBUF_CAP || (!f->buf && !(f->buf = malloc(WALBUF_CAP))))
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    memcpy(f->buf, data, (size_t)amt);
    f->len = (size_t)amt;
    f->off = off;
    return SQLITE_OK;
}

static int
wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int
wb_sync(sqlite3_file *file, int flags)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int
wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int
wb_lock(sqlite3_file *file, int level)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int
wb_unlock(sqlite3_file *file, int level)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int
wb_check_reserved(sqlite3_file *file, int *out)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
wb_file_control(sqlite3_file *file, int op, void *arg)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
wb_sector_size(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int
wb_device_characteristics(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* A WAL file has no shared memory or map of its own; these only keep the table complete. */
static int
wb_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}

static int
wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
wb_shm_barrier(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int
wb_shm_unmap(sqlite3_file *file, int delete_flag)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int
wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);

    if (rc != SQLITE_OK)
        return rc;
    return f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int
wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    struct wal_file *f = (struct wal_file *)file;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods wal_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int
wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc;

    (void)vfs;
    /* Every other file is the default VFS's, in the space SQLite gave us. */
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &wal_methods : NULL;
    return rc;
}

static void
register_once(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 1 || real_vfs->szOsFile < 0)
        return;
    walbuf_vfs = *real_vfs; /* every method but xOpen is the default VFS's own */
    walbuf_vfs.pNext = NULL;
    walbuf_vfs.zName = "hearth-walbuf";
    walbuf_vfs.szOsFile = (int)sizeof(struct wal_file) + real_vfs->szOsFile;
    walbuf_vfs.xOpen = wb_open;
    registered = sqlite3_vfs_register(&walbuf_vfs, 0);
}

const char *
sqlite_walbuf_vfs(void)
{
    pthread_once(&once, register_once);
    return registered == SQLITE_OK ? walbuf_vfs.zName : NULL;
}
