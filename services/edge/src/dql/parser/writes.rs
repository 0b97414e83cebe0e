//! INSERT, UPDATE and DELETE.

use super::Parser;
use crate::dql::ParseError;
use crate::dql::ast::*;

impl Parser<'_> {
    /// The collection a write changes (system collections are read-only).
    fn target(&mut self) -> Result<String, ParseError> {
        match self.source()? {
            Source::Collection(c) => Ok(c),
            Source::System(s) => {
                self.pos -= 2;
                Err(self.unsupported(&format!(
                    "`{}` is read-only: it lists what the app holds",
                    s.name()
                )))
            }
        }
    }

    pub(super) fn insert(&mut self) -> Result<Insert, ParseError> {
        self.expect_kw("into")?;
        let collection = self.target()?;
        if !self.is_kw("documents")
            && let Some(message) = self.unsupported_insert()
        {
            return Err(self.unsupported(&message));
        }
        self.expect_kw("documents")?;
        let mut documents = Vec::new();
        loop {
            self.expect_sym("(")?;
            documents.push(self.expr()?);
            self.expect_sym(")")?;
            if !self.eat_sym(",") {
                break;
            }
        }
        let on_conflict = if self.eat_kw("on") {
            self.expect_kw("id")?;
            self.expect_kw("conflict")?;
            if self.eat_kw("fail") {
                OnConflict::Fail
            } else if self.eat_kw("do") {
                if self.eat_kw("nothing") {
                    OnConflict::DoNothing
                } else if self.eat_kw("update") {
                    OnConflict::DoUpdate
                } else {
                    return Err(self.error(&["NOTHING", "UPDATE"]));
                }
            } else {
                return Err(self.error(&["FAIL", "DO NOTHING", "DO UPDATE"]));
            }
        } else {
            OnConflict::Fail
        };
        Ok(Insert {
            collection,
            documents,
            on_conflict,
        })
    }

    pub(super) fn update(&mut self) -> Result<Update, ParseError> {
        let collection = self.target()?;
        let mut actions = Vec::new();
        loop {
            if self.eat_kw("set") {
                loop {
                    let path = self.path()?;
                    self.expect_sym("=")?;
                    actions.push(UpdateAction::Set(path, self.expr()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("unset") {
                loop {
                    actions.push(UpdateAction::Unset(self.path()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("apply") {
                loop {
                    let path = self.path()?;
                    if self.eat_kw("increment") {
                        self.expect_kw("by")?;
                        actions.push(UpdateAction::Increment(path, self.expr()?));
                    } else if self.eat_kw("restart") {
                        let value = if self.eat_kw("with") {
                            Some(self.expr()?)
                        } else {
                            None
                        };
                        actions.push(UpdateAction::Restart(path, value));
                    } else {
                        return Err(self.error(&["INCREMENT BY", "RESTART"]));
                    }
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if actions.is_empty() {
                return Err(self.error(&["SET", "UNSET", "APPLY"]));
            } else {
                break;
            }
        }
        if !self.eat_kw("where") {
            return Err(self.error(&[
                "SET",
                "UNSET",
                "APPLY",
                "WHERE (add `WHERE true` to change every document)",
            ]));
        }
        let filter = self.expr()?;
        Ok(Update {
            collection,
            actions,
            filter,
        })
    }

    pub(super) fn delete(&mut self) -> Result<Delete, ParseError> {
        self.expect_kw("from")?;
        let collection = self.target()?;
        if !self.eat_kw("where") {
            return Err(self.error(&["WHERE (add `WHERE true` to delete every document)"]));
        }
        let filter = self.expr()?;
        Ok(Delete { collection, filter })
    }
}
