//! Forecasting a continued-pretraining run's final validation loss from a short pilot.
//!
//! The law is the scaling law with learning-rate annealing of Tissue et al. (2024), which
//! predicts the loss at any step of any schedule from two areas under the learning-rate curve:
//! the *forward area* `S1(s) = Σ_{i≤s} η_i` and the *annealing area*
//! `S2(s) = Σ_{i≤s} m_i` with `m_i = λ·m_{i−1} + max(η_{i−1} − η_i, 0)` (a momentum of the
//! decrease of the rate; the rise of a warm-up does not count),
//! `L(s) = L0 + A·S1^(−α) − C·S2`. Continued pretraining starts from a trained
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
//! end of the *planned* schedule. Its interval joins two sources of error: the noise around the
//! pilot's curve (refits on residual-bootstrap curves) and the error of extrapolating the law,
//! measured on the pilot itself by a *backtest* (the law fitted to the pilot's first half and
//! first 70 % of points predicts its remaining points; the worst error, scaled linearly by how
//! much farther the planned run's forward area reaches, is one sample of the extrapolation
//! error, and the interval is Student-t on their root mean square). Areas are in units of
//! "steps at the peak rate" (learning rates are divided by the peak), so pilot and planned run
//! must share peak rate, batch and data order.
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

/// One backtest of the law on the pilot itself: fitted to the pilot's first `points` points,
/// it predicts the rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// Points the law was fitted to.
    pub points: usize,
    /// The largest |predicted − observed| loss over the points it did not see (nats).
    pub error: f64,
    /// That error scaled to the planned run's end: × (planned forward area − area fitted) /
    /// (area of the worst point − area fitted).
    pub scaled: f64,
}

/// The forecast of a planned run from a pilot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The law fitted to the pilot's curve.
    pub law: LossLaw,
    /// Predicted validation loss at the end of the planned run.
    pub final_loss: f64,
    /// Its interval at `level`: the bootstrap interval joined with the Student-t interval of
    /// the extrapolation error ([`Forecast::extrapolation_sd`], [`widen`]).
    pub interval: (f64, f64),
    /// The residual-bootstrap percentile interval alone (the noise around the pilot's curve).
    #[serde(default)]
    pub bootstrap_interval: (f64, f64),
    /// The backtests on the pilot's own curve (none when it has fewer than 4 points).
    #[serde(default)]
    pub backtests: Vec<Backtest>,
    /// Root mean square of the backtests' scaled errors: the standard deviation of the
    /// extrapolation error at the planned run's end (nats; 0 without backtests).
    #[serde(default)]
    pub extrapolation_sd: f64,
    /// Forward area (in steps at the peak rate) at the pilot's last point.
    #[serde(default)]
    pub pilot_area: f64,
    /// Forward area at the end of the planned run.
    #[serde(default)]
    pub planned_area: f64,
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
    let boot = (q(tail).min(final_loss), q(1.0 - tail).max(final_loss));
    let backtests = backtest(law.l_start, &pts, s1_end);
    let extrapolation_sd = if backtests.is_empty() {
        0.0
    } else {
        (backtests.iter().map(|b| b.scaled * b.scaled).sum::<f64>() / backtests.len() as f64).sqrt()
    };
    let interval = widen(final_loss, extrapolation_sd, backtests.len(), level, boot);
    Ok(Forecast {
        law,
        final_loss,
        interval,
        bootstrap_interval: boot,
        extrapolation_sd,
        pilot_area: pts.last().map_or(0.0, |p| p.0),
        planned_area: s1_end,
        backtests,
        level,
        rmse,
        points: pts.len(),
    })
}

/// Shares of the pilot's points the backtests fit the law to.
const BACKTEST_SHARES: [f64; 2] = [0.5, 0.7];

/// Backtests of the law on the pilot's points `pts` (`(S1, S2, loss)` in order): fitted to a
/// prefix of at least 3 points that leaves at least one out, the law predicts the rest; the
/// worst error is scaled linearly in forward area to `s1_end`, the planned run's end.
fn backtest(start: f64, pts: &[(f64, f64, f64)], s1_end: f64) -> Vec<Backtest> {
    let mut out: Vec<Backtest> = Vec::new();
    for share in BACKTEST_SHARES {
        let k = backtest_prefix(pts, ((share * pts.len() as f64).round() as usize).max(3));
        if k + 1 > pts.len() || out.iter().any(|b| b.points == k) {
            continue;
        }
        let law = fit_points(start, &pts[..k]);
        let origin = pts[k - 1].0;
        let Some((error, at)) = pts[k..]
            .iter()
            .map(|&(s1, s2, l)| ((law.loss(s1, s2) - l).abs(), s1))
            .max_by(|a, b| a.0.total_cmp(&b.0))
        else {
            continue;
        };
        let reach = (at - origin).max(f64::EPSILON);
        let scaled = error * ((s1_end - origin).max(0.0) / reach).max(1.0);
        out.push(Backtest {
            points: k,
            error,
            scaled,
        });
    }
    out
}

/// How much longer a pilot would have to be for its interval to leave out a loss `distance`
/// nats from the prediction (a point at which a decision changes), by the pilot's own error
/// model ([`pilot_scale_to_exclude`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LongerPilot {
    /// A pilot this many times the length of the one measured (≥ 1) is enough.
    Scale(f64),
    /// No pilot shorter than the planned run is: the transfer error alone, which a longer
    /// pilot does not shrink, reaches that far.
    NotBeforeTheRun,
    /// The pilot measured no extrapolation error (too short to backtest itself), so how its
    /// interval narrows is not known.
    Unmeasured,
}

/// Half-width (nats) of the Student-t part of the interval a pilot `scale` times longer would
/// give by the pilot's own error model: the extrapolation error grows linearly with the forward
/// area the law carries beyond the pilot (as [`Forecast::extrapolation_sd`] is scaled), so it
/// shrinks in proportion to the area left between the longer pilot's end and the planned run's;
/// the transfer error `transfer_sd` (validation change carried over to the test split, a
/// property of the domain's splits) stays. `dof` as in the interval of the test perplexity.
pub fn half_width_at(forecast: &Forecast, transfer_sd: f64, dof: usize, scale: f64) -> f64 {
    let left = (forecast.planned_area - forecast.pilot_area).max(0.0);
    let shrink = if left > 0.0 {
        ((forecast.planned_area - scale * forecast.pilot_area).max(0.0) / left).min(1.0)
    } else {
        0.0
    };
    let sd = (forecast.extrapolation_sd * shrink).hypot(transfer_sd);
    widen(0.0, sd, dof, forecast.level, (0.0, 0.0)).1
}

/// The shortest pilot, as a multiple of the one measured, whose interval (by
/// [`half_width_at`]) would leave out a loss `distance` nats from the prediction: a pilot
/// whose verdict is unsettled because the rules change their call at that distance learns
/// what a settled answer would cost, before spending it. Found by bisection to 0.1 % of the
/// pilot's length (the half-width falls monotonically with the length).
pub fn pilot_scale_to_exclude(
    forecast: &Forecast,
    transfer_sd: f64,
    dof: usize,
    distance: f64,
) -> LongerPilot {
    let distance = distance.abs();
    if forecast.backtests.is_empty() || forecast.pilot_area <= 0.0 {
        return LongerPilot::Unmeasured;
    }
    let width = |k: f64| half_width_at(forecast, transfer_sd, dof, k);
    if width(1.0) < distance {
        return LongerPilot::Scale(1.0);
    }
    let whole = (forecast.planned_area / forecast.pilot_area).max(1.0);
    if width(whole) >= distance {
        return LongerPilot::NotBeforeTheRun;
    }
    let (mut lo, mut hi) = (1.0, whole);
    while hi - lo > 1e-3 {
        let mid = 0.5 * (lo + hi);
        if width(mid) < distance {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    LongerPilot::Scale(hi)
}

/// The prefix length a backtest fits, `k` moved off a prefix whose only annealing point is its
/// last: there the annealing coefficient `C` is set by one point's deviation, and the law
/// carries that deviation through the whole decay (on a 76-step pilot of books_gutenberg such a
/// prefix missed the rest of the curve by 0.70 nats where the curve moved 0.12). The prefix
/// then stops before the decay (`k − 1`, when that leaves 3 points) or takes a second annealing
/// point (`k + 1`).
fn backtest_prefix(pts: &[(f64, f64, f64)], k: usize) -> usize {
    let annealing = |k: usize| pts[..k.min(pts.len())].iter().filter(|p| p.1 > 0.0).count();
    if annealing(k) != 1 {
        k
    } else if k > 3 && annealing(k - 1) == 0 {
        k - 1
    } else {
        k + 1
    }
}

/// `inner` joined with the Student-t interval `center ± t·sd` at `level` with `dof` degrees of
/// freedom (`inner` alone when `sd` is 0 or `dof` is 0).
pub fn widen(center: f64, sd: f64, dof: usize, level: f64, inner: (f64, f64)) -> (f64, f64) {
    if sd.is_nan() || sd <= 0.0 || dof == 0 {
        return inner;
    }
    let half = student_t_quantile(0.5 + level / 2.0, dof) * sd;
    (inner.0.min(center - half), inner.1.max(center + half))
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The quantile of Student's t with `dof` degrees of freedom: exact for 1 and 2, the
/// Cornish–Fisher expansion in `1/dof` (Abramowitz & Stegun 26.7.5) from 3 on.
pub fn student_t_quantile(p: f64, dof: usize) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    match dof {
        0 => f64::INFINITY,
        1 => (std::f64::consts::PI * (p - 0.5)).tan(),
        2 => (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt(),
        _ => {
            let z = normal_quantile(p);
            let n = dof as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * n)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n.powi(3))
        }
    }
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

/// Per-step learning rates of warm-up over `warmup` steps (from above 0: step `s` at
/// `(s + 1) / (warmup + 1)` of the peak, so that no step is spent at a zero rate), the peak
/// until `total − decay`, then linear decay to 0 over the last `decay` steps (a pilot's
/// schedule: its stable phase shows the forward term, its decay the annealing term).
pub fn warmup_stable_decay(peak: f64, warmup: usize, decay: usize, total: usize) -> Vec<f64> {
    let decay_start = total.saturating_sub(decay).max(warmup);
    (0..total)
        .map(|s| {
            if s < warmup {
                peak * (s + 1) as f64 / (warmup + 1) as f64
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
    fn quantiles_match_the_tables() {
        assert!((normal_quantile(0.9) - 1.281_551_565_5).abs() < 1e-8);
        assert!((normal_quantile(0.025) + 1.959_963_985).abs() < 1e-8);
        // Student t, 0.9 quantile: 3.078 (1), 1.886 (2), 1.638 (3), 1.476 (5), 1.372 (10).
        for (dof, want) in [
            (1, 3.0777),
            (2, 1.8856),
            (3, 1.6377),
            (5, 1.4759),
            (10, 1.3722),
        ] {
            let got = student_t_quantile(0.9, dof);
            assert!(
                (got - want).abs() < 2e-3,
                "t(0.9, {dof}) = {got}, want {want}"
            );
        }
        assert!((student_t_quantile(0.5, 4)).abs() < 1e-12);
    }

    #[test]
    fn widening_joins_the_intervals() {
        assert_eq!(widen(1.0, 0.0, 2, 0.8, (0.9, 1.1)), (0.9, 1.1));
        let (lo, hi) = widen(1.0, 0.1, 2, 0.8, (0.95, 1.3));
        assert!((lo - (1.0 - 0.18856)).abs() < 1e-3 && hi == 1.3);
    }

    #[test]
    fn a_backtest_of_the_exact_law_has_no_error() {
        let law = LossLaw {
            l_start: 5.0,
            l_inf: 4.5,
            s0: 20.0,
            alpha: 0.8,
            c: 0.0,
        };
        let pts: Vec<(f64, f64, f64)> = (1..=10)
            .map(|i| (i as f64, 0.0, law.loss(i as f64, 0.0)))
            .collect();
        let b = backtest(5.0, &pts, 100.0);
        assert_eq!(b.iter().map(|b| b.points).collect::<Vec<_>>(), vec![5, 7]);
        // Only the grid's resolution remains (the law's change to area 100 is 0.38 nats).
        assert!(b.iter().all(|b| b.scaled < 0.03), "{b:?}");
        // A curve that bends away from the law's early shape is an extrapolation error.
        let mut bent = pts.clone();
        for p in bent.iter_mut().skip(6) {
            p.2 += 0.05;
        }
        let b = backtest(5.0, &bent, 100.0);
        assert!(b.iter().any(|b| b.error > 0.02 && b.scaled > 0.1), "{b:?}");
    }

    #[test]
    fn schedules_have_their_shapes() {
        let l = linear_schedule(1.0, 2, 10);
        assert_eq!((l[0], l[2], l[9]), (0.0, 1.0, 0.125));
        let w = warmup_stable_decay(1.0, 2, 4, 12);
        assert!((w[0] - 1.0 / 3.0).abs() < 1e-12 && (w[1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((w[5], w[7]), (1.0, 1.0));
        assert!(w[8] == 1.0 && w[11] < 0.3 && w[11] > 0.0);
    }
}
