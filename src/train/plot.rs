//! The pictures at the end of a run, drawn with `plotters` into an RGB buffer (text through
//! ab_glyph with the embedded DejaVu Sans, so nothing depends on the system's fonts) and written
//! by `save_png`: the loss curve with axes, ticks and a legend, and the grid of validation samples
//! with the step of each row and the prompt of each column.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::imageio::save_png;

const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is a fixed, valid TTF built into the binary; a failure here is a build error.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::invalid("plot", format!("drawing {}: {e}", path.display()))
}

/// One step of a run, as the loss curve shows it.
#[derive(Clone, Copy, Debug)]
pub struct StepPoint {
    pub step: usize,
    /// instance + λ · prior, what the optimiser minimised.
    pub loss: f64,
    pub instance: f64,
    pub prior: f64,
    pub lr: f64,
}

/// The trailing mean over `w` values at each position.
fn moving_mean(v: &[f64], w: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    let mut sum = 0.0;
    for (i, x) in v.iter().enumerate() {
        sum += x;
        if i >= w {
            sum -= v[i - w];
        }
        out.push(sum / (i + 1).min(w) as f64);
    }
    out
}

/// `loss.png`: the loss per step and its moving average on a log axis (with the instance and
/// prior losses' averages when prior preservation is on), the learning rate in a panel below,
/// step on both x axes, and `title` (the run and its identifier) above.
pub fn loss_curve(path: &Path, title: &str, points: &[StepPoint], with_prior: bool) -> Result<()> {
    register_font();
    let (w, h) = (1000u32, 640u32);
    let mut px = vec![255u8; (w * h * 3) as usize];
    let pts: Vec<StepPoint> =
        points.iter().copied().filter(|p| p.loss.is_finite() && p.loss > 0.0 && p.instance.is_finite()).collect();
    {
        let root = BitMapBackend::with_buffer(&mut px, (w, h)).into_drawing_area();
        draw_loss(&root, title, &pts, with_prior).map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    save_png(path, w as usize, h as usize, &px, &[("Title", title.to_string())])
}

type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn draw_loss(
    root: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    pts: &[StepPoint],
    with_prior: bool,
) -> DrawResult<()> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 20))?;
    let (upper, lower) = root.split_vertically(root.dim_in_pixel().1 * 7 / 10);
    if pts.is_empty() {
        upper.draw(&Text::new("no finite loss was recorded", (60, 60), (FONT, 16)))?;
        return Ok(());
    }
    let steps: Vec<f64> = pts.iter().map(|p| p.step as f64).collect();
    let (x0, x1) = (steps[0], steps[steps.len() - 1].max(steps[0] + 1.0));
    let window = (pts.len() / 25).clamp(5, 100).min(pts.len());
    let series = |f: fn(&StepPoint) -> f64| pts.iter().map(f).collect::<Vec<f64>>();
    let loss = series(|p| p.loss);
    let mut lines: Vec<(String, RGBColor, u32, Vec<f64>)> = vec![
        ("loss per step".into(), RGBColor(200, 200, 200), 1, loss.clone()),
        (format!("loss, mean of the last {window} steps"), RGBColor(30, 80, 200), 3, moving_mean(&loss, window)),
    ];
    if with_prior {
        let (inst, prior) = (series(|p| p.instance), series(|p| p.prior));
        lines.push((
            format!("instance loss (mean of {window})"),
            RGBColor(230, 120, 20),
            2,
            moving_mean(&inst, window),
        ));
        lines.push((format!("prior loss (mean of {window})"), RGBColor(40, 150, 60), 2, moving_mean(&prior, window)));
    }
    let positive = lines.iter().flat_map(|l| l.3.iter().copied()).filter(|v| *v > 0.0 && v.is_finite());
    let (lo, hi) = positive.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (lo / 1.2, (hi * 1.2).max(lo * 2.0));

    let mut chart = ChartBuilder::on(&upper)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("loss (MSE on epsilon, log scale)")
        .y_label_formatter(&|v| format_tick(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (name, color, width, ys) in &lines {
        let style = color.stroke_width(*width);
        let data = steps.iter().zip(ys).filter(|(_, y)| **y > 0.0).map(|(x, y)| (*x, *y));
        chart
            .draw_series(LineSeries::new(data, style))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()?;

    let lrs = series(|p| p.lr);
    let lr_hi = lrs.iter().copied().fold(0.0, f64::max).max(1e-12) * 1.1;
    let mut lr_chart = ChartBuilder::on(&lower)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..lr_hi)?;
    lr_chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("learning rate")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_labels(4)
        .y_label_formatter(&|v| if *v == 0.0 { "0".into() } else { format!("{v:.1e}") })
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    lr_chart.draw_series(LineSeries::new(steps.iter().copied().zip(lrs), RGBColor(120, 60, 160).stroke_width(2)))?;
    Ok(())
}

/// Ticks of a log axis over [lo, hi]: 1, 2 and 5 times each power of ten, or every power of ten
/// when the range spans more than three decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mantissas: &[f64] = if d1 - d0 > 3 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    (d0..=d1).flat_map(|d| mantissas.iter().map(move |m| m * 10f64.powi(d))).filter(|v| (lo..=hi).contains(v)).collect()
}

/// A log-axis tick: enough digits to tell neighbours apart, no trailing zeros.
fn format_tick(v: f64) -> String {
    if v >= 1.0 {
        format!("{}", (v * 100.0).round() / 100.0)
    } else {
        let digits = (-v.log10()).ceil() as usize + 1;
        let s = format!("{v:.digits$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One validation sample: the step it was drawn at, its prompt and its pixels (h x w RGB).
pub struct Sample {
    pub step: usize,
    pub prompt: String,
    pub height: usize,
    pub width: usize,
    pub rgb: Vec<u8>,
}

/// `validation_grid.png`: one row per validation step (labelled with the step; step 0 is the
/// model before training), one column per sample, the prompts above. Small images are enlarged
/// by whole factors to at least 128 pixels, so that a 64-pixel run is visible.
pub fn validation_grid(path: &Path, title: &str, samples: &[Sample]) -> Result<()> {
    register_font();
    let Some(first) = samples.first() else { return Ok(()) };
    let (sh, sw) = (first.height, first.width);
    let samples: Vec<&Sample> = samples.iter().filter(|s| s.height == sh && s.width == sw).collect();
    let mut steps: Vec<usize> = samples.iter().map(|s| s.step).collect();
    steps.sort();
    steps.dedup();
    // Columns: for each prompt in order of appearance, as many as its largest row holds.
    let mut prompts: Vec<(String, usize)> = Vec::new();
    for &step in &steps {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for s in samples.iter().filter(|s| s.step == step) {
            match counts.iter_mut().find(|(p, _)| *p == s.prompt) {
                Some(c) => c.1 += 1,
                None => counts.push((s.prompt.clone(), 1)),
            }
        }
        for (p, n) in counts {
            match prompts.iter_mut().find(|(q, _)| *q == p) {
                Some(c) => c.1 = c.1.max(n),
                None => prompts.push((p, n)),
            }
        }
    }
    let cols: usize = prompts.iter().map(|p| p.1).sum();
    let scale = 128usize.div_ceil(sh.max(sw)).max(1);
    let (cw, ch) = (sw * scale, sh * scale);
    let (gap, label_w, line_h) = (6usize, 150usize, 22usize);
    let head_h = line_h * (1 + prompts.len()) + gap;
    // As wide as the images, and as the longest line of text above them.
    let font = (FONT, 16).into_font();
    let mut lines = vec![title.to_string()];
    lines.extend(prompts.iter().map(|(p, _)| format!("columns 00-00: \"{p}\"")));
    let text_w = lines.iter().filter_map(|l| font.box_size(l).ok()).map(|(w, _)| w as usize).max().unwrap_or(0);
    let gw = (label_w + cols * (cw + gap) + gap).max(text_w + 2 * gap).max(320);
    let gh = head_h + steps.len() * (ch + gap) + gap;
    let mut px = vec![255u8; gw * gh * 3];
    let col0 = |prompt: &str| {
        let i = prompts.iter().position(|p| p.0 == prompt).unwrap_or(0);
        prompts[..i].iter().map(|p| p.1).sum::<usize>()
    };
    for (row, &step) in steps.iter().enumerate() {
        let mut used: Vec<(String, usize)> = Vec::new();
        for s in samples.iter().filter(|s| s.step == step) {
            let k = match used.iter_mut().find(|(p, _)| *p == s.prompt) {
                Some(u) => {
                    u.1 += 1;
                    u.1 - 1
                }
                None => {
                    used.push((s.prompt.clone(), 1));
                    0
                }
            };
            let (ox, oy) = (label_w + (col0(&s.prompt) + k) * (cw + gap), head_h + row * (ch + gap));
            for y in 0..ch {
                for x in 0..cw {
                    let src = ((y / scale) * sw + x / scale) * 3;
                    let dst = ((oy + y) * gw + ox + x) * 3;
                    px[dst..dst + 3].copy_from_slice(&s.rgb[src..src + 3]);
                }
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut px, (gw as u32, gh as u32)).into_drawing_area();
        let text =
            |s: &str, x: usize, y: usize| root.draw(&Text::new(s.to_string(), (x as i32, y as i32), font.clone()));
        text(title, gap, 4).map_err(|e| plot_err(path, e))?;
        for (i, (p, n)) in prompts.iter().enumerate() {
            let c = col0(p);
            let which = if prompts.len() == 1 {
                "prompt".to_string()
            } else if *n == 1 {
                format!("column {}", c + 1)
            } else {
                format!("columns {}-{}", c + 1, c + n)
            };
            let p = if p.is_empty() { "(empty prompt)" } else { p.as_str() };
            text(&format!("{which}: \"{p}\""), gap, 4 + line_h * (i + 1)).map_err(|e| plot_err(path, e))?;
        }
        for (row, &step) in steps.iter().enumerate() {
            let y = head_h + row * (ch + gap) + ch / 2 - 10;
            let label = if step == 0 { "before training".to_string() } else { format!("step {step}") };
            text(&label, gap, y).map_err(|e| plot_err(path, e))?;
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    save_png(path, gw, gh, &px, &[("Title", title.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_mean_is_trailing() {
        assert_eq!(moving_mean(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn log_ticks_are_one_two_five() {
        let t = log_ticks(0.15, 2.5);
        assert_eq!(t.len(), 4);
        assert!(t.iter().zip([0.2, 0.5, 1.0, 2.0]).all(|(a, b)| (a - b).abs() < 1e-12), "{t:?}");
        assert_eq!(log_ticks(0.001, 20.0).len(), 5);
    }

    #[test]
    fn ticks_keep_the_digits_that_matter() {
        assert_eq!(format_tick(0.05), "0.05");
        assert_eq!(format_tick(0.2), "0.2");
        assert_eq!(format_tick(2.0), "2");
        assert_eq!(format_tick(0.003), "0.003");
    }
}
