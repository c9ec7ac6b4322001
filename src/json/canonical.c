#include "json/canonical.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "json/json.h"

struct buf {
    char *p;
    size_t len, cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
put_str(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* SPEC: signing_json grammar "escaped": only " \ b f n r t and \u00XX for other controls,
 * lower-case hex (as Python's json.dumps writes them). Everything else goes out raw. */
static void
put_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(b, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            elen = 6;
            break;
        }
        put(b, esc, elen);
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

/* Adds one unit in the last place to a string of decimal digits; returns false if it would
 * carry out of the leftmost digit. */
static bool
digits_step(char *d, size_t n, int dir)
{
    for (size_t i = n; i-- > 0;) {
        if (dir > 0 && d[i] != '9') {
            d[i]++;
            return true;
        }
        if (dir < 0 && d[i] != '0') {
            d[i]--;
            return d[0] != '0';
        }
        d[i] = dir > 0 ? '0' : '9';
    }
    return false;
}

static bool
round_trips(const char *digits, int exp10, double want)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%c.%se%d", digits[0], digits + 1, exp10);
    return strtod(tmp, NULL) == want;
}

/* The shortest decimal digits that read back as d (> 0): digits[] and the exponent of the
 * first digit. "%.*e" rounds correctly, but next to a power of two the interval that rounds
 * to d is lopsided, so a neighbour of the correctly rounded string may be the short one. */
static void
shortest_digits(double d, char digits[32], int *exp10)
{
    for (int prec = 1; prec <= 17; prec++) {
        char tmp[64], *e;
        size_t n = 0;

        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        e = strchr(tmp, 'e');
        for (char *p = tmp; p < e; p++)
            if (*p != '.')
                digits[n++] = *p;
        digits[n] = '\0';
        *exp10 = (int)strtol(e + 1, NULL, 10);
        if (round_trips(digits, *exp10, d))
            return;
        for (int dir = -1; dir <= 1; dir += 2) {
            char alt[32];
            memcpy(alt, digits, n + 1);
            if (digits_step(alt, n, dir) && round_trips(alt, *exp10, d)) {
                memcpy(digits, alt, n + 1);
                return;
            }
        }
    }
    /* 17 significant digits always round-trip; not reached. */
}

/* Python's float repr: shortest round-trip digits, positional for 1e-4 <= |d| < 1e16 (with
 * ".0" when integral), otherwise d.ddde+XX. */
static void
put_real(struct buf *b, double d)
{
    char digits[32], out[64];
    int exp10, decpt;
    size_t nd, o = 0;

    if (signbit(d))
        out[o++] = '-';
    d = fabs(d);
    if (d == 0) {
        memcpy(out + o, "0.0", 4);
        put_str(b, out);
        return;
    }
    shortest_digits(d, digits, &exp10);
    nd = strlen(digits);
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';
    decpt = exp10 + 1;
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            memcpy(out + o, "0.", 2);
            o += 2;
            for (int i = 0; i < -decpt; i++)
                out[o++] = '0';
            memcpy(out + o, digits, nd);
            o += nd;
        } else if ((size_t)decpt < nd) {
            memcpy(out + o, digits, (size_t)decpt);
            o += (size_t)decpt;
            out[o++] = '.';
            memcpy(out + o, digits + decpt, nd - (size_t)decpt);
            o += nd - (size_t)decpt;
        } else {
            memcpy(out + o, digits, nd);
            o += nd;
            for (size_t i = nd; i < (size_t)decpt; i++)
                out[o++] = '0';
            memcpy(out + o, ".0", 2);
            o += 2;
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        snprintf(out + o, sizeof(out) - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    put_str(b, out);
}

struct key {
    const char *s;
    size_t len;
    json_t *v;
};

/* Code point order is byte order in UTF-8. */
static int
key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static bool write_value(struct buf *b, const json_t *v, bool allow_floats);

static bool
write_object(struct buf *b, const json_t *v, bool allow_floats)
{
    size_t n = json_object_size(v), i = 0;
    struct key small[16];
    /* Events and their parts have a handful of keys: sort those on the stack. */
    struct key *keys = n <= sizeof(small) / sizeof(small[0]) ? small : xcalloc(n, sizeof(*keys));
    bool ok = false;
    void *it;

    for (it = json_object_iter((json_t *)v); it && i < n;
         it = json_object_iter_next((json_t *)v, it)) {
        keys[i].s = json_object_iter_key(it);
        keys[i].len = json_object_iter_key_len(it);
        keys[i].v = json_object_iter_value(it);
        i++;
    }
    if (n <= sizeof(small) / sizeof(small[0])) {
        for (size_t k = 1; k < n; k++) { /* insertion sort: no calls through a pointer */
            struct key t = keys[k];
            size_t j = k;
            while (j > 0 && key_cmp(&keys[j - 1], &t) > 0) {
                keys[j] = keys[j - 1];
                j--;
            }
            keys[j] = t;
        }
    } else {
        qsort(keys, n, sizeof(*keys), key_cmp);
    }
    put(b, "{", 1);
    for (i = 0; i < n; i++) {
        if (i)
            put(b, ",", 1);
        put_string(b, keys[i].s, keys[i].len);
        put(b, ":", 1);
        if (!write_value(b, keys[i].v, allow_floats))
            goto out;
    }
    put(b, "}", 1);
    ok = true;
out:
    if (keys != small)
        free(keys);
    return ok;
}

/* Decimal digits of n, without the cost of printf's format parsing. */
static void
put_int(struct buf *b, int64_t n)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;

    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0)
        tmp[--i] = '-';
    put(b, tmp + i, sizeof(tmp) - i);
}

static bool
write_value(struct buf *b, const json_t *v, bool allow_floats)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return write_object(b, v, allow_floats);
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(b, ",", 1);
            if (!write_value(b, json_array_get(v, i), allow_floats))
                return false;
        }
        put(b, "]", 1);
        return true;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        return true;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        /* SPEC: signing_json "integers in the range [-(2**53)+1, (2**53)-1]" */
        if (n < -JSON_CANON_INT_MAX || n > JSON_CANON_INT_MAX)
            return false;
        put_int(b, (int64_t)n);
        return true;
    }
    case JSON_REAL:
        /* SPEC: signing_json "Float values are not permitted by this encoding." (rooms v1-5
         * tolerate them: "Servers MUST NOT strictly enforce the JSON format") */
        if (!allow_floats || !isfinite(json_real_value(v)))
            return false;
        put_real(b, json_real_value(v));
        return true;
    case JSON_TRUE:
        put_str(b, "true");
        return true;
    case JSON_FALSE:
        put_str(b, "false");
        return true;
    case JSON_NULL:
        put_str(b, "null");
        return true;
    }
    return false;
}

char *
json_canonical(const json_t *v, bool allow_floats, size_t *len_out)
{
    struct buf b = {0};

    if (!v)
        return NULL;
    if (!write_value(&b, v, allow_floats)) {
        free(b.p);
        return NULL;
    }
    if (!b.p)
        put(&b, "", 0);
    if (len_out)
        *len_out = b.len;
    return b.p;
}
