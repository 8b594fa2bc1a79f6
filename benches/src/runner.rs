//! One run from start to report: the topic, then the consumers (positioned before
//! anything is written, so they miss nothing), then the producers, then the
//! figures. With `--consume-only` the consumers read from the beginning, after the
//! topic was filled if it had to be.

use std::sync::Arc;
use std::time::Duration;

use rill_broker::FsyncSetting;
use rill_protocol::ErrorCode;
use tokio::time::Instant;

use rill_client::{Admin, ProducerConfig};

use crate::args::{BenchArgs, Workload};
use crate::clock::{now_ms, rfc3339, run_id};
use crate::consume::{self, ConsumePlan, Consumed};
use crate::error::{Error, Result};
use crate::machine::Machine;
use crate::produce::{self, ProducePlan, Produced};
use crate::progress::{Bars, Counters};
use crate::report::{rates, BenchReport, ConsumeReport, LatencyReport, ProduceReport, Settings};

/// Consumers give up when no record came for this long after the producers are
/// done (or, reading from the beginning, at all).
pub(crate) const CONSUME_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long consumers may take to be assigned and positioned before writing starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the bench against the broker at `addr` (`embedded` says whether it is in
/// this process) with flags that [`BenchArgs::validate`] accepted.
pub(crate) async fn run(
    addr: &str,
    embedded: bool,
    args: &BenchArgs,
    progress: bool,
) -> Result<BenchReport> {
    let started_at = rfc3339(now_ms());
    let run_id = run_id();
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("bench-{:08x}", run_id as u32));
    let admin = Admin::connect(addr).await?;
    let existing = match admin.describe_topic(&topic).await {
        Ok(info) => Some(info),
        Err(e) if e.code() == Some(ErrorCode::UnknownTopicOrPartition) => None,
        Err(e) => return Err(e.into()),
    };
    let fsync = args.fsync.map(fsync_name);
    let partitions = match &existing {
        Some(info) => i32::try_from(info.partitions.len()).unwrap_or(i32::MAX),
        None => {
            let configs: Vec<(&str, &str)> =
                fsync.as_deref().map(|f| ("fsync", f)).into_iter().collect();
            admin
                .create_topic(&topic, args.partitions, &configs)
                .await?;
            args.partitions
        }
    };
    let counters = Arc::new(Counters::default());
    let workload = args.workload();
    let consumers = args.consumers();
    let produce_plan = ProducePlan {
        addr: addr.to_string(),
        topic: topic.clone(),
        config: ProducerConfig::new()
            .acks(args.acks.acks())
            .batch_bytes(args.batch_bytes)
            .linger(Duration::from_millis(args.linger_ms))
            .max_in_flight(args.max_in_flight)
            .idempotence(args.idempotent())
            .compression(args.compression),
        producers: args.producers,
        workload,
        rate: args.rate,
        record_size: args.record_size,
        payload: args.payload,
        run_id,
    };
    let consume_plan = ConsumePlan {
        addr: addr.to_string(),
        topic: topic.clone(),
        consumers,
        group: args.group.clone(),
        from_beginning: args.consume_only,
        run_id: (!args.consume_only).then_some(run_id),
        idle_timeout: CONSUME_IDLE_TIMEOUT,
    };
    // Records each consumer must receive, or the group together.
    let per_consumer = |records: u64| match args.group {
        Some(_) => records,
        None => records * consumers as u64,
    };
    let produce_total = match workload {
        Workload::Count(n) => Some(n),
        Workload::Duration(_) => None,
    };

    let (produced, consumed) = if args.consume_only {
        let stored = existing
            .as_ref()
            .map_or(0, |info| info.records().max(0) as u64);
        let (produced, expected) = if stored > 0 {
            (None, stored)
        } else {
            let bars = Bars::start(progress, counters.clone(), Some(produce_total), None);
            let produced = produce::run(&produce_plan, counters.clone()).await;
            bars.finish().await;
            let produced = produced?;
            let records = produced.records;
            (Some(produced), records)
        };
        if let Some(group) = &args.group {
            fresh_group(&admin, group, &topic).await?;
        }
        let consumers = consume::start(consume_plan, counters.clone()).await?;
        let started = Instant::now();
        consumers.shared.set_target(expected);
        let bars = Bars::start(
            progress,
            counters.clone(),
            None,
            Some(Some(per_consumer(expected))),
        );
        let consumed = consumers.finish().await;
        bars.finish().await;
        (produced, Some((consumed?, per_consumer(expected), started)))
    } else {
        let mut running = None;
        if consumers > 0 {
            let mut started = consume::start(consume_plan, counters.clone()).await?;
            started
                .ready(usize::try_from(partitions).unwrap_or(0), READY_TIMEOUT)
                .await?;
            running = Some(started);
        }
        let bars = Bars::start(
            progress,
            counters.clone(),
            Some(produce_total),
            running.as_ref().map(|_| produce_total.map(per_consumer)),
        );
        let produced = produce::run(&produce_plan, counters.clone()).await;
        let produced = match produced {
            Ok(produced) => produced,
            Err(e) => {
                if let Some(running) = running {
                    running.shared.stop();
                    let _ = running.finish().await;
                }
                bars.finish().await;
                return Err(e);
            }
        };
        let consumed = match running {
            Some(running) => {
                running.shared.set_target(produced.records);
                let consumed = running.finish().await;
                Some((consumed, per_consumer(produced.records), produced.started))
            }
            None => None,
        };
        bars.finish().await;
        let consumed = match consumed {
            Some((consumed, expected, started)) => Some((consumed?, expected, started)),
            None => None,
        };
        (Some(produced), consumed)
    };

    let settings = Settings {
        mode: match (args.consume_only, consumers) {
            (true, _) => "consume-only",
            (false, 0) => "produce",
            (false, _) => "produce+consume",
        },
        broker: addr.to_string(),
        embedded_broker: embedded,
        topic,
        topic_created: existing.is_none(),
        partitions,
        producers: args.producers,
        consumers,
        group: args.group.clone(),
        record_size: args.record_size,
        payload: args.payload.name(),
        compression: args.compression.name(),
        batch_bytes: args.batch_bytes,
        max_in_flight: args.max_in_flight,
        idempotence: args.idempotent(),
        linger_ms: args.linger_ms,
        acks: args.acks.name(),
        fsync: fsync.filter(|_| existing.is_none()),
        count: produce_total,
        duration_secs: args.duration.filter(|_| args.count.is_none()),
        rate: args.rate,
    };
    Ok(BenchReport {
        started_at,
        settings,
        machine: Machine::detect(),
        produce: produced.map(|p| produce_report(p, args.record_size)),
        consume: consumed
            .map(|(c, expected, started)| consume_report(c, expected, consumers, started)),
    })
}

fn produce_report(p: Produced, record_size: usize) -> ProduceReport {
    let bytes = p.records * record_size as u64;
    let (records_per_sec, mb_per_sec) = rates(p.records, bytes, p.elapsed);
    ProduceReport {
        records: p.records,
        bytes,
        seconds: p.elapsed.as_secs_f64(),
        records_per_sec,
        mb_per_sec,
        latency: LatencyReport::from_micros(&p.latency),
    }
}

/// The consumers' figures; their time runs from `started` (when the producers
/// started, or the consumers with `--consume-only`) to the last record received.
fn consume_report(c: Consumed, expected: u64, consumers: usize, started: Instant) -> ConsumeReport {
    let elapsed = c
        .last
        .map_or(Duration::ZERO, |last| last.duration_since(started));
    let (records_per_sec, mb_per_sec) = if c.records == 0 {
        (0.0, 0.0)
    } else {
        rates(c.records, c.bytes, elapsed)
    };
    ConsumeReport {
        consumers,
        expected,
        records: c.records,
        bytes: c.bytes,
        seconds: elapsed.as_secs_f64(),
        records_per_sec,
        mb_per_sec,
        end_to_end_latency: LatencyReport::from_micros(&c.latency),
    }
}

/// Fails if `group` has committed offsets on `topic`: it would resume from them,
/// not read from the beginning.
async fn fresh_group(admin: &Admin, group: &str, topic: &str) -> Result<()> {
    let described = match admin.describe_group(group).await {
        Ok(described) => described,
        Err(e) if e.code() == Some(ErrorCode::GroupIdNotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let committed = described
        .partitions
        .iter()
        .any(|p| p.partition.topic == topic && p.committed.is_some());
    if committed {
        return Err(Error::InvalidArgument(format!(
            "group {group:?} has committed offsets on {topic:?}, so it would not read from \
             the beginning: give --consume-only a new --group name"
        )));
    }
    Ok(())
}

/// The topic-config form of an fsync setting.
fn fsync_name(setting: FsyncSetting) -> String {
    match setting {
        FsyncSetting::Always => "always".to_string(),
        FsyncSetting::Never => "never".to_string(),
        FsyncSetting::Interval { interval_ms } => interval_ms.to_string(),
    }
}
