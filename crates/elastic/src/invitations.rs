//! Pending invitations to an Elastic Cloud organization (`GET /api/v1/organizations/{id}/invitations`),
//! as a sync reads them: who was invited, until when, and the cloud roles they get on accepting. The
//! type and the request are those of [`crate::cloud_admin`], where invitations are also sent; the token
//! that accepts an invitation is a [`crate::Secret`] there, never shown.

pub use crate::cloud_admin::{Invitation, Invitations};

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
}
