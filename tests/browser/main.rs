//! Browser end-to-end tests: the real server on port 0 with the demo merchant, driven through
//! its own pages in headless Chromium over WebDriver (fantoccini + chromedriver).
//!
//! They need Debian's `chromium` and `chromium-driver` packages; without them every test
//! fails and says which package to install. Nothing is downloaded by the tests. A failing
//! test leaves a screenshot in target/e2e-screenshots/.

mod harness;

mod chat;
mod countersign;
mod language;
mod layout;
mod menu;
mod operator;
mod reconnect;
mod withdraw;
