//! The oplog's start as the in-process port answers it (`MongoPort::oplog_start`).

use super::SimPort;
use edgebridge_mongo::error::{ErrorKind, PortError};
use edgebridge_mongo::port::PortResult;
use edgebridge_mongo::port::allows;

impl SimPort {
    /// Not an operation injected faults or the recorded history count: a monitoring read
    /// beside the sync, which a test's fault meant for the sync must not meet.
    pub(super) fn oplog_start_quietly(&self) -> PortResult<Option<bson::Timestamp>> {
        let state = self.sim.lock();
        if !self.known_host || !state.reachable {
            return Err(PortError::new(ErrorKind::Network, "no reachable server"));
        }
        if !state.users.is_empty() {
            let user = state.users.iter().find(|u| {
                Some(&u.name) == self.user.as_ref() && Some(&u.password) == self.password.as_ref()
            });
            let Some(user) = user else {
                return Err(PortError::server(18, "Authentication failed."));
            };
            if !allows(&user.privileges, "find", "local", Some("oplog.rs")) {
                return Err(PortError::server(
                    13,
                    "not authorized on local to execute command requiring `find` on collection oplog.rs",
                ));
            }
        }
        Ok(state.oplog.front().map(|e| e.time))
    }
}
