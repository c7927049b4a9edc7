//! Carries progress, stage times, log lines, finished segments and cancellation between the
//! pipeline's threads and the job's async side, which writes progress and segments to
//! PostgreSQL at most once per interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use speech::Stage;
use tokio::sync::mpsc;

pub enum Event {
    Progress {
        stage: &'static str,
        overall: f32,
    },
    Log {
        stage: &'static str,
        message: String,
    },
    /// Segments the pipeline will not change any more, continuing the previous ones.
    Segments(Vec<transcript::Segment>),
}

/// The share of the job's overall progress that fetching the input takes (it comes first).
const FETCH_SHARE: f32 = 0.05;

/// Each stage's share of the job's overall progress; with fetch's they add up to 1. Stages that
/// do not run leave their share to the final write, which sets a succeeded job's progress to 1.
fn share(stage: Stage) -> f32 {
    match stage {
        Stage::Decode => 0.05,
        Stage::Vad => 0.05,
        Stage::Transcribe => 0.65,
        Stage::Align => 0.10,
        Stage::Diarize => 0.10,
    }
}

/// The progress the pipeline has reported so far.
#[derive(Default)]
struct Reports {
    /// The largest fraction each stage has reported, in [`Stage::ALL`]'s order.
    done: [f32; Stage::ALL.len()],
    /// The furthest stage, in pipeline order, that has reported: the job's stage while it runs,
    /// which moves forward only although earlier stages still report.
    furthest: Option<Stage>,
    /// The overall progress last passed on, and when.
    sent: Option<(Instant, f32)>,
}

impl Reports {
    /// Stages run at the same time (the VAD thread, the transcribing thread), so the overall
    /// progress adds each stage's share times its own fraction; since no stage's fraction goes
    /// down, neither does the sum.
    fn overall(&self) -> f32 {
        FETCH_SHARE + Stage::ALL.iter().zip(self.done).map(|(stage, done)| share(*stage) * done).sum::<f32>()
    }
}

fn index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).expect("Stage::ALL lists every stage")
}

/// The time each stage was busy: the sum of the intervals its work ran, as the pipeline's
/// threads report them ([`speech::Observer::busy`]).
#[derive(Default)]
pub struct StageClock(Mutex<[Duration; Stage::ALL.len()]>);

impl StageClock {
    pub fn add(&self, stage: Stage, busy: Duration) {
        self.0.lock().unwrap_or_else(|e| e.into_inner())[index(stage)] += busy;
    }

    /// The busy time of each stage that did any work, in pipeline order. Stages on different
    /// threads overlap, so these may add up to more than the pipeline's wall time.
    pub fn times(&self) -> Vec<(Stage, Duration)> {
        let busy = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        Stage::ALL.into_iter().zip(busy).filter(|(_, busy)| !busy.is_zero()).collect()
    }
}

/// Stage times in seconds, in the order the stages ran, rounded to the millisecond: the one set
/// of figures behind a job's `stage_secs` (which `/metrics` reads) and its closing log line, so
/// that these agree to the digit.
#[derive(Default)]
pub struct StageTimes(Vec<(&'static str, f64)>);

impl StageTimes {
    pub fn add(&mut self, stage: &'static str, busy: Duration) {
        self.0.push((stage, (busy.as_secs_f64() * 1000.0).round() / 1000.0));
    }

    /// The pipeline's stages, after what came before them.
    pub fn add_clock(&mut self, clock: &StageClock) {
        for (stage, busy) in clock.times() {
            self.add(stage.as_str(), busy);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn by_name(&self) -> std::collections::BTreeMap<String, f64> {
        self.0.iter().map(|(stage, secs)| (stage.to_string(), *secs)).collect()
    }
}

impl std::fmt::Display for StageTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (stage, secs)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{stage} {secs:.3} s")?;
        }
        Ok(())
    }
}

pub struct JobObserver {
    cancel: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<Event>,
    reports: Mutex<Reports>,
    pub clock: StageClock,
}

impl JobObserver {
    pub fn new(cancel: Arc<AtomicBool>, events: mpsc::UnboundedSender<Event>) -> Self {
        Self { cancel, events, reports: Mutex::default(), clock: StageClock::default() }
    }

    fn reports(&self) -> std::sync::MutexGuard<'_, Reports> {
        self.reports.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The overall progress so far (what the last progress event carried, or more).
    pub fn overall(&self) -> f32 {
        self.reports().overall()
    }
}

impl speech::Observer for JobObserver {
    fn progress(&self, stage: Stage, fraction: f64) {
        let mut reports = self.reports();
        let done = &mut reports.done[index(stage)];
        *done = done.max(fraction.clamp(0.0, 1.0) as f32);
        let furthest = reports.furthest.filter(|f| index(*f) > index(stage)).unwrap_or(stage);
        reports.furthest = Some(furthest);
        let overall = reports.overall();
        // The pipeline may report thousands of times; pass on a few per second.
        let due = match reports.sent {
            None => true,
            Some((at, sent)) => overall > sent && (at.elapsed() >= Duration::from_millis(100) || fraction >= 1.0),
        };
        if due {
            reports.sent = Some((Instant::now(), overall));
            let _ = self.events.send(Event::Progress { stage: furthest.as_str(), overall });
        }
    }

    fn busy(&self, stage: Stage, busy: Duration) {
        self.clock.add(stage, busy);
    }

    fn log(&self, stage: Stage, message: &str) {
        let _ = self.events.send(Event::Log { stage: stage.as_str(), message: message.to_string() });
    }

    fn segments(&self, segments: &[transcript::Segment]) {
        if !segments.is_empty() {
            let _ = self.events.send(Event::Segments(segments.to_vec()));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use speech::Observer;

    use super::*;

    fn observer() -> (JobObserver, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (JobObserver::new(Arc::default(), tx), rx)
    }

    fn sent(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<(&'static str, f32)> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|e| match e {
                Event::Progress { stage, overall } => Some((stage, overall)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn overlapping_stages_move_progress_forward_only() {
        let (obs, mut rx) = observer();
        obs.progress(Stage::Vad, 0.0);
        obs.progress(Stage::Diarize, 0.5);
        obs.progress(Stage::Transcribe, 0.2);
        // A stage reporting less than before (or a late report of an earlier stage) takes nothing back.
        obs.progress(Stage::Diarize, 0.1);
        obs.progress(Stage::Vad, 1.0);
        obs.progress(Stage::Transcribe, 1.0);
        let progress = sent(&mut rx);
        assert!(progress.windows(2).all(|w| w[0].1 < w[1].1), "{progress:?}");
        let expected = FETCH_SHARE + 0.05 + 0.65 + 0.10 * 0.5;
        assert!((obs.overall() - expected).abs() < 1e-6, "{} != {expected}", obs.overall());
        // The stage shown is the furthest one reached, though the VAD still reported after it.
        let order = |name: &str| Stage::ALL.iter().position(|s| s.as_str() == name).unwrap();
        assert!(progress.windows(2).all(|w| order(w[0].0) <= order(w[1].0)), "{progress:?}");
        assert_eq!(progress.last().map(|p| p.0), Some("diarize"));
    }

    #[test]
    fn every_stage_done_is_the_whole_job() {
        let (obs, _rx) = observer();
        for stage in Stage::ALL {
            obs.progress(stage, 1.0);
        }
        assert!((obs.overall() - 1.0).abs() < 1e-6, "{}", obs.overall());
    }

    #[test]
    fn busy_time_adds_up_per_stage_and_skips_idle_stages() {
        let (obs, _rx) = observer();
        obs.progress(Stage::Align, 0.5); // progress alone is not work
        obs.busy(Stage::Transcribe, Duration::from_millis(300));
        obs.busy(Stage::Vad, Duration::from_millis(20));
        obs.busy(Stage::Transcribe, Duration::from_millis(200));
        assert_eq!(
            obs.clock.times(),
            vec![(Stage::Vad, Duration::from_millis(20)), (Stage::Transcribe, Duration::from_millis(500))]
        );
    }
}
