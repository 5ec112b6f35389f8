//! Forecasting a continued-pretraining run's final validation loss from a short pilot.
//!
//! The law is the scaling law with learning-rate annealing of Tissue et al. (2024), which
//! predicts the loss at any step of any schedule from two areas under the learning-rate curve:
//! the *forward area* `S1(s) = Σ_{i≤s} η_i` and the *annealing area*
//! `S2(s) = Σ_{i≤s} m_i` with `m_i = λ·m_{i−1} + max(η_{i−1} − η_i, 0)` (a momentum of the
//! decrease of the rate; the rise of a warm-up does not count), `L(s) = L0 + A·S1^(−α) − C·S2`. Continued pretraining starts from a trained
//! model whose loss `L(0)` on the domain is measured before the first step, so the power law
//! is shifted by an effective prior area `S0` (the part of the curve pretraining already
//! walked; Wang et al. 2025 model continual pretraining the same way) and anchored there:
//!
//! ```text
//! L(s) = L∞ + (L(0) − L∞) · (1 + S1(s)/S0)^(−α) − C · S2(s)
//! ```
//!
//! Four parameters, `L∞`, `S0`, `α`, `C ≥ 0`, are fitted to the pilot's validation curve
//! (`L∞` above `L(0)` lets the curve rise: a domain that degrades). For fixed `(S0, α)` the
//! law is linear in `(L∞, C)`, so the fit is a grid over `(log S0, α)`, refined twice, with a
//! closed-form least-squares solve at each node. The prediction evaluates the fitted law at the
//! end of the *planned* schedule; its interval comes from refitting on residual-bootstrap
//! curves. Areas are in units of "steps at the peak rate" (learning rates are divided by the
//! peak), so pilot and planned run must share peak rate, batch and data order.
//!
//! Why this law: it is the one of the three the task names that needs a single curve and
//! handles a pilot whose schedule differs from the planned one (the multi-power law of Luo et
//! al. 2025 fits more parameters, the D-CPT law of Que et al. 2024 needs runs at several
//! mixture ratios), and its annealing term lets a pilot with its own warm-up, stable and decay
//! phases stand for a planned run with another shape.

use serde::{Deserialize, Serialize};

/// The momentum decay `λ` of the annealing area (Tissue et al. use 0.999).
pub const DEFAULT_DECAY: f64 = 0.999;

/// Forward and annealing areas after each step of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Areas {
    /// `S1` after step `s` (index `s − 1`).
    pub s1: Vec<f64>,
    /// `S2` after step `s`.
    pub s2: Vec<f64>,
}

/// The areas of the learning rates `lrs` (one per optimizer step, any scale) relative to
/// `peak`, with momentum decay `decay`.
pub fn areas(lrs: &[f64], peak: f64, decay: f64) -> Areas {
    let peak = if peak > 0.0 { peak } else { 1.0 };
    let (mut s1, mut s2, mut m, mut prev) = (0.0, 0.0, 0.0, 0.0);
    let mut out = Areas {
        s1: Vec::with_capacity(lrs.len()),
        s2: Vec::with_capacity(lrs.len()),
    };
    for (i, &lr) in lrs.iter().enumerate() {
        let eta = lr / peak;
        if i > 0 {
            // Only decreases of the rate anneal: a warm-up is not negative annealing (it
            // would otherwise leave S2 negative for the rest of the run and read every
            // later decay as a smaller gain).
            m = decay * m + (prev - eta).max(0.0);
        }
        prev = eta;
        s1 += eta;
        s2 += m;
        out.s1.push(s1);
        out.s2.push(s2);
    }
    out
}

/// The fitted law.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossLaw {
    /// The loss before the first step.
    pub l_start: f64,
    /// The loss the forward term tends to.
    pub l_inf: f64,
    /// Effective prior forward area.
    pub s0: f64,
    /// Power-law exponent.
    pub alpha: f64,
    /// Annealing coefficient (≥ 0).
    pub c: f64,
}

impl LossLaw {
    /// The loss at areas `(s1, s2)`.
    pub fn loss(&self, s1: f64, s2: f64) -> f64 {
        self.l_inf + (self.l_start - self.l_inf) * (1.0 + s1 / self.s0).powf(-self.alpha)
            - self.c * s2
    }
}

/// A point of a validation curve: after `step` optimizer steps (0 = before training), `loss`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Steps taken.
    pub step: usize,
    /// Mean validation loss (nats per token).
    pub loss: f64,
}

/// The forecast of a planned run from a pilot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The law fitted to the pilot's curve.
    pub law: LossLaw,
    /// Predicted validation loss at the end of the planned run.
    pub final_loss: f64,
    /// Its interval at `level` (residual bootstrap, percentile).
    pub interval: (f64, f64),
    /// The interval's level (0.8 for an 80 % interval).
    pub level: f64,
    /// Root-mean-square residual of the fit on the pilot's curve.
    pub rmse: f64,
    /// Points fitted.
    pub points: usize,
}

impl Forecast {
    /// Predicted change of perplexity in % against the start, `exp(L_end − L_0) − 1`, with
    /// its interval.
    pub fn delta_ppl_pct(&self) -> (f64, (f64, f64)) {
        let pct = |l: f64| ((l - self.law.l_start).exp() - 1.0) * 100.0;
        (
            pct(self.final_loss),
            (pct(self.interval.0), pct(self.interval.1)),
        )
    }
}

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Too few points after step 0.
    #[error("{0} validation points after the start; at least 3 are needed to fit the law")]
    TooFewPoints(usize),
    /// A point lies beyond the pilot's schedule, or a value is not finite.
    #[error("{0}")]
    BadInput(String),
}

/// Fit the law to `curve` (its step-0 point is the start loss) of a pilot trained with
/// learning rates `pilot_lrs`, both relative to `peak`.
pub fn fit(
    curve: &[CurvePoint],
    pilot_lrs: &[f64],
    peak: f64,
    decay: f64,
) -> Result<LossLaw, ForecastError> {
    let a = areas(pilot_lrs, peak, decay);
    let start = curve
        .iter()
        .find(|p| p.step == 0)
        .ok_or_else(|| ForecastError::BadInput("the curve has no step-0 point".into()))?
        .loss;
    let mut pts = Vec::new();
    for p in curve.iter().filter(|p| p.step > 0) {
        if p.step > a.s1.len() {
            return Err(ForecastError::BadInput(format!(
                "a point at step {} lies beyond the pilot's {} steps",
                p.step,
                a.s1.len()
            )));
        }
        if !p.loss.is_finite() {
            return Err(ForecastError::BadInput(format!(
                "loss {} at step {}",
                p.loss, p.step
            )));
        }
        pts.push((a.s1[p.step - 1], a.s2[p.step - 1], p.loss));
    }
    if !start.is_finite() {
        return Err(ForecastError::BadInput(format!("start loss {start}")));
    }
    if pts.len() < 3 {
        return Err(ForecastError::TooFewPoints(pts.len()));
    }
    Ok(fit_points(start, &pts))
}

/// The best `(L∞, C ≥ 0)` for fixed `(s0, alpha)`, and its squared error.
fn solve(start: f64, s0: f64, alpha: f64, pts: &[(f64, f64, f64)]) -> (f64, f64, f64) {
    // y = L − L0·g = L∞·(1 − g) − C·S2, with g = (1 + S1/S0)^(−α).
    let (mut aa, mut ab, mut bb, mut ay, mut by) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let rows: Vec<(f64, f64, f64)> = pts
        .iter()
        .map(|&(s1, s2, l)| {
            let g = (1.0 + s1 / s0).powf(-alpha);
            (1.0 - g, -s2, l - start * g)
        })
        .collect();
    for &(x1, x2, y) in &rows {
        aa += x1 * x1;
        ab += x1 * x2;
        bb += x2 * x2;
        ay += x1 * y;
        by += x2 * y;
    }
    let det = aa * bb - ab * ab;
    let (mut l_inf, mut c) = if det.abs() > 1e-18 * (aa * bb).max(1e-300) {
        ((ay * bb - by * ab) / det, (aa * by - ab * ay) / det)
    } else {
        (if aa > 0.0 { ay / aa } else { start }, 0.0)
    };
    if c.is_nan() || c < 0.0 {
        c = 0.0;
        l_inf = if aa > 0.0 { ay / aa } else { start };
    }
    let sse = rows
        .iter()
        .map(|&(x1, x2, y)| (y - l_inf * x1 - c * x2).powi(2))
        .sum();
    (l_inf, c, sse)
}

fn fit_points(start: f64, pts: &[(f64, f64, f64)]) -> LossLaw {
    let (mut lo_s, mut hi_s) = (-2.0f64, 7.0f64); // log10 S0
    let (mut lo_a, mut hi_a) = (0.02f64, 3.0f64);
    let mut best = (f64::INFINITY, 1.0, 0.5, start, 0.0);
    for _round in 0..3 {
        let n = 28;
        for i in 0..=n {
            let ls = lo_s + (hi_s - lo_s) * i as f64 / n as f64;
            let s0 = 10f64.powf(ls);
            for j in 0..=n {
                let alpha = lo_a + (hi_a - lo_a) * j as f64 / n as f64;
                let (l_inf, c, sse) = solve(start, s0, alpha, pts);
                if sse < best.0 {
                    best = (sse, s0, alpha, l_inf, c);
                }
            }
        }
        let (ws, wa) = ((hi_s - lo_s) / 6.0, (hi_a - lo_a) / 6.0);
        let ls = best.1.log10();
        (lo_s, hi_s) = ((ls - ws).max(-3.0), (ls + ws).min(8.0));
        (lo_a, hi_a) = ((best.2 - wa).max(0.005), (best.2 + wa).min(4.0));
    }
    LossLaw {
        l_start: start,
        l_inf: best.3,
        s0: best.1,
        alpha: best.2,
        c: best.4,
    }
}

/// Fit the law to a pilot's curve and predict the loss at the end of the planned schedule
/// `planned_lrs` (same peak), with a `level` interval from `bootstrap` residual resamples
/// (seeded by `seed`).
#[allow(clippy::too_many_arguments)]
pub fn forecast(
    curve: &[CurvePoint],
    pilot_lrs: &[f64],
    planned_lrs: &[f64],
    peak: f64,
    decay: f64,
    level: f64,
    bootstrap: usize,
    seed: u64,
) -> Result<Forecast, ForecastError> {
    let law = fit(curve, pilot_lrs, peak, decay)?;
    let pa = areas(pilot_lrs, peak, decay);
    let full = areas(planned_lrs, peak, decay);
    let (Some(&s1_end), Some(&s2_end)) = (full.s1.last(), full.s2.last()) else {
        return Err(ForecastError::BadInput(
            "the planned schedule has no steps".into(),
        ));
    };
    let pts: Vec<(f64, f64, f64)> = curve
        .iter()
        .filter(|p| p.step > 0)
        .map(|p| (pa.s1[p.step - 1], pa.s2[p.step - 1], p.loss))
        .collect();
    let fitted: Vec<f64> = pts.iter().map(|&(a, b, _)| law.loss(a, b)).collect();
    let resid: Vec<f64> = pts.iter().zip(&fitted).map(|(p, f)| p.2 - f).collect();
    let n = resid.len() as f64;
    let rmse = (resid.iter().map(|r| r * r).sum::<f64>() / n).sqrt();
    // Residuals are rescaled for the degrees of freedom the fit used (4 parameters).
    let inflate = (n / (n - 4.0).max(1.0)).sqrt();
    let final_loss = law.loss(s1_end, s2_end);
    let mut rng = SplitMix(seed);
    let mut preds = Vec::with_capacity(bootstrap);
    for _ in 0..bootstrap {
        let sample: Vec<(f64, f64, f64)> = pts
            .iter()
            .zip(&fitted)
            .map(|(&(a, b, _), f)| {
                let r = resid[(rng.next() % resid.len() as u64) as usize] * inflate;
                (a, b, f + r)
            })
            .collect();
        let l = fit_points(law.l_start, &sample);
        preds.push(l.loss(s1_end, s2_end));
    }
    preds.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        if preds.is_empty() {
            final_loss
        } else {
            preds[((p * (preds.len() - 1) as f64).round() as usize).min(preds.len() - 1)]
        }
    };
    let tail = (1.0 - level) / 2.0;
    let (lo, hi) = (q(tail).min(final_loss), q(1.0 - tail).max(final_loss));
    Ok(Forecast {
        law,
        final_loss,
        interval: (lo, hi),
        level,
        rmse,
        points: pts.len(),
    })
}

/// SplitMix64: a small seeded generator for the bootstrap (no dependency, reproducible).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Per-step learning rates of warm-up (linear from 0 over `warmup` steps) then linear decay
/// to 0 at step `total` — HF's linear schedule, the planned run's.
pub fn linear_schedule(peak: f64, warmup: usize, total: usize) -> Vec<f64> {
    (0..total)
        .map(|s| {
            if s < warmup {
                peak * s as f64 / warmup.max(1) as f64
            } else {
                peak * ((total - s) as f64 / (total - warmup).max(1) as f64).max(0.0)
            }
        })
        .collect()
}

/// Per-step learning rates of warm-up over `warmup` steps, the peak until `total − decay`,
/// then linear decay to 0 over the last `decay` steps (a pilot's schedule: its stable phase
/// shows the forward term, its decay the annealing term).
pub fn warmup_stable_decay(peak: f64, warmup: usize, decay: usize, total: usize) -> Vec<f64> {
    let decay_start = total.saturating_sub(decay).max(warmup);
    (0..total)
        .map(|s| {
            if s < warmup {
                peak * s as f64 / warmup.max(1) as f64
            } else if s < decay_start {
                peak
            } else {
                peak * ((total - s) as f64 / (total - decay_start).max(1) as f64).max(0.0)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_of_a_constant_rate_have_no_annealing() {
        let a = areas(&[2.0; 5], 2.0, 0.999);
        assert_eq!(a.s1, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(a.s2.iter().all(|&x| x == 0.0));
        // A drop from the peak to half accumulates annealing area from then on.
        let b = areas(&[1.0, 1.0, 0.5, 0.5], 1.0, 1.0);
        assert_eq!(b.s2, vec![0.0, 0.0, 0.5, 1.0]);
    }

    #[test]
    fn a_warm_up_is_not_negative_annealing() {
        // Warm-up to the peak, hold, then one drop: S2 is zero until the drop, and the drop
        // counts as much as it would without the warm-up.
        let a = areas(&[0.0, 0.5, 1.0, 1.0, 0.5], 1.0, 1.0);
        assert_eq!(a.s2, vec![0.0, 0.0, 0.0, 0.0, 0.5]);
        let planned = linear_schedule(1.0, 10, 100);
        let b = areas(&planned, 1.0, DEFAULT_DECAY);
        assert!(b.s2.iter().all(|&x| x >= 0.0));
        assert!(b.s2[..10].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn schedules_have_their_shapes() {
        let l = linear_schedule(1.0, 2, 10);
        assert_eq!((l[0], l[2], l[9]), (0.0, 1.0, 0.125));
        let w = warmup_stable_decay(1.0, 2, 4, 12);
        assert_eq!((w[1], w[5], w[7]), (0.5, 1.0, 1.0));
        assert!(w[8] == 1.0 && w[11] < 0.3 && w[11] > 0.0);
    }
}
