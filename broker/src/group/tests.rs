//! Simulated members against the coordinator: a partition is never claimed by two
//! members at once, and members whose partitions do not move keep them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rill_protocol::ErrorCode;

use super::assignor::TopicPartition;
use super::coordinator::{Coordinator, GroupTiming, Heartbeat};

const TIMING: GroupTiming = GroupTiming {
    heartbeat_interval: Duration::from_millis(100),
    session_timeout: Duration::from_secs(1),
};

/// A well-behaved member: reconciles each assignment before its next heartbeat.
struct Sim {
    id: String,
    epoch: i32,
    owned: BTreeSet<TopicPartition>,
}

impl Sim {
    fn join(c: &Coordinator, parts: &BTreeMap<String, i32>, now: Instant) -> Sim {
        let reply = c
            .heartbeat(
                Heartbeat {
                    group_id: "g".into(),
                    member_id: String::new(),
                    member_epoch: 0,
                    client_id: Some("sim".into()),
                    subscribed: Some(BTreeSet::from(["t".to_string()])),
                    owned: None,
                },
                parts,
                now,
            )
            .expect("join");
        Sim {
            id: reply.member_id,
            epoch: reply.member_epoch,
            owned: reply.assignment.unwrap_or_default(),
        }
    }

    fn beat(&mut self, c: &Coordinator, parts: &BTreeMap<String, i32>, now: Instant) {
        let reply = c
            .heartbeat(
                Heartbeat {
                    group_id: "g".into(),
                    member_id: self.id.clone(),
                    member_epoch: self.epoch,
                    client_id: None,
                    subscribed: None,
                    owned: Some(self.owned.clone()),
                },
                parts,
                now,
            )
            .expect("heartbeat");
        self.epoch = reply.member_epoch;
        if let Some(assignment) = reply.assignment {
            self.owned = assignment;
        }
    }
}

fn no_overlap(members: &[&Sim]) {
    let mut seen = BTreeSet::new();
    for m in members {
        for p in &m.owned {
            assert!(seen.insert(p.clone()), "{p:?} owned twice");
        }
    }
}

#[test]
fn joins_and_leaves_hand_partitions_over_without_overlap() {
    let c = Coordinator::new(TIMING);
    let parts = BTreeMap::from([("t".to_string(), 12)]);
    let now = Instant::now();
    let mut a = Sim::join(&c, &parts, now);
    let mut b = Sim::join(&c, &parts, now);
    for _ in 0..4 {
        a.beat(&c, &parts, now);
        b.beat(&c, &parts, now);
        no_overlap(&[&a, &b]);
    }
    assert_eq!((a.owned.len(), b.owned.len()), (6, 6));
    let (a_before, b_before) = (a.owned.clone(), b.owned.clone());
    let mut x = Sim::join(&c, &parts, now);
    for _ in 0..4 {
        for m in [&mut a, &mut b, &mut x] {
            m.beat(&c, &parts, now);
        }
        no_overlap(&[&a, &b, &x]);
        assert!(a.owned.is_subset(&a_before) && b.owned.is_subset(&b_before));
    }
    assert_eq!((a.owned.len(), b.owned.len(), x.owned.len()), (4, 4, 4));
    // B leaves: its partitions go to the others, who keep what they had.
    let (a_mid, x_mid) = (a.owned.clone(), x.owned.clone());
    c.heartbeat(
        Heartbeat {
            group_id: "g".into(),
            member_id: b.id.clone(),
            member_epoch: -1,
            client_id: None,
            subscribed: None,
            owned: None,
        },
        &parts,
        now,
    )
    .expect("leave");
    for _ in 0..3 {
        a.beat(&c, &parts, now);
        x.beat(&c, &parts, now);
        no_overlap(&[&a, &x]);
        assert!(a_mid.is_subset(&a.owned) && x_mid.is_subset(&x.owned));
    }
    assert_eq!(a.owned.len() + x.owned.len(), 12);
}

#[test]
fn an_expired_member_is_fenced_and_its_partitions_move() {
    let c = Coordinator::new(TIMING);
    let parts = BTreeMap::from([("t".to_string(), 4)]);
    let start = Instant::now();
    let mut a = Sim::join(&c, &parts, start);
    let mut b = Sim::join(&c, &parts, start);
    for _ in 0..3 {
        a.beat(&c, &parts, start);
        b.beat(&c, &parts, start);
        no_overlap(&[&a, &b]);
    }
    assert_eq!((a.owned.len(), b.owned.len()), (2, 2));
    // B goes silent; A keeps heartbeating past B's session timeout.
    a.beat(&c, &parts, start + Duration::from_millis(600));
    assert_eq!(a.owned.len(), 2, "B's session has not expired yet");
    let later = start + Duration::from_millis(1200);
    a.beat(&c, &parts, later);
    a.beat(&c, &parts, later);
    assert_eq!(a.owned.len(), 4, "A took over B's partitions");
    let stale = c
        .check_commit("g", &b.id, b.epoch, later)
        .expect_err("fenced");
    assert_eq!(stale.code, ErrorCode::UnknownMemberId);
    assert!(c.check_commit("g", &a.id, a.epoch, later).is_ok());
    assert_eq!(
        c.check_commit("g", &a.id, a.epoch + 7, later)
            .expect_err("wrong epoch")
            .code,
        ErrorCode::FencedMemberEpoch
    );
    assert_eq!(
        c.check_commit("g", "", -1, later)
            .expect_err("group has members")
            .code,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn a_lost_response_is_sent_again() {
    let c = Coordinator::new(TIMING);
    let parts = BTreeMap::from([("t".to_string(), 4)]);
    let now = Instant::now();
    let mut a = Sim::join(&c, &parts, now);
    a.beat(&c, &parts, now);
    let mut b = Sim::join(&c, &parts, now);
    // A's next response (revoking two partitions) is lost: A keeps its old epoch.
    let lost = Sim {
        id: a.id.clone(),
        epoch: a.epoch,
        owned: a.owned.clone(),
    };
    a.beat(&c, &parts, now);
    assert_eq!(a.owned.len(), 2);
    let mut a = lost;
    a.beat(&c, &parts, now);
    assert_eq!(a.owned.len(), 2, "the revocation reaches A again");
    for _ in 0..2 {
        a.beat(&c, &parts, now);
        b.beat(&c, &parts, now);
        no_overlap(&[&a, &b]);
    }
    assert_eq!((a.owned.len(), b.owned.len()), (2, 2));
}

#[test]
fn failed_heartbeats_and_last_leaves_leave_no_group_behind() {
    let c = Coordinator::new(TIMING);
    let parts = BTreeMap::from([("t".to_string(), 2)]);
    let now = Instant::now();
    for i in 0..1_000 {
        let refused = c.heartbeat(
            Heartbeat {
                group_id: format!("ghost-{i}"),
                member_id: "nobody".into(),
                member_epoch: 3,
                client_id: None,
                subscribed: None,
                owned: None,
            },
            &parts,
            now,
        );
        assert!(refused.is_err(), "unknown member");
    }
    assert!(c.list().is_empty(), "{} groups left behind", c.list().len());

    let member = Sim::join(&c, &parts, now);
    assert_eq!(c.list().len(), 1);
    c.heartbeat(
        Heartbeat {
            group_id: "g".into(),
            member_id: member.id.clone(),
            member_epoch: -1,
            client_id: None,
            subscribed: None,
            owned: None,
        },
        &parts,
        now,
    )
    .expect("leave");
    assert!(c.list().is_empty(), "the last member left");
}
