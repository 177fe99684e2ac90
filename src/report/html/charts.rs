//! The charts of a name drawn as inline SVG: which addresses are charted and in which colour,
//! the legend under each chart, the member share bars and the timeline (the client heatmap is
//! in `heatmap.rs`).

use super::super::insight::InsightReport;
use super::super::NameReport;
use maud::{html, Markup};
use std::net::IpAddr;

const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#bcbd22", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// The colour of an address that is not an expected member, in every chart (no member has it).
pub(super) const NON_MEMBER: &str = "#d00000";
/// Members listed in a chart's legend (every non-member is listed too).
const LEGEND_MEMBERS: usize = 16;

/// An address drawn in a chart: a rotation candidate, or an answered address that is not a
/// member (drawn in [`NON_MEMBER`], labelled so).
pub(super) struct Charted {
    pub(super) address: IpAddr,
    pub(super) non_member: bool,
}

impl Charted {
    /// The candidates, then the non-members: the order of the timeline's counts.
    pub(super) fn all(insight: &InsightReport) -> Vec<Charted> {
        let candidates = insight.rotation.candidates.iter().map(|a| Charted {
            address: *a,
            non_member: false,
        });
        let others = insight.non_members.iter().map(|n| Charted {
            address: n.address,
            non_member: true,
        });
        candidates.chain(others).collect()
    }

    /// The colour of the `index`th charted address.
    fn colour(&self, index: usize) -> &'static str {
        if self.non_member {
            NON_MEMBER
        } else {
            PALETTE[index % PALETTE.len()]
        }
    }

    /// The colour of its label text.
    pub(super) fn text_colour(&self) -> &'static str {
        if self.non_member {
            NON_MEMBER
        } else {
            "#222"
        }
    }

    /// Its label: the address, and "not a member" when it is not one.
    pub(super) fn label(&self) -> String {
        if self.non_member {
            format!("{} (not a member)", self.address)
        } else {
            self.address.to_string()
        }
    }

    /// `data-role` of its marks.
    pub(super) fn role(&self) -> &'static str {
        if self.non_member {
            "non-member"
        } else {
            "member"
        }
    }
}

/// The legend under a chart: each address's colour and whether it is a member (members past
/// [`LEGEND_MEMBERS`] counted), then what the marks mean.
pub(super) fn legend(candidates: &[Charted], marks: &str) -> Markup {
    let members = candidates.iter().filter(|c| !c.non_member).count();
    html! {
        p class="legend" {
            @for (i, charted) in candidates.iter().enumerate() {
                @if charted.non_member || i < LEGEND_MEMBERS {
                    span class="key" data-role=(charted.role()) {
                        span style=(format!("display:inline-block;width:10px;height:10px;background:{}", charted.colour(i))) {}
                        " " (charted.label())
                    }
                    " "
                }
            }
            @if members > LEGEND_MEMBERS {
                "(and " (members - LEGEND_MEMBERS) " more members) "
            }
            br;
            small { (marks) }
        }
    }
}

/// Horizontal bars per candidate: share of answers holding it, share where it came first.
pub(super) fn share_chart(name: &NameReport, candidates: &[Charted]) -> Markup {
    let answers = name.answer_sets.iter().map(|s| s.count).sum::<u64>().max(1);
    let first_total = name.addresses.iter().map(|a| a.first).sum::<u64>().max(1);
    let (label_w, bar_w) = (230.0, 420.0);
    // Many members: thinner rows, so a 120-member pool stays a readable page long.
    let row_h = if candidates.len() <= 16 { 34.0 } else { 16.0 };
    let bar_h = (row_h - 10.0) / 2.0;
    let font = if row_h > 20.0 { 12 } else { 10 };
    html! {
        h3 { "Member share" }
        svg class="chart share" width=(label_w + bar_w + 200.0)
            height=(row_h * candidates.len() as f64 + 30.0) role="img" aria-label="member share" {
            @for (i, charted) in candidates.iter().enumerate() {
                @let member = charted.address;
                @let facts = name.addresses.iter().find(|a| a.address == member);
                @let (present, first) = facts.map_or((0, 0), |a| (a.present, a.first));
                @let y = 10.0 + row_h * i as f64;
                @let colour = charted.colour(i);
                text x="0" y=(y + bar_h + 3.0) font-size=(font) fill=(charted.text_colour()) {
                    (charted.label())
                }
                rect class="mark" data-member=(member) data-role=(charted.role()) x=(label_w) y=(y)
                    width=(format!("{:.1}", (bar_w * present as f64 / answers as f64).max(1.0)))
                    height=(bar_h) fill=(colour) opacity="0.45" {
                    title { (member) ": in " (present) " of " (answers) " answers" }
                }
                rect class="mark-first" x=(label_w) y=(y + bar_h + 1.0)
                    width=(format!("{:.1}", bar_w * first as f64 / first_total as f64))
                    height=(bar_h) fill=(colour) {
                    title { (member) ": first in " (first) " answers" }
                }
                text x=(label_w + bar_w + 6.0) y=(y + bar_h + 3.0) font-size=(font) {
                    (format!(
                        "{:.0}% present, {:.0}% first",
                        100.0 * present as f64 / answers as f64,
                        100.0 * first as f64 / first_total as f64
                    ))
                }
            }
        }
        (legend(
            candidates,
            "pale bar: share of answers holding the address; solid bar: share of first positions",
        ))
    }
}

/// Lines per candidate (answers holding it per interval) and failures, over time.
pub(super) fn timeline(insight: &InsightReport, candidates: &[Charted]) -> Markup {
    let intervals = &insight.timeline.intervals;
    if intervals.is_empty() {
        return html! {
            h3 { "Timeline" }
            p { "No timeline: discovery keeps none for a name." }
        };
    }
    let (w, h, left, bottom) = (640.0, 220.0, 40.0, 30.0);
    let base = h - bottom;
    let peak = intervals
        .iter()
        .flat_map(|i| i.present.iter().copied().chain([i.failures + i.unanswered]))
        .max()
        .unwrap_or(0)
        .max(1);
    let step = (w - left) / intervals.len().max(1) as f64;
    let x = |i: usize| left + step * (i as f64 + 0.5);
    let y = |v: u64| base - (base - 10.0) * v as f64 / peak as f64;
    let series = candidates
        .iter()
        .enumerate()
        .map(|(j, charted)| {
            let values: Vec<u64> = intervals
                .iter()
                .map(|i| i.present.get(j).copied().unwrap_or(0))
                .collect();
            (charted.label(), charted.colour(j), values)
        })
        .chain([(
            "failures".to_string(),
            "#888",
            intervals
                .iter()
                .map(|i| i.failures + i.unanswered)
                .collect(),
        )]);
    html! {
        h3 {
            "Timeline (" (insight.timeline.bucket_seconds)
            " s intervals; answers holding each member, failures in grey)"
        }
        svg class="chart timeline" width=(w) height=(h) role="img" aria-label="timeline" {
            line x1=(left) y1=(base) x2=(w) y2=(base) stroke="#999" {}
            text x="0" y="14" font-size="11" { (peak) }
            text x="0" y=(base) font-size="11" { "0" }
            @if let (Some(first), Some(last)) = (intervals.first(), intervals.last()) {
                text x=(left) y=(h) font-size="10" { (first.start) }
                text x=(w) y=(h) font-size="10" text-anchor="end" { (last.start) }
            }
            @for (label, colour, values) in series {
                @let points: Vec<String> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
                    .collect();
                polyline fill="none" stroke=(colour) stroke-width="2" points=(points.join(" ")) {}
                @for (i, v) in values.iter().enumerate() {
                    circle class="point" data-series=(label) cx=(format!("{:.1}", x(i)))
                        cy=(format!("{:.1}", y(*v))) r="3" fill=(colour) {
                        title { (label) ": " (v) " in " (intervals[i].start) }
                    }
                }
            }
        }
        (legend(
            candidates,
            "a line per address: answers holding it per interval; grey: failed or unanswered queries",
        ))
    }
}
