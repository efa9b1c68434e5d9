//! Per-class and overall metrics from a confusion matrix, and the in-memory evaluation entry
//! points [`evaluate_labels`] and [`evaluate_scores`].

use serde::{Deserialize, Serialize};

use crate::ranking::{PrCurve, Ranking};
use crate::{Error, Result};

/// The false positive rate budgets reported by default: the paper's use case flags domains for
/// analysts, where one false alarm in a hundred or a thousand benign records is the range that
/// matters.
pub const DEFAULT_FPR_TARGETS: [f64; 2] = [1e-2, 1e-3];

/// The result of evaluating a model on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Class names in index order; the project's are `["benign", "malicious", "sinkhole"]`.
    pub classes: Vec<String>,
    /// Rows evaluated.
    pub n: u64,
    /// Fraction of rows whose predicted class is the true one.
    pub accuracy: f64,
    /// Unweighted mean F1 over the classes that occur in the truth or the predictions.
    pub macro_f1: f64,
    /// Row counts indexed `[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// One entry per class, in class order.
    pub per_class: Vec<ClassMetrics>,
}

/// Metrics of one class against the rest.
///
/// Precision is 0 for a class that is never predicted, recall is 0 for a class with no rows,
/// and F1 is 0 when both are 0 (scikit-learn's `zero_division=0` convention): the 0/0 cases
/// count as failures rather than vanish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// Rows whose true class is this one.
    pub support: u64,
    /// Fraction of rows predicted as this class that truly are.
    pub precision: f64,
    /// Fraction of this class's rows predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Average precision of the class's score; `None` without scores or without positives.
    pub pr_auc: Option<f64>,
    /// ROC-AUC of the class's score; `None` without scores, positives or negatives.
    pub roc_auc: Option<f64>,
    /// Best operating point under each false positive rate budget, in the order the budgets
    /// were given; empty when `roc_auc` is `None`.
    pub tpr_at_fpr: Vec<OperatingPoint>,
}

/// The best threshold on one class's score under a false positive rate budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The budget: the highest false positive rate allowed.
    pub max_fpr: f64,
    /// True positive rate reached at `threshold`.
    pub tpr: f64,
    /// Scores `>= threshold` are flagged. A threshold above every score (above 1 for
    /// probabilities) means no threshold fits the budget and nothing is flagged.
    pub threshold: f64,
    /// The false positive rate actually reached, at most `max_fpr`.
    pub fpr: f64,
}

impl Evaluation {
    /// Computes accuracy, macro-F1 and per-class precision, recall and F1 from a confusion
    /// matrix indexed `[true][predicted]`, without ranking metrics.
    ///
    /// # Errors
    ///
    /// [`Error::Classes`] for an empty, duplicated or over-long class list,
    /// [`Error::Classes`] when the matrix is not square with one row per class, and
    /// [`Error::Empty`] when it counts no rows.
    pub fn from_confusion(classes: &[&str], confusion: Vec<Vec<u64>>) -> Result<Self> {
        check_classes(classes)?;
        let k = classes.len();
        if confusion.len() != k || confusion.iter().any(|row| row.len() != k) {
            return Err(Error::Classes {
                reason: format!("confusion matrix is not {k}×{k} for {k} classes"),
            });
        }
        let n: u64 = confusion.iter().flatten().sum();
        if n == 0 {
            return Err(Error::Empty {
                what: "no rows to evaluate",
            });
        }
        let per_class: Vec<ClassMetrics> = (0..k)
            .map(|c| class_metrics(classes[c], &confusion, c))
            .collect();
        let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
        let seen: Vec<f64> = (0..k)
            .filter(|&c| per_class[c].support > 0 || predicted(&confusion, c) > 0)
            .map(|c| per_class[c].f1)
            .collect();
        Ok(Evaluation {
            classes: classes.iter().map(|&c| c.to_owned()).collect(),
            n,
            accuracy: correct as f64 / n as f64,
            macro_f1: seen.iter().sum::<f64>() / seen.len() as f64,
            confusion,
            per_class,
        })
    }

    /// Fills in each class's AUCs and operating points from its ranking.
    pub(crate) fn with_rankings(mut self, rankings: &[Ranking], fpr_targets: &[f64]) -> Self {
        for (metrics, ranking) in self.per_class.iter_mut().zip(rankings) {
            metrics.pr_auc = ranking.average_precision();
            metrics.roc_auc = ranking.roc_auc();
            metrics.tpr_at_fpr = fpr_targets
                .iter()
                .filter_map(|&t| ranking.operating_point(t))
                .collect();
        }
        self
    }
}

fn predicted(confusion: &[Vec<u64>], c: usize) -> u64 {
    confusion.iter().map(|row| row[c]).sum()
}

fn class_metrics(class: &str, confusion: &[Vec<u64>], c: usize) -> ClassMetrics {
    let tp = confusion[c][c];
    let support: u64 = confusion[c].iter().sum();
    let precision = ratio(tp, predicted(confusion, c));
    let recall = ratio(tp, support);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    ClassMetrics {
        class: class.to_owned(),
        support,
        precision,
        recall,
        f1,
        pr_auc: None,
        roc_auc: None,
        tpr_at_fpr: Vec::new(),
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Checks that a class list is usable: non-empty, at most 256 names (labels are `u8`),
/// no empty or repeated names.
pub(crate) fn check_classes(classes: &[&str]) -> Result<()> {
    let bad = |reason: String| Err(Error::Classes { reason });
    if classes.is_empty() {
        return Err(Error::Empty {
            what: "no classes given",
        });
    }
    if classes.len() > 256 {
        return bad(format!(
            "{} classes, but labels are u8 (at most 256)",
            classes.len()
        ));
    }
    for (i, name) in classes.iter().enumerate() {
        if name.is_empty() {
            return bad(format!("class {i} has an empty name"));
        }
        if classes[..i].contains(name) {
            return bad(format!("class `{name}` is listed twice"));
        }
    }
    Ok(())
}

/// Checks that FPR budgets lie in (0, 1].
pub(crate) fn check_fpr_targets(targets: &[f64]) -> Result<()> {
    match targets.iter().find(|t| !(**t > 0.0 && **t <= 1.0)) {
        Some(t) => Err(Error::Settings {
            reason: format!("false positive rate target {t} is not in (0, 1]"),
        }),
        None => Ok(()),
    }
}

/// Checks a label against the class count.
pub(crate) fn check_label(row: u64, what: &'static str, value: u8, classes: usize) -> Result<()> {
    if usize::from(value) < classes {
        Ok(())
    } else {
        Err(Error::LabelOutOfRange {
            row,
            what,
            value,
            classes,
        })
    }
}

/// Validates one scored row and returns its predicted class: the argmax, ties going to the
/// lowest index.
pub(crate) fn check_scored_row<S: AsRef<str>>(
    row: u64,
    classes: &[S],
    truth: u8,
    probs: &[f32],
) -> Result<u8> {
    check_label(row, "true", truth, classes.len())?;
    if probs.len() != classes.len() {
        return Err(Error::RowWidth {
            row,
            width: probs.len(),
            classes: classes.len(),
        });
    }
    let mut best = 0;
    for (c, &p) in probs.iter().enumerate() {
        let class = || classes[c].as_ref().to_owned();
        if p.is_nan() {
            return Err(Error::NanScore {
                row,
                class: class(),
            });
        }
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::ScoreRange {
                row,
                class: class(),
                value: p,
            });
        }
        if p > probs[best] {
            best = c;
        }
    }
    Ok(best as u8)
}

fn check_lengths(truth: usize, other: usize, name: &'static str) -> Result<()> {
    if truth == other {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            left: "truth",
            left_len: truth,
            right: name,
            right_len: other,
        })
    }
}

/// Evaluates hard predictions, such as the paper's rule baseline: no AUCs or operating points.
///
/// # Errors
///
/// [`Error::LengthMismatch`] when `truth` and `predicted` differ in length,
/// [`Error::LabelOutOfRange`] for a label not below `classes.len()`, [`Error::Empty`] for no
/// rows or no classes, and [`Error::Classes`] for an unusable class list.
pub fn evaluate_labels(classes: &[&str], truth: &[u8], predicted: &[u8]) -> Result<Evaluation> {
    check_classes(classes)?;
    check_lengths(truth.len(), predicted.len(), "predicted")?;
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (row, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
        check_label(row as u64, "true", t, k)?;
        check_label(row as u64, "predicted", p, k)?;
        confusion[usize::from(t)][usize::from(p)] += 1;
    }
    Evaluation::from_confusion(classes, confusion)
}

/// Evaluates class probabilities exactly, holding every score in memory: the prediction is
/// the argmax (ties go to the lowest index), and each class's AUCs and operating points come
/// from sorting its scores. Rows are expected to sum to about 1 but this is not checked; each
/// score must lie in [0, 1]. For large datasets use the [`Accumulator`](crate::Accumulator).
///
/// # Errors
///
/// Those of [`evaluate_labels`], plus [`Error::RowWidth`] for a row without one score per
/// class, [`Error::NanScore`] and [`Error::ScoreRange`] for a score that is not a probability,
/// and [`Error::Settings`] for a budget outside (0, 1].
pub fn evaluate_scores(
    classes: &[&str],
    truth: &[u8],
    probs: &[Vec<f32>],
    fpr_targets: &[f64],
) -> Result<Evaluation> {
    check_classes(classes)?;
    check_fpr_targets(fpr_targets)?;
    check_lengths(truth.len(), probs.len(), "probs")?;
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (row, (&t, p)) in truth.iter().zip(probs).enumerate() {
        let predicted = check_scored_row(row as u64, classes, t, p)?;
        confusion[usize::from(t)][usize::from(predicted)] += 1;
    }
    let evaluation = Evaluation::from_confusion(classes, confusion)?;
    let rankings = exact_rankings(k, truth, probs);
    Ok(evaluation.with_rankings(&rankings, fpr_targets))
}

/// Exact precision-recall curves, one per class, from in-memory probabilities.
///
/// # Errors
///
/// As [`evaluate_scores`].
pub fn pr_curves_exact(classes: &[&str], truth: &[u8], probs: &[Vec<f32>]) -> Result<Vec<PrCurve>> {
    check_classes(classes)?;
    check_lengths(truth.len(), probs.len(), "probs")?;
    for (row, (&t, p)) in truth.iter().zip(probs).enumerate() {
        check_scored_row(row as u64, classes, t, p)?;
    }
    let rankings = exact_rankings(classes.len(), truth, probs);
    Ok(rankings
        .iter()
        .zip(classes)
        .map(|(r, c)| r.pr_curve(c))
        .collect())
}

fn exact_rankings(k: usize, truth: &[u8], probs: &[Vec<f32>]) -> Vec<Ranking> {
    (0..k)
        .map(|c| {
            let items = truth.iter().zip(probs);
            Ranking::exact(items.map(|(&t, p)| (p[c], usize::from(t) == c)).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: [&str; 3] = ["benign", "malicious", "sinkhole"];

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn prf(m: &ClassMetrics) -> (f64, f64, f64) {
        (m.precision, m.recall, m.f1)
    }

    fn assert_prf(m: &ClassMetrics, expected: (f64, f64, f64)) {
        let got = prf(m);
        close(got.0, expected.0);
        close(got.1, expected.1);
        close(got.2, expected.2);
    }

    #[test]
    fn metrics_from_hand_made_confusion() {
        // Predicted column sums: benign 55, malicious 40, sinkhole 5. n = 100, correct 80.
        // benign:    P = 50/55, R = 50/60, F1 = 2·50 / (2·50 + 5 + 10) = 100/115.
        // malicious: P = 30/40, R = 30/40, F1 = 0.75.
        // sinkhole has zero support but is predicted 5 times: P = 0/5 = 0, R = 0 (0/0 → 0 by
        // convention), F1 = 0, and it counts in macro-F1 because it was predicted.
        let e = Evaluation::from_confusion(
            &CLASSES,
            vec![vec![50, 10, 0], vec![5, 30, 5], vec![0, 0, 0]],
        )
        .unwrap();
        assert_eq!(e.n, 100);
        close(e.accuracy, 0.8);
        assert_prf(&e.per_class[0], (50.0 / 55.0, 50.0 / 60.0, 100.0 / 115.0));
        assert_prf(&e.per_class[1], (0.75, 0.75, 0.75));
        assert_prf(&e.per_class[2], (0.0, 0.0, 0.0));
        assert_eq!(e.per_class[2].support, 0);
        close(e.macro_f1, (100.0 / 115.0 + 0.75 + 0.0) / 3.0);
        assert_eq!(e.per_class[0].pr_auc, None);
        assert!(e.per_class[0].tpr_at_fpr.is_empty());
    }

    #[test]
    fn never_predicted_class_has_zero_precision() {
        // sinkhole (support 3) is never predicted: precision 0/0 → 0 by convention, R = 0/3.
        // benign: TP 8, predicted 11, support 10 → P 8/11, R 8/10, F1 16/21.
        // malicious: TP 4, predicted 7, support 5 → P 4/7, R 4/5, F1 8/12.
        // accuracy 12/18.
        let e =
            Evaluation::from_confusion(&CLASSES, vec![vec![8, 2, 0], vec![1, 4, 0], vec![2, 1, 0]])
                .unwrap();
        assert_prf(&e.per_class[0], (8.0 / 11.0, 0.8, 16.0 / 21.0));
        assert_prf(&e.per_class[1], (4.0 / 7.0, 0.8, 8.0 / 12.0));
        assert_prf(&e.per_class[2], (0.0, 0.0, 0.0));
        close(e.accuracy, 12.0 / 18.0);
        close(e.macro_f1, (16.0 / 21.0 + 8.0 / 12.0) / 3.0);
    }

    #[test]
    fn absent_class_is_left_out_of_macro_f1() {
        // sinkhole is neither true nor predicted anywhere, so its F1 is undefined and macro-F1
        // averages the other two: benign P 1, R 3/4, F1 6/7; malicious P 2/3, R 1, F1 4/5.
        let e =
            Evaluation::from_confusion(&CLASSES, vec![vec![3, 1, 0], vec![0, 2, 0], vec![0, 0, 0]])
                .unwrap();
        close(e.macro_f1, (6.0 / 7.0 + 4.0 / 5.0) / 2.0);
        close(e.accuracy, 5.0 / 6.0);
    }

    #[test]
    fn evaluate_labels_builds_the_confusion_matrix() {
        let truth = [0, 0, 1, 1, 2, 2, 0];
        let predicted = [0, 1, 1, 1, 2, 0, 0];
        let e = evaluate_labels(&CLASSES, &truth, &predicted).unwrap();
        assert_eq!(
            e.confusion,
            vec![vec![2, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]
        );
        assert_eq!(e.n, 7);
        close(e.accuracy, 5.0 / 7.0);
    }

    #[test]
    fn evaluate_scores_takes_argmax_with_ties_to_lowest_index() {
        let truth = [1, 0, 2];
        let probs = vec![
            vec![0.4, 0.4, 0.2],
            vec![0.1, 0.45, 0.45],
            vec![0.0, 0.0, 1.0],
        ];
        let e = evaluate_scores(&CLASSES, &truth, &probs, &DEFAULT_FPR_TARGETS).unwrap();
        // Row 0 ties benign/malicious → benign; row 1 ties malicious/sinkhole → malicious.
        assert_eq!(
            e.confusion,
            vec![vec![0, 1, 0], vec![1, 0, 0], vec![0, 0, 1]]
        );
        // sinkhole: positive 1.0 above negatives 0.2, 0.45 → perfect ranking.
        assert_eq!(e.per_class[2].roc_auc, Some(1.0));
        assert_eq!(e.per_class[2].pr_auc, Some(1.0));
        let points = &e.per_class[2].tpr_at_fpr;
        assert_eq!(points.len(), 2);
        assert_eq!(
            (points[1].max_fpr, points[1].tpr, points[1].fpr),
            (1e-3, 1.0, 0.0)
        );
    }

    #[test]
    fn error_messages() {
        let msg = |r: Result<Evaluation>| r.unwrap_err().to_string();
        assert_eq!(
            msg(evaluate_labels(&CLASSES, &[0, 1, 2], &[0, 1])),
            "length mismatch: truth has 3 rows but predicted has 2"
        );
        assert_eq!(
            msg(evaluate_labels(&CLASSES, &[0, 1, 2], &[0, 1, 3])),
            "row 2: predicted label 3 is out of range (there are 3 classes)"
        );
        assert_eq!(
            msg(evaluate_labels(&CLASSES, &[7], &[0])),
            "row 0: true label 7 is out of range (there are 3 classes)"
        );
        assert_eq!(
            msg(evaluate_labels(&CLASSES, &[], &[])),
            "empty input: no rows to evaluate"
        );
        assert_eq!(
            msg(evaluate_labels(&[], &[0], &[0])),
            "empty input: no classes given"
        );
        assert_eq!(
            msg(evaluate_labels(&["benign", "benign"], &[0], &[0])),
            "bad classes: class `benign` is listed twice"
        );
        let scores = |probs: Vec<Vec<f32>>, targets: &[f64]| {
            msg(evaluate_scores(
                &CLASSES,
                &vec![0; probs.len()],
                &probs,
                targets,
            ))
        };
        assert_eq!(
            scores(vec![vec![1.0, 0.0, 0.0], vec![0.5, 0.5]], &[0.01]),
            "row 1: probability row has 2 scores but there are 3 classes"
        );
        assert_eq!(
            scores(vec![vec![0.5, f32::NAN, 0.5]], &[0.01]),
            "row 0: score for class `malicious` is NaN"
        );
        assert_eq!(
            scores(vec![vec![1.5, 0.0, 0.0]], &[0.01]),
            "row 0: score 1.5 for class `benign` is outside [0, 1]"
        );
        assert_eq!(
            scores(vec![vec![1.0, 0.0, 0.0]], &[0.0]),
            "bad evaluation settings: false positive rate target 0 is not in (0, 1]"
        );
        assert_eq!(
            msg(evaluate_scores(
                &CLASSES,
                &[0, 1],
                &[vec![1.0, 0.0, 0.0]],
                &[]
            )),
            "length mismatch: truth has 2 rows but probs has 1"
        );
    }

    #[test]
    fn evaluation_round_trips_through_json() {
        let probs = vec![vec![0.7, 0.2, 0.1], vec![0.2, 0.7, 0.1]];
        let e = evaluate_scores(&CLASSES, &[0, 1], &probs, &DEFAULT_FPR_TARGETS).unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Evaluation>(&json).unwrap(), e);
    }
}
