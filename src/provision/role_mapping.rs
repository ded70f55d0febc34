//! Role-mapping membership: the rule-tree edits that add one username to a mapping or take it out, and
//! what the rule evaluator of `elastic_api::rules` says about whether a username is (or may still be)
//! matched, and by which conditions.
//!
//! Only literal usernames in two places are ever edited: a top-level `username` field rule, and a
//! `username` field rule directly inside a top-level `any`. Everything else in the tree is kept as read.

use elastic_api::rules::{
    classify, path_text, Assumptions, CompiledRule, FieldRule, FieldValue, FieldValues, Pattern,
    Rule, Step, Subject, Truth, USERNAME_FIELD,
};

/// Which username values count as matching during an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only literal values decide; wildcards and regular expressions are unknown.
    Literals,
    /// Wildcards and regular expressions are evaluated too. Literals in the places a revoke
    /// edits are counted as already removed.
    AfterRevoke,
}

/// One condition met during an evaluation: a username value that is not false, or a condition on
/// another field.
#[derive(Debug, Clone, PartialEq)]
struct Finding {
    /// Where it is, e.g. `rules.any[1]`.
    path: String,
    /// What it is, in words, e.g. ``the wildcard `dev-*` ``.
    what: String,
    truth: Truth,
    /// Under an odd number of `except`s.
    negated: bool,
}

impl Finding {
    fn describe(&self) -> String {
        format!("{} at {}", self.what, self.path)
    }
}

/// Whether a field rule at `path` is one revoke edits: the top-level rule, or a direct child of the
/// top-level `any`.
fn editable(path: &[Step]) -> bool {
    matches!(path, [] | [Step::Any(_)])
}

/// A username rule value in words.
fn describe_value(value: &FieldValue) -> String {
    match value {
        FieldValue::String(s) => match classify(s) {
            Pattern::Literal(l) => format!("the username `{l}`"),
            Pattern::Wildcard(w) => format!("the wildcard `{w}`"),
            Pattern::Regex(r) => format!("the regular expression `{r}`"),
        },
        other => format!("the value {}", json_of(other)),
    }
}

fn json_of(value: &FieldValue) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The rules' truth for `username` (nothing else known of the user) in `mode`, with the conditions met
/// on the way, evaluated by the rule evaluator the sync uses.
fn evaluate(rules: &Rule, username: &str, mode: Mode) -> (Truth, Vec<Finding>) {
    let compiled = CompiledRule::compile(rules);
    let subject = Subject {
        username,
        realm: None,
    };
    let removed = |path: &[Step], value: &FieldValue| {
        mode == Mode::AfterRevoke && editable(path) && value.literal() == Some(username)
    };
    let assumptions = Assumptions {
        username_patterns_unknown: mode == Mode::Literals,
        without: &removed,
    };
    let (truth, found) = compiled.explain(&subject, &assumptions);
    let mut findings = Vec::new();
    for finding in &found {
        let path = path_text("rules", &finding.path);
        let negated = finding.negated();
        if finding.rule.name == USERNAME_FIELD {
            let values = finding.rule.values.as_slice();
            for (value, truth) in values.iter().zip(&finding.values) {
                if *truth != Truth::False {
                    findings.push(Finding {
                        path: path.clone(),
                        what: describe_value(value),
                        truth: *truth,
                        negated,
                    });
                }
            }
        } else {
            findings.push(Finding {
                path,
                what: format!(
                    "the condition {}",
                    Rule::Field(finding.rule.clone()).to_json()
                ),
                truth: finding.truth,
                negated,
            });
        }
    }
    (truth, findings)
}

/// Whether `username` is matched by a literal value of `rules`, whatever the user's other attributes.
pub fn matched_by_literal(rules: &Rule, username: &str) -> bool {
    evaluate(rules, username, Mode::Literals).0 == Truth::True
}

/// The rules after a grant, or `None` when a literal already matches `username` (nothing to change).
///
/// - `{"field":{"username":V}}`: the username joins V;
/// - `{"any":[...]}`: it joins the first `username` field rule directly inside, or a new
///   `{"field":{"username":"<u>"}}` is appended;
/// - any other rule R becomes `{"any":[R, {"field":{"username":"<u>"}}]}`.
pub fn grant(rules: &Rule, username: &str) -> Option<Rule> {
    if matched_by_literal(rules, username) {
        return None;
    }
    let new_value = FieldValue::String(username.to_owned());
    let username_rule = || {
        Rule::Field(FieldRule {
            name: USERNAME_FIELD.to_owned(),
            values: FieldValues::One(new_value.clone()),
        })
    };
    Some(match rules {
        Rule::Field(field) if field.name == USERNAME_FIELD => Rule::Field(FieldRule {
            name: field.name.clone(),
            values: with_value(&field.values, new_value.clone()),
        }),
        Rule::Any(items) => {
            let mut items = items.clone();
            let existing = items.iter_mut().find_map(|item| match item {
                Rule::Field(field) if field.name == USERNAME_FIELD => Some(field),
                _ => None,
            });
            match existing {
                Some(field) => field.values = with_value(&field.values, new_value.clone()),
                None => items.push(username_rule()),
            }
            Rule::Any(items)
        }
        other => Rule::Any(vec![other.clone(), username_rule()]),
    })
}

/// The `except` rules (as JSON) whose inner rule names `username`: granting wraps the rules in an `any`
/// beside them, which overrides those exclusions for that user.
pub fn excepts_naming(rules: &Rule, username: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect_excepts_naming(rules, username, &mut out);
    out
}

fn collect_excepts_naming(rule: &Rule, username: &str, out: &mut Vec<String>) {
    match rule {
        Rule::Any(items) | Rule::All(items) => {
            for item in items {
                collect_excepts_naming(item, username, out);
            }
        }
        Rule::Except(inner) => {
            if CompiledRule::compile(inner).names_user(username) {
                out.push(rule.to_json());
            }
        }
        Rule::Field(_) => {}
    }
}

fn with_value(values: &FieldValues, value: FieldValue) -> FieldValues {
    let mut all = values.as_slice().to_vec();
    all.push(value);
    FieldValues::Many(all)
}

/// What a revoke would do.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokePlan {
    /// The rules afterwards (equal to the input when nothing was removed).
    pub rules: Rule,
    /// Whether a literal `username` was removed.
    pub removed: bool,
    /// Whether the edit left a mapping that matches nobody (`{"any":[]}`).
    pub matches_nobody: bool,
    /// Rules that definitely still match the user afterwards (wildcards, literals elsewhere); when not
    /// empty, the revoke cannot be done by editing usernames.
    pub still_matched_by: Vec<String>,
    /// Username conditions that still name the user afterwards (a literal or pattern where revoke does not
    /// edit, e.g. inside an `all`), in rules that also depend on attributes only the identity provider
    /// knows: the user is a conditional member, as the sync reports them; when not empty, the revoke
    /// cannot be done by editing usernames.
    pub still_named_by: Vec<String>,
    /// Conditions that may still match the user afterwards, depending on attributes other than the
    /// username (groups, realm, DN, metadata, patterns that cannot be evaluated).
    pub may_match_by: Vec<String>,
}

/// Takes `username` out of the literal positions [`grant`] writes to. A value list never becomes
/// empty: its field rule is dropped from the `any` instead, and a mapping left matching nobody gets the
/// rules `{"any":[]}`.
pub fn revoke(rules: &Rule, username: &str) -> RevokePlan {
    let mut removed = false;
    let mut strip = |field: &FieldRule| -> Option<FieldRule> {
        if field.name != USERNAME_FIELD {
            return Some(field.clone());
        }
        let kept: Vec<FieldValue> = field
            .values
            .as_slice()
            .iter()
            .filter(|v| v.literal() != Some(username))
            .cloned()
            .collect();
        if kept.len() == field.values.as_slice().len() {
            return Some(field.clone());
        }
        removed = true;
        let values = match kept.len() {
            0 => return None,
            1 => FieldValues::One(kept[0].clone()),
            _ => FieldValues::Many(kept),
        };
        Some(FieldRule {
            name: field.name.clone(),
            values,
        })
    };
    let edited = match rules {
        Rule::Field(field) => match strip(field) {
            Some(field) => Rule::Field(field),
            None => Rule::Any(Vec::new()),
        },
        Rule::Any(items) => Rule::Any(
            items
                .iter()
                .filter_map(|item| match item {
                    Rule::Field(field) => strip(field).map(Rule::Field),
                    other => Some(other.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    let matches_nobody = removed && matches!(&edited, Rule::Any(items) if items.is_empty());
    // Evaluated on the rules as read, with the removed literals counted out, so that the paths point
    // into the mapping as the user knows it.
    let (overall, findings) = evaluate(rules, username, Mode::AfterRevoke);
    let positive = |wanted: &[Truth]| {
        findings
            .iter()
            .filter(|f| wanted.contains(&f.truth) && !f.negated)
            .map(Finding::describe)
            .collect::<Vec<_>>()
    };
    let (still_matched_by, still_named_by, may_match_by) = match overall {
        Truth::True => (positive(&[Truth::True]), Vec::new(), Vec::new()),
        Truth::Unknown => (
            Vec::new(),
            positive(&[Truth::True]),
            positive(&[Truth::Unknown]),
        ),
        Truth::False => (Vec::new(), Vec::new(), Vec::new()),
    };
    RevokePlan {
        rules: edited,
        removed,
        matches_nobody,
        still_matched_by,
        still_named_by,
        may_match_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use elastic_api::rules::value_matches;

    fn rule(json: &str) -> Rule {
        serde_json::from_str(json).expect("valid rule")
    }

    fn granted(json: &str, user: &str) -> Option<String> {
        grant(&rule(json), user).map(|r| r.to_json())
    }

    fn wildcard_matches(pattern: &str, text: &str) -> bool {
        value_matches(&FieldValue::String(pattern.to_owned()), text) == Truth::True
    }

    #[test]
    fn wildcards_follow_elasticsearch() {
        assert!(wildcard_matches("contractor-*", "contractor-zoe"));
        assert!(wildcard_matches("*", "anyone"));
        assert!(wildcard_matches("dev-?o*", "dev-joe"));
        assert!(!wildcard_matches("dev-*", "qa-joe"));
        assert!(wildcard_matches(r"a\*b*", "a*bc"));
        assert!(!wildcard_matches(r"a\*b*", "axbc"));
        assert!(wildcard_matches("*-admin", "es-admin"));
        assert!(!wildcard_matches("*-admin", "es-admins"));
    }

    #[test]
    fn grant_joins_a_top_level_username_rule_scalar_or_list() {
        assert_eq!(
            granted(r#"{"field":{"username":"jdoe"}}"#, "zoe").as_deref(),
            Some(r#"{"field":{"username":["jdoe","zoe"]}}"#)
        );
        assert_eq!(
            granted(r#"{"field":{"username":["a","b"]}}"#, "zoe").as_deref(),
            Some(r#"{"field":{"username":["a","b","zoe"]}}"#)
        );
        // Wildcards and regular expressions: the literal is added next to them.
        assert_eq!(
            granted(r#"{"field":{"username":"contractor-*"}}"#, "contractor-zoe").as_deref(),
            Some(r#"{"field":{"username":["contractor-*","contractor-zoe"]}}"#)
        );
        assert_eq!(
            granted(
                r#"{"field":{"username":"/svc-[a-z]+-[0-9]{2}/"}}"#,
                "svc-ab-01"
            )
            .as_deref(),
            Some(r#"{"field":{"username":["/svc-[a-z]+-[0-9]{2}/","svc-ab-01"]}}"#)
        );
    }

    #[test]
    fn grant_into_any_joins_the_direct_username_rule_or_appends_one() {
        assert_eq!(
            granted(
                r#"{"any":[{"field":{"groups":"g"}},{"field":{"username":"esadmin"}}]}"#,
                "zoe"
            )
            .as_deref(),
            Some(r#"{"any":[{"field":{"groups":"g"}},{"field":{"username":["esadmin","zoe"]}}]}"#)
        );
        assert_eq!(
            granted(r#"{"any":[{"field":{"metadata.contractor":true}}]}"#, "zoe").as_deref(),
            Some(
                r#"{"any":[{"field":{"metadata.contractor":true}},{"field":{"username":"zoe"}}]}"#
            )
        );
        assert_eq!(
            granted(r#"{"any":[]}"#, "zoe").as_deref(),
            Some(r#"{"any":[{"field":{"username":"zoe"}}]}"#)
        );
        // A username rule nested deeper is not a direct child: a new one is appended.
        assert_eq!(
            granted(r#"{"any":[{"all":[{"field":{"username":"x"}}]}]}"#, "zoe").as_deref(),
            Some(r#"{"any":[{"all":[{"field":{"username":"x"}}]},{"field":{"username":"zoe"}}]}"#)
        );
    }

    #[test]
    fn grant_wraps_every_other_rule_in_an_any() {
        for original in [
            r#"{"field":{"realm.name":"saml1"}}"#,
            r#"{"all":[{"field":{"dn":"*,ou=subtree,dc=acme,dc=com"}},{"field":{"realm.name":"ldap1"}}]}"#,
            r#"{"all":[{"field":{"realm.name":"saml1"}},{"except":{"field":{"username":"mallory"}}}]}"#,
        ] {
            assert_eq!(
                granted(original, "mallory"),
                Some(format!(
                    r#"{{"any":[{original},{{"field":{{"username":"mallory"}}}}]}}"#
                ))
            );
        }
    }

    #[test]
    fn grant_is_a_no_op_when_a_literal_already_matches() {
        for (json, user) in [
            (r#"{"field":{"username":"jdoe"}}"#, "jdoe"),
            (
                r#"{"field":{"username":["dave","dev-*","/qa-.*/","j?smith"]}}"#,
                "j?smith",
            ),
            (
                r#"{"any":[{"field":{"username":"esadmin"}},{"field":{"groups":"g"}}]}"#,
                "esadmin",
            ),
            (
                r#"{"any":[{"any":[{"field":{"username":"deep"}}]}]}"#,
                "deep",
            ),
            (r#"{"all":[{"field":{"username":"x"}}]}"#, "x"),
        ] {
            assert_eq!(granted(json, user), None, "{json}");
        }
        // A literal that matches only together with another condition is not enough.
        let complex = r#"{"all":[{"any":[{"field":{"dn":"*,ou=admin,dc=acme,dc=com"}},{"field":{"username":["es-admin","es-system"]}}]},{"field":{"groups":"cn=people,dc=acme,dc=com"}}]}"#;
        assert!(granted(complex, "es-admin").is_some());
        // Nor a wildcard, nor a literal under except.
        assert!(granted(r#"{"field":{"username":"dev-*"}}"#, "dev-joe").is_some());
        assert!(granted(
            r#"{"all":[{"except":{"field":{"username":"mallory"}}}]}"#,
            "mallory"
        )
        .is_some());
        // `all:[]` matches everybody already.
        assert_eq!(granted(r#"{"all":[]}"#, "x"), None);
        // Case matters for usernames.
        assert!(granted(r#"{"field":{"username":"JDoe"}}"#, "jdoe").is_some());
    }

    fn revoked(json: &str, user: &str) -> RevokePlan {
        revoke(&rule(json), user)
    }

    #[test]
    fn revoke_takes_the_literal_out_of_a_top_level_list() {
        let plan = revoked(
            r#"{"field":{"username":["esadmin01","esadmin02"]}}"#,
            "esadmin01",
        );
        assert!(plan.removed && !plan.matches_nobody);
        assert_eq!(
            plan.rules.to_json(),
            r#"{"field":{"username":"esadmin02"}}"#
        );
        let plan = revoked(r#"{"field":{"username":["a","b","c"]}}"#, "b");
        assert_eq!(plan.rules.to_json(), r#"{"field":{"username":["a","c"]}}"#);
        assert!(plan.still_matched_by.is_empty() && plan.may_match_by.is_empty());
    }

    #[test]
    fn revoke_of_the_only_username_makes_the_mapping_match_nobody() {
        let plan = revoked(r#"{"field":{"username":"jdoe"}}"#, "jdoe");
        assert!(plan.removed && plan.matches_nobody);
        assert_eq!(plan.rules.to_json(), r#"{"any":[]}"#);
        let plan = revoked(r#"{"any":[{"field":{"username":"zoe"}}]}"#, "zoe");
        assert!(plan.matches_nobody);
        assert_eq!(plan.rules.to_json(), r#"{"any":[]}"#);
    }

    #[test]
    fn revoke_drops_an_emptied_field_rule_from_its_any() {
        let plan = revoked(
            r#"{"any":[{"field":{"username":"esadmin"}},{"field":{"groups":"cn=admins,dc=acme,dc=com"}}]}"#,
            "esadmin",
        );
        assert!(plan.removed && !plan.matches_nobody);
        assert_eq!(
            plan.rules.to_json(),
            r#"{"any":[{"field":{"groups":"cn=admins,dc=acme,dc=com"}}]}"#
        );
        // The group condition may still match: reported, not an obstacle.
        assert!(plan.still_matched_by.is_empty());
        assert_eq!(plan.may_match_by.len(), 1, "{:?}", plan.may_match_by);
        assert!(
            plan.may_match_by[0].contains("groups"),
            "{:?}",
            plan.may_match_by
        );
        // Other members in a list stay, in their order.
        let plan = revoked(
            r#"{"any":[{"field":{"username":["a","zoe","b"]}},{"field":{"realm.name":"r"}}]}"#,
            "zoe",
        );
        assert_eq!(
            plan.rules.to_json(),
            r#"{"any":[{"field":{"username":["a","b"]}},{"field":{"realm.name":"r"}}]}"#
        );
    }

    #[test]
    fn revoke_undoes_each_kind_of_grant() {
        for original in [
            r#"{"field":{"username":"jdoe"}}"#,
            r#"{"field":{"username":["esadmin01","esadmin02"]}}"#,
            r#"{"field":{"realm.name":"saml1"}}"#,
            r#"{"any":[{"field":{"username":"esadmin"}},{"field":{"groups":"cn=admins,dc=acme,dc=com"}}]}"#,
            r#"{"all":[{"field":{"dn":"*,ou=subtree,dc=acme,dc=com"}},{"field":{"realm.name":"ldap1"}}]}"#,
            r#"{"field":{"username":"/svc-[a-z]+-[0-9]{2}/"}}"#,
            r#"{"all":[{"field":{"realm.name":"saml1"}},{"except":{"field":{"username":"mallory"}}}]}"#,
            r#"{"any":[{"field":{"metadata.employee_number":[1001,1002]}},{"field":{"metadata.contractor":true}},{"field":{"metadata.terminated_date":null}}]}"#,
        ] {
            let granted = grant(&rule(original), "newbie").expect("changes");
            let plan = revoke(&granted, "newbie");
            assert!(plan.removed, "{original}");
            assert!(plan.still_matched_by.is_empty(), "{original}");
            let back = plan.rules.to_json();
            let wrapped = format!(r#"{{"any":[{original}]}}"#);
            assert!(back == original || back == wrapped, "{original} -> {back}");
        }
    }

    #[test]
    fn revoke_without_a_literal_changes_nothing() {
        for json in [
            r#"{"field":{"username":"jdoe"}}"#,
            r#"{"field":{"username":"contractor-*"}}"#,
            r#"{"any":[]}"#,
            r#"{"all":[{"field":{"realm.name":"saml1"}},{"except":{"field":{"username":"mallory"}}}]}"#,
        ] {
            let plan = revoked(json, "mallory");
            assert!(!plan.removed, "{json}");
            assert_eq!(plan.rules.to_json(), json);
            assert!(
                plan.still_matched_by.is_empty(),
                "{json}: {:?}",
                plan.still_matched_by
            );
        }
    }

    #[test]
    fn revoke_reports_wildcards_and_nested_literals_that_still_match() {
        let plan = revoked(r#"{"field":{"username":"contractor-*"}}"#, "contractor-zoe");
        assert!(!plan.removed);
        assert_eq!(
            plan.still_matched_by,
            ["the wildcard `contractor-*` at rules"]
        );
        let plan = revoked(
            r#"{"field":{"username":["dave","dev-*","/qa-.*/","j?smith"]}}"#,
            "dev-joe",
        );
        assert_eq!(plan.still_matched_by, ["the wildcard `dev-*` at rules"]);
        // Listed both directly and in a nested any: the nested one still matches.
        let plan = revoked(
            r#"{"any":[{"field":{"username":"x"}},{"any":[{"field":{"username":"x"}}]}]}"#,
            "x",
        );
        assert!(plan.removed);
        assert_eq!(
            plan.still_matched_by,
            ["the username `x` at rules.any[1].any[0]"]
        );
    }

    #[test]
    fn revoke_reports_regular_expressions_that_still_match() {
        let plan = revoked(r#"{"field":{"username":"/qa-.*/"}}"#, "qa-joe");
        assert!(!plan.removed);
        assert_eq!(
            plan.still_matched_by,
            ["the regular expression `/qa-.*/` at rules"]
        );
        let plan = revoked(r#"{"field":{"username":"/qa-.*/"}}"#, "dev-joe");
        assert!(plan.still_matched_by.is_empty());
        assert!(plan.may_match_by.is_empty());
        // A Lucene operator the matcher cannot evaluate leaves the question open.
        let plan = revoked(r#"{"field":{"username":"/qa-.*&~(qa-x)/"}}"#, "qa-joe");
        assert!(plan.still_matched_by.is_empty());
        assert_eq!(
            plan.may_match_by,
            ["the regular expression `/qa-.*&~(qa-x)/` at rules"]
        );
    }

    #[test]
    fn revoke_reports_conditions_that_may_still_match() {
        let complex = r#"{"all":[{"any":[{"field":{"dn":"*,ou=admin,dc=acme,dc=com"}},{"field":{"username":["es-admin","es-system"]}}]},{"field":{"groups":"cn=people,dc=acme,dc=com"}},{"except":{"field":{"metadata.terminated_date":null}}}]}"#;
        let plan = revoked(complex, "es-admin");
        assert!(!plan.removed);
        assert!(plan.still_matched_by.is_empty());
        // Named inside an `all` that also needs a group: a conditional member revoke cannot remove.
        assert_eq!(
            plan.still_named_by,
            ["the username `es-admin` at rules.all[0].any[1]"]
        );
        assert!(plan.may_match_by.iter().any(|m| m.contains("groups")));
        // Someone the rules do not name at all is only possibly matched.
        let plan = revoked(complex, "zoe");
        assert!(plan.still_named_by.is_empty());
        assert!(plan.may_match_by.iter().any(|m| m.contains("groups")));
        // Negated conditions are not reported as matching.
        assert!(!plan
            .may_match_by
            .iter()
            .any(|m| m.contains("terminated_date")));
    }

    #[test]
    fn conditions_on_other_fields_are_judged_as_elasticsearch_does() {
        // `groups` is always a set of strings: `null` never matches it, so nothing else may match.
        let plan = revoked(
            r#"{"any":[{"field":{"username":"zoe"}},{"field":{"groups":null}}]}"#,
            "zoe",
        );
        assert!(plan.removed);
        assert!(plan.may_match_by.is_empty(), "{:?}", plan.may_match_by);
        assert!(plan.still_named_by.is_empty(), "{:?}", plan.still_named_by);
        // A field the user model lacks matches only `null`: with it, a literal alone decides.
        let absent = r#"{"all":[{"field":{"username":"x"}},{"field":{"no.such.field":null}}]}"#;
        assert!(matched_by_literal(&rule(absent), "x"));
        assert_eq!(granted(absent, "x"), None);
        let plan = revoked(absent, "x");
        assert_eq!(
            plan.still_matched_by,
            [
                "the username `x` at rules.all[0]",
                r#"the condition {"field":{"no.such.field":null}} at rules.all[1]"#
            ]
        );
        // Groups with a name stay unknown.
        assert!(!matched_by_literal(
            &rule(r#"{"all":[{"field":{"username":"x"}},{"field":{"groups":"g"}}]}"#),
            "x"
        ));
    }

    #[test]
    fn non_string_values_never_match_a_username() {
        assert!(!matched_by_literal(
            &rule(r#"{"field":{"username":[7,true,null]}}"#),
            "7"
        ));
        let plan = revoked(r#"{"field":{"username":[7,"x"]}}"#, "x");
        assert_eq!(plan.rules.to_json(), r#"{"field":{"username":7}}"#);
    }
}
