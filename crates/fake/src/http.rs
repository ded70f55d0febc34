//! A deliberately small HTTP/1.1 server on `std::net::TcpListener`, used by the
//! fake Elastic APIs.
//!
//! One thread accepts connections and one thread serves each connection. A
//! connection is kept alive and answers request after request until the client
//! closes it, asks for `Connection: close`, or the handler decides to break it
//! (a truncated or dropped response). Request bodies are read by
//! `Content-Length` (or chunked transfer encoding); responses always carry a
//! `Content-Length`.
//!
//! Connections are plain TCP or, with the `tls` feature, TLS over TCP
//! ([`Transport`]); the request/response code works on any `Read + Write`
//! stream and keeps a clone of the underlying `TcpStream` to break the
//! connection (dropped and truncated responses) whatever the stream is.
//!
//! Shutting down sets a flag, connects to the listener once so the blocking
//! `accept` returns, and shuts down every connection that is still open so
//! their threads end too.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest request line or header line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 200;
/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One parsed HTTP request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// Method as sent, e.g. `GET`.
    pub method: String,
    /// Request target as sent: path plus query string.
    pub target: String,
    /// Protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header names lower-cased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Raw body bytes (de-chunked when chunked encoding was used).
    pub body: Vec<u8>,
}

impl Request {
    /// First value of a header, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    /// Extra headers; `Content-Length` and `Connection` are added by the server.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the server should do with a response.
#[derive(Debug)]
pub(crate) enum Action {
    /// Send it and keep the connection (unless the client asked to close).
    Send(Response),
    /// Announce the full `Content-Length`, send only the first half of the
    /// body, then close the connection.
    Truncate(Response),
    /// Announce this `Content-Length` (larger than the body), send the body, then close the connection.
    Announce(Response, u64),
    /// Close the connection without answering.
    Drop,
}

/// The handler's answer to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Sleep this long before answering (not counted as serving time).
    pub delay: Option<Duration>,
    pub action: Action,
}

/// Request handler used by [`Server`].
pub(crate) trait Handler: Send + Sync + 'static {
    /// Build the reply to one request.
    fn handle(&self, request: &Request) -> Reply;
    /// Called after a reply has been written, with the time spent building
    /// and writing it (injected delays excluded).
    fn served(&self, busy: Duration);
}

type Connections = Arc<Mutex<BTreeMap<u64, TcpStream>>>;

/// How accepted connections are spoken to.
#[derive(Clone)]
pub(crate) enum Transport {
    /// Plain HTTP over TCP.
    Plain,
    /// HTTPS: a TLS server session over TCP with this configuration.
    #[cfg(feature = "tls")]
    Tls(Arc<rustls::ServerConfig>),
}

impl Transport {
    /// URL scheme of the transport.
    pub fn scheme(&self) -> &'static str {
        match self {
            Transport::Plain => "http",
            #[cfg(feature = "tls")]
            Transport::Tls(_) => "https",
        }
    }
}

/// A connection's byte stream: plain TCP or a TLS session over it.
trait Stream: Read + Write {
    /// Called before an orderly close (TLS sends its `close_notify`).
    fn finish(&mut self) {}
}

impl Stream for TcpStream {}

#[cfg(feature = "tls")]
impl Stream for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// A running server; dropping it shuts the server down.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Connections,
    accept_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Bind `127.0.0.1:0` and start accepting connections spoken to over
    /// `transport`.
    pub fn start(handler: Arc<dyn Handler>, transport: Transport) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Connections = Arc::new(Mutex::new(BTreeMap::new()));
        let accept_thread = {
            let stop = Arc::clone(&stop);
            let connections = Arc::clone(&connections);
            std::thread::Builder::new()
                .name("fake-elastic-accept".to_string())
                .spawn(move || accept_loop(listener, handler, transport, stop, connections))?
        };
        Ok(Server {
            addr,
            stop,
            connections,
            accept_thread: Some(accept_thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, close open connections and wait for the accept thread.
    pub fn shutdown(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept() so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        let open = std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    transport: Transport,
    stop: Arc<AtomicBool>,
    connections: Connections,
) {
    let next_id = AtomicU64::new(0);
    for incoming in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = incoming else {
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, clone);
        }
        let handler = Arc::clone(&handler);
        let conns = Arc::clone(&connections);
        let transport = transport.clone();
        let spawned = std::thread::Builder::new()
            .name("fake-elastic-conn".to_string())
            .spawn(move || {
                serve_transport(stream, &transport, handler.as_ref());
                conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            });
        if spawned.is_err() {
            connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }
}

/// Why reading a request stopped.
enum ReadError {
    /// The client closed the connection cleanly between requests.
    Closed,
    /// An I/O error; the connection is unusable.
    Io,
    /// The request could not be parsed; answer 400 and close.
    Bad(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// Wrap an accepted connection as the transport says and serve it.
fn serve_transport(stream: TcpStream, transport: &Transport, handler: &dyn Handler) {
    let _ = stream.set_nodelay(true);
    let Ok(raw) = stream.try_clone() else {
        return;
    };
    match transport {
        Transport::Plain => serve_connection(stream, &raw, handler),
        #[cfg(feature = "tls")]
        Transport::Tls(config) => {
            let Ok(session) = rustls::ServerConnection::new(Arc::clone(config)) else {
                let _ = raw.shutdown(Shutdown::Both);
                return;
            };
            // The handshake happens on the first read of the request.
            serve_connection(rustls::StreamOwned::new(session, stream), &raw, handler);
        }
    }
}

/// Serve requests on `stream` until the connection ends; `raw` is the TCP
/// connection underneath, used to break it.
fn serve_connection<S: Stream>(stream: S, raw: &TcpStream, handler: &dyn Handler) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(request) => request,
            Err(ReadError::Closed) | Err(ReadError::Io) => return,
            Err(ReadError::Bad(why)) => {
                let response = Response {
                    status: 400,
                    headers: vec![("Content-Type".to_string(), "text/plain".to_string())],
                    body: why.as_bytes().to_vec(),
                };
                let _ = write_response(reader.get_mut(), &response, true, None, None);
                reader.get_mut().finish();
                let _ = raw.shutdown(Shutdown::Both);
                return;
            }
        };
        let keep_alive = wants_keep_alive(&request);
        let started = Instant::now();
        let reply = handler.handle(&request);
        let mut busy = started.elapsed();
        if let Some(delay) = reply.delay {
            std::thread::sleep(delay);
        }
        let writing = Instant::now();
        let stream = reader.get_mut();
        let mut orderly = true;
        let keep_going = match &reply.action {
            Action::Send(response) => {
                write_response(stream, response, !keep_alive, None, None).is_ok() && keep_alive
            }
            Action::Truncate(response) => {
                let half = response.body.len() / 2;
                let _ = write_response(stream, response, true, Some(half), None);
                orderly = false;
                false
            }
            Action::Announce(response, length) => {
                let _ = write_response(stream, response, true, None, Some(*length));
                orderly = false;
                false
            }
            Action::Drop => {
                orderly = false;
                false
            }
        };
        busy += writing.elapsed();
        handler.served(busy);
        if !keep_going {
            if orderly {
                stream.finish();
            }
            let _ = raw.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only
/// with `Connection: keep-alive`.
fn wants_keep_alive(request: &Request) -> bool {
    let connection = request.header("connection").unwrap_or("");
    let has = |word: &str| {
        connection
            .split(',')
            .any(|token| token.trim().eq_ignore_ascii_case(word))
    };
    if has("close") {
        return false;
    }
    if request.version == "HTTP/1.0" {
        has("keep-alive")
    } else {
        true
    }
}

/// Read one line (including its `\n`), bounded by [`MAX_LINE`].
fn read_line<S: Read>(reader: &mut BufReader<S>, buf: &mut Vec<u8>) -> Result<usize, ReadError> {
    buf.clear();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', buf)?;
    if n > 0 && buf.last() != Some(&b'\n') {
        if n as u64 >= MAX_LINE {
            return Err(ReadError::Bad("line too long"));
        }
        return Err(ReadError::Io);
    }
    while matches!(buf.last(), Some(b'\n') | Some(b'\r')) {
        buf.pop();
    }
    Ok(n)
}

fn read_request<S: Read + Write>(reader: &mut BufReader<S>) -> Result<Request, ReadError> {
    let mut line = Vec::new();
    // Skip stray blank lines between requests (allowed by RFC 9112).
    loop {
        let n = read_line(reader, &mut line)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        if !line.is_empty() {
            break;
        }
    }
    let request_line = String::from_utf8_lossy(&line).into_owned();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad("unsupported HTTP version"));
    }
    let method = method.to_string();
    let target = target.to_string();
    let version = version.to_string();
    let mut headers = Vec::new();
    loop {
        let n = read_line(reader, &mut line)?;
        if n == 0 {
            return Err(ReadError::Io);
        }
        if line.is_empty() {
            break;
        }
        if headers.len() > MAX_HEADERS {
            return Err(ReadError::Bad("too many headers"));
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(ReadError::Bad("malformed header line"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let stream = reader.get_mut();
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        stream.flush()?;
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| ReadError::Bad("invalid Content-Length"))?;
        if length > MAX_BODY {
            return Err(ReadError::Bad("request body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(request)
}

fn read_chunked<S: Read>(reader: &mut BufReader<S>) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    loop {
        if read_line(reader, &mut line)? == 0 {
            return Err(ReadError::Io);
        }
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad("invalid chunk size"))?;
        if size == 0 {
            // Trailer section up to the blank line.
            loop {
                if read_line(reader, &mut line)? == 0 || line.is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(ReadError::Bad("request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader, &mut line)?;
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Write the status line, headers and (all or `limit` bytes of) the body; `Content-Length` is the body's
/// length unless `announced` says otherwise.
fn write_response<W: Write + ?Sized>(
    stream: &mut W,
    response: &Response,
    close: bool,
    limit: Option<usize>,
    announced: Option<u64>,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    let length = announced.unwrap_or(response.body.len() as u64);
    head.push_str(&format!("Content-Length: {length}\r\n"));
    head.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: keep-alive\r\n"
    });
    head.push_str("\r\n");
    let body = match limit {
        Some(n) => &response.body[..n.min(response.body.len())],
        None => &response.body[..],
    };
    if head.len() + body.len() <= 16 * 1024 {
        // Small responses go out in a single write.
        let mut all = head.into_bytes();
        all.extend_from_slice(body);
        stream.write_all(&all)?;
    } else {
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
    }
    stream.flush()
}
