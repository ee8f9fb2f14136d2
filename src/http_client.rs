//! Outgoing HTTP: every client is reqwest over rustls, with ring as the TLS provider.

/// A client builder. reqwest brings no TLS provider of its own here, so ring is installed
/// as the process's provider first, unless one was installed already.
pub fn builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A client with reqwest's default settings.
pub fn client() -> reqwest::Client {
    builder()
        .build()
        .expect("an HTTP client with default settings")
}
