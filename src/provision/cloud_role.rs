//! Elastic Cloud role assignments of one organization member: which role an entitlement stands for,
//! whether the member holds it (directly, or through a broader assignment), and the one assignment a
//! grant adds or a revoke removes.
//!
//! Holdings are read exactly as the sync reads them ([`crate::syncers::assignments`]): an organization
//! role from the organization scope, an all-deployments role from a deployment assignment with
//! `all: true`, a role on one deployment from a deployment assignment naming it, and the `admin` of every
//! deployment also from the Organization owner role.

use crate::syncers::assignments::{deployment_assignments, organization_assignments};
use crate::syncers::ids::{role_entitlement_id, DEPLOYMENT_ROLES};
use elastic_api::cloud::{
    DeploymentRoleAssignment, Member, OrganizationRoleAssignment, RoleAssignments,
};

/// The organization owner's role id.
pub const ORGANIZATION_ADMIN: &str = "organization-admin";

/// A predefined Elastic Cloud role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CloudRole {
    /// `organization-admin`, the Organization owner.
    OrganizationAdmin,
    /// `billing-admin`.
    BillingAdmin,
    /// `deployment-admin`.
    DeploymentAdmin,
    /// `deployment-editor`.
    DeploymentEditor,
    /// `deployment-viewer`.
    DeploymentViewer,
}

impl CloudRole {
    /// Every role, in the order of the entitlements.
    pub const ALL: [CloudRole; 5] = [
        CloudRole::OrganizationAdmin,
        CloudRole::BillingAdmin,
        CloudRole::DeploymentAdmin,
        CloudRole::DeploymentEditor,
        CloudRole::DeploymentViewer,
    ];

    /// Elastic's role id, which is also the entitlement slug on `organization`.
    pub fn role_id(self) -> &'static str {
        match self {
            CloudRole::OrganizationAdmin => ORGANIZATION_ADMIN,
            CloudRole::BillingAdmin => "billing-admin",
            CloudRole::DeploymentAdmin => "deployment-admin",
            CloudRole::DeploymentEditor => "deployment-editor",
            CloudRole::DeploymentViewer => "deployment-viewer",
        }
    }

    /// The role of a role id.
    pub fn from_role_id(role_id: &str) -> Option<CloudRole> {
        CloudRole::ALL.into_iter().find(|r| r.role_id() == role_id)
    }

    /// Whether the role is of the deployment scope.
    pub fn is_deployment_role(self) -> bool {
        self.deployment_slug().is_some()
    }

    /// The slug of the matching `deployment` entitlement (`admin`, `editor`, `viewer`).
    pub fn deployment_slug(self) -> Option<&'static str> {
        DEPLOYMENT_ROLES
            .iter()
            .find(|(role, _)| *role == self.role_id())
            .map(|(_, slug)| *slug)
    }

    /// The deployment-scope role of a `deployment` entitlement slug.
    pub fn from_deployment_slug(slug: &str) -> Option<CloudRole> {
        CloudRole::ALL
            .into_iter()
            .find(|r| r.deployment_slug() == Some(slug))
    }
}

/// Where a role applies: the organization (organization roles, and deployment roles for all
/// deployments), or one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Organization,
    Deployment(&'a str),
}

/// A broader assignment through which a member holds a role on one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broader {
    /// The role for all deployments (`all: true`).
    AllDeployments(CloudRole),
    /// The Organization owner role, which is `admin` of every deployment.
    OrganizationOwner,
}

impl Broader {
    /// The entitlement id whose revoke would take the broader assignment away.
    pub fn entitlement_id(self, org: &str) -> String {
        match self {
            Broader::AllDeployments(role) => role_entitlement_id(org, role.role_id()),
            Broader::OrganizationOwner => role_entitlement_id(org, ORGANIZATION_ADMIN),
        }
    }

    /// The broader assignment in words, with its JSON.
    pub fn describe(self, org: &str) -> String {
        match self {
            Broader::AllDeployments(role) => format!(
                "the all-deployments assignment {{\"role_id\":\"{}\",\"organization_id\":\"{org}\",\"all\":true}}",
                role.role_id()
            ),
            Broader::OrganizationOwner => format!(
                "the Organization owner assignment {{\"role_id\":\"{ORGANIZATION_ADMIN}\",\"organization_id\":\"{org}\"}}, which is admin of every deployment"
            ),
        }
    }
}

/// How a member holds a role in a scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holding {
    /// Through the very assignment a grant adds and a revoke removes.
    pub direct: bool,
    /// Through broader assignments (only for one deployment).
    pub broader: Vec<Broader>,
}

impl Holding {
    /// Held in any way.
    pub fn held(&self) -> bool {
        self.direct || !self.broader.is_empty()
    }
}

/// How `member` holds `role` in `scope` of organization `org`.
pub fn holding(member: &Member, org: &str, role: CloudRole, scope: Scope<'_>) -> Holding {
    let role_id = role.role_id();
    let all =
        || deployment_assignments(member, org).any(|a| a.role_id == role_id && a.all == Some(true));
    let owner = || organization_assignments(member, org).any(|a| a.role_id == ORGANIZATION_ADMIN);
    match (role.is_deployment_role(), scope) {
        (false, _) => Holding {
            direct: organization_assignments(member, org).any(|a| a.role_id == role_id),
            broader: Vec::new(),
        },
        (true, Scope::Organization) => Holding {
            direct: all(),
            broader: Vec::new(),
        },
        (true, Scope::Deployment(deployment)) => {
            let direct = deployment_assignments(member, org).any(|a| {
                a.role_id == role_id
                    && a.all != Some(true)
                    && a.deployment_ids.iter().any(|d| d == deployment)
            });
            let mut broader = Vec::new();
            if all() {
                broader.push(Broader::AllDeployments(role));
            }
            if role == CloudRole::DeploymentAdmin && owner() {
                broader.push(Broader::OrganizationOwner);
            }
            Holding { direct, broader }
        }
    }
}

/// The one assignment of `role` in `scope` of `org`, as the body of a role-assignment write.
pub fn assignment(org: &str, role: CloudRole, scope: Scope<'_>) -> RoleAssignments {
    let mut body = RoleAssignments::default();
    add_assignment(&mut body, org, role, scope);
    body
}

/// Adds the assignment of `role` in `scope` to `body`; deployments of one role join one assignment.
pub fn add_assignment(body: &mut RoleAssignments, org: &str, role: CloudRole, scope: Scope<'_>) {
    let role_id = role.role_id().to_owned();
    if !role.is_deployment_role() {
        if !body.organization.iter().any(|a| a.role_id == role_id) {
            body.organization.push(OrganizationRoleAssignment {
                role_id,
                organization_id: Some(org.to_owned()),
            });
        }
        return;
    }
    match scope {
        Scope::Organization => {
            let held = body
                .deployment
                .iter()
                .any(|a| a.role_id == role_id && a.all == Some(true));
            if !held {
                body.deployment.push(DeploymentRoleAssignment {
                    role_id,
                    organization_id: Some(org.to_owned()),
                    all: Some(true),
                    deployment_ids: Vec::new(),
                    application_roles: Vec::new(),
                });
            }
        }
        Scope::Deployment(deployment) => {
            let existing = body
                .deployment
                .iter_mut()
                .find(|a| a.role_id == role_id && a.all != Some(true));
            match existing {
                Some(a) => {
                    if !a.deployment_ids.iter().any(|d| d == deployment) {
                        a.deployment_ids.push(deployment.to_owned());
                    }
                }
                None => body.deployment.push(DeploymentRoleAssignment {
                    role_id,
                    organization_id: Some(org.to_owned()),
                    all: Some(false),
                    deployment_ids: vec![deployment.to_owned()],
                    application_roles: Vec::new(),
                }),
            }
        }
    }
}

/// The user ids of the organization's owners (members holding `organization-admin`), sorted.
pub fn owners<'a>(members: &'a [Member], org: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = members
        .iter()
        .filter(|m| organization_assignments(m, org).any(|a| a.role_id == ORGANIZATION_ADMIN))
        .map(|m| m.user_id.as_str())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `user_id` is the organization's only owner.
pub fn is_last_owner(members: &[Member], org: &str, user_id: &str) -> bool {
    owners(members, org) == [user_id]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(assignments: serde_json::Value) -> Member {
        serde_json::from_value(serde_json::json!({
            "organization_id": "1", "user_id": "u1", "role_assignments": assignments
        }))
        .expect("member")
    }

    #[test]
    fn per_deployment_roles_are_held_directly_or_through_broader_assignments() {
        let m = member(serde_json::json!({
            "organization": [{"role_id": "organization-admin", "organization_id": "1"}],
            "deployment": [
                {"role_id": "deployment-viewer", "organization_id": "1", "all": true},
                {"role_id": "deployment-editor", "organization_id": "1", "all": false, "deployment_ids": ["d1"]},
                {"role_id": "deployment-editor", "organization_id": "2", "all": false, "deployment_ids": ["d2"]}
            ]
        }));
        let viewer = holding(
            &m,
            "1",
            CloudRole::DeploymentViewer,
            Scope::Deployment("d9"),
        );
        assert_eq!(
            viewer,
            Holding {
                direct: false,
                broader: vec![Broader::AllDeployments(CloudRole::DeploymentViewer)]
            }
        );
        let editor = holding(
            &m,
            "1",
            CloudRole::DeploymentEditor,
            Scope::Deployment("d1"),
        );
        assert!(editor.direct && editor.broader.is_empty());
        assert!(!holding(
            &m,
            "1",
            CloudRole::DeploymentEditor,
            Scope::Deployment("d2")
        )
        .held());
        let admin = holding(&m, "1", CloudRole::DeploymentAdmin, Scope::Deployment("d1"));
        assert_eq!(admin.broader, [Broader::OrganizationOwner]);
        assert!(holding(&m, "1", CloudRole::DeploymentViewer, Scope::Organization).direct);
        assert!(!holding(&m, "1", CloudRole::DeploymentEditor, Scope::Organization).held());
        assert!(holding(&m, "1", CloudRole::OrganizationAdmin, Scope::Organization).direct);
        assert!(!holding(&m, "1", CloudRole::BillingAdmin, Scope::Organization).held());
    }

    #[test]
    fn assignments_are_exactly_one_and_merge_by_role() {
        let body = assignment("1", CloudRole::DeploymentAdmin, Scope::Deployment("d1"));
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"deployment":[{"role_id":"deployment-admin","organization_id":"1","all":false,"deployment_ids":["d1"]}]}"#
        );
        let mut body = assignment("1", CloudRole::DeploymentViewer, Scope::Organization);
        add_assignment(&mut body, "1", CloudRole::BillingAdmin, Scope::Organization);
        add_assignment(
            &mut body,
            "1",
            CloudRole::DeploymentAdmin,
            Scope::Deployment("d1"),
        );
        add_assignment(
            &mut body,
            "1",
            CloudRole::DeploymentAdmin,
            Scope::Deployment("d2"),
        );
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"organization":[{"role_id":"billing-admin","organization_id":"1"}],"deployment":[{"role_id":"deployment-viewer","organization_id":"1","all":true},{"role_id":"deployment-admin","organization_id":"1","all":false,"deployment_ids":["d1","d2"]}]}"#
        );
    }

    #[test]
    fn the_last_owner_is_the_only_one() {
        let owner = |id: &str| -> Member {
            serde_json::from_value(serde_json::json!({
                "organization_id": "1", "user_id": id,
                "role_assignments": {"organization": [{"role_id": "organization-admin", "organization_id": "1"}]}
            }))
            .expect("member")
        };
        let one = vec![owner("a")];
        assert!(is_last_owner(&one, "1", "a"));
        assert!(!is_last_owner(&one, "1", "b"));
        let two = vec![owner("a"), owner("b")];
        assert!(!is_last_owner(&two, "1", "a"));
        assert!(!is_last_owner(&two, "2", "a"));
    }

    #[test]
    fn roles_and_slugs_round_trip() {
        for role in CloudRole::ALL {
            assert_eq!(CloudRole::from_role_id(role.role_id()), Some(role));
            if let Some(slug) = role.deployment_slug() {
                assert_eq!(CloudRole::from_deployment_slug(slug), Some(role));
            }
        }
        assert_eq!(CloudRole::from_deployment_slug("owner"), None);
    }
}
