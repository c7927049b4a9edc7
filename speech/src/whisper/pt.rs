//! openai-whisper checkpoints (`tiny.en.pt`, what `whisper.load_model` keeps in
//! `~/.cache/whisper`): `torch.save({"dims": {...}, "model_state_dict": {...}})`, a zip holding
//! `<name>/data.pkl` (the pickle) and `<name>/data/<key>` (one raw little-endian storage per
//! tensor). Read with [`super::pickle`], renamed to CTranslate2's layout (q/k/v fused) so one set
//! of layers loads every format. A checkpoint has no tokenizer: [`tokenizer_for`] finds one of
//! the same vocabulary beside it or among the installed models.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use super::error::{ModelError, Result};
use super::pickle::{self, Value};

/// The timestamp tokens (`<|0.00|>` .. `<|30.00|>`) that follow a tokenizer.json's vocabulary
/// when it does not list them itself.
const TIMESTAMP_TOKENS: usize = 1501;

/// The weights of a checkpoint under CTranslate2's names, and the head counts from its `dims`.
pub struct PtModel {
    pub variables: HashMap<String, Tensor>,
    pub heads: (i64, i64),
}

/// The checkpoint `path` names: the file itself, or the one `.pt` file in a directory.
pub fn find(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return (path.extension().is_some_and(|e| e == "pt")).then(|| path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "pt"))
        .collect();
    (found.len() == 1).then(|| found.remove(0))
}

fn invalid(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Invalid { path: path.to_path_buf(), reason: reason.into() }
}

struct Archive<'a> {
    zip: zip::ZipArchive<BufReader<File>>,
    /// The folder every entry sits in (`tiny.en/`, `archive/`).
    prefix: String,
    path: &'a Path,
    storages: HashMap<String, Tensor>,
}

impl Archive<'_> {
    fn read(&mut self, name: &str) -> Result<Vec<u8>> {
        let full = format!("{}{name}", self.prefix);
        let mut entry = self.zip.by_name(&full).map_err(|e| invalid(self.path, format!("{full}: {e}")))?;
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut buf).map_err(|source| ModelError::Io { path: self.path.to_path_buf(), source })?;
        Ok(buf)
    }

    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` as a float tensor.
    fn tensor(&mut self, v: &Value, name: &str) -> Result<Tensor> {
        let bad = |why: &str| invalid(self.path, format!("{name}: {why}"));
        let Value::Call(f, args) = v else { return Err(bad("is not a tensor")) };
        match f.as_ref() {
            Value::Global(m, n) if m == "torch._utils" && n == "_rebuild_parameter" => {
                let data = args.first().ok_or_else(|| bad("parameter without data"))?;
                return self.tensor(data, name);
            }
            Value::Global(m, n) if m == "torch._utils" && n == "_rebuild_tensor_v2" => {}
            other => return Err(bad(&format!("is built by {other:?}, not a tensor"))),
        }
        let (Some(Value::PersistentId(id)), Some(Value::Int(offset)), Some(size), Some(stride)) =
            (args.first(), args.get(1), args.get(2).and_then(Value::items), args.get(3).and_then(Value::items))
        else {
            return Err(bad("unexpected _rebuild_tensor_v2 arguments"));
        };
        let id = id.items().ok_or_else(|| bad("storage id is not a tuple"))?;
        let (Some(Value::Global(_, class)), Some(Value::Str(key))) = (id.get(1), id.get(2)) else {
            return Err(bad("unexpected storage id"));
        };
        let kind = match class.as_str() {
            "HalfStorage" => Kind::Half,
            "FloatStorage" => Kind::Float,
            "BFloat16Storage" => Kind::BFloat16,
            "DoubleStorage" => Kind::Double,
            c => return Err(bad(&format!("storage type {c} is not a float type"))),
        };
        let ints = |v: &[Value]| v.iter().map(Value::as_int).collect::<Option<Vec<i64>>>();
        let (size, stride) = ints(size).zip(ints(stride)).ok_or_else(|| bad("size or stride is not integers"))?;
        if !self.storages.contains_key(key) {
            let bytes = self.read(&format!("data/{key}"))?;
            let width = kind.elt_size_in_bytes();
            let storage = Tensor::f_from_data_size(&bytes, &[(bytes.len() / width) as i64], kind)?;
            self.storages.insert(key.clone(), storage);
        }
        let storage = &self.storages[key];
        let needed = *offset + size.iter().zip(&stride).map(|(s, st)| (s - 1).max(0) * st).sum::<i64>() + 1;
        if size.iter().all(|s| *s > 0) && needed > storage.numel() as i64 {
            return Err(bad("reaches past the end of its storage"));
        }
        Ok(storage.f_as_strided(&size, &stride, *offset)?.to_kind(Kind::Float).contiguous())
    }
}

/// Reads a checkpoint and renames its weights to CTranslate2's layout.
pub fn load(path: &Path) -> Result<PtModel> {
    let file = File::open(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
    let zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        invalid(path, format!("not a zip checkpoint (torch.save since torch 1.6, as openai-whisper's): {e}"))
    })?;
    let pkl = zip
        .file_names()
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| invalid(path, "no data.pkl inside"))?
        .to_string();
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let mut archive = Archive { zip, prefix, path, storages: HashMap::new() };
    if archive.read("byteorder").is_ok_and(|b| b.as_slice() != b"little") {
        return Err(invalid(path, "big-endian checkpoints are not supported"));
    }
    let root = pickle::load(&archive.read("data.pkl")?).map_err(|e| invalid(path, e.to_string()))?;
    let dims = root.get("dims").ok_or_else(|| invalid(path, "no \"dims\": not an openai-whisper checkpoint"))?;
    let dim = |k: &str| dims.get(k).and_then(Value::as_int).ok_or_else(|| invalid(path, format!("dims has no {k}")));
    let heads = (dim("n_audio_head")?, dim("n_text_head")?);
    let Some(Value::Dict(state)) = root.get("model_state_dict") else {
        return Err(invalid(path, "no \"model_state_dict\": not an openai-whisper checkpoint"));
    };
    let mut raw = HashMap::with_capacity(state.len());
    for (k, v) in state {
        let name = k.as_str().ok_or_else(|| invalid(path, "a state dict key is not a string"))?;
        raw.insert(name.to_string(), archive.tensor(v, name)?);
    }
    let variables = rename(&raw, path)?;
    Ok(PtModel { variables, heads })
}

/// openai-whisper's names (`whisper/model.py`) to CTranslate2's.
fn rename(raw: &HashMap<String, Tensor>, path: &Path) -> Result<HashMap<String, Tensor>> {
    let take = |n: &str| raw.get(n).map(Tensor::shallow_clone).ok_or_else(|| invalid(path, format!("{n} is missing")));
    let mut out = HashMap::new();
    for (openai, ct2) in [
        ("encoder.conv1.weight", "encoder/conv1/weight"),
        ("encoder.conv1.bias", "encoder/conv1/bias"),
        ("encoder.conv2.weight", "encoder/conv2/weight"),
        ("encoder.conv2.bias", "encoder/conv2/bias"),
        ("encoder.positional_embedding", "encoder/position_encodings/encodings"),
        ("encoder.ln_post.weight", "encoder/layer_norm/gamma"),
        ("encoder.ln_post.bias", "encoder/layer_norm/beta"),
        ("decoder.token_embedding.weight", "decoder/embeddings/weight"),
        ("decoder.positional_embedding", "decoder/position_encodings/encodings"),
        ("decoder.ln.weight", "decoder/layer_norm/gamma"),
        ("decoder.ln.bias", "decoder/layer_norm/beta"),
    ] {
        out.insert(ct2.to_string(), take(openai)?);
    }
    // q, k, v (or k, v) fused in that order; openai's key projection has no bias.
    let fused = |out: &mut HashMap<String, Tensor>, prefix: &str, parts: &[&str], ct2: &str| -> Result<()> {
        let mut ws = Vec::new();
        let mut bs = Vec::new();
        for p in parts {
            let w = take(&format!("{prefix}.{p}.weight"))?;
            let b = raw.get(&format!("{prefix}.{p}.bias")).map(Tensor::shallow_clone);
            bs.push(b.unwrap_or_else(|| Tensor::zeros([w.size()[0]], (Kind::Float, tch::Device::Cpu))));
            ws.push(w);
        }
        out.insert(format!("{ct2}/weight"), Tensor::cat(&ws, 0));
        out.insert(format!("{ct2}/bias"), Tensor::cat(&bs, 0));
        Ok(())
    };
    let pair = |out: &mut HashMap<String, Tensor>, openai: &str, ct2: &str, names: (&str, &str)| -> Result<()> {
        out.insert(format!("{ct2}/{}", names.0), take(&format!("{openai}.weight"))?);
        out.insert(format!("{ct2}/{}", names.1), take(&format!("{openai}.bias"))?);
        Ok(())
    };
    let linear = ("weight", "bias");
    let norm = ("gamma", "beta");
    for side in ["encoder", "decoder"] {
        let mut i = 0;
        while raw.contains_key(&format!("{side}.blocks.{i}.mlp.0.weight")) {
            let (o, c) = (format!("{side}.blocks.{i}"), format!("{side}/layer_{i}"));
            fused(&mut out, &format!("{o}.attn"), &["query", "key", "value"], &format!("{c}/self_attention/linear_0"))?;
            pair(&mut out, &format!("{o}.attn.out"), &format!("{c}/self_attention/linear_1"), linear)?;
            pair(&mut out, &format!("{o}.attn_ln"), &format!("{c}/self_attention/layer_norm"), norm)?;
            if side == "decoder" {
                pair(&mut out, &format!("{o}.cross_attn.query"), &format!("{c}/attention/linear_0"), linear)?;
                fused(&mut out, &format!("{o}.cross_attn"), &["key", "value"], &format!("{c}/attention/linear_1"))?;
                pair(&mut out, &format!("{o}.cross_attn.out"), &format!("{c}/attention/linear_2"), linear)?;
                pair(&mut out, &format!("{o}.cross_attn_ln"), &format!("{c}/attention/layer_norm"), norm)?;
            }
            pair(&mut out, &format!("{o}.mlp.0"), &format!("{c}/ffn/linear_0"), linear)?;
            pair(&mut out, &format!("{o}.mlp.2"), &format!("{c}/ffn/linear_1"), linear)?;
            pair(&mut out, &format!("{o}.mlp_ln"), &format!("{c}/ffn/layer_norm"), norm)?;
            i += 1;
        }
    }
    Ok(out)
}

/// Whether `tokenizer.json` at `path` is Whisper's vocabulary of `n_vocab` tokens: English-only
/// (51864), multilingual (51865) or large-v3's (51866), timestamps counted or not.
fn fits(path: &Path, n_vocab: i64) -> bool {
    let Ok(t) = tokenizers::Tokenizer::from_file(path) else { return false };
    let size = t.get_vocab_size(true);
    size as i64 == n_vocab || (size + TIMESTAMP_TOKENS) as i64 == n_vocab
}

/// The tokenizer for a checkpoint of `n_vocab` tokens: `tokenizer.json` beside it, else that of an
/// installed model (`whisper-*` in the checkpoint's parent folder or in `models_dirs`) with the
/// same vocabulary.
pub fn tokenizer_for(checkpoint: &Path, n_vocab: i64, models_dirs: &[&Path]) -> Result<PathBuf> {
    let dir = checkpoint.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![dir.join("tokenizer.json")];
    for models in dir.parent().into_iter().chain(models_dirs.iter().copied()) {
        let mut installed: Vec<PathBuf> = std::fs::read_dir(models)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("whisper-")))
            .map(|p| p.join("tokenizer.json"))
            .collect();
        installed.sort();
        candidates.extend(installed);
    }
    candidates.into_iter().find(|p| p.is_file() && fits(p, n_vocab)).ok_or_else(|| ModelError::MissingFile {
        dir: dir.to_path_buf(),
        file: format!(
            "tokenizer.json: an openai-whisper checkpoint has none; put one of a {} model beside it, or install \
             one (scripts/setup-models.sh) so that its tokenizer is used",
            if n_vocab >= 51865 { "multilingual" } else { "English-only (.en)" }
        ),
    })
}
