//! The SQL both backends share. `sql_store!` expands to a backend's `Store` impl; what differs
//! per backend (connecting, migrations, how a write transaction starts) lives beside it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Result, StoreError};
use crate::domain::{
    Actor, AlipayTradeNo, ContactId, Currency, EndReason, EventKind, MerchantId, Mode, Money,
    OrderId, SessionId, SessionState, UserId,
};

pub(super) const MERCHANT_COLUMNS: &str =
    "id, api_key_hash, api_secret_sealed, webhook_secret_sealed, signing_kid, policy, created_at";
pub(super) const ORDER_COLUMNS: &str = "merchant_id, order_id, user_id, currency, amount_minor, \
     refunded_minor, reserved_minor, description, alipay_trade_no, placed_at, updated_at";
pub(super) const CONTACT_COLUMNS: &str = "merchant_id, contact_id, user_id, name, aliases, verified, alipay_payee, created_at, updated_at";
pub(super) const SESSION_COLUMNS: &str = "id, merchant_id, user_id, channel, device, \
     client_token_hash, state, mode, reason, proposed_action, confirmation_hash, \
     confirmation_expires_at, clarifications, draft, frame_seq, version, created_at, updated_at";
pub(super) const EVENT_COLUMNS: &str =
    "session_id, seq, from_state, to_state, kind, actor, payload, at";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

pub(super) fn state(s: &str) -> Result<SessionState> {
    SessionState::parse(s).ok_or_else(|| corrupt("state", s))
}
pub(super) fn mode(s: &str) -> Result<Mode> {
    Mode::parse(s).ok_or_else(|| corrupt("mode", s))
}
pub(super) fn reason(s: Option<String>) -> Result<Option<EndReason>> {
    s.map(|s| EndReason::parse(&s).ok_or_else(|| corrupt("reason", &s)))
        .transpose()
}
pub(super) fn kind(s: &str) -> Result<EventKind> {
    EventKind::parse(s).ok_or_else(|| corrupt("event kind", s))
}
pub(super) fn actor(s: &str) -> Result<Actor> {
    Actor::parse(s).ok_or_else(|| corrupt("actor", s))
}
pub(super) fn merchant_id(s: &str) -> Result<MerchantId> {
    MerchantId::parse(s).map_err(|_| corrupt("merchant id", s))
}
pub(super) fn order_id(s: &str) -> Result<OrderId> {
    OrderId::parse(s).map_err(|_| corrupt("order id", s))
}
pub(super) fn contact_id(s: &str) -> Result<ContactId> {
    ContactId::parse(s).map_err(|_| corrupt("contact id", s))
}
pub(super) fn alipay_trade_no(s: Option<String>) -> Result<Option<AlipayTradeNo>> {
    s.map(|s| AlipayTradeNo::parse(&s).map_err(|_| corrupt("alipay trade no", &s)))
        .transpose()
}
pub(super) fn user_id(s: &str) -> Result<UserId> {
    UserId::parse(s).map_err(|_| corrupt("user id", s))
}
pub(super) fn session_id(s: &str) -> Result<SessionId> {
    SessionId::parse(s).map_err(|_| corrupt("session id", s))
}
pub(super) fn money(minor: i64, currency: &str) -> Result<Money> {
    let c = Currency::parse(currency).map_err(|_| corrupt("currency", currency))?;
    Money::from_minor(minor, c).map_err(|_| corrupt("amount", &minor.to_string()))
}
pub(super) fn json<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| corrupt(what, &e.to_string()))
}

/// Outcome of reading an existing idempotency row.
pub(super) fn idempotency_answer(
    stored_hash: &str,
    state: &str,
    status: Option<i32>,
    body: Option<String>,
    request_hash: &str,
) -> Option<super::IdempotencyBegin> {
    use super::IdempotencyBegin::*;
    if stored_hash != request_hash {
        return Some(Mismatch);
    }
    match (state, status, body) {
        ("completed", Some(status), Some(body)) => Some(Replay {
            status: status as u16,
            body,
        }),
        _ => None,
    }
}

/// Marker for "the in-flight holder went away"; used by both backends.
pub(super) fn is_stale(locked_at: DateTime<Utc>, stale_before: DateTime<Utc>) -> bool {
    locked_at < stale_before
}

macro_rules! sql_store {
    ($store:ty, $db:ty, $name:literal, row_lock = $lock:literal, notify = $notify:literal) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::Row;
        use sqlx::types::Json;

        use super::sql::*;
        use super::*;
        use crate::domain::{AlipayTradeNo, ContactId, MerchantId, OrderId, SessionId, UserId};

        type DbRow = <$db as sqlx::Database>::Row;

        fn merchant_row(r: &DbRow) -> Result<Merchant> {
            Ok(Merchant {
                id: merchant_id(r.try_get("id")?)?,
                api_key_hash: r.try_get("api_key_hash")?,
                api_secret_sealed: r.try_get("api_secret_sealed")?,
                webhook_secret_sealed: r.try_get("webhook_secret_sealed")?,
                signing_kid: r.try_get("signing_kid")?,
                policy: json("policy", r.try_get::<Json<serde_json::Value>, _>("policy")?.0)?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn order_row(r: &DbRow) -> Result<Order> {
            let currency: &str = r.try_get("currency")?;
            Ok(Order {
                merchant_id: merchant_id(r.try_get("merchant_id")?)?,
                order_id: order_id(r.try_get("order_id")?)?,
                user_id: user_id(r.try_get("user_id")?)?,
                amount: money(r.try_get("amount_minor")?, currency)?,
                refunded: money(r.try_get("refunded_minor")?, currency)?,
                reserved: money(r.try_get("reserved_minor")?, currency)?,
                description: r.try_get("description")?,
                alipay_trade_no: alipay_trade_no(r.try_get("alipay_trade_no")?)?,
                placed_at: r.try_get("placed_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn contact_row(r: &DbRow) -> Result<Contact> {
            Ok(Contact {
                merchant_id: merchant_id(r.try_get("merchant_id")?)?,
                contact_id: contact_id(r.try_get("contact_id")?)?,
                user_id: user_id(r.try_get("user_id")?)?,
                name: r.try_get("name")?,
                aliases: json("aliases", r.try_get::<Json<serde_json::Value>, _>("aliases")?.0)?,
                verified: r.try_get("verified")?,
                alipay: r
                    .try_get::<Option<Json<serde_json::Value>>, _>("alipay_payee")?
                    .map(|j| json("alipay payee", j.0))
                    .transpose()?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn session_row(r: &DbRow) -> Result<Session> {
            let action: Option<Json<serde_json::Value>> = r.try_get("proposed_action")?;
            Ok(Session {
                id: session_id(r.try_get("id")?)?,
                merchant_id: merchant_id(r.try_get("merchant_id")?)?,
                user_id: user_id(r.try_get("user_id")?)?,
                channel: mode(r.try_get("channel")?)?,
                device: r.try_get("device")?,
                client_token_hash: r.try_get("client_token_hash")?,
                state: state(r.try_get("state")?)?,
                mode: mode(r.try_get("mode")?)?,
                reason: reason(r.try_get("reason")?)?,
                proposed_action: action.map(|j| j.0),
                confirmation_hash: r.try_get("confirmation_hash")?,
                confirmation_expires_at: r.try_get("confirmation_expires_at")?,
                clarifications: r.try_get("clarifications")?,
                draft: r.try_get::<Json<serde_json::Value>, _>("draft")?.0,
                frame_seq: r.try_get("frame_seq")?,
                version: r.try_get("version")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn event_row(r: &DbRow) -> Result<EventRecord> {
            let from: Option<&str> = r.try_get("from_state")?;
            Ok(EventRecord {
                session_id: session_id(r.try_get("session_id")?)?,
                seq: r.try_get("seq")?,
                from: from.map(state).transpose()?,
                to: state(r.try_get("to_state")?)?,
                kind: kind(r.try_get("kind")?)?,
                actor: actor(r.try_get("actor")?)?,
                payload: r.try_get::<Json<serde_json::Value>, _>("payload")?.0,
                at: r.try_get("at")?,
            })
        }

        async fn insert_event<'c>(
            tx: &mut sqlx::Transaction<'c, $db>,
            id: SessionId,
            seq: i64,
            from: Option<&str>,
            to: &str,
            e: &NewEvent,
            at: DateTime<Utc>,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO session_events (session_id, seq, from_state, to_state, kind, actor, payload, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id.to_string())
            .bind(seq)
            .bind(from)
            .bind(to)
            .bind(e.kind.as_str())
            .bind(e.actor.as_str())
            .bind(Json(&e.payload))
            .bind(at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// The event of the transition from version `from_version`: its `from_state` is the
        /// state the previous event led to (an event's seq is the version it made).
        async fn insert_transition(
            tx: &mut sqlx::Transaction<'_, $db>,
            id: SessionId,
            from_version: i64,
            to: &str,
            e: &NewEvent,
            at: DateTime<Utc>,
        ) -> Result<()> {
            let done = sqlx::query(
                "INSERT INTO session_events (session_id, seq, from_state, to_state, kind, actor, payload, at) \
                 SELECT $1, $2 + 1, to_state, $3, $4, $5, $6, $7 FROM session_events \
                 WHERE session_id = $1 AND seq = $2",
            )
            .bind(id.to_string())
            .bind(from_version)
            .bind(to)
            .bind(e.kind.as_str())
            .bind(e.actor.as_str())
            .bind(Json(&e.payload))
            .bind(at)
            .execute(&mut **tx)
            .await?;
            match done.rows_affected() {
                1 => Ok(()),
                _ => Err(StoreError::Corrupt(format!("{id} has no event {from_version}"))),
            }
        }

        /// Whether the row `exists` (a `SELECT 1 … WHERE $1 AND $2`) finds is there.
        async fn exists(tx: &mut sqlx::Transaction<'_, $db>, exists: &'static str, key: (&str, &str)) -> Result<bool> {
            let found: Option<i32> = sqlx::query_scalar(exists)
                .bind(key.0)
                .bind(key.1)
                .fetch_optional(&mut **tx)
                .await?;
            Ok(found.is_some())
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<()> {
                Self::migrator().run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_merchant(&self, m: &Merchant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO merchants (id, api_key_hash, api_secret_sealed, webhook_secret_sealed, \
                     signing_kid, policy, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(m.id.as_str())
                .bind(&m.api_key_hash)
                .bind(&m.api_secret_sealed)
                .bind(&m.webhook_secret_sealed)
                .bind(&m.signing_kid)
                .bind(Json(&m.policy))
                .bind(m.created_at)
                .execute(&self.pool)
                .await
                .map_err(unique_as_duplicate)?;
                Ok(())
            }

            async fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>> {
                let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1");
                let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(self.reads()).await?;
                row.as_ref().map(merchant_row).transpose()
            }

            async fn merchant_by_key_hash(&self, hash: &str) -> Result<Option<Merchant>> {
                let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE api_key_hash = $1");
                let row = sqlx::query(&sql).bind(hash).fetch_optional(self.reads()).await?;
                row.as_ref().map(merchant_row).transpose()
            }

            async fn merchant_count(&self) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM merchants").fetch_one(&self.pool).await?)
            }

            async fn put_order(&self, o: &Order) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                let exists_sql = "SELECT 1 FROM orders WHERE merchant_id = $1 AND order_id = $2";
                let found = exists(&mut tx, exists_sql, (o.merchant_id.as_str(), o.order_id.as_str())).await?;
                let insert = "INSERT INTO orders (merchant_id, order_id, user_id, currency, amount_minor, \
                     refunded_minor, description, placed_at, updated_at, alipay_trade_no) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
                let update = "UPDATE orders SET user_id = $3, currency = $4, amount_minor = $5, \
                     refunded_minor = $6, description = $7, placed_at = $8, updated_at = $9, \
                     alipay_trade_no = $10 WHERE merchant_id = $1 AND order_id = $2";
                sqlx::query(if found { update } else { insert })
                    .bind(o.merchant_id.as_str())
                    .bind(o.order_id.as_str())
                    .bind(o.user_id.as_str())
                    .bind(o.amount.currency().code())
                    .bind(o.amount.minor())
                    .bind(o.refunded.minor())
                    .bind(&o.description)
                    .bind(o.placed_at)
                    .bind(o.updated_at)
                    .bind(o.alipay_trade_no.as_ref().map(AlipayTradeNo::as_str))
                    .execute(&mut *tx)
                    .await
                    .map_err(check_as_conflict)?;
                tx.commit().await?;
                Ok(!found)
            }

            async fn order(&self, merchant: &MerchantId, id: &OrderId) -> Result<Option<Order>> {
                let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE merchant_id = $1 AND order_id = $2");
                let row = sqlx::query(&sql)
                    .bind(merchant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(self.reads())
                    .await?;
                row.as_ref().map(order_row).transpose()
            }

            async fn orders_for_user(&self, merchant: &MerchantId, user: &UserId, limit: i64) -> Result<Vec<Order>> {
                let sql = format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE merchant_id = $1 AND user_id = $2 \
                     ORDER BY placed_at DESC, order_id DESC LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(merchant.as_str())
                    .bind(user.as_str())
                    .bind(limit)
                    .fetch_all(self.reads())
                    .await?;
                rows.iter().map(order_row).collect()
            }

            async fn put_contact(&self, c: &Contact) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                let exists_sql = "SELECT 1 FROM contacts WHERE merchant_id = $1 AND contact_id = $2";
                let found = exists(&mut tx, exists_sql, (c.merchant_id.as_str(), c.contact_id.as_str())).await?;
                let insert = "INSERT INTO contacts (merchant_id, contact_id, user_id, name, aliases, verified, \
                     updated_at, alipay_payee, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
                let update = "UPDATE contacts SET user_id = $3, name = $4, aliases = $5, verified = $6, \
                     updated_at = $7, alipay_payee = $8 WHERE merchant_id = $1 AND contact_id = $2";
                sqlx::query(if found { update } else { insert })
                    .bind(c.merchant_id.as_str())
                    .bind(c.contact_id.as_str())
                    .bind(c.user_id.as_str())
                    .bind(&c.name)
                    .bind(Json(&c.aliases))
                    .bind(c.verified)
                    .bind(c.updated_at)
                    .bind(c.alipay.as_ref().map(Json))
                    .bind(c.created_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(!found)
            }

            async fn contact(&self, merchant: &MerchantId, id: &ContactId) -> Result<Option<Contact>> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE merchant_id = $1 AND contact_id = $2");
                let row = sqlx::query(&sql)
                    .bind(merchant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(self.reads())
                    .await?;
                row.as_ref().map(contact_row).transpose()
            }

            async fn contacts_for_user(&self, merchant: &MerchantId, user: &UserId) -> Result<Vec<Contact>> {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE merchant_id = $1 AND user_id = $2 ORDER BY contact_id"
                );
                let rows = sqlx::query(&sql)
                    .bind(merchant.as_str())
                    .bind(user.as_str())
                    .fetch_all(self.reads())
                    .await?;
                rows.iter().map(contact_row).collect()
            }

            async fn create_session(&self, s: &NewSession, opened: &NewEvent) -> Result<Session> {
                let mut tx = self.write_tx().await?;
                let initial = crate::domain::SessionState::Collecting.as_str();
                sqlx::query(
                    "INSERT INTO sessions (id, merchant_id, user_id, channel, mode, state, clarifications, \
                     draft, frame_seq, device, client_token_hash, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4, $5, 0, $9, 0, $6, $7, 1, $8, $8)",
                )
                .bind(s.id.to_string())
                .bind(s.merchant_id.as_str())
                .bind(s.user_id.as_str())
                .bind(s.channel.as_str())
                .bind(initial)
                .bind(&s.device)
                .bind(&s.client_token_hash)
                .bind(s.created_at)
                .bind(Json(serde_json::json!({})))
                .execute(&mut *tx)
                .await
                .map_err(unique_as_duplicate)?;
                insert_event(&mut tx, s.id, 1, None, initial, opened, s.created_at).await?;
                let session = select_session(&mut tx, s.id).await?.ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(session)
            }

            async fn session(&self, id: SessionId) -> Result<Option<Session>> {
                let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
                let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(self.reads()).await?;
                row.as_ref().map(session_row).transpose()
            }

            async fn apply(&self, id: SessionId, expected: i64, commit: &Commit) -> Result<Session> {
                let mut tx = self.write_tx().await?;
                let session = apply_in(&mut tx, self.origin(), id, expected, commit).await?;
                tx.commit().await?;
                Ok(session)
            }
            async fn events(&self, id: SessionId) -> Result<Vec<EventRecord>> {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM session_events WHERE session_id = $1 ORDER BY seq");
                let rows = sqlx::query(&sql).bind(id.to_string()).fetch_all(self.reads()).await?;
                rows.iter().map(event_row).collect()
            }

            async fn append_frames(&self, id: SessionId, frames: &[serde_json::Value]) -> Result<i64> {
                let mut tx = self.write_tx().await?;
                let last = insert_frames(&mut tx, self.origin(), id, frames, crate::clock::now()).await?;
                tx.commit().await?;
                Ok(last)
            }

            async fn record_model_call(&self, c: &crate::understanding::audit::ModelCall) -> Result<()> {
                sqlx::query(
                    "INSERT INTO model_calls (session_id, endpoint, model, purpose, outcome, latency_ms, \
                     prompt_tokens, completion_tokens, request, response, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&c.session_id)
                .bind(&c.endpoint)
                .bind(&c.model)
                .bind(c.purpose.as_str())
                .bind(c.outcome.as_str())
                .bind(c.latency_ms)
                .bind(c.prompt_tokens)
                .bind(c.completion_tokens)
                .bind(Json(&c.request))
                .bind(&c.response)
                .bind(c.at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn frames_after(&self, id: SessionId, after: i64, limit: i64) -> Result<Vec<StoredFrame>> {
                let rows: Vec<(i64, Json<serde_json::Value>)> = sqlx::query_as(
                    "SELECT seq, frame FROM session_frames WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(id.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(self.reads())
                .await?;
                Ok(rows.into_iter().map(|(seq, frame)| StoredFrame { seq, frame: frame.0 }).collect())
            }

            async fn latest_frame(&self, id: SessionId, kind: &str) -> Result<Option<StoredFrame>> {
                let row: Option<(i64, Json<serde_json::Value>)> = sqlx::query_as(
                    "SELECT seq, frame FROM session_frames WHERE session_id = $1 AND frame ->> 'type' = $2 \
                     ORDER BY seq DESC LIMIT 1",
                )
                .bind(id.to_string())
                .bind(kind)
                .fetch_optional(self.reads())
                .await?;
                Ok(row.map(|(seq, frame)| StoredFrame { seq, frame: frame.0 }))
            }

            async fn expiring(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SessionId>> {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM sessions WHERE state = 'awaiting_confirmation' \
                     AND confirmation_expires_at <= $1 ORDER BY confirmation_expires_at LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|id| session_id(id)).collect()
            }

            async fn idempotency_begin(&self, c: &IdempotencyClaim) -> Result<IdempotencyBegin> {
                let mut tx = self.write_tx().await?;
                let answer = claim_idempotency(&mut tx, c).await?;
                tx.commit().await?;
                Ok(answer)
            }

            async fn idempotency_complete(&self, merchant: &MerchantId, key: &str, status: u16, body: &str) -> Result<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET state = 'completed', response_status = $3, \
                     response_body = $4 WHERE merchant_id = $1 AND key = $2",
                )
                .bind(merchant.as_str())
                .bind(key)
                .bind(status as i32)
                .bind(body)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn idempotency_release(&self, merchant: &MerchantId, key: &str) -> Result<()> {
                sqlx::query("DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 AND state = 'in_flight'")
                    .bind(merchant.as_str())
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn idempotency_purge(&self, now: DateTime<Utc>) -> Result<u64> {
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }

        /// Numbers `frames` after the session's last frame and stores them; returns the last seq.
        async fn insert_frames(
            tx: &mut sqlx::Transaction<'_, $db>,
            origin: &str,
            id: SessionId,
            frames: &[serde_json::Value],
            at: DateTime<Utc>,
        ) -> Result<i64> {
            let last: i64 = sqlx::query_scalar(
                "UPDATE sessions SET frame_seq = frame_seq + $2 WHERE id = $1 RETURNING frame_seq",
            )
            .bind(id.to_string())
            .bind(frames.len() as i64)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            store_frames(tx, origin, id, last - frames.len() as i64 + 1, frames, at).await?;
            Ok(last)
        }

        /// Stores `frames` numbered from `first`, and announces them to other instances as
        /// coming from `origin` (this store).
        async fn store_frames(
            tx: &mut sqlx::Transaction<'_, $db>,
            origin: &str,
            id: SessionId,
            first: i64,
            frames: &[serde_json::Value],
            at: DateTime<Utc>,
        ) -> Result<()> {
            if frames.is_empty() {
                return Ok(());
            }
            let last = first + frames.len() as i64 - 1;
            // One statement for all of them, and the announcement with it where there is
            // one: a turn often writes several frames.
            let announce = !$notify.is_empty();
            let insert = "INSERT INTO session_frames (session_id, seq, frame, at) ";
            let mut sql = sqlx::QueryBuilder::<$db>::new(if announce { "WITH stored AS (" } else { "" });
            sql.push(insert);
            sql.push_values(frames.iter().enumerate(), |mut row, (i, frame)| {
                row.push_bind(id.to_string())
                    .push_bind(first + i as i64)
                    .push_bind(Json(frame))
                    .push_bind(at);
            });
            if announce {
                sql.push(") ").push($notify).push_bind(format!("{id} {first} {last} {origin}")).push(")");
            }
            sql.build().execute(&mut **tx).await?;
            Ok(())
        }

        /// The body of `apply`, for callers that already hold a transaction.
        async fn apply_in(
            tx: &mut sqlx::Transaction<'_, $db>,
            origin: &str,
            id: SessionId,
            expected: i64,
            commit: &Commit,
        ) -> Result<Session> {
            let c = &commit.change;
            // One statement moves the session, bumps its version and numbers its frames;
            // the row lock it takes orders concurrent writers.
            let sql = format!(
                "UPDATE sessions SET state = $3, mode = $4, reason = $5, proposed_action = $6, \
                 confirmation_hash = $7, confirmation_expires_at = $8, clarifications = $9, \
                 draft = $11, version = version + 1, updated_at = $10, \
                 consented_at = CASE WHEN $12 THEN $10 ELSE consented_at END, \
                 frame_seq = frame_seq + $13 \
                 WHERE id = $1 AND version = $2 RETURNING {SESSION_COLUMNS}"
            );
            let updated = sqlx::query(&sql)
                .bind(id.to_string())
                .bind(expected)
                .bind(c.state.as_str())
                .bind(c.mode.as_str())
                .bind(c.reason.map(|r| r.as_str()))
                .bind(c.proposed_action.as_ref().map(Json))
                .bind(&c.confirmation_hash)
                .bind(c.confirmation_expires_at)
                .bind(c.clarifications)
                .bind(c.at)
                .bind(Json(&c.draft))
                .bind(commit.event.kind == crate::domain::EventKind::Confirmed)
                .bind(commit.frames.len() as i64)
                .fetch_optional(&mut **tx)
                .await?;
            let Some(row) = updated else {
                return Err(match select_session(tx, id).await? {
                    Some(_) => StoreError::Conflict,
                    None => StoreError::NotFound,
                });
            };
            let session = session_row(&row)?;
            insert_transition(tx, id, expected, c.state.as_str(), &commit.event, c.at).await?;
            let first = session.frame_seq - commit.frames.len() as i64 + 1;
            store_frames(tx, origin, id, first, &commit.frames, c.at).await?;
            if let Some(sub) = &commit.submission {
                insert_submission(tx, sub).await?;
            }
            if let Some(effect) = &commit.order {
                order_effect(tx, effect).await?;
            }
            if commit.finish_submission {
                sqlx::query("UPDATE submissions SET state = 'done', locked_until = NULL, updated_at = $2 WHERE session_id = $1")
                    .bind(id.to_string())
                    .bind(c.at)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(session)
        }

        async fn insert_submission(tx: &mut sqlx::Transaction<'_, $db>, s: &NewSubmission) -> Result<()> {
            sqlx::query(
                "INSERT INTO submissions (idempotency_key, session_id, merchant_id, provider, action, currency, \
                 amount_minor, state, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8)",
            )
            .bind(&s.idempotency_key)
            .bind(s.session_id.to_string())
            .bind(s.merchant_id.as_str())
            .bind(&s.provider)
            .bind(Json(&s.action))
            .bind(s.amount.currency().code())
            .bind(s.amount.minor())
            .bind(s.at)
            .execute(&mut **tx)
            .await
            .map_err(unique_as_duplicate)?;
            Ok(())
        }

        /// Moves refund money between refundable, reserved and refunded on an order.
        async fn order_effect(tx: &mut sqlx::Transaction<'_, $db>, effect: &OrderEffect) -> Result<()> {
            let (sql, merchant, order, minor, guarded) = match effect {
                OrderEffect::Reserve { merchant_id, order_id, minor } => (
                    "UPDATE orders SET reserved_minor = reserved_minor + $3 WHERE merchant_id = $1 \
                     AND order_id = $2 AND refunded_minor + reserved_minor + $3 <= amount_minor",
                    merchant_id,
                    order_id,
                    *minor,
                    true,
                ),
                OrderEffect::Settle { merchant_id, order_id, minor } => (
                    "UPDATE orders SET reserved_minor = reserved_minor - $3, refunded_minor = refunded_minor + $3 \
                     WHERE merchant_id = $1 AND order_id = $2 AND reserved_minor >= $3",
                    merchant_id,
                    order_id,
                    *minor,
                    false,
                ),
                OrderEffect::Release { merchant_id, order_id, minor } => (
                    "UPDATE orders SET reserved_minor = reserved_minor - $3 \
                     WHERE merchant_id = $1 AND order_id = $2 AND reserved_minor >= $3",
                    merchant_id,
                    order_id,
                    *minor,
                    false,
                ),
            };
            let done = sqlx::query(sql)
                .bind(merchant.as_str())
                .bind(order.as_str())
                .bind(minor)
                .execute(&mut **tx)
                .await?;
            match done.rows_affected() {
                1 => Ok(()),
                _ if guarded => Err(StoreError::Insufficient),
                _ => {
                    tracing::warn!(order_id = %order, "order accounting did not match its reservation");
                    Ok(())
                }
            }
        }

        async fn select_session(tx: &mut sqlx::Transaction<'_, $db>, id: SessionId) -> Result<Option<Session>> {
            let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
            let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&mut **tx).await?;
            row.as_ref().map(session_row).transpose()
        }

        /// Inserts a fresh claim, or decides from the row that is there.
        async fn claim_idempotency(tx: &mut sqlx::Transaction<'_, $db>, c: &IdempotencyClaim) -> Result<IdempotencyBegin> {
            let row: Option<(String, String, Option<i32>, Option<String>, DateTime<Utc>, DateTime<Utc>)> =
                sqlx::query_as(concat!(
                    "SELECT request_hash, state, response_status, response_body, locked_at, expires_at \
                     FROM idempotency_keys WHERE merchant_id = $1 AND key = $2",
                    $lock
                ))
                .bind(c.merchant_id.as_str())
                .bind(&c.key)
                .fetch_optional(&mut **tx)
                .await?;
            let take = match row {
                None => false,
                Some((_, _, _, _, _, expires_at)) if expires_at <= c.now => true,
                Some((hash, state, status, body, locked_at, _)) => {
                    if let Some(answer) = idempotency_answer(&hash, &state, status, body, &c.request_hash) {
                        return Ok(answer);
                    }
                    if !is_stale(locked_at, c.stale_before) {
                        return Ok(IdempotencyBegin::InFlight);
                    }
                    true
                }
            };
            if take {
                sqlx::query("DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2")
                    .bind(c.merchant_id.as_str())
                    .bind(&c.key)
                    .execute(&mut **tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, state, locked_at, expires_at) \
                 VALUES ($1, $2, $3, 'in_flight', $4, $5)",
            )
            .bind(c.merchant_id.as_str())
            .bind(&c.key)
            .bind(&c.request_hash)
            .bind(c.now)
            .bind(c.expires_at)
            .execute(&mut **tx)
            .await
            .map_err(unique_as_duplicate)
            .map(|_| IdempotencyBegin::Claimed)
            .or_else(|e| match e {
                // A concurrent first request inserted it between our read and write.
                StoreError::Duplicate => Ok(IdempotencyBegin::InFlight),
                other => Err(other),
            })
        }
    };
}
pub(super) use sql_store;
