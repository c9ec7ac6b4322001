/* Push rulesets (modules/push.rst, pushrules.yaml): the server-default rules of r0.6.1 and a
 * user's changes to them. Pure: JSON in, JSON out.
 *
 * A user's changes are one JSON document (stored as text by the store):
 *   {"override": [rule...], "content": [...], "room": [...], "sender": [...],
 *    "underride": [...], "defaults": {rule_id: {"enabled": bool, "actions": [...]}}}
 * where each kind lists the user's own rules in priority order as
 * {"rule_id", "enabled", "actions", and "conditions" (override, underride) or "pattern"
 * (content)}, and "defaults" holds what the user changed of the server-default rules. */
#ifndef HEARTH_PUSH_RULES_H
#define HEARTH_PUSH_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The kinds in descending priority (SPEC: "Global Override ... Global Underride"). */
enum push_kind { PUSH_OVERRIDE, PUSH_CONTENT, PUSH_ROOM, PUSH_SENDER, PUSH_UNDERRIDE, PUSH_NKINDS };

extern const char *const push_kind_names[PUSH_NKINDS];
/* The kind named s, or -1. */
int push_kind_parse(const char *s);

/* The user's ruleset as clients see it and as m.push_rules carries it:
 * {"global": {kind: [rule...]}}, each rule with rule_id, default, enabled, actions and its
 * conditions or pattern. In each kind the user's rules come first, then the server-default ones
 * (SPEC: server-default rules "operate at a lower priority than user-defined rules").
 * doc may be NULL (no changes). New reference. */
json_t *push_rules_ruleset(const json_t *doc, const char *user_id);
/* The rule of that kind and ID in a ruleset (borrowed), or NULL. */
json_t *push_rules_find(const json_t *ruleset, enum push_kind kind, const char *rule_id);
/* True if rule_id names a server-default rule of that kind. */
bool push_rules_is_default(enum push_kind kind, const char *rule_id);

/* SPEC: actions are "notify", "dont_notify", "coalesce" or {"set_tweak": name, ...}. */
bool push_actions_valid(const json_t *actions);

enum push_edit_rc {
    PUSH_EDIT_OK = 0,
    PUSH_EDIT_NOT_FOUND, /* no such rule (404) */
    PUSH_EDIT_INVALID,   /* a bad body, before/after or rule ID (400); err says why */
};

/* The edits of pushrules.yaml on a document (changed in place; create one with
 * json_object()). err (errlen bytes) says why an edit was refused. */
/* PUT .../{kind}/{ruleId}: adds or replaces a user rule from the request body (actions, and
 * conditions, pattern as the kind needs), placed just before `before` or just after `after`
 * (user rules of the same kind), else first of its kind. A new rule is enabled; a replaced one
 * keeps its enabled state. */
enum push_edit_rc push_rules_put(json_t *doc, enum push_kind kind, const char *rule_id,
                                 const json_t *body, const char *before, const char *after,
                                 char *err, size_t errlen);
/* DELETE: a user rule; server-default rules cannot be deleted (PUSH_EDIT_INVALID). */
enum push_edit_rc push_rules_delete(json_t *doc, enum push_kind kind, const char *rule_id,
                                    char *err, size_t errlen);
/* PUT .../enabled and .../actions, for user and server-default rules alike. */
enum push_edit_rc push_rules_set_enabled(json_t *doc, enum push_kind kind, const char *rule_id,
                                         bool enabled, char *err, size_t errlen);
enum push_edit_rc push_rules_set_actions(json_t *doc, enum push_kind kind, const char *rule_id,
                                         const json_t *actions, char *err, size_t errlen);

#endif
