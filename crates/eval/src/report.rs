//! Markdown renderings of evaluations: one evaluation in full ([`Evaluation::to_markdown`]) and
//! the paper's comparison table of models ([`paper_table`]).

use std::fmt::Write as _;

use crate::Evaluation;

/// Formats a metric with three decimals, as the paper's tables do.
fn num(value: f64) -> String {
    format!("{value:.3}")
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), num)
}

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn header(out: &mut String, columns: &[String], right_from: usize) {
    let _ = writeln!(out, "| {} |", columns.join(" | "));
    let rules: Vec<&str> = (0..columns.len())
        .map(|i| if i < right_from { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", rules.join(" | "));
}

fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

impl Evaluation {
    /// Renders the evaluation as Markdown under a `## title` heading: per-class precision,
    /// recall, F1 and support with accuracy and macro-F1, the confusion matrix, and, when
    /// scores were given, each class's PR-AUC, ROC-AUC and TPR at each FPR budget.
    pub fn to_markdown(&self, title: &str) -> String {
        let mut out = format!("## {title}\n\n");
        let _ = writeln!(
            out,
            "{} rows, accuracy {}, macro-F1 {}\n",
            self.n,
            num(self.accuracy),
            num(self.macro_f1)
        );
        self.class_table(&mut out);
        self.confusion_table(&mut out);
        if self
            .per_class
            .iter()
            .any(|m| m.roc_auc.is_some() || m.pr_auc.is_some())
        {
            self.ranking_table(&mut out);
        }
        out
    }

    fn class_table(&self, out: &mut String) {
        let columns = ["class", "precision", "recall", "F1", "support"].map(String::from);
        header(out, &columns, 1);
        for m in &self.per_class {
            row(
                out,
                &[
                    cell(&m.class),
                    num(m.precision),
                    num(m.recall),
                    num(m.f1),
                    m.support.to_string(),
                ],
            );
        }
        out.push('\n');
    }

    fn confusion_table(&self, out: &mut String) {
        out.push_str("Confusion matrix (rows: true class, columns: predicted class)\n\n");
        let mut columns = vec!["true \\ predicted".to_owned()];
        columns.extend(self.classes.iter().map(|c| cell(c)));
        header(out, &columns, 1);
        for (class, counts) in self.classes.iter().zip(&self.confusion) {
            let mut cells = vec![cell(class)];
            cells.extend(counts.iter().map(u64::to_string));
            row(out, &cells);
        }
        out.push('\n');
    }

    fn ranking_table(&self, out: &mut String) {
        let budgets: Vec<f64> = self
            .per_class
            .iter()
            .find(|m| !m.tpr_at_fpr.is_empty())
            .map(|m| m.tpr_at_fpr.iter().map(|p| p.max_fpr).collect())
            .unwrap_or_default();
        out.push_str("Ranking metrics (each class's score against the rest)\n\n");
        let mut columns = ["class", "PR-AUC", "ROC-AUC"].map(String::from).to_vec();
        for b in &budgets {
            columns.push(format!("TPR @ FPR ≤ {b}"));
            columns.push(format!("threshold @ {b}"));
        }
        header(out, &columns, 1);
        for m in &self.per_class {
            let mut cells = vec![cell(&m.class), opt(m.pr_auc), opt(m.roc_auc)];
            for &b in &budgets {
                match m.tpr_at_fpr.iter().find(|p| p.max_fpr == b) {
                    Some(p) => cells.extend([num(p.tpr), format!("{:.4}", p.threshold)]),
                    None => cells.extend(["n/a".to_owned(), "n/a".to_owned()]),
                }
            }
            row(out, &cells);
        }
        out.push('\n');
    }
}

/// Renders the paper's comparison table (Table II of Lison & Mavroeidis 2017) as Markdown: one
/// row per model, precision, recall and F1 for each class, then accuracy and macro-F1. The
/// columns follow the first row's classes; a class another row lacks shows `n/a`.
pub fn paper_table(rows: &[(String, Evaluation)]) -> String {
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let mut columns = vec!["model".to_owned()];
    for class in &first.classes {
        let class = cell(class);
        columns.extend(["P", "R", "F1"].map(|m| format!("{class} {m}")));
    }
    columns.extend(["accuracy", "macro-F1"].map(String::from));
    let mut out = String::new();
    header(&mut out, &columns, 1);
    for (model, evaluation) in rows {
        let mut cells = vec![cell(model)];
        for class in &first.classes {
            match evaluation.per_class.iter().find(|m| &m.class == class) {
                Some(m) => cells.extend([num(m.precision), num(m.recall), num(m.f1)]),
                None => cells.extend(std::iter::repeat_n("n/a".to_owned(), 3)),
            }
        }
        cells.extend([num(evaluation.accuracy), num(evaluation.macro_f1)]);
        row(&mut out, &cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Evaluation, evaluate_scores};

    const CLASSES: [&str; 3] = ["benign", "malicious", "sinkhole"];

    fn example() -> Evaluation {
        // benign P 50/55 = 0.909, R 50/60 = 0.833, F1 100/115 = 0.870; malicious 0.750 all
        // round; sinkhole 0; accuracy 0.800; macro-F1 (0.8696 + 0.75 + 0) / 3 = 0.540.
        Evaluation::from_confusion(
            &CLASSES,
            vec![vec![50, 10, 0], vec![5, 30, 5], vec![0, 0, 0]],
        )
        .unwrap()
    }

    #[test]
    fn markdown_holds_the_numbers() {
        let md = example().to_markdown("rule baseline");
        assert!(md.starts_with("## rule baseline\n\n100 rows, accuracy 0.800, macro-F1 0.540\n"));
        assert!(
            md.contains("| benign | 0.909 | 0.833 | 0.870 | 60 |\n"),
            "{md}"
        );
        assert!(md.contains("| malicious | 0.750 | 0.750 | 0.750 | 40 |\n"));
        assert!(md.contains("| sinkhole | 0.000 | 0.000 | 0.000 | 0 |\n"));
        assert!(md.contains("| true \\ predicted | benign | malicious | sinkhole |\n"));
        assert!(md.contains("| malicious | 5 | 30 | 5 |\n"));
        assert!(!md.contains("ROC-AUC"), "no ranking table without scores");
    }

    #[test]
    fn markdown_ranking_table() {
        let truth = [0, 1, 1, 0];
        let probs = vec![
            vec![0.9, 0.1, 0.0],
            vec![0.2, 0.8, 0.0],
            vec![0.6, 0.4, 0.0],
            vec![0.7, 0.3, 0.0],
        ];
        let e = evaluate_scores(&CLASSES, &truth, &probs, &[0.5]).unwrap();
        let md = e.to_markdown("model");
        assert!(md.contains("| class | PR-AUC | ROC-AUC | TPR @ FPR ≤ 0.5 | threshold @ 0.5 |"));
        // malicious: positives 0.8, 0.4; negatives 0.3, 0.1 → ROC-AUC 1, AP 1.
        // FPR ≤ 0.5 allows 0.3 (one of two negatives): TPR 1 at threshold 0.3.
        assert!(
            md.contains("| malicious | 1.000 | 1.000 | 1.000 | 0.3000 |"),
            "{md}"
        );
        // sinkhole has no positives: no AUCs, no operating points.
        assert!(md.contains("| sinkhole | n/a | n/a | n/a | n/a |"), "{md}");
    }

    #[test]
    fn paper_table_lines_up_models() {
        let mut other = example();
        other.per_class.pop();
        assert_eq!(other.per_class.len(), 2);
        let rows = vec![
            ("rules".to_owned(), example()),
            ("mlp|v2".to_owned(), other),
        ];
        let table = paper_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "| model | benign P | benign R | benign F1 | malicious P | malicious R | \
             malicious F1 | sinkhole P | sinkhole R | sinkhole F1 | accuracy | macro-F1 |"
        );
        assert_eq!(
            lines[2],
            "| rules | 0.909 | 0.833 | 0.870 | 0.750 | 0.750 | 0.750 | 0.000 | 0.000 | 0.000 \
             | 0.800 | 0.540 |"
        );
        assert!(lines[3].starts_with("| mlp\\|v2 | 0.909 |"));
        assert!(lines[3].ends_with("| n/a | n/a | n/a | 0.800 | 0.540 |"));
        assert_eq!(paper_table(&[]), "");
    }
}
