//! Reader for CTranslate2's `model.bin`: a little-endian header (binary version, spec name,
//! spec revision), the variables (name, shape, dtype, raw bytes) and aliases.
//! Int8 weights come with a `<name>_scale` per output row (conv weights included) and are
//! dequantised here; the float variables of a mixed model (int8_float16) are converted to f32.

use std::collections::HashMap;
use std::path::Path;

use tch::{Kind, Tensor};

use super::error::{ModelError, Result};

const MAX_BINARY_VERSION: u32 = 6;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(ModelError::Truncated {
                path: self.path.to_path_buf(),
                what: format!("{what} needs {n} bytes at offset {} but the file has {}", self.pos, self.data.len()),
            });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u16(what)? as usize;
        let b = self.take(n, what)?;
        let b = b.split(|c| *c == 0).next().unwrap_or(&[]);
        String::from_utf8(b.to_vec()).map_err(|_| self.invalid(format!("{what} is not UTF-8")))
    }
    fn invalid(&self, reason: String) -> ModelError {
        ModelError::Invalid { path: self.path.to_path_buf(), reason }
    }
}

/// The variables of a CTranslate2 model, floats converted to f32, int8 weights dequantised.
pub struct Ct2Model {
    pub spec: String,
    #[allow(dead_code)]
    pub revision: u32,
    pub variables: HashMap<String, Tensor>,
}

fn kind_of(type_id: u8) -> Option<(Kind, usize)> {
    Some(match type_id {
        0 => (Kind::Float, 4),
        1 => (Kind::Int8, 1),
        2 => (Kind::Int16, 2),
        3 => (Kind::Int, 4),
        4 => (Kind::Half, 2),
        5 => (Kind::BFloat16, 2),
        _ => return None,
    })
}

pub fn load(path: &Path) -> Result<Ct2Model> {
    let data = std::fs::read(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
    parse(&data, path)
}

pub fn parse(data: &[u8], path: &Path) -> Result<Ct2Model> {
    let mut r = Reader { data, pos: 0, path };
    let version = r.u32("binary version")?;
    if version == 0 || version > MAX_BINARY_VERSION {
        return Err(r.invalid(format!(
            "unsupported CTranslate2 binary version {version} (1..={MAX_BINARY_VERSION} supported)"
        )));
    }
    let (spec, revision) =
        if version >= 2 { (r.string("spec name")?, r.u32("spec revision")?) } else { (String::new(), 1) };
    let count = r.u32("variable count")?;
    let mut raw: HashMap<String, Tensor> = HashMap::with_capacity(count as usize);
    for i in 0..count {
        let name = r.string(&format!("name of variable {i}"))?;
        let rank = r.u8(&format!("rank of {name}"))? as usize;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32(&format!("shape of {name}"))? as i64);
        }
        let (kind, width, bytes) = if version >= 4 {
            let t = r.u8(&format!("dtype of {name}"))?;
            let (kind, width) =
                kind_of(t).ok_or_else(|| r.invalid(format!("variable {name} has unknown dtype id {t}")))?;
            (kind, width, r.u32(&format!("size of {name}"))? as usize)
        } else {
            let width = r.u8(&format!("item size of {name}"))? as usize;
            let kind = match width {
                4 => Kind::Float,
                2 => Kind::Int16,
                1 => Kind::Int8,
                w => return Err(r.invalid(format!("variable {name} has item size {w}"))),
            };
            (kind, width, r.u32(&format!("size of {name}"))? as usize * width)
        };
        let numel: i64 = shape.iter().product();
        if numel as usize * width != bytes {
            return Err(r.invalid(format!("variable {name}: shape {shape:?} does not match {bytes} bytes")));
        }
        let buf = r.take(bytes, &format!("data of {name}"))?;
        let t = Tensor::f_from_data_size(buf, &shape, kind)?;
        // Half floats become f32 one by one, so that the half copies never pile up beside
        // the file and the f32 weights (large-v3: 3 GB less at the peak).
        let t = if matches!(kind, Kind::Half | Kind::BFloat16) { t.to_kind(Kind::Float) } else { t };
        raw.insert(name, t);
    }
    let mut aliases = Vec::new();
    if version >= 3 {
        let n = r.u32("alias count")?;
        for _ in 0..n {
            let alias = r.string("alias")?;
            let target = r.string("alias target")?;
            aliases.push((alias, target));
        }
    }
    // Dequantise int8 / int16 weights that carry a scale; convert floats to f32.
    let names: Vec<String> = raw.keys().cloned().collect();
    let mut variables = HashMap::with_capacity(raw.len());
    for name in names {
        if name.ends_with("_scale") && raw.contains_key(name.trim_end_matches("_scale")) {
            continue;
        }
        let t = &raw[&name];
        let v = match t.kind() {
            Kind::Int8 | Kind::Int16 if t.dim() >= 1 => {
                let scale = raw
                    .get(&format!("{name}_scale"))
                    .ok_or_else(|| r.invalid(format!("quantised variable {name} has no {name}_scale")))?;
                // One scale per output row, whatever the weight's rank: a conv weight
                // [out, in, width] is quantised as the rows of its [out, in * width] reshape.
                let scale = scale.to_kind(Kind::Float);
                let scale = if scale.dim() == 1 && t.dim() >= 2 {
                    let mut rows = vec![-1i64];
                    rows.resize(t.dim(), 1);
                    scale.reshape(rows)
                } else {
                    scale
                };
                t.to_kind(Kind::Float).f_div(&scale)?
            }
            Kind::Half | Kind::BFloat16 => t.to_kind(Kind::Float),
            _ => t.shallow_clone(),
        };
        variables.insert(name, v);
    }
    for (alias, target) in aliases {
        if let Some(t) = variables.get(&target) {
            let t = t.shallow_clone();
            variables.insert(alias, t);
        }
    }
    Ok(Ct2Model { spec, revision, variables })
}
