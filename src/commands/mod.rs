//! The subcommands, one module each.

pub mod capabilities;
pub mod completions;
pub mod grant;
pub mod inspect;
pub mod sync;
