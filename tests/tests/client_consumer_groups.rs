//! Consumer groups against a real broker: fan-out to independent groups, sharing
//! within a group, incremental rebalancing, and a member that dies.

mod consumer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use consumer_support::{
    assert_no_overlap, consumer_config, create_topic, produce_range, producer, start_broker,
    wait_until, Journal, Member,
};
use rill_client::TopicPartition;
use tokio::time::Instant;

/// Every value in `0..count` exactly once.
fn assert_exactly_once(journal: &Journal, count: u64, what: &str) {
    let got = journal.got.lock().expect("lock");
    let mut seen = vec![0u32; count as usize];
    for g in got.iter() {
        seen[g.value as usize] += 1;
    }
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let repeated = seen.iter().filter(|&&n| n > 1).count();
    assert_eq!(
        (missing, repeated),
        (0, 0),
        "{what}: missing / repeated records"
    );
    assert_eq!(got.len() as u64, count, "{what}: records received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_groups_each_receive_every_record_while_the_producer_never_waits() {
    const COUNT: u64 = 100_000;
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "purchases", 6).await;
    let started = Instant::now();
    let groups = ["payment", "inventory", "analytics", "dispatch"];
    let journals: Vec<Arc<Journal>> = groups
        .iter()
        .map(|_| Arc::new(Journal::default()))
        .collect();
    // Three groups consume while the shop produces; dispatch is down until the shop
    // is done, which must not hold the shop up.
    let mut members = Vec::new();
    for (g, group) in groups.iter().enumerate().take(3) {
        for id in 0..2 {
            let config = consumer_config(&format!("{group}-{id}"));
            let m = Member::spawn(
                &addr,
                group,
                "purchases",
                id,
                config,
                journals[g].clone(),
                Duration::ZERO,
            )
            .await;
            members.push((g, m));
        }
    }
    let shop = producer(&addr).await;
    produce_range(&shop, "purchases", 0, COUNT).await;
    let produced_in = started.elapsed();
    let behind: Vec<usize> = journals[..3].iter().map(|j| j.received()).collect();
    for id in 0..2 {
        let config = consumer_config(&format!("dispatch-{id}"));
        let m = Member::spawn(
            &addr,
            "dispatch",
            "purchases",
            id,
            config,
            journals[3].clone(),
            Duration::ZERO,
        )
        .await;
        members.push((3, m));
    }
    for (g, journal) in journals.iter().enumerate() {
        wait_until(groups[g], Duration::from_secs(40), || {
            journal.received() as u64 >= COUNT
        })
        .await;
    }
    let consumed_in = started.elapsed();
    for (_, m) in members {
        m.close().await;
    }
    for (g, journal) in journals.iter().enumerate() {
        assert_exactly_once(journal, COUNT, groups[g]);
        assert_no_overlap(journal);
    }
    println!(
        "fan-out: {COUNT} records produced in {produced_in:?} (consumers had {behind:?} then); \
         4 groups x 2 members had all of them after {consumed_in:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_twelve_partitions_each_record_once() {
    const COUNT: u64 = 12_000;
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "orders", 12).await;
    let journal = Arc::new(Journal::default());
    let mut members = Vec::new();
    for id in 0..3 {
        let config = consumer_config(&format!("share-{id}"));
        members.push(
            Member::spawn(
                &addr,
                "share",
                "orders",
                id,
                config,
                journal.clone(),
                Duration::ZERO,
            )
            .await,
        );
    }
    wait_until("a 4/4/4 assignment", Duration::from_secs(10), || {
        (0..3).all(|m| journal.assignment(m).len() == 4)
    })
    .await;
    let owners: Vec<BTreeSet<TopicPartition>> = (0..3).map(|m| journal.assignment(m)).collect();
    let all: BTreeSet<TopicPartition> = owners.iter().flatten().cloned().collect();
    assert_eq!(
        all.len(),
        12,
        "every partition owned, none twice: {owners:?}"
    );
    let shop = producer(&addr).await;
    produce_range(&shop, "orders", 0, COUNT).await;
    wait_until("all records", Duration::from_secs(20), || {
        journal.received() as u64 >= COUNT
    })
    .await;
    for m in members {
        m.close().await;
    }
    assert_exactly_once(&journal, COUNT, "share");
    let got = journal.got.lock().expect("lock");
    let mut readers: BTreeMap<i32, BTreeSet<usize>> = BTreeMap::new();
    for g in got.iter() {
        readers.entry(g.partition).or_default().insert(g.member);
    }
    assert_eq!(readers.len(), 12);
    for (partition, members) in &readers {
        assert_eq!(
            members.len(),
            1,
            "partition {partition} was read by {members:?}"
        );
        let owner = owners
            .iter()
            .position(|o| o.contains(&TopicPartition::new("orders", *partition)));
        assert_eq!(
            owner,
            members.iter().next().copied(),
            "partition {partition}"
        );
    }
    println!("sharing: {COUNT} records over 12 partitions, 3 members with 4 partitions each, each record once");
}

/// Produces round-robin records from `first` on until `stop` is set, a few every
/// couple of milliseconds; returns how many it produced.
fn steady_producer(
    addr: String,
    topic: &'static str,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let shop = producer(&addr).await;
        let mut next = 0;
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            produce_range(&shop, topic, next, 12).await;
            next += 12;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        next
    })
}

/// Each member's partitions now.
fn owners(journal: &Journal, members: &[usize]) -> BTreeSet<(usize, i32)> {
    members
        .iter()
        .flat_map(|&m| {
            journal
                .assignment(m)
                .into_iter()
                .map(move |tp| (m, tp.partition))
        })
        .collect()
}

/// For each `(member, partition)` in `kept`, the longest pause between that
/// member's records of that partition in `[from, to]` (edges included).
fn longest_pauses(
    journal: &Journal,
    kept: &BTreeSet<(usize, i32)>,
    from: Instant,
    to: Instant,
) -> Vec<(usize, i32, Duration)> {
    let got = journal.got.lock().expect("lock");
    let mut times: BTreeMap<(usize, i32), Vec<Instant>> =
        kept.iter().map(|k| (*k, Vec::new())).collect();
    for g in got.iter().filter(|g| g.at >= from && g.at <= to) {
        if let Some(t) = times.get_mut(&(g.member, g.partition)) {
            t.push(g.at);
        }
    }
    times
        .into_iter()
        .map(|((member, partition), mut t)| {
            t.sort();
            let mut edges = vec![from];
            edges.extend(t);
            edges.push(to);
            let longest = edges
                .windows(2)
                .map(|w| w[1].duration_since(w[0]))
                .max()
                .unwrap_or_default();
            (member, partition, longest)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_and_a_leave_move_only_some_partitions_and_never_double_up() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "clicks", 12).await;
    let journal = Arc::new(Journal::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shop = steady_producer(addr.clone(), "clicks", stop.clone());
    let spawn = |id: usize| {
        let (addr, journal) = (addr.clone(), journal.clone());
        async move {
            let config = consumer_config(&format!("rebal-{id}"));
            Member::spawn(
                &addr,
                "rebal",
                "clicks",
                id,
                config,
                journal,
                Duration::from_millis(2),
            )
            .await
        }
    };
    let m0 = spawn(0).await;
    let m1 = spawn(1).await;
    wait_until("6/6", Duration::from_secs(10), || {
        journal.assignment(0).len() == 6 && journal.assignment(1).len() == 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = owners(&journal, &[0, 1]);
    let joined = Instant::now();
    let m2 = spawn(2).await;
    wait_until("4/4/4", Duration::from_secs(10), || {
        (0..3).all(|m| journal.assignment(m).len() == 4)
    })
    .await;
    let join_settled = joined.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept: BTreeSet<(usize, i32)> = before
        .intersection(&owners(&journal, &[0, 1, 2]))
        .copied()
        .collect();
    let join_pauses = longest_pauses(&journal, &kept, joined, Instant::now());

    let before = owners(&journal, &[1, 2]);
    let left = Instant::now();
    m0.close().await;
    wait_until("6/6 after the leave", Duration::from_secs(10), || {
        journal.assignment(1).len() == 6 && journal.assignment(2).len() == 6
    })
    .await;
    let leave_settled = left.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept: BTreeSet<(usize, i32)> = before
        .intersection(&owners(&journal, &[1, 2]))
        .copied()
        .collect();
    let leave_pauses = longest_pauses(&journal, &kept, left, Instant::now());

    stop.store(true, std::sync::atomic::Ordering::Release);
    let produced = shop.await.expect("producer");
    wait_until("all records", Duration::from_secs(20), || {
        journal.received() as u64 >= produced
    })
    .await;
    m1.close().await;
    m2.close().await;

    assert_exactly_once(&journal, produced, "rebal");
    assert_no_overlap(&journal);
    // Partitions that stayed put kept flowing: no pause near a session timeout or a
    // global barrier (records arrive every few ms; fetches wait at most 100 ms).
    for (event, pauses) in [("join", &join_pauses), ("leave", &leave_pauses)] {
        assert_eq!(pauses.len(), 8, "{event}: unmoved partitions {pauses:?}");
        for (member, partition, pause) in pauses.iter() {
            assert!(
                *pause < Duration::from_millis(1000),
                "{event}: member {member} paused {pause:?} on unmoved partition {partition}"
            );
        }
    }
    let worst = |p: &Vec<(usize, i32, Duration)>| p.iter().map(|x| x.2).max().unwrap_or_default();
    println!(
        "rebalance: {produced} records, each once; join settled in {join_settled:?} (unmoved: {} partitions, \
         longest pause {:?}), leave settled in {leave_settled:?} (unmoved: {}, longest pause {:?})",
        join_pauses.len(),
        worst(&join_pauses),
        leave_pauses.len(),
        worst(&leave_pauses)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_member_is_replaced_after_its_session_and_nothing_is_lost() {
    let broker = start_broker(1_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "payments", 6).await;
    let journal = Arc::new(Journal::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shop = steady_producer(addr.clone(), "payments", stop.clone());
    let mut members = Vec::new();
    for id in 0..3 {
        let config = consumer_config(&format!("fail-{id}"));
        members.push(
            Member::spawn(
                &addr,
                "fail",
                "payments",
                id,
                config,
                journal.clone(),
                Duration::ZERO,
            )
            .await,
        );
    }
    wait_until("2/2/2", Duration::from_secs(10), || {
        (0..3).all(|m| journal.assignment(m).len() == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let orphaned = journal.assignment(2);
    let victim = members.pop().expect("member 2");
    let killed = Instant::now();
    victim.kill().await;
    wait_until(
        "3/3 after the session timeout",
        Duration::from_secs(10),
        || journal.assignment(0).len() == 3 && journal.assignment(1).len() == 3,
    )
    .await;
    let reassigned = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    let produced = shop.await.expect("producer");
    wait_until("all records", Duration::from_secs(20), || {
        journal.distinct() as u64 >= produced
    })
    .await;
    for m in members {
        m.close().await;
    }
    let got = journal.got.lock().expect("lock");
    let mut seen = vec![0u32; produced as usize];
    for g in got.iter() {
        seen[g.value as usize] += 1;
    }
    assert_eq!(seen.iter().filter(|&&n| n == 0).count(), 0, "lost records");
    // Only the dead member's uncommitted records come again, once.
    let again: Vec<consumer_support::Got> = got
        .iter()
        .filter(|g| seen[g.value as usize] > 1 && g.member != 2)
        .cloned()
        .collect();
    for g in &again {
        assert_eq!(seen[g.value as usize], 2);
        assert!(orphaned.contains(&TopicPartition::new("payments", g.partition)));
    }
    assert!(
        reassigned >= Duration::from_millis(500),
        "moved long before the session ended: {reassigned:?}"
    );
    assert!(
        reassigned < Duration::from_secs(5),
        "moved late: {reassigned:?}"
    );
    drop(got);
    assert_no_overlap(&journal);
    println!(
        "failure: {produced} records, none lost; the dead member's 2 partitions moved {reassigned:?} after it died \
         (session 1 s); {} records it had not committed were read again",
        again.len()
    );
}
