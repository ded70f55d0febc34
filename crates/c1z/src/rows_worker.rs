//! The thread that inserts a streamed sync's rows into the `.c1z` writer's working database, so that
//! SQLite's work (binding, the B-tree, the page writes) runs beside the syncers that produce the
//! records instead of after each one.
//!
//! The writer validates and encodes each record on its own thread and packs the row's columns into a
//! batch: one byte buffer and the ranges of each row's columns in it. Full batches go to the worker
//! through a bounded channel and come back empty to be reused, so no memory allocated on one thread
//! is freed on the other. The worker inserts the rows in the order they were given (so row ids are
//! what inserting them one by one would give) and keeps the first error. Stopping it hands the
//! connection back.
//!
//! The writer records the grant rows for expansion itself, their row ids known in advance (SQLite gives
//! a new row the largest row id plus one); the worker checks each. Expansion keeps the worker: its few
//! reads (an entitlement, the rows of grants it changes) are requests answered in order after the rows
//! sent before them.

use anyhow::Context;
use rusqlite::{params, Connection};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Rows per batch.
const BATCH_ROWS: usize = 1024;
/// Batches on their way to the worker (the producer waits when it is this far ahead).
const BATCHES_IN_FLIGHT: usize = 4;

/// The statements the worker runs, each taking the columns of its row kind in order, then the sync id
/// and the discovery time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statements {
    /// Resource type id, external id, parent type, parent id, data.
    pub(crate) resource: &'static str,
    /// Resource type id, resource id, external id, data.
    pub(crate) entitlement: &'static str,
    /// Resource type id, resource id, entitlement id, principal type, principal id, external id,
    /// data.
    pub(crate) grant: &'static str,
}

/// What a row of a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Resource {
        parent: bool,
    },
    Entitlement,
    /// A new grant row; when the writer knows its row id already, that id.
    Grant {
        row_id: Option<i64>,
    },
    /// New data for grant row `row_id`.
    GrantData {
        row_id: i64,
    },
}

/// One row: its kind and its columns (ranges of the batch's bytes).
#[derive(Debug, Clone)]
struct Row {
    kind: Kind,
    columns: [Range<usize>; 7],
}

/// What goes to the worker.
enum Message {
    Rows(Batch),
    Request(Request),
}

/// A read, answered after every row sent before it.
enum Request {
    /// The data of these grant rows (`None` for a row that is not there).
    GrantData(Vec<u32>, mpsc::Sender<anyhow::Result<Vec<Option<Vec<u8>>>>>),
    /// The data of the sync's entitlement with this id.
    Entitlement(String, mpsc::Sender<anyhow::Result<Option<Vec<u8>>>>),
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    rows: Vec<Row>,
}

impl Batch {
    fn push(&mut self, kind: Kind, columns: &[&[u8]]) {
        let mut ranges: [Range<usize>; 7] = Default::default();
        for (range, column) in ranges.iter_mut().zip(columns) {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(column);
            *range = start..self.bytes.len();
        }
        self.rows.push(Row {
            kind,
            columns: ranges,
        });
    }

    fn text(&self, range: &Range<usize>) -> anyhow::Result<&str> {
        std::str::from_utf8(&self.bytes[range.clone()]).context("a column that is not UTF-8")
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.rows.clear();
    }
}

/// What the worker gives back when it stops.
struct Stopped {
    conn: Connection,
    result: anyhow::Result<()>,
}

/// The worker thread and the writer's end of its channels.
pub(crate) struct RowsWorker {
    batch: Batch,
    send: Option<SyncSender<Message>>,
    recycled: Receiver<Batch>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<Stopped>>,
}

impl RowsWorker {
    /// Starts the worker on `conn` (inside the writer's transaction).
    pub(crate) fn start(
        conn: Connection,
        statements: Statements,
        sync_id: String,
        discovered_at: String,
    ) -> anyhow::Result<RowsWorker> {
        let (send, receive) = mpsc::sync_channel::<Message>(BATCHES_IN_FLIGHT);
        let (give_back, recycled) = mpsc::channel::<Batch>();
        let failed = Arc::new(AtomicBool::new(false));
        let failed_flag = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("c1z-rows".into())
            .spawn(move || {
                let result = insert_all(
                    &conn,
                    statements,
                    &sync_id,
                    &discovered_at,
                    &receive,
                    &give_back,
                );
                if result.is_err() {
                    failed_flag.store(true, Ordering::Relaxed);
                }
                // Whatever is still sent is dropped unread.
                drop(receive);
                Stopped { conn, result }
            })
            .context("start the thread inserting the rows")?;
        Ok(RowsWorker {
            batch: Batch::default(),
            send: Some(send),
            recycled,
            failed,
            thread: Some(thread),
        })
    }

    /// Whether an insert failed (later rows are not inserted; [`Self::stop`] returns the error).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Adds a resource row.
    pub(crate) fn resource(
        &mut self,
        resource_type: &str,
        external_id: &str,
        parent: Option<(&str, &str)>,
        data: &[u8],
    ) {
        let (parent_type, parent_id) = parent.unwrap_or_default();
        let kind = Kind::Resource {
            parent: parent.is_some(),
        };
        let columns = [
            resource_type.as_bytes(),
            external_id.as_bytes(),
            parent_type.as_bytes(),
            parent_id.as_bytes(),
            data,
        ];
        self.push(kind, &columns);
    }

    /// Adds an entitlement row.
    pub(crate) fn entitlement(
        &mut self,
        resource_type: &str,
        resource: &str,
        external_id: &str,
        data: &[u8],
    ) {
        let columns = [
            resource_type.as_bytes(),
            resource.as_bytes(),
            external_id.as_bytes(),
            data,
        ];
        self.push(Kind::Entitlement, &columns);
    }

    /// Adds a grant row (its seven columns); `row_id` when the caller has worked it out (checked).
    pub(crate) fn grant(&mut self, columns: [&[u8]; 7], row_id: Option<i64>) {
        self.push(Kind::Grant { row_id }, &columns);
    }

    /// Replaces the data of grant row `row_id`.
    pub(crate) fn grant_data(&mut self, row_id: i64, data: &[u8]) {
        self.push(Kind::GrantData { row_id }, &[data]);
    }

    /// The data of grant rows `rows`, in their order (`None` for a row that is not there).
    pub(crate) fn read_grants(&mut self, rows: Vec<u32>) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        self.request(|reply| Request::GrantData(rows, reply))
    }

    /// The data of the sync's entitlement `id`.
    pub(crate) fn read_entitlement(&mut self, id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.request(|reply| Request::Entitlement(id.to_owned(), reply))
    }

    fn request<T>(
        &mut self,
        request: impl FnOnce(mpsc::Sender<anyhow::Result<T>>) -> Request,
    ) -> anyhow::Result<T> {
        self.flush();
        let (reply, answer) = mpsc::channel();
        let sent = self
            .send
            .as_ref()
            .is_some_and(|send| send.send(Message::Request(request(reply))).is_ok());
        anyhow::ensure!(sent, "the thread writing the rows has stopped");
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the thread writing the rows has stopped"))?
    }

    fn push(&mut self, kind: Kind, columns: &[&[u8]]) {
        self.batch.push(kind, columns);
        if self.batch.rows.len() >= BATCH_ROWS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.rows.is_empty() {
            return;
        }
        let empty = self.recycled.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, empty);
        if let Some(send) = &self.send {
            // A worker that stopped has its error kept for `stop`.
            let _ = send.send(Message::Rows(full));
        }
    }

    /// Inserts what is left, stops the worker and gives the connection back, with the first error of
    /// an insert.
    pub(crate) fn stop(mut self) -> anyhow::Result<(Connection, anyhow::Result<()>)> {
        self.flush();
        drop(self.send.take());
        let thread = self.thread.take().context("the rows thread is gone")?;
        let stopped = thread
            .join()
            .map_err(|_| anyhow::anyhow!("the thread inserting the rows panicked"))?;
        Ok((stopped.conn, stopped.result))
    }
}

impl Drop for RowsWorker {
    /// Dropped without `stop` (a failed write): the worker ends and closes the connection, rolling
    /// the transaction back, before the writer removes its working files.
    fn drop(&mut self) {
        drop(self.send.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The worker's loop: inserts every row of every batch until the channel closes or an insert fails.
fn insert_all(
    conn: &Connection,
    statements: Statements,
    sync_id: &str,
    discovered_at: &str,
    receive: &Receiver<Message>,
    give_back: &mpsc::Sender<Batch>,
) -> anyhow::Result<()> {
    let mut resource = conn.prepare(statements.resource)?;
    let mut entitlement = conn.prepare(statements.entitlement)?;
    let mut grant = conn.prepare(statements.grant)?;
    let mut grant_data = conn.prepare("update v1_grants set data = ?1 where rowid = ?2")?;
    let mut read_grant = conn.prepare("select data from v1_grants where rowid = ?1")?;
    let mut read_entitlement = conn.prepare(crate::writer::SELECT_ENTITLEMENT)?;
    for message in receive {
        let mut batch = match message {
            Message::Rows(batch) => batch,
            Message::Request(request) => {
                match request {
                    Request::GrantData(rows, reply) => {
                        let mut data = Vec::with_capacity(rows.len());
                        for row in rows {
                            let mut found = read_grant.query(params![row])?;
                            data.push(match found.next()? {
                                Some(r) => Some(r.get_ref(0)?.as_blob()?.to_vec()),
                                None => None,
                            });
                        }
                        let _ = reply.send(Ok(data));
                    }
                    Request::Entitlement(id, reply) => {
                        let mut found = read_entitlement.query(params![id, sync_id])?;
                        let data = match found.next()? {
                            Some(r) => Some(r.get_ref(0)?.as_blob()?.to_vec()),
                            None => None,
                        };
                        let _ = reply.send(Ok(data));
                    }
                }
                continue;
            }
        };
        for row in &batch.rows {
            let c = &row.columns;
            match row.kind {
                Kind::Resource { parent } => {
                    let key = batch.text(&c[1])?;
                    let (parent_type, parent_id) = if parent {
                        (Some(batch.text(&c[2])?), Some(batch.text(&c[3])?))
                    } else {
                        (None, None)
                    };
                    resource
                        .execute(params![
                            batch.text(&c[0])?,
                            key,
                            parent_type,
                            parent_id,
                            &batch.bytes[c[4].clone()],
                            sync_id,
                            discovered_at
                        ])
                        .with_context(|| format!("insert resource {key:?}"))?;
                }
                Kind::Entitlement => {
                    let id = batch.text(&c[2])?;
                    entitlement
                        .execute(params![
                            batch.text(&c[0])?,
                            batch.text(&c[1])?,
                            id,
                            &batch.bytes[c[3].clone()],
                            sync_id,
                            discovered_at
                        ])
                        .with_context(|| format!("insert entitlement {id:?}"))?;
                }
                Kind::GrantData { row_id } => {
                    grant_data
                        .execute(params![&batch.bytes[c[0].clone()], row_id])
                        .with_context(|| format!("update grant row {row_id}"))?;
                }
                Kind::Grant { row_id } => {
                    let id = batch.text(&c[5])?;
                    let (entitlement_id, principal_type, principal_id) =
                        (batch.text(&c[2])?, batch.text(&c[3])?, batch.text(&c[4])?);
                    grant
                        .execute(params![
                            batch.text(&c[0])?,
                            batch.text(&c[1])?,
                            entitlement_id,
                            principal_type,
                            principal_id,
                            id,
                            &batch.bytes[c[6].clone()],
                            sync_id,
                            discovered_at
                        ])
                        .with_context(|| format!("insert grant {id:?}"))?;
                    let inserted = conn.last_insert_rowid();
                    anyhow::ensure!(
                        row_id.is_none_or(|expected| expected == inserted),
                        "grant {id:?} went into row {inserted}, not the row {row_id:?} expected"
                    );
                }
            }
        }
        batch.clear();
        let _ = give_back.send(batch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{INSERT_GRANT, UPSERT_ENTITLEMENT, UPSERT_RESOURCE};

    const STATEMENTS: Statements = Statements {
        resource: UPSERT_RESOURCE,
        entitlement: UPSERT_ENTITLEMENT,
        grant: INSERT_GRANT,
    };

    fn grant(worker: &mut RowsWorker, n: usize) {
        let principal = format!("u{n}");
        let id = format!("group:g:member:user:{principal}");
        worker.grant(
            [
                b"group",
                b"g",
                b"group:g:member",
                b"user",
                principal.as_bytes(),
                id.as_bytes(),
                b"data",
            ],
            None,
        );
    }

    #[test]
    fn rows_are_inserted_in_the_order_given_across_batches() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        let start =
            |conn| RowsWorker::start(conn, STATEMENTS, "sync".into(), "now".into()).unwrap();
        let mut worker = start(conn);
        worker.resource("group", "group:g", None, b"g");
        worker.entitlement("group", "g", "group:g:member", b"e");
        let n = BATCH_ROWS * 2 + 7;
        for i in 0..n {
            grant(&mut worker, i);
        }
        let (conn, result) = worker.stop().unwrap();
        result.unwrap();
        let ids: Vec<String> = {
            let mut stmt = conn
                .prepare("select principal_resource_id from v1_grants order by id")
                .unwrap();
            let ids = stmt.query_map([], |r| r.get(0)).unwrap();
            ids.map(Result::unwrap).collect()
        };
        let expected: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
        assert_eq!(ids, expected);
        let parent: Option<String> = conn
            .query_row("select parent_resource_id from v1_resources", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(parent, None, "no parent is stored as null");
    }

    #[test]
    fn a_failed_insert_stops_the_worker_and_is_returned() {
        // No tables: the worker's statements cannot be prepared.
        let conn = Connection::open_in_memory().unwrap();
        let mut worker = RowsWorker::start(conn, STATEMENTS, "sync".into(), "now".into()).unwrap();
        for i in 0..BATCH_ROWS * (BATCHES_IN_FLIGHT + 2) {
            grant(&mut worker, i);
        }
        let (_conn, result) = worker.stop().unwrap();
        let message = format!("{:#}", result.unwrap_err());
        assert!(message.contains("no such table"), "{message}");
    }
}
