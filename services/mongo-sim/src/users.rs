//! Database users and the privileges the simulator grants them.

use edgebridge_mongo::port::{Privilege, Resource};

/// A database user. With no users at all, the simulator runs without access control.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub name: String,
    pub password: String,
    pub privileges: Vec<Privilege>,
}

pub(crate) const READ_WRITE: &[&str] = &[
    "find",
    "insert",
    "update",
    "remove",
    "listCollections",
    "listIndexes",
    "createCollection",
    "createIndex",
    "dropCollection",
    "changeStream",
    "collStats",
    "dbStats",
];

pub(crate) fn privilege(resource: Resource, actions: &[&str]) -> Privilege {
    Privilege {
        resource,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    }
}

pub(crate) fn on_db(db: &str) -> Resource {
    Resource::Namespace {
        db: db.to_owned(),
        collection: String::new(),
    }
}

impl SimUser {
    /// The built-in `readWrite` role on `db`: enough to sync, not to change collection options.
    pub fn read_write(name: &str, password: &str, db: &str) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: vec![privilege(on_db(db), READ_WRITE)],
        }
    }

    /// `readWrite` plus `dbAdmin` on `db` (adds `collMod`, which `autoConfigure` needs).
    pub fn read_write_admin(name: &str, password: &str, db: &str) -> Self {
        let mut user = SimUser::read_write(name, password, db);
        user.privileges
            .push(privilege(on_db(db), &["collMod", "listDatabases"]));
        user
    }

    /// Only `find` and `changeStream` on `db`.
    pub fn read_only(name: &str, password: &str, db: &str) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: vec![privilege(
                on_db(db),
                &["find", "listCollections", "changeStream"],
            )],
        }
    }

    /// A user with exactly these actions on each named collection of `db` (as a custom role
    /// granting privileges collection by collection).
    pub fn per_collection(
        name: &str,
        password: &str,
        db: &str,
        grants: &[(&str, &[&str])],
    ) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: grants
                .iter()
                .map(|(collection, actions)| {
                    let on = Resource::Namespace {
                        db: db.to_owned(),
                        collection: (*collection).to_owned(),
                    };
                    privilege(on, actions)
                })
                .collect(),
        }
    }

    /// This user, also allowed to read the oplog (`find` on `local.oplog.rs`, as a custom
    /// role grants it): what the resume-window check needs.
    pub fn reading_oplog(mut self) -> Self {
        let oplog = Resource::Namespace {
            db: "local".to_owned(),
            collection: "oplog.rs".to_owned(),
        };
        self.privileges.push(privilege(oplog, &["find"]));
        self
    }

    /// A user with exactly these actions on `db`.
    pub fn with_actions(name: &str, password: &str, db: &str, actions: &[&str]) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: vec![privilege(on_db(db), actions)],
        }
    }
}
