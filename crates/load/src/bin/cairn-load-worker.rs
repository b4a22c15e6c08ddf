//! `cairn-load-worker`: parses one file for Cairn in a process of its own, so
//! that a parser that crashes, loops or exhausts memory fails only that file.
//! Started by the app and by `cairn`; not meant to be run by hand (see
//! `cairn_load::worker`).

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    cairn_load::worker::serve(&args)
}
