//! Shell completions and the manual page come from the clap definitions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use std::process::Command;

fn l402(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_l402")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, script) = l402(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}");
        for word in ["get", "tokens", "spend", "max-cost", "retry-rejected"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let (code, page) = l402(&["man"]);
    assert_eq!(code, Some(0));
    assert!(
        page.starts_with(".ie") || page.contains(".TH l402"),
        "{}",
        &page[..page.len().min(200)]
    );
    for word in ["get", "proxy", "demo", "completions"] {
        assert!(page.contains(word), "man page lacks {word}");
    }
    let (code, _) = l402(&["completions", "tcsh"]);
    assert_eq!(code, Some(2), "an unknown shell is a usage error");
}
