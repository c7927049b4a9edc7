//! Speakers for a transcript's segments and words, from speaker turns.

use transcript::{SpeakerTurn, Transcript};

/// The speaker of `[start, end]`: the one whose turns overlap it most; with no overlap at all,
/// the speaker of the nearest turn. `None` only when there are no turns.
pub fn speaker_at(turns: &[SpeakerTurn], start: f64, end: f64) -> Option<&str> {
    let (start, end) = if end < start { (end, start) } else { (start, end) };
    let mut totals: Vec<(&str, f64)> = Vec::new();
    let mut nearest: Option<(&str, f64)> = None;
    for t in turns {
        let overlap = t.end.min(end) - t.start.max(start);
        if overlap > 0.0 {
            match totals.iter_mut().find(|(s, _)| *s == t.speaker) {
                Some(e) => e.1 += overlap,
                None => totals.push((&t.speaker, overlap)),
            }
        }
        // Distance between the intervals (0 when they touch or overlap).
        let gap = (t.start - end).max(start - t.end).max(0.0);
        if nearest.is_none_or(|(_, g)| gap < g) {
            nearest = Some((&t.speaker, gap));
        }
    }
    let best = totals.into_iter().fold(None::<(&str, f64)>, |b, e| match b {
        Some(x) if x.1 >= e.1 => Some(x),
        _ => Some(e),
    });
    best.or(nearest).map(|(s, _)| s)
}

/// Sets `speaker` on every segment, every word (in `segments` and in `word_segments`) by maximum
/// overlap with `turns` (the nearest turn when none overlaps), and stores the turns in
/// `transcript.diarization`. With no turns, speakers are cleared and `diarization` is an empty
/// list (diarization ran and found no speech).
pub fn assign_speakers(transcript: &mut Transcript, turns: &[SpeakerTurn]) {
    let who = |start: f64, end: f64| speaker_at(turns, start, end).map(str::to_string);
    for seg in &mut transcript.segments {
        seg.speaker = who(seg.start, seg.end);
        for w in &mut seg.words {
            w.speaker = who(w.start, w.end);
        }
    }
    for w in &mut transcript.word_segments {
        w.speaker = who(w.start, w.end);
    }
    transcript.diarization = Some(turns.to_vec());
}
