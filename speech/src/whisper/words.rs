//! From aligned tokens to words: splitting a window's tokens into words, attaching punctuation
//! to its neighbours, and openai-whisper's clean-ups of implausibly long words. Pure functions:
//! the network side is in `align.rs`.

/// One word with times relative to its window (seconds). `word` keeps the tokenizer's leading
/// space, so the words of a segment concatenate back to its text.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    pub word: String,
    pub tokens: Vec<i64>,
    pub start: f64,
    pub end: f64,
    pub probability: f64,
}

const PREPEND: &str = "\"'“¿([{-";
const APPEND: &str = "\"'.。,，!！?？:：”)]}、";
const SENTENCE_END: &str = ".。!！?？";
/// Python's `string.punctuation`; openai-whisper tests membership as a substring.
const PUNCTUATION: &str = r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##;
/// Languages written without spaces between words: every character is a word.
const NO_SPACES: [&str; 6] = ["zh", "ja", "th", "lo", "my", "yue"];

/// Splits tokens into words the way openai-whisper does for `language`.
pub fn split_words(tokens: &[i64], language: &str, decode: &dyn Fn(&[i64]) -> String) -> Vec<(String, Vec<i64>)> {
    if NO_SPACES.contains(&language) {
        split_on_unicode(tokens, decode)
    } else {
        split_on_spaces(tokens, decode)
    }
}

/// Pieces that decode to whole characters: a multi-byte character spread over several
/// tokens stays in one piece.
fn split_on_unicode(tokens: &[i64], decode: &dyn Fn(&[i64]) -> String) -> Vec<(String, Vec<i64>)> {
    const REPLACEMENT: char = '\u{FFFD}';
    let full: Vec<char> = decode(tokens).chars().collect();
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut offset = 0;
    for &t in tokens {
        current.push(t);
        let decoded = decode(&current);
        let complete = match decoded.chars().position(|c| c == REPLACEMENT) {
            None => true,
            // The replacement character is really in the text, not a cut character.
            Some(i) => full.get(offset + i) == Some(&REPLACEMENT),
        };
        if complete {
            offset += decoded.chars().count();
            out.push((decoded, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((decode(&current), current));
    }
    out
}

/// Words start at a piece with a leading space or at punctuation.
fn split_on_spaces(tokens: &[i64], decode: &dyn Fn(&[i64]) -> String) -> Vec<(String, Vec<i64>)> {
    let mut out: Vec<(String, Vec<i64>)> = Vec::new();
    for (piece, toks) in split_on_unicode(tokens, decode) {
        let starts_word = piece.starts_with(' ') || PUNCTUATION.contains(piece.trim());
        match out.last_mut() {
            Some(last) if !starts_word => {
                last.0.push_str(&piece);
                last.1.extend(toks);
            }
            _ => out.push((piece, toks)),
        }
    }
    out
}

/// In languages with spaces, a word that does not start with one (`-fattened` after `flower`)
/// is part of the previous word, so that words are what lies between spaces (WhisperX's
/// shape) and joining them with spaces gives the segment's text back.
pub fn join_unspaced(words: Vec<WordTiming>, language: &str) -> Vec<WordTiming> {
    if NO_SPACES.contains(&language) {
        return words;
    }
    let mut out: Vec<WordTiming> = Vec::with_capacity(words.len());
    for w in words {
        match out.last_mut() {
            Some(prev) if !w.word.starts_with(' ') => {
                let (a, b) = (prev.tokens.len() as f64, w.tokens.len() as f64);
                if a + b > 0.0 {
                    prev.probability = (prev.probability * a + w.probability * b) / (a + b);
                }
                prev.word.push_str(&w.word);
                prev.tokens.extend(w.tokens);
                prev.end = w.end;
            }
            _ => out.push(w),
        }
    }
    out
}

/// Median of the non-zero word durations, capped at 0.7 s (openai-whisper's choice).
pub fn median_duration(words: &[WordTiming]) -> f64 {
    let mut d: Vec<f64> = words.iter().map(|w| w.end - w.start).filter(|d| *d != 0.0).collect();
    if d.is_empty() {
        return 0.0;
    }
    d.sort_by(f64::total_cmp);
    let n = d.len();
    let median = if n % 2 == 1 { d[n / 2] } else { (d[n / 2 - 1] + d[n / 2]) / 2.0 };
    median.min(0.7)
}

/// A sentence-ending mark (or the word after one) longer than `max` usually spans a pause:
/// shorten it on the side of the pause.
pub fn clamp_at_sentence_ends(words: &mut [WordTiming], max: f64) {
    let is_end = |w: &str| !w.is_empty() && SENTENCE_END.contains(w);
    for i in 1..words.len() {
        if words[i].end - words[i].start > max {
            if is_end(&words[i].word) {
                words[i].end = words[i].start + max;
            } else if is_end(&words[i - 1].word) {
                words[i].start = words[i].end - max;
            }
        }
    }
}

/// Attaches opening punctuation to the next word and closing punctuation to the previous one.
/// The emptied entries stay (with no text) so token counts still add up.
pub fn merge_punctuation(words: &mut [WordTiming]) {
    let n = words.len();
    if n < 2 {
        return;
    }
    let mut j = n - 1;
    for i in (0..n - 1).rev() {
        let w = &words[i].word;
        if w.starts_with(' ') && PREPEND.contains(w.trim()) {
            let (head, tail) = words.split_at_mut(j);
            let (prev, next) = (&mut head[i], &mut tail[0]);
            next.word = std::mem::take(&mut prev.word) + &next.word;
            let mut toks = std::mem::take(&mut prev.tokens);
            toks.append(&mut next.tokens);
            next.tokens = toks;
        } else {
            j = i;
        }
    }
    let mut i = 0;
    for j in 1..n {
        let (head, tail) = words.split_at_mut(j);
        let (prev, next) = (&mut head[i], &mut tail[0]);
        if !prev.word.ends_with(' ') && APPEND.contains(next.word.as_str()) {
            prev.word.push_str(&std::mem::take(&mut next.word));
            prev.tokens.append(&mut next.tokens);
        } else {
            i = j;
        }
    }
}

/// Hands the window's words to its segments in order, by how many tokens each segment has.
/// Entries emptied by `merge_punctuation` count their tokens but are dropped.
pub fn assign_to_segments(words: Vec<WordTiming>, token_counts: &[usize]) -> Vec<Vec<WordTiming>> {
    let mut it = words.into_iter().peekable();
    token_counts
        .iter()
        .map(|&count| {
            let mut taken = 0;
            let mut out = Vec::new();
            while taken < count {
                let Some(w) = it.next() else { break };
                taken += w.tokens.len();
                if !w.word.is_empty() {
                    out.push(w);
                }
            }
            out
        })
        .collect()
}

/// openai-whisper's per-segment fixes, then guarantees that words lie inside the segment, in
/// order, without overlapping. `last_speech` is where the previous segment's speech ended.
pub fn fit_segment(words: &mut [WordTiming], start: &mut f64, end: &mut f64, median: f64, last_speech: &mut f64) {
    let max = median * 2.0;
    let Some(first_end) = words.first().map(|w| w.end) else { return };
    // The first words after a long pause are often stretched back into the pause.
    if first_end - *last_speech > median * 4.0
        && (first_end - words[0].start > max || (words.len() > 1 && words[1].end - words[0].start > max * 2.0))
    {
        if words.len() > 1 && words[1].end - words[1].start > max {
            let boundary = (words[1].end / 2.0).max(words[1].end - max);
            words[0].end = boundary;
            words[1].start = boundary;
        }
        words[0].start = (words[0].end - max).max(0.0);
    }
    // Prefer the segment's own start when the first word is implausibly long, and its end
    // when the last one is; otherwise the words define the segment.
    if *start < words[0].end && *start - 0.5 > words[0].start {
        words[0].start = (words[0].end - median).min(*start).max(0.0);
    } else {
        *start = words[0].start;
    }
    let last = words.len() - 1;
    if *end > words[last].start && *end + 0.5 < words[last].end {
        words[last].end = (words[last].start + median).max(*end);
    } else {
        *end = words[last].end;
    }
    if *end < *start {
        *end = *start;
    }
    let mut floor = *start;
    for w in words.iter_mut() {
        w.start = w.start.clamp(floor, *end);
        w.end = w.end.clamp(w.start, *end);
        floor = w.end;
    }
    *last_speech = *end;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(word: &str, start: f64, end: f64) -> WordTiming {
        WordTiming { word: word.into(), tokens: vec![0; word.len().max(1)], start, end, probability: 1.0 }
    }

    /// A fake tokenizer: each token is one byte of the text, so a multi-byte character spans tokens.
    fn bytes_decode(text: &str) -> (Vec<i64>, impl Fn(&[i64]) -> String) {
        let toks: Vec<i64> = text.bytes().map(i64::from).collect();
        (toks, |t: &[i64]| String::from_utf8_lossy(&t.iter().map(|b| *b as u8).collect::<Vec<_>>()).into_owned())
    }

    #[test]
    fn words_start_at_spaces_and_punctuation() {
        let (toks, decode) = bytes_decode(" And so, my fellow");
        let words: Vec<String> = split_words(&toks, "en", &decode).into_iter().map(|(w, _)| w).collect();
        assert_eq!(words, [" And", " so", ",", " my", " fellow"]);
    }

    #[test]
    fn multibyte_characters_stay_whole() {
        let (toks, decode) = bytes_decode("日本語");
        let words: Vec<String> = split_words(&toks, "ja", &decode).into_iter().map(|(w, _)| w).collect();
        assert_eq!(words, ["日", "本", "語"]);
    }

    #[test]
    fn punctuation_joins_its_neighbours_and_keeps_token_counts() {
        let mut words =
            vec![w(" \"", 0.0, 0.1), w("Hi", 0.1, 0.5), w(",", 0.5, 0.6), w(" you", 0.6, 1.0), w(".", 1.0, 1.1)];
        let tokens: usize = words.iter().map(|w| w.tokens.len()).sum();
        merge_punctuation(&mut words);
        let text: Vec<&str> = words.iter().map(|w| w.word.as_str()).filter(|w| !w.is_empty()).collect();
        assert_eq!(text, [" \"Hi,", " you."]);
        assert_eq!(words.iter().map(|w| w.tokens.len()).sum::<usize>(), tokens);
    }

    #[test]
    fn unspaced_pieces_join_the_previous_word() {
        let words = vec![w(" flower", 0.0, 0.4), w("-fattened", 0.4, 1.0), w(" sauce", 1.0, 1.5)];
        let joined = join_unspaced(words.clone(), "en");
        let text: Vec<&str> = joined.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(text, [" flower-fattened", " sauce"]);
        assert_eq!((joined[0].start, joined[0].end), (0.0, 1.0));
        assert_eq!(join_unspaced(words, "ja").len(), 3);
    }

    #[test]
    fn words_are_handed_out_by_token_count() {
        let words = vec![w("a", 0.0, 1.0), w("", 1.0, 1.0), w("bc", 1.0, 2.0), w("d", 2.0, 3.0)];
        let parts = assign_to_segments(words, &[2, 3]);
        assert_eq!(parts[0].iter().map(|w| w.word.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(parts[1].iter().map(|w| w.word.as_str()).collect::<Vec<_>>(), ["bc", "d"]);
    }

    #[test]
    fn long_sentence_end_is_shortened() {
        let mut words = vec![w(" done", 0.0, 0.4), w(".", 0.4, 3.0), w(" Next", 3.0, 3.3)];
        clamp_at_sentence_ends(&mut words, 0.8);
        assert!((words[1].end - 1.2).abs() < 1e-9);
    }

    #[test]
    fn fitted_words_stay_inside_the_segment_in_order() {
        let mut words = vec![w(" one", 0.0, 4.0), w(" two", 3.5, 4.2), w(" three", 4.1, 9.0)];
        let (mut start, mut end, mut last) = (3.0, 5.0, 0.0);
        fit_segment(&mut words, &mut start, &mut end, 0.3, &mut last);
        assert!(start <= words[0].start);
        for pair in words.windows(2) {
            assert!(pair[0].start <= pair[0].end && pair[0].end <= pair[1].start, "{pair:?}");
        }
        assert!(words[2].end <= end);
        assert_eq!(last, end);
    }
}
