//! The chat: questions, streamed answers, citation chips and the empty state.

use crate::api;
use crate::app::{store, Store, Streaming, View};
use crate::source;
use cairn_ipc::view::{count, file_name, segments, Segment};
use cairn_ipc::{AskEvent, ChatTurn, Citation, TurnStatus};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

fn send(s: Store, question: String) {
    let question = question.trim().to_string();
    if question.is_empty() || s.streaming.with_untracked(|x| x.is_some()) {
        return;
    }
    s.streaming.set(Some(Streaming {
        question: question.clone(),
        text: String::new(),
        phase: "Searching your documents…".into(),
        searched_for: None,
        evidence: Vec::new(),
    }));
    let asked = question.clone();
    spawn_local(async move {
        let result = api::ask(&question, move |e| match e {
            AskEvent::Searched { query } => s.streaming.update(|x| {
                if let Some(x) = x {
                    x.searched_for = (query != asked).then_some(query);
                }
            }),
            AskEvent::Evidence {
                evidence,
                answerable,
            } => s.streaming.update(|x| {
                if let Some(x) = x {
                    x.phase = if answerable {
                        "Writing the answer…".into()
                    } else {
                        "Nothing relevant found.".into()
                    };
                    x.evidence = evidence;
                }
            }),
            AskEvent::LoadingModel { name } => s.streaming.update(|x| {
                if let Some(x) = x {
                    x.phase = format!("Loading {name}…");
                }
            }),
            AskEvent::Token { text } => s.streaming.update(|x| {
                if let Some(x) = x {
                    x.text.push_str(&text);
                }
            }),
            AskEvent::Done { .. } | AskEvent::Error { .. } => {}
        })
        .await;
        s.streaming.set(None);
        match result {
            Ok(turn) => s.turns.update(|t| t.push(turn)),
            Err(e) => s.fail(e),
        }
        s.focus_question.update(|n| *n += 1);
    });
}

#[component]
pub fn ChatView() -> impl IntoView {
    let s = store();
    let input: NodeRef<html::Textarea> = NodeRef::new();
    let draft = RwSignal::new(String::new());

    Effect::new(move |_| {
        s.focus_question.track();
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    });
    // Keep the newest text in view while an answer streams.
    Effect::new(move |_| {
        s.streaming.track();
        s.turns.track();
        if let Some(el) = document().get_element_by_id("chat-end") {
            el.scroll_into_view();
        }
    });

    let submit = move || {
        let q = draft.get_untracked();
        if !q.trim().is_empty() && s.streaming.with_untracked(|x| x.is_none()) {
            draft.set(String::new());
            send(s, q);
        }
    };
    let new_chat = move |_| {
        spawn_local(async move {
            match api::new_chat().await {
                Ok(()) => {
                    s.turns.set(Vec::new());
                    s.source.set(None);
                }
                Err(e) => s.fail(e),
            }
        });
    };

    view! {
        <section class="chat">
            <header class="chat-head">
                <h1>"Ask your documents"</h1>
                <button class="secondary" data-testid="new-chat" on:click=new_chat
                    disabled=move || s.streaming.with(|x| x.is_some())>"New chat"</button>
            </header>
            <div class="messages" data-testid="messages">
                <EmptyState/>
                <For each=move || s.turns.get() key=|t| t.id let:turn>
                    <Turn turn=turn/>
                </For>
                {move || s.streaming.get().map(|st| view! {
                    <article class="turn streaming" data-testid="streaming">
                        <div class="question">{st.question}</div>
                        <SearchedFor query=st.searched_for/>
                        <EvidenceList evidence=st.evidence label="Evidence"/>
                        <div class="answer" data-testid="streaming-answer">
                            {if st.text.is_empty() {
                                view! { <span class="phase">{st.phase}</span> }.into_any()
                            } else {
                                view! { <span>{st.text}</span><span class="cursor" aria-hidden="true"></span> }.into_any()
                            }}
                        </div>
                    </article>
                })}
                <div id="chat-end"></div>
            </div>
            <form class="composer" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <textarea node_ref=input rows="2" data-testid="question"
                    placeholder="Ask a question about your documents"
                    prop:value=move || draft.get()
                    on:input=move |ev| {
                        let first_keystroke = draft.with_untracked(|d| d.is_empty());
                        draft.set(event_target_value(&ev));
                        if first_keystroke {
                            // Loads the answer model while the question is typed.
                            spawn_local(async move {
                                if let Err(e) = api::warm_up_model().await { s.fail(e) }
                            });
                        }
                    }
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                            ev.prevent_default();
                            submit();
                        }
                    }
                ></textarea>
                {move || if s.streaming.with(|x| x.is_some()) {
                    view! { <button type="button" class="stop" data-testid="stop"
                        on:click=move |_| spawn_local(async move {
                            if let Err(e) = api::stop_answer().await { s.fail(e) }
                        })>"Stop (Esc)"</button> }.into_any()
                } else {
                    view! { <button type="submit" data-testid="send"
                        disabled=move || draft.with(|d| d.trim().is_empty())>"Ask"</button> }.into_any()
                }}
            </form>
        </section>
    }
}

#[component]
fn EmptyState() -> impl IntoView {
    let s = store();
    move || {
        if !s.turns.with(|t| t.is_empty()) || s.streaming.with(|x| x.is_some()) {
            return None;
        }
        let docs = s.status.with(|st| st.documents);
        Some(if docs == 0 {
            view! {
                <div class="empty" data-testid="empty-state">
                    <div class="empty-mark" aria-hidden="true"></div>
                    <h2>"Start by adding documents"</h2>
                    <p>"Drag files or folders onto this window, or use "<b>"Add files…"</b>" / "
                       <b>"Add folder…"</b>". PDFs, text, Markdown, HTML, Word files and source code are read on this computer and never leave it."</p>
                    <p class="hint">"Then ask a question: every answer cites the file and page it came from."</p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty" data-testid="empty-state">
                    <div class="empty-mark" aria-hidden="true"></div>
                    <h2>{format!("Ask anything about your {}", count(docs, "document", "documents"))}</h2>
                    <p>"Answers come only from your files, with numbered citations you can click to see the passage. If your files do not say, Cairn tells you so."</p>
                    <p class="hint">"Enter sends · Esc stops · Ctrl+K comes back here"</p>
                </div>
            }
            .into_any()
        })
    }
}

/// The answer's text with its `[n]` markers as citation chips.
fn answer_body(text: &str, citations: &[Citation]) -> impl IntoView {
    segments(text)
        .into_iter()
        .map(|seg| match seg {
            Segment::Text(t) => view! { <span>{t}</span> }.into_any(),
            Segment::Cite(n) => match citations.iter().find(|c| c.n == n).cloned() {
                Some(c) => view! { <CiteChip c=c/> }.into_any(),
                None => view! { <span>{format!("[{n}]")}</span> }.into_any(),
            },
        })
        .collect_view()
}

/// "Searched for: …" under a follow-up whose question was rewritten, so a
/// wrong rewrite is visible.
#[component]
fn SearchedFor(query: Option<String>) -> impl IntoView {
    query.map(|q| {
        view! { <div class="searched" data-testid="searched-for"><span class="label">"Searched for: "</span>{q}</div> }
    })
}

/// Evidence sentences with their file and page; a click opens the passage.
#[component]
fn EvidenceList(evidence: Vec<Citation>, label: &'static str) -> impl IntoView {
    let s = store();
    (!evidence.is_empty()).then(|| {
        let items = evidence
            .into_iter()
            .take(4)
            .map(|c| {
                let page = c.page.map(|p| format!(", p. {p}")).unwrap_or_default();
                let where_ = format!("{}{page}", file_name(&c.path));
                let snippet: String = {
                    let flat = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if flat.chars().count() > 220 {
                        format!("{}…", flat.chars().take(220).collect::<String>())
                    } else {
                        flat
                    }
                };
                let open = c.clone();
                view! {
                    <li>
                        <button class="evidence-item" data-testid="evidence" title=c.path.clone()
                            on:click=move |_| {
                                source::open(s, open.clone());
                                if s.view.get_untracked() != View::Chat { s.view.set(View::Chat) }
                            }>
                            <span class="where">{where_}</span>
                            <span class="quote">{snippet}</span>
                        </button>
                    </li>
                }
            })
            .collect_view();
        view! {
            <div class="evidence">
                <span class="label">{label}</span>
                <ul>{items}</ul>
            </div>
        }
    })
}

#[component]
fn Turn(turn: ChatTurn) -> impl IntoView {
    let citations = turn.citations.clone();
    // Sentence by sentence when the support check ran, so an unsupported one
    // can be marked; otherwise the text as it is.
    let body = if turn.sentences.is_empty() {
        answer_body(&turn.answer, &citations).into_any()
    } else {
        turn.sentences
            .iter()
            .map(|sen| {
                let supported = sen.supported;
                view! {
                    <span class="sentence" class:unsupported=!supported data-testid="sentence"
                        data-supported=supported.to_string()
                        title=if supported { "" } else { "Not supported by the cited passage: check it before relying on it" }>
                        {answer_body(&sen.text, &citations)}
                    </span>
                    " "
                }
            })
            .collect_view()
            .into_any()
    };
    let status = match turn.status {
        TurnStatus::Done => None,
        TurnStatus::Stopped => Some("Stopped"),
        TurnStatus::Failed => Some("Failed"),
    };
    let meta = if turn.model.is_empty() || turn.ms_to_first_token == 0 {
        String::new()
    } else {
        format!(
            "{} · first word after {:.1} s · {:.1} tokens/s",
            turn.model,
            turn.ms_to_first_token as f64 / 1000.0,
            turn.tokens_per_s
        )
    };
    let unsupported = turn.sentences.iter().filter(|x| !x.supported).count();
    let sources = turn.citations.clone();
    let refused = !turn.grounded && turn.status == TurnStatus::Done;
    let nearest = if refused {
        turn.evidence.clone()
    } else {
        Vec::new()
    };
    view! {
        <article class="turn" data-testid="turn" data-refused=refused.to_string()>
            <div class="question">{turn.question.clone()}</div>
            <SearchedFor query=turn.searched_for.clone()/>
            <div class="answer" data-testid="answer" class:ungrounded=!turn.grounded>{body}</div>
            {turn.withdrawn.then(|| view! {
                <div class="warning" data-testid="withdrawn-note">
                    "The model wrote an answer, but none of it is supported by the passages it cites, so it was withdrawn."
                </div>
            })}
            {(unsupported > 0).then(|| view! {
                <div class="warning" data-testid="unsupported-note">{
                    if unsupported == 1 {
                        "The marked sentence is not supported by the passage it cites.".to_string()
                    } else {
                        format!("The {unsupported} marked sentences are not supported by the passages they cite.")
                    }
                }</div>
            })}
            {(!sources.is_empty()).then(|| view! {
                <div class="sources">
                    <span class="label">"Sources"</span>
                    {sources.into_iter().map(|c| view! { <CiteChip c=c long=true/> }).collect_view()}
                </div>
            })}
            <div data-testid="nearest"><EvidenceList evidence=nearest label="Nearest sources"/></div>
            <div class="meta">
                {status.map(|st| view! { <span class="badge">{st}</span> })}
                <span>{meta}</span>
            </div>
        </article>
    }
}

/// A citation: `[n]` in the text, or `[n] file, p. 3` in the sources row.
#[component]
fn CiteChip(c: Citation, #[prop(optional)] long: bool) -> impl IntoView {
    let s = store();
    let page = c.page.map(|p| format!(", p. {p}")).unwrap_or_default();
    let name = file_name(&c.path).to_string();
    let label = if long {
        format!("[{}] {name}{page}", c.n)
    } else {
        format!("[{}]", c.n)
    };
    let title = format!("{}{page}", c.path);
    let open = c.clone();
    view! {
        <button class="chip" class:long=long title=title data-testid="citation"
            data-path=c.path.clone() data-page=c.page.map(|p| p.to_string()).unwrap_or_default()
            on:click=move |_| {
                source::open(s, open.clone());
                if s.view.get_untracked() != View::Chat { s.view.set(View::Chat) }
            }>{label}</button>
    }
}
