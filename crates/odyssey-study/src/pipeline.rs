//! Running the study: every domain (or its saved result), then the analysis across domains
//! and the report.

use crate::adapt::{blocks, continue_pretraining, continue_pretraining_masked};
use crate::analysis::correlations;
use crate::config::{DeviceChoice, StudyConfig};
use crate::control::{ensure_control, ControlRun};
use crate::data::{Corpora, DomainData};
use crate::domain::{ControlRecord, DomainResult};
use crate::error::{Result, StudyError};
use crate::forgetting::GeneralProbe;
use crate::mitigation::{
    choose_mask, decide_with_mitigations, outside_mask, replay_stream, variant_settings,
    MitigationKind, MitigationRecord, MitigationReport,
};
use crate::resume::{fingerprint_path, OutputLayout};
use crate::scoring::{decomposition_record, perplexity_record, score, TestSet};
use crate::similarity::{centroid_estimate, PretrainingSample, SimilarityProbe};
use crate::summary::{findings, order_by_similarity, shared_degrading_tokens, StudyReport};
use crate::verdict::{decide, VerdictInputs};
use ndarray::Array2;
use odyssey_core::{TextEmbedder, TokenizerHandle};
use odyssey_train::trainer::TokenBlocks;
use odyssey_train::{AnyModel, LmEmbedder, LmScorer};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tch::Device;

/// Pick the device for `choice`: CUDA when asked or when `Auto` finds one, else the CPU.
pub fn select_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(StudyError::Invalid(
            "device = cuda, but libtorch sees no CUDA device".into(),
        )),
    }
}

fn describe_device(d: Device) -> String {
    match d {
        Device::Cuda(i) => format!("CUDA device {i}"),
        _ => format!("CPU ({} threads)", tch::get_num_threads()),
    }
}

/// Check that the model (an HF folder or a GGUF file) has what the study reads, with a clear
/// error otherwise.
fn check_model_dir(dir: &Path) -> Result<()> {
    if odyssey_train::gguf::is_gguf(dir) {
        return Ok(());
    }
    if dir.is_file() {
        return Err(StudyError::Invalid(format!(
            "model {} is a file but not a GGUF file (expected a GGUF file or an HF folder with config.json, model.safetensors, tokenizer.json)",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(StudyError::Invalid(format!(
            "model folder {} does not exist (expected an HF folder with config.json, model.safetensors, tokenizer.json, or a GGUF file)",
            dir.display()
        )));
    }
    for f in ["config.json", "tokenizer.json"] {
        if !dir.join(f).is_file() {
            return Err(StudyError::Invalid(format!(
                "model folder {} has no {f}",
                dir.display()
            )));
        }
    }
    Ok(())
}

fn load_model(dir: &Path, device: Device) -> Result<AnyModel> {
    AnyModel::from_pretrained(dir, device)
        .map_err(|e| StudyError::stage(format!("loading the model from {}", dir.display()), e))
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Run the study described by `config` and write its report into `config.out`: `report.md`,
/// `report.json`, `plots/*.svg`, and `domains/<name>.json` per finished domain. Domains
/// finished by an earlier run with the same settings and inputs are reused; a domain whose
/// training was interrupted resumes from its newest checkpoint.
pub fn run_study(config: &StudyConfig) -> Result<StudyReport> {
    let started = Instant::now();
    config.validate(Path::new("<config>"))?;
    check_model_dir(&config.model)?;
    if config.threads > 0 {
        tch::set_num_threads(config.threads as i32);
        // The global pool can be set once per process; a second study in the same process
        // keeps the first setting.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .build_global();
    }
    let device = select_device(config.device)?;
    let memory = crate::memory::check(config, device)?;
    let corpora = Corpora::open(config)?;
    let tokenizer = Arc::new(crate::data::load_tokenizer(&config.model)?);
    let names = corpora.domain_names(&config.only_domains)?;
    let out = OutputLayout::new(&config.out);
    out.prepare()?;

    if let Some(d) = config
        .training
        .distributed
        .launch()
        .filter(|d| d.node_rank > 0)
    {
        return run_worker(config, device, &corpora, &tokenizer, &names, &out, &d);
    }
    let model_fp = fingerprint_path(&config.model)?;
    let pre_fp = fingerprint_path(&config.pretraining_corpus)?;
    let settings_fp = config.result_fingerprint();
    let mut model_description = String::new();
    let mut results = Vec::new();
    let mut resumed = Vec::new();
    let mut probe: Option<SimilarityProbe> = None;
    let mut pre_sample: Option<PretrainingSample> = None;
    let mut pre_model_embeddings: Option<Array2<f32>> = None;
    let mut general = if config.forgetting.enabled {
        Some(GeneralProbe::new(&corpora, &tokenizer, config)?)
    } else {
        None
    };
    let replay_tokens = std::cell::OnceCell::new();
    let mut preflights = Vec::new();
    let control = if config.control.enabled && config.preflight.full_run {
        let fp = short_hash(&[&settings_fp, &model_fp, &pre_fp, "control"]);
        Some(ensure_control(
            config,
            &out,
            &corpora,
            &tokenizer,
            &fp,
            |m| load_model(m, device),
        )?)
    } else {
        None
    };
    for (i, name) in names.iter().enumerate() {
        let dom_fp = fingerprint_path(&corpora.domain_root(name)?)?;
        let fp = short_hash(&[&settings_fp, &model_fp, &pre_fp, &dom_fp]);
        if config.preflight.enabled {
            let path = out.root().join("preflight").join(format!("{name}.json"));
            let saved: Option<crate::preflight::PreflightRecord> = if path.is_file() {
                Some(crate::report::json::read_json(&path)?)
            } else {
                None
            };
            let record = match saved.filter(|p| p.fingerprint == fp) {
                Some(p) => {
                    eprintln!(
                        "[{}/{}] {name}: pre-flight made earlier, reused",
                        i + 1,
                        names.len()
                    );
                    p
                }
                None => {
                    eprintln!("[{}/{}] {name}: pre-flight", i + 1, names.len());
                    let data = corpora.domain_data(name, &tokenizer)?;
                    if !config.preflight.full_run && probe.is_none() {
                        let p = SimilarityProbe::new(config, device)?;
                        pre_sample = Some(p.pretraining_sample(&corpora, &tokenizer, config)?);
                        probe = Some(p);
                    }
                    let similarity = match (probe.as_ref(), pre_sample.as_ref()) {
                        (Some(p), Some(pre)) if !config.preflight.full_run => {
                            Some(p.compare(pre, &corpora, &data, &*tokenizer, config)?.record)
                        }
                        _ => None,
                    };
                    let r = preflight_domain(
                        config, device, &out, name, &fp, &data, &tokenizer, similarity,
                    )?;
                    crate::report::json::write_json(&path, &r)?;
                    crate::report::json::read_json(&path)?
                }
            };
            preflights.push(record);
            if !config.preflight.full_run {
                continue;
            }
        }
        if let Some(r) = out.load_finished(name, &fp)? {
            eprintln!(
                "[{}/{}] {name}: finished earlier, reused",
                i + 1,
                names.len()
            );
            resumed.push(name.clone());
            results.push(r);
            continue;
        }
        eprintln!("[{}/{}] {name}", i + 1, names.len());
        if probe.is_none() {
            let p = SimilarityProbe::new(config, device)?;
            pre_sample = Some(p.pretraining_sample(&corpora, &tokenizer, config)?);
            probe = Some(p);
        }
        let (Some(p), Some(pre)) = (probe.as_ref(), pre_sample.as_ref()) else {
            return Err(StudyError::Invalid("similarity probe unavailable".into()));
        };
        let data = corpora.domain_data(name, &tokenizer)?;
        let ctx = DomainContext {
            config,
            device,
            out: &out,
            corpora: &corpora,
            probe: p,
            pre,
            tokenizer: &tokenizer,
            control: control.as_ref(),
            replay_tokens: &replay_tokens,
        };
        let r = study_domain(
            &ctx,
            name,
            &fp,
            &data,
            &mut pre_model_embeddings,
            &mut general,
        )?;
        model_description = r.1;
        results.push(out.save_finished(&r.0)?);
    }
    if model_description.is_empty() {
        let m = load_model(&config.model, device)?;
        model_description = LmScorer::new(m, 1).describe_model();
    }
    let preflight_comparison =
        crate::preflight::compare(&preflights, &results, config.preflight.level);

    order_by_similarity(&mut results);
    let corr = correlations(&results, config)?;
    let own_effect_correlations = crate::analysis::own_effect_correlations(&results, config)?;
    let own_effect_correlations_for_report = own_effect_correlations.clone();
    let shared = shared_degrading_tokens(&results);
    let tol = config.verdict.degradation_tolerance_pct;
    let report = StudyReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        model: format!("{} ({})", config.model.display(), model_description),
        device: describe_device(device),
        any_degraded: results.iter().any(|d| d.degraded(tol)),
        findings: {
            let mut f = findings(&results, &corr, &shared, tol);
            if let Some(c) = own_effect_correlations.first() {
                f.push(format!(
                    "Beyond the control arm, the change (Δppl domain − Δppl control) against {} over {} domains: Spearman ρ = {:.2} (permutation p = {:.3}), Pearson r = {:.2}: {}.",
                    c.measure,
                    c.n,
                    c.spearman.estimate.value,
                    c.spearman.p_value,
                    c.pearson.estimate.value,
                    if c.spearman.estimate.value > 0.0 {
                        "the more similar a domain, the less its own text did beyond generic text, as in the paper"
                    } else {
                        "the more similar a domain, the more its own text did beyond generic text"
                    }
                ));
            }
            f
        },
        shared_degrading_tokens: shared,
        correlations: corr,
        domains: results,
        resumed,
        control: control.map(|c| c.summary),
        own_effect_correlations: own_effect_correlations_for_report,
        memory: Some(memory),
        preflight: preflights,
        preflight_comparison,
        seconds: started.elapsed().as_secs_f64(),
    };
    if !report.domains.is_empty() {
        crate::plots::write_all(&out.plots(), &report.domains, report.correlations.first())?;
    }
    if let Some(c) = &report.preflight_comparison {
        crate::plots::preflight(&out.plots(), c)?;
    }
    crate::report::json::write_report(out.root(), &report)?;
    crate::report::markdown::write_report(out.root(), &report)?;
    Ok(report)
}

/// Machine `node_rank > 0` of a study on several machines: it takes part in every domain's
/// continued pretraining (machine 0 runs the rest of the study and writes the report) and
/// returns a report without domains.
fn run_worker(
    config: &StudyConfig,
    device: Device,
    corpora: &Corpora,
    tokenizer: &odyssey_corpus::HfTokenizer,
    names: &[String],
    out: &OutputLayout,
    dist: &odyssey_train::trainer::Distributed,
) -> Result<StudyReport> {
    let started = Instant::now();
    for (i, name) in names.iter().enumerate() {
        eprintln!(
            "[{}/{}] {name}: continued pretraining (machine {} of {})",
            i + 1,
            names.len(),
            dist.node_rank,
            dist.nnodes
        );
        let data = corpora.domain_data(name, tokenizer)?;
        let mut model = load_model(&config.model, device)?;
        continue_pretraining(
            &mut model,
            &data.train_tokens,
            &data.valid_tokens,
            &config.training,
            config.seed,
            config.threads,
            &out.checkpoints(name),
            name,
        )?;
    }
    Ok(StudyReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        model: config.model.display().to_string(),
        device: describe_device(device),
        domains: Vec::new(),
        correlations: Vec::new(),
        any_degraded: false,
        findings: vec![format!(
            "Machine {} of {}: took part in the continued pretraining of {} domains; machine 0 holds the results.",
            dist.node_rank,
            dist.nnodes,
            names.len()
        )],
        shared_degrading_tokens: Vec::new(),
        resumed: Vec::new(),
        control: None,
        own_effect_correlations: Vec::new(),
        memory: None,
        preflight: Vec::new(),
        preflight_comparison: None,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every domain of a run shares.
struct DomainContext<'a> {
    config: &'a StudyConfig,
    device: Device,
    out: &'a OutputLayout,
    corpora: &'a Corpora,
    probe: &'a SimilarityProbe,
    pre: &'a PretrainingSample,
    tokenizer: &'a Arc<odyssey_corpus::HfTokenizer>,
    control: Option<&'a ControlRun>,
    /// The pretraining corpus's train stream, packed once when the replay variant first needs it.
    replay_tokens: &'a std::cell::OnceCell<Vec<u32>>,
}

/// Embed `texts` with the model itself (mean final hidden state, at most `max_tokens` each).
fn model_embeddings(
    embedder: &LmEmbedder<AnyModel>,
    texts: &[String],
    what: &str,
) -> Result<Array2<f32>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    embedder
        .embed(&refs)
        .map_err(|e| StudyError::stage(format!("embedding {what} with the base model"), e))
}

/// Everything for one domain; returns the result and the model's description.
fn study_domain(
    c: &DomainContext<'_>,
    name: &str,
    fingerprint: &str,
    data: &DomainData,
    pre_model_embeddings: &mut Option<Array2<f32>>,
    general: &mut Option<GeneralProbe>,
) -> Result<(DomainResult, String)> {
    let (config, device, tokenizer) = (c.config, c.device, &**c.tokenizer);
    let ctx = |what: &str| format!("{name}: {what}");
    eprintln!("  similarity to the pretraining corpus");
    let comparison = c.probe.compare(c.pre, c.corpora, data, tokenizer, config)?;
    let mut similarity = comparison.record;

    eprintln!("  base model on the test split");
    let test = TestSet::new(
        tokenizer,
        data.test_docs.clone(),
        config.eval.max_test_tokens,
    )
    .map_err(|e| StudyError::stage(ctx("test split"), e))?;
    let mut base_model = load_model(&config.model, device)?;
    base_model
        .check_tokenizer_vocab(tokenizer.vocab_size())
        .map_err(|e| StudyError::stage(ctx("tokenizer against the model"), e))?;
    if config.similarity.model_embeddings {
        eprintln!("  similarity under the base model's own embeddings");
        let handle: Arc<dyn TokenizerHandle> = c.tokenizer.clone();
        let embedder = LmEmbedder::new(base_model, handle, config.eval.batch_size)
            .map_err(|e| StudyError::stage(ctx("the base model as an embedder"), e))?
            .with_max_length(config.similarity.model_embedding_tokens);
        if pre_model_embeddings.is_none() {
            *pre_model_embeddings = Some(model_embeddings(
                &embedder,
                &c.pre.paragraphs,
                "the pretraining sample",
            )?);
        }
        let dom = model_embeddings(&embedder, &comparison.paragraphs, name)?;
        if let Some(pre) = pre_model_embeddings.as_ref() {
            similarity.model_centroid_cosine = Some(centroid_estimate(&dom, pre, config)?);
        }
        base_model = embedder.into_model();
    }
    let scorer = LmScorer::new(base_model, config.eval.batch_size);
    let description = scorer.describe_model();
    let base_scores = score(
        &scorer,
        tokenizer,
        &test,
        config.eval.window,
        config.eval.batch_size,
    )?;
    if let Some(g) = general.as_mut().filter(|g| !g.has_base()) {
        eprintln!(
            "  base model on the general corpus ({} tokens, for forgetting)",
            g.tokens()
        );
        let s = g.score(&scorer, tokenizer, config)?;
        g.set_base(s);
    }
    let mut model = scorer.into_model();

    eprintln!("  continued pretraining");
    let training = continue_pretraining(
        &mut model,
        &data.train_tokens,
        &data.valid_tokens,
        &config.training,
        config.seed,
        config.threads,
        &c.out.checkpoints(name),
        name,
    )?;

    eprintln!("  adapted model on the test split");
    let scorer = LmScorer::new(model, config.eval.batch_size);
    let adapted_scores = score(
        &scorer,
        tokenizer,
        &test,
        config.eval.window,
        config.eval.batch_size,
    )?;
    let forgetting = forgetting_of(general.as_ref(), &scorer, tokenizer, config)?;
    let decomposition = decomposition_record(
        &base_scores,
        &adapted_scores,
        tokenizer,
        config.verdict.top_k_tokens,
    )?;
    let base = perplexity_record(&base_scores.metrics());
    let adapted = perplexity_record(&adapted_scores.metrics());
    let domain_delta = crate::domain::relative_change_pct(base.token_ppl, adapted.token_ppl);
    let plain_verdict = domain_verdict(&base, &adapted, &decomposition, &training, config);
    let valid = if crate::mitigation::needed(config.mitigations.run, &plain_verdict) {
        eprintln!("  plain run on the validation split (to choose the token mask)");
        let set = TestSet::new(
            tokenizer,
            data.valid_docs.clone(),
            config.training.max_valid_tokens,
        )
        .map_err(|e| StudyError::stage(ctx("valid split"), e))?;
        let scores = score(
            &scorer,
            tokenizer,
            &set,
            config.eval.window,
            config.eval.batch_size,
        )?;
        Some((set, scores))
    } else {
        None
    };
    drop(scorer);
    let disk = apply_checkpoint_policy(&c.out.checkpoints(name), config.training.checkpoints)?;
    let control = match c.control {
        None => None,
        Some(run) => {
            eprintln!("  control model on the test split");
            let m = load_model(&run.model_dir, device)?;
            let s = LmScorer::new(m, config.eval.batch_size);
            let scores = score(
                &s,
                tokenizer,
                &test,
                config.eval.window,
                config.eval.batch_size,
            )?;
            Some(ControlRecord::new(
                base.token_ppl,
                scores.metrics().token_perplexity,
                domain_delta,
            ))
        }
    };
    let mut verdict = plain_verdict;
    if let Some(ctl) = control {
        verdict
            .evidence
            .push(crate::verdict::control_sentence(domain_delta, &ctl));
    }
    let plain_decision = valid.as_ref().map(|_| verdict.decision);
    let mitigations = match valid {
        None => None,
        Some((valid_set, adapted_valid)) => {
            let mut report = run_mitigations(
                c,
                name,
                data,
                &test,
                (&base_scores, &adapted_scores),
                (&valid_set, &adapted_valid),
                general.as_ref(),
            )?;
            verdict = decide_with_mitigations(
                &verdict,
                base.token_ppl,
                domain_delta,
                &mut report,
                config.verdict.min_gain_pct,
                config.verdict.degradation_tolerance_pct,
            );
            Some(report)
        }
    };
    Ok((
        DomainResult {
            name: name.to_string(),
            fingerprint: fingerprint.to_string(),
            train_tokens: data.train_tokens.len(),
            valid_tokens: data.valid_tokens.len(),
            similarity,
            base,
            adapted,
            training,
            decomposition,
            verdict,
            control,
            disk,
            forgetting,
            mitigations,
            plain_decision,
        },
        description,
    ))
}

/// The plain run's verdict (before any mitigation).
fn domain_verdict(
    base: &crate::domain::PerplexityRecord,
    adapted: &crate::domain::PerplexityRecord,
    decomposition: &crate::domain::DecompositionRecord,
    training: &crate::domain::TrainingRecord,
    config: &StudyConfig,
) -> crate::verdict::Verdict {
    let first = training
        .valid_ppl
        .first()
        .map(|p| p.value)
        .unwrap_or(f64::NAN);
    let last = training
        .valid_ppl
        .last()
        .map(|p| (p.value, p.step))
        .unwrap_or((f64::NAN, 0));
    decide(
        &VerdictInputs {
            base_ppl: base.token_ppl,
            adapted_ppl: adapted.token_ppl,
            base_ppl_filtered: decomposition.base_ppl_filtered,
            adapted_ppl_filtered: decomposition.adapted_ppl_filtered,
            filtered_set: decomposition.filtered_set.clone(),
            filtered_share: decomposition.filtered_positions as f64
                / decomposition.positions.max(1) as f64,
            valid_ppl_start: first,
            valid_ppl_best: (training.best_valid_ppl, training.best_step),
            valid_ppl_end: last,
            early_stop_step: training.early_stop_step,
            top_degrading: (
                decomposition.top_degrading_share_of_losses,
                decomposition
                    .top_degrading
                    .iter()
                    .take(5)
                    .map(|t| crate::summary::show_token(&t.text))
                    .collect(),
            ),
        },
        &config.verdict,
    )
}

/// The forgetting of the model behind `scorer`, when the study measures it.
fn forgetting_of(
    general: Option<&GeneralProbe>,
    scorer: &LmScorer<AnyModel>,
    tokenizer: &odyssey_corpus::HfTokenizer,
    config: &StudyConfig,
) -> Result<Option<crate::forgetting::ForgettingRecord>> {
    let Some(g) = general else { return Ok(None) };
    eprintln!("  adapted model on the general corpus (forgetting)");
    let scores = g.score(scorer, tokenizer, config)?;
    Ok(Some(g.record(
        &scores,
        tokenizer,
        config.verdict.top_k_tokens,
    )?))
}

/// Retrain the base on the domain with each mitigation (see [`crate::mitigation`]) and score
/// every variant. `test` holds the base's and the plain run's test scores, `valid` the
/// validation tokens and the plain run's scores of them (the mask is chosen there).
fn run_mitigations(
    c: &DomainContext<'_>,
    name: &str,
    data: &DomainData,
    test: &TestSet,
    (base_test, plain_test): (
        &odyssey_perplexity::ScoredCorpus,
        &odyssey_perplexity::ScoredCorpus,
    ),
    (valid, plain_valid): (&TestSet, &odyssey_perplexity::ScoredCorpus),
    general: Option<&GeneralProbe>,
) -> Result<MitigationReport> {
    let (config, device, tokenizer) = (c.config, c.device, &**c.tokenizer);
    let (window, bs) = (config.eval.window, config.eval.batch_size);
    eprintln!("  base model on the validation split (to choose the token mask)");
    let base_valid = {
        let s = LmScorer::new(load_model(&config.model, device)?, bs);
        score(&s, tokenizer, valid, window, bs)?
    };
    let mask = choose_mask(
        &base_valid,
        plain_valid,
        tokenizer,
        config.mitigations.mask_top_k,
    )?;
    let plain_outside_mask = outside_mask(base_test, plain_test, tokenizer, &mask.ids)?;
    let mut variants = Vec::new();
    for kind in MitigationKind::ALL {
        eprintln!("  mitigation {}: continued pretraining", kind.name());
        let (settings, setting) = variant_settings(kind, config);
        let mut model = load_model(&config.model, device)?;
        let block = settings.block_size.min(model.config().max_positions());
        let train = match kind {
            MitigationKind::Replay => {
                let pre = match c.replay_tokens.get() {
                    Some(t) => t,
                    None => {
                        let texts = c.corpora.pretraining.train_texts()?;
                        let t = crate::data::pack(tokenizer, &texts, "pretraining", "train")?;
                        c.replay_tokens.get_or_init(|| t)
                    }
                };
                let n = blocks(&data.train_tokens, block, settings.max_train_tokens)?.n_blocks();
                replay_stream(
                    &data.train_tokens,
                    pre,
                    block,
                    n,
                    config.mitigations.replay_ratio,
                )?
            }
            _ => data.train_tokens.clone(),
        };
        let ignore: &[u32] = if kind == MitigationKind::TokenMask {
            &mask.ids
        } else {
            &[]
        };
        let dir = c.out.checkpoints(&format!("{name}.{}", kind.name()));
        let training = continue_pretraining_masked(
            &mut model,
            &train,
            &data.valid_tokens,
            &settings,
            config.seed,
            config.threads,
            &dir,
            &format!("{name} ({})", kind.name()),
            ignore,
        )?;
        let scorer = LmScorer::new(model, bs);
        let scores = score(&scorer, tokenizer, test, window, bs)?;
        let forgetting = forgetting_of(general, &scorer, tokenizer, config)?;
        drop(scorer);
        apply_checkpoint_policy(&dir, config.training.checkpoints)?;
        let adapted = perplexity_record(&scores.metrics());
        variants.push(MitigationRecord {
            kind,
            setting,
            delta_ppl_pct: crate::domain::relative_change_pct(
                base_test.metrics().token_perplexity,
                adapted.token_ppl,
            ),
            adapted,
            outside_mask: outside_mask(base_test, &scores, tokenizer, &mask.ids)?,
            forgetting,
            training,
        });
    }
    Ok(MitigationReport {
        mask,
        plain_outside_mask,
        variants,
        chosen: None,
    })
}

/// The pre-flight of one domain: the base on the test split, the pilot, the forecast, the
/// pilot's decomposition and the predicted verdict.
#[allow(clippy::too_many_arguments)]
fn preflight_domain(
    config: &StudyConfig,
    device: Device,
    out: &OutputLayout,
    name: &str,
    fingerprint: &str,
    data: &DomainData,
    tokenizer: &odyssey_corpus::HfTokenizer,
    similarity: Option<crate::domain::SimilarityRecord>,
) -> Result<crate::preflight::PreflightRecord> {
    use crate::preflight::{
        category_profile, preflight_verdict_with_spread, run_pilot, transfer_sd, PreflightRecord,
    };
    let (window, bs) = (config.eval.window, config.eval.batch_size);
    let test = TestSet::new(
        tokenizer,
        data.test_docs.clone(),
        config.eval.max_test_tokens,
    )
    .map_err(|e| StudyError::stage(format!("{name}: test split"), e))?;
    eprintln!("  base model on the test split");
    let scorer = LmScorer::new(load_model(&config.model, device)?, bs);
    let base_scores = score(&scorer, tokenizer, &test, window, bs)?;
    let mut model = scorer.into_model();
    eprintln!("  pilot");
    let (planned, pilot, forecast, predicted_valid) = run_pilot(
        &mut model,
        &data.train_tokens,
        &data.valid_tokens,
        config,
        &out.checkpoints(&format!("{name}.pilot")),
        name,
    )?;
    eprintln!("  pilot model on the test split");
    let scorer = LmScorer::new(model, bs);
    let pilot_scores = score(&scorer, tokenizer, &test, window, bs)?;
    drop(scorer);
    apply_checkpoint_policy(
        &out.checkpoints(&format!("{name}.pilot")),
        config.training.checkpoints,
    )?;
    let decomposition = decomposition_record(
        &base_scores,
        &pilot_scores,
        tokenizer,
        config.verdict.top_k_tokens,
    )?;
    let base_test = base_scores.metrics().token_perplexity;
    let pilot_test = pilot_scores.metrics().token_perplexity;
    // The test interval joins the law's extrapolation error with the error of carrying the
    // validation change over to the test split, both measured on the pilot.
    let pilot_valid_delta = pilot.curve.last().map_or(0.0, |p| p.loss) - forecast.law.l_start;
    let transfer = transfer_sd(
        &forecast,
        pilot_valid_delta,
        pilot_test.ln() - base_test.ln(),
    );
    let test_interval = odyssey_perplexity::forecast::widen(
        forecast.final_loss,
        forecast.extrapolation_sd.hypot(transfer),
        crate::preflight::test_interval_dof(&forecast),
        forecast.level,
        forecast.interval,
    );
    let ratio = |l: f64| (l - forecast.law.l_start).exp();
    let predicted = (
        base_test * ratio(forecast.final_loss),
        base_test * ratio(test_interval.0),
        base_test * ratio(test_interval.1),
    );
    let pct = |p: f64| crate::domain::relative_change_pct(base_test, p);
    let (verdict, spread) = preflight_verdict_with_spread(
        base_test,
        predicted,
        forecast.law.l_start.exp(),
        &predicted_valid,
        &decomposition,
        pilot_test,
        config,
        Some(crate::preflight::PilotErrors {
            forecast: &forecast,
            transfer_sd: transfer,
            pilot_share: pilot.steps as f64 / planned.steps.max(1) as f64,
        }),
    );
    let compute_share = crate::preflight::compute_share(&planned, pilot.tokens, pilot.eval_tokens);
    let total_share = crate::preflight::compute_share(
        &planned,
        pilot.tokens,
        pilot.eval_tokens + pilot_scores.metrics().tokens as usize,
    );
    Ok(PreflightRecord {
        name: name.to_string(),
        fingerprint: fingerprint.to_string(),
        made_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        similarity,
        base_profile: category_profile(&base_scores, tokenizer),
        planned,
        pilot,
        forecast,
        predicted_valid_ppl: predicted_valid,
        base_test_ppl: base_test,
        predicted_test_ppl: predicted,
        transfer_sd: transfer,
        predicted_delta_pct: (pct(predicted.0), pct(predicted.1), pct(predicted.2)),
        pilot_decomposition: decomposition,
        verdict,
        spread: Some(spread),
        compute_share,
        total_share,
    })
}

/// Apply `policy` to a finished run's checkpoint folder `dir`; the disk it used and keeps.
pub fn apply_checkpoint_policy(
    dir: &Path,
    policy: crate::config::CheckpointPolicy,
) -> Result<crate::domain::DiskRecord> {
    use crate::config::CheckpointPolicy;
    use odyssey_train::trainer::{compact_finished_run, folder_bytes};
    let at_end = folder_bytes(dir);
    match policy {
        CheckpointPolicy::All => {}
        CheckpointPolicy::Resume => {
            compact_finished_run(dir)
                .map_err(|e| StudyError::stage("compacting the checkpoints", e))?;
        }
        CheckpointPolicy::None => {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|source| StudyError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
        }
    }
    Ok(crate::domain::DiskRecord {
        at_end_of_training: at_end,
        kept: folder_bytes(dir),
    })
}

/// A short description of the scorer's model.
trait DescribeModel {
    fn describe_model(&self) -> String;
}

impl DescribeModel for LmScorer<AnyModel> {
    fn describe_model(&self) -> String {
        odyssey_core::TokenScorer::describe(self)
    }
}
