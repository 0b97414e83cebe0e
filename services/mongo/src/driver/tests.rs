//! Unit tests of the driver adapter: the target guard, error classification, token and event
//! conversion, scan batches and reply parsing.

use std::net::IpAddr;
use std::sync::Arc;

use bson::{Bson, Document, RawDocumentBuf, doc};
use edgebridge_domain::connection_string::MongoUri;
use mongodb::change_stream::event::ChangeStreamEvent;
use mongodb::error::{
    BulkWriteError, Error as DriverError, ErrorKind as DriverErrorKind, InsertManyError,
    RETRYABLE_WRITE_ERROR, SYSTEM_OVERLOADED_ERROR, TRANSIENT_TRANSACTION_ERROR, WriteFailure,
};
use mongodb::options::ServerAddress;

use super::catalog::{parse_collection_info, parse_privileges};
use super::connect::{DriverConnector, Guard, split_host};
use super::errors::{apply_labels, classify};
use super::scan::{same_id, trim_scan_batch};
use super::stream::{convert_event, from_driver_token, to_driver_token};
use super::write::classify_op_error;
use crate::error::{ErrorClass, ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{
    CollectionKind, MongoConnector, OperationType, Privilege, Resource, ResumeToken, SessionId,
};

fn guard(seeds: &str) -> Arc<Guard> {
    let uri = MongoUri::parse(seeds).expect("a connection string");
    Arc::new(Guard::new(TargetPolicy::PublicOnly, &uri).expect("seeds parse"))
}

fn tcp(host: &str, port: u16) -> ServerAddress {
    ServerAddress::Tcp {
        host: host.to_owned(),
        port: Some(port),
    }
}

#[test]
fn a_member_at_a_refused_address_stops_every_operation() {
    let g = guard("mongodb://8.8.8.8:27017,db.example.com/");
    g.opened(&tcp("8.8.8.8", 27017));
    g.opened(&tcp("DB.example.com", 27017));
    g.opened(&tcp("52.1.2.3", 27017));
    assert!(g.check().is_ok());
    g.opened(&tcp("169.254.169.254", 80));
    let err = g.check().expect_err("refused");
    assert_eq!(err.kind, ErrorKind::TargetNotAllowed);
    assert!(err.message.contains("169.254.169.254:80"), "{err}");
    let ipv6 = guard("mongodb://8.8.8.8/");
    ipv6.opened(&tcp("fd00:ec2::254", 27017));
    assert!(
        ipv6.check()
            .unwrap_err()
            .message
            .contains("[fd00:ec2::254]:27017")
    );
}

#[tokio::test]
async fn a_member_name_is_resolved_and_checked() {
    let g = guard("mongodb://8.8.8.8/");
    g.opened(&tcp("localhost", 27017));
    // The lookup runs off the driver's event path; wait for its verdict.
    for _ in 0..200 {
        if g.check().is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(g.check().unwrap_err().kind, ErrorKind::TargetNotAllowed);
    let open = Arc::new(
        Guard::new(
            TargetPolicy::AllowPrivate,
            &MongoUri::parse("mongodb://h/").unwrap(),
        )
        .unwrap(),
    );
    open.opened(&tcp("127.0.0.1", 27017));
    assert!(open.check().is_ok());
}
use mongodb::error::{CommandError, WriteConcernError, WriteError};

fn command_error(code: i32, message: &str) -> DriverError {
    let e: CommandError = bson::deserialize_from_document(doc! {
        "code": code, "codeName": "X", "errmsg": message,
    })
    .expect("command error");
    DriverError::from(DriverErrorKind::Command(e))
}

fn write_error(code: i32, message: &str) -> WriteError {
    bson::deserialize_from_document(doc! { "code": code, "errmsg": message }).expect("write error")
}

#[test]
fn command_errors_are_classified_by_code() {
    let e = classify(command_error(112, "WriteConflict"));
    assert_eq!(e.kind, ErrorKind::TransientTransaction);
    assert_eq!(e.code, Some(112));
    assert_eq!(e.message, "WriteConflict");
    assert_eq!(
        classify(command_error(13, "no")).kind,
        ErrorKind::Unauthorized
    );
    assert_eq!(classify(command_error(99999, "?")).kind, ErrorKind::Other);
}

#[test]
fn write_errors_are_classified_by_code() {
    let dup = DriverError::from(DriverErrorKind::Write(WriteFailure::WriteError(
        write_error(11000, "E11000 duplicate key"),
    )));
    let e = classify(dup);
    assert_eq!(e.kind, ErrorKind::DuplicateKey);
    assert_eq!(e.class(), ErrorClass::Document);
}

#[test]
fn write_concern_error_labels_override_unknown_codes() {
    let wce: WriteConcernError = bson::deserialize_from_document(doc! {
        "code": 100, "codeName": "UnsatisfiableWriteConcern", "errmsg": "not enough data-bearing nodes",
        "errorLabels": ["RetryableWriteError"],
    })
    .expect("write concern error");
    let err = DriverError::from(DriverErrorKind::Write(WriteFailure::WriteConcernError(wce)));
    assert!(err.contains_label(RETRYABLE_WRITE_ERROR));
    let e = classify(err);
    assert_eq!(e.kind, ErrorKind::NotPrimary);
    assert_eq!(e.code, Some(100));
}

#[test]
fn insert_many_and_bulk_write_use_the_first_write_error() {
    let im: InsertManyError = bson::deserialize_from_document(doc! {
        "writeErrors": [
            { "index": 3, "code": 11000, "errmsg": "dup" },
            { "index": 1, "code": 121, "errmsg": "Document failed validation" },
        ],
    })
    .expect("insert many error");
    let e = classify(DriverError::from(DriverErrorKind::InsertMany(im)));
    assert_eq!(e.kind, ErrorKind::SchemaValidation);

    let mut bw = BulkWriteError::default();
    bw.write_errors.insert(5, write_error(11000, "dup"));
    // 17419: an update's result over 16 MiB (10334 is now the batch's size, not one document's).
    bw.write_errors.insert(2, write_error(17419, "too large"));
    let e = classify(DriverError::from(DriverErrorKind::BulkWrite(bw)));
    assert_eq!(e.kind, ErrorKind::DocumentTooLarge);
}

#[test]
fn driver_side_errors_are_classified_by_kind() {
    let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let e = classify(DriverError::from(DriverErrorKind::Io(Arc::new(io))));
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(e.is_transient());
    assert_eq!(e.code, None);

    let e = classify(DriverError::from(DriverErrorKind::SessionsNotSupported));
    assert_eq!(e.kind, ErrorKind::Unsupported);
    let e = classify(DriverError::from(DriverErrorKind::Shutdown));
    assert_eq!(e.kind, ErrorKind::Other);
}

#[test]
fn labels_apply_only_where_the_code_is_not_transient() {
    let transient = |l: &str| l == TRANSIENT_TRANSACTION_ERROR;
    let retryable = |l: &str| l == RETRYABLE_WRITE_ERROR;
    let overloaded = |l: &str| l == SYSTEM_OVERLOADED_ERROR;
    let none = |_: &str| false;

    let e = apply_labels(PortError::server(251, "NoSuchTransaction"), retryable);
    assert_eq!(e.kind, ErrorKind::TransientTransaction);
    let e = apply_labels(PortError::server(189, "stepdown"), transient);
    assert_eq!(e.kind, ErrorKind::NotPrimary);
    let e = apply_labels(PortError::server(99999, "?"), transient);
    assert_eq!(e.kind, ErrorKind::TransientTransaction);
    let e = apply_labels(PortError::server(99999, "?"), retryable);
    assert_eq!(e.kind, ErrorKind::NotPrimary);
    let e = apply_labels(PortError::server(99999, "?"), overloaded);
    assert_eq!(e.kind, ErrorKind::Throttled);
    let e = apply_labels(PortError::server(99999, "?"), none);
    assert_eq!(e.kind, ErrorKind::Other);
    assert_eq!(e.code, Some(99999));
}

#[test]
fn unencodable_documents_are_the_documents_fault() {
    let bson_error = RawDocumentBuf::try_from(&doc! { "a\0b": 1 }).expect_err("NUL in key");
    let e = classify_op_error(DriverError::from(DriverErrorKind::Bson(bson_error)));
    assert_eq!(e.kind, ErrorKind::InvalidDocument);
    assert_eq!(e.class(), ErrorClass::Document);
    // Everything else is classified as usual.
    let e = classify_op_error(command_error(11000, "dup"));
    assert_eq!(e.kind, ErrorKind::DuplicateKey);
}

#[test]
fn resume_tokens_round_trip_through_the_driver_type() {
    let ours = ResumeToken(doc! {
        "_data": "8263A1B2C3000000012B0229296E04",
        "extra": { "n": 1_i64, "b": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2, 3] } },
    });
    let driver = to_driver_token(&ours).expect("to driver");
    let back = from_driver_token(&driver).expect("from driver");
    assert_eq!(back, ours);
}

#[test]
fn change_events_convert() {
    let lsid = doc! {
        "id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] },
        "uid": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0; 32] },
    };
    let raw = RawDocumentBuf::try_from(&doc! {
        "_id": { "_data": "82ABCDEF" },
        "operationType": "update",
        "clusterTime": bson::Timestamp { time: 10, increment: 2 },
        "ns": { "db": "shop", "coll": "orders" },
        "documentKey": { "_id": 5 },
        "fullDocument": { "_id": 5, "qty": 2 },
        "fullDocumentBeforeChange": { "_id": 5, "qty": 1 },
        "lsid": lsid,
        "txnNumber": 4_i64,
        "updateDescription": { "updatedFields": { "qty": 2 }, "removedFields": [] },
    })
    .expect("raw");
    let event: ChangeStreamEvent<Document> =
        bson::deserialize_from_slice(raw.as_bytes()).expect("event");
    let event = convert_event(event).expect("convert");
    assert_eq!(event.token, ResumeToken(doc! { "_data": "82ABCDEF" }));
    assert_eq!(event.operation, OperationType::Update);
    assert_eq!(event.collection, "orders");
    assert_eq!(
        event.cluster_time,
        bson::Timestamp {
            time: 10,
            increment: 2
        }
    );
    assert_eq!(event.document_key, Some(doc! { "_id": 5 }));
    assert_eq!(
        event.full_document_before_change,
        Some(doc! { "_id": 5, "qty": 1 })
    );
    assert_eq!(event.lsid, Some(SessionId(vec![7; 16])));
    assert_eq!(event.txn_number, Some(4));
}

#[test]
fn scan_batches_drop_the_min_bound_and_extra_documents() {
    let docs = vec![doc! { "_id": 1 }, doc! { "_id": 2 }, doc! { "_id": 3 }];
    let out = trim_scan_batch(docs.clone(), Some(&Bson::Int32(1)), 2);
    assert_eq!(out, vec![doc! { "_id": 2 }, doc! { "_id": 3 }]);
    // `after` was deleted meanwhile: the first document is already past it.
    let out = trim_scan_batch(docs.clone(), Some(&Bson::Int32(0)), 2);
    assert_eq!(out, vec![doc! { "_id": 1 }, doc! { "_id": 2 }]);
    let out = trim_scan_batch(docs, None, 5);
    assert_eq!(out.len(), 3);
}

#[test]
fn ids_compare_like_the_id_index() {
    assert!(same_id(&Bson::Int32(1), &Bson::Int64(1)));
    assert!(same_id(&Bson::Int64(1), &Bson::Double(1.0)));
    assert!(same_id(&Bson::Double(f64::NAN), &Bson::Double(f64::NAN)));
    assert!(!same_id(&Bson::Int64(1), &Bson::Double(1.5)));
    assert!(!same_id(
        &Bson::Int64((1 << 53) + 1),
        &Bson::Double(9_007_199_254_740_992.0)
    ));
    assert!(!same_id(&Bson::Int32(1), &Bson::String("1".into())));
    assert!(same_id(
        &Bson::String("a".into()),
        &Bson::String("a".into())
    ));
}

#[test]
fn collection_infos_parse() {
    let info = parse_collection_info(&doc! {
        "name": "orders",
        "type": "collection",
        "options": {
            "capped": true,
            "changeStreamPreAndPostImages": { "enabled": true },
            "validator": { "$jsonSchema": { "required": ["sku"] } },
        },
        "info": { "readOnly": false },
    })
    .expect("info");
    assert_eq!(info.name, "orders");
    assert_eq!(info.kind, CollectionKind::Collection);
    assert!(info.capped);
    assert!(info.pre_and_post_images);
    assert!(info.validator.is_some());

    let view =
        parse_collection_info(&doc! { "name": "v", "type": "view", "options": {} }).expect("view");
    assert_eq!(view.kind, CollectionKind::View);
    assert!(!view.capped);
    assert!(!view.pre_and_post_images);
    assert!(view.validator.is_none());

    let off = parse_collection_info(&doc! {
        "name": "t", "type": "timeseries",
        "options": { "validator": {}, "changeStreamPreAndPostImages": { "enabled": false } },
    })
    .expect("timeseries");
    assert_eq!(off.kind, CollectionKind::Timeseries);
    assert!(!off.pre_and_post_images);
    assert!(off.validator.is_none());

    assert!(parse_collection_info(&doc! { "name": "x", "type": "somethingNew" }).is_none());
}

#[test]
fn privileges_parse() {
    let reply = doc! {
        "authInfo": {
            "authenticatedUsers": [{ "user": "app", "db": "admin" }],
            "authenticatedUserPrivileges": [
                { "resource": { "db": "shop", "collection": "" }, "actions": ["find", "insert"] },
                { "resource": { "cluster": true }, "actions": ["listDatabases"] },
                { "resource": { "anyResource": true }, "actions": ["anyAction"] },
                { "resource": { "db": "shop", "system_buckets": "" }, "actions": ["find"] },
            ],
        },
        "ok": 1,
    };
    let privileges = parse_privileges(&reply);
    assert_eq!(privileges.len(), 3);
    assert_eq!(
        privileges[0],
        Privilege {
            resource: Resource::Namespace {
                db: "shop".into(),
                collection: String::new()
            },
            actions: ["find".to_owned(), "insert".to_owned()]
                .into_iter()
                .collect(),
        }
    );
    assert_eq!(privileges[1].resource, Resource::Cluster);
    assert_eq!(privileges[2].resource, Resource::AnyResource);
    assert!(parse_privileges(&doc! { "ok": 1 }).is_empty());
}

#[test]
fn hosts_split() {
    assert_eq!(
        split_host("db.example.net").expect("plain"),
        ("db.example.net", 27017)
    );
    assert_eq!(split_host("db:27018").expect("port"), ("db", 27018));
    assert_eq!(split_host("[::1]").expect("v6"), ("::1", 27017));
    assert_eq!(split_host("[::1]:27019").expect("v6 port"), ("::1", 27019));
    assert_eq!(split_host("10.0.0.1:1").expect("v4"), ("10.0.0.1", 1));
    assert_eq!(
        split_host("%2Ftmp%2Fmongodb-27017.sock")
            .expect_err("socket")
            .kind,
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn ip_literals_resolve_without_dns() {
    let uri =
        MongoUri::parse("mongodb://u:secret@10.1.2.3:27017,[::1],10.1.2.3:27018/").expect("uri");
    let ips = DriverConnector.resolve(&uri).await.expect("resolve");
    assert_eq!(
        ips,
        vec![
            "10.1.2.3".parse::<IpAddr>().expect("v4"),
            "::1".parse().expect("v6")
        ]
    );
}
