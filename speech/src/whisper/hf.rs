//! Hugging Face transformers Whisper directories (`config.json` + `model.safetensors`),
//! renamed to CTranslate2's layout (q/k/v fused) so one set of layers loads both.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

use super::error::{ModelError, Result};

/// Head counts and the default suppression list read from the directory's JSON files.
pub struct HfMeta {
    pub heads: (i64, i64),
    pub suppress_ids: Option<Vec<i64>>,
    pub lang_ids: Option<Vec<i64>>,
    /// `(layer, head)` pairs whose cross-attention follows the audio (for word timestamps).
    pub alignment_heads: Option<Vec<(i64, i64)>>,
}

fn json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid { path: path.to_path_buf(), reason: e.to_string() })
}

pub fn meta(dir: &Path) -> Result<HfMeta> {
    let cfg_path = dir.join("config.json");
    let cfg = json(&cfg_path)?;
    let get = |k: &str| {
        cfg.get(k)
            .and_then(|v| v.as_i64())
            .ok_or_else(|| ModelError::Invalid { path: cfg_path.clone(), reason: format!("{k} is missing") })
    };
    let heads = (get("encoder_attention_heads")?, get("decoder_attention_heads")?);
    let gen_path = dir.join("generation_config.json");
    let ids = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_i64()).collect::<Vec<_>>())
    };
    let (suppress_ids, lang_ids, alignment_heads) = if gen_path.is_file() {
        let g = json(&gen_path)?;
        let langs = g.get("lang_to_id").and_then(|m| m.as_object()).map(|m| {
            let mut v: Vec<i64> = m.values().filter_map(|x| x.as_i64()).collect();
            v.sort_unstable();
            v
        });
        (ids(g.get("suppress_tokens")), langs, super::head_pairs(&g))
    } else {
        (None, None, None)
    };
    Ok(HfMeta { heads, suppress_ids, lang_ids, alignment_heads })
}

fn to_tensor(view: &safetensors::tensor::TensorView<'_>, name: &str, path: &Path) -> Result<Tensor> {
    let kind = match view.dtype() {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        d => {
            return Err(ModelError::Invalid {
                path: path.to_path_buf(),
                reason: format!("tensor {name} has unsupported dtype {d:?}"),
            })
        }
    };
    let shape: Vec<i64> = view.shape().iter().map(|d| *d as i64).collect();
    Ok(Tensor::f_from_data_size(view.data(), &shape, kind)?.to_kind(Kind::Float))
}

/// Loads `model.safetensors` and renames to CTranslate2's names.
pub fn load(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Io { path: path.clone(), source })?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| ModelError::Invalid { path: path.clone(), reason: format!("{e:?}") })?;
    let mut raw: HashMap<String, Tensor> = HashMap::new();
    for (name, view) in st.tensors() {
        let t = to_tensor(&view, &name, &path)?;
        raw.insert(name.strip_prefix("model.").unwrap_or(&name).to_string(), t);
    }
    let mut out = HashMap::new();
    let missing = |n: &str| ModelError::Invalid { path: path.clone(), reason: format!("tensor {n} is missing") };
    let take = |raw: &HashMap<String, Tensor>, n: &str| raw.get(n).map(|t| t.shallow_clone()).ok_or_else(|| missing(n));
    let simple = [
        ("encoder.conv1.weight", "encoder/conv1/weight"),
        ("encoder.conv1.bias", "encoder/conv1/bias"),
        ("encoder.conv2.weight", "encoder/conv2/weight"),
        ("encoder.conv2.bias", "encoder/conv2/bias"),
        ("encoder.embed_positions.weight", "encoder/position_encodings/encodings"),
        ("encoder.layer_norm.weight", "encoder/layer_norm/gamma"),
        ("encoder.layer_norm.bias", "encoder/layer_norm/beta"),
        ("decoder.embed_tokens.weight", "decoder/embeddings/weight"),
        ("decoder.embed_positions.weight", "decoder/position_encodings/encodings"),
        ("decoder.layer_norm.weight", "decoder/layer_norm/gamma"),
        ("decoder.layer_norm.bias", "decoder/layer_norm/beta"),
    ];
    for (hf, ct2) in simple {
        out.insert(ct2.to_string(), take(&raw, hf)?);
    }
    if let Some(p) = raw.get("proj_out.weight") {
        out.insert("decoder/projection/weight".into(), p.shallow_clone());
    }
    let linear =
        |raw: &HashMap<String, Tensor>, out: &mut HashMap<String, Tensor>, hf: &str, ct2: &str| -> Result<()> {
            let w = take(raw, &format!("{hf}.weight"))?;
            let b = raw
                .get(&format!("{hf}.bias"))
                .map(|t| t.shallow_clone())
                .unwrap_or_else(|| Tensor::zeros([w.size()[0]], (Kind::Float, tch::Device::Cpu)));
            out.insert(format!("{ct2}/weight"), w);
            out.insert(format!("{ct2}/bias"), b);
            Ok(())
        };
    let fused =
        |raw: &HashMap<String, Tensor>, out: &mut HashMap<String, Tensor>, hf: &[String], ct2: &str| -> Result<()> {
            let mut ws = Vec::new();
            let mut bs = Vec::new();
            for h in hf {
                let w = take(raw, &format!("{h}.weight"))?;
                bs.push(
                    raw.get(&format!("{h}.bias"))
                        .map(|t| t.shallow_clone())
                        .unwrap_or_else(|| Tensor::zeros([w.size()[0]], (Kind::Float, tch::Device::Cpu))),
                );
                ws.push(w);
            }
            out.insert(format!("{ct2}/weight"), Tensor::cat(&ws, 0));
            out.insert(format!("{ct2}/bias"), Tensor::cat(&bs, 0));
            Ok(())
        };
    let norm = |raw: &HashMap<String, Tensor>, out: &mut HashMap<String, Tensor>, hf: &str, ct2: &str| -> Result<()> {
        out.insert(format!("{ct2}/gamma"), take(raw, &format!("{hf}.weight"))?);
        out.insert(format!("{ct2}/beta"), take(raw, &format!("{hf}.bias"))?);
        Ok(())
    };
    for side in ["encoder", "decoder"] {
        let mut i = 0;
        while raw.contains_key(&format!("{side}.layers.{i}.fc1.weight")) {
            let h = format!("{side}.layers.{i}");
            let c = format!("{side}/layer_{i}");
            let qkv: Vec<String> =
                ["q_proj", "k_proj", "v_proj"].iter().map(|p| format!("{h}.self_attn.{p}")).collect();
            fused(&raw, &mut out, &qkv, &format!("{c}/self_attention/linear_0"))?;
            linear(&raw, &mut out, &format!("{h}.self_attn.out_proj"), &format!("{c}/self_attention/linear_1"))?;
            norm(&raw, &mut out, &format!("{h}.self_attn_layer_norm"), &format!("{c}/self_attention/layer_norm"))?;
            linear(&raw, &mut out, &format!("{h}.fc1"), &format!("{c}/ffn/linear_0"))?;
            linear(&raw, &mut out, &format!("{h}.fc2"), &format!("{c}/ffn/linear_1"))?;
            norm(&raw, &mut out, &format!("{h}.final_layer_norm"), &format!("{c}/ffn/layer_norm"))?;
            if side == "decoder" {
                linear(&raw, &mut out, &format!("{h}.encoder_attn.q_proj"), &format!("{c}/attention/linear_0"))?;
                let kv: Vec<String> = ["k_proj", "v_proj"].iter().map(|p| format!("{h}.encoder_attn.{p}")).collect();
                fused(&raw, &mut out, &kv, &format!("{c}/attention/linear_1"))?;
                linear(&raw, &mut out, &format!("{h}.encoder_attn.out_proj"), &format!("{c}/attention/linear_2"))?;
                norm(&raw, &mut out, &format!("{h}.encoder_attn_layer_norm"), &format!("{c}/attention/layer_norm"))?;
            }
            i += 1;
        }
    }
    Ok(out)
}
