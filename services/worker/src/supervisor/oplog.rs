//! The cluster's oplog window (how far back a resume token can resume a change stream), read
//! where the connector's database user may read `local.oplog.rs`.

use crate::pipeline::cluster_time;
use chrono::Utc;
use edgebridge_domain::fleet::OplogWindow;
use edgebridge_mongo::error::ErrorKind;
use edgebridge_mongo::port::MongoPort;

/// Measures the window now; an unknown one says why. `None` when the read failed for a passing
/// reason (the last measure stands: a blip must not make a known window unknown). `previous` is
/// this run's last measure: a start that moved since means the oplog rolls over.
pub(super) async fn window(
    port: &dyn MongoPort,
    previous: Option<&OplogWindow>,
) -> Option<OplogWindow> {
    let measured_at = Utc::now();
    let unknown = |why: String| OplogWindow {
        measured_at,
        start: None,
        unknown_because: Some(why),
        rolling: false,
    };
    Some(match port.oplog_start().await {
        Ok(Some(ts)) => {
            let start = cluster_time(ts);
            let rolling = previous.is_some_and(|p| {
                p.rolling || p.start.is_some_and(|before| start > before)
            });
            OplogWindow {
                measured_at,
                start: Some(start),
                unknown_because: None,
                rolling,
            }
        }
        Ok(None) => unknown("the oplog holds no entry".into()),
        Err(e) if e.kind == ErrorKind::Unauthorized => unknown(
            "the connector's database user may not read local.oplog.rs (grant it `find` on local.oplog.rs, e.g. with a custom role, to know how long a stopped connector can resume)".into(),
        ),
        Err(e) if e.is_transient() => return None,
        Err(e) => unknown(format!("the oplog could not be read: {e}")),
    })
}
