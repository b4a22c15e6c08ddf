//! One module per command: its arguments, what it asks of the engine, and how it
//! prints the result (text for people, typed JSON for scripts).

pub mod ask;
pub mod docs;
pub mod eval;
pub mod index;
pub mod ingest;
pub mod models;
pub mod search;
