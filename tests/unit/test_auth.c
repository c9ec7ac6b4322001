#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/util.h"
#include "room/auth.h"
#include "room/event.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixtures: JSON with ' for ", state as a list of events (later entries win) ---- */

#define ALICE "@alice:a.test" /* creator, 100 */
#define BOB "@bob:a.test"     /* moderator, 50 */
#define CAROL "@carol:a.test" /* member, 0 */
#define DAVE "@dave:a.test"   /* member, 50 in some fixtures */
#define EVE "@eve:a.test"     /* outsider */
#define ROB "@rob:b.test"     /* another server */

#define CREATE_WITH(content)                                                                       \
    "{'type':'m.room.create','state_key':'','sender':'" ALICE "','room_id':'!r:a.test',"           \
    "'event_id':'$create:a.test','prev_events':[],'auth_events':[],'depth':1,"                     \
    "'origin_server_ts':1,'content':" content "}"
#define CREATE CREATE_WITH("{'creator':'" ALICE "'}")
#define MEMBER_BY(sender, user, m)                                                                 \
    "{'type':'m.room.member','state_key':'" user "','sender':'" sender "','content':{"             \
    "'membership':'" m "'}}"
#define MEMBER(user, m) MEMBER_BY(user, user, m)
#define PL(content)                                                                                \
    "{'type':'m.room.power_levels','state_key':'','sender':'" ALICE "','content':" content "}"
#define JR(rule)                                                                                   \
    "{'type':'m.room.join_rules','state_key':'','sender':'" ALICE                                  \
    "','content':{'join_rule':'" rule "'}}"
#define STD_PL_WITH(extra)                                                                         \
    "{'users':{'" ALICE "':100,'" BOB "':50" extra "},'users_default':0,"                          \
    "'events':{'m.room.name':50,'m.room.power_levels':100},'events_default':0,"                    \
    "'state_default':50,'ban':50,'kick':50,'redact':50,'invite':0}"
#define STD_PL STD_PL_WITH("")
/* Bob may send power levels here. */
#define BOB_PL_WITH(top, users)                                                                    \
    "{'users':{'" ALICE "':100,'" BOB "':50" users "},'users_default':0,"                          \
    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"                 \
    "'events_default':0,'state_default':50,'ban':50,'kick':50,'redact':50,'invite':0" top "}"
#define BASE CREATE "," MEMBER(ALICE, "join") "," MEMBER(BOB, "join") "," MEMBER(CAROL, "join")
#define ROOM BASE "," PL(STD_PL) "," JR("invite")
#define ROOM_WITH(extra) "[" ROOM "," extra "]"
#define ROOM_ONLY "[" ROOM "]"

#define EV(type, sender, rest) "{'type':'" type "','sender':'" sender "'" rest "}"
#define STATE_EV(type, sk, sender, content)                                                        \
    "{'type':'" type "','state_key':'" sk "','sender':'" sender "','content':" content "}"
#define MEMBER_EV(sender, target, m)                                                               \
    STATE_EV("m.room.member", target, sender, "{'membership':'" m "'}")
#define MSG(sender) EV("m.room.message", sender, ",'content':{'body':'hi'}")

#define VER(n) (1u << (n))
#define V12 (VER(1) | VER(2))
#define V1_5 (VER(1) | VER(2) | VER(3) | VER(4) | VER(5))
#define V3UP (VER(3) | VER(4) | VER(5) | VER(6) | VER(7))
#define V6 (VER(6) | VER(7)) /* v6 and v7 (v7 changes only knocking) */
#define V7 VER(7)
#define V1_6 (V1_5 | VER(6))
#define ALL (V1_5 | V6)

static json_t *
parse(const char *text)
{
    char *s = xstrdup(text);
    json_error_t err;
    json_t *v;

    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    v = json_loads(s, JSON_DECODE_ANY, &err);
    if (!v)
        print_error("fixture not JSON (%s): %s\n", err.text, s);
    free(s);
    assert_non_null(v);
    return v;
}

struct fixture {
    json_t *state;  /* array of events */
    json_t *events; /* array of events findable by event_id (rule 2 tests) */
};

static const json_t *
fx_get(void *ctx, const char *type, const char *state_key)
{
    struct fixture *f = ctx;
    const json_t *found = NULL;
    size_t i;
    json_t *e;

    json_array_foreach(f->state, i, e)
    {
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *sk = json_string_value(json_object_get(e, "state_key"));
        if (t && sk && strcmp(t, type) == 0 && strcmp(sk, state_key) == 0)
            found = e;
    }
    return found;
}

static const json_t *
fx_get_event(void *ctx, const char *event_id)
{
    struct fixture *f = ctx;
    size_t i;
    json_t *e;

    json_array_foreach(f->events, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "event_id"));
        if (id && strcmp(id, event_id) == 0)
            return e;
    }
    return NULL;
}

/* Fills what the rules do not look at, in the format of v: room_id, prev_events (a reference
 * to "$prev:a.test", or to the create event when prev_events is "CREATE"), auth_events,
 * depth, origin_server_ts, and for v1/v2 an event_id. */
static json_t *
complete(json_t *ev, const struct room_version *v, const struct fixture *f)
{
    const json_t *prev = json_object_get(ev, "prev_events");
    const char *ids[1] = {"$prev:a.test"};
    char *create_id = NULL;

    if (!json_object_get(ev, "room_id"))
        json_object_set_new(ev, "room_id", json_string("!r:a.test"));
    if (json_is_string(prev) && strcmp(json_string_value(prev), "CREATE") == 0) {
        create_id = event_id_of(fx_get((void *)f, "m.room.create", ""), v);
        assert_non_null(create_id);
        ids[0] = create_id;
        prev = NULL;
    }
    if (!prev)
        json_object_set_new(ev, "prev_events", event_refs_for_version(v, ids, NULL, 1));
    free(create_id);
    if (!json_object_get(ev, "auth_events"))
        json_object_set_new(ev, "auth_events", json_array());
    json_object_set_new(ev, "depth", json_integer(5));
    json_object_set_new(ev, "origin_server_ts", json_integer(1000));
    if (v->event_id_format == EVID_SERVER && !json_object_get(ev, "event_id"))
        json_object_set_new(ev, "event_id", json_string("$ev:a.test"));
    return ev;
}

struct auth_case {
    const char *name;
    unsigned versions;
    const char *state; /* JSON array */
    const char *event;
    bool want;
    const char *rule; /* a rejection names "(auth rule <rule>)" */
};

static int
run_case(const struct auth_case *c, size_t idx)
{
    int failures = 0;

    for (int n = 1; n <= 7; n++) {
        char id[2] = {(char)('0' + n), '\0'};
        const struct room_version *v = room_version_get(id);
        struct fixture f = {parse(c->state), json_array()};
        struct auth_state st = {fx_get, &f, NULL};
        json_t *ev;
        char reason[256], reason2[256], tag[64];
        bool got, again;

        if (!(c->versions & VER(n))) {
            json_decref(f.state);
            json_decref(f.events);
            continue;
        }
        ev = complete(parse(c->event), v, &f);
        got = auth_check(v, ev, &st, reason, sizeof(reason));
        again = auth_check(v, ev, &st, reason2, sizeof(reason2));
        snprintf(tag, sizeof(tag), "(auth rule %s)", c->rule ? c->rule : "");
        if (got != c->want) {
            print_error("case %zu '%s' v%d: got %s (%s), want %s\n", idx, c->name, n,
                        got ? "allow" : "reject", reason, c->want ? "allow" : "reject");
            failures++;
        } else if (!got && c->rule && !strstr(reason, tag)) {
            print_error("case %zu '%s' v%d: rejected for '%s', want %s\n", idx, c->name, n, reason,
                        tag);
            failures++;
        } else if (got != again || strcmp(reason, reason2) != 0) {
            print_error("case %zu '%s' v%d: second run differs\n", idx, c->name, n);
            failures++;
        }
        json_decref(ev);
        json_decref(f.state);
        json_decref(f.events);
    }
    return failures;
}

static void
run_cases(const struct auth_case *cases, size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++)
        failures += run_case(&cases[i], i);
    assert_int_equal(failures, 0);
}

/* ---- 1. m.room.create ---- */

static void
test_rule_create(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"1.e allow", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ALICE "','prev_events':[],"
         "'content':{'creator':'" ALICE "'}}",
         true, NULL},
        {"1.a prev events", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ALICE "',"
         "'content':{'creator':'" ALICE "'}}",
         false, "1.a"},
        {"1.b other domain", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ROB "','prev_events':[],"
         "'content':{'creator':'" ROB "'}}",
         false, "1.b"},
        {"1.c known version", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ALICE "','prev_events':[],"
         "'content':{'creator':'" ALICE "','room_version':'6'}}",
         true, NULL},
        {"1.c unknown version", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ALICE "','prev_events':[],"
         "'content':{'creator':'" ALICE "','room_version':'8'}}",
         false, "1.c"},
        {"1.c version not a string", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ALICE "','prev_events':[],"
         "'content':{'creator':'" ALICE "','room_version':6}}",
         false, "1.c"},
        {"1.d no creator", ALL, "[]",
         "{'type':'m.room.create','state_key':'','sender':'" ALICE "','prev_events':[],"
         "'content':{}}",
         false, "1.d"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 3. create in the state; m.federate ---- */

static void
test_rule_create_present(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"3 no create", ALL, "[" MEMBER(CAROL, "join") "]", MSG(CAROL), false, "3"},
        {"3 create present", ALL, ROOM_ONLY, MSG(CAROL), true, NULL},
        {"m.federate false, remote sender", ALL,
         "[" CREATE_WITH("{'creator':'" ALICE "','m.federate':false}") "," MEMBER(ROB, "join") "]",
         MSG(ROB), false, "3 (m.federate)"},
        {"m.federate false, local sender", ALL,
         "[" CREATE_WITH("{'creator':'" ALICE "','m.federate':false}") "," MEMBER(CAROL,
                                                                                  "join") "]",
         MSG(CAROL), true, NULL},
        {"m.federate true, remote sender", ALL,
         "[" CREATE_WITH("{'creator':'" ALICE "','m.federate':true}") "," MEMBER(ROB, "join") "]",
         MSG(ROB), true, NULL},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 4. m.room.aliases: own rule in v1-5, an ordinary state event in v6 ---- */

static void
test_rule_aliases(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"4.c own domain, power 0", V1_5, ROOM_ONLY,
         STATE_EV("m.room.aliases", "a.test", CAROL, "{'aliases':['#x:a.test']}"), true, NULL},
        {"v6: state_default applies", V6, ROOM_ONLY,
         STATE_EV("m.room.aliases", "a.test", CAROL, "{'aliases':['#x:a.test']}"), false, "8"},
        {"4.b other domain", V1_5, ROOM_ONLY,
         STATE_EV("m.room.aliases", "b.test", BOB, "{'aliases':[]}"), false, "4.b"},
        {"v6: any state_key with state_default", V6, ROOM_ONLY,
         STATE_EV("m.room.aliases", "b.test", BOB, "{'aliases':[]}"), true, NULL},
        {"4.a no state_key", V1_5, ROOM_ONLY,
         EV("m.room.aliases", CAROL, ",'content':{'aliases':[]}"), false, "4.a"},
        {"v6: no state_key is a message event", V6, ROOM_ONLY,
         EV("m.room.aliases", CAROL, ",'content':{'aliases':[]}"), true, NULL},
        {"4 comes before the membership rule", V1_5, ROOM_ONLY,
         STATE_EV("m.room.aliases", "a.test", EVE, "{'aliases':[]}"), true, NULL},
        {"v6: non-member", V6, ROOM_ONLY,
         STATE_EV("m.room.aliases", "a.test", EVE, "{'aliases':[]}"), false, "6"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 5.a, 5.b join ---- */

static void
test_rule_member_join(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"5.a no state_key", ALL, ROOM_ONLY,
         EV("m.room.member", CAROL, ",'content':{'membership':'join'}"), false, "5.a"},
        {"5.a no membership", ALL, ROOM_ONLY, STATE_EV("m.room.member", CAROL, CAROL, "{}"), false,
         "5.a"},
        {"5.a membership not a string", ALL, ROOM_ONLY,
         STATE_EV("m.room.member", CAROL, CAROL, "{'membership':1}"), false, "5.a"},
        {"5.b.i creator's first join", ALL, "[" CREATE "]",
         "{'type':'m.room.member','state_key':'" ALICE "','sender':'" ALICE "',"
         "'prev_events':'CREATE','content':{'membership':'join'}}",
         true, NULL},
        {"5.b.i not the creator", ALL, "[" CREATE "]",
         "{'type':'m.room.member','state_key':'" BOB "','sender':'" BOB "',"
         "'prev_events':'CREATE','content':{'membership':'join'}}",
         false, "5.b.vi"},
        {"5.b.i prev event not the create", ALL, "[" CREATE "]", MEMBER_EV(ALICE, ALICE, "join"),
         false, "5.b.vi"},
        {"5.b.ii join for another user", ALL, "[" ROOM "," JR("public") "]",
         MEMBER_EV(ALICE, EVE, "join"), false, "5.b.ii"},
        {"5.b.iii banned", ALL, "[" ROOM "," JR("public") "," MEMBER_BY(ALICE, EVE, "ban") "]",
         MEMBER_EV(EVE, EVE, "join"), false, "5.b.iii"},
        {"5.b.iv invited", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "invite")),
         MEMBER_EV(EVE, EVE, "join"), true, NULL},
        {"5.b.iv already joined", ALL, ROOM_ONLY, MEMBER_EV(CAROL, CAROL, "join"), true, NULL},
        {"5.b.iv not invited", ALL, ROOM_ONLY, MEMBER_EV(EVE, EVE, "join"), false, "5.b.vi"},
        {"5.b.iv left before", ALL, ROOM_WITH(MEMBER(EVE, "leave")), MEMBER_EV(EVE, EVE, "join"),
         false, "5.b.vi"},
        {"5.b.v public", ALL, ROOM_WITH(JR("public")), MEMBER_EV(EVE, EVE, "join"), true, NULL},
        {"5.b.v public, remote user", ALL, ROOM_WITH(JR("public")), MEMBER_EV(ROB, ROB, "join"),
         true, NULL},
        {"5.b.vi knock rule", ALL, ROOM_WITH(JR("knock")), MEMBER_EV(EVE, EVE, "join"), false,
         "5.b.vi"},
        {"5.b.vi private rule", ALL, ROOM_WITH(JR("private")), MEMBER_EV(ALICE, ALICE, "join"),
         false, "5.b.vi"},
        {"no join rules: invite", ALL,
         "[" BASE "," PL(STD_PL) "," MEMBER_BY(ALICE, EVE, "invite") "]",
         MEMBER_EV(EVE, EVE, "join"), true, NULL},
        {"no join rules: uninvited", ALL, "[" BASE "," PL(STD_PL) "]", MEMBER_EV(EVE, EVE, "join"),
         false, "5.b.vi"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- v7: knock (v1.1 rooms/v7.md auth rules 4.6, and what knocking changes in join and
 * leave) ---- */

static void
test_rule_member_knock(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"knock: unknown membership before v7", V1_6, ROOM_WITH(JR("knock")),
         MEMBER_EV(EVE, EVE, "knock"), false, "5.f"},
        {"4.6.3 knock allowed", V7, ROOM_WITH(JR("knock")), MEMBER_EV(EVE, EVE, "knock"), true,
         NULL},
        {"4.6.3 knock again after leaving", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "leave")),
         MEMBER_EV(EVE, EVE, "knock"), true, NULL},
        {"4.6.3 knock twice", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MEMBER_EV(EVE, EVE, "knock"), true, NULL},
        {"4.6.1 invite rule", V7, ROOM_ONLY, MEMBER_EV(EVE, EVE, "knock"), false, "v7 4.6.1"},
        {"4.6.1 public rule", V7, ROOM_WITH(JR("public")), MEMBER_EV(EVE, EVE, "knock"), false,
         "v7 4.6.1"},
        {"4.6.1 no join rules", V7, "[" BASE "," PL(STD_PL) "]", MEMBER_EV(EVE, EVE, "knock"),
         false, "v7 4.6.1"},
        {"4.6.2 knock for another", V7, ROOM_WITH(JR("knock")), MEMBER_EV(ALICE, EVE, "knock"),
         false, "v7 4.6.2"},
        {"4.6.3 banned", V7, ROOM_WITH(JR("knock") "," MEMBER_BY(ALICE, EVE, "ban")),
         MEMBER_EV(EVE, EVE, "knock"), false, "v7 4.6.3"},
        {"4.6.3 invited", V7, ROOM_WITH(JR("knock") "," MEMBER_BY(ALICE, EVE, "invite")),
         MEMBER_EV(EVE, EVE, "knock"), false, "v7 4.6.3"},
        {"4.6.3 joined", V7, ROOM_WITH(JR("knock")), MEMBER_EV(CAROL, CAROL, "knock"), false,
         "v7 4.6.3"},
        /* Accepting a knock: an invite, then a join under the knock rule. */
        {"accept: invite a knocker", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MEMBER_EV(ALICE, EVE, "invite"), true, NULL},
        {"accept: join when invited under knock rule", V7,
         ROOM_WITH(JR("knock") "," MEMBER_BY(ALICE, EVE, "invite")), MEMBER_EV(EVE, EVE, "join"),
         true, NULL},
        {"knock rule: join without invite", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MEMBER_EV(EVE, EVE, "join"), false, "5.b.vi"},
        {"knock rule before v7: join when invited", V1_6,
         ROOM_WITH(JR("knock") "," MEMBER_BY(ALICE, EVE, "invite")), MEMBER_EV(EVE, EVE, "join"),
         false, "5.b.vi"},
        /* Rejecting a knock: a kick; withdrawing one: leaving. */
        {"reject: kick a knocker", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MEMBER_EV(BOB, EVE, "leave"), true, NULL},
        {"reject: a member below kick level", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MEMBER_EV(CAROL, EVE, "leave"), false, "5.d.v"},
        {"withdraw: knocker leaves", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MEMBER_EV(EVE, EVE, "leave"), true, NULL},
        {"knocker may not send messages", V7, ROOM_WITH(JR("knock") "," MEMBER(EVE, "knock")),
         MSG(EVE), false, "6"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 5.c invite (third-party invites: test_rule_third_party_invite_member) ---- */

static void
test_rule_member_invite(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"5.c.ii sender not joined", ALL, ROOM_ONLY, MEMBER_EV(EVE, DAVE, "invite"), false,
         "5.c.ii"},
        {"5.c.ii sender only invited", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "invite")),
         MEMBER_EV(EVE, DAVE, "invite"), false, "5.c.ii"},
        {"5.c.iii target joined", ALL, ROOM_ONLY, MEMBER_EV(BOB, CAROL, "invite"), false,
         "5.c.iii"},
        {"5.c.iii target banned", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "ban")),
         MEMBER_EV(BOB, EVE, "invite"), false, "5.c.iii"},
        {"5.c.iv invite level 0", ALL, ROOM_ONLY, MEMBER_EV(CAROL, EVE, "invite"), true, NULL},
        {"5.c.iv re-invite", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "invite")),
         MEMBER_EV(CAROL, EVE, "invite"), true, NULL},
        {"5.c.iv remote target", ALL, ROOM_ONLY, MEMBER_EV(CAROL, ROB, "invite"), true, NULL},
        {"5.c.v below invite level", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':50},'invite':50}")),
         MEMBER_EV(CAROL, EVE, "invite"), false, "5.c.v"},
        {"5.c.iv at invite level", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':50},'invite':50}")),
         MEMBER_EV(BOB, EVE, "invite"), true, NULL},
        {"invite defaults to 0 in a PL event", ALL, ROOM_WITH(PL("{'users':{'" ALICE "':100}}")),
         MEMBER_EV(CAROL, EVE, "invite"), true, NULL},
        {"invite level 0 without a PL event", ALL, "[" BASE "," JR("invite") "]",
         MEMBER_EV(CAROL, EVE, "invite"), true, NULL},
        {"string levels (v1-6)", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':'50'},'invite':'60'}")),
         MEMBER_EV(BOB, EVE, "invite"), false, "5.c.v"},
        {"string levels allow (v1-6)", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':' +7_0 '},'invite':'60'}")),
         MEMBER_EV(BOB, EVE, "invite"), true, NULL},
        {"unreadable level", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':50},'invite':'sixty'}")),
         MEMBER_EV(BOB, EVE, "invite"), false, "5.c.iv"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 5.d leave, 5.e ban, 5.f ---- */

#define UNBAN_PL "{'users':{'" ALICE "':100,'" BOB "':50},'ban':60,'kick':50}"
#define DAVE50 ROOM_WITH(PL(STD_PL_WITH(",'" DAVE "':50")) "," MEMBER(DAVE, "join"))

static void
test_rule_member_leave_ban(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"5.d.i leave", ALL, ROOM_ONLY, MEMBER_EV(CAROL, CAROL, "leave"), true, NULL},
        {"5.d.i reject an invite", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "invite")),
         MEMBER_EV(EVE, EVE, "leave"), true, NULL},
        {"5.d.i banned cannot leave", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "ban")),
         MEMBER_EV(EVE, EVE, "leave"), false, "5.d.i"},
        {"5.d.i already left", ALL, ROOM_WITH(MEMBER(EVE, "leave")), MEMBER_EV(EVE, EVE, "leave"),
         false, "5.d.i"},
        {"5.d.i never there", ALL, ROOM_ONLY, MEMBER_EV(EVE, EVE, "leave"), false, "5.d.i"},
        {"5.d.ii kicker not joined", ALL, ROOM_ONLY, MEMBER_EV(EVE, CAROL, "leave"), false,
         "5.d.ii"},
        {"5.d.iii unban below ban level", ALL,
         ROOM_WITH(PL(UNBAN_PL) "," MEMBER_BY(ALICE, EVE, "ban")), MEMBER_EV(BOB, EVE, "leave"),
         false, "5.d.iii"},
        {"5.d.iv unban", ALL, ROOM_WITH(PL(UNBAN_PL) "," MEMBER_BY(ALICE, EVE, "ban")),
         MEMBER_EV(ALICE, EVE, "leave"), true, NULL},
        {"5.d.iv unban needs the kick level too", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB
                      "':50},'ban':50,'kick':60}") "," MEMBER_BY(ALICE, EVE, "ban")),
         MEMBER_EV(BOB, EVE, "leave"), false, "5.d.v"},
        {"5.d.iv kick", ALL, ROOM_ONLY, MEMBER_EV(BOB, CAROL, "leave"), true, NULL},
        {"5.d.iv kick an invitee", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "invite")),
         MEMBER_EV(BOB, EVE, "leave"), true, NULL},
        {"5.d.v kick below kick level", ALL, ROOM_ONLY, MEMBER_EV(CAROL, BOB, "leave"), false,
         "5.d.v"},
        {"5.d.v kick a higher user", ALL, ROOM_ONLY, MEMBER_EV(BOB, ALICE, "leave"), false,
         "5.d.v"},
        {"5.d.v kick an equal user", ALL, DAVE50, MEMBER_EV(BOB, DAVE, "leave"), false, "5.d.v"},
        {"5.d.v kick level raised", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':50},'kick':75}")),
         MEMBER_EV(BOB, CAROL, "leave"), false, "5.d.v"},
        {"5.e.i banner not joined", ALL, ROOM_WITH(MEMBER(DAVE, "leave")),
         MEMBER_EV(DAVE, CAROL, "ban"), false, "5.e.i"},
        {"5.e.ii ban", ALL, ROOM_ONLY, MEMBER_EV(BOB, CAROL, "ban"), true, NULL},
        {"5.e.ii ban a non-member", ALL, ROOM_ONLY, MEMBER_EV(BOB, EVE, "ban"), true, NULL},
        {"5.e.iii ban a higher user", ALL, ROOM_ONLY, MEMBER_EV(BOB, ALICE, "ban"), false,
         "5.e.iii"},
        {"5.e.iii ban an equal user", ALL, DAVE50, MEMBER_EV(BOB, DAVE, "ban"), false, "5.e.iii"},
        {"5.e.iii below ban level", ALL, ROOM_ONLY, MEMBER_EV(CAROL, EVE, "ban"), false, "5.e.iii"},
        {"5.e.iii self-ban below ban level", ALL, ROOM_ONLY, MEMBER_EV(CAROL, CAROL, "ban"), false,
         "5.e.iii"},
        {"5.f knock (not in v1-6)", V1_6, ROOM_WITH(JR("knock")), MEMBER_EV(EVE, EVE, "knock"),
         false, "5.f"},
        {"5.f unknown", ALL, ROOM_ONLY, MEMBER_EV(CAROL, CAROL, "dance"), false, "5.f"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 6-9 ---- */

static void
test_rules_sender_and_levels(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"6 not joined", ALL, ROOM_ONLY, MSG(EVE), false, "6"},
        {"6 invited only", ALL, ROOM_WITH(MEMBER_BY(ALICE, EVE, "invite")), MSG(EVE), false, "6"},
        {"6 left", ALL, ROOM_WITH(MEMBER(CAROL, "leave")), MSG(CAROL), false, "6"},
        {"6 joined", ALL, ROOM_ONLY, MSG(CAROL), true, NULL},
        {"7 third-party invite at invite level", ALL, ROOM_WITH(PL(STD_PL_WITH(""))),
         STATE_EV("m.room.third_party_invite", "tok", CAROL, "{'display_name':'x'}"), true, NULL},
        {"7 ignores the events map", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100},'events':{'m.room.third_party_invite':100}}")),
         STATE_EV("m.room.third_party_invite", "tok", CAROL, "{'display_name':'x'}"), true, NULL},
        {"7 below invite level", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':50},'invite':50}")),
         STATE_EV("m.room.third_party_invite", "tok", CAROL, "{'display_name':'x'}"), false, "7"},
        {"7 not joined", ALL, ROOM_ONLY,
         STATE_EV("m.room.third_party_invite", "tok", EVE, "{'display_name':'x'}"), false, "6"},
        {"8 events map", ALL, ROOM_ONLY, STATE_EV("m.room.name", "", CAROL, "{'name':'n'}"), false,
         "8"},
        {"8 events map, enough", ALL, ROOM_ONLY, STATE_EV("m.room.name", "", BOB, "{'name':'n'}"),
         true, NULL},
        {"8 state_default", ALL, ROOM_ONLY, STATE_EV("org.x", "", CAROL, "{}"), false, "8"},
        {"8 state_default, enough", ALL, ROOM_ONLY, STATE_EV("org.x", "", BOB, "{}"), true, NULL},
        {"8 state_default defaults to 50", ALL, ROOM_WITH(PL("{'users':{'" BOB "':49}}")),
         STATE_EV("org.x", "", BOB, "{}"), false, "8"},
        {"8 events_default", ALL, ROOM_WITH(PL("{'users':{'" ALICE "':100},'events_default':10}")),
         MSG(CAROL), false, "8"},
        {"8 events_default as a string", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100},'events_default':'10'}")), MSG(CAROL), false,
         "8"},
        {"8 users_default", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100},'events_default':10,'users_default':10}")),
         MSG(CAROL), true, NULL},
        {"8 a listed 0 is 0, not users_default", ALL,
         ROOM_WITH(PL("{'users':{'" CAROL "':0},'events_default':10,'users_default':10}")),
         MSG(CAROL), false, "8"},
        {"8 no PL event: state needs 0", ALL, "[" BASE "]", STATE_EV("org.x", "", CAROL, "{}"),
         true, NULL},
        {"8 no PL event: creator has 100", ALL, "[" BASE "]",
         STATE_EV("m.room.power_levels", "", ALICE, "{'users':{'" ALICE "':100}}"), true, NULL},
        {"8 unreadable events_default", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100},'events_default':'ten'}")), MSG(CAROL), false,
         "8"},
        {"8 events not an object", ALL, ROOM_WITH(PL("{'users':{'" ALICE "':100},'events':[1]}")),
         MSG(CAROL), false, "8"},
        {"9 another user's state_key", ALL, ROOM_ONLY, STATE_EV("org.x", CAROL, BOB, "{}"), false,
         "9"},
        {"9 own state_key", ALL, ROOM_ONLY, STATE_EV("org.x", BOB, BOB, "{}"), true, NULL},
        {"9 no @", ALL, ROOM_ONLY, STATE_EV("org.x", "carol", BOB, "{}"), true, NULL},
        {"12 otherwise allow", ALL, ROOM_ONLY, EV("org.custom", CAROL, ",'content':{'x':[1]}"),
         true, NULL},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 10. m.room.power_levels ---- */

#define PL_EV(sender, content) STATE_EV("m.room.power_levels", "", sender, content)
#define BOBROOM(top, users) ROOM_WITH(PL(BOB_PL_WITH(top, users)))
#define DAVEROOM ROOM_WITH(PL(BOB_PL_WITH("", ",'" DAVE "':50")) "," MEMBER(DAVE, "join"))

static void
test_rule_power_levels(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        /* 10.a */
        {"10.a users not an object", ALL, ROOM_ONLY, PL_EV(ALICE, "{'users':[]}"), false, "10.a"},
        {"10.a key not a user ID", ALL, ROOM_ONLY,
         PL_EV(ALICE, "{'users':{'" ALICE "':100,'alice':5}}"), false, "10.a"},
        {"10.a value not an integer", ALL, ROOM_ONLY,
         PL_EV(ALICE, "{'users':{'" ALICE "':100,'" BOB "':'lots'}}"), false, "10.a"},
        {"10.a value an object", ALL, ROOM_ONLY,
         PL_EV(ALICE, "{'users':{'" ALICE "':100,'" BOB "':{}}}"), false, "10.a"},
        {"10.a integer string", ALL, ROOM_ONLY,
         PL_EV(ALICE, "{'users':{'" ALICE "':100,'" BOB "':'50'}}"), true, NULL},
        {"10.a checked even for the first PL event", ALL, "[" BASE "]",
         PL_EV(ALICE, "{'users':{'nobody':1}}"), false, "10.a"},
        /* 10.b */
        {"10.b first PL event, anything goes", ALL, "[" BASE "]",
         PL_EV(CAROL, "{'users':{'" CAROL "':100},'ban':1000}"), true, NULL},
        /* 10.c */
        {"10.c alice raises ban", ALL, ROOM_ONLY, PL_EV(ALICE, STD_PL_WITH("")), true, NULL},
        {"10.c bob lowers kick", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':40,'redact':50,"
                    "'invite':0}"),
         true, NULL},
        {"10.c.ii new value above sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':60,'redact':50,"
                    "'invite':0}"),
         false, "10.c"},
        {"10.c.ii users_default above sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':51,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':50,'redact':50,"
                    "'invite':0}"),
         false, "10.c"},
        {"10.c.i current value above sender", ALL, BOBROOM(",'state_default':70", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':40,'ban':50,'kick':50,'redact':50,"
                    "'invite':0}"),
         false, "10.c"},
        {"10.c removal within sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':50,'invite':0}"),
         true, NULL},
        {"10.c.i removal above sender", ALL, BOBROOM(",'users_default':60", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':50,'redact':50,"
                    "'invite':0}"),
         false, "10.c"},
        {"10.c '70' to 70 is no change", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':50},'ban':'70',"
                      "'events':{'m.room.power_levels':50}}")),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'ban':70,"
                    "'events':{'m.room.power_levels':50}}"),
         true, NULL},
        {"10.c unreadable new value", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'kick':'x',"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100}}"),
         false, "10.c"},
        /* 10.d events */
        {"10.d add event level within sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, BOB_PL_WITH(",'events':{'m.room.name':50,'m.room.power_levels':50,"
                                "'m.room.tombstone':100,'m.room.topic':40}",
                                "")),
         true, NULL},
        {"10.d add event level above sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100,"
                    "'m.room.topic':60},'events_default':0,'state_default':50,'ban':50,"
                    "'kick':50,'redact':50,'invite':0}"),
         false, "10.d"},
        {"10.d remove event level above sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50},'events_default':0,"
                    "'state_default':50,'ban':50,'kick':50,'redact':50,'invite':0}"),
         false, "10.d"},
        {"10.d events not an object", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':50},'events':[]}"), false, "10.d"},
        /* 10.d users */
        {"10.d promote within sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, BOB_PL_WITH("", ",'" CAROL "':40")), true, NULL},
        {"10.d promote above sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, BOB_PL_WITH("", ",'" CAROL "':60")), false, "10.d"},
        {"10.d demote a higher user", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':10,'" BOB "':50},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':50,'redact':50,"
                    "'invite':0}"),
         false, "10.d"},
        {"10.e demote oneself", ALL, BOBROOM("", ""),
         PL_EV(BOB, "{'users':{'" ALICE "':100,'" BOB "':40},'users_default':0,"
                    "'events':{'m.room.name':50,'m.room.power_levels':50,'m.room.tombstone':100},"
                    "'events_default':0,'state_default':50,'ban':50,'kick':50,'redact':50,"
                    "'invite':0}"),
         true, NULL},
        {"10.e demote an equal user", ALL, DAVEROOM, PL_EV(BOB, BOB_PL_WITH("", ",'" DAVE "':40")),
         false, "10.e"},
        {"10.e remove an equal user", ALL, DAVEROOM, PL_EV(BOB, BOB_PL_WITH("", "")), false,
         "10.e"},
        {"10.e equal user unchanged", ALL, DAVEROOM,
         PL_EV(BOB, BOB_PL_WITH("", ",'" DAVE "':50,'" CAROL "':10")), true, NULL},
        /* 10.d notifications: v6 only */
        {"notifications lowered from above sender: v6", V6,
         BOBROOM(",'notifications':{'room':70}", ""),
         PL_EV(BOB, BOB_PL_WITH(",'notifications':{'room':50}", "")), false, "10.d"},
        {"notifications lowered from above sender: v1-5", V1_5,
         BOBROOM(",'notifications':{'room':70}", ""),
         PL_EV(BOB, BOB_PL_WITH(",'notifications':{'room':50}", "")), true, NULL},
        {"notifications raised above sender: v6", V6, BOBROOM("", ""),
         PL_EV(BOB, BOB_PL_WITH(",'notifications':{'room':60}", "")), false, "10.d"},
        {"notifications raised above sender: v1-5", V1_5, BOBROOM("", ""),
         PL_EV(BOB, BOB_PL_WITH(",'notifications':{'room':60}", "")), true, NULL},
        {"notifications within sender", ALL, BOBROOM("", ""),
         PL_EV(BOB, BOB_PL_WITH(",'notifications':{'room':40}", "")), true, NULL},
        /* 8 still applies first */
        {"8 PL events need their level", ALL, ROOM_ONLY, PL_EV(BOB, STD_PL_WITH(",'" CAROL "':10")),
         false, "8"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- 11. m.room.redaction: v1/v2 rule; v3+ defer to the server ---- */

#define REDACTION(sender, id, target)                                                              \
    "{'type':'m.room.redaction','sender':'" sender "','event_id':'" id "','redacts':'" target      \
    "','content':{}}"

static void
test_rule_redaction(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"11.a redact level", ALL, ROOM_ONLY, REDACTION(BOB, "$r:a.test", "$x:b.test"), true, NULL},
        {"11.b same domain", V12, ROOM_ONLY, REDACTION(CAROL, "$r:a.test", "$x:a.test"), true,
         NULL},
        {"11.c other domain", V12, ROOM_ONLY, REDACTION(CAROL, "$r:a.test", "$x:b.test"), false,
         "11.c"},
        {"v3+: any redaction", V3UP, ROOM_ONLY, REDACTION(CAROL, "$r:a.test", "$x:b.test"), true,
         NULL},
        {"8 still applies", ALL,
         ROOM_WITH(PL("{'users':{'" ALICE "':100},'events':{'m.room.redaction':10}}")),
         REDACTION(CAROL, "$r:a.test", "$x:a.test"), false, "8"},
        {"6 still applies", ALL, ROOM_ONLY, REDACTION(EVE, "$r:a.test", "$x:a.test"), false, "6"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_malformed_events(void **state)
{
    (void)state;
    static const struct auth_case cases[] = {
        {"no sender", ALL, ROOM_ONLY, "{'type':'m.room.message','content':{}}", false, "-"},
        {"sender without domain", ALL, ROOM_ONLY, MSG("carol"), false, "-"},
        {"content not an object", ALL, ROOM_ONLY,
         "{'type':'m.room.message','sender':'" CAROL "','content':'x'}", false, "-"},
        {"type not a string", ALL, ROOM_ONLY, "{'type':1,'sender':'" CAROL "','content':{}}", false,
         "-"},
        {"state_key not a string", ALL, ROOM_ONLY,
         "{'type':'m.room.member','state_key':5,'sender':'" CAROL
         "','content':{'membership':'join'}}",
         false, "-"},
        {"PL content not an object", ALL,
         "[" BASE ",{'type':'m.room.power_levels','state_key':'','sender':'" ALICE
         "','content':7}]",
         MSG(CAROL), false, "-"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
    assert_false(auth_check(NULL, NULL, NULL, NULL, 0));
}

/* ---- 5.c.i third-party invites: a real identity-server key and signature ---- */

static void
make_key(struct signing_key *k, unsigned char fill, const char *key_id)
{
    unsigned char seed[32];
    memset(seed, fill, sizeof(seed));
    memset(k, 0, sizeof(*k));
    snprintf(k->key_id, sizeof(k->key_id), "%s", key_id);
    assert_int_equal(crypto_sign_seed_keypair(k->public_key, k->secret_key, seed), 0);
}

static char *
b64_key(const unsigned char pk[32], bool urlsafe)
{
    char *s = util_base64_encode(pk, 32);
    for (char *p = s; urlsafe && *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return s;
}

enum tpi_variant {
    TPI_OK,
    TPI_KEYS_LIST,
    TPI_URLSAFE_KEY,
    TPI_WRONG_KEY,
    TPI_MXID_MISMATCH,
    TPI_NO_STATE,
    TPI_OTHER_SENDER,
    TPI_TARGET_BANNED,
    TPI_NO_SIGNED,
    TPI_NO_TOKEN,
    TPI_TAMPERED,
    TPI_NOT_OBJECT,
    TPI_SENDER_NOT_JOINED,
};

static bool
run_tpi(const struct room_version *v, enum tpi_variant var, char *reason, size_t reasonlen)
{
    struct signing_key is_key, other;
    struct fixture f;
    struct auth_state st = {fx_get, &f, NULL};
    json_t *tpi_state, *signed_obj, *ev;
    char *pk;
    bool ok;

    make_key(&is_key, 7, "ed25519:0");
    make_key(&other, 8, "ed25519:0");
    f.state = parse("[" ROOM "]");
    f.events = json_array();
    if (var == TPI_TARGET_BANNED)
        json_array_append_new(f.state, parse(MEMBER_BY(ALICE, EVE, "ban")));
    if (var == TPI_SENDER_NOT_JOINED)
        json_array_append_new(f.state, parse(MEMBER(CAROL, "leave")));

    pk = b64_key(is_key.public_key, var == TPI_URLSAFE_KEY);
    tpi_state = parse(STATE_EV("m.room.third_party_invite", "tok123", CAROL,
                               "{'display_name':'e...@example.com','key_validity_url':'x'}"));
    if (var == TPI_KEYS_LIST)
        json_object_set_new(json_object_get(tpi_state, "content"), "public_keys",
                            json_pack("[{s:s},{s:s}]", "public_key", "AAAA", "public_key", pk));
    else
        json_object_set_new(json_object_get(tpi_state, "content"), "public_key", json_string(pk));
    if (var == TPI_OTHER_SENDER)
        json_object_set_new(tpi_state, "sender", json_string(BOB));
    if (var != TPI_NO_STATE)
        json_array_append_new(f.state, tpi_state);
    else
        json_decref(tpi_state);
    free(pk);

    signed_obj =
        json_pack("{s:s,s:s}", "mxid", var == TPI_MXID_MISMATCH ? DAVE : EVE, "token", "tok123");
    if (var == TPI_NO_TOKEN)
        json_object_del(signed_obj, "token");
    assert_int_equal(json_sign(signed_obj, "id.example", var == TPI_WRONG_KEY ? &other : &is_key),
                     0);
    if (var == TPI_TAMPERED)
        json_object_set_new(signed_obj, "extra", json_true());
    ev = parse(MEMBER_EV(CAROL, EVE, "invite"));
    if (var == TPI_NOT_OBJECT)
        json_object_set_new(json_object_get(ev, "content"), "third_party_invite", json_string("x"));
    else if (var == TPI_NO_SIGNED)
        json_object_set_new(json_object_get(ev, "content"), "third_party_invite",
                            json_pack("{s:s}", "display_name", "e"));
    else
        json_object_set_new(json_object_get(ev, "content"), "third_party_invite",
                            json_pack("{s:s,s:o}", "display_name", "e", "signed", signed_obj));
    if (var == TPI_NOT_OBJECT || var == TPI_NO_SIGNED)
        json_decref(signed_obj);
    complete(ev, v, &f);
    ok = auth_check(v, ev, &st, reason, reasonlen);
    json_decref(ev);
    json_decref(f.state);
    json_decref(f.events);
    return ok;
}

/* SPEC: rooms/v1 auth rules 5.c.i.1-8 */
static void
test_rule_third_party_invite_member(void **state)
{
    (void)state;
    static const struct {
        enum tpi_variant var;
        bool want;
        const char *rule;
    } cases[] = {
        {TPI_OK, true, NULL},
        {TPI_KEYS_LIST, true, NULL},
        {TPI_URLSAFE_KEY, true, NULL},
        /* 5.c.i does not ask that the sender be joined: the token is the permission. */
        {TPI_SENDER_NOT_JOINED, true, NULL},
        {TPI_TARGET_BANNED, false, "5.c.i.1"},
        {TPI_NOT_OBJECT, false, "5.c.i.2"},
        {TPI_NO_SIGNED, false, "5.c.i.2"},
        {TPI_NO_TOKEN, false, "5.c.i.3"},
        {TPI_MXID_MISMATCH, false, "5.c.i.4"},
        {TPI_NO_STATE, false, "5.c.i.5"},
        {TPI_OTHER_SENDER, false, "5.c.i.6"},
        {TPI_WRONG_KEY, false, "5.c.i.8"},
        {TPI_TAMPERED, false, "5.c.i.8"},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t n = 0; room_version_at(n); n++) {
            const struct room_version *v = room_version_at(n);
            char reason[256] = "", tag[48];
            bool got = run_tpi(v, cases[i].var, reason, sizeof(reason));

            snprintf(tag, sizeof(tag), "(auth rule %s)", cases[i].rule ? cases[i].rule : "");
            if (got != cases[i].want || (!got && !strstr(reason, tag))) {
                print_error("tpi case %zu v%s: got %d (%s)\n", i, v->id, got, reason);
                failures++;
            }
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- 2, 3 with the auth events themselves ---- */

static void
test_rules_auth_events(void **state)
{
    (void)state;
    static const struct {
        const char *auth_ids; /* JSON array of IDs */
        bool want;
        const char *rule;
    } cases[] = {
        {"['$create:a.test','$pl:a.test','$carol:a.test']", true, NULL},
        {"['$create:a.test','$carol:a.test']", true, NULL}, /* PL "if any": may be left out */
        {"['$pl:a.test','$carol:a.test']", false, "3"},
        {"['$create:a.test','$pl:a.test','$carol:a.test','$pl2:a.test']", false, "2.a"},
        {"['$create:a.test','$carol:a.test','$jr:a.test']", false, "2.b"}, /* not a member ev */
        {"['$create:a.test','$bob:a.test']", false, "2.b"},                /* not the sender's */
        {"['$create:a.test','$nope:a.test']", false, "2"},                 /* unknown */
        {"['$create:a.test','$msg:a.test']", false, "2"},                  /* not a state event */
        {"[7]", false, "2"},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t n = 0; room_version_at(n); n++) {
            const struct room_version *v = room_version_at(n);
            struct fixture f = {parse(ROOM_ONLY), json_array()};
            struct auth_state st = {fx_get, &f, fx_get_event};
            json_t *ids = parse(cases[i].auth_ids), *ev, *refs, *id;
            char reason[256] = "", tag[48];
            size_t j;
            bool got;

            json_array_append_new(f.events, parse(CREATE));
            json_array_append_new(f.events,
                                  parse("{'event_id':'$pl:a.test','type':'m.room.power_levels',"
                                        "'state_key':'','content':{}}"));
            json_array_append_new(f.events,
                                  parse("{'event_id':'$pl2:a.test','type':'m.room.power_levels',"
                                        "'state_key':'','content':{}}"));
            json_array_append_new(
                f.events, parse("{'event_id':'$carol:a.test','type':'m.room.member',"
                                "'state_key':'" CAROL "','content':{'membership':'join'}}"));
            json_array_append_new(f.events,
                                  parse("{'event_id':'$bob:a.test','type':'m.room.member',"
                                        "'state_key':'" BOB "','content':{'membership':'join'}}"));
            json_array_append_new(f.events,
                                  parse("{'event_id':'$jr:a.test','type':'m.room.join_rules',"
                                        "'state_key':'','content':{'join_rule':'public'}}"));
            json_array_append_new(f.events,
                                  parse("{'event_id':'$msg:a.test','type':'m.room.message',"
                                        "'content':{}}"));
            /* v1/v2 reference pairs, v3+ plain IDs */
            refs = json_array();
            json_array_foreach(ids, j, id)
            {
                if (v->event_id_format == EVID_SERVER && json_is_string(id))
                    json_array_append_new(refs, json_pack("[O,{}]", id));
                else
                    json_array_append(refs, id);
            }
            ev = parse(MSG(CAROL));
            json_object_set_new(ev, "auth_events", refs);
            complete(ev, v, &f);
            got = auth_check(v, ev, &st, reason, sizeof(reason));
            snprintf(tag, sizeof(tag), "(auth rule %s", cases[i].rule ? cases[i].rule : "");
            if (got != cases[i].want || (!got && !strstr(reason, tag))) {
                print_error("auth_events case %zu v%s: got %d (%s)\n", i, v->id, got, reason);
                failures++;
            }
            json_decref(ids);
            json_decref(ev);
            json_decref(f.state);
            json_decref(f.events);
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- auth events selection ---- */

static void
expect_keys(const char *event, const char *want)
{
    json_t *ev = parse(event);
    struct auth_key keys[8];
    size_t n = auth_events_keys(ev, keys, 8);
    char got[512] = "";
    size_t off = 0;

    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s/%s", i ? " " : "", keys[i].type,
                                keys[i].state_key);
    if (strcmp(got, want) != 0)
        print_error("event %s\n  got  %s\n  want %s\n", event, got, want);
    assert_string_equal(got, want);
    json_decref(ev);
}

/* SPEC: server_server_api "Auth events selection" */
static void
test_auth_events_keys(void **state)
{
    (void)state;
    struct auth_key few[2];
    json_t *ev;

    expect_keys(CREATE, "");
    expect_keys(MSG(CAROL), "m.room.create/ m.room.power_levels/ m.room.member/" CAROL);
    expect_keys(STATE_EV("m.room.name", "", BOB, "{}"),
                "m.room.create/ m.room.power_levels/ m.room.member/" BOB);
    expect_keys(MEMBER_EV(EVE, EVE, "join"), "m.room.create/ m.room.power_levels/ "
                                             "m.room.member/" EVE " m.room.join_rules/");
    expect_keys(MEMBER_EV(BOB, EVE, "invite"),
                "m.room.create/ m.room.power_levels/ m.room.member/" BOB " m.room.member/" EVE
                " m.room.join_rules/");
    /* SPEC: v1.1 server-server "Auth events selection": join_rules for join, invite, knock. */
    expect_keys(MEMBER_EV(EVE, EVE, "knock"), "m.room.create/ m.room.power_levels/ "
                                              "m.room.member/" EVE " m.room.join_rules/");
    expect_keys(MEMBER_EV(BOB, EVE, "ban"),
                "m.room.create/ m.room.power_levels/ m.room.member/" BOB " m.room.member/" EVE);
    expect_keys(MEMBER_EV(CAROL, CAROL, "leave"),
                "m.room.create/ m.room.power_levels/ m.room.member/" CAROL);
    expect_keys(STATE_EV("m.room.member", EVE, BOB,
                         "{'membership':'invite','third_party_invite':{'signed':{'token':'t1',"
                         "'mxid':'" EVE "'}}}"),
                "m.room.create/ m.room.power_levels/ m.room.member/" BOB " m.room.member/" EVE
                " m.room.join_rules/ m.room.third_party_invite/t1");

    ev = parse(MEMBER_EV(BOB, EVE, "invite"));
    assert_int_equal(auth_events_keys(ev, few, 2), 2);
    assert_string_equal(few[1].type, "m.room.power_levels");
    json_decref(ev);
    ev = parse("{'content':{}}");
    assert_int_equal(auth_events_keys(ev, few, 2), 0);
    json_decref(ev);
}

/* ---- power level helpers ---- */

static void
test_pl_helpers(void **state)
{
    (void)state;
    json_t *create = parse(CREATE);
    json_t *pl = parse("{'users':{'" BOB "':'55','" CAROL "':0},'users_default':5,"
                       "'events':{'m.room.name':'30'},'state_default':40,'events_default':2,"
                       "'kick':'60','notifications':{'room':20}}");
    json_t *empty = json_object();

    /* SPEC: m.room.power_levels defaults */
    assert_int_equal(pl_user_level(NULL, create, ALICE), 100);
    assert_int_equal(pl_user_level(NULL, create, BOB), 0);
    assert_int_equal(pl_user_level(NULL, NULL, ALICE), 0);
    assert_int_equal(pl_user_level(empty, create, ALICE), 0);
    assert_int_equal(pl_user_level(pl, create, BOB), 55);
    assert_int_equal(pl_user_level(pl, create, CAROL), 0);
    assert_int_equal(pl_user_level(pl, create, EVE), 5);
    assert_int_equal(pl_event_level(NULL, "m.room.name", true), 0);
    assert_int_equal(pl_event_level(NULL, "m.room.message", false), 0);
    assert_int_equal(pl_event_level(empty, "x", true), 50);
    assert_int_equal(pl_event_level(empty, "x", false), 0);
    assert_int_equal(pl_event_level(pl, "m.room.name", true), 30);
    assert_int_equal(pl_event_level(pl, "m.room.topic", true), 40);
    assert_int_equal(pl_event_level(pl, "m.room.message", false), 2);
    assert_int_equal(pl_action_level(NULL, "invite"), 0);
    assert_int_equal(pl_action_level(empty, "invite"), 0);
    assert_int_equal(pl_action_level(NULL, "kick"), 50);
    assert_int_equal(pl_action_level(empty, "ban"), 50);
    assert_int_equal(pl_action_level(empty, "redact"), 50);
    assert_int_equal(pl_action_level(pl, "kick"), 60);
    assert_int_equal(pl_action_level(NULL, "state_default"), 0);
    assert_int_equal(pl_action_level(empty, "state_default"), 50);
    assert_int_equal(pl_action_level(empty, "events_default"), 0);
    assert_int_equal(pl_action_level(empty, "users_default"), 0);
    assert_int_equal(pl_action_level(NULL, "notifications.room"), 50);
    assert_int_equal(pl_action_level(empty, "notifications.room"), 50);
    assert_int_equal(pl_action_level(pl, "notifications.room"), 20);
    /* unreadable values fall back to the default */
    json_object_set_new(pl, "ban", json_string("lots"));
    assert_int_equal(pl_action_level(pl, "ban"), 50);
    json_object_set_new(pl, "ban", json_real(70.9));
    assert_int_equal(pl_action_level(pl, "ban"), 70);
    json_object_set_new(pl, "ban", json_string("-5"));
    assert_int_equal(pl_action_level(pl, "ban"), -5);
    json_object_set_new(pl, "ban", json_string("99999999999999999999"));
    assert_int_equal(pl_action_level(pl, "ban"), 50);
    json_object_set_new(pl, "ban", json_string("1__0"));
    assert_int_equal(pl_action_level(pl, "ban"), 50);
    json_object_set_new(pl, "ban", json_string("1_0"));
    assert_int_equal(pl_action_level(pl, "ban"), 10);
    json_object_set_new(pl, "ban", json_stringn("10\0", 3));
    assert_int_equal(pl_action_level(pl, "ban"), 50);
    json_decref(empty);
    json_decref(pl);
    json_decref(create);
}

/* The integer_power_levels_only switch (no version 1-6 sets it): strings stop counting. */
static void
test_integer_only_levels(void **state)
{
    (void)state;
    struct room_version strict = *room_version_get("6");
    struct fixture f = {parse(ROOM_WITH(PL("{'users':{'" ALICE "':100,'" BOB "':'50'}}"))),
                        json_array()};
    struct auth_state st = {fx_get, &f, NULL};
    json_t *ev = complete(parse(STATE_EV("m.room.name", "", BOB, "{'name':'n'}")), &strict, &f);
    json_t *pl_ev =
        complete(parse(PL_EV(ALICE, "{'users':{'" ALICE "':100,'" BOB "':'50'}}")), &strict, &f);
    char reason[256];

    assert_true(auth_check(room_version_get("6"), ev, &st, reason, sizeof(reason)));
    strict.integer_power_levels_only = true;
    assert_false(auth_check(&strict, ev, &st, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "(auth rule 8)"));
    assert_false(auth_check(&strict, pl_ev, &st, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "(auth rule 10.a)"));
    json_decref(ev);
    json_decref(pl_ev);
    json_decref(f.state);
    json_decref(f.events);
}

static void
test_redaction_may_apply(void **state)
{
    (void)state;
    const struct room_version *v = room_version_get("5");
    struct fixture f = {parse(ROOM_ONLY), json_array()};
    struct auth_state st = {fx_get, &f, NULL};
    json_t *orig_local = parse(MSG(ALICE)), *orig_remote = parse(MSG(ROB));
    json_t *by_carol = parse(REDACTION(CAROL, "$r", "$x")),
           *by_bob = parse(REDACTION(BOB, "$r", "$x"));

    assert_true(auth_redaction_may_apply(v, by_carol, orig_local, &st));
    assert_false(auth_redaction_may_apply(v, by_carol, orig_remote, &st));
    assert_true(auth_redaction_may_apply(v, by_bob, orig_remote, &st));
    assert_false(auth_redaction_may_apply(v, NULL, orig_remote, &st));
    json_decref(orig_local);
    json_decref(orig_remote);
    json_decref(by_carol);
    json_decref(by_bob);
    json_decref(f.state);
    json_decref(f.events);
}

/* ---- randomized: arbitrary mutations never crash and answer the same twice ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const rand_strings[] = {
    ALICE,
    BOB,
    CAROL,
    EVE,
    ROB,
    "",
    "@",
    "x",
    "a.test",
    "join",
    "invite",
    "leave",
    "ban",
    "knock",
    "public",
    "50",
    "-1",
    " 7 ",
    "1_0",
    "m.room.create",
    "m.room.member",
    "m.room.power_levels",
    "m.room.join_rules",
    "m.room.third_party_invite",
    "m.room.aliases",
    "m.room.redaction",
    "$create:a.test",
    "tok",
    "ed25519:0",
    "!r:a.test",
};
static const char *const rand_keys[] = {
    "type",
    "sender",
    "state_key",
    "content",
    "membership",
    "users",
    "events",
    "users_default",
    "events_default",
    "state_default",
    "ban",
    "kick",
    "invite",
    "redact",
    "notifications",
    "room",
    "join_rule",
    "creator",
    "third_party_invite",
    "signed",
    "mxid",
    "token",
    "signatures",
    "public_key",
    "public_keys",
    "prev_events",
    "auth_events",
    "redacts",
    "event_id",
    "room_version",
    "m.federate",
    ALICE,
    BOB,
    CAROL,
};

static json_t *
rand_value(int depth)
{
    switch (rng(depth > 2 ? 7 : 9)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rng(2));
    case 2:
        return json_integer((json_int_t)rng(201) - 100);
    case 3:
        return json_real((double)rng(2001) / 10.0 - 100.0);
    case 4:
        return json_integer(rng(2) ? INT64_MAX : INT64_MIN);
    case 5:
    case 6:
        return json_string(rand_strings[rng(sizeof(rand_strings) / sizeof(rand_strings[0]))]);
    case 7: {
        json_t *a = json_array();
        for (uint32_t i = rng(3); i > 0; i--)
            json_array_append_new(a, rand_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint32_t i = rng(4); i > 0; i--)
            json_object_set_new(o, rand_keys[rng(sizeof(rand_keys) / sizeof(rand_keys[0]))],
                                rand_value(depth + 1));
        return o;
    }
    }
}

/* Replaces, adds or deletes something somewhere inside v (an object or array). */
static void
mutate(json_t *v, int depth)
{
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    uint32_t op = rng(10);

    if (json_is_object(v)) {
        const char *key = rand_keys[rng(sizeof(rand_keys) / sizeof(rand_keys[0]))];
        json_t *child = json_object_get(v, key);
        if (child && (json_is_object(child) || json_is_array(child)) && op < 5 && depth < 6)
            mutate(child, depth + 1);
        else if (op < 7 || n == 0)
            json_object_set_new(v, key, rand_value(depth));
        else
            json_object_del(v, key);
    } else if (json_is_array(v)) {
        if (n > 0 && op < 4) {
            json_t *child = json_array_get(v, rng((uint32_t)n));
            if ((json_is_object(child) || json_is_array(child)) && depth < 6)
                mutate(child, depth + 1);
            else
                json_array_set_new(v, rng((uint32_t)n), rand_value(depth));
        } else if (n > 0 && op < 6) {
            json_array_remove(v, rng((uint32_t)n));
        } else {
            json_array_append_new(v, rand_value(depth));
        }
    }
}

static void
test_randomized_no_crash_deterministic(void **state)
{
    (void)state;
    static const char *const events[] = {
        MSG(CAROL),
        MEMBER_EV(EVE, EVE, "join"),
        MEMBER_EV(BOB, CAROL, "leave"),
        MEMBER_EV(BOB, EVE, "ban"),
        MEMBER_EV(CAROL, EVE, "invite"),
        PL_EV(ALICE, STD_PL_WITH(",'" CAROL "':10")),
        STATE_EV("m.room.aliases", "a.test", CAROL, "{'aliases':[]}"),
        STATE_EV("m.room.third_party_invite", "tok", CAROL, "{'public_key':'AAAA'}"),
        REDACTION(CAROL, "$r:a.test", "$x:b.test"),
        "{'type':'m.room.create','state_key':'','sender':'" ALICE "','prev_events':[],"
        "'content':{'creator':'" ALICE "'}}",
        STATE_EV("m.room.member", EVE, CAROL,
                 "{'membership':'invite','third_party_invite':{'signed':{'mxid':'" EVE
                 "','token':'tok','signatures':{'x':{'ed25519:0':'AAAA'}}}}}"),
    };
    size_t allowed = 0, total = 0;

    for (int round = 0; round < 4000; round++) {
        const struct room_version *v = room_version_at(rng(6));
        struct fixture f = {parse("[" ROOM "," STATE_EV("m.room.third_party_invite", "tok", CAROL,
                                                        "{'public_key':'AAAA'}") "]"),
                            json_array()};
        struct auth_state st = {fx_get, &f, rng(4) == 0 ? fx_get_event : NULL};
        json_t *ev = complete(parse(events[rng(sizeof(events) / sizeof(events[0]))]), v, &f);
        char r1[256], r2[256];
        struct auth_key keys[8];
        bool a, b;

        json_array_append(f.events, json_array_get(f.state, 0));
        for (uint32_t m = rng(4) + 1; m > 0; m--)
            mutate(ev, 0);
        for (uint32_t m = rng(3); m > 0; m--)
            mutate(json_array_get(f.state, rng((uint32_t)json_array_size(f.state))), 0);
        a = auth_check(v, ev, &st, r1, sizeof(r1));
        b = auth_check(v, ev, &st, r2, sizeof(r2));
        assert_int_equal(a, b);
        assert_string_equal(r1, r2);
        if (!a)
            assert_true(r1[0] != '\0');
        (void)auth_events_keys(ev, keys, 8);
        (void)pl_user_level(json_object_get(ev, "content"), ev, CAROL);
        (void)pl_event_level(json_object_get(ev, "content"), "m.room.name", true);
        (void)pl_action_level(json_object_get(ev, "content"), "notifications.room");
        allowed += a;
        total++;
        json_decref(ev);
        json_decref(f.state);
        json_decref(f.events);
    }
    /* The mutations leave some events allowed and reject others. */
    assert_true(allowed > 0 && allowed < total);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_create),
        cmocka_unit_test(test_rule_create_present),
        cmocka_unit_test(test_rule_aliases),
        cmocka_unit_test(test_rule_member_join),
        cmocka_unit_test(test_rule_member_knock),
        cmocka_unit_test(test_rule_member_invite),
        cmocka_unit_test(test_rule_member_leave_ban),
        cmocka_unit_test(test_rules_sender_and_levels),
        cmocka_unit_test(test_rule_power_levels),
        cmocka_unit_test(test_rule_redaction),
        cmocka_unit_test(test_malformed_events),
        cmocka_unit_test(test_rule_third_party_invite_member),
        cmocka_unit_test(test_rules_auth_events),
        cmocka_unit_test(test_auth_events_keys),
        cmocka_unit_test(test_pl_helpers),
        cmocka_unit_test(test_integer_only_levels),
        cmocka_unit_test(test_redaction_may_apply),
        cmocka_unit_test(test_randomized_no_crash_deterministic),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
