//! Role membership of a native user: the `roles` list after a grant or revoke.

/// The roles after granting `role`, or `None` when the user already holds it.
pub fn grant(roles: &[String], role: &str) -> Option<Vec<String>> {
    if roles.iter().any(|r| r == role) {
        return None;
    }
    let mut out = roles.to_vec();
    out.push(role.to_owned());
    Some(out)
}

/// The roles after revoking `role` (every occurrence), or `None` when the user does not hold it.
pub fn revoke(roles: &[String], role: &str) -> Option<Vec<String>> {
    if !roles.iter().any(|r| r == role) {
        return None;
    }
    Some(roles.iter().filter(|r| *r != role).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn grant_appends_once_and_keeps_the_order() {
        assert_eq!(
            grant(&strings(&["viewer", "logs_reader"]), "editor"),
            Some(strings(&["viewer", "logs_reader", "editor"]))
        );
        assert_eq!(grant(&strings(&["viewer"]), "viewer"), None);
        assert_eq!(grant(&[], "viewer"), Some(strings(&["viewer"])));
        // Role names are case-sensitive.
        assert!(grant(&strings(&["Viewer"]), "viewer").is_some());
    }

    #[test]
    fn revoke_removes_every_occurrence_and_nothing_else() {
        assert_eq!(
            revoke(&strings(&["viewer", "viewer", "editor"]), "viewer"),
            Some(strings(&["editor"]))
        );
        assert_eq!(revoke(&strings(&["editor"]), "viewer"), None);
        assert_eq!(revoke(&strings(&["viewer"]), "viewer"), Some(Vec::new()));
    }
}
