//! The engine's layers, read from the code's own imports: each top-level module of `src/`
//! may use only modules of lower layers (so there are no circles between them), and the files
//! of one module import each other without circles either. ARCHITECTURE.md ("Layers") says why
//! each module sits where it does; this test is what keeps it true.
//!
//! An import is any `crate::name` path (in `use` or inline, grouped `crate::{…}` too) outside
//! comments and `#[cfg(test)]` modules; inside a module's directory, `super::name` and a
//! `mod.rs` naming its own child count too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    // Leaves: files of the person's own, the Coda client, prompt texts.
    &[
        "private", "coda", "prompts", "guides", "mcp_log", "metrics", "apps", "defaults", "flags",
        "toolsets", "netshare",
    ],
    // Plain parts on top of them.
    &[
        "caller", "health", "secrets", "settings", "runtime", "clients", "public",
    ],
    // The tool catalogue and runner, the OAuth state, the event bus.
    &["tools", "oauth", "events"],
    // What reads those: the audit history, the schemas, the demo workspace, the tunnel.
    // … and `doctor`, which looks at a whole setup and changes nothing.
    &["audit", "openapi", "packaging", "demo", "tunnel", "doctor"],
    &["engine"],
    // Over the engine: the MCP handler, and the ChatGPT faces' call policy.
    &["mcp", "bounded"],
    &["http"],
    // What a person changes at run time, and the Setup routes over it that HTTP mounts.
    &["control"],
    // Starting a server, for every face.
    &["launch"],
    // `coda-mcp stdio`: a bridge to a running server, or an engine of its own (started from
    // what `launch` resolves).
    &["stdio"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A file's unit: `engine`, or `http/auth` for a file inside a module's directory
/// (`http/mod.rs` is `http`).
fn unit_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts.join("/")
}

/// The code of a file without comments and without its `#[cfg(test)]` modules (which end at
/// the next `}` in the first column).
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            let next = lines.peek().map(|l| l.trim_start()).unwrap_or("");
            if next.starts_with("mod ") || next.starts_with("pub mod ") {
                for skipped in lines.by_ref() {
                    if skipped == "}" {
                        break;
                    }
                }
                continue;
            }
        }
        let without_comment = match line.find("//") {
            // `//` inside a string (a URL) is rare in paths that name modules; keep the line
            // up to it either way.
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

/// The identifier that starts `text`, if any.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every `prefix` path in `code`: the first two names after it (`crate::http::auth` gives
/// `("http", "auth")`), grouped imports expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        // `$crate::`, `foo_crate::` and the like are not this crate's paths.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let mut names = item.trim().split("::");
                let first = names.next().unwrap_or("").trim();
                let second = names.next().map(ident).unwrap_or("");
                if !first.is_empty() {
                    found.push((ident(first).to_owned(), second.to_owned()));
                }
            }
            continue;
        }
        let first = ident(rest);
        let second = rest[first.len()..]
            .strip_prefix("::")
            .map(ident)
            .unwrap_or("");
        if !first.is_empty() {
            found.push((first.to_owned(), second.to_owned()));
        }
    }
    found
}

/// The crate's files and what each imports: unit → units it names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let is_dir_module = |name: &str| src().join(name).is_dir();
    let child_exists = |module: &str, child: &str| {
        src().join(module).join(format!("{child}.rs")).is_file()
            || src().join(module).join(child).join("mod.rs").is_file()
    };
    // A name a `mod.rs` re-exports from its child (`pub use client::CodaClient`) is the
    // child's: naming `crate::coda::CodaClient` imports `coda/client`, not the facade.
    let mut reexported: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let unit = unit_of(file);
        if !file.ends_with("mod.rs") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for statement in code.split("pub use ").skip(1) {
            let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
            let Some((child, names)) = statement.split_once("::") else {
                continue;
            };
            if !child_exists(&unit, child.trim()) {
                continue;
            }
            let names = names.trim().trim_start_matches('{').trim_end_matches('}');
            for name in names.split(',') {
                let name = ident(name.trim());
                if !name.is_empty() {
                    reexported.insert((unit.clone(), name.to_owned()), child.trim().to_owned());
                }
            }
        }
    }
    let resolve = |module: &str, name: &str| -> String {
        if child_exists(module, name) {
            format!("{module}/{name}")
        } else if let Some(child) = reexported.get(&(module.to_owned(), name.to_owned())) {
            format!("{module}/{child}")
        } else {
            module.to_owned()
        }
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let unit = unit_of(&file);
        // `src/lib.rs` only declares; `src/cli/` is the binary, a face above the library.
        if unit == "lib" || unit == "cli" || unit.starts_with("cli/") {
            continue;
        }
        let top = unit.split('/').next().unwrap().to_owned();
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let mut named = BTreeSet::new();
        for (first, second) in paths_after(&code, "crate::") {
            let first = match first.as_str() {
                "Engine" | "EngineConfig" => "engine".to_owned(),
                _ => first,
            };
            if is_dir_module(&first) {
                named.insert(resolve(&first, &second));
            } else {
                named.insert(first);
            }
        }
        if unit.contains('/') {
            for (name, _) in paths_after(&code, "super::") {
                named.insert(resolve(&top, &name));
            }
        } else if is_dir_module(&unit) {
            for entry in std::fs::read_dir(src().join(&unit)).unwrap() {
                let path = entry.unwrap().path();
                let child = path.file_stem().unwrap().to_string_lossy().into_owned();
                if child == "mod" || path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let own = format!("{child}::");
                let uses = code.match_indices(&own).any(|(at, _)| {
                    code[..at]
                        .chars()
                        .last()
                        .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                });
                if uses {
                    named.insert(format!("{unit}/{child}"));
                }
            }
        }
        named.remove(&unit);
        graph.entry(unit).or_default().extend(named);
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_imports_only_lower_layers() {
    let graph = imports();
    assert!(
        graph.contains_key("engine") && graph.contains_key("http/auth"),
        "the source tree was not read: {:?}",
        graph.keys().collect::<Vec<_>>()
    );
    let mut broken = Vec::new();
    for (unit, named) in &graph {
        let top = unit.split('/').next().unwrap();
        let Some(own) = layer_of(top) else {
            broken.push(format!(
                "`{top}` is in no layer: add it to LAYERS (and ARCHITECTURE.md)"
            ));
            continue;
        };
        for target in named {
            let target_top = target.split('/').next().unwrap();
            if target_top == top {
                continue;
            }
            match layer_of(target_top) {
                Some(layer) if layer < own => {}
                Some(_) => broken.push(format!(
                    "`{unit}` imports `{target}`, which is not below it"
                )),
                None => broken.push(format!("`{unit}` imports `{target}`, which is in no layer")),
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn the_rules_in_architecture_md_hold() {
    let graph = imports();
    let imports_of = |module: &str| -> BTreeSet<String> {
        graph
            .iter()
            .filter(|(unit, _)| unit.split('/').next() == Some(module))
            .flat_map(|(_, named)| {
                named
                    .iter()
                    .map(|n| n.split('/').next().unwrap().to_owned())
            })
            .filter(|named| named != module)
            .collect()
    };
    for module in ["engine", "tools", "mcp", "coda", "tunnel"] {
        assert!(
            !imports_of(module).contains("http"),
            "`{module}` imports `http`"
        );
    }
    for module in ["engine", "tools", "coda", "events", "public"] {
        assert!(
            !imports_of(module).contains("tunnel"),
            "`{module}` imports `tunnel`"
        );
    }
    for module in ["engine", "mcp", "http", "tunnel"] {
        assert!(
            !imports_of(module).contains("control"),
            "`{module}` imports `control`"
        );
    }
    let coda = imports_of("coda");
    assert!(
        coda.is_empty(),
        "the Coda client imports nothing of the crate, yet it imports {coda:?}"
    );
}

/// Tarjan's strongly connected components with more than one member.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.insert(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_circles_between_the_files_of_a_module() {
    let found = circles(&imports());
    assert!(found.is_empty(), "circles of imports: {found:?}");
}

#[test]
fn the_checker_sees_a_circle_and_a_wrong_import() {
    // The walk itself: a circle is found, a chain is not.
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    let found = circles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a", "b", "c"].map(str::to_owned).into());
    // The reader: grouped, inline and `$crate` paths.
    let code = code_of(
        "use crate::{demo, runtime::X, Engine};\nfn f() { crate::http::auth::check(); $crate::no }\n// crate::audit\n#[cfg(test)]\nmod tests {\n    use crate::events;\n}\nfn g() { crate::tools::run() }\n",
    );
    let names: Vec<_> = paths_after(&code, "crate::")
        .into_iter()
        .map(|(a, b)| format!("{a}/{b}"))
        .collect();
    assert_eq!(
        names,
        ["demo/", "runtime/X", "Engine/", "http/auth", "tools/run"]
    );
}
