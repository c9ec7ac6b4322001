/* Sync tokens: one position per stream, opaque to clients: "s<events>_<typing>_<receipts>_
 * <presence>_<account_data>_<to_device>_<device_lists>". A token's first part alone is a
 * /messages token, so a next_batch also works there. Positions are stored, so a token from
 * before a restart still works (typing is memory only: a stale typing position just means
 * "send the current typing state"). */
#ifndef HEARTH_SYNC_TOKEN_H
#define HEARTH_SYNC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

enum sync_stream {
    STREAM_EVENTS,
    STREAM_TYPING,
    STREAM_RECEIPTS,
    STREAM_PRESENCE,
    STREAM_ACCOUNT_DATA,
    STREAM_TO_DEVICE,
    STREAM_DEVICE_LISTS,
    STREAM_COUNT,
};

struct sync_token {
    int64_t pos[STREAM_COUNT];
};

/* 0, or -1 if s is not a token this server issued. */
int sync_token_parse(const char *s, struct sync_token *out);
/* Writes the token into buf (at least 160 bytes). */
void sync_token_format(const struct sync_token *t, char *buf, size_t len);

#endif
