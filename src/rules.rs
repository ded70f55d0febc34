//! Role-mapping rules as a typed tree (`any`, `all`, `except`, `field`), and the walk that finds the
//! usernames a mapping names literally.
//!
//! Field values keep the form Elasticsearch sent (one scalar or an array), so a rule can be written back
//! unchanged.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One rule expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// True when any inner rule is true (`any: []` matches nobody).
    Any(Vec<Rule>),
    /// True when every inner rule is true (`all: []` matches everybody).
    All(Vec<Rule>),
    /// Negation; Elasticsearch allows it only directly inside `all`.
    Except(Box<Rule>),
    /// A condition on one field of the user model.
    Field(FieldRule),
}

/// `{"field": {NAME: VALUES}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, FieldValues>",
    into = "BTreeMap<String, FieldValues>"
)]
pub struct FieldRule {
    pub name: String,
    pub values: FieldValues,
}

impl TryFrom<BTreeMap<String, FieldValues>> for FieldRule {
    type Error = String;

    fn try_from(map: BTreeMap<String, FieldValues>) -> Result<Self, Self::Error> {
        let mut entries = map.into_iter();
        match (entries.next(), entries.next()) {
            (Some((name, values)), None) => Ok(FieldRule { name, values }),
            (None, _) => Err("a field rule must name one field, found none".to_owned()),
            (Some(_), Some(_)) => Err("a field rule must name exactly one field".to_owned()),
        }
    }
}

impl From<FieldRule> for BTreeMap<String, FieldValues> {
    fn from(rule: FieldRule) -> Self {
        BTreeMap::from([(rule.name, rule.values)])
    }
}

/// The value(s) of a field rule: one scalar, or an array of scalars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValues {
    One(FieldValue),
    Many(Vec<FieldValue>),
}

impl FieldValues {
    /// The values, whichever form they were written in.
    pub fn as_slice(&self) -> &[FieldValue] {
        match self {
            FieldValues::One(v) => std::slice::from_ref(v),
            FieldValues::Many(vs) => vs,
        }
    }
}

/// One scalar rule value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// How a string rule value matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern<'a> {
    /// Exact, case-sensitive equality.
    Literal(&'a str),
    /// Contains `*`: a wildcard pattern.
    Wildcard(&'a str),
    /// `/…/` (or an invalid pattern starting with `/`): a regular expression.
    Regex(&'a str),
}

/// Classifies a string rule value the way Elasticsearch does: `/…/` is a regular expression, anything
/// with `*` a wildcard (`?` alone is not), everything else a literal.
pub fn classify(value: &str) -> Pattern<'_> {
    if value.starts_with('/') {
        Pattern::Regex(value)
    } else if value.contains('*') {
        Pattern::Wildcard(value)
    } else {
        Pattern::Literal(value)
    }
}

impl FieldValue {
    /// The value when it is a literal string (no wildcard, not a regular expression).
    pub fn literal(&self) -> Option<&str> {
        match self {
            FieldValue::String(s) => match classify(s) {
                Pattern::Literal(l) => Some(l),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The field name under which usernames are matched.
pub const USERNAME_FIELD: &str = "username";

impl Rule {
    /// Usernames this rule names as literals under `field`, `any` or `all`, outside any `except`.
    pub fn literal_usernames(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        self.collect_literal_usernames(&mut out);
        out
    }

    fn collect_literal_usernames<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        match self {
            Rule::Any(rules) | Rule::All(rules) => {
                for rule in rules {
                    rule.collect_literal_usernames(out);
                }
            }
            Rule::Except(_) => {}
            Rule::Field(field) if field.name == USERNAME_FIELD => {
                out.extend(
                    field
                        .values
                        .as_slice()
                        .iter()
                        .filter_map(FieldValue::literal),
                );
            }
            Rule::Field(_) => {}
        }
    }

    /// The rule as compact JSON, as Elasticsearch would write it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> Rule {
        serde_json::from_str(json).expect("valid rule")
    }

    fn literals(json: &str) -> Vec<String> {
        rule(json)
            .literal_usernames()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn single_and_array_values_are_literals() {
        assert_eq!(literals(r#"{"field":{"username":"jdoe"}}"#), ["jdoe"]);
        assert_eq!(
            literals(r#"{"field":{"username":["esadmin02","esadmin01"]}}"#),
            ["esadmin01", "esadmin02"]
        );
    }

    #[test]
    fn wildcards_and_regexes_are_not_literals_but_a_question_mark_is() {
        assert_eq!(
            literals(r#"{"field":{"username":["dave","dev-*","/qa-.*/","j?smith","*"]}}"#),
            ["dave", "j?smith"]
        );
        assert!(literals(r#"{"field":{"username":"/svc-[a-z]+-[0-9]{2}/"}}"#).is_empty());
    }

    #[test]
    fn other_fields_give_no_usernames() {
        assert!(literals(r#"{"field":{"realm.name":"saml1"}}"#).is_empty());
        assert!(literals(r#"{"field":{"groups":"cn=admins,dc=acme,dc=com"}}"#).is_empty());
        assert!(literals(r#"{"field":{"metadata.username":"x"}}"#).is_empty());
    }

    #[test]
    fn nested_any_and_all_are_searched_but_except_is_not() {
        let json = r#"{"all":[{"any":[{"field":{"dn":"*,ou=admin,dc=acme,dc=com"}},{"field":{"username":["es-admin","es-system"]}}]},
            {"field":{"groups":"cn=people,dc=acme,dc=com"}},
            {"except":{"any":[{"field":{"username":"mallory"}},{"field":{"metadata.terminated_date":null}}]}}]}"#;
        assert_eq!(literals(json), ["es-admin", "es-system"]);
    }

    #[test]
    fn non_string_values_are_never_usernames() {
        let json = r#"{"any":[{"field":{"username":[7,true,null]}},{"field":{"metadata.employee_number":[1001,1002]}}]}"#;
        assert!(literals(json).is_empty());
    }

    #[test]
    fn rules_round_trip_in_their_original_form() {
        for json in [
            r#"{"field":{"username":"jdoe"}}"#,
            r#"{"field":{"username":["a","b"]}}"#,
            r#"{"field":{"metadata.employee_number":[1001,1002]}}"#,
            r#"{"all":[{"field":{"realm.name":"saml1"}},{"except":{"field":{"metadata.terminated_date":null}}}]}"#,
            r#"{"any":[]}"#,
        ] {
            assert_eq!(rule(json).to_json(), json);
        }
    }

    #[test]
    fn field_rules_must_name_exactly_one_field() {
        assert!(serde_json::from_str::<Rule>(r#"{"field":{}}"#).is_err());
        assert!(serde_json::from_str::<Rule>(r#"{"field":{"a":"1","b":"2"}}"#).is_err());
        assert!(serde_json::from_str::<Rule>(r#"{"unknown":[]}"#).is_err());
    }
}
