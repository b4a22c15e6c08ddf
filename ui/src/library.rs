//! The library: indexed documents, watched folders, remove and re-index.

use crate::api;
use crate::app::store;
use cairn_ipc::view::size;
use cairn_ipc::DocumentRow;
use leptos::prelude::*;
use leptos::task::spawn_local;

fn when(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    js_sys::Date::new(&(ms as f64).into())
        .to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

#[component]
pub fn LibraryView() -> impl IntoView {
    let s = store();
    s.refresh_docs();
    let watch = move |_| {
        spawn_local(async move {
            match api::pick(true, true).await {
                Ok(_) => s.refresh_status(),
                Err(e) => s.fail(e),
            }
        });
    };
    view! {
        <section class="library" data-testid="library">
            <header class="chat-head">
                <h1>"Library"</h1>
                <div class="actions">
                    <button class="secondary" on:click=move |_| spawn_local(async move {
                        if let Err(e) = api::pick(false, false).await { s.fail(e) }
                    })>"Add files…"</button>
                    <button class="secondary" on:click=move |_| spawn_local(async move {
                        if let Err(e) = api::pick(true, false).await { s.fail(e) }
                    })>"Add folder…"</button>
                    <button on:click=watch>"Watch a folder…"</button>
                </div>
            </header>
            <div class="watched">
                <h2>"Watched folders"</h2>
                <p class="hint">"New, changed and deleted files in these folders are picked up automatically."</p>
                {move || {
                    let watched = s.status.with(|st| st.watched.clone());
                    if watched.is_empty() {
                        view! { <p class="muted">"None yet."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="watched-list">
                                {watched.into_iter().map(|w| {
                                    let path = w.clone();
                                    view! {
                                        <li><span class="path">{w}</span>
                                            <button class="link" on:click=move |_| {
                                                let path = path.clone();
                                                spawn_local(async move {
                                                    match api::unwatch(&path).await {
                                                        Ok(list) => s.status.update(|st| st.watched = list),
                                                        Err(e) => s.fail(e),
                                                    }
                                                });
                                            }>"Stop watching"</button></li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }}
            </div>
            {move || {
                let docs = s.docs.get();
                if docs.is_empty() {
                    return view! {
                        <p class="empty-lib" data-testid="library-empty">"No documents yet. Drop files or folders anywhere on this window."</p>
                    }.into_any();
                }
                view! {
                    <table class="docs" data-testid="library-table">
                        <thead><tr>
                            <th>"Document"</th><th>"Type"</th><th class="num">"Pages"</th>
                            <th class="num">"Passages"</th><th class="num">"Size"</th>
                            <th>"Status"</th><th>"Indexed"</th><th></th>
                        </tr></thead>
                        <tbody>
                            <For each=move || docs.clone() key=|d| (d.path.clone(), d.indexed_at_ms) let:d>
                                <DocRow d=d/>
                            </For>
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn DocRow(d: DocumentRow) -> impl IntoView {
    let s = store();
    let confirming = RwSignal::new(false);
    let p1 = d.path.clone();
    let p2 = d.path.clone();
    let p3 = d.path.clone();
    view! {
        <tr data-testid="doc-row" data-path=d.path.clone()>
            <td class="doc-name" title=d.path.clone()>
                <button class="link" title="Open in the system viewer" on:click=move |_| {
                    let p = p1.clone();
                    spawn_local(async move { if let Err(e) = api::open_document(&p).await { s.fail(e) } });
                }>{d.name.clone()}</button>
                <div class="path muted">{d.path.clone()}</div>
            </td>
            <td>{d.format.clone()}</td>
            <td class="num">{d.pages}</td>
            <td class="num">{d.chunks}</td>
            <td class="num">{size(d.size)}</td>
            <td><span class="badge" class:warn=d.status != "indexed">{d.status.clone()}</span></td>
            <td>{when(d.indexed_at_ms)}</td>
            <td class="row-actions">
                <button class="link" on:click=move |_| {
                    let p = p2.clone();
                    spawn_local(async move { if let Err(e) = api::reindex(&p).await { s.fail(e) } });
                }>"Re-index"</button>
                {move || if confirming.get() {
                    let p = p3.clone();
                    view! {
                        <button class="link danger" data-testid="confirm-remove" on:click=move |_| {
                            let p = p.clone();
                            spawn_local(async move {
                                match api::remove_document(&p).await {
                                    Ok(_) => { s.refresh_docs(); s.refresh_status(); }
                                    Err(e) => s.fail(e),
                                }
                            });
                        }>"Remove from index?"</button>
                        <button class="link" on:click=move |_| confirming.set(false)>"Keep"</button>
                    }.into_any()
                } else {
                    view! { <button class="link" on:click=move |_| confirming.set(true)>"Remove"</button> }.into_any()
                }}
            </td>
        </tr>
    }
}
