//! Role-mapping rules as a typed tree (`any`, `all`, `except`, `field`), the walk that finds the
//! usernames a mapping names literally, and three-valued evaluation of a rule against what is known of a
//! user ([`CompiledRule`]), optionally with what each field rule came to ([`CompiledRule::explain`]).
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

/// The field name under which a user's groups are matched.
pub const GROUPS_FIELD: &str = "groups";

impl Rule {
    /// The string values of the `groups` field rules that alone make a user a member: the whole rule
    /// is the field rule, or it is directly inside a top-level `any`. Literals and patterns alike, in
    /// the order written. A `groups` condition inside an `all` (one condition among others), deeper, or
    /// under an `except` is left out.
    pub fn sufficient_group_values(&self) -> Vec<&str> {
        let fields: Vec<&FieldRule> = match self {
            Rule::Field(field) => vec![field],
            Rule::Any(rules) => rules
                .iter()
                .filter_map(|r| match r {
                    Rule::Field(field) => Some(field),
                    _ => None,
                })
                .collect(),
            Rule::All(_) | Rule::Except(_) => Vec::new(),
        };
        fields
            .into_iter()
            .filter(|f| f.name == GROUPS_FIELD)
            .flat_map(|f| f.values.as_slice())
            .filter_map(|v| match v {
                FieldValue::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A group or DN value the way Elasticsearch compares `dn` and `groups` literals (case-insensitively,
/// and as normalized distinguished names when both sides are DNs): for a DN, every attribute name and
/// value lower-cased and the spaces around `,`, `+` and `=` removed (escaped characters are kept as
/// written, but lower-cased); anything else that is not a DN, lower-cased. So `CN=Admins, DC=Acme` and
/// `cn=admins,dc=acme` give the same string.
pub fn normalize_dn(value: &str) -> String {
    match parse_dn(value) {
        Some(rdns) => rdns
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|(attr, val)| format!("{attr}={val}"))
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join(","),
        None => value.to_lowercase(),
    }
}

/// Splits `value` at the unescaped `sep` characters, keeping escapes in the parts.
fn split_unescaped(value: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            part.push(c);
            if let Some(next) = chars.next() {
                part.push(next);
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut part));
        } else {
            part.push(c);
        }
    }
    parts.push(part);
    parts
}

/// Removes unescaped leading and trailing spaces (an escaped trailing space `\ ` is kept).
fn trim_dn_spaces(value: &str) -> &str {
    let start = value.trim_start_matches(' ');
    let mut end = start.len();
    while end > 0 && start[..end].ends_with(' ') && !start[..end - 1].ends_with('\\') {
        end -= 1;
    }
    &start[..end]
}

/// The RDNs of a DN, each a list of (attribute, value) lower-cased and trimmed; `None` when `value` is
/// not a DN (an RDN without `=`, an empty attribute name, no RDN at all).
fn parse_dn(value: &str) -> Option<Vec<Vec<(String, String)>>> {
    if value.trim().is_empty() {
        return None;
    }
    split_unescaped(value, ',')
        .iter()
        .map(|rdn| {
            split_unescaped(rdn, '+')
                .iter()
                .map(|ava| {
                    let (attr, val) = ava.split_once('=')?;
                    let attr = attr.trim();
                    let valid = !attr.is_empty()
                        && attr
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                    valid.then(|| (attr.to_lowercase(), trim_dn_spaces(val).to_lowercase()))
                })
                .collect()
        })
        .collect()
}

/// A mapping's `rules` as read: the grammar above, or, for a shape it does not describe (a newer
/// Elasticsearch, an unforeseen form), the JSON exactly as sent, so that one such mapping does not stop a
/// sync.
#[derive(Debug, Clone, PartialEq)]
pub enum MappingRules {
    /// Rules in the known grammar.
    Parsed(Rule),
    /// Rules that do not fit the grammar, with why.
    Unreadable {
        /// The `rules` object as Elasticsearch sent it.
        raw: serde_json::Value,
        /// What did not fit, for the profile note and the warning.
        error: String,
    },
}

impl MappingRules {
    /// The rules, when they fit the grammar.
    pub fn parsed(&self) -> Option<&Rule> {
        match self {
            MappingRules::Parsed(rule) => Some(rule),
            MappingRules::Unreadable { .. } => None,
        }
    }

    /// Usernames named as literals outside any `except`. For unreadable rules, found by walking the JSON
    /// through `any`, `all` and `field` (other keys are passed over).
    pub fn literal_usernames(&self) -> BTreeSet<&str> {
        match self {
            MappingRules::Parsed(rule) => rule.literal_usernames(),
            MappingRules::Unreadable { raw, .. } => {
                let mut out = BTreeSet::new();
                raw_literal_usernames(raw, &mut out);
                out
            }
        }
    }

    /// The rules as compact JSON.
    pub fn to_json(&self) -> String {
        match self {
            MappingRules::Parsed(rule) => rule.to_json(),
            MappingRules::Unreadable { raw, .. } => raw.to_string(),
        }
    }
}

fn raw_literal_usernames<'a>(value: &'a serde_json::Value, out: &mut BTreeSet<&'a str>) {
    let Some(object) = value.as_object() else {
        return;
    };
    for (key, inner) in object {
        match key.as_str() {
            "any" | "all" => {
                for rule in inner.as_array().into_iter().flatten() {
                    raw_literal_usernames(rule, out);
                }
            }
            "field" => {
                let values = inner.get(USERNAME_FIELD);
                let strings = match values {
                    Some(serde_json::Value::Array(items)) => items.iter().collect(),
                    Some(one) => vec![one],
                    None => Vec::new(),
                };
                for s in strings.into_iter().filter_map(serde_json::Value::as_str) {
                    if let Pattern::Literal(literal) = classify(s) {
                        out.insert(literal);
                    }
                }
            }
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for MappingRules {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        Ok(match Rule::deserialize(&raw) {
            Ok(rule) => MappingRules::Parsed(rule),
            Err(e) => MappingRules::Unreadable {
                raw,
                error: e.to_string(),
            },
        })
    }
}

impl Serialize for MappingRules {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MappingRules::Parsed(rule) => rule.serialize(serializer),
            MappingRules::Unreadable { raw, .. } => raw.serialize(serializer),
        }
    }
}

/// Three-valued truth: what a rule says about a user whose attributes are partly unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Truth {
    False,
    Unknown,
    True,
}

impl std::ops::Not for Truth {
    type Output = Truth;

    /// Negation: unknown stays unknown.
    fn not(self) -> Truth {
        match self {
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
            Truth::True => Truth::False,
        }
    }
}

/// What the sync knows of an external user: the username always, the realm when a profile recorded it.
/// Groups, DN and metadata are never known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub username: &'a str,
    pub realm: Option<&'a str>,
}

/// Whether a mapping covers a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// The rules are true for what is known.
    Member,
    /// The rules are unknown, but a `username` condition names the user; the grant rests on `assumed`
    /// (rule conditions, as JSON, that could not be checked).
    Conditional { assumed: Vec<String> },
    /// Not a member.
    No,
}

/// One step down a rule tree: into the `i`-th rule of an `any` or an `all`, or into an `except`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Any(usize),
    All(usize),
    Except,
}

/// Where a rule sits below `root`, as in `rules.any[1].except`.
pub fn path_text(root: &str, path: &[Step]) -> String {
    let mut out = root.to_owned();
    for step in path {
        match step {
            Step::Any(i) => out.push_str(&format!(".any[{i}]")),
            Step::All(i) => out.push_str(&format!(".all[{i}]")),
            Step::Except => out.push_str(".except"),
        }
    }
    out
}

/// How [`CompiledRule::explain`] judges `username` values, beyond what [`CompiledRule::evaluate`] does.
#[derive(Clone, Copy)]
pub struct Assumptions<'a> {
    /// Username wildcards and regular expressions count as unknown instead of being tested, so that only
    /// literal usernames decide.
    pub username_patterns_unknown: bool,
    /// Username values to count as if they were not in the rule (never matching), given the path of
    /// their field rule: to judge a rule as it would be after an edit.
    pub without: &'a dyn Fn(&[Step], &FieldValue) -> bool,
}

fn keep_every_value(_: &[Step], _: &FieldValue) -> bool {
    false
}

impl Default for Assumptions<'_> {
    /// Exactly what [`CompiledRule::evaluate`] does.
    fn default() -> Self {
        Assumptions {
            username_patterns_unknown: false,
            without: &keep_every_value,
        }
    }
}

impl std::fmt::Debug for Assumptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assumptions")
            .field("username_patterns_unknown", &self.username_patterns_unknown)
            .finish_non_exhaustive()
    }
}

/// What one field rule came to in an evaluation ([`CompiledRule::explain`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'r> {
    /// Where the field rule is.
    pub path: Vec<Step>,
    /// The field rule, as written.
    pub rule: &'r FieldRule,
    /// Its truth (before any `except` above it).
    pub truth: Truth,
    /// The truth of each of its values alone, in the order written.
    pub values: Vec<Truth>,
}

impl Finding<'_> {
    /// Whether the rule sits under an odd number of `except`s, so that its truth counts inverted.
    pub fn negated(&self) -> bool {
        self.path.iter().filter(|s| **s == Step::Except).count() % 2 == 1
    }
}

/// A rule prepared for evaluating many users: patterns are compiled once.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Any(Vec<Node>),
    All(Vec<Node>),
    Except(Box<Node>),
    Field {
        field: ModelField,
        matchers: Vec<Matcher>,
        source: FieldRule,
    },
}

/// The fields of Elasticsearch's user model, by what the sync knows of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelField {
    Username,
    RealmName,
    /// Always defined, a set of strings; its members are unknown.
    Groups,
    /// `dn`: a string when the realm supplies one, else absent; unknown which.
    Dn,
    /// `metadata.*`: may be absent, values (of any type) unknown.
    Unknown,
    /// Not a field of the model: always absent.
    Absent,
}

/// One compiled rule value.
#[derive(Debug, Clone)]
enum Matcher {
    Null,
    Literal(String),
    Pattern(regex::Regex),
    /// A pattern this crate cannot evaluate (a Lucene operator Rust's engine lacks, or an invalid one).
    Unsupported,
    /// A number or boolean: never matches a string.
    Scalar,
}

impl Matcher {
    fn compile(value: &FieldValue) -> Matcher {
        match value {
            FieldValue::Null => Matcher::Null,
            FieldValue::Bool(_) | FieldValue::Number(_) => Matcher::Scalar,
            FieldValue::String(s) => {
                let translated = match classify(s) {
                    Pattern::Literal(l) => return Matcher::Literal(l.to_owned()),
                    Pattern::Wildcard(w) => Some(wildcard_to_regex(w)),
                    Pattern::Regex(r) => lucene_to_regex(r),
                };
                match translated.map(|t| regex::Regex::new(&t)) {
                    Some(Ok(re)) => Matcher::Pattern(re),
                    _ => Matcher::Unsupported,
                }
            }
        }
    }

    /// Whether this value matches a known string: `Unknown` only for patterns that cannot be evaluated.
    fn test(&self, value: &str) -> Truth {
        match self {
            Matcher::Literal(l) if l == value => Truth::True,
            Matcher::Pattern(re) if re.is_match(value) => Truth::True,
            Matcher::Unsupported => Truth::Unknown,
            _ => Truth::False,
        }
    }
}

/// Whether one rule value matches a known string the way Elasticsearch compares it: literals exactly,
/// `*`/`?` wildcards and `/regex/` values over the whole string. `Unknown` for a pattern this crate
/// cannot evaluate; numbers, booleans and null never match a string.
pub fn value_matches(value: &FieldValue, text: &str) -> Truth {
    Matcher::compile(value).test(text)
}

/// A wildcard as a whole-string Rust regex: `*` any run, `?` one character, `\` escapes the next one.
fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::from(r"\A(?s:");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                let escaped = chars.next().unwrap_or('\\');
                out.push_str(&regex::escape(escaped.encode_utf8(&mut [0; 4])));
            }
            other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push_str(r")\z");
    out
}

/// A Lucene regular expression (`/.../`) as a whole-string Rust regex, or `None` when it uses an
/// operator Rust's engine lacks (`~` complement, `&` intersection, `<n-m>` intervals, `#` empty
/// language) or is malformed. `^` and `$` are plain characters in Lucene and are escaped; `@` (any
/// string) and `"..."` (quoted literal) are translated; `.` matches any character, newlines included.
fn lucene_to_regex(pattern: &str) -> Option<String> {
    let inner = pattern.strip_prefix('/')?.strip_suffix('/')?;
    let mut out = String::from(r"\A(?s:");
    let mut chars = inner.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '.' | '*' | '+' | '?' | '|' => out.push(c),
            '(' => {
                if chars.peek() == Some(&'?') {
                    return None;
                }
                depth += 1;
                out.push_str("(?:");
            }
            ')' => {
                depth = depth.checked_sub(1)?;
                out.push(')');
            }
            '{' => {
                out.push('{');
                loop {
                    let d = chars.next()?;
                    if d == '}' {
                        break;
                    }
                    if !(d.is_ascii_digit() || d == ',') {
                        return None;
                    }
                    out.push(d);
                }
                out.push('}');
            }
            '[' => {
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                let mut empty = true;
                loop {
                    let d = chars.next()?;
                    match d {
                        ']' if !empty => break,
                        '-' if !empty && chars.peek() != Some(&']') => out.push('-'),
                        '\\' => {
                            let e = chars.next()?;
                            out.push_str(&regex::escape(e.encode_utf8(&mut [0; 4])));
                        }
                        other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
                    }
                    empty = false;
                }
                out.push(']');
            }
            '"' => loop {
                let d = chars.next()?;
                if d == '"' {
                    break;
                }
                out.push_str(&regex::escape(d.encode_utf8(&mut [0; 4])));
            },
            '@' => out.push_str(".*"),
            '~' | '&' | '<' | '>' | '#' => return None,
            '\\' => {
                let e = chars.next()?;
                match e {
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    's' => out.push_str(r"[ \t\n\r\x0B\x0C]"),
                    'S' => out.push_str(r"[^ \t\n\r\x0B\x0C]"),
                    'w' => out.push_str("[a-zA-Z0-9_]"),
                    'W' => out.push_str("[^a-zA-Z0-9_]"),
                    other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
                }
            }
            other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    if depth != 0 {
        return None;
    }
    out.push_str(r")\z");
    Some(out)
}

impl CompiledRule {
    /// Prepares `rule` for evaluation.
    pub fn compile(rule: &Rule) -> CompiledRule {
        CompiledRule {
            node: Node::compile(rule),
        }
    }

    /// The rule's truth for what is known of `subject`.
    pub fn evaluate(&self, subject: &Subject<'_>) -> Truth {
        self.node.truth(subject)
    }

    /// The rule's truth for what is known of `subject` under `assumptions`, and what every field rule in
    /// it came to, in the order written (no branch is skipped once the answer is known).
    pub fn explain(
        &self,
        subject: &Subject<'_>,
        assumptions: &Assumptions<'_>,
    ) -> (Truth, Vec<Finding<'_>>) {
        let mut findings = Vec::new();
        let truth = self
            .node
            .eval(subject, assumptions, &mut Vec::new(), Some(&mut findings));
        (truth, findings)
    }

    /// Whether a `username` condition outside any `except` matches the user (literal or pattern).
    pub fn names_user(&self, username: &str) -> bool {
        self.node.names_user(username)
    }

    /// Whether the mapping covers `subject`: true rules make a member; unknown rules make a conditional
    /// member only when a `username` condition names the user; false rules, nothing.
    pub fn membership(&self, subject: &Subject<'_>) -> Membership {
        match self.evaluate(subject) {
            Truth::True => Membership::Member,
            Truth::False => Membership::No,
            Truth::Unknown if self.names_user(subject.username) => {
                let mut assumed = Vec::new();
                self.node.assumptions(subject, &mut assumed);
                assumed.sort();
                assumed.dedup();
                Membership::Conditional { assumed }
            }
            Truth::Unknown => Membership::No,
        }
    }
}

impl Node {
    fn compile(rule: &Rule) -> Node {
        match rule {
            Rule::Any(rules) => Node::Any(rules.iter().map(Node::compile).collect()),
            Rule::All(rules) => Node::All(rules.iter().map(Node::compile).collect()),
            Rule::Except(inner) => Node::Except(Box::new(Node::compile(inner))),
            Rule::Field(field) => {
                let kind = match field.name.as_str() {
                    USERNAME_FIELD => ModelField::Username,
                    "realm.name" => ModelField::RealmName,
                    "groups" => ModelField::Groups,
                    "dn" => ModelField::Dn,
                    name if name.starts_with("metadata.") => ModelField::Unknown,
                    _ => ModelField::Absent,
                };
                Node::Field {
                    field: kind,
                    matchers: field
                        .values
                        .as_slice()
                        .iter()
                        .map(Matcher::compile)
                        .collect(),
                    source: field.clone(),
                }
            }
        }
    }

    fn truth(&self, subject: &Subject<'_>) -> Truth {
        self.eval(subject, &Assumptions::default(), &mut Vec::new(), None)
    }

    /// The truth of this node at `path` under `assumptions`; with `out`, every field rule's finding is
    /// recorded and no branch is skipped, without it `any` and `all` stop once their answer is known.
    fn eval<'r>(
        &'r self,
        subject: &Subject<'_>,
        assumptions: &Assumptions<'_>,
        path: &mut Vec<Step>,
        mut out: Option<&mut Vec<Finding<'r>>>,
    ) -> Truth {
        match self {
            Node::Any(nodes) | Node::All(nodes) => {
                let any = matches!(self, Node::Any(_));
                let (mut result, decisive) = if any {
                    (Truth::False, Truth::True)
                } else {
                    (Truth::True, Truth::False)
                };
                for (i, node) in nodes.iter().enumerate() {
                    path.push(if any { Step::Any(i) } else { Step::All(i) });
                    let truth = node.eval(subject, assumptions, path, out.as_deref_mut());
                    path.pop();
                    result = if any {
                        result.max(truth)
                    } else {
                        result.min(truth)
                    };
                    if result == decisive && out.is_none() {
                        break;
                    }
                }
                result
            }
            Node::Except(inner) => {
                path.push(Step::Except);
                let truth = inner.eval(subject, assumptions, path, out);
                path.pop();
                !truth
            }
            Node::Field {
                field,
                matchers,
                source,
            } => {
                let values = source.values.as_slice();
                let value_truth = |i: usize, m: &Matcher| match field {
                    ModelField::Username => {
                        if values
                            .get(i)
                            .is_some_and(|v| (assumptions.without)(path, v))
                        {
                            Truth::False
                        } else if assumptions.username_patterns_unknown
                            && matches!(m, Matcher::Pattern(_) | Matcher::Unsupported)
                        {
                            Truth::Unknown
                        } else {
                            m.test(subject.username)
                        }
                    }
                    other => field_truth(*other, std::slice::from_ref(m), subject),
                };
                let truth = match field {
                    ModelField::Username => matchers
                        .iter()
                        .enumerate()
                        .map(|(i, m)| value_truth(i, m))
                        .max()
                        .unwrap_or(Truth::False),
                    other => field_truth(*other, matchers, subject),
                };
                if let Some(out) = out {
                    out.push(Finding {
                        path: path.clone(),
                        rule: source,
                        truth,
                        values: matchers
                            .iter()
                            .enumerate()
                            .map(|(i, m)| value_truth(i, m))
                            .collect(),
                    });
                }
                truth
            }
        }
    }

    /// Appends the unknown conditions this node's (unknown) truth rests on.
    fn assumptions(&self, subject: &Subject<'_>, out: &mut Vec<String>) {
        match self {
            Node::Any(nodes) | Node::All(nodes) => {
                for node in nodes {
                    if node.truth(subject) == Truth::Unknown {
                        node.assumptions(subject, out);
                    }
                }
            }
            Node::Except(inner) => {
                let mut inner_assumed = Vec::new();
                inner.assumptions(subject, &mut inner_assumed);
                out.extend(
                    inner_assumed
                        .into_iter()
                        .map(|a| format!(r#"{{"except":{a}}}"#)),
                );
            }
            Node::Field { source, .. } => {
                out.push(Rule::Field(source.clone()).to_json());
            }
        }
    }

    fn names_user(&self, username: &str) -> bool {
        match self {
            Node::Any(nodes) | Node::All(nodes) => nodes.iter().any(|n| n.names_user(username)),
            Node::Except(_) => false,
            Node::Field {
                field: ModelField::Username,
                matchers,
                ..
            } => matchers.iter().any(|m| m.test(username) == Truth::True),
            Node::Field { .. } => false,
        }
    }
}

fn field_truth(field: ModelField, matchers: &[Matcher], subject: &Subject<'_>) -> Truth {
    let known = |value: &str| {
        matchers
            .iter()
            .map(|m| m.test(value))
            .max()
            .unwrap_or(Truth::False)
    };
    match field {
        ModelField::Username => known(subject.username),
        ModelField::RealmName => match subject.realm {
            Some(realm) => known(realm),
            None => Truth::Unknown,
        },
        // `groups` is always a set of strings: null, numbers and booleans never match it.
        ModelField::Groups => {
            if matchers
                .iter()
                .all(|m| matches!(m, Matcher::Null | Matcher::Scalar))
            {
                Truth::False
            } else {
                Truth::Unknown
            }
        }
        // `dn` is a string or absent: numbers and booleans never match it.
        ModelField::Dn => {
            if matchers.iter().all(|m| matches!(m, Matcher::Scalar)) {
                Truth::False
            } else {
                Truth::Unknown
            }
        }
        ModelField::Unknown => Truth::Unknown,
        // An absent field matches only a null rule value.
        ModelField::Absent => {
            if matchers.iter().any(|m| matches!(m, Matcher::Null)) {
                Truth::True
            } else {
                Truth::False
            }
        }
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
    fn dns_normalize_as_elasticsearch_compares_them() {
        assert_eq!(
            normalize_dn("CN=John Doe, OU=Users,DC=Acme,DC=com"),
            "cn=john doe,ou=users,dc=acme,dc=com"
        );
        assert_eq!(
            normalize_dn("CN=Admins,DC=Acme"),
            normalize_dn("cn=admins,dc=acme")
        );
        assert_eq!(normalize_dn(" cn = a + uid = B ,dc=x"), "cn=a+uid=b,dc=x");
        assert_eq!(normalize_dn(r"cn=Doe\, John,dc=x"), r"cn=doe\, john,dc=x");
        assert_eq!(normalize_dn(r"cn=trailing\ ,dc=x"), r"cn=trailing\ ,dc=x");
        // Not DNs: compared case-insensitively.
        assert_eq!(normalize_dn("Engineering"), "engineering");
        assert_eq!(normalize_dn("a,b"), "a,b");
    }

    #[test]
    fn sufficient_groups_are_the_whole_rule_or_directly_inside_a_top_level_any() {
        let groups = |json: &str| -> Vec<String> {
            rule(json)
                .sufficient_group_values()
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            groups(r#"{"field":{"groups":["cn=a,dc=x","*,ou=y,dc=x",7]}}"#),
            ["cn=a,dc=x", "*,ou=y,dc=x"]
        );
        assert_eq!(
            groups(
                r#"{"any":[{"field":{"username":"u"}},{"field":{"groups":"cn=b,dc=x"}},{"any":[{"field":{"groups":"cn=deep,dc=x"}}]}]}"#
            ),
            ["cn=b,dc=x"]
        );
        assert!(groups(
            r#"{"all":[{"field":{"groups":"cn=c,dc=x"}},{"field":{"realm.name":"ldap1"}}]}"#
        )
        .is_empty());
        assert!(groups(r#"{"all":[{"except":{"field":{"groups":"cn=d,dc=x"}}}]}"#).is_empty());
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

#[cfg(test)]
mod evaluation_tests {
    use super::*;

    fn compiled(json: &str) -> CompiledRule {
        CompiledRule::compile(&serde_json::from_str(json).expect("valid rule"))
    }

    fn eval(json: &str, username: &str, realm: Option<&str>) -> Truth {
        compiled(json).evaluate(&Subject { username, realm })
    }

    #[test]
    fn unreadable_rules_keep_their_json_and_literal_usernames() {
        let rules: MappingRules = serde_json::from_str(
            r#"{"any":[{"field":{"username":["ann","/re.*/","b*"]}},{"future_op":{"x":1}},
                {"all":[{"field":{"username":"cy"}},{"except":{"field":{"username":"dan"}}}]}]}"#,
        )
        .unwrap();
        let MappingRules::Unreadable { error, .. } = &rules else {
            panic!("parsed: {rules:?}");
        };
        assert!(!error.is_empty());
        assert!(rules.parsed().is_none());
        assert_eq!(rules.literal_usernames(), BTreeSet::from(["ann", "cy"]));
        assert!(rules.to_json().contains("future_op"));
        let known: MappingRules = serde_json::from_str(r#"{"field":{"username":"ann"}}"#).unwrap();
        assert!(known.parsed().is_some());
        assert_eq!(serde_json::to_string(&known).unwrap(), known.to_json());
    }

    #[test]
    fn literals_are_exact_and_case_sensitive() {
        let r = r#"{"field":{"username":"jdoe"}}"#;
        assert_eq!(eval(r, "jdoe", None), Truth::True);
        assert_eq!(eval(r, "JDoe", None), Truth::False);
        assert_eq!(eval(r, "jdoe2", None), Truth::False);
        // `?` without `*` is a literal.
        assert_eq!(
            eval(r#"{"field":{"username":"j?smith"}}"#, "j?smith", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"username":"j?smith"}}"#, "jasmith", None),
            Truth::False
        );
    }

    #[test]
    fn wildcards_match_the_whole_string() {
        let r = r#"{"field":{"username":"dev-*"}}"#;
        assert_eq!(eval(r, "dev-ops", None), Truth::True);
        assert_eq!(eval(r, "dev-", None), Truth::True);
        assert_eq!(eval(r, "my-dev-ops", None), Truth::False);
        let q = r#"{"field":{"username":"a?c*"}}"#;
        assert_eq!(eval(q, "abcdef", None), Truth::True);
        assert_eq!(eval(q, "acdef", None), Truth::False);
        assert_eq!(
            eval(r#"{"field":{"username":"*"}}"#, "anyone", None),
            Truth::True
        );
        // A backslash escapes the next character.
        let e = r#"{"field":{"username":"a\\*b*"}}"#;
        assert_eq!(eval(e, "a*bc", None), Truth::True);
        assert_eq!(eval(e, "axbc", None), Truth::False);
        // Regex metacharacters are plain in wildcards.
        assert_eq!(
            eval(r#"{"field":{"username":"a.b*"}}"#, "axb", None),
            Truth::False
        );
    }

    #[test]
    fn regexes_match_the_whole_string_with_lucene_syntax() {
        let r = r#"{"field":{"username":"/svc-[a-z]+-[0-9]{2}/"}}"#;
        assert_eq!(eval(r, "svc-etl-01", None), Truth::True);
        assert_eq!(eval(r, "svc-etl-012", None), Truth::False, "whole string");
        assert_eq!(eval(r, "my-svc-etl-01", None), Truth::False, "whole string");
        // `^` and `$` are ordinary characters in Lucene.
        assert_eq!(
            eval(r#"{"field":{"username":"/^a$/"}}"#, "^a$", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"username":"/^a$/"}}"#, "a", None),
            Truth::False
        );
        // `@` is any string, `"..."` a quoted literal, `.` also matches a newline.
        assert_eq!(
            eval(r#"{"field":{"username":"/qa@/"}}"#, "qa-bot", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"username":"/\"a.b\"c/"}}"#, "a.bc", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"username":"/\"a.b\"c/"}}"#, "axbc", None),
            Truth::False
        );
        assert_eq!(
            eval(r#"{"field":{"username":"/a.b/"}}"#, "a\nb", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"username":"/(ab|cd)+/"}}"#, "abcdab", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"username":"/[^x]\\d/"}}"#, "a7", None),
            Truth::True
        );
        // Operators Rust's engine lacks make the condition unknown, not false.
        for unsupported in [
            "/~(a)/", "/a&b/", "/<1-5>/", "/#/", "/(?i)a/", "/a(/", "/abc",
        ] {
            let json = format!(r#"{{"field":{{"username":"{unsupported}"}}}}"#);
            assert_eq!(eval(&json, "a", None), Truth::Unknown, "{unsupported}");
        }
    }

    #[test]
    fn non_string_values_and_null() {
        // Numbers and booleans never match a username; null never matches a present one.
        assert_eq!(
            eval(r#"{"field":{"username":[7,true,null]}}"#, "7", None),
            Truth::False
        );
        // `groups` is always a set of strings: only string values can match, and they are unknown.
        assert_eq!(
            eval(r#"{"field":{"groups":null}}"#, "a", None),
            Truth::False
        );
        assert_eq!(
            eval(r#"{"field":{"groups":[1,false]}}"#, "a", None),
            Truth::False
        );
        assert_eq!(
            eval(r#"{"field":{"groups":"cn=x"}}"#, "a", None),
            Truth::Unknown
        );
        // dn is unknown for strings; metadata values may be of any type, so unknown whatever the value.
        assert_eq!(
            eval(r#"{"field":{"dn":"*,dc=x"}}"#, "a", None),
            Truth::Unknown
        );
        assert_eq!(
            eval(r#"{"field":{"metadata.n":[1001,1002]}}"#, "a", None),
            Truth::Unknown
        );
        assert_eq!(
            eval(r#"{"field":{"metadata.t":null}}"#, "a", None),
            Truth::Unknown
        );
        // A field outside the model is absent: only null matches.
        assert_eq!(
            eval(r#"{"field":{"realm.type":null}}"#, "a", None),
            Truth::True
        );
        assert_eq!(
            eval(r#"{"field":{"realm.type":"saml"}}"#, "a", None),
            Truth::False
        );
    }

    #[test]
    fn numbers_and_booleans_never_match_a_dn() {
        // `dn` is a string or absent: null may match (unknown), numbers and booleans cannot.
        assert_eq!(
            eval(r#"{"field":{"dn":[7,true]}}"#, "a", None),
            Truth::False
        );
        assert_eq!(eval(r#"{"field":{"dn":null}}"#, "a", None), Truth::Unknown);
        assert_eq!(
            eval(r#"{"field":{"dn":[7,"cn=a"]}}"#, "a", None),
            Truth::Unknown
        );
        // So a rule that also names the user is false, not a conditional grant.
        let rule = compiled(r#"{"all":[{"field":{"username":"a"}},{"field":{"dn":7}}]}"#);
        let subject = Subject {
            username: "a",
            realm: None,
        };
        assert_eq!(rule.membership(&subject), Membership::No);
    }

    #[test]
    fn realm_is_known_only_with_a_profile() {
        let r = r#"{"field":{"realm.name":"saml1"}}"#;
        assert_eq!(eval(r, "a", Some("saml1")), Truth::True);
        assert_eq!(eval(r, "a", Some("SAML1")), Truth::False);
        assert_eq!(eval(r, "a", None), Truth::Unknown);
    }

    #[test]
    fn any_all_and_except_follow_three_valued_logic() {
        let u = r#"{"field":{"groups":"g"}}"#;
        let t = r#"{"field":{"username":"a"}}"#;
        let f = r#"{"field":{"username":"b"}}"#;
        let e = |rules: &[&str], kind: &str| {
            eval(&format!(r#"{{"{kind}":[{}]}}"#, rules.join(",")), "a", None)
        };
        assert_eq!(e(&[], "any"), Truth::False);
        assert_eq!(e(&[], "all"), Truth::True);
        assert_eq!(e(&[u, t], "any"), Truth::True);
        assert_eq!(e(&[u, f], "any"), Truth::Unknown);
        assert_eq!(e(&[f, f], "any"), Truth::False);
        assert_eq!(e(&[u, t], "all"), Truth::Unknown);
        assert_eq!(e(&[u, f], "all"), Truth::False);
        assert_eq!(e(&[t, t], "all"), Truth::True);
        let except = |inner: &str| format!(r#"{{"except":{inner}}}"#);
        assert_eq!(e(&[t, &except(f)], "all"), Truth::True);
        assert_eq!(e(&[t, &except(t)], "all"), Truth::False);
        assert_eq!(e(&[t, &except(u)], "all"), Truth::Unknown);
    }

    #[test]
    fn explain_records_every_field_rule_with_its_path() {
        let r = compiled(
            r#"{"any":[{"field":{"username":["a","dev-*"]}},{"all":[{"field":{"groups":null}},{"except":{"field":{"dn":"x"}}}]}]}"#,
        );
        let subject = Subject {
            username: "dev-a",
            realm: None,
        };
        let (truth, findings) = r.explain(&subject, &Assumptions::default());
        assert_eq!(truth, Truth::True);
        assert_eq!(truth, r.evaluate(&subject));
        let summary: Vec<(String, Truth, Vec<Truth>, bool)> = findings
            .iter()
            .map(|f| {
                (
                    path_text("rules", &f.path),
                    f.truth,
                    f.values.clone(),
                    f.negated(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "rules.any[0]".to_owned(),
                    Truth::True,
                    vec![Truth::False, Truth::True],
                    false
                ),
                (
                    "rules.any[1].all[0]".to_owned(),
                    Truth::False,
                    vec![Truth::False],
                    false,
                ),
                (
                    "rules.any[1].all[1].except".to_owned(),
                    Truth::Unknown,
                    vec![Truth::Unknown],
                    true,
                ),
            ]
        );
    }

    #[test]
    fn explain_can_leave_patterns_open_and_count_values_out() {
        let r = compiled(
            r#"{"any":[{"field":{"username":["dev-*","x"]}},{"field":{"username":"x"}}]}"#,
        );
        let subject = |username| Subject {
            username,
            realm: None,
        };
        let literal_only = Assumptions {
            username_patterns_unknown: true,
            ..Assumptions::default()
        };
        assert_eq!(
            r.explain(&subject("dev-a"), &literal_only).0,
            Truth::Unknown
        );
        assert_eq!(r.explain(&subject("x"), &literal_only).0, Truth::True);
        let first_only = |path: &[Step], value: &FieldValue| {
            path == [Step::Any(0)] && value.literal() == Some("x")
        };
        let without = Assumptions {
            without: &first_only,
            ..Assumptions::default()
        };
        let (truth, findings) = r.explain(&subject("x"), &without);
        assert_eq!(truth, Truth::True, "still named at rules.any[1]");
        assert_eq!(findings[0].values, [Truth::False, Truth::False]);
        assert_eq!(findings[1].truth, Truth::True);
    }

    #[test]
    fn membership_needs_a_username_condition_outside_except_when_unknown() {
        let subject = |username| Subject {
            username,
            realm: None,
        };
        let r = compiled(
            r#"{"all":[{"any":[{"field":{"dn":"*,ou=admin,dc=acme,dc=com"}},{"field":{"username":["es-admin","es-system"]}}]},
                {"field":{"groups":"cn=people,dc=acme,dc=com"}},
                {"except":{"field":{"metadata.terminated_date":null}}}]}"#,
        );
        assert_eq!(
            r.membership(&subject("es-admin")),
            Membership::Conditional {
                assumed: vec![
                    r#"{"except":{"field":{"metadata.terminated_date":null}}}"#.to_owned(),
                    r#"{"field":{"groups":"cn=people,dc=acme,dc=com"}}"#.to_owned(),
                ]
            }
        );
        // Unknown, but no username condition names this user.
        assert_eq!(r.membership(&subject("other")), Membership::No);
        // A username only inside `except` never makes a member.
        let ex = compiled(
            r#"{"all":[{"field":{"groups":"g"}},{"except":{"field":{"username":"mallory"}}}]}"#,
        );
        assert_eq!(ex.membership(&subject("alice")), Membership::No);
        assert_eq!(ex.membership(&subject("mallory")), Membership::No);
        // A pattern counts as a username condition.
        let p = compiled(r#"{"all":[{"field":{"username":"svc-*"}},{"field":{"groups":"g"}}]}"#);
        assert!(matches!(
            p.membership(&subject("svc-a")),
            Membership::Conditional { .. }
        ));
        // A known realm that contradicts the rule gives nothing, even for a literal name.
        let realm = compiled(
            r#"{"all":[{"field":{"realm.name":"saml1"}},{"field":{"username":"es-admin"}}]}"#,
        );
        let ldap = Subject {
            username: "es-admin",
            realm: Some("ldap1"),
        };
        assert_eq!(realm.membership(&ldap), Membership::No);
        let saml = Subject {
            username: "es-admin",
            realm: Some("saml1"),
        };
        assert_eq!(realm.membership(&saml), Membership::Member);
        assert!(matches!(
            realm.membership(&subject("es-admin")),
            Membership::Conditional { .. }
        ));
    }

    #[test]
    fn many_rules_over_many_users_give_exactly_the_matching_members() {
        let rules: Vec<CompiledRule> = (0..50)
            .map(|i| {
                compiled(&format!(
                    r#"{{"any":[{{"field":{{"username":"/user0{:02}[0-9]{{3}}/"}}}},{{"all":[{{"field":{{"realm.name":"saml{}"}}}},{{"field":{{"username":"user{:04}*"}}}}]}}]}}"#,
                    i % 100,
                    i % 3,
                    i
                ))
            })
            .collect();
        let names: Vec<String> = (0..4_000).map(|i| format!("user{i:06}")).collect();
        for (i, rule) in rules.iter().enumerate() {
            let members: Vec<&String> = names
                .iter()
                .filter(|name| {
                    let s = Subject {
                        username: name,
                        realm: Some("saml1"),
                    };
                    rule.membership(&s) == Membership::Member
                })
                .collect();
            // The same rule read by hand: six digits `0ii…`, or (realm saml1) the prefix `user{i:04}`.
            let expected: Vec<&String> = names
                .iter()
                .filter(|name| {
                    name[4..].starts_with(&format!("0{i:02}"))
                        || (i % 3 == 1 && name.starts_with(&format!("user{i:04}")))
                })
                .collect();
            assert_eq!(members, expected, "rule {i}");
        }
    }
}
