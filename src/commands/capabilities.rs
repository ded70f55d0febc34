//! `capabilities`: prints the connector's capabilities JSON in the Go connector's format: compact
//! protojson of `ConnectorCapabilities`, resource types in syncer order, no trailing newline.

use crate::output;
use crate::syncers;
use baton_c1z::proto::ResourceType;
use baton_c1z::protojson::{self, Json, Obj};

/// The resource types whose entitlements `grant` and `revoke` change: the Elastic Cloud organization
/// (membership and Cloud roles) and deployment (its Cloud roles), and the deployment's roles and role
/// mappings.
pub const PROVISIONED_TYPES: [&str; 4] = [
    syncers::organization::TYPE_ID,
    syncers::deployment::TYPE_ID,
    syncers::role::TYPE_ID,
    syncers::role_mapping::TYPE_ID,
];

/// The capabilities document for these resource types.
pub fn document(types: &[ResourceType]) -> anyhow::Result<String> {
    let mut items = Vec::new();
    for rt in types {
        let mut capabilities = vec![Json::Str("CAPABILITY_SYNC".into())];
        if PROVISIONED_TYPES.contains(&rt.id.as_str()) {
            capabilities.push(Json::Str("CAPABILITY_PROVISION".into()));
        }
        items.push(
            Obj::new()
                .field("resourceType", protojson::resource_type(rt))
                .list("capabilities", capabilities)
                .build(),
        );
    }
    Ok(Obj::new()
        .list("resourceTypeCapabilities", items)
        .build()
        .to_text())
}

/// Prints the capabilities JSON to stdout. Needs no key and reads nothing.
pub fn run() -> anyhow::Result<()> {
    output::print(&document(&syncers::resource_types())?)
}
