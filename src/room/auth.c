#include "room/auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "room/event.h"
#include "room/id.h"

/* Rule numbers below are those of rooms/v1.rst "Authorization rules"; later versions change
 * rules in place (v3: 11, v6: 4 and 10.d) and keep the numbering of the rest. */

enum verdict { NEXT, ALLOW, REJECT };

struct ctx {
    const struct room_version *v;
    const json_t *ev;
    const struct auth_state *st;
    const char *type, *sender, *room_id, *state_key; /* state_key NULL: not a state event */
    const json_t *content;
    const json_t *create; /* m.room.create in the state, or NULL */
    const json_t *pl;     /* content of m.room.power_levels in the state, or NULL */
    char *reason;
    size_t reasonlen;
};

__attribute__((format(printf, 3, 4))) static enum verdict
reject(struct ctx *c, const char *rule, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->reason && c->reasonlen)
        snprintf(c->reason, c->reasonlen, "%s (auth rule %s)", msg, rule);
    return REJECT;
}

static const char *
str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The server name of a user, room or v1 event ID: everything after the first colon. */
static const char *
domain_of(const char *id)
{
    const char *colon = id ? strchr(id, ':') : NULL;
    return colon ? colon + 1 : NULL;
}

static bool
same_domain(const char *a, const char *b)
{
    const char *da = domain_of(a), *db = domain_of(b);
    return da && db && strcmp(da, db) == 0;
}

static const json_t *
state_get(const struct ctx *c, const char *type, const char *state_key)
{
    const json_t *e;

    if (!c->st || !c->st->get)
        return NULL;
    e = c->st->get(c->st->ctx, type, state_key);
    return json_is_object(e) ? e : NULL;
}

/* The membership of user in the state ("join", "invite", ...) or NULL. */
static const char *
membership_of(const struct ctx *c, const char *user)
{
    const json_t *m = state_get(c, "m.room.member", user);
    return m ? str_at(json_object_get(m, "content"), "membership") : NULL;
}

static bool
membership_is(const struct ctx *c, const char *user, const char *want)
{
    const char *m = membership_of(c, user);
    return m && strcmp(m, want) == 0;
}

/* ---- power level values ---- */

/* The ASCII part of what Python's str.strip() removes. */
#define PY_SPACE " \t\n\v\f\r\x1c\x1d\x1e\x1f"

/* Python's int() of a str, as Synapse applies it to v1-5 power levels: surrounding
 * whitespace, an optional sign, ASCII digits with single underscores between them. */
static bool
parse_py_int(const char *s, int64_t *out)
{
    const char *p = s, *end = s + strlen(s);
    bool neg = false, digit = false;
    uint64_t acc = 0;

    while (p < end && strchr(PY_SPACE, *p))
        p++;
    while (end > p && strchr(PY_SPACE, end[-1]))
        end--;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    for (; p < end; p++) {
        if (*p == '_') {
            if (!digit || p + 1 >= end || p[1] < '0' || p[1] > '9')
                return false;
            continue;
        }
        if (*p < '0' || *p > '9')
            return false;
        if (acc > ((uint64_t)INT64_MAX + 1 - (uint64_t)(*p - '0')) / 10)
            return false;
        acc = acc * 10 + (uint64_t)(*p - '0');
        digit = true;
    }
    if (!digit || (!neg && acc > INT64_MAX))
        return false;
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

/* SPEC: rooms/v1 auth rules 10.a "integers (or a string that is an integer)". Synapse reads
 * every power level with Python's int(), so floats truncate and booleans count as 0/1; a
 * version with integer_power_levels_only takes JSON integers alone. */
static bool
level_value(const json_t *val, bool ints_only, int64_t *out)
{
    switch (json_typeof(val)) {
    case JSON_INTEGER:
        *out = json_integer_value(val);
        return true;
    case JSON_STRING:
        if (strlen(json_string_value(val)) != json_string_length(val))
            return false;
        return !ints_only && parse_py_int(json_string_value(val), out);
    case JSON_REAL: {
        double d = json_real_value(val);
        if (ints_only || !(d > -9.2e18 && d < 9.2e18))
            return false;
        *out = (int64_t)d;
        return true;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        if (ints_only)
            return false;
        *out = json_is_true(val);
        return true;
    default:
        return false;
    }
}

/* obj[key] as a level, dflt when absent; false when present but not a level. */
static bool
level_at(const json_t *obj, const char *key, int64_t dflt, bool ints_only, int64_t *out)
{
    const json_t *val = json_object_get(obj, key);
    if (!val) {
        *out = dflt;
        return true;
    }
    return level_value(val, ints_only, out);
}

/* SPEC: m.room.power_levels "If a user_id is in the users list, then that user_id has the
 * associated power level. Otherwise they have the default level users_default. If
 * users_default is not supplied, it is assumed to be 0. If the room contains no
 * m.room.power_levels event, the room's creator has a power level of 100, and all other users
 * have a power level of 0." */
static bool
user_level(const json_t *pl, const json_t *create, const char *user, bool ints_only, int64_t *out)
{
    const json_t *users;

    if (!pl) {
        const char *creator = str_at(json_object_get(create, "content"), "creator");
        *out = creator && user && strcmp(creator, user) == 0 ? 100 : 0;
        return true;
    }
    users = json_object_get(pl, "users");
    if (users && !json_is_object(users))
        return false;
    if (user && json_object_get(users, user))
        return level_value(json_object_get(users, user), ints_only, out);
    return level_at(pl, "users_default", 0, ints_only, out);
}

/* SPEC: m.room.power_levels "If an event type is specified in events, then the user must
 * have at least the level specified ... it defaults to events_default for Message Events and
 * state_default for State Events." "If there is no state_default ... 50 ... no events_default
 * ... 0. If the room contains no m.room.power_levels event, both ... are 0." */
static bool
event_level(const json_t *pl, const char *type, bool is_state, bool ints_only, int64_t *out)
{
    const json_t *events;

    if (!pl) {
        *out = 0;
        return true;
    }
    events = json_object_get(pl, "events");
    if (events && !json_is_object(events))
        return false;
    if (type && json_object_get(events, type))
        return level_value(json_object_get(events, type), ints_only, out);
    if (is_state)
        return level_at(pl, "state_default", 50, ints_only, out);
    return level_at(pl, "events_default", 0, ints_only, out);
}

/* The action levels. SPEC: server_server_api "Invite Level, Kick Level, Ban Level, Redact
 * Level ... Each defaults to 50 if unspecified." Except invite: Synapse has always used 0 and
 * the spec was corrected to match (matrix-spec#1021), so 0 here. */
static bool
action_level(const json_t *pl, const char *action, bool ints_only, int64_t *out)
{
    if (strcmp(action, "state_default") == 0)
        return pl ? level_at(pl, action, 50, ints_only, out) : (*out = 0, true);
    if (strcmp(action, "events_default") == 0 || strcmp(action, "users_default") == 0 ||
        strcmp(action, "invite") == 0)
        return pl ? level_at(pl, action, 0, ints_only, out) : (*out = 0, true);
    if (strncmp(action, "notifications.", 14) == 0) {
        /* SPEC: m.room.power_levels notifications.room "Defaults to 50 if unspecified." */
        const json_t *n = json_object_get(pl, "notifications");
        if (n && !json_is_object(n))
            return false;
        return level_at(n, action + 14, 50, ints_only, out);
    }
    return pl ? level_at(pl, action, 50, ints_only, out) : (*out = 50, true);
}

int64_t
pl_user_level(const json_t *pl_content, const json_t *create_event, const char *user_id)
{
    int64_t n;
    return user_level(pl_content, create_event, user_id, false, &n) ? n : 0;
}

int64_t
pl_event_level(const json_t *pl_content, const char *type, bool is_state)
{
    int64_t n;
    if (event_level(pl_content, type, is_state, false, &n))
        return n;
    return pl_content && is_state ? 50 : 0;
}

int64_t
pl_action_level(const json_t *pl_content, const char *action)
{
    int64_t n;
    if (!action)
        return 50;
    if (action_level(pl_content, action, false, &n))
        return n;
    return strcmp(action, "invite") == 0 || strstr(action, "_default") ? 0 : 50;
}

/* ---- levels inside auth_check: a level that cannot be read rejects the event ---- */

static bool
ints_only(const struct ctx *c)
{
    return c->v->integer_power_levels_only;
}

static bool
sender_level(struct ctx *c, const char *user, int64_t *out)
{
    return user_level(c->pl, c->create, user, ints_only(c), out);
}

static enum verdict
bad_levels(struct ctx *c, const char *rule)
{
    return reject(c, rule, "the room's power levels hold a value that is not an integer");
}

/* ---- 1. m.room.create ---- */

/* SPEC: rooms/v1 auth rules 1.a "If it has any previous events, reject." */
static enum verdict
create_no_prev_events(struct ctx *c)
{
    const json_t *prev = json_object_get(c->ev, "prev_events");
    if (prev && (!json_is_array(prev) || json_array_size(prev) > 0))
        return reject(c, "1.a", "m.room.create must have no previous events");
    return NEXT;
}

/* SPEC: rooms/v1 auth rules 1.b "If the domain of the room_id does not match the domain of
 * the sender, reject." */
static enum verdict
create_same_domain(struct ctx *c)
{
    if (!same_domain(c->room_id, c->sender))
        return reject(c, "1.b", "room ID and sender of m.room.create differ in domain");
    return NEXT;
}

/* SPEC: rooms/v1 auth rules 1.c "If content.room_version is present and is not a recognised
 * version, reject." */
static enum verdict
create_known_version(struct ctx *c)
{
    const json_t *rv = json_object_get(c->content, "room_version");
    if (rv && !room_version_get(json_string_value(rv)))
        return reject(c, "1.c", "unknown room version");
    return NEXT;
}

/* SPEC: rooms/v1 auth rules 1.d "If content has no creator field, reject." 1.e "Otherwise,
 * allow." */
static enum verdict
create_has_creator(struct ctx *c)
{
    if (!json_object_get(c->content, "creator"))
        return reject(c, "1.d", "m.room.create has no creator");
    return ALLOW;
}

static enum verdict
rule_create(struct ctx *c)
{
    enum verdict r;

    if (strcmp(c->type, "m.room.create") != 0)
        return NEXT;
    if ((r = create_no_prev_events(c)) != NEXT || (r = create_same_domain(c)) != NEXT ||
        (r = create_known_version(c)) != NEXT)
        return r;
    return create_has_creator(c);
}

/* ---- 2, 3. auth events ---- */

/* An entry of prev_events / auth_events in either format: "$id" or ["$id", {hashes}]. */
static const char *
ref_id(const json_t *ref)
{
    if (json_is_array(ref))
        ref = json_array_get(ref, 0);
    return json_string_value(ref);
}

/* SPEC: rooms/v1 auth rules 2 "Reject if event has auth_events that: a. have duplicate
 * entries for a given type and state_key pair; b. have entries whose type and state_key don't
 * match those specified by the auth events selection algorithm". Needs get_event; without
 * it the caller built auth_events from the same state (the auth events selection). */
static enum verdict
auth_events_selected(struct ctx *c, bool *has_create)
{
    struct auth_key want[8];
    size_t nwant = auth_events_keys(c->ev, want, 8);
    const json_t *refs = json_object_get(c->ev, "auth_events");
    const json_t *seen[16];
    size_t i, nseen = 0;
    json_t *ref;

    if (!c->st->get_event)
        return NEXT;
    if (!json_is_array(refs))
        return reject(c, "2", "auth_events is not a list");
    json_array_foreach(refs, i, ref)
    {
        const char *id = ref_id(ref);
        const json_t *ae = id ? c->st->get_event(c->st->ctx, id) : NULL;
        const char *t = str_at(ae, "type"), *sk = str_at(ae, "state_key");
        bool listed = false;

        if (!t || !sk)
            return reject(c, "2", "auth event %s is unknown or not a state event",
                          id ? id : "(malformed)");
        for (size_t j = 0; j < nseen; j++)
            if (strcmp(str_at(seen[j], "type"), t) == 0 &&
                strcmp(str_at(seen[j], "state_key"), sk) == 0)
                return reject(c, "2.a", "auth_events has two entries for (%s, %s)", t, sk);
        for (size_t j = 0; j < nwant && !listed; j++)
            listed = strcmp(want[j].type, t) == 0 && strcmp(want[j].state_key, sk) == 0;
        if (!listed)
            return reject(c, "2.b", "auth event (%s, %s) is not one the selection picks", t, sk);
        if (strcmp(t, "m.room.create") == 0)
            *has_create = true;
        if (nseen == sizeof(seen) / sizeof(seen[0]))
            return reject(c, "2.b", "too many auth_events");
        seen[nseen++] = ae;
    }
    return NEXT;
}

/* SPEC: rooms/v1 auth rules 3 "If event does not have a m.room.create in its auth_events,
 * reject." The other rules read the creator from the state's m.room.create, so it is needed
 * there too. */
static enum verdict
auth_events_have_create(struct ctx *c, bool has_create)
{
    if (c->st->get_event && !has_create)
        return reject(c, "3", "auth_events hold no m.room.create");
    if (!c->create)
        return reject(c, "3", "the room has no m.room.create");
    return NEXT;
}

/* SPEC: m.room.create m.federate "Whether users on other servers can join this room.
 * Defaults to true if key does not exist." Later spec text places this after rule 3; Synapse
 * has always checked it (and takes only a JSON true as true). */
static enum verdict
create_federates(struct ctx *c)
{
    const json_t *fed = json_object_get(json_object_get(c->create, "content"), "m.federate");
    if (fed && !json_is_true(fed) && !same_domain(c->sender, str_at(c->create, "sender")))
        return reject(c, "3 (m.federate)", "this room does not federate");
    return NEXT;
}

/* ---- 4. m.room.aliases (v1-5) ---- */

/* SPEC: rooms/v1 auth rules 4 "If type is m.room.aliases: a. If event has no state_key,
 * reject. b. If sender's domain doesn't matches state_key, reject. c. Otherwise, allow."
 * rooms/v6 removes the rule: "They must still pass authorization checks relating to state
 * events." */
static enum verdict
rule_aliases(struct ctx *c)
{
    const char *d;

    if (!c->v->special_case_aliases || strcmp(c->type, "m.room.aliases") != 0)
        return NEXT;
    if (!c->state_key)
        return reject(c, "4.a", "m.room.aliases without a state_key");
    d = domain_of(c->sender);
    if (!d || strcmp(d, c->state_key) != 0)
        return reject(c, "4.b", "m.room.aliases state_key is not the sender's domain");
    return ALLOW;
}

/* ---- 5. m.room.member ---- */

/* SPEC: 5.b.i "If the only previous event is an m.room.create and the state_key is the
 * creator, allow." */
static enum verdict
join_creator_first(struct ctx *c)
{
    const json_t *prev = json_object_get(c->ev, "prev_events");
    const char *creator = str_at(json_object_get(c->create, "content"), "creator");
    const char *prev_id;
    char *create_id;
    bool match;

    if (!json_is_array(prev) || json_array_size(prev) != 1 || !creator ||
        strcmp(creator, c->state_key) != 0)
        return NEXT;
    prev_id = ref_id(json_array_get(prev, 0));
    create_id = event_id_of(c->create, c->v);
    match = prev_id && create_id && strcmp(prev_id, create_id) == 0;
    free(create_id);
    return match ? ALLOW : NEXT;
}

/* SPEC: 5.b.ii-vi */
static enum verdict
member_join(struct ctx *c)
{
    const json_t *jr_ev = state_get(c, "m.room.join_rules", "");
    const char *rule;
    enum verdict r;

    if ((r = join_creator_first(c)) != NEXT)
        return r;
    /* SPEC: 5.b.ii "If the sender does not match state_key, reject." */
    if (strcmp(c->sender, c->state_key) != 0)
        return reject(c, "5.b.ii", "cannot make another user join");
    /* SPEC: 5.b.iii "If the sender is banned, reject." */
    if (membership_is(c, c->sender, "ban"))
        return reject(c, "5.b.iii", "the sender is banned");
    /* No m.room.join_rules (or no join_rule in it) reads as "invite", as Synapse has it; the
     * spec is silent. */
    if (jr_ev && json_object_get(json_object_get(jr_ev, "content"), "join_rule"))
        rule = str_at(json_object_get(jr_ev, "content"), "join_rule");
    else
        rule = "invite";
    /* SPEC: 5.b.iv "If the join_rule is invite then allow if membership state is invite or
     * join." In v7 a knock room admits the same way (an accepted knock is an invite): the v1.1
     * text of v7 omits it, later texts of v7 and Synapse have "invite or knock". */
    if (rule && (strcmp(rule, "invite") == 0 || (c->v->knocking && strcmp(rule, "knock") == 0)) &&
        (membership_is(c, c->sender, "invite") || membership_is(c, c->sender, "join")))
        return ALLOW;
    /* SPEC: 5.b.v "If the join_rule is public, allow." */
    if (rule && strcmp(rule, "public") == 0)
        return ALLOW;
    /* SPEC: 5.b.vi "Otherwise, reject." */
    return reject(c, "5.b.vi", "the join rule (%s) does not let the sender join",
                  rule ? rule : "malformed");
}

/* Decodes a public key of m.room.third_party_invite: unpadded base64, either alphabet. */
static bool
decode_public_key(const char *s, unsigned char pk[32])
{
    size_t n = 0;
    char *std;
    bool ok;

    if (!s)
        return false;
    std = xstrdup(s);
    for (char *p = std; *p; p++) {
        if (*p == '-')
            *p = '+';
        else if (*p == '_')
            *p = '/';
    }
    ok = util_base64_decode(std, pk, 32, &n) == 0 && n == 32;
    free(std);
    return ok;
}

bool
auth_signed_by(const json_t *signed_obj, const char *b64key)
{
    const json_t *sigs = json_object_get(signed_obj, "signatures");
    unsigned char pk[32];
    const char *server, *key_id;
    json_t *block, *sig;

    if (!json_is_object(sigs) || !decode_public_key(b64key, pk))
        return false;
    json_object_foreach((json_t *)sigs, server, block)
    {
        if (!json_is_object(block))
            continue;
        json_object_foreach(block, key_id, sig)
        {
            (void)sig;
            if (strncmp(key_id, "ed25519:", 8) == 0 && json_verify(signed_obj, server, key_id, pk))
                return true;
        }
    }
    return false;
}

/* SPEC: 5.c.i.7 "If any signature in signed matches any public key in the
 * m.room.third_party_invite event, allow. The public keys are in content of
 * m.room.third_party_invite as: A single public key in the public_key field. A list of public
 * keys in the public_keys field." */
static bool
signed_by_invite_keys(const json_t *signed_obj, const json_t *tpi_content)
{
    const json_t *keys = json_object_get(tpi_content, "public_keys");
    size_t i;
    json_t *k;

    if (auth_signed_by(signed_obj, str_at(tpi_content, "public_key")))
        return true;
    if (!json_is_array(keys))
        return false;
    json_array_foreach(keys, i, k)
    {
        if (auth_signed_by(signed_obj, str_at(k, "public_key")))
            return true;
    }
    return false;
}

/* SPEC: 5.c.i "If content has third_party_invite key:" 1-8 */
static enum verdict
invite_third_party(struct ctx *c, const json_t *tpi)
{
    const json_t *signed_obj, *tpi_ev;
    const char *mxid, *token;

    /* SPEC: 5.c.i.1 "If target user is banned, reject." */
    if (membership_is(c, c->state_key, "ban"))
        return reject(c, "5.c.i.1", "the invited user is banned");
    /* SPEC: 5.c.i.2 "If content.third_party_invite does not have a signed key, reject." */
    signed_obj = json_object_get(tpi, "signed");
    if (!json_is_object(signed_obj))
        return reject(c, "5.c.i.2", "third_party_invite has no signed object");
    /* SPEC: 5.c.i.3 "If signed does not have mxid and token keys, reject." */
    mxid = str_at(signed_obj, "mxid");
    token = str_at(signed_obj, "token");
    if (!mxid || !token)
        return reject(c, "5.c.i.3", "signed lacks mxid or token");
    /* SPEC: 5.c.i.4 "If mxid does not match state_key, reject." */
    if (strcmp(mxid, c->state_key) != 0)
        return reject(c, "5.c.i.4", "signed.mxid is not the invited user");
    /* SPEC: 5.c.i.5 "If there is no m.room.third_party_invite event in the current room state
     * with state_key matching token, reject." */
    tpi_ev = state_get(c, "m.room.third_party_invite", token);
    if (!tpi_ev)
        return reject(c, "5.c.i.5", "no m.room.third_party_invite for this token");
    /* SPEC: 5.c.i.6 "If sender does not match sender of the m.room.third_party_invite,
     * reject." */
    if (!str_at(tpi_ev, "sender") || strcmp(str_at(tpi_ev, "sender"), c->sender) != 0)
        return reject(c, "5.c.i.6", "the sender did not send the third-party invite");
    if (signed_by_invite_keys(signed_obj, json_object_get(tpi_ev, "content")))
        return ALLOW;
    /* SPEC: 5.c.i.8 "Otherwise, reject." */
    return reject(c, "5.c.i.8", "no valid signature from the third-party invite's keys");
}

static enum verdict
member_invite(struct ctx *c)
{
    const json_t *tpi = json_object_get(c->content, "third_party_invite");
    int64_t have, need;

    if (tpi) {
        if (!json_is_object(tpi))
            return reject(c, "5.c.i.2", "third_party_invite is not an object");
        return invite_third_party(c, tpi);
    }
    /* SPEC: 5.c.ii "If the sender's current membership state is not join, reject." */
    if (!membership_is(c, c->sender, "join"))
        return reject(c, "5.c.ii", "the sender is not in the room");
    /* SPEC: 5.c.iii "If target user's current membership state is join or ban, reject." */
    if (membership_is(c, c->state_key, "join") || membership_is(c, c->state_key, "ban"))
        return reject(c, "5.c.iii", "the invited user is already joined or banned");
    /* SPEC: 5.c.iv "If the sender's power level is greater than or equal to the invite level,
     * allow." */
    if (!sender_level(c, c->sender, &have) || !action_level(c->pl, "invite", ints_only(c), &need))
        return bad_levels(c, "5.c.iv");
    if (have >= need)
        return ALLOW;
    /* SPEC: 5.c.v "Otherwise, reject." */
    return reject(c, "5.c.v", "power level %lld is below the invite level %lld", (long long)have,
                  (long long)need);
}

static enum verdict
member_leave(struct ctx *c)
{
    int64_t have, target, ban, kick;

    /* SPEC: 5.d.i "If the sender matches state_key, allow if and only if that user's current
     * membership state is invite or join." */
    if (strcmp(c->sender, c->state_key) == 0) {
        if (membership_is(c, c->sender, "invite") || membership_is(c, c->sender, "join"))
            return ALLOW;
        /* v7: a knock may be withdrawn by leaving (Synapse; later texts of v7 say "invite,
         * join, or knock"). */
        if (c->v->knocking && membership_is(c, c->sender, "knock"))
            return ALLOW;
        return reject(c, "5.d.i", "the sender is neither invited nor joined");
    }
    /* SPEC: 5.d.ii "If the sender's current membership state is not join, reject." */
    if (!membership_is(c, c->sender, "join"))
        return reject(c, "5.d.ii", "the sender is not in the room");
    if (!sender_level(c, c->sender, &have) || !sender_level(c, c->state_key, &target) ||
        !action_level(c->pl, "ban", ints_only(c), &ban) ||
        !action_level(c->pl, "kick", ints_only(c), &kick))
        return bad_levels(c, "5.d");
    /* SPEC: 5.d.iii "If the target user's current membership state is ban, and the sender's
     * power level is less than the ban level, reject." */
    if (membership_is(c, c->state_key, "ban") && have < ban)
        return reject(c, "5.d.iii", "power level %lld is below the ban level %lld", (long long)have,
                      (long long)ban);
    /* SPEC: 5.d.iv "If the sender's power level is greater than or equal to the kick level,
     * and the target user's power level is less than the sender's power level, allow." */
    if (have >= kick && target < have)
        return ALLOW;
    /* SPEC: 5.d.v "Otherwise, reject." */
    return reject(c, "5.d.v", "power level %lld may not kick a user at %lld (kick level %lld)",
                  (long long)have, (long long)target, (long long)kick);
}

static enum verdict
member_ban(struct ctx *c)
{
    int64_t have, target, ban;

    /* SPEC: 5.e.i "If the sender's current membership state is not join, reject." */
    if (!membership_is(c, c->sender, "join"))
        return reject(c, "5.e.i", "the sender is not in the room");
    if (!sender_level(c, c->sender, &have) || !sender_level(c, c->state_key, &target) ||
        !action_level(c->pl, "ban", ints_only(c), &ban))
        return bad_levels(c, "5.e");
    /* SPEC: 5.e.ii "If the sender's power level is greater than or equal to the ban level, and
     * the target user's power level is less than the sender's power level, allow." */
    if (have >= ban && target < have)
        return ALLOW;
    /* SPEC: 5.e.iii "Otherwise, reject." */
    return reject(c, "5.e.iii", "power level %lld may not ban a user at %lld (ban level %lld)",
                  (long long)have, (long long)target, (long long)ban);
}

/* SPEC: v1.1 rooms/v7 auth rules 4.6 "If membership is knock" */
static enum verdict
member_knock(struct ctx *c)
{
    const json_t *jr_ev = state_get(c, "m.room.join_rules", "");
    const char *rule = jr_ev ? str_at(json_object_get(jr_ev, "content"), "join_rule") : NULL;

    /* SPEC: 4.6.1 "If the join_rule is anything other than knock, reject." */
    if (!rule || strcmp(rule, "knock") != 0)
        return reject(c, "v7 4.6.1", "the join rule is not knock");
    /* SPEC: 4.6.2 "If sender does not match state_key, reject." */
    if (strcmp(c->sender, c->state_key) != 0)
        return reject(c, "v7 4.6.2", "cannot knock for another user");
    /* SPEC: 4.6.3 "If the sender's current membership is not ban, invite, or join, allow." */
    if (!membership_is(c, c->sender, "ban") && !membership_is(c, c->sender, "invite") &&
        !membership_is(c, c->sender, "join"))
        return ALLOW;
    /* The text stops there; Synapse rejects the rest. */
    return reject(c, "v7 4.6.3", "the sender is banned, invited or joined");
}

static enum verdict
rule_member(struct ctx *c)
{
    const char *membership;

    if (strcmp(c->type, "m.room.member") != 0)
        return NEXT;
    /* SPEC: 5.a "If no state_key key or membership key in content, reject." */
    membership = str_at(c->content, "membership");
    if (!c->state_key || !membership)
        return reject(c, "5.a", "m.room.member needs a state_key and content.membership");
    if (strcmp(membership, "join") == 0)
        return member_join(c);
    if (strcmp(membership, "invite") == 0)
        return member_invite(c);
    if (strcmp(membership, "leave") == 0)
        return member_leave(c);
    if (strcmp(membership, "ban") == 0)
        return member_ban(c);
    if (c->v->knocking && strcmp(membership, "knock") == 0)
        return member_knock(c);
    /* SPEC: 5.f "Otherwise, the membership is unknown. Reject." */
    return reject(c, "5.f", "unknown membership '%s'", membership);
}

/* ---- 6-9 ---- */

/* SPEC: rooms/v1 auth rules 6 "If the sender's current membership state is not join,
 * reject." */
static enum verdict
rule_sender_joined(struct ctx *c)
{
    if (!membership_is(c, c->sender, "join"))
        return reject(c, "6", "the sender is not in the room");
    return NEXT;
}

/* SPEC: rooms/v1 auth rules 7 "If type is m.room.third_party_invite: Allow if and only if
 * sender's current power level is greater than or equal to the invite level." */
static enum verdict
rule_third_party_invite(struct ctx *c)
{
    int64_t have, need;

    if (strcmp(c->type, "m.room.third_party_invite") != 0)
        return NEXT;
    if (!sender_level(c, c->sender, &have) || !action_level(c->pl, "invite", ints_only(c), &need))
        return bad_levels(c, "7");
    if (have >= need)
        return ALLOW;
    return reject(c, "7", "power level %lld is below the invite level %lld", (long long)have,
                  (long long)need);
}

/* SPEC: rooms/v1 auth rules 8 "If the event type's required power level is greater than the
 * sender's power level, reject." */
static enum verdict
rule_required_level(struct ctx *c)
{
    int64_t have, need;

    if (!sender_level(c, c->sender, &have) ||
        !event_level(c->pl, c->type, c->state_key != NULL, ints_only(c), &need))
        return bad_levels(c, "8");
    if (need > have)
        return reject(c, "8", "sending %s needs power level %lld, the sender has %lld", c->type,
                      (long long)need, (long long)have);
    return NEXT;
}

/* SPEC: rooms/v1 auth rules 9 "If the event has a state_key that starts with an @ and does
 * not match the sender, reject." */
static enum verdict
rule_state_key_user(struct ctx *c)
{
    if (c->state_key && c->state_key[0] == '@' && strcmp(c->state_key, c->sender) != 0)
        return reject(c, "9", "state_key %s belongs to another user", c->state_key);
    return NEXT;
}

/* ---- 10. m.room.power_levels ---- */

/* SPEC: 10.a "If users key in content is not a dictionary with keys that are valid user IDs
 * with values that are integers (or a string that is an integer), reject." */
static enum verdict
pl_users_valid(struct ctx *c)
{
    const json_t *users = json_object_get(c->content, "users");
    const char *uid;
    json_t *val;
    int64_t n;

    if (!users)
        return NEXT;
    if (!json_is_object(users))
        return reject(c, "10.a", "users is not an object");
    json_object_foreach((json_t *)users, uid, val)
    {
        if (!id_user_id_valid(uid))
            return reject(c, "10.a", "'%s' in users is not a user ID", uid);
        if (!level_value(val, ints_only(c), &n))
            return reject(c, "10.a", "the level of %s is not an integer", uid);
    }
    return NEXT;
}

/* One key of the old and new power levels (the top level or one of its maps). */
struct pl_change {
    bool had, has;
    int64_t old, new;
};

/* false: a value present but not a level. */
static bool
read_change(const struct ctx *c, const json_t *old_obj, const json_t *new_obj, const char *key,
            struct pl_change *ch)
{
    const json_t *o = json_object_get(old_obj, key), *n = json_object_get(new_obj, key);

    ch->had = o != NULL;
    ch->has = n != NULL;
    ch->old = ch->new = 0;
    return (!o || level_value(o, ints_only(c), &ch->old)) &&
           (!n || level_value(n, ints_only(c), &ch->new));
}

static bool
altered(const struct pl_change *ch)
{
    return ch->had != ch->has || ch->old != ch->new;
}

/* SPEC: 10.c.i / 10.d.i "If the current value is higher than the sender's current power level,
 * reject." 10.c.ii / 10.d.ii "If the new value is higher than the sender's current power
 * level, reject." */
static enum verdict
change_within(struct ctx *c, const char *rule, const char *what, const struct pl_change *ch,
              int64_t have)
{
    if (ch->had && ch->old > have)
        return reject(c, rule, "%s is at %lld, above the sender's %lld", what, (long long)ch->old,
                      (long long)have);
    if (ch->has && ch->new > have)
        return reject(c, rule, "%s would be %lld, above the sender's %lld", what,
                      (long long)ch->new, (long long)have);
    return NEXT;
}

/* SPEC: 10.c "For the keys users_default, events_default, state_default, ban, redact, kick,
 * invite check if they were added, changed or removed. For each found alteration:" */
static enum verdict
pl_action_keys(struct ctx *c, const json_t *old, int64_t have)
{
    static const char *const keys[] = {"users_default", "events_default", "state_default", "ban",
                                       "redact",        "kick",           "invite"};
    enum verdict r;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct pl_change ch;
        if (!read_change(c, old, c->content, keys[i], &ch))
            return reject(c, "10.c", "%s is not an integer", keys[i]);
        if (altered(&ch) && (r = change_within(c, "10.c", keys[i], &ch, have)) != NEXT)
            return r;
    }
    return NEXT;
}

/* Applies 10.d (and for users 10.e) to every entry of one map, old and new. */
static enum verdict
pl_map_entries(struct ctx *c, const json_t *old, const char *map, int64_t have)
{
    const json_t *om = json_object_get(old, map), *nm = json_object_get(c->content, map);
    const json_t *sides[2] = {om, nm};
    char what[300];
    enum verdict r;

    if ((om && !json_is_object(om)) || (nm && !json_is_object(nm)))
        return reject(c, "10.d", "%s is not an object", map);
    for (int s = 0; s < 2; s++) {
        const char *key;
        json_t *val;

        json_object_foreach((json_t *)sides[s], key, val)
        {
            struct pl_change ch;

            (void)val;
            /* Keys in both maps were seen with the old one. */
            if (s == 1 && json_object_get(om, key))
                continue;
            snprintf(what, sizeof(what), "%s[%s]", map, key);
            if (!read_change(c, om, nm, key, &ch))
                return reject(c, "10.d", "%s is not an integer", what);
            if (!altered(&ch))
                continue;
            if ((r = change_within(c, "10.d", what, &ch, have)) != NEXT)
                return r;
            /* SPEC: 10.e "For each entry being changed under the users key, other than the
             * sender's own entry: If the current value is equal to the sender's current power
             * level, reject." */
            if (strcmp(map, "users") == 0 && strcmp(key, c->sender) != 0 && ch.had &&
                ch.old == have)
                return reject(c, "10.e", "cannot change the level of %s, equal to the sender's",
                              key);
        }
    }
    return NEXT;
}

static enum verdict
rule_power_levels(struct ctx *c)
{
    const json_t *prev;
    int64_t have;
    enum verdict r;

    if (strcmp(c->type, "m.room.power_levels") != 0)
        return NEXT;
    if ((r = pl_users_valid(c)) != NEXT)
        return r;
    /* SPEC: 10.b "If there is no previous m.room.power_levels event in the room, allow." */
    prev = state_get(c, "m.room.power_levels", "");
    if (!prev)
        return ALLOW;
    prev = json_object_get(prev, "content");
    if (!sender_level(c, c->sender, &have))
        return bad_levels(c, "10");
    if ((r = pl_action_keys(c, prev, have)) != NEXT)
        return r;
    /* SPEC: 10.d "For each entry being added, changed or removed in both the events and users
     * keys:"; rooms/v6 "in the events, users, and notifications keys" */
    if ((r = pl_map_entries(c, prev, "events", have)) != NEXT ||
        (r = pl_map_entries(c, prev, "users", have)) != NEXT)
        return r;
    if (c->v->limit_notifications_pl &&
        (r = pl_map_entries(c, prev, "notifications", have)) != NEXT)
        return r;
    /* SPEC: 10.f "Otherwise, allow." */
    return ALLOW;
}

/* ---- 11. m.room.redaction ---- */

/* SPEC: rooms/v1 auth rules 11 "a. If the sender's power level is greater than or equal to
 * the redact level, allow. b. If the domain of the event_id of the event being redacted is the
 * same as the domain of the event_id of the m.room.redaction, allow. c. Otherwise, reject."
 * SPEC: rooms/v3 "redaction events are always accepted (provided the event is allowed by
 * events and events_default in the power levels)" (rule 8 did that). */
static enum verdict
rule_redaction(struct ctx *c)
{
    int64_t have, need;

    if (strcmp(c->type, "m.room.redaction") != 0 || c->v->event_id_format != EVID_SERVER)
        return NEXT;
    if (!sender_level(c, c->sender, &have) || !action_level(c->pl, "redact", ints_only(c), &need))
        return bad_levels(c, "11.a");
    if (have >= need)
        return ALLOW;
    if (same_domain(str_at(c->ev, "event_id"), str_at(c->ev, "redacts")))
        return ALLOW;
    return reject(c, "11.c", "power level %lld is below the redact level %lld", (long long)have,
                  (long long)need);
}

/* ---- the whole ---- */

/* Not an auth rule: the fields the rules read must be there with the right types. */
static bool
well_formed(struct ctx *c)
{
    const json_t *sk = json_object_get(c->ev, "state_key");

    if (!json_is_object(c->ev))
        return false;
    c->type = str_at(c->ev, "type");
    c->sender = str_at(c->ev, "sender");
    c->room_id = str_at(c->ev, "room_id");
    c->content = json_object_get(c->ev, "content");
    c->state_key = json_string_value(sk);
    return c->type && c->sender && domain_of(c->sender) && c->room_id &&
           json_is_object(c->content) && (!sk || c->state_key);
}

bool
auth_check(const struct room_version *v, const json_t *ev, const struct auth_state *state,
           char *reason, size_t reasonlen)
{
    static const struct auth_state none = {0};
    struct ctx c = {
        .v = v, .ev = ev, .st = state ? state : &none, .reason = reason, .reasonlen = reasonlen};
    enum verdict (*const rules[])(struct ctx *) = {
        rule_aliases,        rule_member,         rule_sender_joined, rule_third_party_invite,
        rule_required_level, rule_state_key_user, rule_power_levels,  rule_redaction,
    };
    const json_t *pl_ev;
    bool has_create = false;
    enum verdict r;

    if (reason && reasonlen)
        reason[0] = '\0';
    if (!v) {
        r = reject(&c, "-", "unknown room version");
        goto out;
    }
    if (!well_formed(&c)) {
        r = reject(&c, "-", "malformed event");
        goto out;
    }
    if ((r = rule_create(&c)) != NEXT)
        goto out;
    c.create = state_get(&c, "m.room.create", "");
    pl_ev = state_get(&c, "m.room.power_levels", "");
    c.pl = pl_ev ? json_object_get(pl_ev, "content") : NULL;
    if (pl_ev && !json_is_object(c.pl)) {
        r = bad_levels(&c, "-");
        goto out;
    }
    if ((r = auth_events_selected(&c, &has_create)) != NEXT ||
        (r = auth_events_have_create(&c, has_create)) != NEXT || (r = create_federates(&c)) != NEXT)
        goto out;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]) && r == NEXT; i++)
        r = rules[i](&c);
out:
    /* SPEC: rooms/v1 auth rules 12 "Otherwise, allow." */
    return r != REJECT;
}

bool
auth_redaction_may_apply(const struct room_version *v, const json_t *redaction,
                         const json_t *original, const struct auth_state *state)
{
    const json_t *pl_ev, *create, *pl;
    int64_t have, need;

    (void)v;
    if (!json_is_object(redaction) || !json_is_object(original))
        return false;
    /* SPEC: rooms/v3 "Servers should only apply redactions to events where the sender's
     * domains match, or the sender of the redaction has the appropriate permissions per the
     * power levels." */
    if (same_domain(str_at(redaction, "sender"), str_at(original, "sender")))
        return true;
    create = state && state->get ? state->get(state->ctx, "m.room.create", "") : NULL;
    pl_ev = state && state->get ? state->get(state->ctx, "m.room.power_levels", "") : NULL;
    pl = pl_ev ? json_object_get(pl_ev, "content") : NULL;
    if (!user_level(pl, create, str_at(redaction, "sender"), v && v->integer_power_levels_only,
                    &have) ||
        !action_level(pl, "redact", v && v->integer_power_levels_only, &need))
        return false;
    return have >= need;
}

/* SPEC: server_server_api "Auth events selection" */
size_t
auth_events_keys(const json_t *ev, struct auth_key *out, size_t cap)
{
    const char *type = str_at(ev, "type"), *sender = str_at(ev, "sender");
    const json_t *content = json_object_get(ev, "content");
    struct auth_key keys[6];
    size_t n = 0, written = 0;

    /* SPEC: "The auth_events for the m.room.create event in a room is empty" */
    if (!type || strcmp(type, "m.room.create") == 0)
        return 0;
    keys[n++] = (struct auth_key){"m.room.create", ""};
    keys[n++] = (struct auth_key){"m.room.power_levels", ""};
    if (sender)
        keys[n++] = (struct auth_key){"m.room.member", sender};
    if (strcmp(type, "m.room.member") == 0) {
        const char *target = str_at(ev, "state_key");
        const char *membership = str_at(content, "membership");
        const char *token = str_at(
            json_object_get(json_object_get(content, "third_party_invite"), "signed"), "token");

        if (target && (!sender || strcmp(target, sender) != 0))
            keys[n++] = (struct auth_key){"m.room.member", target};
        if (membership && (strcmp(membership, "join") == 0 || strcmp(membership, "invite") == 0 ||
                           strcmp(membership, "knock") == 0))
            keys[n++] = (struct auth_key){"m.room.join_rules", ""};
        if (membership && strcmp(membership, "invite") == 0 && token)
            keys[n++] = (struct auth_key){"m.room.third_party_invite", token};
    }
    for (size_t i = 0; i < n && written < cap; i++)
        out[written++] = keys[i];
    return written;
}
