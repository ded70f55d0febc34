//! Membership changes for `grant` and `revoke`, one module per resource type. Each module holds pure
//! functions from the object as read to the object to write back, so every rule is unit-tested without
//! a server.

pub mod role;
pub mod role_mapping;
