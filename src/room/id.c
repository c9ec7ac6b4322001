#include "room/id.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

static bool
port_valid(const char *p)
{
    size_t n = strlen(p);
    long v = 0;

    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    return v <= 65535;
}

bool
id_server_name_valid(const char *s)
{
    const char *port = NULL;
    char host[256];
    size_t hlen;

    if (!s || !*s)
        return false;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        unsigned char buf[16];
        if (!end || (size_t)(end - s - 1) >= sizeof(host))
            return false;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        if (inet_pton(AF_INET6, host, buf) != 1)
            return false;
        if (end[1] == '\0')
            return true;
        return end[1] == ':' && port_valid(end + 2);
    }
    port = strchr(s, ':');
    hlen = port ? (size_t)(port - s) : strlen(s);
    if (hlen == 0 || hlen > 255)
        return false;
    for (size_t i = 0; i < hlen; i++) {
        char c = s[i];
        if (!isalnum((unsigned char)c) && c != '-' && c != '.')
            return false;
    }
    return !port || port_valid(port + 1);
}

bool
id_localpart_valid(const char *lp)
{
    if (!lp || !*lp)
        return false;
    for (const char *p = lp; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '=' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

bool
id_localpart_valid_historical(const char *lp, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)lp[i];
        if (c < 0x21 || c > 0x7e || c == ':')
            return false;
    }
    return true;
}

bool
id_user_id_split(const char *uid, const char **lp, size_t *lp_len, const char **server)
{
    const char *colon;

    if (!uid || uid[0] != '@')
        return false;
    colon = strchr(uid, ':');
    if (!colon)
        return false;
    *lp = uid + 1;
    *lp_len = (size_t)(colon - uid - 1);
    *server = colon + 1;
    return true;
}

bool
id_user_id_valid(const char *uid)
{
    const char *lp, *server;
    size_t lp_len;

    if (!uid || strlen(uid) > ID_MAX_LEN)
        return false;
    if (!id_user_id_split(uid, &lp, &lp_len, &server))
        return false;
    return id_localpart_valid_historical(lp, lp_len) && id_server_name_valid(server);
}
