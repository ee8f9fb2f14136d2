//! Alipay's open platform: configuration, the RSA2 signatures (requests, synchronous
//! responses and asynchronous notifications), gateway calls, what their answers mean,
//! and how notifications read. The provider built on it is the parent module.

pub mod config;
pub mod gateway;
pub mod notice;
pub mod reply;
pub mod sign;
