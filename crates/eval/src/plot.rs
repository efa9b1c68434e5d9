//! SVG figures of an evaluation: the confusion matrix, one precision-recall curve per class,
//! and training curves. Each file is written atomically (a temporary name in the same folder,
//! then a rename), so a reader never sees half a figure.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::{Error, Evaluation, PrCurve, Result};

/// One logged point of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// The epoch the step belongs to.
    pub epoch: u32,
    /// Training loss at this step (a running mean is fine); non-finite values are not drawn.
    pub train_loss: f64,
    /// Validation macro-F1, for the steps where validation ran.
    pub valid_macro_f1: Option<f64>,
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

const FONT: &str = "sans-serif";

/// Writes `confusion.svg`, `training_curves.svg` when `curves` is given, and
/// `pr_<class>.svg` for each curve with points into `dir` (created if missing), and returns
/// the paths written. Class names are reduced to ASCII letters, digits, `-` and `_` in file
/// names.
///
/// # Errors
///
/// [`Error::Write`] when the folder or a file cannot be written, [`Error::Plot`] when drawing
/// fails.
pub fn write_plots(
    dir: &Path,
    eval: &Evaluation,
    curves: Option<&[CurvePoint]>,
    pr: &[PrCurve],
) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    let path = dir.join("confusion.svg");
    write_confusion(&path, eval)?;
    written.push(path);
    if let Some(points) = curves {
        let path = dir.join("training_curves.svg");
        write_training_curves(&path, points)?;
        written.push(path);
    }
    for curve in pr.iter().filter(|c| !c.points.is_empty()) {
        let path = dir.join(format!("pr_{}.svg", file_stem(&curve.class)));
        write_pr_curve(&path, curve)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the confusion matrix as an SVG grid of counts, each cell shaded by its share of the
/// true class's rows.
///
/// # Errors
///
/// As [`write_plots`].
pub fn write_confusion(path: &Path, eval: &Evaluation) -> Result<()> {
    render(path, |svg| draw_confusion(svg, eval))
}

/// Writes one class's precision-recall curve as an SVG step plot.
///
/// # Errors
///
/// As [`write_plots`].
pub fn write_pr_curve(path: &Path, curve: &PrCurve) -> Result<()> {
    render(path, |svg| draw_pr(svg, curve))
}

/// Writes training loss (left axis) and validation macro-F1 (right axis, one marker per
/// validation run) against the step, with a grey vertical line where each epoch after the
/// first begins.
///
/// # Errors
///
/// As [`write_plots`].
pub fn write_training_curves(path: &Path, points: &[CurvePoint]) -> Result<()> {
    render(path, |svg| draw_training(svg, points))
}

fn render(path: &Path, draw: impl FnOnce(&mut String) -> DrawResult) -> Result<()> {
    let mut svg = String::new();
    draw(&mut svg).map_err(|source| Error::Plot {
        path: path.to_owned(),
        source,
    })?;
    write_atomic(path, &svg)
}

/// Writes `contents` beside `path` under a temporary name, then renames it into place.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}-{unique}.tmp", std::process::id()));
    let result = fs::write(&tmp, contents).and_then(|()| fs::rename(&tmp, path));
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        Error::Write {
            path: path.to_owned(),
            source,
        }
    })
}

fn file_stem(class: &str) -> String {
    class
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

fn centred(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
}

fn draw_confusion(svg: &mut String, eval: &Evaluation) -> DrawResult {
    const CELL: i32 = 90;
    const LEFT: i32 = 150;
    const TOP: i32 = 90;
    let k = eval.classes.len() as i32;
    let size = ((LEFT + k * CELL + 30) as u32, (TOP + k * CELL + 30) as u32);
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("confusion matrix (n = {})", eval.n);
    root.draw(&Text::new(title, (10, 10), (FONT, 18).into_font()))?;
    root.draw(&Text::new(
        "predicted →",
        (LEFT + k * CELL / 2, 45),
        centred(14),
    ))?;
    root.draw(&Text::new("true ↓", (45, 45), centred(14)))?;
    for (i, class) in eval.classes.iter().enumerate() {
        let i = i as i32;
        let column = (LEFT + i * CELL + CELL / 2, TOP - 15);
        root.draw(&Text::new(class.clone(), column, centred(13)))?;
        let row = (LEFT - 75, TOP + i * CELL + CELL / 2);
        root.draw(&Text::new(class.clone(), row, centred(13)))?;
    }
    for (t, counts) in eval.confusion.iter().enumerate() {
        let support: u64 = counts.iter().sum();
        for (p, &count) in counts.iter().enumerate() {
            let share = if support == 0 {
                0.0
            } else {
                count as f64 / support as f64
            };
            let shade = |full: f64| (255.0 - share * full) as u8;
            let fill = RGBColor(shade(200.0), shade(140.0), 255);
            let (x, y) = (LEFT + p as i32 * CELL, TOP + t as i32 * CELL);
            root.draw(&Rectangle::new(
                [(x, y), (x + CELL, y + CELL)],
                fill.filled(),
            ))?;
            root.draw(&Rectangle::new([(x, y), (x + CELL, y + CELL)], BLACK))?;
            let centre = (x + CELL / 2, y + CELL / 2);
            root.draw(&Text::new(count.to_string(), centre, centred(15)))?;
        }
    }
    root.present()?;
    Ok(())
}

/// Drops points that would land within a thousandth of the last kept one on both axes, so a
/// curve from 2^16 histogram bins stays a small file; the last point is always kept.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut kept: Vec<(f64, f64)> = Vec::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        let far = kept
            .last()
            .is_none_or(|&(kx, ky)| (x - kx).abs() >= 1e-3 || (y - ky).abs() >= 1e-3);
        if far || i + 1 == points.len() {
            kept.push((x, y));
        }
    }
    kept
}

fn draw_pr(svg: &mut String, curve: &PrCurve) -> DrawResult {
    let root = SVGBackend::with_string(svg, (640, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "precision-recall: {} ({} positives, {} negatives)",
        curve.class, curve.positives, curve.negatives
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (FONT, 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        .draw()?;
    // Each step holds its precision until the recall of the next point (a post-step plot).
    let mut steps = Vec::with_capacity(2 * curve.points.len());
    let mut recall = 0.0;
    for p in &curve.points {
        steps.push((recall, p.precision));
        steps.push((p.recall, p.precision));
        recall = p.recall;
    }
    chart.draw_series(LineSeries::new(thin(&steps), BLUE.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad)..(hi + pad)
}

fn draw_training(svg: &mut String, points: &[CurvePoint]) -> DrawResult {
    let root = SVGBackend::with_string(svg, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let losses: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.train_loss.is_finite())
        .map(|p| (p.step as f64, p.train_loss))
        .collect();
    let f1s: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.step as f64, p.valid_macro_f1?)))
        .collect();
    let steps = padded(points.iter().map(|p| p.step as f64));
    let loss_range = padded(losses.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(&root)
        .caption("training curves", (FONT, 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(steps.clone(), loss_range.clone())?
        .set_secondary_coord(steps, 0f64..1f64);
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("training loss")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("validation macro-F1")
        .draw()?;
    for pair in points.windows(2).filter(|w| w[1].epoch != w[0].epoch) {
        let x = pair[1].step as f64;
        let line = vec![(x, loss_range.start), (x, loss_range.end)];
        let grey = RGBColor(120, 120, 120).stroke_width(2);
        chart.draw_series(std::iter::once(PathElement::new(line, grey)))?;
    }
    chart
        .draw_series(LineSeries::new(losses, BLUE.stroke_width(2)))?
        .label("training loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_secondary_series(LineSeries::new(f1s.clone(), RED.stroke_width(2)))?
        .label("validation macro-F1")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    // Validation runs are sparse, so mark each one; a single run would otherwise not show.
    chart.draw_secondary_series(f1s.into_iter().map(|p| Circle::new(p, 3, RED.filled())))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Accumulator, evaluate_labels};

    fn svg_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_every_figure_atomically() {
        let classes = ["benign", "malicious", "sink hole"];
        let mut acc = Accumulator::with_defaults(&classes).unwrap();
        for i in 0..200u16 {
            let s = f32::from(i % 10) / 10.0;
            acc.push((i % 3) as u8, &[s, (1.0 - s) / 2.0, (1.0 - s) / 2.0])
                .unwrap();
        }
        let eval = acc.finish().unwrap();
        let curves: Vec<CurvePoint> = (0..20u64)
            .map(|step| CurvePoint {
                step: step * 10,
                epoch: (step / 5) as u32,
                train_loss: 1.0 / (step as f64 + 1.0),
                valid_macro_f1: (step % 5 == 4).then_some(step as f64 / 20.0),
            })
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("plots");
        let written = write_plots(&dir, &eval, Some(&curves), &acc.pr_curves()).unwrap();
        let expected = [
            "confusion.svg",
            "pr_benign.svg",
            "pr_malicious.svg",
            "pr_sink_hole.svg",
            "training_curves.svg",
        ];
        assert_eq!(svg_files(&dir), expected);
        assert_eq!(written.len(), 5);
        for path in &written {
            let text = fs::read_to_string(path).unwrap();
            assert!(
                text.starts_with("<svg"),
                "{}: {}",
                path.display(),
                &text[..40]
            );
            assert!(text.trim_end().ends_with("</svg>"));
        }
        let confusion = fs::read_to_string(dir.join("confusion.svg")).unwrap();
        assert!(confusion.contains(">\nsink hole\n</text>"), "{confusion}");
        assert!(confusion.contains("(n = 200)"));
    }

    #[test]
    fn label_only_evaluation_writes_just_the_matrix() {
        let eval = evaluate_labels(&["a", "b"], &[0, 1], &[0, 0]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let written = write_plots(tmp.path(), &eval, None, &[]).unwrap();
        assert_eq!(written, vec![tmp.path().join("confusion.svg")]);
        // An empty training log still draws axes rather than failing.
        write_training_curves(&tmp.path().join("t.svg"), &[]).unwrap();
    }

    #[test]
    fn failed_write_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("confusion.svg");
        fs::create_dir(&target).unwrap();
        let eval = evaluate_labels(&["a", "b"], &[0, 1], &[0, 0]).unwrap();
        let err = write_confusion(&target, &eval).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot write `{}`", target.display())
        );
        assert_eq!(svg_files(tmp.path()), ["confusion.svg"]);
    }
}
