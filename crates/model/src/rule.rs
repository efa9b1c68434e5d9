//! The paper's rule baseline: a record is malicious when its owner name was queried fewer
//! than `T` times, benign otherwise (Lison & Mavroeidis 2017, table II: accuracy 0.54).

use serde::{Deserialize, Serialize};

const BENIGN: u8 = 0;
const MALICIOUS: u8 = 1;

/// A fitted rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub threshold: u64,
}

impl Rule {
    /// The class index the rule predicts.
    pub fn predict(&self, domain_queries: u64) -> u8 {
        if domain_queries < self.threshold {
            MALICIOUS
        } else {
            BENIGN
        }
    }

    /// The threshold that maximizes training accuracy. Candidates are the observed values
    /// (and one past the largest); ties go to the smallest threshold.
    pub fn fit(domain_queries: &[u64], labels: &[u8]) -> Rule {
        let mut rows: Vec<(u64, u8)> = domain_queries
            .iter()
            .copied()
            .zip(labels.iter().copied())
            .collect();
        rows.sort_unstable();
        // With threshold t, rows below t count as correct when malicious, rows at or above t
        // when benign. Sweep t over the sorted values, moving rows from "above" to "below".
        let mut correct: i64 = rows.iter().filter(|r| r.1 == BENIGN).count() as i64;
        let (mut best, mut best_t) = (correct, 0u64);
        let mut i = 0;
        while i < rows.len() {
            let value = rows[i].0;
            while i < rows.len() && rows[i].0 == value {
                correct += i64::from(rows[i].1 == MALICIOUS) - i64::from(rows[i].1 == BENIGN);
                i += 1;
            }
            let t = value.saturating_add(1);
            if correct > best {
                (best, best_t) = (correct, t);
            }
        }
        Rule { threshold: best_t }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_finds_the_separating_threshold() {
        let q = [1, 2, 3, 10, 20, 30];
        let y = [1, 1, 1, 0, 0, 0];
        let rule = Rule::fit(&q, &y);
        assert_eq!(rule.threshold, 4);
        assert!(q.iter().zip(y).all(|(&q, y)| rule.predict(q) == y));
    }

    #[test]
    fn fit_with_only_benign_predicts_benign() {
        let rule = Rule::fit(&[5, 6], &[0, 0]);
        assert_eq!(rule.predict(5), 0);
        assert_eq!(rule.predict(0), 0);
    }
}
