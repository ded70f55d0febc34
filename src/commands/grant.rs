//! `grant` and `revoke`: change one deployment user's role membership or one role mapping's members.

use crate::cli::{GlobalArgs, GrantArgs, RevokeArgs};

/// One membership change the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The entitlement id, e.g. `role:viewer:member`.
    pub entitlement: String,
    /// The principal id, e.g. `deploymentUser:jdoe`.
    pub principal: String,
    /// Grant (true) or revoke (false).
    pub grant: bool,
    /// Send nothing; print the request that would be sent.
    pub dry_run: bool,
}

impl Request {
    /// From `grant <ENTITLEMENT> <PRINCIPAL>`.
    pub fn from_grant_args(args: &GrantArgs) -> anyhow::Result<Request> {
        Ok(Request {
            entitlement: args.entitlement.clone(),
            principal: args.principal.clone(),
            grant: true,
            dry_run: args.dry_run,
        })
    }

    /// From `revoke <ENTITLEMENT> <PRINCIPAL>` or `revoke <GRANT_ID>`.
    pub fn from_revoke_args(args: &RevokeArgs) -> anyhow::Result<Request> {
        Ok(Request {
            entitlement: args.entitlement_or_grant.clone(),
            principal: args.principal.clone().unwrap_or_default(),
            grant: false,
            dry_run: args.dry_run,
        })
    }
}

/// The Go connector's `--grant-*` / `--revoke-grant` flags, when given, as a request.
pub fn go_style_request(_global: &GlobalArgs) -> anyhow::Result<Option<Request>> {
    Ok(None)
}

/// Runs one grant or revoke.
pub fn run(_global: &GlobalArgs, _request: Request) -> anyhow::Result<()> {
    anyhow::bail!("grant and revoke are not implemented yet")
}
