use transcript::{
    render, render_with, Format, ParseFormatError, RenderOptions, Segment, SpeakerTurn, Transcript, Word,
};

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
    assert_eq!(names, ["json", "srt", "vtt", "txt", "tsv", "rttm", "csv"]);
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
    assert!(Format::Csv.content_type().starts_with("text/csv"));
    assert_eq!(Format::names(), "json, srt, vtt, txt, tsv, rttm, csv");
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
fn csv_has_header_seconds_and_speakers() {
    let t = transcript(vec![
        with_speaker(seg(2.5, 5.1234, " General Kenobi! "), "SPEAKER_01"),
        seg(0.0, 2.5, "Hello there."),
        seg(5.2, 6.0, "   "),
    ]);
    assert_eq!(
        render(&t, Format::Csv),
        "start,end,speaker,text\r\n0.000,2.500,,Hello there.\r\n2.500,5.123,SPEAKER_01,General Kenobi!\r\n"
    );
    assert_eq!(render(&Transcript::default(), Format::Csv), "start,end,speaker,text\r\n");
}

#[test]
fn csv_quotes_as_rfc_4180_says() {
    let t = transcript(vec![
        seg(0.0, 1.0, "one, two"),
        with_speaker(seg(1.0, 2.0, r#"she said "hi""#), "Doe, Jane"),
        seg(2.0, 3.0, "two\nlines"),
        seg(3.0, 4.0, "carriage\rreturn"),
        with_speaker(seg(4.0, 5.0, "plain"), ""),
    ]);
    assert_eq!(
        render(&t, Format::Csv),
        "start,end,speaker,text\r\n\
         0.000,1.000,,\"one, two\"\r\n\
         1.000,2.000,\"Doe, Jane\",\"she said \"\"hi\"\"\"\r\n\
         2.000,3.000,,\"two\nlines\"\r\n\
         3.000,4.000,,\"carriage\rreturn\"\r\n\
         4.000,5.000,,plain\r\n"
    );
}

#[test]
fn csv_times_match_tsv_milliseconds() {
    let t = transcript(vec![seg(-1.0, f64::NAN, "bad"), seg(1.9996, 3723.0045, "rounded"), seg(9.0, 8.0, "back")]);
    assert_eq!(
        render(&t, Format::Csv),
        "start,end,speaker,text\r\n0.000,0.000,,bad\r\n2.000,3723.004,,rounded\r\n9.000,9.000,,back\r\n"
    );
    assert_eq!(render(&t, Format::Tsv), "start\tend\ttext\n0\t0\tbad\n2000\t3723004\trounded\n9000\t9000\tback\n");
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

fn word(word: &str, start: f64, end: f64) -> Word {
    Word { word: word.into(), start, end, score: 0.9, speaker: None }
}

/// A segment from its words (text WhisperX's way: a leading space, words joined by spaces).
fn seg_words(start: f64, end: f64, words: &[(&str, f64, f64)]) -> Segment {
    let words: Vec<Word> = words.iter().map(|&(w, s, e)| word(w, s, e)).collect();
    let text = format!(" {}", words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>().join(" "));
    Segment { words, ..seg(start, end, &text) }
}

fn options(max_line_width: Option<usize>, max_line_count: Option<usize>, highlight_words: bool) -> RenderOptions {
    RenderOptions { max_line_width, max_line_count, highlight_words }
}

/// The nine words of a pangram, 0.5 s apart, in one segment from 0 to 5 s.
fn fox() -> Segment {
    let text = "The quick brown fox jumps over the lazy dog";
    let words: Vec<(&str, f64, f64)> =
        text.split(' ').enumerate().map(|(i, w)| (w, 0.5 * i as f64 + 0.1, 0.5 * i as f64 + 0.4)).collect();
    seg_words(0.0, 5.0, &words)
}

#[test]
fn words_keep_one_cue_per_segment_timed_by_its_words_by_default() {
    let t = transcript(vec![
        seg_words(0.0, 3.0, &[("Hello", 0.2, 0.6), ("there.", 0.7, 1.4)]),
        seg_words(3.0, 6.0, &[("General", 3.5, 4.0), ("Kenobi!", 4.1, 5.0)]),
    ]);
    let srt = "1\n00:00:00,200 --> 00:00:01,400\nHello there.\n\n2\n00:00:03,500 --> 00:00:05,000\nGeneral Kenobi!\n\n";
    assert_eq!(render(&t, Format::Srt), srt);
    assert_eq!(render_with(&t, Format::Srt, &RenderOptions::default()), srt);
    assert_eq!(
        render(&t, Format::Vtt),
        "WEBVTT\n\n00:00.200 --> 00:01.400\nHello there.\n\n00:03.500 --> 00:05.000\nGeneral Kenobi!\n\n"
    );
    // Only srt and vtt are cut from words.
    let cut = options(Some(5), Some(1), true);
    for format in [Format::Json, Format::Txt, Format::Tsv, Format::Rttm] {
        assert_eq!(render_with(&t, format, &cut), render(&t, format), "{format}");
    }
}

#[test]
fn max_line_width_wraps_lines_and_keeps_segments_as_cues() {
    let t = transcript(vec![fox(), seg_words(6.0, 7.0, &[("Yes.", 6.2, 6.6)])]);
    assert_eq!(
        render_with(&t, Format::Srt, &options(Some(15), None, false)),
        "1\n00:00:00,100 --> 00:00:04,400\nThe quick brown\nfox jumps over\nthe lazy dog\n\n\
         2\n00:00:06,200 --> 00:00:06,600\nYes.\n\n"
    );
    // A word longer than the line stands alone on its own line.
    let t = transcript(vec![seg_words(0.0, 2.0, &[("an", 0.0, 0.2), ("extraordinary", 0.3, 1.0), ("day", 1.1, 1.5)])]);
    assert_eq!(
        render_with(&t, Format::Vtt, &options(Some(5), None, false)),
        "WEBVTT\n\n00:00.000 --> 00:01.500\nan\nextraordinary\nday\n\n"
    );
    // A line count alone leaves every segment one cue on one line, as openai-whisper does.
    let t = transcript(vec![fox()]);
    assert_eq!(render_with(&t, Format::Srt, &options(None, Some(1), false)), render(&t, Format::Srt));
}

#[test]
fn max_line_count_with_a_width_cuts_cues_across_segments() {
    let t = transcript(vec![fox(), seg_words(4.5, 6.0, &[("Yes.", 4.6, 5.2)])]);
    assert_eq!(
        render_with(&t, Format::Srt, &options(Some(15), Some(2), false)),
        "1\n00:00:00,100 --> 00:00:02,900\nThe quick brown\nfox jumps over\n\n\
         2\n00:00:03,100 --> 00:00:05,200\nthe lazy dog\nYes.\n\n"
    );
    assert_eq!(
        render_with(&t, Format::Srt, &options(Some(20), Some(1), false)),
        "1\n00:00:00,100 --> 00:00:01,900\nThe quick brown fox\n\n\
         2\n00:00:02,100 --> 00:00:03,900\njumps over the lazy\n\n\
         3\n00:00:04,100 --> 00:00:05,200\ndog Yes.\n\n"
    );
}

#[test]
fn a_pause_over_three_seconds_starts_a_new_cue_when_cutting() {
    let t = transcript(vec![seg_words(
        0.0,
        12.0,
        &[("one", 0.0, 0.5), ("two", 1.0, 1.5), ("three", 4.0, 4.5), ("four", 7.5, 8.0), ("five", 8.1, 8.5)],
    )]);
    // Measured between word starts: 4.0 - 1.0 is no more than 3 s; 7.5 - 4.0 is.
    assert_eq!(
        render_with(&t, Format::Vtt, &options(Some(42), Some(2), false)),
        "WEBVTT\n\n00:00.000 --> 00:04.500\none two three\n\n00:07.500 --> 00:08.500\nfour five\n\n"
    );
    // Segments are kept whole unless both limits are given.
    assert_eq!(
        render_with(&t, Format::Vtt, &options(Some(42), None, false)),
        "WEBVTT\n\n00:00.000 --> 00:08.500\none two three four five\n\n"
    );
}

#[test]
fn highlight_words_writes_a_cue_per_word_and_fills_the_gaps() {
    let t = transcript(vec![seg_words(0.0, 2.0, &[("Hello", 0.1, 0.5), ("big", 0.5, 0.8), ("world", 1.0, 1.5)])]);
    assert_eq!(
        render_with(&t, Format::Srt, &options(None, None, true)),
        "1\n00:00:00,100 --> 00:00:00,500\n<u>Hello</u> big world\n\n\
         2\n00:00:00,500 --> 00:00:00,800\nHello <u>big</u> world\n\n\
         3\n00:00:00,800 --> 00:00:01,000\nHello big world\n\n\
         4\n00:00:01,000 --> 00:00:01,500\nHello big <u>world</u>\n\n"
    );
    // The underline goes inside the line break.
    assert_eq!(
        render_with(&t, Format::Vtt, &options(Some(9), Some(2), true)),
        "WEBVTT\n\n00:00.100 --> 00:00.500\n<u>Hello</u> big\nworld\n\n\
         00:00.500 --> 00:00.800\nHello <u>big</u>\nworld\n\n\
         00:00.800 --> 00:01.000\nHello big\nworld\n\n\
         00:01.000 --> 00:01.500\nHello big\n<u>world</u>\n\n"
    );
}

#[test]
fn languages_without_spaces_join_words_directly() {
    let words = [("你", 0.0, 0.3), ("好", 0.3, 0.6), ("世界", 0.7, 1.2)];
    let mut t = transcript(vec![Segment { text: "你好世界".into(), ..seg_words(0.0, 1.5, &words) }]);
    for language in ["zh", "ja", "th", "lo", "my", "yue", "ZH"] {
        t.language = Some(language.into());
        assert_eq!(render(&t, Format::Srt), "1\n00:00:00,000 --> 00:00:01,200\n你好世界\n\n", "{language}");
    }
    assert_eq!(
        render_with(&t, Format::Srt, &options(Some(3), Some(1), false)),
        "1\n00:00:00,000 --> 00:00:00,600\n你好\n\n2\n00:00:00,700 --> 00:00:01,200\n世界\n\n"
    );
    assert_eq!(
        render_with(&t, Format::Vtt, &options(None, None, true)),
        "WEBVTT\n\n00:00.000 --> 00:00.300\n<u>你</u>好世界\n\n00:00.300 --> 00:00.600\n你<u>好</u>世界\n\n\
         00:00.600 --> 00:00.700\n你好世界\n\n00:00.700 --> 00:01.200\n你好<u>世界</u>\n\n"
    );
    t.language = Some("en".into());
    assert_eq!(render(&t, Format::Srt), "1\n00:00:00,000 --> 00:00:01,200\n你 好 世界\n\n");
}

#[test]
fn segments_without_words_are_cues_of_their_own() {
    let t = transcript(vec![
        seg_words(0.0, 1.0, &[("One", 0.1, 0.4), ("two.", 0.5, 0.9)]),
        seg(1.0, 2.0, " Three, four. "),
        seg_words(2.0, 3.0, &[("Five", 2.1, 2.5)]),
    ]);
    let expected = "1\n00:00:00,100 --> 00:00:00,900\nOne two.\n\n\
                    2\n00:00:01,000 --> 00:00:02,000\nThree, four.\n\n\
                    3\n00:00:02,100 --> 00:00:02,500\nFive\n\n";
    assert_eq!(render(&t, Format::Srt), expected);
    assert_eq!(render_with(&t, Format::Srt, &options(Some(42), Some(2), false)), expected);
    let highlighted = render_with(&t, Format::Srt, &options(None, None, true));
    assert!(highlighted.contains("\n00:00:01,000 --> 00:00:02,000\nThree, four.\n"), "{highlighted}");
    // Options change nothing in a transcript without words.
    let t = two();
    assert_eq!(render_with(&t, Format::Srt, &options(Some(5), Some(1), true)), render(&t, Format::Srt));
    assert_eq!(render_with(&t, Format::Vtt, &options(Some(5), Some(1), true)), render(&t, Format::Vtt));
}

#[test]
fn word_cues_carry_the_speaker_prefix() {
    let mut first = with_speaker(seg_words(0.0, 1.0, &[("Hi", 0.1, 0.3), ("there.", 0.4, 0.8)]), "SPEAKER_00");
    // Diarization can give a word another speaker than its segment's majority.
    first.words[1].speaker = Some("SPEAKER_01".into());
    let second = with_speaker(seg_words(1.0, 2.0, &[("Who?", 1.1, 1.5)]), "SPEAKER_01");
    let t = transcript(vec![first, second]);
    // A cue that is a segment is labelled as the segment is.
    assert_eq!(
        render(&t, Format::Srt),
        "1\n00:00:00,100 --> 00:00:00,800\n[SPEAKER_00]: Hi there.\n\n\
         2\n00:00:01,100 --> 00:00:01,500\n[SPEAKER_01]: Who?\n\n"
    );
    // Cut from words, a cue holds one speaker's words.
    assert_eq!(
        render_with(&t, Format::Srt, &options(Some(42), Some(2), false)),
        "1\n00:00:00,100 --> 00:00:00,300\n[SPEAKER_00]: Hi\n\n\
         2\n00:00:00,400 --> 00:00:01,500\n[SPEAKER_01]: there. Who?\n\n"
    );
    assert_eq!(
        render_with(&t, Format::Vtt, &options(None, None, true)),
        "WEBVTT\n\n00:00.100 --> 00:00.300\n[SPEAKER_00]: <u>Hi</u> there.\n\n\
         00:00.300 --> 00:00.400\n[SPEAKER_00]: Hi there.\n\n\
         00:00.400 --> 00:00.800\n[SPEAKER_00]: Hi <u>there.</u>\n\n\
         00:01.100 --> 00:01.500\n[SPEAKER_01]: <u>Who?</u>\n\n"
    );
}

#[test]
fn untimed_words_borrow_their_segment_times_and_arrows_are_defused() {
    let t =
        transcript(vec![seg_words(1.0, 3.0, &[("a", f64::NAN, f64::NAN), ("-->", 1.5, 2.0), ("c", 2.1, f64::NAN)])]);
    assert_eq!(render(&t, Format::Srt), "1\n00:00:01,000 --> 00:00:03,000\na -> c\n\n");
    // Only timed words get a cue of their own.
    assert_eq!(
        render_with(&t, Format::Srt, &options(None, None, true)),
        "1\n00:00:01,000 --> 00:00:01,500\na -> c\n\n2\n00:00:01,500 --> 00:00:02,000\na <u>-></u> c\n\n"
    );
}
