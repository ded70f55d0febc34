//! The Elastic Cloud Serverless projects API: one list per project type (`GET
//! /api/v1/serverless/projects/<type>`), and the predefined Cloud roles of each type.

use crate::client::ApiError;
use crate::cloud::{null_as_default, CloudClient};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The project types, in the order they are read.
pub const PROJECT_TYPES: [&str; 3] = ["elasticsearch", "observability", "security"];

/// The predefined Cloud role ids (`<type>-<role>`) of a project type; empty for an unknown type.
pub fn predefined_roles(project_type: &str) -> &'static [&'static str] {
    match project_type {
        "elasticsearch" => &[
            "elasticsearch-admin",
            "elasticsearch-developer",
            "elasticsearch-viewer",
        ],
        "observability" => &[
            "observability-admin",
            "observability-editor",
            "observability-viewer",
        ],
        "security" => &[
            "security-admin",
            "security-editor",
            "security-viewer",
            "security-t1-analyst",
            "security-t2-analyst",
            "security-t3-analyst",
            "security-threat-intel-analyst",
            "security-rule-author",
            "security-soc-manager",
            "security-endpoint-operations-analyst",
            "security-platform-engineer",
            "security-detections-admin",
            "security-endpoint-policy-manager",
        ],
        _ => &[],
    }
}

/// `metadata` of a project.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProjectMetadata {
    pub organization_id: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
}

/// A Serverless project as its type's list gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(rename = "type")]
    pub project_type: String,
    #[serde(default)]
    pub region_id: Option<String>,
    #[serde(default)]
    pub cloud_id: Option<String>,
    /// Endpoint URLs by name (`elasticsearch`, `kibana`, `apm`, `ingest`), sorted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub endpoints: BTreeMap<String, String>,
    pub metadata: ProjectMetadata,
}

/// Body of `GET /api/v1/serverless/projects/<type>`.
#[derive(Debug, Deserialize)]
pub struct ProjectList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<Project>,
}

impl CloudClient {
    /// Every project of one type the key can see, in one request (the list has no paging).
    pub fn projects(&self, project_type: &str) -> Result<Vec<Project>, ApiError> {
        let list: ProjectList =
            self.api()
                .get(&["api", "v1", "serverless", "projects", project_type])?;
        Ok(list.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_parse_with_their_endpoints() {
        let body = r#"{"items":[{"id":"c866244b611442d585e23a0cc8c9434c","name":"search-prod","alias":"search-prod-a1b2c3","type":"elasticsearch",
          "region_id":"aws-us-east-1","optimized_for":"general_purpose","cloud_id":"search-prod:xyz",
          "endpoints":{"kibana":"https://k","elasticsearch":"https://e"},
          "metadata":{"created_at":"2025-03-01T10:00:00Z","created_by":"2894412301","organization_id":"4125567842"}}]}"#;
        let list: ProjectList = serde_json::from_str(body).expect("parses");
        let p = &list.items[0];
        assert_eq!(p.project_type, "elasticsearch");
        assert_eq!(p.metadata.organization_id, "4125567842");
        assert_eq!(
            p.endpoints.keys().collect::<Vec<_>>(),
            ["elasticsearch", "kibana"]
        );
        let empty: ProjectList = serde_json::from_str(r#"{"items":null}"#).expect("parses");
        assert!(empty.items.is_empty());
        assert_eq!(predefined_roles("security").len(), 13);
    }
}
