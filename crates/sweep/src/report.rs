//! The sweep's report: the paper's table for every dataset, the datasets side by side,
//! operating points, the effect of each pass, and every trial's settings, as Markdown and as a
//! self-contained HTML page whose figures are inline SVG.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use pdnsrep_eval::Evaluation;
use pdnsrep_records::features::CLASSES;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runner::{NodeResult, Plan};
use crate::spec::Selector;

/// One trial's line of `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub trial: String,
    pub label: String,
    pub dataset: String,
    pub id: String,
    pub settings: Vec<String>,
    /// `done`, `failed: <why>` or `not run`.
    pub status: String,
    /// Every pass of the trial that finished, first to last.
    pub passes: Vec<PassRow>,
    /// The last pass's evaluations.
    pub valid: Option<Evaluation>,
    pub test: Option<Evaluation>,
    /// With the sweep's `truth`: the last pass on unlabelled records against the ground truth.
    #[serde(default)]
    pub unlisted: Option<Evaluation>,
}

/// One pass of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassRow {
    pub pass: u32,
    pub node: String,
    /// Not trained: the share of records the pass before changed was under `min_change`.
    pub settled: Option<f64>,
    pub valid_macro_f1: Option<f64>,
    pub test: Option<Evaluation>,
}

/// The trial that scores best on the sweep's `select` metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub trial: String,
    pub label: String,
    pub id: String,
    pub metric: String,
    pub value: f64,
    pub test_macro_f1: Option<f64>,
}

/// A report ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub datasets: BTreeMap<String, String>,
    pub rows: Vec<Row>,
    /// The best trial of each dataset, in label order.
    pub best: Vec<Best>,
    passes_trained: usize,
    passes_separate: usize,
}

/// A table both renderings share.
struct Table {
    title: String,
    note: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn num(v: f64) -> String {
    format!("{v:.3}")
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), num)
}

impl Report {
    pub fn build(
        plan: &Plan,
        done: &HashMap<String, NodeResult>,
        failed: &HashMap<String, String>,
        select: &Selector,
    ) -> Report {
        let rows: Vec<Row> = plan
            .trials
            .iter()
            .map(|planned| {
                let t = &planned.trial;
                let passes: Vec<PassRow> = planned
                    .chain
                    .iter()
                    .filter_map(|id| done.get(id))
                    .map(|r| PassRow {
                        pass: r.pass,
                        node: r.id.clone(),
                        settled: r.settled,
                        valid_macro_f1: r.valid.as_ref().map(|e| e.macro_f1),
                        test: r.test.clone(),
                    })
                    .collect();
                let last = planned.chain.last().and_then(|id| done.get(id));
                let status = match planned.chain.iter().find_map(|id| failed.get(id)) {
                    Some(why) => format!("failed: {why}"),
                    None if last.is_some() => "done".into(),
                    None => "not run".into(),
                };
                Row {
                    trial: t.name.clone(),
                    label: t.label.clone(),
                    dataset: t.dataset.clone(),
                    id: t.id.clone(),
                    settings: t.settings.clone(),
                    status,
                    passes,
                    valid: last.and_then(|r| r.valid.clone()),
                    test: last.and_then(|r| r.test.clone()),
                    unlisted: last.and_then(|r| r.unlisted.clone()),
                }
            })
            .collect();
        // Split modes are not comparable (a random split is easier), so each dataset has its
        // own best trial.
        let best = plan
            .datasets
            .keys()
            .filter_map(|label| {
                rows.iter()
                    .filter(|r| &r.label == label)
                    .filter_map(|r| {
                        let eval = if select.split == "valid" {
                            &r.valid
                        } else {
                            &r.test
                        };
                        Some((r, select.value(eval.as_ref()?)?))
                    })
                    // The first of equal scores wins, so the choice is stable.
                    .fold(None::<(&Row, f64)>, |best, (r, v)| match best {
                        Some((_, b)) if b >= v => best,
                        _ => Some((r, v)),
                    })
            })
            .map(|(r, value)| Best {
                trial: r.trial.clone(),
                label: r.label.clone(),
                id: r.id.clone(),
                metric: select.to_string(),
                value,
                test_macro_f1: r.test.as_ref().map(|e| e.macro_f1),
            })
            .collect();
        let (passes_trained, passes_separate) = plan.reuse();
        Report {
            name: plan.name.clone(),
            datasets: plan.datasets.clone(),
            rows,
            best,
            passes_trained,
            passes_separate,
        }
    }

    fn summary(&self) -> Vec<String> {
        let done = self.rows.iter().filter(|r| r.status == "done").count();
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut lines = vec![format!(
            "{} on {}, {done} finished; {} trained for what would be {} trained one trial at a \
             time.",
            count(self.rows.len(), "trial", "trials"),
            count(self.datasets.len(), "dataset", "datasets"),
            count(self.passes_trained, "pass", "passes"),
            self.passes_separate
        )];
        if self.best.is_empty() {
            lines.push(
                "No best trial: no trial has an evaluation on the `select` split.".to_string(),
            );
        }
        for b in &self.best {
            lines.push(format!(
                "Best by {}: `{}` on `{}` ({}; test macro-F1 {}).",
                b.metric,
                b.trial,
                b.label,
                num(b.value),
                opt(b.test_macro_f1)
            ));
        }
        lines
    }

    fn tables(&self) -> Vec<Table> {
        let mut tables = Vec::new();
        for (label, dataset) in &self.datasets {
            tables.push(self.class_table(
                label,
                |r| r.test.as_ref(),
                format!("Test split, `{label}` (`{dataset}`)"),
                "The paper's Table II: per-class precision, recall and F1, accuracy and \
                 macro-F1 of each trial's last pass.",
            ));
        }
        if self.rows.iter().any(|r| r.unlisted.is_some()) {
            for label in self.datasets.keys() {
                tables.push(self.class_table(
                    label,
                    |r| r.unlisted.as_ref(),
                    format!("Unlisted records against the ground truth, `{label}`"),
                    "The unlabelled split (records no list covers) scored against the synthetic \
                     world's truth: what the listed test split cannot show.",
                ));
            }
        }
        if self.datasets.len() > 1 {
            tables.push(self.side_by_side());
        }
        tables.push(self.operating_points());
        if self.rows.iter().any(|r| r.passes.len() > 1) {
            tables.push(self.pass_table());
        }
        tables.push(Table {
            title: "Trials".into(),
            note: String::new(),
            columns: ["trial", "dataset", "id", "settings", "passes", "status"]
                .map(String::from)
                .to_vec(),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.trial.clone(),
                        r.label.clone(),
                        r.id.clone(),
                        r.settings.join(", "),
                        r.passes.len().to_string(),
                        r.status.clone(),
                    ]
                })
                .collect(),
        });
        tables
    }

    /// Per-class precision, recall and F1, accuracy and macro-F1 of one evaluation of each
    /// trial on a dataset.
    fn class_table(
        &self,
        label: &str,
        eval: impl Fn(&Row) -> Option<&Evaluation>,
        title: String,
        note: &str,
    ) -> Table {
        let mut columns = vec!["model".to_string()];
        for class in CLASSES {
            columns.extend(["P", "R", "F1"].map(|m| format!("{class} {m}")));
        }
        columns.extend(["accuracy", "macro-F1"].map(String::from));
        let rows = self
            .rows
            .iter()
            .filter(|r| r.label == label)
            .map(|r| {
                let mut cells = vec![r.trial.clone()];
                match eval(r) {
                    Some(e) => {
                        for m in &e.per_class {
                            cells.extend([num(m.precision), num(m.recall), num(m.f1)]);
                        }
                        cells.extend([num(e.accuracy), num(e.macro_f1)]);
                    }
                    None if r.status == "done" => {
                        cells.extend(vec!["n/a".to_string(); columns.len() - 1]);
                    }
                    None => cells.extend(vec![r.status.clone(); columns.len() - 1]),
                }
                cells
            })
            .collect();
        Table {
            title,
            note: note.to_string(),
            columns,
            rows,
        }
    }

    fn side_by_side(&self) -> Table {
        let mut columns = vec!["trial".to_string()];
        for label in self.datasets.keys() {
            columns.push(format!("{label} accuracy"));
            columns.push(format!("{label} macro-F1"));
        }
        let mut names: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !names.contains(&r.trial.as_str()) {
                names.push(&r.trial);
            }
        }
        let rows = names
            .iter()
            .map(|name| {
                let mut cells = vec![(*name).to_string()];
                for label in self.datasets.keys() {
                    let test = self
                        .rows
                        .iter()
                        .find(|r| r.trial == *name && &r.label == label)
                        .and_then(|r| r.test.as_ref());
                    cells.push(opt(test.map(|e| e.accuracy)));
                    cells.push(opt(test.map(|e| e.macro_f1)));
                }
                cells
            })
            .collect();
        Table {
            title: "Split modes side by side (test split)".into(),
            note: "A random split lets records of one domain or network fall on both sides; a \
                   grouped split keeps each group on one side, which is the honest estimate for \
                   names never seen in training."
                .into(),
            columns,
            rows,
        }
    }

    fn operating_points(&self) -> Table {
        let targets = ["malicious", "sinkhole"];
        let mut columns = vec!["trial".to_string(), "dataset".to_string()];
        for class in targets {
            columns.push(format!("{class} PR-AUC"));
            columns.push(format!("{class} TPR @ FPR ≤ 0.01"));
            columns.push(format!("{class} TPR @ FPR ≤ 0.001"));
        }
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.trial.clone(), r.label.clone()];
                for class in targets {
                    let m = r
                        .test
                        .as_ref()
                        .and_then(|e| e.per_class.iter().find(|m| m.class == class));
                    cells.push(opt(m.and_then(|m| m.pr_auc)));
                    for budget in [1e-2, 1e-3] {
                        let point = m.and_then(|m| {
                            m.tpr_at_fpr
                                .iter()
                                .find(|p| (p.max_fpr - budget).abs() < 1e-12)
                        });
                        cells.push(opt(point.map(|p| p.tpr)));
                    }
                }
                cells
            })
            .collect();
        Table {
            title: "Operating points (test split)".into(),
            note: "Each class's score against the rest: the share of its records flagged while \
                   at most 1% or 0.1% of the others are."
                .into(),
            columns,
            rows,
        }
    }

    fn pass_table(&self) -> Table {
        let columns = [
            "trial",
            "dataset",
            "pass",
            "valid macro-F1",
            "test macro-F1",
            "test malicious F1",
            "test sinkhole F1",
            "pass id",
            "note",
        ]
        .map(String::from)
        .to_vec();
        let mut rows = Vec::new();
        for r in self.rows.iter().filter(|r| r.passes.len() > 1) {
            for p in &r.passes {
                let f1 = |class: &str| {
                    p.test
                        .as_ref()
                        .and_then(|e| e.per_class.iter().find(|m| m.class == class))
                        .map(|m| m.f1)
                };
                rows.push(vec![
                    r.trial.clone(),
                    r.label.clone(),
                    p.pass.to_string(),
                    opt(p.valid_macro_f1),
                    opt(p.test.as_ref().map(|e| e.macro_f1)),
                    opt(f1("malicious")),
                    opt(f1("sinkhole")),
                    p.node.clone(),
                    p.settled.map_or_else(String::new, |share| {
                        format!("not trained: {:.2}% changed before it", 100.0 * share)
                    }),
                ]);
            }
        }
        Table {
            title: "Passes".into(),
            note: "Each later pass retrains on neighbour counts recomputed from the previous \
                   pass's probabilities; trials that share their first passes share these rows' \
                   pass ids."
                .into(),
            columns,
            rows,
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("# Sweep `{}`\n\n", self.name);
        for line in self.summary() {
            let _ = writeln!(out, "{line}");
        }
        for table in self.tables() {
            let _ = write!(out, "\n## {}\n\n", table.title);
            if !table.note.is_empty() {
                let _ = write!(out, "{}\n\n", table.note);
            }
            let cell = |s: &String| md_cell(s);
            let header: Vec<String> = table.columns.iter().map(cell).collect();
            let _ = writeln!(out, "| {} |", header.join(" | "));
            // Numbers align right, text left.
            let rules: Vec<&str> = (0..table.columns.len())
                .map(|i| {
                    let numeric = table.rows.iter().all(|r| {
                        r.get(i)
                            .is_some_and(|c| c == "n/a" || c.parse::<f64>().is_ok())
                    });
                    if numeric && !table.rows.is_empty() {
                        "---:"
                    } else {
                        "---"
                    }
                })
                .collect();
            let _ = writeln!(out, "| {} |", rules.join(" | "));
            for row in &table.rows {
                let cells: Vec<String> = row.iter().map(cell).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
        out
    }

    pub fn html(&self) -> Result<String> {
        let mut out =
            String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        let _ = writeln!(out, "<title>Sweep {}</title>", escape(&self.name));
        out.push_str(
            "<style>body{font-family:sans-serif;margin:2em;max-width:80em}\
             table{border-collapse:collapse;margin:1em 0}\
             td,th{border:1px solid #bbb;padding:.25em .6em}\
             td{text-align:right}td:first-child{text-align:left}\
             th{background:#eee}p.note{color:#555}</style>\n</head><body>\n",
        );
        let _ = writeln!(out, "<h1>Sweep <code>{}</code></h1>", escape(&self.name));
        for line in self.summary() {
            let _ = writeln!(out, "<p>{}</p>", inline_code(&line));
        }
        let figures = self.figures()?;
        for (title, svg) in &figures {
            let _ = writeln!(out, "<h2>{}</h2>\n<figure>{svg}</figure>", escape(title));
        }
        for table in self.tables() {
            let _ = writeln!(out, "<h2>{}</h2>", inline_code(&table.title));
            if !table.note.is_empty() {
                let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&table.note));
            }
            out.push_str("<table>\n<tr>");
            for c in &table.columns {
                let _ = write!(out, "<th>{}</th>", escape(c));
            }
            out.push_str("</tr>\n");
            for row in &table.rows {
                out.push_str("<tr>");
                for c in row {
                    let _ = write!(out, "<td>{}</td>", escape(c));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
        out.push_str("</body></html>\n");
        Ok(out)
    }

    /// Test macro-F1 of every trial, and per-class F1 along each multi-pass trial.
    fn figures(&self) -> Result<Vec<(String, String)>> {
        let mut figures = Vec::new();
        let bars: Vec<(String, usize, f64)> = self
            .rows
            .iter()
            .filter_map(|r| {
                let label = self.datasets.keys().position(|l| l == &r.label)?;
                Some((
                    format!("{} [{}]", r.trial, r.label),
                    label,
                    r.test.as_ref()?.macro_f1,
                ))
            })
            .collect();
        if !bars.is_empty() {
            let mut svg = String::new();
            draw_bars(&mut svg, &bars).map_err(plot_error)?;
            figures.push(("Test macro-F1 by trial".to_string(), svg));
        }
        let lines: Vec<PassLine> = self
            .rows
            .iter()
            .filter(|r| r.passes.len() > 1)
            .map(|r| {
                let points = r
                    .passes
                    .iter()
                    .filter_map(|p| {
                        let e = p.test.as_ref()?;
                        let f1 = |c: &str| e.per_class.iter().find(|m| m.class == c).map(|m| m.f1);
                        Some((p.pass, f1("malicious")?, f1("sinkhole")?))
                    })
                    .collect();
                (format!("{} [{}]", r.trial, r.label), points)
            })
            .collect();
        if !lines.is_empty() {
            let mut svg = String::new();
            draw_passes(&mut svg, &lines).map_err(plot_error)?;
            figures.push((
                "Malicious (solid) and sinkhole (dashed) test F1 by pass".to_string(),
                svg,
            ));
        }
        Ok(figures)
    }
}

/// A multi-pass trial's name and, per pass, its test F1 of the malicious and sinkhole classes.
type PassLine = (String, Vec<(u32, f64, f64)>);

type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn plot_error(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
    Error::Worker(format!("drawing the report's figures: {e}"))
}

const FONT: &str = "sans-serif";

fn palette(i: usize) -> RGBColor {
    const COLOURS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    COLOURS[i % COLOURS.len()]
}

/// Horizontal bars, one per (trial, dataset), coloured by dataset.
fn draw_bars(svg: &mut String, bars: &[(String, usize, f64)]) -> DrawResult {
    let height = 80 + 26 * bars.len() as u32;
    let root = SVGBackend::with_string(svg, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = bars.len() as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(330)
        .build_cartesian_2d(0f64..1f64, (0u32..n).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        // The first bar on top: segment 0 is at the bottom of the axis.
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n => bars[(n - 1 - i) as usize].0.clone(),
            _ => String::new(),
        })
        .x_desc("test macro-F1")
        .label_style((FONT, 13))
        .draw()?;
    for (i, (_, label, value)) in bars.iter().enumerate() {
        let i = n - 1 - i as u32;
        let colour = palette(*label);
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (0.0, SegmentValue::Exact(i)),
                (*value, SegmentValue::Exact(i + 1)),
            ],
            colour.mix(0.8).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{value:.3}"),
            ((*value - 0.08).max(0.01), SegmentValue::CenterOf(i)),
            (FONT, 12).into_font().color(&WHITE),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// One line per multi-pass trial: malicious F1 solid, sinkhole F1 dashed.
fn draw_passes(svg: &mut String, lines: &[PassLine]) -> DrawResult {
    let root = SVGBackend::with_string(svg, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_pass = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .max()
        .unwrap_or(2)
        .max(2);
    let values = lines
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|x| [x.1, x.2]));
    let lo = values.fold(1.0f64, f64::min);
    let lo = ((lo - 0.05).max(0.0) * 20.0).floor() / 20.0;
    let mut chart = ChartBuilder::on(&root)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.8f64..f64::from(max_pass) + 0.2, lo..1.0f64)?;
    chart
        .configure_mesh()
        .x_labels(max_pass as usize)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .x_desc("pass")
        .y_desc("test F1")
        .draw()?;
    for (i, (name, points)) in lines.iter().enumerate() {
        let colour = palette(i);
        let malicious: Vec<(f64, f64)> = points.iter().map(|p| (f64::from(p.0), p.1)).collect();
        let sinkhole: Vec<(f64, f64)> = points.iter().map(|p| (f64::from(p.0), p.2)).collect();
        chart
            .draw_series(LineSeries::new(malicious.clone(), colour.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart.draw_series(DashedLineSeries::new(
            sinkhole.clone(),
            6,
            4,
            colour.stroke_width(2),
        ))?;
        let marks = malicious.into_iter().chain(sinkhole);
        chart.draw_series(marks.map(|p| Circle::new(p, 3, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Text for a Markdown table cell: no pipes, no HTML, on one line.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes text and turns Markdown's `code` spans into `<code>`.
fn inline_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}
