//! Naming: schema names to Rust names.

/// `in_progress` → `InProgress`, `ed25519` → `Ed25519`, `2fa` → `V2fa`.
pub fn camel(s: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in s.chars() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, 'V');
    }
    out
}

/// `SshKey` → `ssh_key`, `APIKey` → `api_key`.
pub fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A string literal in Rust source.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// `///` doc lines for an optional doc comment, at `indent`.
pub fn doc(doc: Option<&str>, indent: &str) -> String {
    let mut out = String::new();
    if let Some(d) = doc {
        for line in d.lines() {
            if line.trim().is_empty() {
                out.push_str(&format!("{indent}///\n"));
            } else {
                out.push_str(&format!("{indent}/// {}\n", line.trim_end()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(camel("in_progress"), "InProgress");
        assert_eq!(camel("ed25519"), "Ed25519");
        assert_eq!(camel("2fa"), "V2fa");
        assert_eq!(snake("SshKey"), "ssh_key");
        assert_eq!(snake("APIKey"), "api_key");
        assert_eq!(snake("Product"), "product");
        assert_eq!(snake("SliceAssignment"), "slice_assignment");
    }
}
