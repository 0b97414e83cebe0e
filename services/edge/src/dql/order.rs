//! ORDER BY within a budget: each comparison is charged, and a sort that runs out stops with the
//! error instead of finishing (a comparator cannot fail inside `slice::sort_by`).

use super::ast::OrderBy;
use super::budget::Budget;
use super::eval::{EvalError, collate_within, read_path};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// How two documents compare under an ORDER BY.
pub fn compare_documents(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    order_by: &[OrderBy],
    budget: &mut Budget,
) -> Result<Ordering, EvalError> {
    for key in order_by {
        budget.charge(2 * key.path.0.len() as u64)?;
        let ord = collate_within(read_path(a, &key.path), read_path(b, &key.path), budget)?;
        let ord = if key.descending { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(Ordering::Equal)
}

/// A stable merge sort whose comparison may fail: the first failure stops it, and `items` are
/// then left as they were.
pub fn try_sort_by<T>(
    items: &mut Vec<T>,
    mut cmp: impl FnMut(&T, &T) -> Result<Ordering, EvalError>,
) -> Result<(), EvalError> {
    let n = items.len();
    if n < 2 {
        return Ok(());
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut merged = vec![0usize; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                // The left run wins ties: stable.
                if cmp(&items[order[j]], &items[order[i]])? == Ordering::Less {
                    merged[k] = order[j];
                    j += 1;
                } else {
                    merged[k] = order[i];
                    i += 1;
                }
                k += 1;
            }
            merged[k..k + (mid - i)].copy_from_slice(&order[i..mid]);
            k += mid - i;
            merged[k..k + (end - j)].copy_from_slice(&order[j..end]);
            start = end;
        }
        std::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots[i].take()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_like_the_standard_stable_sort(items in prop::collection::vec((0u8..8, any::<u16>()), 0..200)) {
            let mut ours = items.clone();
            try_sort_by(&mut ours, |a, b| Ok(a.0.cmp(&b.0))).unwrap();
            let mut std = items;
            std.sort_by_key(|a| a.0);
            prop_assert_eq!(ours, std);
        }
    }

    #[test]
    fn a_failing_comparison_stops_the_sort_and_leaves_the_items() {
        let mut items: Vec<u32> = (0..1000).rev().collect();
        let before = items.clone();
        let mut budget = Budget::new(500);
        let result = try_sort_by(&mut items, |a, b| {
            budget.charge(1)?;
            Ok(a.cmp(b))
        });
        assert_eq!(result, Err(EvalError::BudgetExceeded { limit: 500 }));
        assert_eq!(items, before);
    }
}
