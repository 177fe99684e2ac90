//! The Prometheus endpoint: a minimal HTTP/1.x server on one thread that answers
//! `GET /metrics` with the latest exposition text the monitor published. One request per
//! connection; slow clients are cut off by timeouts, so a scraper cannot stall the monitor.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_REQUEST_BYTES: usize = 8192;

/// Serves the latest published metrics.
pub struct MetricsServer {
    text: Arc<Mutex<String>>,
    /// The address it listens on.
    pub address: SocketAddr,
}

impl MetricsServer {
    /// Listens on `address` and serves from a background thread.
    pub fn start(address: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let text = Arc::new(Mutex::new(String::new()));
        let shared = Arc::clone(&text);
        std::thread::Builder::new()
            .name("pcdns-metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    // A client that misbehaves only loses its own answer.
                    let _ = answer(stream, &shared);
                }
            })?;
        Ok(MetricsServer { text, address })
    }

    /// Replaces the text served from now on.
    pub fn publish(&self, text: String) {
        *self.text.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }
}

fn answer(mut stream: TcpStream, text: &Mutex<String>) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..read]);
    }
    let request = String::from_utf8_lossy(&request);
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            text.lock().unwrap_or_else(|e| e.into_inner()).clone(),
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
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_the_published_text_on_metrics_and_404_elsewhere() {
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
        server.publish("pcdns_packets_total 7\n".into());
        let response = get(server.address, "/metrics");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("version=0.0.4"));
        assert!(response.ends_with("\r\n\r\npcdns_packets_total 7\n"));
        assert!(get(server.address, "/nope").starts_with("HTTP/1.1 404"));
    }
}
