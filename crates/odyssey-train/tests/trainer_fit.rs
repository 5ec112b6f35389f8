//! The trainer on real text (data/odyssey-mini-sample, byte tokens) with a tiny GPT-2: learning,
//! evaluation and the best checkpoint, gradient accumulation, early stopping, NaN handling and
//! bad input.

mod trainer_support;

use odyssey_train::trainer::{
    counted_labels, epoch_order, list_checkpoints, load_weights, read_state, Duration,
    EarlyStopping, PackedBlocks, ScheduleKind, StopReason, StopRule, TokenBlocks, TrainReport,
    Trainer, TrainerConfig, TrainerError,
};
use odyssey_train::CausalLm;
use std::sync::Mutex;
use trainer_support::{
    as_batch, byte_blocks, pretraining_config, tiny_gpt2, weights, Hooked, BLOCK, NEWLINE,
};

/// libtorch's generator and thread count are process-wide: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    let g = TURN.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    g
}

fn quiet(cfg: TrainerConfig) -> TrainerConfig {
    TrainerConfig {
        progress: false,
        threads: Some(1),
        ..cfg
    }
}

#[test]
fn pretrains_from_scratch_keeps_the_best_checkpoint_and_logs_every_step() {
    let _t = turn();
    let train = byte_blocks("books_gutenberg", "train", 64);
    let valid = byte_blocks("books_gutenberg", "valid", 16);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut model = tiny_gpt2(1, 0.0);
    let cfg = quiet(pretraining_config(out.clone()));
    let trainer = Trainer::new(cfg);
    let before = trainer.evaluate(&model, &valid).unwrap();
    // The evaluation is HF's loss: the mean of the model's own causal-LM loss over the blocks.
    let x = as_batch(&valid);
    let hf_loss = model.lm_loss(&x, false).double_value(&[]);
    assert!(
        (before.loss - hf_loss).abs() < 1e-5,
        "{} vs {hf_loss}",
        before.loss
    );
    assert!((before.perplexity - before.loss.exp()).abs() < 1e-9);
    assert_eq!(before.tokens, 16 * (BLOCK - 1));

    let report = trainer.fit(&mut model, &train, Some(&valid)).unwrap();
    assert_eq!(report.stop_reason, StopReason::Completed);
    assert_eq!(report.steps.len(), 40);
    assert_eq!(report.total_steps, 40);
    assert_eq!(report.tokens_seen, 40 * 8 * BLOCK as u64);
    // warmup ceil(0.1 × 40) = 4 steps starting from lr 0, as HF.
    assert_eq!(report.steps[0].lr, 0.0);
    assert!((report.steps[4].lr - 3e-3).abs() < 1e-12);
    let evals: Vec<usize> = report.evals.iter().map(|e| e.step).collect();
    assert_eq!(evals, vec![10, 20, 30, 40]);
    let last = report.evals.last().unwrap();
    assert!(
        last.eval.perplexity < 0.5 * before.perplexity,
        "perplexity {} → {}",
        before.perplexity,
        last.eval.perplexity
    );
    // The best evaluation is the lowest, and its checkpoint holds the weights that scored it.
    let best = report
        .evals
        .iter()
        .min_by(|a, b| a.eval.perplexity.total_cmp(&b.eval.perplexity))
        .unwrap();
    assert_eq!(report.best_step, Some(best.step));
    let best_dir = report.best_checkpoint.clone().unwrap();
    assert_eq!(read_state(&best_dir).unwrap().step, best.step);
    let fresh = tiny_gpt2(99, 0.0);
    load_weights(fresh.var_store(), &best_dir.join("model.safetensors")).unwrap();
    let again = trainer.evaluate(&fresh, &valid).unwrap();
    assert!((again.perplexity - best.eval.perplexity).abs() < 1e-9);
    // keep_last = 1 plus the best one.
    let kept: Vec<usize> = list_checkpoints(&out)
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert!(
        kept.contains(&40) && kept.contains(&best.step) && kept.len() <= 2,
        "{kept:?}"
    );
    // One JSON line per step and per evaluation; report.json is the returned report.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l["event"] == "train").count(), 40);
    assert_eq!(lines.iter().filter(|l| l["event"] == "eval").count(), 4);
    assert!(lines.iter().all(|l| l["loss"].as_f64().is_some()));
    let saved: TrainReport =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(saved, report);
}

#[test]
fn accumulated_micro_batches_equal_one_batch_when_token_counts_differ() {
    let _t = turn();
    let train = byte_blocks("docs_python", "train", 32);
    let run = |micro: usize, accum: usize| {
        let mut model = tiny_gpt2(3, 0.0);
        let cfg = quiet(TrainerConfig {
            lr: 1e-3,
            micro_batch_size: micro,
            grad_accum_steps: accum,
            duration: Duration::Steps(4),
            ignore_token_ids: vec![NEWLINE, b' ' as u32],
            ..TrainerConfig::default()
        });
        let r = Trainer::new(cfg).fit(&mut model, &train, None).unwrap();
        (r, weights(model.var_store()))
    };
    // The masked tokens make the micro-batches of a step count different numbers of labels,
    // so averaging per micro-batch would give another loss and gradient.
    let order = epoch_order(train.n_blocks(), 42, 0);
    let counts: Vec<usize> = order[..8]
        .chunks(2)
        .map(|c| counted_labels(&train, c, &[NEWLINE, b' ' as u32]))
        .collect();
    assert!(counts.iter().any(|&c| c != counts[0]), "{counts:?}");
    let (one, w_one) = run(8, 1);
    let (acc, w_acc) = run(2, 4);
    for (a, b) in one.steps.iter().zip(&acc.steps) {
        assert_eq!(a.loss_tokens, b.loss_tokens);
        assert!(
            (a.loss - b.loss).abs() < 1e-5 * a.loss,
            "{} vs {}",
            a.loss,
            b.loss
        );
        assert!((a.grad_norm - b.grad_norm).abs() < 1e-4 * a.grad_norm);
    }
    assert_eq!(one.steps[0].loss_tokens, counts.iter().sum::<usize>());
    for ((name, a), (_, b)) in w_one.iter().zip(&w_acc) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{name}: {x} vs {y}");
        }
    }
}

#[test]
fn early_stopping_records_the_worsening_evaluations() {
    let _t = turn();
    let train = byte_blocks("wiki_music", "train", 32);
    // A validation stream of one byte value the training text never holds: as the model
    // learns the text, that byte becomes ever less likely and perplexity worsens.
    assert!((0..train.n_blocks()).all(|i| !train.block(i).contains(&0xFF)));
    let valid = PackedBlocks::new(vec![0xFFu32; 4 * BLOCK], BLOCK).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut model = tiny_gpt2(2, 0.0);
    let cfg = quiet(TrainerConfig {
        lr: 2e-3,
        schedule: ScheduleKind::Constant,
        duration: Duration::Steps(40),
        micro_batch_size: 4,
        eval_every: Some(2),
        early_stopping: Some(EarlyStopping {
            patience: 3,
            rule: StopRule::Worsens,
            min_delta: 0.0,
        }),
        output_dir: Some(out.clone()),
        ..TrainerConfig::default()
    });
    let report = Trainer::new(cfg.clone())
        .fit(&mut model, &train, Some(&valid))
        .unwrap();
    let StopReason::EarlyStopped {
        step,
        patience,
        perplexities,
    } = &report.stop_reason
    else {
        panic!("expected early stopping, got {:?}", report.stop_reason);
    };
    assert_eq!(*patience, 3);
    assert_eq!(*step, 8, "evaluations at 2, 4, 6, 8; the last three worsen");
    assert_eq!(report.steps.len(), 8);
    assert!(
        perplexities.windows(2).all(|w| w[1] > w[0]),
        "{perplexities:?}"
    );
    assert_eq!(report.best_step, Some(2));
    assert!(report.evals[1..].iter().all(|e| e.counted_against));
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(log
        .lines()
        .last()
        .unwrap()
        .contains("\"event\":\"early_stop\""));
    let kept: Vec<usize> = list_checkpoints(&out)
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(kept, vec![2, 8]);

    // Rerunning the finished run with `resume` reports it; it does not train past the stop.
    let rerun = Trainer::new(TrainerConfig {
        resume: true,
        ..cfg
    })
    .fit(&mut tiny_gpt2(3, 0.0), &train, Some(&valid))
    .unwrap();
    assert_eq!(rerun.resumed_from_step, Some(8));
    assert_eq!(rerun.stop_reason, report.stop_reason);
    assert_eq!(rerun.steps, report.steps);
    assert_eq!(rerun.best_step, Some(2));
    assert_eq!(
        std::fs::read_to_string(out.join("metrics.jsonl")).unwrap(),
        log
    );
}

#[test]
fn nan_loss_stops_with_an_error_and_keeps_the_last_good_checkpoint() {
    let _t = turn();
    let train = byte_blocks("legal_licenses", "train", 16);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // NaN logits from the 6th training forward pass (call 5) on.
    let mut model = Hooked::new(tiny_gpt2(4, 0.0), |call, logits| {
        if call >= 5 {
            logits * f64::NAN
        } else {
            logits
        }
    });
    let cfg = quiet(TrainerConfig {
        lr: 1e-3,
        micro_batch_size: 2,
        duration: Duration::Steps(10),
        save_every: Some(2),
        keep_last: 2,
        output_dir: Some(out.clone()),
        ..TrainerConfig::default()
    });
    let err = Trainer::new(cfg).fit(&mut model, &train, None).unwrap_err();
    let TrainerError::NonFiniteLoss {
        step,
        loss,
        last_good_checkpoint,
    } = &err
    else {
        panic!("expected a non-finite loss error, got {err}");
    };
    assert_eq!(*step, 6);
    assert!(loss.is_nan());
    let good = last_good_checkpoint.clone().unwrap();
    assert_eq!(good, out.join("checkpoint-00000004"));
    assert_eq!(read_state(&good).unwrap().step, 4);
    let kept: Vec<usize> = list_checkpoints(&out)
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(kept, vec![2, 4]);
    // The weights were not touched by the NaN step.
    let w = weights(model.var_store());
    assert!(w.iter().all(|(_, v)| v.iter().all(|x| x.is_finite())));
    assert!(err.to_string().contains("checkpoint-00000004"));
}

#[test]
fn bad_input_gets_typed_errors_naming_the_problem() {
    let _t = turn();
    let mut model = tiny_gpt2(5, 0.0);
    let trainer = Trainer::new(quiet(TrainerConfig::default()));
    let long = PackedBlocks::new(vec![1u32; 4 * 64], 64).unwrap();
    let e = trainer.fit(&mut model, &long, None).unwrap_err();
    assert!(
        matches!(
            e,
            TrainerError::InvalidData {
                stream: "train",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("64") && e.to_string().contains("32"),
        "{e}"
    );
    let mut toks = vec![1u32; 4 * BLOCK];
    toks[BLOCK + 3] = 300;
    let oov = PackedBlocks::new(toks, BLOCK).unwrap();
    let ok = byte_blocks("wiki_music", "train", 4);
    let e = trainer.fit(&mut model, &ok, Some(&oov)).unwrap_err();
    assert!(
        e.to_string()
            .contains("token id 300 at block 1, position 3"),
        "{e}"
    );
    let e = Trainer::new(TrainerConfig {
        micro_batch_size: 0,
        ..TrainerConfig::default()
    })
    .fit(&mut model, &ok, None)
    .unwrap_err();
    assert!(matches!(
        e,
        TrainerError::InvalidConfig {
            field: "micro_batch_size",
            ..
        }
    ));
    let core: odyssey_core::Error = e.into();
    assert!(matches!(core, odyssey_core::Error::InvalidInput(_)));

    // Resuming on other data is refused.
    let dir = tempfile::tempdir().unwrap();
    let cfg = quiet(TrainerConfig {
        micro_batch_size: 2,
        duration: Duration::Steps(1),
        output_dir: Some(dir.path().to_path_buf()),
        resume: true,
        ..TrainerConfig::default()
    });
    Trainer::new(cfg.clone())
        .fit(&mut model, &ok, None)
        .unwrap();
    let other = byte_blocks("docs_python", "train", 4);
    let e = Trainer::new(cfg).fit(&mut model, &other, None).unwrap_err();
    assert!(matches!(e, TrainerError::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("training data"), "{e}");

    // Variables that are not fp32 master weights are refused.
    model.var_store_mut().bfloat16();
    let e = trainer.fit(&mut model, &ok, None).unwrap_err();
    assert!(matches!(e, TrainerError::UnsupportedModel { .. }), "{e}");
    assert!(e.to_string().contains("BFloat16"), "{e}");
}
