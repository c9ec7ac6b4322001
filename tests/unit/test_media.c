/* The content repository's pure logic (src/media): which thumbnail answers a request, Range
 * headers, Content-Disposition, the preview address filter, media IDs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "media/media.h"

static const struct config_thumbnail_size synapse_sizes[] = {
    {32, 32, CONFIG_THUMB_CROP},    {96, 96, CONFIG_THUMB_CROP},    {320, 240, CONFIG_THUMB_SCALE},
    {640, 480, CONFIG_THUMB_SCALE}, {800, 600, CONFIG_THUMB_SCALE},
};
#define NSIZES (sizeof(synapse_sizes) / sizeof(synapse_sizes[0]))

static void
test_thumb_choose(void **state)
{
    static const struct {
        int img_w, img_h, req_w, req_h;
        enum media_thumb_method method;
        bool dynamic;
        bool original;
        int out_w, out_h;
    } cases[] = {
        /* No larger than asked: the original. */
        {40, 30, 64, 64, MEDIA_CROP, false, true, 40, 30},
        {40, 30, 40, 30, MEDIA_SCALE, false, true, 40, 30},
        {40, 30, 64, 64, MEDIA_SCALE, true, true, 40, 30},
        /* Crop: the smallest configured size at least the size asked. */
        {1000, 500, 32, 32, MEDIA_CROP, false, false, 32, 32},
        {1000, 500, 1, 1, MEDIA_CROP, false, false, 32, 32},
        {1000, 500, 33, 33, MEDIA_CROP, false, false, 96, 96},
        {1000, 500, 96, 96, MEDIA_CROP, false, false, 96, 96},
        {1000, 500, 90, 40, MEDIA_CROP, false, false, 96, 96},
        /* None large enough: made to measure. */
        {1000, 500, 97, 97, MEDIA_CROP, false, false, 97, 97},
        {1000, 500, 120, 60, MEDIA_CROP, false, false, 120, 60},
        /* Never enlarged: the largest rectangle of the aspect asked that the image holds. */
        {1000, 500, 800, 800, MEDIA_CROP, false, false, 500, 500},
        {1000, 500, 2000, 400, MEDIA_CROP, false, false, 1000, 200},
        {300, 1000, 600, 600, MEDIA_CROP, false, false, 300, 300},
        /* Crop of an image smaller than a configured size: that size cut to the image. */
        {60, 20, 10, 10, MEDIA_CROP, false, false, 20, 20},
        /* Scale: the image fit in the box, the smallest configured box that is enough. */
        {1000, 500, 300, 300, MEDIA_SCALE, false, false, 320, 160},
        {1000, 500, 700, 100, MEDIA_SCALE, false, false, 320, 160},
        {1000, 500, 640, 480, MEDIA_SCALE, false, false, 640, 320},
        {1000, 500, 641, 321, MEDIA_SCALE, false, false, 800, 400},
        {1000, 500, 641, 1, MEDIA_SCALE, false, false, 320, 160}, /* the ideal is 2 x 1 */
        {1000, 500, 900, 900, MEDIA_SCALE, false, false, 900, 450},
        {200, 400, 100, 100, MEDIA_SCALE, false, false, 120, 240},
        {3, 1000, 10, 10, MEDIA_SCALE, false, false, 1, 240},
        /* A configured box holding the whole image answers the original. */
        {300, 200, 32, 32, MEDIA_SCALE, false, true, 300, 200},
        /* dynamic_thumbnails: exactly what is asked. */
        {1000, 500, 64, 64, MEDIA_CROP, true, false, 64, 64},
        {1000, 500, 300, 300, MEDIA_SCALE, true, false, 300, 150},
        {1000, 500, 0, -3, MEDIA_CROP, true, false, 1, 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct media_thumb_choice c =
            media_thumb_choose(cases[i].img_w, cases[i].img_h, cases[i].req_w, cases[i].req_h,
                               cases[i].method, synapse_sizes, NSIZES, cases[i].dynamic);
        if (c.original != cases[i].original || c.out_w != cases[i].out_w ||
            c.out_h != cases[i].out_h)
            fail_msg("case %zu (%dx%d asked %dx%d %s): got %s %dx%d, want %s %dx%d", i,
                     cases[i].img_w, cases[i].img_h, cases[i].req_w, cases[i].req_h,
                     cases[i].method == MEDIA_CROP ? "crop" : "scale",
                     c.original ? "original" : "thumbnail", c.out_w, c.out_h,
                     cases[i].original ? "original" : "thumbnail", cases[i].out_w, cases[i].out_h);
    }
    /* No configured sizes: every request made to measure. */
    struct media_thumb_choice c = media_thumb_choose(1000, 500, 64, 64, MEDIA_CROP, NULL, 0, false);
    assert_true(!c.original && c.out_w == 64 && c.out_h == 64);
}

static void
test_parse_range(void **state)
{
    static const struct {
        const char *header;
        uint64_t size;
        int rc;
        uint64_t start, len;
    } cases[] = {
        {NULL, 100, 0, 0, 0},
        {"bytes=0-9", 100, 1, 0, 10},
        {"bytes=10-19", 100, 1, 10, 10},
        {"bytes=90-", 100, 1, 90, 10},
        {"bytes=90-1000", 100, 1, 90, 10},
        {"bytes=-10", 100, 1, 90, 10},
        {"bytes=-1000", 100, 1, 0, 100},
        {"BYTES=5-5", 100, 1, 5, 1},
        {"bytes= 5-6", 100, 1, 5, 2},
        {"bytes=99-99", 100, 1, 99, 1},
        {"bytes=100-", 100, -1, 0, 0},
        {"bytes=100-200", 100, -1, 0, 0},
        {"bytes=-0", 100, -1, 0, 0},
        {"bytes=0-", 0, -1, 0, 0},
        {"bytes=-5", 0, -1, 0, 0},
        /* Served whole. */
        {"bytes=0-1,5-6", 100, 0, 0, 0},
        {"bytes=9-3", 100, 0, 0, 0},
        {"bytes=abc", 100, 0, 0, 0},
        {"bytes=1-2x", 100, 0, 0, 0},
        {"bytes=--1", 100, 0, 0, 0},
        {"bytes=+1-2", 100, 0, 0, 0},
        {"items=0-1", 100, 0, 0, 0},
        {"bytes=99999999999999999999-", 100, 0, 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t start = 0, len = 0;
        int rc = media_parse_range(cases[i].header, cases[i].size, &start, &len);
        if (rc != cases[i].rc || (rc == 1 && (start != cases[i].start || len != cases[i].len)))
            fail_msg("%s (size %llu): got %d %llu+%llu", cases[i].header ? cases[i].header : "-",
                     (unsigned long long)cases[i].size, rc, (unsigned long long)start,
                     (unsigned long long)len);
    }
}

static void
test_content_disposition(void **state)
{
    static const struct {
        const char *type, *name, *want;
    } cases[] = {
        {"image/png", "cat.png", "inline; filename=cat.png"},
        {"image/png; x=y", "cat.png", "inline; filename=cat.png"},
        {"Image/PNG", NULL, "inline"},
        {"image/png", "", "inline"},
        {"text/html", "a.html", "attachment; filename=a.html"},
        {"image/svg+xml", "a.svg", "attachment; filename=a.svg"},
        {"application/octet-stream", "x", "attachment; filename=x"},
        {"image/pngx", "x", "attachment; filename=x"},
        {"application/pdf", "a b.pdf", "attachment; filename*=utf-8''a%20b.pdf"},
        {"application/pdf", "é", "attachment; filename*=utf-8''%C3%A9"},
        {"application/pdf", "a\"b", "attachment; filename*=utf-8''a%22b"},
        {"application/pdf", "a;b=c", "attachment; filename*=utf-8''a%3Bb%3Dc"},
        {"application/pdf", "a\r\nX: y", "attachment; filename*=utf-8''a%0D%0AX%3A%20y"},
        {"application/pdf", "!#$&+-.^_`|~", "attachment; filename=!#$&+-.^_`|~"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = media_content_disposition(cases[i].type, cases[i].name);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s %s: got %s, want %s", cases[i].type, cases[i].name ? cases[i].name : "-",
                     got, cases[i].want);
        free(got);
    }
}

static bool
blocked(const struct config *cfg, const char *addr)
{
    unsigned char a[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

    assert_int_equal(inet_pton(family, addr, a), 1);
    return media_ip_blocked(cfg, family, a);
}

static void
test_ip_blocked(void **state)
{
    static const char *const blocked_default[] = {
        "127.0.0.1",        "127.255.0.9",     "10.1.2.3",   "172.16.0.1",
        "172.31.255.255",   "192.168.1.1",     "100.64.0.1", "169.254.169.254",
        "224.0.0.1",        "0.0.0.0",         "::1",        "::",
        "fe80::1",          "fd00::1",         "ff02::1",    "2001:db8::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "198.18.0.1", "203.0.113.7",
    };
    static const char *const allowed_default[] = {
        "8.8.8.8", "172.32.0.1", "192.169.0.1", "1.1.1.1", "2a00:1450::1", "::ffff:8.8.8.8",
    };
    const char *yaml = "server_name: example.org\n";
    const char *wl = "server_name: example.org\n"
                     "url_preview_ip_range_whitelist: ['127.0.0.1', '10.2.0.0/16', '::1']\n";
    char err[256];
    struct config *cfg = NULL;

    (void)state;
    assert_int_equal(config_load_string(yaml, strlen(yaml), "/tmp", &cfg, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(blocked_default) / sizeof(blocked_default[0]); i++)
        if (!blocked(cfg, blocked_default[i]))
            fail_msg("%s is not blocked", blocked_default[i]);
    for (size_t i = 0; i < sizeof(allowed_default) / sizeof(allowed_default[0]); i++)
        if (blocked(cfg, allowed_default[i]))
            fail_msg("%s is blocked", allowed_default[i]);
    config_free(cfg);

    cfg = NULL;
    assert_int_equal(config_load_string(wl, strlen(wl), "/tmp", &cfg, err, sizeof(err)), 0);
    assert_false(blocked(cfg, "127.0.0.1"));
    assert_false(blocked(cfg, "::ffff:127.0.0.1")); /* mapped: the v4 whitelist entry counts */
    assert_true(blocked(cfg, "127.0.0.2"));
    assert_false(blocked(cfg, "10.2.200.1"));
    assert_true(blocked(cfg, "10.3.0.1"));
    assert_false(blocked(cfg, "::1"));
    assert_true(blocked(cfg, "0.0.0.0"));
    config_free(cfg);
}

static void
test_media_ids(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        char *a = media_new_id(), *b = media_new_id();
        assert_int_equal(strlen(a), 24);
        assert_true(media_id_valid(a));
        assert_string_not_equal(a, b);
        free(a);
        free(b);
    }
    assert_true(media_id_valid("aZ09_-"));
    assert_false(media_id_valid(""));
    assert_false(media_id_valid("a.b"));
    assert_false(media_id_valid("../x"));
    assert_false(media_id_valid("a/b"));
    assert_false(media_id_valid("a%2F"));
    assert_false(media_id_valid("é"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumb_choose),        cmocka_unit_test(test_parse_range),
        cmocka_unit_test(test_content_disposition), cmocka_unit_test(test_ip_blocked),
        cmocka_unit_test(test_media_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
