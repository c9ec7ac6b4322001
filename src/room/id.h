/* Identifier grammar (appendices/identifier_grammar.rst): server names, user IDs. */
#ifndef HEARTH_ROOM_ID_H
#define HEARTH_ROOM_ID_H

#include <stdbool.h>
#include <stddef.h>

/* SPEC: identifier_grammar "The length of a user ID, including the @ sigil and the domain,
 * MUST NOT exceed 255 characters." */
#define ID_MAX_LEN 255

/* server_name = hostname [ ":" port ], hostname = IPv4 / "[" IPv6 "]" / dns-name */
bool id_server_name_valid(const char *s);
/* Localparts a server may register today: a-z 0-9 . _ = - / and non-empty. */
bool id_localpart_valid(const char *lp);
/* Historical localparts accepted from others: %x21-39 / %x3B-7E, non-empty. */
bool id_localpart_valid_historical(const char *lp, size_t len);
/* "@localpart:server" with a historical localpart and valid server name, <= 255 chars. */
bool id_user_id_valid(const char *uid);

/* Splits "@lp:server"; returns false if not a user ID. Points into uid. */
bool id_user_id_split(const char *uid, const char **lp, size_t *lp_len, const char **server);

#endif
