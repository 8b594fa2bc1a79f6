//! The target assignment of a consumer group: which member should own each
//! partition of the topics its members subscribe to.
//!
//! Each topic is balanced on its own among the members subscribed to it: with `n`
//! partitions and `m` such members, every member gets `n / m` or `n / m + 1` of
//! them. The assignment is sticky: a member keeps every partition it already had
//! unless that would break the balance, so a join or a leave moves only the
//! partitions that must move, and members that lose nothing keep consuming. The
//! result is deterministic for a given input (members are ordered by id).

use std::collections::{BTreeMap, BTreeSet};

/// A partition of a topic.
pub type TopicPartition = (String, i32);

/// One member's input to the assignor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    /// Topics the member subscribes to.
    pub subscribed: BTreeSet<String>,
    /// The member's current target (what it was given before this change).
    pub current: BTreeSet<TopicPartition>,
}

/// Computes the new target assignment. `partitions` gives each existing topic's
/// partition count; subscribed topics that do not exist are ignored.
pub fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut result: BTreeMap<String, BTreeSet<TopicPartition>> = members
        .keys()
        .map(|id| (id.clone(), BTreeSet::new()))
        .collect();
    let topics: BTreeSet<&String> = members.values().flat_map(|m| &m.subscribed).collect();
    for topic in topics {
        let Some(&count) = partitions.get(topic) else {
            continue;
        };
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, m)| m.subscribed.contains(topic))
            .map(|(id, _)| id)
            .collect();
        for (id, owned) in assign_topic(topic, count, &subscribers, members) {
            if let Some(set) = result.get_mut(id) {
                set.extend(owned.into_iter().map(|p| (topic.clone(), p)));
            }
        }
    }
    result
}

/// Balances one topic's partitions among its subscribers, keeping what each has.
fn assign_topic<'a>(
    topic: &str,
    count: i32,
    subscribers: &[&'a String],
    members: &BTreeMap<String, MemberSpec>,
) -> Vec<(&'a String, Vec<i32>)> {
    if subscribers.is_empty() || count <= 0 {
        return Vec::new();
    }
    let m = subscribers.len();
    let n = usize::try_from(count).unwrap_or(0);
    let (floor, extra) = (n / m, n % m);
    // What each subscriber had of this topic, still valid.
    let mut kept: Vec<(&String, Vec<i32>)> = subscribers
        .iter()
        .map(|id| {
            let had = members.get(*id).map_or_else(Vec::new, |spec| {
                spec.current
                    .iter()
                    .filter(|(t, p)| t == topic && (0..count).contains(p))
                    .map(|(_, p)| *p)
                    .collect()
            });
            (*id, had)
        })
        .collect();
    // Members that already hold the most get the `extra` larger quotas, so the
    // fewest partitions move. Ties go by member id (kept is ordered by id).
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| kept[b].1.len().cmp(&kept[a].1.len()).then(a.cmp(&b)));
    let mut quota = vec![floor; m];
    for &i in order.iter().take(extra) {
        quota[i] += 1;
    }
    let mut taken = BTreeSet::new();
    for (i, (_, had)) in kept.iter_mut().enumerate() {
        had.retain(|p| taken.insert(*p));
        had.truncate(quota[i]);
    }
    let owned: BTreeSet<i32> = kept
        .iter()
        .flat_map(|(_, had)| had.iter().copied())
        .collect();
    let mut free = (0..count).filter(|p| !owned.contains(p));
    for (i, (_, had)) in kept.iter_mut().enumerate() {
        while had.len() < quota[i] {
            match free.next() {
                Some(p) => had.push(p),
                None => break,
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(topics: &[&str], current: &[(&str, i32)]) -> MemberSpec {
        MemberSpec {
            subscribed: topics.iter().map(|t| t.to_string()).collect(),
            current: current.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
        }
    }

    fn counts(a: &BTreeMap<String, BTreeSet<TopicPartition>>) -> Vec<usize> {
        a.values().map(BTreeSet::len).collect()
    }

    /// Every partition has exactly one owner.
    fn check_exact_cover(a: &BTreeMap<String, BTreeSet<TopicPartition>>, topic: &str, n: i32) {
        let mut all: Vec<i32> = a
            .values()
            .flat_map(|s| s.iter().filter(|(t, _)| t == topic).map(|(_, p)| *p))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn three_members_share_twelve_partitions_evenly() {
        let members: BTreeMap<String, MemberSpec> = ["a", "b", "c"]
            .iter()
            .map(|id| (id.to_string(), spec(&["t"], &[])))
            .collect();
        let parts = BTreeMap::from([("t".to_string(), 12)]);
        let a = assign(&members, &parts);
        assert_eq!(counts(&a), [4, 4, 4]);
        check_exact_cover(&a, "t", 12);
    }

    #[test]
    fn a_join_moves_only_what_balance_requires() {
        let parts = BTreeMap::from([("t".to_string(), 12)]);
        let mut members: BTreeMap<String, MemberSpec> = BTreeMap::new();
        members.insert("a".into(), spec(&["t"], &[]));
        members.insert("b".into(), spec(&["t"], &[]));
        let before = assign(&members, &parts);
        for (id, set) in &before {
            members.get_mut(id).expect("member").current = set.clone();
        }
        members.insert("c".into(), spec(&["t"], &[]));
        let after = assign(&members, &parts);
        assert_eq!(counts(&after), [4, 4, 4]);
        check_exact_cover(&after, "t", 12);
        for id in ["a", "b"] {
            assert!(
                after[id].is_subset(&before[id]),
                "{id} only loses partitions"
            );
        }
        // And a leave gives the leaver's partitions out without moving others.
        members.remove("c");
        for (id, set) in &after {
            if let Some(m) = members.get_mut(id) {
                m.current = set.clone();
            }
        }
        let again = assign(&members, &parts);
        check_exact_cover(&again, "t", 12);
        for id in ["a", "b"] {
            assert!(after[id].is_subset(&again[id]), "{id} keeps what it had");
        }
    }

    #[test]
    fn members_get_only_topics_they_subscribe_to() {
        let members = BTreeMap::from([
            ("a".to_string(), spec(&["x"], &[("y", 0)])),
            ("b".to_string(), spec(&["x", "y"], &[])),
            ("c".to_string(), spec(&["missing"], &[])),
        ]);
        let parts = BTreeMap::from([("x".to_string(), 4), ("y".to_string(), 2)]);
        let a = assign(&members, &parts);
        assert!(a["a"].iter().all(|(t, _)| t == "x"));
        assert_eq!(a["b"].iter().filter(|(t, _)| t == "y").count(), 2);
        assert!(a["c"].is_empty());
        check_exact_cover(&a, "x", 4);
    }

    #[test]
    fn stale_and_duplicate_claims_are_dropped() {
        let members = BTreeMap::from([
            (
                "a".to_string(),
                spec(&["t"], &[("t", 0), ("t", 1), ("t", 9)]),
            ),
            ("b".to_string(), spec(&["t"], &[("t", 0)])),
        ]);
        let parts = BTreeMap::from([("t".to_string(), 3)]);
        let a = assign(&members, &parts);
        check_exact_cover(&a, "t", 3);
        assert!(a["a"].contains(&("t".to_string(), 0)));
    }
}
