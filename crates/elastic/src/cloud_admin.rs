//! Elastic Cloud writes of organization access: adding and removing a user's role assignments, removing
//! a member, and the invitations that make someone a member. (Cancelling an invitation addresses it by
//! its token in the URL path, which request logs and errors show, so it is left out.)
//!
//! Role assignments have no read endpoint of their own: they are read back from the organization's
//! members ([`CloudClient::members`]). Error codes of the answers (`organization.membership_not_found`,
//! `role_assignments.unauthorized_role_assignments`, ...) are in [`ApiError::codes`].

use crate::client::ApiError;
use crate::cloud::{null_as_default, CloudClient, RoleAssignments};
use crate::Secret;
use reqwest::Method;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};

/// Error code of a removal of someone who is not a member (404).
pub const MEMBERSHIP_NOT_FOUND: &str = "organization.membership_not_found";
/// Error code of a role-assignment write the key may not make (403).
pub const UNAUTHORIZED_ROLE_ASSIGNMENTS: &str = "role_assignments.unauthorized_role_assignments";
/// Error code of a role-assignment write for a user id that is no member (400).
pub const INVALID_TARGET_USER_ID: &str = "role_assignments.invalid_target_user_id";
/// Error code of an invitation of an address that already has a pending one (400).
pub const INVITATION_ALREADY_EXISTS: &str = "organization.invitation_already_exists";
/// Error code of an invitation of someone who is already a member (400).
pub const ALREADY_BELONGS: &str = "organization.user_organization_already_belongs";

/// Reads a string as a [`Secret`].
fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    String::deserialize(deserializer).map(Secret::new)
}

/// A pending (or expired, or accepted) invitation to an organization. Its token lets the invitee join,
/// so it is a [`Secret`]: no `Debug` output or message shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invitation {
    #[serde(deserialize_with = "secret")]
    pub token: Secret,
    pub email: String,
    #[serde(default)]
    pub created_at: Option<String>,
    pub expires_at: String,
    #[serde(default)]
    pub expired: bool,
    #[serde(default)]
    pub accepted_at: Option<String>,
    #[serde(default)]
    pub role_assignments: Option<RoleAssignments>,
}

impl Invitation {
    /// Not accepted and not expired: the invitee can still join with it.
    pub fn pending(&self) -> bool {
        !self.expired && self.accepted_at.is_none()
    }
}

/// Body of `GET` and `POST /api/v1/organizations/{id}/invitations`.
#[derive(Debug, Deserialize)]
pub struct Invitations {
    #[serde(default, deserialize_with = "null_as_default")]
    pub invitations: Vec<Invitation>,
}

/// Body of `POST /api/v1/organizations/{id}/invitations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvitationRequest {
    pub emails: Vec<String>,
    /// How long the invitation is valid, e.g. `7d` (Elastic's default: 3 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// The roles the invitee gets on accepting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_assignments: Option<RoleAssignments>,
}

impl CloudClient {
    /// The path segments of `/api/v1/users/{user_id}/role_assignments`.
    pub fn role_assignments_path(user_id: &str) -> [&str; 5] {
        ["api", "v1", "users", user_id, "role_assignments"]
    }

    /// Adds exactly these assignments to a user (`POST /api/v1/users/{user_id}/role_assignments`).
    pub fn add_role_assignments(
        &self,
        user_id: &str,
        assignments: &RoleAssignments,
    ) -> Result<(), ApiError> {
        let _: IgnoredAny = self.api().send(
            Method::POST,
            &Self::role_assignments_path(user_id),
            assignments,
        )?;
        Ok(())
    }

    /// Removes exactly these assignments from a user (`DELETE /api/v1/users/{user_id}/role_assignments`).
    pub fn remove_role_assignments(
        &self,
        user_id: &str,
        assignments: &RoleAssignments,
    ) -> Result<(), ApiError> {
        let _: IgnoredAny = self.api().send(
            Method::DELETE,
            &Self::role_assignments_path(user_id),
            assignments,
        )?;
        Ok(())
    }

    /// Removes one member (`DELETE /api/v1/organizations/{id}/members/{user_id}`).
    pub fn remove_member(&self, organization_id: &str, user_id: &str) -> Result<(), ApiError> {
        let _: IgnoredAny = self.api().delete(&[
            "api",
            "v1",
            "organizations",
            organization_id,
            "members",
            user_id,
        ])?;
        Ok(())
    }

    /// The organization's invitations, in one request.
    pub fn invitations(&self, organization_id: &str) -> Result<Vec<Invitation>, ApiError> {
        let list: Invitations =
            self.api()
                .get(&["api", "v1", "organizations", organization_id, "invitations"])?;
        Ok(list.invitations)
    }

    /// Sends invitations (`POST /api/v1/organizations/{id}/invitations`); the answer lists them.
    pub fn invite(
        &self,
        organization_id: &str,
        request: &InvitationRequest,
    ) -> Result<Vec<Invitation>, ApiError> {
        let list: Invitations = self.api().send(
            Method::POST,
            &["api", "v1", "organizations", organization_id, "invitations"],
            request,
        )?;
        Ok(list.invitations)
    }

    /// The path of `segments` under the Cloud API root, as requests show it.
    pub fn path(&self, segments: &[&str]) -> String {
        self.api().url(segments).path().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitations_parse_without_showing_their_token() {
        let body = r#"{"invitations":[{"token":"b7c1e0f2a9d84c3e","email":"new.hire@acme.example","created_at":"2025-05-02T10:00:00Z",
          "expires_at":"2025-05-05T10:00:00Z","expired":false,"organization":{"id":"4125567842","name":"Acme Corp"},
          "role_assignments":{"deployment":[{"role_id":"deployment-viewer","organization_id":"4125567842","all":true}]}},
          {"token":"t2","email":"old@acme.example","created_at":"2024-01-01T00:00:00Z","expires_at":"2024-01-04T00:00:00Z","expired":true,
           "organization":{"id":"4125567842","name":"Acme Corp"}}]}"#;
        let list: Invitations = serde_json::from_str(body).expect("parses");
        assert_eq!(list.invitations.len(), 2);
        let ra = list.invitations[0].role_assignments.as_ref().expect("ra");
        assert_eq!(ra.deployment[0].role_id, "deployment-viewer");
        assert!(list.invitations[1].expired);
        assert!(!format!("{:?}", list.invitations).contains("b7c1e0f2a9d84c3e"));
    }
    use crate::cloud::{DeploymentRoleAssignment, OrganizationRoleAssignment};

    #[test]
    fn bodies_leave_out_empty_scopes_and_absent_fields() {
        let body = RoleAssignments {
            deployment: vec![DeploymentRoleAssignment {
                role_id: "deployment-viewer".into(),
                organization_id: Some("1".into()),
                all: Some(false),
                deployment_ids: vec!["d1".into()],
                application_roles: Vec::new(),
            }],
            ..RoleAssignments::default()
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"deployment":[{"role_id":"deployment-viewer","organization_id":"1","all":false,"deployment_ids":["d1"]}]}"#
        );
        let body = RoleAssignments {
            organization: vec![OrganizationRoleAssignment {
                role_id: "billing-admin".into(),
                organization_id: Some("1".into()),
            }],
            ..RoleAssignments::default()
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"organization":[{"role_id":"billing-admin","organization_id":"1"}]}"#
        );
        let invite = InvitationRequest {
            emails: vec!["a@example.com".into()],
            expires_in: None,
            role_assignments: None,
        };
        assert_eq!(
            serde_json::to_string(&invite).expect("json"),
            r#"{"emails":["a@example.com"]}"#
        );
    }

    #[test]
    fn invitations_parse_and_tell_pending_ones() {
        let body = r#"{"invitations":[
          {"token":"t1","email":"a@x","created_at":"2025-05-02T10:00:00Z","expires_at":"2025-05-05T10:00:00Z","expired":false,
           "organization":{"id":"1","name":"One"}},
          {"token":"t2","email":"b@x","created_at":"2025-05-02T10:00:00Z","expires_at":"2025-05-05T10:00:00Z","expired":true,
           "organization":{"id":"1","name":"One"}}]}"#;
        let list: Invitations = serde_json::from_str(body).expect("parses");
        assert!(list.invitations[0].pending());
        assert!(!list.invitations[1].pending());
        assert_eq!(list.invitations[0].token.expose(), "t1");
        assert!(!format!("{:?}", list.invitations[0]).contains("t1"));
    }
}
