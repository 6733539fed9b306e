//! Where scripts' output goes: `print` and `debug` lines, and the progress
//! bar of long runs (`progress(current, total, message)`), drawn with
//! indicatif only when stdout is a terminal.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where `print` and `debug` write.
#[derive(Clone, Debug, Default)]
pub enum Output {
    /// `print` to stdout, `debug` to stderr.
    #[default]
    Std,
    /// Kept in memory, one line per `print` (`debug` lines start with
    /// `[debug] `): for tests and embedding.
    Capture(Arc<Mutex<String>>),
}

impl Output {
    /// An output kept in memory, and the text it collects.
    pub fn capture() -> (Output, Arc<Mutex<String>>) {
        let text = Arc::new(Mutex::new(String::new()));
        (Output::Capture(text.clone()), text)
    }
}

/// The output of one session: its lines and its progress bar.
pub struct Console {
    output: Output,
    /// Whether progress is drawn at all.
    bars: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Console {
    /// `bars`: draw progress bars (ignored unless stdout is a terminal).
    pub fn new(output: Output, bars: bool) -> Console {
        let bars = bars && matches!(output, Output::Std) && std::io::stdout().is_terminal();
        Console {
            output,
            bars,
            bar: Mutex::new(None),
        }
    }

    fn with_bar<R>(&self, f: impl FnOnce(&mut Option<ProgressBar>) -> R) -> R {
        match self.bar.lock() {
            Ok(mut bar) => f(&mut bar),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// A `print` line.
    pub fn print(&self, text: &str) {
        match &self.output {
            Output::Std => self.with_bar(|bar| match bar {
                Some(bar) => bar.suspend(|| println!("{text}")),
                None => println!("{text}"),
            }),
            Output::Capture(buf) => push_line(buf, text),
        }
    }

    /// A `debug` line.
    pub fn debug(&self, text: &str) {
        match &self.output {
            Output::Std => self.with_bar(|bar| match bar {
                Some(bar) => bar.suspend(|| eprintln!("{text}")),
                None => eprintln!("{text}"),
            }),
            Output::Capture(buf) => push_line(buf, &format!("[debug] {text}")),
        }
    }

    /// Show that `current` of `total` steps are done; a bar that reaches
    /// its total is finished, and the next call starts a new one.
    pub fn progress(&self, current: u64, total: u64, message: &str) {
        if !self.bars {
            return;
        }
        self.with_bar(|slot| {
            let bar = slot.get_or_insert_with(|| new_bar(total));
            if bar.length() != Some(total) {
                bar.set_length(total);
            }
            bar.set_position(current.min(total));
            bar.set_message(message.to_string());
            if current >= total {
                bar.finish();
                *slot = None;
            }
        });
    }

    /// Close an unfinished bar (at the end of a run).
    pub fn finish(&self) {
        self.with_bar(|slot| {
            if let Some(bar) = slot.take() {
                bar.abandon();
            }
        });
    }
}

fn new_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
    if let Ok(style) = ProgressStyle::with_template(
        "[{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn push_line(buf: &Mutex<String>, text: &str) {
    let mut buf = match buf.lock() {
        Ok(b) => b,
        Err(poisoned) => poisoned.into_inner(),
    };
    buf.push_str(text);
    buf.push('\n');
}
