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

    /// The threshold that maximizes balanced training accuracy: the mean of the benign and the
    /// malicious recall. (Plain accuracy would pick "everything benign" on data as skewed as
    /// passive DNS, the networks are trained class-weighted, and so is the rule.) Candidates
    /// are the observed values and one past each; ties go to the smallest threshold.
    pub fn fit(domain_queries: &[u64], labels: &[u8]) -> Rule {
        let mut rows: Vec<(u64, u8)> = domain_queries
            .iter()
            .copied()
            .zip(labels.iter().copied())
            .collect();
        rows.sort_unstable();
        let count = |class| rows.iter().filter(|r| r.1 == class).count().max(1) as f64;
        let (w_benign, w_malicious) = (1.0 / count(BENIGN), 1.0 / count(MALICIOUS));
        // With threshold t, rows below t count as correct when malicious, rows at or above t
        // when benign. Sweep t over the sorted values, moving rows from "above" to "below".
        let mut score = rows.iter().filter(|r| r.1 == BENIGN).count() as f64 * w_benign;
        let (mut best, mut best_t) = (score, 0u64);
        let mut i = 0;
        while i < rows.len() {
            let value = rows[i].0;
            while i < rows.len() && rows[i].0 == value {
                match rows[i].1 {
                    MALICIOUS => score += w_malicious,
                    BENIGN => score -= w_benign,
                    _ => {}
                }
                i += 1;
            }
            if score > best + 1e-12 {
                (best, best_t) = (score, value.saturating_add(1));
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
    fn fit_balances_the_classes_instead_of_predicting_the_majority() {
        // 80 benign names with many queries, 20 benign and 10 malicious ones queried once:
        // plain accuracy prefers "all benign" (100 of 110 right), the balanced fit flags the
        // rarely queried names (benign recall 0.8, malicious recall 1).
        let mut q = vec![100u64; 80];
        q.extend([1u64; 30]);
        let mut y = vec![0u8; 100];
        y.extend([1u8; 10]);
        let rule = Rule::fit(&q, &y);
        assert_eq!(rule.threshold, 2);
        assert_eq!(rule.predict(1), 1);
        assert_eq!(rule.predict(100), 0);
    }

    #[test]
    fn fit_with_only_benign_predicts_benign() {
        let rule = Rule::fit(&[5, 6], &[0, 0]);
        assert_eq!(rule.predict(5), 0);
        assert_eq!(rule.predict(0), 0);
    }
}
