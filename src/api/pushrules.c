/* pushrules.yaml, modules/push.rst "Push Rules: API": the user's push rules, the r0.6.1
 * server-default rules included. Changes are stored as the user's rule document together
 * with the whole ruleset as m.push_rules account data, which /sync carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/log.h"
#include "json/json.h"
#include "push/push.h"
#include "push/rules.h"
#include "store/store.h"
#include "sync/filter.h"
#include "sync/notifier.h"

/* The user's ruleset ({"global": {...}}), or NULL after replying. */
static json_t *
ruleset_or_reply(struct req *r)
{
    char *text = NULL;
    json_t *doc = NULL, *rs;
    enum store_rc rc = store_push_rules_get(r->hs->store, r->user_id, &text);

    if (rc == STORE_OK && !(doc = json_loads(text, 0, NULL)))
        log_error("push rules of %s are unreadable; serving the defaults", r->user_id);
    free(text);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "push rules lookup failed");
        return NULL;
    }
    rs = push_rules_ruleset(doc, r->user_id);
    json_decref(doc);
    return rs;
}

/* Only the "global" scope exists in r0.6.1 (device scopes were dropped). */
static bool
scope_ok_or_reply(struct req *r, const char *scope)
{
    if (strcmp(scope, "global") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Unknown push rule scope '%s' (only 'global')", scope);
        return false;
    }
    return true;
}

/* The kind in r->params[1] (after the scope in params[0]), or -1 after replying. */
static int
kind_or_reply(struct req *r)
{
    int kind;

    if (!scope_ok_or_reply(r, r->params[0]))
        return -1;
    kind = push_kind_parse(r->params[1]);
    if (kind < 0)
        reply_error(r, MERR_INVALID_PARAM,
                    "Unknown push rule kind '%s' (override, content, room, sender or underride)",
                    r->params[1]);
    return kind;
}

/* The rule in the path, or NULL after replying. *rs is the ruleset holding it. */
static json_t *
rule_or_reply(struct req *r, json_t **rs)
{
    int kind = kind_or_reply(r);
    json_t *rule;

    *rs = NULL;
    if (kind < 0 || !(*rs = ruleset_or_reply(r)))
        return NULL;
    rule = push_rules_find(*rs, (enum push_kind)kind, r->params[2]);
    if (!rule) {
        reply_error(r, MERR_NOT_FOUND, "Unknown push rule");
        json_decref(*rs);
        *rs = NULL;
    }
    return rule;
}

/* GET /_matrix/client/r0/pushrules/ */
void
pushrules_get_all(struct req *r)
{
    json_t *rs = ruleset_or_reply(r);
    if (rs)
        reply_json(r, 200, rs);
}

/* GET /_matrix/client/r0/pushrules/{scope}/ */
void
pushrules_get_scope(struct req *r)
{
    json_t *rs;

    if (!scope_ok_or_reply(r, r->params[0]) || !(rs = ruleset_or_reply(r)))
        return;
    reply_json(r, 200, json_incref(json_object_get(rs, "global")));
    json_decref(rs);
}

/* GET /_matrix/client/r0/pushrules/{scope}/{kind}/ (Synapse answers the kind's list) */
void
pushrules_get_kind(struct req *r)
{
    int kind = kind_or_reply(r);
    json_t *rs;

    if (kind < 0 || !(rs = ruleset_or_reply(r)))
        return;
    reply_json(r, 200,
               json_incref(json_object_get(json_object_get(rs, "global"), push_kind_names[kind])));
    json_decref(rs);
}

/* GET /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId} */
void
pushrules_get_rule(struct req *r)
{
    json_t *rs, *rule = rule_or_reply(r, &rs);
    if (!rule)
        return;
    reply_json(r, 200, json_incref(rule));
    json_decref(rs);
}

/* GET /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId}/enabled */
void
pushrules_get_enabled(struct req *r)
{
    json_t *rs, *rule = rule_or_reply(r, &rs);
    if (!rule)
        return;
    reply_json(r, 200, json_pack("{s:O}", "enabled", json_object_get(rule, "enabled")));
    json_decref(rs);
}

/* GET /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId}/actions */
void
pushrules_get_actions(struct req *r)
{
    json_t *rs, *rule = rule_or_reply(r, &rs);
    if (!rule)
        return;
    reply_json(r, 200, json_pack("{s:O}", "actions", json_object_get(rule, "actions")));
    json_decref(rs);
}

/* ---- changes ---- */

enum op { OP_PUT, OP_DELETE, OP_ENABLED, OP_ACTIONS };

struct edit {
    enum op op;
    enum push_kind kind;
    const char *user_id, *rule_id, *before, *after;
    const json_t *body;
    enum push_edit_rc result;
    char err[256];
};

/* Runs in the store's writer: the document as stored, edited, and the ruleset it makes. */
static enum store_rc
edit_doc(void *ctx, const char *old_doc, char **new_doc, char **account_data)
{
    struct edit *e = ctx;
    json_t *doc = old_doc ? json_loads(old_doc, 0, NULL) : NULL, *rs;

    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    switch (e->op) {
    case OP_PUT:
        e->result = push_rules_put(doc, e->kind, e->rule_id, e->body, e->before, e->after, e->err,
                                   sizeof(e->err));
        break;
    case OP_DELETE:
        e->result = push_rules_delete(doc, e->kind, e->rule_id, e->err, sizeof(e->err));
        break;
    case OP_ENABLED:
        e->result = push_rules_set_enabled(doc, e->kind, e->rule_id,
                                           json_is_true(json_object_get(e->body, "enabled")),
                                           e->err, sizeof(e->err));
        break;
    case OP_ACTIONS:
        e->result = push_rules_set_actions(
            doc, e->kind, e->rule_id, json_object_get(e->body, "actions"), e->err, sizeof(e->err));
        break;
    }
    if (e->result != PUSH_EDIT_OK) {
        json_decref(doc);
        return STORE_EXISTS; /* refused: nothing is written */
    }
    rs = push_rules_ruleset(doc, e->user_id);
    *new_doc = json_dump_compact(doc);
    *account_data = json_dump_compact(rs);
    json_decref(rs);
    json_decref(doc);
    return STORE_OK;
}

static void
edit_and_reply(struct req *r, enum op op)
{
    int kind = kind_or_reply(r);
    struct edit e = {0};
    const char *me = r->user_id;
    enum store_rc rc;

    if (kind < 0)
        return;
    e = (struct edit){op,           (enum push_kind)kind,   r->user_id,
                      r->params[2], req_query(r, "before"), req_query(r, "after"),
                      r->json,      PUSH_EDIT_OK,           {0}};
    rc = store_push_rules_edit(r->hs->store, r->user_id, edit_doc, &e, NULL);
    if (rc == STORE_EXISTS && e.result == PUSH_EDIT_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "%s", e.err);
        return;
    }
    if (rc == STORE_EXISTS && e.result == PUSH_EDIT_INVALID) {
        reply_error(r, MERR_INVALID_PARAM, "%s", e.err);
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "push rules store failed");
        return;
    }
    push_user_changed(r->hs->push, r->user_id);
    /* SPEC: "When a user changes their push rules a m.push_rules event is sent to all clients
     * in the account_data section of their next /sync request." */
    notifier_notify(r->hs->notifier, &me, 1);
    reply_empty(r);
}

/* PUT /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId} */
void
pushrules_put_rule(struct req *r)
{
    if (!json_object_get(r->json, "actions")) {
        reply_error(r, MERR_MISSING_PARAM, "actions is required");
        return;
    }
    edit_and_reply(r, OP_PUT);
}

/* DELETE /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId} */
void
pushrules_delete_rule(struct req *r)
{
    edit_and_reply(r, OP_DELETE);
}

/* PUT /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId}/enabled */
void
pushrules_put_enabled(struct req *r)
{
    json_t *v = json_object_get(r->json, "enabled");
    if (!v) {
        reply_error(r, MERR_MISSING_PARAM, "enabled is required");
        return;
    }
    if (!json_is_boolean(v)) {
        reply_error(r, MERR_INVALID_PARAM, "enabled must be true or false");
        return;
    }
    edit_and_reply(r, OP_ENABLED);
}

/* PUT /_matrix/client/r0/pushrules/{scope}/{kind}/{ruleId}/actions */
void
pushrules_put_actions(struct req *r)
{
    if (!json_object_get(r->json, "actions")) {
        reply_error(r, MERR_MISSING_PARAM, "actions is required");
        return;
    }
    edit_and_reply(r, OP_ACTIONS);
}

void
api_push_rules_initial_sync(const char *user_id, const struct event_filter *f, json_t *events)
{
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "m.push_rules") == 0)
            return; /* the stored one, written with every change */
    }
    ev = json_pack("{s:s, s:o}", "type", "m.push_rules", "content",
                   push_rules_ruleset(NULL, user_id));
    if (filter_event_matches(f, NULL, ev))
        json_array_append_new(events, ev);
    else
        json_decref(ev);
}
