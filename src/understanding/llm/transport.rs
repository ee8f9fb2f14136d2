//! The HTTP layer under async-openai: one request per call (the library's own retry layer,
//! which would sleep and try 429s and 5xx again, is not used), and any status other than
//! success comes back as [`HttpStatus`] whatever its body looks like, so 429 and 5xx are
//! told apart even on servers whose error bodies are not OpenAI's.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use reqwest::{Client, Response};

/// The most of an error body that is read.
const ERROR_BODY_CAP: usize = 16 * 1024;

/// An HTTP answer that was not a success.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {body}")]
pub struct HttpStatus {
    pub status: u16,
    pub body: String,
}

/// An HTTP client for model endpoints: rustls with the ring provider, the platform's
/// root certificates, no redirects (an API that redirects is misconfigured, and a redirect
/// must not carry the key elsewhere).
pub fn http_client() -> Result<Client, reqwest::Error> {
    crate::http_client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Sends each request exactly once.
#[derive(Clone)]
pub struct OneShot(pub Client);

type Pending = Pin<Box<dyn Future<Output = Result<Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for OneShot {
    type Response = Response;
    type Error = OpenAIError;
    type Future = Pending;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let request = factory.build().await?;
            let response = client.execute(request).await?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let body = read_capped(response).await;
            Err(OpenAIError::Boxed(Box::new(HttpStatus { status, body })))
        })
    }
}

/// The start of a body, as text; a body that breaks off keeps what came.
async fn read_capped(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ERROR_BODY_CAP);
    String::from_utf8_lossy(&bytes).into_owned()
}
