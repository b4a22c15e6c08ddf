//! Generates the Tauri context and the permissions for the app's own commands.
//! Listing the commands here makes each one a permission (`allow-<name>`) that
//! capabilities/main.json grants to the main window only; a command missing from
//! the capability cannot be called from any window.

const COMMANDS: &[&str] = &[
    "get_status",
    "list_documents",
    "add_paths",
    "pick_and_add",
    "remove_document",
    "reindex",
    "cancel_ingest",
    "unwatch_folder",
    "ask",
    "stop_answer",
    "chat_history",
    "new_chat",
    "source_page",
    "open_document",
    "list_models",
    "get_settings",
    "save_settings",
    "warm_up_model",
];

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed: is ui/dist built (scripts/build-ui.sh)?");
}
