//! Public Suffix List lookups: the list compiled into the `psl` crate by default, or a list
//! file parsed with `publicsuffix`.

use std::path::Path;

use psl::Psl as _;

use crate::error::{Error, Result};

/// A Public Suffix List, ICANN and private sections together.
///
/// Names are expected normalized (lower-case A-labels, no trailing dot, as
/// [`pdnsrep_records::normalize_name`] makes them). Names under a TLD the list does not know get
/// the PSL algorithm's implicit `*` rule: their last label is the suffix.
#[derive(Debug)]
pub enum SuffixList {
    /// The snapshot that ships inside the `psl` crate.
    Bundled,
    /// A list read from a `public_suffix_list.dat` file (IDN rules also in punycode).
    File(Box<publicsuffix::List>),
}

impl SuffixList {
    /// Loads a list file; `None` gives the bundled list.
    pub fn load(path: Option<&Path>) -> Result<SuffixList> {
        let Some(path) = path else {
            return Ok(SuffixList::Bundled);
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::Psl {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let list: publicsuffix::List = text.parse().map_err(|e| Error::Psl {
            path: path.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
        Ok(SuffixList::File(Box::new(list)))
    }

    /// The public suffix of `name`.
    pub fn suffix<'a>(&self, name: &'a str) -> Option<&'a str> {
        let suffix = match self {
            SuffixList::Bundled => psl::List.suffix(name.as_bytes()),
            SuffixList::File(list) => list.suffix(name.as_bytes()),
        }?;
        tail(name, suffix.as_bytes().len())
    }

    /// The registered (registrable) domain of `name`: its public suffix plus one label. `None`
    /// when the name is itself a public suffix.
    pub fn registered_domain<'a>(&self, name: &'a str) -> Option<&'a str> {
        let domain = match self {
            SuffixList::Bundled => psl::List.domain(name.as_bytes()),
            SuffixList::File(list) => list.domain(name.as_bytes()),
        }?;
        tail(name, domain.as_bytes().len())
    }
}

/// The last `len` bytes of `name`; the PSL crates return sub-slices of their input, so only the
/// length is needed to stay on `&str`.
fn tail(name: &str, len: usize) -> Option<&str> {
    name.get(name.len().checked_sub(len)?..)
}

/// The last label of a name.
pub fn tld(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_psl() -> SuffixList {
        let path = crate::test_data::shared_data().join("psl/public_suffix_list.dat");
        SuffixList::load(Some(&path)).unwrap()
    }

    fn check(list: &SuffixList) {
        let rd = |n| list.registered_domain(n);
        assert_eq!(rd("www.example.co.uk"), Some("example.co.uk"));
        assert_eq!(list.suffix("www.example.co.uk"), Some("co.uk"));
        // Wildcard `*.ck` with the exception `!www.ck`.
        assert_eq!(list.suffix("foo.bar.ck"), Some("bar.ck"));
        assert_eq!(rd("a.foo.bar.ck"), Some("foo.bar.ck"));
        assert_eq!(rd("bar.ck"), None);
        assert_eq!(list.suffix("www.ck"), Some("ck"));
        assert_eq!(rd("www.ck"), Some("www.ck"));
        assert_eq!(rd("a.www.ck"), Some("www.ck"));
        // Private section.
        assert_eq!(list.suffix("myblog.blogspot.com"), Some("blogspot.com"));
        assert_eq!(rd("x.myblog.blogspot.com"), Some("myblog.blogspot.com"));
        assert_eq!(rd("blogspot.com"), None);
        // IDN rules match the A-labels that normalized names carry: `公司.cn` is a suffix.
        assert_eq!(
            list.suffix("www.xn--85x722f.xn--55qx5d.cn"),
            Some("xn--55qx5d.cn")
        );
        assert_eq!(
            rd("www.xn--85x722f.xn--55qx5d.cn"),
            Some("xn--85x722f.xn--55qx5d.cn")
        );
        // Unknown TLDs fall back to the implicit `*` rule.
        assert_eq!(rd("dc01.wrccdc.local"), Some("wrccdc.local"));
        assert_eq!(list.suffix("com"), Some("com"));
        assert_eq!(rd("com"), None);
    }

    #[test]
    fn bundled_list_handles_wildcards_exceptions_private_and_idn() {
        check(&SuffixList::Bundled);
    }

    #[test]
    fn list_file_handles_wildcards_exceptions_private_and_idn() {
        check(&shared_psl());
    }

    #[test]
    fn an_unreadable_list_file_is_an_error() {
        let err = SuffixList::load(Some(Path::new("/nonexistent/psl.dat"))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bad public suffix list `/nonexistent/psl.dat`")
        );
    }

    #[test]
    fn tld_is_the_last_label() {
        assert_eq!(tld("a.b.example.org"), "org");
        assert_eq!(tld("localhost"), "localhost");
    }
}
