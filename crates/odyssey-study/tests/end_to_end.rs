//! The study end to end on real data: the embedded default's base model, two real domains,
//! the real MiniLM encoder, tiny settings. Checks the report files and their content, and that
//! a rerun resumes from the finished domains — also after the study's process was killed.

use odyssey_study::{run_study, StudyConfig, StudyReport};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/default");

fn tiny_config(out: &Path) -> StudyConfig {
    let data = PathBuf::from(DATA);
    let mut cfg = StudyConfig {
        model: data.join("base-model"),
        pretraining_corpus: data.join("pretraining"),
        domains: data.join("domains"),
        only_domains: vec![
            "wiki_music".into(),
            "arxiv_cs".into(),
            "speeches_us_gov".into(),
        ],
        out: out.to_path_buf(),
        threads: 2,
        ..StudyConfig::default()
    };
    cfg.training.max_train_tokens = 4 * 8 * 128;
    cfg.training.block_size = 128;
    cfg.training.evals_per_run = 2;
    cfg.training.max_valid_tokens = 2 * 128;
    cfg.training.lr = 1e-3;
    cfg.eval.max_test_tokens = 1024;
    cfg.similarity.domain_samples = 6;
    cfg.similarity.pretraining_samples = 12;
    cfg.similarity.bootstrap = 20;
    cfg
}

#[test]
fn study_runs_end_to_end_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let report = run_study(&cfg).unwrap();

    // The three domains, each fully measured, most similar first.
    assert_eq!(report.domains.len(), 3);
    let cos: Vec<f64> = report
        .domains
        .iter()
        .map(|d| d.similarity.centroid_cosine.value)
        .collect();
    assert!(cos.windows(2).all(|w| w[0] >= w[1]), "{cos:?}");
    for d in &report.domains {
        let c = d.similarity.centroid_cosine;
        assert!(
            c.lo <= c.value && c.value <= c.hi && c.value > 0.0 && c.value <= 1.0,
            "{c:?}"
        );
        assert!(d.base.token_ppl.is_finite() && d.base.token_ppl > 1.0);
        assert!(d.adapted.token_ppl.is_finite() && d.adapted.token_ppl > 1.0);
        assert_eq!(d.base.tokens, d.adapted.tokens);
        assert!(d.training.steps >= 1 && d.training.tokens > 0);
        assert!(
            d.training.valid_ppl.len() >= 2,
            "{:?}",
            d.training.valid_ppl
        );
        let dec = &d.decomposition;
        assert_eq!(dec.positions, d.base.tokens);
        // ΔNLL totals agree with the pooled perplexities: Σ ΔNLL = n · ln(adapted / base).
        let expected = d.base.tokens as f64 * (d.adapted.token_ppl / d.base.token_ppl).ln();
        assert!(
            (dec.total_delta_nll - expected).abs() < 1e-3 * expected.abs().max(1.0),
            "{} vs {expected}",
            dec.total_delta_nll
        );
        assert!(!dec.top_degrading.is_empty() && !d.verdict.evidence.is_empty());
        assert_eq!(
            d.verdict.degraded,
            d.degraded(cfg.verdict.degradation_tolerance_pct)
        );
    }
    assert!(!report.correlations.is_empty());
    assert_eq!(report.correlations[0].measure, "centroid cosine");
    assert!(report.correlations.iter().all(|c| c.n == 3));
    assert_eq!(
        report.any_degraded,
        report.domains.iter().any(|d| d.verdict.degraded)
    );

    // The files: Markdown with every domain, JSON equal to the returned report, four SVGs.
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for d in &report.domains {
        assert!(md.contains(&format!("### {}: ", d.name)), "{md}");
    }
    assert!(md.contains("## Correlation of Δ perplexity with similarity"));
    let json: StudyReport =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json.domains, report.domains);
    for svg in [
        "similarity_vs_delta.svg",
        "perplexity_before_after.svg",
        "token_contributions.svg",
        "training_curves.svg",
    ] {
        let s = std::fs::read_to_string(dir.path().join("plots").join(svg)).unwrap();
        assert!(
            s.starts_with("<svg") && s.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }
    let leftovers: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Rerun after losing one domain's result: the other two are reused as they were.
    std::fs::remove_file(dir.path().join("domains/arxiv_cs.json")).unwrap();
    std::fs::remove_file(dir.path().join("report.md")).unwrap();
    let again = run_study(&cfg).unwrap();
    assert_eq!(again.resumed.len(), 2, "{:?}", again.resumed);
    assert!(!again.resumed.contains(&"arxiv_cs".to_string()));
    let find = |r: &StudyReport, n: &str| r.domains.iter().find(|d| d.name == n).cloned().unwrap();
    assert_eq!(find(&again, "wiki_music"), find(&report, "wiki_music"));
    // The retrained domain resumed from its finished checkpoint: same numbers.
    let (a, b) = (find(&again, "arxiv_cs"), find(&report, "arxiv_cs"));
    assert!((a.adapted.token_ppl - b.adapted.token_ppl).abs() < 1e-6 * b.adapted.token_ppl);
    assert!(dir.path().join("report.md").exists());
}

#[test]
fn a_missing_model_is_a_clear_error_and_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.model = dir.path().join("no-such-model");
    let e = run_study(&cfg).unwrap_err().to_string();
    assert!(e.contains("no-such-model"), "{e}");
    assert!(!dir.path().join("report.md").exists());
    assert!(!dir.path().join("report.json").exists());
}

/// Environment variable that turns [`study_process_to_be_killed`] on, naming its output folder.
const CHILD_OUT: &str = "ODYSSEY_STUDY_KILL_TEST_OUT";

/// The study process that [`killed_study_resumes_from_its_finished_domains`] starts and kills;
/// it does nothing unless [`CHILD_OUT`] is set.
#[test]
#[ignore = "run as a child process by killed_study_resumes_from_its_finished_domains"]
fn study_process_to_be_killed() {
    let Some(out) = std::env::var_os(CHILD_OUT).map(PathBuf::from) else {
        return;
    };
    run_study(&tiny_config(&out)).unwrap();
}

#[test]
fn killed_study_resumes_from_its_finished_domains() {
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));
    let uninterrupted = run_study(&tiny_config(&out_a)).unwrap();

    // The same study in another process, killed with SIGKILL as soon as its first domain is
    // finished (while the second is being measured or trained).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "study_process_to_be_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_OUT, &out_b)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let finished = |out: &Path| -> Vec<String> {
        std::fs::read_dir(out.join("domains"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_suffix(".json").map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let started = Instant::now();
    while finished(&out_b).is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the study process ended before it was killed ({status})");
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the study process finished no domain in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let done_before_kill = finished(&out_b);
    assert!(!out_b.join("report.md").exists() && !out_b.join("report.json").exists());

    // Rerun: the finished domains are reused, the rest is measured (resuming from any training
    // checkpoint), and the report is that of the uninterrupted run.
    let resumed = run_study(&tiny_config(&out_b)).unwrap();
    for name in &done_before_kill {
        assert!(resumed.resumed.contains(name), "{:?}", resumed.resumed);
    }
    assert!(resumed.resumed.len() < 3, "{:?}", resumed.resumed);
    assert_eq!(resumed.domains.len(), uninterrupted.domains.len());
    for (a, b) in resumed.domains.iter().zip(&uninterrupted.domains) {
        assert_eq!(a.name, b.name);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * y.abs().max(1e-12);
        assert!(
            close(
                a.similarity.centroid_cosine.value,
                b.similarity.centroid_cosine.value
            ),
            "{}",
            a.name
        );
        assert!(close(a.base.token_ppl, b.base.token_ppl), "{}", a.name);
        assert_eq!(a.training.steps, b.training.steps);
        assert!(
            close(a.adapted.token_ppl, b.adapted.token_ppl),
            "{}: {} vs {}",
            a.name,
            a.adapted.token_ppl,
            b.adapted.token_ppl
        );
    }
    let leftovers: Vec<_> = walk(&out_b)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(out_b.join("report.md").exists() && out_b.join("report.json").exists());
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The domains folder of a study with the CJK fixture domain next to a real English one.
fn cjk_domains(dir: &Path) -> PathBuf {
    let domains = dir.join("domains");
    for (name, from) in [
        (
            "cjk_python",
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/cjk_python"
            )),
        ),
        ("wiki_music", PathBuf::from(DATA).join("domains/wiki_music")),
    ] {
        let to = domains.join(name);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    domains
}

#[test]
fn a_domain_written_without_spaces_gives_a_complete_report_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(&dir.path().join("out"));
    cfg.domains = cjk_domains(dir.path());
    cfg.only_domains = vec!["cjk_python".into(), "wiki_music".into()];
    cfg.training.max_train_tokens = 2 * 8 * 128;
    cfg.similarity.domain_samples = 4;
    cfg.similarity.min_paragraph_chars = 40;
    let report = run_study(&cfg).unwrap();
    let cjk = report
        .domains
        .iter()
        .find(|d| d.name == "cjk_python")
        .unwrap();
    // Word perplexity does not apply: no number, a reason, on both sides.
    for p in [&cjk.base, &cjk.adapted] {
        assert_eq!(p.word_ppl, None);
        let why = p.word_ppl_not_applicable.as_deref().unwrap();
        assert!(why.contains("without spaces"), "{why}");
        assert!(p.token_ppl.is_finite() && p.bits_per_byte.is_finite());
    }
    let music = report
        .domains
        .iter()
        .find(|d| d.name == "wiki_music")
        .unwrap();
    assert!(music.base.word_ppl.is_some_and(f64::is_finite));
    assert!(music.base.word_ppl_not_applicable.is_none());

    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| cjk_python | ") && l.contains("n/a"))
        .unwrap_or_else(|| panic!("no n/a row for cjk_python in\n{md}"));
    assert!(row.contains("without spaces"), "{row}");
    let json = std::fs::read(dir.path().join("out/report.json")).unwrap();
    let back: StudyReport = odyssey_core::json::from_slice(&json).unwrap();
    assert_eq!(back.domains, report.domains);
    assert_eq!(odyssey_core::json::to_vec_pretty(&back).unwrap(), json);

    // The failure this guards against: the finished domain's file is read back on a rerun.
    let again = run_study(&cfg).unwrap();
    assert_eq!(again.resumed.len(), 2, "{:?}", again.resumed);
    assert_eq!(again.domains, report.domains);
}

#[test]
fn the_control_arm_and_the_checkpoint_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.only_domains = vec!["wiki_music".into(), "arxiv_cs".into()];
    cfg.control.enabled = true;
    let report = run_study(&cfg).unwrap();
    let control = report.control.clone().expect("a control run");
    assert_eq!(control.training.tokens, cfg.training.max_train_tokens);
    assert!(dir.path().join("control/model/model.safetensors").is_file());
    for d in &report.domains {
        let c = d.control.expect("a control record per domain");
        assert!(c.token_ppl.is_finite() && c.token_ppl > 1.0);
        let expected = (c.token_ppl / d.base.token_ppl - 1.0) * 100.0;
        assert!((c.delta_ppl_pct - expected).abs() < 1e-9);
        assert!((c.own_effect_pp - (c.delta_ppl_pct - d.delta_ppl_pct())).abs() < 1e-9);
        assert!(d.verdict.evidence.iter().any(|e| e.contains("control arm")));
        // The default policy kept the final weights only: one checkpoint, no optimizer state.
        let ckpts = dir.path().join("checkpoints").join(&d.name);
        let kept: Vec<_> = std::fs::read_dir(&ckpts)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("checkpoint-"))
            .collect();
        assert_eq!(kept.len(), 1, "{:?}", kept);
        assert!(!kept[0].path().join("optimizer.safetensors").exists());
        assert!(kept[0].path().join("model.safetensors").is_file());
        assert!(
            d.disk.kept > 0 && d.disk.kept < d.disk.at_end_of_training / 2,
            "{:?}",
            d.disk
        );
    }
    // The control run's checkpoints are gone; its model folder is what the domains use.
    assert!(!dir.path().join("checkpoints/_control").exists());
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("### Control arm"), "{md}");
    assert!(md.contains("checkpoints on disk"), "{md}");
    assert!(report.findings.iter().any(|f| f.contains("control arm")));

    // A rerun reuses the control run and the domains.
    let again = run_study(&cfg).unwrap();
    assert_eq!(again.control, report.control);
    assert_eq!(again.resumed.len(), 2);
}

#[test]
fn a_run_that_cannot_fit_in_memory_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    // 2^22 sequences per micro-batch: terabytes of activations.
    cfg.training.batch_size = 1 << 22;
    let e = run_study(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("continued pretraining") && e.contains("training.batch_size"),
        "{e}"
    );
    assert!(e.contains("activations"), "{e}");
    assert!(!dir.path().join("report.md").exists() && !dir.path().join("domains").exists());
    // A normal run records its estimate.
    let cfg = tiny_config(&dir.path().join("ok"));
    let report = run_study(&StudyConfig {
        only_domains: vec!["arxiv_cs".into()],
        ..cfg
    })
    .unwrap();
    let m = report.memory.unwrap();
    assert!(m.training_bytes > m.scoring_bytes.min(m.training_bytes) / 2);
    assert!(m.available_bytes.is_some_and(|a| a > m.training_bytes));
}

/// The scores of `test` (the study's windows) under the model in `weights`, a checkpoint of a
/// model with the base's config.
fn scores_of(
    weights: &Path,
    tok: &odyssey_corpus::HfTokenizer,
    test: &odyssey_study::scoring::TestSet,
    cfg: &StudyConfig,
) -> odyssey_perplexity::ScoredCorpus {
    let model = odyssey_train::AnyModel::from_pretrained(&cfg.model, tch::Device::Cpu).unwrap();
    odyssey_train::trainer::load_weights(odyssey_train::CausalLm::var_store(&model), weights)
        .unwrap();
    let scorer = odyssey_train::LmScorer::new(model, cfg.eval.batch_size);
    odyssey_study::scoring::score(&scorer, tok, test, cfg.eval.window, cfg.eval.batch_size).unwrap()
}

fn final_weights(dir: &Path) -> PathBuf {
    odyssey_train::trainer::latest_checkpoint(dir)
        .unwrap()
        .unwrap()
        .join("model.safetensors")
}

#[test]
fn forgetting_and_retrained_mitigations() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.only_domains = vec!["wiki_music".into(), "arxiv_cs".into()];
    cfg.mitigations.run = odyssey_study::config::MitigationPolicy::Always;
    cfg.forgetting.max_tokens = 512;
    let report = run_study(&cfg).unwrap();
    let tok = odyssey_study::data::load_tokenizer(&cfg.model).unwrap();
    let corpora = odyssey_study::data::Corpora::open(&cfg).unwrap();
    for d in &report.domains {
        // Forgetting: the same general tokens before and after, for every domain and variant.
        let f = d.forgetting.as_ref().unwrap();
        assert_eq!(f.tokens, 512);
        let first = report.domains[0].forgetting.as_ref().unwrap();
        assert_eq!(
            f.base_ppl, first.base_ppl,
            "one base score of the general corpus"
        );
        assert!(f.adapted_ppl.is_finite() && f.adapted_ppl != f.base_ppl);
        let m = d.mitigations.as_ref().unwrap();
        assert_eq!(m.variants.len(), 3);
        for v in &m.variants {
            let vf = v.forgetting.as_ref().unwrap();
            assert_eq!((vf.tokens, vf.base_ppl), (f.tokens, f.base_ppl));
            assert!(v.adapted.token_ppl.is_finite());
            assert_eq!(v.adapted.tokens, d.base.tokens);
            assert_eq!(
                v.training.steps, d.training.steps,
                "same steps as the plain run"
            );
        }
        assert_eq!(m.variants[1].training.lr, cfg.training.lr * 0.1);

        // The mask comes from the validation split: recompute it there from the base and the
        // plain run's final weights.
        let data = corpora.domain_data(&d.name, &tok).unwrap();
        let split = |docs: &[(String, String)], max: usize| {
            odyssey_study::scoring::TestSet::new(&tok, docs.to_vec(), max).unwrap()
        };
        let valid = split(&data.valid_docs, cfg.training.max_valid_tokens);
        let plain = final_weights(&dir.path().join("checkpoints").join(&d.name));
        let base_w = dir.path().join("base.safetensors");
        let base_model =
            odyssey_train::AnyModel::from_pretrained(&cfg.model, tch::Device::Cpu).unwrap();
        odyssey_train::CausalLm::var_store(&base_model)
            .save(&base_w)
            .unwrap();
        let mask = odyssey_study::mitigation::choose_mask(
            &scores_of(&base_w, &tok, &valid, &cfg),
            &scores_of(&plain, &tok, &valid, &cfg),
            &tok,
            cfg.mitigations.mask_top_k,
        )
        .unwrap();
        assert_eq!(
            m.mask.ids, mask.ids,
            "{}: the mask is the validation split's",
            d.name
        );
        assert!(m.mask.chosen_on.starts_with("validation split"));
        // The same choice on the test split gives other tokens here, so a mask taken from the
        // test split would fail the assertion above.
        let test = split(&data.test_docs, cfg.eval.max_test_tokens);
        let on_test = odyssey_study::mitigation::choose_mask(
            &scores_of(&base_w, &tok, &test, &cfg),
            &scores_of(&plain, &tok, &test, &cfg),
            &tok,
            cfg.mitigations.mask_top_k,
        )
        .unwrap();
        assert_ne!(
            on_test.ids, mask.ids,
            "{}: valid and test rankings differ",
            d.name
        );
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("### Forgetting") && md.contains("### Mitigations, retrained"),
        "{md}"
    );
    assert!(dir.path().join("plots/forgetting.svg").is_file());

    // The variants resume like the plain run: with one domain's result gone, the rerun
    // retrains nothing and gives the same numbers.
    std::fs::remove_file(dir.path().join("domains/arxiv_cs.json")).unwrap();
    let again = run_study(&cfg).unwrap();
    let find = |r: &StudyReport| {
        r.domains
            .iter()
            .find(|d| d.name == "arxiv_cs")
            .cloned()
            .unwrap()
    };
    let (a, b) = (find(&again), find(&report));
    for (x, y) in a
        .mitigations
        .unwrap()
        .variants
        .iter()
        .zip(&b.mitigations.unwrap().variants)
    {
        assert!((x.adapted.token_ppl - y.adapted.token_ppl).abs() < 1e-6 * y.adapted.token_ppl);
        assert_eq!(x.training.steps, y.training.steps);
    }
}

#[test]
fn preflight_predicts_before_the_full_run_and_is_compared_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.only_domains = vec!["wiki_music".into(), "arxiv_cs".into()];
    cfg.training.max_train_tokens = 8 * 8 * 128;
    cfg.preflight.enabled = true;
    cfg.preflight.pilot_share = 0.5;
    cfg.preflight.max_share = 1.0;
    cfg.preflight.evals = 4;
    cfg.preflight.valid_tokens = 256;
    cfg.mitigations.run = odyssey_study::config::MitigationPolicy::Never;
    let report = run_study(&cfg).unwrap();
    assert_eq!(report.preflight.len(), 2);
    for p in &report.preflight {
        assert_eq!(p.planned.steps, 8);
        assert_eq!(p.pilot.steps, 4);
        assert_eq!(p.pilot.curve.len(), 5, "the base and 4 evaluations");
        let (pred, lo, hi) = p.predicted_test_ppl;
        assert!(
            lo <= pred && pred <= hi && pred.is_finite(),
            "{:?}",
            p.predicted_test_ppl
        );
        assert_eq!(p.predicted_valid_ppl.len(), 8);
        // Four points: one backtest on the first three; the transfer error is measured.
        assert_eq!(p.forecast.backtests.len(), 1, "{:?}", p.forecast.backtests);
        assert_eq!(p.forecast.backtests[0].points, 3);
        assert!(p.forecast.extrapolation_sd.is_finite() && p.transfer_sd.is_finite());
        assert!(p.transfer_sd >= 0.0 && p.forecast.extrapolation_sd >= 0.0);
        assert!(
            p.compute_share > 0.5 && p.compute_share < 1.0,
            "{}",
            p.compute_share
        );
        // The pilot's learning rates: warm-up (from above 0: no step at a zero rate), peak,
        // decay.
        assert!(p.pilot.lrs[0] > 0.0 && p.pilot.lrs[0] < cfg.training.lr);
        assert!(p
            .pilot
            .lrs
            .iter()
            .any(|&l| (l - cfg.training.lr).abs() < 1e-12));
        assert!(!p.base_profile.is_empty());
        assert_eq!(p.pilot.train_losses.len(), 4);
        assert!(p
            .pilot
            .train_losses
            .iter()
            .all(|l| l.is_finite() && *l > 0.0));
        // The verdict across the interval: settled exactly when nothing in it makes the other
        // call, and said so in the evidence.
        let spread = p.spread.unwrap();
        let call = |d| d == odyssey_study::verdict::Decision::DontAdapt;
        assert_eq!(spread.settled, spread.dissent.is_none());
        match spread.dissent {
            None => {
                assert_eq!(call(spread.at_lower), call(p.verdict.decision));
                assert_eq!(call(spread.at_upper), call(p.verdict.decision));
            }
            Some((ppl, d)) => {
                assert!(
                    lo * (1.0 - 1e-9) <= ppl && ppl <= hi * (1.0 + 1e-9),
                    "{ppl} in {lo}–{hi}"
                );
                assert_ne!(call(d), call(p.verdict.decision));
            }
        }
        let last = p.verdict.evidence.last().unwrap();
        assert!(
            last.starts_with(if spread.settled {
                "settled"
            } else {
                "unsettled"
            }),
            "{last}"
        );
        let d = report.domains.iter().find(|d| d.name == p.name).unwrap();
        assert_eq!(d.base.token_ppl, p.base_test_ppl, "the same base scores");
        assert!(dir
            .path()
            .join(format!("preflight/{}.json", p.name))
            .is_file());
    }
    let c = report.preflight_comparison.as_ref().unwrap();
    assert_eq!(c.outcomes.len(), 2);
    assert!(c.median_abs_rel_error.is_finite() && (0.0..=1.0).contains(&c.coverage));
    let settled = c.outcomes.iter().filter(|o| o.settled).count();
    assert_eq!(c.settled_share, settled as f64 / 2.0);
    assert_eq!(c.settled_agreement.is_some(), settled > 0);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("### Pre-flight") && md.contains("Against the full runs"),
        "{md}"
    );
    assert!(dir.path().join("plots/preflight.svg").is_file());

    // Pre-flight only: predictions for every domain, no full run, a report all the same.
    let mut only = cfg.clone();
    only.out = dir.path().join("only");
    only.preflight.full_run = false;
    let r = run_study(&only).unwrap();
    assert!(r.domains.is_empty() && r.preflight.len() == 2);
    assert!(r.preflight.iter().all(|p| p.similarity.is_some()));
    assert!(!dir.path().join("only/checkpoints/wiki_music").exists());
    let md = std::fs::read_to_string(dir.path().join("only/report.md")).unwrap();
    assert!(
        md.contains("### Pre-flight") && md.contains("No full runs in this report"),
        "{md}"
    );
    assert!(
        !md.contains("plots/training_curves.svg"),
        "no figure of a run that did not happen: {md}"
    );
}

#[test]
fn continued_pretraining_runs_on_two_torchrun_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.only_domains = vec!["arxiv_cs".into()];
    cfg.mitigations.run = odyssey_study::config::MitigationPolicy::Never;
    cfg.training.distributed.nproc_per_node = 2;
    let report = run_study(&cfg).unwrap();
    let d = &report.domains[0];
    assert_eq!(d.training.steps, 4);
    assert!(d.training.train_loss.iter().all(|p| p.value.is_finite()));
    assert!(d.adapted.token_ppl.is_finite() && d.adapted.token_ppl != d.base.token_ppl);
    let handoff = dir.path().join("checkpoints/arxiv_cs/handoff");
    assert!(handoff.join("launch.json").is_file() && handoff.join("hf/final").is_dir());
    // The same study in this process: the same steps and close numbers (the hand-off runs HF's
    // Trainer on the same blocks in the same order).
    let mut local = tiny_config(&dir.path().join("local"));
    local.only_domains = cfg.only_domains.clone();
    local.mitigations.run = odyssey_study::config::MitigationPolicy::Never;
    let l = run_study(&local).unwrap();
    let rel = (l.domains[0].adapted.token_ppl / d.adapted.token_ppl - 1.0).abs();
    assert!(
        rel < 5e-3,
        "{} vs {}",
        l.domains[0].adapted.token_ppl,
        d.adapted.token_ppl
    );
}
