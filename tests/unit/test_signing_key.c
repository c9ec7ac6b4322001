#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/signing_key.h"
#include "core/util.h"

#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-test-key-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/example.org.signing.key", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Returns the file's contents (up to 1 KiB) in a new string. */
static char *
read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, 1024);
    assert_non_null(fp);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 1023, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void
assert_signs(const struct signing_key *k)
{
    static const unsigned char msg[] = "{\"one\":1,\"two\":\"Two\"}";
    unsigned char sig[crypto_sign_BYTES], pk[32];

    /* The public key is the one inside the secret key. */
    assert_int_equal(crypto_sign_ed25519_sk_to_pk(pk, k->secret_key), 0);
    assert_memory_equal(pk, k->public_key, 32);
    assert_int_equal(crypto_sign_detached(sig, NULL, msg, sizeof(msg) - 1, k->secret_key), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg) - 1, k->public_key), 0);
    sig[0] ^= 1;
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg) - 1, k->public_key), 0);
}

static void
test_generate_then_reload(void **state)
{
    struct fixture *f = *state;
    struct signing_key k1, k2;
    char err[256] = "";
    regex_t re;
    regmatch_t m[2];

    assert_int_equal(signing_key_load_or_generate(f->path, &k1, err, sizeof(err)), 0);

    /* Synapse's format: "ed25519 a_XXXX <43 characters of unpadded base64>\n". */
    char *text = read_file(f->path);
    assert_int_equal(regcomp(&re, "^ed25519 (a_[A-Za-z]{4}) [A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]\n$",
                             REG_EXTENDED),
                     0);
    if (regexec(&re, text, 2, m, 0) != 0)
        fail_msg("key file does not match the format: \"%s\"", text);
    regfree(&re);
    char want_id[80];
    snprintf(want_id, sizeof(want_id), "ed25519:%.*s", (int)(m[1].rm_eo - m[1].rm_so),
             text + m[1].rm_so);
    assert_string_equal(k1.key_id, want_id);

    /* The file holds the seed of the key in memory. */
    unsigned char seed[64];
    size_t seedlen = 0;
    text[strlen(text) - 1] = '\0';
    assert_int_equal(util_base64_decode(strrchr(text, ' ') + 1, seed, sizeof(seed), &seedlen), 0);
    assert_int_equal(seedlen, 32);
    assert_memory_equal(seed, k1.secret_key, 32);
    free(text);

    /* Only the owner may read it. */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Reloading gives the same key and does not rewrite the file. */
    assert_int_equal(signing_key_load_or_generate(f->path, &k2, err, sizeof(err)), 0);
    assert_string_equal(k2.key_id, k1.key_id);
    assert_memory_equal(k2.public_key, k1.public_key, 32);
    assert_memory_equal(k2.secret_key, k1.secret_key, 64);
    assert_signs(&k1);
    assert_signs(&k2);

    signing_key_wipe(&k1);
    static const struct signing_key zero;
    assert_memory_equal(&k1, &zero, sizeof(zero));
    signing_key_wipe(&k2);
}

static void
test_generated_keys_differ(void **state)
{
    struct fixture *f = *state;
    struct signing_key k1, k2;
    char err[256];

    assert_int_equal(signing_key_load_or_generate(f->path, &k1, err, sizeof(err)), 0);
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(signing_key_load_or_generate(f->path, &k2, err, sizeof(err)), 0);
    assert_memory_not_equal(k1.public_key, k2.public_key, 32);
    signing_key_wipe(&k1);
    signing_key_wipe(&k2);
}

/* RFC 8032 section 7.1, test 1: the public key derived from a known seed. */
static void
test_load_rfc8032_seed(void **state)
{
    struct fixture *f = *state;
    static const unsigned char pk[32] = {
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
        0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
        0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
    };
    static const char *const files[] = {
        "ed25519 a_test nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n",
        "ed25519 a_test nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", /* padded */
        "ed25519 a_test nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",    /* no final newline */
        /* Other lines before the first ed25519 key are skipped. */
        "\n# comment\nother a_xxxx AAAA\ned25519 a_test "
        "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n"
        "ed25519 a_next AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
    };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct signing_key k;
        char err[256] = "";
        write_file(f->path, files[i]);
        if (signing_key_load_or_generate(f->path, &k, err, sizeof(err)) != 0)
            fail_msg("file %zu: %s", i, err);
        assert_string_equal(k.key_id, "ed25519:a_test");
        assert_memory_equal(k.public_key, pk, 32);
        assert_signs(&k);
        signing_key_wipe(&k);
    }
}

/* SPEC: appendices "Cryptographic Test Vectors": the seed, key ID and signature of {}. */
static void
test_spec_test_vector(void **state)
{
    struct fixture *f = *state;
    struct signing_key k;
    char err[256] = "";
    unsigned char sig[crypto_sign_BYTES];

    write_file(f->path, "ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n");
    if (signing_key_load_or_generate(f->path, &k, err, sizeof(err)) != 0)
        fail_msg("the spec's signing key seed was refused: %s", err);
    assert_string_equal(k.key_id, "ed25519:1");
    assert_int_equal(crypto_sign_detached(sig, NULL, (const unsigned char *)"{}", 2, k.secret_key),
                     0);
    char *b64 = util_base64_encode(sig, sizeof(sig));
    assert_string_equal(b64, "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/"
                             "7Xg4ahLwYGYZzuHGZKM5ZAQ");
    free(b64);
    signing_key_wipe(&k);
}

static void
test_corrupt_files(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *text;
        const char *err_has; /* a part of the message */
    } cases[] = {
        {"", "no ed25519 key"},
        {"\n\n", "no ed25519 key"},
        {"garbage\n", "no ed25519 key"},
        {"ed25519 a_abcd\n", "no ed25519 key"},
        {"ed25519\n", "no ed25519 key"},
        {"curve25519 a_abcd nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n", "no ed25519 key"},
        {"ed25519 a_abcd !!!!not-base64!!!!\n", "not 32 bytes"},
        {"ed25519 a_abcd nWGxne/9WmC6hEr0kuwsxA\n", "not 32 bytes"}, /* 16 bytes */
        {"ed25519 a_abcd nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2Bg\n", "not 32 bytes"}, /* 33 */
        {"ed25519 a_abcd nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n",
         "not 32 bytes"}, /* URL-safe */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct signing_key k;
        char err[256] = "";
        write_file(f->path, cases[i].text);
        if (signing_key_load_or_generate(f->path, &k, err, sizeof(err)) != -1)
            fail_msg("case %zu accepted", i);
        if (!strstr(err, cases[i].err_has) || !strstr(err, "signing_key_path"))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].err_has);
        /* The file is left alone: no key is generated over a corrupt one. */
        char *text = read_file(f->path);
        assert_string_equal(text, cases[i].text);
        free(text);
    }
}

static void
test_unwritable_path(void **state)
{
    struct fixture *f = *state;
    struct signing_key k;
    char err[256] = "";
    char path[256];

    snprintf(path, sizeof(path), "%s/missing-dir/key", f->dir);
    assert_int_equal(signing_key_load_or_generate(path, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "cannot create"));

    /* A small error buffer is not overrun. */
    char small[8];
    memset(small, 'X', sizeof(small));
    assert_int_equal(signing_key_load_or_generate(path, &k, small, sizeof(small)), -1);
    assert_non_null(memchr(small, '\0', sizeof(small)));
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_then_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generated_keys_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_rfc8032_seed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_test_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
