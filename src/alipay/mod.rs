//! Alipay's open platform: configuration, the RSA2 signatures (requests, synchronous
//! responses and asynchronous notifications), gateway calls and what their answers mean.

pub mod config;
pub mod gateway;
pub mod reply;
pub mod sign;
