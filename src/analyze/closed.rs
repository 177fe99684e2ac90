//! What the analysis records of a finished transaction, borrowed from a [`Transaction`] as
//! pairing closed it or from a transaction kept aside for `pcdns merge` (see
//! [`OpenTransaction`](super::seam::OpenTransaction)), so that both are recorded alike.

use super::occurrences::FrameRef;
use super::pairing::{Status, Transaction};
use std::net::IpAddr;

/// A finished transaction, as the analysis records it.
#[derive(Debug, Clone, Copy)]
pub struct Closed<'a> {
    /// How it ended.
    pub status: Status,
    /// The client.
    pub client: IpAddr,
    /// The DNS server.
    pub server: IpAddr,
    /// The watched name it counts for: normalized key and display form.
    pub watched: Option<(&'a str, &'a str)>,
    /// Response time minus first query time.
    pub rtt_ns: Option<u64>,
    /// First query: capture time (ns) and frame.
    pub query: Option<(u64, FrameRef)>,
    /// The response: capture time (ns) and frame.
    pub response: Option<(u64, FrameRef)>,
    /// For duplicates: the answers differ from the first response's.
    pub answers_differ: bool,
    /// For orphans: within one query timeout of the capture's start.
    pub near_capture_start: bool,
}

impl<'a> Closed<'a> {
    /// What the analysis records of `transaction`.
    pub fn of(transaction: &'a Transaction) -> Self {
        let response = transaction.response.as_ref().map(|response| {
            let frame = FrameRef {
                file_index: response.frame.file_index,
                frame_number: response.frame.frame_number,
            };
            (response.frame.ts_ns, frame)
        });
        Closed {
            status: transaction.status,
            client: transaction.client.ip(),
            server: transaction.server.ip(),
            watched: transaction
                .watched
                .as_ref()
                .map(|watched| (&*watched.key, &*watched.display)),
            rtt_ns: transaction.rtt_ns,
            query: transaction.query,
            response,
            answers_differ: transaction.answers_differ,
            near_capture_start: transaction.near_capture_start,
        }
    }
}
