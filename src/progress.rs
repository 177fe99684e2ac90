//! The progress display on standard error while captures are read: a bar when the inputs'
//! total size is known, a spinner with bytes, packets and rate when it is not (standard input,
//! a pipe), and nothing at all for a run that ends within half a second. The pipeline reports
//! through a plain function ([`report`]), so the display of the one run in progress lives in a
//! process-wide slot ([`start`], [`finish`]).

use crate::capture::ReadProgress;
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A run that ends sooner shows no progress at all.
pub const SHOW_AFTER: Duration = Duration::from_millis(500);
/// How often the spinner turns while no input arrives.
const TICK: Duration = Duration::from_millis(100);
const BAR_TEMPLATE: &str = "{spinner} {bytes}/{total_bytes} {wide_bar} {eta} left";
const SPINNER_TEMPLATE: &str = "{spinner} {bytes} read, {msg}, {bytes_per_sec}";

/// A progress display that stays hidden until [`SHOW_AFTER`] has passed since the run began.
#[derive(Debug)]
pub struct ProgressDisplay {
    began: Instant,
    bar: ProgressBar,
    /// Where the display draws once shown; taken when it shows.
    target: Mutex<Option<ProgressDrawTarget>>,
}

impl ProgressDisplay {
    /// A display for a run that began at `began`, drawn on `target` once shown.
    pub fn new(began: Instant, target: ProgressDrawTarget) -> Self {
        ProgressDisplay {
            began,
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            target: Mutex::new(Some(target)),
        }
    }

    /// Shows `progress` (once the run is old enough to show anything).
    pub fn update(&self, progress: ReadProgress) {
        let mut target = lock(&self.target);
        if target.is_some() && self.began.elapsed() < SHOW_AFTER {
            return;
        }
        self.bar
            .set_message(format!("{} packets", HumanCount(progress.packets)));
        let position = match progress.total_bytes {
            Some(total) => progress.bytes.min(total),
            None => progress.bytes,
        };
        self.bar.set_position(position);
        // The first time: the style for this run, then the first drawing, of this progress.
        if let Some(shown) = target.take() {
            self.bar.set_style(style(progress.total_bytes));
            self.bar.set_length(progress.total_bytes.unwrap_or(0));
            self.bar.set_draw_target(shown);
            self.bar.tick();
            self.bar.enable_steady_tick(TICK);
        }
    }

    /// Clears the display (a display never shown writes nothing).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar for a known total, else a spinner with bytes, packets and rate.
fn style(total_bytes: Option<u64>) -> ProgressStyle {
    let template = match total_bytes {
        Some(_) => BAR_TEMPLATE,
        None => SPINNER_TEMPLATE,
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The display of the run in progress, if it shows progress.
static CURRENT: Mutex<Option<ProgressDisplay>> = Mutex::new(None);

/// Starts a display on standard error for the run beginning now.
pub fn start() {
    *lock(&CURRENT) = Some(ProgressDisplay::new(
        Instant::now(),
        ProgressDrawTarget::stderr(),
    ));
}

/// Shows `progress` on the display of the run in progress (the pipeline's progress callback).
pub fn report(progress: ReadProgress) {
    if let Some(display) = lock(&CURRENT).as_ref() {
        display.update(progress);
    }
}

/// Ends the display of the run in progress, if any.
pub fn finish() {
    if let Some(display) = lock(&CURRENT).take() {
        display.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::TermLike;
    use std::io;
    use std::sync::Arc;

    /// A terminal that records what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<String>>);

    impl Recorder {
        fn text(&self) -> String {
            lock(&self.0).clone()
        }
        fn write(&self, s: &str) -> io::Result<()> {
            lock(&self.0).push_str(s);
            Ok(())
        }
    }

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            self.write("<up>")
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            self.write("<down>")
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            self.write("<right>")
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            self.write("<left>")
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write(s)?;
            self.write("\n")
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.write(s)
        }
        fn clear_line(&self) -> io::Result<()> {
            self.write("<clear>")
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A display for a run that began `ago`, drawing on a recorder.
    fn display(ago: Duration) -> (ProgressDisplay, Recorder) {
        let recorder = Recorder::default();
        let target = ProgressDrawTarget::term_like(Box::new(recorder.clone()));
        (ProgressDisplay::new(Instant::now() - ago, target), recorder)
    }

    const READ: ReadProgress = ReadProgress {
        bytes: 3 * 1024 * 1024,
        packets: 12_345,
        total_bytes: None,
    };

    #[test]
    fn an_unknown_total_shows_bytes_packets_and_rate_and_no_total() {
        let (display, recorder) = display(Duration::from_secs(2));
        display.update(READ);
        display.finish();
        let text = recorder.text();
        assert!(text.contains("3.00 MiB read, 12,345 packets, "), "{text}");
        assert!(text.contains("/s"), "{text}");
        assert!(
            !text.contains("0 B/0 B") && !text.contains("left"),
            "{text}"
        );
    }

    #[test]
    fn a_known_total_shows_a_bar() {
        let (display, recorder) = display(Duration::from_secs(2));
        display.update(ReadProgress {
            total_bytes: Some(12 * 1024 * 1024),
            ..READ
        });
        display.finish();
        let text = recorder.text();
        assert!(text.contains("3.00 MiB/12.00 MiB"), "{text}");
        assert!(text.contains("left"), "{text}");
    }

    #[test]
    fn a_run_under_half_a_second_writes_nothing() {
        let (display, recorder) = display(Duration::ZERO);
        display.update(READ);
        display.update(READ.plus(1024, 10));
        display.finish();
        assert_eq!(recorder.text(), "");
    }

    #[test]
    fn the_display_appears_once_half_a_second_has_passed() {
        let (display, recorder) = display(Duration::ZERO);
        display.update(READ);
        assert_eq!(recorder.text(), "");
        std::thread::sleep(SHOW_AFTER);
        display.update(READ.plus(1024, 1));
        display.finish();
        assert!(
            recorder.text().contains("12,346 packets"),
            "{}",
            recorder.text()
        );
    }
}
