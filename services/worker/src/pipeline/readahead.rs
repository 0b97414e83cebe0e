//! Reading a change stream ahead of its pipeline: a task pulls events (each with the position
//! after it) into a bounded queue while the pipeline maps and applies earlier ones, so the
//! pipeline never sits in a `getMore` that waits for news while it holds events to apply.

use edgebridge_mongo::error::PortError;
use edgebridge_mongo::port::{ChangeEvent, ChangeStream, ResumeToken};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Events read ahead at most: a bound on memory of the order of the batch being built (a
/// stream batch holds up to 4,000), and enough that the next `getMore` goes out while the
/// pipeline still has a round trip's worth of events to apply.
const AHEAD: usize = 4096;

enum Item {
    /// An event, and the stream's position after it.
    Event(Box<ChangeEvent>, Option<ResumeToken>),
    /// An empty answer (the server waited already when the stream `awaits`), and the position.
    Idle(Option<ResumeToken>),
    Failed(PortError),
}

/// What the pipeline reads next.
pub(super) enum Next {
    Event(Box<ChangeEvent>),
    Idle,
    /// Nothing arrived within the wait.
    Nothing,
}

pub(super) struct ReadAhead {
    items: mpsc::Receiver<Item>,
    reader: JoinHandle<()>,
    /// The position after everything taken from the queue.
    token: Option<ResumeToken>,
}

impl ReadAhead {
    /// Starts reading; a port whose empty answers come at once is asked again after
    /// `idle_pause`.
    pub(super) fn start(mut stream: Box<dyn ChangeStream>, idle_pause: Duration) -> Self {
        let token = stream.resume_token();
        let awaits = stream.awaits();
        let (tx, items) = mpsc::channel(AHEAD);
        let reader = tokio::spawn(async move {
            loop {
                let item = match stream.next().await {
                    // The event's own token: where to resume after it (the stream's may be a
                    // batch's later position, never needed to resume after this event).
                    Ok(Some(event)) => {
                        let token = Some(event.token.clone());
                        Item::Event(Box::new(event), token)
                    }
                    Ok(None) => Item::Idle(stream.resume_token()),
                    Err(e) => Item::Failed(e),
                };
                let failed = matches!(item, Item::Failed(_));
                let idle = matches!(item, Item::Idle(_));
                if tx.send(item).await.is_err() || failed {
                    return;
                }
                if idle && !awaits {
                    // The port answered at once: pause rather than spin.
                    tokio::time::sleep(idle_pause).await;
                }
            }
        });
        ReadAhead {
            items,
            reader,
            token,
        }
    }

    /// The next item, waiting at most `wait` (`None`: as long as it takes).
    pub(super) async fn next(&mut self, wait: Option<Duration>) -> Result<Next, PortError> {
        let item = match wait {
            None => self.items.recv().await,
            Some(wait) => match tokio::time::timeout(wait, self.items.recv()).await {
                Ok(item) => item,
                Err(_) => return Ok(Next::Nothing),
            },
        };
        match item {
            Some(Item::Event(event, token)) => {
                if token.is_some() {
                    self.token = token;
                }
                Ok(Next::Event(event))
            }
            Some(Item::Idle(token)) => {
                if token.is_some() {
                    self.token = token;
                }
                Ok(Next::Idle)
            }
            Some(Item::Failed(e)) => Err(e),
            None => Err(PortError::new(
                edgebridge_mongo::error::ErrorKind::Other,
                "the change stream's reader stopped",
            )),
        }
    }

    /// The position after everything taken so far.
    pub(super) fn resume_token(&self) -> Option<ResumeToken> {
        self.token.clone()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // The stream (and its server cursor) goes with the pipeline.
        self.reader.abort();
    }
}
