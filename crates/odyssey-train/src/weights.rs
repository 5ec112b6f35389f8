//! HF safetensors checkpoints in and out: rename-free copies between a VarStore whose
//! variable names are HF state-dict names and `model.safetensors` files.

use crate::config::ModelConfig;
use crate::error::{ModelError, ModelResult};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

/// Name of the single-file weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of the index of sharded weights.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// Name of the config file.
pub const CONFIG_FILE: &str = "config.json";

/// The safetensors files of the checkpoint folder `dir`: `model.safetensors`, or the shards
/// listed by `model.safetensors.index.json`.
pub fn weight_files(dir: &Path) -> ModelResult<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(INDEX_FILE);
    if !index.is_file() {
        return Err(ModelError::NoWeights {
            dir: dir.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: index.clone(),
            source,
        })?;
    let Some(map) = value.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(ModelError::config(
            "weight_map",
            format!("{} has no `weight_map` object", index.display()),
        ));
    };
    let mut files = BTreeSet::new();
    for (name, file) in map {
        let Some(file) = file.as_str() else {
            return Err(ModelError::config(
                format!("weight_map.{name}"),
                format!("{}: expected a file name", index.display()),
            ));
        };
        files.insert(file.to_string());
    }
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

/// Read every tensor of the checkpoint folder `dir`, converted to fp32 on the CPU.
pub fn read_checkpoint(dir: &Path) -> ModelResult<BTreeMap<String, Tensor>> {
    let mut out = BTreeMap::new();
    for file in weight_files(dir)? {
        out.append(&mut read_safetensors(&file)?);
    }
    Ok(out)
}

/// Read one safetensors file. Float tensors (F32, F16, BF16, F64) are converted to fp32;
/// integer tensors keep their kind (I64, I32, U8, ...); other dtypes are an error.
pub fn read_safetensors(file: &Path) -> ModelResult<BTreeMap<String, Tensor>> {
    let bytes = std::fs::read(file).map_err(|e| ModelError::io(file, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|source| ModelError::Safetensors {
        path: file.to_path_buf(),
        source,
    })?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let t = view_to_tensor(file, &name, &view)?;
        out.insert(name, t);
    }
    Ok(out)
}

fn view_to_tensor(file: &Path, name: &str, view: &TensorView<'_>) -> ModelResult<Tensor> {
    let kind = match view.dtype() {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        other => {
            return Err(ModelError::UnsupportedDtype {
                path: file.to_path_buf(),
                name: name.to_string(),
                dtype: format!("{other:?}"),
            })
        }
    };
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    let t = Tensor::f_from_data_size(view.data(), &shape, kind)?;
    Ok(match kind {
        Kind::Half | Kind::BFloat16 | Kind::Double => t.to_kind(Kind::Float),
        _ => t,
    })
}

/// Buffers some HF checkpoints carry that are not weights (GPT-2's causal-mask buffers, old
/// Llama rotary tables).
fn is_ignorable_buffer(name: &str) -> bool {
    name.ends_with(".attn.bias") && !name.contains("c_attn")
        || name.ends_with(".attn.masked_bias")
        || name.ends_with("rotary_emb.inv_freq")
}

/// Copy the weights of checkpoint folder `dir` into `vs` (whose variable names are HF names).
///
/// Weights are converted to fp32 on the CPU, then copied into the existing variables (which
/// keep their own kind and device). Nothing is copied unless every variable is found with the
/// right shape and every checkpoint tensor has a place: a missing tensor, an unexpected one
/// or a wrong shape is an error naming the tensor. GPT-2 checkpoints saved without the
/// `transformer.` prefix, GPT-2's attention-mask buffers and a redundant `lm_head.weight`
/// of a tied model are accepted, as HF does.
pub fn load_into(vs: &mut nn::VarStore, dir: &Path) -> ModelResult<()> {
    let tensors = read_checkpoint(dir)?;
    let vars: HashMap<String, Tensor> = vs.variables();
    let tied = !vars.contains_key("lm_head.weight");
    let mut matched: HashMap<String, Tensor> = HashMap::new();
    let mut extra = Vec::new();
    for (name, t) in tensors {
        let key = if vars.contains_key(&name) {
            Some(name.clone())
        } else {
            let prefixed = format!("transformer.{name}");
            vars.contains_key(&prefixed).then_some(prefixed)
        };
        match key {
            Some(k) => {
                if !t.is_floating_point() {
                    return Err(ModelError::UnsupportedDtype {
                        path: dir.to_path_buf(),
                        name,
                        dtype: format!("{:?}", t.kind()),
                    });
                }
                let expected = vars[&k].size();
                if t.size() != expected {
                    return Err(ModelError::ShapeMismatch {
                        path: dir.to_path_buf(),
                        name,
                        expected,
                        found: t.size(),
                    });
                }
                matched.insert(k, t);
            }
            None if is_ignorable_buffer(&name) => {}
            None if tied && name == "lm_head.weight" => {}
            None => extra.push(name),
        }
    }
    if !extra.is_empty() {
        return Err(ModelError::ExtraTensors {
            path: dir.to_path_buf(),
            names: extra,
        });
    }
    let mut missing: Vec<&String> = vars.keys().filter(|k| !matched.contains_key(*k)).collect();
    missing.sort();
    if let Some(name) = missing.first() {
        return Err(ModelError::MissingTensor {
            path: dir.to_path_buf(),
            name: (*name).clone(),
        });
    }
    tch::no_grad(|| -> ModelResult<()> {
        for (name, var) in &vars {
            let src = &matched[name];
            let mut var = var.shallow_clone();
            var.f_copy_(&src.to_device(var.device()))?;
        }
        Ok(())
    })
}

/// The fp32 bytes of every variable of `vs`, as a safetensors file (HF `format: pt`).
pub fn serialize_weights(vs: &nn::VarStore) -> ModelResult<Vec<u8>> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(vars.len());
    tch::no_grad(|| -> ModelResult<()> {
        for (name, t) in &vars {
            let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
            let numel = t.numel();
            let mut data = vec![0u8; numel * 4];
            t.f_copy_data_u8(&mut data, numel)?;
            let shape = t.size().iter().map(|&d| d as usize).collect();
            buffers.push((name.clone(), shape, data));
        }
        Ok(())
    })?;
    let mut views = Vec::with_capacity(buffers.len());
    for (name, shape, data) in &buffers {
        let view = TensorView::new(Dtype::F32, shape.clone(), data).map_err(|source| {
            ModelError::Safetensors {
                path: PathBuf::from(name),
                source,
            }
        })?;
        views.push((name.as_str(), view));
    }
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::tensor::serialize(views, &Some(meta)).map_err(|source| ModelError::Safetensors {
        path: PathBuf::from(WEIGHTS_FILE),
        source,
    })
}

/// Write `config.json` and `model.safetensors` (fp32) of `vs` into `dir`, atomically: the
/// files are written into a temporary folder next to `dir`, which then replaces `dir`.
/// Other files already in `dir` (tokenizer files, ...) are carried over; stale weight files
/// (`model.safetensors`, shards, their index) are not.
pub fn save_pretrained(vs: &nn::VarStore, cfg: &ModelConfig, dir: &Path) -> ModelResult<()> {
    let weights = serialize_weights(vs)?;
    let config = serde_json::to_vec_pretty(&cfg.to_json()).map_err(|source| ModelError::Json {
        path: dir.join(CONFIG_FILE),
        source,
    })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| ModelError::io(&parent, e))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = parent.join(format!(".{name}.tmp-{}-{stamp}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}-{stamp}", std::process::id()));
    let result = (|| -> ModelResult<()> {
        std::fs::create_dir(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        write_synced(&tmp.join(CONFIG_FILE), &config)?;
        write_synced(&tmp.join(WEIGHTS_FILE), &weights)?;
        let mut subdirs = Vec::new();
        if dir.is_dir() {
            for entry in std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))? {
                let entry = entry.map_err(|e| ModelError::io(dir, e))?;
                let fname = entry.file_name().to_string_lossy().into_owned();
                if is_weight_or_config(&fname) {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
                    subdirs.push(fname);
                } else {
                    std::fs::copy(&path, tmp.join(&fname)).map_err(|e| ModelError::io(&path, e))?;
                }
            }
            std::fs::rename(dir, &old).map_err(|e| ModelError::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| ModelError::io(dir, e))?;
        for sub in subdirs {
            let from = old.join(&sub);
            std::fs::rename(&from, dir.join(&sub)).map_err(|e| ModelError::io(&from, e))?;
        }
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| ModelError::io(&old, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if old.exists() && !dir.exists() {
            let _ = std::fs::rename(&old, dir);
        }
    }
    result
}

fn is_weight_or_config(name: &str) -> bool {
    name == CONFIG_FILE
        || name == WEIGHTS_FILE
        || name == INDEX_FILE
        || (name.starts_with("model-") && name.ends_with(".safetensors"))
        || name.starts_with("pytorch_model")
}

fn write_synced(path: &Path, bytes: &[u8]) -> ModelResult<()> {
    let io = |e| ModelError::io(path, e);
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}
