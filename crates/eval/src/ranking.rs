//! Ranking metrics of one class against the rest: ROC-AUC, PR-AUC (average precision),
//! operating points at a false-positive-rate budget, and precision-recall curves.
//!
//! Both the exact (sort-based) path and the histogram path of the [`Accumulator`] reduce a
//! class's scores to a [`Ranking`]: groups of tied items in descending score order. Every
//! metric is then computed once, from the groups, so the two paths differ only in how finely
//! they tell scores apart.
//!
//! [`Accumulator`]: crate::Accumulator

use serde::{Deserialize, Serialize};

use crate::{Error, OperatingPoint, Result};

/// One point of a precision-recall curve: flagging every score `>= threshold` as the class
/// finds `recall` of its positives with `precision`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// The lowest score flagged at this point.
    pub threshold: f64,
    /// Fraction of the class's rows flagged.
    pub recall: f64,
    /// Fraction of flagged rows that belong to the class.
    pub precision: f64,
}

/// The precision-recall curve of one class against the rest, one point per distinct score
/// (exact) or per non-empty histogram bin, in descending threshold order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrCurve {
    /// The class whose score is ranked.
    pub class: String,
    /// Rows of the class.
    pub positives: u64,
    /// Rows of every other class.
    pub negatives: u64,
    /// The curve; empty when the class has no positives, as recall is then undefined.
    pub points: Vec<PrPoint>,
}

/// Items that share a score, or a histogram bin. `threshold` is the lowest score in the group
/// (exact) or the bin's lower edge, so `score >= threshold` flags this group and all before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Group {
    pub(crate) threshold: f64,
    pub(crate) pos: u64,
    pub(crate) neg: u64,
}

/// A ranking of one class against the rest, as tie groups in descending score order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ranking {
    groups: Vec<Group>,
    pos: u64,
    neg: u64,
    /// A threshold above every score: the operating point that flags nothing uses it.
    above_all: f64,
}

impl Ranking {
    /// Builds a ranking from groups already in descending threshold order.
    pub(crate) fn from_groups(groups: Vec<Group>, above_all: f64) -> Self {
        let pos = groups.iter().map(|g| g.pos).sum();
        let neg = groups.iter().map(|g| g.neg).sum();
        Ranking {
            groups,
            pos,
            neg,
            above_all,
        }
    }

    /// Sorts `(score, is_positive)` pairs and groups equal scores. Scores must not be NaN.
    pub(crate) fn exact(mut items: Vec<(f32, bool)>) -> Self {
        items.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut groups: Vec<Group> = Vec::new();
        for (score, positive) in items {
            let threshold = f64::from(score);
            match groups.last_mut() {
                Some(g) if g.threshold == threshold => add(g, positive),
                _ => {
                    let mut g = Group {
                        threshold,
                        pos: 0,
                        neg: 0,
                    };
                    add(&mut g, positive);
                    groups.push(g);
                }
            }
        }
        let above_all = groups.first().map_or(0.0, |g| g.threshold).next_up();
        Ranking::from_groups(groups, above_all)
    }

    /// ROC-AUC by the trapezoid rule over the group steps, which equals the probability that a
    /// random positive outranks a random negative with ties counted half (Mann-Whitney U).
    /// `None` without positives or without negatives.
    pub(crate) fn roc_auc(&self) -> Option<f64> {
        if self.pos == 0 || self.neg == 0 {
            return None;
        }
        let mut tp = 0u64;
        let mut area = 0.0;
        for g in &self.groups {
            area += g.neg as f64 * (tp as f64 + g.pos as f64 / 2.0);
            tp += g.pos;
        }
        Some(area / (self.pos as f64 * self.neg as f64))
    }

    /// Average precision: the step-wise area under the precision-recall curve, each step's
    /// recall gain weighted by the precision at its end, with no interpolation (the definition
    /// scikit-learn's `average_precision_score` uses). `None` without positives.
    pub(crate) fn average_precision(&self) -> Option<f64> {
        if self.pos == 0 {
            return None;
        }
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut sum = 0.0;
        for g in &self.groups {
            tp += g.pos;
            fp += g.neg;
            if g.pos > 0 {
                sum += g.pos as f64 * tp as f64 / (tp + fp) as f64;
            }
        }
        Some(sum / self.pos as f64)
    }

    /// The lowest threshold whose false positive rate stays within `max_fpr`, which gives the
    /// highest true positive rate under that budget. When even the top group exceeds the
    /// budget, the point flags nothing. `None` without positives or without negatives.
    pub(crate) fn operating_point(&self, max_fpr: f64) -> Option<OperatingPoint> {
        if self.pos == 0 || self.neg == 0 {
            return None;
        }
        let mut best = OperatingPoint {
            max_fpr,
            tpr: 0.0,
            threshold: self.above_all,
            fpr: 0.0,
        };
        let (mut tp, mut fp) = (0u64, 0u64);
        for g in &self.groups {
            tp += g.pos;
            fp += g.neg;
            let fpr = fp as f64 / self.neg as f64;
            if fpr > max_fpr {
                break;
            }
            best = OperatingPoint {
                max_fpr,
                tpr: tp as f64 / self.pos as f64,
                threshold: g.threshold,
                fpr,
            };
        }
        Some(best)
    }

    /// The precision-recall curve, one point per group.
    pub(crate) fn pr_curve(&self, class: &str) -> PrCurve {
        let mut points = Vec::new();
        if self.pos > 0 {
            let (mut tp, mut fp) = (0u64, 0u64);
            for g in &self.groups {
                tp += g.pos;
                fp += g.neg;
                points.push(PrPoint {
                    threshold: g.threshold,
                    recall: tp as f64 / self.pos as f64,
                    precision: tp as f64 / (tp + fp) as f64,
                });
            }
        }
        PrCurve {
            class: class.to_owned(),
            positives: self.pos,
            negatives: self.neg,
            points,
        }
    }
}

fn add(group: &mut Group, positive: bool) {
    if positive {
        group.pos += 1;
    } else {
        group.neg += 1;
    }
}

/// Pairs binary scores with their labels after checking lengths and NaNs.
fn pairs(scores: &[f32], positive: &[bool]) -> Result<Ranking> {
    if scores.len() != positive.len() {
        return Err(Error::LengthMismatch {
            left: "scores",
            left_len: scores.len(),
            right: "labels",
            right_len: positive.len(),
        });
    }
    if let Some(row) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::NanScore {
            row: row as u64,
            class: "positive".to_owned(),
        });
    }
    let items = scores.iter().copied().zip(positive.iter().copied());
    Ok(Ranking::exact(items.collect()))
}

/// Exact ROC-AUC of binary `scores` against `positive` labels (sort-based, ties counted
/// half). `Ok(None)` when there are no positives or no negatives.
///
/// # Errors
///
/// [`Error::LengthMismatch`] when the slices differ in length, [`Error::NanScore`] for a NaN.
pub fn roc_auc_exact(scores: &[f32], positive: &[bool]) -> Result<Option<f64>> {
    Ok(pairs(scores, positive)?.roc_auc())
}

/// Exact average precision (step-wise PR-AUC) of binary `scores` against `positive` labels.
/// `Ok(None)` when there are no positives.
///
/// # Errors
///
/// [`Error::LengthMismatch`] when the slices differ in length, [`Error::NanScore`] for a NaN.
pub fn average_precision_exact(scores: &[f32], positive: &[bool]) -> Result<Option<f64>> {
    Ok(pairs(scores, positive)?.average_precision())
}

/// The exact best operating point with a false positive rate of at most `max_fpr`, flagging
/// scores `>= threshold`. `Ok(None)` when there are no positives or no negatives.
///
/// # Errors
///
/// [`Error::LengthMismatch`] when the slices differ in length, [`Error::NanScore`] for a NaN.
pub fn tpr_at_fpr_exact(
    scores: &[f32],
    positive: &[bool],
    max_fpr: f64,
) -> Result<Option<OperatingPoint>> {
    Ok(pairs(scores, positive)?.operating_point(max_fpr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn perfect_separation_scores_one() {
        let s = [0.9, 0.8, 0.3, 0.1];
        let y = [true, true, false, false];
        close(roc_auc_exact(&s, &y).unwrap().unwrap(), 1.0);
        close(average_precision_exact(&s, &y).unwrap().unwrap(), 1.0);
    }

    #[test]
    fn reversed_ranking_scores_zero_roc() {
        let s = [0.9, 0.8, 0.3, 0.1];
        let y = [false, false, true, true];
        close(roc_auc_exact(&s, &y).unwrap().unwrap(), 0.0);
        // Positives at ranks 3 and 4: AP = (1/2)(1/3) + (1/2)(2/4) = 1/6 + 1/4 = 5/12.
        close(
            average_precision_exact(&s, &y).unwrap().unwrap(),
            5.0 / 12.0,
        );
    }

    #[test]
    fn all_tied_scores_give_half_roc_and_base_rate_ap() {
        let s = [0.5; 4];
        let y = [true, false, false, false];
        close(roc_auc_exact(&s, &y).unwrap().unwrap(), 0.5);
        // One group holding everything: precision 1/4 at recall 1.
        close(average_precision_exact(&s, &y).unwrap().unwrap(), 0.25);
    }

    #[test]
    fn partial_ties_count_half() {
        // Positives 0.8, 0.5; negatives 0.5, 0.2. Pairs: (0.8>0.5) 1, (0.8>0.2) 1,
        // (0.5=0.5) 1/2, (0.5>0.2) 1 → 3.5 / 4 = 0.875.
        let s = [0.8, 0.5, 0.5, 0.2];
        let y = [true, true, false, false];
        close(roc_auc_exact(&s, &y).unwrap().unwrap(), 0.875);
        // Groups: {0.8: +1} → P=1 at R=1/2; {0.5: +1 -1} → P=2/3 at R=1.
        // AP = 1/2·1 + 1/2·2/3 = 5/6.
        close(average_precision_exact(&s, &y).unwrap().unwrap(), 5.0 / 6.0);
    }

    #[test]
    fn one_sided_labels_have_no_auc() {
        assert_eq!(roc_auc_exact(&[0.1, 0.2], &[true, true]).unwrap(), None);
        assert_eq!(roc_auc_exact(&[0.1, 0.2], &[false, false]).unwrap(), None);
        assert_eq!(
            average_precision_exact(&[0.1, 0.2], &[false, false]).unwrap(),
            None
        );
        // Only positives: every flag is right, so AP is 1.
        close(
            average_precision_exact(&[0.1, 0.2], &[true, true])
                .unwrap()
                .unwrap(),
            1.0,
        );
        assert_eq!(tpr_at_fpr_exact(&[0.1], &[true], 0.1).unwrap(), None);
    }

    #[test]
    fn operating_point_takes_lowest_threshold_within_budget() {
        // Descending: 0.95+ 0.9- 0.8+ 0.7+ 0.6- 0.5- 0.4+ 0.3- 0.2- 0.1- ; P = 4, N = 6.
        let s = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
        let y = [
            true, false, true, true, false, false, true, false, false, false,
        ];
        // FPR <= 1/6: flag down to 0.7 (one negative): TPR 3/4.
        let p = tpr_at_fpr_exact(&s, &y, 1.0 / 6.0).unwrap().unwrap();
        close(p.tpr, 0.75);
        close(p.fpr, 1.0 / 6.0);
        close(p.threshold, f64::from(0.7f32));
        // FPR <= 0.1 < 1/6: only the top positive fits, TPR 1/4 at threshold 0.95.
        let p = tpr_at_fpr_exact(&s, &y, 0.1).unwrap().unwrap();
        close(p.tpr, 0.25);
        close(p.fpr, 0.0);
        close(p.threshold, f64::from(0.95f32));
        // FPR <= 0.5: three negatives allowed, reaches 0.4 → TPR 1.
        let p = tpr_at_fpr_exact(&s, &y, 0.5).unwrap().unwrap();
        close(p.tpr, 1.0);
        close(p.fpr, 0.5);
    }

    #[test]
    fn operating_point_flags_nothing_when_top_score_is_negative() {
        let s = [0.9, 0.5];
        let y = [false, true];
        let p = tpr_at_fpr_exact(&s, &y, 0.01).unwrap().unwrap();
        assert_eq!((p.tpr, p.fpr), (0.0, 0.0));
        assert!(p.threshold > f64::from(0.9f32));
    }

    #[test]
    fn pr_curve_has_one_point_per_distinct_score() {
        let ranking = Ranking::exact(vec![(0.8, true), (0.5, true), (0.5, false), (0.2, false)]);
        let curve = ranking.pr_curve("malicious");
        let got: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.recall, p.precision))
            .collect();
        assert_eq!(got, vec![(0.5, 1.0), (1.0, 2.0 / 3.0), (1.0, 0.5)]);
    }

    #[test]
    fn exact_inputs_are_checked() {
        let err = roc_auc_exact(&[0.1], &[true, false]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "length mismatch: scores has 1 rows but labels has 2"
        );
        let err = roc_auc_exact(&[0.1, f32::NAN], &[true, false]).unwrap_err();
        assert_eq!(err.to_string(), "row 1: score for class `positive` is NaN");
    }
}
