//! Consumer groups: membership and assignment ([`coordinator`], [`assignor`]) and
//! committed offsets ([`offsets`]).

pub mod assignor;
pub mod coordinator;
pub mod offsets;
#[cfg(test)]
mod tests;
