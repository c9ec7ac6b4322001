#include "api/uia.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/hs.h"
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
    const char *completed[MAX_COMPLETED]; /* point at static stage names */
    size_t n_completed;
    int64_t created_ms;
};

struct uia {
    pthread_mutex_t lock;
    struct uia_session *head;
};

/* Stage names a flow can use; completed[] points into this table. */
static const char *const known_stages[] = {"m.login.dummy", "m.login.password"};

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

static void
new_session(struct uia *u, const char *op, struct snapshot *out)
{
    struct uia_session *s = xcalloc(1, sizeof(*s)), **pp;
    int64_t now = util_now_ms();

    s->id = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 24);
    s->op = xstrdup(op);
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
find_session(struct uia *u, const char *id, const char *op, struct snapshot *out)
{
    enum find res = NO_SESSION;
    pthread_mutex_lock(&u->lock);
    for (struct uia_session *s = u->head; s; s = s->next) {
        if (strcmp(s->id, id) == 0) {
            res = strcmp(s->op, op) == 0 ? FOUND : WRONG_OP;
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
remove_session(struct uia *u, const char *id)
{
    pthread_mutex_lock(&u->lock);
    for (struct uia_session **pp = &u->head; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            struct uia_session *dead = *pp;
            *pp = dead->next;
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
    char *qualified = NULL;
    bool ok = false;

    if (json_is_object(ident)) {
        if (json_is_string(json_object_get(ident, "type")) &&
            strcmp(json_string_value(json_object_get(ident, "type")), "m.id.user") == 0)
            who = json_get_str(ident, "user", NULL);
    } else {
        who = json_get_str(auth, "user", NULL);
    }
    if (!user_id || !who || !pw)
        return false;
    qualified = userid_qualify(r->hs, who);
    if (!qualified || strcmp(qualified, user_id) != 0)
        goto out;
    if (store_user_get(r->hs->store, user_id, &u) != STORE_OK)
        goto out;
    ok = !u.deactivated && password_verify(u.password_hash, pw);
    store_user_clear(&u);
out:
    free(qualified);
    return ok;
}

bool
uia_check_or_reply(struct req *r, const char *op, const struct uia_flow *flows, size_t n,
                   const char *user_id)
{
    struct uia *u = r->hs->uia;
    const json_t *auth = json_object_get(r->json, "auth");
    struct snapshot s;
    const char *sid, *type, *stage = NULL;
    bool wrong = false;

    if (!auth || json_is_null(auth)) {
        new_session(u, op, &s);
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
        switch (find_session(u, sid, op, &s)) {
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
        new_session(u, op, &s);
    }
    if (type) {
        for (size_t i = 0; i < sizeof(known_stages) / sizeof(known_stages[0]); i++)
            if (strcmp(type, known_stages[i]) == 0)
                stage = known_stages[i];
        if (!stage || !stage_offered(flows, n, stage)) {
            reply_error_status(r, 400, MERR_UNRECOGNIZED, "Unrecognised login type: %s", type);
            return false;
        }
        bool passed = true;
        if (strcmp(stage, "m.login.password") == 0)
            passed = check_password(r, auth, user_id);
        if (!passed) {
            reply_progress(r, flows, n, &s, MERR_FORBIDDEN, "Invalid username or password");
            return false;
        }
        mark_completed(u, s.id, stage, &s);
    }
    if (uia_flows_done(flows, n, s.completed, s.n_completed)) {
        remove_session(u, s.id);
        return true;
    }
    reply_progress(r, flows, n, &s, MERR_UNKNOWN, NULL);
    return false;
}
