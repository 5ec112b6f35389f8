//! Forgetting: what adapting to a domain cost the general corpus. The pretraining corpus's test
//! split (or its stand-in's; at most `forgetting.max_tokens` tokens) is scored once by the base
//! and once by every adapted model, on the very same tokens, and the change is decomposed by
//! token category as the domain's own change is.

use crate::config::StudyConfig;
use crate::data::Corpora;
use crate::domain::{relative_change_pct, CategoryContribution, TokenContribution};
use crate::error::{Result, StudyError};
use crate::scoring::{decomposition_record, score, TestSet};
use odyssey_core::TokenScorer;
use odyssey_corpus::HfTokenizer;
use odyssey_perplexity::ScoredCorpus;
use serde::{Deserialize, Serialize};

/// The general corpus's test tokens and the base model's scores of them, computed once.
pub struct GeneralProbe {
    /// Where the tokens come from.
    pub corpus: String,
    test: TestSet,
    base: Option<ScoredCorpus>,
}

/// What one adapted model lost (or gained) on the general corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgettingRecord {
    /// The corpus and split scored.
    pub corpus: String,
    /// Tokens scored (the same before and after).
    pub tokens: usize,
    /// Token perplexity under the base model.
    pub base_ppl: f64,
    /// Token perplexity under the adapted model.
    pub adapted_ppl: f64,
    /// `adapted / base − 1` in % (positive: the adaptation cost general ability).
    pub delta_ppl_pct: f64,
    /// ΔNLL by token category.
    pub categories: Vec<CategoryContribution>,
    /// The general corpus's tokens that got worse the most.
    pub top_degrading: Vec<TokenContribution>,
}

impl GeneralProbe {
    /// The test split of the pretraining corpus (its valid split when it has no test split),
    /// tokenized and capped at `config.forgetting.max_tokens`.
    pub fn new(corpora: &Corpora, tokenizer: &HfTokenizer, config: &StudyConfig) -> Result<Self> {
        let (split, docs) = corpora.pretraining.held_out_docs()?;
        if docs.is_empty() {
            return Err(StudyError::Invalid(format!(
                "forgetting: the pretraining corpus {} has no test or valid split to score",
                corpora.pretraining.root().display()
            )));
        }
        let test = TestSet::new(tokenizer, docs, config.forgetting.max_tokens)
            .map_err(|e| StudyError::stage("forgetting: tokenizing the general test split", e))?;
        Ok(GeneralProbe {
            corpus: format!("{} ({split} split)", corpora.pretraining.root().display()),
            test,
            base: None,
        })
    }

    /// Tokens scored.
    pub fn tokens(&self) -> usize {
        self.test.tokens()
    }

    /// Score the general tokens with `scorer` (the study's windows).
    pub fn score(
        &self,
        scorer: &dyn TokenScorer,
        tokenizer: &HfTokenizer,
        config: &StudyConfig,
    ) -> Result<ScoredCorpus> {
        score(
            scorer,
            tokenizer,
            &self.test,
            config.eval.window,
            config.eval.batch_size,
        )
    }

    /// Keep the base model's scores (once per run).
    pub fn set_base(&mut self, base: ScoredCorpus) {
        self.base = Some(base);
    }

    /// Whether the base scores are known.
    pub fn has_base(&self) -> bool {
        self.base.is_some()
    }

    /// The forgetting of the model that gave `adapted` (scores of this probe's tokens).
    pub fn record(
        &self,
        adapted: &ScoredCorpus,
        tokenizer: &HfTokenizer,
        top_k: usize,
    ) -> Result<ForgettingRecord> {
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| StudyError::Invalid("forgetting: the base scores are missing".into()))?;
        // decompose() checks that both score the same documents, positions and token ids.
        let d = decomposition_record(base, adapted, tokenizer, top_k)
            .map_err(|e| StudyError::stage("forgetting: decomposing the general change", e))?;
        let (b, a) = (base.metrics(), adapted.metrics());
        Ok(ForgettingRecord {
            corpus: self.corpus.clone(),
            tokens: b.tokens as usize,
            base_ppl: b.token_perplexity,
            adapted_ppl: a.token_perplexity,
            delta_ppl_pct: relative_change_pct(b.token_perplexity, a.token_perplexity),
            categories: d.categories,
            top_degrading: d.top_degrading,
        })
    }
}
