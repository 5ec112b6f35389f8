//! The sentence encoder: tokenizer + BERT + pooling (+ normalisation), batched by length.

use super::bert::Bert;
use super::folder::{locate_model_dir, ModelFolder};
use super::pooling::{l2_normalize, pool};
use super::weights::Weights;
use crate::error::{Result, SimilarityError};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// How [`SentenceEncoder::encode_with`] batches and post-processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// L2-normalise the vectors even if the model folder has no Normalize module.
    pub normalize: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            batch_size: 32,
            normalize: false,
            progress: false,
        }
    }
}

/// A BERT-family sentence-transformers model in `tch`.
///
/// `encode` follows sentence-transformers' `encode`: texts are tokenized (truncated at the
/// model's maximum length), sorted by length so each batch carries little padding, run through
/// the encoder, pooled as the folder's Pooling module says (masked by attention), optionally
/// L2-normalised, and returned in input order.
pub struct SentenceEncoder {
    folder: ModelFolder,
    tokenizer: Tokenizer,
    bert: Bert,
    pad_id: i64,
    options: EncodeOptions,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("folder", &self.folder.root)
            .field("dim", &self.folder.embedding_dim())
            .field("max_seq_length", &self.folder.max_seq_length)
            .field("options", &self.options)
            .finish()
    }
}

fn tok_err(context: &str) -> impl FnOnce(tokenizers::Error) -> SimilarityError + '_ {
    move |e| SimilarityError::Tokenizer {
        context: context.to_string(),
        source: e,
    }
}

fn torch(context: &str) -> impl FnOnce(tch::TchError) -> SimilarityError + '_ {
    move |e| SimilarityError::torch(context, e)
}

impl SentenceEncoder {
    /// Load the model folder at `dir` on the CPU.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, Device::Cpu)
    }

    /// Load the all-MiniLM-L6-v2 folder found by [`locate_model_dir`] (explicit path,
    /// then `ODYSSEY_MINILM_DIR`).
    pub fn minilm(explicit: Option<&Path>) -> Result<Self> {
        Self::load(&locate_model_dir(explicit)?)
    }

    /// Load the model folder at `dir` onto `device`.
    pub fn load_on(dir: &Path, device: Device) -> Result<Self> {
        let folder = ModelFolder::open(dir)?;
        let mut tokenizer =
            Tokenizer::from_file(&folder.tokenizer).map_err(|e| SimilarityError::Tokenizer {
                context: format!("loading {}", folder.tokenizer.display()),
                source: e,
            })?;
        // tokenizer.json may carry fixed padding and a shorter truncation; batches are padded
        // here, and truncation follows the model's max_seq_length as sentence-transformers does.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: folder.max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(tok_err("setting truncation"))?;
        let pad_id = folder
            .config
            .pad_token_id
            .or_else(|| tokenizer.token_to_id("[PAD]"))
            .unwrap_or(0) as i64;
        let weights = Weights::load(&folder.weights, device)?;
        let bert = Bert::from_weights(weights, &folder.config, folder.activation, device)?;
        Ok(SentenceEncoder {
            folder,
            tokenizer,
            bert,
            pad_id,
            options: EncodeOptions::default(),
        })
    }

    /// Replace the default options used by [`SentenceEncoder::encode`] and the
    /// [`odyssey_core::TextEmbedder`] implementation.
    pub fn with_options(mut self, options: EncodeOptions) -> Self {
        self.options = options;
        self
    }

    /// The parsed model folder.
    pub fn folder(&self) -> &ModelFolder {
        &self.folder
    }

    /// Width of the sentence vectors.
    pub fn dim(&self) -> usize {
        self.folder.embedding_dim()
    }

    /// Longest input in tokens; longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.folder.max_seq_length
    }

    /// Token counts (special tokens included, after truncation) of `texts`.
    pub fn token_lengths(&self, texts: &[&str]) -> Result<Vec<usize>> {
        Ok(self.tokenize(texts)?.iter().map(|e| e.0.len()).collect())
    }

    fn tokenize(&self, texts: &[&str]) -> Result<Vec<(Vec<i64>, Vec<i64>)>> {
        let inputs: Vec<String> = if self.folder.do_lower_case {
            texts.iter().map(|t| t.to_lowercase()).collect()
        } else {
            texts.iter().map(|t| t.to_string()).collect()
        };
        let encodings = self
            .tokenizer
            .encode_batch_fast(inputs, true)
            .map_err(tok_err("encoding texts"))?;
        Ok(encodings
            .into_iter()
            .map(|e| {
                let ids = e.get_ids().iter().map(|&i| i as i64).collect();
                let types = e.get_type_ids().iter().map(|&i| i as i64).collect();
                (ids, types)
            })
            .collect())
    }

    /// Embed `texts` with the encoder's options; row `i` belongs to `texts[i]`.
    pub fn encode(&self, texts: &[&str]) -> Result<Array2<f32>> {
        self.encode_with(texts, &self.options)
    }

    /// Embed `texts` with explicit options; row `i` belongs to `texts[i]`.
    pub fn encode_with(&self, texts: &[&str], options: &EncodeOptions) -> Result<Array2<f32>> {
        if options.batch_size == 0 {
            return Err(SimilarityError::InvalidConfig(
                "batch_size must be at least 1".into(),
            ));
        }
        let dim = self.dim();
        let mut out = Array2::<f32>::zeros((texts.len(), dim));
        if texts.is_empty() {
            return Ok(out);
        }
        let _guard = tch::no_grad_guard();
        let tokens = self.tokenize(texts)?;
        // Longest first (stable), like sentence-transformers: batches hold similar lengths.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].0.len()));
        let bar = if options.progress {
            let bar = ProgressBar::new(texts.len() as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} texts {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix("embedding");
            bar
        } else {
            ProgressBar::hidden()
        };
        let normalize = options.normalize || self.folder.normalize;
        for chunk in order.chunks(options.batch_size) {
            let emb = self.forward_batch(chunk, &tokens, normalize)?;
            let values = Vec::<f32>::try_from(
                emb.f_contiguous()
                    .and_then(|e| e.f_view([-1]))
                    .map_err(torch("reading embeddings"))?,
            )
            .map_err(torch("reading embeddings"))?;
            for (row, &i) in chunk.iter().enumerate() {
                out.row_mut(i)
                    .as_slice_mut()
                    .ok_or_else(|| SimilarityError::InvalidConfig("output layout".into()))?
                    .copy_from_slice(&values[row * dim..(row + 1) * dim]);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// Run one batch (indices into `tokens`) and return its pooled vectors on the CPU.
    fn forward_batch(
        &self,
        batch: &[usize],
        tokens: &[(Vec<i64>, Vec<i64>)],
        normalize: bool,
    ) -> Result<Tensor> {
        let b = batch.len();
        let l = batch
            .iter()
            .map(|&i| tokens[i].0.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![self.pad_id; b * l];
        let mut types = vec![0i64; b * l];
        let mut mask = vec![false; b * l];
        for (row, &i) in batch.iter().enumerate() {
            let (tid, tty) = &tokens[i];
            ids[row * l..row * l + tid.len()].copy_from_slice(tid);
            types[row * l..row * l + tty.len()].copy_from_slice(tty);
            mask[row * l..row * l + tid.len()].fill(true);
        }
        let device = self.bert.device();
        let shape = [b as i64, l as i64];
        let ids = Tensor::f_from_slice(&ids)
            .and_then(|x| x.f_view(shape))
            .and_then(|x| x.f_to_device(device))
            .map_err(torch("token ids"))?;
        let types = Tensor::f_from_slice(&types)
            .and_then(|x| x.f_view(shape))
            .and_then(|x| x.f_to_device(device))
            .map_err(torch("token type ids"))?;
        let mask = Tensor::f_from_slice(&mask)
            .and_then(|x| x.f_view(shape))
            .and_then(|x| x.f_to_device(device))
            .map_err(torch("attention mask"))?;
        let hidden = self.bert.forward(&ids, &types, &mask)?;
        let mut pooled = pool(&hidden, &mask, &self.folder.pooling)?;
        if normalize {
            pooled = l2_normalize(&pooled)?;
        }
        pooled
            .f_to_device(Device::Cpu)
            .and_then(|x| x.f_to_kind(Kind::Float))
            .map_err(torch("copying embeddings to the CPU"))
    }
}

impl odyssey_core::TextEmbedder for SentenceEncoder {
    fn dim(&self) -> usize {
        SentenceEncoder::dim(self)
    }

    fn embed(&self, texts: &[&str]) -> odyssey_core::Result<Array2<f32>> {
        Ok(self.encode(texts)?)
    }

    fn describe(&self) -> String {
        let name = self
            .folder
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "sentence encoder {name} (BERT, {} layers, dim {}, max {} tokens)",
            self.folder.config.num_hidden_layers,
            self.dim(),
            self.folder.max_seq_length
        )
    }
}
