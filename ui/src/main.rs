//! Cairn's window: chat with clickable citations, the library, settings and
//! ingestion progress. Everything the user sees is rendered as text nodes: no
//! model output or document text is ever parsed as HTML.

mod api;
mod app;
mod chat;
mod library;
mod settings;
mod source;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
