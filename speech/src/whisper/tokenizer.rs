//! Whisper's tokenizer (`tokenizer.json`) and its special tokens.

use std::path::Path;

use super::error::{ModelError, Result};

pub struct WhisperTokenizer {
    inner: tokenizers::Tokenizer,
    pub eot: i64,
    pub sot: i64,
    pub sot_prev: i64,
    pub sot_lm: Option<i64>,
    pub transcribe: Option<i64>,
    pub translate: Option<i64>,
    pub no_timestamps: i64,
    pub no_speech: Option<i64>,
    /// First timestamp token (`<|0.00|>`), right after `<|notimestamps|>`.
    pub timestamp_begin: i64,
    /// `(code, token)` of the languages the model knows, in token order.
    pub languages: Vec<(String, i64)>,
}

impl WhisperTokenizer {
    /// `lang_ids` comes from CTranslate2's config.json when present; `multilingual` from the
    /// vocabulary size (English-only models have no language or task tokens in the prompt).
    pub fn load(path: &Path, multilingual: bool, lang_ids: Option<&[i64]>) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                dir: path.parent().unwrap_or(path).to_path_buf(),
                file: "tokenizer.json".into(),
            });
        }
        let err = |reason: String| ModelError::Tokenizer { path: path.to_path_buf(), reason };
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
        let id = |t: &str| inner.token_to_id(t).map(|i| i as i64);
        let need = |t: &str| id(t).ok_or_else(|| err(format!("special token {t} is missing")));
        let sot = need("<|startoftranscript|>")?;
        let translate = if multilingual { Some(need("<|translate|>")?) } else { None };
        let mut languages = Vec::new();
        if multilingual {
            let ids: Vec<i64> = match lang_ids {
                Some(ids) if !ids.is_empty() => ids.to_vec(),
                // An empty list (ct2-transformers-converter writes one when it finds no
                // language tokens) says nothing: the vocabulary's own languages apply.
                _ => (sot + 1..translate.unwrap_or(sot + 1)).collect(),
            };
            for i in ids {
                let tok =
                    inner.id_to_token(i as u32).ok_or_else(|| err(format!("language token id {i} is unknown")))?;
                let code = tok.trim_start_matches("<|").trim_end_matches("|>").to_string();
                languages.push((code, i));
            }
        }
        let no_timestamps = need("<|notimestamps|>")?;
        Ok(Self {
            eot: need("<|endoftext|>")?,
            sot,
            sot_prev: need("<|startofprev|>")?,
            sot_lm: id("<|startoflm|>"),
            transcribe: if multilingual { Some(need("<|transcribe|>")?) } else { None },
            translate,
            no_timestamps,
            no_speech: id("<|nospeech|>").or_else(|| id("<|nocaptions|>")),
            timestamp_begin: no_timestamps + 1,
            languages,
            inner,
        })
    }

    pub fn is_multilingual(&self) -> bool {
        !self.languages.is_empty()
    }

    pub fn language_token(&self, code: &str) -> Option<i64> {
        self.languages.iter().find(|(c, _)| c == code).map(|(_, t)| *t)
    }

    pub fn encode(&self, text: &str) -> Vec<i64> {
        match self.inner.encode(text, false) {
            Ok(e) => e.get_ids().iter().map(|i| *i as i64).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Text of the tokens below `<|endoftext|>` (timestamps and specials dropped).
    pub fn decode(&self, tokens: &[i64]) -> String {
        let ids: Vec<u32> = tokens.iter().filter(|t| **t < self.eot).map(|t| *t as u32).collect();
        self.inner.decode(&ids, false).unwrap_or_default()
    }

    pub fn token_text(&self, id: i64) -> Option<String> {
        self.inner.id_to_token(id as u32)
    }

    /// openai-whisper's `non_speech_tokens`: symbols and speaker tags that the model should not emit.
    pub fn non_speech_tokens(&self) -> Vec<i64> {
        let mut symbols: Vec<String> = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』".chars().map(|c| c.to_string()).collect();
        symbols
            .extend("<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split(' ').map(String::from));
        let miscellaneous = ["♩", "♪", "♫", "♬", "♭", "♮", "♯"];
        let mut out: Vec<i64> = Vec::new();
        let first = self.encode(" -");
        let q = self.encode(" '");
        if let Some(t) = first.first() {
            out.push(*t);
        }
        if let Some(t) = q.first() {
            out.push(*t);
        }
        for s in symbols.iter().map(String::as_str).chain(miscellaneous) {
            for variant in [s.to_string(), format!(" {s}")] {
                let toks = self.encode(&variant);
                if toks.len() == 1 || (miscellaneous.contains(&s) && !toks.is_empty()) {
                    out.push(toks[0]);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use tokenizers::models::bpe::BPE;
    use tokenizers::{AddedToken, Tokenizer};

    use super::*;

    /// A tokenizer.json of Whisper's special tokens alone, in their order, with `langs`.
    fn specials(dir: &Path, langs: &[&str]) -> std::path::PathBuf {
        let mut names = vec!["<|endoftext|>".to_string(), "<|startoftranscript|>".to_string()];
        names.extend(langs.iter().map(|l| format!("<|{l}|>")));
        for s in ["translate", "transcribe", "startoflm", "startofprev", "nospeech", "notimestamps"] {
            names.push(format!("<|{s}|>"));
        }
        let mut t = Tokenizer::new(BPE::default());
        let tokens: Vec<AddedToken> = names.iter().map(|n| AddedToken::from(n.clone(), true)).collect();
        t.add_special_tokens(&tokens);
        let path = dir.join("tokenizer.json");
        t.save(&path, false).unwrap();
        path
    }

    #[test]
    fn an_empty_language_list_falls_back_to_the_vocabulary() {
        let dir = tempfile::tempdir().unwrap();
        let path = specials(dir.path(), &["en", "zh", "yue"]);
        let codes = |t: &WhisperTokenizer| t.languages.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
        let empty = WhisperTokenizer::load(&path, true, Some(&[])).unwrap();
        assert_eq!(codes(&empty), ["en", "zh", "yue"]);
        assert_eq!(empty.language_token("yue"), Some(4));
        let given = WhisperTokenizer::load(&path, true, Some(&[3])).unwrap();
        assert_eq!(codes(&given), ["zh"]);
        assert!(!WhisperTokenizer::load(&path, false, Some(&[])).unwrap().is_multilingual());
    }
}
