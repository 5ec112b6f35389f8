//! The settings files shipped in the repository parse and validate (`from_file` checks the
//! values), and hold what their comments and the docs say.

use odyssey_study::config::{MitigationPolicy, StudyConfig};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path)
}

#[test]
fn the_default_study_settings_parse_and_validate() {
    let c = StudyConfig::from_file(&repo("data/default/study.toml")).unwrap();
    assert_eq!(c.training.lr, 1e-4);
    assert_eq!(c.training.distributed.nproc_per_node, 0);
    assert!(c.forgetting.enabled && !c.control.enabled && !c.preflight.enabled);
    assert_eq!(c.mitigations.run, MitigationPolicy::WhenNeeded);
}

#[test]
fn the_smollm2_study_settings_parse_and_validate() {
    // Its model path names the set-up's variable (`${ODYSSEY_SMOLLM2_GGUF}`).
    let c = StudyConfig::from_file(&repo("data/smollm2/study.toml"));
    match c {
        Ok(c) => {
            assert!(c.control.enabled);
        }
        Err(e) => {
            // Only acceptable without the set-up's ODYSSEY_SMOLLM2_GGUF.
            assert!(
                std::env::var_os("ODYSSEY_SMOLLM2_GGUF").is_none(),
                "data/smollm2/study.toml: {e}"
            );
        }
    }
}

#[test]
fn the_smollm2_preflight_settings_plan_a_pilot_with_a_curve() {
    let Ok(c) = StudyConfig::from_file(&repo("data/smollm2/preflight.toml")) else {
        assert!(std::env::var_os("ODYSSEY_SMOLLM2_GGUF").is_none());
        return;
    };
    assert!(c.preflight.enabled && !c.control.enabled);
    assert_eq!(c.mitigations.run, MitigationPolicy::Never);
    // 24,576 tokens in steps of 2 × 256: 48 steps, a pilot of 4 with a point at each.
    let steps = c.training.max_train_tokens / (c.training.batch_size * c.training.block_size);
    assert_eq!(steps, 48);
    assert_eq!((steps as f64 * c.preflight.pilot_share).round() as usize, 4);
}
