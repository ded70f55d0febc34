//! Clients and types for the two Elastic APIs a Baton sync reads: the Elastic Cloud API (organizations,
//! members and their role assignments, deployments, Serverless projects) and a deployment's Elasticsearch
//! security API (users, roles, role mappings, user profiles, API keys and service accounts; organization
//! invitations on the Cloud side), plus the role-mapping rule grammar and its evaluator.
//!
//! [`client::ApiClient`] sends one request with retries and turns every failure into an
//! [`error::ApiError`] that says which API, method, path and status it was; [`cloud::CloudClient`] and
//! [`deployment::DeploymentClient`] are the typed requests. Nothing here reads the environment or logs a
//! secret: keys arrive as [`Secret`]s inside an [`Endpoint`].

pub mod client;
pub mod cloud;
pub mod cloud_admin;
pub mod cluster;
pub mod credentials;
pub mod deployment;
pub mod endpoint;
pub mod error;
pub mod retry;
pub mod rules;
pub mod secret;
pub mod serverless;

pub use endpoint::{Api, CaCertificates, Credential, CredentialKind, Endpoint, HttpOptions};
pub use secret::Secret;
