//! Settings: answer model, answer length, temperature, passages and theme, and an
//! About section with the version, index format and the models in use.

use crate::api;
use crate::app::store;
use cairn_ipc::view::size;
use cairn_ipc::{ModelRow, ModelState, Settings, Theme};
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn SettingsView() -> impl IntoView {
    let s = store();
    let models = RwSignal::new(Vec::<ModelRow>::new());
    let saved = RwSignal::new(false);
    spawn_local(async move {
        match api::models().await {
            Ok(m) => models.set(m),
            Err(e) => s.fail(e),
        }
    });
    let save = move |next: Settings| {
        saved.set(false);
        spawn_local(async move {
            match api::save_settings(&next).await {
                Ok(v) => {
                    s.settings.set(v);
                    saved.set(true);
                    if let Ok(m) = api::models().await {
                        models.set(m);
                    }
                }
                Err(e) => s.fail(e),
            }
        });
    };
    let edit = move |f: &dyn Fn(&mut Settings)| {
        let mut next = s.settings.get_untracked();
        f(&mut next);
        save(next);
    };
    let num = |ev: &leptos::ev::Event| event_target_value(ev).parse::<f64>().ok();
    // The engine's calibrated defaults, which a setting left alone follows.
    let default_tokens = move || s.status.with(|st| st.defaults.answer_tokens);
    let default_passages = move || s.status.with(|st| st.defaults.passages);

    view! {
        <section class="settings" data-testid="settings">
            <header class="chat-head"><h1>"Settings"</h1>
                <span class="muted">{move || if saved.get() { "Saved" } else { "" }}</span>
            </header>
            <div class="field">
                <label>"Answer model"</label>
                <div class="models">
                    {move || {
                        let rows = models.get();
                        if rows.is_empty() {
                            return view! { <p class="muted">{move || format!(
                                "No GGUF models in {}. Run models/fetch.sh or copy a .gguf file there.",
                                s.status.with(|st| st.models_dir.clone()))}</p> }.into_any();
                        }
                        rows.into_iter().map(|m| {
                            let file = m.file.clone();
                            let detail = format!("{} · {} · {} · {:.0}M parameters · context {}",
                                m.architecture, m.quantization, size(m.size_bytes),
                                m.parameters as f64 / 1e6, m.context_length);
                            view! {
                                <label class="model" class:disabled=!m.supported>
                                    <input type="radio" name="model" prop:checked=m.selected
                                        disabled=!m.supported
                                        on:change=move |_| { let f = file.clone(); edit(&move |v| v.model = Some(f.clone())) }/>
                                    <span class="model-name">{m.name.clone()}</span>
                                    <span class="muted">{detail}</span>
                                    {m.problem.clone().map(|p| view! { <span class="error">{p}</span> })}
                                </label>
                            }
                        }).collect_view().into_any()
                    }}
                </div>
            </div>
            <div class="field">
                <label for="answer-tokens">"Longest answer (tokens)"</label>
                <input id="answer-tokens" type="number" min="32" max="2048" step="32"
                    prop:value=move || s.settings.with(|v| v.answer_tokens.unwrap_or(default_tokens()).to_string())
                    on:change=move |ev| if let Some(n) = num(&ev) {
                        let n = n as usize;
                        edit(&move |v| v.answer_tokens = (n != default_tokens()).then_some(n))
                    }/>
                <p class="hint">{move || format!("Default: {}", default_tokens())}</p>
            </div>
            <div class="field">
                <label for="temperature">{move || format!("Temperature: {:.1}", s.settings.with(|v| v.temperature))}</label>
                <input id="temperature" type="range" min="0" max="1.5" step="0.1"
                    prop:value=move || s.settings.with(|v| v.temperature.to_string())
                    on:change=move |ev| if let Some(t) = num(&ev) { edit(&move |v| v.temperature = t) }/>
                <p class="hint">"0 gives the same answer every time; higher values vary the wording."</p>
            </div>
            <div class="field">
                <label for="passages">"Passages per question"</label>
                <input id="passages" type="number" min="1" max="20"
                    prop:value=move || s.settings.with(|v| v.passages.unwrap_or(default_passages()).to_string())
                    on:change=move |ev| if let Some(n) = num(&ev) {
                        let n = n as usize;
                        edit(&move |v| v.passages = (n != default_passages()).then_some(n))
                    }/>
                <p class="hint">{move || format!("Default: {} (more passages can find more, but the first word comes later)", default_passages())}</p>
            </div>
            <div class="field">
                <label>"Theme"</label>
                <div class="segmented">
                    {[(Theme::System, "System"), (Theme::Light, "Light"), (Theme::Dark, "Dark")].into_iter().map(|(t, label)| view! {
                        <button class:active=move || s.settings.with(|v| v.theme == t)
                            on:click=move |_| edit(&move |v| v.theme = t)>{label}</button>
                    }).collect_view()}
                </div>
            </div>
            <div class="field paths" data-testid="about">
                <label>"About Cairn"</label>
                <div data-testid="about-version">{move || s.status.with(|st| format!(
                    "Cairn {} · index format {}", st.version, st.index_format))}</div>
                <div><span class="muted">"Answer model: "</span>
                    <span data-testid="about-answer-model">{move || s.status.with(|st| answer_model(&st.model))}</span></div>
                <div><span class="muted">"Embedding model: "</span>
                    <span data-testid="about-embedding-model">{move || s.status.with(|st|
                        st.embedding_model.clone().unwrap_or_else(|| "not loaded".into()))}</span></div>
                <div><span class="muted">"Index: "</span>{move || s.status.with(|st| st.data_dir.clone())}</div>
                <div><span class="muted">"Models: "</span>{move || s.status.with(|st| st.models_dir.clone())}</div>
                <p class="hint">"Everything runs on this computer: documents, index and models never leave it, and Cairn makes no network connections."</p>
            </div>
        </section>
    }
}

/// The answer model in use, as the About section names it.
fn answer_model(state: &ModelState) -> String {
    match state {
        ModelState::Missing => "none installed".into(),
        ModelState::Idle { name } => format!("{name} (loads when a question is typed)"),
        ModelState::Loading { name } => format!("{name} (loading)"),
        ModelState::Ready {
            name, architecture, ..
        } => format!("{name} ({architecture}, loaded)"),
        ModelState::Failed { name, error } => format!("{name} could not be loaded: {error}"),
    }
}
