//! Start-up failures of the real binary are said once, each cause once.

use std::process::Command;

#[test]
fn a_database_error_at_start_up_is_said_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_cfp-runtime"))
        .args(["--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://cfp_no_such_role:pw@127.0.0.1:5432/test")
        .env_remove("CFP_LOG")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr.matches("cfp_no_such_role").count();
    // Once in the URL (the password masked) and once in PostgreSQL's answer: `role "…" does not exist`.
    assert_eq!(said, 2, "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
    assert!(!stderr.contains(":pw@"), "the password is masked: {stderr}");
}
