//! Scan batches: the find that reads one, trimming a batch read from the `_id` index, and `_id`
//! equality as that index sees it.

use bson::{Bson, Document, doc};
use mongodb::options::{FindOptions, Hint, ReadPreference, SelectionCriteria};

/// The options of the find that reads one batch of `fetch` documents from the `_id` index,
/// from `after` (inclusive: see [`trim_scan_batch`]).
///
/// Always from the primary, whatever `readPreference` the connection string asks for: the
/// change stream picks up where the scan's snapshot ends, and a secondary lagging behind would
/// hand the scan documents older than changes the stream then never replays.
pub(super) fn scan_options(after: Option<&Bson>, fetch: u32) -> FindOptions {
    let mut options = FindOptions::builder()
        .sort(doc! { "_id": 1 })
        .hint(Hint::Keys(doc! { "_id": 1 }))
        .batch_size(fetch)
        .limit(i64::from(fetch))
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .build();
    if let Some(after) = after {
        options.min = Some(doc! { "_id": after.clone() });
    }
    options
}

/// Drops the document equal to `after` (the inclusive `min` bound) and anything past
/// `batch_size`.
pub(super) fn trim_scan_batch(
    mut docs: Vec<Document>,
    after: Option<&Bson>,
    batch_size: u32,
) -> Vec<Document> {
    if let Some(after) = after {
        let first_is_after = docs
            .first()
            .and_then(|doc| doc.get("_id"))
            .is_some_and(|id| same_id(id, after));
        if first_is_after {
            docs.remove(0);
        }
    }
    docs.truncate(usize::try_from(batch_size).unwrap_or(usize::MAX));
    docs
}

/// Whether two `_id`s are equal the way the `_id` index sees them: numbers compare by value
/// across types (`1`, `1L` and `1.0` are one key) and NaN equals NaN.
pub(super) fn same_id(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Bson::Double(d), other) | (other, Bson::Double(d)) => {
            integer(other).is_some_and(|i| integer_equals_double(i, *d))
        }
        _ => match (integer(a), integer(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        _ => None,
    }
}

/// Exact comparison: converting the integer to `f64` would round above 2^53.
fn integer_equals_double(i: i64, d: f64) -> bool {
    // 2^63 is exactly representable; every integral double in [-2^63, 2^63) fits in an i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    d.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&d) && d as i64 == i
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};
    use mongodb::options::{Hint, ReadPreference, SelectionCriteria};

    use super::scan_options;

    #[test]
    fn a_scan_reads_from_the_primary_along_the_id_index() {
        let options = scan_options(Some(&Bson::Int32(7)), 101);
        assert!(
            matches!(
                options.selection_criteria,
                Some(SelectionCriteria::ReadPreference(ReadPreference::Primary))
            ),
            "{:?}",
            options.selection_criteria
        );
        assert_eq!(options.min, Some(doc! {"_id": 7}));
        assert_eq!(options.sort, Some(doc! {"_id": 1}));
        assert!(matches!(options.hint, Some(Hint::Keys(ref k)) if *k == doc! {"_id": 1}));
        assert_eq!((options.batch_size, options.limit), (Some(101), Some(101)));
        assert_eq!(scan_options(None, 5).min, None);
    }
}
