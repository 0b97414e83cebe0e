//! The collections to sync, each on its own: it exists and is a collection, it is not capped, it
//! records pre- and post-images (or `autoConfigure` turns them on), and its ID fields have a
//! unique index (see `indexes`). A collection that fails one of these does not stop the others.

use std::time::Instant;

use super::checks::cause;
use super::indexes::id_index;
use super::recorder::Run;
use super::remedy::{REMEDY_CAPPED, REMEDY_COLLECTION, REMEDY_VIEW, remedy_images};
use super::{PreflightOptions, PreflightRequest, bounded};
use crate::port::{CollectionInfo, CollectionKind, MongoPort};

/// The per-collection checks. Returns the collections that exist and can be synced: the others
/// skip their remaining checks.
pub(super) async fn check_collections<'a>(
    port: &dyn MongoPort,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
    infos: &'a [CollectionInfo],
) -> Vec<&'a CollectionInfo> {
    let available = collection_exists(request, run, infos);
    collection_not_capped(request, run, &available);
    pre_and_post_images(port, request, options, run, &available).await;
    id_index(port, request, options, run, &available).await;
    available
}

fn collection_exists<'a>(
    request: &PreflightRequest,
    run: &mut Run,
    infos: &'a [CollectionInfo],
) -> Vec<&'a CollectionInfo> {
    let db = request.database.as_str();
    let mut available = Vec::new();
    for name in &request.collections {
        let t = Instant::now();
        match infos.iter().find(|i| &i.name == name) {
            None => run.fail(
                "collection_exists",
                Some(name),
                "collection_not_found",
                format!("Collection {name} not found in database {db}."),
                REMEDY_COLLECTION,
                t,
            ),
            Some(info) if info.kind != CollectionKind::Collection => {
                let what = if info.kind == CollectionKind::View {
                    "a view"
                } else {
                    "a time series collection"
                };
                run.fail(
                    "collection_exists",
                    Some(name),
                    "collection_not_supported",
                    format!("Collection {name} is {what}, which cannot be synced."),
                    REMEDY_VIEW,
                    t,
                );
            }
            Some(info) => {
                run.pass(
                    "collection_exists",
                    Some(name),
                    format!("Collection {name} exists."),
                    t,
                );
                available.push(info);
            }
        }
    }
    available
}

fn collection_not_capped(request: &PreflightRequest, run: &mut Run, available: &[&CollectionInfo]) {
    for name in &request.collections {
        let Some(info) = find(available, name) else {
            run.skip_unavailable("collection_not_capped", name);
            continue;
        };
        let t = Instant::now();
        if info.capped {
            run.fail(
                "collection_not_capped",
                Some(name),
                "collection_capped",
                format!("Collection {name} cannot be a capped collection."),
                REMEDY_CAPPED,
                t,
            );
        } else {
            run.pass(
                "collection_not_capped",
                Some(name),
                format!("Collection {name} is not capped."),
                t,
            );
        }
    }
}

async fn pre_and_post_images(
    port: &dyn MongoPort,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
    available: &[&CollectionInfo],
) {
    let db = request.database.as_str();
    for name in &request.collections {
        let Some(info) = find(available, name) else {
            run.skip_unavailable("pre_and_post_images", name);
            continue;
        };
        let t = Instant::now();
        if info.pre_and_post_images {
            run.pass(
                "pre_and_post_images",
                Some(name),
                format!("Collection {name} records pre- and post-images."),
                t,
            );
            continue;
        }
        if !request.auto_configure {
            run.fail(
                "pre_and_post_images",
                Some(name),
                "pre_and_post_images_disabled",
                format!("Collection {name} must be configured with changeStreamPreAndPostImages enabled."),
                remedy_images(name),
                t,
            );
            continue;
        }
        match bounded(options.step_timeout, "collMod", port.enable_pre_and_post_images(db, name)).await {
            Ok(()) => {
                run.changes.push(format!("Enabled changeStreamPreAndPostImages on collection {db}.{name}."));
                run.pass("pre_and_post_images", Some(name), format!("Collection {name} had no pre- and post-images; autoConfigure enabled them."), t);
            }
            Err(e) => run.fail(
                "pre_and_post_images",
                Some(name),
                "pre_and_post_images_disabled",
                format!("Collection {name} must be configured with changeStreamPreAndPostImages enabled, and autoConfigure could not enable them: {}.", cause(&e)),
                remedy_images(name),
                t,
            ),
        }
    }
}

/// The collection `name` among those that can be synced.
pub(super) fn find<'a>(available: &[&'a CollectionInfo], name: &str) -> Option<&'a CollectionInfo> {
    available.iter().copied().find(|i| i.name == name)
}
