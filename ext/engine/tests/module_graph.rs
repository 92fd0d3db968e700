//! The engine's modules form no import circle: reading `src/`, every file is a module, an edge
//! goes from a module to each module whose items it names (`crate::…`, `super::…`, `self::…`
//! or a child module's name, re-exports included), and the graph must have no cycle. Declaring
//! a child (`mod x;`) is not a use of it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`node::connection`; the crate root is "") → the file's code.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let join =
                |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}::{name}") };
            if path.is_dir() {
                walk(&path, &join(&name), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = if name == "mod" || name == "lib" { prefix.to_owned() } else { join(&name) };
                let code = without_comments_and_strings(&std::fs::read_to_string(&path).unwrap());
                out.insert(module, without_test_modules(&code));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), "", &mut out);
    out
}

/// The code without its `#[cfg(test)] mod … { … }` blocks: unit tests live inside the module
/// they test (their `super` is that module), and what they use is not the module's dependency.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let Some(open) = rest.find('{').filter(|&open| rest[..open].contains("mod ")) else {
            out.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        };
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..at + end, "");
    }
    out
}

/// The code with comments and string/char literals blanked, so paths in prose are not read.
fn without_comments_and_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n', '\u{..}'); a lifetime ('a) is kept.
            '\'' if chars.clone().nth(1) == Some('\'') || chars.peek() == Some(&'\\') => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '\'' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                out.push_str("' '");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path written in `code` that starts with one of `roots` (`crate`, `super`, `self`, a
/// child module), as segments, with the inline modules (`mod x { … }`) it is written in;
/// `use a::{b::C, d}` yields `a::b::C` and `a::d`.
fn paths(code: &str, roots: &BTreeSet<String>) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new(); // (name, brace depth inside it)
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                depth += 1;
                inline.push((tokens[i + 1].clone(), depth));
                i += 3;
                continue;
            }
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        let preceded_by_path = i > 0 && tokens[i - 1] == "::";
        let at_root = inline.is_empty() && roots.contains(&tokens[i])
            || ["crate", "super", "self"].contains(&tokens[i].as_str());
        if !preceded_by_path && at_root && tokens.get(i + 1).is_some_and(|t| t == "::") {
            let mut here = Vec::new();
            let end = read_path(&tokens, i, Vec::new(), &mut here);
            let scope: Vec<String> = inline.iter().map(|(name, _)| name.clone()).collect();
            found.extend(here.into_iter().map(|path| (scope.clone(), path)));
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// Reads the path starting at `tokens[i]` (after `prefix`); returns the index after it.
fn read_path(
    tokens: &[String],
    mut i: usize,
    mut prefix: Vec<String>,
    found: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    i = read_path(tokens, i, prefix.clone(), found);
                    match tokens.get(i).map(String::as_str) {
                        Some(",") => i += 1,
                        Some("}") => return i + 1,
                        _ => return i,
                    }
                    if tokens.get(i).is_some_and(|t| t == "}") {
                        return i + 1;
                    }
                }
            }
            Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(t.to_owned());
                i += 1;
                if tokens.get(i).is_some_and(|t| t == "::") {
                    i += 1;
                } else {
                    found.push(prefix);
                    return i;
                }
            }
            Some("*") => {
                found.push(prefix);
                return i + 1;
            }
            _ => {
                if !prefix.is_empty() {
                    found.push(prefix);
                }
                return i;
            }
        }
    }
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    word.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(word);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            tokens.push("::".into());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// Declared child modules (`mod x;` / `pub mod x;`) of `module`, among the known ones.
fn children(module: &str, all: &BTreeMap<String, String>) -> BTreeSet<String> {
    all.keys()
        .filter_map(|m| {
            let rest =
                if module.is_empty() { Some(m.as_str()) } else { m.strip_prefix(&format!("{module}::")) };
            rest.filter(|r| !r.is_empty() && !r.contains("::")).map(str::to_owned)
        })
        .collect()
}

/// The module graph: module → the modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let all = modules();
    let mut graph = BTreeMap::new();
    for (module, code) in &all {
        let segments: Vec<String> =
            if module.is_empty() { vec![] } else { module.split("::").map(str::to_owned).collect() };
        let kids = children(module, &all);
        let mut roots: BTreeSet<String> = ["crate", "super", "self"].map(str::to_owned).into();
        roots.extend(kids.iter().cloned());
        let mut uses = BTreeSet::new();
        for (scope, path) in paths(code, &roots) {
            let here: Vec<String> = segments.iter().chain(&scope).cloned().collect();
            let absolute: Vec<String> = match path[0].as_str() {
                "crate" => path[1..].to_vec(),
                "self" => here.iter().chain(&path[1..]).cloned().collect(),
                "super" => {
                    let mut base = here.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.into_iter().chain(rest.iter().cloned()).collect()
                }
                _ => segments.iter().chain(&path).cloned().collect(),
            };
            // The longest prefix that is a module of this crate.
            let target = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].join("::"))
                .find(|candidate| all.contains_key(candidate));
            if let Some(target) = target {
                if &target != module && !target.is_empty() {
                    uses.insert(target);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle of the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_the_engine_uses_one_that_uses_it_back() {
    let graph = graph();
    assert!(graph.get("node").is_some_and(|uses| uses.contains("hub")), "the reader finds uses: {graph:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}\n(module graph: {graph:#?})", cycle.join(" → "));
    }
}
