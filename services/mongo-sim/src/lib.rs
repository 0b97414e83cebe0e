//! A deterministic MongoDB simulator, behind the MongoDB port in process and over TCP through
//! its wire front ([`wire`]): test support, and in the binary only as the sandbox MongoDB of
//! `edgebridge all --dev`.
//!
//! It models what the sync engine relies on: databases and collections with options (capped,
//! change stream pre- and post-images on or off, a `$jsonSchema` validator it enforces, unique
//! indexes), an oplog with ordered events carrying opaque resume tokens and cluster times, pre-
//! and post-images, `lsid`/`txnNumber` on transactional writes, an oplog window after which
//! resuming fails as history lost, users with limited privileges, and injected faults
//! (connections dropped mid-batch or mid-stream, slow responses, primary stepdowns). Everything
//! is deterministic under the seed: the same calls give the same results, tokens and session ids.
//!
//! The test drives it three ways: through the port (what the engine sees), through a MongoDB
//! client over the wire front (the driver adapter, or any other client), and through
//! [`Simulator`]'s own methods, standing for the DBA and the customer's other applications.

pub use edgebridge_mongo::order;
pub mod schema;

mod faults;
mod port;
mod simulator;
mod state;
mod update_ops;
mod users;
pub mod wire;
mod writes;

use bson::spec::BinarySubtype;
use bson::{Binary, Document, doc};
use edgebridge_mongo::port::SessionId;

pub use faults::Fault;
pub use port::{SimConnector, SimPort};
pub use simulator::Simulator;
pub use state::CollectionOptions;
pub use users::SimUser;
pub use wire::{WireOptions, WireServer};

/// A binary UUID as MongoDB stores session ids, for tests that build `lsid` documents.
pub fn lsid_document(id: &SessionId) -> Document {
    doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: id.0.clone() }}
}
