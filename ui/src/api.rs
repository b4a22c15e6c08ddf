//! Calls into the native shell: Tauri commands, streaming channels and events.
//!
//! Every command returns `Result<T, String>`: the shell turns its errors into a
//! sentence for the user, and so does this module for transport failures.

use cairn_ipc::{AppStatus, AskEvent, ChatTurn, DocumentRow, ModelRow, Settings, SourcePage};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/tauri.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = invoke)]
    async fn invoke_js(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = makeChannel)]
    fn make_channel(on_message: &js_sys::Function) -> JsValue;
    #[wasm_bindgen(catch, js_name = listen)]
    async fn listen_js(event: &str, handler: &js_sys::Function) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = setArg)]
    fn set_arg(args: &JsValue, key: &str, value: &JsValue) -> JsValue;
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, String> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| format!("cannot encode the request: {e}"))
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, String> {
    serde_wasm_bindgen::from_value(value).map_err(|e| format!("unexpected reply: {e}"))
}

fn error_text(e: JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "unknown error".to_string())
}

async fn call<A: Serialize, R: DeserializeOwned>(cmd: &str, args: &A) -> Result<R, String> {
    let reply = invoke_js(cmd, to_js(args)?).await.map_err(error_text)?;
    from_js(reply)
}

#[derive(Serialize)]
struct NoArgs {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PathArgs<'a> {
    path: &'a str,
}

pub async fn status() -> Result<AppStatus, String> {
    call("get_status", &NoArgs {}).await
}

pub async fn documents() -> Result<Vec<DocumentRow>, String> {
    call("list_documents", &NoArgs {}).await
}

/// Queues files or folders for indexing (what a drop does); returns the job id.
pub async fn add_paths(paths: Vec<String>) -> Result<u64, String> {
    #[derive(Serialize)]
    struct Args {
        paths: Vec<String>,
    }
    call("add_paths", &Args { paths }).await
}

/// Opens the system file chooser; chosen items are queued. `watch` keeps a
/// chosen folder in sync afterwards.
pub async fn pick(folder: bool, watch: bool) -> Result<Vec<String>, String> {
    #[derive(Serialize)]
    struct Args {
        folder: bool,
        watch: bool,
    }
    call("pick_and_add", &Args { folder, watch }).await
}

pub async fn remove_document(path: &str) -> Result<(), String> {
    call("remove_document", &PathArgs { path }).await
}

pub async fn reindex(path: &str) -> Result<u64, String> {
    call("reindex", &PathArgs { path }).await
}

pub async fn cancel_ingest() -> Result<(), String> {
    call("cancel_ingest", &NoArgs {}).await
}

pub async fn unwatch(path: &str) -> Result<Vec<String>, String> {
    call("unwatch_folder", &PathArgs { path }).await
}

/// Asks a question; `on_event` receives the streamed answer. Resolves with the
/// finished turn.
pub async fn ask(
    question: &str,
    on_event: impl FnMut(AskEvent) + 'static,
) -> Result<ChatTurn, String> {
    let mut on_event = on_event;
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        if let Ok(e) = serde_wasm_bindgen::from_value::<AskEvent>(v) {
            on_event(e);
        }
    });
    let channel = make_channel(handler.as_ref().unchecked_ref());
    #[derive(Serialize)]
    struct Args<'a> {
        question: &'a str,
    }
    let args = set_arg(&to_js(&Args { question })?, "onEvent", &channel);
    // Channel messages and the command's reply travel separately, so a last token
    // may arrive after the reply: the handler must outlive this call. It is small
    // and one is made per question.
    handler.forget();
    let reply = invoke_js("ask", args).await.map_err(error_text)?;
    from_js(reply)
}

pub async fn warm_up_model() -> Result<(), String> {
    call("warm_up_model", &NoArgs {}).await
}

pub async fn stop_answer() -> Result<(), String> {
    call("stop_answer", &NoArgs {}).await
}

pub async fn history() -> Result<Vec<ChatTurn>, String> {
    call("chat_history", &NoArgs {}).await
}

pub async fn new_chat() -> Result<(), String> {
    call("new_chat", &NoArgs {}).await
}

pub async fn source_page(path: &str, page: Option<u32>) -> Result<SourcePage, String> {
    #[derive(Serialize)]
    struct Args<'a> {
        path: &'a str,
        page: Option<u32>,
    }
    call("source_page", &Args { path, page }).await
}

pub async fn open_document(path: &str) -> Result<(), String> {
    call("open_document", &PathArgs { path }).await
}

pub async fn models() -> Result<Vec<ModelRow>, String> {
    call("list_models", &NoArgs {}).await
}

pub async fn settings() -> Result<Settings, String> {
    call("get_settings", &NoArgs {}).await
}

pub async fn save_settings(settings: &Settings) -> Result<Settings, String> {
    #[derive(Serialize)]
    struct Args<'a> {
        settings: &'a Settings,
    }
    call("save_settings", &Args { settings }).await
}

/// Subscribes to a shell event for the lifetime of the window.
pub fn listen<T: DeserializeOwned + 'static>(
    event: &'static str,
    mut handler: impl FnMut(T) + 'static,
) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| match from_js::<T>(v) {
        Ok(payload) => handler(payload),
        Err(e) => web_sys::console::warn_1(&format!("{event}: {e}").into()),
    });
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = listen_js(event, closure.as_ref().unchecked_ref()).await {
            web_sys::console::error_1(
                &format!("cannot listen to {event}: {}", error_text(e)).into(),
            );
        }
        // The window never unsubscribes; the handler lives as long as the page.
        closure.forget();
    });
}
