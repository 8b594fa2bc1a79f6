//! Conformance of the broker to docs/PROTOCOL.md, spoken in bytes built by hand
//! from the spec's tables (and STORAGE.md's record batch), never through the
//! workspace's codec or client: if the spec and the broker drift apart, this fails.
//!
//! One broker (and a second one for storage faults) is driven through every API
//! of §5. Each case checks the response fields the spec describes and records the
//! error code it provoked. At the end the provoked codes are compared with what
//! the spec itself lists, read out of PROTOCOL.md (`spec`): every API answered
//! with success, every code on each API's `error_code` lines provoked on that API,
//! every refusal of §3 provoked, every code of §4 provoked or excepted with the
//! spec's reason (`coverage::NOT_PROVOKED`). A code added to the spec without a
//! case, or answered by the broker without being in the spec, fails the test.

#[path = "conformance/api_admin.rs"]
mod api_admin;
#[path = "conformance/api_data.rs"]
mod api_data;
#[path = "conformance/api_groups.rs"]
mod api_groups;
#[path = "conformance/batch.rs"]
mod batch;
#[path = "conformance/cases_admin.rs"]
mod cases_admin;
#[path = "conformance/cases_faults.rs"]
mod cases_faults;
#[path = "conformance/cases_fetch.rs"]
mod cases_fetch;
#[path = "conformance/cases_groups.rs"]
mod cases_groups;
#[path = "conformance/cases_headers.rs"]
mod cases_headers;
#[path = "conformance/cases_produce.rs"]
mod cases_produce;
#[path = "conformance/cases_recovery.rs"]
mod cases_recovery;
#[path = "conformance/conn.rs"]
mod conn;
#[path = "conformance/coverage.rs"]
mod coverage;
#[path = "conformance/examples.rs"]
mod examples;
#[path = "conformance/spec.rs"]
mod spec;
#[path = "conformance/wire.rs"]
mod wire;

use rill_broker::embedded::EmbeddedBroker;

use crate::conn::Conn;
use crate::coverage::Coverage;
use crate::spec::{parse, Spec, PROTOCOL_MD};

/// The api_keys this test's requests use, by §5's names.
const KEYS: [(&str, i16); 14] = [
    ("Produce", api_data::PRODUCE),
    ("Fetch", api_data::FETCH),
    ("ListOffsets", api_data::LIST_OFFSETS),
    ("Metadata", api_admin::METADATA),
    ("OffsetCommit", api_groups::OFFSET_COMMIT),
    ("OffsetFetch", api_groups::OFFSET_FETCH),
    ("DescribeGroups", api_groups::DESCRIBE_GROUPS),
    ("ListGroups", api_groups::LIST_GROUPS),
    ("ApiVersions", api_admin::API_VERSIONS),
    ("CreateTopics", api_admin::CREATE_TOPICS),
    ("DeleteTopics", api_admin::DELETE_TOPICS),
    ("InitProducerId", api_data::INIT_PRODUCER_ID),
    ("ConsumerGroupHeartbeat", api_groups::HEARTBEAT),
    ("DescribeCluster", api_admin::DESCRIBE_CLUSTER),
];

fn check_keys(spec: &Spec) {
    for (name, key) in KEYS {
        assert_eq!(spec.key(name), key, "§5's api_key of {name}");
    }
    assert_eq!(
        spec.apis.len(),
        KEYS.len(),
        "§5's table has APIs this test lacks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_answers_as_protocol_md_says() {
    let spec = parse(PROTOCOL_MD);
    check_keys(&spec);
    let mut broker = EmbeddedBroker::builder()
        .config(EmbeddedBroker::fast_groups_config())
        .stop_timeout(rill_tests::STOP_TIMEOUT)
        .start()
        .await
        .expect("the broker starts");
    let addr = broker.addr();
    let max_frame_bytes = broker.config().limits.max_frame_bytes;
    let mut conn = Conn::open(addr).await;
    let mut cov = Coverage::default();
    let c = &mut conn;

    examples::example_cases(c).await;
    cases_admin::api_versions_cases(c, &mut cov, &spec).await;
    cases_admin::create_topics_cases(c, &mut cov).await;
    cases_admin::metadata_cases(c, &mut cov, addr).await;
    cases_admin::describe_cluster_cases(c, &mut cov, addr).await;
    cases_admin::delete_topics_cases(c, &mut cov).await;
    cases_produce::success_cases(c, &mut cov).await;
    cases_produce::error_cases(c, &mut cov).await;
    cases_produce::idempotent_cases(c, &mut cov).await;
    cases_fetch::fetch_cases(c, &mut cov, addr).await;
    cases_fetch::list_offsets_cases(c, &mut cov).await;
    cases_groups::group_cases(c, &mut cov).await;
    cases_headers::framing_cases(addr, max_frame_bytes).await;
    cases_headers::refusal_cases(c, &mut cov, &spec).await;
    cases_headers::long_name_cases(c, &mut cov, &spec).await;
    cases_headers::acks_zero_cases(c, addr, &spec).await;
    drop(conn);
    broker.stop().await.expect("the broker stops cleanly");

    cases_faults::fault_cases(&mut cov).await;
    cases_recovery::recovery_cases(&mut cov).await;

    let problems = cov.compare(&spec);
    assert!(
        problems.is_empty(),
        "the cases and docs/PROTOCOL.md disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_comparison_catches_a_code_the_spec_adds() {
    let spec = parse(PROTOCOL_MD);
    let cov = Coverage::as_listed_by(&spec);
    assert_eq!(cov.compare(&spec), Vec::<String>::new());

    let fetch_line = "error_code       int16           0, 1, 3, 5, 42, 56";
    let more = PROTOCOL_MD.replacen(fetch_line, &format!("{fetch_line}, 10"), 1);
    assert_ne!(more, PROTOCOL_MD, "test bug: Fetch's error_code line moved");
    let problems = cov.compare(&parse(&more));
    assert_eq!(
        problems,
        ["Fetch (1) lists 10 MESSAGE_TOO_LARGE but no case provoked it"]
    );

    let row = "| 110 | FENCED_MEMBER_EPOCH |";
    let new_code = PROTOCOL_MD.replacen(row, &format!("| 111 | NEW_ERROR | new |\n{row}"), 1);
    assert_ne!(new_code, PROTOCOL_MD, "test bug: §4's last row moved");
    let problems = cov.compare(&parse(&new_code));
    assert_eq!(
        problems,
        ["§4's 111 NEW_ERROR is neither provoked nor excepted"]
    );

    let fewer = PROTOCOL_MD.replacen(fetch_line, "error_code int16 0, 1, 3, 5, 56", 1);
    let problems = cov.compare(&parse(&fewer));
    assert_eq!(
        problems,
        ["Fetch (1) answered 42 INVALID_REQUEST, which its response's error_code lists do not name"]
    );
}

#[test]
fn the_spec_reader_reads_protocol_md() {
    let spec = parse(PROTOCOL_MD);
    let produce: Vec<i16> = spec
        .listed
        .iter()
        .filter(|(api, _)| *api == api_data::PRODUCE)
        .map(|(_, code)| *code)
        .collect();
    assert!(
        produce.contains(&45) && produce.contains(&59),
        "{produce:?}"
    );
    assert_eq!(spec.refusals, [17, 35, 42].into());
    assert_eq!(spec.long_name_apis.len(), 6);
    assert_eq!((spec.long_name_code, spec.name_limit), (17, 249));
    assert_eq!(
        spec.errors.get(&-1).map(|e| e.0.as_str()),
        Some("UNKNOWN_SERVER_ERROR")
    );
}
