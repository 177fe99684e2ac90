//! The Prometheus endpoint: a minimal HTTP/1.x server that answers `GET /metrics` with the
//! latest exposition text the monitor published. One request per connection. Each connection
//! gets its own short-lived thread and one total deadline for reading the request and writing
//! the answer; open connections are capped in all and per peer address (connections beyond
//! either cap are answered 503 and closed at once). So a slow or hostile client holds at most
//! a few slots for at most the deadline, and never delays the answers to others.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Time a connection has to send its request and take the answer.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Connections open at once, from all peers.
const MAX_CONNECTIONS: usize = 32;
/// Connections open at once from one peer address.
const MAX_CONNECTIONS_PER_PEER: usize = 8;
/// Longest request head read; the rest is ignored.
const MAX_REQUEST_BYTES: usize = 8192;
/// Stack of a connection thread (it only parses a request line and copies the text).
const CONNECTION_STACK_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (out of file descriptors, say) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// How long a connection may take and how many may be open.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total time to read the request and write the answer.
    pub deadline: Duration,
    /// Connections open at once in all.
    pub max_connections: usize,
    /// Connections open at once from one peer address.
    pub max_per_peer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: REQUEST_DEADLINE,
            max_connections: MAX_CONNECTIONS,
            max_per_peer: MAX_CONNECTIONS_PER_PEER,
        }
    }
}

/// Serves the latest published metrics.
pub struct MetricsServer {
    text: Arc<Mutex<String>>,
    /// The address it listens on.
    pub address: SocketAddr,
}

impl MetricsServer {
    /// Listens on `address` and serves from background threads, within `limits`.
    pub fn start(address: SocketAddr, limits: Limits) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let text = Arc::new(Mutex::new(String::new()));
        let shared = Arc::clone(&text);
        std::thread::Builder::new()
            .name("pcdns-metrics".into())
            .spawn(move || accept_forever(&listener, &shared, limits))?;
        Ok(MetricsServer { text, address })
    }

    /// Replaces the text served from now on.
    pub fn publish(&self, text: String) {
        *lock(&self.text) = text;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accepts connections and hands each admitted one to its own thread.
fn accept_forever(listener: &TcpListener, text: &Arc<Mutex<String>>, limits: Limits) {
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) => {
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        let Some(slot) = Slot::take(&open, peer.ip(), limits) else {
            refuse(stream);
            continue;
        };
        let text = Arc::clone(text);
        // If the thread cannot be made, the closure is dropped: the stream closes and the
        // slot is given back.
        let _ = std::thread::Builder::new()
            .name("pcdns-metrics-conn".into())
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || {
                let mut connection = Deadlined::new(stream, Instant::now() + limits.deadline);
                // A client that misbehaves only loses its own answer.
                let _ = answer(&mut connection, &text);
                // The place is given back before the client sees the close, so that it may
                // connect again at once.
                drop(slot);
            });
    }
}

/// Connections open now, in all and per peer address.
#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// One admitted connection's place among the open ones; dropping it gives the place back.
struct Slot {
    open: Arc<Mutex<OpenConnections>>,
    peer: IpAddr,
}

impl Slot {
    /// A place for a connection from `peer`, or None when either cap is reached.
    fn take(open: &Arc<Mutex<OpenConnections>>, peer: IpAddr, limits: Limits) -> Option<Slot> {
        let mut connections = lock(open);
        let from_peer = connections.per_peer.get(&peer).copied().unwrap_or(0);
        if connections.total >= limits.max_connections || from_peer >= limits.max_per_peer {
            return None;
        }
        connections.total += 1;
        connections.per_peer.insert(peer, from_peer + 1);
        Some(Slot {
            open: Arc::clone(open),
            peer,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut connections = lock(&self.open);
        connections.total -= 1;
        if let Some(count) = connections.per_peer.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                connections.per_peer.remove(&self.peer);
            }
        }
    }
}

/// Answers a connection over the caps with 503, without waiting for it (best effort): what
/// the client already sent is read, so that closing does not reset the connection before
/// the client has read the answer.
fn refuse(mut stream: TcpStream) {
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.read(&mut [0u8; MAX_REQUEST_BYTES]);
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
}

/// A connection whose reads and writes all end by one deadline.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Deadlined {
    fn new(stream: TcpStream, deadline: Instant) -> Self {
        Deadlined { stream, deadline }
    }

    /// Time left before the deadline; an error once it has passed.
    fn remaining(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.remaining()?))?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.remaining()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Reads one request head and writes its answer.
fn answer(stream: &mut Deadlined, text: &Mutex<String>) -> io::Result<()> {
    let request = read_head(stream)?;
    let request = String::from_utf8_lossy(&request);
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            lock(text).clone(),
        ),
        ("GET", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "pcdns monitor: metrics at /metrics\n".to_string(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The request up to its blank line (or the first `MAX_REQUEST_BYTES`, or what came before
/// the client stopped sending).
fn read_head(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..read]);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Limits = Limits {
        deadline: Duration::from_millis(600),
        max_connections: 6,
        max_per_peer: 4,
    };

    fn server(limits: Limits) -> MetricsServer {
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), limits).unwrap();
        server.publish("pcdns_packets_total 7\n".into());
        server
    }

    fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        // A refused connection may be closed, even reset, before the request is written or
        // read to its end: the answer that came is what counts.
        let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Connections that send the start of a request and then stay silent.
    fn stalled(address: SocketAddr, count: usize) -> Vec<TcpStream> {
        (0..count)
            .map(|_| {
                let mut stream = TcpStream::connect(address).unwrap();
                stream.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
                stream
            })
            .collect()
    }

    /// Gives the accept thread time to admit the connections just made.
    fn settle() {
        std::thread::sleep(Duration::from_millis(100));
    }

    #[test]
    fn serves_the_published_text_on_metrics_and_404_elsewhere() {
        let server = server(Limits::default());
        let response = get(server.address, "/metrics");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("version=0.0.4"));
        assert!(response.ends_with("\r\n\r\npcdns_packets_total 7\n"));
        assert!(get(server.address, "/nope").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn a_request_without_end_of_headers_is_closed_at_the_deadline() {
        let server = server(SHORT);
        let started = Instant::now();
        let mut stream = stalled(server.address, 1).remove(0);
        stream.set_read_timeout(Some(SHORT.deadline * 4)).unwrap();
        let mut response = Vec::new();
        // End of stream (or a reset): the server gave up on the request.
        let _ = stream.read_to_end(&mut response);
        let waited = started.elapsed();
        assert!(
            response.is_empty(),
            "{}",
            String::from_utf8_lossy(&response)
        );
        assert!(
            waited >= SHORT.deadline - Duration::from_millis(50) && waited < SHORT.deadline * 2,
            "closed after {waited:?}"
        );
    }

    #[test]
    fn a_trickling_client_is_cut_at_the_deadline_however_often_it_sends() {
        let server = server(SHORT);
        let mut stream = TcpStream::connect(server.address).unwrap();
        let started = Instant::now();
        // A byte every 100 ms: each read is quick, so only the total deadline ends it.
        let cut = loop {
            std::thread::sleep(Duration::from_millis(100));
            if stream.write_all(b"G").is_err() || started.elapsed() > SHORT.deadline * 4 {
                break started.elapsed();
            }
            // A closed connection shows as end of stream to a non-blocking read.
            stream.set_nonblocking(true).unwrap();
            let mut byte = [0u8; 1];
            let closed = matches!(stream.read(&mut byte), Ok(0));
            stream.set_nonblocking(false).unwrap();
            if closed {
                break started.elapsed();
            }
        };
        assert!(cut < SHORT.deadline * 2, "still open after {cut:?}");
    }

    #[test]
    fn scrapes_are_answered_while_slow_clients_hold_connections() {
        let server = server(SHORT);
        let _slow = stalled(server.address, SHORT.max_per_peer - 1);
        settle();
        for _ in 0..5 {
            let asked = Instant::now();
            let response = get(server.address, "/metrics");
            assert!(response.ends_with("pcdns_packets_total 7\n"), "{response}");
            assert!(
                asked.elapsed() < Duration::from_millis(500),
                "{:?}",
                asked.elapsed()
            );
        }
    }

    #[test]
    fn connections_over_the_per_peer_cap_are_refused_at_once_and_freed_at_the_deadline() {
        let server = server(SHORT);
        let _held = stalled(server.address, SHORT.max_per_peer);
        settle();
        let asked = Instant::now();
        let refused = get(server.address, "/metrics");
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(asked.elapsed() < Duration::from_millis(500));
        // Once the held connections reach their deadline, their places are free again.
        std::thread::sleep(SHORT.deadline + Duration::from_millis(500));
        assert!(get(server.address, "/metrics").starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn the_total_cap_counts_every_peer() {
        let open = Arc::new(Mutex::new(OpenConnections::default()));
        let peer = |last: u8| IpAddr::from([127, 0, 0, last]);
        let slots: Vec<Slot> = (0..SHORT.max_connections as u8)
            .filter_map(|i| Slot::take(&open, peer(i), SHORT))
            .collect();
        assert_eq!(slots.len(), SHORT.max_connections);
        assert!(Slot::take(&open, peer(200), SHORT).is_none());
        drop(slots);
        let open_now = lock(&open);
        assert_eq!((open_now.total, open_now.per_peer.len()), (0, 0));
    }
}
