//! MongoDB's comparison order across BSON types (what an `_id` index sorts by), so scans by
//! `_id` come out in the order a real server returns them.

use std::cmp::Ordering;

use bson::Bson;

/// The position of a value's type in MongoDB's comparison order (numbers share one rank): what
/// a query's type bracketing compares.
pub fn rank(value: &Bson) -> u8 {
    match value {
        Bson::MinKey => 1,
        Bson::Null | Bson::Undefined => 2,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 3,
        Bson::String(_) | Bson::Symbol(_) => 4,
        Bson::Document(_) => 5,
        Bson::Array(_) => 6,
        Bson::Binary(_) => 7,
        Bson::ObjectId(_) => 8,
        Bson::Boolean(_) => 9,
        Bson::DateTime(_) => 10,
        Bson::Timestamp(_) => 11,
        Bson::RegularExpression(_) => 12,
        Bson::DbPointer(_) => 13,
        Bson::JavaScriptCode(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::MaxKey => 16,
    }
}

fn number(value: &Bson) -> f64 {
    match value {
        Bson::Int32(i) => f64::from(*i),
        Bson::Int64(i) => *i as f64,
        Bson::Double(f) => *f,
        Bson::Decimal128(d) => d.to_string().parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn numbers(a: &Bson, b: &Bson) -> Ordering {
    if let (Bson::Int64(x), Bson::Int64(y)) = (a, b) {
        return x.cmp(y);
    }
    let (x, y) = (number(a), number(b));
    // NaN sorts below every other number, and equals itself.
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Total order over BSON values, as MongoDB sorts them.
pub fn compare(a: &Bson, b: &Bson) -> Ordering {
    let by_rank = rank(a).cmp(&rank(b));
    if by_rank != Ordering::Equal {
        return by_rank;
    }
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => x.cmp(y),
        (Bson::Document(x), Bson::Document(y)) => {
            let mut left = x.iter();
            let mut right = y.iter();
            loop {
                match (left.next(), right.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some((kx, vx)), Some((ky, vy))) => {
                        let order = rank(vx)
                            .cmp(&rank(vy))
                            .then_with(|| kx.cmp(ky))
                            .then_with(|| compare(vx, vy));
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                }
            }
        }
        (Bson::Array(x), Bson::Array(y)) => {
            for (vx, vy) in x.iter().zip(y) {
                let order = compare(vx, vy);
                if order != Ordering::Equal {
                    return order;
                }
            }
            x.len().cmp(&y.len())
        }
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.cmp(y),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_str()
            .cmp(y.pattern.as_str())
            .then_with(|| x.options.as_str().cmp(y.options.as_str())),
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x.code.cmp(&y.code),
        (x, y) if rank(x) == 3 => numbers(x, y),
        _ => Ordering::Equal,
    }
}

/// A BSON value ordered as MongoDB orders it (equal numbers of different types are one key,
/// as they are in a unique index).
#[derive(Debug, Clone)]
pub struct Key(pub Bson);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        compare(&self.0, &other.0) == Ordering::Equal
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use bson::oid::ObjectId;

    use super::*;

    #[test]
    fn types_sort_in_mongodb_order() {
        let mut values = vec![
            Bson::MaxKey,
            Bson::Boolean(false),
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::String("a".into()),
            Bson::Double(2.5),
            Bson::Int32(1),
            Bson::Null,
            Bson::MinKey,
        ];
        values.sort_by(compare);
        assert_eq!(
            values,
            vec![
                Bson::MinKey,
                Bson::Null,
                Bson::Int32(1),
                Bson::Double(2.5),
                Bson::String("a".into()),
                Bson::ObjectId(ObjectId::from_bytes([0; 12])),
                Bson::Boolean(false),
                Bson::MaxKey,
            ]
        );
        assert_eq!(Key(Bson::Int32(1)), Key(Bson::Double(1.0)));
        assert_eq!(
            Key(Bson::Int64(i64::MAX)).cmp(&Key(Bson::Int64(i64::MAX - 1))),
            Ordering::Greater
        );
    }
}
