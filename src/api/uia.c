#include "api/uia.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/hs.h"
#include "api/threepid.h"
#include "api/userid.h"
#include "core/password.h"
#include "core/util.h"
#include "http/http.h"
#include "json/json.h"
#include "store/store.h"

#define SESSION_TTL_MS (60 * 60 * 1000)
#define MAX_COMPLETED 8

struct uia_session {
    struct uia_session *next;
    char *id;
    char *op;
    char *user_id;                        /* whose session it is; NULL when nobody is known */
    const char *completed[MAX_COMPLETED]; /* point at static stage names */
    size_t n_completed;
    int64_t created_ms;
    char *email;     /* m.login.email.identity: the validated address */
    char *email_sid; /* and its validation session */
    int64_t email_validated_ts;
};

struct uia {
    pthread_mutex_t lock;
    struct uia_session *head;
};

/* Stage names a flow can use; completed[] points into this table. */
static const char *const known_stages[] = {"m.login.dummy", "m.login.password",
                                           "m.login.email.identity", "m.login.sso"};

struct uia *
uia_new(void)
{
    struct uia *u = xcalloc(1, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    return u;
}

static void
session_free(struct uia_session *s)
{
    free(s->id);
    free(s->op);
    free(s->user_id);
    free(s->email);
    free(s->email_sid);
    free(s);
}

void
uia_free(struct uia *u)
{
    struct uia_session *s, *next;
    if (!u)
        return;
    for (s = u->head; s; s = next) {
        next = s->next;
        session_free(s);
    }
    pthread_mutex_destroy(&u->lock);
    free(u);
}

bool
uia_flows_done(const struct uia_flow *flows, size_t n, const char *const *completed,
               size_t n_completed)
{
    for (size_t f = 0; f < n; f++) {
        bool all = true;
        for (const char *const *st = flows[f].stages; *st && all; st++) {
            bool found = false;
            for (size_t c = 0; c < n_completed && !found; c++)
                found = strcmp(*st, completed[c]) == 0;
            all = found;
        }
        if (all)
            return true;
    }
    return false;
}

static bool
stage_offered(const struct uia_flow *flows, size_t n, const char *stage)
{
    for (size_t f = 0; f < n; f++)
        for (const char *const *st = flows[f].stages; *st; st++)
            if (strcmp(*st, stage) == 0)
                return true;
    return false;
}

/* Snapshot of a session taken under the lock. */
struct snapshot {
    char id[64];
    const char *completed[MAX_COMPLETED];
    size_t n_completed;
};

static void
snap(const struct uia_session *s, struct snapshot *out)
{
    snprintf(out->id, sizeof(out->id), "%s", s->id);
    memcpy(out->completed, s->completed, sizeof(out->completed));
    out->n_completed = s->n_completed;
}

static bool
same_user(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void
new_session(struct uia *u, const char *op, const char *user_id, struct snapshot *out)
{
    struct uia_session *s = xcalloc(1, sizeof(*s)), **pp;
    int64_t now = util_now_ms();

    s->id = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 24);
    s->op = xstrdup(op);
    s->user_id = user_id ? xstrdup(user_id) : NULL;
    s->created_ms = now;
    pthread_mutex_lock(&u->lock);
    for (pp = &u->head; *pp;) {
        if (now - (*pp)->created_ms > SESSION_TTL_MS) {
            struct uia_session *dead = *pp;
            *pp = dead->next;
            session_free(dead);
        } else {
            pp = &(*pp)->next;
        }
    }
    s->next = u->head;
    u->head = s;
    snap(s, out);
    pthread_mutex_unlock(&u->lock);
}

enum find { FOUND, NO_SESSION, WRONG_OP };

static enum find
find_session(struct uia *u, const char *id, const char *op, const char *user_id,
             struct snapshot *out)
{
    enum find res = NO_SESSION;
    pthread_mutex_lock(&u->lock);
    for (struct uia_session *s = u->head; s; s = s->next) {
        if (strcmp(s->id, id) == 0) {
            res = strcmp(s->op, op) == 0 && same_user(s->user_id, user_id) ? FOUND : WRONG_OP;
            if (res == FOUND)
                snap(s, out);
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return res;
}

static void
mark_completed(struct uia *u, const char *id, const char *stage, struct snapshot *out)
{
    pthread_mutex_lock(&u->lock);
    for (struct uia_session *s = u->head; s; s = s->next) {
        if (strcmp(s->id, id) != 0)
            continue;
        bool have = false;
        for (size_t i = 0; i < s->n_completed; i++)
            have = have || strcmp(s->completed[i], stage) == 0;
        if (!have && s->n_completed < MAX_COMPLETED)
            s->completed[s->n_completed++] = stage;
        snap(s, out);
        break;
    }
    pthread_mutex_unlock(&u->lock);
}

static void
record_email(struct uia *u, const char *id, const char *email, const char *sid,
             int64_t validated_ts)
{
    pthread_mutex_lock(&u->lock);
    for (struct uia_session *s = u->head; s; s = s->next) {
        if (strcmp(s->id, id) == 0) {
            free(s->email);
            free(s->email_sid);
            s->email = xstrdup(email);
            s->email_sid = sid ? xstrdup(sid) : NULL;
            s->email_validated_ts = validated_ts;
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
}

/* Removes the session, handing what its stages established to res (if non-NULL). */
static void
remove_session(struct uia *u, const char *id, struct uia_result *res)
{
    pthread_mutex_lock(&u->lock);
    for (struct uia_session **pp = &u->head; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            struct uia_session *dead = *pp;
            *pp = dead->next;
            if (res) {
                res->email = dead->email;
                res->email_sid = dead->email_sid;
                res->email_validated_ts = dead->email_validated_ts;
                dead->email = dead->email_sid = NULL;
            }
            session_free(dead);
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
}

static void
reply_progress(struct req *r, const struct uia_flow *flows, size_t n, const struct snapshot *s,
               enum merr err, const char *msg)
{
    json_t *body = json_object(), *jflows = json_array(), *done = json_array();

    for (size_t f = 0; f < n; f++) {
        json_t *stages = json_array();
        for (const char *const *st = flows[f].stages; *st; st++)
            json_array_append_new(stages, json_string(*st));
        json_array_append_new(jflows, json_pack("{s:o}", "stages", stages));
    }
    for (size_t i = 0; i < s->n_completed; i++)
        json_array_append_new(done, json_string(s->completed[i]));
    json_object_set_new(body, "flows", jflows);
    json_object_set_new(body, "params", json_object());
    json_object_set_new(body, "session", json_string(s->id));
    json_object_set_new(body, "completed", done);
    if (msg) {
        json_object_set_new(body, "errcode", json_string(merr_code(err)));
        json_object_set_new(body, "error", json_string(msg));
    }
    reply_json(r, 401, body);
}

/* m.login.password: the identified user must be user_id and the password must match. */
static bool
check_password(struct req *r, const json_t *auth, const char *user_id)
{
    const json_t *ident = json_object_get(auth, "identifier");
    const char *who = NULL, *pw = json_get_str(auth, "password", NULL);
    struct store_user u;
    char *qualified = NULL, *owner = NULL;
    bool ok = false;

    if (json_is_object(ident)) {
        const char *type = json_get_str(ident, "type", NULL);
        if (type && strcmp(type, "m.id.user") == 0) {
            who = json_get_str(ident, "user", NULL);
        } else if (type && strcmp(type, "m.id.thirdparty") == 0) {
            /* SPEC: "Alternatively reply using a 3PID bound to the user's account". */
            const char *medium = json_get_str(ident, "medium", NULL);
            const char *addr = json_get_str(ident, "address", NULL);
            char *email = addr ? threepid_canonical_email(addr) : NULL;
            if (medium && strcmp(medium, "email") == 0 && email)
                store_threepid_owner(r->hs->store, "email", email, &owner);
            free(email);
            who = owner;
        }
    } else {
        who = json_get_str(auth, "user", NULL);
    }
    if (!user_id || !who || !pw)
        goto out;
    qualified = userid_qualify(r->hs, who);
    if (!qualified || strcmp(qualified, user_id) != 0)
        goto out;
    if (store_user_get(r->hs->store, user_id, &u) != STORE_OK)
        goto out;
    ok = !u.deactivated && password_verify(u.password_hash, pw);
    store_user_clear(&u);
out:
    free(qualified);
    free(owner);
    return ok;
}

/* SPEC: "m.login.email.identity": threepid_creds (Synapse; r0.6.1 writes threepidCreds, a
 * list) with sid and client_secret of a session this server validated. 0 and the address,
 * or -1. */
static int
check_email(struct req *r, const json_t *auth, char **email, const char **sid_out,
            int64_t *validated_ts)
{
    const json_t *creds = json_object_get(auth, "threepid_creds");
    const char *sid, *secret;

    if (!creds)
        creds = json_object_get(auth, "threepidCreds");
    if (json_is_array(creds))
        creds = json_array_get(creds, 0);
    sid = json_get_str(creds, "sid", NULL);
    secret = json_get_str(creds, "client_secret", NULL);
    if (!json_is_object(creds) || !sid || !secret)
        return -1;
    *sid_out = sid;
    return threepid_session_validated(r->hs, sid, secret, email, validated_ts);
}

void
uia_result_clear(struct uia_result *res)
{
    free(res->email);
    free(res->email_sid);
    memset(res, 0, sizeof(*res));
}

bool
uia_check_or_reply(struct req *r, const char *op, const struct uia_flow *flows, size_t n,
                   const char *user_id)
{
    return uia_check_ex_or_reply(r, op, flows, n, user_id, NULL);
}

bool
uia_check_ex_or_reply(struct req *r, const char *op, const struct uia_flow *flows, size_t n,
                      const char *user_id, struct uia_result *res)
{
    struct uia *u = r->hs->uia;
    const json_t *auth = json_object_get(r->json, "auth");
    struct snapshot s;
    const char *sid, *type, *stage = NULL;
    bool wrong = false;

    if (res)
        memset(res, 0, sizeof(*res));
    if (!auth || json_is_null(auth)) {
        new_session(u, op, user_id, &s);
        reply_progress(r, flows, n, &s, MERR_UNKNOWN, NULL);
        return false;
    }
    if (!json_is_object(auth)) {
        reply_error(r, MERR_BAD_JSON, "'auth' must be an object");
        return false;
    }
    sid = json_get_str(auth, "session", &wrong);
    type = json_get_str(auth, "type", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON, "'auth.session' and 'auth.type' must be strings");
        return false;
    }
    if (sid) {
        switch (find_session(u, sid, op, user_id, &s)) {
        case NO_SESSION:
            reply_error(r, MERR_UNKNOWN, "Unknown session ID: %s", sid);
            return false;
        case WRONG_OP:
            reply_error(r, MERR_FORBIDDEN,
                        "Requested operation has changed during the UI authentication session");
            return false;
        case FOUND:
            break;
        }
    } else {
        new_session(u, op, user_id, &s);
    }
    if (type) {
        for (size_t i = 0; i < sizeof(known_stages) / sizeof(known_stages[0]); i++)
            if (strcmp(type, known_stages[i]) == 0)
                stage = known_stages[i];
        if (!stage || !stage_offered(flows, n, stage)) {
            reply_error_status(r, 400, MERR_UNRECOGNIZED, "Unrecognised login type: %s", type);
            return false;
        }
        if (strcmp(stage, "m.login.password") == 0) {
            if (!check_password(r, auth, user_id)) {
                reply_progress(r, flows, n, &s, MERR_FORBIDDEN, "Invalid username or password");
                return false;
            }
        } else if (strcmp(stage, "m.login.email.identity") == 0) {
            char *email = NULL;
            const char *esid = NULL;
            int64_t vts = 0;
            if (check_email(r, auth, &email, &esid, &vts) != 0) {
                /* Synapse's answer: 401 M_UNAUTHORIZED in the UIA body. */
                reply_progress(r, flows, n, &s, MERR_UNAUTHORIZED,
                               "Unable to get validated threepid");
                return false;
            }
            record_email(u, s.id, email, esid, vts);
            free(email);
        } else if (strcmp(stage, "m.login.sso") == 0) {
            /* SPEC: m.login.sso is completed through its fallback page, never by a body. */
            reply_progress(r, flows, n, &s, MERR_UNAUTHORIZED,
                           "Complete single sign-on through the fallback page first");
            return false;
        }
        mark_completed(u, s.id, stage, &s);
    }
    if (uia_flows_done(flows, n, s.completed, s.n_completed)) {
        remove_session(u, s.id, res);
        return true;
    }
    reply_progress(r, flows, n, &s, MERR_UNKNOWN, NULL);
    return false;
}

/* ---- 3PID and SSO stages, fallback pages (issue 10) ---- */

size_t
uia_user_flows(struct hs *hs, const char *user_id, struct uia_flow *flows)
{
    struct store_user u;
    char **providers = NULL;
    size_t n = 0, np = 0;
    bool has_password = false;

    if (store_user_get(hs->store, user_id, &u) == STORE_OK)
        has_password = u.password_hash != NULL;
    store_user_clear(&u);
    if (store_external_id_providers(hs->store, user_id, &providers, &np) != STORE_OK)
        np = 0;
    store_strings_free(providers, np);
    if (has_password || np == 0)
        flows[n++] = (struct uia_flow){{"m.login.password", NULL}};
    if (np > 0)
        flows[n++] = (struct uia_flow){{"m.login.sso", NULL}};
    return n;
}

bool
uia_check_user_or_reply(struct req *r, const char *op, const char *user_id)
{
    struct uia_flow flows[2];
    size_t n = uia_user_flows(r->hs, user_id, flows);
    return uia_check_or_reply(r, op, flows, n, user_id);
}

int
uia_session_info(struct uia *u, const char *session, char **op, char **user_id)
{
    int rc = -1;

    *op = *user_id = NULL;
    pthread_mutex_lock(&u->lock);
    for (struct uia_session *s = u->head; s; s = s->next) {
        if (strcmp(s->id, session) == 0) {
            *op = xstrdup(s->op);
            *user_id = s->user_id ? xstrdup(s->user_id) : NULL;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return rc;
}

bool
uia_stage_known(const char *stage)
{
    for (size_t i = 0; i < sizeof(known_stages) / sizeof(known_stages[0]); i++)
        if (strcmp(stage, known_stages[i]) == 0)
            return true;
    return false;
}

bool
uia_mark_done(struct uia *u, const char *session, const char *stage, const char *email,
              const char *email_sid, int64_t email_validated_ts)
{
    const char *name = NULL;
    struct snapshot s;
    char *op, *user;

    for (size_t i = 0; i < sizeof(known_stages) / sizeof(known_stages[0]); i++)
        if (strcmp(stage, known_stages[i]) == 0)
            name = known_stages[i];
    if (!name || uia_session_info(u, session, &op, &user) != 0)
        return false;
    free(op);
    free(user);
    if (email)
        record_email(u, session, email, email_sid, email_validated_ts);
    s.n_completed = 0;
    mark_completed(u, session, name, &s);
    return true;
}
