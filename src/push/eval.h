/* Push rule evaluation (modules/push.rst "Conditions", "Actions"). Pure.
 *
 * A ruleset (push_rules_ruleset's JSON) is compiled once into a push_compiled, which holds no
 * per-user data: the two server-default rules that name the user (.m.rule.invite_for_me's
 * state_key, .m.rule.contains_user_name's pattern) refer to "the member being evaluated", so
 * every user without changes shares one compiled ruleset. An event is prepared once
 * (push_event_new: lower-cased fields, member count, power levels), then each member is
 * evaluated against it cheaply. What does not depend on the member is found once per event and
 * ruleset (the first rule that matches for everyone; before it, the rules naming the member
 * whose other conditions hold), so per member only the conditions naming the member (display
 * name, localpart, own invite) are checked, and a name is first looked up among the body's
 * words. */
#ifndef HEARTH_PUSH_EVAL_H
#define HEARTH_PUSH_EVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct push_compiled;
struct push_event;

/* What the matching rule says: its actions as JSON text, and whether they notify (notify or
 * coalesce; SPEC: servers without coalescing "should treat it as the notify action") and
 * highlight (SPEC: a highlight tweak without value is true). Owned by the compiled ruleset. */
struct push_result {
    const char *rule_id;
    const char *actions; /* compact JSON array */
    bool notify;
    bool highlight;
};

/* Compiles {"global": {...}} (disabled rules are left out). New, reference count 1. */
struct push_compiled *push_compile(const json_t *ruleset);
struct push_compiled *push_compiled_ref(struct push_compiled *c);
void push_compiled_unref(struct push_compiled *c);

/* Prepares an event (borrowed until push_event_free): member_count is the room's joined
 * members; power_levels the content of m.room.power_levels (NULL: none, then creator has 100
 * and everyone else 0). */
struct push_event *push_event_new(const json_t *event, int64_t member_count,
                                  const json_t *power_levels, const char *creator);
void push_event_free(struct push_event *pe);

/* The first enabled rule matching the event for this member, or NULL when none matches.
 * display_name: the member's display name in the room, or NULL. The event remembers
 * conditions of the rulesets it was evaluated with: they must outlive it. */
const struct push_result *push_evaluate(const struct push_compiled *c, struct push_event *pe,
                                        const char *user_id, const char *display_name);

/* A member prepared for evaluation (push_member_init): the two strings are borrowed; the rest
 * is what looking for the member's names in a body needs, computed once (push.c keeps it while
 * the room's members do not change). */
struct push_member {
    const char *user_id;
    const char *display_name; /* the member's display name in the room, or NULL */
    size_t name_len, local_len;
    uint64_t name_word, local_word; /* the first words' hashes (0: none) */
    bool prefilter;                 /* each name is empty or has a first word */
};

void push_member_init(struct push_member *m, const char *user_id, const char *display_name);
/* push_evaluate for a prepared member. */
const struct push_result *push_evaluate_member(const struct push_compiled *c, struct push_event *pe,
                                               const struct push_member *m);

/* The same answer as push_evaluate by the definition: every enabled rule in order, every
 * condition checked, nothing shared between members or remembered. For tests. */
const struct push_result *push_evaluate_reference(const struct push_compiled *c,
                                                  struct push_event *pe, const char *user_id,
                                                  const char *display_name);

/* SPEC: event_match globs ('*', '?', [abc], [a-z], [!a-z]), case-insensitive (ASCII). With
 * word_boundary (content.body, as Synapse) the pattern may match anywhere in value between
 * word boundaries; otherwise it must match the whole value. Exposed for tests. */
bool push_glob_match(const char *pattern, const char *value, bool word_boundary);

#endif
