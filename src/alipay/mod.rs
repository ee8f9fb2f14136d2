//! Alipay's open platform: configuration, the RSA2 signatures (requests, synchronous
//! responses and asynchronous notifications), gateway calls, what their answers mean,
//! and how notifications read. The provider built on it is `payments::alipay`.

pub mod config;
pub mod gateway;
pub mod notify;
pub mod reply;
pub mod sign;
