//! What a job's client may read of a server-side message: no server paths. Failure messages and
//! log lines come from libraries that name files (models, storage, temporary downloads); the
//! client sees only the last component, which names the thing without revealing the layout.

/// `message` with every absolute path cut to its last component:
/// `/srv/models/whisper-large-v9 (no such directory)` reads `whisper-large-v9 (no such directory)`.
pub fn paths(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('/') {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let starts_token = before.chars().next_back().is_none_or(|c| c.is_whitespace() || "\"'`(=[{<".contains(c));
        let end = from.find(|c: char| c.is_whitespace() || "\"'`)]}>,;".contains(c)).unwrap_or(from.len());
        let token = &from[..end];
        if starts_token && token.len() > 1 && token[1..].contains('/') {
            let last = token.trim_end_matches(['/', ':', '.']).rsplit('/').next().unwrap_or_default();
            out.push_str(last);
            out.push_str(&token[token.trim_end_matches(['/', ':', '.']).len()..]);
        } else {
            out.push_str(token);
        }
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::paths;

    #[test]
    fn server_paths_are_cut_to_their_last_component() {
        assert_eq!(
            paths("/work/main/models/whisper-large-v9 (no such directory; install models)"),
            "whisper-large-v9 (no such directory; install models)"
        );
        assert_eq!(paths("cannot open \"/var/lib/x/storage/0193.flac\": denied"), "cannot open \"0193.flac\": denied");
        assert_eq!(paths("reading /tmp/a/b.wav: end of file."), "reading b.wav: end of file.");
        assert_eq!(paths("dir /srv/models/: gone"), "dir models/: gone");
    }

    #[test]
    fn other_slashes_are_kept() {
        for text in ["48000 Hz / 2 channels", "and/or", "https://example.com/a/b.mp3", "1/2", "/", "a /b c"] {
            assert_eq!(paths(text), text);
        }
    }
}
