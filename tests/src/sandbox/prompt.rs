//! The sandbox prompt: lines typed with editing and history (rustyline), Tab completion
//! ([`super::completion`], the bot's own autocomplete included), and what the bot posts
//! printed above the line being typed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, ExternalPrinter as _, Helper};
use serde_json::Value;

use crate::discord_sim::DiscordSimulator;
use crate::discord_sim::interactions::{Member, Opt};

use super::completion;
use super::console::{self, Console};
use super::render::Style;

/// How long Tab waits for the bot's suggestions.
const SUGGESTIONS_WAIT: Duration = Duration::from_secs(3);

/// Prints a block of text without breaking the line being typed.
pub type Print = Arc<dyn Fn(String) + Send + Sync>;

/// Tab completion, asking the bot through the simulator for autocompleted options.
struct PromptHelper {
    sim: Arc<DiscordSimulator>,
    member: Member,
    runtime: tokio::runtime::Handle,
}

impl Completer for PromptHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let registered = self.sim.registered_commands().unwrap_or(Value::Null);
        let ask = |path: &str, earlier: Vec<(String, Opt)>, name: &str, typed: &str| {
            let mut options: Vec<(&str, Opt)> = earlier
                .iter()
                .map(|(n, o)| (n.as_str(), o.clone()))
                .collect();
            options.push((name, Opt::Focused(typed.to_owned())));
            let Ok(sent) = self.sim.try_autocomplete(0, &self.member, path, &options) else {
                return Vec::new();
            };
            // The wait runs on the runtime; this thread (the editor's) only waits for its
            // result, bounded, so nothing here can hold the runtime up.
            let (tx, rx) = std::sync::mpsc::channel();
            let sim = Arc::clone(&self.sim);
            self.runtime.spawn(async move {
                let _ = tx.send(sim.first_answer(&sent, SUGGESTIONS_WAIT).await);
            });
            match rx.recv_timeout(SUGGESTIONS_WAIT + Duration::from_secs(1)) {
                Ok(Ok(answer)) => answer.choices().into_iter().map(|(_, v)| v).collect(),
                _ => Vec::new(),
            }
        };
        let before = line.get(..pos).unwrap_or(line);
        Ok(completion::complete(before, &registered, &ask))
    }
}

impl Hinter for PromptHelper {
    type Hint = String;
}
impl Highlighter for PromptHelper {}
impl Validator for PromptHelper {}
impl Helper for PromptHelper {}

/// Reads typed lines until `quit`, Ctrl-C or the end of input, with every post shown as it
/// comes.
pub async fn run(
    mut console: Console<'_>,
    sim: Arc<DiscordSimulator>,
    member: Member,
    style: Style,
) {
    let mut editor = match Editor::<PromptHelper, DefaultHistory>::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("the prompt cannot start: {e}");
            return;
        }
    };
    editor.set_helper(Some(PromptHelper {
        sim: Arc::clone(&sim),
        member,
        runtime: tokio::runtime::Handle::current(),
    }));
    // Above the line being typed on a terminal; plain lines otherwise. The editor's
    // printer waits while the editor is busy (completing, say), so it gets a thread of its
    // own, fed without waiting: a post never holds up the runtime.
    let print: Print = match editor.create_external_printer() {
        Ok(mut printer) => {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            std::thread::spawn(move || {
                while let Ok(text) = rx.recv() {
                    if printer.print(text).is_err() {
                        return;
                    }
                }
            });
            let tx = Mutex::new(tx);
            Arc::new(move |text: String| {
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send(text);
                }
            })
        }
        Err(_) => Arc::new(|text: String| print!("{text}")),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
    // A thread of its own: reading the terminal blocks.
    std::thread::spawn(move || {
        loop {
            match editor.readline("sandbox> ") {
                Ok(line) => {
                    let _ = editor.add_history_entry(line.as_str());
                    // Not back into the editor after the last line: it would leave the
                    // terminal in raw mode.
                    let last = matches!(line.trim(), "quit" | "exit");
                    if tx.blocking_send(line).is_err() || last {
                        return;
                    }
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) | Err(_) => {
                    let _ = tx.blocking_send("quit".to_owned());
                    return;
                }
            }
        }
    });
    let live = console::show_live(&sim, style, Arc::clone(&print));
    let typed = async {
        while let Some(line) = rx.recv().await {
            let line = line.trim();
            if matches!(line, "quit" | "exit") {
                return;
            }
            match console.run(line).await {
                Ok(shown) if !shown.is_empty() => print(shown),
                Ok(_) => {}
                Err(e) => print(format!("  {e}\n")),
            }
        }
    };
    tokio::select! {
        () = live => {}
        () = typed => {}
    }
}
