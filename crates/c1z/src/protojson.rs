//! Renders the stored Baton messages as protojson, the way the `baton` CLI prints them: camelCase keys in
//! field order, enums by name, zero and empty fields left out, timestamps in RFC 3339, `Struct` profiles as
//! plain objects, and annotations as objects with `@type` first.
//!
//! It decodes with the messages of [`crate::proto`], which declare every field a reader shows (also those
//! this connector never writes), so that files written by newer Go SDKs show all they hold. The output is compact and deterministic, which
//! also makes it the canonical form `inspect diff` compares.

use crate::proto::{
    self, Annotation, AppTrait, ChildResourceType, ETag, EntitlementImmutable, ExternalLink,
    ExternalResourceMatchId, GrantExpandable, GrantImmutable, GrantMetadata, GroupTrait, RawId,
    RoleTrait, SecretTrait, SkipEntitlements, SkipEntitlementsAndGrants, SkipGrants, UserTrait,
    V1Identifier,
};
use chrono::DateTime;
use prost_types::{value::Kind, Any, Struct, Timestamp, Value};

/// A JSON value whose objects keep the order their keys were added in.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, already formatted.
    Num(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in order.
    Obj(Vec<(String, Json)>),
    /// Text already rendered by [`Json::to_text`], shared by many documents (a clone copies a pointer).
    Raw(std::rc::Rc<str>),
}

impl Json {
    /// Compact text, as protojson prints it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        // Writing into a string cannot fail.
        let _ = self.write(&mut out);
        out
    }

    /// Writes the compact text to `out` as it goes, so that a large document is never held whole.
    pub fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.write(&mut IoSink(out))
    }

    fn write(&self, out: &mut dyn Sink) -> std::io::Result<()> {
        match self {
            Json::Null => out.put("null"),
            Json::Bool(b) => out.put(if *b { "true" } else { "false" }),
            Json::Num(n) => out.put(n),
            Json::Raw(text) => out.put(text),
            Json::Str(s) => quote(s, out),
            Json::Arr(items) => {
                out.put("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.put(",")?;
                    }
                    item.write(out)?;
                }
                out.put("]")
            }
            Json::Obj(fields) => {
                out.put("{")?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.put(",")?;
                    }
                    quote(key, out)?;
                    out.put(":")?;
                    value.write(out)?;
                }
                out.put("}")
            }
        }
    }
}

/// Where [`Json::write`] puts its text: a string, or an output stream.
trait Sink {
    fn put(&mut self, text: &str) -> std::io::Result<()>;
}

impl Sink for String {
    fn put(&mut self, text: &str) -> std::io::Result<()> {
        self.push_str(text);
        Ok(())
    }
}

struct IoSink<'a>(&'a mut dyn std::io::Write);

impl Sink for IoSink<'_> {
    fn put(&mut self, text: &str) -> std::io::Result<()> {
        self.0.write_all(text.as_bytes())
    }
}

/// Writes `s` as a JSON string: the quotes, and escapes for `"`, `\` and the control characters; the
/// runs between them are written as they are.
fn quote(s: &str, out: &mut dyn Sink) -> std::io::Result<()> {
    out.put("\"")?;
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched is ASCII, so `run..i` and `i + 1..` fall on character boundaries.
        out.put(&s[run..i])?;
        if escape.is_empty() {
            out.put(&format!("\\u{b:04x}"))?;
        } else {
            out.put(escape)?;
        }
        run = i + 1;
    }
    out.put(&s[run..])?;
    out.put("\"")
}

/// Builds a protojson object, leaving out the fields proto3 does not emit.
#[derive(Debug, Default)]
pub struct Obj(Vec<(String, Json)>);

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj::default()
    }

    /// Adds a field as is.
    pub fn field(mut self, key: &str, value: Json) -> Obj {
        self.0.push((key.to_owned(), value));
        self
    }

    /// A string field, when not empty.
    pub fn str(self, key: &str, value: &str) -> Obj {
        if value.is_empty() {
            self
        } else {
            self.field(key, Json::Str(value.to_owned()))
        }
    }

    /// A boolean field, when true.
    pub fn bool(self, key: &str, value: bool) -> Obj {
        if value {
            self.field(key, Json::Bool(true))
        } else {
            self
        }
    }

    /// An enum field by name, when not zero.
    pub fn enumeration(self, key: &str, value: i32, names: &[&str]) -> Obj {
        if value == 0 {
            self
        } else {
            self.field(key, enum_json(value, names))
        }
    }

    /// A message field, when present (an empty message still shows as `{}`).
    pub fn msg(self, key: &str, value: Option<Json>) -> Obj {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    /// A repeated field, when not empty.
    pub fn list(self, key: &str, values: Vec<Json>) -> Obj {
        if values.is_empty() {
            self
        } else {
            self.field(key, Json::Arr(values))
        }
    }

    /// A repeated string field, when not empty.
    pub fn strs(self, key: &str, values: &[String]) -> Obj {
        self.list(key, values.iter().map(|v| Json::Str(v.clone())).collect())
    }

    /// The finished object.
    pub fn build(self) -> Json {
        Json::Obj(self.0)
    }
}

/// An enum value by name (`names[value]`), or its number when the name is unknown.
fn enum_json(value: i32, names: &[&str]) -> Json {
    match usize::try_from(value).ok().and_then(|i| names.get(i)) {
        Some(name) => Json::Str((*name).to_owned()),
        None => Json::Num(value.to_string()),
    }
}

/// `c1.connector.v2.ResourceType.Trait` names.
pub const TRAITS: &[&str] = &[
    "TRAIT_UNSPECIFIED",
    "TRAIT_USER",
    "TRAIT_GROUP",
    "TRAIT_ROLE",
    "TRAIT_APP",
    "TRAIT_SECRET",
    "TRAIT_SECURITY_INSIGHT",
    "TRAIT_SCOPE_BINDING",
    "TRAIT_VENDOR",
    "TRAIT_VENDOR_AGREEMENT",
    "TRAIT_LICENSE_PROFILE",
    "TRAIT_AGENT",
    "TRAIT_MANAGED_DEVICE",
];
const PURPOSES: &[&str] = &[
    "PURPOSE_VALUE_UNSPECIFIED",
    "PURPOSE_VALUE_ASSIGNMENT",
    "PURPOSE_VALUE_PERMISSION",
    "PURPOSE_VALUE_OWNERSHIP",
];
const CREDENTIAL_TYPES: &[&str] = &[
    "CREDENTIAL_TYPE_UNSPECIFIED",
    "CREDENTIAL_TYPE_STATIC_SECRET",
    "CREDENTIAL_TYPE_ASYMMETRIC_KEY",
    "CREDENTIAL_TYPE_CERTIFICATE",
];
const CREATION_SOURCES: &[&str] = &[
    "CREATION_SOURCE_UNSPECIFIED",
    "CREATION_SOURCE_CONNECTOR_LIST_RESOURCES",
    "CREATION_SOURCE_CONNECTOR_LIST_GRANTS_PRINCIPAL_JIT",
];
const RESOURCE_STATUSES: &[&str] = &[
    "RESOURCE_STATUS_UNSPECIFIED",
    "RESOURCE_STATUS_ENABLED",
    "RESOURCE_STATUS_DISABLED",
    "RESOURCE_STATUS_DELETED",
];
const USER_STATUSES: &[&str] = &[
    "STATUS_UNSPECIFIED",
    "STATUS_ENABLED",
    "STATUS_DISABLED",
    "STATUS_DELETED",
];
const ACCOUNT_TYPES: &[&str] = &[
    "ACCOUNT_TYPE_UNSPECIFIED",
    "ACCOUNT_TYPE_HUMAN",
    "ACCOUNT_TYPE_SERVICE",
    "ACCOUNT_TYPE_SYSTEM",
];
const APP_FLAGS: &[&str] = &[
    "APP_FLAG_UNSPECIFIED",
    "APP_FLAG_HIDDEN",
    "APP_FLAG_INACTIVE",
    "APP_FLAG_SAML",
    "APP_FLAG_OIDC",
    "APP_FLAG_BOOKMARK",
];

/// The names of trait values, for console tables.
pub fn trait_names(traits: &[i32]) -> Vec<String> {
    traits
        .iter()
        .map(|t| match enum_json(*t, TRAITS) {
            Json::Str(s) | Json::Num(s) => s,
            _ => t.to_string(),
        })
        .collect()
}

/// A `google.protobuf.Timestamp` in RFC 3339 (UTC, `Z`, 0, 3, 6 or 9 fraction digits).
pub fn timestamp_text(ts: &Timestamp) -> String {
    match DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0)) {
        Some(at) => rfc3339(&at.naive_utc()),
        None => format!("{}s", ts.seconds),
    }
}

/// A UTC wall-clock time in protojson's RFC 3339 form.
pub fn rfc3339(at: &chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    let nanos = at.nanosecond() % 1_000_000_000;
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!("{}{fraction}Z", at.format("%Y-%m-%dT%H:%M:%S"))
}

fn timestamp(ts: &Option<Timestamp>) -> Option<Json> {
    ts.as_ref().map(|t| Json::Str(timestamp_text(t)))
}

fn number(n: f64) -> Json {
    if n.is_nan() {
        Json::Str("NaN".into())
    } else if n.is_infinite() {
        Json::Str(if n > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Json::Num(format!("{n}"))
    }
}

/// A `google.protobuf.Struct` as a plain object, keys sorted.
pub fn struct_json(s: &Struct) -> Json {
    Json::Obj(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

fn value_json(v: &Value) -> Json {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Json::Str(s.clone()),
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::StructValue(s)) => struct_json(s),
        Some(Kind::ListValue(l)) => Json::Arr(l.values.iter().map(value_json).collect()),
    }
}

fn profile(s: &Option<Struct>) -> Option<Json> {
    s.as_ref().map(struct_json)
}

/// Standard base64 with padding, as protojson writes `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `ResourceType` as protojson.
pub fn resource_type(rt: &proto::ResourceType) -> Json {
    Obj::new()
        .str("id", &rt.id)
        .str("displayName", &rt.display_name)
        .list(
            "traits",
            rt.traits.iter().map(|t| enum_json(*t, TRAITS)).collect(),
        )
        .list("annotations", annotations(&rt.annotations))
        .str("description", &rt.description)
        .bool("sourcedExternally", rt.sourced_externally)
        .build()
}

/// `ResourceId` as protojson.
pub fn resource_id(id: &proto::ResourceId) -> Json {
    Obj::new()
        .str("resourceType", &id.resource_type)
        .str("resource", &id.resource)
        .bool("batonResource", id.baton_resource)
        .build()
}

fn status(value: i32, details: &str, names: &[&str]) -> Json {
    Obj::new()
        .enumeration("status", value, names)
        .str("details", details)
        .build()
}

fn asset(a: &Option<proto::AssetRef>) -> Option<Json> {
    a.as_ref().map(|a| Obj::new().str("id", &a.id).build())
}

/// `Resource` as protojson.
pub fn resource(r: &proto::Resource) -> Json {
    Obj::new()
        .msg("id", r.id.as_ref().map(resource_id))
        .msg(
            "parentResourceId",
            r.parent_resource_id.as_ref().map(resource_id),
        )
        .str("displayName", &r.display_name)
        .list("annotations", annotations(&r.annotations))
        .str("description", &r.description)
        .bool("batonResource", r.baton_resource)
        .msg(
            "externalId",
            r.external_id.as_ref().map(|e| {
                Obj::new()
                    .str("id", &e.id)
                    .str("link", &e.link)
                    .str("description", &e.description)
                    .build()
            }),
        )
        .enumeration("creationSource", r.creation_source, CREATION_SOURCES)
        .msg("profile", profile(&r.profile))
        .msg("icon", asset(&r.icon))
        .msg(
            "status",
            r.status
                .as_ref()
                .map(|s| status(s.status, &s.details, RESOURCE_STATUSES)),
        )
        .msg("createdAt", timestamp(&r.created_at))
        .build()
}

/// `Entitlement` as protojson.
pub fn entitlement(e: &proto::Entitlement) -> Json {
    Obj::new()
        .msg("resource", e.resource.as_ref().map(resource))
        .str("id", &e.id)
        .str("displayName", &e.display_name)
        .str("description", &e.description)
        .list(
            "grantableTo",
            e.grantable_to.iter().map(resource_type).collect(),
        )
        .list("annotations", annotations(&e.annotations))
        .enumeration("purpose", e.purpose, PURPOSES)
        .str("slug", &e.slug)
        .build()
}

/// `Grant` as protojson.
pub fn grant(g: &proto::Grant) -> Json {
    Obj::new()
        .msg("entitlement", g.entitlement.as_ref().map(entitlement))
        .msg("principal", g.principal.as_ref().map(resource))
        .str("id", &g.id)
        .list("annotations", annotations(&g.annotations))
        .msg("sources", g.sources.as_ref().map(grant_sources))
        .build()
}

/// `GrantSources` as protojson: `{"sources":{"<entitlement id>":{"isDirect":true}, …}}`, keys sorted.
pub fn grant_sources(s: &proto::GrantSources) -> Json {
    let map = Json::Obj(
        s.to_map()
            .into_iter()
            .map(|(k, v)| (k, Obj::new().bool("isDirect", v.is_direct).build()))
            .collect(),
    );
    if s.sources.is_empty() {
        Obj::new().build()
    } else {
        Obj::new().field("sources", map).build()
    }
}

fn annotations(list: &[Any]) -> Vec<Json> {
    list.iter().map(annotation).collect()
}

/// One annotation: `@type`, then the fields of the message it holds when its type is known; otherwise
/// `@type` and the raw `value` in base64.
pub fn annotation(any: &Any) -> Json {
    let name = any.type_url.rsplit('/').next().unwrap_or(&any.type_url);
    let head = Obj::new().field("@type", Json::Str(any.type_url.clone()));
    match known_annotation(name, &any.value, head) {
        Some(Ok(json)) => json,
        _ => Obj::new()
            .field("@type", Json::Str(any.type_url.clone()))
            .str("value", &base64(&any.value))
            .build(),
    }
}

fn decode<A: Annotation>(bytes: &[u8]) -> Result<A, prost::DecodeError> {
    A::decode(bytes)
}

/// Renders a known annotation type; `None` for an unknown type, an error when its bytes do not decode.
fn known_annotation(
    name: &str,
    bytes: &[u8],
    head: Obj,
) -> Option<Result<Json, prost::DecodeError>> {
    let json = match name {
        UserTrait::TYPE_NAME => decode::<UserTrait>(bytes).map(|m| user_trait(&m, head)),
        GroupTrait::TYPE_NAME => decode::<GroupTrait>(bytes).map(|m| {
            head.msg("icon", asset(&m.icon))
                .msg("profile", profile(&m.profile))
                .build()
        }),
        RoleTrait::TYPE_NAME => {
            decode::<RoleTrait>(bytes).map(|m| head.msg("profile", profile(&m.profile)).build())
        }
        AppTrait::TYPE_NAME => decode::<AppTrait>(bytes).map(|m| {
            head.str("helpUrl", &m.help_url)
                .msg("icon", asset(&m.icon))
                .msg("logo", asset(&m.logo))
                .msg("profile", profile(&m.profile))
                .list(
                    "flags",
                    m.flags.iter().map(|f| enum_json(*f, APP_FLAGS)).collect(),
                )
                .build()
        }),
        SecretTrait::TYPE_NAME => decode::<SecretTrait>(bytes).map(|m| {
            head.msg("profile", profile(&m.profile))
                .msg("createdAt", timestamp(&m.created_at))
                .msg("expiresAt", timestamp(&m.expires_at))
                .msg("lastUsedAt", timestamp(&m.last_used_at))
                .msg("createdById", m.created_by_id.as_ref().map(resource_id))
                .msg("identityId", m.identity_id.as_ref().map(resource_id))
                .enumeration("credentialType", m.credential_type, CREDENTIAL_TYPES)
                .str("credentialDetail", &m.credential_detail)
                .build()
        }),
        ChildResourceType::TYPE_NAME => decode::<ChildResourceType>(bytes)
            .map(|m| head.str("resourceTypeId", &m.resource_type_id).build()),
        SkipEntitlementsAndGrants::TYPE_NAME => {
            decode::<SkipEntitlementsAndGrants>(bytes).map(|_| head.build())
        }
        SkipEntitlements::TYPE_NAME => decode::<SkipEntitlements>(bytes).map(|_| head.build()),
        SkipGrants::TYPE_NAME => decode::<SkipGrants>(bytes).map(|_| head.build()),
        GrantExpandable::TYPE_NAME => decode::<GrantExpandable>(bytes).map(|m| {
            head.strs("entitlementIds", &m.entitlement_ids)
                .bool("shallow", m.shallow)
                .strs("resourceTypeIds", &m.resource_type_ids)
                .build()
        }),
        ExternalResourceMatchId::TYPE_NAME => {
            decode::<ExternalResourceMatchId>(bytes).map(|m| head.str("id", &m.id).build())
        }
        GrantMetadata::TYPE_NAME => decode::<GrantMetadata>(bytes)
            .map(|m| head.msg("metadata", profile(&m.metadata)).build()),
        GrantImmutable::TYPE_NAME => {
            decode::<GrantImmutable>(bytes).map(|m| immutable(head, &m.source_id, &m.metadata))
        }
        EntitlementImmutable::TYPE_NAME => decode::<EntitlementImmutable>(bytes)
            .map(|m| immutable(head, &m.source_id, &m.metadata)),
        V1Identifier::TYPE_NAME => {
            decode::<V1Identifier>(bytes).map(|m| head.str("id", &m.id).build())
        }
        RawId::TYPE_NAME => decode::<RawId>(bytes).map(|m| head.str("id", &m.id).build()),
        ExternalLink::TYPE_NAME => {
            decode::<ExternalLink>(bytes).map(|m| head.str("url", &m.url).build())
        }
        ETag::TYPE_NAME => decode::<ETag>(bytes).map(|m| {
            head.str("value", &m.value)
                .str("entitlementId", &m.entitlement_id)
                .build()
        }),
        _ => return None,
    };
    Some(json)
}

/// `GrantImmutable` or `EntitlementImmutable` (the same fields), after `head`.
fn immutable(head: Obj, source_id: &str, metadata: &Option<Struct>) -> Json {
    head.str("sourceId", source_id)
        .msg("metadata", profile(metadata))
        .build()
}

/// `UserTrait` as protojson, after `head`.
fn user_trait(m: &proto::UserTrait, head: Obj) -> Json {
    head.list(
        "emails",
        m.emails
            .iter()
            .map(|e| {
                Obj::new()
                    .str("address", &e.address)
                    .bool("isPrimary", e.is_primary)
                    .build()
            })
            .collect(),
    )
    .msg(
        "status",
        m.status
            .as_ref()
            .map(|s| status(s.status, &s.details, USER_STATUSES)),
    )
    .msg("profile", profile(&m.profile))
    .msg("icon", asset(&m.icon))
    .enumeration("accountType", m.account_type, ACCOUNT_TYPES)
    .str("login", &m.login)
    .strs("loginAliases", &m.login_aliases)
    .msg("createdAt", timestamp(&m.created_at))
    .msg("lastLogin", timestamp(&m.last_login))
    .msg(
        "mfaStatus",
        m.mfa_status
            .as_ref()
            .map(|f| Obj::new().bool("mfaEnabled", f.mfa_enabled).build()),
    )
    .msg(
        "ssoStatus",
        m.sso_status
            .as_ref()
            .map(|f| Obj::new().bool("ssoEnabled", f.sso_enabled).build()),
    )
    .msg(
        "structuredName",
        m.structured_name.as_ref().map(|n| {
            Obj::new()
                .str("givenName", &n.given_name)
                .str("familyName", &n.family_name)
                .strs("middleNames", &n.middle_names)
                .str("prefix", &n.prefix)
                .str("suffix", &n.suffix)
                .build()
        }),
    )
    .strs("employeeIds", &m.employee_ids)
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn decode_resource(r: &proto::Resource) -> proto::Resource {
        proto::Resource::decode(r.encode_to_vec().as_slice()).unwrap()
    }

    #[test]
    fn strings_and_keys_are_escaped_as_json() {
        let text = "plain \"quoted\" back\\slash\nline\ttab\r\u{1}\u{1f} é€ \u{7f}";
        let json = Obj::new().str(text, text).build().to_text();
        // DEL and the non-ASCII characters stay as they are.
        let escaped =
            "\"plain \\\"quoted\\\" back\\\\slash\\nline\\ttab\\r\\u0001\\u001f é€ \u{7f}\"";
        assert_eq!(json, format!("{{{escaped}:{escaped}}}"));
        let round_trip: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(round_trip[text], text);
        assert_eq!(Json::Str(String::new()).to_text(), r#""""#);
        assert_eq!(Json::Str("\"".into()).to_text(), r#""\"""#);
    }

    #[test]
    fn protojson_resource_with_user_trait_and_profile() {
        let r = proto::Resource {
            id: Some(proto::ResourceId::new("user", "u1")),
            display_name: "Ann \"A\"".into(),
            annotations: vec![proto::any(&proto::UserTrait {
                emails: vec![proto::Email {
                    address: "a@example.com".into(),
                    is_primary: true,
                }],
                status: Some(proto::UserStatus {
                    status: proto::UserStatusValue::Enabled as i32,
                    details: String::new(),
                }),
                profile: Some(
                    proto::ProfileBuilder::new()
                        .string("b", "x")
                        .bool("a", false)
                        .build(),
                ),
                account_type: proto::AccountType::Human as i32,
                login: "ann".into(),
                ..Default::default()
            })],
            ..Default::default()
        };
        let text = resource(&decode_resource(&r)).to_text();
        assert_eq!(
            text,
            r#"{"id":{"resourceType":"user","resource":"u1"},"displayName":"Ann \"A\"","annotations":[{"@type":"type.googleapis.com/c1.connector.v2.UserTrait","emails":[{"address":"a@example.com","isPrimary":true}],"status":{"status":"STATUS_ENABLED"},"profile":{"a":false,"b":"x"},"accountType":"ACCOUNT_TYPE_HUMAN","login":"ann"}]}"#
        );
    }

    #[test]
    fn protojson_unknown_annotation_is_base64_and_bad_known_one_too() {
        let unknown = Any {
            type_url: "type.googleapis.com/x.y.Z".into(),
            value: vec![1, 2, 3, 4],
        };
        assert_eq!(
            annotation(&unknown).to_text(),
            r#"{"@type":"type.googleapis.com/x.y.Z","value":"AQIDBA=="}"#
        );
        let broken = Any {
            type_url: "type.googleapis.com/c1.connector.v2.RoleTrait".into(),
            value: vec![0x0a, 0xff],
        };
        assert_eq!(
            annotation(&broken).to_text(),
            r#"{"@type":"type.googleapis.com/c1.connector.v2.RoleTrait","value":"Cv8="}"#
        );
    }

    #[test]
    fn protojson_annotations_are_matched_by_message_name() {
        let rendered: Vec<String> = [
            proto::any(&proto::SkipGrants {}),
            proto::any(&proto::RawId { id: "r1".into() }),
            proto::any(&proto::EntitlementImmutable {
                source_id: "s1".into(),
                metadata: None,
            }),
        ]
        .iter()
        .map(|a| annotation(a).to_text())
        .collect();
        assert_eq!(
            rendered,
            [
                r#"{"@type":"type.googleapis.com/c1.connector.v2.SkipGrants"}"#,
                r#"{"@type":"type.googleapis.com/c1.connector.v2.RawId","id":"r1"}"#,
                r#"{"@type":"type.googleapis.com/c1.connector.v2.EntitlementImmutable","sourceId":"s1"}"#,
            ]
        );
    }

    #[test]
    fn protojson_grant_sources_are_sorted_by_key() {
        let entry = |key: &str| proto::GrantSourceEntry {
            key: key.into(),
            value: Some(proto::GrantSource { is_direct: true }),
        };
        let g = proto::Grant {
            sources: Some(proto::GrantSources {
                sources: vec![entry("b"), entry("a")],
            }),
            ..Default::default()
        };
        assert_eq!(
            grant(&g).to_text(),
            r#"{"sources":{"sources":{"a":{"isDirect":true},"b":{"isDirect":true}}}}"#
        );
    }

    #[test]
    fn protojson_numbers_timestamps_and_base64() {
        let s = Struct {
            fields: [
                (
                    "n".to_owned(),
                    Value {
                        kind: Some(Kind::NumberValue(55.0)),
                    },
                ),
                (
                    "f".to_owned(),
                    Value {
                        kind: Some(Kind::NumberValue(0.5)),
                    },
                ),
                (
                    "z".to_owned(),
                    Value {
                        kind: Some(Kind::NullValue(0)),
                    },
                ),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(struct_json(&s).to_text(), r#"{"f":0.5,"n":55,"z":null}"#);
        let ts = |seconds, nanos| timestamp_text(&Timestamp { seconds, nanos });
        assert_eq!(ts(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(ts(1, 500_000_000), "1970-01-01T00:00:01.500Z");
        assert_eq!(ts(1, 57_185_000), "1970-01-01T00:00:01.057185Z");
        assert_eq!(ts(1, 1), "1970-01-01T00:00:01.000000001Z");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn protojson_enums_unknown_values_are_numbers() {
        let rt = proto::ResourceType {
            id: "t".into(),
            traits: vec![0, 1, 99],
            ..Default::default()
        };
        assert_eq!(
            resource_type(&rt).to_text(),
            r#"{"id":"t","traits":["TRAIT_UNSPECIFIED","TRAIT_USER",99]}"#
        );
        assert_eq!(trait_names(&[3, 99]), ["TRAIT_ROLE", "99"]);
    }
}
