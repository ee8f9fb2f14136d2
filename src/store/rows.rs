//! Rows into records. Every column is parsed here, once: a value that does not parse is
//! `StoreError::Corrupt`, never a default.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::db::{Columns, Db};
use super::{
    Contact, EventRecord, Merchant, Order, Result, SandboxPayment, Session, StoreError,
    StoredFrame, Submission, SubmissionState,
};
use crate::domain::{
    Actor, AlipayTradeNo, ContactId, Currency, EndReason, EventKind, MerchantId, Mode, Money,
    OrderId, SessionId, SessionState, UserId,
};

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

pub(super) fn state(s: &str) -> Result<SessionState> {
    SessionState::parse(s).ok_or_else(|| corrupt("state", s))
}

pub(super) fn session_id(s: &str) -> Result<SessionId> {
    SessionId::parse(s).map_err(|_| corrupt("session id", s))
}

fn mode(s: &str) -> Result<Mode> {
    Mode::parse(s).ok_or_else(|| corrupt("mode", s))
}

fn reason(s: Option<String>) -> Result<Option<EndReason>> {
    s.map(|s| EndReason::parse(&s).ok_or_else(|| corrupt("reason", &s)))
        .transpose()
}

fn kind(s: &str) -> Result<EventKind> {
    EventKind::parse(s).ok_or_else(|| corrupt("event kind", s))
}

fn actor(s: &str) -> Result<Actor> {
    Actor::parse(s).ok_or_else(|| corrupt("actor", s))
}

fn submission_state(s: &str) -> Result<SubmissionState> {
    SubmissionState::parse(s).ok_or_else(|| corrupt("submission state", s))
}

pub(super) fn merchant_id(s: &str) -> Result<MerchantId> {
    MerchantId::parse(s).map_err(|_| corrupt("merchant id", s))
}

fn order_id(s: &str) -> Result<OrderId> {
    OrderId::parse(s).map_err(|_| corrupt("order id", s))
}

fn contact_id(s: &str) -> Result<ContactId> {
    ContactId::parse(s).map_err(|_| corrupt("contact id", s))
}

pub(super) fn user_id(s: &str) -> Result<UserId> {
    UserId::parse(s).map_err(|_| corrupt("user id", s))
}

fn alipay_trade_no(s: Option<String>) -> Result<Option<AlipayTradeNo>> {
    s.map(|s| AlipayTradeNo::parse(&s).map_err(|_| corrupt("alipay trade no", &s)))
        .transpose()
}

fn money(minor: i64, currency: &str) -> Result<Money> {
    let c = Currency::parse(currency).map_err(|_| corrupt("currency", currency))?;
    Money::from_minor(minor, c).map_err(|_| corrupt("amount", &minor.to_string()))
}

/// A JSON column, parsed into the type it holds.
fn json<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| corrupt(what, &e.to_string()))
}

/// Reads columns of one row, parsing as it goes.
struct Cols<'r, R>(&'r R);

impl<R: Columns> Cols<'_, R> {
    fn text(&self, name: &str) -> Result<String> {
        Ok(self.0.col(name)?)
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.0.col(name)?)
    }

    fn int(&self, name: &str) -> Result<i64> {
        Ok(self.0.col(name)?)
    }

    fn int32(&self, name: &str) -> Result<i32> {
        Ok(self.0.col(name)?)
    }

    fn flag(&self, name: &str) -> Result<bool> {
        Ok(self.0.col(name)?)
    }

    fn time(&self, name: &str) -> Result<DateTime<Utc>> {
        Ok(self.0.col(name)?)
    }

    fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.0.col(name)?)
    }

    fn value(&self, name: &str) -> Result<Value> {
        Ok(self.0.col::<Json<Value>>(name)?.0)
    }

    /// A JSON column parsed into `T`; `what` names it in the error.
    fn parsed<T: serde::de::DeserializeOwned>(&self, name: &str, what: &str) -> Result<T> {
        json(what, self.value(name)?)
    }

    fn opt_parsed<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>> {
        let value: Option<Json<Value>> = self.0.col(name)?;
        value.map(|v| json(what, v.0)).transpose()
    }

    /// An amount in minor units with the currency in the `currency` column.
    fn money(&self, name: &str) -> Result<Money> {
        money(self.int(name)?, &self.text("currency")?)
    }
}

pub(super) fn merchant<DB: Db>(r: &DB::Row) -> Result<Merchant> {
    let r = Cols(r);
    Ok(Merchant {
        id: merchant_id(&r.text("id")?)?,
        api_key_hash: r.text("api_key_hash")?,
        api_secret_sealed: r.text("api_secret_sealed")?,
        webhook_secret_sealed: r.text("webhook_secret_sealed")?,
        signing_kid: r.text("signing_kid")?,
        previous_kid: r.opt_text("previous_kid")?,
        previous_kid_retires_at: r.opt_time("previous_kid_retires_at")?,
        policy: r.parsed("policy", "policy")?,
        created_at: r.time("created_at")?,
    })
}

pub(super) fn order<DB: Db>(r: &DB::Row) -> Result<Order> {
    let r = Cols(r);
    Ok(Order {
        merchant_id: merchant_id(&r.text("merchant_id")?)?,
        order_id: order_id(&r.text("order_id")?)?,
        user_id: user_id(&r.text("user_id")?)?,
        amount: r.money("amount_minor")?,
        refunded: r.money("refunded_minor")?,
        reserved: r.money("reserved_minor")?,
        description: r.opt_text("description")?,
        alipay_trade_no: alipay_trade_no(r.opt_text("alipay_trade_no")?)?,
        placed_at: r.time("placed_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub(super) fn contact<DB: Db>(r: &DB::Row) -> Result<Contact> {
    let r = Cols(r);
    Ok(Contact {
        merchant_id: merchant_id(&r.text("merchant_id")?)?,
        contact_id: contact_id(&r.text("contact_id")?)?,
        user_id: user_id(&r.text("user_id")?)?,
        name: r.text("name")?,
        aliases: r.parsed("aliases", "aliases")?,
        verified: r.flag("verified")?,
        alipay: r.opt_parsed("alipay_payee", "alipay payee")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub(super) fn session<DB: Db>(r: &DB::Row) -> Result<Session> {
    let r = Cols(r);
    Ok(Session {
        id: session_id(&r.text("id")?)?,
        merchant_id: merchant_id(&r.text("merchant_id")?)?,
        user_id: user_id(&r.text("user_id")?)?,
        channel: mode(&r.text("channel")?)?,
        device: r.opt_text("device")?,
        client_token_hash: r.text("client_token_hash")?,
        state: state(&r.text("state")?)?,
        mode: mode(&r.text("mode")?)?,
        reason: reason(r.opt_text("reason")?)?,
        proposed_action: r.opt_parsed("proposed_action", "proposed action")?,
        confirmation_hash: r.opt_text("confirmation_hash")?,
        confirmation_expires_at: r.opt_time("confirmation_expires_at")?,
        clarifications: r.int32("clarifications")?,
        draft: r.parsed("draft", "draft")?,
        frame_seq: r.int("frame_seq")?,
        version: r.int("version")?,
        event_hash: r.opt_text("event_hash")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub(super) fn event<DB: Db>(r: &DB::Row) -> Result<EventRecord> {
    let r = Cols(r);
    Ok(EventRecord {
        session_id: session_id(&r.text("session_id")?)?,
        seq: r.int("seq")?,
        from: r
            .opt_text("from_state")?
            .as_deref()
            .map(state)
            .transpose()?,
        to: state(&r.text("to_state")?)?,
        kind: kind(&r.text("kind")?)?,
        actor: actor(&r.text("actor")?)?,
        payload: r.value("payload")?,
        at: r.time("at")?,
        hash: r.opt_text("hash")?,
    })
}

pub(super) fn frame<DB: Db>(r: &DB::Row) -> Result<StoredFrame> {
    let r = Cols(r);
    Ok(StoredFrame {
        seq: r.int("seq")?,
        frame: r.value("frame")?,
    })
}

pub(super) fn submission<DB: Db>(r: &DB::Row) -> Result<Submission> {
    let r = Cols(r);
    Ok(Submission {
        idempotency_key: r.text("idempotency_key")?,
        session_id: session_id(&r.text("session_id")?)?,
        merchant_id: merchant_id(&r.text("merchant_id")?)?,
        provider: r.text("provider")?,
        action: r.parsed("action", "action")?,
        amount: r.money("amount_minor")?,
        state: submission_state(&r.text("state")?)?,
        attempts: r.int32("attempts")?,
        next_attempt_at: r.time("next_attempt_at")?,
        provider_reference: r.opt_text("provider_reference")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub(super) fn sandbox_payment<DB: Db>(r: &DB::Row) -> Result<SandboxPayment> {
    let r = Cols(r);
    Ok(SandboxPayment {
        idempotency_key: r.text("idempotency_key")?,
        merchant_id: merchant_id(&r.text("merchant_id")?)?,
        session_id: session_id(&r.text("session_id")?)?,
        reference: r.text("reference")?,
        amount: r.money("amount_minor")?,
        succeeds: r.flag("succeeds")?,
        requests: r.int32("requests")?,
        deliver_at: r.time("deliver_at")?,
    })
}
