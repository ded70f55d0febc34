//! Pending invitations to an Elastic Cloud organization (`GET /api/v1/organizations/{id}/invitations`):
//! who was invited, until when, and the cloud roles they get on accepting. The invitation token is never
//! read into these types.

use crate::client::ApiError;
use crate::cloud::{null_as_default, CloudClient, RoleAssignments};
use serde::Deserialize;

/// One invitation (its `token`, which accepts it, is left out on purpose).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invitation {
    pub email: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub expired: bool,
    #[serde(default)]
    pub accepted_at: Option<String>,
    /// The roles granted on acceptance.
    #[serde(default)]
    pub role_assignments: Option<RoleAssignments>,
}

/// Body of `GET /api/v1/organizations/{id}/invitations`.
#[derive(Debug, Deserialize)]
struct Invitations {
    #[serde(default, deserialize_with = "null_as_default")]
    invitations: Vec<Invitation>,
}

impl CloudClient {
    /// Every invitation of an organization, in one request (the API has no paging).
    pub fn invitations(&self, organization_id: &str) -> Result<Vec<Invitation>, ApiError> {
        let list: Invitations =
            self.api
                .get(&["api", "v1", "organizations", organization_id, "invitations"])?;
        Ok(list.invitations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitations_parse_without_their_token() {
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
}
