//! The SQLite schema of a v1 `.c1z` and the migration that brings older files up to it.
//!
//! [`DDL`] is the latest Baton SDK's schema exactly as its reader executes it (`tests/data/baton-sdk-schema.sql`), including
//! the shifted `v1_resources` index names. [`migrate`] adds the columns that older (SDK v0.1.14) files lack,
//! the way Baton's readers do, and then runs the DDL so that every table and index exists.

use anyhow::Context;
use rusqlite::Connection;

/// The schema, in table order: resource types, resources, entitlements, sync runs, grants, assets, sessions.
pub const DDL: &str = r#"create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);

create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
    parent_resource_type_id text,
    parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);

create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);

create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
    stats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
);
create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);

create table if not exists v1_grants (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,
    needs_expansion integer not null default 0,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);
-- added by the grants migration (also part of the final schema):
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;

create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);

CREATE TABLE IF NOT EXISTS v1_connector_sessions (
    id integer primary key,
    sync_id text NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL
);
create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);
"#;

/// Every table of the schema, in creation order. Each has a `sync_id` column.
pub const TABLES: [&str; 7] = [
    "v1_resource_types",
    "v1_resources",
    "v1_entitlements",
    "v1_sync_runs",
    "v1_grants",
    "v1_assets",
    "v1_connector_sessions",
];

/// Every index of the schema, in creation order.
pub const INDEXES: [&str; 16] = [
    "idx_resource_types_external_sync_v1",
    "idx_resources_resource_type_id_v1",
    "idx_resources_external_sync_v1",
    "idx_resources_parent_resource_id_v1",
    "idx_entitlements_resource_id_v1",
    "idx_entitlements_external_sync_v1",
    "idx_sync_runs_sync_id_v1",
    "idx_grants_resource_type_id_resource_id_v1",
    "idx_grants_principal_id_v1",
    "idx_grants_entitlement_id_principal_id_v1",
    "idx_grants_external_sync_v1",
    "idx_grants_entitlement_sync_grant_v1",
    "idx_grants_sync_expansion_v1",
    "idx_grants_sync_needs_expansion_v1",
    "idx_assets_external_sync_v1",
    "idx_session_store_sync_key_v1",
];

/// Columns that newer SDKs added to existing tables, with the declaration the readers' migrations use.
pub const ADDED_COLUMNS: [(&str, &str, &str); 11] = [
    ("v1_sync_runs", "sync_type", "text not null default 'full'"),
    ("v1_sync_runs", "parent_sync_id", "text not null default ''"),
    ("v1_sync_runs", "linked_sync_id", "text not null default ''"),
    (
        "v1_sync_runs",
        "supports_diff",
        "integer not null default 0",
    ),
    (
        "v1_sync_runs",
        "grants_backfilled",
        "integer not null default 0",
    ),
    ("v1_sync_runs", "stats", "text"),
    (
        "v1_sync_runs",
        "ingest_invariant_generation",
        "text not null default ''",
    ),
    (
        "v1_sync_runs",
        "ingest_invariant_coverage",
        "text not null default ''",
    ),
    (
        "v1_sync_runs",
        "ingest_invariant_mode",
        "text not null default ''",
    ),
    ("v1_grants", "expansion", "blob"),
    ("v1_grants", "needs_expansion", "integer not null default 0"),
];

/// Brings the database to the schema of [`DDL`]: adds missing columns to existing tables (a "duplicate
/// column name" error means it is already there), then creates every missing table and index.
pub fn migrate(conn: &Connection) -> anyhow::Result<()> {
    for (table, column, declaration) in ADDED_COLUMNS {
        if table_exists(conn, table)? {
            add_column(conn, table, column, declaration)?;
        }
    }
    conn.execute_batch(DDL)
        .context("create the c1z tables and indexes")
}

fn table_exists(conn: &Connection, table: &str) -> anyhow::Result<bool> {
    let count: i64 = conn
        .query_row(
            "select count(*) from sqlite_master where type = 'table' and name = ?1",
            [table],
            |row| row.get(0),
        )
        .with_context(|| format!("look up table {table}"))?;
    Ok(count > 0)
}

fn add_column(
    conn: &Connection,
    table: &str,
    column: &str,
    declaration: &str,
) -> anyhow::Result<()> {
    let sql = format!("alter table {table} add column {column} {declaration}");
    match conn.execute_batch(&sql) {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("duplicate column name") => Ok(()),
        Err(e) => Err(e).with_context(|| format!("add column {column} to {table}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v0.1.14 layout (the SDK's migrations): short `v1_sync_runs`, no expansion columns, older indexes.
    const OLD_DDL: &str = "
        create table v1_resource_types (id integer primary key, external_id text not null, data blob not null, sync_id text not null, discovered_at datetime not null);
        create unique index idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);
        create table v1_grants (id integer primary key, resource_type_id text not null, resource_id text not null, entitlement_id text not null, principal_resource_type_id text not null, principal_resource_id text not null, external_id text not null, data blob not null, sync_id text not null, discovered_at datetime not null);
        create index idx_grants_entitlement_id_v1 on v1_grants (entitlement_id);
        create unique index idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
        create table v1_sync_runs (id integer primary key, sync_id text not null, started_at datetime not null, ended_at datetime, sync_token text not null);
        create unique index idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);
        insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token) values ('old', '2024-01-02 03:04:05', '2024-01-02 03:05:00', '');
        insert into v1_grants (resource_type_id, resource_id, entitlement_id, principal_resource_type_id, principal_resource_id, external_id, data, sync_id, discovered_at)
            values ('g', 'g1', 'g:g1:member', 'user', 'u1', 'g:g1:member:user:u1', x'0a00', 'old', '2024-01-02 03:04:06');
    ";

    fn master(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("select type, name from sqlite_master order by rowid")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0).unwrap(), r.get(1).unwrap())))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("pragma table_info({table})"))
            .unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(1)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn c1z_schema_new_database_has_exact_tables_and_indexes_in_order() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let expected: Vec<(String, String)> = [
            ("table", "v1_resource_types"),
            ("index", "idx_resource_types_external_sync_v1"),
            ("table", "v1_resources"),
            ("index", "idx_resources_resource_type_id_v1"),
            ("index", "idx_resources_external_sync_v1"),
            ("index", "idx_resources_parent_resource_id_v1"),
            ("table", "v1_entitlements"),
            ("index", "idx_entitlements_resource_id_v1"),
            ("index", "idx_entitlements_external_sync_v1"),
            ("table", "v1_sync_runs"),
            ("index", "idx_sync_runs_sync_id_v1"),
            ("table", "v1_grants"),
            ("index", "idx_grants_resource_type_id_resource_id_v1"),
            ("index", "idx_grants_principal_id_v1"),
            ("index", "idx_grants_entitlement_id_principal_id_v1"),
            ("index", "idx_grants_external_sync_v1"),
            ("index", "idx_grants_entitlement_sync_grant_v1"),
            ("index", "idx_grants_sync_expansion_v1"),
            ("index", "idx_grants_sync_needs_expansion_v1"),
            ("table", "v1_assets"),
            ("index", "idx_assets_external_sync_v1"),
            ("table", "v1_connector_sessions"),
            ("index", "idx_session_store_sync_key_v1"),
        ]
        .iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect();
        assert_eq!(master(&conn), expected);
        let tables: Vec<&str> = expected
            .iter()
            .filter(|(t, _)| t == "table")
            .map(|(_, n)| n.as_str())
            .collect();
        assert_eq!(tables, TABLES);
        let indexes: Vec<&str> = expected
            .iter()
            .filter(|(t, _)| t == "index")
            .map(|(_, n)| n.as_str())
            .collect();
        assert_eq!(indexes, INDEXES);
    }

    #[test]
    fn c1z_schema_unique_keys_are_on_the_expected_columns() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let index_columns = |name: &str| -> Vec<String> {
            let mut stmt = conn.prepare(&format!("pragma index_info({name})")).unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(2)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            index_columns("idx_resources_parent_resource_id_v1"),
            ["external_id", "sync_id"]
        );
        assert_eq!(
            index_columns("idx_resources_external_sync_v1"),
            ["parent_resource_type_id", "parent_resource_id"]
        );
        assert_eq!(
            index_columns("idx_grants_external_sync_v1"),
            ["external_id", "sync_id"]
        );
    }

    #[test]
    fn c1z_schema_migrates_a_v0_1_14_file_and_is_idempotent() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(OLD_DDL).unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap();
        assert_eq!(
            columns(&conn, "v1_sync_runs"),
            [
                "id",
                "sync_id",
                "started_at",
                "ended_at",
                "sync_token",
                "sync_type",
                "parent_sync_id",
                "linked_sync_id",
                "supports_diff",
                "grants_backfilled",
                "stats",
                "ingest_invariant_generation",
                "ingest_invariant_coverage",
                "ingest_invariant_mode"
            ]
        );
        assert_eq!(
            columns(&conn, "v1_grants")[10..],
            ["expansion", "needs_expansion"]
        );
        let row: (String, String, String, i64, i64, Option<String>, String, String, String) = conn
            .query_row(
                "select sync_type, parent_sync_id, linked_sync_id, supports_diff, grants_backfilled, stats,
                        ingest_invariant_generation, ingest_invariant_coverage, ingest_invariant_mode
                 from v1_sync_runs where sync_id = 'old'",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                "full".into(),
                "".into(),
                "".into(),
                0,
                0,
                None,
                "".into(),
                "".into(),
                "".into()
            )
        );
        let (expansion, needs): (Option<Vec<u8>>, i64) = conn
            .query_row(
                "select expansion, needs_expansion from v1_grants",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((expansion, needs), (None, 0));
        let names: Vec<String> = master(&conn).into_iter().map(|(_, n)| n).collect();
        for name in TABLES.iter().chain(INDEXES.iter()) {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing after migrate"
            );
        }
        assert!(
            names.iter().any(|n| n == "idx_grants_entitlement_id_v1"),
            "old index kept"
        );
    }

    #[test]
    fn c1z_schema_migrate_reports_other_errors() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("create view v1_grants as select 1 as x")
            .unwrap();
        assert!(migrate(&conn).is_err());
    }
}
