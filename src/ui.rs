//! Progress events and their renderers. Every long-running command emits `Event`s to one
//! `Reporter`: live lines on a terminal (indicatif), plain lines otherwise, JSON lines with
//! `--output json`. Progress always goes to stderr; stdout is kept for results.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::OutputFormat;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StepStarted {
        component: String,
        step: String,
    },
    StepFinished {
        component: String,
        step: String,
        millis: u64,
    },
    StepFailed {
        component: String,
        step: String,
        error: String,
    },
    PullProgress {
        image: String,
        current: u64,
        total: u64,
    },
    ComponentReady {
        component: String,
        millis: u64,
    },
    Info {
        message: String,
    },
}

pub trait Reporter: Send + Sync {
    fn emit(&self, event: Event);
    /// Clears live output before results are printed.
    fn finish(&self) {}
}

/// Picks the renderer for `format`; `auto` means tty when stderr is a terminal.
pub fn reporter(format: OutputFormat) -> Box<dyn Reporter> {
    match format {
        OutputFormat::Json => Box::new(JsonReporter {
            start: Instant::now(),
        }),
        OutputFormat::Plain => Box::new(PlainReporter::new()),
        OutputFormat::Tty => Box::new(TtyReporter::new()),
        OutputFormat::Auto if std::io::stderr().is_terminal() => Box::new(TtyReporter::new()),
        OutputFormat::Auto => Box::new(PlainReporter::new()),
    }
}

pub fn is_json(format: OutputFormat) -> bool {
    format == OutputFormat::Json
}

/// One JSON object per event, with `t_ms`: milliseconds since the command started (for
/// per-step timings, e.g. scripts/bench.sh).
pub struct JsonReporter {
    start: Instant,
}

impl Reporter for JsonReporter {
    fn emit(&self, event: Event) {
        if let Ok(mut v) = serde_json::to_value(&event) {
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "t_ms".into(),
                    (self.start.elapsed().as_millis() as u64).into(),
                );
            }
            let _ = writeln!(std::io::stderr().lock(), "{v}");
        }
    }
}

pub struct PlainReporter {
    start: Instant,
    /// Last pull percentage printed per image, so plain output stays short.
    pulls: Mutex<HashMap<String, u64>>,
}

impl PlainReporter {
    pub fn new() -> Self {
        PlainReporter {
            start: Instant::now(),
            pulls: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for PlainReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for PlainReporter {
    fn emit(&self, event: Event) {
        let t = self.start.elapsed().as_secs_f64();
        let line = match event {
            Event::StepStarted { component, step } => format!("{component}: {step} ..."),
            Event::StepFinished {
                component,
                step,
                millis,
            } => {
                format!("{component}: {step} done ({})", secs(millis))
            }
            Event::StepFailed {
                component,
                step,
                error,
            } => format!("{component}: {step} FAILED: {error}"),
            Event::PullProgress {
                image,
                current,
                total,
            } => {
                let pct = (current * 100).checked_div(total).unwrap_or(0);
                let mut pulls = self.pulls.lock().unwrap();
                let last = pulls.entry(image.clone()).or_insert(u64::MAX);
                // Every 25%, not every chunk.
                if *last != u64::MAX && pct / 25 == *last / 25 {
                    return;
                }
                *last = pct;
                format!("pull {image}: {pct}% of {}", bytes(total))
            }
            Event::ComponentReady { component, millis } => {
                format!("{component}: ready ({})", secs(millis))
            }
            Event::Info { message } => message,
        };
        let _ = writeln!(std::io::stderr().lock(), "[{t:6.1}s] {line}");
    }
}

/// One live line per component, plus a byte bar per image pull.
pub struct TtyReporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl TtyReporter {
    pub fn new() -> Self {
        TtyReporter {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, key: &str, pull: bool) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap();
        bars.entry(key.to_owned())
            .or_insert_with(|| {
                let bar = if pull {
                    let b = ProgressBar::new(0);
                    b.set_style(
                        ProgressStyle::with_template(
                            "  {prefix:<12} {bar:30} {bytes}/{total_bytes} {msg}",
                        )
                        .expect("valid template"),
                    );
                    b
                } else {
                    let b = ProgressBar::new_spinner();
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:<12} {msg}")
                            .expect("valid template"),
                    );
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                };
                bar.set_prefix(key.to_owned());
                self.multi.add(bar)
            })
            .clone()
    }
}

impl Default for TtyReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for TtyReporter {
    fn emit(&self, event: Event) {
        match event {
            Event::StepStarted { component, step } => self
                .bar(&component, false)
                .set_message(format!("{step} ...")),
            Event::StepFinished {
                component,
                step,
                millis,
            } => self
                .bar(&component, false)
                .set_message(format!("{step} done ({})", secs(millis))),
            Event::StepFailed {
                component,
                step,
                error,
            } => {
                let b = self.bar(&component, false);
                b.abandon_with_message(format!("✗ {step}: {error}"));
            }
            Event::PullProgress {
                image,
                current,
                total,
            } => {
                let b = self.bar(&format!("pull {image}"), true);
                b.set_length(total);
                b.set_position(current);
            }
            Event::ComponentReady { component, millis } => {
                let b = self.bar(&component, false);
                b.set_style(
                    ProgressStyle::with_template("✓ {prefix:<12} {msg}").expect("valid template"),
                );
                b.finish_with_message(format!("ready ({})", secs(millis)));
            }
            Event::Info { message } => {
                let _ = self.multi.println(message);
            }
        }
    }

    fn finish(&self) {
        for b in self.bars.lock().unwrap().values() {
            if !b.is_finished() {
                b.finish();
            }
        }
    }
}

fn secs(millis: u64) -> String {
    format!("{:.1}s", millis as f64 / 1000.0)
}

fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
