//! Membership changes for `grant` and `revoke`, one module per resource type (deployment roles, role
//! mappings, Elastic Cloud roles, organization membership). Each module holds pure
//! functions from the object as read to the object to write back, so every rule is unit-tested without
//! a server.

pub mod cloud_role;
pub mod organization;
pub mod role;
pub mod role_mapping;
