//! The shop's events: `PurchasedItemOnWebsite`, as JSON.
//!
//! Each event also travels with two record headers the services use to check
//! delivery: `run` (this demo run's id, so a shared broker's older events are
//! ignored) and `event` (the event's number, 8 bytes big-endian).

use rill_bench::clock::rfc3339;
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

#[cfg(test)]
mod tests {
    use super::*;

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
