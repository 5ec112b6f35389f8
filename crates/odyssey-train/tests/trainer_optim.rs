//! AdamW, gradient clipping and LR schedules against torch.optim.AdamW,
//! torch.nn.utils.clip_grad_norm_ and transformers' schedules (fixture written by
//! scripts/fixtures/train_adamw.py).

use odyssey_train::trainer::{AdamW, AdamWConfig, LrSchedule, NoDecay, ScheduleKind, Warmup};
use serde_json::Value;
use std::collections::HashMap;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/trainer_adamw.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{name}[{i}]: got {g}, torch {w}"
        );
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).view([-1])).unwrap()
}

/// A VarStore holding the fixture's parameters under their HF names.
fn build(init: &Value) -> (VarStore, HashMap<String, Tensor>) {
    let vs = VarStore::new(Device::Cpu);
    let mut vars = HashMap::new();
    for (name, spec) in init.as_object().unwrap() {
        let shape: Vec<i64> = spec["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        let data: Vec<f32> = floats(&spec["values"]).iter().map(|&x| x as f32).collect();
        let parts: Vec<&str> = name.split('.').collect();
        let mut path = vs.root();
        for p in &parts[..parts.len() - 1] {
            path = path.sub(*p);
        }
        let t = path.var_copy(
            parts[parts.len() - 1],
            &Tensor::from_slice(&data).view(&shape[..]),
        );
        vars.insert(name.clone(), t);
    }
    (vs, vars)
}

/// Give every variable the gradient the fixture fed torch at this step.
fn set_grads(vars: &HashMap<String, Tensor>, grads: &Value) {
    for (name, var) in vars {
        let g: Vec<f32> = floats(&grads[name]).iter().map(|&x| x as f32).collect();
        let g = Tensor::from_slice(&g).view(&var.size()[..]);
        (var * g).sum(Kind::Float).backward();
    }
}

#[test]
fn adamw_with_clipping_and_schedule_matches_torch_and_resumes_from_saved_state() {
    tch::set_num_threads(1);
    let fx = fixture();
    let a = &fx["adamw"];
    let cfg = AdamWConfig {
        betas: (
            a["betas"][0].as_f64().unwrap(),
            a["betas"][1].as_f64().unwrap(),
        ),
        eps: a["eps"].as_f64().unwrap(),
        weight_decay: a["weight_decay"].as_f64().unwrap(),
        no_decay: NoDecay::default(),
    };
    let lr = a["lr"].as_f64().unwrap();
    let max_norm = a["max_grad_norm"].as_f64().unwrap();
    let total = a["total_steps"].as_u64().unwrap() as usize;
    let schedule = LrSchedule::new(
        ScheduleKind::Linear,
        Warmup::Steps(a["warmup_steps"].as_u64().unwrap() as usize),
        total,
    );
    let steps = a["steps"].as_array().unwrap();

    let (vs, vars) = build(&a["init"]);
    let mut opt = AdamW::new(&vs, cfg).unwrap();
    // The no-decay groups chosen from names are HF Trainer's.
    let (_, mut no_decay) = opt.groups();
    no_decay.sort();
    let mut want: Vec<&str> = a["no_decay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    want.sort();
    assert_eq!(no_decay, want);

    let resume_at = 3;
    let mut saved = None;
    for (i, rec) in steps.iter().enumerate().take(resume_at) {
        set_grads(&vars, &rec["grads"]);
        let step_lr = lr * schedule.factor(i);
        assert!((step_lr - rec["lr"].as_f64().unwrap()).abs() < 1e-12);
        let norm = opt.clip_grad_norm(Some(max_norm)).unwrap();
        assert_close(
            "grad_norm",
            &[norm],
            &[rec["grad_norm"].as_f64().unwrap()],
            1e-5,
        );
        opt.step(step_lr).unwrap();
        opt.zero_grad();
        for (name, var) in &vars {
            assert_close(
                &format!("step {} {name}", i + 1),
                &values(var),
                &floats(&rec["params_after"][name]),
                2e-6,
            );
        }
    }
    // Save everything after `resume_at` steps, as a checkpoint does.
    let dir = tempfile::tempdir().unwrap();
    let opt_file = dir.path().join("optimizer.safetensors");
    let model_file = dir.path().join("model.safetensors");
    Tensor::write_safetensors(&opt.state_tensors(), &opt_file).unwrap();
    vs.save(&model_file).unwrap();
    saved.get_or_insert(opt.step_count());
    drop(opt);
    drop(vars);
    drop(vs);

    // A fresh process state: new variables from the file, new optimizer from the state.
    let (vs, vars) = build(&a["init"]);
    odyssey_train::trainer::load_weights(&vs, &model_file).unwrap();
    let mut opt = AdamW::new(&vs, cfg).unwrap();
    let state: HashMap<String, Tensor> = Tensor::read_safetensors(&opt_file)
        .unwrap()
        .into_iter()
        .collect();
    opt.load_state(state, saved.unwrap()).unwrap();
    for (i, rec) in steps.iter().enumerate().skip(resume_at) {
        set_grads(&vars, &rec["grads"]);
        let norm = opt.clip_grad_norm(Some(max_norm)).unwrap();
        assert_close(
            "grad_norm",
            &[norm],
            &[rec["grad_norm"].as_f64().unwrap()],
            1e-5,
        );
        opt.step(lr * schedule.factor(i)).unwrap();
        opt.zero_grad();
        for (name, var) in &vars {
            assert_close(
                &format!("resumed step {} {name}", i + 1),
                &values(var),
                &floats(&rec["params_after"][name]),
                2e-6,
            );
        }
    }
    assert_eq!(opt.step_count(), total);
    let state: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
    for (name, want) in a["final_state"].as_object().unwrap() {
        assert_eq!(want["step"].as_u64().unwrap() as usize, total);
        assert_close(
            &format!("exp_avg {name}"),
            &values(&state[&format!("exp_avg.{name}")]),
            &floats(&want["exp_avg"]),
            2e-6,
        );
        assert_close(
            &format!("exp_avg_sq {name}"),
            &values(&state[&format!("exp_avg_sq.{name}")]),
            &floats(&want["exp_avg_sq"]),
            2e-6,
        );
    }
}

#[test]
fn optimizer_state_with_wrong_shapes_or_names_is_refused() {
    let vs = VarStore::new(Device::Cpu);
    let _w = vs.root().sub("layer").zeros("weight", &[2, 3]);
    let mut opt = AdamW::new(&vs, AdamWConfig::default()).unwrap();
    let mut state: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
    state.insert(
        "exp_avg.layer.weight".into(),
        Tensor::zeros([3, 2], (Kind::Float, Device::Cpu)),
    );
    let err = opt.load_state(state, 1).unwrap_err();
    assert!(
        err.contains("exp_avg.layer.weight") && err.contains("[3, 2]"),
        "{err}"
    );
    let mut state: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
    state.remove("exp_avg_sq.layer.weight");
    assert!(opt
        .load_state(state, 1)
        .unwrap_err()
        .contains("lacks `exp_avg_sq.layer.weight`"));
    let mut state: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
    state.insert(
        "exp_avg.other".into(),
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
    );
    assert!(opt
        .load_state(state, 1)
        .unwrap_err()
        .contains("`exp_avg.other`"));
}

#[test]
fn schedules_match_transformers() {
    let fx = fixture();
    for case in fx["schedules"].as_array().unwrap() {
        let warmup = case["warmup"].as_u64().unwrap() as usize;
        let total = case["total"].as_u64().unwrap() as usize;
        for (key, kind) in [
            ("constant", ScheduleKind::Constant),
            ("linear", ScheduleKind::Linear),
            ("cosine", ScheduleKind::Cosine),
        ] {
            let s = LrSchedule::new(kind, Warmup::Steps(warmup), total);
            let got: Vec<f64> = (0..total + 3).map(|i| s.factor(i)).collect();
            assert_close(
                &format!("{key} warmup {warmup} total {total}"),
                &got,
                &floats(&case[key]),
                1e-12,
            );
        }
    }
    for case in fx["warmup_ratio"].as_array().unwrap() {
        let ratio = case["ratio"].as_f64().unwrap();
        let total = case["total"].as_u64().unwrap() as usize;
        assert_eq!(
            Warmup::Ratio(ratio).steps(total),
            case["warmup_steps"].as_u64().unwrap() as usize,
            "ratio {ratio} of {total}"
        );
    }
}
