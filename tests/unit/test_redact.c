#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json/canonical.h"
#include "room/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fixtures are written with ' for " to stay readable. */
static json_t *
parse(const char *text)
{
    char *s = strdup(text);
    json_t *v;

    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    v = json_loads(s, JSON_DECODE_ANY, NULL);
    if (!v)
        print_error("fixture not JSON: %s\n", s);
    free(s);
    assert_non_null(v);
    return v;
}

static bool
json_same(const json_t *a, const json_t *b, char **sa, char **sb)
{
    *sa = json_canonical(a, true, NULL);
    *sb = json_canonical(b, true, NULL);
    return *sa && *sb && strcmp(*sa, *sb) == 0;
}

struct redact_case {
    const char *type;
    const char *content;
    const char *want_v1_5; /* content kept in rooms v1-5 */
    const char *want_v6;   /* content kept in v6 */
};

/* SPEC: rooms/v1 Redactions, per-type content keys; rooms/v6 drops the m.room.aliases one. */
static const struct redact_case cases[] = {
    {"m.room.member",
     "{'membership':'join','displayname':'A','avatar_url':'mxc://x/y','is_direct':true,"
     "'third_party_invite':{'signed':{}}}",
     "{'membership':'join'}", "{'membership':'join'}"},
    {"m.room.create", "{'creator':'@a:x','room_version':'5','m.federate':false,'predecessor':{}}",
     "{'creator':'@a:x'}", "{'creator':'@a:x'}"},
    {"m.room.join_rules", "{'join_rule':'public','allow':[]}", "{'join_rule':'public'}",
     "{'join_rule':'public'}"},
    {"m.room.power_levels",
     "{'ban':50,'events':{'m.room.name':100},'events_default':0,'invite':0,'kick':50,"
     "'redact':50,'state_default':50,'users':{'@a:x':100},'users_default':0,"
     "'notifications':{'room':50},'extra':1}",
     "{'ban':50,'events':{'m.room.name':100},'events_default':0,'kick':50,'redact':50,"
     "'state_default':50,'users':{'@a:x':100},'users_default':0}",
     "{'ban':50,'events':{'m.room.name':100},'events_default':0,'kick':50,'redact':50,"
     "'state_default':50,'users':{'@a:x':100},'users_default':0}"},
    {"m.room.aliases", "{'aliases':['#a:x'],'other':1}", "{'aliases':['#a:x']}", "{}"},
    {"m.room.history_visibility", "{'history_visibility':'shared','x':1}",
     "{'history_visibility':'shared'}", "{'history_visibility':'shared'}"},
    /* Everything else loses all content. */
    {"m.room.message", "{'body':'hello','msgtype':'m.text'}", "{}", "{}"},
    {"m.room.name", "{'name':'Room'}", "{}", "{}"},
    {"m.room.topic", "{'topic':'t'}", "{}", "{}"},
    {"m.room.canonical_alias", "{'alias':'#a:x','alt_aliases':[]}", "{}", "{}"},
    {"m.room.redaction", "{'reason':'spam','redacts':'$x'}", "{}", "{}"},
    {"m.room.third_party_invite", "{'display_name':'d','public_key':'k'}", "{}", "{}"},
    {"m.room.guest_access", "{'guest_access':'can_join'}", "{}", "{}"},
    {"m.room.server_acl", "{'allow':['*']}", "{}", "{}"},
    {"m.room.tombstone", "{'body':'b','replacement_room':'!n:x'}", "{}", "{}"},
    {"m.room.encryption", "{'algorithm':'m.megolm.v1.aes-sha2'}", "{}", "{}"},
    {"org.example.custom", "{'membership':'join','creator':'@a:x'}", "{}", "{}"},
    /* Keys of another type's list do not carry over. */
    {"m.room.member", "{'creator':'@a:x','join_rule':'public'}", "{}", "{}"},
    /* Nested values stay whole. */
    {"m.room.power_levels", "{'users':{'@a:x':'50','@b:x':[1]},'events':{}}",
     "{'users':{'@a:x':'50','@b:x':[1]},'events':{}}",
     "{'users':{'@a:x':'50','@b:x':[1]},'events':{}}"},
};

static void
test_content_per_type_and_version(void **state)
{
    (void)state;
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int ver = 1; ver <= 6; ver++) {
            char id[2] = {(char)('0' + ver), '\0'};
            const struct room_version *v = room_version_get(id);
            json_t *ev = parse("{'type':'x','room_id':'!r:x','sender':'@a:x','state_key':'',"
                               "'event_id':'$e:x'}");
            json_t *want = parse(ver <= 5 ? cases[i].want_v1_5 : cases[i].want_v6);
            json_t *got;
            char *sa, *sb;

            json_object_set_new(ev, "type", json_string(cases[i].type));
            json_object_set_new(ev, "content", parse(cases[i].content));
            got = redact_event(ev, v);
            if (!json_same(json_object_get(got, "content"), want, &sa, &sb)) {
                print_error("%s v%d: got %s want %s\n", cases[i].type, ver, sa, sb);
                failures++;
            }
            free(sa);
            free(sb);
            json_decref(got);
            json_decref(want);
            json_decref(ev);
        }
    }
    assert_int_equal(failures, 0);
}

/* SPEC: rooms/v1 Redactions "strip off any keys not in the following list" */
static void
test_top_level_keys(void **state)
{
    (void)state;
    json_t *ev = parse("{'event_id':'$e:x','type':'m.room.member','room_id':'!r:x','sender':'@a:x',"
                       "'state_key':'@a:x','content':{'membership':'join','displayname':'A'},"
                       "'hashes':{'sha256':'h'},'signatures':{'x':{'ed25519:1':'s'}},'depth':4,"
                       "'prev_events':[['$p:x',{}]],'prev_state':[],'auth_events':[['$c:x',{}]],"
                       "'origin':'x','origin_server_ts':12,'membership':'join',"
                       "'unsigned':{'age':1,'redacted_because':{}},'age_ts':5,'redacts':'$z:x',"
                       "'user_id':'@a:x','age':3,'custom':{'deep':true}}");
    json_t *want =
        parse("{'event_id':'$e:x','type':'m.room.member','room_id':'!r:x','sender':'@a:x',"
              "'state_key':'@a:x','content':{'membership':'join'},"
              "'hashes':{'sha256':'h'},'signatures':{'x':{'ed25519:1':'s'}},'depth':4,"
              "'prev_events':[['$p:x',{}]],'prev_state':[],'auth_events':[['$c:x',{}]],"
              "'origin':'x','origin_server_ts':12,'membership':'join'}");

    for (int ver = 1; ver <= 6; ver++) {
        char id[2] = {(char)('0' + ver), '\0'};
        json_t *got = redact_event(ev, room_version_get(id));
        char *sa, *sb;
        bool same = json_same(got, want, &sa, &sb);

        if (!same)
            print_error("v%d: got %s\nwant %s\n", ver, sa, sb);
        assert_true(same);
        free(sa);
        free(sb);
        json_decref(got);
    }
    json_decref(want);
    json_decref(ev);
}

/* The input is untouched; a redacted event redacts to itself; odd shapes do not crash. */
static void
test_copy_idempotent_and_odd_shapes(void **state)
{
    (void)state;
    const struct room_version *v = room_version_get("6");
    json_t *ev = parse("{'type':'m.room.member','content':{'membership':'ban','reason':'r'},"
                       "'unsigned':{}}");
    json_t *once = redact_event(ev, v), *twice = redact_event(once, v), *odd;
    char *sa, *sb;

    assert_non_null(json_object_get(json_object_get(ev, "content"), "reason"));
    assert_non_null(json_object_get(ev, "unsigned"));
    assert_true(json_same(once, twice, &sa, &sb));
    free(sa);
    free(sb);
    json_object_set_new(json_object_get(once, "content"), "membership", json_string("join"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "content"), "membership")), "ban");
    json_decref(once);
    json_decref(twice);

    /* content not an object, type missing or not a string */
    json_decref(ev);
    ev = parse("{'type':'m.room.member','content':[1]}");
    odd = redact_event(ev, v);
    assert_int_equal(json_object_size(json_object_get(odd, "content")), 0);
    json_decref(odd);
    json_decref(ev);
    ev = parse("{'type':7,'content':{'membership':'join'}}");
    odd = redact_event(ev, v);
    assert_int_equal(json_object_size(json_object_get(odd, "content")), 0);
    json_decref(odd);
    json_decref(ev);
    ev = parse("[1,2]");
    odd = redact_event(ev, v);
    assert_true(json_is_object(odd));
    json_decref(odd);
    json_decref(ev);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_per_type_and_version),
        cmocka_unit_test(test_top_level_keys),
        cmocka_unit_test(test_copy_idempotent_and_odd_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
