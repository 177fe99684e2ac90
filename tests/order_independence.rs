//! The analysis gives the same result whatever order its items arrive in and however they are
//! grouped before merging, including when caps evict: responses to more clients, from more
//! servers, with more answer sets and aliases per name than the caps hold, spread over enough
//! time to coarsen the timeline. Discovery's top-k tables depend on the order by design (the
//! shards fix it); here they are checked to hold what they promise. This is what sharding the
//! analysis stands on (issue "Groundwork for sharded analysis").

use pcdns::analyze::{
    AddressFindings, Analysis, Watching, MAX_ALIASES_PER_NAME, MAX_ANSWER_SETS_PER_NAME,
    MAX_CLIENTS_PER_NAME, MAX_SERVERS_PER_NAME,
};
use pcdns::decode::{
    Answer, AnswerData, DnsMessage, Flags, FrameContext, Question, ResponseView, Transport,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const POOL: &str = "PersistentChatPool.contoso.com";

/// A response of `asked` (a CNAME to the pool when it is not the pool itself) holding
/// `addresses`, from `server` to `client`.
fn response(
    asked: &str,
    addresses: &[Ipv4Addr],
    ttl: u32,
    server: Ipv4Addr,
    client: Ipv4Addr,
    ts_ns: u64,
    frame_number: u64,
) -> DnsMessage {
    let flags = Flags {
        response: true,
        recursion_desired: true,
        ..Flags::default()
    };
    let question = Question {
        name: asked.into(),
        qtype: 1,
    };
    let owner: Arc<str> = POOL.into();
    let mut answers = Vec::new();
    if !asked.eq_ignore_ascii_case(POOL) {
        answers.push(Answer {
            name: asked.into(),
            rtype: 5,
            ttl,
            data: AnswerData::Cname(POOL.into()),
        });
    }
    answers.extend(addresses.iter().map(|address| Answer {
        name: Arc::clone(&owner),
        rtype: 1,
        ttl,
        data: AnswerData::A(*address),
    }));
    let mut message = DnsMessage {
        view: ResponseView::of(&flags, &question, &answers),
        frame: FrameContext {
            ts_ns,
            file_index: 0,
            frame_number,
        },
        source: (IpAddr::V4(server), 53).into(),
        destination: (IpAddr::V4(client), 40000).into(),
        transport: Transport::Udp,
        id: frame_number as u16,
        flags,
        question,
        answers,
        answers_complete: true,
        edns_udp_size: None,
        watched_question: None,
        pairing_hash: 0,
        client_hash: 0,
    };
    message.update_hashes();
    message
}

/// Responses that go beyond every per-name cap, over about an hour and a half (the timeline
/// coarsens past its bucket cap), with member sets changing so stale answers appear.
fn crowded_messages(seed: u64, discovery_names: usize) -> Vec<DnsMessage> {
    let mut rng = fastrand::Rng::with_seed(seed);
    // Twice the caps, so each of a few groups goes beyond them too.
    let clients = 2 * MAX_CLIENTS_PER_NAME;
    let servers = 2 * MAX_SERVERS_PER_NAME;
    let sets = 2 * MAX_ANSWER_SETS_PER_NAME;
    let aliases = MAX_ALIASES_PER_NAME + 10;
    let count = clients + 1500;
    let member = |n: usize| Ipv4Addr::new(10, 10, (n / 250) as u8, (n % 250) as u8 + 1);
    (0..count + discovery_names)
        .map(|index| {
            // Every client, server, set and alias at least once, the rest at random.
            let pick = |limit: usize, rng: &mut fastrand::Rng| {
                if index < limit {
                    index
                } else {
                    rng.usize(..limit)
                }
            };
            let client = pick(clients, &mut rng);
            let server = pick(servers, &mut rng);
            let set = pick(sets, &mut rng);
            let alias = pick(aliases, &mut rng);
            let asked = if index >= count {
                format!("name{}.example", index - count)
            } else if index >= aliases && rng.u8(..3) == 0 {
                POOL.to_string()
            } else if rng.u8(..200) == 0 {
                // Names are case-insensitive: another spelling of the same alias.
                format!("ALIAS{alias}.contoso.com")
            } else {
                format!("Alias{alias}.contoso.com")
            };
            let addresses = [member(set), member(set + 1), member(0)];
            let ts_ns = 1_700_000_000_000_000_000 + rng.u64(..5_400) * 1_000_000_000;
            response(
                &asked,
                &addresses[..1 + set % 3],
                rng.u32(30..300),
                Ipv4Addr::new(192, 0, (server / 250) as u8 + 2, (server % 250) as u8 + 1),
                Ipv4Addr::new(172, 16, (client / 250) as u8, (client % 250) as u8 + 1),
                ts_ns,
                index as u64 + 1,
            )
        })
        .collect()
}

fn analysis_of(messages: &[&DnsMessage], watching: &Watching) -> Analysis {
    let mut analysis = Analysis::default();
    let mut gathered = AddressFindings::default();
    for message in messages {
        analysis.ingest(message, watching, &mut gathered);
    }
    gathered.fold_into(&mut analysis.findings);
    analysis
}

/// One pass in capture order, against the same messages shuffled, dealt into `groups`
/// analyses and merged in a shuffled order.
fn assert_order_independent(
    messages: &[DnsMessage],
    watching: &Watching,
    seed: u64,
    groups: usize,
) {
    let in_order: Vec<&DnsMessage> = messages.iter().collect();
    let whole = analysis_of(&in_order, watching);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut shuffled = in_order.clone();
    rng.shuffle(&mut shuffled);
    let mut dealt: Vec<Vec<&DnsMessage>> = vec![Vec::new(); groups];
    for message in shuffled {
        dealt[rng.usize(..groups)].push(message);
    }
    let mut parts: Vec<Analysis> = dealt
        .iter()
        .map(|part| analysis_of(part, watching))
        .collect();
    rng.shuffle(&mut parts);
    let mut merged = Analysis::default();
    for part in parts {
        merged.merge(part);
    }
    // On a difference, show where the saved states (the report's) part.
    if merged != whole {
        let saved = |analysis: &Analysis| serde_json::to_string_pretty(analysis).unwrap();
        let (merged_text, whole_text) = (saved(&merged), saved(&whole));
        let line = merged_text
            .lines()
            .zip(whole_text.lines())
            .position(|(m, w)| m != w)
            .unwrap_or(0);
        let around = |text: &str| -> Vec<String> {
            text.lines()
                .skip(line.saturating_sub(8))
                .take(10)
                .map(String::from)
                .collect()
        };
        panic!(
            "merged analysis differs from one pass at line {line}:\n{:#?}\none pass:\n{:#?}",
            around(&merged_text),
            around(&whole_text)
        );
    }
    if let Some(expectations) = watching.expectations() {
        assert_eq!(
            merged.stale_answer_findings(expectations),
            whole.stale_answer_findings(expectations)
        );
    }
}

fn expectations() -> Watching {
    let toml = format!("[[pool]]\nname = \"{POOL}\"\nmembers = [\"10.10.0.1\", \"10.10.0.2\"]\n");
    Watching::Expectations(pcdns::expect::parse("t.toml", &toml).unwrap())
}

#[test]
fn the_crowd_really_goes_beyond_every_cap() {
    let messages = crowded_messages(1, 0);
    let in_order: Vec<&DnsMessage> = messages.iter().collect();
    let analysis = analysis_of(&in_order, &expectations());
    let facts = &analysis.names["persistentchatpool.contoso.com"];
    assert_eq!(facts.clients.len(), MAX_CLIENTS_PER_NAME);
    assert_eq!(facts.servers.len(), MAX_SERVERS_PER_NAME);
    assert_eq!(facts.answer_sets.len(), MAX_ANSWER_SETS_PER_NAME);
    assert_eq!(facts.aliases.len(), MAX_ALIASES_PER_NAME);
    assert!(facts.untracked_clients > 0 && facts.untracked_servers > 0);
    assert!(facts.untracked_answer_sets > 0 && facts.untracked_aliases > 0);
    assert!(
        facts.timeline.width_ns > 1_000_000_000,
        "the timeline coarsened"
    );
    // What is kept is the lowest addresses, each with all its responses.
    let kept: Vec<IpAddr> = facts.clients.keys().copied().collect();
    let mut all: Vec<IpAddr> = messages.iter().map(|m| m.destination.ip()).collect();
    all.sort();
    all.dedup();
    assert_eq!(kept, all[..MAX_CLIENTS_PER_NAME]);
    let tracked: u64 = facts.clients.iter().map(|(_, c)| c.responses).sum();
    assert_eq!(tracked + facts.untracked_clients, facts.responses);
    let stale = analysis.stale_answer_findings(expectations().expectations().unwrap());
    assert!(!stale.is_empty(), "changing sets make stale answers");
}

#[test]
fn discovery_holds_a_popular_name_that_comes_late_and_a_rare_failure() {
    // 2,000 names answered once each, one name failing once among them, then a name
    // answered 300 times; the analysis holds 64 names and 8 failing names.
    let mut messages = Vec::new();
    let server = Ipv4Addr::new(192, 0, 2, 53);
    let client = |n: usize| Ipv4Addr::new(172, 16, (n / 250) as u8, (n % 250) as u8 + 1);
    for n in 0..2_000 {
        let name = format!("rare{n}.example");
        messages.push(response(
            &name,
            &[Ipv4Addr::new(10, 0, 0, 1)],
            60,
            server,
            client(n),
            1,
            n as u64,
        ));
        if n == 1_000 {
            let mut failure = response("failing.example", &[], 60, server, client(n), 1, 5_000);
            failure.flags.rcode = 3;
            failure.view = ResponseView::of(&failure.flags, &failure.question, &failure.answers);
            messages.push(failure);
        }
    }
    for n in 0..300 {
        let address = Ipv4Addr::new(10, 0, 0, 2);
        messages.push(response(
            "late.example",
            &[address],
            60,
            server,
            client(n),
            2,
            10_000 + n as u64,
        ));
    }
    let mut analysis = Analysis::discovering(64);
    let mut gathered = AddressFindings::default();
    for message in &messages {
        analysis.ingest(message, &Watching::Discovery, &mut gathered);
    }
    let (top, clients) = &analysis.top_answered_names(1)[0];
    assert_eq!(top.display, "late.example");
    assert!(
        top.responses > 250,
        "counted since admitted: {}",
        top.responses
    );
    // 300 clients: beyond the exact count, estimated within three standard errors.
    assert!(
        clients.estimated && clients.count.abs_diff(300) < 30,
        "{clients:?}"
    );
    let failing = analysis.discovered.failing.ranked();
    assert!(
        failing
            .iter()
            .any(|(name, _)| name.as_str() == "failing.example"),
        "the rare failure is held"
    );
    assert!(analysis.discovered.names.len() <= 64);
    let held: u64 = analysis
        .discovered
        .names
        .ranked()
        .iter()
        .map(|(_, counted)| counted.value.responses)
        .sum();
    assert_eq!(
        held + analysis.traffic.untracked_name_responses,
        messages.len() as u64,
        "every response is held or counted as untracked"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, .. ProptestConfig::default() })]

    #[test]
    fn shuffled_and_regrouped_analyses_merge_to_one_pass(seed in any::<u64>()) {
        let messages = crowded_messages(seed, 0);
        for groups in [1, 2, 5] {
            assert_order_independent(&messages, &expectations(), seed, groups);
        }
    }
}
