//! Tidy checks of the repository itself: documentation exists and agrees with the code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !matches!(name, "target" | "node_modules" | ".git" | "book") {
                files_with_ext(&p, ext, out);
            }
        } else if p.extension().and_then(|x| x.to_str()) == Some(ext) {
            out.push(p);
        }
    }
}

#[test]
fn every_crate_says_what_it_is_for() {
    for entry in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let src = entry.path().join("src");
        let main = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .find(|p| p.exists());
        let Some(main) = main else {
            panic!("{} has no lib.rs or main.rs", entry.path().display())
        };
        let text = std::fs::read_to_string(&main).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must open with a //! doc comment",
            main.display()
        );
    }
}

#[test]
fn the_readme_and_ci_run_the_same_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let cmd = "cargo test --workspace";
    let pos = readme.find(cmd).expect("README has the test command");
    assert!(
        pos < 1500,
        "the test command must be near the top of the README"
    );
    assert!(readme[..pos].contains("cargo run --release --bin outage-monitor -- serve"));
    assert!(
        ci.lines().any(|l| l.trim() == cmd),
        ".ci/run must run `{cmd}`"
    );
}

#[test]
fn every_book_page_in_the_summary_exists_and_local_links_resolve() {
    let src = root().join("book/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let mut pages = vec![src.join("SUMMARY.md")];
    for target in links(&summary) {
        let p = src.join(&target);
        assert!(p.exists(), "SUMMARY.md links to missing {target}");
        pages.push(p);
    }
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for target in links(&text) {
            let file = target.split('#').next().unwrap_or("");
            if file.is_empty() {
                continue;
            }
            assert!(
                dir.join(file).exists(),
                "{} links to missing {target}",
                page.display()
            );
        }
    }
}

/// Relative link targets of a markdown text (`](target)`), skipping URLs.
fn links(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = md;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            let t = &rest[..end];
            if !t.contains("://") && !t.starts_with("mailto:") && !t.is_empty() {
                out.push(t.to_string());
            }
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn no_todo_without_an_issue_number() {
    let mut files = Vec::new();
    files_with_ext(&root().join("crates"), "rs", &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if (line.contains("TODO") || line.contains("FIXME")) && !line.contains("(#") {
                panic!(
                    "{}:{}: TODO without an issue reference like (#12)",
                    f.display(),
                    n + 1
                );
            }
        }
    }
}
