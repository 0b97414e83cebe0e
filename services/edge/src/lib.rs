//! The edge store's pure core: hybrid logical clocks, the CRDT document model and DQL (DESIGN §4
//! "Conflicts", §7). No I/O: the api stores these states in Postgres.

pub mod crdt;
pub mod hlc;

pub use crdt::{DocState, FieldChange, ObjectMode, Stamp};
pub use hlc::{Hlc, HlcClock};
pub mod apply;
pub mod dql;
pub mod ids;
pub mod mirror;
