//! The `c1.connector.v2` protobuf messages that a `.c1z` file stores, declared by hand for prost.
//!
//! These are the one declaration of each message, used both to write records and to read them back (the
//! `inspect` renderer in [`crate::protojson`] decodes with them). Every field of the protocol that a reader
//! shows is declared, also those this connector never sets: proto3 leaves zero and empty fields out, so an
//! unset field costs no bytes and the writer's output does not depend on them. Field numbers follow the Baton
//! connector protocol. Maps are written as sorted repeated entries so that the same input always gives the
//! same bytes.

use anyhow::Context;
use prost::Message;
pub use prost_types::{value::Kind, Any, ListValue, Struct, Timestamp, Value};
use std::collections::BTreeMap;

/// Prefix of every annotation's `Any.type_url`.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// What a resource type is, for Baton.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Trait {
    /// No trait.
    Unspecified = 0,
    /// A user account.
    User = 1,
    /// A group of principals.
    Group = 2,
    /// A role.
    Role = 3,
    /// An application.
    App = 4,
    /// A credential: an API key, a token, a certificate (carries a [`SecretTrait`]). Readers older than
    /// the trait decode it as an unknown enum value, which proto3 keeps.
    Secret = 5,
}

/// `c1.connector.v2.ResourceType`.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceType {
    /// The id, unique in the sync (e.g. `user`).
    #[prost(string, tag = "1")]
    pub id: String,
    /// The name shown.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// The [`Trait`] values of its resources.
    #[prost(enumeration = "Trait", repeated, tag = "3")]
    pub traits: Vec<i32>,
    /// Annotations, e.g. [`SkipEntitlementsAndGrants`].
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    /// A description shown.
    #[prost(string, tag = "5")]
    pub description: String,
    /// Whether the resources come from another system than the connector's.
    #[prost(bool, tag = "6")]
    pub sourced_externally: bool,
}

/// `c1.connector.v2.ResourceId`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Message)]
pub struct ResourceId {
    /// The resource type's id.
    #[prost(string, tag = "1")]
    pub resource_type: String,
    /// The resource's id within its type.
    #[prost(string, tag = "2")]
    pub resource: String,
    /// Baton's `baton_resource` flag: the resource was made by Baton, not the connector.
    #[prost(bool, tag = "3")]
    pub baton_resource: bool,
}

impl ResourceId {
    /// A resource id of `resource_type` and `resource`.
    pub fn new(resource_type: &str, resource: &str) -> Self {
        ResourceId {
            resource_type: resource_type.to_owned(),
            resource: resource.to_owned(),
            baton_resource: false,
        }
    }
}

/// `c1.connector.v2.ExternalId`.
#[derive(Clone, PartialEq, Message)]
pub struct ExternalId {
    /// The id in the external system.
    #[prost(string, tag = "1")]
    pub id: String,
    /// A link to the object there.
    #[prost(string, tag = "2")]
    pub link: String,
    /// A description of the object there.
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `c1.connector.v2.AssetRef`: an icon or logo stored in the file's assets.
#[derive(Clone, PartialEq, Message)]
pub struct AssetRef {
    /// The asset's id.
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `c1.connector.v2.Resource.Status`; `status` is a `RESOURCE_STATUS_` value.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceStatus {
    /// A `RESOURCE_STATUS_` value.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Free text about the status.
    #[prost(string, tag = "2")]
    pub details: String,
}

/// `c1.connector.v2.Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    /// The resource's type and id.
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
    /// The parent resource, if any; the parent is written first.
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
    /// The name shown.
    #[prost(string, tag = "3")]
    pub display_name: String,
    /// Annotations: traits ([`UserTrait`], [`GroupTrait`], ...) and hints.
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    /// A description shown.
    #[prost(string, tag = "5")]
    pub description: String,
    /// Baton's `baton_resource` flag: the resource was made by Baton, not the connector.
    #[prost(bool, tag = "6")]
    pub baton_resource: bool,
    /// The object's id in an external system.
    #[prost(message, optional, tag = "7")]
    pub external_id: Option<ExternalId>,
    /// A `CREATION_SOURCE_` value.
    #[prost(int32, tag = "8")]
    pub creation_source: i32,
    /// Extra attributes as a protobuf `Struct`.
    #[prost(message, optional, tag = "9")]
    pub profile: Option<Struct>,
    /// An icon in the file's assets.
    #[prost(message, optional, tag = "10")]
    pub icon: Option<AssetRef>,
    /// The resource's status.
    #[prost(message, optional, tag = "11")]
    pub status: Option<ResourceStatus>,
    /// When the resource was created.
    #[prost(message, optional, tag = "12")]
    pub created_at: Option<Timestamp>,
}

/// What an entitlement is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Purpose {
    /// No purpose given.
    Unspecified = 0,
    /// Granting it assigns membership (e.g. of a group).
    Assignment = 1,
    /// Granting it gives a permission.
    Permission = 2,
    /// Granting it makes the principal an owner.
    Ownership = 3,
}

/// `c1.connector.v2.Entitlement`.
#[derive(Clone, PartialEq, Message)]
pub struct Entitlement {
    /// The resource the entitlement belongs to.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// The id, unique in the sync (by convention `type:resource:slug`).
    #[prost(string, tag = "2")]
    pub id: String,
    /// The name shown.
    #[prost(string, tag = "3")]
    pub display_name: String,
    /// A description shown.
    #[prost(string, tag = "4")]
    pub description: String,
    /// The resource types that can be granted it.
    #[prost(message, repeated, tag = "5")]
    pub grantable_to: Vec<ResourceType>,
    /// Annotations.
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    /// A [`Purpose`] value.
    #[prost(enumeration = "Purpose", tag = "7")]
    pub purpose: i32,
    /// A short name, e.g. `member`.
    #[prost(string, tag = "8")]
    pub slug: String,
}

/// `c1.connector.v2.Grant`.
#[derive(Clone, PartialEq, Message)]
pub struct Grant {
    /// The entitlement granted (its id and resource suffice).
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    /// Who has it (its id suffices).
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    /// The id, unique in the sync (by convention `entitlement:principal type:principal`).
    #[prost(string, tag = "3")]
    pub id: String,
    /// Annotations, e.g. [`GrantExpandable`].
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    /// The entitlements this grant was expanded from.
    #[prost(message, optional, tag = "5")]
    pub sources: Option<GrantSources>,
}

/// `c1.connector.v2.GrantSources`: the entitlements a grant was expanded from.
///
/// The protocol declares `map<string, GrantSource>`; a map is encoded as repeated key/value entries, which is
/// what this declares, so that an empty `GrantSource` is still written (`12 00`) as Baton's writer does.
#[derive(Clone, PartialEq, Message)]
pub struct GrantSources {
    /// The map's entries.
    #[prost(message, repeated, tag = "1")]
    pub sources: Vec<GrantSourceEntry>,
}

impl GrantSources {
    /// Sources from a sorted map of entitlement id to source.
    pub fn from_map(map: &BTreeMap<String, GrantSource>) -> Self {
        GrantSources {
            sources: map
                .iter()
                .map(|(key, value)| GrantSourceEntry {
                    key: key.clone(),
                    value: Some(value.clone()),
                })
                .collect(),
        }
    }

    /// The sources as the protocol's map: entries sorted by key, the last of equal keys kept, and a missing
    /// value read as an empty source.
    pub fn to_map(&self) -> BTreeMap<String, GrantSource> {
        self.sources
            .iter()
            .map(|entry| (entry.key.clone(), entry.value.clone().unwrap_or_default()))
            .collect()
    }
}

/// One entry of the `GrantSources.sources` map.
#[derive(Clone, PartialEq, Message)]
pub struct GrantSourceEntry {
    /// The id of an entitlement the grant comes from (its own when it is also direct).
    #[prost(string, tag = "1")]
    pub key: String,
    /// How it comes from it.
    #[prost(message, optional, tag = "2")]
    pub value: Option<GrantSource>,
}

/// `c1.connector.v2.GrantSource`.
#[derive(Clone, PartialEq, Message)]
pub struct GrantSource {
    /// `true` for the grant's own entitlement when it was also granted directly, `false` for an
    /// entitlement it was expanded from.
    #[prost(bool, tag = "1")]
    pub is_direct: bool,
}

/// A message that can be carried in an annotation `Any`.
pub trait Annotation: Message + Default {
    /// Fully qualified protobuf name, e.g. `c1.connector.v2.UserTrait`.
    const TYPE_NAME: &'static str;
}

/// Declares a `c1.connector.v2` message of the same name as an [`Annotation`].
macro_rules! annotation {
    ($message:ident) => {
        impl Annotation for $message {
            const TYPE_NAME: &'static str = concat!("c1.connector.v2.", stringify!($message));
        }
    };
}

/// Calls `field(tag, bytes)` for each length-delimited field of the encoded message `data`, in order,
/// skipping fields of the other wire types. A message field given twice is the merge of both, which is
/// what the concatenation of their bytes decodes to.
pub fn for_each_length_delimited<'a>(
    mut data: &'a [u8],
    mut field: impl FnMut(u32, &'a [u8]),
) -> anyhow::Result<()> {
    use prost::encoding::{decode_key, decode_varint, WireType};
    while !data.is_empty() {
        let (tag, wire_type) = decode_key(&mut data).context("read a protobuf field key")?;
        let skip = match wire_type {
            WireType::Varint => {
                decode_varint(&mut data).context("read a protobuf varint")?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut data).context("read a protobuf length")?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                anyhow::ensure!(len <= data.len(), "a protobuf field runs past the message");
                field(tag, &data[..len]);
                len
            }
            WireType::StartGroup | WireType::EndGroup => {
                anyhow::bail!("a protobuf group (field {tag}) where none is expected")
            }
        };
        anyhow::ensure!(skip <= data.len(), "a protobuf field runs past the message");
        data = &data[skip..];
    }
    Ok(())
}

/// Packs an annotation into an `Any` with the conventional type URL.
pub fn any<A: Annotation>(message: &A) -> Any {
    Any {
        type_url: format!("{TYPE_URL_PREFIX}{}", A::TYPE_NAME),
        value: message.encode_to_vec(),
    }
}

/// Finds and decodes the first annotation of type `A`, matching on the text after the last `/` of the
/// type URL as Baton's readers do.
pub fn find_annotation<A: Annotation>(annotations: &[Any]) -> anyhow::Result<Option<A>> {
    for annotation in annotations {
        let name = annotation
            .type_url
            .rsplit('/')
            .next()
            .unwrap_or(annotation.type_url.as_str());
        if name == A::TYPE_NAME {
            let message = A::decode(annotation.value.as_slice())
                .with_context(|| format!("decode annotation {}", A::TYPE_NAME))?;
            return Ok(Some(message));
        }
    }
    Ok(None)
}

/// Whether an annotation of type `A` is present.
pub fn has_annotation<A: Annotation>(annotations: &[Any]) -> bool {
    annotations
        .iter()
        .any(|a| a.type_url.rsplit('/').next() == Some(A::TYPE_NAME))
}

/// Account status inside a `UserTrait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum UserStatusValue {
    /// No status given.
    Unspecified = 0,
    /// The account can be used.
    Enabled = 1,
    /// The account is disabled.
    Disabled = 2,
    /// The account is deleted.
    Deleted = 3,
}

/// `c1.connector.v2.UserTrait.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct UserStatus {
    /// A [`UserStatusValue`] value.
    #[prost(enumeration = "UserStatusValue", tag = "1")]
    pub status: i32,
    /// Free text about the status.
    #[prost(string, tag = "2")]
    pub details: String,
}

/// `c1.connector.v2.UserTrait.Email`.
#[derive(Clone, PartialEq, Message)]
pub struct Email {
    /// The address.
    #[prost(string, tag = "1")]
    pub address: String,
    /// Whether it is the user's primary address.
    #[prost(bool, tag = "2")]
    pub is_primary: bool,
}

/// What kind of account a user is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AccountType {
    /// No account type given.
    Unspecified = 0,
    /// A person's account.
    Human = 1,
    /// An account used by software.
    Service = 2,
    /// An account of the system itself.
    System = 3,
}

/// `c1.connector.v2.UserTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct UserTrait {
    /// Email addresses.
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<Email>,
    /// The account's status.
    #[prost(message, optional, tag = "2")]
    pub status: Option<UserStatus>,
    /// Extra attributes as a protobuf `Struct`.
    #[prost(message, optional, tag = "3")]
    pub profile: Option<Struct>,
    /// An icon in the file's assets.
    #[prost(message, optional, tag = "4")]
    pub icon: Option<AssetRef>,
    /// An [`AccountType`] value.
    #[prost(enumeration = "AccountType", tag = "5")]
    pub account_type: i32,
    /// The login name.
    #[prost(string, tag = "6")]
    pub login: String,
    /// Other login names.
    #[prost(string, repeated, tag = "7")]
    pub login_aliases: Vec<String>,
    /// When the account was created.
    #[prost(message, optional, tag = "8")]
    pub created_at: Option<Timestamp>,
    /// When the user last logged in.
    #[prost(message, optional, tag = "9")]
    pub last_login: Option<Timestamp>,
    /// Multi-factor authentication status.
    #[prost(message, optional, tag = "10")]
    pub mfa_status: Option<MfaStatus>,
    /// Single sign-on status.
    #[prost(message, optional, tag = "11")]
    pub sso_status: Option<SsoStatus>,
    /// The person's name in parts.
    #[prost(message, optional, tag = "12")]
    pub structured_name: Option<StructuredName>,
    /// Employee ids.
    #[prost(string, repeated, tag = "13")]
    pub employee_ids: Vec<String>,
}

annotation!(UserTrait);

/// `c1.connector.v2.UserTrait.MFAStatus`.
#[derive(Clone, PartialEq, Message)]
pub struct MfaStatus {
    /// Whether multi-factor authentication is on.
    #[prost(bool, tag = "1")]
    pub mfa_enabled: bool,
}

/// `c1.connector.v2.UserTrait.SSOStatus`.
#[derive(Clone, PartialEq, Message)]
pub struct SsoStatus {
    /// Whether single sign-on is on.
    #[prost(bool, tag = "1")]
    pub sso_enabled: bool,
}

/// `c1.connector.v2.UserTrait.StructuredName`.
#[derive(Clone, PartialEq, Message)]
pub struct StructuredName {
    /// Given name.
    #[prost(string, tag = "1")]
    pub given_name: String,
    /// Family name.
    #[prost(string, tag = "2")]
    pub family_name: String,
    /// Middle names.
    #[prost(string, repeated, tag = "3")]
    pub middle_names: Vec<String>,
    /// Prefix, e.g. a title.
    #[prost(string, tag = "4")]
    pub prefix: String,
    /// Suffix.
    #[prost(string, tag = "5")]
    pub suffix: String,
}

/// `c1.connector.v2.GroupTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct GroupTrait {
    /// An icon in the file's assets.
    #[prost(message, optional, tag = "1")]
    pub icon: Option<AssetRef>,
    /// Extra attributes as a protobuf `Struct`.
    #[prost(message, optional, tag = "2")]
    pub profile: Option<Struct>,
}

annotation!(GroupTrait);

/// `c1.connector.v2.RoleTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct RoleTrait {
    /// Extra attributes as a protobuf `Struct`.
    #[prost(message, optional, tag = "1")]
    pub profile: Option<Struct>,
}

annotation!(RoleTrait);

/// `c1.connector.v2.ChildResourceType`: the syncer lists this type under the annotated resource.
#[derive(Clone, PartialEq, Message)]
pub struct ChildResourceType {
    /// The id of the child resource type.
    #[prost(string, tag = "1")]
    pub resource_type_id: String,
}

annotation!(ChildResourceType);

/// `c1.connector.v2.SkipEntitlementsAndGrants`: the type has no entitlements or grants of its own.
#[derive(Clone, PartialEq, Message)]
pub struct SkipEntitlementsAndGrants {}

annotation!(SkipEntitlementsAndGrants);

/// `c1.connector.v2.SkipEntitlements`: the resource has no entitlements of its own.
#[derive(Clone, PartialEq, Message)]
pub struct SkipEntitlements {}

annotation!(SkipEntitlements);

/// `c1.connector.v2.SkipGrants`: the resource has no grants of its own.
#[derive(Clone, PartialEq, Message)]
pub struct SkipGrants {}

annotation!(SkipGrants);

/// `c1.connector.v2.AppTrait`: marks an application resource; `flags` hold `APP_FLAG_` values.
#[derive(Clone, PartialEq, Message)]
pub struct AppTrait {
    /// A help page.
    #[prost(string, tag = "1")]
    pub help_url: String,
    /// An icon in the file's assets.
    #[prost(message, optional, tag = "2")]
    pub icon: Option<AssetRef>,
    /// A logo in the file's assets.
    #[prost(message, optional, tag = "3")]
    pub logo: Option<AssetRef>,
    /// Extra attributes as a protobuf `Struct`.
    #[prost(message, optional, tag = "4")]
    pub profile: Option<Struct>,
    /// `APP_FLAG_` values.
    #[prost(int32, repeated, tag = "5")]
    pub flags: Vec<i32>,
}

annotation!(AppTrait);

/// Kind of credential inside a [`SecretTrait`] (`CREDENTIAL_TYPE_` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CredentialType {
    /// Not given.
    Unspecified = 0,
    /// A static secret such as an API key or a bearer token.
    StaticSecret = 1,
    /// An asymmetric key pair.
    AsymmetricKey = 2,
    /// A certificate.
    Certificate = 3,
}

/// `c1.connector.v2.SecretTrait`: marks a credential resource (an API key, a token); who made it, whose
/// identity it acts as, and when it was created, expires and was last used. Never holds the secret.
#[derive(Clone, PartialEq, Message)]
pub struct SecretTrait {
    /// Extra attributes (deprecated in newer SDKs in favour of `Resource.profile`; older readers show it).
    #[prost(message, optional, tag = "1")]
    pub profile: Option<Struct>,
    /// When it was created (newer SDKs also read `Resource.created_at`).
    #[prost(message, optional, tag = "2")]
    pub created_at: Option<Timestamp>,
    /// When it stops working, if it expires.
    #[prost(message, optional, tag = "3")]
    pub expires_at: Option<Timestamp>,
    /// When it was last used, if known.
    #[prost(message, optional, tag = "4")]
    pub last_used_at: Option<Timestamp>,
    /// The principal that created it.
    #[prost(message, optional, tag = "5")]
    pub created_by_id: Option<ResourceId>,
    /// The principal whose identity it authenticates as.
    #[prost(message, optional, tag = "6")]
    pub identity_id: Option<ResourceId>,
    /// A [`CredentialType`] value.
    #[prost(enumeration = "CredentialType", tag = "7")]
    pub credential_type: i32,
    /// A free-form kind, e.g. `elasticsearch_api_key`.
    #[prost(string, tag = "8")]
    pub credential_detail: String,
}

annotation!(SecretTrait);

/// `c1.connector.v2.GrantExpandable`: holders of the listed entitlements also hold the grant's one.
#[derive(Clone, PartialEq, Message)]
pub struct GrantExpandable {
    /// The entitlements whose holders also get the annotated grant's entitlement.
    #[prost(string, repeated, tag = "1")]
    pub entitlement_ids: Vec<String>,
    /// Only holders whose grant of those entitlements is direct, not itself expanded.
    #[prost(bool, tag = "2")]
    pub shallow: bool,
    /// Only principals of these resource types (all when empty).
    #[prost(string, repeated, tag = "3")]
    pub resource_type_ids: Vec<String>,
}

annotation!(GrantExpandable);

/// `c1.connector.v2.ExternalResourceMatchID`: the grant's principal is a placeholder for the resource of
/// another connector's file whose `id.resource` equals `id` (any type). Baton's syncer, given that file
/// (`--external-resource-c1z`), replaces the grant with one to that resource.
#[derive(Clone, PartialEq, Message)]
pub struct ExternalResourceMatchId {
    /// The external resource's id (`ResourceId.resource`).
    #[prost(string, tag = "1")]
    pub id: String,
}

impl Annotation for ExternalResourceMatchId {
    const TYPE_NAME: &'static str = "c1.connector.v2.ExternalResourceMatchID";
}

/// `c1.connector.v2.GrantMetadata`: free-form facts about a grant.
#[derive(Clone, PartialEq, Message)]
pub struct GrantMetadata {
    /// The metadata.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<Struct>,
}

annotation!(GrantMetadata);

/// `c1.connector.v2.GrantImmutable`: the grant is managed elsewhere.
#[derive(Clone, PartialEq, Message)]
pub struct GrantImmutable {
    /// The id of the system the grant comes from.
    #[prost(string, tag = "1")]
    pub source_id: String,
    /// Metadata about it.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Struct>,
}

annotation!(GrantImmutable);

/// `c1.connector.v2.EntitlementImmutable`: the entitlement is managed elsewhere.
#[derive(Clone, PartialEq, Message)]
pub struct EntitlementImmutable {
    /// The id of the system the entitlement comes from.
    #[prost(string, tag = "1")]
    pub source_id: String,
    /// Metadata about it.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Struct>,
}

annotation!(EntitlementImmutable);

/// `c1.connector.v2.V1Identifier`: the id an older version of a connector gave the object.
#[derive(Clone, PartialEq, Message)]
pub struct V1Identifier {
    /// The old id.
    #[prost(string, tag = "1")]
    pub id: String,
}

annotation!(V1Identifier);

/// `c1.connector.v2.RawId`: the object's id in the source system.
#[derive(Clone, PartialEq, Message)]
pub struct RawId {
    /// The id.
    #[prost(string, tag = "1")]
    pub id: String,
}

annotation!(RawId);

/// `c1.connector.v2.ExternalLink`: where the object is shown in the source system.
#[derive(Clone, PartialEq, Message)]
pub struct ExternalLink {
    /// The address.
    #[prost(string, tag = "1")]
    pub url: String,
}

annotation!(ExternalLink);

/// `c1.connector.v2.ETag`.
#[derive(Clone, PartialEq, Message)]
pub struct ETag {
    /// The entity tag.
    #[prost(string, tag = "1")]
    pub value: String,
    /// The entitlement the tag belongs to, if any.
    #[prost(string, tag = "2")]
    pub entitlement_id: String,
}

annotation!(ETag);

/// Builds a `google.protobuf.Struct` for a profile. Keys are kept sorted; numbers are doubles as in
/// Baton's Go writer, so ids belong in strings.
#[derive(Debug, Default, Clone)]
pub struct ProfileBuilder {
    fields: BTreeMap<String, Value>,
}

impl ProfileBuilder {
    /// An empty profile.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a string field.
    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.fields.insert(
            key.to_owned(),
            kind_value(Kind::StringValue(value.to_owned())),
        );
        self
    }

    /// Sets a string field when a value is present.
    pub fn opt_string(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.string(key, v),
            None => self,
        }
    }

    /// Sets a boolean field.
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.fields
            .insert(key.to_owned(), kind_value(Kind::BoolValue(value)));
        self
    }

    /// Sets a number field (a double, as in Baton's Go writer).
    pub fn number(mut self, key: &str, value: f64) -> Self {
        self.fields
            .insert(key.to_owned(), kind_value(Kind::NumberValue(value)));
        self
    }

    /// Sets a list-of-strings field.
    pub fn strings<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        let values = values
            .into_iter()
            .map(|v| kind_value(Kind::StringValue(v.to_owned())))
            .collect();
        self.fields.insert(
            key.to_owned(),
            kind_value(Kind::ListValue(ListValue { values })),
        );
        self
    }

    /// The finished `Struct`.
    pub fn build(self) -> Struct {
        Struct {
            fields: self.fields,
        }
    }
}

fn kind_value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

/// The string value of a profile field, if it is a string.
pub fn profile_string<'a>(profile: &'a Struct, key: &str) -> Option<&'a str> {
    match profile.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The boolean value of a profile field, if it is a boolean.
pub fn profile_bool(profile: &Struct, key: &str) -> Option<bool> {
    match profile.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::BoolValue(b)) => Some(*b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn external_resource_match_id_matches_baton_bytes() {
        let m = ExternalResourceMatchId {
            id: "cn=admins,dc=acme,dc=com".into(),
        };
        assert_eq!(
            hex(&m.encode_to_vec()),
            "0a18636e3d61646d696e732c64633d61636d652c64633d636f6d"
        );
        let packed = any(&m);
        assert_eq!(
            packed.type_url,
            "type.googleapis.com/c1.connector.v2.ExternalResourceMatchID"
        );
        let bytes = packed.encode_to_vec();
        assert_eq!(&hex(&bytes)[..4], "0a3b");
        assert!(hex(&bytes).ends_with("121a0a18636e3d61646d696e732c64633d61636d652c64633d636f6d"));
    }

    #[test]
    fn resource_type_group_matches_baton_bytes() {
        let rt = ResourceType {
            id: "group".into(),
            display_name: "Group".into(),
            traits: vec![Trait::Group as i32],
            ..Default::default()
        };
        assert_eq!(
            hex(&rt.encode_to_vec()),
            "0a0567726f7570120547726f75701a0102"
        );
    }

    #[test]
    fn resource_type_user_with_skip_annotation_matches_baton_bytes() {
        let rt = ResourceType {
            id: "user".into(),
            display_name: "User".into(),
            traits: vec![Trait::User as i32],
            annotations: vec![any(&SkipEntitlementsAndGrants {})],
            ..Default::default()
        };
        let type_url = hex(b"type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants");
        assert_eq!(
            hex(&rt.encode_to_vec()),
            format!("0a04757365721204557365721a0101223f0a3d{type_url}")
        );
    }

    #[test]
    fn resource_matches_baton_bytes_without_latest_only_fields() {
        let r = Resource {
            id: Some(ResourceId::new("project", "project-0000000")),
            display_name: "Project 0000000".into(),
            ..Default::default()
        };
        // The observed bytes end in `4001` (creation_source, a field of newer SDKs that this writer omits).
        assert_eq!(
            hex(&r.encode_to_vec()),
            "0a1a0a0770726f6a656374120f70726f6a6563742d303030303030301a0f50726f6a6563742030303030303030"
        );
    }

    #[test]
    fn grant_sources_encode_sorted_entries_with_empty_values() {
        let mut map = BTreeMap::new();
        map.insert(
            "project:project-0000099:access".to_owned(),
            GrantSource::default(),
        );
        map.insert(
            "group:group-0000019:member".to_owned(),
            GrantSource::default(),
        );
        let grant = Grant {
            sources: Some(GrantSources::from_map(&map)),
            ..Default::default()
        };
        let expected = format!(
            "2a440a1e0a1a{}12000a220a1e{}1200",
            hex(b"group:group-0000019:member"),
            hex(b"project:project-0000099:access")
        );
        assert_eq!(hex(&grant.encode_to_vec()), expected);
    }

    #[test]
    fn grant_sources_read_as_a_map_sorted_last_entry_wins() {
        let entry = |key: &str, value: Option<GrantSource>| GrantSourceEntry {
            key: key.to_owned(),
            value,
        };
        let sources = GrantSources {
            sources: vec![
                entry("b", Some(GrantSource { is_direct: true })),
                entry("a", None),
                entry("b", Some(GrantSource { is_direct: false })),
            ],
        };
        let map = sources.to_map();
        let read: Vec<(&str, bool)> = map.iter().map(|(k, v)| (k.as_str(), v.is_direct)).collect();
        assert_eq!(read, [("a", false), ("b", false)]);
    }

    #[test]
    fn fields_left_at_their_defaults_add_no_bytes() {
        let user = UserTrait {
            login: "ann".into(),
            ..Default::default()
        };
        assert_eq!(hex(&user.encode_to_vec()), format!("3203{}", hex(b"ann")));
        let app = AppTrait {
            profile: Some(Struct::default()),
            ..Default::default()
        };
        assert_eq!(hex(&app.encode_to_vec()), "2200");
    }

    #[test]
    fn profile_numbers_free_struct_keys_are_sorted() {
        let s = ProfileBuilder::new()
            .string("zeta", "z")
            .bool("alpha", true)
            .build();
        let keys: Vec<&String> = s.fields.keys().collect();
        assert_eq!(keys, ["alpha", "zeta"]);
        // Same input, same bytes.
        let again = ProfileBuilder::new()
            .bool("alpha", true)
            .string("zeta", "z")
            .build();
        assert_eq!(s.encode_to_vec(), again.encode_to_vec());
    }

    #[test]
    fn annotations_round_trip_by_type_name() {
        let anns = vec![
            any(&ChildResourceType {
                resource_type_id: "user".into(),
            }),
            any(&SkipEntitlementsAndGrants {}),
        ];
        let child: Option<ChildResourceType> = find_annotation(&anns).expect("decodes");
        assert_eq!(child.map(|c| c.resource_type_id), Some("user".to_owned()));
        assert!(has_annotation::<SkipEntitlementsAndGrants>(&anns));
        assert!(!has_annotation::<UserTrait>(&anns));
    }
}
