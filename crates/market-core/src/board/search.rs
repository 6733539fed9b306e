//! `post.search`: semantic when an embedding endpoint is configured, text
//! matching otherwise or when the endpoint fails.
//!
//! Post embeddings are cached by post id and a hash of the text that was
//! embedded (title, body, tags), so an update embeds the post again and an
//! unchanged post never does; the cache keeps the 5,000 most recently used.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use market_store::Id;
use sha2::{Digest, Sha256};

use super::Board;
use super::view::PostState;

/// Post embeddings kept in memory.
pub const CACHE_SIZE: usize = 5_000;

/// Turns texts into vectors (an OpenAI-compatible `/v1/embeddings` client
/// in the server). Errors are reasons for the log.
pub trait Embedder: Send + Sync {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String>;
}

type Key = (Id, [u8; 16]);

/// Embeddings of posts, by post and content hash, least recently used out first.
pub struct EmbeddingCache(Mutex<LruCache<Key, Vec<f32>>>);

impl EmbeddingCache {
    pub fn new(size: usize) -> EmbeddingCache {
        let size = NonZeroUsize::new(size).unwrap_or(NonZeroUsize::MIN);
        EmbeddingCache(Mutex::new(LruCache::new(size)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Key, Vec<f32>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The text of a post that search looks at.
fn text_of(p: &PostState) -> String {
    format!(
        "{}\n{}\n{}",
        p.title.value,
        p.body.value,
        p.tags.value.join(" ")
    )
}

fn content_hash(text: &str) -> [u8; 16] {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Text matching: the share of the query's words found in the post, a
/// title match counting twice. Posts matching no word are left out.
pub(crate) fn text_scores(posts: &[PostState], query: &str) -> Vec<(Id, f64)> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<(Id, f64)> = posts
        .iter()
        .filter_map(|p| {
            let title = p.title.value.to_lowercase();
            let rest = format!(
                "{}\n{}",
                p.body.value.to_lowercase(),
                p.tags.value.join(" ").to_lowercase()
            );
            let score: f64 = words
                .iter()
                .map(|w| {
                    if title.contains(w.as_str()) {
                        2.0
                    } else if rest.contains(w.as_str()) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .sum();
            (score > 0.0).then(|| (p.id, score / (2.0 * words.len() as f64)))
        })
        .collect();
    sort_hits(&mut hits);
    hits
}

/// Best first; ties newest first.
fn sort_hits(hits: &mut [(Id, f64)]) {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
}

impl Board {
    /// The `k` best posts for `query`, and whether text matching answered.
    pub(crate) fn search(
        &self,
        posts: &[PostState],
        query: &str,
        k: usize,
    ) -> (Vec<(Id, f64)>, bool) {
        let reason = match &self.config.embedder {
            None => "no embedding endpoint is configured (MARKETPLACE_EMBED_URL)".to_string(),
            Some(embedder) => match self.semantic(embedder.as_ref(), posts, query) {
                Ok(mut hits) => {
                    hits.truncate(k);
                    return (hits, false);
                }
                Err(e) => format!("embedding endpoint failed: {e}"),
            },
        };
        tracing::warn!(reason = %reason, "post.search: falling back to text matching");
        let mut hits = text_scores(posts, query);
        hits.truncate(k);
        (hits, true)
    }

    fn semantic(
        &self,
        embedder: &dyn Embedder,
        posts: &[PostState],
        query: &str,
    ) -> Result<Vec<(Id, f64)>, String> {
        let keyed: Vec<(Key, String)> = posts
            .iter()
            .map(|p| {
                let text = text_of(p);
                ((p.id, content_hash(&text)), text)
            })
            .collect();
        let missing: Vec<&(Key, String)> = {
            let mut cache = self.embeddings.lock();
            keyed
                .iter()
                .filter(|(k, _)| cache.get(k).is_none())
                .collect()
        };
        let mut inputs: Vec<String> = vec![query.to_string()];
        inputs.extend(missing.iter().map(|(_, t)| t.clone()));
        let vectors = embedder.embed(&inputs)?;
        if vectors.len() != inputs.len() {
            return Err(format!(
                "asked for {} embeddings, got {}",
                inputs.len(),
                vectors.len()
            ));
        }
        let mut vectors = vectors.into_iter();
        let query_vec = vectors.next().unwrap_or_default();
        let mut cache = self.embeddings.lock();
        for ((key, _), v) in missing.iter().zip(vectors) {
            cache.put(*key, v);
        }
        let mut hits: Vec<(Id, f64)> = keyed
            .iter()
            .filter_map(|(key, _)| cache.get(key).map(|v| (key.0, cosine(&query_vec, v))))
            .collect();
        sort_hits(&mut hits);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_hashes() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-9);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
        assert_ne!(content_hash("a"), content_hash("b"));
    }
}
