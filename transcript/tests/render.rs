use transcript::{render, Format, ParseFormatError, Segment, SpeakerTurn, Transcript, Word};

fn seg(start: f64, end: f64, text: &str) -> Segment {
    Segment { start, end, text: text.into(), ..Segment::default() }
}

fn with_speaker(mut s: Segment, speaker: &str) -> Segment {
    s.speaker = Some(speaker.into());
    s
}

fn transcript(segments: Vec<Segment>) -> Transcript {
    Transcript { language: Some("en".into()), duration: 10.0, segments, ..Transcript::default() }
}

fn two() -> Transcript {
    transcript(vec![seg(0.0, 2.5, " Hello there."), seg(2.5, 5.12, " General Kenobi! ")])
}

#[test]
fn format_names_round_trip() {
    let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["json", "srt", "vtt", "txt", "tsv", "rttm"]);
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>().unwrap(), f);
        assert_eq!(f.name().to_uppercase().parse::<Format>().unwrap(), f);
        assert_eq!(f.extension(), f.name());
        assert_eq!(f.to_string(), f.name());
        assert!(!f.content_type().is_empty());
    }
    assert_eq!(" Srt ".parse::<Format>().unwrap(), Format::Srt);
    assert_eq!(Format::Json.content_type(), "application/json");
    assert!(Format::Vtt.content_type().starts_with("text/vtt"));
    assert!(Format::Txt.content_type().starts_with("text/plain"));
    assert!(Format::Tsv.content_type().starts_with("text/tab-separated-values"));
}

#[test]
fn unknown_format_names_list_the_valid_ones() {
    for bad in ["", "pdf", "srt2", "js on", ".srt"] {
        let err: ParseFormatError = bad.parse::<Format>().unwrap_err();
        assert_eq!(err.input(), bad);
        let msg = err.to_string();
        assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        for f in Format::ALL {
            assert!(msg.contains(f.name()), "{msg} lacks {}", f.name());
        }
    }
}

#[test]
fn srt_is_numbered_with_comma_millis_and_hours() {
    let out = render(&two(), Format::Srt);
    assert_eq!(
        out,
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:02,500 --> 00:00:05,120\nGeneral Kenobi!\n\n"
    );
}

#[test]
fn vtt_has_header_and_short_times_under_an_hour() {
    let out = render(&two(), Format::Vtt);
    assert_eq!(out, "WEBVTT\n\n00:00.000 --> 00:02.500\nHello there.\n\n00:02.500 --> 00:05.120\nGeneral Kenobi!\n\n");
}

#[test]
fn txt_is_one_trimmed_segment_per_line() {
    assert_eq!(render(&two(), Format::Txt), "Hello there.\nGeneral Kenobi!\n");
}

#[test]
fn tsv_has_header_and_integer_millis() {
    let t = transcript(vec![seg(0.0, 2.5, " Hello\tthere."), seg(2.5, 5.1234, "two\nlines ")]);
    assert_eq!(render(&t, Format::Tsv), "start\tend\ttext\n0\t2500\tHello there.\n2500\t5123\ttwo lines\n");
}

#[test]
fn json_is_the_transcript() {
    let mut t = two();
    t.segments[0].words = vec![Word { word: "Hello".into(), start: 0.0, end: 0.4, score: 0.9, speaker: None }];
    t.word_segments = t.segments[0].words.clone();
    let out = render(&t, Format::Json);
    assert!(!out.contains('\n'), "not pretty-printed");
    let back: Transcript = serde_json::from_str(&out).unwrap();
    assert_eq!(back, t);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["segments"][0]["words"][0]["word"], "Hello");
    assert_eq!(v["language"], "en");
}

#[test]
fn rttm_lists_turns_in_time_order() {
    let mut t = two();
    t.diarization = Some(vec![
        SpeakerTurn { start: 2.5, end: 5.125, speaker: "SPEAKER_01".into() },
        SpeakerTurn { start: 0.0, end: 2.5, speaker: "SPEAKER_00".into() },
        SpeakerTurn { start: 6.0, end: 7.0, speaker: "Jane Doe".into() },
    ]);
    assert_eq!(
        render(&t, Format::Rttm),
        "SPEAKER audio 1 0.000 2.500 <NA> <NA> SPEAKER_00 <NA> <NA>\n\
         SPEAKER audio 1 2.500 2.625 <NA> <NA> SPEAKER_01 <NA> <NA>\n\
         SPEAKER audio 1 6.000 1.000 <NA> <NA> Jane_Doe <NA> <NA>\n"
    );
}

#[test]
fn rttm_is_empty_without_diarization() {
    assert_eq!(render(&two(), Format::Rttm), "");
    let mut t = two();
    t.diarization = Some(vec![]);
    assert_eq!(render(&t, Format::Rttm), "");
}

#[test]
fn speakers_prefix_subtitles_and_txt_like_whisperx() {
    let t = transcript(vec![with_speaker(seg(0.0, 1.0, " Hi."), "SPEAKER_00"), seg(1.0, 2.0, "Who?")]);
    assert_eq!(
        render(&t, Format::Srt),
        "1\n00:00:00,000 --> 00:00:01,000\n[SPEAKER_00]: Hi.\n\n2\n00:00:01,000 --> 00:00:02,000\nWho?\n\n"
    );
    assert_eq!(
        render(&t, Format::Vtt),
        "WEBVTT\n\n00:00.000 --> 00:01.000\n[SPEAKER_00]: Hi.\n\n00:01.000 --> 00:02.000\nWho?\n\n"
    );
    assert_eq!(render(&t, Format::Txt), "[SPEAKER_00]: Hi.\nWho?\n");
    assert_eq!(render(&t, Format::Tsv), "start\tend\ttext\n0\t1000\tHi.\n1000\t2000\tWho?\n");
    let v: serde_json::Value = serde_json::from_str(&render(&t, Format::Json)).unwrap();
    assert_eq!(v["segments"][0]["speaker"], "SPEAKER_00");
    assert!(v["segments"][1].get("speaker").is_none());
}

#[test]
fn hour_long_timestamps() {
    let t = transcript(vec![seg(3599.5, 3600.25, "over the hour"), seg(3723.004, 36000.0 + 61.0, "much later")]);
    assert_eq!(
        render(&t, Format::Srt),
        "1\n00:59:59,500 --> 01:00:00,250\nover the hour\n\n2\n01:02:03,004 --> 10:01:01,000\nmuch later\n\n"
    );
    // One style per file: every cue carries hours once the recording reaches an hour.
    assert_eq!(
        render(&t, Format::Vtt),
        "WEBVTT\n\n00:59:59.500 --> 01:00:00.250\nover the hour\n\n01:02:03.004 --> 10:01:01.000\nmuch later\n\n"
    );
    assert_eq!(
        render(&t, Format::Tsv),
        "start\tend\ttext\n3599500\t3600250\tover the hour\n3723004\t36061000\tmuch later\n"
    );
}

#[test]
fn rounding_to_milliseconds_carries_over() {
    let t = transcript(vec![seg(1.9996, 59.9999, "a"), seg(3599.9996, 3600.0004, "b")]);
    assert_eq!(
        render(&t, Format::Srt),
        "1\n00:00:02,000 --> 00:01:00,000\na\n\n2\n01:00:00,000 --> 01:00:00,000\nb\n\n"
    );
    assert_eq!(render(&t, Format::Tsv), "start\tend\ttext\n2000\t60000\ta\n3600000\t3600000\tb\n");
    let t = transcript(vec![seg(0.0014, 0.0016, "c")]);
    assert_eq!(render(&t, Format::Vtt), "WEBVTT\n\n00:00.001 --> 00:00.002\nc\n\n");
}

#[test]
fn segments_are_written_in_time_order() {
    let t = transcript(vec![seg(5.0, 6.0, "third"), seg(1.0, 2.0, "first"), seg(3.0, 4.0, "second")]);
    assert_eq!(render(&t, Format::Txt), "first\nsecond\nthird\n");
    let srt = render(&t, Format::Srt);
    assert!(srt.starts_with("1\n00:00:01,000 --> 00:00:02,000\nfirst\n\n2\n00:00:03,000"), "{srt}");
    assert!(srt.ends_with("3\n00:00:05,000 --> 00:00:06,000\nthird\n\n"), "{srt}");
    // JSON keeps the transcript as it is.
    let back: Transcript = serde_json::from_str(&render(&t, Format::Json)).unwrap();
    assert_eq!(back.segments[0].text, "third");
}

#[test]
fn empty_transcript() {
    let t = Transcript::default();
    assert_eq!(render(&t, Format::Srt), "");
    assert_eq!(render(&t, Format::Vtt), "WEBVTT\n\n");
    assert_eq!(render(&t, Format::Txt), "");
    assert_eq!(render(&t, Format::Tsv), "start\tend\ttext\n");
    assert_eq!(render(&t, Format::Rttm), "");
    let back: Transcript = serde_json::from_str(&render(&t, Format::Json)).unwrap();
    assert_eq!(back, t);
}

#[test]
fn blank_segments_are_skipped_and_numbering_stays_dense() {
    let t = transcript(vec![seg(0.0, 1.0, "one"), seg(1.0, 2.0, "   "), seg(2.0, 3.0, "two")]);
    assert_eq!(
        render(&t, Format::Srt),
        "1\n00:00:00,000 --> 00:00:01,000\none\n\n2\n00:00:02,000 --> 00:00:03,000\ntwo\n\n"
    );
    assert_eq!(render(&t, Format::Txt), "one\ntwo\n");
}

#[test]
fn bad_times_are_clamped() {
    let t = transcript(vec![seg(-1.5, f64::NAN, "neg"), seg(f64::NAN, -3.0, "nan"), seg(4.0, 2.0, "backwards")]);
    assert_eq!(
        render(&t, Format::Srt),
        "1\n00:00:00,000 --> 00:00:00,000\nneg\n\n2\n00:00:00,000 --> 00:00:00,000\nnan\n\n\
         3\n00:00:04,000 --> 00:00:04,000\nbackwards\n\n"
    );
    assert_eq!(render(&t, Format::Tsv), "start\tend\ttext\n0\t0\tneg\n0\t0\tnan\n4000\t4000\tbackwards\n");
    let t = Transcript {
        diarization: Some(vec![
            SpeakerTurn { start: f64::NAN, end: 1.0, speaker: "A".into() },
            SpeakerTurn { start: -2.0, end: -1.0, speaker: "B".into() },
            SpeakerTurn { start: 3.0, end: f64::INFINITY, speaker: " ".into() },
        ]),
        ..Transcript::default()
    };
    assert_eq!(
        render(&t, Format::Rttm),
        "SPEAKER audio 1 0.000 1.000 <NA> <NA> A <NA> <NA>\n\
         SPEAKER audio 1 0.000 0.000 <NA> <NA> B <NA> <NA>\n\
         SPEAKER audio 1 3.000 0.000 <NA> <NA> <NA> <NA> <NA>\n"
    );
}

#[test]
fn cue_text_cannot_break_the_cue() {
    let t = transcript(vec![seg(0.0, 1.0, "a --> b\n\n\nsecond line ")]);
    assert_eq!(render(&t, Format::Srt), "1\n00:00:00,000 --> 00:00:01,000\na -> b\nsecond line\n\n");
    assert_eq!(render(&t, Format::Vtt), "WEBVTT\n\n00:00.000 --> 00:01.000\na -> b\nsecond line\n\n");
    assert_eq!(render(&t, Format::Txt), "a --> b second line\n");
}
