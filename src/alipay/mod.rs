//! Alipay: the open platform's RSA2 signatures (requests, synchronous responses and
//! asynchronous notifications).

pub mod sign;
