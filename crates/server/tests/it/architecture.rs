//! The layering rules of ARCHITECTURE.md, checked on the sources: no module cycle in the
//! server or the engine, `AppState` is composition only (no `impl` outside `state.rs`), and the
//! service layer imports neither axum nor socketioxide.

use std::path::{Path, PathBuf};

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn assert_acyclic(name: &str) {
    let graph = ModuleGraph::read(&crate_src(name)).expect("read the sources");
    assert!(
        graph.edges.len() > 3,
        "{name}: too few modules read ({:?})",
        graph.edges.keys().collect::<Vec<_>>()
    );
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "module cycles in {name} (each list is a set of modules that reach each other through \
         `use` paths; move what they share into a module that depends on neither): {cycles:#?}"
    );
}

#[test]
fn the_server_has_no_module_cycle() {
    assert_acyclic("server");
}

#[test]
fn the_engine_has_no_module_cycle() {
    assert_acyclic("engine");
}

#[test]
fn the_checker_sees_cycles_through_use_trees_super_and_child_paths() {
    let dir = std::env::temp_dir().join(format!("modgraph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b")).expect("mkdir");
    std::fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").expect("write");
    // a -> b::inner (grouped use), b::inner -> c (super path), c -> a (inline path).
    std::fs::write(dir.join("a.rs"), "use crate::{b::{inner::X}, c as _};\n").expect("write");
    std::fs::write(
        dir.join("b/mod.rs"),
        "pub mod inner;\n// crate::a is only a comment\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("b/inner.rs"),
        "pub struct X(super::super::c::Y);\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("c.rs"),
        "pub struct Y;\nfn f() { crate::a::g(\"crate::b\"); }\n",
    )
    .expect("write");
    let graph = ModuleGraph::read(&dir).expect("read");
    let cycles = graph.cycles();
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(
        cycles,
        vec![vec!["a".to_string(), "b::inner".into(), "c".into()]]
    );
}

/// Every `.rs` file under `dir` with its code (comments and strings removed).
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files).expect("read the sources");
    files
        .into_iter()
        .map(|(m, text)| (PathBuf::from(m), strip(&text)))
        .collect()
}

#[test]
fn app_state_is_composition_only() {
    let mut offenders = Vec::new();
    for (module, code) in sources(&crate_src("server")) {
        let toks = tokens(&code);
        for (i, t) in toks.iter().enumerate() {
            if t != "impl" {
                continue;
            }
            // `impl AppState {`, `impl Trait for AppState`, `impl<..> .. for crate::state::AppState`
            let header: Vec<&str> = toks[i + 1..]
                .iter()
                .take_while(|t| *t != "{" && *t != ";")
                .map(String::as_str)
                .collect();
            let target = match header.iter().rposition(|t| *t == "for") {
                Some(f) => &header[f + 1..],
                None => &header[..],
            };
            if target.last() == Some(&"AppState") && module != Path::new("state") {
                offenders.push(format!("{}: impl {}", module.display(), header.join(" ")));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "AppState is composition only: behaviour goes into a service (crate::service) or an \
         adapter function; found {offenders:#?}"
    );
}

#[test]
fn services_import_neither_axum_nor_socketioxide() {
    let dir = crate_src("server").join("service");
    let files = sources(&dir);
    assert!(
        files.len() >= 5,
        "the service layer was not found at {}",
        dir.display()
    );
    let mut offenders = Vec::new();
    for (module, code) in files {
        for t in tokens(&code) {
            if t == "axum" || t == "socketioxide" {
                offenders.push(format!("service::{}: {t}", module.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the service layer knows nothing of HTTP or Socket.IO; found {offenders:#?}"
    );
}

/// The module graph of one crate, read from its sources: a module depends on another when it
/// names it in a path (`use crate::a::b`, `super::x`, `child::y`, grouped `use` trees too).
/// Test code (from the first `#[cfg(test)]` of a file) is left out.
struct ModuleGraph {
    /// Module path ("" for the crate root, "routes::auth") to the modules it names.
    edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src`.
    fn read(src: &std::path::Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        collect(src, src, &mut files)?;
        let modules: std::collections::BTreeSet<String> =
            files.iter().map(|(m, _)| m.clone()).collect();
        let mut edges = std::collections::BTreeMap::new();
        for (module, text) in &files {
            let code = strip(text);
            let mut deps = std::collections::BTreeSet::new();
            for path in paths(&code) {
                if let Some(target) = resolve(module, &path, &modules) {
                    if &target != module {
                        deps.insert(target);
                    }
                }
            }
            edges.insert(module.clone(), deps);
        }
        Ok(Self { edges })
    }

    /// Every cycle, as the modules of each strongly connected component with more than one.
    fn cycles(&self) -> Vec<Vec<String>> {
        let names: Vec<&String> = self.edges.keys().collect();
        let index = |n: &str| names.iter().position(|m| *m == n);
        let adj: Vec<Vec<usize>> = names
            .iter()
            .map(|n| self.edges[*n].iter().filter_map(|d| index(d)).collect())
            .collect();
        // Tarjan's algorithm, iteratively small enough to recurse: crates have few modules.
        struct T<'a> {
            adj: &'a [Vec<usize>],
            idx: Vec<Option<usize>>,
            low: Vec<usize>,
            on: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            out: Vec<Vec<usize>>,
        }
        fn visit(t: &mut T, v: usize) {
            t.idx[v] = Some(t.next);
            t.low[v] = t.next;
            t.next += 1;
            t.stack.push(v);
            t.on[v] = true;
            for &w in &t.adj[v].clone() {
                match t.idx[w] {
                    None => {
                        visit(t, w);
                        t.low[v] = t.low[v].min(t.low[w]);
                    }
                    Some(i) if t.on[w] => t.low[v] = t.low[v].min(i),
                    _ => {}
                }
            }
            if Some(t.low[v]) == t.idx[v] {
                let mut comp = Vec::new();
                while let Some(w) = t.stack.pop() {
                    t.on[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    t.out.push(comp);
                }
            }
        }
        let n = names.len();
        let mut t = T {
            adj: &adj,
            idx: vec![None; n],
            low: vec![0; n],
            on: vec![false; n],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in 0..n {
            if t.idx[v].is_none() {
                visit(&mut t, v);
            }
        }
        t.out
            .into_iter()
            .map(|c| {
                let mut c: Vec<String> = c.into_iter().map(|i| display(names[i])).collect();
                c.sort();
                c
            })
            .collect()
    }
}

fn display(m: &str) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.into()
    }
}

fn collect(
    root: &std::path::Path,
    dir: &std::path::Path,
    out: &mut Vec<(String, String)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                parts.pop();
            }
            out.push((parts.join("::"), std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

/// The code of a file without comments, string contents and test code.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            // A raw string's hashes are rare in module paths' neighbourhood: skip to the quote.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3; // a char literal such as '"'
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            let c = text[i..].chars().next().expect("a char at i");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every path in the code: the paths of `use` trees expanded, and other `a::b` paths.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let toks = tokens(code);
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == "use" && (i == 0 || toks[i - 1] != "::") {
            let mut j = i + 1;
            let end = loop {
                if j >= toks.len() || toks[j] == ";" {
                    break j;
                }
                j += 1;
            };
            use_tree(&toks[i + 1..end], Vec::new(), &mut out);
            i = end + 1;
        } else if is_ident(&toks[i]) && toks.get(i + 1).map(String::as_str) == Some("::") {
            let mut path = vec![toks[i].clone()];
            let mut j = i + 1;
            while toks.get(j).map(String::as_str) == Some("::")
                && toks.get(j + 1).is_some_and(|t| is_ident(t))
            {
                path.push(toks[j + 1].clone());
                j += 2;
            }
            out.push(path);
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn use_tree(toks: &[String], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    // Split a `{a, b::{c, d}}` list at top-level commas.
    let mut path = prefix;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t == "{" {
            let mut depth = 0;
            let mut start = i + 1;
            for k in i..toks.len() {
                match toks[k].as_str() {
                    "{" => depth += 1,
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            use_tree(&toks[start..k], path.clone(), out);
                            return;
                        }
                    }
                    "," if depth == 1 => {
                        use_tree(&toks[start..k], path.clone(), out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            return;
        } else if t == "as" {
            break;
        } else if is_ident(t) {
            path.push(t.clone());
        }
        i += 1;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(code[i..end].to_string());
        } else if c == ':' && chars.peek().map(|p| p.1) == Some(':') {
            chars.next();
            out.push("::".into());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

/// The module a path names, seen from `module`: the longest prefix that is a module of the crate.
fn resolve(
    module: &str,
    path: &[String],
    modules: &std::collections::BTreeSet<String>,
) -> Option<String> {
    let mut base: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut rest = path;
    match rest.first().map(String::as_str)? {
        "crate" => {
            base.clear();
            rest = &rest[1..];
        }
        "self" => rest = &rest[1..],
        "super" => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        first => {
            // A child module of this one, or (in the crate root) a top-level module.
            let mut child = base.clone();
            child.push(first);
            if !modules.contains(&child.join("::")) {
                return None;
            }
        }
    }
    let mut found = base.join("::");
    let mut cur = base;
    for seg in rest {
        cur.push(seg);
        let name = cur.join("::");
        if modules.contains(&name) {
            found = name;
        } else {
            break;
        }
    }
    Some(found)
}
