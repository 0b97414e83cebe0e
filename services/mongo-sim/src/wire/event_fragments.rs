//! Change events too large for a reply. A change stream cannot go past an event whose BSON is
//! over MongoDB's internal limit: the `aggregate` or `getMore` that reaches it fails with 10334
//! `BSONObjectTooLarge`, however often the client resumes. A pipeline ending with
//! `$changeStreamSplitLargeEvent` (MongoDB 7.0+) gets such an event as fragments instead: each
//! carries its own resume token as `_id`, `splitEvent: {fragment, of}` (1-based), and whole
//! top-level fields of the event, the smallest first, so that the first fragment holds as many
//! as fit. A field too large for a fragment on its own still cannot be sent.
//!
//! A fragment's resume token names its event and its fragment number: resuming after it gives
//! the next fragment of that event, and resuming after the last gives the events after it.

use std::collections::VecDeque;

use bson::{Bson, Document, doc};
use edgebridge_mongo::port::ResumeToken;

use super::errors::CommandError;
use super::hello::MAX_BSON_OBJECT_SIZE;
use crate::state::State;

/// The most a reply's batch of events holds (16 MiB): a `getMore` stops adding events before
/// the next would pass it, and sends at least one.
pub(crate) const MAX_BATCH_BYTES: usize = MAX_BSON_OBJECT_SIZE as usize;

/// The largest document the server materialises internally (16 MiB + 16 KiB): a change event
/// above it fails its stream.
pub(crate) const MAX_EVENT_BYTES: usize = MAX_BATCH_BYTES + 16 * 1024;

/// Events above this (16 MiB + 8 KiB) are split when the pipeline asks for it; each fragment
/// stays below it less the size of its resume token, leaving room for `postBatchResumeToken`.
const SPLIT_ABOVE_BYTES: usize = MAX_BATCH_BYTES + 8 * 1024;

/// The stage that asks for large events in fragments.
pub(crate) const SPLIT_STAGE: &str = "$changeStreamSplitLargeEvent";

/// The size of a document as BSON.
pub(crate) fn bson_size(document: &Document) -> usize {
    document.to_vec().map_or(0, |bytes| bytes.len())
}

/// Whether an event of `size` bytes is sent as fragments under the split stage.
pub(crate) fn needs_split(size: usize) -> bool {
    size > SPLIT_ABOVE_BYTES
}

/// The 10334 a stream meets at an event over [`MAX_EVENT_BYTES`], worded as the server words
/// it (`during` names the command: "Executor error during getMore").
pub(crate) fn too_large(size: usize, token: &Document, during: &str) -> CommandError {
    let data = token.get_str("_data").unwrap_or_default();
    CommandError::new(
        10334,
        format!(
            "{during} :: caused by :: BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and {MAX_EVENT_BYTES}(16MB) First element: _id: {{ _data: \"{data}\" }}"
        ),
    )
}

/// `ChangeStreamFatalError` for a resume from a fragment that cannot be found again.
pub(crate) fn cannot_resume_inside(reason: &str) -> CommandError {
    CommandError::new(280, reason)
}

/// The resume token of fragment `fragment` (0-based) of the event at oplog number `seq`: the
/// event's own token, the fragment number, and a checksum under the seed.
pub(crate) fn fragment_token(state: &State, seq: u64, fragment: usize) -> Document {
    let event = state.token(seq).0;
    let data = event.get_str("_data").unwrap_or_default();
    let check = fragment_check(state.seed, seq, fragment);
    doc! {"_data": format!("{data}{fragment:04X}{check:06X}")}
}

fn fragment_check(seed: u64, seq: u64, fragment: usize) -> u64 {
    let mixed = (seq ^ seed).wrapping_add((fragment as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
}

/// Where a resume token points: the event's oplog number, and the fragment of it when the
/// token is a fragment's.
pub(crate) fn parse_token(
    state: &State,
    token: &ResumeToken,
) -> Result<(u64, Option<usize>), CommandError> {
    let data = token.0.get_str("_data").unwrap_or_default();
    // An event's token is 24 characters; a fragment's adds 4 for its number and 6 of checksum.
    if data.len() != 34 || !data.is_ascii() {
        return Ok((state.seq_of(token)?, None));
    }
    let invalid = || CommandError::new(260, "the resume token is not valid for this deployment");
    let seq = state
        .seq_of(&ResumeToken(doc! {"_data": &data[..24]}))
        .map_err(|_| invalid())?;
    let fragment = usize::from_str_radix(&data[24..28], 16).map_err(|_| invalid())?;
    if fragment_token(state, seq, fragment) != token.0 {
        return Err(invalid());
    }
    Ok((seq, Some(fragment)))
}

/// The event at oplog number `seq` as fragments, in order.
pub(crate) fn split(
    state: &State,
    seq: u64,
    event: &Document,
) -> Result<VecDeque<Document>, CommandError> {
    let max = SPLIT_ABOVE_BYTES - bson_size(&state.token(seq).0);
    // The smallest fields first (then by name, so the split is the same every time): the
    // first fragment carries as many fields as fit.
    let mut fields: Vec<(usize, &String, &Bson)> = event
        .iter()
        .filter(|(key, _)| key.as_str() != "_id")
        .map(|(key, value)| (element_size(key, value), key, value))
        .collect();
    fields.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut fields = fields.into_iter().peekable();
    let mut fragments: VecDeque<Document> = VecDeque::new();
    while let Some((first_size, first_key, first_value)) = fields.next() {
        let mut fragment = doc! {
            "_id": fragment_token(state, seq, fragments.len()),
            "splitEvent": {"fragment": i32::try_from(fragments.len() + 1).unwrap_or(i32::MAX), "of": 0_i32},
        };
        let mut size = bson_size(&fragment) + first_size;
        fragment.insert(first_key.clone(), first_value.clone());
        while let Some((next_size, ..)) = fields.peek()
            && size + next_size <= max
        {
            size += next_size;
            if let Some((_, key, value)) = fields.next() {
                fragment.insert(key.clone(), value.clone());
            }
        }
        if size > max {
            return Err(CommandError::new(
                7_182_500,
                format!(
                    "Splitting change event failed: fragment size {size} is greater than maximum allowed fragment size {max}"
                ),
            ));
        }
        fragments.push_back(fragment);
    }
    let total = i32::try_from(fragments.len()).unwrap_or(i32::MAX);
    for fragment in &mut fragments {
        if let Ok(split_event) = fragment.get_document_mut("splitEvent") {
            split_event.insert("of", total);
        }
    }
    Ok(fragments)
}

/// The bytes one field takes in its document: type, name and terminator, and the value.
fn element_size(key: &str, value: &Bson) -> usize {
    // An empty document is 5 bytes; with the one field, the rest is the element.
    bson_size(&doc! {key: value.clone()}) - 5
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::Simulator;

    fn big(bytes: usize) -> Bson {
        Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: vec![7; bytes],
        })
    }

    #[test]
    fn an_event_splits_into_fragments_of_whole_fields_each_under_the_limit() {
        let sim = Simulator::new(1);
        let state = sim.lock();
        let event = doc! {
            "_id": state.token(5).0,
            "operationType": "update",
            "fullDocument": {"payload": big(9_000_000)},
            "fullDocumentBeforeChange": {"payload": big(9_000_001)},
            "ns": {"db": "shop", "coll": "items"},
        };
        let fragments = split(&state, 5, &event).unwrap();
        assert_eq!(fragments.len(), 2);
        let first = &fragments[0];
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["_id", "splitEvent", "operationType", "ns", "fullDocument"]
        );
        assert_eq!(
            first.get_document("splitEvent").unwrap(),
            &doc! {"fragment": 1, "of": 2}
        );
        assert_eq!(
            fragments[1].get_document("splitEvent").unwrap(),
            &doc! {"fragment": 2, "of": 2}
        );
        assert!(fragments.iter().all(|f| bson_size(f) < MAX_BATCH_BYTES));
        for (n, fragment) in fragments.iter().enumerate() {
            let token = ResumeToken(fragment.get_document("_id").unwrap().clone());
            assert_eq!(parse_token(&state, &token).unwrap(), (5, Some(n)));
        }
        assert_eq!(parse_token(&state, &state.token(5)).unwrap(), (5, None));
    }

    #[test]
    fn a_field_too_large_for_a_fragment_cannot_be_split() {
        let sim = Simulator::new(1);
        let state = sim.lock();
        let event = doc! {
            "_id": state.token(5).0,
            "fullDocument": {"payload": big(MAX_EVENT_BYTES)},
        };
        assert_eq!(split(&state, 5, &event).unwrap_err().code, 7_182_500);
    }

    #[test]
    fn a_forged_fragment_token_is_refused() {
        let sim = Simulator::new(1);
        let state = sim.lock();
        let mut data = fragment_token(&state, 5, 1)
            .get_str("_data")
            .unwrap()
            .to_owned();
        data.replace_range(24..28, "0002");
        let error = parse_token(&state, &ResumeToken(doc! {"_data": data})).unwrap_err();
        assert_eq!(error.code, 260);
    }
}
