//! Reassembly limits shared by the targets that run whole captures (small, so that inputs
//! reach the caps).

use pcdns::decode::{FragmentLimits, ReassemblyLimits, TcpLimits};

pub const LIMITS: ReassemblyLimits = ReassemblyLimits {
    fragments: FragmentLimits {
        timeout_ns: 1_000_000_000,
        max_datagrams: 16,
        max_bytes: 256 * 1024,
    },
    tcp: TcpLimits {
        idle_ns: 1_000_000_000,
        max_directions: 16,
        max_direction_bytes: 70_000,
        max_bytes: 512 * 1024,
    },
};
