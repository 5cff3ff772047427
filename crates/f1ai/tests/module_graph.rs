//! Imports between a crate's modules go one way: no module reaches, through
//! `use` or a path, a module that reaches it back. Read from the sources of
//! every crate in the workspace (test code aside). A module using its own
//! ancestors (`super::Item` defined in the parent's file) is Rust's usual
//! nesting, not a circle, and is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path ("transformer::linear", "" for the crate root) -> its source.
type Sources = BTreeMap<String, String>;

fn crate_sources(src: &Path) -> Sources {
    let mut sources = Sources::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = relative
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).expect("a source file");
                sources.insert(parts.join("::"), text);
            }
        }
    }
    sources
}

/// The source without its test module and comments.
fn code(source: &str) -> String {
    let end = ["#[cfg(test)]", "#[cfg(all(test"]
        .iter()
        .filter_map(|marker| source.find(marker))
        .min()
        .unwrap_or(source.len());
    source[..end]
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| expand(item).into_iter().map(|p| format!("{prefix}{p}")))
        .collect()
}

/// Every `crate::`, `super::` or `self::` path in `code`, `use` trees expanded.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let word_start =
        |at: usize| at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
    for (at, _) in code.match_indices("use ").filter(|(at, _)| word_start(*at)) {
        let statement = &code[at + 4..];
        let end = statement.find(';').unwrap_or(statement.len());
        found.extend(expand(&statement[..end].replace(char::is_whitespace, "")));
    }
    for anchor in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(anchor).filter(|(at, _)| word_start(*at)) {
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            found.push(code[at..end].to_string());
        }
    }
    found
}

/// The modules each module reaches (its ancestors aside).
fn imports(sources: &Sources) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (module, source) in sources {
        let own: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        let mut reached = BTreeSet::new();
        for path in paths(&code(source)) {
            let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let mut base: Vec<&str> = match segments.first().copied() {
                Some("crate") => Vec::new(),
                Some("self") => own.clone(),
                Some("super") => own[..own.len().saturating_sub(1)].to_vec(),
                _ => continue,
            };
            segments.remove(0);
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
            let target = (1..=segments.len()).rev().find_map(|n| {
                let candidate = [&base[..], &segments[..n]].concat().join("::");
                sources.contains_key(&candidate).then_some(candidate)
            });
            if let Some(target) = target {
                let ancestor = target.is_empty() || module.starts_with(&format!("{target}::"));
                if target != *module && !ancestor {
                    reached.insert(target);
                }
            }
        }
        graph.insert(module.clone(), reached);
    }
    graph
}

/// The groups of modules that reach each other (strongly connected components
/// of more than one module), by Tarjan's algorithm.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        circles: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, module: &'a str) {
            let index = self.index.len();
            self.index.insert(module, index);
            self.low.insert(module, index);
            self.stack.push(module);
            for next in &self.graph[module] {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[module].min(self.low[next]);
                    self.low.insert(module, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[module].min(self.index[next]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let mut group = Vec::new();
                while let Some(top) = self.stack.pop() {
                    group.push(top.to_string());
                    if top == module {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.circles.push(group);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        circles: Vec::new(),
    };
    for module in graph.keys() {
        if !search.index.contains_key(module.as_str()) {
            search.visit(module);
        }
    }
    search.circles
}

#[test]
fn no_crate_has_modules_that_import_each_other() {
    let crates = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut modules = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let sources = crate_sources(&src);
        modules += sources.len();
        let name = src
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        found.extend(
            circles(&imports(&sources))
                .into_iter()
                .map(|c| format!("{name}: {c:?}")),
        );
    }
    assert!(
        modules > 100,
        "read only {modules} modules under {}",
        crates.display()
    );
    assert!(
        found.is_empty(),
        "modules importing each other:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_circle_through_use_trees_and_paths_is_found() {
    let sources: Sources = [
        ("", "mod a; mod b; mod c;"),
        ("a", "use crate::{c, b::{Thing, other}};\n// use crate::z;"),
        ("b", "fn f() { super::c::g() }"),
        (
            "c",
            "use super::a; // a path in code: crate::b::x\n#[cfg(test)]\nuse crate::b;",
        ),
    ]
    .into_iter()
    .map(|(m, s)| (m.to_string(), s.to_string()))
    .collect();
    let graph = imports(&sources);
    assert_eq!(graph["a"], BTreeSet::from(["b".into(), "c".into()]));
    assert_eq!(graph["b"], BTreeSet::from(["c".into()]));
    // Comments and test code are not imports.
    assert_eq!(graph["c"], BTreeSet::from(["a".into()]));
    assert_eq!(
        circles(&graph),
        [vec!["a".to_string(), "b".into(), "c".into()]]
    );

    // A child using its parent is nesting, not a circle.
    let nested: Sources = [
        ("", "mod p;"),
        ("p", "mod q; use self::q::X;"),
        ("p::q", "use super::Y;"),
    ]
    .into_iter()
    .map(|(m, s)| (m.to_string(), s.to_string()))
    .collect();
    assert!(circles(&imports(&nested)).is_empty());
}
