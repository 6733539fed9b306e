//! Naming rules: case conventions, reserved words and "did you mean" hints.

/// Words that cannot name a field, parameter or method: Rust keywords,
/// reserved words included, since every name becomes a Rust identifier.
pub(crate) const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// `OrderItem`: starts with an ASCII capital, letters and digits only.
pub(crate) fn is_upper_camel(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `display_name`: starts with a lower-case ASCII letter; lower case, digits and `_`.
pub(crate) fn is_snake(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `order_item` / `orderItem` -> `OrderItem`.
pub(crate) fn to_upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `displayName` / `DisplayName` / `HTTPCode` / `Bad Name` -> `display_name` /
/// `http_code` / `bad_name`.
pub(crate) fn to_snake(name: &str) -> String {
    let chars: Vec<char> = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let boundary = prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c != '_' || !(out.is_empty() || out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Edit distance (insertions, deletions, substitutions), counted in chars.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate closest to `name`, if close enough to be a likely typo.
/// Case is ignored when measuring, so `Strr` finds `str`. Of equally close
/// candidates the first by name wins, whatever order they come in (type
/// names come from a hash map), so a hint is the same on every run.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = name.chars().count().max(3) / 3;
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|&c| c != name)
        .map(|c| (levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|&(distance, _)| distance <= limit)
        .min()
        .map(|(_, c)| c)
}

/// `did you mean 'X'?` for the closest candidate, if any.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean '{c}'?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert!(is_upper_camel("OrderItem"));
        assert!(!is_upper_camel("order_item"));
        assert!(!is_upper_camel("Order_Item"));
        assert!(is_snake("display_name2"));
        assert!(!is_snake("displayName"));
        assert!(!is_snake("_x"));
        assert_eq!(to_upper_camel("order_item"), "OrderItem");
        assert_eq!(to_upper_camel("orderItem"), "OrderItem");
        assert_eq!(to_snake("displayName"), "display_name");
        assert_eq!(to_snake("DisplayName"), "display_name");
        assert_eq!(to_snake("HTTPCode"), "http_code");
        assert_eq!(to_snake("Display_Name"), "display_name");
        assert_eq!(to_snake("Bad Name!"), "bad_name");
    }

    #[test]
    fn suggestions() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(closest("Ordr", ["User", "Order"]), Some("Order"));
        assert_eq!(closest("order", ["Order"]), Some("Order"));
        assert_eq!(closest("Strr", ["str"]), Some("str"));
        assert_eq!(closest("Xyz", ["Order"]), None);
        // a tie goes to the first name, in any order of the candidates
        assert_eq!(
            closest("ProviderKi", ["ProviderKind", "Provider"]),
            Some("Provider")
        );
        assert_eq!(
            closest("ProviderKi", ["Provider", "ProviderKind"]),
            Some("Provider")
        );
        assert_eq!(
            did_you_mean("conflit", ["conflict", "forbidden"]).as_deref(),
            Some("did you mean 'conflict'?")
        );
    }
}
