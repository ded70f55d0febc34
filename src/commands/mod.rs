//! The subcommands, one module each.

pub mod capabilities;
pub mod cloud_grant;
pub mod completions;
pub mod grant;
pub mod inspect;
pub mod sync;
