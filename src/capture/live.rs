//! Live capture (cargo feature `live`): libpcap through the `pcap` crate, the only code that
//! knows it. Opens one or more interfaces (`any` included) with a BPF filter that keeps DNS on
//! its ports, VLAN-tagged DNS and IP fragments (which carry no port), reads them without
//! blocking behind one `poll(2)`, and hands on batches at least every [`TICK_EVERY`] with a
//! wall-clock tick, so the analysis lets time pass on a quiet link. It never decodes frames.

use super::{BatchSource, CaptureError, CaptureProblem, FrameBatch, FrameMeta, InterfaceHealth};
use pcap::{Active, Capture, Device};
use std::fmt;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The default filter for DNS on port 53: UDP and TCP on the port, non-first IPv4 fragments
/// (fragment offset ≠ 0: no UDP header, so no port to match) and IPv6 fragments, each also
/// behind an 802.1Q tag (a plain `port 53` loses tagged frames and fragments).
pub const DEFAULT_BPF: &str = "(udp port 53 or tcp port 53 or (ip[6:2] & 0x1fff != 0) or ip6[6] = 44) or (vlan and (udp port 53 or tcp port 53 or (ip[6:2] & 0x1fff != 0) or ip6[6] = 44))";

/// Longest wait for packets before a batch (possibly empty) is handed on with a tick.
pub const TICK_EVERY: Duration = Duration::from_millis(100);
/// libpcap's buffer timeout: how long the kernel holds a partly filled block.
const BUFFER_TIMEOUT_MS: i32 = 50;
/// After a stop request, reading goes on this long so that blocks the kernel still holds arrive.
const DRAIN_FOR: Duration = Duration::from_millis(300);
/// Ticks lag the wall clock by this much, so frames still in kernel buffers (stamped earlier)
/// are not overtaken by a timeout.
const TICK_LAG_NS: u64 = 1_000_000_000;
/// How often libpcap's drop counters are read.
const STATS_EVERY: Duration = Duration::from_millis(500);

/// How to open the interfaces.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface names (`any`: all of them, Linux).
    pub interfaces: Vec<String>,
    /// BPF filter ([`default_filter`] when None).
    pub bpf: Option<String>,
    /// Bytes captured per frame.
    pub snaplen: u32,
    /// Kernel buffer per interface, bytes.
    pub buffer_bytes: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// UDP/TCP ports that carry DNS (for the default filter).
    pub dns_ports: Vec<u16>,
}

/// The default filter without its VLAN half: DNS on `ports` and IP fragments. Used alone where
/// the link type has no VLAN tags (Linux cooked capture, `-i any`: the kernel strips them).
pub fn untagged_filter(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let ports = ports.join(" or ");
    let port = if ports.contains(' ') {
        format!("port ({ports})")
    } else {
        format!("port {ports}")
    };
    format!("udp {port} or tcp {port} or (ip[6:2] & 0x1fff != 0) or ip6[6] = 44")
}

/// The default filter for `ports` ([`DEFAULT_BPF`] for port 53): the untagged filter, and the
/// same behind an 802.1Q tag.
pub fn default_filter(ports: &[u16]) -> String {
    let untagged = untagged_filter(ports);
    format!("({untagged}) or (vlan and ({untagged}))")
}

/// Why capture could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    /// The interface does not exist.
    NoSuchInterface {
        /// The name asked for.
        name: String,
        /// The interfaces libpcap can open.
        available: Vec<String>,
    },
    /// Not allowed to capture.
    Permission {
        /// The interface.
        name: String,
        /// libpcap's words.
        detail: String,
    },
    /// The filter does not compile.
    Filter {
        /// The filter.
        filter: String,
        /// libpcap's words.
        detail: String,
    },
    /// Anything else libpcap refused.
    Open {
        /// The interface.
        name: String,
        /// libpcap's words.
        detail: String,
    },
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveError::NoSuchInterface { name, available } => write!(
                f,
                "no such interface \"{name}\"; available: {}",
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                }
            ),
            LiveError::Permission { name, detail } => write!(
                f,
                "no permission to capture on \"{name}\" ({detail}): run as root or give the \
                 binary CAP_NET_RAW (e.g. setcap cap_net_raw,cap_net_admin=eip $(command -v pcdns))"
            ),
            LiveError::Filter { filter, detail } => {
                write!(f, "the BPF filter \"{filter}\" does not compile: {detail}")
            }
            LiveError::Open { name, detail } => {
                write!(f, "cannot capture on \"{name}\": {detail}")
            }
        }
    }
}

impl std::error::Error for LiveError {}

/// One open interface.
struct Handle {
    name: String,
    capture: Capture<Active>,
    link_type: u32,
    frames: u64,
    kernel_dropped: u64,
    interface_dropped: u64,
}

/// Captures from live interfaces.
pub struct LiveSource {
    handles: Vec<Handle>,
    stop: Arc<AtomicBool>,
    stop_seen: Option<Instant>,
    health: Arc<Mutex<Vec<InterfaceHealth>>>,
    opened: Instant,
    stats_read: Instant,
    errors: Vec<CaptureError>,
}

fn pcap_detail(error: &pcap::Error) -> String {
    match error {
        pcap::Error::PcapError(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_permission(detail: &str) -> bool {
    let detail = detail.to_ascii_lowercase();
    detail.contains("permission") || detail.contains("not permitted")
}

/// The names of the interfaces libpcap can open.
pub fn interface_names() -> Vec<String> {
    Device::list()
        .map(|devices| devices.into_iter().map(|d| d.name).collect())
        .unwrap_or_default()
}

fn open_one(name: &str, options: &LiveOptions) -> Result<Handle, LiveError> {
    let available = interface_names();
    if name != "any" && !available.iter().any(|a| a == name) {
        return Err(LiveError::NoSuchInterface {
            name: name.to_string(),
            available,
        });
    }
    let failed = |error: pcap::Error| {
        let detail = pcap_detail(&error);
        if is_permission(&detail) {
            LiveError::Permission {
                name: name.to_string(),
                detail,
            }
        } else {
            LiveError::Open {
                name: name.to_string(),
                detail,
            }
        }
    };
    let capture = Capture::from_device(name)
        .map_err(failed)?
        .promisc(options.promiscuous)
        .snaplen(i32::try_from(options.snaplen).unwrap_or(i32::MAX))
        .buffer_size(i32::try_from(options.buffer_bytes).unwrap_or(i32::MAX))
        .timeout(BUFFER_TIMEOUT_MS)
        .open()
        .map_err(failed)?;
    let mut capture = capture.setnonblock().map_err(failed)?;
    let filter = match &options.bpf {
        Some(filter) => filter.clone(),
        // Link types without VLAN tags (Linux cooked capture) cannot compile `vlan`.
        None => [
            default_filter(&options.dns_ports),
            untagged_filter(&options.dns_ports),
        ]
        .into_iter()
        .find(|filter| capture.compile(filter, true).is_ok())
        .unwrap_or_else(|| default_filter(&options.dns_ports)),
    };
    capture
        .filter(&filter, true)
        .map_err(|error| LiveError::Filter {
            filter,
            detail: pcap_detail(&error),
        })?;
    Ok(Handle {
        name: name.to_string(),
        link_type: capture.get_datalink().0 as u32,
        capture,
        frames: 0,
        kernel_dropped: 0,
        interface_dropped: 0,
    })
}

fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl LiveSource {
    /// Opens every interface of `options` (all or none). `stop`: set it to end the capture;
    /// what the kernel still holds is read first.
    pub fn open(options: &LiveOptions, stop: Arc<AtomicBool>) -> Result<Self, LiveError> {
        let handles = options
            .interfaces
            .iter()
            .map(|name| open_one(name, options))
            .collect::<Result<Vec<_>, _>>()?;
        let health = handles
            .iter()
            .map(|h| InterfaceHealth {
                interface: h.name.clone(),
                ..InterfaceHealth::default()
            })
            .collect();
        Ok(LiveSource {
            handles,
            stop,
            stop_seen: None,
            health: Arc::new(Mutex::new(health)),
            opened: Instant::now(),
            stats_read: Instant::now(),
            errors: Vec::new(),
        })
    }

    /// Lets the capture go on after a stop request was honoured (a reload, not a shutdown);
    /// the caller clears the stop flag first.
    pub fn resume(&mut self) {
        self.stop_seen = None;
    }

    /// Capture health, updated about twice a second while the capture runs.
    pub fn health(&self) -> Arc<Mutex<Vec<InterfaceHealth>>> {
        Arc::clone(&self.health)
    }

    /// Reads what is ready on every interface into `batch`. Err: the interface that failed.
    fn read_ready(
        &mut self,
        batch: &mut FrameBatch,
        max_frames: usize,
        max_bytes: usize,
    ) -> Result<(), CaptureError> {
        for (index, handle) in self.handles.iter_mut().enumerate() {
            while batch.frames.len() < max_frames && batch.frame_bytes_total < max_bytes {
                let packet = match handle.capture.next_packet() {
                    Ok(packet) => packet,
                    Err(pcap::Error::TimeoutExpired) => break,
                    Err(error) => {
                        return Err(CaptureError {
                            file: handle.name.clone(),
                            offset: 0,
                            problem: CaptureProblem::Io(format!(
                                "capture failed (interface gone or down?): {}",
                                pcap_detail(&error)
                            )),
                        })
                    }
                };
                handle.frames += 1;
                let ts = packet.header.ts;
                let ts_ns = (ts.tv_sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ts.tv_usec as u64 * 1_000);
                let meta = FrameMeta {
                    ts_ns,
                    file_index: index as u16,
                    frame_number: handle.frames,
                    link_type: handle.link_type,
                    start: 0,
                    caplen: 0,
                    wire_len: packet.header.len,
                };
                batch.push_copied(meta, packet.data);
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for any interface to become readable.
    #[allow(unsafe_code)]
    fn wait(&self, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> = self
            .handles
            .iter()
            .map(|h| libc::pollfd {
                fd: h.capture.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let millis = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures for the whole call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
    }

    fn update_health(&mut self) {
        let seconds = self.opened.elapsed().as_secs_f64();
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        for (handle, health) in self.handles.iter_mut().zip(health.iter_mut()) {
            if let Ok(stat) = handle.capture.stats() {
                handle.kernel_dropped = u64::from(stat.dropped);
                handle.interface_dropped = u64::from(stat.if_dropped);
            }
            *health = InterfaceHealth {
                interface: handle.name.clone(),
                received: handle.frames,
                kernel_dropped: handle.kernel_dropped,
                interface_dropped: handle.interface_dropped,
                seconds,
            };
        }
        self.stats_read = Instant::now();
    }
}

impl BatchSource for LiveSource {
    fn next_batch(&mut self, batch: &mut FrameBatch, max_frames: usize, max_bytes: usize) -> bool {
        let deadline = Instant::now() + TICK_EVERY;
        let mut more = true;
        loop {
            if let Err(error) = self.read_ready(batch, max_frames, max_bytes) {
                self.errors.push(error);
                more = false;
                break;
            }
            if batch.frames.len() >= max_frames || batch.frame_bytes_total >= max_bytes {
                break;
            }
            if self.stop.load(Ordering::Relaxed) {
                let seen = *self.stop_seen.get_or_insert_with(Instant::now);
                if seen.elapsed() >= DRAIN_FOR {
                    more = false;
                    break;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.wait(deadline - now);
        }
        batch.tick_ns = wall_clock_ns().saturating_sub(TICK_LAG_NS);
        if !more || self.stats_read.elapsed() >= STATS_EVERY {
            self.update_health();
        }
        more
    }

    fn finish(&mut self) -> super::SourceSummary {
        self.update_health();
        super::SourceSummary {
            interfaces: self.health.lock().map(|h| h.clone()).unwrap_or_default(),
            errors: std::mem::take(&mut self.errors),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles `filter` for Ethernet and runs it over `frame`.
    fn passes(filter: &str, frame: &[u8]) -> bool {
        let dead = Capture::dead(pcap::Linktype::ETHERNET).expect("dead capture");
        let program = dead.compile(filter, true).expect("filter compiles");
        program.filter(frame)
    }

    /// An Ethernet frame, optionally 802.1Q-tagged, carrying an IPv4 packet with `protocol`,
    /// the fragment field `fragment` and a UDP header to `port` (only meaningful at offset 0).
    fn ipv4_frame(vlan: bool, fragment: u16, port: u16) -> Vec<u8> {
        let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        if vlan {
            frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        }
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 36, 0, 1];
        ip.extend_from_slice(&fragment.to_be_bytes());
        ip.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        ip.extend_from_slice(&[0xc3, 0x50]);
        ip.extend_from_slice(&port.to_be_bytes());
        ip.extend_from_slice(&[0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&ip);
        frame
    }

    #[test]
    fn default_filter_keeps_tagged_dns_and_fragments_and_drops_the_rest() {
        let filter = default_filter(&[53]);
        assert_eq!(filter, DEFAULT_BPF);
        assert!(passes(&filter, &ipv4_frame(false, 0, 53)));
        assert!(passes(&filter, &ipv4_frame(true, 0, 53)));
        // Non-first fragment (offset 185 × 8 bytes): no UDP header, still kept.
        assert!(passes(&filter, &ipv4_frame(false, 185, 0)));
        assert!(passes(&filter, &ipv4_frame(true, 185, 0)));
        assert!(!passes(&filter, &ipv4_frame(false, 0, 443)));
        assert!(!passes(&filter, &ipv4_frame(true, 0, 443)));
        // A plain `port 53` loses both.
        assert!(!passes("port 53", &ipv4_frame(true, 0, 53)));
        assert!(!passes("port 53", &ipv4_frame(false, 185, 0)));
    }

    #[test]
    fn extra_ports_join_the_default_filter() {
        let filter = default_filter(&[53, 5353]);
        assert!(passes(&filter, &ipv4_frame(true, 0, 5353)));
        assert!(!passes(&filter, &ipv4_frame(true, 0, 443)));
    }

    #[test]
    fn cooked_captures_get_the_untagged_filter() {
        let cooked = Capture::dead(pcap::Linktype::LINUX_SLL).expect("dead capture");
        assert!(cooked.compile(&default_filter(&[53]), true).is_err());
        assert!(cooked.compile(&untagged_filter(&[53]), true).is_ok());
        assert!(cooked.compile(&untagged_filter(&[53, 5353]), true).is_ok());
    }

    #[test]
    fn missing_interface_lists_the_available_ones() {
        let options = LiveOptions {
            interfaces: vec!["pcdns-no-such0".into()],
            bpf: None,
            snaplen: 65_535,
            buffer_bytes: 1 << 20,
            promiscuous: false,
            dns_ports: vec![53],
        };
        let error = LiveSource::open(&options, Arc::default())
            .err()
            .expect("no such interface");
        assert!(matches!(error, LiveError::NoSuchInterface { .. }));
        assert!(error.to_string().contains("available:"), "{error}");
    }
}
