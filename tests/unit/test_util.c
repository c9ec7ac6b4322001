#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string literal and its length, embedded NULs included. */
#define LIT(s) s, sizeof(s) - 1

/* ---- util_url_decode ---------------------------------------------------------------------- */

static void
test_url_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        bool plus_is_space;
        const char *want; /* NULL: rejected */
    } cases[] = {
        {LIT(""), false, ""},
        {LIT("abc"), false, "abc"},
        {LIT("%2F"), false, "/"},
        {LIT("%2f"), false, "/"},
        {LIT("a%2Fb%2fc"), false, "a/b/c"},
        {LIT("%40alice%3Aexample.org"), false, "@alice:example.org"},
        {LIT("a%20b"), false, "a b"},
        {LIT("%41%42%43"), false, "ABC"},
        {LIT("%C3%A9"), false, "\xc3\xa9"},
        {LIT("%25"), false, "%"},
        {LIT("%2541"), false, "%41"}, /* decoded once only */
        {LIT("%7e%7E"), false, "~~"},
        {LIT("%ff"), false, "\xff"}, /* bytes, not validated as UTF-8 here */
        /* plus handling */
        {LIT("a+b"), false, "a+b"},
        {LIT("a+b"), true, "a b"},
        {LIT("++"), true, "  "},
        {LIT("%2B"), true, "+"}, /* an escaped plus stays a plus */
        {LIT("%2B+%20"), true, "+  "},
        /* NUL */
        {LIT("%00"), false, NULL},
        {LIT("a%00b"), false, NULL},
        {LIT("a\0b"), false, NULL},
        /* malformed escapes */
        {LIT("%"), false, NULL},
        {LIT("a%"), false, NULL},
        {LIT("%4"), false, NULL},
        {LIT("a%4"), false, NULL},
        {LIT("%zz"), false, NULL},
        {LIT("%4g"), false, NULL},
        {LIT("%g4"), false, NULL},
        {LIT("%%41"), false, NULL},
        {LIT("%+1"), true, NULL},
        {LIT("% 41"), false, NULL},
        {LIT("%-1"), false, NULL},
        {LIT("%0x"), false, NULL},
        /* only len bytes are read */
        {"abc%41", 3, false, "abc"},
        {"%41", 2, false, NULL},
        {"%41", 3, false, "A"},
        {"a+b", 1, true, "a"},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = util_url_decode(cases[i].in, cases[i].len, cases[i].plus_is_space);
        bool ok = cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL;
        if (!ok) {
            print_error("case %zu \"%.*s\": got %s%s%s, want %s%s%s\n", i, (int)cases[i].len,
                        cases[i].in, got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
                        cases[i].want ? "\"" : "", cases[i].want ? cases[i].want : "NULL",
                        cases[i].want ? "\"" : "");
            failures++;
        }
        free(got);
    }
    assert_int_equal(failures, 0);
}

/* Every byte value survives a %XX round trip except NUL. */
static void
test_url_decode_all_bytes(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char in[4];
        snprintf(in, sizeof(in), "%%%02X", c);
        char *got = util_url_decode(in, 3, false);
        if (c == 0) {
            assert_null(got);
            continue;
        }
        assert_non_null(got);
        assert_int_equal(strlen(got), 1);
        assert_int_equal((unsigned char)got[0], c);
        free(got);
    }
}

/* ---- util_valid_utf8 ---------------------------------------------------------------------- */

static void
test_valid_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *in;
        size_t len;
        bool valid;
    } cases[] = {
        {"empty", LIT(""), true},
        {"ascii", LIT("hello, world ~\x7f"), true},
        {"U+0080", LIT("\xc2\x80"), true},
        {"U+00E9", LIT("\xc3\xa9"), true},
        {"U+07FF", LIT("\xdf\xbf"), true},
        {"U+0800", LIT("\xe0\xa0\x80"), true},
        {"U+20AC", LIT("\xe2\x82\xac"), true},
        {"U+D7FF", LIT("\xed\x9f\xbf"), true},
        {"U+E000", LIT("\xee\x80\x80"), true},
        {"U+FFFD", LIT("\xef\xbf\xbd"), true},
        {"U+FFFF", LIT("\xef\xbf\xbf"), true},
        {"U+10000", LIT("\xf0\x90\x80\x80"), true},
        {"U+1F600", LIT("\xf0\x9f\x98\x80"), true},
        {"U+10FFFF", LIT("\xf4\x8f\xbf\xbf"), true},
        {"mixed",
         LIT("a\xc3\xa9"
             "b\xe2\x82\xac"
             "c\xf0\x9f\x98\x80"
             "d"),
         true},
        /* NUL */
        {"NUL alone", LIT("\0"), false},
        {"NUL inside", LIT("a\0b"), false},
        {"NUL at end", LIT("ab\0"), false},
        {"overlong NUL", LIT("\xc0\x80"), false},
        /* overlongs */
        {"overlong '/' 2", LIT("\xc0\xaf"), false},
        {"overlong U+007F", LIT("\xc1\xbf"), false},
        {"overlong '/' 3", LIT("\xe0\x80\xaf"), false},
        {"overlong U+07FF", LIT("\xe0\x9f\xbf"), false},
        {"overlong '/' 4", LIT("\xf0\x80\x80\xaf"), false},
        {"overlong U+FFFF", LIT("\xf0\x8f\xbf\xbf"), false},
        /* surrogates */
        {"U+D800", LIT("\xed\xa0\x80"), false},
        {"U+DBFF", LIT("\xed\xaf\xbf"), false},
        {"U+DC00", LIT("\xed\xb0\x80"), false},
        {"U+DFFF", LIT("\xed\xbf\xbf"), false},
        {"surrogate pair", LIT("\xed\xa0\xbd\xed\xb8\x80"), false},
        /* beyond U+10FFFF */
        {"U+110000", LIT("\xf4\x90\x80\x80"), false},
        {"F5", LIT("\xf5\x80\x80\x80"), false},
        {"F7", LIT("\xf7\xbf\xbf\xbf"), false},
        {"5-byte", LIT("\xf8\x88\x80\x80\x80"), false},
        {"6-byte", LIT("\xfc\x84\x80\x80\x80\x80"), false},
        {"FE", LIT("\xfe"), false},
        {"FF", LIT("\xff"), false},
        /* stray and missing continuation bytes */
        {"lone continuation", LIT("\x80"), false},
        {"lone continuation BF",
         LIT("a\xbf"
             "b"),
         false},
        {"two-byte then ascii",
         LIT("\xc3"
             "a"),
         false},
        {"three-byte, bad second", LIT("\xe2\x28\xa1"), false},
        {"three-byte, bad third", LIT("\xe2\x82\x28"), false},
        {"four-byte, bad fourth", LIT("\xf0\x9f\x98\x28"), false},
        {"extra continuation", LIT("\xc3\xa9\xa9"), false},
        /* truncated at the end of the buffer */
        {"truncated 2 of 2", LIT("\xc3"), false},
        {"truncated after ascii", LIT("abc\xc3"), false},
        {"truncated 2 of 3", LIT("\xe2\x82"), false},
        {"truncated 1 of 3", LIT("\xe2"), false},
        {"truncated 3 of 4", LIT("\xf0\x9f\x98"), false},
        {"truncated 2 of 4", LIT("a\xf0\x9f"), false},
        /* only len bytes are read */
        {"len cuts a sequence", "\xc3\xa9", 1, false},
        {"len cuts a 4-byte sequence", "\xf0\x9f\x98\x80", 3, false},
        {"len stops before NUL", "ab\0", 2, true},
        {"len stops before bad byte", "ab\xff", 2, true},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (util_valid_utf8(cases[i].in, cases[i].len) != cases[i].valid) {
            print_error("%s: got %d, want %d\n", cases[i].name, !cases[i].valid, cases[i].valid);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Every code point from U+0001 to U+10FFFF, encoded by hand, is accepted exactly when it is not
 * a surrogate. */
static void
test_valid_utf8_all_code_points(void **state)
{
    (void)state;
    for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
        unsigned char b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (unsigned char)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (unsigned char)(0xc0 | cp >> 6);
            b[1] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = (unsigned char)(0xe0 | cp >> 12);
            b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            b[2] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 3;
        } else {
            b[0] = (unsigned char)(0xf0 | cp >> 18);
            b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
            b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            b[3] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 4;
        }
        bool want = !(cp >= 0xd800 && cp <= 0xdfff);
        if (util_valid_utf8((const char *)b, n) != want)
            fail_msg("U+%04X: got %d, want %d", cp, !want, want);
    }
}

/* ---- base64 ------------------------------------------------------------------------------- */

/* SPEC: appendices "Unpadded Base64" examples. */
static void
test_base64_encode_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xff\xfe", "//4"},
        {"\xfb", "+w"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = util_base64_encode((const unsigned char *)cases[i].in, strlen(cases[i].in));
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

/* SPEC: appendices "Unpadded Base64": "implementations SHOULD accept input with or without
 * padding characters wherever possible". */
static void
test_base64_decode_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"Zg", "f"},
        {"Zg==", "f"},
        {"Zm8", "fo"},
        {"Zm8=", "fo"},
        {"Zm9v", "foo"},
        {"Zm9vYg", "foob"},
        {"Zm9vYg==", "foob"},
        {"Zm9vYmE", "fooba"},
        {"Zm9vYmE=", "fooba"},
        {"Zm9vYmFy", "foobar"},
        {"//4", "\xff\xfe"},
        {"+w", "\xfb"},
        {"+w==", "\xfb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char out[16];
        size_t outlen = 99;
        if (util_base64_decode(cases[i].in, out, sizeof(out), &outlen) != 0)
            fail_msg("\"%s\" rejected", cases[i].in);
        assert_int_equal(outlen, strlen(cases[i].want));
        assert_memory_equal(out, cases[i].want, outlen);
    }
}

static void
test_base64_decode_rejects(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "Z",            /* a single character is not a whole byte */
        "Zm9vY",        /* nor is 4n+1 */
        "Zm9v!",        /* outside the alphabet */
        "Zm 9v",        /* whitespace */
        "Zm9v\n",       /* newline */
        "-w",           /* URL-safe alphabet */
        "_w",           /* URL-safe alphabet */
        "Zg==Zg",       /* padding in the middle */
        "=Zg",          /* padding first */
        "Zm9vYmFy\x80", /* non-ASCII */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char out[16];
        size_t outlen = 0;
        if (util_base64_decode(cases[i], out, sizeof(out), &outlen) == 0)
            fail_msg("\"%s\" accepted (%zu bytes)", cases[i], outlen);
    }

    /* The output capacity is respected. */
    unsigned char out[6];
    size_t outlen = 0;
    assert_int_equal(util_base64_decode("Zm9vYmFy", out, 6, &outlen), 0);
    assert_int_equal(outlen, 6);
    assert_int_not_equal(util_base64_decode("Zm9vYmFy", out, 5, &outlen), 0);
}

/* The signing-key seed of the spec's own test vectors (appendices "Cryptographic Test Vectors")
 * ends in a character whose two unused bits are not zero; Python's decoder, which Synapse uses,
 * ignores them, and the spec asks decoders to be lenient. */
static void
test_base64_decode_nonzero_trailing_bits(void **state)
{
    (void)state;
    static const unsigned char seed[32] = {
        0x60, 0x90, 0xc1, 0x03, 0xd5, 0xe7, 0xaf, 0x6b, 0x15, 0xa9, 0x70,
        0xfd, 0x56, 0x3e, 0xd7, 0x55, 0x49, 0xe6, 0x15, 0x97, 0x19, 0xae,
        0x5c, 0x3c, 0x31, 0xde, 0xe4, 0x31, 0x6f, 0xb7, 0x5c, 0x0d,
    };
    unsigned char out[64];
    size_t outlen = 0;

    /* The canonical form is accepted: this is the same seed. */
    assert_int_equal(util_base64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0", out,
                                        sizeof(out), &outlen),
                     0);
    assert_int_equal(outlen, 32);
    assert_memory_equal(out, seed, 32);

    outlen = 0;
    assert_int_equal(util_base64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", out,
                                        sizeof(out), &outlen),
                     0);
    assert_int_equal(outlen, 32);
    assert_memory_equal(out, seed, 32);
}

static void
test_base64_round_trip(void **state)
{
    (void)state;
    unsigned char data[300], out[300];

    for (size_t len = 0; len <= sizeof(data); len++) {
        randombytes_buf(data, len);
        char *enc = util_base64_encode(data, len);
        size_t enclen = strlen(enc);
        assert_int_equal(enclen, (len * 4 + 2) / 3); /* unpadded */
        assert_null(strchr(enc, '='));

        size_t outlen = 999;
        assert_int_equal(util_base64_decode(enc, out, sizeof(out), &outlen), 0);
        assert_int_equal(outlen, len);
        assert_memory_equal(out, data, len);

        /* The padded form decodes to the same bytes. */
        char padded[500];
        snprintf(padded, sizeof(padded), "%s%s", enc,
                 enclen % 4 == 2   ? "=="
                 : enclen % 4 == 3 ? "="
                                   : "");
        outlen = 999;
        assert_int_equal(util_base64_decode(padded, out, sizeof(out), &outlen), 0);
        assert_int_equal(outlen, len);
        assert_memory_equal(out, data, len);
        free(enc);
    }
}

/* ---- sha256 ------------------------------------------------------------------------------- */

static void
test_sha256_hex(void **state)
{
    (void)state;
    static const struct {
        const char *in, *hex;
    } cases[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[65];
        memset(out, 'X', sizeof(out));
        util_sha256_hex(cases[i].in, strlen(cases[i].in), out);
        assert_string_equal(out, cases[i].hex);
    }

    /* Data is bytes, not a C string. */
    char a[65], b[65];
    util_sha256_hex("a\0b", 3, a);
    util_sha256_hex("a", 1, b);
    assert_string_not_equal(a, b);
}

/* ---- util_parse_int64 --------------------------------------------------------------------- */

static void
test_parse_int64(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", 0, 0},
        {"7", 0, 7},
        {"-7", 0, -7},
        {"-0", 0, 0},
        {"0042", 0, 42},
        {"1048576", 0, 1048576},
        {"9007199254740991", 0, 9007199254740991LL},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", -1, 0},
        {"-9223372036854775809", -1, 0},
        {"99999999999999999999", -1, 0},
        {"", -1, 0},
        {"-", -1, 0},
        {"+", -1, 0},
        {" ", -1, 0},
        {"abc", -1, 0},
        {"12abc", -1, 0},
        {"12 ", -1, 0},
        {"12\n", -1, 0},
        {"1.5", -1, 0},
        {"1e3", -1, 0},
        {"0x10", -1, 0},
        {"--1", -1, 0},
        {"1-", -1, 0},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 12345;
        int rc = util_parse_int64(cases[i].in, &v);
        if ((rc == 0) != (cases[i].rc == 0) || (rc == 0 && v != cases[i].want)) {
            print_error("\"%s\": rc %d value %lld, want rc %d value %lld\n", cases[i].in, rc,
                        (long long)v, cases[i].rc, (long long)cases[i].want);
            failures++;
        }
    }
    int64_t v;
    assert_int_not_equal(util_parse_int64(NULL, &v), 0);
    assert_int_equal(failures, 0);
}

/* ---- random tokens and strings ------------------------------------------------------------ */

static void
test_random_token(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 16, 32, 64};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *a = util_random_token(sizes[i]);
        char *b = util_random_token(sizes[i]);
        assert_int_equal(strlen(a), (sizes[i] * 4 + 2) / 3);
        assert_int_equal(
            strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            strlen(a));
        if (sizes[i] >= 16)
            assert_string_not_equal(a, b);
        free(a);
        free(b);
    }
}

static void
test_random_string(void **state)
{
    (void)state;
    char *s = util_random_string("AB", 1000);
    size_t na = 0;

    assert_int_equal(strlen(s), 1000);
    assert_int_equal(strspn(s, "AB"), 1000);
    for (size_t i = 0; i < 1000; i++)
        na += s[i] == 'A';
    /* Both letters appear: the chance of either being absent is 2^-999. */
    assert_true(na > 0 && na < 1000);
    free(s);

    s = util_random_string("x", 0);
    assert_string_equal(s, "");
    free(s);
}

static void
test_xasprintf(void **state)
{
    (void)state;
    char *s = xasprintf("%s:%d:%lld", "a", 42, (long long)INT64_MIN);
    assert_string_equal(s, "a:42:-9223372036854775808");
    free(s);
    s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_url_decode_all_bytes),
        cmocka_unit_test(test_valid_utf8),
        cmocka_unit_test(test_valid_utf8_all_code_points),
        cmocka_unit_test(test_base64_encode_vectors),
        cmocka_unit_test(test_base64_decode_vectors),
        cmocka_unit_test(test_base64_decode_rejects),
        cmocka_unit_test(test_base64_decode_nonzero_trailing_bits),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_random_token),
        cmocka_unit_test(test_random_string),
        cmocka_unit_test(test_xasprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
