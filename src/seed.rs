//! The demo merchant an empty embedded database starts with, so the service can be tried
//! without any setup.

use chrono::TimeDelta;

use crate::domain::{ContactId, Currency, MerchantId, Money, OrderId, PolicyDoc, UserId};
use crate::merchants::{self, Credentials};
use crate::secrets::MasterKey;
use crate::secrets::Secret;
use crate::store::{Contact, Order, Store};

pub const DEMO_MERCHANT: &str = "demo";
pub const DEMO_SHOPPER: &str = "demo-shopper";

/// Seeds `demo` when there are no merchants at all; `None` when there was something already.
pub async fn demo(
    store: &dyn Store,
    keys: &MasterKey,
) -> anyhow::Result<Option<Secret<Credentials>>> {
    if store.merchant_count().await? > 0 {
        return Ok(None);
    }
    let id = MerchantId::parse(DEMO_MERCHANT)?;
    let creds = merchants::create(store, keys, id.clone(), PolicyDoc::default()).await?;
    let user = UserId::parse(DEMO_SHOPPER)?;
    let now = crate::clock::now();
    let orders = [
        (
            "1042",
            "128.00",
            "0.00",
            "Ceramic teapot",
            TimeDelta::hours(2),
        ),
        (
            "1041",
            "256.00",
            "0.00",
            "Tea set for six",
            TimeDelta::days(3),
        ),
        (
            "1038",
            "59.90",
            "59.90",
            "Green tea sampler",
            TimeDelta::days(30),
        ),
        // Above the default review_above (500.00): its refund waits for an operator.
        (
            "1036",
            "880.00",
            "0.00",
            "Rosewood tea cabinet",
            TimeDelta::days(40),
        ),
    ];
    for (order_id, amount, refunded, description, age) in orders {
        let order = Order {
            merchant_id: id.clone(),
            order_id: OrderId::parse(order_id)?,
            user_id: user.clone(),
            amount: Money::parse(amount, Currency::CNY)?,
            refunded: Money::parse(refunded, Currency::CNY)?,
            reserved: Money::zero(Currency::CNY),
            description: Some(description.into()),
            alipay_trade_no: None,
            placed_at: now - age,
            updated_at: now,
        };
        store.put_order(&order).await?;
    }
    let contacts = [
        ("mum", "Mum", &["Mom", "妈妈"][..], true),
        ("alice", "Alice Chen", &["Alice"][..], true),
        ("bob", "Bob", &[][..], false),
    ];
    for (contact_id, name, aliases, verified) in contacts {
        let contact = Contact {
            merchant_id: id.clone(),
            contact_id: ContactId::parse(contact_id)?,
            user_id: user.clone(),
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            verified,
            alipay: None,
            created_at: now,
            updated_at: now,
        };
        store.put_contact(&contact).await?;
    }
    Ok(Some(creds))
}
