//! Framing: reading OP_MSG and OP_QUERY requests off a socket and encoding OP_MSG and OP_REPLY
//! answers (MongoDB's wire protocol: a 16-byte little-endian header, then the op's body).

use std::io;

use bson::Document;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest message a server accepts (`maxMessageSizeBytes` in `hello`).
pub(crate) const MAX_MESSAGE_BYTES: usize = 48_000_000;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_COMPRESSED: i32 = 2012;
const OP_MSG: i32 = 2013;

/// OP_MSG flag bits.
pub(crate) const CHECKSUM_PRESENT: u32 = 1;
pub(crate) const MORE_TO_COME: u32 = 1 << 1;

/// One request as the client sent it.
#[derive(Debug)]
pub(crate) enum Request {
    /// OP_MSG: the body section, and the document sequences (`documents`, `updates`, ...).
    Msg {
        request_id: i32,
        flags: u32,
        body: Document,
        sequences: Vec<(String, Vec<Document>)>,
    },
    /// OP_QUERY on `<db>.$cmd`: what drivers and shells still send for the first `hello`.
    Query {
        request_id: i32,
        collection: String,
        query: Document,
    },
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// The next request, or `None` when the client closed the connection between messages. A
/// malformed or unsupported message is an error: the server closes the connection on it.
pub(crate) async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<Request>> {
    let mut header = [0u8; 16];
    match reader.read_exact(&mut header[..4]).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    reader.read_exact(&mut header[4..]).await?;
    let length = i32_at(&header, 0);
    let request_id = i32_at(&header, 4);
    let op_code = i32_at(&header, 12);
    let length = usize::try_from(length)
        .ok()
        .filter(|l| (16..=MAX_MESSAGE_BYTES).contains(l))
        .ok_or_else(|| invalid(format!("message length {length} out of range")))?;
    let mut body = vec![0u8; length - 16];
    reader.read_exact(&mut body).await?;
    match op_code {
        OP_MSG => parse_msg(request_id, &body).map(Some),
        OP_QUERY => parse_query(request_id, &body).map(Some),
        OP_COMPRESSED => Err(invalid("compression was not negotiated")),
        other => Err(invalid(format!("unsupported opcode {other}"))),
    }
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// One BSON document at the start of `bytes`, and how many bytes it took.
fn document(bytes: &[u8]) -> io::Result<(Document, usize)> {
    if bytes.len() < 5 {
        return Err(invalid("truncated BSON document"));
    }
    let length = usize::try_from(i32_at(bytes, 0))
        .ok()
        .filter(|l| (5..=bytes.len()).contains(l))
        .ok_or_else(|| invalid("BSON document length out of range"))?;
    let doc = Document::from_reader(&bytes[..length]).map_err(|e| invalid(e.to_string()))?;
    Ok((doc, length))
}

fn cstring(bytes: &[u8]) -> io::Result<(String, usize)> {
    let end = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| invalid("unterminated string"))?;
    let text = std::str::from_utf8(&bytes[..end]).map_err(|e| invalid(e.to_string()))?;
    Ok((text.to_owned(), end + 1))
}

fn parse_msg(request_id: i32, bytes: &[u8]) -> io::Result<Request> {
    if bytes.len() < 4 {
        return Err(invalid("truncated OP_MSG"));
    }
    let flags = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    // Unknown required bits (0-15) must make the server refuse the message.
    if flags & 0xFFFF & !(CHECKSUM_PRESENT | MORE_TO_COME) != 0 {
        return Err(invalid(format!("unsupported OP_MSG flag bits {flags:#x}")));
    }
    let mut end = bytes.len();
    if flags & CHECKSUM_PRESENT != 0 {
        end = end
            .checked_sub(4)
            .filter(|e| *e >= 4)
            .ok_or_else(|| invalid("truncated checksum"))?;
    }
    let mut at = 4;
    let mut body = None;
    let mut sequences = Vec::new();
    while at < end {
        let kind = bytes[at];
        at += 1;
        match kind {
            0 => {
                if body.is_some() {
                    return Err(invalid("OP_MSG with two body sections"));
                }
                let (doc, used) = document(&bytes[at..end])?;
                body = Some(doc);
                at += used;
            }
            1 => {
                if end - at < 4 {
                    return Err(invalid("truncated document sequence"));
                }
                let size = usize::try_from(i32_at(bytes, at))
                    .ok()
                    .filter(|s| *s >= 4 && at + s <= end)
                    .ok_or_else(|| invalid("document sequence size out of range"))?;
                let section = &bytes[at + 4..at + size];
                let (identifier, mut offset) = cstring(section)?;
                let mut docs = Vec::new();
                while offset < section.len() {
                    let (doc, used) = document(&section[offset..])?;
                    docs.push(doc);
                    offset += used;
                }
                sequences.push((identifier, docs));
                at += size;
            }
            other => return Err(invalid(format!("unknown OP_MSG section kind {other}"))),
        }
    }
    let body = body.ok_or_else(|| invalid("OP_MSG without a body section"))?;
    Ok(Request::Msg {
        request_id,
        flags,
        body,
        sequences,
    })
}

fn parse_query(request_id: i32, bytes: &[u8]) -> io::Result<Request> {
    if bytes.len() < 4 {
        return Err(invalid("truncated OP_QUERY"));
    }
    let (collection, used) = cstring(&bytes[4..])?;
    let at = 4 + used + 8; // numberToSkip, numberToReturn
    if at > bytes.len() {
        return Err(invalid("truncated OP_QUERY"));
    }
    let (mut query, _) = document(&bytes[at..])?;
    // Old shells wrap the command: {$query: {...}, $readPreference: ...}.
    if let Ok(inner) = query.get_document("$query") {
        query = inner.clone();
    }
    Ok(Request::Query {
        request_id,
        collection,
        query,
    })
}

fn header(out: &mut Vec<u8>, request_id: i32, response_to: i32, op_code: i32) {
    out.extend_from_slice(&0i32.to_le_bytes()); // length, patched at the end
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let length = i32::try_from(out.len()).unwrap_or(i32::MAX);
    out[..4].copy_from_slice(&length.to_le_bytes());
    out
}

fn encode_document(out: &mut Vec<u8>, body: &Document) {
    // A document built by the server always encodes (keys never hold NUL: they come from
    // decoded BSON or from our own literals).
    if let Err(e) = body.to_writer(&mut *out) {
        tracing::error!(error = %e, "the wire front could not encode a reply");
    }
}

/// An OP_MSG answer with one body section.
pub(crate) fn encode_msg(
    request_id: i32,
    response_to: i32,
    more_to_come: bool,
    body: &Document,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    header(&mut out, request_id, response_to, OP_MSG);
    let flags: u32 = if more_to_come { MORE_TO_COME } else { 0 };
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0);
    encode_document(&mut out, body);
    finish(out)
}

/// An OP_REPLY answer to an OP_QUERY command (one document, no cursor).
pub(crate) fn encode_reply(request_id: i32, response_to: i32, body: &Document) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    header(&mut out, request_id, response_to, OP_REPLY);
    out.extend_from_slice(&8i32.to_le_bytes()); // responseFlags: AwaitCapable
    out.extend_from_slice(&0i64.to_le_bytes()); // cursorID
    out.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
    out.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
    encode_document(&mut out, body);
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn msg_bytes(flags: u32, sections: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        header(&mut out, 7, 0, OP_MSG);
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(sections);
        finish(out)
    }

    #[tokio::test]
    async fn an_op_msg_with_a_document_sequence_reads_back() {
        let mut sections = vec![0u8];
        doc! {"insert": "c", "$db": "app"}
            .to_writer(&mut sections)
            .unwrap();
        let mut seq = Vec::new();
        seq.extend_from_slice(b"documents\0");
        doc! {"_id": 1}.to_writer(&mut seq).unwrap();
        doc! {"_id": 2}.to_writer(&mut seq).unwrap();
        sections.push(1);
        sections.extend_from_slice(&((seq.len() + 4) as i32).to_le_bytes());
        sections.extend_from_slice(&seq);
        let bytes = msg_bytes(0, &sections);
        let request = read_request(&mut bytes.as_slice()).await.unwrap().unwrap();
        let Request::Msg {
            request_id,
            body,
            sequences,
            ..
        } = request
        else {
            panic!("expected OP_MSG");
        };
        assert_eq!(request_id, 7);
        assert_eq!(body.get_str("insert").unwrap(), "c");
        assert_eq!(sequences.len(), 1);
        assert_eq!(sequences[0].0, "documents");
        assert_eq!(sequences[0].1, vec![doc! {"_id": 1}, doc! {"_id": 2}]);
    }

    #[tokio::test]
    async fn malformed_messages_are_refused() {
        // A required flag bit the server does not know.
        let mut sections = vec![0u8];
        doc! {"ping": 1}.to_writer(&mut sections).unwrap();
        let bytes = msg_bytes(1 << 5, &sections);
        assert!(read_request(&mut bytes.as_slice()).await.is_err());
        // A length beyond the maximum.
        let mut huge = Vec::new();
        header(&mut huge, 1, 0, OP_MSG);
        huge[..4].copy_from_slice(&(MAX_MESSAGE_BYTES as i32 + 1).to_le_bytes());
        assert!(read_request(&mut huge.as_slice()).await.is_err());
        // A clean close between messages is not an error.
        assert!(read_request(&mut [].as_slice()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_legacy_query_unwraps_its_command() {
        let mut body = Vec::new();
        body.extend_from_slice(&0i32.to_le_bytes());
        body.extend_from_slice(b"admin.$cmd\0");
        body.extend_from_slice(&0i32.to_le_bytes());
        body.extend_from_slice(&(-1i32).to_le_bytes());
        doc! {"$query": {"isMaster": 1}}
            .to_writer(&mut body)
            .unwrap();
        let mut out = Vec::new();
        header(&mut out, 3, 0, OP_QUERY);
        out.extend_from_slice(&body);
        let bytes = finish(out);
        let Request::Query {
            collection, query, ..
        } = read_request(&mut bytes.as_slice()).await.unwrap().unwrap()
        else {
            panic!("expected OP_QUERY");
        };
        assert_eq!(collection, "admin.$cmd");
        assert_eq!(query, doc! {"isMaster": 1});
    }
}
