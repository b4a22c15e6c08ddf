// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before any thread exists: ONNX Runtime's telemetry is off only through this
    // variable (see docs/SECURITY.md), and setting variables later races with reads.
    cairn_engine::models::prepare_process();
    cairn_desktop::draw_the_page_on_the_cpu();
    cairn_desktop::run();
}
