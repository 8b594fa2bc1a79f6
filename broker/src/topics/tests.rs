//! Unit tests of the topic map: creates, the data-dir lock, close and reopen.
use super::*;
use crate::topic_dir::create_topic;
use std::path::Path;

fn file(partitions: i32, settings: TopicSettings) -> TopicFile {
    TopicFile {
        partitions,
        settings,
        replicas: Vec::new(),
    }
}

fn config_at(dir: &Path) -> BrokerConfig {
    BrokerConfig {
        data_dir: dir.to_path_buf(),
        ..BrokerConfig::default()
    }
}

#[test]
fn a_failed_create_leaves_no_directory_behind() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().join("orders");
    let settings = TopicSettings {
        segment_bytes: 0, // refused by the log when partition 0 opens
        ..TopicSettings::default()
    };
    assert!(create_topic(data.path(), &dir, "orders", file(3, settings), None).is_err());
    let left: Vec<_> = std::fs::read_dir(data.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_file_in_the_way_of_a_topic_is_left_alone() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().join("orders");
    std::fs::write(&dir, b"someone's notes").expect("write");
    let Err(err) = create_topic(
        data.path(),
        &dir,
        "orders",
        file(1, TopicSettings::default()),
        None,
    ) else {
        panic!("created a topic over a file");
    };
    assert!(err.to_string().contains("in the way"), "{err}");
    assert_eq!(std::fs::read(&dir).expect("read"), b"someone's notes");
    let entries: Vec<_> = std::fs::read_dir(data.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["orders"], "nothing renamed or added");
}

#[tokio::test]
async fn close_all_closes_every_log_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topics = Topics::open(&config_at(dir.path())).expect("open");
    let partitions = 3 * parallel::MAX_THREADS as i32 + 1;
    topics
        .create("many", partitions, &[], false)
        .await
        .expect("create");
    topics.create("one", 1, &[], false).await.expect("create");
    topics.close_all().expect("close");
    drop(topics);
    let reopened = Topics::open(&config_at(dir.path())).expect("reopen");
    reopened.wait_for_recovery();
    let all = reopened.all_partitions();
    assert_eq!(all.len(), partitions as usize + 1);
    for partition in all {
        assert!(
            partition.log().recovery_report().clean_shutdown,
            "{}/{} was not closed cleanly",
            partition.topic(),
            partition.index()
        );
    }
}

#[test]
fn a_second_broker_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Topics::open(&config_at(dir.path())).expect("first broker");
    let Err(err) = Topics::open(&config_at(dir.path())) else {
        panic!("a second broker opened a data dir in use");
    };
    assert!(
        err.to_string().contains("in use by another running broker"),
        "{err}"
    );
    drop(first);
    Topics::open(&config_at(dir.path())).expect("the lock is released with the first broker");
}

#[test]
fn a_topic_file_with_an_impossible_partition_count_or_setting_is_refused() {
    let settings = toml::to_string(&TopicSettings::default()).expect("serialize");
    let bad_settings = settings.replace("retention_ms = ", "retention_ms = -7 #");
    for (partitions, settings, expected) in [
        (2_000_000_000, settings.as_str(), "allowed 1 ..= 1000000"),
        (0, settings.as_str(), "allowed 1 ..= 1000000"),
        (2, bad_settings.as_str(), "retention_ms"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let topic = dir.path().join("orders");
        std::fs::create_dir(&topic).expect("topic dir");
        let text = format!("partitions = {partitions}\n[settings]\n{settings}");
        std::fs::write(topic.join(TOPIC_FILE), text).expect("write");
        let Err(err) = Topics::open(&config_at(dir.path())) else {
            panic!("opened a topic with {partitions} partitions");
        };
        assert!(err.to_string().contains(expected), "{err}");
        let entries = std::fs::read_dir(&topic).expect("list").count();
        assert_eq!(entries, 1, "no partition directory was made");
    }
}
