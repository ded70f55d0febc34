//! The sync-scope options (`--sync-resource-types`, `--skip-grants`, `--skip-entitlements-and-grants`):
//! which API lists the chosen records need, and a sink that keeps only the chosen records.
//!
//! A resource belongs to its type; an entitlement and a grant to the type of the resource the
//! entitlement is on (so `role:<r>:member` grants to role mappings are `role` records). The lists each
//! type needs are below; everything else is not requested.

use super::ids;
use crate::config::SyncScope;
use crate::snapshot::Needs;
use baton_c1z::proto::{Entitlement, Grant, Resource};
use baton_c1z::RecordSink;

/// What the resources of `type_id` need, and what its entitlements and grants need on top.
fn type_needs(type_id: &str) -> (Needs, Needs) {
    let none = Needs::NONE;
    match type_id {
        // Pending invitations hold organization grants too.
        ids::ORGANIZATION => (
            Needs {
                organizations: true,
                ..none
            },
            Needs {
                members: true,
                invitations: true,
                ..none
            },
        ),
        // A deployment's organization is found from the members' role assignments.
        ids::DEPLOYMENT => (
            Needs {
                organizations: true,
                members: true,
                deployments: true,
                ..none
            },
            Needs {
                invitations: true,
                ..none
            },
        ),
        // Pending invitations are users too.
        ids::USER => (
            Needs {
                organizations: true,
                members: true,
                invitations: true,
                ..none
            },
            none,
        ),
        // Roles named by users, profiles and mappings are resources too.
        ids::ROLE => (
            Needs {
                users: true,
                roles: true,
                role_mappings: true,
                profiles: true,
                ..none
            },
            none,
        ),
        // API key owners of other realms are deployment users too.
        ids::DEPLOYMENT_USER => (
            Needs {
                users: true,
                role_mappings: true,
                profiles: true,
                api_keys: true,
                ..none
            },
            none,
        ),
        ids::SERVICE_ACCOUNT => (
            Needs {
                service_accounts: true,
                ..none
            },
            none,
        ),
        // A key's owner: a native user, another realm's user or a service account.
        ids::API_KEY => (
            Needs {
                api_keys: true,
                ..none
            },
            Needs {
                users: true,
                service_accounts: true,
                ..none
            },
        ),
        // Members are evaluated over every external user: native names (twins) and profiles.
        ids::ROLE_MAPPING => (
            Needs {
                role_mappings: true,
                ..none
            },
            Needs {
                users: true,
                profiles: true,
                ..none
            },
        ),
        ids::GROUP => (
            Needs {
                role_mappings: true,
                ..none
            },
            none,
        ),
        // A project's organization is in the project itself.
        ids::PROJECT => (
            Needs {
                organizations: true,
                projects: true,
                ..none
            },
            Needs {
                members: true,
                ..none
            },
        ),
        _ => (none, none),
    }
}

/// The lists a sync of `scope` reads: those of every chosen type, without those only grants need when
/// grants are skipped.
pub fn needs(scope: &SyncScope) -> Needs {
    super::resource_types()
        .iter()
        .filter(|t| scope.includes_type(&t.id))
        .map(|t| {
            let (resources, grants) = type_needs(&t.id);
            if scope.grants() {
                resources.union(grants)
            } else {
                resources
            }
        })
        .fold(Needs::NONE, Needs::union)
}

/// Passes on only the records `scope` chooses.
pub struct ScopedSink<'a> {
    scope: &'a SyncScope,
    inner: &'a mut dyn RecordSink,
}

impl<'a> ScopedSink<'a> {
    /// Filters what is handed to `inner`.
    pub fn new(scope: &'a SyncScope, inner: &'a mut dyn RecordSink) -> Self {
        ScopedSink { scope, inner }
    }
}

fn entitlement_type(entitlement: Option<&Entitlement>) -> &str {
    entitlement
        .and_then(|e| e.resource.as_ref())
        .and_then(|r| r.id.as_ref())
        .map_or("", |id| id.resource_type.as_str())
}

impl RecordSink for ScopedSink<'_> {
    fn resource(&mut self, resource: Resource) {
        let type_id = resource
            .id
            .as_ref()
            .map_or("", |id| id.resource_type.as_str());
        if self.scope.includes_type(type_id) {
            self.inner.resource(resource);
        }
    }

    fn entitlement(&mut self, entitlement: Entitlement) {
        if self.scope.entitlements()
            && self
                .scope
                .includes_type(entitlement_type(Some(&entitlement)))
        {
            self.inner.entitlement(entitlement);
        }
    }

    fn grant(&mut self, grant: Grant) {
        if self.scope.grants()
            && self
                .scope
                .includes_type(entitlement_type(grant.entitlement.as_ref()))
        {
            self.inner.grant(grant);
        }
    }
}
