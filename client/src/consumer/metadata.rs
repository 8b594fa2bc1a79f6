//! Topic partition counts from Metadata (§5.3), checked before the consumer
//! builds partition lists from them: a topic's partitions must be numbered
//! `0..n` with each number once, and `n` at most [`MAX_PARTITIONS`], so a faulty
//! or hostile broker cannot make the consumer allocate without bound.

use std::collections::HashMap;

use super::Consumer;
use crate::error::{Error, Result};

/// Most partitions the consumer accepts for one topic.
pub(super) const MAX_PARTITIONS: usize = 1_000_000;

impl Consumer {
    /// Partition counts of `topics` (missing topics fail with the broker's
    /// error; a partition list that is not `0..n` fails as a protocol error).
    pub(super) async fn partition_counts<'a>(
        &self,
        topics: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, i32>> {
        let names: Vec<String> = topics.map(str::to_string).collect();
        if names.is_empty() {
            return Ok(HashMap::new());
        }
        let metadata = self.routes.refresh(names).await?;
        let mut counts = HashMap::new();
        for t in metadata.topics {
            if !t.error_code.is_ok() {
                return Err(Error::broker_at(
                    t.error_code,
                    t.error_message,
                    &t.name,
                    None,
                ));
            }
            let ids: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
            let count = partition_count(&t.name, ids).map_err(|detail| Error::Protocol {
                addr: self.control.addr().to_string(),
                detail,
            })?;
            counts.insert(t.name, count);
        }
        Ok(counts)
    }
}

/// The number of partitions of `topic` given the ids the broker listed, or why
/// the list is invalid.
fn partition_count(topic: &str, mut ids: Vec<i32>) -> Result<i32, String> {
    if ids.len() > MAX_PARTITIONS {
        return Err(format!(
            "topic {topic:?} has {} partitions; at most {MAX_PARTITIONS} are accepted",
            ids.len()
        ));
    }
    ids.sort_unstable();
    for (expected, &id) in ids.iter().enumerate() {
        if i32::try_from(expected) != Ok(id) {
            return Err(format!(
                "topic {topic:?} lists partition {id} where partition {expected} was expected \
                 (partitions must be 0..{} with each once)",
                ids.len()
            ));
        }
    }
    i32::try_from(ids.len()).map_err(|_| format!("topic {topic:?} has too many partitions"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_partitions_numbered_from_zero_in_any_order() {
        assert_eq!(partition_count("t", vec![]), Ok(0));
        assert_eq!(partition_count("t", vec![2, 0, 1]), Ok(3));
    }

    #[test]
    fn rejects_gaps_repeats_negatives_and_huge_counts() {
        for bad in [
            vec![1],
            vec![0, 2],
            vec![0, 0, 1],
            vec![-1, 0],
            vec![0, i32::MAX],
        ] {
            assert!(partition_count("t", bad.clone()).is_err(), "{bad:?}");
        }
        let huge: Vec<i32> = (0..=1_000_000).collect();
        let err = partition_count("t", huge).expect_err("too many");
        assert!(err.contains("at most 1000000"), "{err}");
    }
}
