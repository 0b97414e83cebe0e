//! Everything Edgebridge needs from MongoDB, behind one port, and the mapping between MongoDB
//! documents and edge documents.
//!
//! * [`port`]: the traits the engine and the preflight checks use ([`port::MongoPort`]).
//! * [`driver`]: the port on the official `mongodb` driver.
//! * [`mapping`]: IDs and types, MongoDB <-> edge, in native and Extended JSON modes.
//! * [`preflight`]: the checks run before a connector starts and on "test connection".
//! * [`policy`]: which outbound addresses a tenant's connection string may reach.

pub mod driver;
pub mod error;
pub mod filter;
pub mod mapping;
pub mod order;
pub mod policy;
pub mod port;
pub mod preflight;
mod reach;

pub use error::{ErrorClass, ErrorKind, PortError};
