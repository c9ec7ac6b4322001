/* Local user IDs: qualifying what a client typed. */
#ifndef HEARTH_API_USERID_H
#define HEARTH_API_USERID_H

struct hs;

/* "alice" or "@Alice:server" -> "@alice:server" (new string). Local user IDs are lower-case
 * (registration forbids capitals), so the localpart is folded; a different server name or a
 * malformed ID gives NULL. */
char *userid_qualify(const struct hs *hs, const char *who);
/* "@" localpart ":" server_name, new string. */
char *userid_make(const struct hs *hs, const char *localpart);

#endif
