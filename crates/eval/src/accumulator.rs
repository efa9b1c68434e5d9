//! Streaming evaluation in constant memory.

use crate::metrics::{check_classes, check_fpr_targets, check_label, check_scored_row};
use crate::ranking::{Group, PrCurve, Ranking};
use crate::{DEFAULT_FPR_TARGETS, Error, Evaluation, Result};

/// The default histogram resolution: 2^16 bins of width 1/65536 over [0, 1], which costs
/// 1 MiB per class.
pub const DEFAULT_BITS: u32 = 16;

/// The most bins allowed (2^24 = 256 MiB per class): beyond that the f32 scores themselves
/// are no finer near 1.
pub const MAX_BITS: u32 = 24;

/// Accumulates an evaluation row by row, so hundreds of millions of records can be evaluated
/// without holding their scores.
///
/// It keeps the confusion matrix and, per class, two histograms of that class's score: one
/// over the rows of the class (positives) and one over the rest (negatives). With `2^bits`
/// bins over [0, 1], a score `s` lands in bin `floor(s · 2^bits)` (1.0 in the top bin). Since
/// the bin width is a power of two, `s >= b / 2^bits` holds exactly when `s` lands in bin `b`
/// or above, so bin edges are true thresholds and every reported operating point is one the
/// model really reaches. The histograms only lose the order of scores that share a bin:
///
/// * ROC-AUC counts a positive and a negative in the same bin as a tie (half a win), so it is
///   off from the exact value by at most `Σ_b pos_b · neg_b / (2 · P · N)`.
/// * PR-AUC (average precision) treats each bin as one step, which moves only the precision
///   credited to positives whose bin also holds another row: the error is at most their share
///   of all positives, and in practice far less, as merging a bin only shifts its own
///   positives' precision by its internal ordering.
/// * Operating points have a threshold on a bin edge, never exceed the FPR budget, and may
///   fall short of the exact optimum by the positives of the one bin that straddles it.
///
/// Softmax outputs crowd near 0 and 1, where a low-FPR threshold also lies, so prefer more
/// bits when operating points at 1e-3 matter; [`evaluate_scores`](crate::evaluate_scores)
/// gives exact values for data that fits in memory.
#[derive(Debug, Clone)]
pub struct Accumulator {
    classes: Vec<String>,
    fpr_targets: Vec<f64>,
    bits: u32,
    /// Row-major `[true][predicted]`.
    confusion: Vec<u64>,
    /// `histograms[c]` holds `2 · 2^bits` counts: positives then negatives. Allocated on the
    /// first scored row, so a label-only accumulator stays small.
    histograms: Vec<Vec<u64>>,
    mode: Mode,
    rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Empty,
    Scored,
    Labels,
}

impl Accumulator {
    /// Creates an accumulator with [`DEFAULT_BITS`] of histogram resolution.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] or [`Error::Classes`] for an unusable class list, and
    /// [`Error::Settings`] for a budget outside (0, 1].
    pub fn new(classes: &[&str], fpr_targets: &[f64]) -> Result<Self> {
        Self::with_resolution(classes, fpr_targets, DEFAULT_BITS)
    }

    /// Creates an accumulator for the project's defaults: [`DEFAULT_FPR_TARGETS`] and
    /// [`DEFAULT_BITS`].
    ///
    /// # Errors
    ///
    /// As [`Accumulator::new`].
    pub fn with_defaults(classes: &[&str]) -> Result<Self> {
        Self::new(classes, &DEFAULT_FPR_TARGETS)
    }

    /// Creates an accumulator whose histograms have `2^bits` bins.
    ///
    /// # Errors
    ///
    /// As [`Accumulator::new`], and [`Error::Settings`] for `bits` outside 1..=[`MAX_BITS`].
    pub fn with_resolution(classes: &[&str], fpr_targets: &[f64], bits: u32) -> Result<Self> {
        check_classes(classes)?;
        check_fpr_targets(fpr_targets)?;
        if !(1..=MAX_BITS).contains(&bits) {
            return Err(Error::Settings {
                reason: format!("histogram resolution of {bits} bits is not in 1..={MAX_BITS}"),
            });
        }
        Ok(Accumulator {
            classes: classes.iter().map(|&c| c.to_owned()).collect(),
            fpr_targets: fpr_targets.to_vec(),
            bits,
            confusion: vec![0; classes.len() * classes.len()],
            histograms: Vec::new(),
            mode: Mode::Empty,
            rows: 0,
        })
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The class names, in index order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Adds one row of class probabilities; the prediction is the argmax, ties going to the
    /// lowest index. A rejected row leaves the accumulator unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::LabelOutOfRange`], [`Error::RowWidth`], [`Error::NanScore`] or
    /// [`Error::ScoreRange`] for a bad row (numbered from 0 over all rows pushed), and
    /// [`Error::MixedInput`] after [`Accumulator::push_label`].
    pub fn push(&mut self, truth: u8, probs: &[f32]) -> Result<()> {
        let predicted = check_scored_row(self.rows, &self.classes, truth, probs)?;
        self.enter(Mode::Scored)?;
        let bins = self.bins();
        if self.histograms.is_empty() {
            self.histograms = vec![vec![0; 2 * bins]; self.classes.len()];
        }
        for (c, (&p, hist)) in probs.iter().zip(&mut self.histograms).enumerate() {
            let offset = if c == usize::from(truth) { 0 } else { bins };
            hist[offset + bin(p, self.bits)] += 1;
        }
        self.count(truth, predicted);
        Ok(())
    }

    /// Adds a batch of rows whose probabilities lie row-major in `probs` (as a `[rows,
    /// classes]` tensor's data does). Rows before a rejected one stay added.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] when `probs` does not hold one row per label, and those of
    /// [`Accumulator::push`].
    pub fn push_rows(&mut self, truth: &[u8], probs: &[f32]) -> Result<()> {
        let k = self.classes.len();
        if probs.len() != truth.len() * k {
            return Err(Error::LengthMismatch {
                left: "truth",
                left_len: truth.len(),
                right: "probs rows",
                right_len: probs.len() / k,
            });
        }
        for (&t, row) in truth.iter().zip(probs.chunks_exact(k)) {
            self.push(t, row)?;
        }
        Ok(())
    }

    /// Adds one row with only a predicted label, such as a rule baseline's.
    ///
    /// # Errors
    ///
    /// [`Error::LabelOutOfRange`] for either label, and [`Error::MixedInput`] after
    /// [`Accumulator::push`].
    pub fn push_label(&mut self, truth: u8, predicted: u8) -> Result<()> {
        check_label(self.rows, "true", truth, self.classes.len())?;
        check_label(self.rows, "predicted", predicted, self.classes.len())?;
        self.enter(Mode::Labels)?;
        self.count(truth, predicted);
        Ok(())
    }

    /// Adds the rows of another accumulator, such as one filled by another thread.
    ///
    /// # Errors
    ///
    /// [`Error::Merge`] when the classes, budgets or resolution differ, and
    /// [`Error::MixedInput`] when one holds scored rows and the other label-only rows.
    pub fn merge(&mut self, other: &Accumulator) -> Result<()> {
        let differs = |what: &str| {
            Err(Error::Merge {
                reason: format!("the accumulators have different {what}"),
            })
        };
        if self.classes != other.classes {
            return differs("classes");
        }
        if self.fpr_targets != other.fpr_targets {
            return differs("false positive rate targets");
        }
        if self.bits != other.bits {
            return differs("histogram resolutions");
        }
        if other.mode != Mode::Empty {
            self.enter(other.mode)?;
        }
        add_counts(&mut self.confusion, &other.confusion);
        if self.histograms.is_empty() {
            self.histograms.clone_from(&other.histograms);
        } else {
            for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
                add_counts(mine, theirs);
            }
        }
        self.rows += other.rows;
        Ok(())
    }

    /// Computes the evaluation of the rows so far. AUCs and operating points come from the
    /// histograms (see the type's documentation for their resolution error) and are absent
    /// for label-only rows.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] when no row was pushed.
    pub fn finish(&self) -> Result<Evaluation> {
        let k = self.classes.len();
        let confusion = self
            .confusion
            .chunks_exact(k)
            .map(<[u64]>::to_vec)
            .collect();
        let names: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        let evaluation = Evaluation::from_confusion(&names, confusion)?;
        Ok(evaluation.with_rankings(&self.rankings(), &self.fpr_targets))
    }

    /// The precision-recall curve of each class from its histograms, one point per non-empty
    /// bin; empty when no scored row was pushed.
    pub fn pr_curves(&self) -> Vec<PrCurve> {
        let rankings = self.rankings();
        rankings
            .iter()
            .zip(&self.classes)
            .map(|(r, c)| r.pr_curve(c))
            .collect()
    }

    fn bins(&self) -> usize {
        1 << self.bits
    }

    fn enter(&mut self, mode: Mode) -> Result<()> {
        if self.mode != Mode::Empty && self.mode != mode {
            return Err(Error::MixedInput { row: self.rows });
        }
        self.mode = mode;
        Ok(())
    }

    fn count(&mut self, truth: u8, predicted: u8) {
        let k = self.classes.len();
        self.confusion[usize::from(truth) * k + usize::from(predicted)] += 1;
        self.rows += 1;
    }

    fn rankings(&self) -> Vec<Ranking> {
        let bins = self.bins();
        self.histograms
            .iter()
            .map(|hist| histogram_ranking(&hist[..bins], &hist[bins..]))
            .collect()
    }
}

/// The histogram bin of a probability in [0, 1]. Multiplying by a power of two is exact in
/// f64, so the floor puts `s` in bin `b` exactly when `b / 2^bits <= s < (b + 1) / 2^bits`.
fn bin(score: f32, bits: u32) -> usize {
    let bins = 1usize << bits;
    let scaled = f64::from(score) * bins as f64;
    (scaled as usize).min(bins - 1)
}

fn histogram_ranking(pos: &[u64], neg: &[u64]) -> Ranking {
    let bins = pos.len();
    let width = 1.0 / bins as f64;
    let groups: Vec<Group> = (0..bins)
        .rev()
        .filter(|&b| pos[b] + neg[b] > 0)
        .map(|b| Group {
            threshold: b as f64 * width,
            pos: pos[b],
            neg: neg[b],
        })
        .collect();
    // Scores in the top non-empty bin lie below its upper edge, except 1.0 in the last bin.
    let above_all = match groups.first() {
        Some(g) if g.threshold + width < 1.0 => g.threshold + width,
        _ => 1.0f64.next_up(),
    };
    Ranking::from_groups(groups, above_all)
}

fn add_counts(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{evaluate_labels, evaluate_scores, pr_curves_exact};

    const CLASSES: [&str; 3] = ["benign", "malicious", "sinkhole"];

    #[test]
    fn bins_have_exact_edges() {
        assert_eq!(bin(0.0, 1), 0);
        assert_eq!(bin(0.5f32.next_down(), 1), 0);
        assert_eq!(bin(0.5, 1), 1);
        assert_eq!(bin(1.0, 2), 3);
        assert_eq!(bin(0.25, 2), 1);
    }

    /// Scores on a 1/8 grid below 1 land in distinct bins of a 2^4 histogram, so the
    /// histogram path must reproduce the exact one.
    #[test]
    fn histogram_matches_exact_on_grid_scores() {
        let truth = [0, 0, 1, 1, 2, 0, 1, 2];
        let probs: Vec<Vec<f32>> = [
            [6, 1, 1],
            [5, 2, 1],
            [1, 6, 1],
            [3, 4, 1],
            [2, 1, 5],
            [2, 5, 1],
            [4, 3, 1],
            [3, 3, 2],
        ]
        .iter()
        .map(|r| r.iter().map(|&v| v as f32 / 8.0).collect())
        .collect();
        let targets = [0.25, 0.5];
        let exact = evaluate_scores(&CLASSES, &truth, &probs, &targets).unwrap();
        let mut acc = Accumulator::with_resolution(&CLASSES, &targets, 4).unwrap();
        for (&t, p) in truth.iter().zip(&probs) {
            acc.push(t, p).unwrap();
        }
        assert_eq!(acc.rows(), 8);
        assert_eq!(acc.finish().unwrap(), exact);
        assert_eq!(
            acc.pr_curves(),
            pr_curves_exact(&CLASSES, &truth, &probs).unwrap()
        );
    }

    #[test]
    fn histogram_ties_within_a_bin() {
        // With 2 bins, the positive 0.9 and the negative 0.6 share the top bin: the histogram
        // sees a tie (ROC-AUC 0.5 from that pair), exact sees a win. Positives: 0.9, 0.3;
        // negatives 0.6, 0.1. Exact pairs: 0.9>0.6, 0.9>0.1, 0.3<0.6, 0.3>0.1 → 3/4.
        // Histogram: (top,top) ½, (top,low) 1, (low,top) 0, (low,low) ½ → 2/4.
        // The documented bound Σ pos_b·neg_b / (2PN) = (1 + 1) / 8 = 0.25 is met exactly.
        let mut acc = Accumulator::with_resolution(&["a", "b"], &[0.5], 1).unwrap();
        for (t, s) in [(0u8, 0.9f32), (0, 0.3), (1, 0.6), (1, 0.1)] {
            acc.push(t, &[s, 1.0 - s]).unwrap();
        }
        let e = acc.finish().unwrap();
        assert_eq!(e.per_class[0].roc_auc, Some(0.5));
        let exact = roc_auc_of(&[0.9, 0.3, 0.6, 0.1], &[true, true, false, false]);
        assert_eq!(exact, 0.75);
        // FPR ≤ 0.5 allows the top bin (one negative of two): TPR 1/2 at threshold 0.5.
        let p = e.per_class[0].tpr_at_fpr[0];
        assert_eq!((p.tpr, p.fpr, p.threshold), (0.5, 0.5, 0.5));
    }

    fn roc_auc_of(scores: &[f32], positive: &[bool]) -> f64 {
        crate::roc_auc_exact(scores, positive).unwrap().unwrap()
    }

    #[test]
    fn flag_nothing_threshold_is_above_the_top_bin() {
        let mut acc = Accumulator::with_resolution(&["a", "b"], &[0.1], 2).unwrap();
        acc.push(1, &[0.3, 0.7]).unwrap();
        acc.push(0, &[0.2, 0.8]).unwrap();
        let e = acc.finish().unwrap();
        // Class a: the top score 0.3 (bin [0.25, 0.5)) is a negative, so nothing fits a 10%
        // budget and the threshold sits at that bin's upper edge.
        let p = e.per_class[0].tpr_at_fpr[0];
        assert_eq!((p.tpr, p.fpr, p.threshold), (0.0, 0.0, 0.5));
        // Class b: its top score 0.8 is also a negative and sits in the last bin, whose upper
        // edge is 1.0, itself a score, so the threshold is just above 1.
        let p = e.per_class[1].tpr_at_fpr[0];
        assert!(p.threshold > 1.0 && p.tpr == 0.0);
    }

    #[test]
    fn label_only_rows_match_evaluate_labels() {
        let truth = [0, 1, 2, 2, 1];
        let predicted = [0, 2, 2, 1, 1];
        let mut acc = Accumulator::with_defaults(&CLASSES).unwrap();
        for (&t, &p) in truth.iter().zip(&predicted) {
            acc.push_label(t, p).unwrap();
        }
        let expected = evaluate_labels(&CLASSES, &truth, &predicted).unwrap();
        assert_eq!(acc.finish().unwrap(), expected);
        assert!(acc.pr_curves().is_empty());
    }

    #[test]
    fn merged_halves_equal_the_whole() {
        let rows: Vec<(u8, [f32; 3])> = (0..40u8)
            .map(|i| {
                let a = f32::from(i % 7) / 10.0;
                (i % 3, [a, (1.0 - a) / 2.0, (1.0 - a) / 2.0])
            })
            .collect();
        let mut whole = Accumulator::with_defaults(&CLASSES).unwrap();
        let mut left = whole.clone();
        let mut right = whole.clone();
        for (i, (t, p)) in rows.iter().enumerate() {
            whole.push(*t, p).unwrap();
            let half = if i % 2 == 0 { &mut left } else { &mut right };
            half.push(*t, p).unwrap();
        }
        let mut empty = Accumulator::with_defaults(&CLASSES).unwrap();
        empty.merge(&left).unwrap();
        empty.merge(&right).unwrap();
        assert_eq!(empty.finish().unwrap(), whole.finish().unwrap());
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
        let truth: Vec<u8> = rows.iter().map(|r| r.0).collect();
        let mut batched = Accumulator::with_defaults(&CLASSES).unwrap();
        batched.push_rows(&truth, &flat).unwrap();
        assert_eq!(batched.finish().unwrap(), whole.finish().unwrap());
    }

    #[test]
    fn error_messages() {
        let mut acc = Accumulator::with_defaults(&CLASSES).unwrap();
        acc.push(0, &[1.0, 0.0, 0.0]).unwrap();
        let err = acc.push(3, &[1.0, 0.0, 0.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 1: true label 3 is out of range (there are 3 classes)"
        );
        let err = acc.push(0, &[f32::NAN, 0.0, 0.0]).unwrap_err();
        assert_eq!(err.to_string(), "row 1: score for class `benign` is NaN");
        let err = acc.push_label(0, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 1: cannot mix scored rows (`push`) and label-only rows (`push_label`) in one \
             accumulator"
        );
        assert_eq!(acc.rows(), 1);
        let err = acc.push_rows(&[0, 1], &[1.0, 0.0, 0.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "length mismatch: truth has 2 rows but probs rows has 1"
        );
        let err = Accumulator::with_resolution(&CLASSES, &[0.01], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad evaluation settings: histogram resolution of 0 bits is not in 1..=24"
        );
        let other = Accumulator::with_resolution(&CLASSES, &DEFAULT_FPR_TARGETS, 8).unwrap();
        let err = acc.merge(&other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot merge accumulators: the accumulators have different histogram resolutions"
        );
        let err = Accumulator::with_defaults(&CLASSES)
            .unwrap()
            .finish()
            .unwrap_err();
        assert_eq!(err.to_string(), "empty input: no rows to evaluate");
    }

    fn softmax(logits: &[f32]) -> Vec<f32> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    }

    /// The documented ROC-AUC bound, `Σ_b pos_b · neg_b / (2PN)`, from the histogram itself.
    fn roc_bound(acc: &Accumulator, class: usize) -> f64 {
        let bins = acc.bins();
        let hist = &acc.histograms[class];
        let (pos, neg) = hist.split_at(bins);
        let same: u64 = pos.iter().zip(neg).map(|(p, n)| p * n).sum();
        let (p, n): (u64, u64) = (pos.iter().sum(), neg.iter().sum());
        same as f64 / (2.0 * p as f64 * n as f64)
    }

    /// The documented AP bound: the share of positives whose bin holds another row.
    fn ap_bound(acc: &Accumulator, class: usize) -> f64 {
        let (pos, neg) = acc.histograms[class].split_at(acc.bins());
        let shared: u64 = pos
            .iter()
            .zip(neg)
            .filter(|(p, n)| *p + *n > 1)
            .map(|(p, _)| p)
            .sum();
        shared as f64 / pos.iter().sum::<u64>() as f64
    }

    proptest! {
        #[test]
        fn histogram_agrees_with_exact(
            rows in prop::collection::vec((0u8..3, prop::array::uniform3(-4.0f32..4.0)), 2..300),
            bits in 8u32..=16,
        ) {
            let truth: Vec<u8> = rows.iter().map(|r| r.0).collect();
            let probs: Vec<Vec<f32>> = rows.iter().map(|r| softmax(&r.1)).collect();
            let targets = [0.01, 0.1, 0.3];
            let exact = evaluate_scores(&CLASSES, &truth, &probs, &targets).unwrap();
            let mut acc = Accumulator::with_resolution(&CLASSES, &targets, bits).unwrap();
            for (&t, p) in truth.iter().zip(&probs) {
                acc.push(t, p).unwrap();
            }
            let hist = acc.finish().unwrap();
            prop_assert_eq!(&hist.confusion, &exact.confusion);
            for (c, (h, e)) in hist.per_class.iter().zip(&exact.per_class).enumerate() {
                prop_assert_eq!(h.roc_auc.is_some(), e.roc_auc.is_some());
                if let (Some(h_roc), Some(e_roc)) = (h.roc_auc, e.roc_auc) {
                    prop_assert!((h_roc - e_roc).abs() <= roc_bound(&acc, c) + 1e-12);
                }
                if let (Some(h_ap), Some(e_ap)) = (h.pr_auc, e.pr_auc) {
                    prop_assert!((h_ap - e_ap).abs() <= ap_bound(&acc, c) + 1e-12);
                }
                for (hp, ep) in h.tpr_at_fpr.iter().zip(&e.tpr_at_fpr) {
                    // Conservative: never over budget, never better than the exact optimum.
                    prop_assert!(hp.fpr <= hp.max_fpr && hp.tpr <= ep.tpr + 1e-12);
                    // Achievable: the exact rates at the histogram's threshold.
                    let flagged = |want: bool| {
                        let rows = truth.iter().zip(&probs).filter(|(t, _)| (usize::from(**t) == c) == want);
                        let all = rows.clone().count() as f64;
                        rows.filter(|(_, p)| f64::from(p[c]) >= hp.threshold).count() as f64 / all
                    };
                    prop_assert!((flagged(true) - hp.tpr).abs() < 1e-12);
                    prop_assert!((flagged(false) - hp.fpr).abs() < 1e-12);
                    // Short of the exact optimum by at most the positives of the bin that
                    // holds the exact threshold.
                    if ep.threshold <= 1.0 {
                        let b = bin(ep.threshold as f32, bits);
                        let (pos, _) = acc.histograms[c].split_at(acc.bins());
                        let slack = pos[b] as f64 / pos.iter().sum::<u64>() as f64;
                        prop_assert!(hp.tpr + slack >= ep.tpr - 1e-12);
                    }
                }
            }
        }
    }
}
