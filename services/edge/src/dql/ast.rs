//! The DQL syntax tree.

use serde_json::Value;

/// A field path such as `address.city` or `items[0].sku`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path(pub Vec<PathSegment>);

#[derive(Debug, Clone, PartialEq)]
pub enum PathSegment {
    Field(String),
    Index(usize),
}

impl Path {
    /// The field names of a path made only of fields (what writes accept).
    pub fn fields(&self) -> Option<Vec<String>> {
        self.0
            .iter()
            .map(|s| match s {
                PathSegment::Field(f) => Some(f.clone()),
                PathSegment::Index(_) => None,
            })
            .collect()
    }

    /// The name a projected path gets in results: its last field.
    pub fn output_name(&self) -> String {
        self.0
            .iter()
            .rev()
            .find_map(|s| match s {
                PathSegment::Field(f) => Some(f.clone()),
                PathSegment::Index(_) => None,
            })
            .unwrap_or_else(|| "$1".to_owned())
    }

    pub fn is_id(&self) -> bool {
        matches!(self.0.as_slice(), [PathSegment::Field(f)] if f == "_id")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// `:name`
    Arg(String),
    Path(Path),
    Array(Vec<Expr>),
    Object(Vec<(String, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    In {
        expr: Box<Expr>,
        list: InList,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    IsMissing {
        expr: Box<Expr>,
        negated: bool,
    },
}

/// The right side of `IN`: a parenthesized list, or one expression yielding an array
/// (`x IN :ids`, `x IN [1, 2]`).
#[derive(Debug, Clone, PartialEq)]
pub enum InList {
    Items(Vec<Expr>),
    Array(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    All,
    Paths(Vec<Path>),
    /// `COUNT(*) [AS name]`: one row holding the number of documents selected, under `name`.
    Count {
        name: String,
    },
}

/// The virtual collections a SELECT can read besides the app's own (`system:<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemCollection {
    /// `system:collections`: one row per collection of the app, `{name, documents}`.
    Collections,
}

impl SystemCollection {
    pub const ALL: &[(&str, SystemCollection)] = &[("collections", SystemCollection::Collections)];

    pub fn name(self) -> &'static str {
        match self {
            SystemCollection::Collections => "system:collections",
        }
    }
}

/// What a SELECT reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Collection(String),
    System(SystemCollection),
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::Collection(c) => c,
            Source::System(s) => s.name(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub path: Path,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub from: Source,
    pub projection: Projection,
    pub filter: Option<Expr>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    Fail,
    DoNothing,
    DoUpdate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub collection: String,
    pub documents: Vec<Expr>,
    pub on_conflict: OnConflict,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAction {
    Set(Path, Expr),
    Unset(Path),
    Increment(Path, Expr),
    Restart(Path, Option<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub collection: String,
    pub actions: Vec<UpdateAction>,
    pub filter: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub collection: String,
    pub filter: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select(Select),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
}

impl Statement {
    pub fn collection(&self) -> &str {
        match self {
            Statement::Select(s) => s.from.name(),
            Statement::Insert(s) => &s.collection,
            Statement::Update(s) => &s.collection,
            Statement::Delete(s) => &s.collection,
        }
    }

    pub fn is_read_only(&self) -> bool {
        matches!(self, Statement::Select(_))
    }
}
