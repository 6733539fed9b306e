//! Recursive embedding: a struct may not contain itself, directly or through
//! other structs, unless a list, map or optional field breaks the chain.

use std::collections::{HashMap, VecDeque};

use super::Checker;
use crate::model::{Field, Struct, Type};

impl Checker<'_> {
    /// Reports each cycle once, at the first field of the chain, starting
    /// from the struct declared first.
    pub(super) fn check_recursion(&mut self, structs: &[Struct]) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, s) in structs.iter().enumerate() {
            index.entry(&s.name).or_insert(i);
        }
        let edges: Vec<Vec<(usize, &Field)>> = structs
            .iter()
            .map(|s| {
                s.fields
                    .iter()
                    .filter(|f| !f.optional)
                    .filter_map(|f| match &f.ty {
                        Type::Named(name) => index.get(name.as_str()).map(|&j| (j, f)),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let mut reported = vec![false; structs.len()];
        for start in 0..structs.len() {
            if reported[start] {
                continue;
            }
            let Some(cycle) = find_cycle(start, &edges) else {
                continue;
            };
            let mut path = Vec::new();
            for &(node, field) in &cycle {
                reported[node] = true;
                path.push(format!("{}.{}", structs[node].name, field.name));
            }
            path.push(structs[start].name.clone());
            let Some(&(_, first)) = cycle.first() else {
                continue;
            };
            self.rep
                .error(
                    first.span,
                    format!(
                        "recursive type '{}' embeds itself: {}",
                        structs[start].name,
                        path.join(" -> ")
                    ),
                )
                .with_hint("make one of these fields optional ('?') or a list");
        }
    }
}

/// The shortest chain of embedding fields from `start` back to itself.
fn find_cycle<'f>(
    start: usize,
    edges: &[Vec<(usize, &'f Field)>],
) -> Option<Vec<(usize, &'f Field)>> {
    let mut parent: Vec<Option<(usize, &Field)>> = vec![None; edges.len()];
    let mut seen = vec![false; edges.len()];
    seen[start] = true;
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &(next, field) in &edges[node] {
            if next == start {
                let mut cycle = vec![(node, field)];
                let mut at = node;
                while let Some((from, via)) = parent[at] {
                    cycle.push((from, via));
                    at = from;
                }
                cycle.reverse();
                return Some(cycle);
            }
            if !seen[next] {
                seen[next] = true;
                parent[next] = Some((node, field));
                queue.push_back(next);
            }
        }
    }
    None
}
