//! Elastic Cloud organization membership: who is a member, a principal that is an e-mail address (an
//! invitee), the pending invitation of an address, and the checks an invitation's lifetime must pass.

use elastic_api::cloud::Member;
use elastic_api::cloud_admin::Invitation;

/// Whether a `user` principal id is an e-mail address (Cloud user ids never hold `@`): such a principal
/// is someone to invite, not a member.
pub fn is_email(id: &str) -> bool {
    id.contains('@')
}

/// The member with this user id.
pub fn member<'a>(members: &'a [Member], user_id: &str) -> Option<&'a Member> {
    members.iter().find(|m| m.user_id == user_id)
}

/// The member whose e-mail address is `email` (case-insensitive).
pub fn member_with_email<'a>(members: &'a [Member], email: &str) -> Option<&'a Member> {
    members.iter().find(|m| {
        m.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
    })
}

/// The pending invitations of `email` (case-insensitive), in the order listed.
pub fn pending_invitations<'a>(invitations: &'a [Invitation], email: &str) -> Vec<&'a Invitation> {
    invitations
        .iter()
        .filter(|i| i.pending() && i.email.eq_ignore_ascii_case(email))
        .collect()
}

/// Checks an invitation lifetime such as `7d`, `12h` or `30m` (a whole positive number and a unit).
pub fn valid_lifetime(text: &str) -> bool {
    let Some(unit) = text.chars().last() else {
        return false;
    };
    let number = &text[..text.len() - unit.len_utf8()];
    matches!(unit, 'd' | 'h' | 'm')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && number.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(email: &str, expired: bool, accepted: bool) -> Invitation {
        Invitation {
            token: elastic_api::Secret::new(format!("t-{email}")),
            email: email.to_owned(),
            created_at: None,
            expires_at: "2030-01-01T00:00:00Z".to_owned(),
            expired,
            accepted_at: accepted.then(|| "2029-01-01T00:00:00Z".to_owned()),
            role_assignments: None,
        }
    }

    #[test]
    fn only_unexpired_unaccepted_invitations_are_pending() {
        let list = vec![
            invitation("jane@example.com", true, false),
            invitation("Jane@Example.com", false, false),
            invitation("jane@example.com", false, true),
            invitation("joe@example.com", false, false),
        ];
        let pending = pending_invitations(&list, "jane@example.com");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].email, "Jane@Example.com");
    }

    #[test]
    fn lifetimes_and_emails() {
        for ok in ["7d", "12h", "30m", "10d"] {
            assert!(valid_lifetime(ok), "{ok}");
        }
        for bad in ["", "d", "0d", "7", "7w", "-1d", "1.5d", "7 d"] {
            assert!(!valid_lifetime(bad), "{bad}");
        }
        assert!(is_email("jane@example.com"));
        assert!(!is_email("2894412301"));
    }
}
