//! Similarity of a domain to the pretraining corpus: sentence embeddings of deterministic
//! paragraph samples (`odyssey-similarity`) and lexical overlap (`odyssey-corpus`).

use crate::config::StudyConfig;
use crate::data::{Corpora, DomainData};
use crate::domain::{Estimate, SimilarityRecord};
use crate::error::{Result, StudyError};
use ndarray::Array2;
use odyssey_core::{Split, TokenizerHandle};
use odyssey_corpus::{
    lexical_overlap, sample, OverlapOptions, SampleUnit, TokenCounts, WordCounts,
};
use odyssey_similarity::metrics::{
    centroid_cosine_ci, frechet_distance, mean_pairwise_cosine_ci, mmd2_unbiased_ci,
    BootstrapConfig, Interval,
};
use odyssey_similarity::{EncodeOptions, SentenceEncoder};
use tch::Device;

/// The pretraining side of every comparison, computed once per run.
pub struct PretrainingSample {
    /// The sampled paragraphs.
    pub paragraphs: Vec<String>,
    embeddings: Array2<f32>,
    words: WordCounts,
    tokens: TokenCounts,
}

/// What [`SimilarityProbe::compare`] measured, and the domain paragraphs it sampled (for the
/// model's own embeddings).
pub struct Comparison {
    /// The sentence-encoder and lexical measures.
    pub record: SimilarityRecord,
    /// The sampled domain paragraphs.
    pub paragraphs: Vec<String>,
}

/// Centroid cosine (with its bootstrap interval) of two embedding samples.
pub fn centroid_estimate(
    a: &Array2<f32>,
    b: &Array2<f32>,
    config: &StudyConfig,
) -> Result<Estimate> {
    let boot = BootstrapConfig {
        replicates: config.similarity.bootstrap,
        level: 0.95,
        seed: config.seed,
    };
    centroid_cosine_ci(a.view(), b.view(), &boot)
        .map(|i| estimate(&i))
        .map_err(|e| StudyError::stage("centroid cosine of the model's embeddings", e))
}

/// The sentence encoder and the settings of the comparison.
pub struct SimilarityProbe {
    encoder: SentenceEncoder,
}

fn estimate(i: &Interval) -> Estimate {
    Estimate {
        value: i.estimate,
        lo: i.low,
        hi: i.high,
    }
}

impl SimilarityProbe {
    /// Load the sentence encoder: `config.encoder`, or `ODYSSEY_MINILM_DIR`.
    pub fn new(config: &StudyConfig, device: Device) -> Result<Self> {
        let explicit = (!config.encoder.as_os_str().is_empty()).then_some(config.encoder.as_path());
        let dir = odyssey_similarity::encoder::locate_model_dir(explicit)
            .map_err(|e| StudyError::stage("finding the sentence encoder", e))?;
        let encoder = SentenceEncoder::load_on(&dir, device)
            .map_err(|e| {
                StudyError::stage(format!("loading the sentence encoder {}", dir.display()), e)
            })?
            .with_options(EncodeOptions {
                batch_size: 32,
                normalize: false,
                progress: true,
            });
        Ok(SimilarityProbe { encoder })
    }

    fn embed(&self, texts: &[String], what: &str) -> Result<Array2<f32>> {
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        self.encoder
            .encode(&refs)
            .map_err(|e| StudyError::stage(format!("embedding {what}"), e))
    }

    /// Embed a paragraph sample of the pretraining corpus and count its words and tokens.
    pub fn pretraining_sample(
        &self,
        corpora: &Corpora,
        tokenizer: &odyssey_corpus::HfTokenizer,
        config: &StudyConfig,
    ) -> Result<PretrainingSample> {
        let s = &config.similarity;
        let paragraphs = corpora.pretraining.sample_paragraphs(
            s.pretraining_samples,
            config.seed,
            s.min_paragraph_chars,
        )?;
        if paragraphs.len() < 2 {
            return Err(StudyError::Invalid(format!(
                "the pretraining corpus has {} paragraphs of at least {} characters; 2 are needed",
                paragraphs.len(),
                s.min_paragraph_chars
            )));
        }
        eprintln!(
            "  embedding {} paragraphs of the pretraining corpus",
            paragraphs.len()
        );
        let embeddings = self.embed(&paragraphs, "the pretraining sample")?;
        let texts = corpora.pretraining.train_texts()?;
        let mut words = WordCounts::new(true);
        let mut tokens = TokenCounts::new(tokenizer.vocab_size());
        for t in &texts {
            words.add_text(t);
        }
        let ids = tokenizer
            .encode_batch_ids(&texts)
            .map_err(|e| StudyError::stage("tokenizing the pretraining corpus", e))?;
        for v in &ids {
            tokens.add(v);
        }
        Ok(PretrainingSample {
            paragraphs,
            embeddings,
            words,
            tokens,
        })
    }

    /// Compare one domain with the pretraining sample.
    pub fn compare(
        &self,
        pre: &PretrainingSample,
        corpora: &Corpora,
        data: &DomainData,
        tokenizer: &dyn TokenizerHandle,
        config: &StudyConfig,
    ) -> Result<Comparison> {
        let s = &config.similarity;
        let source = corpora.domain_source(&data.name)?;
        let docs = sample(
            source,
            Split::Train,
            s.domain_samples,
            config.seed,
            SampleUnit::Paragraphs {
                min_chars: s.min_paragraph_chars,
            },
        )
        .map_err(|e| StudyError::stage(format!("{}: sampling paragraphs", data.name), e))?;
        if docs.len() < 2 {
            return Err(StudyError::Invalid(format!(
                "{}: the train split has {} paragraphs of at least {} characters; 2 are needed",
                data.name,
                docs.len(),
                s.min_paragraph_chars
            )));
        }
        let texts: Vec<String> = docs.into_iter().map(|d| d.text).collect();
        let emb = self.embed(&texts, &format!("{} paragraphs", data.name))?;
        let boot = BootstrapConfig {
            replicates: s.bootstrap,
            level: 0.95,
            seed: config.seed,
        };
        let metric = |what: &str| {
            let name = data.name.clone();
            let what = what.to_string();
            move |e| StudyError::stage(format!("{name}: {what}"), e)
        };
        let (a, b) = (emb.view(), pre.embeddings.view());
        let centroid = centroid_cosine_ci(a, b, &boot).map_err(metric("centroid cosine"))?;
        let pairwise = mean_pairwise_cosine_ci(a, b, &boot).map_err(metric("pairwise cosine"))?;
        let mmd = mmd2_unbiased_ci(a, b, &boot).map_err(metric("MMD"))?;
        let frechet = frechet_distance(a, b).map_err(metric("Fréchet distance"))?;
        let mut words = WordCounts::new(true);
        for t in &data.train_texts {
            words.add_text(t);
        }
        let mut tokens = TokenCounts::new(tokenizer.vocab_size());
        tokens.add(&data.train_tokens);
        let lex = lexical_overlap(
            (&words, &pre.words),
            (&tokens, &pre.tokens),
            &OverlapOptions::default(),
        );
        let record = SimilarityRecord {
            centroid_cosine: estimate(&centroid),
            mean_pairwise_cosine: Some(estimate(&pairwise)),
            mmd2: Some(estimate(&mmd.mmd2)),
            frechet: Some(frechet),
            unigram_overlap: Some(lex.vocabulary_overlap),
            weighted_jaccard: Some(lex.weighted_jaccard),
            model_centroid_cosine: None,
            domain_samples: texts.len(),
            pretraining_samples: pre.embeddings.nrows(),
        };
        Ok(Comparison {
            record,
            paragraphs: texts,
        })
    }
}
