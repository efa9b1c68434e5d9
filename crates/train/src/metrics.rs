//! The few metrics training needs to stop early. Full evaluation is `pdnsrep-eval`'s.

/// A confusion matrix, `[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(classes: usize) -> Confusion {
        Confusion {
            counts: vec![vec![0; classes]; classes],
        }
    }

    pub fn push(&mut self, truth: u8, predicted: u8) {
        self.counts[truth as usize][predicted as usize] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        correct as f64 / self.total().max(1) as f64
    }

    /// The mean F1 over the classes present in the truth or the predictions; a class that
    /// appears in neither says nothing about the model and is left out.
    pub fn macro_f1(&self) -> f64 {
        let k = self.counts.len();
        let mut sum = 0.0;
        let mut n = 0;
        for c in 0..k {
            let tp = self.counts[c][c] as f64;
            let support: u64 = self.counts[c].iter().sum();
            let predicted: u64 = (0..k).map(|t| self.counts[t][c]).sum();
            if support == 0 && predicted == 0 {
                continue;
            }
            let denominator = (support + predicted) as f64;
            sum += 2.0 * tp / denominator;
            n += 1;
        }
        if n == 0 { 0.0 } else { sum / n as f64 }
    }
}

/// The index of the largest probability in each row of `probs` (`rows × classes`).
pub fn argmax_rows(probs: &[f32], classes: usize) -> Vec<u8> {
    probs
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (i, p) in row.iter().enumerate() {
                if *p > row[best] {
                    best = i;
                }
            }
            best as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_matches_a_hand_computed_case() {
        let mut c = Confusion::new(3);
        // benign: 3 right, 1 called malicious; malicious: 2 right; sinkhole absent.
        for (t, p) in [(0, 0), (0, 0), (0, 0), (0, 1), (1, 1), (1, 1)] {
            c.push(t, p);
        }
        let f1_benign = 2.0 * 3.0 / (4.0 + 3.0);
        let f1_malicious = 2.0 * 2.0 / (2.0 + 3.0);
        assert!((c.macro_f1() - (f1_benign + f1_malicious) / 2.0).abs() < 1e-12);
        assert!((c.accuracy() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(argmax_rows(&[0.1, 0.7, 0.2, 0.5, 0.2, 0.3], 3), vec![1, 0]);
    }
}
