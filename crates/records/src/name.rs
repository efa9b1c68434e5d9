use std::borrow::Cow;

/// Why a domain name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("label longer than 63 octets")]
    LabelTooLong,
    #[error("name longer than 253 octets")]
    TooLong,
    #[error("character {0:?} is not allowed in a name")]
    BadChar(char),
    #[error("not a valid internationalized name: {0}")]
    Idna(String),
}

/// Normalizes an owner name the way every format needs it: lower-case, no trailing dot,
/// internationalized names converted to punycode A-labels (RFC 5891).
///
/// Underscores (SRV, DKIM, DMARC owners) and a leading `*` label (wildcards) are kept, since
/// they occur in real passive DNS; spaces, control characters and other punctuation are
/// rejected.
pub fn normalize_name(raw: &str) -> Result<String, NameError> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    let ascii: Cow<'_, str> = if trimmed.is_ascii() {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Owned(to_a_labels(trimmed)?)
    };
    validate_ascii(&ascii)?;
    Ok(ascii.into_owned())
}

fn to_a_labels(name: &str) -> Result<String, NameError> {
    // Each label is converted on its own so that an underscore in a sibling label (allowed in
    // DNS, refused by UTS 46) does not sink an otherwise valid IDN.
    let mut out = String::with_capacity(name.len() + 8);
    for (i, label) in name
        .split(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'])
        .enumerate()
    {
        if i > 0 {
            out.push('.');
        }
        if label.is_ascii() {
            out.push_str(&label.to_ascii_lowercase());
        } else {
            let converted =
                idna::domain_to_ascii(label).map_err(|e| NameError::Idna(e.to_string()))?;
            out.push_str(&converted);
        }
    }
    Ok(out)
}

fn validate_ascii(name: &str) -> Result<(), NameError> {
    if name.len() > 253 {
        return Err(NameError::TooLong);
    }
    for (i, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong);
        }
        if i == 0 && label == "*" {
            continue;
        }
        if let Some(c) = label.chars().find(|c| !is_name_char(*c)) {
            return Err(NameError::BadChar(c));
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_strips_the_root_dot() {
        assert_eq!(
            normalize_name("WWW.Example.COM.").unwrap(),
            "www.example.com"
        );
        assert_eq!(
            normalize_name("_ldap._tcp.dc.local").unwrap(),
            "_ldap._tcp.dc.local"
        );
        assert_eq!(normalize_name("*.example.com").unwrap(), "*.example.com");
    }

    #[test]
    fn converts_idns_to_a_labels() {
        assert_eq!(normalize_name("bücher.de").unwrap(), "xn--bcher-kva.de");
        assert_eq!(
            normalize_name("例え.テスト").unwrap(),
            "xn--r8jz45g.xn--zckzah"
        );
    }

    #[test]
    fn rejects_malformed_names_with_a_reason() {
        assert_eq!(normalize_name(""), Err(NameError::Empty));
        assert_eq!(normalize_name("."), Err(NameError::Empty));
        assert_eq!(normalize_name("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(normalize_name("a b.com"), Err(NameError::BadChar(' ')));
        assert_eq!(normalize_name("a.*.com"), Err(NameError::BadChar('*')));
        assert_eq!(
            normalize_name(&"a".repeat(64)),
            Err(NameError::LabelTooLong)
        );
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(normalize_name(&long), Err(NameError::TooLong));
    }
}
