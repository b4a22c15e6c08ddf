//! The source pane: the cited page's text with the passage highlighted, and a
//! button to open the original file in the system's viewer.

use crate::api;
use crate::app::{store, Store};
use cairn_ipc::view::{file_name, highlight};
use cairn_ipc::{Citation, SourcePage};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// What the pane shows: the citation, and the page once it has loaded.
#[derive(Debug, Clone)]
pub struct Open {
    pub citation: Citation,
    pub page: Option<Result<SourcePage, String>>,
}

/// Opens the pane on a citation and loads its page.
pub fn open(s: Store, citation: Citation) {
    s.source.set(Some(Open {
        citation: citation.clone(),
        page: None,
    }));
    spawn_local(async move {
        let page = api::source_page(&citation.path, citation.page).await;
        s.source.update(|o| {
            // Only if the user has not opened another citation meanwhile.
            if let Some(o) = o.as_mut().filter(|o| o.citation == citation) {
                o.page = Some(page);
            }
        });
    });
}

#[component]
pub fn SourcePane() -> impl IntoView {
    let s = store();
    // Bring the highlighted passage into view once the page text is shown.
    Effect::new(move |_| {
        if s.source
            .with(|o| o.as_ref().is_some_and(|o| o.page.is_some()))
        {
            request_animation_frame(|| {
                if let Some(el) = document().get_element_by_id("source-mark") {
                    let opts = web_sys::ScrollIntoViewOptions::new();
                    opts.set_block(web_sys::ScrollLogicalPosition::Center);
                    el.scroll_into_view_with_scroll_into_view_options(&opts);
                }
            });
        }
    });
    move || {
        s.source.get().map(|o| {
            let c = o.citation.clone();
            let page = c.page.map(|p| format!("Page {p}")).unwrap_or_default();
            let path = c.path.clone();
            let body = match o.page {
                None => view! { <p class="phase">"Loading the page…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(p)) => {
                    let h = highlight(&p.text, c.start, c.end, &c.text);
                    let pages = if p.pages > 1 {
                        format!(" of {}", p.pages)
                    } else {
                        String::new()
                    };
                    view! {
                        <div class="page-count">{format!("{page}{pages}")}</div>
                        <pre class="page-text" data-testid="source-text">
                            {h.before}
                            <mark id="source-mark" data-testid="source-mark">{h.passage}</mark>
                            {h.after}
                        </pre>
                    }
                    .into_any()
                }
            };
            view! {
                <aside class="source" data-testid="source-pane" data-path=c.path.clone()
                    data-page=c.page.map(|p| p.to_string()).unwrap_or_default()>
                    <header>
                        <div>
                            <div class="source-title" data-testid="source-title" title=c.path.clone()>
                                {format!("[{}] {}", c.n, file_name(&c.path))}
                            </div>
                            <div class="source-sub" data-testid="source-page">{page.clone()}</div>
                        </div>
                        <button class="link" title="Close (Esc)" data-testid="source-close" on:click=move |_| s.source.set(None)>"Close"</button>
                    </header>
                    <div class="source-body">{body}</div>
                    <footer>
                        <button class="secondary" on:click=move |_| {
                            let path = path.clone();
                            spawn_local(async move {
                                if let Err(e) = api::open_document(&path).await { s.fail(e) }
                            });
                        }>"Open file"</button>
                    </footer>
                </aside>
            }
        })
    }
}
