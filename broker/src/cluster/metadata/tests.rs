//! Unit tests of the metadata commands: applying, refusing, encoding.
use super::*;

fn topic(name: &str) -> TopicAssignment {
    TopicAssignment {
        name: name.to_string(),
        settings: "retention_ms = 1000\n".to_string(),
        replicas: vec![vec![1, 2, 3], vec![2, 3, 1]],
    }
}

#[test]
fn create_delete_and_refusals_change_nothing() {
    let mut state = MetaState::default();
    assert_eq!(
        state.apply(&MetaCommand::CreateTopic(topic("a"))),
        MetaReply::Done
    );
    let before = state.clone();
    let again = state.apply(&MetaCommand::CreateTopic(topic("a")));
    assert!(
        matches!(again, MetaReply::Refused { ref reason } if reason.contains("already exists"))
    );
    assert_eq!(state, before);
    let missing = state.apply(&MetaCommand::DeleteTopic { name: "b".into() });
    assert!(matches!(missing, MetaReply::Refused { .. }));
    assert_eq!(state, before);
    assert_eq!(
        state.apply(&MetaCommand::DeleteTopic { name: "a".into() }),
        MetaReply::Done
    );
    assert!(state.topic("a").is_none());
}

#[test]
fn producer_id_blocks_never_overlap() {
    let mut state = MetaState::default();
    let a = state.apply(&MetaCommand::AllocateProducerIds { count: 1000 });
    let b = state.apply(&MetaCommand::AllocateProducerIds { count: 10 });
    assert_eq!(
        a,
        MetaReply::ProducerIds {
            first: 0,
            count: 1000
        }
    );
    assert_eq!(
        b,
        MetaReply::ProducerIds {
            first: 1000,
            count: 10
        }
    );
    for bad in [0, -1, MAX_PRODUCER_ID_BLOCK + 1] {
        let before = state.clone();
        let reply = state.apply(&MetaCommand::AllocateProducerIds { count: bad });
        assert!(
            matches!(reply, MetaReply::Refused { .. }),
            "{bad}: {reply:?}"
        );
        assert_eq!(state, before);
    }
}

#[test]
fn leaders_are_recorded_for_replicas_only_and_never_go_back_a_term() {
    let mut state = MetaState::default();
    state.apply(&MetaCommand::CreateTopic(topic("a")));
    let record = |leader, term| MetaCommand::RecordLeader {
        topic: "a".into(),
        partition: 0,
        leader,
        term,
    };
    assert_eq!(state.apply(&record(2, 3)), MetaReply::Done);
    for (stale, why) in [
        (record(1, 2), "newer than 2"),
        (record(9, 5), "not a replica"),
        (
            MetaCommand::RecordLeader {
                topic: "a".into(),
                partition: 7,
                leader: 1,
                term: 9,
            },
            "not a replica",
        ),
    ] {
        let before = state.clone();
        let reply = state.apply(&stale);
        assert!(
            matches!(&reply, MetaReply::Refused { reason } if reason.contains(why)),
            "{stale:?}: {reply:?}"
        );
        assert_eq!(state, before);
    }
    assert_eq!(state.apply(&record(1, 3)), MetaReply::Done);
    assert_eq!(
        state.leader("a", 0),
        Some(RecordedLeader { node: 1, term: 3 })
    );
    state.apply(&MetaCommand::DeleteTopic { name: "a".into() });
    assert_eq!(state.leader("a", 0), None);
}

#[test]
fn a_broker_registering_again_replaces_its_address() {
    let mut state = MetaState::default();
    for addr in ["a:1", "b:2"] {
        let command = MetaCommand::RegisterBroker {
            id: 3,
            addr: addr.into(),
        };
        assert_eq!(state.apply(&command), MetaReply::Done);
    }
    assert_eq!(state.brokers().get(&3).map(String::as_str), Some("b:2"));
    assert_eq!(state.brokers().len(), 1);
}

#[test]
fn commands_and_state_round_trip_and_every_prefix_fails() {
    let commands = [
        MetaCommand::CreateTopic(topic("orders")),
        MetaCommand::DeleteTopic {
            name: "orders".into(),
        },
        MetaCommand::AllocateProducerIds { count: 7 },
        MetaCommand::RegisterBroker {
            id: 2,
            addr: "rill-2:9400".into(),
        },
        MetaCommand::CreateTopic(topic("orders")),
        MetaCommand::RecordLeader {
            topic: "orders".into(),
            partition: 1,
            leader: 3,
            term: 4,
        },
    ];
    let mut state = MetaState::default();
    for command in &commands {
        let bytes = command.encode();
        assert_eq!(&MetaCommand::decode(&bytes).expect("must succeed"), command);
        for cut in 0..bytes.len() {
            assert!(
                MetaCommand::decode(&bytes[..cut]).is_err(),
                "{command:?} cut at {cut}"
            );
        }
        state.apply(command);
    }
    for reply in [
        MetaReply::Done,
        refused("no".into()),
        MetaReply::ProducerIds { first: 9, count: 3 },
    ] {
        let bytes = reply.encode();
        assert_eq!(MetaReply::decode(&bytes).expect("decodes"), reply);
        for cut in 0..bytes.len() {
            assert!(
                MetaReply::decode(&bytes[..cut]).is_err(),
                "{reply:?} cut at {cut}"
            );
        }
    }
    state.apply(&MetaCommand::CreateTopic(topic("payments")));
    let bytes = state.encode();
    assert_eq!(MetaState::decode(&bytes).expect("must succeed"), state);
    for cut in 0..bytes.len() {
        assert!(
            MetaState::decode(&bytes[..cut]).is_err(),
            "state cut at {cut}"
        );
    }
}

#[test]
fn unknown_kinds_and_negative_nodes_are_named() {
    let err = MetaCommand::decode(&[9])
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("9 is not 1"), "{err}");
    let mut bad = topic("t");
    bad.replicas = vec![vec![u64::MAX]];
    let err = MetaCommand::decode(&MetaCommand::CreateTopic(bad).encode())
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("negative"), "{err}");
}
