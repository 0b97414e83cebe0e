//! Writing a cycle's alert transitions: the alerts (new ones inserted, others moved on), an
//! event on each connector, and a webhook message per transition for apps with webhooks, all in
//! the cycle's transaction, in a few statements whatever their number.

use super::AlertKind;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }

    fn event(self) -> (i16, &'static str) {
        use edgebridge_domain::fleet::EventLevel;
        match self {
            State::Pending => (EventLevel::Warn.severity(), "alert_pending"),
            State::Firing => (EventLevel::Error.severity(), "alert_firing"),
            State::Resolved => (EventLevel::Info.severity(), "alert_resolved"),
        }
    }
}

/// One alert moving to `state`.
#[derive(Debug, Clone)]
pub struct Transition {
    pub alert_id: Uuid,
    /// Not stored yet (it goes pending or firing now).
    pub new: bool,
    pub state: State,
    pub message: String,
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub connector_id: Uuid,
    pub name: String,
    pub kind: AlertKind,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub for_secs: i32,
    pub window_secs: Option<i32>,
}

impl Transition {
    /// The alert as notified and as the event's context.
    fn data(&self) -> serde_json::Value {
        json!({
            "alertId": self.alert_id,
            "appId": self.app_id,
            "connectorId": self.connector_id,
            "connectorName": self.name,
            "kind": self.kind.as_str(),
            "state": self.state.as_str(),
            "value": self.value,
            "threshold": self.threshold,
            "forSecs": self.for_secs,
            "windowSecs": self.window_secs,
            "message": self.message,
        })
    }
}

pub async fn write(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    moves: &[Transition],
) -> anyhow::Result<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let (new, moved): (Vec<&Transition>, Vec<&Transition>) = moves.iter().partition(|t| t.new);
    if !new.is_empty() {
        sqlx::query(
            "insert into alerts (alert_id, org_id, app_id, connector_id, kind, state, value,
                 threshold, message, fired_at)
             select u.id, u.org, u.app, u.connector, u.kind, u.state, u.value, u.threshold,
                    u.message, case when u.state = 'firing' then now() end
             from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
                         $7::float8[], $8::float8[], $9::text[])
                  as u(id, org, app, connector, kind, state, value, threshold, message)",
        )
        .bind(new.iter().map(|t| t.alert_id).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.org_id).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.app_id).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.connector_id).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.state.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.value).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.threshold).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.message.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !moved.is_empty() {
        sqlx::query(
            "update alerts a set state = u.state, value = coalesce(u.value, a.value),
                 message = u.message, updated_at = now(),
                 fired_at = case when u.state = 'firing' then now() else a.fired_at end,
                 resolved_at = case when u.state = 'resolved' then now() else a.resolved_at end
             from unnest($1::uuid[], $2::text[], $3::float8[], $4::text[])
                  as u(id, state, value, message)
             where a.alert_id = u.id",
        )
        .bind(moved.iter().map(|t| t.alert_id).collect::<Vec<_>>())
        .bind(moved.iter().map(|t| t.state.as_str()).collect::<Vec<_>>())
        .bind(moved.iter().map(|t| t.value).collect::<Vec<_>>())
        .bind(moved.iter().map(|t| t.message.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let data: Vec<serde_json::Value> = moves.iter().map(Transition::data).collect();
    sqlx::query(
        "insert into connector_events (connector_id, epoch, severity, code, message, context,
             occurred_at)
         select u.connector, c.assignment_epoch, u.severity, u.code, u.message, u.context, now()
         from unnest($1::uuid[], $2::smallint[], $3::text[], $4::text[], $5::jsonb[])
              as u(connector, severity, code, message, context)
         join connectors c on c.connector_id = u.connector",
    )
    .bind(moves.iter().map(|t| t.connector_id).collect::<Vec<_>>())
    .bind(moves.iter().map(|t| t.state.event().0).collect::<Vec<_>>())
    .bind(moves.iter().map(|t| t.state.event().1).collect::<Vec<_>>())
    .bind(moves.iter().map(|t| t.message.as_str()).collect::<Vec<_>>())
    .bind(&data)
    .execute(&mut **tx)
    .await?;
    // Notifications only where someone listens (an app without webhooks costs nothing).
    let apps: Vec<Uuid> = moves.iter().map(|t| t.app_id).collect();
    let listening: std::collections::HashSet<Uuid> = sqlx::query_scalar(
        "select distinct app_id from webhooks where enabled and app_id = any($1)",
    )
    .bind(&apps)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    for (t, data) in moves.iter().zip(data) {
        if !listening.contains(&t.app_id) {
            continue;
        }
        let state = t.state.as_str();
        crate::webhooks::enqueue(
            tx,
            t.app_id,
            &format!("alert.{state}"),
            data,
            &format!("alert:{}:{state}", t.alert_id),
        )
        .await?;
    }
    Ok(())
}
