//! What the runtime's process tests share: the test database, a child killed on drop, and starting the runtime
//! on a port it picks itself.
//!
//! A port chosen beforehand (bind port 0, read it, close, pass it on) is racy when tests run in parallel: another
//! test's runtime can bind it in between, and the health check then reaches that one. The runtime binds
//! `--listen 127.0.0.1:0` and announces the address it bound on its one stdout line, which is read here.

#![allow(dead_code)]

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use cfp_testkit::database_url;

/// Kills the child when dropped (the test fails or ends), so a failing test leaves nothing running.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the runtime `cmd` describes (its other arguments and environment) on `127.0.0.1:0` and returns it
/// with the port it bound, read from its ready line on stdout (`{"ready":true,"addr":"127.0.0.1:PORT"}`).
/// Panics when the runtime exits or says nothing for 60 s.
pub fn start_runtime(cmd: &mut Command) -> (Child, u16) {
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the runtime starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads stdout to its end (the runtime never blocks on a full pipe); the ready line names the address.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let ready: Option<serde_json::Value> = serde_json::from_str(&line).ok();
            let port = ready
                .as_ref()
                .filter(|r| r["ready"] == true)
                .and_then(|r| r["addr"].as_str()?.rsplit(':').next()?.parse::<u16>().ok());
            if let (Some(port), Some(tx)) = (port, tx.take_if(|_| port.is_some())) {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(port) => (child, port),
        Err(_) => {
            // Disconnected: stdout closed (the runtime exited) before any ready line.
            let status = child.try_wait().ok().flatten();
            let _ = child.kill();
            let _ = child.wait();
            panic!("the runtime announced no address within 60 s (exit status: {status:?})")
        }
    }
}
