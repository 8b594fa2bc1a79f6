//! The shop's events: `PurchasedItemOnWebsite`, as JSON.
//!
//! Each event also travels with two record headers the services use to check
//! delivery: `run` (this demo run's id, so a shared broker's older events are
//! ignored) and `event` (the event's number, 8 bytes big-endian).

use serde::Serialize;

/// The topic the shop publishes to.
pub const TOPIC: &str = "purchases";
/// The services, each its own consumer group receiving every event.
pub const SERVICES: [&str; 4] = ["payment", "inventory", "analytics", "dispatch"];

/// One purchase on the website.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchasedItemOnWebsite {
    /// Always "PurchasedItemOnWebsite".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The item bought.
    pub item_id: String,
    /// When, RFC 3339 in UTC.
    pub date: String,
    /// Who bought it (also the record key, so a user's purchases stay in order).
    pub user_id: String,
    /// Price in the shop's currency.
    pub price: f64,
    /// Whether the buyer has Prime delivery.
    pub prime: bool,
    /// Delivery instructions.
    pub instructions: &'static str,
}

const INSTRUCTIONS: [&str; 4] = [
    "leave at the door",
    "ring twice",
    "hand to the neighbour",
    "",
];

impl PurchasedItemOnWebsite {
    /// The `n`th event of a run, made up deterministically from `n`.
    pub fn numbered(n: u64, now_ms: i64) -> PurchasedItemOnWebsite {
        let mix = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        PurchasedItemOnWebsite {
            kind: "PurchasedItemOnWebsite",
            item_id: format!("item-{}", mix % 5_000),
            date: rfc3339(now_ms),
            user_id: format!("user-{}", (mix >> 20) % 1_000),
            price: ((mix >> 40) % 20_000) as f64 / 100.0,
            prime: mix & 1 == 1,
            instructions: INSTRUCTIONS[(n % 4) as usize],
        }
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn events_serialize_with_the_documented_fields() {
        let json = serde_json::to_value(PurchasedItemOnWebsite::numbered(7, 0)).expect("json");
        for field in [
            "type",
            "item_id",
            "date",
            "user_id",
            "price",
            "prime",
            "instructions",
        ] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
        assert_eq!(json["type"], "PurchasedItemOnWebsite");
    }
}
