//! The report's figures as SVG (plotters): similarity against Δppl with its least-squares fit,
//! per-domain perplexity before and after, top token contributions, training curves.

use crate::domain::DomainResult;
use crate::error::{Result, StudyError};
use crate::summary::CorrelationRecord;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn plot_err(name: &str) -> impl Fn(String) -> StudyError + '_ {
    move |message| StudyError::Plot {
        name: name.to_string(),
        message,
    }
}

/// Render into an SVG string with `draw`, then write it to `dir/name` atomically.
fn write_svg(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<PathBuf> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| plot_err(name)(e.to_string()))?;
        draw(&root).map_err(plot_err(name))?;
        root.present().map_err(|e| plot_err(name)(e.to_string()))?;
    }
    let path = dir.join(name);
    odyssey_core::fs::write_atomic(&path, svg.as_bytes())
        .map_err(|e| StudyError::stage(format!("writing {}", path.display()), e))?;
    Ok(path)
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = (hi - lo).abs().max(1e-6);
    (lo - 0.1 * span, hi + 0.1 * span)
}

/// The padded range of the finite values among `values` and `include` (non-finite values are
/// not plotted); `(0, 1)` when there is none.
fn finite_range(values: impl IntoIterator<Item = f64>, include: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values
        .into_iter()
        .chain(include.iter().copied())
        .filter(|v| v.is_finite())
    {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (0.0, 1.0)
    } else {
        padded(lo, hi)
    }
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Least-squares line `y = a + b·x` (None when x has no spread).
pub fn least_squares(xs: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len() as f64;
    if xs.len() < 2 || xs.len() != ys.len() {
        return None;
    }
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx <= f64::EPSILON {
        return None;
    }
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// Write all figures into `dir` (created); returns the files written.
pub fn write_all(
    dir: &Path,
    domains: &[DomainResult],
    correlation: Option<&CorrelationRecord>,
) -> Result<Vec<PathBuf>> {
    if domains.is_empty() {
        return Err(StudyError::Invalid("no domain results to plot".into()));
    }
    let mut files = vec![
        similarity_vs_delta(dir, domains, correlation)?,
        before_after(dir, domains)?,
        token_contributions(dir, domains)?,
        training_curves(dir, domains)?,
    ];
    if domains.iter().any(|d| d.forgetting.is_some()) {
        files.push(forgetting(dir, domains)?);
    }
    Ok(files)
}

/// Predicted against actual final test perplexity (log scales), the predictions' intervals as
/// bars, and the identity line.
pub fn preflight(dir: &Path, c: &crate::preflight::PreflightComparison) -> Result<PathBuf> {
    let values = c.outcomes.iter().flat_map(|o| {
        [
            o.predicted_test_ppl.1,
            o.predicted_test_ppl.2,
            o.actual_test_ppl,
        ]
    });
    let (lo, hi) = finite_range(values.filter(|v| *v > 0.0).map(f64::ln), &[]);
    write_svg(dir, "preflight.svg", (720, 640), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Pre-flight: predicted vs actual final test perplexity ({:.0} % intervals)",
                    100.0 * c.level
                ),
                ("sans-serif", 17),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("actual test perplexity of the full run (log scale)")
            .y_desc("predicted by the pilot (log scale)")
            .x_label_formatter(&|v| format!("{:.0}", v.exp()))
            .y_label_formatter(&|v| format!("{:.0}", v.exp()))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(vec![(lo, lo), (hi, hi)], BLACK.mix(0.5)))
            .map_err(|e| e.to_string())?;
        for (i, o) in c.outcomes.iter().enumerate() {
            let x = o.actual_test_ppl.ln();
            let (p, a, b) = (
                o.predicted_test_ppl.0.ln(),
                o.predicted_test_ppl.1.ln(),
                o.predicted_test_ppl.2.ln(),
            );
            if !(x.is_finite() && p.is_finite() && a.is_finite() && b.is_finite()) {
                continue;
            }
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, a), (x, b)],
                    color(i).stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Circle::new((x, p), 5, color(i).filled())))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Text::new(
                    o.name.clone(),
                    (x, p),
                    ("sans-serif", 12).into_font(),
                )))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Each domain's gain on its own test split against its loss on the general corpus.
fn forgetting(dir: &Path, domains: &[DomainResult]) -> Result<PathBuf> {
    let points: Vec<(String, f64, f64, bool)> = domains
        .iter()
        .filter_map(|d| {
            d.forgetting
                .as_ref()
                .map(|f| (d.name.clone(), -d.delta_ppl_pct(), f.delta_ppl_pct, false))
        })
        .chain(domains.iter().flat_map(|d| {
            d.mitigations.iter().flat_map(move |m| {
                m.variants.iter().filter_map(move |v| {
                    v.forgetting.as_ref().map(|f| {
                        (
                            format!("{} ({})", d.name, v.kind.name()),
                            -v.delta_ppl_pct,
                            f.delta_ppl_pct,
                            true,
                        )
                    })
                })
            })
        }))
        .filter(|p| finite(&(p.1, p.2)))
        .collect();
    let (x0, x1) = finite_range(points.iter().map(|p| p.1), &[0.0]);
    let (y0, y1) = finite_range(points.iter().map(|p| p.2), &[0.0]);
    write_svg(dir, "forgetting.svg", (820, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Domain gain vs general-corpus loss (● plain run, ○ retrained mitigations)",
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("gain on the domain's test split (−Δ ppl, %)")
            .y_desc("Δ ppl on the general corpus (%; > 0: forgetting)")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(vec![(x0, 0.0), (x1, 0.0)], BLACK.mix(0.4)))
            .map_err(|e| e.to_string())?;
        for (i, (name, x, y, variant)) in points.iter().enumerate() {
            let c = color(i);
            let style = if *variant {
                c.stroke_width(2)
            } else {
                c.filled()
            };
            chart
                .draw_series(std::iter::once(Circle::new((*x, *y), 6, style)))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (*x, *y),
                    ("sans-serif", 12).into_font(),
                )))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

fn similarity_vs_delta(
    dir: &Path,
    domains: &[DomainResult],
    correlation: Option<&CorrelationRecord>,
) -> Result<PathBuf> {
    // Domains whose similarity or change is not a finite number are left out of the figure.
    let (xs, ys): (Vec<f64>, Vec<f64>) = domains
        .iter()
        .map(|d| (d.similarity.centroid_cosine.value, d.delta_ppl_pct()))
        .filter(finite)
        .unzip();
    let fit = least_squares(&xs, &ys);
    let (x0, x1) = finite_range(
        domains.iter().flat_map(|d| {
            let c = d.similarity.centroid_cosine;
            [c.lo, c.hi, c.value]
        }),
        &[],
    );
    let (y0, y1) = finite_range(ys.iter().copied(), &[0.0]);
    let caption = match correlation {
        Some(c) => format!(
            "Δ test perplexity vs similarity (Spearman ρ = {:.2}, Pearson r = {:.2})",
            c.spearman.estimate.value, c.pearson.estimate.value
        ),
        None => "Δ test perplexity vs similarity".to_string(),
    };
    write_svg(dir, "similarity_vs_delta.svg", (800, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("centroid cosine similarity to the pretraining corpus")
            .y_desc("Δ test perplexity (%)")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(vec![(x0, 0.0), (x1, 0.0)], BLACK.mix(0.4)))
            .map_err(|e| e.to_string())?;
        if let Some((a, b)) = fit {
            chart
                .draw_series(LineSeries::new(
                    vec![(x0, a + b * x0), (x1, a + b * x1)],
                    RED.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("least squares: Δ = {a:.1} + {b:.1}·cos"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        for (i, d) in domains.iter().enumerate() {
            let c = d.similarity.centroid_cosine;
            let y = d.delta_ppl_pct();
            if !finite(&(c.value, y)) {
                continue;
            }
            let (lo, hi) = (
                if c.lo.is_finite() { c.lo } else { c.value },
                if c.hi.is_finite() { c.hi } else { c.value },
            );
            let c = crate::domain::Estimate {
                value: c.value,
                lo,
                hi,
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(c.lo, y), (c.hi, y)],
                    color(i).stroke_width(1),
                )))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Circle::new(
                    (c.value, y),
                    6,
                    color(i).filled(),
                )))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Text::new(
                    d.name.clone(),
                    (c.value, y),
                    ("sans-serif", 14).into_font(),
                )))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn before_after(dir: &Path, domains: &[DomainResult]) -> Result<PathBuf> {
    let n = domains.len();
    let ymax = domains
        .iter()
        .flat_map(|d| [d.base.token_ppl, d.adapted.token_ppl])
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.15;
    write_svg(dir, "perplexity_before_after.svg", (860, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Test perplexity: base (blue) vs after continued pretraining (orange)",
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
            .map_err(|e| e.to_string())?;
        let names: Vec<String> = domains.iter().map(|d| d.name.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 1e-9 && i < names.len() {
                    names[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc("token perplexity")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, d) in domains.iter().enumerate() {
            let x = i as f64;
            let bars = [
                (x + 0.1, x + 0.45, d.base.token_ppl, color(0)),
                (x + 0.55, x + 0.9, d.adapted.token_ppl, color(1)),
            ];
            for (a, b, v, c) in bars {
                if !v.is_finite() {
                    continue;
                }
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, 0.0), (b, v)],
                        c.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.1}"),
                        (a, v + ymax * 0.01),
                        ("sans-serif", 12).into_font(),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{:+.1} %", d.delta_ppl_pct()),
                    (x + 0.3, ymax * 0.95),
                    ("sans-serif", 14).into_font(),
                )))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

fn token_contributions(dir: &Path, domains: &[DomainResult]) -> Result<PathBuf> {
    const PER_DOMAIN: usize = 5;
    let mut rows: Vec<(String, f64, usize)> = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let finite_tokens = d
            .decomposition
            .top_degrading
            .iter()
            .filter(|t| t.total_delta.is_finite());
        for t in finite_tokens.take(PER_DOMAIN) {
            rows.push((
                format!("{}: {}", d.name, crate::summary::show_token(&t.text)),
                t.total_delta,
                i,
            ));
        }
    }
    let n = rows.len().max(1);
    let (lo, hi) = padded(
        rows.iter().map(|r| r.1).fold(0.0, f64::min),
        rows.iter().map(|r| r.1).fold(0.0, f64::max),
    );
    let height = (120 + 22 * n as u32).max(300);
    write_svg(dir, "token_contributions.svg", (900, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Tokens that got worse the most (top {PER_DOMAIN} per domain, total ΔNLL on the test split)"),
                ("sans-serif", 16),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(260)
            .build_cartesian_2d(lo..hi, 0f64..n as f64)
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                let i = y.floor() as usize;
                if (y - y.floor() - 0.5).abs() < 1e-9 && i < labels.len() {
                    labels[labels.len() - 1 - i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("total ΔNLL (nats; > 0: worse after adaptation)")
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, (_, v, i)) in rows.iter().enumerate() {
            let y = (rows.len() - 1 - k) as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.15), (*v, y + 0.85)],
                    color(*i).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

fn training_curves(dir: &Path, domains: &[DomainResult]) -> Result<PathBuf> {
    write_svg(dir, "training_curves.svg", (1100, 480), |root| {
        let (left, right) = root.split_horizontally(550);
        // Left: training loss against the fraction of the run.
        let losses: Vec<f64> = domains
            .iter()
            .flat_map(|d| d.training.train_loss.iter().map(|p| p.value))
            .filter(|v| v.is_finite())
            .collect();
        let (l0, l1) = finite_range(losses, &[]);
        let mut chart = ChartBuilder::on(&left)
            .caption("training loss", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, l0..l1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("fraction of the run")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, d) in domains.iter().enumerate() {
            let last = d.training.steps.max(1) as f64;
            chart
                .draw_series(LineSeries::new(
                    d.training
                        .train_loss
                        .iter()
                        .map(|p| (p.step as f64 / last, p.value))
                        .filter(finite),
                    color(i),
                ))
                .map_err(|e| e.to_string())?
                .label(d.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color(i)));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        // Right: validation perplexity relative to the base (1.0 = the base model).
        let rel: Vec<f64> = domains
            .iter()
            .flat_map(|d| {
                let start = d.training.valid_ppl.first().map(|p| p.value).unwrap_or(1.0);
                d.training.valid_ppl.iter().map(move |p| p.value / start)
            })
            .collect();
        let (r0, r1) = finite_range(rel, &[1.0]);
        let mut chart = ChartBuilder::on(&right)
            .caption(
                "validation perplexity / base (● best step)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, r0..r1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("fraction of the run")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, d) in domains.iter().enumerate() {
            let last = d.training.steps.max(1) as f64;
            let start = d.training.valid_ppl.first().map(|p| p.value).unwrap_or(1.0);
            chart
                .draw_series(LineSeries::new(
                    d.training
                        .valid_ppl
                        .iter()
                        .map(|p| (p.step as f64 / last, p.value / start))
                        .filter(finite),
                    color(i).stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
            let best = (
                d.training.best_step as f64 / last,
                d.training.best_valid_ppl / start,
            );
            if finite(&best) {
                chart
                    .draw_series(std::iter::once(Circle::new(best, 5, color(i).filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_line() {
        let xs = [0.0, 1.0, 2.0, 3.0];
        let ys: Vec<f64> = xs.iter().map(|x| 2.0 - 0.5 * x).collect();
        let (a, b) = least_squares(&xs, &ys).unwrap();
        assert!((a - 2.0).abs() < 1e-12 && (b + 0.5).abs() < 1e-12);
        assert!(least_squares(&[1.0, 1.0], &[0.0, 1.0]).is_none());
        assert!(least_squares(&[1.0], &[0.0]).is_none());
    }
}

#[cfg(test)]
mod svg_tests {
    use super::*;
    use crate::domain::example_result;

    #[test]
    fn all_four_figures_are_written_as_svg() {
        let dir = tempfile::tempdir().unwrap();
        let ds = vec![
            example_result("wiki_music", 0.9, 100.0, 95.0),
            example_result("arxiv_cs", 0.3, 200.0, 120.0),
            example_result("legal", 0.1, 300.0, 90.0),
        ];
        let files = write_all(dir.path(), &ds, None).unwrap();
        assert_eq!(files.len(), 4);
        for f in files {
            let s = std::fs::read_to_string(&f).unwrap();
            assert!(s.starts_with("<svg"), "{}", f.display());
            assert!(s.contains("wiki_music") || s.contains("fraction of the run"));
        }
        // Non-finite values are left out of the figures, not a failure.
        let mut odd = ds.clone();
        odd[0].similarity.centroid_cosine.value = f64::NAN;
        odd[1].adapted.token_ppl = f64::INFINITY;
        odd[2].training.train_loss[0].value = f64::NAN;
        odd[2].training.valid_ppl[0].value = f64::NAN;
        for f in write_all(dir.path(), &odd, None).unwrap() {
            let s = std::fs::read_to_string(&f).unwrap();
            assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        }
        assert!(write_all(dir.path(), &[], None).is_err());
    }
}
