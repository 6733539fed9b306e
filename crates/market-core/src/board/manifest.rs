//! The community manifest: which nodes belong to the community, and how far
//! each is trusted.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::event::unhex;

/// How far a node is trusted: `stale` expiries count only from `trusted`
/// and `anchor` nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Member,
    Trusted,
    Anchor,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    node: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    public_key: String,
    level: Level,
}

/// The nodes of the community, by public key (64 lower-case hex digits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    nodes: BTreeMap<String, Level>,
}

impl Manifest {
    /// Parse the TOML text of a manifest: `[[node]]` tables with
    /// `public_key` (64 hex) and `level` (`member`, `trusted`, `anchor`).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut nodes = BTreeMap::new();
        for (i, entry) in file.node.into_iter().enumerate() {
            if unhex::<32>(&entry.public_key).is_none() {
                return Err(format!("node {}: public_key must be 64 hex digits", i + 1));
            }
            let key = entry.public_key.trim().to_ascii_lowercase();
            if nodes.insert(key, entry.level).is_some() {
                return Err(format!("node {}: public_key listed twice", i + 1));
            }
        }
        Ok(Manifest { nodes })
    }

    /// A manifest listing these nodes.
    pub fn of(nodes: impl IntoIterator<Item = (String, Level)>) -> Manifest {
        Manifest {
            nodes: nodes
                .into_iter()
                .map(|(k, l)| (k.to_ascii_lowercase(), l))
                .collect(),
        }
    }

    pub fn level(&self, node: &str) -> Option<Level> {
        self.nodes.get(&node.to_ascii_lowercase()).copied()
    }
}

/// The community as a node sees it: with a manifest only its nodes take
/// part; without one every correctly signed node is a member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Community(pub Option<Manifest>);

impl Community {
    /// The node's level, or `None` when a manifest leaves it out.
    pub fn level(&self, node: &str) -> Option<Level> {
        match &self.0 {
            Some(m) => m.level(node),
            None => Some(Level::Member),
        }
    }

    /// Do this node's `stale` expiries count?
    pub fn stale_counts(&self, node: &str) -> bool {
        match &self.0 {
            Some(m) => matches!(m.level(node), Some(Level::Trusted | Level::Anchor)),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_parse_and_decide() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text = format!(
            "[[node]]\npublic_key = \"{a}\"\nlevel = \"anchor\"\n\n[[node]]\npublic_key = \"{b}\"\nlevel = \"member\"\n"
        );
        let community = Community(Some(Manifest::parse(&text).unwrap()));
        assert_eq!(community.level(&a), Some(Level::Anchor));
        assert_eq!(community.level(&"b".repeat(64)), Some(Level::Member));
        assert_eq!(community.level(&"c".repeat(64)), None);
        assert!(community.stale_counts(&a));
        assert!(!community.stale_counts(&b));
        assert!(Community(None).stale_counts(&"c".repeat(64)));
        assert!(Manifest::parse("[[node]]\npublic_key = \"xy\"\nlevel = \"member\"").is_err());
        assert!(
            Manifest::parse(&format!("[[node]]\npublic_key = \"{a}\"\nlevel = \"boss\"")).is_err()
        );
        let twice = format!("{text}[[node]]\npublic_key = \"{a}\"\nlevel = \"member\"\n");
        assert!(Manifest::parse(&twice).unwrap_err().contains("twice"));
    }
}
