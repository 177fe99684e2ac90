//! The client heatmap: clients × charted addresses, the share of a client's responses in which
//! each address came first. A large map keeps the clients that matter (those named in findings,
//! then the busiest) and sums the rest into one summary row; the column labels of a large pool
//! are turned upright and thinned so that none overlaps another (non-members always labelled).

use super::super::words::{counted, plural};
use super::super::{ClientReport, NameReport};
use super::charts::{legend, Charted};
use maud::{html, Markup};
use std::net::IpAddr;

/// Clients drawn as rows of their own; the rest share one summary row.
pub const HEATMAP_CLIENTS: usize = 20;
/// Width of the client labels on the left, in px.
const LABEL_W: f64 = 250.0;
const CELL_H: f64 = 18.0;
/// Font size of upright column labels, and the least distance between two of them, in px.
const COLUMN_FONT: f64 = 9.0;
const COLUMN_GAP: f64 = 12.0;

/// The clients drawn as rows: those named in `flagged` findings first, then the busiest, at
/// most [`HEATMAP_CLIENTS`], in report order (most responses first); and the rest.
fn chosen_clients<'a>(
    clients: &'a [ClientReport],
    flagged: &[IpAddr],
) -> (Vec<&'a ClientReport>, Vec<&'a ClientReport>) {
    let by_flag = clients
        .iter()
        .enumerate()
        .filter(|(_, c)| flagged.contains(&c.client));
    let by_traffic = clients.iter().enumerate();
    let mut shown: Vec<usize> = Vec::with_capacity(HEATMAP_CLIENTS);
    for (index, _) in by_flag.chain(by_traffic) {
        if shown.len() == HEATMAP_CLIENTS {
            break;
        }
        if !shown.contains(&index) {
            shown.push(index);
        }
    }
    shown.sort_unstable();
    let (mut rows, mut rest) = (Vec::new(), Vec::new());
    for (index, client) in clients.iter().enumerate() {
        if shown.binary_search(&index).is_ok() {
            rows.push(client);
        } else {
            rest.push(client);
        }
    }
    (rows, rest)
}

/// Which columns get a label, `cell_w` px apart: every non-member, then members, each only when
/// at least [`COLUMN_GAP`] px from every label already placed.
fn labelled_columns(candidates: &[Charted], cell_w: f64) -> Vec<bool> {
    let non_members = candidates.iter().enumerate().filter(|(_, c)| c.non_member);
    let members = candidates.iter().enumerate().filter(|(_, c)| !c.non_member);
    let mut placed: Vec<usize> = Vec::new();
    for (index, _) in non_members.chain(members) {
        if placed
            .iter()
            .all(|p| p.abs_diff(index) as f64 * cell_w >= COLUMN_GAP)
        {
            placed.push(index);
        }
    }
    let mut labelled = vec![false; candidates.len()];
    for index in placed {
        labelled[index] = true;
    }
    labelled
}

/// The heatmap of `name`'s clients over `candidates`; `flagged` are the clients its findings
/// name (their rows are kept and their labels bold).
pub(super) fn heatmap(name: &NameReport, candidates: &[Charted], flagged: &[IpAddr]) -> Markup {
    if name.clients.is_empty() {
        return html! {
            h3 { "Clients" }
            p { "No per-client detail: discovery counts a name's distinct clients only." }
        };
    }
    let (shown, rest) = chosen_clients(&name.clients, flagged);
    let rows = shown.len() + usize::from(!rest.is_empty());
    let labels: Vec<String> = candidates
        .iter()
        .map(|c| {
            if c.non_member {
                format!("{} ✗", c.address)
            } else {
                c.address.to_string()
            }
        })
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    // Few short labels: wide columns, labels across. Otherwise narrow columns (the map about
    // 900 px wide) under upright labels, thinned so that none overlaps another.
    let upright = candidates.len() > 8 || longest > 12;
    let cell_w = if upright {
        (720.0 / candidates.len().max(1) as f64).clamp(6.0, 40.0)
    } else {
        90.0
    };
    let labelled = if upright {
        labelled_columns(candidates, cell_w)
    } else {
        vec![true; candidates.len()]
    };
    let header_h = if upright {
        longest as f64 * COLUMN_FONT * 0.62 + 10.0
    } else {
        18.0
    };
    let cell_y = |row: usize| header_h + CELL_H * row as f64;
    html! {
        h3 { "Clients (share of responses with each member first)" }
        svg class="chart heatmap" data-rows=(rows) data-columns=(candidates.len())
            width=(LABEL_W + cell_w * candidates.len() as f64 + 10.0)
            height=(cell_y(rows) + 10.0) role="img" aria-label="client heatmap" {
            @for (j, charted) in candidates.iter().enumerate() {
                @if labelled[j] {
                    @if upright {
                        @let x = LABEL_W + cell_w * (j as f64 + 0.5) + COLUMN_FONT / 3.0;
                        text class="column" x=(x) y=(header_h - 4.0) font-size=(COLUMN_FONT)
                            fill=(charted.text_colour())
                            transform=(format!("rotate(-90 {x} {})", header_h - 4.0)) {
                            (labels[j])
                        }
                    } @else {
                        text class="column" x=(LABEL_W + cell_w * j as f64 + 4.0) y=(header_h - 4.0)
                            font-size="11" fill=(charted.text_colour()) {
                            (labels[j])
                        }
                    }
                }
            }
            @for (i, client) in shown.iter().enumerate() {
                @let first = |m: &IpAddr| {
                    client.addresses.iter().find(|a| a.address == *m).map_or(0, |a| a.first)
                };
                @let label = format!("{} ({})", client.client, client.role);
                @let bold = flagged.contains(&client.client);
                text x="0" y=(cell_y(i) + 13.0) font-size="11"
                    font-weight=(if bold { "bold" } else { "normal" }) {
                    (label)
                }
                (cells(candidates, cell_w, cell_y(i), &label, client.responses, &first))
            }
            @if !rest.is_empty() {
                @let responses = rest.iter().map(|c| c.responses).sum();
                @let first = |m: &IpAddr| -> u64 {
                    rest.iter()
                        .flat_map(|c| c.addresses.iter())
                        .filter(|a| a.address == *m)
                        .map(|a| a.first)
                        .sum()
                };
                @let label = format!(
                    "and {}, {}",
                    counted(rest.len() as u64, "other client", "other clients"),
                    plural(responses, "answer")
                );
                text class="summary" x="0" y=(cell_y(shown.len()) + 13.0) font-size="11" {
                    (label)
                }
                (cells(candidates, cell_w, cell_y(shown.len()), &label, responses, &first))
            }
        }
        (legend(
            candidates,
            "darker cell: the address came first more often for that client (red scale: not a \
             member); bold client: named in a finding",
        ))
    }
}

/// One row of cells at `y`: for each candidate, the share of `responses` in which it came first.
fn cells(
    candidates: &[Charted],
    cell_w: f64,
    y: f64,
    label: &str,
    responses: u64,
    first: &dyn Fn(&IpAddr) -> u64,
) -> Markup {
    html! {
        @for (j, charted) in candidates.iter().enumerate() {
            @let share = first(&charted.address) as f64 / responses.max(1) as f64;
            // Members in shades of blue, an address that is not a member in shades of red.
            @let (fade, deep) = ((255.0 * (1.0 - share)) as u8, (255.0 * (1.0 - share * 0.6)) as u8);
            @let fill = if charted.non_member {
                format!("rgb(255,{fade},{fade})")
            } else {
                format!("rgb({fade},{deep},255)")
            };
            rect class="cell" data-role=(charted.role()) x=(LABEL_W + cell_w * j as f64) y=(y)
                width=(cell_w) height=(CELL_H) fill=(fill) stroke="#fff" {
                title {
                    (label) ": " (charted.label()) " first in "
                    (format!("{:.0}", 100.0 * share)) "% of " (responses) " responses"
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(last: u8, responses: u64) -> ClientReport {
        ClientReport {
            client: IpAddr::from([10, 1, 0, last]),
            role: "stub",
            responses,
            addresses: Vec::new(),
        }
    }

    #[test]
    fn flagged_clients_stay_and_the_busiest_fill_the_rest() {
        let clients: Vec<ClientReport> = (0..100).map(|i| client(i, 1000 - u64::from(i))).collect();
        let flagged = [IpAddr::from([10, 1, 0, 90]), IpAddr::from([10, 1, 0, 99])];
        let (rows, rest) = chosen_clients(&clients, &flagged);
        assert_eq!(rows.len(), HEATMAP_CLIENTS);
        assert_eq!(rest.len(), 100 - HEATMAP_CLIENTS);
        let shown: Vec<u8> = rows
            .iter()
            .map(|c| match c.client {
                IpAddr::V4(v4) => v4.octets()[3],
                IpAddr::V6(_) => unreachable!(),
            })
            .collect();
        let busiest: Vec<u8> = (0..HEATMAP_CLIENTS as u8 - 2).collect();
        assert_eq!(shown, [&busiest[..], &[90, 99]].concat());
    }

    #[test]
    fn column_labels_keep_their_distance_and_every_non_member() {
        let mut candidates: Vec<Charted> = (1..=129)
            .map(|i: u8| Charted {
                address: IpAddr::from([10, 0, 0, i]),
                non_member: false,
            })
            .collect();
        candidates[5].non_member = true;
        let labelled = labelled_columns(&candidates, 6.0);
        assert!(labelled[5], "the non-member is labelled");
        let at: Vec<usize> = (0..labelled.len()).filter(|i| labelled[*i]).collect();
        assert!(at
            .windows(2)
            .all(|w| (w[1] - w[0]) as f64 * 6.0 >= COLUMN_GAP));
        assert!(at.len() >= 129 / 3, "{} labels", at.len());
    }
}
