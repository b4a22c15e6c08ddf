// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before any thread exists: ONNX Runtime's telemetry is off only through this
    // variable (see docs/SECURITY.md), and setting variables later races with reads.
    cairn_engine::models::prepare_process();
    // WebKitGTK draws the page on the GPU and hands it over in DMA-BUF buffers:
    // on Mesa that is an OpenGL context in the page's process (with no GPU, an
    // llvmpipe one), 83 MiB more there and up to 14 MiB more here than drawing
    // it on the CPU, which a page of text and a few controls does just as well
    // (docs/BENCHMARKS.md). It also avoids the blank windows some drivers give
    // with DMA-BUF. A value set by the person wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    cairn_desktop::run();
}
