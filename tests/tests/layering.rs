//! The workspace's shape, checked from its sources: no file over 600 lines, and no
//! import cycle between the files of any crate, so a reader can go bottom-up
//! (storage → broker state → handlers → connection → server) without stepping back.
//!
//! Each crate root (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`) is followed through
//! its `mod name;` declarations. A file depends on another when it names an item that
//! lives there: a `use` path or a path in code that starts with `crate`, `super`,
//! `self` or a child module. A path through a re-export (`pub use a::B` in `lib.rs`)
//! counts as a dependency on the file that defines `B`, so a crate root that only
//! declares and re-exports is not part of any cycle. Declaring a module (`mod a;`)
//! is not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const CRATES: &[&str] = &[
    "protocol", "storage", "broker", "client", "cli", "benches", "tests",
];
const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut long = Vec::new();
    for name in CRATES {
        for file in rust_files(&workspace().join(name)) {
            let lines = fs::read_to_string(&file).expect("readable").lines().count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:#?}");
}

#[test]
fn no_crate_has_an_import_cycle_between_files() {
    let mut cycles = Vec::new();
    for name in CRATES {
        let src = workspace().join(name).join("src");
        for root in crate_roots(&src) {
            let graph = Graph::build(&root);
            for scc in graph.cycles() {
                let files: Vec<_> = scc.iter().map(|f| rel(f)).collect();
                let edges: Vec<_> = graph
                    .edges
                    .iter()
                    .filter(|((a, b), _)| scc.contains(a) && scc.contains(b))
                    .map(|((a, b), why)| format!("{} -> {}: {why}", rel(a), rel(b)))
                    .collect();
                cycles.push(format!("{files:?}\n    {}", edges.join("\n    ")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_a_cycle_through_a_parent_module() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    fs::write(src.join("lib.rs"), "mod a;\npub use a::Thing;\n").expect("write");
    fs::create_dir(src.join("a")).expect("mkdir");
    fs::write(
        src.join("a.rs"),
        "mod b;\npub struct Thing;\npub fn f() { b::g() }\n",
    )
    .expect("write");
    fs::write(src.join("a/b.rs"), "use super::Thing;\npub fn g() {}\n").expect("write");
    let graph = Graph::build(&src.join("lib.rs"));
    assert_eq!(graph.cycles().len(), 1, "a.rs and a/b.rs use each other");

    // The same shape with `Thing` in its own file has no cycle, even though the
    // crate root re-exports it and `b` names it through the root.
    fs::write(
        src.join("a.rs"),
        "mod b;\nmod thing;\npub use thing::Thing;\npub fn f() { b::g() }\n",
    )
    .expect("write");
    fs::write(src.join("a/thing.rs"), "pub struct Thing;\n").expect("write");
    fs::write(src.join("a/b.rs"), "use crate::Thing;\npub fn g() {}\n").expect("write");
    let graph = Graph::build(&src.join("lib.rs"));
    assert!(graph.cycles().is_empty(), "{:?}", graph.edges);
}

fn rel(file: &Path) -> String {
    file.strip_prefix(workspace())
        .unwrap_or(file)
        .display()
        .to_string()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn crate_roots(src: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .filter(|p| p.exists())
        .collect();
    if let Ok(bins) = fs::read_dir(src.join("bin")) {
        roots.extend(bins.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    roots
}

/// One crate's modules, the file each lives in, and the dependencies between files.
#[derive(Default)]
struct Graph {
    /// Module path → the file that holds it (inline modules map to their file).
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// Module path → re-exported name → the path it names, relative to that module.
    reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
    /// (from, to) → the first path that made the dependency.
    edges: BTreeMap<(PathBuf, PathBuf), String>,
}

/// A path named in a file, with the module it was named from.
struct Named {
    module: Vec<String>,
    path: Vec<String>,
}

impl Graph {
    fn build(root: &Path) -> Graph {
        let mut graph = Graph::default();
        let mut named = Vec::new();
        graph.load(root.to_path_buf(), Vec::new(), &mut named);
        for (file, n) in named {
            if let Some(target) = graph.resolve(&n.module, &n.path, 0) {
                if target != file {
                    graph
                        .edges
                        .entry((file, target))
                        .or_insert_with(|| n.path.join("::"));
                }
            }
        }
        graph
    }

    /// Reads `file` as module `module`, then every file module it declares.
    fn load(&mut self, file: PathBuf, module: Vec<String>, named: &mut Vec<(PathBuf, Named)>) {
        let Ok(text) = fs::read_to_string(&file) else {
            return;
        };
        self.modules.insert(module.clone(), file.clone());
        let tokens = tokenize(&text);
        let dir = child_dir(&file);
        let mut scope = vec![(module.clone(), 0usize)];
        let mut depth = 0usize;
        let mut declared = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let current = scope.last().map(|s| s.0.clone()).unwrap_or_default();
            match tokens[i].as_str() {
                "{" => depth += 1,
                "}" => {
                    depth = depth.saturating_sub(1);
                    if scope.len() > 1 && scope.last().is_some_and(|s| s.1 == depth) {
                        scope.pop();
                    }
                }
                "mod" if i + 2 < tokens.len() && is_ident(&tokens[i + 1]) => {
                    let mut child = current.clone();
                    child.push(tokens[i + 1].clone());
                    if tokens[i + 2] == ";" {
                        declared.push(child);
                    } else if tokens[i + 2] == "{" {
                        self.modules.insert(child.clone(), file.clone());
                        scope.push((child, depth));
                        depth += 1;
                        i += 3;
                        continue;
                    }
                }
                "use" => {
                    let public = i > 0 && (tokens[i - 1] == "pub" || tokens[i - 1] == ")");
                    let end = tokens[i..]
                        .iter()
                        .position(|t| t == ";")
                        .map_or(tokens.len(), |p| i + p);
                    for (path, alias) in expand_use(&tokens[i + 1..end]) {
                        if public && alias != "*" && alias != "self" {
                            self.reexports
                                .entry(current.clone())
                                .or_default()
                                .insert(alias, path.clone());
                        }
                        named.push((
                            file.clone(),
                            Named {
                                module: current.clone(),
                                path,
                            },
                        ));
                    }
                    i = end + 1;
                    continue;
                }
                t if (t == "crate" || t == "super" || t == "self" || is_ident(t))
                    && (i == 0 || (tokens[i - 1] != "::" && tokens[i - 1] != "$")) =>
                {
                    let mut path = vec![t.to_string()];
                    let mut j = i + 1;
                    while j + 1 < tokens.len()
                        && tokens[j] == "::"
                        && is_ident_or_kw(&tokens[j + 1])
                    {
                        path.push(tokens[j + 1].clone());
                        j += 2;
                    }
                    if path.len() > 1 {
                        named.push((
                            file.clone(),
                            Named {
                                module: current,
                                path,
                            },
                        ));
                        i = j;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        for child in declared {
            let name = child.last().cloned().unwrap_or_default();
            let flat = dir.join(format!("{name}.rs"));
            let nested = dir.join(&name).join("mod.rs");
            let path = if flat.exists() { flat } else { nested };
            self.load(path, child, named);
        }
    }

    /// The file holding the item `path` names from `module`, or `None` outside the crate.
    fn resolve(&self, module: &[String], path: &[String], hops: usize) -> Option<PathBuf> {
        if hops > 8 || path.is_empty() {
            return None;
        }
        let mut at: Vec<String> = module.to_vec();
        let mut rest = path;
        match path[0].as_str() {
            "crate" => {
                at.clear();
                rest = &path[1..];
            }
            "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    at.pop();
                    rest = &rest[1..];
                }
            }
            first => {
                let mut child = at.clone();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    // A name this module imported or re-exports, or another crate.
                    return self.through_reexport(&at, first, &path[1..], hops);
                }
            }
        }
        for (k, segment) in rest.iter().enumerate() {
            if segment == "self" || segment == "*" {
                break;
            }
            let mut child = at.clone();
            child.push(segment.clone());
            if self.modules.contains_key(&child) {
                at = child;
                continue;
            }
            if let Some(found) = self.through_reexport(&at, segment, &rest[k + 1..], hops) {
                return Some(found);
            }
            break;
        }
        self.modules.get(&at).cloned()
    }

    fn through_reexport(
        &self,
        module: &[String],
        name: &str,
        rest: &[String],
        hops: usize,
    ) -> Option<PathBuf> {
        let target = self.reexports.get(module)?.get(name)?;
        let mut path = target.clone();
        path.extend_from_slice(rest);
        self.resolve(module, &path, hops + 1)
    }

    /// Groups of two or more files that depend on each other (Tarjan's SCCs).
    fn cycles(&self) -> Vec<BTreeSet<PathBuf>> {
        let files: BTreeSet<&PathBuf> = self.modules.values().collect();
        let next = |f: &PathBuf| -> Vec<PathBuf> {
            self.edges
                .keys()
                .filter(|(a, _)| a == f)
                .map(|(_, b)| b.clone())
                .collect()
        };
        let mut reach: BTreeMap<&PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for f in &files {
            let mut seen = BTreeSet::new();
            let mut stack = next(f);
            while let Some(g) = stack.pop() {
                if seen.insert(g.clone()) {
                    stack.extend(next(&g));
                }
            }
            reach.insert(f, seen);
        }
        let mut out: Vec<BTreeSet<PathBuf>> = Vec::new();
        for f in &files {
            let scc: BTreeSet<PathBuf> = files
                .iter()
                .filter(|g| reach[*f].contains(**g) && reach[*g].contains(*f))
                .map(|g| (*g).clone())
                .collect();
            if scc.len() > 1 && !out.contains(&scc) {
                out.push(scc);
            }
        }
        out
    }
}

/// The directory where the modules a file declares live.
fn child_dir(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    match file.file_name().and_then(|n| n.to_str()) {
        Some("lib.rs" | "main.rs" | "mod.rs") => parent,
        _ if file.parent().is_some_and(|p| p.ends_with("bin")) => parent,
        _ => parent.join(file.file_stem().unwrap_or_default()),
    }
}

/// `use` tree tokens as (full path, name it binds).
fn expand_use(tokens: &[String]) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut pos = 0;
    expand_into(tokens, &mut pos, Vec::new(), &mut out);
    out
}

fn expand_into(
    tokens: &[String],
    pos: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    let mut path = prefix.clone();
    while *pos < tokens.len() {
        let t = tokens[*pos].as_str();
        *pos += 1;
        match t {
            "::" => {}
            "{" => {
                loop {
                    expand_into(tokens, pos, path.clone(), out);
                    match tokens.get(*pos).map(String::as_str) {
                        Some(",") => *pos += 1,
                        Some("}") => {
                            *pos += 1;
                            break;
                        }
                        _ => break,
                    }
                    if tokens.get(*pos).map(String::as_str) == Some("}") {
                        *pos += 1;
                        break;
                    }
                }
                return;
            }
            "as" => {
                let alias = tokens.get(*pos).cloned().unwrap_or_default();
                *pos += 1;
                out.push((path, alias));
                return;
            }
            "," | "}" => {
                *pos -= 1;
                break;
            }
            _ => path.push(t.to_string()),
        }
    }
    if path.len() > prefix.len() {
        let last = path.last().cloned().unwrap_or_default();
        let bound = if last == "self" {
            path.get(path.len().saturating_sub(2))
                .cloned()
                .unwrap_or_default()
        } else {
            last
        };
        out.push((path, bound));
    }
}

fn is_ident(t: &str) -> bool {
    is_ident_or_kw(t)
        && !matches!(
            t,
            "crate"
                | "super"
                | "self"
                | "Self"
                | "use"
                | "mod"
                | "pub"
                | "fn"
                | "let"
                | "as"
                | "impl"
                | "for"
                | "in"
                | "where"
                | "struct"
                | "enum"
                | "match"
                | "if"
                | "else"
        )
}

fn is_ident_or_kw(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers and punctuation, with comments, strings and char literals removed.
fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut nest = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    nest += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    nest -= 1;
                    i += 2;
                    if nest == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && raw_start(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1; // a lifetime
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            out.push("::".to_string());
            i += 2;
        } else if c.is_whitespace() || c.is_ascii_digit() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

fn raw_start(chars: &[char], i: usize) -> bool {
    let before_ok = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
    before_ok && chars.get(i + 1 + hashes) == Some(&'"')
}
